/* mb_queue.c -- the LMDB store-and-forward queue (mb_queue.h).
 *
 * Layout: one environment, two databases.
 *   "readings": slot (8 bytes big-endian, so cursor order = slot order =
 *               nonce order) -> record (below)
 *   "meta":     "pk" -> meter key, "next_nonce" -> u64, "next_slot" -> u64
 * A record: version(1) nonce(8) next_try_ms(8) attempts(4) hash(32)
 *           tx_len(4) tx payload_len(4) payload, integers little-endian. */
#include "mb_queue.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chain_crypto.h"

#define REC_VERSION 1u
#define REC_HEAD    (1u + 8u + 8u + 4u + CHAIN_HASH_BYTES + 4u)

struct mb_queue {
    MDB_env *env;
    MDB_dbi readings, meta;
    uint32_t max_entries;
    uint32_t count;
    uint64_t next_nonce, next_slot;
};

static void put64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}
static void slot_key(uint8_t k[8], uint64_t slot)
{
    for (unsigned i = 0; i < 8; i++)
        k[i] = (uint8_t)(slot >> (56 - 8 * i));
}

static int lmdb_err(const char *what, int rc)
{
    fprintf(stderr, "gridmeter: queue: %s: %s\n", what, mdb_strerror(rc));
    return rc == MDB_MAP_FULL ? MB_ERR_QUEUE_FULL : MB_ERR_QUEUE_STORE;
}

static int meta_get_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t *out)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        *out = 0;
        return MB_ERR_OK;
    }
    if (rc)
        return lmdb_err("read meta", rc);
    if (v.mv_size != 8)
        return MB_ERR_QUEUE_CORRUPT;
    *out = get64(v.mv_data);
    return MB_ERR_OK;
}

static int meta_put_u64(MDB_txn *txn, MDB_dbi dbi, const char *name, uint64_t x)
{
    uint8_t b[8];
    put64(b, x);
    MDB_val k = {strlen(name), (void *)name}, v = {8, b};
    int rc = mdb_put(txn, dbi, &k, &v, 0);
    return rc ? lmdb_err("write meta", rc) : MB_ERR_OK;
}

int mb_queue_open(struct mb_queue **out, const char *dir, uint64_t map_bytes, uint32_t max_entries,
                  const uint8_t pk[static CHAIN_PK_BYTES])
{
    struct mb_queue *q = calloc(1, sizeof *q);
    MDB_txn *txn = NULL;
    int rc, lrc;
    *out = NULL;
    if (!q)
        return MB_ERR_NOMEM;
    q->max_entries = max_entries;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "gridmeter: queue: mkdir %s: %s\n", dir, strerror(errno));
        rc = MB_ERR_IO;
        goto fail;
    }
    if ((lrc = mdb_env_create(&q->env)) || (lrc = mdb_env_set_maxdbs(q->env, 2)) ||
        (lrc = mdb_env_set_mapsize(q->env, (size_t)map_bytes)) ||
        (lrc = mdb_env_open(q->env, dir, MDB_NORDAHEAD, 0600))) {
        rc = lmdb_err(dir, lrc);
        goto fail;
    }
    if ((lrc = mdb_txn_begin(q->env, NULL, 0, &txn)) ||
        (lrc = mdb_dbi_open(txn, "readings", MDB_CREATE, &q->readings)) ||
        (lrc = mdb_dbi_open(txn, "meta", MDB_CREATE, &q->meta))) {
        rc = lmdb_err("open databases", lrc);
        goto fail;
    }
    MDB_val k = {2, "pk"}, v;
    lrc = mdb_get(txn, q->meta, &k, &v);
    if (lrc == MDB_NOTFOUND) {
        v.mv_size = CHAIN_PK_BYTES;
        v.mv_data = (void *)pk;
        if ((lrc = mdb_put(txn, q->meta, &k, &v, 0))) {
            rc = lmdb_err("write meta", lrc);
            goto fail;
        }
    } else if (lrc) {
        rc = lmdb_err("read meta", lrc);
        goto fail;
    } else if (v.mv_size != CHAIN_PK_BYTES || memcmp(v.mv_data, pk, CHAIN_PK_BYTES) != 0) {
        fprintf(stderr, "gridmeter: queue %s belongs to another meter key\n", dir);
        rc = MB_ERR_INVALID_ARG;
        goto fail;
    }
    if ((rc = meta_get_u64(txn, q->meta, "next_nonce", &q->next_nonce)) ||
        (rc = meta_get_u64(txn, q->meta, "next_slot", &q->next_slot)))
        goto fail;
    MDB_stat st;
    if ((lrc = mdb_stat(txn, q->readings, &st))) {
        rc = lmdb_err("stat", lrc);
        goto fail;
    }
    q->count = (uint32_t)st.ms_entries;
    if ((lrc = mdb_txn_commit(txn))) {
        txn = NULL;
        rc = lmdb_err("commit", lrc);
        goto fail;
    }
    *out = q;
    return MB_ERR_OK;
fail:
    if (txn)
        mdb_txn_abort(txn);
    mb_queue_close(q);
    return rc;
}

void mb_queue_close(struct mb_queue *q)
{
    if (!q)
        return;
    if (q->env)
        mdb_env_close(q->env);
    free(q);
}

uint64_t mb_queue_next_nonce(const struct mb_queue *q)
{
    return q->next_nonce;
}
uint64_t mb_queue_next_slot(const struct mb_queue *q)
{
    return q->next_slot;
}
uint32_t mb_queue_count(const struct mb_queue *q)
{
    return q->count;
}

int mb_queue_raise_nonce(struct mb_queue *q, uint64_t nonce)
{
    if (nonce <= q->next_nonce)
        return MB_ERR_OK;
    MDB_txn *txn;
    int lrc, rc;
    if ((lrc = mdb_txn_begin(q->env, NULL, 0, &txn)))
        return lmdb_err("begin", lrc);
    if ((rc = meta_put_u64(txn, q->meta, "next_nonce", nonce))) {
        mdb_txn_abort(txn);
        return rc;
    }
    if ((lrc = mdb_txn_commit(txn)))
        return lmdb_err("commit", lrc);
    q->next_nonce = nonce;
    return MB_ERR_OK;
}

int mb_queue_put(struct mb_queue *q, uint64_t slot, uint64_t nonce, const uint8_t *tx,
                 size_t tx_len, const uint8_t *payload, size_t payload_len, uint64_t now_ms)
{
    if (slot < q->next_slot)
        return MB_ERR_QUEUE_DUPLICATE_SLOT;
    if (nonce != q->next_nonce || tx_len > CHAIN_TX_MAX_BYTES || payload_len > CHAIN_TX_MAX_BYTES)
        return MB_ERR_INVALID_ARG;
    if (q->count >= q->max_entries)
        return MB_ERR_QUEUE_FULL;
    size_t n = REC_HEAD + tx_len + 4 + payload_len;
    uint8_t *rec = malloc(n);
    if (!rec)
        return MB_ERR_NOMEM;
    uint8_t *p = rec;
    *p++ = REC_VERSION;
    put64(p, nonce), p += 8;
    put64(p, now_ms), p += 8;
    put32(p, 0), p += 4;
    chain_hash(p, CHAIN_TAG_TX, tx, tx_len), p += CHAIN_HASH_BYTES;
    put32(p, (uint32_t)tx_len), p += 4;
    memcpy(p, tx, tx_len), p += tx_len;
    put32(p, (uint32_t)payload_len), p += 4;
    memcpy(p, payload, payload_len);
    uint8_t kb[8];
    slot_key(kb, slot);
    MDB_val k = {8, kb}, v = {n, rec};
    MDB_txn *txn = NULL;
    int lrc, rc;
    if ((lrc = mdb_txn_begin(q->env, NULL, 0, &txn))) {
        rc = lmdb_err("begin", lrc);
        txn = NULL;
        goto done;
    }
    if ((lrc = mdb_put(txn, q->readings, &k, &v, MDB_NOOVERWRITE))) {
        rc = lrc == MDB_KEYEXIST ? MB_ERR_QUEUE_DUPLICATE_SLOT : lmdb_err("put", lrc);
        goto done;
    }
    if ((rc = meta_put_u64(txn, q->meta, "next_nonce", nonce + 1)) ||
        (rc = meta_put_u64(txn, q->meta, "next_slot", slot + 1)))
        goto done;
    lrc = mdb_txn_commit(txn); /* fsync: durable before the first send */
    txn = NULL;
    if (lrc) {
        rc = lmdb_err("commit", lrc);
        goto done;
    }
    q->next_nonce = nonce + 1;
    q->next_slot = slot + 1;
    q->count++;
    rc = MB_ERR_OK;
done:
    if (txn)
        mdb_txn_abort(txn);
    free(rec);
    return rc;
}

static int parse_rec(const uint8_t *p, size_t n, uint64_t slot, struct mb_queue_entry *e)
{
    memset(e, 0, sizeof *e);
    if (n < REC_HEAD + 4 || p[0] != REC_VERSION)
        return MB_ERR_QUEUE_CORRUPT;
    e->slot = slot;
    e->nonce = get64(p + 1);
    e->next_try_ms = get64(p + 9);
    e->attempts = get32(p + 17);
    memcpy(e->hash, p + 21, CHAIN_HASH_BYTES);
    size_t tl = get32(p + 21 + CHAIN_HASH_BYTES);
    if (tl > n - REC_HEAD - 4)
        return MB_ERR_QUEUE_CORRUPT;
    size_t pl = get32(p + REC_HEAD + tl);
    if (pl != n - REC_HEAD - 4 - tl)
        return MB_ERR_QUEUE_CORRUPT;
    e->tx = malloc(tl ? tl : 1);
    e->payload = malloc(pl ? pl : 1);
    if (!e->tx || !e->payload) {
        mb_queue_entry_free(e);
        return MB_ERR_NOMEM;
    }
    memcpy(e->tx, p + REC_HEAD, tl);
    e->tx_len = tl;
    memcpy(e->payload, p + REC_HEAD + tl + 4, pl);
    e->payload_len = pl;
    return MB_ERR_OK;
}

int mb_queue_next(struct mb_queue *q, uint64_t from_slot, struct mb_queue_entry *e)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    uint8_t kb[8];
    int lrc, rc;
    memset(e, 0, sizeof *e);
    if ((lrc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn)))
        return lmdb_err("begin", lrc);
    if ((lrc = mdb_cursor_open(txn, q->readings, &cur))) {
        mdb_txn_abort(txn);
        return lmdb_err("cursor", lrc);
    }
    slot_key(kb, from_slot);
    MDB_val k = {8, kb}, v;
    lrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (lrc == MDB_NOTFOUND) {
        rc = MB_ERR_QUEUE_EMPTY;
    } else if (lrc) {
        rc = lmdb_err("get", lrc);
    } else if (k.mv_size != 8) {
        rc = MB_ERR_QUEUE_CORRUPT;
    } else {
        uint64_t slot = 0;
        for (unsigned i = 0; i < 8; i++)
            slot = (slot << 8) | ((const uint8_t *)k.mv_data)[i];
        rc = parse_rec(v.mv_data, v.mv_size, slot, e);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

void mb_queue_entry_free(struct mb_queue_entry *e)
{
    if (!e)
        return;
    free(e->tx);
    free(e->payload);
    e->tx = NULL;
    e->payload = NULL;
}

int mb_queue_reschedule(struct mb_queue *q, uint64_t slot, uint32_t attempts, uint64_t next_try_ms)
{
    MDB_txn *txn;
    uint8_t kb[8];
    int lrc, rc = MB_ERR_OK;
    slot_key(kb, slot);
    MDB_val k = {8, kb}, v;
    if ((lrc = mdb_txn_begin(q->env, NULL, 0, &txn)))
        return lmdb_err("begin", lrc);
    lrc = mdb_get(txn, q->readings, &k, &v);
    if (lrc) {
        mdb_txn_abort(txn);
        return lrc == MDB_NOTFOUND ? MB_ERR_QUEUE_EMPTY : lmdb_err("get", lrc);
    }
    if (v.mv_size < REC_HEAD || ((uint8_t *)v.mv_data)[0] != REC_VERSION) {
        mdb_txn_abort(txn);
        return MB_ERR_QUEUE_CORRUPT;
    }
    uint8_t *copy = malloc(v.mv_size);
    if (!copy) {
        mdb_txn_abort(txn);
        return MB_ERR_NOMEM;
    }
    memcpy(copy, v.mv_data, v.mv_size);
    put64(copy + 9, next_try_ms);
    put32(copy + 17, attempts);
    v.mv_data = copy;
    if ((lrc = mdb_put(txn, q->readings, &k, &v, 0))) {
        rc = lmdb_err("put", lrc);
        mdb_txn_abort(txn);
    } else if ((lrc = mdb_txn_commit(txn))) {
        rc = lmdb_err("commit", lrc);
    }
    free(copy);
    return rc;
}

int mb_queue_remove(struct mb_queue *q, uint64_t slot)
{
    MDB_txn *txn;
    uint8_t kb[8];
    int lrc;
    slot_key(kb, slot);
    MDB_val k = {8, kb};
    if ((lrc = mdb_txn_begin(q->env, NULL, 0, &txn)))
        return lmdb_err("begin", lrc);
    lrc = mdb_del(txn, q->readings, &k, NULL);
    if (lrc) {
        mdb_txn_abort(txn);
        return lrc == MDB_NOTFOUND ? MB_ERR_QUEUE_EMPTY : lmdb_err("del", lrc);
    }
    if ((lrc = mdb_txn_commit(txn)))
        return lmdb_err("commit", lrc);
    q->count--;
    return MB_ERR_OK;
}

uint64_t mb_backoff_ms(uint32_t attempts, uint32_t min_ms, uint32_t max_ms)
{
    uint64_t d = min_ms;
    for (uint32_t i = 0; i < attempts && d < max_ms; i++)
        d *= 2;
    return d < max_ms ? d : max_ms;
}
