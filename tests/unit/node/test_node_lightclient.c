/* test_node_lightclient.c -- gridctl's verifier (node_lightclient.c) against real answers.
 *
 * A real chain with four genesis validators commits a transfer; the RPC
 * dispatcher (rpc_dispatch, no HTTP) produces get_header and get_account
 * results exactly as a node serves them, with certificates signed by
 * whichever validators a test picks.  The untampered answer must verify;
 * every single-byte change to the header, the certificate, a signature, the
 * value or the proof must not; nor a certificate by too few, repeated or
 * unknown signers; nor a genesis file for another chain or validator set.
 *
 * The reads through a node (node_lc_head, node_lc_read_msg, ...) run over a
 * transport that calls the same dispatcher, optionally through a tampering
 * hook (the test's stand-in for a lying node or proxy).  A second chain, the
 * market's fixture (tests/unit/market/mst_fixture.h), trades and settles a
 * slot so that a real bill, orders, a clearing result and a fill are in
 * state: each is verified from get_state answers, and tampering of the
 * value, the proof or the key is refused; an absent bill proves absence. */
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
#include "unit/market/mst_fixture.h"

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
    uint64_t uncertified_from; /* heights >= this have no certificate yet (0: all have one) */
};

/* The header hash of the committed block at height (NOT_FOUND at genesis). */
static int block_hash_at(struct chain *c, uint64_t height, uint8_t hash[CHAIN_HASH_BYTES])
{
    MDB_txn *txn;
    const uint8_t *bb;
    size_t bl;
    if (height == 0)
        return CHAIN_ERR_NOT_FOUND;
    assert_int_equal(mdb_txn_begin(c->store.env, NULL, MDB_RDONLY, &txn), 0);
    int rc = chain_block_get(c, txn, height, &bb, &bl);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    ProtobufCMessage *m;
    assert_int_equal(chain_pb_unpack(&gl__block__descriptor, bb, bl, CHAIN_BLOCK_MAX_BYTES, &m), 0);
    Gl__Block *b = (Gl__Block *)m;
    chain_hash(hash, CHAIN_TAG_HEADER, b->header_bytes.data, b->header_bytes.len);
    gl__block__free_unpacked(b, NULL);
    mdb_txn_abort(txn);
    return 0;
}

static int cert_op(void *ctx, uint64_t height, struct cons_cert *out)
{
    struct world *w = ctx;
    memset(out, 0, sizeof *out);
    if (w->uncertified_from && height >= w->uncertified_from)
        return CHAIN_ERR_NOT_FOUND;
    int rc = block_hash_at(&w->c, height, out->hash);
    if (rc)
        return rc;
    out->height = height;
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

/* ---- reads through a node: a transport over the dispatcher ---- */

/* The node as a light client sees it: rpc_dispatch behind a tampering hook
 * on the request's params and one on the result (a lying node or proxy). */
struct wire {
    const struct rpc_api *api;
    void (*tamper_params)(const char *method, json_t *params, void *arg);
    void (*tamper_result)(const char *method, json_t *result, void *arg);
    void *arg;
};

static json_t *wire_call(void *ctx, const char *method, json_t *params, char *why, size_t whylen)
{
    struct wire *wr = ctx;
    json_t *req = json_pack("{s:s, s:i, s:s}", "jsonrpc", "2.0", "id", 1, "method", method);
    assert_non_null(req);
    if (params) {
        if (wr->tamper_params)
            wr->tamper_params(method, params, wr->arg);
        json_object_set_new(req, "params", params);
    }
    char *body = json_dumps(req, JSON_COMPACT), *out;
    size_t n;
    json_decref(req);
    assert_int_equal(rpc_dispatch(wr->api, body, strlen(body), &out, &n), 0);
    free(body);
    json_t *resp = json_loadb(out, n, 0, NULL);
    free(out);
    assert_non_null(resp);
    json_t *res = json_object_get(resp, "result");
    if (!res) {
        snprintf(why, whylen, "%s",
                 json_string_value(json_object_get(json_object_get(resp, "error"), "message")));
        json_decref(resp);
        return NULL;
    }
    json_incref(res);
    json_decref(resp);
    if (wr->tamper_result)
        wr->tamper_result(method, res, wr->arg);
    return res;
}

static struct node_lc_client client_of(struct wire *wr, const struct node_lc_trust *t)
{
    return (struct node_lc_client){.call = wire_call, .ctx = wr, .trust = t};
}

/* Tampering hooks.  A get_state for another key than asked (the last key
 * byte flipped in the request). */
static void other_key(const char *method, json_t *params, void *arg)
{
    (void)arg;
    if (strcmp(method, "get_state") == 0)
        flip_hex_byte(params, "key", hex_bytes(params, "key") - 1, 0x01);
}

/* The same, with the answer's key put back as asked: only the proof can
 * tell. */
static void other_key_disguised(const char *method, json_t *result, void *arg)
{
    (void)arg;
    if (strcmp(method, "get_state") == 0)
        flip_hex_byte(result, "key", hex_bytes(result, "key") - 1, 0x01);
}

/* A bit of the value flipped, or a value made up where there is none. */
static void flip_value(const char *method, json_t *result, void *arg)
{
    (void)arg;
    if (strcmp(method, "get_state") != 0)
        return;
    if (json_is_null(json_object_get(result, "value")))
        json_object_set_new(result, "value", json_string("0801"));
    else
        flip_hex_byte(result, "value", 0, 0x02);
}

static void flip_proof(const char *method, json_t *result, void *arg)
{
    (void)arg;
    if (strcmp(method, "get_state") == 0)
        flip_hex_byte(result, "proof", hex_bytes(result, "proof") / 2, 0x08);
}

/* A certificate that is not there (a node that only has uncertified heights). */
static void drop_cert(const char *method, json_t *result, void *arg)
{
    (void)arg;
    if (strcmp(method, "get_header") == 0)
        json_object_set_new(result, "cert", json_null());
}

static void add_empty_block(struct chain *c, const uint8_t proposer[CHAIN_PK_BYTES])
{
    struct chain_exec_result r;
    assert_int_equal(chain_build_block(c, c->head.time_ms + 1000, proposer, NULL, NULL, 0, &r), 0);
    assert_int_equal(chain_commit(c, &r), 0);
    chain_exec_result_free(&r);
}

static void test_reads_through_a_node_look_back_past_an_uncertified_head(void **state)
{
    struct world *w = *state;
    struct wire wr = {.api = &w->api};
    struct node_lc_client c = client_of(&wr, &w->trust);
    struct node_lc_header h;
    struct chain_account a;
    char why[512];
    add_empty_block(&w->c, w->pk[K_V0]); /* head at 2 */
    assert_int_equal(node_lc_head(&c, &h, why, sizeof why), NODE_LC_ERR_OK);
    assert_int_equal(h.height, 2);
    /* the head's certificate is not there yet: the height below it is used */
    w->uncertified_from = 2;
    assert_int_equal(node_lc_head(&c, &h, why, sizeof why), NODE_LC_ERR_OK);
    assert_int_equal(h.height, 1);
    assert_int_equal(node_lc_account_at(&c, &h, w->pk[K_BOB], &a, why, sizeof why), 0);
    assert_true(a.exists);
    assert_int_equal(a.balance, 7 + 3 * CHAIN_MICRO_PER_TOKEN);
    assert_int_equal(node_lc_account_at(&c, &h, w->pk[K_OUTSIDER], &a, why, sizeof why), 0);
    assert_false(a.exists);
    /* nothing certified at all: NO_CERT, with a reason to retry */
    w->uncertified_from = 1;
    assert_int_equal(node_lc_head(&c, &h, why, sizeof why), NODE_LC_ERR_NO_CERT);
    assert_non_null(strstr(why, "retry"));
    w->uncertified_from = 0;
    wr.tamper_result = drop_cert;
    assert_int_equal(node_lc_head(&c, &h, why, sizeof why), NODE_LC_ERR_NO_CERT);
    /* a certificate by too few validators is refused, not looked past */
    wr.tamper_result = NULL;
    sign_by(w, 2);
    assert_int_equal(node_lc_head(&c, &h, why, sizeof why), NODE_LC_ERR_CERT_INVALID);
    sign_by(w, 3);
    /* a proven value decoded as a message */
    ProtobufCMessage *m;
    assert_int_equal(node_lc_read_msg(&c, (const uint8_t *)"sys/supply", 10,
                                      &gl__supply__descriptor, &h, &m, why, sizeof why),
                     NODE_LC_ERR_OK);
    assert_non_null(m);
    assert_int_equal(((Gl__Supply *)m)->minted, 1000 * CHAIN_MICRO_PER_TOKEN + 7);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_reads_through_a_node_refuse_another_key_a_changed_value_or_proof(void **state)
{
    struct world *w = *state;
    struct wire wr = {.api = &w->api};
    struct node_lc_client c = client_of(&wr, &w->trust);
    struct node_lc_header h;
    struct chain_account a;
    char why[512];
    assert_int_equal(node_lc_head(&c, &h, why, sizeof why), NODE_LC_ERR_OK);
    wr.tamper_params = other_key;
    assert_int_equal(node_lc_account_at(&c, &h, w->pk[K_BOB], &a, why, sizeof why),
                     NODE_LC_ERR_KEY_MISMATCH);
    wr.tamper_result = other_key_disguised;
    assert_int_equal(node_lc_account_at(&c, &h, w->pk[K_BOB], &a, why, sizeof why),
                     NODE_LC_ERR_PROOF_INVALID);
    wr.tamper_params = NULL;
    wr.tamper_result = flip_value;
    assert_int_equal(node_lc_account_at(&c, &h, w->pk[K_BOB], &a, why, sizeof why),
                     NODE_LC_ERR_PROOF_INVALID);
    assert_non_null(strstr(why, "state root"));
    /* a made-up account where the proof shows none */
    assert_int_equal(node_lc_account_at(&c, &h, w->pk[K_OUTSIDER], &a, why, sizeof why),
                     NODE_LC_ERR_PROOF_INVALID);
    wr.tamper_result = flip_proof;
    int rc = node_lc_account_at(&c, &h, w->pk[K_BOB], &a, why, sizeof why);
    assert_true(rc == NODE_LC_ERR_PROOF_INVALID || rc == NODE_LC_ERR_PROOF_MALFORMED);
    /* proven bytes that are not the message asked for */
    wr.tamper_result = NULL;
    uint8_t key[CHAIN_KEY_ACCOUNT_BYTES];
    chain_key_account(key, w->pk[K_BOB]);
    ProtobufCMessage *m;
    assert_int_equal(
        node_lc_msg_at(&c, &h, key, sizeof key, &gl__mkt_order__descriptor, &m, why, sizeof why),
        NODE_LC_ERR_VALUE_MALFORMED);
    assert_null(m);
}

static void test_unverified_reads_skip_the_proof_but_not_the_key(void **state)
{
    struct world *w = *state;
    struct wire wr = {.api = &w->api};
    struct node_lc_client c = {.call = wire_call, .ctx = &wr, .unverified = true};
    struct node_lc_header h;
    struct chain_account a;
    char why[512];
    wr.tamper_result = drop_cert; /* no certificate needed */
    assert_int_equal(node_lc_head(&c, &h, why, sizeof why), NODE_LC_ERR_OK);
    assert_int_equal(h.height, 1);
    assert_int_equal(node_lc_account_at(&c, &h, w->pk[K_BOB], &a, why, sizeof why), 0);
    assert_int_equal(a.balance, 7 + 3 * CHAIN_MICRO_PER_TOKEN);
    wr.tamper_params = other_key;
    assert_int_equal(node_lc_account_at(&c, &h, w->pk[K_BOB], &a, why, sizeof why),
                     NODE_LC_ERR_KEY_MISMATCH);
}

/* ---- the market's state: orders, a result, a fill and a bill ---- */

#define MW_SLOT MT_SLOT(4)

struct mworld {
    struct fx f;
    uint8_t filled_id[CHAIN_HASH_BYTES];    /* alice's buy, filled at the gate */
    uint8_t cancelled_id[CHAIN_HASH_BYTES]; /* alice's second buy, cancelled */
    struct rpc_node_ops ops;
    struct rpc_api api;
    struct node_lc_trust trust;
    struct wire wr;
};

/* Certificates by the fixture's one validator (raft, n = 1). */
static int mcert_op(void *ctx, uint64_t height, struct cons_cert *out)
{
    struct mworld *mw = ctx;
    memset(out, 0, sizeof *out);
    int rc = block_hash_at(&mw->f.c, height, out->hash);
    if (rc)
        return rc;
    out->height = height;
    uint8_t msg[CONS_VOTE_MSG_BYTES];
    cons_vote_msg(msg, height, out->hash);
    chain_sign(out->sigs[0].sig, CHAIN_TAG_VOTE, msg, sizeof msg, mw->f.sk[FX_VALIDATOR]);
    out->sigs[0].signer = 0;
    out->n_sigs = 1;
    return 0;
}

/* Alice (metered) buys 2000 Wh from Bob (renewable, metered) in MW_SLOT at
 * 200,000 micro/kWh; she also places and cancels a second buy.  Both meter,
 * the slot settles: Alice's bill of MT_DAY2 exists (as test_mkt_settle.c
 * computes it by hand). */
static int msetup(void **state)
{
    struct mworld *mw = calloc(1, sizeof *mw);
    assert_non_null(mw);
    struct fx *f = &mw->f;
    mt_open(f);
    ms_params(f, 3);
    assert_int_equal(ms_register_metered(f, FX_ALICE, false, 0), CHAIN_ERR_OK);
    assert_int_equal(ms_register_metered(f, FX_BOB, true, 0), CHAIN_ERR_OK);
    assert_int_equal(mt_tariff(f, FX_SHADOW, MKT_ELECTRICITY, MW_SLOT, 300000, 100000),
                     CHAIN_ERR_OK);
    struct mkt_tx_order b = mt_simple(MKT_TX_BUY, MW_SLOT, 2000, 250000);
    struct mkt_tx_order s = mt_simple(MKT_TX_SELL, MW_SLOT, 2000, 150000);
    struct mkt_tx_order b2 = mt_simple(MKT_TX_BUY, MT_SLOT(5), 1000, 90000);
    uint8_t bob_id[CHAIN_HASH_BYTES];
    assert_int_equal(mt_order(f, FX_ALICE, &b, mw->filled_id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(f, FX_BOB, &s, bob_id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(f, FX_ALICE, &b2, mw->cancelled_id), CHAIN_ERR_OK);
    assert_int_equal(mt_cancel(f, FX_ALICE, mw->cancelled_id), CHAIN_ERR_OK);
    mt_at(f, MT_DA_GATE);
    assert_int_equal(mt_empty_block(f), CHAIN_ERR_OK);
    mt_at(f, MW_SLOT + MKT_SLOT_MS_DEFAULT);
    assert_int_equal(ms_reading(f, FX_ALICE, MW_SLOT, 2500, 0), CHAIN_ERR_OK);
    assert_int_equal(ms_reading(f, FX_BOB, MW_SLOT, 0, 1800), CHAIN_ERR_OK);
    mt_at(f, MS_DUE(MW_SLOT));
    assert_int_equal(mt_empty_block(f), CHAIN_ERR_OK);
    Gl__MktBill *bill = ms_get_bill(f, MT_DAY2, FX_ALICE);
    assert_non_null(bill);
    gl__mkt_bill__free_unpacked(bill, NULL);

    mw->ops = (struct rpc_node_ops){.ctx = mw, .get_cert = mcert_op};
    mw->api = (struct rpc_api){.chain = &f->c, .ops = &mw->ops};
    mw->wr = (struct wire){.api = &mw->api};
    char g[512], hex[65], why[256];
    chain_hex(hex, f->pk[FX_VALIDATOR], CHAIN_PK_BYTES);
    snprintf(
        g, sizeof g,
        "{\"chain_id\":\"%s\",\"engine\":\"raft\",\"validators\":[{\"key\":\"%s\",\"power\":1}]}",
        FX_CHAIN_ID, hex);
    assert_int_equal(node_lc_trust_from_genesis(g, strlen(g), &mw->trust, why, sizeof why), 0);
    *state = mw;
    return 0;
}

static int mteardown(void **state)
{
    struct mworld *mw = *state;
    fx_close(&mw->f);
    free(mw);
    return 0;
}

/* get_state for a raw key at the head, through the dispatcher. */
static json_t *mstate(struct mworld *mw, const uint8_t *key, size_t kl, uint64_t height)
{
    char hex[2 * CHAIN_STATE_KEY_MAX_BYTES + 1];
    chain_hex(hex, key, kl);
    char why[256];
    json_t *r = wire_call(&mw->wr, "get_state",
                          json_pack("{s:s, s:I}", "key", hex, "height", (json_int_t)height), why,
                          sizeof why);
    assert_non_null(r);
    return r;
}

static void mhead(struct mworld *mw, struct node_lc_header *h)
{
    struct node_lc_client c = client_of(&mw->wr, &mw->trust);
    char why[512];
    assert_int_equal(node_lc_head(&c, h, why, sizeof why), NODE_LC_ERR_OK);
    assert_int_equal(h->height, mw->f.c.head.height);
}

static int check_msg(const struct node_lc_header *h, json_t *r, const uint8_t *key, size_t kl,
                     const ProtobufCMessageDescriptor *d, ProtobufCMessage **m)
{
    char why[512];
    int rc = node_lc_check_msg_json(h, r, key, kl, d, m, why, sizeof why);
    if (rc)
        assert_true(strlen(why) > 0);
    return rc;
}

/* Every tampering of a present value's answer r for key: each value byte,
 * bits of each proof byte, the value dropped, and another (valid) key's
 * answer in its place. */
static void assert_tampering_refused(const struct node_lc_header *h, json_t *r, const uint8_t *key,
                                     size_t kl, json_t *other, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m;
    size_t nv = hex_bytes(r, "value"), np = hex_bytes(r, "proof");
    assert_true(nv > 0 && np > 0);
    for (size_t i = 0; i < nv; i++) {
        json_t *t = json_deep_copy(r);
        flip_hex_byte(t, "value", i, 0x10);
        assert_int_equal(check_msg(h, t, key, kl, d, &m), NODE_LC_ERR_PROOF_INVALID);
        assert_null(m);
        json_decref(t);
    }
    for (size_t i = 0; i < np; i++)
        for (int bit = 0; bit < 8; bit += 3) {
            json_t *t = json_deep_copy(r);
            flip_hex_byte(t, "proof", i, (uint8_t)(1u << bit));
            int rc = check_msg(h, t, key, kl, d, &m);
            assert_true(rc == NODE_LC_ERR_PROOF_INVALID || rc == NODE_LC_ERR_PROOF_MALFORMED);
            json_decref(t);
        }
    json_t *t = json_deep_copy(r);
    json_object_set_new(t, "value", json_null());
    assert_int_equal(check_msg(h, t, key, kl, d, &m), NODE_LC_ERR_PROOF_INVALID);
    json_decref(t);
    /* the other key's answer as it is: for another key */
    assert_int_equal(check_msg(h, other, key, kl, d, &m), NODE_LC_ERR_KEY_MISMATCH);
    /* ... and with our key written into it: its value and proof are not ours */
    t = json_deep_copy(other);
    json_object_set(t, "key", json_object_get(r, "key"));
    assert_int_equal(check_msg(h, t, key, kl, d, &m), NODE_LC_ERR_PROOF_INVALID);
    json_decref(t);
    /* an answer from another height */
    t = json_deep_copy(r);
    json_object_set_new(t, "height", json_integer((json_int_t)h->height - 1));
    assert_int_equal(check_msg(h, t, key, kl, d, &m), NODE_LC_ERR_HEIGHT_MISMATCH);
    json_decref(t);
    /* the untouched answer still verifies */
    assert_int_equal(check_msg(h, r, key, kl, d, &m), NODE_LC_ERR_OK);
    assert_non_null(m);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void test_a_bill_verifies_from_get_state_and_every_tampering_is_refused(void **state)
{
    struct mworld *mw = *state;
    struct node_lc_header h;
    ProtobufCMessage *m;
    uint8_t key[MKT_KEY_BILL_BYTES], bob_key[MKT_KEY_BILL_BYTES];
    mhead(mw, &h);
    mkt_key_bill(key, MT_DAY2, mw->f.pk[FX_ALICE]);
    mkt_key_bill(bob_key, MT_DAY2, mw->f.pk[FX_BOB]);
    json_t *r = mstate(mw, key, sizeof key, h.height);
    assert_int_equal(check_msg(&h, r, key, sizeof key, &gl__mkt_bill__descriptor, &m), 0);
    Gl__MktBill *b = (Gl__MktBill *)m, *want = ms_get_bill(&mw->f, MT_DAY2, FX_ALICE);
    assert_non_null(b);
    /* the numbers of test_mkt_settle.c: 2000 Wh bought at 200,000, 2500 metered */
    assert_int_equal(b->slots, 1);
    assert_int_equal(b->market_paid, 400000);
    assert_int_equal(b->imbalance_charge, 165000);
    assert_int_equal(b->import_wh, 2500);
    assert_int_equal(b->slots, want->slots);
    assert_int_equal(b->market_paid, want->market_paid);
    assert_int_equal(b->imbalance_charge, want->imbalance_charge);
    assert_int_equal(b->subsidy, want->subsidy);
    assert_int_equal(b->points, want->points);
    gl__mkt_bill__free_unpacked(want, NULL);
    protobuf_c_message_free_unpacked(m, NULL);
    json_t *bob = mstate(mw, bob_key, sizeof bob_key, h.height);
    assert_false(json_is_null(json_object_get(bob, "value")));
    assert_tampering_refused(&h, r, key, sizeof key, bob, &gl__mkt_bill__descriptor);
    json_decref(bob);
    json_decref(r);

    /* the one-call read, and the same tamperings through a lying node */
    struct node_lc_client c = client_of(&mw->wr, &mw->trust);
    char why[512];
    assert_int_equal(
        node_lc_read_msg(&c, key, sizeof key, &gl__mkt_bill__descriptor, &h, &m, why, sizeof why),
        NODE_LC_ERR_OK);
    assert_int_equal(((Gl__MktBill *)m)->market_paid, 400000);
    protobuf_c_message_free_unpacked(m, NULL);
    mw->wr.tamper_result = flip_value;
    assert_int_equal(
        node_lc_read_msg(&c, key, sizeof key, &gl__mkt_bill__descriptor, &h, &m, why, sizeof why),
        NODE_LC_ERR_PROOF_INVALID);
    assert_null(m);
    mw->wr.tamper_result = flip_proof;
    int rc =
        node_lc_read_msg(&c, key, sizeof key, &gl__mkt_bill__descriptor, &h, &m, why, sizeof why);
    assert_true(rc == NODE_LC_ERR_PROOF_INVALID || rc == NODE_LC_ERR_PROOF_MALFORMED);
    mw->wr.tamper_result = NULL;
    mw->wr.tamper_params = other_key;
    assert_int_equal(
        node_lc_read_msg(&c, key, sizeof key, &gl__mkt_bill__descriptor, &h, &m, why, sizeof why),
        NODE_LC_ERR_KEY_MISMATCH);
    mw->wr.tamper_result = other_key_disguised;
    assert_int_equal(
        node_lc_read_msg(&c, key, sizeof key, &gl__mkt_bill__descriptor, &h, &m, why, sizeof why),
        NODE_LC_ERR_PROOF_INVALID);
    mw->wr.tamper_params = NULL;
    mw->wr.tamper_result = NULL;
}

static void test_an_absent_bill_proves_absence_and_a_made_up_one_is_refused(void **state)
{
    struct mworld *mw = *state;
    struct node_lc_header h;
    ProtobufCMessage *m;
    uint8_t key[MKT_KEY_BILL_BYTES], alice[MKT_KEY_BILL_BYTES];
    mhead(mw, &h);
    /* the day after has no settled slot */
    mkt_key_bill(key, MT_DAY2 + MKT_DAY_MS, mw->f.pk[FX_ALICE]);
    mkt_key_bill(alice, MT_DAY2, mw->f.pk[FX_ALICE]);
    json_t *r = mstate(mw, key, sizeof key, h.height);
    assert_true(json_is_null(json_object_get(r, "value")));
    m = (ProtobufCMessage *)1;
    assert_int_equal(check_msg(&h, r, key, sizeof key, &gl__mkt_bill__descriptor, &m), 0);
    assert_null(m);
    /* a bill made up where the proof shows none: alice's real bill bytes,
     * then a flipped proof */
    json_t *real = mstate(mw, alice, sizeof alice, h.height);
    json_t *t = json_deep_copy(r);
    json_object_set(t, "value", json_object_get(real, "value"));
    assert_int_equal(check_msg(&h, t, key, sizeof key, &gl__mkt_bill__descriptor, &m),
                     NODE_LC_ERR_PROOF_INVALID);
    json_decref(t);
    for (size_t i = 0; i < hex_bytes(r, "proof"); i++) {
        t = json_deep_copy(r);
        flip_hex_byte(t, "proof", i, 0x01);
        int rc = check_msg(&h, t, key, sizeof key, &gl__mkt_bill__descriptor, &m);
        assert_true(rc == NODE_LC_ERR_PROOF_INVALID || rc == NODE_LC_ERR_PROOF_MALFORMED);
        json_decref(t);
    }
    /* an absent answer for the present bill's key does not prove it absent */
    t = json_deep_copy(r);
    json_object_set(t, "key", json_object_get(real, "key"));
    assert_int_equal(check_msg(&h, t, alice, sizeof alice, &gl__mkt_bill__descriptor, &m),
                     NODE_LC_ERR_PROOF_INVALID);
    json_decref(t);
    json_decref(real);
    json_decref(r);
    /* through the one-call read: absent, and a lying node's made-up value refused */
    struct node_lc_client c = client_of(&mw->wr, &mw->trust);
    char why[512];
    assert_int_equal(
        node_lc_read_msg(&c, key, sizeof key, &gl__mkt_bill__descriptor, &h, &m, why, sizeof why),
        NODE_LC_ERR_OK);
    assert_null(m);
    mw->wr.tamper_result = flip_value;
    assert_int_equal(
        node_lc_read_msg(&c, key, sizeof key, &gl__mkt_bill__descriptor, &h, &m, why, sizeof why),
        NODE_LC_ERR_PROOF_INVALID);
    mw->wr.tamper_result = NULL;
}

static void test_orders_verify_from_get_state_and_every_tampering_is_refused(void **state)
{
    struct mworld *mw = *state;
    struct node_lc_header h;
    ProtobufCMessage *m;
    uint8_t key[MKT_KEY_ORDER_BYTES], ckey[MKT_KEY_ORDER_BYTES];
    mhead(mw, &h);
    mkt_key_order(key, mw->filled_id);
    mkt_key_order(ckey, mw->cancelled_id);
    json_t *r = mstate(mw, key, sizeof key, h.height),
           *cr = mstate(mw, ckey, sizeof ckey, h.height);
    assert_int_equal(check_msg(&h, r, key, sizeof key, &gl__mkt_order__descriptor, &m), 0);
    Gl__MktOrder *o = (Gl__MktOrder *)m;
    assert_memory_equal(o->owner.data, mw->f.pk[FX_ALICE], CHAIN_PK_BYTES);
    assert_int_equal(o->status, MKT_ORDER_CLOSED);
    assert_int_equal(o->qty_wh, 2000);
    assert_int_equal(o->filled_wh, 2000);
    assert_int_equal(o->open_wh, 0);
    assert_int_equal(o->paid, 400000);
    protobuf_c_message_free_unpacked(m, NULL);
    assert_int_equal(check_msg(&h, cr, ckey, sizeof ckey, &gl__mkt_order__descriptor, &m), 0);
    o = (Gl__MktOrder *)m;
    assert_int_equal(o->status, MKT_ORDER_CANCELLED);
    assert_int_equal(o->locked, 0);
    protobuf_c_message_free_unpacked(m, NULL);
    /* the cancelled order's answer is no proof of the filled one, nor the reverse */
    assert_tampering_refused(&h, r, key, sizeof key, cr, &gl__mkt_order__descriptor);
    assert_tampering_refused(&h, cr, ckey, sizeof ckey, r, &gl__mkt_order__descriptor);
    json_decref(cr);
    json_decref(r);
    /* an order id nobody placed proves absent */
    uint8_t nobody[CHAIN_HASH_BYTES];
    memset(nobody, 0x5a, sizeof nobody);
    struct node_lc_client c = client_of(&mw->wr, &mw->trust);
    char why[512];
    mkt_key_order(key, nobody);
    assert_int_equal(
        node_lc_read_msg(&c, key, sizeof key, &gl__mkt_order__descriptor, &h, &m, why, sizeof why),
        NODE_LC_ERR_OK);
    assert_null(m);
    mw->wr.tamper_result = flip_value;
    assert_int_equal(
        node_lc_read_msg(&c, key, sizeof key, &gl__mkt_order__descriptor, &h, &m, why, sizeof why),
        NODE_LC_ERR_PROOF_INVALID);
    mw->wr.tamper_result = NULL;
}

static void test_a_result_and_a_fill_verify_under_one_header(void **state)
{
    struct mworld *mw = *state;
    struct node_lc_header h;
    ProtobufCMessage *rm, *fm;
    uint8_t rkey[MKT_KEY_RESULT_BYTES], fkey[MKT_KEY_FILL_BYTES];
    struct node_lc_client c = client_of(&mw->wr, &mw->trust);
    char why[512];
    mkt_key_result(rkey, MKT_ELECTRICITY, MKT_DAY_AHEAD, MW_SLOT);
    mkt_key_fill(fkey, MKT_ELECTRICITY, MKT_DAY_AHEAD, MW_SLOT, mw->filled_id);
    assert_int_equal(node_lc_read_msg(&c, rkey, sizeof rkey, &gl__mkt_result__descriptor, &h, &rm,
                                      why, sizeof why),
                     NODE_LC_ERR_OK);
    assert_int_equal(
        node_lc_msg_at(&c, &h, fkey, sizeof fkey, &gl__mkt_fill__descriptor, &fm, why, sizeof why),
        NODE_LC_ERR_OK);
    assert_non_null(rm);
    assert_non_null(fm);
    assert_int_equal(((Gl__MktResult *)rm)->price, 200000);
    assert_int_equal(((Gl__MktResult *)rm)->volume_wh, 2000);
    assert_int_equal(((Gl__MktFill *)fm)->fill_wh, 2000);
    assert_int_equal(((Gl__MktFill *)fm)->paid, 400000);
    protobuf_c_message_free_unpacked(rm, NULL);
    protobuf_c_message_free_unpacked(fm, NULL);
    /* an intraday book of the slot never cleared: proven absent */
    mkt_key_result(rkey, MKT_HEAT, MKT_INTRADAY, MW_SLOT);
    assert_int_equal(node_lc_msg_at(&c, &h, rkey, sizeof rkey, &gl__mkt_result__descriptor, &rm,
                                    why, sizeof why),
                     NODE_LC_ERR_OK);
    assert_null(rm);
    mw->wr.tamper_result = flip_value;
    assert_int_equal(
        node_lc_msg_at(&c, &h, fkey, sizeof fkey, &gl__mkt_fill__descriptor, &fm, why, sizeof why),
        NODE_LC_ERR_PROOF_INVALID);
    mw->wr.tamper_result = NULL;
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
        cmocka_unit_test_setup_teardown(
            test_reads_through_a_node_look_back_past_an_uncertified_head, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_reads_through_a_node_refuse_another_key_a_changed_value_or_proof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unverified_reads_skip_the_proof_but_not_the_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_bill_verifies_from_get_state_and_every_tampering_is_refused, msetup, mteardown),
        cmocka_unit_test_setup_teardown(
            test_an_absent_bill_proves_absence_and_a_made_up_one_is_refused, msetup, mteardown),
        cmocka_unit_test_setup_teardown(
            test_orders_verify_from_get_state_and_every_tampering_is_refused, msetup, mteardown),
        cmocka_unit_test_setup_teardown(test_a_result_and_a_fill_verify_under_one_header, msetup,
                                        mteardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
