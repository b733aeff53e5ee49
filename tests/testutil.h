/* testutil.h -- small helpers shared by tests, fuzz targets and benchmarks. */
#ifndef GL_TESTUTIL_H
#define GL_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64: a seeded, reproducible PRNG for tests (never in execution). */
struct tu_rng {
    uint64_t s;
};
static inline uint64_t tu_next(struct tu_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static inline uint64_t tu_below(struct tu_rng *r, uint64_t n)
{
    return n ? tu_next(r) % n : 0;
}
void tu_fill(struct tu_rng *r, uint8_t *buf, size_t n);

/* A fresh empty directory under $TMPDIR (or /tmp); returns a malloc'd path. */
char *tu_tmpdir(const char *prefix);
/* rm -rf path (only paths made by tu_tmpdir); frees nothing. */
void tu_rmdir(const char *path);

/* Monotonic clock in nanoseconds (benchmarks and tests only). */
uint64_t tu_now_ns(void);

#endif
