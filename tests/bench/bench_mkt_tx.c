/* bench_mkt_tx.c -- the market on the chain: blocks of orders, and the block
 * that clears a book of 10,000 orders, beside the pure clearing core solving
 * the same book in memory in the same run.
 *
 *   bench_mkt_tx [--orders N] [--per-block N] [--participants N]
 *
 * Signatures are pre-checked (sigcache filled, as after mempool admission),
 * so the figures are execution: decoding, handlers, locks, the book's prefix
 * scan, the clearing core, money, result writes, the state root.  The ratio
 * clearing block / core is the price of doing it in state. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_block.h"
#include "chain_crypto.h"
#include "mkt_clear.h"
#include "mkt_tx.h"
#include "testutil.h"

#define DAY2 UINT64_C(1700092800000)

static struct chain c;
static struct chain_sigcache sc;
static uint8_t (*pk)[CHAIN_PK_BYTES];
static uint8_t (*sk)[CHAIN_SK_BYTES];
static uint64_t *nonce;
static uint64_t now_ms = 1700000000000ULL;

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_mkt_tx: %s: %d\n", what, rc);
    exit(1);
}

static uint8_t *tx(size_t who, uint32_t type, uint8_t *payload, size_t plen, size_t *len)
{
    uint8_t *t, h[CHAIN_HASH_BYTES];
    int rc = chain_tx_build("bench", nonce[who]++, type, payload, plen, pk[who], sk[who], &t, len);
    if (rc)
        die("tx", rc);
    free(payload);
    chain_hash(h, CHAIN_TAG_TX, t, *len);
    chain_sigcache_add(&sc, h);
    return t;
}

/* Build, commit; returns build (execution) time in ns. */
static uint64_t block(uint8_t **txs, size_t *lens, size_t n, uint64_t *commit_ns)
{
    struct chain_exec_result r;
    now_ms += 1000;
    uint64_t t0 = tu_now_ns();
    int rc = chain_build_block(&c, now_ms, pk[0], (const uint8_t *const *)txs, lens, n, &r);
    uint64_t t1 = tu_now_ns();
    if (rc)
        die("build", rc);
    for (size_t i = 0; i < r.ntx; i++)
        if (r.tx_results[i])
            die("tx result", r.tx_results[i]);
    if (r.ntx != n)
        die("skipped txs", (int)r.nskipped);
    if ((rc = chain_commit(&c, &r)))
        die("commit", rc);
    if (commit_ns)
        *commit_ns = tu_now_ns() - t1;
    chain_exec_result_free(&r);
    for (size_t i = 0; i < n; i++)
        free(txs[i]);
    return t1 - t0;
}

int main(int argc, char **argv)
{
    size_t norders = 10000, per_block = 2000, nparts = 2000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--orders") && i + 1 < argc)
            norders = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--per-block") && i + 1 < argc)
            per_block = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--participants") && i + 1 < argc)
            nparts = strtoul(argv[++i], NULL, 10);
        else {
            printf("usage: %s [--orders N] [--per-block N] [--participants N]\n", argv[0]);
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }
    if (nparts < 2 || per_block == 0 || per_block > CHAIN_BLOCK_MAX_TXS ||
        nparts > CHAIN_BLOCK_MAX_TXS || norders == 0 || norders > MKT_BOOK_MAX_ORDERS) {
        fprintf(stderr,
                "bench_mkt_tx: need 2 <= participants <= %u, per-block <= %u, orders <= %u\n",
                CHAIN_BLOCK_MAX_TXS, CHAIN_BLOCK_MAX_TXS, MKT_BOOK_MAX_ORDERS);
        return 2;
    }
    if (chain_crypto_init() || chain_sigcache_init(&sc, 4 * (norders + nparts) + 64))
        return 1;
    size_t nkeys = nparts + 1; /* key 0: operator and validator */
    pk = malloc(nkeys * CHAIN_PK_BYTES);
    sk = malloc(nkeys * CHAIN_SK_BYTES);
    nonce = calloc(nkeys, sizeof *nonce);
    struct chain_genesis_account *ga = calloc(nkeys, sizeof *ga);
    for (size_t i = 0; i < nkeys; i++) {
        uint8_t seed[32] = {7};
        memcpy(seed + 1, &i, sizeof i);
        chain_keypair_from_seed(pk[i], sk[i], seed);
        memcpy(ga[i].pk, pk[i], CHAIN_PK_BYTES);
        ga[i].balance = 1000000 * CHAIN_MICRO_PER_TOKEN;
    }
    ga[0].roles = CHAIN_ROLE_OPERATOR | CHAIN_ROLE_VALIDATOR | CHAIN_ROLE_SHADOW_CENTRE;
    struct chain_validator v = {.power = 1};
    memcpy(v.key, pk[0], CHAIN_PK_BYTES);
    struct chain_genesis g = {.chain_id = "bench",
                              .time_ms = now_ms,
                              .accounts = ga,
                              .naccounts = nkeys,
                              .validators = &v,
                              .nvalidators = 1};
    char *dir = tu_tmpdir("bench-mkt-tx");
    struct chain_store_opts o = {.map_size = (size_t)8 << 30};
    int rc;
    if ((rc = chain_open(&c, dir, &o)) || (rc = mkt_register(&c.reg)) ||
        (rc = chain_genesis(&c, &g)))
        die("open", rc);
    c.sigcache = &sc;

    uint8_t **txs = calloc(norders + nparts + 8, sizeof *txs);
    size_t *lens = calloc(norders + nparts + 8, sizeof *lens);
    for (size_t i = 1; i <= nparts; i++) {
        uint8_t *p;
        size_t pl;
        if ((rc = mkt_payload_register(pk[i], 2, (uint32_t)(i % 8), i % 3 == 0, NULL, 0, "h", 0, &p,
                                       &pl)))
            die("payload", rc);
        txs[i - 1] = tx(0, GL__MKT_TX_TYPE__MKT_TX_REGISTER, p, pl, &lens[i - 1]);
    }
    block(txs, lens, nparts, NULL);

    /* The same random book for two slots: one cleared uniformly, one P2P. */
    struct tu_rng rng = {2026};
    struct mkt_order *book = calloc(norders, sizeof *book);
    uint64_t order_ns[2] = {0, 0};
    size_t order_blocks[2] = {0, 0};
    for (int s = 0; s < 2; s++) {
        uint64_t slot = DAY2 + (uint64_t)(10 + s) * MKT_SLOT_MS_DEFAULT;
        struct tu_rng r = rng;
        for (size_t done = 0; done < norders;) {
            size_t n = norders - done < per_block ? norders - done : per_block;
            for (size_t k = 0; k < n; k++) {
                size_t who = 1 + (done + k) % nparts;
                struct mkt_tx_order ord = {.commodity = MKT_ELECTRICITY,
                                           .market = MKT_DAY_AHEAD,
                                           .side = tu_below(&r, 2) ? MKT_TX_BUY : MKT_TX_SELL,
                                           .slot_start_ms = slot,
                                           .qty_wh = 1 + tu_below(&r, 5000),
                                           .price_micro_per_kwh = 50000 + tu_below(&r, 300000)};
                if (s == 0)
                    book[done + k] = (struct mkt_order){
                        .id = (uint32_t)(done + k),
                        .participant = (uint32_t)who,
                        .bus = (uint32_t)(who % 8),
                        .side = (uint8_t)(ord.side == MKT_TX_BUY ? MKT_BUY : MKT_SELL),
                        .qty_wh = (int64_t)ord.qty_wh,
                        .price_micro_per_kwh = (int64_t)ord.price_micro_per_kwh,
                        .arrival = done + k};
                uint8_t *p;
                size_t pl;
                if ((rc = mkt_payload_place_order(&ord, &p, &pl)))
                    die("payload", rc);
                txs[k] = tx(who, GL__MKT_TX_TYPE__MKT_TX_PLACE_ORDER, p, pl, &lens[k]);
            }
            order_ns[s] += block(txs, lens, n, NULL);
            order_blocks[s]++;
            done += n;
        }
    }

    /* The core alone on the same book (the reference), best of 3. */
    uint64_t core_u = UINT64_MAX, core_p = UINT64_MAX;
    struct mkt_book bk = {book, norders, NULL};
    struct mkt_fees fees = {MKT_FEE_UNIFORM, 1000, MKT_PARAMS_MAX_BUS, NULL};
    for (int i = 0; i < 3; i++) {
        struct mkt_auction_result au;
        struct mkt_p2p_result pp;
        uint64_t t0 = tu_now_ns();
        if ((rc = mkt_auction_clear(&bk, &au)))
            die("core auction", rc);
        uint64_t t1 = tu_now_ns();
        if ((rc = mkt_p2p_clear(&bk, &fees, MKT_P2P_AUTO, &pp)))
            die("core p2p", rc);
        uint64_t t2 = tu_now_ns();
        core_u = t1 - t0 < core_u ? t1 - t0 : core_u;
        core_p = t2 - t1 < core_p ? t2 - t1 : core_p;
        mkt_auction_result_deinit(&au);
        mkt_p2p_result_deinit(&pp);
    }

    uint64_t clear_ns[2], commit_ns[2];
    for (int s = 0; s < 2; s++) {
        uint64_t slot = DAY2 + (uint64_t)(10 + s) * MKT_SLOT_MS_DEFAULT;
        uint8_t *p;
        size_t pl, n = 0;
        if (s == 1) {
            struct mkt_tx_params prm;
            mkt_params_default(&prm);
            prm.mechanism = MKT_MECH_P2P;
            prm.fee_rate_micro_per_kwh = 1000;
            if ((rc = mkt_payload_set_params(&prm, &p, &pl)))
                die("payload", rc);
            txs[0] = tx(0, GL__MKT_TX_TYPE__MKT_TX_SET_PARAMS, p, pl, &lens[0]);
            block(txs, lens, 1, NULL);
        }
        if ((rc = mkt_payload_clear(MKT_ELECTRICITY, MKT_DAY_AHEAD, slot, &p, &pl)))
            die("payload", rc);
        txs[n] = tx(0, GL__MKT_TX_TYPE__MKT_TX_CLEAR, p, pl, &lens[n]);
        n++;
        clear_ns[s] = block(txs, lens, n, &commit_ns[s]);
    }
    printf(
        "order blocks   %zu orders in blocks of %zu: %.0f orders/s executed (%.1f ms per block)\n",
        2 * norders, per_block, 2.0 * (double)norders / ((double)(order_ns[0] + order_ns[1]) / 1e9),
        (double)(order_ns[0] + order_ns[1]) / 1e6 / (double)(order_blocks[0] + order_blocks[1]));
    printf("reference  uniform auction core, %zu orders in memory   %8.2f ms\n", norders,
           (double)core_u / 1e6);
    printf("measured   block clearing them from state (uniform)   %8.2f ms  ratio %.1f  (commit "
           "%.1f ms)\n",
           (double)clear_ns[0] / 1e6, (double)clear_ns[0] / (double)core_u,
           (double)commit_ns[0] / 1e6);
    printf("reference  P2P core (bus form, uniform fee), in memory  %8.2f ms\n",
           (double)core_p / 1e6);
    printf("measured   block clearing them from state (P2P)       %8.2f ms  ratio %.1f  (commit "
           "%.1f ms)\n",
           (double)clear_ns[1] / 1e6, (double)clear_ns[1] / (double)core_p,
           (double)commit_ns[1] / 1e6);
    chain_close(&c);
    chain_sigcache_deinit(&sc);
    tu_rmdir(dir);
    free(dir);
    free(book);
    free(txs);
    free(lens);
    free(pk);
    free(sk);
    free(nonce);
    free(ga);
    return 0;
}
