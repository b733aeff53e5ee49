/* fuzz_pbft_msg.c -- the PBFT message decoder and handlers on arbitrary bytes.
 *
 * Each input is one message from validator 1 to a fresh 4-node engine
 * (node 0, view 0, nothing committed), with the same toy crypto as
 * tests/unit/consensus/test_pbft.c, so the corpus (messages captured from
 * that fixture with PBFT_CORPUS=dir) carries valid signatures and mutations
 * reach past the signature check.  Properties: cons_step returns OK or a
 * named CONS_ERR_*, never crashes, and what it asks for (messages, entries,
 * hard state) is well formed; the engine still answers a tick. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cons.h"

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_pbft_msg: property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t secrets[CONS_NODES_MAX][32];
static uint8_t keys[CONS_NODES_MAX][CONS_KEY_BYTES];

static void mix(const uint8_t *secret, const uint8_t *m, size_t n, uint8_t out[CONS_SIG_BYTES])
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < 32; i++)
        h = (h ^ secret[i]) * 1099511628211ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ m[i]) * 1099511628211ULL;
    for (size_t i = 0; i < CONS_SIG_BYTES; i++) {
        h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
        out[i] = (uint8_t)(h >> 56);
    }
}

static void toy_sign(void *ctx, const uint8_t *m, size_t n, uint8_t sig[CONS_SIG_BYTES])
{
    mix(secrets[(uintptr_t)ctx], m, n, sig);
}

static bool toy_verify(void *ctx, const uint8_t key[CONS_KEY_BYTES], const uint8_t *m, size_t n,
                       const uint8_t sig[CONS_SIG_BYTES])
{
    (void)ctx;
    for (uint32_t i = 0; i < CONS_NODES_MAX; i++) {
        if (!memcmp(keys[i], key, CONS_KEY_BYTES)) {
            uint8_t want[CONS_SIG_BYTES];
            mix(secrets[i], m, n, want);
            return !memcmp(want, sig, CONS_SIG_BYTES);
        }
    }
    return false;
}

static bool toy_hash(void *ctx, const uint8_t *b, size_t n, uint8_t out[CONS_HASH_BYTES])
{
    static const uint8_t salt[32] = "toy-block-hash";
    uint8_t wide[CONS_SIG_BYTES];
    (void)ctx;
    if (n < 4 || memcmp(b, "BLK", 3))
        return false;
    mix(salt, b, n, wide);
    memcpy(out, wide, CONS_HASH_BYTES);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        for (uint32_t i = 0; i < CONS_NODES_MAX; i++) {
            memset(secrets[i], (int)(0x40 + i), 32);
            memset(keys[i], (int)(0x80 + i), CONS_KEY_BYTES);
        }
        init = true;
    }
    struct cons_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.engine = CONS_ENGINE_PBFT;
    cfg.self = 0;
    cfg.n = 4;
    memcpy(cfg.keys, keys, sizeof keys);
    cfg.seed = 1;
    cfg.round_ticks = 10;
    cfg.round_ticks_max = 80;
    cfg.checkpoint_interval = 4;
    cfg.crypto.ctx = (void *)(uintptr_t)0;
    cfg.crypto.sign = toy_sign;
    cfg.crypto.verify = toy_verify;
    cfg.crypto.block_hash = toy_hash;
    struct cons *c = NULL;
    CHECK(cons_open(&c, &cfg, NULL) == CONS_ERR_OK);
    struct cons_ready r;
    int rc = cons_step(c, 1, data, size, &r);
    CHECK(strcmp(cons_err_name(rc), "UNKNOWN") != 0);
    CHECK(rc <= 0);
    CHECK(r.hard_state_len <= CONS_HARD_STATE_MAX_BYTES);
    for (size_t i = 0; i < r.n_msgs; i++)
        CHECK(r.msgs[i].len <= CONS_MSG_MAX_BYTES && (r.msgs[i].to == CONS_BROADCAST || r.msgs[i].to < 4));
    for (size_t i = 0; i < r.n_committed; i++)
        CHECK(cons_cert_check(CONS_ENGINE_PBFT, 4, (const uint8_t(*)[CONS_KEY_BYTES])keys, &r.committed[i].cert,
                              toy_verify, NULL) == CONS_ERR_OK);
    if (rc != CONS_ERR_OK) /* a refused message changes nothing visible */
        CHECK(!r.hard_state_changed && r.n_entries == 0 && r.n_committed == 0 && r.n_execute == 0);
    cons_advance(c, &r);
    cons_tick(c, &r);
    cons_advance(c, &r);
    struct cons_status st;
    cons_status(c, &st);
    CHECK(st.engine == CONS_ENGINE_PBFT);
    cons_close(c);
    return 0;
}
