/* bench_smt.c -- how fast the state tree takes a block's updates, and how
 * big and how fast its proofs are.  A program, not a test: prints figures.
 *
 *   bench_smt [--max-keys N] [--updates N] [--blocks N] [--dir D]
 *
 * Builds trees of 10^4, 10^5, 10^6 keys (capped by --max-keys) in one LMDB
 * env (batches of 10^5, MDB_NOSYNC, old versions pruned as it goes), then at
 * each size runs 20 blocks of 1,000 updates (70% rewrite existing keys, 30%
 * insert new ones) with durable commits, and reports compute, write (puts)
 * and commit (fsync) time per block, median and p90, and nodes written.
 * Beside them, reference figures on the same machine in the same run:
 *   - hash floor: one BLAKE2b over 65 bytes (tag + 64) times the hashes the
 *     batch computed (value, leaf and inner: chain_smt_batch_hashes);
 *   - raw LMDB: putting as many 42-byte keys (83-byte values, append order)
 *     in one write transaction, and committing it.
 * At the largest size: encoded proof size over 1,000 random present keys and
 * 1,000 absent ones, and verify time. */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_crypto.h"
#include "chain_proof.h"
#include "chain_smt.h"
#include "testutil.h"

#define MAX_BLOCKS 1000
#define BUILD_BATCH 100000
#define VALUE_BYTES 40

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_smt: %s failed: %d (%s / %s)\n", what, rc, chain_err_name(rc),
            mdb_strerror(rc));
    exit(1);
}

#define CHECK(what, expr)                                                                          \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0)                                                                              \
            die(what, rc_);                                                                        \
    } while (0)

static void key_of(uint64_t i, uint8_t out[CHAIN_HASH_BYTES])
{
    uint8_t raw[8];
    for (int b = 0; b < 8; b++)
        raw[b] = (uint8_t)(i >> (8 * b));
    chain_state_key_hash(out, raw, sizeof raw);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* p-th percentile (0..100) of n samples, sorted in place; nearest rank. */
static uint64_t pct(uint64_t *v, size_t n, unsigned p)
{
    qsort(v, n, sizeof *v, cmp_u64);
    size_t rank = (p * n + 99) / 100;
    return v[rank ? rank - 1 : 0];
}

struct bench {
    size_t blocks, updates; /* per size: blocks of updates */
    MDB_env *env;
    struct chain_smt smt;
    uint64_t version; /* latest written */
    uint64_t n_keys;  /* keys 0..n_keys-1 are in the tree */
    struct tu_rng rng;
    struct chain_smt_update *ups;
    uint8_t (*vals)[VALUE_BYTES];
};

/* One batch: compute in a read txn, write and commit in a write txn. */
static void step(struct bench *b, size_t n, uint64_t *t_compute, uint64_t *t_write,
                 uint64_t *t_commit, size_t *nodes, size_t *hashes, bool prune)
{
    MDB_txn *r, *w;
    struct chain_smt_batch *batch;
    CHECK("txn_begin", mdb_txn_begin(b->env, NULL, MDB_RDONLY, &r));
    uint64_t t0 = tu_now_ns();
    CHECK("compute", chain_smt_compute(r, &b->smt, b->version, b->version + 1, b->ups, n, &batch));
    uint64_t t1 = tu_now_ns();
    mdb_txn_abort(r);
    CHECK("txn_begin", mdb_txn_begin(b->env, NULL, 0, &w));
    uint64_t t2 = tu_now_ns();
    CHECK("batch_write", chain_smt_batch_write(w, &b->smt, batch));
    if (prune)
        CHECK("prune", chain_smt_prune(w, &b->smt, b->version + 1, NULL));
    uint64_t t3 = tu_now_ns();
    CHECK("commit", mdb_txn_commit(w));
    uint64_t t4 = tu_now_ns();
    b->version++;
    if (t_compute)
        *t_compute = t1 - t0;
    if (t_write)
        *t_write = t3 - t2;
    if (t_commit)
        *t_commit = t4 - t3;
    if (nodes)
        *nodes = chain_smt_batch_nodes(batch);
    if (hashes)
        *hashes = chain_smt_batch_hashes(batch);
    chain_smt_batch_free(batch);
}

static void fill_value(struct bench *b, size_t i)
{
    tu_fill(&b->rng, b->vals[i], VALUE_BYTES);
    b->ups[i].value = b->vals[i];
    b->ups[i].value_len = VALUE_BYTES;
}

static void grow_to(struct bench *b, uint64_t target)
{
    uint64_t t0 = tu_now_ns();
    while (b->n_keys < target) {
        uint64_t n = target - b->n_keys;
        if (n > BUILD_BATCH)
            n = BUILD_BATCH;
        for (size_t i = 0; i < n; i++) {
            key_of(b->n_keys + i, b->ups[i].key_hash);
            fill_value(b, i);
        }
        step(b, (size_t)n, NULL, NULL, NULL, NULL, NULL, true);
        b->n_keys += n;
    }
    printf("built %llu keys in %.1f s\n", (unsigned long long)b->n_keys, ms(tu_now_ns() - t0) / 1e3);
}

/* Hash floor: ns for one BLAKE2b over 65 bytes (tag || 64), over many. */
static double hash_ns(void)
{
    uint8_t buf[64] = {1}, out[CHAIN_HASH_BYTES];
    const int n = 200000;
    uint64_t t0 = tu_now_ns();
    for (int i = 0; i < n; i++) {
        chain_hash(out, CHAIN_TAG_INNER, buf, sizeof buf);
        buf[0] = out[0];
    }
    return (double)(tu_now_ns() - t0) / n;
}

/* Raw LMDB: n 42-byte keys, 83-byte values, appended in one txn. */
static void raw_puts(struct bench *b, MDB_dbi dbi, size_t n, uint64_t *t_put, uint64_t *t_commit)
{
    static uint64_t next = 0;
    MDB_txn *w;
    uint8_t k[42] = {0}, v[83];
    memset(v, 0x5a, sizeof v);
    CHECK("txn_begin", mdb_txn_begin(b->env, NULL, 0, &w));
    uint64_t t0 = tu_now_ns();
    for (size_t i = 0; i < n; i++, next++) {
        for (int j = 0; j < 8; j++)
            k[j] = (uint8_t)(next >> (56 - 8 * j));
        tu_fill(&b->rng, k + 10, 32);
        MDB_val mk = {sizeof k, k}, mv = {sizeof v, v};
        CHECK("raw put", mdb_put(w, dbi, &mk, &mv, MDB_APPEND));
    }
    uint64_t t1 = tu_now_ns();
    CHECK("commit", mdb_txn_commit(w));
    *t_put = t1 - t0;
    *t_commit = tu_now_ns() - t1;
}

static void measure(struct bench *b, MDB_dbi raw)
{
    static uint64_t tc[MAX_BLOCKS], tw[MAX_BLOCKS], tk[MAX_BLOCKS], tt[MAX_BLOCKS], rp[MAX_BLOCKS],
        rk[MAX_BLOCKS], n64[MAX_BLOCKS];
    const size_t blocks = b->blocks;
    uint64_t nodes_sum = 0, hashes_sum = 0;
    CHECK("set_flags", mdb_env_set_flags(b->env, MDB_NOSYNC, 0)); /* durable commits now */
    for (size_t blk = 0; blk < blocks; blk++) {
        size_t n = 0;
        uint64_t fresh = 0;
        /* keys already drawn this block, by a bitmap over ids (a block touches a key once) */
        uint64_t id_cap = b->n_keys + b->updates;
        uint8_t *seen = calloc((size_t)(id_cap + 7) / 8, 1);
        if (seen == NULL)
            die("calloc", CHAIN_ERR_NOMEM);
        while (n < b->updates) {
            bool insert = tu_below(&b->rng, 10) < 3;
            uint64_t id = insert ? b->n_keys + fresh : tu_below(&b->rng, b->n_keys);
            if (seen[id / 8] & (1u << (id % 8)))
                continue;
            seen[id / 8] = (uint8_t)(seen[id / 8] | (1u << (id % 8)));
            key_of(id, b->ups[n].key_hash);
            fresh += insert;
            fill_value(b, n);
            n++;
        }
        free(seen);
        size_t nodes, hashes;
        step(b, n, &tc[blk], &tw[blk], &tk[blk], &nodes, &hashes, false);
        hashes_sum += hashes;
        b->n_keys += fresh;
        tt[blk] = tc[blk] + tw[blk];
        n64[blk] = nodes;
        nodes_sum += nodes;
        raw_puts(b, raw, nodes, &rp[blk], &rk[blk]);
    }
    CHECK("set_flags", mdb_env_set_flags(b->env, MDB_NOSYNC, 1));
    double h_ns = hash_ns(); /* again now: the machine's load changes */
    uint64_t nmed = pct(n64, blocks, 50);
    double mean_nodes = (double)nodes_sum / (double)blocks;
    double mean_hashes = (double)hashes_sum / (double)blocks;
    printf("  tree %llu keys, %zu blocks x %zu updates (70%% rewrite, 30%% insert):\n",
           (unsigned long long)b->n_keys, blocks, b->updates);
    printf("    nodes written/block   median %llu  mean %.0f\n", (unsigned long long)nmed, mean_nodes);
    const char *target = b->updates == 1000 ? "   (target < 20)" : "";
    /* pct sorts in place: sort each array first, so that [0] is its minimum
     * whatever order the arguments below are evaluated in. */
    uint64_t *all[] = {tc, tw, tt, tk, rp, rk};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        qsort(all[i], blocks, sizeof *all[i], cmp_u64);
    printf("    compute         ms    median %7.2f  p90 %7.2f  min %7.2f\n", ms(pct(tc, blocks, 50)),
           ms(pct(tc, blocks, 90)), ms(tc[0]));
    printf("    write (puts)    ms    median %7.2f  p90 %7.2f  min %7.2f\n", ms(pct(tw, blocks, 50)),
           ms(pct(tw, blocks, 90)), ms(tw[0]));
    printf("    compute+write   ms    median %7.2f  p90 %7.2f  min %7.2f%s\n",
           ms(pct(tt, blocks, 50)), ms(pct(tt, blocks, 90)), ms(tt[0]), target);
    printf("    commit (fsync)  ms    median %7.2f  p90 %7.2f  min %7.2f\n", ms(pct(tk, blocks, 50)),
           ms(pct(tk, blocks, 90)), ms(tk[0]));
    printf("    REFERENCE hash floor  %.2f ms/block (%.0f ns per 65-byte BLAKE2b x %.0f hashes); "
           "compute median / floor = %.1fx\n",
           h_ns * mean_hashes / 1e6, h_ns, mean_hashes,
           (double)pct(tc, blocks, 50) / (h_ns * mean_hashes));
    printf("    REFERENCE raw LMDB    puts median %.2f ms, commit median %.2f ms "
           "(same count of 42-byte keys, 83-byte values, appended); write median / raw puts = %.1fx\n",
           ms(pct(rp, blocks, 50)), ms(pct(rk, blocks, 50)),
           (double)pct(tw, blocks, 50) / (double)pct(rp, blocks, 50));
}

static void proofs(struct bench *b)
{
    MDB_txn *r;
    CHECK("txn_begin", mdb_txn_begin(b->env, NULL, MDB_RDONLY, &r));
    uint8_t root[CHAIN_HASH_BYTES];
    CHECK("root", chain_smt_root(r, &b->smt, b->version, root));
    static struct chain_proof p;
    for (int absent = 0; absent < 2; absent++) {
        size_t sum = 0, max = 0, depth_sum = 0;
        uint64_t verify_ns = 0, prove_ns = 0;
        const int n = 1000;
        for (int i = 0; i < n; i++) {
            uint8_t k[CHAIN_HASH_BYTES], vh[CHAIN_HASH_BYTES];
            key_of(absent ? b->n_keys + 1000000 + (uint64_t)i : tu_below(&b->rng, b->n_keys), k);
            const uint8_t *val;
            size_t len;
            uint64_t t0 = tu_now_ns();
            CHECK("prove", chain_smt_prove(r, &b->smt, b->version, k, &p, &val, &len));
            prove_ns += tu_now_ns() - t0;
            if ((val == NULL) != (absent == 1))
                die("prove: presence", CHAIN_ERR_INTERNAL);
            if (val)
                chain_value_hash(vh, val, len);
            uint8_t *enc;
            size_t enc_len;
            CHECK("encode", chain_proof_encode(&p, &enc, &enc_len));
            free(enc);
            sum += enc_len;
            depth_sum += p.depth;
            if (enc_len > max)
                max = enc_len;
            t0 = tu_now_ns();
            CHECK("verify", chain_proof_verify(root, k, val ? vh : NULL, &p));
            verify_ns += tu_now_ns() - t0;
        }
        printf("  proofs of %s keys (1,000 random): encoded bytes mean %.0f max %zu (target < 1024), "
               "depth mean %.1f, prove %.1f us, verify %.1f us mean (target < 50)\n",
               absent ? "absent" : "present", (double)sum / n, max, (double)depth_sum / n,
               (double)prove_ns / n / 1e3, (double)verify_ns / n / 1e3);
    }
    mdb_txn_abort(r);
}

int main(int argc, char **argv)
{
    uint64_t max_keys = 1000000;
    size_t updates = 1000, blocks = 20;
    const char *dir_arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--max-keys") && i + 1 < argc)
            max_keys = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--updates") && i + 1 < argc)
            updates = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--blocks") && i + 1 < argc)
            blocks = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir_arg = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--max-keys N] [--updates N] [--blocks N] [--dir D]\n",
                    argv[0]);
            return 2;
        }
    }
    if (updates == 0 || updates > BUILD_BATCH || blocks == 0 || blocks > MAX_BLOCKS) {
        fprintf(stderr, "bench_smt: need 1 <= --updates <= %d and 1 <= --blocks <= %d\n",
                BUILD_BATCH, MAX_BLOCKS);
        return 2;
    }
    if (chain_crypto_init() != CHAIN_ERR_OK)
        die("crypto_init", CHAIN_ERR_INTERNAL);
    if (dir_arg)
        setenv("TMPDIR", dir_arg, 1);
    char *dir = tu_tmpdir("bench-smt");

    struct bench b = {.version = CHAIN_SMT_NO_VERSION, .rng = {12345}, .blocks = blocks,
                      .updates = updates};
    b.ups = calloc(BUILD_BATCH, sizeof *b.ups);
    b.vals = calloc(BUILD_BATCH, VALUE_BYTES);
    if (!b.ups || !b.vals)
        die("calloc", CHAIN_ERR_NOMEM);
    CHECK("env_create", mdb_env_create(&b.env));
    CHECK("maxdbs", mdb_env_set_maxdbs(b.env, 8));
    CHECK("mapsize", mdb_env_set_mapsize(b.env, (size_t)32 << 30));
    CHECK("env_open", mdb_env_open(b.env, dir, MDB_NOSYNC, 0600));
    MDB_txn *t;
    MDB_dbi raw;
    CHECK("txn_begin", mdb_txn_begin(b.env, NULL, 0, &t));
    CHECK("smt_open", chain_smt_open(t, &b.smt));
    CHECK("dbi_open", mdb_dbi_open(t, "bench_raw", MDB_CREATE, &raw));
    CHECK("commit", mdb_txn_commit(t));

    double h_ns = hash_ns();
    printf("bench_smt: dir %s, max keys %llu, BLAKE2b(65 B) %.0f ns\n", dir,
           (unsigned long long)max_keys, h_ns);
    static const uint64_t sizes[] = {10000, 100000, 1000000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0] && sizes[s] <= max_keys; s++) {
        grow_to(&b, sizes[s]);
        measure(&b, raw);
    }
    proofs(&b);

    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(b.env, &info);
    mdb_env_stat(b.env, &st);
    printf("env: %.0f MB used (%zu pages of %u B)\n",
           (double)(info.me_last_pgno + 1) * st.ms_psize / 1e6, info.me_last_pgno + 1, st.ms_psize);
    mdb_env_close(b.env);
    tu_rmdir(dir);
    free(dir);
    free(b.ups);
    free(b.vals);
    return 0;
}
