/* test_chain_smt.c -- the LMDB state tree against the naive reference tree
 * (tests/smt_naive.h): roots, reads and proofs byte for byte, at the latest
 * and at older versions, over seeded random operation sequences; plus
 * pruning, reopening, and the edges (empty tree, one key, duplicate keys,
 * keys that share 255 bits).  A failing sequence prints its seed. */
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chain_crypto.h"
#include "chain_proof.h"
#include "chain_smt.h"
#include "smt_naive.h"
#include "testutil.h"

struct fx {
    char *dir;
    MDB_env *env;
    struct chain_smt smt;
};

static void fx_open_env(struct fx *f)
{
    assert_int_equal(mdb_env_create(&f->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(f->env, 8), 0);
    assert_int_equal(mdb_env_set_mapsize(f->env, (size_t)1 << 30), 0);
    assert_int_equal(mdb_env_open(f->env, f->dir, MDB_NOSYNC, 0600), 0);
    MDB_txn *t;
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &t), 0);
    assert_int_equal(chain_smt_open(t, &f->smt), CHAIN_ERR_OK);
    assert_int_equal(mdb_txn_commit(t), 0);
}

static void fx_open(struct fx *f)
{
    memset(f, 0, sizeof *f);
    assert_int_equal(chain_crypto_init(), CHAIN_ERR_OK);
    f->dir = tu_tmpdir("gl_smt");
    assert_non_null(f->dir);
    fx_open_env(f);
}

static void fx_close(struct fx *f)
{
    mdb_env_close(f->env);
    tu_rmdir(f->dir);
    free(f->dir);
}

static MDB_txn *rtxn(struct fx *f)
{
    MDB_txn *t;
    assert_int_equal(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &t), 0);
    return t;
}

/* compute + write + commit one batch; returns the number of nodes written. */
static size_t apply(struct fx *f, uint64_t base, uint64_t v, struct chain_smt_update *ups, size_t n,
                    uint8_t root_out[CHAIN_HASH_BYTES])
{
    MDB_txn *t;
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &t), 0);
    struct chain_smt_batch *b = NULL;
    assert_int_equal(chain_smt_compute(t, &f->smt, base, v, ups, n, &b), CHAIN_ERR_OK);
    assert_int_equal(chain_smt_batch_write(t, &f->smt, b), CHAIN_ERR_OK);
    memcpy(root_out, chain_smt_batch_root(b), CHAIN_HASH_BYTES);
    size_t nodes = chain_smt_batch_nodes(b);
    chain_smt_batch_free(b);
    assert_int_equal(mdb_txn_commit(t), 0);
    return nodes;
}

/* The tree at version agrees with the naive model for key: get, and the
 * proof byte for byte, and the proof verifies with the right claim. */
static void check_key_as(struct fx *f, MDB_txn *t, uint64_t v, const struct smt_naive *m,
                         const uint8_t root[CHAIN_HASH_BYTES], const uint8_t key[CHAIN_HASH_BYTES],
                         bool naive_proof)
{
    const struct smt_naive_entry *e = smt_naive_find(m, key);
    const uint8_t *val = NULL;
    size_t len = 0;
    int rc = chain_smt_get(t, &f->smt, v, key, &val, &len);
    if (e) {
        assert_int_equal(rc, CHAIN_ERR_OK);
        assert_int_equal(len, e->value_len);
        if (len)
            assert_memory_equal(val, e->value, len);
    } else {
        assert_int_equal(rc, CHAIN_ERR_NOT_FOUND);
    }

    static struct chain_proof got, want;
    assert_int_equal(chain_smt_prove(t, &f->smt, v, key, &got, &val, &len), CHAIN_ERR_OK);
    assert_int_equal(val != NULL, e != NULL);
    if (!naive_proof)
        goto verify;
    smt_naive_prove(m, key, &want);
    assert_int_equal(got.depth, want.depth);
    assert_int_equal(got.terminal, want.terminal);
    uint8_t *gb, *wb;
    size_t gl, wl;
    assert_int_equal(chain_proof_encode(&got, &gb, &gl), CHAIN_ERR_OK);
    assert_int_equal(chain_proof_encode(&want, &wb, &wl), CHAIN_ERR_OK);
    assert_int_equal(gl, wl);
    assert_memory_equal(gb, wb, gl);
    free(gb);
    free(wb);

verify:;
    uint8_t vh[CHAIN_HASH_BYTES];
    if (e) {
        chain_value_hash(vh, e->value, e->value_len);
        assert_int_equal(chain_proof_verify(root, key, vh, &got), CHAIN_ERR_OK);
        assert_int_equal(chain_proof_verify(root, key, NULL, &got), CHAIN_ERR_PROOF_INVALID);
    } else {
        assert_int_equal(chain_proof_verify(root, key, NULL, &got), CHAIN_ERR_OK);
        memset(vh, 0x5a, sizeof vh);
        assert_int_equal(chain_proof_verify(root, key, vh, &got), CHAIN_ERR_PROOF_INVALID);
    }
}

static void check_key(struct fx *f, MDB_txn *t, uint64_t v, const struct smt_naive *m,
                      const uint8_t root[CHAIN_HASH_BYTES], const uint8_t key[CHAIN_HASH_BYTES])
{
    check_key_as(f, t, v, m, root, key, true);
}

/* A key: random, or sharing a long prefix with an existing one (down to the
 * last bit, which puts two leaves at depth 256), or under a fixed prefix. */
static void gen_key(struct tu_rng *r, const struct smt_naive *m, uint8_t key[CHAIN_HASH_BYTES])
{
    tu_fill(r, key, CHAIN_HASH_BYTES);
    uint64_t mode = tu_below(r, 10);
    if (mode < 2 && m->n > 0) {
        memcpy(key, m->e[tu_below(r, m->n)].key, CHAIN_HASH_BYTES);
        unsigned bit = mode == 0 ? 255u : (unsigned)(160 + tu_below(r, 96));
        key[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
    } else if (mode < 4) {
        memset(key, 0xab, 1 + tu_below(r, 12)); /* a crowded corner of the tree */
    }
}

static bool in_batch(const struct chain_smt_update *ups, size_t n, const uint8_t key[CHAIN_HASH_BYTES])
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(ups[i].key_hash, key, CHAIN_HASH_BYTES) == 0)
            return true;
    return false;
}

#define MAX_BATCH 200u
#define N_VERSIONS 20u

struct history {
    struct smt_naive model[N_VERSIONS];
    uint8_t root[N_VERSIONS][CHAIN_HASH_BYTES];
};

/* Checks version v of the tree against its model: root, and a sample of
 * present and absent keys. */
static void check_version(struct fx *f, struct tu_rng *r, uint64_t v, const struct smt_naive *m,
                          const uint8_t root[CHAIN_HASH_BYTES], size_t samples)
{
    MDB_txn *t = rtxn(f);
    uint8_t got[CHAIN_HASH_BYTES];
    assert_int_equal(chain_smt_root(t, &f->smt, v, got), CHAIN_ERR_OK);
    assert_memory_equal(got, root, CHAIN_HASH_BYTES);
    for (size_t i = 0; i < samples && m->n > 0; i++)
        check_key(f, t, v, m, root, m->e[tu_below(r, m->n)].key);
    for (size_t i = 0; i < samples; i++) {
        uint8_t k[CHAIN_HASH_BYTES];
        gen_key(r, m, k);
        check_key(f, t, v, m, root, k);
    }
    mdb_txn_abort(t);
}

/* Runs N_VERSIONS random batches; the model of every version is kept. */
static void run_sequence(struct fx *f, uint64_t seed, struct history *h, size_t samples)
{
    struct tu_rng r = {seed};
    struct smt_naive cur = {0};
    static struct chain_smt_update ups[MAX_BATCH];
    static uint8_t vals[MAX_BATCH][SMT_NAIVE_VALUE_MAX];
    for (uint64_t v = 0; v < N_VERSIONS; v++) {
        size_t n = (size_t)tu_below(&r, MAX_BATCH + 1);
        if (tu_below(&r, 8) == 0)
            n = 0;
        size_t k = 0;
        while (k < n) {
            struct chain_smt_update *u = &ups[k];
            /* 0-1 update, 2-3 delete, 4-8 insert, 9 delete a (most likely) absent key */
            uint64_t op = tu_below(&r, 10);
            if (op < 4 && cur.n > 0)
                memcpy(u->key_hash, cur.e[tu_below(&r, cur.n)].key, CHAIN_HASH_BYTES);
            else
                gen_key(&r, &cur, u->key_hash);
            if (in_batch(ups, k, u->key_hash))
                continue;
            bool del = op == 2 || op == 3 || op == 9;
            if (del) {
                u->value = NULL;
                u->value_len = 0;
            } else {
                u->value_len = (size_t)tu_below(&r, SMT_NAIVE_VALUE_MAX + 1);
                tu_fill(&r, vals[k], u->value_len);
                u->value = vals[k];
            }
            k++;
        }
        uint8_t root[CHAIN_HASH_BYTES];
        apply(f, v == 0 ? CHAIN_SMT_NO_VERSION : v - 1, v, ups, n, root);
        for (size_t i = 0; i < n; i++) {
            if (ups[i].value)
                smt_naive_set(&cur, ups[i].key_hash, ups[i].value, ups[i].value_len);
            else
                smt_naive_del(&cur, ups[i].key_hash);
        }
        uint8_t want[CHAIN_HASH_BYTES];
        smt_naive_root(&cur, want);
        if (memcmp(root, want, CHAIN_HASH_BYTES) != 0)
            fail_msg("seed %llu: root differs at version %llu", (unsigned long long)seed,
                     (unsigned long long)v);
        smt_naive_copy(&h->model[v], &cur);
        memcpy(h->root[v], want, CHAIN_HASH_BYTES);

        check_version(f, &r, v, &cur, want, samples);
        uint64_t old = tu_below(&r, v + 1);
        check_version(f, &r, old, &h->model[old], h->root[old], (samples + 1) / 2);
    }
    smt_naive_free(&cur);
}

static void history_free(struct history *h)
{
    for (size_t i = 0; i < N_VERSIONS; i++)
        smt_naive_free(&h->model[i]);
}

static void test_root_matches_naive_tree_on_random_operation_sequences(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {1, 2, 0xfeedbeef};
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        struct fx f;
        fx_open(&f);
        static struct history h;
        memset(&h, 0, sizeof h);
        run_sequence(&f, seeds[s], &h, 6);
        history_free(&h);
        fx_close(&f);
    }
}

static void test_empty_tree_root_is_zero_and_proves_every_key_absent(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    uint8_t root[CHAIN_HASH_BYTES];
    assert_int_equal(apply(&f, CHAIN_SMT_NO_VERSION, 0, NULL, 0, root), 0);
    assert_memory_equal(root, chain_smt_empty, CHAIN_HASH_BYTES);
    MDB_txn *t = rtxn(&f);
    uint64_t latest;
    assert_int_equal(chain_smt_latest(t, &f.smt, &latest), CHAIN_ERR_OK);
    assert_int_equal(latest, 0);
    uint8_t got[CHAIN_HASH_BYTES];
    assert_int_equal(chain_smt_root(t, &f.smt, 0, got), CHAIN_ERR_OK);
    assert_memory_equal(got, chain_smt_empty, CHAIN_HASH_BYTES);
    struct smt_naive m = {0};
    uint8_t k[CHAIN_HASH_BYTES];
    memset(k, 7, sizeof k);
    check_key(&f, t, 0, &m, root, k);
    mdb_txn_abort(t);
    fx_close(&f);
}

static void test_latest_is_no_version_before_the_first_batch(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    MDB_txn *t = rtxn(&f);
    uint64_t latest = 0;
    assert_int_equal(chain_smt_latest(t, &f.smt, &latest), CHAIN_ERR_OK);
    assert_true(latest == CHAIN_SMT_NO_VERSION);
    uint8_t root[CHAIN_HASH_BYTES];
    assert_int_equal(chain_smt_root(t, &f.smt, 0, root), CHAIN_ERR_VERSION_PRUNED);
    mdb_txn_abort(t);
    fx_close(&f);
}

static void test_single_key_root_is_its_leaf_hash(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    static const uint8_t value[] = "one kWh";
    struct chain_smt_update u = {.value = value, .value_len = sizeof value};
    chain_state_key_hash(u.key_hash, "acct/alice", 10);
    uint8_t root[CHAIN_HASH_BYTES], vh[CHAIN_HASH_BYTES], leaf[CHAIN_HASH_BYTES];
    assert_int_equal(apply(&f, CHAIN_SMT_NO_VERSION, 1, &u, 1, root), 1);
    chain_value_hash(vh, value, sizeof value);
    chain_leaf_hash(leaf, u.key_hash, vh);
    assert_memory_equal(root, leaf, CHAIN_HASH_BYTES);

    MDB_txn *t = rtxn(&f);
    struct chain_proof p;
    const uint8_t *got;
    size_t len;
    assert_int_equal(chain_smt_prove(t, &f.smt, 1, u.key_hash, &p, &got, &len), CHAIN_ERR_OK);
    assert_int_equal(p.depth, 0);
    assert_int_equal(len, sizeof value);
    assert_memory_equal(got, value, len);
    assert_int_equal(chain_proof_verify_kv(root, "acct/alice", 10, value, sizeof value, &p),
                     CHAIN_ERR_OK);
    mdb_txn_abort(t);
    fx_close(&f);
}

static void db_counts(struct fx *f, size_t out[4])
{
    MDB_txn *t = rtxn(f);
    MDB_stat st;
    MDB_dbi dbis[3] = {f->smt.nodes, f->smt.stale, f->smt.roots};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mdb_stat(t, dbis[i], &st), 0);
        out[i] = st.ms_entries;
    }
    assert_int_equal(mdb_stat(t, 1 /* MAIN_DBI */, &st), 0);
    out[3] = st.ms_entries;
    mdb_txn_abort(t);
}

static void test_compute_without_write_leaves_the_store_unchanged(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    struct tu_rng r = {42};
    struct chain_smt_update ups[50];
    uint8_t vals[50][8];
    for (size_t i = 0; i < 50; i++) {
        tu_fill(&r, ups[i].key_hash, CHAIN_HASH_BYTES);
        tu_fill(&r, vals[i], 8);
        ups[i].value = vals[i];
        ups[i].value_len = 8;
    }
    uint8_t root[CHAIN_HASH_BYTES];
    apply(&f, CHAIN_SMT_NO_VERSION, 0, ups, 50, root);
    size_t before[4], after[4];
    db_counts(&f, before);

    for (size_t i = 0; i < 50; i++)
        tu_fill(&r, ups[i].key_hash, CHAIN_HASH_BYTES);
    MDB_txn *t = rtxn(&f);
    struct chain_smt_batch *b;
    assert_int_equal(chain_smt_compute(t, &f.smt, 0, 1, ups, 50, &b), CHAIN_ERR_OK);
    assert_true(chain_smt_batch_nodes(b) > 50);
    chain_smt_batch_free(b);
    mdb_txn_abort(t);

    db_counts(&f, after);
    assert_memory_equal(before, after, sizeof before);
    t = rtxn(&f);
    uint64_t latest;
    assert_int_equal(chain_smt_latest(t, &f.smt, &latest), CHAIN_ERR_OK);
    assert_int_equal(latest, 0);
    mdb_txn_abort(t);
    fx_close(&f);
}

static void test_duplicate_keys_and_bad_versions_are_rejected(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    static const uint8_t v1[] = "a", v2[] = "b";
    struct chain_smt_update ups[3] = {{.value = v1, .value_len = 1}, {.value = v2, .value_len = 1},
                                      {.value = NULL}};
    memset(ups[0].key_hash, 1, CHAIN_HASH_BYTES);
    memset(ups[1].key_hash, 2, CHAIN_HASH_BYTES);
    memset(ups[2].key_hash, 1, CHAIN_HASH_BYTES); /* same key as ups[0], as a delete */
    MDB_txn *t = rtxn(&f);
    struct chain_smt_batch *b = (void *)1;
    assert_int_equal(chain_smt_compute(t, &f.smt, CHAIN_SMT_NO_VERSION, 0, ups, 3, &b),
                     CHAIN_ERR_INVALID_ARG);
    assert_null(b);
    /* two distinct keys from here on (compute sorted ups in place) */
    struct chain_smt_update two[2] = {{.value = v1, .value_len = 1}, {.value = v2, .value_len = 1}};
    memset(two[0].key_hash, 1, CHAIN_HASH_BYTES);
    memset(two[1].key_hash, 2, CHAIN_HASH_BYTES);
    assert_int_equal(chain_smt_compute(t, &f.smt, 5, 5, two, 2, &b), CHAIN_ERR_INVALID_ARG);
    assert_int_equal(chain_smt_compute(t, &f.smt, 5, 4, two, 2, &b), CHAIN_ERR_INVALID_ARG);
    assert_int_equal(chain_smt_compute(t, &f.smt, 5, 6, two, 2, &b), CHAIN_ERR_VERSION_PRUNED);
    assert_int_equal(chain_smt_compute(t, &f.smt, 0, CHAIN_SMT_NO_VERSION, two, 2, &b),
                     CHAIN_ERR_INVALID_ARG);
    two[1].value_len = CHAIN_STATE_VALUE_MAX_BYTES + 1;
    assert_int_equal(chain_smt_compute(t, &f.smt, CHAIN_SMT_NO_VERSION, 0, two, 2, &b),
                     CHAIN_ERR_INVALID_ARG);
    assert_null(b);
    mdb_txn_abort(t);
    fx_close(&f);
}

static void test_no_op_batches_write_no_nodes_but_record_a_root(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    struct tu_rng r = {9};
    struct chain_smt_update ups[20];
    uint8_t val[4] = {1, 2, 3, 4};
    for (size_t i = 0; i < 20; i++) {
        tu_fill(&r, ups[i].key_hash, CHAIN_HASH_BYTES);
        ups[i].value = val;
        ups[i].value_len = sizeof val;
    }
    uint8_t r0[CHAIN_HASH_BYTES], r1[CHAIN_HASH_BYTES], r2[CHAIN_HASH_BYTES];
    apply(&f, CHAIN_SMT_NO_VERSION, 0, ups, 20, r0);
    /* the same values again, and deletes of absent keys: nothing changes */
    struct chain_smt_update more[25];
    memcpy(more, ups, sizeof ups);
    for (size_t i = 20; i < 25; i++) {
        tu_fill(&r, more[i].key_hash, CHAIN_HASH_BYTES);
        more[i].value = NULL;
        more[i].value_len = 0;
    }
    assert_int_equal(apply(&f, 0, 1, more, 25, r1), 0);
    assert_memory_equal(r0, r1, CHAIN_HASH_BYTES);
    assert_int_equal(apply(&f, 1, 7, NULL, 0, r2), 0);
    assert_memory_equal(r0, r2, CHAIN_HASH_BYTES);
    MDB_txn *t = rtxn(&f);
    uint8_t got[CHAIN_HASH_BYTES];
    assert_int_equal(chain_smt_root(t, &f.smt, 7, got), CHAIN_ERR_OK);
    assert_memory_equal(got, r0, CHAIN_HASH_BYTES);
    assert_int_equal(chain_smt_root(t, &f.smt, 4, got), CHAIN_ERR_VERSION_PRUNED);
    mdb_txn_abort(t);
    fx_close(&f);
}

static void test_keys_sharing_255_bits_put_leaves_at_depth_256(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    struct smt_naive m = {0};
    static const uint8_t va[] = "a", vb[] = "b", vc[] = "c";
    struct chain_smt_update ups[3] = {{.value = va, .value_len = 1}, {.value = vb, .value_len = 1},
                                      {.value = vc, .value_len = 1}};
    memset(ups[0].key_hash, 0x3c, CHAIN_HASH_BYTES);
    memcpy(ups[1].key_hash, ups[0].key_hash, CHAIN_HASH_BYTES);
    ups[1].key_hash[31] ^= 1; /* differs in bit 255 only */
    memset(ups[2].key_hash, 0xc3, CHAIN_HASH_BYTES);
    for (int i = 0; i < 3; i++)
        smt_naive_set(&m, ups[i].key_hash, ups[i].value, 1);
    uint8_t root[CHAIN_HASH_BYTES], want[CHAIN_HASH_BYTES];
    uint8_t k0[CHAIN_HASH_BYTES], k1[CHAIN_HASH_BYTES];
    memcpy(k0, ups[0].key_hash, sizeof k0);
    memcpy(k1, ups[1].key_hash, sizeof k1);
    apply(&f, CHAIN_SMT_NO_VERSION, 0, ups, 3, root);
    smt_naive_root(&m, want);
    assert_memory_equal(root, want, CHAIN_HASH_BYTES);

    MDB_txn *t = rtxn(&f);
    struct chain_proof p;
    const uint8_t *v;
    size_t len;
    assert_int_equal(chain_smt_prove(t, &f.smt, 0, k0, &p, &v, &len), CHAIN_ERR_OK);
    assert_int_equal(p.depth, 256);
    check_key(&f, t, 0, &m, root, k0);
    check_key(&f, t, 0, &m, root, k1);
    mdb_txn_abort(t);

    /* Deleting one of the pair lifts the other from depth 256 to depth 1. */
    struct chain_smt_update del = {.value = NULL};
    memcpy(del.key_hash, k1, CHAIN_HASH_BYTES);
    apply(&f, 0, 1, &del, 1, root);
    smt_naive_del(&m, k1);
    smt_naive_root(&m, want);
    assert_memory_equal(root, want, CHAIN_HASH_BYTES);
    t = rtxn(&f);
    assert_int_equal(chain_smt_prove(t, &f.smt, 1, k0, &p, &v, &len), CHAIN_ERR_OK);
    assert_int_equal(p.depth, 1);
    check_key(&f, t, 1, &m, root, k0);
    check_key(&f, t, 1, &m, root, k1);
    mdb_txn_abort(t);
    smt_naive_free(&m);
    fx_close(&f);
}

static void test_pruning_keeps_retained_versions_and_removes_stale_nodes(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    static struct history h;
    memset(&h, 0, sizeof h);
    run_sequence(&f, 77, &h, 2);

    size_t before[4], after[4];
    db_counts(&f, before);
    const uint64_t keep_from = N_VERSIONS / 2;
    MDB_txn *t;
    assert_int_equal(mdb_txn_begin(f.env, NULL, 0, &t), 0);
    size_t removed = 0;
    assert_int_equal(chain_smt_prune(t, &f.smt, keep_from, &removed), CHAIN_ERR_OK);
    assert_int_equal(mdb_txn_commit(t), 0);
    assert_true(removed > 0);
    db_counts(&f, after);
    assert_int_equal(after[0], before[0] - removed);
    assert_int_equal(after[2], N_VERSIONS - keep_from);

    /* Every key of every kept version: each walk touches every node on its path. */
    t = rtxn(&f);
    for (uint64_t v = keep_from; v < N_VERSIONS; v++) {
        uint8_t got[CHAIN_HASH_BYTES];
        assert_int_equal(chain_smt_root(t, &f.smt, v, got), CHAIN_ERR_OK);
        assert_memory_equal(got, h.root[v], CHAIN_HASH_BYTES);
        for (size_t i = 0; i < h.model[v].n; i++)
            check_key_as(&f, t, v, &h.model[v], h.root[v], h.model[v].e[i].key, i % 64 == 0);
    }
    for (uint64_t v = 0; v < keep_from; v++) {
        uint8_t got[CHAIN_HASH_BYTES];
        struct chain_proof p;
        const uint8_t *val;
        size_t len;
        assert_int_equal(chain_smt_root(t, &f.smt, v, got), CHAIN_ERR_VERSION_PRUNED);
        assert_int_equal(chain_smt_get(t, &f.smt, v, h.root[v], &val, &len),
                         CHAIN_ERR_VERSION_PRUNED);
        assert_int_equal(chain_smt_prove(t, &f.smt, v, h.root[v], &p, &val, &len),
                         CHAIN_ERR_VERSION_PRUNED);
    }
    mdb_txn_abort(t);

    /* Pruning again at the same point removes nothing more. */
    assert_int_equal(mdb_txn_begin(f.env, NULL, 0, &t), 0);
    assert_int_equal(chain_smt_prune(t, &f.smt, keep_from, &removed), CHAIN_ERR_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(mdb_txn_commit(t), 0);

    /* And the tree keeps growing from a kept version. */
    uint8_t root[CHAIN_HASH_BYTES], want[CHAIN_HASH_BYTES];
    struct smt_naive m;
    smt_naive_copy(&m, &h.model[N_VERSIONS - 1]);
    struct chain_smt_update u = {.value = (const uint8_t *)"x", .value_len = 1};
    memset(u.key_hash, 0x11, CHAIN_HASH_BYTES);
    apply(&f, N_VERSIONS - 1, N_VERSIONS, &u, 1, root);
    smt_naive_set(&m, u.key_hash, u.value, 1);
    smt_naive_root(&m, want);
    assert_memory_equal(root, want, CHAIN_HASH_BYTES);
    smt_naive_free(&m);
    history_free(&h);
    fx_close(&f);
}

static int cmp_key32(const void *a, const void *b)
{
    return memcmp(a, b, CHAIN_HASH_BYTES);
}

/* Nibbles two keys share from the top (0..63 for distinct keys). */
static unsigned shared_nibbles(const uint8_t *a, const uint8_t *b)
{
    unsigned n = 0;
    while (n < 64u) {
        unsigned x = ((unsigned)a[n / 2u] >> ((n & 1u) ? 0u : 4u)) & 0xfu;
        unsigned y = ((unsigned)b[n / 2u] >> ((n & 1u) ? 0u : 4u)) & 0xfu;
        if (x != y)
            break;
        n++;
    }
    assert_true(n < 64u);
    return n;
}

/* The nodes a radix-16 tree over the model's keys stores, computed from the
 * keys alone: one leaf per key, and one internal node per nibble prefix
 * (lengths 0..63) that at least two keys share.  Over the sorted keys, the
 * prefixes shared by k[i] and k[i+1] are those of length 0..L[i] (L = shared
 * nibbles), and those also shared by k[i-1] and k[i] are the first
 * min(L[i-1], L[i]) + 1 of them (sorted order: a prefix shared by k[j] and
 * k[i+1] is shared by every key between). */
static size_t radix_node_count(const struct smt_naive *m)
{
    if (m->n < 2)
        return m->n;
    uint8_t(*k)[CHAIN_HASH_BYTES] = malloc(m->n * CHAIN_HASH_BYTES);
    assert_non_null(k);
    for (size_t i = 0; i < m->n; i++)
        memcpy(k[i], m->e[i].key, CHAIN_HASH_BYTES);
    qsort(k, m->n, CHAIN_HASH_BYTES, cmp_key32);
    size_t inner = 0;
    unsigned prev = 0;
    for (size_t i = 0; i + 1 < m->n; i++) {
        unsigned l = shared_nibbles(k[i], k[i + 1]);
        inner += l + 1u;
        if (i > 0)
            inner -= (l < prev ? l : prev) + 1u;
        prev = l;
    }
    free(k);
    return m->n + inner;
}

static void test_pruning_to_the_latest_version_leaves_exactly_its_nodes(void **state)
{
    (void)state;
    static const uint64_t seeds[] = {78};
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        struct fx f;
        fx_open(&f);
        static struct history h;
        memset(&h, 0, sizeof h);
        run_sequence(&f, seeds[s], &h, 1);
        MDB_txn *t;
        assert_int_equal(mdb_txn_begin(f.env, NULL, 0, &t), 0);
        assert_int_equal(chain_smt_prune(t, &f.smt, N_VERSIONS - 1, NULL), CHAIN_ERR_OK);
        assert_int_equal(mdb_txn_commit(t), 0);
        /* No node the latest version reaches was dropped (every walk works),
         * and none it does not reach was left behind (the counts agree). */
        size_t counts[4];
        db_counts(&f, counts);
        const struct smt_naive *m = &h.model[N_VERSIONS - 1];
        assert_int_equal(counts[0], radix_node_count(m));
        assert_int_equal(counts[2], 1);
        t = rtxn(&f);
        for (size_t i = 0; i < m->n; i++)
            check_key_as(&f, t, N_VERSIONS - 1, m, h.root[N_VERSIONS - 1], m->e[i].key, false);
        mdb_txn_abort(t);
        history_free(&h);
        fx_close(&f);
    }
}

static void test_reopening_the_env_gives_the_same_root_and_values(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    static struct history h;
    memset(&h, 0, sizeof h);
    run_sequence(&f, 5, &h, 2);
    mdb_env_close(f.env);
    f.env = NULL;
    fx_open_env(&f);

    struct tu_rng r = {6};
    MDB_txn *t = rtxn(&f);
    uint64_t latest;
    assert_int_equal(chain_smt_latest(t, &f.smt, &latest), CHAIN_ERR_OK);
    assert_int_equal(latest, N_VERSIONS - 1);
    mdb_txn_abort(t);
    for (uint64_t v = 0; v < N_VERSIONS; v += 5)
        check_version(&f, &r, v, &h.model[v], h.root[v], 5);
    check_version(&f, &r, latest, &h.model[latest], h.root[latest], 20);
    history_free(&h);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_matches_naive_tree_on_random_operation_sequences),
        cmocka_unit_test(test_empty_tree_root_is_zero_and_proves_every_key_absent),
        cmocka_unit_test(test_latest_is_no_version_before_the_first_batch),
        cmocka_unit_test(test_single_key_root_is_its_leaf_hash),
        cmocka_unit_test(test_compute_without_write_leaves_the_store_unchanged),
        cmocka_unit_test(test_duplicate_keys_and_bad_versions_are_rejected),
        cmocka_unit_test(test_no_op_batches_write_no_nodes_but_record_a_root),
        cmocka_unit_test(test_keys_sharing_255_bits_put_leaves_at_depth_256),
        cmocka_unit_test(test_pruning_keeps_retained_versions_and_removes_stale_nodes),
        cmocka_unit_test(test_pruning_to_the_latest_version_leaves_exactly_its_nodes),
        cmocka_unit_test(test_reopening_the_env_gives_the_same_root_and_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
