/* mkt_flow.h -- exact integer min-cost circulation, by cost scaling or by
 * network simplex; internal to market/ (P2P matching).  Not an API. */
#ifndef MKT_FLOW_H
#define MKT_FLOW_H

#include <stdint.h>

#include "mkt_err.h"

struct mkt_arc {
    uint32_t tail, head;
    int64_t cap;  /* >= 0 */
    int64_t cost; /* per unit; |cost| <= MKT_FLOW_MAX_COST */
};

#define MKT_FLOW_MAX_COST INT64_C(4000000000)

/* A minimum-cost circulation on nnodes nodes (lower bounds 0): flow[k] gets
 * the flow on arcs[k].  Deterministic: the result depends on the arcs and
 * their order only.  Errors: NOMEM; BOOK_TOO_LARGE when nnodes^2 times the
 * largest cost could overflow the 64-bit node prices (see mkt_flow.c). */
int mkt_flow_circulation(uint32_t nnodes, const struct mkt_arc *arcs, uint32_t narcs,
                         int64_t *flow /* OUT, narcs */) MKT_MUST_USE;

/* The same problem by the primal network simplex (block search, strongly
 * feasible trees; mkt_flow.c): faster than cost scaling on the dense P2P
 * networks (one arc per pair), slower on the aggregated bus networks, where
 * it stalls on degenerate pivots.  Deterministic, exact; same errors (the
 * overflow bound is 4 (nnodes + 1) times the largest cost). */
int mkt_flow_circulation_simplex(uint32_t nnodes, const struct mkt_arc *arcs, uint32_t narcs,
                                 int64_t *flow /* OUT, narcs */) MKT_MUST_USE;

#endif
