/* bench_node_net.c -- throughput of the P2P transport (node_net.c) on
 * loopback, beside a reference measured in the same run: the same frames,
 * length-prefixed, through plain libevent bufferevents on a loopback TCP pair
 * without the handshake or encryption, and the secretstream push and pull of
 * the same frames in memory.  The ratios say what encryption and the
 * transport's own work cost; both sides share one event_base and one thread
 * (so each frame is sealed and opened on the same core), as in a test of
 * gridnode.
 *
 *   bench_node_net [--frames N] [--size BYTES]   (default 200000 frames of 250 bytes,
 *                                                 then 200 frames of 1 MiB) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "node_net.h"
#include "testutil.h"

#define CHAIN "gridledger-bench"

static struct event_base *base;
static size_t got, want;
static uint64_t got_bytes;

static void on_frame(void *ctx, uint32_t peer, const uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)peer;
    (void)buf;
    got++;
    got_bytes += len;
    if (got == want)
        event_base_loopbreak(base);
}

static void on_log(void *ctx, const char *line)
{
    (void)ctx;
    (void)line;
}

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0)
        abort();
    socklen_t l = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &l) != 0)
        abort();
    close(fd);
    return ntohs(a.sin_port);
}

/* Queue the next batch (about 4 MiB) of the n frames of size bytes to peer 1. */
static bool send_batch_net(struct node_net *a, const uint8_t *buf, size_t size, size_t n,
                           size_t *sent)
{
    size_t batch = (4u << 20) / (size + 32) + 1;
    for (size_t k = 0; k < batch && *sent < n; k++, (*sent)++)
        if (node_net_send(a, 1, buf, size) != NODE_NET_ERR_OK)
            return false;
    return true;
}

static bool any_up(struct node_net *a)
{
    return node_net_peers_up(a) > 0;
}

static double bench_net(size_t n, size_t size)
{
    static struct node_net_peer peers[2];
    struct node_net_cfg cfg[2];
    struct node_net *net[2];
    for (int i = 0; i < 2; i++) {
        uint8_t seed[32];
        memset(seed, i + 1, sizeof seed);
        memset(&cfg[i], 0, sizeof cfg[i]);
        if (crypto_sign_seed_keypair(cfg[i].pk, cfg[i].sk, seed) != 0)
            abort();
        memcpy(peers[i].key, cfg[i].pk, 32);
        snprintf(peers[i].host, sizeof peers[i].host, "127.0.0.1");
        peers[i].port = free_port();
    }
    for (int i = 0; i < 2; i++) {
        cfg[i].chain_id = CHAIN;
        cfg[i].listen_host = "127.0.0.1";
        cfg[i].listen_port = peers[i].port;
        cfg[i].peers = peers;
        cfg[i].npeers = 2;
        cfg[i].on_frame = on_frame;
        cfg[i].on_log = on_log;
        cfg[i].max_frame = size > 4096 ? size : 4096;
        if (node_net_open(&net[i], base, &cfg[i]) != NODE_NET_ERR_OK)
            abort();
    }
    while (!any_up(net[0]) || !any_up(net[1]))
        event_base_loop(base, EVLOOP_ONCE);
    uint8_t *buf = calloc(1, size);
    got = 0;
    want = n;
    got_bytes = 0;
    size_t sent = 0;
    uint64_t t0 = tu_now_ns();
    while (got < n) {
        if (sent < n && sent - got < (16u << 20) / (size + 32) + 1)
            if (!send_batch_net(net[0], buf, size, n, &sent))
                abort();
        event_base_loop(base, EVLOOP_ONCE);
    }
    double s = (double)(tu_now_ns() - t0) / 1e9;
    free(buf);
    node_net_close(net[0]);
    node_net_close(net[1]);
    return s;
}

/* ---- the reference: plain bufferevents, u32 length + bytes ---- */
static void plain_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    static uint8_t *tmp;
    static size_t cap;
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        if (avail < 4)
            return;
        uint8_t h[4];
        evbuffer_copyout(in, h, 4);
        size_t len = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
        if (avail < 4 + len)
            return;
        const uint8_t *p = evbuffer_pullup(in, (ev_ssize_t)(4 + len));
        if (len > cap) { /* a copy, as node_net decrypts into its scratch */
            tmp = realloc(tmp, len);
            cap = len;
        }
        memcpy(tmp, p + 4, len);
        evbuffer_drain(in, 4 + len);
        on_frame(NULL, 0, tmp, len);
    }
}

static double bench_plain(size_t n, size_t size)
{
    int sv[2];
    /* a real loopback TCP pair */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) ||
        getsockname(l, (struct sockaddr *)&a, &al))
        abort();
    sv[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(sv[0], (struct sockaddr *)&a, sizeof a) != 0)
        abort();
    sv[1] = accept(l, NULL, NULL);
    close(l);
    evutil_make_socket_nonblocking(sv[0]);
    evutil_make_socket_nonblocking(sv[1]);
    int one = 1;
    setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct bufferevent *w = bufferevent_socket_new(base, sv[0], BEV_OPT_CLOSE_ON_FREE);
    struct bufferevent *r = bufferevent_socket_new(base, sv[1], BEV_OPT_CLOSE_ON_FREE);
    bufferevent_set_max_single_read(r, 256u << 10);
    bufferevent_set_max_single_write(w, 256u << 10);
    bufferevent_setcb(r, plain_read, NULL, NULL, NULL);
    bufferevent_enable(r, EV_READ);
    bufferevent_enable(w, EV_WRITE);
    uint8_t *buf = calloc(1, size);
    got = 0;
    want = n;
    got_bytes = 0;
    size_t sent = 0;
    uint64_t t0 = tu_now_ns();
    while (got < n) {
        size_t batch = (4u << 20) / (size + 32) + 1;
        if (sent < n && sent - got < (16u << 20) / (size + 32) + 1)
            for (size_t k = 0; k < batch && sent < n; k++, sent++) {
                uint8_t h[4] = {(uint8_t)(size >> 24), (uint8_t)(size >> 16), (uint8_t)(size >> 8),
                                (uint8_t)size};
                struct evbuffer *out = bufferevent_get_output(w);
                evbuffer_add(out, h, 4);
                evbuffer_add(out, buf, size);
            }
        event_base_loop(base, EVLOOP_ONCE);
    }
    double s = (double)(tu_now_ns() - t0) / 1e9;
    free(buf);
    bufferevent_free(w);
    bufferevent_free(r);
    return s;
}

/* The crypto alone: secretstream push and pull of the same frames in memory. */
static double bench_crypto(size_t n, size_t size)
{
    uint8_t key[32], hdr[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
    crypto_secretstream_xchacha20poly1305_keygen(key);
    crypto_secretstream_xchacha20poly1305_state tx, rx;
    crypto_secretstream_xchacha20poly1305_init_push(&tx, hdr, key);
    if (crypto_secretstream_xchacha20poly1305_init_pull(&rx, hdr, key) != 0)
        abort();
    uint8_t *pt = calloc(1, size), *ct = malloc(size + NODE_NET_ABYTES), *out = malloc(size);
    uint64_t t0 = tu_now_ns();
    for (size_t k = 0; k < n; k++) {
        unsigned long long cl = 0, ml = 0;
        unsigned char tag = 0;
        crypto_secretstream_xchacha20poly1305_push(&tx, ct, &cl, pt, size, NULL, 0, 0);
        if (crypto_secretstream_xchacha20poly1305_pull(&rx, out, &ml, &tag, ct, cl, NULL, 0) != 0)
            abort();
    }
    double s = (double)(tu_now_ns() - t0) / 1e9;
    free(pt);
    free(ct);
    free(out);
    return s;
}

static void row(const char *what, size_t n, size_t size)
{
    double tn = bench_net(n, size);
    double tp = bench_plain(n, size);
    double tc = bench_crypto(n, size);
    double fn = (double)n / tn, fp = (double)n / tp, fc = (double)n / tc;
    printf("%-12s node_net %9.0f frames/s %7.1f MB/s | plain TCP %9.0f/s %7.1f MB/s, ratio %.2f "
           "| secretstream alone %9.0f/s, ratio %.2f\n",
           what, fn, fn * (double)size / 1e6, fp, fp * (double)size / 1e6, fn / fp, fc, fn / fc);
}

int main(int argc, char **argv)
{
    size_t frames = 200000, size = 250;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--frames"))
            frames = strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--size"))
            size = strtoul(argv[i + 1], NULL, 10);
    }
    if (sodium_init() < 0)
        return 1;
    base = event_base_new();
    char what[64];
    snprintf(what, sizeof what, "%zu B", size);
    row(what, frames, size);
    row("1 MiB", 200, 1u << 20);
    event_base_free(base);
    return 0;
}
