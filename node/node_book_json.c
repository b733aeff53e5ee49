/* node_book_json.c -- a market book from JSON into the clearing core's structs,
 * and the clearing result back out as JSON (see node_book_json.h).
 *
 * Every byte here comes from a user: nothing reaches an assert.  Every field
 * is checked against the same bounds the core applies (mkt_clear.h), so that
 * a refusal names the field and the order instead of the core's bare code;
 * the core's own checks stay behind ours as a second line.  jansson parses
 * (its integers are long long, so no float is ever made from an integer);
 * the output is written by hand so that the key order is fixed and the
 * 128-bit welfare is printed exactly. */
#include "node_book_json.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *node_book_err_name(int err)
{
    switch (err) {
#define NODE_BOOK_ERR_NAME_(name, code, msg)                                                   \
    case code:                                                                                 \
        return #name;
        NODE_BOOK_ERRORS(NODE_BOOK_ERR_NAME_)
#undef NODE_BOOK_ERR_NAME_
    }
    return "UNKNOWN";
}

/* ---- messages ---- */

__attribute__((format(printf, 3, 4))) static int fail(struct node_error *e, int code,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    return code;
}

/* s quoted for a message: JSON escapes, cut after 64 bytes with "...". */
static void quote_for_msg(char *dst, size_t cap, const char *s)
{
    size_t n = 0;
    const size_t limit = 64;
    if (cap < 16) {
        if (cap)
            dst[0] = '\0';
        return;
    }
    dst[n++] = '"';
    for (size_t i = 0; s[i] && n + 8 < cap; i++) {
        if (i == limit) {
            memcpy(dst + n, "...", 3);
            n += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            dst[n++] = '\\';
            dst[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", c);
        } else {
            dst[n++] = (char)c;
        }
    }
    dst[n++] = '"';
    dst[n] = '\0';
}

/* What a JSON value is, for "got ..." in a message. */
static const char *kind_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number with a fraction or an exponent";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "an unknown value";
}

/* ---- field readers: each names ctx and the field in its message ---- */

static int check_keys(const json_t *obj, const char *ctx, const char *const *keys,
                      const char *expected, struct node_error *e)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k) != 0)
            i++;
        if (!keys[i]) {
            char q[96];
            quote_for_msg(q, sizeof q, k);
            return fail(e, NODE_BOOK_ERR_FIELD, "%s: unknown field %s (expected %s)", ctx, q,
                        expected);
        }
    }
    return NODE_BOOK_ERR_OK;
}

/* An integer field in [min, max].  mkt_name: the core's error for a value out
 * of range (NULL: none).  Absent and optional: *out unchanged. */
static int get_int(const json_t *obj, const char *ctx, const char *field, int optional,
                   int64_t min, int64_t max, const char *mkt_name, int64_t *out,
                   struct node_error *e)
{
    const json_t *v = json_object_get(obj, field);
    if (!v) {
        if (optional)
            return NODE_BOOK_ERR_OK;
        return fail(e, NODE_BOOK_ERR_FIELD, "%s: missing field %s", ctx, field);
    }
    if (!json_is_integer(v))
        return fail(e, NODE_BOOK_ERR_FIELD, "%s: %s must be an integer, got %s", ctx, field,
                    kind_of(v));
    json_int_t x = json_integer_value(v);
    if (x < min || x > max) {
        char why[64] = "";
        if (mkt_name)
            snprintf(why, sizeof why, " (MKT_ERR_%s)", mkt_name);
        if (min == 1 && x < 1)
            return fail(e, NODE_BOOK_ERR_FIELD, "%s: %s must be a positive integer, got %lld%s",
                        ctx, field, (long long)x, why);
        return fail(e, NODE_BOOK_ERR_FIELD,
                    "%s: %s must be between %" PRId64 " and %" PRId64 ", got %lld%s", ctx, field,
                    min, max, (long long)x, why);
    }
    *out = (int64_t)x;
    return NODE_BOOK_ERR_OK;
}

/* A string field; *out borrowed from obj. */
static int get_str(const json_t *obj, const char *ctx, const char *field, int optional,
                   const char **out, struct node_error *e)
{
    const json_t *v = json_object_get(obj, field);
    if (!v) {
        if (optional)
            return NODE_BOOK_ERR_OK;
        return fail(e, NODE_BOOK_ERR_FIELD, "%s: missing field %s", ctx, field);
    }
    if (!json_is_string(v))
        return fail(e, NODE_BOOK_ERR_FIELD, "%s: %s must be a string, got %s", ctx, field,
                    kind_of(v));
    *out = json_string_value(v);
    return NODE_BOOK_ERR_OK;
}

/* A name (order id or participant): non-empty, at most NODE_BOOK_MAX_NAME_BYTES. */
static int check_name(const char *s, const char *ctx, const char *field, struct node_error *e)
{
    size_t n = strlen(s);
    if (n == 0)
        return fail(e, NODE_BOOK_ERR_FIELD, "%s: %s must be a non-empty string", ctx, field);
    if (n > NODE_BOOK_MAX_NAME_BYTES)
        return fail(e, NODE_BOOK_ERR_FIELD, "%s: %s is %zu bytes long; the limit is %u", ctx,
                    field, n, NODE_BOOK_MAX_NAME_BYTES);
    return NODE_BOOK_ERR_OK;
}

/* ---- parsing ---- */

#define RESERVED_GRID_NAME "grid"
#define RESERVED_ID_PREFIX "grid:"

static const char *const TOP_KEYS[] = {"mechanism", "grid", "fees", "orders", NULL};
static const char *const GRID_KEYS[] = {"retail_price", "feed_in_price", "bus", NULL};
static const char *const FEES_KEYS[] = {"rate", "model", "matrix", NULL};
static const char *const ORDER_KEYS[] = {"id",  "participant", "side",      "qty_wh",
                                         "price", "bus",       "renewable", "prefs", NULL};
static const char *const PREFS_KEYS[] = {"allowed", "excluded", "premium_renewable",
                                         "premium_local", NULL};
static const char *const FEE_MODELS[] = {"uniform", "zonal", "distance"};

struct named {
    const char *s; /* borrowed from the JSON tree */
    uint32_t idx;
};

static int cmp_named(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    if (c)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void order_ctx(char *ctx, size_t cap, const char *id, size_t i)
{
    if (id) {
        char q[96];
        quote_for_msg(q, sizeof q, id);
        snprintf(ctx, cap, "order %s (index %zu)", q, i);
    } else {
        snprintf(ctx, cap, "order index %zu", i);
    }
}

static int parse_grid(const json_t *g, struct node_book *b, struct node_error *e)
{
    const char *ctx = "grid";
    int64_t retail = 0, feed_in = 0, bus = 0;
    int rc;
    if (!json_is_object(g))
        return fail(e, NODE_BOOK_ERR_FIELD, "grid must be an object, got %s", kind_of(g));
    if ((rc = check_keys(g, ctx, GRID_KEYS, "retail_price, feed_in_price, bus", e)) ||
        (rc = get_int(g, ctx, "retail_price", 0, 0, MKT_MAX_PRICE, "BAD_GRID", &retail, e)) ||
        (rc = get_int(g, ctx, "feed_in_price", 0, 0, MKT_MAX_PRICE, "BAD_GRID", &feed_in, e)) ||
        (rc = get_int(g, ctx, "bus", 1, 0, MKT_MAX_BUS - 1, "BAD_BUS", &bus, e)))
        return rc;
    if (retail < feed_in)
        return fail(e, NODE_BOOK_ERR_FIELD,
                    "grid: retail_price (%" PRId64 ") must not be below feed_in_price (%" PRId64
                    ") (MKT_ERR_BAD_GRID)",
                    retail, feed_in);
    b->has_grid = 1;
    b->grid.retail_micro_per_kwh = retail;
    b->grid.feed_in_micro_per_kwh = feed_in;
    b->grid.bus = (uint32_t)bus;
    return NODE_BOOK_ERR_OK;
}

static int parse_fees(const json_t *f, struct node_book *b, struct node_error *e)
{
    const char *ctx = "fees";
    const char *model = NULL;
    int64_t rate = 0;
    int rc;
    if (!json_is_object(f))
        return fail(e, NODE_BOOK_ERR_FIELD, "fees must be an object, got %s", kind_of(f));
    if ((rc = check_keys(f, ctx, FEES_KEYS, "rate, model, matrix", e)) ||
        (rc = get_int(f, ctx, "rate", 0, 0, MKT_MAX_PRICE, "BAD_FEES", &rate, e)) ||
        (rc = get_str(f, ctx, "model", 0, &model, e)))
        return rc;
    size_t m = 0;
    while (m < 3 && strcmp(model, FEE_MODELS[m]) != 0)
        m++;
    if (m == 3) {
        char q[96];
        quote_for_msg(q, sizeof q, model);
        return fail(e, NODE_BOOK_ERR_FIELD,
                    "fees: model must be \"uniform\", \"zonal\" or \"distance\", got %s "
                    "(MKT_ERR_BAD_FEES)",
                    q);
    }
    b->has_fees = 1;
    b->fees.model = (uint8_t)m;
    b->fees.rate_micro_per_kwh = rate;
    const json_t *mx = json_object_get(f, "matrix");
    if (!mx) {
        if (m != MKT_FEE_UNIFORM)
            return fail(e, NODE_BOOK_ERR_FIELD, "fees: missing field matrix (model %s needs it)",
                        model);
        return NODE_BOOK_ERR_OK; /* nbus comes from the buses in use */
    }
    if (!json_is_array(mx))
        return fail(e, NODE_BOOK_ERR_FIELD, "fees: matrix must be an array of arrays, got %s",
                    kind_of(mx));
    size_t n = json_array_size(mx);
    if (n == 0 || n > MKT_MAX_BUS)
        return fail(e, NODE_BOOK_ERR_FIELD,
                    "fees: matrix must have 1 to %u rows (one per bus), got %zu%s", MKT_MAX_BUS,
                    n, n ? " (MKT_ERR_BOOK_TOO_LARGE)" : " (MKT_ERR_BAD_FEES)");
    b->matrix = malloc(n * n * sizeof *b->matrix);
    if (!b->matrix)
        return fail(e, NODE_BOOK_ERR_NOMEM, "out of memory for a %zu x %zu fee matrix", n, n);
    for (size_t i = 0; i < n; i++) {
        const json_t *row = json_array_get(mx, i);
        if (!json_is_array(row) || json_array_size(row) != n)
            return fail(e, NODE_BOOK_ERR_FIELD,
                        "fees: matrix[%zu] must be an array of %zu integers (the matrix is "
                        "square), got %s%s",
                        i, n, kind_of(row), json_is_array(row) ? " of another length" : "");
        for (size_t j = 0; j < n; j++) {
            const json_t *v = json_array_get(row, j);
            if (!json_is_integer(v))
                return fail(e, NODE_BOOK_ERR_FIELD,
                            "fees: matrix[%zu][%zu] must be an integer, got %s", i, j,
                            kind_of(v));
            json_int_t x = json_integer_value(v);
            if (x < 0 || x > (json_int_t)MKT_MAX_FEE_FACTOR)
                return fail(e, NODE_BOOK_ERR_FIELD,
                            "fees: matrix[%zu][%zu] must be between 0 and %" PRIu32
                            ", got %lld (MKT_ERR_BAD_FEES)",
                            i, j, MKT_MAX_FEE_FACTOR, (long long)x);
            /* both at most 10^9: the product fits in int64 */
            if (rate * (int64_t)x > MKT_MAX_PRICE)
                return fail(e, NODE_BOOK_ERR_FIELD,
                            "fees: rate x matrix[%zu][%zu] = %" PRId64 " x %lld exceeds the "
                            "price cap %" PRId64 " (MKT_ERR_BAD_FEES)",
                            i, j, rate, (long long)x, MKT_MAX_PRICE);
            b->matrix[i * n + j] = (uint32_t)x;
        }
    }
    b->fees.nbus = (uint32_t)n;
    b->fees.matrix = b->matrix;
    return NODE_BOOK_ERR_OK;
}

/* A set of participant names: an array of at most MKT_MAX_PREF_SET strings. */
static int check_set(const json_t *set, const char *ctx, const char *field, size_t *count,
                     struct node_error *e)
{
    if (!json_is_array(set))
        return fail(e, NODE_BOOK_ERR_FIELD, "%s: prefs.%s must be an array of participant names, got %s",
                    ctx, field, kind_of(set));
    size_t n = json_array_size(set);
    if (n > MKT_MAX_PREF_SET)
        return fail(e, NODE_BOOK_ERR_FIELD,
                    "%s: prefs.%s has %zu names; the limit is %u (MKT_ERR_BAD_PREFS)", ctx, field,
                    n, MKT_MAX_PREF_SET);
    for (size_t k = 0; k < n; k++) {
        const json_t *v = json_array_get(set, k);
        char fname[64];
        snprintf(fname, sizeof fname, "prefs.%s[%zu]", field, k);
        if (!json_is_string(v))
            return fail(e, NODE_BOOK_ERR_FIELD, "%s: %s must be a string, got %s", ctx, fname,
                        kind_of(v));
        int rc = check_name(json_string_value(v), ctx, fname, e);
        if (rc)
            return rc;
    }
    *count += n;
    return NODE_BOOK_ERR_OK;
}

/* Pass 1 over one order: every field but the participant indices and sets. */
static int parse_order(const json_t *o, size_t i, struct node_book *b, size_t *npool,
                       size_t *nnames, struct node_error *e)
{
    char ctx[160];
    const char *id = NULL, *participant = NULL, *side = NULL;
    int64_t qty = 0, price = 0, bus = 0;
    int rc;
    order_ctx(ctx, sizeof ctx, NULL, i);
    if (!json_is_object(o))
        return fail(e, NODE_BOOK_ERR_FIELD, "%s: must be an object, got %s", ctx, kind_of(o));
    if ((rc = get_str(o, ctx, "id", 0, &id, e)) || (rc = check_name(id, ctx, "id", e)))
        return rc;
    order_ctx(ctx, sizeof ctx, id, i);
    if (strncmp(id, RESERVED_ID_PREFIX, strlen(RESERVED_ID_PREFIX)) == 0)
        return fail(e, NODE_BOOK_ERR_FIELD,
                    "%s: id must not begin with \"" RESERVED_ID_PREFIX
                    "\" (reserved for the grid's fills)",
                    ctx);
    if ((rc = check_keys(o, ctx, ORDER_KEYS,
                         "id, participant, side, qty_wh, price, bus, renewable, prefs", e)) ||
        (rc = get_str(o, ctx, "participant", 0, &participant, e)) ||
        (rc = check_name(participant, ctx, "participant", e)))
        return rc;
    if (strcmp(participant, RESERVED_GRID_NAME) == 0)
        return fail(e, NODE_BOOK_ERR_FIELD,
                    "%s: participant \"" RESERVED_GRID_NAME "\" is reserved for the grid", ctx);
    if ((rc = get_str(o, ctx, "side", 0, &side, e)))
        return rc;
    uint8_t s;
    if (strcmp(side, "buy") == 0) {
        s = MKT_BUY;
    } else if (strcmp(side, "sell") == 0) {
        s = MKT_SELL;
    } else {
        char q[96];
        quote_for_msg(q, sizeof q, side);
        return fail(e, NODE_BOOK_ERR_FIELD,
                    "%s: side must be \"buy\" or \"sell\", got %s (MKT_ERR_BAD_SIDE)", ctx, q);
    }
    if ((rc = get_int(o, ctx, "qty_wh", 0, 1, MKT_MAX_QTY_WH, "BAD_QTY", &qty, e)) ||
        (rc = get_int(o, ctx, "price", 0, 0, MKT_MAX_PRICE, "BAD_PRICE", &price, e)) ||
        (rc = get_int(o, ctx, "bus", 1, 0, MKT_MAX_BUS - 1, "BAD_BUS", &bus, e)))
        return rc;
    uint8_t flags = 0;
    const json_t *ren = json_object_get(o, "renewable");
    if (ren) {
        if (!json_is_boolean(ren))
            return fail(e, NODE_BOOK_ERR_FIELD, "%s: renewable must be true or false, got %s",
                        ctx, kind_of(ren));
        if (json_is_true(ren))
            flags |= MKT_ORDER_RENEWABLE;
    }
    const json_t *p = json_object_get(o, "prefs");
    if (p) {
        if (b->mechanism != NODE_MECH_P2P)
            return fail(e, NODE_BOOK_ERR_FIELD,
                        "%s: prefs apply only to mechanism \"p2p\"", ctx);
        if (!json_is_object(p))
            return fail(e, NODE_BOOK_ERR_FIELD, "%s: prefs must be an object, got %s", ctx,
                        kind_of(p));
        struct mkt_prefs *pr = &b->prefs[i];
        int64_t prem_ren = 0, prem_loc = 0;
        if ((rc = check_keys(p, ctx, PREFS_KEYS,
                             "allowed, excluded, premium_renewable, premium_local", e)) ||
            (rc = get_int(p, ctx, "premium_renewable", 1, 0, MKT_MAX_PRICE, "BAD_PREFS",
                          &prem_ren, e)) ||
            (rc = get_int(p, ctx, "premium_local", 1, 0, MKT_MAX_PRICE, "BAD_PREFS", &prem_loc,
                          e)))
            return rc;
        if (s == MKT_SELL && (prem_ren || prem_loc))
            return fail(e, NODE_BOOK_ERR_FIELD,
                        "%s: prefs.premium_renewable and prefs.premium_local are a buyer's; a "
                        "sell order must leave them 0 (MKT_ERR_BAD_PREFS)",
                        ctx);
        pr->premium_renewable_micro_per_kwh = prem_ren;
        pr->premium_local_micro_per_kwh = prem_loc;
        const json_t *al = json_object_get(p, "allowed");
        const json_t *ex = json_object_get(p, "excluded");
        size_t before = *npool;
        if (al && (rc = check_set(al, ctx, "allowed", npool, e)))
            return rc;
        pr->nallowed = (uint32_t)(*npool - before);
        before = *npool;
        if (ex && (rc = check_set(ex, ctx, "excluded", npool, e)))
            return rc;
        pr->nexcluded = (uint32_t)(*npool - before);
        b->orders[i].prefs = pr;
    }
    struct mkt_order *mo = &b->orders[i];
    mo->id = (uint32_t)i;
    mo->arrival = (uint64_t)i;
    mo->participant = 0; /* pass 2 */
    mo->bus = (uint32_t)bus;
    mo->side = s;
    mo->flags = flags;
    mo->qty_wh = qty;
    mo->price_micro_per_kwh = price;
    b->ids[i] = strdup(id);
    if (!b->ids[i])
        return fail(e, NODE_BOOK_ERR_NOMEM, "out of memory");
    *nnames += 1;
    return NODE_BOOK_ERR_OK;
}

static uint32_t name_index(const struct node_book *b, const char *s)
{
    if (strcmp(s, RESERVED_GRID_NAME) == 0)
        return MKT_GRID_PARTICIPANT;
    char *const *hit = bsearch(&s, b->names, b->nnames, sizeof *b->names, cmp_str);
    /* every name was collected in pass 1 */
    return hit ? (uint32_t)(hit - b->names) : MKT_GRID_PARTICIPANT;
}

static void fill_set(const struct node_book *b, const json_t *set, uint32_t *dst)
{
    for (size_t k = 0; k < json_array_size(set); k++)
        dst[k] = name_index(b, json_string_value(json_array_get(set, k)));
}

static int parse_orders(const json_t *arr, struct node_book *b, struct node_error *e)
{
    int rc;
    size_t n = json_array_size(arr);
    if (n > MKT_MAX_ORDERS)
        return fail(e, NODE_BOOK_ERR_FIELD,
                    "book: orders has %zu entries; the limit is %u (MKT_ERR_BOOK_TOO_LARGE)", n,
                    MKT_MAX_ORDERS);
    size_t alloc = n ? n : 1;
    b->orders = calloc(alloc, sizeof *b->orders);
    b->ids = calloc(alloc, sizeof *b->ids);
    b->prefs = calloc(alloc, sizeof *b->prefs);
    if (!b->orders || !b->ids || !b->prefs)
        return fail(e, NODE_BOOK_ERR_NOMEM, "out of memory for %zu orders", n);
    b->norders = n;

    size_t npool = 0, nnames = 0;
    for (size_t i = 0; i < n; i++)
        if ((rc = parse_order(json_array_get(arr, i), i, b, &npool, &nnames, e)))
            return rc;

    /* Duplicate ids: sort (id, index), report the later of the first equal pair. */
    struct named *byid = malloc(alloc * sizeof *byid);
    if (!byid)
        return fail(e, NODE_BOOK_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        byid[i] = (struct named){b->ids[i], (uint32_t)i};
    qsort(byid, n, sizeof *byid, cmp_named);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(byid[i - 1].s, byid[i].s) == 0) {
            char ctx[160];
            order_ctx(ctx, sizeof ctx, byid[i].s, byid[i].idx);
            rc = fail(e, NODE_BOOK_ERR_FIELD,
                      "%s: id is already used by order index %" PRIu32
                      " (MKT_ERR_DUPLICATE_ORDER_ID)",
                      ctx, byid[i - 1].idx);
            free(byid);
            return rc;
        }
    }
    free(byid);

    /* Participant names: every name in the book, sorted and unique; a
     * participant's index is its rank.  "grid" stays out (MKT_GRID_PARTICIPANT). */
    const char **all = malloc((nnames + npool + 1) * sizeof *all);
    if (!all)
        return fail(e, NODE_BOOK_ERR_NOMEM, "out of memory");
    size_t na = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(arr, i);
        all[na++] = json_string_value(json_object_get(o, "participant"));
        const json_t *p = json_object_get(o, "prefs");
        const char *sets[2] = {"allowed", "excluded"};
        for (int s = 0; p && s < 2; s++) {
            const json_t *set = json_object_get(p, sets[s]);
            for (size_t k = 0; k < json_array_size(set); k++) {
                const char *nm = json_string_value(json_array_get(set, k));
                if (strcmp(nm, RESERVED_GRID_NAME) != 0)
                    all[na++] = nm;
            }
        }
    }
    qsort(all, na, sizeof *all, cmp_str);
    size_t nu = 0;
    for (size_t i = 0; i < na; i++)
        if (nu == 0 || strcmp(all[nu - 1], all[i]) != 0)
            all[nu++] = all[i];
    b->names = calloc(nu ? nu : 1, sizeof *b->names);
    if (!b->names) {
        free(all);
        return fail(e, NODE_BOOK_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nu; i++) {
        b->names[i] = strdup(all[i]);
        if (!b->names[i]) {
            free(all);
            return fail(e, NODE_BOOK_ERR_NOMEM, "out of memory");
        }
        b->nnames = i + 1;
    }
    free(all);

    /* Pass 2: participant indices and the preference sets. */
    b->pref_pool = malloc((npool ? npool : 1) * sizeof *b->pref_pool);
    if (!b->pref_pool)
        return fail(e, NODE_BOOK_ERR_NOMEM, "out of memory");
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(arr, i);
        b->orders[i].participant = name_index(b, json_string_value(json_object_get(o, "participant")));
        const json_t *p = json_object_get(o, "prefs");
        if (!p)
            continue;
        struct mkt_prefs *pr = &b->prefs[i];
        const json_t *al = json_object_get(p, "allowed");
        if (al) {
            pr->allowed = b->pref_pool + at; /* non-NULL even when empty: nobody */
            fill_set(b, al, b->pref_pool + at);
            at += pr->nallowed;
        }
        const json_t *ex = json_object_get(p, "excluded");
        if (ex) {
            pr->excluded = b->pref_pool + at;
            fill_set(b, ex, b->pref_pool + at);
            at += pr->nexcluded;
        }
    }
    return NODE_BOOK_ERR_OK;
}

/* P2P: every bus below the number of buses (the matrix's size; without a
 * matrix, the uniform fee model takes the highest bus in use + 1). */
static int check_buses(struct node_book *b, struct node_error *e)
{
    if (!b->matrix) {
        uint32_t top = b->has_grid ? b->grid.bus : 0;
        for (size_t i = 0; i < b->norders; i++)
            if (b->orders[i].bus > top)
                top = b->orders[i].bus;
        b->fees.nbus = top + 1;
        return NODE_BOOK_ERR_OK;
    }
    uint32_t nbus = b->fees.nbus;
    for (size_t i = 0; i < b->norders; i++) {
        if (b->orders[i].bus >= nbus) {
            char ctx[160];
            order_ctx(ctx, sizeof ctx, b->ids[i], i);
            return fail(e, NODE_BOOK_ERR_FIELD,
                        "%s: bus must be below the number of buses %" PRIu32
                        " (fees.matrix is %" PRIu32 " x %" PRIu32 "), got %" PRIu32
                        " (MKT_ERR_BAD_BUS)",
                        ctx, nbus, nbus, nbus, b->orders[i].bus);
        }
    }
    if (b->has_grid && b->grid.bus >= nbus)
        return fail(e, NODE_BOOK_ERR_FIELD,
                    "grid: bus must be below the number of buses %" PRIu32 ", got %" PRIu32
                    " (MKT_ERR_BAD_BUS)",
                    nbus, b->grid.bus);
    return NODE_BOOK_ERR_OK;
}

int node_book_parse(const char *json, size_t len, struct node_book *book,
                    struct node_error *err)
{
    memset(book, 0, sizeof *book);
    memset(err, 0, sizeof *err);
    int rc;
    if (len > NODE_BOOK_MAX_INPUT_BYTES)
        return fail(err, NODE_BOOK_ERR_TOO_LARGE,
                    "input is %zu bytes; the limit is %u bytes (64 MiB)", len,
                    NODE_BOOK_MAX_INPUT_BYTES);
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return fail(err, NODE_BOOK_ERR_JSON, "invalid JSON at line %d, column %d: %s", je.line,
                    je.column, je.text);
    const char *mech = NULL;
    if (!json_is_object(root)) {
        rc = fail(err, NODE_BOOK_ERR_FIELD, "book: the top level must be an object, got %s",
                  kind_of(root));
        goto done;
    }
    if ((rc = check_keys(root, "book", TOP_KEYS, "mechanism, grid, fees, orders", err)) ||
        (rc = get_str(root, "book", "mechanism", 0, &mech, err)))
        goto done;
    if (strcmp(mech, "uniform") == 0) {
        book->mechanism = NODE_MECH_UNIFORM;
    } else if (strcmp(mech, "p2p") == 0) {
        book->mechanism = NODE_MECH_P2P;
    } else {
        char q[96];
        quote_for_msg(q, sizeof q, mech);
        rc = fail(err, NODE_BOOK_ERR_FIELD,
                  "book: mechanism must be \"uniform\" or \"p2p\", got %s", q);
        goto done;
    }
    const json_t *g = json_object_get(root, "grid");
    if (g && (rc = parse_grid(g, book, err)))
        goto done;
    const json_t *f = json_object_get(root, "fees");
    if (book->mechanism == NODE_MECH_P2P && !f) {
        rc = fail(err, NODE_BOOK_ERR_FIELD, "book: missing field fees (mechanism \"p2p\" needs it)");
        goto done;
    }
    if (book->mechanism == NODE_MECH_UNIFORM && f) {
        rc = fail(err, NODE_BOOK_ERR_FIELD, "book: fees apply only to mechanism \"p2p\"");
        goto done;
    }
    if (f && (rc = parse_fees(f, book, err)))
        goto done;
    const json_t *orders = json_object_get(root, "orders");
    if (!orders) {
        rc = fail(err, NODE_BOOK_ERR_FIELD, "book: missing field orders");
        goto done;
    }
    if (!json_is_array(orders)) {
        rc = fail(err, NODE_BOOK_ERR_FIELD, "book: orders must be an array, got %s",
                  kind_of(orders));
        goto done;
    }
    if ((rc = parse_orders(orders, book, err)))
        goto done;
    if (book->mechanism == NODE_MECH_P2P && (rc = check_buses(book, err)))
        goto done;
    rc = NODE_BOOK_ERR_OK;
done:
    json_decref(root);
    return rc;
}

void node_book_deinit(struct node_book *b)
{
    if (!b)
        return;
    if (b->ids)
        for (size_t i = 0; i < b->norders; i++)
            free(b->ids[i]);
    if (b->names)
        for (size_t i = 0; i < b->nnames; i++)
            free(b->names[i]);
    free(b->ids);
    free(b->names);
    free(b->orders);
    free(b->prefs);
    free(b->matrix);
    free(b->pref_pool);
    memset(b, 0, sizeof *b);
}

/* ---- clearing ---- */

int node_book_clear(const struct node_book *b, struct node_result *res, struct node_error *err)
{
    memset(res, 0, sizeof *res);
    memset(err, 0, sizeof *err);
    res->mechanism = b->mechanism;
    struct mkt_book mb = {
        .orders = b->orders,
        .norders = b->norders,
        .grid = b->has_grid ? &b->grid : NULL,
    };
    int rc;
    if (b->mechanism == NODE_MECH_UNIFORM)
        rc = mkt_auction_clear(&mb, &res->auction);
    else
        rc = mkt_p2p_clear(&mb, &b->fees, MKT_P2P_AUTO, &res->p2p);
    if (rc == MKT_ERR_NOMEM)
        return fail(err, NODE_BOOK_ERR_NOMEM, "clearing: out of memory (MKT_ERR_NOMEM)");
    if (rc != MKT_OK)
        return fail(err, NODE_BOOK_ERR_CLEAR, "clearing refused the book: %s (MKT_ERR_%s)",
                    mkt_strerror(rc), mkt_err_name(rc));
    return NODE_BOOK_ERR_OK;
}

void node_result_deinit(struct node_result *res)
{
    if (!res)
        return;
    mkt_auction_result_deinit(&res->auction);
    mkt_p2p_result_deinit(&res->p2p);
}

/* ---- output: a growing buffer with a sticky out-of-memory flag ---- */

struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_put(struct sbuf *s, const char *data, size_t n)
{
    if (s->oom)
        return;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *p = realloc(s->p, cap);
        if (!p) {
            s->oom = 1;
            return;
        }
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->len, data, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void sb_str(struct sbuf *s, const char *text)
{
    sb_put(s, text, strlen(text));
}

static void sb_i64(struct sbuf *s, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof buf, "%" PRId64, v);
    sb_put(s, buf, (size_t)n);
}

/* A JSON string: quotes, backslashes and control bytes escaped; jansson has
 * checked that the bytes are UTF-8, so the rest passes through unchanged. */
static void sb_json_string(struct sbuf *s, const char *text)
{
    sb_put(s, "\"", 1);
    for (const char *c = text; *c; c++) {
        unsigned char u = (unsigned char)*c;
        if (u == '"' || u == '\\') {
            char esc[2] = {'\\', (char)u};
            sb_put(s, esc, 2);
        } else if (u < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", u);
            sb_put(s, esc, 6);
        } else {
            sb_put(s, c, 1);
        }
    }
    sb_put(s, "\"", 1);
}

static int sb_finish(struct sbuf *s, char **out, size_t *outlen)
{
    if (s->oom) {
        free(s->p);
        *out = NULL;
        *outlen = 0;
        return NODE_BOOK_ERR_NOMEM;
    }
    *out = s->p;
    *outlen = s->len;
    return NODE_BOOK_ERR_OK;
}

static void sb_names(struct sbuf *s, const struct node_book *b, const uint32_t *set, uint32_t n)
{
    sb_str(s, "[");
    for (uint32_t k = 0; k < n; k++) {
        if (k)
            sb_str(s, ", ");
        sb_json_string(s, set[k] == MKT_GRID_PARTICIPANT ? RESERVED_GRID_NAME
                                                          : b->names[set[k]]);
    }
    sb_str(s, "]");
}

int node_book_format(const struct node_book *b, char **out, size_t *outlen)
{
    struct sbuf s = {0};
    sb_str(&s, "{\n  \"mechanism\": ");
    sb_str(&s, b->mechanism == NODE_MECH_P2P ? "\"p2p\"" : "\"uniform\"");
    if (b->has_grid) {
        sb_str(&s, ",\n  \"grid\": {\"retail_price\": ");
        sb_i64(&s, b->grid.retail_micro_per_kwh);
        sb_str(&s, ", \"feed_in_price\": ");
        sb_i64(&s, b->grid.feed_in_micro_per_kwh);
        sb_str(&s, ", \"bus\": ");
        sb_i64(&s, b->grid.bus);
        sb_str(&s, "}");
    }
    if (b->has_fees) {
        sb_str(&s, ",\n  \"fees\": {\"rate\": ");
        sb_i64(&s, b->fees.rate_micro_per_kwh);
        sb_str(&s, ", \"model\": ");
        sb_json_string(&s, FEE_MODELS[b->fees.model]);
        if (b->matrix) {
            sb_str(&s, ", \"matrix\": [");
            for (uint32_t i = 0; i < b->fees.nbus; i++) {
                sb_str(&s, i ? ", [" : "[");
                for (uint32_t j = 0; j < b->fees.nbus; j++) {
                    if (j)
                        sb_str(&s, ", ");
                    sb_i64(&s, b->matrix[(size_t)i * b->fees.nbus + j]);
                }
                sb_str(&s, "]");
            }
            sb_str(&s, "]");
        }
        sb_str(&s, "}");
    }
    sb_str(&s, ",\n  \"orders\": [");
    for (size_t i = 0; i < b->norders; i++) {
        const struct mkt_order *o = &b->orders[i];
        sb_str(&s, i ? ",\n    {\"id\": " : "\n    {\"id\": ");
        sb_json_string(&s, b->ids[i]);
        sb_str(&s, ", \"participant\": ");
        sb_json_string(&s, b->names[o->participant]);
        sb_str(&s, o->side == MKT_BUY ? ", \"side\": \"buy\"" : ", \"side\": \"sell\"");
        sb_str(&s, ", \"qty_wh\": ");
        sb_i64(&s, o->qty_wh);
        sb_str(&s, ", \"price\": ");
        sb_i64(&s, o->price_micro_per_kwh);
        sb_str(&s, ", \"bus\": ");
        sb_i64(&s, o->bus);
        sb_str(&s, (o->flags & MKT_ORDER_RENEWABLE) ? ", \"renewable\": true"
                                                    : ", \"renewable\": false");
        if (o->prefs) {
            const struct mkt_prefs *p = o->prefs;
            sb_str(&s, ", \"prefs\": {");
            if (p->allowed) {
                sb_str(&s, "\"allowed\": ");
                sb_names(&s, b, p->allowed, p->nallowed);
                sb_str(&s, ", ");
            }
            sb_str(&s, "\"excluded\": ");
            sb_names(&s, b, p->excluded, p->nexcluded);
            sb_str(&s, ", \"premium_renewable\": ");
            sb_i64(&s, p->premium_renewable_micro_per_kwh);
            sb_str(&s, ", \"premium_local\": ");
            sb_i64(&s, p->premium_local_micro_per_kwh);
            sb_str(&s, "}");
        }
        sb_str(&s, "}");
    }
    sb_str(&s, b->norders ? "\n  ]\n}\n" : "]\n}\n");
    return sb_finish(&s, out, outlen);
}

static const char *side_id(const struct node_book *b, uint32_t idx)
{
    if (idx == MKT_GRID_BUY)
        return "grid:buy";
    if (idx == MKT_GRID_SELL)
        return "grid:sell";
    return idx < b->norders ? b->ids[idx] : "?";
}

static void sb_fill(struct sbuf *s, const char *id, int64_t qty, int first)
{
    sb_str(s, first ? "\n    {\"id\": " : ",\n    {\"id\": ");
    sb_json_string(s, id);
    sb_str(s, ", \"qty_wh\": ");
    sb_i64(s, qty);
    sb_str(s, "}");
}

int node_result_format(const struct node_book *b, const struct node_result *res, char **out,
                       size_t *outlen)
{
    struct sbuf s = {0};
    char welfare[MKT_I128_DEC_BYTES];
    const int64_t *fill;
    int64_t grid_buy, grid_sell;
    sb_str(&s, "{\n");
    if (res->mechanism == NODE_MECH_UNIFORM) {
        const struct mkt_auction_result *a = &res->auction;
        sb_str(&s, "  \"price\": ");
        sb_i64(&s, a->price_micro_per_kwh);
        sb_str(&s, ",\n  \"volume_wh\": ");
        sb_i64(&s, a->volume_wh);
        sb_str(&s, ",\n  \"welfare\": ");
        sb_str(&s, mkt_i128_format(a->welfare, welfare));
        fill = a->fill_wh;
        grid_buy = a->grid_buy_wh;
        grid_sell = a->grid_sell_wh;
    } else {
        const struct mkt_p2p_result *p = &res->p2p;
        sb_str(&s, "  \"volume_wh\": ");
        sb_i64(&s, p->volume_wh);
        sb_str(&s, ",\n  \"welfare\": ");
        sb_str(&s, mkt_i128_format(p->welfare, welfare));
        fill = p->fill_wh;
        grid_buy = p->grid_buy_wh;
        grid_sell = p->grid_sell_wh;
    }
    sb_str(&s, ",\n  \"fills\": [");
    for (size_t i = 0; i < b->norders; i++)
        sb_fill(&s, b->ids[i], fill[i], i == 0);
    if (b->has_grid) {
        sb_fill(&s, "grid:buy", grid_buy, b->norders == 0);
        sb_fill(&s, "grid:sell", grid_sell, 0);
    }
    sb_str(&s, (b->norders || b->has_grid) ? "\n  ],\n  \"trades\": [" : "],\n  \"trades\": [");
    size_t ntrades = res->mechanism == NODE_MECH_P2P ? res->p2p.ntrades : 0;
    for (size_t k = 0; k < ntrades; k++) {
        const struct mkt_trade *t = &res->p2p.trades[k];
        sb_str(&s, k ? ",\n    {\"buy\": " : "\n    {\"buy\": ");
        sb_json_string(&s, side_id(b, t->buy));
        sb_str(&s, ", \"sell\": ");
        sb_json_string(&s, side_id(b, t->sell));
        sb_str(&s, ", \"qty_wh\": ");
        sb_i64(&s, t->qty_wh);
        sb_str(&s, ", \"price\": ");
        sb_i64(&s, t->price_micro_per_kwh);
        sb_str(&s, ", \"fee\": ");
        sb_i64(&s, t->fee_micro_per_kwh);
        sb_str(&s, "}");
    }
    sb_str(&s, ntrades ? "\n  ]\n}\n" : "]\n}\n");
    return sb_finish(&s, out, outlen);
}
