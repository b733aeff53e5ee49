/* mb_sink_mem.c -- the test sink: a tiny in-process "chain" (mb_sink.h).
 *
 * It decodes and verifies each envelope with chain/'s own strict codec,
 * accepts it when its nonce is the signer's next one (commit is immediate),
 * treats a resent identical envelope as a no-op, and records a conflict when
 * an envelope reuses a nonce or carries a second, different reading for a
 * (meter, slot) it already holds.  With a log file it outlives gridmeter:
 * the log is replayed on open. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chain_codec.h"
#include "chain_crypto.h"
#include "mb_reading.h"
#include "mb_sink.h"

struct accepted {
    uint8_t hash[CHAIN_HASH_BYTES];
    uint8_t pk[CHAIN_PK_BYTES];
    uint64_t slot;
    uint8_t payload_hash[CHAIN_HASH_BYTES];
};

struct account {
    uint8_t pk[CHAIN_PK_BYTES];
    uint64_t next_nonce;
};

struct mem {
    struct chain_registry reg;
    struct accepted *acc;
    size_t n, cap;
    struct account accounts[16];
    size_t naccounts;
    char *log_path;
    char *conflict_path;
    char *down_path; /* while this file exists the sink acts unreachable (tests) */
    bool down;
    uint64_t conflicts;
};

static int reading_decode(const uint8_t *payload, size_t len, void **msg)
{
    struct mb_reading *r = malloc(sizeof *r + CHAIN_PK_BYTES);
    if (!r)
        return CHAIN_ERR_NOMEM;
    if (mb_reading_decode(payload, len, r, (uint8_t *)(r + 1))) {
        free(r);
        return CHAIN_ERR_DECODE_MALFORMED;
    }
    *msg = r;
    return CHAIN_ERR_OK;
}

static void reading_free(void *msg)
{
    free(msg);
}

/* Never called: the test sink checks readings itself, it executes no block. */
static int reading_apply(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    (void)ctx;
    (void)tx;
    (void)msg;
    return CHAIN_ERR_INTERNAL;
}

static struct account *account(struct mem *m, const uint8_t pk[CHAIN_PK_BYTES])
{
    for (size_t i = 0; i < m->naccounts; i++)
        if (memcmp(m->accounts[i].pk, pk, CHAIN_PK_BYTES) == 0)
            return &m->accounts[i];
    if (m->naccounts == sizeof m->accounts / sizeof m->accounts[0])
        return NULL;
    struct account *a = &m->accounts[m->naccounts++];
    memcpy(a->pk, pk, CHAIN_PK_BYTES);
    a->next_nonce = 0;
    return a;
}

static void append_line(const char *path, const uint8_t *tx, size_t len)
{
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    char *hex = malloc(2 * len + 1);
    if (hex) {
        chain_hex(hex, tx, len);
        fprintf(f, "%s\n", hex);
        free(hex);
    }
    fflush(f);
    fsync(fileno(f));
    fclose(f);
}

/* Apply one envelope.  replay: from the log (no logging, no conflict count). */
static int apply(struct mem *m, const uint8_t *bytes, size_t len, bool replay)
{
    struct chain_tx tx;
    int rc;
    if (chain_tx_decode(&m->reg, bytes, len, &tx))
        return MB_ERR_SINK_REJECTED;
    if (chain_tx_verify(&tx)) {
        rc = MB_ERR_SINK_REJECTED;
        goto done;
    }
    const struct mb_reading *r = tx.payload;
    const uint8_t *meter = (const uint8_t *)(r + 1);
    if (memcmp(meter, tx.signer, CHAIN_PK_BYTES) != 0) {
        rc = MB_ERR_SINK_REJECTED; /* a reading is signed by its own meter key */
        goto done;
    }
    for (size_t i = 0; i < m->n; i++)
        if (memcmp(m->acc[i].hash, tx.hash, CHAIN_HASH_BYTES) == 0) {
            rc = MB_ERR_OK; /* the same bytes again: a no-op */
            goto done;
        }
    struct account *a = account(m, tx.signer);
    if (!a) {
        rc = MB_ERR_SINK_REJECTED;
        goto done;
    }
    uint8_t ph[CHAIN_HASH_BYTES];
    const uint8_t *payload = tx.body_->payload.data;
    size_t plen = tx.body_->payload.len;
    chain_hash(ph, CHAIN_TAG_VALUE, payload, plen);
    bool conflict = tx.nonce < a->next_nonce;
    for (size_t i = 0; i < m->n && !conflict; i++)
        if (m->acc[i].slot == r->slot && memcmp(m->acc[i].pk, tx.signer, CHAIN_PK_BYTES) == 0)
            conflict = true; /* a second envelope for one slot, whatever it says */
    if (conflict) {
        if (!replay) {
            m->conflicts++;
            if (m->conflict_path)
                append_line(m->conflict_path, bytes, len);
        }
        rc = MB_ERR_SINK_REJECTED;
        goto done;
    }
    if (tx.nonce > a->next_nonce) {
        rc = MB_ERR_SINK_REJECTED; /* nonce gap: the earlier ones must come first */
        goto done;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        struct accepted *na = realloc(m->acc, cap * sizeof *na);
        if (!na) {
            rc = MB_ERR_NOMEM;
            goto done;
        }
        m->acc = na;
        m->cap = cap;
    }
    struct accepted *e = &m->acc[m->n++];
    memcpy(e->hash, tx.hash, CHAIN_HASH_BYTES);
    memcpy(e->pk, tx.signer, CHAIN_PK_BYTES);
    e->slot = r->slot;
    memcpy(e->payload_hash, ph, CHAIN_HASH_BYTES);
    a->next_nonce++;
    if (!replay && m->log_path)
        append_line(m->log_path, bytes, len);
    rc = MB_ERR_OK;
done:
    chain_tx_deinit(&tx);
    return rc;
}

static bool is_down(const struct mem *m)
{
    return m->down || (m->down_path && access(m->down_path, F_OK) == 0);
}

static int mem_submit(void *ctx, const uint8_t *tx, size_t len)
{
    struct mem *m = ctx;
    if (is_down(m))
        return MB_ERR_SINK_UNREACHABLE;
    return apply(m, tx, len, false);
}

static int mem_status(void *ctx, const uint8_t hash[CHAIN_HASH_BYTES],
                      const uint8_t pk[CHAIN_PK_BYTES], uint64_t slot, const uint8_t *payload,
                      size_t payload_len, enum mb_tx_status *st)
{
    struct mem *m = ctx;
    (void)pk;
    (void)slot;
    if (is_down(m))
        return MB_ERR_SINK_UNREACHABLE;
    *st = MB_TX_UNKNOWN;
    for (size_t i = 0; i < m->n; i++)
        if (memcmp(m->acc[i].hash, hash, CHAIN_HASH_BYTES) == 0) {
            uint8_t ph[CHAIN_HASH_BYTES];
            chain_hash(ph, CHAIN_TAG_VALUE, payload, payload_len);
            if (memcmp(ph, m->acc[i].payload_hash, CHAIN_HASH_BYTES) != 0)
                return MB_ERR_SINK_PROOF; /* committed, but not with this reading */
            *st = MB_TX_COMMITTED;
        }
    return MB_ERR_OK;
}

static int mem_nonce(void *ctx, const uint8_t pk[CHAIN_PK_BYTES], uint64_t *nonce)
{
    struct mem *m = ctx;
    if (is_down(m))
        return MB_ERR_SINK_UNREACHABLE;
    *nonce = 0;
    for (size_t i = 0; i < m->naccounts; i++)
        if (memcmp(m->accounts[i].pk, pk, CHAIN_PK_BYTES) == 0)
            *nonce = m->accounts[i].next_nonce;
    return MB_ERR_OK;
}

static void mem_close(void *ctx)
{
    struct mem *m = ctx;
    if (!m)
        return;
    free(m->acc);
    free(m->log_path);
    free(m->conflict_path);
    free(m->down_path);
    free(m);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int replay_log(struct mem *m)
{
    FILE *f = fopen(m->log_path, "r");
    if (!f)
        return errno == ENOENT ? MB_ERR_OK : MB_ERR_IO;
    char line[2 * CHAIN_TX_MAX_BYTES + 4];
    uint8_t buf[CHAIN_TX_MAX_BYTES];
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\n");
        if (n % 2 || n / 2 > sizeof buf)
            continue; /* a torn last line: the append never completed */
        bool ok = true;
        for (size_t i = 0; i < n / 2 && ok; i++) {
            int hi = hexval(line[2 * i]), lo = hexval(line[2 * i + 1]);
            ok = hi >= 0 && lo >= 0;
            buf[i] = (uint8_t)((hi << 4) | (lo & 15));
        }
        if (ok && n)
            (void)apply(m, buf, n / 2, true);
    }
    fclose(f);
    return MB_ERR_OK;
}

int mb_sink_mem_open(struct mb_sink *s, const char *log_path)
{
    struct mem *m = calloc(1, sizeof *m);
    int rc;
    if (!m)
        return MB_ERR_NOMEM;
    chain_registry_init(&m->reg);
    struct chain_tx_handler h = {"meter_reading", reading_decode, reading_free, reading_apply};
    if (chain_registry_add(&m->reg, MB_TX_METER_READING, &h)) {
        rc = MB_ERR_INVALID_ARG;
        goto fail;
    }
    if (log_path) {
        size_t n = strlen(log_path);
        m->log_path = strdup(log_path);
        m->conflict_path = malloc(n + sizeof ".conflicts");
        m->down_path = malloc(n + sizeof ".down");
        if (!m->log_path || !m->conflict_path || !m->down_path) {
            rc = MB_ERR_NOMEM;
            goto fail;
        }
        memcpy(m->conflict_path, log_path, n);
        memcpy(m->conflict_path + n, ".conflicts", sizeof ".conflicts");
        memcpy(m->down_path, log_path, n);
        memcpy(m->down_path + n, ".down", sizeof ".down");
        if ((rc = replay_log(m)))
            goto fail;
    }
    s->ctx = m;
    s->submit = mem_submit;
    s->status = mem_status;
    s->nonce = mem_nonce;
    s->close = mem_close;
    return MB_ERR_OK;
fail:
    mem_close(m);
    return rc;
}

void mb_sink_mem_set_down(struct mb_sink *s, bool down)
{
    ((struct mem *)s->ctx)->down = down;
}

uint64_t mb_sink_mem_committed(const struct mb_sink *s)
{
    return ((const struct mem *)s->ctx)->n;
}

uint64_t mb_sink_mem_conflicts(const struct mb_sink *s)
{
    return ((const struct mem *)s->ctx)->conflicts;
}
