/* test_chain_proof.c -- the pure verifier and the strict gl.StateProof codec.
 *
 * Proofs come from the naive reference tree (tests/smt_naive.h), so this
 * file needs no LMDB.  Tampering with a proof, the key, the value or the
 * claim must fail; every non-canonical form must be rejected; the decoder
 * gives each kind of bad input its own named error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chain.pb-c.h"
#include "chain_crypto.h"
#include "chain_proof.h"
#include "smt_naive.h"
#include "testutil.h"

/* A tree of 64 random keys plus the named raw keys "acct/0".."acct/7". */
struct world {
    struct smt_naive m;
    uint8_t root[CHAIN_HASH_BYTES];
    uint8_t member_key[CHAIN_HASH_BYTES]; /* H(KEY, "acct/3") */
    uint8_t member_value[16];
    uint8_t absent_empty[CHAIN_HASH_BYTES]; /* path ends in an empty subtree */
    uint8_t absent_other[CHAIN_HASH_BYTES]; /* path ends at another key's leaf */
};

static void world_make(struct world *w)
{
    assert_int_equal(chain_crypto_init(), CHAIN_ERR_OK);
    memset(w, 0, sizeof *w);
    struct tu_rng r = {2024};
    for (int i = 0; i < 64; i++) {
        uint8_t k[CHAIN_HASH_BYTES], v[16];
        tu_fill(&r, k, sizeof k);
        tu_fill(&r, v, sizeof v);
        smt_naive_set(&w->m, k, v, sizeof v);
    }
    for (int i = 0; i < 8; i++) {
        char raw[16];
        int n = snprintf(raw, sizeof raw, "acct/%d", i);
        uint8_t k[CHAIN_HASH_BYTES], v[16];
        chain_state_key_hash(k, raw, (size_t)n);
        tu_fill(&r, v, sizeof v);
        smt_naive_set(&w->m, k, v, sizeof v);
        if (i == 3) {
            memcpy(w->member_key, k, sizeof k);
            memcpy(w->member_value, v, sizeof v);
        }
    }
    smt_naive_root(&w->m, w->root);
    bool have_empty = false, have_other = false;
    for (int tries = 0; tries < 100000 && !(have_empty && have_other); tries++) {
        uint8_t k[CHAIN_HASH_BYTES];
        struct chain_proof p;
        tu_fill(&r, k, sizeof k);
        smt_naive_prove(&w->m, k, &p);
        if (p.terminal == CHAIN_PROOF_TERM_EMPTY && !have_empty) {
            memcpy(w->absent_empty, k, sizeof k);
            have_empty = true;
        } else if (p.terminal == CHAIN_PROOF_TERM_OTHER && !have_other) {
            memcpy(w->absent_other, k, sizeof k);
            have_other = true;
        }
    }
    assert_true(have_empty && have_other);
}

static void claim_of(const struct world *w, const uint8_t key[CHAIN_HASH_BYTES],
                     uint8_t vh[CHAIN_HASH_BYTES], const uint8_t **claim)
{
    const struct smt_naive_entry *e = smt_naive_find(&w->m, key);
    if (e == NULL) {
        *claim = NULL;
        return;
    }
    chain_value_hash(vh, e->value, e->value_len);
    *claim = vh;
}

/* Every single-bit flip of the encoded proof fails to decode or to verify. */
static void flip_every_encoded_bit(const struct world *w, const uint8_t key[CHAIN_HASH_BYTES])
{
    static struct chain_proof p, q;
    smt_naive_prove(&w->m, key, &p);
    uint8_t vh[CHAIN_HASH_BYTES];
    const uint8_t *claim;
    claim_of(w, key, vh, &claim);
    assert_int_equal(chain_proof_verify(w->root, key, claim, &p), CHAIN_ERR_OK);

    uint8_t *enc;
    size_t len;
    assert_int_equal(chain_proof_encode(&p, &enc, &len), CHAIN_ERR_OK);
    assert_int_equal(chain_proof_decode(enc, len, &q), CHAIN_ERR_OK);
    assert_int_equal(chain_proof_verify(w->root, key, claim, &q), CHAIN_ERR_OK);
    size_t decoded = 0;
    for (size_t bit = 0; bit < len * 8; bit++) {
        enc[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        if (chain_proof_decode(enc, len, &q) == CHAIN_ERR_OK) {
            decoded++;
            assert_int_equal(chain_proof_verify(w->root, key, claim, &q), CHAIN_ERR_PROOF_INVALID);
        }
        enc[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_true(decoded > 0); /* the flips in hashes decode and must fail to verify */
    free(enc);
}

static void test_every_bit_flip_of_an_encoded_membership_proof_fails(void **state)
{
    (void)state;
    static struct world w;
    world_make(&w);
    flip_every_encoded_bit(&w, w.member_key);
    smt_naive_free(&w.m);
}

static void test_every_bit_flip_of_an_encoded_non_membership_proof_fails(void **state)
{
    (void)state;
    static struct world w;
    world_make(&w);
    flip_every_encoded_bit(&w, w.absent_empty);
    flip_every_encoded_bit(&w, w.absent_other);
    smt_naive_free(&w.m);
}

static void test_every_bit_flip_of_the_key_fails_a_membership_proof(void **state)
{
    (void)state;
    static struct world w;
    world_make(&w);
    struct chain_proof p;
    smt_naive_prove(&w.m, w.member_key, &p);
    uint8_t vh[CHAIN_HASH_BYTES];
    chain_value_hash(vh, w.member_value, sizeof w.member_value);
    assert_int_equal(chain_proof_verify(w.root, w.member_key, vh, &p), CHAIN_ERR_OK);
    for (unsigned bit = 0; bit < CHAIN_SMT_DEPTH; bit++) {
        uint8_t k[CHAIN_HASH_BYTES];
        memcpy(k, w.member_key, sizeof k);
        k[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
        assert_int_equal(chain_proof_verify(w.root, k, vh, &p), CHAIN_ERR_PROOF_INVALID);
        assert_int_equal(chain_proof_verify(w.root, k, NULL, &p), CHAIN_ERR_PROOF_INVALID);
    }
    smt_naive_free(&w.m);
}

/* A non-membership proof at depth d proves a whole subtree empty (or holding
 * one other key): a flip in the first d bits must fail; a flip past them
 * gives a key under the same terminal, and the proof may verify only if that
 * key is absent too (it is then a correct proof for it). */
static void flip_key_of_non_membership(const struct world *w, const uint8_t key[CHAIN_HASH_BYTES])
{
    struct chain_proof p;
    smt_naive_prove(&w->m, key, &p);
    assert_true(p.terminal != CHAIN_PROOF_TERM_SELF);
    assert_int_equal(chain_proof_verify(w->root, key, NULL, &p), CHAIN_ERR_OK);
    for (unsigned bit = 0; bit < CHAIN_SMT_DEPTH; bit++) {
        uint8_t k[CHAIN_HASH_BYTES];
        memcpy(k, key, sizeof k);
        k[bit / 8] ^= (uint8_t)(0x80u >> (bit % 8));
        int rc = chain_proof_verify(w->root, k, NULL, &p);
        if (bit < p.depth)
            assert_int_equal(rc, CHAIN_ERR_PROOF_INVALID);
        else if (rc == CHAIN_ERR_OK)
            assert_null(smt_naive_find(&w->m, k));
    }
}

static void test_bit_flips_of_the_key_on_its_path_fail_non_membership_proofs(void **state)
{
    (void)state;
    static struct world w;
    world_make(&w);
    flip_key_of_non_membership(&w, w.absent_empty);
    flip_key_of_non_membership(&w, w.absent_other);
    /* TERM_OTHER: the other key itself is never proved absent by it. */
    struct chain_proof p;
    smt_naive_prove(&w.m, w.absent_other, &p);
    assert_int_equal(chain_proof_verify(w.root, p.other_key_hash, NULL, &p), CHAIN_ERR_PROOF_INVALID);
    smt_naive_free(&w.m);
}

static void test_every_bit_flip_of_the_value_fails(void **state)
{
    (void)state;
    static struct world w;
    world_make(&w);
    struct chain_proof p;
    smt_naive_prove(&w.m, w.member_key, &p);
    assert_int_equal(chain_proof_verify_kv(w.root, "acct/3", 6, w.member_value,
                                           sizeof w.member_value, &p),
                     CHAIN_ERR_OK);
    for (size_t bit = 0; bit < sizeof w.member_value * 8; bit++) {
        uint8_t v[sizeof w.member_value];
        memcpy(v, w.member_value, sizeof v);
        v[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(chain_proof_verify_kv(w.root, "acct/3", 6, v, sizeof v, &p),
                         CHAIN_ERR_PROOF_INVALID);
    }
    /* shorter and longer values too */
    assert_int_equal(chain_proof_verify_kv(w.root, "acct/3", 6, w.member_value,
                                           sizeof w.member_value - 1, &p),
                     CHAIN_ERR_PROOF_INVALID);
    smt_naive_free(&w.m);
}

static void test_claiming_absent_for_a_present_key_fails(void **state)
{
    (void)state;
    static struct world w;
    world_make(&w);
    struct chain_proof p;
    smt_naive_prove(&w.m, w.member_key, &p);
    assert_int_equal(p.terminal, CHAIN_PROOF_TERM_SELF);
    assert_int_equal(chain_proof_verify(w.root, w.member_key, NULL, &p), CHAIN_ERR_PROOF_INVALID);
    assert_int_equal(chain_proof_verify_kv(w.root, "acct/3", 6, NULL, 0, &p),
                     CHAIN_ERR_PROOF_INVALID);
    p.terminal = CHAIN_PROOF_TERM_EMPTY;
    assert_int_equal(chain_proof_verify(w.root, w.member_key, NULL, &p), CHAIN_ERR_PROOF_INVALID);
    /* Dressing the key's own leaf up as "another" leaf is rejected outright. */
    uint8_t vh[CHAIN_HASH_BYTES];
    chain_value_hash(vh, w.member_value, sizeof w.member_value);
    p.terminal = CHAIN_PROOF_TERM_OTHER;
    memcpy(p.other_key_hash, w.member_key, CHAIN_HASH_BYTES);
    memcpy(p.other_value_hash, vh, CHAIN_HASH_BYTES);
    assert_int_equal(chain_proof_verify(w.root, w.member_key, NULL, &p), CHAIN_ERR_PROOF_INVALID);
    smt_naive_free(&w.m);
}

static void test_claiming_present_for_an_absent_key_fails(void **state)
{
    (void)state;
    static struct world w;
    world_make(&w);
    const uint8_t *keys[2] = {w.absent_empty, w.absent_other};
    for (int i = 0; i < 2; i++) {
        struct chain_proof p, q;
        smt_naive_prove(&w.m, keys[i], &p);
        uint8_t *enc;
        size_t len;
        assert_int_equal(chain_proof_encode(&p, &enc, &len), CHAIN_ERR_OK);
        assert_int_equal(chain_proof_decode(enc, len, &q), CHAIN_ERR_OK);
        free(enc);
        uint8_t vh[CHAIN_HASH_BYTES];
        chain_value_hash(vh, "x", 1);
        assert_int_equal(chain_proof_verify(w.root, keys[i], vh, &p), CHAIN_ERR_PROOF_INVALID);
        assert_int_equal(chain_proof_verify(w.root, keys[i], vh, &q), CHAIN_ERR_PROOF_INVALID);
        assert_int_equal(chain_proof_verify(w.root, keys[i], NULL, &q), CHAIN_ERR_OK);
        p.terminal = CHAIN_PROOF_TERM_SELF;
        assert_int_equal(chain_proof_verify(w.root, keys[i], vh, &p), CHAIN_ERR_PROOF_INVALID);
        if (i == 1) /* even with the other leaf's own value hash */
            assert_int_equal(chain_proof_verify(w.root, keys[i], q.other_value_hash, &q),
                             CHAIN_ERR_PROOF_INVALID);
    }
    smt_naive_free(&w.m);
}

/* The tree {A = 00ff.., B = 01ff.., C = 80..}: A and B share 7 bits, so the
 * proof of A has depth 8 with siblings at levels 0 (C) and 7 (B) only. */
struct abc {
    struct smt_naive m;
    uint8_t root[CHAIN_HASH_BYTES];
    uint8_t a[CHAIN_HASH_BYTES], b[CHAIN_HASH_BYTES], c[CHAIN_HASH_BYTES];
    uint8_t vh[CHAIN_HASH_BYTES]; /* every value is "v" */
};

static void abc_make(struct abc *t)
{
    assert_int_equal(chain_crypto_init(), CHAIN_ERR_OK);
    memset(t, 0, sizeof *t);
    memset(t->a, 0xff, CHAIN_HASH_BYTES);
    t->a[0] = 0x00;
    memset(t->b, 0xff, CHAIN_HASH_BYTES);
    t->b[0] = 0x01;
    memset(t->c, 0x80, CHAIN_HASH_BYTES);
    smt_naive_set(&t->m, t->a, (const uint8_t *)"v", 1);
    smt_naive_set(&t->m, t->b, (const uint8_t *)"v", 1);
    smt_naive_set(&t->m, t->c, (const uint8_t *)"v", 1);
    smt_naive_root(&t->m, t->root);
    chain_value_hash(t->vh, "v", 1);
}

static void set_present(struct chain_proof *p, unsigned i)
{
    p->present[i / 8] = (uint8_t)(p->present[i / 8] | (1u << (i % 8)));
}

static void test_non_canonical_proofs_are_rejected(void **state)
{
    (void)state;
    static struct abc t;
    abc_make(&t);
    struct chain_proof good, p;
    smt_naive_prove(&t.m, t.a, &good);
    assert_int_equal(good.depth, 8);
    assert_int_equal(good.present[0], 0x81);
    assert_int_equal(chain_proof_verify(t.root, t.a, t.vh, &good), CHAIN_ERR_OK);

    /* depth past 256 */
    p = good;
    p.depth = CHAIN_SMT_DEPTH + 1;
    assert_int_equal(chain_proof_verify(t.root, t.a, t.vh, &p), CHAIN_ERR_PROOF_INVALID);

    /* a present bit at or past depth, with a zero or a non-zero sibling */
    p = good;
    set_present(&p, 8);
    assert_int_equal(chain_proof_verify(t.root, t.a, t.vh, &p), CHAIN_ERR_PROOF_INVALID);
    memset(p.siblings[8], 1, CHAIN_HASH_BYTES);
    assert_int_equal(chain_proof_verify(t.root, t.a, t.vh, &p), CHAIN_ERR_PROOF_INVALID);
    p = good;
    set_present(&p, 255);
    assert_int_equal(chain_proof_verify(t.root, t.a, t.vh, &p), CHAIN_ERR_PROOF_INVALID);

    /* an empty sibling sent as present (it would hash the same as elided) */
    p = good;
    set_present(&p, 3);
    assert_int_equal(chain_proof_verify(t.root, t.a, t.vh, &p), CHAIN_ERR_PROOF_INVALID);
    p = good;
    memset(p.siblings[7], 0, CHAIN_HASH_BYTES);
    assert_int_equal(chain_proof_verify(t.root, t.a, t.vh, &p), CHAIN_ERR_PROOF_INVALID);

    /* a leaf deeper than its compressed position: deepest sibling absent */
    p = good;
    p.depth = 9;
    assert_int_equal(chain_proof_verify(t.root, t.a, t.vh, &p), CHAIN_ERR_PROOF_INVALID);
    p = good;
    p.present[0] = 0x01; /* level 7 elided */
    assert_int_equal(chain_proof_verify(t.root, t.a, t.vh, &p), CHAIN_ERR_PROOF_INVALID);

    /* TERM_OTHER naming the key itself, or a leaf off the key's path */
    p = good;
    p.terminal = CHAIN_PROOF_TERM_OTHER;
    memcpy(p.other_key_hash, t.a, CHAIN_HASH_BYTES);
    memcpy(p.other_value_hash, t.vh, CHAIN_HASH_BYTES);
    assert_int_equal(chain_proof_verify(t.root, t.a, NULL, &p), CHAIN_ERR_PROOF_INVALID);
    uint8_t x[CHAIN_HASH_BYTES]; /* 00 00.. : shares 8 bits with A, ends at A's leaf */
    memset(x, 0, sizeof x);
    smt_naive_prove(&t.m, x, &p);
    assert_int_equal(p.terminal, CHAIN_PROOF_TERM_OTHER);
    assert_int_equal(chain_proof_verify(t.root, x, NULL, &p), CHAIN_ERR_OK);
    memcpy(p.other_key_hash, t.c, CHAIN_HASH_BYTES);
    assert_int_equal(chain_proof_verify(t.root, x, NULL, &p), CHAIN_ERR_PROOF_INVALID);
    memcpy(p.other_key_hash, t.a, CHAIN_HASH_BYTES);
    p.other_key_hash[0] ^= 0x02; /* bit 6 differs from x */
    assert_int_equal(chain_proof_verify(t.root, x, NULL, &p), CHAIN_ERR_PROOF_INVALID);

    /* claims inconsistent with the terminal */
    p = good;
    p.terminal = CHAIN_PROOF_TERM_EMPTY;
    assert_int_equal(chain_proof_verify(t.root, t.a, t.vh, &p), CHAIN_ERR_PROOF_INVALID);
    smt_naive_prove(&t.m, x, &p);
    assert_int_equal(chain_proof_verify(t.root, x, t.vh, &p), CHAIN_ERR_PROOF_INVALID);
    p = good;
    p.terminal = (enum chain_proof_terminal)7;
    assert_int_equal(chain_proof_verify(t.root, t.a, t.vh, &p), CHAIN_ERR_PROOF_INVALID);

    /* and an encoder refuses to write what a decoder would refuse to read */
    p = good;
    set_present(&p, 8);
    uint8_t *enc = (uint8_t *)&p;
    size_t len = 1;
    assert_int_equal(chain_proof_encode(&p, &enc, &len), CHAIN_ERR_INVALID_ARG);
    assert_null(enc);
    smt_naive_free(&t.m);
}

static void test_empty_terminal_needs_a_non_empty_sibling_at_its_level(void **state)
{
    (void)state;
    static struct abc t;
    abc_make(&t);
    uint8_t y[CHAIN_HASH_BYTES]; /* 40.. : goes left at 0 (with A, B), right at 1: empty */
    memset(y, 0x40, sizeof y);
    struct chain_proof p;
    smt_naive_prove(&t.m, y, &p);
    assert_int_equal(p.terminal, CHAIN_PROOF_TERM_EMPTY);
    assert_int_equal(p.depth, 2);
    assert_int_equal(chain_proof_verify(t.root, y, NULL, &p), CHAIN_ERR_OK);
    p.present[0] = 0x01; /* drop the level-1 sibling ({A, B}) */
    assert_int_equal(chain_proof_verify(t.root, y, NULL, &p), CHAIN_ERR_PROOF_INVALID);
    smt_naive_free(&t.m);
}

static void test_proofs_round_trip_through_the_codec(void **state)
{
    (void)state;
    static struct world w;
    world_make(&w);
    const uint8_t *keys[3] = {w.member_key, w.absent_empty, w.absent_other};
    for (int i = 0; i < 3; i++) {
        static struct chain_proof p, q;
        smt_naive_prove(&w.m, keys[i], &p);
        uint8_t *enc, *enc2;
        size_t len, len2;
        assert_int_equal(chain_proof_encode(&p, &enc, &len), CHAIN_ERR_OK);
        assert_true(len <= CHAIN_PROOF_MAX_BYTES);
        assert_int_equal(chain_proof_decode(enc, len, &q), CHAIN_ERR_OK);
        assert_int_equal(q.depth, p.depth);
        assert_memory_equal(q.present, p.present, sizeof p.present);
        assert_memory_equal(q.siblings, p.siblings, sizeof p.siblings);
        /* SELF and EMPTY share one encoding; the decoder says SELF */
        assert_int_equal(q.terminal, p.terminal == CHAIN_PROOF_TERM_OTHER ? CHAIN_PROOF_TERM_OTHER
                                                                           : CHAIN_PROOF_TERM_SELF);
        assert_int_equal(chain_proof_encode(&q, &enc2, &len2), CHAIN_ERR_OK);
        assert_int_equal(len2, len);
        assert_memory_equal(enc2, enc, len);
        free(enc);
        free(enc2);
    }
    /* The empty message is the proof of depth 0 (a root leaf or empty tree). */
    struct chain_proof z;
    assert_int_equal(chain_proof_decode(NULL, 0, &z), CHAIN_ERR_OK);
    assert_int_equal(z.depth, 0);
    struct smt_naive empty = {0};
    smt_naive_prove(&empty, w.member_key, &z);
    assert_int_equal(chain_proof_verify(chain_smt_empty, w.member_key, NULL, &z), CHAIN_ERR_OK);
    smt_naive_free(&w.m);
}

/* Packs a hand-built message (for the decoder's error paths). */
static size_t pack(const Gl__StateProof *m, uint8_t *buf, size_t cap)
{
    size_t n = gl__state_proof__get_packed_size(m);
    assert_true(n <= cap);
    assert_int_equal(gl__state_proof__pack(m, buf), n);
    return n;
}

static void test_decoder_rejects_each_kind_of_bad_input_by_name(void **state)
{
    (void)state;
    static struct world w;
    world_make(&w);
    static struct chain_proof p;
    static uint8_t buf[CHAIN_PROOF_MAX_BYTES + 64];
    smt_naive_prove(&w.m, w.member_key, &p);
    uint8_t *enc;
    size_t len;
    assert_int_equal(chain_proof_encode(&p, &enc, &len), CHAIN_ERR_OK);
    assert_true(len + 8 < sizeof buf);

    /* oversize, checked before anything is parsed */
    memset(buf, 0, sizeof buf);
    assert_int_equal(chain_proof_decode(buf, CHAIN_PROOF_MAX_BYTES + 1, &p),
                     CHAIN_ERR_DECODE_TOO_LARGE);

    /* trailing bytes: a well-formed extra field, or bytes that are no field */
    memcpy(buf, enc, len);
    buf[len] = 0x78; /* field 15, varint */
    buf[len + 1] = 0x01;
    assert_int_equal(chain_proof_decode(buf, len + 2, &p), CHAIN_ERR_DECODE_TRAILING);
    buf[len] = 0xff;
    assert_int_equal(chain_proof_decode(buf, len + 1, &p), CHAIN_ERR_DECODE_MALFORMED);
    buf[len] = 0x1a; /* field 3, length 40, but nothing follows */
    buf[len + 1] = 40;
    assert_int_equal(chain_proof_decode(buf, len + 2, &p), CHAIN_ERR_DECODE_MALFORMED);

    /* an unknown field at the front */
    buf[0] = 0x32; /* field 6, length-delimited, empty */
    buf[1] = 0x00;
    memcpy(buf + 2, enc, len);
    assert_int_equal(chain_proof_decode(buf, len + 2, &p), CHAIN_ERR_DECODE_TRAILING);

    /* a field repeated, and a non-minimal varint */
    memcpy(buf, enc, len);
    assert_int_equal(buf[0], 0x08);
    buf[len] = 0x08;
    buf[len + 1] = buf[1];
    assert_int_equal(chain_proof_decode(buf, len + 2, &p), CHAIN_ERR_DECODE_NONCANONICAL);
    assert_true(enc[1] < 0x80);
    buf[0] = 0x08;
    buf[1] = (uint8_t)(enc[1] | 0x80);
    buf[2] = 0x00;
    memcpy(buf + 3, enc + 2, len - 2);
    assert_int_equal(chain_proof_decode(buf, len + 1, &p), CHAIN_ERR_DECODE_NONCANONICAL);

    /* hand-built messages with bad lengths and counts */
    uint8_t h32[32], h31[31], h33[33], pres[2] = {0x81, 0x00};
    memset(h32, 0x11, sizeof h32);
    memset(h31, 0x11, sizeof h31);
    memset(h33, 0x11, sizeof h33);
    ProtobufCBinaryData sibs[2] = {{32, h32}, {31, h31}};
    Gl__StateProof m = GL__STATE_PROOF__INIT;
    m.depth = 8;
    m.present = (ProtobufCBinaryData){1, pres};
    m.n_siblings = 2;
    m.siblings = sibs;
    assert_int_equal(chain_proof_decode(buf, pack(&m, buf, sizeof buf), &p),
                     CHAIN_ERR_DECODE_BAD_LENGTH); /* a 31-byte sibling */
    sibs[1] = (ProtobufCBinaryData){33, h33};
    assert_int_equal(chain_proof_decode(buf, pack(&m, buf, sizeof buf), &p),
                     CHAIN_ERR_DECODE_BAD_LENGTH); /* a 33-byte sibling */
    sibs[1] = (ProtobufCBinaryData){32, h32};
    assert_int_equal(chain_proof_decode(buf, pack(&m, buf, sizeof buf), &p), CHAIN_ERR_OK);
    m.n_siblings = 1;
    assert_int_equal(chain_proof_decode(buf, pack(&m, buf, sizeof buf), &p),
                     CHAIN_ERR_DECODE_BAD_VALUE); /* fewer siblings than present bits */
    m.n_siblings = 2;
    m.present.len = 2;
    assert_int_equal(chain_proof_decode(buf, pack(&m, buf, sizeof buf), &p),
                     CHAIN_ERR_DECODE_BAD_LENGTH); /* present is not ceil(depth/8) bytes */
    m.present.len = 1;
    m.depth = 7;
    assert_int_equal(chain_proof_decode(buf, pack(&m, buf, sizeof buf), &p),
                     CHAIN_ERR_DECODE_BAD_VALUE); /* a present bit past depth */
    m.depth = CHAIN_SMT_DEPTH + 1;
    assert_int_equal(chain_proof_decode(buf, pack(&m, buf, sizeof buf), &p),
                     CHAIN_ERR_DECODE_BAD_VALUE);
    m.depth = 8;
    m.other_key_hash = (ProtobufCBinaryData){31, h31};
    m.other_value_hash = (ProtobufCBinaryData){32, h32};
    assert_int_equal(chain_proof_decode(buf, pack(&m, buf, sizeof buf), &p),
                     CHAIN_ERR_DECODE_BAD_LENGTH);
    m.other_key_hash = (ProtobufCBinaryData){32, h32};
    m.other_value_hash = (ProtobufCBinaryData){0, NULL};
    assert_int_equal(chain_proof_decode(buf, pack(&m, buf, sizeof buf), &p),
                     CHAIN_ERR_DECODE_MISSING_FIELD);
    m.other_value_hash = (ProtobufCBinaryData){32, h32};
    assert_int_equal(chain_proof_decode(buf, pack(&m, buf, sizeof buf), &p), CHAIN_ERR_OK);
    assert_int_equal(p.terminal, CHAIN_PROOF_TERM_OTHER);

    /* a failed decode leaves no half-filled proof behind */
    m.n_siblings = 1;
    assert_int_equal(chain_proof_decode(buf, pack(&m, buf, sizeof buf), &p),
                     CHAIN_ERR_DECODE_BAD_VALUE);
    assert_int_equal(p.depth, 0);
    free(enc);
    smt_naive_free(&w.m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_bit_flip_of_an_encoded_membership_proof_fails),
        cmocka_unit_test(test_every_bit_flip_of_an_encoded_non_membership_proof_fails),
        cmocka_unit_test(test_every_bit_flip_of_the_key_fails_a_membership_proof),
        cmocka_unit_test(test_bit_flips_of_the_key_on_its_path_fail_non_membership_proofs),
        cmocka_unit_test(test_every_bit_flip_of_the_value_fails),
        cmocka_unit_test(test_claiming_absent_for_a_present_key_fails),
        cmocka_unit_test(test_claiming_present_for_an_absent_key_fails),
        cmocka_unit_test(test_non_canonical_proofs_are_rejected),
        cmocka_unit_test(test_empty_terminal_needs_a_non_empty_sibling_at_its_level),
        cmocka_unit_test(test_proofs_round_trip_through_the_codec),
        cmocka_unit_test(test_decoder_rejects_each_kind_of_bad_input_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
