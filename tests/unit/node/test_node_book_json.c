/* test_node_book_json.c -- the JSON face of a market book (node_book_json.c):
 * books parsed into the core's structs and formatted back, results printed
 * with exact integers and fixed key order, every refusal naming its field and
 * order, and the same input always giving the same bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "node_book_json.h"

static struct node_book parse_ok(const char *json)
{
    struct node_book b;
    struct node_error e;
    int rc = node_book_parse(json, strlen(json), &b, &e);
    if (rc != NODE_BOOK_ERR_OK)
        fail_msg("unexpected refusal: %s", e.msg);
    return b;
}

/* Parse and clear json; the result text (malloc'd). */
static char *clear_text(const char *json)
{
    struct node_book b = parse_ok(json);
    struct node_result r;
    struct node_error e;
    char *out = NULL;
    size_t len = 0;
    if (node_book_clear(&b, &r, &e) != NODE_BOOK_ERR_OK)
        fail_msg("clearing refused: %s", e.msg);
    assert_int_equal(node_result_format(&b, &r, &out, &len), NODE_BOOK_ERR_OK);
    assert_int_equal(strlen(out), len);
    node_result_deinit(&r);
    node_book_deinit(&b);
    return out;
}

/* json is refused with code, and the message contains each of the strings. */
static void expect_refusal(const char *json, int code, const char *want1, const char *want2)
{
    struct node_book b;
    struct node_error e;
    int rc = node_book_parse(json, strlen(json), &b, &e);
    if (rc != code)
        fail_msg("expected %s, got %s: %s", node_book_err_name(code), node_book_err_name(rc),
                 e.msg);
    assert_int_equal(e.code, code);
    if (want1 && !strstr(e.msg, want1))
        fail_msg("message lacks \"%s\": %s", want1, e.msg);
    if (want2 && !strstr(e.msg, want2))
        fail_msg("message lacks \"%s\": %s", want2, e.msg);
    node_book_deinit(&b);
}

#define ORDERS_PREFIX "{\"mechanism\": \"uniform\", \"orders\": ["
#define BUY_O1 "{\"id\": \"o1\", \"participant\": \"alice\", \"side\": \"buy\", \"qty_wh\": 10, \"price\": 50}"

static const char P2P_BOOK[] =
    "{\"mechanism\": \"p2p\",\n"
    " \"grid\": {\"retail_price\": 300, \"feed_in_price\": 10, \"bus\": 1},\n"
    " \"fees\": {\"rate\": 5, \"model\": \"distance\", \"matrix\": [[0, 3], [3, 0]]},\n"
    " \"orders\": [\n"
    "  {\"id\": \"b1\", \"participant\": \"zoe\", \"side\": \"buy\", \"qty_wh\": 100, \"price\": 200,"
    "   \"bus\": 0, \"prefs\": {\"allowed\": [\"bob\", \"grid\"], \"premium_renewable\": 7}},\n"
    "  {\"id\": \"s1\", \"participant\": \"bob\", \"side\": \"sell\", \"qty_wh\": 60, \"price\": 100,"
    "   \"bus\": 1, \"renewable\": true},\n"
    "  {\"id\": \"s2\", \"participant\": \"amy\", \"side\": \"sell\", \"qty_wh\": 60, \"price\": 90,"
    "   \"bus\": 0, \"prefs\": {\"excluded\": [\"zoe\"]}}\n"
    " ]}\n";

/* ---- parsing ---- */

static void test_uniform_book_maps_ids_to_positions_and_names_to_sorted_ranks(void **state)
{
    (void)state;
    struct node_book b = parse_ok(
        ORDERS_PREFIX BUY_O1 ", {\"id\": \"o2\", \"participant\": \"Bob\", \"side\": \"sell\","
                             " \"qty_wh\": 1500, \"price\": 250000, \"bus\": 3}]}");
    assert_int_equal(b.mechanism, NODE_MECH_UNIFORM);
    assert_false(b.has_grid);
    assert_int_equal(b.norders, 2);
    assert_string_equal(b.ids[0], "o1");
    assert_string_equal(b.ids[1], "o2");
    for (uint32_t i = 0; i < 2; i++) {
        assert_int_equal(b.orders[i].id, i);
        assert_int_equal(b.orders[i].arrival, i);
        assert_null(b.orders[i].prefs);
    }
    assert_int_equal(b.orders[0].side, MKT_BUY);
    assert_int_equal(b.orders[0].qty_wh, 10);
    assert_int_equal(b.orders[0].price_micro_per_kwh, 50);
    assert_int_equal(b.orders[1].side, MKT_SELL);
    assert_int_equal(b.orders[1].qty_wh, 1500);
    assert_int_equal(b.orders[1].price_micro_per_kwh, 250000);
    assert_int_equal(b.orders[1].bus, 3);
    /* byte order: "Bob" < "alice" */
    assert_int_equal(b.nnames, 2);
    assert_int_equal(b.orders[0].participant, 1);
    assert_int_equal(b.orders[1].participant, 0);
    node_book_deinit(&b);
}

static void test_p2p_book_carries_grid_fees_renewable_flag_and_preferences(void **state)
{
    (void)state;
    struct node_book b = parse_ok(P2P_BOOK);
    assert_int_equal(b.mechanism, NODE_MECH_P2P);
    assert_true(b.has_grid);
    assert_int_equal(b.grid.retail_micro_per_kwh, 300);
    assert_int_equal(b.grid.feed_in_micro_per_kwh, 10);
    assert_int_equal(b.grid.bus, 1);
    assert_int_equal(b.fees.model, MKT_FEE_DISTANCE);
    assert_int_equal(b.fees.rate_micro_per_kwh, 5);
    assert_int_equal(b.fees.nbus, 2);
    assert_int_equal(b.fees.matrix[1], 3);
    assert_int_equal(b.orders[1].flags, MKT_ORDER_RENEWABLE);
    assert_int_equal(b.orders[0].flags, 0);
    /* names sorted: amy 0, bob 1, zoe 2 */
    assert_int_equal(b.orders[0].participant, 2);
    const struct mkt_prefs *p = b.orders[0].prefs;
    assert_non_null(p);
    assert_int_equal(p->nallowed, 2);
    assert_int_equal(p->allowed[0], 1);
    assert_int_equal(p->allowed[1], MKT_GRID_PARTICIPANT);
    assert_int_equal(p->nexcluded, 0);
    assert_int_equal(p->premium_renewable_micro_per_kwh, 7);
    assert_null(b.orders[1].prefs);
    p = b.orders[2].prefs;
    assert_non_null(p);
    assert_null(p->allowed);
    assert_int_equal(p->nexcluded, 1);
    assert_int_equal(p->excluded[0], 2);
    node_book_deinit(&b);
}

static void test_formatted_book_parses_back_to_the_same_book(void **state)
{
    (void)state;
    const char *books[] = {
        P2P_BOOK,
        ORDERS_PREFIX BUY_O1 "]}",
        "{\"mechanism\": \"uniform\", \"grid\": {\"retail_price\": 9, \"feed_in_price\": 9},"
        " \"orders\": []}",
        "{\"mechanism\": \"p2p\", \"fees\": {\"rate\": 0, \"model\": \"uniform\"},"
        " \"orders\": [{\"id\": \"q\\\"\\u0001\", \"participant\": \"\\u00e9\", \"side\": \"sell\","
        " \"qty_wh\": 1, \"price\": 0, \"bus\": 4, \"prefs\": {\"allowed\": []}}]}",
    };
    for (size_t k = 0; k < sizeof books / sizeof *books; k++) {
        struct node_book a = parse_ok(books[k]);
        char *t1, *t2;
        size_t n1, n2;
        assert_int_equal(node_book_format(&a, &t1, &n1), NODE_BOOK_ERR_OK);
        struct node_book b = parse_ok(t1);
        assert_int_equal(node_book_format(&b, &t2, &n2), NODE_BOOK_ERR_OK);
        assert_int_equal(n1, n2);
        assert_memory_equal(t1, t2, n1);
        assert_int_equal(a.norders, b.norders);
        assert_int_equal(a.fees.nbus, b.fees.nbus);
        for (size_t i = 0; i < a.norders; i++) {
            assert_string_equal(a.ids[i], b.ids[i]);
            assert_int_equal(a.orders[i].participant, b.orders[i].participant);
            assert_int_equal(a.orders[i].qty_wh, b.orders[i].qty_wh);
            assert_int_equal(a.orders[i].price_micro_per_kwh, b.orders[i].price_micro_per_kwh);
            assert_int_equal(a.orders[i].bus, b.orders[i].bus);
            assert_int_equal(a.orders[i].flags, b.orders[i].flags);
            assert_int_equal(a.orders[i].prefs != NULL, b.orders[i].prefs != NULL);
        }
        free(t1);
        free(t2);
        node_book_deinit(&a);
        node_book_deinit(&b);
    }
}

static void test_empty_allowed_set_means_no_counterparty_at_all(void **state)
{
    (void)state;
    char *out = clear_text(
        "{\"mechanism\": \"p2p\", \"fees\": {\"rate\": 0, \"model\": \"uniform\"}, \"orders\": ["
        "{\"id\": \"b\", \"participant\": \"x\", \"side\": \"buy\", \"qty_wh\": 5, \"price\": 9,"
        " \"prefs\": {\"allowed\": []}},"
        "{\"id\": \"s\", \"participant\": \"y\", \"side\": \"sell\", \"qty_wh\": 5, \"price\": 1}]}");
    assert_non_null(strstr(out, "\"volume_wh\": 0,"));
    assert_non_null(strstr(out, "\"trades\": []"));
    free(out);
}

/* ---- results ---- */

static void test_uniform_result_has_fixed_keys_and_grid_fills_last(void **state)
{
    (void)state;
    char *out = clear_text(
        "{\"mechanism\": \"uniform\", \"grid\": {\"retail_price\": 300, \"feed_in_price\": 100},"
        " \"orders\": [{\"id\": \"b1\", \"participant\": \"a\", \"side\": \"buy\", \"qty_wh\": 10,"
        " \"price\": 400}, {\"id\": \"s1\", \"participant\": \"b\", \"side\": \"sell\", \"qty_wh\": 4,"
        " \"price\": 50}]}");
    assert_string_equal(out, "{\n"
                             "  \"price\": 300,\n"
                             "  \"volume_wh\": 10,\n"
                             "  \"welfare\": 2000,\n"
                             "  \"fills\": [\n"
                             "    {\"id\": \"b1\", \"qty_wh\": 10},\n"
                             "    {\"id\": \"s1\", \"qty_wh\": 4},\n"
                             "    {\"id\": \"grid:buy\", \"qty_wh\": 0},\n"
                             "    {\"id\": \"grid:sell\", \"qty_wh\": 6}\n"
                             "  ],\n"
                             "  \"trades\": []\n"
                             "}\n");
    free(out);
}

static void test_p2p_result_lists_pair_trades_with_price_and_fee_and_no_price_key(void **state)
{
    (void)state;
    char *out = clear_text(
        "{\"mechanism\": \"p2p\", \"fees\": {\"rate\": 10, \"model\": \"zonal\","
        " \"matrix\": [[0, 1], [1, 0]]}, \"orders\": ["
        "{\"id\": \"b1\", \"participant\": \"a\", \"side\": \"buy\", \"qty_wh\": 100, \"price\": 200, \"bus\": 0},"
        "{\"id\": \"s1\", \"participant\": \"b\", \"side\": \"sell\", \"qty_wh\": 100, \"price\": 101, \"bus\": 1}]}");
    assert_string_equal(out, "{\n"
                             "  \"volume_wh\": 100,\n"
                             "  \"welfare\": 8900,\n"
                             "  \"fills\": [\n"
                             "    {\"id\": \"b1\", \"qty_wh\": 100},\n"
                             "    {\"id\": \"s1\", \"qty_wh\": 100}\n"
                             "  ],\n"
                             "  \"trades\": [\n"
                             "    {\"buy\": \"b1\", \"sell\": \"s1\", \"qty_wh\": 100, \"price\": 150, \"fee\": 10}\n"
                             "  ]\n"
                             "}\n");
    free(out);
}

static void test_welfare_beyond_int64_is_printed_exactly(void **state)
{
    (void)state;
    /* ten buys of 1 GWh at the price cap against ten free sells:
     * welfare = 10 * 10^9 Wh * 10^9 micro/kWh = 10^19 > INT64_MAX */
    char json[4096];
    size_t n = (size_t)snprintf(json, sizeof json, "{\"mechanism\": \"uniform\", \"orders\": [");
    for (int i = 0; i < 10; i++)
        n += (size_t)snprintf(json + n, sizeof json - n,
                              "%s{\"id\": \"b%d\", \"participant\": \"p%d\", \"side\": \"buy\","
                              " \"qty_wh\": 1000000000, \"price\": 1000000000},"
                              "{\"id\": \"s%d\", \"participant\": \"q%d\", \"side\": \"sell\","
                              " \"qty_wh\": 1000000000, \"price\": 0}",
                              i ? ", " : "", i, i, i, i);
    snprintf(json + n, sizeof json - n, "]}");
    char *out = clear_text(json);
    assert_non_null(strstr(out, "\n  \"volume_wh\": 10000000000,\n"));
    assert_non_null(strstr(out, "\n  \"welfare\": 10000000000000000000,\n"));
    free(out);
}

static void test_same_input_gives_byte_identical_output(void **state)
{
    (void)state;
    char *a = clear_text(P2P_BOOK);
    char *b = clear_text(P2P_BOOK);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void test_ties_in_time_priority_go_by_order_of_appearance(void **state)
{
    (void)state;
    /* three 1-Wh bids at one price share 2 Wh: equal remainders, the two that
     * appear first fill, whatever their ids */
    char *out = clear_text(
        ORDERS_PREFIX
        "{\"id\": \"z\", \"participant\": \"a\", \"side\": \"buy\", \"qty_wh\": 1, \"price\": 100},"
        "{\"id\": \"y\", \"participant\": \"b\", \"side\": \"buy\", \"qty_wh\": 1, \"price\": 100},"
        "{\"id\": \"x\", \"participant\": \"c\", \"side\": \"buy\", \"qty_wh\": 1, \"price\": 100},"
        "{\"id\": \"s\", \"participant\": \"d\", \"side\": \"sell\", \"qty_wh\": 2, \"price\": 50}]}");
    assert_non_null(strstr(out, "{\"id\": \"z\", \"qty_wh\": 1},\n"
                                "    {\"id\": \"y\", \"qty_wh\": 1},\n"
                                "    {\"id\": \"x\", \"qty_wh\": 0},"));
    free(out);
}

static void test_empty_book_clears_to_nothing(void **state)
{
    (void)state;
    char *out = clear_text("{\"mechanism\": \"uniform\", \"orders\": []}");
    assert_non_null(strstr(out, "\"volume_wh\": 0,\n  \"welfare\": 0,\n  \"fills\": [],\n"
                                "  \"trades\": []\n}\n"));
    free(out);
}

/* ---- refusals: each names its field ---- */

static void test_bad_json_is_refused_with_line_and_column(void **state)
{
    (void)state;
    expect_refusal("{\"mechanism\": \"uniform\",\n \"orders\": [,]}", NODE_BOOK_ERR_JSON,
                   "line 2, column", NULL);
    expect_refusal("", NODE_BOOK_ERR_JSON, "invalid JSON", NULL);
    expect_refusal("[1, 2]", NODE_BOOK_ERR_FIELD, "top level must be an object", "an array");
}

static void test_negative_quantity_names_the_order_its_index_and_the_field(void **state)
{
    (void)state;
    char json[2048];
    size_t n = (size_t)snprintf(json, sizeof json, ORDERS_PREFIX);
    for (int i = 0; i < 6; i++)
        n += (size_t)snprintf(json + n, sizeof json - n,
                              "{\"id\": \"o%d\", \"participant\": \"a\", \"side\": \"buy\","
                              " \"qty_wh\": 1, \"price\": 1}, ",
                              i + 1);
    snprintf(json + n, sizeof json - n,
             "{\"id\": \"o7\", \"participant\": \"a\", \"side\": \"buy\", \"qty_wh\": -5,"
             " \"price\": 1}]}");
    expect_refusal(json, NODE_BOOK_ERR_FIELD,
                   "order \"o7\" (index 6): qty_wh must be a positive integer, got -5",
                   "MKT_ERR_BAD_QTY");
}

static void test_missing_fields_are_named(void **state)
{
    (void)state;
    expect_refusal("{\"orders\": []}", NODE_BOOK_ERR_FIELD, "missing field mechanism", NULL);
    expect_refusal("{\"mechanism\": \"uniform\"}", NODE_BOOK_ERR_FIELD, "missing field orders",
                   NULL);
    expect_refusal(ORDERS_PREFIX "{\"participant\": \"a\"}]}", NODE_BOOK_ERR_FIELD,
                   "order index 0", "missing field id");
    expect_refusal(ORDERS_PREFIX "{\"id\": \"k\", \"participant\": \"a\", \"side\": \"buy\","
                                 " \"qty_wh\": 3}]}",
                   NODE_BOOK_ERR_FIELD, "order \"k\" (index 0)", "missing field price");
    expect_refusal("{\"mechanism\": \"p2p\", \"orders\": []}", NODE_BOOK_ERR_FIELD,
                   "missing field fees", NULL);
    expect_refusal("{\"mechanism\": \"p2p\", \"fees\": {\"rate\": 1, \"model\": \"zonal\"},"
                   " \"orders\": []}",
                   NODE_BOOK_ERR_FIELD, "fees", "missing field matrix");
}

static void test_mistyped_fields_are_named(void **state)
{
    (void)state;
    expect_refusal(ORDERS_PREFIX "{\"id\": \"o1\", \"participant\": \"a\", \"side\": \"buy\","
                                 " \"qty_wh\": 3, \"price\": \"50\"}]}",
                   NODE_BOOK_ERR_FIELD, "order \"o1\" (index 0): price must be an integer",
                   "got a string");
    expect_refusal(ORDERS_PREFIX "{\"id\": 7}]}", NODE_BOOK_ERR_FIELD,
                   "order index 0: id must be a string", "got an integer");
    expect_refusal("{\"mechanism\": \"uniform\", \"orders\": {}}", NODE_BOOK_ERR_FIELD,
                   "orders must be an array", NULL);
    expect_refusal(ORDERS_PREFIX "{\"id\": \"o1\", \"participant\": \"a\", \"side\": \"buy\","
                                 " \"qty_wh\": 3, \"price\": 5, \"renewable\": 1}]}",
                   NODE_BOOK_ERR_FIELD, "renewable must be true or false", NULL);
    expect_refusal(ORDERS_PREFIX "{\"id\": \"\", \"participant\": \"a\"}]}", NODE_BOOK_ERR_FIELD,
                   "id must be a non-empty string", NULL);
}

static void test_numbers_with_a_fraction_or_exponent_are_refused(void **state)
{
    (void)state;
    expect_refusal(ORDERS_PREFIX "{\"id\": \"o1\", \"participant\": \"a\", \"side\": \"buy\","
                                 " \"qty_wh\": 1.5, \"price\": 5}]}",
                   NODE_BOOK_ERR_FIELD, "qty_wh must be an integer",
                   "a number with a fraction or an exponent");
    expect_refusal(ORDERS_PREFIX "{\"id\": \"o1\", \"participant\": \"a\", \"side\": \"buy\","
                                 " \"qty_wh\": 3, \"price\": 1e3}]}",
                   NODE_BOOK_ERR_FIELD, "price must be an integer", NULL);
    expect_refusal(ORDERS_PREFIX "{\"id\": \"o1\", \"participant\": \"a\", \"side\": \"buy\","
                                 " \"qty_wh\": 99999999999999999999, \"price\": 1}]}",
                   NODE_BOOK_ERR_JSON, "line 1", "too big");
}

static void test_duplicate_ids_name_both_orders(void **state)
{
    (void)state;
    expect_refusal(ORDERS_PREFIX BUY_O1 ", " BUY_O1 "]}", NODE_BOOK_ERR_FIELD,
                   "order \"o1\" (index 1): id is already used by order index 0",
                   "MKT_ERR_DUPLICATE_ORDER_ID");
}

static void test_duplicate_keys_and_unknown_fields_are_refused(void **state)
{
    (void)state;
    expect_refusal("{\"mechanism\": \"uniform\", \"mechanism\": \"p2p\", \"orders\": []}",
                   NODE_BOOK_ERR_JSON, "duplicate", NULL);
    expect_refusal(ORDERS_PREFIX "{\"id\": \"o1\", \"participant\": \"a\", \"side\": \"buy\","
                                 " \"qty\": 3, \"price\": 5}]}",
                   NODE_BOOK_ERR_FIELD, "order \"o1\" (index 0): unknown field \"qty\"",
                   "qty_wh");
    expect_refusal("{\"mechanism\": \"uniform\", \"orders\": [], \"slot\": 3}",
                   NODE_BOOK_ERR_FIELD, "book: unknown field \"slot\"", NULL);
}

static void test_out_of_range_values_carry_the_core_error_name(void **state)
{
    (void)state;
    expect_refusal(ORDERS_PREFIX "{\"id\": \"o1\", \"participant\": \"a\", \"side\": \"buy\","
                                 " \"qty_wh\": 3, \"price\": 1000000001}]}",
                   NODE_BOOK_ERR_FIELD, "price must be between 0 and 1000000000",
                   "MKT_ERR_BAD_PRICE");
    expect_refusal(ORDERS_PREFIX "{\"id\": \"o1\", \"participant\": \"a\", \"side\": \"buy\","
                                 " \"qty_wh\": 1000000001, \"price\": 1}]}",
                   NODE_BOOK_ERR_FIELD, "qty_wh must be between 1 and 1000000000",
                   "MKT_ERR_BAD_QTY");
    expect_refusal(ORDERS_PREFIX "{\"id\": \"o1\", \"participant\": \"a\", \"side\": \"bid\"}]}",
                   NODE_BOOK_ERR_FIELD, "side must be \"buy\" or \"sell\", got \"bid\"",
                   "MKT_ERR_BAD_SIDE");
    expect_refusal("{\"mechanism\": \"uniform\", \"grid\": {\"retail_price\": 5,"
                   " \"feed_in_price\": 6}, \"orders\": []}",
                   NODE_BOOK_ERR_FIELD, "grid: retail_price (5) must not be below feed_in_price",
                   "MKT_ERR_BAD_GRID");
    expect_refusal("{\"mechanism\": \"p2p\", \"fees\": {\"rate\": 1000, \"model\": \"zonal\","
                   " \"matrix\": [[0, 2000000], [1, 0]]}, \"orders\": []}",
                   NODE_BOOK_ERR_FIELD, "fees: matrix[0][1]", "MKT_ERR_BAD_FEES");
    expect_refusal("{\"mechanism\": \"p2p\", \"fees\": {\"rate\": 1001, \"model\": \"zonal\","
                   " \"matrix\": [[0, 1000000], [1, 0]]}, \"orders\": []}",
                   NODE_BOOK_ERR_FIELD, "rate x matrix[0][1]", "MKT_ERR_BAD_FEES");
    expect_refusal("{\"mechanism\": \"p2p\", \"fees\": {\"rate\": 1, \"model\": \"zonal\","
                   " \"matrix\": [[0, 1], [1]]}, \"orders\": []}",
                   NODE_BOOK_ERR_FIELD, "fees: matrix[1] must be an array of 2 integers", NULL);
    expect_refusal("{\"mechanism\": \"p2p\", \"fees\": {\"rate\": 1, \"model\": \"flat\"},"
                   " \"orders\": []}",
                   NODE_BOOK_ERR_FIELD, "fees: model must be", "MKT_ERR_BAD_FEES");
    expect_refusal("{\"mechanism\": \"p2p\", \"fees\": {\"rate\": 1, \"model\": \"zonal\","
                   " \"matrix\": [[0, 1], [1, 0]]}, \"orders\": [{\"id\": \"o1\", \"participant\":"
                   " \"a\", \"side\": \"buy\", \"qty_wh\": 3, \"price\": 5, \"bus\": 2}]}",
                   NODE_BOOK_ERR_FIELD, "order \"o1\" (index 0): bus must be below",
                   "MKT_ERR_BAD_BUS");
    expect_refusal("{\"mechanism\": \"p2p\", \"fees\": {\"rate\": 1, \"model\": \"uniform\"},"
                   " \"orders\": [{\"id\": \"s\", \"participant\": \"a\", \"side\": \"sell\","
                   " \"qty_wh\": 3, \"price\": 5, \"prefs\": {\"premium_local\": 4}}]}",
                   NODE_BOOK_ERR_FIELD, "order \"s\" (index 0): prefs.premium_renewable",
                   "MKT_ERR_BAD_PREFS");
    expect_refusal("{\"mechanism\": \"p2p\", \"fees\": {\"rate\": 1, \"model\": \"uniform\"},"
                   " \"orders\": [{\"id\": \"b\", \"participant\": \"a\", \"side\": \"buy\","
                   " \"qty_wh\": 3, \"price\": 5, \"prefs\": {\"allowed\": [\"x\", 4]}}]}",
                   NODE_BOOK_ERR_FIELD, "order \"b\" (index 0): prefs.allowed[1] must be a string",
                   NULL);
}

static void test_fields_of_the_other_mechanism_are_refused(void **state)
{
    (void)state;
    expect_refusal("{\"mechanism\": \"uniform\", \"fees\": {\"rate\": 1, \"model\": \"uniform\"},"
                   " \"orders\": []}",
                   NODE_BOOK_ERR_FIELD, "fees apply only to mechanism \"p2p\"", NULL);
    expect_refusal(ORDERS_PREFIX "{\"id\": \"b\", \"participant\": \"a\", \"side\": \"buy\","
                                 " \"qty_wh\": 3, \"price\": 5, \"prefs\": {}}]}",
                   NODE_BOOK_ERR_FIELD, "order \"b\" (index 0): prefs apply only", NULL);
    expect_refusal("{\"mechanism\": \"auction\", \"orders\": []}", NODE_BOOK_ERR_FIELD,
                   "mechanism must be \"uniform\" or \"p2p\", got \"auction\"", NULL);
}

static void test_names_reserved_for_the_grid_are_refused(void **state)
{
    (void)state;
    expect_refusal(ORDERS_PREFIX "{\"id\": \"grid:buy\", \"participant\": \"a\"}]}",
                   NODE_BOOK_ERR_FIELD, "id must not begin with \"grid:\"", NULL);
    expect_refusal(ORDERS_PREFIX "{\"id\": \"o\", \"participant\": \"grid\", \"side\": \"buy\"}]}",
                   NODE_BOOK_ERR_FIELD, "participant \"grid\" is reserved", NULL);
}

static void test_overlong_names_and_oversized_input_are_refused(void **state)
{
    (void)state;
    char json[1024];
    char id[NODE_BOOK_MAX_NAME_BYTES + 2];
    memset(id, 'x', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    snprintf(json, sizeof json, ORDERS_PREFIX "{\"id\": \"%s\"}]}", id);
    expect_refusal(json, NODE_BOOK_ERR_FIELD, "id is 257 bytes long; the limit is 256", NULL);

    size_t big = (size_t)NODE_BOOK_MAX_INPUT_BYTES + 1;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, ' ', big);
    struct node_book b;
    struct node_error e;
    assert_int_equal(node_book_parse(text, big, &b, &e), NODE_BOOK_ERR_TOO_LARGE);
    assert_non_null(strstr(e.msg, "64 MiB"));
    node_book_deinit(&b);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform_book_maps_ids_to_positions_and_names_to_sorted_ranks),
        cmocka_unit_test(test_p2p_book_carries_grid_fees_renewable_flag_and_preferences),
        cmocka_unit_test(test_formatted_book_parses_back_to_the_same_book),
        cmocka_unit_test(test_empty_allowed_set_means_no_counterparty_at_all),
        cmocka_unit_test(test_uniform_result_has_fixed_keys_and_grid_fills_last),
        cmocka_unit_test(test_p2p_result_lists_pair_trades_with_price_and_fee_and_no_price_key),
        cmocka_unit_test(test_welfare_beyond_int64_is_printed_exactly),
        cmocka_unit_test(test_same_input_gives_byte_identical_output),
        cmocka_unit_test(test_ties_in_time_priority_go_by_order_of_appearance),
        cmocka_unit_test(test_empty_book_clears_to_nothing),
        cmocka_unit_test(test_bad_json_is_refused_with_line_and_column),
        cmocka_unit_test(test_negative_quantity_names_the_order_its_index_and_the_field),
        cmocka_unit_test(test_missing_fields_are_named),
        cmocka_unit_test(test_mistyped_fields_are_named),
        cmocka_unit_test(test_numbers_with_a_fraction_or_exponent_are_refused),
        cmocka_unit_test(test_duplicate_ids_name_both_orders),
        cmocka_unit_test(test_duplicate_keys_and_unknown_fields_are_refused),
        cmocka_unit_test(test_out_of_range_values_carry_the_core_error_name),
        cmocka_unit_test(test_fields_of_the_other_mechanism_are_refused),
        cmocka_unit_test(test_names_reserved_for_the_grid_are_refused),
        cmocka_unit_test(test_overlong_names_and_oversized_input_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
