/* node_msg.h -- the peer-to-peer messages of gridnode (chain/proto/node.proto).
 *
 * Frames from peers are outside bytes: node_msg_decode accepts only the
 * canonical encoding of one NodeMsg with exactly one field set, and bounds
 * every count and size below before anything else reads it.  A refusal is a
 * chain_err DECODE_* code; nothing here asserts on received bytes. */
#ifndef NODE_MSG_H
#define NODE_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "chain_limits.h"
#include "cons.h"
#include "node.pb-c.h"
#include "node_err.h"

#define NODE_MSG_MAX_BYTES  (16u << 20) /* == NODE_NET_MAX_FRAME */
#define NODE_MSG_MAX_TXS    4096u       /* transactions in one gossip batch */
#define NODE_MSG_MAX_BLOCKS 64u         /* blocks asked for or sent in one sync message */
#define NODE_MSG_SYNC_BYTES (8u << 20)  /* a server stops adding blocks past this */

enum node_msg_kind {
    NODE_MSG_CONS = GL__NODE_MSG__KIND_CONS,
    NODE_MSG_TXS = GL__NODE_MSG__KIND_TXS,
    NODE_MSG_STATUS = GL__NODE_MSG__KIND_STATUS,
    NODE_MSG_GET_BLOCKS = GL__NODE_MSG__KIND_GET_BLOCKS,
    NODE_MSG_BLOCKS = GL__NODE_MSG__KIND_BLOCKS,
};

/* A decoded message; pb owns everything, the views borrow from it. */
struct node_msg {
    enum node_msg_kind kind;
    Gl__NodeMsg *pb;
};

/* Errors: DECODE_* (TOO_LARGE, MALFORMED, TRAILING, NONCANONICAL,
 * MISSING_FIELD, BAD_LENGTH, TOO_MANY, FIELD_TOO_LARGE, BAD_VALUE), NOMEM.
 * On error *m is empty (deinit is still safe). */
int node_msg_decode(const uint8_t *buf, size_t len, struct node_msg *m /* OUT */) NODE_MUST_USE;
void node_msg_deinit(struct node_msg *m); /* accepts an empty message */

/* A certificate from its protobuf form: hash 32 bytes, signers distinct and
 * below CONS_NODES_MAX, signatures 64 bytes.  Errors: DECODE_*. */
int node_cert_from_pb(const Gl__Cert *pc, struct cons_cert *out /* OUT */) NODE_MUST_USE;

/* Encoders: *out is malloc'd.  Errors: NOMEM, INVALID_ARG (over a limit). */
int node_msg_encode_cons(const uint8_t *data, size_t len, uint8_t **out,
                         size_t *out_len) NODE_MUST_USE;
int node_msg_encode_txs(const uint8_t *const *txs, const size_t *lens, size_t n, uint8_t **out,
                        size_t *out_len) NODE_MUST_USE;
int node_msg_encode_status(uint64_t height, const uint8_t hash[static CHAIN_HASH_BYTES],
                           uint8_t **out, size_t *out_len) NODE_MUST_USE;
int node_msg_encode_get_blocks(uint64_t from, uint32_t max, uint8_t **out,
                               size_t *out_len) NODE_MUST_USE;
struct node_cblock {
    const uint8_t *block;
    size_t len;
    struct cons_cert cert;
};
int node_msg_encode_blocks(const struct node_cblock *b, size_t n, uint8_t **out,
                           size_t *out_len) NODE_MUST_USE;

/* A certificate alone (the node's store).  Errors as above. */
int node_cert_encode(const struct cons_cert *c, uint8_t **out, size_t *out_len) NODE_MUST_USE;
int node_cert_decode(const uint8_t *buf, size_t len, struct cons_cert *out /* OUT */) NODE_MUST_USE;

#endif
