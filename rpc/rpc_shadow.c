/* rpc_shadow.c -- the shadow-centre API: a second, signed JSON-RPC listener.
 *
 * Why a second listener and not a path on the public server: the grid
 * company's back office reaches it from a private network, so an operator
 * binds it to a private address (shadow_listen) and firewalls it apart; the
 * public server's method table never contains recharge, so no bug in the
 * public path can reach the mint key; and it has its own limits and log.
 *
 * Every request carries X-Gridledger-Signature (rpc_shadow_auth.c).  The
 * checks, in order: present (AUTH_MISSING), well-formed (AUTH_MALFORMED),
 * signature (AUTH_BAD_SIG), nonce within window_ms of our clock
 * (AUTH_STALE), key allowed (AUTH_NOT_SHADOW: the shadow-centre role in
 * committed state or a configured key), nonce above the last accepted from
 * that key (AUTH_REPLAYED).  Only then is the body dispatched.
 *
 * recharge is idempotent by bank_ref: a committed Mint leaves "mr/" ||
 * bank_ref -> tx hash in state (chain_ledger.c), so a repeat reads the first
 * mint back from its block; a Mint submitted and not yet committed is kept
 * in an in-flight table (bounded, RPC_SHADOW_MAX_INFLIGHT).  Either way a
 * repeat mints nothing and returns the first result; the same bank_ref with
 * another account or amount is BANK_REF_CONFLICT.  This server reads the
 * wall clock (the nonce window); it is not consensus code. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "chain_crypto.h"
#include "chain_ledger.h"
#include "chain_proof.h"
#include "rpc.h"
#include "rpc_methods.h"

#define SHADOW_MAX_KEYS 256u /* keys whose last nonce we remember */

struct inflight {
    char bank_ref[CHAIN_BANK_REF_MAX_BYTES + 1];
    uint8_t account[CHAIN_PK_BYTES];
    uint64_t amount;
    uint8_t hash[CHAIN_HASH_BYTES];
};

struct seen_key {
    uint8_t key[CHAIN_PK_BYTES];
    uint64_t last_nonce;
};

struct rpc_shadow {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    uint16_t port;
    struct rpc_node_ops ops;
    struct rpc_api api;
    bool has_key;
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES];
    uint8_t (*allowed)[CHAIN_PK_BYTES];
    size_t nallowed;
    uint64_t window_ms;
    uint64_t (*now_ms)(void *ctx);
    void *clock_ctx;
    struct seen_key seen[SHADOW_MAX_KEYS];
    size_t nseen;
    struct inflight *inflight; /* RPC_SHADOW_MAX_INFLIGHT entries */
    size_t ninflight;
    uint64_t next_nonce; /* above every nonce this server signed */
    bool has_next_nonce;
};

static uint64_t wall_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

#define SET(obj, key, val)                                                                         \
    do {                                                                                           \
        if (json_object_set_new((obj), (key), (val)) != 0)                                         \
            goto oom;                                                                              \
    } while (0)

/* ---- reads of committed state ---- */

static int read_begin(const struct rpc_api *api, MDB_txn **txn, struct rpc_error *err)
{
    *txn = NULL;
    if (!api->chain || !api->chain->has_head) {
        rpc_fail(err, RPC_ERR_UNAVAILABLE, "the chain has no genesis block yet");
        return -1;
    }
    int rc = mdb_txn_begin(api->chain->store.env, NULL, MDB_RDONLY, txn);
    if (rc) {
        *txn = NULL;
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot open a read transaction: %s", mdb_strerror(rc));
        return -1;
    }
    return 0;
}

/* The committed head height and time, read through txn. */
static int head_of(const struct rpc_api *api, MDB_txn *txn, uint64_t *height, uint64_t *time_ms)
{
    static const char HEAD_KEY[] = "head";
    MDB_val k = {sizeof HEAD_KEY - 1, (void *)HEAD_KEY}, v;
    if (mdb_get(txn, api->chain->store.meta, &k, &v) != 0)
        return -1;
    ProtobufCMessage *m;
    if (chain_pb_unpack(&gl__block_header__descriptor, v.mv_data, v.mv_size, CHAIN_HEADER_MAX_BYTES,
                        &m))
        return -1;
    *height = ((Gl__BlockHeader *)m)->height;
    *time_ms = ((Gl__BlockHeader *)m)->time_ms;
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

static int account_at_head(const struct rpc_api *api, MDB_txn *txn,
                           const uint8_t pk[CHAIN_PK_BYTES], struct chain_account *a)
{
    uint8_t key[CHAIN_KEY_ACCOUNT_BYTES];
    const uint8_t *v;
    size_t n;
    memset(a, 0, sizeof *a);
    chain_key_account(key, pk);
    int rc = chain_store_get(&api->chain->store, txn, key, sizeof key, &v, &n);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return 0;
    if (rc)
        return rc;
    return chain_account_decode(v, n, a);
}

/* The Mint transaction committed at (height, index): its recipient and amount. */
static int committed_mint(const struct rpc_api *api, MDB_txn *txn, uint64_t height, uint32_t index,
                          uint8_t to[CHAIN_PK_BYTES], uint64_t *amount)
{
    const uint8_t *bb;
    size_t bl;
    ProtobufCMessage *m = NULL;
    struct chain_tx tx;
    memset(&tx, 0, sizeof tx);
    int rc = chain_block_get(api->chain, txn, height, &bb, &bl);
    if (rc || (rc = chain_pb_unpack(&gl__block__descriptor, bb, bl, CHAIN_BLOCK_MAX_BYTES, &m)))
        return rc;
    Gl__Block *blk = (Gl__Block *)m;
    rc = CHAIN_ERR_STORE;
    if (index < blk->n_txs &&
        chain_tx_decode(&api->chain->reg, blk->txs[index].data, blk->txs[index].len, &tx) ==
            CHAIN_ERR_OK &&
        tx.type == GL__TX_TYPE__TX_MINT) {
        const Gl__Mint *mt = tx.payload;
        memcpy(to, mt->to.data, CHAIN_PK_BYTES);
        *amount = mt->amount;
        rc = CHAIN_ERR_OK;
    }
    chain_tx_deinit(&tx);
    gl__block__free_unpacked(blk, NULL);
    return rc;
}

/* ---- params ---- */

static int param_pk(json_t *params, const char *name, uint8_t out[CHAIN_PK_BYTES],
                    struct rpc_error *err)
{
    json_t *v = json_object_get(params, name);
    if (!json_is_string(v) ||
        chain_hex_decode(json_string_value(v), json_string_length(v), out, CHAIN_PK_BYTES)) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS, "%s param \"%s\" must be 32 bytes as 64 hex digits",
                 v ? "the" : "missing", name);
        return -1;
    }
    return 0;
}

/* A string param of 1..max bytes of printable ASCII (bank references end up
 * in bank statements and logs).  absent_ok: *out = NULL when absent. */
static int param_ref(json_t *params, const char *name, size_t max, bool absent_ok, const char **out,
                     struct rpc_error *err)
{
    json_t *v = json_object_get(params, name);
    *out = NULL;
    if (!v && absent_ok)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS,
                 "%s param \"%s\" must be a string of 1 to %zu characters", v ? "the" : "missing",
                 name, max);
        return -1;
    }
    const char *s = json_string_value(v);
    for (size_t i = 0; i < json_string_length(v); i++)
        if (s[i] < 0x21 || s[i] > 0x7e) {
            rpc_fail(err, RPC_ERR_INVALID_PARAMS,
                     "param \"%s\" must be printable ASCII without spaces (character %zu is not)",
                     name, i);
            return -1;
        }
    *out = s;
    return 0;
}

static int param_u64(json_t *params, const char *name, bool required, uint64_t dflt, uint64_t min,
                     uint64_t max, uint64_t *out, struct rpc_error *err)
{
    json_t *v = json_object_get(params, name);
    *out = dflt;
    if (!v && !required)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < min ||
        (uint64_t)json_integer_value(v) > max) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS,
                 "%s param \"%s\" must be an integer from %llu to %llu", v ? "the" : "missing",
                 name, (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* ---- signing and submitting as the shadow centre ---- */

static int our_nonce(struct rpc_shadow *s, MDB_txn *txn, uint64_t *nonce, struct rpc_error *err)
{
    if (s->ops.next_nonce) {
        int rc = s->ops.next_nonce(s->ops.ctx, s->pk, nonce);
        if (rc) {
            rpc_fail(err, RPC_ERR_INTERNAL,
                     "the node cannot tell the shadow centre's next nonce (%s)",
                     rpc_code_name(&s->api, rc));
            return -1;
        }
    } else {
        struct chain_account a;
        if (account_at_head(&s->api, txn, s->pk, &a)) {
            rpc_fail(err, RPC_ERR_INTERNAL, "cannot read the shadow centre's account");
            return -1;
        }
        *nonce = a.nonce;
    }
    if (s->has_next_nonce && s->next_nonce > *nonce)
        *nonce = s->next_nonce;
    return 0;
}

/* Sign payload as a transaction of type and submit it; hash OUT.  Frees payload. */
static int sign_submit(struct rpc_shadow *s, MDB_txn *txn, uint32_t type, uint8_t *payload,
                       size_t plen, uint8_t hash[CHAIN_HASH_BYTES], struct rpc_error *err)
{
    uint64_t nonce;
    uint8_t *tx = NULL;
    size_t len;
    if (!s->ops.submit_tx) {
        free(payload);
        rpc_fail(err, RPC_ERR_UNAVAILABLE, "this node does not accept transactions");
        return -1;
    }
    if (our_nonce(s, txn, &nonce, err)) {
        free(payload);
        return -1;
    }
    int rc =
        chain_tx_build(s->api.chain->chain_id, nonce, type, payload, plen, s->pk, s->sk, &tx, &len);
    free(payload);
    if (rc) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot build the transaction (%s)", chain_err_name(rc));
        return -1;
    }
    chain_hash(hash, CHAIN_TAG_TX, tx, len);
    const char *why = NULL;
    rc = s->ops.submit_tx(s->ops.ctx, tx, len, hash, &why);
    free(tx);
    if (rc) {
        const char *name = rpc_code_name(&s->api, rc);
        rpc_fail(err, rc == RPC_REFUSE_MEMPOOL_FULL ? RPC_ERR_MEMPOOL_FULL : RPC_ERR_TX_REJECTED,
                 "the node refused the shadow centre's transaction: %s (%s)",
                 why ? why : rpc_code_message(rc), name);
        err->data = json_pack("{s:i, s:s, s:s, s:o}", "code", rc, "error", name, "message",
                              why ? why : rpc_code_message(rc), "hash",
                              rpc_hex_json(hash, CHAIN_HASH_BYTES));
        return -1;
    }
    s->next_nonce = nonce + 1;
    s->has_next_nonce = true;
    return 0;
}

/* ---- recharge ---- */

static json_t *recharge_answer(const char *ref, const uint8_t acct[CHAIN_PK_BYTES], uint64_t amount,
                               const uint8_t hash[CHAIN_HASH_BYTES], const char *status,
                               const uint64_t *height, const char *result_name, bool repeat)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    SET(o, "bank_ref", json_string(ref));
    SET(o, "account", rpc_hex_json(acct, CHAIN_PK_BYTES));
    SET(o, "amount", json_integer((json_int_t)amount));
    SET(o, "hash", rpc_hex_json(hash, CHAIN_HASH_BYTES));
    SET(o, "status", json_string(status));
    SET(o, "height", height ? json_integer((json_int_t)*height) : json_null());
    SET(o, "result_name", result_name ? json_string(result_name) : json_null());
    SET(o, "repeat", json_boolean(repeat));
    return o;
oom:
    json_decref(o);
    return NULL;
}

static void conflict(struct rpc_error *err, const char *ref, const uint8_t acct[CHAIN_PK_BYTES],
                     uint64_t amount, const uint8_t hash[CHAIN_HASH_BYTES], const char *status)
{
    rpc_fail(err, RPC_ERR_BANK_REF_CONFLICT,
             "bank_ref \"%.64s\" was already used (%s) for %llu micro-units to another account or "
             "of another "
             "amount; nothing was minted: check the bank statement",
             ref, status, (unsigned long long)amount);
    err->data = json_pack("{s:s, s:o, s:I, s:o, s:s}", "bank_ref", ref, "account",
                          rpc_hex_json(acct, CHAIN_PK_BYTES), "amount", (json_int_t)amount, "hash",
                          rpc_hex_json(hash, CHAIN_HASH_BYTES), "status", status);
}

static void inflight_remove(struct rpc_shadow *s, size_t i)
{
    s->inflight[i] = s->inflight[--s->ninflight];
}

/* Drop in-flight entries whose transaction is committed (with any result). */
static void inflight_prune(struct rpc_shadow *s, MDB_txn *txn)
{
    for (size_t i = 0; i < s->ninflight;) {
        uint64_t h;
        uint32_t idx;
        int32_t res;
        if (chain_tx_lookup(s->api.chain, txn, s->inflight[i].hash, &h, &idx, &res) == CHAIN_ERR_OK)
            inflight_remove(s, i);
        else
            i++;
    }
}

static json_t *m_recharge(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    struct rpc_shadow *s = api->shadow;
    uint8_t acct[CHAIN_PK_BYTES], hash[CHAIN_HASH_BYTES];
    uint64_t amount;
    const char *ref;
    MDB_txn *txn = NULL;
    json_t *o = NULL;
    if (param_pk(params, "account", acct, err) ||
        param_u64(params, "amount", true, 0, 1, (uint64_t)INT64_MAX, &amount, err) ||
        param_ref(params, "bank_ref", CHAIN_BANK_REF_MAX_BYTES, false, &ref, err))
        return NULL;
    if (!s->has_key) {
        rpc_fail(err, RPC_ERR_UNAVAILABLE,
                 "this node holds no shadow-centre key (config shadow_key_file)");
        return NULL;
    }
    if (read_begin(api, &txn, err))
        return NULL;
    size_t rl = strlen(ref);
    uint8_t key[3 + CHAIN_BANK_REF_MAX_BYTES];
    memcpy(key, "mr/", 3);
    memcpy(key + 3, ref, rl);
    const uint8_t *v;
    size_t vl;
    int rc = chain_store_get(&api->chain->store, txn, key, 3 + rl, &v, &vl);
    if (rc == CHAIN_ERR_OK) { /* committed: the first mint, read back from its block */
        uint64_t h, first_amount;
        uint32_t idx;
        int32_t res;
        uint8_t to[CHAIN_PK_BYTES];
        if (vl != CHAIN_HASH_BYTES || chain_tx_lookup(api->chain, txn, v, &h, &idx, &res) ||
            committed_mint(api, txn, h, idx, to, &first_amount)) {
            rpc_fail(err, RPC_ERR_INTERNAL,
                     "the bank_ref marker does not lead to a committed mint");
            goto fail;
        }
        memcpy(hash, v, CHAIN_HASH_BYTES);
        for (size_t i = 0; i < s->ninflight; i++)
            if (strcmp(s->inflight[i].bank_ref, ref) == 0) {
                inflight_remove(s, i);
                break;
            }
        if (memcmp(to, acct, CHAIN_PK_BYTES) != 0 || first_amount != amount) {
            conflict(err, ref, to, first_amount, hash, "committed");
            goto fail;
        }
        o = recharge_answer(ref, to, first_amount, hash, "committed", &h, rpc_code_name(api, res),
                            true);
        goto done;
    }
    if (rc != CHAIN_ERR_NOT_FOUND) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot read the bank_ref marker (%s)", chain_err_name(rc));
        goto fail;
    }
    for (size_t i = 0; i < s->ninflight; i++) {
        struct inflight *e = &s->inflight[i];
        if (strcmp(e->bank_ref, ref) != 0)
            continue;
        uint64_t h;
        uint32_t idx;
        int32_t res;
        if (chain_tx_lookup(api->chain, txn, e->hash, &h, &idx, &res) == CHAIN_ERR_OK) {
            /* committed without a marker: the mint failed its business rule
               (e.g. the key lost its role).  Forget it; this request tries again. */
            inflight_remove(s, i);
            break;
        }
        if (memcmp(e->account, acct, CHAIN_PK_BYTES) != 0 || e->amount != amount) {
            conflict(err, ref, e->account, e->amount, e->hash, "pending");
            goto fail;
        }
        o = recharge_answer(ref, acct, amount, e->hash, "pending", NULL, NULL, true);
        goto done;
    }
    if (s->ninflight == RPC_SHADOW_MAX_INFLIGHT)
        inflight_prune(s, txn);
    if (s->ninflight == RPC_SHADOW_MAX_INFLIGHT) {
        rpc_fail(err, RPC_ERR_UNAVAILABLE,
                 "%u recharges are waiting to commit; retry when blocks have caught up",
                 RPC_SHADOW_MAX_INFLIGHT);
        goto fail;
    }
    uint8_t *p;
    size_t pl;
    if (chain_payload_mint(acct, amount, ref, &p, &pl)) {
        err->code = 0;
        goto fail;
    }
    if (sign_submit(s, txn, GL__TX_TYPE__TX_MINT, p, pl, hash, err))
        goto fail;
    struct inflight *e = &s->inflight[s->ninflight++];
    memcpy(e->bank_ref, ref, rl + 1);
    memcpy(e->account, acct, CHAIN_PK_BYTES);
    e->amount = amount;
    memcpy(e->hash, hash, CHAIN_HASH_BYTES);
    o = recharge_answer(ref, acct, amount, hash, "pending", NULL, NULL, false);
done:
    if (!o)
        err->code = 0;
fail:
    if (txn)
        mdb_txn_abort(txn);
    return o;
}

/* ---- payouts ---- */

static const char *payout_status_name(uint32_t st)
{
    return st == CHAIN_PAYOUT_PENDING    ? "pending"
           : st == CHAIN_PAYOUT_PAID     ? "paid"
           : st == CHAIN_PAYOUT_REFUNDED ? "refunded"
                                         : "unknown";
}

struct payout_row {
    uint8_t id[CHAIN_HASH_BYTES];
    Gl__Payout *po;
};

static int row_cmp(const void *a, const void *b)
{
    const struct payout_row *x = a, *y = b;
    if (x->po->height != y->po->height)
        return x->po->height < y->po->height ? -1 : 1;
    return memcmp(x->id, y->id, CHAIN_HASH_BYTES);
}

/* Visit every "po/" entry of committed state.  fn returns 0 to go on. */
static int scan_payouts(const struct rpc_api *api, MDB_txn *txn,
                        int (*fn)(void *arg, const uint8_t id[CHAIN_HASH_BYTES], Gl__Payout *po),
                        void *arg)
{
    MDB_cursor *cur;
    MDB_val k = {3, (void *)"po/"}, v;
    if (mdb_cursor_open(txn, api->chain->store.state, &cur))
        return CHAIN_ERR_STORE;
    int r = CHAIN_ERR_OK, rc;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < 3 || memcmp(k.mv_data, "po/", 3) != 0)
            break;
        ProtobufCMessage *m;
        if (k.mv_size != 3 + CHAIN_HASH_BYTES ||
            chain_pb_unpack(&gl__payout__descriptor, v.mv_data, v.mv_size,
                            CHAIN_STATE_VALUE_MAX_BYTES, &m)) {
            r = CHAIN_ERR_STORE;
            break;
        }
        if ((r = fn(arg, (const uint8_t *)k.mv_data + 3, (Gl__Payout *)m)))
            break;
    }
    if (r == CHAIN_ERR_OK && rc != 0 && rc != MDB_NOTFOUND)
        r = CHAIN_ERR_STORE;
    mdb_cursor_close(cur);
    return r;
}

struct collect {
    uint64_t since;
    struct payout_row *rows;
    size_t n, cap;
};

static int collect_fn(void *arg, const uint8_t id[CHAIN_HASH_BYTES], Gl__Payout *po)
{
    struct collect *c = arg;
    if (po->height < c->since) {
        gl__payout__free_unpacked(po, NULL);
        return 0;
    }
    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 64;
        struct payout_row *nr = realloc(c->rows, nc * sizeof *nr);
        if (!nr) {
            gl__payout__free_unpacked(po, NULL);
            return CHAIN_ERR_NOMEM;
        }
        c->rows = nr;
        c->cap = nc;
    }
    memcpy(c->rows[c->n].id, id, CHAIN_HASH_BYTES);
    c->rows[c->n++].po = po;
    return 0;
}

static json_t *payout_json(const uint8_t id[CHAIN_HASH_BYTES], const Gl__Payout *po)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    SET(o, "payout_id", rpc_hex_json(id, CHAIN_HASH_BYTES));
    SET(o, "account",
        po->account.len == CHAIN_PK_BYTES ? rpc_hex_json(po->account.data, CHAIN_PK_BYTES)
                                          : json_null());
    SET(o, "amount", json_integer(po->amount <= (uint64_t)INT64_MAX ? (json_int_t)po->amount : -1));
    SET(o, "bank_account", json_string(po->bank_account ? po->bank_account : ""));
    SET(o, "height", json_integer((json_int_t)po->height));
    SET(o, "status", json_string(payout_status_name(po->status)));
    SET(o, "bank_ref", po->bank_ref && *po->bank_ref ? json_string(po->bank_ref) : json_null());
    return o;
oom:
    json_decref(o);
    return NULL;
}

static json_t *m_payouts(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    uint64_t since, limit, head, head_time;
    uint8_t after[CHAIN_HASH_BYTES];
    bool has_after = json_object_get(params, "after") != NULL;
    struct collect c = {0};
    MDB_txn *txn = NULL;
    json_t *o = NULL, *arr = NULL;
    if (param_u64(params, "since_height", true, 0, 0, (uint64_t)INT64_MAX, &since, err) ||
        param_u64(params, "limit", false, 100, 1, RPC_SHADOW_PAYOUTS_MAX_LIMIT, &limit, err))
        return NULL;
    if (has_after) {
        json_t *a = json_object_get(params, "after");
        if (!json_is_string(a) ||
            chain_hex_decode(json_string_value(a), json_string_length(a), after, sizeof after)) {
            rpc_fail(err, RPC_ERR_INVALID_PARAMS,
                     "param \"after\" must be a payout_id (64 hex digits): the \"next\" of the "
                     "previous page");
            return NULL;
        }
    }
    if (read_begin(api, &txn, err))
        return NULL;
    if (head_of(api, txn, &head, &head_time)) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot read the head");
        goto fail;
    }
    c.since = since;
    int rc = scan_payouts(api, txn, collect_fn, &c);
    if (rc) {
        if (rc == CHAIN_ERR_NOMEM)
            err->code = 0;
        else
            rpc_fail(err, RPC_ERR_INTERNAL, "cannot read the payout requests (%s)",
                     chain_err_name(rc));
        goto fail;
    }
    if (c.n)
        qsort(c.rows, c.n, sizeof *c.rows, row_cmp);
    size_t start = 0;
    if (has_after) {
        while (start < c.n && memcmp(c.rows[start].id, after, sizeof after) != 0)
            start++;
        if (start == c.n) {
            rpc_fail(err, RPC_ERR_INVALID_PARAMS,
                     "param \"after\" is no payout at or above since_height %llu; pass the "
                     "\"next\" of the "
                     "previous page with the same since_height",
                     (unsigned long long)since);
            goto fail;
        }
        start++;
    }
    if (!(o = json_object()) || !(arr = json_array()))
        goto oom;
    size_t end = start + limit < c.n ? start + (size_t)limit : c.n;
    for (size_t i = start; i < end; i++) {
        json_t *pj = payout_json(c.rows[i].id, c.rows[i].po);
        if (!pj || json_array_append_new(arr, pj))
            goto oom;
    }
    SET(o, "payouts", arr);
    arr = NULL;
    SET(o, "next", end < c.n ? rpc_hex_json(c.rows[end - 1].id, CHAIN_HASH_BYTES) : json_null());
    SET(o, "height", json_integer((json_int_t)head));
    goto done;
oom:
    err->code = 0;
fail:
    json_decref(o);
    o = NULL;
done:
    json_decref(arr);
    for (size_t i = 0; i < c.n; i++)
        gl__payout__free_unpacked(c.rows[i].po, NULL);
    free(c.rows);
    if (txn)
        mdb_txn_abort(txn);
    return o;
}

/* ---- confirm_payout ---- */

static json_t *m_confirm_payout(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    struct rpc_shadow *s = api->shadow;
    uint8_t id[CHAIN_HASH_BYTES], hash[CHAIN_HASH_BYTES];
    const char *ref;
    bool failed = false;
    MDB_txn *txn = NULL;
    json_t *o = NULL;
    json_t *fj = json_object_get(params, "failed");
    json_t *idj = json_object_get(params, "payout_id");
    if (!json_is_string(idj) ||
        chain_hex_decode(json_string_value(idj), json_string_length(idj), id, sizeof id)) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS,
                 "%s param \"payout_id\" must be 64 hex digits (from payouts)",
                 idj ? "the" : "missing");
        return NULL;
    }
    if (fj && !json_is_boolean(fj)) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS, "param \"failed\" must be true or false");
        return NULL;
    }
    failed = fj && json_is_true(fj);
    if (param_ref(params, "bank_ref", CHAIN_BANK_REF_MAX_BYTES, failed, &ref, err))
        return NULL;
    if (!s->has_key) {
        rpc_fail(err, RPC_ERR_UNAVAILABLE,
                 "this node holds no shadow-centre key (config shadow_key_file)");
        return NULL;
    }
    if (read_begin(api, &txn, err))
        return NULL;
    uint8_t key[3 + CHAIN_HASH_BYTES];
    memcpy(key, "po/", 3);
    memcpy(key + 3, id, CHAIN_HASH_BYTES);
    const uint8_t *v;
    size_t vl;
    ProtobufCMessage *m = NULL;
    int rc = chain_store_get(&api->chain->store, txn, key, sizeof key, &v, &vl);
    if (rc == CHAIN_ERR_NOT_FOUND) {
        rpc_fail(err, RPC_ERR_NOT_FOUND, "no payout request with this payout_id (see payouts)");
        goto fail;
    }
    if (rc || chain_pb_unpack(&gl__payout__descriptor, v, vl, CHAIN_STATE_VALUE_MAX_BYTES, &m)) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot read the payout request");
        goto fail;
    }
    uint32_t st = ((Gl__Payout *)m)->status;
    protobuf_c_message_free_unpacked(m, NULL);
    if (st != CHAIN_PAYOUT_PENDING) {
        rpc_fail(err, RPC_ERR_TX_REJECTED,
                 "the payout is already %s; nothing was submitted (PAYOUT_NOT_PENDING)",
                 payout_status_name(st));
        err->data = json_pack("{s:i, s:s, s:s}", "code", CHAIN_ERR_PAYOUT_NOT_PENDING, "error",
                              "PAYOUT_NOT_PENDING", "status", payout_status_name(st));
        goto fail;
    }
    uint8_t *p;
    size_t pl;
    if (chain_payload_payout_confirm(id, ref ? ref : "", failed, &p, &pl)) {
        err->code = 0;
        goto fail;
    }
    if (sign_submit(s, txn, GL__TX_TYPE__TX_PAYOUT_CONFIRM, p, pl, hash, err))
        goto fail;
    o = json_pack("{s:o, s:o, s:b, s:s}", "payout_id", rpc_hex_json(id, sizeof id), "hash",
                  rpc_hex_json(hash, sizeof hash), "failed", failed, "status", "pending");
    if (!o)
        err->code = 0;
fail:
    if (txn)
        mdb_txn_abort(txn);
    return o;
}

/* ---- reconciliation ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3u : 9u)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "YYYY-MM-DD" (UTC) -> [start, end) in ms.  -1 when malformed. */
static int parse_day(const char *s, size_t n, uint64_t *start, uint64_t *end)
{
    if (n != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    unsigned v[3] = {0, 0, 0};
    const int pos[3][2] = {{0, 4}, {5, 2}, {8, 2}};
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < pos[f][1]; i++) {
            char c = s[pos[f][0] + i];
            if (c < '0' || c > '9')
                return -1;
            v[f] = v[f] * 10 + (unsigned)(c - '0');
        }
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > mdays[v[1] - 1])
        return -1;
    bool leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
    if (v[1] == 2 && v[2] == 29 && !leap)
        return -1;
    int64_t days = days_from_civil(v[0], v[1], v[2]);
    *start = (uint64_t)days * 86400000u;
    *end = *start + 86400000u;
    return 0;
}

static int header_time(const struct rpc_api *api, MDB_txn *txn, uint64_t height, uint64_t *time_ms)
{
    const uint8_t *bb;
    size_t bl;
    ProtobufCMessage *m;
    int rc = chain_block_get(api->chain, txn, height, &bb, &bl);
    if (rc || (rc = chain_pb_unpack(&gl__block__descriptor, bb, bl, CHAIN_BLOCK_MAX_BYTES, &m)))
        return rc;
    Gl__Block *b = (Gl__Block *)m;
    ProtobufCMessage *hm;
    rc = chain_pb_unpack(&gl__block_header__descriptor, b->header_bytes.data, b->header_bytes.len,
                         CHAIN_HEADER_MAX_BYTES, &hm);
    gl__block__free_unpacked(b, NULL);
    if (rc)
        return rc;
    *time_ms = ((Gl__BlockHeader *)hm)->time_ms;
    protobuf_c_message_free_unpacked(hm, NULL);
    return 0;
}

/* The last height whose block time is < t_ms, or -1 when none (block times
 * never decrease: chain_block.c refuses BLOCK_BAD_TIME). */
static int last_before(const struct rpc_api *api, MDB_txn *txn, uint64_t head, uint64_t t_ms,
                       int64_t *out)
{
    int64_t lo = -1, hi = (int64_t)head; /* answer in [lo, hi] */
    uint64_t t;
    int rc = header_time(api, txn, head, &t);
    if (rc)
        return rc;
    if (t < t_ms) {
        *out = (int64_t)head;
        return 0;
    }
    hi = (int64_t)head - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if ((rc = header_time(api, txn, (uint64_t)mid, &t)))
            return rc;
        if (t < t_ms)
            lo = mid;
        else
            hi = mid - 1;
    }
    *out = lo;
    return 0;
}

/* minted and burned as of height h (the versioned state tree), zero before genesis. */
static int supply_at(const struct rpc_api *api, MDB_txn *txn, int64_t h, int64_t *minted,
                     int64_t *burned)
{
    static const char KEY[] = "sys/supply";
    *minted = *burned = 0;
    if (h < 0)
        return 0;
    uint8_t kh[CHAIN_HASH_BYTES];
    chain_state_key_hash(kh, (const uint8_t *)KEY, sizeof KEY - 1);
    struct chain_proof *proof = malloc(sizeof *proof);
    if (!proof)
        return CHAIN_ERR_NOMEM;
    const uint8_t *v;
    size_t vl;
    int rc = chain_smt_prove(txn, &api->chain->store.smt, (uint64_t)h, kh, proof, &v, &vl);
    free(proof);
    if (rc)
        return rc;
    if (!v)
        return 0;
    ProtobufCMessage *m;
    if ((rc = chain_pb_unpack(&gl__supply__descriptor, v, vl, CHAIN_STATE_VALUE_MAX_BYTES, &m)))
        return rc;
    *minted = (int64_t)((Gl__Supply *)m)->minted;
    *burned = (int64_t)((Gl__Supply *)m)->burned;
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

struct pending_sum {
    uint64_t count, amount;
    int64_t lo, hi; /* created in heights (lo, hi] */
    uint64_t day_count, day_amount;
};

static int pending_fn(void *arg, const uint8_t id[CHAIN_HASH_BYTES], Gl__Payout *po)
{
    (void)id;
    struct pending_sum *p = arg;
    if (po->status == CHAIN_PAYOUT_PENDING) {
        p->count++;
        p->amount += po->amount;
    }
    if ((int64_t)po->height > p->lo && (int64_t)po->height <= p->hi) {
        p->day_count++;
        p->day_amount += po->amount;
    }
    gl__payout__free_unpacked(po, NULL);
    return 0;
}

static json_t *m_reconciliation(const struct rpc_api *api, json_t *params, struct rpc_error *err)
{
    MDB_txn *txn = NULL;
    json_t *o = NULL, *day = NULL;
    uint64_t head, head_time, d0 = 0, d1 = 0;
    json_t *dj = json_object_get(params, "day");
    if (dj && (!json_is_string(dj) ||
               parse_day(json_string_value(dj), json_string_length(dj), &d0, &d1))) {
        rpc_fail(err, RPC_ERR_INVALID_PARAMS,
                 "param \"day\" must be a date \"YYYY-MM-DD\" (UTC), 1970 or later");
        return NULL;
    }
    if (read_begin(api, &txn, err))
        return NULL;
    if (head_of(api, txn, &head, &head_time)) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot read the head");
        goto fail;
    }
    struct chain_supply_report rep;
    memset(&rep, 0, sizeof rep);
    int rc = chain_supply_check(&api->chain->store, txn, &rep);
    if (rc && rc != CHAIN_ERR_SUPPLY_BROKEN) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot sum the state (%s)", chain_err_name(rc));
        goto fail;
    }
    struct pending_sum ps = {.lo = -1, .hi = -1};
    int64_t h0 = -1, h1 = -1;
    if (dj && ((rc = last_before(api, txn, head, d0, &h0)) ||
               (rc = last_before(api, txn, head, d1, &h1)))) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot read block times (%s)", chain_err_name(rc));
        goto fail;
    }
    ps.lo = h0;
    ps.hi = h1;
    if ((rc = scan_payouts(api, txn, pending_fn, &ps))) {
        rpc_fail(err, RPC_ERR_INTERNAL, "cannot read the payout requests (%s)", chain_err_name(rc));
        goto fail;
    }
    int64_t held;
    if (__builtin_add_overflow(rep.accounts_total, rep.pools_total, &held))
        held = INT64_MAX;
    if (!(o = json_object()))
        goto oom;
    SET(o, "height", json_integer((json_int_t)head));
    SET(o, "time_ms", json_integer((json_int_t)head_time));
    SET(o, "minted", json_integer(rep.minted));
    SET(o, "burned", json_integer(rep.burned));
    SET(o, "supply", json_integer(rep.minted - rep.burned));
    SET(o, "accounts_total", json_integer(rep.accounts_total));
    SET(o, "pools_total", json_integer(rep.pools_total));
    SET(o, "held", json_integer(held));
    SET(o, "balanced", json_boolean(rc == CHAIN_ERR_OK && held == rep.minted - rep.burned));
    SET(o, "accounts", json_integer((json_int_t)rep.accounts));
    SET(o, "payouts_pending", json_integer((json_int_t)ps.count));
    SET(o, "payouts_pending_amount", json_integer((json_int_t)ps.amount));
    if (dj) {
        int64_t m0, b0, m1, b1;
        if ((rc = supply_at(api, txn, h0, &m0, &b0)) || (rc = supply_at(api, txn, h1, &m1, &b1))) {
            if (rc == CHAIN_ERR_NOMEM)
                goto oom;
            rpc_fail(err, rc == CHAIN_ERR_VERSION_PRUNED ? RPC_ERR_NOT_FOUND : RPC_ERR_INTERNAL,
                     "cannot read the supply at the day's bounds (%s)", chain_err_name(rc));
            goto fail;
        }
        if (!(day = json_object()))
            goto oom;
        SET(day, "day", json_string(json_string_value(dj)));
        SET(day, "from_height", h0 >= 0 ? json_integer(h0) : json_null());
        SET(day, "to_height", h1 >= 0 ? json_integer(h1) : json_null());
        SET(day, "complete", json_boolean(head_time >= d1));
        SET(day, "minted", json_integer(m1 - m0));
        SET(day, "burned", json_integer(b1 - b0));
        SET(day, "supply_end", json_integer(m1 - b1));
        SET(day, "payouts_created", json_integer((json_int_t)ps.day_count));
        SET(day, "payouts_created_amount", json_integer((json_int_t)ps.day_amount));
        SET(o, "day", day);
        day = NULL;
    }
    mdb_txn_abort(txn);
    return o;
oom:
    err->code = 0;
fail:
    json_decref(o);
    json_decref(day);
    if (txn)
        mdb_txn_abort(txn);
    return NULL;
}

/* ---- the table ---- */

static const struct rpc_method SHADOW_METHODS[] = {
    {"recharge", {"account", "amount", "bank_ref", NULL}, m_recharge},
    {"payouts", {"since_height", "limit", "after", NULL}, m_payouts},
    {"confirm_payout", {"payout_id", "bank_ref", "failed", NULL}, m_confirm_payout},
    {"reconciliation", {"day", NULL}, m_reconciliation},
    {NULL, {NULL}, NULL},
};

static const struct rpc_method *shadow_find(const char *name)
{
    for (const struct rpc_method *m = SHADOW_METHODS; m->name; m++)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

static const struct rpc_table SHADOW_TABLE = {shadow_find,
                                              "recharge, payouts, confirm_payout, reconciliation"};

/* ---- authentication ---- */

static int auth_error(int code, const char *detail, char **out, size_t *out_len)
{
    json_t *r =
        json_pack("{s:s, s:n, s:{s:i, s:s++}}", "jsonrpc", "2.0", "id", "error", "code", code,
                  "message", rpc_strerror(code), detail ? ": " : "", detail ? detail : "");
    if (!r)
        return -1;
    *out = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    if (!*out)
        return -1;
    *out_len = strlen(*out);
    return 0;
}

static bool key_allowed(struct rpc_shadow *s, const uint8_t key[CHAIN_PK_BYTES])
{
    for (size_t i = 0; i < s->nallowed; i++)
        if (memcmp(s->allowed[i], key, CHAIN_PK_BYTES) == 0)
            return true;
    MDB_txn *txn;
    if (!s->api.chain || !s->api.chain->has_head ||
        mdb_txn_begin(s->api.chain->store.env, NULL, MDB_RDONLY, &txn))
        return false;
    struct chain_account a;
    bool ok = account_at_head(&s->api, txn, key, &a) == 0 && (a.roles & CHAIN_ROLE_SHADOW_CENTRE);
    mdb_txn_abort(txn);
    return ok;
}

int rpc_shadow_dispatch(struct rpc_shadow *s, const char *header, const char *body, size_t len,
                        char **out, size_t *out_len, int *http_status)
{
    struct rpc_shadow_auth a;
    const char *why = NULL;
    *out = NULL;
    *out_len = 0;
    *http_status = 401;
    if (!header)
        return auth_error(RPC_ERR_AUTH_MISSING, NULL, out, out_len);
    if (rpc_shadow_auth_parse(header, strlen(header), &a, &why))
        return auth_error(RPC_ERR_AUTH_MALFORMED, why, out, out_len);
    if (len > RPC_MAX_BODY_BYTES) {
        *http_status = 413;
        return rpc_dispatch_table(&s->api, &SHADOW_TABLE, NULL, len, out, out_len);
    }
    const char *chain_id = s->api.chain ? s->api.chain->chain_id : "";
    if (rpc_shadow_auth_verify(&a, chain_id, body, len))
        return auth_error(RPC_ERR_AUTH_BAD_SIG,
                          "sign BLAKE2b-256(\"" RPC_SHADOW_DOMAIN
                          "\" 0x00 chain_id 0x00 nonce_be64 body) "
                          "with the key named in key=",
                          out, out_len);
    uint64_t now = s->now_ms(s->clock_ctx);
    uint64_t skew = a.nonce > now ? a.nonce - now : now - a.nonce;
    if (skew > s->window_ms) {
        char d[128];
        snprintf(d, sizeof d,
                 "nonce %llu is %llu ms from this node's clock %llu; the window is %llu ms",
                 (unsigned long long)a.nonce, (unsigned long long)skew, (unsigned long long)now,
                 (unsigned long long)s->window_ms);
        return auth_error(RPC_ERR_AUTH_STALE, d, out, out_len);
    }
    if (!key_allowed(s, a.key)) {
        *http_status = 403;
        return auth_error(RPC_ERR_AUTH_NOT_SHADOW,
                          "grant it with SetRoles, or list it in shadow_allowed_keys", out, out_len);
    }
    struct seen_key *sk = NULL;
    for (size_t i = 0; i < s->nseen; i++)
        if (memcmp(s->seen[i].key, a.key, CHAIN_PK_BYTES) == 0)
            sk = &s->seen[i];
    if (sk && a.nonce <= sk->last_nonce) {
        char d[96];
        snprintf(d, sizeof d, "nonce %llu, last accepted %llu", (unsigned long long)a.nonce,
                 (unsigned long long)sk->last_nonce);
        return auth_error(RPC_ERR_AUTH_REPLAYED, d, out, out_len);
    }
    if (!sk) {
        /* Only keys that passed every check get here, so the table fills
           only with authorised keys; when full, slot 0 is reused
           (its replays are still bounded by the window). */
        sk = &s->seen[s->nseen < SHADOW_MAX_KEYS ? s->nseen++ : 0];
        memcpy(sk->key, a.key, CHAIN_PK_BYTES);
    }
    sk->last_nonce = a.nonce;
    *http_status = 200;
    return rpc_dispatch_table(&s->api, &SHADOW_TABLE, body, len, out, out_len);
}

/* ---- HTTP ---- */

static void reply(struct evhttp_request *req, int code, const char *text, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (!b || evbuffer_add(b, text, len) != 0) {
        evbuffer_free(b);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, code,
                      code == 200   ? "OK"
                      : code == 401 ? "Unauthorized"
                      : code == 403 ? "Forbidden"
                      : code == 413 ? "Payload Too Large"
                                    : "Error",
                      b);
    evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct rpc_shadow *s = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (!path || !*path)
        path = "/";
    if (strcmp(path, "/") != 0) {
        evhttp_send_error(req, HTTP_NOTFOUND, "the shadow-centre API is served at POST /");
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_send_error(req, 405, "shadow-centre requests are POST / with a signed JSON body");
        return;
    }
    const char *hdr =
        evhttp_find_header(evhttp_request_get_input_headers(req), RPC_SHADOW_SIG_HEADER);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = "";
    if (len && len <= RPC_MAX_BODY_BYTES &&
        !(body = (const char *)evbuffer_pullup(in, (ev_ssize_t)len))) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    char *out = NULL;
    size_t ol = 0;
    int status = 500;
    if (rpc_shadow_dispatch(s, hdr, body, len, &out, &ol, &status) != 0) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    if (!out) {
        evhttp_send_reply(req, HTTP_NOCONTENT, "No Content", NULL);
        return;
    }
    reply(req, status, out, ol);
    free(out);
}

int rpc_shadow_open(struct rpc_shadow **out, struct event_base *base, struct chain *c,
                    const struct rpc_node_ops *ops, const struct rpc_shadow_config *cfg,
                    const char *host, uint16_t port)
{
    *out = NULL;
    struct rpc_shadow *s = calloc(1, sizeof *s);
    if (!s || !(s->inflight = calloc(RPC_SHADOW_MAX_INFLIGHT, sizeof *s->inflight))) {
        free(s);
        fprintf(stderr, "rpc: out of memory\n");
        return -1;
    }
    if (ops)
        s->ops = *ops;
    s->api.chain = c;
    s->api.ops = &s->ops;
    s->api.shadow = s;
    s->window_ms = cfg && cfg->window_ms ? cfg->window_ms : RPC_SHADOW_DEFAULT_WINDOW_MS;
    s->now_ms = cfg && cfg->now_ms ? cfg->now_ms : wall_ms;
    s->clock_ctx = cfg ? cfg->clock_ctx : NULL;
    if (cfg && cfg->pk && cfg->sk) {
        memcpy(s->pk, cfg->pk, CHAIN_PK_BYTES);
        memcpy(s->sk, cfg->sk, CHAIN_SK_BYTES);
        s->has_key = true;
    }
    if (cfg && cfg->nallowed) {
        if (!(s->allowed = malloc(cfg->nallowed * sizeof *s->allowed))) {
            fprintf(stderr, "rpc: out of memory\n");
            goto fail;
        }
        memcpy(s->allowed, cfg->allowed_keys, cfg->nallowed * sizeof *s->allowed);
        s->nallowed = cfg->nallowed;
    }
    if (!(s->http = evhttp_new(base))) {
        fprintf(stderr, "rpc: cannot create the shadow-centre HTTP server\n");
        goto fail;
    }
    evhttp_set_max_body_size(s->http, (ev_ssize_t)RPC_HARD_MAX_BODY_BYTES);
    evhttp_set_max_headers_size(s->http, 16 * 1024);
    evhttp_set_timeout(s->http, 30);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(s->http, on_request, s);
    if (!(s->sock = evhttp_bind_socket_with_handle(s->http, host, port))) {
        fprintf(stderr,
                "rpc: cannot listen for the shadow-centre API on %s:%u (address in use, or not "
                "local?)\n",
                host, (unsigned)port);
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(s->sock), (struct sockaddr *)&ss, &sl) != 0) {
        fprintf(stderr, "rpc: cannot read the bound address of %s:%u\n", host, (unsigned)port);
        goto fail;
    }
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    *out = s;
    return 0;
fail:
    rpc_shadow_close(s);
    return -1;
}

uint16_t rpc_shadow_port(const struct rpc_shadow *s)
{
    return s->port;
}

void rpc_shadow_close(struct rpc_shadow *s)
{
    if (!s)
        return;
    if (s->http)
        evhttp_free(s->http);
    sodium_memzero(s->sk, sizeof s->sk);
    free(s->allowed);
    free(s->inflight);
    free(s);
}
