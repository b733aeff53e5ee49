/* mkt_tx.c -- the market's transaction types: strict payload decoders, the
 * handlers that apply them to state, payload builders, and mkt_register.
 *
 * Decoders check everything that needs no state (ranges, lengths, limits)
 * and return chain DECODE_* codes; handlers check everything that does and
 * return the market's named refusals (mkt_err.h), which the executor records
 * as the transaction's result after rolling its writes back. */
#include "mkt_tx.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "chain_ledger.h"
#include "mkt_clear.h"
#include "mkt_meter.h"
#include "mkt_settle.h"
#include "mkt_state.h"

/* ---- decoders ---- */

static void free_msg(void *msg)
{
    protobuf_c_message_free_unpacked(msg, NULL);
}

static int unpack(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
                  ProtobufCMessage **m)
{
    return chain_pb_unpack(d, p, n, CHAIN_TX_PAYLOAD_MAX_BYTES, m);
}

static int finish(ProtobufCMessage *m, int rc, void **out)
{
    if (rc) {
        protobuf_c_message_free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return CHAIN_ERR_OK;
}

static int check_keys(ProtobufCBinaryData *keys, size_t n, size_t max)
{
    if (n > max)
        return CHAIN_ERR_DECODE_TOO_MANY;
    for (size_t i = 0; i < n; i++) {
        int rc = chain_check_key(keys[i]);
        if (rc)
            return rc;
        for (size_t j = 0; j < i; j++) /* n <= 16: quadratic is fine */
            if (memcmp(keys[i].data, keys[j].data, CHAIN_PK_BYTES) == 0)
                return CHAIN_ERR_DECODE_BAD_VALUE;
    }
    return CHAIN_ERR_OK;
}

static bool valid_commodity(uint32_t c)
{
    return c == MKT_ELECTRICITY || c == MKT_HEAT;
}

static bool valid_market(uint32_t m)
{
    return m == MKT_DAY_AHEAD || m == MKT_INTRADAY;
}

static int decode_register(const uint8_t *p, size_t n, void **out)
{
    ProtobufCMessage *m;
    int rc = unpack(&gl__mkt_register__descriptor, p, n, &m);
    if (rc)
        return rc;
    Gl__MktRegister *t = (Gl__MktRegister *)m;
    rc = chain_check_key(t->account);
    if (!rc && (t->kind < GL__PARTICIPANT_KIND__KIND_CONSUMER ||
                t->kind > GL__PARTICIPANT_KIND__KIND_COMMUNITY_MANAGER))
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    if (!rc && t->bus >= MKT_PARAMS_MAX_BUS)
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    if (!rc)
        rc = check_keys(t->meter_keys, t->n_meter_keys, CHAIN_METER_KEYS_MAX);
    if (!rc && strlen(t->name) > MKT_NAME_MAX_BYTES)
        rc = CHAIN_ERR_DECODE_FIELD_TOO_LARGE;
    if (!rc && t->deposit > (uint64_t)INT64_MAX)
        rc = CHAIN_ERR_OVERFLOW;
    return finish(m, rc, out);
}

static int decode_set_params(const uint8_t *p, size_t n, void **out)
{
    ProtobufCMessage *m;
    int rc = unpack(&gl__mkt_params__descriptor, p, n, &m);
    if (rc)
        return rc;
    Gl__MktParams *t = (Gl__MktParams *)m;
    if (t->slot_ms != MKT_SLOT_MS_DEFAULT && t->slot_ms != MKT_SLOT_MS_SHORT)
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (t->day_ahead_lead_ms > MKT_LEAD_MS_MAX || t->intraday_lead_ms > MKT_LEAD_MS_MAX)
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (t->mechanism != MKT_MECH_UNIFORM && t->mechanism != MKT_MECH_P2P)
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (t->fee_model < MKT_TX_FEE_UNIFORM || t->fee_model > MKT_TX_FEE_DISTANCE)
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (t->nbus == 0 || t->nbus > MKT_PARAMS_MAX_BUS || t->grid_bus >= t->nbus)
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (t->fee_model == MKT_TX_FEE_UNIFORM ? t->n_fee_matrix != 0
                                                : t->n_fee_matrix != (size_t)t->nbus * t->nbus)
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (t->fee_rate > (uint64_t)MKT_MAX_PRICE || t->seller_margin > (uint64_t)MKT_MAX_PRICE ||
             t->price_max > (uint64_t)MKT_MAX_PRICE || t->price_min > t->price_max ||
             t->price_max == 0)
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (t->metering_window_ms > MKT_METERING_WINDOW_MS_MAX ||
             t->meter_epoch_ms > MKT_METER_EPOCH_MS_MAX ||
             t->meter_epoch_ms % MKT_SLOT_MS_DEFAULT != 0 ||
             t->imbalance_markup_ppm > MKT_IMBALANCE_MARKUP_PPM_MAX ||
             t->missing_penalty > MKT_MISSING_PENALTY_MAX ||
             t->strike_limit > MKT_STRIKE_LIMIT_MAX || t->mu_min_ppm > MKT_MU_PPM_MAX ||
             t->mu_max_ppm > MKT_MU_PPM_MAX ||
             (t->mu_min_ppm ? t->mu_min_ppm : MKT_MU_MIN_PPM_DEFAULT) >
                 (t->mu_max_ppm ? t->mu_max_ppm : MKT_MU_MAX_PPM_DEFAULT))
        rc = CHAIN_ERR_DECODE_BAD_VALUE; /* settlement: 0 means the default */
    for (size_t i = 0; !rc && i < t->n_fee_matrix; i++)
        if (t->fee_matrix[i] > MKT_PARAMS_MAX_FEE_FACTOR ||
            (__int128)t->fee_matrix[i] * t->fee_rate > MKT_MAX_PRICE)
            rc = CHAIN_ERR_DECODE_BAD_VALUE; /* a pair's fee is a price: within the core's cap */
    return finish(m, rc, out);
}

static int decode_post_tariff(const uint8_t *p, size_t n, void **out)
{
    ProtobufCMessage *m;
    int rc = unpack(&gl__mkt_tariff__descriptor, p, n, &m);
    if (rc)
        return rc;
    Gl__MktTariff *t = (Gl__MktTariff *)m;
    if (!valid_commodity(t->commodity) || t->retail > (uint64_t)MKT_MAX_PRICE ||
        t->feed_in > t->retail)
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (t->slot_start_ms == 0)
        rc = CHAIN_ERR_DECODE_MISSING_FIELD;
    return finish(m, rc, out);
}

static int decode_place_order(const uint8_t *p, size_t n, void **out)
{
    ProtobufCMessage *m;
    int rc = unpack(&gl__mkt_place_order__descriptor, p, n, &m);
    if (rc)
        return rc;
    Gl__MktPlaceOrder *t = (Gl__MktPlaceOrder *)m;
    if (!valid_commodity(t->commodity) || !valid_market(t->market) ||
        (t->side != MKT_TX_BUY && t->side != MKT_TX_SELL))
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (t->slot_start_ms == 0 || t->qty_wh == 0)
        rc = CHAIN_ERR_DECODE_MISSING_FIELD;
    else if (t->qty_wh > (uint64_t)MKT_MAX_QTY_WH || t->price > (uint64_t)MKT_MAX_PRICE)
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (t->premium_renewable > (uint64_t)MKT_MAX_PRICE ||
             t->premium_local > (uint64_t)MKT_MAX_PRICE)
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (t->side == MKT_TX_SELL && (t->premium_renewable || t->premium_local))
        rc = CHAIN_ERR_DECODE_BAD_VALUE; /* premiums are a buyer's */
    else if (t->valid_until_ms != 0 && t->valid_until_ms < t->valid_from_ms)
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    if (!rc)
        rc = check_keys(t->allowed, t->n_allowed, MKT_ORDER_MAX_PREFS);
    if (!rc)
        rc = check_keys(t->excluded, t->n_excluded, MKT_ORDER_MAX_PREFS);
    return finish(m, rc, out);
}

static int decode_cancel(const uint8_t *p, size_t n, void **out)
{
    ProtobufCMessage *m;
    int rc = unpack(&gl__mkt_cancel_order__descriptor, p, n, &m);
    if (rc)
        return rc;
    Gl__MktCancelOrder *t = (Gl__MktCancelOrder *)m;
    if (t->order_id.len != CHAIN_HASH_BYTES)
        rc = t->order_id.len ? CHAIN_ERR_DECODE_BAD_LENGTH : CHAIN_ERR_DECODE_MISSING_FIELD;
    return finish(m, rc, out);
}

static int decode_clear(const uint8_t *p, size_t n, void **out)
{
    ProtobufCMessage *m;
    int rc = unpack(&gl__mkt_clear__descriptor, p, n, &m);
    if (rc)
        return rc;
    Gl__MktClear *t = (Gl__MktClear *)m;
    if (!valid_commodity(t->commodity) || !valid_market(t->market))
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (t->slot_start_ms == 0)
        rc = CHAIN_ERR_DECODE_MISSING_FIELD;
    return finish(m, rc, out);
}

static int decode_set_status(const uint8_t *p, size_t n, void **out)
{
    ProtobufCMessage *m;
    int rc = unpack(&gl__mkt_set_status__descriptor, p, n, &m);
    if (rc)
        return rc;
    Gl__MktSetStatus *t = (Gl__MktSetStatus *)m;
    return finish(m, chain_check_key(t->account), out);
}

static int decode_fund_subsidy(const uint8_t *p, size_t n, void **out)
{
    ProtobufCMessage *m;
    int rc = unpack(&gl__mkt_fund_subsidy__descriptor, p, n, &m);
    if (rc)
        return rc;
    Gl__MktFundSubsidy *t = (Gl__MktFundSubsidy *)m;
    if (t->amount == 0)
        rc = CHAIN_ERR_DECODE_MISSING_FIELD;
    else if (t->amount > (uint64_t)INT64_MAX)
        rc = CHAIN_ERR_OVERFLOW;
    return finish(m, rc, out);
}

/* ---- handlers ---- */

static int require_role(struct chain_exec_ctx *ctx, const uint8_t *pk, uint32_t role, int refusal)
{
    struct chain_account a;
    int rc = chain_account_load(ctx, pk, &a);
    if (rc)
        return rc;
    return (a.roles & role) ? CHAIN_ERR_OK : refusal;
}

static int next_participant_index(struct chain_exec_ctx *ctx, uint32_t *index)
{
    const uint8_t *v;
    size_t n;
    uint64_t count = 0;
    int rc = chain_state_get(ctx, MKT_KEY_NPART, sizeof MKT_KEY_NPART - 1, &v, &n);
    if (rc && rc != CHAIN_ERR_NOT_FOUND)
        return rc;
    if (rc == CHAIN_ERR_OK) {
        if (n != 8)
            return CHAIN_ERR_STORE;
        for (size_t i = 0; i < 8; i++)
            count = count << 8 | v[i];
    }
    if (count >= MKT_PARTICIPANTS_MAX)
        return MKT_ERR_BOOK_TOO_LARGE;
    *index = (uint32_t)count;
    uint8_t b[8];
    count++;
    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)count;
        count >>= 8;
    }
    return chain_state_put(ctx, MKT_KEY_NPART, sizeof MKT_KEY_NPART - 1, b, 8);
}

/* Operator admits a participant: the ledger's participant record and meter
 * bindings (as TX_REGISTER_PARTICIPANT writes them, which this supersedes),
 * the PARTICIPANT role, the market record, and the deposit locked. */
static int apply_register(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    const Gl__MktRegister *t = msg;
    uint8_t key[3 + CHAIN_PK_BYTES];
    const uint8_t *v;
    size_t vl;
    Gl__MktParticipant *old;
    int rc = require_role(ctx, tx->signer, CHAIN_ROLE_OPERATOR, MKT_ERR_NOT_OPERATOR);
    if (rc)
        return rc;
    rc = mkt_participant_load(ctx, t->account.data, &old);
    if (rc == CHAIN_ERR_OK) {
        gl__mkt_participant__free_unpacked(old, NULL);
        return MKT_ERR_ALREADY_REGISTERED;
    }
    if (rc != CHAIN_ERR_NOT_FOUND)
        return rc;
    struct chain_account a;
    if ((rc = chain_account_load(ctx, t->account.data, &a)))
        return rc;
    if (!a.exists)
        return MKT_ERR_UNKNOWN_ACCOUNT;
    for (size_t i = 0; i < t->n_meter_keys; i++) {
        memcpy(key, "mk/", 3);
        memcpy(key + 3, t->meter_keys[i].data, CHAIN_PK_BYTES);
        rc = chain_state_get(ctx, key, sizeof key, &v, &vl);
        if (rc == CHAIN_ERR_OK) {
            /* Bound already: fine only to this same account (ledger registration). */
            ProtobufCMessage *bm;
            if ((rc = chain_state_get_msg(ctx, key, sizeof key, &gl__meter_binding__descriptor,
                                          &bm)))
                return rc;
            Gl__MeterBinding *b = (Gl__MeterBinding *)bm;
            bool same = b->owner.len == CHAIN_PK_BYTES &&
                        memcmp(b->owner.data, t->account.data, CHAIN_PK_BYTES) == 0;
            gl__meter_binding__free_unpacked(b, NULL);
            if (!same)
                return MKT_ERR_METER_BOUND;
        } else if (rc != CHAIN_ERR_NOT_FOUND) {
            return rc;
        }
        Gl__MeterBinding b = GL__METER_BINDING__INIT;
        b.owner = t->account;
        if ((rc = chain_state_put_msg(ctx, key, sizeof key, &b.base)))
            return rc;
    }
    Gl__Participant lp = GL__PARTICIPANT__INIT;
    lp.kind = t->kind;
    lp.zone = t->bus;
    lp.renewable = t->renewable;
    lp.n_meter_keys = t->n_meter_keys;
    lp.meter_keys = t->meter_keys;
    lp.name = t->name;
    lp.registered_height = ctx->height;
    memcpy(key, "p/", 2);
    memcpy(key + 2, t->account.data, CHAIN_PK_BYTES);
    if ((rc = chain_state_put_msg(ctx, key, 2 + CHAIN_PK_BYTES, &lp.base)))
        return rc;
    a.roles |= CHAIN_ROLE_PARTICIPANT;
    if ((rc = chain_account_store(ctx, t->account.data, &a)))
        return rc;
    if (t->deposit && (rc = mkt_lock(ctx, t->account.data, (int64_t)t->deposit)))
        return rc;
    Gl__MktParticipant mp = GL__MKT_PARTICIPANT__INIT;
    if ((rc = next_participant_index(ctx, &mp.index)))
        return rc;
    mp.bus = t->bus;
    mp.renewable = t->renewable;
    mp.deposit = t->deposit;
    mp.nmeters = (uint32_t)t->n_meter_keys;
    return mkt_participant_store(ctx, t->account.data, &mp);
}

static int apply_set_status(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    const Gl__MktSetStatus *t = msg;
    Gl__MktParticipant *p;
    int rc = require_role(ctx, tx->signer, CHAIN_ROLE_OPERATOR, MKT_ERR_NOT_OPERATOR);
    if (rc)
        return rc;
    rc = mkt_participant_load(ctx, t->account.data, &p);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return MKT_ERR_UNKNOWN_PARTICIPANT;
    if (rc)
        return rc;
    p->suspended = t->suspended;
    if (!t->suspended)
        p->strikes = 0; /* reinstated: missing-reading strikes start again */
    rc = mkt_participant_store(ctx, t->account.data, p);
    gl__mkt_participant__free_unpacked(p, NULL);
    return rc;
}

/* Anyone (the operator, a municipality's grant account) funds the pool that
 * pays the renewable subsidy (mkt_settle.c). */
static int apply_fund_subsidy(struct chain_exec_ctx *ctx, const struct chain_tx *tx,
                              const void *msg)
{
    const Gl__MktFundSubsidy *t = msg;
    struct chain_account a;
    int rc = chain_account_load(ctx, tx->signer, &a);
    if (rc)
        return rc;
    if (a.balance < (int64_t)t->amount)
        return MKT_ERR_INSUFFICIENT_FUNDS;
    a.balance -= (int64_t)t->amount;
    if ((rc = chain_account_store(ctx, tx->signer, &a)))
        return rc;
    return chain_pool_add(ctx, MKT_POOL_SUBSIDY, (int64_t)t->amount);
}

static int apply_set_params(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    const Gl__MktParams *t = msg;
    int rc = require_role(ctx, tx->signer, CHAIN_ROLE_OPERATOR, MKT_ERR_NOT_OPERATOR);
    if (rc)
        return rc;
    return chain_state_put_msg(ctx, MKT_KEY_PARAMS, sizeof MKT_KEY_PARAMS - 1, &t->base);
}

static int check_slot(const struct mkt_params *p, uint64_t now, uint64_t slot)
{
    if (slot % p->p.slot_ms != 0)
        return MKT_ERR_SLOT_MISALIGNED;
    if (slot > now && slot - now > MKT_HORIZON_MS_MAX)
        return MKT_ERR_SLOT_BEYOND_HORIZON;
    return CHAIN_ERR_OK;
}

static int apply_post_tariff(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    const Gl__MktTariff *t = msg;
    struct mkt_params p;
    struct mkt_book_meta meta;
    int rc = require_role(ctx, tx->signer, CHAIN_ROLE_SHADOW_CENTRE, MKT_ERR_NOT_SHADOW_CENTRE);
    if (rc || (rc = mkt_params_load(ctx, &p)))
        return rc;
    if ((rc = check_slot(&p, ctx->time_ms, t->slot_start_ms)))
        return rc;
    /* The tariff binds every book of the slot still to clear: the last is intraday. */
    if ((rc = mkt_book_gate(ctx, &p, t->commodity, MKT_INTRADAY, t->slot_start_ms, &meta)))
        return rc;
    if (meta.cleared)
        return MKT_ERR_BOOK_CLEARED;
    if (ctx->time_ms >= meta.gate_ms)
        return MKT_ERR_GATE_CLOSED;
    Gl__MktTariffState s = GL__MKT_TARIFF_STATE__INIT;
    s.retail = t->retail;
    s.feed_in = t->feed_in;
    s.grid_account.data = (uint8_t *)tx->signer;
    s.grid_account.len = CHAIN_PK_BYTES;
    uint8_t key[MKT_KEY_TARIFF_BYTES];
    mkt_key_tariff(key, t->commodity, t->slot_start_ms);
    return chain_state_put_msg(ctx, key, sizeof key, &s.base);
}

/* Funds locked by an order of qty Wh at rate micro/kWh: ceil(qty * rate / 1000). */
static int64_t lock_amount(uint64_t qty_wh, uint64_t rate)
{
    return mkt_nano_ceil((__int128)qty_wh * rate);
}

static int check_counterparties(struct chain_exec_ctx *ctx, ProtobufCBinaryData *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        Gl__MktParticipant *p;
        int rc = mkt_participant_load(ctx, keys[i].data, &p);
        if (rc == CHAIN_ERR_OK) {
            gl__mkt_participant__free_unpacked(p, NULL);
            continue;
        }
        if (rc != CHAIN_ERR_NOT_FOUND)
            return rc;
        /* The grid (a shadow-centre account) may be named too. */
        if ((rc = require_role(ctx, keys[i].data, CHAIN_ROLE_SHADOW_CENTRE,
                               MKT_ERR_UNKNOWN_COUNTERPARTY)))
            return rc;
    }
    return CHAIN_ERR_OK;
}

static int apply_place_order(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    const Gl__MktPlaceOrder *t = msg;
    struct mkt_params p;
    struct mkt_book_meta meta;
    Gl__MktParticipant *part;
    int rc = mkt_participant_load(ctx, tx->signer, &part);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return MKT_ERR_UNKNOWN_PARTICIPANT;
    if (rc)
        return rc;
    bool suspended = part->suspended, debt = part->debt > 0;
    gl__mkt_participant__free_unpacked(part, NULL);
    if (suspended)
        return MKT_ERR_PARTICIPANT_SUSPENDED;
    if (debt)
        return MKT_ERR_PARTICIPANT_IN_DEBT;
    if ((rc = mkt_params_load(ctx, &p)) || (rc = check_slot(&p, ctx->time_ms, t->slot_start_ms)))
        return rc;
    if (t->price < p.p.price_min || t->price > p.p.price_max)
        return MKT_ERR_PRICE_OUT_OF_BAND;
    if (t->valid_until_ms != 0 && t->valid_until_ms <= ctx->time_ms)
        return MKT_ERR_BAD_VALIDITY;
    if ((rc = mkt_book_gate(ctx, &p, t->commodity, t->market, t->slot_start_ms, &meta)))
        return rc;
    if (meta.cleared)
        return MKT_ERR_BOOK_CLEARED;
    if (ctx->time_ms >= meta.gate_ms)
        return MKT_ERR_GATE_CLOSED;
    if (meta.norders >= MKT_BOOK_MAX_ORDERS)
        return MKT_ERR_BOOK_FULL;
    if ((rc = check_counterparties(ctx, t->allowed, t->n_allowed)) ||
        (rc = check_counterparties(ctx, t->excluded, t->n_excluded)))
        return rc;
    int64_t lock = t->side == MKT_TX_BUY ? lock_amount(t->qty_wh, t->price)
                                         : lock_amount(t->qty_wh, p.p.seller_margin_micro_per_kwh);
    if (lock && (rc = mkt_lock(ctx, tx->signer, lock)))
        return rc;
    Gl__MktOrder o = GL__MKT_ORDER__INIT;
    o.owner.data = (uint8_t *)tx->signer;
    o.owner.len = CHAIN_PK_BYTES;
    o.commodity = t->commodity;
    o.market = t->market;
    o.slot_start_ms = t->slot_start_ms;
    o.side = t->side;
    o.qty_wh = t->qty_wh;
    o.price = t->price;
    o.valid_from_ms = t->valid_from_ms;
    o.valid_until_ms = t->valid_until_ms;
    o.n_allowed = t->n_allowed;
    o.allowed = t->allowed;
    o.n_excluded = t->n_excluded;
    o.excluded = t->excluded;
    o.premium_renewable = t->premium_renewable;
    o.premium_local = t->premium_local;
    o.arrival = ctx->height << 32 | ctx->tx_index;
    o.status = MKT_ORDER_OPEN;
    o.open_wh = t->qty_wh;
    o.locked = (uint64_t)lock;
    meta.norders++;
    if ((rc = mkt_order_store(ctx, tx->hash, &o)) || (rc = mkt_book_index_put(ctx, &o, tx->hash)))
        return rc;
    return mkt_book_meta_store(ctx, t->commodity, t->market, t->slot_start_ms, &meta);
}

static int apply_cancel(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    const Gl__MktCancelOrder *t = msg;
    Gl__MktOrder *o;
    int rc = mkt_order_load(ctx, t->order_id.data, &o);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return MKT_ERR_UNKNOWN_ORDER;
    if (rc)
        return rc;
    if (memcmp(o->owner.data, tx->signer, CHAIN_PK_BYTES) != 0)
        rc = MKT_ERR_WRONG_SIGNER;
    else if (o->status != MKT_ORDER_OPEN)
        rc = MKT_ERR_ORDER_NOT_OPEN;
    if (rc)
        goto out;
    if ((rc = mkt_book_index_del(ctx, o)) ||
        (o->locked && (rc = mkt_unlock(ctx, o->owner.data, (int64_t)o->locked))))
        goto out;
    o->locked = 0;
    o->status = MKT_ORDER_CANCELLED;
    rc = mkt_order_store(ctx, t->order_id.data, o);
out:
    gl__mkt_order__free_unpacked(o, NULL);
    return rc;
}

static int apply_clear(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    const Gl__MktClear *t = msg;
    struct mkt_params p;
    struct mkt_book_meta meta, da;
    int rc = require_role(ctx, tx->signer, CHAIN_ROLE_OPERATOR, MKT_ERR_NOT_OPERATOR);
    if (rc || (rc = mkt_params_load(ctx, &p)))
        return rc;
    if (t->slot_start_ms % p.p.slot_ms != 0)
        return MKT_ERR_SLOT_MISALIGNED;
    if ((rc = mkt_book_gate(ctx, &p, t->commodity, t->market, t->slot_start_ms, &meta)))
        return rc;
    if (meta.cleared)
        return MKT_ERR_BOOK_CLEARED;
    if (t->market == MKT_INTRADAY) {
        if ((rc = mkt_book_meta_load(ctx, t->commodity, MKT_DAY_AHEAD, t->slot_start_ms, &da)))
            return rc;
        if (da.exists && !da.cleared)
            return MKT_ERR_DAY_AHEAD_NOT_CLEARED;
    }
    if (!meta.exists) { /* an empty book: open it so that it can be marked cleared */
        if ((rc = mkt_book_meta_store(ctx, t->commodity, t->market, t->slot_start_ms, &meta)))
            return rc;
    }
    return mkt_book_clear(ctx, t->commodity, t->market, t->slot_start_ms, true);
}

int mkt_register(struct chain_registry *reg)
{
    static const struct {
        uint32_t type;
        struct chain_tx_handler h;
    } table[] = {
        {GL__MKT_TX_TYPE__MKT_TX_REGISTER,
         {"mkt_register", decode_register, free_msg, apply_register}},
        {GL__MKT_TX_TYPE__MKT_TX_SET_PARAMS,
         {"mkt_set_params", decode_set_params, free_msg, apply_set_params}},
        {GL__MKT_TX_TYPE__MKT_TX_POST_TARIFF,
         {"mkt_post_tariff", decode_post_tariff, free_msg, apply_post_tariff}},
        {GL__MKT_TX_TYPE__MKT_TX_PLACE_ORDER,
         {"mkt_place_order", decode_place_order, free_msg, apply_place_order}},
        {GL__MKT_TX_TYPE__MKT_TX_CANCEL_ORDER,
         {"mkt_cancel_order", decode_cancel, free_msg, apply_cancel}},
        {GL__MKT_TX_TYPE__MKT_TX_CLEAR, {"mkt_clear", decode_clear, free_msg, apply_clear}},
        {GL__MKT_TX_TYPE__MKT_TX_SET_STATUS,
         {"mkt_set_status", decode_set_status, free_msg, apply_set_status}},
        {GL__MKT_TX_TYPE__MKT_TX_FUND_SUBSIDY,
         {"mkt_fund_subsidy", decode_fund_subsidy, free_msg, apply_fund_subsidy}},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int rc = chain_registry_add(reg, table[i].type, &table[i].h);
        if (rc)
            return rc;
    }
    int rc = chain_registry_add(reg, GL__METER_TX_TYPE__TX_METER_READING, &mkt_meter_handler);
    if (rc || (rc = chain_registry_add_hook(reg, mkt_end_block, NULL)))
        return rc;
    /* After clearing: a slot due for settlement clears its books first anyway. */
    return chain_registry_add_hook(reg, mkt_settle_end_block, NULL);
}

/* ---- payload builders ---- */

int mkt_payload_register(const uint8_t account[static CHAIN_PK_BYTES], uint32_t kind, uint32_t bus,
                         bool renewable, const uint8_t (*meters)[CHAIN_PK_BYTES], size_t nmeters,
                         const char *name, uint64_t deposit_micro, uint8_t **out, size_t *len)
{
    Gl__MktRegister t = GL__MKT_REGISTER__INIT;
    ProtobufCBinaryData mk[CHAIN_METER_KEYS_MAX];
    if (nmeters > CHAIN_METER_KEYS_MAX)
        return CHAIN_ERR_INVALID_ARG;
    for (size_t i = 0; i < nmeters; i++)
        mk[i] = (ProtobufCBinaryData){CHAIN_PK_BYTES, (uint8_t *)meters[i]};
    t.account = (ProtobufCBinaryData){CHAIN_PK_BYTES, (uint8_t *)account};
    t.kind = kind;
    t.bus = bus;
    t.renewable = renewable;
    t.n_meter_keys = nmeters;
    t.meter_keys = mk;
    t.name = (char *)(name ? name : "");
    t.deposit = deposit_micro;
    return chain_pb_pack(&t.base, out, len);
}

int mkt_payload_set_params(const struct mkt_tx_params *p, uint8_t **out, size_t *len)
{
    Gl__MktParams t = GL__MKT_PARAMS__INIT;
    if (p->nbus > MKT_PARAMS_MAX_BUS)
        return CHAIN_ERR_INVALID_ARG;
    t.slot_ms = p->slot_ms;
    t.day_ahead_lead_ms = p->day_ahead_lead_ms;
    t.intraday_lead_ms = p->intraday_lead_ms;
    t.mechanism = p->mechanism;
    t.fee_model = p->fee_model;
    t.fee_rate = p->fee_rate_micro_per_kwh;
    t.nbus = p->nbus;
    if (p->fee_matrix) {
        t.n_fee_matrix = (size_t)p->nbus * p->nbus;
        t.fee_matrix = (uint32_t *)p->fee_matrix;
    }
    t.price_min = p->price_min;
    t.price_max = p->price_max;
    t.seller_margin = p->seller_margin_micro_per_kwh;
    t.grid_bus = p->grid_bus;
    t.metering_window_ms = p->metering_window_ms;
    t.meter_epoch_ms = p->meter_epoch_ms;
    t.imbalance_markup_ppm = p->imbalance_markup_ppm;
    t.missing_penalty = p->missing_penalty_micro;
    t.strike_limit = p->strike_limit;
    t.mu_min_ppm = p->mu_min_ppm;
    t.mu_max_ppm = p->mu_max_ppm;
    return chain_pb_pack(&t.base, out, len);
}

int mkt_payload_post_tariff(uint32_t commodity, uint64_t slot_start_ms,
                            uint64_t retail_micro_per_kwh, uint64_t feed_in_micro_per_kwh,
                            uint8_t **out, size_t *len)
{
    Gl__MktTariff t = GL__MKT_TARIFF__INIT;
    t.commodity = commodity;
    t.slot_start_ms = slot_start_ms;
    t.retail = retail_micro_per_kwh;
    t.feed_in = feed_in_micro_per_kwh;
    return chain_pb_pack(&t.base, out, len);
}

int mkt_payload_place_order(const struct mkt_tx_order *o, uint8_t **out, size_t *len)
{
    Gl__MktPlaceOrder t = GL__MKT_PLACE_ORDER__INIT;
    ProtobufCBinaryData al[MKT_ORDER_MAX_PREFS], ex[MKT_ORDER_MAX_PREFS];
    if (o->nallowed > MKT_ORDER_MAX_PREFS || o->nexcluded > MKT_ORDER_MAX_PREFS)
        return CHAIN_ERR_INVALID_ARG;
    for (size_t i = 0; i < o->nallowed; i++)
        al[i] = (ProtobufCBinaryData){CHAIN_PK_BYTES, (uint8_t *)o->allowed[i]};
    for (size_t i = 0; i < o->nexcluded; i++)
        ex[i] = (ProtobufCBinaryData){CHAIN_PK_BYTES, (uint8_t *)o->excluded[i]};
    t.commodity = o->commodity;
    t.market = o->market;
    t.slot_start_ms = o->slot_start_ms;
    t.side = o->side;
    t.qty_wh = o->qty_wh;
    t.price = o->price_micro_per_kwh;
    t.valid_from_ms = o->valid_from_ms;
    t.valid_until_ms = o->valid_until_ms;
    t.n_allowed = o->nallowed;
    t.allowed = al;
    t.n_excluded = o->nexcluded;
    t.excluded = ex;
    t.premium_renewable = o->premium_renewable_micro_per_kwh;
    t.premium_local = o->premium_local_micro_per_kwh;
    return chain_pb_pack(&t.base, out, len);
}

int mkt_payload_cancel_order(const uint8_t order_id[static CHAIN_HASH_BYTES], uint8_t **out,
                             size_t *len)
{
    Gl__MktCancelOrder t = GL__MKT_CANCEL_ORDER__INIT;
    t.order_id = (ProtobufCBinaryData){CHAIN_HASH_BYTES, (uint8_t *)order_id};
    return chain_pb_pack(&t.base, out, len);
}

int mkt_payload_clear(uint32_t commodity, uint32_t market, uint64_t slot_start_ms, uint8_t **out,
                      size_t *len)
{
    Gl__MktClear t = GL__MKT_CLEAR__INIT;
    t.commodity = commodity;
    t.market = market;
    t.slot_start_ms = slot_start_ms;
    return chain_pb_pack(&t.base, out, len);
}

int mkt_payload_set_status(const uint8_t account[static CHAIN_PK_BYTES], bool suspended,
                           uint8_t **out, size_t *len)
{
    Gl__MktSetStatus t = GL__MKT_SET_STATUS__INIT;
    t.account = (ProtobufCBinaryData){CHAIN_PK_BYTES, (uint8_t *)account};
    t.suspended = suspended;
    return chain_pb_pack(&t.base, out, len);
}

int mkt_payload_fund_subsidy(uint64_t amount_micro, uint8_t **out, size_t *len)
{
    Gl__MktFundSubsidy t = GL__MKT_FUND_SUBSIDY__INIT;
    t.amount = amount_micro;
    return chain_pb_pack(&t.base, out, len);
}
