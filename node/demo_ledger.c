/* demo_ledger.c -- `make demo` until the network exists: a single-process
 * ledger that executes a few blocks of signed transactions and prints
 * heights, state roots, balances, the supply check and a light-client proof.
 *
 *   gridledger-demo [--dir D]     (D is wiped and reused; default ./gridledger-demo-data) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chain_block.h"
#include "chain_crypto.h"
#include "chain_proof.h"

#define TOK CHAIN_MICRO_PER_TOKEN

enum { OPERATOR, SHADOW, VALIDATOR, ANNA, BEN, CLARA, DAVID, NKEYS };
static const char *names[NKEYS] = {"operator", "shadow-centre", "validator", "anna", "ben", "clara", "david"};
static uint8_t pk[NKEYS][CHAIN_PK_BYTES], sk[NKEYS][CHAIN_SK_BYTES];
static uint64_t nonce[NKEYS];
static struct chain c;
static uint64_t now_ms = 1763726400000ULL; /* 2025-11-21 12:00 UTC: block time is data, not a clock */

struct batch {
    uint8_t *tx[16];
    size_t len[16];
    const char *what[16];
    size_t n;
};

static void add(struct batch *b, int who, uint32_t type, uint8_t *payload, size_t plen, const char *what)
{
    if (!payload || chain_tx_build(c.chain_id, nonce[who]++, type, payload, plen, pk[who], sk[who], &b->tx[b->n],
                                   &b->len[b->n])) {
        fprintf(stderr, "demo: cannot build a transaction\n");
        exit(1);
    }
    free(payload);
    b->what[b->n++] = what;
}

static uint8_t *pl_transfer(int to, int64_t amount, size_t *n)
{
    uint8_t *p = NULL;
    return chain_payload_transfer(pk[to], (uint64_t)amount, &p, n) ? NULL : p;
}

static void money(char *out, size_t n, int64_t micro)
{
    snprintf(out, n, "%lld.%06lld", (long long)(micro / TOK), (long long)(micro % TOK));
}

static void run_block(struct batch *b)
{
    struct chain_exec_result r;
    char root[65];
    now_ms += 4000;
    int rc = chain_build_block(&c, now_ms, pk[VALIDATOR], (const uint8_t *const *)b->tx, b->len, b->n, &r);
    if (rc) {
        fprintf(stderr, "demo: building a block failed: %s\n", chain_strerror(rc));
        exit(1);
    }
    if ((rc = chain_commit(&c, &r))) {
        fprintf(stderr, "demo: commit failed: %s\n", chain_strerror(rc));
        exit(1);
    }
    chain_hex(root, c.head.state_root, CHAIN_HASH_BYTES);
    printf("block %llu  txs %zu  state root %.16s...\n", (unsigned long long)c.head.height, r.ntx, root);
    for (size_t i = 0; i < b->n; i++) {
        uint8_t h[CHAIN_HASH_BYTES];
        const char *res = "left out by the proposer";
        chain_hash(h, CHAIN_TAG_TX, b->tx[i], b->len[i]);
        for (size_t j = 0; j < r.ntx; j++)
            if (!memcmp(r.tx_hashes[j], h, CHAIN_HASH_BYTES))
                res = r.tx_results[j] ? chain_err_name(r.tx_results[j]) : "ok";
        printf("    %-44s %s\n", b->what[i], res);
    }
    chain_exec_result_free(&r);
    for (size_t i = 0; i < b->n; i++)
        free(b->tx[i]);
    b->n = 0;
}

static int wipe(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    if (unlink(p) != 0 && access(p, F_OK) == 0)
        return -1;
    snprintf(p, sizeof p, "%s/lock.mdb", dir);
    unlink(p);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = "gridledger-demo-data";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else {
            printf("usage: %s [--dir DIR]\n"
                   "Runs a single-process gridledger ledger for a few blocks and prints heights,\n"
                   "state roots, balances, the supply check and a verified balance proof.\n"
                   "DIR (default ./gridledger-demo-data) holds the LMDB store; it is reset each run.\n",
                   argv[0]);
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }
    for (int i = 0; i < NKEYS; i++) {
        uint8_t seed[32] = {0};
        snprintf((char *)seed, sizeof seed, "demo-key-%s", names[i]);
        chain_keypair_from_seed(pk[i], sk[i], seed);
    }
    struct chain_store_opts o = {.map_size = (size_t)1 << 30};
    if (wipe(dir) != 0) {
        fprintf(stderr, "demo: cannot reset %s\n", dir);
        return 1;
    }
    if (chain_open(&c, dir, &o))
        return 1;
    struct chain_genesis_account ga[3] = {{.roles = CHAIN_ROLE_OPERATOR},
                                          {.roles = CHAIN_ROLE_SHADOW_CENTRE},
                                          {.roles = CHAIN_ROLE_VALIDATOR}};
    for (int i = 0; i < 3; i++)
        memcpy(ga[i].pk, pk[i], CHAIN_PK_BYTES);
    struct chain_validator v = {.power = 1};
    memcpy(v.key, pk[VALIDATOR], CHAIN_PK_BYTES);
    struct chain_genesis g = {.chain_id = "gridledger-demo", .time_ms = now_ms, .accounts = ga, .naccounts = 3,
                              .validators = &v, .nvalidators = 1};
    int rc = chain_genesis(&c, &g);
    if (rc) {
        fprintf(stderr, "demo: genesis failed: %s\n", chain_strerror(rc));
        return 1;
    }
    char root[65];
    chain_hex(root, c.head.state_root, CHAIN_HASH_BYTES);
    printf("gridledger ledger demo: chain %s, data in %s\n\n", c.chain_id, dir);
    printf("block 0  genesis     state root %.16s...\n", root);

    struct batch b = {.n = 0};
    size_t n;
    uint8_t *p;
    /* block 1: the operator admits four households, each with a meter key */
    static const char *reg_what[4] = {"operator registers anna (prosumer, PV)", "operator registers ben (consumer)",
                                      "operator registers clara (prosumer, PV)", "operator registers david (consumer)"};
    for (int h = ANNA; h <= DAVID; h++) {
        uint8_t meter[1][CHAIN_PK_BYTES], msk[CHAIN_SK_BYTES], seed[32] = {0};
        snprintf((char *)seed, sizeof seed, "meter-%d", h);
        chain_keypair_from_seed(meter[0], msk, seed);
        bool pv = h == ANNA || h == CLARA;
        if (chain_payload_register_participant(pk[h], pv ? 2 : 1, 1, pv, (const uint8_t(*)[CHAIN_PK_BYTES])meter, 1,
                                               names[h], &p, &n))
            return 1;
        add(&b, OPERATOR, GL__TX_TYPE__TX_REGISTER_PARTICIPANT, p, n, reg_what[h - ANNA]);
    }
    run_block(&b);
    /* block 2: bank recharges become tokens (the second use of a bank reference mints nothing) */
    static const char *mint_what[5] = {"recharge anna 50.00 (bank ref SEPA-1001)", "recharge ben 80.00 (SEPA-1002)",
                                       "recharge clara 20.00 (SEPA-1003)", "recharge david 60.00 (SEPA-1004)",
                                       "recharge ben again with SEPA-1002"};
    int64_t amounts[5] = {50 * TOK, 80 * TOK, 20 * TOK, 60 * TOK, 80 * TOK};
    int whom[5] = {ANNA, BEN, CLARA, DAVID, BEN};
    const char *refs[5] = {"SEPA-1001", "SEPA-1002", "SEPA-1003", "SEPA-1004", "SEPA-1002"};
    for (int i = 0; i < 5; i++) {
        if (chain_payload_mint(pk[whom[i]], (uint64_t)amounts[i], refs[i], &p, &n))
            return 1;
        add(&b, SHADOW, GL__TX_TYPE__TX_MINT, p, n, mint_what[i]);
    }
    run_block(&b);
    /* block 3: neighbours pay for energy; one payment exceeds the balance */
    p = pl_transfer(ANNA, 12345678, &n);
    add(&b, BEN, GL__TX_TYPE__TX_TRANSFER, p, n, "ben pays anna 12.345678 for PV");
    p = pl_transfer(CLARA, 7500000, &n);
    add(&b, DAVID, GL__TX_TYPE__TX_TRANSFER, p, n, "david pays clara 7.50 for PV");
    p = pl_transfer(BEN, 900 * TOK, &n);
    add(&b, CLARA, GL__TX_TYPE__TX_TRANSFER, p, n, "clara tries to pay ben 900.00");
    if (chain_payload_mint(pk[ANNA], 1000 * TOK, "FAKE-1", &p, &n))
        return 1;
    add(&b, ANNA, GL__TX_TYPE__TX_MINT, p, n, "anna tries to mint herself 1000.00");
    run_block(&b);
    /* block 4: anna redeems tokens to her bank; the shadow centre pays out */
    if (chain_payload_redeem(30 * TOK, "DE89 3704 0044 0532 0130 00", &p, &n))
        return 1;
    add(&b, ANNA, GL__TX_TYPE__TX_REDEEM, p, n, "anna redeems 30.00 to her bank account");
    uint8_t payout_id[CHAIN_HASH_BYTES];
    chain_hash(payout_id, CHAIN_TAG_TX, b.tx[0], b.len[0]);
    run_block(&b);
    if (chain_payload_payout_confirm(payout_id, "SEPA-OUT-2001", false, &p, &n))
        return 1;
    add(&b, SHADOW, GL__TX_TYPE__TX_PAYOUT_CONFIRM, p, n, "shadow centre confirms the bank payout");
    run_block(&b);

    /* balances, supply, and one balance checked like a light client would */
    MDB_txn *txn;
    if (mdb_txn_begin(c.store.env, NULL, MDB_RDONLY, &txn))
        return 1;
    printf("\n%-14s %16s %6s\n", "account", "balance", "nonce");
    for (int i = 0; i < NKEYS; i++) {
        uint8_t key[CHAIN_KEY_ACCOUNT_BYTES];
        const uint8_t *val;
        size_t vl;
        struct chain_account a = {0};
        chain_key_account(key, pk[i]);
        if (chain_store_get(&c.store, txn, key, sizeof key, &val, &vl) == CHAIN_ERR_OK &&
            chain_account_decode(val, vl, &a) != CHAIN_ERR_OK)
            return 1;
        char m[32];
        money(m, sizeof m, a.balance);
        printf("%-14s %16s %6llu\n", names[i], m, (unsigned long long)a.nonce);
    }
    struct chain_supply_report rep;
    rc = chain_supply_check(&c.store, txn, &rep);
    char mi[32], bu[32], held[32];
    money(mi, sizeof mi, rep.minted);
    money(bu, sizeof bu, rep.burned);
    money(held, sizeof held, rep.accounts_total + rep.pools_total);
    printf("\nsupply check: minted %s - burned %s = held %s over %llu accounts: %s\n", mi, bu, held,
           (unsigned long long)rep.accounts, rc == CHAIN_ERR_OK ? "OK" : "BROKEN");

    uint8_t key[CHAIN_KEY_ACCOUNT_BYTES], kh[CHAIN_HASH_BYTES];
    struct chain_proof proof;
    const uint8_t *val;
    size_t vl;
    uint8_t *enc;
    size_t enc_len;
    chain_key_account(key, pk[ANNA]);
    chain_state_key_hash(kh, key, sizeof key);
    if (chain_smt_prove(txn, &c.store.smt, c.head.height, kh, &proof, &val, &vl) || !val ||
        chain_proof_encode(&proof, &enc, &enc_len))
        return 1;
    struct chain_proof decoded;
    int vrc = chain_proof_decode(enc, enc_len, &decoded);
    if (!vrc)
        vrc = chain_proof_verify_kv(c.head.state_root, key, sizeof key, val, vl, &decoded);
    chain_hex(root, c.head.state_root, CHAIN_HASH_BYTES);
    printf("light client: anna's account at height %llu proven against root %.16s... with a %zu-byte proof: %s\n",
           (unsigned long long)c.head.height, root, enc_len, vrc == CHAIN_ERR_OK ? "verified" : chain_strerror(vrc));
    uint8_t forged[256];
    memcpy(forged, val, vl < sizeof forged ? vl : sizeof forged);
    forged[vl > 2 ? 2 : 0] ^= 1;
    int frc = chain_proof_verify_kv(c.head.state_root, key, sizeof key, forged, vl, &decoded);
    printf("light client: the same proof with one bit of the balance changed: %s\n",
           frc == CHAIN_ERR_OK ? "ACCEPTED (bug)" : "refused");
    free(enc);
    mdb_txn_abort(txn);
    chain_close(&c);
    return rc == CHAIN_ERR_OK && vrc == CHAIN_ERR_OK && frc != CHAIN_ERR_OK ? 0 : 1;
}
