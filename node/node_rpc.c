/* node_rpc.c -- rpc_node_ops for gridnode: status, submit_tx, get_cert. */
#include "node_rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_crypto.h"
#include "cons.h"
#include "node_mempool.h"
#include "node_net.h"
#include "node_store.h"

#ifdef NODE_HAVE_RPC
#include <jansson.h>

#include "rpc.h"

/* The mempool's refusals are the RPC's refusals, number for number. */
_Static_assert((int)NODE_ERR_MEMPOOL_FULL == (int)RPC_REFUSE_MEMPOOL_FULL, "refusal codes drift");
_Static_assert((int)NODE_ERR_DUPLICATE == (int)RPC_REFUSE_DUPLICATE, "refusal codes drift");
_Static_assert((int)NODE_ERR_NONCE_GAP == (int)RPC_REFUSE_NONCE_GAP, "refusal codes drift");
_Static_assert((int)NODE_ERR_NOT_READY == (int)RPC_REFUSE_NOT_READY, "refusal codes drift");

struct node_rpc {
    struct node *node;
    struct rpc_node_ops ops;
    struct rpc_server *srv;
};

static int op_status(void *ctx, json_t *obj)
{
    struct node_rpc_view v = node_run_view_(((struct node_rpc *)ctx)->node);
    char hex[2 * CHAIN_PK_BYTES + 1];
    json_t *vals = json_array();
    for (size_t i = 0; i < v.gen->nvalidators; i++) {
        chain_hex(hex, v.gen->validators[i].key, CHAIN_PK_BYTES);
        json_array_append_new(vals, json_string(hex));
    }
    json_object_set_new(obj, "engine",
                        json_string(v.gen->engine == CONS_ENGINE_PBFT ? "pbft" : "raft"));
    json_object_set_new(obj, "validators", vals);
    json_object_set_new(obj, "peers", json_integer((json_int_t)node_net_peers_up(v.net)));
    chain_hex(hex, v.pk, CHAIN_PK_BYTES);
    json_object_set_new(obj, "node_key", json_string(hex));
    json_object_set_new(obj, "role", json_string(v.self >= 0 ? "validator" : "observer"));
    if (v.self >= 0)
        json_object_set_new(obj, "validator_index", json_integer(v.self));
    if (v.cons) {
        struct cons_status st;
        cons_status(v.cons, &st);
        json_object_set_new(obj, "leader", json_integer(st.leader));
        json_object_set_new(obj, "term", json_integer((json_int_t)st.term));
        json_object_set_new(obj, "consensus_committed", json_integer((json_int_t)st.committed));
        json_object_set_new(obj, "evidence",
                            json_integer((json_int_t)cons_evidence(v.cons, NULL, 0)));
        json_object_set_new(obj, "consensus_refused", json_integer((json_int_t)v.cons_refused));
    }
    json_object_set_new(obj, "txs_committed", json_integer((json_int_t)v.txs_committed));
    json_t *ref = json_object();
    for (int i = 0; i < NODE_REFUSAL_KINDS && v.refusals[i].count; i++)
        json_object_set_new(ref, node_err_name(v.refusals[i].code),
                            json_integer((json_int_t)v.refusals[i].count));
    json_object_set_new(obj, "mempool_refusals", ref);
    json_object_set_new(obj, "mempool", json_integer((json_int_t)node_mempool_count(v.mp)));
    json_object_set_new(obj, "mempool_pending",
                        json_integer((json_int_t)node_mempool_pending(v.mp)));
    return 0;
}

static int op_submit(void *ctx, const uint8_t *tx, size_t len, uint8_t hash[32], const char **why)
{
    struct node_rpc_view v = node_run_view_(((struct node_rpc *)ctx)->node);
    int rc = node_mempool_submit(v.mp, tx, len, hash, v.local_tag);
    if (rc && why)
        *why = node_strerror(rc);
    return rc;
}

static int op_cert(void *ctx, uint64_t height, struct cons_cert *out)
{
    struct node_rpc_view v = node_run_view_(((struct node_rpc *)ctx)->node);
    return node_store_get_cert(v.store, height, out);
}

static const char *op_err_name(void *ctx, int code)
{
    (void)ctx;
    return node_err_name(code);
}

int node_rpc_open(struct node_rpc **out, struct event_base *base, struct node *n, const char *host,
                  uint16_t port)
{
    struct node_rpc *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r)
        return CHAIN_ERR_NOMEM;
    r->node = n;
    r->ops.ctx = r;
    r->ops.status = op_status;
    r->ops.submit_tx = op_submit;
    r->ops.get_cert = op_cert;
    r->ops.err_name = op_err_name;
    struct node_rpc_view v = node_run_view_(n);
    if (rpc_server_open(&r->srv, base, v.chain, &r->ops, host, port)) {
        free(r);
        return NODE_ERR_IO;
    }
    *out = r;
    return 0;
}

uint16_t node_rpc_port(const struct node_rpc *r)
{
    return r ? rpc_server_port(r->srv) : 0;
}

void node_rpc_close(struct node_rpc *r)
{
    if (!r)
        return;
    rpc_server_close(r->srv);
    free(r);
}

#else /* built without rpc/: no RPC server */

struct node_rpc {
    int unused;
};

int node_rpc_open(struct node_rpc **out, struct event_base *base, struct node *n, const char *host,
                  uint16_t port)
{
    (void)base;
    (void)n;
    *out = NULL;
    fprintf(stderr, "gridnode: this build has no RPC server (rpc/ missing); cannot serve %s:%u\n",
            host, port);
    return NODE_ERR_IO;
}
uint16_t node_rpc_port(const struct node_rpc *r)
{
    (void)r;
    return 0;
}
void node_rpc_close(struct node_rpc *r)
{
    (void)r;
}
#endif
