/* mkt_p2p.c -- P2P matching with grid fees (the Energy Collective's design)
 * as an exact integer min-cost flow.
 *
 * The problem is a transportation problem: choose q[b][s] >= 0 Wh for every
 * admissible pair of a buy b and a sell s, at most each order's quantity in
 * total, maximising
 *     sum q * (p_b - p_s - fee(bus_b, bus_s) + premium(b, s)).
 * Its constraint matrix is totally unimodular, so the integer optimum is the
 * LP optimum; we find it as a minimum-cost circulation (mkt_flow.c) in one of
 * two networks (market/README.md, "P2P matching"):
 *   bus form   source -> out(bus_s) -> in(bus_b) -> sink, an arc per seller
 *              and per buyer and (K+1)^2 bus arcs on 2K + 4 nodes; exact
 *              when the fee depends only on the buses
 *              and no order has partner preferences;
 *   dense form source -> seller -> buyer -> sink, one arc per admissible pair
 *              (money surplus >= 0, preferences allow it, weight > 0).
 * The sink returns to the source at cost 0, so the flow need not be maximal.
 * Sellers and buyers enter the network in time priority (arrival, then id)
 * and the grid after them, so the result does not depend on the order of
 * the book's array.  The bus form's flow is split into pair trades by the
 * north-west-corner rule in time priority, bus by bus (see README). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "mkt_flow.h"
#include "mkt_internal.h"

#define MKT_P2P_MAX_PAIRS (1u << 25)

/* One side's participant in the network: an order or the grid. */
struct party {
    uint32_t idx;          /* order index, MKT_GRID_BUY or MKT_GRID_SELL */
    uint32_t participant;
    uint32_t bus;
    uint8_t renewable;
    int64_t price;
    int64_t cap;
    const struct mkt_prefs *prefs;
    uint32_t *set_allowed, *set_excluded; /* sorted copies, or NULL */
};

struct seg {
    uint32_t arc;   /* bus-arc id a * (K + 1) + b */
    uint32_t party; /* seller or buyer position */
    int64_t qty;
};

int64_t mkt_fee_micro_per_kwh(const struct mkt_fees *fees, uint32_t bus_buy, uint32_t bus_sell)
{
    assert(fees && bus_buy < fees->nbus && bus_sell < fees->nbus);
    if (fees->model == MKT_FEE_UNIFORM)
        return fees->rate_micro_per_kwh;
    return fees->rate_micro_per_kwh * (int64_t)fees->matrix[(size_t)bus_buy * fees->nbus + bus_sell];
}

static int fees_check(const struct mkt_fees *f)
{
    if (!f)
        return MKT_ERR_BAD_FEES;
    if (f->nbus == 0)
        return MKT_ERR_BAD_FEES;
    if (f->nbus > MKT_MAX_BUS)
        return MKT_ERR_BOOK_TOO_LARGE;
    if (f->model > MKT_FEE_DISTANCE || f->rate_micro_per_kwh < 0 ||
        f->rate_micro_per_kwh > MKT_MAX_PRICE)
        return MKT_ERR_BAD_FEES;
    if (f->model == MKT_FEE_UNIFORM)
        return MKT_OK;
    if (!f->matrix)
        return MKT_ERR_BAD_FEES;
    for (size_t k = 0; k < (size_t)f->nbus * f->nbus; k++) {
        if (f->matrix[k] > MKT_MAX_FEE_FACTOR ||
            (__int128)f->matrix[k] * f->rate_micro_per_kwh > MKT_MAX_PRICE)
            return MKT_ERR_BAD_FEES;
    }
    return MKT_OK;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int set_has(const uint32_t *s, uint32_t n, uint32_t v)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s[mid] == v)
            return 1;
        if (s[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Sorted copy of a participant set (qsort is fine: equal keys are equal). */
static uint32_t *set_copy(const uint32_t *s, uint32_t n)
{
    uint32_t *c = malloc((n ? n : 1) * sizeof *c);
    if (c && n) {
        memcpy(c, s, n * sizeof *c);
        qsort(c, n, sizeof *c, cmp_u32);
    }
    return c;
}

/* Does p accept q as a counterparty? */
static int accepts(const struct party *p, const struct party *q)
{
    if (!p->prefs)
        return 1;
    if (p->set_allowed && !set_has(p->set_allowed, p->prefs->nallowed, q->participant))
        return 0;
    if (p->set_excluded && set_has(p->set_excluded, p->prefs->nexcluded, q->participant))
        return 0;
    return 1;
}

/* The buyer's premium for this seller, micro-units per kWh. */
static int64_t premium(const struct party *b, const struct party *s)
{
    if (!b->prefs)
        return 0;
    int64_t p = 0;
    if (s->renewable)
        p += b->prefs->premium_renewable_micro_per_kwh;
    if (s->bus == b->bus)
        p += b->prefs->premium_local_micro_per_kwh;
    return p;
}

static int cmp_time_ctx(const void *ctx, uint32_t a, uint32_t b)
{
    return mkt_cmp_time(ctx, a, b);
}

void mkt_p2p_result_deinit(struct mkt_p2p_result *r)
{
    if (!r)
        return;
    free(r->fill_wh);
    free(r->trades);
    memset(r, 0, sizeof *r);
}

/* Fill in the money of a trade and add it to the totals. */
static void trade_finish(struct mkt_p2p_result *out, struct mkt_trade *t, const struct party *b,
                         const struct party *s, int64_t fee)
{
    int64_t surplus = b->price - s->price - fee;
    assert(surplus >= 0); /* an optimal flow carries no loss-making pair */
    t->price_micro_per_kwh = s->price + (b->price - s->price) / 2; /* floor of the midpoint */
    t->fee_micro_per_kwh = fee;
    t->buyer_pays_micro = mkt_pay_buyer_micro(t->price_micro_per_kwh, fee, t->qty_wh);
    t->seller_receives_micro = mkt_pay_seller_micro(t->price_micro_per_kwh, fee, t->qty_wh);
    t->fee_micro = (int64_t)((__int128)fee * t->qty_wh / 1000);
    t->fee_rounding_micro = t->buyer_pays_micro - t->seller_receives_micro - t->fee_micro;
    assert(t->fee_rounding_micro >= 0 && t->fee_rounding_micro <= 2);
    out->welfare += (__int128)surplus * t->qty_wh;
    out->objective += (__int128)(surplus + premium(b, s)) * t->qty_wh;
    out->volume_wh += t->qty_wh;
    out->fee_total_micro += t->fee_micro;
    out->fee_rounding_total_micro += t->fee_rounding_micro;
}

struct trade_sort_ctx {
    const struct mkt_trade *t;
    const uint32_t *brank, *srank; /* rank by order index; grid ranks last */
    uint32_t nidx;
};

static uint32_t rank_of(const uint32_t *rank, uint32_t nidx, uint32_t idx)
{
    return idx < nidx ? rank[idx] : UINT32_MAX;
}

static int cmp_trade(const void *vctx, uint32_t a, uint32_t b)
{
    const struct trade_sort_ctx *c = vctx;
    uint32_t ba = rank_of(c->brank, c->nidx, c->t[a].buy), bb = rank_of(c->brank, c->nidx, c->t[b].buy);
    if (ba != bb)
        return ba < bb ? -1 : 1;
    uint32_t sa = rank_of(c->srank, c->nidx, c->t[a].sell), sb = rank_of(c->srank, c->nidx, c->t[b].sell);
    return sa < sb ? -1 : sa > sb;
}

/* North-west corner: split the amounts of parties (in order) over the arcs (in
 * order) of one bus; append (arc, party, qty) segments.  Both lists sum to
 * the same total. */
static size_t nw_corner(const uint32_t *pos, size_t npos, const int64_t *pamt,
                        const uint32_t *arcid, const int64_t *aamt, size_t narc, struct seg *out)
{
    size_t i = 0, k = 0, nout = 0;
    int64_t ri = npos ? pamt[pos[0]] : 0, rk = narc ? aamt[0] : 0;
    while (i < npos && k < narc) {
        if (ri == 0) {
            if (++i < npos)
                ri = pamt[pos[i]];
            continue;
        }
        if (rk == 0) {
            if (++k < narc)
                rk = aamt[k];
            continue;
        }
        int64_t t = mkt_min64(ri, rk);
        out[nout++] = (struct seg){arcid[k], pos[i], t};
        ri -= t;
        rk -= t;
    }
    return nout;
}

int mkt_p2p_clear(const struct mkt_book *book, const struct mkt_fees *fees, uint8_t form,
                  struct mkt_p2p_result *out)
{
    assert(book && out);
    memset(out, 0, sizeof *out);
    int rc = MKT_ERR_NOMEM;
    size_t n = book->norders;
    if (n > MKT_MAX_ORDERS)
        return MKT_ERR_BOOK_TOO_LARGE;
    const struct mkt_order *o = book->orders;
    const struct mkt_grid *g = book->grid;
    struct party *buy = NULL, *sell = NULL;
    struct mkt_arc *arcs = NULL;
    int64_t *flow = NULL;
    struct seg *sseg = NULL, *bseg = NULL, *bseg2 = NULL;
    uint32_t *idx = malloc((n + 2) * sizeof *idx);
    uint32_t *tmp = malloc((n + 2) * sizeof *tmp);
    uint32_t *brank = malloc((n + 1) * sizeof *brank);
    uint32_t *srank = malloc((n + 1) * sizeof *srank);
    size_t nb = 0, ns = 0;
    out->fill_wh = calloc(n ? n : 1, sizeof *out->fill_wh);
    buy = calloc(n + 1, sizeof *buy);
    sell = calloc(n + 1, sizeof *sell);
    if (!idx || !tmp || !brank || !srank || !out->fill_wh || !buy || !sell)
        goto fail;
    out->norders = n;
    rc = mkt_book_check(book, idx, tmp);
    if (rc)
        goto fail;
    rc = fees_check(fees);
    if (rc)
        goto fail;
    if (form > MKT_P2P_DENSE) {
        rc = MKT_ERR_BAD_FORM;
        goto fail;
    }
    int any_prefs = 0;
    for (size_t i = 0; i < n; i++) {
        if (o[i].bus >= fees->nbus) {
            rc = MKT_ERR_BAD_BUS;
            goto fail;
        }
        any_prefs |= o[i].prefs != NULL;
    }
    if (g && g->bus >= fees->nbus) {
        rc = MKT_ERR_BAD_BUS;
        goto fail;
    }
    if (form == MKT_P2P_BUS && any_prefs) {
        rc = MKT_ERR_PREFS_NEED_DENSE;
        goto fail;
    }
    if (form == MKT_P2P_AUTO)
        form = any_prefs ? MKT_P2P_DENSE : MKT_P2P_BUS;
    out->form = form;

    /* Parties in time priority; the grid last on each side, with the other
     * side's total as its never-binding "unlimited" quantity. */
    for (uint32_t i = 0; i < n; i++)
        idx[i] = i;
    mkt_sort_idx(idx, tmp, n, cmp_time_ctx, o);
    int64_t buy_total = 0, sell_total = 0;
    rc = MKT_ERR_NOMEM;
    for (size_t k = 0; k < n; k++) {
        uint32_t i = idx[k];
        int is_buy = o[i].side == MKT_BUY;
        struct party *p = is_buy ? &buy[nb] : &sell[ns];
        *p = (struct party){i, o[i].participant, o[i].bus, (o[i].flags & MKT_ORDER_RENEWABLE) != 0,
                            o[i].price_micro_per_kwh, o[i].qty_wh, o[i].prefs, NULL, NULL};
        if (p->prefs && p->prefs->allowed && !(p->set_allowed = set_copy(p->prefs->allowed, p->prefs->nallowed)))
            goto fail;
        if (p->prefs && p->prefs->nexcluded &&
            !(p->set_excluded = set_copy(p->prefs->excluded, p->prefs->nexcluded)))
            goto fail;
        if (is_buy) {
            brank[i] = (uint32_t)nb++;
            buy_total += o[i].qty_wh;
        } else {
            srank[i] = (uint32_t)ns++;
            sell_total += o[i].qty_wh;
        }
    }
    size_t nbreal = nb, nsreal = ns;
    if (g && sell_total > 0)
        buy[nb++] = (struct party){MKT_GRID_BUY, MKT_GRID_PARTICIPANT, g->bus, 0,
                                   g->feed_in_micro_per_kwh, sell_total, NULL, NULL, NULL};
    if (g && buy_total > 0)
        sell[ns++] = (struct party){MKT_GRID_SELL, MKT_GRID_PARTICIPANT, g->bus, 0,
                                    g->retail_micro_per_kwh, buy_total, NULL, NULL, NULL};
    int64_t big = buy_total + sell_total + 1; /* exceeds any flow */

    /* Nodes: 0 source, 1 sink, then the dense form's sellers and buyers, or
     * the bus form's bus nodes.  A seller is an arc from the source into
     * the network, a buyer an arc out of it to the sink; in the bus form
     * that arc goes straight to (from) the order's bus node: a seller node
     * between two arcs of the same capacity would add nothing but a node
     * per order, and the node count is what cost scaling pays for. */
    uint32_t K = fees->nbus;
    uint32_t src = 0, snk = 1, s0 = 2, b0 = (uint32_t)(2 + ns), x0 = 2;
    size_t narcs = 1 + ns + nb;
    if (form == MKT_P2P_BUS) {
        narcs += ((size_t)K + 1) * (K + 1);
    } else {
        size_t npairs = 0;
        for (size_t j = 0; j < ns; j++)
            for (size_t i = 0; i < nb; i++) {
                int64_t s = buy[i].price - sell[j].price -
                            mkt_fee_micro_per_kwh(fees, buy[i].bus, sell[j].bus);
                if (s >= 0 && s + premium(&buy[i], &sell[j]) > 0 && accepts(&buy[i], &sell[j]) &&
                    accepts(&sell[j], &buy[i]))
                    npairs++;
            }
        if (npairs > MKT_P2P_MAX_PAIRS) {
            rc = MKT_ERR_BOOK_TOO_LARGE;
            goto fail;
        }
        narcs += npairs;
    }
    arcs = malloc(narcs * sizeof *arcs);
    flow = malloc(narcs * sizeof *flow);
    if (!arcs || !flow)
        goto fail;
    size_t m = 0;
    int bus_form = form == MKT_P2P_BUS;
    /* Bus nodes: out(a) = x0 + a, in(b) = x0 + K + 1 + b, for a, b in 0..K
     * where index K is the grid's private out/in node: the grid reaches
     * buyers and sellers through its bus's fees but never itself. */
    for (uint32_t j = 0; j < ns; j++) {
        uint32_t a = sell[j].idx == MKT_GRID_SELL ? K : sell[j].bus;
        arcs[m++] = bus_form ? (struct mkt_arc){src, x0 + a, sell[j].cap, sell[j].price}
                             : (struct mkt_arc){src, s0 + j, sell[j].cap, 0};
    }
    for (uint32_t i = 0; i < nb; i++) {
        uint32_t b = buy[i].idx == MKT_GRID_BUY ? K : buy[i].bus;
        arcs[m++] = bus_form ? (struct mkt_arc){x0 + K + 1 + b, snk, buy[i].cap, -buy[i].price}
                             : (struct mkt_arc){b0 + i, snk, buy[i].cap, 0};
    }
    arcs[m++] = (struct mkt_arc){snk, src, big, 0};
    size_t pair0 = m;
    if (bus_form) {
        for (uint32_t a = 0; a <= K; a++)
            for (uint32_t b = 0; b <= K; b++) {
                uint32_t ba = a == K ? (g ? g->bus : 0) : a, bb = b == K ? (g ? g->bus : 0) : b;
                int64_t cap = (a == K && b == K) ? 0 : big;
                arcs[m++] = (struct mkt_arc){x0 + a, x0 + K + 1 + b, cap,
                                             mkt_fee_micro_per_kwh(fees, bb, ba)};
            }
    } else {
        for (uint32_t j = 0; j < ns; j++)
            for (uint32_t i = 0; i < nb; i++) {
                int64_t s = buy[i].price - sell[j].price -
                            mkt_fee_micro_per_kwh(fees, buy[i].bus, sell[j].bus);
                int64_t wgt = s + premium(&buy[i], &sell[j]);
                if (s >= 0 && wgt > 0 && accepts(&buy[i], &sell[j]) && accepts(&sell[j], &buy[i]))
                    arcs[m++] = (struct mkt_arc){s0 + j, b0 + i, mkt_min64(buy[i].cap, sell[j].cap),
                                                 -wgt};
            }
    }
    assert(m == narcs);
    uint32_t nnodes = bus_form ? x0 + 2 * (K + 1) : (uint32_t)(2 + ns + nb);
    /* Cost scaling on the bus form (network simplex stalls on its
     * degenerate pivots), network simplex on the dense one (measured in
     * bench_lemon: several times faster there). */
    rc = bus_form ? mkt_flow_circulation(nnodes, arcs, (uint32_t)m, flow)
                  : mkt_flow_circulation_simplex(nnodes, arcs, (uint32_t)m, 0, flow);
    if (rc)
        goto fail;
    __int128 cost = 0;
    for (size_t k = 0; k < m; k++)
        cost += (__int128)arcs[k].cost * flow[k];

    /* Fills. */
    for (uint32_t j = 0; j < ns; j++) {
        if (j < nsreal)
            out->fill_wh[sell[j].idx] = flow[j];
        else
            out->grid_sell_wh = flow[j];
    }
    for (uint32_t i = 0; i < nb; i++) {
        if (i < nbreal)
            out->fill_wh[buy[i].idx] = flow[ns + i];
        else
            out->grid_buy_wh = flow[ns + i];
    }

    /* Trades. */
    size_t cap_trades = bus_form ? ns + nb + ((size_t)K + 1) * (K + 1) : m - pair0;
    out->trades = malloc((cap_trades ? cap_trades : 1) * sizeof *out->trades);
    if (!out->trades) {
        rc = MKT_ERR_NOMEM;
        goto fail;
    }
    size_t nt = 0;
    if (!bus_form) {
        for (size_t k = pair0; k < m; k++) {
            if (!flow[k])
                continue;
            uint32_t j = arcs[k].tail - s0, i = arcs[k].head - b0;
            struct mkt_trade *t = &out->trades[nt++];
            *t = (struct mkt_trade){.buy = buy[i].idx, .sell = sell[j].idx, .qty_wh = flow[k]};
            trade_finish(out, t, &buy[i], &sell[j],
                         mkt_fee_micro_per_kwh(fees, buy[i].bus, sell[j].bus));
        }
        assert(out->objective == -cost);
    } else {
        /* Split the bus-to-bus flows into pair trades: sellers over the arcs
         * leaving their bus, buyers over the arcs entering theirs, then
         * each arc's two lists against each other, all north-west corner in
         * time priority. */
        size_t K1 = (size_t)K + 1;
        sseg = malloc((ns + K1 * K1) * sizeof *sseg);
        bseg = malloc((nb + K1 * K1) * sizeof *bseg);
        bseg2 = malloc((nb + K1 * K1) * sizeof *bseg2);
        uint32_t *pos = malloc((ns > nb ? ns : nb) * sizeof *pos + 1);
        uint32_t *arcid = malloc(K1 * sizeof *arcid);
        int64_t *aamt = malloc(K1 * sizeof *aamt);
        int64_t *samt = malloc((ns + 1) * sizeof *samt), *bamt = malloc((nb + 1) * sizeof *bamt);
        uint32_t *cnt = calloc(K1 * K1 + 1, sizeof *cnt);
        int ok = sseg && bseg && bseg2 && pos && arcid && aamt && samt && bamt && cnt;
        size_t nss = 0, nbs = 0;
        if (ok) {
            for (uint32_t j = 0; j < ns; j++)
                samt[j] = flow[j];
            for (uint32_t i = 0; i < nb; i++)
                bamt[i] = flow[ns + i];
            for (size_t a = 0; a < K1; a++) {
                size_t np = 0, na = 0;
                for (uint32_t j = 0; j < ns; j++)
                    if ((sell[j].idx == MKT_GRID_SELL ? K : sell[j].bus) == a && samt[j])
                        pos[np++] = j;
                for (size_t b = 0; b < K1; b++)
                    if (flow[pair0 + a * K1 + b]) {
                        arcid[na] = (uint32_t)(a * K1 + b);
                        aamt[na++] = flow[pair0 + a * K1 + b];
                    }
                nss += nw_corner(pos, np, samt, arcid, aamt, na, sseg + nss);
            }
            for (size_t b = 0; b < K1; b++) {
                size_t np = 0, na = 0;
                for (uint32_t i = 0; i < nb; i++)
                    if ((buy[i].idx == MKT_GRID_BUY ? K : buy[i].bus) == b && bamt[i])
                        pos[np++] = i;
                for (size_t a = 0; a < K1; a++)
                    if (flow[pair0 + a * K1 + b]) {
                        arcid[na] = (uint32_t)(a * K1 + b);
                        aamt[na++] = flow[pair0 + a * K1 + b];
                    }
                nbs += nw_corner(pos, np, bamt, arcid, aamt, na, bseg + nbs);
            }
            /* Stable counting sort of the buyer segments by arc. */
            for (size_t k = 0; k < nbs; k++)
                cnt[bseg[k].arc + 1]++;
            for (size_t k = 0; k < K1 * K1; k++)
                cnt[k + 1] += cnt[k];
            for (size_t k = 0; k < nbs; k++)
                bseg2[cnt[bseg[k].arc]++] = bseg[k];
            /* Merge per arc: sseg is already ordered by arc. */
            size_t p = 0, q = 0;
            while (p < nss && q < nbs) {
                assert(sseg[p].arc == bseg2[q].arc);
                int64_t t = mkt_min64(sseg[p].qty, bseg2[q].qty);
                uint32_t j = sseg[p].party, i = bseg2[q].party;
                struct mkt_trade *tr = &out->trades[nt++];
                assert(nt <= cap_trades);
                *tr = (struct mkt_trade){.buy = buy[i].idx, .sell = sell[j].idx, .qty_wh = t};
                trade_finish(out, tr, &buy[i], &sell[j],
                             mkt_fee_micro_per_kwh(fees, buy[i].bus, sell[j].bus));
                sseg[p].qty -= t;
                bseg2[q].qty -= t;
                p += sseg[p].qty == 0;
                q += bseg2[q].qty == 0;
            }
            assert(p == nss && q == nbs);
            assert(out->welfare == -cost);
        }
        free(pos);
        free(arcid);
        free(aamt);
        free(samt);
        free(bamt);
        free(cnt);
        if (!ok) {
            rc = MKT_ERR_NOMEM;
            goto fail;
        }
    }
    /* Canonical trade order: buyer, then seller, in time priority. */
    {
        uint32_t *perm = malloc((nt ? nt : 1) * sizeof *perm);
        uint32_t *ptmp = malloc((nt ? nt : 1) * sizeof *ptmp);
        struct mkt_trade *sorted = malloc((nt ? nt : 1) * sizeof *sorted);
        if (!perm || !ptmp || !sorted) {
            free(perm);
            free(ptmp);
            free(sorted);
            rc = MKT_ERR_NOMEM;
            goto fail;
        }
        for (uint32_t k = 0; k < nt; k++)
            perm[k] = k;
        struct trade_sort_ctx tc = {out->trades, brank, srank, (uint32_t)n};
        mkt_sort_idx(perm, ptmp, nt, cmp_trade, &tc);
        for (size_t k = 0; k < nt; k++)
            sorted[k] = out->trades[perm[k]];
        free(out->trades);
        out->trades = sorted;
        out->ntrades = nt;
        free(perm);
        free(ptmp);
    }
    rc = MKT_OK;
fail:
    for (size_t k = 0; buy && k < n + 1; k++) {
        free(buy[k].set_allowed);
        free(buy[k].set_excluded);
    }
    for (size_t k = 0; sell && k < n + 1; k++) {
        free(sell[k].set_allowed);
        free(sell[k].set_excluded);
    }
    free(buy);
    free(sell);
    free(arcs);
    free(flow);
    free(sseg);
    free(bseg);
    free(bseg2);
    free(idx);
    free(tmp);
    free(brank);
    free(srank);
    return rc;
}
