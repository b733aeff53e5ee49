/* gridsim.c -- the deterministic consensus simulator (TigerBeetle's VOPR, canonical/raft's fixture).
 *
 * Runs the real engines of consensus/ on a simulated network driven by one
 * seed: delay, loss, duplication, reordering, partitions (symmetric,
 * asymmetric, isolating the leader), crash and restart from persisted state
 * (including losing writes that were not yet synced), clock skew, and under
 * PBFT up to F Byzantine nodes that equivocate, go silent or send garbage.
 *
 * After every step it checks: no two honest nodes commit different blocks at
 * one height; a node's committed prefix never changes (heights arrive in
 * order, once, and survive restarts); every certificate checks; Raft has at
 * most one leader per term; no node holds PBFT evidence against an honest
 * validator.  At the end
 * the network heals and every honest node must commit a new block within a
 * bounded number of ticks.  On a violation it prints the seed and the tail
 * of the trace and exits 1.
 *
 *   gridsim --engine raft|pbft --nodes N --seed S --steps K [--byzantine F]
 *           [--seeds A:B] [--faults all|none] [--bug NAME --expect-violation]
 *           [--real-crypto] [--trace N] [--verbose]
 *
 * Crypto: by default a fast stand-in (keyed BLAKE2b-512 "signatures" the
 * simulator verifies from its table of node secrets), so thousands of seeds
 * run in CI time; --real-crypto uses Ed25519.  Nothing here reads a clock or
 * an unseeded random source: a seed replays exactly. */
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cons.h"

#define MAX_NODES CONS_NODES_MAX
#define TRACE_LINES 4096u
#define MAX_HEIGHT 100000u

/* ---- deterministic PRNG ---- */

static uint64_t rng_state;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static uint64_t below(uint64_t n)
{
    return n ? rnd() % n : 0;
}
/* true with probability num/den */
static int chance(uint64_t num, uint64_t den)
{
    return below(den) < num;
}

/* ---- options ---- */

struct opts {
    enum cons_engine engine;
    uint32_t nodes, byzantine;
    uint64_t seed_lo, seed_hi, steps;
    int faults;            /* 1 all, 0 none */
    uint32_t bugs;
    int expect_violation;
    int real_crypto;
    uint32_t trace_tail;
    int verbose;
};

/* ---- trace ring ---- */

static char trace_buf[TRACE_LINES][160];
static uint64_t trace_n;
static uint64_t now_tick;

static void trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void trace(const char *fmt, ...)
{
    va_list ap;
    char *line = trace_buf[trace_n % TRACE_LINES];
    int k = snprintf(line, 160, "t=%" PRIu64 " ", now_tick);
    va_start(ap, fmt);
    vsnprintf(line + k, (size_t)(160 - k), fmt, ap);
    va_end(ap);
    trace_n++;
}

static void trace_dump(uint32_t tail)
{
    uint64_t from = trace_n > tail ? trace_n - tail : 0;
    if (trace_n - from > TRACE_LINES)
        from = trace_n - TRACE_LINES;
    for (uint64_t i = from; i < trace_n; i++)
        fprintf(stderr, "  %s\n", trace_buf[i % TRACE_LINES]);
}

/* ---- crypto: stand-in MAC or Ed25519 ---- */

static uint8_t secrets[MAX_NODES][32];
static uint8_t keys[MAX_NODES][CONS_KEY_BYTES];
static uint8_t ed_sk[MAX_NODES][crypto_sign_SECRETKEYBYTES];
static uint32_t n_nodes;
static int use_real_crypto;

static void fake_mac(uint32_t who, const uint8_t *msg, size_t len, uint8_t sig[CONS_SIG_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, secrets[who], 32, CONS_SIG_BYTES);
    crypto_generichash_update(&st, msg, len);
    crypto_generichash_final(&st, sig, CONS_SIG_BYTES);
}

static void sim_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[CONS_SIG_BYTES])
{
    uint32_t who = (uint32_t)(uintptr_t)ctx;
    if (use_real_crypto)
        crypto_sign_detached(sig, NULL, msg, len, ed_sk[who]);
    else
        fake_mac(who, msg, len, sig);
}

static bool sim_verify(void *ctx, const uint8_t key[CONS_KEY_BYTES], const uint8_t *msg, size_t len,
                       const uint8_t sig[CONS_SIG_BYTES])
{
    (void)ctx;
    if (use_real_crypto)
        return crypto_sign_verify_detached(sig, msg, len, key) == 0;
    for (uint32_t i = 0; i < n_nodes; i++) {
        if (memcmp(keys[i], key, CONS_KEY_BYTES) == 0) {
            uint8_t want[CONS_SIG_BYTES];
            fake_mac(i, msg, len, want);
            return sodium_memcmp(want, sig, CONS_SIG_BYTES) == 0;
        }
    }
    return false;
}

/* A block: "GLBK" || height (8) || proposer (4) || nonce (8) || filler. */
#define BLOCK_MAGIC "GLBK"
static bool sim_block_hash(void *ctx, const uint8_t *data, size_t len, uint8_t out[CONS_HASH_BYTES])
{
    (void)ctx;
    if (len < 24 || memcmp(data, BLOCK_MAGIC, 4) != 0)
        return false;
    crypto_generichash(out, CONS_HASH_BYTES, data, len, NULL, 0);
    return true;
}

static uint64_t block_height(const uint8_t *data, size_t len)
{
    uint64_t h = 0;
    if (len < 12)
        return 0;
    for (int i = 0; i < 8; i++)
        h = (h << 8) | data[4 + i];
    return h;
}

/* ---- nodes and disks ---- */

struct disk_entry {
    uint64_t height, term;
    uint8_t hash[CONS_HASH_BYTES];
    uint8_t *data;
    size_t len;
};

struct disk {
    uint8_t hard[CONS_HARD_STATE_MAX_BYTES];
    size_t hard_len;
    struct disk_entry *e; /* e[i].height == first + i */
    size_t n, cap;
    uint64_t applied;
};

enum byz { HONEST = 0, BYZ_SILENT, BYZ_EQUIVOCATE, BYZ_GARBAGE };

struct node {
    struct cons *c;      /* NULL while crashed */
    struct disk disk;
    enum byz byz;
    uint32_t skew_num;   /* ticks per 8 global ticks: clock skew */
    uint32_t tick_acc;
    uint64_t down_until;
    uint64_t restarts;
};

struct msg {
    uint64_t at;
    uint32_t from, to;
    uint8_t *data;
    size_t len;
};

static struct node nodes[MAX_NODES];
static struct msg *net;
static size_t net_n, net_cap;

/* Committed blocks: what each honest node reported, and the first hash any
 * honest node committed at each height. */
static uint8_t (*canon)[CONS_HASH_BYTES];
static bool *canon_set;
static uint64_t canon_max;
static uint8_t (*node_commit)[MAX_NODES][CONS_HASH_BYTES];
static uint64_t violations;
/* Raft election safety (Raft Figure 3): the leader seen for each term. */
#define MAX_TERMS (1u << 16)
static int16_t *term_leader; /* node + 1, 0 = none seen */
static uint64_t msgs_sent, blocks_committed_total;

/* network faults */
static bool blocked[MAX_NODES][MAX_NODES];
static uint32_t loss_pm, dup_pm, max_delay; /* per mille */
static uint32_t fast_crash_pm;             /* crash right after a hard-state sync */
static bool faults_on;

static struct opts O;

static void violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void violation(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    trace("VIOLATION: %s", buf);
    if (!violations)
        fprintf(stderr, "gridsim: VIOLATION at tick %" PRIu64 ": %s\n", now_tick, buf);
    violations++;
}

static void disk_free(struct disk *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->e[i].data);
    free(d->e);
    memset(d, 0, sizeof *d);
}

static void disk_apply(struct disk *d, const struct cons_ready *r)
{
    if (r->hard_state_changed) {
        memcpy(d->hard, r->hard_state, r->hard_state_len);
        d->hard_len = r->hard_state_len;
    }
    if (r->truncate_from) {
        while (d->n && d->e[d->n - 1].height >= r->truncate_from) {
            free(d->e[d->n - 1].data);
            d->n--;
        }
    }
    for (size_t i = 0; i < r->n_entries; i++) {
        const struct cons_entry *e = &r->entries[i];
        /* entries replace any stored entry at or above their height */
        while (d->n && d->e[d->n - 1].height >= e->height) {
            free(d->e[d->n - 1].data);
            d->n--;
        }
        if (d->n == d->cap) {
            d->cap = d->cap ? d->cap * 2 : 64;
            d->e = realloc(d->e, d->cap * sizeof *d->e);
        }
        struct disk_entry *de = &d->e[d->n++];
        de->height = e->height;
        de->term = e->term;
        memcpy(de->hash, e->hash, CONS_HASH_BYTES);
        de->data = malloc(e->len ? e->len : 1);
        memcpy(de->data, e->data, e->len);
        de->len = e->len;
    }
}

static struct cons_config config_for(uint32_t i)
{
    struct cons_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.engine = O.engine;
    cfg.self = i;
    cfg.n = O.nodes;
    memcpy(cfg.keys, keys, sizeof keys);
    cfg.seed = rnd();
    cfg.election_ticks = 10;
    cfg.heartbeat_ticks = 2;
    cfg.round_ticks = 20;
    cfg.round_ticks_max = 160;
    cfg.checkpoint_interval = 8;
    cfg.crypto.ctx = (void *)(uintptr_t)i;
    cfg.crypto.sign = sim_sign;
    cfg.crypto.verify = sim_verify;
    cfg.crypto.block_hash = sim_block_hash;
    cfg.bugs = O.bugs;
    return cfg;
}

static int node_open(uint32_t i)
{
    struct node *nd = &nodes[i];
    struct cons_config cfg = config_for(i);
    struct cons_entry *ents = calloc(nd->disk.n ? nd->disk.n : 1, sizeof *ents);
    for (size_t k = 0; k < nd->disk.n; k++) {
        ents[k].height = nd->disk.e[k].height;
        ents[k].term = nd->disk.e[k].term;
        memcpy(ents[k].hash, nd->disk.e[k].hash, CONS_HASH_BYTES);
        ents[k].data = nd->disk.e[k].data;
        ents[k].len = nd->disk.e[k].len;
    }
    struct cons_disk d = {nd->disk.hard, nd->disk.hard_len, ents, nd->disk.n, nd->disk.applied};
    int rc = cons_open(&nd->c, &cfg, &d);
    free(ents);
    if (rc) {
        violation("node %u cannot reopen from its persisted state: %s", i, cons_strerror(rc));
        nd->c = NULL;
    }
    return rc;
}

static void send_msg(uint32_t from, uint32_t to, const uint8_t *data, size_t len)
{
    if (faults_on && (blocked[from][to] || chance(loss_pm, 1000))) {
        trace("n%u -> n%u dropped (%zu B)", from, to, len);
        return;
    }
    int copies = faults_on && chance(dup_pm, 1000) ? 2 : 1;
    for (int k = 0; k < copies; k++) {
        if (net_n == net_cap) {
            net_cap = net_cap ? net_cap * 2 : 1024;
            net = realloc(net, net_cap * sizeof *net);
        }
        struct msg *m = &net[net_n++];
        m->at = now_tick + 1 + (faults_on ? below(max_delay) : 0);
        m->from = from;
        m->to = to;
        m->data = malloc(len ? len : 1);
        memcpy(m->data, data, len);
        m->len = len;
    }
    msgs_sent++;
}

static void emit(uint32_t from, uint32_t to, const uint8_t *data, size_t len)
{
    struct node *nd = &nodes[from];
    switch (nd->byz) {
    case BYZ_SILENT: return;
    case BYZ_GARBAGE:
        if (chance(1, 2)) {
            uint8_t junk[256];
            size_t jl = (size_t)below(sizeof junk);
            for (size_t i = 0; i < jl; i++)
                junk[i] = (uint8_t)rnd();
            if (chance(1, 2) && len) { /* or a bit-flipped copy of the real one */
                uint8_t *copy = malloc(len);
                memcpy(copy, data, len);
                copy[below(len)] ^= (uint8_t)(1u << below(8));
                send_msg(from, to, copy, len);
                free(copy);
            } else {
                send_msg(from, to, junk, jl);
            }
            return;
        }
        break;
    case BYZ_EQUIVOCATE:
        if (chance(1, 2)) {
            static uint8_t out[CONS_MSG_MAX_BYTES];
            size_t ol = sizeof out;
            if (cons_equivocate(nd->c, data, len, rnd(), out, &ol) == CONS_ERR_OK) {
                send_msg(from, to, out, ol);
                return;
            }
        }
        break;
    default: break;
    }
    send_msg(from, to, data, len);
}

static void crash(uint32_t i, const char *why)
{
    struct node *nd = &nodes[i];
    if (!nd->c)
        return;
    cons_close(nd->c);
    nd->c = NULL;
    nd->down_until = now_tick + 5 + below(60);
    trace("n%u crashes (%s), down until t=%" PRIu64, i, why, nd->down_until);
}

static void handle_ready(uint32_t i, struct cons_ready *r, int depth);

static void check_commit(uint32_t i, const struct cons_commit *cm)
{
    struct node *nd = &nodes[i];
    uint64_t h = cm->block.height;
    uint8_t hh[CONS_HASH_BYTES];
    if (nd->byz != HONEST) {
        nd->disk.applied = h > nd->disk.applied ? h : nd->disk.applied;
        return;
    }
    if (h != nd->disk.applied + 1)
        violation("n%u committed height %" PRIu64 " after %" PRIu64 " (prefix not contiguous)", i, h,
                  nd->disk.applied);
    if (h == 0 || h >= MAX_HEIGHT) {
        violation("n%u committed impossible height %" PRIu64, i, h);
        return;
    }
    if (!sim_block_hash(NULL, cm->block.data, cm->block.len, hh) || memcmp(hh, cm->block.hash, CONS_HASH_BYTES))
        violation("n%u committed block %" PRIu64 " whose bytes do not match its hash", i, h);
    if (block_height(cm->block.data, cm->block.len) != h)
        violation("n%u committed a block built for height %" PRIu64 " at height %" PRIu64, i,
                  block_height(cm->block.data, cm->block.len), h);
    if (memcmp(cm->cert.hash, cm->block.hash, CONS_HASH_BYTES) || cm->cert.height != h ||
        cons_cert_check(O.engine, O.nodes, (const uint8_t(*)[CONS_KEY_BYTES])keys, &cm->cert, sim_verify, NULL))
        violation("n%u committed height %" PRIu64 " with a certificate that does not check", i, h);
    if (canon_set[h]) {
        if (memcmp(canon[h], cm->block.hash, CONS_HASH_BYTES))
            violation("n%u committed a different block at height %" PRIu64 " than another honest node", i, h);
    } else {
        canon_set[h] = true;
        memcpy(canon[h], cm->block.hash, CONS_HASH_BYTES);
        if (h > canon_max)
            canon_max = h;
    }
    /* a committed prefix never changes, across restarts too */
    static const uint8_t zero[CONS_HASH_BYTES];
    if (memcmp(node_commit[h][i], zero, CONS_HASH_BYTES) && memcmp(node_commit[h][i], cm->block.hash, CONS_HASH_BYTES))
        violation("n%u changed its committed block at height %" PRIu64, i, h);
    memcpy(node_commit[h][i], cm->block.hash, CONS_HASH_BYTES);
    if (h > nd->disk.applied)
        nd->disk.applied = h;
    blocks_committed_total++;
    trace("n%u commits h=%" PRIu64 " %02x%02x%02x%02x (%u sigs)", i, h, cm->block.hash[0], cm->block.hash[1],
          cm->block.hash[2], cm->block.hash[3], cm->cert.n_sigs);
}

static void handle_ready(uint32_t i, struct cons_ready *r, int depth)
{
    struct node *nd = &nodes[i];
    /* 1. persist; a crash between write and sync loses this ready whole
     * (its messages were never sent, as the caller syncs before sending) */
    if (faults_on && nd->byz == HONEST && (r->hard_state_changed || r->n_entries) && chance(3, 1000)) {
        cons_advance(nd->c, r);
        crash(i, "before sync: unsynced writes lost");
        return;
    }
    disk_apply(&nd->disk, r);
    bool crash_after = faults_on && nd->byz == HONEST && r->hard_state_changed && chance(fast_crash_pm, 1000);
    /* 2. send */
    for (size_t k = 0; k < r->n_msgs; k++) {
        const struct cons_out_msg *m = &r->msgs[k];
        if (m->to == CONS_BROADCAST) {
            for (uint32_t j = 0; j < O.nodes; j++)
                if (j != i)
                    emit(i, j, m->data, m->len);
        } else if (m->to < O.nodes && m->to != i) {
            emit(i, m->to, m->data, m->len);
        }
    }
    /* 4. apply (before execute results, which produce new readies) */
    for (size_t k = 0; k < r->n_committed; k++)
        check_commit(i, &r->committed[k]);
    /* 3. execute: copy what to execute, advance, then report */
    size_t nx = r->n_execute;
    struct {
        uint64_t h;
        uint8_t hash[CONS_HASH_BYTES];
        bool ok;
    } xs[8];
    if (nx > 8)
        nx = 8;
    for (size_t k = 0; k < nx; k++) {
        uint8_t hh[CONS_HASH_BYTES];
        xs[k].h = r->execute[k].height;
        memcpy(xs[k].hash, r->execute[k].hash, CONS_HASH_BYTES);
        xs[k].ok = sim_block_hash(NULL, r->execute[k].data, r->execute[k].len, hh) &&
                   !memcmp(hh, xs[k].hash, CONS_HASH_BYTES) &&
                   block_height(r->execute[k].data, r->execute[k].len) == xs[k].h;
    }
    cons_advance(nd->c, r);
    if (crash_after) {
        /* power lost just after the hard state was synced and its messages
         * left: the node must come back with exactly what it persisted */
        crash(i, "right after syncing its hard state");
        nd->down_until = now_tick + 1 + below(3);
        return;
    }
    for (size_t k = 0; k < nx && nd->c && depth < 8; k++) {
        struct cons_ready r2;
        cons_executed(nd->c, xs[k].h, xs[k].hash, xs[k].ok, &r2);
        handle_ready(i, &r2, depth + 1);
    }
}

static void maybe_propose(uint32_t i)
{
    struct node *nd = &nodes[i];
    struct cons_status st;
    if (!nd->c)
        return;
    cons_status(nd->c, &st);
    if (!st.can_propose || (faults_on && chance(1, 4)))
        return;
    uint8_t data[64];
    memcpy(data, BLOCK_MAGIC, 4);
    for (int k = 0; k < 8; k++)
        data[4 + k] = (uint8_t)(st.next_height >> (56 - 8 * k));
    data[12] = (uint8_t)i;
    uint64_t nonce = rnd();
    memcpy(data + 16, &nonce, 8);
    size_t len = 24 + (size_t)below(40);
    for (size_t k = 24; k < len; k++)
        data[k] = (uint8_t)rnd();
    struct cons_block b = {.height = st.next_height, .data = data, .len = len};
    sim_block_hash(NULL, data, len, b.hash);
    struct cons_ready r;
    int rc = cons_propose(nd->c, &b, &r);
    if (rc == CONS_ERR_OK) {
        trace("n%u proposes h=%" PRIu64 " %02x%02x%02x%02x", i, b.height, b.hash[0], b.hash[1], b.hash[2], b.hash[3]);
        handle_ready(i, &r, 0);
    } else {
        cons_advance(nd->c, &r);
    }
}

static int32_t current_leader(void)
{
    int32_t best = -1;
    uint64_t best_term = 0;
    for (uint32_t i = 0; i < O.nodes; i++) {
        struct cons_status st;
        if (!nodes[i].c)
            continue;
        cons_status(nodes[i].c, &st);
        if (st.is_leader && (best < 0 || st.term > best_term)) {
            best = (int32_t)i;
            best_term = st.term;
        }
    }
    return best;
}

static void heal(void)
{
    memset(blocked, 0, sizeof blocked);
}

/* A random fault event, at most one per step. */
static void inject_faults(void)
{
    uint64_t ev = below(1000);
    if (ev < 6) { /* symmetric partition into two groups */
        heal();
        uint32_t mask = (uint32_t)rnd();
        for (uint32_t a = 0; a < O.nodes; a++)
            for (uint32_t b = 0; b < O.nodes; b++)
                if (((mask >> a) & 1) != ((mask >> b) & 1))
                    blocked[a][b] = true;
        trace("partition: symmetric, mask %x", mask & ((1u << O.nodes) - 1));
    } else if (ev < 10) { /* asymmetric: a can send to b but not hear back */
        uint32_t a = (uint32_t)below(O.nodes), b = (uint32_t)below(O.nodes);
        if (a != b) {
            blocked[b][a] = true;
            trace("partition: n%u no longer hears n%u", a, b);
        }
    } else if (ev < 14) { /* isolate the leader */
        int32_t l = current_leader();
        if (l >= 0) {
            for (uint32_t j = 0; j < O.nodes; j++)
                blocked[l][j] = blocked[j][(uint32_t)l] = (j != (uint32_t)l);
            trace("partition: leader n%d isolated", l);
        }
    } else if (ev < 24) {
        heal();
        trace("partition healed");
    } else if (ev < 28) { /* crash a node (keep at most f crashed honest nodes down at once? no: any) */
        uint32_t i = (uint32_t)below(O.nodes);
        crash(i, "crash");
    } else if (ev < 31) { /* change a node's clock rate */
        uint32_t i = (uint32_t)below(O.nodes);
        nodes[i].skew_num = 4 + (uint32_t)below(9); /* 0.5x .. 1.5x */
        trace("n%u clock rate %u/8", i, nodes[i].skew_num);
    } else if (ev < 38) {
        fast_crash_pm = (uint32_t)below(60);
        trace("crashes right after a hard-state sync: %u/1000", fast_crash_pm);
    } else if (ev < 43) {
        loss_pm = (uint32_t)below(200);
        dup_pm = (uint32_t)below(50);
        max_delay = 1 + (uint32_t)below(12);
        trace("network: loss %u/1000 dup %u/1000 delay <= %u", loss_pm, dup_pm, max_delay);
    }
}

static void deliver_due(void)
{
    /* deliver every message due now, in a random order (reordering) */
    size_t due = 0;
    for (size_t k = 0; k < net_n; k++)
        if (net[k].at <= now_tick) {
            struct msg t = net[due];
            net[due] = net[k];
            net[k] = t;
            due++;
        }
    for (size_t k = due; k > 1; k--) {
        size_t j = (size_t)below(k);
        struct msg t = net[k - 1];
        net[k - 1] = net[j];
        net[j] = t;
    }
    if (due == 0)
        return;
    struct msg *batch = malloc(due * sizeof *batch);
    memcpy(batch, net, due * sizeof *batch);
    memmove(net, net + due, (net_n - due) * sizeof *net);
    net_n -= due;
    for (size_t k = 0; k < due; k++) {
        struct msg *m = &batch[k];
        struct node *nd = &nodes[m->to];
        if (nd->c) {
            struct cons_ready r;
            int rc = cons_step(nd->c, m->from, m->data, m->len, &r);
            if (rc != CONS_ERR_OK && nodes[m->from].byz == HONEST && O.verbose)
                trace("n%u refused a message from n%u: %s", m->to, m->from, cons_err_name(rc));
            if (!strcmp(cons_err_name(rc), "UNKNOWN"))
                violation("n%u returned an unnamed error %d for a message", m->to, rc);
            handle_ready(m->to, &r, 0);
        }
        free(m->data);
    }
    free(batch);
}

/* Invariants over every node, after every step:
 *  - Raft: at most one leader per term (election safety);
 *  - PBFT: no node holds evidence that an honest validator signed two
 *    conflicting votes (honest validators never equivocate, even across a
 *    crash and restart). */
static void check_invariants(void)
{
    for (uint32_t i = 0; i < O.nodes; i++) {
        struct node *nd = &nodes[i];
        if (!nd->c)
            continue;
        if (O.engine == CONS_ENGINE_RAFT) {
            struct cons_status st;
            cons_status(nd->c, &st);
            if (st.is_leader && st.term < MAX_TERMS) {
                int16_t seen = term_leader[st.term];
                if (seen && seen != (int16_t)(i + 1))
                    violation("two leaders in term %" PRIu64 ": n%d and n%u", st.term, seen - 1, i);
                term_leader[st.term] = (int16_t)(i + 1);
            }
        } else if (nd->byz == HONEST) {
            struct cons_evidence ev[16];
            size_t n = cons_evidence(nd->c, ev, 16);
            for (size_t k = 0; k < n && k < 16; k++)
                if (ev[k].validator < O.nodes && nodes[ev[k].validator].byz == HONEST)
                    violation("n%u holds evidence that honest n%u signed two %s votes at height %" PRIu64
                              " view %" PRIu64,
                              i, ev[k].validator, ev[k].kind == 1 ? "prepare" : "commit", ev[k].height, ev[k].view);
        }
    }
}

static void tick_nodes(void)
{
    for (uint32_t i = 0; i < O.nodes; i++) {
        struct node *nd = &nodes[i];
        if (!nd->c) {
            if (now_tick >= nd->down_until) {
                nd->restarts++;
                trace("n%u restarts from disk (hard state %zu B, %zu entries, applied %" PRIu64 ")", i,
                      nd->disk.hard_len, nd->disk.n, nd->disk.applied);
                node_open(i);
            }
            continue;
        }
        nd->tick_acc += nd->skew_num;
        while (nd->tick_acc >= 8 && nd->c) {
            nd->tick_acc -= 8;
            struct cons_ready r;
            cons_tick(nd->c, &r);
            handle_ready(i, &r, 0);
        }
        maybe_propose(i);
    }
}

static uint64_t min_honest_applied(void)
{
    uint64_t m = UINT64_MAX;
    for (uint32_t i = 0; i < O.nodes; i++)
        if (nodes[i].byz == HONEST && nodes[i].disk.applied < m)
            m = nodes[i].disk.applied;
    return m;
}

static void reset_world(void)
{
    for (uint32_t i = 0; i < MAX_NODES; i++) {
        if (nodes[i].c)
            cons_close(nodes[i].c);
        disk_free(&nodes[i].disk);
        memset(&nodes[i], 0, sizeof nodes[i]);
    }
    for (size_t k = 0; k < net_n; k++)
        free(net[k].data);
    net_n = 0;
    memset(canon_set, 0, MAX_HEIGHT * sizeof *canon_set);
    memset(node_commit, 0, MAX_HEIGHT * sizeof *node_commit);
    memset(term_leader, 0, MAX_TERMS * sizeof *term_leader);
    canon_max = 0;
    violations = 0;
    trace_n = 0;
    now_tick = 0;
    heal();
}

/* One seed.  Returns the number of violations. */
static uint64_t run_seed(uint64_t seed, uint64_t *committed_out, uint64_t *ticks_out)
{
    reset_world();
    rng_state = seed * 0x2545f4914f6cdd1dULL + 1;
    n_nodes = O.nodes;
    for (uint32_t i = 0; i < O.nodes; i++) {
        uint8_t s[32] = {0};
        memcpy(s, &seed, sizeof seed);
        s[31] = (uint8_t)i;
        crypto_sign_seed_keypair(keys[i], ed_sk[i], s);
        crypto_generichash(secrets[i], 32, s, 32, NULL, 0);
    }
    faults_on = O.faults;
    loss_pm = faults_on ? 20 : 0;
    dup_pm = faults_on ? 10 : 0;
    max_delay = faults_on ? 4 : 1;
    fast_crash_pm = faults_on ? 10 : 0;
    for (uint32_t i = 0; i < O.nodes; i++) {
        nodes[i].skew_num = 8;
        /* Byzantine nodes: the last F, each with one behaviour */
        if (i >= O.nodes - O.byzantine)
            nodes[i].byz = (enum byz)(1 + (i + seed) % 3);
    }
    for (uint32_t i = 0; i < O.nodes; i++)
        if (node_open(i))
            return violations;
    if (O.byzantine)
        trace("byzantine: %u of %u nodes", O.byzantine, O.nodes);

    uint64_t fault_steps = faults_on ? O.steps * 7 / 10 : 0;
    uint64_t heal_height = 0;
    for (now_tick = 1; now_tick <= O.steps && !violations; now_tick++) {
        if (now_tick <= fault_steps)
            inject_faults();
        if (now_tick == fault_steps + 1 && faults_on) {
            /* heal: network clean, clocks even, everyone up */
            heal();
            faults_on = false;
            loss_pm = dup_pm = fast_crash_pm = 0;
            max_delay = 1;
            for (uint32_t i = 0; i < O.nodes; i++) {
                nodes[i].skew_num = 8;
                nodes[i].down_until = 0;
            }
            heal_height = canon_max;
            trace("network heals; honest nodes must commit past %" PRIu64 " within %" PRIu64 " ticks", heal_height,
                  O.steps - fault_steps);
        }
        deliver_due();
        tick_nodes();
        check_invariants();
    }
    /* Liveness: the last 30% of steps ran on a healed network (every node up,
     * no loss, no partition, even clocks); each honest node must have
     * committed a block that nobody had committed when it healed. */
    if (!violations) {
        for (uint32_t i = 0; i < O.nodes; i++) {
            if (nodes[i].byz != HONEST)
                continue;
            if (nodes[i].disk.applied <= heal_height)
                violation("liveness: n%u is at height %" PRIu64 ", not past %" PRIu64 " (committed when the "
                          "network healed), %" PRIu64 " ticks later",
                          i, nodes[i].disk.applied, heal_height, O.steps - fault_steps);
        }
    }
    *committed_out = min_honest_applied();
    *ticks_out = now_tick - 1;
    return violations;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: gridsim --engine raft|pbft --nodes N --seed S --steps K [--byzantine F]\n"
            "               [--seeds A:B] [--faults all|none] [--real-crypto] [--trace N] [--verbose]\n"
            "               [--bug raft-minority-commit|pbft-2f-prepares|forget-vote --expect-violation]\n"
            "Runs the real consensus engines on a simulated network under faults and checks safety\n"
            "after every step and liveness after the network heals.  A violation prints the seed and\n"
            "the tail of the trace and exits 1.  --bug needs the gridsim-bugs build; with\n"
            "--expect-violation it exits 0 when a violation is found within the seeds and 1 if not.\n");
}

int main(int argc, char **argv)
{
    memset(&O, 0, sizeof O);
    O.nodes = 4;
    O.steps = 2000;
    O.faults = 1;
    O.trace_tail = 40;
    int have_engine = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--engine") && v) {
            if (!strcmp(v, "raft"))
                O.engine = CONS_ENGINE_RAFT;
            else if (!strcmp(v, "pbft"))
                O.engine = CONS_ENGINE_PBFT;
            else {
                fprintf(stderr, "gridsim: unknown engine '%s' (raft or pbft)\n", v);
                return 2;
            }
            have_engine = 1;
            i++;
        } else if (!strcmp(a, "--nodes") && v) {
            O.nodes = (uint32_t)strtoul(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--seed") && v) {
            O.seed_lo = O.seed_hi = strtoull(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--seeds") && v) {
            char *colon;
            O.seed_lo = strtoull(v, &colon, 10);
            O.seed_hi = *colon == ':' ? strtoull(colon + 1, NULL, 10) : O.seed_lo;
            i++;
        } else if (!strcmp(a, "--steps") && v) {
            O.steps = strtoull(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--byzantine") && v) {
            O.byzantine = (uint32_t)strtoul(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--faults") && v) {
            O.faults = strcmp(v, "none") != 0;
            i++;
        } else if (!strcmp(a, "--trace") && v) {
            O.trace_tail = (uint32_t)strtoul(v, NULL, 10);
            i++;
        } else if (!strcmp(a, "--bug") && v) {
            if (!strcmp(v, "raft-minority-commit"))
                O.bugs |= CONS_BUG_RAFT_MINORITY_COMMIT;
            else if (!strcmp(v, "pbft-2f-prepares"))
                O.bugs |= CONS_BUG_PBFT_2F_PREPARES;
            else if (!strcmp(v, "forget-vote"))
                O.bugs |= CONS_BUG_FORGET_VOTE;
            else {
                fprintf(stderr, "gridsim: unknown bug '%s'\n", v);
                return 2;
            }
            i++;
        } else if (!strcmp(a, "--expect-violation")) {
            O.expect_violation = 1;
        } else if (!strcmp(a, "--real-crypto")) {
            O.real_crypto = 1;
        } else if (!strcmp(a, "--verbose")) {
            O.verbose = 1;
        } else {
            fprintf(stderr, "gridsim: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!have_engine || O.nodes < 1 || O.nodes > MAX_NODES || O.steps == 0 || O.seed_hi < O.seed_lo) {
        usage(stderr);
        return 2;
    }
    if (O.engine == CONS_ENGINE_PBFT && (O.nodes < 4 || O.byzantine > (O.nodes - 1) / 3)) {
        fprintf(stderr, "gridsim: PBFT needs --nodes >= 4 and --byzantine <= (nodes-1)/3\n");
        return 2;
    }
    if (O.engine == CONS_ENGINE_RAFT && O.byzantine) {
        fprintf(stderr, "gridsim: Raft tolerates crash faults only; --byzantine is for pbft\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    use_real_crypto = O.real_crypto;
    canon = calloc(MAX_HEIGHT, sizeof *canon);
    canon_set = calloc(MAX_HEIGHT, sizeof *canon_set);
    node_commit = calloc(MAX_HEIGHT, sizeof *node_commit);
    term_leader = calloc(MAX_TERMS, sizeof *term_leader);
    const char *ename = O.engine == CONS_ENGINE_RAFT ? "raft" : "pbft";
    uint64_t total_viol = 0, seeds = 0, failed_seed = 0, sum_committed = 0;
    for (uint64_t s = O.seed_lo; s <= O.seed_hi; s++) {
        uint64_t committed = 0, ticks = 0;
        msgs_sent = blocks_committed_total = 0;
        uint64_t v = run_seed(s, &committed, &ticks);
        seeds++;
        sum_committed += committed;
        if (v) {
            fprintf(stderr,
                    "gridsim: engine=%s nodes=%u seed=%" PRIu64 " failed; replay with\n"
                    "  gridsim --engine %s --nodes %u --seed %" PRIu64 " --steps %" PRIu64 " --byzantine %u%s\n"
                    "trace tail:\n",
                    ename, O.nodes, s, ename, O.nodes, s, O.steps, O.byzantine, O.faults ? "" : " --faults none");
            trace_dump(O.trace_tail);
            total_viol += v;
            failed_seed = s;
            if (O.expect_violation) {
                printf("gridsim: found the deliberate bug at seed %" PRIu64 " after %" PRIu64 " seeds\n", s, seeds);
                reset_world();
                return 0;
            }
            break;
        }
        if (!O.faults) {
            /* the textbook count of one block's messages, as a reference:
             * Raft append + ack to each follower; PBFT pre-prepare to each
             * backup, prepares from each backup, commits from everyone */
            uint64_t n = O.nodes;
            uint64_t textbook = O.engine == CONS_ENGINE_RAFT ? 2 * (n - 1) : (n - 1) + (n - 1) * (n - 1) + n * (n - 1);
            printf("engine=%s nodes=%u seed=%" PRIu64 " committed=%" PRIu64 " msgs_per_block=%.1f textbook=%" PRIu64
                   " ratio=%.2f ticks_per_block=%.2f\n",
                   ename, O.nodes, s, committed, committed ? (double)msgs_sent / (double)committed : 0.0, textbook,
                   committed ? (double)msgs_sent / (double)committed / (double)textbook : 0.0,
                   committed ? (double)ticks / (double)committed : 0.0);
        }
    }
    reset_world();
    if (O.expect_violation) {
        printf("gridsim: the deliberate bug was NOT found in seeds %" PRIu64 "..%" PRIu64 "\n", O.seed_lo, O.seed_hi);
        return 1;
    }
    if (total_viol) {
        printf("engine=%s nodes=%u seed=%" PRIu64 " steps=%" PRIu64 " violations=%" PRIu64 "\n", ename, O.nodes,
               failed_seed, O.steps, total_viol);
        return 1;
    }
    if (seeds == 1)
        printf("engine=%s nodes=%u seed=%" PRIu64 " steps=%" PRIu64 " committed=%" PRIu64 " violations=0\n", ename,
               O.nodes, O.seed_lo, O.steps, sum_committed);
    else
        printf("engine=%s nodes=%u seeds=%" PRIu64 "..%" PRIu64 " (%" PRIu64 ") steps=%" PRIu64
               " committed=%.1f (mean) violations=0\n",
               ename, O.nodes, O.seed_lo, O.seed_hi, seeds, O.steps, (double)sum_committed / (double)seeds);
    return 0;
}
