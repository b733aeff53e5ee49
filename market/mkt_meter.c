/* mkt_meter.c -- meter readings on the chain: the strict decoder of
 * gl.MeterReading, the handler that stores one reading per (meter, slot)
 * and sums it into its participant's slot record for settlement, conflict
 * evidence, and the payload builder.  Rules: market/README.md, "Metering and
 * settlement"; the payload and its slot numbering: chain/proto/meter.proto. */
#include "mkt_meter.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "chain_ledger.h"
#include "mkt_settle.h"
#include "mkt_state.h"
#include "settle.pb-c.h"

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

void mkt_key_reading(uint8_t key[static MKT_KEY_READING_BYTES],
                     const uint8_t meter[static CHAIN_PK_BYTES], uint64_t slot_index)
{
    memcpy(key, "meter/", 6);
    memcpy(key + 6, meter, CHAIN_PK_BYTES);
    put_be64(key + 6 + CHAIN_PK_BYTES, slot_index);
}

void mkt_key_evidence(uint8_t key[static MKT_KEY_EVIDENCE_BYTES],
                      const uint8_t meter[static CHAIN_PK_BYTES], uint64_t slot_index)
{
    memcpy(key, "mkt/ev/", 7);
    memcpy(key + 7, meter, CHAIN_PK_BYTES);
    put_be64(key + 7 + CHAIN_PK_BYTES, slot_index);
}

void mkt_key_meter_agg(uint8_t key[static MKT_KEY_METER_AGG_BYTES], uint64_t slot_start_ms,
                       const uint8_t pk[static CHAIN_PK_BYTES])
{
    memcpy(key, "mkt/ma/", 7);
    put_be64(key + 7, slot_start_ms);
    memcpy(key + 15, pk, CHAIN_PK_BYTES);
}

/* ---- decoder: everything that needs no state ---- */

static void free_reading(void *msg)
{
    protobuf_c_message_free_unpacked(msg, NULL);
}

static int decode_reading(const uint8_t *p, size_t n, void **out)
{
    ProtobufCMessage *m;
    int rc = chain_pb_unpack(&gl__meter_reading__descriptor, p, n, CHAIN_TX_PAYLOAD_MAX_BYTES, &m);
    if (rc)
        return rc;
    Gl__MeterReading *r = (Gl__MeterReading *)m;
    rc = chain_check_key(r->meter);
    if (!rc && r->slot_len_s != MKT_SLOT_MS_DEFAULT / 1000 &&
        r->slot_len_s != MKT_SLOT_MS_SHORT / 1000)
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (!rc && r->slot > MKT_READING_MAX_SLOT_INDEX)
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (!rc && (r->import_wh > MKT_READING_MAX_WH || r->export_wh > MKT_READING_MAX_WH))
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (!rc && (r->cum_import_wh > MKT_READING_MAX_REGISTER_WH ||
                     r->cum_export_wh > MKT_READING_MAX_REGISTER_WH))
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    else if (!rc && (r->flags & ~UINT32_C(15)) != 0)
        rc = CHAIN_ERR_DECODE_BAD_VALUE; /* MeterFlag bits only */
    if (rc) {
        protobuf_c_message_free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return CHAIN_ERR_OK;
}

/* ---- handler ---- */

/* The participant a meter key is bound to ("mk/" binding, written at
 * registration), if it is a market participant.  METER_NOT_BOUND otherwise. */
static int meter_owner(struct chain_exec_ctx *ctx, const uint8_t *meter,
                       uint8_t owner[static CHAIN_PK_BYTES])
{
    uint8_t key[3 + CHAIN_PK_BYTES];
    ProtobufCMessage *m;
    memcpy(key, "mk/", 3);
    memcpy(key + 3, meter, CHAIN_PK_BYTES);
    int rc = chain_state_get_msg(ctx, key, sizeof key, &gl__meter_binding__descriptor, &m);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return MKT_ERR_METER_NOT_BOUND;
    if (rc)
        return rc;
    Gl__MeterBinding *b = (Gl__MeterBinding *)m;
    if (b->owner.len != CHAIN_PK_BYTES) {
        gl__meter_binding__free_unpacked(b, NULL);
        return CHAIN_ERR_STORE;
    }
    memcpy(owner, b->owner.data, CHAIN_PK_BYTES);
    gl__meter_binding__free_unpacked(b, NULL);
    Gl__MktParticipant *part;
    rc = mkt_participant_load(ctx, owner, &part);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return MKT_ERR_METER_NOT_BOUND; /* bound by the ledger, not admitted to the market */
    if (rc)
        return rc;
    gl__mkt_participant__free_unpacked(part, NULL);
    return CHAIN_ERR_OK;
}

static int keep_evidence(struct chain_exec_ctx *ctx, const struct chain_tx *tx,
                         const Gl__MeterReading *r, const uint8_t *first, size_t first_len,
                         const uint8_t *bytes, size_t len)
{
    uint8_t key[MKT_KEY_EVIDENCE_BYTES];
    const uint8_t *v;
    size_t vl;
    mkt_key_evidence(key, r->meter.data, r->slot);
    int rc = chain_state_get(ctx, key, sizeof key, &v, &vl);
    if (rc == CHAIN_ERR_OK)
        return MKT_ERR_READING_CONFLICTS; /* evidence kept already: refuse, store nothing */
    if (rc != CHAIN_ERR_NOT_FOUND)
        return rc;
    Gl__MktReadingEvidence ev = GL__MKT_READING_EVIDENCE__INIT;
    ev.first = (ProtobufCBinaryData){first_len, (uint8_t *)first};
    ev.conflicting = (ProtobufCBinaryData){len, (uint8_t *)bytes};
    ev.tx_hash = (ProtobufCBinaryData){CHAIN_HASH_BYTES, (uint8_t *)tx->hash};
    ev.height = ctx->height;
    return chain_state_put_msg(ctx, key, sizeof key, &ev.base);
}

static int add_to_agg(struct chain_exec_ctx *ctx, uint64_t slot_start,
                      const uint8_t owner[static CHAIN_PK_BYTES], const Gl__MeterReading *r)
{
    uint8_t key[MKT_KEY_METER_AGG_BYTES];
    ProtobufCMessage *m;
    Gl__MktMeterAgg agg = GL__MKT_METER_AGG__INIT;
    mkt_key_meter_agg(key, slot_start, owner);
    int rc = chain_state_get_msg(ctx, key, sizeof key, &gl__mkt_meter_agg__descriptor, &m);
    if (rc && rc != CHAIN_ERR_NOT_FOUND)
        return rc;
    if (rc == CHAIN_ERR_OK) {
        Gl__MktMeterAgg *old = (Gl__MktMeterAgg *)m;
        agg.import_wh = old->import_wh;
        agg.export_wh = old->export_wh;
        agg.readings = old->readings;
        gl__mkt_meter_agg__free_unpacked(old, NULL);
    }
    /* At most CHAIN_METER_KEYS_MAX readings of MKT_READING_MAX_WH each. */
    if (agg.readings >= CHAIN_METER_KEYS_MAX || agg.import_wh > MKT_READING_MAX_WH * 8 ||
        agg.export_wh > MKT_READING_MAX_WH * 8)
        return CHAIN_ERR_STORE;
    agg.import_wh += r->import_wh;
    agg.export_wh += r->export_wh;
    agg.readings++;
    return chain_state_put_msg(ctx, key, sizeof key, &agg.base);
}

static int apply_reading(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    const Gl__MeterReading *r = msg;
    uint8_t owner[CHAIN_PK_BYTES];
    struct mkt_params p;
    uint8_t *bytes = NULL;
    size_t len;
    if (memcmp(r->meter.data, tx->signer, CHAIN_PK_BYTES) != 0)
        return MKT_ERR_READING_WRONG_METER;
    int rc = meter_owner(ctx, tx->signer, owner);
    if (rc || (rc = mkt_params_load(ctx, &p)))
        return rc;
    if ((uint64_t)r->slot_len_s * 1000 != p.p.slot_ms)
        return MKT_ERR_READING_SLOT_LENGTH;
    /* slot <= 2^40, slot_ms < 2^20, epoch <= 2^50: no overflow. */
    uint64_t start = p.p.meter_epoch_ms + r->slot * p.p.slot_ms;
    uint64_t end = start + p.p.slot_ms;
    if (end > ctx->time_ms + MKT_READING_EARLY_MS)
        return MKT_ERR_READING_IN_FUTURE;
    if (ctx->time_ms >= end + p.p.metering_window_ms)
        return MKT_ERR_READING_WINDOW_CLOSED;
    if ((rc = mkt_slot_settled(ctx, start)) < 0)
        return rc;
    if (rc == 1)
        return MKT_ERR_READING_WINDOW_CLOSED; /* settled under a shorter window already */

    if ((rc = chain_pb_pack(&r->base, &bytes, &len)))
        return rc;
    uint8_t key[MKT_KEY_READING_BYTES];
    const uint8_t *v;
    size_t vl;
    mkt_key_reading(key, r->meter.data, r->slot);
    rc = chain_state_get(ctx, key, sizeof key, &v, &vl);
    if (rc == CHAIN_ERR_OK) {
        if (vl == len && memcmp(v, bytes, len) == 0)
            rc = CHAIN_ERR_OK; /* identical duplicate: nothing to do */
        else
            rc = keep_evidence(ctx, tx, r, v, vl, bytes, len);
        goto out;
    }
    if (rc != CHAIN_ERR_NOT_FOUND)
        goto out;
    if ((rc = chain_state_put(ctx, key, sizeof key, bytes, len)) ||
        (rc = add_to_agg(ctx, start, owner, r)))
        goto out;
    rc = mkt_settle_enqueue(ctx, &p.p, start);
out:
    free(bytes);
    return rc;
}

const struct chain_tx_handler mkt_meter_handler = {"mkt_meter_reading", decode_reading,
                                                   free_reading, apply_reading};

int mkt_payload_reading(const uint8_t meter[static CHAIN_PK_BYTES], const struct mkt_reading *r,
                        uint8_t **out, size_t *len)
{
    Gl__MeterReading t = GL__METER_READING__INIT;
    t.meter = (ProtobufCBinaryData){CHAIN_PK_BYTES, (uint8_t *)meter};
    t.slot = r->slot;
    t.import_wh = r->import_wh;
    t.export_wh = r->export_wh;
    t.cum_import_wh = r->cum_import_wh;
    t.cum_export_wh = r->cum_export_wh;
    t.flags = r->flags;
    t.slot_len_s = r->slot_len_s;
    return chain_pb_pack(&t.base, out, len);
}
