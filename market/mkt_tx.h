/* mkt_tx.h -- the market's transaction types on the chain: payload builders
 * for clients (gridctl, gridnode, tests), the state keys of orders and
 * results (for proofs), and mkt_register, which node code calls after
 * chain_open to add the market's handlers and its end-of-block clearing hook.
 *
 * The rules (locking, gates, residuals, rounding, where every micro-unit
 * goes) are in market/README.md, "Transactions, state and money". */
#ifndef MKT_TX_H
#define MKT_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain_codec.h"
#include "chain_limits.h"
#include "market.pb-c.h"
#include "mkt_err.h"
#include "mkt_limits.h"

enum mkt_commodity { MKT_ELECTRICITY = 1, MKT_HEAT = 2 };
enum mkt_market { MKT_DAY_AHEAD = 1, MKT_INTRADAY = 2 };
enum mkt_tx_side { MKT_TX_BUY = 1, MKT_TX_SELL = 2 };
enum mkt_mechanism { MKT_MECH_UNIFORM = 1, MKT_MECH_P2P = 2 };
enum mkt_tx_fee_model { MKT_TX_FEE_UNIFORM = 1, MKT_TX_FEE_ZONAL = 2, MKT_TX_FEE_DISTANCE = 3 };
enum mkt_order_status {
    MKT_ORDER_OPEN = 1,
    MKT_ORDER_CLOSED = 2, /* its last book cleared: filled, partly filled or not */
    MKT_ORDER_CANCELLED = 3,
    MKT_ORDER_EXPIRED = 4, /* valid-until passed (or never valid) before its book cleared */
};

/* Pools that receive the market's remainders (chain_pool_add names). */
#define MKT_POOL_CLEARING_ROUNDING "clearing-rounding"
#define MKT_POOL_FEE_ROUNDING      "fee-rounding"
#define MKT_POOL_GRID_FEES         "grid-fees"

/* Register the market's transaction types (gl.MktTxType, 100..107, and
 * TX_METER_READING = 120, mkt_meter.h), the end-of-block clearing hook and,
 * after it, the settlement hook (mkt_settle.h) into reg.  Call once per registry, after
 * chain_open.  Errors: DUPLICATE_HANDLER, INVALID_ARG (hook table full). */
int mkt_register(struct chain_registry *reg) CHAIN_MUST_USE;

/* ---- payload builders: pack into malloc'd *out (free it) ---- */

int mkt_payload_register(const uint8_t account[static CHAIN_PK_BYTES], uint32_t kind, uint32_t bus,
                         bool renewable, const uint8_t (*meters)[CHAIN_PK_BYTES], size_t nmeters,
                         const char *name, uint64_t deposit_micro, uint8_t **out,
                         size_t *len) CHAIN_MUST_USE;

struct mkt_tx_params {
    uint64_t slot_ms;           /* MKT_SLOT_MS_DEFAULT or MKT_SLOT_MS_SHORT */
    uint64_t day_ahead_lead_ms; /* gate = start of the slot's UTC day - lead */
    uint64_t intraday_lead_ms;  /* gate = slot start - lead */
    uint32_t mechanism;         /* enum mkt_mechanism */
    uint32_t fee_model;         /* enum mkt_tx_fee_model */
    uint64_t fee_rate_micro_per_kwh;
    uint32_t nbus;
    const uint32_t *fee_matrix; /* nbus*nbus, [buyer bus][seller bus]; NULL for the uniform model */
    uint64_t price_min, price_max;
    uint64_t seller_margin_micro_per_kwh;
    uint32_t grid_bus;
    /* settlement (market/README.md, "Metering and settlement") */
    uint64_t metering_window_ms;   /* readings accepted until slot end + this */
    uint64_t meter_epoch_ms;       /* meter slot index 0 starts here; a multiple of 15 min */
    uint32_t imbalance_markup_ppm; /* short at retail * (1 + m), long at feed-in * (1 - m) */
    uint64_t missing_penalty_micro;
    uint32_t strike_limit;
    uint32_t mu_min_ppm, mu_max_ppm;
};
/* The parameters in force before any MKT_TX_SET_PARAMS. */
void mkt_params_default(struct mkt_tx_params *p /* OUT */);
int mkt_payload_set_params(const struct mkt_tx_params *p, uint8_t **out,
                           size_t *len) CHAIN_MUST_USE;

int mkt_payload_post_tariff(uint32_t commodity, uint64_t slot_start_ms,
                            uint64_t retail_micro_per_kwh, uint64_t feed_in_micro_per_kwh,
                            uint8_t **out, size_t *len) CHAIN_MUST_USE;

struct mkt_tx_order {
    uint32_t commodity, market, side;
    uint64_t slot_start_ms;
    uint64_t qty_wh;
    uint64_t price_micro_per_kwh;
    uint64_t valid_from_ms, valid_until_ms; /* valid_until 0: until its book clears */
    const uint8_t (*allowed)[CHAIN_PK_BYTES];
    size_t nallowed;
    const uint8_t (*excluded)[CHAIN_PK_BYTES];
    size_t nexcluded;
    uint64_t premium_renewable_micro_per_kwh, premium_local_micro_per_kwh; /* buyers only */
};
int mkt_payload_place_order(const struct mkt_tx_order *o, uint8_t **out,
                            size_t *len) CHAIN_MUST_USE;
/* order_id: the hash of the MKT_TX_PLACE_ORDER transaction (chain_tx.hash). */
int mkt_payload_cancel_order(const uint8_t order_id[static CHAIN_HASH_BYTES], uint8_t **out,
                             size_t *len) CHAIN_MUST_USE;
int mkt_payload_clear(uint32_t commodity, uint32_t market, uint64_t slot_start_ms, uint8_t **out,
                      size_t *len) CHAIN_MUST_USE;
int mkt_payload_set_status(const uint8_t account[static CHAIN_PK_BYTES], bool suspended,
                           uint8_t **out, size_t *len) CHAIN_MUST_USE;

/* Move amount from the signer's balance into pool "renewable-subsidy". */
int mkt_payload_fund_subsidy(uint64_t amount_micro, uint8_t **out, size_t *len) CHAIN_MUST_USE;

/* ---- state keys (raw; chain_state_key_hash gives the tree path) ----
 * Numbers inside keys are big-endian, so a prefix scan reads in number order. */
#define MKT_KEY_PARAMS            "mkt/params"            /* gl.MktParams */
#define MKT_KEY_NPART             "mkt/npart"             /* participants registered: 8 bytes BE */
#define MKT_KEY_PARTICIPANT_BYTES (6u + CHAIN_PK_BYTES)   /* "mkt/p/" pk -> gl.MktParticipant */
#define MKT_KEY_ORDER_BYTES       (6u + CHAIN_HASH_BYTES) /* "mkt/o/" id -> gl.MktOrder */
#define MKT_KEY_TARIFF_BYTES      (6u + 1u + 8u)          /* "mkt/t/" c slot -> gl.MktTariff */
#define MKT_KEY_BOOK_BYTES        (6u + 10u)              /* "mkt/m/" c m slot -> gl.MktBookMeta */
#define MKT_KEY_BOOKIDX_BYTES     (6u + 10u + 8u) /* "mkt/b/" c m slot arrival -> order id */
#define MKT_KEY_QUEUE_BYTES       (6u + 8u + 10u) /* "mkt/q/" gate c m slot -> 1 byte */
#define MKT_KEY_RESULT_BYTES      (6u + 10u)      /* "mkt/r/" c m slot -> gl.MktResult */
#define MKT_KEY_FILL_BYTES        (6u + 10u + CHAIN_HASH_BYTES) /* "mkt/f/" c m slot id -> gl.MktFill */
#define MKT_KEY_TRADE_BYTES       (6u + 10u + 4u) /* "mkt/x/" c m slot i -> gl.MktTrade */

void mkt_key_participant(uint8_t key[static MKT_KEY_PARTICIPANT_BYTES],
                         const uint8_t pk[static CHAIN_PK_BYTES]);
void mkt_key_order(uint8_t key[static MKT_KEY_ORDER_BYTES],
                   const uint8_t id[static CHAIN_HASH_BYTES]);
void mkt_key_tariff(uint8_t key[static MKT_KEY_TARIFF_BYTES], uint32_t commodity,
                    uint64_t slot_start_ms);
void mkt_key_book(uint8_t key[static MKT_KEY_BOOK_BYTES], uint32_t commodity, uint32_t market,
                  uint64_t slot);
void mkt_key_result(uint8_t key[static MKT_KEY_RESULT_BYTES], uint32_t commodity, uint32_t market,
                    uint64_t slot);
void mkt_key_fill(uint8_t key[static MKT_KEY_FILL_BYTES], uint32_t commodity, uint32_t market,
                  uint64_t slot, const uint8_t id[static CHAIN_HASH_BYTES]);
void mkt_key_trade(uint8_t key[static MKT_KEY_TRADE_BYTES], uint32_t commodity, uint32_t market,
                   uint64_t slot, uint32_t index);

/* Gate of a book under the given parameters (block time ms at which it closes). */
uint64_t mkt_gate_ms(const struct mkt_tx_params *p, uint32_t market, uint64_t slot_start_ms);

#endif
