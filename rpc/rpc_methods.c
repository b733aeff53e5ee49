/* rpc_methods.c -- the JSON-RPC methods: committed chain state and the node's ops.
 *
 * Every read runs in one LMDB read transaction, so a response is one
 * snapshot: the head, a block, a value and its proof all belong to the same
 * committed state.  Proofs come from the authenticated tree at the version
 * of the requested height (chain_smt_prove), so a light client checks them
 * against the state root in that height's certified header.
 *
 * Params are by name, checked strictly: a missing, mistyped or out-of-range
 * param is INVALID_PARAMS with a message naming it.  Binary is hex (either
 * case in, lower case out); numbers are JSON integers. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_crypto.h"
#include "chain_ledger.h"
#include "chain_proof.h"
#include "mkt_err.h"
#include "mkt_limits.h"
#include "mkt_meter.h"
#include "mkt_settle.h"
#include "mkt_tx.h"
#include "rpc.h"
#include "rpc_methods.h"

/* ---- hex ---- */

json_t *rpc_hex_json(const uint8_t *b, size_t n)
{
    char *s = malloc(2 * n + 1);
    if (!s)
        return NULL;
    chain_hex(s, b, n);
    json_t *j = json_stringn_nocheck(s, 2 * n);
    free(s);
    return j;
}

#define hex_json     rpc_hex_json
#define code_name    rpc_code_name
#define code_message rpc_code_message

/* ---- params ---- */

/* A non-negative integer param.  Absent: *present = false (an error if required). */
static int param_u64(json_t *params, const char *name, bool required, uint64_t *out, bool *present,
                     struct rpc_error *err)
{
    json_t *v = json_object_get(params, name);
    *present = v != NULL;
    if (!v) {
        if (required) {
            rpc_fail(err, RPC_ERR_INVALID_PARAMS, "missing param \"%s\" (a non-negative integer)",
                     name);
            return -1;
        }
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS, "param \"%s\" must be a non-negative integer", name);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* A hex string param of exactly n bytes (required). */
static int param_hex_fixed(json_t *params, const char *name, uint8_t *out, size_t n,
                           struct rpc_error *err)
{
    json_t *v = json_object_get(params, name);
    if (!v) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS, "missing param \"%s\" (%zu bytes as %zu hex digits)",
                 name, n, 2 * n);
        return -1;
    }
    if (!json_is_string(v) ||
        chain_hex_decode(json_string_value(v), json_string_length(v), out, n) != 0) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS, "param \"%s\" must be %zu bytes as %zu hex digits",
                 name, n, 2 * n);
        return -1;
    }
    return 0;
}

/* A hex string of 1..max bytes from v (named `what` in messages); *out malloc'd. */
static int hex_var(json_t *v, const char *what, size_t max, uint8_t **out, size_t *len,
                   struct rpc_error *err)
{
    *out = NULL;
    *len = 0;
    if (!json_is_string(v)) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS, "%s must be a hex string", what);
        return -1;
    }
    size_t hl = json_string_length(v);
    if (hl == 0 || hl % 2 != 0) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS, "%s must be a non-empty hex string of even length",
                 what);
        return -1;
    }
    if (hl / 2 > max) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS, "%s is %zu bytes, over the limit of %zu", what,
                 hl / 2, max);
        return -1;
    }
    uint8_t *b = malloc(hl / 2);
    if (!b)
        return -1; /* code 0: out of memory */
    if (chain_hex_decode(json_string_value(v), hl, b, hl / 2) != 0) {
        free(b);
        rpc_fail(err, RPC_ERR_INVALID_PARAMS, "%s is not hex (digits 0-9, a-f)", what);
        return -1;
    }
    *out = b;
    *len = hl / 2;
    return 0;
}

static int param_hex_var(json_t *params, const char *name, size_t max, uint8_t **out, size_t *len,
                         struct rpc_error *err)
{
    json_t *v = json_object_get(params, name);
    char what[48];
    snprintf(what, sizeof what, "param \"%s\"", name);
    if (!v) {
        *out = NULL;
        rpc_fail(err, RPC_ERR_INVALID_PARAMS, "missing param \"%s\" (hex, at most %zu bytes)", name,
                 max);
        return -1;
    }
    return hex_var(v, what, max, out, len, err);
}

/* ---- names of result codes ---- */

static const char *refusal_name(int code)
{
    switch (code) {
#define RPC_REFUSE_NAME_(name, c, msg)                                                             \
    case c: return #name;
        RPC_REFUSALS(RPC_REFUSE_NAME_)
#undef RPC_REFUSE_NAME_
    default: return NULL;
    }
}

static const char *refusal_message(int code)
{
    switch (code) {
#define RPC_REFUSE_MSG_(name, c, msg)                                                              \
    case c: return msg;
        RPC_REFUSALS(RPC_REFUSE_MSG_)
#undef RPC_REFUSE_MSG_
    default: return NULL;
    }
}

/* The stable name of a chain, market or node result code ("BAD_SIG"). */
const char *rpc_code_name(const struct rpc_api *api, int code)
{
    if (code == 0)
        return "OK";
    const char *n = chain_err_name(code);
    if (strcmp(n, "UNKNOWN") != 0)
        return n;
    if ((n = refusal_name(code)))
        return n;
    if (code <= -200 && code > -300 && strcmp(mkt_err_name(code), "UNKNOWN") != 0)
        return mkt_err_name(code);
    if (api->ops && api->ops->err_name && (n = api->ops->err_name(api->ops->ctx, code)))
        return n;
    return "UNKNOWN";
}

const char *rpc_code_message(int code)
{
    const char *m = refusal_message(code);
    if (m)
        return m;
    if (code <= -200 && code > -300)
        return mkt_strerror(code);
    return chain_strerror(code);
}

/* ---- the committed view ---- */

static const char HEAD_KEY[] = "head"; /* chain_state.h: meta "head" -> header bytes of the head */

struct view {
    MDB_txn *txn;
    uint64_t head_height;
    const uint8_t *head_header; /* valid until the txn ends */
    size_t head_header_len;
};

static void view_end(struct view *v)
{
    if (v->txn)
        mdb_txn_abort(v->txn);
    v->txn = NULL;
}

static int decode_header(const uint8_t *b, size_t n, Gl__BlockHeader **out)
{
    ProtobufCMessage *m = NULL;
    int rc = chain_pb_unpack(&gl__block_header__descriptor, b, n, CHAIN_HEADER_MAX_BYTES, &m);
    if (rc)
        return rc;
    Gl__BlockHeader *h = (Gl__BlockHeader *)m;
    if (h->state_root.len != CHAIN_HASH_BYTES) {
        gl__block_header__free_unpacked(h, NULL);
        return CHAIN_ERR_DECODE_BAD_LENGTH;
    }
    *out = h;
    return CHAIN_ERR_OK;
}

static int view_begin(const struct rpc_api *api, struct view *v, struct rpc_error *err)
{
    memset(v, 0, sizeof *v);
    if (!api->chain) {
        rpc_fail(err, RPC_ERR_UNAVAILABLE, "this server has no chain attached");
        return -1;
    }
    int rc = mdb_txn_begin(api->chain->store.env, NULL, MDB_RDONLY, &v->txn);
    if (rc) {
        v->txn = NULL;
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot open a read transaction: %s", mdb_strerror(rc));
        return -1;
    }
    MDB_val k = {sizeof HEAD_KEY - 1, (void *)HEAD_KEY}, val;
    rc = mdb_get(v->txn, api->chain->store.meta, &k, &val);
    if (rc) {
        view_end(v);
        if (rc == MDB_NOTFOUND)
            rpc_fail(err, RPC_ERR_UNAVAILABLE, "the chain has no genesis block yet");
        else
            rpc_fail(err, RPC_ERR_INTERNAL, "cannot read the head: %s", mdb_strerror(rc));
        return -1;
    }
    Gl__BlockHeader *h;
    if (decode_header(val.mv_data, val.mv_size, &h) != CHAIN_ERR_OK) {
        view_end(v);
        rpc_fail(err, RPC_ERR_INTERNAL, "the stored head does not decode");
        return -1;
    }
    v->head_height = h->height;
    v->head_header = val.mv_data;
    v->head_header_len = val.mv_size;
    gl__block_header__free_unpacked(h, NULL);
    return 0;
}

/* The optional "height" param, defaulting to the head; NOT_FOUND above it. */
static int view_height(const struct view *v, json_t *params, uint64_t *height,
                       struct rpc_error *err)
{
    bool present;
    if (param_u64(params, "height", false, height, &present, err))
        return -1;
    if (!present)
        *height = v->head_height;
    if (*height > v->head_height) {
        rpc_fail(err, RPC_ERR_NOT_FOUND, "no block at height %llu yet; the head is at height %llu",
                 (unsigned long long)*height, (unsigned long long)v->head_height);
        return -1;
    }
    return 0;
}

/* Read a varint at *p (< end).  -1 when truncated or longer than 10 bytes. */
static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 70 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* The header bytes of a stored gl.Block without unpacking its transactions:
 * canonical packing puts field 1 (header_bytes, tag 0x0a) first. */
static int block_header_slice(const uint8_t *b, size_t n, const uint8_t **hb, size_t *hl)
{
    const uint8_t *p = b, *end = b + n;
    uint64_t len;
    if (n < 2 || *p++ != 0x0a || read_varint(&p, end, &len) || len > (uint64_t)(end - p) ||
        len > CHAIN_HEADER_MAX_BYTES)
        return -1;
    *hb = p;
    *hl = (size_t)len;
    return 0;
}

/* The header of the block at height (header bytes valid until the txn ends). */
static int view_header(const struct rpc_api *api, const struct view *v, uint64_t height,
                       const uint8_t **hb, size_t *hl, struct rpc_error *err)
{
    const uint8_t *bb;
    size_t bl;
    int rc = chain_block_get(api->chain, v->txn, height, &bb, &bl);
    if (rc == CHAIN_ERR_NOT_FOUND) {
        rpc_fail(err, RPC_ERR_NOT_FOUND, "no block at height %llu", (unsigned long long)height);
        return -1;
    }
    if (rc || block_header_slice(bb, bl, hb, hl)) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot read block %llu (%s)", (unsigned long long)height,
                 rc ? chain_strerror(rc) : "stored block does not start with its header");
        return -1;
    }
    return 0;
}

/* ---- builders ---- */

#define SET(obj, key, val)                                                                         \
    do {                                                                                           \
        if (json_object_set_new((obj), (key), (val)) != 0)                                         \
            goto oom;                                                                              \
    } while (0)

static json_t *u64_json(uint64_t v)
{
    /* Heights, nonces and times stay far below 2^63; a larger value would be
     * a corrupt store, reported as null rather than a wrong number. */
    return v <= (uint64_t)INT64_MAX ? json_integer((json_int_t)v) : json_null();
}

static json_t *cert_json(const struct cons_cert *c)
{
    json_t *o = json_object(), *sigs = json_array();
    if (!o || !sigs)
        goto oom;
    SET(o, "height", u64_json(c->height));
    SET(o, "hash", hex_json(c->hash, CONS_HASH_BYTES));
    uint32_t n = c->n_sigs <= CONS_NODES_MAX ? c->n_sigs : CONS_NODES_MAX;
    for (uint32_t i = 0; i < n; i++) {
        json_t *s = json_pack("{s:I, s:o}", "signer", (json_int_t)c->sigs[i].signer, "sig",
                              hex_json(c->sigs[i].sig, CONS_SIG_BYTES));
        if (!s || json_array_append_new(sigs, s) != 0)
            goto oom;
    }
    SET(o, "sigs", sigs);
    return o;
oom:
    json_decref(o);
    json_decref(sigs);
    return NULL;
}

static json_t *roles_json(uint32_t roles)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } names[] = {{CHAIN_ROLE_OPERATOR, "operator"},
                 {CHAIN_ROLE_SHADOW_CENTRE, "shadow_centre"},
                 {CHAIN_ROLE_VALIDATOR, "validator"},
                 {CHAIN_ROLE_PARTICIPANT, "participant"}};
    json_t *a = json_array();
    for (size_t i = 0; a && i < sizeof names / sizeof names[0]; i++)
        if ((roles & names[i].bit) && json_array_append_new(a, json_string(names[i].name)) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* ---- status ---- */

static json_t *m_status(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    (void)params;
    struct view v;
    json_t *o = NULL;
    Gl__BlockHeader *h = NULL;
    if (view_begin(api, &v, err))
        return NULL;
    if (decode_header(v.head_header, v.head_header_len, &h)) {
        rpc_fail(err, RPC_ERR_INTERNAL, "the stored head does not decode");
        goto fail;
    }
    uint8_t hash[CHAIN_HASH_BYTES];
    chain_hash(hash, CHAIN_TAG_HEADER, v.head_header, v.head_header_len);
    if (!(o = json_object()))
        goto oom;
    SET(o, "chain_id", json_string(h->chain_id));
    SET(o, "height", u64_json(h->height));
    SET(o, "state_root", hex_json(h->state_root.data, CHAIN_HASH_BYTES));
    SET(o, "block_hash", hex_json(hash, CHAIN_HASH_BYTES));
    SET(o, "time_ms", u64_json(h->time_ms));
    if (api->ops && api->ops->status) {
        int rc = api->ops->status(api->ops->ctx, o);
        if (rc) {
            rpc_fail(err, RPC_ERR_INTERNAL, "the node could not report its status (%s)",
                     code_name(api, rc));
            goto fail;
        }
    }
    gl__block_header__free_unpacked(h, NULL);
    view_end(&v);
    return o;
oom:
    err->code = 0;
fail:
    json_decref(o);
    if (h)
        gl__block_header__free_unpacked(h, NULL);
    view_end(&v);
    return NULL;
}

/* ---- get_header ---- */

static json_t *m_get_header(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    struct view v;
    json_t *o = NULL;
    uint64_t height;
    const uint8_t *hb;
    size_t hl;
    if (view_begin(api, &v, err))
        return NULL;
    if (view_height(&v, params, &height, err) || view_header(api, &v, height, &hb, &hl, err))
        goto fail;
    uint8_t hash[CHAIN_HASH_BYTES];
    chain_hash(hash, CHAIN_TAG_HEADER, hb, hl);
    if (!(o = json_object()))
        goto oom;
    SET(o, "height", u64_json(height));
    SET(o, "hash", hex_json(hash, CHAIN_HASH_BYTES));
    SET(o, "header", hex_json(hb, hl));
    view_end(&v);
    json_t *cj = json_null();
    if (api->ops && api->ops->get_cert) {
        struct cons_cert cert;
        memset(&cert, 0, sizeof cert);
        int rc = api->ops->get_cert(api->ops->ctx, height, &cert);
        if (rc == CHAIN_ERR_OK) {
            if (!(cj = cert_json(&cert)))
                goto oom;
        } else if (rc != CHAIN_ERR_NOT_FOUND) {
            rpc_fail(err, RPC_ERR_INTERNAL,
                     "the node could not read the certificate of height %llu (%s)",
                     (unsigned long long)height, code_name(api, rc));
            goto fail;
        }
    }
    SET(o, "cert", cj);
    return o;
oom:
    err->code = 0;
fail:
    json_decref(o);
    view_end(&v);
    return NULL;
}

/* ---- get_block ---- */

static json_t *m_get_block(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    struct view v;
    json_t *o = NULL, *txs = NULL;
    Gl__Block *blk = NULL;
    uint64_t height;
    bool present;
    const uint8_t *bb;
    size_t bl;
    if (param_u64(params, "height", true, &height, &present, err) || view_begin(api, &v, err))
        return NULL;
    int rc = chain_block_get(api->chain, v.txn, height, &bb, &bl);
    if (rc == CHAIN_ERR_NOT_FOUND) {
        rpc_fail(err, RPC_ERR_NOT_FOUND, "no block at height %llu; the head is at height %llu",
                 (unsigned long long)height, (unsigned long long)v.head_height);
        goto fail;
    }
    ProtobufCMessage *m = NULL;
    if (rc || (rc = chain_pb_unpack(&gl__block__descriptor, bb, bl, CHAIN_BLOCK_MAX_BYTES, &m))) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot read block %llu (%s)", (unsigned long long)height,
                 chain_strerror(rc));
        goto fail;
    }
    blk = (Gl__Block *)m;
    uint8_t hash[CHAIN_HASH_BYTES];
    chain_hash(hash, CHAIN_TAG_HEADER, blk->header_bytes.data, blk->header_bytes.len);
    if (!(o = json_object()) || !(txs = json_array()))
        goto oom;
    SET(o, "height", u64_json(height));
    SET(o, "hash", hex_json(hash, CHAIN_HASH_BYTES));
    SET(o, "header", hex_json(blk->header_bytes.data, blk->header_bytes.len));
    SET(o, "block", hex_json(bb, bl));
    for (size_t i = 0; i < blk->n_txs; i++) {
        uint8_t th[CHAIN_HASH_BYTES];
        uint64_t th_height = 0;
        uint32_t index = 0;
        int32_t result = 0;
        chain_hash(th, CHAIN_TAG_TX, blk->txs[i].data, blk->txs[i].len);
        rc = chain_tx_lookup(api->chain, v.txn, th, &th_height, &index, &result);
        if (rc) {
            rpc_fail(err, RPC_ERR_INTERNAL,
                     "transaction %zu of block %llu has no stored result (%s)", i,
                     (unsigned long long)height, chain_strerror(rc));
            goto fail;
        }
        json_t *t = json_pack("{s:o, s:i, s:s}", "hash", hex_json(th, CHAIN_HASH_BYTES), "result",
                              (int)result, "result_name", code_name(api, result));
        if (!t || json_array_append_new(txs, t) != 0)
            goto oom;
    }
    SET(o, "txs", txs);
    txs = NULL;
    gl__block__free_unpacked(blk, NULL);
    view_end(&v);
    return o;
oom:
    err->code = 0;
fail:
    json_decref(o);
    json_decref(txs);
    if (blk)
        gl__block__free_unpacked(blk, NULL);
    view_end(&v);
    return NULL;
}

/* ---- get_tx ---- */

static json_t *m_get_tx(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    struct view v;
    uint8_t hash[CHAIN_HASH_BYTES];
    uint64_t height;
    uint32_t index;
    int32_t result;
    if (param_hex_fixed(params, "hash", hash, sizeof hash, err) || view_begin(api, &v, err))
        return NULL;
    int rc = chain_tx_lookup(api->chain, v.txn, hash, &height, &index, &result);
    view_end(&v);
    if (rc == CHAIN_ERR_NOT_FOUND) {
        rpc_fail(
            err, RPC_ERR_NOT_FOUND,
            "transaction is not committed (it may still wait in a mempool, or was never received)");
        return NULL;
    }
    if (rc) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot look the transaction up (%s)", chain_strerror(rc));
        return NULL;
    }
    json_t *o = json_pack("{s:o, s:o, s:I, s:i, s:s, s:s}", "hash", hex_json(hash, sizeof hash),
                          "height", u64_json(height), "index", (json_int_t)index, "result",
                          (int)result, "result_name", code_name(api, result), "result_message",
                          result ? code_message(result) : "ok");
    if (!o)
        err->code = 0;
    return o;
}

/* ---- proven reads: get_account, get_state ---- */

/* Prove key at height; fills value (hex or null) and proof into o.  *val
 * and *vlen are the value (NULL when absent), valid until the txn ends. */
static int prove_into(const struct rpc_api *api, const struct view *v, uint64_t height,
                      const uint8_t *key, size_t klen, json_t *o, const uint8_t **val, size_t *vlen,
                      struct rpc_error *err)
{
    uint8_t kh[CHAIN_HASH_BYTES];
    chain_state_key_hash(kh, key, klen);
    *val = NULL;
    *vlen = 0;
    struct chain_proof *proof = malloc(sizeof *proof); /* 8 KB: off the stack */
    if (!proof) {
        err->code = 0;
        return -1;
    }
    int rc = chain_smt_prove(v->txn, &api->chain->store.smt, height, kh, proof, val, vlen);
    if (rc)
        free(proof);
    if (rc == CHAIN_ERR_VERSION_PRUNED) {
        rpc_fail(err, RPC_ERR_NOT_FOUND,
                 "the state at height %llu is pruned on this node; ask for a later height",
                 (unsigned long long)height);
        return -1;
    }
    if (rc) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot prove the key at height %llu (%s)",
                 (unsigned long long)height, chain_strerror(rc));
        return -1;
    }
    uint8_t *pb = NULL;
    size_t pl = 0;
    rc = chain_proof_encode(proof, &pb, &pl);
    free(proof);
    if (rc != CHAIN_ERR_OK) {
        err->code = 0;
        return -1;
    }
    json_t *pj = hex_json(pb, pl);
    free(pb);
    json_t *vj = *val ? hex_json(*val, *vlen) : json_null();
    if (!pj || !vj || json_object_set_new(o, "value", vj) != 0) {
        json_decref(pj);
        err->code = 0;
        return -1;
    }
    if (json_object_set_new(o, "proof", pj) != 0) {
        err->code = 0;
        return -1;
    }
    return 0;
}

static json_t *m_get_account(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    struct view v;
    json_t *o = NULL;
    uint8_t pk[CHAIN_PK_BYTES], key[CHAIN_KEY_ACCOUNT_BYTES];
    uint64_t height;
    const uint8_t *val;
    size_t vlen;
    if (param_hex_fixed(params, "account", pk, sizeof pk, err) || view_begin(api, &v, err))
        return NULL;
    if (view_height(&v, params, &height, err))
        goto fail;
    chain_key_account(key, pk);
    if (!(o = json_object()))
        goto oom;
    SET(o, "account", hex_json(pk, sizeof pk));
    SET(o, "height", u64_json(height));
    SET(o, "key", hex_json(key, sizeof key));
    if (prove_into(api, &v, height, key, sizeof key, o, &val, &vlen, err))
        goto fail;
    struct chain_account a;
    memset(&a, 0, sizeof a);
    if (val && chain_account_decode(val, vlen, &a) != CHAIN_ERR_OK) {
        rpc_fail(err, RPC_ERR_INTERNAL, "the stored account does not decode");
        goto fail;
    }
    SET(o, "exists", json_boolean(val != NULL));
    SET(o, "balance", json_integer(a.balance));
    SET(o, "nonce", u64_json(a.nonce));
    SET(o, "roles", roles_json(a.roles));
    SET(o, "locked", json_integer(a.locked));
    view_end(&v);
    return o;
oom:
    err->code = 0;
fail:
    json_decref(o);
    view_end(&v);
    return NULL;
}

static json_t *m_get_state(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    struct view v;
    json_t *o = NULL;
    uint8_t *key = NULL;
    size_t klen;
    uint64_t height;
    const uint8_t *val;
    size_t vlen;
    if (param_hex_var(params, "key", CHAIN_STATE_KEY_MAX_BYTES, &key, &klen, err))
        return NULL;
    if (view_begin(api, &v, err)) {
        free(key);
        return NULL;
    }
    if (view_height(&v, params, &height, err))
        goto fail;
    if (!(o = json_object()))
        goto oom;
    SET(o, "key", hex_json(key, klen));
    SET(o, "height", u64_json(height));
    if (prove_into(api, &v, height, key, klen, o, &val, &vlen, err))
        goto fail;
    free(key);
    view_end(&v);
    return o;
oom:
    err->code = 0;
fail:
    free(key);
    json_decref(o);
    view_end(&v);
    return NULL;
}

/* ---- submit_tx, submit_txs ---- */

/* {"code", "error", "message"} for a refusal (a new reference, NULL on oom). */
static json_t *refusal_json(const struct rpc_api *api, int rc, const char *why,
                            const uint8_t hash[32])
{
    return json_pack("{s:i, s:s, s:s, s:o}", "code", rc, "error", code_name(api, rc), "message",
                     why ? why : code_message(rc), "hash", hex_json(hash, CHAIN_HASH_BYTES));
}

static json_t *m_submit_tx(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    uint8_t *tx = NULL;
    size_t len;
    if (param_hex_var(params, "tx", CHAIN_TX_MAX_BYTES, &tx, &len, err))
        return NULL;
    if (!api->ops || !api->ops->submit_tx) {
        free(tx);
        rpc_fail(err, RPC_ERR_UNAVAILABLE, "this node does not accept transactions");
        return NULL;
    }
    uint8_t hash[CHAIN_HASH_BYTES];
    chain_hash(hash, CHAIN_TAG_TX, tx, len); /* the node fills it too; a refusal may not */
    const char *why = NULL;
    int rc = api->ops->submit_tx(api->ops->ctx, tx, len, hash, &why);
    free(tx);
    if (rc == 0)
        return json_pack("{s:o}", "hash", hex_json(hash, sizeof hash));
    const char *name = code_name(api, rc);
    int code = rc == RPC_REFUSE_MEMPOOL_FULL ? RPC_ERR_MEMPOOL_FULL : RPC_ERR_TX_REJECTED;
    rpc_fail(err, code, "transaction rejected: %s (%s)", why ? why : code_message(rc), name);
    if (!(err->data = refusal_json(api, rc, why, hash)))
        err->code = 0;
    return NULL;
}

static json_t *m_submit_txs(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    json_t *arr = json_object_get(params, "txs");
    json_t *hashes = NULL, *errors = NULL, *o = NULL;
    uint8_t **txs = NULL;
    size_t *lens = NULL, n = 0, accepted = 0;
    if (!arr) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS, "missing param \"txs\" (an array of hex envelopes)");
        return NULL;
    }
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS,
                 "param \"txs\" must be a non-empty array of hex envelopes");
        return NULL;
    }
    n = json_array_size(arr);
    if (n > RPC_MAX_SUBMIT_TXS) {
        rpc_fail(err, RPC_ERR_TOO_LARGE,
                 "param \"txs\" has %zu envelopes, over the limit of %u: split it", n,
                 RPC_MAX_SUBMIT_TXS);
        return NULL;
    }
    if (!api->ops || !api->ops->submit_tx) {
        rpc_fail(err, RPC_ERR_UNAVAILABLE, "this node does not accept transactions");
        return NULL;
    }
    /* Decode every element first: a malformed call submits nothing. */
    if (!(txs = calloc(n, sizeof *txs)) || !(lens = calloc(n, sizeof *lens)))
        goto oom;
    for (size_t i = 0; i < n; i++) {
        char what[40];
        snprintf(what, sizeof what, "txs[%zu]", i);
        if (hex_var(json_array_get(arr, i), what, CHAIN_TX_MAX_BYTES, &txs[i], &lens[i], err))
            goto fail;
    }
    if (!(hashes = json_array()) || !(errors = json_array()))
        goto oom;
    for (size_t i = 0; i < n; i++) {
        uint8_t hash[CHAIN_HASH_BYTES];
        const char *why = NULL;
        chain_hash(hash, CHAIN_TAG_TX, txs[i], lens[i]);
        int rc = api->ops->submit_tx(api->ops->ctx, txs[i], lens[i], hash, &why);
        json_t *h = hex_json(hash, sizeof hash);
        json_t *e = rc == 0 ? json_null() : refusal_json(api, rc, why, hash);
        if (rc == 0)
            accepted++;
        if (json_array_append_new(hashes, h) != 0 || json_array_append_new(errors, e) != 0)
            goto oom;
    }
    if (!(o = json_pack("{s:o, s:o, s:I}", "hashes", hashes, "errors", errors, "accepted",
                        (json_int_t)accepted))) {
        hashes = errors = NULL; /* "o" steals even on failure */
        goto oom;
    }
    hashes = errors = NULL;
    goto done;
oom:
    err->code = 0;
fail:
    json_decref(o);
    o = NULL;
done:
    json_decref(hashes);
    json_decref(errors);
    for (size_t i = 0; txs && i < n; i++)
        free(txs[i]);
    free(txs);
    free(lens);
    return o;
}

/* ---- market reads: get_order, get_orders, get_results ----
 *
 * Thin proven reads over the market's state keys (market/mkt_tx.h,
 * market/README.md "State keys"): the raw key, the stored value and its
 * proof, as get_state gives them, plus the value decoded into JSON for
 * people ("decoded"; a light client uses the proven "value"). */

static json_t *pb_field_json(const ProtobufCFieldDescriptor *f, const void *v)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM: return json_integer(*(const int32_t *)v);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return json_integer(*(const uint32_t *)v);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return json_integer(*(const int64_t *)v);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t u = *(const uint64_t *)v;
        if (u <= (uint64_t)INT64_MAX)
            return json_integer((json_int_t)u);
        char d[24];
        snprintf(d, sizeof d, "%llu", (unsigned long long)u);
        return json_string(d);
    }
    case PROTOBUF_C_TYPE_BOOL: return json_boolean(*(const protobuf_c_boolean *)v);
    case PROTOBUF_C_TYPE_STRING: {
        const char *str = *(char *const *)v;
        return str ? json_string(str) : json_string("");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = v;
        return hex_json(b->data, b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)v;
        return sub ? rpc_pb_json(sub) : json_null();
    }
    default: return json_null(); /* float, double: none in the chain's schemas */
    }
}

static size_t pb_type_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE: return 8;
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    default: return 4;
    }
}

json_t *rpc_pb_json(const ProtobufCMessage *m)
{
    json_t *o = json_object();
    const ProtobufCMessageDescriptor *d = m->descriptor;
    for (unsigned i = 0; o && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)m + f->offset;
        json_t *v;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)((const char *)m + f->quantifier_offset);
            const char *arr = *(char *const *)base;
            v = json_array();
            for (size_t k = 0; v && k < n; k++)
                if (json_array_append_new(v, pb_field_json(f, arr + k * pb_type_size(f->type))) !=
                    0) {
                    json_decref(v);
                    v = NULL;
                }
        } else {
            v = pb_field_json(f, base);
        }
        if (!v || json_object_set_new(o, f->name, v) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

/* "electricity" | "heat" | 1 | 2, and "day_ahead" | "intraday" | 1 | 2. */
static int param_enum(json_t *params, const char *name, const char *a, const char *b, uint32_t *out,
                      struct rpc_error *err)
{
    json_t *v = json_object_get(params, name);
    if (json_is_string(v) && strcmp(json_string_value(v), a) == 0)
        *out = 1;
    else if (json_is_string(v) && strcmp(json_string_value(v), b) == 0)
        *out = 2;
    else if (json_is_integer(v) && (json_integer_value(v) == 1 || json_integer_value(v) == 2))
        *out = (uint32_t)json_integer_value(v);
    else {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS, "%s param \"%s\" must be \"%s\" (1) or \"%s\" (2)",
                 v ? "the" : "missing", name, a, b);
        return -1;
    }
    return 0;
}

static int param_book(json_t *params, uint32_t *commodity, uint32_t *market, uint64_t *slot,
                      struct rpc_error *err)
{
    bool present;
    return param_enum(params, "commodity", "electricity", "heat", commodity, err) ||
           param_enum(params, "market", "day_ahead", "intraday", market, err) ||
           param_u64(params, "slot_start_ms", true, slot, &present, err);
}

/* Fill o with key, height, value, proof and decoded (desc) for one proven key. */
static int proven_market_value(const struct rpc_api *api, const struct view *v, uint64_t height,
                               const uint8_t *key, size_t klen,
                               const ProtobufCMessageDescriptor *desc, json_t *o,
                               struct rpc_error *err)
{
    const uint8_t *val;
    size_t vlen;
    json_t *kj = hex_json(key, klen);
    if (!kj || json_object_set_new(o, "key", kj) != 0 ||
        json_object_set_new(o, "height", u64_json(height)) != 0) {
        err->code = 0;
        return -1;
    }
    if (prove_into(api, v, height, key, klen, o, &val, &vlen, err))
        return -1;
    json_t *dj = json_null();
    if (val) {
        ProtobufCMessage *m;
        if (chain_pb_unpack(desc, val, vlen, CHAIN_STATE_VALUE_MAX_BYTES, &m) != CHAIN_ERR_OK) {
            rpc_fail(err, RPC_ERR_INTERNAL, "the stored %s does not decode", desc->short_name);
            return -1;
        }
        dj = rpc_pb_json(m);
        protobuf_c_message_free_unpacked(m, NULL);
        if (!dj) {
            err->code = 0;
            return -1;
        }
    }
    if (json_object_set_new(o, "decoded", dj) != 0) {
        err->code = 0;
        return -1;
    }
    return 0;
}

static json_t *proven_read(const struct rpc_api *api, json_t *params, const uint8_t *key,
                           size_t klen, const ProtobufCMessageDescriptor *desc,
                           struct rpc_error *err);

static json_t *m_get_order(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    uint8_t id[CHAIN_HASH_BYTES], key[MKT_KEY_ORDER_BYTES];
    if (param_hex_fixed(params, "order_id", id, sizeof id, err))
        return NULL;
    mkt_key_order(key, id);
    return proven_read(api, params, key, sizeof key, &gl__mkt_order__descriptor, err);
}

static json_t *m_get_results(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    struct view v;
    uint32_t c, m;
    uint64_t slot, height;
    uint8_t key[MKT_KEY_RESULT_BYTES];
    json_t *o = NULL, *fo = NULL;
    bool with_fill = json_object_get(params, "order_id") != NULL;
    uint8_t id[CHAIN_HASH_BYTES];
    if (param_book(params, &c, &m, &slot, err) ||
        (with_fill && param_hex_fixed(params, "order_id", id, sizeof id, err)) ||
        view_begin(api, &v, err))
        return NULL;
    if (view_height(&v, params, &height, err))
        goto fail;
    mkt_key_result(key, c, m, slot);
    if (!(o = json_object()))
        goto oom;
    if (proven_market_value(api, &v, height, key, sizeof key, &gl__mkt_result__descriptor, o, err))
        goto fail;
    if (with_fill) {
        uint8_t fk[MKT_KEY_FILL_BYTES];
        mkt_key_fill(fk, c, m, slot, id);
        if (!(fo = json_object()))
            goto oom;
        if (proven_market_value(api, &v, height, fk, sizeof fk, &gl__mkt_fill__descriptor, fo, err))
            goto fail;
        SET(o, "fill", fo);
        fo = NULL;
    }
    view_end(&v);
    return o;
oom:
    err->code = 0;
fail:
    json_decref(o);
    json_decref(fo);
    view_end(&v);
    return NULL;
}

#define GET_ORDERS_MAX 200u

/* The open orders of one book, in time priority, each proven at the head:
 * the book's index ("mkt/b/<book><arrival>" -> order id) is read by a prefix
 * scan of committed state.  Paginated: limit (1..200, default 50) and
 * after_arrival (the last "arrival" of the previous page). */
static json_t *m_get_orders(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    struct view v;
    uint32_t c, m;
    uint64_t slot, limit = 50, after = 0;
    bool present, has_after;
    json_t *o = NULL, *arr = NULL;
    MDB_cursor *cur = NULL;
    if (param_book(params, &c, &m, &slot, err) ||
        param_u64(params, "limit", false, &limit, &present, err) ||
        param_u64(params, "after_arrival", false, &after, &has_after, err))
        return NULL;
    if (present && (limit == 0 || limit > GET_ORDERS_MAX)) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS, "param \"limit\" must be from 1 to %u",
                 GET_ORDERS_MAX);
        return NULL;
    }
    if (view_begin(api, &v, err))
        return NULL;
    uint8_t bk[MKT_KEY_BOOK_BYTES], prefix[MKT_KEY_BOOK_BYTES], start[MKT_KEY_BOOKIDX_BYTES];
    mkt_key_book(bk, c, m, slot);
    memcpy(prefix, bk, sizeof bk);
    memcpy(prefix, "mkt/b/", 6); /* same layout as "mkt/m/<book>", another prefix */
    memcpy(start, prefix, sizeof prefix);
    uint64_t from = has_after ? after + 1 : 0;
    if (has_after && after == UINT64_MAX)
        from = UINT64_MAX; /* nothing after it; the scan below finds nothing past the book */
    for (int i = 0; i < 8; i++)
        start[sizeof prefix + (size_t)i] = (uint8_t)(from >> (56 - 8 * i));
    if (!(o = json_object()) || !(arr = json_array()))
        goto oom;
    int rc = mdb_cursor_open(v.txn, api->chain->store.state, &cur);
    if (rc) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot scan the book: %s", mdb_strerror(rc));
        goto fail;
    }
    MDB_val k = {sizeof start, start}, val;
    uint64_t last = 0;
    bool more = false;
    size_t n = 0;
    for (rc = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
        if (k.mv_size != MKT_KEY_BOOKIDX_BYTES || memcmp(k.mv_data, prefix, sizeof prefix) != 0)
            break;
        if (n == limit) {
            more = true;
            break;
        }
        if (val.mv_size != CHAIN_HASH_BYTES) {
            rpc_fail(err, RPC_ERR_INTERNAL, "the book index holds a malformed order id");
            goto fail;
        }
        const uint8_t *kb = (const uint8_t *)k.mv_data + sizeof prefix;
        last = 0;
        for (int i = 0; i < 8; i++)
            last = last << 8 | kb[i];
        uint8_t ok[MKT_KEY_ORDER_BYTES];
        mkt_key_order(ok, val.mv_data);
        json_t *e = json_object();
        if (!e || json_array_append_new(arr, e) != 0)
            goto oom;
        if (json_object_set_new(e, "order_id", hex_json(val.mv_data, CHAIN_HASH_BYTES)) != 0 ||
            json_object_set_new(e, "arrival", u64_json(last)) != 0)
            goto oom;
        if (proven_market_value(api, &v, v.head_height, ok, sizeof ok, &gl__mkt_order__descriptor,
                                e, err))
            goto fail;
        n++;
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot scan the book: %s", mdb_strerror(rc));
        goto fail;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    SET(o, "height", u64_json(v.head_height));
    SET(o, "orders", arr);
    arr = NULL;
    SET(o, "next_after_arrival", more ? u64_json(last) : json_null());
    view_end(&v);
    return o;
oom:
    err->code = 0;
fail:
    if (cur)
        mdb_cursor_close(cur);
    json_decref(o);
    json_decref(arr);
    view_end(&v);
    return NULL;
}

/* ---- metering and settlement reads: get_bill, get_settlement,
 * get_slot_settlement, get_reading, get_readings ----
 *
 * The same thin proven reads over market/mkt_settle.h and mkt_meter.h keys
 * (market/README.md, "Metering and settlement"). */

/* A required integer param that must be a multiple of unit (a UTC day, a
 * slot): checked here, since a misaligned time can only ever prove absence
 * and a person who sent it meant something else. */
static int param_aligned_ms(json_t *params, const char *name, uint64_t unit, const char *what,
                            uint64_t *out, struct rpc_error *err)
{
    bool present;
    if (param_u64(params, name, true, out, &present, err))
        return -1;
    if (*out % unit != 0) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS,
                 "param \"%s\" must be the start of %s, a multiple of %llu ms: %llu is not (the "
                 "one containing it starts at %llu)",
                 name, what, (unsigned long long)unit, (unsigned long long)*out,
                 (unsigned long long)(*out - *out % unit));
        return -1;
    }
    return 0;
}

/* A slot index param (gridmeter's numbering): at most MKT_READING_MAX_SLOT_INDEX. */
static int param_slot_index(json_t *params, const char *name, bool required, uint64_t *out,
                            bool *present, struct rpc_error *err)
{
    if (param_u64(params, name, required, out, present, err))
        return -1;
    if (*present && *out > MKT_READING_MAX_SLOT_INDEX) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS,
                 "param \"%s\" must be a slot index (slots since the market's meter_epoch_ms) of "
                 "at most 2^40 = %llu",
                 name, (unsigned long long)MKT_READING_MAX_SLOT_INDEX);
        return -1;
    }
    return 0;
}

/* The optional "limit" param: 1..max, default dflt. */
static int param_limit(json_t *params, uint64_t dflt, uint64_t max, uint64_t *limit,
                       struct rpc_error *err)
{
    bool present;
    *limit = dflt;
    if (param_u64(params, "limit", false, limit, &present, err))
        return -1;
    if (present && (*limit == 0 || *limit > max)) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS, "param \"limit\" must be from 1 to %llu",
                 (unsigned long long)max);
        return -1;
    }
    return 0;
}

/* One proven value at the optional "height": {key, height, value, proof,
 * decoded}.  The caller has checked every other param. */
static json_t *proven_read(const struct rpc_api *api, json_t *params, const uint8_t *key,
                           size_t klen, const ProtobufCMessageDescriptor *desc,
                           struct rpc_error *err)
{
    struct view v;
    uint64_t height;
    json_t *o = NULL;
    if (view_begin(api, &v, err))
        return NULL;
    if (view_height(&v, params, &height, err))
        goto fail;
    if (!(o = json_object())) {
        err->code = 0;
        goto fail;
    }
    if (proven_market_value(api, &v, height, key, klen, desc, o, err))
        goto fail;
    view_end(&v);
    return o;
fail:
    json_decref(o);
    view_end(&v);
    return NULL;
}

/* A participant's bill for one UTC day: "mkt/bill/" day_start_ms participant. */
static json_t *m_get_bill(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    uint8_t pk[CHAIN_PK_BYTES], key[MKT_KEY_BILL_BYTES];
    uint64_t day;
    if (param_hex_fixed(params, "participant", pk, sizeof pk, err) ||
        param_aligned_ms(params, "day_start_ms", MKT_DAY_MS, "a UTC day", &day, err))
        return NULL;
    mkt_key_bill(key, day, pk);
    return proven_read(api, params, key, sizeof key, &gl__mkt_bill__descriptor, err);
}

/* One participant's settlement of one slot: "mkt/s/" slot_start_ms participant.
 * Slots start at multiples of the market's slot length, itself a multiple
 * of MKT_SLOT_MS_SHORT (5 min). */
static json_t *m_get_settlement(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    uint8_t pk[CHAIN_PK_BYTES], key[MKT_KEY_SETTLEMENT_BYTES];
    uint64_t slot;
    if (param_hex_fixed(params, "participant", pk, sizeof pk, err) ||
        param_aligned_ms(params, "slot_start_ms", MKT_SLOT_MS_SHORT, "a delivery slot", &slot, err))
        return NULL;
    mkt_key_settlement(key, slot, pk);
    return proven_read(api, params, key, sizeof key, &gl__mkt_settlement__descriptor, err);
}

/* The slot's settlement as a whole: "mkt/sr/" slot_start_ms. */
static json_t *m_get_slot_settlement(const struct rpc_api *api, json_t *params,
                                     struct rpc_error *err)
{
    uint8_t key[MKT_KEY_SLOT_SETTLEMENT_BYTES];
    uint64_t slot;
    if (param_aligned_ms(params, "slot_start_ms", MKT_SLOT_MS_SHORT, "a delivery slot", &slot, err))
        return NULL;
    mkt_key_slot_settlement(key, slot);
    return proven_read(api, params, key, sizeof key, &gl__mkt_slot_settlement__descriptor, err);
}

/* One meter's reading of one slot (index): "meter/" meter slot. */
static json_t *m_get_reading(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    uint8_t meter[CHAIN_PK_BYTES], key[MKT_KEY_READING_BYTES];
    uint64_t slot;
    bool present;
    if (param_hex_fixed(params, "meter", meter, sizeof meter, err) ||
        param_slot_index(params, "slot", true, &slot, &present, err))
        return NULL;
    mkt_key_reading(key, meter, slot);
    return proven_read(api, params, key, sizeof key, &gl__meter_reading__descriptor, err);
}

#define GET_READINGS_MAX     200u
#define GET_READINGS_DEFAULT 50u
/* At a past height, readings committed after it are in the scan but absent
 * from the proof; a page skips at most this many before it ends early. */
#define GET_READINGS_SKIP_MAX 1000u

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* One meter's readings in slot order from from_slot, each proven at the
 * optional height: a prefix scan of "meter/" meter in committed state (the
 * head's), each key proven at the height.  Readings are written once and
 * never deleted, so the readings at a past height are exactly the scanned
 * keys whose proof there shows a value; the others (committed later) are
 * skipped.  next_from_slot is the slot of the first reading not on this
 * page, or null when the scan reached the meter's last. */
static json_t *m_get_readings(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    struct view v;
    uint8_t meter[CHAIN_PK_BYTES], start[MKT_KEY_READING_BYTES];
    uint64_t from, limit, height;
    bool present;
    json_t *o = NULL, *arr = NULL, *e = NULL;
    MDB_cursor *cur = NULL;
    if (param_hex_fixed(params, "meter", meter, sizeof meter, err) ||
        param_slot_index(params, "from_slot", true, &from, &present, err) ||
        param_limit(params, GET_READINGS_DEFAULT, GET_READINGS_MAX, &limit, err))
        return NULL;
    if (view_begin(api, &v, err))
        return NULL;
    if (view_height(&v, params, &height, err))
        goto fail;
    mkt_key_reading(start, meter, from);
    const size_t plen = MKT_KEY_READING_BYTES - 8; /* "meter/" meter */
    if (!(o = json_object()) || !(arr = json_array()))
        goto oom;
    int rc = mdb_cursor_open(v.txn, api->chain->store.state, &cur);
    if (rc) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot scan the readings: %s", mdb_strerror(rc));
        goto fail;
    }
    MDB_val k = {sizeof start, start}, val;
    json_t *next = json_null();
    size_t n = 0, skipped = 0;
    for (rc = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, start, plen) != 0)
            break;
        if (k.mv_size != MKT_KEY_READING_BYTES)
            continue; /* no such keys under "meter/" meter; not a reading if there were */
        uint64_t slot = get_be64((const uint8_t *)k.mv_data + plen);
        if (n == limit && height == v.head_height) {
            next = u64_json(slot); /* in the head's state: present at the head */
            break;
        }
        if (!(e = json_object()))
            goto oom;
        SET(e, "slot", u64_json(slot));
        if (proven_market_value(api, &v, height, k.mv_data, k.mv_size,
                                &gl__meter_reading__descriptor, e, err))
            goto fail;
        if (json_is_null(json_object_get(e, "value"))) { /* committed after height */
            json_decref(e);
            e = NULL;
            if (++skipped == GET_READINGS_SKIP_MAX) {
                next = slot < UINT64_MAX ? u64_json(slot + 1) : json_null();
                break;
            }
            continue;
        }
        if (n == limit) { /* present at height: the next page starts here */
            json_decref(e);
            e = NULL;
            next = u64_json(slot);
            break;
        }
        if (json_array_append_new(arr, e) != 0) {
            e = NULL;
            goto oom;
        }
        e = NULL;
        n++;
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        json_decref(next);
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot scan the readings: %s", mdb_strerror(rc));
        goto fail;
    }
    mdb_cursor_close(cur);
    cur = NULL;
    SET(o, "height", u64_json(height));
    SET(o, "readings", arr);
    arr = NULL;
    SET(o, "next_from_slot", next);
    view_end(&v);
    return o;
oom:
    err->code = 0;
fail:
    if (cur)
        mdb_cursor_close(cur);
    json_decref(e);
    json_decref(o);
    json_decref(arr);
    view_end(&v);
    return NULL;
}

/* ---- the table ---- */

static const struct rpc_method METHODS[] = {
    {"status", {NULL}, m_status},
    {"submit_tx", {"tx", NULL}, m_submit_tx},
    {"submit_txs", {"txs", NULL}, m_submit_txs},
    {"get_block", {"height", NULL}, m_get_block},
    {"get_tx", {"hash", NULL}, m_get_tx},
    {"get_account", {"account", "height", NULL}, m_get_account},
    {"get_header", {"height", NULL}, m_get_header},
    {"get_state", {"key", "height", NULL}, m_get_state},
    {"get_order", {"order_id", "height", NULL}, m_get_order},
    {"get_orders",
     {"commodity", "market", "slot_start_ms", "limit", "after_arrival"},
     m_get_orders},
    {"get_results", {"commodity", "market", "slot_start_ms", "order_id", "height"}, m_get_results},
    {"get_bill", {"participant", "day_start_ms", "height", NULL}, m_get_bill},
    {"get_settlement", {"participant", "slot_start_ms", "height", NULL}, m_get_settlement},
    {"get_slot_settlement", {"slot_start_ms", "height", NULL}, m_get_slot_settlement},
    {"get_reading", {"meter", "slot", "height", NULL}, m_get_reading},
    {"get_readings", {"meter", "from_slot", "limit", "height", NULL}, m_get_readings},
    {NULL, {NULL}, NULL},
};

/* For METHOD_NOT_FOUND: the names above, in that order. */
const char rpc_method_names[] =
    "status, submit_tx, submit_txs, get_block, get_tx, get_account, get_header, get_state, "
    "get_order, get_orders, get_results, get_bill, get_settlement, get_slot_settlement, "
    "get_reading, get_readings";

const struct rpc_method *rpc_method_find(const char *name)
{
    for (const struct rpc_method *m = METHODS; m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}
