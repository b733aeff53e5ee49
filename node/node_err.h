/* node_err.h -- the node's own result codes (mempool refusals, config, keys).
 *
 * The mempool refusals share their numbers with rpc/rpc.h's RPC_REFUSALS, so
 * a code travels from the mempool to a JSON-RPC error unchanged (node_rpc.c
 * checks the two tables agree at compile time).  Everything else a node
 * function returns is a chain_err code. */
#ifndef NODE_ERR_H
#define NODE_ERR_H

#define NODE_ERRORS(X)                                                                             \
    X(OK, 0, "ok")                                                                                 \
    X(MEMPOOL_FULL, -400, "the mempool is full; retry in a moment")                                \
    X(DUPLICATE, -401, "this transaction is already in the mempool")                               \
    X(NONCE_GAP, -402,                                                                             \
      "nonce is ahead of the account's next nonce by more than the mempool holds")                 \
    X(NOT_READY, -403, "the node is not ready (syncing or shutting down)")                         \
    X(NONCE_TAKEN, -404, "another transaction with this signer and nonce is already pending")      \
    X(BAD_CONFIG, -410, "configuration is invalid; see the message before this one")               \
    X(BAD_GENESIS, -411, "genesis file is invalid; see the message before this one")               \
    X(BAD_KEY, -412, "key file is invalid or has unsafe permissions")                              \
    X(IO, -413, "file or system error; see the message before this one")

enum node_err {
#define NODE_ERR_ENUM_(name, code, msg) NODE_ERR_##name = (code),
    NODE_ERRORS(NODE_ERR_ENUM_)
#undef NODE_ERR_ENUM_
};

/* Name and message of a node code, falling back to chain_err's table. */
const char *node_err_name(int err);
const char *node_strerror(int err);

#define NODE_MUST_USE __attribute__((warn_unused_result))

#endif
