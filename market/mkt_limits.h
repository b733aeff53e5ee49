/* mkt_limits.h -- every limit of the market's transactions and books, in one place.
 *
 * Decoders (mkt_tx.c) and handlers enforce these with named errors, so no
 * payload or book can make a validator allocate or compute beyond them. */
#ifndef MKT_LIMITS_H
#define MKT_LIMITS_H

#include <stdint.h>

#define MKT_DAY_MS             UINT64_C(86400000)
#define MKT_SLOT_MS_DEFAULT    UINT64_C(900000)   /* 15 min */
#define MKT_SLOT_MS_SHORT      UINT64_C(300000)   /* 5 min, as the Energy Collective trades */
#define MKT_DA_LEAD_MS_DEFAULT UINT64_C(43200000) /* day-ahead gate: D-1 12:00 UTC */
#define MKT_ID_LEAD_MS_DEFAULT UINT64_C(3600000)  /* intraday gate: one hour before the slot */
#define MKT_LEAD_MS_MAX        (2 * MKT_DAY_MS)

#define MKT_HORIZON_MS_MAX          (7 * MKT_DAY_MS) /* orders and tariffs at most a week ahead */
#define MKT_BOOK_MAX_ORDERS         20000u           /* orders ever indexed in one book */
#define MKT_ORDER_MAX_PREFS         16u              /* allowed, and excluded, counterparties */
#define MKT_PARAMS_MAX_BUS          32u              /* fee matrix side (fits one transaction) */
#define MKT_PARAMS_MAX_FEE_FACTOR   10000u           /* fee matrix entry */
#define MKT_PARTICIPANTS_MAX        1000000u
#define MKT_CLEARINGS_PER_BLOCK_MAX 256u /* books the end-of-block hook clears per block */
/* Partner preferences need the dense P2P form, one arc per (buy, sell) pair.
 * A book with more pairs than this clears in the bus form with preferences
 * ignored (MktResult.prefs_ignored), so that one order cannot make a book cost
 * quadratic memory and time. */
#define MKT_DENSE_MAX_PAIRS 1000000u
#define MKT_NAME_MAX_BYTES  64u

/* ---- metering and settlement (mkt_meter.c, mkt_settle.c) ---- */
#define MKT_PPM                          UINT64_C(1000000)
#define MKT_METERING_WINDOW_MS_DEFAULT   UINT64_C(3600000) /* readings until slot end + 1 h */
#define MKT_METERING_WINDOW_MS_MAX       (2 * MKT_DAY_MS)
#define MKT_READING_EARLY_MS             UINT64_C(60000) /* a slot's reading may come 1 min early */
#define MKT_READING_MAX_WH               UINT64_C(1000000000) /* per meter and slot: 1 GWh */
#define MKT_READING_MAX_REGISTER_WH      (UINT64_C(1) << 62)  /* cumulative registers */
#define MKT_READING_MAX_SLOT_INDEX       (UINT64_C(1) << 40)
#define MKT_METER_EPOCH_MS_MAX           (UINT64_C(1) << 50)
#define MKT_IMBALANCE_MARKUP_PPM_DEFAULT 100000u /* imbalance prices 10 % worse than the tariff */
#define MKT_IMBALANCE_MARKUP_PPM_MAX     1000000u
#define MKT_MISSING_PENALTY_DEFAULT      UINT64_C(100000) /* 0.1 token per slot */
#define MKT_MISSING_PENALTY_MAX          UINT64_C(1000000000000)
#define MKT_STRIKE_LIMIT_DEFAULT         3u
#define MKT_STRIKE_LIMIT_MAX             100000u
#define MKT_MU_MIN_PPM_DEFAULT           500000u /* mu within [0.5, 2] by default */
#define MKT_MU_MAX_PPM_DEFAULT           2000000u
#define MKT_MU_PPM_MAX                   10000000u /* mu at most 10 */
#define MKT_SETTLEMENTS_PER_BLOCK_MAX    16u  /* slots settled per block; the rest next block */
#define MKT_DEBT_SWEEP_PER_BLOCK_MAX     256u /* debtors repaid from their balance per block */

#endif
