/* chain_proof.h -- proofs of the authenticated state, and their pure verifier.
 *
 * The state is a compressed sparse Merkle tree over 256-bit key hashes
 * (DESIGN.md, Chain): a leaf sits at the shallowest depth where its key
 * prefix is unique, an empty subtree hashes to 32 zero bytes, and
 *
 *     leaf  = H(TAG_LEAF,  key_hash || H(TAG_VALUE, value))
 *     inner = H(TAG_INNER, left || right)        (left = bit 0, bits MSB-first)
 *
 * A subtree holding exactly one leaf hashes to that leaf (it is lifted), so
 * the root equals that of the naive 256-level tree with the same rule.
 *
 * This file and chain_proof.c use no LMDB and no allocation: a light client
 * links them alone (with chain_crypto.c and the generated protobuf code). */
#ifndef CHAIN_PROOF_H
#define CHAIN_PROOF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain_err.h"
#include "chain_limits.h"

#define CHAIN_SMT_DEPTH 256u

enum chain_proof_terminal {
    CHAIN_PROOF_TERM_SELF = 0,   /* membership: the terminal is the queried key's own leaf */
    CHAIN_PROOF_TERM_EMPTY = 1,  /* non-membership: the path ends in an empty subtree */
    CHAIN_PROOF_TERM_OTHER = 2,  /* non-membership: the path ends in another key's leaf */
};

struct chain_proof {
    uint32_t depth;                                      /* levels from the root, 0..256 */
    uint8_t present[CHAIN_SMT_DEPTH / 8];                /* bit i (LSB-first in byte i/8) */
    uint8_t siblings[CHAIN_SMT_DEPTH][CHAIN_HASH_BYTES]; /* by level; zero where absent */
    enum chain_proof_terminal terminal;
    uint8_t other_key_hash[CHAIN_HASH_BYTES];            /* TERM_OTHER only */
    uint8_t other_value_hash[CHAIN_HASH_BYTES];          /* TERM_OTHER only */
};

extern const uint8_t chain_smt_empty[CHAIN_HASH_BYTES]; /* all zero */

/* Path of a state key: H(TAG_KEY, key). */
void chain_state_key_hash(uint8_t out[static CHAIN_HASH_BYTES], const void *key, size_t len);
/* H(TAG_VALUE, value). */
void chain_value_hash(uint8_t out[static CHAIN_HASH_BYTES], const void *value, size_t len);
/* H(TAG_LEAF, key_hash || value_hash). */
void chain_leaf_hash(uint8_t out[static CHAIN_HASH_BYTES],
                     const uint8_t key_hash[static CHAIN_HASH_BYTES],
                     const uint8_t value_hash[static CHAIN_HASH_BYTES]);
/* H(TAG_INNER, left || right). */
void chain_inner_hash(uint8_t out[static CHAIN_HASH_BYTES], const uint8_t left[static CHAIN_HASH_BYTES],
                      const uint8_t right[static CHAIN_HASH_BYTES]);
/* Bit i of a 256-bit path, MSB-first (bit 0 is the top bit of byte 0). */
static inline unsigned chain_path_bit(const uint8_t path[static CHAIN_HASH_BYTES], unsigned i)
{
    return (unsigned)(path[i >> 3] >> (7u - (i & 7u))) & 1u;
}

/* Verify a proof against root.  value_hash != NULL claims the key maps to a
 * value with that hash; value_hash == NULL claims the key is absent.
 * Pure: no allocation, no I/O.  Rejects non-canonical proofs (present bits
 * past depth, an all-zero sibling sent as present, a leaf deeper than its
 * compressed position).  Returns CHAIN_ERR_OK or CHAIN_ERR_PROOF_INVALID. */
int chain_proof_verify(const uint8_t root[static CHAIN_HASH_BYTES],
                       const uint8_t key_hash[static CHAIN_HASH_BYTES], const uint8_t *value_hash,
                       const struct chain_proof *proof) CHAIN_MUST_USE;

/* Convenience: verify that key (raw state key) maps to value (raw bytes), or
 * is absent when value == NULL. */
int chain_proof_verify_kv(const uint8_t root[static CHAIN_HASH_BYTES], const void *key,
                          size_t key_len, const void *value, size_t value_len,
                          const struct chain_proof *proof) CHAIN_MUST_USE;

/* Encode as a gl.StateProof message.  *out is malloc'd; caller frees. */
int chain_proof_encode(const struct chain_proof *proof, uint8_t **out, size_t *out_len) CHAIN_MUST_USE;
/* Decode a gl.StateProof, strictly (canonical bytes only, all limits).
 * Errors: DECODE_*; never asserts on input. */
int chain_proof_decode(const uint8_t *bytes, size_t len, struct chain_proof *proof /* OUT */) CHAIN_MUST_USE;

#endif
