/* mkt_book.c -- clearing one book from state, and the end-of-block hook.
 *
 * A book is (commodity, market, slot).  Its open orders are read with a
 * prefix scan of its index (keys in arrival order), run through the pure
 * clearing core (mkt_clear.h), and the outcome is written back: money moved
 * against the locks, the result, each order's fill and each pair trade under
 * provable state keys, and day-ahead residuals moved into the intraday book.
 * The money rules are in market/README.md ("Transactions, state and money"). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "chain_ledger.h"
#include "chain_scan.h"
#include "mkt_clear.h"
#include "mkt_settle.h"
#include "mkt_state.h"

/* A participant index nobody has: an allowed counterparty that is no
 * longer a participant or the grid of this slot matches no one. */
#define NOBODY UINT32_C(0xfffffffd)

struct entry {
    uint8_t id[CHAIN_HASH_BYTES];
    Gl__MktOrder *o;
    uint32_t pidx, bus;
    bool renewable;
    bool included;
    uint32_t *sets; /* allowed then excluded, as participant indices */
    struct mkt_prefs prefs;
    __int128 nano; /* buyer: owed; seller: earned */
};

struct book {
    struct entry *e;
    size_t n, cap;
};

static int collect_id(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct book *b = arg;
    (void)key;
    if (klen != MKT_KEY_BOOKIDX_BYTES || vlen != CHAIN_HASH_BYTES)
        return CHAIN_ERR_STORE;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct entry *e = realloc(b->e, cap * sizeof *e);
        if (!e)
            return CHAIN_ERR_NOMEM;
        b->e = e;
        b->cap = cap;
    }
    memset(&b->e[b->n], 0, sizeof b->e[b->n]);
    memcpy(b->e[b->n].id, val, CHAIN_HASH_BYTES);
    b->n++;
    return 0;
}

static void book_free(struct book *b)
{
    for (size_t i = 0; i < b->n; i++) {
        if (b->e[i].o)
            gl__mkt_order__free_unpacked(b->e[i].o, NULL);
        free(b->e[i].sets);
    }
    free(b->e);
}

static int counterparty_index(struct chain_exec_ctx *ctx, const struct mkt_tariff *t, const uint8_t *pk,
                              uint32_t *idx)
{
    Gl__MktParticipant *p;
    if (t->present && memcmp(pk, t->account, CHAIN_PK_BYTES) == 0) {
        *idx = MKT_GRID_PARTICIPANT;
        return CHAIN_ERR_OK;
    }
    int rc = mkt_participant_load(ctx, pk, &p);
    if (rc == CHAIN_ERR_NOT_FOUND) {
        *idx = NOBODY;
        return CHAIN_ERR_OK;
    }
    if (rc)
        return rc;
    *idx = p->index;
    gl__mkt_participant__free_unpacked(p, NULL);
    return CHAIN_ERR_OK;
}

/* Translate an order's partner preferences into the core's form. */
static int entry_prefs(struct chain_exec_ctx *ctx, const struct mkt_tariff *t, struct entry *e)
{
    const Gl__MktOrder *o = e->o;
    if (!o->n_allowed && !o->n_excluded && !o->premium_renewable && !o->premium_local)
        return CHAIN_ERR_OK;
    size_t n = o->n_allowed + o->n_excluded;
    e->sets = malloc((n ? n : 1) * sizeof *e->sets);
    if (!e->sets)
        return CHAIN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const ProtobufCBinaryData *k =
            i < o->n_allowed ? &o->allowed[i] : &o->excluded[i - o->n_allowed];
        if (k->len != CHAIN_PK_BYTES)
            return CHAIN_ERR_STORE;
        int rc = counterparty_index(ctx, t, k->data, &e->sets[i]);
        if (rc)
            return rc;
    }
    e->prefs.allowed = o->n_allowed ? e->sets : NULL;
    e->prefs.nallowed = (uint32_t)o->n_allowed;
    e->prefs.excluded = o->n_excluded ? e->sets + o->n_allowed : NULL;
    e->prefs.nexcluded = (uint32_t)o->n_excluded;
    e->prefs.premium_renewable_micro_per_kwh = (int64_t)o->premium_renewable;
    e->prefs.premium_local_micro_per_kwh = (int64_t)o->premium_local;
    return CHAIN_ERR_OK;
}

static int core_err(int rc)
{
    return rc == MKT_ERR_NOMEM ? CHAIN_ERR_NOMEM : CHAIN_ERR_INTERNAL;
}

/* Close an order without a fill in this book: release its lock. */
static int close_unfilled(struct chain_exec_ctx *ctx, struct entry *e, uint32_t status)
{
    Gl__MktOrder *o = e->o;
    int rc;
    if (o->locked && (rc = mkt_unlock(ctx, o->owner.data, (int64_t)o->locked)))
        return rc;
    o->locked = 0;
    o->open_wh = 0;
    o->status = status;
    return mkt_order_store(ctx, e->id, o);
}

/* Move the open remainder of a day-ahead order into the intraday book of its
 * slot.  *moved is false when that book is closed or full (the caller then
 * closes the order instead).  The order's lock is adjusted by the caller. */
static int roll_to_intraday(struct chain_exec_ctx *ctx, const struct mkt_params *p, struct entry *e,
                            bool *moved)
{
    Gl__MktOrder *o = e->o;
    struct mkt_book_meta meta;
    *moved = false;
    int rc = mkt_book_gate(ctx, p, o->commodity, MKT_INTRADAY, o->slot_start_ms, &meta);
    if (rc)
        return rc;
    if (meta.cleared || meta.norders >= MKT_BOOK_MAX_ORDERS || ctx->time_ms >= meta.gate_ms)
        return CHAIN_ERR_OK;
    o->market = MKT_INTRADAY;
    meta.norders++;
    if ((rc = mkt_book_index_put(ctx, o, e->id)) ||
        (rc = mkt_book_meta_store(ctx, o->commodity, MKT_INTRADAY, o->slot_start_ms, &meta)))
        return rc;
    *moved = true;
    return CHAIN_ERR_OK;
}

/* Grid account: pays `pay` (checked to be covered) and receives `recv`. */
static int grid_settle(struct chain_exec_ctx *ctx, const uint8_t *pk, int64_t pay, int64_t recv)
{
    struct chain_account a;
    int rc = chain_account_load(ctx, pk, &a);
    if (rc)
        return rc;
    if (a.balance < pay)
        return CHAIN_ERR_INTERNAL; /* checked before: cannot happen */
    a.balance -= pay;
    if (chain_money_add(&a.balance, recv))
        return CHAIN_ERR_STORE;
    return chain_account_store(ctx, pk, &a);
}

struct outcome {
    struct mkt_auction_result au;
    struct mkt_p2p_result pp;
    bool p2p;
    int64_t price, price_lo, price_hi, volume, grid_buy_wh, grid_sell_wh;
    __int128 welfare;
    const int64_t *fill;
};

static void outcome_deinit(struct outcome *r)
{
    mkt_auction_result_deinit(&r->au);
    mkt_p2p_result_deinit(&r->pp);
}

static int run_core(const struct mkt_params *p, const struct mkt_book *bk, struct outcome *r)
{
    int rc;
    memset(r, 0, sizeof *r);
    if (p->p.mechanism == MKT_MECH_P2P) {
        struct mkt_fees fees = {
            .model = (uint8_t)(p->p.fee_model - 1), /* MKT_TX_FEE_* is the core's enum + 1 */
            .rate_micro_per_kwh = (int64_t)p->p.fee_rate_micro_per_kwh,
            .nbus = p->p.fee_model == MKT_TX_FEE_UNIFORM ? MKT_PARAMS_MAX_BUS : p->p.nbus,
            .matrix = p->p.fee_model == MKT_TX_FEE_UNIFORM ? NULL : p->p.fee_matrix,
        };
        r->p2p = true;
        if ((rc = mkt_p2p_clear(bk, &fees, MKT_P2P_AUTO, &r->pp)))
            return rc;
        r->volume = r->pp.volume_wh;
        r->welfare = r->pp.welfare;
        r->grid_buy_wh = r->pp.grid_buy_wh;
        r->grid_sell_wh = r->pp.grid_sell_wh;
        r->fill = r->pp.fill_wh;
    } else {
        if ((rc = mkt_auction_clear(bk, &r->au)))
            return rc;
        r->price = r->au.price_micro_per_kwh;
        r->price_lo = r->au.price_lo_micro_per_kwh;
        r->price_hi = r->au.price_hi_micro_per_kwh;
        r->volume = r->au.volume_wh;
        r->welfare = r->au.welfare;
        r->grid_buy_wh = r->au.grid_buy_wh;
        r->grid_sell_wh = r->au.grid_sell_wh;
        r->fill = r->au.fill_wh;
    }
    return MKT_OK;
}

/* What the grid would pay for its purchases, in nano-units. */
static __int128 grid_buy_nano(const struct outcome *r)
{
    if (!r->p2p)
        return (__int128)r->price * r->grid_buy_wh;
    __int128 n = 0;
    for (size_t k = 0; k < r->pp.ntrades; k++) {
        const struct mkt_trade *t = &r->pp.trades[k];
        if (t->buy == MKT_GRID_BUY)
            n += (__int128)(t->price_micro_per_kwh + (t->fee_micro_per_kwh + 1) / 2) * t->qty_wh;
    }
    return n;
}

int mkt_book_clear(struct chain_exec_ctx *ctx, uint32_t commodity, uint32_t market, uint64_t slot,
                   bool by_operator)
{
    struct mkt_params p;
    struct mkt_book_meta meta;
    struct mkt_tariff tf;
    struct book b = {0};
    struct mkt_order *orders = NULL;
    uint32_t *map = NULL;      /* core index -> entry index */
    int64_t *zero_fill = NULL; /* fills of a book the core refused */
    struct outcome r;
    bool have_outcome = false, unfunded = false;
    uint8_t prefix[MKT_KEY_BOOKIDX_BYTES];
    int rc;

    if ((rc = mkt_params_load(ctx, &p)) ||
        (rc = mkt_book_meta_load(ctx, commodity, market, slot, &meta)) ||
        (rc = mkt_tariff_load(ctx, commodity, slot, &tf)))
        return rc;
    assert(meta.exists && !meta.cleared);
    mkt_key_bookidx(prefix, commodity, market, slot,
                    0); /* the first 16 bytes are the book's prefix */
    if ((rc = chain_state_scan(ctx, prefix, 16, NULL, 0, collect_id, &b)))
        goto out;
    orders = calloc(b.n ? b.n : 1, sizeof *orders);
    map = calloc(b.n ? b.n : 1, sizeof *map);
    if (!orders || !map) {
        rc = CHAIN_ERR_NOMEM;
        goto out;
    }
    bool p2p = p.p.mechanism == MKT_MECH_P2P;
    size_t n = 0;
    for (size_t i = 0; i < b.n; i++) {
        struct entry *e = &b.e[i];
        Gl__MktParticipant *part;
        if ((rc = mkt_order_load(ctx, e->id, &e->o)))
            goto out; /* NOT_FOUND included: the index names only stored orders */
        Gl__MktOrder *o = e->o;
        if (o->status != MKT_ORDER_OPEN || o->market != market || o->open_wh == 0 ||
            o->open_wh > (uint64_t)MKT_MAX_QTY_WH || o->price > (uint64_t)MKT_MAX_PRICE) {
            rc = CHAIN_ERR_STORE;
            goto out;
        }
        if ((rc = mkt_book_index_del(ctx, o)))
            goto out;
        if (o->valid_until_ms != 0 && o->valid_until_ms < ctx->time_ms) {
            if ((rc = close_unfilled(ctx, e, MKT_ORDER_EXPIRED)))
                goto out;
            continue;
        }
        if (o->valid_from_ms > ctx->time_ms) { /* not valid yet: intraday may still take it */
            bool moved = false;
            if (market == MKT_DAY_AHEAD && (rc = roll_to_intraday(ctx, &p, e, &moved)))
                goto out;
            if ((rc = moved ? mkt_order_store(ctx, e->id, o)
                            : close_unfilled(ctx, e, MKT_ORDER_EXPIRED)))
                goto out;
            continue;
        }
        rc = mkt_participant_load(ctx, o->owner.data, &part);
        if (rc)
            goto out; /* participants are never removed: NOT_FOUND is broken state too */
        e->pidx = part->index;
        e->bus = part->bus;
        e->renewable = part->renewable;
        gl__mkt_participant__free_unpacked(part, NULL);
        if (p2p && p.p.fee_model != MKT_TX_FEE_UNIFORM && e->bus >= p.p.nbus) {
            /* The fee matrix shrank below this participant's bus since it ordered. */
            if ((rc = close_unfilled(ctx, e, MKT_ORDER_EXPIRED)))
                goto out;
            continue;
        }
        if (p2p && (rc = entry_prefs(ctx, &tf, e)))
            goto out;
        e->included = true;
        orders[n] = (struct mkt_order){
            .id = (uint32_t)n,
            .participant = e->pidx,
            .bus = p2p ? e->bus : 0,
            .side = o->side == MKT_TX_BUY ? MKT_BUY : MKT_SELL,
            .flags = (uint8_t)(o->side == MKT_TX_SELL && e->renewable ? MKT_ORDER_RENEWABLE : 0),
            .qty_wh = (int64_t)o->open_wh,
            .price_micro_per_kwh = (int64_t)o->price,
            .arrival = o->arrival,
            .prefs = e->sets ? &e->prefs : NULL,
        };
        map[n++] = (uint32_t)i;
    }

    bool prefs_ignored = false;
    if (p2p) {
        uint64_t nbuy = 0, nsell = 0;
        bool any = false;
        for (size_t k = 0; k < n; k++) {
            nbuy += orders[k].side == MKT_BUY;
            nsell += orders[k].side == MKT_SELL;
            any |= orders[k].prefs != NULL;
        }
        if (any && nbuy * nsell > MKT_DENSE_MAX_PAIRS) {
            for (size_t k = 0; k < n; k++)
                orders[k].prefs = NULL;
            prefs_ignored = true;
        }
    }
    struct mkt_grid grid = {tf.retail, tf.feed_in, p.p.grid_bus};
    struct mkt_book bk = {orders, n, tf.present ? &grid : NULL};
    int refused = run_core(&p, &bk, &r);
    if (refused) {
        /* The core refuses this book (only parameters that slipped past the
         * decoder could cause it).  A block must not fail over a book, so the
         * book closes without trades, every order unfilled, and the result
         * names the refusal. */
        outcome_deinit(&r);
        if (refused == MKT_ERR_NOMEM) {
            rc = CHAIN_ERR_NOMEM;
            goto out;
        }
        zero_fill = calloc(n ? n : 1, sizeof *zero_fill);
        if (!zero_fill) {
            rc = CHAIN_ERR_NOMEM;
            goto out;
        }
        memset(&r, 0, sizeof r); /* no trades, no price; deinit of it frees nothing */
        r.p2p = p2p;
        r.fill = zero_fill;
    }
    have_outcome = true;
    if (!refused && tf.present && r.grid_buy_wh > 0) {
        struct chain_account ga;
        if ((rc = chain_account_load(ctx, tf.account, &ga)))
            goto out;
        if ((__int128)ga.balance < (grid_buy_nano(&r) + 999) / 1000) {
            /* The grid cannot pay for what it would buy: clear again with a
             * feed-in price of 0, at which the grid's purchases cost nothing. */
            outcome_deinit(&r);
            have_outcome = false;
            grid.feed_in_micro_per_kwh = 0;
            unfunded = true;
            if ((rc = run_core(&p, &bk, &r))) {
                rc = core_err(rc);
                goto out;
            }
            have_outcome = true;
            assert(grid_buy_nano(&r) == 0);
        }
    }

    /* Money owed and earned per order, and by the grid, in nano-units. */
    __int128 grid_pay_nano = 0, grid_recv_nano = 0, fee_nano = 0;
    if (r.p2p) {
        for (size_t k = 0; k < r.pp.ntrades; k++) {
            const struct mkt_trade *t = &r.pp.trades[k];
            __int128 bn =
                (__int128)(t->price_micro_per_kwh + (t->fee_micro_per_kwh + 1) / 2) * t->qty_wh;
            __int128 sn = (__int128)(t->price_micro_per_kwh - t->fee_micro_per_kwh / 2) * t->qty_wh;
            assert(sn >= 0);
            fee_nano += (__int128)t->fee_micro_per_kwh * t->qty_wh;
            if (t->buy == MKT_GRID_BUY)
                grid_pay_nano += bn;
            else
                b.e[map[t->buy]].nano += bn;
            if (t->sell == MKT_GRID_SELL)
                grid_recv_nano += sn;
            else
                b.e[map[t->sell]].nano += sn;
        }
    } else {
        for (size_t k = 0; k < n; k++)
            b.e[map[k]].nano = (__int128)r.price * r.fill[k];
        grid_pay_nano = (__int128)r.price * r.grid_buy_wh;
        grid_recv_nano = (__int128)r.price * r.grid_sell_wh;
    }

    /* The grid first: its balance was checked against its purchases above, and
     * nothing below may spend from it before (a residual's extra lock could). */
    int64_t grid_pay = mkt_nano_ceil(grid_pay_nano), grid_recv = mkt_nano_floor(grid_recv_nano);
    if (tf.present && (grid_pay || grid_recv) &&
        (rc = grid_settle(ctx, tf.account, grid_pay, grid_recv)))
        goto out;
    int64_t total_paid = grid_pay, total_recv = grid_recv;
    for (size_t k = 0; k < n; k++) {
        struct entry *e = &b.e[map[k]];
        Gl__MktOrder *o = e->o;
        int64_t fill = r.fill[k], locked = (int64_t)o->locked;
        int64_t open = (int64_t)o->open_wh, resid = open - fill;
        int64_t pay = 0, recv = 0, held = 0, release = 0, new_locked = 0;
        assert(fill >= 0 && resid >= 0);
        bool roll = false;
        if (market == MKT_DAY_AHEAD && resid > 0 && (rc = roll_to_intraday(ctx, &p, e, &roll)))
            goto out;
        if (o->side == MKT_TX_BUY) {
            pay = mkt_nano_ceil(e->nano);
            /* Every trade is at most the limit per kWh, so the fill costs at
             * most ceil(limit * fill / 1000) <= the lock. */
            assert(pay <= locked);
            int64_t remaining = locked - pay;
            if (roll) {
                int64_t need = mkt_nano_ceil((__int128)o->price * resid);
                if (remaining >= need) {
                    release = remaining - need;
                    new_locked = need;
                } else {
                    /* Rounding: the residual's lock may need one micro-unit more. */
                    rc = mkt_lock(ctx, o->owner.data, need - remaining);
                    if (rc == MKT_ERR_INSUFFICIENT_FUNDS) {
                        roll = false; /* it leaves the intraday book again, unfilled */
                        if ((rc = mkt_book_index_del(ctx, o)))
                            goto out;
                        o->market = MKT_DAY_AHEAD;
                    } else if (rc) {
                        goto out;
                    } else {
                        new_locked = need;
                        locked += need - remaining;
                        remaining = need;
                    }
                }
            }
            if (!roll)
                release = remaining;
        } else {
            recv = mkt_nano_floor(e->nano);
            held = open ? (int64_t)((__int128)locked * fill / open) : 0;
            if (roll)
                new_locked = locked - held;
            else
                release = locked - held;
        }
        if ((rc = mkt_account_settle(ctx, o->owner.data, pay, release, recv)))
            goto out;
        total_paid += pay;
        total_recv += recv;

        Gl__MktFill f = GL__MKT_FILL__INIT;
        f.owner = o->owner;
        f.side = o->side;
        f.qty_wh = (uint64_t)open;
        f.fill_wh = (uint64_t)fill;
        f.paid = (uint64_t)pay;
        f.received = (uint64_t)recv;
        f.margin_held = (uint64_t)held;
        uint8_t fk[MKT_KEY_FILL_BYTES];
        mkt_key_fill(fk, commodity, market, slot, e->id);
        if ((rc = chain_state_put_msg(ctx, fk, sizeof fk, &f.base)))
            goto out;

        o->filled_wh += (uint64_t)fill;
        o->paid += (uint64_t)pay;
        o->received += (uint64_t)recv;
        o->margin_held += (uint64_t)held;
        o->locked = (uint64_t)new_locked;
        o->open_wh = roll ? (uint64_t)resid : 0;
        o->status = roll ? MKT_ORDER_OPEN : MKT_ORDER_CLOSED;
        if ((rc = mkt_order_store(ctx, e->id, o)))
            goto out;
    }

    int64_t fees = mkt_nano_floor(fee_nano);
    int64_t rounding = total_paid - total_recv - fees;
    assert(rounding >= 0); /* ceilings for payers, floors for payees (README) */
    if (fees && (rc = chain_pool_add(ctx, MKT_POOL_GRID_FEES, fees)))
        goto out;
    if (rounding &&
        (rc = chain_pool_add(ctx, r.p2p ? MKT_POOL_FEE_ROUNDING : MKT_POOL_CLEARING_ROUNDING,
                             rounding)))
        goto out;

    if (r.p2p) {
        for (size_t k = 0; k < r.pp.ntrades; k++) {
            const struct mkt_trade *t = &r.pp.trades[k];
            Gl__MktTrade x = GL__MKT_TRADE__INIT;
            if (t->buy != MKT_GRID_BUY)
                x.buy = (ProtobufCBinaryData){CHAIN_HASH_BYTES, b.e[map[t->buy]].id};
            if (t->sell != MKT_GRID_SELL)
                x.sell = (ProtobufCBinaryData){CHAIN_HASH_BYTES, b.e[map[t->sell]].id};
            x.qty_wh = (uint64_t)t->qty_wh;
            x.price = (uint64_t)t->price_micro_per_kwh;
            x.fee = (uint64_t)t->fee_micro_per_kwh;
            uint8_t xk[MKT_KEY_TRADE_BYTES];
            mkt_key_trade(xk, commodity, market, slot, (uint32_t)k);
            if ((rc = chain_state_put_msg(ctx, xk, sizeof xk, &x.base)))
                goto out;
        }
    }

    char welfare[MKT_I128_DEC_BYTES];
    Gl__MktResult res = GL__MKT_RESULT__INIT;
    res.mechanism = p.p.mechanism;
    res.price = (uint64_t)r.price;
    res.price_lo = (uint64_t)r.price_lo;
    res.price_hi = (uint64_t)r.price_hi;
    res.volume_wh = (uint64_t)r.volume;
    res.welfare_nano = mkt_i128_format(r.welfare, welfare);
    res.grid_buy_wh = (uint64_t)r.grid_buy_wh;
    res.grid_sell_wh = (uint64_t)r.grid_sell_wh;
    res.has_grid = tf.present;
    res.retail = (uint64_t)tf.retail;
    res.feed_in = (uint64_t)tf.feed_in;
    res.grid_buy_unfunded = unfunded;
    res.fees = (uint64_t)fees;
    res.rounding = (uint64_t)rounding;
    res.norders = (uint32_t)n;
    res.ntrades = r.p2p ? (uint32_t)r.pp.ntrades : 0;
    res.height = ctx->height;
    res.time_ms = ctx->time_ms;
    res.by_operator = by_operator;
    res.prefs_ignored = prefs_ignored;
    res.refused = refused;
    if (tf.present)
        res.grid_account = (ProtobufCBinaryData){CHAIN_PK_BYTES, tf.account};
    uint8_t rk[MKT_KEY_RESULT_BYTES];
    mkt_key_result(rk, commodity, market, slot);
    if ((rc = chain_state_put_msg(ctx, rk, sizeof rk, &res.base)))
        goto out;

    uint8_t qk[MKT_KEY_QUEUE_BYTES];
    mkt_key_queue(qk, meta.gate_ms, commodity, market, slot);
    if ((rc = chain_state_del(ctx, qk, sizeof qk)))
        goto out;
    meta.cleared = true;
    if ((rc = mkt_book_meta_store(ctx, commodity, market, slot, &meta)))
        goto out;
    /* Electricity that traded is settled against the meters (mkt_settle.c). */
    if (commodity == MKT_ELECTRICITY && n > 0)
        rc = mkt_settle_enqueue(ctx, &p.p, slot);
out:
    if (have_outcome)
        outcome_deinit(&r);
    free(orders);
    free(map);
    free(zero_fill);
    book_free(&b);
    return rc;
}

/* ---- the end-of-block hook ---- */

struct due {
    uint8_t (*keys)[MKT_KEY_QUEUE_BYTES];
    size_t n, max;
    uint64_t now;
};

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int collect_due(void *arg, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen)
{
    struct due *d = arg;
    (void)val;
    (void)vlen;
    if (klen != MKT_KEY_QUEUE_BYTES)
        return CHAIN_ERR_STORE;
    if (get_be64(key + 6) > d->now || d->n == d->max)
        return 1; /* keys are in gate order: nothing later is due */
    memcpy(d->keys[d->n++], key, MKT_KEY_QUEUE_BYTES);
    return 0;
}

static int clear_due(struct chain_exec_ctx *ctx, uint32_t c, uint32_t m, uint64_t slot,
                     size_t *done)
{
    struct mkt_book_meta meta;
    int rc = mkt_book_meta_load(ctx, c, m, slot, &meta);
    if (rc)
        return rc;
    if (!meta.exists || meta.cleared)
        return CHAIN_ERR_STORE; /* a queued book exists and is not cleared */
    if (m == MKT_INTRADAY) {
        /* The intraday book trades the day-ahead residual: that book first,
         * even if parameters changed so that its gate is later. */
        struct mkt_book_meta da;
        if ((rc = mkt_book_meta_load(ctx, c, MKT_DAY_AHEAD, slot, &da)))
            return rc;
        if (da.exists && !da.cleared) {
            if ((rc = mkt_book_clear(ctx, c, MKT_DAY_AHEAD, slot, false)))
                return rc;
            ++*done;
        }
    }
    ++*done;
    return mkt_book_clear(ctx, c, m, slot, false);
}

int mkt_end_block(struct chain_exec_ctx *ctx, void *arg)
{
    uint8_t keys[MKT_CLEARINGS_PER_BLOCK_MAX][MKT_KEY_QUEUE_BYTES];
    size_t done = 0;
    (void)arg;
    /* Rescan after each round: clearing a day-ahead book can open an
     * intraday book whose gate has passed too. */
    while (done < MKT_CLEARINGS_PER_BLOCK_MAX) {
        struct due d = {keys, 0, MKT_CLEARINGS_PER_BLOCK_MAX - done, ctx->time_ms};
        int rc = chain_state_scan(ctx, "mkt/q/", 6, NULL, 0, collect_due, &d);
        if (rc < 0)
            return rc;
        if (d.n == 0)
            return CHAIN_ERR_OK;
        for (size_t i = 0; i < d.n && done < MKT_CLEARINGS_PER_BLOCK_MAX; i++) {
            const uint8_t *k = keys[i];
            uint64_t slot = get_be64(k + 16);
            struct mkt_book_meta meta;
            if ((rc = mkt_book_meta_load(ctx, k[14], k[15], slot, &meta)))
                return rc;
            if (meta.cleared) { /* cleared above as the day-ahead book of an intraday one */
                done++;         /* (counted, so that the loop ends whatever state holds) */
                continue;
            }
            if ((rc = clear_due(ctx, k[14], k[15], slot, &done)))
                return rc;
        }
    }
    return CHAIN_ERR_OK;
}
