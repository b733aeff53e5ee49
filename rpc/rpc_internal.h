/* rpc_internal.h -- inside rpc/: the public server's state, shared by
 * rpc_server.c (HTTP, JSON-RPC) and rpc_events.c (SSE, /metrics, MQTT). */
#ifndef RPC_INTERNAL_H
#define RPC_INTERNAL_H

#include <stdint.h>

#include "rpc.h"

struct evhttp;
struct evhttp_bound_socket;
struct evhttp_request;
struct rpc_mqtt;
struct event;
struct event_base;

/* Request counts by (method, code): methods of the public table, plus
 * "unknown" for a name not in it and "invalid" for a request without a
 * usable method, so that a caller cannot grow the label set. */
#define RPC_STATS_MAX       256u
#define RPC_LATENCY_BUCKETS 12u /* upper bounds in rpc_events.c; the last is +Inf */

struct rpc_stats {
    struct {
        const char *method; /* static */
        int code;           /* 0 or an RPC_ERRORS code */
        uint64_t count;
    } by[RPC_STATS_MAX];
    size_t n;
    uint64_t latency_le[RPC_LATENCY_BUCKETS]; /* cumulative at output, per bucket here */
    uint64_t latency_sum_us;
    uint64_t latency_count;
    uint64_t http_by_path[4]; /* "/", "/health", "/events", "/metrics" */
};

void rpc_stats_count(struct rpc_stats *st, const char *method, int code);

struct sse_client {
    struct rpc_server *srv;
    struct evhttp_request *req;
    struct sse_client *next;
};

struct rpc_server {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    struct rpc_node_ops ops; /* a copy: the caller's struct may be short-lived */
    struct rpc_api api;
    uint16_t port;
    struct rpc_stats stats;
    struct sse_client *sse;
    size_t nsse;
    uint64_t sse_dropped; /* clients dropped for falling behind */
    uint64_t events_published;
    uint64_t blocks_seen, txs_seen; /* rpc_server_on_commit */
    struct rpc_mqtt *mqtt;          /* NULL: no broker configured */
    struct event *ping;             /* SSE keep-alive comment */
};

/* rpc_events.c */
int rpc_events_open(struct rpc_server *s, struct event_base *base);
void rpc_events_sse(struct rpc_server *s, struct evhttp_request *req);
void rpc_events_metrics(struct rpc_server *s, struct evhttp_request *req);
void rpc_events_close(struct rpc_server *s);
void rpc_stats_latency(struct rpc_stats *st, uint64_t us);

#endif
