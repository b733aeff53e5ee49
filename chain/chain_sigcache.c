/* chain_sigcache.c -- bounded set of verified transaction hashes. */
#include "chain_sigcache.h"

#include <stdlib.h>
#include <string.h>

static const uint8_t zero[CHAIN_HASH_BYTES];

int chain_sigcache_init(struct chain_sigcache *sc, size_t capacity)
{
    memset(sc, 0, sizeof *sc);
    size_t slots = 64;
    while (slots < 2 * capacity) /* the young generation alone holds capacity at load 1/2 */
        slots <<= 1;
    for (int g = 0; g < 2; g++) {
        sc->gen[g] = calloc(slots, CHAIN_HASH_BYTES);
        if (!sc->gen[g]) {
            chain_sigcache_deinit(sc);
            return CHAIN_ERR_NOMEM;
        }
    }
    sc->slots = slots;
    return CHAIN_ERR_OK;
}

void chain_sigcache_deinit(struct chain_sigcache *sc)
{
    if (!sc)
        return;
    free(sc->gen[0]);
    free(sc->gen[1]);
    memset(sc, 0, sizeof *sc);
}

static size_t start(const struct chain_sigcache *sc, const uint8_t *h)
{
    uint64_t x;
    memcpy(&x, h, sizeof x);
    return (size_t)x & (sc->slots - 1);
}

static bool gen_has(const struct chain_sigcache *sc, unsigned g, const uint8_t *h)
{
    for (size_t s = start(sc, h);; s = (s + 1) & (sc->slots - 1)) {
        if (memcmp(sc->gen[g][s], h, CHAIN_HASH_BYTES) == 0)
            return true;
        if (memcmp(sc->gen[g][s], zero, CHAIN_HASH_BYTES) == 0)
            return false;
    }
}

bool chain_sigcache_has(const struct chain_sigcache *sc, const uint8_t hash[static CHAIN_HASH_BYTES])
{
    if (memcmp(hash, zero, CHAIN_HASH_BYTES) == 0)
        return false;
    return gen_has(sc, 0, hash) || gen_has(sc, 1, hash);
}

void chain_sigcache_add(struct chain_sigcache *sc, const uint8_t hash[static CHAIN_HASH_BYTES])
{
    if (memcmp(hash, zero, CHAIN_HASH_BYTES) == 0 || chain_sigcache_has(sc, hash))
        return;
    if (sc->count[sc->young] >= sc->slots / 2) {
        unsigned old = sc->young ^ 1u;
        memset(sc->gen[old], 0, sc->slots * CHAIN_HASH_BYTES);
        sc->count[old] = 0;
        sc->young = old;
    }
    unsigned g = sc->young;
    size_t s = start(sc, hash);
    while (memcmp(sc->gen[g][s], zero, CHAIN_HASH_BYTES) != 0)
        s = (s + 1) & (sc->slots - 1);
    memcpy(sc->gen[g][s], hash, CHAIN_HASH_BYTES);
    sc->count[g]++;
}
