/* test_mb_config.c -- config and register-map parsing, the shipped maps, and
 * register decoding (word order, types, scale, the rounding rule) against
 * values computed by hand. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mb_config.h"
#include "testutil.h"

static int parse(struct mb_config *c, const char *text, int *line)
{
    mb_config_defaults(c);
    return mb_config_parse(c, text, strlen(text), line);
}

static void test_a_full_config_parses_with_comments_and_crlf(void **st)
{
    (void)st;
    struct mb_config c;
    int line;
    const char *t =
        "# gridmeter\r\nchain_id = dev-1\r\nkey_file=/k  # inline comment\n"
        "queue_dir = /q\ntransport = rtu\ndevice = /dev/ttyS1\nbaud = 19200\nparity = E\n"
        "poll_interval_ms = 0x3e8\nslot_len_s = 300\nverify_proof = yes\ngenesis = /g.json\n"
        "register import addr=72 fn=4 type=float32 scale=1000\n"
        "register export addr=0x4A fn=4 type=float32 order=big scale=1000\n"
        "\n   \n";
    assert_int_equal(parse(&c, t, &line), MB_ERR_OK);
    assert_string_equal(c.chain_id, "dev-1");
    assert_string_equal(c.key_file, "/k");
    assert_int_equal(c.transport, MB_TRANSPORT_RTU);
    assert_int_equal(c.baud, 19200);
    assert_int_equal(c.parity, 'E');
    assert_int_equal(c.poll_interval_ms, 1000);
    assert_int_equal(c.slot_len_s, 300);
    assert_true(c.verify_proof);
    assert_string_equal(c.genesis_path, "/g.json");
    assert_int_equal(c.map.import.addr, 0x48);
    assert_int_equal(c.map.export_.addr, 0x4a);
    assert_int_equal(c.map.import.scale_num, 1000);
    assert_int_equal(mb_config_check(&c), MB_ERR_OK);
}

static void test_each_bad_line_is_a_named_error_with_its_line(void **st)
{
    (void)st;
    struct {
        const char *text;
        int err, line;
    } cases[] = {
        {"chain_id = a\nnonsense\n", MB_ERR_CONFIG_SYNTAX, 2},
        {"colour = blue\n", MB_ERR_CONFIG_UNKNOWN_KEY, 1},
        {"port = 70000\n", MB_ERR_CONFIG_BAD_VALUE, 1},
        {"port = -1\n", MB_ERR_CONFIG_BAD_VALUE, 1},
        {"port = 18446744073709551617\n", MB_ERR_CONFIG_BAD_VALUE, 1},
        {"port = \n", MB_ERR_CONFIG_BAD_VALUE, 1},
        {"port = 1\nport = 2\n", MB_ERR_CONFIG_DUPLICATE, 2},
        {"parity = X\n", MB_ERR_CONFIG_BAD_VALUE, 1},
        {"register import addr=1 fn=5 type=u16\n", MB_ERR_CONFIG_BAD_VALUE, 1},
        {"register import addr=1 fn=4 type=u128\n", MB_ERR_CONFIG_BAD_VALUE, 1},
        {"register import addr=1 fn=4\n", MB_ERR_CONFIG_MISSING, 1},
        {"register import addr=65535 fn=4 type=u32\n", MB_ERR_CONFIG_BAD_VALUE, 1},
        {"register import addr=1 fn=4 type=u16 scale=0\n", MB_ERR_CONFIG_BAD_VALUE, 1},
        {"register import addr=1 fn=4 type=u16 scale=1/0\n", MB_ERR_CONFIG_BAD_VALUE, 1},
        {"register import addr=1 fn=4 type=u16 scale=0.0000000001\n", MB_ERR_CONFIG_BAD_VALUE, 1},
        {"register import addr=1 fn=4 type=u16 addr=2\n", MB_ERR_CONFIG_DUPLICATE, 1},
        {"register import addr=1 fn=4 type=u16\nregister import addr=1 fn=4 type=u16\n",
         MB_ERR_CONFIG_DUPLICATE, 2},
        {"register voltage addr=1 fn=4 type=u16\n", MB_ERR_CONFIG_UNKNOWN_KEY, 1},
        {"register import addr=1 fn=4 type=u16 colour=red\n", MB_ERR_CONFIG_UNKNOWN_KEY, 1},
        {"register import addr fn=4 type=u16\n", MB_ERR_CONFIG_SYNTAX, 1},
        {"chain_id = \x01\n", MB_ERR_CONFIG_BAD_VALUE, 1},
        {"chain_id = 0123456789012345678901234567890123456789012345678901234567890123456789\n",
         MB_ERR_CONFIG_TOO_LONG, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mb_config c;
        int line = -1;
        int rc = parse(&c, cases[i].text, &line);
        if (rc != cases[i].err || line != cases[i].line)
            fail_msg("case %zu (%s): got %s line %d", i, cases[i].text, mb_err_name(rc), line);
    }
}

static void test_a_line_past_the_limit_is_refused_not_truncated(void **st)
{
    (void)st;
    char *t = malloc(MB_CONFIG_LINE_MAX + 32);
    memset(t, ' ', MB_CONFIG_LINE_MAX + 10);
    memcpy(t, "host = a", 8);
    t[MB_CONFIG_LINE_MAX + 10] = '\0';
    struct mb_config c;
    int line;
    assert_int_equal(parse(&c, t, &line), MB_ERR_CONFIG_TOO_LONG);
    free(t);
}

static void test_missing_import_register_fails_the_check(void **st)
{
    (void)st;
    struct mb_config c;
    int line;
    assert_int_equal(parse(&c, "chain_id=a\nkey_file=k\nqueue_dir=q\n", &line), MB_ERR_OK);
    assert_int_equal(mb_config_check(&c), MB_ERR_CONFIG_MISSING);
}

static void test_verify_proof_without_genesis_is_refused_with_a_reason(void **st)
{
    (void)st;
    struct mb_config c;
    int line;
    const char *t = "chain_id=a\nkey_file=k\nqueue_dir=q\nverify_proof = true\n"
                    "register import addr=72 fn=4 type=float32 scale=1000\n"
                    "register export addr=74 fn=4 type=float32 scale=1000\n";
    assert_int_equal(parse(&c, t, &line), MB_ERR_OK);
    assert_int_equal(mb_config_check(&c), MB_ERR_CONFIG_MISSING);
    assert_non_null(strstr(mb_config_why(&c), "genesis = /path/genesis.json"));
    c.verify_proof = false; /* nothing to check a certificate with is fine without proofs */
    assert_int_equal(mb_config_check(&c), MB_ERR_OK);
    assert_null(mb_config_why(&c));
}

/* genesis, like map, is relative to the config file's folder. */
static void test_a_relative_genesis_path_resolves_against_the_config_file(void **st)
{
    (void)st;
    char *dir = tu_tmpdir("mbconf"), path[512], msg[600];
    snprintf(path, sizeof path, "%s/gm.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("chain_id=a\nkey_file=k\nqueue_dir=q\nverify_proof=true\ngenesis=net/genesis.json\n"
          "register import addr=72 fn=4 type=float32 scale=1000\n"
          "register export addr=74 fn=4 type=float32 scale=1000\n",
          f);
    fclose(f);
    struct mb_config c;
    assert_int_equal(mb_config_load(&c, path, msg, sizeof msg), MB_ERR_OK);
    char want[600];
    snprintf(want, sizeof want, "%s/net/genesis.json", dir);
    assert_string_equal(c.genesis_path, want);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("chain_id=a\nkey_file=k\nqueue_dir=q\nverify_proof=true\n"
          "register import addr=72 fn=4 type=float32 scale=1000\n"
          "register export addr=74 fn=4 type=float32 scale=1000\n",
          f);
    fclose(f);
    assert_int_equal(mb_config_load(&c, path, msg, sizeof msg), MB_ERR_CONFIG_MISSING);
    assert_non_null(strstr(msg, "verify_proof = true needs genesis"));
    tu_rmdir(dir);
    free(dir);
}

static void test_a_map_file_accepts_only_model_and_registers(void **st)
{
    (void)st;
    struct mb_map m;
    int line;
    memset(&m, 0, sizeof m);
    assert_int_equal(mb_map_parse(&m, "model = X\nport = 502\n", 22, &line),
                     MB_ERR_CONFIG_UNKNOWN_KEY);
    assert_int_equal(line, 2);
}

static void load_map(const char *name, struct mb_map *m)
{
    char path[512];
    snprintf(path, sizeof path, "%s/meterbridge/maps/%s", GL_SOURCE_DIR, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    int line;
    memset(m, 0, sizeof *m);
    assert_int_equal(mb_map_parse(m, buf, n, &line), MB_ERR_OK);
}

static void test_the_shipped_sdm630_map_decodes_a_float_kwh_register(void **st)
{
    (void)st;
    struct mb_map m;
    load_map("sdm630.conf", &m);
    assert_string_equal(m.model, "Eastron SDM630");
    assert_int_equal(m.import.addr, 0x0048);
    assert_int_equal(m.export_.addr, 0x004A);
    assert_true(m.serial.present);
    /* 1234.5 kWh as float32 = 0x449A5000, high word first */
    uint16_t w[2] = {0x449A, 0x5000};
    uint64_t wh;
    assert_int_equal(mb_reg_decode_wh(&m.import, w, &wh), MB_ERR_OK);
    assert_int_equal(wh, 1234500);
    assert_int_equal(mb_reg_wrap_wh(&m.import), 0);
}

static void test_the_shipped_em24_map_decodes_little_word_order_int32(void **st)
{
    (void)st;
    struct mb_map m;
    load_map("em24.conf", &m);
    assert_int_equal(m.import.addr, 0x0034);
    assert_int_equal(m.export_.addr, 0x004E);
    /* 123456 (x0.1 kWh) = 0x0001E240: low word first */
    uint16_t w[2] = {0xE240, 0x0001};
    uint64_t wh;
    assert_int_equal(mb_reg_decode_wh(&m.import, w, &wh), MB_ERR_OK);
    assert_int_equal(wh, 12345600);
    uint16_t neg[2] = {0x0000, 0x8000};
    assert_int_equal(mb_reg_decode_wh(&m.import, neg, &wh), MB_ERR_REG_BAD_VALUE);
}

static void test_the_shipped_example_config_loads_with_its_map(void **st)
{
    (void)st;
    struct mb_config c;
    char path[512], msg[600];
    snprintf(path, sizeof path, "%s/meterbridge/gridmeter.conf.example", GL_SOURCE_DIR);
    int rc = mb_config_load(&c, path, msg, sizeof msg);
    if (rc)
        fail_msg("%s", msg);
    assert_string_equal(c.map.model, "Eastron SDM630");
    assert_int_equal(c.max_power_w, 43000);
    assert_int_equal(c.slot_len_s, 900);
}

static void test_a_missing_map_file_is_named_in_the_message(void **st)
{
    (void)st;
    char *dir = tu_tmpdir("mbconf");
    char path[512], msg[600];
    snprintf(path, sizeof path, "%s/gm.conf", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("chain_id = a\nkey_file = k\nqueue_dir = q\nmap = nowhere.conf\n", f);
    fclose(f);
    struct mb_config c;
    assert_int_equal(mb_config_load(&c, path, msg, sizeof msg), MB_ERR_IO);
    assert_non_null(strstr(msg, "nowhere.conf"));
    tu_rmdir(dir);
    free(dir);
}

static struct mb_reg reg(enum mb_type t, enum mb_order o, uint64_t num, uint64_t den)
{
    struct mb_reg r = {true, 0, 4, t, o, num, den};
    return r;
}

static void test_decoding_floors_and_refuses_nan_infinity_and_negatives(void **st)
{
    (void)st;
    uint64_t wh;
    struct mb_reg f = reg(MB_TYPE_FLOAT32, MB_ORDER_BIG, 1000, 1);
    uint16_t nan_[2] = {0x7fc0, 0}, inf[2] = {0x7f80, 0}, negf[2] = {0xbf80, 0}; /* -1.0 */
    assert_int_equal(mb_reg_decode_wh(&f, nan_, &wh), MB_ERR_REG_BAD_VALUE);
    assert_int_equal(mb_reg_decode_wh(&f, inf, &wh), MB_ERR_REG_BAD_VALUE);
    assert_int_equal(mb_reg_decode_wh(&f, negf, &wh), MB_ERR_REG_BAD_VALUE);
    uint16_t huge[2] = {0x7f7f, 0xffff}; /* FLT_MAX */
    assert_int_equal(mb_reg_decode_wh(&f, huge, &wh), MB_ERR_REG_BAD_VALUE);
    /* 0.0015 kWh = 1.5 Wh -> 1 Wh (floor) */
    float v = 0.0015f;
    uint32_t bits;
    memcpy(&bits, &v, 4);
    uint16_t w[2] = {(uint16_t)(bits >> 16), (uint16_t)bits};
    assert_int_equal(mb_reg_decode_wh(&f, w, &wh), MB_ERR_OK);
    assert_int_equal(wh, (uint64_t)floor((double)v * 1000.0));
    /* integers: 7 units of 1/3 Wh -> floor(7/3) = 2 */
    struct mb_reg third = reg(MB_TYPE_U16, MB_ORDER_BIG, 1, 3);
    uint16_t seven = 7;
    assert_int_equal(mb_reg_decode_wh(&third, &seven, &wh), MB_ERR_OK);
    assert_int_equal(wh, 2);
    assert_int_equal(mb_reg_wrap_wh(&third), 0); /* 65536/3 is no whole Wh */
    struct mb_reg u64 = reg(MB_TYPE_U64, MB_ORDER_LITTLE, 1, 1);
    uint16_t w4[4] = {0x4444, 0x3333, 0x2222, 0x0011};
    assert_int_equal(mb_reg_decode_wh(&u64, w4, &wh), MB_ERR_OK);
    assert_int_equal(wh, 0x0011222233334444ull);
    uint16_t w4big[4] = {0x0020, 0, 0, 0}; /* 2^53 */
    struct mb_reg u64b = reg(MB_TYPE_U64, MB_ORDER_BIG, 1, 1);
    assert_int_equal(mb_reg_decode_wh(&u64b, w4big, &wh), MB_ERR_REG_BAD_VALUE);
    struct mb_reg u32 = reg(MB_TYPE_U32, MB_ORDER_BIG, 10, 1);
    assert_int_equal(mb_reg_wrap_wh(&u32), 42949672960ull);
}

static void test_decimal_and_fraction_scales_reduce_to_the_same_rational(void **st)
{
    (void)st;
    struct mb_config a, b;
    int line;
    assert_int_equal(parse(&a, "register import addr=1 fn=3 type=u32 scale=0.25\n", &line),
                     MB_ERR_OK);
    assert_int_equal(parse(&b, "register import addr=1 fn=3 type=u32 scale=2/8\n", &line),
                     MB_ERR_OK);
    assert_int_equal(a.map.import.scale_num, 1);
    assert_int_equal(a.map.import.scale_den, 4);
    assert_int_equal(b.map.import.scale_num, 1);
    assert_int_equal(b.map.import.scale_den, 4);
}

/* Decoding any 4 words never crashes and integers are monotone in the raw value. */
static void test_integer_decoding_is_monotone_over_random_words(void **st)
{
    (void)st;
    struct tu_rng g = {42};
    for (int i = 0; i < 100000; i++) {
        struct mb_reg r = reg((enum mb_type)tu_below(&g, 4), (enum mb_order)tu_below(&g, 2),
                              1 + tu_below(&g, 1000), 1 + tu_below(&g, 1000));
        uint16_t w[4], w2[4];
        for (int j = 0; j < 4; j++)
            w[j] = (uint16_t)tu_next(&g);
        memcpy(w2, w, sizeof w);
        unsigned last = r.order == MB_ORDER_BIG ? mb_type_words(r.type) - 1 : 0;
        if (w2[last] == 0xffff)
            continue;
        w2[last]++; /* raw + 1 */
        uint64_t a, b;
        int ra = mb_reg_decode_wh(&r, w, &a), rb = mb_reg_decode_wh(&r, w2, &b);
        if (ra == MB_ERR_OK && rb == MB_ERR_OK)
            assert_true(b >= a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_full_config_parses_with_comments_and_crlf),
        cmocka_unit_test(test_each_bad_line_is_a_named_error_with_its_line),
        cmocka_unit_test(test_a_line_past_the_limit_is_refused_not_truncated),
        cmocka_unit_test(test_missing_import_register_fails_the_check),
        cmocka_unit_test(test_a_map_file_accepts_only_model_and_registers),
        cmocka_unit_test(test_the_shipped_sdm630_map_decodes_a_float_kwh_register),
        cmocka_unit_test(test_the_shipped_em24_map_decodes_little_word_order_int32),
        cmocka_unit_test(test_decoding_floors_and_refuses_nan_infinity_and_negatives),
        cmocka_unit_test(test_decimal_and_fraction_scales_reduce_to_the_same_rational),
        cmocka_unit_test(test_the_shipped_example_config_loads_with_its_map),
        cmocka_unit_test(test_verify_proof_without_genesis_is_refused_with_a_reason),
        cmocka_unit_test(test_a_relative_genesis_path_resolves_against_the_config_file),
        cmocka_unit_test(test_a_missing_map_file_is_named_in_the_message),
        cmocka_unit_test(test_integer_decoding_is_monotone_over_random_words),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
