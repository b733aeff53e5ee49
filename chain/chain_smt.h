/* chain_smt.h -- the authenticated state: a compressed sparse Merkle tree in LMDB.
 *
 * Jellyfish-style storage (Diem's JMT, radix 16): every node is written once,
 * under the key  version(8, big-endian) || nibble depth(1) || path(32,
 * nibbles past the depth zeroed), and never changed (record layouts:
 * chain_smt.c).  An internal node covers four binary levels and records for
 * each of its 16 children its kind, the version it was written at, and its
 * hash, so reading the tree at a version is a walk down from that version's
 * root.  Hashes and proofs are those of the binary tree (chain_proof.h); only
 * the storage is radix 16.  New nodes of a version sort after all older ones,
 * so a block's writes append to the B-tree.
 *
 * Updating is two steps, as block execution is (DESIGN.md, Chain):
 *   chain_smt_compute() reads a version through a read transaction and builds
 *   an in-memory batch (new nodes, stale nodes, root); nothing is written.
 *   chain_smt_batch_write() puts the batch into a write transaction.
 * A batch that is never written leaves nothing behind.
 *
 * Hashing rules and proofs: chain_proof.h. */
#ifndef CHAIN_SMT_H
#define CHAIN_SMT_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "chain_err.h"
#include "chain_proof.h"

#define CHAIN_SMT_NO_VERSION UINT64_MAX /* base of the very first batch: the empty tree */

struct chain_smt {
    MDB_dbi nodes; /* version||nibble depth||path -> node record */
    MDB_dbi stale; /* stale_since_version||node key -> "" (for pruning) */
    MDB_dbi roots; /* version -> root reference */
};

struct chain_smt_update {
    uint8_t key_hash[CHAIN_HASH_BYTES];
    const uint8_t *value; /* NULL deletes the key; borrowed until compute returns */
    size_t value_len;     /* <= CHAIN_STATE_VALUE_MAX_BYTES */
};

struct chain_smt_batch; /* opaque: new nodes, stale keys, new root */

/* Open (creating if needed) the three named databases inside txn.  The env
 * needs maxdbs for them.  Errors: STORE. */
int chain_smt_open(MDB_txn *txn, struct chain_smt *smt /* OUT */) CHAIN_MUST_USE;

/* Root hash at version.  Errors: VERSION_PRUNED (no such version), STORE. */
int chain_smt_root(MDB_txn *txn, const struct chain_smt *smt, uint64_t version,
                   uint8_t root[static CHAIN_HASH_BYTES] /* OUT */) CHAIN_MUST_USE;

/* Newest version written, or CHAIN_SMT_NO_VERSION when none.  Errors: STORE. */
int chain_smt_latest(MDB_txn *txn, const struct chain_smt *smt, uint64_t *version /* OUT */) CHAIN_MUST_USE;

/* Apply updates to the tree at base_version (CHAIN_SMT_NO_VERSION: empty tree)
 * giving new_version (> base_version, or any when base is NO_VERSION).  Sorts
 * ups in place; keys must be distinct (INVALID_ARG otherwise).  Deleting an
 * absent key is a no-op.  Reads through txn only; writes nothing.  Each dirty
 * node is hashed once.  *out is owned by the caller (chain_smt_batch_free).
 * Errors: NOMEM, STORE, VERSION_PRUNED, INVALID_ARG. */
int chain_smt_compute(MDB_txn *txn, const struct chain_smt *smt, uint64_t base_version,
                      uint64_t new_version, struct chain_smt_update *ups, size_t n,
                      struct chain_smt_batch **out /* OUT */) CHAIN_MUST_USE;

/* The root after the batch; valid while the batch lives. */
const uint8_t *chain_smt_batch_root(const struct chain_smt_batch *b);
/* Number of nodes the batch will write (for metrics and benchmarks). */
size_t chain_smt_batch_nodes(const struct chain_smt_batch *b);
/* BLAKE2b calls the batch's compute made: value, leaf and inner hashes (for
 * benchmarks: the hashing floor of a batch). */
size_t chain_smt_batch_hashes(const struct chain_smt_batch *b);

/* Write the batch (nodes, stale index, root) inside the write transaction wtxn.
 * Errors: STORE, STORE_FULL. */
int chain_smt_batch_write(MDB_txn *wtxn, const struct chain_smt *smt,
                          const struct chain_smt_batch *b) CHAIN_MUST_USE;

void chain_smt_batch_free(struct chain_smt_batch *b); /* accepts NULL */

/* Value of key_hash at version.  *value points into LMDB memory, valid until
 * txn ends.  Errors: NOT_FOUND, VERSION_PRUNED, STORE. */
int chain_smt_get(MDB_txn *txn, const struct chain_smt *smt, uint64_t version,
                  const uint8_t key_hash[static CHAIN_HASH_BYTES], const uint8_t **value /* OUT */,
                  size_t *value_len /* OUT */) CHAIN_MUST_USE;

/* Proof for key_hash at version: membership when the key is present (then
 * value and value_len are set as in chain_smt_get, else NULL/0), otherwise
 * non-membership.  Errors: VERSION_PRUNED, STORE. */
int chain_smt_prove(MDB_txn *txn, const struct chain_smt *smt, uint64_t version,
                    const uint8_t key_hash[static CHAIN_HASH_BYTES], struct chain_proof *proof /* OUT */,
                    const uint8_t **value /* OUT */, size_t *value_len /* OUT */) CHAIN_MUST_USE;

/* Delete every node that no version >= keep_from still references, and the
 * roots of versions < keep_from.  Errors: STORE. */
int chain_smt_prune(MDB_txn *wtxn, const struct chain_smt *smt, uint64_t keep_from,
                    size_t *removed /* OUT, may be NULL */) CHAIN_MUST_USE;

#endif
