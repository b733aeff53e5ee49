/* node_run.c -- the gridnode event loop: consensus, blocks, sync, gossip. */
#include "node_run.h"

#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "chain_block.h"
#include "chain_crypto.h"
#include "cons.h"
#include "node_mempool.h"
#include "node_msg.h"
#include "node_net.h"
#include "node_rpc.h"
#include "node_store.h"
#if __has_include("mkt_tx.h")
#include "mkt_tx.h"
#define NODE_HAVE_MARKET 1
#endif

#define PEND_MAX        4
#define PEERS_TRACKED   256u
#define SYNC_TIMEOUT_MS 3000u
#define STATUS_MS       500u
#define REGOSSIP_MS     3000u
#define TAG_LOCAL       ((void *)1) /* submitted here (RPC): gossip it */
#define TAG_PEER        ((void *)2) /* gossiped to us: do not gossip again */

struct node {
    struct event_base *base;
    const struct node_config *cfg;
    struct node_run_opts opts;
    struct node_genesis gen;
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES];
    int self; /* validator index, -1: observer */
    uint8_t keys[CONS_NODES_MAX][CONS_KEY_BYTES];
    struct chain chain;
    struct chain_sigcache sigcache;
    struct node_store store;
    struct cons *cons;
    struct cons_config ccfg;
    struct node_mempool *mp;
    struct node_net *net;
    struct node_net_peer peers[CONS_NODES_MAX];
    struct node_rpc *rpc;
    struct event *tick_ev, *status_ev, *gossip_ev, *propose_ev, *sig_int, *sig_term;
    struct pend {
        bool used;
        struct chain_exec_result r;
    } pend[PEND_MAX];
    /* gossip buffer: copies of admitted local transactions */
    uint8_t **g_tx;
    size_t *g_len;
    size_t g_n, g_cap;
    /* sync */
    uint64_t peer_height[PEERS_TRACKED];
    uint64_t sync_deadline_ms;
    uint64_t engine_behind_since_ms;
    uint64_t last_block_ms;
    uint64_t equiv_salt, equivocated;
    int exit_code;
    /* counters for the log */
    uint64_t txs_committed, refused, cons_refused;
    uint64_t status_rounds, regossiped, local_refused;
    struct node_refusal refusals[NODE_REFUSAL_KINDS];
};

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The time a proposer stamps on its block: the wall clock, or the demo's
 * accelerated clock (config clock_accel, clock_start_ms).  The only place
 * the node reads wall time as chain time: followers take block times from
 * the certified header, and execution sees only those. */
static uint64_t block_clock_ms(const struct node *n)
{
    return node_clock_ms(n->cfg, wall_ms());
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gridnode: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void fatal(struct node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fatal(struct node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gridnode: fatal: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    n->exit_code = 1;
    event_base_loopbreak(n->base);
}

/* ---- crypto for the engines: Ed25519 over CHAIN_TAG_VOTE || msg ---- */

static void c_sign(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[CONS_SIG_BYTES])
{
    struct node *n = ctx;
    chain_sign(sig, CHAIN_TAG_VOTE, msg, len, n->sk);
}

static bool c_verify(void *ctx, const uint8_t key[CONS_KEY_BYTES], const uint8_t *msg, size_t len,
                     const uint8_t sig[CONS_SIG_BYTES])
{
    (void)ctx;
    return chain_verify(sig, CHAIN_TAG_VOTE, msg, len, key) == CHAIN_ERR_OK;
}

/* The header hash of gl.Block bytes without decoding the transactions: a
 * canonical Block starts with field 1 (header_bytes).  Execution decodes
 * the whole block strictly later. */
static bool header_hash(const uint8_t *b, size_t len, uint8_t out[CHAIN_HASH_BYTES])
{
    if (len < 2 || b[0] != 0x0a)
        return false;
    uint64_t hl = 0;
    size_t i = 1;
    for (int shift = 0; i < len && shift < 35; shift += 7, i++) {
        hl |= (uint64_t)(b[i] & 0x7f) << shift;
        if (!(b[i] & 0x80)) {
            i++;
            goto have;
        }
    }
    return false;
have:
    if (hl == 0 || hl > CHAIN_HEADER_MAX_BYTES || hl > len - i)
        return false;
    chain_hash(out, CHAIN_TAG_HEADER, b + i, (size_t)hl);
    return true;
}

/* The hash the engines identify a block by.  It must pin down every byte,
 * not only the header: a canonical gl.Block whose transactions match the
 * header's tx_root is fixed by its header, so the header hash is then the
 * block's hash.  Anything else is not a block (false: the engine drops the
 * message).  Without this, bytes with a valid header and a different tail
 * (an equivocating primary appends some) would pass as the certified block
 * and fail to execute only after commit. */
static bool c_block_hash(void *ctx, const uint8_t *block, size_t len, uint8_t out[CONS_HASH_BYTES])
{
    (void)ctx;
    ProtobufCMessage *bm = NULL, *hm = NULL;
    uint8_t(*hashes)[CHAIN_HASH_BYTES] = NULL;
    bool ok = false;
    if (chain_pb_unpack(&gl__block__descriptor, block, len, CHAIN_BLOCK_MAX_BYTES, &bm))
        return false;
    const Gl__Block *b = (const Gl__Block *)bm;
    if (b->n_txs > CHAIN_BLOCK_MAX_TXS ||
        chain_pb_unpack(&gl__block_header__descriptor, b->header_bytes.data, b->header_bytes.len,
                        CHAIN_HEADER_MAX_BYTES, &hm))
        goto out;
    const Gl__BlockHeader *h = (const Gl__BlockHeader *)hm;
    if (h->tx_root.len != CHAIN_HASH_BYTES ||
        !(hashes = malloc((b->n_txs ? b->n_txs : 1) * CHAIN_HASH_BYTES)))
        goto out;
    for (size_t i = 0; i < b->n_txs; i++)
        chain_hash(hashes[i], CHAIN_TAG_TX, b->txs[i].data, b->txs[i].len);
    uint8_t root[CHAIN_HASH_BYTES];
    chain_tx_root(root, (const uint8_t(*)[CHAIN_HASH_BYTES])hashes, b->n_txs);
    if (memcmp(root, h->tx_root.data, CHAIN_HASH_BYTES) != 0)
        goto out;
    chain_hash(out, CHAIN_TAG_HEADER, b->header_bytes.data, b->header_bytes.len);
    ok = true;
out:
    free(hashes);
    if (hm)
        protobuf_c_message_free_unpacked(hm, NULL);
    protobuf_c_message_free_unpacked(bm, NULL);
    return ok;
}

/* ---- sending ---- */

static void send_frame(struct node *n, uint32_t peer, const uint8_t *buf, size_t len)
{
    if (node_net_peer_up(n->net, peer) && node_net_send(n->net, peer, buf, len) &&
        n->opts.verbose > 1)
        logf_("cannot send %zu bytes to peer %u", len, peer); /* the transport logged why */
}

static void send_cons(struct node *n, uint32_t to, const uint8_t *data, size_t len)
{
    static uint8_t alt[CONS_MSG_MAX_BYTES];
    uint8_t junk[256];
    const uint8_t *d = data;
    size_t l = len;
    uint64_t r = randombytes_random();
    if (n->opts.byzantine == NODE_BYZ_GARBAGE && (r & 1)) {
        l = 1 + (r >> 1) % sizeof junk;
        randombytes_buf(junk, l);
        d = junk;
    } else if (n->opts.byzantine == NODE_BYZ_EQUIVOCATE && (r & 1)) {
        size_t al = sizeof alt;
        if (cons_equivocate(n->cons, data, len, ++n->equiv_salt, alt, &al) == CONS_ERR_OK) {
            d = alt;
            l = al;
            if (++n->equivocated % 20 == 1)
                logf_("byzantine: sent %" PRIu64 " equivocating messages", n->equivocated);
        }
    }
    uint8_t *buf;
    size_t blen;
    if (node_msg_encode_cons(d, l, &buf, &blen))
        return;
    send_frame(n, to, buf, blen);
    free(buf);
}

/* ---- pending executions ---- */

static struct pend *pend_find(struct node *n, const uint8_t hash[CHAIN_HASH_BYTES])
{
    for (int i = 0; i < PEND_MAX; i++)
        if (n->pend[i].used && !memcmp(n->pend[i].r.block_hash, hash, CHAIN_HASH_BYTES) &&
            n->pend[i].r.base_height == n->chain.head.height)
            return &n->pend[i];
    return NULL;
}

static struct pend *pend_slot(struct node *n)
{
    int oldest = 0;
    for (int i = 0; i < PEND_MAX; i++) {
        if (!n->pend[i].used)
            return &n->pend[i];
        if (n->pend[i].r.height < n->pend[oldest].r.height)
            oldest = i;
    }
    chain_exec_result_free(&n->pend[oldest].r);
    n->pend[oldest].used = false;
    return &n->pend[oldest];
}

static void pend_clear_upto(struct node *n, uint64_t height)
{
    for (int i = 0; i < PEND_MAX; i++)
        if (n->pend[i].used && n->pend[i].r.height <= height) {
            chain_exec_result_free(&n->pend[i].r);
            n->pend[i].used = false;
        }
}

/* ---- applying committed blocks ---- */

static int stored_hash(struct node *n, uint64_t h, uint8_t out[CHAIN_HASH_BYTES])
{
    MDB_txn *txn;
    const uint8_t *b;
    size_t len;
    if (mdb_txn_begin(n->chain.store.env, NULL, MDB_RDONLY, &txn))
        return CHAIN_ERR_STORE;
    int rc = chain_block_get(&n->chain, txn, h, &b, &len);
    if (rc == CHAIN_ERR_OK && !header_hash(b, len, out))
        rc = CHAIN_ERR_STORE;
    mdb_txn_abort(txn);
    return rc;
}

static void after_commit(struct node *n, const struct chain_exec_result *r)
{
    node_mempool_committed(n->mp, (const uint8_t(*)[CHAIN_HASH_BYTES])r->tx_hashes, r->ntx);
    n->txs_committed += r->ntx;
    n->last_block_ms = mono_ms();
    if (n->opts.verbose || r->ntx)
        if (n->opts.verbose || r->height % 50 == 0) {
            char root[65];
            chain_hex(root, n->chain.head.state_root, CHAIN_HASH_BYTES);
            logf_("committed height %" PRIu64 " txs %zu root %.16s", r->height, r->ntx, root);
        }
    /* committed and durable: only now do clients hear of it (block, clearing, settlement) */
    node_rpc_on_commit(n->rpc, r);
    /* r may be one of the pending executions: it is freed (zeroed) here */
    uint64_t height = r->height;
    pend_clear_upto(n, height);
    if (n->gen.engine == CONS_ENGINE_PBFT && height % 64 == 0 && height > 512)
        if (node_store_prune_log(&n->store, height - 512))
            logf_("cannot prune the consensus log (it only grows)");
}

/* Apply block bytes at head + 1, reusing a pending execution of the same
 * hash.  Errors: any chain_err of execution or commit. */
static int apply_block(struct node *n, const uint8_t *data, size_t len,
                       const uint8_t hash[CHAIN_HASH_BYTES])
{
    struct pend *p = pend_find(n, hash);
    int rc;
    if (p) {
        rc = chain_commit(&n->chain, &p->r);
        if (rc == CHAIN_ERR_OK) {
            after_commit(n, &p->r);
            return CHAIN_ERR_OK;
        }
        chain_exec_result_free(&p->r);
        p->used = false;
        if (rc != CHAIN_ERR_BLOCK_STALE)
            return rc;
    }
    struct chain_exec_result r;
    if ((rc = chain_exec_block(&n->chain, data, len, &r)))
        return rc;
    if (memcmp(r.block_hash, hash, CHAIN_HASH_BYTES)) {
        chain_exec_result_free(&r);
        return CHAIN_ERR_BLOCK_BAD_PREV;
    }
    rc = chain_commit(&n->chain, &r);
    if (rc == CHAIN_ERR_OK)
        after_commit(n, &r);
    chain_exec_result_free(&r);
    return rc;
}

static void apply_committed(struct node *n, const struct cons_commit *cm)
{
    uint64_t h = cm->block.height;
    if (h <= n->chain.head.height) { /* applied already (sync got there first) */
        uint8_t have[CHAIN_HASH_BYTES];
        if (stored_hash(n, h, have) == CHAIN_ERR_OK &&
            memcmp(have, cm->block.hash, CHAIN_HASH_BYTES))
            fatal(n,
                  "the engine committed a block at height %" PRIu64
                  " that differs from the stored one",
                  h);
        return;
    }
    if (h != n->chain.head.height + 1) {
        logf_("engine committed height %" PRIu64 " but the chain is at %" PRIu64
              "; waiting for sync",
              h, n->chain.head.height);
        return;
    }
    int rc = apply_block(n, cm->block.data, cm->block.len, cm->block.hash);
    if (rc)
        fatal(n, "a certified block at height %" PRIu64 " does not apply here: %s (%s)", h,
              chain_err_name(rc), chain_strerror(rc));
}

/* ---- the engine ---- */

static void handle_ready(struct node *n, struct cons_ready *r, int depth);

static bool execute_one(struct node *n, const struct cons_block *b)
{
    if (b->height <= n->chain.head.height) {
        uint8_t have[CHAIN_HASH_BYTES];
        return stored_hash(n, b->height, have) == CHAIN_ERR_OK &&
               !memcmp(have, b->hash, CHAIN_HASH_BYTES);
    }
    if (pend_find(n, b->hash))
        return true;
    struct pend *p = pend_slot(n);
    int rc = chain_exec_block(&n->chain, b->data, b->len, &p->r);
    if (rc) {
        if (n->opts.verbose)
            logf_("block %" PRIu64 " from the proposer does not execute: %s", b->height,
                  chain_err_name(rc));
        return false;
    }
    if (memcmp(p->r.block_hash, b->hash, CHAIN_HASH_BYTES)) {
        chain_exec_result_free(&p->r);
        return false;
    }
    p->used = true;
    node_mempool_mark_verified(n->mp, (const uint8_t(*)[CHAIN_HASH_BYTES])p->r.tx_hashes, p->r.ntx);
    return true;
}

static void handle_ready(struct node *n, struct cons_ready *r, int depth)
{
    int rc = node_store_persist(&n->store, r);
    if (rc) {
        cons_advance(n->cons, r);
        fatal(n, "cannot persist consensus state: %s", chain_strerror(rc));
        return;
    }
    for (size_t i = 0; i < r->n_msgs; i++) {
        const struct cons_out_msg *m = &r->msgs[i];
        if (m->to == CONS_BROADCAST) {
            for (uint32_t j = 0; j < n->gen.nvalidators; j++)
                if ((int)j != n->self)
                    send_cons(n, j, m->data, m->len);
        } else if (m->to < n->gen.nvalidators && (int)m->to != n->self) {
            send_cons(n, m->to, m->data, m->len);
        }
    }
    for (size_t i = 0; i < r->n_committed && !n->exit_code; i++)
        apply_committed(n, &r->committed[i]);
    struct {
        uint64_t h;
        uint8_t hash[CONS_HASH_BYTES];
        bool ok;
    } xs[8];
    size_t nx = r->n_execute < 8 ? r->n_execute : 8;
    for (size_t i = 0; i < nx; i++) {
        xs[i].h = r->execute[i].height;
        memcpy(xs[i].hash, r->execute[i].hash, CONS_HASH_BYTES);
        xs[i].ok = !n->exit_code && execute_one(n, &r->execute[i]);
    }
    cons_advance(n->cons, r);
    for (size_t i = 0; i < nx && depth < 8 && !n->exit_code; i++) {
        struct cons_ready r2;
        (void)cons_executed(n->cons, xs[i].h, xs[i].hash, xs[i].ok, &r2);
        handle_ready(n, &r2, depth + 1);
    }
}

static void schedule_propose(struct node *n, uint64_t delay_ms)
{
    if (event_pending(n->propose_ev, EV_TIMEOUT, NULL))
        return;
    struct timeval tv = {.tv_sec = (time_t)(delay_ms / 1000),
                         .tv_usec = (suseconds_t)(delay_ms % 1000) * 1000};
    event_add(n->propose_ev, &tv);
}

static void maybe_propose(struct node *n)
{
    struct cons_status st;
    if (!n->cons || n->exit_code)
        return;
    cons_status(n->cons, &st);
    if (!st.can_propose || st.next_height != n->chain.head.height + 1)
        return;
    size_t waiting = node_mempool_count(n->mp);
    if (!waiting && (!n->cfg->heartbeat_ms || mono_ms() - n->last_block_ms < n->cfg->heartbeat_ms))
        return;
    /* Batching: with one block in flight, a block of a few transactions costs
     * a whole round; unless a block's worth waits, let the oldest wait up to
     * batch_ms so that the next ones join it. */
    uint64_t age = node_mempool_oldest_age_ms(n->mp);
    if (waiting && waiting < n->cfg->block_max_txs / 4 && age < n->cfg->batch_ms) {
        schedule_propose(n, n->cfg->batch_ms - age);
        return;
    }
    size_t max = n->cfg->block_max_txs;
    const uint8_t **txs = malloc((max ? max : 1) * sizeof *txs);
    size_t *lens = malloc((max ? max : 1) * sizeof *lens);
    if (!txs || !lens)
        goto out;
    size_t k = node_mempool_select(n->mp, max, CHAIN_BLOCK_MAX_BYTES / 2, txs, lens);
    if (!k && waiting &&
        (!n->cfg->heartbeat_ms || mono_ms() - n->last_block_ms < n->cfg->heartbeat_ms))
        goto out; /* only gapped nonces wait */
    uint64_t t = block_clock_ms(n);
    if (t < n->chain.head.time_ms)
        t = n->chain.head.time_ms;
    struct pend *p = pend_slot(n);
    int rc = chain_build_block(&n->chain, t, n->pk, txs, lens, k, &p->r);
    if (rc) {
        logf_("cannot build block %" PRIu64 ": %s", st.next_height, chain_strerror(rc));
        goto out;
    }
    p->used = true;
    struct cons_block b = {.height = p->r.height, .data = p->r.block_bytes, .len = p->r.block_len};
    memcpy(b.hash, p->r.block_hash, CONS_HASH_BYTES);
    struct cons_ready r;
    rc = cons_propose(n->cons, &b, &r);
    if (rc == CONS_ERR_OK) {
        handle_ready(n, &r, 0);
    } else {
        cons_advance(n->cons, &r);
        chain_exec_result_free(&p->r);
        p->used = false;
    }
out:
    free(txs);
    free(lens);
}

static int open_engine(struct node *n)
{
    struct node_store_disk d;
    int rc = node_store_load(&n->store, &d);
    if (rc)
        return rc;
    uint64_t applied = n->chain.head.height;
    if (n->gen.engine == CONS_ENGINE_RAFT) {
        /* Raft's log starts at height 1: applied may not pass its end */
        uint64_t len = d.disk.n_entries ? d.entries[d.disk.n_entries - 1].height : 0;
        if (applied > len)
            applied = len;
    }
    d.disk.applied_height = applied;
    rc = cons_open(&n->cons, &n->ccfg, &d.disk);
    node_store_disk_free(&d);
    if (rc)
        logf_("cannot start the %s engine from its persisted state: %s",
              n->gen.engine == CONS_ENGINE_RAFT ? "raft" : "pbft", cons_strerror(rc));
    return rc;
}

/* ---- sync ---- */

static void send_status(struct node *n, int peer /* -1: everyone */)
{
    uint8_t *buf;
    size_t len;
    if (node_msg_encode_status(n->chain.head.height, n->chain.head.hash, &buf, &len))
        return;
    if (peer < 0)
        node_net_broadcast(n->net, buf, len);
    else
        send_frame(n, (uint32_t)peer, buf, len);
    free(buf);
}

/* How far behind the best peer a node must be before it fetches blocks
 * itself: observers at once; validators leave short gaps to the engine
 * (Raft's leader repairs logs, PBFT fetches recent blocks). */
static uint64_t sync_lag(const struct node *n)
{
    if (n->self < 0)
        return 1;
    return n->gen.engine == CONS_ENGINE_RAFT ? 64 : 16;
}

static void maybe_sync(struct node *n)
{
    uint64_t best = 0;
    uint32_t who = 0;
    for (uint32_t i = 0; i < PEERS_TRACKED; i++)
        if (n->peer_height[i] > best && node_net_peer_up(n->net, i)) {
            best = n->peer_height[i];
            who = i;
        }
    uint64_t head = n->chain.head.height;
    if (best < head + sync_lag(n) || mono_ms() < n->sync_deadline_ms)
        return;
    uint8_t *buf;
    size_t len;
    if (node_msg_encode_get_blocks(head + 1, NODE_MSG_MAX_BLOCKS, &buf, &len))
        return;
    send_frame(n, who, buf, len);
    free(buf);
    n->sync_deadline_ms = mono_ms() + SYNC_TIMEOUT_MS;
    if (n->opts.verbose)
        logf_("sync: asking peer %u for blocks from %" PRIu64 " (it is at %" PRIu64 ")", who,
              head + 1, best);
}

static void serve_blocks(struct node *n, uint32_t peer, uint64_t from, uint32_t max)
{
    struct node_cblock cb[NODE_MSG_MAX_BLOCKS];
    size_t k = 0, bytes = 0;
    MDB_txn *txn;
    if (from > n->chain.head.height || mdb_txn_begin(n->chain.store.env, NULL, MDB_RDONLY, &txn))
        return;
    for (uint64_t h = from; h <= n->chain.head.height && k < max && bytes < NODE_MSG_SYNC_BYTES;
         h++) {
        if (chain_block_get(&n->chain, txn, h, &cb[k].block, &cb[k].len) ||
            node_store_get_cert(&n->store, h, &cb[k].cert))
            break;
        bytes += cb[k].len;
        k++;
    }
    uint8_t *buf;
    size_t len;
    if (k && node_msg_encode_blocks(cb, k, &buf, &len) == CHAIN_ERR_OK) {
        send_frame(n, peer, buf, len);
        free(buf);
    }
    mdb_txn_abort(txn);
}

static void on_blocks(struct node *n, uint32_t peer, const Gl__Blocks *bl)
{
    uint64_t before = n->chain.head.height;
    for (size_t i = 0; i < bl->n_blocks && !n->exit_code; i++) {
        struct cons_cert cert;
        uint8_t hash[CHAIN_HASH_BYTES];
        const Gl__CertifiedBlock *cb = bl->blocks[i];
        if (node_cert_from_pb(cb->cert, &cert))
            return;
        if (cert.height <= n->chain.head.height)
            continue;
        if (cert.height != n->chain.head.height + 1)
            break;
        if (!header_hash(cb->block.data, cb->block.len, hash) ||
            memcmp(hash, cert.hash, CHAIN_HASH_BYTES) ||
            cons_cert_check(n->gen.engine, (uint32_t)n->gen.nvalidators,
                            (const uint8_t(*)[CONS_KEY_BYTES])n->keys, &cert, c_verify,
                            NULL) != CONS_ERR_OK) {
            logf_("sync: peer %u sent block %" PRIu64 " whose certificate does not check; ignored",
                  peer, cert.height);
            break;
        }
        int rc = apply_block(n, cb->block.data, cb->block.len, hash);
        if (rc) {
            logf_("sync: certified block %" PRIu64 " from peer %u does not apply: %s", cert.height,
                  peer, chain_err_name(rc));
            break;
        }
        if ((rc = node_store_put_cert(&n->store, &cert))) {
            fatal(n, "cannot store a certificate: %s", chain_strerror(rc));
            return;
        }
    }
    if (n->chain.head.height > before) {
        if (n->opts.verbose || n->chain.head.height / 64 != before / 64)
            logf_("sync: applied blocks %" PRIu64 "..%" PRIu64 " from peer %u", before + 1,
                  n->chain.head.height, peer);
        n->sync_deadline_ms = 0;
        /* PBFT trusts an application that is ahead only when it opens:
         * restart the engine from its persisted state past the gap */
        if (n->cons && n->gen.engine == CONS_ENGINE_PBFT) {
            struct cons_status st;
            cons_status(n->cons, &st);
            if (st.committed + 1 < n->chain.head.height) {
                cons_close(n->cons);
                n->cons = NULL;
                if (open_engine(n))
                    fatal(n, "cannot restart the engine after sync");
            }
        }
        maybe_sync(n);
    }
}

/* ---- transport callbacks ---- */

static void gossip_add(void *ctx, const uint8_t *tx, size_t len);
static void gossip_flush(struct node *n, int peer);

static void on_frame(void *ctx, uint32_t peer, const uint8_t *buf, size_t len)
{
    struct node *n = ctx;
    struct node_msg m;
    int rc = node_msg_decode(buf, len, &m);
    if (rc) {
        if (n->opts.verbose)
            logf_("peer %u sent a frame that does not decode: %s", peer, chain_err_name(rc));
        return;
    }
    switch (m.kind) {
    case NODE_MSG_CONS:
        if (n->cons && peer < n->gen.nvalidators && !n->exit_code) {
            struct cons_ready r;
            rc = cons_step(n->cons, peer, m.pb->cons.data, m.pb->cons.len, &r);
            if (rc)
                n->cons_refused++;
            if (rc && n->opts.verbose > 1)
                logf_("peer %u: consensus message refused: %s", peer, cons_err_name(rc));
            handle_ready(n, &r, 0);
            maybe_propose(n);
        }
        break;
    case NODE_MSG_TXS:
        for (size_t i = 0; i < m.pb->txs->n_txs; i++) {
            uint8_t h[CHAIN_HASH_BYTES];
            if (node_mempool_submit(n->mp, m.pb->txs->txs[i].data, m.pb->txs->txs[i].len, h,
                                    TAG_PEER))
                n->refused++;
        }
        break;
    case NODE_MSG_STATUS:
        if (peer < PEERS_TRACKED)
            n->peer_height[peer] = m.pb->status->height;
        maybe_sync(n);
        break;
    case NODE_MSG_GET_BLOCKS:
        serve_blocks(n, peer, m.pb->get_blocks->from, m.pb->get_blocks->max);
        break;
    case NODE_MSG_BLOCKS: on_blocks(n, peer, m.pb->blocks); break;
    }
    node_msg_deinit(&m);
}

static void on_peer(void *ctx, uint32_t peer, bool up)
{
    struct node *n = ctx;
    if (n->opts.verbose)
        logf_("peer %u %s", peer, up ? "up" : "down");
    if (up) {
        /* what this peer missed while it was away: everything waiting here */
        send_status(n, (int)peer);
        gossip_flush(n, -1);
        node_mempool_each(n->mp, 0, SIZE_MAX, gossip_add, n);
        gossip_flush(n, (int)peer);
    } else if (peer < PEERS_TRACKED)
        n->peer_height[peer] = 0;
}

/* ---- mempool callbacks ---- */

static int account_nonce(void *ctx, const uint8_t pk[CHAIN_PK_BYTES], uint64_t *nonce)
{
    struct node *n = ctx;
    uint8_t key[CHAIN_KEY_ACCOUNT_BYTES];
    const uint8_t *v;
    size_t vl;
    MDB_txn *txn;
    *nonce = 0;
    chain_key_account(key, pk);
    if (mdb_txn_begin(n->chain.store.env, NULL, MDB_RDONLY, &txn))
        return CHAIN_ERR_STORE;
    int rc = chain_store_get(&n->chain.store, txn, key, sizeof key, &v, &vl);
    if (rc == CHAIN_ERR_OK) {
        struct chain_account a;
        rc = chain_account_decode(v, vl, &a);
        if (rc == CHAIN_ERR_OK)
            *nonce = a.nonce;
    } else if (rc == CHAIN_ERR_NOT_FOUND) {
        rc = CHAIN_ERR_OK;
    }
    mdb_txn_abort(txn);
    return rc;
}

static void gossip_add(void *ctx, const uint8_t *tx, size_t len)
{
    struct node *n = ctx;
    if (n->g_n == n->g_cap) {
        size_t nc = n->g_cap ? 2 * n->g_cap : 256;
        uint8_t **a = realloc(n->g_tx, nc * sizeof *a);
        if (!a)
            return;
        n->g_tx = a;
        size_t *b = realloc(n->g_len, nc * sizeof *b);
        if (!b)
            return;
        n->g_len = b;
        n->g_cap = nc;
    }
    uint8_t *copy = malloc(len);
    if (!copy)
        return;
    memcpy(copy, tx, len);
    n->g_tx[n->g_n] = copy;
    n->g_len[n->g_n++] = len;
    if (n->g_n == 1)
        event_active(n->gossip_ev, 0, 0);
}

static void on_admitted(void *ctx, const uint8_t *tx, size_t len, void *tag)
{
    if (tag == TAG_LOCAL)
        gossip_add(ctx, tx, len);
}

static void on_result(void *ctx, const uint8_t hash[CHAIN_HASH_BYTES], int rc, void *tag)
{
    struct node *n = ctx;
    if (rc) {
        n->refused++;
        for (int i = 0; i < NODE_REFUSAL_KINDS; i++)
            if (n->refusals[i].code == rc || n->refusals[i].count == 0) {
                n->refusals[i].code = rc;
                n->refusals[i].count++;
                break;
            }
        if (tag == TAG_LOCAL && (n->opts.verbose || n->local_refused++ < 20)) {
            char hx[65];
            chain_hex(hx, hash, CHAIN_HASH_BYTES);
            logf_("mempool refused submitted transaction %.16s after verification: %s", hx,
                  node_err_name(rc));
        }
    } else if (n->cons) {
        schedule_propose(n, 0); /* after every verdict of this round is in */
    }
}

/* Send the gossip buffer to peer (or everyone: -1) now. */
static void gossip_flush(struct node *n, int peer)
{
    for (size_t off = 0; off < n->g_n; off += NODE_MSG_MAX_TXS) {
        size_t k = n->g_n - off < NODE_MSG_MAX_TXS ? n->g_n - off : NODE_MSG_MAX_TXS;
        uint8_t *buf;
        size_t len;
        if (node_msg_encode_txs((const uint8_t *const *)n->g_tx + off, n->g_len + off, k, &buf,
                                &len) == 0) {
            if (peer < 0)
                node_net_broadcast(n->net, buf, len);
            else
                send_frame(n, (uint32_t)peer, buf, len);
            free(buf);
        }
    }
    for (size_t i = 0; i < n->g_n; i++)
        free(n->g_tx[i]);
    n->g_n = 0;
}

static void on_gossip(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    gossip_flush(arg, -1);
}

/* ---- timers and signals ---- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct node *n = arg;
    if (n->cons && !n->exit_code) {
        struct cons_ready r;
        cons_tick(n->cons, &r);
        handle_ready(n, &r, 0);
        maybe_propose(n);
    }
}

static void on_propose(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    maybe_propose(arg);
}

static void on_status(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct node *n = arg;
    send_status(n, -1);
    maybe_sync(n);
    /* a frame may have been lost (a peer dropped for a full queue, a link
     * down): transactions waiting long are offered to everyone again */
    if (++n->status_rounds % (REGOSSIP_MS / STATUS_MS) == 0 &&
        node_mempool_each(n->mp, REGOSSIP_MS, NODE_MSG_MAX_TXS, gossip_add, n))
        n->regossiped++;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct node *n = arg;
    logf_("signal %d: stopping", (int)sig);
    event_base_loopbreak(n->base);
}

/* ---- node_rpc's view ---- */

struct node_rpc_view node_run_view_(struct node *n);

/* ---- start and stop ---- */

static int open_chain(struct node *n)
{
    char dir[NODE_PATH_MAX + 16];
    struct chain_store_opts o = {.map_size = (size_t)16 << 30, .no_sync = n->cfg->no_sync};
    if (mkdir(n->cfg->data_dir, 0700) != 0 && errno != EEXIST) {
        logf_("cannot create data_dir %s: %s", n->cfg->data_dir, strerror(errno));
        return NODE_ERR_IO;
    }
    snprintf(dir, sizeof dir, "%s/chain", n->cfg->data_dir);
    int rc = chain_open(&n->chain, dir, &o);
    if (rc)
        return rc;
#ifdef NODE_HAVE_MARKET
    /* the market's transaction types and end-of-block hooks (clearing, settlement) */
    if ((rc = mkt_register(&n->chain.reg))) {
        logf_("cannot register the market's transaction types: %d", rc);
        return rc;
    }
#else
        /* TODO(market): built without market/mkt_tx.h, the chain carries ledger types only. */
#endif
    if ((rc = chain_sigcache_init(&n->sigcache, 1u << 18)))
        return rc;
    n->chain.sigcache = &n->sigcache;
    if (!n->chain.has_head) {
        struct chain_genesis cg;
        struct chain_validator vals[NODE_VALIDATORS_MAX];
        node_genesis_to_chain(&n->gen, &cg, vals);
        if ((rc = chain_genesis(&n->chain, &cg))) {
            logf_("cannot write genesis: %s", chain_strerror(rc));
            return rc;
        }
    } else if (strcmp(n->chain.chain_id, n->gen.chain_id) != 0) {
        logf_("data_dir %s holds chain \"%s\", but the genesis file is for \"%s\"",
              n->cfg->data_dir, n->chain.chain_id, n->gen.chain_id);
        return NODE_ERR_BAD_CONFIG;
    }
    snprintf(dir, sizeof dir, "%s/cons", n->cfg->data_dir);
    return node_store_open(&n->store, dir, n->cfg->no_sync);
}

int node_run(const struct node_config *cfg, const struct node_run_opts *opts)
{
    static struct node N; /* one node per process */
    struct node *n = &N;
    char err[NODE_ERRMSG_BYTES];
    int rc;
    memset(n, 0, sizeof *n);
    n->cfg = cfg;
    n->opts = *opts;
    n->self = -1;
    signal(SIGPIPE, SIG_IGN);
    if (chain_crypto_init()) {
        logf_("libsodium does not initialise");
        return 1;
    }
    if ((rc = node_genesis_load(cfg->genesis_path, &n->gen, err, sizeof err))) {
        logf_("%s", err);
        return 1;
    }
    if ((rc = node_key_read(cfg->key_path, n->pk, n->sk, err, sizeof err))) {
        logf_("%s", err);
        goto done;
    }
    n->self = node_genesis_validator_index(&n->gen, n->pk);
    if (opts->byzantine && (n->self < 0 || n->gen.engine != CONS_ENGINE_PBFT)) {
        logf_("--byzantine needs a PBFT validator");
        rc = 1;
        goto done;
    }
    if (!(n->base = event_base_new())) {
        rc = 1;
        goto done;
    }
    if ((rc = open_chain(n)))
        goto done;
    for (size_t i = 0; i < n->gen.nvalidators; i++)
        memcpy(n->keys[i], n->gen.validators[i].key, CONS_KEY_BYTES);
    if (n->self >= 0) {
        struct cons_config *c = &n->ccfg;
        memset(c, 0, sizeof *c);
        c->engine = n->gen.engine;
        c->self = (uint32_t)n->self;
        c->n = (uint32_t)n->gen.nvalidators;
        memcpy(c->keys, n->keys, sizeof c->keys);
        c->seed = randombytes_random() | ((uint64_t)randombytes_random() << 32);
        c->election_ticks = 10;
        c->heartbeat_ticks = 2;
        c->round_ticks = 40;
        c->round_ticks_max = 320;
        c->checkpoint_interval = 16;
        c->crypto.ctx = n;
        c->crypto.sign = c_sign;
        c->crypto.verify = c_verify;
        c->crypto.block_hash = c_block_hash;
        if ((rc = open_engine(n)))
            goto done;
    }
    struct node_mempool_cfg mc = {
        .reg = &n->chain.reg,
        .chain_id = n->chain.chain_id,
        .sigcache = &n->sigcache,
        .max_txs = cfg->mempool_max_txs,
        .max_bytes = cfg->mempool_max_bytes,
        .threads = cfg->verify_threads,
        .account_nonce = account_nonce,
        .on_admitted = on_admitted,
        .on_result = on_result,
        .ctx = n,
    };
    if ((rc = node_mempool_open(&n->mp, n->base, &mc))) {
        logf_("cannot start the mempool: %s", node_strerror(rc));
        goto done;
    }
    for (size_t i = 0; i < n->gen.nvalidators; i++) {
        memcpy(n->peers[i].key, n->gen.validators[i].key, 32);
        snprintf(n->peers[i].host, sizeof n->peers[i].host, "%s", n->gen.validators[i].host);
        n->peers[i].port = (int)i == n->self ? 0 : n->gen.validators[i].port;
    }
    struct node_net_cfg nc = {
        .chain_id = n->gen.chain_id,
        .listen_host = cfg->p2p_host[0] ? cfg->p2p_host : NULL,
        .listen_port = cfg->p2p_port,
        .peers = n->peers,
        .npeers = n->gen.nvalidators,
        .accept_unknown = true,
        .on_frame = on_frame,
        .on_peer = on_peer,
        .ctx = n,
    };
    memcpy(nc.pk, n->pk, 32);
    memcpy(nc.sk, n->sk, 64);
    if ((rc = node_net_open(&n->net, n->base, &nc))) {
        logf_("cannot start the P2P transport on %s:%u (error %d)", cfg->p2p_host, cfg->p2p_port,
              rc);
        goto done;
    }
    if ((rc = node_rpc_open(&n->rpc, n->base, n, cfg))) /* it said why */
        goto done;
    struct timeval tv = {.tv_sec = cfg->tick_ms / 1000, .tv_usec = (cfg->tick_ms % 1000) * 1000};
    struct timeval sv = {.tv_sec = 0, .tv_usec = STATUS_MS * 1000};
    n->tick_ev = event_new(n->base, -1, EV_PERSIST, on_tick, n);
    n->status_ev = event_new(n->base, -1, EV_PERSIST, on_status, n);
    n->gossip_ev = event_new(n->base, -1, 0, on_gossip, n);
    n->propose_ev = evtimer_new(n->base, on_propose, n);
    n->sig_int = evsignal_new(n->base, SIGINT, on_signal, n);
    n->sig_term = evsignal_new(n->base, SIGTERM, on_signal, n);
    if (!n->tick_ev || !n->status_ev || !n->gossip_ev || !n->propose_ev || !n->sig_int ||
        !n->sig_term || event_add(n->tick_ev, &tv) || event_add(n->status_ev, &sv) ||
        event_add(n->sig_int, NULL) || event_add(n->sig_term, NULL)) {
        rc = 1;
        goto done;
    }
    n->last_block_ms = mono_ms();
    {
        char root[65], key[65];
        chain_hex(root, n->chain.head.state_root, CHAIN_HASH_BYTES);
        chain_hex(key, n->pk, CHAIN_PK_BYTES);
        logf_("chain %s engine %s, %s, height %" PRIu64
              " root %.16s, key %.16s, p2p %s:%u, rpc %s:%u",
              n->gen.chain_id, n->gen.engine == CONS_ENGINE_RAFT ? "raft" : "pbft",
              n->self >= 0 ? "validator" : "observer", n->chain.head.height, root, key,
              cfg->p2p_host, cfg->p2p_port, cfg->rpc_host, node_rpc_port(n->rpc));
        if (cfg->shadow_host[0])
            logf_("shadow-centre API on %s:%u", cfg->shadow_host, node_rpc_shadow_port(n->rpc));
        if (cfg->clock_accel > 1)
            logf_("DEMO CLOCK: block time runs %u times wall time from %" PRIu64
                  " ms (clock_accel, clock_start_ms); for demos and tests only",
                  cfg->clock_accel, cfg->clock_start_ms);
    }
    event_base_dispatch(n->base);
    rc = n->exit_code;
done:
    node_rpc_close(n->rpc);
    node_net_close(n->net);
    node_mempool_close(n->mp);
    if (n->tick_ev)
        event_free(n->tick_ev);
    if (n->status_ev)
        event_free(n->status_ev);
    if (n->gossip_ev)
        event_free(n->gossip_ev);
    if (n->propose_ev)
        event_free(n->propose_ev);
    if (n->sig_int)
        event_free(n->sig_int);
    if (n->sig_term)
        event_free(n->sig_term);
    for (size_t i = 0; i < n->g_n; i++)
        free(n->g_tx[i]);
    free(n->g_tx);
    free(n->g_len);
    pend_clear_upto(n, UINT64_MAX);
    cons_close(n->cons);
    node_store_close(&n->store);
    chain_close(&n->chain);
    chain_sigcache_deinit(&n->sigcache);
    node_genesis_deinit(&n->gen);
    sodium_memzero(n->sk, sizeof n->sk);
    if (n->base)
        event_base_free(n->base);
    return rc ? 1 : 0;
}

/* ---- accessors for node_rpc.c ---- */

struct node_rpc_view node_run_view_(struct node *n)
{
    struct node_rpc_view v = {
        .chain = &n->chain,
        .gen = &n->gen,
        .cfg = n->cfg,
        .pk = n->pk,
        .self = n->self,
        .cons = n->cons,
        .mp = n->mp,
        .net = n->net,
        .store = &n->store,
        .local_tag = TAG_LOCAL,
        .cons_refused = n->cons_refused,
        .txs_committed = n->txs_committed,
        .refusals = n->refusals,
    };
    return v;
}
