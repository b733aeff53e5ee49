/* test_mkt_auction.c -- the uniform-price double auction.
 *
 * The worked examples of market/README.md, each rule on its own, the named
 * errors, then the fast code against two independent references: an
 * exhaustive search over every integer allocation of tiny books (welfare and
 * volume) with a naive reading of the price and pro-rata rules, and GLPK's LP
 * optimum on random books up to 200 x 200.  Last, determinism: the same book
 * twice, and the same book shuffled, give the same bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mkt_testlib.h"

#define B(id_, q, p, arr) {.id = (id_), .participant = (id_), .side = MKT_BUY, .qty_wh = (q), .price_micro_per_kwh = (p), .arrival = (arr)}
#define S(id_, q, p, arr) {.id = (id_), .participant = (id_), .side = MKT_SELL, .qty_wh = (q), .price_micro_per_kwh = (p), .arrival = (arr)}

static struct mkt_auction_result clear_ok(const struct mkt_order *o, size_t n, const struct mkt_grid *g)
{
    struct mkt_book book = {o, n, g};
    struct mkt_auction_result r;
    int rc = mkt_auction_clear(&book, &r);
    assert_int_equal(rc, MKT_OK);
    return r;
}

/* ---- the README's worked examples ---- */

static void test_auction_curves_meeting_on_a_vertical_segment_price_is_the_midpoint(void **state)
{
    (void)state;
    struct mkt_order o[] = {B(1, 10, 50, 1), B(2, 5, 20, 2), S(3, 10, 30, 3), S(4, 5, 60, 4)};
    struct mkt_auction_result r = clear_ok(o, 4, NULL);
    assert_int_equal(r.volume_wh, 10);
    assert_int_equal(r.price_lo_micro_per_kwh, 30);
    assert_int_equal(r.price_hi_micro_per_kwh, 50);
    assert_int_equal(r.price_micro_per_kwh, 40);
    assert_true(r.welfare == 10 * (50 - 30));
    assert_int_equal(r.fill_wh[0], 10);
    assert_int_equal(r.fill_wh[1], 0);
    assert_int_equal(r.fill_wh[2], 10);
    assert_int_equal(r.fill_wh[3], 0);
    mkt_auction_result_deinit(&r);
}

static void test_auction_curves_overlapping_on_a_horizontal_segment_take_the_largest_volume(void **state)
{
    (void)state;
    struct mkt_order o[] = {B(1, 5, 50, 1), B(2, 10, 40, 2), S(3, 5, 30, 3), S(4, 15, 40, 4)};
    struct mkt_auction_result r = clear_ok(o, 4, NULL);
    /* Volumes 5..15 all have welfare 5*(50-30) + 0: the largest is taken. */
    assert_int_equal(r.volume_wh, 15);
    assert_true(r.welfare == 5 * 20);
    assert_int_equal(r.price_lo_micro_per_kwh, 40);
    assert_int_equal(r.price_hi_micro_per_kwh, 40);
    assert_int_equal(r.price_micro_per_kwh, 40);
    assert_int_equal(r.fill_wh[1], 10);
    assert_int_equal(r.fill_wh[3], 10);
    mkt_auction_result_deinit(&r);
}

static void test_auction_excess_demand_at_the_margin_sets_the_price_to_the_bid(void **state)
{
    (void)state;
    struct mkt_order o[] = {B(1, 10, 50, 1), B(2, 10, 45, 2), S(3, 15, 30, 3)};
    struct mkt_auction_result r = clear_ok(o, 3, NULL);
    assert_int_equal(r.volume_wh, 15);
    /* The partly filled bid at 45 would buy more at any price below 45. */
    assert_int_equal(r.price_lo_micro_per_kwh, 45);
    assert_int_equal(r.price_hi_micro_per_kwh, 45);
    assert_int_equal(r.fill_wh[1], 5);
    mkt_auction_result_deinit(&r);
}

static void test_auction_marginal_tie_is_pro_rata_with_largest_remainder(void **state)
{
    (void)state;
    /* 7 Wh over 5 + 3 + 2 at the marginal price: 3.5, 2.1, 1.4 -> 3, 2, 1 and
     * the one Wh left to the largest remainder (0.5). */
    struct mkt_order o[] = {B(1, 5, 100, 3), B(2, 3, 100, 1), B(3, 2, 100, 2), S(4, 7, 50, 4)};
    struct mkt_auction_result r = clear_ok(o, 4, NULL);
    assert_int_equal(r.volume_wh, 7);
    assert_int_equal(r.fill_wh[0], 4);
    assert_int_equal(r.fill_wh[1], 2);
    assert_int_equal(r.fill_wh[2], 1);
    assert_int_equal(r.price_micro_per_kwh, 100);
    mkt_auction_result_deinit(&r);
}

static void test_auction_equal_remainders_go_by_arrival(void **state)
{
    (void)state;
    struct mkt_order o[] = {B(1, 1, 100, 30), B(2, 1, 100, 10), B(3, 1, 100, 20), S(4, 2, 50, 1)};
    struct mkt_auction_result r = clear_ok(o, 4, NULL);
    assert_int_equal(r.fill_wh[0], 0); /* arrived last */
    assert_int_equal(r.fill_wh[1], 1);
    assert_int_equal(r.fill_wh[2], 1);
    mkt_auction_result_deinit(&r);
}

static void test_auction_grid_backstop_bounds_the_price_to_feed_in_and_retail(void **state)
{
    (void)state;
    struct mkt_grid g = {.retail_micro_per_kwh = 300, .feed_in_micro_per_kwh = 100};
    struct mkt_order o[] = {B(1, 10, 400, 1), S(2, 4, 50, 2)};
    struct mkt_auction_result r = clear_ok(o, 2, &g);
    /* 4 Wh from the seller, 6 from the grid at retail; price is at most retail. */
    assert_int_equal(r.volume_wh, 10);
    assert_int_equal(r.grid_sell_wh, 6);
    assert_int_equal(r.grid_buy_wh, 0);
    assert_int_equal(r.price_lo_micro_per_kwh, 300);
    assert_int_equal(r.price_hi_micro_per_kwh, 300);
    assert_true(r.welfare == 10 * 400 - 4 * 50 - 6 * 300);
    mkt_auction_result_deinit(&r);

    struct mkt_order o2[] = {B(1, 3, 250, 1), S(2, 10, 60, 2)};
    r = clear_ok(o2, 2, &g);
    assert_int_equal(r.grid_buy_wh, 7);
    assert_int_equal(r.price_micro_per_kwh, 100);
    mkt_auction_result_deinit(&r);
}

static void test_auction_grid_is_served_after_orders_at_its_price(void **state)
{
    (void)state;
    struct mkt_grid g = {.retail_micro_per_kwh = 300, .feed_in_micro_per_kwh = 100};
    struct mkt_order o[] = {B(1, 10, 400, 1), S(2, 4, 300, 2)};
    struct mkt_auction_result r = clear_ok(o, 2, &g);
    assert_int_equal(r.fill_wh[1], 4);
    assert_int_equal(r.grid_sell_wh, 6);
    mkt_auction_result_deinit(&r);
}

static void test_auction_grid_never_trades_with_itself(void **state)
{
    (void)state;
    struct mkt_grid g = {.retail_micro_per_kwh = 100, .feed_in_micro_per_kwh = 100};
    struct mkt_order o[] = {B(1, 10, 150, 1), S(2, 10, 50, 2)};
    struct mkt_auction_result r = clear_ok(o, 2, &g);
    assert_int_equal(r.volume_wh, 10);
    assert_int_equal(r.grid_buy_wh, 0);
    assert_int_equal(r.grid_sell_wh, 0);
    assert_int_equal(r.price_micro_per_kwh, 100);
    mkt_auction_result_deinit(&r);
}

static void test_auction_without_a_cross_quotes_the_spread_midpoint(void **state)
{
    (void)state;
    struct mkt_order o[] = {B(1, 10, 40, 1), S(2, 10, 61, 2)};
    struct mkt_auction_result r = clear_ok(o, 2, NULL);
    assert_int_equal(r.volume_wh, 0);
    assert_int_equal(r.price_lo_micro_per_kwh, 40);
    assert_int_equal(r.price_hi_micro_per_kwh, 61);
    assert_int_equal(r.price_micro_per_kwh, 50); /* floor(50.5) */
    mkt_auction_result_deinit(&r);
    r = clear_ok(NULL, 0, NULL);
    assert_int_equal(r.volume_wh, 0);
    assert_true(r.welfare == 0);
    mkt_auction_result_deinit(&r);
}

static void test_auction_welfare_beyond_int64_is_exact_and_printable(void **state)
{
    (void)state;
    enum { N = 4096 };
    struct mkt_order *o = calloc(2 * N, sizeof *o);
    assert_non_null(o);
    for (uint32_t i = 0; i < N; i++) {
        o[i] = (struct mkt_order)B(i, MKT_MAX_QTY_WH, MKT_MAX_PRICE, i);
        o[N + i] = (struct mkt_order)S(N + i, MKT_MAX_QTY_WH, 0, i);
    }
    struct mkt_auction_result r = clear_ok(o, 2 * N, NULL);
    char buf[MKT_I128_DEC_BYTES];
    assert_string_equal(mkt_i128_format(r.welfare, buf), "4096000000000000000000");
    assert_int_equal(r.volume_wh, (int64_t)N * MKT_MAX_QTY_WH);
    assert_int_equal(r.price_micro_per_kwh, MKT_MAX_PRICE / 2);
    mkt_auction_result_deinit(&r);
    free(o);
    assert_string_equal(mkt_i128_format(0, buf), "0");
    assert_string_equal(mkt_i128_format(-42, buf), "-42");
    __int128 most_negative = -(__int128)(((unsigned __int128)1 << 127) - 1) - 1;
    assert_string_equal(mkt_i128_format(most_negative, buf), "-170141183460469231731687303715884105728");
}

static void test_auction_rejects_bad_books_with_named_errors(void **state)
{
    (void)state;
    struct mkt_order o[] = {B(1, 10, 50, 1), S(2, 10, 30, 2)};
    struct mkt_book book = {o, 2, NULL};
    struct mkt_auction_result r;
#define EXPECT(field, value, err)                                                              \
    do {                                                                                       \
        struct mkt_order saved = o[0];                                                         \
        o[0].field = (value);                                                                  \
        assert_int_equal(mkt_auction_clear(&book, &r), (err));                                 \
        mkt_auction_result_deinit(&r);                                                         \
        o[0] = saved;                                                                          \
    } while (0)
    EXPECT(qty_wh, 0, MKT_ERR_BAD_QTY);
    EXPECT(qty_wh, -5, MKT_ERR_BAD_QTY);
    EXPECT(qty_wh, MKT_MAX_QTY_WH + 1, MKT_ERR_BAD_QTY);
    EXPECT(price_micro_per_kwh, -1, MKT_ERR_BAD_PRICE);
    EXPECT(price_micro_per_kwh, MKT_MAX_PRICE + 1, MKT_ERR_BAD_PRICE);
    EXPECT(side, 2, MKT_ERR_BAD_SIDE);
    EXPECT(id, 2, MKT_ERR_DUPLICATE_ORDER_ID);
#undef EXPECT
    struct mkt_grid g = {.retail_micro_per_kwh = 10, .feed_in_micro_per_kwh = 11};
    book.grid = &g;
    assert_int_equal(mkt_auction_clear(&book, &r), MKT_ERR_BAD_GRID);
    mkt_auction_result_deinit(&r);
    g = (struct mkt_grid){.retail_micro_per_kwh = MKT_MAX_PRICE + 1};
    assert_int_equal(mkt_auction_clear(&book, &r), MKT_ERR_BAD_GRID);
    mkt_auction_result_deinit(&r);
    book.grid = NULL;
    book.norders = (size_t)MKT_MAX_ORDERS + 1;
    assert_int_equal(mkt_auction_clear(&book, &r), MKT_ERR_BOOK_TOO_LARGE);
    mkt_auction_result_deinit(&r);
    assert_string_equal(mkt_err_name(MKT_ERR_BAD_QTY), "BAD_QTY");
    assert_true(strlen(mkt_strerror(MKT_ERR_BOOK_TOO_LARGE)) > 10);
    mkt_auction_result_deinit(NULL);
}

/* ---- naive references ---- */

#define INF INT64_MAX

/* Demand and supply correspondences with the grid unlimited. */
static int64_t d_at(const struct mkt_order *o, size_t n, const struct mkt_grid *g, int64_t p, int strict)
{
    if (g && (strict ? g->feed_in_micro_per_kwh > p : g->feed_in_micro_per_kwh >= p))
        return INF;
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        if (o[i].side == MKT_BUY &&
            (strict ? o[i].price_micro_per_kwh > p : o[i].price_micro_per_kwh >= p))
            s += o[i].qty_wh;
    return s;
}

static int64_t s_at(const struct mkt_order *o, size_t n, const struct mkt_grid *g, int64_t p, int strict)
{
    if (g && (strict ? g->retail_micro_per_kwh < p : g->retail_micro_per_kwh <= p))
        return INF;
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        if (o[i].side == MKT_SELL &&
            (strict ? o[i].price_micro_per_kwh < p : o[i].price_micro_per_kwh <= p))
            s += o[i].qty_wh;
    return s;
}

static int clears(const struct mkt_order *o, size_t n, const struct mkt_grid *g, int64_t v, int64_t p)
{
    return d_at(o, n, g, p, 1) <= v && v <= d_at(o, n, g, p, 0) && s_at(o, n, g, p, 1) <= v &&
           v <= s_at(o, n, g, p, 0);
}

/* Exhaustive search: every fill vector; the grid takes the imbalance. */
struct brute {
    __int128 welfare;
    int64_t volume;
    int feasible;
};

static void brute_rec(const struct mkt_order *o, size_t n, const struct mkt_grid *g, size_t k,
                      int64_t *x, struct brute *best)
{
    if (k == n) {
        int64_t xb = 0, xs = 0;
        __int128 w = 0;
        for (size_t i = 0; i < n; i++) {
            if (o[i].side == MKT_BUY) {
                xb += x[i];
                w += (__int128)o[i].price_micro_per_kwh * x[i];
            } else {
                xs += x[i];
                w -= (__int128)o[i].price_micro_per_kwh * x[i];
            }
        }
        int64_t vol = xb > xs ? xb : xs;
        if (xb != xs) {
            if (!g)
                return;
            if (xb > xs)
                w -= (__int128)g->retail_micro_per_kwh * (xb - xs);
            else
                w += (__int128)g->feed_in_micro_per_kwh * (xs - xb);
        }
        if (!best->feasible || w > best->welfare || (w == best->welfare && vol > best->volume)) {
            best->feasible = 1;
            best->welfare = w;
            best->volume = vol;
        }
        return;
    }
    for (int64_t q = 0; q <= o[k].qty_wh; q++) {
        x[k] = q;
        brute_rec(o, n, g, k + 1, x, best);
    }
}

/* Better in merit order on its side (naive: no sort, pairwise). */
static int naive_before(const struct mkt_order *a, const struct mkt_order *b)
{
    if (a->price_micro_per_kwh != b->price_micro_per_kwh)
        return a->side == MKT_BUY ? a->price_micro_per_kwh > b->price_micro_per_kwh
                                  : a->price_micro_per_kwh < b->price_micro_per_kwh;
    if (a->arrival != b->arrival)
        return a->arrival < b->arrival;
    return a->id < b->id;
}

/* Naive fills of one side for volume v: levels by price (orders first, grid
 * after at its own price), pro rata at the margin, remainders one by one. */
static int64_t naive_side(const struct mkt_order *o, size_t n, int side, int has_grid,
                          int64_t grid_price, int64_t v, int64_t *fill)
{
    int64_t left = v, grid_fill = 0;
    int grid_left = has_grid;
    for (size_t i = 0; i < n; i++)
        if (o[i].side == side)
            fill[i] = -1; /* not yet placed */
    for (;;) {
        if (left == 0)
            break;
        /* the best remaining price among unplaced orders */
        int found = 0;
        int64_t best = 0;
        for (size_t i = 0; i < n; i++)
            if (o[i].side == side && fill[i] < 0 &&
                (!found || (side == MKT_BUY ? o[i].price_micro_per_kwh > best
                                            : o[i].price_micro_per_kwh < best))) {
                best = o[i].price_micro_per_kwh;
                found = 1;
            }
        int grid_first = grid_left && (!found || (side == MKT_BUY ? grid_price > best : grid_price < best));
        if (grid_first) {
            grid_fill = left; /* unlimited */
            left = 0;
            grid_left = 0;
            break;
        }
        if (!found)
            break;
        int64_t level = 0;
        for (size_t i = 0; i < n; i++)
            if (o[i].side == side && fill[i] < 0 && o[i].price_micro_per_kwh == best)
                level += o[i].qty_wh;
        if (level <= left) {
            for (size_t i = 0; i < n; i++)
                if (o[i].side == side && fill[i] < 0 && o[i].price_micro_per_kwh == best)
                    fill[i] = o[i].qty_wh;
            left -= level;
            continue;
        }
        int64_t rem[64] = {0};
        int got[64] = {0};
        int64_t given = 0;
        for (size_t i = 0; i < n; i++)
            if (o[i].side == side && fill[i] < 0 && o[i].price_micro_per_kwh == best) {
                fill[i] = left * o[i].qty_wh / level;
                rem[i] = left * o[i].qty_wh % level;
                given += fill[i];
                got[i] = 1;
            }
        for (int64_t e = 0; e < left - given; e++) {
            int pick = -1;
            for (size_t i = 0; i < n; i++)
                if (got[i] == 1 && (pick < 0 || rem[i] > rem[pick] ||
                                    (rem[i] == rem[pick] && naive_before(&o[i], &o[pick]))))
                    pick = (int)i;
            fill[pick]++;
            got[pick] = 2;
        }
        left = 0;
    }
    for (size_t i = 0; i < n; i++)
        if (o[i].side == side && fill[i] < 0)
            fill[i] = 0;
    return grid_fill;
}

static size_t random_tiny_book(struct tu_rng *rng, struct mkt_order *o, struct mkt_grid *g, int *has_grid)
{
    size_t nb = tu_below(rng, 5), ns = tu_below(rng, 5), n = 0;
    for (size_t i = 0; i < nb + ns; i++) {
        o[n] = (struct mkt_order){.id = (uint32_t)(100 + i), .participant = (uint32_t)i,
                                  .side = i < nb ? MKT_BUY : MKT_SELL,
                                  .qty_wh = 1 + (int64_t)tu_below(rng, 3),
                                  .price_micro_per_kwh = (int64_t)tu_below(rng, 9),
                                  .arrival = tu_below(rng, 4)};
        n++;
    }
    *has_grid = (int)tu_below(rng, 2);
    g->feed_in_micro_per_kwh = (int64_t)tu_below(rng, 9);
    g->retail_micro_per_kwh = g->feed_in_micro_per_kwh + (int64_t)tu_below(rng, 9 - (uint64_t)g->feed_in_micro_per_kwh);
    return n;
}

static void test_auction_matches_brute_force_on_tiny_books(void **state)
{
    (void)state;
    struct tu_rng rng = {20240601};
    int books = tl_quick() ? 300 : 2000;
    for (int b = 0; b < books; b++) {
        struct mkt_order o[8];
        struct mkt_grid g;
        int has_grid;
        size_t n = random_tiny_book(&rng, o, &g, &has_grid);
        const struct mkt_grid *gp = has_grid ? &g : NULL;
        struct mkt_auction_result r = clear_ok(o, n, gp);
        struct brute best = {0};
        int64_t x[8];
        brute_rec(o, n, gp, 0, x, &best);
        assert_true(best.feasible);
        if (r.welfare != best.welfare || r.volume_wh != best.volume)
            fail_msg("book %d: welfare/volume differ from the exhaustive search (volume %lld vs %lld)",
                     b, (long long)r.volume_wh, (long long)best.volume);
        /* price interval: exactly the prices that clear the volume */
        int64_t lo = -1, hi = -1;
        int64_t cand[24];
        size_t nc = 0;
        cand[nc++] = 0;
        cand[nc++] = MKT_MAX_PRICE;
        for (size_t i = 0; i < n; i++)
            cand[nc++] = o[i].price_micro_per_kwh;
        if (gp) {
            cand[nc++] = g.feed_in_micro_per_kwh;
            cand[nc++] = g.retail_micro_per_kwh;
        }
        for (size_t c = 0; c < nc; c++)
            if (clears(o, n, gp, r.volume_wh, cand[c])) {
                if (lo < 0 || cand[c] < lo)
                    lo = cand[c];
                if (hi < 0 || cand[c] > hi)
                    hi = cand[c];
            }
        assert_true(lo >= 0);
        assert_int_equal(r.price_lo_micro_per_kwh, lo);
        assert_int_equal(r.price_hi_micro_per_kwh, hi);
        assert_int_equal(r.price_micro_per_kwh, (lo + hi) / 2);
        /* fills: the naive pro-rata reading at the reported volume, the grid
         * after the orders at its price (after netting, each side's fills
         * at the final volume are exactly this) */
        int64_t fill[8];
        int64_t gb = naive_side(o, n, MKT_BUY, gp != NULL, g.feed_in_micro_per_kwh, r.volume_wh, fill);
        int64_t gs = naive_side(o, n, MKT_SELL, gp != NULL, g.retail_micro_per_kwh, r.volume_wh, fill);
        for (size_t i = 0; i < n; i++)
            if (fill[i] != r.fill_wh[i])
                fail_msg("book %d order %zu: fill %lld, naive %lld", b, i, (long long)r.fill_wh[i],
                         (long long)fill[i]);
        assert_int_equal(r.grid_buy_wh, gb);
        assert_int_equal(r.grid_sell_wh, gs);
        mkt_auction_result_deinit(&r);
    }
}

/* ---- GLPK ---- */

static size_t random_book(struct tu_rng *rng, struct mkt_order *o, size_t nb, size_t ns, int64_t pmax,
                          int64_t qmax)
{
    for (size_t i = 0; i < nb + ns; i++)
        o[i] = (struct mkt_order){.id = (uint32_t)(7 * i + 3), .participant = (uint32_t)i,
                                  .side = i < nb ? MKT_BUY : MKT_SELL,
                                  .qty_wh = 1 + (int64_t)tu_below(rng, (uint64_t)qmax),
                                  .price_micro_per_kwh = (int64_t)tu_below(rng, (uint64_t)pmax + 1),
                                  .arrival = tu_below(rng, 1000)};
    return nb + ns;
}

static void test_auction_welfare_equals_glpk_optimum_on_random_books(void **state)
{
    (void)state;
    struct tu_rng rng = {77};
    int books = tl_quick() ? 40 : 200;
    char *dir = tu_tmpdir("mkt-lp");
    struct mkt_order *o = calloc(400, sizeof *o);
    assert_non_null(o);
    for (int b = 0; b < books; b++) {
        size_t nb = b % 10 == 0 ? 200 : 1 + tu_below(&rng, 200);
        size_t ns = b % 10 == 0 ? 200 : 1 + tu_below(&rng, 200);
        /* price and quantity ranges keep the optimum below 10^15, where
         * glpsol's 15 printed digits are exact; narrow price ranges make ties */
        int64_t pmax = b % 3 == 0 ? 20 : 1000000;
        size_t n = random_book(&rng, o, nb, ns, pmax, 1000000);
        struct mkt_grid g = {.feed_in_micro_per_kwh = (int64_t)tu_below(&rng, (uint64_t)pmax / 2 + 1)};
        g.retail_micro_per_kwh = g.feed_in_micro_per_kwh + (int64_t)tu_below(&rng, (uint64_t)pmax / 2 + 1);
        const struct mkt_grid *gp = b % 2 ? &g : NULL;
        struct mkt_auction_result r = clear_ok(o, n, gp);

        struct tl_lp lp = {0};
        tl_lp_printf(&lp, "Maximize\n obj:");
        for (size_t i = 0; i < n; i++)
            tl_lp_printf(&lp, " %c %lld x%zu", o[i].side == MKT_BUY ? '+' : '-',
                         (long long)o[i].price_micro_per_kwh, i);
        if (gp)
            tl_lp_printf(&lp, " + %lld gb - %lld gs", (long long)g.feed_in_micro_per_kwh,
                         (long long)g.retail_micro_per_kwh);
        tl_lp_printf(&lp, "\nSubject To\n bal:");
        for (size_t i = 0; i < n; i++)
            tl_lp_printf(&lp, " %c x%zu", o[i].side == MKT_BUY ? '+' : '-', i);
        if (gp)
            tl_lp_printf(&lp, " + gb - gs");
        tl_lp_printf(&lp, " = 0\nBounds\n");
        for (size_t i = 0; i < n; i++)
            tl_lp_printf(&lp, " 0 <= x%zu <= %lld\n", i, (long long)o[i].qty_wh);
        tl_lp_printf(&lp, "End\n");
        int ok;
        double opt = tl_glpsol(dir, lp.s, &ok);
        free(lp.s);
        if (!ok)
            fail_msg("glpsol failed on book %d (is glpk-utils installed? scripts/deps.sh)", b);
        if ((double)tl_i128_to_i64(r.welfare) != opt)
            fail_msg("book %d (%zu x %zu): welfare %lld, LP optimum %.0f", b, nb, ns,
                     (long long)tl_i128_to_i64(r.welfare), opt);
        mkt_auction_result_deinit(&r);
    }
    free(o);
    tu_rmdir(dir);
    free(dir);
}

/* ---- determinism ---- */

static void serialise(const struct mkt_auction_result *r, struct tl_buf *t)
{
    tl_put_i64(t, r->price_micro_per_kwh);
    tl_put_i64(t, r->price_lo_micro_per_kwh);
    tl_put_i64(t, r->price_hi_micro_per_kwh);
    tl_put_i64(t, r->volume_wh);
    tl_put_i128(t, r->welfare);
    tl_put_i64(t, r->grid_buy_wh);
    tl_put_i64(t, r->grid_sell_wh);
    tl_put_i64(t, (int64_t)r->norders);
    for (size_t i = 0; i < r->norders; i++)
        tl_put_i64(t, r->fill_wh[i]);
}

static int64_t fill_of(const struct mkt_order *o, const struct mkt_auction_result *r, uint32_t id)
{
    for (size_t i = 0; i < r->norders; i++)
        if (o[i].id == id)
            return r->fill_wh[i];
    return -1;
}

static void test_auction_is_byte_identical_twice_and_independent_of_book_order(void **state)
{
    (void)state;
    struct tu_rng rng = {5};
    enum { N = 3000 };
    struct mkt_order *o = calloc(N, sizeof *o), *p = calloc(N, sizeof *p);
    assert_non_null(o);
    assert_non_null(p);
    size_t n = random_book(&rng, o, N / 2, N / 2, 50, 1000); /* many ties */
    struct mkt_grid g = {.retail_micro_per_kwh = 40, .feed_in_micro_per_kwh = 10};
    struct mkt_auction_result r1 = clear_ok(o, n, &g), r2 = clear_ok(o, n, &g);
    struct tl_buf a = {0}, b = {0};
    serialise(&r1, &a);
    serialise(&r2, &b);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.b, b.b, a.n);
    memcpy(p, o, n * sizeof *o);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = tu_below(&rng, i + 1);
        struct mkt_order t = p[i];
        p[i] = p[j];
        p[j] = t;
    }
    struct mkt_auction_result r3 = clear_ok(p, n, &g);
    assert_int_equal(r3.price_micro_per_kwh, r1.price_micro_per_kwh);
    assert_int_equal(r3.volume_wh, r1.volume_wh);
    assert_true(r3.welfare == r1.welfare);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fill_of(p, &r3, o[i].id), r1.fill_wh[i]);
    mkt_auction_result_deinit(&r1);
    mkt_auction_result_deinit(&r2);
    mkt_auction_result_deinit(&r3);
    free(a.b);
    free(b.b);
    free(o);
    free(p);
}

static void test_auction_money_rounds_buyers_up_and_sellers_down(void **state)
{
    (void)state;
    /* 1 Wh at 1500 micro/kWh is 1.5 micro: the buyer pays 2, the seller gets
     * 1, the micro-unit between goes to the rounding pool. */
    assert_int_equal(mkt_pay_buyer_micro(1500, 0, 1), 2);
    assert_int_equal(mkt_pay_seller_micro(1500, 0, 1), 1);
    assert_int_equal(mkt_pay_buyer_micro(1500, 0, 2), 3);
    assert_int_equal(mkt_pay_seller_micro(1500, 0, 2), 3);
    /* an odd fee: the buyer carries the larger half */
    assert_int_equal(mkt_pay_buyer_micro(100, 3, 1000), 102);
    assert_int_equal(mkt_pay_seller_micro(100, 3, 1000), 99);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auction_curves_meeting_on_a_vertical_segment_price_is_the_midpoint),
        cmocka_unit_test(test_auction_curves_overlapping_on_a_horizontal_segment_take_the_largest_volume),
        cmocka_unit_test(test_auction_excess_demand_at_the_margin_sets_the_price_to_the_bid),
        cmocka_unit_test(test_auction_marginal_tie_is_pro_rata_with_largest_remainder),
        cmocka_unit_test(test_auction_equal_remainders_go_by_arrival),
        cmocka_unit_test(test_auction_grid_backstop_bounds_the_price_to_feed_in_and_retail),
        cmocka_unit_test(test_auction_grid_is_served_after_orders_at_its_price),
        cmocka_unit_test(test_auction_grid_never_trades_with_itself),
        cmocka_unit_test(test_auction_without_a_cross_quotes_the_spread_midpoint),
        cmocka_unit_test(test_auction_welfare_beyond_int64_is_exact_and_printable),
        cmocka_unit_test(test_auction_rejects_bad_books_with_named_errors),
        cmocka_unit_test(test_auction_money_rounds_buyers_up_and_sellers_down),
        cmocka_unit_test(test_auction_matches_brute_force_on_tiny_books),
        cmocka_unit_test(test_auction_welfare_equals_glpk_optimum_on_random_books),
        cmocka_unit_test(test_auction_is_byte_identical_twice_and_independent_of_book_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
