/* gridmeter.c -- the meter bridge: poll a meter over Modbus, cut per-slot
 * readings, sign them with the meter key, keep them in the LMDB queue until
 * a node has committed them (DESIGN.md, Meter bridge; meterbridge/README.md).
 *
 *   gridmeter -c FILE            run
 *   gridmeter keygen FILE        write a new meter key seed (hex) and print its public key
 *   gridmeter pubkey -c FILE     print the configured meter key's public key
 *   gridmeter --help             the config reference */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "chain_crypto.h"
#include "mb_ckpt.h"
#include "mb_config.h"
#include "mb_poll.h"
#include "mb_queue.h"
#include "mb_reading.h"
#include "mb_sink.h"
#include "mb_slot.h"
#include "node_lightclient.h"

static const char usage[] =
    "usage: gridmeter -c FILE | keygen FILE | pubkey -c FILE | --help\n"
    "\n"
    "gridmeter polls a smart meter over Modbus TCP or RTU, turns its cumulative import and\n"
    "export registers into one signed reading per market slot, and keeps every reading in a\n"
    "local LMDB queue until a node has committed it.\n"
    "\n"
    "Config file: `key = value` lines, `#` comments, and `register NAME k=v ...` lines\n"
    "(NAME is import, export or serial).  Keys, with defaults:\n"
    "  chain_id = ID                  required; the chain the readings are for\n"
    "  key_file = PATH                required; the meter key seed, 64 hex characters\n"
    "  queue_dir = DIR                required; LMDB queue and slot checkpoint\n"
    "  node = http://127.0.0.1:26657  the node's JSON-RPC address; `mem:` or `mem:LOGFILE`\n"
    "                                 is the test sink (no node; with LOGFILE it persists)\n"
    "  verify_proof = false           count a reading committed only with a state proof\n"
    "                                 under a header certified by the genesis validators\n"
    "  genesis = FILE                 the chain's genesis.json (relative to the config file);\n"
    "                                 required with verify_proof = true\n"
    "  map = FILE                     register map (relative to the config file), e.g.\n"
    "                                 maps/sdm630.conf or maps/em24.conf\n"
    "  transport = tcp                tcp | rtu\n"
    "  host = 127.0.0.1   port = 502  Modbus TCP\n"
    "  device = /dev/ttyUSB0  baud = 9600  parity = N  data_bits = 8  stop_bits = 1   RTU\n"
    "  unit_id = 1                    Modbus unit (slave) id\n"
    "  poll_interval_ms = 1000        timeout_ms = 500 (Modbus response timeout)\n"
    "  slot_len_s = 900               slot_epoch_ms = 0 (the chain's genesis time)\n"
    "  boundary_tolerance_ms = 5000   how late a sample may close a slot\n"
    "  max_power_w = 100000           a faster rise counts as a meter replacement\n"
    "  queue_max = 10000              readings held; beyond: QUEUE_FULL\n"
    "  queue_map_bytes = 4194304      LMDB map size\n"
    "  retry_min_ms = 1000  retry_max_ms = 300000   capped exponential backoff\n"
    "  rpc_timeout_ms = 3000\n"
    "  accel = 1  start_ms = 0        demo clock: t = start + (now - start) * accel\n"
    "Register line keys: addr=N (0-based, decimal or 0x hex)  fn=3|4  "
    "type=u16|u32|s32|u64|float32\n"
    "  order=big|little (word order)  scale=Wh-per-unit (1000, 1/10 or 0.1)\n"
    "Wh = floor(value x scale).  See meterbridge/README.md for the slot rules and flags.\n";

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The meter's clock: real time, or the demo's accelerated time. */
static uint64_t meter_ms(const struct mb_config *cfg)
{
    uint64_t now = wall_ms();
    if (cfg->accel <= 1 || now < cfg->start_ms)
        return now;
    return cfg->start_ms + (now - cfg->start_ms) * cfg->accel;
}

static int read_key(const char *path, uint8_t pk[CHAIN_PK_BYTES], uint8_t sk[CHAIN_SK_BYTES])
{
    char hex[80] = {0};
    uint8_t seed[32];
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "gridmeter: key_file %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t n = fread(hex, 1, sizeof hex - 1, f);
    fclose(f);
    while (n && (hex[n - 1] == '\n' || hex[n - 1] == '\r' || hex[n - 1] == ' '))
        n--;
    if (n != 64) {
        fprintf(stderr, "gridmeter: key_file %s: expected 64 hex characters\n", path);
        return -1;
    }
    for (size_t i = 0; i < 32; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            fprintf(stderr, "gridmeter: key_file %s: not hex\n", path);
            return -1;
        }
        seed[i] = (uint8_t)v;
    }
    chain_keypair_from_seed(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
    return 0;
}

#define GENESIS_MAX_BYTES (16u << 20)

/* What the genesis file makes us trust: its chain id (which must be ours),
 * engine and validators.  Prints the reason and returns -1 when unusable. */
static int read_trust(const struct mb_config *cfg, struct node_lc_trust *t /* OUT */)
{
    char why[256];
    FILE *f = fopen(cfg->genesis_path, "rb");
    if (!f) {
        fprintf(stderr, "gridmeter: genesis %s: %s\n", cfg->genesis_path, strerror(errno));
        return -1;
    }
    char *text = malloc(GENESIS_MAX_BYTES + 1);
    size_t n = text ? fread(text, 1, GENESIS_MAX_BYTES + 1, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (!text || err || n > GENESIS_MAX_BYTES) {
        fprintf(stderr, "gridmeter: genesis %s: %s\n", cfg->genesis_path,
                !text ? "out of memory"
                : err ? "read error"
                      : "larger than 16 MiB");
        free(text);
        return -1;
    }
    int rc = node_lc_trust_from_genesis(text, n, t, why, sizeof why);
    free(text);
    if (rc) {
        fprintf(stderr, "gridmeter: genesis %s: %s\n", cfg->genesis_path, why);
        return -1;
    }
    if (strcmp(t->chain_id, cfg->chain_id) != 0) {
        fprintf(stderr, "gridmeter: genesis %s is for chain \"%s\", but chain_id = %s\n",
                cfg->genesis_path, t->chain_id, cfg->chain_id);
        return -1;
    }
    return 0;
}

static void print_pk(const uint8_t pk[CHAIN_PK_BYTES])
{
    char h[2 * CHAIN_PK_BYTES + 1];
    chain_hex(h, pk, CHAIN_PK_BYTES);
    printf("%s\n", h);
}

static int keygen(const char *path)
{
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES];
    chain_keypair_random(pk, sk);
    char h[65];
    chain_hex(h, sk, 32); /* libsodium's secret key starts with the seed */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        fprintf(stderr, "gridmeter: keygen %s: %s\n", path, strerror(errno));
        return 1;
    }
    FILE *f = fdopen(fd, "w");
    fprintf(f, "%s\n", h);
    fclose(f);
    print_pk(pk);
    return 0;
}

struct bridge {
    struct mb_config cfg;
    struct mb_slot_params params;
    struct mb_slot_acc acc;
    struct mb_ckpt ckpt;
    struct mb_queue *q;
    struct mb_sink sink;
    struct mb_poller *poller;
    struct node_lc_trust trust; /* with verify_proof */
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES];
    uint64_t polls, poll_failures;
};

static const char *flag_text(uint32_t f, char buf[64])
{
    snprintf(buf, 64, "%s%s%s%s", f & MB_FLAG_GAP ? " gap" : "",
             f & MB_FLAG_REPLACED ? " replaced" : "", f & MB_FLAG_WRAP ? " wrap" : "",
             f & MB_FLAG_POLL_FAILED ? " poll-failed" : "");
    return buf;
}

/* Sign a closed slot and put it in the queue (durably) before any send. */
static void keep_reading(struct bridge *b, const struct mb_reading *r)
{
    uint8_t payload[MB_PAYLOAD_MAX_BYTES], *tx = NULL;
    size_t plen, tlen;
    char fb[64];
    uint64_t nonce = mb_queue_next_nonce(b->q);
    int rc;
    if (r->slot < mb_queue_next_slot(b->q)) {
        fprintf(stderr, "gridmeter: slot %llu was already made before a restart; not made again\n",
                (unsigned long long)r->slot);
        return;
    }
    if ((rc = mb_reading_encode(r, b->pk, payload, &plen)) ||
        (rc = mb_reading_tx(b->cfg.chain_id, nonce, payload, plen, b->pk, b->sk, &tx, &tlen)) ||
        (rc = mb_queue_put(b->q, r->slot, nonce, tx, tlen, payload, plen, wall_ms()))) {
        fprintf(stderr, "gridmeter: slot %llu: reading NOT kept: %s: %s\n",
                (unsigned long long)r->slot, mb_err_name(rc), mb_strerror(rc));
        free(tx);
        return;
    }
    free(tx);
    printf("slot %llu import_wh %llu export_wh %llu cum_import_wh %llu cum_export_wh %llu flags "
           "%u%s nonce %llu\n",
           (unsigned long long)r->slot, (unsigned long long)r->import_wh,
           (unsigned long long)r->export_wh, (unsigned long long)r->cum_import_wh,
           (unsigned long long)r->cum_export_wh, r->flags, flag_text(r->flags, fb),
           (unsigned long long)nonce);
    fflush(stdout);
}

static void poll_once(struct bridge *b, uint64_t now)
{
    struct mb_sample s;
    struct mb_reading out[MB_SLOT_MAX_OUT];
    unsigned n = 0;
    const char *detail;
    b->polls++;
    int rc = mb_poll_read(b->poller, &s, &detail);
    if (rc) {
        b->poll_failures++;
        if (b->poll_failures < 10 || b->poll_failures % 100 == 0)
            fprintf(stderr, "gridmeter: poll failed: %s (%s) [%llu failures]\n", mb_err_name(rc),
                    detail, (unsigned long long)b->poll_failures);
        mb_slot_fail(&b->acc, &b->params, now, out, &n);
    } else {
        s.t_ms = now;
        if (mb_slot_sample(&b->acc, &b->params, &s, out, &n))
            fprintf(stderr, "gridmeter: clock went back; sample ignored\n");
    }
    for (unsigned i = 0; i < n; i++)
        keep_reading(b, &out[i]);
    if (mb_ckpt_save(&b->ckpt, &b->acc))
        fprintf(stderr, "gridmeter: cannot write the slot checkpoint: %s\n", strerror(errno));
}

/* Send what is due, oldest first (nonce order); drop what the node committed. */
static void flush_queue(struct bridge *b)
{
    struct mb_queue_entry e;
    uint64_t from = 0;
    while (!stop && mb_queue_next(b->q, from, &e) == MB_ERR_OK) {
        uint64_t now = wall_ms();
        from = e.slot + 1;
        if (e.next_try_ms > now) {
            mb_queue_entry_free(&e);
            break;
        }
        enum mb_tx_status st = MB_TX_UNKNOWN;
        int rc = b->sink.status(b->sink.ctx, e.hash, b->pk, e.slot, e.payload, e.payload_len, &st);
        if (rc == MB_ERR_OK && st != MB_TX_COMMITTED) {
            rc = b->sink.submit(b->sink.ctx, e.tx, e.tx_len);
            if (rc == MB_ERR_OK)
                rc = b->sink.status(b->sink.ctx, e.hash, b->pk, e.slot, e.payload, e.payload_len,
                                    &st);
        }
        if (rc == MB_ERR_OK && st == MB_TX_COMMITTED) {
            if (mb_queue_remove(b->q, e.slot) == MB_ERR_OK)
                printf("committed slot %llu nonce %llu\n", (unsigned long long)e.slot,
                       (unsigned long long)e.nonce);
            fflush(stdout);
        } else {
            uint32_t attempts = rc == MB_ERR_OK ? 0 : e.attempts + 1;
            uint64_t delay =
                rc == MB_ERR_OK ? b->cfg.retry_min_ms
                                : mb_backoff_ms(attempts, b->cfg.retry_min_ms, b->cfg.retry_max_ms);
            if (rc)
                fprintf(stderr, "gridmeter: slot %llu: %s; retry in %llu ms\n",
                        (unsigned long long)e.slot, mb_err_name(rc), (unsigned long long)delay);
            if (mb_queue_reschedule(b->q, e.slot, attempts, now + delay))
                fprintf(stderr, "gridmeter: queue reschedule failed\n");
            mb_queue_entry_free(&e);
            /* A node that cannot be reached or refuses: later nonces cannot land before
             * this one, so stop.  SINK_PROOF: its nonce was used (it is on chain) but the
             * reading is not proven in the state -- keep it, retry, and go on with the rest. */
            if (rc && rc != MB_ERR_SINK_PROOF)
                break;
            continue;
        }
        mb_queue_entry_free(&e);
    }
}

static void derive_params(struct bridge *b)
{
    const struct mb_map *m = &b->cfg.map;
    memset(&b->params, 0, sizeof b->params);
    b->params.epoch_ms = b->cfg.slot_epoch_ms;
    b->params.slot_len_s = b->cfg.slot_len_s;
    b->params.tolerance_ms = b->cfg.boundary_tolerance_ms;
    b->params.max_power_w = b->cfg.max_power_w;
    b->params.wrap_import_wh = mb_reg_wrap_wh(&m->import);
    b->params.wrap_export_wh = mb_reg_wrap_wh(&m->export_);
    uint64_t qi = (m->import.scale_num + m->import.scale_den - 1) / m->import.scale_den;
    uint64_t qe = (m->export_.scale_num + m->export_.scale_den - 1) / m->export_.scale_den;
    b->params.quantum_wh = (qi > qe ? qi : qe) + 1;
    b->params.float_registers =
        m->import.type == MB_TYPE_FLOAT32 || m->export_.type == MB_TYPE_FLOAT32;
    if (b->params.float_registers)
        b->params.quantum_wh = 2;
}

static int run(const char *conf)
{
    static struct bridge b; /* static: zeroed, off the stack */
    char msg[600];
    int rc, exit_code = 1;
    b.ckpt.fd = -1;
    if ((rc = mb_config_load(&b.cfg, conf, msg, sizeof msg))) {
        fprintf(stderr, "gridmeter: %s\n", msg);
        return 2;
    }
    if (read_key(b.cfg.key_file, b.pk, b.sk))
        return 2;
    if (b.cfg.verify_proof && read_trust(&b.cfg, &b.trust))
        return 2;
    derive_params(&b);
    if ((rc = mb_queue_open(&b.q, b.cfg.queue_dir, b.cfg.queue_map_bytes, b.cfg.queue_max, b.pk))) {
        fprintf(stderr, "gridmeter: queue %s: %s\n", b.cfg.queue_dir, mb_strerror(rc));
        goto done;
    }
    if (strncmp(b.cfg.node, "mem:", 4) == 0) {
        rc = mb_sink_mem_open(&b.sink, b.cfg.node[4] ? b.cfg.node + 4 : NULL);
    } else {
        struct mb_rpc_opts o = {b.cfg.rpc_timeout_ms, b.cfg.verify_proof, &b.trust};
        rc = mb_sink_rpc_open(&b.sink, b.cfg.node, &o);
    }
    if (rc) {
        fprintf(stderr, "gridmeter: node %s: %s\n", b.cfg.node, mb_strerror(rc));
        goto done;
    }
    if ((rc = mb_poll_open(&b.poller, &b.cfg))) {
        fprintf(stderr, "gridmeter: Modbus settings: %s\n", mb_strerror(rc));
        goto done;
    }
    if ((rc = mb_ckpt_open(&b.ckpt, b.cfg.queue_dir, &b.params))) {
        fprintf(stderr, "gridmeter: checkpoint in %s: %s\n", b.cfg.queue_dir, strerror(errno));
        goto done;
    }
    if (mb_ckpt_load(&b.ckpt, &b.acc))
        fprintf(
            stderr,
            "gridmeter: no usable slot checkpoint; the current slot starts now (flagged gap)\n");
    uint64_t node_nonce;
    if (b.sink.nonce(b.sink.ctx, b.pk, &node_nonce) == MB_ERR_OK &&
        mb_queue_raise_nonce(b.q, node_nonce))
        goto done;
    fprintf(stderr, "gridmeter: meter %s, %u readings queued, next nonce %llu\n", b.cfg.map.model,
            mb_queue_count(b.q), (unsigned long long)mb_queue_next_nonce(b.q));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    uint64_t next_poll = meter_ms(&b.cfg);
    bool warned_epoch = false;
    while (!stop) {
        uint64_t now = meter_ms(&b.cfg);
        if (now >= next_poll && now < b.cfg.slot_epoch_ms) {
            if (!warned_epoch)
                fprintf(stderr, "gridmeter: the clock is before slot_epoch_ms (the chain's "
                                "genesis); not metering yet\n");
            warned_epoch = true;
            next_poll = now + b.cfg.poll_interval_ms;
        } else if (now >= next_poll) {
            poll_once(&b, now);
            next_poll += b.cfg.poll_interval_ms;
            now = meter_ms(&b.cfg);
            if (next_poll <= now)
                next_poll = now + b.cfg.poll_interval_ms; /* fell behind: skip, never burst */
        }
        flush_queue(&b);
        now = meter_ms(&b.cfg);
        uint64_t wait = next_poll > now ? (next_poll - now) / b.cfg.accel : 0;
        if (wait > 200)
            wait = 200; /* look at the queue's retries a few times a second */
        struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "gridmeter: stopping; %u readings queued\n", mb_queue_count(b.q));
    exit_code = 0;
done:
    mb_ckpt_close(&b.ckpt);
    mb_poll_close(b.poller);
    if (b.sink.close)
        b.sink.close(b.sink.ctx);
    mb_queue_close(b.q);
    return exit_code;
}

int main(int argc, char **argv)
{
    if (chain_crypto_init()) {
        fprintf(stderr, "gridmeter: libsodium failed to initialise\n");
        return 1;
    }
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "-c") == 0)
        return run(argv[2]);
    if (argc == 3 && strcmp(argv[1], "keygen") == 0)
        return keygen(argv[2]);
    if (argc == 4 && strcmp(argv[1], "pubkey") == 0 && strcmp(argv[2], "-c") == 0) {
        struct mb_config cfg;
        char msg[600];
        uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES];
        if (mb_config_load(&cfg, argv[3], msg, sizeof msg)) {
            fprintf(stderr, "gridmeter: %s\n", msg);
            return 2;
        }
        if (read_key(cfg.key_file, pk, sk))
            return 2;
        print_pk(pk);
        return 0;
    }
    fputs(usage, stderr);
    return 2;
}
