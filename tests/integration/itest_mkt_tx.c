/* itest_mkt_tx.c -- a signed market transaction for the integration tests
 * (tests/integration/test_node_services.py), built with the market's own
 * payload builders (market/mkt_tx.h) and chain_tx_build, printed as
 * "<envelope hex> <tx hash hex>" for JSON-RPC submit_tx.  gridctl registers
 * participants and places orders but posts no tariff and sends no
 * ClearMarket, and the test should not re-implement their encoding; one tool
 * for all four keeps the test's nonces its own.
 *
 *   itest_mkt_tx --key FILE --chain-id ID --nonce N register --account HEX [--deposit MICRO]
 *   itest_mkt_tx ... tariff --slot MS --retail P --feed-in P
 *   itest_mkt_tx ... order --side buy|sell --slot MS --qty WH --price P [--intraday]
 *   itest_mkt_tx ... clear --slot MS [--intraday]
 *
 * Electricity only; prices in micro-units per kWh.  Exit 0, or 2 with a line
 * on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_crypto.h"
#include "mkt_tx.h"
#include "node_genesis.h"

static const char *opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

static bool flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], name))
            return true;
    return false;
}

static uint64_t num(int argc, char **argv, const char *name, bool required, uint64_t dflt)
{
    const char *s = opt(argc, argv, name);
    if (!s) {
        if (required) {
            fprintf(stderr, "itest_mkt_tx: %s is required\n", name);
            exit(2);
        }
        return dflt;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || !*s) {
        fprintf(stderr, "itest_mkt_tx: %s takes a decimal number, not %s\n", name, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    const char *keyfile = opt(argc, argv, "--key"), *chain_id = opt(argc, argv, "--chain-id");
    const char *kind = NULL;
    static const char *const kinds[] = {"register", "tariff", "order", "clear"};
    for (int i = 1; i < argc && !kind; i++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
            if (!strcmp(argv[i], kinds[k]))
                kind = kinds[k];
    if (!keyfile || !chain_id || !kind || chain_crypto_init()) {
        fprintf(stderr, "usage: itest_mkt_tx --key FILE --chain-id ID --nonce N "
                        "register|tariff|order|clear ...\n");
        return 2;
    }
    uint64_t nonce = num(argc, argv, "--nonce", true, 0);
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES];
    char err[NODE_ERRMSG_BYTES];
    if (node_key_read(keyfile, pk, sk, err, sizeof err)) {
        fprintf(stderr, "itest_mkt_tx: %s\n", err);
        return 2;
    }
    uint32_t market = flag(argc, argv, "--intraday") ? MKT_INTRADAY : MKT_DAY_AHEAD;
    uint8_t *pl = NULL, *tx = NULL;
    size_t pll = 0, txl = 0;
    uint32_t type;
    int rc;
    if (!strcmp(kind, "register")) {
        uint8_t acct[CHAIN_PK_BYTES];
        if (!node_unhex(acct, CHAIN_PK_BYTES, opt(argc, argv, "--account"))) {
            fprintf(stderr, "itest_mkt_tx: register needs --account (64 lower-case hex)\n");
            return 2;
        }
        type = GL__MKT_TX_TYPE__MKT_TX_REGISTER;
        rc = mkt_payload_register(acct, GL__PARTICIPANT_KIND__KIND_PROSUMER, 0, false, NULL, 0,
                                  "itest", num(argc, argv, "--deposit", false, 0), &pl, &pll);
    } else if (!strcmp(kind, "tariff")) {
        type = GL__MKT_TX_TYPE__MKT_TX_POST_TARIFF;
        rc = mkt_payload_post_tariff(MKT_ELECTRICITY, num(argc, argv, "--slot", true, 0),
                                     num(argc, argv, "--retail", true, 0),
                                     num(argc, argv, "--feed-in", true, 0), &pl, &pll);
    } else if (!strcmp(kind, "order")) {
        const char *side = opt(argc, argv, "--side");
        if (!side || (strcmp(side, "buy") && strcmp(side, "sell"))) {
            fprintf(stderr, "itest_mkt_tx: order needs --side buy|sell\n");
            return 2;
        }
        struct mkt_tx_order o = {
            .commodity = MKT_ELECTRICITY,
            .market = market,
            .side = !strcmp(side, "buy") ? MKT_TX_BUY : MKT_TX_SELL,
            .slot_start_ms = num(argc, argv, "--slot", true, 0),
            .qty_wh = num(argc, argv, "--qty", true, 0),
            .price_micro_per_kwh = num(argc, argv, "--price", true, 0),
        };
        type = GL__MKT_TX_TYPE__MKT_TX_PLACE_ORDER;
        rc = mkt_payload_place_order(&o, &pl, &pll);
    } else if (!strcmp(kind, "clear")) {
        type = GL__MKT_TX_TYPE__MKT_TX_CLEAR;
        rc = mkt_payload_clear(MKT_ELECTRICITY, market, num(argc, argv, "--slot", true, 0), &pl,
                               &pll);
    } else {
        return 2; /* not reached: kind is one of kinds */
    }
    if (rc || chain_tx_build(chain_id, nonce, type, pl, pll, pk, sk, &tx, &txl)) {
        fprintf(stderr, "itest_mkt_tx: cannot build the %s transaction (%d)\n", kind, rc);
        free(pl);
        return 2;
    }
    uint8_t hash[CHAIN_HASH_BYTES];
    chain_hash(hash, CHAIN_TAG_TX, tx, txl);
    char *hex = malloc(2 * txl + 1), hh[2 * CHAIN_HASH_BYTES + 1];
    if (!hex)
        return 2;
    chain_hex(hex, tx, txl);
    chain_hex(hh, hash, CHAIN_HASH_BYTES);
    printf("%s %s\n", hex, hh);
    free(hex);
    free(tx);
    free(pl);
    return 0;
}
