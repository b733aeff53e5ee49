/* test_pbft.c -- the PBFT engine, one protocol step per test, on an in-test
 * cluster fixture (canonical/raft's style): 4 or 7 engines, toy injected
 * crypto, a message queue the test delivers, drops or holds by hand, and
 * crash/restart from exactly what each node persisted.
 *
 * Toy crypto: a node's signature is a 64-byte mix of its secret and the
 * message; verify finds the signer by key in a table and recomputes.  No
 * libsodium, nothing forgeable by accident. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cons.h"
#include "testutil.h"

/* Introspection exported by consensus/pbft.c for tests only. */
uint64_t cons_pbft_stable_checkpoint(const struct cons *c);
size_t cons_pbft_log_len(const struct cons *c);
uint32_t cons_pbft_timeout_ticks(const struct cons *c);

enum { T_PP = 1, T_PREPARE = 2, T_COMMIT = 3, T_CHECKPOINT = 4, T_VC = 5, T_NV = 6, T_FETCH = 7, T_COMMITTED = 8 };
#define HDR 22u
#define MAXN 7u

/* ---- toy crypto ---- */

static uint8_t secrets[CONS_NODES_MAX][32];
static uint8_t keys[CONS_NODES_MAX][CONS_KEY_BYTES];

static void mix(const uint8_t *secret, const uint8_t *m, size_t n, uint8_t out[CONS_SIG_BYTES])
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < 32; i++)
        h = (h ^ secret[i]) * 1099511628211ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ m[i]) * 1099511628211ULL;
    for (size_t i = 0; i < CONS_SIG_BYTES; i++) {
        h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
        out[i] = (uint8_t)(h >> 56);
    }
}

static void toy_sign(void *ctx, const uint8_t *m, size_t n, uint8_t sig[CONS_SIG_BYTES])
{
    mix(secrets[(uintptr_t)ctx], m, n, sig);
}

static bool toy_verify(void *ctx, const uint8_t key[CONS_KEY_BYTES], const uint8_t *m, size_t n,
                       const uint8_t sig[CONS_SIG_BYTES])
{
    (void)ctx;
    for (uint32_t i = 0; i < CONS_NODES_MAX; i++) {
        if (!memcmp(keys[i], key, CONS_KEY_BYTES)) {
            uint8_t want[CONS_SIG_BYTES];
            mix(secrets[i], m, n, want);
            return !memcmp(want, sig, CONS_SIG_BYTES);
        }
    }
    return false;
}

static bool toy_hash(void *ctx, const uint8_t *b, size_t n, uint8_t out[CONS_HASH_BYTES])
{
    static const uint8_t salt[32] = "toy-block-hash";
    uint8_t wide[CONS_SIG_BYTES];
    (void)ctx;
    if (n < 4 || memcmp(b, "BLK", 3))
        return false;
    mix(salt, b, n, wide);
    memcpy(out, wide, CONS_HASH_BYTES);
    return true;
}

static void crypto_init(void)
{
    for (uint32_t i = 0; i < CONS_NODES_MAX; i++) {
        memset(secrets[i], (int)(0x40 + i), 32);
        memset(keys[i], (int)(0x80 + i), CONS_KEY_BYTES);
    }
}

/* ---- the cluster fixture ---- */

struct fx_entry {
    uint64_t height, term;
    uint8_t hash[CONS_HASH_BYTES];
    uint8_t *data;
    size_t len;
};

struct fx_node {
    struct cons *c;
    uint8_t hard[CONS_HARD_STATE_MAX_BYTES];
    size_t hard_len;
    struct fx_entry e[512];
    size_t n_e;
    uint64_t applied;
    uint8_t committed[512][CONS_HASH_BYTES];
    uint32_t cert_sigs[512];
    /* executes waiting for the test (when auto_exec is off) */
    uint64_t x_h[8];
    uint8_t x_hash[8][CONS_HASH_BYTES];
    size_t n_x;
    int byz; /* randomised test: 0 honest, 1 silent, 2 equivocating, 3 garbage */
};

struct fx_msg {
    uint32_t from, to;
    uint64_t at;
    uint8_t *data;
    size_t len;
};

struct fx {
    uint32_t n;
    struct fx_node node[MAXN];
    struct fx_msg *q;
    size_t nq, capq;
    bool cut[MAXN][MAXN];
    bool auto_exec;
    bool invalid[MAXN]; /* node i finds the blocks it executes invalid */
    uint64_t now;
    struct tu_rng rng;
    uint32_t drop_pm, max_delay;
    uint32_t round_ticks, round_ticks_max, checkpoint_interval;
    uint8_t canon[512][CONS_HASH_BYTES];
    bool canon_set[512];
};

static struct fx F;

static struct cons_config fx_config(uint32_t i)
{
    struct cons_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.engine = CONS_ENGINE_PBFT;
    cfg.self = i;
    cfg.n = F.n;
    memcpy(cfg.keys, keys, sizeof keys);
    cfg.seed = 1000 + i;
    cfg.round_ticks = F.round_ticks;
    cfg.round_ticks_max = F.round_ticks_max;
    cfg.checkpoint_interval = F.checkpoint_interval;
    cfg.crypto.ctx = (void *)(uintptr_t)i;
    cfg.crypto.sign = toy_sign;
    cfg.crypto.verify = toy_verify;
    cfg.crypto.block_hash = toy_hash;
    return cfg;
}

static int fx_open(uint32_t i)
{
    struct fx_node *nd = &F.node[i];
    struct cons_entry ents[512];
    for (size_t k = 0; k < nd->n_e; k++) {
        ents[k].height = nd->e[k].height;
        ents[k].term = nd->e[k].term;
        memcpy(ents[k].hash, nd->e[k].hash, CONS_HASH_BYTES);
        ents[k].data = nd->e[k].data;
        ents[k].len = nd->e[k].len;
    }
    struct cons_config cfg = fx_config(i);
    struct cons_disk d = {nd->hard, nd->hard_len, ents, nd->n_e, nd->applied};
    return cons_open(&nd->c, &cfg, &d);
}

static void fx_setup(uint32_t n)
{
    memset(&F, 0, sizeof F);
    F.n = n;
    F.auto_exec = true;
    F.round_ticks = 10;
    F.round_ticks_max = 80;
    F.checkpoint_interval = 4;
    F.rng.s = 7;
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(fx_open(i), CONS_ERR_OK);
}

static void fx_teardown(void)
{
    for (uint32_t i = 0; i < F.n; i++) {
        cons_close(F.node[i].c);
        for (size_t k = 0; k < F.node[i].n_e; k++)
            free(F.node[i].e[k].data);
    }
    for (size_t k = 0; k < F.nq; k++)
        free(F.q[k].data);
    free(F.q);
    memset(&F, 0, sizeof F);
}

static void fx_queue(uint32_t from, uint32_t to, const uint8_t *data, size_t len)
{
    if (F.cut[from][to] || (F.drop_pm && tu_below(&F.rng, 1000) < F.drop_pm))
        return;
    if (F.nq == F.capq) {
        F.capq = F.capq ? 2 * F.capq : 256;
        F.q = realloc(F.q, F.capq * sizeof *F.q);
        assert_non_null(F.q);
    }
    struct fx_msg *m = &F.q[F.nq++];
    m->from = from;
    m->to = to;
    m->at = F.now + (F.max_delay ? tu_below(&F.rng, F.max_delay + 1) : 0);
    m->data = malloc(len ? len : 1);
    memcpy(m->data, data, len);
    m->len = len;
}

/* What a Byzantine node sends instead of `data` (randomised test). */
static void fx_emit(uint32_t from, uint32_t to, const uint8_t *data, size_t len)
{
    struct fx_node *nd = &F.node[from];
    static uint8_t eq[1u << 16];
    switch (nd->byz) {
    case 1: return;
    case 2:
        if (tu_below(&F.rng, 2)) {
            size_t el = sizeof eq;
            if (cons_equivocate(nd->c, data, len, tu_next(&F.rng), eq, &el) == CONS_ERR_OK) {
                fx_queue(from, to, eq, el);
                return;
            }
        }
        break;
    case 3:
        if (tu_below(&F.rng, 2)) {
            uint8_t junk[300];
            size_t jl = len < sizeof junk ? len : sizeof junk;
            memcpy(junk, data, jl);
            if (jl)
                junk[tu_below(&F.rng, jl)] ^= (uint8_t)(1u << tu_below(&F.rng, 8));
            fx_queue(from, to, junk, jl);
            return;
        }
        break;
    default: break;
    }
    fx_queue(from, to, data, len);
}

static void fx_check_commit(uint32_t i, const struct cons_commit *cm)
{
    struct fx_node *nd = &F.node[i];
    uint64_t h = cm->block.height;
    uint8_t hh[CONS_HASH_BYTES];
    if (nd->byz) {
        nd->applied = h;
        return;
    }
    assert_int_equal(h, nd->applied + 1); /* in height order, once */
    assert_true(h < 512);
    assert_true(toy_hash(NULL, cm->block.data, cm->block.len, hh));
    assert_memory_equal(hh, cm->block.hash, CONS_HASH_BYTES);
    assert_int_equal(cm->cert.height, h);
    assert_memory_equal(cm->cert.hash, cm->block.hash, CONS_HASH_BYTES);
    assert_int_equal(cons_cert_check(CONS_ENGINE_PBFT, F.n, (const uint8_t(*)[CONS_KEY_BYTES])keys, &cm->cert,
                                     toy_verify, NULL),
                     CONS_ERR_OK);
    if (F.canon_set[h])
        assert_memory_equal(F.canon[h], cm->block.hash, CONS_HASH_BYTES); /* agreement */
    F.canon_set[h] = true;
    memcpy(F.canon[h], cm->block.hash, CONS_HASH_BYTES);
    memcpy(nd->committed[h], cm->block.hash, CONS_HASH_BYTES);
    nd->cert_sigs[h] = cm->cert.n_sigs;
    nd->applied = h;
}

static void fx_persist(struct fx_node *nd, const struct cons_ready *r)
{
    if (r->hard_state_changed) {
        memcpy(nd->hard, r->hard_state, r->hard_state_len);
        nd->hard_len = r->hard_state_len;
    }
    for (size_t k = 0; k < r->n_entries; k++) {
        const struct cons_entry *e = &r->entries[k];
        while (nd->n_e && nd->e[nd->n_e - 1].height >= e->height)
            free(nd->e[--nd->n_e].data);
        assert_true(nd->n_e < 512);
        struct fx_entry *d = &nd->e[nd->n_e++];
        d->height = e->height;
        d->term = e->term;
        memcpy(d->hash, e->hash, CONS_HASH_BYTES);
        d->data = malloc(e->len ? e->len : 1);
        memcpy(d->data, e->data, e->len);
        d->len = e->len;
    }
}

static void fx_handle(uint32_t i, struct cons_ready *r, int depth)
{
    struct fx_node *nd = &F.node[i];
    fx_persist(nd, r);
    for (size_t k = 0; k < r->n_msgs; k++) {
        const struct cons_out_msg *m = &r->msgs[k];
        for (uint32_t j = 0; j < F.n; j++)
            if (j != i && (m->to == CONS_BROADCAST || m->to == j))
                fx_emit(i, j, m->data, m->len);
    }
    for (size_t k = 0; k < r->n_committed; k++)
        fx_check_commit(i, &r->committed[k]);
    size_t nx = 0;
    uint64_t xh[8];
    uint8_t xhash[8][CONS_HASH_BYTES];
    for (size_t k = 0; k < r->n_execute && nx < 8; k++, nx++) {
        xh[nx] = r->execute[k].height;
        memcpy(xhash[nx], r->execute[k].hash, CONS_HASH_BYTES);
    }
    cons_advance(nd->c, r);
    for (size_t k = 0; k < nx; k++) {
        if (F.auto_exec && depth < 8) {
            struct cons_ready r2;
            assert_int_equal(cons_executed(nd->c, xh[k], xhash[k], !F.invalid[i], &r2), CONS_ERR_OK);
            fx_handle(i, &r2, depth + 1);
        } else if (nd->n_x < 8) {
            nd->x_h[nd->n_x] = xh[k];
            memcpy(nd->x_hash[nd->n_x], xhash[k], CONS_HASH_BYTES);
            nd->n_x++;
        }
    }
}

/* Report the executions the test held back. */
static void fx_execute(uint32_t i, bool valid)
{
    struct fx_node *nd = &F.node[i];
    size_t n = nd->n_x;
    nd->n_x = 0;
    for (size_t k = 0; k < n; k++) {
        struct cons_ready r;
        assert_int_equal(cons_executed(nd->c, nd->x_h[k], nd->x_hash[k], valid, &r), CONS_ERR_OK);
        fx_handle(i, &r, 0);
    }
}

static const char *capture_dir;
static int capture_n[16];

static int fx_step_msg(const struct fx_msg *m)
{
    struct fx_node *nd = &F.node[m->to];
    if (capture_dir && m->to == 0 && m->len > 1 && m->data[1] < 16 && capture_n[m->data[1]] < 3 &&
        (m->from == 1 || m->data[1] == T_NV)) {
        char path[512];
        snprintf(path, sizeof path, "%s/type%u-%d", capture_dir, m->data[1], capture_n[m->data[1]]++);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(m->data, 1, m->len, f);
            fclose(f);
        }
    }
    struct cons_ready r;
    if (!nd->c)
        return CONS_ERR_OK;
    int rc = cons_step(nd->c, m->from, m->data, m->len, &r);
    assert_string_not_equal(cons_err_name(rc), "UNKNOWN");
    fx_handle(m->to, &r, 0);
    return rc;
}

/* Deliver queued messages that are due, in order, until none is left;
 * messages of type `hold` stay queued. */
static void fx_deliver_hold(int hold)
{
    for (int rounds = 0; rounds < 10000; rounds++) {
        size_t k = 0;
        while (k < F.nq && (F.q[k].at > F.now || (hold && F.q[k].len > 1 && F.q[k].data[1] == hold)))
            k++;
        if (k == F.nq)
            return;
        struct fx_msg m = F.q[k];
        memmove(F.q + k, F.q + k + 1, (F.nq - k - 1) * sizeof *F.q);
        F.nq--;
        if (!F.cut[m.from][m.to])
            fx_step_msg(&m);
        free(m.data);
    }
    fail_msg("messages kept flowing for 10000 rounds");
}

static void fx_deliver(void)
{
    fx_deliver_hold(0);
}

/* Drop every queued message of a type (0: all). */
static void fx_drop(int type)
{
    size_t k = 0;
    for (size_t i = 0; i < F.nq; i++) {
        if (!type || (F.q[i].len > 1 && F.q[i].data[1] == type))
            free(F.q[i].data);
        else
            F.q[k++] = F.q[i];
    }
    F.nq = k;
}

static size_t fx_count(int type, int from)
{
    size_t k = 0;
    for (size_t i = 0; i < F.nq; i++)
        if (F.q[i].len > 1 && F.q[i].data[1] == type && (from < 0 || F.q[i].from == (uint32_t)from))
            k++;
    return k;
}

static const struct fx_msg *fx_find(int type, int from, int to)
{
    for (size_t i = 0; i < F.nq; i++)
        if (F.q[i].len > 1 && F.q[i].data[1] == type && (from < 0 || F.q[i].from == (uint32_t)from) &&
            (to < 0 || F.q[i].to == (uint32_t)to))
            return &F.q[i];
    return NULL;
}

static void fx_tick(uint32_t ticks)
{
    for (uint32_t t = 0; t < ticks; t++) {
        F.now++;
        for (uint32_t i = 0; i < F.n; i++) {
            if (!F.node[i].c)
                continue;
            struct cons_ready r;
            cons_tick(F.node[i].c, &r);
            fx_handle(i, &r, 0);
        }
        fx_deliver();
    }
}

static void fx_status(uint32_t i, struct cons_status *st)
{
    cons_status(F.node[i].c, st);
}

/* Tick until node i leads an active view (or max ticks pass). */
static void fx_tick_until_leader(uint32_t i, uint32_t max)
{
    struct cons_status st;
    for (uint32_t t = 0; t < max; t++) {
        fx_status(i, &st);
        if (st.is_leader)
            return;
        fx_tick(1);
    }
}

static void fx_block(uint8_t *buf, size_t *len, uint64_t height, uint32_t proposer, uint64_t nonce)
{
    memcpy(buf, "BLK", 3);
    buf[3] = (uint8_t)proposer;
    for (int k = 0; k < 8; k++) {
        buf[4 + k] = (uint8_t)(height >> (56 - 8 * k));
        buf[12 + k] = (uint8_t)(nonce >> (56 - 8 * k));
    }
    *len = 20;
}

/* The primary proposes a block for its next height. */
static int fx_propose(uint32_t i, uint64_t nonce, uint8_t hash[CONS_HASH_BYTES])
{
    struct cons_status st;
    uint8_t buf[32];
    size_t len;
    fx_status(i, &st);
    fx_block(buf, &len, st.next_height, i, nonce);
    struct cons_block b = {.height = st.next_height, .data = buf, .len = len};
    toy_hash(NULL, buf, len, b.hash);
    if (hash)
        memcpy(hash, b.hash, CONS_HASH_BYTES);
    struct cons_ready r;
    int rc = cons_propose(F.node[i].c, &b, &r);
    fx_handle(i, &r, 0);
    return rc;
}

static void fx_crash(uint32_t i)
{
    cons_close(F.node[i].c);
    F.node[i].c = NULL;
}

static void fx_restart(uint32_t i)
{
    assert_null(F.node[i].c);
    assert_int_equal(fx_open(i), CONS_ERR_OK);
}

static void fx_isolate(uint32_t i, bool on)
{
    for (uint32_t j = 0; j < F.n; j++)
        if (j != i)
            F.cut[i][j] = F.cut[j][i] = on;
}

static int32_t fx_primary(void)
{
    for (uint32_t i = 0; i < F.n; i++) {
        struct cons_status st;
        if (F.node[i].c && !F.node[i].byz) {
            fx_status(i, &st);
            if (st.can_propose)
                return (int32_t)i;
        }
    }
    return -1;
}

/* Commit `k` blocks through whichever node can propose, ticking between. */
static void fx_commit_blocks(uint32_t k, uint32_t max_ticks)
{
    uint64_t nonce = 1;
    for (uint32_t t = 0; t < max_ticks && k; t++) {
        int32_t p = fx_primary();
        if (p >= 0 && fx_propose((uint32_t)p, nonce++, NULL) == CONS_ERR_OK) {
            fx_deliver();
            k--;
        }
        fx_tick(1);
    }
    assert_int_equal(k, 0);
}

/* ---- tests: normal case ---- */

static void test_primary_pre_prepare_makes_replicas_execute_before_preparing(void **state)
{
    (void)state;
    fx_setup(4);
    F.auto_exec = false;
    struct cons_status st;
    fx_status(0, &st);
    assert_true(st.can_propose && st.is_leader && st.next_height == 1 && st.term == 0);
    fx_status(1, &st);
    assert_false(st.can_propose);
    assert_int_equal(fx_propose(0, 1, NULL), CONS_ERR_OK);
    assert_int_equal(fx_count(T_PP, 0), 3);
    fx_status(0, &st);
    assert_false(st.can_propose); /* one block in flight */
    fx_deliver();
    for (uint32_t i = 1; i < 4; i++)
        assert_int_equal(F.node[i].n_x, 1); /* asked to execute ... */
    assert_int_equal(fx_count(T_PREPARE, -1), 0); /* ... and nobody prepared yet */
    fx_execute(1, true);
    assert_int_equal(fx_count(T_PREPARE, 1), 3);
    fx_execute(2, true);
    fx_execute(3, true);
    fx_deliver();
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(F.node[i].applied, 1);
    fx_teardown();
}

static void test_a_replica_does_not_prepare_an_invalid_block(void **state)
{
    (void)state;
    fx_setup(4);
    F.auto_exec = false;
    assert_int_equal(fx_propose(0, 1, NULL), CONS_ERR_OK);
    fx_deliver();
    fx_execute(1, false);
    assert_int_equal(fx_count(T_PREPARE, 1), 0);
    fx_execute(2, false);
    fx_execute(3, false);
    fx_deliver();
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(F.node[i].applied, 0);
    /* the view times out and a new primary takes over */
    F.auto_exec = true;
    fx_tick(40);
    struct cons_status st;
    fx_status(1, &st);
    assert_true(st.term >= 1);
    fx_teardown();
}

static void test_commit_needs_two_f_plus_one_matching_votes(void **state)
{
    (void)state;
    fx_setup(4);
    uint8_t hash[CONS_HASH_BYTES];
    assert_int_equal(fx_propose(0, 1, hash), CONS_ERR_OK);
    fx_deliver_hold(T_COMMIT);
    assert_int_equal(fx_count(T_COMMIT, -1), 12); /* everyone prepared: 4 x 3 commits */
    /* node 0 holds its own commit; one more is two, not 2f+1 = 3 */
    const struct fx_msg *m = fx_find(T_COMMIT, 1, 0);
    assert_non_null(m);
    struct fx_msg c1 = *m;
    fx_step_msg(&c1);
    assert_int_equal(F.node[0].applied, 0);
    m = fx_find(T_COMMIT, 2, 0);
    struct fx_msg c2 = *m;
    /* a commit vote for another hash does not count */
    uint8_t forged[256];
    memcpy(forged, c2.data, c2.len);
    forged[HDR] ^= 1;
    struct fx_msg bad = {2, 0, 0, forged, c2.len};
    assert_int_equal(fx_step_msg(&bad), CONS_ERR_MSG_BAD_SIG);
    assert_int_equal(F.node[0].applied, 0);
    fx_step_msg(&c2);
    assert_int_equal(F.node[0].applied, 1);
    assert_memory_equal(F.node[0].committed[1], hash, CONS_HASH_BYTES);
    fx_deliver();
    fx_teardown();
}

static void test_committed_blocks_carry_a_certificate_that_checks(void **state)
{
    (void)state;
    fx_setup(4);
    fx_commit_blocks(5, 100);
    for (uint32_t i = 0; i < 4; i++) {
        assert_true(F.node[i].applied >= 5);
        for (uint64_t h = 1; h <= 5; h++)
            assert_true(F.node[i].cert_sigs[h] >= 3); /* fx_check_commit ran cons_cert_check */
    }
    fx_teardown();
}

static void test_seven_nodes_commit_with_five_matching_votes(void **state)
{
    (void)state;
    fx_setup(7);
    fx_isolate(5, true);
    fx_isolate(6, true); /* f = 2 silent: q = 5 still commit */
    fx_commit_blocks(3, 100);
    for (uint32_t i = 0; i < 5; i++) {
        assert_true(F.node[i].applied >= 3);
        assert_int_equal(F.node[i].cert_sigs[1], 5);
    }
    fx_teardown();
}

/* ---- view change ---- */

static void test_a_silent_primary_is_replaced_by_a_view_change(void **state)
{
    (void)state;
    fx_setup(4);
    fx_commit_blocks(2, 50);
    fx_crash(0);
    fx_tick_until_leader(1, 100);
    struct cons_status st;
    fx_status(1, &st);
    assert_int_equal(st.term, 1);
    assert_true(st.is_leader && st.can_propose);
    for (uint32_t i = 2; i < 4; i++) {
        fx_status(i, &st);
        assert_int_equal(st.term, 1);
        assert_int_equal(st.leader, 1);
    }
    assert_int_equal(fx_propose(1, 99, NULL), CONS_ERR_OK);
    fx_deliver();
    for (uint32_t i = 1; i < 4; i++)
        assert_int_equal(F.node[i].applied, 3);
    fx_teardown();
}

static void test_new_view_reproposes_a_prepared_block(void **state)
{
    (void)state;
    fx_setup(4);
    uint8_t hash[CONS_HASH_BYTES];
    assert_int_equal(fx_propose(0, 1, hash), CONS_ERR_OK);
    fx_deliver_hold(T_COMMIT);
    fx_drop(T_COMMIT); /* prepared everywhere, committed nowhere */
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(F.node[i].applied, 0);
    fx_crash(0);
    fx_tick_until_leader(1, 100);
    fx_tick(2);
    struct cons_status st;
    fx_status(1, &st);
    assert_int_equal(st.term, 1);
    for (uint32_t i = 1; i < 4; i++) {
        assert_int_equal(F.node[i].applied, 1);
        assert_memory_equal(F.node[i].committed[1], hash, CONS_HASH_BYTES); /* the same block */
    }
    fx_teardown();
}

static void test_view_change_timeouts_back_off_and_stay_capped(void **state)
{
    (void)state;
    fx_setup(4);
    fx_crash(0);
    uint32_t last = cons_pbft_timeout_ticks(F.node[3].c), seen_views = 0;
    uint64_t view = 0;
    assert_int_equal(last, F.round_ticks);
    for (uint32_t t = 0; t < 2000 && seen_views < 8; t++) {
        F.now++;
        for (uint32_t i = 1; i < 4; i++) {
            struct cons_ready r;
            cons_tick(F.node[i].c, &r);
            fx_handle(i, &r, 0);
        }
        fx_drop(T_NV); /* no new view ever starts */
        fx_deliver();
        struct cons_status st;
        fx_status(3, &st);
        uint32_t to = cons_pbft_timeout_ticks(F.node[3].c);
        assert_true(to <= F.round_ticks_max);
        if (st.term != view) {
            view = st.term;
            seen_views++;
            assert_true(to >= last); /* doubling per failed view ... */
            last = to;
        }
    }
    assert_true(seen_views >= 5);
    assert_int_equal(last, F.round_ticks_max); /* ... and capped */
    /* a commit resets the backoff */
    fx_restart(0);
    fx_tick(600);
    fx_commit_blocks(1, 400);
    assert_int_equal(cons_pbft_timeout_ticks(F.node[3].c), F.round_ticks);
    fx_teardown();
}

/* ---- checkpoints, restarts, evidence, catch-up ---- */

static void test_checkpoints_truncate_the_log(void **state)
{
    (void)state;
    fx_setup(4);
    fx_commit_blocks(3, 50);
    fx_deliver();
    assert_int_equal(cons_pbft_stable_checkpoint(F.node[1].c), 0);
    assert_true(cons_pbft_log_len(F.node[1].c) > 0);
    fx_commit_blocks(1, 50);
    fx_deliver();
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(cons_pbft_stable_checkpoint(F.node[i].c), 4);
        assert_int_equal(cons_pbft_log_len(F.node[i].c), 0);
    }
    fx_teardown();
}

static void test_a_restarted_replica_does_not_sign_a_conflicting_vote(void **state)
{
    (void)state;
    fx_setup(4);
    uint8_t a[CONS_HASH_BYTES];
    assert_int_equal(fx_propose(0, 1, a), CONS_ERR_OK);
    const struct fx_msg *pp = fx_find(T_PP, 0, 1);
    assert_non_null(pp);
    static uint8_t eq[4096];
    size_t el = sizeof eq;
    assert_int_equal(cons_equivocate(F.node[0].c, pp->data, pp->len, 42, eq, &el), CONS_ERR_OK);
    struct fx_msg first = *pp;
    first.data = malloc(pp->len);
    memcpy(first.data, pp->data, pp->len);
    fx_drop(0);
    assert_int_equal(fx_step_msg(&first), CONS_ERR_OK); /* node 1 executes and prepares A */
    free(first.data);
    assert_int_equal(fx_count(T_PREPARE, 1), 3);
    fx_drop(0);
    fx_crash(1);
    fx_restart(1);
    /* the equivocating primary now shows node 1 another block for (view 0, height 1) */
    struct fx_msg m = {0, 1, 0, eq, el};
    assert_int_equal(fx_step_msg(&m), CONS_ERR_OK);
    fx_tick(2);
    for (size_t i = 0; i < F.nq; i++) {
        const struct fx_msg *q = &F.q[i];
        if (q->from == 1 && (q->data[1] == T_PREPARE || q->data[1] == T_COMMIT))
            assert_memory_equal(q->data + HDR, a, CONS_HASH_BYTES);
    }
    fx_teardown();
}

static void test_equivocation_is_kept_as_evidence(void **state)
{
    (void)state;
    fx_setup(4);
    assert_int_equal(fx_propose(0, 1, NULL), CONS_ERR_OK);
    fx_deliver_hold(T_PREPARE);
    const struct fx_msg *p = fx_find(T_PREPARE, 1, 2);
    assert_non_null(p);
    static uint8_t eq[4096];
    size_t el = sizeof eq;
    assert_int_equal(cons_equivocate(F.node[1].c, p->data, p->len, 7, eq, &el), CONS_ERR_OK);
    struct fx_msg orig = *p, twin = {1, 2, 0, eq, el};
    assert_int_equal(fx_step_msg(&orig), CONS_ERR_OK);
    assert_int_equal(fx_step_msg(&twin), CONS_ERR_OK);
    assert_int_equal(fx_step_msg(&twin), CONS_ERR_OK); /* kept once */
    struct cons_evidence ev[4];
    assert_int_equal(cons_evidence(F.node[2].c, ev, 4), 1);
    assert_int_equal(ev[0].validator, 1);
    assert_int_equal(ev[0].height, 1);
    assert_int_equal(ev[0].view, 0);
    assert_int_equal(ev[0].kind, 1);
    assert_memory_not_equal(ev[0].hash_a, ev[0].hash_b, CONS_HASH_BYTES);
    assert_int_equal(cons_evidence(F.node[3].c, ev, 4), 0);
    fx_teardown();
}

static void test_a_lagging_replica_fetches_committed_blocks(void **state)
{
    (void)state;
    fx_setup(4);
    fx_isolate(3, true);
    fx_commit_blocks(6, 100);
    assert_int_equal(F.node[3].applied, 0);
    fx_isolate(3, false);
    fx_commit_blocks(1, 100);
    fx_tick(20);
    assert_int_equal(F.node[3].applied, F.node[0].applied);
    /* and a replica restarted with nothing but its disk serves them too */
    fx_crash(0);
    fx_restart(0);
    fx_crash(2);
    fx_restart(2);
    fx_isolate(1, true);
    fx_commit_blocks(2, 200);
    fx_isolate(1, false);
    fx_tick(60);
    assert_int_equal(F.node[1].applied, F.node[0].applied);
    fx_teardown();
}

static void test_a_restarted_node_keeps_its_view_and_height(void **state)
{
    (void)state;
    fx_setup(4);
    fx_commit_blocks(3, 50);
    for (uint32_t i = 0; i < 4; i++) {
        fx_crash(i);
        fx_restart(i);
    }
    struct cons_status st;
    fx_status(2, &st);
    assert_int_equal(st.committed, 3);
    assert_int_equal(st.next_height, 4);
    fx_commit_blocks(2, 100);
    assert_int_equal(F.node[2].applied, 5);
    /* garbage on disk is refused by name */
    struct cons *c = NULL;
    struct cons_config cfg = fx_config(1);
    uint8_t junk[40] = "GLPB";
    struct cons_disk d = {junk, sizeof junk, NULL, 0, 0};
    assert_int_equal(cons_open(&c, &cfg, &d), CONS_ERR_BAD_STATE);
    assert_null(c);
    fx_teardown();
}

static void test_garbage_and_forged_messages_are_refused_by_name(void **state)
{
    (void)state;
    fx_setup(4);
    assert_int_equal(fx_propose(0, 1, NULL), CONS_ERR_OK);
    fx_deliver_hold(T_PREPARE);
    const struct fx_msg *p = fx_find(T_PREPARE, 1, 2);
    uint8_t buf[512];
    size_t len = p->len;
    memcpy(buf, p->data, len);
    struct cons_ready r;
    struct cons *c2 = F.node[2].c;
#define STEP(from, b, l) cons_step(c2, from, b, l, &r); cons_advance(c2, &r)
    int rc;
    rc = STEP(1, buf, 0);
    assert_int_equal(rc, CONS_ERR_MSG_MALFORMED);
    uint8_t junk[100];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37);
    rc = STEP(1, junk, sizeof junk);
    assert_int_equal(rc, CONS_ERR_MSG_MALFORMED);
    rc = STEP(1, buf, len - 1);
    assert_int_equal(rc, CONS_ERR_MSG_MALFORMED);
    buf[len] = 0;
    rc = STEP(1, buf, len + 1);
    assert_int_equal(rc, CONS_ERR_MSG_MALFORMED);
    rc = STEP(3, buf, len); /* node 3 relays node 1's vote as its own */
    assert_int_equal(rc, CONS_ERR_MSG_BAD_SENDER);
    rc = STEP(0, buf, len);
    assert_int_equal(rc, CONS_ERR_MSG_BAD_SENDER);
    buf[len - 1] ^= 0x10;
    rc = STEP(1, buf, len);
    assert_int_equal(rc, CONS_ERR_MSG_BAD_SIG);
    buf[len - 1] ^= 0x10;
    buf[HDR + 3] ^= 1; /* another hash under the old signature */
    rc = STEP(1, buf, len);
    assert_int_equal(rc, CONS_ERR_MSG_BAD_SIG);
    buf[HDR + 3] ^= 1;
    /* a pre-prepare whose block does not hash to its hash */
    const struct fx_msg *pp = NULL;
    uint8_t ppb[512];
    assert_int_equal(fx_propose(0, 1, NULL), CONS_ERR_BUSY);
    assert_int_equal(cons_step(F.node[3].c, 0, ppb, 0, &r), CONS_ERR_MSG_MALFORMED);
    cons_advance(F.node[3].c, &r);
    fx_deliver();
    fx_commit_blocks(1, 20);
    pp = fx_find(T_PP, 0, 2);
    if (!pp) {
        struct cons_status st;
        fx_status(0, &st);
        assert_true(st.can_propose);
        assert_int_equal(fx_propose(0, 5, NULL), CONS_ERR_OK);
        pp = fx_find(T_PP, 0, 2);
    }
    assert_non_null(pp);
    memcpy(ppb, pp->data, pp->len);
    ppb[pp->len - 1] ^= 1;
    rc = STEP(0, ppb, pp->len);
    assert_int_equal(rc, CONS_ERR_MSG_BAD_HASH);
    /* a vote for a height already committed */
    rc = STEP(1, buf, len);
    assert_int_equal(rc, CONS_ERR_MSG_STALE);
    /* unknown type and version */
    buf[1] = 99;
    rc = STEP(1, buf, len);
    assert_int_equal(rc, CONS_ERR_MSG_MALFORMED);
    buf[0] = 2;
    rc = STEP(1, buf, len);
    assert_int_equal(rc, CONS_ERR_MSG_MALFORMED);
#undef STEP
    fx_teardown();
}

/* ---- a randomised run with one Byzantine node ---- */

static void run_random(uint64_t seed, int byz)
{
    fx_setup(4);
    F.rng.s = seed;
    F.node[3].byz = byz;
    uint64_t nonce = 1;
    for (uint32_t t = 0; t < 3000; t++) {
        F.drop_pm = t < 2000 ? 100 : 0; /* lossy, then healed */
        F.max_delay = t < 2000 ? 3 : 0;
        if (t < 2000 && tu_below(&F.rng, 400) == 0) {
            uint32_t i = (uint32_t)tu_below(&F.rng, 3);
            if (F.node[i].c) {
                fx_crash(i);
                fx_restart(i);
            }
        }
        F.now++;
        for (uint32_t i = 0; i < 4; i++) {
            struct cons_ready r;
            cons_tick(F.node[i].c, &r);
            fx_handle(i, &r, 0);
            struct cons_status st;
            fx_status(i, &st);
            if (st.can_propose && tu_below(&F.rng, 2))
                fx_propose(i, nonce++, NULL);
        }
        /* deliver what is due, in a shuffled order */
        size_t due = 0;
        for (size_t k = 0; k < F.nq; k++)
            if (F.q[k].at <= F.now) {
                struct fx_msg tmp = F.q[due];
                F.q[due] = F.q[k];
                F.q[k] = tmp;
                due++;
            }
        for (size_t k = due; k > 1; k--) {
            size_t j = (size_t)tu_below(&F.rng, k);
            struct fx_msg tmp = F.q[k - 1];
            F.q[k - 1] = F.q[j];
            F.q[j] = tmp;
        }
        struct fx_msg *batch = malloc((due ? due : 1) * sizeof *batch);
        if (due) {
            memcpy(batch, F.q, due * sizeof *batch);
            memmove(F.q, F.q + due, (F.nq - due) * sizeof *F.q);
        }
        F.nq -= due;
        for (size_t k = 0; k < due; k++) {
            fx_step_msg(&batch[k]);
            free(batch[k].data);
        }
        free(batch);
    }
    uint64_t healed_min = UINT64_MAX;
    for (uint32_t i = 0; i < 3; i++)
        if (F.node[i].applied < healed_min)
            healed_min = F.node[i].applied;
    if (healed_min < 50)
        fail_msg("seed %llu byz %d: honest nodes only reached height %llu", (unsigned long long)seed, byz,
                 (unsigned long long)healed_min);
    fx_teardown();
}

static void test_random_faults_with_a_byzantine_node_keep_honest_nodes_agreeing_and_committing(void **state)
{
    (void)state;
    for (int byz = 1; byz <= 3; byz++)
        for (uint64_t seed = 1; seed <= 3; seed++)
            run_random(seed * 7919 + (uint64_t)byz, byz);
}

/* With PBFT_CORPUS=dir, write what node 1 sends node 0 (and any NEW-VIEW)
 * during a scripted run as the fuzz corpus of tests/fuzz/fuzz_pbft_msg.c. */
static void write_corpus(void)
{
    const char *dir = getenv("PBFT_CORPUS");
    if (!dir)
        return;
    capture_dir = dir;
    fx_setup(4);
    fx_commit_blocks(5, 100); /* pre-prepare, prepare, commit, checkpoint */
    for (uint32_t j = 1; j < 4; j++)
        F.cut[0][j] = true; /* node 0 goes deaf-mute as primary: view change to 1 */
    fx_tick_until_leader(1, 200);
    for (uint32_t j = 1; j < 4; j++)
        F.cut[0][j] = false;
    fx_isolate(0, true);
    fx_commit_blocks(2, 100);
    fx_isolate(0, false); /* node 0 lags: FETCH and COMMITTED */
    fx_commit_blocks(1, 100);
    fx_tick(20);
    fx_teardown();
    capture_dir = NULL;
}

int main(void)
{
    crypto_init();
    write_corpus();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primary_pre_prepare_makes_replicas_execute_before_preparing),
        cmocka_unit_test(test_a_replica_does_not_prepare_an_invalid_block),
        cmocka_unit_test(test_commit_needs_two_f_plus_one_matching_votes),
        cmocka_unit_test(test_committed_blocks_carry_a_certificate_that_checks),
        cmocka_unit_test(test_seven_nodes_commit_with_five_matching_votes),
        cmocka_unit_test(test_a_silent_primary_is_replaced_by_a_view_change),
        cmocka_unit_test(test_new_view_reproposes_a_prepared_block),
        cmocka_unit_test(test_view_change_timeouts_back_off_and_stay_capped),
        cmocka_unit_test(test_checkpoints_truncate_the_log),
        cmocka_unit_test(test_a_restarted_replica_does_not_sign_a_conflicting_vote),
        cmocka_unit_test(test_equivocation_is_kept_as_evidence),
        cmocka_unit_test(test_a_lagging_replica_fetches_committed_blocks),
        cmocka_unit_test(test_a_restarted_node_keeps_its_view_and_height),
        cmocka_unit_test(test_garbage_and_forged_messages_are_refused_by_name),
        cmocka_unit_test(test_random_faults_with_a_byzantine_node_keep_honest_nodes_agreeing_and_committing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
