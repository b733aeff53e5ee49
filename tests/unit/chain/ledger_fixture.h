/* ledger_fixture.h -- a chain in a temp directory with a fixed genesis, for
 * tests of ledger handlers and block execution.  Header-only (static). */
#ifndef GL_LEDGER_FIXTURE_H
#define GL_LEDGER_FIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "chain_block.h"
#include "chain_crypto.h"
#include "chain_ledger.h"
#include "testutil.h"

enum { FX_OPERATOR, FX_SHADOW, FX_VALIDATOR, FX_ALICE, FX_BOB, FX_CAROL, FX_KEYS = 16 };
#define FX_CHAIN_ID "gridledger-test"
#define FX_GENESIS_TIME_MS 1700000000000ULL
#define FX_START_BALANCE (1000 * CHAIN_MICRO_PER_TOKEN)

struct fx {
    struct chain c;
    char *dir;
    uint8_t pk[FX_KEYS][CHAIN_PK_BYTES];
    uint8_t sk[FX_KEYS][CHAIN_SK_BYTES];
    uint64_t nonce[FX_KEYS];
    uint64_t time_ms;
};

static inline void fx_keys(struct fx *f)
{
    for (int i = 0; i < FX_KEYS; i++) {
        uint8_t seed[32] = {0};
        seed[0] = (uint8_t)(i + 1);
        memcpy(seed + 1, "gridledger-fixture", 18);
        chain_keypair_from_seed(f->pk[i], f->sk[i], seed);
    }
}

/* Open a fresh chain with genesis: operator, shadow centre, validator, and
 * alice, bob, carol with FX_START_BALANCE each. */
static inline void fx_open_at(struct fx *f, const char *dir)
{
    struct chain_store_opts o = {.map_size = (size_t)256 << 20, .no_sync = true};
    assert_int_equal(chain_open(&f->c, dir, &o), CHAIN_ERR_OK);
    if (!f->c.has_head) {
        struct chain_genesis_account acc[] = {
            {.roles = CHAIN_ROLE_OPERATOR},
            {.roles = CHAIN_ROLE_SHADOW_CENTRE},
            {.roles = CHAIN_ROLE_VALIDATOR},
            {.balance = FX_START_BALANCE},
            {.balance = FX_START_BALANCE},
            {.balance = FX_START_BALANCE},
        };
        for (int i = 0; i < 6; i++)
            memcpy(acc[i].pk, f->pk[i], CHAIN_PK_BYTES);
        struct chain_validator v = {.power = 1};
        memcpy(v.key, f->pk[FX_VALIDATOR], CHAIN_PK_BYTES);
        struct chain_genesis g = {.chain_id = FX_CHAIN_ID, .time_ms = FX_GENESIS_TIME_MS,
                                  .accounts = acc, .naccounts = 6, .validators = &v, .nvalidators = 1};
        assert_int_equal(chain_genesis(&f->c, &g), CHAIN_ERR_OK);
    }
    f->time_ms = f->c.head.time_ms;
}

static inline void fx_open(struct fx *f)
{
    memset(f, 0, sizeof *f);
    fx_keys(f);
    f->dir = tu_tmpdir("ledger");
    fx_open_at(f, f->dir);
}

static inline void fx_close(struct fx *f)
{
    chain_close(&f->c);
    tu_rmdir(f->dir);
    free(f->dir);
}

/* A signed transaction from key `who` with its next nonce. */
static inline uint8_t *fx_tx(struct fx *f, int who, uint32_t type, uint8_t *payload, size_t plen, size_t *len)
{
    uint8_t *tx;
    assert_int_equal(chain_tx_build(FX_CHAIN_ID, f->nonce[who]++, type, payload, plen, f->pk[who],
                                    f->sk[who], &tx, len),
                     CHAIN_ERR_OK);
    free(payload);
    return tx;
}

static inline void fx_assert_supply(struct fx *f)
{
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(f->c.store.env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(chain_supply_check(&f->c.store, txn, NULL), CHAIN_ERR_OK);
    mdb_txn_abort(txn);
}

/* Build, commit and check the supply invariant; returns the first tx's
 * result (or the build error). */
static inline int fx_block(struct fx *f, uint8_t **txs, size_t *lens, size_t n, struct chain_exec_result *keep)
{
    struct chain_exec_result r;
    f->time_ms += 1000;
    int rc = chain_build_block(&f->c, f->time_ms, f->pk[FX_VALIDATOR], (const uint8_t *const *)txs, lens,
                               n, &r);
    if (rc)
        return rc;
    assert_int_equal(chain_commit(&f->c, &r), CHAIN_ERR_OK);
    fx_assert_supply(f);
    int first = r.ntx ? r.tx_results[0] : CHAIN_ERR_OK;
    if (keep)
        *keep = r;
    else
        chain_exec_result_free(&r);
    return first;
}

/* One transaction in its own block; returns its result. */
static inline int fx_submit(struct fx *f, int who, uint32_t type, uint8_t *payload, size_t plen)
{
    size_t len;
    uint8_t *tx = fx_tx(f, who, type, payload, plen, &len);
    int rc = fx_block(f, &tx, &len, 1, NULL);
    free(tx);
    return rc;
}

static inline struct chain_account fx_account(struct fx *f, const uint8_t *pk)
{
    MDB_txn *txn;
    const uint8_t *v;
    size_t n;
    uint8_t key[CHAIN_KEY_ACCOUNT_BYTES];
    struct chain_account a;
    memset(&a, 0, sizeof a);
    chain_key_account(key, pk);
    assert_int_equal(mdb_txn_begin(f->c.store.env, NULL, MDB_RDONLY, &txn), 0);
    if (chain_store_get(&f->c.store, txn, key, sizeof key, &v, &n) == CHAIN_ERR_OK)
        assert_int_equal(chain_account_decode(v, n, &a), CHAIN_ERR_OK);
    mdb_txn_abort(txn);
    return a;
}

#endif
