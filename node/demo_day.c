/* demo_day.c -- gridledger-day: one trading day of a co-housing community on a
 * real network (issue 6, point 6; `make demo`).
 *
 * scripts/demo_day.py starts the network (4 validators, node0 the shadow
 * centre, an accelerated clock) and the households' simulated meters; this
 * program plays everyone else, in three steps:
 *
 *   setup   the grid company recharges every household through the signed
 *           shadow-centre API (once twice with the same bank reference), the
 *           operator funds the meter keys, sets the market parameters and
 *           registers the households with their meters, the shadow centre
 *           posts the grid tariff of every slot; writes households.json for
 *           the meters and start.json for the report
 *   trade   day-ahead orders for every slot from each household's forecast,
 *           then, before each slot's intraday gate, intraday orders that
 *           re-balance its day-ahead position with a better forecast (the
 *           sky as it is), until the day is over
 *   report  once every slot is settled, everything read as a light client
 *           (header hash, commit certificate by a quorum of the genesis
 *           validators, a proof for every value against the certified state
 *           root): prices and volumes per hour, each household's bill, and
 *           the checks -- bills add up to the money that moved, the supply
 *           invariant over every account and pool, the repeated recharge
 *           minted once, every slot settled
 *
 * Keys derive from fixed seeds ("gridledger-day household <i>"), so the
 * three steps agree without passing secrets around; they are demo keys.
 * Floats only in forecasts, never in anything sent to the chain but integer
 * Wh and micro-units. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chain_codec.h"
#include "chain_crypto.h"
#include "chain_ledger.h"
#include "mb_profile.h"
#include "mkt_meter.h"
#include "mkt_settle.h"
#include "mkt_tx.h"
#include "node_genesis.h"
#include "node_http_client.h"
#include "node_lightclient.h"
#include "rpc.h"

#define DAY_HOUSEHOLDS_MAX 200u
#define DAY_SLOT_MS        MKT_SLOT_MS_SHORT /* 5 minutes, as the Energy Collective trades */
#define DAY_SLOTS          (MKT_DAY_MS / DAY_SLOT_MS)
#define DAY_RECHARGE_MICRO (150 * CHAIN_MICRO_PER_TOKEN)
#define DAY_DEPOSIT_MICRO  (20 * CHAIN_MICRO_PER_TOKEN)
#define DAY_METER_FUND     CHAIN_MICRO_PER_TOKEN /* a meter key needs an account for its nonce */
#define DAY_ID_LEAD_MS     (30 * 60000ull)
#define DAY_WINDOW_MS      (2 * 3600000ull) /* readings have 12 s of wall time at 600x */
#define DAY_MIN_ORDER_WH   20.0
#define DAY_ID_MIN_WH      50.0
#define DAY_FEED_IN        80000u /* micro-units per kWh */
#define DAY_P2P_FEE        10000u /* the P2P grid fee, micro-units per kWh */
#define DAY_SUBMIT_CHUNK   1000u

static const char *const POOLS[] = {MKT_POOL_CLEARING_ROUNDING, MKT_POOL_FEE_ROUNDING,
                                    MKT_POOL_GRID_FEES,         MKT_POOL_SUBSIDY,
                                    MKT_POOL_PENALTIES,         MKT_POOL_DEBT_RECOVERY};

struct household {
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES];
    uint8_t mpk[CHAIN_PK_BYTES], msk[CHAIN_SK_BYTES], mseed[32];
    struct mb_profile prof;
    uint64_t nonce;
    bool flexible; /* an EV owner: bids below retail and takes what is cheap */
    /* day-ahead position per slot, signed Wh (buy +), from the fills */
    int64_t *da_wh;
    uint8_t (*da_order)[CHAIN_HASH_BYTES];
};

struct day {
    const char *dir;
    struct node_http_url rpc, shadow;
    uint32_t nh;
    uint64_t day_ms, seed, da_lead_ms;
    uint32_t mechanism;
    struct node_lc_trust trust;
    uint8_t op_pk[CHAIN_PK_BYTES], op_sk[CHAIN_SK_BYTES];
    uint8_t sh_pk[CHAIN_PK_BYTES], sh_sk[CHAIN_SK_BYTES];
    uint64_t op_nonce, sh_nonce;
    struct household *h;
    uint64_t last_auth_nonce;
    int failures;
};

/* ---- small things ---- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gridledger-day: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

static void derive(const char *what, uint32_t i, uint8_t seed[32], uint8_t pk[CHAIN_PK_BYTES],
                   uint8_t sk[CHAIN_SK_BYTES])
{
    char s[96];
    snprintf(s, sizeof s, "gridledger-day %s %u", what, i);
    crypto_generichash(seed, 32, (const uint8_t *)s, strlen(s), NULL, 0);
    crypto_sign_seed_keypair(pk, sk, seed);
}

static char *hexs(const uint8_t *b, size_t n, char *out)
{
    chain_hex(out, b, n);
    return out;
}

static const char *hh_name(uint32_t i)
{
    static char s[24];
    snprintf(s, sizeof s, "house-%02u", i + 1);
    return s;
}

/* ---- JSON-RPC ---- */

static json_t *call(const struct node_http_url *u, const char *method, json_t *params)
{
    char err[512];
    int code = 0;
    for (int attempt = 0;; attempt++) {
        json_t *r = node_rpc_call(u, method, params ? json_incref(params) : NULL, &code, NULL, err,
                                  sizeof err);
        if (r || code || attempt >= 20) {
            json_decref(params);
            if (!r && code)
                die("%s: the node refused (%d): %s", method, code, err);
            if (!r)
                die("%s: %s", method, err);
            return r;
        }
        sleep_ms(250); /* a node restarting or busy: try again */
    }
}

static json_t *call_or_null(const struct node_http_url *u, const char *method, json_t *params,
                            int *code)
{
    char err[512];
    *code = 0;
    return node_rpc_call(u, method, params, code, NULL, err, sizeof err);
}

static void head(struct day *d, uint64_t *height, uint64_t *time_ms)
{
    json_t *st = call(&d->rpc, "status", NULL);
    *height = (uint64_t)json_integer_value(json_object_get(st, "height"));
    *time_ms = (uint64_t)json_integer_value(json_object_get(st, "time_ms"));
    json_decref(st);
}

static uint64_t committed_nonce(struct day *d, const uint8_t pk[CHAIN_PK_BYTES])
{
    char hex[65];
    json_t *r = call(&d->rpc, "get_account", json_pack("{s:s}", "account", hexs(pk, 32, hex)));
    uint64_t n = (uint64_t)json_integer_value(json_object_get(r, "nonce"));
    json_decref(r);
    return n;
}

/* Signed transactions waiting to be submitted, with their hashes. */
struct batch {
    char **hex;
    uint8_t (*hash)[CHAIN_HASH_BYTES];
    size_t n, cap;
};

static void batch_add(struct batch *b, const struct day *d, uint64_t nonce, uint32_t type,
                      uint8_t *payload, size_t plen, const uint8_t *pk, const uint8_t *sk)
{
    uint8_t *tx;
    size_t tlen;
    if (chain_tx_build(d->trust.chain_id, nonce, type, payload, plen, pk, sk, &tx, &tlen))
        die("cannot sign a transaction of type %u", type);
    free(payload);
    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 256;
        b->hex = realloc(b->hex, b->cap * sizeof *b->hex);
        b->hash = realloc(b->hash, b->cap * sizeof *b->hash);
        if (!b->hex || !b->hash)
            die("out of memory");
    }
    b->hex[b->n] = malloc(2 * tlen + 1);
    if (!b->hex[b->n])
        die("out of memory");
    chain_hex(b->hex[b->n], tx, tlen);
    chain_hash(b->hash[b->n], CHAIN_TAG_TX, tx, tlen);
    free(tx);
    b->n++;
}

static void batch_free(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->hex[i]);
    free(b->hex);
    free(b->hash);
    memset(b, 0, sizeof *b);
}

/* Submit everything (in chunks of submit_txs); returns how many the node
 * refused at admission, each named on stderr when what is set. */
static size_t batch_submit(struct day *d, struct batch *b, const char *what)
{
    size_t refused = 0;
    for (size_t at = 0; at < b->n; at += DAY_SUBMIT_CHUNK) {
        size_t k = b->n - at < DAY_SUBMIT_CHUNK ? b->n - at : DAY_SUBMIT_CHUNK;
        json_t *arr = json_array();
        for (size_t i = 0; i < k; i++)
            json_array_append_new(arr, json_string(b->hex[at + i]));
        json_t *r = call(&d->rpc, "submit_txs", json_pack("{s:o}", "txs", arr));
        json_t *errs = json_object_get(r, "errors");
        for (size_t i = 0; i < json_array_size(errs); i++) {
            json_t *e = json_array_get(errs, i);
            if (json_is_null(e))
                continue;
            refused++;
            if (what)
                fprintf(stderr, "gridledger-day: %s: a transaction was refused: %s\n", what,
                        json_string_value(json_object_get(e, "message")));
        }
        json_decref(r);
    }
    return refused;
}

/* Wait for a committed transaction; returns its result name (static in a
 * small ring) or NULL after timeout_ms. */
static const char *wait_tx(struct day *d, const uint8_t hash[CHAIN_HASH_BYTES], uint64_t timeout_ms)
{
    static char ring[8][48];
    static unsigned at;
    char hex[65];
    uint64_t t0 = wall_ms();
    for (;;) {
        int code;
        json_t *r =
            call_or_null(&d->rpc, "get_tx", json_pack("{s:s}", "hash", hexs(hash, 32, hex)), &code);
        if (r) {
            char *s = ring[at++ % 8];
            snprintf(s, 48, "%s", json_string_value(json_object_get(r, "result_name")));
            json_decref(r);
            return s;
        }
        if (wall_ms() - t0 > timeout_ms)
            return NULL;
        sleep_ms(50);
    }
}

/* Wait for every transaction of b; returns how many did not end OK (named). */
static size_t batch_wait(struct day *d, struct batch *b, const char *what, size_t show)
{
    size_t bad = 0;
    for (size_t i = 0; i < b->n; i++) {
        const char *res = wait_tx(d, b->hash[i], 60000);
        if (!res)
            die("%s: transaction %zu of %zu was not committed within 60 s", what, i + 1, b->n);
        if (strcmp(res, "OK") != 0) {
            if (bad++ < show)
                fprintf(stderr, "gridledger-day: %s: a transaction failed: %s\n", what, res);
        }
    }
    return bad;
}

/* ---- the shadow-centre API ---- */

static json_t *shadow_call(struct day *d, const char *method, json_t *params, int *code)
{
    json_t *req = json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", 1, "method", method,
                            "params", params);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    uint64_t nonce = wall_ms();
    if (nonce <= d->last_auth_nonce)
        nonce = d->last_auth_nonce + 1;
    d->last_auth_nonce = nonce;
    struct rpc_shadow_auth a;
    char hdr[RPC_SHADOW_HEADER_MAX], extra[RPC_SHADOW_HEADER_MAX + 64], err[512];
    rpc_shadow_auth_sign(&a, d->trust.chain_id, nonce, body, strlen(body), d->sh_pk, d->sh_sk);
    rpc_shadow_auth_format(&a, hdr, sizeof hdr);
    snprintf(extra, sizeof extra, "%s: %s\r\n", RPC_SHADOW_SIG_HEADER, hdr);
    char *resp = NULL;
    size_t rl = 0;
    int st = 0;
    if (node_http_post_ex(&d->shadow, extra, body, strlen(body), &st, &resp, &rl, err, sizeof err))
        die("shadow API %s: %s", method, err);
    free(body);
    json_error_t je;
    json_t *r = json_loadb(resp, rl, 0, &je);
    free(resp);
    json_t *res = json_incref(json_object_get(r, "result"));
    json_t *e = json_object_get(r, "error");
    *code = e ? (int)json_integer_value(json_object_get(e, "code")) : 0;
    if (!res && !e)
        die("shadow API %s: HTTP %d without a JSON-RPC answer", method, st);
    if (!res)
        fprintf(stderr, "gridledger-day: shadow API %s: %s\n", method,
                json_string_value(json_object_get(e, "message")));
    json_decref(r);
    return res;
}

static json_t *recharge(struct day *d, uint32_t i, uint64_t amount)
{
    char hex[65], ref[64];
    snprintf(ref, sizeof ref, "BANK-%" PRIu64 "-%02u", d->day_ms / MKT_DAY_MS, i + 1);
    int code;
    json_t *r = shadow_call(d, "recharge",
                            json_pack("{s:s, s:I, s:s}", "account", hexs(d->h[i].pk, 32, hex),
                                      "amount", (json_int_t)amount, "bank_ref", ref),
                            &code);
    if (!r)
        die("recharge of %s refused (%s)", hh_name(i), rpc_err_name(code));
    return r;
}

/* ---- set-up of the day ---- */

static void load(struct day *d)
{
    char path[1024], err[512], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/genesis.json", d->dir);
    if (node_read_file(path, 1u << 20, &text, &len, err, sizeof err))
        die("%s", err);
    if (node_lc_trust_from_genesis(text, len, &d->trust, err, sizeof err))
        die("%s: %s", path, err);
    free(text);
    snprintf(path, sizeof path, "%s/operator.key", d->dir);
    if (node_key_read(path, d->op_pk, d->op_sk, err, sizeof err))
        die("%s", err);
    snprintf(path, sizeof path, "%s/shadow.key", d->dir);
    if (node_key_read(path, d->sh_pk, d->sh_sk, err, sizeof err))
        die("%s", err);
    d->h = calloc(d->nh, sizeof *d->h);
    if (!d->h)
        die("out of memory");
    for (uint32_t i = 0; i < d->nh; i++) {
        struct household *h = &d->h[i];
        uint8_t seed[32];
        derive("household", i, seed, h->pk, h->sk);
        derive("meter", i, h->mseed, h->mpk, h->msk);
        h->prof.seed = d->seed * 1000 + i;
        /* The co-housing: 6 kWp of PV on three roofs in five. */
        h->prof.pv_peak_w = i % 5 < 3 ? 6000.0 : 0.0;
        h->prof.load_base_w = 200.0 + 25.0 * (double)(i % 7);
        h->flexible = i % 4 == 3;
        h->da_wh = calloc(DAY_SLOTS, sizeof *h->da_wh);
        h->da_order = calloc(DAY_SLOTS, sizeof *h->da_order);
        if (!h->da_wh || !h->da_order)
            die("out of memory");
    }
}

/* The grid's time-of-use tariff (micro-units per kWh). */
static uint64_t retail_at(uint64_t slot_start_ms)
{
    unsigned hour = (unsigned)((slot_start_ms % MKT_DAY_MS) / 3600000u);
    if (hour >= 17 && hour < 21)
        return 380000;
    if (hour >= 6 && hour < 17)
        return 280000;
    return 200000;
}

static uint64_t slot_ms(const struct day *d, uint32_t s)
{
    return d->day_ms + (uint64_t)s * DAY_SLOT_MS;
}

static void write_households(struct day *d)
{
    char path[1024], hex[129];
    snprintf(path, sizeof path, "%s/meters", d->dir);
    if (mkdir(path, 0700) && errno != EEXIST)
        die("cannot create %s: %s", path, strerror(errno));
    json_t *arr = json_array();
    for (uint32_t i = 0; i < d->nh; i++) {
        struct household *h = &d->h[i];
        snprintf(path, sizeof path, "%s/meters/%s.key", d->dir, hh_name(i));
        FILE *f = fopen(path, "w");
        if (!f || fchmod(fileno(f), 0600))
            die("cannot write %s: %s", path, strerror(errno));
        fprintf(f, "%s\n", hexs(h->mseed, 32, hex));
        if (fclose(f))
            die("cannot write %s", path);
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:b}", "name", hh_name(i), "account",
                      hexs(h->pk, 32, hex), "meter", "", "meter_key_file", path, "seed",
                      (json_int_t)h->prof.seed, "pv_peak_w", (json_int_t)h->prof.pv_peak_w,
                      "load_w", (json_int_t)h->prof.load_base_w, "flexible", h->flexible);
        json_object_set_new(o, "meter", json_string(hexs(h->mpk, 32, hex)));
        json_array_append_new(arr, o);
    }
    snprintf(path, sizeof path, "%s/households.json", d->dir);
    if (json_dump_file(arr, path, JSON_INDENT(1)))
        die("cannot write %s", path);
    json_decref(arr);
}

static void cmd_setup(struct day *d)
{
    uint64_t height, now;
    head(d, &height, &now);
    uint64_t gate = d->day_ms - d->da_lead_ms;
    printf("chain %s at height %" PRIu64 ", chain time %" PRIu64 "; trading day starts at %" PRIu64
           ", day-ahead gate %" PRIu64 " (%.1f h ahead)\n",
           d->trust.chain_id, height, now, d->day_ms, gate, (double)(gate - now) / 3600000.0);
    if (now >= gate)
        die("the chain's clock is already past the day-ahead gate: start the network with a "
            "later trading day or a longer --da-lead-ms");

    /* 1. The grid company turns bank transfers into tokens; the first is sent twice. */
    json_t *first = NULL;
    for (uint32_t i = 0; i < d->nh; i++) {
        json_t *r = recharge(d, i, DAY_RECHARGE_MICRO);
        if (i == 0)
            first = r;
        else
            json_decref(r);
    }
    json_t *again = recharge(d, 0, DAY_RECHARGE_MICRO);
    if (!json_is_true(json_object_get(again, "repeat")) ||
        !json_equal(json_object_get(again, "hash"), json_object_get(first, "hash")))
        die("a repeated recharge was not answered with the first one");
    printf("recharged %u households with %d tokens each through the shadow-centre API "
           "(bank reference %s sent twice: answered with the first Mint, repeat=true)\n",
           d->nh, (int)(DAY_RECHARGE_MICRO / CHAIN_MICRO_PER_TOKEN),
           json_string_value(json_object_get(first, "bank_ref")));
    uint8_t h0[CHAIN_HASH_BYTES];
    if (node_lc_hex(json_object_get(first, "hash"), h0, sizeof h0))
        die("the shadow API's recharge answer has no hash");
    json_decref(first);
    json_decref(again);
    /* every Mint committed (they are the shadow key's nonces 0..n-1, in order) */
    for (int tries = 0; committed_nonce(d, d->sh_pk) < d->nh; tries++) {
        if (tries > 600)
            die("the recharges were not committed within 60 s");
        sleep_ms(100);
    }
    const char *res = wait_tx(d, h0, 30000);
    if (!res || strcmp(res, "OK"))
        die("the first recharge did not commit OK: %s", res ? res : "not committed");

    /* 2. The operator: meter accounts, market parameters, participants. */
    struct batch b = {0};
    d->op_nonce = committed_nonce(d, d->op_pk);
    for (uint32_t i = 0; i < d->nh; i++) {
        uint8_t *p;
        size_t pl;
        Gl__Transfer t = GL__TRANSFER__INIT;
        t.to.data = d->h[i].mpk;
        t.to.len = CHAIN_PK_BYTES;
        t.amount = DAY_METER_FUND;
        pl = gl__transfer__get_packed_size(&t);
        if (!(p = malloc(pl)))
            die("out of memory");
        gl__transfer__pack(&t, p);
        batch_add(&b, d, d->op_nonce++, GL__TX_TYPE__TX_TRANSFER, p, pl, d->op_pk, d->op_sk);
    }
    struct mkt_tx_params mp;
    mkt_params_default(&mp);
    mp.slot_ms = DAY_SLOT_MS;
    mp.day_ahead_lead_ms = d->da_lead_ms;
    mp.intraday_lead_ms = DAY_ID_LEAD_MS;
    mp.mechanism = d->mechanism;
    mp.fee_model = MKT_TX_FEE_UNIFORM;
    mp.fee_rate_micro_per_kwh = d->mechanism == MKT_MECH_P2P ? DAY_P2P_FEE : 0;
    mp.metering_window_ms = DAY_WINDOW_MS;
    mp.meter_epoch_ms = d->day_ms;
    mp.strike_limit = 10;
    uint8_t *p;
    size_t pl;
    if (mkt_payload_set_params(&mp, &p, &pl))
        die("cannot build the market parameters");
    batch_add(&b, d, d->op_nonce++, GL__MKT_TX_TYPE__MKT_TX_SET_PARAMS, p, pl, d->op_pk, d->op_sk);
    for (uint32_t i = 0; i < d->nh; i++) {
        struct household *h = &d->h[i];
        uint32_t kind = h->prof.pv_peak_w > 0 ? GL__PARTICIPANT_KIND__KIND_PROSUMER
                        : h->flexible         ? GL__PARTICIPANT_KIND__KIND_FLEXIBLE_LOAD
                                              : GL__PARTICIPANT_KIND__KIND_CONSUMER;
        if (mkt_payload_register(h->pk, kind, 0, h->prof.pv_peak_w > 0,
                                 (const uint8_t(*)[CHAIN_PK_BYTES])h->mpk, 1, hh_name(i),
                                 DAY_DEPOSIT_MICRO, &p, &pl))
            die("cannot build a registration");
        batch_add(&b, d, d->op_nonce++, GL__MKT_TX_TYPE__MKT_TX_REGISTER, p, pl, d->op_pk,
                  d->op_sk);
    }
    /* 3. The shadow centre posts the grid's tariff for every slot of the day. */
    d->sh_nonce = committed_nonce(d, d->sh_pk);
    for (uint32_t s = 0; s < DAY_SLOTS; s++) {
        if (mkt_payload_post_tariff(MKT_ELECTRICITY, slot_ms(d, s), retail_at(slot_ms(d, s)),
                                    DAY_FEED_IN, &p, &pl))
            die("cannot build a tariff");
        batch_add(&b, d, d->sh_nonce++, GL__MKT_TX_TYPE__MKT_TX_POST_TARIFF, p, pl, d->sh_pk,
                  d->sh_sk);
    }
    if (batch_submit(d, &b, "setup"))
        die("setup transactions were refused");
    size_t bad = batch_wait(d, &b, "setup", 5);
    if (bad)
        die("%zu setup transactions failed", bad);
    printf("operator: %u meter accounts, market parameters (5-minute slots, %s, day-ahead gate "
           "%.1f h before the day, intraday 30 min before each slot), %u participants "
           "registered with a %d-token deposit; shadow centre: %u tariffs posted\n",
           d->nh, d->mechanism == MKT_MECH_P2P ? "P2P with grid fees" : "uniform-price auction",
           (double)d->da_lead_ms / 3600000.0, d->nh, (int)(DAY_DEPOSIT_MICRO / 1000000),
           (unsigned)DAY_SLOTS);
    batch_free(&b);
    write_households(d);

    /* What the report compares against: balances and the minted total now. */
    json_t *start = json_object(), *acc = json_object();
    char hex[65];
    head(d, &height, &now);
    for (uint32_t i = 0; i < d->nh; i++) {
        json_t *r =
            call(&d->rpc, "get_account", json_pack("{s:s}", "account", hexs(d->h[i].pk, 32, hex)));
        json_object_set_new(acc, hex,
                            json_integer(json_integer_value(json_object_get(r, "balance")) +
                                         json_integer_value(json_object_get(r, "locked"))));
        json_decref(r);
    }
    json_object_set_new(start, "households", acc);
    json_object_set_new(start, "height", json_integer((json_int_t)height));
    char path[1024];
    snprintf(path, sizeof path, "%s/start.json", d->dir);
    if (json_dump_file(start, path, JSON_INDENT(1)))
        die("cannot write %s", path);
    json_decref(start);
    printf("set-up committed by height %" PRIu64 "\n", height);
}

/* ---- trading ---- */

static void place(struct day *d, struct batch *b, uint32_t i, uint32_t market, uint32_t s,
                  int64_t wh, uint64_t price)
{
    struct mkt_tx_order o = {.commodity = MKT_ELECTRICITY,
                             .market = market,
                             .side = wh > 0 ? MKT_TX_BUY : MKT_TX_SELL,
                             .slot_start_ms = slot_ms(d, s),
                             .qty_wh = (uint64_t)(wh > 0 ? wh : -wh),
                             .price_micro_per_kwh = price};
    uint8_t *p;
    size_t pl;
    if (mkt_payload_place_order(&o, &p, &pl))
        die("cannot build an order");
    batch_add(b, d, d->h[i].nonce++, GL__MKT_TX_TYPE__MKT_TX_PLACE_ORDER, p, pl, d->h[i].pk,
              d->h[i].sk);
}

/* A household's limit price: buyers pay up to retail (the flexible ones wait
 * for cheap local energy), sellers ask a little above feed-in. */
static uint64_t limit_price(const struct day *d, uint32_t i, uint32_t s, bool buy)
{
    uint64_t retail = retail_at(slot_ms(d, s));
    /* P2P: a pair with the grid pays the grid fee too (half each side) and trades at the
     * middle of the two limits, so a household that wants the grid as its backstop bids
     * twice the fee above retail and asks twice the fee below feed-in (a pair of zero
     * surplus is not worth matching) */
    uint64_t fee = d->mechanism == MKT_MECH_P2P ? DAY_P2P_FEE : 0;
    if (buy)
        return d->h[i].flexible ? (retail + DAY_FEED_IN) / 2 : retail + 2 * fee;
    return DAY_FEED_IN - 2 * fee + 5000u * (i % 5);
}

/* The filled quantity of an order once its book cleared (0 when absent). */
static int64_t fill_wh(struct day *d, uint32_t market, uint32_t s,
                       const uint8_t id[CHAIN_HASH_BYTES])
{
    uint8_t key[MKT_KEY_FILL_BYTES];
    char hex[2 * MKT_KEY_FILL_BYTES + 1];
    mkt_key_fill(key, MKT_ELECTRICITY, market, slot_ms(d, s), id);
    int code;
    json_t *r = call_or_null(&d->rpc, "get_state",
                             json_pack("{s:s}", "key", hexs(key, sizeof key, hex)), &code);
    const char *v = r ? json_string_value(json_object_get(r, "value")) : NULL;
    int64_t q = 0;
    if (v) {
        size_t n = strlen(v) / 2;
        uint8_t *buf = malloc(n ? n : 1);
        if (buf && !chain_hex_decode(v, strlen(v), buf, n)) {
            Gl__MktFill *f = gl__mkt_fill__unpack(NULL, n, buf);
            if (f) {
                q = (int64_t)f->fill_wh;
                gl__mkt_fill__free_unpacked(f, NULL);
            }
        }
        free(buf);
    }
    json_decref(r);
    return q;
}

static void cmd_trade(struct day *d)
{
    uint64_t height, now;
    for (uint32_t i = 0; i < d->nh; i++)
        d->h[i].nonce = committed_nonce(d, d->h[i].pk);
    head(d, &height, &now);
    uint64_t gate = d->day_ms - d->da_lead_ms;
    if (now >= gate)
        die("too late for the day-ahead market: chain time %" PRIu64 " is past the gate %" PRIu64,
            now, gate);
    /* 1. Day-ahead: every household, every slot, from its forecast. */
    struct batch b = {0};
    size_t nbuy = 0, nsell = 0;
    for (uint32_t s = 0; s < DAY_SLOTS; s++)
        for (uint32_t i = 0; i < d->nh; i++) {
            double f = mb_profile_energy_wh(&d->h[i].prof, slot_ms(d, s),
                                            slot_ms(d, s) + DAY_SLOT_MS, mb_profile_forecast_w);
            if (f > -DAY_MIN_ORDER_WH && f < DAY_MIN_ORDER_WH)
                continue;
            int64_t wh = (int64_t)(f > 0 ? f + 0.5 : f - 0.5);
            place(d, &b, i, MKT_DAY_AHEAD, s, wh, limit_price(d, i, s, wh > 0));
            memcpy(d->h[i].da_order[s], b.hash[b.n - 1], CHAIN_HASH_BYTES);
            d->h[i].da_wh[s] = wh; /* the order; replaced by its fill after clearing */
            *(wh > 0 ? &nbuy : &nsell) += 1;
        }
    if (batch_submit(d, &b, "day-ahead orders"))
        die("day-ahead orders were refused");
    size_t bad = batch_wait(d, &b, "day-ahead orders", 5);
    head(d, &height, &now);
    printf(
        "day-ahead: %zu buy and %zu sell orders placed (%zu failed), committed by height %" PRIu64
        ", %.1f h before the gate\n",
        nbuy, nsell, bad, height, (double)(gate - (now < gate ? now : gate)) / 3600000.0);
    if (bad)
        d->failures++;
    batch_free(&b);

    /* 2. Wait for the day-ahead clearing, then re-balance slot by slot intraday. */
    while (now < gate + 60000) {
        sleep_ms(50);
        head(d, &height, &now);
    }
    printf("day-ahead market cleared at its gate\n");
    size_t nid = 0, id_bad = 0, id_late = 0;
    uint32_t next = 0; /* first slot whose intraday orders are not placed */
    unsigned last_hour = 99;
    while (next < DAY_SLOTS) {
        head(d, &height, &now);
        struct batch ib = {0};
        /* slots whose intraday gate is less than an hour away: nowcast with the sky as it is */
        while (next < DAY_SLOTS && slot_ms(d, next) - DAY_ID_LEAD_MS <= now + 3600000u) {
            uint32_t s = next++;
            uint64_t id_gate = slot_ms(d, s) - DAY_ID_LEAD_MS;
            if (now + 10 * 60000u >= id_gate) {
                id_late++; /* too close to the gate to be sure of getting in */
                continue;
            }
            for (uint32_t i = 0; i < d->nh; i++) {
                struct household *h = &d->h[i];
                int64_t da = 0;
                if (h->da_wh[s])
                    da = (h->da_wh[s] > 0 ? 1 : -1) * fill_wh(d, MKT_DAY_AHEAD, s, h->da_order[s]);
                h->da_wh[s] = da;
                double load = mb_profile_energy_wh(
                    &h->prof, slot_ms(d, s), slot_ms(d, s) + DAY_SLOT_MS, mb_profile_forecast_w);
                double now_w = load;
                if (h->prof.pv_peak_w > 0) { /* replace the mean sky by the sky as it is */
                    double mean = 0, real = 0;
                    for (uint64_t t = slot_ms(d, s); t < slot_ms(d, s) + DAY_SLOT_MS; t += 60000) {
                        mean += h->prof.pv_peak_w * mb_profile_clear_sky(t) * 0.65 / 60.0;
                        real += h->prof.pv_peak_w * mb_profile_clear_sky(t) *
                                mb_profile_cloud(&h->prof, t) / 60.0;
                    }
                    now_w = load + mean - real;
                }
                double diff = now_w - (double)da;
                if (diff > -DAY_ID_MIN_WH && diff < DAY_ID_MIN_WH)
                    continue;
                int64_t wh = (int64_t)(diff > 0 ? diff + 0.5 : diff - 0.5);
                /* intraday: buy at retail, sell at feed-in -- the grid takes either */
                uint64_t fee = d->mechanism == MKT_MECH_P2P ? DAY_P2P_FEE : 0;
                place(d, &ib, i, MKT_INTRADAY, s, wh,
                      wh > 0 ? retail_at(slot_ms(d, s)) + 2 * fee : DAY_FEED_IN - 2 * fee);
                nid++;
            }
        }
        if (ib.n) {
            if (batch_submit(d, &ib, NULL))
                id_bad += ib.n; /* a gate passed under us; counted, not fatal */
            else
                id_bad += batch_wait(d, &ib, "intraday orders", 3);
            batch_free(&ib);
        }
        unsigned hour = (unsigned)(now >= d->day_ms ? (now - d->day_ms) / 3600000u : 99);
        if (hour < 24 && hour != last_hour && hour % 3 == 0) {
            printf("  %02u:00  %zu intraday orders so far\n", hour, nid);
            fflush(stdout);
            last_hour = hour;
        }
        sleep_ms(20);
    }
    printf(
        "intraday: %zu orders placed (%zu failed), %zu slots skipped as too close to their gate\n",
        nid, id_bad, id_late);
    /* 3. The day runs out; settlement follows by itself after each slot's window. */
    while (now < d->day_ms + MKT_DAY_MS) {
        sleep_ms(100);
        head(d, &height, &now);
    }
    printf("the trading day is over at height %" PRIu64 "\n", height);
}

/* ---- the report, verified as a light client ---- */

struct lc {
    struct day *d;
    struct node_lc_header h;
};

static void lc_head(struct lc *l)
{
    char why[512];
    json_t *r = call(&l->d->rpc, "get_header", NULL);
    if (json_is_null(json_object_get(r, "cert"))) {
        uint64_t hgt = (uint64_t)json_integer_value(json_object_get(r, "height"));
        json_decref(r);
        r = call(&l->d->rpc, "get_header", json_pack("{s:I}", "height", (json_int_t)(hgt - 1)));
    }
    int rc = node_lc_check_header_json(&l->d->trust, r, UINT64_MAX, &l->h, why, sizeof why);
    json_decref(r);
    if (rc)
        die("REFUSED: the header (%s): %s", node_lc_err_name(rc), why);
}

/* The proven value at key (NULL when proven absent); caller frees. */
static uint8_t *lc_get(struct lc *l, const uint8_t *key, size_t klen, size_t *vlen)
{
    char hex[2 * CHAIN_STATE_KEY_MAX_BYTES + 1], why[512];
    json_t *r = call(
        &l->d->rpc, "get_state",
        json_pack("{s:s, s:I}", "key", hexs(key, klen, hex), "height", (json_int_t)l->h.height));
    uint8_t *v = NULL;
    int rc = node_lc_check_state_json(&l->h, r, key, klen, &v, vlen, why, sizeof why);
    json_decref(r);
    if (rc)
        die("REFUSED: state key %s (%s): %s", hex, node_lc_err_name(rc), why);
    return v;
}

#define LC_UNPACK(l, key, klen, type, fn)                                                          \
    ({                                                                                             \
        size_t vl_;                                                                                \
        uint8_t *v_ = lc_get(l, key, klen, &vl_);                                                  \
        type *m_ = v_ ? fn(NULL, vl_, v_) : NULL;                                                  \
        if (v_ && !m_)                                                                             \
            die("a proven value at a %s key does not decode", #type);                              \
        free(v_);                                                                                  \
        m_;                                                                                        \
    })

static struct chain_account lc_account(struct lc *l, const uint8_t pk[CHAIN_PK_BYTES])
{
    uint8_t key[CHAIN_KEY_ACCOUNT_BYTES];
    chain_key_account(key, pk);
    size_t vl;
    uint8_t *v = lc_get(l, key, sizeof key, &vl);
    struct chain_account a;
    memset(&a, 0, sizeof a);
    if (v && chain_account_decode(v, vl, &a))
        die("a proven account does not decode");
    free(v);
    return a;
}

static int64_t lc_pool(struct lc *l, const char *name)
{
    uint8_t key[64];
    size_t kl = strlen("pool/") + strlen(name);
    memcpy(key, "pool/", 5);
    memcpy(key + 5, name, strlen(name));
    Gl__Pool *p = LC_UNPACK(l, key, kl, Gl__Pool, gl__pool__unpack);
    int64_t v = p ? (int64_t)p->balance : 0;
    if (p)
        gl__pool__free_unpacked(p, NULL);
    return v;
}

static void money(char *out, size_t n, int64_t micro)
{
    int64_t a = micro < 0 ? -micro : micro;
    snprintf(out, n, "%s%" PRId64 ".%02" PRId64, micro < 0 ? "-" : "", a / 1000000,
             (a % 1000000) / 10000);
}

static bool check(struct day *d, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool check(struct day *d, bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("  [%s] ", ok ? " OK " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!ok)
        d->failures++;
    return ok;
}

static void cmd_report(struct day *d)
{
    uint64_t height, now;
    uint8_t key[CHAIN_STATE_KEY_MAX_BYTES];
    /* wait for the last slot's settlement */
    uint64_t last = DAY_SLOTS - 1;
    for (uint64_t t0 = wall_ms();;) {
        struct lc l = {.d = d};
        lc_head(&l);
        mkt_key_slot_settlement(key, slot_ms(d, (uint32_t)last));
        size_t vl;
        uint8_t *v = lc_get(&l, key, MKT_KEY_SLOT_SETTLEMENT_BYTES, &vl);
        free(v);
        if (v)
            break;
        if (wall_ms() - t0 > 180000)
            die("the last slot of the day was not settled within 180 s of the report starting");
        sleep_ms(200);
    }
    struct lc l = {.d = d};
    lc_head(&l);
    head(d, &height, &now);
    char root[65], bh[65];
    printf("\nEverything below is verified as a light client at height %" PRIu64
           " (block %.16s..., state root %.16s...): header hash, commit certificate by a quorum "
           "of the %u genesis validators (%s), and a proof for every value.\n",
           l.h.height, hexs(l.h.hash, 32, bh), hexs(l.h.state_root, 32, root), d->trust.n,
           d->trust.engine == CONS_ENGINE_PBFT ? "pbft" : "raft");

    /* Prices and volumes per hour. */
    printf("\n%s\n", d->mechanism == MKT_MECH_P2P
                         ? "day-ahead price: the local pair trades' mean price, weighted by volume"
                         : "day-ahead price: the uniform clearing price, mean over the hour");
    printf("hour   day-ahead price   local    grid in  grid out  intraday   metered load  PV out  "
           "mu\n       (per kWh)         (kWh)    (kWh)    (kWh)     (kWh)      (kWh)         "
           "(kWh)\n");
    uint64_t tot_local = 0, tot_gin = 0, tot_gout = 0, tot_id = 0, tot_load = 0, tot_pv = 0;
    uint32_t settled = 0, with_all = 0;
    for (unsigned hr = 0; hr < 24; hr++) {
        uint64_t price_sum = 0, nprice = 0, local = 0, gin = 0, gout = 0, idv = 0, load = 0, pv = 0,
                 mu = 0;
        for (uint32_t s = hr * 12; s < hr * 12 + 12; s++) {
            for (uint32_t m = MKT_DAY_AHEAD; m <= MKT_INTRADAY; m++) {
                mkt_key_result(key, MKT_ELECTRICITY, m, slot_ms(d, s));
                Gl__MktResult *r =
                    LC_UNPACK(&l, key, MKT_KEY_RESULT_BYTES, Gl__MktResult, gl__mkt_result__unpack);
                if (!r)
                    continue;
                uint64_t grid = r->grid_buy_wh + r->grid_sell_wh;
                if (m == MKT_DAY_AHEAD && r->mechanism == MKT_MECH_P2P) {
                    /* P2P: every pair trades at its own price; show the local trades'
                     * volume-weighted mean (each trade proven like the rest) */
                    for (uint32_t k = 0; k < r->ntrades; k++) {
                        uint8_t tk[MKT_KEY_TRADE_BYTES];
                        mkt_key_trade(tk, MKT_ELECTRICITY, m, slot_ms(d, s), k);
                        Gl__MktTrade *t =
                            LC_UNPACK(&l, tk, sizeof tk, Gl__MktTrade, gl__mkt_trade__unpack);
                        if (!t)
                            die("result of slot %u names %u trades; trade %u is proven absent", s,
                                r->ntrades, k);
                        if (t->buy.len && t->sell.len) {
                            local += t->qty_wh;
                            price_sum += t->price * t->qty_wh;
                            nprice += t->qty_wh;
                        } else if (t->buy.len) {
                            gin += t->qty_wh; /* the grid sold */
                        } else {
                            gout += t->qty_wh; /* the grid bought */
                        }
                        gl__mkt_trade__free_unpacked(t, NULL);
                    }
                } else if (m == MKT_DAY_AHEAD) {
                    price_sum += r->price;
                    nprice++;
                    local += r->volume_wh > grid ? r->volume_wh - grid : 0;
                    gin += r->grid_sell_wh;
                    gout += r->grid_buy_wh;
                } else {
                    idv += r->volume_wh;
                }
                gl__mkt_result__free_unpacked(r, NULL);
            }
            mkt_key_slot_settlement(key, slot_ms(d, s));
            Gl__MktSlotSettlement *ss =
                LC_UNPACK(&l, key, MKT_KEY_SLOT_SETTLEMENT_BYTES, Gl__MktSlotSettlement,
                          gl__mkt_slot_settlement__unpack);
            if (ss) {
                settled++;
                load += ss->load_wh;
                pv += ss->renewable_export_wh;
                mu += ss->mu_ppm;
                with_all += ss->participants == d->nh;
                gl__mkt_slot_settlement__free_unpacked(ss, NULL);
            }
        }
        char pr[32];
        if (nprice)
            money(pr, sizeof pr, (int64_t)(price_sum / nprice));
        /* (P2P: price_sum is price x Wh, nprice Wh) */
        else
            snprintf(pr, sizeof pr, "-");
        printf("%02u:00  %10s      %7.1f  %7.1f  %7.1f   %7.1f    %9.1f    %7.1f  %.2f\n", hr, pr,
               (double)local / 1000, (double)gin / 1000, (double)gout / 1000, (double)idv / 1000,
               (double)load / 1000, (double)pv / 1000, (double)mu / 12e6);
        tot_local += local;
        tot_gin += gin;
        tot_gout += gout;
        tot_id += idv;
        tot_load += load;
        tot_pv += pv;
    }
    printf("day    %10s      %7.1f  %7.1f  %7.1f   %7.1f    %9.1f    %7.1f\n", "",
           (double)tot_local / 1000, (double)tot_gin / 1000, (double)tot_gout / 1000,
           (double)tot_id / 1000, (double)tot_load / 1000, (double)tot_pv / 1000);

    /* Bills. */
    char path[1024], err[512], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/start.json", d->dir);
    if (node_read_file(path, 1u << 20, &text, &len, err, sizeof err))
        die("%s (run setup first)", err);
    json_error_t je;
    json_t *start = json_loadb(text, len, 0, &je);
    free(text);
    json_t *start_acc = json_object_get(start, "households");
    time_t day_s = (time_t)(d->day_ms / 1000);
    struct tm tm;
    gmtime_r(&day_s, &tm);
    printf("\nbills for %04d-%02d-%02d, UTC (tokens; net = what the day's settlements moved)\n",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    printf("household  PV   import   export   market   market   imbal.   imbal.  penalty  subsidy  "
           "points  missing   net\n                (kWh)    (kWh)     paid   received   charge   "
           "credit\n");
    uint32_t money_ok = 0, missing_total = 0;
    for (uint32_t i = 0; i < d->nh; i++) {
        struct household *h = &d->h[i];
        int64_t delta = 0;
        Gl__MktBill *bill = NULL;
        for (int k = -1; k <= 1; k++) {
            mkt_key_bill(key, d->day_ms + (uint64_t)((int64_t)k * (int64_t)MKT_DAY_MS), h->pk);
            Gl__MktBill *b =
                LC_UNPACK(&l, key, MKT_KEY_BILL_BYTES, Gl__MktBill, gl__mkt_bill__unpack);
            if (!b)
                continue;
            delta += -(int64_t)b->market_paid + (int64_t)b->market_received -
                     (int64_t)b->imbalance_charge + (int64_t)b->imbalance_credit -
                     (int64_t)b->penalty + b->subsidy + (int64_t)b->debt_added -
                     (int64_t)b->debt_repaid;
            if (k == 0)
                bill = b;
            else
                gl__mkt_bill__free_unpacked(b, NULL);
        }
        char hex[65], c[8][24];
        struct chain_account a = lc_account(&l, h->pk);
        json_int_t before = json_integer_value(json_object_get(start_acc, hexs(h->pk, 32, hex)));
        bool ok = a.balance + a.locked == (int64_t)before + delta;
        money_ok += ok;
        if (!bill) {
            printf("%-9s  %-3s  no bill (proven absent)\n", hh_name(i),
                   h->prof.pv_peak_w > 0 ? "yes" : "no");
            continue;
        }
        missing_total += bill->missing;
        money(c[0], 24, (int64_t)bill->market_paid);
        money(c[1], 24, (int64_t)bill->market_received);
        money(c[2], 24, (int64_t)bill->imbalance_charge);
        money(c[3], 24, (int64_t)bill->imbalance_credit);
        money(c[4], 24, (int64_t)bill->penalty);
        money(c[5], 24, bill->subsidy);
        money(c[6], 24, delta);
        printf("%-9s  %-3s  %7.1f  %7.1f  %7s  %7s  %7s  %7s  %7s  %7s  %6" PRIu64 "  %5u  %7s%s\n",
               hh_name(i), h->prof.pv_peak_w > 0 ? "yes" : "no", (double)bill->import_wh / 1000,
               (double)bill->export_wh / 1000, c[0], c[1], c[2], c[3], c[4], c[5], bill->points,
               bill->missing, c[6], ok ? "" : "  <- does not match the account");
        gl__mkt_bill__free_unpacked(bill, NULL);
    }

    /* Supply: every account this chain has and every pool, against minted - burned. */
    printf("\nchecks\n");
    int64_t sum = 0;
    snprintf(path, sizeof path, "%s/genesis.json", d->dir);
    if (node_read_file(path, 1u << 20, &text, &len, err, sizeof err))
        die("%s", err);
    json_t *g = json_loadb(text, len, 0, &je);
    free(text);
    json_t *gacc = json_object_get(g, "accounts");
    size_t naccounts = 0;
    for (size_t k = 0; k < json_array_size(gacc); k++) {
        uint8_t pk[CHAIN_PK_BYTES];
        if (node_lc_hex(json_object_get(json_array_get(gacc, k), "key"), pk, sizeof pk))
            die("genesis.json: an account key is not 64 hex digits");
        struct chain_account a = lc_account(&l, pk);
        sum += a.balance + a.locked;
        naccounts++;
    }
    json_decref(g);
    for (uint32_t i = 0; i < d->nh; i++) {
        struct chain_account a = lc_account(&l, d->h[i].pk), m = lc_account(&l, d->h[i].mpk);
        sum += a.balance + a.locked + m.balance + m.locked;
        naccounts += 2;
    }
    int64_t pools = 0;
    for (size_t k = 0; k < sizeof POOLS / sizeof POOLS[0]; k++)
        pools += lc_pool(&l, POOLS[k]);
    memcpy(key, "sys/supply", 10);
    Gl__Supply *sup = LC_UNPACK(&l, key, 10, Gl__Supply, gl__supply__unpack);
    if (!sup)
        die("the chain has no supply record");
    int64_t issued = (int64_t)sup->minted - (int64_t)sup->burned;
    char c1[24], c2[24], c3[24];
    money(c1, sizeof c1, sum);
    money(c2, sizeof c2, pools);
    money(c3, sizeof c3, issued);
    check(d, sum + pools == issued,
          "supply: %zu accounts %s + %zu pools %s = minted - burned %s tokens", naccounts, c1,
          sizeof POOLS / sizeof POOLS[0], c2, c3);
    check(d, money_ok == d->nh,
          "bills add up to the money moved: %u of %u households' balance + locked = start + "
          "their bills",
          money_ok, d->nh);
    /* the repeated bank reference minted once: each household holds exactly one recharge */
    int code;
    json_t *rec = shadow_call(d, "reconciliation", json_object(), &code);
    if (rec) {
        char *t = json_dumps(rec, JSON_COMPACT);
        printf("  reconciliation (shadow-centre API): %s\n", t);
        free(t);
        json_decref(rec);
    }
    json_t *again = recharge(d, 0, DAY_RECHARGE_MICRO);
    check(d,
          json_is_true(json_object_get(again, "repeat")) &&
              !strcmp(json_string_value(json_object_get(again, "status")), "committed"),
          "a third recharge with bank reference %s is a repeat of the committed first one and "
          "mints nothing",
          json_string_value(json_object_get(again, "bank_ref")));
    json_decref(again);
    check(d, settled == DAY_SLOTS, "%u of %u slots settled", settled, (unsigned)DAY_SLOTS);
    check(d, with_all == DAY_SLOTS, "%u of %u slots settled all %u households", with_all,
          (unsigned)DAY_SLOTS, d->nh);
    check(d, missing_total * 100 <= (uint32_t)DAY_SLOTS * d->nh,
          "%u of %u household-slots without a meter reading (at most 1%% allowed)", missing_total,
          (unsigned)DAY_SLOTS * d->nh);
    gl__supply__free_unpacked(sup, NULL);
    json_decref(start);
    (void)height;
    (void)now;
}

/* ---- command line ---- */

static const char USAGE[] =
    "usage: gridledger-day setup|trade|report --dir NET --rpc URL --shadow-rpc URL --day-ms T\n"
    "                      [--households N] [--seed S] [--da-lead-ms L] [--mechanism "
    "uniform|p2p]\n"
    "One trading day of a co-housing community on a running network (scripts/demo_day.py\n"
    "starts the network and the meters, then runs the three steps):\n"
    "  setup   recharge households (shadow-centre API), fund meter keys, set market\n"
    "          parameters, register participants, post the day's tariffs;\n"
    "          writes NET/households.json (meters) and NET/start.json\n"
    "  trade   day-ahead orders for every slot, intraday re-balancing before each gate,\n"
    "          until the day is over\n"
    "  report  once the day is settled: prices, volumes, bills and the checks, every value\n"
    "          verified as a light client; exit 1 when a check fails\n"
    "NET is the directory of `gridnode testnet` (genesis.json, operator.key, shadow.key).\n"
    "T is the UTC midnight that starts the trading day (ms); N households (default 20).\n";

int main(int argc, char **argv)
{
    struct day d;
    memset(&d, 0, sizeof d);
    d.nh = 20;
    d.seed = 7;
    d.da_lead_ms = 2 * 3600000ull;
    d.mechanism = MKT_MECH_UNIFORM;
    const char *rpc = NULL, *shadow = NULL, *cmd = NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "gridledger-day: %s needs a value\n%s", a, USAGE);
            return 2;
        }
        i++;
        char *end = (char *)"";
        if (!strcmp(a, "--dir"))
            d.dir = v;
        else if (!strcmp(a, "--rpc"))
            rpc = v;
        else if (!strcmp(a, "--shadow-rpc"))
            shadow = v;
        else if (!strcmp(a, "--day-ms"))
            d.day_ms = strtoull(v, &end, 10);
        else if (!strcmp(a, "--households"))
            d.nh = (uint32_t)strtoul(v, &end, 10);
        else if (!strcmp(a, "--seed"))
            d.seed = strtoull(v, &end, 10);
        else if (!strcmp(a, "--da-lead-ms"))
            d.da_lead_ms = strtoull(v, &end, 10);
        else if (!strcmp(a, "--mechanism")) {
            if (!strcmp(v, "uniform"))
                d.mechanism = MKT_MECH_UNIFORM;
            else if (!strcmp(v, "p2p"))
                d.mechanism = MKT_MECH_P2P;
            else {
                fprintf(stderr, "gridledger-day: --mechanism is uniform or p2p\n");
                return 2;
            }
            continue;
        } else {
            fprintf(stderr, "gridledger-day: unknown option %s\n%s", a, USAGE);
            return 2;
        }
        if (*end || !*v) {
            fprintf(stderr, "gridledger-day: %s must be a decimal integer, got \"%s\"\n", a, v);
            return 2;
        }
    }
    if (!d.dir || !rpc || !shadow || !d.day_ms) {
        fprintf(stderr, "gridledger-day: --dir, --rpc, --shadow-rpc and --day-ms are required\n%s",
                USAGE);
        return 2;
    }
    if (d.day_ms % MKT_DAY_MS)
        die("--day-ms must be a UTC midnight (a multiple of 86400000)");
    if (!d.nh || d.nh > DAY_HOUSEHOLDS_MAX)
        die("--households must be 1 to %u", DAY_HOUSEHOLDS_MAX);
    if (d.da_lead_ms > MKT_LEAD_MS_MAX || d.da_lead_ms < DAY_ID_LEAD_MS)
        die("--da-lead-ms must be from 30 minutes to 2 days");
    char err[512];
    if (node_http_parse_url(rpc, &d.rpc, err, sizeof err))
        die("--rpc: %s", err);
    if (node_http_parse_url(shadow, &d.shadow, err, sizeof err))
        die("--shadow-rpc: %s", err);
    if (sodium_init() < 0)
        die("libsodium does not initialise");
    load(&d);
    if (!strcmp(cmd, "setup"))
        cmd_setup(&d);
    else if (!strcmp(cmd, "trade"))
        cmd_trade(&d);
    else if (!strcmp(cmd, "report"))
        cmd_report(&d);
    else {
        fprintf(stderr, "gridledger-day: unknown command \"%s\"\n%s", cmd, USAGE);
        return 2;
    }
    for (uint32_t i = 0; i < d.nh; i++) {
        free(d.h[i].da_wh);
        free(d.h[i].da_order);
        sodium_memzero(d.h[i].sk, sizeof d.h[i].sk);
        sodium_memzero(d.h[i].msk, sizeof d.h[i].msk);
    }
    free(d.h);
    sodium_memzero(d.op_sk, sizeof d.op_sk);
    sodium_memzero(d.sh_sk, sizeof d.sh_sk);
    if (d.failures)
        printf("\n%d check(s) FAILED\n", d.failures);
    return d.failures ? 1 : 0;
}
