/* mtx_fixture.h -- the ledger fixture (tests/unit/chain/ledger_fixture.h) with
 * the market registered, plus helpers to place orders, move block time and
 * read market state.  Header-only (static), shared by the market-tx tests. */
#ifndef GL_MTX_FIXTURE_H
#define GL_MTX_FIXTURE_H

#include "unit/chain/ledger_fixture.h"

#include "chain_crypto.h"
#include "chain_proof.h"
#include "market.pb-c.h"
#include "mkt_clear.h"
#include "mkt_state.h"
#include "mkt_tx.h"

/* Slots on 2023-11-16 (UTC): the genesis (2023-11-14 22:13:20) is before the
 * day-ahead gate of that day (2023-11-15 12:00). */
#define MT_DAY2          UINT64_C(1700092800000)
#define MT_SLOT(i)       (MT_DAY2 + (uint64_t)(i)*MKT_SLOT_MS_DEFAULT)
#define MT_DA_GATE       (MT_DAY2 - MKT_DA_LEAD_MS_DEFAULT)
#define MT_ID_GATE(slot) ((slot)-MKT_ID_LEAD_MS_DEFAULT)

/* A test-only transaction type that sets a participant's debt, as settlement
 * (issue 6) will: payload = the 32-byte key, then the debt as 8 bytes BE. */
#define MT_TX_SET_DEBT 199u

static inline int mt_decode_debt(const uint8_t *p, size_t n, void **out)
{
    if (n != CHAIN_PK_BYTES + 8)
        return CHAIN_ERR_DECODE_MALFORMED;
    uint8_t *c = malloc(n);
    if (!c)
        return CHAIN_ERR_NOMEM;
    memcpy(c, p, n);
    *out = c;
    return CHAIN_ERR_OK;
}

static inline int mt_apply_debt(struct chain_exec_ctx *ctx, const struct chain_tx *tx,
                                const void *msg)
{
    const uint8_t *p = msg;
    Gl__MktParticipant *part;
    (void)tx;
    int rc = mkt_participant_load(ctx, p, &part);
    if (rc)
        return rc;
    part->debt = 0;
    for (int i = 0; i < 8; i++)
        part->debt = part->debt << 8 | p[CHAIN_PK_BYTES + (size_t)i];
    rc = mkt_participant_store(ctx, p, part);
    gl__mkt_participant__free_unpacked(part, NULL);
    return rc;
}

/* Another test-only type: write raw bytes under a raw key, bypassing every
 * decoder (payload = key length (1 byte) || key || value), to put state in a
 * shape no real transaction can. */
#define MT_TX_RAW_PUT 198u

struct mt_raw {
    size_t n;
    uint8_t b[];
};

static inline int mt_apply_raw(struct chain_exec_ctx *ctx, const struct chain_tx *tx,
                               const void *msg)
{
    const struct mt_raw *r = msg;
    (void)tx;
    size_t kl = r->b[0];
    return chain_state_put(ctx, r->b + 1, kl, r->b + 1 + kl, r->n - 1 - kl);
}

static inline int mt_decode_raw(const uint8_t *p, size_t n, void **out)
{
    if (n < 2 || p[0] == 0 || (size_t)p[0] + 1 > n)
        return CHAIN_ERR_DECODE_MALFORMED;
    struct mt_raw *r = malloc(sizeof *r + n);
    if (!r)
        return CHAIN_ERR_NOMEM;
    r->n = n;
    memcpy(r->b, p, n);
    *out = r;
    return CHAIN_ERR_OK;
}

/* Put raw bytes under a raw key through MT_TX_RAW_PUT from the operator. */
static inline int mt_raw_put(struct fx *f, const void *key, size_t kl, const uint8_t *val,
                             size_t vl)
{
    uint8_t *p = malloc(1 + kl + vl);
    assert_true(kl <= 255);
    p[0] = (uint8_t)kl;
    memcpy(p + 1, key, kl);
    memcpy(p + 1 + kl, val, vl);
    return fx_submit(f, FX_OPERATOR, MT_TX_RAW_PUT, p, 1 + kl + vl);
}

static inline void mt_register_all(struct chain *c)
{
    static const struct chain_tx_handler raw = {"test_raw_put", mt_decode_raw, free, mt_apply_raw};
    assert_int_equal(chain_registry_add(&c->reg, MT_TX_RAW_PUT, &raw), CHAIN_ERR_OK);
    static const struct chain_tx_handler debt = {"test_set_debt", mt_decode_debt, free,
                                                 mt_apply_debt};
    assert_int_equal(mkt_register(&c->reg), CHAIN_ERR_OK);
    assert_int_equal(chain_registry_add(&c->reg, MT_TX_SET_DEBT, &debt), CHAIN_ERR_OK);
}

static inline void mt_open(struct fx *f)
{
    fx_open(f);
    mt_register_all(&f->c);
}

/* The next block gets time t exactly. */
static inline void mt_at(struct fx *f, uint64_t t)
{
    assert_true(t > f->c.head.time_ms);
    f->time_ms = t - 1000;
}

static inline int mt_empty_block(struct fx *f)
{
    return fx_block(f, NULL, NULL, 0, NULL);
}

static inline int mt_register(struct fx *f, int who, uint32_t bus, bool renewable, uint64_t deposit)
{
    uint8_t *p;
    size_t n;
    assert_int_equal(mkt_payload_register(f->pk[who], GL__PARTICIPANT_KIND__KIND_PROSUMER, bus,
                                          renewable, NULL, 0, "p", deposit, &p, &n),
                     CHAIN_ERR_OK);
    return fx_submit(f, FX_OPERATOR, GL__MKT_TX_TYPE__MKT_TX_REGISTER, p, n);
}

static inline int mt_params(struct fx *f, int who, const struct mkt_tx_params *prm)
{
    uint8_t *p;
    size_t n;
    assert_int_equal(mkt_payload_set_params(prm, &p, &n), CHAIN_ERR_OK);
    return fx_submit(f, who, GL__MKT_TX_TYPE__MKT_TX_SET_PARAMS, p, n);
}

static inline int mt_tariff(struct fx *f, int who, uint32_t commodity, uint64_t slot,
                            uint64_t retail, uint64_t feed_in)
{
    uint8_t *p;
    size_t n;
    assert_int_equal(mkt_payload_post_tariff(commodity, slot, retail, feed_in, &p, &n),
                     CHAIN_ERR_OK);
    return fx_submit(f, who, GL__MKT_TX_TYPE__MKT_TX_POST_TARIFF, p, n);
}

/* A signed order transaction; its id (the tx hash) in id. */
static inline uint8_t *mt_order_tx(struct fx *f, int who, const struct mkt_tx_order *o,
                                   uint8_t id[CHAIN_HASH_BYTES], size_t *len)
{
    uint8_t *p;
    size_t n;
    assert_int_equal(mkt_payload_place_order(o, &p, &n), CHAIN_ERR_OK);
    uint8_t *tx = fx_tx(f, who, GL__MKT_TX_TYPE__MKT_TX_PLACE_ORDER, p, n, len);
    chain_hash(id, CHAIN_TAG_TX, tx, *len);
    return tx;
}

static inline int mt_order(struct fx *f, int who, const struct mkt_tx_order *o,
                           uint8_t id[CHAIN_HASH_BYTES])
{
    size_t len;
    uint8_t *tx = mt_order_tx(f, who, o, id, &len);
    int rc = fx_block(f, &tx, &len, 1, NULL);
    free(tx);
    return rc;
}

static inline struct mkt_tx_order mt_simple(uint32_t side, uint64_t slot, uint64_t qty,
                                            uint64_t price)
{
    struct mkt_tx_order o = {.commodity = MKT_ELECTRICITY,
                             .market = MKT_DAY_AHEAD,
                             .side = side,
                             .slot_start_ms = slot,
                             .qty_wh = qty,
                             .price_micro_per_kwh = price};
    return o;
}

static inline int mt_cancel(struct fx *f, int who, const uint8_t id[CHAIN_HASH_BYTES])
{
    uint8_t *p;
    size_t n;
    assert_int_equal(mkt_payload_cancel_order(id, &p, &n), CHAIN_ERR_OK);
    return fx_submit(f, who, GL__MKT_TX_TYPE__MKT_TX_CANCEL_ORDER, p, n);
}

static inline int mt_clear(struct fx *f, int who, uint32_t commodity, uint32_t market,
                           uint64_t slot)
{
    uint8_t *p;
    size_t n;
    assert_int_equal(mkt_payload_clear(commodity, market, slot, &p, &n), CHAIN_ERR_OK);
    return fx_submit(f, who, GL__MKT_TX_TYPE__MKT_TX_CLEAR, p, n);
}

static inline int mt_mint(struct fx *f, int to, uint64_t amount, const char *ref)
{
    uint8_t *p;
    size_t n;
    assert_int_equal(chain_payload_mint(f->pk[to], amount, ref, &p, &n), CHAIN_ERR_OK);
    return fx_submit(f, FX_SHADOW, GL__TX_TYPE__TX_MINT, p, n);
}

/* A committed state value decoded as desc; NULL when absent. */
static inline ProtobufCMessage *mt_get(struct fx *f, const void *key, size_t klen,
                                       const ProtobufCMessageDescriptor *desc)
{
    MDB_txn *txn;
    const uint8_t *v;
    size_t n;
    ProtobufCMessage *m = NULL;
    assert_int_equal(mdb_txn_begin(f->c.store.env, NULL, MDB_RDONLY, &txn), 0);
    if (chain_store_get(&f->c.store, txn, key, klen, &v, &n) == CHAIN_ERR_OK)
        assert_int_equal(chain_pb_unpack(desc, v, n, CHAIN_STATE_VALUE_MAX_BYTES, &m),
                         CHAIN_ERR_OK);
    mdb_txn_abort(txn);
    return m;
}

static inline Gl__MktOrder *mt_get_order(struct fx *f, const uint8_t id[CHAIN_HASH_BYTES])
{
    uint8_t k[MKT_KEY_ORDER_BYTES];
    mkt_key_order(k, id);
    return (Gl__MktOrder *)mt_get(f, k, sizeof k, &gl__mkt_order__descriptor);
}

static inline Gl__MktResult *mt_get_result(struct fx *f, uint32_t c, uint32_t m, uint64_t slot)
{
    uint8_t k[MKT_KEY_RESULT_BYTES];
    mkt_key_result(k, c, m, slot);
    return (Gl__MktResult *)mt_get(f, k, sizeof k, &gl__mkt_result__descriptor);
}

static inline Gl__MktFill *mt_get_fill(struct fx *f, uint32_t c, uint32_t m, uint64_t slot,
                                       const uint8_t id[CHAIN_HASH_BYTES])
{
    uint8_t k[MKT_KEY_FILL_BYTES];
    mkt_key_fill(k, c, m, slot, id);
    return (Gl__MktFill *)mt_get(f, k, sizeof k, &gl__mkt_fill__descriptor);
}

static inline int64_t mt_pool(struct fx *f, const char *name)
{
    char key[80];
    int n = snprintf(key, sizeof key, "pool/%s", name);
    Gl__Pool *p = (Gl__Pool *)mt_get(f, key, (size_t)n, &gl__pool__descriptor);
    int64_t b = p ? (int64_t)p->balance : 0;
    if (p)
        gl__pool__free_unpacked(p, NULL);
    return b;
}

#endif
