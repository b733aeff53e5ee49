/* mb_slot.h -- per-slot readings from cumulative meter registers.  Pure: no
 * I/O, no clock (times come in with the events), no allocation.
 *
 * The rules (meterbridge/README.md, "Slot rules", says the same for people):
 *
 *  - A *segment* is the pair of two consecutive good samples L -> s.  Its
 *    energy is s - L per register, or, when an unsigned integer register went
 *    backwards, the wrap distance (flag WRAP).  A serial-number change, a
 *    backwards step that is no wrap, or a jump above max_power_w over the
 *    segment's time (plus one register quantum) makes the segment invalid:
 *    flag REPLACED, and its energy is not counted -- never invented.
 *  - A segment belongs to the slot of L when s lies in the same slot, or in
 *    the next slot no later than tolerance_ms after its boundary (s is then
 *    the *boundary sample*: the end point of L's slot and the start point of
 *    s's slot).  Any other segment spans a boundary without a sample near it:
 *    its energy is not counted, the slot of L is closed with flag GAP at L,
 *    and the slot of s opens with flag GAP.
 *  - A slot whose start point is not a boundary sample (first sample ever,
 *    or after such a dropped segment) has flag GAP.  A failed poll during a
 *    slot sets POLL_FAILED (its energy is still complete unless GAP is set:
 *    the registers are cumulative).
 *  - A slot is closed (its reading emitted) when its boundary sample arrives,
 *    or when an event comes later than boundary + tolerance_ms.  A slot with
 *    no good sample inside it has no reading at all.
 *
 * So: import/export of a slot never exceed what the meter counted in it
 * (plus the <= tolerance_ms after its end), GAP marks every slot whose count
 * may be short, and the sum over slots equals the register difference when no
 * flag is set. */
#ifndef MB_SLOT_H
#define MB_SLOT_H

#include <stdbool.h>
#include <stdint.h>

#include "mb_err.h"

enum mb_flag {
    MB_FLAG_GAP = 1,
    MB_FLAG_REPLACED = 2,
    MB_FLAG_WRAP = 4,
    MB_FLAG_POLL_FAILED = 8,
}; /* the same bits as gl.MeterFlag in chain/proto/meter.proto */

struct mb_slot_params {
    uint64_t epoch_ms;       /* slot 0 starts here */
    uint32_t slot_len_s;     /* > 0 */
    uint32_t tolerance_ms;   /* how late a boundary sample may be */
    uint64_t max_power_w;    /* plausibility bound of a segment */
    uint64_t wrap_import_wh; /* where the import register wraps (0: never) */
    uint64_t wrap_export_wh;
    uint64_t quantum_wh;  /* one register step in Wh (slack of the bound) */
    bool float_registers; /* float32 registers: slack grows with the value (2^-22 of it) */
};

struct mb_sample {
    uint64_t t_ms;
    uint64_t import_wh, export_wh; /* cumulative registers, < 2^53 */
    uint64_t serial;               /* meaningful when has_serial */
    bool has_serial;
};

struct mb_reading {
    uint64_t slot;
    uint64_t import_wh, export_wh;
    uint64_t cum_import_wh, cum_export_wh; /* registers at the slot's end point */
    uint32_t flags;
    uint32_t slot_len_s;
};

/* Plain data (checkpointed as bytes by gridmeter): init with mb_slot_init. */
struct mb_slot_acc {
    bool have_last;
    bool open; /* a slot is open: `slot` below */
    bool have_pending_fail;
    struct mb_sample last; /* the last good sample; it lies in `slot` when open */
    uint64_t slot;
    uint64_t import_wh, export_wh;
    uint32_t flags;
    uint64_t pending_fail_slot; /* latest failed poll in a slot not yet open */
};

/* At most this many readings come out of one event. */
#define MB_SLOT_MAX_OUT 2u

void mb_slot_init(struct mb_slot_acc *acc /* OUT */);

/* Slot index of time t (t before epoch: slot 0 -- callers refuse such clocks). */
uint64_t mb_slot_of(const struct mb_slot_params *p, uint64_t t_ms);

/* Feed one good sample.  Writes up to MB_SLOT_MAX_OUT closed readings to
 * out[0..*nout).  A sample older than the last good one is ignored (returns
 * MB_ERR_INVALID_ARG, nothing changes): a clock stepped back never rewrites
 * a slot. */
int mb_slot_sample(struct mb_slot_acc *acc, const struct mb_slot_params *p,
                   const struct mb_sample *s, struct mb_reading out[static MB_SLOT_MAX_OUT],
                   unsigned *nout /* OUT */) MB_MUST_USE;

/* A poll at t_ms failed (timeout, exception, bad value). */
void mb_slot_fail(struct mb_slot_acc *acc, const struct mb_slot_params *p, uint64_t t_ms,
                  struct mb_reading out[static MB_SLOT_MAX_OUT], unsigned *nout /* OUT */);

/* Time passes without a poll (e.g. on shutdown or when polls are slow):
 * closes the open slot once t_ms is past its boundary + tolerance. */
void mb_slot_tick(struct mb_slot_acc *acc, const struct mb_slot_params *p, uint64_t t_ms,
                  struct mb_reading out[static MB_SLOT_MAX_OUT], unsigned *nout /* OUT */);

/* The energy of the segment a -> b for one register: returns false when the
 * segment is invalid (REPLACED); sets *wrapped when it wrapped.  Exposed for
 * the tests. */
bool mb_slot_segment(const struct mb_slot_params *p, uint64_t a_wh, uint64_t b_wh, uint64_t wrap_wh,
                     uint64_t dt_ms, uint64_t *delta_wh /* OUT */, bool *wrapped /* OUT */);

#endif
