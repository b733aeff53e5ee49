/* mkt_settle.c -- settlement of a delivery slot after its metering window:
 * metered net against scheduled net, the deviation bought from or sold to the
 * grid at imbalance prices, margins released, missing readings penalised and
 * struck, the renewable subsidy factor mu, incentive points, and no balance
 * below zero (deposit, then debt).  Runs as an end-of-block hook on block
 * time only.  Every rule and rounding: market/README.md, "Metering and
 * settlement". */
#include "mkt_settle.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "chain_ledger.h"
#include "chain_scan.h"
#include "mkt_clear.h"
#include "mkt_meter.h"
#include "mkt_state.h"

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

void mkt_key_settlement(uint8_t key[static MKT_KEY_SETTLEMENT_BYTES], uint64_t slot,
                        const uint8_t pk[static CHAIN_PK_BYTES])
{
    memcpy(key, "mkt/s/", 6);
    put_be64(key + 6, slot);
    memcpy(key + 14, pk, CHAIN_PK_BYTES);
}

void mkt_key_slot_settlement(uint8_t key[static MKT_KEY_SLOT_SETTLEMENT_BYTES], uint64_t slot)
{
    memcpy(key, "mkt/sr/", 7);
    put_be64(key + 7, slot);
}

void mkt_key_bill(uint8_t key[static MKT_KEY_BILL_BYTES], uint64_t day_start_ms,
                  const uint8_t pk[static CHAIN_PK_BYTES])
{
    memcpy(key, "mkt/bill/", 9);
    put_be64(key + 9, day_start_ms);
    memcpy(key + 17, pk, CHAIN_PK_BYTES);
}

static void key_queue(uint8_t key[static MKT_KEY_SETTLE_QUEUE_BYTES], uint64_t due, uint64_t slot)
{
    memcpy(key, "mkt/sq/", 7);
    put_be64(key + 7, due);
    put_be64(key + 15, slot);
}

static void key_debtor(uint8_t key[static MKT_KEY_DEBTOR_BYTES], const uint8_t *pk)
{
    memcpy(key, "mkt/debt/", 9);
    memcpy(key + 9, pk, CHAIN_PK_BYTES);
}

int mkt_settle_enqueue(struct chain_exec_ctx *ctx, const struct mkt_tx_params *p, uint64_t slot)
{
    uint8_t key[MKT_KEY_SETTLE_QUEUE_BYTES];
    const uint8_t one = 1;
    key_queue(key, slot + p->slot_ms + p->metering_window_ms, slot);
    return chain_state_put(ctx, key, sizeof key, &one, 1);
}

int mkt_slot_settled(struct chain_exec_ctx *ctx, uint64_t slot)
{
    uint8_t key[MKT_KEY_SLOT_SETTLEMENT_BYTES];
    const uint8_t *v;
    size_t n;
    mkt_key_slot_settlement(key, slot);
    int rc = chain_state_get(ctx, key, sizeof key, &v, &n);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return 0;
    return rc ? rc : 1;
}

/* ---- reading what the slot traded ---- */

struct sfill {
    uint8_t owner[CHAIN_PK_BYTES];
    uint8_t id[CHAIN_HASH_BYTES];
    uint32_t market, side;
    uint64_t fill_wh, paid, received, margin_held;
};

struct fills {
    struct sfill *f;
    size_t n, cap;
    uint32_t market;
};

static int collect_fill(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct fills *fs = arg;
    ProtobufCMessage *m;
    if (klen != MKT_KEY_FILL_BYTES)
        return CHAIN_ERR_STORE;
    if (chain_pb_unpack(&gl__mkt_fill__descriptor, val, vlen, CHAIN_STATE_VALUE_MAX_BYTES, &m))
        return CHAIN_ERR_STORE;
    Gl__MktFill *f = (Gl__MktFill *)m;
    int rc = CHAIN_ERR_OK;
    if (f->owner.len != CHAIN_PK_BYTES || f->fill_wh > (uint64_t)MKT_MAX_QTY_WH ||
        f->paid > (uint64_t)INT64_MAX || f->received > (uint64_t)INT64_MAX ||
        f->margin_held > (uint64_t)INT64_MAX) {
        rc = CHAIN_ERR_STORE;
        goto out;
    }
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? fs->cap * 2 : 64;
        struct sfill *p = realloc(fs->f, cap * sizeof *p);
        if (!p) {
            rc = CHAIN_ERR_NOMEM;
            goto out;
        }
        fs->f = p;
        fs->cap = cap;
    }
    struct sfill *s = &fs->f[fs->n++];
    memcpy(s->owner, f->owner.data, CHAIN_PK_BYTES);
    memcpy(s->id, key + 16, CHAIN_HASH_BYTES);
    s->market = fs->market;
    s->side = f->side;
    s->fill_wh = f->fill_wh;
    s->paid = f->paid;
    s->received = f->received;
    s->margin_held = f->margin_held;
out:
    gl__mkt_fill__free_unpacked(f, NULL);
    return rc;
}

/* A total order (owner, market, order id): unique keys, so qsort's result
 * does not depend on its algorithm. */
static int cmp_fill(const void *a, const void *b)
{
    const struct sfill *x = a, *y = b;
    int c = memcmp(x->owner, y->owner, CHAIN_PK_BYTES);
    if (c)
        return c;
    if (x->market != y->market)
        return x->market < y->market ? -1 : 1;
    return memcmp(x->id, y->id, CHAIN_HASH_BYTES);
}

/* One participant's settlement of the slot, computed then applied. */
struct pcalc {
    uint8_t pk[CHAIN_PK_BYTES];
    Gl__MktParticipant *rec;
    size_t f0, nf; /* its fills */
    int64_t bought, sold, sched, imp, exp, metered, dev;
    bool missing, has_meters;
    uint64_t mpaid, mrecv, margin;
    int64_t charge, credit, penalty, subsidy; /* subsidy < 0: to the pool */
    uint64_t price, points;
    int64_t from_bal, from_dep, debt_added;
    bool suspended_now;
};

struct parts {
    struct pcalc *p;
    size_t n, cap;
};

static int collect_part(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct parts *ps = arg;
    ProtobufCMessage *m;
    if (klen != MKT_KEY_PARTICIPANT_BYTES)
        return CHAIN_ERR_STORE;
    if (chain_pb_unpack(&gl__mkt_participant__descriptor, val, vlen, CHAIN_STATE_VALUE_MAX_BYTES,
                        &m))
        return CHAIN_ERR_STORE;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 64;
        struct pcalc *p = realloc(ps->p, cap * sizeof *p);
        if (!p) {
            protobuf_c_message_free_unpacked(m, NULL);
            return CHAIN_ERR_NOMEM;
        }
        ps->p = p;
        ps->cap = cap;
    }
    struct pcalc *c = &ps->p[ps->n++];
    memset(c, 0, sizeof *c);
    memcpy(c->pk, key + 6, CHAIN_PK_BYTES);
    c->rec = (Gl__MktParticipant *)m;
    return 0;
}

static int load_agg(struct chain_exec_ctx *ctx, uint64_t slot, const uint8_t *pk,
                    Gl__MktMeterAgg *out)
{
    uint8_t key[MKT_KEY_METER_AGG_BYTES];
    ProtobufCMessage *m;
    mkt_key_meter_agg(key, slot, pk);
    *out = (Gl__MktMeterAgg)GL__MKT_METER_AGG__INIT;
    int rc = chain_state_get_msg(ctx, key, sizeof key, &gl__mkt_meter_agg__descriptor, &m);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return CHAIN_ERR_OK;
    if (rc)
        return rc;
    Gl__MktMeterAgg *a = (Gl__MktMeterAgg *)m;
    *out = *a;
    out->base = (ProtobufCMessage)PROTOBUF_C_MESSAGE_INIT(&gl__mkt_meter_agg__descriptor);
    gl__mkt_meter_agg__free_unpacked(a, NULL);
    if (out->import_wh > MKT_READING_MAX_WH * CHAIN_METER_KEYS_MAX ||
        out->export_wh > MKT_READING_MAX_WH * CHAIN_METER_KEYS_MAX)
        return CHAIN_ERR_STORE;
    return CHAIN_ERR_OK;
}

/* Grid energy sold in the slot's books (for the renewable share). */
static int grid_sell_wh(struct chain_exec_ctx *ctx, uint64_t slot, int64_t *out)
{
    *out = 0;
    for (uint32_t m = MKT_DAY_AHEAD; m <= MKT_INTRADAY; m++) {
        uint8_t key[MKT_KEY_RESULT_BYTES];
        ProtobufCMessage *msg;
        mkt_key_result(key, MKT_ELECTRICITY, m, slot);
        int rc = chain_state_get_msg(ctx, key, sizeof key, &gl__mkt_result__descriptor, &msg);
        if (rc == CHAIN_ERR_NOT_FOUND)
            continue;
        if (rc)
            return rc;
        uint64_t g = ((Gl__MktResult *)msg)->grid_sell_wh;
        gl__mkt_result__free_unpacked((Gl__MktResult *)msg, NULL);
        if (g > (uint64_t)MKT_MAX_QTY_WH * MKT_MAX_ORDERS)
            return CHAIN_ERR_STORE;
        *out += (int64_t)g;
    }
    return CHAIN_ERR_OK;
}

static int pool_balance(struct chain_exec_ctx *ctx, const char *name, int64_t *out)
{
    char key[64];
    size_t nl = strlen(name);
    ProtobufCMessage *m;
    assert(nl + 5 < sizeof key);
    memcpy(key, "pool/", 5);
    memcpy(key + 5, name, nl);
    *out = 0;
    int rc = chain_state_get_msg(ctx, key, 5 + nl, &gl__pool__descriptor, &m);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return CHAIN_ERR_OK;
    if (rc)
        return rc;
    uint64_t b = ((Gl__Pool *)m)->balance;
    gl__pool__free_unpacked((Gl__Pool *)m, NULL);
    if (b > (uint64_t)INT64_MAX)
        return CHAIN_ERR_STORE;
    *out = (int64_t)b;
    return CHAIN_ERR_OK;
}

static int credit_account(struct chain_exec_ctx *ctx, const uint8_t *pk, int64_t amount)
{
    struct chain_account a;
    int rc = chain_account_load(ctx, pk, &a);
    if (rc)
        return rc;
    if (!a.exists || chain_money_add(&a.balance, amount))
        return CHAIN_ERR_STORE;
    return chain_account_store(ctx, pk, &a);
}

/* Release the margins held on the participant's filled sells of the slot. */
static int release_margins(struct chain_exec_ctx *ctx, const struct fills *fs, struct pcalc *c)
{
    for (size_t k = c->f0; k < c->f0 + c->nf; k++) {
        const struct sfill *f = &fs->f[k];
        if (f->side != MKT_TX_SELL || f->margin_held == 0)
            continue;
        Gl__MktOrder *o;
        int rc = mkt_order_load(ctx, f->id, &o);
        if (rc)
            return rc == CHAIN_ERR_NOT_FOUND ? CHAIN_ERR_STORE : rc;
        if (o->margin_held < f->margin_held) {
            gl__mkt_order__free_unpacked(o, NULL);
            return CHAIN_ERR_STORE;
        }
        o->margin_held -= f->margin_held;
        rc = mkt_order_store(ctx, f->id, o);
        gl__mkt_order__free_unpacked(o, NULL);
        if (rc || (rc = mkt_unlock(ctx, c->pk, (int64_t)f->margin_held)))
            return rc;
        c->margin += f->margin_held;
    }
    return CHAIN_ERR_OK;
}

/* Take amount from the participant: balance first, then its deposit (locked),
 * then the rest becomes debt.  *paid is what was actually taken. */
static int collect(struct chain_exec_ctx *ctx, struct pcalc *c, int64_t amount, int64_t *paid)
{
    struct chain_account a;
    int rc = chain_account_load(ctx, c->pk, &a);
    if (rc)
        return rc;
    if (!a.exists || a.balance < 0 || a.locked < 0 || c->rec->deposit > (uint64_t)a.locked)
        return CHAIN_ERR_STORE;
    int64_t fb = a.balance < amount ? a.balance : amount;
    int64_t rest = amount - fb;
    int64_t fd = (int64_t)c->rec->deposit < rest ? (int64_t)c->rec->deposit : rest;
    a.balance -= fb;
    a.locked -= fd;
    rest -= fd;
    if ((rc = chain_account_store(ctx, c->pk, &a)))
        return rc;
    c->rec->deposit -= (uint64_t)fd;
    if (rest > 0) {
        if (c->rec->debt > (uint64_t)INT64_MAX - (uint64_t)rest)
            return CHAIN_ERR_STORE;
        c->rec->debt += (uint64_t)rest;
        uint8_t dk[MKT_KEY_DEBTOR_BYTES];
        const uint8_t one = 1;
        key_debtor(dk, c->pk);
        if ((rc = chain_state_put(ctx, dk, sizeof dk, &one, 1)))
            return rc;
    }
    c->from_bal = fb;
    c->from_dep = fd;
    c->debt_added = rest;
    *paid = fb + fd;
    return CHAIN_ERR_OK;
}

static int bill_add(struct chain_exec_ctx *ctx, uint64_t day, const uint8_t *pk,
                    const Gl__MktSettlement *s, uint64_t debt_repaid)
{
    uint8_t key[MKT_KEY_BILL_BYTES];
    ProtobufCMessage *m;
    Gl__MktBill b = GL__MKT_BILL__INIT, *old = NULL;
    mkt_key_bill(key, day, pk);
    int rc = chain_state_get_msg(ctx, key, sizeof key, &gl__mkt_bill__descriptor, &m);
    if (rc && rc != CHAIN_ERR_NOT_FOUND)
        return rc;
    if (rc == CHAIN_ERR_OK) {
        old = (Gl__MktBill *)m;
        b = *old;
        b.base = (ProtobufCMessage)PROTOBUF_C_MESSAGE_INIT(&gl__mkt_bill__descriptor);
        gl__mkt_bill__free_unpacked(old, NULL);
    }
    /* Sums of at most 96 slots of values each below 2^63 / 2^10: no overflow
     * in practice; checked anyway with the builtins. */
    bool of = false;
    if (s) {
        b.slots++;
        of |= __builtin_add_overflow(b.market_paid, s->market_paid, &b.market_paid);
        of |= __builtin_add_overflow(b.market_received, s->market_received, &b.market_received);
        of |= __builtin_add_overflow(b.imbalance_charge, s->imbalance_charge, &b.imbalance_charge);
        of |= __builtin_add_overflow(b.imbalance_credit, s->imbalance_credit, &b.imbalance_credit);
        of |= __builtin_add_overflow(b.penalty, s->penalty, &b.penalty);
        of |= __builtin_add_overflow(b.subsidy, s->subsidy, &b.subsidy);
        of |= __builtin_add_overflow(b.debt_added, s->debt_added, &b.debt_added);
        of |= __builtin_add_overflow(b.points, s->points, &b.points);
        int64_t imp = s->metered_net_wh > 0 ? s->metered_net_wh : 0;
        int64_t exp = s->metered_net_wh < 0 ? -s->metered_net_wh : 0;
        of |= __builtin_add_overflow(b.import_wh, imp, &b.import_wh);
        of |= __builtin_add_overflow(b.export_wh, exp, &b.export_wh);
        b.missing += s->missing ? 1u : 0u;
    }
    of |= __builtin_add_overflow(b.debt_repaid, debt_repaid, &b.debt_repaid);
    if (of)
        return CHAIN_ERR_STORE;
    return chain_state_put_msg(ctx, key, sizeof key, &b.base);
}

static uint64_t umin(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* mu in ppm from the slot's metered load L and renewable export G:
 * mu = L / G, bounded to [mu_min, mu_max]; 1 when G = 0 (README). */
static uint32_t mu_ppm(const struct mkt_tx_params *p, int64_t load, int64_t gen)
{
    if (gen <= 0)
        return (uint32_t)MKT_PPM;
    __int128 mu = (__int128)load * MKT_PPM / gen;
    if (mu < p->mu_min_ppm)
        return p->mu_min_ppm;
    if (mu > p->mu_max_ppm)
        return p->mu_max_ppm;
    return (uint32_t)mu;
}

int mkt_settle_slot(struct chain_exec_ctx *ctx, uint64_t slot)
{
    struct mkt_params p;
    struct mkt_tariff tf;
    struct fills fs = {0};
    struct parts ps = {0};
    int rc;
    if ((rc = mkt_params_load(ctx, &p)) || (rc = mkt_tariff_load(ctx, MKT_ELECTRICITY, slot, &tf)))
        return rc;

    /* Books of the slot still open clear first (day-ahead, then intraday). */
    for (uint32_t m = MKT_DAY_AHEAD; m <= MKT_INTRADAY; m++) {
        struct mkt_book_meta meta;
        if ((rc = mkt_book_meta_load(ctx, MKT_ELECTRICITY, m, slot, &meta)))
            return rc;
        if (meta.exists && !meta.cleared &&
            (rc = mkt_book_clear(ctx, MKT_ELECTRICITY, m, slot, false)))
            return rc;
    }
    for (uint32_t m = MKT_DAY_AHEAD; m <= MKT_INTRADAY; m++) {
        uint8_t prefix[MKT_KEY_FILL_BYTES];
        static const uint8_t zero[CHAIN_HASH_BYTES];
        mkt_key_fill(prefix, MKT_ELECTRICITY, m, slot, zero);
        fs.market = m;
        if ((rc = chain_state_scan(ctx, prefix, 16, NULL, 0, collect_fill, &fs)))
            goto out;
    }
    if (fs.n)
        qsort(fs.f, fs.n, sizeof *fs.f, cmp_fill);
    if ((rc = chain_state_scan(ctx, "mkt/p/", 6, NULL, 0, collect_part, &ps)))
        goto out;

    /* Pass 1: quantities.  Participants and fills are both in key order. */
    int64_t load = 0, gen = 0, renew_sold = 0, all_sold = 0, gsell;
    size_t k = 0;
    for (size_t i = 0; i < ps.n; i++) {
        struct pcalc *c = &ps.p[i];
        while (k < fs.n && memcmp(fs.f[k].owner, c->pk, CHAIN_PK_BYTES) < 0) {
            rc = CHAIN_ERR_STORE; /* a fill whose owner is no participant */
            goto out;
        }
        c->f0 = k;
        while (k < fs.n && memcmp(fs.f[k].owner, c->pk, CHAIN_PK_BYTES) == 0) {
            const struct sfill *f = &fs.f[k++];
            if (f->side == MKT_TX_BUY) {
                c->bought += (int64_t)f->fill_wh;
                c->mpaid += f->paid;
            } else {
                c->sold += (int64_t)f->fill_wh;
                c->mrecv += f->received;
            }
        }
        c->nf = k - c->f0;
        c->sched = c->bought - c->sold;
        c->has_meters = c->rec->nmeters > 0;
        if (c->has_meters) {
            Gl__MktMeterAgg a;
            if ((rc = load_agg(ctx, slot, c->pk, &a)))
                goto out;
            c->imp = (int64_t)a.import_wh;
            c->exp = (int64_t)a.export_wh;
            c->metered = c->imp - c->exp;
            c->missing = a.readings < c->rec->nmeters;
            load += c->imp;
            if (c->rec->renewable)
                gen += c->exp;
        } else {
            c->metered = c->sched; /* not metered: the schedule stands (README) */
        }
        c->dev = c->metered - c->sched;
        all_sold += c->sold;
        if (c->rec->renewable)
            renew_sold += c->sold;
    }
    if (k != fs.n) {
        rc = CHAIN_ERR_STORE;
        goto out;
    }
    if ((rc = grid_sell_wh(ctx, slot, &gsell)))
        goto out;
    uint32_t mu = mu_ppm(&p.p, load, gen);
    uint64_t short_price = 0, long_price = 0;
    if (tf.present) {
        short_price = (uint64_t)tf.retail + (uint64_t)tf.retail * p.p.imbalance_markup_ppm / MKT_PPM;
        long_price = (uint64_t)tf.feed_in - (uint64_t)tf.feed_in * p.p.imbalance_markup_ppm / MKT_PPM;
    }
    __int128 subsidy_req = 0;
    for (size_t i = 0; i < ps.n; i++) {
        struct pcalc *c = &ps.p[i];
        if (c->dev > 0) {
            c->price = short_price;
            c->charge = mkt_nano_ceil((__int128)c->dev * short_price);
        } else if (c->dev < 0 && !c->missing) {
            /* A missing meter counts as zero flow, so a long deviation with
             * a reading missing is not paid: silence never earns. */
            c->price = long_price;
            c->credit = mkt_nano_floor((__int128)-c->dev * long_price);
        }
        if (c->missing)
            c->penalty = (int64_t)p.p.missing_penalty_micro;
        if (c->rec->renewable && c->sold > 0 && mu != MKT_PPM) {
            int64_t delivered = c->has_meters ? (c->metered < 0 ? -c->metered : 0) : c->sold;
            if (delivered > c->sold)
                delivered = c->sold;
            uint64_t d = mu > MKT_PPM ? mu - MKT_PPM : MKT_PPM - mu;
            __int128 adj = (__int128)c->mrecv * delivered * d / ((__int128)c->sold * MKT_PPM);
            c->subsidy = mu > MKT_PPM ? (int64_t)adj : -(int64_t)adj;
            if (c->subsidy > 0)
                subsidy_req += c->subsidy;
        }
        int64_t consumed = c->metered > 0 ? c->metered : 0;
        if (consumed > c->bought)
            consumed = c->bought;
        int64_t total_sold = all_sold + gsell;
        if (total_sold > 0)
            c->points = (uint64_t)((__int128)consumed * renew_sold / total_sold);
    }

    /* Pass 2: margins back, then charges (imbalance to the grid, penalty and
     * a negative subsidy to their pools), from balance, deposit, then debt. */
    int64_t grid_recv = 0, grid_paid = 0, grid_unfunded = 0, penalties = 0, sub_coll = 0,
            sub_paid = 0;
    for (size_t i = 0; i < ps.n; i++) {
        struct pcalc *c = &ps.p[i];
        if ((rc = release_margins(ctx, &fs, c)))
            goto out;
        int64_t neg = c->subsidy < 0 ? -c->subsidy : 0;
        int64_t total = c->charge + c->penalty + neg, paid = 0;
        if (total == 0)
            continue;
        if ((rc = collect(ctx, c, total, &paid)))
            goto out;
        int64_t to_grid = paid < c->charge ? paid : c->charge;
        int64_t to_pen = paid - to_grid < c->penalty ? paid - to_grid : c->penalty;
        int64_t to_sub = paid - to_grid - to_pen;
        if (to_grid && (rc = credit_account(ctx, tf.account, to_grid)))
            goto out;
        if (to_pen && (rc = chain_pool_add(ctx, MKT_POOL_PENALTIES, to_pen)))
            goto out;
        if (to_sub && (rc = chain_pool_add(ctx, MKT_POOL_SUBSIDY, to_sub)))
            goto out;
        grid_recv += to_grid;
        penalties += to_pen;
        sub_coll += to_sub;
    }

    /* Pass 3: credits.  The grid pays long deviations in key order while its
     * balance lasts; the pool pays subsidies pro rata when it cannot pay all. */
    int64_t pool = 0;
    if (subsidy_req > 0 && (rc = pool_balance(ctx, MKT_POOL_SUBSIDY, &pool)))
        goto out;
    int64_t grid_bal = 0;
    if (tf.present) {
        struct chain_account g;
        if ((rc = chain_account_load(ctx, tf.account, &g)))
            goto out;
        grid_bal = g.exists ? g.balance : 0;
    }
    for (size_t i = 0; i < ps.n; i++) {
        struct pcalc *c = &ps.p[i];
        int64_t pay = 0;
        if (c->credit > 0) {
            int64_t g = c->credit < grid_bal ? c->credit : grid_bal;
            grid_unfunded += c->credit - g;
            c->credit = g;
            grid_bal -= g;
            if (g) {
                struct chain_account ga;
                if ((rc = chain_account_load(ctx, tf.account, &ga)))
                    goto out;
                ga.balance -= g;
                if ((rc = chain_account_store(ctx, tf.account, &ga)))
                    goto out;
            }
            grid_paid += g;
            pay += g;
        }
        if (c->subsidy > 0) {
            if (subsidy_req > pool)
                c->subsidy = (int64_t)((__int128)c->subsidy * pool / subsidy_req);
            if (c->subsidy && (rc = chain_pool_add(ctx, MKT_POOL_SUBSIDY, -c->subsidy)))
                goto out;
            sub_paid += c->subsidy;
            pay += c->subsidy;
        }
        if (pay && (rc = credit_account(ctx, c->pk, pay)))
            goto out;
    }

    /* Pass 4: strikes, points, records and bills. */
    uint64_t day = slot - slot % MKT_DAY_MS;
    uint32_t nsettled = 0;
    for (size_t i = 0; i < ps.n; i++) {
        struct pcalc *c = &ps.p[i];
        if (!c->has_meters && c->nf == 0)
            continue; /* neither metered nor trading in this slot */
        nsettled++;
        if (c->missing) {
            c->rec->strikes++;
            if (c->rec->strikes >= p.p.strike_limit && !c->rec->suspended) {
                c->rec->suspended = true;
                c->suspended_now = true;
            }
        }
        if (__builtin_add_overflow(c->rec->points, c->points, &c->rec->points)) {
            rc = CHAIN_ERR_STORE;
            goto out;
        }
        if ((rc = mkt_participant_store(ctx, c->pk, c->rec)))
            goto out;
        Gl__MktSettlement s = GL__MKT_SETTLEMENT__INIT;
        s.scheduled_net_wh = c->sched;
        s.metered_net_wh = c->metered;
        s.deviation_wh = c->dev;
        s.meters = c->rec->nmeters;
        s.missing = c->missing;
        if (c->has_meters) {
            Gl__MktMeterAgg a;
            if ((rc = load_agg(ctx, slot, c->pk, &a)))
                goto out;
            s.readings = a.readings;
        }
        s.market_paid = c->mpaid;
        s.market_received = c->mrecv;
        s.imbalance_price = c->price;
        s.imbalance_charge = (uint64_t)c->charge;
        s.imbalance_credit = (uint64_t)c->credit;
        s.penalty = (uint64_t)c->penalty;
        s.subsidy = c->subsidy;
        s.margin_released = c->margin;
        s.from_balance = (uint64_t)c->from_bal;
        s.from_deposit = (uint64_t)c->from_dep;
        s.debt_added = (uint64_t)c->debt_added;
        s.points = c->points;
        s.suspended = c->suspended_now;
        s.renewable = c->rec->renewable;
        uint8_t sk[MKT_KEY_SETTLEMENT_BYTES];
        mkt_key_settlement(sk, slot, c->pk);
        if ((rc = chain_state_put_msg(ctx, sk, sizeof sk, &s.base)) ||
            (rc = bill_add(ctx, day, c->pk, &s, 0)))
            goto out;
    }
    Gl__MktSlotSettlement r = GL__MKT_SLOT_SETTLEMENT__INIT;
    r.mu_ppm = mu;
    r.renewable_export_wh = (uint64_t)gen;
    r.load_wh = (uint64_t)load;
    r.participants = nsettled;
    r.subsidy_paid = (uint64_t)sub_paid;
    r.subsidy_collected = (uint64_t)sub_coll;
    r.grid_received = (uint64_t)grid_recv;
    r.grid_paid = (uint64_t)grid_paid;
    r.grid_unfunded = (uint64_t)grid_unfunded;
    r.penalties = (uint64_t)penalties;
    r.has_tariff = tf.present;
    if (tf.present)
        r.grid_account = (ProtobufCBinaryData){CHAIN_PK_BYTES, tf.account};
    r.height = ctx->height;
    r.time_ms = ctx->time_ms;
    uint8_t rk[MKT_KEY_SLOT_SETTLEMENT_BYTES];
    mkt_key_slot_settlement(rk, slot);
    rc = chain_state_put_msg(ctx, rk, sizeof rk, &r.base);
out:
    for (size_t i = 0; i < ps.n; i++)
        gl__mkt_participant__free_unpacked(ps.p[i].rec, NULL);
    free(ps.p);
    free(fs.f);
    return rc;
}

/* ---- the end-of-block hook ---- */

struct due {
    uint8_t keys[MKT_SETTLEMENTS_PER_BLOCK_MAX][MKT_KEY_SETTLE_QUEUE_BYTES];
    size_t n;
    uint64_t now;
};

static int collect_due(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct due *d = arg;
    (void)val;
    (void)vlen;
    if (klen != MKT_KEY_SETTLE_QUEUE_BYTES)
        return CHAIN_ERR_STORE;
    if (get_be64(key + 7) > d->now || d->n == MKT_SETTLEMENTS_PER_BLOCK_MAX)
        return 1; /* in due order: nothing later is due */
    memcpy(d->keys[d->n++], key, MKT_KEY_SETTLE_QUEUE_BYTES);
    return 0;
}

struct debtors {
    uint8_t pk[MKT_DEBT_SWEEP_PER_BLOCK_MAX][CHAIN_PK_BYTES];
    size_t n;
};

static int collect_debtor(void *arg, const uint8_t *key, size_t klen, const uint8_t *val,
                          size_t vlen)
{
    struct debtors *d = arg;
    (void)val;
    (void)vlen;
    if (klen != MKT_KEY_DEBTOR_BYTES)
        return CHAIN_ERR_STORE;
    if (d->n == MKT_DEBT_SWEEP_PER_BLOCK_MAX)
        return 1;
    memcpy(d->pk[d->n++], key + 9, CHAIN_PK_BYTES);
    return 0;
}

/* Repay a debtor's settlement debt from its balance (income and recharges
 * land there), into pool "debt-recovery". */
static int repay(struct chain_exec_ctx *ctx, const uint8_t *pk)
{
    Gl__MktParticipant *part;
    struct chain_account a;
    int rc = mkt_participant_load(ctx, pk, &part);
    if (rc)
        return rc == CHAIN_ERR_NOT_FOUND ? CHAIN_ERR_STORE : rc;
    if ((rc = chain_account_load(ctx, pk, &a)))
        goto out;
    int64_t r = (int64_t)umin(part->debt, a.balance > 0 ? (uint64_t)a.balance : 0);
    if (r > 0) {
        a.balance -= r;
        part->debt -= (uint64_t)r;
        if ((rc = chain_account_store(ctx, pk, &a)) ||
            (rc = chain_pool_add(ctx, MKT_POOL_DEBT_RECOVERY, r)) ||
            (rc = mkt_participant_store(ctx, pk, part)) ||
            (rc = bill_add(ctx, ctx->time_ms - ctx->time_ms % MKT_DAY_MS, pk, NULL, (uint64_t)r)))
            goto out;
    }
    if (part->debt == 0) {
        uint8_t dk[MKT_KEY_DEBTOR_BYTES];
        key_debtor(dk, pk);
        rc = chain_state_del(ctx, dk, sizeof dk);
    }
out:
    gl__mkt_participant__free_unpacked(part, NULL);
    return rc;
}

int mkt_settle_end_block(struct chain_exec_ctx *ctx, void *arg)
{
    (void)arg;
    struct due *d = malloc(sizeof *d);
    struct debtors *db = malloc(sizeof *db);
    int rc = CHAIN_ERR_NOMEM;
    if (!d || !db)
        goto out;
    d->n = 0;
    d->now = ctx->time_ms;
    if ((rc = chain_state_scan(ctx, "mkt/sq/", 7, NULL, 0, collect_due, d)) < 0)
        goto out;
    for (size_t i = 0; i < d->n; i++) {
        uint64_t slot = get_be64(d->keys[i] + 15);
        if ((rc = mkt_slot_settled(ctx, slot)) < 0)
            goto out;
        if (rc == 0 && (rc = mkt_settle_slot(ctx, slot)))
            goto out;
        /* Deleted after settling: clearing a late book inside re-puts it. */
        if ((rc = chain_state_del(ctx, d->keys[i], MKT_KEY_SETTLE_QUEUE_BYTES)))
            goto out;
    }
    db->n = 0;
    if ((rc = chain_state_scan(ctx, "mkt/debt/", 9, NULL, 0, collect_debtor, db)) < 0)
        goto out;
    rc = CHAIN_ERR_OK;
    for (size_t i = 0; i < db->n && !rc; i++)
        rc = repay(ctx, db->pk[i]);
out:
    free(d);
    free(db);
    return rc;
}
