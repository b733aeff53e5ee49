/* mb_reading.h -- a slot reading as a signed chain transaction (meter.proto).
 *
 * The payload is gl.MeterReading; the envelope is chain_tx_build(chain_id,
 * nonce, TX_METER_READING = 120, payload) signed by the meter key. */
#ifndef MB_READING_H
#define MB_READING_H

#include <stddef.h>
#include <stdint.h>

#include "chain_limits.h"
#include "mb_err.h"
#include "mb_slot.h"

#define MB_TX_METER_READING  120u
#define MB_STATE_KEY_BYTES   (6u + CHAIN_PK_BYTES + 8u) /* "meter/" || pk || slot BE */
#define MB_PAYLOAD_MAX_BYTES 128u

/* Encode r as gl.MeterReading for meter pk into out (canonical protobuf-c
 * bytes).  *len gets the size.  Errors: SIGN (cannot pack). */
int mb_reading_encode(const struct mb_reading *r, const uint8_t pk[static CHAIN_PK_BYTES],
                      uint8_t out[static MB_PAYLOAD_MAX_BYTES], size_t *len /* OUT */) MB_MUST_USE;

/* Strict decode (chain_pb_unpack: canonical, no unknown fields).  pk_out may
 * be NULL.  Errors: SINK_PROTOCOL for bytes that are not a MeterReading with
 * a 32-byte meter. */
int mb_reading_decode(const uint8_t *bytes, size_t len, struct mb_reading *r /* OUT */,
                      uint8_t pk_out[CHAIN_PK_BYTES]) MB_MUST_USE;

/* Build the signed envelope; *tx is malloc'd (caller frees).  Errors: SIGN. */
int mb_reading_tx(const char *chain_id, uint64_t nonce, const uint8_t *payload, size_t payload_len,
                  const uint8_t pk[static CHAIN_PK_BYTES], const uint8_t sk[static CHAIN_SK_BYTES],
                  uint8_t **tx /* OUT */, size_t *tx_len /* OUT */) MB_MUST_USE;

/* The proposed state key of a reading (meter.proto). */
void mb_reading_state_key(const uint8_t pk[static CHAIN_PK_BYTES], uint64_t slot,
                          uint8_t key[static MB_STATE_KEY_BYTES]);

#endif
