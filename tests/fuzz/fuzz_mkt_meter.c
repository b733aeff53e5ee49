/* fuzz_mkt_meter.c -- the decoders of the metering and settlement payloads
 * that mkt_register adds: gl.MeterReading (TX_METER_READING = 120) and
 * gl.MktFundSubsidy (MKT_TX_FUND_SUBSIDY = 107), on arbitrary bytes.  The first
 * input byte picks the type (even: reading, odd: fund), the rest is the payload.
 *
 * Properties, beyond "no crash, no leak":
 *   - a failure is a named DECODE_* code or OVERFLOW, never anything else;
 *   - a success means the bytes are canonical (they re-pack to the input) and
 *     every limit the handler relies on holds: a 32-byte meter key, a slot
 *     length of 15 or 5 minutes, slot index, energies and registers within
 *     mkt_limits.h, MeterFlag bits only; a fund amount in 1..INT64_MAX. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_codec.h"
#include "chain_crypto.h"
#include "meter.pb-c.h"
#include "mkt_tx.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_mkt_meter: property failed: %s (%s:%d)\n", #cond, __FILE__,      \
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    if (size == 0)
        return 0;
    uint32_t type =
        data[0] % 2 ? GL__MKT_TX_TYPE__MKT_TX_FUND_SUBSIDY : GL__METER_TX_TYPE__TX_METER_READING;
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
    if (type == GL__METER_TX_TYPE__TX_METER_READING) {
        const Gl__MeterReading *r = msg;
        CHECK(r->meter.len == CHAIN_PK_BYTES);
        CHECK(r->slot_len_s == 900 || r->slot_len_s == 300);
        CHECK(r->slot <= MKT_READING_MAX_SLOT_INDEX);
        CHECK(r->import_wh <= MKT_READING_MAX_WH && r->export_wh <= MKT_READING_MAX_WH);
        CHECK(r->cum_import_wh <= MKT_READING_MAX_REGISTER_WH &&
              r->cum_export_wh <= MKT_READING_MAX_REGISTER_WH);
        CHECK((r->flags & ~UINT32_C(15)) == 0);
    } else {
        const Gl__MktFundSubsidy *t = msg;
        CHECK(t->amount >= 1 && t->amount <= (uint64_t)INT64_MAX);
    }
    h->free_payload(msg);
    return 0;
}
