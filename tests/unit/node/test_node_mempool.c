/* test_node_mempool.c -- the mempool (node_mempool.c): admission through the
 * worker threads, named refusals, bounds, nonce order in selection against a
 * naive reference, removal of committed transactions, and the sigcache fill. */
#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chain_crypto.h"
#include "chain_ledger.h"
#include "node_mempool.h"
#include "testutil.h"

#define NACC 8

struct fx {
    struct event_base *base;
    struct chain_registry reg;
    struct chain_sigcache sc;
    struct node_mempool *mp;
    uint8_t pk[NACC][CHAIN_PK_BYTES], sk[NACC][CHAIN_SK_BYTES];
    uint64_t committed[NACC]; /* the "chain's" nonces */
    int last_rc;
    size_t results, admitted;
};

static int acct_nonce(void *ctx, const uint8_t pk[CHAIN_PK_BYTES], uint64_t *nonce)
{
    struct fx *f = ctx;
    *nonce = 0;
    for (int i = 0; i < NACC; i++)
        if (!memcmp(pk, f->pk[i], CHAIN_PK_BYTES))
            *nonce = f->committed[i];
    return 0;
}

static void on_admitted(void *ctx, const uint8_t *tx, size_t len, void *tag)
{
    (void)tx;
    (void)len;
    (void)tag;
    ((struct fx *)ctx)->admitted++;
}

static void on_result(void *ctx, const uint8_t hash[CHAIN_HASH_BYTES], int rc, void *tag)
{
    (void)hash;
    (void)tag;
    struct fx *f = ctx;
    f->last_rc = rc;
    f->results++;
}

static struct fx *fx_new(size_t max_txs, size_t max_bytes, unsigned threads)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(chain_crypto_init(), 0);
    f->base = event_base_new();
    chain_registry_init(&f->reg);
    assert_int_equal(chain_ledger_register(&f->reg), 0);
    assert_int_equal(chain_sigcache_init(&f->sc, 4096), 0);
    for (int i = 0; i < NACC; i++) {
        uint8_t seed[32] = {0};
        seed[0] = (uint8_t)(i + 1);
        chain_keypair_from_seed(f->pk[i], f->sk[i], seed);
    }
    struct node_mempool_cfg c = {.reg = &f->reg,
                                 .chain_id = "test-chain",
                                 .sigcache = &f->sc,
                                 .max_txs = max_txs,
                                 .max_bytes = max_bytes,
                                 .threads = threads,
                                 .max_nonce_ahead = 16,
                                 .account_nonce = acct_nonce,
                                 .on_admitted = on_admitted,
                                 .on_result = on_result,
                                 .ctx = f};
    assert_int_equal(node_mempool_open(&f->mp, f->base, &c), 0);
    return f;
}

static void fx_free(struct fx *f)
{
    node_mempool_close(f->mp);
    chain_sigcache_deinit(&f->sc);
    event_base_free(f->base);
    free(f);
}

/* A signed transfer from account a with nonce; *len OUT; malloc'd. */
static uint8_t *transfer(struct fx *f, int a, uint64_t nonce, uint64_t amount, const char *chain_id,
                         size_t *len)
{
    uint8_t *p, *tx;
    size_t pl;
    assert_int_equal(chain_payload_transfer(f->pk[(a + 1) % NACC], amount, &p, &pl), 0);
    assert_int_equal(chain_tx_build(chain_id, nonce, GL__TX_TYPE__TX_TRANSFER, p, pl, f->pk[a],
                                    f->sk[a], &tx, len),
                     0);
    free(p);
    return tx;
}

/* Submit and wait for the final verdict. */
static int submit_wait(struct fx *f, const uint8_t *tx, size_t len, uint8_t hash[CHAIN_HASH_BYTES])
{
    size_t before = f->results;
    int rc = node_mempool_submit(f->mp, tx, len, hash, NULL);
    if (rc)
        return rc;
    node_mempool_drain(f->mp);
    assert_int_equal(f->results, before + 1);
    return f->last_rc;
}

static int submit_tx(struct fx *f, int a, uint64_t nonce)
{
    size_t len;
    uint8_t h[CHAIN_HASH_BYTES];
    uint8_t *tx = transfer(f, a, nonce, 5, "test-chain", &len);
    int rc = submit_wait(f, tx, len, h);
    free(tx);
    return rc;
}

static void test_a_valid_transfer_is_admitted_and_its_signature_cached(void **state)
{
    (void)state;
    struct fx *f = fx_new(100, 1 << 20, 2);
    size_t len;
    uint8_t h[CHAIN_HASH_BYTES];
    uint8_t *tx = transfer(f, 0, 0, 5, "test-chain", &len);
    assert_false(chain_sigcache_has(&f->sc, (uint8_t[32]){0}));
    assert_int_equal(submit_wait(f, tx, len, h), 0);
    assert_true(node_mempool_has(f->mp, h));
    assert_true(chain_sigcache_has(&f->sc, h));
    assert_int_equal(node_mempool_count(f->mp), 1);
    assert_int_equal(node_mempool_bytes(f->mp), len);
    assert_int_equal(f->admitted, 1);
    free(tx);
    fx_free(f);
}

static void test_refusals_are_named(void **state)
{
    (void)state;
    struct fx *f = fx_new(100, 1 << 20, 1);
    size_t len;
    uint8_t h[CHAIN_HASH_BYTES];
    /* bad signature: flip a byte of the signature (the envelope's last bytes) */
    uint8_t *tx = transfer(f, 1, 0, 5, "test-chain", &len);
    tx[len - 1] ^= 1;
    assert_int_equal(submit_wait(f, tx, len, h), CHAIN_ERR_BAD_SIG);
    assert_false(node_mempool_has(f->mp, h));
    assert_false(chain_sigcache_has(&f->sc, h));
    free(tx);
    /* wrong chain */
    tx = transfer(f, 1, 0, 5, "other-chain", &len);
    assert_int_equal(submit_wait(f, tx, len, h), CHAIN_ERR_WRONG_CHAIN);
    free(tx);
    /* garbage */
    uint8_t junk[40];
    memset(junk, 0xff, sizeof junk);
    int rc = submit_wait(f, junk, sizeof junk, h);
    assert_true(rc <= CHAIN_ERR_DECODE_MALFORMED && rc >= CHAIN_ERR_DECODE_BAD_VALUE);
    /* oversize is refused at once */
    uint8_t *big = calloc(1, CHAIN_TX_MAX_BYTES + 1);
    assert_int_equal(node_mempool_submit(f->mp, big, CHAIN_TX_MAX_BYTES + 1, h, NULL),
                     CHAIN_ERR_DECODE_TOO_LARGE);
    free(big);
    /* stale nonce: the chain already used nonces 0..2 */
    f->committed[2] = 3;
    node_mempool_committed(f->mp, NULL, 0);
    assert_int_equal(submit_tx(f, 2, 2), CHAIN_ERR_BAD_NONCE);
    assert_int_equal(submit_tx(f, 2, 3), 0);
    /* duplicate, while admitted */
    tx = transfer(f, 2, 3, 5, "test-chain", &len);
    assert_int_equal(node_mempool_submit(f->mp, tx, len, h, NULL), NODE_ERR_DUPLICATE);
    free(tx);
    /* another tx with a nonce already pending */
    tx = transfer(f, 2, 3, 6, "test-chain", &len);
    assert_int_equal(submit_wait(f, tx, len, h), NODE_ERR_NONCE_TAKEN);
    free(tx);
    /* too far ahead (max_nonce_ahead 16) */
    assert_int_equal(submit_tx(f, 2, 3 + 16), NODE_ERR_NONCE_GAP);
    assert_int_equal(node_mempool_count(f->mp), 1);
    assert_int_equal(node_mempool_pending(f->mp), 0);
    fx_free(f);
}

static void test_duplicate_is_refused_while_still_being_verified(void **state)
{
    (void)state;
    struct fx *f = fx_new(100, 1 << 20, 1);
    size_t len;
    uint8_t h[CHAIN_HASH_BYTES];
    uint8_t *tx = transfer(f, 0, 0, 5, "test-chain", &len);
    assert_int_equal(node_mempool_submit(f->mp, tx, len, h, NULL), 0);
    assert_int_equal(node_mempool_submit(f->mp, tx, len, h, NULL), NODE_ERR_DUPLICATE);
    node_mempool_drain(f->mp);
    assert_int_equal(f->results, 1);
    free(tx);
    fx_free(f);
}

static void test_the_pool_is_bounded_in_count_and_bytes(void **state)
{
    (void)state;
    struct fx *f = fx_new(3, 1 << 20, 2);
    for (uint64_t k = 0; k < 3; k++)
        assert_int_equal(submit_tx(f, 0, k), 0);
    assert_int_equal(submit_tx(f, 0, 3), NODE_ERR_MEMPOOL_FULL);
    fx_free(f);
    size_t len;
    f = fx_new(1000, 4096, 1);
    uint8_t *tx = transfer(f, 0, 0, 5, "test-chain", &len); /* every transfer has this length */
    free(tx);
    fx_free(f);
    f = fx_new(1000, 2 * len + len / 2, 1);
    assert_int_equal(submit_tx(f, 3, 0), 0);
    assert_int_equal(submit_tx(f, 3, 1), 0);
    assert_int_equal(submit_tx(f, 3, 2), NODE_ERR_MEMPOOL_FULL);
    /* committing frees room */
    uint8_t h[CHAIN_HASH_BYTES];
    tx = transfer(f, 3, 0, 5, "test-chain", &len);
    chain_hash(h, CHAIN_TAG_TX, tx, len);
    free(tx);
    f->committed[3] = 1;
    node_mempool_committed(f->mp, (const uint8_t(*)[CHAIN_HASH_BYTES])h, 1);
    assert_int_equal(node_mempool_count(f->mp), 1);
    assert_int_equal(submit_tx(f, 3, 2), 0);
    fx_free(f);
}

/* The naive reference: per account, nonces from the committed one upward
 * without a gap; accounts in order of their first submission still waiting. */
static size_t naive_select(uint64_t pool[NACC][64], const size_t npool[NACC],
                           const uint64_t committed[NACC], const int order[], size_t norder,
                           size_t max, uint8_t out[][2])
{
    size_t n = 0;
    for (size_t k = 0; k < norder && n < max; k++) {
        int a = order[k];
        for (uint64_t want = committed[a];; want++) {
            bool have = false;
            for (size_t i = 0; i < npool[a]; i++)
                have = have || pool[a][i] == want;
            if (!have || n >= max)
                break;
            out[n][0] = (uint8_t)a;
            out[n][1] = (uint8_t)want;
            n++;
        }
    }
    return n;
}

static void test_selection_matches_a_naive_reference_in_nonce_order(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct tu_rng rng = {seed};
        struct fx *f = fx_new(1000, 1 << 20, 2);
        uint64_t pool[NACC][64];
        size_t npool[NACC] = {0};
        int order[NACC];
        size_t norder = 0;
        /* random nonces, out of order, some with gaps */
        for (int k = 0; k < 60; k++) {
            int a = (int)tu_below(&rng, NACC);
            uint64_t nonce = tu_below(&rng, 12);
            bool dup = false;
            for (size_t i = 0; i < npool[a]; i++)
                dup = dup || pool[a][i] == nonce;
            if (dup)
                continue;
            assert_int_equal(submit_tx(f, a, nonce), 0);
            pool[a][npool[a]++] = nonce;
            bool seen = false;
            for (size_t i = 0; i < norder; i++)
                seen = seen || order[i] == a;
            if (!seen)
                order[norder++] = a;
        }
        size_t max = 1 + tu_below(&rng, 40);
        const uint8_t *txs[64];
        size_t lens[64];
        size_t n = node_mempool_select(f->mp, max, SIZE_MAX, txs, lens);
        uint8_t want[64][2];
        size_t wn = naive_select(pool, npool, f->committed, order, norder, max, want);
        assert_int_equal(n, wn);
        for (size_t i = 0; i < n; i++) {
            struct chain_tx tx;
            assert_int_equal(chain_tx_decode(&f->reg, txs[i], lens[i], &tx), 0);
            assert_memory_equal(tx.signer, f->pk[want[i][0]], CHAIN_PK_BYTES);
            assert_int_equal(tx.nonce, want[i][1]);
            chain_tx_deinit(&tx);
        }
        fx_free(f);
    }
}

static void test_a_commit_elsewhere_drops_transactions_whose_nonce_is_used(void **state)
{
    (void)state;
    struct fx *f = fx_new(100, 1 << 20, 1);
    for (uint64_t k = 0; k < 4; k++)
        assert_int_equal(submit_tx(f, 5, k), 0);
    /* a block this pool never saw used nonces 0 and 1 of account 5 */
    f->committed[5] = 2;
    node_mempool_committed(f->mp, NULL, 0);
    const uint8_t *txs[8];
    size_t lens[8];
    size_t n = node_mempool_select(f->mp, 8, SIZE_MAX, txs, lens);
    assert_int_equal(n, 2);
    assert_int_equal(node_mempool_count(f->mp), 2);
    struct chain_tx tx;
    assert_int_equal(chain_tx_decode(&f->reg, txs[0], lens[0], &tx), 0);
    assert_int_equal(tx.nonce, 2);
    chain_tx_deinit(&tx);
    fx_free(f);
}

static void test_many_submissions_from_many_threads_all_get_one_verdict(void **state)
{
    (void)state;
    struct fx *f = fx_new(5000, 64 << 20, 3);
    uint8_t h[CHAIN_HASH_BYTES];
    size_t bad = 0;
    for (uint64_t k = 0; k < 16 * NACC; k++) { /* nonces 0..15: within max_nonce_ahead */
        size_t len;
        uint8_t *tx = transfer(f, (int)(k % NACC), k / NACC, 5, "test-chain", &len);
        if (k % 7 == 0) {
            tx[len - 1] ^= 0x40;
            bad++;
        }
        assert_int_equal(node_mempool_submit(f->mp, tx, len, h, NULL), 0);
        free(tx);
    }
    node_mempool_drain(f->mp);
    assert_int_equal(f->results, 16 * NACC);
    assert_int_equal(node_mempool_count(f->mp), 16 * NACC - bad);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_valid_transfer_is_admitted_and_its_signature_cached),
        cmocka_unit_test(test_refusals_are_named),
        cmocka_unit_test(test_duplicate_is_refused_while_still_being_verified),
        cmocka_unit_test(test_the_pool_is_bounded_in_count_and_bytes),
        cmocka_unit_test(test_selection_matches_a_naive_reference_in_nonce_order),
        cmocka_unit_test(test_a_commit_elsewhere_drops_transactions_whose_nonce_is_used),
        cmocka_unit_test(test_many_submissions_from_many_threads_all_get_one_verdict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
