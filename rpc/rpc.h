/* rpc.h -- JSON-RPC 2.0 over HTTP: the node's public API (DESIGN.md, Network and API).
 *
 * The server is libevent's evhttp with jansson: POST / carries a JSON-RPC
 * request or a batch, GET /health answers "ok".  Methods read committed chain
 * state directly through struct chain (a read transaction per request, so a
 * response is one consistent snapshot) and call the node through struct
 * rpc_node_ops for everything else (status, mempool admission, certificates).
 * Every method and error is documented with an example in rpc/README.md.
 *
 * The dispatcher (rpc_dispatch) needs no HTTP: the fuzz target and tests call
 * it with raw bytes.  Everything runs on the thread of the event base; the
 * node must not commit blocks from another thread while a request runs. */
#ifndef RPC_H
#define RPC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "chain_block.h"
#include "cons.h"

/* ---- limits (on bytes from outside) ---- */
#define RPC_MAX_BODY_BYTES      (1u << 20) /* a request body; larger: RPC_ERR_TOO_LARGE */
#define RPC_HARD_MAX_BODY_BYTES (8u << 20) /* larger bodies are cut off by evhttp (HTTP 413) */
#define RPC_MAX_BATCH           100u       /* requests in one JSON-RPC batch */
#define RPC_MAX_SUBMIT_TXS      2000u      /* envelopes in one submit_txs call */

/* ---- JSON-RPC error codes: stable, documented in rpc/README.md ---- */
#define RPC_ERRORS(X)                                                                              \
    X(PARSE, -32700, "request body is not valid JSON")                                             \
    X(INVALID_REQUEST, -32600, "not a JSON-RPC 2.0 request object")                                \
    X(METHOD_NOT_FOUND, -32601, "no such method")                                                  \
    X(INVALID_PARAMS, -32602, "invalid params")                                                    \
    X(INTERNAL, -32603, "internal error; see the node's log")                                      \
    X(TX_REJECTED, -32001, "transaction rejected")                                                 \
    X(NOT_FOUND, -32002, "not found")                                                              \
    X(TOO_LARGE, -32003, "request too large")                                                      \
    X(MEMPOOL_FULL, -32004, "the mempool is full; retry in a moment")                              \
    X(UNAVAILABLE, -32005, "the node cannot answer this yet")                                      \
    X(AUTH_MISSING, -32010, "the request is not signed: add an X-Gridledger-Signature header")     \
    X(AUTH_MALFORMED, -32011, "the X-Gridledger-Signature header is malformed")                    \
    X(AUTH_BAD_SIG, -32012, "the request signature does not verify")                               \
    X(AUTH_REPLAYED, -32013, "the request nonce is not above the last one accepted from this key") \
    X(AUTH_STALE, -32014, "the request nonce (its time in ms) is outside the accepted window")     \
    X(AUTH_NOT_SHADOW, -32015, "the signing key does not hold the shadow-centre role")             \
    X(BANK_REF_CONFLICT, -32016, "this bank_ref was already used for another account or amount")

enum rpc_err {
#define RPC_ERR_ENUM_(name, code, msg) RPC_ERR_##name = (code),
    RPC_ERRORS(RPC_ERR_ENUM_)
#undef RPC_ERR_ENUM_
};
const char *rpc_err_name(int code); /* "PARSE", never NULL */
const char *rpc_strerror(int code); /* never NULL */

/* ---- what the node provides ----
 *
 * submit_tx returns 0, a chain_err code (BAD_SIG, WRONG_CHAIN, BAD_NONCE,
 * DECODE_*, ...), or one of the node refusals below; *why is a static
 * message a person can act on (may be left NULL: the code's own message is
 * used).  Refusals are answered with -32001 (TX_REJECTED, data.error is the
 * name) except RPC_REFUSE_MEMPOOL_FULL, which is -32004. */
#define RPC_REFUSALS(X)                                                                            \
    X(MEMPOOL_FULL, -400, "the mempool is full; retry in a moment")                                \
    X(DUPLICATE, -401, "this transaction is already in the mempool")                               \
    X(NONCE_GAP, -402,                                                                             \
      "nonce is ahead of the account's next nonce by more than the mempool holds")                 \
    X(NOT_READY, -403, "the node is not ready (syncing or shutting down)")

enum rpc_refusal {
#define RPC_REFUSE_ENUM_(name, code, msg) RPC_REFUSE_##name = (code),
    RPC_REFUSALS(RPC_REFUSE_ENUM_)
#undef RPC_REFUSE_ENUM_
};

/* What the node counts for GET /metrics (rpc_node_ops.metrics). */
struct rpc_node_metrics {
    uint64_t txs_committed; /* since the node started */
    uint64_t mempool_txs;   /* admitted, waiting */
    uint64_t mempool_bytes;
    uint64_t peers_up;
};

struct rpc_node_ops {
    void *ctx;
    /* fill engine ("raft"/"pbft"), validators (hex keys), peers up, node key, role */
    int (*status)(void *ctx, json_t *obj /* add fields */);
    /* admit a signed envelope to the mempool; returns 0 or a chain_err/node error code,
     *why a static message; hash OUT */
    int (*submit_tx)(void *ctx, const uint8_t *tx, size_t len, uint8_t hash[32], const char **why);
    /* the commit certificate of a committed height; NOT_FOUND error code if none */
    int (*get_cert)(void *ctx, uint64_t height, struct cons_cert *out);
    /* optional (may be NULL): the stable name of a node error code that is
       neither a chain_err nor an RPC_REFUSE_* code (extension to iface.md) */
    const char *(*err_name)(void *ctx, int code);
    /* optional (may be NULL): the next nonce for an account counting the
       node's mempool (the shadow API signs with it); NULL: the committed
       nonce, raised past the nonces this server used itself */
    int (*next_nonce)(void *ctx, const uint8_t pk[32], uint64_t *nonce /* OUT */);
    /* optional (may be NULL): counters for GET /metrics */
    int (*metrics)(void *ctx, struct rpc_node_metrics *out /* OUT */);
};

/* ---- dispatch without HTTP ---- */

struct rpc_api {
    struct chain *chain;            /* borrowed; committed state is read through it */
    const struct rpc_node_ops *ops; /* borrowed; a NULL op answers UNAVAILABLE */
    void *shadow;                   /* internal: the shadow server of shadow methods */
    struct rpc_stats *stats;        /* internal: request counters for GET /metrics, or NULL */
};

/* Handle one request body (a JSON-RPC request or batch).  *out is the
 * malloc'd response text (caller frees), or NULL when the body held only
 * notifications (then HTTP answers 204).  Never fails on bad input: every
 * problem becomes a JSON-RPC error response.  Returns 0, or -1 out of memory
 * (then *out is NULL). */
int rpc_dispatch(const struct rpc_api *api, const char *body, size_t len, char **out /* OUT */,
                 size_t *out_len /* OUT */) __attribute__((warn_unused_result));

/* ---- the HTTP server ---- */

struct event_base;
struct rpc_server;

/* Listen on host:port (port 0 asks the OS) and serve on base.  The chain and
 * ops are borrowed for the server's life.  Returns 0, or -1 with a line on
 * stderr naming the address and the cause. */
int rpc_server_open(struct rpc_server **out, struct event_base *base, struct chain *c,
                    const struct rpc_node_ops *ops, const char *host, uint16_t port)
    __attribute__((warn_unused_result));
uint16_t rpc_server_port(const struct rpc_server *s); /* the bound port (port 0 asks the OS) */
void rpc_server_close(struct rpc_server *s);          /* accepts NULL */

/* ---- events: GET /events (server-sent events), GET /metrics ----
 *
 * The node calls rpc_server_on_commit after every committed block (on the
 * event base's thread): SSE clients get an event "block" with height, hash,
 * tx count, state root and time, and so does the MQTT broker when one is
 * configured.  Other modules publish their own event types (e.g. "clearing")
 * with rpc_server_publish; json is borrowed. */
void rpc_server_on_commit(struct rpc_server *s, const struct chain_exec_result *r);
void rpc_server_publish(struct rpc_server *s, const char *type, const json_t *json);

/* A protobuf message as a JSON object, generically from its descriptor, as
 * the market reads' "decoded" and the node's clearing/settlement events give
 * it: field names of the .proto, integers as numbers (uint64 above 2^63 as a
 * decimal string), bytes as hex, enums as their number, repeated fields as
 * arrays.  A new reference, or NULL out of memory. */
struct ProtobufCMessage;
json_t *rpc_pb_json(const struct ProtobufCMessage *m);

#define RPC_SSE_MAX_CLIENTS  64u        /* more: 503 */
#define RPC_SSE_MAX_BUFFERED (1u << 20) /* a client this far behind is dropped */
#define RPC_SSE_PING_SECONDS 15         /* a comment line keeps idle streams open */
#define RPC_EVENT_TYPE_MAX   32u        /* "block", "clearing", ...: [a-z_] */
#define RPC_MQTT_TOPIC_MAX   128u
#define RPC_MQTT_MAX_QUEUE   1024u /* unacknowledged MQTT messages; more are dropped */

/* Publish every event to an MQTT broker as well, on topic "<topic>/<type>"
 * (QoS 1).  libmosquitto runs in its own thread and reconnects by itself
 * (1 s to 30 s backoff); the broker need not be up yet.  Returns 0, or -1
 * with a line on stderr (bad topic, no client). */
struct rpc_mqtt_config {
    const char *host;      /* mqtt_host */
    uint16_t port;         /* mqtt_port; 0: 1883 */
    const char *topic;     /* mqtt_topic, e.g. "gridledger/<chain id>"; no + or # */
    const char *client_id; /* NULL: the broker's choice */
};
int rpc_server_mqtt(struct rpc_server *s, const struct rpc_mqtt_config *cfg)
    __attribute__((warn_unused_result));

/* ---- the shadow-centre API (rpc_shadow.c; rpc/README.md, "Shadow-centre API") ----
 *
 * A second listener, apart from the public one, for the grid company's
 * back office: recharge, payouts, confirm_payout, reconciliation.  Every
 * request is POST / with the header
 *   X-Gridledger-Signature: key=<64 hex>, nonce=<decimal>, sig=<128 hex>
 * where sig is Ed25519 by key over rpc_shadow_signed_msg(chain_id, nonce,
 * body).  nonce is the client's clock in ms: it must be strictly above the
 * last one accepted from that key and within window_ms of the server's
 * clock (so a captured request cannot be replayed, not even after a
 * restart).  The key must hold the shadow-centre role in committed state or
 * be listed in allowed_keys. */
#define RPC_SHADOW_SIG_HEADER        "X-Gridledger-Signature"
#define RPC_SHADOW_HEADER_MAX        256u    /* longer: AUTH_MALFORMED */
#define RPC_SHADOW_DEFAULT_WINDOW_MS 300000u /* 5 minutes */
#define RPC_SHADOW_MAX_INFLIGHT      4096u   /* bank_refs submitted and not yet committed */
#define RPC_SHADOW_PAYOUTS_MAX_LIMIT 1000u
#define RPC_SHADOW_DOMAIN            "gridledger/shadow-rpc/v1"

struct rpc_shadow_auth {
    uint8_t key[32];
    uint64_t nonce;
    uint8_t sig[64];
};

/* Parse the header value (len bytes, need not be NUL-terminated).  Returns
 * 0, or -1 (RPC_ERR_AUTH_MALFORMED) with a static reason in *why. */
int rpc_shadow_auth_parse(const char *value, size_t len, struct rpc_shadow_auth *out /* OUT */,
                          const char **why) __attribute__((warn_unused_result));
/* Format a header value into out (at least RPC_SHADOW_HEADER_MAX bytes). */
void rpc_shadow_auth_format(const struct rpc_shadow_auth *a, char *out, size_t outlen);
/* Sign body for chain_id with nonce: fills a. */
void rpc_shadow_auth_sign(struct rpc_shadow_auth *a /* OUT */, const char *chain_id, uint64_t nonce,
                          const char *body, size_t len, const uint8_t pk[32], const uint8_t sk[64]);
/* 0 when a->sig is a's key's signature over (chain_id, nonce, body), else -1. */
int rpc_shadow_auth_verify(const struct rpc_shadow_auth *a, const char *chain_id, const char *body,
                           size_t len) __attribute__((warn_unused_result));

struct rpc_shadow_config {
    const uint8_t *pk;                 /* 32 bytes: the node's shadow-centre key that signs Mint and
                                          PayoutConfirm; NULL: recharge and confirm_payout are UNAVAILABLE */
    const uint8_t *sk;                 /* 64 bytes, copied */
    const uint8_t (*allowed_keys)[32]; /* request keys accepted without the role; copied */
    size_t nallowed;
    uint64_t window_ms;            /* 0: RPC_SHADOW_DEFAULT_WINDOW_MS */
    uint64_t (*now_ms)(void *ctx); /* NULL: the wall clock (tests inject one) */
    void *clock_ctx;
};

struct rpc_shadow;
int rpc_shadow_open(struct rpc_shadow **out, struct event_base *base, struct chain *c,
                    const struct rpc_node_ops *ops, const struct rpc_shadow_config *cfg,
                    const char *host, uint16_t port) __attribute__((warn_unused_result));
uint16_t rpc_shadow_port(const struct rpc_shadow *s);
void rpc_shadow_close(struct rpc_shadow *s); /* accepts NULL */
/* The dispatcher behind the listener, without HTTP (tests, fuzzing):
 * header is the X-Gridledger-Signature value or NULL.  *http_status is 200,
 * or 401/403 for an authentication failure. */
int rpc_shadow_dispatch(struct rpc_shadow *s, const char *header, const char *body, size_t len,
                        char **out /* OUT */, size_t *out_len /* OUT */, int *http_status /* OUT */)
    __attribute__((warn_unused_result));

#endif
