/* test_chain_scan.c -- chain_state_scan against a naive model: committed
 * keys in LMDB, a write-set of puts, deletes and rolled-back writes on top,
 * and every scan (prefix, start key) compared with a sorted list built by
 * brute force. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after setjmp.h, stdarg.h and stddef.h */

#include "chain_scan.h"
#include "chain_state.h"
#include "testutil.h"

#define NKEYS 64
#define MAXK  6

/* The model: key i is "s/" followed by up to 4 bytes over {a, b, \0, \xff}. */
struct model {
    uint8_t key[NKEYS][MAXK];
    size_t klen[NKEYS];
    int committed[NKEYS]; /* value byte or -1 */
    int live[NKEYS];      /* after the write-set: value byte or -1 */
};

static int lmdb_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al < bl ? -1 : al > bl);
}

struct seen {
    uint8_t key[NKEYS * 2][MAXK];
    size_t klen[NKEYS * 2];
    int val[NKEYS * 2];
    size_t n, stop_after;
};

static int record(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    struct seen *s = arg;
    assert_true(kl <= MAXK && vl == 1 && s->n < NKEYS * 2);
    memcpy(s->key[s->n], k, kl);
    s->klen[s->n] = kl;
    s->val[s->n] = v[0];
    s->n++;
    return s->stop_after && s->n == s->stop_after ? 7 : 0;
}

static int fail_at_first(void *arg, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    (void)arg, (void)k, (void)kl, (void)v, (void)vl;
    return CHAIN_ERR_STORE;
}

static void random_key(struct tu_rng *r, uint8_t *k, size_t *kl)
{
    static const uint8_t alpha[4] = {'a', 'b', 0x00, 0xff};
    k[0] = 's';
    k[1] = '/';
    size_t n = tu_below(r, 5);
    for (size_t i = 0; i < n; i++)
        k[2 + i] = alpha[tu_below(r, 4)];
    *kl = 2 + n;
}

static void check_scan(struct chain_exec_ctx *ctx, const struct model *m, const uint8_t *prefix,
                       size_t pl, const uint8_t *start, size_t sl)
{
    /* Naive: every live key with the prefix and >= start, selection-sorted. */
    int want[NKEYS];
    size_t nw = 0;
    for (int i = 0; i < NKEYS; i++) {
        if (m->live[i] < 0 || m->klen[i] < pl || memcmp(m->key[i], prefix, pl) != 0)
            continue;
        if (start && lmdb_cmp(m->key[i], m->klen[i], start, sl) < 0)
            continue;
        want[nw++] = i;
    }
    for (size_t i = 0; i < nw; i++)
        for (size_t j = i + 1; j < nw; j++)
            if (lmdb_cmp(m->key[want[j]], m->klen[want[j]], m->key[want[i]], m->klen[want[i]]) <
                0) {
                int x = want[i];
                want[i] = want[j];
                want[j] = x;
            }
    struct seen *s = calloc(1, sizeof *s);
    assert_int_equal(chain_state_scan(ctx, prefix, pl, start, sl, record, s), CHAIN_ERR_OK);
    assert_int_equal(s->n, nw);
    for (size_t i = 0; i < nw; i++) {
        assert_int_equal(s->klen[i], m->klen[want[i]]);
        assert_memory_equal(s->key[i], m->key[want[i]], s->klen[i]);
        assert_int_equal(s->val[i], m->live[want[i]]);
    }
    if (nw >= 2) { /* a positive callback value stops the scan and comes back */
        memset(s, 0, sizeof *s);
        s->stop_after = 2;
        assert_int_equal(chain_state_scan(ctx, prefix, pl, start, sl, record, s), 7);
        assert_int_equal(s->n, 2);
    }
    if (nw >= 1)
        assert_int_equal(chain_state_scan(ctx, prefix, pl, start, sl, fail_at_first, NULL),
                         CHAIN_ERR_STORE);
    free(s);
}

static void test_scan_merges_snapshot_and_write_set_in_key_order(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 60; seed++) {
        struct tu_rng r = {seed};
        struct model m;
        struct chain_store st;
        char *dir = tu_tmpdir("scan");
        struct chain_store_opts o = {.map_size = (size_t)64 << 20, .no_sync = true};
        assert_int_equal(chain_store_open(&st, dir, &o), CHAIN_ERR_OK);
        /* Distinct random keys. */
        for (int i = 0; i < NKEYS; i++) {
            bool dup;
            do {
                random_key(&r, m.key[i], &m.klen[i]);
                dup = false;
                for (int j = 0; j < i; j++)
                    dup |= m.klen[j] == m.klen[i] && memcmp(m.key[j], m.key[i], m.klen[i]) == 0;
            } while (dup);
            m.committed[i] = tu_below(&r, 2) ? (int)tu_below(&r, 200) : -1;
        }
        /* Other prefixes around ours, which a scan must never return. */
        MDB_txn *w;
        assert_int_equal(mdb_txn_begin(st.env, NULL, 0, &w), 0);
        const char *noise[] = {"s", "r/zz", "s.", "t/a", "s0"};
        for (size_t i = 0; i < 5; i++) {
            MDB_val k = {strlen(noise[i]), (void *)noise[i]}, v = {1, "x"};
            assert_int_equal(mdb_put(w, st.state, &k, &v, 0), 0);
        }
        for (int i = 0; i < NKEYS; i++) {
            if (m.committed[i] < 0)
                continue;
            uint8_t b = (uint8_t)m.committed[i];
            MDB_val k = {m.klen[i], m.key[i]}, v = {1, &b};
            assert_int_equal(mdb_put(w, st.state, &k, &v, 0), 0);
        }
        assert_int_equal(mdb_txn_commit(w), 0);

        struct chain_ws ws;
        chain_ws_init(&ws);
        MDB_txn *snap;
        assert_int_equal(mdb_txn_begin(st.env, NULL, MDB_RDONLY, &snap), 0);
        struct chain_exec_ctx ctx = {.store = &st, .snap = snap, .ws = &ws};
        memcpy(m.live, m.committed, sizeof m.live);
        for (int op = 0; op < 80; op++) {
            int i = (int)tu_below(&r, NKEYS);
            size_t mark = chain_ws_mark(&ws);
            int before[NKEYS];
            memcpy(before, m.live, sizeof before);
            if (tu_below(&r, 3)) {
                uint8_t b = (uint8_t)(200 + tu_below(&r, 50));
                assert_int_equal(chain_state_put(&ctx, m.key[i], m.klen[i], &b, 1), CHAIN_ERR_OK);
                m.live[i] = b;
            } else {
                assert_int_equal(chain_state_del(&ctx, m.key[i], m.klen[i]), CHAIN_ERR_OK);
                m.live[i] = -1;
            }
            if (tu_below(&r, 6) == 0) { /* a failed transaction: its writes undone */
                chain_ws_rollback(&ws, mark);
                memcpy(m.live, before, sizeof before);
            }
            if (op % 10 == 9) {
                uint8_t start[MAXK];
                size_t sl;
                random_key(&r, start, &sl);
                check_scan(&ctx, &m, (const uint8_t *)"s/", 2, NULL, 0);
                check_scan(&ctx, &m, (const uint8_t *)"s/", 2, start, sl);
                check_scan(&ctx, &m, (const uint8_t *)"s/a", 3, NULL, 0);
                check_scan(&ctx, &m, (const uint8_t *)"s/\xff", 3, NULL, 0);
                check_scan(&ctx, &m, (const uint8_t *)"s/\x00", 3, NULL, 0);
            }
        }
        mdb_txn_abort(snap);
        chain_ws_deinit(&ws);
        chain_store_close(&st);
        tu_rmdir(dir);
        free(dir);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_merges_snapshot_and_write_set_in_key_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
