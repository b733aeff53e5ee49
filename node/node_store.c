/* node_store.c -- the consensus hard state, log and certificates in LMDB. */
#include "node_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chain_err.h"
#include "node_msg.h"

static const char HARD_KEY[] = "hard";

static void be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t rd64(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

static int lmdb_err(int rc, const char *what)
{
    if (rc == MDB_NOTFOUND)
        return CHAIN_ERR_NOT_FOUND;
    fprintf(stderr, "gridnode: consensus store: %s: %s\n", what, mdb_strerror(rc));
    return rc == MDB_MAP_FULL ? CHAIN_ERR_STORE_FULL : CHAIN_ERR_STORE;
}

int node_store_open(struct node_store *s, const char *dir, bool no_sync)
{
    MDB_txn *txn = NULL;
    int rc;
    memset(s, 0, sizeof *s);
    if (mkdir(dir, 0700) != 0) {
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "gridnode: cannot create %s\n", dir);
            return CHAIN_ERR_STORE;
        }
    }
    if ((rc = mdb_env_create(&s->env)))
        return lmdb_err(rc, "create");
    if ((rc = mdb_env_set_maxdbs(s->env, 4)) || (rc = mdb_env_set_mapsize(s->env, (size_t)8 << 30)))
        goto fail;
    if ((rc = mdb_env_open(s->env, dir, MDB_NOTLS | (no_sync ? MDB_NOSYNC : 0u), 0600)))
        goto fail;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->meta)) ||
        (rc = mdb_dbi_open(txn, "log", MDB_CREATE, &s->log)) ||
        (rc = mdb_dbi_open(txn, "certs", MDB_CREATE, &s->certs)))
        goto fail;
    if ((rc = mdb_txn_commit(txn))) {
        txn = NULL;
        goto fail;
    }
    return CHAIN_ERR_OK;
fail:
    if (txn)
        mdb_txn_abort(txn);
    fprintf(stderr, "gridnode: cannot open the consensus store in %s: %s\n", dir, mdb_strerror(rc));
    mdb_env_close(s->env);
    s->env = NULL;
    return CHAIN_ERR_STORE;
}

void node_store_close(struct node_store *s)
{
    if (s && s->env) {
        mdb_env_close(s->env);
        s->env = NULL;
    }
}

void node_store_disk_free(struct node_store_disk *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->disk.n_entries; i++)
        free((void *)d->entries[i].data);
    free(d->entries);
    free(d->hard);
    memset(d, 0, sizeof *d);
}

int node_store_load(struct node_store *s, struct node_store_disk *out)
{
    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    MDB_val k = {sizeof HARD_KEY - 1, (void *)HARD_KEY}, v;
    size_t cap = 0;
    memset(out, 0, sizeof *out);
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lmdb_err(rc, "read");
    rc = mdb_get(txn, s->meta, &k, &v);
    if (rc == 0) {
        if (v.mv_size > CONS_HARD_STATE_MAX_BYTES ||
            !(out->hard = malloc(v.mv_size ? v.mv_size : 1))) {
            rc = CHAIN_ERR_STORE;
            goto done;
        }
        memcpy(out->hard, v.mv_data, v.mv_size);
        out->disk.hard_state = out->hard;
        out->disk.hard_state_len = v.mv_size;
    } else if (rc != MDB_NOTFOUND) {
        rc = lmdb_err(rc, "read hard state");
        goto done;
    }
    if ((rc = mdb_cursor_open(txn, s->log, &cur))) {
        rc = lmdb_err(rc, "cursor");
        goto done;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || v.mv_size < 40) {
            fprintf(stderr, "gridnode: consensus store: a log record is damaged\n");
            rc = CHAIN_ERR_STORE;
            goto done;
        }
        if (out->disk.n_entries == cap) {
            cap = cap ? 2 * cap : 64;
            struct cons_entry *e = realloc(out->entries, cap * sizeof *e);
            if (!e) {
                rc = CHAIN_ERR_NOMEM;
                goto done;
            }
            out->entries = e;
        }
        struct cons_entry *e = &out->entries[out->disk.n_entries];
        const uint8_t *p = v.mv_data;
        e->height = rd64(k.mv_data);
        e->term = rd64(p);
        memcpy(e->hash, p + 8, CONS_HASH_BYTES);
        e->len = v.mv_size - 40;
        uint8_t *d = malloc(e->len ? e->len : 1);
        if (!d) {
            rc = CHAIN_ERR_NOMEM;
            goto done;
        }
        memcpy(d, p + 40, e->len);
        e->data = d;
        out->disk.n_entries++;
    }
    rc = rc == MDB_NOTFOUND ? CHAIN_ERR_OK : lmdb_err(rc, "read log");
done:
    if (cur)
        mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    out->disk.entries = out->entries;
    if (rc)
        node_store_disk_free(out);
    return rc;
}

/* Delete every log record at or above height. */
static int drop_from(struct node_store *s, MDB_txn *txn, uint64_t height)
{
    MDB_cursor *cur;
    uint8_t kb[8];
    be64(kb, height);
    MDB_val k = {8, kb}, v;
    int rc = mdb_cursor_open(txn, s->log, &cur);
    if (rc)
        return rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
        if ((rc = mdb_cursor_del(cur, 0)))
            break;
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int put_cert(struct node_store *s, MDB_txn *txn, const struct cons_cert *c)
{
    uint8_t kb[8], *buf;
    size_t len;
    int rc = node_cert_encode(c, &buf, &len);
    if (rc)
        return rc;
    be64(kb, c->height);
    MDB_val k = {8, kb}, v = {len, buf};
    rc = mdb_put(txn, s->certs, &k, &v, 0);
    free(buf);
    return rc ? lmdb_err(rc, "write certificate") : CHAIN_ERR_OK;
}

int node_store_persist(struct node_store *s, const struct cons_ready *r)
{
    if (!r->hard_state_changed && !r->truncate_from && !r->n_entries && !r->n_committed)
        return CHAIN_ERR_OK;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return lmdb_err(rc, "begin");
    if (r->hard_state_changed) {
        MDB_val k = {sizeof HARD_KEY - 1, (void *)HARD_KEY},
                v = {r->hard_state_len, (void *)r->hard_state};
        if ((rc = mdb_put(txn, s->meta, &k, &v, 0)))
            goto fail;
    }
    if (r->truncate_from && (rc = drop_from(s, txn, r->truncate_from)))
        goto fail;
    for (size_t i = 0; i < r->n_entries; i++) {
        const struct cons_entry *e = &r->entries[i];
        uint8_t kb[8];
        if ((rc = drop_from(s, txn, e->height)))
            goto fail;
        be64(kb, e->height);
        MDB_val k = {8, kb}, v = {40 + e->len, NULL};
        if ((rc = mdb_put(txn, s->log, &k, &v, MDB_RESERVE)))
            goto fail;
        uint8_t *p = v.mv_data;
        be64(p, e->term);
        memcpy(p + 8, e->hash, CONS_HASH_BYTES);
        if (e->len)
            memcpy(p + 40, e->data, e->len);
    }
    for (size_t i = 0; i < r->n_committed; i++) {
        int crc = put_cert(s, txn, &r->committed[i].cert);
        if (crc) {
            mdb_txn_abort(txn);
            return crc;
        }
    }
    if ((rc = mdb_txn_commit(txn)))
        return lmdb_err(rc, "commit");
    return CHAIN_ERR_OK;
fail:
    mdb_txn_abort(txn);
    return lmdb_err(rc, "write");
}

int node_store_put_cert(struct node_store *s, const struct cons_cert *c)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return lmdb_err(rc, "begin");
    if ((rc = put_cert(s, txn, c))) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((rc = mdb_txn_commit(txn)))
        return lmdb_err(rc, "commit");
    return CHAIN_ERR_OK;
}

int node_store_get_cert(struct node_store *s, uint64_t height, struct cons_cert *out)
{
    MDB_txn *txn;
    uint8_t kb[8];
    be64(kb, height);
    MDB_val k = {8, kb}, v;
    memset(out, 0, sizeof *out);
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lmdb_err(rc, "read");
    rc = mdb_get(txn, s->certs, &k, &v);
    if (rc == 0)
        rc = node_cert_decode(v.mv_data, v.mv_size, out) ? CHAIN_ERR_STORE : CHAIN_ERR_OK;
    else
        rc = lmdb_err(rc, "read certificate");
    mdb_txn_abort(txn);
    return rc;
}

int node_store_prune_log(struct node_store *s, uint64_t below)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return lmdb_err(rc, "begin");
    if ((rc = mdb_cursor_open(txn, s->log, &cur))) {
        mdb_txn_abort(txn);
        return lmdb_err(rc, "cursor");
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || rd64(k.mv_data) >= below)
            break;
        if ((rc = mdb_cursor_del(cur, 0)))
            break;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return lmdb_err(rc, "prune");
    }
    if ((rc = mdb_txn_commit(txn)))
        return lmdb_err(rc, "commit");
    return CHAIN_ERR_OK;
}
