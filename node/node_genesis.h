/* node_genesis.h -- the files a node starts from: genesis.json, key files and
 * the node's config file (node/README.md documents both formats).
 *
 * Every parser here reads outside bytes (a file a person wrote): it checks
 * each field, refuses unknown ones, and explains a refusal in err (a sentence
 * naming the field).  None of them asserts on its input. */
#ifndef NODE_GENESIS_H
#define NODE_GENESIS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain_block.h"
#include "cons.h"
#include "node_err.h"

#define NODE_VALIDATORS_MAX       CONS_NODES_MAX
#define NODE_GENESIS_ACCOUNTS_MAX 100000u
#define NODE_FILE_MAX_BYTES       (16u << 20) /* genesis and config files */
#define NODE_HOST_MAX             63u         /* fits struct node_net_peer.host */
#define NODE_PATH_MAX             1024u
#define NODE_ERRMSG_BYTES         256u
#define NODE_CLOCK_ACCEL_MAX      100000u /* demo clock: at most this many times wall time */
#define NODE_SHADOW_KEYS_MAX      64u     /* shadow_allowed_keys */
#define NODE_MQTT_HOST_MAX        255u
#define NODE_MQTT_TOPIC_MAX       128u /* = RPC_MQTT_TOPIC_MAX (node_rpc.c checks) */

struct node_validator {
    uint8_t key[CHAIN_PK_BYTES];
    uint64_t power;
    char host[NODE_HOST_MAX + 1]; /* "" when the validator has no address */
    uint16_t port;
};

struct node_genesis {
    char chain_id[CHAIN_CHAIN_ID_MAX_BYTES + 1];
    enum cons_engine engine;
    uint64_t time_ms;
    struct node_validator validators[NODE_VALIDATORS_MAX];
    size_t nvalidators;
    struct chain_genesis_account *accounts; /* malloc'd */
    size_t naccounts;
};

/* Parse genesis JSON text.  Errors: BAD_GENESIS (err says why), NOMEM. */
int node_genesis_parse(const char *text, size_t len, struct node_genesis *g /* OUT */, char *err,
                       size_t errlen) NODE_MUST_USE;
int node_genesis_load(const char *path, struct node_genesis *g /* OUT */, char *err,
                      size_t errlen) NODE_MUST_USE;
/* Write genesis JSON (fixed key order).  Errors: IO, NOMEM. */
int node_genesis_write(const char *path, const struct node_genesis *g) NODE_MUST_USE;
void node_genesis_deinit(struct node_genesis *g); /* accepts a zeroed genesis */
/* The chain's view (borrows g; vals has room for NODE_VALIDATORS_MAX). */
void node_genesis_to_chain(const struct node_genesis *g, struct chain_genesis *out /* OUT */,
                           struct chain_validator *vals /* OUT */);
/* Index of key among the validators, or -1. */
int node_genesis_validator_index(const struct node_genesis *g,
                                 const uint8_t key[static CHAIN_PK_BYTES]);

/* Key files: 128 hex characters (the Ed25519 secret key, seed || pk) and a
 * newline, mode 0600.  write refuses to overwrite.  read refuses a file that
 * others can read, or whose public half does not match its seed.
 * Errors: IO, BAD_KEY. */
int node_key_write(const char *path, const uint8_t sk[static CHAIN_SK_BYTES]) NODE_MUST_USE;
int node_key_read(const char *path, uint8_t pk[static CHAIN_PK_BYTES],
                  uint8_t sk[static CHAIN_SK_BYTES], char *err, size_t errlen) NODE_MUST_USE;

struct node_config {
    char genesis_path[NODE_PATH_MAX]; /* resolved against the config file's directory */
    char key_path[NODE_PATH_MAX];
    char data_dir[NODE_PATH_MAX];
    char p2p_host[NODE_HOST_MAX + 1];
    uint16_t p2p_port;                /* 0: do not listen (an observer) */
    char rpc_host[NODE_HOST_MAX + 1]; /* "" : no RPC server */
    uint16_t rpc_port;                /* 0 with a host: any free port */
    uint32_t tick_ms;                 /* consensus tick */
    uint32_t heartbeat_ms;            /* an empty block at least this often; 0: never */
    uint32_t block_max_txs;
    uint32_t batch_ms; /* a small block waits up to this for more transactions */
    uint32_t verify_threads;
    uint32_t mempool_max_txs;
    uint64_t mempool_max_bytes;
    bool no_sync; /* LMDB without fsync: benchmarks only, never for real */
    /* Demo and test clock (never for a real network): the proposer's block
     * time is clock_start_ms + (now - clock_start_ms) * clock_accel once the
     * wall clock passes clock_start_ms (node_clock_ms).  1: the wall clock. */
    uint32_t clock_accel;
    uint64_t clock_start_ms; /* required when clock_accel > 1 */
    /* The shadow-centre API (rpc_shadow_open): "" : not served. */
    char shadow_host[NODE_HOST_MAX + 1];
    uint16_t shadow_port;
    char shadow_key_path[NODE_PATH_MAX]; /* "" : recharge and confirm_payout unavailable */
    uint8_t shadow_allowed[NODE_SHADOW_KEYS_MAX][CHAIN_PK_BYTES];
    size_t nshadow_allowed;
    /* Events to an MQTT broker as well (rpc_server_mqtt): "" : no broker. */
    char mqtt_host[NODE_MQTT_HOST_MAX + 1];
    uint16_t mqtt_port;                       /* default 1883 */
    char mqtt_topic[NODE_MQTT_TOPIC_MAX + 1]; /* "" : "gridledger/<chain id>" */
};

/* The proposer's block time for wall time wall_ms under c's demo clock:
 * wall_ms itself with clock_accel <= 1 or before clock_start_ms, else
 * clock_start_ms + (wall_ms - clock_start_ms) * clock_accel (saturating). */
uint64_t node_clock_ms(const struct node_config *c, uint64_t wall_ms);

/* Defaults for every optional field. */
void node_config_defaults(struct node_config *c /* OUT */);
/* Parse config JSON; relative paths resolve against base_dir.
 * Errors: BAD_CONFIG (err says why). */
int node_config_parse(const char *text, size_t len, const char *base_dir,
                      struct node_config *c /* OUT */, char *err, size_t errlen) NODE_MUST_USE;
int node_config_load(const char *path, struct node_config *c /* OUT */, char *err,
                     size_t errlen) NODE_MUST_USE;
/* Write a config file naming paths as given (relative ones stay relative).
 * Errors: IO, NOMEM. */
int node_config_write(const char *path, const struct node_config *c) NODE_MUST_USE;

/* "host:port" into its parts.  false on a malformed address. */
bool node_parse_addr(const char *s, char host[static NODE_HOST_MAX + 1], uint16_t *port /* OUT */);
/* Read a whole file (at most max bytes) into a malloc'd NUL-terminated buffer.
 * Errors: IO (err says why), NOMEM. */
int node_read_file(const char *path, size_t max, char **out /* OUT */, size_t *len /* OUT */,
                   char *err, size_t errlen) NODE_MUST_USE;
/* Lower-case hex into bytes: exactly 2n characters.  false otherwise. */
bool node_unhex(uint8_t *out, size_t n, const char *hex);

#endif
