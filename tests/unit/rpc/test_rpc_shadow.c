/* test_rpc_shadow.c -- the shadow-centre API over real HTTP on loopback.
 *
 * A real chain from the ledger fixture (operator, shadow centre, validator,
 * alice, bob, carol) is served by rpc_shadow_open on an OS-chosen port, on
 * an event loop in a second thread.  The stub node queues what is submitted;
 * mine() executes the queue into a real block with chain_build_block and
 * commits it (between requests, so no request reads while the head moves).
 * Requests are signed here with the fixture's keys and an injected clock.
 * Checked: recharge mints once (pending and after commit), a conflicting
 * bank_ref is refused, every authentication failure has its code, payouts
 * since a height with pagination against a list kept by the test,
 * confirm_payout, reconciliation against chain_supply_check, and gridctl's
 * recharge subcommand as a real process against the same server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "node_http_client.h"
#include "rpc.h"
#include "unit/chain/ledger_fixture.h"

#define CLOCK_MS 1800000000000ULL
#define MAXQ     64

struct world {
    struct fx f;
    uint8_t *queue[MAXQ];
    size_t qlen[MAXQ], nq;
    int submits;
    uint64_t now;
    struct rpc_node_ops ops;
    struct event_base *base;
    struct rpc_shadow *srv;
    struct event *stop_ev;
    int stop_pipe[2];
    pthread_t th;
    struct node_http_url url;
    uint64_t nonce; /* the last request nonce used */
};

static int stub_submit(void *ctx, const uint8_t *tx, size_t len, uint8_t hash[32], const char **why)
{
    struct world *w = ctx;
    (void)why;
    w->submits++;
    if (w->nq == MAXQ)
        return RPC_REFUSE_MEMPOOL_FULL;
    w->queue[w->nq] = malloc(len);
    memcpy(w->queue[w->nq], tx, len);
    w->qlen[w->nq++] = len;
    chain_hash(hash, CHAIN_TAG_TX, tx, len);
    return 0;
}

static uint64_t stub_clock(void *ctx)
{
    return ((struct world *)ctx)->now;
}

/* Execute the queued transactions into one committed block; returns its height. */
static uint64_t mine(struct world *w)
{
    struct chain_exec_result r;
    w->f.time_ms += 1000;
    assert_int_equal(chain_build_block(&w->f.c, w->f.time_ms, w->f.pk[FX_VALIDATOR],
                                       (const uint8_t *const *)w->queue, w->qlen, w->nq, &r),
                     CHAIN_ERR_OK);
    assert_int_equal(r.nskipped, 0);
    assert_int_equal(chain_commit(&w->f.c, &r), CHAIN_ERR_OK);
    fx_assert_supply(&w->f);
    for (size_t i = 0; i < w->nq; i++)
        free(w->queue[i]);
    w->nq = 0;
    uint64_t h = r.height;
    chain_exec_result_free(&r);
    return h;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void *loop_main(void *arg)
{
    event_base_dispatch(((struct world *)arg)->base);
    return NULL;
}

static struct world *start(const uint8_t (*allowed)[CHAIN_PK_BYTES], size_t nallowed)
{
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    fx_open(&w->f);
    w->now = CLOCK_MS;
    w->nonce = CLOCK_MS - 100000;
    w->ops = (struct rpc_node_ops){.ctx = w, .submit_tx = stub_submit};
    struct rpc_shadow_config cfg = {.pk = w->f.pk[FX_SHADOW],
                                    .sk = w->f.sk[FX_SHADOW],
                                    .allowed_keys = allowed,
                                    .nallowed = nallowed,
                                    .window_ms = 300000,
                                    .now_ms = stub_clock,
                                    .clock_ctx = w};
    w->base = event_base_new();
    assert_non_null(w->base);
    assert_int_equal(rpc_shadow_open(&w->srv, w->base, &w->f.c, &w->ops, &cfg, "127.0.0.1", 0), 0);
    assert_int_equal(pipe(w->stop_pipe), 0);
    w->stop_ev = event_new(w->base, w->stop_pipe[0], EV_READ, on_stop, w->base);
    assert_int_equal(event_add(w->stop_ev, NULL), 0);
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)rpc_shadow_port(w->srv));
    assert_int_equal(node_http_parse_url(url, &w->url, err, sizeof err), 0);
    assert_int_equal(pthread_create(&w->th, NULL, loop_main, w), 0);
    return w;
}

static int setup(void **state)
{
    *state = start(NULL, 0);
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
    rpc_shadow_close(w->srv);
    event_base_free(w->base);
    for (size_t i = 0; i < w->nq; i++)
        free(w->queue[i]);
    fx_close(&w->f);
    free(w);
    return 0;
}

/* POST body with the given signature header value (NULL: none). */
static json_t *post_hdr(struct world *w, const char *hdr, const char *body, int *status)
{
    char extra[512], *resp = NULL, err[256];
    size_t rl;
    int st = 0;
    if (hdr)
        snprintf(extra, sizeof extra, "%s: %s\r\n", RPC_SHADOW_SIG_HEADER, hdr);
    if (node_http_post_ex(&w->url, hdr ? extra : NULL, body, strlen(body), &st, &resp, &rl, err,
                          sizeof err))
        fail_msg("HTTP failed: %s", err);
    *status = st;
    json_error_t je;
    json_t *j = json_loadb(resp, rl, 0, &je);
    if (!j)
        fail_msg("response is not JSON: %s", resp);
    free(resp);
    return j;
}

static void sign_hdr(struct world *w, int who, uint64_t nonce, const char *body, char *hdr)
{
    struct rpc_shadow_auth a;
    rpc_shadow_auth_sign(&a, FX_CHAIN_ID, nonce, body, strlen(body), w->f.pk[who], w->f.sk[who]);
    rpc_shadow_auth_format(&a, hdr, RPC_SHADOW_HEADER_MAX);
}

/* A signed call by key `who` with the next nonce; params is JSON text. */
static json_t *call_as(struct world *w, int who, const char *method, const char *params,
                       int *status)
{
    char body[1024], hdr[RPC_SHADOW_HEADER_MAX];
    snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"%s\",\"params\":%s}",
             method, params);
    sign_hdr(w, who, ++w->nonce, body, hdr);
    return post_hdr(w, hdr, body, status);
}

static void sleep_ms_(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static json_t *ok_result(json_t *resp)
{
    json_t *r = json_object_get(resp, "result");
    if (!r) {
        char *d = json_dumps(resp, 0);
        fail_msg("expected a result: %s", d);
    }
    return r;
}

static int err_code(json_t *resp)
{
    json_t *e = json_object_get(resp, "error");
    return e ? (int)json_integer_value(json_object_get(e, "code")) : 0;
}

static json_t *recharge(struct world *w, int who, int acct, long long amount, const char *ref,
                        int *status)
{
    char params[256], hex[65];
    chain_hex(hex, w->f.pk[acct], CHAIN_PK_BYTES);
    snprintf(params, sizeof params, "{\"account\":\"%s\",\"amount\":%lld,\"bank_ref\":\"%s\"}", hex,
             amount, ref);
    return call_as(w, who, "recharge", params, status);
}

static struct chain_supply_report supply(struct world *w)
{
    MDB_txn *txn;
    struct chain_supply_report r;
    assert_int_equal(mdb_txn_begin(w->f.c.store.env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(chain_supply_check(&w->f.c.store, txn, &r), CHAIN_ERR_OK);
    mdb_txn_abort(txn);
    return r;
}

/* ---- recharge ---- */

static void test_recharge_mints_once_and_every_repeat_returns_the_first_result(void **state)
{
    struct world *w = *state;
    int st;
    int64_t before = fx_account(&w->f, w->f.pk[FX_ALICE]).balance;
    int64_t minted0 = supply(w).minted;
    json_t *r1 = recharge(w, FX_SHADOW, FX_ALICE, 7000000, "BANK-2026-0001", &st);
    assert_int_equal(st, 200);
    json_t *res = ok_result(r1);
    assert_string_equal(json_string_value(json_object_get(res, "status")), "pending");
    assert_false(json_is_true(json_object_get(res, "repeat")));
    const char *hash = json_string_value(json_object_get(res, "hash"));
    assert_int_equal(w->submits, 1);

    /* a repeat while pending: same hash, nothing submitted */
    json_t *r2 = recharge(w, FX_SHADOW, FX_ALICE, 7000000, "BANK-2026-0001", &st);
    res = ok_result(r2);
    assert_string_equal(json_string_value(json_object_get(res, "status")), "pending");
    assert_true(json_is_true(json_object_get(res, "repeat")));
    assert_string_equal(json_string_value(json_object_get(res, "hash")), hash);
    assert_int_equal(w->submits, 1);
    json_decref(r2);

    uint64_t h = mine(w);
    assert_int_equal(fx_account(&w->f, w->f.pk[FX_ALICE]).balance, before + 7000000);
    assert_int_equal(supply(w).minted, minted0 + 7000000);

    /* a repeat after commit: read back from the chain */
    for (int i = 0; i < 2; i++) {
        json_t *r3 = recharge(w, FX_SHADOW, FX_ALICE, 7000000, "BANK-2026-0001", &st);
        res = ok_result(r3);
        assert_string_equal(json_string_value(json_object_get(res, "status")), "committed");
        assert_true(json_is_true(json_object_get(res, "repeat")));
        assert_string_equal(json_string_value(json_object_get(res, "hash")), hash);
        assert_int_equal(json_integer_value(json_object_get(res, "height")), (json_int_t)h);
        assert_string_equal(json_string_value(json_object_get(res, "result_name")), "OK");
        json_decref(r3);
    }
    assert_int_equal(w->submits, 1);
    assert_int_equal(w->nq, 0);
    mine(w); /* an empty block changes nothing */
    assert_int_equal(fx_account(&w->f, w->f.pk[FX_ALICE]).balance, before + 7000000);
    assert_int_equal(supply(w).minted, minted0 + 7000000);
    json_decref(r1);

    /* a second bank_ref mints again, with the shadow centre's next nonce */
    json_t *r4 = recharge(w, FX_SHADOW, FX_BOB, 1000000, "BANK-2026-0002", &st);
    assert_string_equal(json_string_value(json_object_get(ok_result(r4), "status")), "pending");
    json_decref(r4);
    mine(w);
    assert_int_equal(supply(w).minted, minted0 + 8000000);
}

static void
test_recharge_with_a_used_bank_ref_for_another_amount_or_account_is_refused(void **state)
{
    struct world *w = *state;
    int st;
    json_decref(recharge(w, FX_SHADOW, FX_ALICE, 5000000, "REF-A", &st));
    /* pending: another amount, another account */
    json_t *r = recharge(w, FX_SHADOW, FX_ALICE, 5000001, "REF-A", &st);
    assert_int_equal(err_code(r), RPC_ERR_BANK_REF_CONFLICT);
    json_t *data = json_object_get(json_object_get(r, "error"), "data");
    assert_int_equal(json_integer_value(json_object_get(data, "amount")), 5000000);
    assert_string_equal(json_string_value(json_object_get(data, "status")), "pending");
    json_decref(r);
    r = recharge(w, FX_SHADOW, FX_BOB, 5000000, "REF-A", &st);
    assert_int_equal(err_code(r), RPC_ERR_BANK_REF_CONFLICT);
    json_decref(r);
    assert_int_equal(w->submits, 1);
    int64_t minted = supply(w).minted;
    mine(w);
    assert_int_equal(supply(w).minted, minted + 5000000);
    /* committed: the same refusals, read from the chain */
    r = recharge(w, FX_SHADOW, FX_BOB, 5000000, "REF-A", &st);
    assert_int_equal(err_code(r), RPC_ERR_BANK_REF_CONFLICT);
    data = json_object_get(json_object_get(r, "error"), "data");
    assert_string_equal(json_string_value(json_object_get(data, "status")), "committed");
    json_decref(r);
    r = recharge(w, FX_SHADOW, FX_ALICE, 4999999, "REF-A", &st);
    assert_int_equal(err_code(r), RPC_ERR_BANK_REF_CONFLICT);
    json_decref(r);
    assert_int_equal(w->submits, 1);
    assert_int_equal(w->nq, 0);
}

static void test_recharge_params_are_checked_by_name(void **state)
{
    struct world *w = *state;
    int st;
    const char *bad[] = {
        "{\"account\":\"zz\",\"amount\":1,\"bank_ref\":\"r\"}",
        "{\"amount\":1,\"bank_ref\":\"r\"}",
        "{\"account\":\""
        "0000000000000000000000000000000000000000000000000000000000000000"
        "\",\"amount\":0,\"bank_ref\":\"r\"}",
        "{\"account\":\""
        "0000000000000000000000000000000000000000000000000000000000000000"
        "\",\"amount\":-5,\"bank_ref\":\"r\"}",
        "{\"account\":\""
        "0000000000000000000000000000000000000000000000000000000000000000"
        "\",\"amount\":1,\"bank_ref\":\"\"}",
        "{\"account\":\""
        "0000000000000000000000000000000000000000000000000000000000000000"
        "\",\"amount\":1,\"bank_ref\":\"a b\"}",
        "{\"account\":\""
        "0000000000000000000000000000000000000000000000000000000000000000"
        "\",\"amount\":1,\"bank_ref\":\"r\",\"memo\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *r = call_as(w, FX_SHADOW, "recharge", bad[i], &st);
        assert_int_equal(err_code(r), RPC_ERR_INVALID_PARAMS);
        json_decref(r);
    }
    json_t *r = call_as(w, FX_SHADOW, "get_account", "{}", &st); /* public methods are not here */
    assert_int_equal(err_code(r), RPC_ERR_METHOD_NOT_FOUND);
    json_decref(r);
    assert_int_equal(w->submits, 0);
}

/* ---- authentication ---- */

static void test_unsigned_and_malformed_requests_are_refused_with_their_codes(void **state)
{
    struct world *w = *state;
    int st;
    const char *body = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"reconciliation\"}";
    json_t *r = post_hdr(w, NULL, body, &st);
    assert_int_equal(st, 401);
    assert_int_equal(err_code(r), RPC_ERR_AUTH_MISSING);
    json_decref(r);
    const char *bad[] = {"key=00", "nonce=5", "key=zz, nonce=1, sig=00", "garbage",
                         "key="
                         "0000000000000000000000000000000000000000000000000000000000000000"
                         ", nonce=x, sig=00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post_hdr(w, bad[i], body, &st);
        assert_int_equal(st, 401);
        assert_int_equal(err_code(r), RPC_ERR_AUTH_MALFORMED);
        json_decref(r);
    }
}

static void test_a_bad_signature_is_refused_and_nothing_is_minted(void **state)
{
    struct world *w = *state;
    int st;
    char hex[65], body[512], other[512], hdr[RPC_SHADOW_HEADER_MAX];
    chain_hex(hex, w->f.pk[FX_ALICE], CHAIN_PK_BYTES);
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"recharge\",\"params\":{\"account\":\"%s\","
             "\"amount\":1,"
             "\"bank_ref\":\"X\"}}",
             hex);
    snprintf(other, sizeof other,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"recharge\",\"params\":{\"account\":\"%s\","
             "\"amount\":9,"
             "\"bank_ref\":\"X\"}}",
             hex);
    sign_hdr(w, FX_SHADOW, ++w->nonce, body, hdr);
    json_t *r = post_hdr(w, hdr, other, &st); /* the body was changed in transit */
    assert_int_equal(st, 401);
    assert_int_equal(err_code(r), RPC_ERR_AUTH_BAD_SIG);
    json_decref(r);
    /* signed for another chain */
    struct rpc_shadow_auth a;
    rpc_shadow_auth_sign(&a, "another-chain", ++w->nonce, body, strlen(body), w->f.pk[FX_SHADOW],
                         w->f.sk[FX_SHADOW]);
    rpc_shadow_auth_format(&a, hdr, sizeof hdr);
    r = post_hdr(w, hdr, body, &st);
    assert_int_equal(err_code(r), RPC_ERR_AUTH_BAD_SIG);
    json_decref(r);
    /* alice's key named, the shadow centre's signature */
    rpc_shadow_auth_sign(&a, FX_CHAIN_ID, ++w->nonce, body, strlen(body), w->f.pk[FX_SHADOW],
                         w->f.sk[FX_SHADOW]);
    memcpy(a.key, w->f.pk[FX_ALICE], CHAIN_PK_BYTES);
    rpc_shadow_auth_format(&a, hdr, sizeof hdr);
    r = post_hdr(w, hdr, body, &st);
    assert_int_equal(err_code(r), RPC_ERR_AUTH_BAD_SIG);
    json_decref(r);
    assert_int_equal(w->submits, 0);
}

static void test_a_replayed_or_stale_nonce_is_refused(void **state)
{
    struct world *w = *state;
    int st;
    char hex[65], body[512], hdr[RPC_SHADOW_HEADER_MAX];
    chain_hex(hex, w->f.pk[FX_ALICE], CHAIN_PK_BYTES);
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"recharge\",\"params\":{\"account\":\"%s\","
             "\"amount\":3,"
             "\"bank_ref\":\"R1\"}}",
             hex);
    sign_hdr(w, FX_SHADOW, ++w->nonce, body, hdr);
    json_t *r = post_hdr(w, hdr, body, &st);
    assert_int_equal(st, 200);
    ok_result(r);
    json_decref(r);
    r = post_hdr(w, hdr, body, &st); /* the same bytes again */
    assert_int_equal(st, 401);
    assert_int_equal(err_code(r), RPC_ERR_AUTH_REPLAYED);
    json_decref(r);
    sign_hdr(w, FX_SHADOW, w->nonce - 1, body, hdr); /* a lower nonce, freshly signed */
    r = post_hdr(w, hdr, body, &st);
    assert_int_equal(err_code(r), RPC_ERR_AUTH_REPLAYED);
    json_decref(r);
    /* outside the window, either side */
    sign_hdr(w, FX_SHADOW, CLOCK_MS + 300001, body, hdr);
    r = post_hdr(w, hdr, body, &st);
    assert_int_equal(err_code(r), RPC_ERR_AUTH_STALE);
    json_decref(r);
    sign_hdr(w, FX_SHADOW, CLOCK_MS - 300001, body, hdr);
    r = post_hdr(w, hdr, body, &st);
    assert_int_equal(err_code(r), RPC_ERR_AUTH_STALE);
    json_decref(r);
    /* the window edge is inside */
    sign_hdr(w, FX_SHADOW, CLOCK_MS + 300000, body, hdr);
    r = post_hdr(w, hdr, body, &st);
    assert_int_equal(st, 200);
    json_decref(r);
    assert_int_equal(w->submits, 1);
    mine(w);
}

static void test_a_key_without_the_shadow_role_is_refused_unless_configured(void **state)
{
    struct world *w = *state;
    int st;
    json_t *r = call_as(w, FX_ALICE, "reconciliation", "{}", &st);
    assert_int_equal(st, 403);
    assert_int_equal(err_code(r), RPC_ERR_AUTH_NOT_SHADOW);
    json_decref(r);
    r = recharge(w, FX_OPERATOR, FX_ALICE, 1, "OP", &st);
    assert_int_equal(err_code(r), RPC_ERR_AUTH_NOT_SHADOW);
    json_decref(r);
    assert_int_equal(w->submits, 0);
    /* the role granted in committed state is enough */
    uint8_t *p;
    size_t pl;
    assert_int_equal(chain_payload_set_roles(w->f.pk[FX_CAROL], CHAIN_ROLE_SHADOW_CENTRE, &p, &pl),
                     0);
    assert_int_equal(fx_submit(&w->f, FX_OPERATOR, GL__TX_TYPE__TX_SET_ROLES, p, pl), CHAIN_ERR_OK);
    r = call_as(w, FX_CAROL, "reconciliation", "{}", &st);
    assert_int_equal(st, 200);
    ok_result(r);
    json_decref(r);
}

static void test_a_configured_key_is_accepted_without_the_role(void **state)
{
    (void)state;
    struct fx keys;
    fx_keys(&keys);
    uint8_t allowed[1][CHAIN_PK_BYTES];
    memcpy(allowed[0], keys.pk[FX_BOB], CHAIN_PK_BYTES);
    struct world *w = start((const uint8_t(*)[CHAIN_PK_BYTES])allowed, 1);
    void *ws = w;
    int st;
    json_t *r = call_as(w, FX_BOB, "reconciliation", "{}", &st);
    assert_int_equal(st, 200);
    ok_result(r);
    json_decref(r);
    r = call_as(w, FX_ALICE, "reconciliation", "{}", &st);
    assert_int_equal(err_code(r), RPC_ERR_AUTH_NOT_SHADOW);
    json_decref(r);
    teardown(&ws);
}

/* ---- payouts ---- */

static void redeem(struct world *w, int who, uint64_t amount, uint8_t id[CHAIN_HASH_BYTES])
{
    uint8_t *p;
    size_t pl, len;
    assert_int_equal(chain_payload_redeem(amount, "DE02120300000000202051", &p, &pl), 0);
    uint8_t *tx = fx_tx(&w->f, who, GL__TX_TYPE__TX_REDEEM, p, pl, &len);
    chain_hash(id, CHAIN_TAG_TX, tx, len);
    w->queue[w->nq] = tx;
    w->qlen[w->nq++] = len;
}

static void test_payouts_since_a_height_are_listed_in_order_and_paginated(void **state)
{
    struct world *w = *state;
    int st;
    uint8_t ids[5][CHAIN_HASH_BYTES];
    uint64_t heights[5];
    redeem(w, FX_ALICE, 1000000, ids[0]);
    heights[0] = mine(w);
    redeem(w, FX_BOB, 2000000, ids[1]);
    redeem(w, FX_CAROL, 3000000, ids[2]);
    heights[1] = heights[2] = mine(w);
    mine(w);
    redeem(w, FX_ALICE, 4000000, ids[3]);
    redeem(w, FX_BOB, 5000000, ids[4]);
    heights[3] = heights[4] = mine(w);
    /* the expected order: by height, then by id */
    int order[5] = {0, 1, 2, 3, 4};
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++) {
            int a = order[i], b = order[j];
            if (heights[a] > heights[b] ||
                (heights[a] == heights[b] && memcmp(ids[a], ids[b], 32) > 0)) {
                order[i] = b;
                order[j] = a;
            }
        }
    /* since the second block: four payouts, two pages of 3 and 1 */
    char params[256], next[65] = "";
    int seen = 0;
    for (int page = 0; page < 3; page++) {
        if (page == 0)
            snprintf(params, sizeof params, "{\"since_height\":%llu,\"limit\":3}",
                     (unsigned long long)heights[1]);
        else
            snprintf(params, sizeof params, "{\"since_height\":%llu,\"limit\":3,\"after\":\"%s\"}",
                     (unsigned long long)heights[1], next);
        json_t *r = call_as(w, FX_SHADOW, "payouts", params, &st);
        json_t *res = ok_result(r), *arr = json_object_get(res, "payouts");
        for (size_t i = 0; i < json_array_size(arr); i++, seen++) {
            json_t *po = json_array_get(arr, i);
            int k = order[seen + 1];
            char hex[65];
            chain_hex(hex, ids[k], 32);
            assert_string_equal(json_string_value(json_object_get(po, "payout_id")), hex);
            assert_int_equal(json_integer_value(json_object_get(po, "height")),
                             (json_int_t)heights[k]);
            assert_int_equal(json_integer_value(json_object_get(po, "amount")),
                             (json_int_t)((k + 1) * 1000000));
            assert_string_equal(json_string_value(json_object_get(po, "status")), "pending");
        }
        json_t *nx = json_object_get(res, "next");
        if (json_is_null(nx)) {
            json_decref(r);
            break;
        }
        assert_int_equal(json_array_size(arr), 3);
        snprintf(next, sizeof next, "%s", json_string_value(nx));
        json_decref(r);
    }
    assert_int_equal(seen, 4);
    /* above the last payout: none */
    snprintf(params, sizeof params, "{\"since_height\":%llu}", (unsigned long long)heights[3] + 1);
    json_t *r = call_as(w, FX_SHADOW, "payouts", params, &st);
    assert_int_equal(json_array_size(json_object_get(ok_result(r), "payouts")), 0);
    json_decref(r);
    r = call_as(w, FX_SHADOW, "payouts", "{\"since_height\":0,\"limit\":1001}", &st);
    assert_int_equal(err_code(r), RPC_ERR_INVALID_PARAMS);
    json_decref(r);
    r = call_as(w, FX_SHADOW, "payouts", "{\"limit\":5}", &st);
    assert_int_equal(err_code(r), RPC_ERR_INVALID_PARAMS);
    json_decref(r);
}

static void test_confirm_payout_pays_or_refunds_once(void **state)
{
    struct world *w = *state;
    int st;
    uint8_t id1[32], id2[32];
    int64_t alice0 = fx_account(&w->f, w->f.pk[FX_ALICE]).balance;
    redeem(w, FX_ALICE, 1000000, id1);
    redeem(w, FX_BOB, 2000000, id2);
    mine(w);
    char h1[65], h2[65], params[256];
    chain_hex(h1, id1, 32);
    chain_hex(h2, id2, 32);
    snprintf(params, sizeof params, "{\"payout_id\":\"%s\",\"bank_ref\":\"SEPA-77\"}", h1);
    json_t *r = call_as(w, FX_SHADOW, "confirm_payout", params, &st);
    assert_string_equal(json_string_value(json_object_get(ok_result(r), "status")), "pending");
    json_decref(r);
    snprintf(params, sizeof params, "{\"payout_id\":\"%s\",\"failed\":true}", h2);
    r = call_as(w, FX_SHADOW, "confirm_payout", params, &st);
    ok_result(r);
    json_decref(r);
    int64_t bob_before_refund = fx_account(&w->f, w->f.pk[FX_BOB]).balance;
    mine(w);
    assert_int_equal(fx_account(&w->f, w->f.pk[FX_ALICE]).balance, alice0 - 1000000);
    assert_int_equal(fx_account(&w->f, w->f.pk[FX_BOB]).balance, bob_before_refund + 2000000);
    r = call_as(w, FX_SHADOW, "payouts", "{\"since_height\":0}", &st);
    json_t *arr = json_object_get(ok_result(r), "payouts");
    assert_int_equal(json_array_size(arr), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *po = json_array_get(arr, i);
        int is1 = strcmp(json_string_value(json_object_get(po, "payout_id")), h1) == 0;
        assert_string_equal(json_string_value(json_object_get(po, "status")),
                            is1 ? "paid" : "refunded");
        if (is1)
            assert_string_equal(json_string_value(json_object_get(po, "bank_ref")), "SEPA-77");
    }
    json_decref(r);
    /* a second confirmation is refused before anything is submitted */
    int submits = w->submits;
    snprintf(params, sizeof params, "{\"payout_id\":\"%s\",\"bank_ref\":\"SEPA-78\"}", h1);
    r = call_as(w, FX_SHADOW, "confirm_payout", params, &st);
    assert_int_equal(err_code(r), RPC_ERR_TX_REJECTED);
    json_decref(r);
    snprintf(params, sizeof params, "{\"payout_id\":\"%064d\",\"bank_ref\":\"SEPA-78\"}", 0);
    r = call_as(w, FX_SHADOW, "confirm_payout", params, &st);
    assert_int_equal(err_code(r), RPC_ERR_NOT_FOUND);
    json_decref(r);
    snprintf(params, sizeof params, "{\"payout_id\":\"%s\"}", h1); /* paid needs a bank_ref */
    r = call_as(w, FX_SHADOW, "confirm_payout", params, &st);
    assert_int_equal(err_code(r), RPC_ERR_INVALID_PARAMS);
    json_decref(r);
    assert_int_equal(w->submits, submits);
}

/* ---- reconciliation ---- */

static void test_reconciliation_equals_chain_supply_check_and_a_naive_payout_sum(void **state)
{
    struct world *w = *state;
    int st;
    uint8_t id[32];
    json_decref(recharge(w, FX_SHADOW, FX_CAROL, 9000000, "REC-1", &st));
    mine(w);
    redeem(w, FX_ALICE, 1500000, id);
    redeem(w, FX_BOB, 2500000, id);
    mine(w);
    struct chain_supply_report rep = supply(w);
    json_t *r = call_as(w, FX_SHADOW, "reconciliation", "{}", &st);
    json_t *res = ok_result(r);
    assert_int_equal(json_integer_value(json_object_get(res, "minted")), rep.minted);
    assert_int_equal(json_integer_value(json_object_get(res, "burned")), rep.burned);
    assert_int_equal(json_integer_value(json_object_get(res, "supply")), rep.minted - rep.burned);
    assert_int_equal(json_integer_value(json_object_get(res, "held")),
                     rep.accounts_total + rep.pools_total);
    assert_true(json_is_true(json_object_get(res, "balanced")));
    assert_int_equal(json_integer_value(json_object_get(res, "payouts_pending")), 2);
    assert_int_equal(json_integer_value(json_object_get(res, "payouts_pending_amount")), 4000000);
    assert_int_equal(json_integer_value(json_object_get(res, "height")),
                     (json_int_t)w->f.c.head.height);
    assert_int_equal(rep.burned, 4000000);
    assert_int_equal(rep.minted, 3 * FX_START_BALANCE + 9000000);
    json_decref(r);
    /* the fixture's blocks all fall on 2023-11-14 (UTC): that day minted
       everything; the day after is not over and minted nothing yet */
    r = call_as(w, FX_SHADOW, "reconciliation", "{\"day\":\"2023-11-14\"}", &st);
    json_t *day = json_object_get(ok_result(r), "day");
    assert_int_equal(json_integer_value(json_object_get(day, "minted")), rep.minted);
    assert_int_equal(json_integer_value(json_object_get(day, "burned")), 4000000);
    assert_true(json_is_null(json_object_get(day, "from_height")));
    assert_int_equal(json_integer_value(json_object_get(day, "to_height")),
                     (json_int_t)w->f.c.head.height);
    assert_int_equal(json_integer_value(json_object_get(day, "payouts_created")), 2);
    json_decref(r);
    r = call_as(w, FX_SHADOW, "reconciliation", "{\"day\":\"2023-11-15\"}", &st);
    day = json_object_get(ok_result(r), "day");
    assert_int_equal(json_integer_value(json_object_get(day, "minted")), 0);
    assert_false(json_is_true(json_object_get(day, "complete")));
    assert_int_equal(json_integer_value(json_object_get(day, "from_height")),
                     (json_int_t)w->f.c.head.height);
    json_decref(r);
    r = call_as(w, FX_SHADOW, "reconciliation", "{\"day\":\"2023-02-29\"}", &st);
    assert_int_equal(err_code(r), RPC_ERR_INVALID_PARAMS);
    json_decref(r);
}

static void test_the_signature_header_parser_round_trips_and_names_refusals(void **state)
{
    (void)state;
    struct rpc_shadow_auth a, b;
    memset(&a, 0, sizeof a);
    for (int i = 0; i < 32; i++)
        a.key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        a.sig[i] = (uint8_t)(255 - i);
    a.nonce = UINT64_MAX;
    char hdr[RPC_SHADOW_HEADER_MAX];
    rpc_shadow_auth_format(&a, hdr, sizeof hdr);
    const char *why;
    assert_int_equal(rpc_shadow_auth_parse(hdr, strlen(hdr), &b, &why), 0);
    assert_memory_equal(&a, &b, sizeof a);
    char dup[512];
    snprintf(dup, sizeof dup, "%s, nonce=1", hdr);
    assert_int_equal(rpc_shadow_auth_parse(dup, strlen(dup), &b, &why), -1);
    assert_non_null(why);
    const char *over = "key=0000000000000000000000000000000000000000000000000000000000000000, "
                       "nonce=18446744073709551616, sig=00";
    assert_int_equal(rpc_shadow_auth_parse(over, strlen(over), &b, &why), -1);
    assert_string_equal(why, "nonce= is above 2^64 - 1");
}

/* ---- gridctl recharge, the client ---- */

static char *run(const char *cmd, int *exit_code)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    static char out[8192];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    *exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return out;
}

static void test_gridctl_recharge_signs_its_request_and_a_repeat_mints_nothing(void **state)
{
    struct world *w = *state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    w->now = (uint64_t)ts.tv_sec * 1000u +
             (uint64_t)ts.tv_nsec / 1000000u; /* gridctl signs with the wall clock */
    char *dir = tu_tmpdir("gridctl");
    char key[512], hex[2 * CHAIN_SK_BYTES + 1], acct[65], cmd[2048];
    snprintf(key, sizeof key, "%s/shadow.key", dir);
    chain_hex(hex, w->f.sk[FX_SHADOW],
              CHAIN_SK_BYTES); /* seed || pk, as gridnode writes key files */
    FILE *f = fopen(key, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", hex);
    fclose(f);
    assert_int_equal(chmod(key, 0600), 0);
    chain_hex(acct, w->f.pk[FX_CAROL], CHAIN_PK_BYTES);
    int64_t before = fx_account(&w->f, w->f.pk[FX_CAROL]).balance;
    snprintf(
        cmd, sizeof cmd,
        "%s recharge --account %s --amount 2500000 --bank-ref CLI-1 --shadow-key %s --chain-id %s "
        "--shadow-rpc http://127.0.0.1:%u 2>&1",
        GL_GRIDCTL, acct, key, FX_CHAIN_ID, (unsigned)w->url.port);
    int code;
    char *out = run(cmd, &code);
    if (code != 0)
        fail_msg("gridctl recharge exited %d:\n%s", code, out);
    assert_non_null(strstr(out, "\"status\": \"pending\""));
    mine(w);
    assert_int_equal(fx_account(&w->f, w->f.pk[FX_CAROL]).balance, before + 2500000);
    sleep_ms_(5); /* a fresh nonce (ms) for the next request */
    out = run(cmd, &code);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out, "\"status\": \"committed\""));
    assert_non_null(strstr(out, "\"repeat\": true"));
    assert_int_equal(w->nq, 0);
    /* the same reference for another amount: refused, named */
    snprintf(
        cmd, sizeof cmd,
        "%s recharge --account %s --amount 2500001 --bank-ref CLI-1 --shadow-key %s --chain-id %s "
        "--shadow-rpc http://127.0.0.1:%u 2>&1",
        GL_GRIDCTL, acct, key, FX_CHAIN_ID, (unsigned)w->url.port);
    sleep_ms_(5);
    out = run(cmd, &code);
    assert_int_equal(code, 1);
    assert_non_null(strstr(out, "BANK_REF_CONFLICT"));
    /* signed for another chain: the node refuses the signature */
    snprintf(
        cmd, sizeof cmd,
        "%s recharge --account %s --amount 1 --bank-ref CLI-2 --shadow-key %s --chain-id other "
        "--shadow-rpc http://127.0.0.1:%u 2>&1",
        GL_GRIDCTL, acct, key, (unsigned)w->url.port);
    out = run(cmd, &code);
    assert_int_equal(code, 1);
    assert_non_null(strstr(out, "AUTH_BAD_SIG"));
    assert_int_equal(fx_account(&w->f, w->f.pk[FX_CAROL]).balance, before + 2500000);
    tu_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_recharge_mints_once_and_every_repeat_returns_the_first_result, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_recharge_with_a_used_bank_ref_for_another_amount_or_account_is_refused, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_recharge_params_are_checked_by_name, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_unsigned_and_malformed_requests_are_refused_with_their_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_bad_signature_is_refused_and_nothing_is_minted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_replayed_or_stale_nonce_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_key_without_the_shadow_role_is_refused_unless_configured, setup, teardown),
        cmocka_unit_test(test_a_configured_key_is_accepted_without_the_role),
        cmocka_unit_test_setup_teardown(
            test_payouts_since_a_height_are_listed_in_order_and_paginated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_confirm_payout_pays_or_refunds_once, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_reconciliation_equals_chain_supply_check_and_a_naive_payout_sum, setup, teardown),
        cmocka_unit_test(test_the_signature_header_parser_round_trips_and_names_refusals),
        cmocka_unit_test_setup_teardown(
            test_gridctl_recharge_signs_its_request_and_a_repeat_mints_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
