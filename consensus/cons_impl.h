/* cons_impl.h -- what an engine implements, and helpers engines share.
 * Not for users of consensus/: they include cons.h only. */
#ifndef CONS_IMPL_H
#define CONS_IMPL_H

#include <assert.h>
#include <string.h>

#include "cons.h"

struct cons_ops {
    void (*close)(struct cons *c);
    void (*tick)(struct cons *c, struct cons_ready *out);
    int (*step)(struct cons *c, uint32_t from, const uint8_t *msg, size_t len, struct cons_ready *out);
    int (*propose)(struct cons *c, const struct cons_block *b, struct cons_ready *out);
    int (*executed)(struct cons *c, uint64_t height, const uint8_t hash[CONS_HASH_BYTES], bool valid,
                    struct cons_ready *out);
    void (*status)(const struct cons *c, struct cons_status *st);
    size_t (*evidence)(const struct cons *c, struct cons_evidence *out, size_t max);
    int (*equivocate)(struct cons *c, const uint8_t *msg, size_t len, uint64_t salt, uint8_t *out,
                      size_t *out_len);
};

/* Buffers a ready points into: one growable arena per engine, reset by
 * cons_advance().  Pointers handed out stay valid until then (chunks never
 * move). */
struct cons_arena_chunk;
struct cons_arena {
    struct cons_arena_chunk *head;
};

/* Every engine struct starts with this. */
struct cons {
    const struct cons_ops *ops;
    struct cons_config cfg;
    uint64_t rng;               /* splitmix64 state, seeded from cfg.seed and cfg.self */
    struct cons_arena arena;
    /* ready arrays, capacity-managed by the helpers below */
    size_t cap_msgs, cap_entries, cap_execute, cap_committed;
};

/* Seeded PRNG (splitmix64): deterministic, in the struct. */
uint64_t cons_rand(struct cons *c);
uint64_t cons_rand_below(struct cons *c, uint64_t n);

/* Arena allocation valid until the next cons_advance().  NULL on OOM. */
void *cons_alloc(struct cons *c, size_t n);

/* Append to a ready (copies data into the arena).  Return CONS_ERR_NOMEM. */
int cons_ready_msg(struct cons *c, struct cons_ready *out, uint32_t to, const uint8_t *data, size_t len);
int cons_ready_entry(struct cons *c, struct cons_ready *out, const struct cons_entry *e);
int cons_ready_execute(struct cons *c, struct cons_ready *out, const struct cons_block *b);
int cons_ready_commit(struct cons *c, struct cons_ready *out, const struct cons_block *b,
                      const struct cons_cert *cert);
void cons_ready_hard_state(struct cons_ready *out, const uint8_t *bytes, size_t len);

/* Base init/deinit used by engines' open/close. */
void cons_base_init(struct cons *c, const struct cons_ops *ops, const struct cons_config *cfg);
void cons_base_deinit(struct cons *c);

/* Sign / verify a vote on (height, hash) with the injected crypto. */
void cons_sign_vote(struct cons *c, uint64_t height, const uint8_t hash[CONS_HASH_BYTES],
                    uint8_t sig[CONS_SIG_BYTES]);
bool cons_verify_vote(const struct cons *c, uint32_t signer, uint64_t height,
                      const uint8_t hash[CONS_HASH_BYTES], const uint8_t sig[CONS_SIG_BYTES]);

/* Engines. */
int cons_raft_open(struct cons **out, const struct cons_config *cfg, const struct cons_disk *disk);
int cons_pbft_open(struct cons **out, const struct cons_config *cfg, const struct cons_disk *disk);

/* Little-endian-free byte helpers for codecs (big-endian on the wire). */
static inline void cons_put64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}
static inline uint64_t cons_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}
static inline void cons_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline uint32_t cons_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#endif
