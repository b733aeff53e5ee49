/* mkt_clear.h -- the pure clearing core: a uniform-price double auction and
 * P2P matching with grid fees, over one book (one commodity, market and slot).
 *
 * Everything here is consensus-critical: integers only, no clock, no random
 * source, no I/O, and the result is a pure function of the book's contents --
 * the order in which the orders sit in the array changes nothing but the
 * indices that results refer to.  Every validator that runs these functions on
 * the same book gets a byte-identical result.  The rules, with worked
 * examples and every rounding rule, are in market/README.md.
 *
 * Units: quantities in Wh, prices in micro-units per kWh.  A price times a
 * quantity is therefore in units of 10^-9 currency units ("nano-units"); the
 * welfare figures below are in nano-units and kept in 128 bits, because
 * 10^6 orders of 10^9 Wh at 10^9 micro/kWh exceed int64.  Money actually paid
 * is in micro-units (see mkt_pay_*). */
#ifndef MKT_CLEAR_H
#define MKT_CLEAR_H

#include <stddef.h>
#include <stdint.h>

#include "mkt_err.h"

/* Input caps: every product of two of them fits in int64, every sum over a
 * book in 128 bits. */
#define MKT_MAX_ORDERS     (1u << 20)
#define MKT_MAX_QTY_WH     INT64_C(1000000000)          /* 1 GWh */
#define MKT_MAX_PRICE      INT64_C(1000000000)          /* 1000 units per kWh */
#define MKT_MAX_BUS        1024u
#define MKT_MAX_PREF_SET   4096u
#define MKT_MAX_FEE_FACTOR UINT32_C(1000000)           /* matrix entry cap */

/* Pseudo-indices for the grid's fills in trades. */
#define MKT_GRID_SELL UINT32_C(0xfffffffe) /* the grid selling at retail */
#define MKT_GRID_BUY  UINT32_C(0xffffffff) /* the grid buying at feed-in */
/* The participant the grid trades as (for partner preferences). */
#define MKT_GRID_PARTICIPANT UINT32_C(0xffffffff)

#define MKT_I128_DEC_BYTES 41 /* "-170141183460469231731687303715884105728" + NUL */

enum mkt_side { MKT_BUY = 0, MKT_SELL = 1 };

enum mkt_order_flags {
    MKT_ORDER_RENEWABLE = 1u << 0, /* seller: the energy is renewable */
};

/* Partner preferences of one order (P2P, dense form only).  A pair (buy, sell)
 * may trade only if each side's allowed set (when given) contains the other's
 * participant and neither side's excluded set does.  The premiums are a
 * buyer's: an adder, in micro-units per kWh, to the pair's weight in the
 * objective when the seller is renewable (premium_renewable) or on the same
 * bus (premium_local).  A premium is a preference, not money: it is never
 * paid, and it never makes a pair trade whose money surplus is negative. */
struct mkt_prefs {
    const uint32_t *allowed; /* participants; NULL: anyone */
    uint32_t nallowed;
    const uint32_t *excluded; /* participants; may be NULL when nexcluded is 0 */
    uint32_t nexcluded;
    int64_t premium_renewable_micro_per_kwh; /* 0..MKT_MAX_PRICE, buy orders only */
    int64_t premium_local_micro_per_kwh;     /* 0..MKT_MAX_PRICE, buy orders only */
};

struct mkt_order {
    uint32_t id;          /* unique within the book */
    uint32_t participant;
    uint32_t bus;         /* P2P: below fees->nbus; ignored by the auction */
    uint8_t side;         /* enum mkt_side */
    uint8_t flags;        /* enum mkt_order_flags */
    int64_t qty_wh;       /* 1..MKT_MAX_QTY_WH */
    int64_t price_micro_per_kwh; /* limit: 0..MKT_MAX_PRICE */
    uint64_t arrival;     /* time priority: lower first; ties by id */
    const struct mkt_prefs *prefs; /* NULL: none; borrowed for the call */
};

/* The grid as backstop: sells without limit at retail, buys without limit at
 * feed-in (0 <= feed_in <= retail <= MKT_MAX_PRICE). */
struct mkt_grid {
    int64_t retail_micro_per_kwh;
    int64_t feed_in_micro_per_kwh;
    uint32_t bus; /* P2P: where the grid connects */
};

struct mkt_book {
    const struct mkt_order *orders; /* borrowed for the call */
    size_t norders;
    const struct mkt_grid *grid; /* NULL: no backstop */
};

/* ---- uniform-price double auction (mkt_auction.c) ---- */

struct mkt_auction_result {
    int64_t price_micro_per_kwh;    /* floor((price_lo + price_hi) / 2) */
    int64_t price_lo_micro_per_kwh; /* the interval of prices that clear volume_wh */
    int64_t price_hi_micro_per_kwh;
    int64_t volume_wh;              /* sum of buy fills = sum of sell fills, grid included */
    __int128 welfare;               /* nano-units: sum p*q of buy fills - of sell fills */
    int64_t grid_buy_wh;            /* the grid's fill as buyer ("grid:buy") */
    int64_t grid_sell_wh;           /* the grid's fill as seller ("grid:sell") */
    size_t norders;
    int64_t *fill_wh;               /* norders entries, in the book's order; owned */
};

/* Clear book by the uniform-price rules of market/README.md.  out is
 * initialised here; release it with mkt_auction_result_deinit, also after an
 * error.  Errors: BOOK_TOO_LARGE, BAD_QTY, BAD_PRICE, BAD_SIDE, BAD_GRID,
 * DUPLICATE_ORDER_ID, NOMEM. */
int mkt_auction_clear(const struct mkt_book *book,
                      struct mkt_auction_result *out /* OUT */) MKT_MUST_USE;
void mkt_auction_result_deinit(struct mkt_auction_result *r); /* accepts NULL */

/* ---- P2P matching with grid fees (mkt_p2p.c) ---- */

enum mkt_fee_model {
    MKT_FEE_UNIFORM = 0,  /* fee = rate */
    MKT_FEE_ZONAL = 1,    /* fee = rate * zones crossed, matrix[buyer bus][seller bus] */
    MKT_FEE_DISTANCE = 2, /* fee = rate * electrical distance, same matrix layout */
};

struct mkt_fees {
    uint8_t model;            /* enum mkt_fee_model */
    int64_t rate_micro_per_kwh;
    uint32_t nbus;            /* 1..MKT_MAX_BUS */
    const uint32_t *matrix;   /* nbus*nbus, row-major [buyer bus][seller bus]; NULL for UNIFORM */
};

enum mkt_p2p_form {
    MKT_P2P_AUTO = 0,  /* bus form unless some order has preferences */
    MKT_P2P_BUS = 1,   /* seller -> bus -> bus -> buyer: S + B + K^2 arcs */
    MKT_P2P_DENSE = 2, /* one arc per admissible pair */
};

struct mkt_trade {
    uint32_t buy, sell;                 /* order indices, or MKT_GRID_BUY / MKT_GRID_SELL */
    int64_t qty_wh;
    int64_t price_micro_per_kwh;        /* floor((p_buy + p_sell) / 2) */
    int64_t fee_micro_per_kwh;          /* rate * matrix[bus_buy][bus_sell] */
    int64_t buyer_pays_micro;           /* see mkt_pay_buyer_micro */
    int64_t seller_receives_micro;      /* see mkt_pay_seller_micro */
    int64_t fee_micro;                  /* to the grid-fee pool */
    int64_t fee_rounding_micro;         /* to the "fee-rounding" pool: 0..2 */
};

struct mkt_p2p_result {
    int64_t volume_wh;
    __int128 welfare;   /* nano-units: sum over trades of (p_buy - p_sell - fee) * q */
    __int128 objective; /* welfare + sum over trades of the buyer's premium * q */
    int64_t grid_buy_wh, grid_sell_wh;
    int64_t fee_total_micro, fee_rounding_total_micro;
    size_t norders;
    int64_t *fill_wh;   /* norders entries, in the book's order; owned */
    size_t ntrades;
    struct mkt_trade *trades; /* ordered by (buy, sell) in time priority; owned */
    uint8_t form;       /* the enum mkt_p2p_form actually used */
};

/* Match book pair by pair, maximising the objective exactly (min-cost flow by
 * cost scaling).  out is initialised here; release it with
 * mkt_p2p_result_deinit, also after an error.  Errors: BOOK_TOO_LARGE, BAD_QTY,
 * BAD_PRICE, BAD_SIDE, BAD_BUS, BAD_FEES, BAD_GRID, DUPLICATE_ORDER_ID,
 * BAD_PREFS, PREFS_NEED_DENSE, BAD_FORM, NOMEM. */
int mkt_p2p_clear(const struct mkt_book *book, const struct mkt_fees *fees, uint8_t form,
                  struct mkt_p2p_result *out /* OUT */) MKT_MUST_USE;
void mkt_p2p_result_deinit(struct mkt_p2p_result *r); /* accepts NULL */

/* ---- helpers ---- */

/* Fee per kWh between a buyer's and a seller's bus.  Precondition: fees valid
 * (mkt_p2p_clear checks), buses below nbus. */
int64_t mkt_fee_micro_per_kwh(const struct mkt_fees *fees, uint32_t bus_buy, uint32_t bus_sell);

/* Money of one fill or trade of qty_wh at price (per kWh), in micro-units.
 * The buyer pays ceil((price + ceil(fee/2)) * q / 1000); the seller receives
 * floor((price - floor(fee/2)) * q / 1000).  The auction uses fee = 0. */
int64_t mkt_pay_buyer_micro(int64_t price_micro_per_kwh, int64_t fee_micro_per_kwh, int64_t qty_wh);
int64_t mkt_pay_seller_micro(int64_t price_micro_per_kwh, int64_t fee_micro_per_kwh, int64_t qty_wh);

/* Decimal form of a 128-bit integer into buf; returns buf. */
char *mkt_i128_format(__int128 v, char buf[static MKT_I128_DEC_BYTES]);

#endif
