/* mb_slot.c -- the per-slot accumulator (rules in mb_slot.h).  Pure functions
 * of their arguments; unit-tested against a batch reference that applies the
 * same written rules slot by slot (tests/unit/meterbridge/test_mb_slot.c). */
#include "mb_slot.h"

#include <string.h>

void mb_slot_init(struct mb_slot_acc *acc)
{
    memset(acc, 0, sizeof *acc); /* also the padding: the struct is checkpointed as bytes */
}

static uint64_t slot_ms(const struct mb_slot_params *p)
{
    return (uint64_t)p->slot_len_s * 1000u;
}

/* A boundary sample must fall inside the next slot, whatever the config says. */
static uint64_t tolerance(const struct mb_slot_params *p)
{
    uint64_t len = slot_ms(p);
    return p->tolerance_ms < len ? p->tolerance_ms : len - 1;
}

uint64_t mb_slot_of(const struct mb_slot_params *p, uint64_t t_ms)
{
    if (t_ms < p->epoch_ms || p->slot_len_s == 0)
        return 0;
    return (t_ms - p->epoch_ms) / slot_ms(p);
}

/* Start of slot k, saturating (slots that far out never occur: t < 2^63). */
static uint64_t boundary(const struct mb_slot_params *p, uint64_t k)
{
    unsigned __int128 b = (unsigned __int128)k * slot_ms(p) + p->epoch_ms;
    return b > UINT64_MAX ? UINT64_MAX : (uint64_t)b;
}

bool mb_slot_segment(const struct mb_slot_params *p, uint64_t a_wh, uint64_t b_wh, uint64_t wrap_wh,
                     uint64_t dt_ms, uint64_t *delta_wh, bool *wrapped)
{
    uint64_t d;
    *wrapped = false;
    if (b_wh >= a_wh) {
        d = b_wh - a_wh;
    } else if (wrap_wh && a_wh < wrap_wh && b_wh < wrap_wh) {
        d = wrap_wh - a_wh + b_wh;
        *wrapped = true;
    } else {
        return false;
    }
    unsigned __int128 bound = (unsigned __int128)p->max_power_w * dt_ms / 3600000u;
    bound += p->quantum_wh;
    if (p->float_registers)
        bound += a_wh >> 22; /* float32 resolution near a_wh: 2^-23 relative, doubled */
    if (d > bound) {
        *wrapped = false;
        return false;
    }
    *delta_wh = d;
    return true;
}

static void emit(struct mb_slot_acc *acc, const struct mb_slot_params *p, uint64_t cum_import,
                 uint64_t cum_export, uint32_t extra_flags, struct mb_reading *out, unsigned *nout)
{
    struct mb_reading *r = &out[(*nout)++];
    r->slot = acc->slot;
    r->import_wh = acc->import_wh;
    r->export_wh = acc->export_wh;
    r->cum_import_wh = cum_import;
    r->cum_export_wh = cum_export;
    r->flags = acc->flags | extra_flags;
    r->slot_len_s = p->slot_len_s;
    acc->open = false;
}

/* Close the open slot at its last sample when t is past boundary + tolerance. */
static void advance(struct mb_slot_acc *acc, const struct mb_slot_params *p, uint64_t t_ms,
                    struct mb_reading *out, unsigned *nout)
{
    if (!acc->open)
        return;
    uint64_t b = boundary(p, acc->slot + 1);
    if (t_ms > b && t_ms - b > tolerance(p))
        emit(acc, p, acc->last.import_wh, acc->last.export_wh, MB_FLAG_GAP, out, nout);
}

static void open_slot(struct mb_slot_acc *acc, uint64_t slot, uint32_t flags)
{
    acc->open = true;
    acc->slot = slot;
    acc->import_wh = 0;
    acc->export_wh = 0;
    acc->flags = flags;
    if (acc->have_pending_fail && acc->pending_fail_slot == slot)
        acc->flags |= MB_FLAG_POLL_FAILED;
    acc->have_pending_fail = false;
}

/* Count segment last -> s into the open slot (or flag it REPLACED). */
static void count_segment(struct mb_slot_acc *acc, const struct mb_slot_params *p,
                          const struct mb_sample *s)
{
    const struct mb_sample *l = &acc->last;
    uint64_t dt = s->t_ms - l->t_ms, di = 0, de = 0;
    bool wi = false, we = false;
    bool valid = !(l->has_serial && s->has_serial && l->serial != s->serial);
    valid =
        valid && mb_slot_segment(p, l->import_wh, s->import_wh, p->wrap_import_wh, dt, &di, &wi);
    valid =
        valid && mb_slot_segment(p, l->export_wh, s->export_wh, p->wrap_export_wh, dt, &de, &we);
    if (!valid) {
        acc->flags |= MB_FLAG_REPLACED;
        return;
    }
    if (wi || we)
        acc->flags |= MB_FLAG_WRAP;
    acc->import_wh += di; /* < 2^53 each, slots hold far fewer than 2^10 segments of that */
    acc->export_wh += de;
}

int mb_slot_sample(struct mb_slot_acc *acc, const struct mb_slot_params *p,
                   const struct mb_sample *s, struct mb_reading out[static MB_SLOT_MAX_OUT],
                   unsigned *nout)
{
    *nout = 0;
    if (acc->have_last && s->t_ms < acc->last.t_ms)
        return MB_ERR_INVALID_ARG;
    advance(acc, p, s->t_ms, out, nout);
    uint64_t slot = mb_slot_of(p, s->t_ms);
    if (acc->open) {
        /* after advance: slot == acc->slot, or the next slot within tolerance */
        count_segment(acc, p, s);
        if (slot != acc->slot) {
            emit(acc, p, s->import_wh, s->export_wh, 0, out, nout);
            open_slot(acc, slot, 0);
        }
    } else {
        open_slot(acc, slot, MB_FLAG_GAP);
    }
    acc->last = *s;
    acc->have_last = true;
    return MB_ERR_OK;
}

void mb_slot_fail(struct mb_slot_acc *acc, const struct mb_slot_params *p, uint64_t t_ms,
                  struct mb_reading out[static MB_SLOT_MAX_OUT], unsigned *nout)
{
    *nout = 0;
    if (acc->have_last && t_ms < acc->last.t_ms)
        return;
    advance(acc, p, t_ms, out, nout);
    uint64_t slot = mb_slot_of(p, t_ms);
    if (acc->open && slot == acc->slot) {
        acc->flags |= MB_FLAG_POLL_FAILED;
    } else {
        acc->have_pending_fail = true;
        acc->pending_fail_slot = slot;
    }
}

void mb_slot_tick(struct mb_slot_acc *acc, const struct mb_slot_params *p, uint64_t t_ms,
                  struct mb_reading out[static MB_SLOT_MAX_OUT], unsigned *nout)
{
    *nout = 0;
    advance(acc, p, t_ms, out, nout);
}
