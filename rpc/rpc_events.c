/* rpc_events.c -- what the public server pushes and counts: server-sent
 * events at GET /events, Prometheus text at GET /metrics, and MQTT.
 *
 * Events have a type ("block" from rpc_server_on_commit, "clearing" or any
 * other name from rpc_server_publish) and a JSON object.  On the SSE stream
 * each is "event: TYPE\ndata: JSON\n\n" (JSON_COMPACT never contains a raw
 * newline); on MQTT it is the JSON on topic "<mqtt_topic>/<TYPE>", QoS 1.
 *
 * Bounds: RPC_SSE_MAX_CLIENTS streams (more: 503); a client with more than
 * RPC_SSE_MAX_BUFFERED bytes unsent is dropped (it reconnects and reads
 * state by RPC: an event stream is a hint, not the record); MQTT messages
 * not yet acknowledged by the broker are capped at RPC_MQTT_MAX_QUEUE, over
 * it an event is dropped and counted.  libmosquitto's network loop runs in
 * a thread of ours (mqtt_main), so publishing never blocks the event loop,
 * and it reconnects with backoff (0.5 s doubling to 30 s). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <mosquitto.h>

#include "chain_crypto.h"
#include "rpc_internal.h"
#include "rpc_methods.h"

/* ---- request statistics ---- */

static const uint64_t LATENCY_LE_US[RPC_LATENCY_BUCKETS - 1] = {
    250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};

void rpc_stats_count(struct rpc_stats *st, const char *method, int code)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->by[i].code == code && strcmp(st->by[i].method, method) == 0) {
            st->by[i].count++;
            return;
        }
    if (st->n < RPC_STATS_MAX) { /* methods and codes are both from fixed tables */
        st->by[st->n].method = method;
        st->by[st->n].code = code;
        st->by[st->n++].count = 1;
    }
}

void rpc_stats_latency(struct rpc_stats *st, uint64_t us)
{
    size_t b = 0;
    while (b < RPC_LATENCY_BUCKETS - 1 && us > LATENCY_LE_US[b])
        b++;
    st->latency_le[b]++;
    st->latency_sum_us += us;
    st->latency_count++;
}

/* ---- MQTT ---- */

struct rpc_mqtt {
    struct mosquitto *m;
    char topic[RPC_MQTT_TOPIC_MAX + 1];
    char host[256];
    uint16_t port;
    pthread_t th;
    bool th_started;
    atomic_bool stop;
    atomic_uint_fast64_t unacked; /* published, broker has not acknowledged */
    atomic_uint_fast64_t acked;
    atomic_uint_fast64_t connects;
    uint64_t dropped; /* queue full or not connected (event thread only) */
    atomic_bool connected;
};

static void mqtt_on_publish(struct mosquitto *m, void *arg, int mid)
{
    (void)m;
    (void)mid;
    struct rpc_mqtt *q = arg;
    atomic_fetch_sub(&q->unacked, 1);
    atomic_fetch_add(&q->acked, 1);
}

static void mqtt_on_connect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    struct rpc_mqtt *q = arg;
    atomic_store(&q->connected, rc == 0);
    if (rc == 0)
        atomic_fetch_add(&q->connects, 1);
}

static void mqtt_on_disconnect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    (void)rc;
    atomic_store(&((struct rpc_mqtt *)arg)->connected, false);
}

/* The client's own thread: connect, run the network loop until it fails,
 * then wait (0.5 s doubling to 30 s) and reconnect, until stop.  Our own
 * loop rather than mosquitto_loop_start: its reconnect does not run when the
 * very first connect fails (a broker that comes up after the node). */
static void *mqtt_main(void *arg)
{
    struct rpc_mqtt *q = arg;
    unsigned delay_ms = 500;
    bool first = true;
    while (!atomic_load(&q->stop)) {
        int rc = first ? mosquitto_connect(q->m, q->host, q->port, 30) : mosquitto_reconnect(q->m);
        first = false;
        if (rc == MOSQ_ERR_SUCCESS) {
            delay_ms = 500;
            while (!atomic_load(&q->stop) && mosquitto_loop(q->m, 100, 1) == MOSQ_ERR_SUCCESS)
                ;
            atomic_store(&q->connected, false);
        }
        for (unsigned waited = 0; waited < delay_ms && !atomic_load(&q->stop); waited += 50) {
            struct timespec ts = {0, 50 * 1000000L};
            nanosleep(&ts, NULL);
        }
        delay_ms = delay_ms * 2 > 30000 ? 30000 : delay_ms * 2;
    }
    mosquitto_disconnect(q->m);
    return NULL;
}

static void mqtt_free(struct rpc_mqtt *q)
{
    if (!q)
        return;
    atomic_store(&q->stop, true);
    if (q->th_started)
        pthread_join(q->th, NULL);
    if (q->m)
        mosquitto_destroy(q->m);
    free(q);
}

int rpc_server_mqtt(struct rpc_server *s, const struct rpc_mqtt_config *cfg)
{
    static atomic_bool lib_ready;
    if (!cfg->host || !*cfg->host || strlen(cfg->host) >= 256 || !cfg->topic || !*cfg->topic ||
        strlen(cfg->topic) > RPC_MQTT_TOPIC_MAX || strpbrk(cfg->topic, "+#")) {
        fprintf(stderr, "rpc: mqtt needs a host and a topic of 1 to %u characters without + or #\n",
                RPC_MQTT_TOPIC_MAX);
        return -1;
    }
    if (!atomic_exchange(&lib_ready, true))
        mosquitto_lib_init(); /* process-wide; never cleaned up (other servers may use it) */
    struct rpc_mqtt *q = calloc(1, sizeof *q);
    if (!q) {
        fprintf(stderr, "rpc: out of memory\n");
        return -1;
    }
    snprintf(q->topic, sizeof q->topic, "%s", cfg->topic);
    snprintf(q->host, sizeof q->host, "%s", cfg->host);
    q->port = cfg->port ? cfg->port : 1883;
    if (!(q->m = mosquitto_new(cfg->client_id, true, q))) {
        fprintf(stderr, "rpc: mqtt: cannot create a client\n");
        goto fail;
    }
    mosquitto_threaded_set(q->m, true);
    mosquitto_publish_callback_set(q->m, mqtt_on_publish);
    mosquitto_connect_callback_set(q->m, mqtt_on_connect);
    mosquitto_disconnect_callback_set(q->m, mqtt_on_disconnect);
    if (pthread_create(&q->th, NULL, mqtt_main, q) != 0) {
        fprintf(stderr, "rpc: mqtt: cannot start its thread\n");
        goto fail;
    }
    q->th_started = true;
    mqtt_free(s->mqtt);
    s->mqtt = q;
    return 0;
fail:
    mqtt_free(q);
    return -1;
}

static void mqtt_publish(struct rpc_mqtt *q, const char *type, const char *text, size_t len)
{
    char topic[RPC_MQTT_TOPIC_MAX + 2 + RPC_EVENT_TYPE_MAX];
    if (atomic_load(&q->unacked) >= RPC_MQTT_MAX_QUEUE) {
        q->dropped++;
        return;
    }
    snprintf(topic, sizeof topic, "%s/%s", q->topic, type);
    atomic_fetch_add(&q->unacked, 1);
    if (mosquitto_publish(q->m, NULL, topic, (int)len, text, 1, false) != MOSQ_ERR_SUCCESS) {
        atomic_fetch_sub(&q->unacked, 1);
        q->dropped++;
    }
}

/* ---- server-sent events ---- */

static void sse_unlink(struct rpc_server *s, struct sse_client *c)
{
    for (struct sse_client **p = &s->sse; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            s->nsse--;
            break;
        }
}

static void sse_on_close(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    struct sse_client *c = arg;
    /* The client went away (EOF or timeout): libevent has detached the
       streaming request from its connection and leaves it to us; ending
       the reply of a detached request frees it.  (On other failures the
       request is still attached and is freed with the connection.) */
    if (evhttp_request_get_connection(c->req) == NULL)
        evhttp_send_reply_end(c->req);
    sse_unlink(c->srv, c);
    free(c);
}

void rpc_events_sse(struct rpc_server *s, struct evhttp_request *req)
{
    if (s->nsse >= RPC_SSE_MAX_CLIENTS) {
        evhttp_send_error(req, 503, "too many event streams; retry later");
        return;
    }
    struct sse_client *c = calloc(1, sizeof *c);
    struct evbuffer *b = evbuffer_new();
    if (!c || !b) {
        free(c);
        evbuffer_free(b);
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    c->srv = s;
    c->req = req;
    c->next = s->sse;
    s->sse = c;
    s->nsse++;
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    evhttp_connection_set_closecb(conn, sse_on_close, c);
    /* The server's 30 s timeout is for requests; a stream is idle by
       nature.  A dead client is found by the pings' writes failing, a slow
       one by its backlog (RPC_SSE_MAX_BUFFERED). */
    evhttp_connection_set_timeout(conn, -1);
    evhttp_send_reply_start(req, HTTP_OK, "OK");
    evbuffer_add_printf(b, ": gridledger events (block, clearing, ...)\nretry: 3000\n\n");
    evhttp_send_reply_chunk(req, b);
    evbuffer_free(b);
}

/* Drop one client: free its connection (the close callback unlinks it). */
static void sse_drop(struct rpc_server *s, struct sse_client *c)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(c->req);
    s->sse_dropped++;
    evhttp_connection_set_closecb(conn, NULL, NULL);
    sse_unlink(s, c);
    free(c);
    evhttp_connection_free(conn);
}

static size_t sse_backlog(struct sse_client *c)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(c->req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

void rpc_server_publish(struct rpc_server *s, const char *type, const json_t *json)
{
    if (!s || !type || !json)
        return;
    size_t tl = strlen(type);
    if (tl == 0 || tl > RPC_EVENT_TYPE_MAX || strpbrk(type, "\r\n:/+#"))
        return; /* programmer error: the names are constants */
    char *text = json_dumps(json, JSON_COMPACT);
    if (!text)
        return;
    size_t len = strlen(text);
    s->events_published++;
    for (struct sse_client *c = s->sse, *next; c; c = next) {
        next = c->next;
        if (sse_backlog(c) > RPC_SSE_MAX_BUFFERED) {
            sse_drop(s, c);
            continue;
        }
        struct evbuffer *b = evbuffer_new();
        if (!b)
            continue;
        evbuffer_add_printf(b, "event: %s\ndata: ", type);
        evbuffer_add(b, text, len);
        evbuffer_add(b, "\n\n", 2);
        evhttp_send_reply_chunk(c->req, b);
        evbuffer_free(b);
    }
    if (s->mqtt)
        mqtt_publish(s->mqtt, type, text, len);
    free(text);
}

void rpc_server_on_commit(struct rpc_server *s, const struct chain_exec_result *r)
{
    if (!s || !r)
        return;
    size_t failed = 0;
    for (size_t i = 0; i < r->ntx; i++)
        failed += r->tx_results[i] != 0;
    json_t *o =
        json_pack("{s:I, s:o, s:o, s:o, s:I, s:I, s:I}", "height", (json_int_t)r->height, "hash",
                  rpc_hex_json(r->block_hash, CHAIN_HASH_BYTES), "prev_hash",
                  rpc_hex_json(r->prev_hash, CHAIN_HASH_BYTES), "state_root",
                  rpc_hex_json(r->state_root, CHAIN_HASH_BYTES), "time_ms", (json_int_t)r->time_ms,
                  "txs", (json_int_t)r->ntx, "txs_failed", (json_int_t)failed);
    if (!o)
        return;
    s->blocks_seen++;
    s->txs_seen += r->ntx;
    rpc_server_publish(s, "block", o);
    json_decref(o);
}

static void on_ping(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rpc_server *s = arg;
    for (struct sse_client *c = s->sse, *next; c; c = next) {
        next = c->next;
        if (sse_backlog(c) > RPC_SSE_MAX_BUFFERED) {
            sse_drop(s, c);
            continue;
        }
        struct evbuffer *b = evbuffer_new();
        if (!b)
            return;
        evbuffer_add(b, ": ping\n\n", 8);
        evhttp_send_reply_chunk(c->req, b);
        evbuffer_free(b);
    }
}

int rpc_events_open(struct rpc_server *s, struct event_base *base)
{
    struct timeval tv = {RPC_SSE_PING_SECONDS, 0};
    if (!(s->ping = event_new(base, -1, EV_PERSIST, on_ping, s)) || event_add(s->ping, &tv) != 0)
        return -1;
    return 0;
}

void rpc_events_close(struct rpc_server *s)
{
    if (s->ping)
        event_free(s->ping);
    s->ping = NULL;
    while (s->sse) {
        struct sse_client *c = s->sse;
        evhttp_connection_set_closecb(evhttp_request_get_connection(c->req), NULL, NULL);
        /* end the chunked reply: evhttp_free then frees the request with
           its connection (a request still streaming would leak) */
        evhttp_send_reply_end(c->req);
        s->sse = c->next;
        free(c);
    }
    s->nsse = 0;
    mqtt_free(s->mqtt);
    s->mqtt = NULL;
}

/* ---- GET /metrics: the Prometheus text format (version 0.0.4) ---- */

static void metric(struct evbuffer *b, const char *name, const char *type, const char *help,
                   uint64_t v)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
                        (unsigned long long)v);
}

void rpc_events_metrics(struct rpc_server *s, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    struct chain *c = s->api.chain;
    metric(b, "gridledger_height", "gauge", "Height of the committed head.",
           c && c->has_head ? c->head.height : 0);
    metric(b, "gridledger_head_time_seconds", "gauge",
           "Block time of the committed head (from its header).",
           c && c->has_head ? c->head.time_ms / 1000u : 0);
    struct rpc_node_metrics nm;
    memset(&nm, 0, sizeof nm);
    if (s->ops.metrics && s->ops.metrics(s->ops.ctx, &nm) == 0) {
        metric(b, "gridledger_txs_committed_total", "counter",
               "Transactions committed since the node started.", nm.txs_committed);
        metric(b, "gridledger_mempool_txs", "gauge",
               "Transactions admitted to the mempool, waiting.", nm.mempool_txs);
        metric(b, "gridledger_mempool_bytes", "gauge", "Bytes of transactions in the mempool.",
               nm.mempool_bytes);
        metric(b, "gridledger_peers_up", "gauge", "Authenticated peers connected.", nm.peers_up);
    }
    metric(b, "gridledger_rpc_blocks_seen_total", "counter",
           "Committed blocks this RPC server was told of.", s->blocks_seen);
    metric(b, "gridledger_rpc_block_txs_seen_total", "counter",
           "Transactions in the blocks this server was told of.", s->txs_seen);
    metric(b, "gridledger_events_published_total", "counter", "Events published (SSE and MQTT).",
           s->events_published);
    metric(b, "gridledger_sse_clients", "gauge", "Open server-sent event streams.", s->nsse);
    metric(b, "gridledger_sse_dropped_total", "counter",
           "Event streams dropped for falling behind.", s->sse_dropped);
    if (s->mqtt) {
        metric(b, "gridledger_mqtt_connected", "gauge", "1 when connected to the MQTT broker.",
               atomic_load(&s->mqtt->connected) ? 1 : 0);
        metric(b, "gridledger_mqtt_connects_total", "counter",
               "Successful connections to the MQTT broker.", atomic_load(&s->mqtt->connects));
        metric(b, "gridledger_mqtt_acked_total", "counter",
               "MQTT messages acknowledged by the broker.", atomic_load(&s->mqtt->acked));
        metric(b, "gridledger_mqtt_queued", "gauge", "MQTT messages not yet acknowledged.",
               atomic_load(&s->mqtt->unacked));
        metric(b, "gridledger_mqtt_dropped_total", "counter",
               "MQTT messages dropped (queue full or no broker).", s->mqtt->dropped);
    }
    evbuffer_add_printf(
        b, "# HELP gridledger_rpc_requests_total JSON-RPC requests by method and result code "
           "(0 success).\n# TYPE gridledger_rpc_requests_total counter\n");
    for (size_t i = 0; i < s->stats.n; i++)
        evbuffer_add_printf(b, "gridledger_rpc_requests_total{method=\"%s\",code=\"%d\"} %llu\n",
                            s->stats.by[i].method, s->stats.by[i].code,
                            (unsigned long long)s->stats.by[i].count);
    static const char *const paths[4] = {"/", "/health", "/events", "/metrics"};
    evbuffer_add_printf(b, "# HELP gridledger_http_requests_total HTTP requests by path.\n"
                           "# TYPE gridledger_http_requests_total counter\n");
    for (size_t i = 0; i < 4; i++)
        evbuffer_add_printf(b, "gridledger_http_requests_total{path=\"%s\"} %llu\n", paths[i],
                            (unsigned long long)s->stats.http_by_path[i]);
    evbuffer_add_printf(
        b, "# HELP gridledger_rpc_request_duration_seconds Time to answer a POST / request.\n"
           "# TYPE gridledger_rpc_request_duration_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < RPC_LATENCY_BUCKETS; i++) {
        cum += s->stats.latency_le[i];
        if (i < RPC_LATENCY_BUCKETS - 1)
            evbuffer_add_printf(
                b, "gridledger_rpc_request_duration_seconds_bucket{le=\"%llu.%06llu\"} %llu\n",
                (unsigned long long)(LATENCY_LE_US[i] / 1000000u),
                (unsigned long long)(LATENCY_LE_US[i] % 1000000u), (unsigned long long)cum);
        else
            evbuffer_add_printf(
                b, "gridledger_rpc_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)cum);
    }
    evbuffer_add_printf(b, "gridledger_rpc_request_duration_seconds_sum %llu.%06llu\n",
                        (unsigned long long)(s->stats.latency_sum_us / 1000000u),
                        (unsigned long long)(s->stats.latency_sum_us % 1000000u));
    evbuffer_add_printf(b, "gridledger_rpc_request_duration_seconds_count %llu\n",
                        (unsigned long long)s->stats.latency_count);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, HTTP_OK, "OK", b);
    evbuffer_free(b);
}
