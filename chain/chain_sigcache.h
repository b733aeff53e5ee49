/* chain_sigcache.h -- transaction hashes whose signatures this node has verified.
 *
 * Signatures are checked once per node (DESIGN.md, Chain): at mempool
 * admission or block receipt, then remembered here by transaction hash so
 * that executing the block does not verify again.  Bounded: two generations
 * of capacity/2 entries each; when the young one fills, the old one is
 * dropped (a forgotten hash only costs one more verification). */
#ifndef CHAIN_SIGCACHE_H
#define CHAIN_SIGCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chain_err.h"
#include "chain_limits.h"

struct chain_sigcache {
    uint8_t (*gen[2])[CHAIN_HASH_BYTES]; /* open-addressing tables, all-zero = free */
    size_t count[2];
    size_t slots;                        /* per generation, power of two */
    unsigned young;
};

/* capacity: entries remembered at least (rounded up).  Errors: NOMEM. */
int chain_sigcache_init(struct chain_sigcache *sc, size_t capacity) CHAIN_MUST_USE;
void chain_sigcache_deinit(struct chain_sigcache *sc); /* accepts NULL */
void chain_sigcache_add(struct chain_sigcache *sc, const uint8_t hash[static CHAIN_HASH_BYTES]);
bool chain_sigcache_has(const struct chain_sigcache *sc, const uint8_t hash[static CHAIN_HASH_BYTES]);

#endif
