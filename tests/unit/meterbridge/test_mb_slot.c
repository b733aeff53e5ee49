/* test_mb_slot.c -- the per-slot accumulator against a deliberately naive
 * batch reference that applies meterbridge/mb_slot.h's written rules to the
 * whole event list at once, slot by slot, plus hand-made cases for each rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mb_slot.h"
#include "testutil.h"

enum ev_kind { EV_SAMPLE, EV_FAIL, EV_TICK };
struct ev {
    enum ev_kind kind;
    struct mb_sample s; /* s.t_ms is the event time for every kind */
};

#define MAXR 4096

/* ---- the stream under test ---- */
static size_t run_stream(const struct mb_slot_params *p, const struct ev *evs, size_t n,
                         struct mb_reading *out)
{
    struct mb_slot_acc acc;
    struct mb_reading r[MB_SLOT_MAX_OUT];
    unsigned k;
    size_t m = 0;
    mb_slot_init(&acc);
    for (size_t i = 0; i < n; i++) {
        if (evs[i].kind == EV_SAMPLE)
            assert_int_equal(mb_slot_sample(&acc, p, &evs[i].s, r, &k), MB_ERR_OK);
        else if (evs[i].kind == EV_FAIL)
            mb_slot_fail(&acc, p, evs[i].s.t_ms, r, &k);
        else
            mb_slot_tick(&acc, p, evs[i].s.t_ms, r, &k);
        for (unsigned j = 0; j < k; j++)
            out[m++] = r[j];
    }
    return m;
}

/* ---- the naive reference ---- */
static uint64_t nslot(const struct mb_slot_params *p, uint64_t t)
{
    return (t - p->epoch_ms) / ((uint64_t)p->slot_len_s * 1000);
}
static uint64_t nbound(const struct mb_slot_params *p, uint64_t k)
{
    return p->epoch_ms + k * (uint64_t)p->slot_len_s * 1000;
}

/* One register over one segment, written out plainly. */
static int nseg1(const struct mb_slot_params *p, uint64_t a, uint64_t b, uint64_t wrap, uint64_t dt,
                 uint64_t *d, int *wrapped)
{
    *wrapped = 0;
    if (b >= a)
        *d = b - a;
    else if (wrap != 0 && a < wrap && b < wrap) {
        *d = (wrap - a) + b;
        *wrapped = 1;
    } else
        return 0;
    uint64_t bound = (uint64_t)(((unsigned __int128)p->max_power_w * dt) / 3600000u) +
                     p->quantum_wh + (p->float_registers ? a / 4194304u : 0);
    if (*d > bound) {
        *wrapped = 0;
        return 0;
    }
    return 1;
}

static size_t run_naive(const struct mb_slot_params *p, const struct ev *evs, size_t n,
                        struct mb_reading *out)
{
    static struct mb_sample g[MAXR * 8];
    size_t ng = 0, m = 0;
    uint64_t tol = p->tolerance_ms < (uint64_t)p->slot_len_s * 1000
                       ? p->tolerance_ms
                       : (uint64_t)p->slot_len_s * 1000 - 1;
    for (size_t i = 0; i < n; i++)
        if (evs[i].kind == EV_SAMPLE)
            g[ng++] = evs[i].s;
    /* assigned[i]: segment g[i] -> g[i+1] belongs to slot of g[i] */
    for (size_t i = 0; i < ng;) {
        uint64_t x = nslot(p, g[i].t_ms);
        size_t j0 = i, j1 = i;
        while (j1 + 1 < ng && nslot(p, g[j1 + 1].t_ms) == x)
            j1++;
        struct mb_reading r;
        memset(&r, 0, sizeof r);
        r.slot = x;
        r.slot_len_s = p->slot_len_s;
        /* start covered? the segment into g[j0] was assigned to slot x-1 */
        int start_ok = 0;
        if (j0 > 0) {
            uint64_t px = nslot(p, g[j0 - 1].t_ms);
            start_ok = px + 1 == x && g[j0].t_ms - nbound(p, x) <= tol;
        }
        if (!start_ok)
            r.flags |= MB_FLAG_GAP;
        /* segments inside the slot, and the one leaving it when assigned */
        size_t last_seg = j1; /* segment j1 -> j1+1 */
        int end_ok = j1 + 1 < ng && nslot(p, g[j1 + 1].t_ms) == x + 1 &&
                     g[j1 + 1].t_ms - nbound(p, x + 1) <= tol;
        if (!end_ok)
            r.flags |= MB_FLAG_GAP;
        size_t upto = end_ok ? last_seg + 1 : j1; /* segments j0..upto-1 */
        for (size_t s = j0; s < upto; s++) {
            const struct mb_sample *a = &g[s], *b = &g[s + 1];
            uint64_t di, de;
            int wi, we;
            int ok = !(a->has_serial && b->has_serial && a->serial != b->serial);
            ok = ok && nseg1(p, a->import_wh, b->import_wh, p->wrap_import_wh, b->t_ms - a->t_ms,
                             &di, &wi);
            ok = ok && nseg1(p, a->export_wh, b->export_wh, p->wrap_export_wh, b->t_ms - a->t_ms,
                             &de, &we);
            if (!ok) {
                r.flags |= MB_FLAG_REPLACED;
                continue;
            }
            if (wi || we)
                r.flags |= MB_FLAG_WRAP;
            r.import_wh += di;
            r.export_wh += de;
        }
        const struct mb_sample *endp = end_ok ? &g[j1 + 1] : &g[j1];
        r.cum_import_wh = endp->import_wh;
        r.cum_export_wh = endp->export_wh;
        for (size_t e = 0; e < n; e++)
            if (evs[e].kind == EV_FAIL && evs[e].s.t_ms >= p->epoch_ms &&
                nslot(p, evs[e].s.t_ms) == x)
                r.flags |= MB_FLAG_POLL_FAILED;
        out[m++] = r;
        i = j1 + 1;
    }
    return m;
}

static void assert_same(const struct mb_reading *a, size_t na, const struct mb_reading *b,
                        size_t nb, uint64_t seed)
{
    if (na != nb)
        fail_msg("seed %llu: stream made %zu readings, naive %zu", (unsigned long long)seed, na,
                 nb);
    for (size_t i = 0; i < na; i++) {
        if (memcmp(&a[i], &b[i], sizeof a[i]) != 0)
            fail_msg("seed %llu reading %zu slot %llu/%llu: import %llu/%llu export %llu/%llu cum "
                     "%llu/%llu "
                     "flags %u/%u",
                     (unsigned long long)seed, i, (unsigned long long)a[i].slot,
                     (unsigned long long)b[i].slot, (unsigned long long)a[i].import_wh,
                     (unsigned long long)b[i].import_wh, (unsigned long long)a[i].export_wh,
                     (unsigned long long)b[i].export_wh, (unsigned long long)a[i].cum_import_wh,
                     (unsigned long long)b[i].cum_import_wh, a[i].flags, b[i].flags);
    }
}

/* ---- helpers for hand-made cases ---- */
static struct mb_slot_params params60(void)
{
    struct mb_slot_params p;
    memset(&p, 0, sizeof p);
    p.epoch_ms = 1000000;
    p.slot_len_s = 60;
    p.tolerance_ms = 5000;
    p.max_power_w = 36000; /* 10 Wh per second */
    p.quantum_wh = 1;
    return p;
}
static struct ev S(uint64_t t, uint64_t imp, uint64_t exp) {
    struct ev e;
    memset(&e, 0, sizeof e);
    e.kind = EV_SAMPLE;
    e.s.t_ms = t;
    e.s.import_wh = imp;
    e.s.export_wh = exp;
    return e;
} static struct ev F(uint64_t t) {
    struct ev e = S(t, 0, 0);
    e.kind = EV_FAIL;
    return e;
} static struct ev T(uint64_t t) {
    struct ev e = S(t, 0, 0);
    e.kind = EV_TICK;
    return e;
}
#define E0 1000000u /* epoch */
#define SL 60000u   /* slot length */

static void
test_slots_add_up_to_the_register_difference_when_polls_are_clean(void **st)
{
    (void)st;
    struct mb_slot_params p = params60();
    struct ev evs[400];
    size_t n = 0;
    uint64_t imp = 5000, exp = 100;
    for (uint64_t t = E0; t < E0 + 5 * SL; t += 1000) {
        evs[n++] = S(t, imp, exp);
        imp += 3;
        exp += (t / 1000) % 2;
    }
    struct mb_reading r[16];
    size_t m = run_stream(&p, evs, n, r);
    assert_int_equal(m, 4); /* slots 0..3 closed by the sample at each next boundary */
    uint64_t sum_i = 0, sum_e = 0;
    for (size_t i = 0; i < m; i++) {
        assert_int_equal(r[i].slot, i);
        assert_int_equal(r[i].import_wh, 180);                  /* 60 segments of 3 Wh */
        assert_int_equal(r[i].flags, i == 0 ? MB_FLAG_GAP : 0); /* slot 0: no sample before it */
        sum_i += r[i].import_wh;
        sum_e += r[i].export_wh;
    }
    assert_int_equal(sum_i, r[m - 1].cum_import_wh - 5000);
    assert_int_equal(sum_e, r[m - 1].cum_export_wh - 100);
}

static void test_counter_wrap_is_counted_exactly_and_flagged(void **st)
{
    (void)st;
    struct mb_slot_params p = params60();
    p.wrap_import_wh = 65536;
    struct ev evs[] = {S(E0, 65530, 0), S(E0 + 1000, 65534, 0), S(E0 + 2000, 2, 0),
                       S(E0 + SL, 10, 0)};
    struct mb_reading r[4];
    assert_int_equal(run_stream(&p, evs, 4, r), 1);
    assert_int_equal(r[0].import_wh, 4 + 4 + 8);
    assert_int_equal(r[0].flags, MB_FLAG_GAP | MB_FLAG_WRAP);
    assert_int_equal(r[0].cum_import_wh, 10);
}

static void test_a_wrap_too_large_for_the_time_is_a_replacement_not_energy(void **st)
{
    (void)st;
    struct mb_slot_params p = params60();
    p.wrap_import_wh = 65536;
    /* 65530 -> 30000 in one second would be 35,536 Wh: far above 10 Wh/s */
    struct ev evs[] = {S(E0, 65530, 0), S(E0 + 1000, 30000, 0), S(E0 + 2000, 30005, 0),
                       S(E0 + SL, 30010, 0)};
    struct mb_reading r[4];
    assert_int_equal(run_stream(&p, evs, 4, r), 1);
    assert_int_equal(r[0].import_wh, 10);
    assert_int_equal(r[0].flags, MB_FLAG_GAP | MB_FLAG_REPLACED);
}

static void test_meter_replaced_by_serial_change_is_flagged_and_that_segment_not_counted(void **st)
{
    (void)st;
    struct mb_slot_params p = params60();
    struct ev evs[] = {S(E0, 900, 0), S(E0 + 1000, 905, 0), S(E0 + 2000, 906, 0),
                       S(E0 + 3000, 910, 0), S(E0 + SL, 911, 0)};
    for (int i = 0; i < 5; i++) {
        evs[i].s.has_serial = true;
        evs[i].s.serial = i < 2 ? 7 : 8; /* new meter from the third sample on */
    }
    struct mb_reading r[4];
    assert_int_equal(run_stream(&p, evs, 5, r), 1);
    assert_int_equal(r[0].import_wh, 5 + 4 + 1); /* 905 -> 906 is across the change: dropped */
    assert_int_equal(r[0].flags, MB_FLAG_GAP | MB_FLAG_REPLACED);
}

static void test_register_going_back_by_a_lot_is_replaced_never_negative_energy(void **st)
{
    (void)st;
    struct mb_slot_params p = params60(); /* no wrap */
    struct ev evs[] = {S(E0 + SL - 2000, 100000, 0), S(E0 + SL, 100010, 0),
                       S(E0 + SL + 1000, 12, 0), S(E0 + SL + 2000, 20, 0), S(E0 + 2 * SL, 25, 0)};
    struct mb_reading r[4];
    assert_int_equal(run_stream(&p, evs, 5, r), 2);
    assert_int_equal(r[1].slot, 1);
    assert_int_equal(r[1].import_wh, 8 + 5);
    assert_int_equal(r[1].flags, MB_FLAG_REPLACED);
}

static void test_failed_polls_flag_the_slot_but_cumulative_energy_is_complete(void **st)
{
    (void)st;
    struct mb_slot_params p = params60();
    struct ev evs[] = {S(E0 + SL - 1000, 0, 0),    S(E0 + SL, 10, 0),
                       F(E0 + SL + 1000),          F(E0 + SL + 2000),
                       S(E0 + SL + 30000, 200, 0), S(E0 + 2 * SL + 10, 300, 0)};
    struct mb_reading r[4];
    assert_int_equal(run_stream(&p, evs, 6, r), 2);
    assert_int_equal(r[1].import_wh, 290);
    assert_int_equal(r[1].flags, MB_FLAG_POLL_FAILED);
}

static void test_outage_across_a_boundary_flags_gap_on_both_sides_and_invents_nothing(void **st)
{
    (void)st;
    struct mb_slot_params p = params60();
    struct ev evs[] = {S(E0 + SL - 1000, 0, 0),       S(E0 + SL, 10, 0),
                       S(E0 + SL + 20000, 50, 0),     F(E0 + 2 * SL),
                       F(E0 + 2 * SL + 6000), /* past the 5 s tolerance: slot 1 closes */
                       S(E0 + 2 * SL + 9000, 120, 0), S(E0 + 3 * SL, 130, 0)};
    struct mb_reading r[4];
    assert_int_equal(run_stream(&p, evs, 7, r), 3);
    assert_int_equal(r[1].slot, 1);
    assert_int_equal(r[1].import_wh, 40);
    assert_int_equal(r[1].cum_import_wh, 50);
    assert_int_equal(r[1].flags, MB_FLAG_GAP);
    assert_int_equal(r[2].slot, 2);
    assert_int_equal(r[2].import_wh, 10); /* 50 -> 120 spans the boundary: not counted */
    assert_int_equal(r[2].flags, MB_FLAG_GAP | MB_FLAG_POLL_FAILED);
}

static void test_a_slot_without_a_good_sample_has_no_reading(void **st)
{
    (void)st;
    struct mb_slot_params p = params60();
    struct ev evs[] = {S(E0 + 1000, 0, 0),    S(E0 + SL + 1000, 10, 0),     F(E0 + 2 * SL + 1000),
                       F(E0 + 3 * SL + 1000), S(E0 + 4 * SL + 1000, 90, 0), T(E0 + 9 * SL)};
    struct mb_reading r[8];
    size_t m = run_stream(&p, evs, 6, r);
    assert_int_equal(m, 3);
    assert_int_equal(r[0].slot, 0);
    assert_int_equal(r[1].slot, 1);
    assert_int_equal(r[2].slot, 4);
    assert_int_equal(r[1].flags, MB_FLAG_GAP); /* its end was never covered */
}

static void test_a_boundary_sample_within_tolerance_closes_the_slot_and_opens_the_next(void **st)
{
    (void)st;
    struct mb_slot_params p = params60();
    struct ev evs[] = {S(E0 + SL - 500, 0, 0), S(E0 + 2 * SL + 4999, 60, 0), T(E0 + 3 * SL + 5001)};
    struct mb_reading r[4];
    /* from slot 0 to 2 in one segment: not a boundary sample (two boundaries crossed) */
    assert_int_equal(run_stream(&p, evs, 3, r), 2);
    assert_int_equal(r[1].import_wh, 0);
    struct ev ok[] = {S(E0 + SL - 500, 0, 0), S(E0 + SL + 4999, 50, 0), T(E0 + 2 * SL + 5001)};
    assert_int_equal(run_stream(&p, ok, 3, r), 2);
    assert_int_equal(r[0].slot, 0);
    assert_int_equal(r[0].import_wh, 50);
    assert_int_equal(r[0].cum_import_wh, 50);
    struct ev late[] = {S(E0 + SL - 500, 0, 0), S(E0 + SL + 5001, 50, 0), T(E0 + 2 * SL + 5001)};
    assert_int_equal(run_stream(&p, late, 3, r), 2);
    assert_int_equal(r[0].import_wh, 0); /* 1 ms too late: the segment is nobody's */
    assert_int_equal(r[0].flags, MB_FLAG_GAP);
    assert_int_equal(r[1].flags, MB_FLAG_GAP); /* closed by the tick: end not covered */
}

static void test_a_sample_older_than_the_last_is_refused_and_changes_nothing(void **st)
{
    (void)st;
    struct mb_slot_params p = params60();
    struct mb_slot_acc acc, before;
    struct mb_reading r[MB_SLOT_MAX_OUT];
    unsigned k;
    mb_slot_init(&acc);
    struct ev a = S(E0 + 5000, 10, 0), b = S(E0 + 4000, 0, 0);
    assert_int_equal(mb_slot_sample(&acc, &p, &a.s, r, &k), MB_ERR_OK);
    before = acc;
    assert_int_equal(mb_slot_sample(&acc, &p, &b.s, r, &k), MB_ERR_INVALID_ARG);
    assert_int_equal(k, 0);
    assert_memory_equal(&acc, &before, sizeof acc);
}

static void test_segment_rule_matches_hand_computed_bounds(void **st)
{
    (void)st;
    struct mb_slot_params p = params60(); /* 10 Wh/s + 1 Wh quantum */
    uint64_t d;
    bool w;
    assert_true(mb_slot_segment(&p, 100, 111, 0, 1000, &d, &w));
    assert_int_equal(d, 11);
    assert_false(mb_slot_segment(&p, 100, 112, 0, 1000, &d, &w));
    assert_false(mb_slot_segment(&p, 100, 99, 0, 1000, &d, &w));
    assert_true(mb_slot_segment(&p, 65535, 3, 65536, 1000, &d, &w));
    assert_int_equal(d, 4);
    assert_true(w);
    assert_false(
        mb_slot_segment(&p, 70000, 3, 65536, 1000, &d, &w)); /* above the wrap: not a counter */
}

/* ---- random scenarios ---- */
static size_t gen(struct tu_rng *g, struct mb_slot_params *p, struct ev *evs, size_t cap)
{
    memset(p, 0, sizeof *p);
    p->epoch_ms = tu_below(g, 1000000);
    p->slot_len_s = (uint32_t)(5 + tu_below(g, 120));
    p->tolerance_ms = (uint32_t)tu_below(g, p->slot_len_s * 1000u);
    if (tu_below(g, 5) == 0)
        p->tolerance_ms = p->slot_len_s * 1000u + 5; /* clamped by the rule */
    p->max_power_w = 3600 * (1 + tu_below(g, 20));   /* 1..20 Wh per second */
    p->quantum_wh = 1 + tu_below(g, 3);
    p->float_registers = tu_below(g, 4) == 0;
    bool wrap = tu_below(g, 2);
    p->wrap_import_wh = wrap ? 5000 + tu_below(g, 5000) : 0;
    p->wrap_export_wh = wrap && tu_below(g, 2) ? 3000 : 0;
    uint64_t t = p->epoch_ms + tu_below(g, 100000);
    uint64_t imp = p->wrap_import_wh ? tu_below(g, p->wrap_import_wh) : tu_below(g, 1u << 30);
    uint64_t exp = p->wrap_export_wh ? tu_below(g, p->wrap_export_wh) : tu_below(g, 1000);
    uint64_t serial = 1;
    uint64_t interval = 200 + tu_below(g, 3000);
    size_t n = 0;
    unsigned pfail = (unsigned)tu_below(g, 40);
    while (n < cap - 1) {
        uint64_t dt = interval / 2 + tu_below(g, interval);
        if (tu_below(g, 60) == 0)
            dt += tu_below(g, 3ull * p->slot_len_s * 1000); /* an outage or a gridmeter restart */
        if (tu_below(g, 50) == 0)
            dt = 0; /* same millisecond */
        t += dt;
        unsigned roll = (unsigned)tu_below(g, 100);
        struct ev e;
        memset(&e, 0, sizeof e);
        e.s.t_ms = t;
        if (roll < pfail) {
            e.kind = EV_FAIL;
        } else if (roll < pfail + 3) {
            e.kind = EV_TICK;
        } else {
            uint64_t maxd = p->max_power_w * dt / 3600000 + p->quantum_wh;
            uint64_t di = tu_below(g, maxd + 1), de = tu_below(g, maxd / 2 + 1);
            unsigned odd = (unsigned)tu_below(g, 400);
            if (odd == 0)
                serial++; /* replaced, same counters */
            else if (odd == 1)
                imp = tu_below(g, 100); /* replaced: counter reset */
            else if (odd == 2)
                di = maxd + 1 + tu_below(g, 1000000); /* implausible jump */
            imp += di;
            exp += de;
            if (p->wrap_import_wh)
                imp %= p->wrap_import_wh;
            if (p->wrap_export_wh)
                exp %= p->wrap_export_wh;
            e.kind = EV_SAMPLE;
            e.s.import_wh = imp;
            e.s.export_wh = exp;
            e.s.has_serial = tu_below(g, 10) != 0;
            e.s.serial = serial;
        }
        evs[n++] = e;
        if (tu_below(g, 400) == 0)
            break;
    }
    struct ev end;
    memset(&end, 0, sizeof end);
    end.kind = EV_TICK;
    end.s.t_ms = t + 10ull * p->slot_len_s * 1000 + p->tolerance_ms + 1;
    evs[n++] = end; /* closes every slot, so the naive reference sees the same set */
    return n;
}

static void test_stream_matches_the_naive_reference_on_random_scenarios(void **st)
{
    (void)st;
    static struct ev evs[4000];
    static struct mb_reading a[MAXR], b[MAXR];
    const char *env = getenv("MB_SLOT_SEEDS");
    uint64_t seeds = env ? strtoull(env, NULL, 10) : 3000;
    uint64_t flagged = 0, wraps = 0, replaced = 0, gaps = 0, readings = 0;
    for (uint64_t seed = 1; seed <= seeds; seed++) {
        struct tu_rng g = {seed};
        struct mb_slot_params p;
        size_t n = gen(&g, &p, evs, sizeof evs / sizeof evs[0]);
        size_t na = run_stream(&p, evs, n, a);
        size_t nb = run_naive(&p, evs, n, b);
        assert_same(a, na, b, nb, seed);
        for (size_t i = 0; i < na; i++) {
            readings++;
            flagged += a[i].flags != 0;
            wraps += (a[i].flags & MB_FLAG_WRAP) != 0;
            replaced += (a[i].flags & MB_FLAG_REPLACED) != 0;
            gaps += (a[i].flags & MB_FLAG_GAP) != 0;
            /* a clean slot continues its predecessor's register exactly */
            if (i > 0 && a[i - 1].slot + 1 == a[i].slot && a[i].flags == 0) {
                uint64_t start = a[i].cum_import_wh - a[i].import_wh;
                assert_int_equal(start, a[i - 1].cum_import_wh);
            }
        }
    }
    /* the generator must reach every rule, or the comparison proves little */
    assert_true(wraps > 0 && replaced > 0 && gaps > 0 && flagged < readings);
    print_message("%llu seeds, %llu readings: %llu gap, %llu replaced, %llu wrap\n",
                  (unsigned long long)seeds, (unsigned long long)readings, (unsigned long long)gaps,
                  (unsigned long long)replaced, (unsigned long long)wraps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots_add_up_to_the_register_difference_when_polls_are_clean),
        cmocka_unit_test(test_counter_wrap_is_counted_exactly_and_flagged),
        cmocka_unit_test(test_a_wrap_too_large_for_the_time_is_a_replacement_not_energy),
        cmocka_unit_test(
            test_meter_replaced_by_serial_change_is_flagged_and_that_segment_not_counted),
        cmocka_unit_test(test_register_going_back_by_a_lot_is_replaced_never_negative_energy),
        cmocka_unit_test(test_failed_polls_flag_the_slot_but_cumulative_energy_is_complete),
        cmocka_unit_test(test_outage_across_a_boundary_flags_gap_on_both_sides_and_invents_nothing),
        cmocka_unit_test(test_a_slot_without_a_good_sample_has_no_reading),
        cmocka_unit_test(
            test_a_boundary_sample_within_tolerance_closes_the_slot_and_opens_the_next),
        cmocka_unit_test(test_a_sample_older_than_the_last_is_refused_and_changes_nothing),
        cmocka_unit_test(test_segment_rule_matches_hand_computed_bounds),
        cmocka_unit_test(test_stream_matches_the_naive_reference_on_random_scenarios),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
