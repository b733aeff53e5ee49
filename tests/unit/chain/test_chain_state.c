/* test_chain_state.c -- the write-set: reads through, writes recorded, undo by journal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "chain_crypto.h"
#include "chain_state.h"
#include "testutil.h"

struct env {
    char *dir;
    struct chain_store s;
    MDB_txn *snap;
    struct chain_ws ws;
    struct chain_exec_ctx ctx;
};

static void env_open(struct env *e)
{
    struct chain_store_opts o = {.map_size = (size_t)64 << 20, .no_sync = true};
    e->dir = tu_tmpdir("state");
    assert_int_equal(chain_store_open(&e->s, e->dir, &o), CHAIN_ERR_OK);
    /* one committed value to read through */
    MDB_txn *w;
    assert_int_equal(mdb_txn_begin(e->s.env, NULL, 0, &w), 0);
    MDB_val k = {5, "a/old"}, v = {3, "one"};
    assert_int_equal(mdb_put(w, e->s.state, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(w), 0);
    assert_int_equal(mdb_txn_begin(e->s.env, NULL, MDB_RDONLY, &e->snap), 0);
    chain_ws_init(&e->ws);
    e->ctx = (struct chain_exec_ctx){.store = &e->s, .snap = e->snap, .ws = &e->ws};
}

static void env_close(struct env *e)
{
    chain_ws_deinit(&e->ws);
    mdb_txn_abort(e->snap);
    chain_store_close(&e->s);
    tu_rmdir(e->dir);
    free(e->dir);
}

static void assert_value(struct env *e, const char *key, const char *want)
{
    const uint8_t *v;
    size_t n;
    int rc = chain_state_get(&e->ctx, key, strlen(key), &v, &n);
    if (!want) {
        assert_int_equal(rc, CHAIN_ERR_NOT_FOUND);
        return;
    }
    assert_int_equal(rc, CHAIN_ERR_OK);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(v, want, n);
}

static void test_reads_fall_through_to_the_snapshot_until_written(void **state)
{
    (void)state;
    struct env e;
    env_open(&e);
    assert_value(&e, "a/old", "one");
    assert_value(&e, "a/none", NULL);
    assert_int_equal(chain_state_put(&e.ctx, "a/old", 5, "two", 3), CHAIN_ERR_OK);
    assert_value(&e, "a/old", "two");
    assert_int_equal(chain_state_del(&e.ctx, "a/old", 5), CHAIN_ERR_OK);
    assert_value(&e, "a/old", NULL);
    env_close(&e);
}

static void test_rollback_restores_each_key_to_its_value_at_the_mark(void **state)
{
    (void)state;
    struct env e;
    env_open(&e);
    assert_int_equal(chain_state_put(&e.ctx, "k1", 2, "v1", 2), CHAIN_ERR_OK);
    size_t mark = chain_ws_mark(&e.ws);
    assert_int_equal(chain_state_put(&e.ctx, "k1", 2, "v2", 2), CHAIN_ERR_OK);
    assert_int_equal(chain_state_put(&e.ctx, "k1", 2, "v3", 2), CHAIN_ERR_OK);
    assert_int_equal(chain_state_del(&e.ctx, "a/old", 5), CHAIN_ERR_OK);
    assert_int_equal(chain_state_put(&e.ctx, "k2", 2, "new", 3), CHAIN_ERR_OK);
    chain_ws_rollback(&e.ws, mark);
    assert_value(&e, "k1", "v1");
    assert_value(&e, "a/old", "one");
    assert_value(&e, "k2", NULL);
    env_close(&e);
}

static void test_oversized_keys_and_values_are_refused(void **state)
{
    (void)state;
    struct env e;
    static uint8_t big[CHAIN_STATE_VALUE_MAX_BYTES + 1];
    env_open(&e);
    assert_int_equal(chain_state_put(&e.ctx, big, CHAIN_STATE_KEY_MAX_BYTES + 1, "v", 1), CHAIN_ERR_INVALID_ARG);
    assert_int_equal(chain_state_put(&e.ctx, "", 0, "v", 1), CHAIN_ERR_INVALID_ARG);
    assert_int_equal(chain_state_put(&e.ctx, "k", 1, big, sizeof big), CHAIN_ERR_INVALID_ARG);
    env_close(&e);
}

/* Against a naive reference: an array of (key, value, present) with a full
 * copy saved at each mark. */
static void test_random_writes_and_rollbacks_match_a_naive_copy_on_mark_model(void **state)
{
    (void)state;
    enum { KEYS = 64, STEPS = 4000 };
    struct model {
        char val[KEYS][16];
        int st[KEYS]; /* 0 pass, 1 set, 2 del */
    } cur, saved;
    struct env e;
    struct tu_rng r = {99};
    env_open(&e);
    memset(&cur, 0, sizeof cur);
    saved = cur;
    size_t mark = chain_ws_mark(&e.ws);
    for (int step = 0; step < STEPS; step++) {
        int k = (int)tu_below(&r, KEYS);
        char key[16];
        snprintf(key, sizeof key, "key-%d", k);
        switch (tu_below(&r, 10)) {
        case 0: /* mark */
            mark = chain_ws_mark(&e.ws);
            saved = cur;
            break;
        case 1: /* roll back */
            chain_ws_rollback(&e.ws, mark);
            cur = saved;
            break;
        case 2:
            assert_int_equal(chain_state_del(&e.ctx, key, strlen(key)), 0);
            cur.st[k] = 2;
            break;
        default:
            snprintf(cur.val[k], sizeof cur.val[k], "v%llu", (unsigned long long)tu_below(&r, 1000000));
            assert_int_equal(chain_state_put(&e.ctx, key, strlen(key), cur.val[k], strlen(cur.val[k])), 0);
            cur.st[k] = 1;
            break;
        }
        for (int j = 0; j < KEYS; j++) {
            char kj[16];
            snprintf(kj, sizeof kj, "key-%d", j);
            assert_value(&e, kj, cur.st[j] == 1 ? cur.val[j] : NULL);
        }
    }
    env_close(&e);
}

int main(void)
{
    assert_int_equal(chain_crypto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_fall_through_to_the_snapshot_until_written),
        cmocka_unit_test(test_rollback_restores_each_key_to_its_value_at_the_mark),
        cmocka_unit_test(test_oversized_keys_and_values_are_refused),
        cmocka_unit_test(test_random_writes_and_rollbacks_match_a_naive_copy_on_mark_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
