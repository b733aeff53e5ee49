/* node_net_proto.c -- the handshake and frames of the P2P transport as a pure
 * state machine (no sockets, no clock, no allocation); see node_net_proto.h
 * for the wire format and why it is shaped so. */
#include "node_net_proto.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Static_assert(NODE_NET_ABYTES == crypto_secretstream_xchacha20poly1305_ABYTES, "ABYTES");
_Static_assert(NODE_NET_HEADERBYTES == crypto_secretstream_xchacha20poly1305_HEADERBYTES,
               "HEADERBYTES");
_Static_assert(crypto_kx_SESSIONKEYBYTES == crypto_secretstream_xchacha20poly1305_KEYBYTES,
               "kx keys feed secretstream");
_Static_assert(NODE_NET_AUTH_BYTES == crypto_sign_BYTES, "auth is one signature");

#define TRANSCRIPT_TAG "gridledger-net-v1 transcript"
#define AUTH_TAG       "gridledger-net-v1 auth "

const char *node_net_err_name(int err)
{
    switch (err) {
#define NODE_NET_ERR_NAME_(name, code, msg)                                                        \
    case code: return #name;
        NODE_NET_ERRORS(NODE_NET_ERR_NAME_)
#undef NODE_NET_ERR_NAME_
    default: return "UNKNOWN";
    }
}

const char *node_net_strerror(int err)
{
    switch (err) {
#define NODE_NET_ERR_MSG_(name, code, msg)                                                         \
    case code: return msg;
        NODE_NET_ERRORS(NODE_NET_ERR_MSG_)
#undef NODE_NET_ERR_MSG_
    default: return "unknown error";
    }
}

void node_net_quote(const uint8_t *s, size_t len, char *out, size_t cap)
{
    assert(cap >= 8);
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < len; i++) {
        char tmp[5];
        size_t n;
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\') {
            tmp[0] = (char)s[i];
            n = 1;
        } else {
            snprintf(tmp, sizeof tmp, "\\x%02x", s[i]);
            n = 4;
        }
        if (o + n + 5 > cap) { /* room for ...", NUL */
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        memcpy(out + o, tmp, n);
        o += n;
    }
    out[o++] = '"';
    out[o] = '\0';
}

static void put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void node_net_hello_encode(const struct node_net_hello *h, uint8_t out[static NODE_NET_HELLO_MAX],
                           size_t *len)
{
    assert(h->chain_len >= 1 && h->chain_len <= NODE_NET_CHAIN_ID_MAX);
    memcpy(out, NODE_NET_MAGIC, 4);
    put_u16(out + 4, h->version);
    out[6] = (uint8_t)h->chain_len;
    out[7] = 0;
    memcpy(out + 8, h->eph, 32);
    memcpy(out + 40, h->key, 32);
    memcpy(out + NODE_NET_HELLO_FIXED, h->chain_id, h->chain_len);
    *len = NODE_NET_HELLO_FIXED + h->chain_len;
}

int node_net_hello_parse(const uint8_t *buf, size_t len, struct node_net_hello *out, size_t *used)
{
    memset(out, 0, sizeof *out);
    *used = 0;
    size_t m = len < 4 ? len : 4;
    if (memcmp(buf, NODE_NET_MAGIC, m) != 0)
        return NODE_NET_ERR_BAD_MAGIC;
    if (len < 8) {
        *used = 8;
        return NODE_NET_ERR_NEED_MORE;
    }
    out->version = (uint16_t)((buf[4] << 8) | buf[5]);
    if (out->version != NODE_NET_VERSION)
        return NODE_NET_ERR_BAD_VERSION;
    size_t clen = buf[6];
    if (clen == 0 || clen > NODE_NET_CHAIN_ID_MAX || buf[7] != 0)
        return NODE_NET_ERR_BAD_HELLO;
    if (len < NODE_NET_HELLO_FIXED + clen) {
        *used = NODE_NET_HELLO_FIXED + clen;
        return NODE_NET_ERR_NEED_MORE;
    }
    memcpy(out->eph, buf + 8, 32);
    memcpy(out->key, buf + 40, 32);
    out->chain_len = clen;
    memcpy(out->chain_id, buf + NODE_NET_HELLO_FIXED, clen);
    out->chain_id[clen] = '\0';
    *used = NODE_NET_HELLO_FIXED + clen;
    return NODE_NET_ERR_OK;
}

int node_net_frame_check(const uint8_t *buf, size_t len, size_t max_frame, size_t *total)
{
    if (len < 4) {
        *total = 4;
        return NODE_NET_ERR_NEED_MORE;
    }
    uint32_t ct = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
    *total = 4 + (size_t)ct;
    if (ct < NODE_NET_ABYTES)
        return NODE_NET_ERR_FRAME_TOO_SHORT;
    if ((size_t)ct - NODE_NET_ABYTES > max_frame)
        return NODE_NET_ERR_FRAME_TOO_LARGE;
    return NODE_NET_ERR_OK;
}

static void hex8(const uint8_t key[32], char out[17])
{
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        out[2 * i] = d[key[i] >> 4];
        out[2 * i + 1] = d[key[i] & 15];
    }
    out[16] = '\0';
}

/* Fail the session with a code and a formatted reason; returns code. */
__attribute__((format(printf, 3, 4))) static int sess_fail(struct node_net_sess *s, int code,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->why, sizeof s->why, fmt, ap);
    va_end(ap);
    s->state = NODE_NET_SESS_FAILED;
    sodium_memzero(s->rx_key, sizeof s->rx_key);
    sodium_memzero(s->eph_sk, sizeof s->eph_sk);
    return code;
}

int node_net_sess_init(struct node_net_sess *s, bool initiator, const uint8_t pk[static 32],
                       const uint8_t *sk, const char *chain_id, size_t max_frame,
                       const uint8_t eph_pk[static 32], const uint8_t eph_sk[static 32])
{
    memset(s, 0, sizeof *s);
    size_t clen = chain_id ? strlen(chain_id) : 0;
    if (!sk || clen == 0 || clen > NODE_NET_CHAIN_ID_MAX || max_frame == 0 ||
        max_frame > UINT32_MAX - NODE_NET_ABYTES)
        return NODE_NET_ERR_INVALID_ARG;
    s->initiator = initiator;
    s->max_frame = max_frame;
    s->sk = sk;
    memcpy(s->eph_sk, eph_sk, 32);
    s->me.version = NODE_NET_VERSION;
    memcpy(s->me.eph, eph_pk, 32);
    memcpy(s->me.key, pk, 32);
    s->me.chain_len = clen;
    memcpy(s->me.chain_id, chain_id, clen);
    node_net_hello_encode(&s->me, s->hello, &s->hello_len);
    s->state = NODE_NET_SESS_HELLO;
    return NODE_NET_ERR_OK;
}

/* T = H(tag | len | client hello | len | server hello). */
static void transcript(const struct node_net_sess *s, uint8_t out[32])
{
    const uint8_t *c = s->initiator ? s->hello : s->peer_hello;
    size_t cl = s->initiator ? s->hello_len : s->peer_hello_len;
    const uint8_t *v = s->initiator ? s->peer_hello : s->hello;
    size_t vl = s->initiator ? s->peer_hello_len : s->hello_len;
    uint8_t l[2];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)TRANSCRIPT_TAG, sizeof TRANSCRIPT_TAG - 1);
    put_u16(l, (uint32_t)cl);
    crypto_generichash_update(&st, l, 2);
    crypto_generichash_update(&st, c, cl);
    put_u16(l, (uint32_t)vl);
    crypto_generichash_update(&st, l, 2);
    crypto_generichash_update(&st, v, vl);
    crypto_generichash_final(&st, out, 32);
}

/* The message a side signs: tag | role | T.  Returns its length. */
static size_t auth_msg(const uint8_t t[32], bool client, uint8_t out[64])
{
    size_t n = sizeof AUTH_TAG - 1;
    memcpy(out, AUTH_TAG, n);
    memcpy(out + n, client ? "client" : "server", 6);
    n += 6;
    memcpy(out + n, t, 32);
    return n + 32;
}

static void seal_raw(struct node_net_sess *s, const uint8_t *pt, size_t len, uint8_t *out)
{
    unsigned long long clen = 0;
    put_u32(out, (uint32_t)(len + NODE_NET_ABYTES));
    int rc = crypto_secretstream_xchacha20poly1305_push(
        &s->tx, out + 4, &clen, pt, len, NULL, 0,
        crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    assert(rc == 0 && clen == len + NODE_NET_ABYTES); /* push fails only on absurd sizes */
    (void)rc;
}

int node_net_sess_seal(struct node_net_sess *s, const uint8_t *pt, size_t len, uint8_t *out)
{
    assert(s->state == NODE_NET_SESS_UP);
    if (len > UINT32_MAX - NODE_NET_ABYTES)
        return NODE_NET_ERR_TOO_LARGE;
    seal_raw(s, pt, len, out);
    return NODE_NET_ERR_OK;
}

static int on_hello(struct node_net_sess *s, const uint8_t *in, size_t len, size_t *used,
                    struct node_net_ev *ev)
{
    size_t n = 0;
    int rc = node_net_hello_parse(in, len, &s->peer, &n);
    if (rc == NODE_NET_ERR_NEED_MORE) {
        ev->len = n;
        return rc;
    }
    char q[2 * NODE_NET_WHY_BYTES / 5];
    switch (rc) {
    case NODE_NET_ERR_OK: break;
    case NODE_NET_ERR_BAD_MAGIC:
        node_net_quote(in, len < 4 ? len : 4, q, sizeof q);
        return sess_fail(s, rc, "not a gridledger peer: it sent %s where \"%s\" was due", q,
                         NODE_NET_MAGIC);
    case NODE_NET_ERR_BAD_VERSION:
        return sess_fail(s, rc, "protocol version %u is not ours (%u)", s->peer.version,
                         NODE_NET_VERSION);
    default:
        return sess_fail(s, rc, "malformed hello (chain id length %u, flags %u)", in[6], in[7]);
    }
    if (s->peer.chain_len != s->me.chain_len ||
        memcmp(s->peer.chain_id, s->me.chain_id, s->me.chain_len) != 0) {
        char q2[2 * NODE_NET_WHY_BYTES / 5];
        node_net_quote((const uint8_t *)s->peer.chain_id, s->peer.chain_len, q, sizeof q);
        node_net_quote((const uint8_t *)s->me.chain_id, s->me.chain_len, q2, sizeof q2);
        return sess_fail(s, NODE_NET_ERR_WRONG_CHAIN, "chain id %s is not ours (%s)", q, q2);
    }
    if (sodium_memcmp(s->peer.key, s->me.key, 32) == 0)
        return sess_fail(s, NODE_NET_ERR_SELF, "the peer presents our own node key");
    memcpy(s->peer_hello, in, n);
    s->peer_hello_len = n;

    uint8_t tx_key[32];
    int kx =
        s->initiator
            ? crypto_kx_client_session_keys(s->rx_key, tx_key, s->me.eph, s->eph_sk, s->peer.eph)
            : crypto_kx_server_session_keys(s->rx_key, tx_key, s->me.eph, s->eph_sk, s->peer.eph);
    sodium_memzero(s->eph_sk, sizeof s->eph_sk);
    if (kx != 0)
        return sess_fail(s, NODE_NET_ERR_BAD_HELLO,
                         "the peer's ephemeral key is not a usable X25519 key");
    transcript(s, s->transcript);
    crypto_secretstream_xchacha20poly1305_init_push(&s->tx, s->reply, tx_key);
    sodium_memzero(tx_key, sizeof tx_key);
    uint8_t msg[64], sig[NODE_NET_AUTH_BYTES];
    size_t mlen = auth_msg(s->transcript, s->initiator, msg);
    crypto_sign_detached(sig, NULL, msg, mlen, s->sk);
    seal_raw(s, sig, sizeof sig, s->reply + NODE_NET_HEADERBYTES);
    s->state = NODE_NET_SESS_STREAM;
    *used = n;
    if (s->initiator) { /* the responder answers only once it has checked our auth */
        ev->kind = NODE_NET_EV_SEND;
        ev->data = s->reply;
        ev->len = sizeof s->reply;
    }
    return NODE_NET_ERR_OK;
}

/* Decrypt the frame at in (header checked, complete) into out. */
static int open_frame(struct node_net_sess *s, const uint8_t *in, size_t total, uint8_t *out,
                      size_t *out_len)
{
    unsigned long long mlen = 0;
    unsigned char tag = 0;
    s->frames_in++;
    if (crypto_secretstream_xchacha20poly1305_pull(&s->rx, out, &mlen, &tag, in + 4, total - 4,
                                                   NULL, 0) != 0)
        return sess_fail(s, NODE_NET_ERR_DECRYPT,
                         "frame %llu (%zu bytes) does not decrypt: tampered, or not from the "
                         "peer's session",
                         (unsigned long long)s->frames_in, total);
    if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
        return sess_fail(s, NODE_NET_ERR_DECRYPT, "frame %llu has unexpected stream tag %u",
                         (unsigned long long)s->frames_in, tag);
    *out_len = (size_t)mlen;
    return NODE_NET_ERR_OK;
}

int node_net_sess_input(struct node_net_sess *s, const uint8_t *in, size_t len, uint8_t *scratch,
                        size_t *used, struct node_net_ev *ev)
{
    *used = 0;
    memset(ev, 0, sizeof *ev);
    size_t total = 0;
    int rc;
    char h[17];
    switch (s->state) {
    case NODE_NET_SESS_HELLO: return on_hello(s, in, len, used, ev);
    case NODE_NET_SESS_STREAM:
        if (len < NODE_NET_HEADERBYTES) {
            ev->len = NODE_NET_HEADERBYTES;
            return NODE_NET_ERR_NEED_MORE;
        }
        if (crypto_secretstream_xchacha20poly1305_init_pull(&s->rx, in, s->rx_key) != 0)
            return sess_fail(s, NODE_NET_ERR_DECRYPT, "bad stream header");
        sodium_memzero(s->rx_key, sizeof s->rx_key);
        s->state = NODE_NET_SESS_AUTH;
        *used = NODE_NET_HEADERBYTES;
        return NODE_NET_ERR_OK;
    case NODE_NET_SESS_AUTH: {
        rc = node_net_frame_check(in, len, NODE_NET_AUTH_BYTES, &total);
        if (rc == NODE_NET_ERR_NEED_MORE || (rc == NODE_NET_ERR_OK && len < total)) {
            ev->len = total;
            return NODE_NET_ERR_NEED_MORE;
        }
        hex8(s->peer.key, h);
        if (rc != NODE_NET_ERR_OK)
            return sess_fail(s, NODE_NET_ERR_BAD_AUTH,
                             "handshake from key %s...: auth frame of %zu bytes, expected %u", h,
                             total, NODE_NET_FRAME_OVERHEAD + NODE_NET_AUTH_BYTES);
        uint8_t sig[NODE_NET_AUTH_BYTES], msg[64];
        size_t slen = 0;
        rc = open_frame(s, in, total, sig, &slen);
        if (rc != NODE_NET_ERR_OK)
            return rc;
        size_t mlen = auth_msg(s->transcript, !s->initiator, msg);
        if (slen != sizeof sig || crypto_sign_verify_detached(sig, msg, mlen, s->peer.key) != 0)
            return sess_fail(s, NODE_NET_ERR_BAD_AUTH,
                             "handshake signature by key %s... does not verify", h);
        s->state = NODE_NET_SESS_UP;
        s->frames_in = 0; /* application frames count from 1 in messages */
        *used = total;
        ev->kind = NODE_NET_EV_UP;
        if (!s->initiator) {
            ev->data = s->reply;
            ev->len = sizeof s->reply;
        }
        return NODE_NET_ERR_OK;
    }
    case NODE_NET_SESS_UP:
        rc = node_net_frame_check(in, len, s->max_frame, &total);
        if (rc == NODE_NET_ERR_NEED_MORE || (rc == NODE_NET_ERR_OK && len < total)) {
            ev->len = total;
            return NODE_NET_ERR_NEED_MORE;
        }
        if (rc == NODE_NET_ERR_FRAME_TOO_LARGE)
            return sess_fail(s, rc, "frame of %zu bytes exceeds max_frame %zu",
                             total - 4 - NODE_NET_ABYTES, s->max_frame);
        if (rc != NODE_NET_ERR_OK)
            return sess_fail(s, rc, "frame of %zu bytes is shorter than its %u-byte tag", total - 4,
                             NODE_NET_ABYTES);
        rc = open_frame(s, in, total, scratch, &ev->len);
        if (rc != NODE_NET_ERR_OK)
            return rc;
        *used = total;
        ev->kind = NODE_NET_EV_FRAME;
        ev->data = scratch;
        return NODE_NET_ERR_OK;
    default:
        snprintf(s->why, sizeof s->why, "session already failed");
        return NODE_NET_ERR_INVALID_ARG;
    }
}

void node_net_sess_deinit(struct node_net_sess *s)
{
    if (!s)
        return;
    sodium_memzero(s, sizeof *s);
}
