/* mkt_flow.c -- minimum-cost circulation by cost scaling (Goldberg and
 * Tarjan, "Finding minimum-cost circulations by successive approximation",
 * Math. of OR 15(3), 1990), the push-relabel "refine" with FIFO selection.
 *
 * Why cost scaling: DESIGN.md (Market) makes it the default solver; its bound
 * O(n^2 m log(nC)) holds on the aggregated bus instances where network simplex
 * stalls on degenerate pivots.  Exactness: costs are multiplied by n + 1, and
 * refinement stops at epsilon = 1, i.e. 1/(n+1) in the original units; an
 * epsilon-optimal circulation with epsilon < 1/n is optimal for integer costs
 * (GT90, Theorem 3.4).  Everything is integer.
 *
 * Overflow: during one refine a node's price falls by at most 3 n eps (GT90,
 * Lemma 5.8 with the 2n-1 bound rounded up), so over all phases prices stay
 * within 3 n * eps0 * alpha / (alpha - 1) <= 4 n (n+1) C, and a reduced cost
 * within (n+1) C + 8 n (n+1) C.  mkt_flow_circulation refuses instances where
 * 10 (n+1)^2 C exceeds INT64_MAX; asserts check the bound as it runs. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "mkt_flow.h"

#define ALPHA 8 /* measured: 8 beats 5, 16 and 32 on the bus-form bench; 5 is slightly better dense */

struct net {
    uint32_t n;
    uint32_t *first; /* n + 1 */
    uint32_t *head;  /* 2m */
    uint32_t *rev;   /* 2m */
    int64_t *cap;    /* 2m residual capacities */
    int64_t *cost;   /* 2m scaled costs */
    int64_t *pot;    /* n prices */
    int64_t *excess; /* n */
    uint32_t *cur;   /* n current arcs */
    uint32_t *queue; /* n, circular */
    uint8_t *inq;    /* n */
};

static void refine(struct net *g, int64_t eps)
{
    uint32_t n = g->n;
    uint32_t qh = 0, qn = 0;
    /* Saturate every residual arc with negative reduced cost: the
     * circulation becomes a 0-optimal pseudo-flow. */
    for (uint32_t v = 0; v < n; v++) {
        for (uint32_t a = g->first[v]; a < g->first[v + 1]; a++) {
            if (g->cap[a] > 0 && g->cost[a] + g->pot[v] - g->pot[g->head[a]] < 0) {
                int64_t d = g->cap[a];
                g->cap[a] = 0;
                g->cap[g->rev[a]] += d;
                g->excess[v] -= d;
                g->excess[g->head[a]] += d;
            }
        }
    }
    for (uint32_t v = 0; v < n; v++) {
        g->cur[v] = g->first[v];
        g->inq[v] = g->excess[v] > 0;
        if (g->inq[v])
            g->queue[(qh + qn++) % n] = v;
    }
    while (qn) {
        uint32_t v = g->queue[qh];
        qh = (qh + 1) % n;
        qn--;
        g->inq[v] = 0;
        int64_t pv = g->pot[v];
        while (g->excess[v] > 0) {
            uint32_t a = g->cur[v], end = g->first[v + 1];
            for (; a < end; a++) {
                if (g->cap[a] <= 0)
                    continue;
                uint32_t w = g->head[a];
                if (g->cost[a] + pv - g->pot[w] >= 0)
                    continue;
                int64_t d = g->excess[v] < g->cap[a] ? g->excess[v] : g->cap[a];
                g->cap[a] -= d;
                g->cap[g->rev[a]] += d;
                g->excess[v] -= d;
                g->excess[w] += d;
                if (g->excess[w] > 0 && !g->inq[w]) {
                    g->inq[w] = 1;
                    g->queue[(qh + qn++) % n] = w;
                }
                if (g->excess[v] == 0)
                    break;
            }
            if (g->excess[v] == 0) {
                g->cur[v] = a;
                break;
            }
            /* Relabel: lower the price just enough that the cheapest
             * residual arc becomes admissible with reduced cost -eps. */
            int64_t best = INT64_MAX;
            for (uint32_t b = g->first[v]; b < end; b++) {
                if (g->cap[b] <= 0)
                    continue;
                int64_t rc = g->cost[b] + pv - g->pot[g->head[b]];
                if (rc < best)
                    best = rc;
            }
            assert(best != INT64_MAX && best >= 0); /* a node with excess has a residual arc */
            int64_t np;
            int ovf = __builtin_sub_overflow(pv, best, &np) || __builtin_sub_overflow(np, eps, &np);
            assert(!ovf); /* excluded by the bound checked in mkt_flow_circulation */
            (void)ovf;
            pv = g->pot[v] = np;
            g->cur[v] = g->first[v];
        }
    }
}

int mkt_flow_circulation(uint32_t nnodes, const struct mkt_arc *arcs, uint32_t narcs, int64_t *flow)
{
    int rc = MKT_ERR_NOMEM;
    struct net g = {.n = nnodes};
    uint32_t *fwd = NULL;
    assert(nnodes > 0 && (narcs == 0 || (arcs && flow)));
    if (narcs > UINT32_MAX / 2 - 1)
        return MKT_ERR_BOOK_TOO_LARGE;
    int64_t cmax = 0;
    for (uint32_t k = 0; k < narcs; k++) {
        assert(arcs[k].tail < nnodes && arcs[k].head < nnodes && arcs[k].cap >= 0);
        assert(arcs[k].cost >= -MKT_FLOW_MAX_COST && arcs[k].cost <= MKT_FLOW_MAX_COST);
        int64_t c = arcs[k].cost < 0 ? -arcs[k].cost : arcs[k].cost;
        if (c > cmax)
            cmax = c;
    }
    __int128 scale = (__int128)nnodes + 1;
    if (10 * scale * scale * cmax > INT64_MAX)
        return MKT_ERR_BOOK_TOO_LARGE;
    size_t m2 = 2 * (size_t)narcs;
    g.first = calloc((size_t)nnodes + 1, sizeof *g.first);
    g.head = malloc((m2 ? m2 : 1) * sizeof *g.head);
    g.rev = malloc((m2 ? m2 : 1) * sizeof *g.rev);
    g.cap = malloc((m2 ? m2 : 1) * sizeof *g.cap);
    g.cost = malloc((m2 ? m2 : 1) * sizeof *g.cost);
    g.pot = calloc(nnodes, sizeof *g.pot);
    g.excess = calloc(nnodes, sizeof *g.excess);
    g.cur = malloc(nnodes * sizeof *g.cur);
    g.queue = malloc(nnodes * sizeof *g.queue);
    g.inq = calloc(nnodes, 1);
    fwd = malloc((narcs ? narcs : 1) * sizeof *fwd);
    if (!g.first || !g.head || !g.rev || !g.cap || !g.cost || !g.pot || !g.excess || !g.cur ||
        !g.queue || !g.inq || !fwd)
        goto fail;

    /* Forward star, arcs of a node in input order: deterministic. */
    for (uint32_t k = 0; k < narcs; k++) {
        g.first[arcs[k].tail + 1]++;
        g.first[arcs[k].head + 1]++;
    }
    for (uint32_t v = 0; v < nnodes; v++)
        g.first[v + 1] += g.first[v];
    memcpy(g.cur, g.first, nnodes * sizeof *g.cur);
    for (uint32_t k = 0; k < narcs; k++) {
        uint32_t a = g.cur[arcs[k].tail]++, b = g.cur[arcs[k].head]++;
        int64_t c = (int64_t)(arcs[k].cost * scale);
        g.head[a] = arcs[k].head;
        g.head[b] = arcs[k].tail;
        g.rev[a] = b;
        g.rev[b] = a;
        g.cap[a] = arcs[k].cap;
        g.cap[b] = 0;
        g.cost[a] = c;
        g.cost[b] = -c;
        fwd[k] = a;
    }
    /* The zero circulation with zero prices is (C (n+1))-optimal. */
    int64_t eps = (int64_t)(cmax * scale);
    while (eps > 1) {
        eps = eps / ALPHA > 1 ? eps / ALPHA : 1;
        refine(&g, eps);
    }
    for (uint32_t k = 0; k < narcs; k++) {
        flow[k] = g.cap[g.rev[fwd[k]]];
        assert(flow[k] >= 0 && flow[k] <= arcs[k].cap);
    }
    rc = MKT_OK;
fail:
    free(g.first);
    free(g.head);
    free(g.rev);
    free(g.cap);
    free(g.cost);
    free(g.pot);
    free(g.excess);
    free(g.cur);
    free(g.queue);
    free(g.inq);
    free(fwd);
    return rc;
}
