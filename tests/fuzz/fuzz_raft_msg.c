/* fuzz_raft_msg.c -- the Raft engine's message decoder and handlers on
 * arbitrary bytes: a fresh 3-node engine (node 0) steps the input as a
 * message from node 1.
 *
 * Properties, beyond "no crash, no leak, no unbounded allocation":
 *   - the result is OK or a named CONS_ERR_* (cons_err_name != "UNKNOWN");
 *   - a refused message changes nothing: no message, entry, commit or hard
 *     state in its ready;
 *   - the engine stays usable: a tick and its status still work.
 * The corpus holds valid messages of every type captured from a 3-node
 * cluster with the same toy keys, so mutations reach past the header. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cons.h"

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_raft_msg: property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

#define NODES 3u

/* The same toy crypto as tests/unit/consensus/test_raft.c. */
static uint8_t secrets[NODES][32];
static uint8_t keys[CONS_NODES_MAX][CONS_KEY_BYTES];

static void toy_mac(uint32_t who, const uint8_t *m, size_t n, uint8_t sig[CONS_SIG_BYTES])
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < 32; i++)
        h = (h ^ secrets[who][i]) * 1099511628211ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ m[i]) * 1099511628211ULL;
    for (size_t i = 0; i < CONS_SIG_BYTES; i++) {
        h ^= h >> 29;
        h *= 0xbf58476d1ce4e5b9ULL;
        h ^= h >> 32;
        sig[i] = (uint8_t)(h >> 56);
    }
}

static void toy_sign(void *ctx, const uint8_t *m, size_t n, uint8_t sig[CONS_SIG_BYTES])
{
    toy_mac((uint32_t)(uintptr_t)ctx, m, n, sig);
}

static bool toy_verify(void *ctx, const uint8_t key[CONS_KEY_BYTES], const uint8_t *m, size_t n,
                       const uint8_t sig[CONS_SIG_BYTES])
{
    (void)ctx;
    for (uint32_t i = 0; i < NODES; i++) {
        if (memcmp(keys[i], key, CONS_KEY_BYTES) == 0) {
            uint8_t want[CONS_SIG_BYTES];
            toy_mac(i, m, n, want);
            return memcmp(want, sig, CONS_SIG_BYTES) == 0;
        }
    }
    return false;
}

static bool toy_block_hash(void *ctx, const uint8_t *b, size_t n, uint8_t out[CONS_HASH_BYTES])
{
    (void)ctx;
    if (n < 12 || memcmp(b, "BLK!", 4) != 0)
        return false;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    for (size_t i = 0; i < CONS_HASH_BYTES; i++) {
        h ^= h >> 31;
        h *= 0x94d049bb133111ebULL;
        out[i] = (uint8_t)(h >> 56);
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cons_config cfg;
    memset(&cfg, 0, sizeof cfg);
    for (uint32_t i = 0; i < NODES; i++)
        for (uint32_t k = 0; k < 32; k++) {
            secrets[i][k] = (uint8_t)(i * 37 + k * 11 + 1);
            keys[i][k] = (uint8_t)(i * 53 + k + 7);
        }
    cfg.engine = CONS_ENGINE_RAFT;
    cfg.self = 0;
    cfg.n = NODES;
    memcpy(cfg.keys, keys, sizeof keys);
    cfg.seed = 1;
    cfg.election_ticks = 10;
    cfg.heartbeat_ticks = 2;
    cfg.crypto.ctx = (void *)(uintptr_t)0;
    cfg.crypto.sign = toy_sign;
    cfg.crypto.verify = toy_verify;
    cfg.crypto.block_hash = toy_block_hash;
    struct cons *c;
    CHECK(cons_open(&c, &cfg, NULL) == CONS_ERR_OK);
    struct cons_ready r;
    int rc = cons_step(c, 1, data, size, &r);
    CHECK(rc <= 0);
    CHECK(strcmp(cons_err_name(rc), "UNKNOWN") != 0);
    if (rc != CONS_ERR_OK && rc != CONS_ERR_MSG_STALE)
        CHECK(!r.hard_state_changed && r.n_entries == 0 && r.n_committed == 0 && r.n_msgs == 0);
    CHECK(r.n_execute == 0);
    for (size_t i = 0; i < r.n_msgs; i++)
        CHECK(r.msgs[i].len > 0 && r.msgs[i].len <= CONS_MSG_MAX_BYTES);
    cons_advance(c, &r);
    cons_tick(c, &r);
    cons_advance(c, &r);
    struct cons_status st;
    cons_status(c, &st);
    CHECK(st.engine == CONS_ENGINE_RAFT && !st.is_leader);
    cons_close(c);
    return 0;
}
