/* test_node_net_proto.c -- the transport's handshake and frames without
 * sockets (node_net_proto.c): two sessions in memory authenticate each other
 * and exchange frames; any changed byte of a handshake, a replayed handshake,
 * a reflected hello, another chain or version, and tampered, replayed or
 * oversize frames are refused with their named error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h> /* after the headers it needs */

#include "node_net_proto.h"
#include "testutil.h"

#define CHAIN "gridledger-testnet"
#define MAXF  4096u

struct ident {
    uint8_t pk[32], sk[64];
};

static void ident_from_seed(struct ident *id, uint8_t seed)
{
    uint8_t s[32];
    memset(s, seed, sizeof s);
    assert_int_equal(crypto_sign_seed_keypair(id->pk, id->sk, s), 0);
}

static void sess_start(struct node_net_sess *s, bool initiator, const struct ident *id,
                       const char *chain, uint8_t eph_seed)
{
    uint8_t seed[32], epk[32], esk[32];
    memset(seed, eph_seed, sizeof seed);
    assert_int_equal(crypto_kx_seed_keypair(epk, esk, seed), 0);
    assert_int_equal(node_net_sess_init(s, initiator, id->pk, id->sk, chain, MAXF, epk, esk),
                     NODE_NET_ERR_OK);
}

/* A byte pipe from one session to the other. */
struct pipe_ {
    uint8_t buf[1 << 16];
    size_t len;
};

static void pipe_put(struct pipe_ *p, const uint8_t *b, size_t n)
{
    assert_true(p->len + n <= sizeof p->buf);
    memcpy(p->buf + p->len, b, n);
    p->len += n;
}

/* Feed everything in p to s; replies go to back.  Returns the first error (or
 * OK), counts UP events and the frames (copied into frames/flens). */
static uint8_t scratch[MAXF];
static int drain(struct node_net_sess *s, struct pipe_ *p, struct pipe_ *back, int *ups,
                 size_t *nframes, uint8_t frames[][64], size_t *flens)
{
    size_t off = 0;
    int rc = NODE_NET_ERR_OK;
    for (;;) {
        size_t used = 0;
        struct node_net_ev ev;
        rc = node_net_sess_input(s, p->buf + off, p->len - off, scratch, &used, &ev);
        if (rc == NODE_NET_ERR_NEED_MORE) {
            assert_true(ev.len > p->len - off);
            rc = NODE_NET_ERR_OK;
            break;
        }
        if (rc != NODE_NET_ERR_OK)
            break;
        off += used;
        if (ev.kind == NODE_NET_EV_SEND)
            pipe_put(back, ev.data, ev.len);
        if (ev.kind == NODE_NET_EV_UP) {
            (*ups)++;
            if (ev.len)
                pipe_put(back, ev.data, ev.len);
        }
        if (ev.kind == NODE_NET_EV_FRAME && nframes) {
            memcpy(frames[*nframes], ev.data, ev.len < 64 ? ev.len : 64);
            flens[(*nframes)++] = ev.len;
        }
    }
    memmove(p->buf, p->buf + off, p->len - off);
    p->len -= off;
    return rc;
}

/* The two hellos cross, then the replies: a full handshake. */
static void handshake(struct node_net_sess *c, struct node_net_sess *v, int *cu, int *vu)
{
    static struct pipe_ c2v, v2c;
    c2v.len = v2c.len = 0;
    pipe_put(&c2v, c->hello, c->hello_len);
    pipe_put(&v2c, v->hello, v->hello_len);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(drain(v, &c2v, &v2c, vu, NULL, NULL, NULL), NODE_NET_ERR_OK);
        assert_int_equal(drain(c, &v2c, &c2v, cu, NULL, NULL, NULL), NODE_NET_ERR_OK);
    }
}

static void test_two_sessions_authenticate_and_exchange_frames_both_ways(void **state)
{
    (void)state;
    struct ident a, b;
    ident_from_seed(&a, 1);
    ident_from_seed(&b, 2);
    struct node_net_sess c, v;
    sess_start(&c, true, &a, CHAIN, 11);
    sess_start(&v, false, &b, CHAIN, 12);
    int cu = 0, vu = 0;
    handshake(&c, &v, &cu, &vu);
    assert_int_equal(cu, 1);
    assert_int_equal(vu, 1);
    assert_int_equal(c.state, NODE_NET_SESS_UP);
    assert_memory_equal(c.peer.key, b.pk, 32);
    assert_memory_equal(v.peer.key, a.pk, 32);

    static struct pipe_ p, back;
    p.len = back.len = 0;
    uint8_t frames[8][64];
    size_t flens[8], nf = 0;
    uint8_t out[64 + NODE_NET_FRAME_OVERHEAD];
    const char *msgs[3] = {"", "one", "a somewhat longer third frame"};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(msgs[i]);
        assert_int_equal(node_net_sess_seal(&c, (const uint8_t *)msgs[i], l, out), NODE_NET_ERR_OK);
        pipe_put(&p, out, l + NODE_NET_FRAME_OVERHEAD);
    }
    int ups = 0;
    assert_int_equal(drain(&v, &p, &back, &ups, &nf, frames, flens), NODE_NET_ERR_OK);
    assert_int_equal(nf, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(flens[i], strlen(msgs[i]));
        assert_memory_equal(frames[i], msgs[i], flens[i]);
    }
    /* and back */
    assert_int_equal(node_net_sess_seal(&v, (const uint8_t *)"pong", 4, out), NODE_NET_ERR_OK);
    pipe_put(&p, out, 4 + NODE_NET_FRAME_OVERHEAD);
    nf = 0;
    assert_int_equal(drain(&c, &p, &back, &ups, &nf, frames, flens), NODE_NET_ERR_OK);
    assert_int_equal(nf, 1);
    assert_memory_equal(frames[0], "pong", 4);
    node_net_sess_deinit(&c);
    node_net_sess_deinit(&v);
}

/* Record what the client sends in a whole handshake (hello, stream header,
 * auth frame) against a server with eph seed vseed. */
static size_t record_client(uint8_t *out, uint8_t vseed)
{
    struct ident a, b;
    ident_from_seed(&a, 1);
    ident_from_seed(&b, 2);
    struct node_net_sess c, v;
    sess_start(&c, true, &a, CHAIN, 11);
    sess_start(&v, false, &b, CHAIN, vseed);
    static struct pipe_ c2v, v2c;
    c2v.len = v2c.len = 0;
    pipe_put(&v2c, v.hello, v.hello_len);
    int cu = 0;
    assert_int_equal(drain(&c, &v2c, &c2v, &cu, NULL, NULL, NULL), NODE_NET_ERR_OK);
    memcpy(out, c.hello, c.hello_len);
    memcpy(out + c.hello_len, c2v.buf, c2v.len);
    return c.hello_len + c2v.len;
}

static void test_every_changed_byte_of_a_client_handshake_is_refused(void **state)
{
    (void)state;
    uint8_t rec[NODE_NET_HELLO_MAX + NODE_NET_REPLY_BYTES];
    size_t n = record_client(rec, 12);
    assert_int_equal(n, NODE_NET_HELLO_FIXED + strlen(CHAIN) + NODE_NET_REPLY_BYTES);
    struct ident b;
    ident_from_seed(&b, 2);
    /* the untouched recording authenticates (so the flips below are what fails) */
    for (size_t i = 0; i <= n; i++) {
        for (int bit = 0; bit < 8; bit += (i == n ? 8 : 3)) {
            struct node_net_sess v;
            sess_start(&v, false, &b, CHAIN, 12);
            static struct pipe_ p, back;
            p.len = back.len = 0;
            pipe_put(&p, rec, n);
            if (i < n)
                p.buf[i] ^= (uint8_t)(1u << bit);
            int ups = 0;
            int rc = drain(&v, &p, &back, &ups, NULL, NULL, NULL);
            if (i == n) {
                assert_int_equal(rc, NODE_NET_ERR_OK);
                assert_int_equal(ups, 1);
            } else {
                if (ups != 0)
                    fail_msg("flipping bit %d of byte %zu still authenticated", bit, i);
                /* refused with a named error, or (a changed length) waiting for bytes
                 * that never come, which the handshake deadline ends */
                assert_true(rc == NODE_NET_ERR_OK || strcmp(node_net_err_name(rc), "UNKNOWN"));
                if (rc != NODE_NET_ERR_OK)
                    assert_true(v.why[0] != '\0');
            }
            node_net_sess_deinit(&v);
        }
    }
}

static void test_a_recorded_handshake_replayed_to_a_fresh_server_is_refused(void **state)
{
    (void)state;
    uint8_t rec[NODE_NET_HELLO_MAX + NODE_NET_REPLY_BYTES];
    size_t n = record_client(rec, 12);
    struct ident b;
    ident_from_seed(&b, 2);
    struct node_net_sess v;
    sess_start(&v, false, &b, CHAIN, 13); /* the server's new ephemeral key */
    static struct pipe_ p, back;
    p.len = back.len = 0;
    pipe_put(&p, rec, n);
    int ups = 0;
    int rc = drain(&v, &p, &back, &ups, NULL, NULL, NULL);
    assert_int_equal(ups, 0);
    assert_int_equal(rc, NODE_NET_ERR_DECRYPT);
    node_net_sess_deinit(&v);
}

static void test_a_reflected_hello_is_refused_as_ourselves(void **state)
{
    (void)state;
    struct ident b;
    ident_from_seed(&b, 2);
    struct node_net_sess v;
    sess_start(&v, false, &b, CHAIN, 12);
    static struct pipe_ p, back;
    p.len = back.len = 0;
    pipe_put(&p, v.hello, v.hello_len);
    int ups = 0;
    assert_int_equal(drain(&v, &p, &back, &ups, NULL, NULL, NULL), NODE_NET_ERR_SELF);
    assert_int_equal(back.len, 0); /* nothing signed was sent */
    node_net_sess_deinit(&v);
}

static void test_a_man_in_the_middle_with_its_own_ephemeral_key_fails_auth(void **state)
{
    (void)state;
    /* M claims A's identity in a hello with M's ephemeral key, and signs the
     * transcript with its own key (it has not A's). */
    struct ident a, b, m;
    ident_from_seed(&a, 1);
    ident_from_seed(&b, 2);
    ident_from_seed(&m, 3);
    struct node_net_sess ms, v;
    sess_start(&ms, true, &m, CHAIN, 21);
    sess_start(&v, false, &b, CHAIN, 12);
    /* M's hello, with A's key in it */
    uint8_t hello[NODE_NET_HELLO_MAX];
    memcpy(hello, ms.hello, ms.hello_len);
    memcpy(hello + 40, a.pk, 32);
    memcpy(ms.hello + 40, a.pk, 32); /* M's own transcript matches what B sees */
    static struct pipe_ c2v, v2c;
    c2v.len = v2c.len = 0;
    pipe_put(&c2v, hello, ms.hello_len);
    pipe_put(&v2c, v.hello, v.hello_len);
    int mu = 0, vu = 0;
    assert_int_equal(drain(&ms, &v2c, &c2v, &mu, NULL, NULL, NULL), NODE_NET_ERR_OK);
    int rc = drain(&v, &c2v, &v2c, &vu, NULL, NULL, NULL);
    assert_int_equal(vu, 0);
    assert_int_equal(rc, NODE_NET_ERR_BAD_AUTH);
    assert_non_null(strstr(v.why, "does not verify"));
    node_net_sess_deinit(&ms);
    node_net_sess_deinit(&v);
}

static void test_another_chain_or_version_is_refused_with_the_reason(void **state)
{
    (void)state;
    struct ident a, b;
    ident_from_seed(&a, 1);
    ident_from_seed(&b, 2);
    struct node_net_sess c, v;
    sess_start(&c, true, &a, "other", 11);
    sess_start(&v, false, &b, CHAIN, 12);
    static struct pipe_ p, back;
    p.len = back.len = 0;
    pipe_put(&p, c.hello, c.hello_len);
    int ups = 0;
    assert_int_equal(drain(&v, &p, &back, &ups, NULL, NULL, NULL), NODE_NET_ERR_WRONG_CHAIN);
    assert_string_equal(v.why, "chain id \"other\" is not ours (\"gridledger-testnet\")");
    node_net_sess_deinit(&v);

    sess_start(&v, false, &b, CHAIN, 12);
    p.len = 0;
    pipe_put(&p, c.hello, c.hello_len);
    p.buf[5] = 7; /* version 7 */
    assert_int_equal(drain(&v, &p, &back, &ups, NULL, NULL, NULL), NODE_NET_ERR_BAD_VERSION);
    assert_string_equal(v.why, "protocol version 7 is not ours (1)");
    node_net_sess_deinit(&v);
    node_net_sess_deinit(&c);
}

static void test_hello_is_parsed_incrementally_and_garbage_fails_at_once(void **state)
{
    (void)state;
    struct ident a;
    ident_from_seed(&a, 1);
    struct node_net_sess c;
    sess_start(&c, true, &a, CHAIN, 11);
    struct node_net_hello h;
    size_t used = 0;
    for (size_t k = 0; k < c.hello_len; k++) {
        assert_int_equal(node_net_hello_parse(c.hello, k, &h, &used), NODE_NET_ERR_NEED_MORE);
        assert_true(used > k && used <= c.hello_len);
    }
    assert_int_equal(node_net_hello_parse(c.hello, c.hello_len, &h, &used), NODE_NET_ERR_OK);
    assert_int_equal(used, c.hello_len);
    assert_int_equal(h.chain_len, strlen(CHAIN));
    assert_string_equal(h.chain_id, CHAIN);
    assert_memory_equal(h.key, a.pk, 32);
    /* round trip */
    uint8_t again[NODE_NET_HELLO_MAX];
    size_t alen = 0;
    node_net_hello_encode(&h, again, &alen);
    assert_int_equal(alen, c.hello_len);
    assert_memory_equal(again, c.hello, alen);
    /* an HTTP request is refused on the first byte that differs */
    assert_int_equal(node_net_hello_parse((const uint8_t *)"P", 1, &h, &used),
                     NODE_NET_ERR_BAD_MAGIC);
    assert_int_equal(node_net_hello_parse((const uint8_t *)"G", 1, &h, &used),
                     NODE_NET_ERR_NEED_MORE);
    assert_int_equal(node_net_hello_parse((const uint8_t *)"GE", 2, &h, &used),
                     NODE_NET_ERR_BAD_MAGIC);
    uint8_t bad[NODE_NET_HELLO_MAX];
    memcpy(bad, c.hello, c.hello_len);
    bad[6] = 0; /* empty chain id */
    assert_int_equal(node_net_hello_parse(bad, c.hello_len, &h, &used), NODE_NET_ERR_BAD_HELLO);
    bad[6] = NODE_NET_CHAIN_ID_MAX + 1;
    assert_int_equal(node_net_hello_parse(bad, c.hello_len, &h, &used), NODE_NET_ERR_BAD_HELLO);
    memcpy(bad, c.hello, c.hello_len);
    bad[7] = 1; /* reserved flags */
    assert_int_equal(node_net_hello_parse(bad, c.hello_len, &h, &used), NODE_NET_ERR_BAD_HELLO);
    node_net_sess_deinit(&c);
}

static void test_frame_length_is_checked_against_max_frame_at_the_boundary(void **state)
{
    (void)state;
    uint8_t hdr[4] = {0};
    size_t total = 0;
    assert_int_equal(node_net_frame_check(hdr, 3, 100, &total), NODE_NET_ERR_NEED_MORE);
    assert_int_equal(total, 4);
    struct {
        uint32_t ct;
        int rc;
    } cases[] = {{0, NODE_NET_ERR_FRAME_TOO_SHORT},
                 {16, NODE_NET_ERR_FRAME_TOO_SHORT},
                 {17, NODE_NET_ERR_OK},
                 {117, NODE_NET_ERR_OK},
                 {118, NODE_NET_ERR_FRAME_TOO_LARGE},
                 {UINT32_MAX, NODE_NET_ERR_FRAME_TOO_LARGE}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t v = cases[i].ct;
        hdr[0] = (uint8_t)(v >> 24), hdr[1] = (uint8_t)(v >> 16), hdr[2] = (uint8_t)(v >> 8),
        hdr[3] = (uint8_t)v;
        assert_int_equal(node_net_frame_check(hdr, 4, 100, &total), cases[i].rc);
        assert_int_equal(total, 4 + (size_t)v);
    }
}

static void test_tampered_replayed_or_oversize_frames_fail_the_session(void **state)
{
    (void)state;
    struct ident a, b;
    ident_from_seed(&a, 1);
    ident_from_seed(&b, 2);
    static uint8_t big[MAXF + 1], out[MAXF + 1 + NODE_NET_FRAME_OVERHEAD];
    for (int what = 0; what < 4; what++) {
        struct node_net_sess c, v;
        sess_start(&c, true, &a, CHAIN, 11);
        sess_start(&v, false, &b, CHAIN, 12);
        int cu = 0, vu = 0;
        handshake(&c, &v, &cu, &vu);
        static struct pipe_ p, back;
        p.len = back.len = 0;
        size_t l = what == 3 ? MAXF + 1 : 10;
        assert_int_equal(node_net_sess_seal(&c, big, l, out), NODE_NET_ERR_OK);
        if (what == 0)
            out[4 + 3] ^= 0x40; /* a ciphertext byte */
        if (what == 1)
            out[4 + 10 + 5] ^= 1; /* a tag byte */
        if (what == 2) {          /* the same frame twice */
            pipe_put(&p, out, l + NODE_NET_FRAME_OVERHEAD);
        }
        pipe_put(&p, out, l + NODE_NET_FRAME_OVERHEAD);
        uint8_t frames[4][64];
        size_t flens[4], nf = 0;
        int ups = 0;
        int rc = drain(&v, &p, &back, &ups, &nf, frames, flens);
        int want[] = {NODE_NET_ERR_DECRYPT, NODE_NET_ERR_DECRYPT, NODE_NET_ERR_DECRYPT,
                      NODE_NET_ERR_FRAME_TOO_LARGE};
        assert_int_equal(rc, want[what]);
        assert_int_equal(nf, what == 2 ? 1 : 0);
        assert_int_equal(v.state, NODE_NET_SESS_FAILED);
        node_net_sess_deinit(&c);
        node_net_sess_deinit(&v);
    }
}

static void test_error_names_and_messages_cover_every_code(void **state)
{
    (void)state;
#define CHECK_(name, code, msg)                                                                    \
    assert_string_equal(node_net_err_name(code), #name);                                           \
    assert_string_equal(node_net_strerror(code), msg);
    NODE_NET_ERRORS(CHECK_)
#undef CHECK_
    assert_string_equal(node_net_err_name(-12345), "UNKNOWN");
    char q[16];
    node_net_quote((const uint8_t *)"a\"b\x01", 4, q, sizeof q);
    assert_string_equal(q, "\"a\\x22b\\x01\"");
    node_net_quote((const uint8_t *)"abcdefghijklmnop", 16, q, sizeof q);
    assert_string_equal(q, "\"abcdefghij...\"");
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_sessions_authenticate_and_exchange_frames_both_ways),
        cmocka_unit_test(test_every_changed_byte_of_a_client_handshake_is_refused),
        cmocka_unit_test(test_a_recorded_handshake_replayed_to_a_fresh_server_is_refused),
        cmocka_unit_test(test_a_reflected_hello_is_refused_as_ourselves),
        cmocka_unit_test(test_a_man_in_the_middle_with_its_own_ephemeral_key_fails_auth),
        cmocka_unit_test(test_another_chain_or_version_is_refused_with_the_reason),
        cmocka_unit_test(test_hello_is_parsed_incrementally_and_garbage_fails_at_once),
        cmocka_unit_test(test_frame_length_is_checked_against_max_frame_at_the_boundary),
        cmocka_unit_test(test_tampered_replayed_or_oversize_frames_fail_the_session),
        cmocka_unit_test(test_error_names_and_messages_cover_every_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
