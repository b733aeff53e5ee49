/* test_chain_block.c -- genesis, block building, execution by another node,
 * commit, restart, and a randomised run against a naive model of balances. */
#include "ledger_fixture.h"

#include "chain_proof.h"

#define TOK CHAIN_MICRO_PER_TOKEN

static uint8_t *transfer_tx(struct fx *f, int from, int to, uint64_t amount, size_t *len)
{
    uint8_t *p;
    size_t n;
    assert_int_equal(chain_payload_transfer(f->pk[to], amount, &p, &n), CHAIN_ERR_OK);
    return fx_tx(f, from, GL__TX_TYPE__TX_TRANSFER, p, n, len);
}

static void stat_entries(struct fx *f, size_t out[8])
{
    MDB_txn *txn;
    MDB_stat st;
    MDB_dbi dbis[8] = {f->c.store.meta, f->c.store.blocks, f->c.store.hashes, f->c.store.state,
                       f->c.store.txs, f->c.store.smt.nodes, f->c.store.smt.stale, f->c.store.smt.roots};
    assert_int_equal(mdb_txn_begin(f->c.store.env, NULL, MDB_RDONLY, &txn), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(mdb_stat(txn, dbis[i], &st), 0);
        out[i] = st.ms_entries;
    }
    mdb_txn_abort(txn);
}

static void test_genesis_counts_balances_as_minted_and_survives_reopening(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    assert_true(f.c.has_head);
    assert_int_equal(f.c.head.height, 0);
    uint8_t root[CHAIN_HASH_BYTES], hash[CHAIN_HASH_BYTES];
    memcpy(root, f.c.head.state_root, sizeof root);
    memcpy(hash, f.c.head.hash, sizeof hash);
    assert_memory_not_equal(root, chain_smt_empty, CHAIN_HASH_BYTES);
    fx_assert_supply(&f);
    chain_close(&f.c);
    fx_open_at(&f, f.dir);
    assert_memory_equal(f.c.head.state_root, root, CHAIN_HASH_BYTES);
    assert_memory_equal(f.c.head.hash, hash, CHAIN_HASH_BYTES);
    assert_string_equal(f.c.chain_id, FX_CHAIN_ID);
    fx_close(&f);
}

static void test_a_block_never_committed_leaves_nothing_behind(void **state)
{
    (void)state;
    struct fx f;
    size_t before[8], after[8], len;
    struct chain_exec_result r1, r2;
    fx_open(&f);
    stat_entries(&f, before);
    uint8_t *tx = transfer_tx(&f, FX_ALICE, FX_BOB, 3 * TOK, &len);
    assert_int_equal(chain_build_block(&f.c, f.time_ms + 5, f.pk[FX_VALIDATOR], (const uint8_t *const *)&tx,
                                       &len, 1, &r1),
                     CHAIN_ERR_OK);
    assert_int_equal(r1.ntx, 1);
    stat_entries(&f, after);
    assert_memory_equal(before, after, sizeof before);
    assert_int_equal(f.c.head.height, 0);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, 1000 * TOK);
    /* building again from the same head gives the very same block */
    assert_int_equal(chain_build_block(&f.c, f.time_ms + 5, f.pk[FX_VALIDATOR], (const uint8_t *const *)&tx,
                                       &len, 1, &r2),
                     CHAIN_ERR_OK);
    assert_int_equal(r1.block_len, r2.block_len);
    assert_memory_equal(r1.block_bytes, r2.block_bytes, r1.block_len);
    chain_exec_result_free(&r1);
    assert_int_equal(chain_commit(&f.c, &r2), CHAIN_ERR_OK);
    chain_exec_result_free(&r2);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, 997 * TOK);
    free(tx);
    fx_close(&f);
}

static void test_a_result_built_on_an_old_head_cannot_be_committed(void **state)
{
    (void)state;
    struct fx f;
    size_t l1, l2;
    struct chain_exec_result r1, r2;
    fx_open(&f);
    uint8_t *t1 = transfer_tx(&f, FX_ALICE, FX_BOB, 1, &l1);
    uint8_t *t2 = transfer_tx(&f, FX_BOB, FX_ALICE, 1, &l2);
    assert_int_equal(chain_build_block(&f.c, f.time_ms + 1, f.pk[FX_VALIDATOR], (const uint8_t *const *)&t1,
                                       &l1, 1, &r1),
                     CHAIN_ERR_OK);
    assert_int_equal(chain_build_block(&f.c, f.time_ms + 1, f.pk[FX_VALIDATOR], (const uint8_t *const *)&t2,
                                       &l2, 1, &r2),
                     CHAIN_ERR_OK);
    assert_int_equal(chain_commit(&f.c, &r1), CHAIN_ERR_OK);
    assert_int_equal(chain_commit(&f.c, &r2), CHAIN_ERR_BLOCK_STALE);
    chain_exec_result_free(&r1);
    chain_exec_result_free(&r2);
    free(t1);
    free(t2);
    fx_close(&f);
}

static void test_the_proposer_skips_transactions_that_cannot_be_included(void **state)
{
    (void)state;
    struct fx f;
    size_t lens[5];
    uint8_t *txs[5];
    struct chain_exec_result r;
    fx_open(&f);
    txs[0] = transfer_tx(&f, FX_ALICE, FX_BOB, 1, &lens[0]);
    f.nonce[FX_ALICE] = 7; /* a gap: not the next nonce */
    txs[1] = transfer_tx(&f, FX_ALICE, FX_BOB, 1, &lens[1]);
    txs[2] = transfer_tx(&f, 11, FX_BOB, 1, &lens[2]); /* signer has no account */
    txs[3] = transfer_tx(&f, FX_BOB, FX_CAROL, 2, &lens[3]);
    txs[3][lens[3] - 1] ^= 1;                        /* signature broken */
    txs[4] = (uint8_t *)strdup("not a transaction");
    lens[4] = 17;
    assert_int_equal(chain_build_block(&f.c, f.time_ms + 1, f.pk[FX_VALIDATOR], (const uint8_t *const *)txs,
                                       lens, 5, &r),
                     CHAIN_ERR_OK);
    assert_int_equal(r.ntx, 1);
    assert_int_equal(r.nskipped, 4);
    assert_int_equal(chain_commit(&f.c, &r), CHAIN_ERR_OK);
    chain_exec_result_free(&r);
    assert_int_equal(fx_account(&f, f.pk[FX_BOB]).balance, 1000 * TOK + 1);
    for (int i = 0; i < 5; i++)
        free(txs[i]);
    fx_close(&f);
}

/* A second node with the same genesis: receives blocks as bytes. */
struct two {
    struct fx a, b;
};

static void two_open(struct two *t)
{
    fx_open(&t->a);
    memset(&t->b, 0, sizeof t->b);
    fx_keys(&t->b);
    t->b.dir = tu_tmpdir("ledger-b");
    fx_open_at(&t->b, t->b.dir);
    assert_memory_equal(t->a.c.head.hash, t->b.c.head.hash, CHAIN_HASH_BYTES);
}

static void two_close(struct two *t)
{
    fx_close(&t->a);
    fx_close(&t->b);
}

/* Build a block on a with the given txs, return its bytes (malloc'd). */
static uint8_t *build_on_a(struct two *t, uint8_t **txs, size_t *lens, size_t n, size_t *blen, bool commit)
{
    struct chain_exec_result r;
    t->a.time_ms += 1000;
    assert_int_equal(chain_build_block(&t->a.c, t->a.time_ms, t->a.pk[FX_VALIDATOR],
                                       (const uint8_t *const *)txs, lens, n, &r),
                     CHAIN_ERR_OK);
    uint8_t *b = malloc(r.block_len);
    memcpy(b, r.block_bytes, r.block_len);
    *blen = r.block_len;
    if (commit)
        assert_int_equal(chain_commit(&t->a.c, &r), CHAIN_ERR_OK);
    chain_exec_result_free(&r);
    return b;
}

static void test_another_node_executing_the_block_reaches_the_same_state(void **state)
{
    (void)state;
    struct two t;
    size_t lens[3], blen;
    uint8_t *txs[3];
    struct chain_exec_result r;
    two_open(&t);
    txs[0] = transfer_tx(&t.a, FX_ALICE, FX_BOB, 10, &lens[0]);
    txs[1] = transfer_tx(&t.a, FX_BOB, FX_CAROL, 20, &lens[1]);
    txs[2] = transfer_tx(&t.a, FX_CAROL, FX_ALICE, 2000 * TOK, &lens[2]); /* fails: funds */
    uint8_t *blk = build_on_a(&t, txs, lens, 3, &blen, true);
    assert_int_equal(chain_exec_block(&t.b.c, blk, blen, &r), CHAIN_ERR_OK);
    assert_int_equal(r.ntx, 3);
    assert_int_equal(r.tx_results[2], CHAIN_ERR_INSUFFICIENT_FUNDS);
    assert_int_equal(chain_commit(&t.b.c, &r), CHAIN_ERR_OK);
    chain_exec_result_free(&r);
    assert_memory_equal(t.a.c.head.hash, t.b.c.head.hash, CHAIN_HASH_BYTES);
    assert_memory_equal(t.a.c.head.state_root, t.b.c.head.state_root, CHAIN_HASH_BYTES);
    /* the transaction index records each result */
    MDB_txn *txn;
    uint64_t h;
    uint32_t idx;
    int32_t res;
    uint8_t hash[CHAIN_HASH_BYTES];
    chain_hash(hash, CHAIN_TAG_TX, txs[2], lens[2]);
    assert_int_equal(mdb_txn_begin(t.b.c.store.env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(chain_tx_lookup(&t.b.c, txn, hash, &h, &idx, &res), CHAIN_ERR_OK);
    assert_int_equal(h, 1);
    assert_int_equal(idx, 2);
    assert_int_equal(res, CHAIN_ERR_INSUFFICIENT_FUNDS);
    mdb_txn_abort(txn);
    for (int i = 0; i < 3; i++)
        free(txs[i]);
    free(blk);
    two_close(&t);
}

/* Re-encode a block with a changed header; returns new bytes. */
static uint8_t *mutate_header(const uint8_t *blk, size_t blen, void (*edit)(Gl__BlockHeader *, void *), void *arg,
                              size_t *out_len)
{
    Gl__Block *b = gl__block__unpack(NULL, blen, blk);
    assert_non_null(b);
    Gl__BlockHeader *h = gl__block_header__unpack(NULL, b->header_bytes.len, b->header_bytes.data);
    assert_non_null(h);
    edit(h, arg);
    uint8_t *hb;
    size_t hl;
    assert_int_equal(chain_pb_pack(&h->base, &hb, &hl), CHAIN_ERR_OK);
    free(b->header_bytes.data);
    b->header_bytes.data = hb;
    b->header_bytes.len = hl;
    uint8_t *out;
    assert_int_equal(chain_pb_pack(&b->base, &out, out_len), CHAIN_ERR_OK);
    gl__block_header__free_unpacked(h, NULL);
    gl__block__free_unpacked(b, NULL);
    return out;
}

static void edit_root(Gl__BlockHeader *h, void *a) { (void)a; h->state_root.data[0] ^= 1; }
static void edit_height(Gl__BlockHeader *h, void *a) { (void)a; h->height += 1; }
static void edit_prev(Gl__BlockHeader *h, void *a) { (void)a; h->prev_hash.data[31] ^= 0x80; }
static void edit_time(Gl__BlockHeader *h, void *a) { (void)a; h->time_ms = FX_GENESIS_TIME_MS - 1; }
static void edit_txroot(Gl__BlockHeader *h, void *a) { (void)a; h->tx_root.data[5] ^= 4; }
static void edit_valset(Gl__BlockHeader *h, void *a) { (void)a; h->valset_hash.data[0] ^= 2; }
static void edit_proposer(Gl__BlockHeader *h, void *a) { memcpy(h->proposer.data, a, CHAIN_PK_BYTES); }
static void edit_chain(Gl__BlockHeader *h, void *a) { (void)a; h->chain_id[0] = 'X'; }

static void test_a_received_block_is_refused_for_each_header_lie(void **state)
{
    (void)state;
    struct two t;
    size_t len, blen, mlen;
    struct chain_exec_result r;
    two_open(&t);
    uint8_t *tx = transfer_tx(&t.a, FX_ALICE, FX_BOB, 10, &len);
    uint8_t *blk = build_on_a(&t, &tx, &len, 1, &blen, false);
    struct {
        void (*edit)(Gl__BlockHeader *, void *);
        int want;
    } cases[] = {
        {edit_root, CHAIN_ERR_BLOCK_BAD_STATE_ROOT}, {edit_height, CHAIN_ERR_BLOCK_BAD_HEIGHT},
        {edit_prev, CHAIN_ERR_BLOCK_BAD_PREV},       {edit_time, CHAIN_ERR_BLOCK_BAD_TIME},
        {edit_txroot, CHAIN_ERR_BLOCK_BAD_TX_ROOT},  {edit_valset, CHAIN_ERR_BLOCK_BAD_VALSET},
        {edit_proposer, CHAIN_ERR_BLOCK_BAD_PROPOSER}, {edit_chain, CHAIN_ERR_WRONG_CHAIN},
    };
    size_t before[8], after[8];
    stat_entries(&t.b, before);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *m = mutate_header(blk, blen, cases[i].edit, t.a.pk[FX_ALICE], &mlen);
        assert_int_equal(chain_exec_block(&t.b.c, m, mlen, &r), cases[i].want);
        free(m);
    }
    stat_entries(&t.b, after);
    assert_memory_equal(before, after, sizeof before);
    /* the untouched block is fine */
    assert_int_equal(chain_exec_block(&t.b.c, blk, blen, &r), CHAIN_ERR_OK);
    chain_exec_result_free(&r);
    free(tx);
    free(blk);
    two_close(&t);
}

/* A block whose tx list was swapped after building: rebuild header so only
 * the transactions lie. */
static void test_a_received_block_with_a_bad_transaction_is_refused(void **state)
{
    (void)state;
    struct two t;
    size_t len, blen;
    struct chain_exec_result r;
    two_open(&t);
    uint8_t *tx = transfer_tx(&t.a, FX_ALICE, FX_BOB, 10, &len);
    uint8_t *blk = build_on_a(&t, &tx, &len, 1, &blen, false);
    Gl__Block *b = gl__block__unpack(NULL, blen, blk);
    assert_non_null(b);
    /* flip one bit of the transaction's signature: header tx root now wrong too,
     * so recompute it and the state root cannot matter: BAD_SIG comes first */
    b->txs[0].data[b->txs[0].len - 1] ^= 1;
    Gl__BlockHeader *h = gl__block_header__unpack(NULL, b->header_bytes.len, b->header_bytes.data);
    uint8_t th[1][CHAIN_HASH_BYTES];
    chain_hash(th[0], CHAIN_TAG_TX, b->txs[0].data, b->txs[0].len);
    chain_tx_root(h->tx_root.data, (const uint8_t(*)[CHAIN_HASH_BYTES])th, 1);
    uint8_t *hb, *out;
    size_t hl, ol;
    assert_int_equal(chain_pb_pack(&h->base, &hb, &hl), CHAIN_ERR_OK);
    free(b->header_bytes.data);
    b->header_bytes.data = hb;
    b->header_bytes.len = hl;
    assert_int_equal(chain_pb_pack(&b->base, &out, &ol), CHAIN_ERR_OK);
    assert_int_equal(chain_exec_block(&t.b.c, out, ol, &r), CHAIN_ERR_BAD_SIG);
    free(out);
    gl__block_header__free_unpacked(h, NULL);
    gl__block__free_unpacked(b, NULL);
    free(tx);
    free(blk);
    two_close(&t);
}

/* Naive model: an array of balances and nonces, updated by the obvious rules. */
struct model {
    int64_t bal[FX_KEYS];
    bool exists[FX_KEYS];
};

static void test_random_blocks_match_a_naive_model_with_proofs_and_restarts(void **state)
{
    (void)state;
    struct two t;
    struct model m;
    struct tu_rng rng = {20261121};
    two_open(&t);
    memset(&m, 0, sizeof m);
    for (int i = 0; i < 6; i++)
        m.exists[i] = true;
    m.bal[FX_ALICE] = m.bal[FX_BOB] = m.bal[FX_CAROL] = FX_START_BALANCE;
    int ref = 0;
    static bool used_ref[40 * 32];
    memset(used_ref, 0, sizeof used_ref);
    for (int blkno = 0; blkno < 40; blkno++) {
        size_t n = (size_t)tu_below(&rng, 30);
        uint8_t *txs[32];
        size_t lens[32];
        for (size_t i = 0; i < n; i++) {
            int kind = (int)tu_below(&rng, 10);
            if (kind < 7) { /* transfer between funded users and a few new keys */
                int from = FX_ALICE + (int)tu_below(&rng, 3);
                int to = FX_ALICE + (int)tu_below(&rng, 8);
                uint64_t amt = 1 + tu_below(&rng, 400 * TOK);
                txs[i] = transfer_tx(&t.a, from, to, amt, &lens[i]);
                if (to != from && m.bal[from] >= (int64_t)amt) {
                    m.bal[from] -= (int64_t)amt;
                    m.bal[to] += (int64_t)amt;
                    m.exists[to] = true;
                }
            } else if (kind < 9) {
                int to = FX_ALICE + (int)tu_below(&rng, 8);
                uint64_t amt = 1 + tu_below(&rng, 100 * TOK);
                char bref[32];
                /* every third mint repeats an earlier bank reference */
                int r_no = (ref > 0 && tu_below(&rng, 3) == 0) ? (int)tu_below(&rng, (uint64_t)ref) : ref++;
                snprintf(bref, sizeof bref, "r%d", r_no);
                uint8_t *p;
                size_t pl;
                assert_int_equal(chain_payload_mint(t.a.pk[to], amt, bref, &p, &pl), 0);
                txs[i] = fx_tx(&t.a, FX_SHADOW, GL__TX_TYPE__TX_MINT, p, pl, &lens[i]);
                if (!used_ref[r_no]) {
                    used_ref[r_no] = true;
                    m.bal[to] += (int64_t)amt;
                }
                m.exists[to] = true;
            } else {
                int who = FX_ALICE + (int)tu_below(&rng, 3);
                uint64_t amt = 1 + tu_below(&rng, 50 * TOK);
                uint8_t *p;
                size_t pl;
                assert_int_equal(chain_payload_redeem(amt, "IBAN", &p, &pl), 0);
                txs[i] = fx_tx(&t.a, who, GL__TX_TYPE__TX_REDEEM, p, pl, &lens[i]);
                if (m.bal[who] >= (int64_t)amt)
                    m.bal[who] -= (int64_t)amt;
            }
        }
        size_t blen;
        struct chain_exec_result r;
        t.a.time_ms += 900;
        assert_int_equal(chain_build_block(&t.a.c, t.a.time_ms, t.a.pk[FX_VALIDATOR],
                                           (const uint8_t *const *)txs, lens, n, &r),
                         CHAIN_ERR_OK);
        assert_int_equal(r.ntx, n);
        uint8_t *blk = malloc(r.block_len);
        memcpy(blk, r.block_bytes, r.block_len);
        blen = r.block_len;
        assert_int_equal(chain_commit(&t.a.c, &r), CHAIN_ERR_OK);
        chain_exec_result_free(&r);
        fx_assert_supply(&t.a);
        assert_int_equal(chain_exec_block(&t.b.c, blk, blen, &r), CHAIN_ERR_OK);
        assert_int_equal(chain_commit(&t.b.c, &r), CHAIN_ERR_OK);
        chain_exec_result_free(&r);
        fx_assert_supply(&t.b);
        free(blk);
        for (size_t i = 0; i < n; i++)
            free(txs[i]);
        assert_memory_equal(t.a.c.head.state_root, t.b.c.head.state_root, CHAIN_HASH_BYTES);
        /* every account agrees with the model, and is proven against the root */
        MDB_txn *txn;
        assert_int_equal(mdb_txn_begin(t.b.c.store.env, NULL, MDB_RDONLY, &txn), 0);
        for (int k = 0; k < FX_KEYS; k++) {
            struct chain_account a = fx_account(&t.b, t.b.pk[k]);
            assert_int_equal(a.exists, m.exists[k]);
            assert_int_equal(a.balance, m.bal[k]);
            uint8_t key[CHAIN_KEY_ACCOUNT_BYTES], kh[CHAIN_HASH_BYTES];
            chain_key_account(key, t.b.pk[k]);
            chain_state_key_hash(kh, key, sizeof key);
            struct chain_proof proof;
            const uint8_t *v;
            size_t vl;
            assert_int_equal(chain_smt_prove(txn, &t.b.c.store.smt, t.b.c.head.height, kh, &proof, &v, &vl), 0);
            if (m.exists[k])
                assert_int_equal(chain_proof_verify_kv(t.b.c.head.state_root, key, sizeof key, v, vl, &proof), 0);
            else
                assert_int_equal(chain_proof_verify_kv(t.b.c.head.state_root, key, sizeof key, NULL, 0, &proof), 0);
        }
        mdb_txn_abort(txn);
        /* now and then node b restarts */
        if (blkno % 13 == 12) {
            uint8_t root[CHAIN_HASH_BYTES];
            memcpy(root, t.b.c.head.state_root, sizeof root);
            chain_close(&t.b.c);
            fx_open_at(&t.b, t.b.dir);
            assert_memory_equal(t.b.c.head.state_root, root, CHAIN_HASH_BYTES);
        }
    }
    assert_int_equal(t.a.c.head.height, 40);
    two_close(&t);
}

int main(void)
{
    assert_int_equal(chain_crypto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_genesis_counts_balances_as_minted_and_survives_reopening),
        cmocka_unit_test(test_a_block_never_committed_leaves_nothing_behind),
        cmocka_unit_test(test_a_result_built_on_an_old_head_cannot_be_committed),
        cmocka_unit_test(test_the_proposer_skips_transactions_that_cannot_be_included),
        cmocka_unit_test(test_another_node_executing_the_block_reaches_the_same_state),
        cmocka_unit_test(test_a_received_block_is_refused_for_each_header_lie),
        cmocka_unit_test(test_a_received_block_with_a_bad_transaction_is_refused),
        cmocka_unit_test(test_random_blocks_match_a_naive_model_with_proofs_and_restarts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
