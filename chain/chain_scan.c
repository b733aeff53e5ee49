/* chain_scan.c -- prefix scans merging the LMDB snapshot with the write-set. */
#include "chain_scan.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* LMDB's default key order: memcmp over the common length, then shorter first. */
static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

/* Insertion into a sorted index array would be O(n^2); a merge sort keeps
 * the scan O(m log m) in the m matching write-set entries. */
static void sort_entries(const struct chain_ws *ws, uint32_t *idx, uint32_t *tmp, size_t n)
{
    uint32_t *src = idx, *dst = tmp;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                const struct chain_ws_entry *a = &ws->entries[src[i]], *b = &ws->entries[src[j]];
                dst[k++] =
                    key_cmp(b->key, b->key_len, a->key, a->key_len) < 0 ? src[j++] : src[i++];
            }
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != idx)
        memcpy(idx, src, n * sizeof *idx);
}

static int has_prefix(const uint8_t *k, size_t kl, const uint8_t *p, size_t pl)
{
    return kl >= pl && memcmp(k, p, pl) == 0;
}

int chain_state_scan(struct chain_exec_ctx *ctx, const void *prefix, size_t plen, const void *start,
                     size_t slen, chain_scan_fn fn, void *arg)
{
    const struct chain_ws *ws = ctx->ws;
    const uint8_t *p = prefix;
    uint32_t *idx = NULL;
    MDB_cursor *cur = NULL;
    size_t m = 0;
    int rc = CHAIN_ERR_OK;

    assert(plen >= 1 && fn);
    if (!start) {
        start = prefix;
        slen = plen;
    }
    /* The write-set's live entries under the prefix, from start on, in key order. */
    if (ws->nentries) {
        idx = malloc(2 * ws->nentries * sizeof *idx);
        if (!idx)
            return CHAIN_ERR_NOMEM;
        for (size_t i = 0; i < ws->nentries; i++) {
            const struct chain_ws_entry *e = &ws->entries[i];
            if (e->st != CHAIN_WS_PASS && has_prefix(e->key, e->key_len, p, plen) &&
                key_cmp(e->key, e->key_len, start, slen) >= 0)
                idx[m++] = (uint32_t)i;
        }
        sort_entries(ws, idx, idx + ws->nentries, m);
    }
    int mrc = mdb_cursor_open(ctx->snap, ctx->store->state, &cur);
    if (mrc) {
        rc = chain_store_err(mrc);
        goto out;
    }
    MDB_val k = {slen, (void *)start}, v;
    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    size_t wi = 0;
    for (;;) {
        bool db_live = mrc == 0 && has_prefix(k.mv_data, k.mv_size, p, plen);
        if (mrc != 0 && mrc != MDB_NOTFOUND) {
            rc = chain_store_err(mrc);
            goto out;
        }
        const struct chain_ws_entry *e = wi < m ? &ws->entries[idx[wi]] : NULL;
        if (!db_live && !e)
            break;
        int c = !db_live ? 1 : !e ? -1 : key_cmp(k.mv_data, k.mv_size, e->key, e->key_len);
        if (c < 0) { /* only in the snapshot */
            rc = fn(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        } else { /* in the write-set (it wins over the snapshot's value) */
            /* key and val live in the arena: stable even if the callback grows the set. */
            if (e->st == CHAIN_WS_SET)
                rc = fn(arg, e->key, e->key_len, e->val, e->val_len);
            wi++;
            if (c == 0)
                mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        if (rc)
            goto out;
    }
out:
    if (cur)
        mdb_cursor_close(cur);
    free(idx);
    return rc;
}
