/* mkt_err.h -- the market's result space: codes from -200 down.
 *
 * chain_err.h leaves the range below -200 to market/.  Names and messages
 * come from one X-macro so that a code, its name and its message never drift
 * (libuv's UV_ERRNO_MAP).  Every error here is a property of the input (a
 * book, a fee table, a tariff): the clearing core returns one of these for bad
 * input and never asserts on it. */
#ifndef MKT_ERR_H
#define MKT_ERR_H

#define MKT_ERRORS(X)                                                                          \
    X(OK, 0, "ok")                                                                             \
    X(NOMEM, -200, "out of memory")                                                            \
    X(BOOK_TOO_LARGE, -201, "book has more orders or buses than exact clearing allows")        \
    X(BAD_QTY, -202, "order quantity must be between 1 Wh and MKT_MAX_QTY_WH")                 \
    X(BAD_PRICE, -203, "order limit price must be between 0 and MKT_MAX_PRICE micro-units/kWh") \
    X(BAD_SIDE, -204, "order side must be buy or sell")                                        \
    X(BAD_BUS, -205, "order or grid bus is not below the number of buses")                     \
    X(BAD_FEES, -206, "fee table invalid: unknown model, rate or matrix entry out of range")   \
    X(BAD_GRID, -207, "grid tariff invalid: a price out of range or retail below feed-in")     \
    X(DUPLICATE_ORDER_ID, -208, "two orders in the book have the same id")                     \
    X(BAD_PREFS, -209, "partner preferences invalid: premium out of range or set too large")   \
    X(PREFS_NEED_DENSE, -210, "partner preferences need the dense P2P form, not the bus form") \
    X(BAD_FORM, -211, "unknown P2P form")

enum mkt_err {
#define MKT_ERR_ENUM_(name, code, msg) MKT_ERR_##name = (code),
    MKT_ERRORS(MKT_ERR_ENUM_)
#undef MKT_ERR_ENUM_
};

#define MKT_OK MKT_ERR_OK

/* The message for a code: a sentence a person can act on.  Never NULL. */
const char *mkt_strerror(int err);
/* The stable name of a code without prefix ("BAD_QTY").  Never NULL. */
const char *mkt_err_name(int err);

#define MKT_MUST_USE __attribute__((warn_unused_result))

#endif
