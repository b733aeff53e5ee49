/* mkt_auction.c -- the uniform-price double auction (pay-as-clear, merit
 * order) with the grid as unlimited backstop.
 *
 * The rules are those of market/README.md, "Uniform-price auction":
 *   1. Merit order: buys by price descending, sells ascending, ties by time
 *      priority (arrival, then id).  The grid sits after every order at its own
 *      price: it is a backstop, served last.
 *   2. Volume: the largest V such that the V-th Wh bought is priced at least as
 *      high as the V-th Wh sold -- the largest volume among the allocations that
 *      maximise welfare.
 *   3. Price interval: the prices p at which V lies between the strict and the
 *      weak demand and between the strict and the weak supply, the grid's
 *      being unlimited, within [0, MKT_MAX_PRICE]; the price is the floor of
 *      its midpoint.  With the grid it lies in [feed-in, retail].
 *   4. Fills: orders strictly better than the marginal price fill in full, the
 *      orders at the marginal price share the rest pro rata, largest remainder
 *      in Wh, ties by time priority; the grid takes only what they leave.
 *   5. The grid never trades with itself (retail == feed-in): both grid fills
 *      are netted.
 * The whole runs in O(n log n) for the sort and O(n) after it. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "mkt_internal.h"

#define GRID_IDX UINT32_MAX

struct ent {
    int64_t price;
    int64_t qty;
    uint32_t idx; /* order index, or GRID_IDX */
};

struct sort_ctx {
    const struct mkt_order *o;
    int desc; /* buys: price descending */
};

static int cmp_merit(const void *vctx, uint32_t a, uint32_t b)
{
    const struct sort_ctx *c = vctx;
    int64_t pa = c->o[a].price_micro_per_kwh, pb = c->o[b].price_micro_per_kwh;
    if (pa != pb)
        return (pa < pb) == !c->desc ? -1 : 1;
    return mkt_cmp_time(c->o, a, b);
}

/* Build one side's merit order into e (room for its orders + 1); returns the
 * count.  The grid entry, if any, goes after the last order at a price no
 * worse than its own. */
static size_t side_build(const struct mkt_order *o, const uint32_t *sorted, size_t nsorted,
                         int desc, int has_grid, int64_t grid_price, int64_t grid_qty,
                         struct ent *e)
{
    size_t k = 0;
    int grid_done = !has_grid || grid_qty == 0;
    for (size_t i = 0; i < nsorted; i++) {
        int64_t p = o[sorted[i]].price_micro_per_kwh;
        int worse = desc ? p < grid_price : p > grid_price;
        if (!grid_done && worse) {
            e[k++] = (struct ent){grid_price, grid_qty, GRID_IDX};
            grid_done = 1;
        }
        e[k++] = (struct ent){p, o[sorted[i]].qty_wh, sorted[i]};
    }
    if (!grid_done)
        e[k++] = (struct ent){grid_price, grid_qty, GRID_IDX};
    return k;
}

struct rem_ctx {
    const __int128 *rem;
};

static int cmp_rem(const void *vctx, uint32_t a, uint32_t b)
{
    const struct rem_ctx *c = vctx;
    if (c->rem[a] != c->rem[b])
        return c->rem[a] > c->rem[b] ? -1 : 1;
    return a < b ? -1 : a > b; /* positions within a level are in time priority */
}

/* Fill one side with volume v along its merit order e[0..n).  Levels are runs
 * of orders with one price; the grid is a level of its own.  fill_out[k] gets
 * the fill of e[k].  tmp/rem/perm have room for n.  */
static void side_fill(const struct ent *e, size_t n, int64_t v, int64_t *fill_out,
                      __int128 *rem, uint32_t *perm, uint32_t *tmp)
{
    int64_t left = v;
    size_t k = 0;
    memset(fill_out, 0, n * sizeof *fill_out);
    while (k < n && left > 0) {
        size_t end = k + 1;
        if (e[k].idx != GRID_IDX)
            while (end < n && e[end].idx != GRID_IDX && e[end].price == e[k].price)
                end++;
        int64_t level = 0;
        for (size_t j = k; j < end; j++)
            level += e[j].qty; /* <= 2^20 * 10^9 + grid: no overflow */
        if (level <= left) {
            for (size_t j = k; j < end; j++)
                fill_out[j] = e[j].qty;
            left -= level;
            k = end;
            continue;
        }
        /* Pro rata: base = floor(left * q / level), then one more Wh to the
         * largest remainders, ties by time priority. */
        size_t m = end - k;
        int64_t given = 0;
        for (size_t j = 0; j < m; j++) {
            __int128 num = (__int128)left * e[k + j].qty;
            int64_t base = (int64_t)(num / level);
            rem[j] = num % level;
            fill_out[k + j] = base;
            given += base;
            perm[j] = (uint32_t)j;
        }
        int64_t extra = left - given;
        assert(extra >= 0 && (size_t)extra < m);
        struct rem_ctx rc = {rem};
        mkt_sort_idx(perm, tmp, m, cmp_rem, &rc);
        for (int64_t j = 0; j < extra; j++) {
            assert(rem[perm[j]] > 0);
            fill_out[k + perm[j]]++;
            assert(fill_out[k + perm[j]] <= e[k + perm[j]].qty);
        }
        left = 0;
    }
    assert(left == 0);
}

void mkt_auction_result_deinit(struct mkt_auction_result *r)
{
    if (!r)
        return;
    free(r->fill_wh);
    memset(r, 0, sizeof *r);
}

int mkt_auction_clear(const struct mkt_book *book, struct mkt_auction_result *out)
{
    assert(book && out);
    memset(out, 0, sizeof *out);
    int rc = MKT_ERR_NOMEM;
    size_t n = book->norders;
    if (n > MKT_MAX_ORDERS)
        return MKT_ERR_BOOK_TOO_LARGE;
    const struct mkt_order *o = book->orders;
    const struct mkt_grid *g = book->grid;
    uint32_t *idx = malloc((n + 2) * sizeof *idx);
    uint32_t *tmp = malloc((n + 2) * sizeof *tmp);
    struct ent *be = malloc((n + 1) * sizeof *be);
    struct ent *se = malloc((n + 1) * sizeof *se);
    int64_t *bf = malloc((n + 1) * sizeof *bf);
    int64_t *sf = malloc((n + 1) * sizeof *sf);
    __int128 *rem = malloc((n + 1) * sizeof *rem);
    out->fill_wh = calloc(n ? n : 1, sizeof *out->fill_wh);
    if (!idx || !tmp || !be || !se || !bf || !sf || !rem || !out->fill_wh)
        goto fail;
    out->norders = n;
    rc = mkt_book_check(book, idx, tmp);
    if (rc)
        goto fail;

    /* 1. merit order */
    size_t nb = 0, ns = 0;
    int64_t buy_total = 0, sell_total = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (o[i].side == MKT_BUY) {
            idx[nb++] = i;
            buy_total += o[i].qty_wh;
        } else {
            sell_total += o[i].qty_wh;
        }
    }
    for (uint32_t i = 0, k = 0; i < n; i++)
        if (o[i].side == MKT_SELL)
            idx[nb + k++] = i;
    ns = n - nb;
    struct sort_ctx cb = {o, 1}, cs = {o, 0};
    mkt_sort_idx(idx, tmp, nb, cmp_merit, &cb);
    mkt_sort_idx(idx + nb, tmp, ns, cmp_merit, &cs);
    /* The grid's "unlimited" is the other side's total: it can never be
     * binding, and keeps every sum finite. */
    size_t nbe = side_build(o, idx, nb, 1, g != NULL, g ? g->feed_in_micro_per_kwh : 0,
                            sell_total, be);
    size_t nse = side_build(o, idx + nb, ns, 0, g != NULL, g ? g->retail_micro_per_kwh : 0,
                            buy_total, se);

    /* 2. volume: walk both curves a segment at a time while bid >= ask */
    size_t i = 0, j = 0;
    int64_t remb = nbe ? be[0].qty : 0, rems = nse ? se[0].qty : 0;
    int64_t v = 0, d_last = 0, s_last = 0;
    while (i < nbe && j < nse && be[i].price >= se[j].price) {
        int64_t t = mkt_min64(remb, rems);
        v += t;
        d_last = be[i].price;
        s_last = se[j].price;
        remb -= t;
        rems -= t;
        if (remb == 0 && ++i < nbe)
            remb = be[i].qty;
        if (rems == 0 && ++j < nse)
            rems = se[j].qty;
    }

    /* 3. price interval: V within [D_>(p), D_>=(p)] and [S_<(p), S_<=(p)].
     * D_>=(p) >= V  <=>  p <= price of the V-th bought Wh   (d_last)
     * D_>(p)  <= V  <=>  p >= price of the (V+1)-th bid Wh  (be[i])
     * S_<=(p) >= V  <=>  p >= price of the V-th sold Wh     (s_last)
     * S_<(p)  <= V  <=>  p <= price of the (V+1)-th ask Wh  (se[j]) */
    int64_t lo = 0, hi = MKT_MAX_PRICE;
    if (v > 0) {
        lo = s_last;
        hi = d_last;
    }
    if (i < nbe && be[i].price > lo)
        lo = be[i].price;
    if (j < nse && se[j].price < hi)
        hi = se[j].price;
    if (g && g->feed_in_micro_per_kwh > lo) /* the grid buys without limit */
        lo = g->feed_in_micro_per_kwh;
    if (g && g->retail_micro_per_kwh < hi) /* and sells without limit */
        hi = g->retail_micro_per_kwh;
    assert(lo <= hi);
    out->price_lo_micro_per_kwh = lo;
    out->price_hi_micro_per_kwh = hi;
    out->price_micro_per_kwh = lo + (hi - lo) / 2; /* floor of the midpoint, no overflow */

    /* 4. fills */
    side_fill(be, nbe, v, bf, rem, idx, tmp);
    side_fill(se, nse, v, sf, rem, idx, tmp);
    int64_t gb = 0, gs = 0;
    __int128 w = 0;
    for (size_t k = 0; k < nbe; k++) {
        w += (__int128)be[k].price * bf[k];
        if (be[k].idx == GRID_IDX)
            gb = bf[k];
        else
            out->fill_wh[be[k].idx] = bf[k];
    }
    for (size_t k = 0; k < nse; k++) {
        w -= (__int128)se[k].price * sf[k];
        if (se[k].idx == GRID_IDX)
            gs = sf[k];
        else
            out->fill_wh[se[k].idx] = sf[k];
    }
    /* 5. the grid never trades with itself: possible only at
     * retail == feed_in == price, where netting changes no welfare. */
    if (gb > 0 && gs > 0) {
        assert(g && g->retail_micro_per_kwh == g->feed_in_micro_per_kwh);
        int64_t m = mkt_min64(gb, gs);
        gb -= m;
        gs -= m;
        v -= m;
    }
    assert(w >= 0);
    out->volume_wh = v;
    out->welfare = w;
    out->grid_buy_wh = gb;
    out->grid_sell_wh = gs;
    rc = MKT_OK;
fail:
    free(idx);
    free(tmp);
    free(be);
    free(se);
    free(bf);
    free(sf);
    free(rem);
    return rc;
}
