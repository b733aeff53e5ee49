/* test_mkt_tx_prop.c -- random trading days on a real chain, over many seeds.
 *
 * Each seed registers eight participants, sets random market parameters
 * (uniform or P2P with a random fee model), posts random grid tariffs, then
 * runs a day: blocks of random orders (day-ahead and intraday, with validity
 * windows and partner preferences) and cancels (some by the wrong signer),
 * operator clearings, the day-ahead gate and every intraday gate.  Checked:
 *   - the supply invariant after every block (fx_block);
 *   - only clearing blocks produce results, and every book whose gate passed
 *     is cleared in the first block past it;
 *   - a naive reference agrees with every stored result: the book is rebuilt
 *     by a full scan of all committed orders (not the book index), filtered
 *     by the validity rules, cleared by mkt_auction_clear / mkt_p2p_clear,
 *     and its price, volume, welfare, grid fills, each order's fill and
 *     money, each pair trade, the fees and the rounding are compared;
 *   - at the end of the day every account holds exactly: locked = deposit +
 *     margins held, balance = start - deposit - paid + received - margins.
 * A failure prints the seed. */
#include "mtx_fixture.h"

#define NP     8 /* participants: keys FX_ALICE .. FX_ALICE+7 */
#define P0     FX_ALICE
#define NSLOT  4
#define MINTED (500 * CHAIN_MICRO_PER_TOKEN)

static int quick(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 1;
#endif
    const char *q = getenv("GL_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

struct model {
    uint8_t (*ids)[CHAIN_HASH_BYTES];
    int *owner;
    size_t n, cap;
    uint64_t deposit[FX_KEYS];
    int64_t start[FX_KEYS];
    bool p2p;
};

static void model_add(struct model *m, const uint8_t id[CHAIN_HASH_BYTES], int owner)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 64;
        m->ids = realloc(m->ids, m->cap * CHAIN_HASH_BYTES);
        m->owner = realloc(m->owner, m->cap * sizeof *m->owner);
        assert_non_null(m->ids);
        assert_non_null(m->owner);
    }
    memcpy(m->ids[m->n], id, CHAIN_HASH_BYTES);
    m->owner[m->n++] = owner;
}

/* What the random days exercised, printed at the end so that a generator
 * that stops reaching a path shows. */
static struct {
    size_t books, filled_orders, trades, grid_trades, unfunded, skipped_invalid, refused, placed;
} stats;

/* ---- reading committed state naively ---- */

struct snap {
    uint32_t c, m;
    uint64_t slot;
    struct mkt_book_meta meta;
    Gl__MktOrder **o;
    uint8_t (*id)[CHAIN_HASH_BYTES];
    size_t n;
};

static void snap_free(struct snap *s)
{
    for (size_t i = 0; i < s->n; i++)
        gl__mkt_order__free_unpacked(s->o[i], NULL);
    free(s->o);
    free(s->id);
    memset(s, 0, sizeof *s);
}

static void read_meta(struct fx *f, uint32_t c, uint32_t m, uint64_t slot,
                      struct mkt_book_meta *out)
{
    uint8_t k[MKT_KEY_BOOK_BYTES];
    mkt_key_book(k, c, m, slot);
    Gl__MktBookMeta *b = (Gl__MktBookMeta *)mt_get(f, k, sizeof k, &gl__mkt_book_meta__descriptor);
    memset(out, 0, sizeof *out);
    if (b) {
        out->exists = true;
        out->cleared = b->cleared;
        out->gate_ms = b->gate_ms;
        out->norders = b->norders;
        gl__mkt_book_meta__free_unpacked(b, NULL);
    }
}

/* Every open order of the book, found by a full scan of "mkt/o/". */
static void snap_book(struct fx *f, uint32_t c, uint32_t m, uint64_t slot, struct snap *s)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    memset(s, 0, sizeof *s);
    s->c = c;
    s->m = m;
    s->slot = slot;
    read_meta(f, c, m, slot, &s->meta);
    assert_int_equal(mdb_txn_begin(f->c.store.env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_cursor_open(txn, f->c.store.state, &cur), 0);
    MDB_val k, v;
    size_t cap = 0;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != MKT_KEY_ORDER_BYTES || memcmp(k.mv_data, "mkt/o/", 6) != 0)
            continue;
        ProtobufCMessage *msg;
        assert_int_equal(chain_pb_unpack(&gl__mkt_order__descriptor, v.mv_data, v.mv_size,
                                         CHAIN_STATE_VALUE_MAX_BYTES, &msg),
                         CHAIN_ERR_OK);
        Gl__MktOrder *o = (Gl__MktOrder *)msg;
        if (o->status != MKT_ORDER_OPEN || o->commodity != c || o->market != m ||
            o->slot_start_ms != slot) {
            gl__mkt_order__free_unpacked(o, NULL);
            continue;
        }
        if (s->n == cap) {
            cap = cap ? 2 * cap : 16;
            s->o = realloc(s->o, cap * sizeof *s->o);
            s->id = realloc(s->id, cap * CHAIN_HASH_BYTES);
        }
        s->o[s->n] = o;
        memcpy(s->id[s->n], (const uint8_t *)k.mv_data + 6, CHAIN_HASH_BYTES);
        s->n++;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
}

static Gl__MktParticipant *read_part(struct fx *f, const uint8_t *pk)
{
    uint8_t k[MKT_KEY_PARTICIPANT_BYTES];
    mkt_key_participant(k, pk);
    return (Gl__MktParticipant *)mt_get(f, k, sizeof k, &gl__mkt_participant__descriptor);
}

/* ---- the reference clearing of one book ---- */

struct refctx {
    struct fx *f;
    struct mkt_tx_params prm;
    uint32_t matrix[MKT_PARAMS_MAX_BUS * MKT_PARAMS_MAX_BUS];
    int64_t shadow_balance; /* the grid account's balance as clearings go on in one block */
    int64_t fee_pool, clearing_pool, fee_rounding_pool; /* expected pool balances */
};

static uint32_t ref_index(struct fx *f, const uint8_t *pk, bool grid, const uint8_t *grid_pk)
{
    if (grid && memcmp(pk, grid_pk, CHAIN_PK_BYTES) == 0)
        return MKT_GRID_PARTICIPANT;
    Gl__MktParticipant *p = read_part(f, pk);
    if (!p)
        return 0xfffffffdu;
    uint32_t i = p->index;
    gl__mkt_participant__free_unpacked(p, NULL);
    return i;
}

struct core_out {
    bool p2p;
    struct mkt_auction_result au;
    struct mkt_p2p_result pp;
    const int64_t *fill;
    int64_t grid_buy_wh, grid_sell_wh, volume, price;
    __int128 welfare;
};

static void core_run(const struct refctx *rc, const struct mkt_book *bk, struct core_out *out)
{
    memset(out, 0, sizeof *out);
    if (rc->prm.mechanism == MKT_MECH_P2P) {
        bool uni = rc->prm.fee_model == MKT_TX_FEE_UNIFORM;
        struct mkt_fees fees = {(uint8_t)(rc->prm.fee_model - 1),
                                (int64_t)rc->prm.fee_rate_micro_per_kwh,
                                uni ? MKT_PARAMS_MAX_BUS : rc->prm.nbus, uni ? NULL : rc->matrix};
        out->p2p = true;
        assert_int_equal(mkt_p2p_clear(bk, &fees, MKT_P2P_AUTO, &out->pp), MKT_OK);
        out->fill = out->pp.fill_wh;
        out->grid_buy_wh = out->pp.grid_buy_wh;
        out->grid_sell_wh = out->pp.grid_sell_wh;
        out->volume = out->pp.volume_wh;
        out->welfare = out->pp.welfare;
    } else {
        assert_int_equal(mkt_auction_clear(bk, &out->au), MKT_OK);
        out->fill = out->au.fill_wh;
        out->grid_buy_wh = out->au.grid_buy_wh;
        out->grid_sell_wh = out->au.grid_sell_wh;
        out->volume = out->au.volume_wh;
        out->price = out->au.price_micro_per_kwh;
        out->welfare = out->au.welfare;
    }
}

static void core_free(struct core_out *o)
{
    mkt_auction_result_deinit(&o->au);
    mkt_p2p_result_deinit(&o->pp);
}

/* Buyer-side and seller-side nano-units of a P2P trade (README rounding rules). */
static __int128 trade_buy_nano(const struct mkt_trade *t)
{
    return (__int128)(t->price_micro_per_kwh + (t->fee_micro_per_kwh + 1) / 2) * t->qty_wh;
}
static __int128 trade_sell_nano(const struct mkt_trade *t)
{
    return (__int128)(t->price_micro_per_kwh - t->fee_micro_per_kwh / 2) * t->qty_wh;
}

static void ref_check(struct refctx *rc, struct snap *s, uint64_t t, bool by_operator)
{
    struct fx *f = rc->f;
    size_t n = 0;
    struct mkt_order *orders = calloc(s->n + 1, sizeof *orders);
    struct mkt_prefs *prefs = calloc(s->n + 1, sizeof *prefs);
    uint32_t *sets = calloc(s->n * 2 * MKT_ORDER_MAX_PREFS + 1, sizeof *sets);
    size_t *map = calloc(s->n + 1, sizeof *map);
    uint8_t k[MKT_KEY_TARIFF_BYTES];
    mkt_key_tariff(k, s->c, s->slot);
    Gl__MktTariffState *tf =
        (Gl__MktTariffState *)mt_get(f, k, sizeof k, &gl__mkt_tariff_state__descriptor);
    struct mkt_grid grid = {0, 0, rc->prm.grid_bus};
    if (tf) {
        grid.retail_micro_per_kwh = (int64_t)tf->retail;
        grid.feed_in_micro_per_kwh = (int64_t)tf->feed_in;
    }
    bool p2p = rc->prm.mechanism == MKT_MECH_P2P;
    for (size_t i = 0; i < s->n; i++) {
        const Gl__MktOrder *o = s->o[i];
        bool expired = o->valid_until_ms != 0 && o->valid_until_ms < t;
        bool early = o->valid_from_ms > t;
        if (expired || early) {
            stats.skipped_invalid++;
            /* Out of this clearing: no fill; expired, or moved on to intraday. */
            Gl__MktOrder *after = mt_get_order(f, s->id[i]);
            assert_null(mt_get_fill(f, s->c, s->m, s->slot, s->id[i]));
            if (expired || s->m == MKT_INTRADAY)
                assert_int_equal(after->status, MKT_ORDER_EXPIRED);
            else
                assert_true(after->status == MKT_ORDER_EXPIRED ||
                            (after->status == MKT_ORDER_OPEN && after->market == MKT_INTRADAY &&
                             after->open_wh == o->open_wh));
            gl__mkt_order__free_unpacked(after, NULL);
            continue;
        }
        Gl__MktParticipant *p = read_part(f, o->owner.data);
        assert_non_null(p);
        struct mkt_prefs *pr = &prefs[n];
        uint32_t *st = sets + i * 2 * MKT_ORDER_MAX_PREFS;
        bool has = o->n_allowed || o->n_excluded || o->premium_renewable || o->premium_local;
        const uint8_t *gpk = tf ? tf->grid_account.data : NULL;
        for (size_t j = 0; j < o->n_allowed; j++)
            st[j] = ref_index(f, o->allowed[j].data, tf != NULL, gpk);
        for (size_t j = 0; j < o->n_excluded; j++)
            st[MKT_ORDER_MAX_PREFS + j] = ref_index(f, o->excluded[j].data, tf != NULL, gpk);
        pr->allowed = o->n_allowed ? st : NULL;
        pr->nallowed = (uint32_t)o->n_allowed;
        pr->excluded = o->n_excluded ? st + MKT_ORDER_MAX_PREFS : NULL;
        pr->nexcluded = (uint32_t)o->n_excluded;
        pr->premium_renewable_micro_per_kwh = (int64_t)o->premium_renewable;
        pr->premium_local_micro_per_kwh = (int64_t)o->premium_local;
        orders[n] = (struct mkt_order){
            .id = (uint32_t)(1000 + n),
            .participant = p->index,
            .bus = p2p ? p->bus : 0,
            .side = (uint8_t)(o->side == MKT_TX_BUY ? MKT_BUY : MKT_SELL),
            .flags = (uint8_t)(o->side == MKT_TX_SELL && p->renewable ? MKT_ORDER_RENEWABLE : 0),
            .qty_wh = (int64_t)o->open_wh,
            .price_micro_per_kwh = (int64_t)o->price,
            .arrival = o->arrival,
            .prefs = p2p && has ? pr : NULL,
        };
        gl__mkt_participant__free_unpacked(p, NULL);
        map[n++] = i;
    }
    bool prefs_ignored = false;
    size_t nb = 0, ns = 0, np = 0;
    for (size_t j = 0; j < n; j++) {
        nb += orders[j].side == MKT_BUY;
        ns += orders[j].side == MKT_SELL;
        np += orders[j].prefs != NULL;
    }
    if (np && (uint64_t)nb * ns > MKT_DENSE_MAX_PAIRS) {
        for (size_t j = 0; j < n; j++)
            orders[j].prefs = NULL;
        prefs_ignored = true;
    }
    struct mkt_book bk = {orders, n, tf ? &grid : NULL};
    struct core_out co;
    core_run(rc, &bk, &co);
    bool unfunded = false;
    if (tf && co.grid_buy_wh > 0) {
        __int128 cost = 0;
        if (co.p2p) {
            for (size_t j = 0; j < co.pp.ntrades; j++)
                if (co.pp.trades[j].buy == MKT_GRID_BUY)
                    cost += trade_buy_nano(&co.pp.trades[j]);
        } else {
            cost = (__int128)co.price * co.grid_buy_wh;
        }
        if ((__int128)rc->shadow_balance < (cost + 999) / 1000) {
            core_free(&co);
            grid.feed_in_micro_per_kwh = 0;
            unfunded = true;
            core_run(rc, &bk, &co);
        }
    }

    /* Money per order, naively: sum the exact nano-amounts, then round. */
    __int128 *nano = calloc(n + 1, sizeof *nano);
    __int128 grid_pay = 0, grid_recv = 0, fee = 0;
    if (co.p2p) {
        for (size_t j = 0; j < co.pp.ntrades; j++) {
            const struct mkt_trade *tr = &co.pp.trades[j];
            fee += (__int128)tr->fee_micro_per_kwh * tr->qty_wh;
            if (tr->buy == MKT_GRID_BUY)
                grid_pay += trade_buy_nano(tr);
            else
                nano[tr->buy] += trade_buy_nano(tr);
            if (tr->sell == MKT_GRID_SELL)
                grid_recv += trade_sell_nano(tr);
            else
                nano[tr->sell] += trade_sell_nano(tr);
        }
    } else {
        for (size_t j = 0; j < n; j++)
            nano[j] = (__int128)co.price * co.fill[j];
        grid_pay = (__int128)co.price * co.grid_buy_wh;
        grid_recv = (__int128)co.price * co.grid_sell_wh;
    }
    int64_t paid = 0, recv = 0;
    for (size_t j = 0; j < n; j++) {
        const Gl__MktOrder *o = s->o[map[j]];
        Gl__MktFill *fl = mt_get_fill(f, s->c, s->m, s->slot, s->id[map[j]]);
        assert_non_null(fl);
        assert_int_equal(fl->fill_wh, co.fill[j]);
        stats.filled_orders += co.fill[j] > 0;
        assert_int_equal(fl->qty_wh, o->open_wh);
        if (o->side == MKT_TX_BUY) {
            assert_int_equal(fl->paid, (nano[j] + 999) / 1000);
            assert_int_equal(fl->received, 0);
            assert_true(fl->paid <= o->locked);
            paid += (int64_t)fl->paid;
        } else {
            assert_int_equal(fl->received, nano[j] / 1000);
            assert_int_equal(fl->paid, 0);
            assert_int_equal(fl->margin_held,
                             (uint64_t)((__int128)o->locked * co.fill[j] / (int64_t)o->open_wh));
            recv += (int64_t)fl->received;
        }
        gl__mkt_fill__free_unpacked(fl, NULL);
    }
    int64_t gp = (int64_t)((grid_pay + 999) / 1000), gr = (int64_t)(grid_recv / 1000);
    int64_t fees = (int64_t)(fee / 1000), rounding = paid + gp - recv - gr - fees;
    assert_true(rounding >= 0);
    rc->shadow_balance += gr - gp;
    rc->fee_pool += fees;
    if (co.p2p)
        rc->fee_rounding_pool += rounding;
    else
        rc->clearing_pool += rounding;

    Gl__MktResult *r = mt_get_result(f, s->c, s->m, s->slot);
    assert_non_null(r);
    char w[MKT_I128_DEC_BYTES];
    assert_string_equal(r->welfare_nano, mkt_i128_format(co.welfare, w));
    assert_int_equal(r->volume_wh, co.volume);
    assert_int_equal(r->price, co.price);
    assert_int_equal(r->grid_buy_wh, co.grid_buy_wh);
    assert_int_equal(r->grid_sell_wh, co.grid_sell_wh);
    assert_int_equal(r->grid_buy_unfunded, unfunded);
    assert_int_equal(r->prefs_ignored, prefs_ignored);
    stats.books++;
    stats.unfunded += unfunded;
    assert_int_equal(r->norders, n);
    assert_int_equal(r->fees, fees);
    assert_int_equal(r->rounding, rounding);
    assert_int_equal(r->by_operator, by_operator);
    assert_int_equal(r->time_ms, t);
    if (co.p2p) {
        assert_int_equal(r->ntrades, co.pp.ntrades);
        stats.trades += co.pp.ntrades;
        for (size_t j = 0; j < co.pp.ntrades; j++) {
            const struct mkt_trade *tr = &co.pp.trades[j];
            uint8_t xk[MKT_KEY_TRADE_BYTES];
            mkt_key_trade(xk, s->c, s->m, s->slot, (uint32_t)j);
            Gl__MktTrade *x = (Gl__MktTrade *)mt_get(f, xk, sizeof xk, &gl__mkt_trade__descriptor);
            assert_non_null(x);
            if (tr->buy == MKT_GRID_BUY)
                assert_int_equal(x->buy.len, 0);
            else
                assert_memory_equal(x->buy.data, s->id[map[tr->buy]], CHAIN_HASH_BYTES);
            if (tr->sell == MKT_GRID_SELL)
                assert_int_equal(x->sell.len, 0);
            else
                assert_memory_equal(x->sell.data, s->id[map[tr->sell]], CHAIN_HASH_BYTES);
            assert_int_equal(x->qty_wh, tr->qty_wh);
            stats.grid_trades += tr->buy == MKT_GRID_BUY || tr->sell == MKT_GRID_SELL;
            assert_int_equal(x->price, tr->price_micro_per_kwh);
            assert_int_equal(x->fee, tr->fee_micro_per_kwh);
            gl__mkt_trade__free_unpacked(x, NULL);
        }
    } else {
        assert_int_equal(r->ntrades, 0);
    }
    gl__mkt_result__free_unpacked(r, NULL);
    core_free(&co);
    free(nano);
    free(map);
    free(sets);
    free(prefs);
    free(orders);
    if (tf)
        gl__mkt_tariff_state__free_unpacked(tf, NULL);
}

/* ---- one random day ---- */

#define NBOOKS (2 * 2 * NSLOT)

static void book_of(int b, uint32_t *c, uint32_t *m, uint64_t *slot)
{
    *c = 1 + (uint32_t)(b / (2 * NSLOT));
    *m = 1 + (uint32_t)(b / NSLOT % 2);
    *slot = MT_SLOT(b % NSLOT);
}

struct day {
    struct fx f;
    struct model m;
    struct refctx rc;
    struct tu_rng rng;
    struct snap snaps[NBOOKS];
};

static void check_pools(struct day *d)
{
    assert_int_equal(mt_pool(&d->f, MKT_POOL_GRID_FEES), d->rc.fee_pool);
    assert_int_equal(mt_pool(&d->f, MKT_POOL_CLEARING_ROUNDING), d->rc.clearing_pool);
    assert_int_equal(mt_pool(&d->f, MKT_POOL_FEE_ROUNDING), d->rc.fee_rounding_pool);
}

/* Run one block of txs.  Clearing blocks snapshot every uncleared book first
 * and check each book that got cleared against the reference. */
static void day_block(struct day *d, uint8_t **txs, size_t *lens, size_t n, int *who_order,
                      uint8_t (*order_ids)[CHAIN_HASH_BYTES], bool by_operator)
{
    struct fx *f = &d->f;
    bool cleared_before[NBOOKS];
    for (int b = 0; b < NBOOKS; b++) {
        uint32_t c, m;
        uint64_t slot;
        book_of(b, &c, &m, &slot);
        snap_book(f, c, m, slot, &d->snaps[b]);
        cleared_before[b] = d->snaps[b].meta.cleared;
    }
    d->rc.shadow_balance = fx_account(f, f->pk[FX_SHADOW]).balance;
    struct chain_exec_result r;
    int first = fx_block(f, txs, lens, n, &r);
    assert_int_equal(r.ntx, n); /* every transaction is includable */
    assert_int_equal(first, n ? r.tx_results[0] : 0);
    uint64_t t = f->c.head.time_ms;
    for (size_t i = 0; i < n; i++) {
        if (who_order && who_order[i] >= 0 && r.tx_results[i] == CHAIN_ERR_OK) {
            model_add(&d->m, order_ids[i], who_order[i]);
            stats.placed++;
        }
        stats.refused += r.tx_results[i] != CHAIN_ERR_OK;
    }
    chain_exec_result_free(&r);
    /* Books cleared now, in the hook's order (gate, commodity, market, slot):
     * the grid account's balance carries from one to the next. */
    int order[NBOOKS], no = 0;
    for (int b = 0; b < NBOOKS; b++) {
        struct mkt_book_meta now;
        uint32_t c, m;
        uint64_t slot;
        book_of(b, &c, &m, &slot);
        read_meta(f, c, m, slot, &now);
        if (!cleared_before[b] && now.exists && now.gate_ms <= t)
            assert_true(now.cleared); /* its gate passed: cleared in this very block */
        if (!cleared_before[b] && now.cleared)
            order[no++] = b;
        else if (!now.cleared)
            assert_null(mt_get_result(f, c, m, slot));
    }
    for (int i = 1; i < no; i++) /* insertion sort by (gate, book) */
        for (int j = i; j > 0; j--) {
            uint64_t ga = d->snaps[order[j - 1]].meta.gate_ms, gb = d->snaps[order[j]].meta.gate_ms;
            if (ga < gb || (ga == gb && order[j - 1] < order[j]))
                break;
            int x = order[j];
            order[j] = order[j - 1];
            order[j - 1] = x;
        }
    for (int i = 0; i < no; i++)
        ref_check(&d->rc, &d->snaps[order[i]], t, by_operator);
    for (int b = 0; b < NBOOKS; b++)
        snap_free(&d->snaps[b]);
    check_pools(d);
}

static int rand_participant(struct day *d)
{
    return P0 + (int)tu_below(&d->rng, NP);
}

static void random_block(struct day *d, bool intraday_phase)
{
    struct fx *f = &d->f;
    size_t n = 1 + tu_below(&d->rng, 12);
    uint8_t *txs[12];
    size_t lens[12];
    int who[12];
    uint8_t ids[12][CHAIN_HASH_BYTES];
    uint64_t now = f->time_ms + 1000;
    for (size_t i = 0; i < n; i++) {
        who[i] = -1;
        if (d->m.n > 0 && tu_below(&d->rng, 5) == 0) {
            size_t k = tu_below(&d->rng, d->m.n);
            int signer = tu_below(&d->rng, 5) ? d->m.owner[k] : rand_participant(d);
            uint8_t *p;
            size_t pl;
            assert_int_equal(mkt_payload_cancel_order(d->m.ids[k], &p, &pl), CHAIN_ERR_OK);
            txs[i] = fx_tx(f, signer, GL__MKT_TX_TYPE__MKT_TX_CANCEL_ORDER, p, pl, &lens[i]);
            continue;
        }
        int w = rand_participant(d);
        struct mkt_tx_order o = mt_simple(tu_below(&d->rng, 2) ? MKT_TX_BUY : MKT_TX_SELL,
                                          MT_SLOT(tu_below(&d->rng, NSLOT)),
                                          1 + tu_below(&d->rng, 20000), tu_below(&d->rng, 600000));
        o.commodity = 1 + (uint32_t)tu_below(&d->rng, 2);
        o.market = intraday_phase || tu_below(&d->rng, 4) == 0 ? MKT_INTRADAY : MKT_DAY_AHEAD;
        if (intraday_phase && tu_below(&d->rng, 10) == 0)
            o.market = MKT_DAY_AHEAD; /* refused: its gate has closed */
        if (tu_below(&d->rng, 30) == 0)
            o.qty_wh = 100000000; /* a buy of this size outruns any balance */
        if (tu_below(&d->rng, 7) == 0)
            o.valid_until_ms = now + tu_below(&d->rng, MT_DA_GATE + 7200000 - now);
        if (tu_below(&d->rng, 10) == 0)
            o.valid_from_ms = now + tu_below(&d->rng, MT_DA_GATE + 3600000 - now);
        if (o.valid_until_ms && o.valid_until_ms < o.valid_from_ms) { /* the decoder refuses it */
            uint64_t x = o.valid_until_ms;
            o.valid_until_ms = o.valid_from_ms;
            o.valid_from_ms = x;
        }
        uint8_t allowed[4][CHAIN_PK_BYTES], excluded[4][CHAIN_PK_BYTES];
        if (tu_below(&d->rng, 5) == 0) {
            o.nallowed = tu_below(&d->rng, 4);
            for (size_t j = 0; j < o.nallowed; j++)
                memcpy(allowed[j], f->pk[P0 + (int)j * 2 + (int)tu_below(&d->rng, 2)],
                       CHAIN_PK_BYTES);
            if (o.nallowed && tu_below(&d->rng, 2))
                memcpy(allowed[0], f->pk[FX_SHADOW], CHAIN_PK_BYTES); /* the grid */
            o.nexcluded = tu_below(&d->rng, 3);
            for (size_t j = 0; j < o.nexcluded; j++)
                memcpy(excluded[j], f->pk[P0 + 1 + (int)j * 3], CHAIN_PK_BYTES);
            o.allowed = (const uint8_t(*)[CHAIN_PK_BYTES])allowed;
            o.excluded = (const uint8_t(*)[CHAIN_PK_BYTES])excluded;
            if (o.side == MKT_TX_BUY) {
                o.premium_renewable_micro_per_kwh = tu_below(&d->rng, 50000);
                o.premium_local_micro_per_kwh = tu_below(&d->rng, 50000);
            }
        }
        txs[i] = mt_order_tx(f, w, &o, ids[i], &lens[i]);
        who[i] = w;
    }
    day_block(d, txs, lens, n, who, ids, false);
    for (size_t i = 0; i < n; i++)
        free(txs[i]);
}

static void one_day(uint64_t seed)
{
    struct day *d = calloc(1, sizeof *d);
    struct fx *f = &d->f;
    d->rng.s = seed;
    d->rc.f = f;
    mt_open(f);
    /* Money: keys beyond carol get minted; the grid account is funded on some seeds. */
    for (int w = P0 + 3; w < P0 + NP; w++) {
        char ref[16];
        snprintf(ref, sizeof ref, "mint-%d", w);
        assert_int_equal(mt_mint(f, w, MINTED, ref), CHAIN_ERR_OK);
    }
    if (seed % 3)
        assert_int_equal(mt_mint(f, FX_SHADOW, 5 * CHAIN_MICRO_PER_TOKEN, "grid"), CHAIN_ERR_OK);
    for (int w = P0; w < P0 + NP; w++) {
        d->m.start[w] = w < P0 + 3 ? FX_START_BALANCE : MINTED;
        d->m.deposit[w] = tu_below(&d->rng, 3) ? tu_below(&d->rng, 100000) : 0;
        assert_int_equal(mt_register(f, w, (uint32_t)tu_below(&d->rng, 4), tu_below(&d->rng, 2),
                                     d->m.deposit[w]),
                         CHAIN_ERR_OK);
    }
    struct mkt_tx_params *prm = &d->rc.prm;
    mkt_params_default(prm);
    prm->mechanism = seed % 2 ? MKT_MECH_P2P : MKT_MECH_UNIFORM;
    prm->fee_model = 1 + (uint32_t)tu_below(&d->rng, 3);
    prm->nbus = 4;
    prm->fee_rate_micro_per_kwh = tu_below(&d->rng, 3000);
    if (prm->fee_model != MKT_TX_FEE_UNIFORM) {
        for (uint32_t i = 0; i < 4; i++)
            for (uint32_t j = 0; j < 4; j++)
                d->rc.matrix[i * 4 + j] = prm->fee_model == MKT_TX_FEE_ZONAL
                                              ? (i > j ? i - j : j - i)
                                              : (uint32_t)tu_below(&d->rng, 20);
        prm->fee_matrix = d->rc.matrix;
    }
    prm->price_max = 1000000;
    prm->seller_margin_micro_per_kwh = tu_below(&d->rng, 2) ? tu_below(&d->rng, 20000) : 0;
    prm->grid_bus = (uint32_t)tu_below(&d->rng, 4);
    assert_int_equal(mt_params(f, FX_OPERATOR, prm), CHAIN_ERR_OK);
    for (uint32_t c = 1; c <= 2; c++)
        for (int s = 0; s < NSLOT; s++)
            if (tu_below(&d->rng, 3)) {
                uint64_t retail = 200000 + tu_below(&d->rng, 200000);
                assert_int_equal(
                    mt_tariff(f, FX_SHADOW, c, MT_SLOT(s), retail, tu_below(&d->rng, retail / 2)),
                    CHAIN_ERR_OK);
            }

    /* Before the day-ahead gate: orders, cancels and now and then an operator's clearing. */
    for (int blk = 0; blk < 14; blk++) {
        if (tu_below(&d->rng, 8) == 0) {
            int b = (int)tu_below(&d->rng, NBOOKS);
            uint32_t c, m;
            uint64_t slot;
            book_of(b, &c, &m, &slot);
            uint8_t *p;
            size_t pl, len;
            assert_int_equal(mkt_payload_clear(c, m, slot, &p, &pl), CHAIN_ERR_OK);
            uint8_t *tx = fx_tx(f, FX_OPERATOR, GL__MKT_TX_TYPE__MKT_TX_CLEAR, p, pl, &len);
            day_block(d, &tx, &len, 1, NULL, NULL, true);
            free(tx);
        } else {
            random_block(d, false);
        }
    }
    mt_at(f, MT_DA_GATE);
    day_block(d, NULL, NULL, 0, NULL, NULL, false);
    for (int blk = 0; blk < 6; blk++)
        random_block(d, true);
    for (int s = 0; s < NSLOT; s++) {
        mt_at(f, MT_ID_GATE(MT_SLOT(s)));
        day_block(d, NULL, NULL, 0, NULL, NULL, false);
    }

    /* End of the day: every order is closed, and every account adds up. */
    int64_t paid[FX_KEYS] = {0}, recv[FX_KEYS] = {0}, held[FX_KEYS] = {0};
    for (size_t i = 0; i < d->m.n; i++) {
        Gl__MktOrder *o = mt_get_order(f, d->m.ids[i]);
        assert_non_null(o);
        assert_int_not_equal(o->status, MKT_ORDER_OPEN);
        assert_int_equal(o->locked, 0);
        int w = d->m.owner[i];
        paid[w] += (int64_t)o->paid;
        recv[w] += (int64_t)o->received;
        held[w] += (int64_t)o->margin_held;
        gl__mkt_order__free_unpacked(o, NULL);
    }
    for (int w = P0; w < P0 + NP; w++) {
        struct chain_account a = fx_account(f, f->pk[w]);
        assert_int_equal(a.locked, (int64_t)d->m.deposit[w] + held[w]);
        assert_int_equal(a.balance,
                         d->m.start[w] - (int64_t)d->m.deposit[w] - paid[w] + recv[w] - held[w]);
    }
    fx_close(f);
    free(d->m.ids);
    free(d->m.owner);
    free(d);
}

static void test_random_days_keep_supply_and_agree_with_a_naive_reference(void **state)
{
    (void)state;
    int seeds = quick() ? 12 : 40;
    for (int s = 1; s <= seeds; s++) {
        print_message("market-tx property: seed %d\n", s);
        one_day((uint64_t)s);
    }
    print_message(
        "market-tx property: %zu orders placed, %zu refused; %zu books cleared and checked, "
        "%zu orders filled, %zu pair trades (%zu with the grid), %zu orders out of validity, "
        "%zu clearings with an unfunded grid\n",
        stats.placed, stats.refused, stats.books, stats.filled_orders, stats.trades,
        stats.grid_trades, stats.skipped_invalid, stats.unfunded);
    assert_true(stats.books > 0 && stats.filled_orders > 0 && stats.trades > 0 &&
                stats.grid_trades > 0 && stats.skipped_invalid > 0 && stats.unfunded > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_days_keep_supply_and_agree_with_a_naive_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
