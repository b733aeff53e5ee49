/* market_instances.h -- issue 4's market benchmark instances (uniform
 * auction and P2P), generated from a seed, shared by bench_market.c (C) and
 * bench_lemon.cpp (C++) so that both
 * solve exactly the same book: seller and buyer limits, quantities and buses
 * from splitmix64, a random electrical-distance matrix, the grid as backstop.
 * Header only, plain C that also compiles as C++. */
#ifndef GL_MARKET_INSTANCES_H
#define GL_MARKET_INSTANCES_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MI_RETAIL_MICRO_PER_KWH  INT64_C(280000)
#define MI_FEED_IN_MICRO_PER_KWH INT64_C(80000)
#define MI_FEE_RATE_MICRO_PER_KWH INT64_C(2000)

/* One order: even indices buy, odd indices sell; arrival = index, id = index,
 * participant = index. */
struct mi_order {
    uint8_t sell;
    uint32_t bus;
    int64_t qty_wh;
    int64_t price_micro_per_kwh;
};

struct mi_instance {
    size_t norders;
    uint32_t nbus;
    struct mi_order *orders; /* norders, malloc'd */
    uint32_t *matrix;        /* nbus * nbus distances, [buyer bus][seller bus], malloc'd */
};

/* splitmix64, the same sequence as tests/testutil.h's tu_rng. */
static inline uint64_t mi_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t mi_below(uint64_t *s, uint64_t n)
{
    return n ? mi_next(s) % n : 0;
}

/* The book of n orders on nbus buses from seed; the distance matrix from
 * seed 3 (0 on the diagonal, 1..10 elsewhere).  Aborts on out of memory. */
static inline struct mi_instance mi_make(size_t n, uint32_t nbus, uint64_t seed)
{
    struct mi_instance in;
    in.norders = n;
    in.nbus = nbus;
    in.orders = (struct mi_order *)calloc(n ? n : 1, sizeof *in.orders);
    in.matrix = (uint32_t *)malloc((size_t)nbus * nbus * sizeof *in.matrix);
    if (!in.orders || !in.matrix)
        abort();
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        in.orders[i].sell = (uint8_t)(i % 2);
        in.orders[i].bus = (uint32_t)mi_below(&s, nbus);
        in.orders[i].qty_wh = 100 + (int64_t)mi_below(&s, 5000);
        in.orders[i].price_micro_per_kwh = 50000 + (int64_t)mi_below(&s, 250000);
    }
    uint64_t t = 3;
    for (uint32_t x = 0; x < nbus; x++)
        for (uint32_t y = 0; y < nbus; y++)
            in.matrix[(size_t)x * nbus + y] = x == y ? 0 : 1 + (uint32_t)mi_below(&t, 10);
    return in;
}

static inline void mi_free(struct mi_instance *in)
{
    free(in->orders);
    free(in->matrix);
    in->orders = NULL;
    in->matrix = NULL;
}

/* Our clearing (mkt_p2p_clear with the grid at bus 0, the distance fee
 * model at MI_FEE_RATE_MICRO_PER_KWH) on in, in the bus form or the dense
 * one, best wall time of runs in *best_ns and the welfare in nano-units in
 * *welfare.  Returns 0, or prints the error and returns -1.  Defined in
 * market_ours.c, which only bench_lemon links: C++ cannot include
 * mkt_clear.h (it uses C99 array parameters). */
int mi_ours_p2p(const struct mi_instance *in, int dense, int runs, uint64_t *best_ns /* OUT */,
                int64_t *welfare /* OUT */);

/* Our uniform-price auction (mkt_auction_clear, the grid as backstop; buses
 * ignored) on in: one run's wall time in *ns, the welfare (nano-units, grid
 * included) in *welfare.  Returns 0, or prints the error and returns -1. */
int mi_ours_auction(const struct mi_instance *in, uint64_t *ns /* OUT */,
                    int64_t *welfare /* OUT */);

/* The calling thread's CPU time in nanoseconds (CLOCK_THREAD_CPUTIME_ID):
 * what both sides of bench_lemon are timed with. */
uint64_t mi_cpu_ns(void);

#ifdef __cplusplus
}
#endif

#endif
