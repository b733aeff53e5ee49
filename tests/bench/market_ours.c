/* market_ours.c -- the C side of bench_lemon: our P2P clearing on a
 * market_instances.h instance, for a C++ caller that cannot include
 * mkt_clear.h.  The book is built exactly as bench_market.c builds it. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "market_instances.h"
#include "mkt_clear.h"

uint64_t mi_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int mi_ours_p2p(const struct mi_instance *in, int dense, int runs, uint64_t *best_ns,
                int64_t *welfare)
{
    struct mkt_order *o = calloc(in->norders ? in->norders : 1, sizeof *o);
    if (!o)
        return -1;
    for (size_t i = 0; i < in->norders; i++)
        o[i] = (struct mkt_order){.id = (uint32_t)i, .participant = (uint32_t)i,
                                  .side = in->orders[i].sell ? MKT_SELL : MKT_BUY,
                                  .bus = in->orders[i].bus, .qty_wh = in->orders[i].qty_wh,
                                  .price_micro_per_kwh = in->orders[i].price_micro_per_kwh,
                                  .arrival = i};
    struct mkt_fees f = {.model = MKT_FEE_DISTANCE, .rate_micro_per_kwh = MI_FEE_RATE_MICRO_PER_KWH,
                         .nbus = in->nbus, .matrix = in->matrix};
    struct mkt_grid g = {.retail_micro_per_kwh = MI_RETAIL_MICRO_PER_KWH,
                         .feed_in_micro_per_kwh = MI_FEED_IN_MICRO_PER_KWH};
    struct mkt_book b = {o, in->norders, &g};
    struct mkt_p2p_result r = {0};
    int rc = 0;
    *best_ns = UINT64_MAX;
    for (int k = 0; k < runs && rc == 0; k++) {
        mkt_p2p_result_deinit(&r);
        uint64_t t0 = mi_cpu_ns();
        rc = mkt_p2p_clear(&b, &f, dense ? MKT_P2P_DENSE : MKT_P2P_BUS, &r);
        uint64_t t1 = mi_cpu_ns();
        if (t1 - t0 < *best_ns)
            *best_ns = t1 - t0;
    }
    if (rc) {
        fprintf(stderr, "mkt_p2p_clear: %s\n", mkt_err_name(rc));
    } else if (r.welfare > INT64_MAX || r.welfare < INT64_MIN) {
        fprintf(stderr, "mkt_p2p_clear: welfare does not fit in 64 bits\n");
        rc = -1;
    } else {
        *welfare = (int64_t)r.welfare;
    }
    mkt_p2p_result_deinit(&r);
    free(o);
    return rc ? -1 : 0;
}

int mi_ours_auction(const struct mi_instance *in, uint64_t *ns, int64_t *welfare)
{
    struct mkt_order *o = calloc(in->norders ? in->norders : 1, sizeof *o);
    if (!o)
        return -1;
    for (size_t i = 0; i < in->norders; i++)
        o[i] = (struct mkt_order){.id = (uint32_t)i, .participant = (uint32_t)i,
                                  .side = in->orders[i].sell ? MKT_SELL : MKT_BUY,
                                  .bus = 0, .qty_wh = in->orders[i].qty_wh,
                                  .price_micro_per_kwh = in->orders[i].price_micro_per_kwh,
                                  .arrival = i};
    struct mkt_grid g = {.retail_micro_per_kwh = MI_RETAIL_MICRO_PER_KWH,
                         .feed_in_micro_per_kwh = MI_FEED_IN_MICRO_PER_KWH};
    struct mkt_book b = {o, in->norders, &g};
    struct mkt_auction_result r = {0};
    uint64_t t0 = mi_cpu_ns();
    int rc = mkt_auction_clear(&b, &r);
    *ns = mi_cpu_ns() - t0;
    if (rc) {
        fprintf(stderr, "mkt_auction_clear: %s\n", mkt_err_name(rc));
    } else if (r.welfare > INT64_MAX || r.welfare < INT64_MIN) {
        fprintf(stderr, "mkt_auction_clear: welfare does not fit in 64 bits\n");
        rc = -1;
    } else {
        *welfare = (int64_t)r.welfare;
    }
    mkt_auction_result_deinit(&r);
    free(o);
    return rc ? -1 : 0;
}
