/* driver.c -- a replay-and-mutate driver for fuzz targets, so that every
 * decoder's fuzz target runs in `make test` with gcc and the sanitizers,
 * without libFuzzer.  It feeds LLVMFuzzerTestOneInput each file of the given
 * corpus directories, then --runs seeded mutations of them (bit flips, byte
 * sets, truncations, insertions, splices).  `make fuzz` links the same targets
 * with libFuzzer for coverage-guided runs.
 *
 *   fuzz_x [--runs N] [--seed S] DIR...   */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT 65536u
#define MAX_SEEDS 4096u

static uint8_t *seeds[MAX_SEEDS];
static size_t seed_len[MAX_SEEDS];
static size_t nseeds;

static void load_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "fuzz: corpus %s: cannot open (continuing without it)\n", path);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) && nseeds < MAX_SEEDS) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        FILE *f = fopen(p, "rb");
        if (!f)
            continue;
        uint8_t *buf = malloc(MAX_INPUT);
        size_t n = fread(buf, 1, MAX_INPUT, f);
        fclose(f);
        seeds[nseeds] = buf;
        seed_len[nseeds] = n;
        nseeds++;
    }
    closedir(d);
}

int main(int argc, char **argv)
{
    unsigned long runs = 10000, seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            seed = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: %s [--runs N] [--seed S] CORPUS_DIR...\n", argv[0]);
            return 0;
        } else
            load_dir(argv[i]);
    }
    for (size_t i = 0; i < nseeds; i++)
        LLVMFuzzerTestOneInput(seeds[i], seed_len[i]);
    struct tu_rng r = {seed};
    uint8_t *buf = malloc(MAX_INPUT);
    for (unsigned long k = 0; k < runs; k++) {
        size_t n = 0;
        if (nseeds) {
            size_t s = (size_t)tu_below(&r, nseeds);
            n = seed_len[s];
            memcpy(buf, seeds[s], n);
        }
        unsigned muts = 1 + (unsigned)tu_below(&r, 4);
        for (unsigned m = 0; m < muts; m++) {
            switch (tu_below(&r, 6)) {
            case 0: if (n) buf[tu_below(&r, n)] ^= (uint8_t)(1u << tu_below(&r, 8)); break;
            case 1: if (n) buf[tu_below(&r, n)] = (uint8_t)tu_next(&r); break;
            case 2: if (n) n = (size_t)tu_below(&r, n); break;
            case 3:
                if (n + 8 < MAX_INPUT) {
                    size_t at = (size_t)tu_below(&r, n + 1), k2 = 1 + (size_t)tu_below(&r, 8);
                    memmove(buf + at + k2, buf + at, n - at);
                    tu_fill(&r, buf + at, k2);
                    n += k2;
                }
                break;
            case 4:
                if (nseeds) {
                    size_t s = (size_t)tu_below(&r, nseeds), at = (size_t)tu_below(&r, n + 1);
                    size_t take = seed_len[s] < MAX_INPUT - at ? seed_len[s] : MAX_INPUT - at;
                    size_t from = take ? (size_t)tu_below(&r, take) : 0;
                    memcpy(buf + at, seeds[s] + from, take - from);
                    n = at + take - from;
                }
                break;
            default:
                n = (size_t)tu_below(&r, 256);
                tu_fill(&r, buf, n);
                break;
            }
        }
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("fuzz: %zu corpus inputs and %lu mutations ran without a crash\n", nseeds, runs);
    free(buf);
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i]);
    return 0;
}
