/* test_mkt_p2p.c -- P2P matching with grid fees.
 *
 * Small hand-made books for each rule (midpoint price, fee split, fees by
 * bus, grid backstop, partner preferences), the named errors, then the fast
 * code against an exhaustive search over every integer allocation of tiny
 * books and against GLPK's LP optimum on random books up to 200 x 200, in both
 * network forms.  Every result is also checked for the money rules (limits
 * kept, amounts balance) and, last, for determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mkt_testlib.h"

#define B(id_, q, p, bus_) {.id = (id_), .participant = (id_), .side = MKT_BUY, .qty_wh = (q), .price_micro_per_kwh = (p), .bus = (bus_), .arrival = (id_)}
#define S(id_, q, p, bus_) {.id = (id_), .participant = (id_), .side = MKT_SELL, .qty_wh = (q), .price_micro_per_kwh = (p), .bus = (bus_), .arrival = (id_)}

static void check_money(const struct mkt_order *o, size_t n, const struct mkt_grid *g,
                        const struct mkt_fees *f, const struct mkt_p2p_result *r);

static struct mkt_p2p_result p2p_ok(const struct mkt_order *o, size_t n, const struct mkt_grid *g,
                                    const struct mkt_fees *f, uint8_t form)
{
    struct mkt_book book = {o, n, g};
    struct mkt_p2p_result r;
    int rc = mkt_p2p_clear(&book, f, form, &r);
    if (rc)
        fail_msg("mkt_p2p_clear: %s", mkt_err_name(rc));
    check_money(o, n, g, f, &r);
    return r;
}

static int64_t price_of(const struct mkt_order *o, const struct mkt_grid *g, uint32_t idx)
{
    if (idx == MKT_GRID_SELL)
        return g->retail_micro_per_kwh;
    if (idx == MKT_GRID_BUY)
        return g->feed_in_micro_per_kwh;
    return o[idx].price_micro_per_kwh;
}

static uint32_t bus_of(const struct mkt_order *o, const struct mkt_grid *g, uint32_t idx)
{
    return idx >= MKT_GRID_SELL ? g->bus : o[idx].bus;
}

/* The invariants every result keeps: fills add up, each trade is within both
 * limits, money balances to the micro-unit. */
static void check_money(const struct mkt_order *o, size_t n, const struct mkt_grid *g,
                        const struct mkt_fees *f, const struct mkt_p2p_result *r)
{
    int64_t *sum = calloc(n + 1, sizeof *sum);
    int64_t gb = 0, gs = 0, vol = 0;
    __int128 w = 0;
    assert_non_null(sum);
    for (size_t k = 0; k < r->ntrades; k++) {
        const struct mkt_trade *t = &r->trades[k];
        int64_t pb = price_of(o, g, t->buy), ps = price_of(o, g, t->sell);
        int64_t fee = mkt_fee_micro_per_kwh(f, bus_of(o, g, t->buy), bus_of(o, g, t->sell));
        assert_true(t->qty_wh > 0);
        assert_int_equal(t->fee_micro_per_kwh, fee);
        assert_int_equal(t->price_micro_per_kwh, (pb + ps) / 2);
        assert_true(pb - ps - fee >= 0);
        /* within limits, per kWh and in money */
        assert_true(t->price_micro_per_kwh + (fee + 1) / 2 <= pb);
        assert_true(t->price_micro_per_kwh - fee / 2 >= ps);
        assert_true((__int128)t->buyer_pays_micro * 1000 < (__int128)pb * t->qty_wh + 1000);
        assert_true((__int128)t->seller_receives_micro * 1000 > (__int128)ps * t->qty_wh - 1000);
        assert_int_equal(t->buyer_pays_micro,
                         t->seller_receives_micro + t->fee_micro + t->fee_rounding_micro);
        assert_true(t->fee_rounding_micro >= 0 && t->fee_rounding_micro <= 2);
        if (t->buy == MKT_GRID_BUY)
            gb += t->qty_wh;
        else
            sum[t->buy] += t->qty_wh;
        if (t->sell == MKT_GRID_SELL)
            gs += t->qty_wh;
        else
            sum[t->sell] += t->qty_wh;
        assert_false(t->buy == MKT_GRID_BUY && t->sell == MKT_GRID_SELL);
        vol += t->qty_wh;
        w += (__int128)(pb - ps - fee) * t->qty_wh;
        if (k > 0) /* one trade per pair */
            assert_false(t->buy == r->trades[k - 1].buy && t->sell == r->trades[k - 1].sell);
    }
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sum[i], r->fill_wh[i]);
        assert_true(r->fill_wh[i] >= 0 && r->fill_wh[i] <= o[i].qty_wh);
    }
    assert_int_equal(gb, r->grid_buy_wh);
    assert_int_equal(gs, r->grid_sell_wh);
    assert_int_equal(vol, r->volume_wh);
    assert_true(w == r->welfare);
    free(sum);
}

static const struct mkt_fees one_bus = {.model = MKT_FEE_UNIFORM, .rate_micro_per_kwh = 0, .nbus = 1};

/* ---- rules, one by one ---- */

static void test_p2p_pair_trades_at_the_midpoint_and_splits_an_odd_fee(void **state)
{
    (void)state;
    struct mkt_order o[] = {B(1, 1000, 200, 0), S(2, 1000, 101, 0)};
    struct mkt_fees f = {.model = MKT_FEE_UNIFORM, .rate_micro_per_kwh = 11, .nbus = 1};
    struct mkt_p2p_result r = p2p_ok(o, 2, NULL, &f, MKT_P2P_AUTO);
    assert_int_equal(r.ntrades, 1);
    const struct mkt_trade *t = &r.trades[0];
    assert_int_equal(t->qty_wh, 1000);
    assert_int_equal(t->price_micro_per_kwh, 150); /* floor(301 / 2) */
    assert_int_equal(t->fee_micro_per_kwh, 11);
    assert_int_equal(t->buyer_pays_micro, 156);     /* 150 + 6 */
    assert_int_equal(t->seller_receives_micro, 145); /* 150 - 5 */
    assert_int_equal(t->fee_micro, 11);
    assert_int_equal(t->fee_rounding_micro, 0);
    assert_true(r.welfare == (200 - 101 - 11) * 1000);
    assert_int_equal(r.form, MKT_P2P_BUS);
    mkt_p2p_result_deinit(&r);
}

static void test_p2p_zonal_fee_sends_a_buyer_to_the_nearer_seller(void **state)
{
    (void)state;
    uint32_t zones[] = {0, 1, 1, 0};
    struct mkt_fees f = {.model = MKT_FEE_ZONAL, .rate_micro_per_kwh = 30, .nbus = 2, .matrix = zones};
    /* far seller: 150 - 100 - 30 = 20 per kWh; near seller: 150 - 125 = 25 */
    struct mkt_order o[] = {B(1, 10, 150, 0), S(2, 10, 100, 1), S(3, 10, 125, 0)};
    struct mkt_p2p_result r = p2p_ok(o, 3, NULL, &f, MKT_P2P_AUTO);
    assert_int_equal(r.fill_wh[1], 0);
    assert_int_equal(r.fill_wh[2], 10);
    assert_true(r.welfare == 250);
    mkt_p2p_result_deinit(&r);
}

static void test_p2p_fee_above_the_spread_blocks_the_trade(void **state)
{
    (void)state;
    uint32_t dist[] = {0, 7, 7, 0};
    struct mkt_fees f = {.model = MKT_FEE_DISTANCE, .rate_micro_per_kwh = 10, .nbus = 2, .matrix = dist};
    struct mkt_order o[] = {B(1, 10, 150, 0), S(2, 10, 100, 1)};
    struct mkt_p2p_result r = p2p_ok(o, 2, NULL, &f, MKT_P2P_AUTO);
    assert_int_equal(r.ntrades, 0);
    assert_int_equal(r.volume_wh, 0);
    mkt_p2p_result_deinit(&r);
}

static void test_p2p_grid_sells_what_peers_cannot_and_buys_the_surplus(void **state)
{
    (void)state;
    struct mkt_grid g = {.retail_micro_per_kwh = 300, .feed_in_micro_per_kwh = 50, .bus = 0};
    struct mkt_order o[] = {B(1, 10, 400, 0), S(2, 4, 100, 0), S(3, 5, 40, 0)};
    struct mkt_p2p_result r = p2p_ok(o, 3, &g, &one_bus, MKT_P2P_AUTO);
    assert_int_equal(r.fill_wh[0], 10);
    assert_int_equal(r.grid_sell_wh, 1);
    assert_int_equal(r.grid_buy_wh, 0);
    assert_true(r.welfare == 4 * 300 + 5 * 360 + 1 * 100);
    mkt_p2p_result_deinit(&r);
    /* a lone seller above feed-in sells to the grid */
    struct mkt_order o2[] = {S(1, 10, 20, 0)};
    r = p2p_ok(o2, 1, &g, &one_bus, MKT_P2P_AUTO);
    assert_int_equal(r.grid_buy_wh, 10);
    assert_int_equal(r.trades[0].price_micro_per_kwh, 35);
    mkt_p2p_result_deinit(&r);
    /* retail == feed-in: the grid never trades with itself */
    struct mkt_grid flat = {.retail_micro_per_kwh = 100, .feed_in_micro_per_kwh = 100};
    struct mkt_order o3[] = {B(1, 10, 150, 0), S(2, 10, 50, 0)};
    r = p2p_ok(o3, 2, &flat, &one_bus, MKT_P2P_BUS);
    assert_true(r.welfare == 1000);
    mkt_p2p_result_deinit(&r);
}

static void test_p2p_partner_exclusions_and_allowed_sets_are_respected(void **state)
{
    (void)state;
    uint32_t not2[] = {2}, only3[] = {3};
    struct mkt_prefs ex = {.excluded = not2, .nexcluded = 1};
    struct mkt_prefs al = {.allowed = only3, .nallowed = 1};
    struct mkt_order o[] = {B(1, 10, 200, 0), B(4, 10, 200, 0), S(2, 10, 50, 0), S(3, 10, 150, 0)};
    o[0].prefs = &ex; /* buyer 1 will not buy from 2 */
    o[2].prefs = &al; /* seller 2 sells to 3 only -- who is a seller: nobody */
    struct mkt_p2p_result r = p2p_ok(o, 4, NULL, &one_bus, MKT_P2P_AUTO);
    assert_int_equal(r.form, MKT_P2P_DENSE);
    assert_int_equal(r.fill_wh[2], 0);
    assert_int_equal(r.fill_wh[3], 10);
    assert_true(r.welfare == 500);
    mkt_p2p_result_deinit(&r);
}

static void test_p2p_renewable_premium_steers_but_is_not_paid(void **state)
{
    (void)state;
    struct mkt_prefs green = {.premium_renewable_micro_per_kwh = 20};
    struct mkt_order o[] = {B(1, 10, 200, 0), S(2, 10, 100, 0), S(3, 10, 110, 0)};
    o[0].prefs = &green;
    o[2].flags = MKT_ORDER_RENEWABLE;
    struct mkt_p2p_result r = p2p_ok(o, 3, NULL, &one_bus, MKT_P2P_AUTO);
    assert_int_equal(r.fill_wh[2], 10);
    assert_true(r.welfare == 900);
    assert_true(r.objective == 1100);
    assert_int_equal(r.trades[0].price_micro_per_kwh, 155);
    mkt_p2p_result_deinit(&r);
}

static void test_p2p_rejects_bad_input_with_named_errors(void **state)
{
    (void)state;
    struct mkt_order o[] = {B(1, 10, 200, 0), S(2, 10, 100, 1)};
    uint32_t m[] = {0, 1, 1, 0};
    struct mkt_fees f = {.model = MKT_FEE_ZONAL, .rate_micro_per_kwh = 1, .nbus = 2, .matrix = m};
    struct mkt_book book = {o, 2, NULL};
    struct mkt_p2p_result r;
#define EXPECT(err)                                                                            \
    do {                                                                                       \
        assert_int_equal(mkt_p2p_clear(&book, &f, MKT_P2P_AUTO, &r), (err));                   \
        mkt_p2p_result_deinit(&r);                                                             \
    } while (0)
    o[1].bus = 2;
    EXPECT(MKT_ERR_BAD_BUS);
    o[1].bus = 1;
    f.model = 3;
    EXPECT(MKT_ERR_BAD_FEES);
    f.model = MKT_FEE_ZONAL;
    f.matrix = NULL;
    EXPECT(MKT_ERR_BAD_FEES);
    f.matrix = m;
    m[1] = MKT_MAX_FEE_FACTOR + 1;
    EXPECT(MKT_ERR_BAD_FEES);
    m[1] = 1;
    f.rate_micro_per_kwh = -1;
    EXPECT(MKT_ERR_BAD_FEES);
    f.rate_micro_per_kwh = 1;
    f.nbus = 0;
    EXPECT(MKT_ERR_BAD_FEES);
    f.nbus = MKT_MAX_BUS + 1;
    EXPECT(MKT_ERR_BOOK_TOO_LARGE);
    f.nbus = 2;
    struct mkt_grid g = {.retail_micro_per_kwh = 5, .feed_in_micro_per_kwh = 1, .bus = 9};
    book.grid = &g;
    EXPECT(MKT_ERR_BAD_BUS);
    book.grid = NULL;
    struct mkt_prefs bad = {.premium_local_micro_per_kwh = 5};
    o[1].prefs = &bad; /* a premium is a buyer's */
    EXPECT(MKT_ERR_BAD_PREFS);
    struct mkt_prefs ok = {0};
    o[1].prefs = &ok;
    assert_int_equal(mkt_p2p_clear(&book, &f, MKT_P2P_BUS, &r), MKT_ERR_PREFS_NEED_DENSE);
    mkt_p2p_result_deinit(&r);
    assert_int_equal(mkt_p2p_clear(&book, &f, 7, &r), MKT_ERR_BAD_FORM);
    mkt_p2p_result_deinit(&r);
    o[1].prefs = NULL;
    o[1].qty_wh = 0;
    EXPECT(MKT_ERR_BAD_QTY);
#undef EXPECT
    mkt_p2p_result_deinit(NULL);
}

/* ---- random books ---- */

struct rbook {
    struct mkt_order o[400];
    struct mkt_prefs prefs[400];
    uint32_t sets[400][8];
    struct mkt_grid grid;
    int has_grid;
    struct mkt_fees fees;
    uint32_t matrix[64];
    size_t n;
};

static void random_p2p_book(struct tu_rng *rng, struct rbook *b, size_t nb, size_t ns, int64_t pmax,
                            int64_t qmax, int with_prefs)
{
    memset(b, 0, sizeof *b);
    uint32_t K = 1 + (uint32_t)tu_below(rng, 8);
    b->fees.nbus = K;
    b->fees.model = (uint8_t)tu_below(rng, 3);
    b->fees.rate_micro_per_kwh = (int64_t)tu_below(rng, (uint64_t)pmax / 20 + 1);
    b->fees.matrix = b->matrix;
    for (uint32_t x = 0; x < K; x++)
        for (uint32_t y = 0; y < K; y++)
            b->matrix[x * K + y] = x == y ? 0 : 1 + (uint32_t)tu_below(rng, 4);
    uint32_t npart = (uint32_t)((nb + ns) / 2 + 1);
    b->n = nb + ns;
    for (size_t i = 0; i < b->n; i++) {
        struct mkt_order *o = &b->o[i];
        *o = (struct mkt_order){.id = (uint32_t)(3 * i + 1), .participant = (uint32_t)tu_below(rng, npart),
                                .side = i < nb ? MKT_BUY : MKT_SELL, .bus = (uint32_t)tu_below(rng, K),
                                .qty_wh = 1 + (int64_t)tu_below(rng, (uint64_t)qmax),
                                .price_micro_per_kwh = (int64_t)tu_below(rng, (uint64_t)pmax + 1),
                                .arrival = tu_below(rng, 50),
                                .flags = (uint8_t)(i >= nb && tu_below(rng, 2) ? MKT_ORDER_RENEWABLE : 0)};
        if (with_prefs && tu_below(rng, 3) == 0) {
            struct mkt_prefs *p = &b->prefs[i];
            uint32_t k = (uint32_t)tu_below(rng, 5);
            for (uint32_t j = 0; j < k; j++)
                b->sets[i][j] = (uint32_t)tu_below(rng, npart);
            if (tu_below(rng, 4) == 0) {
                p->allowed = b->sets[i];
                p->nallowed = k;
                if (tu_below(rng, 2))
                    b->sets[i][p->nallowed++] = MKT_GRID_PARTICIPANT;
            } else {
                p->excluded = b->sets[i];
                p->nexcluded = k;
            }
            if (i < nb) {
                p->premium_renewable_micro_per_kwh = (int64_t)tu_below(rng, (uint64_t)pmax / 10 + 1);
                p->premium_local_micro_per_kwh = (int64_t)tu_below(rng, (uint64_t)pmax / 10 + 1);
            }
            o->prefs = p;
        }
    }
    b->has_grid = (int)tu_below(rng, 2);
    b->grid.feed_in_micro_per_kwh = (int64_t)tu_below(rng, (uint64_t)pmax / 2 + 1);
    b->grid.retail_micro_per_kwh = b->grid.feed_in_micro_per_kwh + (int64_t)tu_below(rng, (uint64_t)pmax / 2 + 1);
    b->grid.bus = (uint32_t)tu_below(rng, K);
}

/* A party for the references: an order or the grid, whose "unlimited" is
 * the other side's total (it can never bind). */
struct ref_party {
    int64_t price, cap;
    uint32_t participant, bus;
    int renewable, grid;
    const struct mkt_prefs *prefs;
};

static int ref_accepts(const struct ref_party *p, const struct ref_party *q)
{
    if (!p->prefs)
        return 1;
    if (p->prefs->allowed) {
        int found = 0;
        for (uint32_t k = 0; k < p->prefs->nallowed; k++)
            found |= p->prefs->allowed[k] == q->participant;
        if (!found)
            return 0;
    }
    for (uint32_t k = 0; k < p->prefs->nexcluded; k++)
        if (p->prefs->excluded[k] == q->participant)
            return 0;
    return 1;
}

/* The weight of a pair in the objective, or -1 when it may not trade. */
static int64_t ref_weight(const struct ref_party *b, const struct ref_party *s, const struct mkt_fees *f)
{
    if (b->grid && s->grid)
        return -1;
    int64_t fee = mkt_fee_micro_per_kwh(f, b->bus, s->bus);
    int64_t surplus = b->price - s->price - fee;
    int64_t prem = 0;
    if (b->prefs) {
        prem += s->renewable ? b->prefs->premium_renewable_micro_per_kwh : 0;
        prem += s->bus == b->bus ? b->prefs->premium_local_micro_per_kwh : 0;
    }
    if (surplus < 0 || surplus + prem <= 0 || !ref_accepts(b, s) || !ref_accepts(s, b))
        return -1;
    return surplus + prem;
}

static size_t ref_parties(const struct rbook *b, struct ref_party *buy, size_t *nb, struct ref_party *sell,
                          size_t *ns)
{
    int64_t tb = 0, ts = 0;
    *nb = *ns = 0;
    for (size_t i = 0; i < b->n; i++) {
        const struct mkt_order *o = &b->o[i];
        struct ref_party p = {o->price_micro_per_kwh, o->qty_wh, o->participant, o->bus,
                              (o->flags & MKT_ORDER_RENEWABLE) != 0, 0, o->prefs};
        if (o->side == MKT_BUY) {
            buy[(*nb)++] = p;
            tb += o->qty_wh;
        } else {
            sell[(*ns)++] = p;
            ts += o->qty_wh;
        }
    }
    if (b->has_grid) {
        buy[(*nb)++] = (struct ref_party){b->grid.feed_in_micro_per_kwh, ts, MKT_GRID_PARTICIPANT,
                                          b->grid.bus, 0, 1, NULL};
        sell[(*ns)++] = (struct ref_party){b->grid.retail_micro_per_kwh, tb, MKT_GRID_PARTICIPANT,
                                           b->grid.bus, 0, 1, NULL};
    }
    return *nb * *ns;
}

/* Exhaustive search over every integer quantity of every admissible pair. */
static void ex_rec(size_t k, size_t npairs, const size_t *pb, const size_t *ps, const int64_t *wt,
                   int64_t *capb, int64_t *caps, __int128 acc, __int128 *best)
{
    if (k == npairs) {
        if (acc > *best)
            *best = acc;
        return;
    }
    int64_t lim = capb[pb[k]] < caps[ps[k]] ? capb[pb[k]] : caps[ps[k]];
    for (int64_t q = 0; q <= lim; q++) {
        capb[pb[k]] -= q;
        caps[ps[k]] -= q;
        ex_rec(k + 1, npairs, pb, ps, wt, capb, caps, acc + (__int128)wt[k] * q, best);
        capb[pb[k]] += q;
        caps[ps[k]] += q;
    }
}

static void test_p2p_matches_exhaustive_search_on_tiny_books(void **state)
{
    (void)state;
    struct tu_rng rng = {99};
    struct rbook *b = malloc(sizeof *b);
    assert_non_null(b);
    int books = tl_quick() ? 150 : 1000;
    for (int k = 0; k < books; k++) {
        int prefs = k % 2;
        random_p2p_book(&rng, b, tu_below(&rng, 3), tu_below(&rng, 3), 12, 3, prefs);
        const struct mkt_grid *g = b->has_grid ? &b->grid : NULL;
        struct ref_party buy[4], sell[4];
        size_t nb, ns;
        ref_parties(b, buy, &nb, sell, &ns);
        size_t pb[16], ps[16], np = 0;
        int64_t wt[16], capb[4], caps[4];
        for (size_t i = 0; i < nb; i++)
            capb[i] = buy[i].cap;
        for (size_t j = 0; j < ns; j++)
            caps[j] = sell[j].cap;
        for (size_t i = 0; i < nb; i++)
            for (size_t j = 0; j < ns; j++) {
                int64_t w = ref_weight(&buy[i], &sell[j], &b->fees);
                if (w > 0) {
                    pb[np] = i;
                    ps[np] = j;
                    wt[np++] = w;
                }
            }
        __int128 best = 0;
        ex_rec(0, np, pb, ps, wt, capb, caps, 0, &best);
        struct mkt_p2p_result r = p2p_ok(b->o, b->n, g, &b->fees, prefs ? MKT_P2P_DENSE : MKT_P2P_BUS);
        if (r.objective != best)
            fail_msg("tiny book %d: objective %lld, exhaustive %lld", k, (long long)r.objective,
                     (long long)best);
        mkt_p2p_result_deinit(&r);
    }
    free(b);
}

static void test_p2p_welfare_equals_glpk_optimum_on_random_books(void **state)
{
    (void)state;
    struct tu_rng rng = {4242};
    struct rbook *b = malloc(sizeof *b);
    struct ref_party *buy = malloc(201 * sizeof *buy), *sell = malloc(201 * sizeof *sell);
    assert_non_null(b);
    assert_non_null(buy);
    assert_non_null(sell);
    char *dir = tu_tmpdir("mkt-p2p-lp");
    int books = tl_quick() ? 30 : 200;
    for (int k = 0; k < books; k++) {
        size_t nbk = k % 10 == 0 ? 200 : 1 + tu_below(&rng, 200);
        size_t nsk = k % 10 == 0 ? 200 : 1 + tu_below(&rng, 200);
        int prefs = k % 3 == 0;
        int64_t pmax = k % 4 == 0 ? 30 : 1000000;
        random_p2p_book(&rng, b, nbk, nsk, pmax, 1000000, prefs);
        const struct mkt_grid *g = b->has_grid ? &b->grid : NULL;
        size_t nb, ns;
        ref_parties(b, buy, &nb, sell, &ns);
        /* The LP over pairs: maximise sum w x, per real order a row; the
         * grid is unlimited (no row). */
        struct tl_lp lp = {0};
        tl_lp_printf(&lp, "Maximize\n obj: 0 z");
        for (size_t i = 0; i < nb; i++)
            for (size_t j = 0; j < ns; j++) {
                int64_t w = ref_weight(&buy[i], &sell[j], &b->fees);
                if (w > 0)
                    tl_lp_printf(&lp, " + %lld x%zu_%zu", (long long)w, i, j);
            }
        tl_lp_printf(&lp, "\nSubject To\n");
        for (size_t i = 0; i < nb; i++) {
            if (buy[i].grid)
                continue;
            int any = 0;
            for (size_t j = 0; j < ns; j++)
                if (ref_weight(&buy[i], &sell[j], &b->fees) > 0) {
                    if (any)
                        tl_lp_printf(&lp, " + x%zu_%zu", i, j);
                    else
                        tl_lp_printf(&lp, " b%zu: x%zu_%zu", i, i, j);
                    any = 1;
                }
            if (any)
                tl_lp_printf(&lp, " <= %lld\n", (long long)buy[i].cap);
        }
        for (size_t j = 0; j < ns; j++) {
            if (sell[j].grid)
                continue;
            int any = 0;
            for (size_t i = 0; i < nb; i++)
                if (ref_weight(&buy[i], &sell[j], &b->fees) > 0) {
                    if (any)
                        tl_lp_printf(&lp, " + x%zu_%zu", i, j);
                    else
                        tl_lp_printf(&lp, " s%zu: x%zu_%zu", j, i, j);
                    any = 1;
                }
            if (any)
                tl_lp_printf(&lp, " <= %lld\n", (long long)sell[j].cap);
        }
        tl_lp_printf(&lp, "Bounds\n z = 0\nEnd\n");
        int ok;
        double opt = tl_glpsol(dir, lp.s, &ok);
        free(lp.s);
        if (!ok)
            fail_msg("glpsol failed on book %d (is glpk-utils installed? scripts/deps.sh)", k);
        struct mkt_p2p_result r = p2p_ok(b->o, b->n, g, &b->fees, MKT_P2P_AUTO);
        if ((double)tl_i128_to_i64(r.objective) != opt)
            fail_msg("book %d (%zu x %zu, form %d): objective %lld, LP optimum %.0f", k, nbk, nsk,
                     r.form, (long long)tl_i128_to_i64(r.objective), opt);
        if (!prefs) {
            /* the dense form finds the same optimum */
            struct mkt_p2p_result d = p2p_ok(b->o, b->n, g, &b->fees, MKT_P2P_DENSE);
            assert_true(d.welfare == r.welfare);
            mkt_p2p_result_deinit(&d);
        }
        mkt_p2p_result_deinit(&r);
    }
    tu_rmdir(dir);
    free(dir);
    free(b);
    free(buy);
    free(sell);
}

static void serialise(const struct mkt_p2p_result *r, struct tl_buf *t)
{
    tl_put_i64(t, r->volume_wh);
    tl_put_i128(t, r->welfare);
    tl_put_i128(t, r->objective);
    tl_put_i64(t, r->grid_buy_wh);
    tl_put_i64(t, r->grid_sell_wh);
    tl_put_i64(t, r->fee_total_micro);
    tl_put_i64(t, r->fee_rounding_total_micro);
    tl_put_i64(t, (int64_t)r->norders);
    for (size_t i = 0; i < r->norders; i++)
        tl_put_i64(t, r->fill_wh[i]);
    tl_put_i64(t, (int64_t)r->ntrades);
    for (size_t k = 0; k < r->ntrades; k++) {
        const struct mkt_trade *x = &r->trades[k];
        int64_t v[] = {x->buy, x->sell, x->qty_wh, x->price_micro_per_kwh, x->fee_micro_per_kwh,
                       x->buyer_pays_micro, x->seller_receives_micro, x->fee_micro, x->fee_rounding_micro};
        for (size_t j = 0; j < sizeof v / sizeof v[0]; j++)
            tl_put_i64(t, v[j]);
    }
    tl_put(t, &r->form, 1);
}

static void test_p2p_is_byte_identical_twice_and_independent_of_book_order(void **state)
{
    (void)state;
    struct tu_rng rng = {31337};
    struct rbook *b = malloc(sizeof *b);
    struct mkt_order *p = malloc(400 * sizeof *p);
    assert_non_null(b);
    assert_non_null(p);
    for (int prefs = 0; prefs < 2; prefs++) {
        random_p2p_book(&rng, b, 180, 190, 40, 1000, prefs); /* narrow prices: many ties */
        b->has_grid = 1;
        struct mkt_p2p_result r1 = p2p_ok(b->o, b->n, &b->grid, &b->fees, MKT_P2P_AUTO);
        struct mkt_p2p_result r2 = p2p_ok(b->o, b->n, &b->grid, &b->fees, MKT_P2P_AUTO);
        struct tl_buf x = {0}, y = {0};
        serialise(&r1, &x);
        serialise(&r2, &y);
        assert_int_equal(x.n, y.n);
        assert_memory_equal(x.b, y.b, x.n);
        /* shuffled: the same trades, by id */
        uint32_t *where = malloc(b->n * sizeof *where);
        assert_non_null(where);
        for (size_t i = 0; i < b->n; i++)
            where[i] = (uint32_t)i;
        for (size_t i = b->n - 1; i > 0; i--) {
            size_t j = tu_below(&rng, i + 1);
            uint32_t t = where[i];
            where[i] = where[j];
            where[j] = t;
        }
        for (size_t i = 0; i < b->n; i++)
            p[i] = b->o[where[i]];
        struct mkt_p2p_result r3 = p2p_ok(p, b->n, &b->grid, &b->fees, MKT_P2P_AUTO);
        assert_int_equal(r3.ntrades, r1.ntrades);
        assert_true(r3.welfare == r1.welfare && r3.objective == r1.objective);
        for (size_t k = 0; k < r1.ntrades; k++) {
            const struct mkt_trade *a = &r1.trades[k], *c = &r3.trades[k];
            uint32_t ab = a->buy < MKT_GRID_SELL ? b->o[a->buy].id : a->buy;
            uint32_t as = a->sell < MKT_GRID_SELL ? b->o[a->sell].id : a->sell;
            uint32_t cb = c->buy < MKT_GRID_SELL ? p[c->buy].id : c->buy;
            uint32_t cs = c->sell < MKT_GRID_SELL ? p[c->sell].id : c->sell;
            assert_int_equal(ab, cb);
            assert_int_equal(as, cs);
            assert_int_equal(a->qty_wh, c->qty_wh);
            assert_int_equal(a->buyer_pays_micro, c->buyer_pays_micro);
        }
        free(where);
        free(x.b);
        free(y.b);
        mkt_p2p_result_deinit(&r1);
        mkt_p2p_result_deinit(&r2);
        mkt_p2p_result_deinit(&r3);
    }
    free(p);
    free(b);
}

static void test_p2p_extreme_prices_and_quantities_do_not_overflow(void **state)
{
    (void)state;
    enum { N = 300 };
    struct mkt_order *o = calloc(2 * N, sizeof *o);
    assert_non_null(o);
    struct tu_rng rng = {8};
    for (uint32_t i = 0; i < 2 * N; i++)
        o[i] = (struct mkt_order){.id = i, .participant = i, .side = i < N ? MKT_BUY : MKT_SELL,
                                  .qty_wh = MKT_MAX_QTY_WH - (int64_t)tu_below(&rng, 3),
                                  .price_micro_per_kwh = MKT_MAX_PRICE - (int64_t)tu_below(&rng, 1000000),
                                  .arrival = i};
    struct mkt_grid g = {.retail_micro_per_kwh = MKT_MAX_PRICE, .feed_in_micro_per_kwh = 0};
    struct mkt_p2p_result r = p2p_ok(o, 2 * N, &g, &one_bus, MKT_P2P_BUS);
    struct mkt_p2p_result d = p2p_ok(o, 2 * N, &g, &one_bus, MKT_P2P_DENSE);
    assert_true(r.welfare == d.welfare);
    assert_true(r.welfare > 0);
    mkt_p2p_result_deinit(&r);
    mkt_p2p_result_deinit(&d);
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p2p_pair_trades_at_the_midpoint_and_splits_an_odd_fee),
        cmocka_unit_test(test_p2p_zonal_fee_sends_a_buyer_to_the_nearer_seller),
        cmocka_unit_test(test_p2p_fee_above_the_spread_blocks_the_trade),
        cmocka_unit_test(test_p2p_grid_sells_what_peers_cannot_and_buys_the_surplus),
        cmocka_unit_test(test_p2p_partner_exclusions_and_allowed_sets_are_respected),
        cmocka_unit_test(test_p2p_renewable_premium_steers_but_is_not_paid),
        cmocka_unit_test(test_p2p_rejects_bad_input_with_named_errors),
        cmocka_unit_test(test_p2p_matches_exhaustive_search_on_tiny_books),
        cmocka_unit_test(test_p2p_welfare_equals_glpk_optimum_on_random_books),
        cmocka_unit_test(test_p2p_is_byte_identical_twice_and_independent_of_book_order),
        cmocka_unit_test(test_p2p_extreme_prices_and_quantities_do_not_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
