/* mst_fixture.h -- helpers for the metering and settlement tests on top of
 * mtx_fixture.h: participants with bound meter keys, signed readings, the
 * subsidy pool, and getters for settlement records, slot records and bills.
 * Meter keys sign their own transactions, so each gets an account (1 micro
 * minted) when it is bound. */
#ifndef GL_MST_FIXTURE_H
#define GL_MST_FIXTURE_H

#include "mtx_fixture.h"

#include "meter.pb-c.h"
#include "mkt_meter.h"
#include "mkt_settle.h"
#include "settle.pb-c.h"

/* The meter key of participant `who`: key index who + 6 (alice 3 -> 9). */
#define MS_METER(who) ((who) + 6)

static inline int ms_register_metered(struct fx *f, int who, bool renewable, uint64_t deposit)
{
    uint8_t *p;
    size_t n;
    char ref[32];
    snprintf(ref, sizeof ref, "meter-%d", who);
    assert_int_equal(mt_mint(f, MS_METER(who), 1, ref), CHAIN_ERR_OK);
    const uint8_t(*meter)[CHAIN_PK_BYTES] = &f->pk[MS_METER(who)];
    assert_int_equal(mkt_payload_register(f->pk[who], GL__PARTICIPANT_KIND__KIND_PROSUMER, 0,
                                          renewable, meter, 1, "m", deposit, &p, &n),
                     CHAIN_ERR_OK);
    return fx_submit(f, FX_OPERATOR, GL__MKT_TX_TYPE__MKT_TX_REGISTER, p, n);
}

/* A reading signed by key `signer` for the slot starting at slot_ms (epoch 0, 15 min). */
static inline uint8_t *ms_reading_tx(struct fx *f, int signer, int meter, uint64_t slot_ms,
                                     uint64_t imp, uint64_t exp, size_t *len)
{
    uint8_t *p;
    size_t n;
    struct mkt_reading r = {.slot = slot_ms / MKT_SLOT_MS_DEFAULT,
                            .import_wh = imp,
                            .export_wh = exp,
                            .cum_import_wh = 100000 + imp,
                            .cum_export_wh = 100000 + exp,
                            .slot_len_s = 900};
    assert_int_equal(mkt_payload_reading(f->pk[meter], &r, &p, &n), CHAIN_ERR_OK);
    return fx_tx(f, signer, GL__METER_TX_TYPE__TX_METER_READING, p, n, len);
}

static inline int ms_reading(struct fx *f, int who, uint64_t slot_ms, uint64_t imp, uint64_t exp)
{
    size_t len;
    uint8_t *tx = ms_reading_tx(f, MS_METER(who), MS_METER(who), slot_ms, imp, exp, &len);
    int rc = fx_block(f, &tx, &len, 1, NULL);
    free(tx);
    return rc;
}

static inline int ms_fund(struct fx *f, int who, uint64_t amount)
{
    uint8_t *p;
    size_t n;
    assert_int_equal(mkt_payload_fund_subsidy(amount, &p, &n), CHAIN_ERR_OK);
    return fx_submit(f, who, GL__MKT_TX_TYPE__MKT_TX_FUND_SUBSIDY, p, n);
}

static inline Gl__MktSettlement *ms_get_settlement(struct fx *f, uint64_t slot, int who)
{
    uint8_t k[MKT_KEY_SETTLEMENT_BYTES];
    mkt_key_settlement(k, slot, f->pk[who]);
    return (Gl__MktSettlement *)mt_get(f, k, sizeof k, &gl__mkt_settlement__descriptor);
}

static inline Gl__MktSlotSettlement *ms_get_slot(struct fx *f, uint64_t slot)
{
    uint8_t k[MKT_KEY_SLOT_SETTLEMENT_BYTES];
    mkt_key_slot_settlement(k, slot);
    return (Gl__MktSlotSettlement *)mt_get(f, k, sizeof k, &gl__mkt_slot_settlement__descriptor);
}

static inline Gl__MktBill *ms_get_bill(struct fx *f, uint64_t day, int who)
{
    uint8_t k[MKT_KEY_BILL_BYTES];
    mkt_key_bill(k, day, f->pk[who]);
    return (Gl__MktBill *)mt_get(f, k, sizeof k, &gl__mkt_bill__descriptor);
}

static inline Gl__MktParticipant *ms_get_part(struct fx *f, int who)
{
    uint8_t k[MKT_KEY_PARTICIPANT_BYTES];
    mkt_key_participant(k, f->pk[who]);
    return (Gl__MktParticipant *)mt_get(f, k, sizeof k, &gl__mkt_participant__descriptor);
}

/* Parameters of the hand-computed tests: default, with a seller margin of
 * 20,000 micro/kWh (imbalance markup 10 %, penalty 100,000, window 1 h). */
static inline void ms_params(struct fx *f, uint32_t strike_limit)
{
    struct mkt_tx_params prm;
    mkt_params_default(&prm);
    prm.seller_margin_micro_per_kwh = 20000;
    prm.strike_limit = strike_limit;
    assert_int_equal(mt_params(f, FX_OPERATOR, &prm), CHAIN_ERR_OK);
}

/* The first block at which slot settles: its end plus the 1 h window. */
#define MS_DUE(slot) ((slot) + MKT_SLOT_MS_DEFAULT + MKT_METERING_WINDOW_MS_DEFAULT)

#endif
