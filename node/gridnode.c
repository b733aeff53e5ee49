/* gridnode.c -- the validator / full node program (DESIGN.md, Commands a user meets).
 *
 *   gridnode init [--dir D] ...                 keys, genesis and config for one node
 *   gridnode testnet --validators N --dir D ... a local network of N validators
 *   gridnode --config FILE                      run a node
 *   gridnode --dev [--dir D]                    one validator in ./gridnode-dev (created on first
 * run)
 *
 * File formats and options: node/README.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain_crypto.h"
#include "node_genesis.h"
#include "node_run.h"

#define GENESIS_TIME_MS 1767225600000ULL /* 2026-01-01 00:00 UTC: block time is data */
#define FUNDS_MICRO     (1000000000LL * CHAIN_MICRO_PER_TOKEN)
#define DEV_SHADOW_ADDR "127.0.0.1:26658" /* gridnode --dev: the shadow-centre API */
#define SHADOW_PORT_OFF 200u              /* testnet: node0's shadow-centre API at P+200 */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: gridnode --config FILE [--byzantine garbage|equivocate] [--verbose]\n"
        "       gridnode --dev [--dir D] [--verbose]\n"
        "       gridnode init [--dir D] [--chain-id ID] [--engine raft|pbft] [--p2p H:P] [--rpc "
        "H:P]\n"
        "       gridnode testnet --validators N --dir D [--engine raft|pbft] [--base-port P]\n"
        "                        [--chain-id ID] [--observers M] [--load-accounts K] [--no-sync]\n"
        "                        [--mqtt HOST:PORT] [--genesis-time-ms T]\n"
        "                        [--clock-accel A --clock-start-ms T]\n"
        "\n"
        "Runs a gridledger node: validator (its key is in genesis) or observer (a full node).\n"
        "  --config FILE  run the node FILE describes (JSON, see node/README.md)\n"
        "  --dev          one validator with its own genesis and keys in D (default "
        "./gridnode-dev),\n"
        "                 created on first run; RPC on 127.0.0.1:26657, the shadow-centre API "
        "on\n"
        "                 " DEV_SHADOW_ADDR " (signing with D/shadow.key)\n"
        "  init           write node.key, genesis.json (this node the only validator, plus funded\n"
        "                 operator.key and shadow.key accounts) and config.json into D (default "
        "./gridnode)\n"
        "  testnet        write D/genesis.json, D/operator.key, D/shadow.key and "
        "D/nodeI/{node.key,config.json}\n"
        "                 for N validators (and M observers) on 127.0.0.1: p2p port P+I, RPC port "
        "P+100+I\n"
        "                 (P default 26600); --load-accounts K funds K benchmark accounts whose "
        "keys\n"
        "                 derive from the seed \"load-account-<i>\" (tests and benchmarks only);\n"
        "                 node0 is the shadow centre: its API on 127.0.0.1:P+200 with "
        "D/shadow.key;\n"
        "                 --mqtt HOST:PORT: every node publishes its events to that broker;\n"
        "                 --genesis-time-ms T: genesis time (default 2026-01-01 00:00 UTC)\n"
        "  --clock-accel A --clock-start-ms T\n"
        "                 DEMO AND TEST ONLY: block time = T + (now - T) * A once now passes T\n"
        "                 (A 1..100000, 1: wall time), written into every node's config\n"
        "  --byzantine    TEST ONLY, PBFT validators: corrupt (garbage) or equivocate half of the\n"
        "                 consensus messages this node sends\n");
}

static int mkdir_p(const char *d)
{
    if (mkdir(d, 0700) == 0 || errno == EEXIST)
        return 0;
    fprintf(stderr, "gridnode: cannot create %s: %s\n", d, strerror(errno));
    return -1;
}

static int new_key(const char *path, uint8_t pk[CHAIN_PK_BYTES])
{
    uint8_t sk[CHAIN_SK_BYTES];
    chain_keypair_random(pk, sk);
    int rc = node_key_write(path, sk);
    memset(sk, 0, sizeof sk);
    return rc;
}

void gridnode_load_key(uint32_t i, uint8_t pk[CHAIN_PK_BYTES], uint8_t sk[CHAIN_SK_BYTES]);
void gridnode_load_key(uint32_t i, uint8_t pk[CHAIN_PK_BYTES], uint8_t sk[CHAIN_SK_BYTES])
{
    uint8_t seed[32] = {0};
    snprintf((char *)seed, sizeof seed, "load-account-%u", i);
    chain_keypair_from_seed(pk, sk, seed);
}

struct net_opts {
    const char *dir;
    const char *chain_id;
    enum cons_engine engine;
    uint32_t validators, observers, load_accounts;
    uint32_t base_port;
    bool no_sync;
    uint64_t genesis_time_ms;
    uint32_t clock_accel; /* 0 or 1: the wall clock */
    uint64_t clock_start_ms;
    char mqtt_host[NODE_HOST_MAX + 1]; /* "" : no broker */
    uint16_t mqtt_port;
    bool shadow; /* node0 serves the shadow-centre API */
};

/* A decimal number from lo to hi, all of s. */
static bool parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* genesis with operator and shadow-centre accounts (keys written to dir). */
static int write_network(const struct net_opts *o)
{
    char p[NODE_PATH_MAX], g[NODE_PATH_MAX];
    struct node_genesis gen;
    int rc = 1;
    memset(&gen, 0, sizeof gen);
    if (mkdir_p(o->dir))
        return 1;
    snprintf(gen.chain_id, sizeof gen.chain_id, "%s", o->chain_id);
    gen.engine = o->engine;
    gen.time_ms = o->genesis_time_ms ? o->genesis_time_ms : GENESIS_TIME_MS;
    gen.nvalidators = o->validators;
    gen.accounts = calloc(2 + o->validators + o->load_accounts, sizeof *gen.accounts);
    if (!gen.accounts)
        return 1;
    uint8_t pk[CHAIN_PK_BYTES];
    snprintf(p, sizeof p, "%s/operator.key", o->dir);
    if (new_key(p, pk))
        goto out;
    memcpy(gen.accounts[gen.naccounts].pk, pk, CHAIN_PK_BYTES);
    gen.accounts[gen.naccounts].balance = FUNDS_MICRO;
    gen.accounts[gen.naccounts++].roles = CHAIN_ROLE_OPERATOR | CHAIN_ROLE_PARTICIPANT;
    snprintf(p, sizeof p, "%s/shadow.key", o->dir);
    if (new_key(p, pk))
        goto out;
    memcpy(gen.accounts[gen.naccounts].pk, pk, CHAIN_PK_BYTES);
    gen.accounts[gen.naccounts].balance = FUNDS_MICRO;
    gen.accounts[gen.naccounts++].roles = CHAIN_ROLE_SHADOW_CENTRE | CHAIN_ROLE_PARTICIPANT;
    for (uint32_t i = 0; i < o->load_accounts; i++) {
        uint8_t sk[CHAIN_SK_BYTES];
        gridnode_load_key(i, gen.accounts[gen.naccounts].pk, sk);
        gen.accounts[gen.naccounts].balance = FUNDS_MICRO;
        gen.accounts[gen.naccounts++].roles = CHAIN_ROLE_PARTICIPANT;
    }
    for (uint32_t i = 0; i < o->validators + o->observers; i++) {
        char nd[NODE_PATH_MAX - 32];
        snprintf(nd, sizeof nd, "%s/node%u", o->dir, i);
        if (mkdir_p(nd))
            goto out;
        snprintf(p, sizeof p, "%s/node.key", nd);
        if (new_key(p, pk))
            goto out;
        uint32_t p2p = o->base_port + i, rpc = o->base_port + 100 + i;
        if (p2p > 65535 || rpc > 65535) {
            fprintf(stderr, "gridnode: --base-port %u leaves no room for %u nodes\n", o->base_port,
                    o->validators + o->observers);
            goto out;
        }
        if (i < o->validators) {
            struct node_validator *v = &gen.validators[i];
            memcpy(v->key, pk, CHAIN_PK_BYTES);
            v->power = 1;
            snprintf(v->host, sizeof v->host, "127.0.0.1");
            v->port = (uint16_t)p2p;
            memcpy(gen.accounts[gen.naccounts].pk, pk, CHAIN_PK_BYTES);
            gen.accounts[gen.naccounts++].roles = CHAIN_ROLE_VALIDATOR;
        }
        struct node_config c;
        node_config_defaults(&c);
        snprintf(c.genesis_path, sizeof c.genesis_path, "../genesis.json");
        snprintf(c.key_path, sizeof c.key_path, "node.key");
        snprintf(c.data_dir, sizeof c.data_dir, "data");
        snprintf(c.p2p_host, sizeof c.p2p_host, "127.0.0.1");
        c.p2p_port = (uint16_t)p2p;
        snprintf(c.rpc_host, sizeof c.rpc_host, "127.0.0.1");
        c.rpc_port = (uint16_t)rpc;
        c.no_sync = o->no_sync;
        if (o->clock_accel > 1) {
            c.clock_accel = o->clock_accel;
            c.clock_start_ms = o->clock_start_ms;
        }
        if (o->mqtt_host[0]) {
            snprintf(c.mqtt_host, sizeof c.mqtt_host, "%s", o->mqtt_host);
            c.mqtt_port = o->mqtt_port;
        }
        if (i == 0 && o->shadow) { /* node0 is the shadow centre: it holds the mint key */
            uint32_t sp = o->base_port + SHADOW_PORT_OFF;
            if (sp > 65535) {
                fprintf(stderr, "gridnode: --base-port %u leaves no room for the shadow port\n",
                        o->base_port);
                goto out;
            }
            snprintf(c.shadow_host, sizeof c.shadow_host, "127.0.0.1");
            c.shadow_port = (uint16_t)sp;
            snprintf(c.shadow_key_path, sizeof c.shadow_key_path, "../shadow.key");
        }
        snprintf(p, sizeof p, "%s/config.json", nd);
        if (node_config_write(p, &c))
            goto out;
    }
    snprintf(g, sizeof g, "%s/genesis.json", o->dir);
    if (node_genesis_write(g, &gen))
        goto out;
    rc = 0;
out:
    node_genesis_deinit(&gen);
    return rc;
}

static int cmd_testnet(int argc, char **argv)
{
    struct net_opts o = {.chain_id = "gridledger-testnet",
                         .engine = CONS_ENGINE_RAFT,
                         .base_port = 26600,
                         .shadow = true};
    bool have_start = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-sync")) {
            o.no_sync = true;
            continue;
        } else if (!v) {
            fprintf(stderr, "gridnode testnet: %s needs a value (see --help)\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--validators"))
            o.validators = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--observers"))
            o.observers = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--load-accounts"))
            o.load_accounts = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--dir"))
            o.dir = v;
        else if (!strcmp(a, "--chain-id"))
            o.chain_id = v;
        else if (!strcmp(a, "--base-port"))
            o.base_port = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--engine") && (!strcmp(v, "raft") || !strcmp(v, "pbft")))
            o.engine = !strcmp(v, "raft") ? CONS_ENGINE_RAFT : CONS_ENGINE_PBFT;
        else if (!strcmp(a, "--genesis-time-ms") || !strcmp(a, "--clock-start-ms")) {
            uint64_t t;
            if (!parse_u64(v, 0, (uint64_t)INT64_MAX, &t)) {
                fprintf(stderr, "gridnode testnet: %s takes milliseconds since 1970, not %s\n", a,
                        v);
                return 2;
            }
            if (!strcmp(a, "--clock-start-ms")) {
                o.clock_start_ms = t;
                have_start = true;
            } else if (!(o.genesis_time_ms = t)) {
                fprintf(stderr, "gridnode testnet: --genesis-time-ms must be above 0\n");
                return 2;
            }
        } else if (!strcmp(a, "--clock-accel")) {
            uint64_t x;
            if (!parse_u64(v, 1, NODE_CLOCK_ACCEL_MAX, &x)) {
                fprintf(stderr,
                        "gridnode testnet: --clock-accel takes 1 to %u (times wall time), "
                        "not %s\n",
                        NODE_CLOCK_ACCEL_MAX, v);
                return 2;
            }
            o.clock_accel = (uint32_t)x;
        } else if (!strcmp(a, "--mqtt")) {
            if (!node_parse_addr(v, o.mqtt_host, &o.mqtt_port) || !o.mqtt_port) {
                fprintf(stderr, "gridnode testnet: --mqtt takes the broker's HOST:PORT, not %s\n",
                        v);
                return 2;
            }
        } else {
            fprintf(stderr, "gridnode testnet: unknown option or value %s %s (see --help)\n", a, v);
            return 2;
        }
    }
    if (o.clock_accel > 1 && !have_start) {
        fprintf(stderr,
                "gridnode testnet: --clock-accel %u needs --clock-start-ms T (ms since "
                "1970 from which block time runs faster; usually --genesis-time-ms too)\n",
                o.clock_accel);
        return 2;
    }
    if (have_start && o.clock_accel <= 1) {
        fprintf(stderr, "gridnode testnet: --clock-start-ms is for --clock-accel A (A > 1)\n");
        return 2;
    }
    if (!o.dir || o.validators < 1 || o.validators > NODE_VALIDATORS_MAX || o.observers > 32 ||
        o.load_accounts > 50000 || o.base_port < 1024) {
        fprintf(stderr,
                "gridnode testnet: needs --dir D and --validators 1..%u (observers <= 32, load "
                "accounts "
                "<= 50000, base port >= 1024)\n",
                NODE_VALIDATORS_MAX);
        return 2;
    }
    if (o.engine == CONS_ENGINE_PBFT && o.validators < 4) {
        fprintf(stderr, "gridnode testnet: pbft needs at least 4 validators (n = 3f + 1)\n");
        return 2;
    }
    if (!*o.chain_id || strlen(o.chain_id) > CHAIN_CHAIN_ID_MAX_BYTES) {
        fprintf(stderr, "gridnode testnet: --chain-id must be 1 to %u bytes\n",
                CHAIN_CHAIN_ID_MAX_BYTES);
        return 2;
    }
    if (write_network(&o))
        return 1;
    printf("testnet: %u validators (%s)%s in %s; start each with: gridnode --config "
           "%s/node<i>/config.json\n",
           o.validators, o.engine == CONS_ENGINE_RAFT ? "raft" : "pbft",
           o.observers ? " and observers" : "", o.dir, o.dir);
    return 0;
}

/* init: one node as the only validator of its own network. */
static int init_dir(const char *dir, const char *chain_id, enum cons_engine engine, const char *p2p,
                    const char *rpc, const char *shadow /* NULL: no shadow-centre API */)
{
    char p[NODE_PATH_MAX];
    struct node_config c;
    node_config_defaults(&c);
    if (!node_parse_addr(p2p, c.p2p_host, &c.p2p_port) ||
        !node_parse_addr(rpc, c.rpc_host, &c.rpc_port) ||
        (shadow && !node_parse_addr(shadow, c.shadow_host, &c.shadow_port))) {
        fprintf(stderr, "gridnode init: --p2p and --rpc take host:port\n");
        return 2;
    }
    if (shadow) /* the node signs Mint and PayoutConfirm with the genesis shadow-centre key */
        snprintf(c.shadow_key_path, sizeof c.shadow_key_path, "shadow.key");
    if (engine == CONS_ENGINE_PBFT) {
        fprintf(stderr, "gridnode init: a one-validator network runs raft; use testnet for pbft\n");
        return 2;
    }
    snprintf(p, sizeof p, "%s/config.json", dir);
    if (access(p, F_OK) == 0) {
        fprintf(stderr, "gridnode init: %s exists; refusing to overwrite\n", p);
        return 1;
    }
    struct net_opts o = {
        .dir = dir, .chain_id = chain_id, .engine = engine, .validators = 1, .base_port = 26600};
    /* write_network puts the node in dir/node0; init keeps it flat */
    if (write_network(&o))
        return 1;
    char from[NODE_PATH_MAX + 16], to[NODE_PATH_MAX];
    snprintf(from, sizeof from, "%s/node0/node.key", dir);
    snprintf(to, sizeof to, "%s/node.key", dir);
    if (rename(from, to) != 0) {
        fprintf(stderr, "gridnode init: cannot move %s: %s\n", from, strerror(errno));
        return 1;
    }
    snprintf(from, sizeof from, "%s/node0/config.json", dir);
    unlink(from);
    snprintf(from, sizeof from, "%s/node0", dir);
    rmdir(from);
    snprintf(c.genesis_path, sizeof c.genesis_path, "genesis.json");
    snprintf(c.key_path, sizeof c.key_path, "node.key");
    snprintf(c.data_dir, sizeof c.data_dir, "data");
    /* the genesis names this node's address */
    struct node_genesis g;
    char err[NODE_ERRMSG_BYTES], gp[NODE_PATH_MAX];
    snprintf(gp, sizeof gp, "%s/genesis.json", dir);
    if (node_genesis_load(gp, &g, err, sizeof err)) {
        fprintf(stderr, "gridnode init: %s\n", err);
        return 1;
    }
    snprintf(g.validators[0].host, sizeof g.validators[0].host, "%s", c.p2p_host);
    g.validators[0].port = c.p2p_port;
    int rc = node_genesis_write(gp, &g);
    node_genesis_deinit(&g);
    if (rc || node_config_write(p, &c))
        return 1;
    printf("init: node key, genesis and config in %s; run: gridnode --config %s\n", dir, p);
    return 0;
}

static int cmd_init(int argc, char **argv)
{
    const char *dir = "gridnode", *chain_id = "gridledger-local", *p2p = "127.0.0.1:26656",
               *rpc = "127.0.0.1:26657";
    enum cons_engine engine = CONS_ENGINE_RAFT;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "gridnode init: %s needs a value (see --help)\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--dir"))
            dir = v;
        else if (!strcmp(a, "--chain-id"))
            chain_id = v;
        else if (!strcmp(a, "--p2p"))
            p2p = v;
        else if (!strcmp(a, "--rpc"))
            rpc = v;
        else if (!strcmp(a, "--engine") && (!strcmp(v, "raft") || !strcmp(v, "pbft")))
            engine = !strcmp(v, "raft") ? CONS_ENGINE_RAFT : CONS_ENGINE_PBFT;
        else {
            fprintf(stderr, "gridnode init: unknown option or value %s %s (see --help)\n", a, v);
            return 2;
        }
    }
    if (!*chain_id || strlen(chain_id) > CHAIN_CHAIN_ID_MAX_BYTES) {
        fprintf(stderr, "gridnode init: --chain-id must be 1 to %u bytes\n",
                CHAIN_CHAIN_ID_MAX_BYTES);
        return 2;
    }
    return init_dir(dir, chain_id, engine, p2p, rpc, NULL);
}

int main(int argc, char **argv)
{
    if (chain_crypto_init()) {
        fprintf(stderr, "gridnode: libsodium does not initialise\n");
        return 1;
    }
    if (argc >= 2 && !strcmp(argv[1], "init"))
        return cmd_init(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "testnet"))
        return cmd_testnet(argc, argv);
    const char *config = NULL, *dev_dir = NULL;
    bool dev = false;
    struct node_run_opts ro = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--config") && v) {
            config = v;
            i++;
        } else if (!strcmp(a, "--dev")) {
            dev = true;
        } else if (!strcmp(a, "--dir") && v) {
            dev_dir = v;
            i++;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            ro.verbose++;
        } else if (!strcmp(a, "--byzantine") && v && !strcmp(v, "garbage")) {
            ro.byzantine = NODE_BYZ_GARBAGE;
            i++;
        } else if (!strcmp(a, "--byzantine") && v && !strcmp(v, "equivocate")) {
            ro.byzantine = NODE_BYZ_EQUIVOCATE;
            i++;
        } else {
            fprintf(stderr, "gridnode: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    char path[NODE_PATH_MAX];
    if (dev) {
        if (config) {
            fprintf(stderr, "gridnode: --dev and --config exclude each other\n");
            return 2;
        }
        if (!dev_dir)
            dev_dir = "gridnode-dev";
        snprintf(path, sizeof path, "%s/config.json", dev_dir);
        if (access(path, F_OK) != 0) {
            int rc = init_dir(dev_dir, "gridledger-dev", CONS_ENGINE_RAFT, "127.0.0.1:0",
                              "127.0.0.1:26657", DEV_SHADOW_ADDR);
            if (rc)
                return rc;
        }
        config = path;
    }
    if (!config) {
        usage(stderr);
        return 2;
    }
    struct node_config cfg;
    char err[NODE_ERRMSG_BYTES];
    if (node_config_load(config, &cfg, err, sizeof err)) {
        fprintf(stderr, "gridnode: %s\n", err);
        return 1;
    }
    if (dev && !cfg.shadow_host[0]) {
        /* a dev directory made before --dev served the shadow-centre API */
        char key[NODE_PATH_MAX + 16];
        snprintf(key, sizeof key, "%s/shadow.key", dev_dir);
        if (access(key, F_OK) == 0 && strlen(key) < sizeof cfg.shadow_key_path &&
            node_parse_addr(DEV_SHADOW_ADDR, cfg.shadow_host, &cfg.shadow_port))
            memcpy(cfg.shadow_key_path, key, strlen(key) + 1);
    }
    return node_run(&cfg, &ro);
}
