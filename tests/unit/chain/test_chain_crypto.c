/* test_chain_crypto.c -- domain-tagged hashing and Ed25519 signing.
 *
 * The known-answer check recomputes BLAKE2b-256 of (tag byte || data)
 * directly with libsodium's one-shot crypto_generichash, so chain_hash's
 * streaming form is compared with a deliberately plain reference. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "chain_crypto.h"
#include "testutil.h"

static const enum chain_tag all_tags[] = {
    CHAIN_TAG_TX,   CHAIN_TAG_HEADER, CHAIN_TAG_LEAF,    CHAIN_TAG_INNER,  CHAIN_TAG_VOTE,
    CHAIN_TAG_KEY,  CHAIN_TAG_VALUE,  CHAIN_TAG_TXTREE,  CHAIN_TAG_VALSET, CHAIN_TAG_TXSIG,
};
#define NTAGS (sizeof all_tags / sizeof all_tags[0])

/* The reference: one-shot BLAKE2b-256 over a buffer holding tag || data. */
static void naive_hash(uint8_t out[CHAIN_HASH_BYTES], uint8_t tag, const uint8_t *data, size_t len)
{
    uint8_t *buf = malloc(len + 1);
    assert_non_null(buf);
    buf[0] = tag;
    if (len)
        memcpy(buf + 1, data, len);
    assert_int_equal(crypto_generichash(out, CHAIN_HASH_BYTES, buf, len + 1, NULL, 0), 0);
    free(buf);
}

static void keypair(uint8_t pk[CHAIN_PK_BYTES], uint8_t sk[CHAIN_SK_BYTES], uint8_t fill)
{
    uint8_t seed[32];
    memset(seed, fill, sizeof seed);
    chain_keypair_from_seed(pk, sk, seed);
}

static void test_the_same_bytes_under_different_tags_hash_differently(void **state)
{
    (void)state;
    static const uint8_t data[] = "the same bytes";
    uint8_t h[NTAGS][CHAIN_HASH_BYTES];
    for (size_t i = 0; i < NTAGS; i++) {
        chain_hash(h[i], all_tags[i], data, sizeof data);
        for (size_t j = 0; j < i; j++)
            assert_memory_not_equal(h[i], h[j], CHAIN_HASH_BYTES);
    }
    /* and the empty input too */
    uint8_t a[CHAIN_HASH_BYTES], b[CHAIN_HASH_BYTES];
    chain_hash(a, CHAIN_TAG_TX, NULL, 0);
    chain_hash(b, CHAIN_TAG_HEADER, NULL, 0);
    assert_memory_not_equal(a, b, CHAIN_HASH_BYTES);
}

static void test_a_tag_cannot_be_forged_by_moving_a_byte_into_the_data(void **state)
{
    (void)state;
    /* H(TX, [HEADER] || d) hashes the bytes 01 02 d; H(HEADER, d) hashes 02 d */
    static const uint8_t d[] = {1, 2, 3, 4};
    uint8_t shifted[1 + sizeof d] = {CHAIN_TAG_HEADER};
    memcpy(shifted + 1, d, sizeof d);
    uint8_t a[CHAIN_HASH_BYTES], b[CHAIN_HASH_BYTES];
    chain_hash(a, CHAIN_TAG_TX, shifted, sizeof shifted);
    chain_hash(b, CHAIN_TAG_HEADER, d, sizeof d);
    assert_memory_not_equal(a, b, CHAIN_HASH_BYTES);
}

static void test_hash2_equals_hash_over_the_concatenation(void **state)
{
    (void)state;
    struct tu_rng r = {42};
    uint8_t buf[300], h1[CHAIN_HASH_BYTES], h2[CHAIN_HASH_BYTES];
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)tu_below(&r, sizeof buf + 1);
        size_t split = (size_t)tu_below(&r, n + 1);
        enum chain_tag tag = all_tags[tu_below(&r, NTAGS)];
        tu_fill(&r, buf, n);
        chain_hash(h1, tag, buf, n);
        chain_hash2(h2, tag, buf, split, buf + split, n - split);
        assert_memory_equal(h1, h2, CHAIN_HASH_BYTES);
    }
    /* both parts empty: the hash of the tag alone */
    chain_hash(h1, CHAIN_TAG_INNER, NULL, 0);
    chain_hash2(h2, CHAIN_TAG_INNER, NULL, 0, NULL, 0);
    assert_memory_equal(h1, h2, CHAIN_HASH_BYTES);
}

static void test_hash_is_blake2b_256_of_the_tag_byte_then_the_data(void **state)
{
    (void)state;
    struct tu_rng r = {7};
    uint8_t buf[1024], got[CHAIN_HASH_BYTES], want[CHAIN_HASH_BYTES];
    for (int round = 0; round < 100; round++) {
        size_t n = round == 0 ? 0 : (size_t)tu_below(&r, sizeof buf + 1);
        enum chain_tag tag = all_tags[tu_below(&r, NTAGS)];
        tu_fill(&r, buf, n);
        chain_hash(got, tag, buf, n);
        naive_hash(want, (uint8_t)tag, buf, n);
        assert_memory_equal(got, want, CHAIN_HASH_BYTES);
    }
    /* a fixed vector, so that a change of libsodium or of the scheme shows:
     * BLAKE2b-256(0x01 || "abc") */
    static const uint8_t abc[] = {'a', 'b', 'c'};
    static const uint8_t kat[CHAIN_HASH_BYTES] = {
        0xdc, 0x4d, 0xe4, 0x27, 0xae, 0x6b, 0xed, 0xec, 0x4d, 0x12, 0x12, 0x8a, 0x63, 0x8a, 0x81, 0x12,
        0x51, 0xab, 0x88, 0x3c, 0x16, 0x36, 0xe5, 0xe8, 0x35, 0xdd, 0x7e, 0x4d, 0xc4, 0xf5, 0xf4, 0x3d,
    };
    chain_hash(got, CHAIN_TAG_TX, abc, sizeof abc);
    naive_hash(want, 0x01, abc, sizeof abc);
    assert_memory_equal(got, want, CHAIN_HASH_BYTES);
    assert_memory_equal(got, kat, CHAIN_HASH_BYTES); /* python3 hashlib.blake2b(b"\x01abc", digest_size=32) */
}

static void test_a_signature_verifies_under_its_tag_and_key_only(void **state)
{
    (void)state;
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES], pk2[CHAIN_PK_BYTES], sk2[CHAIN_SK_BYTES];
    uint8_t sig[CHAIN_SIG_BYTES];
    static const uint8_t msg[] = "pay bob 5 tokens";
    keypair(pk, sk, 1);
    keypair(pk2, sk2, 2);
    chain_sign(sig, CHAIN_TAG_TXSIG, msg, sizeof msg, sk);
    assert_int_equal(chain_verify(sig, CHAIN_TAG_TXSIG, msg, sizeof msg, pk), CHAIN_ERR_OK);
    for (size_t i = 0; i < NTAGS; i++)
        if (all_tags[i] != CHAIN_TAG_TXSIG)
            assert_int_equal(chain_verify(sig, all_tags[i], msg, sizeof msg, pk), CHAIN_ERR_BAD_SIG);
    assert_int_equal(chain_verify(sig, CHAIN_TAG_TXSIG, msg, sizeof msg, pk2), CHAIN_ERR_BAD_SIG);
    assert_int_equal(chain_verify(sig, CHAIN_TAG_TXSIG, msg, sizeof msg - 1, pk), CHAIN_ERR_BAD_SIG);
    /* the signature is over tag || msg, as libsodium sees it */
    uint8_t tagged[1 + sizeof msg] = {CHAIN_TAG_TXSIG};
    memcpy(tagged + 1, msg, sizeof msg);
    assert_int_equal(crypto_sign_verify_detached(sig, tagged, sizeof tagged, pk), 0);
}

static void test_sign_and_verify_round_trip_for_many_lengths(void **state)
{
    (void)state;
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES], sig[CHAIN_SIG_BYTES];
    static uint8_t msg[CHAIN_TX_MAX_BYTES];
    struct tu_rng r = {3};
    tu_fill(&r, msg, sizeof msg);
    keypair(pk, sk, 9);
    static const size_t lens[] = {0, 1, 31, 32, 33, 1000, CHAIN_TX_MAX_BYTES};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        chain_sign(sig, CHAIN_TAG_VOTE, msg, lens[i], sk);
        assert_int_equal(chain_verify(sig, CHAIN_TAG_VOTE, msg, lens[i], pk), CHAIN_ERR_OK);
        sig[i % CHAIN_SIG_BYTES] ^= 0x20;
        assert_int_equal(chain_verify(sig, CHAIN_TAG_VOTE, msg, lens[i], pk), CHAIN_ERR_BAD_SIG);
    }
    /* a message longer than any signed one never verifies */
    static uint8_t longer[CHAIN_TX_MAX_BYTES + 1];
    assert_int_equal(chain_verify(sig, CHAIN_TAG_VOTE, longer, sizeof longer, pk), CHAIN_ERR_BAD_SIG);
}

static void test_keys_from_one_seed_are_the_same_and_from_two_differ(void **state)
{
    (void)state;
    uint8_t a[CHAIN_PK_BYTES], as[CHAIN_SK_BYTES], b[CHAIN_PK_BYTES], bs[CHAIN_SK_BYTES];
    keypair(a, as, 5);
    keypair(b, bs, 5);
    assert_memory_equal(a, b, CHAIN_PK_BYTES);
    assert_memory_equal(as, bs, CHAIN_SK_BYTES);
    keypair(b, bs, 6);
    assert_memory_not_equal(a, b, CHAIN_PK_BYTES);
}

static void test_hex_is_lower_case_and_terminated(void **state)
{
    (void)state;
    static const uint8_t b[] = {0x00, 0x0f, 0xa5, 0xff};
    char out[2 * sizeof b + 1];
    memset(out, 'x', sizeof out);
    chain_hex(out, b, sizeof b);
    assert_string_equal(out, "000fa5ff");
}

static void test_hex_decode_takes_exactly_2n_digits_of_either_case(void **state)
{
    (void)state;
    uint8_t in[32], out[32];
    char hex[65];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 37 + 5);
    chain_hex(hex, in, sizeof in);
    assert_int_equal(chain_hex_decode(hex, 64, out, sizeof out), 0);
    assert_memory_equal(in, out, sizeof in);
    uint8_t one[2];
    assert_int_equal(chain_hex_decode("aBcD", 4, one, 2), 0);
    assert_int_equal(one[0], 0xab);
    assert_int_equal(one[1], 0xcd);
    assert_int_equal(chain_hex_decode("abc", 3, one, 2), -1);    /* odd */
    assert_int_equal(chain_hex_decode("abcdef", 6, one, 2), -1); /* too long */
    assert_int_equal(chain_hex_decode("ab", 2, one, 2), -1);     /* too short */
    assert_int_equal(chain_hex_decode("abcg", 4, one, 2), -1);   /* bad digit */
    assert_int_equal(chain_hex_decode("ab c", 4, one, 2), -1);   /* space */
    assert_int_equal(chain_hex_decode("ab\0d", 4, one, 2), -1); /* NUL inside */
}

int main(void)
{
    assert_int_equal(chain_crypto_init(), CHAIN_ERR_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_same_bytes_under_different_tags_hash_differently),
        cmocka_unit_test(test_a_tag_cannot_be_forged_by_moving_a_byte_into_the_data),
        cmocka_unit_test(test_hash2_equals_hash_over_the_concatenation),
        cmocka_unit_test(test_hash_is_blake2b_256_of_the_tag_byte_then_the_data),
        cmocka_unit_test(test_a_signature_verifies_under_its_tag_and_key_only),
        cmocka_unit_test(test_sign_and_verify_round_trip_for_many_lengths),
        cmocka_unit_test(test_keys_from_one_seed_are_the_same_and_from_two_differ),
        cmocka_unit_test(test_hex_is_lower_case_and_terminated),
        cmocka_unit_test(test_hex_decode_takes_exactly_2n_digits_of_either_case),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
