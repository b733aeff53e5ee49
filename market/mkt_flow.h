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
 * networks (one arc per pair), much slower on aggregated networks with few
 * nodes and many parallel arcs.  The simplex has no polynomial bound, so it
 * counts its work (arcs priced plus tree nodes moved) and, past work_limit
 * (0: MKT_FLOW_SIMPLEX_WORK_PER_ARC per arc and node, plus 2^20), starts over
 * with cost scaling -- when cost scaling's own overflow bound admits the
 * instance; otherwise it runs to the end.  The work is counted the same way
 * everywhere, so the choice and the flow are deterministic.  Exact; same
 * errors (the simplex's overflow bound is 4 (nnodes + 1) times the largest
 * cost). */
#define MKT_FLOW_SIMPLEX_WORK_PER_ARC 256 /* dense P2P books need 20-40 */
int mkt_flow_circulation_simplex(uint32_t nnodes, const struct mkt_arc *arcs, uint32_t narcs,
                                 uint64_t work_limit, int64_t *flow /* OUT, narcs */) MKT_MUST_USE;

#endif
