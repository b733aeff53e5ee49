/* bench_chain.c -- block execution throughput beside the machine's Ed25519 verify rate.
 *
 *   bench_chain [--accounts N] [--txs-per-block N] [--blocks N] [--dir D]
 *
 * Reference: Ed25519 verifications per second on one core (the limit node
 * throughput is measured against).  Measured: a proposer building blocks of
 * pre-signed transfers whose signatures were already checked (sigcache
 * filled, as after mempool admission), a second node executing the same
 * block bytes, and commit (with fsync).  Execution includes decoding, the
 * handlers, the state-tree update and the state root.
 *
 * Beside wall-clock time, each execution figure is also given in CPU time of
 * this thread: on a shared machine other processes stretch the wall clock,
 * and the CPU figure says what one core does (both are medians over the
 * blocks; min beside them). */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "chain_block.h"
#include "chain_crypto.h"
#include "testutil.h"

static uint64_t cpu_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static double verify_per_sec(void)
{
    enum { N = 4000 };
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES], msg[160], seed[32] = {1};
    static uint8_t sig[N][CHAIN_SIG_BYTES];
    chain_keypair_from_seed(pk, sk, seed);
    for (int i = 0; i < N; i++) {
        memset(msg, i, sizeof msg);
        chain_sign(sig[i], CHAIN_TAG_TXSIG, msg, sizeof msg, sk);
    }
    uint64_t t0 = tu_now_ns();
    int bad = 0;
    for (int i = 0; i < N; i++) {
        memset(msg, i, sizeof msg);
        bad += chain_verify(sig[i], CHAIN_TAG_TXSIG, msg, sizeof msg, pk) != 0;
    }
    uint64_t dt = tu_now_ns() - t0;
    if (bad) {
        fprintf(stderr, "bench: %d signatures failed to verify\n", bad);
        exit(1);
    }
    return N / ((double)dt / 1e9);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t naccounts = 1000, per_block = 10000, nblocks = 5;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--accounts") && i + 1 < argc)
            naccounts = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--txs-per-block") && i + 1 < argc)
            per_block = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--blocks") && i + 1 < argc)
            nblocks = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else {
            printf("usage: %s [--accounts N] [--txs-per-block N] [--blocks N] [--dir D]\n", argv[0]);
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }
    if (naccounts < 2 || per_block == 0 || per_block > CHAIN_BLOCK_MAX_TXS || nblocks == 0) {
        fprintf(stderr, "bench: need --accounts >= 2 and 1 <= --txs-per-block <= %u\n", CHAIN_BLOCK_MAX_TXS);
        return 2;
    }
    if (chain_crypto_init())
        return 1;
    double vps = verify_per_sec();
    printf("reference  ed25519 verify, 1 core      %10.0f verify/s\n", vps);

    /* keys and genesis */
    uint8_t(*pk)[CHAIN_PK_BYTES] = malloc(naccounts * CHAIN_PK_BYTES);
    uint8_t(*sk)[CHAIN_SK_BYTES] = malloc(naccounts * CHAIN_SK_BYTES);
    uint64_t *nonce = calloc(naccounts, sizeof *nonce);
    struct chain_genesis_account *ga = calloc(naccounts, sizeof *ga);
    for (size_t i = 0; i < naccounts; i++) {
        uint8_t seed[32] = {0};
        memcpy(seed, &i, sizeof i);
        chain_keypair_from_seed(pk[i], sk[i], seed);
        memcpy(ga[i].pk, pk[i], CHAIN_PK_BYTES);
        ga[i].balance = 1000000 * CHAIN_MICRO_PER_TOKEN;
    }
    ga[0].roles = CHAIN_ROLE_VALIDATOR;
    struct chain_validator v = {.power = 1};
    memcpy(v.key, pk[0], CHAIN_PK_BYTES);
    struct chain_genesis g = {.chain_id = "bench", .time_ms = 1, .accounts = ga, .naccounts = naccounts,
                              .validators = &v, .nvalidators = 1};
    char *base = dir ? strdup(dir) : tu_tmpdir("bench-chain");
    char da[4096], db[4096];
    snprintf(da, sizeof da, "%s/proposer", base);
    snprintf(db, sizeof db, "%s/validator", base);
    struct chain a, b;
    struct chain_store_opts o = {.map_size = (size_t)16 << 30};
    struct chain_sigcache sca, scb;
    if (chain_open(&a, da, &o) || chain_open(&b, db, &o) || chain_genesis(&a, &g) || chain_genesis(&b, &g) ||
        chain_sigcache_init(&sca, per_block * 2) || chain_sigcache_init(&scb, per_block * 2)) {
        fprintf(stderr, "bench: cannot set up chains in %s\n", base);
        return 1;
    }
    a.sigcache = &sca;
    b.sigcache = &scb;

    struct tu_rng rng = {7};
    uint64_t *t_build = calloc(nblocks, sizeof *t_build), *t_exec = calloc(nblocks, sizeof *t_exec);
    uint64_t *t_commit = calloc(nblocks, sizeof *t_commit);
    uint64_t *c_build = calloc(nblocks, sizeof *c_build), *c_exec = calloc(nblocks, sizeof *c_exec);
    uint8_t **txs = calloc(per_block, sizeof *txs);
    size_t *lens = calloc(per_block, sizeof *lens);
    for (size_t blk = 0; blk < nblocks; blk++) {
        for (size_t i = 0; i < per_block; i++) {
            size_t from = (size_t)tu_below(&rng, naccounts), to = (size_t)tu_below(&rng, naccounts - 1);
            if (to >= from)
                to++;
            uint8_t *p;
            size_t pl;
            if (chain_payload_transfer(pk[to], 1 + tu_below(&rng, 1000000), &p, &pl) ||
                chain_tx_build("bench", nonce[from]++, GL__TX_TYPE__TX_TRANSFER, p, pl, pk[from], sk[from],
                               &txs[i], &lens[i]))
                return 1;
            free(p);
            /* signatures were checked at admission on both nodes */
            uint8_t h[CHAIN_HASH_BYTES];
            chain_hash(h, CHAIN_TAG_TX, txs[i], lens[i]);
            chain_sigcache_add(&sca, h);
            chain_sigcache_add(&scb, h);
        }
        struct chain_exec_result r, rb;
        uint64_t c0 = cpu_now_ns();
        uint64_t t0 = tu_now_ns();
        int rc = chain_build_block(&a, 1 + (blk + 1) * 1000, pk[0], (const uint8_t *const *)txs, lens, per_block, &r);
        uint64_t t1 = tu_now_ns();
        uint64_t c1 = cpu_now_ns();
        if (rc || r.ntx != per_block) {
            fprintf(stderr, "bench: build failed: %s (%zu of %zu included)\n", chain_strerror(rc), r.ntx, per_block);
            return 1;
        }
        uint64_t c2 = cpu_now_ns();
        rc = chain_exec_block(&b, r.block_bytes, r.block_len, &rb);
        uint64_t t2 = tu_now_ns();
        uint64_t c3 = cpu_now_ns();
        if (rc) {
            fprintf(stderr, "bench: validator refused the block: %s\n", chain_strerror(rc));
            return 1;
        }
        if (chain_commit(&a, &r) || chain_commit(&b, &rb))
            return 1;
        uint64_t t3 = tu_now_ns();
        t_build[blk] = t1 - t0;
        t_exec[blk] = t2 - t1;
        t_commit[blk] = (t3 - t2) / 2;
        c_build[blk] = c1 - c0;
        c_exec[blk] = c3 - c2;
        chain_exec_result_free(&r);
        chain_exec_result_free(&rb);
        for (size_t i = 0; i < per_block; i++)
            free(txs[i]);
    }
    qsort(t_build, nblocks, sizeof *t_build, cmp_u64);
    qsort(t_exec, nblocks, sizeof *t_exec, cmp_u64);
    qsort(t_commit, nblocks, sizeof *t_commit, cmp_u64);
    qsort(c_build, nblocks, sizeof *c_build, cmp_u64);
    qsort(c_exec, nblocks, sizeof *c_exec, cmp_u64);
    double cbuild_tps = (double)per_block / ((double)c_build[nblocks / 2] / 1e9);
    double cexec_tps = (double)per_block / ((double)c_exec[nblocks / 2] / 1e9);
    double build_tps = (double)per_block / ((double)t_build[nblocks / 2] / 1e9);
    double exec_tps = (double)per_block / ((double)t_exec[nblocks / 2] / 1e9);
    printf("measured   %zu accounts, %zu blocks of %zu signed transfers (signatures cached)\n", naccounts,
           nblocks, per_block);
    printf("measured   proposer build (exec+root)   %10.0f tx/s   median %.1f ms/block   ratio to verify %.1fx\n",
           build_tps, (double)t_build[nblocks / 2] / 1e6, build_tps / vps);
    printf("measured   validator exec of the block  %10.0f tx/s   median %.1f ms/block   ratio to verify %.1fx\n",
           exec_tps, (double)t_exec[nblocks / 2] / 1e6, exec_tps / vps);
    printf("measured   proposer build, CPU time     %10.0f tx/s   median %.1f ms/block   min %.1f ms\n", cbuild_tps,
           (double)c_build[nblocks / 2] / 1e6, (double)c_build[0] / 1e6);
    printf("measured   validator exec, CPU time     %10.0f tx/s   median %.1f ms/block   min %.1f ms\n", cexec_tps,
           (double)c_exec[nblocks / 2] / 1e6, (double)c_exec[0] / 1e6);
    printf("measured   commit, one fsync per block  %10.1f ms/block median\n", (double)t_commit[nblocks / 2] / 1e6);
    printf("target     execution >= 100000 tx/s: %s (wall clock), %s (CPU time)\n",
           exec_tps >= 100000 ? "met" : "MISSED", cexec_tps >= 100000 ? "met" : "MISSED");
    chain_close(&a);
    chain_close(&b);
    chain_sigcache_deinit(&sca);
    chain_sigcache_deinit(&scb);
    free(c_build);
    free(c_exec);
    if (!dir)
        tu_rmdir(base);
    free(base);
    return 0;
}
