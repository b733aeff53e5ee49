/* mkt_err.h -- the market's result space: codes from -200 down.
 *
 * chain_err.h leaves the range below -200 to market/.  Names and messages
 * come from one X-macro so that a code, its name and its message never drift
 * (libuv's UV_ERRNO_MAP).  Every error here is a property of the input (a
 * book, a fee table, a tariff): the clearing core returns one of these for bad
 * input and never asserts on it. */
#ifndef MKT_ERR_H
#define MKT_ERR_H

#define MKT_ERRORS(X)                                                                              \
    X(OK, 0, "ok")                                                                                 \
    X(NOMEM, -200, "out of memory")                                                                \
    X(BOOK_TOO_LARGE, -201, "book has more orders or buses than exact clearing allows")            \
    X(BAD_QTY, -202, "order quantity must be between 1 Wh and MKT_MAX_QTY_WH")                     \
    X(BAD_PRICE, -203, "order limit price must be between 0 and MKT_MAX_PRICE micro-units/kWh")    \
    X(BAD_SIDE, -204, "order side must be buy or sell")                                            \
    X(BAD_BUS, -205, "order or grid bus is not below the number of buses")                         \
    X(BAD_FEES, -206, "fee table invalid: unknown model, rate or matrix entry out of range")       \
    X(BAD_GRID, -207, "grid tariff invalid: a price out of range or retail below feed-in")         \
    X(DUPLICATE_ORDER_ID, -208, "two orders in the book have the same id")                         \
    X(BAD_PREFS, -209, "partner preferences invalid: premium out of range or set too large")       \
    X(PREFS_NEED_DENSE, -210, "partner preferences need the dense P2P form, not the bus form")     \
    X(BAD_FORM, -211, "unknown P2P form")                                                          \
    X(PRICE_OUT_OF_BAND, -220, "limit price is outside the market's price band")                   \
    X(GATE_CLOSED, -221, "the gate of this book has closed")                                       \
    X(PARTICIPANT_SUSPENDED, -222, "participant is suspended from trading")                        \
    X(PARTICIPANT_IN_DEBT, -223, "participant has an unpaid debt; new orders are blocked")         \
    X(INSUFFICIENT_FUNDS, -224, "balance does not cover the amount to lock")                       \
    X(UNKNOWN_PARTICIPANT, -225, "signer is not a registered market participant")                  \
    X(WRONG_SIGNER, -226, "signer does not own this order")                                        \
    X(NOT_OPERATOR, -227, "only the market operator may send this transaction")                    \
    X(NOT_SHADOW_CENTRE, -228, "only the shadow centre may post grid tariffs")                     \
    X(ALREADY_REGISTERED, -229, "participant is already registered in the market")                 \
    X(UNKNOWN_ORDER, -230, "no order with this id")                                                \
    X(ORDER_NOT_OPEN, -231, "order is already cleared, cancelled or expired")                      \
    X(BOOK_FULL, -232, "book has reached MKT_BOOK_MAX_ORDERS orders")                              \
    X(SLOT_MISALIGNED, -233, "slot start is not a multiple of the market's slot length")           \
    X(SLOT_BEYOND_HORIZON, -234, "slot starts more than MKT_HORIZON_MS_MAX ahead")                 \
    X(BOOK_CLEARED, -235, "this book has already been cleared")                                    \
    X(BAD_VALIDITY, -236, "valid-until is before valid-from or already past")                      \
    X(UNKNOWN_COUNTERPARTY, -237, "a partner preference names an unregistered participant")        \
    X(METER_BOUND, -238, "meter key is already bound to another participant")                      \
    X(DAY_AHEAD_NOT_CLEARED, -239, "the intraday book clears only after its day-ahead book")       \
    X(UNKNOWN_ACCOUNT, -240, "account does not exist")                                             \
    X(METER_NOT_BOUND, -241, "signer is not a meter key bound to a market participant")            \
    X(READING_WRONG_METER, -242, "the reading names another meter than its signer")                \
    X(READING_SLOT_LENGTH, -243, "the reading's slot length differs from the market's")            \
    X(READING_IN_FUTURE, -244, "the reading's slot has not ended yet")                             \
    X(READING_WINDOW_CLOSED, -245, "the metering window of this slot has closed (or it settled)")  \
    X(READING_CONFLICTS, -246, "another reading of this meter and slot exists (kept as evidence)")

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
