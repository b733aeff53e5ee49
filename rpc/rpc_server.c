/* rpc_server.c -- JSON-RPC 2.0 over HTTP: the envelope, batches, and evhttp.
 *
 * rpc_dispatch turns request bytes into response bytes and never fails on
 * bad input: malformed JSON, a wrong envelope, an unknown method or a bad
 * param each become a JSON-RPC error object (JSON-RPC 2.0 §5.1) with a
 * stable code and a message that names what to fix.  The HTTP layer only
 * moves bodies: POST / to rpc_dispatch, GET /health answers "ok".
 *
 * Limits: RPC_MAX_BODY_BYTES per body (-32003 above it, HTTP 413), evhttp
 * itself drops bodies above RPC_HARD_MAX_BODY_BYTES unread; RPC_MAX_BATCH
 * requests per batch; jansson's parser caps nesting at 2048 levels. */
#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "rpc.h"
#include "rpc_internal.h"
#include "rpc_methods.h"

const char *rpc_err_name(int code)
{
    switch (code) {
#define RPC_ERR_NAME_(name, c, msg)                                                                \
    case c: return #name;
        RPC_ERRORS(RPC_ERR_NAME_)
#undef RPC_ERR_NAME_
    default: return "UNKNOWN";
    }
}

const char *rpc_strerror(int code)
{
    switch (code) {
#define RPC_ERR_MSG_(name, c, msg)                                                                 \
    case c: return msg;
        RPC_ERRORS(RPC_ERR_MSG_)
#undef RPC_ERR_MSG_
    default: return "unknown error code";
    }
}

void rpc_fail(struct rpc_error *e, int code, const char *fmt, ...)
{
    va_list ap;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

/* ---- responses ---- */

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms,
 * surrogates or code points above U+10FFFF), or 0 when there is none. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t n;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0; /* also stops at the terminating NUL */
    return n;
}

/* Messages quote what the caller sent (jansson's parse error quotes raw
 * body bytes; "%.64s" can cut a character in two), and a JSON string must
 * be UTF-8: every byte outside a valid sequence becomes '?', so that an
 * error can always be answered. */
static void utf8_clean(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        size_t n = utf8_seq(p);
        if (n == 0)
            *p++ = '?';
        else
            p += n;
    }
}

/* {"jsonrpc":"2.0","id":id,"error":{...}}; takes e->data.  NULL on out of memory. */
static json_t *error_response(json_t *id, struct rpc_error *e)
{
    utf8_clean(e->message);
    json_t *err = json_pack("{s:i, s:s}", "code", e->code, "message", e->message);
    if (err && e->data && json_object_set_new(err, "data", e->data) != 0) {
        json_decref(err);
        err = NULL;
    } else if (!err) {
        json_decref(e->data);
    }
    e->data = NULL;
    if (!err)
        return NULL;
    return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error",
                     err);
}

static json_t *result_response(json_t *id, json_t *result)
{
    return json_pack("{s:s, s:O, s:O}", "jsonrpc", "2.0", "id", id, "result", result);
}

static json_t *simple_error(int code, const char *message)
{
    struct rpc_error e = {.code = code, .data = NULL};
    rpc_fail(&e, code, "%s", message);
    return error_response(NULL, &e);
}

/* ---- one request ---- */

static int valid_id(const json_t *id)
{
    return json_is_string(id) || json_is_integer(id) || json_is_real(id) || json_is_null(id);
}

/* Check params against the method's allowed names: unknown names are
 * refused by name, so a typo never silently means "use the default". */
static int check_param_names(const struct rpc_method *m, json_t *params, struct rpc_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(params, key, v)
    {
        int ok = 0;
        for (size_t i = 0; m->params[i]; i++)
            if (strcmp(m->params[i], key) == 0)
                ok = 1;
        if (!ok) {
            char allowed[160] = "";
            size_t off = 0;
            for (size_t i = 0; m->params[i] && off < sizeof allowed; i++)
                off += (size_t)snprintf(allowed + off, sizeof allowed - off, "%s\"%s\"",
                                        i ? ", " : "", m->params[i]);
            rpc_fail(err, RPC_ERR_INVALID_PARAMS,
                     "unknown param \"%.64s\" for method %s; it takes %s", key, m->name,
                     off ? allowed : "no params");
            return -1;
        }
    }
    return 0;
}

/* Handle one request object.  Returns the response, or NULL when none is due
 * (a notification) or out of memory (*oom set). */
static json_t *handle_one_(const struct rpc_api *api, const struct rpc_table *t, json_t *req,
                           int *oom, const char **method_name, int *code);

/* One request, counted by method and code for GET /metrics. */
static json_t *handle_one(const struct rpc_api *api, const struct rpc_table *t, json_t *req,
                          int *oom)
{
    const char *name = "invalid";
    int code = 0;
    json_t *r = handle_one_(api, t, req, oom, &name, &code);
    if (api->stats)
        rpc_stats_count(api->stats, name, code);
    return r;
}

static json_t *handle_one_(const struct rpc_api *api, const struct rpc_table *t, json_t *req,
                           int *oom, const char **method_name, int *code)
{
    struct rpc_error err = {.code = 0, .data = NULL};
    json_t *id = NULL, *resp = NULL;
    if (!json_is_object(req)) {
        rpc_fail(&err, RPC_ERR_INVALID_REQUEST,
                 "a request must be a JSON object like {\"jsonrpc\": \"2.0\", \"method\": "
                 "\"status\", \"id\": 1}");
        goto error;
    }
    id = json_object_get(req, "id");
    int notification = id == NULL;
    if (id && !valid_id(id)) {
        id = NULL;
        rpc_fail(&err, RPC_ERR_INVALID_REQUEST, "\"id\" must be a string, a number or null");
        goto error;
    }
    const char *key;
    json_t *v;
    json_object_foreach(req, key, v)
    {
        if (strcmp(key, "jsonrpc") && strcmp(key, "method") && strcmp(key, "params") &&
            strcmp(key, "id")) {
            rpc_fail(
                &err, RPC_ERR_INVALID_REQUEST,
                "unknown member \"%.64s\" in the request; allowed: jsonrpc, method, params, id",
                key);
            goto error;
        }
    }
    json_t *ver = json_object_get(req, "jsonrpc");
    if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0") != 0) {
        rpc_fail(&err, RPC_ERR_INVALID_REQUEST, "\"jsonrpc\" must be the string \"2.0\"");
        goto error;
    }
    json_t *method = json_object_get(req, "method");
    if (!json_is_string(method)) {
        rpc_fail(&err, RPC_ERR_INVALID_REQUEST, "\"method\" must be a string, e.g. \"status\"");
        goto error;
    }
    const struct rpc_method *m = t->find(json_string_value(method));
    *method_name = m ? m->name : "unknown";
    if (!m) {
        if (notification)
            return NULL;
        rpc_fail(&err, RPC_ERR_METHOD_NOT_FOUND,
                 "no method \"%.64s\"; see rpc/README.md for the list (%s)",
                 json_string_value(method), t->names);
        goto error;
    }
    json_t *params = json_object_get(req, "params");
    json_t *empty = NULL;
    if (!params) {
        params = empty = json_object();
        if (!params) {
            *oom = 1;
            return NULL;
        }
    } else if (!json_is_object(params)) {
        rpc_fail(&err, RPC_ERR_INVALID_PARAMS,
                 "\"params\" must be an object of named params (e.g. {\"height\": 5}), not %s",
                 json_is_array(params) ? "an array: this server takes params by name only"
                                       : "a scalar");
        goto error;
    }
    json_t *result = NULL;
    if (check_param_names(m, params, &err) == 0)
        result = m->fn(api, params, &err);
    json_decref(empty);
    if (!result) {
        if (err.code == 0) { /* a method returns NULL without a code only when out of memory */
            *oom = 1;
            return NULL;
        }
        goto error;
    }
    if (notification) {
        json_decref(result);
        return NULL;
    }
    resp = result_response(id, result);
    json_decref(result);
    if (!resp)
        *oom = 1;
    return resp;
error:
    *code = err.code;
    if (id == NULL && req && json_is_object(req) && json_object_get(req, "id") == NULL &&
        err.code != RPC_ERR_INVALID_REQUEST) {
        /* a notification's errors are not reported (JSON-RPC 2.0 §4.1) */
        json_decref(err.data);
        return NULL;
    }
    resp = error_response(id, &err);
    if (!resp)
        *oom = 1;
    return resp;
}

static const struct rpc_table PUBLIC_TABLE = {rpc_method_find, rpc_method_names};

int rpc_dispatch(const struct rpc_api *api, const char *body, size_t len, char **out,
                 size_t *out_len)
{
    return rpc_dispatch_table(api, &PUBLIC_TABLE, body, len, out, out_len);
}

int rpc_dispatch_table(const struct rpc_api *api, const struct rpc_table *t, const char *body,
                       size_t len, char **out, size_t *out_len)
{
    json_t *resp = NULL;
    int oom = 0;
    *out = NULL;
    *out_len = 0;
    if (len > RPC_MAX_BODY_BYTES) {
        char msg[160];
        snprintf(msg, sizeof msg,
                 "request body is %zu bytes, over the limit of %u; split a submit_txs call or a "
                 "batch into smaller ones",
                 len, RPC_MAX_BODY_BYTES);
        resp = simple_error(RPC_ERR_TOO_LARGE, msg);
        goto send;
    }
    json_error_t jerr;
    json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!req) {
        char msg[256];
        snprintf(msg, sizeof msg, "request body is not valid JSON (line %d column %d: %.160s)",
                 jerr.line, jerr.column, jerr.text);
        resp = simple_error(RPC_ERR_PARSE, msg);
        goto send;
    }
    if (json_is_array(req)) {
        size_t n = json_array_size(req);
        if (n == 0) {
            resp =
                simple_error(RPC_ERR_INVALID_REQUEST, "an empty batch; send at least one request");
        } else if (n > RPC_MAX_BATCH) {
            char msg[96];
            snprintf(msg, sizeof msg, "batch has %zu requests, over the limit of %u: split it", n,
                     RPC_MAX_BATCH);
            resp = simple_error(RPC_ERR_TOO_LARGE, msg);
        } else {
            resp = json_array();
            for (size_t i = 0; resp && i < n && !oom; i++) {
                json_t *r = handle_one(api, t, json_array_get(req, i), &oom);
                if (r && json_array_append_new(resp, r) != 0)
                    oom = 1;
            }
            if (resp && !oom && json_array_size(resp) == 0) { /* only notifications */
                json_decref(resp);
                json_decref(req);
                return 0;
            }
        }
    } else {
        resp = handle_one(api, t, req, &oom);
        if (!resp && !oom) {
            json_decref(req);
            return 0;
        }
    }
    json_decref(req);
send:
    if (!resp || oom) {
        json_decref(resp);
        return -1;
    }
    *out = json_dumps(resp, JSON_COMPACT);
    json_decref(resp);
    if (!*out)
        return -1;
    *out_len = strlen(*out);
    return 0;
}

/* ---- HTTP ---- */

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *ctype,
                       const char *text, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    if (evbuffer_add(b, text, len) != 0) {
        evbuffer_free(b);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void on_rpc_post(struct rpc_server *s, struct evhttp_request *req);

static void on_request(struct evhttp_request *req, void *arg)
{
    struct rpc_server *s = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (!path || !*path)
        path = "/";
    if (strcmp(path, "/health") == 0) {
        s->stats.http_by_path[1]++;
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
            evhttp_send_error(req, 405, "use GET /health");
            return;
        }
        reply_text(req, HTTP_OK, "OK", "text/plain", "ok", 2);
        return;
    }
    if (strcmp(path, "/events") == 0 || strcmp(path, "/metrics") == 0) {
        bool events = path[1] == 'e';
        s->stats.http_by_path[events ? 2 : 3]++;
        if (cmd != EVHTTP_REQ_GET) {
            evhttp_send_error(req, 405, events ? "use GET /events" : "use GET /metrics");
            return;
        }
        if (events)
            rpc_events_sse(s, req);
        else
            rpc_events_metrics(s, req);
        return;
    }
    uint64_t t0 = mono_us();
    on_rpc_post(s, req);
    rpc_stats_latency(&s->stats, mono_us() - t0);
}

static void on_rpc_post(struct rpc_server *s, struct evhttp_request *req)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (!path || !*path)
        path = "/";
    if (strcmp(path, "/") != 0) {
        evhttp_send_error(
            req, HTTP_NOTFOUND,
            "JSON-RPC is served at POST /, health at GET /health, events at GET /events, "
            "metrics at GET /metrics");
        return;
    }
    if (cmd != EVHTTP_REQ_POST) {
        evhttp_send_error(req, 405, "JSON-RPC requests are POST / with a JSON body");
        return;
    }
    s->stats.http_by_path[0]++;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char *out = NULL;
    size_t out_len = 0;
    int rc;
    if (len > RPC_MAX_BODY_BYTES) {
        rc = rpc_dispatch(&s->api, NULL, len, &out, &out_len); /* answers TOO_LARGE unread */
        if (rc == 0 && out) {
            reply_text(req, 413, "Payload Too Large", "application/json", out, out_len);
            free(out);
            return;
        }
    } else {
        const char *body = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
        if (!body) {
            evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
            return;
        }
        rc = rpc_dispatch(&s->api, body, len, &out, &out_len);
    }
    if (rc != 0) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    if (!out) {
        evhttp_send_reply(req, HTTP_NOCONTENT, "No Content", NULL);
        return;
    }
    reply_text(req, HTTP_OK, "OK", "application/json", out, out_len);
    free(out);
}

int rpc_server_open(struct rpc_server **out, struct event_base *base, struct chain *c,
                    const struct rpc_node_ops *ops, const char *host, uint16_t port)
{
    *out = NULL;
    struct rpc_server *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "rpc: out of memory\n");
        return -1;
    }
    if (ops)
        s->ops = *ops;
    s->api.chain = c;
    s->api.ops = &s->ops;
    s->api.stats = &s->stats;
    s->http = evhttp_new(base);
    if (!s->http) {
        fprintf(stderr, "rpc: cannot create the HTTP server\n");
        goto fail;
    }
    evhttp_set_max_body_size(s->http, (ev_ssize_t)RPC_HARD_MAX_BODY_BYTES);
    evhttp_set_max_headers_size(s->http, 16 * 1024);
    evhttp_set_timeout(s->http, 30);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(s->http, on_request, s);
    if (rpc_events_open(s, base) != 0) {
        fprintf(stderr, "rpc: cannot create the event-stream timer\n");
        goto fail;
    }
    s->sock = evhttp_bind_socket_with_handle(s->http, host, port);
    if (!s->sock) {
        fprintf(stderr, "rpc: cannot listen on %s:%u (address in use, or not a local address?)\n",
                host, (unsigned)port);
        goto fail;
    }
    evutil_socket_t fd = evhttp_bound_socket_get_fd(s->sock);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        fprintf(stderr, "rpc: cannot read the bound address of %s:%u\n", host, (unsigned)port);
        goto fail;
    }
    if (ss.ss_family == AF_INET)
        s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    else if (ss.ss_family == AF_INET6)
        s->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    *out = s;
    return 0;
fail:
    rpc_server_close(s);
    return -1;
}

uint16_t rpc_server_port(const struct rpc_server *s)
{
    return s->port;
}

void rpc_server_close(struct rpc_server *s)
{
    if (!s)
        return;
    rpc_events_close(s);
    if (s->http)
        evhttp_free(s->http);
    free(s);
}
