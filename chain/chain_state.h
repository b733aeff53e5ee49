/* chain_state.h -- the LMDB store, and the write-set that block execution fills.
 *
 * Execution never writes to LMDB.  It reads through a read transaction (the
 * snapshot of the last committed block) and records every write in a
 * write-set held in memory; a journal lets one failing transaction be undone
 * without touching the others.  Only chain_commit (chain_block.h) turns a
 * write-set into one LMDB write transaction.
 *
 * Databases (one env):  meta     "head" -> gl.BlockHeader bytes of the head
 *                       blocks   height (8, BE) -> gl.Block bytes
 *                       hashes   block hash -> height (8, BE)
 *                       state    raw state key -> value (the latest version)
 *                       txs      tx hash -> height (8, BE) || index (4) || result (4, BE int)
 *                       smt_*    the authenticated tree (chain_smt.h), version = height */
#ifndef CHAIN_STATE_H
#define CHAIN_STATE_H

#include <lmdb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain_codec.h"
#include "chain_err.h"
#include "chain_smt.h"

struct chain_store {
    MDB_env *env;
    MDB_dbi meta, blocks, hashes, state, txs;
    struct chain_smt smt;
};

struct chain_store_opts {
    size_t map_size;   /* bytes; 0 = 4 GiB */
    bool no_sync;      /* MDB_NOSYNC: benchmarks and tests only */
};

/* Open or create the store in directory dir (created if missing).
 * Errors: STORE (with a message on stderr naming the path and the cause). */
int chain_store_open(struct chain_store *s, const char *dir, const struct chain_store_opts *opts) CHAIN_MUST_USE;
void chain_store_close(struct chain_store *s); /* accepts a zeroed store */

/* Map an LMDB return code to the result space. */
int chain_store_err(int mdb_rc);

/* ---- write-set ---- */

enum chain_ws_state { CHAIN_WS_PASS = 0, CHAIN_WS_SET = 1, CHAIN_WS_DEL = 2 };

struct chain_ws_entry {
    uint8_t key_hash[CHAIN_HASH_BYTES];
    const uint8_t *key; /* arena */
    const uint8_t *val; /* arena; NULL unless SET */
    uint32_t key_len;
    uint32_t val_len;
    enum chain_ws_state st;
};

struct chain_ws_undo {
    uint32_t entry;
    enum chain_ws_state st;
    const uint8_t *val;
    uint32_t val_len;
};

struct chain_arena_chunk;

/* The key hashes of the last few keys the write-set looked up: a transfer
 * reads and writes the same two accounts several times, and each lookup
 * would otherwise cost a BLAKE2b of the key.  Exact key comparison, so it
 * changes nothing but speed. */
#define CHAIN_WS_MEMO 4u
struct chain_ws_memo {
    uint32_t key_len; /* 0: unused */
    uint8_t key[CHAIN_STATE_KEY_MAX_BYTES];
    uint8_t key_hash[CHAIN_HASH_BYTES];
};

struct chain_ws {
    struct chain_ws_entry *entries;
    size_t nentries, cap_entries;
    uint32_t *table; /* open addressing, entry index + 1, 0 = free */
    size_t table_cap;
    struct chain_ws_undo *journal;
    size_t njournal, cap_journal;
    struct chain_arena_chunk *arena;
    struct chain_ws_memo memo[CHAIN_WS_MEMO];
    unsigned memo_next; /* the slot the next miss replaces */
};

void chain_ws_init(struct chain_ws *ws);
void chain_ws_deinit(struct chain_ws *ws); /* accepts NULL */
/* Arena allocation living as long as the write-set.  NULL on out of memory. */
void *chain_ws_alloc(struct chain_ws *ws, size_t n);
size_t chain_ws_mark(const struct chain_ws *ws);
void chain_ws_rollback(struct chain_ws *ws, size_t mark);

/* ---- execution context ---- */

struct chain_exec_ctx {
    const struct chain_store *store;
    MDB_txn *snap;          /* read snapshot of the parent block; valid during exec */
    struct chain_ws *ws;
    const char *chain_id;
    uint64_t height;        /* the block being executed */
    uint64_t time_ms;       /* certified block time: the only clock execution sees */
    const uint8_t *proposer;
    uint32_t tx_index;
};

/* Read a state value: the write-set first, then the snapshot.  *val is valid
 * until the write-set or the snapshot ends.  Errors: NOT_FOUND, STORE. */
int chain_state_get(struct chain_exec_ctx *ctx, const void *key, size_t klen, const uint8_t **val /* OUT */,
                    size_t *vlen /* OUT */) CHAIN_MUST_USE;
/* Record a write (the bytes are copied).  Errors: NOMEM, INVALID_ARG (sizes). */
int chain_state_put(struct chain_exec_ctx *ctx, const void *key, size_t klen, const void *val,
                    size_t vlen) CHAIN_MUST_USE;
int chain_state_del(struct chain_exec_ctx *ctx, const void *key, size_t klen) CHAIN_MUST_USE;

/* Protobuf helpers: get decodes strictly (a value that does not decode is a
 * STORE error: state is ours), put packs into the arena. */
int chain_state_get_msg(struct chain_exec_ctx *ctx, const void *key, size_t klen,
                        const ProtobufCMessageDescriptor *desc, ProtobufCMessage **msg /* OUT */) CHAIN_MUST_USE;
int chain_state_put_msg(struct chain_exec_ctx *ctx, const void *key, size_t klen,
                        const ProtobufCMessage *msg) CHAIN_MUST_USE;

/* Read a committed value outside execution (queries, tests): the latest
 * version through any read transaction.  *val valid until txn ends. */
int chain_store_get(const struct chain_store *s, MDB_txn *txn, const void *key, size_t klen,
                    const uint8_t **val /* OUT */, size_t *vlen /* OUT */) CHAIN_MUST_USE;

#endif
