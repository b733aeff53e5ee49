/* test_node_net.c -- the P2P transport (node_net.c) on real loopback sockets:
 * several node_net instances on one event_base, plus raw clients that speak
 * the protocol by hand (node_net_proto.h) to tamper with it.  Every port is
 * picked free by the kernel; every log line is captured and checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after the headers it needs */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "node_net.h"
#include "testutil.h"

#define CHAIN     "gridledger-testnet"
#define MAX_NODES 4
#define MAX_LOG   256

struct frame_rec {
    uint32_t peer;
    size_t len;
    uint64_t seq;     /* first 8 bytes, when present */
    uint8_t hash[32]; /* of the whole frame */
};

struct tnode {
    struct node_net *net;
    struct node_net_cfg cfg;
    struct node_net_peer peers[MAX_NODES];
    uint8_t pk[32], sk[64];
    uint16_t port;
    struct frame_rec *frames;
    size_t nframes, cap;
    int ups[MAX_NODES + 8], downs[MAX_NODES + 8];
    char *logs[MAX_LOG];
    size_t nlogs;
    bool echo; /* send every frame back to its sender */
};

static struct event_base *base;
static struct tnode nodes[MAX_NODES];

static void on_frame(void *ctx, uint32_t peer, const uint8_t *buf, size_t len)
{
    struct tnode *t = ctx;
    if (t->nframes == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->frames = realloc(t->frames, t->cap * sizeof *t->frames);
        assert_non_null(t->frames);
    }
    struct frame_rec *r = &t->frames[t->nframes++];
    r->peer = peer;
    r->len = len;
    r->seq = 0;
    if (len >= 8)
        memcpy(&r->seq, buf, 8);
    crypto_generichash(r->hash, 32, buf, len, NULL, 0);
    if (t->echo)
        assert_int_equal(node_net_send(t->net, peer, buf, len), NODE_NET_ERR_OK);
}

static void on_peer(void *ctx, uint32_t peer, bool up)
{
    struct tnode *t = ctx;
    assert_true(peer < MAX_NODES + 8);
    if (up)
        t->ups[peer]++;
    else
        t->downs[peer]++;
}

static void on_log(void *ctx, const char *line)
{
    struct tnode *t = ctx;
    if (getenv("NET_TEST_VERBOSE"))
        fprintf(stderr, "[node %p] %s\n", ctx, line);
    if (t->nlogs < MAX_LOG)
        t->logs[t->nlogs++] = strdup(line);
}

static bool log_has(const struct tnode *t, const char *a, const char *b)
{
    for (size_t i = 0; i < t->nlogs; i++)
        if (strstr(t->logs[i], a) && (!b || strstr(t->logs[i], b)))
            return true;
    return false;
}

static size_t log_count(const struct tnode *t, const char *a)
{
    size_t k = 0;
    for (size_t i = 0; i < t->nlogs; i++)
        k += strstr(t->logs[i], a) != NULL;
    return k;
}

static void dump_logs(const struct tnode *t)
{
    for (size_t i = 0; i < t->nlogs; i++)
        fprintf(stderr, "  log: %s\n", t->logs[i]);
}

/* A port the kernel says is free now. */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Give node i its identity and a free port; nothing opened yet. */
static void node_init(int i, uint8_t seed)
{
    struct tnode *t = &nodes[i];
    uint8_t s[32];
    memset(s, seed, sizeof s);
    assert_int_equal(crypto_sign_seed_keypair(t->pk, t->sk, s), 0);
    t->port = free_port();
    memset(&t->cfg, 0, sizeof t->cfg);
    t->cfg.chain_id = CHAIN;
    memcpy(t->cfg.pk, t->pk, 32);
    memcpy(t->cfg.sk, t->sk, 64);
    t->cfg.listen_host = "127.0.0.1";
    t->cfg.listen_port = t->port;
    t->cfg.on_frame = on_frame;
    t->cfg.on_peer = on_peer;
    t->cfg.on_log = on_log;
    t->cfg.ctx = t;
    t->cfg.handshake_ms = 2000;
    t->cfg.backoff_min_ms = 50;
    t->cfg.backoff_max_ms = 400;
}

/* Node i knows nodes[0..n) as peers (itself included, as gridnode passes the
 * whole validator list). */
static void node_knows(int i, int n)
{
    struct tnode *t = &nodes[i];
    for (int j = 0; j < n; j++) {
        memcpy(t->peers[j].key, nodes[j].pk, 32);
        snprintf(t->peers[j].host, sizeof t->peers[j].host, "127.0.0.1");
        t->peers[j].port = nodes[j].port;
    }
    t->cfg.peers = t->peers;
    t->cfg.npeers = (size_t)n;
}

static void node_open(int i)
{
    struct tnode *t = &nodes[i];
    int rc = NODE_NET_ERR_LISTEN;
    /* the free port may be taken between free_port and bind by another test */
    for (int tries = 0; tries < 5 && rc == NODE_NET_ERR_LISTEN; tries++) {
        rc = node_net_open(&t->net, base, &t->cfg);
        if (rc == NODE_NET_ERR_LISTEN) {
            t->port = free_port();
            t->cfg.listen_port = t->port;
        }
    }
    assert_int_equal(rc, NODE_NET_ERR_OK);
}

static void node_reset(struct tnode *t)
{
    node_net_close(t->net);
    t->net = NULL;
    free(t->frames);
    for (size_t i = 0; i < t->nlogs; i++)
        free(t->logs[i]);
    memset(t, 0, sizeof *t);
}

static int setup(void **state)
{
    (void)state;
    base = event_base_new();
    return base ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < MAX_NODES; i++)
        node_reset(&nodes[i]);
    event_base_free(base);
    base = NULL;
    return 0;
}

static void pump_ms(unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

/* Run the loop until cond holds or timeout_ms passes; returns cond. */
static bool pump_until(bool (*cond)(void *), void *arg, unsigned timeout_ms)
{
    uint64_t end = tu_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (!cond(arg)) {
        if (tu_now_ns() > end)
            return false;
        pump_ms(5);
    }
    return true;
}

static int g_n;
static bool all_meshed(void *arg)
{
    (void)arg;
    for (int i = 0; i < g_n; i++)
        if (!nodes[i].net || node_net_peers_up(nodes[i].net) != (size_t)(g_n - 1))
            return false;
    return true;
}

static void mesh(int n)
{
    g_n = n;
    if (!pump_until(all_meshed, NULL, 5000)) {
        for (int i = 0; i < n; i++)
            dump_logs(&nodes[i]);
        fail_msg("%d nodes did not connect", n);
    }
    pump_ms(50); /* let duplicate connections settle */
    assert_true(all_meshed(NULL));
}

struct want_frames {
    struct tnode *t;
    size_t n;
};
static bool has_frames(void *arg)
{
    struct want_frames *w = arg;
    return w->t->nframes >= w->n;
}

static void wait_frames(struct tnode *t, size_t n, unsigned ms)
{
    struct want_frames w = {t, n};
    if (!pump_until(has_frames, &w, ms)) {
        dump_logs(t);
        fail_msg("node got %zu of %zu frames", t->nframes, n);
    }
}

static void hash_of(const uint8_t *b, size_t n, uint8_t out[32])
{
    crypto_generichash(out, 32, b, n, NULL, 0);
}

static void test_two_nodes_connect_and_exchange_frames_both_ways(void **state)
{
    (void)state;
    node_init(0, 1);
    node_init(1, 2);
    node_knows(0, 2);
    node_knows(1, 2);
    node_open(0);
    node_open(1);
    mesh(2);
    /* both dial each other: one connection survives, nobody flaps */
    assert_int_equal(nodes[0].ups[1], 1);
    assert_int_equal(nodes[1].ups[0], 1);
    assert_int_equal(nodes[0].downs[1], 0);
    assert_true(node_net_peer_up(nodes[0].net, 1));
    assert_false(node_net_peer_up(nodes[0].net, 0)); /* ourselves */
    assert_int_equal(node_net_send(nodes[0].net, 0, (const uint8_t *)"x", 1),
                     NODE_NET_ERR_PEER_DOWN);
    assert_int_equal(node_net_send(nodes[0].net, 7, (const uint8_t *)"x", 1),
                     NODE_NET_ERR_PEER_DOWN);
    assert_int_equal(node_net_send(nodes[0].net, 1, (const uint8_t *)"to b", 4), NODE_NET_ERR_OK);
    assert_int_equal(node_net_send(nodes[1].net, 0, (const uint8_t *)"to a!", 5), NODE_NET_ERR_OK);
    assert_int_equal(node_net_send(nodes[1].net, 0, NULL, 0), NODE_NET_ERR_OK); /* empty */
    wait_frames(&nodes[1], 1, 2000);
    wait_frames(&nodes[0], 2, 2000);
    pump_ms(20);
    uint8_t h[32];
    assert_int_equal(nodes[1].nframes, 1);
    assert_int_equal(nodes[1].frames[0].peer, 0);
    hash_of((const uint8_t *)"to b", 4, h);
    assert_memory_equal(nodes[1].frames[0].hash, h, 32);
    assert_int_equal(nodes[0].nframes, 2);
    assert_int_equal(nodes[0].frames[0].peer, 1);
    assert_int_equal(nodes[0].frames[0].len, 5);
    hash_of((const uint8_t *)"to a!", 5, h);
    assert_memory_equal(nodes[0].frames[0].hash, h, 32);
    assert_int_equal(nodes[0].frames[1].len, 0);
    uint8_t key[32];
    assert_int_equal(node_net_peer_key(nodes[0].net, 1, key), NODE_NET_ERR_OK);
    assert_memory_equal(key, nodes[1].pk, 32);
}

static void test_three_nodes_mesh_and_broadcast_reaches_each_peer_once(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++)
        node_init(i, (uint8_t)(10 + i));
    for (int i = 0; i < 3; i++) {
        node_knows(i, 3);
        node_open(i);
    }
    mesh(3);
    for (int i = 0; i < 3; i++) {
        uint8_t msg[16] = {0};
        msg[0] = (uint8_t)i;
        node_net_broadcast(nodes[i].net, msg, sizeof msg);
    }
    for (int i = 0; i < 3; i++)
        wait_frames(&nodes[i], 2, 2000);
    pump_ms(50);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(nodes[i].nframes, 2);
        for (size_t k = 0; k < 2; k++) {
            const struct frame_rec *r = &nodes[i].frames[k];
            assert_int_not_equal(r->peer, (uint32_t)i);
            assert_int_equal(r->seq & 0xff, r->peer); /* the sender's id is its index */
        }
        assert_int_not_equal(nodes[i].frames[0].peer, nodes[i].frames[1].peer);
        for (int j = 0; j < 3; j++)
            if (j != i)
                assert_int_equal(nodes[i].ups[j], 1);
    }
}

static void test_frames_at_the_default_limit_pass_and_keep_their_bytes(void **state)
{
    (void)state;
    node_init(0, 1);
    node_init(1, 2);
    node_knows(0, 2);
    node_knows(1, 2);
    node_open(0);
    node_open(1);
    mesh(2);
    size_t sizes[] = {NODE_NET_MAX_FRAME, NODE_NET_MAX_FRAME - 1, 1u << 20, 65537};
    uint8_t *big = malloc(NODE_NET_MAX_FRAME);
    assert_non_null(big);
    struct tu_rng r = {42};
    tu_fill(&r, big, NODE_NET_MAX_FRAME);
    uint8_t want[4][32];
    for (int k = 0; k < 4; k++) {
        hash_of(big, sizes[k], want[k]);
        assert_int_equal(node_net_send(nodes[0].net, 1, big, sizes[k]), NODE_NET_ERR_OK);
    }
    assert_int_equal(node_net_send(nodes[0].net, 1, big, NODE_NET_MAX_FRAME + 1u),
                     NODE_NET_ERR_TOO_LARGE); /* refused at the sender, peer kept */
    wait_frames(&nodes[1], 4, 20000);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(nodes[1].frames[k].len, sizes[k]);
        assert_memory_equal(nodes[1].frames[k].hash, want[k], 32);
    }
    assert_true(node_net_peer_up(nodes[0].net, 1));
    free(big);
}

static bool peer_down_0_at_1(void *arg)
{
    (void)arg;
    return !node_net_peer_up(nodes[1].net, 0) && !node_net_peer_up(nodes[0].net, 1);
}

static void test_an_oversize_frame_drops_the_peer(void **state)
{
    (void)state;
    node_init(0, 1);
    node_init(1, 2);
    node_knows(0, 2);
    node_knows(1, 2);
    nodes[0].cfg.max_frame = 2u << 20;
    nodes[1].cfg.max_frame = 1u << 20;  /* the receiver's limit is the smaller */
    nodes[1].cfg.backoff_min_ms = 2000; /* keep it down while we look */
    nodes[0].cfg.backoff_min_ms = 2000;
    node_open(0);
    node_open(1);
    mesh(2);
    uint8_t *big = calloc(1, (2u << 20));
    assert_non_null(big);
    assert_int_equal(node_net_send(nodes[0].net, 1, big, 1u << 20), NODE_NET_ERR_OK);
    wait_frames(&nodes[1], 1, 5000);
    assert_int_equal(node_net_send(nodes[0].net, 1, big, (1u << 20) + 1), NODE_NET_ERR_OK);
    assert_int_equal(node_net_send(nodes[0].net, 1, big, 10), NODE_NET_ERR_OK);
    assert_true(pump_until(peer_down_0_at_1, NULL, 5000));
    assert_int_equal(nodes[1].nframes, 1); /* neither the oversize nor the one after it */
    assert_true(log_has(&nodes[1], "dropped 127.0.0.1", "exceeds max_frame 1048576"));
    assert_int_equal(nodes[1].downs[0], 1);
    free(big);
}

static void test_a_node_of_another_chain_is_refused_with_the_reason(void **state)
{
    (void)state;
    node_init(0, 1);
    node_init(1, 2);
    node_knows(0, 2);
    node_knows(1, 2);
    nodes[1].cfg.chain_id = "other";
    node_open(0);
    node_open(1);
    pump_ms(400);
    assert_int_equal(node_net_peers_up(nodes[0].net), 0);
    assert_int_equal(node_net_peers_up(nodes[1].net), 0);
    assert_int_equal(nodes[0].ups[1], 0);
    assert_true(log_has(&nodes[0], "net: dropped 127.0.0.1:",
                        ": chain id \"other\" is not ours (\"gridledger-testnet\")"));
    assert_true(
        log_has(&nodes[1], "chain id \"gridledger-testnet\" is not ours (\"other\")", NULL));
}

static bool up_0_and_2(void *arg)
{
    (void)arg;
    return node_net_peers_up(nodes[0].net) == 1 && node_net_peers_up(nodes[2].net) == 1;
}

static void test_an_unknown_key_is_refused_unless_accept_unknown(void **state)
{
    (void)state;
    node_init(0, 1);
    node_init(2, 3);
    node_knows(0, 1); /* node 0 knows only itself */
    node_knows(2, 1); /* node 2 knows node 0 and dials it */
    nodes[2].cfg.backoff_min_ms = 100;
    nodes[2].cfg.backoff_max_ms = 100;
    node_open(0);
    node_open(2);
    pump_ms(400);
    assert_int_equal(node_net_peers_up(nodes[0].net), 0);
    assert_int_equal(nodes[2].ups[0], 0);
    assert_true(log_has(&nodes[0], "dropped 127.0.0.1:", "is not a known node [UNKNOWN_KEY]"));
    /* now node 0 accepts observers: node 2 gets the first id after the known ones */
    node_net_close(nodes[0].net);
    nodes[0].cfg.accept_unknown = true;
    node_open(0);
    assert_true(pump_until(up_0_and_2, NULL, 3000));
    assert_int_equal(nodes[0].ups[1], 1);
    uint8_t key[32];
    assert_int_equal(node_net_peer_key(nodes[0].net, 1, key), NODE_NET_ERR_OK);
    assert_memory_equal(key, nodes[2].pk, 32);
    assert_int_equal(node_net_send(nodes[2].net, 0, (const uint8_t *)"obs", 3), NODE_NET_ERR_OK);
    wait_frames(&nodes[0], 1, 2000);
    assert_int_equal(nodes[0].frames[0].peer, 1);
    assert_int_equal(node_net_send(nodes[0].net, 1, (const uint8_t *)"back", 4), NODE_NET_ERR_OK);
    wait_frames(&nodes[2], 1, 2000);
    assert_int_equal(nodes[2].frames[0].peer, 0);
}

/* ---- a raw client speaking the protocol by hand ---- */

struct raw {
    int fd;
    struct node_net_sess s;
    uint8_t pk[32], sk[64];
    uint8_t in[1 << 16];
    size_t inlen;
    bool up, closed;
    size_t frames;
};

static void raw_connect(struct raw *r, uint16_t port)
{
    memset(r, 0, sizeof *r);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(r->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(fcntl(r->fd, F_SETFL, O_NONBLOCK), 0);
}

static void raw_write(struct raw *r, const void *b, size_t n)
{
    size_t off = 0;
    uint64_t end = tu_now_ns() + 5000000000ull;
    while (off < n) {
        ssize_t k = write(r->fd, (const uint8_t *)b + off, n - off);
        if (k > 0) {
            off += (size_t)k;
            continue;
        }
        assert_true(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        assert_true(tu_now_ns() < end);
        pump_ms(1);
    }
}

/* Read what is there, feed the session; stops at EOF. */
static void raw_poll(struct raw *r)
{
    static uint8_t scratch[1 << 16];
    for (;;) {
        ssize_t k = read(r->fd, r->in + r->inlen, sizeof r->in - r->inlen);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            r->closed = true;
            break;
        }
        if (k < 0)
            break;
        r->inlen += (size_t)k;
    }
    for (;;) {
        size_t used = 0;
        struct node_net_ev ev;
        if (r->s.state == NODE_NET_SESS_FAILED)
            return;
        int rc = node_net_sess_input(&r->s, r->in, r->inlen, scratch, &used, &ev);
        if (rc == NODE_NET_ERR_NEED_MORE)
            return;
        if (rc != NODE_NET_ERR_OK)
            fail_msg("raw client: %s", r->s.why);
        memmove(r->in, r->in + used, r->inlen - used);
        r->inlen -= used;
        if (ev.kind == NODE_NET_EV_SEND)
            raw_write(r, ev.data, ev.len);
        if (ev.kind == NODE_NET_EV_UP) {
            r->up = true;
            if (ev.len) /* we are the acceptor: our reply */
                raw_write(r, ev.data, ev.len);
        }
        if (ev.kind == NODE_NET_EV_FRAME)
            r->frames++;
    }
}

static bool raw_is_up(void *arg)
{
    struct raw *r = arg;
    raw_poll(r);
    return r->up;
}

static bool raw_is_closed(void *arg)
{
    struct raw *r = arg;
    uint8_t b[4096];
    ssize_t k = read(r->fd, b, sizeof b);
    if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
        r->closed = true;
    return r->closed;
}

/* Connect to node i as identity seed and finish the handshake. */
static void raw_handshake(struct raw *r, int i, uint8_t seed)
{
    raw_connect(r, nodes[i].port);
    uint8_t s[32], epk[32], esk[32];
    memset(s, seed, sizeof s);
    assert_int_equal(crypto_sign_seed_keypair(r->pk, r->sk, s), 0);
    crypto_kx_keypair(epk, esk);
    assert_int_equal(node_net_sess_init(&r->s, true, r->pk, r->sk, CHAIN, 1 << 15, epk, esk),
                     NODE_NET_ERR_OK);
    raw_write(r, r->s.hello, r->s.hello_len);
    if (!pump_until(raw_is_up, r, 3000)) {
        dump_logs(&nodes[i]);
        fail_msg("raw client did not authenticate");
    }
}

/* Seal a frame; flip one byte of the ciphertext at flip (SIZE_MAX: none). */
static void raw_send(struct raw *r, const void *pt, size_t len, size_t flip)
{
    uint8_t out[256 + NODE_NET_FRAME_OVERHEAD];
    assert_true(len <= 256);
    assert_int_equal(node_net_sess_seal(&r->s, pt, len, out), NODE_NET_ERR_OK);
    if (flip != SIZE_MAX)
        out[4 + flip] ^= 0x20;
    raw_write(r, out, len + NODE_NET_FRAME_OVERHEAD);
}

static void test_a_tampered_ciphertext_byte_drops_the_peer(void **state)
{
    (void)state;
    node_init(0, 1);
    node_init(1, 2); /* identity only: the raw client plays node 1 */
    node_knows(0, 2);
    nodes[0].peers[1].port = 0; /* don't dial it */
    node_open(0);
    struct raw r;
    raw_handshake(&r, 0, 2);
    assert_int_equal(nodes[0].ups[1], 1);
    raw_send(&r, "good frame", 10, SIZE_MAX);
    wait_frames(&nodes[0], 1, 2000);
    raw_send(&r, "evil frame", 10, 3);
    raw_send(&r, "after", 5, SIZE_MAX);
    assert_true(pump_until(raw_is_closed, &r, 3000));
    pump_ms(20);
    assert_int_equal(nodes[0].nframes, 1);
    assert_int_equal(nodes[0].downs[1], 1);
    assert_true(
        log_has(&nodes[0], "dropped 127.0.0.1:", "(peer 1): frame 2 (31 bytes) does not decrypt"));
    close(r.fd);
    node_net_sess_deinit(&r.s);
}

static void test_raw_garbage_and_silent_clients_are_dropped_and_the_node_goes_on(void **state)
{
    (void)state;
    node_init(0, 1);
    node_init(1, 2);
    node_knows(0, 2);
    node_knows(1, 2);
    nodes[0].cfg.handshake_ms = 300;
    node_open(0);
    struct raw g, z, s, h;
    raw_connect(&g, nodes[0].port);
    raw_write(&g, "GET / HTTP/1.0\r\n\r\n", 18);
    raw_connect(&z, nodes[0].port);
    uint8_t junk[4096];
    struct tu_rng rng = {7};
    tu_fill(&rng, junk, sizeof junk);
    memcpy(junk, "GLNT\x00\x01\x10\x00", 8); /* a valid start, then noise */
    raw_write(&z, junk, sizeof junk);
    raw_connect(&s, nodes[0].port); /* says nothing */
    raw_connect(&h, nodes[0].port); /* half a hello, then nothing */
    raw_write(&h, "GLNT\x00\x01", 6);
    assert_true(pump_until(raw_is_closed, &g, 2000));
    assert_true(pump_until(raw_is_closed, &z, 2000));
    assert_true(pump_until(raw_is_closed, &s, 2000));
    assert_true(pump_until(raw_is_closed, &h, 2000));
    assert_true(
        log_has(&nodes[0], "not a gridledger peer: it sent \"GET \" where \"GLNT\" was due", NULL));
    assert_true(log_has(&nodes[0], "does not decrypt", NULL) ||
                log_has(&nodes[0], "is not ours", NULL));
    assert_int_equal(log_count(&nodes[0], "handshake not finished within 300 ms"), 2);
    assert_int_equal(node_net_peers_up(nodes[0].net), 0);
    /* a real node still gets in */
    node_open(1);
    mesh(2);
    for (struct raw *p = &g; p; p = p == &g ? &z : p == &z ? &s : p == &s ? &h : NULL)
        close(p->fd);
}

static bool up_0_1(void *arg)
{
    (void)arg;
    return nodes[0].net && nodes[1].net && node_net_peer_up(nodes[0].net, 1) &&
           node_net_peer_up(nodes[1].net, 0);
}

static bool up_0_1_node0_only(void *arg)
{
    (void)arg;
    return node_net_peer_up(nodes[0].net, 1);
}

static void test_a_peer_that_goes_away_is_redialed_with_backoff_when_it_returns(void **state)
{
    (void)state;
    node_init(0, 1);
    node_init(1, 2);
    node_knows(0, 2);
    node_knows(1, 2);
    node_open(0);
    node_open(1);
    mesh(2);
    node_net_close(nodes[1].net);
    nodes[1].net = NULL;
    size_t before = log_count(&nodes[0], "(peer 1): cannot connect: Connection refused");
    pump_ms(1500); /* backoff 50, 100, 200, 400, 400 ... ms, each jittered to [d/2, d] */
    size_t attempts = log_count(&nodes[0], "(peer 1): cannot connect: Connection refused") - before;
    assert_int_equal(nodes[0].downs[1], 1);
    if (attempts < 3 || attempts > 14) {
        dump_logs(&nodes[0]);
        fail_msg("%zu redials in 1.5 s; backoff from 50 to 400 ms allows 3..14", attempts);
    }
    /* it comes back on the same port: node 0 redials it (node 1 does not know node 0's port) */
    nodes[1].peers[0].port = 0;
    node_open(1);
    assert_true(pump_until(up_0_1, NULL, 3000));
    assert_int_equal(nodes[0].ups[1], 2);
    assert_int_equal(node_net_send(nodes[0].net, 1, (const uint8_t *)"again", 5), NODE_NET_ERR_OK);
    wait_frames(&nodes[1], 1, 2000);
}

static void test_many_frames_arrive_in_order_both_ways(void **state)
{
    (void)state;
    node_init(0, 1);
    node_init(1, 2);
    node_knows(0, 2);
    node_knows(1, 2);
    node_open(0);
    node_open(1);
    mesh(2);
    enum { N = 20000 };
    struct tu_rng r = {3};
    uint8_t buf[600];
    for (uint64_t k = 0; k < N; k++) {
        size_t len = 8 + (size_t)tu_below(&r, sizeof buf - 8);
        memcpy(buf, &k, 8);
        memset(buf + 8, (int)k, len - 8);
        assert_int_equal(node_net_send(nodes[0].net, 1, buf, len), NODE_NET_ERR_OK);
        assert_int_equal(node_net_send(nodes[1].net, 0, buf, len), NODE_NET_ERR_OK);
        if (k % 1000 == 999)
            pump_ms(1);
    }
    wait_frames(&nodes[0], N, 20000);
    wait_frames(&nodes[1], N, 20000);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(nodes[i].nframes, N);
        for (uint64_t k = 0; k < N; k++)
            if (nodes[i].frames[k].seq != k)
                fail_msg("node %d: frame %llu carries %llu", i, (unsigned long long)k,
                         (unsigned long long)nodes[i].frames[k].seq);
    }
}

static bool raw_dropped_by_0(void *arg)
{
    (void)arg;
    return nodes[0].downs[1] > 0;
}

static void test_a_peer_that_does_not_read_is_dropped_at_the_queue_limit(void **state)
{
    (void)state;
    node_init(0, 1);
    node_init(1, 2);
    node_knows(0, 2);
    nodes[0].peers[1].port = 0;
    nodes[0].cfg.max_frame = 65536;
    nodes[0].cfg.max_queue = 1u << 20;
    node_open(0);
    struct raw r;
    raw_handshake(&r, 0, 2); /* and then never reads again */
    static uint8_t buf[65536];
    int rc = NODE_NET_ERR_OK;
    size_t sent = 0;
    for (int k = 0; k < 4000 && rc == NODE_NET_ERR_OK; k++) {
        rc = node_net_send(nodes[0].net, 1, buf, sizeof buf);
        sent += rc == NODE_NET_ERR_OK;
        pump_ms(1);
    }
    assert_int_equal(rc, NODE_NET_ERR_QUEUE_FULL);
    assert_true(sent >= 16); /* the limit was reached by a queue, not at once */
    assert_true(raw_dropped_by_0(NULL));
    assert_true(
        log_has(&nodes[0], "(peer 1): write queue would reach", "the peer reads too slowly"));
    assert_int_equal(node_net_send(nodes[0].net, 1, buf, 1), NODE_NET_ERR_PEER_DOWN);
    close(r.fd);
    node_net_sess_deinit(&r.s);
}

static bool raw_up_or_closed(void *arg)
{
    struct raw *r = arg;
    raw_poll(r);
    return r->up || r->closed;
}

static bool raw_has_frame(void *arg)
{
    struct raw *r = arg;
    raw_poll(r);
    return r->frames > 0;
}

static void raw_ident(struct raw *r, uint8_t seed, bool initiator)
{
    uint8_t s[32], epk[32], esk[32];
    memset(s, seed, sizeof s);
    assert_int_equal(crypto_sign_seed_keypair(r->pk, r->sk, s), 0);
    crypto_kx_keypair(epk, esk);
    assert_int_equal(node_net_sess_init(&r->s, initiator, r->pk, r->sk, CHAIN, 1 << 15, epk, esk),
                     NODE_NET_ERR_OK);
    raw_write(r, r->s.hello, r->s.hello_len);
}

static void test_two_connections_between_a_pair_keep_the_one_dialed_by_the_lower_key(void **state)
{
    (void)state;
    /* Node 0 dials "node 1" (a raw acceptor) while "node 1" also dials node 0
     * (a raw dialer).  Both seed orders, so that each side is the lower key once. */
    uint8_t seeds[2][2] = {{1, 2}, {2, 1}};
    bool seen_lower[2] = {false, false};
    for (int round = 0; round < 2; round++) {
        if (round)
            teardown(NULL), setup(NULL);
        node_init(0, seeds[round][0]);
        node_init(1, seeds[round][1]);
        int lfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
        assert_int_equal(listen(lfd, 4), 0);
        socklen_t l = sizeof a;
        assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &l), 0);
        nodes[1].port = ntohs(a.sin_port);
        node_knows(0, 2);
        node_open(0); /* dials our raw listener */
        struct raw acc, dia;
        memset(&acc, 0, sizeof acc);
        acc.fd = accept(lfd, NULL, NULL);
        assert_true(acc.fd >= 0);
        assert_int_equal(fcntl(acc.fd, F_SETFL, O_NONBLOCK), 0);
        raw_ident(&acc, seeds[round][1], false);
        assert_true(pump_until(raw_is_up, &acc, 3000));
        assert_true(pump_until(up_0_1_node0_only, NULL, 3000));
        raw_connect(&dia, nodes[0].port);
        raw_ident(&dia, seeds[round][1], true);
        assert_true(pump_until(raw_up_or_closed, &dia, 3000));
        bool node0_lower = memcmp(nodes[0].pk, nodes[1].pk, 32) < 0;
        seen_lower[node0_lower] = true;
        struct raw *kept = node0_lower ? &acc : &dia, *gone = node0_lower ? &dia : &acc;
        assert_true(pump_until(raw_is_closed, gone, 3000));
        assert_false(node0_lower && dia.up); /* refused before it saw our reply */
        assert_true(log_has(&nodes[0],
                            "duplicate connection; keeping the one dialed by the lower key", NULL));
        assert_int_equal(nodes[0].ups[1], 1); /* no flap: up once, never down */
        assert_int_equal(nodes[0].downs[1], 0);
        assert_int_equal(node_net_send(nodes[0].net, 1, (const uint8_t *)"kept", 4),
                         NODE_NET_ERR_OK);
        assert_true(pump_until(raw_has_frame, kept, 3000));
        close(acc.fd);
        close(dia.fd);
        close(lfd);
        node_net_sess_deinit(&acc.s);
        node_net_sess_deinit(&dia.s);
    }
    assert_true(seen_lower[0] && seen_lower[1]);
}

static void test_a_second_connection_from_the_same_dialer_replaces_the_first(void **state)
{
    (void)state;
    node_init(0, 1);
    node_init(1, 2);
    node_knows(0, 2);
    nodes[0].peers[1].port = 0;
    node_open(0);
    struct raw first, second;
    raw_handshake(&first, 0, 2);
    raw_handshake(&second, 0, 2); /* "node 1" restarted and dialed again */
    assert_true(pump_until(raw_is_closed, &first, 3000));
    assert_true(log_has(&nodes[0], "replaced by a newer connection from the same dialer", NULL));
    assert_int_equal(nodes[0].ups[1], 1);
    assert_int_equal(nodes[0].downs[1], 0);
    assert_int_equal(node_net_send(nodes[0].net, 1, (const uint8_t *)"new", 3), NODE_NET_ERR_OK);
    assert_true(pump_until(raw_has_frame, &second, 3000));
    close(first.fd);
    close(second.fd);
    node_net_sess_deinit(&first.s);
    node_net_sess_deinit(&second.s);
}

static void test_a_frame_callback_may_send_back_and_a_config_error_is_named(void **state)
{
    (void)state;
    node_init(0, 1);
    node_init(1, 2);
    node_knows(0, 2);
    node_knows(1, 2);
    nodes[1].echo = true;
    node_open(0);
    node_open(1);
    mesh(2);
    assert_int_equal(node_net_send(nodes[0].net, 1, (const uint8_t *)"ping", 4), NODE_NET_ERR_OK);
    wait_frames(&nodes[0], 1, 2000);
    assert_int_equal(nodes[0].frames[0].len, 4);
    /* configuration errors */
    struct node_net *n = NULL;
    struct node_net_cfg bad = nodes[0].cfg;
    bad.listen_port = 0;
    bad.chain_id = "";
    assert_int_equal(node_net_open(&n, base, &bad), NODE_NET_ERR_INVALID_ARG);
    assert_null(n);
    bad.chain_id = CHAIN;
    bad.on_frame = NULL;
    assert_int_equal(node_net_open(&n, base, &bad), NODE_NET_ERR_INVALID_ARG);
    bad = nodes[0].cfg;
    bad.listen_port = nodes[1].port; /* taken */
    bad.npeers = 0;
    assert_int_equal(node_net_open(&n, base, &bad), NODE_NET_ERR_LISTEN);
    assert_null(n);
    node_net_close(NULL);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_nodes_connect_and_exchange_frames_both_ways, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_three_nodes_mesh_and_broadcast_reaches_each_peer_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_frames_at_the_default_limit_pass_and_keep_their_bytes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_oversize_frame_drops_the_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_node_of_another_chain_is_refused_with_the_reason,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_unknown_key_is_refused_unless_accept_unknown, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_tampered_ciphertext_byte_drops_the_peer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_raw_garbage_and_silent_clients_are_dropped_and_the_node_goes_on, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_peer_that_goes_away_is_redialed_with_backoff_when_it_returns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_frames_arrive_in_order_both_ways, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_peer_that_does_not_read_is_dropped_at_the_queue_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_two_connections_between_a_pair_keep_the_one_dialed_by_the_lower_key, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_second_connection_from_the_same_dialer_replaces_the_first, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_a_frame_callback_may_send_back_and_a_config_error_is_named, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
