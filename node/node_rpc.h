/* node_rpc.h -- the node's side of the RPC servers (rpc/rpc.h): the ops
 * (status, transaction submission into the mempool, certificates from the
 * store, metrics), the public JSON-RPC listener with its events (SSE and
 * MQTT), and the shadow-centre listener. */
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
    const struct node_config *cfg;
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

/* Open what cfg asks for: the public JSON-RPC server on rpc_listen, with
 * MQTT publishing when mqtt_host is set, and the shadow-centre API on
 * shadow_listen with the key in shadow_key_file.  *out is NULL when cfg asks
 * for neither listener.  On failure nothing stays open and a line on stderr
 * names the config field, the address and what to do.  Errors: NODE_ERR_IO
 * (a listener, the MQTT client), NODE_ERR_BAD_KEY (shadow_key_file),
 * NODE_ERR_BAD_CONFIG (an MQTT topic the client refuses), NOMEM. */
int node_rpc_open(struct node_rpc **out, struct event_base *base, struct node *n,
                  const struct node_config *cfg) NODE_MUST_USE;
uint16_t node_rpc_port(const struct node_rpc *r);        /* 0: no public server */
uint16_t node_rpc_shadow_port(const struct node_rpc *r); /* 0: no shadow-centre API */
void node_rpc_close(struct node_rpc *r);                 /* accepts NULL */

/* After a block committed (never for a proposal): the "block" event, then a
 * "clearing" event for each market result (state key "mkt/r/...") and a
 * "settlement" event for each slot settlement ("mkt/sr/...") the block
 * wrote, to SSE clients and the MQTT broker.  r is borrowed for the call.
 * Accepts a NULL r (no server). */
void node_rpc_on_commit(struct node_rpc *r, const struct chain_exec_result *res);

#endif
