/* node_mempool.h -- transactions waiting for a block.
 *
 * Bounded in count and bytes (pending verifications included).  Admission
 * is two steps: node_mempool_submit does the cheap checks on the caller's
 * thread (size, duplicate, room) and queues the envelope; a pool of worker
 * threads decodes it, checks the chain id and verifies the signature OFF the
 * event loop; the verdict comes back to the loop through a pipe, where the
 * hash goes into chain's sigcache (so block execution does not verify it
 * again), the nonce is checked against the account's committed nonce, and
 * the transaction is admitted (on_admitted: gossip it) or refused.  Every
 * submission ends in exactly one on_result call with the final code.
 *
 * Refusals: DECODE_* and WRONG_CHAIN and BAD_SIG (chain_err), BAD_NONCE (the
 * nonce is already used: stale), NODE_ERR_MEMPOOL_FULL, NODE_ERR_DUPLICATE,
 * NODE_ERR_NONCE_GAP, NODE_ERR_NONCE_TAKEN.
 *
 * Everything except the workers runs on the thread of the event base. */
#ifndef NODE_MEMPOOL_H
#define NODE_MEMPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain_codec.h"
#include "chain_sigcache.h"
#include "node_err.h"

struct event_base;
struct node_mempool;

struct node_mempool_cfg {
    const struct chain_registry *reg; /* read by the workers: must not change while open */
    const char *chain_id;             /* copied */
    struct chain_sigcache *sigcache;  /* optional; touched on the loop thread only */
    size_t max_txs;
    size_t max_bytes;
    unsigned threads;         /* verification workers, >= 1 */
    uint64_t max_nonce_ahead; /* accept nonces < committed + this; 0: 1024 */
    /* The committed nonce of an account (0 for an unknown one).  Called on
     * the loop, at most once per account per committed block. */
    int (*account_nonce)(void *ctx, const uint8_t pk[CHAIN_PK_BYTES], uint64_t *nonce /* OUT */);
    /* A transaction was admitted (bytes valid during the call): gossip it. */
    void (*on_admitted)(void *ctx, const uint8_t *tx, size_t len, void *tag);
    /* The final verdict of a submission; optional. */
    void (*on_result)(void *ctx, const uint8_t hash[CHAIN_HASH_BYTES], int rc, void *tag);
    void *ctx;
};

/* Start the workers.  Errors: NOMEM, INVALID_ARG, NODE_ERR_IO (threads, pipe). */
int node_mempool_open(struct node_mempool **out, struct event_base *base,
                      const struct node_mempool_cfg *cfg) NODE_MUST_USE;
/* Stop the workers (waits for them) and free everything.  Accepts NULL. */
void node_mempool_close(struct node_mempool *mp);

/* Queue an envelope for verification (bytes copied).  Returns 0 (the final
 * verdict follows through on_result) or a refusal known at once:
 * DECODE_TOO_LARGE, NODE_ERR_DUPLICATE, NODE_ERR_MEMPOOL_FULL.  hash OUT
 * either way.  tag is handed back to on_admitted and on_result. */
int node_mempool_submit(struct node_mempool *mp, const uint8_t *tx, size_t len,
                        uint8_t hash[CHAIN_HASH_BYTES] /* OUT */, void *tag) NODE_MUST_USE;

/* Up to max transactions (and max_bytes) for the next block: per account in
 * nonce order from its committed nonce without gaps, accounts in the order
 * their first waiting transaction arrived.  txs[i] stays valid until the
 * next call that changes the pool.  Returns the count. */
size_t node_mempool_select(struct node_mempool *mp, size_t max, size_t max_bytes,
                           const uint8_t **txs /* OUT */, size_t *lens /* OUT */);

/* A block committed: drop its transactions; committed nonces are re-read
 * (account_nonce) before the next selection, and transactions whose nonce
 * is now used are dropped then. */
void node_mempool_committed(struct node_mempool *mp, const uint8_t (*hashes)[CHAIN_HASH_BYTES],
                            size_t n);

/* A block executed here verified these transactions' signatures (they are
 * in the sigcache now): queued copies are only decoded, not checked again. */
void node_mempool_mark_verified(struct node_mempool *mp, const uint8_t (*hashes)[CHAIN_HASH_BYTES],
                                size_t n);

/* Call fn for admitted transactions that have waited at least min_age_ms,
 * oldest first, at most max of them (re-gossip: to a peer that just came up,
 * or again after a frame may have been lost).  Returns how many. */
size_t node_mempool_each(struct node_mempool *mp, uint64_t min_age_ms, size_t max,
                         void (*fn)(void *ctx, const uint8_t *tx, size_t len), void *ctx);

/* How long (ms) the oldest admitted transaction has waited; 0 when empty. */
uint64_t node_mempool_oldest_age_ms(const struct node_mempool *mp);

bool node_mempool_has(const struct node_mempool *mp, const uint8_t hash[CHAIN_HASH_BYTES]);
size_t node_mempool_count(const struct node_mempool *mp);   /* admitted */
size_t node_mempool_pending(const struct node_mempool *mp); /* being verified */
size_t node_mempool_bytes(const struct node_mempool *mp);   /* admitted + pending */

/* Block until every queued verification has been handled on the loop (tests). */
void node_mempool_drain(struct node_mempool *mp);

#endif
