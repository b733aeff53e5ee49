/* mkt_meter.h -- meter readings on the chain (gl.MeterReading, type
 * TX_METER_READING = 120, chain/proto/meter.proto): the handler mkt_register
 * adds, a payload builder, and the state keys of readings, evidence and the
 * per-participant sums that settlement (mkt_settle.h) reads.
 *
 * Rules (market/README.md, "Metering and settlement"): the signer is the meter
 * key, bound to a market participant at registration; one reading per (meter,
 * slot); an identical duplicate is a no-op; the first conflicting reading is
 * recorded as evidence and not applied (the transaction succeeds: a refused
 * transaction's writes are rolled back, and evidence must survive), any later
 * one is refused with MKT_READING_CONFLICTS; a slot not yet ended is
 * READING_IN_FUTURE, one past its metering window READING_WINDOW_CLOSED. */
#ifndef MKT_METER_H
#define MKT_METER_H

#include <stdint.h>

#include "chain_codec.h"
#include "chain_limits.h"
#include "meter.pb-c.h"
#include "mkt_err.h"

/* The handler of TX_METER_READING (decode, free, apply). */
extern const struct chain_tx_handler mkt_meter_handler;

/* Reading payload (MeterReading) for a meter key; pack into malloc'd *out. */
struct mkt_reading {
    uint64_t slot; /* slot index since the market's meter_epoch_ms */
    uint64_t import_wh, export_wh, cum_import_wh, cum_export_wh;
    uint32_t flags, slot_len_s;
};
int mkt_payload_reading(const uint8_t meter[static CHAIN_PK_BYTES], const struct mkt_reading *r,
                        uint8_t **out, size_t *len) CHAIN_MUST_USE;

/* "meter/" meter(32) slot index(8): the MeterReading bytes as signed (the key
 * gridmeter proves against, meter.proto). */
#define MKT_KEY_READING_BYTES (6u + CHAIN_PK_BYTES + 8u)
void mkt_key_reading(uint8_t key[static MKT_KEY_READING_BYTES],
                     const uint8_t meter[static CHAIN_PK_BYTES], uint64_t slot_index);
/* "mkt/ev/" meter(32) slot index(8): gl.MktReadingEvidence. */
#define MKT_KEY_EVIDENCE_BYTES (7u + CHAIN_PK_BYTES + 8u)
void mkt_key_evidence(uint8_t key[static MKT_KEY_EVIDENCE_BYTES],
                      const uint8_t meter[static CHAIN_PK_BYTES], uint64_t slot_index);
/* "mkt/ma/" slot start ms(8) participant(32): gl.MktMeterAgg. */
#define MKT_KEY_METER_AGG_BYTES (7u + 8u + CHAIN_PK_BYTES)
void mkt_key_meter_agg(uint8_t key[static MKT_KEY_METER_AGG_BYTES], uint64_t slot_start_ms,
                       const uint8_t pk[static CHAIN_PK_BYTES]);

#endif
