/* chain_limits.h -- every size limit on bytes that come from outside, in one place.
 *
 * Decoders check these before and after protobuf-c allocates anything, so a
 * peer, a meter or a user can never make a node allocate more than this.  */
#ifndef CHAIN_LIMITS_H
#define CHAIN_LIMITS_H

#define CHAIN_PK_BYTES 32u       /* Ed25519 public key */
#define CHAIN_SIG_BYTES 64u      /* Ed25519 signature */
#define CHAIN_SK_BYTES 64u       /* Ed25519 secret key (seed || pk) */
#define CHAIN_HASH_BYTES 32u     /* BLAKE2b-256 */

#define CHAIN_TX_MAX_BYTES 4096u        /* whole envelope Tx{body_bytes, signer, signature} */
#define CHAIN_TX_BODY_MAX_BYTES 3968u   /* TxBody, leaves room for signer and signature */
#define CHAIN_TX_PAYLOAD_MAX_BYTES 3584u
#define CHAIN_CHAIN_ID_MAX_BYTES 64u
#define CHAIN_BANK_REF_MAX_BYTES 64u
#define CHAIN_BANK_ACCOUNT_MAX_BYTES 64u
#define CHAIN_METER_KEYS_MAX 8u
#define CHAIN_NAME_MAX_BYTES 64u

#define CHAIN_BLOCK_MAX_TXS 20000u
#define CHAIN_BLOCK_MAX_BYTES (CHAIN_BLOCK_MAX_TXS * (CHAIN_TX_MAX_BYTES + 8u) + 1024u)
#define CHAIN_HEADER_MAX_BYTES 512u

#define CHAIN_STATE_KEY_MAX_BYTES 128u
#define CHAIN_STATE_VALUE_MAX_BYTES 65536u
#define CHAIN_VALIDATORS_MAX 64u

#define CHAIN_PROOF_MAX_BYTES 16384u   /* a 256-deep proof is 8.3 KB; anything larger is garbage */

/* Money: micro-units in int64; 1 token = 1,000,000 micro-units. */
#define CHAIN_MICRO_PER_TOKEN 1000000LL

#endif
