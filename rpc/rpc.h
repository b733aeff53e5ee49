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
#define RPC_MAX_BODY_BYTES (1u << 20)        /* a request body; larger: RPC_ERR_TOO_LARGE */
#define RPC_HARD_MAX_BODY_BYTES (8u << 20)   /* larger bodies are cut off by evhttp (HTTP 413) */
#define RPC_MAX_BATCH 100u                   /* requests in one JSON-RPC batch */
#define RPC_MAX_SUBMIT_TXS 2000u             /* envelopes in one submit_txs call */

/* ---- JSON-RPC error codes: stable, documented in rpc/README.md ---- */
#define RPC_ERRORS(X)                                                                          \
    X(PARSE, -32700, "request body is not valid JSON")                                         \
    X(INVALID_REQUEST, -32600, "not a JSON-RPC 2.0 request object")                            \
    X(METHOD_NOT_FOUND, -32601, "no such method")                                              \
    X(INVALID_PARAMS, -32602, "invalid params")                                                \
    X(INTERNAL, -32603, "internal error; see the node's log")                                  \
    X(TX_REJECTED, -32001, "transaction rejected")                                             \
    X(NOT_FOUND, -32002, "not found")                                                          \
    X(TOO_LARGE, -32003, "request too large")                                                  \
    X(MEMPOOL_FULL, -32004, "the mempool is full; retry in a moment")                          \
    X(UNAVAILABLE, -32005, "the node cannot answer this yet")

enum rpc_err {
#define RPC_ERR_ENUM_(name, code, msg) RPC_ERR_##name = (code),
    RPC_ERRORS(RPC_ERR_ENUM_)
#undef RPC_ERR_ENUM_
};
const char *rpc_err_name(int code);   /* "PARSE", never NULL */
const char *rpc_strerror(int code);   /* never NULL */

/* ---- what the node provides ----
 *
 * submit_tx returns 0, a chain_err code (BAD_SIG, WRONG_CHAIN, BAD_NONCE,
 * DECODE_*, ...), or one of the node refusals below; *why is a static
 * message a person can act on (may be left NULL: the code's own message is
 * used).  Refusals are answered with -32001 (TX_REJECTED, data.error is the
 * name) except RPC_REFUSE_MEMPOOL_FULL, which is -32004. */
#define RPC_REFUSALS(X)                                                                        \
    X(MEMPOOL_FULL, -400, "the mempool is full; retry in a moment")                            \
    X(DUPLICATE, -401, "this transaction is already in the mempool")                           \
    X(NONCE_GAP, -402, "nonce is ahead of the account's next nonce by more than the mempool holds") \
    X(NOT_READY, -403, "the node is not ready (syncing or shutting down)")

enum rpc_refusal {
#define RPC_REFUSE_ENUM_(name, code, msg) RPC_REFUSE_##name = (code),
    RPC_REFUSALS(RPC_REFUSE_ENUM_)
#undef RPC_REFUSE_ENUM_
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
};

/* ---- dispatch without HTTP ---- */

struct rpc_api {
    struct chain *chain;              /* borrowed; committed state is read through it */
    const struct rpc_node_ops *ops;   /* borrowed; a NULL op answers UNAVAILABLE */
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

#endif
