/* test_chain_ledger.c -- the ledger transaction types, executed in real blocks.
 * Every block committed by the fixture is followed by a check of the supply
 * invariant over the whole committed state. */
#include "ledger_fixture.h"

#define TOK CHAIN_MICRO_PER_TOKEN

static int transfer(struct fx *f, int from, const uint8_t *to, uint64_t amount)
{
    uint8_t *p;
    size_t n;
    assert_int_equal(chain_payload_transfer(to, amount, &p, &n), CHAIN_ERR_OK);
    return fx_submit(f, from, GL__TX_TYPE__TX_TRANSFER, p, n);
}

static int mint(struct fx *f, int who, const uint8_t *to, uint64_t amount, const char *ref)
{
    uint8_t *p;
    size_t n;
    assert_int_equal(chain_payload_mint(to, amount, ref, &p, &n), CHAIN_ERR_OK);
    return fx_submit(f, who, GL__TX_TYPE__TX_MINT, p, n);
}

static void test_transfer_moves_money_and_advances_the_nonce(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    assert_int_equal(transfer(&f, FX_ALICE, f.pk[FX_BOB], 250 * TOK), CHAIN_ERR_OK);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, 750 * TOK);
    assert_int_equal(fx_account(&f, f.pk[FX_BOB]).balance, 1250 * TOK);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).nonce, 1);
    assert_int_equal(f.c.head.height, 1);
    fx_close(&f);
}

static void test_transfer_beyond_balance_fails_but_still_spends_the_nonce(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    assert_int_equal(transfer(&f, FX_ALICE, f.pk[FX_BOB], 1001 * TOK), CHAIN_ERR_INSUFFICIENT_FUNDS);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, 1000 * TOK);
    assert_int_equal(fx_account(&f, f.pk[FX_BOB]).balance, 1000 * TOK);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).nonce, 1);
    /* the next nonce works */
    assert_int_equal(transfer(&f, FX_ALICE, f.pk[FX_BOB], 1000 * TOK), CHAIN_ERR_OK);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, 0);
    fx_close(&f);
}

static void test_transfer_to_oneself_is_refused(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    assert_int_equal(transfer(&f, FX_ALICE, f.pk[FX_ALICE], 1), CHAIN_ERR_SELF_TRANSFER);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, 1000 * TOK);
    fx_close(&f);
}

static void test_transfer_to_a_new_key_creates_its_account(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    assert_false(fx_account(&f, f.pk[10]).exists);
    assert_int_equal(transfer(&f, FX_ALICE, f.pk[10], 5), CHAIN_ERR_OK);
    struct chain_account a = fx_account(&f, f.pk[10]);
    assert_true(a.exists);
    assert_int_equal(a.balance, 5);
    assert_int_equal(a.nonce, 0);
    fx_close(&f);
}

static void test_mint_needs_the_shadow_centre_role(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    assert_int_equal(mint(&f, FX_ALICE, f.pk[FX_ALICE], 10 * TOK, "bank-1"), CHAIN_ERR_UNAUTHORIZED);
    assert_int_equal(mint(&f, FX_OPERATOR, f.pk[FX_ALICE], 10 * TOK, "bank-1"), CHAIN_ERR_UNAUTHORIZED);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, 1000 * TOK);
    assert_int_equal(mint(&f, FX_SHADOW, f.pk[FX_ALICE], 10 * TOK, "bank-1"), CHAIN_ERR_OK);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, 1010 * TOK);
    fx_close(&f);
}

static void test_mint_with_a_used_bank_reference_mints_nothing(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    assert_int_equal(mint(&f, FX_SHADOW, f.pk[FX_BOB], 7 * TOK, "ref-42"), CHAIN_ERR_OK);
    assert_int_equal(mint(&f, FX_SHADOW, f.pk[FX_BOB], 7 * TOK, "ref-42"), CHAIN_ERR_DUPLICATE_BANK_REF);
    assert_int_equal(mint(&f, FX_SHADOW, f.pk[FX_CAROL], 1 * TOK, "ref-42"), CHAIN_ERR_DUPLICATE_BANK_REF);
    assert_int_equal(fx_account(&f, f.pk[FX_BOB]).balance, 1007 * TOK);
    assert_int_equal(fx_account(&f, f.pk[FX_CAROL]).balance, 1000 * TOK);
    fx_close(&f);
}

static struct chain_supply_report supply(struct fx *f);

static void test_mint_that_would_overflow_the_supply_is_refused(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    int64_t room = INT64_MAX - supply(&f).minted;
    assert_int_equal(mint(&f, FX_SHADOW, f.pk[12], (uint64_t)room + 1, "big-0"), CHAIN_ERR_OVERFLOW);
    assert_int_equal(mint(&f, FX_SHADOW, f.pk[12], (uint64_t)room, "big-1"), CHAIN_ERR_OK);
    assert_int_equal(supply(&f).minted, INT64_MAX);
    assert_int_equal(mint(&f, FX_SHADOW, f.pk[12], 1, "big-2"), CHAIN_ERR_OVERFLOW);
    assert_int_equal(fx_account(&f, f.pk[12]).balance, room);
    fx_close(&f);
}

static int redeem(struct fx *f, int who, uint64_t amount, uint8_t id[CHAIN_HASH_BYTES])
{
    uint8_t *p, *tx;
    size_t n, len;
    assert_int_equal(chain_payload_redeem(amount, "DE89370400440532013000", &p, &n), CHAIN_ERR_OK);
    tx = fx_tx(f, who, GL__TX_TYPE__TX_REDEEM, p, n, &len);
    chain_hash(id, CHAIN_TAG_TX, tx, len);
    int rc = fx_block(f, &tx, &len, 1, NULL);
    free(tx);
    return rc;
}

static int confirm(struct fx *f, int who, const uint8_t id[CHAIN_HASH_BYTES], bool failed)
{
    uint8_t *p;
    size_t n;
    assert_int_equal(chain_payload_payout_confirm(id, failed ? "" : "SEPA-77", failed, &p, &n), CHAIN_ERR_OK);
    return fx_submit(f, who, GL__TX_TYPE__TX_PAYOUT_CONFIRM, p, n);
}

static struct chain_supply_report supply(struct fx *f)
{
    MDB_txn *txn;
    struct chain_supply_report r;
    assert_int_equal(mdb_txn_begin(f->c.store.env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(chain_supply_check(&f->c.store, txn, &r), CHAIN_ERR_OK);
    mdb_txn_abort(txn);
    return r;
}

static void test_redeem_burns_and_a_confirmed_payout_cannot_be_confirmed_again(void **state)
{
    (void)state;
    struct fx f;
    uint8_t id[CHAIN_HASH_BYTES];
    fx_open(&f);
    int64_t burned0 = supply(&f).burned;
    assert_int_equal(redeem(&f, FX_ALICE, 100 * TOK, id), CHAIN_ERR_OK);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, 900 * TOK);
    assert_int_equal(supply(&f).burned, burned0 + 100 * TOK);
    assert_int_equal(confirm(&f, FX_ALICE, id, false), CHAIN_ERR_UNAUTHORIZED);
    assert_int_equal(confirm(&f, FX_SHADOW, id, false), CHAIN_ERR_OK);
    assert_int_equal(confirm(&f, FX_SHADOW, id, false), CHAIN_ERR_PAYOUT_NOT_PENDING);
    assert_int_equal(confirm(&f, FX_SHADOW, id, true), CHAIN_ERR_PAYOUT_NOT_PENDING);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).balance, 900 * TOK);
    fx_close(&f);
}

static void test_a_failed_payout_refunds_the_account_and_unburns(void **state)
{
    (void)state;
    struct fx f;
    uint8_t id[CHAIN_HASH_BYTES];
    fx_open(&f);
    int64_t burned0 = supply(&f).burned;
    assert_int_equal(redeem(&f, FX_BOB, 40 * TOK, id), CHAIN_ERR_OK);
    assert_int_equal(confirm(&f, FX_SHADOW, id, true), CHAIN_ERR_OK);
    assert_int_equal(fx_account(&f, f.pk[FX_BOB]).balance, 1000 * TOK);
    assert_int_equal(supply(&f).burned, burned0);
    fx_close(&f);
}

static void test_redeem_beyond_balance_creates_no_payout(void **state)
{
    (void)state;
    struct fx f;
    uint8_t id[CHAIN_HASH_BYTES];
    fx_open(&f);
    assert_int_equal(redeem(&f, FX_CAROL, 1001 * TOK, id), CHAIN_ERR_INSUFFICIENT_FUNDS);
    assert_int_equal(confirm(&f, FX_SHADOW, id, false), CHAIN_ERR_UNKNOWN_PAYOUT);
    fx_close(&f);
}

static void test_only_the_operator_sets_roles(void **state)
{
    (void)state;
    struct fx f;
    uint8_t *p;
    size_t n;
    fx_open(&f);
    assert_int_equal(chain_payload_set_roles(f.pk[FX_ALICE], CHAIN_ROLE_SHADOW_CENTRE, &p, &n), CHAIN_ERR_OK);
    assert_int_equal(fx_submit(&f, FX_ALICE, GL__TX_TYPE__TX_SET_ROLES, p, n), CHAIN_ERR_UNAUTHORIZED);
    assert_int_equal(chain_payload_set_roles(f.pk[FX_ALICE], CHAIN_ROLE_SHADOW_CENTRE, &p, &n), CHAIN_ERR_OK);
    assert_int_equal(fx_submit(&f, FX_OPERATOR, GL__TX_TYPE__TX_SET_ROLES, p, n), CHAIN_ERR_OK);
    assert_int_equal(fx_account(&f, f.pk[FX_ALICE]).roles, CHAIN_ROLE_SHADOW_CENTRE);
    /* the new role takes effect */
    assert_int_equal(mint(&f, FX_ALICE, f.pk[FX_BOB], 1, "alice-1"), CHAIN_ERR_OK);
    fx_close(&f);
}

static int reg(struct fx *f, int who, int account, const uint8_t (*meters)[CHAIN_PK_BYTES], size_t nm)
{
    uint8_t *p;
    size_t n;
    assert_int_equal(chain_payload_register_participant(f->pk[account], GL__PARTICIPANT_KIND__KIND_PROSUMER, 2,
                                                        true, meters, nm, "house", &p, &n),
                     CHAIN_ERR_OK);
    return fx_submit(f, who, GL__TX_TYPE__TX_REGISTER_PARTICIPANT, p, n);
}

static void test_participant_registration_binds_meters_once(void **state)
{
    (void)state;
    struct fx f;
    fx_open(&f);
    assert_int_equal(reg(&f, FX_ALICE, FX_ALICE, (const uint8_t(*)[CHAIN_PK_BYTES])f.pk[13], 1),
                     CHAIN_ERR_UNAUTHORIZED);
    assert_int_equal(reg(&f, FX_OPERATOR, FX_ALICE, (const uint8_t(*)[CHAIN_PK_BYTES])f.pk[13], 1), CHAIN_ERR_OK);
    assert_true(fx_account(&f, f.pk[FX_ALICE]).roles & CHAIN_ROLE_PARTICIPANT);
    assert_int_equal(reg(&f, FX_OPERATOR, FX_ALICE, NULL, 0), CHAIN_ERR_ALREADY_REGISTERED);
    /* bob may not take alice's meter; and nothing of his registration stays */
    assert_int_equal(reg(&f, FX_OPERATOR, FX_BOB, (const uint8_t(*)[CHAIN_PK_BYTES])f.pk[13], 1),
                     CHAIN_ERR_METER_BOUND);
    assert_false(fx_account(&f, f.pk[FX_BOB]).roles & CHAIN_ROLE_PARTICIPANT);
    assert_int_equal(reg(&f, FX_OPERATOR, FX_BOB, (const uint8_t(*)[CHAIN_PK_BYTES])f.pk[14], 1), CHAIN_ERR_OK);
    fx_close(&f);
}

int main(void)
{
    assert_int_equal(chain_crypto_init(), 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transfer_moves_money_and_advances_the_nonce),
        cmocka_unit_test(test_transfer_beyond_balance_fails_but_still_spends_the_nonce),
        cmocka_unit_test(test_transfer_to_oneself_is_refused),
        cmocka_unit_test(test_transfer_to_a_new_key_creates_its_account),
        cmocka_unit_test(test_mint_needs_the_shadow_centre_role),
        cmocka_unit_test(test_mint_with_a_used_bank_reference_mints_nothing),
        cmocka_unit_test(test_mint_that_would_overflow_the_supply_is_refused),
        cmocka_unit_test(test_redeem_burns_and_a_confirmed_payout_cannot_be_confirmed_again),
        cmocka_unit_test(test_a_failed_payout_refunds_the_account_and_unburns),
        cmocka_unit_test(test_redeem_beyond_balance_creates_no_payout),
        cmocka_unit_test(test_only_the_operator_sets_roles),
        cmocka_unit_test(test_participant_registration_binds_meters_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
