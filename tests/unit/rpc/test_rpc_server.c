/* test_rpc_server.c -- the JSON-RPC server over real HTTP on loopback.
 *
 * A real chain (the ledger fixture: genesis, then two blocks of transfers,
 * one of which fails its business rule) is served by rpc_server_open on an
 * OS-chosen port, on an event loop in a second thread, with stub node ops
 * that record what they were asked and answer what the test says.  Requests
 * go through gridctl's own HTTP client (node_http_client.c).  Every method
 * is checked against the chain read directly; every error code is provoked;
 * batches, notifications, oversize bodies and malformed JSON are covered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chain_proof.h"
#include "node_http_client.h"
#include "rpc.h"
#include "unit/chain/ledger_fixture.h"

/* ---- the stub node ---- */

#define STUB_BLOCKS 4

struct stub {
    int submit_rc; /* what submit_tx answers */
    const char *submit_why;
    int submit_calls;
    uint8_t last_tx[CHAIN_TX_MAX_BYTES];
    size_t last_len;
    int status_rc;
    uint8_t vpk[CHAIN_PK_BYTES], vsk[CHAIN_SK_BYTES]; /* the validator that certifies */
    uint8_t hashes[STUB_BLOCKS][CHAIN_HASH_BYTES];    /* block hash by height */
    uint64_t nblocks;
};

static int stub_status(void *ctx, json_t *obj)
{
    struct stub *s = ctx;
    if (s->status_rc)
        return s->status_rc;
    char hex[65];
    chain_hex(hex, s->vpk, CHAIN_PK_BYTES);
    json_t *vals = json_pack("[s]", hex);
    json_object_set_new(obj, "engine", json_string("raft"));
    json_object_set_new(obj, "validators", vals);
    json_object_set_new(obj, "peers", json_integer(0));
    json_object_set_new(obj, "node_key", json_string(hex));
    json_object_set_new(obj, "role", json_string("validator"));
    return 0;
}

static int stub_submit(void *ctx, const uint8_t *tx, size_t len, uint8_t hash[32], const char **why)
{
    struct stub *s = ctx;
    s->submit_calls++;
    memcpy(s->last_tx, tx, len);
    s->last_len = len;
    chain_hash(hash, CHAIN_TAG_TX, tx, len);
    /* one envelope whose first byte is 0xee is refused alone (submit_txs) */
    if (len && tx[0] == 0xee) {
        *why = "stub refuses 0xee";
        return CHAIN_ERR_BAD_SIG;
    }
    *why = s->submit_why;
    return s->submit_rc;
}

static int stub_cert(void *ctx, uint64_t height, struct cons_cert *out)
{
    struct stub *s = ctx;
    if (height == 0 || height >= s->nblocks)
        return CHAIN_ERR_NOT_FOUND;
    uint8_t msg[CONS_VOTE_MSG_BYTES];
    memset(out, 0, sizeof *out);
    out->height = height;
    memcpy(out->hash, s->hashes[height], CHAIN_HASH_BYTES);
    cons_vote_msg(msg, height, out->hash);
    out->n_sigs = 1;
    out->sigs[0].signer = 0;
    chain_sign(out->sigs[0].sig, CHAIN_TAG_VOTE, msg, sizeof msg, s->vsk);
    return 0;
}

/* ---- the world: chain, server thread, client ---- */

struct world {
    struct fx f;
    struct stub stub;
    struct rpc_node_ops ops;
    struct event_base *base;
    struct rpc_server *srv;
    struct event *stop_ev;
    int stop_pipe[2];
    pthread_t th;
    struct node_http_url url;
    uint8_t tx1_hash[CHAIN_HASH_BYTES], tx2_hash[CHAIN_HASH_BYTES];
};

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void *loop_main(void *arg)
{
    struct world *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    fx_open(&w->f);
    struct fx *f = &w->f;
    memcpy(w->stub.vpk, f->pk[FX_VALIDATOR], CHAIN_PK_BYTES);
    memcpy(w->stub.vsk, f->sk[FX_VALIDATOR], CHAIN_SK_BYTES);
    memcpy(w->stub.hashes[0], f->c.head.hash, CHAIN_HASH_BYTES);
    /* block 1: alice pays bob 5 tokens; block 2: bob tries to pay carol too much */
    uint8_t *p;
    size_t pl, len;
    assert_int_equal(chain_payload_transfer(f->pk[FX_BOB], 5 * CHAIN_MICRO_PER_TOKEN, &p, &pl), 0);
    uint8_t *tx = fx_tx(f, FX_ALICE, GL__TX_TYPE__TX_TRANSFER, p, pl, &len);
    chain_hash(w->tx1_hash, CHAIN_TAG_TX, tx, len);
    assert_int_equal(fx_block(f, &tx, &len, 1, NULL), CHAIN_ERR_OK);
    free(tx);
    memcpy(w->stub.hashes[1], f->c.head.hash, CHAIN_HASH_BYTES);
    assert_int_equal(
        chain_payload_transfer(f->pk[FX_CAROL], 1000000 * CHAIN_MICRO_PER_TOKEN, &p, &pl), 0);
    tx = fx_tx(f, FX_BOB, GL__TX_TYPE__TX_TRANSFER, p, pl, &len);
    chain_hash(w->tx2_hash, CHAIN_TAG_TX, tx, len);
    assert_int_equal(fx_block(f, &tx, &len, 1, NULL), CHAIN_ERR_INSUFFICIENT_FUNDS);
    free(tx);
    memcpy(w->stub.hashes[2], f->c.head.hash, CHAIN_HASH_BYTES);
    w->stub.nblocks = 3;

    w->ops = (struct rpc_node_ops){
        .ctx = &w->stub, .status = stub_status, .submit_tx = stub_submit, .get_cert = stub_cert};
    w->base = event_base_new();
    assert_non_null(w->base);
    assert_int_equal(rpc_server_open(&w->srv, w->base, &f->c, &w->ops, "127.0.0.1", 0), 0);
    assert_true(rpc_server_port(w->srv) != 0);
    assert_int_equal(pipe(w->stop_pipe), 0);
    w->stop_ev = event_new(w->base, w->stop_pipe[0], EV_READ, on_stop, w->base);
    assert_int_equal(event_add(w->stop_ev, NULL), 0);
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)rpc_server_port(w->srv));
    assert_int_equal(node_http_parse_url(url, &w->url, err, sizeof err), 0);
    assert_int_equal(pthread_create(&w->th, NULL, loop_main, w), 0);
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    assert_int_equal(write(w->stop_pipe[1], "x", 1), 1);
    pthread_join(w->th, NULL);
    event_free(w->stop_ev);
    close(w->stop_pipe[0]);
    close(w->stop_pipe[1]);
    rpc_server_close(w->srv);
    event_base_free(w->base);
    fx_close(&w->f);
    free(w);
    return 0;
}

/* POST body; the parsed response (NULL for an empty 204 body). */
static json_t *post(struct world *w, const char *body, int *status)
{
    char *resp = NULL, err[256];
    size_t rl;
    int st = 0;
    if (node_http_post(&w->url, body, strlen(body), &st, &resp, &rl, err, sizeof err) != 0)
        fail_msg("HTTP failed: %s", err);
    if (status)
        *status = st;
    json_t *j = NULL;
    if (rl) {
        json_error_t je;
        j = json_loadb(resp, rl, 0, &je);
        if (!j)
            fail_msg("response is not JSON: %s", resp);
    }
    free(resp);
    return j;
}

/* A single call; returns the "result" (new ref), failing on an error. */
static json_t *call_ok(struct world *w, const char *method, const char *params)
{
    char body[4096];
    snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"%s\"%s%s}", method,
             params ? ",\"params\":" : "", params ? params : "");
    json_t *r = post(w, body, NULL);
    assert_non_null(r);
    if (json_object_get(r, "error"))
        fail_msg("%s failed: %s", method, json_dumps(json_object_get(r, "error"), 0));
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
    assert_string_equal(json_string_value(json_object_get(r, "jsonrpc")), "2.0");
    json_t *res = json_incref(json_object_get(r, "result"));
    json_decref(r);
    assert_non_null(res);
    return res;
}

/* A single request body expected to fail with code; returns the error's
 * message (static copy) and checks the id echoed. */
static char last_msg[512];
static json_t *last_data;
static const char *expect_error_body(struct world *w, const char *body, int code)
{
    json_t *r = post(w, body, NULL);
    assert_non_null(r);
    json_t *e = json_object_get(r, "error");
    if (!e)
        fail_msg("expected error %d for %s, got %s", code, body, json_dumps(r, 0));
    assert_null(json_object_get(r, "result"));
    assert_int_equal(json_integer_value(json_object_get(e, "code")), code);
    assert_true(json_is_string(json_object_get(e, "message")));
    snprintf(last_msg, sizeof last_msg, "%s", json_string_value(json_object_get(e, "message")));
    json_decref(last_data);
    last_data = json_incref(json_object_get(e, "data"));
    json_decref(r);
    return last_msg;
}

static const char *expect_error(struct world *w, const char *method, const char *params, int code)
{
    char body[8192];
    snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\"%s%s}", method,
             params ? ",\"params\":" : "", params ? params : "");
    return expect_error_body(w, body, code);
}

static void hex_of(char *out, const uint8_t *b, size_t n)
{
    chain_hex(out, b, n);
}

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
    size_t n = strlen(s) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(s + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* Raw HTTP for methods and paths the JSON-RPC client does not send. */
static int raw_http(struct world *w, const char *req, char *resp, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(rpc_server_port(w->srv))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = recv(fd, resp + n, cap - 1 - n, 0)) > 0)
        n += (size_t)r;
    resp[n] = '\0';
    close(fd);
    int code = 0;
    sscanf(resp, "HTTP/1.%*d %d", &code);
    return code;
}

/* ---- methods ---- */

static void test_status_reports_the_committed_head_and_the_node_fields(void **state)
{
    struct world *w = *state;
    json_t *r = call_ok(w, "status", NULL);
    char hex[65];
    assert_string_equal(json_string_value(json_object_get(r, "chain_id")), FX_CHAIN_ID);
    assert_int_equal(json_integer_value(json_object_get(r, "height")), 2);
    hex_of(hex, w->f.c.head.state_root, 32);
    assert_string_equal(json_string_value(json_object_get(r, "state_root")), hex);
    hex_of(hex, w->f.c.head.hash, 32);
    assert_string_equal(json_string_value(json_object_get(r, "block_hash")), hex);
    assert_int_equal(json_integer_value(json_object_get(r, "time_ms")),
                     (json_int_t)w->f.c.head.time_ms);
    assert_string_equal(json_string_value(json_object_get(r, "engine")), "raft");
    hex_of(hex, w->f.pk[FX_VALIDATOR], 32);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "validators"), 0)),
                        hex);
    json_decref(r);
}

static void test_get_block_lists_each_tx_with_its_committed_result(void **state)
{
    struct world *w = *state;
    json_t *r = call_ok(w, "get_block", "{\"height\":2}");
    char hex[65];
    assert_int_equal(json_integer_value(json_object_get(r, "height")), 2);
    hex_of(hex, w->stub.hashes[2], 32);
    assert_string_equal(json_string_value(json_object_get(r, "hash")), hex);
    /* the block bytes are the stored ones, and the header hashes to the hash */
    MDB_txn *txn;
    const uint8_t *bb;
    size_t bl;
    assert_int_equal(mdb_txn_begin(w->f.c.store.env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(chain_block_get(&w->f.c, txn, 2, &bb, &bl), 0);
    char *bhex = malloc(2 * bl + 1);
    hex_of(bhex, bb, bl);
    assert_string_equal(json_string_value(json_object_get(r, "block")), bhex);
    free(bhex);
    mdb_txn_abort(txn);
    uint8_t hb[CHAIN_HEADER_MAX_BYTES], h[32];
    size_t hl = unhex(json_string_value(json_object_get(r, "header")), hb, sizeof hb);
    chain_hash(h, CHAIN_TAG_HEADER, hb, hl);
    assert_memory_equal(h, w->stub.hashes[2], 32);
    json_t *txs = json_object_get(r, "txs");
    assert_int_equal(json_array_size(txs), 1);
    hex_of(hex, w->tx2_hash, 32);
    assert_string_equal(json_string_value(json_object_get(json_array_get(txs, 0), "hash")), hex);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(txs, 0), "result")),
                     CHAIN_ERR_INSUFFICIENT_FUNDS);
    assert_string_equal(json_string_value(json_object_get(json_array_get(txs, 0), "result_name")),
                        "INSUFFICIENT_FUNDS");
    json_decref(r);
    expect_error(w, "get_block", "{\"height\":3}", RPC_ERR_NOT_FOUND);
    assert_non_null(strstr(last_msg, "height 3"));
    expect_error(w, "get_block", "{}", RPC_ERR_INVALID_PARAMS);
    assert_non_null(strstr(last_msg, "\"height\""));
}

static void test_get_tx_finds_committed_transactions_and_not_others(void **state)
{
    struct world *w = *state;
    char hex[65], params[128];
    hex_of(hex, w->tx1_hash, 32);
    snprintf(params, sizeof params, "{\"hash\":\"%s\"}", hex);
    json_t *r = call_ok(w, "get_tx", params);
    assert_int_equal(json_integer_value(json_object_get(r, "height")), 1);
    assert_int_equal(json_integer_value(json_object_get(r, "index")), 0);
    assert_int_equal(json_integer_value(json_object_get(r, "result")), 0);
    assert_string_equal(json_string_value(json_object_get(r, "result_name")), "OK");
    json_decref(r);
    hex_of(hex, w->tx2_hash, 32);
    snprintf(params, sizeof params, "{\"hash\":\"%s\"}", hex);
    r = call_ok(w, "get_tx", params);
    assert_string_equal(json_string_value(json_object_get(r, "result_name")), "INSUFFICIENT_FUNDS");
    json_decref(r);
    expect_error(w, "get_tx",
                 "{\"hash\":\"0000000000000000000000000000000000000000000000000000000000000000\"}",
                 RPC_ERR_NOT_FOUND);
    expect_error(w, "get_tx", "{\"hash\":\"00\"}", RPC_ERR_INVALID_PARAMS);
    assert_non_null(strstr(last_msg, "\"hash\""));
}

/* Check an account result's proof against the state root of its height. */
static void check_account_proof(struct world *w, json_t *r, const uint8_t *pk, uint64_t height)
{
    uint8_t key[CHAIN_KEY_ACCOUNT_BYTES], proof_b[CHAIN_PROOF_MAX_BYTES], val[256], root[32];
    chain_key_account(key, pk);
    size_t pl = unhex(json_string_value(json_object_get(r, "proof")), proof_b, sizeof proof_b);
    json_t *vj = json_object_get(r, "value");
    size_t vl = json_is_null(vj) ? 0 : unhex(json_string_value(vj), val, sizeof val);
    static struct chain_proof p;
    assert_int_equal(chain_proof_decode(proof_b, pl, &p), CHAIN_ERR_OK);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(w->f.c.store.env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(chain_smt_root(txn, &w->f.c.store.smt, height, root), 0);
    mdb_txn_abort(txn);
    assert_int_equal(
        chain_proof_verify_kv(root, key, sizeof key, json_is_null(vj) ? NULL : val, vl, &p),
        CHAIN_ERR_OK);
    /* and the proof does not also prove a different claim */
    if (!json_is_null(vj))
        assert_int_equal(chain_proof_verify_kv(root, key, sizeof key, NULL, 0, &p),
                         CHAIN_ERR_PROOF_INVALID);
}

static void test_get_account_returns_a_proof_against_the_state_root_of_its_height(void **state)
{
    struct world *w = *state;
    char hex[65], params[160];
    hex_of(hex, w->f.pk[FX_ALICE], 32);
    snprintf(params, sizeof params, "{\"account\":\"%s\"}", hex);
    json_t *r = call_ok(w, "get_account", params);
    struct chain_account a = fx_account(&w->f, w->f.pk[FX_ALICE]);
    assert_true(json_is_true(json_object_get(r, "exists")));
    assert_int_equal(json_integer_value(json_object_get(r, "height")), 2);
    assert_int_equal(json_integer_value(json_object_get(r, "balance")), a.balance);
    assert_int_equal(json_integer_value(json_object_get(r, "nonce")), 1);
    assert_int_equal(json_integer_value(json_object_get(r, "balance")),
                     FX_START_BALANCE - 5 * CHAIN_MICRO_PER_TOKEN);
    check_account_proof(w, r, w->f.pk[FX_ALICE], 2);
    json_decref(r);
    /* at height 0 alice had the whole start balance and nonce 0 */
    snprintf(params, sizeof params, "{\"account\":\"%s\",\"height\":0}", hex);
    r = call_ok(w, "get_account", params);
    assert_int_equal(json_integer_value(json_object_get(r, "balance")), FX_START_BALANCE);
    assert_int_equal(json_integer_value(json_object_get(r, "nonce")), 0);
    check_account_proof(w, r, w->f.pk[FX_ALICE], 0);
    json_decref(r);
    /* the operator has roles */
    hex_of(hex, w->f.pk[FX_OPERATOR], 32);
    snprintf(params, sizeof params, "{\"account\":\"%s\"}", hex);
    r = call_ok(w, "get_account", params);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r, "roles"), 0)),
                        "operator");
    json_decref(r);
    /* an unknown account: exists false, null value, a non-membership proof */
    uint8_t nobody[32];
    memset(nobody, 0x5a, sizeof nobody);
    hex_of(hex, nobody, 32);
    snprintf(params, sizeof params, "{\"account\":\"%s\"}", hex);
    r = call_ok(w, "get_account", params);
    assert_true(json_is_false(json_object_get(r, "exists")));
    assert_true(json_is_null(json_object_get(r, "value")));
    assert_int_equal(json_integer_value(json_object_get(r, "balance")), 0);
    check_account_proof(w, r, nobody, 2);
    json_decref(r);
    snprintf(params, sizeof params, "{\"account\":\"%s\",\"height\":9}", hex);
    expect_error(w, "get_account", params, RPC_ERR_NOT_FOUND);
    assert_non_null(strstr(last_msg, "head"));
    expect_error(w, "get_account", "{\"account\":\"zz\"}", RPC_ERR_INVALID_PARAMS);
    assert_non_null(strstr(last_msg, "\"account\""));
    snprintf(params, sizeof params, "{\"account\":\"%s\",\"height\":-1}", hex);
    expect_error(w, "get_account", params, RPC_ERR_INVALID_PARAMS);
    assert_non_null(strstr(last_msg, "\"height\""));
    snprintf(params, sizeof params, "{\"account\":\"%s\",\"height\":\"1\"}", hex);
    expect_error(w, "get_account", params, RPC_ERR_INVALID_PARAMS);
}

static void test_get_header_carries_the_nodes_certificate_or_null(void **state)
{
    struct world *w = *state;
    json_t *r = call_ok(w, "get_header", NULL);
    char hex[65];
    assert_int_equal(json_integer_value(json_object_get(r, "height")), 2);
    hex_of(hex, w->stub.hashes[2], 32);
    assert_string_equal(json_string_value(json_object_get(r, "hash")), hex);
    json_t *cert = json_object_get(r, "cert");
    assert_int_equal(json_integer_value(json_object_get(cert, "height")), 2);
    assert_string_equal(json_string_value(json_object_get(cert, "hash")), hex);
    json_t *sig = json_array_get(json_object_get(cert, "sigs"), 0);
    assert_int_equal(json_integer_value(json_object_get(sig, "signer")), 0);
    struct cons_cert c;
    assert_int_equal(stub_cert(&w->stub, 2, &c), 0);
    hex_of(hex, c.sigs[0].sig, 32); /* first half of the signature */
    assert_int_equal(strncmp(json_string_value(json_object_get(sig, "sig")), hex, 64), 0);
    json_decref(r);
    r = call_ok(w, "get_header", "{\"height\":0}");
    assert_true(json_is_null(json_object_get(r, "cert")));
    json_decref(r);
    expect_error(w, "get_header", "{\"height\":3}", RPC_ERR_NOT_FOUND);
}

static void test_get_state_proves_any_raw_key(void **state)
{
    struct world *w = *state;
    char params[128], hex[64];
    hex_of(hex, (const uint8_t *)"sys/supply", 10);
    snprintf(params, sizeof params, "{\"key\":\"%s\",\"height\":1}", hex);
    json_t *r = call_ok(w, "get_state", params);
    assert_string_equal(json_string_value(json_object_get(r, "key")), hex);
    assert_true(json_is_string(json_object_get(r, "value")));
    assert_true(json_is_string(json_object_get(r, "proof")));
    json_decref(r);
    hex_of(hex, (const uint8_t *)"no/such", 7);
    snprintf(params, sizeof params, "{\"key\":\"%s\"}", hex);
    r = call_ok(w, "get_state", params);
    assert_true(json_is_null(json_object_get(r, "value")));
    json_decref(r);
    char big[600] = "{\"key\":\"";
    for (int i = 0; i < 129 * 2; i++)
        strcat(big, "a");
    strcat(big, "\"}");
    expect_error(w, "get_state", big, RPC_ERR_INVALID_PARAMS);
    assert_non_null(strstr(last_msg, "limit"));
    expect_error(w, "get_state", "{\"key\":\"\"}", RPC_ERR_INVALID_PARAMS);
}

static void test_submit_tx_passes_the_envelope_to_the_node_and_maps_refusals(void **state)
{
    struct world *w = *state;
    uint8_t h[32];
    char hex[65];
    const uint8_t env[] = {0x0a, 0x01, 0x02, 0x03};
    chain_hash(h, CHAIN_TAG_TX, env, sizeof env);
    w->stub.submit_rc = 0;
    json_t *r = call_ok(w, "submit_tx", "{\"tx\":\"0A010203\"}");
    hex_of(hex, h, 32);
    assert_string_equal(json_string_value(json_object_get(r, "hash")), hex);
    assert_int_equal(w->stub.last_len, 4);
    assert_memory_equal(w->stub.last_tx, env, 4);
    json_decref(r);

    w->stub.submit_rc = CHAIN_ERR_BAD_NONCE;
    w->stub.submit_why = NULL;
    expect_error(w, "submit_tx", "{\"tx\":\"0a010203\"}", RPC_ERR_TX_REJECTED);
    assert_non_null(strstr(last_msg, "BAD_NONCE"));
    assert_string_equal(json_string_value(json_object_get(last_data, "error")), "BAD_NONCE");
    assert_string_equal(json_string_value(json_object_get(last_data, "message")),
                        chain_strerror(CHAIN_ERR_BAD_NONCE));
    assert_string_equal(json_string_value(json_object_get(last_data, "hash")), hex);

    w->stub.submit_rc = RPC_REFUSE_MEMPOOL_FULL;
    w->stub.submit_why = "mempool holds 10000 transactions";
    expect_error(w, "submit_tx", "{\"tx\":\"0a010203\"}", RPC_ERR_MEMPOOL_FULL);
    assert_string_equal(json_string_value(json_object_get(last_data, "error")), "MEMPOOL_FULL");
    assert_non_null(strstr(last_msg, "10000"));

    w->stub.submit_rc = RPC_REFUSE_DUPLICATE;
    expect_error(w, "submit_tx", "{\"tx\":\"0a010203\"}", RPC_ERR_TX_REJECTED);
    assert_string_equal(json_string_value(json_object_get(last_data, "error")), "DUPLICATE");
    w->stub.submit_rc = 0;
    w->stub.submit_why = NULL;

    int calls = w->stub.submit_calls;
    expect_error(w, "submit_tx", "{\"tx\":\"0a0\"}", RPC_ERR_INVALID_PARAMS);
    expect_error(w, "submit_tx", "{\"tx\":\"0g\"}", RPC_ERR_INVALID_PARAMS);
    expect_error(w, "submit_tx", "{\"tx\":5}", RPC_ERR_INVALID_PARAMS);
    expect_error(w, "submit_tx", "{}", RPC_ERR_INVALID_PARAMS);
    assert_non_null(strstr(last_msg, "missing param \"tx\""));
    assert_int_equal(w->stub.submit_calls, calls); /* none reached the node */
}

static void test_submit_txs_answers_each_envelope_and_bounds_the_count(void **state)
{
    struct world *w = *state;
    w->stub.submit_rc = 0;
    json_t *r = call_ok(w, "submit_txs", "{\"txs\":[\"0a01\",\"ee01\",\"0a02\"]}");
    json_t *hashes = json_object_get(r, "hashes"), *errors = json_object_get(r, "errors");
    assert_int_equal(json_array_size(hashes), 3);
    assert_int_equal(json_array_size(errors), 3);
    assert_int_equal(json_integer_value(json_object_get(r, "accepted")), 2);
    assert_true(json_is_null(json_array_get(errors, 0)));
    assert_string_equal(json_string_value(json_object_get(json_array_get(errors, 1), "error")),
                        "BAD_SIG");
    assert_true(json_is_null(json_array_get(errors, 2)));
    json_decref(r);
    /* a bad element submits nothing and names its index */
    int calls = w->stub.submit_calls;
    expect_error(w, "submit_txs", "{\"txs\":[\"0a01\",\"xyz\"]}", RPC_ERR_INVALID_PARAMS);
    assert_non_null(strstr(last_msg, "txs[1]"));
    assert_int_equal(w->stub.submit_calls, calls);
    expect_error(w, "submit_txs", "{\"txs\":[]}", RPC_ERR_INVALID_PARAMS);
    /* over the count limit */
    size_t cap = 128 + (RPC_MAX_SUBMIT_TXS + 1) * 5;
    char *body = malloc(cap);
    size_t off = (size_t)snprintf(
        body, cap, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"submit_txs\",\"params\":{\"txs\":[");
    for (unsigned i = 0; i <= RPC_MAX_SUBMIT_TXS; i++)
        off += (size_t)snprintf(body + off, cap - off, "%s\"aa\"", i ? "," : "");
    snprintf(body + off, cap - off, "]}}");
    expect_error_body(w, body, RPC_ERR_TOO_LARGE);
    assert_int_equal(w->stub.submit_calls, calls);
    free(body);
}

/* ---- the envelope and its errors ---- */

static void test_malformed_json_is_a_parse_error_with_a_position(void **state)
{
    struct world *w = *state;
    const char *bad[] = {"{",
                         "{\"jsonrpc\":\"2.0\",}",
                         "nul",
                         "[1,2",
                         "\"\\u0000\"",
                         "{\"a\":1}{}",
                         "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"status\"}",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *r = post(w, bad[i], NULL);
        json_t *e = json_object_get(r, "error");
        assert_int_equal(json_integer_value(json_object_get(e, "code")), RPC_ERR_PARSE);
        assert_true(json_is_null(json_object_get(r, "id")));
        assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "line"));
        json_decref(r);
    }
    /* the server still answers afterwards */
    json_decref(call_ok(w, "status", NULL));
}

static void test_a_wrong_envelope_is_an_invalid_request_saying_what_is_wrong(void **state)
{
    struct world *w = *state;
    expect_error_body(w, "5", RPC_ERR_INVALID_REQUEST);
    expect_error_body(w, "{\"method\":\"status\",\"id\":1}", RPC_ERR_INVALID_REQUEST);
    assert_non_null(strstr(last_msg, "\"jsonrpc\""));
    expect_error_body(w, "{\"jsonrpc\":\"1.0\",\"method\":\"status\",\"id\":1}",
                      RPC_ERR_INVALID_REQUEST);
    expect_error_body(w, "{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":1}", RPC_ERR_INVALID_REQUEST);
    assert_non_null(strstr(last_msg, "\"method\""));
    expect_error_body(w, "{\"jsonrpc\":\"2.0\",\"method\":\"status\",\"id\":{}}",
                      RPC_ERR_INVALID_REQUEST);
    expect_error_body(w, "{\"jsonrpc\":\"2.0\",\"method\":\"status\",\"id\":1,\"extra\":0}",
                      RPC_ERR_INVALID_REQUEST);
    assert_non_null(strstr(last_msg, "\"extra\""));
    /* an invalid request without an id is still answered, with id null */
    json_t *r = post(w, "{\"jsonrpc\":\"2.0\",\"method\":7}", NULL);
    assert_true(json_is_null(json_object_get(r, "id")));
    json_decref(r);
    /* string ids are echoed */
    r = post(w, "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":\"abc\"}", NULL);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "abc");
    json_decref(r);
}

static void test_unknown_methods_and_params_are_named(void **state)
{
    struct world *w = *state;
    expect_error(w, "get_balance", NULL, RPC_ERR_METHOD_NOT_FOUND);
    assert_non_null(strstr(last_msg, "get_balance"));
    expect_error(w, "get_block", "{\"heigth\":1}", RPC_ERR_INVALID_PARAMS);
    assert_non_null(strstr(last_msg, "\"heigth\""));
    assert_non_null(strstr(last_msg, "\"height\""));
    expect_error(w, "get_block", "[1]", RPC_ERR_INVALID_PARAMS);
    assert_non_null(strstr(last_msg, "by name"));
    expect_error(w, "status", "{\"verbose\":true}", RPC_ERR_INVALID_PARAMS);
    expect_error(w, "get_block", "{\"height\":1.5}", RPC_ERR_INVALID_PARAMS);
}

static void test_a_failing_node_op_is_an_internal_error(void **state)
{
    struct world *w = *state;
    w->stub.status_rc = CHAIN_ERR_STORE;
    expect_error(w, "status", NULL, RPC_ERR_INTERNAL);
    assert_non_null(strstr(last_msg, "STORE"));
    w->stub.status_rc = 0;
}

static void test_without_node_ops_submitting_is_unavailable(void **state)
{
    struct world *w = *state;
    struct rpc_node_ops none = {0};
    struct rpc_api api = {.chain = &w->f.c, .ops = &none};
    const char *req =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"submit_tx\",\"params\":{\"tx\":\"00\"}}";
    char *out;
    size_t n;
    assert_int_equal(rpc_dispatch(&api, req, strlen(req), &out, &n), 0);
    json_t *r = json_loads(out, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
                     RPC_ERR_UNAVAILABLE);
    json_decref(r);
    free(out);
    /* and reads still work without the node */
    req = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"get_header\"}";
    assert_int_equal(rpc_dispatch(&api, req, strlen(req), &out, &n), 0);
    r = json_loads(out, 0, NULL);
    assert_true(json_is_null(json_object_get(json_object_get(r, "result"), "cert")));
    json_decref(r);
    free(out);
}

/* ---- batches and notifications ---- */

static void test_a_batch_answers_each_request_but_not_notifications(void **state)
{
    struct world *w = *state;
    int st;
    w->stub.submit_rc = 0;
    int calls = w->stub.submit_calls;
    json_t *r =
        post(w,
             "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"},"
             "{\"jsonrpc\":\"2.0\",\"method\":\"submit_tx\",\"params\":{\"tx\":\"0a01\"}},"
             "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"nope\"},"
             "7,"
             "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"get_block\",\"params\":{\"height\":1}}]",
             &st);
    assert_int_equal(st, 200);
    assert_true(json_is_array(r));
    assert_int_equal(json_array_size(r), 4); /* the notification is executed, not answered */
    assert_int_equal(w->stub.submit_calls, calls + 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r, 0), "id")), 1);
    assert_non_null(json_object_get(json_array_get(r, 0), "result"));
    assert_string_equal(json_string_value(json_object_get(json_array_get(r, 1), "id")), "x");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(json_array_get(r, 1), "error"), "code")),
        RPC_ERR_METHOD_NOT_FOUND);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(json_array_get(r, 2), "error"), "code")),
        RPC_ERR_INVALID_REQUEST);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(r, 3), "id")), 3);
    json_decref(r);

    /* only notifications (even failing ones): nothing to answer, HTTP 204 */
    r = post(
        w,
        "[{\"jsonrpc\":\"2.0\",\"method\":\"status\"},{\"jsonrpc\":\"2.0\",\"method\":\"nope\"},"
        "{\"jsonrpc\":\"2.0\",\"method\":\"get_block\",\"params\":{\"height\":99}}]",
        &st);
    assert_null(r);
    assert_int_equal(st, 204);
    r = post(w, "{\"jsonrpc\":\"2.0\",\"method\":\"status\"}", &st);
    assert_null(r);
    assert_int_equal(st, 204);

    expect_error_body(w, "[]", RPC_ERR_INVALID_REQUEST);
    size_t cap = 64 + (RPC_MAX_BATCH + 1) * 48;
    char *body = malloc(cap);
    size_t off = 0;
    body[off++] = '[';
    for (unsigned i = 0; i <= RPC_MAX_BATCH; i++)
        off += (size_t)snprintf(body + off, cap - off,
                                "%s{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"status\"}",
                                i ? "," : "", i);
    snprintf(body + off, cap - off, "]");
    expect_error_body(w, body, RPC_ERR_TOO_LARGE);
    assert_non_null(strstr(last_msg, "limit"));
    free(body);
}

/* ---- HTTP ---- */

static void test_an_oversize_body_is_refused_and_the_server_goes_on(void **state)
{
    struct world *w = *state;
    size_t n = RPC_MAX_BODY_BYTES + 10;
    char *body = malloc(n + 1);
    memset(body, ' ', n);
    memcpy(body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\"}", 42);
    body[n] = '\0';
    int st;
    json_t *r = post(w, body, &st);
    assert_int_equal(st, 413);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
                     RPC_ERR_TOO_LARGE);
    json_decref(r);
    free(body);
    /* above the hard limit evhttp stops reading; the client sees an error or a 413 */
    n = RPC_HARD_MAX_BODY_BYTES + 1024;
    body = malloc(n + 1);
    memset(body, ' ', n);
    body[n] = '\0';
    char *resp = NULL, err[256];
    size_t rl;
    st = 0;
    if (node_http_post(&w->url, body, n, &st, &resp, &rl, err, sizeof err) == 0)
        assert_int_equal(st, 413);
    free(resp);
    free(body);
    json_decref(call_ok(w, "status", NULL));
}

static void test_health_and_wrong_paths_and_verbs(void **state)
{
    struct world *w = *state;
    static char resp[4096];
    assert_int_equal(raw_http(w, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                              resp, sizeof resp),
                     200);
    assert_non_null(strstr(resp, "\r\n\r\nok"));
    assert_int_equal(
        raw_http(w, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", resp, sizeof resp),
        405);
    assert_int_equal(
        raw_http(
            w, "POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            resp, sizeof resp),
        404);
    assert_int_equal(raw_http(w, "garbage\r\n\r\n", resp, sizeof resp), 400);
    json_decref(call_ok(w, "status", NULL));
}

/* Random bytes and random mutations of a valid request never crash the
 * dispatcher, and always give a JSON-RPC response or nothing. */
static void test_random_bodies_always_get_a_json_rpc_answer(void **state)
{
    struct world *w = *state;
    struct rpc_api api = {.chain = &w->f.c, .ops = &w->ops};
    struct tu_rng rng = {42};
    const char *seed =
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"get_account\",\"params\":{\"account\":"
        "\"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\",\"height\":1}}]";
    char buf[512];
    for (int i = 0; i < 3000; i++) {
        size_t n = strlen(seed);
        memcpy(buf, seed, n);
        for (int k = 0; k < 1 + (int)tu_below(&rng, 4); k++)
            buf[tu_below(&rng, n)] = (char)tu_below(&rng, 256);
        char *out;
        size_t ol;
        assert_int_equal(rpc_dispatch(&api, buf, n, &out, &ol), 0);
        if (out) {
            json_t *r = json_loadb(out, ol, 0, NULL);
            assert_non_null(r);
            json_decref(r);
        }
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_reports_the_committed_head_and_the_node_fields),
        cmocka_unit_test(test_get_block_lists_each_tx_with_its_committed_result),
        cmocka_unit_test(test_get_tx_finds_committed_transactions_and_not_others),
        cmocka_unit_test(test_get_account_returns_a_proof_against_the_state_root_of_its_height),
        cmocka_unit_test(test_get_header_carries_the_nodes_certificate_or_null),
        cmocka_unit_test(test_get_state_proves_any_raw_key),
        cmocka_unit_test(test_submit_tx_passes_the_envelope_to_the_node_and_maps_refusals),
        cmocka_unit_test(test_submit_txs_answers_each_envelope_and_bounds_the_count),
        cmocka_unit_test(test_malformed_json_is_a_parse_error_with_a_position),
        cmocka_unit_test(test_a_wrong_envelope_is_an_invalid_request_saying_what_is_wrong),
        cmocka_unit_test(test_unknown_methods_and_params_are_named),
        cmocka_unit_test(test_a_failing_node_op_is_an_internal_error),
        cmocka_unit_test(test_without_node_ops_submitting_is_unavailable),
        cmocka_unit_test(test_a_batch_answers_each_request_but_not_notifications),
        cmocka_unit_test(test_an_oversize_body_is_refused_and_the_server_goes_on),
        cmocka_unit_test(test_health_and_wrong_paths_and_verbs),
        cmocka_unit_test(test_random_bodies_always_get_a_json_rpc_answer),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    json_decref(last_data);
    return rc;
}
