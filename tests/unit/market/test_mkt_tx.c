/* test_mkt_tx.c -- the market's transaction types on a real chain: participant
 * registration with deposits, parameters, tariffs, orders with fund locking,
 * every named refusal, clearing at the gate and by the operator, money
 * settled against locks with remainders in named pools, intraday on the
 * day-ahead residual, results provable with state proofs, and two ledgers
 * reaching the same root.  fx_block checks the supply invariant after every
 * block. */
#include "mtx_fixture.h"

static void setup_three(struct fx *f)
{
    mt_open(f);
    assert_int_equal(mt_register(f, FX_ALICE, 0, false, 0), CHAIN_ERR_OK);
    assert_int_equal(mt_register(f, FX_BOB, 1, true, 0), CHAIN_ERR_OK);
    assert_int_equal(mt_register(f, FX_CAROL, 2, false, 0), CHAIN_ERR_OK);
}

static void test_register_locks_the_deposit_and_grants_the_participant_role(void **state)
{
    (void)state;
    struct fx f;
    mt_open(&f);
    assert_int_equal(mt_register(&f, FX_ALICE, 3, true, 100000), CHAIN_ERR_OK);
    struct chain_account a = fx_account(&f, f.pk[FX_ALICE]);
    assert_int_equal(a.balance, FX_START_BALANCE - 100000);
    assert_int_equal(a.locked, 100000);
    assert_true(a.roles & CHAIN_ROLE_PARTICIPANT);
    uint8_t k[MKT_KEY_PARTICIPANT_BYTES];
    mkt_key_participant(k, f.pk[FX_ALICE]);
    Gl__MktParticipant *p =
        (Gl__MktParticipant *)mt_get(&f, k, sizeof k, &gl__mkt_participant__descriptor);
    assert_non_null(p);
    assert_int_equal(p->bus, 3);
    assert_true(p->renewable);
    assert_int_equal(p->deposit, 100000);
    assert_int_equal(p->index, 0);
    gl__mkt_participant__free_unpacked(p, NULL);
    /* The ledger's own participant record is written too (zone = bus). */
    uint8_t lk[2 + CHAIN_PK_BYTES] = {'p', '/'};
    memcpy(lk + 2, f.pk[FX_ALICE], CHAIN_PK_BYTES);
    Gl__Participant *lp =
        (Gl__Participant *)mt_get(&f, lk, sizeof lk, &gl__participant__descriptor);
    assert_non_null(lp);
    assert_int_equal(lp->zone, 3);
    gl__participant__free_unpacked(lp, NULL);

    assert_int_equal(mt_register(&f, FX_ALICE, 0, false, 0), MKT_ERR_ALREADY_REGISTERED);
    assert_int_equal(mt_register(&f, FX_BOB, 0, false, (uint64_t)FX_START_BALANCE + 1),
                     MKT_ERR_INSUFFICIENT_FUNDS);
    assert_int_equal(fx_account(&f, f.pk[FX_BOB]).locked, 0); /* rolled back */
    assert_int_equal(mt_register(&f, 9, 0, false, 0), MKT_ERR_UNKNOWN_ACCOUNT);
    uint8_t *pl;
    size_t n;
    assert_int_equal(mkt_payload_register(f.pk[FX_BOB], 1, 0, false, NULL, 0, "b", 0, &pl, &n),
                     CHAIN_ERR_OK);
    assert_int_equal(fx_submit(&f, FX_CAROL, GL__MKT_TX_TYPE__MKT_TX_REGISTER, pl, n),
                     MKT_ERR_NOT_OPERATOR);
    /* A meter key bound to someone else is refused. */
    const uint8_t(*meter)[CHAIN_PK_BYTES] = &f.pk[10];
    assert_int_equal(mkt_payload_register(f.pk[FX_BOB], 1, 0, false, meter, 1, "b", 0, &pl, &n),
                     CHAIN_ERR_OK);
    assert_int_equal(fx_submit(&f, FX_OPERATOR, GL__MKT_TX_TYPE__MKT_TX_REGISTER, pl, n),
                     CHAIN_ERR_OK);
    assert_int_equal(mkt_payload_register(f.pk[FX_CAROL], 1, 0, false, meter, 1, "c", 0, &pl, &n),
                     CHAIN_ERR_OK);
    assert_int_equal(fx_submit(&f, FX_OPERATOR, GL__MKT_TX_TYPE__MKT_TX_REGISTER, pl, n),
                     MKT_ERR_METER_BOUND);
    fx_close(&f);
}

static void test_placing_a_buy_locks_quantity_times_limit_rounded_up(void **state)
{
    (void)state;
    struct fx f;
    uint8_t id[CHAIN_HASH_BYTES];
    setup_three(&f);
    struct mkt_tx_order o = mt_simple(MKT_TX_BUY, MT_SLOT(4), 1500, 250001);
    assert_int_equal(mt_order(&f, FX_ALICE, &o, id), CHAIN_ERR_OK);
    /* 1500 Wh * 250001 micro/kWh = 375001.5 micro: the lock rounds up. */
    struct chain_account a = fx_account(&f, f.pk[FX_ALICE]);
    assert_int_equal(a.locked, 375002);
    assert_int_equal(a.balance, FX_START_BALANCE - 375002);
    Gl__MktOrder *ord = mt_get_order(&f, id);
    assert_non_null(ord);
    assert_int_equal(ord->status, MKT_ORDER_OPEN);
    assert_int_equal(ord->locked, 375002);
    assert_int_equal(ord->open_wh, 1500);
    gl__mkt_order__free_unpacked(ord, NULL);
    /* Cancel gives it all back; a second cancel is refused. */
    assert_int_equal(mt_cancel(&f, FX_BOB, id), MKT_ERR_WRONG_SIGNER);
    assert_int_equal(mt_cancel(&f, FX_ALICE, id), CHAIN_ERR_OK);
    a = fx_account(&f, f.pk[FX_ALICE]);
    assert_int_equal(a.locked, 0);
    assert_int_equal(a.balance, FX_START_BALANCE);
    assert_int_equal(mt_cancel(&f, FX_ALICE, id), MKT_ERR_ORDER_NOT_OPEN);
    uint8_t nobody[CHAIN_HASH_BYTES] = {1};
    assert_int_equal(mt_cancel(&f, FX_ALICE, nobody), MKT_ERR_UNKNOWN_ORDER);
    fx_close(&f);
}

static void test_placing_a_sell_locks_the_non_delivery_margin(void **state)
{
    (void)state;
    struct fx f;
    uint8_t id[CHAIN_HASH_BYTES];
    setup_three(&f);
    struct mkt_tx_params prm;
    mkt_params_default(&prm);
    prm.seller_margin_micro_per_kwh = 20001;
    assert_int_equal(mt_params(&f, FX_OPERATOR, &prm), CHAIN_ERR_OK);
    struct mkt_tx_order o = mt_simple(MKT_TX_SELL, MT_SLOT(4), 3000, 90000);
    assert_int_equal(mt_order(&f, FX_BOB, &o, id), CHAIN_ERR_OK);
    assert_int_equal(fx_account(&f, f.pk[FX_BOB]).locked, 60003); /* ceil(3000 * 20001 / 1000) */
    fx_close(&f);
}

static void test_every_refusal_has_its_name(void **state)
{
    (void)state;
    struct fx f;
    uint8_t id[CHAIN_HASH_BYTES];
    setup_three(&f);
    struct mkt_tx_params prm;
    mkt_params_default(&prm);
    prm.price_min = 1000;
    prm.price_max = 500000;
    assert_int_equal(mt_params(&f, FX_ALICE, &prm), MKT_ERR_NOT_OPERATOR);
    assert_int_equal(mt_params(&f, FX_OPERATOR, &prm), CHAIN_ERR_OK);
    struct mkt_tx_order o = mt_simple(MKT_TX_BUY, MT_SLOT(4), 1000, 500001);
    assert_int_equal(mt_order(&f, FX_ALICE, &o, id), MKT_ERR_PRICE_OUT_OF_BAND);
    o.price_micro_per_kwh = 999;
    assert_int_equal(mt_order(&f, FX_ALICE, &o, id), MKT_ERR_PRICE_OUT_OF_BAND);
    o.price_micro_per_kwh = 500000;
    o.qty_wh = MKT_MAX_QTY_WH; /* 500000 * 10^9 / 1000 = 5 * 10^11 micro > 10^9 balance */
    assert_int_equal(mt_order(&f, FX_ALICE, &o, id), MKT_ERR_INSUFFICIENT_FUNDS);
    o.qty_wh = 1000;
    assert_int_equal(mt_order(&f, FX_VALIDATOR, &o, id), MKT_ERR_UNKNOWN_PARTICIPANT);
    o.slot_start_ms = MT_SLOT(4) + 1;
    assert_int_equal(mt_order(&f, FX_ALICE, &o, id), MKT_ERR_SLOT_MISALIGNED);
    o.slot_start_ms = MT_DAY2 + 8 * MKT_DAY_MS;
    assert_int_equal(mt_order(&f, FX_ALICE, &o, id), MKT_ERR_SLOT_BEYOND_HORIZON);
    o.slot_start_ms = MT_SLOT(4);
    o.valid_until_ms = f.c.head.time_ms;
    assert_int_equal(mt_order(&f, FX_ALICE, &o, id), MKT_ERR_BAD_VALIDITY);
    o.valid_until_ms = 0;
    const uint8_t(*stranger)[CHAIN_PK_BYTES] = &f.pk[11];
    o.allowed = stranger;
    o.nallowed = 1;
    assert_int_equal(mt_order(&f, FX_ALICE, &o, id), MKT_ERR_UNKNOWN_COUNTERPARTY);
    o.allowed = NULL;
    o.nallowed = 0;

    /* Suspension and debt block new orders. */
    uint8_t *pl;
    size_t n;
    assert_int_equal(mkt_payload_set_status(f.pk[FX_ALICE], true, &pl, &n), CHAIN_ERR_OK);
    assert_int_equal(fx_submit(&f, FX_OPERATOR, GL__MKT_TX_TYPE__MKT_TX_SET_STATUS, pl, n),
                     CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_ALICE, &o, id), MKT_ERR_PARTICIPANT_SUSPENDED);
    assert_int_equal(mkt_payload_set_status(f.pk[FX_ALICE], false, &pl, &n), CHAIN_ERR_OK);
    assert_int_equal(fx_submit(&f, FX_OPERATOR, GL__MKT_TX_TYPE__MKT_TX_SET_STATUS, pl, n),
                     CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_ALICE, &o, id), CHAIN_ERR_OK);
    uint8_t *debt = malloc(CHAIN_PK_BYTES + 8);
    memcpy(debt, f.pk[FX_BOB], CHAIN_PK_BYTES);
    memset(debt + CHAIN_PK_BYTES, 0, 8);
    debt[CHAIN_PK_BYTES + 7] = 5;
    assert_int_equal(fx_submit(&f, FX_OPERATOR, MT_TX_SET_DEBT, debt, CHAIN_PK_BYTES + 8),
                     CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_BOB, &o, id), MKT_ERR_PARTICIPANT_IN_DEBT);

    /* Tariffs are the shadow centre's; clearing is the operator's. */
    assert_int_equal(mt_tariff(&f, FX_OPERATOR, MKT_ELECTRICITY, MT_SLOT(4), 300000, 50000),
                     MKT_ERR_NOT_SHADOW_CENTRE);
    assert_int_equal(mt_clear(&f, FX_ALICE, MKT_ELECTRICITY, MKT_DAY_AHEAD, MT_SLOT(4)),
                     MKT_ERR_NOT_OPERATOR);
    assert_int_equal(mt_clear(&f, FX_OPERATOR, MKT_ELECTRICITY, MKT_INTRADAY, MT_SLOT(4)),
                     MKT_ERR_DAY_AHEAD_NOT_CLEARED);
    assert_int_equal(mt_clear(&f, FX_OPERATOR, MKT_ELECTRICITY, MKT_DAY_AHEAD, MT_SLOT(4)),
                     CHAIN_ERR_OK);
    assert_int_equal(mt_clear(&f, FX_OPERATOR, MKT_ELECTRICITY, MKT_DAY_AHEAD, MT_SLOT(4)),
                     MKT_ERR_BOOK_CLEARED);
    assert_int_equal(mt_order(&f, FX_CAROL, &o, id), MKT_ERR_BOOK_CLEARED);

    /* Past the gate of a book nothing more enters it. */
    mt_at(&f, MT_DA_GATE);
    o.slot_start_ms = MT_SLOT(5);
    assert_int_equal(mt_order(&f, FX_CAROL, &o, id), MKT_ERR_GATE_CLOSED);
    o.market = MKT_INTRADAY;
    assert_int_equal(mt_order(&f, FX_CAROL, &o, id), CHAIN_ERR_OK);
    fx_close(&f);
}

/* The worked example of README "Transactions, state and money". */
static void test_uniform_clearing_at_the_gate_settles_locks_and_pays_the_grid(void **state)
{
    (void)state;
    struct fx f;
    uint8_t a_id[CHAIN_HASH_BYTES], b_id[CHAIN_HASH_BYTES];
    setup_three(&f);
    uint64_t slot = MT_SLOT(40);
    assert_int_equal(mt_tariff(&f, FX_SHADOW, MKT_ELECTRICITY, slot, 250000, 50000), CHAIN_ERR_OK);
    struct mkt_tx_order buy = mt_simple(MKT_TX_BUY, slot, 10000, 300000);
    struct mkt_tx_order sell = mt_simple(MKT_TX_SELL, slot, 6000, 100000);
    size_t l1, l2;
    uint8_t *txs[2] = {mt_order_tx(&f, FX_ALICE, &buy, a_id, &l1),
                       mt_order_tx(&f, FX_BOB, &sell, b_id, &l2)};
    size_t lens[2] = {l1, l2};
    assert_int_equal(fx_block(&f, txs, lens, 2, NULL), CHAIN_ERR_OK);
    free(txs[0]);
    free(txs[1]);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).locked, 3000000);
    assert_null(mt_get_result(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot));

    /* One ms before the gate: nothing happens.  At the gate: cleared. */
    mt_at(&f, MT_DA_GATE - 1);
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    assert_null(mt_get_result(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot));
    mt_at(&f, MT_DA_GATE);
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    Gl__MktResult *r = mt_get_result(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot);
    assert_non_null(r);
    /* The grid sells the 4000 Wh bob cannot: the price is the retail price. */
    assert_int_equal(r->price, 250000);
    assert_int_equal(r->volume_wh, 10000);
    assert_int_equal(r->grid_sell_wh, 4000);
    assert_int_equal(r->grid_buy_wh, 0);
    assert_string_equal(r->welfare_nano,
                        "1400000000"); /* 10000*300000 - 6000*100000 - 4000*250000 */
    assert_false(r->by_operator);
    assert_int_equal(r->height, f.c.head.height);
    gl__mkt_result__free_unpacked(r, NULL);

    struct chain_account a = fx_account(&f, f.pk[FX_ALICE]), b = fx_account(&f, f.pk[FX_BOB]),
                         s = fx_account(&f, f.pk[FX_SHADOW]);
    assert_int_equal(a.locked, 0);
    assert_int_equal(a.balance, FX_START_BALANCE - 2500000);
    assert_int_equal(b.balance, FX_START_BALANCE + 1500000);
    assert_int_equal(s.balance, 1000000);
    Gl__MktFill *fa = mt_get_fill(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot, a_id);
    assert_non_null(fa);
    assert_int_equal(fa->fill_wh, 10000);
    assert_int_equal(fa->paid, 2500000);
    gl__mkt_fill__free_unpacked(fa, NULL);
    Gl__MktOrder *o = mt_get_order(&f, b_id);
    assert_int_equal(o->status, MKT_ORDER_CLOSED);
    assert_int_equal(o->filled_wh, 6000);
    assert_int_equal(o->received, 1500000);
    gl__mkt_order__free_unpacked(o, NULL);
    /* The book is gone from the gate queue: the next block clears nothing again. */
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    fx_close(&f);
}

static void test_auction_rounding_remainder_goes_to_the_clearing_rounding_pool(void **state)
{
    (void)state;
    struct fx f;
    uint8_t a_id[CHAIN_HASH_BYTES], b_id[CHAIN_HASH_BYTES];
    setup_three(&f);
    uint64_t slot = MT_SLOT(8);
    struct mkt_tx_order buy = mt_simple(MKT_TX_BUY, slot, 1001, 400000);
    struct mkt_tx_order sell = mt_simple(MKT_TX_SELL, slot, 1001, 333333);
    assert_int_equal(mt_order(&f, FX_ALICE, &buy, a_id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_BOB, &sell, b_id), CHAIN_ERR_OK);
    assert_int_equal(mt_clear(&f, FX_OPERATOR, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot), CHAIN_ERR_OK);
    Gl__MktResult *r = mt_get_result(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot);
    assert_non_null(r);
    assert_int_equal(r->price, 366666); /* floor((333333 + 400000) / 2) */
    assert_true(r->by_operator);
    assert_int_equal(r->rounding, 1);
    gl__mkt_result__free_unpacked(r, NULL);
    /* 366666 * 1001 = 367032666 nano: the buyer pays 367033, the seller gets 367032. */
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, FX_START_BALANCE - 367033);
    assert_int_equal(fx_account(&f, f.pk[FX_BOB]).balance, FX_START_BALANCE + 367032);
    assert_int_equal(mt_pool(&f, MKT_POOL_CLEARING_ROUNDING), 1);
    /* Cleared early by the operator, the book left the gate queue. */
    mt_at(&f, MT_DA_GATE + 5);
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    assert_int_equal(mt_pool(&f, MKT_POOL_CLEARING_ROUNDING), 1);
    fx_close(&f);
}

static void test_p2p_clearing_pays_the_pair_price_and_the_fee_to_the_pool(void **state)
{
    (void)state;
    struct fx f;
    uint8_t a_id[CHAIN_HASH_BYTES], b_id[CHAIN_HASH_BYTES];
    setup_three(&f);
    struct mkt_tx_params prm;
    mkt_params_default(&prm);
    prm.mechanism = MKT_MECH_P2P;
    prm.fee_model = MKT_TX_FEE_ZONAL;
    prm.nbus = 3;
    uint32_t matrix[9] = {0, 1, 2, 1, 0, 1, 2, 1, 0};
    prm.fee_matrix = matrix;
    prm.fee_rate_micro_per_kwh = 1001;
    assert_int_equal(mt_params(&f, FX_OPERATOR, &prm), CHAIN_ERR_OK);
    uint64_t slot = MT_SLOT(12);
    struct mkt_tx_order buy = mt_simple(MKT_TX_BUY, slot, 2001, 300000);   /* alice, bus 0 */
    struct mkt_tx_order sell = mt_simple(MKT_TX_SELL, slot, 2001, 100000); /* bob, bus 1 */
    assert_int_equal(mt_order(&f, FX_ALICE, &buy, a_id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_BOB, &sell, b_id), CHAIN_ERR_OK);
    mt_at(&f, MT_DA_GATE + 1);
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    Gl__MktResult *r = mt_get_result(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot);
    assert_non_null(r);
    assert_int_equal(r->mechanism, MKT_MECH_P2P);
    assert_int_equal(r->volume_wh, 2001);
    assert_int_equal(r->ntrades, 1);
    /* Pair price 200000, fee 1001 (one zone): buyer (200000 + 501) * 2001 / 1000
     * = 401202.501 -> 401203; seller (200000 - 500) * 2001 / 1000 = 399199.5 ->
     * 399199; fee 1001 * 2001 / 1000 = 2003.001 -> 2003; rounding 1. */
    assert_int_equal(r->fees, 2003);
    assert_int_equal(r->rounding, 1);
    gl__mkt_result__free_unpacked(r, NULL);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, FX_START_BALANCE - 401203);
    assert_int_equal(fx_account(&f, f.pk[FX_BOB]).balance, FX_START_BALANCE + 399199);
    assert_int_equal(mt_pool(&f, MKT_POOL_GRID_FEES), 2003);
    assert_int_equal(mt_pool(&f, MKT_POOL_FEE_ROUNDING), 1);
    uint8_t xk[MKT_KEY_TRADE_BYTES];
    mkt_key_trade(xk, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot, 0);
    Gl__MktTrade *t = (Gl__MktTrade *)mt_get(&f, xk, sizeof xk, &gl__mkt_trade__descriptor);
    assert_non_null(t);
    assert_memory_equal(t->buy.data, a_id, CHAIN_HASH_BYTES);
    assert_memory_equal(t->sell.data, b_id, CHAIN_HASH_BYTES);
    assert_int_equal(t->qty_wh, 2001);
    assert_int_equal(t->price, 200000);
    assert_int_equal(t->fee, 1001);
    gl__mkt_trade__free_unpacked(t, NULL);
    fx_close(&f);
}

static void test_p2p_excluded_counterparty_never_trades(void **state)
{
    (void)state;
    struct fx f;
    uint8_t a_id[CHAIN_HASH_BYTES], b_id[CHAIN_HASH_BYTES], c_id[CHAIN_HASH_BYTES];
    setup_three(&f);
    struct mkt_tx_params prm;
    mkt_params_default(&prm);
    prm.mechanism = MKT_MECH_P2P;
    assert_int_equal(mt_params(&f, FX_OPERATOR, &prm), CHAIN_ERR_OK);
    uint64_t slot = MT_SLOT(12);
    struct mkt_tx_order buy = mt_simple(MKT_TX_BUY, slot, 1000, 300000);
    buy.excluded = (const uint8_t(*)[CHAIN_PK_BYTES])f.pk[FX_BOB];
    buy.nexcluded = 1;
    struct mkt_tx_order cheap = mt_simple(MKT_TX_SELL, slot, 1000, 10000); /* bob: excluded */
    struct mkt_tx_order dear = mt_simple(MKT_TX_SELL, slot, 1000, 200000); /* carol */
    assert_int_equal(mt_order(&f, FX_ALICE, &buy, a_id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_BOB, &cheap, b_id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_CAROL, &dear, c_id), CHAIN_ERR_OK);
    assert_int_equal(mt_clear(&f, FX_OPERATOR, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot), CHAIN_ERR_OK);
    Gl__MktFill *fb = mt_get_fill(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot, b_id);
    Gl__MktFill *fc = mt_get_fill(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot, c_id);
    assert_int_equal(fb->fill_wh, 0);
    assert_int_equal(fc->fill_wh, 1000);
    gl__mkt_fill__free_unpacked(fb, NULL);
    gl__mkt_fill__free_unpacked(fc, NULL);
    fx_close(&f);
}

static void test_day_ahead_residual_trades_again_intraday(void **state)
{
    (void)state;
    struct fx f;
    uint8_t a_id[CHAIN_HASH_BYTES], b_id[CHAIN_HASH_BYTES], c_id[CHAIN_HASH_BYTES];
    setup_three(&f);
    uint64_t slot = MT_SLOT(20);
    struct mkt_tx_order buy = mt_simple(MKT_TX_BUY, slot, 5000, 200001);
    struct mkt_tx_order sell = mt_simple(MKT_TX_SELL, slot, 2000, 100000);
    assert_int_equal(mt_order(&f, FX_ALICE, &buy, a_id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_BOB, &sell, b_id), CHAIN_ERR_OK);
    mt_at(&f, MT_DA_GATE);
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    /* Day-ahead: 2000 Wh; alice's half-filled bid sets the price (lo = hi =
     * 200001, README "excess demand at the margin"), she pays 400002; her
     * remaining 3000 Wh moved to the intraday book, still locked at her limit. */
    Gl__MktOrder *o = mt_get_order(&f, a_id);
    assert_int_equal(o->status, MKT_ORDER_OPEN);
    assert_int_equal(o->market, MKT_INTRADAY);
    assert_int_equal(o->open_wh, 3000);
    assert_int_equal(o->filled_wh, 2000);
    assert_int_equal(o->paid, 400002);
    assert_int_equal(o->locked, 600003); /* ceil(3000 * 200001 / 1000) */
    gl__mkt_order__free_unpacked(o, NULL);
    struct chain_account a = fx_account(&f, f.pk[FX_ALICE]);
    assert_int_equal(a.locked, 600003);
    assert_int_equal(a.balance, FX_START_BALANCE - 400002 - 600003);

    struct mkt_tx_order late = mt_simple(MKT_TX_SELL, slot, 4000, 180000);
    late.market = MKT_INTRADAY;
    assert_int_equal(mt_order(&f, FX_CAROL, &late, c_id), CHAIN_ERR_OK);
    mt_at(&f, MT_ID_GATE(slot));
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    Gl__MktResult *r = mt_get_result(&f, MKT_ELECTRICITY, MKT_INTRADAY, slot);
    assert_non_null(r);
    assert_int_equal(r->volume_wh, 3000);
    assert_int_equal(r->price, 180000); /* lo = hi = 180000: carol's offer is not used up */
    gl__mkt_result__free_unpacked(r, NULL);
    o = mt_get_order(&f, a_id);
    assert_int_equal(o->status, MKT_ORDER_CLOSED);
    assert_int_equal(o->filled_wh, 5000);
    assert_int_equal(o->paid, 400002 + 540000);
    gl__mkt_order__free_unpacked(o, NULL);
    a = fx_account(&f, f.pk[FX_ALICE]);
    assert_int_equal(a.locked, 0);
    assert_int_equal(a.balance, FX_START_BALANCE - 940002);
    fx_close(&f);
}

/* Lock 2 Wh at 1 micro/kWh: ceil(0.002) = 1.  Fill 1 Wh at 1: pays ceil(0.001)
 * = 1, leaving 0 locked, but the 1-Wh residual needs ceil(0.001) = 1: the
 * missing micro-unit is locked from the balance, or the residual is closed
 * when there is none. */
static void test_residual_lock_takes_a_rounding_micro_unit_from_the_balance(void **state)
{
    (void)state;
    struct fx f;
    uint8_t a_id[CHAIN_HASH_BYTES], b_id[CHAIN_HASH_BYTES];
    setup_three(&f);
    uint64_t slot = MT_SLOT(20);
    struct mkt_tx_order buy = mt_simple(MKT_TX_BUY, slot, 2, 1);
    struct mkt_tx_order sell = mt_simple(MKT_TX_SELL, slot, 1, 0);
    assert_int_equal(mt_order(&f, FX_ALICE, &buy, a_id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_BOB, &sell, b_id), CHAIN_ERR_OK);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).locked, 1);
    assert_int_equal(mt_clear(&f, FX_OPERATOR, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot), CHAIN_ERR_OK);
    Gl__MktOrder *o = mt_get_order(&f, a_id);
    assert_int_equal(o->status, MKT_ORDER_OPEN);
    assert_int_equal(o->market, MKT_INTRADAY);
    assert_int_equal(o->paid, 1);
    assert_int_equal(o->locked, 1);
    gl__mkt_order__free_unpacked(o, NULL);
    struct chain_account a = fx_account(&f, f.pk[FX_ALICE]);
    assert_int_equal(a.locked, 1);
    assert_int_equal(a.balance, FX_START_BALANCE - 2);
    fx_close(&f);
}

static void test_expired_order_is_released_at_its_clearing_without_a_fill(void **state)
{
    (void)state;
    struct fx f;
    uint8_t a_id[CHAIN_HASH_BYTES], b_id[CHAIN_HASH_BYTES];
    setup_three(&f);
    uint64_t slot = MT_SLOT(30);
    struct mkt_tx_order buy = mt_simple(MKT_TX_BUY, slot, 1000, 300000);
    buy.valid_until_ms = f.c.head.time_ms + 10000;
    struct mkt_tx_order sell = mt_simple(MKT_TX_SELL, slot, 1000, 100000);
    assert_int_equal(mt_order(&f, FX_ALICE, &buy, a_id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_BOB, &sell, b_id), CHAIN_ERR_OK);
    mt_at(&f, MT_DA_GATE);
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    Gl__MktOrder *o = mt_get_order(&f, a_id);
    assert_int_equal(o->status, MKT_ORDER_EXPIRED);
    assert_int_equal(o->locked, 0);
    gl__mkt_order__free_unpacked(o, NULL);
    struct chain_account a = fx_account(&f, f.pk[FX_ALICE]);
    assert_int_equal(a.locked, 0);
    assert_int_equal(a.balance, FX_START_BALANCE);
    Gl__MktResult *r = mt_get_result(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot);
    assert_int_equal(r->volume_wh, 0);
    assert_int_equal(r->norders, 1);
    gl__mkt_result__free_unpacked(r, NULL);
    fx_close(&f);
}

static void test_grid_that_cannot_pay_clears_with_feed_in_zero(void **state)
{
    (void)state;
    struct fx f;
    uint8_t b_id[CHAIN_HASH_BYTES];
    setup_three(&f);
    uint64_t slot = MT_SLOT(50);
    /* The shadow centre holds nothing: the grid's purchase cannot be paid. */
    assert_int_equal(mt_tariff(&f, FX_SHADOW, MKT_ELECTRICITY, slot, 250000, 50000), CHAIN_ERR_OK);
    struct mkt_tx_order sell = mt_simple(MKT_TX_SELL, slot, 4000, 0);
    assert_int_equal(mt_order(&f, FX_BOB, &sell, b_id), CHAIN_ERR_OK);
    assert_int_equal(mt_clear(&f, FX_OPERATOR, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot), CHAIN_ERR_OK);
    Gl__MktResult *r = mt_get_result(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot);
    assert_true(r->grid_buy_unfunded);
    assert_int_equal(r->price, 0);
    gl__mkt_result__free_unpacked(r, NULL);
    assert_int_equal(fx_account(&f, f.pk[FX_BOB]).balance, FX_START_BALANCE);

    /* Funded, the same book clears at the feed-in price. */
    uint64_t slot2 = MT_SLOT(51);
    assert_int_equal(mt_mint(&f, FX_SHADOW, 10000000, "bank-1"), CHAIN_ERR_OK);
    assert_int_equal(mt_tariff(&f, FX_SHADOW, MKT_ELECTRICITY, slot2, 250000, 50000), CHAIN_ERR_OK);
    sell.slot_start_ms = slot2;
    assert_int_equal(mt_order(&f, FX_BOB, &sell, b_id), CHAIN_ERR_OK);
    assert_int_equal(mt_clear(&f, FX_OPERATOR, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot2),
                     CHAIN_ERR_OK);
    r = mt_get_result(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot2);
    assert_false(r->grid_buy_unfunded);
    assert_int_equal(r->price, 50000);
    assert_int_equal(r->grid_buy_wh, 4000);
    gl__mkt_result__free_unpacked(r, NULL);
    assert_int_equal(fx_account(&f, f.pk[FX_BOB]).balance, FX_START_BALANCE + 200000);
    assert_int_equal(fx_account(&f, f.pk[FX_SHADOW]).balance, 10000000 - 200000);
    fx_close(&f);
}

static void test_result_key_is_provable_against_the_block_state_root(void **state)
{
    (void)state;
    struct fx f;
    uint8_t a_id[CHAIN_HASH_BYTES], b_id[CHAIN_HASH_BYTES];
    setup_three(&f);
    uint64_t slot = MT_SLOT(8);
    struct mkt_tx_order buy = mt_simple(MKT_TX_BUY, slot, 1001, 400000);
    struct mkt_tx_order sell = mt_simple(MKT_TX_SELL, slot, 1001, 333333);
    assert_int_equal(mt_order(&f, FX_ALICE, &buy, a_id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_BOB, &sell, b_id), CHAIN_ERR_OK);
    assert_int_equal(mt_clear(&f, FX_OPERATOR, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot), CHAIN_ERR_OK);

    uint8_t keys[2][MKT_KEY_FILL_BYTES];
    size_t klens[2] = {MKT_KEY_RESULT_BYTES, MKT_KEY_FILL_BYTES};
    mkt_key_result(keys[0], MKT_ELECTRICITY, MKT_DAY_AHEAD, slot);
    mkt_key_fill(keys[1], MKT_ELECTRICITY, MKT_DAY_AHEAD, slot, a_id);
    for (int i = 0; i < 2; i++) {
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
        /* The value decodes as what was stored, and the proof holds under the header's root. */
        assert_int_equal(
            chain_proof_verify_kv(f.c.head.state_root, keys[i], klens[i], val, vl, proof),
            CHAIN_ERR_OK);
        val[vl - 1] ^= 1;
        assert_int_equal(
            chain_proof_verify_kv(f.c.head.state_root, keys[i], klens[i], val, vl, proof),
            CHAIN_ERR_PROOF_INVALID);
        val[vl - 1] ^= 1;
        uint8_t other_root[CHAIN_HASH_BYTES];
        memcpy(other_root, f.c.head.state_root, CHAIN_HASH_BYTES);
        other_root[0] ^= 1;
        assert_int_equal(chain_proof_verify_kv(other_root, keys[i], klens[i], val, vl, proof),
                         CHAIN_ERR_PROOF_INVALID);
        free(val);
        free(proof);
    }
    fx_close(&f);
}

/* Two nodes: A proposes blocks, B executes the same bytes (chain_exec_block
 * checks B's state root against A's header); they end at the same root. */
static void test_two_ledgers_executing_the_same_blocks_reach_the_same_root(void **state)
{
    (void)state;
    struct fx a, b;
    memset(&b, 0, sizeof b);
    mt_open(&a);
    fx_keys(&b);
    b.dir = tu_tmpdir("ledger-b");
    fx_open_at(&b, b.dir);
    mt_register_all(&b.c);
    struct tu_rng rng = {42};
    uint64_t slot = MT_SLOT(10);
    for (int blk = 0; blk < 12; blk++) {
        uint8_t *txs[8];
        size_t lens[8], n = 0;
        if (blk == 0) {
            for (int w = FX_ALICE; w <= FX_CAROL; w++) {
                uint8_t *p;
                size_t pl;
                assert_int_equal(mkt_payload_register(a.pk[w], 1, (uint32_t)w % 3, w == FX_BOB,
                                                      NULL, 0, "x", 0, &p, &pl),
                                 CHAIN_ERR_OK);
                txs[n] = fx_tx(&a, FX_OPERATOR, GL__MKT_TX_TYPE__MKT_TX_REGISTER, p, pl, &lens[n]);
                n++;
            }
        } else if (blk < 10) {
            for (int k = 0; k < 6; k++) {
                uint8_t id[CHAIN_HASH_BYTES];
                int who = FX_ALICE + (int)tu_below(&rng, 3);
                struct mkt_tx_order o =
                    mt_simple(tu_below(&rng, 2) ? MKT_TX_BUY : MKT_TX_SELL, slot,
                              1 + tu_below(&rng, 5000), tu_below(&rng, 400000));
                txs[n] = mt_order_tx(&a, who, &o, id, &lens[n]);
                n++;
            }
        } else if (blk == 10) {
            a.time_ms = MT_DA_GATE;
        }
        struct chain_exec_result r, rb;
        a.time_ms += 1000;
        assert_int_equal(chain_build_block(&a.c, a.time_ms, a.pk[FX_VALIDATOR],
                                           (const uint8_t *const *)txs, lens, n, &r),
                         CHAIN_ERR_OK);
        assert_int_equal(chain_exec_block(&b.c, r.block_bytes, r.block_len, &rb), CHAIN_ERR_OK);
        assert_memory_equal(r.state_root, rb.state_root, CHAIN_HASH_BYTES);
        assert_int_equal(chain_commit(&a.c, &r), CHAIN_ERR_OK);
        assert_int_equal(chain_commit(&b.c, &rb), CHAIN_ERR_OK);
        chain_exec_result_free(&r);
        chain_exec_result_free(&rb);
        fx_assert_supply(&a);
        fx_assert_supply(&b);
        for (size_t i = 0; i < n; i++)
            free(txs[i]);
    }
    Gl__MktResult *res = mt_get_result(&b, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot);
    assert_non_null(res); /* the clearing ran in the block past the gate, on both */
    gl__mkt_result__free_unpacked(res, NULL);
    assert_memory_equal(a.c.head.state_root, b.c.head.state_root, CHAIN_HASH_BYTES);
    fx_close(&a);
    fx_close(&b);
}

/* Orders placed, and one cancelled, earlier in the block that carries the
 * operator's clearing: the book is read through the block's own writes. */
static void test_clearing_sees_orders_placed_and_cancelled_in_its_own_block(void **state)
{
    (void)state;
    struct fx f;
    uint8_t a_id[CHAIN_HASH_BYTES], b_id[CHAIN_HASH_BYTES], c_id[CHAIN_HASH_BYTES];
    setup_three(&f);
    uint64_t slot = MT_SLOT(7);
    struct mkt_tx_order buy = mt_simple(MKT_TX_BUY, slot, 1000, 300000);
    struct mkt_tx_order cheap = mt_simple(MKT_TX_SELL, slot, 1000, 10000);
    struct mkt_tx_order dear = mt_simple(MKT_TX_SELL, slot, 1000, 200000);
    uint8_t *txs[5], *p;
    size_t lens[5], pl;
    txs[0] = mt_order_tx(&f, FX_ALICE, &buy, a_id, &lens[0]);
    txs[1] = mt_order_tx(&f, FX_CAROL, &cheap, c_id, &lens[1]);
    txs[2] = mt_order_tx(&f, FX_BOB, &dear, b_id, &lens[2]);
    assert_int_equal(mkt_payload_cancel_order(c_id, &p, &pl), CHAIN_ERR_OK);
    txs[3] = fx_tx(&f, FX_CAROL, GL__MKT_TX_TYPE__MKT_TX_CANCEL_ORDER, p, pl, &lens[3]);
    assert_int_equal(mkt_payload_clear(MKT_ELECTRICITY, MKT_DAY_AHEAD, slot, &p, &pl),
                     CHAIN_ERR_OK);
    txs[4] = fx_tx(&f, FX_OPERATOR, GL__MKT_TX_TYPE__MKT_TX_CLEAR, p, pl, &lens[4]);
    struct chain_exec_result r;
    assert_int_equal(fx_block(&f, txs, lens, 5, &r), CHAIN_ERR_OK);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(r.tx_results[i], CHAIN_ERR_OK);
        free(txs[i]);
    }
    chain_exec_result_free(&r);
    Gl__MktResult *res = mt_get_result(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot);
    assert_non_null(res);
    assert_int_equal(res->norders, 2);
    assert_int_equal(res->volume_wh, 1000);
    assert_int_equal(res->price,
                     250000); /* floor((200000 + 300000) / 2): carol's cheap offer is gone */
    gl__mkt_result__free_unpacked(res, NULL);
    assert_null(mt_get_fill(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot, c_id));
    Gl__MktOrder *o = mt_get_order(&f, c_id);
    assert_int_equal(o->status, MKT_ORDER_CANCELLED);
    gl__mkt_order__free_unpacked(o, NULL);
    fx_close(&f);
}

/* A book of more than MKT_DENSE_MAX_PAIRS (buy, sell) pairs clears in the
 * bus form with partner preferences ignored, and says so. */
static void test_huge_book_with_preferences_clears_without_them(void **state)
{
    (void)state;
    struct fx f;
    uint8_t id[CHAIN_HASH_BYTES];
    setup_three(&f);
    struct mkt_tx_params prm;
    mkt_params_default(&prm);
    prm.mechanism = MKT_MECH_P2P;
    assert_int_equal(mt_params(&f, FX_OPERATOR, &prm), CHAIN_ERR_OK);
    uint64_t slot = MT_SLOT(9);
    enum { NB = 1001, NS = 1000 };
    uint8_t **txs = calloc(NB + NS, sizeof *txs);
    size_t *lens = calloc(NB + NS, sizeof *lens);
    for (int i = 0; i < NB + NS; i++) {
        struct mkt_tx_order o =
            mt_simple(i < NB ? MKT_TX_BUY : MKT_TX_SELL, slot, 1, i < NB ? 200000 : 100000);
        if (i == 0) { /* one buyer will not buy from carol: preferences */
            o.excluded = (const uint8_t(*)[CHAIN_PK_BYTES])f.pk[FX_CAROL];
            o.nexcluded = 1;
        }
        txs[i] = mt_order_tx(&f, i < NB ? FX_ALICE : FX_CAROL, &o, id, &lens[i]);
    }
    assert_int_equal(fx_block(&f, txs, lens, NB + NS, NULL), CHAIN_ERR_OK);
    for (int i = 0; i < NB + NS; i++)
        free(txs[i]);
    free(txs);
    free(lens);
    assert_int_equal(mt_clear(&f, FX_OPERATOR, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot), CHAIN_ERR_OK);
    Gl__MktResult *r = mt_get_result(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot);
    assert_non_null(r);
    assert_true(r->prefs_ignored);
    assert_int_equal(r->norders, NB + NS);
    assert_int_equal(r->volume_wh, NS);
    gl__mkt_result__free_unpacked(r, NULL);
    fx_close(&f);
}

/* Parameters no decoder would pass (written raw): the core refuses the book
 * (a pair fee above MKT_MAX_PRICE); the block still commits, the book closes
 * without trades, its orders' locks come back, and the result names why. */
static void test_book_the_core_refuses_closes_unfilled_and_the_block_commits(void **state)
{
    (void)state;
    struct fx f;
    uint8_t a_id[CHAIN_HASH_BYTES], b_id[CHAIN_HASH_BYTES];
    setup_three(&f);
    struct mkt_tx_params prm;
    mkt_params_default(&prm);
    prm.mechanism = MKT_MECH_P2P;
    prm.fee_model = MKT_TX_FEE_ZONAL;
    prm.nbus = 3;
    uint32_t matrix[9] = {0, 2, 2, 2, 0, 2, 2, 2, 0};
    prm.fee_matrix = matrix;
    prm.fee_rate_micro_per_kwh = (uint64_t)MKT_MAX_PRICE; /* 2 zones: twice the cap */
    uint8_t *p;
    size_t pl;
    void *msg = NULL;
    assert_int_equal(mkt_payload_set_params(&prm, &p, &pl), CHAIN_ERR_OK);
    const struct chain_tx_handler *h =
        chain_registry_get(&f.c.reg, GL__MKT_TX_TYPE__MKT_TX_SET_PARAMS);
    assert_int_equal(h->decode(p, pl, &msg), CHAIN_ERR_DECODE_BAD_VALUE); /* no transaction can */
    assert_null(msg);
    uint64_t height = f.c.head.height;
    assert_int_equal(mt_raw_put(&f, MKT_KEY_PARAMS, sizeof MKT_KEY_PARAMS - 1, p, pl),
                     CHAIN_ERR_OK);
    assert_int_equal(f.c.head.height, height + 1);
    free(p);
    uint64_t slot = MT_SLOT(14);
    struct mkt_tx_order buy = mt_simple(MKT_TX_BUY, slot, 1000, 300000);
    struct mkt_tx_order sell = mt_simple(MKT_TX_SELL, slot, 1000, 100000);
    assert_int_equal(mt_order(&f, FX_ALICE, &buy, a_id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_BOB, &sell, b_id), CHAIN_ERR_OK);
    mt_at(&f, MT_DA_GATE);
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    Gl__MktResult *r = mt_get_result(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot);
    assert_non_null(r);
    assert_int_equal(r->refused, MKT_ERR_BAD_FEES);
    assert_int_equal(r->volume_wh, 0);
    assert_int_equal(r->norders, 2);
    gl__mkt_result__free_unpacked(r, NULL);
    /* Residuals moved to intraday; at its gate the same refusal closes them. */
    mt_at(&f, MT_ID_GATE(slot));
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    Gl__MktOrder *o = mt_get_order(&f, a_id);
    assert_int_equal(o->status, MKT_ORDER_CLOSED);
    assert_int_equal(o->filled_wh, 0);
    gl__mkt_order__free_unpacked(o, NULL);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).locked, 0);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, FX_START_BALANCE);
    fx_close(&f);
}

static void test_heat_and_electricity_are_separate_books(void **state)
{
    (void)state;
    struct fx f;
    uint8_t a_id[CHAIN_HASH_BYTES], b_id[CHAIN_HASH_BYTES];
    setup_three(&f);
    uint64_t slot = MT_SLOT(3);
    struct mkt_tx_order buy = mt_simple(MKT_TX_BUY, slot, 1000, 300000);
    struct mkt_tx_order sell = mt_simple(MKT_TX_SELL, slot, 1000, 100000);
    sell.commodity = MKT_HEAT;
    assert_int_equal(mt_order(&f, FX_ALICE, &buy, a_id), CHAIN_ERR_OK);
    assert_int_equal(mt_order(&f, FX_BOB, &sell, b_id), CHAIN_ERR_OK);
    mt_at(&f, MT_DA_GATE);
    assert_int_equal(mt_empty_block(&f), CHAIN_ERR_OK);
    Gl__MktResult *re = mt_get_result(&f, MKT_ELECTRICITY, MKT_DAY_AHEAD, slot);
    Gl__MktResult *rh = mt_get_result(&f, MKT_HEAT, MKT_DAY_AHEAD, slot);
    assert_non_null(re);
    assert_non_null(rh);
    assert_int_equal(re->volume_wh, 0);
    assert_int_equal(rh->volume_wh, 0);
    gl__mkt_result__free_unpacked(re, NULL);
    gl__mkt_result__free_unpacked(rh, NULL);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_locks_the_deposit_and_grants_the_participant_role),
        cmocka_unit_test(test_placing_a_buy_locks_quantity_times_limit_rounded_up),
        cmocka_unit_test(test_placing_a_sell_locks_the_non_delivery_margin),
        cmocka_unit_test(test_every_refusal_has_its_name),
        cmocka_unit_test(test_uniform_clearing_at_the_gate_settles_locks_and_pays_the_grid),
        cmocka_unit_test(test_auction_rounding_remainder_goes_to_the_clearing_rounding_pool),
        cmocka_unit_test(test_p2p_clearing_pays_the_pair_price_and_the_fee_to_the_pool),
        cmocka_unit_test(test_p2p_excluded_counterparty_never_trades),
        cmocka_unit_test(test_day_ahead_residual_trades_again_intraday),
        cmocka_unit_test(test_residual_lock_takes_a_rounding_micro_unit_from_the_balance),
        cmocka_unit_test(test_expired_order_is_released_at_its_clearing_without_a_fill),
        cmocka_unit_test(test_grid_that_cannot_pay_clears_with_feed_in_zero),
        cmocka_unit_test(test_result_key_is_provable_against_the_block_state_root),
        cmocka_unit_test(test_two_ledgers_executing_the_same_blocks_reach_the_same_root),
        cmocka_unit_test(test_clearing_sees_orders_placed_and_cancelled_in_its_own_block),
        cmocka_unit_test(test_huge_book_with_preferences_clears_without_them),
        cmocka_unit_test(test_book_the_core_refuses_closes_unfilled_and_the_block_commits),
        cmocka_unit_test(test_heat_and_electricity_are_separate_books),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
