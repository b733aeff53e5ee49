/* test_node_genesis.c -- genesis.json, key files and the config file
 * (node_genesis.c): round trips, and every refusal naming what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "chain_crypto.h"
#include "node_genesis.h"
#include "testutil.h"

static const char *GOOD =
    "{\"chain_id\": \"c1\", \"engine\": \"pbft\", \"time_ms\": 17,"
    " \"validators\": ["
    "  {\"key\": \"0101010101010101010101010101010101010101010101010101010101010101\", \"power\": "
    "1, \"addr\": \"127.0.0.1:1\"},"
    "  {\"key\": \"0202020202020202020202020202020202020202020202020202020202020202\", \"power\": "
    "1, \"addr\": \"127.0.0.1:2\"},"
    "  {\"key\": \"0303030303030303030303030303030303030303030303030303030303030303\", \"power\": "
    "1},"
    "  {\"key\": \"0404040404040404040404040404040404040404040404040404040404040404\", \"power\": "
    "1, \"addr\": \"h:65535\"}],"
    " \"accounts\": [{\"key\": "
    "\"0505050505050505050505050505050505050505050505050505050505050505\","
    "  \"balance\": 9000000, \"roles\": [\"operator\", \"participant\"]}]}";

static void test_a_genesis_round_trips_through_its_file(void **state)
{
    (void)state;
    struct node_genesis g, h;
    char err[NODE_ERRMSG_BYTES];
    assert_int_equal(node_genesis_parse(GOOD, strlen(GOOD), &g, err, sizeof err), 0);
    assert_string_equal(g.chain_id, "c1");
    assert_int_equal(g.engine, CONS_ENGINE_PBFT);
    assert_int_equal(g.time_ms, 17);
    assert_int_equal(g.nvalidators, 4);
    assert_int_equal(g.validators[1].port, 2);
    assert_string_equal(g.validators[3].host, "h");
    assert_string_equal(g.validators[2].host, "");
    assert_int_equal(g.naccounts, 1);
    assert_int_equal(g.accounts[0].balance, 9000000);
    assert_int_equal(g.accounts[0].roles, CHAIN_ROLE_OPERATOR | CHAIN_ROLE_PARTICIPANT);
    char *dir = tu_tmpdir("gl-genesis");
    char path[512];
    snprintf(path, sizeof path, "%s/genesis.json", dir);
    assert_int_equal(node_genesis_write(path, &g), 0);
    assert_int_equal(node_genesis_load(path, &h, err, sizeof err), 0);
    assert_string_equal(h.chain_id, g.chain_id);
    assert_int_equal(h.nvalidators, g.nvalidators);
    assert_memory_equal(h.validators, g.validators, sizeof g.validators);
    assert_int_equal(h.naccounts, 1);
    assert_memory_equal(h.accounts, g.accounts, sizeof *g.accounts);
    uint8_t k3[32];
    memset(k3, 3, 32);
    assert_int_equal(node_genesis_validator_index(&h, k3), 2);
    memset(k3, 9, 32);
    assert_int_equal(node_genesis_validator_index(&h, k3), -1);
    node_genesis_deinit(&g);
    node_genesis_deinit(&h);
    tu_rmdir(dir);
    free(dir);
}

/* Replace the first occurrence of from in GOOD by to, parse, expect a refusal mentioning want. */
static void refused(const char *from, const char *to, const char *want)
{
    char text[4096];
    const char *at = strstr(GOOD, from);
    assert_non_null(at);
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - GOOD), GOOD, to, at + strlen(from));
    struct node_genesis g;
    char err[NODE_ERRMSG_BYTES] = "";
    assert_int_equal(node_genesis_parse(text, strlen(text), &g, err, sizeof err),
                     NODE_ERR_BAD_GENESIS);
    if (!strstr(err, want))
        fail_msg("refusal \"%s\" does not mention \"%s\"", err, want);
    assert_null(g.accounts);
}

static void test_bad_genesis_files_are_refused_with_a_reason(void **state)
{
    (void)state;
    refused("\"time_ms\": 17,", "\"time_ms\": 17, \"extra\": 1,", "unknown field \"extra\"");
    refused("\"engine\": \"pbft\"", "\"engine\": \"paxos\"", "engine");
    refused("\"chain_id\": \"c1\"", "\"chain_id\": \"\"", "chain_id");
    refused("\"time_ms\": 17", "\"time_ms\": -1", "time_ms");
    refused("0202020202020202020202020202020202020202020202020202020202020202",
            "0101010101010101010101010101010101010101010101010101010101010101", "same key");
    refused("0303030303030303030303030303030303030303030303030303030303030303", "03",
            "64 lower-case hex");
    refused("\"power\": 1, \"addr\": \"127.0.0.1:2\"", "\"power\": 2, \"addr\": \"127.0.0.1:2\"",
            "power");
    refused("\"addr\": \"127.0.0.1:2\"", "\"addr\": \"127.0.0.1:99999\"", "addr");
    refused("\"balance\": 9000000", "\"balance\": 9.5", "balance");
    refused("\"participant\"", "\"king\"", "unknown role \"king\"");
    char err[NODE_ERRMSG_BYTES];
    struct node_genesis g;
    assert_int_equal(node_genesis_parse("{", 1, &g, err, sizeof err), NODE_ERR_BAD_GENESIS);
    assert_non_null(strstr(err, "not valid JSON"));
}

static void test_pbft_needs_four_validators(void **state)
{
    (void)state;
    char text[4096];
    const char *cut = strstr(GOOD, ",  {\"key\": \"0404");
    assert_non_null(cut);
    snprintf(text, sizeof text, "%.*s], %s", (int)(cut - GOOD), GOOD, strstr(GOOD, "\"accounts\""));
    struct node_genesis g;
    char err[NODE_ERRMSG_BYTES];
    assert_int_equal(node_genesis_parse(text, strlen(text), &g, err, sizeof err),
                     NODE_ERR_BAD_GENESIS);
    assert_non_null(strstr(err, "at least 4 validators"));
}

static void test_key_files_are_private_and_never_overwritten(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("gl-key");
    char path[512], err[NODE_ERRMSG_BYTES];
    snprintf(path, sizeof path, "%s/node.key", dir);
    uint8_t pk[32], sk[64], pk2[32], sk2[64], seed[32] = {42};
    chain_keypair_from_seed(pk, sk, seed);
    assert_int_equal(node_key_write(path, sk), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(node_key_read(path, pk2, sk2, err, sizeof err), 0);
    assert_memory_equal(pk, pk2, 32);
    assert_memory_equal(sk, sk2, 64);
    assert_int_equal(node_key_write(path, sk), NODE_ERR_IO); /* never overwrite a key */
    chmod(path, 0644);
    assert_int_equal(node_key_read(path, pk2, sk2, err, sizeof err), NODE_ERR_BAD_KEY);
    assert_non_null(strstr(err, "chmod 600"));
    /* a damaged file: the public half does not match the seed */
    chmod(path, 0600);
    FILE *f = fopen(path, "r+");
    fseek(f, 100, SEEK_SET);
    fputc('0', f);
    fputc('0', f);
    fclose(f);
    int rc = node_key_read(path, pk2, sk2, err, sizeof err);
    assert_int_equal(rc, NODE_ERR_BAD_KEY);
    tu_rmdir(dir);
    free(dir);
}

static void test_config_paths_resolve_and_bad_fields_are_named(void **state)
{
    (void)state;
    struct node_config c;
    char err[NODE_ERRMSG_BYTES];
    const char *t =
        "{\"genesis\": \"../genesis.json\", \"key_file\": \"/abs/node.key\", \"data_dir\": "
        "\"data\","
        " \"p2p_listen\": \"127.0.0.1:26600\", \"rpc_listen\": \"127.0.0.1:0\", \"tick_ms\": 20}";
    assert_int_equal(node_config_parse(t, strlen(t), "/etc/gl", &c, err, sizeof err), 0);
    assert_string_equal(c.genesis_path, "/etc/gl/../genesis.json");
    assert_string_equal(c.key_path, "/abs/node.key");
    assert_string_equal(c.data_dir, "/etc/gl/data");
    assert_int_equal(c.p2p_port, 26600);
    assert_string_equal(c.rpc_host, "127.0.0.1");
    assert_int_equal(c.rpc_port, 0);
    assert_int_equal(c.tick_ms, 20);
    assert_int_equal(c.heartbeat_ms, 1000); /* default */
    const char *bad[][2] = {
        {"{\"key_file\": \"k\", \"data_dir\": \"d\"}", "\"genesis\""},
        {"{\"genesis\": \"g\", \"key_file\": \"k\", \"data_dir\": \"d\", \"tick_ms\": 0}",
         "tick_ms"},
        {"{\"genesis\": \"g\", \"key_file\": \"k\", \"data_dir\": \"d\", \"p2p_listen\": "
         "\"nohost\"}",
         "p2p_listen"},
        {"{\"genesis\": \"g\", \"key_file\": \"k\", \"data_dir\": \"d\", \"colour\": 1}",
         "unknown field \"colour\""},
        {"{\"genesis\": \"g\", \"key_file\": \"k\", \"data_dir\": \"d\", \"no_sync\": 1}",
         "no_sync"},
        {"[]", "JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(node_config_parse(bad[i][0], strlen(bad[i][0]), "", &c, err, sizeof err),
                         NODE_ERR_BAD_CONFIG);
        if (!strstr(err, bad[i][1]))
            fail_msg("config refusal \"%s\" does not mention %s", err, bad[i][1]);
    }
}

static void test_config_written_by_testnet_reads_back(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("gl-config");
    char path[512], err[NODE_ERRMSG_BYTES];
    snprintf(path, sizeof path, "%s/config.json", dir);
    struct node_config c, d;
    node_config_defaults(&c);
    snprintf(c.genesis_path, sizeof c.genesis_path, "g.json");
    snprintf(c.key_path, sizeof c.key_path, "k");
    snprintf(c.data_dir, sizeof c.data_dir, "data");
    snprintf(c.p2p_host, sizeof c.p2p_host, "127.0.0.1");
    c.p2p_port = 9;
    c.no_sync = true;
    assert_int_equal(node_config_write(path, &c), 0);
    assert_int_equal(node_config_load(path, &d, err, sizeof err), 0);
    char want[600];
    snprintf(want, sizeof want, "%s/g.json", dir);
    assert_string_equal(d.genesis_path, want);
    assert_int_equal(d.p2p_port, 9);
    assert_true(d.no_sync);
    assert_string_equal(d.rpc_host, "");
    tu_rmdir(dir);
    free(dir);
}

/* The demo clock, the shadow-centre API and MQTT: defaults, values, and
 * every refusal naming its field (node/README.md, config table). */
static void test_config_services_parse_and_refusals_name_the_field(void **state)
{
    (void)state;
    struct node_config c;
    char err[NODE_ERRMSG_BYTES];
    const char *none = "{\"genesis\": \"g\", \"key_file\": \"k\", \"data_dir\": \"d\"}";
    assert_int_equal(node_config_parse(none, strlen(none), "", &c, err, sizeof err), 0);
    assert_int_equal(c.clock_accel, 1);
    assert_string_equal(c.shadow_host, "");
    assert_string_equal(c.mqtt_host, "");
    assert_int_equal(c.mqtt_port, 1883);
    const char *t =
        "{\"genesis\": \"g\", \"key_file\": \"k\", \"data_dir\": \"d\", \"rpc_listen\": "
        "\"127.0.0.1:0\", \"clock_accel\": 96, \"clock_start_ms\": 1767225600000,"
        " \"shadow_listen\": \"10.0.0.5:26658\", \"shadow_key_file\": \"../shadow.key\","
        " \"shadow_allowed_keys\": [\"0101010101010101010101010101010101010101010101010101010101"
        "010101\"], \"mqtt_host\": \"broker.local\", \"mqtt_port\": 8883, \"mqtt_topic\": "
        "\"grid/feeder-7\"}";
    assert_int_equal(node_config_parse(t, strlen(t), "/etc/gl", &c, err, sizeof err), 0);
    assert_int_equal(c.clock_accel, 96);
    assert_int_equal(c.clock_start_ms, 1767225600000ULL);
    assert_string_equal(c.shadow_host, "10.0.0.5");
    assert_int_equal(c.shadow_port, 26658);
    assert_string_equal(c.shadow_key_path, "/etc/gl/../shadow.key");
    assert_int_equal(c.nshadow_allowed, 1);
    assert_int_equal(c.shadow_allowed[0][31], 1);
    assert_string_equal(c.mqtt_host, "broker.local");
    assert_int_equal(c.mqtt_port, 8883);
    assert_string_equal(c.mqtt_topic, "grid/feeder-7");

#define BASE "{\"genesis\": \"g\", \"key_file\": \"k\", \"data_dir\": \"d\", "
    const char *bad[][2] = {
        {BASE "\"clock_accel\": 0}", "\"clock_accel\" must be an integer from 1 to 100000"},
        {BASE "\"clock_accel\": 100001, \"clock_start_ms\": 1}", "clock_accel"},
        {BASE "\"clock_accel\": 2.5, \"clock_start_ms\": 1}", "clock_accel"},
        {BASE "\"clock_accel\": 10}", "needs \"clock_start_ms\""},
        {BASE "\"clock_accel\": 10, \"clock_start_ms\": -1}", "clock_start_ms"},
        {BASE "\"shadow_listen\": \"nohost\"}", "shadow_listen"},
        {BASE "\"shadow_key_file\": \"s.key\"}",
         "\"shadow_key_file\" is for the shadow-centre API"},
        {BASE "\"shadow_key_file\": \"\", \"shadow_listen\": \"h:1\"}", "shadow_key_file"},
        {BASE "\"shadow_listen\": \"h:1\", \"shadow_allowed_keys\": \"01\"}",
         "shadow_allowed_keys"},
        {BASE "\"shadow_listen\": \"h:1\", \"shadow_allowed_keys\": [\"0A\"]}",
         "\"shadow_allowed_keys\" entry 0"},
        {BASE "\"shadow_allowed_keys\": []}", "needs \"shadow_listen\""},
        {BASE "\"rpc_listen\": \"h:1\", \"mqtt_host\": \"\"}", "mqtt_host"},
        {BASE "\"rpc_listen\": \"h:1\", \"mqtt_host\": \"a b\"}", "mqtt_host"},
        {BASE "\"rpc_listen\": \"h:1\", \"mqtt_host\": \"b\", \"mqtt_port\": 0}", "mqtt_port"},
        {BASE "\"rpc_listen\": \"h:1\", \"mqtt_host\": \"b\", \"mqtt_topic\": \"a/#\"}",
         "\"mqtt_topic\" must be an MQTT topic prefix"},
        {BASE "\"rpc_listen\": \"h:1\", \"mqtt_host\": \"b\", \"mqtt_topic\": \"a/+/c\"}",
         "mqtt_topic"},
        {BASE "\"mqtt_topic\": \"x\"}", "\"mqtt_topic\" needs \"mqtt_host\""},
        {BASE "\"mqtt_port\": 1883}", "\"mqtt_port\" needs \"mqtt_host\""},
        {BASE "\"mqtt_host\": \"b\"}", "\"mqtt_host\" needs \"rpc_listen\""},
    };
#undef BASE
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(node_config_parse(bad[i][0], strlen(bad[i][0]), "", &c, err, sizeof err),
                         NODE_ERR_BAD_CONFIG);
        if (!strstr(err, bad[i][1]))
            fail_msg("config %s: refusal \"%s\" does not mention %s", bad[i][0], err, bad[i][1]);
    }
}

/* block time = start + (now - start) * accel, the formula gridmeter's demo
 * clock uses; before start and at accel 1 the wall clock itself. */
static void test_demo_clock_runs_accel_times_faster_from_its_start(void **state)
{
    (void)state;
    struct node_config c;
    node_config_defaults(&c);
    assert_int_equal(node_clock_ms(&c, 1767225600123ULL), 1767225600123ULL);
    c.clock_accel = 96; /* a day in 15 minutes */
    c.clock_start_ms = 1767225600000ULL;
    assert_int_equal(node_clock_ms(&c, 1767225599999ULL), 1767225599999ULL); /* before: wall */
    assert_int_equal(node_clock_ms(&c, 1767225600000ULL), 1767225600000ULL);
    assert_int_equal(node_clock_ms(&c, 1767225600000ULL + 900000), 1767225600000ULL + 86400000);
    assert_int_equal(node_clock_ms(&c, 1767225600001ULL), 1767225600096ULL);
    /* monotone in wall time, and the start itself is continuous */
    uint64_t prev = 0;
    for (uint64_t w = 1767225599000ULL; w < 1767225602000ULL; w += 7) {
        uint64_t t = node_clock_ms(&c, w);
        assert_true(t >= prev);
        assert_true(t >= w);
        prev = t;
    }
    c.clock_accel = NODE_CLOCK_ACCEL_MAX; /* saturates rather than wrapping */
    c.clock_start_ms = 0;
    assert_int_equal(node_clock_ms(&c, UINT64_MAX / 2), UINT64_MAX);
}

static void test_config_services_write_and_read_back(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("gl-config-svc");
    char path[512], err[NODE_ERRMSG_BYTES];
    snprintf(path, sizeof path, "%s/config.json", dir);
    struct node_config c, d;
    node_config_defaults(&c);
    snprintf(c.genesis_path, sizeof c.genesis_path, "g.json");
    snprintf(c.key_path, sizeof c.key_path, "k");
    snprintf(c.data_dir, sizeof c.data_dir, "data");
    snprintf(c.rpc_host, sizeof c.rpc_host, "127.0.0.1");
    c.rpc_port = 26700;
    c.clock_accel = 240;
    c.clock_start_ms = 1767225600000ULL;
    snprintf(c.shadow_host, sizeof c.shadow_host, "127.0.0.1");
    c.shadow_port = 26800;
    snprintf(c.shadow_key_path, sizeof c.shadow_key_path, "../shadow.key");
    memset(c.shadow_allowed[0], 0xab, CHAIN_PK_BYTES);
    memset(c.shadow_allowed[1], 0x07, CHAIN_PK_BYTES);
    c.nshadow_allowed = 2;
    snprintf(c.mqtt_host, sizeof c.mqtt_host, "127.0.0.1");
    c.mqtt_port = 1884;
    assert_int_equal(node_config_write(path, &c), 0);
    assert_int_equal(node_config_load(path, &d, err, sizeof err), 0);
    assert_int_equal(d.clock_accel, 240);
    assert_int_equal(d.clock_start_ms, 1767225600000ULL);
    assert_string_equal(d.shadow_host, "127.0.0.1");
    assert_int_equal(d.shadow_port, 26800);
    char want[600];
    snprintf(want, sizeof want, "%s/../shadow.key", dir);
    assert_string_equal(d.shadow_key_path, want);
    assert_int_equal(d.nshadow_allowed, 2);
    assert_memory_equal(d.shadow_allowed, c.shadow_allowed, 2 * CHAIN_PK_BYTES);
    assert_string_equal(d.mqtt_host, "127.0.0.1");
    assert_int_equal(d.mqtt_port, 1884);
    assert_string_equal(d.mqtt_topic, ""); /* the node defaults it to gridledger/<chain id> */
    tu_rmdir(dir);
    free(dir);
}

int main(void)
{
    if (chain_crypto_init())
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_genesis_round_trips_through_its_file),
        cmocka_unit_test(test_bad_genesis_files_are_refused_with_a_reason),
        cmocka_unit_test(test_pbft_needs_four_validators),
        cmocka_unit_test(test_key_files_are_private_and_never_overwritten),
        cmocka_unit_test(test_config_paths_resolve_and_bad_fields_are_named),
        cmocka_unit_test(test_config_written_by_testnet_reads_back),
        cmocka_unit_test(test_config_services_parse_and_refusals_name_the_field),
        cmocka_unit_test(test_demo_clock_runs_accel_times_faster_from_its_start),
        cmocka_unit_test(test_config_services_write_and_read_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
