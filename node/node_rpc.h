/* node_rpc.h -- the node's side of the JSON-RPC server (rpc/rpc.h): status,
 * transaction submission into the mempool, certificates from the store. */
#ifndef NODE_RPC_H
#define NODE_RPC_H

#include <stdint.h>

#include "node_genesis.h"

struct event_base;
struct node;
struct node_rpc;
struct node_mempool;
struct node_net;
struct node_store;

#define NODE_REFUSAL_KINDS 16
struct node_refusal { /* mempool verdicts other than OK, by code */
    int code;
    uint64_t count;
};

/* What the RPC ops read of a running node (node_run.c), taken per call. */
struct node_rpc_view {
    struct chain *chain;
    const struct node_genesis *gen;
    const uint8_t *pk;
    int self;          /* validator index, -1: observer */
    struct cons *cons; /* NULL for observers */
    struct node_mempool *mp;
    struct node_net *net;
    struct node_store *store;
    void *local_tag;       /* mempool tag of a local submission (gossiped) */
    uint64_t cons_refused; /* consensus messages from peers the engine refused */
    uint64_t txs_committed;
    const struct node_refusal *refusals; /* NODE_REFUSAL_KINDS, count 0: unused */
};
struct node_rpc_view node_run_view_(struct node *n);

/* Serve JSON-RPC on host:port.  Errors: NODE_ERR_IO (a line on stderr). */
int node_rpc_open(struct node_rpc **out, struct event_base *base, struct node *n, const char *host,
                  uint16_t port) NODE_MUST_USE;
uint16_t node_rpc_port(const struct node_rpc *r);
void node_rpc_close(struct node_rpc *r); /* accepts NULL */

#endif
