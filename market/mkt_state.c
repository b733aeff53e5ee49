/* mkt_state.c -- keys and records of the market's state: parameters,
 * participants, orders, locked funds, books and the gate queue. */
#include "mkt_state.h"

#include <assert.h>
#include <string.h>

#include "chain_ledger.h"
#include "mkt_clear.h"

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static void put_book(uint8_t *p, uint32_t commodity, uint32_t market, uint64_t slot)
{
    assert(commodity <= 255 && market <= 255);
    p[0] = (uint8_t)commodity;
    p[1] = (uint8_t)market;
    put_be64(p + 2, slot);
}

void mkt_key_participant(uint8_t key[static MKT_KEY_PARTICIPANT_BYTES],
                         const uint8_t pk[static CHAIN_PK_BYTES])
{
    memcpy(key, "mkt/p/", 6);
    memcpy(key + 6, pk, CHAIN_PK_BYTES);
}

void mkt_key_order(uint8_t key[static MKT_KEY_ORDER_BYTES],
                   const uint8_t id[static CHAIN_HASH_BYTES])
{
    memcpy(key, "mkt/o/", 6);
    memcpy(key + 6, id, CHAIN_HASH_BYTES);
}

void mkt_key_tariff(uint8_t key[static MKT_KEY_TARIFF_BYTES], uint32_t commodity,
                    uint64_t slot_start_ms)
{
    assert(commodity <= 255);
    memcpy(key, "mkt/t/", 6);
    key[6] = (uint8_t)commodity;
    put_be64(key + 7, slot_start_ms);
}

void mkt_key_book(uint8_t key[static MKT_KEY_BOOK_BYTES], uint32_t commodity, uint32_t market,
                  uint64_t slot)
{
    memcpy(key, "mkt/m/", 6);
    put_book(key + 6, commodity, market, slot);
}

void mkt_key_result(uint8_t key[static MKT_KEY_RESULT_BYTES], uint32_t commodity, uint32_t market,
                    uint64_t slot)
{
    memcpy(key, "mkt/r/", 6);
    put_book(key + 6, commodity, market, slot);
}

void mkt_key_fill(uint8_t key[static MKT_KEY_FILL_BYTES], uint32_t commodity, uint32_t market,
                  uint64_t slot, const uint8_t id[static CHAIN_HASH_BYTES])
{
    memcpy(key, "mkt/f/", 6);
    put_book(key + 6, commodity, market, slot);
    memcpy(key + 16, id, CHAIN_HASH_BYTES);
}

void mkt_key_trade(uint8_t key[static MKT_KEY_TRADE_BYTES], uint32_t commodity, uint32_t market,
                   uint64_t slot, uint32_t index)
{
    memcpy(key, "mkt/x/", 6);
    put_book(key + 6, commodity, market, slot);
    for (int i = 0; i < 4; i++)
        key[16 + i] = (uint8_t)(index >> (24 - 8 * i));
}

void mkt_key_bookidx(uint8_t key[static MKT_KEY_BOOKIDX_BYTES], uint32_t commodity, uint32_t market,
                     uint64_t slot, uint64_t arrival)
{
    memcpy(key, "mkt/b/", 6);
    put_book(key + 6, commodity, market, slot);
    put_be64(key + 16, arrival);
}

void mkt_key_queue(uint8_t key[static MKT_KEY_QUEUE_BYTES], uint64_t gate_ms, uint32_t commodity,
                   uint32_t market, uint64_t slot)
{
    memcpy(key, "mkt/q/", 6);
    put_be64(key + 6, gate_ms);
    put_book(key + 14, commodity, market, slot);
}

/* ---- parameters ---- */

void mkt_params_default(struct mkt_tx_params *p)
{
    memset(p, 0, sizeof *p);
    p->slot_ms = MKT_SLOT_MS_DEFAULT;
    p->day_ahead_lead_ms = MKT_DA_LEAD_MS_DEFAULT;
    p->intraday_lead_ms = MKT_ID_LEAD_MS_DEFAULT;
    p->mechanism = MKT_MECH_UNIFORM;
    p->fee_model = MKT_TX_FEE_UNIFORM;
    p->nbus = 1;
    p->price_min = 0;
    p->price_max = (uint64_t)MKT_MAX_PRICE;
    p->metering_window_ms = MKT_METERING_WINDOW_MS_DEFAULT;
    p->meter_epoch_ms = 0;
    p->imbalance_markup_ppm = MKT_IMBALANCE_MARKUP_PPM_DEFAULT;
    p->missing_penalty_micro = MKT_MISSING_PENALTY_DEFAULT;
    p->strike_limit = MKT_STRIKE_LIMIT_DEFAULT;
    p->mu_min_ppm = MKT_MU_MIN_PPM_DEFAULT;
    p->mu_max_ppm = MKT_MU_MAX_PPM_DEFAULT;
}

uint64_t mkt_gate_ms(const struct mkt_tx_params *p, uint32_t market, uint64_t slot_start_ms)
{
    if (market == MKT_DAY_AHEAD) {
        /* D-1 at (24 h - lead): the start of the slot's UTC day minus the lead. */
        uint64_t day = slot_start_ms - slot_start_ms % MKT_DAY_MS;
        return day > p->day_ahead_lead_ms ? day - p->day_ahead_lead_ms : 0;
    }
    return slot_start_ms > p->intraday_lead_ms ? slot_start_ms - p->intraday_lead_ms : 0;
}

int mkt_tariff_load(struct chain_exec_ctx *ctx, uint32_t commodity, uint64_t slot, struct mkt_tariff *t)
{
    uint8_t key[MKT_KEY_TARIFF_BYTES];
    ProtobufCMessage *m;
    memset(t, 0, sizeof *t);
    mkt_key_tariff(key, commodity, slot);
    int rc = chain_state_get_msg(ctx, key, sizeof key, &gl__mkt_tariff_state__descriptor, &m);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return CHAIN_ERR_OK;
    if (rc)
        return rc;
    Gl__MktTariffState *s = (Gl__MktTariffState *)m;
    rc = CHAIN_ERR_OK;
    if (s->grid_account.len != CHAIN_PK_BYTES || s->retail > (uint64_t)MKT_MAX_PRICE ||
        s->feed_in > s->retail) {
        rc = CHAIN_ERR_STORE;
    } else {
        t->present = true;
        t->retail = (int64_t)s->retail;
        t->feed_in = (int64_t)s->feed_in;
        memcpy(t->account, s->grid_account.data, CHAIN_PK_BYTES);
    }
    gl__mkt_tariff_state__free_unpacked(s, NULL);
    return rc;
}

int mkt_params_load(struct chain_exec_ctx *ctx, struct mkt_params *out)
{
    ProtobufCMessage *m;
    memset(out, 0, sizeof *out);
    mkt_params_default(&out->p);
    int rc = chain_state_get_msg(ctx, MKT_KEY_PARAMS, sizeof MKT_KEY_PARAMS - 1,
                                 &gl__mkt_params__descriptor, &m);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return CHAIN_ERR_OK;
    if (rc)
        return rc;
    Gl__MktParams *s = (Gl__MktParams *)m;
    /* Stored parameters passed the decoder's checks; re-check what indexing relies on. */
    if (s->nbus == 0 || s->nbus > MKT_PARAMS_MAX_BUS ||
        (s->n_fee_matrix != 0 && s->n_fee_matrix != (size_t)s->nbus * s->nbus)) {
        gl__mkt_params__free_unpacked(s, NULL);
        return CHAIN_ERR_STORE;
    }
    out->p.slot_ms = s->slot_ms;
    out->p.day_ahead_lead_ms = s->day_ahead_lead_ms;
    out->p.intraday_lead_ms = s->intraday_lead_ms;
    out->p.mechanism = s->mechanism;
    out->p.fee_model = s->fee_model;
    out->p.fee_rate_micro_per_kwh = s->fee_rate;
    out->p.nbus = s->nbus;
    out->p.price_min = s->price_min;
    out->p.price_max = s->price_max;
    out->p.seller_margin_micro_per_kwh = s->seller_margin;
    out->p.grid_bus = s->grid_bus;
    /* Settlement fields: 0 (never encoded) keeps the default. */
    if (s->metering_window_ms)
        out->p.metering_window_ms = s->metering_window_ms;
    out->p.meter_epoch_ms = s->meter_epoch_ms;
    if (s->imbalance_markup_ppm)
        out->p.imbalance_markup_ppm = s->imbalance_markup_ppm;
    if (s->missing_penalty)
        out->p.missing_penalty_micro = s->missing_penalty;
    if (s->strike_limit)
        out->p.strike_limit = s->strike_limit;
    if (s->mu_min_ppm)
        out->p.mu_min_ppm = s->mu_min_ppm;
    if (s->mu_max_ppm)
        out->p.mu_max_ppm = s->mu_max_ppm;
    if (out->p.mu_min_ppm > out->p.mu_max_ppm || out->p.meter_epoch_ms % MKT_SLOT_MS_DEFAULT) {
        gl__mkt_params__free_unpacked(s, NULL);
        return CHAIN_ERR_STORE;
    }
    if (s->n_fee_matrix) {
        memcpy(out->matrix, s->fee_matrix, s->n_fee_matrix * sizeof *out->matrix);
        out->p.fee_matrix = out->matrix;
    }
    gl__mkt_params__free_unpacked(s, NULL);
    return CHAIN_ERR_OK;
}

/* ---- participants and orders ---- */

int mkt_participant_load(struct chain_exec_ctx *ctx, const uint8_t pk[static CHAIN_PK_BYTES],
                         Gl__MktParticipant **out)
{
    uint8_t key[MKT_KEY_PARTICIPANT_BYTES];
    mkt_key_participant(key, pk);
    return chain_state_get_msg(ctx, key, sizeof key, &gl__mkt_participant__descriptor,
                               (ProtobufCMessage **)out);
}

int mkt_participant_store(struct chain_exec_ctx *ctx, const uint8_t pk[static CHAIN_PK_BYTES],
                          const Gl__MktParticipant *p)
{
    uint8_t key[MKT_KEY_PARTICIPANT_BYTES];
    mkt_key_participant(key, pk);
    return chain_state_put_msg(ctx, key, sizeof key, &p->base);
}

int mkt_order_load(struct chain_exec_ctx *ctx, const uint8_t id[static CHAIN_HASH_BYTES],
                   Gl__MktOrder **out)
{
    uint8_t key[MKT_KEY_ORDER_BYTES];
    mkt_key_order(key, id);
    int rc = chain_state_get_msg(ctx, key, sizeof key, &gl__mkt_order__descriptor,
                                 (ProtobufCMessage **)out);
    if (rc == CHAIN_ERR_OK &&
        ((*out)->owner.len != CHAIN_PK_BYTES || (*out)->locked > (uint64_t)INT64_MAX)) {
        gl__mkt_order__free_unpacked(*out, NULL);
        *out = NULL;
        return CHAIN_ERR_STORE;
    }
    return rc;
}

int mkt_order_store(struct chain_exec_ctx *ctx, const uint8_t id[static CHAIN_HASH_BYTES],
                    const Gl__MktOrder *o)
{
    uint8_t key[MKT_KEY_ORDER_BYTES];
    mkt_key_order(key, id);
    return chain_state_put_msg(ctx, key, sizeof key, &o->base);
}

/* ---- locked funds ---- */

int mkt_lock(struct chain_exec_ctx *ctx, const uint8_t pk[static CHAIN_PK_BYTES], int64_t amount)
{
    struct chain_account a;
    assert(amount >= 0);
    int rc = chain_account_load(ctx, pk, &a);
    if (rc)
        return rc;
    if (!a.exists)
        return MKT_ERR_UNKNOWN_ACCOUNT;
    if (a.balance < amount)
        return MKT_ERR_INSUFFICIENT_FUNDS;
    a.balance -= amount;
    if (chain_money_add(&a.locked, amount))
        return CHAIN_ERR_STORE; /* locked <= supply < 2^63 */
    return chain_account_store(ctx, pk, &a);
}

int mkt_account_settle(struct chain_exec_ctx *ctx, const uint8_t pk[static CHAIN_PK_BYTES],
                       int64_t spent, int64_t release, int64_t income)
{
    struct chain_account a;
    assert(spent >= 0 && release >= 0 && income >= 0);
    int rc = chain_account_load(ctx, pk, &a);
    if (rc)
        return rc;
    int64_t out;
    if (!a.exists || __builtin_add_overflow(spent, release, &out) || a.locked < out)
        return CHAIN_ERR_STORE; /* our own locks: a mismatch means broken state */
    a.locked -= out;
    if (chain_money_add(&a.balance, release) || chain_money_add(&a.balance, income))
        return CHAIN_ERR_STORE;
    return chain_account_store(ctx, pk, &a);
}

int mkt_unlock(struct chain_exec_ctx *ctx, const uint8_t pk[static CHAIN_PK_BYTES], int64_t amount)
{
    return mkt_account_settle(ctx, pk, 0, amount, 0);
}

/* ---- books ---- */

int mkt_book_meta_load(struct chain_exec_ctx *ctx, uint32_t commodity, uint32_t market,
                       uint64_t slot, struct mkt_book_meta *out)
{
    uint8_t key[MKT_KEY_BOOK_BYTES];
    ProtobufCMessage *m;
    memset(out, 0, sizeof *out);
    mkt_key_book(key, commodity, market, slot);
    int rc = chain_state_get_msg(ctx, key, sizeof key, &gl__mkt_book_meta__descriptor, &m);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return CHAIN_ERR_OK;
    if (rc)
        return rc;
    Gl__MktBookMeta *b = (Gl__MktBookMeta *)m;
    out->exists = true;
    out->cleared = b->cleared;
    out->norders = b->norders;
    out->gate_ms = b->gate_ms;
    gl__mkt_book_meta__free_unpacked(b, NULL);
    return CHAIN_ERR_OK;
}

int mkt_book_meta_store(struct chain_exec_ctx *ctx, uint32_t commodity, uint32_t market,
                        uint64_t slot, struct mkt_book_meta *m)
{
    uint8_t key[MKT_KEY_BOOK_BYTES];
    Gl__MktBookMeta b = GL__MKT_BOOK_META__INIT;
    b.norders = m->norders;
    b.cleared = m->cleared;
    b.gate_ms = m->gate_ms;
    mkt_key_book(key, commodity, market, slot);
    int rc = chain_state_put_msg(ctx, key, sizeof key, &b.base);
    if (rc || m->exists)
        return rc;
    m->exists = true;
    if (m->cleared)
        return CHAIN_ERR_OK; /* cleared at birth (an operator's clear of an empty book) */
    uint8_t q[MKT_KEY_QUEUE_BYTES];
    const uint8_t one = 1;
    mkt_key_queue(q, m->gate_ms, commodity, market, slot);
    return chain_state_put(ctx, q, sizeof q, &one, 1);
}

int mkt_book_gate(struct chain_exec_ctx *ctx, const struct mkt_params *p, uint32_t commodity,
                  uint32_t market, uint64_t slot, struct mkt_book_meta *meta)
{
    int rc = mkt_book_meta_load(ctx, commodity, market, slot, meta);
    if (rc)
        return rc;
    if (!meta->exists)
        meta->gate_ms = mkt_gate_ms(&p->p, market, slot);
    return CHAIN_ERR_OK;
}

int mkt_book_index_put(struct chain_exec_ctx *ctx, const Gl__MktOrder *o,
                       const uint8_t id[static CHAIN_HASH_BYTES])
{
    uint8_t key[MKT_KEY_BOOKIDX_BYTES];
    mkt_key_bookidx(key, o->commodity, o->market, o->slot_start_ms, o->arrival);
    return chain_state_put(ctx, key, sizeof key, id, CHAIN_HASH_BYTES);
}

int mkt_book_index_del(struct chain_exec_ctx *ctx, const Gl__MktOrder *o)
{
    uint8_t key[MKT_KEY_BOOKIDX_BYTES];
    mkt_key_bookidx(key, o->commodity, o->market, o->slot_start_ms, o->arrival);
    return chain_state_del(ctx, key, sizeof key);
}
