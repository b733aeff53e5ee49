/* raft.c -- Raft (Ongaro & Ousterhout, USENIX ATC '14; Ongaro's thesis, 2014) as a
 * sans-IO state machine that orders blocks, one block in flight.
 *
 * Heights are log indexes, from 1 (height 0 is genesis, never in the log).
 * The application proposes on the leader when cons_status() says
 * can_propose: the leader has reported every entry of its log as committed.
 *
 * Election: pre-vote (thesis §9.6) before a real election, so a node that was
 * partitioned away does not raise everyone's term when it returns; a follower
 * that heard from a leader within election_ticks refuses pre-votes and
 * ignores vote requests (thesis §4.2.3), and a leader that has not heard from
 * a majority within election_ticks steps down (check quorum).  Timeouts are
 * drawn from [election_ticks, 2 * election_ticks) with cons_rand.
 *
 * Replication: AppendEntries with log matching and repair (§5.3); commit on a
 * majority of matching logs, counting only entries of the leader's own term
 * (§5.4.2).  Raft Figure 8: a new leader re-stamps every uncommitted entry of
 * its log with its own term (same height, data and hash) and rewrites them to
 * storage, so they commit by the current-term rule without a no-op block.
 *
 * Commit certificates (cons.h): a node signs cons_vote_msg(h, hash) only
 *   (a) when acknowledging an AppendEntries of a leader whose term equals the
 *       entry's term, for entries its log shares with that leader, or
 *   (b) when it knows h is committed (h <= its commit index and its log
 *       matches the leader's up to h).
 * The leader keeps, per entry, the signatures it received in ITS term only
 * (sig_term): (a)-signatures of one term on a majority mean a majority holds
 * the entry of the current term, i.e. committed.  Mixing (a)-signatures of
 * different terms would not (a re-stamped entry exists in several terms), so
 * a partial set is forgotten when the term changes; a complete set (a
 * certificate) is kept for good.  Nodes report (block, cert) in
 * ready.committed in strict height order, only with a certificate: the
 * leader's own, or one received from the leader that passes cons_cert_check.
 *
 * Hard state (persisted, GLRH v1, 29 bytes):
 *   "GLRH" | version u8 (1) | term u64 | vote u32 (0xffffffff: none) | commit u64 | pad u32 (0)
 *
 * Wire format (big-endian; every message):
 *   header  type u8 | sender u32 (== from) | term u64
 *   PREVOTE, VOTE            (term = proposed term) last_index u64 | last_term u64
 *   PREVOTE_RESP, VOTE_RESP  granted u8 (0 or 1)
 *   APPEND    prev_index u64 | prev_term u64 | commit u64 | sig_from u64 |
 *             n u16 (<= 64) | n x (term u64 | hash 32 | len u32 | data) |
 *             k u16 (<= 16) | k x (height u64 | hash 32 | s u8 (1..32) | s x (signer u32 | sig 64))
 *   APPEND_RESP success u8 | index u64 | applied u64 |
 *             s u16 (<= 64) | s x (height u64 | sig 64)
 * index is the last matching height on success, a hint (the follower's last
 * height or prev_index - 1) on failure.  sig_from asks followers to sign the
 * heights from there on that they may sign; applied tells the leader which
 * certificates the follower still needs.  No trailing bytes. */
#include <stdlib.h>

#include "cons_impl.h"

#define RAFT_N CONS_NODES_MAX
#define RAFT_MAX_ENTRIES 64u      /* entries per APPEND */
#define RAFT_MAX_CERTS 16u        /* certificates per APPEND */
#define RAFT_MAX_SIGS 64u         /* signatures per APPEND_RESP */
#define RAFT_BATCH_BYTES (1u << 20)
#define RAFT_BLOCK_MAX_BYTES (CONS_MSG_MAX_BYTES / 2)
#define RAFT_HDR 13u
#define RAFT_HS_MAGIC "GLRH"
#define RAFT_HS_VERSION 1u
#define RAFT_HS_BYTES 29u
#define RAFT_NO_VOTE UINT32_MAX

enum raft_type {
    RAFT_PREVOTE = 1,
    RAFT_PREVOTE_RESP = 2,
    RAFT_VOTE = 3,
    RAFT_VOTE_RESP = 4,
    RAFT_APPEND = 5,
    RAFT_APPEND_RESP = 6,
};

enum raft_role { RAFT_FOLLOWER, RAFT_PRE_CANDIDATE, RAFT_CANDIDATE, RAFT_LEADER };

struct raft_entry {
    uint64_t term;
    uint8_t hash[CONS_HASH_BYTES];
    uint8_t *data;                   /* owned */
    size_t len;
    uint8_t (*sigs)[CONS_SIG_BYTES]; /* owned, n slots indexed by signer; NULL until needed */
    uint32_t sig_mask;               /* signers held in sigs */
    uint64_t sig_term;               /* term the partial set was collected in */
    bool certified;                  /* sig_mask is a certificate: kept for good */
};

struct raft_sig_in {
    uint64_t height;
    const uint8_t *sig;
};

/* A decoded message; pointers borrow the received bytes. */
struct raft_msg {
    uint8_t type;
    uint32_t sender;
    uint64_t term;
    uint64_t last_index, last_term;            /* PREVOTE, VOTE */
    bool granted;                              /* *_RESP */
    uint64_t prev_index, prev_term, commit, sig_from;
    uint32_t n_entries;
    struct cons_entry entries[RAFT_MAX_ENTRIES];
    uint32_t n_certs;
    struct cons_cert certs[RAFT_MAX_CERTS];
    bool success;                              /* APPEND_RESP */
    uint64_t index, applied;
    uint32_t n_sigs;
    struct raft_sig_in sigs[RAFT_MAX_SIGS];
};

struct raft {
    struct cons base; /* first: struct cons * and struct raft * convert */
    uint32_t n, self, quorum;
    enum raft_role role;
    uint64_t term;
    int32_t vote;     /* -1: none */
    int32_t leader;   /* -1: unknown */
    uint64_t commit;  /* Raft's commitIndex */
    uint64_t reported;/* highest height reported in ready.committed (or applied on disk) */
    struct raft_entry *log; /* log[h - 1] is height h */
    uint64_t len, cap;
    uint32_t election_elapsed, election_timeout, heartbeat_elapsed;
    uint32_t votes;   /* pre-votes or votes granted (bitmask, self included) */
    uint32_t active;  /* peers heard from in this check-quorum period (leader) */
    uint64_t next[RAFT_N], match[RAFT_N], peer_applied[RAFT_N];
    uint64_t sent[RAFT_N]; /* highest height sent to a peer in this term: an append is in flight above match */
    /* what the last emitted hard state says */
    uint64_t hs_term, hs_commit;
    int32_t hs_vote;
    /* scratch: encode buffer and the decoded incoming message */
    uint8_t *buf;
    size_t buf_cap;
    struct raft_msg in;
};

static struct raft *R(struct cons *c)
{
    return (struct raft *)c;
}

static bool bug(const struct raft *r, uint32_t which)
{
#ifdef CONS_TEST_BUGS
    return (r->base.cfg.bugs & which) != 0;
#else
    (void)r;
    (void)which;
    return false;
#endif
}

static uint32_t popcount(uint32_t x)
{
    return (uint32_t)__builtin_popcount(x);
}

static struct raft_entry *entry_at(struct raft *r, uint64_t h)
{
    assert(h >= 1 && h <= r->len);
    return &r->log[h - 1];
}

static uint64_t term_at(const struct raft *r, uint64_t h)
{
    assert(h <= r->len);
    return h ? r->log[h - 1].term : 0;
}

static uint64_t last_term(const struct raft *r)
{
    return term_at(r, r->len);
}

/* ---- log ---- */

static void entry_free(struct raft_entry *e)
{
    free(e->data);
    free(e->sigs);
    memset(e, 0, sizeof *e);
}

/* Drop heights >= from. */
static void log_truncate(struct raft *r, uint64_t from)
{
    assert(from >= 1);
    while (r->len >= from) {
        entry_free(&r->log[r->len - 1]);
        r->len--;
    }
}

/* Append a copy of (term, hash, data).  Errors: NOMEM. */
static int log_append(struct raft *r, uint64_t term, const uint8_t hash[CONS_HASH_BYTES],
                      const uint8_t *data, size_t len)
{
    assert(term >= last_term(r));
    if (r->len == r->cap) {
        uint64_t ncap = r->cap ? r->cap * 2 : 64;
        struct raft_entry *nl = realloc(r->log, (size_t)ncap * sizeof *nl);
        if (!nl)
            return CONS_ERR_NOMEM;
        r->log = nl;
        r->cap = ncap;
    }
    struct raft_entry *e = &r->log[r->len];
    memset(e, 0, sizeof *e);
    e->data = malloc(len ? len : 1);
    if (!e->data)
        return CONS_ERR_NOMEM;
    if (len)
        memcpy(e->data, data, len);
    e->len = len;
    e->term = term;
    memcpy(e->hash, hash, CONS_HASH_BYTES);
    r->len++;
    return CONS_ERR_OK;
}

static int ready_entry(struct raft *r, struct cons_ready *out, uint64_t h)
{
    const struct raft_entry *e = entry_at(r, h);
    struct cons_entry ce = {.height = h, .term = e->term, .data = e->data, .len = e->len};
    memcpy(ce.hash, e->hash, CONS_HASH_BYTES);
    return cons_ready_entry(&r->base, out, &ce);
}

static void ready_truncate(struct cons_ready *out, uint64_t from)
{
    assert(from >= 1);
    if (out->truncate_from == 0 || from < out->truncate_from)
        out->truncate_from = from;
}

/* ---- hard state ---- */

static void hs_encode(const struct raft *r, uint8_t out[RAFT_HS_BYTES])
{
    memcpy(out, RAFT_HS_MAGIC, 4);
    out[4] = RAFT_HS_VERSION;
    cons_put64(out + 5, r->term);
    uint32_t v = r->vote < 0 ? RAFT_NO_VOTE : (uint32_t)r->vote;
    if (bug(r, CONS_BUG_FORGET_VOTE))
        v = RAFT_NO_VOTE; /* the deliberate bug: a restart forgets the vote */
    cons_put32(out + 13, v);
    cons_put64(out + 17, r->commit);
    cons_put32(out + 25, 0);
}

/* Strict: exact length, magic, version, vote a validator or none, pad zero.
 * Errors: BAD_STATE. */
static int hs_decode(struct raft *r, const uint8_t *p, size_t len)
{
    if (len != RAFT_HS_BYTES || memcmp(p, RAFT_HS_MAGIC, 4) != 0 || p[4] != RAFT_HS_VERSION)
        return CONS_ERR_BAD_STATE;
    uint32_t v = cons_get32(p + 13);
    if ((v != RAFT_NO_VOTE && v >= r->n) || cons_get32(p + 25) != 0)
        return CONS_ERR_BAD_STATE;
    r->term = cons_get64(p + 5);
    r->vote = v == RAFT_NO_VOTE ? -1 : (int32_t)v;
    r->commit = cons_get64(p + 17);
    return CONS_ERR_OK;
}

/* Every entry point ends here: if term, vote or commit changed, the ready
 * carries the new hard state, which the caller persists before it sends the
 * ready's messages (a vote is durable before the reply that grants it). */
static void hs_sync(struct raft *r, struct cons_ready *out)
{
    if (r->term == r->hs_term && r->vote == r->hs_vote && r->commit == r->hs_commit)
        return;
    uint8_t hs[RAFT_HS_BYTES];
    hs_encode(r, hs);
    cons_ready_hard_state(out, hs, sizeof hs);
    r->hs_term = r->term;
    r->hs_vote = r->vote;
    r->hs_commit = r->commit;
}

/* ---- encoding ---- */

static uint8_t *buf_reserve(struct raft *r, size_t n)
{
    if (n > r->buf_cap) {
        size_t ncap = r->buf_cap ? r->buf_cap : 4096;
        while (ncap < n)
            ncap *= 2;
        uint8_t *nb = realloc(r->buf, ncap);
        if (!nb)
            return NULL;
        r->buf = nb;
        r->buf_cap = ncap;
    }
    return r->buf;
}

static size_t put_hdr(uint8_t *p, const struct raft *r, uint8_t type, uint64_t term)
{
    p[0] = type;
    cons_put32(p + 1, r->self);
    cons_put64(p + 5, term);
    return RAFT_HDR;
}

static int send_vote_req(struct raft *r, struct cons_ready *out, uint8_t type, uint64_t term)
{
    uint8_t m[RAFT_HDR + 16];
    size_t k = put_hdr(m, r, type, term);
    cons_put64(m + k, r->len);
    cons_put64(m + k + 8, last_term(r));
    return cons_ready_msg(&r->base, out, CONS_BROADCAST, m, sizeof m);
}

static int send_vote_resp(struct raft *r, struct cons_ready *out, uint32_t to, uint8_t type, uint64_t term,
                          bool granted)
{
    uint8_t m[RAFT_HDR + 1];
    put_hdr(m, r, type, term);
    m[RAFT_HDR] = granted ? 1 : 0;
    return cons_ready_msg(&r->base, out, to, m, sizeof m);
}

/* Lowest height the leader wants signatures for: the first one it holds no
 * certificate of, at or above the lowest height a follower still needs. */
static uint64_t sig_from(struct raft *r)
{
    uint64_t lo = r->reported + 1;
    for (uint32_t p = 0; p < r->n; p++)
        if (p != r->self && r->peer_applied[p] + 1 < lo)
            lo = r->peer_applied[p] + 1;
    while (lo <= r->len && r->log[lo - 1].certified)
        lo++;
    return lo;
}

static void cert_of(const struct raft *r, uint64_t h, struct cons_cert *cert)
{
    const struct raft_entry *e = &r->log[h - 1];
    memset(cert, 0, sizeof *cert);
    cert->height = h;
    memcpy(cert->hash, e->hash, CONS_HASH_BYTES);
    for (uint32_t s = 0; s < r->n && e->sigs; s++) {
        if (e->sig_mask & (1u << s)) {
            cert->sigs[cert->n_sigs].signer = s;
            memcpy(cert->sigs[cert->n_sigs].sig, e->sigs[s], CONS_SIG_BYTES);
            cert->n_sigs++;
        }
    }
}

/* AppendEntries to peer p from next[p]: entries (bounded by count and
 * bytes), the certificates p lacks that we hold, our commit and sig_from. */
static int send_append(struct raft *r, struct cons_ready *out, uint32_t p, uint64_t want_sigs)
{
    assert(r->role == RAFT_LEADER && p != r->self && p < r->n);
    assert(r->next[p] >= 1 && r->next[p] <= r->len + 1);
    uint64_t prev = r->next[p] - 1;
    uint32_t ne = 0;
    size_t bytes = RAFT_HDR + 32 + 2 + 2;
    for (uint64_t h = r->next[p]; h <= r->len && ne < RAFT_MAX_ENTRIES; h++) {
        size_t eb = 8 + CONS_HASH_BYTES + 4 + r->log[h - 1].len;
        if (ne > 0 && bytes + eb > RAFT_BATCH_BYTES)
            break;
        bytes += eb;
        ne++;
    }
    uint32_t nc = 0;
    for (uint64_t h = r->peer_applied[p] + 1; h <= r->len && nc < RAFT_MAX_CERTS; h++) {
        if (!r->log[h - 1].certified)
            break;
        bytes += 8 + CONS_HASH_BYTES + 1 + (size_t)popcount(r->log[h - 1].sig_mask) * (4 + CONS_SIG_BYTES);
        nc++;
    }
    uint8_t *m = buf_reserve(r, bytes);
    if (!m)
        return CONS_ERR_NOMEM;
    size_t k = put_hdr(m, r, RAFT_APPEND, r->term);
    cons_put64(m + k, prev);
    cons_put64(m + k + 8, term_at(r, prev));
    cons_put64(m + k + 16, r->commit);
    cons_put64(m + k + 24, want_sigs);
    k += 32;
    m[k++] = (uint8_t)(ne >> 8);
    m[k++] = (uint8_t)ne;
    for (uint32_t i = 0; i < ne; i++) {
        const struct raft_entry *e = &r->log[prev + i];
        cons_put64(m + k, e->term);
        memcpy(m + k + 8, e->hash, CONS_HASH_BYTES);
        cons_put32(m + k + 8 + CONS_HASH_BYTES, (uint32_t)e->len);
        k += 8 + CONS_HASH_BYTES + 4;
        if (e->len)
            memcpy(m + k, e->data, e->len);
        k += e->len;
    }
    m[k++] = (uint8_t)(nc >> 8);
    m[k++] = (uint8_t)nc;
    for (uint32_t i = 0; i < nc; i++) {
        struct cons_cert cert;
        cert_of(r, r->peer_applied[p] + 1 + i, &cert);
        cons_put64(m + k, cert.height);
        memcpy(m + k + 8, cert.hash, CONS_HASH_BYTES);
        m[k + 8 + CONS_HASH_BYTES] = (uint8_t)cert.n_sigs;
        k += 8 + CONS_HASH_BYTES + 1;
        for (uint32_t s = 0; s < cert.n_sigs; s++) {
            cons_put32(m + k, cert.sigs[s].signer);
            memcpy(m + k + 4, cert.sigs[s].sig, CONS_SIG_BYTES);
            k += 4 + CONS_SIG_BYTES;
        }
    }
    assert(k == bytes);
    if (r->sent[p] < prev + ne)
        r->sent[p] = prev + ne;
    return cons_ready_msg(&r->base, out, p, m, k);
}

static int broadcast_append(struct raft *r, struct cons_ready *out)
{
    uint64_t want = sig_from(r);
    for (uint32_t p = 0; p < r->n; p++) {
        if (p == r->self)
            continue;
        int rc = send_append(r, out, p, want);
        if (rc)
            return rc;
    }
    return CONS_ERR_OK;
}

/* ---- decoding ---- */

struct rd {
    const uint8_t *p;
    size_t len, off;
};

static bool rd_need(const struct rd *d, size_t n)
{
    return d->len - d->off >= n;
}
static bool rd_u8(struct rd *d, uint8_t *v)
{
    if (!rd_need(d, 1))
        return false;
    *v = d->p[d->off++];
    return true;
}
static bool rd_u16(struct rd *d, uint32_t *v)
{
    if (!rd_need(d, 2))
        return false;
    *v = (uint32_t)d->p[d->off] << 8 | d->p[d->off + 1];
    d->off += 2;
    return true;
}
static bool rd_u32(struct rd *d, uint32_t *v)
{
    if (!rd_need(d, 4))
        return false;
    *v = cons_get32(d->p + d->off);
    d->off += 4;
    return true;
}
static bool rd_u64(struct rd *d, uint64_t *v)
{
    if (!rd_need(d, 8))
        return false;
    *v = cons_get64(d->p + d->off);
    d->off += 8;
    return true;
}
static bool rd_ptr(struct rd *d, size_t n, const uint8_t **v)
{
    if (!rd_need(d, n))
        return false;
    *v = d->p + d->off;
    d->off += n;
    return true;
}
static bool rd_bool(struct rd *d, bool *v)
{
    uint8_t b;
    if (!rd_u8(d, &b) || b > 1)
        return false;
    *v = b == 1;
    return true;
}

/* Decode and check everything that needs no engine state beyond the config:
 * shape, bounds, sender, block hashes, certificates.
 * Errors: MSG_MALFORMED, MSG_BAD_SENDER, MSG_BAD_HASH, MSG_BAD_SIG. */
static int msg_decode(struct raft *r, uint32_t from, const uint8_t *p, size_t len, struct raft_msg *m)
{
    struct rd d = {p, len, 0};
    const uint8_t *hp;
    m->n_entries = m->n_certs = m->n_sigs = 0;
    if (!rd_u8(&d, &m->type) || !rd_u32(&d, &m->sender) || !rd_u64(&d, &m->term))
        return CONS_ERR_MSG_MALFORMED;
    switch (m->type) {
    case RAFT_PREVOTE:
    case RAFT_VOTE:
        if (!rd_u64(&d, &m->last_index) || !rd_u64(&d, &m->last_term) || m->last_term > m->term ||
            (m->last_index == 0) != (m->last_term == 0))
            return CONS_ERR_MSG_MALFORMED;
        break;
    case RAFT_PREVOTE_RESP:
    case RAFT_VOTE_RESP:
        if (!rd_bool(&d, &m->granted))
            return CONS_ERR_MSG_MALFORMED;
        break;
    case RAFT_APPEND: {
        if (!rd_u64(&d, &m->prev_index) || !rd_u64(&d, &m->prev_term) || !rd_u64(&d, &m->commit) ||
            !rd_u64(&d, &m->sig_from) || !rd_u16(&d, &m->n_entries))
            return CONS_ERR_MSG_MALFORMED;
        if (m->n_entries > RAFT_MAX_ENTRIES || m->prev_term > m->term ||
            (m->prev_index == 0) != (m->prev_term == 0) || m->prev_index > UINT64_MAX - RAFT_MAX_ENTRIES)
            return CONS_ERR_MSG_MALFORMED;
        uint64_t t = m->prev_term;
        for (uint32_t i = 0; i < m->n_entries; i++) {
            struct cons_entry *e = &m->entries[i];
            uint32_t dl;
            e->height = m->prev_index + 1 + i;
            if (!rd_u64(&d, &e->term) || !rd_ptr(&d, CONS_HASH_BYTES, &hp) || !rd_u32(&d, &dl))
                return CONS_ERR_MSG_MALFORMED;
            if (e->term < t || e->term > m->term || e->term == 0) /* terms never decrease in a log */
                return CONS_ERR_MSG_MALFORMED;
            if (dl > RAFT_BLOCK_MAX_BYTES)
                return CONS_ERR_MSG_TOO_LARGE;
            if (!rd_ptr(&d, dl, &e->data))
                return CONS_ERR_MSG_MALFORMED;
            t = e->term;
            e->len = dl;
            memcpy(e->hash, hp, CONS_HASH_BYTES);
        }
        if (!rd_u16(&d, &m->n_certs) || m->n_certs > RAFT_MAX_CERTS)
            return CONS_ERR_MSG_MALFORMED;
        for (uint32_t i = 0; i < m->n_certs; i++) {
            struct cons_cert *c = &m->certs[i];
            uint8_t ns;
            if (!rd_u64(&d, &c->height) || !rd_ptr(&d, CONS_HASH_BYTES, &hp) || !rd_u8(&d, &ns) ||
                c->height == 0 || ns > r->n)
                return CONS_ERR_MSG_MALFORMED;
            memcpy(c->hash, hp, CONS_HASH_BYTES);
            c->n_sigs = ns;
            for (uint32_t s = 0; s < ns; s++) {
                if (!rd_u32(&d, &c->sigs[s].signer) || !rd_ptr(&d, CONS_SIG_BYTES, &hp) ||
                    c->sigs[s].signer >= r->n)
                    return CONS_ERR_MSG_MALFORMED;
                memcpy(c->sigs[s].sig, hp, CONS_SIG_BYTES);
            }
        }
        break;
    }
    case RAFT_APPEND_RESP:
        if (!rd_bool(&d, &m->success) || !rd_u64(&d, &m->index) || !rd_u64(&d, &m->applied) ||
            !rd_u16(&d, &m->n_sigs) || m->n_sigs > RAFT_MAX_SIGS)
            return CONS_ERR_MSG_MALFORMED;
        for (uint32_t i = 0; i < m->n_sigs; i++)
            if (!rd_u64(&d, &m->sigs[i].height) || !rd_ptr(&d, CONS_SIG_BYTES, &m->sigs[i].sig) ||
                m->sigs[i].height == 0)
                return CONS_ERR_MSG_MALFORMED;
        break;
    default: return CONS_ERR_MSG_MALFORMED;
    }
    if (d.off != d.len)
        return CONS_ERR_MSG_MALFORMED;
    if (m->sender != from)
        return CONS_ERR_MSG_BAD_SENDER;
    if (m->term == 0)
        return CONS_ERR_MSG_MALFORMED; /* every real term is >= 1 */
    /* block bytes must hash to the claimed hash */
    for (uint32_t i = 0; i < m->n_entries; i++) {
        uint8_t h[CONS_HASH_BYTES];
        const struct cons_entry *e = &m->entries[i];
        if (!r->base.cfg.crypto.block_hash(r->base.cfg.crypto.ctx, e->data, e->len, h) ||
            memcmp(h, e->hash, CONS_HASH_BYTES) != 0)
            return CONS_ERR_MSG_BAD_HASH;
    }
    for (uint32_t i = 0; i < m->n_certs; i++) {
        if (bug(r, CONS_BUG_RAFT_MINORITY_COMMIT))
            break; /* the deliberate bug: followers trust the leader's weak certificates */
        if (cons_cert_check(CONS_ENGINE_RAFT, r->n, (const uint8_t(*)[CONS_KEY_BYTES])r->base.cfg.keys,
                            &m->certs[i], r->base.cfg.crypto.verify, r->base.cfg.crypto.ctx) != CONS_ERR_OK)
            return CONS_ERR_MSG_BAD_SIG;
    }
    return CONS_ERR_OK;
}

/* ---- signatures, certificates, reporting ---- */

static int entry_sigs(struct raft *r, struct raft_entry *e)
{
    if (!e->sigs) {
        e->sigs = calloc(r->n, CONS_SIG_BYTES);
        if (!e->sigs)
            return CONS_ERR_NOMEM;
    }
    return CONS_ERR_OK;
}

/* Leader: record signer's signature on height h, collected in this term. */
static int leader_add_sig(struct raft *r, uint64_t h, uint32_t signer, const uint8_t sig[CONS_SIG_BYTES])
{
    assert(r->role == RAFT_LEADER && signer < r->n);
    struct raft_entry *e = entry_at(r, h);
    if (e->certified)
        return CONS_ERR_OK;
    if (e->sig_term != r->term) {
        e->sig_mask = 0; /* (a)-signatures of another term prove nothing with ours */
        e->sig_term = r->term;
    }
    int rc = entry_sigs(r, e);
    if (rc)
        return rc;
    memcpy(e->sigs[signer], sig, CONS_SIG_BYTES);
    e->sig_mask |= 1u << signer;
    if (popcount(e->sig_mask) >= r->quorum)
        e->certified = true;
    return CONS_ERR_OK;
}

/* May this node sign height h now?  (a) the entry is of the leader's term
 * (leader_term), or (b) h is known committed. */
static bool may_sign(const struct raft *r, uint64_t h, uint64_t leader_term)
{
    return h >= 1 && h <= r->len && (r->log[h - 1].term == leader_term || h <= r->commit);
}

static int leader_self_sign(struct raft *r, uint64_t h)
{
    struct raft_entry *e = entry_at(r, h);
    if (e->certified || (e->sig_term == r->term && (e->sig_mask & (1u << r->self))))
        return CONS_ERR_OK;
    if (!may_sign(r, h, r->term))
        return CONS_ERR_OK;
    uint8_t sig[CONS_SIG_BYTES];
    cons_sign_vote(&r->base, h, e->hash, sig);
    return leader_add_sig(r, h, r->self, sig);
}

/* Report every height after `reported` that has an entry and a certificate,
 * in order.  The leader also needs h <= commit (Raft's rule); under the
 * deliberate bug it reports on commit alone with whatever it holds. */
static int report(struct raft *r, struct cons_ready *out)
{
    while (r->reported < r->len) {
        uint64_t h = r->reported + 1;
        struct raft_entry *e = entry_at(r, h);
        if (r->role == RAFT_LEADER) {
            if (h > r->commit)
                break;
            int rc = leader_self_sign(r, h);
            if (rc)
                return rc;
            if (!e->certified && bug(r, CONS_BUG_RAFT_MINORITY_COMMIT)) {
                if ((rc = entry_sigs(r, e)))
                    return rc;
                e->certified = true;
            }
        }
        if (!e->certified)
            break;
        struct cons_cert cert;
        cert_of(r, h, &cert);
        struct cons_block b = {.height = h, .data = e->data, .len = e->len};
        memcpy(b.hash, e->hash, CONS_HASH_BYTES);
        int rc = cons_ready_commit(&r->base, out, &b, &cert);
        if (rc)
            return rc;
        r->reported = h;
        if (r->commit < h)
            r->commit = h; /* a certificate proves it committed */
    }
    return CONS_ERR_OK;
}

/* Leader: advance commit to the highest height of the current term that a
 * majority (self included) holds (§5.4.2). */
static void leader_commit(struct raft *r)
{
    uint32_t need = r->quorum;
    if (bug(r, CONS_BUG_RAFT_MINORITY_COMMIT))
        need = r->n / 2 ? r->n / 2 : 1; /* the deliberate bug: a minority */
    r->match[r->self] = r->len;
    for (uint64_t h = r->len; h > r->commit; h--) {
        if (term_at(r, h) != r->term)
            break;
        uint32_t have = 0;
        for (uint32_t p = 0; p < r->n; p++)
            have += r->match[p] >= h;
        if (have >= need) {
            r->commit = h;
            break;
        }
    }
}

/* ---- roles ---- */

static void reset_timer(struct raft *r)
{
    uint32_t e = r->base.cfg.election_ticks;
    r->election_elapsed = 0;
    r->election_timeout = e + (uint32_t)cons_rand_below(&r->base, e);
}

static void become_follower(struct raft *r, uint64_t term, int32_t leader)
{
    assert(term >= r->term);
    if (term > r->term) {
        r->term = term;
        r->vote = -1;
    }
    if (r->role != RAFT_FOLLOWER)
        reset_timer(r);
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    r->votes = 0;
}

static int become_leader(struct raft *r, struct cons_ready *out)
{
    assert(r->role == RAFT_CANDIDATE && r->vote == (int32_t)r->self);
    r->role = RAFT_LEADER;
    r->leader = (int32_t)r->self;
    r->heartbeat_elapsed = 0;
    r->election_elapsed = 0;
    r->active = 0;
    for (uint32_t p = 0; p < r->n; p++) {
        r->next[p] = r->len + 1;
        r->match[p] = 0;
        r->sent[p] = 0;
        r->peer_applied[p] = r->reported;
    }
    /* Figure 8: re-stamp the uncommitted suffix with our term so that it
     * commits by the current-term rule; storage rewrites it. */
    if (r->commit < r->len) {
        ready_truncate(out, r->commit + 1);
        for (uint64_t h = r->commit + 1; h <= r->len; h++) {
            r->log[h - 1].term = r->term;
            int rc = ready_entry(r, out, h);
            if (rc)
                return rc;
        }
    }
    for (uint64_t h = r->commit + 1; h <= r->len; h++) {
        int rc = leader_self_sign(r, h);
        if (rc)
            return rc;
    }
    leader_commit(r);
    int rc = report(r, out);
    if (rc)
        return rc;
    return broadcast_append(r, out);
}

static int campaign(struct raft *r, struct cons_ready *out)
{
    r->role = RAFT_CANDIDATE;
    r->term++;
    r->vote = (int32_t)r->self;
    r->leader = -1;
    r->votes = 1u << r->self;
    reset_timer(r);
    if (popcount(r->votes) >= r->quorum)
        return become_leader(r, out);
    return send_vote_req(r, out, RAFT_VOTE, r->term);
}

static int pre_campaign(struct raft *r, struct cons_ready *out)
{
    r->role = RAFT_PRE_CANDIDATE;
    r->leader = -1;
    r->votes = 1u << r->self;
    reset_timer(r);
    if (popcount(r->votes) >= r->quorum)
        return campaign(r, out);
    return send_vote_req(r, out, RAFT_PREVOTE, r->term + 1);
}

/* Thesis §4.2.3: a node that heard from a leader within the minimum election
 * timeout neither grants pre-votes nor lets a vote request depose it. */
static bool in_lease(const struct raft *r)
{
    return r->role == RAFT_LEADER || (r->leader >= 0 && r->election_elapsed < r->base.cfg.election_ticks);
}

static bool up_to_date(const struct raft *r, uint64_t li, uint64_t lt)
{
    return lt > last_term(r) || (lt == last_term(r) && li >= r->len);
}

/* ---- handlers ---- */

static int on_prevote(struct raft *r, uint32_t from, const struct raft_msg *m, struct cons_ready *out)
{
    /* m->term is the term the sender would campaign in; nothing changes here */
    bool grant = m->term > r->term && !in_lease(r) && up_to_date(r, m->last_index, m->last_term);
    return send_vote_resp(r, out, from, RAFT_PREVOTE_RESP, grant ? m->term : r->term, grant);
}

static int on_prevote_resp(struct raft *r, uint32_t from, const struct raft_msg *m, struct cons_ready *out)
{
    if (!m->granted && m->term > r->term) {
        become_follower(r, m->term, -1);
        return CONS_ERR_OK;
    }
    if (r->role != RAFT_PRE_CANDIDATE || !m->granted || m->term != r->term + 1)
        return CONS_ERR_MSG_STALE;
    r->votes |= 1u << from;
    if (popcount(r->votes) >= r->quorum)
        return campaign(r, out);
    return CONS_ERR_OK;
}

static int on_vote(struct raft *r, uint32_t from, const struct raft_msg *m, struct cons_ready *out)
{
    if (m->term < r->term)
        return send_vote_resp(r, out, from, RAFT_VOTE_RESP, r->term, false);
    if (m->term > r->term) {
        if (in_lease(r))
            return CONS_ERR_MSG_STALE; /* a leader is alive: ignore, as if dropped */
        become_follower(r, m->term, -1);
    }
    bool grant = (r->vote < 0 || r->vote == (int32_t)from) && up_to_date(r, m->last_index, m->last_term);
    if (grant) {
        r->vote = (int32_t)from;
        r->election_elapsed = 0;
    }
    return send_vote_resp(r, out, from, RAFT_VOTE_RESP, r->term, grant);
}

static int on_vote_resp(struct raft *r, uint32_t from, const struct raft_msg *m, struct cons_ready *out)
{
    if (m->term > r->term) {
        become_follower(r, m->term, -1);
        return CONS_ERR_OK;
    }
    if (r->role != RAFT_CANDIDATE || m->term != r->term)
        return CONS_ERR_MSG_STALE;
    if (m->granted) {
        r->votes |= 1u << from;
        if (popcount(r->votes) >= r->quorum)
            return become_leader(r, out);
    }
    return CONS_ERR_OK;
}

static int send_append_resp(struct raft *r, struct cons_ready *out, uint32_t to, bool success, uint64_t index,
                            uint64_t leader_term, uint64_t want_from)
{
    uint64_t sig_h[RAFT_MAX_SIGS];
    uint32_t ns = 0;
    if (success) {
        for (uint64_t h = want_from ? want_from : 1; h <= index && ns < RAFT_MAX_SIGS; h++)
            if (may_sign(r, h, leader_term))
                sig_h[ns++] = h;
    }
    size_t bytes = RAFT_HDR + 1 + 8 + 8 + 2 + (size_t)ns * (8 + CONS_SIG_BYTES);
    uint8_t *m = buf_reserve(r, bytes);
    if (!m)
        return CONS_ERR_NOMEM;
    size_t k = put_hdr(m, r, RAFT_APPEND_RESP, r->term);
    m[k++] = success ? 1 : 0;
    cons_put64(m + k, index);
    cons_put64(m + k + 8, r->reported);
    k += 16;
    m[k++] = (uint8_t)(ns >> 8);
    m[k++] = (uint8_t)ns;
    for (uint32_t i = 0; i < ns; i++) {
        cons_put64(m + k, sig_h[i]);
        cons_sign_vote(&r->base, sig_h[i], r->log[sig_h[i] - 1].hash, m + k + 8);
        k += 8 + CONS_SIG_BYTES;
    }
    assert(k == bytes);
    return cons_ready_msg(&r->base, out, to, m, k);
}

static int on_append(struct raft *r, uint32_t from, const struct raft_msg *m, struct cons_ready *out)
{
    if (m->term < r->term) /* a deposed leader: tell it our term */
        return send_append_resp(r, out, from, false, r->len, 0, 0);
    /* Checks before any change: an honest leader never asks us to replace a
     * block we know is committed with another. */
    uint64_t conflict = 0;
    if (m->prev_index <= r->len && term_at(r, m->prev_index) == m->prev_term) {
        for (uint32_t i = 0; i < m->n_entries; i++) {
            const struct cons_entry *e = &m->entries[i];
            if (e->height > r->len)
                break;
            const struct raft_entry *mine = &r->log[e->height - 1];
            if (mine->term == e->term && memcmp(mine->hash, e->hash, CONS_HASH_BYTES) == 0)
                continue;
            if ((e->height <= r->commit || e->height <= r->reported) &&
                memcmp(mine->hash, e->hash, CONS_HASH_BYTES) != 0)
                return CONS_ERR_MSG_STALE;
            conflict = e->height;
            break;
        }
    }
    become_follower(r, m->term, (int32_t)from);
    r->election_elapsed = 0;
    if (m->prev_index > r->len)
        return send_append_resp(r, out, from, false, r->len, 0, 0);
    if (term_at(r, m->prev_index) != m->prev_term)
        return send_append_resp(r, out, from, false, m->prev_index - 1, 0, 0);
    int rc;
    if (conflict) {
        log_truncate(r, conflict);
        ready_truncate(out, conflict);
    }
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct cons_entry *e = &m->entries[i];
        if (e->height <= r->len)
            continue;
        assert(e->height == r->len + 1);
        if ((rc = log_append(r, e->term, e->hash, e->data, e->len)))
            return rc;
        if ((rc = ready_entry(r, out, e->height)))
            return rc;
    }
    uint64_t match = m->prev_index + m->n_entries;
    uint64_t c = m->commit < match ? m->commit : match;
    if (c > r->commit)
        r->commit = c;
    /* certificates for heights whose entry we hold with the same hash */
    for (uint32_t i = 0; i < m->n_certs; i++) {
        const struct cons_cert *cert = &m->certs[i];
        if (cert->height > r->len)
            continue;
        struct raft_entry *e = &r->log[cert->height - 1];
        if (e->certified || memcmp(e->hash, cert->hash, CONS_HASH_BYTES) != 0)
            continue;
        if ((rc = entry_sigs(r, e)))
            return rc;
        e->sig_mask = 0;
        for (uint32_t s = 0; s < cert->n_sigs; s++) {
            memcpy(e->sigs[cert->sigs[s].signer], cert->sigs[s].sig, CONS_SIG_BYTES);
            e->sig_mask |= 1u << cert->sigs[s].signer;
        }
        e->certified = true;
    }
    if ((rc = report(r, out)))
        return rc;
    return send_append_resp(r, out, from, true, match, m->term, m->sig_from);
}

static int on_append_resp(struct raft *r, uint32_t from, const struct raft_msg *m, struct cons_ready *out)
{
    if (m->term > r->term) {
        become_follower(r, m->term, -1);
        return CONS_ERR_OK;
    }
    if (r->role != RAFT_LEADER || m->term != r->term)
        return CONS_ERR_MSG_STALE;
    if (m->success && m->index > r->len)
        return CONS_ERR_MSG_MALFORMED; /* nobody matches more than we have */
    /* verify every signature before counting any */
    for (uint32_t i = 0; i < m->n_sigs; i++) {
        uint64_t h = m->sigs[i].height;
        if (!m->success || h > m->index || !cons_verify_vote(&r->base, from, h, r->log[h - 1].hash, m->sigs[i].sig))
            return CONS_ERR_MSG_BAD_SIG;
    }
    r->active |= 1u << from;
    r->peer_applied[from] = m->applied;
    int rc;
    if (!m->success) {
        uint64_t nx = r->next[from] - 1;
        if (m->index + 1 < nx)
            nx = m->index + 1;
        if (nx < r->match[from] + 1)
            nx = r->match[from] + 1;
        if (nx < 1)
            nx = 1;
        r->next[from] = nx;
        r->sent[from] = r->match[from];
        return send_append(r, out, from, sig_from(r));
    }
    if (m->index > r->match[from])
        r->match[from] = m->index;
    if (r->next[from] < m->index + 1)
        r->next[from] = m->index + 1;
    for (uint32_t i = 0; i < m->n_sigs; i++)
        if ((rc = leader_add_sig(r, m->sigs[i].height, from, m->sigs[i].sig)))
            return rc;
    leader_commit(r);
    if ((rc = report(r, out)))
        return rc;
    /* more to send, and nothing already on its way (a heartbeat's ack must
     * not trigger a second copy of the append that follows it) */
    if (r->match[from] < r->len && r->sent[from] <= r->match[from])
        return send_append(r, out, from, sig_from(r));
    return CONS_ERR_OK;
}

/* ---- ops ---- */

static int raft_step(struct cons *c, uint32_t from, const uint8_t *msg, size_t len, struct cons_ready *out)
{
    struct raft *r = R(c);
    struct raft_msg *m = &r->in;
    int rc = msg_decode(r, from, msg, len, m);
    if (rc)
        return rc;
    switch (m->type) {
    case RAFT_PREVOTE: rc = on_prevote(r, from, m, out); break;
    case RAFT_PREVOTE_RESP: rc = on_prevote_resp(r, from, m, out); break;
    case RAFT_VOTE: rc = on_vote(r, from, m, out); break;
    case RAFT_VOTE_RESP: rc = on_vote_resp(r, from, m, out); break;
    case RAFT_APPEND: rc = on_append(r, from, m, out); break;
    case RAFT_APPEND_RESP: rc = on_append_resp(r, from, m, out); break;
    default: assert(0 && "msg_decode admits known types only"); rc = CONS_ERR_MSG_MALFORMED;
    }
    hs_sync(r, out);
    return rc;
}

static void raft_tick(struct cons *c, struct cons_ready *out)
{
    struct raft *r = R(c);
    int rc = CONS_ERR_OK;
    r->election_elapsed++;
    if (r->role == RAFT_LEADER) {
        if (r->election_elapsed >= r->base.cfg.election_ticks) {
            /* check quorum: step down when a majority has gone quiet */
            r->election_elapsed = 0;
            if (popcount(r->active | 1u << r->self) < r->quorum) {
                become_follower(r, r->term, -1);
                hs_sync(r, out);
                return;
            }
            r->active = 0;
        }
        if (++r->heartbeat_elapsed >= r->base.cfg.heartbeat_ticks) {
            r->heartbeat_elapsed = 0;
            rc = broadcast_append(r, out);
        }
    } else if (r->election_elapsed >= r->election_timeout) {
        rc = pre_campaign(r, out);
    }
    (void)rc; /* NOMEM: the ready is short; the next tick tries again */
    hs_sync(r, out);
}

static int raft_propose(struct cons *c, const struct cons_block *b, struct cons_ready *out)
{
    struct raft *r = R(c);
    if (r->role != RAFT_LEADER)
        return CONS_ERR_NOT_LEADER;
    if (r->reported != r->len)
        return CONS_ERR_BUSY;
    if (b->height != r->len + 1)
        return CONS_ERR_BAD_HEIGHT;
    uint8_t h[CONS_HASH_BYTES];
    if (b->len > RAFT_BLOCK_MAX_BYTES || (!b->data && b->len) ||
        !r->base.cfg.crypto.block_hash(r->base.cfg.crypto.ctx, b->data, b->len, h) ||
        memcmp(h, b->hash, CONS_HASH_BYTES) != 0)
        return CONS_ERR_INVALID_ARG;
    int rc = log_append(r, r->term, b->hash, b->data, b->len);
    if (!rc)
        rc = ready_entry(r, out, r->len);
    if (!rc)
        rc = leader_self_sign(r, r->len);
    if (!rc) {
        leader_commit(r);
        rc = report(r, out);
    }
    if (!rc)
        rc = broadcast_append(r, out);
    r->heartbeat_elapsed = 0;
    hs_sync(r, out);
    return rc;
}

static int raft_executed(struct cons *c, uint64_t height, const uint8_t hash[CONS_HASH_BYTES], bool valid,
                         struct cons_ready *out)
{
    (void)c, (void)height, (void)hash, (void)valid, (void)out;
    return CONS_ERR_OK; /* Raft executes on commit: ready.execute stays empty */
}

static void raft_status(const struct cons *c, struct cons_status *st)
{
    const struct raft *r = (const struct raft *)c;
    st->engine = CONS_ENGINE_RAFT;
    st->term = r->term;
    st->leader = r->leader;
    st->is_leader = r->role == RAFT_LEADER;
    st->committed = r->reported;
    st->next_height = r->len + 1;
    st->can_propose = st->is_leader && r->reported == r->len;
}

static void raft_close(struct cons *c)
{
    struct raft *r = R(c);
    log_truncate(r, 1);
    free(r->log);
    free(r->buf);
    cons_base_deinit(&r->base);
    free(r);
}

static const struct cons_ops raft_ops = {
    .close = raft_close,
    .tick = raft_tick,
    .step = raft_step,
    .propose = raft_propose,
    .executed = raft_executed,
    .status = raft_status,
    .evidence = NULL,
    .equivocate = NULL, /* Raft assumes crash faults */
};

/* Restore: hard state strictly decoded; entries consecutive from height 1
 * with terms that never decrease nor exceed the hard state's term.
 * Errors: INVALID_ARG, BAD_STATE, NOMEM. */
int cons_raft_open(struct cons **out, const struct cons_config *cfg, const struct cons_disk *disk)
{
    *out = NULL;
    if (cfg->election_ticks == 0 || cfg->heartbeat_ticks == 0 || cfg->election_ticks > UINT32_MAX / 2)
        return CONS_ERR_INVALID_ARG;
    struct raft *r = calloc(1, sizeof *r);
    if (!r)
        return CONS_ERR_NOMEM;
    cons_base_init(&r->base, &raft_ops, cfg);
    r->n = cfg->n;
    r->self = cfg->self;
    r->quorum = cons_quorum(CONS_ENGINE_RAFT, cfg->n);
    r->vote = -1;
    r->leader = -1;
    int rc = CONS_ERR_OK;
    if (disk->hard_state_len && (rc = hs_decode(r, disk->hard_state, disk->hard_state_len)))
        goto fail;
    rc = CONS_ERR_BAD_STATE;
    if (!disk->hard_state_len && disk->n_entries)
        goto fail;
    for (size_t i = 0; i < disk->n_entries; i++) {
        const struct cons_entry *e = &disk->entries[i];
        if (e->height != i + 1 || e->term == 0 || e->term < last_term(r) || e->term > r->term ||
            (!e->data && e->len))
            goto fail;
        if ((rc = log_append(r, e->term, e->hash, e->data, e->len)))
            goto fail;
        rc = CONS_ERR_BAD_STATE;
    }
    if (disk->applied_height > r->len || r->commit > r->len)
        goto fail;
    r->reported = disk->applied_height;
    if (r->commit < r->reported)
        r->commit = r->reported;
    r->hs_term = r->term;
    r->hs_vote = r->vote;
    r->hs_commit = r->commit;
    r->role = RAFT_FOLLOWER;
    reset_timer(r);
    *out = &r->base;
    return CONS_ERR_OK;
fail:
    raft_close(&r->base);
    return rc;
}
