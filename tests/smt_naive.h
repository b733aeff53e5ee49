/* smt_naive.h -- a deliberately naive state tree, the reference the real one
 * (chain/chain_smt.c) is compared with (WireGuard's horrible_allowedips).
 *
 * The state is a plain unsorted array of (key_hash, value).  The root is the
 * definition in chain_proof.h read literally, over all 256 levels: a set of
 * keys with 0 members hashes to the empty hash, with 1 member to its leaf,
 * otherwise to the inner hash of its two halves split by the next path bit.
 * A proof is the same recursion along one key's path.  Quadratic and slow on
 * purpose; only for tests.  Header-only (static inline) so each test
 * executable compiles its own copy. */
#ifndef GL_SMT_NAIVE_H
#define GL_SMT_NAIVE_H

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "chain_proof.h"

#define SMT_NAIVE_VALUE_MAX 48u

struct smt_naive_entry {
    uint8_t key[CHAIN_HASH_BYTES];
    uint8_t value[SMT_NAIVE_VALUE_MAX];
    size_t value_len;
};

struct smt_naive {
    struct smt_naive_entry *e;
    size_t n, cap;
};

static inline struct smt_naive_entry *smt_naive_find(const struct smt_naive *t,
                                                     const uint8_t key[CHAIN_HASH_BYTES])
{
    for (size_t i = 0; i < t->n; i++)
        if (memcmp(t->e[i].key, key, CHAIN_HASH_BYTES) == 0)
            return &t->e[i];
    return NULL;
}

static inline void smt_naive_set(struct smt_naive *t, const uint8_t key[CHAIN_HASH_BYTES],
                                 const uint8_t *value, size_t len)
{
    assert(len <= SMT_NAIVE_VALUE_MAX);
    struct smt_naive_entry *e = smt_naive_find(t, key);
    if (e == NULL) {
        if (t->n == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 64;
            t->e = realloc(t->e, t->cap * sizeof *t->e);
            assert(t->e != NULL);
        }
        e = &t->e[t->n++];
        memcpy(e->key, key, CHAIN_HASH_BYTES);
    }
    if (len)
        memcpy(e->value, value, len);
    e->value_len = len;
}

static inline void smt_naive_del(struct smt_naive *t, const uint8_t key[CHAIN_HASH_BYTES])
{
    struct smt_naive_entry *e = smt_naive_find(t, key);
    if (e != NULL)
        *e = t->e[--t->n];
}

static inline void smt_naive_copy(struct smt_naive *dst, const struct smt_naive *src)
{
    dst->n = dst->cap = src->n;
    dst->e = malloc((src->n ? src->n : 1) * sizeof *dst->e);
    assert(dst->e != NULL);
    if (src->n)
        memcpy(dst->e, src->e, src->n * sizeof *src->e);
}

static inline void smt_naive_free(struct smt_naive *t)
{
    free(t->e);
    t->e = NULL;
    t->n = t->cap = 0;
}

static inline void smt_naive_entry_leaf(const struct smt_naive_entry *e,
                                        uint8_t out[CHAIN_HASH_BYTES])
{
    uint8_t vh[CHAIN_HASH_BYTES];
    chain_value_hash(vh, e->value, e->value_len);
    chain_leaf_hash(out, e->key, vh);
}

/* Hash of the subtree at depth holding exactly the n entries of set. */
static inline void smt_naive_hash(const struct smt_naive_entry *const *set, size_t n,
                                  unsigned depth, uint8_t out[CHAIN_HASH_BYTES])
{
    if (n == 0) {
        memcpy(out, chain_smt_empty, CHAIN_HASH_BYTES);
        return;
    }
    if (n == 1) {
        smt_naive_entry_leaf(set[0], out);
        return;
    }
    assert(depth < CHAIN_SMT_DEPTH);
    const struct smt_naive_entry **half[2];
    size_t nh[2] = {0, 0};
    half[0] = malloc(n * sizeof *half[0]);
    half[1] = malloc(n * sizeof *half[1]);
    assert(half[0] != NULL && half[1] != NULL);
    for (size_t i = 0; i < n; i++) {
        unsigned b = chain_path_bit(set[i]->key, depth);
        half[b][nh[b]++] = set[i];
    }
    uint8_t l[CHAIN_HASH_BYTES], r[CHAIN_HASH_BYTES];
    smt_naive_hash(half[0], nh[0], depth + 1, l);
    smt_naive_hash(half[1], nh[1], depth + 1, r);
    free(half[0]);
    free(half[1]);
    chain_inner_hash(out, l, r);
}

static inline void smt_naive_root(const struct smt_naive *t, uint8_t out[CHAIN_HASH_BYTES])
{
    const struct smt_naive_entry **all = malloc((t->n ? t->n : 1) * sizeof *all);
    assert(all != NULL);
    for (size_t i = 0; i < t->n; i++)
        all[i] = &t->e[i];
    smt_naive_hash(all, t->n, 0, out);
    free(all);
}

/* The canonical proof for key: follow the key's path while the subtree on it
 * holds two or more entries; each level's sibling is the naive hash of the
 * other half. */
static inline void smt_naive_prove(const struct smt_naive *t, const uint8_t key[CHAIN_HASH_BYTES],
                                   struct chain_proof *p)
{
    memset(p, 0, sizeof *p);
    size_t n = t->n;
    const struct smt_naive_entry **set = malloc((n ? n : 1) * sizeof *set);
    const struct smt_naive_entry **mine = malloc((n ? n : 1) * sizeof *mine);
    const struct smt_naive_entry **other = malloc((n ? n : 1) * sizeof *other);
    assert(set != NULL && mine != NULL && other != NULL);
    for (size_t i = 0; i < n; i++)
        set[i] = &t->e[i];
    unsigned depth = 0;
    for (;;) {
        if (n == 0) {
            p->terminal = CHAIN_PROOF_TERM_EMPTY;
            break;
        }
        if (n == 1) {
            if (memcmp(set[0]->key, key, CHAIN_HASH_BYTES) == 0) {
                p->terminal = CHAIN_PROOF_TERM_SELF;
            } else {
                p->terminal = CHAIN_PROOF_TERM_OTHER;
                memcpy(p->other_key_hash, set[0]->key, CHAIN_HASH_BYTES);
                chain_value_hash(p->other_value_hash, set[0]->value, set[0]->value_len);
            }
            break;
        }
        assert(depth < CHAIN_SMT_DEPTH);
        size_t nm = 0, no = 0;
        unsigned kb = chain_path_bit(key, depth);
        for (size_t i = 0; i < n; i++) {
            if (chain_path_bit(set[i]->key, depth) == kb)
                mine[nm++] = set[i];
            else
                other[no++] = set[i];
        }
        uint8_t sib[CHAIN_HASH_BYTES];
        smt_naive_hash(other, no, depth + 1, sib);
        if (no > 0) {
            p->present[depth / 8] = (uint8_t)(p->present[depth / 8] | (1u << (depth % 8)));
            memcpy(p->siblings[depth], sib, CHAIN_HASH_BYTES);
        }
        memcpy(set, mine, nm * sizeof *set);
        n = nm;
        depth++;
    }
    p->depth = depth;
    free(set);
    free(mine);
    free(other);
}

#endif
