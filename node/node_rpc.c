/* node_rpc.c -- gridnode's RPC side: rpc_node_ops (status, submit_tx,
 * get_cert, metrics), the public server with its events (block, clearing,
 * settlement; SSE and MQTT) and the shadow-centre listener, all opened from
 * the config (node/README.md). */
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
#include <sodium.h>

#include "chain_ledger.h"
#include "rpc.h"
#if __has_include("mkt_tx.h") && __has_include("mkt_settle.h")
#include "mkt_settle.h"
#include "mkt_tx.h"
#define NODE_RPC_MARKET_EVENTS 1
#endif

/* The mempool's refusals are the RPC's refusals, number for number. */
_Static_assert((int)NODE_ERR_MEMPOOL_FULL == (int)RPC_REFUSE_MEMPOOL_FULL, "refusal codes drift");
_Static_assert((int)NODE_ERR_DUPLICATE == (int)RPC_REFUSE_DUPLICATE, "refusal codes drift");
_Static_assert((int)NODE_ERR_NONCE_GAP == (int)RPC_REFUSE_NONCE_GAP, "refusal codes drift");
_Static_assert((int)NODE_ERR_NOT_READY == (int)RPC_REFUSE_NOT_READY, "refusal codes drift");
_Static_assert(NODE_MQTT_TOPIC_MAX == RPC_MQTT_TOPIC_MAX, "mqtt_topic limit drifts");

struct node_rpc {
    struct node *node;
    struct rpc_node_ops ops;
    struct rpc_server *srv;   /* NULL: no public server */
    struct rpc_shadow *sh;    /* NULL: no shadow-centre API */
    uint64_t events_unpacked; /* market values that did not decode (logged once) */
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
    if (v.cfg->clock_accel > 1) { /* a demo network: say so wherever status is read */
        json_object_set_new(obj, "clock_accel", json_integer(v.cfg->clock_accel));
        json_object_set_new(obj, "clock_start_ms", json_integer((json_int_t)v.cfg->clock_start_ms));
    }
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

static int op_metrics(void *ctx, struct rpc_node_metrics *out)
{
    struct node_rpc_view v = node_run_view_(((struct node_rpc *)ctx)->node);
    memset(out, 0, sizeof *out);
    out->txs_committed = v.txs_committed;
    out->mempool_txs = node_mempool_count(v.mp);
    out->mempool_bytes = node_mempool_bytes(v.mp); /* admitted and being verified */
    out->peers_up = node_net_peers_up(v.net);
    return 0;
}

/* next_nonce stays NULL: node_mempool.h has no per-account query (the pool
 * keeps each account's waiting nonces internally but does not export them).
 * rpc_shadow then signs with the committed nonce raised past the nonces it
 * used itself, which is exact as long as the shadow-centre key signs
 * nothing else while transactions of this server wait. */

/* ---- events: clearing and settlement records a committed block wrote ---- */

#ifdef NODE_RPC_MARKET_EVENTS
static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Publish one state value as an event: head (height, book or slot, key)
 * followed by the value's fields.  Our own committed state always decodes;
 * if it does not, the event is left out and the first such value logged. */
static void publish_value(struct node_rpc *r, const char *type, json_t *head,
                          const struct chain_ws_entry *e, const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = NULL;
    char *hex = malloc(2 * (size_t)e->key_len + 1);
    if (!head || !hex)
        goto out;
    chain_hex(hex, e->key, e->key_len);
    if (json_object_set_new(head, "key", json_string(hex)))
        goto out;
    if (chain_pb_unpack(desc, e->val, e->val_len, CHAIN_STATE_VALUE_MAX_BYTES, &m)) {
        if (r->events_unpacked++ == 0)
            fprintf(stderr, "gridnode: a committed %s (key %s) does not decode; no %s event\n",
                    desc->short_name, hex, type);
        goto out;
    }
    json_t *fields = rpc_pb_json(m);
    /* the record's own height is the block's: the head keeps its fields */
    if (fields && json_object_update_missing(head, fields) == 0)
        rpc_server_publish(r->srv, type, head);
    json_decref(fields);
out:
    if (m)
        protobuf_c_message_free_unpacked(m, NULL);
    free(hex);
    json_decref(head);
}

static void publish_market(struct node_rpc *r, const struct chain_exec_result *res)
{
    for (size_t i = 0; i < res->ws.nentries; i++) {
        const struct chain_ws_entry *e = &res->ws.entries[i];
        if (e->st != CHAIN_WS_SET)
            continue;
        if (e->key_len == MKT_KEY_RESULT_BYTES && !memcmp(e->key, "mkt/r/", 6)) {
            /* "mkt/r/" commodity(1) market(1) slot(8, big-endian): mkt_key_result */
            json_t *h = json_pack("{s:I, s:i, s:i, s:I}", "height", (json_int_t)res->height,
                                  "commodity", (int)e->key[6], "market", (int)e->key[7],
                                  "slot_start_ms", (json_int_t)be64(e->key + 8));
            publish_value(r, "clearing", h, e, &gl__mkt_result__descriptor);
        } else if (e->key_len == MKT_KEY_SLOT_SETTLEMENT_BYTES && !memcmp(e->key, "mkt/sr/", 7)) {
            /* "mkt/sr/" slot(8): mkt_key_slot_settlement */
            json_t *h = json_pack("{s:I, s:I}", "height", (json_int_t)res->height, "slot_start_ms",
                                  (json_int_t)be64(e->key + 7));
            publish_value(r, "settlement", h, e, &gl__mkt_slot_settlement__descriptor);
        }
    }
}
#endif

void node_rpc_on_commit(struct node_rpc *r, const struct chain_exec_result *res)
{
    if (!r || !r->srv || !res)
        return;
    rpc_server_on_commit(r->srv, res);
#ifdef NODE_RPC_MARKET_EVENTS
    publish_market(r, res);
#endif
}

/* ---- opening from the config ---- */

/* Warn (not refuse: roles can be granted later) when the shadow-centre key
 * does not hold the role its Mint and PayoutConfirm need. */
static void check_shadow_role(struct chain *c, const uint8_t pk[CHAIN_PK_BYTES])
{
    uint8_t key[CHAIN_KEY_ACCOUNT_BYTES];
    const uint8_t *v;
    size_t vl;
    MDB_txn *txn;
    struct chain_account a = {0};
    chain_key_account(key, pk);
    if (mdb_txn_begin(c->store.env, NULL, MDB_RDONLY, &txn))
        return;
    if (chain_store_get(&c->store, txn, key, sizeof key, &v, &vl) != CHAIN_ERR_OK ||
        chain_account_decode(v, vl, &a) != CHAIN_ERR_OK)
        a.roles = 0;
    mdb_txn_abort(txn);
    if (!(a.roles & CHAIN_ROLE_SHADOW_CENTRE)) {
        char hex[2 * CHAIN_PK_BYTES + 1];
        chain_hex(hex, pk, CHAIN_PK_BYTES);
        fprintf(stderr,
                "gridnode: warning: the shadow_key_file key %s does not hold the shadow_centre "
                "role at the head: its Mint and PayoutConfirm will fail until the operator grants "
                "it (SetRoles) or genesis lists it with \"shadow_centre\"\n",
                hex);
    }
}

static int open_shadow(struct node_rpc *r, struct event_base *base, const struct node_config *cfg,
                       struct chain *c)
{
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES];
    char err[NODE_ERRMSG_BYTES];
    bool have_key = cfg->shadow_key_path[0] != 0;
    if (have_key) {
        int rc = node_key_read(cfg->shadow_key_path, pk, sk, err, sizeof err);
        if (rc) {
            fprintf(stderr, "gridnode: config \"shadow_key_file\": %s\n", err);
            return rc;
        }
        check_shadow_role(c, pk);
    } else {
        fprintf(stderr, "gridnode: the shadow-centre API has no \"shadow_key_file\": recharge and "
                        "confirm_payout answer UNAVAILABLE\n");
    }
    struct rpc_shadow_config sc = {
        .pk = have_key ? pk : NULL,
        .sk = have_key ? sk : NULL,
        .allowed_keys = (const uint8_t(*)[32])cfg->shadow_allowed,
        .nallowed = cfg->nshadow_allowed,
    };
    int rc = rpc_shadow_open(&r->sh, base, c, &r->ops, &sc, cfg->shadow_host, cfg->shadow_port);
    sodium_memzero(sk, sizeof sk);
    if (rc) {
        fprintf(stderr,
                "gridnode: cannot serve the shadow-centre API on %s:%u (config \"shadow_listen\"): "
                "is another process listening there, or is the address not local? Free the port "
                "or choose another\n",
                cfg->shadow_host, (unsigned)cfg->shadow_port);
        return NODE_ERR_IO;
    }
    return NODE_ERR_OK;
}

static int open_mqtt(struct node_rpc *r, const struct node_config *cfg, const char *chain_id)
{
    char topic[NODE_MQTT_TOPIC_MAX + 1];
    int n = cfg->mqtt_topic[0] ? snprintf(topic, sizeof topic, "%s", cfg->mqtt_topic)
                               : snprintf(topic, sizeof topic, "gridledger/%s", chain_id);
    if (n < 0 || (size_t)n >= sizeof topic || strpbrk(topic, "+#")) {
        fprintf(stderr,
                "gridnode: the default MQTT topic \"gridledger/%s\" is not a valid topic (more "
                "than %u characters, or + or #): set \"mqtt_topic\" in the config\n",
                chain_id, NODE_MQTT_TOPIC_MAX);
        return NODE_ERR_BAD_CONFIG;
    }
    struct rpc_mqtt_config mc = {.host = cfg->mqtt_host, .port = cfg->mqtt_port, .topic = topic};
    if (rpc_server_mqtt(r->srv, &mc)) {
        fprintf(stderr,
                "gridnode: cannot start publishing events to the MQTT broker %s:%u (config "
                "\"mqtt_host\", \"mqtt_port\"); see the line before\n",
                cfg->mqtt_host, (unsigned)cfg->mqtt_port);
        return NODE_ERR_IO;
    }
    fprintf(stderr, "gridnode: events also go to MQTT %s:%u, topics %s/<type>\n", cfg->mqtt_host,
            (unsigned)cfg->mqtt_port, topic);
    return NODE_ERR_OK;
}

int node_rpc_open(struct node_rpc **out, struct event_base *base, struct node *n,
                  const struct node_config *cfg)
{
    *out = NULL;
    if (!cfg->rpc_host[0] && !cfg->shadow_host[0])
        return NODE_ERR_OK;
    struct node_rpc *r = calloc(1, sizeof *r);
    if (!r)
        return CHAIN_ERR_NOMEM;
    r->node = n;
    r->ops.ctx = r;
    r->ops.status = op_status;
    r->ops.submit_tx = op_submit;
    r->ops.get_cert = op_cert;
    r->ops.err_name = op_err_name;
    r->ops.metrics = op_metrics;
    struct node_rpc_view v = node_run_view_(n);
    int rc = NODE_ERR_OK;
    if (cfg->rpc_host[0]) {
        if (rpc_server_open(&r->srv, base, v.chain, &r->ops, cfg->rpc_host, cfg->rpc_port)) {
            fprintf(stderr,
                    "gridnode: cannot serve JSON-RPC on %s:%u (config \"rpc_listen\"): free the "
                    "port or choose another (port 0: any free port)\n",
                    cfg->rpc_host, (unsigned)cfg->rpc_port);
            rc = NODE_ERR_IO;
            goto fail;
        }
        if (cfg->mqtt_host[0] && (rc = open_mqtt(r, cfg, v.gen->chain_id)))
            goto fail;
    }
    if (cfg->shadow_host[0] && (rc = open_shadow(r, base, cfg, v.chain)))
        goto fail;
    *out = r;
    return NODE_ERR_OK;
fail:
    node_rpc_close(r);
    return rc;
}

uint16_t node_rpc_port(const struct node_rpc *r)
{
    return r && r->srv ? rpc_server_port(r->srv) : 0;
}

uint16_t node_rpc_shadow_port(const struct node_rpc *r)
{
    return r && r->sh ? rpc_shadow_port(r->sh) : 0;
}

void node_rpc_close(struct node_rpc *r)
{
    if (!r)
        return;
    rpc_shadow_close(r->sh);
    rpc_server_close(r->srv);
    free(r);
}

#else /* built without rpc/: no RPC server */

struct node_rpc {
    int unused;
};

int node_rpc_open(struct node_rpc **out, struct event_base *base, struct node *n,
                  const struct node_config *cfg)
{
    (void)base;
    (void)n;
    *out = NULL;
    if (!cfg->rpc_host[0] && !cfg->shadow_host[0])
        return NODE_ERR_OK;
    fprintf(stderr,
            "gridnode: this build has no RPC server (rpc/ missing); remove \"rpc_listen\" and "
            "\"shadow_listen\" from the config\n");
    return NODE_ERR_IO;
}
uint16_t node_rpc_port(const struct node_rpc *r)
{
    (void)r;
    return 0;
}
uint16_t node_rpc_shadow_port(const struct node_rpc *r)
{
    (void)r;
    return 0;
}
void node_rpc_close(struct node_rpc *r)
{
    (void)r;
}
void node_rpc_on_commit(struct node_rpc *r, const struct chain_exec_result *res)
{
    (void)r;
    (void)res;
}
#endif
