/* fuzz_node_genesis.c -- the genesis and config parsers (node_genesis.c) on
 * arbitrary text.  Properties, beyond "no crash, no leak": a refusal is
 * BAD_GENESIS / BAD_CONFIG with a message and leaves nothing allocated; an
 * accepted genesis has 1..32 distinct validators of power 1 (PBFT: >= 4), a
 * chain id of 1..64 bytes and role bits within CHAIN_ROLES_ALL; an accepted
 * config has its required paths and values in their documented ranges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_genesis.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_node_genesis: property failed: %s (%s:%d)\n", #cond, __FILE__,   \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[NODE_ERRMSG_BYTES] = "";
    struct node_genesis g;
    int rc = node_genesis_parse((const char *)data, size, &g, err, sizeof err);
    if (rc) {
        CHECK(rc == NODE_ERR_BAD_GENESIS || rc == CHAIN_ERR_NOMEM);
        CHECK(err[0] != 0 || rc == CHAIN_ERR_NOMEM);
        CHECK(g.accounts == NULL);
    } else {
        size_t idl = strlen(g.chain_id);
        CHECK(idl >= 1 && idl <= CHAIN_CHAIN_ID_MAX_BYTES);
        CHECK(g.nvalidators >= 1 && g.nvalidators <= NODE_VALIDATORS_MAX);
        CHECK(g.engine == CONS_ENGINE_RAFT || (g.engine == CONS_ENGINE_PBFT && g.nvalidators >= 4));
        for (size_t i = 0; i < g.nvalidators; i++) {
            CHECK(g.validators[i].power == 1);
            for (size_t j = 0; j < i; j++)
                CHECK(memcmp(g.validators[i].key, g.validators[j].key, CHAIN_PK_BYTES) != 0);
        }
        for (size_t i = 0; i < g.naccounts; i++)
            CHECK((g.accounts[i].roles & ~CHAIN_ROLES_ALL) == 0 && g.accounts[i].balance >= 0);
        node_genesis_deinit(&g);
    }
    struct node_config c;
    err[0] = 0;
    rc = node_config_parse((const char *)data, size, "base", &c, err, sizeof err);
    if (rc) {
        CHECK(rc == NODE_ERR_BAD_CONFIG && err[0] != 0);
    } else {
        CHECK(c.genesis_path[0] && c.key_path[0] && c.data_dir[0]);
        CHECK(c.tick_ms >= 1 && c.tick_ms <= 10000);
        CHECK(c.block_max_txs >= 1 && c.block_max_txs <= CHAIN_BLOCK_MAX_TXS);
        CHECK(c.verify_threads >= 1 && c.verify_threads <= 64);
        CHECK(c.mempool_max_txs >= 1 && c.mempool_max_bytes >= 4096);
        CHECK(c.clock_accel >= 1 && c.clock_accel <= NODE_CLOCK_ACCEL_MAX);
        CHECK(node_clock_ms(&c, c.clock_start_ms) == c.clock_start_ms);
        CHECK(c.shadow_host[0] || (!c.shadow_key_path[0] && !c.nshadow_allowed));
        CHECK(!c.mqtt_host[0] || (c.rpc_host[0] && c.mqtt_port >= 1));
        CHECK(!strpbrk(c.mqtt_topic, "+#"));
    }
    return 0;
}
