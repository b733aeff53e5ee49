/* fuzz_mkt_tx.c -- the market's payload decoders (the handlers mkt_register
 * adds) on arbitrary bytes.  The first input byte picks the type
 * (MKT_TX_REGISTER + byte % 7), the rest is the payload.
 *
 * Properties, beyond "no crash, no leak":
 *   - a failure is a named DECODE_* code or OVERFLOW, never anything else;
 *   - a success means the bytes are canonical (they re-pack to the input) and
 *     every limit the handlers rely on holds: key lengths, enum ranges,
 *     quantities and prices within the clearing core's caps, preference
 *     counts within MKT_ORDER_MAX_PREFS, a fee matrix of nbus^2 entries. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_codec.h"
#include "chain_crypto.h"
#include "mkt_clear.h"
#include "mkt_tx.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_mkt_tx: property failed: %s (%s:%d)\n", #cond, __FILE__,         \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static struct chain_registry reg;
static int ready;

static void init_once(void)
{
    if (ready)
        return;
    CHECK(chain_crypto_init() == CHAIN_ERR_OK);
    chain_registry_init(&reg);
    CHECK(mkt_register(&reg) == CHAIN_ERR_OK);
    ready = 1;
}

static int repacks_to(const ProtobufCMessage *m, const uint8_t *bytes, size_t len)
{
    uint8_t *out;
    size_t n;
    CHECK(chain_pb_pack(m, &out, &n) == CHAIN_ERR_OK);
    int same = n == len && (n == 0 || memcmp(out, bytes, n) == 0);
    free(out);
    return same;
}

static void check_keys(const ProtobufCBinaryData *k, size_t n, size_t max)
{
    CHECK(n <= max);
    for (size_t i = 0; i < n; i++)
        CHECK(k[i].len == CHAIN_PK_BYTES);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    if (size == 0)
        return 0;
    uint32_t type = GL__MKT_TX_TYPE__MKT_TX_REGISTER + data[0] % 7u;
    const struct chain_tx_handler *h = chain_registry_get(&reg, type);
    CHECK(h != NULL);
    void *msg = NULL;
    int rc = h->decode(data + 1, size - 1, &msg);
    if (rc != CHAIN_ERR_OK) {
        CHECK((rc >= CHAIN_ERR_DECODE_BAD_VALUE && rc <= CHAIN_ERR_DECODE_MALFORMED) ||
              rc == CHAIN_ERR_OVERFLOW);
        CHECK(msg == NULL);
        return 0;
    }
    CHECK(msg != NULL);
    CHECK(size - 1 <= CHAIN_TX_PAYLOAD_MAX_BYTES);
    CHECK(repacks_to(msg, data + 1, size - 1));
    switch (type) {
    case GL__MKT_TX_TYPE__MKT_TX_REGISTER: {
        const Gl__MktRegister *t = msg;
        CHECK(t->account.len == CHAIN_PK_BYTES && t->kind >= 1 && t->kind <= 6 &&
              t->bus < MKT_PARAMS_MAX_BUS);
        check_keys(t->meter_keys, t->n_meter_keys, CHAIN_METER_KEYS_MAX);
        CHECK(strlen(t->name) <= MKT_NAME_MAX_BYTES && t->deposit <= (uint64_t)INT64_MAX);
        break;
    }
    case GL__MKT_TX_TYPE__MKT_TX_SET_PARAMS: {
        const Gl__MktParams *t = msg;
        CHECK(t->slot_ms == MKT_SLOT_MS_DEFAULT || t->slot_ms == MKT_SLOT_MS_SHORT);
        CHECK(t->nbus >= 1 && t->nbus <= MKT_PARAMS_MAX_BUS && t->grid_bus < t->nbus);
        CHECK(t->n_fee_matrix == 0 || t->n_fee_matrix == (size_t)t->nbus * t->nbus);
        for (size_t i = 0; i < t->n_fee_matrix; i++)
            CHECK((__int128)t->fee_matrix[i] * t->fee_rate <= MKT_MAX_PRICE);
        CHECK(t->price_min <= t->price_max && t->price_max <= (uint64_t)MKT_MAX_PRICE);
        CHECK(t->mechanism >= 1 && t->mechanism <= 2 && t->fee_model >= 1 && t->fee_model <= 3);
        /* settlement fields (0 = default) */
        CHECK(t->metering_window_ms <= MKT_METERING_WINDOW_MS_MAX);
        CHECK(t->meter_epoch_ms <= MKT_METER_EPOCH_MS_MAX &&
              t->meter_epoch_ms % MKT_SLOT_MS_DEFAULT == 0);
        CHECK(t->imbalance_markup_ppm <= MKT_IMBALANCE_MARKUP_PPM_MAX &&
              t->missing_penalty <= MKT_MISSING_PENALTY_MAX &&
              t->strike_limit <= MKT_STRIKE_LIMIT_MAX);
        CHECK((t->mu_min_ppm ? t->mu_min_ppm : MKT_MU_MIN_PPM_DEFAULT) <=
              (t->mu_max_ppm ? t->mu_max_ppm : MKT_MU_MAX_PPM_DEFAULT));
        CHECK(t->mu_max_ppm <= MKT_MU_PPM_MAX);
        break;
    }
    case GL__MKT_TX_TYPE__MKT_TX_POST_TARIFF: {
        const Gl__MktTariff *t = msg;
        CHECK(t->feed_in <= t->retail && t->retail <= (uint64_t)MKT_MAX_PRICE &&
              t->slot_start_ms > 0);
        CHECK(t->commodity == MKT_ELECTRICITY || t->commodity == MKT_HEAT);
        break;
    }
    case GL__MKT_TX_TYPE__MKT_TX_PLACE_ORDER: {
        const Gl__MktPlaceOrder *t = msg;
        CHECK(t->qty_wh >= 1 && t->qty_wh <= (uint64_t)MKT_MAX_QTY_WH &&
              t->price <= (uint64_t)MKT_MAX_PRICE);
        CHECK(t->side == MKT_TX_BUY || t->side == MKT_TX_SELL);
        CHECK(t->market == MKT_DAY_AHEAD || t->market == MKT_INTRADAY);
        check_keys(t->allowed, t->n_allowed, MKT_ORDER_MAX_PREFS);
        check_keys(t->excluded, t->n_excluded, MKT_ORDER_MAX_PREFS);
        CHECK(t->valid_until_ms == 0 || t->valid_until_ms >= t->valid_from_ms);
        CHECK(t->side == MKT_TX_BUY || (t->premium_local == 0 && t->premium_renewable == 0));
        break;
    }
    case GL__MKT_TX_TYPE__MKT_TX_CANCEL_ORDER:
        CHECK(((const Gl__MktCancelOrder *)msg)->order_id.len == CHAIN_HASH_BYTES);
        break;
    case GL__MKT_TX_TYPE__MKT_TX_CLEAR:
        CHECK(((const Gl__MktClear *)msg)->slot_start_ms > 0);
        break;
    default: CHECK(((const Gl__MktSetStatus *)msg)->account.len == CHAIN_PK_BYTES);
    }
    h->free_payload(msg);
    return 0;
}
