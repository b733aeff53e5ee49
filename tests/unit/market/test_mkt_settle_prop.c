/* test_mkt_settle_prop.c -- random trading days with meter readings, over
 * many seeds, against a naive reference settlement.
 *
 * Each seed registers six metered participants (random renewable flags,
 * deposits, and some nearly broke), random parameters (seller margin,
 * imbalance markup, penalty, strike limit), random tariffs (some slots none),
 * a random subsidy pool and grid float; random day-ahead orders for four
 * slots; at the end of the slots a reading from most meters (some missing,
 * some sent twice).  Then each slot settles in its own block.  Before that
 * block the test snapshots state; a naive reference written from the README
 * (not from mkt_settle.c's structure: per-slot arrays, plain loops) computes
 * from the same inputs -- fills, readings, tariff, parameters -- what every
 * account, participant record, pool and settlement record must be after it;
 * the block runs and everything is compared.  Also checked: the supply
 * invariant after every block (fx_block), no negative balance or locked
 * funds anywhere after every block, and at the end each participant's bills
 * add up to the money that moved in and out of its account.
 * A failure prints the seed. */
#include "mst_fixture.h"

#define NP    6 /* participants FX_ALICE .. FX_ALICE+5, meters +6 */
#define P0    FX_ALICE
#define NSLOT 4

static int quick(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 1;
#endif
    const char *q = getenv("GL_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

struct snap {
    struct chain_account acc[FX_KEYS];
    uint64_t deposit[NP], debt[NP], points[NP];
    uint32_t strikes[NP];
    bool suspended[NP], renewable[NP];
    int64_t pool_sub, pool_pen, pool_debt;
};

struct world {
    struct fx f;
    struct tu_rng rng;
    struct mkt_tx_params prm;
    bool tariff[NSLOT];
    uint64_t retail[NSLOT], feed_in[NSLOT];
    bool posted[NSLOT][NP];
    uint64_t imp[NSLOT][NP], exp[NSLOT][NP];
    uint8_t (*ids)[CHAIN_HASH_BYTES];
    size_t nids;
    int64_t start_total[NP], recharged[NP];
};

static uint64_t slot_of(int i)
{
    return MT_SLOT(4 + i);
}

static void snapshot(struct world *w, struct snap *s)
{
    for (int k = 0; k < FX_KEYS; k++)
        s->acc[k] = fx_account(&w->f, w->f.pk[k]);
    for (int i = 0; i < NP; i++) {
        Gl__MktParticipant *p = ms_get_part(&w->f, P0 + i);
        assert_non_null(p);
        s->deposit[i] = p->deposit;
        s->debt[i] = p->debt;
        s->points[i] = p->points;
        s->strikes[i] = p->strikes;
        s->suspended[i] = p->suspended;
        s->renewable[i] = p->renewable;
        gl__mkt_participant__free_unpacked(p, NULL);
    }
    s->pool_sub = mt_pool(&w->f, MKT_POOL_SUBSIDY);
    s->pool_pen = mt_pool(&w->f, MKT_POOL_PENALTIES);
    s->pool_debt = mt_pool(&w->f, MKT_POOL_DEBT_RECOVERY);
}

static void assert_nonneg(struct world *w)
{
    for (int k = 0; k < FX_KEYS; k++) {
        struct chain_account a = fx_account(&w->f, w->f.pk[k]);
        assert_true(a.balance >= 0);
        assert_true(a.locked >= 0);
    }
}

static struct {
    size_t settled, missing, debts, suspended, subsidised, taxed, unfunded_slots, pool_short;
} seen;

struct ref {
    int64_t sched, metered, dev, charge, credit, penalty, subsidy;
    uint64_t points, price;
    bool missing;
};

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* The participants in key order (the order settlement moves money in). */
static void key_order(struct world *w, int order[NP])
{
    for (int i = 0; i < NP; i++)
        order[i] = i;
    for (int i = 1; i < NP; i++)
        for (int j = i; j > 0 && memcmp(w->f.pk[P0 + order[j]], w->f.pk[P0 + order[j - 1]],
                                        CHAIN_PK_BYTES) < 0;
             j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

/* The naive reference: apply settlement of slot index si, then the debt
 * sweep, to the snapshot s, filling r per participant. */
static void reference(struct world *w, int si, struct snap *s, struct ref r[NP])
{
    const struct mkt_tx_params *p = &w->prm;
    uint64_t slot = slot_of(si);
    int64_t bought[NP] = {0}, sold[NP] = {0}, mrecv[NP] = {0}, margin[NP] = {0};
    int64_t all_sold = 0, renew_sold = 0, load = 0, gen = 0, grid_sell = 0;
    memset(r, 0, NP * sizeof *r);
    for (size_t k = 0; k < w->nids; k++) {
        for (uint32_t m = MKT_DAY_AHEAD; m <= MKT_INTRADAY; m++) {
            Gl__MktFill *fl = mt_get_fill(&w->f, MKT_ELECTRICITY, m, slot, w->ids[k]);
            if (!fl)
                continue;
            int i = -1;
            for (int j = 0; j < NP; j++)
                if (memcmp(fl->owner.data, w->f.pk[P0 + j], CHAIN_PK_BYTES) == 0)
                    i = j;
            assert_true(i >= 0);
            if (fl->side == MKT_TX_BUY) {
                bought[i] += (int64_t)fl->fill_wh;
            } else {
                sold[i] += (int64_t)fl->fill_wh;
                mrecv[i] += (int64_t)fl->received;
                margin[i] += (int64_t)fl->margin_held;
            }
            gl__mkt_fill__free_unpacked(fl, NULL);
        }
    }
    for (uint32_t m = MKT_DAY_AHEAD; m <= MKT_INTRADAY; m++) {
        Gl__MktResult *res = mt_get_result(&w->f, MKT_ELECTRICITY, m, slot);
        if (res) {
            grid_sell += (int64_t)res->grid_sell_wh;
            gl__mkt_result__free_unpacked(res, NULL);
        }
    }
    for (int i = 0; i < NP; i++) {
        r[i].sched = bought[i] - sold[i];
        r[i].missing = !w->posted[si][i];
        int64_t imp = r[i].missing ? 0 : (int64_t)w->imp[si][i];
        int64_t exp = r[i].missing ? 0 : (int64_t)w->exp[si][i];
        r[i].metered = imp - exp;
        r[i].dev = r[i].metered - r[i].sched;
        load += imp;
        if (s->renewable[i]) {
            gen += exp;
            renew_sold += sold[i];
        }
        all_sold += sold[i];
    }
    int64_t mu = 1000000;
    if (gen > 0) {
        mu = (int64_t)((__int128)load * 1000000 / gen);
        if (mu < p->mu_min_ppm)
            mu = p->mu_min_ppm;
        if (mu > p->mu_max_ppm)
            mu = p->mu_max_ppm;
    }
    int64_t sp = 0, lp = 0;
    if (w->tariff[si]) {
        sp = (int64_t)(w->retail[si] + w->retail[si] * p->imbalance_markup_ppm / 1000000);
        lp = (int64_t)(w->feed_in[si] - w->feed_in[si] * p->imbalance_markup_ppm / 1000000);
    }
    int64_t request = 0;
    for (int i = 0; i < NP; i++) {
        if (r[i].dev > 0) {
            r[i].price = (uint64_t)sp;
            r[i].charge = (int64_t)(((__int128)r[i].dev * sp + 999) / 1000);
        } else if (r[i].dev < 0 && !r[i].missing) {
            r[i].price = (uint64_t)lp;
            r[i].credit = (int64_t)((__int128)-r[i].dev * lp / 1000);
        }
        r[i].penalty = r[i].missing ? (int64_t)p->missing_penalty_micro : 0;
        if (s->renewable[i] && sold[i] > 0 && mu != 1000000) {
            int64_t delivered = min64(sold[i], r[i].metered < 0 ? -r[i].metered : 0);
            __int128 adj = (__int128)mrecv[i] * delivered *
                           (mu > 1000000 ? mu - 1000000 : 1000000 - mu) /
                           ((__int128)sold[i] * 1000000);
            r[i].subsidy = mu > 1000000 ? (int64_t)adj : -(int64_t)adj;
            if (r[i].subsidy > 0)
                request += r[i].subsidy;
        }
        int64_t consumed = min64(bought[i], r[i].metered > 0 ? r[i].metered : 0);
        if (all_sold + grid_sell > 0)
            r[i].points = (uint64_t)((__int128)consumed * renew_sold / (all_sold + grid_sell));
    }
    int order[NP];
    key_order(w, order);
    struct chain_account *grid = &s->acc[FX_SHADOW];
    for (int o = 0; o < NP; o++) {
        int i = order[o];
        struct chain_account *a = &s->acc[P0 + i];
        a->locked -= margin[i];
        a->balance += margin[i];
        int64_t neg = r[i].subsidy < 0 ? -r[i].subsidy : 0;
        int64_t total = r[i].charge + r[i].penalty + neg;
        int64_t fb = min64(a->balance, total);
        int64_t fd = min64((int64_t)s->deposit[i], total - fb);
        a->balance -= fb;
        a->locked -= fd;
        s->deposit[i] -= (uint64_t)fd;
        s->debt[i] += (uint64_t)(total - fb - fd);
        int64_t paid = fb + fd;
        int64_t g = min64(paid, r[i].charge);
        int64_t pen = min64(paid - g, r[i].penalty);
        if (w->tariff[si])
            grid->balance += g;
        s->pool_pen += pen;
        s->pool_sub += paid - g - pen;
    }
    int64_t pool = s->pool_sub;
    seen.pool_short += request > pool && pool > 0;
    for (int o = 0; o < NP; o++) {
        int i = order[o];
        int64_t c = min64(r[i].credit, w->tariff[si] ? grid->balance : 0);
        r[i].credit = c;
        grid->balance -= c;
        s->acc[P0 + i].balance += c;
        if (r[i].subsidy > 0) {
            if (request > pool)
                r[i].subsidy = (int64_t)((__int128)r[i].subsidy * pool / request);
            s->pool_sub -= r[i].subsidy;
            s->acc[P0 + i].balance += r[i].subsidy;
        }
    }
    for (int i = 0; i < NP; i++) {
        if (r[i].missing && ++s->strikes[i] >= w->prm.strike_limit)
            s->suspended[i] = true;
        s->points[i] += r[i].points;
    }
    /* The debt sweep of the same block. */
    for (int o = 0; o < NP; o++) {
        int i = order[o];
        int64_t rp = min64((int64_t)s->debt[i], s->acc[P0 + i].balance);
        s->debt[i] -= (uint64_t)rp;
        s->acc[P0 + i].balance -= rp;
        s->pool_debt += rp;
    }
}

static void compare(struct world *w, const struct snap *want, uint64_t slot, const struct ref *r)
{
    struct snap got;
    snapshot(w, &got);
    for (int k = 0; k < FX_KEYS; k++) {
        assert_int_equal(got.acc[k].balance, want->acc[k].balance);
        assert_int_equal(got.acc[k].locked, want->acc[k].locked);
    }
    for (int i = 0; i < NP; i++) {
        assert_int_equal(got.deposit[i], want->deposit[i]);
        assert_int_equal(got.debt[i], want->debt[i]);
        assert_int_equal(got.points[i], want->points[i]);
        assert_int_equal(got.strikes[i], want->strikes[i]);
        assert_int_equal(got.suspended[i], want->suspended[i]);
        if (!r)
            continue;
        Gl__MktSettlement *s = ms_get_settlement(&w->f, slot, P0 + i);
        assert_non_null(s);
        assert_int_equal(s->scheduled_net_wh, r[i].sched);
        assert_int_equal(s->metered_net_wh, r[i].metered);
        assert_int_equal(s->deviation_wh, r[i].dev);
        assert_int_equal(s->imbalance_charge, r[i].charge);
        assert_int_equal(s->imbalance_credit, r[i].credit);
        assert_int_equal(s->imbalance_price, r[i].price);
        assert_int_equal(s->penalty, r[i].penalty);
        assert_int_equal(s->subsidy, r[i].subsidy);
        assert_int_equal(s->points, r[i].points);
        assert_int_equal(s->missing, r[i].missing);
        gl__mkt_settlement__free_unpacked(s, NULL);
    }
    assert_int_equal(got.pool_sub, want->pool_sub);
    assert_int_equal(got.pool_pen, want->pool_pen);
    assert_int_equal(got.pool_debt, want->pool_debt);
}

static void one_day(uint64_t seed)
{
    struct world *w = calloc(1, sizeof *w);
    struct fx *f = &w->f;
    w->rng.s = seed;
    mt_open(f);
    /* Keys 6..8 get a random amount, some almost nothing: debts happen. */
    for (int k = P0 + 3; k < P0 + NP; k++) {
        char ref[16];
        snprintf(ref, sizeof ref, "mint-%d", k);
        uint64_t amt =
            tu_below(&w->rng, 2) ? 1000 + tu_below(&w->rng, 100000) : 100 * CHAIN_MICRO_PER_TOKEN;
        assert_int_equal(mt_mint(f, k, amt, ref), CHAIN_ERR_OK);
    }
    if (tu_below(&w->rng, 3))
        assert_int_equal(mt_mint(f, FX_SHADOW, tu_below(&w->rng, 2000000), "grid"), CHAIN_ERR_OK);
    mkt_params_default(&w->prm);
    w->prm.seller_margin_micro_per_kwh = tu_below(&w->rng, 50000);
    w->prm.imbalance_markup_ppm = 1 + (uint32_t)tu_below(&w->rng, 300000);
    w->prm.missing_penalty_micro = 1 + tu_below(&w->rng, 200000);
    w->prm.strike_limit = 1 + (uint32_t)tu_below(&w->rng, 4);
    assert_int_equal(mt_params(f, FX_OPERATOR, &w->prm), CHAIN_ERR_OK);
    for (int i = 0; i < NP; i++) {
        struct chain_account a = fx_account(f, f->pk[P0 + i]);
        uint64_t dep = tu_below(&w->rng, 2) ? tu_below(&w->rng, (uint64_t)a.balance / 2 + 1) : 0;
        assert_int_equal(ms_register_metered(f, P0 + i, tu_below(&w->rng, 2), dep), CHAIN_ERR_OK);
        a = fx_account(f, f->pk[P0 + i]);
        w->start_total[i] = a.balance + a.locked;
    }
    if (tu_below(&w->rng, 2)) {
        uint64_t fund = tu_below(&w->rng, tu_below(&w->rng, 2) ? 300000 : 20000) + 1;
        assert_int_equal(ms_fund(f, FX_ALICE, fund), CHAIN_ERR_OK);
        w->start_total[0] -= (int64_t)fund;
    }
    for (int si = 0; si < NSLOT; si++) {
        w->tariff[si] = tu_below(&w->rng, 4) != 0;
        if (!w->tariff[si])
            continue;
        w->retail[si] = 200000 + tu_below(&w->rng, 200000);
        w->feed_in[si] = 50000 + tu_below(&w->rng, 100000);
        assert_int_equal(
            mt_tariff(f, FX_SHADOW, MKT_ELECTRICITY, slot_of(si), w->retail[si], w->feed_in[si]),
            CHAIN_ERR_OK);
    }
    size_t norders = 6 + tu_below(&w->rng, 20);
    w->ids = calloc(norders, CHAIN_HASH_BYTES);
    for (size_t k = 0; k < norders; k++) {
        int who = P0 + (int)tu_below(&w->rng, NP);
        struct mkt_tx_order o = mt_simple(
            tu_below(&w->rng, 2) ? MKT_TX_BUY : MKT_TX_SELL, slot_of((int)tu_below(&w->rng, NSLOT)),
            100 + tu_below(&w->rng, 3000), 50000 + tu_below(&w->rng, 350000));
        if (mt_order(f, who, &o, w->ids[w->nids]) == CHAIN_ERR_OK)
            w->nids++;
    }
    mt_at(f, MT_DA_GATE);
    assert_int_equal(mt_empty_block(f), CHAIN_ERR_OK);
    /* Readings at the end of the last slot: all slots' windows are open. */
    mt_at(f, slot_of(NSLOT - 1) + MKT_SLOT_MS_DEFAULT);
    uint8_t *txs[NSLOT * NP * 2];
    size_t lens[NSLOT * NP * 2], ntx = 0;
    for (int si = 0; si < NSLOT; si++)
        for (int i = 0; i < NP; i++) {
            w->posted[si][i] = tu_below(&w->rng, 6) != 0;
            if (!w->posted[si][i])
                continue;
            w->imp[si][i] = tu_below(&w->rng, 3) ? tu_below(&w->rng, 4000) : 0;
            w->exp[si][i] = tu_below(&w->rng, 2) ? tu_below(&w->rng, 4000) : 0;
            if (i % 2 && tu_below(&w->rng, 2)) /* sellers deliver, now and then */
                w->imp[si][i] = 0;
            int reps = tu_below(&w->rng, 8) ? 1 : 2; /* an identical duplicate is a no-op */
            for (int rep = 0; rep < reps; rep++) {
                txs[ntx] = ms_reading_tx(f, MS_METER(P0 + i), MS_METER(P0 + i), slot_of(si),
                                         w->imp[si][i], w->exp[si][i], &lens[ntx]);
                ntx++;
            }
        }
    struct chain_exec_result res;
    assert_int_equal(fx_block(f, txs, lens, ntx, &res), CHAIN_ERR_OK);
    assert_int_equal(res.ntx, ntx);
    for (size_t k = 0; k < ntx; k++) {
        assert_int_equal(res.tx_results[k], CHAIN_ERR_OK);
        free(txs[k]);
    }
    chain_exec_result_free(&res);
    assert_nonneg(w);

    for (int si = 0; si < NSLOT; si++) {
        struct snap want;
        struct ref r[NP];
        mt_at(f, MS_DUE(slot_of(si)));
        /* Books clear and settle in the block: the reference reads fills after it
         * (they are inputs, checked by test_mkt_tx_prop), state before it. */
        snapshot(w, &want);
        assert_int_equal(mt_empty_block(f), CHAIN_ERR_OK);
        assert_nonneg(w);
        reference(w, si, &want, r);
        compare(w, &want, slot_of(si), r);
        Gl__MktSlotSettlement *sr = ms_get_slot(f, slot_of(si));
        assert_non_null(sr);
        seen.settled++;
        seen.unfunded_slots += sr->grid_unfunded > 0;
        seen.subsidised += sr->subsidy_paid > 0;
        seen.taxed += sr->subsidy_collected > 0;
        gl__mkt_slot_settlement__free_unpacked(sr, NULL);
        for (int i = 0; i < NP; i++)
            seen.missing += r[i].missing;
    }
    /* Recharge every debtor in one block: the sweep repays at its end. */
    {
        struct snap want;
        snapshot(w, &want);
        uint8_t *mt[NP];
        size_t ml[NP], nm = 0;
        for (int i = 0; i < NP; i++) {
            if (!want.debt[i])
                continue;
            seen.debts++;
            uint64_t amt = 1 + tu_below(&w->rng, want.debt[i] * 2);
            char ref[24];
            snprintf(ref, sizeof ref, "recharge-%d", i);
            uint8_t *p;
            size_t n;
            assert_int_equal(chain_payload_mint(f->pk[P0 + i], amt, ref, &p, &n), CHAIN_ERR_OK);
            mt[nm] = fx_tx(f, FX_SHADOW, GL__TX_TYPE__TX_MINT, p, n, &ml[nm]);
            nm++;
            want.acc[P0 + i].balance += (int64_t)amt;
            w->recharged[i] += (int64_t)amt;
        }
        if (nm) {
            int order[NP];
            key_order(w, order);
            for (int o = 0; o < NP; o++) {
                int i = order[o];
                int64_t rp = min64((int64_t)want.debt[i], want.acc[P0 + i].balance);
                want.debt[i] -= (uint64_t)rp;
                want.acc[P0 + i].balance -= rp;
                want.pool_debt += rp;
            }
            assert_int_equal(fx_block(f, mt, ml, nm, NULL), CHAIN_ERR_OK);
            for (size_t k = 0; k < nm; k++)
                free(mt[k]);
            compare(w, &want, 0, NULL);
        }
    }
    /* Bills add up to the money that moved through each participant's account. */
    for (int i = 0; i < NP; i++) {
        struct chain_account a = fx_account(f, f->pk[P0 + i]);
        int64_t delta = 0;
        for (uint64_t day = MT_DAY2 - MKT_DAY_MS; day <= MT_DAY2 + MKT_DAY_MS; day += MKT_DAY_MS) {
            Gl__MktBill *b = ms_get_bill(f, day, P0 + i);
            if (!b)
                continue;
            delta += -(int64_t)b->market_paid + (int64_t)b->market_received -
                     (int64_t)b->imbalance_charge + (int64_t)b->imbalance_credit -
                     (int64_t)b->penalty + b->subsidy + (int64_t)b->debt_added -
                     (int64_t)b->debt_repaid;
            gl__mkt_bill__free_unpacked(b, NULL);
        }
        Gl__MktParticipant *p = ms_get_part(f, P0 + i);
        seen.suspended += p->suspended ? 1u : 0u;
        gl__mkt_participant__free_unpacked(p, NULL);
        /* Funds still locked on open orders: none, every slot cleared and settled. */
        assert_int_equal(a.balance + a.locked, w->start_total[i] + delta + w->recharged[i]);
    }
    free(w->ids);
    fx_close(f);
    free(w);
}

static void test_random_days_settle_as_the_naive_reference_says(void **state)
{
    (void)state;
    int seeds = quick() ? 25 : 100;
    for (int s = 1; s <= seeds; s++) {
        print_message("settle property: seed %d\n", s);
        one_day((uint64_t)s * 7919);
    }
    print_message("settle property: %zu slots settled, %zu missing readings, %zu debtors, "
                  "%zu suspended, %zu slots subsidised (%zu by a short pool), %zu taxed, %zu with "
                  "grid credit unfunded\n",
                  seen.settled, seen.missing, seen.debts, seen.suspended, seen.subsidised,
                  seen.pool_short, seen.taxed, seen.unfunded_slots);
    /* The generator must reach every path it is meant to. */
    assert_true(seen.missing > 0 && seen.debts > 0 && seen.suspended > 0);
    assert_true(seen.subsidised > 0 && seen.taxed > 0 && seen.pool_short > 0);
    assert_true(seen.unfunded_slots > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_days_settle_as_the_naive_reference_says),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
