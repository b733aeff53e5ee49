/* chain_state.c -- LMDB store and the in-memory write-set of block execution. */
#include "chain_state.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chain_proof.h"

int chain_store_err(int mdb_rc)
{
    switch (mdb_rc) {
    case MDB_SUCCESS: return CHAIN_ERR_OK;
    case MDB_NOTFOUND: return CHAIN_ERR_NOT_FOUND;
    case MDB_MAP_FULL: return CHAIN_ERR_STORE_FULL;
    case ENOMEM: return CHAIN_ERR_NOMEM;
    default: return CHAIN_ERR_STORE;
    }
}

static int open_dbi(MDB_txn *txn, const char *name, MDB_dbi *dbi)
{
    int rc = mdb_dbi_open(txn, name, MDB_CREATE, dbi);
    if (rc) {
        fprintf(stderr, "chain: cannot open database %s: %s\n", name, mdb_strerror(rc));
        return chain_store_err(rc);
    }
    return CHAIN_ERR_OK;
}

int chain_store_open(struct chain_store *s, const char *dir, const struct chain_store_opts *opts)
{
    MDB_txn *txn = NULL;
    int rc;
    size_t map = opts && opts->map_size ? opts->map_size : (size_t)4 << 30;
    unsigned flags = MDB_NOTLS | (opts && opts->no_sync ? MDB_NOSYNC : 0u);

    memset(s, 0, sizeof *s);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "chain: cannot create data directory %s: %s\n", dir, strerror(errno));
        return CHAIN_ERR_STORE;
    }
    if ((rc = mdb_env_create(&s->env)))
        goto fail_mdb;
    if ((rc = mdb_env_set_maxdbs(s->env, 16)) || (rc = mdb_env_set_mapsize(s->env, map)) ||
        (rc = mdb_env_set_maxreaders(s->env, 126)))
        goto fail_mdb;
    if ((rc = mdb_env_open(s->env, dir, flags, 0600)))
        goto fail_mdb;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)))
        goto fail_mdb;
    int crc;
    if ((crc = open_dbi(txn, "meta", &s->meta)) || (crc = open_dbi(txn, "blocks", &s->blocks)) ||
        (crc = open_dbi(txn, "hashes", &s->hashes)) || (crc = open_dbi(txn, "state", &s->state)) ||
        (crc = open_dbi(txn, "txs", &s->txs)) || (crc = chain_smt_open(txn, &s->smt))) {
        mdb_txn_abort(txn);
        chain_store_close(s);
        return crc;
    }
    if ((rc = mdb_txn_commit(txn)))
        goto fail_mdb;
    return CHAIN_ERR_OK;
fail_mdb:
    fprintf(stderr, "chain: cannot open store in %s: %s\n", dir, mdb_strerror(rc));
    chain_store_close(s);
    return chain_store_err(rc) == CHAIN_ERR_NOT_FOUND ? CHAIN_ERR_STORE : chain_store_err(rc);
}

void chain_store_close(struct chain_store *s)
{
    if (s && s->env)
        mdb_env_close(s->env);
    if (s)
        s->env = NULL;
}

int chain_store_get(const struct chain_store *s, MDB_txn *txn, const void *key, size_t klen,
                    const uint8_t **val, size_t *vlen)
{
    MDB_val k = {klen, (void *)key}, v;
    int rc = mdb_get(txn, s->state, &k, &v);
    if (rc)
        return chain_store_err(rc);
    *val = v.mv_data;
    *vlen = v.mv_size;
    return CHAIN_ERR_OK;
}

/* ---- arena: bump allocation in 64 KiB chunks, freed with the write-set ---- */

struct chain_arena_chunk {
    struct chain_arena_chunk *next;
    size_t used, cap;
    _Alignas(16) uint8_t data[];
};

void *chain_ws_alloc(struct chain_ws *ws, size_t n)
{
    n = (n + 15u) & ~(size_t)15u;
    struct chain_arena_chunk *c = ws->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536u ? n : 65536u;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = ws->arena;
        ws->arena = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

void chain_ws_init(struct chain_ws *ws)
{
    memset(ws, 0, sizeof *ws);
}

void chain_ws_deinit(struct chain_ws *ws)
{
    if (!ws)
        return;
    free(ws->entries);
    free(ws->table);
    free(ws->journal);
    struct chain_arena_chunk *c = ws->arena;
    while (c) {
        struct chain_arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    memset(ws, 0, sizeof *ws);
}

static uint64_t slot_of(const uint8_t h[CHAIN_HASH_BYTES])
{
    uint64_t x;
    memcpy(&x, h, sizeof x);
    return x;
}

static int table_grow(struct chain_ws *ws)
{
    size_t cap = ws->table_cap ? ws->table_cap * 2 : 1024;
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t)
        return CHAIN_ERR_NOMEM;
    for (size_t i = 0; i < ws->nentries; i++) {
        size_t s = (size_t)slot_of(ws->entries[i].key_hash) & (cap - 1);
        while (t[s])
            s = (s + 1) & (cap - 1);
        t[s] = (uint32_t)(i + 1);
    }
    free(ws->table);
    ws->table = t;
    ws->table_cap = cap;
    return CHAIN_ERR_OK;
}

/* The state key hash of key: from the memo of recent keys, or computed and
 * remembered there. */
static const uint8_t *key_hash_of(struct chain_ws *ws, const void *key, size_t klen)
{
    assert(klen > 0 && klen <= CHAIN_STATE_KEY_MAX_BYTES);
    for (unsigned i = 0; i < CHAIN_WS_MEMO; i++) {
        const struct chain_ws_memo *m = &ws->memo[i];
        if (m->key_len == klen && memcmp(m->key, key, klen) == 0)
            return m->key_hash;
    }
    struct chain_ws_memo *m = &ws->memo[ws->memo_next];
    ws->memo_next = (ws->memo_next + 1u) % CHAIN_WS_MEMO;
    m->key_len = (uint32_t)klen;
    memcpy(m->key, key, klen);
    chain_state_key_hash(m->key_hash, key, klen);
    return m->key_hash;
}

/* Find the entry for key (hash computed here), creating a PASS entry when
 * absent.  Returns its index, -1 on out of memory, -2 when absent and not
 * created. */
static long ws_find(struct chain_ws *ws, const void *key, size_t klen, bool create)
{
    if (klen == 0 || klen > CHAIN_STATE_KEY_MAX_BYTES)
        return -2; /* never recorded (ws_record refuses such sizes) */
    uint8_t h[CHAIN_HASH_BYTES];
    memcpy(h, key_hash_of(ws, key, klen), CHAIN_HASH_BYTES);
    if (ws->table_cap) {
        size_t s = (size_t)slot_of(h) & (ws->table_cap - 1);
        while (ws->table[s]) {
            struct chain_ws_entry *e = &ws->entries[ws->table[s] - 1];
            if (e->key_len == klen && memcmp(e->key_hash, h, CHAIN_HASH_BYTES) == 0 &&
                memcmp(e->key, key, klen) == 0)
                return (long)ws->table[s] - 1;
            s = (s + 1) & (ws->table_cap - 1);
        }
    }
    if (!create)
        return -2;
    if ((ws->nentries + 1) * 2 > ws->table_cap && table_grow(ws))
        return -1;
    if (ws->nentries == ws->cap_entries) {
        size_t cap = ws->cap_entries ? ws->cap_entries * 2 : 512;
        struct chain_ws_entry *e = realloc(ws->entries, cap * sizeof *e);
        if (!e)
            return -1;
        ws->entries = e;
        ws->cap_entries = cap;
    }
    uint8_t *kcopy = chain_ws_alloc(ws, klen);
    if (!kcopy)
        return -1;
    memcpy(kcopy, key, klen);
    struct chain_ws_entry *e = &ws->entries[ws->nentries];
    memcpy(e->key_hash, h, CHAIN_HASH_BYTES);
    e->key = kcopy;
    e->key_len = (uint32_t)klen;
    e->val = NULL;
    e->val_len = 0;
    e->st = CHAIN_WS_PASS;
    size_t s = (size_t)slot_of(h) & (ws->table_cap - 1);
    while (ws->table[s])
        s = (s + 1) & (ws->table_cap - 1);
    ws->table[s] = (uint32_t)(ws->nentries + 1);
    return (long)ws->nentries++;
}

size_t chain_ws_mark(const struct chain_ws *ws)
{
    return ws->njournal;
}

void chain_ws_rollback(struct chain_ws *ws, size_t mark)
{
    assert(mark <= ws->njournal);
    while (ws->njournal > mark) {
        struct chain_ws_undo *u = &ws->journal[--ws->njournal];
        struct chain_ws_entry *e = &ws->entries[u->entry];
        e->st = u->st;
        e->val = u->val;
        e->val_len = u->val_len;
    }
}

static int ws_record(struct chain_ws *ws, const void *key, size_t klen, const void *val, size_t vlen,
                     enum chain_ws_state st)
{
    if (klen == 0 || klen > CHAIN_STATE_KEY_MAX_BYTES || vlen > CHAIN_STATE_VALUE_MAX_BYTES)
        return CHAIN_ERR_INVALID_ARG;
    long i = ws_find(ws, key, klen, true);
    if (i < 0)
        return CHAIN_ERR_NOMEM;
    if (ws->njournal == ws->cap_journal) {
        size_t cap = ws->cap_journal ? ws->cap_journal * 2 : 1024;
        struct chain_ws_undo *j = realloc(ws->journal, cap * sizeof *j);
        if (!j)
            return CHAIN_ERR_NOMEM;
        ws->journal = j;
        ws->cap_journal = cap;
    }
    struct chain_ws_entry *e = &ws->entries[i];
    ws->journal[ws->njournal++] =
        (struct chain_ws_undo){(uint32_t)i, e->st, e->val, e->val_len};
    if (st == CHAIN_WS_SET) {
        uint8_t *copy = chain_ws_alloc(ws, vlen ? vlen : 1);
        if (!copy)
            return CHAIN_ERR_NOMEM;
        if (vlen)
            memcpy(copy, val, vlen);
        e->val = copy;
        e->val_len = (uint32_t)vlen;
    } else {
        e->val = NULL;
        e->val_len = 0;
    }
    e->st = st;
    return CHAIN_ERR_OK;
}

int chain_state_get(struct chain_exec_ctx *ctx, const void *key, size_t klen, const uint8_t **val,
                    size_t *vlen)
{
    long i = ws_find(ctx->ws, key, klen, false);
    if (i >= 0) {
        const struct chain_ws_entry *e = &ctx->ws->entries[i];
        if (e->st == CHAIN_WS_SET) {
            *val = e->val;
            *vlen = e->val_len;
            return CHAIN_ERR_OK;
        }
        if (e->st == CHAIN_WS_DEL)
            return CHAIN_ERR_NOT_FOUND;
    }
    return chain_store_get(ctx->store, ctx->snap, key, klen, val, vlen);
}

int chain_state_put(struct chain_exec_ctx *ctx, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    return ws_record(ctx->ws, key, klen, val, vlen, CHAIN_WS_SET);
}

int chain_state_del(struct chain_exec_ctx *ctx, const void *key, size_t klen)
{
    return ws_record(ctx->ws, key, klen, NULL, 0, CHAIN_WS_DEL);
}

int chain_state_get_msg(struct chain_exec_ctx *ctx, const void *key, size_t klen,
                        const ProtobufCMessageDescriptor *desc, ProtobufCMessage **msg)
{
    const uint8_t *v;
    size_t n;
    int rc = chain_state_get(ctx, key, klen, &v, &n);
    if (rc)
        return rc;
    rc = chain_pb_unpack(desc, v, n, CHAIN_STATE_VALUE_MAX_BYTES, msg);
    if (rc) {
        fprintf(stderr, "chain: state value of type %s does not decode: %s\n", desc->name,
                chain_strerror(rc));
        return CHAIN_ERR_STORE;
    }
    return CHAIN_ERR_OK;
}

int chain_state_put_msg(struct chain_exec_ctx *ctx, const void *key, size_t klen,
                        const ProtobufCMessage *msg)
{
    uint8_t buf[1024];
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > CHAIN_STATE_VALUE_MAX_BYTES)
        return CHAIN_ERR_INVALID_ARG;
    if (n <= sizeof buf) {
        protobuf_c_message_pack(msg, buf);
        return chain_state_put(ctx, key, klen, buf, n);
    }
    uint8_t *heap = malloc(n);
    if (!heap)
        return CHAIN_ERR_NOMEM;
    protobuf_c_message_pack(msg, heap);
    int rc = chain_state_put(ctx, key, klen, heap, n);
    free(heap);
    return rc;
}
