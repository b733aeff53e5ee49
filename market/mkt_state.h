/* mkt_state.h -- the market's state records inside block execution: parameters,
 * participants, orders, locks, books and their gate queue.  Shared by the
 * transaction handlers (mkt_tx.c) and the clearing of a book (mkt_book.c);
 * tests use it to inspect state.  Every function runs inside execution
 * (struct chain_exec_ctx) and returns chain or market codes: business
 * refusals are MKT_ERR_*, system failures CHAIN_ERR_NOMEM / STORE. */
#ifndef MKT_STATE_H
#define MKT_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "chain_state.h"
#include "mkt_tx.h"

/* Parameters with their matrix held inline. */
struct mkt_params {
    struct mkt_tx_params p;
    uint32_t matrix[MKT_PARAMS_MAX_BUS * MKT_PARAMS_MAX_BUS];
};

/* Current parameters (defaults when never set).  Errors: STORE. */
int mkt_params_load(struct chain_exec_ctx *ctx, struct mkt_params *out /* OUT */) CHAIN_MUST_USE;

/* Participant record; NOT_FOUND when the key is not a market participant.
 * *out is freed with gl__mkt_participant__free_unpacked. */
/* The grid tariff posted for (commodity, slot): present is false when none
 * was posted.  A stored value outside [0, MKT_MAX_PRICE] or with feed-in above
 * retail is refused as STORE.  Errors: STORE, DECODE_*. */
struct mkt_tariff {
    bool present;
    int64_t retail, feed_in; /* micro-units per kWh */
    uint8_t account[CHAIN_PK_BYTES]; /* the grid's account (the poster) */
};
int mkt_tariff_load(struct chain_exec_ctx *ctx, uint32_t commodity, uint64_t slot,
                    struct mkt_tariff *out /* OUT */) CHAIN_MUST_USE;

int mkt_participant_load(struct chain_exec_ctx *ctx, const uint8_t pk[static CHAIN_PK_BYTES],
                         Gl__MktParticipant **out /* OUT */) CHAIN_MUST_USE;
int mkt_participant_store(struct chain_exec_ctx *ctx, const uint8_t pk[static CHAIN_PK_BYTES],
                          const Gl__MktParticipant *p) CHAIN_MUST_USE;

/* Order record; NOT_FOUND when absent.  Free with gl__mkt_order__free_unpacked. */
int mkt_order_load(struct chain_exec_ctx *ctx, const uint8_t id[static CHAIN_HASH_BYTES],
                   Gl__MktOrder **out /* OUT */) CHAIN_MUST_USE;
int mkt_order_store(struct chain_exec_ctx *ctx, const uint8_t id[static CHAIN_HASH_BYTES],
                    const Gl__MktOrder *o) CHAIN_MUST_USE;

/* Move amount from an account's balance to its locked funds.  Errors:
 * MKT_ERR_INSUFFICIENT_FUNDS, MKT_ERR_UNKNOWN_ACCOUNT, STORE. */
int mkt_lock(struct chain_exec_ctx *ctx, const uint8_t pk[static CHAIN_PK_BYTES],
             int64_t amount) CHAIN_MUST_USE;
/* Move amount back from locked to balance; out of range is STORE (state broken). */
int mkt_unlock(struct chain_exec_ctx *ctx, const uint8_t pk[static CHAIN_PK_BYTES],
               int64_t amount) CHAIN_MUST_USE;
/* Settle a fill: take `spent` out of locked funds for good (it was paid),
 * return `release` to the balance, credit `income` to the balance. */
int mkt_account_settle(struct chain_exec_ctx *ctx, const uint8_t pk[static CHAIN_PK_BYTES],
                       int64_t spent, int64_t release, int64_t income) CHAIN_MUST_USE;

/* Book metadata: the gate fixed when the book opened, orders indexed, cleared. */
struct mkt_book_meta {
    bool exists;
    bool cleared;
    uint32_t norders;
    uint64_t gate_ms;
};
int mkt_book_meta_load(struct chain_exec_ctx *ctx, uint32_t commodity, uint32_t market,
                       uint64_t slot, struct mkt_book_meta *out /* OUT */) CHAIN_MUST_USE;
/* Store meta; a book stored for the first time (exists false on load) is
 * also put on the gate queue at m->gate_ms. */
int mkt_book_meta_store(struct chain_exec_ctx *ctx, uint32_t commodity, uint32_t market,
                        uint64_t slot, struct mkt_book_meta *m) CHAIN_MUST_USE;
/* The gate a book has or would get now: its stored gate once it has one. */
int mkt_book_gate(struct chain_exec_ctx *ctx, const struct mkt_params *p, uint32_t commodity,
                  uint32_t market, uint64_t slot,
                  struct mkt_book_meta *meta /* OUT */) CHAIN_MUST_USE;

/* Index an open order in its book (o->market), by arrival. */
int mkt_book_index_put(struct chain_exec_ctx *ctx, const Gl__MktOrder *o,
                       const uint8_t id[static CHAIN_HASH_BYTES]) CHAIN_MUST_USE;
int mkt_book_index_del(struct chain_exec_ctx *ctx, const Gl__MktOrder *o) CHAIN_MUST_USE;
void mkt_key_bookidx(uint8_t key[static MKT_KEY_BOOKIDX_BYTES], uint32_t commodity, uint32_t market,
                     uint64_t slot, uint64_t arrival);
void mkt_key_queue(uint8_t key[static MKT_KEY_QUEUE_BYTES], uint64_t gate_ms, uint32_t commodity,
                   uint32_t market, uint64_t slot);

/* Clear one book now (mkt_book.c): run the clearing core on its open orders,
 * move the money, store the result, fills and trades, close or roll the
 * orders.  Precondition: the book is not cleared.  Errors: NOMEM, STORE,
 * INTERNAL (the core refused a book built from valid state). */
int mkt_book_clear(struct chain_exec_ctx *ctx, uint32_t commodity, uint32_t market, uint64_t slot,
                   bool by_operator) CHAIN_MUST_USE;

/* The end-of-block hook: clear every book whose gate is <= block time, in
 * gate order, at most MKT_CLEARINGS_PER_BLOCK_MAX per block. */
int mkt_end_block(struct chain_exec_ctx *ctx, void *arg);

/* Money helpers: micro-units from nano-units (price per kWh times Wh). */
static inline int64_t mkt_nano_ceil(__int128 nano)
{
    return (int64_t)((nano + 999) / 1000);
}
static inline int64_t mkt_nano_floor(__int128 nano)
{
    return (int64_t)(nano / 1000);
}

#endif
