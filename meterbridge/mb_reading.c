/* mb_reading.c -- encode, decode and sign meter readings (mb_reading.h). */
#include "mb_reading.h"

#include <stdlib.h>
#include <string.h>

#include "chain_codec.h"
#include "meter.pb-c.h"

int mb_reading_encode(const struct mb_reading *r, const uint8_t pk[static CHAIN_PK_BYTES],
                      uint8_t out[static MB_PAYLOAD_MAX_BYTES], size_t *len)
{
    Gl__MeterReading m = GL__METER_READING__INIT;
    m.meter.data = (uint8_t *)pk;
    m.meter.len = CHAIN_PK_BYTES;
    m.slot = r->slot;
    m.import_wh = r->import_wh;
    m.export_wh = r->export_wh;
    m.cum_import_wh = r->cum_import_wh;
    m.cum_export_wh = r->cum_export_wh;
    m.flags = r->flags;
    m.slot_len_s = r->slot_len_s;
    size_t n = gl__meter_reading__get_packed_size(&m);
    if (n > MB_PAYLOAD_MAX_BYTES)
        return MB_ERR_SIGN;
    *len = gl__meter_reading__pack(&m, out);
    return *len == n ? MB_ERR_OK : MB_ERR_SIGN;
}

int mb_reading_decode(const uint8_t *bytes, size_t len, struct mb_reading *r,
                      uint8_t pk_out[CHAIN_PK_BYTES])
{
    ProtobufCMessage *msg = NULL;
    if (chain_pb_unpack(&gl__meter_reading__descriptor, bytes, len, MB_PAYLOAD_MAX_BYTES, &msg))
        return MB_ERR_SINK_PROTOCOL;
    Gl__MeterReading *m = (Gl__MeterReading *)msg;
    int rc = MB_ERR_SINK_PROTOCOL;
    if (m->meter.len != CHAIN_PK_BYTES)
        goto done;
    memset(r, 0, sizeof *r);
    r->slot = m->slot;
    r->import_wh = m->import_wh;
    r->export_wh = m->export_wh;
    r->cum_import_wh = m->cum_import_wh;
    r->cum_export_wh = m->cum_export_wh;
    r->flags = m->flags;
    r->slot_len_s = m->slot_len_s;
    if (pk_out)
        memcpy(pk_out, m->meter.data, CHAIN_PK_BYTES);
    rc = MB_ERR_OK;
done:
    protobuf_c_message_free_unpacked(msg, NULL);
    return rc;
}

int mb_reading_tx(const char *chain_id, uint64_t nonce, const uint8_t *payload, size_t payload_len,
                  const uint8_t pk[static CHAIN_PK_BYTES], const uint8_t sk[static CHAIN_SK_BYTES],
                  uint8_t **tx, size_t *tx_len)
{
    if (chain_tx_build(chain_id, nonce, MB_TX_METER_READING, payload, payload_len, pk, sk, tx,
                       tx_len))
        return MB_ERR_SIGN;
    return MB_ERR_OK;
}

void mb_reading_state_key(const uint8_t pk[static CHAIN_PK_BYTES], uint64_t slot,
                          uint8_t key[static MB_STATE_KEY_BYTES])
{
    memcpy(key, "meter/", 6);
    memcpy(key + 6, pk, CHAIN_PK_BYTES);
    for (unsigned i = 0; i < 8; i++)
        key[6 + CHAIN_PK_BYTES + i] = (uint8_t)(slot >> (56 - 8 * i));
}
