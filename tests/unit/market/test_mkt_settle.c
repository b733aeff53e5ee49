/* test_mkt_settle.c -- settlement of delivery slots on a real chain, each rule
 * with numbers computed by hand (market/README.md, "Metering and
 * settlement"): imbalance at the tariff's prices with the 10 % markup,
 * margins released, the renewable subsidy with mu above and below 1 and a
 * pool that is empty, short or enough, incentive points, missing readings
 * (penalty, no long credit, strikes, suspension), deposit then debt, debt
 * blocking orders and repaid from a later recharge, a grid that cannot pay.
 * fx_block checks the supply invariant after every block. */
#include "mst_fixture.h"

#define S4     MT_SLOT(4)
#define S5     MT_SLOT(5)
#define DAVE   6
#define RETAIL 300000u /* short price 330,000; feed-in 100,000: long price 90,000 */
#define FEEDIN 100000u

static void trade_2000(struct fx *f, uint64_t slot)
{
    uint8_t id[CHAIN_HASH_BYTES];
    struct mkt_tx_order b = mt_simple(MKT_TX_BUY, slot, 2000, 250000);
    struct mkt_tx_order s = mt_simple(MKT_TX_SELL, slot, 2000, 150000);
    assert_int_equal(mt_order(f, FX_ALICE, &b, id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(f, FX_BOB, &s, id), CHAIN_ERR_OK);
}

/* Alice (meter) buys 2000 Wh from Bob (renewable, meter) in S4 at the
 * clearing price 200,000 (midpoint of 150,000..250,000): Alice pays 400,000,
 * Bob receives 400,000 and holds a margin of 40,000. */
static void setup_trade(struct fx *f, uint64_t subsidy_fund)
{
    mt_open(f);
    ms_params(f, 3);
    assert_int_equal(ms_register_metered(f, FX_ALICE, false, 0), CHAIN_ERR_OK);
    assert_int_equal(ms_register_metered(f, FX_BOB, true, 0), CHAIN_ERR_OK);
    assert_int_equal(mt_tariff(f, FX_SHADOW, MKT_ELECTRICITY, S4, RETAIL, FEEDIN), CHAIN_ERR_OK);
    if (subsidy_fund)
        assert_int_equal(ms_fund(f, FX_CAROL, subsidy_fund), CHAIN_ERR_OK);
    trade_2000(f, S4);
    mt_at(f, MT_DA_GATE);
    assert_int_equal(mt_empty_block(f), CHAIN_ERR_OK);
    Gl__MktResult *r = mt_get_result(f, MKT_ELECTRICITY, MKT_DAY_AHEAD, S4);
    assert_non_null(r);
    assert_int_equal(r->price, 200000);
    assert_int_equal(r->volume_wh, 2000);
    gl__mkt_result__free_unpacked(r, NULL);
    assert_int_equal(fx_account(f, f->pk[FX_BOB]).locked, 40000);
}

static int64_t subsidy_with_fund(uint64_t fund, int64_t *pool_after)
{
    struct fx f;
    setup_trade(&f, fund);
    mt_at(&f, S4 + MKT_SLOT_MS_DEFAULT);
    assert_int_equal(ms_reading(&f, FX_ALICE, S4, 2500, 0), CHAIN_ERR_OK);
    assert_int_equal(ms_reading(&f, FX_BOB, S4, 0, 1800), CHAIN_ERR_OK);
    assert_null(ms_get_slot(&f, S4));
    mt_at(&f, MS_DUE(S4) - 1000);
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    assert_null(ms_get_slot(&f, S4)); /* one second before the window ends: not yet */
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    Gl__MktSlotSettlement *r = ms_get_slot(&f, S4);
    assert_non_null(r);
    /* mu = L / G = 2500 / 1800 = 1.388888 */
    assert_int_equal(r->mu_ppm, 1388888);
    assert_int_equal(r->load_wh, 2500);
    assert_int_equal(r->renewable_export_wh, 1800);
    assert_int_equal(r->grid_received, 165000 + 66000);
    assert_int_equal(r->participants, 2);
    gl__mkt_slot_settlement__free_unpacked(r, NULL);
    Gl__MktSettlement *b = ms_get_settlement(&f, S4, FX_BOB);
    assert_non_null(b);
    int64_t sub = b->subsidy;
    /* Bob sold 2000, metered -1800: short 200 Wh at 330,000 = 66,000. */
    assert_int_equal(b->scheduled_net_wh, -2000);
    assert_int_equal(b->metered_net_wh, -1800);
    assert_int_equal(b->deviation_wh, 200);
    assert_int_equal(b->imbalance_price, 330000);
    assert_int_equal(b->imbalance_charge, 66000);
    assert_int_equal(b->margin_released, 40000);
    assert_int_equal(b->market_received, 400000);
    assert_int_equal(b->points, 0);
    gl__mkt_settlement__free_unpacked(b, NULL);
    struct chain_account ba = fx_account(&f, f.pk[FX_BOB]);
    assert_int_equal(ba.locked, 0);
    assert_int_equal(ba.balance, FX_START_BALANCE + 400000 - 66000 + sub);
    *pool_after = mt_pool(&f, MKT_POOL_SUBSIDY);
    fx_close(&f);
    return sub;
}

static void test_short_deviations_pay_retail_plus_markup_and_margins_are_released(void **state)
{
    (void)state;
    struct fx f;
    setup_trade(&f, 0);
    mt_at(&f, S4 + MKT_SLOT_MS_DEFAULT);
    assert_int_equal(ms_reading(&f, FX_ALICE, S4, 2500, 0), CHAIN_ERR_OK);
    assert_int_equal(ms_reading(&f, FX_BOB, S4, 0, 1800), CHAIN_ERR_OK);
    int64_t grid0 = fx_account(&f, f.pk[FX_SHADOW]).balance;
    mt_at(&f, MS_DUE(S4));
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    Gl__MktSettlement *a = ms_get_settlement(&f, S4, FX_ALICE);
    assert_non_null(a);
    /* Alice scheduled +2000, metered +2500: short 500 Wh, ceil(500 * 330000 / 1000). */
    assert_int_equal(a->scheduled_net_wh, 2000);
    assert_int_equal(a->metered_net_wh, 2500);
    assert_int_equal(a->deviation_wh, 500);
    assert_int_equal(a->imbalance_charge, 165000);
    assert_int_equal(a->from_balance, 165000);
    assert_int_equal(a->market_paid, 400000);
    /* Points: min(bought 2000, metered 2500) * renewable sold 2000 / all sold 2000. */
    assert_int_equal(a->points, 2000);
    assert_false(a->missing);
    gl__mkt_settlement__free_unpacked(a, NULL);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, FX_START_BALANCE - 400000 - 165000);
    assert_int_equal(fx_account(&f, f.pk[FX_SHADOW]).balance, grid0 + 165000 + 66000);
    Gl__MktParticipant *p = ms_get_part(&f, FX_ALICE);
    assert_int_equal(p->points, 2000);
    assert_int_equal(p->strikes, 0);
    gl__mkt_participant__free_unpacked(p, NULL);
    /* The day's bill adds the slot up. */
    Gl__MktBill *bill = ms_get_bill(&f, MT_DAY2, FX_ALICE);
    assert_non_null(bill);
    assert_int_equal(bill->slots, 1);
    assert_int_equal(bill->market_paid, 400000);
    assert_int_equal(bill->imbalance_charge, 165000);
    assert_int_equal(bill->import_wh, 2500);
    assert_int_equal(bill->points, 2000);
    gl__mkt_bill__free_unpacked(bill, NULL);
    /* The orders' held margin is gone from the order too. */
    fx_close(&f);
}

static void test_subsidy_above_one_is_paid_from_the_pool_and_bounded_by_it(void **state)
{
    (void)state;
    int64_t pool;
    /* (mu - 1) * income * delivered / sold = 400000 * 1800 * 388888 / (2000 * 10^6)
     * = 139,999.68, floored. */
    assert_int_equal(subsidy_with_fund(1000000, &pool), 139999);
    assert_int_equal(pool, 1000000 - 139999);
    /* A pool of 70,000 pays the one claimant 139999 * 70000 / 139999 = 70,000. */
    assert_int_equal(subsidy_with_fund(70000, &pool), 70000);
    assert_int_equal(pool, 0);
    /* An empty pool pays nothing. */
    assert_int_equal(subsidy_with_fund(0, &pool), 0);
    assert_int_equal(pool, 0);
}

static void test_subsidy_below_one_takes_from_renewable_income_into_the_pool(void **state)
{
    (void)state;
    struct fx f;
    setup_trade(&f, 0);
    assert_int_equal(mt_mint(&f, FX_SHADOW, 1000000, "grid-float"), CHAIN_ERR_OK);
    mt_at(&f, S4 + MKT_SLOT_MS_DEFAULT);
    assert_int_equal(ms_reading(&f, FX_ALICE, S4, 1000, 0), CHAIN_ERR_OK);
    assert_int_equal(ms_reading(&f, FX_BOB, S4, 0, 2000), CHAIN_ERR_OK);
    mt_at(&f, MS_DUE(S4));
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    Gl__MktSlotSettlement *r = ms_get_slot(&f, S4);
    /* mu = 1000 / 2000 = 0.5 (the default lower bound). */
    assert_int_equal(r->mu_ppm, 500000);
    assert_int_equal(r->subsidy_collected, 200000);
    assert_int_equal(r->grid_paid, 90000);
    gl__mkt_slot_settlement__free_unpacked(r, NULL);
    Gl__MktSettlement *b = ms_get_settlement(&f, S4, FX_BOB);
    /* -(1 - 0.5) * 400000 * 2000 / 2000 */
    assert_int_equal(b->subsidy, -200000);
    assert_int_equal(b->deviation_wh, 0);
    gl__mkt_settlement__free_unpacked(b, NULL);
    Gl__MktSettlement *a = ms_get_settlement(&f, S4, FX_ALICE);
    /* Alice bought 2000, used 1000: long 1000 Wh at 90,000; points on 1000 Wh. */
    assert_int_equal(a->deviation_wh, -1000);
    assert_int_equal(a->imbalance_price, 90000);
    assert_int_equal(a->imbalance_credit, 90000);
    assert_int_equal(a->points, 1000);
    gl__mkt_settlement__free_unpacked(a, NULL);
    assert_int_equal(mt_pool(&f, MKT_POOL_SUBSIDY), 200000);
    assert_int_equal(fx_account(&f, f.pk[FX_BOB]).balance, FX_START_BALANCE + 400000 - 200000);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, FX_START_BALANCE - 400000 + 90000);
    fx_close(&f);
}

static void test_missing_readings_are_penalised_struck_and_suspend_at_the_limit(void **state)
{
    (void)state;
    struct fx f;
    uint8_t id[CHAIN_HASH_BYTES];
    mt_open(&f);
    ms_params(&f, 2);
    assert_int_equal(ms_register_metered(&f, FX_ALICE, false, 0), CHAIN_ERR_OK);
    assert_int_equal(mt_register(&f, FX_BOB, 0, false, 0), CHAIN_ERR_OK); /* no meter */
    assert_int_equal(mt_tariff(&f, FX_SHADOW, MKT_ELECTRICITY, S4, RETAIL, FEEDIN), CHAIN_ERR_OK);
    assert_int_equal(mt_tariff(&f, FX_SHADOW, MKT_ELECTRICITY, S5, RETAIL, FEEDIN), CHAIN_ERR_OK);
    trade_2000(&f, S4);
    trade_2000(&f, S5);
    mt_at(&f, MT_DA_GATE);
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    assert_int_equal(fx_account(&f, f.pk[FX_BOB]).locked, 80000);
    /* Alice posts nothing; both slots settle in one block, in due order. */
    mt_at(&f, MS_DUE(S5));
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    Gl__MktSettlement *a4 = ms_get_settlement(&f, S4, FX_ALICE);
    Gl__MktSettlement *a5 = ms_get_settlement(&f, S5, FX_ALICE);
    assert_true(a4->missing && a5->missing);
    assert_int_equal(a4->readings, 0);
    assert_int_equal(a4->meters, 1);
    /* Metered 0 against +2000: long, but a missing reading earns no credit. */
    assert_int_equal(a4->deviation_wh, -2000);
    assert_int_equal(a4->imbalance_credit, 0);
    assert_int_equal(a4->penalty, 100000);
    assert_false(a4->suspended);
    assert_true(a5->suspended); /* the second strike reaches the limit of 2 */
    gl__mkt_settlement__free_unpacked(a4, NULL);
    gl__mkt_settlement__free_unpacked(a5, NULL);
    /* Bob is not metered: his schedule stands, his margins come back. */
    Gl__MktSettlement *b4 = ms_get_settlement(&f, S4, FX_BOB);
    assert_int_equal(b4->deviation_wh, 0);
    assert_int_equal(b4->margin_released, 40000);
    gl__mkt_settlement__free_unpacked(b4, NULL);
    assert_int_equal(fx_account(&f, f.pk[FX_BOB]).locked, 0);
    assert_int_equal(mt_pool(&f, MKT_POOL_PENALTIES), 200000);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance,
                     FX_START_BALANCE - 2 * 400000 - 2 * 100000);
    Gl__MktParticipant *p = ms_get_part(&f, FX_ALICE);
    assert_int_equal(p->strikes, 2);
    assert_true(p->suspended);
    gl__mkt_participant__free_unpacked(p, NULL);
    struct mkt_tx_order o = mt_simple(MKT_TX_BUY, MT_SLOT(40), 10, 1000);
    o.market = MKT_INTRADAY;
    assert_int_equal(mt_order(&f, FX_ALICE, &o, id), MKT_ERR_PARTICIPANT_SUSPENDED);
    /* Reinstated by the operator: strikes start again, orders are taken. */
    uint8_t *pl;
    size_t n;
    assert_int_equal(mkt_payload_set_status(f.pk[FX_ALICE], false, &pl, &n), CHAIN_ERR_OK);
    assert_int_equal(fx_submit(&f, FX_OPERATOR, GL__MKT_TX_TYPE__MKT_TX_SET_STATUS, pl, n),
                     CHAIN_ERR_OK);
    p = ms_get_part(&f, FX_ALICE);
    assert_int_equal(p->strikes, 0);
    gl__mkt_participant__free_unpacked(p, NULL);
    assert_int_equal(mt_order(&f, FX_ALICE, &o, id), CHAIN_ERR_OK);
    fx_close(&f);
}

static void
test_a_shortfall_takes_the_deposit_then_becomes_debt_that_blocks_orders_until_repaid(void **state)
{
    (void)state;
    struct fx f;
    uint8_t id[CHAIN_HASH_BYTES];
    uint8_t *pl;
    size_t n;
    mt_open(&f);
    ms_params(&f, 3);
    assert_int_equal(chain_payload_transfer(f.pk[DAVE], 6000, &pl, &n), CHAIN_ERR_OK);
    assert_int_equal(fx_submit(&f, FX_CAROL, GL__TX_TYPE__TX_TRANSFER, pl, n), CHAIN_ERR_OK);
    assert_int_equal(ms_register_metered(&f, DAVE, false, 1000), CHAIN_ERR_OK);
    assert_int_equal(mt_tariff(&f, FX_SHADOW, MKT_ELECTRICITY, S4, RETAIL, FEEDIN), CHAIN_ERR_OK);
    mt_at(&f, S4 + MKT_SLOT_MS_DEFAULT);
    assert_int_equal(ms_reading(&f, DAVE, S4, 1000, 0), CHAIN_ERR_OK);
    mt_at(&f, MS_DUE(S4));
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    /* Short 1000 Wh at 330,000: 330,000 owed; 5,000 balance, 1,000 deposit, rest debt. */
    Gl__MktSettlement *s = ms_get_settlement(&f, S4, DAVE);
    assert_int_equal(s->imbalance_charge, 330000);
    assert_int_equal(s->from_balance, 5000);
    assert_int_equal(s->from_deposit, 1000);
    assert_int_equal(s->debt_added, 324000);
    gl__mkt_settlement__free_unpacked(s, NULL);
    struct chain_account d = fx_account(&f, f.pk[DAVE]);
    assert_int_equal(d.balance, 0);
    assert_int_equal(d.locked, 0);
    Gl__MktParticipant *p = ms_get_part(&f, DAVE);
    assert_int_equal(p->debt, 324000);
    assert_int_equal(p->deposit, 0);
    gl__mkt_participant__free_unpacked(p, NULL);
    Gl__MktSlotSettlement *r = ms_get_slot(&f, S4);
    assert_int_equal(r->grid_received, 6000);
    gl__mkt_slot_settlement__free_unpacked(r, NULL);

    struct mkt_tx_order o = mt_simple(MKT_TX_BUY, MT_SLOT(40), 10, 1000);
    o.market = MKT_INTRADAY;
    assert_int_equal(mt_order(&f, DAVE, &o, id), MKT_ERR_PARTICIPANT_IN_DEBT);
    /* A recharge of 100,000 repays part at the end of its block ... */
    assert_int_equal(mt_mint(&f, DAVE, 100000, "bank-1"), CHAIN_ERR_OK);
    p = ms_get_part(&f, DAVE);
    assert_int_equal(p->debt, 224000);
    gl__mkt_participant__free_unpacked(p, NULL);
    assert_int_equal(fx_account(&f, f.pk[DAVE]).balance, 0);
    assert_int_equal(mt_order(&f, DAVE, &o, id), MKT_ERR_PARTICIPANT_IN_DEBT);
    /* ... and a second one the rest; orders are taken again. */
    assert_int_equal(mt_mint(&f, DAVE, 300000, "bank-2"), CHAIN_ERR_OK);
    p = ms_get_part(&f, DAVE);
    assert_int_equal(p->debt, 0);
    gl__mkt_participant__free_unpacked(p, NULL);
    assert_int_equal(fx_account(&f, f.pk[DAVE]).balance, 76000);
    assert_int_equal(mt_pool(&f, MKT_POOL_DEBT_RECOVERY), 324000);
    Gl__MktBill *bill = ms_get_bill(&f, MT_DAY2, DAVE);
    assert_int_equal(bill->debt_added, 324000);
    assert_int_equal(bill->debt_repaid, 324000);
    gl__mkt_bill__free_unpacked(bill, NULL);
    assert_int_equal(mt_order(&f, DAVE, &o, id), CHAIN_ERR_OK);
    fx_close(&f);
}

static void test_a_grid_that_cannot_pay_leaves_long_credit_unfunded(void **state)
{
    (void)state;
    struct fx f;
    mt_open(&f);
    ms_params(&f, 3);
    assert_int_equal(ms_register_metered(&f, FX_CAROL, true, 0), CHAIN_ERR_OK);
    assert_int_equal(mt_tariff(&f, FX_SHADOW, MKT_ELECTRICITY, S4, RETAIL, FEEDIN), CHAIN_ERR_OK);
    assert_int_equal(mt_mint(&f, FX_SHADOW, 50000, "grid-float"), CHAIN_ERR_OK);
    mt_at(&f, S4 + MKT_SLOT_MS_DEFAULT);
    assert_int_equal(ms_reading(&f, FX_CAROL, S4, 0, 1000), CHAIN_ERR_OK);
    mt_at(&f, MS_DUE(S4));
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    /* Long 1000 Wh at 90,000 = 90,000 owed by a grid holding 50,000. */
    Gl__MktSettlement *s = ms_get_settlement(&f, S4, FX_CAROL);
    assert_int_equal(s->imbalance_credit, 50000);
    gl__mkt_settlement__free_unpacked(s, NULL);
    Gl__MktSlotSettlement *r = ms_get_slot(&f, S4);
    assert_int_equal(r->grid_paid, 50000);
    assert_int_equal(r->grid_unfunded, 40000);
    /* No renewable seller: mu = 0 / 1000 bounded below at 0.5, and nothing to adjust. */
    assert_int_equal(r->mu_ppm, 500000);
    gl__mkt_slot_settlement__free_unpacked(r, NULL);
    assert_int_equal(fx_account(&f, f.pk[FX_SHADOW]).balance, 0);
    assert_int_equal(fx_account(&f, f.pk[FX_CAROL]).balance, FX_START_BALANCE + 50000);
    fx_close(&f);
}

/* Bills, settlement records and readings are provable like results: a proof
 * from the committed tree holds under the header's root, and fails for a
 * changed value. */
static void test_bills_settlements_and_readings_are_provable(void **state)
{
    (void)state;
    struct fx f;
    setup_trade(&f, 0);
    mt_at(&f, S4 + MKT_SLOT_MS_DEFAULT);
    assert_int_equal(ms_reading(&f, FX_ALICE, S4, 2500, 0), CHAIN_ERR_OK);
    mt_at(&f, MS_DUE(S4));
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    uint8_t keys[4][MKT_KEY_BILL_BYTES + 8];
    size_t klens[4] = {MKT_KEY_BILL_BYTES, MKT_KEY_SETTLEMENT_BYTES, MKT_KEY_SLOT_SETTLEMENT_BYTES,
                       MKT_KEY_READING_BYTES};
    mkt_key_bill(keys[0], MT_DAY2, f.pk[FX_ALICE]);
    mkt_key_settlement(keys[1], S4, f.pk[FX_BOB]);
    mkt_key_slot_settlement(keys[2], S4);
    mkt_key_reading(keys[3], f.pk[MS_METER(FX_ALICE)], S4 / MKT_SLOT_MS_DEFAULT);
    for (int i = 0; i < 4; i++) {
        MDB_txn *txn;
        uint8_t kh[CHAIN_HASH_BYTES];
        const uint8_t *v;
        size_t vl;
        struct chain_proof *proof = malloc(sizeof *proof);
        assert_int_equal(mdb_txn_begin(f.c.store.env, NULL, MDB_RDONLY, &txn), 0);
        chain_state_key_hash(kh, keys[i], klens[i]);
        assert_int_equal(chain_smt_prove(txn, &f.c.store.smt, f.c.head.height, kh, proof, &v, &vl),
                         CHAIN_ERR_OK);
        assert_non_null(v);
        uint8_t *val = malloc(vl);
        memcpy(val, v, vl);
        mdb_txn_abort(txn);
        assert_int_equal(
            chain_proof_verify_kv(f.c.head.state_root, keys[i], klens[i], val, vl, proof),
            CHAIN_ERR_OK);
        val[vl - 1] ^= 1;
        assert_int_equal(
            chain_proof_verify_kv(f.c.head.state_root, keys[i], klens[i], val, vl, proof),
            CHAIN_ERR_PROOF_INVALID);
        free(val);
        free(proof);
    }
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_deviations_pay_retail_plus_markup_and_margins_are_released),
        cmocka_unit_test(test_subsidy_above_one_is_paid_from_the_pool_and_bounded_by_it),
        cmocka_unit_test(test_subsidy_below_one_takes_from_renewable_income_into_the_pool),
        cmocka_unit_test(test_missing_readings_are_penalised_struck_and_suspend_at_the_limit),
        cmocka_unit_test(
            test_a_shortfall_takes_the_deposit_then_becomes_debt_that_blocks_orders_until_repaid),
        cmocka_unit_test(test_a_grid_that_cannot_pay_leaves_long_credit_unfunded),
        cmocka_unit_test(test_bills_settlements_and_readings_are_provable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
