/* node_book_json.h -- the JSON face of one market book and its clearing result,
 * for `gridctl market clear` (issue 4, point 6).
 *
 * node_book_parse turns the JSON text of a book into the core's structs
 * (market/mkt_clear.h) and checks every field on the way, so that a bad book
 * is refused with a message that names the field and the order; the core then
 * clears it with exactly the code the chain runs (node_book_clear), and
 * node_result_format prints the result as JSON.  No floating point anywhere:
 * a JSON number with a fraction or an exponent is refused, and the welfare,
 * a 128-bit integer, is printed exactly.  The output is a pure function of the
 * input text: the same book gives byte-identical output.
 *
 * Mapping (documented in README.md, "gridctl market clear"): the order at
 * position i of "orders" gets core id i and arrival i, so ties in time
 * priority go by order of appearance; participant names map to indices by
 * their rank in byte order of all names in the book; the reserved participant
 * name "grid" stands for the grid in partner preferences, and ids beginning
 * with "grid:" are reserved for the grid's fills. */
#ifndef NODE_BOOK_JSON_H
#define NODE_BOOK_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "mkt_clear.h"

/* Input limits (beyond the core's MKT_MAX_*). */
#define NODE_BOOK_MAX_INPUT_BYTES (64u << 20) /* 64 MiB of JSON text */
#define NODE_BOOK_MAX_NAME_BYTES  256u        /* an order id or participant name */
#define NODE_BOOK_ERR_BYTES       512u        /* a message, NUL included */

/* The result space of this file: codes -700..-799 (chain/ owns -1..-199,
 * market/ -200..-299, node_err.h -400.., node_net.h -600..). */
#define NODE_BOOK_ERRORS(X)                                                                    \
    X(OK, 0, "ok")                                                                             \
    X(NOMEM, -700, "out of memory")                                                            \
    X(TOO_LARGE, -701, "input larger than NODE_BOOK_MAX_INPUT_BYTES")                          \
    X(JSON, -702, "input is not valid JSON")                                                   \
    X(FIELD, -703, "a field of the book is missing, mistyped or out of range")                 \
    X(CLEAR, -704, "the clearing core refused the book")

enum node_book_err {
#define NODE_BOOK_ERR_ENUM_(name, code, msg) NODE_BOOK_ERR_##name = (code),
    NODE_BOOK_ERRORS(NODE_BOOK_ERR_ENUM_)
#undef NODE_BOOK_ERR_ENUM_
};

/* The stable name of a code without prefix ("FIELD").  Never NULL. */
const char *node_book_err_name(int err);

/* What went wrong, for a person: code is one of the above, msg a sentence such
 * as `order "o7" (index 6): qty_wh must be a positive integer, got -5`. */
struct node_error {
    int code;
    char msg[NODE_BOOK_ERR_BYTES];
};

enum node_mechanism { NODE_MECH_UNIFORM = 0, NODE_MECH_P2P = 1 };

/* One parsed book.  Everything is owned by the struct and valid until
 * node_book_deinit. */
struct node_book {
    uint8_t mechanism; /* enum node_mechanism */
    int has_grid;
    struct mkt_grid grid;
    int has_fees; /* P2P only */
    struct mkt_fees fees;
    size_t norders;
    struct mkt_order *orders; /* orders[i].id == orders[i].arrival == i */
    char **ids;               /* norders order ids, in input order */
    struct mkt_prefs *prefs;  /* norders entries; orders[i].prefs points here or is NULL */
    uint32_t *matrix;         /* fees.matrix when given */
    uint32_t *pref_pool;      /* storage of every allowed/excluded set */
    size_t nnames;
    char **names;             /* participant names, sorted; index = participant */
};

/* Parse the JSON text json[0..len) (need not be NUL-terminated) into book.
 * book is initialised here; release it with node_book_deinit, also after an
 * error.  Errors: TOO_LARGE, JSON (with line and column), FIELD (naming the
 * field, and the order's id and index), NOMEM; err gets the message. */
int node_book_parse(const char *json, size_t len, struct node_book *book /* OUT */,
                    struct node_error *err /* OUT */) __attribute__((warn_unused_result));
void node_book_deinit(struct node_book *book); /* accepts NULL */

/* The canonical JSON text of book: every field present, fixed key order, one
 * order per line; parsing it gives the same book.  *out is malloc'd, NUL-
 * terminated, *outlen bytes long.  Errors: NOMEM. */
int node_book_format(const struct node_book *book, char **out /* OUT */,
                     size_t *outlen /* OUT */) __attribute__((warn_unused_result));

struct node_result {
    uint8_t mechanism; /* the book's */
    struct mkt_auction_result auction; /* NODE_MECH_UNIFORM */
    struct mkt_p2p_result p2p;         /* NODE_MECH_P2P */
};

/* Clear book with the core (mkt_auction_clear or mkt_p2p_clear, automatic
 * form).  res is initialised here; release it with node_result_deinit, also
 * after an error.  Errors: CLEAR (the message gives the core's MKT_ERR_ name),
 * NOMEM. */
int node_book_clear(const struct node_book *book, struct node_result *res /* OUT */,
                    struct node_error *err /* OUT */) __attribute__((warn_unused_result));
void node_result_deinit(struct node_result *res); /* accepts NULL */

/* The result as JSON text with the keys of issue 4 in a fixed order: "price"
 * (uniform only), "volume_wh", "welfare" (exact, possibly beyond int64),
 * "fills" (input order, then "grid:buy" and "grid:sell" when the book has a
 * grid), "trades" (P2P pair trades in the core's order; empty for uniform).
 * *out is malloc'd and NUL-terminated.  Errors: NOMEM. */
int node_result_format(const struct node_book *book, const struct node_result *res,
                       char **out /* OUT */, size_t *outlen /* OUT */)
    __attribute__((warn_unused_result));

#endif
