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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
