/* fuzz_block.c -- block execution (chain_exec_block) on arbitrary bytes, over
 * a fixed genesis opened once in a temp directory.
 *
 * The genesis is deterministic (keys from fixed seeds, fixed time), so the
 * corpus holds real height-1 blocks built with chain_build_block against it,
 * and mutations reach transaction decoding, signature checks, nonces, the
 * handlers and the state-root comparison.  Properties:
 *   - the result is OK or a named error, never a storage or internal error;
 *   - nothing is committed: the head and the stored state are unchanged;
 *   - an accepted block re-executes to the same state root and block hash,
 *     its bytes are kept exactly, and every transaction result is named. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_block.h"
#include "chain_crypto.h"
#include "chain_ledger.h"
#include "testutil.h"

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_block: property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

enum { FB_OPERATOR, FB_SHADOW, FB_VALIDATOR, FB_ALICE, FB_BOB, FB_CAROL, FB_DAVE, FB_ACCOUNTS, FB_KEYS = 10 };
#define FB_CHAIN_ID "gridledger-fuzz"
#define FB_GENESIS_TIME_MS 1700000000000ULL
#define FB_BALANCE (1000 * CHAIN_MICRO_PER_TOKEN)

static struct chain fb_chain;
static char *fb_dir;
static uint8_t fb_pk[FB_KEYS][CHAIN_PK_BYTES], fb_sk[FB_KEYS][CHAIN_SK_BYTES];
static struct chain_head fb_head0;
static size_t fb_entries0[2];

/* Entries in the state and block tables: a block that is only executed
 * must leave both as they are. */
static void fb_entries(size_t out[2])
{
    MDB_txn *txn;
    MDB_stat st;
    CHECK(mdb_txn_begin(fb_chain.store.env, NULL, MDB_RDONLY, &txn) == 0);
    CHECK(mdb_stat(txn, fb_chain.store.state, &st) == 0);
    out[0] = st.ms_entries;
    CHECK(mdb_stat(txn, fb_chain.store.blocks, &st) == 0);
    out[1] = st.ms_entries;
    mdb_txn_abort(txn);
}

static void fb_close(void)
{
    chain_close(&fb_chain);
    if (fb_dir) {
        tu_rmdir(fb_dir);
        free(fb_dir);
        fb_dir = NULL;
    }
}

static void fb_init(void)
{
    if (fb_dir)
        return;
    CHECK(chain_crypto_init() == CHAIN_ERR_OK);
    for (int i = 0; i < FB_KEYS; i++) {
        uint8_t seed[32] = {0};
        seed[0] = (uint8_t)(i + 1);
        memcpy(seed + 1, "gridledger-fuzz-block", 21);
        chain_keypair_from_seed(fb_pk[i], fb_sk[i], seed);
    }
    fb_dir = tu_tmpdir("fuzz_block");
    CHECK(fb_dir != NULL);
    struct chain_store_opts o = {.map_size = (size_t)64 << 20, .no_sync = true};
    CHECK(chain_open(&fb_chain, fb_dir, &o) == CHAIN_ERR_OK);
    struct chain_genesis_account acc[FB_ACCOUNTS] = {
        {.roles = CHAIN_ROLE_OPERATOR, .balance = FB_BALANCE},
        {.roles = CHAIN_ROLE_SHADOW_CENTRE, .balance = FB_BALANCE},
        {.roles = CHAIN_ROLE_VALIDATOR},
        {.roles = CHAIN_ROLE_PARTICIPANT, .balance = FB_BALANCE},
        {.balance = FB_BALANCE},
        {.balance = FB_BALANCE},
        {.balance = 1},
    };
    for (int i = 0; i < FB_ACCOUNTS; i++)
        memcpy(acc[i].pk, fb_pk[i], CHAIN_PK_BYTES);
    struct chain_validator v = {.power = 1};
    memcpy(v.key, fb_pk[FB_VALIDATOR], CHAIN_PK_BYTES);
    struct chain_genesis g = {.chain_id = FB_CHAIN_ID, .time_ms = FB_GENESIS_TIME_MS, .accounts = acc,
                              .naccounts = FB_ACCOUNTS, .validators = &v, .nvalidators = 1};
    CHECK(chain_genesis(&fb_chain, &g) == CHAIN_ERR_OK);
    fb_head0 = fb_chain.head;
    fb_entries(fb_entries0);
    atexit(fb_close);
}

static int is_named(int rc)
{
    return rc <= 0 && strcmp(chain_err_name(rc), "UNKNOWN") != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct chain_exec_result r, r2;
    fb_init();
    int rc = chain_exec_block(&fb_chain, data, size, &r);
    CHECK(is_named(rc));
    CHECK(rc != CHAIN_ERR_STORE && rc != CHAIN_ERR_STORE_FULL && rc != CHAIN_ERR_INTERNAL &&
          rc != CHAIN_ERR_INVALID_ARG);
    CHECK(memcmp(&fb_chain.head, &fb_head0, sizeof fb_head0) == 0);
    if (rc == CHAIN_ERR_OK) {
        CHECK(r.height == fb_head0.height + 1 && r.base_height == fb_head0.height);
        CHECK(r.time_ms >= fb_head0.time_ms);
        CHECK(r.block_len == size && memcmp(r.block_bytes, data, size) == 0);
        CHECK(memcmp(r.prev_hash, fb_head0.hash, CHAIN_HASH_BYTES) == 0);
        uint8_t h[CHAIN_HASH_BYTES];
        chain_hash(h, CHAIN_TAG_HEADER, r.header_bytes, r.header_len);
        CHECK(memcmp(h, r.block_hash, CHAIN_HASH_BYTES) == 0);
        for (size_t i = 0; i < r.ntx; i++)
            CHECK(r.tx_results[i] == CHAIN_ERR_OK || (r.tx_results[i] < 0 && is_named(r.tx_results[i])));
        CHECK(r.nskipped == 0);
        /* execution is a function of (head, block) */
        CHECK(chain_exec_block(&fb_chain, data, size, &r2) == CHAIN_ERR_OK);
        CHECK(memcmp(r.state_root, r2.state_root, CHAIN_HASH_BYTES) == 0);
        CHECK(memcmp(r.block_hash, r2.block_hash, CHAIN_HASH_BYTES) == 0);
        CHECK(r.ntx == r2.ntx && memcmp(r.tx_results, r2.tx_results, r.ntx * sizeof *r.tx_results) == 0);
        chain_exec_result_free(&r2);
    } else {
        /* a failed execution hands back an empty result */
        CHECK(r.batch == NULL && r.block_bytes == NULL && r.header_bytes == NULL && r.tx_hashes == NULL);
    }
    chain_exec_result_free(&r);
    CHECK(memcmp(&fb_chain.head, &fb_head0, sizeof fb_head0) == 0);
    size_t entries[2];
    fb_entries(entries);
    CHECK(entries[0] == fb_entries0[0] && entries[1] == fb_entries0[1]);
    return 0;
}
