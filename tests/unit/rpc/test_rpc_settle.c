/* test_rpc_settle.c -- get_bill, get_settlement, get_slot_settlement,
 * get_reading and get_readings: thin proven reads over the metering and
 * settlement state (market/mkt_settle.h, market/mkt_meter.h).
 *
 * A real chain with the market registered (tests/unit/market/mst_fixture.h):
 * alice and bob, each with a bound meter, trade 2000 Wh in slot 4; alice's
 * meter reports slots 0..11 except 8 in two blocks (the second out of slot
 * order), bob's only slot 4; then every slot settles.  Every answer goes
 * through rpc_dispatch and is checked three ways: its decoded fields against
 * the state value read directly (field by field from the descriptor, and a
 * few numbers by hand), its value against the proof with the light client's
 * check (node_lc_check_state_json: height, key, value, proof against the
 * header's state root) and with chain_proof_verify_kv (a changed value byte
 * fails), and absent values as proofs of absence. */
#include "unit/market/mst_fixture.h"

#include "node_lightclient.h"
#include "rpc.h"

#define IDX(slot_ms) ((slot_ms) / MKT_SLOT_MS_DEFAULT) /* gridmeter's slot index, epoch 0 */
#define WINDOW_MS    (6 * 3600 * UINT64_C(1000))
#define S4           MT_SLOT(4)
#define RAW_METER    12 /* a key whose "readings" the raw-put test type writes */

struct world {
    struct fx f;
    uint64_t h_first;   /* alice's readings of slots 0..5 and bob's of slot 4 */
    uint64_t h_second;  /* alice's of slots 11, 6, 7, 9, 10 */
    uint64_t h_settled; /* every slot settled */
};

/* ---- calling and checking ---- */

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
    assert_int_equal(chain_hex_decode(h, 2 * n, out, n), 0);
    return n;
}

/* The header of height h as the light client holds it after verifying it
 * (the fixture's chain has no certificates: the header bytes are taken as
 * certified, the rest of the client's checks run). */
static struct node_lc_header header_at(struct fx *f, uint64_t h)
{
    char params[64];
    snprintf(params, sizeof params, "{\"height\":%llu}", (unsigned long long)h);
    json_t *r = call(f, "get_header", params);
    static uint8_t hb[4096];
    size_t hl = unhex(json_string_value(json_object_get(result(r), "header")), hb, sizeof hb);
    Gl__BlockHeader *hdr = gl__block_header__unpack(NULL, hl, hb);
    assert_non_null(hdr);
    struct node_lc_header out = {.height = hdr->height, .time_ms = hdr->time_ms};
    assert_int_equal(out.height, h);
    memcpy(out.state_root, hdr->state_root.data, CHAIN_HASH_BYTES);
    chain_hash(out.hash, CHAIN_TAG_HEADER, hb, hl);
    gl__block_header__free_unpacked(hdr, NULL);
    json_decref(r);
    return out;
}

/* o = {key, height, value, proof, decoded} for exactly key, proven at
 * want_height: the light client's check and chain_proof_verify_kv pass, a
 * flipped value byte fails, decoded is null exactly when value is.  Returns
 * the proven value decoded as desc (NULL when absent); caller frees. */
static ProtobufCMessage *check_proven(struct fx *f, json_t *o, uint64_t want_height,
                                      const uint8_t *key, size_t klen,
                                      const ProtobufCMessageDescriptor *desc)
{
    assert_int_equal(json_integer_value(json_object_get(o, "height")), (json_int_t)want_height);
    struct node_lc_header h = header_at(f, want_height);
    uint8_t *val = NULL;
    size_t vl = 0;
    char why[256] = "";
    int rc = node_lc_check_state_json(&h, o, key, klen, &val, &vl, why, sizeof why);
    if (rc)
        fail_msg("light client refuses: %s (%s)", node_lc_strerror(rc), why);

    static uint8_t pb[CHAIN_PROOF_MAX_BYTES];
    size_t pl = unhex(json_string_value(json_object_get(o, "proof")), pb, sizeof pb);
    struct chain_proof *proof = malloc(sizeof *proof);
    assert_non_null(proof);
    assert_int_equal(chain_proof_decode(pb, pl, proof), CHAIN_ERR_OK);
    assert_int_equal(chain_proof_verify_kv(h.state_root, key, klen, val, vl, proof), CHAIN_ERR_OK);
    ProtobufCMessage *m = NULL;
    if (val) {
        val[vl / 2] ^= 1;
        assert_int_not_equal(chain_proof_verify_kv(h.state_root, key, klen, val, vl, proof),
                             CHAIN_ERR_OK);
        /* and a claim of absence does not verify against a present key */
        assert_int_not_equal(chain_proof_verify_kv(h.state_root, key, klen, NULL, 0, proof),
                             CHAIN_ERR_OK);
        val[vl / 2] ^= 1;
        assert_int_equal(chain_pb_unpack(desc, val, vl, CHAIN_STATE_VALUE_MAX_BYTES, &m),
                         CHAIN_ERR_OK);
        assert_true(json_is_object(json_object_get(o, "decoded")));
    } else {
        assert_true(json_is_null(json_object_get(o, "value")));
        assert_true(json_is_null(json_object_get(o, "decoded")));
    }
    free(val);
    free(proof);
    return m;
}

/* decoded has exactly m's fields by their .proto names, equal to m's values. */
static void check_decoded(json_t *dec, const ProtobufCMessage *m)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    assert_int_equal(json_object_size(dec), d->n_fields);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[i];
        const char *p = (const char *)m + fd->offset;
        json_t *j = json_object_get(dec, fd->name);
        if (!j)
            fail_msg("decoded has no field %s", fd->name);
        assert_int_not_equal(fd->label, PROTOBUF_C_LABEL_REPEATED); /* none in these messages */
        switch (fd->type) {
        case PROTOBUF_C_TYPE_UINT32:
            assert_int_equal(json_integer_value(j), *(const uint32_t *)p);
            break;
        case PROTOBUF_C_TYPE_SINT64:
            assert_int_equal(json_integer_value(j), *(const int64_t *)p);
            break;
        case PROTOBUF_C_TYPE_UINT64:
            assert_true(*(const uint64_t *)p <= INT64_MAX);
            assert_int_equal(json_integer_value(j), (json_int_t) * (const uint64_t *)p);
            break;
        case PROTOBUF_C_TYPE_BOOL:
            assert_true(json_is_boolean(j));
            assert_int_equal(json_boolean_value(j), *(const protobuf_c_boolean *)p);
            break;
        case PROTOBUF_C_TYPE_BYTES: {
            const ProtobufCBinaryData *b = (const ProtobufCBinaryData *)p;
            char hex[2 * 64 + 1];
            assert_true(b->len <= 64);
            chain_hex(hex, b->data, b->len);
            assert_string_equal(json_string_value(j), hex);
            break;
        }
        default: fail_msg("field %s: a type these messages do not have", fd->name);
        }
    }
}

static json_int_t dec_int(json_t *o, const char *field)
{
    json_t *j = json_object_get(json_object_get(o, "decoded"), field);
    assert_true(json_is_integer(j));
    return json_integer_value(j);
}

static int error_code(json_t *resp)
{
    return (int)json_integer_value(json_object_get(json_object_get(resp, "error"), "code"));
}

/* ---- the world ---- */

static uint8_t *raw_reading_tx(struct fx *f, int meter, uint64_t slot, size_t *len)
{
    uint8_t *p, key[MKT_KEY_READING_BYTES];
    size_t n;
    struct mkt_reading r = {.slot = slot, .import_wh = slot, .slot_len_s = 900};
    assert_int_equal(mkt_payload_reading(f->pk[meter], &r, &p, &n), CHAIN_ERR_OK);
    mkt_key_reading(key, f->pk[meter], slot);
    uint8_t *raw = malloc(1 + sizeof key + n);
    raw[0] = (uint8_t)sizeof key;
    memcpy(raw + 1, key, sizeof key);
    memcpy(raw + 1 + sizeof key, p, n);
    free(p);
    return fx_tx(f, FX_OPERATOR, MT_TX_RAW_PUT, raw, 1 + sizeof key + n, len);
}

static void block_of(struct fx *f, uint8_t **txs, size_t *lens, size_t n)
{
    struct chain_exec_result r;
    f->time_ms += 1000;
    assert_int_equal(chain_build_block(&f->c, f->time_ms, f->pk[FX_VALIDATOR],
                                       (const uint8_t *const *)txs, lens, n, &r),
                     CHAIN_ERR_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(r.tx_results[i], CHAIN_ERR_OK);
    assert_int_equal(chain_commit(&f->c, &r), CHAIN_ERR_OK);
    chain_exec_result_free(&r);
    fx_assert_supply(f);
    for (size_t i = 0; i < n; i++)
        free(txs[i]);
}

/* Alice's meter import in slot i (S4: 2500 against 2000 bought). */
static uint64_t alice_import(int i)
{
    return i == 4 ? 2500 : 100 + (uint64_t)i;
}

static void world_open(struct world *w)
{
    struct fx *f = &w->f;
    mt_open(f);
    struct mkt_tx_params prm;
    mkt_params_default(&prm);
    prm.seller_margin_micro_per_kwh = 20000;
    prm.metering_window_ms = WINDOW_MS;
    prm.strike_limit = 1000;
    assert_int_equal(mt_params(f, FX_OPERATOR, &prm), CHAIN_ERR_OK);
    assert_int_equal(ms_register_metered(f, FX_ALICE, false, 0), CHAIN_ERR_OK);
    assert_int_equal(ms_register_metered(f, FX_BOB, true, 0), CHAIN_ERR_OK);
    assert_int_equal(mt_tariff(f, FX_SHADOW, MKT_ELECTRICITY, S4, 300000, 100000), CHAIN_ERR_OK);
    uint8_t id[CHAIN_HASH_BYTES];
    struct mkt_tx_order b = mt_simple(MKT_TX_BUY, S4, 2000, 250000);
    struct mkt_tx_order s = mt_simple(MKT_TX_SELL, S4, 2000, 150000);
    assert_int_equal(mt_order(f, FX_ALICE, &b, id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(f, FX_BOB, &s, id), CHAIN_ERR_OK);
    mt_at(f, MT_DA_GATE);
    assert_int_equal(mt_empty_block(f), CHAIN_ERR_OK);

    /* slot 11 has ended: every slot 0..11 can be read (window 6 h) */
    mt_at(f, MT_SLOT(12) + 10000);
    uint8_t *txs[8];
    size_t lens[8], n = 0;
    for (; n <= 5; n++)
        txs[n] = ms_reading_tx(f, MS_METER(FX_ALICE), MS_METER(FX_ALICE), MT_SLOT(n),
                               alice_import((int)n), 0, &lens[n]);
    txs[n] = ms_reading_tx(f, MS_METER(FX_BOB), MS_METER(FX_BOB), S4, 0, 1800, &lens[n]);
    n++;
    block_of(f, txs, lens, n);
    w->h_first = f->c.head.height;
    static const int second[] = {11, 6, 7, 9, 10}; /* arrival order is not slot order */
    for (n = 0; n < sizeof second / sizeof second[0]; n++)
        txs[n] = ms_reading_tx(f, MS_METER(FX_ALICE), MS_METER(FX_ALICE), MT_SLOT(second[n]),
                               alice_import(second[n]), 0, &lens[n]);
    block_of(f, txs, lens, n);
    w->h_second = f->c.head.height;

    mt_at(f, MT_SLOT(12) + WINDOW_MS);
    assert_int_equal(mt_empty_block(f), CHAIN_ERR_OK);
    w->h_settled = f->c.head.height;
    for (int i = 0; i <= 11; i++) {
        Gl__MktSlotSettlement *r = ms_get_slot(f, MT_SLOT(i));
        if (i == 8) {
            assert_null(r); /* no reading and no trade: never queued */
            continue;
        }
        assert_non_null(r);
        gl__mkt_slot_settlement__free_unpacked(r, NULL);
    }
}

/* ---- tests ---- */

static void test_bill_is_a_proven_read_equal_to_state(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct fx *f = &w.f;
    char params[256], apk[65];
    chain_hex(apk, f->pk[FX_ALICE], 32);
    uint8_t key[MKT_KEY_BILL_BYTES];

    snprintf(params, sizeof params, "{\"participant\":\"%s\",\"day_start_ms\":%llu}", apk,
             (unsigned long long)MT_DAY2);
    json_t *r = call(f, "get_bill", params);
    mkt_key_bill(key, MT_DAY2, f->pk[FX_ALICE]);
    Gl__MktBill *proven = (Gl__MktBill *)check_proven(f, result(r), w.h_settled, key, sizeof key,
                                                      &gl__mkt_bill__descriptor);
    Gl__MktBill *st = ms_get_bill(f, MT_DAY2, FX_ALICE);
    assert_non_null(proven);
    assert_non_null(st);
    check_decoded(json_object_get(result(r), "decoded"), &st->base);
    check_decoded(json_object_get(result(r), "decoded"), &proven->base);
    /* by hand: 11 slots settled (8 never was); slot 4 bought 2000 Wh at 200,000 and
     * took 500 Wh more at 330,000 (retail + 10 %) */
    assert_int_equal(dec_int(result(r), "slots"), 11);
    assert_int_equal(dec_int(result(r), "market_paid"), 400000);
    assert_int_equal(dec_int(result(r), "imbalance_charge"), 165000);
    uint64_t imp = 0;
    for (int i = 0; i <= 11; i++)
        imp += i == 8 ? 0 : alice_import(i);
    assert_int_equal(dec_int(result(r), "import_wh"), (json_int_t)imp);
    assert_int_equal(dec_int(result(r), "missing"), 0);
    gl__mkt_bill__free_unpacked(proven, NULL);
    gl__mkt_bill__free_unpacked(st, NULL);
    json_decref(r);

    /* bob: missing in 10 of his 11 slots */
    char bpk[65];
    chain_hex(bpk, f->pk[FX_BOB], 32);
    snprintf(params, sizeof params,
             "{\"participant\":\"%s\",\"day_start_ms\":%llu,\"height\":%llu}", bpk,
             (unsigned long long)MT_DAY2, (unsigned long long)w.h_settled);
    r = call(f, "get_bill", params);
    mkt_key_bill(key, MT_DAY2, f->pk[FX_BOB]);
    proven = (Gl__MktBill *)check_proven(f, result(r), w.h_settled, key, sizeof key,
                                         &gl__mkt_bill__descriptor);
    assert_int_equal(proven->missing, 10);
    assert_int_equal(dec_int(result(r), "missing"), 10);
    assert_int_equal(dec_int(result(r), "market_received"), 400000);
    gl__mkt_bill__free_unpacked(proven, NULL);
    json_decref(r);

    /* absent: before the settlement block, the next day, a key that is no participant */
    snprintf(params, sizeof params,
             "{\"participant\":\"%s\",\"day_start_ms\":%llu,\"height\":%llu}", apk,
             (unsigned long long)MT_DAY2, (unsigned long long)w.h_second);
    r = call(f, "get_bill", params);
    mkt_key_bill(key, MT_DAY2, f->pk[FX_ALICE]);
    assert_null(check_proven(f, result(r), w.h_second, key, sizeof key, &gl__mkt_bill__descriptor));
    json_decref(r);
    snprintf(params, sizeof params, "{\"participant\":\"%s\",\"day_start_ms\":%llu}", apk,
             (unsigned long long)(MT_DAY2 + MKT_DAY_MS));
    r = call(f, "get_bill", params);
    mkt_key_bill(key, MT_DAY2 + MKT_DAY_MS, f->pk[FX_ALICE]);
    assert_null(
        check_proven(f, result(r), w.h_settled, key, sizeof key, &gl__mkt_bill__descriptor));
    json_decref(r);
    char cpk[65];
    chain_hex(cpk, f->pk[FX_CAROL], 32);
    snprintf(params, sizeof params, "{\"participant\":\"%s\",\"day_start_ms\":%llu}", cpk,
             (unsigned long long)MT_DAY2);
    r = call(f, "get_bill", params);
    mkt_key_bill(key, MT_DAY2, f->pk[FX_CAROL]);
    assert_null(
        check_proven(f, result(r), w.h_settled, key, sizeof key, &gl__mkt_bill__descriptor));
    json_decref(r);
    fx_close(f);
}

static void test_settlements_are_proven_reads_equal_to_state(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct fx *f = &w.f;
    char params[256], pk[2][65];
    chain_hex(pk[0], f->pk[FX_ALICE], 32);
    chain_hex(pk[1], f->pk[FX_BOB], 32);
    const int who[2] = {FX_ALICE, FX_BOB};

    for (int i = 0; i <= 11; i++) {
        uint64_t slot = MT_SLOT(i);
        for (int p = 0; p < 2; p++) {
            snprintf(params, sizeof params, "{\"participant\":\"%s\",\"slot_start_ms\":%llu}",
                     pk[p], (unsigned long long)slot);
            json_t *r = call(f, "get_settlement", params);
            uint8_t key[MKT_KEY_SETTLEMENT_BYTES];
            mkt_key_settlement(key, slot, f->pk[who[p]]);
            Gl__MktSettlement *proven = (Gl__MktSettlement *)check_proven(
                f, result(r), w.h_settled, key, sizeof key, &gl__mkt_settlement__descriptor);
            Gl__MktSettlement *st = ms_get_settlement(f, slot, who[p]);
            if (i == 8) {
                assert_null(proven);
                assert_null(st);
            } else {
                assert_non_null(proven);
                assert_non_null(st);
                check_decoded(json_object_get(result(r), "decoded"), &st->base);
                check_decoded(json_object_get(result(r), "decoded"), &proven->base);
                assert_int_equal(dec_int(result(r), "readings"), p == 0 || i == 4 ? 1 : 0);
                gl__mkt_settlement__free_unpacked(proven, NULL);
                gl__mkt_settlement__free_unpacked(st, NULL);
            }
            json_decref(r);
        }
        snprintf(params, sizeof params, "{\"slot_start_ms\":%llu}", (unsigned long long)slot);
        json_t *r = call(f, "get_slot_settlement", params);
        uint8_t key[MKT_KEY_SLOT_SETTLEMENT_BYTES];
        mkt_key_slot_settlement(key, slot);
        Gl__MktSlotSettlement *proven = (Gl__MktSlotSettlement *)check_proven(
            f, result(r), w.h_settled, key, sizeof key, &gl__mkt_slot_settlement__descriptor);
        Gl__MktSlotSettlement *st = ms_get_slot(f, slot);
        if (i == 8) {
            assert_null(proven);
            assert_null(st);
        } else {
            check_decoded(json_object_get(result(r), "decoded"), &st->base);
            check_decoded(json_object_get(result(r), "decoded"), &proven->base);
            assert_int_equal(dec_int(result(r), "height"), (json_int_t)w.h_settled);
            gl__mkt_slot_settlement__free_unpacked(proven, NULL);
            gl__mkt_slot_settlement__free_unpacked(st, NULL);
        }
        json_decref(r);
    }

    /* slot 4 by hand: alice short 500 Wh at 330,000; bob sold 2000, metered -1800 */
    snprintf(params, sizeof params, "{\"participant\":\"%s\",\"slot_start_ms\":%llu}", pk[0],
             (unsigned long long)S4);
    json_t *r = call(f, "get_settlement", params);
    assert_int_equal(dec_int(result(r), "scheduled_net_wh"), 2000);
    assert_int_equal(dec_int(result(r), "metered_net_wh"), 2500);
    assert_int_equal(dec_int(result(r), "deviation_wh"), 500);
    assert_int_equal(dec_int(result(r), "imbalance_charge"), 165000);
    json_decref(r);
    snprintf(params, sizeof params, "{\"participant\":\"%s\",\"slot_start_ms\":%llu}", pk[1],
             (unsigned long long)S4);
    r = call(f, "get_settlement", params);
    assert_int_equal(dec_int(result(r), "scheduled_net_wh"), -2000);
    assert_int_equal(dec_int(result(r), "metered_net_wh"), -1800);
    assert_true(json_is_true(json_object_get(json_object_get(result(r), "decoded"), "renewable")));
    json_decref(r);
    snprintf(params, sizeof params, "{\"slot_start_ms\":%llu}", (unsigned long long)S4);
    r = call(f, "get_slot_settlement", params);
    assert_int_equal(dec_int(result(r), "load_wh"), 2500);
    assert_int_equal(dec_int(result(r), "renewable_export_wh"), 1800);
    assert_int_equal(dec_int(result(r), "mu_ppm"), 1388888); /* 2500 / 1800 */
    char shadow[65];
    chain_hex(shadow, f->pk[FX_SHADOW], 32);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(result(r), "decoded"), "grid_account")),
        shadow);
    json_decref(r);

    /* before the settlement block: proven absent at that height */
    snprintf(params, sizeof params, "{\"slot_start_ms\":%llu,\"height\":%llu}",
             (unsigned long long)S4, (unsigned long long)w.h_second);
    r = call(f, "get_slot_settlement", params);
    uint8_t key[MKT_KEY_SLOT_SETTLEMENT_BYTES];
    mkt_key_slot_settlement(key, S4);
    assert_null(check_proven(f, result(r), w.h_second, key, sizeof key,
                             &gl__mkt_slot_settlement__descriptor));
    json_decref(r);
    snprintf(params, sizeof params,
             "{\"participant\":\"%s\",\"slot_start_ms\":%llu,\"height\":%llu}", pk[0],
             (unsigned long long)S4, (unsigned long long)w.h_second);
    r = call(f, "get_settlement", params);
    uint8_t sk[MKT_KEY_SETTLEMENT_BYTES];
    mkt_key_settlement(sk, S4, f->pk[FX_ALICE]);
    assert_null(
        check_proven(f, result(r), w.h_second, sk, sizeof sk, &gl__mkt_settlement__descriptor));
    json_decref(r);
    fx_close(f);
}

static void test_reading_is_a_proven_read_and_absence_is_proven(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct fx *f = &w.f;
    char params[256], mhex[65];
    chain_hex(mhex, f->pk[MS_METER(FX_ALICE)], 32);
    uint8_t key[MKT_KEY_READING_BYTES];

    for (int i = 0; i <= 12; i++) {
        uint64_t idx = IDX(MT_SLOT(i));
        snprintf(params, sizeof params, "{\"meter\":\"%s\",\"slot\":%llu}", mhex,
                 (unsigned long long)idx);
        json_t *r = call(f, "get_reading", params);
        mkt_key_reading(key, f->pk[MS_METER(FX_ALICE)], idx);
        Gl__MeterReading *m = (Gl__MeterReading *)check_proven(
            f, result(r), w.h_settled, key, sizeof key, &gl__meter_reading__descriptor);
        if (i == 8 || i == 12) {
            assert_null(m);
        } else {
            assert_non_null(m);
            check_decoded(json_object_get(result(r), "decoded"), &m->base);
            assert_int_equal(dec_int(result(r), "slot"), (json_int_t)idx);
            assert_int_equal(dec_int(result(r), "import_wh"), (json_int_t)alice_import(i));
            assert_int_equal(dec_int(result(r), "slot_len_s"), 900);
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(result(r), "decoded"), "meter")),
                mhex);
            gl__meter_reading__free_unpacked(m, NULL);
        }
        json_decref(r);
    }

    /* slot 11 arrived in the second block: absent at the first's height, present at the second */
    uint64_t idx11 = IDX(MT_SLOT(11));
    mkt_key_reading(key, f->pk[MS_METER(FX_ALICE)], idx11);
    snprintf(params, sizeof params, "{\"meter\":\"%s\",\"slot\":%llu,\"height\":%llu}", mhex,
             (unsigned long long)idx11, (unsigned long long)w.h_first);
    json_t *r = call(f, "get_reading", params);
    assert_null(
        check_proven(f, result(r), w.h_first, key, sizeof key, &gl__meter_reading__descriptor));
    json_decref(r);
    snprintf(params, sizeof params, "{\"meter\":\"%s\",\"slot\":%llu,\"height\":%llu}", mhex,
             (unsigned long long)idx11, (unsigned long long)w.h_second);
    r = call(f, "get_reading", params);
    ProtobufCMessage *m =
        check_proven(f, result(r), w.h_second, key, sizeof key, &gl__meter_reading__descriptor);
    assert_non_null(m);
    protobuf_c_message_free_unpacked(m, NULL);
    json_decref(r);
    fx_close(f);
}

/* get_readings from from_slot with limit, page after page: returns the
 * slots seen, in order, and checks every entry and every page's shape. */
static size_t page_through(struct fx *f, int meter, uint64_t from, uint64_t limit, uint64_t height,
                           uint64_t *slots, size_t cap, size_t *pages)
{
    char mhex[65], params[256], hpart[48] = "";
    chain_hex(mhex, f->pk[meter], 32);
    if (height)
        snprintf(hpart, sizeof hpart, ",\"height\":%llu", (unsigned long long)height);
    uint64_t want_height = height ? height : f->c.head.height;
    size_t n = 0;
    *pages = 0;
    for (;;) {
        snprintf(params, sizeof params, "{\"meter\":\"%s\",\"from_slot\":%llu,\"limit\":%llu%s}",
                 mhex, (unsigned long long)from, (unsigned long long)limit, hpart);
        json_t *r = call(f, "get_readings", params);
        json_t *res = result(r), *arr = json_object_get(res, "readings");
        assert_int_equal(json_integer_value(json_object_get(res, "height")),
                         (json_int_t)want_height);
        assert_true(json_array_size(arr) <= limit);
        (*pages)++;
        for (size_t i = 0; i < json_array_size(arr); i++) {
            json_t *e = json_array_get(arr, i);
            uint64_t slot = (uint64_t)json_integer_value(json_object_get(e, "slot"));
            assert_true(slot >= from);
            assert_true(n == 0 || slot > slots[n - 1]); /* in slot order, no duplicate */
            uint8_t key[MKT_KEY_READING_BYTES];
            mkt_key_reading(key, f->pk[meter], slot);
            Gl__MeterReading *m = (Gl__MeterReading *)check_proven(
                f, e, want_height, key, sizeof key, &gl__meter_reading__descriptor);
            assert_non_null(m); /* a page lists only readings present at its height */
            check_decoded(json_object_get(e, "decoded"), &m->base);
            assert_int_equal(m->slot, slot);
            gl__meter_reading__free_unpacked(m, NULL);
            assert_true(n < cap);
            slots[n++] = slot;
        }
        json_t *next = json_object_get(res, "next_from_slot");
        if (json_is_null(next)) {
            json_decref(r);
            return n;
        }
        assert_true(json_is_integer(next));
        uint64_t nf = (uint64_t)json_integer_value(next);
        assert_true(n == 0 || nf > slots[n - 1]);
        assert_true(nf >= from);
        from = nf;
        json_decref(r);
        assert_true(*pages < 100000);
    }
}

/* The naive reference: every slot index in [lo, hi] read directly from state. */
static size_t naive_readings(struct fx *f, int meter, uint64_t lo, uint64_t hi, uint64_t *slots)
{
    size_t n = 0;
    for (uint64_t s = lo; s <= hi; s++) {
        uint8_t key[MKT_KEY_READING_BYTES];
        mkt_key_reading(key, f->pk[meter], s);
        ProtobufCMessage *m = mt_get(f, key, sizeof key, &gl__meter_reading__descriptor);
        if (m) {
            slots[n++] = s;
            protobuf_c_message_free_unpacked(m, NULL);
        }
    }
    return n;
}

static void test_readings_page_in_slot_order_without_duplicates_or_gaps(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct fx *f = &w.f;
    int alice = MS_METER(FX_ALICE), bob = MS_METER(FX_BOB);
    uint64_t lo = IDX(MT_SLOT(0)), ref[16], got[64];
    size_t nref = naive_readings(f, alice, lo - 4, IDX(MT_SLOT(16)), ref), pages;
    assert_int_equal(nref, 11);

    static const uint64_t limits[] = {1, 2, 3, 4, 5, 10, 11, 12, 50, 200};
    for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
        uint64_t limit = limits[li];
        size_t n = page_through(f, alice, 0, limit, 0, got, 64, &pages);
        assert_int_equal(n, nref);
        assert_memory_equal(got, ref, n * sizeof ref[0]);
        /* full pages until the last; the last says null (no empty page at the head) */
        assert_int_equal(pages, (nref + limit - 1) / limit);
    }

    /* from a slot with no reading (8): the next one is first */
    size_t n = page_through(f, alice, IDX(MT_SLOT(8)), 2, 0, got, 64, &pages);
    assert_int_equal(n, 3);
    assert_int_equal(got[0], IDX(MT_SLOT(9)));
    assert_int_equal(got[2], IDX(MT_SLOT(11)));
    /* past the last, another meter, a meter with none */
    assert_int_equal(page_through(f, alice, IDX(MT_SLOT(12)), 50, 0, got, 64, &pages), 0);
    assert_int_equal(pages, 1);
    assert_int_equal(page_through(f, bob, 0, 50, 0, got, 64, &pages), 1);
    assert_int_equal(got[0], IDX(S4));
    assert_int_equal(page_through(f, FX_CAROL, 0, 50, 0, got, 64, &pages), 0);

    /* at the first block's height: only slots 0..5, each proven there */
    n = page_through(f, alice, 0, 2, w.h_first, got, 64, &pages);
    assert_int_equal(n, 6);
    for (int i = 0; i <= 5; i++)
        assert_int_equal(got[i], IDX(MT_SLOT(i)));
    assert_int_equal(pages, 3); /* the later readings were skipped, not a fourth page */
    n = page_through(f, alice, 0, 50, w.h_second, got, 64, &pages);
    assert_int_equal(n, nref);
    assert_memory_equal(got, ref, n * sizeof ref[0]);
    fx_close(f);
}

/* At a past height, a page skips at most 1000 readings committed later and
 * then ends early with next_from_slot set: paging on finds the rest. */
static void test_readings_at_a_past_height_skip_later_ones_in_bounded_pages(void **state)
{
    (void)state;
    struct fx f;
    mt_open(&f);
    enum { LATER = 1001 };
    uint8_t *txs[LATER];
    size_t lens[LATER], n = 0;
    static const uint64_t early[] = {0, 1, 2, 5000};
    for (n = 0; n < 4; n++)
        txs[n] = raw_reading_tx(&f, RAW_METER, early[n], &lens[n]);
    block_of(&f, txs, lens, n);
    uint64_t h_early = f.c.head.height;
    for (n = 0; n < LATER; n++)
        txs[n] = raw_reading_tx(&f, RAW_METER, 3 + n, &lens[n]);
    block_of(&f, txs, lens, n);

    char mhex[65], params[256];
    chain_hex(mhex, f.pk[RAW_METER], 32);
    snprintf(params, sizeof params, "{\"meter\":\"%s\",\"from_slot\":0,\"height\":%llu}", mhex,
             (unsigned long long)h_early);
    json_t *r = call(&f, "get_readings", params);
    json_t *arr = json_object_get(result(r), "readings");
    assert_int_equal(json_array_size(arr), 3);
    /* slots 3..1002 skipped (1000), then the page ends */
    assert_int_equal(json_integer_value(json_object_get(result(r), "next_from_slot")), 1003);
    json_decref(r);
    snprintf(params, sizeof params, "{\"meter\":\"%s\",\"from_slot\":1003,\"height\":%llu}", mhex,
             (unsigned long long)h_early);
    r = call(&f, "get_readings", params);
    arr = json_object_get(result(r), "readings");
    assert_int_equal(json_array_size(arr), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(arr, 0), "slot")), 5000);
    assert_true(json_is_null(json_object_get(result(r), "next_from_slot")));
    json_decref(r);
    /* at the head: 1005 readings, in pages of 200 */
    static uint64_t got[1100];
    size_t pages;
    assert_int_equal(page_through(&f, RAW_METER, 0, 200, 0, got, 1100, &pages), 1005);
    assert_int_equal(pages, 6);
    assert_int_equal(got[1004], 5000);
    fx_close(&f);
}

static void test_every_params_refusal_is_named(void **state)
{
    (void)state;
    struct world w;
    world_open(&w);
    struct fx *f = &w.f;
    char pk[65], m[65];
    chain_hex(pk, f->pk[FX_ALICE], 32);
    chain_hex(m, f->pk[MS_METER(FX_ALICE)], 32);
    static char bufs[40][256];
    struct {
        const char *method;
        const char *params;
        int code;
        const char *says;
    } bad[40];
    size_t nb = 0;
#define BAD(meth, code_, says_, ...)                                                               \
    do {                                                                                           \
        snprintf(bufs[nb], sizeof bufs[nb], __VA_ARGS__);                                          \
        bad[nb].method = (meth);                                                                   \
        bad[nb].params = bufs[nb];                                                                 \
        bad[nb].code = (code_);                                                                    \
        bad[nb].says = (says_);                                                                    \
        nb++;                                                                                      \
    } while (0)
    const int IP = RPC_ERR_INVALID_PARAMS;
    /* get_bill */
    BAD("get_bill", IP, "a multiple of 86400000 ms: 1700092800001 is not",
        "{\"participant\":\"%s\",\"day_start_ms\":1700092800001}", pk);
    BAD("get_bill", IP, "(the one containing it starts at 1700092800000)",
        "{\"participant\":\"%s\",\"day_start_ms\":1700096400000}", pk);
    BAD("get_bill", IP, "missing param \"day_start_ms\"", "{\"participant\":\"%s\"}", pk);
    BAD("get_bill", IP, "\"day_start_ms\" must be a non-negative integer",
        "{\"participant\":\"%s\",\"day_start_ms\":-86400000}", pk);
    BAD("get_bill", IP, "\"day_start_ms\" must be a non-negative integer",
        "{\"participant\":\"%s\",\"day_start_ms\":\"2023-11-16\"}", pk);
    BAD("get_bill", IP, "missing param \"participant\"", "{\"day_start_ms\":0}");
    BAD("get_bill", IP, "param \"participant\" must be 32 bytes as 64 hex digits",
        "{\"participant\":\"%.62s\",\"day_start_ms\":0}", pk);
    BAD("get_bill", IP, "unknown param \"day\" for method get_bill; it takes \"participant\"",
        "{\"participant\":\"%s\",\"day\":0}", pk);
    BAD("get_bill", RPC_ERR_NOT_FOUND, "no block at height 999999 yet",
        "{\"participant\":\"%s\",\"day_start_ms\":0,\"height\":999999}", pk);
    BAD("get_bill", IP, "\"height\" must be a non-negative integer",
        "{\"participant\":\"%s\",\"day_start_ms\":0,\"height\":true}", pk);
    /* get_settlement, get_slot_settlement */
    BAD("get_settlement", IP, "start of a delivery slot, a multiple of 300000 ms",
        "{\"participant\":\"%s\",\"slot_start_ms\":1700092860000}", pk);
    BAD("get_settlement", IP, "missing param \"slot_start_ms\"", "{\"participant\":\"%s\"}", pk);
    BAD("get_settlement", IP, "missing param \"participant\"", "{\"slot_start_ms\":0}");
    BAD("get_settlement", IP, "unknown param \"slot\" for method get_settlement",
        "{\"participant\":\"%s\",\"slot\":0}", pk);
    BAD("get_slot_settlement", IP, "a multiple of 300000 ms: 1 is not", "{\"slot_start_ms\":1}");
    BAD("get_slot_settlement", IP, "missing param \"slot_start_ms\"", "{}");
    BAD("get_slot_settlement", IP, "unknown param \"participant\" for method get_slot_settlement",
        "{\"slot_start_ms\":0,\"participant\":\"%s\"}", pk);
    BAD("get_slot_settlement", RPC_ERR_NOT_FOUND, "the head is at height",
        "{\"slot_start_ms\":0,\"height\":18446744073}");
    /* get_reading */
    BAD("get_reading", IP, "missing param \"slot\"", "{\"meter\":\"%s\"}", m);
    BAD("get_reading", IP, "missing param \"meter\"", "{\"slot\":0}");
    BAD("get_reading", IP, "of at most 2^40 = 1099511627776",
        "{\"meter\":\"%s\",\"slot\":1099511627777}", m);
    BAD("get_reading", IP, "\"slot\" must be a non-negative integer",
        "{\"meter\":\"%s\",\"slot\":1.5}", m);
    BAD("get_reading", IP, "param \"meter\" must be 32 bytes", "{\"meter\":\"zz%.62s\",\"slot\":0}",
        m);
    BAD("get_reading", IP, "unknown param \"slot_start_ms\" for method get_reading",
        "{\"meter\":\"%s\",\"slot_start_ms\":0}", m);
    /* get_readings */
    BAD("get_readings", IP, "missing param \"from_slot\"", "{\"meter\":\"%s\"}", m);
    BAD("get_readings", IP, "missing param \"meter\"", "{\"from_slot\":0}");
    BAD("get_readings", IP, "param \"limit\" must be from 1 to 200",
        "{\"meter\":\"%s\",\"from_slot\":0,\"limit\":0}", m);
    BAD("get_readings", IP, "param \"limit\" must be from 1 to 200",
        "{\"meter\":\"%s\",\"from_slot\":0,\"limit\":201}", m);
    BAD("get_readings", IP, "\"limit\" must be a non-negative integer",
        "{\"meter\":\"%s\",\"from_slot\":0,\"limit\":\"10\"}", m);
    BAD("get_readings", IP, "\"from_slot\" must be a slot index",
        "{\"meter\":\"%s\",\"from_slot\":1099511627777}", m);
    BAD("get_readings", IP, "unknown param \"after\" for method get_readings",
        "{\"meter\":\"%s\",\"from_slot\":0,\"after\":1}", m);
    BAD("get_readings", RPC_ERR_NOT_FOUND, "no block at height",
        "{\"meter\":\"%s\",\"from_slot\":0,\"height\":1000000}", m);
    BAD("get_readings", IP, "an array: this server takes params by name only", "[\"%s\",0]", m);
#undef BAD
    for (size_t i = 0; i < nb; i++) {
        json_t *r = call(f, bad[i].method, bad[i].params);
        const char *msg =
            json_string_value(json_object_get(json_object_get(r, "error"), "message"));
        if (error_code(r) != bad[i].code || !msg || !strstr(msg, bad[i].says))
            fail_msg("%s %s: expected %d saying \"%s\", got %s", bad[i].method, bad[i].params,
                     bad[i].code, bad[i].says, json_dumps(r, 0));
        json_decref(r);
    }
    /* the unknown-method message lists the new methods */
    json_t *r = call(f, "get_bills", "{}");
    assert_int_equal(error_code(r), RPC_ERR_METHOD_NOT_FOUND);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
               "get_bill, get_settlement, get_slot_settlement, get_reading, "
               "get_readings"));
    json_decref(r);
    fx_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bill_is_a_proven_read_equal_to_state),
        cmocka_unit_test(test_settlements_are_proven_reads_equal_to_state),
        cmocka_unit_test(test_reading_is_a_proven_read_and_absence_is_proven),
        cmocka_unit_test(test_readings_page_in_slot_order_without_duplicates_or_gaps),
        cmocka_unit_test(test_readings_at_a_past_height_skip_later_ones_in_bounded_pages),
        cmocka_unit_test(test_every_params_refusal_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
