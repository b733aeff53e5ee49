/* mkt_settle.h -- settlement of delivery slots after their metering window, as
 * an end-of-block step driven by block time (never a clock), and the state
 * keys of its records.  The rules, with every rounding, are in
 * market/README.md, "Metering and settlement". */
#ifndef MKT_SETTLE_H
#define MKT_SETTLE_H

#include <stdint.h>

#include "chain_state.h"
#include "mkt_tx.h"
#include "settle.pb-c.h"

/* Pools settlement moves money through (chain_pool_add names). */
#define MKT_POOL_SUBSIDY       "renewable-subsidy"    /* pays mu > 1, collects mu < 1 */
#define MKT_POOL_PENALTIES     "settlement-penalties" /* missing-reading penalties */
#define MKT_POOL_DEBT_RECOVERY "debt-recovery"        /* settlement debt repaid later */

/* "mkt/sq/" due ms(8) slot(8): the settlement queue. */
#define MKT_KEY_SETTLE_QUEUE_BYTES (7u + 8u + 8u)
/* "mkt/s/" slot(8) participant(32): gl.MktSettlement. */
#define MKT_KEY_SETTLEMENT_BYTES (6u + 8u + CHAIN_PK_BYTES)
/* "mkt/sr/" slot(8): gl.MktSlotSettlement. */
#define MKT_KEY_SLOT_SETTLEMENT_BYTES (7u + 8u)
/* "mkt/bill/" UTC day start ms(8) participant(32): gl.MktBill. */
#define MKT_KEY_BILL_BYTES (9u + 8u + CHAIN_PK_BYTES)
/* "mkt/debt/" participant(32): 1 byte while it owes settlement debt. */
#define MKT_KEY_DEBTOR_BYTES (9u + CHAIN_PK_BYTES)

void mkt_key_settlement(uint8_t key[static MKT_KEY_SETTLEMENT_BYTES], uint64_t slot,
                        const uint8_t pk[static CHAIN_PK_BYTES]);
void mkt_key_slot_settlement(uint8_t key[static MKT_KEY_SLOT_SETTLEMENT_BYTES], uint64_t slot);
void mkt_key_bill(uint8_t key[static MKT_KEY_BILL_BYTES], uint64_t day_start_ms,
                  const uint8_t pk[static CHAIN_PK_BYTES]);

/* Put slot (electricity) on the settlement queue, due at its end plus the
 * metering window.  Idempotent.  Errors: NOMEM, STORE. */
int mkt_settle_enqueue(struct chain_exec_ctx *ctx, const struct mkt_tx_params *p,
                       uint64_t slot) CHAIN_MUST_USE;

/* True (1) when slot has been settled, 0 when not; negative: STORE. */
int mkt_slot_settled(struct chain_exec_ctx *ctx, uint64_t slot) CHAIN_MUST_USE;

/* Settle one slot now (its books are cleared first if they are not).
 * Errors: NOMEM, STORE, INTERNAL. */
int mkt_settle_slot(struct chain_exec_ctx *ctx, uint64_t slot) CHAIN_MUST_USE;

/* The end-of-block hook: settle every queued slot due at the block's time
 * (at most MKT_SETTLEMENTS_PER_BLOCK_MAX), then repay settlement debt from
 * debtors' balances (at most MKT_DEBT_SWEEP_PER_BLOCK_MAX). */
int mkt_settle_end_block(struct chain_exec_ctx *ctx, void *arg);

#endif
