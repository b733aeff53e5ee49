/* node_http_client.c -- blocking HTTP/1.1 POST over a socket, and JSON-RPC on top.
 *
 * Deliberately small: one request per connection, Content-Length or read to
 * EOF (no chunked encoding: evhttp's replies carry a length), every read
 * bounded by NODE_HTTP_MAX_RESPONSE_BYTES and the socket timeouts. */
#include "node_http_client.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

int node_http_parse_url(const char *url, struct node_http_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *p = url;
    if (strncmp(p, "http://", 7) != 0) {
        snprintf(err, errlen, "RPC URL \"%s\" must start with http:// (e.g. %s)", url, NODE_HTTP_DEFAULT_URL);
        return -1;
    }
    p += 7;
    const char *host = p, *host_end;
    if (*p == '[') {
        host = ++p;
        host_end = strchr(p, ']');
        if (!host_end) {
            snprintf(err, errlen, "RPC URL \"%s\": unterminated [IPv6] host", url);
            return -1;
        }
        p = host_end + 1;
    } else {
        while (*p && *p != ':' && *p != '/')
            p++;
        host_end = p;
    }
    size_t hl = (size_t)(host_end - host);
    if (hl == 0 || hl >= sizeof out->host) {
        snprintf(err, errlen, "RPC URL \"%s\": missing or too long host", url);
        return -1;
    }
    memcpy(out->host, host, hl);
    out->port = 80;
    if (*p == ':') {
        char *end;
        errno = 0;
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || errno || port < 1 || port > 65535 || (*end && *end != '/')) {
            snprintf(err, errlen, "RPC URL \"%s\": the port must be a number from 1 to 65535", url);
            return -1;
        }
        out->port = (uint16_t)port;
        p = end;
    }
    if (*p == '\0')
        p = "/";
    if (*p != '/' || strlen(p) >= sizeof out->path) {
        snprintf(err, errlen, "RPC URL \"%s\": bad path", url);
        return -1;
    }
    snprintf(out->path, sizeof out->path, "%s", p);
    return 0;
}

static int dial(const struct node_http_url *u, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char port[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof port, "%u", (unsigned)u->port);
    int rc = getaddrinfo(u->host, port, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "cannot resolve %s: %s", u->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1, last = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last = errno;
            continue;
        }
        struct timeval tv = {NODE_HTTP_TIMEOUT_MS / 1000, (NODE_HTTP_TIMEOUT_MS % 1000) * 1000};
        /* On Linux SO_SNDTIMEO also bounds connect(). */
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            last = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(err, errlen, "cannot connect to the node at http://%s:%u: %s (is gridnode running, with RPC "
                 "on this port?)", u->host, (unsigned)u->port, strerror(last));
    return fd;
}

static int send_all(int fd, const char *b, size_t n)
{
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Find the end of the header block ("\r\n\r\n"); NULL if not yet there. */
static char *header_end(char *buf, size_t len)
{
    for (size_t i = 0; i + 3 < len; i++)
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0)
            return buf + i;
    return NULL;
}

int node_http_post(const struct node_http_url *u, const char *body, size_t len, int *status, char **resp,
                   size_t *resp_len, char *err, size_t errlen)
{
    return node_http_post_ex(u, NULL, body, len, status, resp, resp_len, err, errlen);
}

int node_http_post_ex(const struct node_http_url *u, const char *extra_headers, const char *body, size_t len,
                      int *status, char **resp, size_t *resp_len, char *err, size_t errlen)
{
    char head[1024];
    char *buf = NULL;
    size_t cap = 0, n = 0;
    *resp = NULL;
    *resp_len = 0;
    int fd = dial(u, err, errlen);
    if (fd < 0)
        return -1;
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: application/json\r\n"
                      "Accept: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
                      u->path, u->host, (unsigned)u->port, len, extra_headers ? extra_headers : "");
    if (hl < 0 || (size_t)hl >= sizeof head || send_all(fd, head, (size_t)hl) || send_all(fd, body, len)) {
        snprintf(err, errlen, "cannot send the request to http://%s:%u: %s", u->host, (unsigned)u->port,
                 strerror(errno));
        goto fail;
    }
    /* Read to EOF or to Content-Length, whichever comes first. */
    size_t want = SIZE_MAX, body_off = 0;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16384;
            if (ncap > NODE_HTTP_MAX_RESPONSE_BYTES + 4096)
                ncap = NODE_HTTP_MAX_RESPONSE_BYTES + 4096;
            if (ncap <= cap) {
                snprintf(err, errlen, "the node's response is larger than the limit of %u bytes",
                         NODE_HTTP_MAX_RESPONSE_BYTES);
                goto fail;
            }
            char *nb = realloc(buf, ncap + 1);
            if (!nb) {
                snprintf(err, errlen, "out of memory reading the node's response");
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = recv(fd, buf + n, cap - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "no answer from http://%s:%u: %s", u->host, (unsigned)u->port,
                     errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : strerror(errno));
            goto fail;
        }
        n += (size_t)r;
        if (!body_off) {
            char *e = header_end(buf, n);
            if (e) {
                body_off = (size_t)(e - buf) + 4;
                buf[body_off - 2] = '\0';
                /* status line */
                int code = 0;
                if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1 || code < 100 || code > 599) {
                    snprintf(err, errlen, "the node's answer is not HTTP");
                    goto fail;
                }
                *status = code;
                for (char *line = strstr(buf, "\r\n"); line && line[2]; line = strstr(line + 2, "\r\n")) {
                    char *h = line + 2;
                    if (strncasecmp(h, "Content-Length:", 15) == 0) {
                        char *end;
                        errno = 0;
                        unsigned long long cl = strtoull(h + 15, &end, 10);
                        if (errno || cl > NODE_HTTP_MAX_RESPONSE_BYTES) {
                            snprintf(err, errlen, "the node's response is larger than the limit of %u bytes",
                                     NODE_HTTP_MAX_RESPONSE_BYTES);
                            goto fail;
                        }
                        want = (size_t)cl;
                    } else if (strncasecmp(h, "Transfer-Encoding:", 18) == 0) {
                        snprintf(err, errlen, "the node answered with a transfer encoding this client does "
                                 "not read");
                        goto fail;
                    }
                }
            }
        }
        if (r == 0 || (body_off && n - body_off >= want))
            break;
    }
    if (!body_off) {
        snprintf(err, errlen, "the node closed the connection before a complete HTTP answer");
        goto fail;
    }
    if (want != SIZE_MAX && n - body_off < want) {
        snprintf(err, errlen, "the node's answer was cut off (%zu of %zu bytes)", n - body_off, want);
        goto fail;
    }
    size_t blen = n - body_off;
    if (want != SIZE_MAX)
        blen = want;
    memmove(buf, buf + body_off, blen);
    buf[blen] = '\0';
    close(fd);
    *resp = buf;
    *resp_len = blen;
    return 0;
fail:
    free(buf);
    close(fd);
    return -1;
}

json_t *node_rpc_call(const struct node_http_url *u, const char *method, json_t *params, int *rpc_code,
                      json_t **rpc_data, char *err, size_t errlen)
{
    json_t *result = NULL;
    char *body = NULL, *resp = NULL;
    size_t resp_len;
    int status = 0;
    *rpc_code = 0;
    if (rpc_data)
        *rpc_data = NULL;
    json_t *req = json_pack("{s:s, s:i, s:s}", "jsonrpc", "2.0", "id", 1, "method", method);
    if (!req || (params && json_object_set_new(req, "params", params) != 0)) {
        params = NULL;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    params = NULL;
    if (!(body = json_dumps(req, JSON_COMPACT))) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (node_http_post(u, body, strlen(body), &status, &resp, &resp_len, err, errlen))
        goto done;
    json_error_t jerr;
    json_t *r = json_loadb(resp, resp_len, 0, &jerr);
    if (!r || !json_is_object(r)) {
        snprintf(err, errlen, "the node answered HTTP %d without a JSON-RPC response%s%.80s", status,
                 resp_len ? ": " : "", resp);
        json_decref(r);
        goto done;
    }
    json_t *e = json_object_get(r, "error");
    json_t *res = json_object_get(r, "result");
    if (e) {
        json_t *code = json_object_get(e, "code"), *msg = json_object_get(e, "message");
        *rpc_code = json_is_integer(code) ? (int)json_integer_value(code) : -32603;
        snprintf(err, errlen, "%s (error %d)", json_is_string(msg) ? json_string_value(msg) : "no message",
                 *rpc_code);
        if (rpc_data && json_object_get(e, "data"))
            *rpc_data = json_incref(json_object_get(e, "data"));
    } else if (res) {
        result = json_incref(res);
    } else {
        snprintf(err, errlen, "the node's JSON-RPC response has neither a result nor an error");
    }
    json_decref(r);
done:
    json_decref(params);
    json_decref(req);
    free(body);
    free(resp);
    return result;
}
