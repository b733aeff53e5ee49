/* node_lightclient.c -- header, certificate and proof checks for gridctl.
 *
 * Order of checks, cheapest and most specific first, each with its own
 * named error: response shape, header hash, header decoding and height,
 * chain id, validator set, certificate binding (height and hash), the
 * certificate's signatures, then the value against the state root. */
#include "node_lightclient.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_block.h"
#include "chain_codec.h"
#include "chain_crypto.h"
#include "chain_proof.h"

const char *node_lc_err_name(int err)
{
    switch (err) {
#define NODE_LC_NAME_(name, code, msg)                                                             \
    case code: return #name;
        NODE_LC_ERRORS(NODE_LC_NAME_)
#undef NODE_LC_NAME_
    default: return "UNKNOWN";
    }
}

const char *node_lc_strerror(int err)
{
    switch (err) {
#define NODE_LC_MSG_(name, code, msg)                                                              \
    case code: return msg;
        NODE_LC_ERRORS(NODE_LC_MSG_)
#undef NODE_LC_MSG_
    default: return "unknown error code";
    }
}

int node_lc_hex(const json_t *s, uint8_t *out, size_t n)
{
    if (!json_is_string(s))
        return -1;
    return chain_hex_decode(json_string_value(s), json_string_length(s), out, n);
}

/* A hex string of at most max bytes, malloc'd (an empty string gives a
 * 1-byte allocation and length 0). */
static int hex_alloc(const json_t *s, size_t max, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!json_is_string(s) || json_string_length(s) % 2 || json_string_length(s) / 2 > max)
        return -1;
    size_t n = json_string_length(s) / 2;
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        return -1;
    if (chain_hex_decode(json_string_value(s), json_string_length(s), b, n)) {
        free(b);
        return -1;
    }
    *out = b;
    *len = n;
    return 0;
}

static int get_u64(const json_t *o, const char *k, uint64_t *out)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* ---- genesis ---- */

int node_lc_trust_from_genesis(const char *text, size_t len, struct node_lc_trust *out, char *why,
                               size_t whylen)
{
    json_error_t jerr;
    int rc = NODE_LC_ERR_BAD_GENESIS;
    memset(out, 0, sizeof *out);
    json_t *g = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!g) {
        snprintf(why, whylen, "genesis is not valid JSON (line %d: %s)", jerr.line, jerr.text);
        return rc;
    }
    if (!json_is_object(g)) {
        snprintf(why, whylen, "genesis must be a JSON object");
        goto done;
    }
    json_t *cid = json_object_get(g, "chain_id");
    if (!json_is_string(cid) || json_string_length(cid) == 0 ||
        json_string_length(cid) > CHAIN_CHAIN_ID_MAX_BYTES) {
        snprintf(why, whylen, "genesis \"chain_id\" must be a string of 1 to %u bytes",
                 CHAIN_CHAIN_ID_MAX_BYTES);
        goto done;
    }
    snprintf(out->chain_id, sizeof out->chain_id, "%s", json_string_value(cid));
    json_t *eng = json_object_get(g, "engine");
    if (json_is_string(eng) && strcmp(json_string_value(eng), "raft") == 0)
        out->engine = CONS_ENGINE_RAFT;
    else if (json_is_string(eng) && strcmp(json_string_value(eng), "pbft") == 0)
        out->engine = CONS_ENGINE_PBFT;
    else {
        snprintf(why, whylen, "genesis \"engine\" must be \"raft\" or \"pbft\"");
        goto done;
    }
    json_t *vals = json_object_get(g, "validators");
    size_t n = json_array_size(vals);
    if (!json_is_array(vals) || n == 0 || n > CONS_NODES_MAX) {
        snprintf(why, whylen, "genesis \"validators\" must be an array of 1 to %u validators",
                 CONS_NODES_MAX);
        goto done;
    }
    struct chain_validator cv[CONS_NODES_MAX];
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(vals, i);
        uint64_t power = 0;
        if (!json_is_object(v) ||
            node_lc_hex(json_object_get(v, "key"), out->keys[i], CONS_KEY_BYTES)) {
            snprintf(why, whylen, "genesis validators[%zu].key must be 64 hex digits", i);
            goto done;
        }
        if (json_object_get(v, "power") && (get_u64(v, "power", &power) || power == 0)) {
            snprintf(why, whylen, "genesis validators[%zu].power must be a positive integer", i);
            goto done;
        }
        out->power[i] = json_object_get(v, "power") ? power : 1;
        memcpy(cv[i].key, out->keys[i], CHAIN_PK_BYTES);
        cv[i].power = out->power[i];
        for (size_t j = 0; j < i; j++)
            if (memcmp(out->keys[j], out->keys[i], CONS_KEY_BYTES) == 0) {
                snprintf(why, whylen, "genesis validators[%zu] repeats validators[%zu]'s key", i,
                         j);
                goto done;
            }
    }
    out->n = (uint32_t)n;
    if (chain_valset_hash(cv, n, out->valset_hash) != CHAIN_ERR_OK) {
        snprintf(why, whylen, "out of memory hashing the validator set");
        rc = NODE_LC_ERR_NOMEM;
        goto done;
    }
    rc = NODE_LC_ERR_OK;
done:
    json_decref(g);
    return rc;
}

/* ---- bytes ---- */

bool node_lc_vote_verify(void *ctx, const uint8_t key[CONS_KEY_BYTES], const uint8_t *msg,
                         size_t len, const uint8_t sig[CONS_SIG_BYTES])
{
    (void)ctx;
    return chain_verify(sig, CHAIN_TAG_VOTE, msg, len, key) == CHAIN_ERR_OK;
}

int node_lc_verify_header(const struct node_lc_trust *t, const uint8_t *header, size_t header_len,
                          const uint8_t *claimed_hash, uint64_t want_height,
                          const struct cons_cert *cert, struct node_lc_header *out)
{
    uint8_t hash[CHAIN_HASH_BYTES];
    ProtobufCMessage *m = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    chain_hash(hash, CHAIN_TAG_HEADER, header, header_len);
    if (claimed_hash && memcmp(hash, claimed_hash, CHAIN_HASH_BYTES) != 0)
        return NODE_LC_ERR_HEADER_HASH;
    if (chain_pb_unpack(&gl__block_header__descriptor, header, header_len, CHAIN_HEADER_MAX_BYTES,
                        &m))
        return NODE_LC_ERR_HEADER_MALFORMED;
    Gl__BlockHeader *h = (Gl__BlockHeader *)m;
    if (h->state_root.len != CHAIN_HASH_BYTES || h->valset_hash.len != CHAIN_HASH_BYTES) {
        rc = NODE_LC_ERR_HEADER_MALFORMED;
        goto done;
    }
    if (want_height != UINT64_MAX && h->height != want_height) {
        rc = NODE_LC_ERR_HEIGHT_MISMATCH;
        goto done;
    }
    if (strcmp(h->chain_id, t->chain_id) != 0) {
        rc = NODE_LC_ERR_WRONG_CHAIN;
        goto done;
    }
    if (memcmp(h->valset_hash.data, t->valset_hash, CHAIN_HASH_BYTES) != 0) {
        rc = NODE_LC_ERR_VALSET_CHANGED;
        goto done;
    }
    if (!cert) {
        rc = NODE_LC_ERR_NO_CERT;
        goto done;
    }
    if (cert->height != h->height || memcmp(cert->hash, hash, CHAIN_HASH_BYTES) != 0) {
        rc = NODE_LC_ERR_CERT_MISMATCH;
        goto done;
    }
    if (cons_cert_check(t->engine, t->n, (const uint8_t(*)[CONS_KEY_BYTES])t->keys, cert,
                        node_lc_vote_verify, NULL) != CONS_ERR_OK) {
        rc = NODE_LC_ERR_CERT_INVALID;
        goto done;
    }
    out->height = h->height;
    out->time_ms = h->time_ms;
    memcpy(out->hash, hash, CHAIN_HASH_BYTES);
    memcpy(out->state_root, h->state_root.data, CHAIN_HASH_BYTES);
    rc = NODE_LC_ERR_OK;
done:
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int node_lc_verify_kv(const struct node_lc_header *h, const uint8_t *key, size_t key_len,
                      const uint8_t *value, size_t value_len, const uint8_t *proof,
                      size_t proof_len)
{
    struct chain_proof *p = malloc(sizeof *p); /* 8 KB: off the stack */
    if (!p)
        return NODE_LC_ERR_NOMEM;
    int rc = NODE_LC_ERR_PROOF_MALFORMED;
    if (chain_proof_decode(proof, proof_len, p) == CHAIN_ERR_OK)
        rc = chain_proof_verify_kv(h->state_root, key, key_len, value, value_len, p) == CHAIN_ERR_OK
                 ? NODE_LC_ERR_OK
                 : NODE_LC_ERR_PROOF_INVALID;
    free(p);
    return rc;
}

/* ---- JSON ---- */

static int fail(int rc, char *why, size_t whylen, const char *detail)
{
    snprintf(why, whylen, "%s%s%s", node_lc_strerror(rc), detail ? ": " : "", detail ? detail : "");
    return rc;
}

static int cert_from_json(const json_t *c, struct cons_cert *out)
{
    memset(out, 0, sizeof *out);
    const json_t *sigs = json_object_get(c, "sigs");
    if (!json_is_object(c) || get_u64(c, "height", &out->height) ||
        node_lc_hex(json_object_get(c, "hash"), out->hash, CONS_HASH_BYTES) ||
        !json_is_array(sigs) || json_array_size(sigs) > CONS_NODES_MAX)
        return -1;
    for (size_t i = 0; i < json_array_size(sigs); i++) {
        const json_t *s = json_array_get(sigs, i);
        uint64_t signer;
        if (!json_is_object(s) || get_u64(s, "signer", &signer) || signer > UINT32_MAX ||
            node_lc_hex(json_object_get(s, "sig"), out->sigs[i].sig, CONS_SIG_BYTES))
            return -1;
        out->sigs[i].signer = (uint32_t)signer;
    }
    out->n_sigs = (uint32_t)json_array_size(sigs);
    return 0;
}

int node_lc_check_header_json(const struct node_lc_trust *t, const json_t *result,
                              uint64_t want_height, struct node_lc_header *out, char *why,
                              size_t whylen)
{
    uint8_t claimed[CHAIN_HASH_BYTES], *hb = NULL;
    size_t hl;
    uint64_t height;
    struct cons_cert cert;
    memset(out, 0, sizeof *out);
    if (!json_is_object(result) || get_u64(result, "height", &height) ||
        node_lc_hex(json_object_get(result, "hash"), claimed, sizeof claimed) ||
        hex_alloc(json_object_get(result, "header"), CHAIN_HEADER_MAX_BYTES, &hb, &hl))
        return fail(NODE_LC_ERR_BAD_RESPONSE, why, whylen,
                    "get_header needs height, hash and header");
    if (want_height != UINT64_MAX && height != want_height) {
        free(hb);
        return fail(NODE_LC_ERR_HEIGHT_MISMATCH, why, whylen, NULL);
    }
    const json_t *cj = json_object_get(result, "cert");
    bool have_cert = cj && !json_is_null(cj);
    if (have_cert && cert_from_json(cj, &cert)) {
        free(hb);
        return fail(NODE_LC_ERR_BAD_RESPONSE, why, whylen, "the certificate is malformed");
    }
    int rc = node_lc_verify_header(t, hb, hl, claimed, height, have_cert ? &cert : NULL, out);
    free(hb);
    if (rc == NODE_LC_ERR_OK)
        return rc;
    char detail[160];
    switch (rc) {
    case NODE_LC_ERR_NO_CERT:
        snprintf(detail, sizeof detail,
                 "height %llu has none yet (genesis, or not yet certified); retry later",
                 (unsigned long long)height);
        break;
    case NODE_LC_ERR_CERT_INVALID:
        snprintf(detail, sizeof detail, "%s needs %u of the %u genesis validators",
                 t->engine == CONS_ENGINE_RAFT ? "raft" : "pbft", cons_quorum(t->engine, t->n),
                 t->n);
        break;
    case NODE_LC_ERR_WRONG_CHAIN:
        snprintf(detail, sizeof detail, "the genesis file is for \"%s\"", t->chain_id);
        break;
    default: detail[0] = '\0';
    }
    return fail(rc, why, whylen, detail[0] ? detail : NULL);
}

/* Shared by account and state: key binding, value and proof.  Unverified
 * (verify false): the key and height are still checked, the proof is not. */
static int check_value_json(const struct node_lc_header *h, const json_t *result,
                            const uint8_t *key, size_t key_len, bool verify, uint8_t **value,
                            size_t *value_len, char *why, size_t whylen)
{
    uint8_t *rkey = NULL, *proof = NULL;
    size_t rkl, pl;
    uint64_t height;
    int rc;
    *value = NULL;
    *value_len = 0;
    const json_t *vj = json_object_get(result, "value");
    if (!json_is_object(result) || get_u64(result, "height", &height) ||
        hex_alloc(json_object_get(result, "key"), CHAIN_STATE_KEY_MAX_BYTES, &rkey, &rkl) ||
        (verify &&
         hex_alloc(json_object_get(result, "proof"), CHAIN_PROOF_MAX_BYTES, &proof, &pl)) ||
        !vj ||
        (!json_is_null(vj) && hex_alloc(vj, CHAIN_STATE_VALUE_MAX_BYTES, value, value_len))) {
        rc = fail(NODE_LC_ERR_BAD_RESPONSE, why, whylen,
                  "needs height, key, value (hex or null) and proof");
        goto done;
    }
    if (height != h->height) {
        rc = fail(NODE_LC_ERR_HEIGHT_MISMATCH, why, whylen,
                  "the value is not from the certified height");
        goto done;
    }
    if (rkl != key_len || memcmp(rkey, key, key_len) != 0) {
        rc = fail(NODE_LC_ERR_KEY_MISMATCH, why, whylen, NULL);
        goto done;
    }
    rc =
        verify ? node_lc_verify_kv(h, key, key_len, *value, *value_len, proof, pl) : NODE_LC_ERR_OK;
    if (rc)
        fail(rc, why, whylen, NULL);
done:
    if (rc) {
        free(*value);
        *value = NULL;
        *value_len = 0;
    }
    free(rkey);
    free(proof);
    return rc;
}

int node_lc_check_state_json(const struct node_lc_header *h, const json_t *result,
                             const uint8_t *key, size_t key_len, uint8_t **value, size_t *value_len,
                             char *why, size_t whylen)
{
    return check_value_json(h, result, key, key_len, true, value, value_len, why, whylen);
}

/* Strict decoding of proven bytes (NULL value: NULL message). */
static int decode_msg(const ProtobufCMessageDescriptor *desc, const uint8_t *val, size_t vl,
                      ProtobufCMessage **msg, char *why, size_t whylen)
{
    *msg = NULL;
    if (!val)
        return NODE_LC_ERR_OK;
    int rc = chain_pb_unpack(desc, val, vl, CHAIN_STATE_VALUE_MAX_BYTES, msg);
    if (rc == CHAIN_ERR_OK)
        return NODE_LC_ERR_OK;
    *msg = NULL;
    char detail[160];
    snprintf(detail, sizeof detail, "not a %s (%s)", desc->name, chain_err_name(rc));
    return fail(NODE_LC_ERR_VALUE_MALFORMED, why, whylen, detail);
}

int node_lc_check_msg_json(const struct node_lc_header *h, const json_t *result, const uint8_t *key,
                           size_t key_len, const ProtobufCMessageDescriptor *desc,
                           ProtobufCMessage **msg, char *why, size_t whylen)
{
    uint8_t *val;
    size_t vl;
    *msg = NULL;
    int rc = check_value_json(h, result, key, key_len, true, &val, &vl, why, whylen);
    if (rc)
        return rc;
    rc = decode_msg(desc, val, vl, msg, why, whylen);
    free(val);
    return rc;
}

int node_lc_check_account_json(const struct node_lc_header *h, const json_t *result,
                               const uint8_t pk[static CHAIN_PK_BYTES], struct chain_account *out,
                               char *why, size_t whylen)
{
    uint8_t key[CHAIN_KEY_ACCOUNT_BYTES], acct[CHAIN_PK_BYTES], *val = NULL;
    size_t vl;
    memset(out, 0, sizeof *out);
    chain_key_account(key, pk);
    if (!json_is_object(result) ||
        node_lc_hex(json_object_get(result, "account"), acct, sizeof acct))
        return fail(NODE_LC_ERR_BAD_RESPONSE, why, whylen, "get_account needs account");
    if (memcmp(acct, pk, sizeof acct) != 0)
        return fail(NODE_LC_ERR_KEY_MISMATCH, why, whylen, NULL);
    int rc = check_value_json(h, result, key, sizeof key, true, &val, &vl, why, whylen);
    if (rc)
        return rc;
    if (val && chain_account_decode(val, vl, out) != CHAIN_ERR_OK) {
        free(val);
        return fail(NODE_LC_ERR_VALUE_MALFORMED, why, whylen, NULL);
    }
    out->exists = val != NULL;
    free(val);
    /* The convenience fields must say what the proof says. */
    const json_t *ex = json_object_get(result, "exists"), *bal = json_object_get(result, "balance"),
                 *nonce = json_object_get(result, "nonce"),
                 *locked = json_object_get(result, "locked");
    if (!json_is_boolean(ex) || json_boolean_value(ex) != out->exists || !json_is_integer(bal) ||
        json_integer_value(bal) != out->balance || !json_is_integer(nonce) ||
        (uint64_t)json_integer_value(nonce) != out->nonce || !json_is_integer(locked) ||
        json_integer_value(locked) != out->locked)
        return fail(NODE_LC_ERR_FIELDS_MISMATCH, why, whylen, "exists, balance, nonce or locked");
    return NODE_LC_ERR_OK;
}

/* ---- reads through a node ---- */

/* c->call, with a NO_ANSWER naming the method on failure. */
static json_t *call(const struct node_lc_client *c, const char *method, json_t *params, int *rc,
                    char *why, size_t whylen)
{
    char err[384];
    err[0] = '\0';
    json_t *r = c->call(c->ctx, method, params, err, sizeof err);
    if (r && json_is_object(r)) {
        *rc = NODE_LC_ERR_OK;
        return r;
    }
    json_decref(r);
    if (err[0])
        snprintf(why, whylen, "%s: %s", method, err);
    else
        snprintf(why, whylen, "%s: %s", method, node_lc_strerror(NODE_LC_ERR_NO_ANSWER));
    *rc = NODE_LC_ERR_NO_ANSWER;
    return NULL;
}

static json_t *height_params(uint64_t height)
{
    return json_pack("{s:I}", "height", (json_int_t)height);
}

/* The node's word for the head: height and claimed hash, nothing checked. */
static int head_unverified(const struct node_lc_client *c, struct node_lc_header *out, char *why,
                           size_t whylen)
{
    int rc;
    json_t *r = call(c, "get_header", NULL, &rc, why, whylen);
    if (!r)
        return rc;
    if (get_u64(r, "height", &out->height) ||
        node_lc_hex(json_object_get(r, "hash"), out->hash, sizeof out->hash))
        rc = fail(NODE_LC_ERR_BAD_RESPONSE, why, whylen, "get_header needs height and hash");
    json_decref(r);
    return rc;
}

int node_lc_head(const struct node_lc_client *c, struct node_lc_header *out, char *why,
                 size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (c->unverified)
        return head_unverified(c, out, why, whylen);
    assert(c->trust);
    uint64_t want = UINT64_MAX, head = 0;
    int rc = NODE_LC_ERR_NO_CERT;
    for (int attempt = 0; attempt <= NODE_LC_CERT_LOOKBACK; attempt++) {
        json_t *r = call(c, "get_header", want == UINT64_MAX ? NULL : height_params(want), &rc, why,
                         whylen);
        if (!r)
            return rc;
        rc = node_lc_check_header_json(c->trust, r, want, out, why, whylen);
        if (want == UINT64_MAX)
            (void)get_u64(r, "height", &head);
        json_decref(r);
        if (rc == NODE_LC_ERR_OK)
            return rc;
        uint64_t at = want == UINT64_MAX ? head : want;
        if (rc != NODE_LC_ERR_NO_CERT || at == 0)
            break;
        want = at - 1;
    }
    if (rc == NODE_LC_ERR_NO_CERT)
        snprintf(why, whylen,
                 "the node has no certified block at or below its head (height %llu) within %d "
                 "heights, so nothing can be verified yet; retry in a moment",
                 (unsigned long long)head, NODE_LC_CERT_LOOKBACK);
    memset(out, 0, sizeof *out);
    return rc;
}

int node_lc_state_at(const struct node_lc_client *c, const struct node_lc_header *h,
                     const uint8_t *key, size_t key_len, uint8_t **value, size_t *value_len,
                     char *why, size_t whylen)
{
    *value = NULL;
    *value_len = 0;
    assert(key_len > 0 && key_len <= CHAIN_STATE_KEY_MAX_BYTES);
    char hex[2 * CHAIN_STATE_KEY_MAX_BYTES + 1];
    chain_hex(hex, key, key_len);
    int rc;
    json_t *r =
        call(c, "get_state", json_pack("{s:s, s:I}", "key", hex, "height", (json_int_t)h->height),
             &rc, why, whylen);
    if (!r)
        return rc;
    rc = check_value_json(h, r, key, key_len, !c->unverified, value, value_len, why, whylen);
    json_decref(r);
    return rc;
}

int node_lc_msg_at(const struct node_lc_client *c, const struct node_lc_header *h,
                   const uint8_t *key, size_t key_len, const ProtobufCMessageDescriptor *desc,
                   ProtobufCMessage **msg, char *why, size_t whylen)
{
    uint8_t *val;
    size_t vl;
    *msg = NULL;
    int rc = node_lc_state_at(c, h, key, key_len, &val, &vl, why, whylen);
    if (rc)
        return rc;
    rc = decode_msg(desc, val, vl, msg, why, whylen);
    free(val);
    return rc;
}

int node_lc_read_msg(const struct node_lc_client *c, const uint8_t *key, size_t key_len,
                     const ProtobufCMessageDescriptor *desc, struct node_lc_header *h,
                     ProtobufCMessage **msg, char *why, size_t whylen)
{
    *msg = NULL;
    int rc = node_lc_head(c, h, why, whylen);
    return rc ? rc : node_lc_msg_at(c, h, key, key_len, desc, msg, why, whylen);
}

int node_lc_account_at(const struct node_lc_client *c, const struct node_lc_header *h,
                       const uint8_t pk[static CHAIN_PK_BYTES], struct chain_account *out,
                       char *why, size_t whylen)
{
    uint8_t key[CHAIN_KEY_ACCOUNT_BYTES], *val;
    size_t vl;
    memset(out, 0, sizeof *out);
    chain_key_account(key, pk);
    int rc = node_lc_state_at(c, h, key, sizeof key, &val, &vl, why, whylen);
    if (rc)
        return rc;
    if (val && chain_account_decode(val, vl, out) != CHAIN_ERR_OK) {
        free(val);
        memset(out, 0, sizeof *out);
        return fail(NODE_LC_ERR_VALUE_MALFORMED, why, whylen, "not a gl.Account");
    }
    out->exists = val != NULL;
    free(val);
    return NODE_LC_ERR_OK;
}
