/* node_mempool.c -- bounded mempool with off-loop signature verification. */
#include "node_mempool.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chain_crypto.h"

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- a table keyed by 32 bytes (tx hash or account key) ---- */

struct tab {
    void **slots;           /* entry pointers; TOMB marks a deleted slot */
    size_t cap, used, live; /* used counts tombstones too */
    const uint8_t *(*key)(const void *entry);
    uint8_t sip[crypto_shorthash_KEYBYTES];
};
static char tomb_;
#define TOMB ((void *)&tomb_)

static size_t tab_hash(const struct tab *t, const uint8_t *k)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, k, 32, t->sip);
    uint64_t v;
    memcpy(&v, h, 8);
    return (size_t)v;
}

static int tab_init(struct tab *t, const uint8_t *(*key)(const void *))
{
    memset(t, 0, sizeof *t);
    t->key = key;
    t->cap = 64;
    t->slots = calloc(t->cap, sizeof *t->slots);
    randombytes_buf(t->sip, sizeof t->sip); /* hash flooding: keys come from outside */
    return t->slots ? 0 : -1;
}

static void *tab_get(const struct tab *t, const uint8_t *k)
{
    for (size_t i = tab_hash(t, k) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        void *e = t->slots[i];
        if (!e)
            return NULL;
        if (e != TOMB && !memcmp(t->key(e), k, 32))
            return e;
    }
}

static int tab_put(struct tab *t, void *e);

static int tab_grow(struct tab *t)
{
    size_t ncap = t->live * 4 > t->cap ? t->cap * 2 : t->cap;
    void **old = t->slots;
    size_t ocap = t->cap;
    void **ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    t->slots = ns;
    t->cap = ncap;
    t->used = t->live = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i] && old[i] != TOMB)
            (void)tab_put(t, old[i]);
    free(old);
    return 0;
}

/* Precondition: no entry with the same key. */
static int tab_put(struct tab *t, void *e)
{
    if ((t->used + 1) * 2 > t->cap && tab_grow(t))
        return -1;
    size_t i = tab_hash(t, t->key(e)) & (t->cap - 1);
    while (t->slots[i] && t->slots[i] != TOMB)
        i = (i + 1) & (t->cap - 1);
    if (!t->slots[i])
        t->used++;
    t->slots[i] = e;
    t->live++;
    return 0;
}

static void tab_del(struct tab *t, const uint8_t *k)
{
    for (size_t i = tab_hash(t, k) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        void *e = t->slots[i];
        if (!e)
            return;
        if (e != TOMB && !memcmp(t->key(e), k, 32)) {
            t->slots[i] = TOMB;
            t->live--;
            return;
        }
    }
}

/* ---- entries ---- */

struct mp_acct;

struct mp_tx {
    uint8_t hash[CHAIN_HASH_BYTES];
    uint8_t signer[CHAIN_PK_BYTES];
    uint64_t nonce;
    uint8_t *bytes;
    size_t len;
    bool admitted;        /* false while being verified */
    atomic_bool verified; /* set by the loop: the signature is known good (sigcache
                             or a committed block), the worker only decodes */
    struct mp_acct *acct;
    uint64_t admitted_ms;      /* monotonic, for re-gossip */
    struct mp_tx *prev, *next; /* arrival order of admitted txs */
};

struct mp_acct {
    uint8_t pk[CHAIN_PK_BYTES];
    uint64_t committed; /* committed nonce as of nonce_epoch */
    uint64_t nonce_epoch;
    uint64_t sel;       /* selection that took this account */
    struct mp_tx **txs; /* sorted by nonce */
    size_t n, cap;
};

struct mp_job {
    struct mp_job *next;
    struct mp_tx *tx; /* owned by the pool table while pending */
    void *tag;
    int rc;
};

struct node_mempool {
    struct node_mempool_cfg cfg;
    /* the workers compare against this copy: chain_commit rewrites the
     * chain's own chain_id buffer on the loop thread (same bytes, but a
     * reader on another thread could see it half written) */
    char chain_id[CHAIN_CHAIN_ID_MAX_BYTES + 1];
    struct event_base *base;
    struct event *wake_ev;
    int pipe_rd, pipe_wr;
    struct tab txs, accts;
    struct mp_tx *head, *tail;
    size_t count, pending, bytes;
    uint64_t epoch, sel;
    /* workers */
    pthread_t *threads;
    unsigned nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct mp_job *in_head, *in_tail, *out_head, *out_tail;
    bool stop;
};

static const uint8_t *tx_key(const void *e)
{
    return ((const struct mp_tx *)e)->hash;
}
static const uint8_t *acct_key(const void *e)
{
    return ((const struct mp_acct *)e)->pk;
}

/* ---- workers: decode, chain id, signature ---- */

static void verify_job(const struct node_mempool *mp, struct mp_job *j)
{
    struct chain_tx tx;
    int rc = chain_tx_decode(mp->cfg.reg, j->tx->bytes, j->tx->len, &tx);
    if (rc == CHAIN_ERR_OK) {
        if (strcmp(tx.chain_id, mp->chain_id) != 0)
            rc = CHAIN_ERR_WRONG_CHAIN;
        else if (!atomic_load(&j->tx->verified))
            rc = chain_tx_verify(&tx);
        memcpy(j->tx->signer, tx.signer, CHAIN_PK_BYTES);
        j->tx->nonce = tx.nonce;
    }
    chain_tx_deinit(&tx);
    j->rc = rc;
}

static void *worker(void *arg)
{
    struct node_mempool *mp = arg;
    pthread_mutex_lock(&mp->mu);
    for (;;) {
        while (!mp->in_head && !mp->stop)
            pthread_cond_wait(&mp->cv, &mp->mu);
        if (mp->stop)
            break;
        struct mp_job *j = mp->in_head;
        mp->in_head = j->next;
        if (!mp->in_head)
            mp->in_tail = NULL;
        pthread_mutex_unlock(&mp->mu);
        verify_job(mp, j);
        pthread_mutex_lock(&mp->mu);
        j->next = NULL;
        bool was_empty = !mp->out_head;
        if (mp->out_tail)
            mp->out_tail->next = j;
        else
            mp->out_head = j;
        mp->out_tail = j;
        if (was_empty) {
            char b = 1;
            while (write(mp->pipe_wr, &b, 1) < 0 && errno == EINTR) {
            }
        }
    }
    pthread_mutex_unlock(&mp->mu);
    return NULL;
}

/* ---- loop side ---- */

static void tx_free(struct mp_tx *t)
{
    if (t) {
        free(t->bytes);
        free(t);
    }
}

static struct mp_acct *acct_get(struct node_mempool *mp, const uint8_t pk[CHAIN_PK_BYTES])
{
    struct mp_acct *a = tab_get(&mp->accts, pk);
    if (a)
        return a;
    a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    memcpy(a->pk, pk, CHAIN_PK_BYTES);
    a->nonce_epoch = UINT64_MAX; /* not read yet */
    if (tab_put(&mp->accts, a)) {
        free(a);
        return NULL;
    }
    return a;
}

static void acct_maybe_free(struct node_mempool *mp, struct mp_acct *a)
{
    if (a->n == 0) {
        tab_del(&mp->accts, a->pk);
        free(a->txs);
        free(a);
    }
}

static int acct_refresh(struct node_mempool *mp, struct mp_acct *a)
{
    if (a->nonce_epoch == mp->epoch)
        return CHAIN_ERR_OK;
    uint64_t n = 0;
    int rc = mp->cfg.account_nonce ? mp->cfg.account_nonce(mp->cfg.ctx, a->pk, &n) : CHAIN_ERR_OK;
    if (rc)
        return rc;
    a->committed = n;
    a->nonce_epoch = mp->epoch;
    return CHAIN_ERR_OK;
}

/* Remove an admitted tx from everything and free it. */
static void drop_tx(struct node_mempool *mp, struct mp_tx *t, bool free_acct)
{
    struct mp_acct *a = t->acct;
    for (size_t i = 0; i < a->n; i++)
        if (a->txs[i] == t) {
            memmove(&a->txs[i], &a->txs[i + 1], (a->n - i - 1) * sizeof *a->txs);
            a->n--;
            break;
        }
    if (t->prev)
        t->prev->next = t->next;
    else
        mp->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        mp->tail = t->prev;
    tab_del(&mp->txs, t->hash);
    mp->count--;
    mp->bytes -= t->len;
    if (free_acct)
        acct_maybe_free(mp, a);
    tx_free(t);
}

/* Drop txs of a whose nonce is below its committed nonce. */
static void evict_stale(struct node_mempool *mp, struct mp_acct *a)
{
    while (a->n && a->txs[0]->nonce < a->committed)
        drop_tx(mp, a->txs[0], false);
}

/* A verified tx arrives on the loop: admit or refuse it.  Returns the verdict. */
static int admit(struct node_mempool *mp, struct mp_tx *t)
{
    uint64_t ahead = mp->cfg.max_nonce_ahead ? mp->cfg.max_nonce_ahead : 1024;
    struct mp_acct *a = acct_get(mp, t->signer);
    if (!a)
        return CHAIN_ERR_NOMEM;
    int rc = acct_refresh(mp, a);
    if (rc)
        goto refuse;
    if (t->nonce < a->committed) {
        rc = CHAIN_ERR_BAD_NONCE;
        goto refuse;
    }
    if (t->nonce - a->committed >= ahead) {
        rc = NODE_ERR_NONCE_GAP;
        goto refuse;
    }
    /* sorted insert; the same nonce twice is refused */
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a->txs[mid]->nonce < t->nonce)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < a->n && a->txs[lo]->nonce == t->nonce) {
        rc = NODE_ERR_NONCE_TAKEN;
        goto refuse;
    }
    if (a->n == a->cap) {
        size_t nc = a->cap ? 2 * a->cap : 4;
        struct mp_tx **nt = realloc(a->txs, nc * sizeof *nt);
        if (!nt) {
            rc = CHAIN_ERR_NOMEM;
            goto refuse;
        }
        a->txs = nt;
        a->cap = nc;
    }
    memmove(&a->txs[lo + 1], &a->txs[lo], (a->n - lo) * sizeof *a->txs);
    a->txs[lo] = t;
    a->n++;
    t->acct = a;
    t->admitted = true;
    t->admitted_ms = mono_ms();
    t->prev = mp->tail;
    t->next = NULL;
    if (mp->tail)
        mp->tail->next = t;
    else
        mp->head = t;
    mp->tail = t;
    mp->count++;
    return CHAIN_ERR_OK;
refuse:
    acct_maybe_free(mp, a);
    return rc;
}

static void handle_done(struct node_mempool *mp)
{
    pthread_mutex_lock(&mp->mu);
    struct mp_job *j = mp->out_head;
    mp->out_head = mp->out_tail = NULL;
    pthread_mutex_unlock(&mp->mu);
    while (j) {
        struct mp_job *next = j->next;
        struct mp_tx *t = j->tx;
        int rc = j->rc;
        mp->pending--;
        if (rc == CHAIN_ERR_OK && mp->cfg.sigcache)
            chain_sigcache_add(mp->cfg.sigcache, t->hash);
        if (rc == CHAIN_ERR_OK)
            rc = admit(mp, t);
        uint8_t hash[CHAIN_HASH_BYTES];
        memcpy(hash, t->hash, CHAIN_HASH_BYTES);
        if (rc == CHAIN_ERR_OK) {
            if (mp->cfg.on_admitted)
                mp->cfg.on_admitted(mp->cfg.ctx, t->bytes, t->len, j->tag);
        } else {
            tab_del(&mp->txs, t->hash);
            mp->bytes -= t->len;
            tx_free(t);
        }
        if (mp->cfg.on_result)
            mp->cfg.on_result(mp->cfg.ctx, hash, rc, j->tag);
        free(j);
        j = next;
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    handle_done(arg);
}

int node_mempool_open(struct node_mempool **out, struct event_base *base,
                      const struct node_mempool_cfg *cfg)
{
    *out = NULL;
    if (!cfg->reg || !cfg->chain_id || strlen(cfg->chain_id) > CHAIN_CHAIN_ID_MAX_BYTES ||
        cfg->threads == 0 || cfg->max_txs == 0 || cfg->max_bytes == 0)
        return CHAIN_ERR_INVALID_ARG;
    struct node_mempool *mp = calloc(1, sizeof *mp);
    if (!mp)
        return CHAIN_ERR_NOMEM;
    mp->cfg = *cfg;
    memcpy(mp->chain_id, cfg->chain_id, strlen(cfg->chain_id) + 1);
    mp->cfg.chain_id = mp->chain_id;
    mp->base = base;
    mp->pipe_rd = mp->pipe_wr = -1;
    pthread_mutex_init(&mp->mu, NULL);
    pthread_cond_init(&mp->cv, NULL);
    int rc = CHAIN_ERR_NOMEM;
    if (tab_init(&mp->txs, tx_key) || tab_init(&mp->accts, acct_key))
        goto fail;
    int fds[2];
    if (pipe(fds) != 0) {
        rc = NODE_ERR_IO;
        goto fail;
    }
    mp->pipe_rd = fds[0];
    mp->pipe_wr = fds[1];
    fcntl(mp->pipe_rd, F_SETFL, O_NONBLOCK);
    fcntl(mp->pipe_wr, F_SETFL, O_NONBLOCK); /* a full pipe already means "wake up" */
    mp->wake_ev = event_new(base, mp->pipe_rd, EV_READ | EV_PERSIST, on_wake, mp);
    if (!mp->wake_ev || event_add(mp->wake_ev, NULL))
        goto fail;
    mp->threads = calloc(cfg->threads, sizeof *mp->threads);
    if (!mp->threads)
        goto fail;
    for (unsigned i = 0; i < cfg->threads; i++) {
        if (pthread_create(&mp->threads[i], NULL, worker, mp)) {
            rc = NODE_ERR_IO;
            goto fail;
        }
        mp->nthreads++;
    }
    *out = mp;
    return CHAIN_ERR_OK;
fail:
    node_mempool_close(mp);
    return rc;
}

void node_mempool_close(struct node_mempool *mp)
{
    if (!mp)
        return;
    pthread_mutex_lock(&mp->mu);
    mp->stop = true;
    pthread_cond_broadcast(&mp->cv);
    pthread_mutex_unlock(&mp->mu);
    for (unsigned i = 0; i < mp->nthreads; i++)
        pthread_join(mp->threads[i], NULL);
    free(mp->threads);
    struct mp_job *lists[2] = {mp->in_head, mp->out_head};
    for (int k = 0; k < 2; k++)
        for (struct mp_job *j = lists[k], *n; j; j = n) {
            n = j->next;
            tx_free(j->tx);
            free(j);
        }
    for (struct mp_tx *t = mp->head, *n; t; t = n) {
        n = t->next;
        tx_free(t);
    }
    if (mp->accts.slots)
        for (size_t i = 0; i < mp->accts.cap; i++) {
            struct mp_acct *a = mp->accts.slots[i];
            if (a && a != TOMB) {
                free(a->txs);
                free(a);
            }
        }
    free(mp->txs.slots);
    free(mp->accts.slots);
    if (mp->wake_ev)
        event_free(mp->wake_ev);
    if (mp->pipe_rd >= 0)
        close(mp->pipe_rd);
    if (mp->pipe_wr >= 0)
        close(mp->pipe_wr);
    pthread_mutex_destroy(&mp->mu);
    pthread_cond_destroy(&mp->cv);
    free(mp);
}

int node_mempool_submit(struct node_mempool *mp, const uint8_t *tx, size_t len,
                        uint8_t hash[CHAIN_HASH_BYTES], void *tag)
{
    chain_hash(hash, CHAIN_TAG_TX, tx, len);
    if (len == 0 || len > CHAIN_TX_MAX_BYTES)
        return len ? CHAIN_ERR_DECODE_TOO_LARGE : CHAIN_ERR_DECODE_MALFORMED;
    if (tab_get(&mp->txs, hash))
        return NODE_ERR_DUPLICATE;
    if (mp->count + mp->pending + 1 > mp->cfg.max_txs || mp->bytes + len > mp->cfg.max_bytes)
        return NODE_ERR_MEMPOOL_FULL;
    struct mp_tx *t = calloc(1, sizeof *t);
    struct mp_job *j = calloc(1, sizeof *j);
    uint8_t *b = malloc(len);
    if (t)
        memcpy(t->hash, hash, CHAIN_HASH_BYTES);
    if (!t || !j || !b || tab_put(&mp->txs, t) != 0) {
        free(t);
        free(j);
        free(b);
        return CHAIN_ERR_NOMEM;
    }
    memcpy(b, tx, len);
    /* verified before (a block executed it, or a copy came and went): no second check */
    atomic_init(&t->verified, mp->cfg.sigcache && chain_sigcache_has(mp->cfg.sigcache, hash));
    t->bytes = b;
    t->len = len;
    j->tx = t;
    j->tag = tag;
    mp->pending++;
    mp->bytes += len;
    pthread_mutex_lock(&mp->mu);
    if (mp->in_tail)
        mp->in_tail->next = j;
    else
        mp->in_head = j;
    mp->in_tail = j;
    pthread_cond_signal(&mp->cv);
    pthread_mutex_unlock(&mp->mu);
    return CHAIN_ERR_OK;
}

/* Re-read the committed nonce of every account after a commit and drop the
 * transactions whose nonce is now used. */
static void refresh_all(struct node_mempool *mp)
{
    for (size_t i = 0; i < mp->accts.cap; i++) {
        struct mp_acct *a = mp->accts.slots[i];
        if (!a || a == TOMB || a->nonce_epoch == mp->epoch)
            continue;
        if (acct_refresh(mp, a) != CHAIN_ERR_OK)
            continue; /* tried again at the next selection */
        evict_stale(mp, a);
        acct_maybe_free(mp, a); /* only marks the slot: safe while iterating */
    }
}

size_t node_mempool_select(struct node_mempool *mp, size_t max, size_t max_bytes,
                           const uint8_t **txs, size_t *lens)
{
    size_t n = 0, bytes = 0;
    uint64_t sel = ++mp->sel;
    refresh_all(mp);
    for (struct mp_tx *t = mp->head; t && n < max; t = t->next) {
        struct mp_acct *a = t->acct;
        if (a->sel == sel || a->nonce_epoch != mp->epoch)
            continue;
        a->sel = sel;
        uint64_t want = a->committed;
        for (size_t i = 0; i < a->n && n < max; i++) {
            const struct mp_tx *x = a->txs[i];
            if (x->nonce != want || bytes + x->len > max_bytes)
                break;
            txs[n] = x->bytes;
            lens[n] = x->len;
            n++;
            bytes += x->len;
            want++;
        }
    }
    return n;
}

void node_mempool_committed(struct node_mempool *mp, const uint8_t (*hashes)[CHAIN_HASH_BYTES],
                            size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct mp_tx *t = tab_get(&mp->txs, hashes[i]);
        if (t && t->admitted)
            drop_tx(mp, t, true);
        else if (t) /* still queued: the block's execution verified it, the worker need not */
            atomic_store(&t->verified, true);
    }
    mp->epoch++;
}

size_t node_mempool_each(struct node_mempool *mp, uint64_t min_age_ms, size_t max,
                         void (*fn)(void *ctx, const uint8_t *tx, size_t len), void *ctx)
{
    uint64_t now = mono_ms();
    size_t k = 0;
    for (struct mp_tx *t = mp->head; t && k < max; t = t->next) {
        if (now - t->admitted_ms < min_age_ms)
            break; /* arrival order: the rest are younger */
        fn(ctx, t->bytes, t->len);
        k++;
    }
    return k;
}

uint64_t node_mempool_oldest_age_ms(const struct node_mempool *mp)
{
    return mp->head ? mono_ms() - mp->head->admitted_ms : 0;
}

void node_mempool_mark_verified(struct node_mempool *mp, const uint8_t (*hashes)[CHAIN_HASH_BYTES],
                                size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct mp_tx *t = tab_get(&mp->txs, hashes[i]);
        if (t && !t->admitted)
            atomic_store(&t->verified, true);
    }
}

bool node_mempool_has(const struct node_mempool *mp, const uint8_t hash[CHAIN_HASH_BYTES])
{
    const struct mp_tx *t = tab_get(&mp->txs, hash);
    return t && t->admitted;
}

size_t node_mempool_count(const struct node_mempool *mp)
{
    return mp->count;
}
size_t node_mempool_pending(const struct node_mempool *mp)
{
    return mp->pending;
}
size_t node_mempool_bytes(const struct node_mempool *mp)
{
    return mp->bytes;
}

void node_mempool_drain(struct node_mempool *mp)
{
    while (mp->pending) {
        handle_done(mp);
        if (mp->pending)
            event_base_loop(mp->base, EVLOOP_ONCE);
    }
}
