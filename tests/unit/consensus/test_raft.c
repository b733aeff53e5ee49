/* test_raft.c -- the Raft engine, one protocol step per test, through a small
 * in-test cluster fixture (canonical/raft's fixture style): N engines with toy
 * injected crypto, a network queue the test delivers, drops or cuts by hand,
 * and crash / restart from what the fixture persisted out of each ready.
 * Every commit any node reports is checked on the spot: heights in order,
 * a certificate that passes cons_cert_check, and no two nodes committing
 * different blocks at one height. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cons.h"

#define FN 5u
#define MAXH 4096u
#define E_TICKS 10u
#define H_TICKS 2u

/* Wire types (raft.c's header comment). */
enum { T_PREVOTE = 1, T_PREVOTE_RESP, T_VOTE, T_VOTE_RESP, T_APPEND, T_APPEND_RESP };

/* ---- toy crypto: a keyed FNV/xorshift mix, verified from a secret table ---- */

static uint8_t secrets[FN][32];
static uint8_t keys[CONS_NODES_MAX][CONS_KEY_BYTES];

static void toy_mac(uint32_t who, const uint8_t *m, size_t n, uint8_t sig[CONS_SIG_BYTES])
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < 32; i++)
        h = (h ^ secrets[who][i]) * 1099511628211ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ m[i]) * 1099511628211ULL;
    for (size_t i = 0; i < CONS_SIG_BYTES; i++) {
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 32;
        sig[i] = (uint8_t)(h >> 56);
    }
}

static void toy_sign(void *ctx, const uint8_t *m, size_t n, uint8_t sig[CONS_SIG_BYTES])
{
    toy_mac((uint32_t)(uintptr_t)ctx, m, n, sig);
}

static bool toy_verify(void *ctx, const uint8_t key[CONS_KEY_BYTES], const uint8_t *m, size_t n,
                       const uint8_t sig[CONS_SIG_BYTES])
{
    (void)ctx;
    for (uint32_t i = 0; i < FN; i++) {
        if (memcmp(keys[i], key, CONS_KEY_BYTES) == 0) {
            uint8_t want[CONS_SIG_BYTES];
            toy_mac(i, m, n, want);
            return memcmp(want, sig, CONS_SIG_BYTES) == 0;
        }
    }
    return false;
}

/* A block is "BLK!" || height (8) || anything; the hash mixes every byte. */
static bool toy_block_hash(void *ctx, const uint8_t *b, size_t n, uint8_t out[CONS_HASH_BYTES])
{
    (void)ctx;
    if (n < 12 || memcmp(b, "BLK!", 4) != 0)
        return false;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    for (size_t i = 0; i < CONS_HASH_BYTES; i++) {
        h ^= h >> 31;
        h *= 0x94d049bb133111ebULL;
        out[i] = (uint8_t)(h >> 56);
    }
    return true;
}

static void make_block(struct cons_block *b, uint8_t buf[32], uint64_t height, uint8_t salt)
{
    memcpy(buf, "BLK!", 4);
    for (int k = 0; k < 8; k++)
        buf[4 + k] = (uint8_t)(height >> (56 - 8 * k));
    memset(buf + 12, salt, 20);
    b->height = height;
    b->data = buf;
    b->len = 32;
    assert_true(toy_block_hash(NULL, buf, 32, b->hash));
}

/* ---- the fixture ---- */

struct fentry {
    uint64_t height, term;
    uint8_t hash[CONS_HASH_BYTES];
    uint8_t *data;
    size_t len;
};

struct fnode {
    struct cons *c; /* NULL while down */
    uint8_t hs[CONS_HARD_STATE_MAX_BYTES];
    size_t hs_len;
    struct fentry log[MAXH];
    size_t n;
    uint64_t applied;
    uint32_t bugs;
};

struct fmsg {
    uint32_t from, to;
    uint64_t at;
    uint8_t *data;
    size_t len;
};

/* What the last ready of a node held (for tests of one step). */
struct flast {
    bool hs_changed;
    size_t n_msgs;
    uint8_t msg_type[64];
    uint32_t msg_to[64];
    uint8_t msg_byte13[64]; /* first body byte: granted / success */
    size_t n_entries;
    uint64_t truncate_from;
    uint64_t entry_height[64], entry_term[64];
    uint8_t entry_hash[64][CONS_HASH_BYTES];
    size_t n_committed;
};

static struct {
    uint32_t n;
    uint64_t seed;
    struct fnode nd[FN];
    struct fmsg *q;
    size_t nq, capq;
    bool cut[FN][FN];
    uint64_t now, delay_max, loss_pm;
    uint64_t rng;
    uint8_t canon[MAXH][CONS_HASH_BYTES];
    bool canon_set[MAXH];
    struct flast last[FN];
    uint64_t commits;
} F;

static uint64_t f_rand(void)
{
    uint64_t z = (F.rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static uint64_t f_below(uint64_t n)
{
    return n ? f_rand() % n : 0;
}

static struct cons_config f_config(uint32_t i)
{
    struct cons_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.engine = CONS_ENGINE_RAFT;
    cfg.self = i;
    cfg.n = F.n;
    memcpy(cfg.keys, keys, sizeof keys);
    cfg.seed = F.seed * 131 + i;
    cfg.election_ticks = E_TICKS;
    cfg.heartbeat_ticks = H_TICKS;
    cfg.crypto.ctx = (void *)(uintptr_t)i;
    cfg.crypto.sign = toy_sign;
    cfg.crypto.verify = toy_verify;
    cfg.crypto.block_hash = toy_block_hash;
    cfg.bugs = F.nd[i].bugs;
    return cfg;
}

static int f_open(uint32_t i)
{
    struct fnode *nd = &F.nd[i];
    struct cons_entry *ents = calloc(nd->n ? nd->n : 1, sizeof *ents);
    for (size_t k = 0; k < nd->n; k++) {
        ents[k].height = nd->log[k].height;
        ents[k].term = nd->log[k].term;
        memcpy(ents[k].hash, nd->log[k].hash, CONS_HASH_BYTES);
        ents[k].data = nd->log[k].data;
        ents[k].len = nd->log[k].len;
    }
    struct cons_config cfg = f_config(i);
    struct cons_disk d = {nd->hs, nd->hs_len, ents, nd->n, nd->applied};
    int rc = cons_open(&nd->c, &cfg, &d);
    free(ents);
    return rc;
}

static void f_init(uint32_t n, uint64_t seed)
{
    memset(&F, 0, sizeof F);
    F.n = n;
    F.seed = seed;
    F.rng = seed;
    for (uint32_t i = 0; i < FN; i++) {
        for (int k = 0; k < 32; k++) {
            secrets[i][k] = (uint8_t)(i * 37 + (uint32_t)k * 11 + 1);
            keys[i][k] = (uint8_t)(i * 53 + (uint32_t)k + 7);
        }
    }
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(f_open(i), CONS_ERR_OK);
}

static void f_log_drop_from(struct fnode *nd, uint64_t h)
{
    while (nd->n && nd->log[nd->n - 1].height >= h) {
        free(nd->log[nd->n - 1].data);
        nd->n--;
    }
}

static void f_free(void)
{
    for (uint32_t i = 0; i < FN; i++) {
        cons_close(F.nd[i].c);
        F.nd[i].c = NULL;
        f_log_drop_from(&F.nd[i], 0);
    }
    for (size_t k = 0; k < F.nq; k++)
        free(F.q[k].data);
    free(F.q);
    F.q = NULL;
    F.nq = F.capq = 0;
}

static int teardown(void **state)
{
    (void)state;
    f_free();
    return 0;
}

static void f_send(uint32_t from, uint32_t to, const uint8_t *data, size_t len)
{
    if (F.cut[from][to] || (F.loss_pm && f_below(1000) < F.loss_pm))
        return;
    if (F.nq == F.capq) {
        F.capq = F.capq ? F.capq * 2 : 256;
        F.q = realloc(F.q, F.capq * sizeof *F.q);
    }
    struct fmsg *m = &F.q[F.nq++];
    m->from = from;
    m->to = to;
    m->at = F.now + 1 + (F.delay_max ? f_below(F.delay_max) : 0);
    m->data = malloc(len ? len : 1);
    memcpy(m->data, data, len);
    m->len = len;
}

static void f_commit(uint32_t i, const struct cons_commit *cm)
{
    struct fnode *nd = &F.nd[i];
    uint64_t h = cm->block.height;
    assert_int_equal(h, nd->applied + 1); /* strict height order, once */
    assert_true(h < MAXH);
    assert_int_equal(cm->cert.height, h);
    assert_memory_equal(cm->cert.hash, cm->block.hash, CONS_HASH_BYTES);
    assert_int_equal(cons_cert_check(CONS_ENGINE_RAFT, F.n, (const uint8_t(*)[CONS_KEY_BYTES])keys, &cm->cert,
                                     toy_verify, NULL),
                     CONS_ERR_OK);
    uint8_t hh[CONS_HASH_BYTES];
    assert_true(toy_block_hash(NULL, cm->block.data, cm->block.len, hh));
    assert_memory_equal(hh, cm->block.hash, CONS_HASH_BYTES);
    if (F.canon_set[h]) {
        if (memcmp(F.canon[h], cm->block.hash, CONS_HASH_BYTES) != 0)
            fail_msg("seed %llu: node %u committed a different block at height %llu", (unsigned long long)F.seed,
                     i, (unsigned long long)h);
    } else {
        F.canon_set[h] = true;
        memcpy(F.canon[h], cm->block.hash, CONS_HASH_BYTES);
    }
    nd->applied = h;
    F.commits++;
}

/* Persist, send, apply, advance: the order cons.h prescribes. */
static void f_ready(uint32_t i, struct cons_ready *r)
{
    struct fnode *nd = &F.nd[i];
    struct flast *l = &F.last[i];
    memset(l, 0, sizeof *l);
    l->hs_changed = r->hard_state_changed;
    l->truncate_from = r->truncate_from;
    l->n_entries = r->n_entries;
    l->n_msgs = r->n_msgs;
    l->n_committed = r->n_committed;
    if (r->hard_state_changed) {
        assert_true(r->hard_state_len <= CONS_HARD_STATE_MAX_BYTES);
        memcpy(nd->hs, r->hard_state, r->hard_state_len);
        nd->hs_len = r->hard_state_len;
    }
    if (r->truncate_from)
        f_log_drop_from(nd, r->truncate_from);
    for (size_t k = 0; k < r->n_entries; k++) {
        const struct cons_entry *e = &r->entries[k];
        if (k < 64) {
            l->entry_height[k] = e->height;
            l->entry_term[k] = e->term;
            memcpy(l->entry_hash[k], e->hash, CONS_HASH_BYTES);
        }
        f_log_drop_from(nd, e->height);
        assert_int_equal(e->height, nd->n + 1); /* consecutive from 1 */
        struct fentry *fe = &nd->log[nd->n++];
        fe->height = e->height;
        fe->term = e->term;
        memcpy(fe->hash, e->hash, CONS_HASH_BYTES);
        fe->data = malloc(e->len ? e->len : 1);
        memcpy(fe->data, e->data, e->len);
        fe->len = e->len;
    }
    for (size_t k = 0; k < r->n_msgs; k++) {
        const struct cons_out_msg *m = &r->msgs[k];
        if (k < 64) {
            l->msg_type[k] = m->len ? m->data[0] : 0;
            l->msg_to[k] = m->to;
            l->msg_byte13[k] = m->len > 13 ? m->data[13] : 0;
        }
        for (uint32_t j = 0; j < F.n; j++)
            if (j != i && (m->to == CONS_BROADCAST || m->to == j))
                f_send(i, j, m->data, m->len);
    }
    for (size_t k = 0; k < r->n_committed; k++)
        f_commit(i, &r->committed[k]);
    assert_int_equal(r->n_execute, 0); /* Raft executes on commit */
    cons_advance(nd->c, r);
}

static int f_step(uint32_t to, uint32_t from, const uint8_t *data, size_t len)
{
    struct cons_ready r;
    int rc = cons_step(F.nd[to].c, from, data, len, &r);
    assert_string_not_equal(cons_err_name(rc), "UNKNOWN");
    f_ready(to, &r);
    return rc;
}

static void f_tick(uint32_t i)
{
    struct cons_ready r;
    if (!F.nd[i].c)
        return;
    cons_tick(F.nd[i].c, &r);
    f_ready(i, &r);
}

/* Deliver queued messages in FIFO order until the network is quiet. */
static void f_deliver_all(void)
{
    for (int guard = 0; F.nq && guard < 100000; guard++) {
        struct fmsg m = F.q[0];
        memmove(F.q, F.q + 1, (F.nq - 1) * sizeof *F.q);
        F.nq--;
        if (F.nd[m.to].c && !F.cut[m.from][m.to])
            f_step(m.to, m.from, m.data, m.len);
        free(m.data);
    }
}

static void f_drop_all(void)
{
    for (size_t k = 0; k < F.nq; k++)
        free(F.q[k].data);
    F.nq = 0;
}

static struct cons_status f_status(uint32_t i)
{
    struct cons_status st;
    cons_status(F.nd[i].c, &st);
    return st;
}

/* Tick node i alone (delivering after each tick) until it leads. */
static void f_elect(uint32_t i)
{
    for (uint32_t t = 0; t < 4 * E_TICKS && !f_status(i).is_leader; t++) {
        f_tick(i);
        f_deliver_all();
    }
    assert_true(f_status(i).is_leader);
}

/* Let every node but `except` forget its leader's lease (ticks, no delivery). */
static void f_expire_leases(uint32_t except)
{
    for (uint32_t j = 0; j < F.n; j++)
        if (j != except && F.nd[j].c && !f_status(j).is_leader)
            for (uint32_t t = 0; t < E_TICKS; t++) {
                struct cons_ready r;
                cons_tick(F.nd[j].c, &r);
                /* drop whatever a timeout would send: this is only aging */
                cons_advance(F.nd[j].c, &r);
            }
}

static void f_isolate(uint32_t i, bool on)
{
    for (uint32_t j = 0; j < FN; j++)
        if (j != i)
            F.cut[i][j] = F.cut[j][i] = on;
}

static void f_crash(uint32_t i)
{
    cons_close(F.nd[i].c);
    F.nd[i].c = NULL;
}

static void f_restart(uint32_t i)
{
    assert_null(F.nd[i].c);
    assert_int_equal(f_open(i), CONS_ERR_OK);
}

static int f_propose(uint32_t i, uint8_t salt)
{
    uint8_t buf[32];
    struct cons_block b;
    make_block(&b, buf, f_status(i).next_height, salt);
    struct cons_ready r;
    int rc = cons_propose(F.nd[i].c, &b, &r);
    f_ready(i, &r);
    return rc;
}

/* hand-made messages */
static size_t enc_vote(uint8_t *m, uint8_t type, uint32_t sender, uint64_t term, uint64_t li, uint64_t lt)
{
    m[0] = type;
    for (int k = 0; k < 4; k++)
        m[1 + k] = (uint8_t)(sender >> (24 - 8 * k));
    for (int k = 0; k < 8; k++) {
        m[5 + k] = (uint8_t)(term >> (56 - 8 * k));
        m[13 + k] = (uint8_t)(li >> (56 - 8 * k));
        m[21 + k] = (uint8_t)(lt >> (56 - 8 * k));
    }
    return 29;
}

/* index in F.last[i] of the first message of a type, or -1 */
static int last_msg(uint32_t i, uint8_t type)
{
    for (size_t k = 0; k < F.last[i].n_msgs && k < 64; k++)
        if (F.last[i].msg_type[k] == type)
            return (int)k;
    return -1;
}

/* ---- election ---- */

static void test_a_follower_that_hears_nothing_starts_a_pre_vote(void **state)
{
    (void)state;
    f_init(3, 1);
    bool saw = false;
    for (uint32_t t = 0; t < 2 * E_TICKS && !saw; t++) {
        f_tick(0);
        saw = last_msg(0, T_PREVOTE) >= 0;
        if (t + 1 < E_TICKS)
            assert_false(saw); /* not before the minimum timeout */
    }
    assert_true(saw);
    assert_int_equal(f_status(0).term, 0);   /* a pre-vote changes no term */
    assert_false(F.last[0].hs_changed);      /* and persists nothing */
    assert_int_equal(F.last[0].msg_to[last_msg(0, T_PREVOTE)], CONS_BROADCAST);
}

static void test_a_pre_vote_granted_by_a_majority_starts_an_election(void **state)
{
    (void)state;
    f_init(3, 2);
    f_elect(0);
    assert_int_equal(f_status(0).term, 1);
    assert_int_equal(f_status(1).term, 1);
    assert_int_equal(f_status(1).leader, 0);
    assert_int_equal(f_status(2).leader, 0);
    assert_false(f_status(1).is_leader);
}

static void test_pre_vote_does_not_raise_the_term_when_refused(void **state)
{
    (void)state;
    f_init(3, 3);
    f_elect(0);
    uint64_t term = f_status(0).term;
    /* node 2 stops hearing the leader and times out, but 0 and 1 still do */
    F.cut[0][2] = true;
    for (uint32_t t = 0; t < 6 * E_TICKS; t++) {
        f_tick(0);
        f_tick(1);
        f_tick(2);
        f_deliver_all();
    }
    assert_int_equal(f_status(2).term, term);
    assert_int_equal(f_status(1).term, term);
    assert_true(f_status(0).is_leader);
    assert_int_equal(f_status(1).leader, 0);
}

static void test_a_candidate_with_a_shorter_log_is_refused_a_vote(void **state)
{
    (void)state;
    f_init(3, 4);
    f_elect(0);
    assert_int_equal(f_propose(0, 1), CONS_ERR_OK);
    f_deliver_all();
    assert_int_equal(f_status(0).committed, 1);
    f_expire_leases(0);
    uint8_t m[29];
    uint64_t t = f_status(1).term + 1;
    size_t n = enc_vote(m, T_VOTE, 2, t, 0, 0); /* an empty log */
    assert_int_equal(f_step(1, 2, m, n), CONS_ERR_OK);
    int k = last_msg(1, T_VOTE_RESP);
    assert_true(k >= 0);
    assert_int_equal(F.last[1].msg_byte13[k], 0); /* refused */
    assert_int_equal(f_status(1).term, t);          /* but the term is learnt */
    /* the same request with a log as long as ours is granted */
    f_drop_all();
    n = enc_vote(m, T_VOTE, 2, t, 1, 1);
    assert_int_equal(f_step(1, 2, m, n), CONS_ERR_OK);
    assert_int_equal(F.last[1].msg_byte13[last_msg(1, T_VOTE_RESP)], 1);
}

static void test_a_node_grants_one_vote_per_term(void **state)
{
    (void)state;
    f_init(3, 5);
    uint8_t m[29];
    size_t n = enc_vote(m, T_VOTE, 0, 1, 0, 0);
    assert_int_equal(f_step(2, 0, m, n), CONS_ERR_OK);
    assert_int_equal(F.last[2].msg_byte13[last_msg(2, T_VOTE_RESP)], 1);
    n = enc_vote(m, T_VOTE, 1, 1, 0, 0);
    assert_int_equal(f_step(2, 1, m, n), CONS_ERR_OK);
    assert_int_equal(F.last[2].msg_byte13[last_msg(2, T_VOTE_RESP)], 0);
}

static void test_hard_state_is_in_the_same_ready_as_the_vote_it_records(void **state)
{
    (void)state;
    f_init(3, 6);
    uint8_t m[29];
    size_t n = enc_vote(m, T_VOTE, 0, 1, 0, 0);
    assert_int_equal(f_step(2, 0, m, n), CONS_ERR_OK);
    assert_true(F.last[2].hs_changed);
    assert_int_equal(F.last[2].msg_byte13[last_msg(2, T_VOTE_RESP)], 1);
    /* and a node's own candidacy persists its term and self-vote with the request */
    bool saw = false;
    for (uint32_t t = 0; t < 4 * E_TICKS && !saw; t++) {
        f_tick(1);
        if (last_msg(1, T_PREVOTE) >= 0)
            break;
    }
    f_deliver_all(); /* pre-vote responses reach 1; it campaigns on the last */
    assert_true(f_status(1).term >= 1);
}

static void test_a_restarted_node_keeps_its_term_and_vote(void **state)
{
    (void)state;
    f_init(3, 7);
    uint8_t m[29];
    size_t n = enc_vote(m, T_VOTE, 0, 3, 0, 0);
    assert_int_equal(f_step(2, 0, m, n), CONS_ERR_OK);
    f_crash(2);
    f_restart(2);
    assert_int_equal(f_status(2).term, 3);
    n = enc_vote(m, T_VOTE, 1, 3, 0, 0);
    assert_int_equal(f_step(2, 1, m, n), CONS_ERR_OK);
    assert_int_equal(F.last[2].msg_byte13[last_msg(2, T_VOTE_RESP)], 0); /* already voted for 0 */
    n = enc_vote(m, T_VOTE, 0, 3, 0, 0);
    assert_int_equal(f_step(2, 0, m, n), CONS_ERR_OK);
    assert_int_equal(F.last[2].msg_byte13[last_msg(2, T_VOTE_RESP)], 1); /* the same candidate again: yes */
}

static void test_a_stale_leader_steps_down_when_it_hears_a_higher_term(void **state)
{
    (void)state;
    f_init(3, 8);
    f_elect(0);
    f_isolate(0, true);
    f_expire_leases(0);
    f_elect(1);
    assert_true(f_status(1).term > f_status(0).term);
    f_isolate(0, false);
    for (uint32_t t = 0; t < H_TICKS; t++) {
        f_tick(0);
        f_tick(1);
    }
    f_deliver_all();
    assert_false(f_status(0).is_leader);
    assert_int_equal(f_status(0).term, f_status(1).term);
    assert_int_equal(f_status(0).leader, 1);
}

static void test_a_leader_that_loses_its_majority_steps_down(void **state)
{
    (void)state;
    f_init(3, 9);
    f_elect(0);
    f_isolate(0, true);
    for (uint32_t t = 0; t < 2 * E_TICKS + 1; t++)
        f_tick(0);
    assert_false(f_status(0).is_leader);
    assert_int_equal(f_status(0).leader, -1);
}

/* ---- replication and commit ---- */

static void test_propose_on_a_follower_is_refused_with_not_leader(void **state)
{
    (void)state;
    f_init(3, 10);
    f_elect(0);
    assert_int_equal(f_propose(1, 1), CONS_ERR_NOT_LEADER);
    assert_false(f_status(1).can_propose);
}

static void test_a_second_block_in_flight_is_refused_with_busy(void **state)
{
    (void)state;
    f_init(3, 11);
    f_elect(0);
    assert_true(f_status(0).can_propose);
    assert_int_equal(f_propose(0, 1), CONS_ERR_OK);
    assert_false(f_status(0).can_propose);
    assert_int_equal(f_propose(0, 2), CONS_ERR_BUSY);
    f_deliver_all();
    assert_true(f_status(0).can_propose);
    /* a proposal for the wrong height */
    uint8_t buf[32];
    struct cons_block b;
    make_block(&b, buf, 5, 3);
    struct cons_ready r;
    assert_int_equal(cons_propose(F.nd[0].c, &b, &r), CONS_ERR_BAD_HEIGHT);
    cons_advance(F.nd[0].c, &r);
}

static void test_leader_commits_once_a_majority_acknowledges(void **state)
{
    (void)state;
    f_init(3, 12);
    f_elect(0);
    F.cut[0][2] = true; /* node 2 never hears this block */
    assert_int_equal(f_propose(0, 1), CONS_ERR_OK);
    assert_int_equal(F.last[0].n_entries, 1);
    assert_int_equal(F.last[0].n_committed, 0); /* not on its own */
    assert_int_equal(f_status(0).committed, 0);
    assert_int_equal(F.nq, 1);
    f_deliver_all(); /* append to 1, its ack back to 0 */
    assert_int_equal(f_status(0).committed, 1);
    assert_int_equal(F.nd[0].applied, 1);
    assert_int_equal(F.nd[2].applied, 0);
}

static void test_committed_blocks_carry_a_certificate_that_checks(void **state)
{
    (void)state;
    f_init(5, 13);
    f_elect(0);
    for (uint8_t s = 1; s <= 5; s++) {
        assert_int_equal(f_propose(0, s), CONS_ERR_OK);
        f_deliver_all();
    }
    for (uint32_t t = 0; t < H_TICKS; t++)
        f_tick(0);
    f_deliver_all(); /* the heartbeat carries the last certificate */
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(F.nd[i].applied, 5); /* f_commit checked every certificate */
    assert_int_equal(F.commits, 25);
}

static void test_a_follower_learns_commits_from_a_heartbeat(void **state)
{
    (void)state;
    f_init(3, 14);
    f_elect(0);
    assert_int_equal(f_propose(0, 1), CONS_ERR_OK);
    f_deliver_all();
    assert_int_equal(F.nd[0].applied, 1);
    assert_int_equal(F.nd[1].applied, 0); /* knows the entry, not yet its certificate */
    for (uint32_t t = 0; t < H_TICKS; t++)
        f_tick(0);
    f_deliver_all();
    assert_int_equal(F.nd[1].applied, 1);
    assert_int_equal(F.nd[2].applied, 1);
}

static void test_a_lagging_follower_catches_up(void **state)
{
    (void)state;
    f_init(3, 15);
    f_elect(0);
    f_isolate(2, true);
    for (uint8_t s = 1; s <= 20; s++) {
        assert_int_equal(f_propose(0, s), CONS_ERR_OK);
        f_deliver_all();
    }
    f_isolate(2, false);
    for (uint32_t t = 0; t < 4 * H_TICKS; t++) {
        f_tick(0);
        f_deliver_all();
    }
    assert_int_equal(F.nd[2].applied, 20);
}

static void test_a_follower_with_a_conflicting_suffix_is_repaired(void **state)
{
    (void)state;
    f_init(3, 16);
    f_elect(0);
    f_isolate(0, true);
    assert_int_equal(f_propose(0, 0xAA), CONS_ERR_OK); /* reaches nobody */
    assert_int_equal(F.nd[0].n, 1);
    uint8_t stale[CONS_HASH_BYTES];
    memcpy(stale, F.nd[0].log[0].hash, CONS_HASH_BYTES);
    f_expire_leases(0);
    f_elect(1);
    assert_int_equal(f_propose(1, 0xBB), CONS_ERR_OK);
    f_deliver_all();
    assert_int_equal(F.nd[1].applied, 1);
    f_isolate(0, false);
    for (uint32_t t = 0; t < H_TICKS; t++)
        f_tick(1);
    f_deliver_all();
    /* node 0 dropped its height-1 entry for the leader's */
    assert_false(f_status(0).is_leader);
    assert_int_equal(F.nd[0].n, 1);
    assert_memory_not_equal(F.nd[0].log[0].hash, stale, CONS_HASH_BYTES);
    assert_memory_equal(F.nd[0].log[0].hash, F.nd[1].log[0].hash, CONS_HASH_BYTES);
    for (uint32_t t = 0; t < H_TICKS; t++)
        f_tick(1);
    f_deliver_all();
    assert_int_equal(F.nd[0].applied, 1);
}

static void test_a_repair_reports_the_truncation_in_the_ready(void **state)
{
    (void)state;
    f_init(3, 17);
    f_elect(0);
    f_isolate(0, true);
    assert_int_equal(f_propose(0, 0xAA), CONS_ERR_OK);
    f_expire_leases(0);
    f_elect(1);
    assert_int_equal(f_propose(1, 0xBB), CONS_ERR_OK);
    f_deliver_all();
    f_isolate(0, false);
    /* deliver the leader's next append to 0 by hand and look at 0's ready */
    for (uint32_t t = 0; t < H_TICKS; t++)
        f_tick(1);
    bool seen = false;
    while (F.nq) {
        struct fmsg m = F.q[0];
        memmove(F.q, F.q + 1, (F.nq - 1) * sizeof *F.q);
        F.nq--;
        if (F.nd[m.to].c)
            f_step(m.to, m.from, m.data, m.len);
        if (m.to == 0 && m.data[0] == T_APPEND && F.last[0].truncate_from == 1) {
            assert_int_equal(F.last[0].n_entries, 1);
            assert_memory_equal(F.last[0].entry_hash[0], F.nd[1].log[0].hash, CONS_HASH_BYTES);
            seen = true;
        }
        free(m.data);
    }
    assert_true(seen);
}

static void test_a_new_leader_restamps_uncommitted_entries(void **state)
{
    (void)state;
    f_init(3, 18);
    f_elect(0);
    uint64_t t0 = f_status(0).term;
    F.cut[0][2] = true;
    F.cut[1][0] = true; /* 1 gets the entry, 0 never hears it was acknowledged */
    assert_int_equal(f_propose(0, 7), CONS_ERR_OK);
    f_deliver_all();
    assert_int_equal(F.nd[1].n, 1);
    assert_int_equal(F.nd[1].log[0].term, t0);
    assert_int_equal(F.nd[0].applied, 0);
    f_isolate(0, true);
    f_expire_leases(0);
    /* 1 wins; in the ready that makes it leader it rewrites height 1 in its term */
    bool stamped = false;
    for (uint32_t t = 0; t < 4 * E_TICKS && !f_status(1).is_leader; t++) {
        f_tick(1);
        while (F.nq && !f_status(1).is_leader) {
            struct fmsg m = F.q[0];
            memmove(F.q, F.q + 1, (F.nq - 1) * sizeof *F.q);
            F.nq--;
            if (F.nd[m.to].c && !F.cut[m.from][m.to])
                f_step(m.to, m.from, m.data, m.len);
            free(m.data);
        }
    }
    assert_true(f_status(1).is_leader);
    uint64_t t1 = f_status(1).term;
    assert_true(t1 > t0);
    stamped = F.last[1].truncate_from == 1 && F.last[1].n_entries == 1 && F.last[1].entry_term[0] == t1 &&
              F.last[1].entry_height[0] == 1;
    assert_true(stamped);
    assert_memory_equal(F.last[1].entry_hash[0], F.nd[0].log[0].hash, CONS_HASH_BYTES); /* same block */
    assert_int_equal(F.nd[1].log[0].term, t1);
    f_deliver_all();
    assert_int_equal(F.nd[1].applied, 1); /* committed by the current-term rule, no no-op */
    assert_memory_equal(F.canon[1], F.nd[0].log[0].hash, CONS_HASH_BYTES);
    assert_true(f_status(1).can_propose);
    assert_int_equal(f_status(1).next_height, 2);
}

static void test_an_old_term_entry_is_not_counted_by_a_new_leader_until_restamped(void **state)
{
    (void)state;
    /* Figure 8: the signatures a deposed leader gathered are not a certificate
     * for anyone else; the new leader certifies only under its own term. */
    f_init(5, 19);
    f_elect(0);
    for (uint32_t j = 2; j < 5; j++)
        F.cut[0][j] = true;
    assert_int_equal(f_propose(0, 9), CONS_ERR_OK);
    f_deliver_all(); /* 0 and 1 hold it: a minority */
    assert_int_equal(F.nd[0].applied, 0);
    assert_int_equal(F.nd[1].n, 1);
    f_isolate(0, true);
    f_expire_leases(0);
    f_elect(1);
    f_deliver_all();
    for (uint32_t t = 0; t < H_TICKS; t++)
        f_tick(1);
    f_deliver_all();
    for (uint32_t i = 1; i < 5; i++)
        assert_int_equal(F.nd[i].applied, 1);
    assert_memory_equal(F.canon[1], F.nd[0].log[0].hash, CONS_HASH_BYTES);
}

static void test_a_single_node_cluster_commits_on_its_own(void **state)
{
    (void)state;
    f_init(1, 20);
    f_elect(0);
    assert_int_equal(f_propose(0, 1), CONS_ERR_OK);
    assert_int_equal(F.last[0].n_committed, 1);
    assert_int_equal(f_status(0).committed, 1);
    assert_true(f_status(0).can_propose);
}

/* ---- persistence ---- */

static void test_a_restarted_node_does_not_report_applied_heights_again(void **state)
{
    (void)state;
    f_init(3, 21);
    f_elect(0);
    for (uint8_t s = 1; s <= 3; s++) {
        assert_int_equal(f_propose(0, s), CONS_ERR_OK);
        f_deliver_all();
    }
    for (uint32_t t = 0; t < H_TICKS; t++)
        f_tick(0);
    f_deliver_all();
    assert_int_equal(F.nd[2].applied, 3);
    f_crash(2);
    f_restart(2); /* f_commit would fail on a repeated height */
    assert_int_equal(f_status(2).committed, 3);
    assert_int_equal(f_status(2).next_height, 4);
    assert_int_equal(f_propose(0, 4), CONS_ERR_OK);
    f_deliver_all();
    for (uint32_t t = 0; t < H_TICKS; t++)
        f_tick(0);
    f_deliver_all();
    assert_int_equal(F.nd[2].applied, 4);
}

static void test_a_restarted_leader_rejoins_and_the_cluster_goes_on(void **state)
{
    (void)state;
    f_init(3, 22);
    f_elect(0);
    assert_int_equal(f_propose(0, 1), CONS_ERR_OK);
    f_deliver_all();
    f_crash(0);
    f_expire_leases(0);
    f_elect(1);
    assert_int_equal(f_propose(1, 2), CONS_ERR_OK);
    f_deliver_all();
    f_restart(0);
    assert_false(f_status(0).is_leader);
    for (uint32_t t = 0; t < 2 * H_TICKS; t++) {
        f_tick(1);
        f_deliver_all();
    }
    assert_int_equal(F.nd[0].applied, 2);
    assert_int_equal(f_status(0).leader, 1);
}

static void test_garbage_hard_state_is_refused_with_bad_state(void **state)
{
    (void)state;
    f_init(3, 23);
    uint8_t m[29];
    size_t n = enc_vote(m, T_VOTE, 0, 2, 0, 0);
    assert_int_equal(f_step(1, 0, m, n), CONS_ERR_OK);
    f_crash(1);
    assert_true(F.nd[1].hs_len > 0);
    size_t len = F.nd[1].hs_len;
    for (size_t k = 0; k < len; k++) {
        uint8_t saved = F.nd[1].hs[k];
        F.nd[1].hs[k] ^= 0xFF;
        int rc = f_open(1);
        if (rc == CONS_ERR_OK)
            f_crash(1); /* a flipped term or commit byte can still decode */
        else
            assert_int_equal(rc, CONS_ERR_BAD_STATE);
        F.nd[1].hs[k] = saved;
    }
    F.nd[1].hs_len = len - 1;
    assert_int_equal(f_open(1), CONS_ERR_BAD_STATE);
    F.nd[1].hs_len = len + 1;
    assert_int_equal(f_open(1), CONS_ERR_BAD_STATE);
    F.nd[1].hs_len = len;
    F.nd[1].hs[0] ^= 1; /* magic */
    assert_int_equal(f_open(1), CONS_ERR_BAD_STATE);
    F.nd[1].hs[0] ^= 1;
    F.nd[1].applied = 5; /* applied past the log */
    assert_int_equal(f_open(1), CONS_ERR_BAD_STATE);
    F.nd[1].applied = 0;
    f_restart(1);
    assert_int_equal(f_status(1).term, 2);
}

/* ---- messages ---- */

static void test_garbage_messages_are_refused_with_a_named_error(void **state)
{
    (void)state;
    f_init(3, 24);
    f_elect(0);
    assert_int_equal(f_propose(0, 1), CONS_ERR_OK);
    /* capture a valid append to 1 */
    assert_true(F.nq >= 1);
    struct fmsg app = F.q[0];
    assert_int_equal(app.data[0], T_APPEND);
    uint8_t buf[512];
    assert_true(app.len <= sizeof buf);
    struct cons_ready r;
    struct cons *c = F.nd[1].c;
#define REFUSED(want, data, len)                                                                   \
    do {                                                                                       \
        assert_int_equal(cons_step(c, 0, (data), (len), &r), (want));                          \
        assert_int_equal(r.n_msgs + r.n_entries + r.n_committed, 0);                           \
        assert_false(r.hard_state_changed);                                                    \
        cons_advance(c, &r);                                                                   \
    } while (0)
    REFUSED(CONS_ERR_MSG_MALFORMED, buf, 0);
    memset(buf, 0, 29);
    buf[0] = 99;
    REFUSED(CONS_ERR_MSG_MALFORMED, buf, 29); /* unknown type */
    for (size_t cut = 1; cut < app.len; cut++) {
        memcpy(buf, app.data, cut);
        REFUSED(CONS_ERR_MSG_MALFORMED, buf, cut); /* every truncation */
    }
    memcpy(buf, app.data, app.len);
    buf[app.len] = 0;
    REFUSED(CONS_ERR_MSG_MALFORMED, buf, app.len + 1); /* a trailing byte */
    memcpy(buf, app.data, app.len);
    buf[4] = 2; /* claims to be node 2 */
    REFUSED(CONS_ERR_MSG_BAD_SENDER, buf, app.len);
    memcpy(buf, app.data, app.len);
    buf[app.len - 3] ^= 1; /* a block byte: no longer hashes to its hash */
    REFUSED(CONS_ERR_MSG_BAD_HASH, buf, app.len);
    /* a block length past the limit */
    memcpy(buf, app.data, app.len);
    size_t lenpos = 13 + 32 + 2 + 8 + 32;
    buf[lenpos] = 0x7f;
    REFUSED(CONS_ERR_MSG_TOO_LARGE, buf, app.len);
    /* a granted flag that is not 0 or 1 */
    uint8_t resp[14] = {T_VOTE_RESP, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2};
    REFUSED(CONS_ERR_MSG_MALFORMED, resp, sizeof resp);
    /* from itself, or from outside the set */
    assert_int_equal(cons_step(c, 1, app.data, app.len, &r), CONS_ERR_MSG_BAD_SENDER);
    cons_advance(c, &r);
    assert_int_equal(cons_step(c, 7, app.data, app.len, &r), CONS_ERR_MSG_BAD_SENDER);
    cons_advance(c, &r);
    /* the genuine message is still accepted afterwards */
    assert_int_equal(cons_step(c, 0, app.data, app.len, &r), CONS_ERR_OK);
    cons_advance(c, &r);
#undef REFUSED
}

static void test_an_acknowledgement_with_a_forged_signature_is_refused(void **state)
{
    (void)state;
    f_init(3, 25);
    f_elect(0);
    F.cut[0][2] = true;
    assert_int_equal(f_propose(0, 1), CONS_ERR_OK);
    /* let 1 answer, then tamper with its answer's signature */
    struct fmsg app = F.q[0];
    F.nq = 0;
    f_step(1, 0, app.data, app.len);
    free(app.data);
    assert_int_equal(F.nq, 1);
    struct fmsg ack = F.q[0];
    F.nq = 0;
    assert_int_equal(ack.data[0], T_APPEND_RESP);
    ack.data[ack.len - 1] ^= 1;
    assert_int_equal(f_step(0, 1, ack.data, ack.len), CONS_ERR_MSG_BAD_SIG);
    assert_int_equal(f_status(0).committed, 0);
    ack.data[ack.len - 1] ^= 1;
    assert_int_equal(f_step(0, 1, ack.data, ack.len), CONS_ERR_OK);
    assert_int_equal(f_status(0).committed, 1);
    free(ack.data);
}

static void test_equivocate_is_not_offered_by_raft(void **state)
{
    (void)state;
    f_init(3, 26);
    uint8_t in[29] = {0}, out[64];
    size_t ol = sizeof out;
    assert_int_equal(cons_equivocate(F.nd[0].c, in, sizeof in, 1, out, &ol), CONS_ERR_INVALID_ARG);
    uint8_t h[CONS_HASH_BYTES] = {0};
    struct cons_ready r;
    assert_int_equal(cons_executed(F.nd[0].c, 1, h, true, &r), CONS_ERR_OK);
    assert_int_equal(r.n_msgs + r.n_committed, 0);
    cons_advance(F.nd[0].c, &r);
    assert_int_equal(cons_evidence(F.nd[0].c, NULL, 0), 0);
}

/* ---- randomised: drops, delays, reordering, crashes ---- */

static void random_run(uint32_t n, uint64_t seed, uint64_t fault_ticks, uint64_t calm_ticks)
{
    f_init(n, seed);
    F.delay_max = 4;
    F.loss_pm = 50;
    uint64_t heal_height = 0;
    uint64_t down_until[FN] = {0};
    for (F.now = 1; F.now <= fault_ticks + calm_ticks; F.now++) {
        bool faults = F.now <= fault_ticks;
        if (F.now == fault_ticks + 1) {
            memset(F.cut, 0, sizeof F.cut);
            F.loss_pm = 0;
            F.delay_max = 1;
            for (uint32_t i = 0; i < n; i++)
                if (!F.nd[i].c)
                    f_restart(i);
            for (size_t h = 1; h < MAXH; h++)
                if (F.canon_set[h])
                    heal_height = h;
        }
        if (faults) {
            uint64_t ev = f_below(1000);
            if (ev < 8) {
                uint32_t a = (uint32_t)f_below(n), b = (uint32_t)f_below(n);
                F.cut[a][b] = !F.cut[a][b];
            } else if (ev < 12) {
                memset(F.cut, 0, sizeof F.cut);
            } else if (ev < 16) {
                uint32_t i = (uint32_t)f_below(n);
                if (F.nd[i].c) {
                    f_crash(i);
                    down_until[i] = F.now + 5 + f_below(40);
                }
            }
            for (uint32_t i = 0; i < n; i++)
                if (!F.nd[i].c && F.now >= down_until[i])
                    f_restart(i);
        }
        /* deliver what is due, in a random order */
        size_t due = 0;
        for (size_t k = 0; k < F.nq; k++)
            if (F.q[k].at <= F.now) {
                struct fmsg t = F.q[due];
                F.q[due] = F.q[k];
                F.q[k] = t;
                due++;
            }
        for (size_t k = due; k > 1; k--) {
            size_t j = (size_t)f_below(k);
            struct fmsg t = F.q[k - 1];
            F.q[k - 1] = F.q[j];
            F.q[j] = t;
        }
        struct fmsg *batch = malloc((due ? due : 1) * sizeof *batch);
        if (due) {
            memcpy(batch, F.q, due * sizeof *batch);
            memmove(F.q, F.q + due, (F.nq - due) * sizeof *F.q);
            F.nq -= due;
        }
        for (size_t k = 0; k < due; k++) {
            if (F.nd[batch[k].to].c)
                f_step(batch[k].to, batch[k].from, batch[k].data, batch[k].len);
            free(batch[k].data);
        }
        free(batch);
        for (uint32_t i = 0; i < n; i++) {
            f_tick(i);
            if (F.nd[i].c && f_status(i).can_propose && (!faults || f_below(4)))
                f_propose(i, (uint8_t)f_rand());
        }
    }
    for (uint32_t i = 0; i < n; i++)
        if (F.nd[i].applied <= heal_height)
            fail_msg("seed %llu, %u nodes: node %u stuck at %llu after the network healed at %llu",
                     (unsigned long long)seed, n, i, (unsigned long long)F.nd[i].applied,
                     (unsigned long long)heal_height);
    f_free();
}

static void test_random_faults_never_split_a_height_and_progress_resumes(void **state)
{
    (void)state;
    for (uint64_t seed = 100; seed < 106; seed++) {
        random_run(3, seed, 3000, 400);
        random_run(5, seed, 3000, 400);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_a_follower_that_hears_nothing_starts_a_pre_vote, teardown),
        cmocka_unit_test_teardown(test_a_pre_vote_granted_by_a_majority_starts_an_election, teardown),
        cmocka_unit_test_teardown(test_pre_vote_does_not_raise_the_term_when_refused, teardown),
        cmocka_unit_test_teardown(test_a_candidate_with_a_shorter_log_is_refused_a_vote, teardown),
        cmocka_unit_test_teardown(test_a_node_grants_one_vote_per_term, teardown),
        cmocka_unit_test_teardown(test_hard_state_is_in_the_same_ready_as_the_vote_it_records, teardown),
        cmocka_unit_test_teardown(test_a_restarted_node_keeps_its_term_and_vote, teardown),
        cmocka_unit_test_teardown(test_a_stale_leader_steps_down_when_it_hears_a_higher_term, teardown),
        cmocka_unit_test_teardown(test_a_leader_that_loses_its_majority_steps_down, teardown),
        cmocka_unit_test_teardown(test_propose_on_a_follower_is_refused_with_not_leader, teardown),
        cmocka_unit_test_teardown(test_a_second_block_in_flight_is_refused_with_busy, teardown),
        cmocka_unit_test_teardown(test_leader_commits_once_a_majority_acknowledges, teardown),
        cmocka_unit_test_teardown(test_committed_blocks_carry_a_certificate_that_checks, teardown),
        cmocka_unit_test_teardown(test_a_follower_learns_commits_from_a_heartbeat, teardown),
        cmocka_unit_test_teardown(test_a_lagging_follower_catches_up, teardown),
        cmocka_unit_test_teardown(test_a_follower_with_a_conflicting_suffix_is_repaired, teardown),
        cmocka_unit_test_teardown(test_a_repair_reports_the_truncation_in_the_ready, teardown),
        cmocka_unit_test_teardown(test_a_new_leader_restamps_uncommitted_entries, teardown),
        cmocka_unit_test_teardown(test_an_old_term_entry_is_not_counted_by_a_new_leader_until_restamped, teardown),
        cmocka_unit_test_teardown(test_a_single_node_cluster_commits_on_its_own, teardown),
        cmocka_unit_test_teardown(test_a_restarted_node_does_not_report_applied_heights_again, teardown),
        cmocka_unit_test_teardown(test_a_restarted_leader_rejoins_and_the_cluster_goes_on, teardown),
        cmocka_unit_test_teardown(test_garbage_hard_state_is_refused_with_bad_state, teardown),
        cmocka_unit_test_teardown(test_garbage_messages_are_refused_with_a_named_error, teardown),
        cmocka_unit_test_teardown(test_an_acknowledgement_with_a_forged_signature_is_refused, teardown),
        cmocka_unit_test_teardown(test_equivocate_is_not_offered_by_raft, teardown),
        cmocka_unit_test_teardown(test_random_faults_never_split_a_height_and_progress_resumes, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
