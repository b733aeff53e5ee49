/* mb_sink_rpc.c -- the node sink: JSON-RPC 2.0 over HTTP/1.1 to gridnode
 * (mb_sink.h).  A deliberately small blocking client: one connection per
 * request (Connection: close), one deadline for connect + send + answer, an
 * answer of at most MB_RPC_MAX_ANSWER bytes with a Content-Length or read to
 * the close.  Everything the node says is outside input: parsed with
 * jansson, checked field by field, never asserted on.
 *
 * Committed means: get_tx reports a height.  With verify_proof it also means,
 * as a light client trusting only the genesis file (DESIGN.md, Light client):
 * get_header at that height is a header of this chain and validator set
 * whose commit certificate carries a quorum of genesis validators'
 * signatures, and get_state at that height returns exactly our payload under
 * the reading's state key (mb_reading_state_key) with a proof that verifies
 * against that certified header's state root.  The checks are
 * node/node_lightclient.c's, the verifier gridctl uses: one verifier, not two. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "chain_crypto.h"
#include "mb_reading.h"
#include "mb_sink.h"
#include "node_lightclient.h"

#define MB_RPC_MAX_ANSWER (1u << 20)

struct rpc {
    struct sockaddr_in addr;
    char host[64];
    char path[128];
    uint32_t timeout_ms;
    bool verify_proof;
    struct node_lc_trust trust; /* with verify_proof */
    uint64_t next_id;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Wait for fd to be ready for events before the deadline: 0, or -1 on timeout/error. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = mono_ms();
        if (now >= deadline)
            return -1;
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, (int)(deadline - now));
        if (r > 0)
            return 0;
        if (r == 0 || errno != EINTR)
            return -1;
    }
}

int mb_http_response(const char *buf, size_t n, size_t *body_off, size_t *body_len)
{
    const char *sep = NULL;
    for (size_t i = 0; i + 4 <= n; i++)
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
            sep = buf + i;
            break;
        }
    if (n < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || !sep || buf[8] != ' ')
        return MB_ERR_SINK_PROTOCOL;
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return MB_ERR_SINK_PROTOCOL;
        status = status * 10 + (buf[i] - '0');
    }
    if (status >= 500)
        return MB_ERR_SINK_UNREACHABLE; /* the node is there but cannot answer now */
    if (status != 200)
        return MB_ERR_SINK_PROTOCOL;
    size_t off = (size_t)(sep - buf) + 4, len = n - off;
    /* Content-Length, when given, must fit what arrived; the body is exactly that long */
    for (const char *p = buf; p < sep; p++) {
        if ((p != buf && p[-1] != '\n') || (size_t)(sep - p) < 15 ||
            strncasecmp(p, "content-length:", 15) != 0)
            continue;
        const char *q = p + 15;
        while (q < sep && *q == ' ')
            q++;
        size_t cl = 0, digits = 0;
        while (q < sep && *q >= '0' && *q <= '9' && digits < 9) {
            cl = cl * 10 + (size_t)(*q++ - '0');
            digits++;
        }
        if (digits == 0 || (q < sep && *q != '\r') || cl > len)
            return MB_ERR_SINK_PROTOCOL;
        len = cl;
    }
    *body_off = off;
    *body_len = len;
    return MB_ERR_OK;
}

int mb_rpc_response(const char *body, size_t len, json_t **result, int *code, char errname[64])
{
    json_t *resp = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    int rc;
    *result = NULL;
    *code = 0;
    errname[0] = '\0';
    if (!json_is_object(resp)) {
        rc = MB_ERR_SINK_PROTOCOL;
        goto done;
    }
    json_t *err = json_object_get(resp, "error");
    if (err) {
        json_t *jc = json_object_get(err, "code");
        if (!json_is_integer(jc) || json_integer_value(jc) < INT32_MIN ||
            json_integer_value(jc) > INT32_MAX) {
            rc = MB_ERR_SINK_PROTOCOL;
            goto done;
        }
        *code = (int)json_integer_value(jc);
        json_t *data = json_object_get(err, "data");
        json_t *name = json_is_object(data) ? json_object_get(data, "error") : NULL;
        if (json_is_string(name))
            snprintf(errname, 64, "%s", json_string_value(name));
        rc = MB_ERR_SINK_REJECTED;
        goto done;
    }
    json_t *res = json_object_get(resp, "result");
    if (!res) {
        rc = MB_ERR_SINK_PROTOCOL;
        goto done;
    }
    *result = json_incref(res);
    rc = MB_ERR_OK;
done:
    json_decref(resp);
    return rc;
}

static int http_post(struct rpc *c, const char *body, size_t blen, char **answer, size_t *alen)
{
    uint64_t deadline = mono_ms() + c->timeout_ms;
    char *buf = NULL;
    int rc = MB_ERR_SINK_UNREACHABLE;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return MB_ERR_SINK_UNREACHABLE;
    if (connect(fd, (struct sockaddr *)&c->addr, sizeof c->addr) != 0) {
        if (errno != EINPROGRESS || wait_fd(fd, POLLOUT, deadline))
            goto done;
        int err = 0;
        socklen_t el = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) || err)
            goto done;
    }
    char head[512];
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      c->path, c->host, (unsigned)ntohs(c->addr.sin_port), blen);
    if (hn < 0 || (size_t)hn >= sizeof head)
        goto done;
    const char *parts[2] = {head, body};
    size_t lens[2] = {(size_t)hn, blen};
    for (int i = 0; i < 2; i++) {
        size_t off = 0;
        while (off < lens[i]) {
            ssize_t w = send(fd, parts[i] + off, lens[i] - off, MSG_NOSIGNAL);
            if (w > 0) {
                off += (size_t)w;
                continue;
            }
            if (w < 0 && (errno == EAGAIN || errno == EINTR) && !wait_fd(fd, POLLOUT, deadline))
                continue;
            goto done;
        }
    }
    size_t cap = 4096, n = 0;
    buf = malloc(cap + 1);
    if (!buf) {
        rc = MB_ERR_NOMEM;
        goto done;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= MB_RPC_MAX_ANSWER) {
                rc = MB_ERR_SINK_PROTOCOL;
                goto done;
            }
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                rc = MB_ERR_NOMEM;
                goto done;
            }
            buf = nb;
        }
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r > 0) {
            n += (size_t)r;
            buf[n] = '\0';
            /* stop early once a Content-Length body is complete */
            char *sep = strstr(buf, "\r\n\r\n");
            if (sep) {
                const char *cl = NULL;
                for (char *p = buf; p < sep; p++)
                    if ((p == buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0)
                        cl = p + 15;
                if (cl) {
                    unsigned long want = strtoul(cl, NULL, 10);
                    if (want > MB_RPC_MAX_ANSWER) {
                        rc = MB_ERR_SINK_PROTOCOL;
                        goto done;
                    }
                    if (n - (size_t)(sep + 4 - buf) >= want)
                        break;
                }
            }
            continue;
        }
        if (r == 0)
            break;
        if ((errno == EAGAIN || errno == EINTR) && !wait_fd(fd, POLLIN, deadline))
            continue;
        goto done;
    }
    buf[n] = '\0';
    size_t off, blen2;
    if ((rc = mb_http_response(buf, n, &off, &blen2)))
        goto done;
    memmove(buf, buf + off, blen2);
    buf[blen2] = '\0';
    *answer = buf;
    *alen = blen2;
    buf = NULL;
    rc = MB_ERR_OK;
done:
    free(buf);
    close(fd);
    return rc;
}

/* Call method(params); steals params.  On OK *result is a new reference.
 * A JSON-RPC error gives SINK_REJECTED with *code and the data.error name. */
static int call(struct rpc *c, const char *method, json_t *params, json_t **result, int *code,
                char errname[64])
{
    json_t *req = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "2.0", "id",
                            (json_int_t)++c->next_id, "method", method, "params", params);
    char *answer = NULL, *text = NULL;
    size_t alen = 0;
    int rc;
    *result = NULL;
    *code = 0;
    errname[0] = '\0';
    if (!req)
        return MB_ERR_NOMEM;
    text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!text)
        return MB_ERR_NOMEM;
    rc = http_post(c, text, strlen(text), &answer, &alen);
    free(text);
    if (rc)
        return rc;
    rc = mb_rpc_response(answer, alen, result, code, errname);
    free(answer);
    return rc;
}

static json_t *hex_json(const uint8_t *b, size_t n)
{
    char *h = malloc(2 * n + 1);
    if (!h)
        return NULL;
    chain_hex(h, b, n);
    json_t *j = json_string(h);
    free(h);
    return j;
}

#define RPC_NOT_FOUND    (-32002)
#define RPC_MEMPOOL_FULL (-32004)
#define RPC_UNAVAILABLE  (-32005)

static int rpc_submit(void *ctx, const uint8_t *tx, size_t len)
{
    struct rpc *c = ctx;
    json_t *res = NULL, *hx = hex_json(tx, len);
    int code;
    char name[64];
    if (!hx)
        return MB_ERR_NOMEM;
    int rc = call(c, "submit_tx", json_pack("{s:o}", "tx", hx), &res, &code, name);
    json_decref(res);
    if (rc == MB_ERR_SINK_REJECTED) {
        if (strcmp(name, "DUPLICATE") == 0)
            return MB_ERR_OK;
        if (code == RPC_MEMPOOL_FULL || code == RPC_UNAVAILABLE || strcmp(name, "NOT_READY") == 0)
            return MB_ERR_SINK_UNREACHABLE;
        fprintf(stderr, "gridmeter: node rejected a reading: code %d %s\n", code, name);
    }
    return rc;
}

/* A light-client refusal: SINK_PROTOCOL for an answer of the wrong shape,
 * SINK_PROOF for one that does not verify, logged with the verifier's reason. */
static int lc_refused(int lc, uint64_t slot, uint64_t h, const char *what, const char *why)
{
    fprintf(stderr, "gridmeter: slot %llu: %s at height %llu refused: %s (%s)\n",
            (unsigned long long)slot, what, (unsigned long long)h, why, node_lc_err_name(lc));
    if (lc == NODE_LC_ERR_NOMEM)
        return MB_ERR_NOMEM;
    return lc == NODE_LC_ERR_BAD_RESPONSE ? MB_ERR_SINK_PROTOCOL : MB_ERR_SINK_PROOF;
}

/* With verify_proof: the reading is in the state at height h under a
 * certified header.  *st is COMMITTED, or PENDING while height h has no
 * certificate yet. */
static int verify_committed(struct rpc *c, uint64_t h, const uint8_t pk[CHAIN_PK_BYTES],
                            uint64_t slot, const uint8_t *payload, size_t payload_len,
                            enum mb_tx_status *st)
{
    uint8_t key[MB_STATE_KEY_BYTES], *value = NULL;
    size_t vlen = 0;
    struct node_lc_header hdr;
    json_t *res = NULL;
    int code, rc, lc;
    char name[64], why[256];
    *st = MB_TX_UNKNOWN;
    rc = call(c, "get_header", json_pack("{s:I}", "height", (json_int_t)h), &res, &code, name);
    if (rc)
        return rc == MB_ERR_SINK_REJECTED ? MB_ERR_SINK_PROTOCOL : rc;
    lc = node_lc_check_header_json(&c->trust, res, h, &hdr, why, sizeof why);
    json_decref(res);
    res = NULL;
    if (lc == NODE_LC_ERR_NO_CERT) {
        *st = MB_TX_PENDING; /* committed, not yet certified on this node: ask again later */
        return MB_ERR_OK;
    }
    if (lc)
        return lc_refused(lc, slot, h, "the header", why);

    mb_reading_state_key(pk, slot, key);
    json_t *kx = hex_json(key, sizeof key);
    if (!kx)
        return MB_ERR_NOMEM;
    rc = call(c, "get_state", json_pack("{s:o, s:I}", "key", kx, "height", (json_int_t)h), &res,
              &code, name);
    if (rc == MB_ERR_SINK_REJECTED)
        rc = code == RPC_NOT_FOUND ? MB_ERR_SINK_PROOF : MB_ERR_SINK_PROTOCOL;
    if (rc)
        goto done;
    lc = node_lc_check_state_json(&hdr, res, key, sizeof key, &value, &vlen, why, sizeof why);
    if (lc) {
        rc = lc_refused(lc, slot, h, "the reading's state proof", why);
        goto done;
    }
    rc = MB_ERR_SINK_PROOF;
    if (!value) {
        /* committed (the nonce is used) and proven absent: the chain refused the reading */
        fprintf(stderr,
                "gridmeter: slot %llu: committed at height %llu but proven absent from the state\n",
                (unsigned long long)slot, (unsigned long long)h);
        goto done;
    }
    if (vlen != payload_len || memcmp(value, payload, payload_len) != 0) {
        fprintf(stderr,
                "gridmeter: slot %llu: the state at height %llu holds another reading for this "
                "slot than ours (proven)\n",
                (unsigned long long)slot, (unsigned long long)h);
        goto done;
    }
    *st = MB_TX_COMMITTED;
    rc = MB_ERR_OK;
done:
    json_decref(res);
    free(value);
    return rc;
}

static int rpc_status(void *ctx, const uint8_t hash[CHAIN_HASH_BYTES],
                      const uint8_t pk[CHAIN_PK_BYTES], uint64_t slot, const uint8_t *payload,
                      size_t payload_len, enum mb_tx_status *st)
{
    struct rpc *c = ctx;
    json_t *res = NULL, *hx = hex_json(hash, CHAIN_HASH_BYTES);
    int code;
    char name[64];
    *st = MB_TX_UNKNOWN;
    if (!hx)
        return MB_ERR_NOMEM;
    int rc = call(c, "get_tx", json_pack("{s:o}", "hash", hx), &res, &code, name);
    if (rc == MB_ERR_SINK_REJECTED && code == RPC_NOT_FOUND)
        return MB_ERR_OK;
    if (rc)
        return rc == MB_ERR_SINK_REJECTED ? MB_ERR_SINK_PROTOCOL : rc;
    json_t *jh = json_object_get(res, "height");
    if (!jh || json_is_null(jh)) {
        *st = MB_TX_PENDING;
        rc = MB_ERR_OK;
    } else if (!json_is_integer(jh) || json_integer_value(jh) <= 0) {
        rc = MB_ERR_SINK_PROTOCOL;
    } else {
        uint64_t h = (uint64_t)json_integer_value(jh);
        json_t *jr = json_object_get(res, "result");
        json_t *jn = json_object_get(res, "result_name");
        if (jr && !(json_is_integer(jr) && json_integer_value(jr) == 0) &&
            !(json_is_string(jr) && strcmp(json_string_value(jr), "OK") == 0))
            fprintf(stderr, "gridmeter: slot %llu committed at height %llu with result %s\n",
                    (unsigned long long)slot, (unsigned long long)h,
                    json_is_string(jn) ? json_string_value(jn) : "(not OK)");
        if (c->verify_proof) {
            rc = verify_committed(c, h, pk, slot, payload, payload_len, st);
        } else {
            *st = MB_TX_COMMITTED;
            rc = MB_ERR_OK;
        }
    }
    json_decref(res);
    return rc;
}

static int rpc_nonce(void *ctx, const uint8_t pk[CHAIN_PK_BYTES], uint64_t *nonce)
{
    struct rpc *c = ctx;
    json_t *res = NULL, *hx = hex_json(pk, CHAIN_PK_BYTES);
    int code;
    char name[64];
    *nonce = 0;
    if (!hx)
        return MB_ERR_NOMEM;
    int rc = call(c, "get_account", json_pack("{s:o}", "account", hx), &res, &code, name);
    if (rc == MB_ERR_SINK_REJECTED && code == RPC_NOT_FOUND)
        return MB_ERR_OK;
    if (rc)
        return rc == MB_ERR_SINK_REJECTED ? MB_ERR_SINK_PROTOCOL : rc;
    json_t *jn = json_object_get(res, "nonce");
    if (json_is_integer(jn) && json_integer_value(jn) >= 0)
        *nonce = (uint64_t)json_integer_value(jn);
    else
        rc = MB_ERR_SINK_PROTOCOL;
    /* The chain includes a transaction only from an existing account (chain_block.c,
     * UNKNOWN_ACCOUNT): a meter key nobody funded has its readings wait in mempools for
     * ever.  Say so; it is the operator's step (market/README.md, "Readings"). */
    if (json_is_false(json_object_get(res, "exists")))
        fprintf(stderr, "gridmeter: the meter key has no account on the chain yet: its readings "
                        "wait until the operator funds it (1 micro-unit) and binds it to a "
                        "participant\n");
    json_decref(res);
    return rc;
}

static void rpc_close(void *ctx)
{
    free(ctx);
}

int mb_sink_rpc_open(struct mb_sink *s, const char *url, const struct mb_rpc_opts *o)
{
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0)
        return MB_ERR_CONFIG_BAD_VALUE;
    p += 7;
    const char *colon = strchr(p, ':');
    if (!colon || colon == p || (size_t)(colon - p) >= 64)
        return MB_ERR_CONFIG_BAD_VALUE;
    if (o->verify_proof && !o->trust)
        return MB_ERR_INVALID_ARG;
    struct rpc *c = calloc(1, sizeof *c);
    if (!c)
        return MB_ERR_NOMEM;
    memcpy(c->host, p, (size_t)(colon - p));
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    const char *ip = strcmp(c->host, "localhost") == 0 ? "127.0.0.1" : c->host;
    c->addr.sin_family = AF_INET;
    c->addr.sin_port = htons((uint16_t)port);
    if (end == colon + 1 || port == 0 || port > 65535 || (*end && *end != '/') ||
        inet_pton(AF_INET, ip, &c->addr.sin_addr) != 1 ||
        strlen(*end ? end : "/") >= sizeof c->path) {
        free(c);
        return MB_ERR_CONFIG_BAD_VALUE;
    }
    snprintf(c->path, sizeof c->path, "%s", *end ? end : "/");
    c->timeout_ms = o->timeout_ms;
    c->verify_proof = o->verify_proof;
    if (o->verify_proof)
        c->trust = *o->trust;
    s->ctx = c;
    s->submit = rpc_submit;
    s->status = rpc_status;
    s->nonce = rpc_nonce;
    s->close = rpc_close;
    return MB_ERR_OK;
}
