/* pbft.c -- Practical Byzantine Fault Tolerance (Castro & Liskov, OSDI '99 and
 * TOCS 2002) as a sans-IO state machine, with one block in flight.
 *
 * n >= 4 validators, f = (n-1)/3, quorum q = cons_quorum(PBFT, n).  Heights
 * are PBFT's sequence numbers; the primary of view v is v mod n.  Because at
 * most one height is in flight, the log of the paper shrinks to: the last
 * committed height with its commit certificate (our "stable" state), the
 * in-flight height's accepted pre-prepare, and the vote sets.
 *
 * Normal case (§4.2): PRE-PREPARE -> execute -> PREPARE -> prepared (the
 * pre-prepare and 2f matching prepares from backups) -> COMMIT carrying the
 * certificate signature cons_sign_vote(h, hash) -> committed on q of them.
 * Executing before the prepare vote makes the certificate cover the state
 * root in the header (DESIGN.md, Consensus).
 *
 * View change (§4.4): on timeout a replica sends VIEW-CHANGE(v+1, C, cert(C),
 * P) where C is its last committed height with the commit certificate that
 * proves it (it plays the role of the paper's stable checkpoint proof) and P
 * its prepared certificate for C+1.  The new primary, with q of them, sends
 * NEW-VIEW(v+1, proof, the block of the highest-view P at maxC+1 or none).
 * Liveness (§4.5.2): a replica joins the smallest view that f+1 others ask
 * for, and starts its view-change timer only once it holds q view-changes
 * for its target view; timeouts double per failed view, capped.
 *
 * Wire format (big-endian):
 *   header   ver u8 (1) | type u8 | from u32 | view u64 | height u64
 *   body     per type (below)
 *   sig      64 bytes by `from` over header || body
 *   attach   u32 len || block bytes (PRE-PREPARE, VIEW-CHANGE, NEW-VIEW,
 *            COMMITTED only): bound to the body through the block hash.
 *   PRE-PREPARE  hash                        + attach(block)
 *   PREPARE      hash
 *   COMMIT       hash | vote_sig 64          (vote_sig over cons_vote_msg)
 *   CHECKPOINT   hash                        (height = checkpoint height)
 *   VIEW-CHANGE  (view = new view, height = C) c_hash | sigs(cert of C) |
 *                has_p u8 [p_view u64 | p_hash | pp_sig 64 | sigs(prepares)]
 *                + attach(the prepared block, may be empty)
 *   NEW-VIEW     (height = maxC+1) n u8 | n x (u32 len | signed VIEW-CHANGE
 *                without attach) | has_pp u8 [hash | pp_sig 64] + attach
 *   FETCH        (height = first wanted height, view = sender's view)
 *   COMMITTED    hash | sigs(cert)           + attach(block)
 *   sigs = n u8 | n x (signer u32 | sig 64)
 * pp_sig is the primary's signature over the PRE-PREPARE's header || hash,
 * so prepared certificates travel without the block.  NEW-VIEW is the one
 * message that may be relayed: its `from` is the primary of its view. */
#include <stdlib.h>

#include "cons_impl.h"

#define PB_VERSION 1u
#define PB_HDR 22u
#define PB_WINDOW 4u         /* vote sets kept for heights next .. next+3 */
#define PB_KEEP 256u         /* committed blocks kept to answer FETCH */
#define PB_PEND 16u          /* committed blocks received ahead of order */
#define PB_LOG_MAX 2048u     /* signed votes kept for evidence */
#define PB_EVIDENCE_MAX 64u
#define PB_FETCH_BATCH 16u
#define PB_FAILS_MAX 30u
#define PB_HS_MAGIC "GLPB"
#define PB_N CONS_NODES_MAX
#define PB_TERM_COMMITTED UINT64_MAX /* entry term of a committed block record */

enum pb_type {
    PB_PRE_PREPARE = 1,
    PB_PREPARE = 2,
    PB_COMMIT = 3,
    PB_CHECKPOINT = 4,
    PB_VIEW_CHANGE = 5,
    PB_NEW_VIEW = 6,
    PB_FETCH = 7,
    PB_COMMITTED = 8,
};

/* ---- engine state ---- */

struct pb_vote { /* a vote this node signed for the in-flight height */
    bool set;
    uint64_t view, height;
    uint8_t hash[CONS_HASH_BYTES];
};

struct pb_pcert { /* prepared certificate: pre-prepare + 2f prepares */
    bool set;
    uint64_t view, height;
    uint8_t hash[CONS_HASH_BYTES];
    uint8_t pp_sig[CONS_SIG_BYTES];
    uint32_t n;
    uint32_t who[PB_N];
    uint8_t sig[PB_N][CONS_SIG_BYTES];
};

struct pb_slot { /* votes seen for one height */
    uint64_t height;
    bool used;
    bool prep[PB_N];
    uint64_t prep_view[PB_N];
    uint8_t prep_hash[PB_N][CONS_HASH_BYTES];
    uint8_t prep_sig[PB_N][CONS_SIG_BYTES];
    bool com[PB_N];
    uint64_t com_view[PB_N];
    uint8_t com_hash[PB_N][CONS_HASH_BYTES];
    uint8_t com_sig[PB_N][CONS_SIG_BYTES];
};

struct pb_blk { /* a committed block (or an accepted pre-prepare) and what proves it */
    bool set;
    uint64_t height, view;
    uint8_t hash[CONS_HASH_BYTES];
    uint8_t pp_sig[CONS_SIG_BYTES];
    uint8_t *data; /* malloc'd */
    size_t len;
    struct cons_cert cert;
};

struct pb_vcrec { /* the newest valid VIEW-CHANGE from one validator */
    bool set;
    uint64_t view, c;
    bool has_p;
    uint64_t p_view;
    uint8_t p_hash[CONS_HASH_BYTES];
    uint8_t *raw; /* signed part || sig, malloc'd */
    size_t raw_len;
    uint8_t *data; /* the prepared block, malloc'd, may be NULL */
    size_t len;
};

struct pb_logrec {
    uint8_t kind; /* 1 prepare, 2 commit */
    uint32_t from;
    uint64_t view, height;
    uint8_t hash[CONS_HASH_BYTES];
    uint8_t sig[CONS_SIG_BYTES];
};

struct pb_flight { /* the accepted pre-prepare for height committed+1 in this view */
    bool have_pp, exec_asked, executed, invalid;
    uint64_t view;
    uint8_t hash[CONS_HASH_BYTES];
    uint8_t pp_sig[CONS_SIG_BYTES];
    uint8_t *data;
    size_t len;
};

struct pbft {
    struct cons base; /* first: the engine is a struct cons */
    uint32_t n, f, q, self;
    int err; /* sticky NOMEM of the current call */
    bool dirty;

    /* persistent (hard state) */
    uint64_t view;
    bool active; /* false while a view change to `view` runs */
    uint32_t fails;
    uint64_t committed;
    bool have_cert;
    struct cons_cert cert;
    struct pb_vote my_prep, my_commit;
    struct pb_blk acc; /* accepted pre-prepare header (data in memory only) */
    uint64_t vc_sent;
    struct pb_pcert P;
    uint8_t *p_data;
    size_t p_len;
    uint64_t stable;
    uint8_t stable_hash[CONS_HASH_BYTES];

    /* volatile */
    uint64_t now, delivered, want, fetch_tick;
    uint32_t timer, age;
    bool timer_on;
    struct pb_flight fl;
    struct pb_slot slots[PB_WINDOW];
    struct pb_blk future; /* one pre-prepare for a later view or height */
    struct pb_blk *store; /* PB_KEEP ring by height */
    struct pb_blk pend[PB_PEND];
    struct pb_vcrec vcs[PB_N];
    uint8_t *nv;
    size_t nv_len;
    uint64_t nv_view;
    uint64_t cp_h[PB_N];
    uint8_t cp_hash[PB_N][CONS_HASH_BYTES];
    struct pb_logrec *log;
    size_t log_n;
    struct cons_evidence ev[PB_EVIDENCE_MAX];
    size_t n_ev;
};

static struct pbft *PB(struct cons *c)
{
    return (struct pbft *)c;
}
static const struct pbft *CPB(const struct cons *c)
{
    return (const struct pbft *)c;
}

static uint32_t primary_of(const struct pbft *p, uint64_t view)
{
    return (uint32_t)(view % p->n);
}

static uint64_t next_height(const struct pbft *p)
{
    return p->committed + 1;
}

/* Matching prepares from backups that make a replica prepared (§4.2). */
static uint32_t prepares_needed(const struct pbft *p)
{
    uint32_t need = 2 * p->f;
#ifdef CONS_TEST_BUGS
    if (p->base.cfg.bugs & CONS_BUG_PBFT_2F_PREPARES)
        need--;
#endif
    return need;
}

static bool forget_votes(const struct pbft *p)
{
#ifdef CONS_TEST_BUGS
    return (p->base.cfg.bugs & CONS_BUG_FORGET_VOTE) != 0;
#else
    (void)p;
    return false;
#endif
}

static uint32_t timeout_ticks(const struct pbft *p)
{
    uint32_t t = p->base.cfg.round_ticks, max = p->base.cfg.round_ticks_max;
    for (uint32_t i = 0; i < p->fails && t < max; i++)
        t = t > max / 2 ? max : t * 2;
    return t < max ? t : max;
}

static uint32_t resend_ticks(const struct pbft *p)
{
    uint32_t r = p->base.cfg.round_ticks / 4;
    return r ? r : 1;
}

static uint8_t *dup_bytes(const uint8_t *b, size_t len)
{
    uint8_t *d = malloc(len ? len : 1);
    if (d && len)
        memcpy(d, b, len);
    return d;
}

static void blk_clear(struct pb_blk *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static void vcrec_clear(struct pb_vcrec *r)
{
    free(r->raw);
    free(r->data);
    memset(r, 0, sizeof *r);
}

static void flight_clear(struct pbft *p)
{
    free(p->fl.data);
    memset(&p->fl, 0, sizeof p->fl);
    p->age = 0;
}

static void pcert_clear(struct pbft *p)
{
    free(p->p_data);
    p->p_data = NULL;
    p->p_len = 0;
    memset(&p->P, 0, sizeof p->P);
}

/* ---- codec ---- */

struct rd {
    const uint8_t *p;
    size_t n, off;
    bool bad;
};

static const uint8_t *rd_take(struct rd *r, size_t k)
{
    if (r->bad || r->n - r->off < k) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *q = r->p + r->off;
    r->off += k;
    return q;
}
static uint8_t rd_u8(struct rd *r)
{
    const uint8_t *q = rd_take(r, 1);
    return q ? q[0] : 0;
}
static uint32_t rd_u32(struct rd *r)
{
    const uint8_t *q = rd_take(r, 4);
    return q ? cons_get32(q) : 0;
}
static uint64_t rd_u64(struct rd *r)
{
    const uint8_t *q = rd_take(r, 8);
    return q ? cons_get64(q) : 0;
}

struct wr {
    uint8_t *p;
    size_t cap, len;
};
static void wr_bytes(struct wr *w, const void *b, size_t k)
{
    assert(w->len + k <= w->cap);
    if (k)
        memcpy(w->p + w->len, b, k);
    w->len += k;
}
static void wr_u8(struct wr *w, uint8_t v)
{
    wr_bytes(w, &v, 1);
}
static void wr_u32(struct wr *w, uint32_t v)
{
    uint8_t b[4];
    cons_put32(b, v);
    wr_bytes(w, b, 4);
}
static void wr_u64(struct wr *w, uint64_t v)
{
    uint8_t b[8];
    cons_put64(b, v);
    wr_bytes(w, b, 8);
}
static void wr_hdr(struct wr *w, uint8_t type, uint32_t from, uint64_t view, uint64_t height)
{
    wr_u8(w, PB_VERSION);
    wr_u8(w, type);
    wr_u32(w, from);
    wr_u64(w, view);
    wr_u64(w, height);
}

/* Signature lists, pointing into the message. */
struct pb_sigs {
    uint32_t n;
    uint32_t who[PB_N];
    const uint8_t *sig[PB_N];
};

static void rd_sigs(struct rd *r, uint32_t nvals, struct pb_sigs *s)
{
    s->n = rd_u8(r);
    if (s->n > nvals) {
        r->bad = true;
        s->n = 0;
        return;
    }
    for (uint32_t i = 0; i < s->n; i++) {
        s->who[i] = rd_u32(r);
        s->sig[i] = rd_take(r, CONS_SIG_BYTES);
        if (r->bad || s->who[i] >= nvals) {
            r->bad = true;
            s->n = 0;
            return;
        }
    }
}

struct pb_vc {
    uint32_t from;
    uint64_t view, c;
    const uint8_t *c_hash;
    struct pb_sigs cert;
    bool has_p;
    uint64_t p_view;
    const uint8_t *p_hash, *pp_sig;
    struct pb_sigs prep;
    const uint8_t *raw; /* signed part || sig */
    size_t signed_len, raw_len;
    const uint8_t *sig;
    const uint8_t *data;
    size_t len;
};

struct pb_msg {
    uint8_t type;
    uint32_t from;
    uint64_t view, height;
    const uint8_t *hash, *vote_sig, *pp_sig;
    struct pb_sigs sigs;
    struct pb_vc vc;
    uint32_t n_vc;
    const uint8_t *vc_raw[PB_N];
    size_t vc_len[PB_N];
    bool has_pp;
    const uint8_t *sig;
    size_t signed_len;
    const uint8_t *data;
    size_t len;
};

static void rd_attach(struct rd *r, const uint8_t **data, size_t *len)
{
    uint32_t l = rd_u32(r);
    *data = rd_take(r, l);
    *len = r->bad ? 0 : l;
}

/* Body of a VIEW-CHANGE after its header.  attach: whether it carries a block. */
static void rd_vc_body(struct rd *r, uint32_t nvals, struct pb_vc *vc, bool attach)
{
    vc->c_hash = rd_take(r, CONS_HASH_BYTES);
    rd_sigs(r, nvals, &vc->cert);
    uint8_t hp = rd_u8(r);
    if (hp > 1)
        r->bad = true;
    vc->has_p = hp == 1;
    if (vc->has_p) {
        vc->p_view = rd_u64(r);
        vc->p_hash = rd_take(r, CONS_HASH_BYTES);
        vc->pp_sig = rd_take(r, CONS_SIG_BYTES);
        rd_sigs(r, nvals, &vc->prep);
    }
    vc->signed_len = r->off;
    vc->sig = rd_take(r, CONS_SIG_BYTES);
    vc->raw_len = r->off;
    vc->data = NULL;
    vc->len = 0;
    if (attach)
        rd_attach(r, &vc->data, &vc->len);
    if (!r->bad && vc->c == 0 && vc->cert.n != 0)
        r->bad = true;
}

/* A standalone VIEW-CHANGE (header included). */
static int parse_vc(const uint8_t *b, size_t len, uint32_t nvals, struct pb_vc *vc, bool attach)
{
    struct rd r = {b, len, 0, false};
    memset(vc, 0, sizeof *vc);
    vc->raw = b;
    if (rd_u8(&r) != PB_VERSION || rd_u8(&r) != PB_VIEW_CHANGE)
        return CONS_ERR_MSG_MALFORMED;
    vc->from = rd_u32(&r);
    vc->view = rd_u64(&r);
    vc->c = rd_u64(&r);
    rd_vc_body(&r, nvals, vc, attach);
    if (r.bad || r.off != len)
        return CONS_ERR_MSG_MALFORMED;
    if (vc->from >= nvals)
        return CONS_ERR_MSG_BAD_SENDER;
    return CONS_ERR_OK;
}

/* Strict decoding: every byte accounted for, every count bounded by n. */
static int parse_msg(const uint8_t *b, size_t len, uint32_t nvals, struct pb_msg *m)
{
    struct rd r = {b, len, 0, false};
    memset(m, 0, sizeof *m);
    if (len < PB_HDR || b[0] != PB_VERSION)
        return CONS_ERR_MSG_MALFORMED;
    rd_u8(&r);
    m->type = rd_u8(&r);
    m->from = rd_u32(&r);
    m->view = rd_u64(&r);
    m->height = rd_u64(&r);
    switch (m->type) {
    case PB_PRE_PREPARE:
    case PB_PREPARE:
    case PB_CHECKPOINT: m->hash = rd_take(&r, CONS_HASH_BYTES); break;
    case PB_COMMIT:
        m->hash = rd_take(&r, CONS_HASH_BYTES);
        m->vote_sig = rd_take(&r, CONS_SIG_BYTES);
        break;
    case PB_VIEW_CHANGE: {
        m->vc.from = m->from;
        m->vc.view = m->view;
        m->vc.c = m->height;
        m->vc.raw = b;
        rd_vc_body(&r, nvals, &m->vc, true);
        m->signed_len = m->vc.signed_len;
        m->sig = m->vc.sig;
        m->data = m->vc.data;
        m->len = m->vc.len;
        break;
    }
    case PB_NEW_VIEW: {
        m->n_vc = rd_u8(&r);
        if (m->n_vc > nvals)
            r.bad = true;
        for (uint32_t i = 0; i < m->n_vc && !r.bad; i++) {
            uint32_t l = rd_u32(&r);
            m->vc_raw[i] = rd_take(&r, l);
            m->vc_len[i] = l;
        }
        uint8_t hp = rd_u8(&r);
        if (hp > 1)
            r.bad = true;
        m->has_pp = hp == 1;
        if (m->has_pp) {
            m->hash = rd_take(&r, CONS_HASH_BYTES);
            m->pp_sig = rd_take(&r, CONS_SIG_BYTES);
        }
        break;
    }
    case PB_FETCH: break;
    case PB_COMMITTED:
        m->hash = rd_take(&r, CONS_HASH_BYTES);
        rd_sigs(&r, nvals, &m->sigs);
        break;
    default: return CONS_ERR_MSG_MALFORMED;
    }
    if (m->type != PB_VIEW_CHANGE) {
        m->signed_len = r.off;
        m->sig = rd_take(&r, CONS_SIG_BYTES);
        if (m->type == PB_PRE_PREPARE || m->type == PB_NEW_VIEW || m->type == PB_COMMITTED)
            rd_attach(&r, &m->data, &m->len);
    }
    if (r.bad || r.off != len)
        return CONS_ERR_MSG_MALFORMED;
    if (m->type == PB_PRE_PREPARE && m->len == 0)
        return CONS_ERR_MSG_MALFORMED;
    if (m->type == PB_NEW_VIEW && !m->has_pp && m->len != 0)
        return CONS_ERR_MSG_MALFORMED;
    if (m->from >= nvals)
        return CONS_ERR_MSG_BAD_SENDER;
    return CONS_ERR_OK;
}

/* ---- crypto helpers ---- */

static void sign_bytes(struct pbft *p, const uint8_t *b, size_t len, uint8_t sig[CONS_SIG_BYTES])
{
    p->base.cfg.crypto.sign(p->base.cfg.crypto.ctx, b, len, sig);
}

static bool verify_bytes(const struct pbft *p, uint32_t who, const uint8_t *b, size_t len,
                         const uint8_t *sig)
{
    assert(who < p->n);
    return p->base.cfg.crypto.verify(p->base.cfg.crypto.ctx, p->base.cfg.keys[who], b, len, sig);
}

static bool hash_block(const struct pbft *p, const uint8_t *data, size_t len, uint8_t out[CONS_HASH_BYTES])
{
    return p->base.cfg.crypto.block_hash(p->base.cfg.crypto.ctx, data, len, out);
}

/* header || hash: what a PRE-PREPARE's pp_sig and a PREPARE's sig cover. */
static void vote_bytes(uint8_t out[PB_HDR + CONS_HASH_BYTES], uint8_t type, uint32_t from, uint64_t view,
                       uint64_t height, const uint8_t hash[CONS_HASH_BYTES])
{
    struct wr w = {out, PB_HDR + CONS_HASH_BYTES, 0};
    wr_hdr(&w, type, from, view, height);
    wr_bytes(&w, hash, CONS_HASH_BYTES);
}

static bool verify_vote_bytes(const struct pbft *p, uint8_t type, uint32_t from, uint64_t view,
                              uint64_t height, const uint8_t *hash, const uint8_t *sig)
{
    uint8_t b[PB_HDR + CONS_HASH_BYTES];
    vote_bytes(b, type, from, view, height, hash);
    return verify_bytes(p, from, b, sizeof b, sig);
}

static void sign_vote_bytes(struct pbft *p, uint8_t type, uint64_t view, uint64_t height,
                            const uint8_t hash[CONS_HASH_BYTES], uint8_t sig[CONS_SIG_BYTES])
{
    uint8_t b[PB_HDR + CONS_HASH_BYTES];
    vote_bytes(b, type, p->self, view, height, hash);
    sign_bytes(p, b, sizeof b, sig);
}

static void sigs_to_cert(const struct pb_sigs *s, uint64_t height, const uint8_t *hash, struct cons_cert *cert)
{
    memset(cert, 0, sizeof *cert);
    cert->height = height;
    memcpy(cert->hash, hash, CONS_HASH_BYTES);
    cert->n_sigs = s->n;
    for (uint32_t i = 0; i < s->n; i++) {
        cert->sigs[i].signer = s->who[i];
        memcpy(cert->sigs[i].sig, s->sig[i], CONS_SIG_BYTES);
    }
}

static bool cert_ok(const struct pbft *p, const struct cons_cert *cert)
{
    return cons_cert_check(CONS_ENGINE_PBFT, p->n, (const uint8_t(*)[CONS_KEY_BYTES])p->base.cfg.keys, cert,
                           p->base.cfg.crypto.verify, p->base.cfg.crypto.ctx) == CONS_ERR_OK;
}

/* A VIEW-CHANGE proves what it claims: its signature, the certificate of its
 * committed height and its prepared certificate for the next one. */
static int verify_vc(const struct pbft *p, const struct pb_vc *vc)
{
    if (!verify_bytes(p, vc->from, vc->raw, vc->signed_len, vc->sig))
        return CONS_ERR_MSG_BAD_SIG;
    if (vc->c > 0) {
        struct cons_cert cert;
        sigs_to_cert(&vc->cert, vc->c, vc->c_hash, &cert);
        if (!cert_ok(p, &cert))
            return CONS_ERR_MSG_BAD_SIG;
    }
    if (vc->has_p) {
        uint64_t h = vc->c + 1;
        uint32_t prim = primary_of(p, vc->p_view);
        bool seen[PB_N] = {false};
        if (vc->p_view >= vc->view || vc->prep.n < prepares_needed(p))
            return CONS_ERR_MSG_MALFORMED;
        if (!verify_vote_bytes(p, PB_PRE_PREPARE, prim, vc->p_view, h, vc->p_hash, vc->pp_sig))
            return CONS_ERR_MSG_BAD_SIG;
        for (uint32_t i = 0; i < vc->prep.n; i++) {
            uint32_t w = vc->prep.who[i];
            if (w == prim || seen[w])
                return CONS_ERR_MSG_MALFORMED;
            seen[w] = true;
            if (!verify_vote_bytes(p, PB_PREPARE, w, vc->p_view, h, vc->p_hash, vc->prep.sig[i]))
                return CONS_ERR_MSG_BAD_SIG;
        }
        if (vc->len) {
            uint8_t hh[CONS_HASH_BYTES];
            if (!hash_block(p, vc->data, vc->len, hh) || memcmp(hh, vc->p_hash, CONS_HASH_BYTES))
                return CONS_ERR_MSG_BAD_HASH;
        }
    } else if (vc->len) {
        return CONS_ERR_MSG_MALFORMED;
    }
    return CONS_ERR_OK;
}

/* ---- ready helpers ---- */

static void note(struct pbft *p, int rc)
{
    if (rc && !p->err)
        p->err = rc;
}

static struct wr wr_new(struct pbft *p, size_t cap)
{
    struct wr w = {cons_alloc(&p->base, cap), cap, 0};
    if (!w.p) {
        note(p, CONS_ERR_NOMEM);
        w.cap = 0;
    }
    return w;
}

/* Sign what was written so far (header || body) and append the signature. */
static void wr_sign(struct pbft *p, struct wr *w)
{
    uint8_t sig[CONS_SIG_BYTES];
    sign_bytes(p, w->p, w->len, sig);
    wr_bytes(w, sig, CONS_SIG_BYTES);
}

static void out_msg(struct pbft *p, struct cons_ready *out, uint32_t to, const uint8_t *b, size_t len)
{
    if (b)
        note(p, cons_ready_msg(&p->base, out, to, b, len));
}

static void wr_cert(struct wr *w, const struct cons_cert *cert, uint32_t max)
{
    uint32_t k = cert->n_sigs < max ? cert->n_sigs : max;
    wr_u8(w, (uint8_t)k);
    for (uint32_t i = 0; i < k; i++) {
        wr_u32(w, cert->sigs[i].signer);
        wr_bytes(w, cert->sigs[i].sig, CONS_SIG_BYTES);
    }
}

#define PB_SIGS_MAX (1u + PB_N * (4u + CONS_SIG_BYTES))
#define PB_VC_MAX                                                                               \
    (PB_HDR + CONS_HASH_BYTES + PB_SIGS_MAX + 1u + 8u + CONS_HASH_BYTES + CONS_SIG_BYTES + PB_SIGS_MAX + \
     CONS_SIG_BYTES)

static void send_vote(struct pbft *p, struct cons_ready *out, uint8_t type, uint64_t view, uint64_t height,
                      const uint8_t hash[CONS_HASH_BYTES], const uint8_t *vote_sig, uint32_t to)
{
    struct wr w = wr_new(p, PB_HDR + CONS_HASH_BYTES + 2 * CONS_SIG_BYTES);
    if (!w.p)
        return;
    wr_hdr(&w, type, p->self, view, height);
    wr_bytes(&w, hash, CONS_HASH_BYTES);
    if (vote_sig)
        wr_bytes(&w, vote_sig, CONS_SIG_BYTES);
    wr_sign(p, &w);
    out_msg(p, out, to, w.p, w.len);
}

static void send_pre_prepare(struct pbft *p, struct cons_ready *out, uint32_t to)
{
    assert(p->fl.have_pp && primary_of(p, p->fl.view) == p->self);
    struct wr w = wr_new(p, PB_HDR + CONS_HASH_BYTES + CONS_SIG_BYTES + 4 + p->fl.len);
    if (!w.p)
        return;
    wr_hdr(&w, PB_PRE_PREPARE, p->self, p->fl.view, next_height(p));
    wr_bytes(&w, p->fl.hash, CONS_HASH_BYTES);
    wr_bytes(&w, p->fl.pp_sig, CONS_SIG_BYTES); /* pp_sig covers exactly header || hash */
    wr_u32(&w, (uint32_t)p->fl.len);
    wr_bytes(&w, p->fl.data, p->fl.len);
    out_msg(p, out, to, w.p, w.len);
}

static void send_fetch(struct pbft *p, struct cons_ready *out, uint32_t to)
{
    if (to == p->self || to >= p->n)
        to = (uint32_t)((p->self + 1 + cons_rand_below(&p->base, p->n - 1)) % p->n);
    struct wr w = wr_new(p, PB_HDR + CONS_SIG_BYTES);
    if (!w.p)
        return;
    wr_hdr(&w, PB_FETCH, p->self, p->view, p->delivered + 1);
    wr_sign(p, &w);
    out_msg(p, out, to, w.p, w.len);
}

/* Note that a height above ours exists; ask `from` for what we miss. */
static void lagging(struct pbft *p, struct cons_ready *out, uint64_t height, uint32_t from)
{
    if (height > p->want)
        p->want = height;
    if (p->fetch_tick != p->now + 1) { /* at most one FETCH per tick */
        p->fetch_tick = p->now + 1;
        send_fetch(p, out, from);
    }
}

static struct pb_slot *slot_for(struct pbft *p, uint64_t height)
{
    struct pb_slot *s = &p->slots[height % PB_WINDOW];
    if (!s->used || s->height != height) {
        memset(s, 0, sizeof *s);
        s->used = true;
        s->height = height;
    }
    return s;
}

/* ---- hard state ---- */

static void wr_vote(struct wr *w, const struct pb_vote *v, bool keep)
{
    wr_u8(w, (uint8_t)(keep && v->set));
    if (keep && v->set) {
        wr_u64(w, v->view);
        wr_u64(w, v->height);
        wr_bytes(w, v->hash, CONS_HASH_BYTES);
    }
}

static size_t hs_encode(const struct pbft *p, uint8_t *buf, size_t cap)
{
    struct wr w = {buf, cap, 0};
    bool keep = !forget_votes(p); /* CONS_BUG_FORGET_VOTE leaves the signed votes out */
    wr_bytes(&w, PB_HS_MAGIC, 4);
    wr_u8(&w, PB_VERSION);
    wr_u64(&w, p->view);
    wr_u8(&w, (uint8_t)p->active);
    wr_u32(&w, p->fails);
    wr_u64(&w, p->committed);
    wr_u8(&w, (uint8_t)p->have_cert);
    if (p->have_cert) {
        wr_bytes(&w, p->cert.hash, CONS_HASH_BYTES);
        wr_cert(&w, &p->cert, p->q);
    }
    wr_vote(&w, &p->my_prep, keep);
    wr_vote(&w, &p->my_commit, keep);
    wr_u8(&w, (uint8_t)(keep && p->acc.set));
    if (keep && p->acc.set) {
        wr_u64(&w, p->acc.view);
        wr_u64(&w, p->acc.height);
        wr_bytes(&w, p->acc.hash, CONS_HASH_BYTES);
        wr_bytes(&w, p->acc.pp_sig, CONS_SIG_BYTES);
    }
    wr_u64(&w, p->vc_sent);
    wr_u8(&w, (uint8_t)(keep && p->P.set));
    if (keep && p->P.set) {
        uint32_t k = p->P.n < 2 * p->f ? p->P.n : 2 * p->f;
        wr_u64(&w, p->P.view);
        wr_u64(&w, p->P.height);
        wr_bytes(&w, p->P.hash, CONS_HASH_BYTES);
        wr_bytes(&w, p->P.pp_sig, CONS_SIG_BYTES);
        wr_u8(&w, (uint8_t)k);
        for (uint32_t i = 0; i < k; i++) {
            wr_u32(&w, p->P.who[i]);
            wr_bytes(&w, p->P.sig[i], CONS_SIG_BYTES);
        }
    }
    wr_u64(&w, p->stable);
    wr_bytes(&w, p->stable_hash, CONS_HASH_BYTES);
    return w.len;
}

static void hs_emit(struct pbft *p, struct cons_ready *out)
{
    uint8_t buf[CONS_HARD_STATE_MAX_BYTES];
    if (!p->dirty)
        return;
    size_t len = hs_encode(p, buf, sizeof buf);
    cons_ready_hard_state(out, buf, len);
    p->dirty = false;
}

static bool rd_vote(struct rd *r, struct pb_vote *v)
{
    uint8_t set = rd_u8(r);
    memset(v, 0, sizeof *v);
    if (set > 1)
        return false;
    if (set) {
        const uint8_t *h;
        v->set = true;
        v->view = rd_u64(r);
        v->height = rd_u64(r);
        if ((h = rd_take(r, CONS_HASH_BYTES)))
            memcpy(v->hash, h, CONS_HASH_BYTES);
    }
    return !r->bad;
}

/* Decode a hard state strictly.  Errors: BAD_STATE. */
static int hs_decode(struct pbft *p, const uint8_t *b, size_t len)
{
    struct rd r = {b, len, 0, false};
    const uint8_t *m = rd_take(&r, 4), *h;
    uint8_t u;
    if (!m || memcmp(m, PB_HS_MAGIC, 4) || rd_u8(&r) != PB_VERSION)
        return CONS_ERR_BAD_STATE;
    p->view = rd_u64(&r);
    u = rd_u8(&r);
    if (u > 1)
        return CONS_ERR_BAD_STATE;
    p->active = u;
    p->fails = rd_u32(&r);
    p->committed = rd_u64(&r);
    u = rd_u8(&r);
    if (u > 1)
        return CONS_ERR_BAD_STATE;
    p->have_cert = u;
    if (p->have_cert) {
        struct pb_sigs s;
        h = rd_take(&r, CONS_HASH_BYTES);
        rd_sigs(&r, p->n, &s);
        if (r.bad || p->committed == 0)
            return CONS_ERR_BAD_STATE;
        sigs_to_cert(&s, p->committed, h, &p->cert);
        if (!cert_ok(p, &p->cert))
            return CONS_ERR_BAD_STATE;
    }
    if (!rd_vote(&r, &p->my_prep) || !rd_vote(&r, &p->my_commit))
        return CONS_ERR_BAD_STATE;
    u = rd_u8(&r);
    if (u > 1)
        return CONS_ERR_BAD_STATE;
    if (u) {
        const uint8_t *ps;
        p->acc.set = true;
        p->acc.view = rd_u64(&r);
        p->acc.height = rd_u64(&r);
        h = rd_take(&r, CONS_HASH_BYTES);
        ps = rd_take(&r, CONS_SIG_BYTES);
        if (r.bad)
            return CONS_ERR_BAD_STATE;
        memcpy(p->acc.hash, h, CONS_HASH_BYTES);
        memcpy(p->acc.pp_sig, ps, CONS_SIG_BYTES);
    }
    p->vc_sent = rd_u64(&r);
    u = rd_u8(&r);
    if (u > 1)
        return CONS_ERR_BAD_STATE;
    if (u) {
        struct pb_sigs s;
        const uint8_t *ps;
        p->P.set = true;
        p->P.view = rd_u64(&r);
        p->P.height = rd_u64(&r);
        h = rd_take(&r, CONS_HASH_BYTES);
        ps = rd_take(&r, CONS_SIG_BYTES);
        rd_sigs(&r, p->n, &s);
        if (r.bad)
            return CONS_ERR_BAD_STATE;
        memcpy(p->P.hash, h, CONS_HASH_BYTES);
        memcpy(p->P.pp_sig, ps, CONS_SIG_BYTES);
        p->P.n = s.n;
        for (uint32_t i = 0; i < s.n; i++) {
            p->P.who[i] = s.who[i];
            memcpy(p->P.sig[i], s.sig[i], CONS_SIG_BYTES);
        }
    }
    p->stable = rd_u64(&r);
    h = rd_take(&r, CONS_HASH_BYTES);
    if (r.bad || r.off != len || p->fails > PB_FAILS_MAX)
        return CONS_ERR_BAD_STATE;
    memcpy(p->stable_hash, h, CONS_HASH_BYTES);
    return CONS_ERR_OK;
}

/* ---- evidence and the vote log ---- */

static void log_truncate(struct pbft *p, uint64_t upto)
{
    size_t k = 0;
    for (size_t i = 0; i < p->log_n; i++)
        if (p->log[i].height > upto)
            p->log[k++] = p->log[i];
    p->log_n = k;
}

/* Record a validly signed vote; two for one (height, view, kind) with
 * different hashes are equivocation and kept as evidence. */
static void log_vote(struct pbft *p, uint8_t kind, uint32_t from, uint64_t view, uint64_t height,
                     const uint8_t *hash, const uint8_t *sig)
{
    for (size_t i = 0; i < p->log_n; i++) {
        struct pb_logrec *l = &p->log[i];
        if (l->kind != kind || l->from != from || l->view != view || l->height != height)
            continue;
        if (!memcmp(l->hash, hash, CONS_HASH_BYTES))
            return; /* a retransmission */
        for (size_t e = 0; e < p->n_ev; e++)
            if (p->ev[e].validator == from && p->ev[e].height == height && p->ev[e].view == view &&
                p->ev[e].kind == kind)
                return;
        if (p->n_ev < PB_EVIDENCE_MAX) {
            struct cons_evidence *ev = &p->ev[p->n_ev++];
            ev->validator = from;
            ev->height = height;
            ev->view = view;
            ev->kind = kind;
            memcpy(ev->hash_a, l->hash, CONS_HASH_BYTES);
            memcpy(ev->sig_a, l->sig, CONS_SIG_BYTES);
            memcpy(ev->hash_b, hash, CONS_HASH_BYTES);
            memcpy(ev->sig_b, sig, CONS_SIG_BYTES);
        }
        return;
    }
    if (p->log_n == PB_LOG_MAX) { /* drop the oldest half */
        memmove(p->log, p->log + PB_LOG_MAX / 2, (PB_LOG_MAX / 2) * sizeof *p->log);
        p->log_n = PB_LOG_MAX / 2;
    }
    struct pb_logrec *l = &p->log[p->log_n++];
    l->kind = kind;
    l->from = from;
    l->view = view;
    l->height = height;
    memcpy(l->hash, hash, CONS_HASH_BYTES);
    memcpy(l->sig, sig, CONS_SIG_BYTES);
}

/* ---- committing ---- */

static void store_put(struct pbft *p, uint64_t height, const uint8_t *hash, const uint8_t *data, size_t len,
                      const struct cons_cert *cert)
{
    struct pb_blk *b = &p->store[height % PB_KEEP];
    uint8_t *d = dup_bytes(data, len);
    if (!d) {
        note(p, CONS_ERR_NOMEM);
        return;
    }
    blk_clear(b);
    b->set = true;
    b->height = height;
    memcpy(b->hash, hash, CONS_HASH_BYTES);
    b->data = d;
    b->len = len;
    b->cert = *cert;
}

static const struct pb_blk *store_get(const struct pbft *p, uint64_t height)
{
    const struct pb_blk *b = &p->store[height % PB_KEEP];
    return b->set && b->height == height ? b : NULL;
}

/* Hand committed blocks to the application in height order. */
static void deliver_more(struct pbft *p, struct cons_ready *out)
{
    while (p->delivered < p->committed) {
        const struct pb_blk *b = store_get(p, p->delivered + 1);
        if (!b)
            return;
        struct cons_block blk = {b->height, {0}, b->data, b->len};
        memcpy(blk.hash, b->hash, CONS_HASH_BYTES);
        int rc = cons_ready_commit(&p->base, out, &blk, &b->cert);
        note(p, rc);
        if (rc)
            return;
        p->delivered++;
    }
}

static void check_stable(struct pbft *p)
{
    for (uint32_t i = 0; i < p->n; i++) {
        uint32_t match = 0;
        if (p->cp_h[i] <= p->stable)
            continue;
        for (uint32_t j = 0; j < p->n; j++)
            if (p->cp_h[j] == p->cp_h[i] && !memcmp(p->cp_hash[j], p->cp_hash[i], CONS_HASH_BYTES))
                match++;
        if (match >= p->q) {
            /* PBFT §4.3: a checkpoint with a quorum of matching messages is
             * stable; logs and vote sets at or below it are discarded. */
            p->stable = p->cp_h[i];
            memcpy(p->stable_hash, p->cp_hash[i], CONS_HASH_BYTES);
            log_truncate(p, p->stable);
            for (uint32_t k = 0; k < PB_PEND; k++)
                if (p->pend[k].set && p->pend[k].height <= p->stable)
                    blk_clear(&p->pend[k]);
            p->dirty = true;
        }
    }
}

static void try_future(struct pbft *p, struct cons_ready *out);
static void try_pend(struct pbft *p, struct cons_ready *out);

static void commit_block(struct pbft *p, struct cons_ready *out, const uint8_t *hash, const uint8_t *data,
                         size_t len, const struct cons_cert *cert, bool persist)
{
    uint64_t h = next_height(p);
    assert(cert->height == h && !memcmp(cert->hash, hash, CONS_HASH_BYTES));
    (void)persist;
    /* persist the block with its certificate: a restarted replica serves
     * FETCH from these and re-delivers what the application missed */
    {
        size_t cap = 4 + len + PB_SIGS_MAX;
        struct wr w = wr_new(p, cap);
        if (!w.p)
            return;
        wr_u32(&w, (uint32_t)len);
        wr_bytes(&w, data, len);
        wr_cert(&w, cert, PB_N);
        struct cons_entry e = {h, PB_TERM_COMMITTED, {0}, w.p, w.len};
        memcpy(e.hash, hash, CONS_HASH_BYTES);
        note(p, cons_ready_entry(&p->base, out, &e));
    }
    store_put(p, h, hash, data, len, cert);
    if (p->err)
        return;
    p->committed = h;
    p->cert = *cert;
    p->have_cert = true;
    memset(&p->my_prep, 0, sizeof p->my_prep);
    memset(&p->my_commit, 0, sizeof p->my_commit);
    memset(&p->acc, 0, sizeof p->acc);
    pcert_clear(p);
    flight_clear(p);
    p->slots[h % PB_WINDOW].used = false;
    p->fails = 0;
    p->timer = 0;
    p->dirty = true;
    deliver_more(p, out);
    uint32_t ci = p->base.cfg.checkpoint_interval;
    if (ci && h % ci == 0) {
        p->cp_h[p->self] = h;
        memcpy(p->cp_hash[p->self], hash, CONS_HASH_BYTES);
        send_vote(p, out, PB_CHECKPOINT, p->view, h, hash, NULL, CONS_BROADCAST);
        check_stable(p);
    }
    try_pend(p, out);
    try_future(p, out);
}

/* Committed on q commit signatures for one hash at the in-flight height. */
static void try_commit(struct pbft *p, struct cons_ready *out)
{
    uint64_t h = next_height(p);
    struct pb_slot *s = &p->slots[h % PB_WINDOW];
    if (!s->used || s->height != h)
        return;
    for (uint32_t i = 0; i < p->n; i++) {
        if (!s->com[i])
            continue;
        struct cons_cert cert;
        memset(&cert, 0, sizeof cert);
        cert.height = h;
        memcpy(cert.hash, s->com_hash[i], CONS_HASH_BYTES);
        for (uint32_t j = 0; j < p->n; j++) {
            if (s->com[j] && !memcmp(s->com_hash[j], cert.hash, CONS_HASH_BYTES)) {
                cert.sigs[cert.n_sigs].signer = j;
                memcpy(cert.sigs[cert.n_sigs].sig, s->com_sig[j], CONS_SIG_BYTES);
                cert.n_sigs++;
            }
        }
        if (cert.n_sigs < p->q)
            continue;
        const uint8_t *data = NULL;
        size_t len = 0;
        if (p->fl.have_pp && !memcmp(p->fl.hash, cert.hash, CONS_HASH_BYTES)) {
            data = p->fl.data;
            len = p->fl.len;
        } else if (p->P.set && p->p_data && p->P.height == h && !memcmp(p->P.hash, cert.hash, CONS_HASH_BYTES)) {
            data = p->p_data;
            len = p->p_len;
        } else if (p->future.set && p->future.height == h && !memcmp(p->future.hash, cert.hash, CONS_HASH_BYTES)) {
            data = p->future.data;
            len = p->future.len;
        }
        if (!data) { /* certified but the block never reached us: fetch it */
            lagging(p, out, h, i == p->self ? CONS_BROADCAST : i);
            return;
        }
        uint8_t *copy = dup_bytes(data, len);
        if (!copy) {
            note(p, CONS_ERR_NOMEM);
            return;
        }
        uint8_t hash[CONS_HASH_BYTES];
        memcpy(hash, cert.hash, CONS_HASH_BYTES);
        commit_block(p, out, hash, copy, len, &cert, !(p->fl.have_pp && !memcmp(p->fl.hash, hash, CONS_HASH_BYTES)));
        free(copy);
        return;
    }
}

/* Prepared (§4.2): the accepted pre-prepare and 2f matching prepares from
 * backups.  Only then is the COMMIT (the certificate signature) signed. */
static void try_prepared(struct pbft *p, struct cons_ready *out)
{
    uint64_t h = next_height(p);
    if (!p->active || !p->fl.have_pp || !p->fl.executed || p->fl.invalid || p->fl.view != p->view)
        return;
    if (p->my_commit.set && p->my_commit.height == h && p->my_commit.view == p->view)
        return; /* already committed-voted in this view */
    struct pb_slot *s = slot_for(p, h);
    uint32_t prim = primary_of(p, p->view);
    struct pb_pcert P;
    memset(&P, 0, sizeof P);
    for (uint32_t i = 0; i < p->n; i++) {
        if (i == prim || !s->prep[i] || s->prep_view[i] != p->view ||
            memcmp(s->prep_hash[i], p->fl.hash, CONS_HASH_BYTES))
            continue;
        P.who[P.n] = i;
        memcpy(P.sig[P.n], s->prep_sig[i], CONS_SIG_BYTES);
        P.n++;
    }
    if (P.n < prepares_needed(p))
        return;
    uint8_t *d = dup_bytes(p->fl.data, p->fl.len);
    if (!d) {
        note(p, CONS_ERR_NOMEM);
        return;
    }
    pcert_clear(p);
    P.set = true;
    P.view = p->view;
    P.height = h;
    memcpy(P.hash, p->fl.hash, CONS_HASH_BYTES);
    memcpy(P.pp_sig, p->fl.pp_sig, CONS_SIG_BYTES);
    p->P = P;
    p->p_data = d;
    p->p_len = p->fl.len;
    p->my_commit = (struct pb_vote){true, p->view, h, {0}};
    memcpy(p->my_commit.hash, p->fl.hash, CONS_HASH_BYTES);
    p->dirty = true;
    uint8_t vs[CONS_SIG_BYTES];
    cons_sign_vote(&p->base, h, p->fl.hash, vs);
    s->com[p->self] = true;
    s->com_view[p->self] = p->view;
    memcpy(s->com_hash[p->self], p->fl.hash, CONS_HASH_BYTES);
    memcpy(s->com_sig[p->self], vs, CONS_SIG_BYTES);
    send_vote(p, out, PB_COMMIT, p->view, h, p->fl.hash, vs, CONS_BROADCAST);
    try_commit(p, out);
}

/* Sign and send this replica's PREPARE for the executed pre-prepare, unless
 * a vote it already signed at this (height, view) names another block. */
static void do_prepare(struct pbft *p, struct cons_ready *out)
{
    uint64_t h = next_height(p);
    if (primary_of(p, p->fl.view) == p->self)
        return; /* the primary's pre-prepare is its prepare */
    if (p->my_prep.set && p->my_prep.height == h && p->my_prep.view == p->fl.view &&
        memcmp(p->my_prep.hash, p->fl.hash, CONS_HASH_BYTES))
        return;
    uint8_t sig[CONS_SIG_BYTES];
    sign_vote_bytes(p, PB_PREPARE, p->fl.view, h, p->fl.hash, sig);
    struct pb_slot *s = slot_for(p, h);
    s->prep[p->self] = true;
    s->prep_view[p->self] = p->fl.view;
    memcpy(s->prep_hash[p->self], p->fl.hash, CONS_HASH_BYTES);
    memcpy(s->prep_sig[p->self], sig, CONS_SIG_BYTES);
    if (!(p->my_prep.set && p->my_prep.height == h && p->my_prep.view == p->fl.view)) {
        p->my_prep = (struct pb_vote){true, p->fl.view, h, {0}};
        memcpy(p->my_prep.hash, p->fl.hash, CONS_HASH_BYTES);
        p->dirty = true;
    }
    send_vote(p, out, PB_PREPARE, p->fl.view, h, p->fl.hash, NULL, CONS_BROADCAST);
}

/* Accept a pre-prepare for (view, next height): persist it and ask the
 * application to execute it.  Refuses a second block for one (view, height),
 * also across restarts (acc and my_prep are in the hard state). */
static void accept_pp(struct pbft *p, struct cons_ready *out, uint64_t view, const uint8_t *hash,
                      const uint8_t *pp_sig, const uint8_t *data, size_t len, bool executed)
{
    uint64_t h = next_height(p);
    assert(p->active && view == p->view);
    if (p->fl.have_pp)
        return;
    if (p->acc.set && p->acc.height == h && p->acc.view == view && memcmp(p->acc.hash, hash, CONS_HASH_BYTES))
        return;
    if (p->my_prep.set && p->my_prep.height == h && p->my_prep.view == view &&
        memcmp(p->my_prep.hash, hash, CONS_HASH_BYTES))
        return;
    uint8_t *d = dup_bytes(data, len);
    if (!d) {
        note(p, CONS_ERR_NOMEM);
        return;
    }
    flight_clear(p);
    p->fl.have_pp = true;
    p->fl.view = view;
    memcpy(p->fl.hash, hash, CONS_HASH_BYTES);
    memcpy(p->fl.pp_sig, pp_sig, CONS_SIG_BYTES);
    p->fl.data = d;
    p->fl.len = len;
    p->fl.executed = executed;
    p->acc.set = true;
    p->acc.view = view;
    p->acc.height = h;
    memcpy(p->acc.hash, hash, CONS_HASH_BYTES);
    memcpy(p->acc.pp_sig, pp_sig, CONS_SIG_BYTES);
    p->dirty = true;
    struct cons_entry e = {h, view, {0}, d, len};
    memcpy(e.hash, hash, CONS_HASH_BYTES);
    note(p, cons_ready_entry(&p->base, out, &e));
    if (!executed) {
        struct cons_block b = {h, {0}, d, len};
        memcpy(b.hash, hash, CONS_HASH_BYTES);
        note(p, cons_ready_execute(&p->base, out, &b));
        p->fl.exec_asked = true;
    }
    try_commit(p, out);
}

/* A buffered pre-prepare whose view and height have come. */
static void try_future(struct pbft *p, struct cons_ready *out)
{
    struct pb_blk *f = &p->future;
    if (!f->set)
        return;
    if (f->view < p->view || f->height < next_height(p)) {
        blk_clear(f);
        return;
    }
    if (!p->active || f->view != p->view || f->height != next_height(p) || p->fl.have_pp)
        return;
    struct pb_blk b = *f;
    memset(f, 0, sizeof *f);
    accept_pp(p, out, b.view, b.hash, b.pp_sig, b.data, b.len, false);
    free(b.data);
}

static void buffer_future(struct pbft *p, uint64_t view, uint64_t height, const uint8_t *hash, const uint8_t *pp_sig,
                          const uint8_t *data, size_t len)
{
    struct pb_blk *f = &p->future;
    if (f->set && (f->view > view || (f->view == view && f->height >= height)))
        return;
    uint8_t *d = dup_bytes(data, len);
    if (!d) {
        note(p, CONS_ERR_NOMEM);
        return;
    }
    blk_clear(f);
    f->set = true;
    f->view = view;
    f->height = height;
    memcpy(f->hash, hash, CONS_HASH_BYTES);
    memcpy(f->pp_sig, pp_sig, CONS_SIG_BYTES);
    f->data = d;
    f->len = len;
}

/* Committed blocks that arrived ahead of order. */
static void try_pend(struct pbft *p, struct cons_ready *out)
{
    for (;;) {
        uint64_t h = next_height(p);
        struct pb_blk *b = &p->pend[h % PB_PEND];
        if (!b->set || b->height != h)
            return;
        struct pb_blk t = *b;
        memset(b, 0, sizeof *b);
        commit_block(p, out, t.hash, t.data, t.len, &t.cert, true);
        free(t.data);
        if (p->err)
            return;
    }
}

/* ---- view change ---- */

static size_t vc_count(const struct pbft *p, uint64_t view)
{
    size_t k = 0;
    for (uint32_t i = 0; i < p->n; i++)
        if (p->vcs[i].set && p->vcs[i].view == view)
            k++;
    return k;
}

/* Build (fresh) this replica's VIEW-CHANGE for p->view into vcs[self]. */
/* View-changes for `view` or later: each of them wants `view` gone too. */
static size_t vc_count_ge(const struct pbft *p, uint64_t view)
{
    size_t k = 0;
    for (uint32_t i = 0; i < p->n; i++)
        if (p->vcs[i].set && p->vcs[i].view >= view)
            k++;
    return k;
}

static void make_own_vc(struct pbft *p)
{
    uint8_t buf[PB_VC_MAX];
    struct wr w = {buf, sizeof buf, 0};
    bool cert = p->have_cert && p->cert.height == p->committed;
    uint64_t c = cert ? p->committed : 0;
    bool has_p = p->P.set && p->P.height == c + 1;
    wr_hdr(&w, PB_VIEW_CHANGE, p->self, p->view, c);
    if (cert) {
        wr_bytes(&w, p->cert.hash, CONS_HASH_BYTES);
        wr_cert(&w, &p->cert, p->q);
    } else {
        uint8_t z[CONS_HASH_BYTES] = {0};
        wr_bytes(&w, z, CONS_HASH_BYTES);
        wr_u8(&w, 0);
    }
    wr_u8(&w, (uint8_t)has_p);
    if (has_p) {
        wr_u64(&w, p->P.view);
        wr_bytes(&w, p->P.hash, CONS_HASH_BYTES);
        wr_bytes(&w, p->P.pp_sig, CONS_SIG_BYTES);
        wr_u8(&w, (uint8_t)p->P.n);
        for (uint32_t i = 0; i < p->P.n; i++) {
            wr_u32(&w, p->P.who[i]);
            wr_bytes(&w, p->P.sig[i], CONS_SIG_BYTES);
        }
    }
    wr_sign(p, &w);
    struct pb_vcrec *r = &p->vcs[p->self];
    uint8_t *raw = dup_bytes(buf, w.len);
    uint8_t *data = has_p && p->p_data ? dup_bytes(p->p_data, p->p_len) : NULL;
    if (!raw || (has_p && p->p_data && !data)) {
        free(raw);
        free(data);
        note(p, CONS_ERR_NOMEM);
        return;
    }
    vcrec_clear(r);
    r->set = true;
    r->view = p->view;
    r->c = c;
    r->has_p = has_p;
    r->p_view = has_p ? p->P.view : 0;
    if (has_p)
        memcpy(r->p_hash, p->P.hash, CONS_HASH_BYTES);
    r->raw = raw;
    r->raw_len = w.len;
    r->data = data;
    r->len = data ? p->p_len : 0;
}

static void send_own_vc(struct pbft *p, struct cons_ready *out, uint32_t to)
{
    const struct pb_vcrec *r = &p->vcs[p->self];
    if (!r->set)
        return;
    struct wr w = wr_new(p, r->raw_len + 4 + r->len);
    if (!w.p)
        return;
    wr_bytes(&w, r->raw, r->raw_len);
    wr_u32(&w, (uint32_t)r->len);
    wr_bytes(&w, r->data, r->len);
    out_msg(p, out, to, w.p, w.len);
}

static void try_new_view(struct pbft *p, struct cons_ready *out);

/* PBFT §4.4: move to view `target` and send VIEW-CHANGE.  The timer starts
 * once q view-changes for target are in (§4.5.2). */
static void start_view_change(struct pbft *p, struct cons_ready *out, uint64_t target)
{
    assert(target > p->view || (target == p->view && p->active));
    p->view = target;
    p->active = false;
    if (p->fails < PB_FAILS_MAX)
        p->fails++;
    p->vc_sent = target;
    p->timer = 0;
    p->timer_on = false;
    flight_clear(p);
    p->dirty = true;
    make_own_vc(p);
    send_own_vc(p, out, CONS_BROADCAST);
    if (vc_count_ge(p, target) >= p->q)
        p->timer_on = true;
    try_new_view(p, out);
}

/* The choice a NEW-VIEW must make from its proof: the in-flight height
 * maxC+1 and the block of the highest-view prepared certificate for it. */
struct pb_choice {
    uint64_t max_c;
    bool has;
    uint64_t p_view;
    uint8_t hash[CONS_HASH_BYTES];
    uint32_t src; /* which view-change it came from */
};

static void choose(struct pb_choice *ch, uint64_t c, bool has_p, uint64_t p_view, const uint8_t *p_hash,
                   uint32_t src, bool first)
{
    if (first) {
        memset(ch, 0, sizeof *ch);
        ch->max_c = c;
    }
    if (c > ch->max_c) {
        ch->max_c = c;
        ch->has = false;
    }
    if (c == ch->max_c && has_p && (!ch->has || p_view > ch->p_view)) {
        ch->has = true;
        ch->p_view = p_view;
        memcpy(ch->hash, p_hash, CONS_HASH_BYTES);
        ch->src = src;
    }
}

static void enter_view(struct pbft *p, struct cons_ready *out, uint64_t view, uint64_t height, const uint8_t *hash,
                       const uint8_t *pp_sig, const uint8_t *data, size_t len)
{
    p->view = view;
    p->active = true;
    p->timer = 0;
    p->timer_on = true;
    flight_clear(p);
    for (uint32_t i = 0; i < p->n; i++)
        if (p->vcs[i].set && p->vcs[i].view <= view)
            vcrec_clear(&p->vcs[i]);
    p->dirty = true;
    if (hash) {
        if (height == next_height(p))
            accept_pp(p, out, view, hash, pp_sig, data, len, false);
        else if (height > next_height(p))
            buffer_future(p, view, height, hash, pp_sig, data, len);
    }
    if (height > next_height(p))
        lagging(p, out, height, primary_of(p, view));
    try_future(p, out);
}

static void keep_nv(struct pbft *p, const uint8_t *b, size_t len, uint64_t view)
{
    uint8_t *d = dup_bytes(b, len);
    if (!d) {
        note(p, CONS_ERR_NOMEM);
        return;
    }
    free(p->nv);
    p->nv = d;
    p->nv_len = len;
    p->nv_view = view;
}

/* The new primary: with q view-changes for its view, send NEW-VIEW. */
static void try_new_view(struct pbft *p, struct cons_ready *out)
{
    if (p->active || primary_of(p, p->view) != p->self || vc_count(p, p->view) < p->q)
        return;
    make_own_vc(p); /* our committed height may have moved since */
    if (p->err)
        return;
    struct pb_choice ch;
    memset(&ch, 0, sizeof ch);
    bool first = true;
    uint32_t max_from = p->self;
    for (uint32_t i = 0; i < p->n; i++) {
        const struct pb_vcrec *r = &p->vcs[i];
        if (!r->set || r->view != p->view)
            continue;
        if (first || r->c > ch.max_c)
            max_from = i;
        choose(&ch, r->c, r->has_p, r->p_view, r->p_hash, i, first);
        first = false;
    }
    if (ch.max_c > p->committed) { /* catch up first (§4.4: the primary obtains missing state) */
        lagging(p, out, ch.max_c, max_from);
        return;
    }
    const uint8_t *data = NULL;
    size_t len = 0;
    if (ch.has) {
        for (uint32_t i = 0; i < p->n && !data; i++) {
            const struct pb_vcrec *r = &p->vcs[i];
            if (r->set && r->view == p->view && r->has_p && r->data &&
                !memcmp(r->p_hash, ch.hash, CONS_HASH_BYTES)) {
                data = r->data;
                len = r->len;
            }
        }
        if (!data)
            return; /* nobody sent the block yet; their resent view-changes will */
    }
    uint64_t H = ch.max_c + 1;
    size_t cap = PB_HDR + 1 + 1 + CONS_HASH_BYTES + 2 * CONS_SIG_BYTES + 4 + len;
    for (uint32_t i = 0; i < p->n; i++)
        if (p->vcs[i].set && p->vcs[i].view == p->view)
            cap += 4 + p->vcs[i].raw_len;
    struct wr w = wr_new(p, cap);
    if (!w.p)
        return;
    uint8_t pp_sig[CONS_SIG_BYTES];
    wr_hdr(&w, PB_NEW_VIEW, p->self, p->view, H);
    wr_u8(&w, (uint8_t)vc_count(p, p->view));
    for (uint32_t i = 0; i < p->n; i++) {
        const struct pb_vcrec *r = &p->vcs[i];
        if (r->set && r->view == p->view) {
            wr_u32(&w, (uint32_t)r->raw_len);
            wr_bytes(&w, r->raw, r->raw_len);
        }
    }
    wr_u8(&w, (uint8_t)ch.has);
    if (ch.has) {
        sign_vote_bytes(p, PB_PRE_PREPARE, p->view, H, ch.hash, pp_sig);
        wr_bytes(&w, ch.hash, CONS_HASH_BYTES);
        wr_bytes(&w, pp_sig, CONS_SIG_BYTES);
    }
    wr_sign(p, &w);
    wr_u32(&w, (uint32_t)len);
    wr_bytes(&w, data, len);
    out_msg(p, out, CONS_BROADCAST, w.p, w.len);
    keep_nv(p, w.p, w.len, p->view);
    if (ch.has) {
        uint8_t hash[CONS_HASH_BYTES];
        uint8_t *d = dup_bytes(data, len);
        if (!d) {
            note(p, CONS_ERR_NOMEM);
            return;
        }
        memcpy(hash, ch.hash, CONS_HASH_BYTES);
        enter_view(p, out, p->view, H, hash, pp_sig, d, len);
        free(d);
    } else {
        enter_view(p, out, p->view, H, NULL, NULL, NULL, 0);
    }
}

/* PBFT §4.5.2: f+1 view-changes for views above ours prove a correct replica
 * wants a change; join the smallest of them. */
static void maybe_join(struct pbft *p, struct cons_ready *out)
{
    uint32_t k = 0;
    uint64_t min = UINT64_MAX;
    for (uint32_t i = 0; i < p->n; i++) {
        if (i == p->self || !p->vcs[i].set || p->vcs[i].view <= p->view)
            continue;
        k++;
        if (p->vcs[i].view < min)
            min = p->vcs[i].view;
    }
    if (k >= p->f + 1)
        start_view_change(p, out, min);
}

/* ---- message handlers ---- */

static int on_pre_prepare(struct pbft *p, struct cons_ready *out, const struct pb_msg *m)
{
    uint8_t hh[CONS_HASH_BYTES];
    if (m->from != primary_of(p, m->view))
        return CONS_ERR_MSG_BAD_SENDER;
    if (!verify_bytes(p, m->from, m->sig - m->signed_len, m->signed_len, m->sig))
        return CONS_ERR_MSG_BAD_SIG;
    if (!hash_block(p, m->data, m->len, hh) || memcmp(hh, m->hash, CONS_HASH_BYTES))
        return CONS_ERR_MSG_BAD_HASH;
    if (m->view < p->view || m->height < next_height(p))
        return CONS_ERR_MSG_STALE;
    if (m->view > p->view || !p->active || m->height > next_height(p)) {
        buffer_future(p, m->view, m->height, m->hash, m->sig, m->data, m->len);
        if (m->view > p->view || m->height > next_height(p))
            lagging(p, out, m->height - 1, m->from);
        return CONS_ERR_OK;
    }
    if (p->fl.have_pp && !memcmp(p->fl.hash, m->hash, CONS_HASH_BYTES)) {
        /* a retransmission: answer with our prepare in case it was lost */
        if (p->fl.executed && !p->fl.invalid)
            do_prepare(p, out);
        return CONS_ERR_OK;
    }
    accept_pp(p, out, m->view, m->hash, m->sig, m->data, m->len, false);
    return CONS_ERR_OK;
}

static int on_vote(struct pbft *p, struct cons_ready *out, const struct pb_msg *m)
{
    bool commit = m->type == PB_COMMIT;
    if (!commit && m->from == primary_of(p, m->view))
        return CONS_ERR_MSG_BAD_SENDER; /* the primary's pre-prepare is its prepare */
    if (!verify_bytes(p, m->from, m->sig - m->signed_len, m->signed_len, m->sig))
        return CONS_ERR_MSG_BAD_SIG;
    if (commit && !cons_verify_vote(&p->base, m->from, m->height, m->hash, m->vote_sig))
        return CONS_ERR_MSG_BAD_SIG;
    if (m->height < next_height(p) || m->height <= p->stable)
        return CONS_ERR_MSG_STALE;
    if (!commit && m->view < p->view)
        return CONS_ERR_MSG_STALE;
    log_vote(p, commit ? 2 : 1, m->from, m->view, m->height, m->hash, commit ? m->vote_sig : m->sig);
    if (m->height >= next_height(p) + PB_WINDOW) {
        lagging(p, out, m->height - 1, m->from);
        return CONS_ERR_OK;
    }
    if (m->height > next_height(p) || m->view > p->view)
        lagging(p, out, m->height - 1, m->from);
    struct pb_slot *s = slot_for(p, m->height);
    if (commit) {
        if (!s->com[m->from] || m->view > s->com_view[m->from]) {
            s->com[m->from] = true;
            s->com_view[m->from] = m->view;
            memcpy(s->com_hash[m->from], m->hash, CONS_HASH_BYTES);
            memcpy(s->com_sig[m->from], m->vote_sig, CONS_SIG_BYTES);
        }
        try_commit(p, out);
    } else {
        if (!s->prep[m->from] || m->view > s->prep_view[m->from]) {
            s->prep[m->from] = true;
            s->prep_view[m->from] = m->view;
            memcpy(s->prep_hash[m->from], m->hash, CONS_HASH_BYTES);
            memcpy(s->prep_sig[m->from], m->sig, CONS_SIG_BYTES);
        }
        try_prepared(p, out);
    }
    return CONS_ERR_OK;
}

static int on_checkpoint(struct pbft *p, struct cons_ready *out, const struct pb_msg *m)
{
    uint32_t ci = p->base.cfg.checkpoint_interval;
    if (!verify_bytes(p, m->from, m->sig - m->signed_len, m->signed_len, m->sig))
        return CONS_ERR_MSG_BAD_SIG;
    if (!ci || m->height == 0 || m->height % ci)
        return CONS_ERR_MSG_MALFORMED;
    if (m->height <= p->stable || m->height <= p->cp_h[m->from])
        return CONS_ERR_MSG_STALE;
    p->cp_h[m->from] = m->height;
    memcpy(p->cp_hash[m->from], m->hash, CONS_HASH_BYTES);
    if (m->height > p->committed)
        lagging(p, out, m->height, m->from);
    check_stable(p);
    return CONS_ERR_OK;
}

static int on_view_change(struct pbft *p, struct cons_ready *out, const struct pb_msg *m)
{
    int rc = verify_vc(p, &m->vc);
    if (rc)
        return rc;
    if (m->view < p->view || (m->view == p->view && p->active)) {
        /* the sender missed our view's NEW-VIEW: relay it */
        if (p->active && p->nv && p->nv_view == p->view)
            out_msg(p, out, m->from, p->nv, p->nv_len);
        return m->view < p->view ? CONS_ERR_MSG_STALE : CONS_ERR_OK;
    }
    struct pb_vcrec *r = &p->vcs[m->from];
    if (!r->set || m->view >= r->view) {
        uint8_t *raw = dup_bytes(m->vc.raw, m->vc.raw_len);
        uint8_t *data = m->len ? dup_bytes(m->data, m->len) : NULL;
        if (!raw || (m->len && !data)) {
            free(raw);
            free(data);
            return CONS_ERR_NOMEM;
        }
        size_t dlen = m->len;
        if (r->set && r->view == m->view && r->data && !data) { /* keep a block we already hold */
            data = r->data;
            dlen = r->len;
            r->data = NULL;
        }
        vcrec_clear(r);
        r->set = true;
        r->view = m->view;
        r->c = m->vc.c;
        r->has_p = m->vc.has_p;
        r->p_view = m->vc.p_view;
        if (m->vc.has_p)
            memcpy(r->p_hash, m->vc.p_hash, CONS_HASH_BYTES);
        r->raw = raw;
        r->raw_len = m->vc.raw_len;
        r->data = data;
        r->len = dlen;
    }
    if (m->vc.c > p->committed)
        lagging(p, out, m->vc.c, m->from);
    maybe_join(p, out);
    if (!p->active && vc_count_ge(p, p->view) >= p->q)
        p->timer_on = true;
    try_new_view(p, out);
    return CONS_ERR_OK;
}

static int on_new_view(struct pbft *p, struct cons_ready *out, const struct pb_msg *m, const uint8_t *raw,
                       size_t raw_len)
{
    if (m->from != primary_of(p, m->view))
        return CONS_ERR_MSG_BAD_SENDER;
    if (!verify_bytes(p, m->from, m->sig - m->signed_len, m->signed_len, m->sig))
        return CONS_ERR_MSG_BAD_SIG;
    if (m->view < p->view || (m->view == p->view && p->active))
        return CONS_ERR_MSG_STALE;
    if (m->n_vc < p->q)
        return CONS_ERR_MSG_MALFORMED;
    bool seen[PB_N] = {false};
    struct pb_choice ch;
    memset(&ch, 0, sizeof ch);
    for (uint32_t i = 0; i < m->n_vc; i++) {
        struct pb_vc vc;
        int rc = parse_vc(m->vc_raw[i], m->vc_len[i], p->n, &vc, false);
        if (rc)
            return CONS_ERR_MSG_MALFORMED;
        if (vc.view != m->view || seen[vc.from])
            return CONS_ERR_MSG_MALFORMED;
        seen[vc.from] = true;
        if ((rc = verify_vc(p, &vc)))
            return rc;
        choose(&ch, vc.c, vc.has_p, vc.p_view, vc.p_hash, vc.from, i == 0);
    }
    /* the primary must have made the choice its proof dictates (§4.4) */
    if (m->height != ch.max_c + 1 || m->has_pp != ch.has ||
        (ch.has && memcmp(m->hash, ch.hash, CONS_HASH_BYTES)))
        return CONS_ERR_MSG_MALFORMED;
    if (ch.has) {
        uint8_t hh[CONS_HASH_BYTES];
        if (!verify_vote_bytes(p, PB_PRE_PREPARE, m->from, m->view, m->height, m->hash, m->pp_sig))
            return CONS_ERR_MSG_BAD_SIG;
        if (!hash_block(p, m->data, m->len, hh) || memcmp(hh, m->hash, CONS_HASH_BYTES))
            return CONS_ERR_MSG_BAD_HASH;
    }
    keep_nv(p, raw, raw_len, m->view);
    if (ch.has)
        enter_view(p, out, m->view, m->height, m->hash, m->pp_sig, m->data, m->len);
    else
        enter_view(p, out, m->view, m->height, NULL, NULL, NULL, 0);
    return CONS_ERR_OK;
}

static void send_committed(struct pbft *p, struct cons_ready *out, uint32_t to, const struct pb_blk *b)
{
    struct wr w = wr_new(p, PB_HDR + CONS_HASH_BYTES + PB_SIGS_MAX + CONS_SIG_BYTES + 4 + b->len);
    if (!w.p)
        return;
    wr_hdr(&w, PB_COMMITTED, p->self, p->view, b->height);
    wr_bytes(&w, b->hash, CONS_HASH_BYTES);
    wr_cert(&w, &b->cert, PB_N);
    wr_sign(p, &w);
    wr_u32(&w, (uint32_t)b->len);
    wr_bytes(&w, b->data, b->len);
    out_msg(p, out, to, w.p, w.len);
}

static int on_fetch(struct pbft *p, struct cons_ready *out, const struct pb_msg *m)
{
    if (!verify_bytes(p, m->from, m->sig - m->signed_len, m->signed_len, m->sig))
        return CONS_ERR_MSG_BAD_SIG;
    if (m->height == 0)
        return CONS_ERR_MSG_MALFORMED;
    for (uint64_t h = m->height; h <= p->committed && h < m->height + PB_FETCH_BATCH; h++) {
        const struct pb_blk *b = store_get(p, h);
        if (b)
            send_committed(p, out, m->from, b);
    }
    if (m->view < p->view && p->active && p->nv && p->nv_view == p->view)
        out_msg(p, out, m->from, p->nv, p->nv_len);
    return CONS_ERR_OK;
}

static int on_committed(struct pbft *p, struct cons_ready *out, const struct pb_msg *m)
{
    uint8_t hh[CONS_HASH_BYTES];
    if (!verify_bytes(p, m->from, m->sig - m->signed_len, m->signed_len, m->sig))
        return CONS_ERR_MSG_BAD_SIG;
    if (m->height == 0 || m->height <= p->delivered)
        return CONS_ERR_MSG_STALE;
    if (!hash_block(p, m->data, m->len, hh) || memcmp(hh, m->hash, CONS_HASH_BYTES))
        return CONS_ERR_MSG_BAD_HASH;
    struct cons_cert cert;
    sigs_to_cert(&m->sigs, m->height, m->hash, &cert);
    if (!cert_ok(p, &cert))
        return CONS_ERR_CERT_INVALID;
    if (m->height <= p->committed) { /* re-delivery after a restart */
        if (!store_get(p, m->height))
            store_put(p, m->height, m->hash, m->data, m->len, &cert);
        deliver_more(p, out);
    } else if (m->height == next_height(p)) {
        commit_block(p, out, m->hash, m->data, m->len, &cert, true);
    } else if (m->height < next_height(p) + PB_PEND) {
        struct pb_blk *b = &p->pend[m->height % PB_PEND];
        if (!b->set || b->height != m->height) {
            uint8_t *d = dup_bytes(m->data, m->len);
            if (!d)
                return CONS_ERR_NOMEM;
            blk_clear(b);
            b->set = true;
            b->height = m->height;
            memcpy(b->hash, m->hash, CONS_HASH_BYTES);
            b->data = d;
            b->len = m->len;
            b->cert = cert;
        }
    }
    if (m->height > p->want)
        p->want = m->height;
    return CONS_ERR_OK;
}

/* ---- ops ---- */

static void finish(struct pbft *p, struct cons_ready *out)
{
    hs_emit(p, out);
}

static void pbft_tick(struct cons *c, struct cons_ready *out)
{
    struct pbft *p = PB(c);
    p->err = 0;
    p->now++;
    p->age++;
    uint32_t R = resend_ticks(p);
    if (p->fl.have_pp && !p->fl.exec_asked && !p->fl.executed) { /* restored after a restart */
        struct cons_block b = {next_height(p), {0}, p->fl.data, p->fl.len};
        memcpy(b.hash, p->fl.hash, CONS_HASH_BYTES);
        note(p, cons_ready_execute(c, out, &b));
        p->fl.exec_asked = true;
    }
    deliver_more(p, out);
    if (p->timer_on && ++p->timer >= timeout_ticks(p)) {
        start_view_change(p, out, p->view + 1);
    } else if (p->age % R == 0) {
        /* retransmit what the in-flight height needs from us: messages get lost */
        if (!p->active) {
            send_own_vc(p, out, CONS_BROADCAST);
            try_new_view(p, out);
        } else if (p->fl.have_pp) {
            uint64_t h = next_height(p);
            if (primary_of(p, p->fl.view) == p->self)
                send_pre_prepare(p, out, CONS_BROADCAST);
            if (p->my_prep.set && p->my_prep.height == h && p->my_prep.view == p->view &&
                !memcmp(p->my_prep.hash, p->fl.hash, CONS_HASH_BYTES))
                do_prepare(p, out);
            if (p->my_commit.set && p->my_commit.height == h && p->my_commit.view == p->view) {
                uint8_t vs[CONS_SIG_BYTES];
                cons_sign_vote(c, h, p->my_commit.hash, vs);
                send_vote(p, out, PB_COMMIT, p->view, h, p->my_commit.hash, vs, CONS_BROADCAST);
            }
        }
        if (p->want > p->committed || p->delivered < p->committed)
            send_fetch(p, out, CONS_BROADCAST);
    }
    finish(p, out);
}

static int pbft_step(struct cons *c, uint32_t from, const uint8_t *msg, size_t len, struct cons_ready *out)
{
    struct pbft *p = PB(c);
    struct pb_msg m;
    int rc = parse_msg(msg, len, p->n, &m);
    if (rc)
        return rc;
    /* the transport authenticated `from`; only a NEW-VIEW may be relayed */
    if (m.type == PB_NEW_VIEW ? m.from == p->self : m.from != from)
        return CONS_ERR_MSG_BAD_SENDER;
    p->err = 0;
    switch (m.type) {
    case PB_PRE_PREPARE: rc = on_pre_prepare(p, out, &m); break;
    case PB_PREPARE:
    case PB_COMMIT: rc = on_vote(p, out, &m); break;
    case PB_CHECKPOINT: rc = on_checkpoint(p, out, &m); break;
    case PB_VIEW_CHANGE: rc = on_view_change(p, out, &m); break;
    case PB_NEW_VIEW: rc = on_new_view(p, out, &m, msg, len); break;
    case PB_FETCH: rc = on_fetch(p, out, &m); break;
    case PB_COMMITTED: rc = on_committed(p, out, &m); break;
    default: rc = CONS_ERR_MSG_MALFORMED; break;
    }
    finish(p, out);
    return rc ? rc : p->err;
}

static int pbft_propose(struct cons *c, const struct cons_block *b, struct cons_ready *out)
{
    struct pbft *p = PB(c);
    uint8_t hh[CONS_HASH_BYTES];
    p->err = 0;
    if (!p->active || primary_of(p, p->view) != p->self)
        return CONS_ERR_NOT_LEADER;
    if (p->fl.have_pp || p->delivered != p->committed)
        return CONS_ERR_BUSY;
    if (b->height != next_height(p))
        return CONS_ERR_BAD_HEIGHT;
    if (!b->data || !b->len || !hash_block(p, b->data, b->len, hh) || memcmp(hh, b->hash, CONS_HASH_BYTES))
        return CONS_ERR_INVALID_ARG;
    if (p->acc.set && p->acc.height == b->height && p->acc.view == p->view)
        return CONS_ERR_BUSY; /* already proposed in this view (before a restart) */
    uint8_t pp_sig[CONS_SIG_BYTES];
    sign_vote_bytes(p, PB_PRE_PREPARE, p->view, b->height, b->hash, pp_sig);
    accept_pp(p, out, p->view, b->hash, pp_sig, b->data, b->len, true); /* the application built it */
    if (p->fl.have_pp)
        send_pre_prepare(p, out, CONS_BROADCAST);
    try_prepared(p, out);
    finish(p, out);
    return p->err;
}

static int pbft_executed(struct cons *c, uint64_t height, const uint8_t hash[CONS_HASH_BYTES], bool valid,
                         struct cons_ready *out)
{
    struct pbft *p = PB(c);
    p->err = 0;
    if (height != next_height(p) || !p->fl.have_pp || p->fl.executed || memcmp(hash, p->fl.hash, CONS_HASH_BYTES))
        return CONS_ERR_OK; /* overtaken by a commit or a view change */
    p->fl.executed = true;
    p->fl.invalid = !valid;
    if (valid && p->active && p->fl.view == p->view) {
        do_prepare(p, out);
        try_prepared(p, out);
    }
    /* invalid: send nothing; the view times out and the primary is replaced */
    finish(p, out);
    return p->err;
}

static void pbft_status(const struct cons *c, struct cons_status *st)
{
    const struct pbft *p = CPB(c);
    st->engine = CONS_ENGINE_PBFT;
    st->term = p->view;
    st->leader = (int32_t)primary_of(p, p->view);
    st->is_leader = p->active && primary_of(p, p->view) == p->self;
    st->committed = p->committed;
    st->next_height = next_height(p);
    st->can_propose = st->is_leader && !p->fl.have_pp && p->delivered == p->committed &&
                      !(p->acc.set && p->acc.height == next_height(p) && p->acc.view == p->view);
}

static size_t pbft_evidence(const struct cons *c, struct cons_evidence *out, size_t max)
{
    const struct pbft *p = CPB(c);
    for (size_t i = 0; i < p->n_ev && i < max; i++)
        out[i] = p->ev[i];
    return p->n_ev;
}

/* A variant of one of our own votes or proposals that names another block,
 * validly signed, as an equivocating validator would send (gridsim). */
static int pbft_equivocate(struct cons *c, const uint8_t *msg, size_t len, uint64_t salt, uint8_t *out,
                           size_t *out_len)
{
    struct pbft *p = PB(c);
    struct pb_msg m;
    if (parse_msg(msg, len, p->n, &m) || m.from != p->self)
        return CONS_ERR_INVALID_ARG;
    uint8_t hash[CONS_HASH_BYTES];
    struct wr w = {out, *out_len, 0};
    if (m.type == PB_PRE_PREPARE) {
        size_t nl = m.len + 8;
        if (nl > CONS_MSG_MAX_BYTES / 2 || PB_HDR + CONS_HASH_BYTES + CONS_SIG_BYTES + 4 + nl > *out_len)
            return CONS_ERR_INVALID_ARG;
        uint8_t *d = malloc(nl);
        if (!d)
            return CONS_ERR_NOMEM;
        memcpy(d, m.data, m.len);
        /* two alternative blocks, as a real equivocating primary has: the
         * same one reaches several replicas, so split votes can form */
        cons_put64(d + m.len, 1 + (salt & 1));
        if (!hash_block(p, d, nl, hash)) {
            free(d);
            return CONS_ERR_INVALID_ARG;
        }
        wr_hdr(&w, PB_PRE_PREPARE, p->self, m.view, m.height);
        wr_bytes(&w, hash, CONS_HASH_BYTES);
        wr_sign(p, &w);
        wr_u32(&w, (uint32_t)nl);
        wr_bytes(&w, d, nl);
        free(d);
    } else if (m.type == PB_PREPARE || m.type == PB_COMMIT) {
        uint64_t s = 1 + (salt & 1);
        if (*out_len < PB_HDR + CONS_HASH_BYTES + 2 * CONS_SIG_BYTES)
            return CONS_ERR_INVALID_ARG;
        for (size_t i = 0; i < CONS_HASH_BYTES; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            hash[i] = (uint8_t)(m.hash[i] ^ (uint8_t)(s >> 56));
        }
        if (!memcmp(hash, m.hash, CONS_HASH_BYTES))
            hash[0] ^= 1;
        wr_hdr(&w, m.type, p->self, m.view, m.height);
        wr_bytes(&w, hash, CONS_HASH_BYTES);
        if (m.type == PB_COMMIT) {
            uint8_t vs[CONS_SIG_BYTES];
            cons_sign_vote(c, m.height, hash, vs);
            wr_bytes(&w, vs, CONS_SIG_BYTES);
        }
        wr_sign(p, &w);
    } else {
        return CONS_ERR_INVALID_ARG;
    }
    *out_len = w.len;
    return CONS_ERR_OK;
}

static void pbft_close(struct cons *c)
{
    struct pbft *p = PB(c);
    flight_clear(p);
    pcert_clear(p);
    blk_clear(&p->future);
    if (p->store)
        for (uint32_t i = 0; i < PB_KEEP; i++)
            blk_clear(&p->store[i]);
    for (uint32_t i = 0; i < PB_PEND; i++)
        blk_clear(&p->pend[i]);
    for (uint32_t i = 0; i < PB_N; i++)
        vcrec_clear(&p->vcs[i]);
    free(p->store);
    free(p->nv);
    free(p->log);
    cons_base_deinit(c);
    free(p);
}

static const struct cons_ops pbft_ops = {
    .close = pbft_close,
    .tick = pbft_tick,
    .step = pbft_step,
    .propose = pbft_propose,
    .executed = pbft_executed,
    .status = pbft_status,
    .evidence = pbft_evidence,
    .equivocate = pbft_equivocate,
};

static const struct cons_entry *disk_entry(const struct cons_disk *d, uint64_t height, const uint8_t *hash)
{
    for (size_t i = 0; i < d->n_entries; i++)
        if (d->entries[i].height == height && d->entries[i].term != PB_TERM_COMMITTED &&
            (!hash || !memcmp(d->entries[i].hash, hash, CONS_HASH_BYTES)))
            return &d->entries[i];
    return NULL;
}

/* Restore from what was persisted: the hard state, the accepted pre-prepares
 * (for block bytes) and the application's applied height. */
static int restore(struct pbft *p, const struct cons_disk *disk)
{
    if (!disk->hard_state_len) {
        p->committed = p->delivered = disk->applied_height;
        return CONS_ERR_OK;
    }
    if (!disk->hard_state || hs_decode(p, disk->hard_state, disk->hard_state_len))
        return CONS_ERR_BAD_STATE;
    if (disk->n_entries && !disk->entries)
        return CONS_ERR_BAD_STATE;
    if (disk->applied_height > p->committed) { /* the application is ahead: trust it, uncertified */
        p->committed = disk->applied_height;
        p->have_cert = false;
        memset(&p->my_prep, 0, sizeof p->my_prep);
        memset(&p->my_commit, 0, sizeof p->my_commit);
        memset(&p->acc, 0, sizeof p->acc);
        memset(&p->P, 0, sizeof p->P);
    }
    p->delivered = disk->applied_height;
    for (size_t i = 0; i < disk->n_entries; i++) {
        const struct cons_entry *e = &disk->entries[i];
        if (e->term != PB_TERM_COMMITTED || e->height > p->committed || e->height + PB_KEEP <= p->committed)
            continue;
        struct rd r = {e->data, e->len, 0, false};
        struct pb_sigs s;
        struct cons_cert cert;
        uint32_t bl = rd_u32(&r);
        const uint8_t *blk = rd_take(&r, bl);
        rd_sigs(&r, p->n, &s);
        if (r.bad || r.off != e->len)
            return CONS_ERR_BAD_STATE;
        sigs_to_cert(&s, e->height, e->hash, &cert);
        store_put(p, e->height, e->hash, blk, bl, &cert);
        if (p->err)
            return p->err;
    }
    uint64_t h = next_height(p);
    if (p->P.set && p->P.height == h) {
        const struct cons_entry *e = disk_entry(disk, h, p->P.hash);
        if (e && !(p->p_data = dup_bytes(e->data, e->len)))
            return CONS_ERR_NOMEM;
        p->p_len = e ? e->len : 0;
    } else if (p->P.set) {
        memset(&p->P, 0, sizeof p->P);
    }
    if (p->acc.set && p->acc.height == h && p->acc.view == p->view && p->active) {
        const struct cons_entry *e = disk_entry(disk, h, p->acc.hash);
        if (e) {
            if (!(p->fl.data = dup_bytes(e->data, e->len)))
                return CONS_ERR_NOMEM;
            p->fl.have_pp = true;
            p->fl.view = p->view;
            p->fl.len = e->len;
            memcpy(p->fl.hash, p->acc.hash, CONS_HASH_BYTES);
            memcpy(p->fl.pp_sig, p->acc.pp_sig, CONS_SIG_BYTES);
            /* executed again on the first tick */
        }
    }
    if (!p->active)
        make_own_vc(p);
    p->timer_on = true;
    return p->err;
}

int cons_pbft_open(struct cons **out, const struct cons_config *cfg, const struct cons_disk *disk)
{
    *out = NULL;
    if (cfg->n < 4 || cfg->round_ticks == 0)
        return CONS_ERR_INVALID_ARG;
    struct pbft *p = calloc(1, sizeof *p);
    if (!p)
        return CONS_ERR_NOMEM;
    cons_base_init(&p->base, &pbft_ops, cfg);
    if (p->base.cfg.round_ticks_max < p->base.cfg.round_ticks)
        p->base.cfg.round_ticks_max = p->base.cfg.round_ticks;
    p->n = cfg->n;
    p->f = (cfg->n - 1) / 3;
    p->q = cons_quorum(CONS_ENGINE_PBFT, cfg->n);
    p->self = cfg->self;
    p->active = true;
    p->timer_on = true;
    p->store = calloc(PB_KEEP, sizeof *p->store);
    p->log = calloc(PB_LOG_MAX, sizeof *p->log);
    if (!p->store || !p->log) {
        pbft_close(&p->base);
        return CONS_ERR_NOMEM;
    }
    int rc = restore(p, disk);
    if (rc) {
        pbft_close(&p->base);
        return rc;
    }
    *out = &p->base;
    return CONS_ERR_OK;
}

/* ---- introspection for tests (declared there; not part of cons.h) ---- */

uint64_t cons_pbft_stable_checkpoint(const struct cons *c);
size_t cons_pbft_log_len(const struct cons *c);
uint32_t cons_pbft_timeout_ticks(const struct cons *c);

uint64_t cons_pbft_stable_checkpoint(const struct cons *c)
{
    return CPB(c)->stable;
}
size_t cons_pbft_log_len(const struct cons *c)
{
    return CPB(c)->log_n;
}
uint32_t cons_pbft_timeout_ticks(const struct cons *c)
{
    return timeout_ticks(CPB(c));
}
