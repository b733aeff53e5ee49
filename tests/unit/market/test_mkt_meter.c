/* test_mkt_meter.c -- meter readings (TX_METER_READING = 120) on a real chain:
 * stored under the key gridmeter proves against, summed per participant and
 * slot, an identical duplicate a no-op, the first conflicting reading kept as
 * evidence and any further one refused, every named refusal (unbound meter,
 * another meter's reading, slot length, a slot not ended, a closed window, a
 * settled slot), and the decoder's limits. */
#include "mst_fixture.h"

#define S4 MT_SLOT(4)

static void setup(struct fx *f)
{
    mt_open(f);
    assert_int_equal(ms_register_metered(f, FX_ALICE, false, 0), CHAIN_ERR_OK);
    mt_at(f, S4 + MKT_SLOT_MS_DEFAULT);
}

static Gl__MktMeterAgg *get_agg(struct fx *f, uint64_t slot, int who)
{
    uint8_t k[MKT_KEY_METER_AGG_BYTES];
    mkt_key_meter_agg(k, slot, f->pk[who]);
    return (Gl__MktMeterAgg *)mt_get(f, k, sizeof k, &gl__mkt_meter_agg__descriptor);
}

static Gl__MeterReading *get_reading(struct fx *f, int meter, uint64_t slot)
{
    uint8_t k[MKT_KEY_READING_BYTES];
    mkt_key_reading(k, f->pk[meter], slot / MKT_SLOT_MS_DEFAULT);
    return (Gl__MeterReading *)mt_get(f, k, sizeof k, &gl__meter_reading__descriptor);
}

static void test_a_reading_is_stored_and_summed_for_its_participant(void **state)
{
    (void)state;
    struct fx f;
    setup(&f);
    assert_int_equal(ms_reading(&f, FX_ALICE, S4, 1234, 56), CHAIN_ERR_OK);
    Gl__MeterReading *r = get_reading(&f, MS_METER(FX_ALICE), S4);
    assert_non_null(r);
    assert_int_equal(r->import_wh, 1234);
    assert_int_equal(r->export_wh, 56);
    assert_int_equal(r->cum_import_wh, 101234);
    gl__meter_reading__free_unpacked(r, NULL);
    Gl__MktMeterAgg *a = get_agg(&f, S4, FX_ALICE);
    assert_non_null(a);
    assert_int_equal(a->import_wh, 1234);
    assert_int_equal(a->export_wh, 56);
    assert_int_equal(a->readings, 1);
    gl__mkt_meter_agg__free_unpacked(a, NULL);
    /* A reading puts its slot on the settlement queue, even with no trades. */
    mt_at(&f, MS_DUE(S4));
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    Gl__MktSettlement *s = ms_get_settlement(&f, S4, FX_ALICE);
    assert_non_null(s);
    assert_int_equal(s->metered_net_wh, 1234 - 56);
    /* No tariff for the slot: the deviation is recorded, not priced. */
    assert_int_equal(s->deviation_wh, 1178);
    assert_int_equal(s->imbalance_charge, 0);
    gl__mkt_settlement__free_unpacked(s, NULL);
    fx_close(&f);
}

static void test_an_identical_duplicate_is_a_no_op(void **state)
{
    (void)state;
    struct fx f;
    setup(&f);
    assert_int_equal(ms_reading(&f, FX_ALICE, S4, 700, 0), CHAIN_ERR_OK);
    assert_int_equal(ms_reading(&f, FX_ALICE, S4, 700, 0), CHAIN_ERR_OK);
    Gl__MktMeterAgg *a = get_agg(&f, S4, FX_ALICE);
    assert_int_equal(a->import_wh, 700);
    assert_int_equal(a->readings, 1);
    gl__mkt_meter_agg__free_unpacked(a, NULL);
    uint8_t k[MKT_KEY_EVIDENCE_BYTES];
    mkt_key_evidence(k, f.pk[MS_METER(FX_ALICE)], S4 / MKT_SLOT_MS_DEFAULT);
    assert_null(mt_get(&f, k, sizeof k, &gl__mkt_reading_evidence__descriptor));
    fx_close(&f);
}

static void test_a_conflicting_reading_is_kept_as_evidence_then_refused(void **state)
{
    (void)state;
    struct fx f;
    setup(&f);
    assert_int_equal(ms_reading(&f, FX_ALICE, S4, 700, 0), CHAIN_ERR_OK);
    /* The first conflict is recorded, not applied. */
    size_t len;
    uint8_t *tx = ms_reading_tx(&f, MS_METER(FX_ALICE), MS_METER(FX_ALICE), S4, 900, 0, &len);
    uint8_t h[CHAIN_HASH_BYTES];
    chain_hash(h, CHAIN_TAG_TX, tx, len);
    assert_int_equal(fx_block(&f, &tx, &len, 1, NULL), CHAIN_ERR_OK);
    free(tx);
    Gl__MktMeterAgg *a = get_agg(&f, S4, FX_ALICE);
    assert_int_equal(a->import_wh, 700);
    assert_int_equal(a->readings, 1);
    gl__mkt_meter_agg__free_unpacked(a, NULL);
    uint8_t k[MKT_KEY_EVIDENCE_BYTES];
    mkt_key_evidence(k, f.pk[MS_METER(FX_ALICE)], S4 / MKT_SLOT_MS_DEFAULT);
    Gl__MktReadingEvidence *ev =
        (Gl__MktReadingEvidence *)mt_get(&f, k, sizeof k, &gl__mkt_reading_evidence__descriptor);
    assert_non_null(ev);
    assert_memory_equal(ev->tx_hash.data, h, CHAIN_HASH_BYTES);
    Gl__MeterReading *first = (Gl__MeterReading *)protobuf_c_message_unpack(
        &gl__meter_reading__descriptor, NULL, ev->first.len, ev->first.data);
    Gl__MeterReading *second = (Gl__MeterReading *)protobuf_c_message_unpack(
        &gl__meter_reading__descriptor, NULL, ev->conflicting.len, ev->conflicting.data);
    assert_int_equal(first->import_wh, 700);
    assert_int_equal(second->import_wh, 900);
    gl__meter_reading__free_unpacked(first, NULL);
    gl__meter_reading__free_unpacked(second, NULL);
    gl__mkt_reading_evidence__free_unpacked(ev, NULL);
    /* Any further conflict is refused by name, and changes nothing. */
    assert_int_equal(ms_reading(&f, FX_ALICE, S4, 901, 0), MKT_ERR_READING_CONFLICTS);
    /* The accepted reading is still the one applied. */
    Gl__MeterReading *r = get_reading(&f, MS_METER(FX_ALICE), S4);
    assert_int_equal(r->import_wh, 700);
    gl__meter_reading__free_unpacked(r, NULL);
    fx_close(&f);
}

static void test_readings_are_refused_by_name(void **state)
{
    (void)state;
    struct fx f;
    size_t len;
    uint8_t *tx;
    setup(&f);
    /* A key with an account but no binding. */
    assert_int_equal(mt_mint(&f, 13, 1, "unbound"), CHAIN_ERR_OK);
    tx = ms_reading_tx(&f, 13, 13, S4, 1, 0, &len);
    assert_int_equal(fx_block(&f, &tx, &len, 1, NULL), MKT_ERR_METER_NOT_BOUND);
    free(tx);
    /* A bound meter signing another meter's reading. */
    tx = ms_reading_tx(&f, MS_METER(FX_ALICE), 13, S4, 1, 0, &len);
    assert_int_equal(fx_block(&f, &tx, &len, 1, NULL), MKT_ERR_READING_WRONG_METER);
    free(tx);
    /* A slot that has not ended (the next one ends in 15 min). */
    assert_int_equal(ms_reading(&f, FX_ALICE, MT_SLOT(5), 1, 0), MKT_ERR_READING_IN_FUTURE);
    /* A 5-minute slot under 15-minute parameters. */
    uint8_t *p;
    size_t n;
    struct mkt_reading r = {
        .slot = 3 * (S4 / MKT_SLOT_MS_DEFAULT), .import_wh = 1, .slot_len_s = 300};
    assert_int_equal(mkt_payload_reading(f.pk[MS_METER(FX_ALICE)], &r, &p, &n), CHAIN_ERR_OK);
    assert_int_equal(fx_submit(&f, MS_METER(FX_ALICE), GL__METER_TX_TYPE__TX_METER_READING, p, n),
                     MKT_ERR_READING_SLOT_LENGTH);
    /* The window closes one hour after the slot's end. */
    mt_at(&f, MS_DUE(S4) - 1000);
    assert_int_equal(ms_reading(&f, FX_ALICE, S4, 5, 0), CHAIN_ERR_OK);
    assert_int_equal(ms_reading(&f, FX_ALICE, MT_SLOT(3), 5, 0), MKT_ERR_READING_WINDOW_CLOSED);
    assert_null(get_reading(&f, MS_METER(FX_ALICE), MT_SLOT(3)));
    fx_close(&f);
}

static void test_the_decoder_enforces_the_limits(void **state)
{
    (void)state;
    uint8_t pk[CHAIN_PK_BYTES] = {1};
    struct {
        struct mkt_reading r;
        int want;
    } cases[] = {
        {{.slot = 7, .import_wh = MKT_READING_MAX_WH, .slot_len_s = 900}, CHAIN_ERR_OK},
        {{.slot = 7, .import_wh = MKT_READING_MAX_WH + 1, .slot_len_s = 900},
         CHAIN_ERR_DECODE_BAD_VALUE},
        {{.slot = 7, .export_wh = MKT_READING_MAX_WH + 1, .slot_len_s = 900},
         CHAIN_ERR_DECODE_BAD_VALUE},
        {{.slot = 7, .cum_import_wh = MKT_READING_MAX_REGISTER_WH + 1, .slot_len_s = 900},
         CHAIN_ERR_DECODE_BAD_VALUE},
        {{.slot = MKT_READING_MAX_SLOT_INDEX + 1, .slot_len_s = 900}, CHAIN_ERR_DECODE_BAD_VALUE},
        {{.slot = 7, .slot_len_s = 600}, CHAIN_ERR_DECODE_BAD_VALUE},
        {{.slot = 7, .slot_len_s = 300, .flags = 15}, CHAIN_ERR_OK},
        {{.slot = 7, .slot_len_s = 300, .flags = 16}, CHAIN_ERR_DECODE_BAD_VALUE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *p;
        size_t n;
        void *msg = NULL;
        assert_int_equal(mkt_payload_reading(pk, &cases[i].r, &p, &n), CHAIN_ERR_OK);
        int rc = mkt_meter_handler.decode(p, n, &msg);
        assert_int_equal(rc, cases[i].want);
        if (!rc)
            mkt_meter_handler.free_payload(msg);
        free(p);
    }
    /* A missing or short meter key. */
    Gl__MeterReading m = GL__METER_READING__INIT;
    m.slot_len_s = 900;
    m.meter = (ProtobufCBinaryData){31, pk};
    uint8_t *p;
    size_t n;
    void *msg;
    assert_int_equal(chain_pb_pack(&m.base, &p, &n), CHAIN_ERR_OK);
    assert_int_not_equal(mkt_meter_handler.decode(p, n, &msg), CHAIN_ERR_OK);
    free(p);
}

static void test_a_settled_slot_takes_no_more_readings(void **state)
{
    (void)state;
    struct fx f;
    mt_open(&f);
    /* A window of 2 h: settling early is impossible, so shorten it afterwards. */
    struct mkt_tx_params prm;
    mkt_params_default(&prm);
    prm.metering_window_ms = 2 * MKT_METERING_WINDOW_MS_DEFAULT;
    assert_int_equal(mt_params(&f, FX_OPERATOR, &prm), CHAIN_ERR_OK);
    assert_int_equal(ms_register_metered(&f, FX_ALICE, false, 0), CHAIN_ERR_OK);
    assert_int_equal(ms_register_metered(&f, FX_BOB, false, 0), CHAIN_ERR_OK);
    mt_at(&f, S4 + MKT_SLOT_MS_DEFAULT);
    assert_int_equal(ms_reading(&f, FX_ALICE, S4, 5, 0), CHAIN_ERR_OK);
    /* Queued at end + 2 h: settles then, and Bob's reading after it is refused
     * even though a 3 h window would still be open. */
    prm.metering_window_ms = 3 * MKT_METERING_WINDOW_MS_DEFAULT;
    assert_int_equal(mt_params(&f, FX_OPERATOR, &prm), CHAIN_ERR_OK);
    mt_at(&f, S4 + MKT_SLOT_MS_DEFAULT + 2 * MKT_METERING_WINDOW_MS_DEFAULT);
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    Gl__MktSlotSettlement *sr = ms_get_slot(&f, S4);
    assert_non_null(sr);
    gl__mkt_slot_settlement__free_unpacked(sr, NULL);
    assert_int_equal(ms_reading(&f, FX_BOB, S4, 5, 0), MKT_ERR_READING_WINDOW_CLOSED);
    Gl__MktSettlement *s = ms_get_settlement(&f, S4, FX_BOB);
    assert_true(s->missing);
    gl__mkt_settlement__free_unpacked(s, NULL);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_reading_is_stored_and_summed_for_its_participant),
        cmocka_unit_test(test_an_identical_duplicate_is_a_no_op),
        cmocka_unit_test(test_a_conflicting_reading_is_kept_as_evidence_then_refused),
        cmocka_unit_test(test_readings_are_refused_by_name),
        cmocka_unit_test(test_the_decoder_enforces_the_limits),
        cmocka_unit_test(test_a_settled_slot_takes_no_more_readings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
