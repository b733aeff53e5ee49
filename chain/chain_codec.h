/* chain_codec.h -- strict decoding of transactions, and the handler registry.
 *
 * Decoding accepts only the canonical protobuf encoding of each message (what
 * protobuf-c packs): unknown fields, repeated scalars, explicit zero values and
 * trailing bytes are refused, each with a named error.  So one transaction has
 * exactly one byte string, and its hash H(TAG_TX, bytes) is its identity.
 *
 * The registry is a table of transaction handlers indexed by type.  chain/
 * registers the ledger types; market/ registers its own into the same table,
 * so chain/ never includes market/. */
#ifndef CHAIN_CODEC_H
#define CHAIN_CODEC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain.pb-c.h"
#include "chain_err.h"
#include "chain_limits.h"

#define CHAIN_TX_TYPES_MAX 256u

struct chain_exec_ctx; /* chain_state.h */
struct chain_tx;

/* One transaction type.  decode validates the payload statically (no state)
 * and returns the unpacked message in *msg, freed with free_payload.  apply
 * executes it against state; a returned error rolls back the transaction's
 * writes (its nonce still advances) and is recorded as its result. */
struct chain_tx_handler {
    const char *name;
    int (*decode)(const uint8_t *payload, size_t len, void **msg /* OUT */);
    void (*free_payload)(void *msg);
    int (*apply)(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg);
};

/* End-of-block step (clearing, settlement): runs after the block's
 * transactions, before the state root is computed.  An error fails the block. */
typedef int (*chain_end_block_fn)(struct chain_exec_ctx *ctx, void *arg);

#define CHAIN_END_BLOCK_HOOKS_MAX 8u

struct chain_registry {
    struct chain_tx_handler handlers[CHAIN_TX_TYPES_MAX];
    bool present[CHAIN_TX_TYPES_MAX];
    chain_end_block_fn hooks[CHAIN_END_BLOCK_HOOKS_MAX];
    void *hook_args[CHAIN_END_BLOCK_HOOKS_MAX];
    size_t nhooks;
};

void chain_registry_init(struct chain_registry *r);
/* Errors: DUPLICATE_HANDLER, INVALID_ARG (type 0 or >= CHAIN_TX_TYPES_MAX). */
int chain_registry_add(struct chain_registry *r, uint32_t type, const struct chain_tx_handler *h) CHAIN_MUST_USE;
/* Errors: INVALID_ARG when the hook table is full. */
int chain_registry_add_hook(struct chain_registry *r, chain_end_block_fn fn, void *arg) CHAIN_MUST_USE;
const struct chain_tx_handler *chain_registry_get(const struct chain_registry *r, uint32_t type);

/* A decoded, not yet verified transaction.  Owns its unpacked messages. */
struct chain_tx {
    uint8_t hash[CHAIN_HASH_BYTES]; /* H(TAG_TX, envelope bytes as received) */
    const uint8_t *signer;          /* 32 bytes, valid while the tx lives */
    const uint8_t *signature;       /* 64 bytes */
    const uint8_t *body;            /* the signed bytes */
    size_t body_len;
    const char *chain_id;
    uint64_t nonce;
    uint32_t type;
    const struct chain_tx_handler *handler;
    void *payload;                  /* handler's decoded payload */
    Gl__Tx *env_;
    Gl__TxBody *body_;
};

/* Decode an envelope, its body and its payload.  Errors: DECODE_* (never an
 * assert).  On error *tx is left empty (deinit is still safe). */
int chain_tx_decode(const struct chain_registry *reg, const uint8_t *bytes, size_t len,
                    struct chain_tx *tx /* OUT */) CHAIN_MUST_USE;
void chain_tx_deinit(struct chain_tx *tx); /* accepts a zeroed or failed tx */

/* Verify the signature: Ed25519(signer, TAG_TXSIG || body).  BAD_SIG. */
int chain_tx_verify(const struct chain_tx *tx) CHAIN_MUST_USE;

/* Build and sign an envelope (clients, tests, the demo).  *out is malloc'd. */
int chain_tx_build(const char *chain_id, uint64_t nonce, uint32_t type, const uint8_t *payload,
                   size_t payload_len, const uint8_t pk[static CHAIN_PK_BYTES],
                   const uint8_t sk[static CHAIN_SK_BYTES], uint8_t **out, size_t *out_len) CHAIN_MUST_USE;

/* Strict unpack of any message: size limit, well-formed, no unknown fields,
 * canonical.  *out is freed with protobuf_c_message_free_unpacked(*out, NULL).
 * Errors: DECODE_TOO_LARGE, DECODE_MALFORMED, DECODE_TRAILING,
 * DECODE_NONCANONICAL.  Used by every decoder in the project. */
int chain_pb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes, size_t len,
                    size_t max_len, ProtobufCMessage **out /* OUT */) CHAIN_MUST_USE;

/* Pack into a malloc'd buffer.  Errors: NOMEM. */
int chain_pb_pack(const ProtobufCMessage *m, uint8_t **out, size_t *out_len) CHAIN_MUST_USE;

/* Field checks for decoders. */
static inline int chain_check_key(ProtobufCBinaryData b)
{
    if (b.len == 0)
        return CHAIN_ERR_DECODE_MISSING_FIELD;
    return b.len == CHAIN_PK_BYTES ? CHAIN_ERR_OK : CHAIN_ERR_DECODE_BAD_LENGTH;
}
static inline int chain_check_money(uint64_t v)
{
    if (v == 0)
        return CHAIN_ERR_ZERO_AMOUNT;
    return v <= (uint64_t)INT64_MAX ? CHAIN_ERR_OK : CHAIN_ERR_OVERFLOW;
}

#endif
