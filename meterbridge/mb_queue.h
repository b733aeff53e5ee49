/* mb_queue.h -- the store-and-forward queue of signed readings, in LMDB.
 *
 * A reading is put (one write transaction, fsync'd by LMDB on commit) with
 * its final signed bytes and nonce BEFORE it is first sent; a restart sends
 * the same bytes again.  The same transaction raises the queue's slot
 * high-water mark and next nonce, so no second reading can ever be made for a
 * slot at or below one already made (QUEUE_DUPLICATE_SLOT), even after the
 * first was committed and removed, and no nonce is used twice.  An entry
 * stays until the node reports it committed (mb_queue_remove).  The queue is
 * bounded (QUEUE_FULL) and belongs to one meter key (a queue directory opened
 * with another key is refused).
 *
 * Single process, single thread (gridmeter's main loop). */
#ifndef MB_QUEUE_H
#define MB_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain_limits.h"
#include "mb_err.h"

struct mb_queue;

struct mb_queue_entry {
    uint64_t slot;
    uint64_t nonce;
    uint64_t next_try_ms;           /* not before this time (backoff) */
    uint32_t attempts;              /* failed attempts so far */
    uint8_t hash[CHAIN_HASH_BYTES]; /* H(TAG_TX, tx) */
    uint8_t *tx;                    /* malloc'd copies, freed by mb_queue_entry_free */
    size_t tx_len;
    uint8_t *payload;
    size_t payload_len;
};

/* Open (creating dir and the LMDB environment if needed).  map_bytes bounds
 * the file; max_entries bounds the queue.  Errors: QUEUE_STORE, IO,
 * INVALID_ARG (the directory belongs to another meter key), NOMEM. */
int mb_queue_open(struct mb_queue **q /* OUT */, const char *dir, uint64_t map_bytes,
                  uint32_t max_entries, const uint8_t pk[static CHAIN_PK_BYTES]) MB_MUST_USE;
void mb_queue_close(struct mb_queue *q); /* accepts NULL */

/* The nonce the next put must carry, and the lowest slot it may be for. */
uint64_t mb_queue_next_nonce(const struct mb_queue *q);
uint64_t mb_queue_next_slot(const struct mb_queue *q);

/* Adopt the node's account nonce when it is ahead (e.g. a queue directory
 * lost while readings were on chain); never goes down.  Errors: QUEUE_STORE. */
int mb_queue_raise_nonce(struct mb_queue *q, uint64_t nonce) MB_MUST_USE;

/* Append a signed reading for slot with nonce == mb_queue_next_nonce().
 * Durable when this returns OK.  Errors: QUEUE_DUPLICATE_SLOT (slot below
 * next_slot), QUEUE_FULL, INVALID_ARG (wrong nonce), QUEUE_STORE. */
int mb_queue_put(struct mb_queue *q, uint64_t slot, uint64_t nonce, const uint8_t *tx,
                 size_t tx_len, const uint8_t *payload, size_t payload_len,
                 uint64_t now_ms) MB_MUST_USE;

/* The first entry with slot >= from_slot (copies).  QUEUE_EMPTY when none. */
int mb_queue_next(struct mb_queue *q, uint64_t from_slot,
                  struct mb_queue_entry *e /* OUT */) MB_MUST_USE;
void mb_queue_entry_free(struct mb_queue_entry *e); /* accepts a zeroed entry */

/* Record an attempt: new attempts count and next try time. */
int mb_queue_reschedule(struct mb_queue *q, uint64_t slot, uint32_t attempts,
                        uint64_t next_try_ms) MB_MUST_USE;
/* Drop a committed entry.  QUEUE_EMPTY when it is not there. */
int mb_queue_remove(struct mb_queue *q, uint64_t slot) MB_MUST_USE;
/* Entries held now. */
uint32_t mb_queue_count(const struct mb_queue *q);

/* Capped exponential backoff: min(max_ms, min_ms * 2^attempts). */
uint64_t mb_backoff_ms(uint32_t attempts, uint32_t min_ms, uint32_t max_ms);

#endif
