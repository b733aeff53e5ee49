/* node_lightclient.h -- verify what a node says, as a light client (DESIGN.md, Light client).
 *
 * Trust comes from the genesis file only: its chain id, its engine and its
 * validator keys.  A header is believed when its bytes hash to the block
 * hash, it names this chain and the genesis validator set, and a commit
 * certificate over that hash carries a quorum of genesis validators'
 * signatures (cons_cert_check, with the engine's quorum).  A value is
 * believed when its proof verifies against the certified header's state
 * root (chain_proof_verify_kv).  Nothing a node sends besides those bytes
 * is used: the numbers printed come from the proven value, and a node whose
 * convenience fields ("balance", "nonce") disagree with it is refused.
 *
 * The layers: byte-level checks (node_lc_verify_header, node_lc_verify_kv),
 * JSON-level checks of the RPC results (node_lc_check_*_json), and reads
 * through a node (node_lc_head, node_lc_read*: get_header and get_state over a
 * transport the caller supplies), so that a test, gridctl, or a tampering
 * proxy test can use any of them.  Every value gridctl prints goes through
 * node_lc_read*: the caller computes the state key itself (chain_key_account,
 * the market's mkt_key_*), asks get_state for exactly that key, and decodes
 * the proven bytes here -- a node can neither answer for another key nor
 * decode a value for us. */
#ifndef NODE_LIGHTCLIENT_H
#define NODE_LIGHTCLIENT_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain_ledger.h"
#include "chain_limits.h"
#include "cons.h"

#define NODE_LC_ERRORS(X)                                                                          \
    X(OK, 0, "ok")                                                                                 \
    X(NOMEM, -1, "out of memory")                                                                  \
    X(BAD_GENESIS, -2, "the genesis file is not usable")                                           \
    X(BAD_RESPONSE, -3,                                                                            \
      "the node's answer is malformed (a field is missing, of the wrong type or not hex)")         \
    X(HEADER_MALFORMED, -4, "the header bytes do not decode as a block header")                    \
    X(HEADER_HASH, -5, "the header bytes do not hash to the block hash the node claims")           \
    X(HEIGHT_MISMATCH, -6, "the node answered for another height than asked")                      \
    X(WRONG_CHAIN, -7, "the header belongs to another chain than the genesis file's")              \
    X(VALSET_CHANGED, -8, "the header names another validator set than the genesis file's")        \
    X(NO_CERT, -9, "the node sent no commit certificate for this header")                          \
    X(CERT_MISMATCH, -10, "the certificate is for another block than this header")                 \
    X(CERT_INVALID, -11,                                                                           \
      "the certificate lacks a quorum of valid signatures by genesis validators")                  \
    X(KEY_MISMATCH, -12, "the node answered for another key or account than asked")                \
    X(PROOF_MALFORMED, -13, "the proof does not decode")                                           \
    X(PROOF_INVALID, -14, "the value and proof do not verify against the certified state root")    \
    X(VALUE_MALFORMED, -15, "the proven value does not decode")                                    \
    X(FIELDS_MISMATCH, -16, "the node's convenience fields disagree with the proven value")        \
    X(NO_ANSWER, -17, "the node did not answer, or answered with an error")

enum node_lc_err {
#define NODE_LC_ENUM_(name, code, msg) NODE_LC_ERR_##name = (code),
    NODE_LC_ERRORS(NODE_LC_ENUM_)
#undef NODE_LC_ENUM_
};
const char *node_lc_err_name(int err); /* "CERT_INVALID", never NULL */
const char *node_lc_strerror(int err); /* never NULL */

/* What the genesis file makes us trust. */
struct node_lc_trust {
    char chain_id[CHAIN_CHAIN_ID_MAX_BYTES + 1];
    enum cons_engine engine;
    uint32_t n; /* validators, 1..CONS_NODES_MAX */
    uint8_t keys[CONS_NODES_MAX][CONS_KEY_BYTES];
    uint64_t power[CONS_NODES_MAX];
    uint8_t valset_hash[CHAIN_HASH_BYTES]; /* chain_valset_hash of the genesis validators */
};

/* A header that passed node_lc_verify_header. */
struct node_lc_header {
    uint64_t height;
    uint64_t time_ms;
    uint8_t hash[CHAIN_HASH_BYTES];
    uint8_t state_root[CHAIN_HASH_BYTES];
};

/* Read chain_id, engine and validators from genesis.json text (interface (2)
 * of issue 5).  Returns OK or BAD_GENESIS with the reason in why. */
int node_lc_trust_from_genesis(const char *text, size_t len, struct node_lc_trust *out /* OUT */,
                               char *why, size_t whylen) __attribute__((warn_unused_result));

/* The signature check certificates use: Ed25519 over CHAIN_TAG_VOTE ||
 * cons_vote_msg (the same rule gridnode signs with).  Fits cons_cert_check. */
bool node_lc_vote_verify(void *ctx, const uint8_t key[CONS_KEY_BYTES], const uint8_t *msg,
                         size_t len, const uint8_t sig[CONS_SIG_BYTES]);

/* Check header bytes against the trust: decode, hash (== claimed_hash when
 * not NULL), height == want_height, chain id, validator-set hash, and the
 * certificate (NULL: NO_CERT).  Fills *out on OK. */
int node_lc_verify_header(const struct node_lc_trust *t, const uint8_t *header, size_t header_len,
                          const uint8_t *claimed_hash, uint64_t want_height,
                          const struct cons_cert *cert, struct node_lc_header *out /* OUT */)
    __attribute__((warn_unused_result));

/* Check that raw state key maps to value (NULL: is absent) under the
 * verified header's state root, given the encoded gl.StateProof. */
int node_lc_verify_kv(const struct node_lc_header *h, const uint8_t *key, size_t key_len,
                      const uint8_t *value, size_t value_len, const uint8_t *proof,
                      size_t proof_len) __attribute__((warn_unused_result));

/* ---- the same over the JSON results of rpc/ (rpc/README.md) ---- */

/* A get_header result for height want_height (UINT64_MAX: any). */
int node_lc_check_header_json(const struct node_lc_trust *t, const json_t *result,
                              uint64_t want_height, struct node_lc_header *out /* OUT */, char *why,
                              size_t whylen) __attribute__((warn_unused_result));

/* A get_account result for pk at the verified header's height; *out comes
 * from the proven value (exists == false when the proof shows absence). */
int node_lc_check_account_json(const struct node_lc_header *h, const json_t *result,
                               const uint8_t pk[static CHAIN_PK_BYTES],
                               struct chain_account *out /* OUT */, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* A get_state result for key at the verified header's height.  *value is
 * malloc'd (NULL when absent); caller frees. */
int node_lc_check_state_json(const struct node_lc_header *h, const json_t *result,
                             const uint8_t *key, size_t key_len, uint8_t **value /* OUT */,
                             size_t *value_len /* OUT */, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* A get_state result for key, its proven value decoded strictly as desc
 * (chain_pb_unpack: canonical bytes, no unknown fields).  *msg is NULL when
 * the proof shows the key absent; free it with
 * protobuf_c_message_free_unpacked.  VALUE_MALFORMED when the proven bytes
 * are not a desc. */
int node_lc_check_msg_json(const struct node_lc_header *h, const json_t *result, const uint8_t *key,
                           size_t key_len, const ProtobufCMessageDescriptor *desc,
                           ProtobufCMessage **msg /* OUT */, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* Lower/upper-case hex of exactly n bytes from a JSON string.  0 or -1. */
int node_lc_hex(const json_t *s, uint8_t *out, size_t n);

/* ---- reading through a node ---- */

/* One JSON-RPC call: params is stolen (NULL for none).  Returns the result
 * (a new reference), or NULL with the reason in why (no answer, or the
 * node's JSON-RPC error).  gridctl's is node_rpc_call over HTTP; tests plug
 * in rpc_dispatch, or a tampering wrapper of it. */
typedef json_t *(*node_lc_call_fn)(void *ctx, const char *method, json_t *params, char *why,
                                   size_t whylen);

struct node_lc_client {
    node_lc_call_fn call;
    void *ctx;
    const struct node_lc_trust *trust; /* borrowed; required unless unverified */
    /* --no-verify: take the node's word -- no certificate, no proof.  The
     * answer must still be for the key asked, and the value is still
     * decoded here, not taken from the node's convenience fields. */
    bool unverified;
};

/* A follower learns the certificate of its newest block one round later, so
 * node_lc_head looks up to this many heights below the head for one. */
#define NODE_LC_CERT_LOOKBACK 16

/* The newest header the node can certify: get_header for the head, then for
 * the heights below it while the node has no certificate (at most
 * NODE_LC_CERT_LOOKBACK).  Unverified: the head as the node says (height and
 * claimed hash only).  OK; NO_ANSWER; NO_CERT when nothing within reach is
 * certified yet (retry later); or why the header does not verify. */
int node_lc_head(const struct node_lc_client *c, struct node_lc_header *out /* OUT */, char *why,
                 size_t whylen) __attribute__((warn_unused_result));

/* get_state for key at h's height, checked (node_lc_check_state_json; only
 * the key and height when unverified).  *value malloc'd, NULL when absent. */
int node_lc_state_at(const struct node_lc_client *c, const struct node_lc_header *h,
                     const uint8_t *key, size_t key_len, uint8_t **value /* OUT */,
                     size_t *value_len /* OUT */, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* The same, decoded as desc (node_lc_check_msg_json); *msg NULL when absent. */
int node_lc_msg_at(const struct node_lc_client *c, const struct node_lc_header *h,
                   const uint8_t *key, size_t key_len, const ProtobufCMessageDescriptor *desc,
                   ProtobufCMessage **msg /* OUT */, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* The verified value at key in one call: node_lc_head, then node_lc_msg_at
 * at that header (*h is the header it was proven under).  The read behind
 * gridctl's order show, results and bill. */
int node_lc_read_msg(const struct node_lc_client *c, const uint8_t *key, size_t key_len,
                     const ProtobufCMessageDescriptor *desc, struct node_lc_header *h /* OUT */,
                     ProtobufCMessage **msg /* OUT */, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* An account ("a/" || pk through get_state, chain_account_decode) at h;
 * out->exists false when proven absent.  Behind balance and every nonce
 * gridctl signs with. */
int node_lc_account_at(const struct node_lc_client *c, const struct node_lc_header *h,
                       const uint8_t pk[static CHAIN_PK_BYTES], struct chain_account *out /* OUT */,
                       char *why, size_t whylen) __attribute__((warn_unused_result));

#endif
