/* bench_market.c -- the clearing core on issue 4's benchmark instances:
 * uniform auction of 10k and 100k orders, P2P with bus fees (10k orders on 55
 * buses), dense P2P 1000 x 1000.  Prints the best of several runs beside the
 * issue's target and, as the same-run reference, libc qsort of the same
 * book's prices (the auction's floor).  The same instances beside LEMON's
 * min-cost flow solvers, with the ratio: bench_lemon.cpp (make bench runs
 * both). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkt_clear.h"
#include "testutil.h"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static struct mkt_order *book(size_t n, uint32_t nbus, uint64_t seed)
{
    struct tu_rng r = {seed};
    struct mkt_order *o = calloc(n, sizeof *o);
    if (!o)
        abort();
    for (size_t i = 0; i < n; i++)
        o[i] = (struct mkt_order){.id = (uint32_t)i, .participant = (uint32_t)i,
                                  .side = i % 2 ? MKT_SELL : MKT_BUY,
                                  .bus = (uint32_t)tu_below(&r, nbus),
                                  .qty_wh = 100 + (int64_t)tu_below(&r, 5000),
                                  .price_micro_per_kwh = 50000 + (int64_t)tu_below(&r, 250000),
                                  .arrival = i};
    return o;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void bench_auction(size_t n, double target_ms)
{
    struct mkt_order *o = book(n, 1, 1);
    struct mkt_grid g = {.retail_micro_per_kwh = 280000, .feed_in_micro_per_kwh = 80000};
    struct mkt_book b = {o, n, &g};
    int64_t *prices = malloc(n * sizeof *prices);
    uint64_t best = UINT64_MAX, ref = UINT64_MAX;
    char w[MKT_I128_DEC_BYTES];
    struct mkt_auction_result r = {0};
    for (int k = 0; k < 7; k++) {
        mkt_auction_result_deinit(&r);
        uint64_t t0 = tu_now_ns();
        if (mkt_auction_clear(&b, &r))
            abort();
        uint64_t t1 = tu_now_ns();
        for (size_t i = 0; i < n; i++)
            prices[i] = o[i].price_micro_per_kwh;
        uint64_t t2 = tu_now_ns();
        qsort(prices, n, sizeof *prices, cmp_i64);
        uint64_t t3 = tu_now_ns();
        best = t1 - t0 < best ? t1 - t0 : best;
        ref = t3 - t2 < ref ? t3 - t2 : ref;
    }
    printf("uniform %6zu orders: %8.3f ms (target < %.0f ms; qsort of the prices %.3f ms, ratio %.1f)"
           "  volume %lld Wh, price %lld, welfare %s\n",
           n, ms(best), target_ms, ms(ref), (double)best / (double)ref, (long long)r.volume_wh,
           (long long)r.price_micro_per_kwh, mkt_i128_format(r.welfare, w));
    mkt_auction_result_deinit(&r);
    free(prices);
    free(o);
}

static void bench_p2p(size_t n, uint32_t nbus, uint8_t form, double target_ms, const char *label)
{
    struct mkt_order *o = book(n, nbus, 2);
    uint32_t *m = malloc((size_t)nbus * nbus * sizeof *m);
    struct tu_rng r = {3};
    for (uint32_t x = 0; x < nbus; x++)
        for (uint32_t y = 0; y < nbus; y++)
            m[x * nbus + y] = x == y ? 0 : 1 + (uint32_t)tu_below(&r, 10);
    struct mkt_fees f = {.model = MKT_FEE_DISTANCE, .rate_micro_per_kwh = 2000, .nbus = nbus, .matrix = m};
    struct mkt_grid g = {.retail_micro_per_kwh = 280000, .feed_in_micro_per_kwh = 80000};
    struct mkt_book b = {o, n, &g};
    uint64_t best = UINT64_MAX;
    struct mkt_p2p_result res = {0};
    char w[MKT_I128_DEC_BYTES];
    for (int k = 0; k < 3; k++) {
        mkt_p2p_result_deinit(&res);
        uint64_t t0 = tu_now_ns();
        int rc = mkt_p2p_clear(&b, &f, form, &res);
        uint64_t t1 = tu_now_ns();
        if (rc) {
            fprintf(stderr, "mkt_p2p_clear: %s\n", mkt_err_name(rc));
            exit(1);
        }
        best = t1 - t0 < best ? t1 - t0 : best;
    }
    printf("%-28s %8.3f ms (target < %.0f ms)  volume %lld Wh, %zu trades, welfare %s\n", label,
           ms(best), target_ms, (long long)res.volume_wh, res.ntrades, mkt_i128_format(res.welfare, w));
    mkt_p2p_result_deinit(&res);
    free(m);
    free(o);
}

int main(void)
{
    bench_auction(10000, 2);
    bench_auction(100000, 20);
    bench_p2p(10000, 55, MKT_P2P_BUS, 25, "p2p bus form, 10k on 55 buses");
    bench_p2p(2000, 8, MKT_P2P_DENSE, 250, "p2p dense, 1000 x 1000");
    return 0;
}
