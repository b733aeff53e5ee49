/* meter_node_ctl.c -- the checker's side of tests/integration/meter_node_crash.sh: a
 * small test tool, not a product.
 *
 *   meter-node-ctl --rpc URL readings --genesis FILE --meter PK --slots FROM:TO
 *
 * What the chain holds for a meter, read as a light client trusting only genesis.json
 * (node/node_lightclient.h): the "meter/" reading key (mkt_key_reading) and the
 * "mkt/ev/" evidence key (mkt_key_evidence) of every slot in the range, and the meter
 * account's nonce, all proven under one header certified by the genesis validators.
 * Prints `reading SLOT import_wh .. export_wh .. cum_import_wh .. cum_export_wh .. flags
 * .. slot_len_s ..` per stored reading, `evidence SLOT` per evidence record, and a last
 * line `verified at height H ...: N readings, E evidence, meter nonce K`.  gridctl has no
 * command that reads readings; the operator's transactions the test needs (transfer,
 * participant register, params set) are gridctl's.  Exit status 0, or 1 with the
 * reason on stderr, 2 for a usage error. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chain_codec.h"
#include "chain_crypto.h"
#include "meter.pb-c.h"
#include "mkt_meter.h"
#include "node_http_client.h"
#include "node_lightclient.h"

#define RPC_NOT_FOUND  (-32002)
#define CERT_LOOKBACK  16u
#define MAX_SLOT_RANGE 100000u
#define GENESIS_MAX    (16u << 20)

static struct node_http_url url;

static const char *arg(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

static int need_pk(int argc, char **argv, const char *name, uint8_t pk[CHAIN_PK_BYTES])
{
    const char *v = arg(argc, argv, name);
    if (!v || chain_hex_decode(v, strlen(v), pk, CHAIN_PK_BYTES) != 0) {
        fprintf(stderr, "meter-node-ctl: %s takes a public key: 64 hex digits\n", name);
        return -1;
    }
    return 0;
}

/* One call; NULL with the reason printed (and *code set) on failure. */
static json_t *call(const char *method, json_t *params, int *code, json_t **data)
{
    char err[512];
    int c = 0;
    json_t *r = node_rpc_call(&url, method, params, &c, data, err, sizeof err);
    if (code)
        *code = c;
    if (!r && !(code && c == RPC_NOT_FOUND))
        fprintf(stderr, "meter-node-ctl: %s: %s\n", method, err);
    return r;
}

/* ---- reading back, verified ---- */

static int load_trust(const char *path, struct node_lc_trust *t)
{
    char why[256];
    FILE *f = path ? fopen(path, "rb") : NULL;
    if (!f) {
        fprintf(stderr, "meter-node-ctl: --genesis FILE: cannot open %s\n", path ? path : "(none)");
        return -1;
    }
    char *text = malloc(GENESIS_MAX);
    size_t n = text ? fread(text, 1, GENESIS_MAX, f) : 0;
    fclose(f);
    int rc = text ? node_lc_trust_from_genesis(text, n, t, why, sizeof why) : NODE_LC_ERR_NOMEM;
    free(text);
    if (rc) {
        fprintf(stderr, "meter-node-ctl: %s: %s\n", path, rc == NODE_LC_ERR_NOMEM ? "oom" : why);
        return -1;
    }
    return 0;
}

/* The newest header the node can certify (a follower learns a block's
 * certificate one round after the block). */
static int certified_head(const struct node_lc_trust *t, struct node_lc_header *h)
{
    char why[512];
    json_t *st = call("status", NULL, NULL, NULL);
    json_t *jh = st ? json_object_get(st, "height") : NULL;
    if (!json_is_integer(jh)) {
        json_decref(st);
        return -1;
    }
    uint64_t head = (uint64_t)json_integer_value(jh);
    json_decref(st);
    for (uint64_t k = 0; k <= CERT_LOOKBACK && k < head; k++) {
        json_t *r =
            call("get_header", json_pack("{s:I}", "height", (json_int_t)(head - k)), NULL, NULL);
        if (!r)
            return -1;
        int rc = node_lc_check_header_json(t, r, head - k, h, why, sizeof why);
        json_decref(r);
        if (rc == NODE_LC_ERR_OK)
            return 0;
        if (rc != NODE_LC_ERR_NO_CERT) {
            fprintf(stderr, "meter-node-ctl: REFUSED: header %" PRIu64 ": %s\n", head - k, why);
            return -1;
        }
    }
    fprintf(stderr, "meter-node-ctl: no certified header within %u of height %" PRIu64 "\n",
            CERT_LOOKBACK, head);
    return -1;
}

/* The proven value at key under h: 1 present (*v malloc'd), 0 absent, -1 refused. */
static int proven(const struct node_lc_header *h, const uint8_t *key, size_t klen, uint8_t **v,
                  size_t *vlen)
{
    char kh[2 * 64 + 1], why[512];
    chain_hex(kh, key, klen);
    json_t *r =
        call("get_state", json_pack("{s:s, s:I}", "key", kh, "height", (json_int_t)h->height), NULL,
             NULL);
    if (!r)
        return -1;
    int rc = node_lc_check_state_json(h, r, key, klen, v, vlen, why, sizeof why);
    json_decref(r);
    if (rc) {
        fprintf(stderr, "meter-node-ctl: REFUSED: key %s: %s\n", kh, why);
        return -1;
    }
    return *v != NULL;
}

static int cmd_readings(int argc, char **argv)
{
    struct node_lc_trust trust;
    struct node_lc_header h;
    uint8_t meter[CHAIN_PK_BYTES];
    const char *range = arg(argc, argv, "--slots");
    unsigned long long from, to;
    char tail;
    if (load_trust(arg(argc, argv, "--genesis"), &trust) || need_pk(argc, argv, "--meter", meter))
        return 1;
    if (!range || sscanf(range, "%llu:%llu%c", &from, &to, &tail) != 2 || to < from ||
        to - from > MAX_SLOT_RANGE) {
        fprintf(stderr, "meter-node-ctl: --slots FROM:TO (at most %u slots)\n", MAX_SLOT_RANGE);
        return 1;
    }
    if (certified_head(&trust, &h))
        return 1;
    uint64_t readings = 0, evidence = 0;
    for (uint64_t s = from; s <= to; s++) {
        uint8_t key[MKT_KEY_READING_BYTES], ek[MKT_KEY_EVIDENCE_BYTES], *v = NULL;
        size_t vl;
        mkt_key_reading(key, meter, s);
        int got = proven(&h, key, sizeof key, &v, &vl);
        if (got < 0)
            return 1;
        if (got) {
            ProtobufCMessage *m = NULL;
            int rc = chain_pb_unpack(&gl__meter_reading__descriptor, v, vl,
                                     CHAIN_TX_PAYLOAD_MAX_BYTES, &m);
            free(v);
            if (rc) {
                fprintf(stderr,
                        "meter-node-ctl: slot %" PRIu64 ": the proven reading does not "
                        "decode\n",
                        s);
                return 1;
            }
            const Gl__MeterReading *r = (const Gl__MeterReading *)m;
            if (r->meter.len != CHAIN_PK_BYTES || memcmp(r->meter.data, meter, CHAIN_PK_BYTES) ||
                r->slot != s) {
                fprintf(stderr,
                        "meter-node-ctl: slot %" PRIu64 ": the reading stored under this "
                        "key names another meter or slot\n",
                        s);
                protobuf_c_message_free_unpacked(m, NULL);
                return 1;
            }
            printf("reading %" PRIu64 " import_wh %" PRIu64 " export_wh %" PRIu64
                   " cum_import_wh %" PRIu64 " cum_export_wh %" PRIu64 " flags %u slot_len_s %u\n",
                   s, r->import_wh, r->export_wh, r->cum_import_wh, r->cum_export_wh, r->flags,
                   r->slot_len_s);
            protobuf_c_message_free_unpacked(m, NULL);
            readings++;
        }
        mkt_key_evidence(ek, meter, s);
        v = NULL;
        got = proven(&h, ek, sizeof ek, &v, &vl);
        free(v);
        if (got < 0)
            return 1;
        if (got) {
            printf("evidence %" PRIu64 "\n", s);
            evidence++;
        }
    }
    /* the meter account's nonce under the same header: one per reading transaction */
    char pkh[2 * CHAIN_PK_BYTES + 1], why[512];
    struct chain_account a;
    chain_hex(pkh, meter, CHAIN_PK_BYTES);
    json_t *r =
        call("get_account", json_pack("{s:s, s:I}", "account", pkh, "height", (json_int_t)h.height),
             NULL, NULL);
    if (!r)
        return 1;
    int rc = node_lc_check_account_json(&h, r, meter, &a, why, sizeof why);
    json_decref(r);
    if (rc) {
        fprintf(stderr, "meter-node-ctl: REFUSED: the meter account: %s\n", why);
        return 1;
    }
    printf("verified at height %" PRIu64 " against %u genesis validators: %" PRIu64
           " readings, %" PRIu64 " evidence, meter nonce %" PRIu64 "\n",
           h.height, trust.n, readings, evidence, a.nonce);
    return 0;
}

int main(int argc, char **argv)
{
    char err[256];
    if (chain_crypto_init() || argc < 4 || strcmp(argv[1], "--rpc") != 0) {
        fprintf(stderr, "usage: meter-node-ctl --rpc URL readings ... "
                        "(see the comment of tests/integration/meter_node_ctl.c)\n");
        return 2;
    }
    if (node_http_parse_url(argv[2], &url, err, sizeof err)) {
        fprintf(stderr, "meter-node-ctl: --rpc: %s\n", err);
        return 2;
    }
    const char *cmd = argv[3];
    argc -= 4;
    argv += 4;
    if (!strcmp(cmd, "readings"))
        return cmd_readings(argc, argv);
    fprintf(stderr, "meter-node-ctl: unknown command %s\n", cmd);
    return 2;
}
