/* chain_block.h -- the ledger instance: genesis, block execution and commit.
 *
 * Execution is two steps (DESIGN.md, Chain):
 *   chain_build_block / chain_exec_block  read the head through an LMDB read
 *       snapshot and produce a result: write-set, tree batch, state root and
 *       the block.  Nothing is written; a result that is freed without being
 *       committed leaves nothing behind.
 *   chain_commit  writes one result in one LMDB write transaction (one fsync).
 *
 * Execution reads no clock, no random source and no float: block time comes
 * from the header.  A transaction whose business rule fails (insufficient
 * funds, unauthorised) is still included: its writes are rolled back, its
 * nonce advances and its result code is kept.  A transaction that cannot be
 * included at all (bad signature, wrong chain, unknown signer, wrong nonce)
 * makes a received block invalid, and is skipped by the proposer. */
#ifndef CHAIN_BLOCK_H
#define CHAIN_BLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "chain_codec.h"
#include "chain_ledger.h"
#include "chain_sigcache.h"
#include "chain_smt.h"
#include "chain_state.h"

struct chain_validator {
    uint8_t key[CHAIN_PK_BYTES];
    uint64_t power;
};

struct chain_genesis_account {
    uint8_t pk[CHAIN_PK_BYTES];
    int64_t balance; /* micro-units; counted as minted */
    uint32_t roles;
};

struct chain_genesis {
    const char *chain_id;
    uint64_t time_ms;
    const struct chain_genesis_account *accounts;
    size_t naccounts;
    const struct chain_validator *validators;
    size_t nvalidators;
};

struct chain_head {
    uint64_t height;
    uint8_t hash[CHAIN_HASH_BYTES];
    uint64_t time_ms;
    uint8_t state_root[CHAIN_HASH_BYTES];
    uint8_t valset_hash[CHAIN_HASH_BYTES];
};

struct chain {
    struct chain_store store;
    struct chain_registry reg;
    char chain_id[CHAIN_CHAIN_ID_MAX_BYTES + 1];
    struct chain_head head;
    bool has_head;                   /* false until genesis */
    struct chain_sigcache *sigcache; /* optional, borrowed: verified tx hashes */
};

/* Open the store in dir, register the ledger transaction types, load the
 * head if there is one.  Other modules register their types into c->reg
 * after this.  Errors: STORE, NOMEM. */
int chain_open(struct chain *c, const char *dir, const struct chain_store_opts *opts) CHAIN_MUST_USE;
void chain_close(struct chain *c); /* accepts a zeroed chain */

/* Write the genesis state and block 0 into an empty store.
 * Errors: INVALID_ARG (store not empty, bad genesis), STORE. */
int chain_genesis(struct chain *c, const struct chain_genesis *g) CHAIN_MUST_USE;

struct chain_exec_result {
    struct chain_ws ws;
    struct chain_smt_batch *batch;
    uint64_t height;
    uint64_t base_height;
    uint8_t prev_hash[CHAIN_HASH_BYTES];
    uint8_t state_root[CHAIN_HASH_BYTES];
    uint8_t block_hash[CHAIN_HASH_BYTES];
    uint64_t time_ms;
    size_t ntx;
    uint8_t (*tx_hashes)[CHAIN_HASH_BYTES];
    int32_t *tx_results;        /* CHAIN_ERR_OK or the business error of each tx */
    size_t nskipped;            /* proposer only: candidates left out */
    uint8_t *header_bytes;
    size_t header_len;
    uint8_t *block_bytes;       /* gl.Block */
    size_t block_len;
};

/* Proposer: execute candidate transactions (encoded envelopes) on the head
 * and build the block with its state root.  Candidates that cannot be
 * included are skipped (counted in nskipped).  Errors: STORE, NOMEM,
 * INVALID_ARG (no genesis), BLOCK_BAD_TIME, BLOCK_TOO_MANY_TXS. */
int chain_build_block(struct chain *c, uint64_t time_ms, const uint8_t proposer[static CHAIN_PK_BYTES],
                      const uint8_t *const *txs, const size_t *lens, size_t ntx,
                      struct chain_exec_result *out /* OUT */) CHAIN_MUST_USE;

/* Validator, sync: decode a received gl.Block, check it extends the head,
 * execute it and check its roots.  Errors: DECODE_*, BLOCK_*, BAD_SIG,
 * WRONG_CHAIN, BAD_NONCE, UNKNOWN_ACCOUNT, STORE, NOMEM. */
int chain_exec_block(struct chain *c, const uint8_t *block, size_t len,
                     struct chain_exec_result *out /* OUT */) CHAIN_MUST_USE;

/* Persist a result in one write transaction.  Errors: BLOCK_STALE (the head
 * moved since execution), STORE, STORE_FULL. */
int chain_commit(struct chain *c, const struct chain_exec_result *r) CHAIN_MUST_USE;

void chain_exec_result_free(struct chain_exec_result *r); /* accepts a zeroed result */

/* Merkle root of a block's transaction hashes (zero for none):
 * pairs hashed with TAG_TXTREE, an odd last node carried up unchanged. */
void chain_tx_root(uint8_t root[static CHAIN_HASH_BYTES], const uint8_t (*hashes)[CHAIN_HASH_BYTES], size_t n);

/* Hash of an encoded validator set: H(TAG_VALSET, bytes). */
int chain_valset_hash(const struct chain_validator *v, size_t n, uint8_t out[static CHAIN_HASH_BYTES]) CHAIN_MUST_USE;

/* A committed block's bytes by height (valid until txn ends).  NOT_FOUND. */
int chain_block_get(const struct chain *c, MDB_txn *txn, uint64_t height, const uint8_t **bytes /* OUT */,
                    size_t *len /* OUT */) CHAIN_MUST_USE;

/* Result of a committed transaction.  NOT_FOUND. */
int chain_tx_lookup(const struct chain *c, MDB_txn *txn, const uint8_t hash[static CHAIN_HASH_BYTES],
                    uint64_t *height /* OUT */, uint32_t *index /* OUT */, int32_t *result /* OUT */) CHAIN_MUST_USE;

#endif
