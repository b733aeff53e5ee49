/* fuzz_node_net.c -- the P2P transport's parsers on arbitrary bytes: the
 * hello parser, the frame-length check and a whole session (handshake and
 * frames, node_net_proto.c) as acceptor or dialer, without sockets.
 *
 * Input: byte 0 picks the mode (mod 3): 0 = the bytes a dialer sends, fed to
 * an acceptor; 1 = the bytes an acceptor sends, fed to a dialer; 2 = the
 * bare parsers.  Both sessions use fixed identities and ephemeral keys, so
 * the corpus holds real handshakes that authenticate and mutations reach the
 * frame decoder.
 *
 * Properties, beyond "no crash, no leak":
 *   - feeding the bytes all at once and one byte at a time gives the same
 *     events (kind, length, and a frame's bytes) and the same final result;
 *   - a refusal is a named NODE_NET_ERR_* with a reason, and is sticky;
 *   - NEED_MORE always asks for more than it was given; frames never exceed
 *     max_frame; an acceptor never sends before the dialer has proved its key;
 *   - a parsed hello encodes back to the same bytes; the frame check accepts
 *     exactly the lengths 17 .. max_frame + 17.
 *
 * The corpus is made by this file: cc -DFUZZ_NODE_NET_MAKE_CORPUS
 * tests/fuzz/fuzz_node_net.c node/node_net_proto.c -Inode -lsodium -o mk && ./mk DIR */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_net_proto.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_node_net: property failed: %s (%s:%d)\n", #cond, __FILE__,       \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define CHAIN   "gridledger-testnet"
#define MAXF    1024u
#define MAX_EVS 256u

struct keys {
    uint8_t pk[32], sk[64], epk[32], esk[32];
};

static void keys_of(struct keys *k, uint8_t id_seed, uint8_t eph_seed)
{
    uint8_t s[32];
    memset(s, id_seed, sizeof s);
    CHECK(crypto_sign_seed_keypair(k->pk, k->sk, s) == 0);
    memset(s, eph_seed, sizeof s);
    CHECK(crypto_kx_seed_keypair(k->epk, k->esk, s) == 0);
}

/* The dialer is identity 1 with ephemeral seed 11, the acceptor identity 2 with 12. */
static void sess_of(struct node_net_sess *s, bool initiator)
{
    static struct keys k[2];
    static int ready;
    if (!ready) {
        keys_of(&k[0], 1, 11);
        keys_of(&k[1], 2, 12);
        ready = 1;
    }
    const struct keys *me = &k[initiator ? 0 : 1];
    CHECK(node_net_sess_init(s, initiator, me->pk, me->sk, CHAIN, MAXF, me->epk, me->esk) ==
          NODE_NET_ERR_OK);
}

struct ev_rec {
    int kind;
    size_t len;
    uint8_t hash[16];
};

struct run {
    struct ev_rec ev[MAX_EVS];
    size_t nev;
    int rc;
    size_t consumed;
};

static uint8_t scratch[MAXF];

/* Feed data to a fresh session; step 0: all there is each time, else grow
 * the offered window by step bytes at a time. */
static void run_session(bool initiator, const uint8_t *data, size_t size, size_t step,
                        struct run *out)
{
    struct node_net_sess s;
    sess_of(&s, initiator);
    memset(out, 0, sizeof *out);
    size_t off = 0, window = step ? 0 : size;
    bool up = false;
    for (;;) {
        size_t avail = window - off;
        size_t used = 0;
        struct node_net_ev ev;
        int rc = node_net_sess_input(&s, data + off, avail, scratch, &used, &ev);
        if (rc == NODE_NET_ERR_NEED_MORE) {
            CHECK(ev.len > avail);
            CHECK(used == 0);
            if (window == size) {
                out->rc = rc;
                break;
            }
            window = window + step > size ? size : window + step;
            continue;
        }
        if (rc != NODE_NET_ERR_OK) {
            CHECK(strcmp(node_net_err_name(rc), "UNKNOWN") != 0);
            CHECK(s.why[0] != '\0');
            CHECK(s.state == NODE_NET_SESS_FAILED);
            struct node_net_ev ev2;
            size_t used2 = 0;
            CHECK(node_net_sess_input(&s, data + off, avail, scratch, &used2, &ev2) != 0);
            out->rc = rc;
            break;
        }
        CHECK(used > 0 && used <= avail);
        off += used;
        if (ev.kind == NODE_NET_EV_SEND)
            CHECK(initiator && !up);
        if (ev.kind == NODE_NET_EV_UP) {
            CHECK(!up);
            up = true;
            CHECK(s.state == NODE_NET_SESS_UP);
            CHECK(initiator ? ev.len == 0 : ev.len == NODE_NET_REPLY_BYTES);
        }
        if (ev.kind == NODE_NET_EV_FRAME) {
            CHECK(up);
            CHECK(ev.len <= MAXF);
        }
        if (ev.kind != NODE_NET_EV_NONE && out->nev < MAX_EVS) {
            struct ev_rec *r = &out->ev[out->nev++];
            r->kind = ev.kind;
            r->len = ev.len;
            /* what we send starts with a random stream header: compare frames only */
            if (ev.kind == NODE_NET_EV_FRAME)
                crypto_generichash(r->hash, sizeof r->hash, ev.data, ev.len, NULL, 0);
        }
    }
    out->consumed = off;
    node_net_sess_deinit(&s);
}

static void parsers(const uint8_t *data, size_t size)
{
    struct node_net_hello h;
    size_t used = 0;
    int rc = node_net_hello_parse(data, size, &h, &used);
    if (rc == NODE_NET_ERR_OK) {
        uint8_t again[NODE_NET_HELLO_MAX];
        size_t n = 0;
        CHECK(used <= size);
        node_net_hello_encode(&h, again, &n);
        CHECK(n == used && memcmp(again, data, n) == 0);
        CHECK(strlen(h.chain_id) <= h.chain_len);
        char q[64];
        node_net_quote((const uint8_t *)h.chain_id, h.chain_len, q, sizeof q);
        CHECK(strlen(q) < sizeof q);
    } else if (rc == NODE_NET_ERR_NEED_MORE) {
        CHECK(used > size);
    } else {
        CHECK(rc == NODE_NET_ERR_BAD_MAGIC || rc == NODE_NET_ERR_BAD_VERSION ||
              rc == NODE_NET_ERR_BAD_HELLO);
    }
    for (size_t maxf = 0; maxf < 3; maxf++) {
        size_t lim = maxf == 0 ? 0 : maxf == 1 ? MAXF : NODE_NET_CHAIN_ID_MAX;
        size_t total = 0;
        rc = node_net_frame_check(data, size, lim, &total);
        if (size < 4) {
            CHECK(rc == NODE_NET_ERR_NEED_MORE && total == 4);
            continue;
        }
        size_t ct = total - 4;
        if (ct < NODE_NET_ABYTES)
            CHECK(rc == NODE_NET_ERR_FRAME_TOO_SHORT);
        else if (ct > lim + NODE_NET_ABYTES)
            CHECK(rc == NODE_NET_ERR_FRAME_TOO_LARGE);
        else
            CHECK(rc == NODE_NET_ERR_OK);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        CHECK(sodium_init() >= 0);
        init = 1;
    }
    if (size == 0)
        return 0;
    int mode = data[0] % 3;
    data++;
    size--;
    if (mode == 2) {
        parsers(data, size);
        return 0;
    }
    static struct run whole, bytewise;
    run_session(mode == 1, data, size, 0, &whole);
    run_session(mode == 1, data, size, 1, &bytewise);
    CHECK(whole.rc == bytewise.rc);
    CHECK(whole.consumed == bytewise.consumed);
    CHECK(whole.nev == bytewise.nev);
    for (size_t i = 0; i < whole.nev; i++) {
        CHECK(whole.ev[i].kind == bytewise.ev[i].kind);
        CHECK(whole.ev[i].len == bytewise.ev[i].len);
        CHECK(memcmp(whole.ev[i].hash, bytewise.ev[i].hash, sizeof whole.ev[i].hash) == 0);
    }
    return 0;
}

#ifdef FUZZ_NODE_NET_MAKE_CORPUS
/* Real handshakes between the two fixed sessions, recorded per direction. */
struct rec {
    uint8_t b[8192];
    size_t n;
};

static void put(struct rec *r, const void *p, size_t n)
{
    CHECK(r->n + n <= sizeof r->b);
    memcpy(r->b + r->n, p, n);
    r->n += n;
}

static void pump(struct node_net_sess *s, struct rec *from, size_t *off, struct rec *to)
{
    for (;;) {
        size_t used = 0;
        struct node_net_ev ev;
        int rc = node_net_sess_input(s, from->b + *off, from->n - *off, scratch, &used, &ev);
        if (rc == NODE_NET_ERR_NEED_MORE)
            return;
        CHECK(rc == NODE_NET_ERR_OK);
        *off += used;
        if ((ev.kind == NODE_NET_EV_SEND || ev.kind == NODE_NET_EV_UP) && ev.len)
            put(to, ev.data, ev.len);
    }
}

static void frame(struct node_net_sess *s, struct rec *to, const char *text, size_t len)
{
    uint8_t out[MAXF + NODE_NET_FRAME_OVERHEAD];
    uint8_t pt[MAXF];
    for (size_t i = 0; i < len; i++)
        pt[i] = (uint8_t)text[i % strlen(text)];
    CHECK(node_net_sess_seal(s, pt, len, out) == NODE_NET_ERR_OK);
    put(to, out, len + NODE_NET_FRAME_OVERHEAD);
}

static void save(const char *dir, const char *name, uint8_t mode, const uint8_t *b, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f);
    CHECK(fwrite(&mode, 1, 1, f) == 1);
    CHECK(fwrite(b, 1, n, f) == n);
    fclose(f);
}

int main(int argc, char **argv)
{
    CHECK(argc == 2 && sodium_init() >= 0);
    const char *dir = argv[1];
    struct node_net_sess c, v;
    sess_of(&c, true);
    sess_of(&v, false);
    static struct rec c2v, v2c;
    size_t coff = 0, voff = 0;
    put(&c2v, c.hello, c.hello_len);
    put(&v2c, v.hello, v.hello_len);
    for (int i = 0; i < 3; i++) {
        pump(&c, &v2c, &coff, &c2v);
        pump(&v, &c2v, &voff, &v2c);
    }
    CHECK(c.state == NODE_NET_SESS_UP && v.state == NODE_NET_SESS_UP);
    size_t c_hs = c2v.n, v_hs = v2c.n;
    frame(&c, &c2v, "", 0);
    frame(&c, &c2v, "meter reading", 13);
    frame(&c, &c2v, "block ", 300);
    frame(&c, &c2v, "max ", MAXF);
    frame(&v, &v2c, "vote", 4);
    frame(&v, &v2c, "cert ", 200);
    save(dir, "dialer-handshake-and-frames", 0, c2v.b, c2v.n);
    save(dir, "dialer-handshake-only", 0, c2v.b, c_hs);
    save(dir, "acceptor-handshake-and-frames", 1, v2c.b, v2c.n);
    save(dir, "acceptor-hello-only", 1, v2c.b, v.hello_len);
    (void)v_hs;
    static struct rec t;
    t = c2v;
    t.b[c_hs + 4 + 1] ^= 1; /* inside the first frame (its tag) */
    save(dir, "near-tampered-first-frame", 0, t.b, t.n);
    t = c2v;
    t.b[5] = 9; /* version 9 */
    save(dir, "near-other-version", 0, t.b, t.n);
    t = c2v;
    memcpy(t.b + NODE_NET_HELLO_FIXED, "gridledger-testneX", 18);
    save(dir, "near-other-chain", 0, t.b, t.n);
    save(dir, "near-http-request", 0, (const uint8_t *)"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27);
    save(dir, "parsers-hello", 2, c.hello, c.hello_len);
    save(dir, "parsers-frame", 2, c2v.b + c_hs, 4 + NODE_NET_ABYTES + 13);
    node_net_sess_deinit(&c);
    node_net_sess_deinit(&v);
    return 0;
}
#endif
