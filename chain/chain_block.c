/* chain_block.c -- genesis, block execution over a read snapshot, commit. */
#include "chain_block.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_crypto.h"

static const char HEAD_KEY[] = "head";
static const char VALSET_KEY[] = "sys/valset";

static void be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t rd_be64(const uint8_t in[8])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | in[i];
    return v;
}

void chain_tx_root(uint8_t root[static CHAIN_HASH_BYTES], const uint8_t (*hashes)[CHAIN_HASH_BYTES], size_t n)
{
    if (n == 0) {
        memset(root, 0, CHAIN_HASH_BYTES);
        return;
    }
    uint8_t(*lvl)[CHAIN_HASH_BYTES] = malloc(n * CHAIN_HASH_BYTES);
    assert(lvl); /* n <= CHAIN_BLOCK_MAX_TXS: 640 KB */
    memcpy(lvl, hashes, n * CHAIN_HASH_BYTES);
    while (n > 1) {
        size_t m = 0;
        for (size_t i = 0; i < n; i += 2, m++) {
            if (i + 1 < n)
                chain_hash2(lvl[m], CHAIN_TAG_TXTREE, lvl[i], CHAIN_HASH_BYTES, lvl[i + 1], CHAIN_HASH_BYTES);
            else
                memmove(lvl[m], lvl[i], CHAIN_HASH_BYTES);
        }
        n = m;
    }
    memcpy(root, lvl[0], CHAIN_HASH_BYTES);
    free(lvl);
}

static int valset_pack(const struct chain_validator *v, size_t n, uint8_t **out, size_t *len)
{
    if (n == 0 || n > CHAIN_VALIDATORS_MAX)
        return CHAIN_ERR_INVALID_ARG;
    Gl__Validator vals[CHAIN_VALIDATORS_MAX];
    Gl__Validator *ptrs[CHAIN_VALIDATORS_MAX];
    for (size_t i = 0; i < n; i++) {
        if (v[i].power == 0)
            return CHAIN_ERR_INVALID_ARG;
        for (size_t j = 0; j < i; j++)
            if (memcmp(v[i].key, v[j].key, CHAIN_PK_BYTES) == 0)
                return CHAIN_ERR_INVALID_ARG;
        gl__validator__init(&vals[i]);
        vals[i].key.data = (uint8_t *)v[i].key;
        vals[i].key.len = CHAIN_PK_BYTES;
        vals[i].power = v[i].power;
        ptrs[i] = &vals[i];
    }
    Gl__ValidatorSet set = GL__VALIDATOR_SET__INIT;
    set.n_validators = n;
    set.validators = ptrs;
    return chain_pb_pack(&set.base, out, len);
}

int chain_valset_hash(const struct chain_validator *v, size_t n, uint8_t out[static CHAIN_HASH_BYTES])
{
    uint8_t *b;
    size_t l;
    int rc = valset_pack(v, n, &b, &l);
    if (rc)
        return rc;
    chain_hash(out, CHAIN_TAG_VALSET, b, l);
    free(b);
    return CHAIN_ERR_OK;
}

/* ---- head ---- */

static int head_from_header(struct chain *c, const uint8_t *hb, size_t hl)
{
    ProtobufCMessage *m;
    int rc = chain_pb_unpack(&gl__block_header__descriptor, hb, hl, CHAIN_HEADER_MAX_BYTES, &m);
    if (rc)
        return rc;
    Gl__BlockHeader *h = (Gl__BlockHeader *)m;
    if (h->state_root.len != CHAIN_HASH_BYTES || h->valset_hash.len != CHAIN_HASH_BYTES ||
        strlen(h->chain_id) == 0 || strlen(h->chain_id) > CHAIN_CHAIN_ID_MAX_BYTES) {
        gl__block_header__free_unpacked(h, NULL);
        return CHAIN_ERR_DECODE_BAD_LENGTH;
    }
    c->head.height = h->height;
    c->head.time_ms = h->time_ms;
    memcpy(c->head.state_root, h->state_root.data, CHAIN_HASH_BYTES);
    memcpy(c->head.valset_hash, h->valset_hash.data, CHAIN_HASH_BYTES);
    chain_hash(c->head.hash, CHAIN_TAG_HEADER, hb, hl);
    snprintf(c->chain_id, sizeof c->chain_id, "%s", h->chain_id);
    c->has_head = true;
    gl__block_header__free_unpacked(h, NULL);
    return CHAIN_ERR_OK;
}

int chain_open(struct chain *c, const char *dir, const struct chain_store_opts *opts)
{
    MDB_txn *txn;
    MDB_val k = {sizeof HEAD_KEY - 1, (void *)HEAD_KEY}, v;
    memset(c, 0, sizeof *c);
    int rc = chain_crypto_init();
    if (rc)
        return rc;
    chain_registry_init(&c->reg);
    if ((rc = chain_ledger_register(&c->reg)))
        return rc;
    if ((rc = chain_store_open(&c->store, dir, opts)))
        return rc;
    if ((rc = mdb_txn_begin(c->store.env, NULL, MDB_RDONLY, &txn))) {
        chain_close(c);
        return chain_store_err(rc);
    }
    rc = mdb_get(txn, c->store.meta, &k, &v);
    if (rc == MDB_SUCCESS) {
        rc = head_from_header(c, v.mv_data, v.mv_size);
        if (rc) {
            fprintf(stderr, "chain: the stored head in %s does not decode (%s)\n", dir, chain_strerror(rc));
            rc = CHAIN_ERR_STORE;
        }
    } else {
        rc = rc == MDB_NOTFOUND ? CHAIN_ERR_OK : chain_store_err(rc);
    }
    mdb_txn_abort(txn);
    if (rc)
        chain_close(c);
    return rc;
}

void chain_close(struct chain *c)
{
    if (c)
        chain_store_close(&c->store);
}

void chain_exec_result_free(struct chain_exec_result *r)
{
    if (!r)
        return;
    chain_ws_deinit(&r->ws);
    chain_smt_batch_free(r->batch);
    free(r->tx_hashes);
    free(r->tx_results);
    free(r->header_bytes);
    free(r->block_bytes);
    memset(r, 0, sizeof *r);
}

/* ---- execution ---- */

static bool is_system_error(int rc)
{
    return rc == CHAIN_ERR_NOMEM || rc == CHAIN_ERR_STORE || rc == CHAIN_ERR_STORE_FULL ||
           rc == CHAIN_ERR_INTERNAL;
}

/* Checks that make a transaction unincludable; on success advances the
 * signer's nonce in the write-set. */
static int admit_tx(struct chain *c, struct chain_exec_ctx *ctx, const struct chain_tx *tx)
{
    struct chain_account a;
    int rc;
    if (strcmp(tx->chain_id, c->chain_id) != 0)
        return CHAIN_ERR_WRONG_CHAIN;
    if (!c->sigcache || !chain_sigcache_has(c->sigcache, tx->hash)) {
        if ((rc = chain_tx_verify(tx)))
            return rc;
        if (c->sigcache)
            chain_sigcache_add(c->sigcache, tx->hash);
    }
    if ((rc = chain_account_load(ctx, tx->signer, &a)))
        return rc;
    if (!a.exists)
        return CHAIN_ERR_UNKNOWN_ACCOUNT;
    if (tx->nonce != a.nonce)
        return CHAIN_ERR_BAD_NONCE;
    a.nonce++;
    return chain_account_store(ctx, tx->signer, &a);
}

/* Turn the write-set into a tree batch at r->height over the head. */
static int finish_state(struct chain *c, MDB_txn *snap, struct chain_exec_result *r)
{
    size_t n = 0;
    struct chain_smt_update *ups = malloc((r->ws.nentries ? r->ws.nentries : 1) * sizeof *ups);
    if (!ups)
        return CHAIN_ERR_NOMEM;
    for (size_t i = 0; i < r->ws.nentries; i++) {
        const struct chain_ws_entry *e = &r->ws.entries[i];
        if (e->st == CHAIN_WS_PASS)
            continue;
        memcpy(ups[n].key_hash, e->key_hash, CHAIN_HASH_BYTES);
        ups[n].value = e->st == CHAIN_WS_SET ? e->val : NULL;
        ups[n].value_len = e->val_len;
        n++;
    }
    /* chain_smt_compute sorts by key hash: the write-set's order never matters. */
    uint64_t base = c->has_head ? c->head.height : CHAIN_SMT_NO_VERSION;
    int rc = chain_smt_compute(snap, &c->store.smt, base, r->height, ups, n, &r->batch);
    free(ups);
    if (rc)
        return rc;
    memcpy(r->state_root, chain_smt_batch_root(r->batch), CHAIN_HASH_BYTES);
    return CHAIN_ERR_OK;
}

/* Run txs[0..ntx) on the head.  building: skip unincludable txs (include[i]
 * = false) instead of failing. */
static int exec_core(struct chain *c, MDB_txn *snap, uint64_t time_ms, const uint8_t *proposer,
                     struct chain_tx *txs, size_t ntx, bool building, bool *include,
                     struct chain_exec_result *r)
{
    struct chain_exec_ctx ctx = {
        .store = &c->store, .snap = snap, .ws = &r->ws, .chain_id = c->chain_id,
        .height = r->height, .time_ms = time_ms, .proposer = proposer,
    };
    int rc;
    r->tx_hashes = malloc((ntx ? ntx : 1) * CHAIN_HASH_BYTES);
    r->tx_results = malloc((ntx ? ntx : 1) * sizeof *r->tx_results);
    if (!r->tx_hashes || !r->tx_results)
        return CHAIN_ERR_NOMEM;
    r->ntx = 0;
    for (size_t i = 0; i < ntx; i++) {
        ctx.tx_index = (uint32_t)r->ntx;
        size_t before = chain_ws_mark(&r->ws);
        rc = admit_tx(c, &ctx, &txs[i]);
        if (rc) {
            if (is_system_error(rc) || !building)
                return rc;
            chain_ws_rollback(&r->ws, before);
            include[i] = false;
            r->nskipped++;
            continue;
        }
        if (include)
            include[i] = true;
        size_t mark = chain_ws_mark(&r->ws);
        rc = txs[i].handler->apply(&ctx, &txs[i], txs[i].payload);
        if (is_system_error(rc))
            return rc;
        if (rc)
            chain_ws_rollback(&r->ws, mark);
        memcpy(r->tx_hashes[r->ntx], txs[i].hash, CHAIN_HASH_BYTES);
        r->tx_results[r->ntx] = rc;
        r->ntx++;
    }
    for (size_t h = 0; h < c->reg.nhooks; h++)
        if ((rc = c->reg.hooks[h](&ctx, c->reg.hook_args[h])))
            return rc;
    return finish_state(c, snap, r);
}

static int pack_header(const struct chain *c, const struct chain_exec_result *r, const uint8_t *proposer,
                       const uint8_t tx_root[CHAIN_HASH_BYTES], const uint8_t valset[CHAIN_HASH_BYTES],
                       uint8_t **out, size_t *len)
{
    Gl__BlockHeader h = GL__BLOCK_HEADER__INIT;
    h.height = r->height;
    h.prev_hash.data = (uint8_t *)r->prev_hash;
    h.prev_hash.len = c->has_head ? CHAIN_HASH_BYTES : 0;
    h.time_ms = r->time_ms;
    h.proposer.data = (uint8_t *)proposer;
    h.proposer.len = proposer ? CHAIN_PK_BYTES : 0;
    h.tx_root.data = (uint8_t *)tx_root;
    h.tx_root.len = CHAIN_HASH_BYTES;
    h.state_root.data = (uint8_t *)r->state_root;
    h.state_root.len = CHAIN_HASH_BYTES;
    h.valset_hash.data = (uint8_t *)valset;
    h.valset_hash.len = CHAIN_HASH_BYTES;
    h.chain_id = (char *)c->chain_id;
    return chain_pb_pack(&h.base, out, len);
}

static int pack_block(const uint8_t *hb, size_t hl, const uint8_t *const *txs, const size_t *lens,
                      const bool *include, size_t ntx, uint8_t **out, size_t *len)
{
    Gl__Block b = GL__BLOCK__INIT;
    ProtobufCBinaryData *arr = malloc((ntx ? ntx : 1) * sizeof *arr);
    if (!arr)
        return CHAIN_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < ntx; i++) {
        if (include && !include[i])
            continue;
        arr[n].data = (uint8_t *)txs[i];
        arr[n].len = lens[i];
        n++;
    }
    b.header_bytes.data = (uint8_t *)hb;
    b.header_bytes.len = hl;
    b.n_txs = n;
    b.txs = arr;
    int rc = chain_pb_pack(&b.base, out, len);
    free(arr);
    return rc;
}

/* Proposer check: is pk in the committed validator set? */
static int check_proposer(struct chain *c, MDB_txn *snap, const uint8_t *pk)
{
    const uint8_t *v;
    size_t n;
    int rc = chain_store_get(&c->store, snap, VALSET_KEY, sizeof VALSET_KEY - 1, &v, &n);
    if (rc)
        return rc == CHAIN_ERR_NOT_FOUND ? CHAIN_ERR_STORE : rc;
    ProtobufCMessage *m;
    if (chain_pb_unpack(&gl__validator_set__descriptor, v, n, CHAIN_STATE_VALUE_MAX_BYTES, &m))
        return CHAIN_ERR_STORE;
    Gl__ValidatorSet *set = (Gl__ValidatorSet *)m;
    rc = CHAIN_ERR_BLOCK_BAD_PROPOSER;
    for (size_t i = 0; i < set->n_validators; i++)
        if (set->validators[i]->key.len == CHAIN_PK_BYTES &&
            memcmp(set->validators[i]->key.data, pk, CHAIN_PK_BYTES) == 0)
            rc = CHAIN_ERR_OK;
    gl__validator_set__free_unpacked(set, NULL);
    return rc;
}

static void free_txs(struct chain_tx *txs, size_t n)
{
    if (!txs)
        return;
    for (size_t i = 0; i < n; i++)
        chain_tx_deinit(&txs[i]);
    free(txs);
}

int chain_build_block(struct chain *c, uint64_t time_ms, const uint8_t proposer[static CHAIN_PK_BYTES],
                      const uint8_t *const *txs, const size_t *lens, size_t ntx,
                      struct chain_exec_result *out)
{
    MDB_txn *snap = NULL;
    struct chain_tx *dec = NULL;
    bool *include = NULL;
    uint8_t tx_root[CHAIN_HASH_BYTES];
    int rc;

    memset(out, 0, sizeof *out);
    if (!c->has_head)
        return CHAIN_ERR_INVALID_ARG;
    if (ntx > CHAIN_BLOCK_MAX_TXS)
        return CHAIN_ERR_BLOCK_TOO_MANY_TXS;
    if (time_ms < c->head.time_ms)
        return CHAIN_ERR_BLOCK_BAD_TIME;
    dec = calloc(ntx ? ntx : 1, sizeof *dec);
    include = calloc(ntx ? ntx : 1, sizeof *include);
    if (!dec || !include) {
        rc = CHAIN_ERR_NOMEM;
        goto fail;
    }
    chain_ws_init(&out->ws);
    out->height = c->head.height + 1;
    out->base_height = c->head.height;
    out->time_ms = time_ms;
    memcpy(out->prev_hash, c->head.hash, CHAIN_HASH_BYTES);
    if ((rc = mdb_txn_begin(c->store.env, NULL, MDB_RDONLY, &snap))) {
        rc = chain_store_err(rc);
        goto fail;
    }
    if ((rc = check_proposer(c, snap, proposer)))
        goto fail;
    /* Undecodable candidates are left out like any other unincludable one. */
    size_t ok = 0;
    for (size_t i = 0; i < ntx; i++) {
        if (chain_tx_decode(&c->reg, txs[i], lens[i], &dec[ok]) == CHAIN_ERR_OK) {
            ok++;
            include[i] = true;
        } else {
            out->nskipped++;
        }
    }
    /* Map include[] of decoded txs back onto candidates after execution. */
    bool *inc2 = calloc(ok ? ok : 1, sizeof *inc2);
    if (!inc2) {
        rc = CHAIN_ERR_NOMEM;
        goto fail;
    }
    rc = exec_core(c, snap, time_ms, proposer, dec, ok, true, inc2, out);
    for (size_t i = 0, j = 0; i < ntx; i++)
        if (include[i])
            include[i] = inc2[j++];
    free(inc2);
    if (rc)
        goto fail;
    chain_tx_root(tx_root, (const uint8_t(*)[CHAIN_HASH_BYTES])out->tx_hashes, out->ntx);
    if ((rc = pack_header(c, out, proposer, tx_root, c->head.valset_hash, &out->header_bytes,
                          &out->header_len)))
        goto fail;
    chain_hash(out->block_hash, CHAIN_TAG_HEADER, out->header_bytes, out->header_len);
    if ((rc = pack_block(out->header_bytes, out->header_len, txs, lens, include, ntx, &out->block_bytes,
                         &out->block_len)))
        goto fail;
    mdb_txn_abort(snap);
    free_txs(dec, ntx);
    free(include);
    return CHAIN_ERR_OK;
fail:
    if (snap)
        mdb_txn_abort(snap);
    free_txs(dec, ntx);
    free(include);
    chain_exec_result_free(out);
    return rc;
}

int chain_exec_block(struct chain *c, const uint8_t *block, size_t len, struct chain_exec_result *out)
{
    MDB_txn *snap = NULL;
    struct chain_tx *dec = NULL;
    Gl__Block *b = NULL;
    Gl__BlockHeader *h = NULL;
    ProtobufCMessage *m;
    uint8_t tx_root[CHAIN_HASH_BYTES];
    size_t ndec = 0;
    int rc;

    memset(out, 0, sizeof *out);
    chain_ws_init(&out->ws);
    if (!c->has_head)
        return CHAIN_ERR_INVALID_ARG;
    if ((rc = chain_pb_unpack(&gl__block__descriptor, block, len, CHAIN_BLOCK_MAX_BYTES, &m)))
        return rc;
    b = (Gl__Block *)m;
    if (b->n_txs > CHAIN_BLOCK_MAX_TXS) {
        rc = CHAIN_ERR_BLOCK_TOO_MANY_TXS;
        goto fail;
    }
    if ((rc = chain_pb_unpack(&gl__block_header__descriptor, b->header_bytes.data, b->header_bytes.len,
                              CHAIN_HEADER_MAX_BYTES, &m)))
        goto fail;
    h = (Gl__BlockHeader *)m;
    if (h->prev_hash.len != CHAIN_HASH_BYTES || h->proposer.len != CHAIN_PK_BYTES ||
        h->tx_root.len != CHAIN_HASH_BYTES || h->state_root.len != CHAIN_HASH_BYTES ||
        h->valset_hash.len != CHAIN_HASH_BYTES) {
        rc = CHAIN_ERR_DECODE_BAD_LENGTH;
        goto fail;
    }
    if (strcmp(h->chain_id, c->chain_id) != 0) {
        rc = CHAIN_ERR_WRONG_CHAIN;
        goto fail;
    }
    if (h->height != c->head.height + 1) {
        rc = CHAIN_ERR_BLOCK_BAD_HEIGHT;
        goto fail;
    }
    if (memcmp(h->prev_hash.data, c->head.hash, CHAIN_HASH_BYTES) != 0) {
        rc = CHAIN_ERR_BLOCK_BAD_PREV;
        goto fail;
    }
    if (h->time_ms < c->head.time_ms) {
        rc = CHAIN_ERR_BLOCK_BAD_TIME;
        goto fail;
    }
    if (memcmp(h->valset_hash.data, c->head.valset_hash, CHAIN_HASH_BYTES) != 0) {
        rc = CHAIN_ERR_BLOCK_BAD_VALSET;
        goto fail;
    }
    dec = calloc(b->n_txs ? b->n_txs : 1, sizeof *dec);
    if (!dec) {
        rc = CHAIN_ERR_NOMEM;
        goto fail;
    }
    for (; ndec < b->n_txs; ndec++)
        if ((rc = chain_tx_decode(&c->reg, b->txs[ndec].data, b->txs[ndec].len, &dec[ndec])))
            goto fail;
    {
        uint8_t(*hashes)[CHAIN_HASH_BYTES] = malloc((ndec ? ndec : 1) * CHAIN_HASH_BYTES);
        if (!hashes) {
            rc = CHAIN_ERR_NOMEM;
            goto fail;
        }
        for (size_t i = 0; i < ndec; i++)
            memcpy(hashes[i], dec[i].hash, CHAIN_HASH_BYTES);
        chain_tx_root(tx_root, (const uint8_t(*)[CHAIN_HASH_BYTES])hashes, ndec);
        free(hashes);
    }
    if (memcmp(tx_root, h->tx_root.data, CHAIN_HASH_BYTES) != 0) {
        rc = CHAIN_ERR_BLOCK_BAD_TX_ROOT;
        goto fail;
    }
    out->height = h->height;
    out->base_height = c->head.height;
    out->time_ms = h->time_ms;
    memcpy(out->prev_hash, c->head.hash, CHAIN_HASH_BYTES);
    if ((rc = mdb_txn_begin(c->store.env, NULL, MDB_RDONLY, &snap))) {
        rc = chain_store_err(rc);
        goto fail;
    }
    if ((rc = check_proposer(c, snap, h->proposer.data)))
        goto fail;
    if ((rc = exec_core(c, snap, h->time_ms, h->proposer.data, dec, ndec, false, NULL, out)))
        goto fail;
    if (memcmp(out->state_root, h->state_root.data, CHAIN_HASH_BYTES) != 0) {
        rc = CHAIN_ERR_BLOCK_BAD_STATE_ROOT;
        goto fail;
    }
    out->header_len = b->header_bytes.len;
    out->header_bytes = malloc(out->header_len);
    out->block_bytes = malloc(len);
    if (!out->header_bytes || !out->block_bytes) {
        rc = CHAIN_ERR_NOMEM;
        goto fail;
    }
    memcpy(out->header_bytes, b->header_bytes.data, out->header_len);
    memcpy(out->block_bytes, block, len);
    out->block_len = len;
    chain_hash(out->block_hash, CHAIN_TAG_HEADER, out->header_bytes, out->header_len);
    mdb_txn_abort(snap);
    free_txs(dec, ndec);
    gl__block_header__free_unpacked(h, NULL);
    gl__block__free_unpacked(b, NULL);
    return CHAIN_ERR_OK;
fail:
    if (snap)
        mdb_txn_abort(snap);
    free_txs(dec, ndec);
    if (h)
        gl__block_header__free_unpacked(h, NULL);
    if (b)
        gl__block__free_unpacked(b, NULL);
    chain_exec_result_free(out);
    return rc;
}

/* ---- commit ---- */

int chain_commit(struct chain *c, const struct chain_exec_result *r)
{
    MDB_txn *w = NULL;
    uint8_t hkey[8];
    int rc;

    if (c->has_head && (r->base_height != c->head.height || r->height != c->head.height + 1 ||
                        memcmp(r->prev_hash, c->head.hash, CHAIN_HASH_BYTES) != 0))
        return CHAIN_ERR_BLOCK_STALE;
    if (!c->has_head && r->height != 0)
        return CHAIN_ERR_BLOCK_STALE;
    assert(r->batch && r->header_bytes && r->block_bytes);
    if ((rc = mdb_txn_begin(c->store.env, NULL, 0, &w)))
        return chain_store_err(rc);
    for (size_t i = 0; i < r->ws.nentries; i++) {
        const struct chain_ws_entry *e = &r->ws.entries[i];
        MDB_val k = {e->key_len, (void *)e->key}, v = {e->val_len, (void *)e->val};
        if (e->st == CHAIN_WS_SET)
            rc = mdb_put(w, c->store.state, &k, &v, 0);
        else if (e->st == CHAIN_WS_DEL) {
            rc = mdb_del(w, c->store.state, &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
        if (rc)
            goto fail_mdb;
    }
    if ((rc = chain_smt_batch_write(w, &c->store.smt, r->batch)))
        goto fail_chain;
    be64(hkey, r->height);
    {
        MDB_val k = {8, hkey}, v = {r->block_len, r->block_bytes};
        if ((rc = mdb_put(w, c->store.blocks, &k, &v, MDB_APPEND)) == MDB_KEYEXIST)
            rc = mdb_put(w, c->store.blocks, &k, &v, 0);
        if (rc)
            goto fail_mdb;
        MDB_val hk = {CHAIN_HASH_BYTES, (void *)r->block_hash}, hv = {8, hkey};
        if ((rc = mdb_put(w, c->store.hashes, &hk, &hv, 0)))
            goto fail_mdb;
        MDB_val mk = {sizeof HEAD_KEY - 1, (void *)HEAD_KEY}, mv = {r->header_len, r->header_bytes};
        if ((rc = mdb_put(w, c->store.meta, &mk, &mv, 0)))
            goto fail_mdb;
    }
    for (size_t i = 0; i < r->ntx; i++) {
        uint8_t val[16];
        be64(val, r->height);
        uint32_t idx = (uint32_t)i, res = (uint32_t)r->tx_results[i];
        for (int b = 0; b < 4; b++) {
            val[8 + b] = (uint8_t)(idx >> (24 - 8 * b));
            val[12 + b] = (uint8_t)(res >> (24 - 8 * b));
        }
        MDB_val k = {CHAIN_HASH_BYTES, r->tx_hashes[i]}, v = {16, val};
        if ((rc = mdb_put(w, c->store.txs, &k, &v, 0)))
            goto fail_mdb;
    }
    if ((rc = mdb_txn_commit(w))) {
        w = NULL;
        goto fail_mdb;
    }
    /* The head now is this block (its header was built or checked by us). */
    rc = head_from_header(c, r->header_bytes, r->header_len);
    assert(rc == CHAIN_ERR_OK);
    return CHAIN_ERR_OK;
fail_mdb:
    fprintf(stderr, "chain: commit of block %llu failed: %s\n", (unsigned long long)r->height, mdb_strerror(rc));
    rc = chain_store_err(rc);
fail_chain:
    if (w)
        mdb_txn_abort(w);
    return rc == CHAIN_ERR_NOT_FOUND ? CHAIN_ERR_STORE : rc;
}

/* ---- genesis ---- */

int chain_genesis(struct chain *c, const struct chain_genesis *g)
{
    struct chain_exec_result r;
    MDB_txn *snap = NULL;
    uint8_t tx_root[CHAIN_HASH_BYTES] = {0};
    uint8_t valset[CHAIN_HASH_BYTES];
    uint8_t *vb = NULL;
    size_t vl;
    int rc;

    if (c->has_head || !g->chain_id || strlen(g->chain_id) == 0 ||
        strlen(g->chain_id) > CHAIN_CHAIN_ID_MAX_BYTES)
        return CHAIN_ERR_INVALID_ARG;
    memset(&r, 0, sizeof r);
    chain_ws_init(&r.ws);
    snprintf(c->chain_id, sizeof c->chain_id, "%s", g->chain_id);
    if ((rc = valset_pack(g->validators, g->nvalidators, &vb, &vl)))
        goto fail;
    chain_hash(valset, CHAIN_TAG_VALSET, vb, vl);
    if ((rc = mdb_txn_begin(c->store.env, NULL, MDB_RDONLY, &snap))) {
        rc = chain_store_err(rc);
        goto fail;
    }
    struct chain_exec_ctx ctx = {.store = &c->store, .snap = snap, .ws = &r.ws, .chain_id = c->chain_id,
                                 .height = 0, .time_ms = g->time_ms};
    struct chain_supply s = {0, 0};
    for (size_t i = 0; i < g->naccounts; i++) {
        const struct chain_genesis_account *ga = &g->accounts[i];
        struct chain_account a;
        if (ga->balance < 0 || (ga->roles & ~CHAIN_ROLES_ALL)) {
            rc = CHAIN_ERR_INVALID_ARG;
            goto fail;
        }
        if ((rc = chain_account_load(&ctx, ga->pk, &a)))
            goto fail;
        if (a.exists) { /* the same key twice in genesis */
            rc = CHAIN_ERR_INVALID_ARG;
            goto fail;
        }
        a.balance = ga->balance;
        a.roles = ga->roles;
        if ((rc = chain_money_add(&s.minted, ga->balance)) || (rc = chain_account_store(&ctx, ga->pk, &a)))
            goto fail;
    }
    if ((rc = chain_supply_store(&ctx, &s)) ||
        (rc = chain_state_put(&ctx, VALSET_KEY, sizeof VALSET_KEY - 1, vb, vl)))
        goto fail;
    r.height = 0;
    r.time_ms = g->time_ms;
    if ((rc = finish_state(c, snap, &r)))
        goto fail;
    if ((rc = pack_header(c, &r, NULL, tx_root, valset, &r.header_bytes, &r.header_len)))
        goto fail;
    chain_hash(r.block_hash, CHAIN_TAG_HEADER, r.header_bytes, r.header_len);
    if ((rc = pack_block(r.header_bytes, r.header_len, NULL, NULL, NULL, 0, &r.block_bytes, &r.block_len)))
        goto fail;
    mdb_txn_abort(snap);
    snap = NULL;
    rc = chain_commit(c, &r);
fail:
    if (snap)
        mdb_txn_abort(snap);
    free(vb);
    chain_exec_result_free(&r);
    if (rc && !c->has_head)
        c->chain_id[0] = '\0';
    return rc;
}

/* ---- queries ---- */

int chain_block_get(const struct chain *c, MDB_txn *txn, uint64_t height, const uint8_t **bytes, size_t *len)
{
    uint8_t key[8];
    be64(key, height);
    MDB_val k = {8, key}, v;
    int rc = mdb_get(txn, c->store.blocks, &k, &v);
    if (rc)
        return chain_store_err(rc);
    *bytes = v.mv_data;
    *len = v.mv_size;
    return CHAIN_ERR_OK;
}

int chain_tx_lookup(const struct chain *c, MDB_txn *txn, const uint8_t hash[static CHAIN_HASH_BYTES],
                    uint64_t *height, uint32_t *index, int32_t *result)
{
    MDB_val k = {CHAIN_HASH_BYTES, (void *)hash}, v;
    int rc = mdb_get(txn, c->store.txs, &k, &v);
    if (rc)
        return chain_store_err(rc);
    if (v.mv_size != 16)
        return CHAIN_ERR_STORE;
    const uint8_t *p = v.mv_data;
    *height = rd_be64(p);
    *index = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
    *result = (int32_t)((uint32_t)p[12] << 24 | (uint32_t)p[13] << 16 | (uint32_t)p[14] << 8 | p[15]);
    return CHAIN_ERR_OK;
}
