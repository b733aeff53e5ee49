/* mkt_internal.h -- what the files of the clearing core share; not an API. */
#ifndef MKT_INTERNAL_H
#define MKT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mkt_clear.h"

/* A three-way comparison of two indices under ctx: < 0 when a sorts first. */
typedef int (*mkt_cmp_fn)(const void *ctx, uint32_t a, uint32_t b);

/* Stable merge sort of n indices; tmp has room for n.  Deterministic: no
 * libc qsort, whose order among equal keys is unspecified. */
void mkt_sort_idx(uint32_t *a, uint32_t *tmp, size_t n, mkt_cmp_fn cmp, const void *ctx);

/* Time priority of two orders: arrival, then id, then index. */
int mkt_cmp_time(const struct mkt_order *o, uint32_t a, uint32_t b);

/* Check what both mechanisms require of a book: sizes, quantities, prices,
 * sides, preference sets, the grid tariff and unique ids.  tmp has room for
 * norders indices.  Errors: BOOK_TOO_LARGE, BAD_QTY, BAD_PRICE, BAD_SIDE,
 * BAD_PREFS, BAD_GRID, DUPLICATE_ORDER_ID. */
int mkt_book_check(const struct mkt_book *book, uint32_t *tmp, uint32_t *tmp2) MKT_MUST_USE;

static inline int64_t mkt_min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

#endif
