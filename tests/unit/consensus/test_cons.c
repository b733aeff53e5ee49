/* test_cons.c -- the engine-independent parts: quorum sizes, vote bytes,
 * and the certificate check light clients run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cons.h"

/* Toy signatures: sig = key XOR-folded with the message, so a test can forge
 * nothing by accident and verify is exact. */
static void toy_sig(const uint8_t key[CONS_KEY_BYTES], const uint8_t *m, size_t n, uint8_t sig[CONS_SIG_BYTES])
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < CONS_KEY_BYTES; i++)
        h = (h ^ key[i]) * 1099511628211ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ m[i]) * 1099511628211ULL;
    for (size_t i = 0; i < CONS_SIG_BYTES; i++) {
        h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
        sig[i] = (uint8_t)(h >> 56);
    }
}

static int verify_calls;
static bool toy_verify(void *ctx, const uint8_t key[CONS_KEY_BYTES], const uint8_t *m, size_t n,
                       const uint8_t sig[CONS_SIG_BYTES])
{
    (void)ctx;
    uint8_t want[CONS_SIG_BYTES];
    verify_calls++;
    toy_sig(key, m, n, want);
    return memcmp(want, sig, CONS_SIG_BYTES) == 0;
}

static uint8_t keys[CONS_NODES_MAX][CONS_KEY_BYTES];

static void make_cert(struct cons_cert *c, uint64_t h, uint8_t fill, uint32_t nsig)
{
    uint8_t m[CONS_VOTE_MSG_BYTES];
    memset(c, 0, sizeof *c);
    c->height = h;
    memset(c->hash, fill, CONS_HASH_BYTES);
    cons_vote_msg(m, h, c->hash);
    for (uint32_t i = 0; i < nsig; i++) {
        c->sigs[i].signer = i;
        toy_sig(keys[i], m, sizeof m, c->sigs[i].sig);
    }
    c->n_sigs = nsig;
}

static void test_quorums_are_a_majority_for_raft_and_over_two_thirds_for_pbft(void **state)
{
    (void)state;
    assert_int_equal(cons_quorum(CONS_ENGINE_RAFT, 1), 1);
    assert_int_equal(cons_quorum(CONS_ENGINE_RAFT, 3), 2);
    assert_int_equal(cons_quorum(CONS_ENGINE_RAFT, 4), 3);
    assert_int_equal(cons_quorum(CONS_ENGINE_RAFT, 5), 3);
    assert_int_equal(cons_quorum(CONS_ENGINE_PBFT, 4), 3);
    assert_int_equal(cons_quorum(CONS_ENGINE_PBFT, 5), 4);
    assert_int_equal(cons_quorum(CONS_ENGINE_PBFT, 7), 5);
    assert_int_equal(cons_quorum(CONS_ENGINE_PBFT, 10), 7);
    /* any two PBFT quorums share at least f+1 validators, f = (n-1)/3 */
    for (uint32_t n = 4; n <= CONS_NODES_MAX; n++) {
        uint32_t q = cons_quorum(CONS_ENGINE_PBFT, n), f = (n - 1) / 3;
        assert_true(2 * q >= n + f + 1);
        assert_true(q <= n - f); /* and f silent validators cannot block it */
    }
}

static void test_vote_bytes_bind_height_and_hash(void **state)
{
    (void)state;
    uint8_t a[CONS_VOTE_MSG_BYTES], b[CONS_VOTE_MSG_BYTES], h[CONS_HASH_BYTES] = {1};
    cons_vote_msg(a, 7, h);
    cons_vote_msg(b, 8, h);
    assert_memory_not_equal(a, b, sizeof a);
    h[31] = 1;
    cons_vote_msg(b, 7, h);
    assert_memory_not_equal(a, b, sizeof a);
    assert_memory_equal(a, "gridledger-vote", 15);
}

static void test_a_quorum_of_valid_signatures_certifies(void **state)
{
    (void)state;
    struct cons_cert c;
    make_cert(&c, 12, 0xab, 3);
    assert_int_equal(cons_cert_check(CONS_ENGINE_PBFT, 4, keys, &c, toy_verify, NULL), CONS_ERR_OK);
    make_cert(&c, 12, 0xab, 2);
    assert_int_equal(cons_cert_check(CONS_ENGINE_RAFT, 3, keys, &c, toy_verify, NULL), CONS_ERR_OK);
}

static void test_too_few_signatures_do_not_certify(void **state)
{
    (void)state;
    struct cons_cert c;
    make_cert(&c, 12, 0xab, 2);
    assert_int_equal(cons_cert_check(CONS_ENGINE_PBFT, 4, keys, &c, toy_verify, NULL), CONS_ERR_CERT_INVALID);
    make_cert(&c, 12, 0xab, 2);
    assert_int_equal(cons_cert_check(CONS_ENGINE_RAFT, 4, keys, &c, toy_verify, NULL), CONS_ERR_CERT_INVALID);
}

static void test_a_signer_counted_twice_or_unknown_voids_the_certificate(void **state)
{
    (void)state;
    struct cons_cert c;
    make_cert(&c, 3, 0x11, 3);
    c.sigs[2] = c.sigs[1];
    assert_int_equal(cons_cert_check(CONS_ENGINE_PBFT, 4, keys, &c, toy_verify, NULL), CONS_ERR_CERT_INVALID);
    make_cert(&c, 3, 0x11, 3);
    c.sigs[2].signer = 9;
    assert_int_equal(cons_cert_check(CONS_ENGINE_PBFT, 4, keys, &c, toy_verify, NULL), CONS_ERR_CERT_INVALID);
    make_cert(&c, 3, 0x11, 3);
    c.n_sigs = CONS_NODES_MAX + 1;
    assert_int_equal(cons_cert_check(CONS_ENGINE_PBFT, 4, keys, &c, toy_verify, NULL), CONS_ERR_CERT_INVALID);
}

static void test_every_bit_of_height_hash_or_signature_matters(void **state)
{
    (void)state;
    struct cons_cert c, t;
    make_cert(&c, 99, 0x5a, 3);
    for (unsigned bit = 0; bit < 64; bit++) {
        t = c;
        t.height ^= 1ULL << bit;
        assert_int_equal(cons_cert_check(CONS_ENGINE_PBFT, 4, keys, &t, toy_verify, NULL), CONS_ERR_CERT_INVALID);
    }
    for (unsigned bit = 0; bit < 8 * CONS_HASH_BYTES; bit++) {
        t = c;
        t.hash[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(cons_cert_check(CONS_ENGINE_PBFT, 4, keys, &t, toy_verify, NULL), CONS_ERR_CERT_INVALID);
    }
    for (unsigned bit = 0; bit < 8 * CONS_SIG_BYTES; bit++) {
        t = c;
        t.sigs[1].sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(cons_cert_check(CONS_ENGINE_PBFT, 4, keys, &t, toy_verify, NULL), CONS_ERR_CERT_INVALID);
    }
}

static void test_every_error_code_has_a_name_and_a_message(void **state)
{
    (void)state;
#define CHECK_(name, code, msg)                                                                \
    assert_string_equal(cons_err_name(code), #name);                                           \
    assert_true(strlen(cons_strerror(code)) > 0);
    CONS_ERRORS(CHECK_)
#undef CHECK_
    assert_string_equal(cons_err_name(-9999), "UNKNOWN");
}

int main(void)
{
    for (uint32_t i = 0; i < CONS_NODES_MAX; i++)
        memset(keys[i], (int)(i + 1), CONS_KEY_BYTES);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quorums_are_a_majority_for_raft_and_over_two_thirds_for_pbft),
        cmocka_unit_test(test_vote_bytes_bind_height_and_hash),
        cmocka_unit_test(test_a_quorum_of_valid_signatures_certifies),
        cmocka_unit_test(test_too_few_signatures_do_not_certify),
        cmocka_unit_test(test_a_signer_counted_twice_or_unknown_voids_the_certificate),
        cmocka_unit_test(test_every_bit_of_height_hash_or_signature_matters),
        cmocka_unit_test(test_every_error_code_has_a_name_and_a_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
