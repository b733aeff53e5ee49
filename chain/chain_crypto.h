/* chain_crypto.h -- hashing with domain tags, and Ed25519 signing, over libsodium.
 *
 * Every hash in gridledger is BLAKE2b-256 over a one-byte domain tag followed
 * by the bytes hashed, so that a transaction hash can never be mistaken for a
 * header hash or a Merkle node (second-preimage separation across uses). */
#ifndef CHAIN_CRYPTO_H
#define CHAIN_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "chain_err.h"
#include "chain_limits.h"

enum chain_tag {
    CHAIN_TAG_TX = 0x01,       /* transaction: hash of the envelope bytes as received */
    CHAIN_TAG_HEADER = 0x02,   /* block header bytes as received */
    CHAIN_TAG_LEAF = 0x03,     /* state tree leaf: key hash || value hash */
    CHAIN_TAG_INNER = 0x04,    /* state tree inner node: left || right */
    CHAIN_TAG_VOTE = 0x05,     /* consensus vote / certificate signature message */
    CHAIN_TAG_KEY = 0x06,      /* state key -> 256-bit tree path */
    CHAIN_TAG_VALUE = 0x07,    /* state value bytes */
    CHAIN_TAG_TXTREE = 0x08,   /* inner node of a block's transaction Merkle tree */
    CHAIN_TAG_VALSET = 0x09,   /* validator set */
    CHAIN_TAG_TXSIG = 0x0a,    /* what a transaction signer signs: tag || body bytes */
};

/* out = BLAKE2b-256(tag || data). */
void chain_hash(uint8_t out[static CHAIN_HASH_BYTES], enum chain_tag tag, const void *data,
                size_t len);
/* out = BLAKE2b-256(tag || a || b): the two-part form used by Merkle nodes. */
void chain_hash2(uint8_t out[static CHAIN_HASH_BYTES], enum chain_tag tag, const void *a,
                 size_t alen, const void *b, size_t blen);

/* Must be called once before anything else (wraps sodium_init).  Returns
 * CHAIN_ERR_INTERNAL when libsodium cannot initialise. */
int chain_crypto_init(void) CHAIN_MUST_USE;

/* Deterministic key pair from a 32-byte seed (tests, demo, key files). */
void chain_keypair_from_seed(uint8_t pk[static CHAIN_PK_BYTES], uint8_t sk[static CHAIN_SK_BYTES],
                             const uint8_t seed[static 32]);
/* Fresh key pair from the OS random source (never used in execution). */
void chain_keypair_random(uint8_t pk[static CHAIN_PK_BYTES], uint8_t sk[static CHAIN_SK_BYTES]);

/* Detached Ed25519 signature over tag || msg. */
void chain_sign(uint8_t sig[static CHAIN_SIG_BYTES], enum chain_tag tag, const uint8_t *msg,
                size_t len, const uint8_t sk[static CHAIN_SK_BYTES]);
/* Returns CHAIN_ERR_OK or CHAIN_ERR_BAD_SIG. */
int chain_verify(const uint8_t sig[static CHAIN_SIG_BYTES], enum chain_tag tag, const uint8_t *msg,
                 size_t len, const uint8_t pk[static CHAIN_PK_BYTES]) CHAIN_MUST_USE;

/* Lower-case hex of n bytes into out (2n+1 bytes incl. NUL). */
void chain_hex(char *out, const uint8_t *bytes, size_t n);
/* Decode exactly 2n hex digits (either case) into n bytes.  Returns 0, or -1
 * on a bad digit or a length other than 2n (out may then be partly written). */
int chain_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t n) CHAIN_MUST_USE;

#endif
