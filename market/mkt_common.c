/* mkt_common.c -- book validation, the deterministic sort, money rounding and
 * the 128-bit decimal formatter shared by the auction and P2P matching. */
#include <assert.h>
#include <string.h>

#include "mkt_internal.h"

void mkt_sort_idx(uint32_t *a, uint32_t *tmp, size_t n, mkt_cmp_fn cmp, const void *ctx)
{
    /* Bottom-up merge sort: O(n log n), stable, no recursion. */
    uint32_t *src = a, *dst = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n;
            size_t hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = cmp(ctx, src[j], src[i]) < 0 ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
}

int mkt_cmp_time(const struct mkt_order *o, uint32_t a, uint32_t b)
{
    if (o[a].arrival != o[b].arrival)
        return o[a].arrival < o[b].arrival ? -1 : 1;
    if (o[a].id != o[b].id)
        return o[a].id < o[b].id ? -1 : 1;
    return a < b ? -1 : a > b;
}

static int cmp_id(const void *ctx, uint32_t a, uint32_t b)
{
    const struct mkt_order *o = ctx;
    return o[a].id < o[b].id ? -1 : o[a].id > o[b].id;
}

static int prefs_check(const struct mkt_order *o)
{
    const struct mkt_prefs *p = o->prefs;
    if (!p)
        return MKT_OK;
    if (p->nallowed > MKT_MAX_PREF_SET || p->nexcluded > MKT_MAX_PREF_SET)
        return MKT_ERR_BAD_PREFS;
    if ((p->nallowed && !p->allowed) || (p->nexcluded && !p->excluded))
        return MKT_ERR_BAD_PREFS;
    if (p->premium_renewable_micro_per_kwh < 0 || p->premium_renewable_micro_per_kwh > MKT_MAX_PRICE ||
        p->premium_local_micro_per_kwh < 0 || p->premium_local_micro_per_kwh > MKT_MAX_PRICE)
        return MKT_ERR_BAD_PREFS;
    if (o->side == MKT_SELL &&
        (p->premium_renewable_micro_per_kwh != 0 || p->premium_local_micro_per_kwh != 0))
        return MKT_ERR_BAD_PREFS; /* premiums are a buyer's */
    return MKT_OK;
}

int mkt_book_check(const struct mkt_book *book, uint32_t *tmp, uint32_t *tmp2)
{
    assert(book);
    if (book->norders > MKT_MAX_ORDERS)
        return MKT_ERR_BOOK_TOO_LARGE;
    assert(book->norders == 0 || book->orders);
    const struct mkt_order *o = book->orders;
    uint32_t n = (uint32_t)book->norders;
    for (uint32_t i = 0; i < n; i++) {
        if (o[i].side != MKT_BUY && o[i].side != MKT_SELL)
            return MKT_ERR_BAD_SIDE;
        if (o[i].qty_wh < 1 || o[i].qty_wh > MKT_MAX_QTY_WH)
            return MKT_ERR_BAD_QTY;
        if (o[i].price_micro_per_kwh < 0 || o[i].price_micro_per_kwh > MKT_MAX_PRICE)
            return MKT_ERR_BAD_PRICE;
        int rc = prefs_check(&o[i]);
        if (rc)
            return rc;
    }
    const struct mkt_grid *g = book->grid;
    if (g && (g->feed_in_micro_per_kwh < 0 || g->retail_micro_per_kwh > MKT_MAX_PRICE ||
              g->retail_micro_per_kwh < g->feed_in_micro_per_kwh))
        return MKT_ERR_BAD_GRID;
    for (uint32_t i = 0; i < n; i++)
        tmp[i] = i;
    mkt_sort_idx(tmp, tmp2, n, cmp_id, o);
    for (uint32_t i = 1; i < n; i++)
        if (o[tmp[i - 1]].id == o[tmp[i]].id)
            return MKT_ERR_DUPLICATE_ORDER_ID;
    return MKT_OK;
}

int64_t mkt_pay_buyer_micro(int64_t price_micro_per_kwh, int64_t fee_micro_per_kwh, int64_t qty_wh)
{
    assert(price_micro_per_kwh >= 0 && fee_micro_per_kwh >= 0 && qty_wh >= 0);
    /* Buyer's per-kWh rate: the pair price plus the larger half of the fee. */
    __int128 per_kwh = (__int128)price_micro_per_kwh + (fee_micro_per_kwh + 1) / 2;
    __int128 nano = per_kwh * qty_wh;
    __int128 micro = (nano + 999) / 1000; /* ceil: nano >= 0 */
    assert(micro <= INT64_MAX);
    return (int64_t)micro;
}

int64_t mkt_pay_seller_micro(int64_t price_micro_per_kwh, int64_t fee_micro_per_kwh, int64_t qty_wh)
{
    assert(price_micro_per_kwh >= 0 && fee_micro_per_kwh >= 0 && qty_wh >= 0);
    __int128 per_kwh = (__int128)price_micro_per_kwh - fee_micro_per_kwh / 2;
    assert(per_kwh >= 0); /* the pair rule guarantees price >= seller limit + fee/2 */
    __int128 micro = per_kwh * qty_wh / 1000; /* floor: non-negative */
    assert(micro <= INT64_MAX);
    return (int64_t)micro;
}

char *mkt_i128_format(__int128 v, char buf[static MKT_I128_DEC_BYTES])
{
    char rev[MKT_I128_DEC_BYTES];
    size_t n = 0;
    int neg = v < 0;
    /* Work on the negative value: its range includes the most negative. */
    __int128 x = neg ? v : -v;
    do {
        int d = (int)(x % 10); /* in -9..0 */
        rev[n++] = (char)('0' - d);
        x /= 10;
    } while (x != 0);
    size_t k = 0;
    if (neg)
        buf[k++] = '-';
    while (n)
        buf[k++] = rev[--n];
    buf[k] = '\0';
    return buf;
}
