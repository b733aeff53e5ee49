/* test_rpc_market.c -- get_order, get_orders and get_results: thin proven
 * reads over the market's state keys (market/mkt_tx.h).
 *
 * A real chain with the market registered (the market's own test fixture)
 * trades one slot: three orders, one cancelled, then cleared at the gate.
 * Every answer goes through rpc_dispatch (the HTTP layer is covered by
 * test_rpc_server.c); each value is checked against the state read directly
 * (mt_get_*), and each proof with chain_proof_verify_kv against the state
 * root of the answer's height; a changed value byte fails the proof. */
#include "unit/market/mtx_fixture.h"

#include "rpc.h"

static json_t *call(struct fx *f, const char *method, const char *params)
{
    struct rpc_node_ops ops = {0};
    struct rpc_api api = {.chain = &f->c, .ops = &ops};
    char body[1024], *out = NULL;
    size_t n;
    snprintf(body, sizeof body, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}",
             method, params);
    assert_int_equal(rpc_dispatch(&api, body, strlen(body), &out, &n), 0);
    json_error_t je;
    json_t *j = json_loadb(out, n, 0, &je);
    assert_non_null(j);
    free(out);
    return j;
}

static json_t *result(json_t *resp)
{
    json_t *r = json_object_get(resp, "result");
    if (!r)
        fail_msg("expected a result: %s", json_dumps(resp, 0));
    return r;
}

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
    size_t n = strlen(h) / 2;
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* The state root in the header of height h. */
static void root_at(struct fx *f, uint64_t h, uint8_t root[CHAIN_HASH_BYTES])
{
    char params[64];
    snprintf(params, sizeof params, "{\"height\":%llu}", (unsigned long long)h);
    json_t *r = call(f, "get_header", params);
    uint8_t hb[1024];
    size_t hl = unhex(json_string_value(json_object_get(result(r), "header")), hb, sizeof hb);
    Gl__BlockHeader *hdr = gl__block_header__unpack(NULL, hl, hb);
    assert_non_null(hdr);
    memcpy(root, hdr->state_root.data, CHAIN_HASH_BYTES);
    gl__block_header__free_unpacked(hdr, NULL);
    json_decref(r);
}

/* key/value/proof of an answer verify against the root at its height; a
 * flipped value byte does not.  Returns the value's length (0 if absent). */
static size_t check_proof(struct fx *f, json_t *o)
{
    static uint8_t key[256], val[8192], pb[65536];
    uint8_t root[CHAIN_HASH_BYTES];
    root_at(f, (uint64_t)json_integer_value(json_object_get(o, "height")), root);
    size_t kl = unhex(json_string_value(json_object_get(o, "key")), key, sizeof key);
    json_t *vj = json_object_get(o, "value");
    size_t vl = json_is_null(vj) ? 0 : unhex(json_string_value(vj), val, sizeof val);
    size_t pl = unhex(json_string_value(json_object_get(o, "proof")), pb, sizeof pb);
    struct chain_proof *proof = malloc(sizeof *proof);
    assert_int_equal(chain_proof_decode(pb, pl, proof), CHAIN_ERR_OK);
    assert_int_equal(chain_proof_verify_kv(root, key, kl, vl ? val : NULL, vl, proof),
                     CHAIN_ERR_OK);
    if (vl) {
        val[vl / 2] ^= 1;
        assert_int_not_equal(chain_proof_verify_kv(root, key, kl, val, vl, proof), CHAIN_ERR_OK);
    }
    free(proof);
    return vl;
}

static void test_orders_and_results_are_proven_reads_equal_to_state(void **state)
{
    (void)state;
    struct fx f;
    uint8_t a_id[32], b_id[32], c_id[32];
    mt_open(&f);
    assert_int_equal(mt_register(&f, FX_ALICE, 0, false, 0), CHAIN_ERR_OK);
    assert_int_equal(mt_register(&f, FX_BOB, 1, true, 0), CHAIN_ERR_OK);
    assert_int_equal(mt_register(&f, FX_CAROL, 2, false, 0), CHAIN_ERR_OK);
    uint64_t slot = MT_SLOT(40);
    assert_int_equal(mt_tariff(&f, FX_SHADOW, MKT_ELECTRICITY, slot, 250000, 50000), CHAIN_ERR_OK);
    struct mkt_tx_order buy = mt_simple(MKT_TX_BUY, slot, 10000, 300000);
    struct mkt_tx_order sell = mt_simple(MKT_TX_SELL, slot, 6000, 100000);
    struct mkt_tx_order buy2 = mt_simple(MKT_TX_BUY, slot, 2000, 260000);
    assert_int_equal(mt_order(&f, FX_ALICE, &buy, a_id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_BOB, &sell, b_id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_CAROL, &buy2, c_id), CHAIN_ERR_OK);
    assert_int_equal(mt_cancel(&f, FX_CAROL, c_id), CHAIN_ERR_OK);
    uint64_t before_gate = f.c.head.height;

    /* the book before the gate: alice's and bob's orders, in arrival order, two pages */
    char params[512], ahex[65], bhex[65], chex[65];
    chain_hex(ahex, a_id, 32);
    chain_hex(bhex, b_id, 32);
    chain_hex(chex, c_id, 32);
    snprintf(params, sizeof params,
             "{\"commodity\":\"electricity\",\"market\":\"day_ahead\",\"slot_start_ms\":%llu,"
             "\"limit\":1}",
             (unsigned long long)slot);
    json_t *r = call(&f, "get_orders", params);
    json_t *res = result(r), *arr = json_object_get(res, "orders");
    assert_int_equal(json_array_size(arr), 1);
    json_t *o0 = json_array_get(arr, 0);
    assert_string_equal(json_string_value(json_object_get(o0, "order_id")), ahex);
    assert_true(check_proof(&f, o0) > 0);
    json_t *dec = json_object_get(o0, "decoded");
    Gl__MktOrder *oa = mt_get_order(&f, a_id);
    assert_int_equal(json_integer_value(json_object_get(dec, "qty_wh")), (json_int_t)oa->qty_wh);
    assert_int_equal(json_integer_value(json_object_get(dec, "locked")), (json_int_t)oa->locked);
    assert_int_equal(json_integer_value(json_object_get(dec, "status")), MKT_ORDER_OPEN);
    assert_int_equal(json_integer_value(json_object_get(o0, "arrival")), (json_int_t)oa->arrival);
    char owner[65];
    chain_hex(owner, f.pk[FX_ALICE], 32);
    assert_string_equal(json_string_value(json_object_get(dec, "owner")), owner);
    gl__mkt_order__free_unpacked(oa, NULL);
    json_t *next = json_object_get(res, "next_after_arrival");
    assert_true(json_is_integer(next));
    snprintf(
        params, sizeof params,
        "{\"commodity\":1,\"market\":1,\"slot_start_ms\":%llu,\"limit\":1,\"after_arrival\":%lld}",
        (unsigned long long)slot, (long long)json_integer_value(next));
    json_decref(r);
    r = call(&f, "get_orders", params);
    res = result(r);
    arr = json_object_get(res, "orders");
    assert_int_equal(json_array_size(arr), 1); /* carol's cancelled order left the index */
    assert_string_equal(json_string_value(json_object_get(json_array_get(arr, 0), "order_id")),
                        bhex);
    assert_true(json_is_null(json_object_get(res, "next_after_arrival")));
    json_decref(r);

    /* no result before the gate: proven absent */
    snprintf(params, sizeof params,
             "{\"commodity\":\"electricity\",\"market\":\"day_ahead\",\"slot_start_ms\":%llu}",
             (unsigned long long)slot);
    r = call(&f, "get_results", params);
    assert_true(json_is_null(json_object_get(result(r), "value")));
    assert_true(json_is_null(json_object_get(result(r), "decoded")));
    assert_int_equal(check_proof(&f, result(r)), 0);
    json_decref(r);

    mt_at(&f, MT_DA_GATE);
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    snprintf(params, sizeof params,
             "{\"commodity\":\"electricity\",\"market\":\"day_ahead\",\"slot_start_ms\":%llu,"
             "\"order_id\":\"%s\"}",
             (unsigned long long)slot, ahex);
    r = call(&f, "get_results", params);
    res = result(r);
    assert_true(check_proof(&f, res) > 0);
    Gl__MktResult *mr = mt_get_result(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot);
    dec = json_object_get(res, "decoded");
    assert_int_equal(json_integer_value(json_object_get(dec, "price")), (json_int_t)mr->price);
    assert_int_equal(json_integer_value(json_object_get(dec, "volume_wh")),
                     (json_int_t)mr->volume_wh);
    assert_int_equal(json_integer_value(json_object_get(dec, "grid_sell_wh")),
                     (json_int_t)mr->grid_sell_wh);
    assert_string_equal(json_string_value(json_object_get(dec, "welfare_nano")), mr->welfare_nano);
    gl__mkt_result__free_unpacked(mr, NULL);
    json_t *fill = json_object_get(res, "fill");
    assert_true(check_proof(&f, fill) > 0);
    Gl__MktFill *fa = mt_get_fill(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot, a_id);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(fill, "decoded"), "paid")),
                     (json_int_t)fa->paid);
    gl__mkt_fill__free_unpacked(fa, NULL);
    json_decref(r);

    /* the cancelled order, at the height before the gate, and now */
    snprintf(params, sizeof params, "{\"order_id\":\"%s\",\"height\":%llu}", chex,
             (unsigned long long)before_gate);
    r = call(&f, "get_order", params);
    res = result(r);
    assert_true(check_proof(&f, res) > 0);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "decoded"), "status")),
                     MKT_ORDER_CANCELLED);
    json_decref(r);
    snprintf(params, sizeof params, "{\"order_id\":\"%s\"}", ahex);
    r = call(&f, "get_order", params);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(result(r), "decoded"), "status")),
        MKT_ORDER_CLOSED);
    json_decref(r);

    /* named refusals */
    const char *bad[][2] = {
        {"get_orders", "{\"commodity\":\"gas\",\"market\":1,\"slot_start_ms\":0}"},
        {"get_orders", "{\"commodity\":1,\"market\":3,\"slot_start_ms\":0}"},
        {"get_orders", "{\"commodity\":1,\"market\":1}"},
        {"get_orders", "{\"commodity\":1,\"market\":1,\"slot_start_ms\":0,\"limit\":0}"},
        {"get_results", "{\"commodity\":1,\"market\":1,\"slot_start_ms\":0,\"order_id\":\"xy\"}"},
        {"get_order", "{}"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = call(&f, bad[i][0], bad[i][1]);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "error"), "code")),
                         RPC_ERR_INVALID_PARAMS);
        json_decref(r);
    }
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders_and_results_are_proven_reads_equal_to_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
