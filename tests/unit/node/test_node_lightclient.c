/* test_node_lightclient.c -- gridctl's verifier (node_lightclient.c) against real answers.
 *
 * A real chain with four genesis validators commits a transfer; the RPC
 * dispatcher (rpc_dispatch, no HTTP) produces get_header and get_account
 * results exactly as a node serves them, with certificates signed by
 * whichever validators a test picks.  The untampered answer must verify;
 * every single-byte change to the header, the certificate, a signature, the
 * value or the proof must not; nor a certificate by too few, repeated or
 * unknown signers; nor a genesis file for another chain or validator set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chain_block.h"
#include "chain_crypto.h"
#include "chain_ledger.h"
#include "node_lightclient.h"
#include "rpc.h"
#include "testutil.h"

#define NV       4
#define CHAIN_ID "lc-test"

enum { K_V0, K_V1, K_V2, K_V3, K_ALICE, K_BOB, K_OUTSIDER, K_N };

struct world {
    struct chain c;
    char *dir;
    uint8_t pk[K_N][CHAIN_PK_BYTES], sk[K_N][CHAIN_SK_BYTES];
    /* which keys sign the next certificate, with their claimed signer index */
    int signer_key[CONS_NODES_MAX];
    uint32_t signer_idx[CONS_NODES_MAX];
    uint32_t nsigners;
    struct rpc_node_ops ops;
    struct rpc_api api;
    char genesis[2048];
    struct node_lc_trust trust;
};

static int cert_op(void *ctx, uint64_t height, struct cons_cert *out)
{
    struct world *w = ctx;
    MDB_txn *txn;
    const uint8_t *bb;
    size_t bl;
    if (height == 0)
        return CHAIN_ERR_NOT_FOUND;
    assert_int_equal(mdb_txn_begin(w->c.store.env, NULL, MDB_RDONLY, &txn), 0);
    int rc = chain_block_get(&w->c, txn, height, &bb, &bl);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    ProtobufCMessage *m;
    assert_int_equal(chain_pb_unpack(&gl__block__descriptor, bb, bl, CHAIN_BLOCK_MAX_BYTES, &m), 0);
    Gl__Block *b = (Gl__Block *)m;
    memset(out, 0, sizeof *out);
    out->height = height;
    chain_hash(out->hash, CHAIN_TAG_HEADER, b->header_bytes.data, b->header_bytes.len);
    gl__block__free_unpacked(b, NULL);
    mdb_txn_abort(txn);
    uint8_t msg[CONS_VOTE_MSG_BYTES];
    cons_vote_msg(msg, height, out->hash);
    for (uint32_t i = 0; i < w->nsigners; i++) {
        out->sigs[i].signer = w->signer_idx[i];
        chain_sign(out->sigs[i].sig, CHAIN_TAG_VOTE, msg, sizeof msg, w->sk[w->signer_key[i]]);
    }
    out->n_sigs = w->nsigners;
    return 0;
}

static void sign_by(struct world *w, uint32_t n)
{
    w->nsigners = n;
    for (uint32_t i = 0; i < n; i++) {
        w->signer_key[i] = (int)i;
        w->signer_idx[i] = i;
    }
}

static void make_genesis_json(struct world *w, const char *chain_id, const char *engine,
                              int replace_v3_with)
{
    size_t off = (size_t)snprintf(
        w->genesis, sizeof w->genesis,
        "{\"chain_id\":\"%s\",\"engine\":\"%s\",\"time_ms\":1767225600000,\"validators\":[",
        chain_id, engine);
    for (int i = 0; i < NV; i++) {
        char hex[65];
        chain_hex(hex, w->pk[i == K_V3 && replace_v3_with >= 0 ? replace_v3_with : i],
                  CHAIN_PK_BYTES);
        off += (size_t)snprintf(w->genesis + off, sizeof w->genesis - off,
                                "%s{\"key\":\"%s\",\"power\":1,\"addr\":\"127.0.0.1:%d\"}",
                                i ? "," : "", hex, 26601 + i);
    }
    snprintf(w->genesis + off, sizeof w->genesis - off, "],\"accounts\":[]}");
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    for (int i = 0; i < K_N; i++) {
        uint8_t seed[32] = {0};
        seed[0] = (uint8_t)(0x40 + i);
        memcpy(seed + 1, "lightclient", 11);
        chain_keypair_from_seed(w->pk[i], w->sk[i], seed);
    }
    w->dir = tu_tmpdir("lc");
    struct chain_store_opts o = {.map_size = (size_t)64 << 20, .no_sync = true};
    assert_int_equal(chain_open(&w->c, w->dir, &o), 0);
    struct chain_validator v[NV];
    for (int i = 0; i < NV; i++) {
        memcpy(v[i].key, w->pk[i], CHAIN_PK_BYTES);
        v[i].power = 1;
    }
    struct chain_genesis_account acc[2] = {{.balance = 1000 * CHAIN_MICRO_PER_TOKEN},
                                           {.balance = 7}};
    memcpy(acc[0].pk, w->pk[K_ALICE], CHAIN_PK_BYTES);
    memcpy(acc[1].pk, w->pk[K_BOB], CHAIN_PK_BYTES);
    struct chain_genesis g = {.chain_id = CHAIN_ID,
                              .time_ms = 1767225600000ull,
                              .accounts = acc,
                              .naccounts = 2,
                              .validators = v,
                              .nvalidators = NV};
    assert_int_equal(chain_genesis(&w->c, &g), 0);
    /* block 1: alice pays bob 3 tokens */
    uint8_t *p, *tx;
    size_t pl, tl;
    assert_int_equal(chain_payload_transfer(w->pk[K_BOB], 3 * CHAIN_MICRO_PER_TOKEN, &p, &pl), 0);
    assert_int_equal(chain_tx_build(CHAIN_ID, 0, GL__TX_TYPE__TX_TRANSFER, p, pl, w->pk[K_ALICE],
                                    w->sk[K_ALICE], &tx, &tl),
                     0);
    free(p);
    struct chain_exec_result r;
    const uint8_t *txs[1] = {tx};
    assert_int_equal(chain_build_block(&w->c, 1767225601000ull, w->pk[K_V0], txs, &tl, 1, &r), 0);
    assert_int_equal(r.tx_results[0], 0);
    assert_int_equal(chain_commit(&w->c, &r), 0);
    chain_exec_result_free(&r);
    free(tx);
    w->ops = (struct rpc_node_ops){.ctx = w, .get_cert = cert_op};
    w->api = (struct rpc_api){.chain = &w->c, .ops = &w->ops};
    sign_by(w, 3);
    make_genesis_json(w, CHAIN_ID, "raft", -1);
    char why[256];
    assert_int_equal(
        node_lc_trust_from_genesis(w->genesis, strlen(w->genesis), &w->trust, why, sizeof why), 0);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    chain_close(&w->c);
    tu_rmdir(w->dir);
    free(w->dir);
    free(w);
    return 0;
}

/* The result of one method call through the real dispatcher. */
static json_t *rpc(struct world *w, const char *method, const char *params)
{
    char body[512], *out;
    size_t n;
    snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}",
             method, params);
    assert_int_equal(rpc_dispatch(&w->api, body, strlen(body), &out, &n), 0);
    json_t *r = json_loadb(out, n, 0, NULL);
    free(out);
    assert_non_null(r);
    json_t *res = json_object_get(r, "result");
    if (!res)
        fail_msg("%s: %s", method, json_dumps(r, 0));
    json_incref(res);
    json_decref(r);
    return res;
}

static json_t *header_at(struct world *w, uint64_t h)
{
    char p[64];
    snprintf(p, sizeof p, "{\"height\":%llu}", (unsigned long long)h);
    return rpc(w, "get_header", p);
}

static json_t *account_at(struct world *w, int who, uint64_t h)
{
    char p[160], hex[65];
    chain_hex(hex, w->pk[who], CHAIN_PK_BYTES);
    snprintf(p, sizeof p, "{\"account\":\"%s\",\"height\":%llu}", hex, (unsigned long long)h);
    return rpc(w, "get_account", p);
}

static int check_header(struct world *w, json_t *hj, struct node_lc_header *h)
{
    char why[384];
    int rc = node_lc_check_header_json(&w->trust, hj, 1, h, why, sizeof why);
    if (rc)
        assert_true(strlen(why) > 0);
    return rc;
}

static int check_account(const struct node_lc_header *h, json_t *aj, const uint8_t *pk,
                         struct chain_account *a)
{
    char why[384];
    return node_lc_check_account_json(h, aj, pk, a, why, sizeof why);
}

/* Flip the bits of byte i of the hex string at obj[key] (in place). */
static void flip_hex_byte(json_t *obj, const char *key, size_t i, uint8_t mask)
{
    const char *s = json_string_value(json_object_get(obj, key));
    assert_non_null(s);
    char *c = strdup(s);
    assert_true(2 * i + 1 < strlen(c) + 1);
    unsigned v;
    char two[3] = {c[2 * i], c[2 * i + 1], 0};
    sscanf(two, "%2x", &v);
    v ^= mask;
    snprintf(two, sizeof two, "%02x", v & 0xff);
    c[2 * i] = two[0];
    c[2 * i + 1] = two[1];
    json_object_set_new(obj, key, json_string(c));
    free(c);
}

static size_t hex_bytes(json_t *obj, const char *key)
{
    return strlen(json_string_value(json_object_get(obj, key))) / 2;
}

/* ---- passing ---- */

static void test_a_correct_header_cert_and_proof_verify(void **state)
{
    struct world *w = *state;
    struct node_lc_header h;
    struct chain_account a;
    json_t *hj = header_at(w, 1);
    assert_int_equal(check_header(w, hj, &h), NODE_LC_ERR_OK);
    assert_int_equal(h.height, 1);
    assert_memory_equal(h.hash, w->c.head.hash, 32);
    assert_memory_equal(h.state_root, w->c.head.state_root, 32);
    json_t *aj = account_at(w, K_BOB, 1);
    assert_int_equal(check_account(&h, aj, w->pk[K_BOB], &a), NODE_LC_ERR_OK);
    assert_true(a.exists);
    assert_int_equal(a.balance, 7 + 3 * CHAIN_MICRO_PER_TOKEN);
    json_decref(aj);
    /* an absent account verifies as absent */
    aj = account_at(w, K_OUTSIDER, 1);
    assert_int_equal(check_account(&h, aj, w->pk[K_OUTSIDER], &a), NODE_LC_ERR_OK);
    assert_false(a.exists);
    json_decref(aj);
    /* a raw state key through get_state */
    char p[128], hex[32];
    chain_hex(hex, (const uint8_t *)"sys/supply", 10);
    snprintf(p, sizeof p, "{\"key\":\"%s\",\"height\":1}", hex);
    json_t *sj = rpc(w, "get_state", p);
    uint8_t *val;
    size_t vl;
    char why[256];
    assert_int_equal(node_lc_check_state_json(&h, sj, (const uint8_t *)"sys/supply", 10, &val, &vl,
                                              why, sizeof why),
                     NODE_LC_ERR_OK);
    assert_non_null(val);
    free(val);
    assert_int_equal(node_lc_check_state_json(&h, sj, (const uint8_t *)"sys/supplz", 10, &val, &vl,
                                              why, sizeof why),
                     NODE_LC_ERR_KEY_MISMATCH);
    json_decref(sj);
    json_decref(hj);
}

static void test_all_four_signers_also_verify_and_pbft_needs_the_same_three(void **state)
{
    struct world *w = *state;
    struct node_lc_header h;
    sign_by(w, 4);
    json_t *hj = header_at(w, 1);
    assert_int_equal(check_header(w, hj, &h), NODE_LC_ERR_OK);
    json_decref(hj);
    make_genesis_json(w, CHAIN_ID, "pbft", -1);
    char why[256];
    assert_int_equal(
        node_lc_trust_from_genesis(w->genesis, strlen(w->genesis), &w->trust, why, sizeof why), 0);
    assert_int_equal(w->trust.engine, CONS_ENGINE_PBFT);
    sign_by(w, 3);
    hj = header_at(w, 1);
    assert_int_equal(check_header(w, hj, &h), NODE_LC_ERR_OK);
    json_decref(hj);
    sign_by(w, 2);
    hj = header_at(w, 1);
    assert_int_equal(check_header(w, hj, &h), NODE_LC_ERR_CERT_INVALID);
    json_decref(hj);
}

/* ---- header and certificate tampering ---- */

static void test_every_flipped_header_byte_fails(void **state)
{
    struct world *w = *state;
    struct node_lc_header h;
    json_t *hj = header_at(w, 1);
    size_t n = hex_bytes(hj, "header");
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_deep_copy(hj);
        flip_hex_byte(t, "header", i, 0x01);
        assert_int_equal(check_header(w, t, &h), NODE_LC_ERR_HEADER_HASH);
        /* and with the hash recomputed to match, the certificate no longer does */
        uint8_t hb[CHAIN_HEADER_MAX_BYTES], hh[32];
        assert_int_equal(node_lc_hex(json_object_get(t, "header"), hb, n), 0);
        chain_hash(hh, CHAIN_TAG_HEADER, hb, n);
        char hex[65];
        chain_hex(hex, hh, 32);
        json_object_set_new(t, "hash", json_string(hex));
        int rc = check_header(w, t, &h);
        assert_true(rc == NODE_LC_ERR_CERT_MISMATCH || rc == NODE_LC_ERR_HEADER_MALFORMED ||
                    rc == NODE_LC_ERR_HEIGHT_MISMATCH || rc == NODE_LC_ERR_WRONG_CHAIN ||
                    rc == NODE_LC_ERR_VALSET_CHANGED);
        json_decref(t);
    }
    json_decref(hj);
}

static void test_a_changed_certificate_or_signature_fails(void **state)
{
    struct world *w = *state;
    struct node_lc_header h;
    json_t *hj = header_at(w, 1);
    json_t *cert = json_object_get(hj, "cert");
    /* the certificate's hash */
    for (size_t i = 0; i < 32; i++) {
        json_t *t = json_deep_copy(hj);
        flip_hex_byte(json_object_get(t, "cert"), "hash", i, 0x80);
        assert_int_equal(check_header(w, t, &h), NODE_LC_ERR_CERT_MISMATCH);
        json_decref(t);
    }
    /* its height */
    json_t *t = json_deep_copy(hj);
    json_object_set_new(json_object_get(t, "cert"), "height", json_integer(2));
    assert_int_equal(check_header(w, t, &h), NODE_LC_ERR_CERT_MISMATCH);
    json_decref(t);
    /* every byte of every signature */
    for (size_t s = 0; s < json_array_size(json_object_get(cert, "sigs")); s++)
        for (size_t i = 0; i < 64; i++) {
            t = json_deep_copy(hj);
            flip_hex_byte(json_array_get(json_object_get(json_object_get(t, "cert"), "sigs"), s),
                          "sig", i, 0x10);
            assert_int_equal(check_header(w, t, &h), NODE_LC_ERR_CERT_INVALID);
            json_decref(t);
        }
    /* a signature moved to another signer's index */
    t = json_deep_copy(hj);
    json_object_set_new(json_array_get(json_object_get(json_object_get(t, "cert"), "sigs"), 0),
                        "signer", json_integer(3));
    assert_int_equal(check_header(w, t, &h), NODE_LC_ERR_CERT_INVALID);
    json_decref(t);
    /* no certificate at all, or a malformed one */
    t = json_deep_copy(hj);
    json_object_set_new(t, "cert", json_null());
    assert_int_equal(check_header(w, t, &h), NODE_LC_ERR_NO_CERT);
    json_object_set_new(t, "cert", json_string("x"));
    assert_int_equal(check_header(w, t, &h), NODE_LC_ERR_BAD_RESPONSE);
    json_decref(t);
    json_decref(hj);
}

static void test_a_cert_by_too_few_repeated_or_unknown_validators_fails(void **state)
{
    struct world *w = *state;
    struct node_lc_header h;
    json_t *hj;
    sign_by(w, 2); /* raft, n = 4: a majority is 3 */
    hj = header_at(w, 1);
    assert_int_equal(check_header(w, hj, &h), NODE_LC_ERR_CERT_INVALID);
    json_decref(hj);
    /* three signatures, but one validator twice */
    sign_by(w, 3);
    w->signer_key[2] = K_V1;
    w->signer_idx[2] = 1;
    hj = header_at(w, 1);
    assert_int_equal(check_header(w, hj, &h), NODE_LC_ERR_CERT_INVALID);
    json_decref(hj);
    /* three signatures, one by an outsider claiming validator 2's index */
    sign_by(w, 3);
    w->signer_key[2] = K_OUTSIDER;
    hj = header_at(w, 1);
    assert_int_equal(check_header(w, hj, &h), NODE_LC_ERR_CERT_INVALID);
    json_decref(hj);
    /* ... or an index beyond the validator set */
    sign_by(w, 3);
    w->signer_key[2] = K_OUTSIDER;
    w->signer_idx[2] = 4;
    hj = header_at(w, 1);
    assert_int_equal(check_header(w, hj, &h), NODE_LC_ERR_CERT_INVALID);
    json_decref(hj);
    /* a genesis that lists the outsider instead of validator 3: the header's
     * validator-set hash gives the substitution away before any signature */
    sign_by(w, 3);
    make_genesis_json(w, CHAIN_ID, "raft", K_OUTSIDER);
    char why[256];
    assert_int_equal(
        node_lc_trust_from_genesis(w->genesis, strlen(w->genesis), &w->trust, why, sizeof why), 0);
    hj = header_at(w, 1);
    assert_int_equal(check_header(w, hj, &h), NODE_LC_ERR_VALSET_CHANGED);
    json_decref(hj);
    make_genesis_json(w, "another-chain", "raft", -1);
    assert_int_equal(
        node_lc_trust_from_genesis(w->genesis, strlen(w->genesis), &w->trust, why, sizeof why), 0);
    hj = header_at(w, 1);
    assert_int_equal(check_header(w, hj, &h), NODE_LC_ERR_WRONG_CHAIN);
    json_decref(hj);
}

static void test_a_header_for_another_height_fails(void **state)
{
    struct world *w = *state;
    struct node_lc_header h;
    char why[256];
    json_t *hj = header_at(w, 1);
    assert_int_equal(node_lc_check_header_json(&w->trust, hj, 2, &h, why, sizeof why),
                     NODE_LC_ERR_HEIGHT_MISMATCH);
    json_object_set_new(hj, "height", json_integer(2));
    assert_int_equal(node_lc_check_header_json(&w->trust, hj, UINT64_MAX, &h, why, sizeof why),
                     NODE_LC_ERR_HEIGHT_MISMATCH);
    json_decref(hj);
}

/* ---- value and proof tampering ---- */

static void test_every_flipped_value_or_proof_byte_fails(void **state)
{
    struct world *w = *state;
    struct node_lc_header h;
    struct chain_account a;
    json_t *hj = header_at(w, 1);
    assert_int_equal(check_header(w, hj, &h), NODE_LC_ERR_OK);
    json_t *aj = account_at(w, K_BOB, 1);
    size_t nv = hex_bytes(aj, "value"), np = hex_bytes(aj, "proof");
    assert_true(nv > 0 && np > 0);
    for (size_t i = 0; i < nv; i++) {
        json_t *t = json_deep_copy(aj);
        flip_hex_byte(t, "value", i, 0x04);
        assert_int_equal(check_account(&h, t, w->pk[K_BOB], &a), NODE_LC_ERR_PROOF_INVALID);
        json_decref(t);
    }
    for (size_t i = 0; i < np; i++)
        for (int bit = 0; bit < 8; bit += 3) {
            json_t *t = json_deep_copy(aj);
            flip_hex_byte(t, "proof", i, (uint8_t)(1u << bit));
            int rc = check_account(&h, t, w->pk[K_BOB], &a);
            assert_true(rc == NODE_LC_ERR_PROOF_INVALID || rc == NODE_LC_ERR_PROOF_MALFORMED);
            json_decref(t);
        }
    /* a value claimed absent */
    json_t *t = json_deep_copy(aj);
    json_object_set_new(t, "value", json_null());
    assert_int_equal(check_account(&h, t, w->pk[K_BOB], &a), NODE_LC_ERR_PROOF_INVALID);
    json_decref(t);
    /* another account's (valid) value and proof for ours */
    json_t *alice = account_at(w, K_ALICE, 1);
    t = json_deep_copy(aj);
    json_object_set(t, "value", json_object_get(alice, "value"));
    json_object_set(t, "proof", json_object_get(alice, "proof"));
    assert_int_equal(check_account(&h, t, w->pk[K_BOB], &a), NODE_LC_ERR_PROOF_INVALID);
    json_decref(t);
    assert_int_equal(check_account(&h, alice, w->pk[K_BOB], &a), NODE_LC_ERR_KEY_MISMATCH);
    json_decref(alice);
    /* the value of another height, against this height's root */
    json_t *old = account_at(w, K_BOB, 0);
    assert_int_equal(check_account(&h, old, w->pk[K_BOB], &a), NODE_LC_ERR_HEIGHT_MISMATCH);
    json_object_set_new(old, "height", json_integer(1));
    assert_int_equal(check_account(&h, old, w->pk[K_BOB], &a), NODE_LC_ERR_PROOF_INVALID);
    json_decref(old);
    /* an untouched value with lying convenience fields */
    t = json_deep_copy(aj);
    json_object_set_new(t, "balance", json_integer(999999999));
    assert_int_equal(check_account(&h, t, w->pk[K_BOB], &a), NODE_LC_ERR_FIELDS_MISMATCH);
    json_object_del(t, "balance");
    assert_int_equal(check_account(&h, t, w->pk[K_BOB], &a), NODE_LC_ERR_FIELDS_MISMATCH);
    json_decref(t);
    /* garbage instead of hex */
    t = json_deep_copy(aj);
    json_object_set_new(t, "proof", json_string("zz"));
    assert_int_equal(check_account(&h, t, w->pk[K_BOB], &a), NODE_LC_ERR_BAD_RESPONSE);
    json_decref(t);
    assert_int_equal(check_account(&h, aj, w->pk[K_BOB], &a), NODE_LC_ERR_OK);
    json_decref(aj);
    json_decref(hj);
}

/* ---- genesis ---- */

static void test_an_unusable_genesis_is_refused_with_a_reason(void **state)
{
    (void)state;
    struct node_lc_trust t;
    char why[256];
    const char *bad[] = {
        "{",
        "[]",
        "{\"engine\":\"raft\",\"validators\":[{\"key\":\"" /* no chain_id */
        "0000000000000000000000000000000000000000000000000000000000000000\"}]}",
        "{\"chain_id\":\"c\",\"engine\":\"paxos\",\"validators\":[{\"key\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\"}]}",
        "{\"chain_id\":\"c\",\"engine\":\"raft\",\"validators\":[]}",
        "{\"chain_id\":\"c\",\"engine\":\"raft\",\"validators\":[{\"key\":\"00\"}]}",
        "{\"chain_id\":\"c\",\"engine\":\"raft\",\"validators\":[{\"key\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\",\"power\":0}]}",
        "{\"chain_id\":\"c\",\"engine\":\"raft\",\"validators\":["
        "{\"key\":\"0000000000000000000000000000000000000000000000000000000000000000\"},"
        "{\"key\":\"0000000000000000000000000000000000000000000000000000000000000000\"}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        assert_int_equal(node_lc_trust_from_genesis(bad[i], strlen(bad[i]), &t, why, sizeof why),
                         NODE_LC_ERR_BAD_GENESIS);
        assert_true(strlen(why) > 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_a_correct_header_cert_and_proof_verify, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_all_four_signers_also_verify_and_pbft_needs_the_same_three, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_flipped_header_byte_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_changed_certificate_or_signature_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_cert_by_too_few_repeated_or_unknown_validators_fails,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_header_for_another_height_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_flipped_value_or_proof_byte_fails, setup,
                                        teardown),
        cmocka_unit_test(test_an_unusable_genesis_is_refused_with_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
