/* bench_node_load.c -- a load generator and test client for a gridnode network.
 *
 * Pre-signs N transfers from K benchmark accounts (keys from the seed
 * "load-account-<i>", funded by `gridnode testnet --load-accounts K`), each
 * account's nonces in order, then submits them with the JSON-RPC method
 * submit_txs in batches, round-robin over the given nodes, while it polls
 * the first node's blocks (get_block) to see when each one commits.  Prints
 * committed tx/s and the commit latency (submission to the first poll that
 * sees its block) p50 / p99, and exits 0 only if every transfer committed
 * with result ok within the timeout.  The integration tests use it as their
 * client too.
 *
 *   bench_node_load --rpc H:P[,H:P...] --accounts K --txs N [--batch B]
 *                   [--timeout S] [--rate TX_PER_S] [--quiet]
 *   bench_node_load --verify-rate             Ed25519 verifications per second, one core
 *   bench_node_load --etcd H:P[,...] --writes N --size B [--clients C]
 *                   the same number of writes of the same size into an etcd
 *                   cluster (its JSON gateway, POST /v3/kv/put), for reference
 *
 * Submitting only from one thread and polling from another, both with plain
 * blocking HTTP/1.1 keep-alive connections (no library). */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "chain_crypto.h"
#include "chain_ledger.h"
#include "node_genesis.h"
#include "testutil.h"

#define MAX_NODES 32

struct conn {
    char host[64];
    uint16_t port;
    int fd;
    char *buf;
    size_t cap;
};

static int conn_open(struct conn *c)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->port)};
    if (inet_pton(AF_INET, c->host, &a.sin_addr) != 1)
        return -1;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

/* POST body, return the response body (in c->buf, NUL-terminated) or NULL. */
static const char *http_post(struct conn *c, const char *body, size_t len)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->fd < 0 && conn_open(c))
            return NULL;
        char hdr[256];
        int hl = snprintf(hdr, sizeof hdr,
                          "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                          "application/json\r\nContent-Length: %zu\r\n\r\n",
                          c->host, len);
        bool ok = write(c->fd, hdr, (size_t)hl) == hl;
        for (size_t off = 0; ok && off < len;) {
            ssize_t w = write(c->fd, body + off, len - off);
            if (w <= 0)
                ok = false;
            else
                off += (size_t)w;
        }
        size_t got = 0, need = 0, hend = 0;
        while (ok) {
            if (got + 65536 + 1 > c->cap) {
                c->cap = (got + 65536 + 1) * 2;
                c->buf = realloc(c->buf, c->cap);
            }
            ssize_t r = read(c->fd, c->buf + got, c->cap - got - 1);
            if (r <= 0) {
                ok = false;
                break;
            }
            got += (size_t)r;
            c->buf[got] = 0;
            if (!hend) {
                char *e = strstr(c->buf, "\r\n\r\n");
                if (!e)
                    continue;
                hend = (size_t)(e - c->buf) + 4;
                char *cl = NULL;
                for (char *q = c->buf; q < e && !cl; q++)
                    if ((q == c->buf || q[-1] == '\n') && !strncasecmp(q, "Content-Length:", 15))
                        cl = q;
                if (!cl) {
                    ok = false;
                    break;
                }
                need = hend + strtoul(cl + 15, NULL, 10);
            }
            if (got >= need) {
                c->buf[need] = 0;
                return c->buf + hend;
            }
        }
        close(c->fd);
        c->fd = -1;
    }
    return NULL;
}

/* Call method with params (stolen); the "result" (new reference) or NULL. */
static json_t *rpc_call(struct conn *c, const char *method, json_t *params)
{
    json_t *req = json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "2.0", "id", 1, "method", method,
                            "params", params);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    const char *resp = http_post(c, body, strlen(body));
    free(body);
    if (!resp)
        return NULL;
    json_t *r = json_loads(resp, 0, NULL);
    json_t *res = json_incref(json_object_get(r, "result"));
    json_decref(r);
    return res;
}

static uint64_t now_ns(void)
{
    return tu_now_ns();
}

struct load {
    size_t n;
    char **hex; /* envelopes as hex */
    uint8_t (*hash)[CHAIN_HASH_BYTES];
    uint64_t *sent_ns, *commit_ns;
    int32_t *result;
    size_t *order; /* indexes sorted by hash */
    struct conn nodes[MAX_NODES];
    size_t nnodes;
    size_t batch;
    double rate;
    volatile size_t submitted, refused;
    uint64_t submit_ns_total, submit_ns_max, submit_calls; /* submitter thread only */
    volatile bool stop;
};

static void *submitter(void *arg)
{
    struct load *L = arg;
    uint64_t t0 = now_ns();
    for (size_t off = 0, k = 0; off < L->n && !L->stop; off += L->batch, k++) {
        size_t m = L->n - off < L->batch ? L->n - off : L->batch;
        if (L->rate > 0) { /* open-loop pacing */
            uint64_t due = t0 + (uint64_t)((double)off / L->rate * 1e9);
            while (now_ns() < due)
                nanosleep(&(struct timespec){0, 200000}, NULL);
        }
        json_t *arr = json_array();
        for (size_t i = 0; i < m; i++)
            json_array_append_new(arr, json_string(L->hex[off + i]));
        uint64_t t = now_ns();
        for (size_t i = 0; i < m; i++)
            L->sent_ns[off + i] = t;
        struct conn *c = &L->nodes[k % L->nnodes];
        json_t *res = rpc_call(c, "submit_txs", json_pack("{s:o}", "txs", arr));
        uint64_t took = now_ns() - t;
        L->submit_ns_total += took;
        L->submit_calls++;
        if (took > L->submit_ns_max)
            L->submit_ns_max = took;
        if (!res) {
            fprintf(stderr, "load: submit_txs to %s:%u failed\n", c->host, c->port);
            L->refused += m;
        } else {
            size_t acc = (size_t)json_integer_value(json_object_get(res, "accepted"));
            if (acc < m) {
                json_t *errs = json_object_get(res, "errors");
                for (size_t i = 0; i < json_array_size(errs); i++) {
                    json_t *e = json_array_get(errs, i);
                    if (!json_is_null(e) && L->refused < 3)
                        fprintf(stderr, "load: refused: %s\n",
                                json_string_value(json_object_get(e, "error")));
                }
            }
            L->refused += m - acc;
            json_decref(res);
        }
        L->submitted = off + m;
    }
    return NULL;
}

static const uint8_t (*sort_hashes)[CHAIN_HASH_BYTES];
static int cmp_idx(const void *a, const void *b)
{
    return memcmp(sort_hashes[*(const size_t *)a], sort_hashes[*(const size_t *)b],
                  CHAIN_HASH_BYTES);
}

static long find(const struct load *L, const uint8_t h[CHAIN_HASH_BYTES])
{
    size_t lo = 0, hi = L->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = memcmp(L->hash[L->order[mid]], h, CHAIN_HASH_BYTES);
        if (c == 0)
            return (long)L->order[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t height_of(struct conn *c)
{
    json_t *st = rpc_call(c, "status", json_object());
    uint64_t h = st ? (uint64_t)json_integer_value(json_object_get(st, "height")) : 0;
    json_decref(st);
    return h;
}

/* ---- references ---- */

static int verify_rate(void)
{
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES], seed[32] = {1}, msg[160], sig[64];
    chain_keypair_from_seed(pk, sk, seed);
    memset(msg, 7, sizeof msg);
    chain_sign(sig, CHAIN_TAG_TXSIG, msg, sizeof msg, sk);
    uint64_t t0 = now_ns(), n = 0;
    while (now_ns() - t0 < 1500000000ull) {
        for (int i = 0; i < 100; i++)
            if (chain_verify(sig, CHAIN_TAG_TXSIG, msg, sizeof msg, pk))
                return 1;
        n += 100;
    }
    printf("ed25519: verify_per_s=%.0f (one core)\n", (double)n / ((double)(now_ns() - t0) / 1e9));
    return 0;
}

struct etcd_job {
    struct conn c;
    size_t from, to, size;
    uint64_t *lat;
    size_t fails;
};

static void b64(char *out, const uint8_t *in, size_t n)
{
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = T[v >> 18 & 63];
        out[o++] = T[v >> 12 & 63];
        out[o++] = i + 1 < n ? T[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? T[v & 63] : '=';
    }
    out[o] = 0;
}

static void *etcd_writer(void *arg)
{
    struct etcd_job *j = arg;
    uint8_t *val = malloc(j->size);
    char *v64 = malloc(j->size * 2 + 8), k64[64], key[32], *body = malloc(j->size * 2 + 256);
    memset(val, 'x', j->size);
    b64(v64, val, j->size);
    for (size_t i = j->from; i < j->to; i++) {
        int kl = snprintf(key, sizeof key, "bench/%zu", i);
        b64(k64, (const uint8_t *)key, (size_t)kl);
        int bl = sprintf(body, "{\"key\":\"%s\",\"value\":\"%s\"}", k64, v64);
        uint64_t t = now_ns();
        /* etcd's gateway: same request shape, another path */
        char hdr[256];
        const char *resp = NULL;
        for (int attempt = 0; attempt < 2 && !resp; attempt++) {
            if (j->c.fd < 0 && conn_open(&j->c))
                break;
            int hl = snprintf(
                hdr, sizeof hdr,
                "POST /v3/kv/put HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n",
                j->c.host, bl);
            if (write(j->c.fd, hdr, (size_t)hl) != hl || write(j->c.fd, body, (size_t)bl) != bl) {
                close(j->c.fd);
                j->c.fd = -1;
                continue;
            }
            size_t got = 0;
            if (!j->c.buf) {
                j->c.cap = 1 << 16;
                j->c.buf = malloc(j->c.cap);
            }
            for (;;) {
                ssize_t r = read(j->c.fd, j->c.buf + got, j->c.cap - got - 1);
                if (r <= 0)
                    break;
                got += (size_t)r;
                j->c.buf[got] = 0;
                char *e = strstr(j->c.buf, "\r\n\r\n");
                if (!e)
                    continue;
                char *cl = NULL;
                for (char *q = j->c.buf; q < e && !cl; q++)
                    if ((q == j->c.buf || q[-1] == '\n') && !strncasecmp(q, "Content-Length:", 15))
                        cl = q;
                if (cl && got >= (size_t)(e + 4 - j->c.buf) + strtoul(cl + 15, NULL, 10)) {
                    resp = e + 4;
                    break;
                }
                if (!cl && strstr(e + 4, "\r\n0\r\n")) { /* chunked */
                    resp = e + 4;
                    break;
                }
            }
            if (!resp) {
                close(j->c.fd);
                j->c.fd = -1;
            }
        }
        if (!resp || !strstr(resp, "header"))
            j->fails++;
        j->lat[i] = now_ns() - t;
    }
    free(val);
    free(v64);
    free(body);
    return NULL;
}

static int etcd_bench(const char *list, size_t writes, size_t size, size_t clients)
{
    struct conn nodes[MAX_NODES];
    size_t nn = 0;
    char *copy = strdup(list);
    for (char *tok = strtok(copy, ","); tok && nn < MAX_NODES; tok = strtok(NULL, ",")) {
        memset(&nodes[nn], 0, sizeof nodes[nn]);
        nodes[nn].fd = -1;
        if (!node_parse_addr(tok, nodes[nn].host, &nodes[nn].port))
            return 2;
        nn++;
    }
    free(copy);
    uint64_t *lat = calloc(writes, sizeof *lat);
    struct etcd_job *jobs = calloc(clients, sizeof *jobs);
    pthread_t *th = calloc(clients, sizeof *th);
    uint64_t t0 = now_ns();
    for (size_t c = 0; c < clients; c++) {
        jobs[c].c = nodes[c % nn];
        jobs[c].from = writes * c / clients;
        jobs[c].to = writes * (c + 1) / clients;
        jobs[c].size = size;
        jobs[c].lat = lat;
        pthread_create(&th[c], NULL, etcd_writer, &jobs[c]);
    }
    size_t fails = 0;
    for (size_t c = 0; c < clients; c++) {
        pthread_join(th[c], NULL);
        fails += jobs[c].fails;
        if (jobs[c].c.fd >= 0)
            close(jobs[c].c.fd);
        free(jobs[c].c.buf);
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    qsort(lat, writes, sizeof *lat, cmp_u64);
    printf("etcd: writes=%zu failed=%zu size=%zu clients=%zu seconds=%.2f writes_per_s=%.0f "
           "p50_ms=%.1f p99_ms=%.1f\n",
           writes, fails, size, clients, secs, (double)(writes - fails) / secs,
           (double)lat[writes / 2] / 1e6, (double)lat[writes * 99 / 100] / 1e6);
    free(lat);
    free(jobs);
    free(th);
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *rpcs = NULL;
    size_t accounts = 0, ntx = 0;
    double timeout_s = 60;
    struct load L = {.batch = 1000};
    bool quiet = false;
    const char *etcd = NULL;
    size_t writes = 0, size = 0, clients = 32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quiet")) {
            quiet = true;
            continue;
        }
        if (!strcmp(a, "--verify-rate"))
            return chain_crypto_init() ? 1 : verify_rate();
        if (!strcmp(a, "--help") || !v) {
            printf("usage: bench_node_load --rpc H:P[,H:P...] --accounts K --txs N [--batch B] "
                   "[--timeout S]\n"
                   "                       [--rate TX_PER_S] [--quiet]\n");
            return !strcmp(a, "--help") ? 0 : 2;
        }
        i++;
        if (!strcmp(a, "--rpc"))
            rpcs = v;
        else if (!strcmp(a, "--accounts"))
            accounts = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--txs"))
            ntx = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--batch"))
            L.batch = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--timeout"))
            timeout_s = strtod(v, NULL);
        else if (!strcmp(a, "--rate"))
            L.rate = strtod(v, NULL);
        else if (!strcmp(a, "--etcd"))
            etcd = v;
        else if (!strcmp(a, "--writes"))
            writes = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--size"))
            size = strtoul(v, NULL, 10);
        else if (!strcmp(a, "--clients"))
            clients = strtoul(v, NULL, 10);
        else {
            fprintf(stderr, "bench_node_load: unknown option %s\n", a);
            return 2;
        }
    }
    if (etcd) {
        if (!writes || !size || !clients || clients > 1024)
            return 2;
        return etcd_bench(etcd, writes, size, clients);
    }
    if (!rpcs || !accounts || !ntx || !L.batch || L.batch > 2000) {
        fprintf(stderr, "bench_node_load: needs --rpc, --accounts, --txs (batch 1..2000)\n");
        return 2;
    }
    if (chain_crypto_init())
        return 1;
    char *list = strdup(rpcs);
    for (char *tok = strtok(list, ","); tok && L.nnodes < MAX_NODES; tok = strtok(NULL, ",")) {
        struct conn *c = &L.nodes[L.nnodes];
        c->fd = -1;
        if (!node_parse_addr(tok, c->host, &c->port)) {
            fprintf(stderr, "bench_node_load: bad address %s\n", tok);
            return 2;
        }
        L.nnodes++;
    }
    free(list);
    /* the chain id and each account's next nonce, from the first node; the
     * poller has a connection of its own (the submitter thread uses nodes[]) */
    struct conn poll_conn = L.nodes[0];
    struct conn *q = &poll_conn;
    json_t *st = rpc_call(q, "status", json_object());
    if (!st) {
        fprintf(stderr, "bench_node_load: no answer from %s:%u\n", q->host, q->port);
        return 1;
    }
    char chain_id[CHAIN_CHAIN_ID_MAX_BYTES + 1];
    snprintf(chain_id, sizeof chain_id, "%s", json_string_value(json_object_get(st, "chain_id")));
    json_decref(st);
    uint8_t(*pk)[CHAIN_PK_BYTES] = calloc(accounts, CHAIN_PK_BYTES);
    uint8_t(*sk)[CHAIN_SK_BYTES] = calloc(accounts, CHAIN_SK_BYTES);
    uint64_t *nonce = calloc(accounts, sizeof *nonce);
    for (size_t i = 0; i < accounts; i++) {
        uint8_t seed[32] = {0};
        char hex[65];
        snprintf((char *)seed, sizeof seed, "load-account-%u",
                 (unsigned)i); /* as gridnode testnet */
        chain_keypair_from_seed(pk[i], sk[i], seed);
        chain_hex(hex, pk[i], CHAIN_PK_BYTES);
        /* the highest nonce any node reports: one lagging node must not make
         * us sign transactions that are already committed */
        for (size_t k = 0; k < L.nnodes; k++) {
            struct conn *c = k ? &L.nodes[k] : q;
            json_t *acc = rpc_call(c, "get_account", json_pack("{s:s}", "account", hex));
            if (!acc && k > 0)
                continue; /* a node that does not answer has no say */
            if (!acc || !json_is_true(json_object_get(acc, "exists"))) {
                fprintf(
                    stderr,
                    "bench_node_load: load account %zu does not exist on %s:%u (gridnode testnet "
                    "--load-accounts)\n",
                    i, c->host, c->port);
                json_decref(acc);
                return 1;
            }
            uint64_t nn = (uint64_t)json_integer_value(json_object_get(acc, "nonce"));
            if (nn > nonce[i])
                nonce[i] = nn;
            json_decref(acc);
        }
    }
    /* pre-sign */
    L.n = ntx;
    L.hex = calloc(ntx, sizeof *L.hex);
    L.hash = calloc(ntx, CHAIN_HASH_BYTES);
    L.sent_ns = calloc(ntx, sizeof *L.sent_ns);
    L.commit_ns = calloc(ntx, sizeof *L.commit_ns);
    L.result = calloc(ntx, sizeof *L.result);
    L.order = calloc(ntx, sizeof *L.order);
    size_t env_bytes = 0;
    for (size_t j = 0; j < ntx; j++) {
        size_t a = j % accounts;
        uint8_t *p, *tx;
        size_t pl, tl;
        if (chain_payload_transfer(pk[(a + 1) % accounts], 1, &p, &pl) ||
            chain_tx_build(chain_id, nonce[a]++, GL__TX_TYPE__TX_TRANSFER, p, pl, pk[a], sk[a], &tx,
                           &tl))
            return 1;
        free(p);
        chain_hash(L.hash[j], CHAIN_TAG_TX, tx, tl);
        L.hex[j] = malloc(2 * tl + 1);
        chain_hex(L.hex[j], tx, tl);
        env_bytes += tl;
        free(tx);
        L.order[j] = j;
    }
    sort_hashes = (const uint8_t(*)[CHAIN_HASH_BYTES])L.hash;
    qsort(L.order, ntx, sizeof *L.order, cmp_idx);
    /* go */
    uint64_t h = height_of(q);
    uint64_t t0 = now_ns(), last_commit = t0;
    pthread_t th;
    pthread_create(&th, NULL, submitter, &L);
    size_t committed = 0, failed = 0;
    uint64_t deadline = t0 + (uint64_t)(timeout_s * 1e9);
    while (committed + failed < ntx && now_ns() < deadline) {
        uint64_t top = height_of(q);
        if (top <= h) {
            nanosleep(&(struct timespec){0, 5000000}, NULL);
            continue;
        }
        for (uint64_t b = h + 1; b <= top; b++) {
            json_t *blk = rpc_call(q, "get_block", json_pack("{s:I}", "height", (json_int_t)b));
            if (!blk) {
                top = b - 1;
                break;
            }
            uint64_t t = now_ns();
            json_t *txs = json_object_get(blk, "txs");
            for (size_t i = 0; i < json_array_size(txs); i++) {
                json_t *e = json_array_get(txs, i);
                uint8_t hh[CHAIN_HASH_BYTES];
                if (!node_unhex(hh, CHAIN_HASH_BYTES,
                                json_string_value(json_object_get(e, "hash"))))
                    continue;
                long k = find(&L, hh);
                if (k < 0 || L.commit_ns[k])
                    continue;
                L.commit_ns[k] = t;
                L.result[k] = (int32_t)json_integer_value(json_object_get(e, "result"));
                if (L.result[k])
                    failed++;
                else
                    committed++;
                last_commit = t;
            }
            json_decref(blk);
        }
        h = top;
    }
    L.stop = true;
    pthread_join(th, NULL);
    uint64_t *lat = calloc(ntx ? ntx : 1, sizeof *lat);
    size_t nl = 0;
    for (size_t j = 0; j < ntx; j++)
        if (L.commit_ns[j])
            lat[nl++] = L.commit_ns[j] > L.sent_ns[j] ? L.commit_ns[j] - L.sent_ns[j] : 0;
    qsort(lat, nl, sizeof *lat, cmp_u64);
    double secs = (double)(last_commit - t0) / 1e9;
    double p50 = nl ? (double)lat[nl / 2] / 1e6 : 0,
           p99 = nl ? (double)lat[(nl * 99) / 100 < nl ? (nl * 99) / 100 : nl - 1] / 1e6 : 0;
    printf("load: txs=%zu committed=%zu failed=%zu refused=%zu seconds=%.2f tx_per_s=%.0f "
           "p50_ms=%.1f p99_ms=%.1f "
           "bytes_per_tx=%zu height=%llu submit_call_ms_avg=%.1f max=%.1f\n",
           ntx, committed, failed, (size_t)L.refused, secs,
           secs > 0 ? (double)committed / secs : 0.0, p50, p99, ntx ? env_bytes / ntx : 0,
           (unsigned long long)h,
           L.submit_calls ? (double)L.submit_ns_total / (double)L.submit_calls / 1e6 : 0.0,
           (double)L.submit_ns_max / 1e6);
    (void)quiet;
    for (size_t j = 0; j < ntx; j++)
        free(L.hex[j]);
    free(L.hex);
    free(L.hash);
    free(L.sent_ns);
    free(L.commit_ns);
    free(L.result);
    free(L.order);
    free(lat);
    free(pk);
    free(sk);
    free(nonce);
    for (size_t i = 0; i < L.nnodes; i++) {
        if (L.nodes[i].fd >= 0)
            close(L.nodes[i].fd);
        free(L.nodes[i].buf);
    }
    if (poll_conn.fd >= 0)
        close(poll_conn.fd);
    free(poll_conn.buf);
    return committed == ntx ? 0 : 1;
}
