/* fuzz_book_json.c -- the JSON book parser of `gridctl market clear`
 * (node_book_parse) on arbitrary bytes.
 *
 * Properties, beyond "no crash, no leak":
 *   - a refusal is one of the named NODE_BOOK_ERR_* codes with a non-empty
 *     message, and leaves the book empty;
 *   - an accepted book is canonical after one round: formatting it and
 *     parsing the text again gives the same text (node_book_format);
 *   - the parser checks everything the core checks: the clearing core never
 *     refuses an accepted book (only small books are cleared, to keep runs
 *     fast), and clearing and printing twice gives the same bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_book_json.h"

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_book_json: property failed: %s (%s:%d)\n", #cond, __FILE__, \
                    __LINE__);                                                                 \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

#define CLEAR_MAX_ORDERS 64u

static char *clear_and_print(const struct node_book *b)
{
    struct node_result r;
    struct node_error e;
    char *out = NULL;
    size_t len = 0;
    int rc = node_book_clear(b, &r, &e);
    if (rc != NODE_BOOK_ERR_OK)
        fprintf(stderr, "fuzz_book_json: the core refused an accepted book: %s\n", e.msg);
    CHECK(rc == NODE_BOOK_ERR_OK);
    CHECK(node_result_format(b, &r, &out, &len) == NODE_BOOK_ERR_OK);
    CHECK(out && strlen(out) == len);
    node_result_deinit(&r);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct node_book b;
    struct node_error e;
    int rc = node_book_parse((const char *)data, size, &b, &e);
    if (rc != NODE_BOOK_ERR_OK) {
        CHECK(rc == e.code);
        CHECK(rc == NODE_BOOK_ERR_JSON || rc == NODE_BOOK_ERR_FIELD ||
              rc == NODE_BOOK_ERR_TOO_LARGE || rc == NODE_BOOK_ERR_NOMEM);
        CHECK(strcmp(node_book_err_name(rc), "UNKNOWN") != 0);
        CHECK(e.msg[0] != '\0' && strlen(e.msg) < sizeof e.msg);
        node_book_deinit(&b);
        CHECK(b.orders == NULL && b.ids == NULL && b.norders == 0);
        return 0;
    }
    char *t1, *t2;
    size_t n1, n2;
    CHECK(node_book_format(&b, &t1, &n1) == NODE_BOOK_ERR_OK);
    struct node_book b2;
    rc = node_book_parse(t1, n1, &b2, &e);
    if (rc != NODE_BOOK_ERR_OK)
        fprintf(stderr, "fuzz_book_json: formatted book refused: %s\n%s", e.msg, t1);
    CHECK(rc == NODE_BOOK_ERR_OK);
    CHECK(node_book_format(&b2, &t2, &n2) == NODE_BOOK_ERR_OK);
    CHECK(n1 == n2 && memcmp(t1, t2, n1) == 0);
    CHECK(b.norders == b2.norders);
    if (b.norders <= CLEAR_MAX_ORDERS) {
        char *r1 = clear_and_print(&b);
        char *r2 = clear_and_print(&b2);
        CHECK(strcmp(r1, r2) == 0);
        free(r1);
        free(r2);
    }
    free(t1);
    free(t2);
    node_book_deinit(&b2);
    node_book_deinit(&b);
    return 0;
}
