/* fuzz_mb_config.c -- gridmeter's config and register-map parser
 * (mb_config_parse, mb_map_parse) on arbitrary bytes; the same bytes also go
 * through mb_reading_decode (a reading as a node returns it), and through the
 * RPC sink's decoders of a node's answer (mb_http_response, mb_rpc_response):
 * every decoder of outside bytes in meterbridge/ is exercised here.
 *
 * Properties, beyond "no crash, no leak, no undefined behaviour":
 *   - a refusal is a named MB_ERR_CONFIG_* code with a line number inside
 *     the text (or 0 for a text over the size limit);
 *   - an accepted text gives only values inside their documented limits:
 *     fn 3 or 4, a register run inside the 16-bit address space, a reduced
 *     scale with both parts in 1..MB_SCALE_MAX, NUL-terminated strings;
 *   - decoding any register words with an accepted register never crashes and
 *     an accepted integer register value is below 2^53 Wh;
 *   - parsing is deterministic: the same bytes give the same struct;
 *   - an accepted HTTP answer's body lies inside the bytes; a JSON-RPC answer
 *     is a result (OK), an error object (SINK_REJECTED) or SINK_PROTOCOL. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mb_config.h"
#include "mb_reading.h"
#include "mb_sink.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_mb_config: property failed: %s (%s:%d)\n", #cond, __FILE__,      \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int count_lines(const uint8_t *d, size_t n)
{
    int lines = 1;
    for (size_t i = 0; i + 1 < n; i++)
        lines += d[i] == '\n';
    return lines;
}

static void check_reg(const struct mb_reg *r, const uint8_t *d, size_t n)
{
    if (!r->present)
        return;
    CHECK(r->fn == 3 || r->fn == 4);
    CHECK((uint32_t)r->addr + mb_type_words(r->type) <= 0x10000u);
    CHECK(r->scale_num >= 1 && r->scale_num <= MB_SCALE_MAX);
    CHECK(r->scale_den >= 1 && r->scale_den <= MB_SCALE_MAX);
    uint16_t w[4] = {0};
    for (size_t i = 0; i < 8 && i < n; i++)
        ((uint8_t *)w)[i] = d[n - 1 - i];
    uint64_t wh;
    if (mb_reg_decode_wh(r, w, &wh) == MB_ERR_OK)
        CHECK(wh < ((uint64_t)1 << 53));
    (void)mb_reg_wrap_wh(r);
    (void)mb_reg_decode_raw(r, w);
}

static void check_strings(const struct mb_config *c)
{
    CHECK(memchr(c->chain_id, 0, sizeof c->chain_id) != NULL);
    CHECK(memchr(c->key_file, 0, sizeof c->key_file) != NULL);
    CHECK(memchr(c->queue_dir, 0, sizeof c->queue_dir) != NULL);
    CHECK(memchr(c->node, 0, sizeof c->node) != NULL);
    CHECK(memchr(c->map_path, 0, sizeof c->map_path) != NULL);
    CHECK(memchr(c->host, 0, sizeof c->host) != NULL);
    CHECK(memchr(c->device, 0, sizeof c->device) != NULL);
    CHECK(memchr(c->map.model, 0, sizeof c->map.model) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct mb_config a, b;
    int la, lb;
    mb_config_defaults(&a);
    mb_config_defaults(&b);
    int ra = mb_config_parse(&a, (const char *)data, size, &la);
    int rb = mb_config_parse(&b, (const char *)data, size, &lb);
    CHECK(ra == rb && la == lb);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    if (ra != MB_ERR_OK) {
        CHECK(strcmp(mb_err_name(ra), "UNKNOWN") != 0);
        CHECK(ra <= MB_ERR_CONFIG_SYNTAX && ra >= MB_ERR_CONFIG_DUPLICATE);
        CHECK(ra == MB_ERR_CONFIG_TOO_LONG ? la >= 0 : la >= 1);
        CHECK(la <= count_lines(data, size));
    } else {
        check_strings(&a);
        CHECK(a.parity == 'N' || a.parity == 'E' || a.parity == 'O');
        CHECK(a.slot_len_s >= 1 && a.poll_interval_ms >= 10);
        check_reg(&a.map.import, data, size);
        check_reg(&a.map.export_, data, size);
        check_reg(&a.map.serial, data, size);
        int rc = mb_config_check(&a);
        CHECK(rc == MB_ERR_OK || rc == MB_ERR_CONFIG_MISSING || rc == MB_ERR_CONFIG_BAD_VALUE);
    }
    struct mb_map m;
    memset(&m, 0, sizeof m);
    int lm;
    if (mb_map_parse(&m, (const char *)data, size, &lm) == MB_ERR_OK) {
        CHECK(memchr(m.model, 0, sizeof m.model) != NULL);
        check_reg(&m.import, data, size);
        check_reg(&m.export_, data, size);
    }
    struct mb_reading r;
    uint8_t pk[CHAIN_PK_BYTES];
    int rr = mb_reading_decode(data, size, &r, pk);
    CHECK(rr == MB_ERR_OK || rr == MB_ERR_SINK_PROTOCOL);

    size_t off = 0, blen = 0;
    int rh = mb_http_response((const char *)data, size, &off, &blen);
    CHECK(rh == MB_ERR_OK || rh == MB_ERR_SINK_PROTOCOL || rh == MB_ERR_SINK_UNREACHABLE);
    const char *body = (const char *)data;
    size_t body_len = size;
    if (rh == MB_ERR_OK) {
        CHECK(off <= size && blen <= size - off);
        body += off;
        body_len = blen;
    }
    json_t *res = NULL;
    int code;
    char name[64];
    int rj = mb_rpc_response(body, body_len, &res, &code, name);
    CHECK(rj == MB_ERR_OK || rj == MB_ERR_SINK_REJECTED || rj == MB_ERR_SINK_PROTOCOL);
    CHECK((rj == MB_ERR_OK) == (res != NULL));
    CHECK(memchr(name, 0, sizeof name) != NULL);
    json_decref(res);
    return 0;
}
