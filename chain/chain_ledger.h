/* chain_ledger.h -- accounts, roles, token supply and the ledger transaction types.
 *
 * State keys (raw bytes, hashed to tree paths by chain_state_key_hash):
 *   "a/" || pk        gl.Account      balance, nonce, roles, locked (micro-units)
 *   "p/" || pk        gl.Participant  registered market participant
 *   "mk/" || meter pk gl.MeterBinding meter key -> owning participant
 *   "po/" || tx hash  gl.Payout       payout request created by a Redeem
 *   "mr/" || bank_ref gl.Payout-less marker: the bank reference was minted
 *   "pool/" || name   gl.Pool         named pools (subsidy, rounding remainders)
 *   "sys/supply"      gl.Supply       minted and burned totals
 *   "sys/valset"      gl.ValidatorSet
 *
 * Supply invariant (checked after every block in tests, and by
 * chain_supply_check): sum over accounts of (balance + locked) + sum of pools
 * = minted - burned.  A Redeem burns at once; a failed payout re-credits the
 * account and takes the amount back off "burned". */
#ifndef CHAIN_LEDGER_H
#define CHAIN_LEDGER_H

#include <stdbool.h>
#include <stdint.h>

#include "chain_codec.h"
#include "chain_state.h"

enum chain_role {
    CHAIN_ROLE_OPERATOR = 1u << 0,      /* registers participants, sets roles and market rules */
    CHAIN_ROLE_SHADOW_CENTRE = 1u << 1, /* mints against bank money, confirms payouts */
    CHAIN_ROLE_VALIDATOR = 1u << 2,
    CHAIN_ROLE_PARTICIPANT = 1u << 3,   /* may trade */
};
#define CHAIN_ROLES_ALL 0xfu

enum chain_payout_status { CHAIN_PAYOUT_PENDING = 0, CHAIN_PAYOUT_PAID = 1, CHAIN_PAYOUT_REFUNDED = 2 };

struct chain_account {
    int64_t balance; /* micro-units */
    uint64_t nonce;
    uint32_t roles;
    int64_t locked;  /* micro-units */
    bool exists;
};

#define CHAIN_KEY_ACCOUNT_BYTES (2u + CHAIN_PK_BYTES)
void chain_key_account(uint8_t key[static CHAIN_KEY_ACCOUNT_BYTES], const uint8_t pk[static CHAIN_PK_BYTES]);

/* Load an account; a missing one reads as zero with exists == false.
 * Errors: STORE. */
int chain_account_load(struct chain_exec_ctx *ctx, const uint8_t pk[static CHAIN_PK_BYTES],
                       struct chain_account *a /* OUT */) CHAIN_MUST_USE;
int chain_account_store(struct chain_exec_ctx *ctx, const uint8_t pk[static CHAIN_PK_BYTES],
                        const struct chain_account *a) CHAIN_MUST_USE;
/* Decode an account value (e.g. from a proof).  Errors: DECODE_*. */
int chain_account_decode(const uint8_t *v, size_t n, struct chain_account *a /* OUT */) CHAIN_MUST_USE;

/* Checked money arithmetic on int64 micro-units: OVERFLOW or INSUFFICIENT_FUNDS. */
int chain_money_add(int64_t *acc, int64_t amount) CHAIN_MUST_USE;
int chain_money_sub(int64_t *acc, int64_t amount) CHAIN_MUST_USE;

struct chain_supply {
    int64_t minted, burned;
};
int chain_supply_load(struct chain_exec_ctx *ctx, struct chain_supply *s /* OUT */) CHAIN_MUST_USE;
int chain_supply_store(struct chain_exec_ctx *ctx, const struct chain_supply *s) CHAIN_MUST_USE;

/* Pools: balances that belong to no account (the subsidy pool, rounding remainders). */
int chain_pool_add(struct chain_exec_ctx *ctx, const char *name, int64_t delta) CHAIN_MUST_USE;

/* Register the ledger types into reg.  Errors: DUPLICATE_HANDLER. */
int chain_ledger_register(struct chain_registry *reg) CHAIN_MUST_USE;

/* Walk committed state through txn and check the supply invariant.
 * Fills the totals when non-NULL.  Errors: SUPPLY_BROKEN, STORE. */
struct chain_supply_report {
    int64_t accounts_total; /* balance + locked over all accounts */
    int64_t pools_total;
    int64_t minted, burned;
    uint64_t accounts;
};
int chain_supply_check(const struct chain_store *s, MDB_txn *txn,
                       struct chain_supply_report *report /* OUT, may be NULL */) CHAIN_MUST_USE;

/* Payload builders for clients, tests and the demo: pack into malloc'd bytes. */
int chain_payload_transfer(const uint8_t to[static CHAIN_PK_BYTES], uint64_t amount, uint8_t **out,
                           size_t *len) CHAIN_MUST_USE;
int chain_payload_mint(const uint8_t to[static CHAIN_PK_BYTES], uint64_t amount, const char *bank_ref,
                       uint8_t **out, size_t *len) CHAIN_MUST_USE;
int chain_payload_redeem(uint64_t amount, const char *bank_account, uint8_t **out, size_t *len) CHAIN_MUST_USE;
int chain_payload_payout_confirm(const uint8_t payout_id[static CHAIN_HASH_BYTES], const char *bank_ref,
                                 bool failed, uint8_t **out, size_t *len) CHAIN_MUST_USE;
int chain_payload_set_roles(const uint8_t account[static CHAIN_PK_BYTES], uint32_t roles, uint8_t **out,
                            size_t *len) CHAIN_MUST_USE;
int chain_payload_register_participant(const uint8_t account[static CHAIN_PK_BYTES], uint32_t kind,
                                       uint32_t zone, bool renewable, const uint8_t (*meters)[CHAIN_PK_BYTES],
                                       size_t nmeters, const char *name, uint8_t **out,
                                       size_t *len) CHAIN_MUST_USE;

#endif
