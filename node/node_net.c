/* node_net.c -- the P2P transport on libevent: a listener, outgoing dials with
 * backoff, one bufferevent per connection driving a node_net_proto session,
 * peer ids, duplicate resolution and write-queue limits.  See node_net.h for
 * the contract and node_net_proto.h for the bytes on the wire.
 *
 * Ownership: struct node_net owns its slots (one per peer id) and every
 * connection.  A connection is freed by conn_drop, except while its own read
 * callback runs (busy): then the callback frees it on the way out, so a
 * callback may drop any connection, its own included. */
#define _DEFAULT_SOURCE /* TCP_KEEPIDLE and friends */
#include "node_net.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#define NO_SLOT   UINT32_MAX
#define LOG_BYTES 512u
/* The fewest bytes any unit has (a hello's fixed start, a stream header, a frame). */
#define MIN_UNIT 8u
_Static_assert(MIN_UNIT <= NODE_NET_HEADERBYTES && MIN_UNIT <= NODE_NET_FRAME_OVERHEAD &&
                   MIN_UNIT <= NODE_NET_HELLO_FIXED,
               "MIN_UNIT never asks for more than a unit");
/* Larger single reads and writes than libevent's 16 KiB default: blocks are big. */
#define MAX_SINGLE_IO (256u << 10)

struct conn {
    struct node_net *n;
    struct conn *next, *prev;
    struct bufferevent *bev;
    struct event *timer; /* handshake deadline */
    struct node_net_sess sess;
    char addr[80];  /* the remote "host:port" */
    uint32_t slot;  /* dial target, then the peer id once authenticated; NO_SLOT before */
    bool dialed;    /* we dialed it */
    bool connected; /* TCP is established (always for accepted ones) */
    bool up;        /* authenticated and its slot's connection */
    bool dead;
    int busy;    /* inside its own read callback */
    size_t want; /* contiguous bytes the session needs next */
};

struct slot {
    struct node_net *n;
    uint32_t id;
    uint8_t key[32];
    char host[64];
    uint16_t port;
    bool dialable;        /* configured, has a port, and is not us */
    struct conn *conn;    /* the authenticated connection, or NULL */
    struct conn *dialing; /* our outgoing connection still in its handshake */
    struct event *redial;
    uint32_t backoff_ms;
};

struct node_net {
    struct event_base *base;
    struct node_net_cfg cfg; /* peers and chain_id point into this struct */
    char chain_id[NODE_NET_CHAIN_ID_MAX + 1];
    size_t max_frame, max_queue;
    struct slot **slots;
    size_t nslots, cap_slots;
    struct conn *conns;
    struct evconnlistener *lst;
    uint8_t *scratch; /* max_frame bytes: decrypted frames, valid during on_frame */
    size_t up;
    int in_cb;
};

__attribute__((format(printf, 2, 3))) static void net_log(struct node_net *n, const char *fmt, ...)
{
    char line[LOG_BYTES];
    va_list ap;
    memcpy(line, "net: ", 5);
    va_start(ap, fmt);
    vsnprintf(line + 5, sizeof line - 5, fmt, ap);
    va_end(ap);
    if (n->cfg.on_log) {
        n->in_cb++;
        n->cfg.on_log(n->cfg.ctx, line);
        n->in_cb--;
    } else {
        fprintf(stderr, "%s\n", line);
    }
}

static void hex8(const uint8_t *key, char out[17])
{
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        out[2 * i] = d[key[i] >> 4];
        out[2 * i + 1] = d[key[i] & 15];
    }
    out[16] = '\0';
}

/* "127.0.0.1:40512" or "127.0.0.1:40512 (peer 2)". */
static void conn_label(const struct conn *c, char *out, size_t cap)
{
    if (c->slot != NO_SLOT)
        snprintf(out, cap, "%s (peer %u)", c->addr, c->slot);
    else
        snprintf(out, cap, "%s", c->addr);
}

static void conn_free(struct conn *c)
{
    struct node_net *n = c->n;
    if (c->prev)
        c->prev->next = c->next;
    else
        n->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->bev)
        bufferevent_free(c->bev);
    if (c->timer)
        event_free(c->timer);
    node_net_sess_deinit(&c->sess);
    free(c);
}

static void dial(struct node_net *n, struct slot *s);

static void schedule_redial(struct node_net *n, struct slot *s)
{
    if (!s->dialable || s->conn || s->dialing || evtimer_pending(s->redial, NULL))
        return;
    uint32_t d = s->backoff_ms;
    uint32_t delay = d / 2 + randombytes_uniform(d / 2 + 1); /* jitter: not consensus */
    uint32_t cap = n->cfg.backoff_max_ms;
    s->backoff_ms = d > cap / 2 ? cap : 2 * d;
    struct timeval tv = {.tv_sec = delay / 1000, .tv_usec = (suseconds_t)(delay % 1000) * 1000};
    evtimer_add(s->redial, &tv);
}

/* Drop c with one log line; notify on_peer if it was the peer's connection;
 * schedule a redial; free c now unless its read callback is running. */
static void conn_drop(struct conn *c, int code, const char *why)
{
    struct node_net *n = c->n;
    if (c->dead)
        return;
    c->dead = true;
    char label[128];
    conn_label(c, label, sizeof label);
    net_log(n, "dropped %s: %s [%s]", label, why, node_net_err_name(code));
    struct slot *s = c->slot != NO_SLOT ? n->slots[c->slot] : NULL;
    bool was_up = c->up;
    if (s && s->dialing == c)
        s->dialing = NULL;
    if (was_up) {
        assert(s && s->conn == c);
        s->conn = NULL;
        c->up = false;
        n->up--;
    }
    if (c->bev) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    if (c->timer)
        evtimer_del(c->timer);
    if (s)
        schedule_redial(n, s);
    if (was_up && n->cfg.on_peer) {
        n->in_cb++;
        n->cfg.on_peer(n->cfg.ctx, s->id, false);
        n->in_cb--;
    }
    if (!c->busy)
        conn_free(c);
}

static void set_sockopts(evutil_socket_t fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
#ifdef TCP_KEEPIDLE
    /* A half-open connection (the peer's machine died) is found in about 30 s. */
    int idle = 15, intvl = 5, cnt = 3;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
#endif
}

static uint32_t find_slot(const struct node_net *n, const uint8_t key[32])
{
    for (size_t i = 0; i < n->nslots; i++)
        if (memcmp(n->slots[i]->key, key, 32) == 0)
            return (uint32_t)i;
    return NO_SLOT;
}

static void redial_cb(evutil_socket_t fd, short what, void *arg);

/* A new slot for key; NO_SLOT when out of memory. */
static uint32_t add_slot(struct node_net *n, const uint8_t key[32])
{
    if (n->nslots == n->cap_slots) {
        size_t cap = n->cap_slots ? 2 * n->cap_slots : 8;
        struct slot **p = realloc(n->slots, cap * sizeof *p);
        if (!p)
            return NO_SLOT;
        n->slots = p;
        n->cap_slots = cap;
    }
    struct slot *s = calloc(1, sizeof *s);
    if (!s)
        return NO_SLOT;
    s->n = n;
    s->id = (uint32_t)n->nslots;
    memcpy(s->key, key, 32);
    s->backoff_ms = n->cfg.backoff_min_ms;
    s->redial = evtimer_new(n->base, redial_cb, s);
    if (!s->redial) {
        free(s);
        return NO_SLOT;
    }
    n->slots[n->nslots++] = s;
    return s->id;
}

/* c proved its key: bind it to a peer id, resolve duplicates, send our own
 * reply if we accepted (reply[0..len), empty for the dialer), report it up. */
static void on_authenticated(struct conn *c, const uint8_t *reply, size_t reply_len)
{
    struct node_net *n = c->n;
    const uint8_t *key = c->sess.peer.key;
    char h[17], want[17], why[200];
    hex8(key, h);
    uint32_t id;
    if (c->dialed) {
        struct slot *d = n->slots[c->slot];
        if (d->dialing == c)
            d->dialing = NULL;
        if (memcmp(d->key, key, 32) != 0) {
            hex8(d->key, want);
            snprintf(why, sizeof why, "it proved key %s..., but peer %u is %s...", h, d->id, want);
            conn_drop(c, NODE_NET_ERR_WRONG_KEY, why);
            return;
        }
        id = c->slot;
    } else {
        id = find_slot(n, key);
        if (id == NO_SLOT) {
            if (!n->cfg.accept_unknown) {
                snprintf(why, sizeof why, "key %s... is not a known node", h);
                conn_drop(c, NODE_NET_ERR_UNKNOWN_KEY, why);
                return;
            }
            if (n->nslots - n->cfg.npeers >= NODE_NET_MAX_UNKNOWN_PEERS) {
                snprintf(why, sizeof why, "key %s... is unknown and %u unknown peers are known", h,
                         NODE_NET_MAX_UNKNOWN_PEERS);
                conn_drop(c, NODE_NET_ERR_TOO_MANY_PEERS, why);
                return;
            }
            id = add_slot(n, key);
            if (id == NO_SLOT) {
                conn_drop(c, NODE_NET_ERR_NOMEM, "out of memory for a new peer");
                return;
            }
        }
        c->slot = id;
    }
    struct slot *s = n->slots[id];
    if (s->conn) {
        /* Two connections between the same pair.  Both ends must keep the
         * same one without talking: the one dialed by the lower key; two
         * dialed by the same side: the newer (the dialer dials only when it
         * has none, so it has already given the older one up). */
        bool keep_new;
        if (s->conn->dialed == c->dialed) {
            keep_new = true;
        } else {
            bool we_lower = memcmp(n->cfg.pk, key, 32) < 0;
            keep_new = c->dialed == we_lower;
        }
        if (!keep_new) {
            conn_drop(c, NODE_NET_ERR_DUPLICATE,
                      "duplicate connection; keeping the one dialed by the lower key");
            return;
        }
    }
    if (reply_len && bufferevent_write(c->bev, reply, reply_len) != 0) {
        conn_drop(c, NODE_NET_ERR_NOMEM, "out of memory queueing the handshake");
        return;
    }
    evtimer_del(c->timer);
    s->backoff_ms = n->cfg.backoff_min_ms;
    evtimer_del(s->redial);
    if (s->conn) { /* the new one wins (above): retire the old one quietly */
        struct conn *old = s->conn;
        old->up = false;
        s->conn = c;
        c->up = true;
        conn_drop(old, NODE_NET_ERR_DUPLICATE,
                  old->dialed == c->dialed ? "replaced by a newer connection from the same dialer"
                                           : "duplicate connection; keeping the one dialed by "
                                             "the lower key");
        return;
    }
    s->conn = c;
    c->up = true;
    n->up++;
    net_log(n, "peer %u up: %s, key %s..., %s", id, c->addr, h, c->dialed ? "dialed" : "inbound");
    if (n->cfg.on_peer) {
        n->in_cb++;
        n->cfg.on_peer(n->cfg.ctx, id, true);
        n->in_cb--;
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    struct node_net *n = c->n;
    struct evbuffer *in = bufferevent_get_input(bev);
    c->busy++;
    while (!c->dead) {
        /* Pull up only what the next unit needs, once it is all there: a
         * large frame arriving in many reads is copied once, not per read. */
        size_t avail = evbuffer_get_length(in);
        if (avail < c->want)
            break;
        size_t take = c->want;
        const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)take);
        if (!p) {
            conn_drop(c, NODE_NET_ERR_NOMEM, "out of memory reading a frame");
            break;
        }
        size_t used = 0;
        struct node_net_ev ev;
        int rc = node_net_sess_input(&c->sess, p, take, n->scratch, &used, &ev);
        if (rc == NODE_NET_ERR_NEED_MORE) {
            assert(ev.len > take);
            c->want = ev.len;
            continue;
        }
        if (rc != NODE_NET_ERR_OK) {
            conn_drop(c, rc, c->sess.why);
            break;
        }
        evbuffer_drain(in, used);
        c->want = MIN_UNIT;
        switch (ev.kind) {
        case NODE_NET_EV_SEND:
            if (bufferevent_write(bev, ev.data, ev.len) != 0)
                conn_drop(c, NODE_NET_ERR_NOMEM, "out of memory queueing the handshake");
            break;
        case NODE_NET_EV_UP: on_authenticated(c, ev.data, ev.len); break;
        case NODE_NET_EV_FRAME:
            if (c->up) {
                n->in_cb++;
                n->cfg.on_frame(n->cfg.ctx, c->slot, ev.data, ev.len);
                n->in_cb--;
            }
            break;
        default: break;
        }
    }
    c->busy--;
    if (c->dead && c->busy == 0)
        conn_free(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct conn *c = arg;
    char why[160];
    if (what & BEV_EVENT_CONNECTED) {
        c->connected = true;
        set_sockopts(bufferevent_getfd(bev));
        return;
    }
    const char *stage = c->sess.state == NODE_NET_SESS_UP ? "" : " during the handshake";
    if (what & BEV_EVENT_EOF) {
        snprintf(why, sizeof why, "connection closed by the peer%s", stage);
        conn_drop(c, NODE_NET_ERR_CLOSED, why);
    } else if (what & BEV_EVENT_ERROR) {
        int e = EVUTIL_SOCKET_ERROR();
        int dns = bufferevent_socket_get_dns_error(bev);
        if (dns)
            snprintf(why, sizeof why, "cannot resolve the address: %s", evutil_gai_strerror(dns));
        else if (!c->connected)
            snprintf(why, sizeof why, "cannot connect: %s", evutil_socket_error_to_string(e));
        else
            snprintf(why, sizeof why, "%s%s", evutil_socket_error_to_string(e), stage);
        conn_drop(c, NODE_NET_ERR_SOCKET, why);
    }
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    char why[96];
    snprintf(why, sizeof why, "handshake not finished within %u ms", c->n->cfg.handshake_ms);
    conn_drop(c, NODE_NET_ERR_TIMEOUT, why);
}

/* A connection on bev (owned from here on, freed on failure); NULL when out of memory. */
static struct conn *conn_new(struct node_net *n, struct bufferevent *bev, const char *addr,
                             bool dialed, uint32_t slot)
{
    struct conn *c = calloc(1, sizeof *c);
    if (!c) {
        bufferevent_free(bev);
        return NULL;
    }
    c->n = n;
    c->bev = bev;
    c->dialed = dialed;
    c->slot = slot;
    c->connected = !dialed;
    c->want = MIN_UNIT;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    c->next = n->conns;
    if (n->conns)
        n->conns->prev = c;
    n->conns = c;
    c->timer = evtimer_new(n->base, timeout_cb, c);
    uint8_t eph_pk[32], eph_sk[32];
    crypto_kx_keypair(eph_pk, eph_sk);
    int rc = node_net_sess_init(&c->sess, dialed, n->cfg.pk, n->cfg.sk, n->chain_id, n->max_frame,
                                eph_pk, eph_sk);
    sodium_memzero(eph_sk, sizeof eph_sk);
    assert(rc == NODE_NET_ERR_OK); /* arguments were checked in node_net_open */
    (void)rc;
    if (!c->timer) {
        conn_free(c);
        return NULL;
    }
    struct timeval tv = {.tv_sec = n->cfg.handshake_ms / 1000,
                         .tv_usec = (suseconds_t)(n->cfg.handshake_ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
    bufferevent_setcb(bev, read_cb, NULL, event_cb, c);
    /* Reading pauses once a whole largest frame is buffered: a peer cannot make
     * us buffer more than one frame ahead. */
    bufferevent_setwatermark(bev, EV_READ, 0, n->max_frame + NODE_NET_FRAME_OVERHEAD);
    (void)bufferevent_set_max_single_read(bev, MAX_SINGLE_IO);
    (void)bufferevent_set_max_single_write(bev, MAX_SINGLE_IO);
    if (bufferevent_write(bev, c->sess.hello, c->sess.hello_len) != 0 ||
        bufferevent_enable(bev, EV_READ | EV_WRITE) != 0) {
        conn_free(c);
        return NULL;
    }
    return c;
}

static void host_port(const char *host, uint16_t port, char *out, size_t cap)
{
    if (strchr(host, ':'))
        snprintf(out, cap, "[%s]:%u", host, port);
    else
        snprintf(out, cap, "%s:%u", host, port);
}

static void dial(struct node_net *n, struct slot *s)
{
    assert(s->dialable);
    if (s->conn || s->dialing)
        return;
    char addr[80];
    host_port(s->host, s->port, addr, sizeof addr);
    struct bufferevent *bev = bufferevent_socket_new(n->base, -1, BEV_OPT_CLOSE_ON_FREE);
    struct conn *c = bev ? conn_new(n, bev, addr, true, s->id) : NULL;
    if (!c) {
        net_log(n, "dial peer %u at %s: out of memory", s->id, addr);
        schedule_redial(n, s);
        return;
    }
    s->dialing = c;
    struct sockaddr_storage ss;
    int sslen = (int)sizeof ss;
    int rc;
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) == 0)
        rc = bufferevent_socket_connect(bev, (struct sockaddr *)&ss, sslen);
    else /* a name: resolved by a blocking getaddrinfo (no evdns base) */
        rc = bufferevent_socket_connect_hostname(bev, NULL, AF_UNSPEC, s->host, s->port);
    if (rc != 0) {
        char why[160];
        snprintf(why, sizeof why, "cannot dial: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        conn_drop(c, NODE_NET_ERR_SOCKET, why);
    }
}

static void redial_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct slot *s = arg;
    dial(s->n, s);
}

static void accept_cb(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    (void)lst;
    (void)salen;
    struct node_net *n = arg;
    char ip[INET6_ADDRSTRLEN] = "?", addr[80];
    uint16_t port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)(const void *)sa;
        evutil_inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof ip);
        port = ntohs(in4->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        evutil_inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
    }
    host_port(ip, port, addr, sizeof addr);
    set_sockopts(fd);
    struct bufferevent *bev = bufferevent_socket_new(n->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        evutil_closesocket(fd);
        net_log(n, "dropped %s: out of memory [NOMEM]", addr);
        return;
    }
    if (!conn_new(n, bev, addr, false, NO_SLOT))
        net_log(n, "dropped %s: out of memory [NOMEM]", addr);
}

static void listen_error_cb(struct evconnlistener *lst, void *arg)
{
    (void)lst;
    struct node_net *n = arg;
    /* EMFILE and the like: accepting resumes by itself when it can. */
    net_log(n, "accept failed: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static int open_listener(struct node_net *n)
{
    const char *host = n->cfg.listen_host ? n->cfg.listen_host : "0.0.0.0";
    if (!strcmp(host, "localhost"))
        host = "127.0.0.1";
    char addr[96];
    host_port(host, n->cfg.listen_port, addr, sizeof addr);
    struct sockaddr_storage ss;
    int sslen = (int)sizeof ss;
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) != 0) {
        net_log(n, "cannot listen on %s: listen_host must be a numeric address", addr);
        return NODE_NET_ERR_INVALID_ARG;
    }
    n->lst = evconnlistener_new_bind(
        n->base, accept_cb, n, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
        -1, (struct sockaddr *)&ss, sslen);
    if (!n->lst) {
        net_log(n, "cannot listen on %s: %s", addr, strerror(errno));
        return NODE_NET_ERR_LISTEN;
    }
    evconnlistener_set_error_cb(n->lst, listen_error_cb);
    return NODE_NET_ERR_OK;
}

static int check_cfg(const struct node_net_cfg *cfg)
{
    size_t clen = cfg->chain_id ? strlen(cfg->chain_id) : 0;
    size_t mf = cfg->max_frame ? cfg->max_frame : NODE_NET_MAX_FRAME;
    if (clen == 0 || clen > NODE_NET_CHAIN_ID_MAX || !cfg->on_frame ||
        mf > (size_t)UINT32_MAX - NODE_NET_FRAME_OVERHEAD || (cfg->npeers && !cfg->peers) ||
        cfg->npeers > (1u << 20))
        return NODE_NET_ERR_INVALID_ARG;
    for (size_t i = 0; i < cfg->npeers; i++) {
        if (!memchr(cfg->peers[i].host, '\0', sizeof cfg->peers[i].host))
            return NODE_NET_ERR_INVALID_ARG;
        if (cfg->peers[i].port && cfg->peers[i].host[0] == '\0')
            return NODE_NET_ERR_INVALID_ARG;
        for (size_t j = 0; j < i; j++)
            if (memcmp(cfg->peers[i].key, cfg->peers[j].key, 32) == 0)
                return NODE_NET_ERR_INVALID_ARG; /* one key, one id */
    }
    return NODE_NET_ERR_OK;
}

int node_net_open(struct node_net **out, struct event_base *base, const struct node_net_cfg *cfg)
{
    *out = NULL;
    int rc = check_cfg(cfg);
    if (rc != NODE_NET_ERR_OK)
        return rc;
    struct node_net *n = calloc(1, sizeof *n);
    if (!n)
        return NODE_NET_ERR_NOMEM;
    n->base = base;
    n->cfg = *cfg;
    snprintf(n->chain_id, sizeof n->chain_id, "%s", cfg->chain_id);
    n->cfg.chain_id = n->chain_id;
    n->cfg.peers = NULL;
    n->max_frame = cfg->max_frame ? cfg->max_frame : NODE_NET_MAX_FRAME;
    n->cfg.max_frame = n->max_frame;
    if (!n->cfg.handshake_ms)
        n->cfg.handshake_ms = NODE_NET_HANDSHAKE_MS_DEFAULT;
    if (!n->cfg.backoff_min_ms)
        n->cfg.backoff_min_ms = NODE_NET_BACKOFF_MIN_MS_DEFAULT;
    if (!n->cfg.backoff_max_ms)
        n->cfg.backoff_max_ms = NODE_NET_BACKOFF_MAX_MS_DEFAULT;
    if (n->cfg.backoff_max_ms < n->cfg.backoff_min_ms)
        n->cfg.backoff_max_ms = n->cfg.backoff_min_ms;
    size_t two = 2 * (n->max_frame + NODE_NET_FRAME_OVERHEAD);
    n->max_queue = cfg->max_queue
                       ? cfg->max_queue
                       : (two > NODE_NET_MAX_QUEUE_DEFAULT ? two : NODE_NET_MAX_QUEUE_DEFAULT);
    rc = NODE_NET_ERR_NOMEM;
    n->scratch = malloc(n->max_frame);
    if (!n->scratch)
        goto fail;
    for (size_t i = 0; i < cfg->npeers; i++) {
        uint32_t id = add_slot(n, cfg->peers[i].key);
        if (id == NO_SLOT)
            goto fail;
        struct slot *s = n->slots[id];
        snprintf(s->host, sizeof s->host, "%s", cfg->peers[i].host);
        s->port = cfg->peers[i].port;
        s->dialable = s->port != 0 && memcmp(s->key, cfg->pk, 32) != 0;
    }
    if (cfg->listen_port) {
        rc = open_listener(n);
        if (rc != NODE_NET_ERR_OK)
            goto fail;
    }
    for (size_t i = 0; i < n->nslots; i++)
        if (n->slots[i]->dialable)
            dial(n, n->slots[i]);
    *out = n;
    return NODE_NET_ERR_OK;
fail:
    node_net_close(n);
    return rc;
}

int node_net_send(struct node_net *n, uint32_t peer, const uint8_t *buf, size_t len)
{
    if (peer >= n->nslots || !n->slots[peer]->conn)
        return NODE_NET_ERR_PEER_DOWN;
    if (len > n->max_frame)
        return NODE_NET_ERR_TOO_LARGE;
    struct conn *c = n->slots[peer]->conn;
    assert(c->up && !c->dead && c->bev);
    size_t need = len + NODE_NET_FRAME_OVERHEAD;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    size_t queued = evbuffer_get_length(out);
    if (queued + need > n->max_queue) {
        char why[160];
        snprintf(why, sizeof why,
                 "write queue would reach %zu bytes, over max_queue %zu: the peer reads too "
                 "slowly",
                 queued + need, n->max_queue);
        conn_drop(c, NODE_NET_ERR_QUEUE_FULL, why);
        return NODE_NET_ERR_QUEUE_FULL;
    }
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(out, (ev_ssize_t)need, &v, 1) < 1 || v.iov_len < need)
        return NODE_NET_ERR_NOMEM;
    int rc = node_net_sess_seal(&c->sess, buf, len, v.iov_base);
    assert(rc == NODE_NET_ERR_OK); /* len <= max_frame <= UINT32_MAX - overhead */
    (void)rc;
    v.iov_len = need;
    if (evbuffer_commit_space(out, &v, 1) != 0)
        return NODE_NET_ERR_NOMEM;
    return NODE_NET_ERR_OK;
}

void node_net_broadcast(struct node_net *n, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < n->nslots; i++) {
        if (!n->slots[i]->conn)
            continue;
        int rc = node_net_send(n, (uint32_t)i, buf, len);
        if (rc != NODE_NET_ERR_OK && rc != NODE_NET_ERR_QUEUE_FULL) /* QUEUE_FULL logged */
            net_log(n, "broadcast to peer %zu: %s", i, node_net_strerror(rc));
    }
}

size_t node_net_peers_up(const struct node_net *n)
{
    return n->up;
}

bool node_net_peer_up(const struct node_net *n, uint32_t peer)
{
    return peer < n->nslots && n->slots[peer]->conn != NULL;
}

int node_net_peer_key(const struct node_net *n, uint32_t peer, uint8_t key[static 32])
{
    if (peer >= n->nslots)
        return NODE_NET_ERR_PEER_DOWN;
    memcpy(key, n->slots[peer]->key, 32);
    return NODE_NET_ERR_OK;
}

void node_net_close(struct node_net *n)
{
    if (!n)
        return;
    assert(n->in_cb == 0); /* not from inside a callback */
    while (n->conns) {
        assert(!n->conns->busy);
        conn_free(n->conns);
    }
    if (n->lst)
        evconnlistener_free(n->lst);
    for (size_t i = 0; i < n->nslots; i++) {
        event_free(n->slots[i]->redial);
        free(n->slots[i]);
    }
    free(n->slots);
    free(n->scratch);
    sodium_memzero(n->cfg.sk, sizeof n->cfg.sk);
    free(n);
}
