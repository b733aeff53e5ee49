/* cons.c -- dispatch to the engines, the ready buffers, certificates, the PRNG. */
#include "cons_impl.h"

#include <stdlib.h>

const char *cons_strerror(int err)
{
    switch (err) {
#define CONS_MSG_(name, code, msg)                                                             \
    case code: return msg;
        CONS_ERRORS(CONS_MSG_)
#undef CONS_MSG_
    default: return "unknown consensus error";
    }
}

const char *cons_err_name(int err)
{
    switch (err) {
#define CONS_NAME_(name, code, msg)                                                            \
    case code: return #name;
        CONS_ERRORS(CONS_NAME_)
#undef CONS_NAME_
    default: return "UNKNOWN";
    }
}

/* ---- PRNG ---- */

uint64_t cons_rand(struct cons *c)
{
    uint64_t z = (c->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t cons_rand_below(struct cons *c, uint64_t n)
{
    return n ? cons_rand(c) % n : 0;
}

/* ---- arena ---- */

struct cons_arena_chunk {
    struct cons_arena_chunk *next;
    size_t used, cap;
    _Alignas(16) uint8_t data[];
};

void *cons_alloc(struct cons *c, size_t n)
{
    n = (n + 15u) & ~(size_t)15u;
    struct cons_arena_chunk *k = c->arena.head;
    if (!k || k->cap - k->used < n) {
        size_t cap = n > 16384u ? n : 16384u;
        k = malloc(sizeof *k + cap);
        if (!k)
            return NULL;
        k->cap = cap;
        k->used = 0;
        k->next = c->arena.head;
        c->arena.head = k;
    }
    void *p = k->data + k->used;
    k->used += n;
    return p;
}

static void arena_reset(struct cons *c)
{
    struct cons_arena_chunk *k = c->arena.head;
    while (k) {
        struct cons_arena_chunk *next = k->next;
        free(k);
        k = next;
    }
    c->arena.head = NULL;
}

void cons_base_init(struct cons *c, const struct cons_ops *ops, const struct cons_config *cfg)
{
    memset(c, 0, sizeof *c);
    c->ops = ops;
    c->cfg = *cfg;
    c->rng = cfg->seed ^ (0x5bd1e995ULL * (cfg->self + 1));
}

void cons_base_deinit(struct cons *c)
{
    arena_reset(c);
}

/* Grow one of the ready's arrays inside the arena (copy on growth). */
static void *grow(struct cons *c, void *arr, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : 8;
    void *p = cons_alloc(c, ncap * elem);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, arr, n * elem);
    *cap = ncap;
    return p;
}

int cons_ready_msg(struct cons *c, struct cons_ready *out, uint32_t to, const uint8_t *data, size_t len)
{
    struct cons_out_msg *m = grow(c, out->msgs, out->n_msgs, &c->cap_msgs, sizeof *m);
    uint8_t *copy = cons_alloc(c, len ? len : 1);
    if (!m || !copy)
        return CONS_ERR_NOMEM;
    memcpy(copy, data, len);
    out->msgs = m;
    m[out->n_msgs++] = (struct cons_out_msg){to, copy, len};
    return CONS_ERR_OK;
}

int cons_ready_entry(struct cons *c, struct cons_ready *out, const struct cons_entry *e)
{
    struct cons_entry *arr = grow(c, out->entries, out->n_entries, &c->cap_entries, sizeof *arr);
    uint8_t *copy = cons_alloc(c, e->len ? e->len : 1);
    if (!arr || !copy)
        return CONS_ERR_NOMEM;
    memcpy(copy, e->data, e->len);
    out->entries = arr;
    arr[out->n_entries] = *e;
    arr[out->n_entries].data = copy;
    out->n_entries++;
    return CONS_ERR_OK;
}

int cons_ready_execute(struct cons *c, struct cons_ready *out, const struct cons_block *b)
{
    struct cons_block *arr = grow(c, out->execute, out->n_execute, &c->cap_execute, sizeof *arr);
    uint8_t *copy = cons_alloc(c, b->len ? b->len : 1);
    if (!arr || !copy)
        return CONS_ERR_NOMEM;
    memcpy(copy, b->data, b->len);
    out->execute = arr;
    arr[out->n_execute] = *b;
    arr[out->n_execute].data = copy;
    out->n_execute++;
    return CONS_ERR_OK;
}

int cons_ready_commit(struct cons *c, struct cons_ready *out, const struct cons_block *b,
                      const struct cons_cert *cert)
{
    struct cons_commit *arr = grow(c, out->committed, out->n_committed, &c->cap_committed, sizeof *arr);
    uint8_t *copy = cons_alloc(c, b->len ? b->len : 1);
    if (!arr || !copy)
        return CONS_ERR_NOMEM;
    memcpy(copy, b->data, b->len);
    out->committed = arr;
    arr[out->n_committed].block = *b;
    arr[out->n_committed].block.data = copy;
    arr[out->n_committed].cert = *cert;
    out->n_committed++;
    return CONS_ERR_OK;
}

void cons_ready_hard_state(struct cons_ready *out, const uint8_t *bytes, size_t len)
{
    assert(len <= CONS_HARD_STATE_MAX_BYTES);
    memcpy(out->hard_state, bytes, len);
    out->hard_state_len = len;
    out->hard_state_changed = true;
}

/* ---- dispatch ---- */

static void ready_clear(struct cons *c, struct cons_ready *out)
{
    memset(out, 0, sizeof *out);
    c->cap_msgs = c->cap_entries = c->cap_execute = c->cap_committed = 0;
}

int cons_open(struct cons **out, const struct cons_config *cfg, const struct cons_disk *disk)
{
    *out = NULL;
    if (!cfg || cfg->n == 0 || cfg->n > CONS_NODES_MAX || cfg->self >= cfg->n || !cfg->crypto.sign ||
        !cfg->crypto.verify || !cfg->crypto.block_hash)
        return CONS_ERR_INVALID_ARG;
#ifndef CONS_TEST_BUGS
    if (cfg->bugs)
        return CONS_ERR_INVALID_ARG;
#endif
    static const struct cons_disk empty = {0};
    if (!disk)
        disk = &empty;
    switch (cfg->engine) {
    case CONS_ENGINE_RAFT: return cons_raft_open(out, cfg, disk);
    case CONS_ENGINE_PBFT: return cfg->n >= 4 ? cons_pbft_open(out, cfg, disk) : CONS_ERR_INVALID_ARG;
    default: return CONS_ERR_INVALID_ARG;
    }
}

void cons_close(struct cons *c)
{
    if (c)
        c->ops->close(c);
}

void cons_tick(struct cons *c, struct cons_ready *out)
{
    ready_clear(c, out);
    c->ops->tick(c, out);
}

int cons_step(struct cons *c, uint32_t from, const uint8_t *msg, size_t len, struct cons_ready *out)
{
    ready_clear(c, out);
    if (from >= c->cfg.n || from == c->cfg.self)
        return CONS_ERR_MSG_BAD_SENDER;
    if (len > CONS_MSG_MAX_BYTES)
        return CONS_ERR_MSG_TOO_LARGE;
    return c->ops->step(c, from, msg, len, out);
}

int cons_propose(struct cons *c, const struct cons_block *b, struct cons_ready *out)
{
    ready_clear(c, out);
    return c->ops->propose(c, b, out);
}

int cons_executed(struct cons *c, uint64_t height, const uint8_t hash[CONS_HASH_BYTES], bool valid,
                  struct cons_ready *out)
{
    ready_clear(c, out);
    return c->ops->executed(c, height, hash, valid, out);
}

void cons_advance(struct cons *c, struct cons_ready *done)
{
    arena_reset(c);
    ready_clear(c, done);
}

void cons_status(const struct cons *c, struct cons_status *st)
{
    memset(st, 0, sizeof *st);
    c->ops->status(c, st);
}

size_t cons_evidence(const struct cons *c, struct cons_evidence *out, size_t max)
{
    return c->ops->evidence ? c->ops->evidence(c, out, max) : 0;
}

int cons_equivocate(struct cons *c, const uint8_t *msg, size_t len, uint64_t salt, uint8_t *out,
                    size_t *out_len)
{
    if (!c->ops->equivocate)
        return CONS_ERR_INVALID_ARG;
    return c->ops->equivocate(c, msg, len, salt, out, out_len);
}

/* ---- votes and certificates ---- */

void cons_vote_msg(uint8_t out[CONS_VOTE_MSG_BYTES], uint64_t height, const uint8_t hash[CONS_HASH_BYTES])
{
    static const char tag[16] = "gridledger-vote"; /* 15 chars + NUL */
    memcpy(out, tag, 16);
    cons_put64(out + 16, height);
    memcpy(out + 24, hash, CONS_HASH_BYTES);
}

uint32_t cons_quorum(enum cons_engine e, uint32_t n)
{
    /* Raft: a majority.  PBFT: more than two thirds, i.e. n - f for
     * n = 3f+1, which any two quorums overlap in f+1 validators. */
    return e == CONS_ENGINE_RAFT ? n / 2 + 1 : (2 * n) / 3 + 1;
}

void cons_sign_vote(struct cons *c, uint64_t height, const uint8_t hash[CONS_HASH_BYTES],
                    uint8_t sig[CONS_SIG_BYTES])
{
    uint8_t m[CONS_VOTE_MSG_BYTES];
    cons_vote_msg(m, height, hash);
    c->cfg.crypto.sign(c->cfg.crypto.ctx, m, sizeof m, sig);
}

bool cons_verify_vote(const struct cons *c, uint32_t signer, uint64_t height,
                      const uint8_t hash[CONS_HASH_BYTES], const uint8_t sig[CONS_SIG_BYTES])
{
    uint8_t m[CONS_VOTE_MSG_BYTES];
    if (signer >= c->cfg.n)
        return false;
    cons_vote_msg(m, height, hash);
    return c->cfg.crypto.verify(c->cfg.crypto.ctx, c->cfg.keys[signer], m, sizeof m, sig);
}

int cons_cert_check(enum cons_engine e, uint32_t n, const uint8_t keys[][CONS_KEY_BYTES],
                    const struct cons_cert *cert,
                    bool (*verify)(void *ctx, const uint8_t key[CONS_KEY_BYTES], const uint8_t *msg,
                                   size_t len, const uint8_t sig[CONS_SIG_BYTES]),
                    void *ctx)
{
    uint8_t m[CONS_VOTE_MSG_BYTES];
    bool seen[CONS_NODES_MAX] = {false};
    uint32_t good = 0;
    if (n == 0 || n > CONS_NODES_MAX || cert->n_sigs > CONS_NODES_MAX ||
        (e != CONS_ENGINE_RAFT && e != CONS_ENGINE_PBFT))
        return CONS_ERR_CERT_INVALID;
    cons_vote_msg(m, cert->height, cert->hash);
    for (uint32_t i = 0; i < cert->n_sigs; i++) {
        uint32_t s = cert->sigs[i].signer;
        if (s >= n || seen[s])
            return CONS_ERR_CERT_INVALID; /* a certificate lists each signer once */
        seen[s] = true;
        if (!verify(ctx, keys[s], m, sizeof m, cert->sigs[i].sig))
            return CONS_ERR_CERT_INVALID;
        good++;
    }
    return good >= cons_quorum(e, n) ? CONS_ERR_OK : CONS_ERR_CERT_INVALID;
}
