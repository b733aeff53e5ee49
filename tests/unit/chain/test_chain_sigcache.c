/* test_chain_sigcache.c -- the bounded set of verified transaction hashes,
 * against a deliberately naive reference: a plain array of every hash added,
 * and the rule "the last capacity distinct hashes added are present, and
 * nothing that was never added ever is". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "chain_sigcache.h"
#include "testutil.h"

/* The naive reference: everything ever added, in order. */
struct naive {
    uint8_t (*h)[CHAIN_HASH_BYTES];
    size_t n, cap;
};

static void naive_add(struct naive *nv, const uint8_t h[CHAIN_HASH_BYTES])
{
    if (nv->n == nv->cap) {
        nv->cap = nv->cap ? 2 * nv->cap : 1024;
        nv->h = realloc(nv->h, nv->cap * CHAIN_HASH_BYTES);
        assert_non_null(nv->h);
    }
    memcpy(nv->h[nv->n++], h, CHAIN_HASH_BYTES);
}

static bool naive_ever_added(const struct naive *nv, const uint8_t h[CHAIN_HASH_BYTES])
{
    for (size_t i = 0; i < nv->n; i++)
        if (memcmp(nv->h[i], h, CHAIN_HASH_BYTES) == 0)
            return true;
    return false;
}

static void random_hash(struct tu_rng *r, uint8_t h[CHAIN_HASH_BYTES])
{
    tu_fill(r, h, CHAIN_HASH_BYTES);
    h[31] |= 1; /* never all zero */
}

/* Every one of the last `keep` hashes added is present. */
static void assert_recent_present(const struct chain_sigcache *sc, const struct naive *nv, size_t keep)
{
    size_t from = nv->n > keep ? nv->n - keep : 0;
    for (size_t i = from; i < nv->n; i++)
        assert_true(chain_sigcache_has(sc, nv->h[i]));
}

static void run_against_the_reference(size_t capacity, size_t adds, uint64_t seed, bool colliding)
{
    struct chain_sigcache sc;
    struct naive nv = {0};
    struct tu_rng r = {seed};
    assert_int_equal(chain_sigcache_init(&sc, capacity), CHAIN_ERR_OK);
    void *g0 = sc.gen[0], *g1 = sc.gen[1];
    size_t slots = sc.slots;
    assert_true(slots >= 2 * capacity);
    assert_true((slots & (slots - 1)) == 0);
    for (size_t k = 0; k < adds; k++) {
        uint8_t h[CHAIN_HASH_BYTES];
        random_hash(&r, h);
        if (colliding)
            memset(h, 0x5a, 8); /* every hash starts probing at the same slot */
        chain_sigcache_add(&sc, h);
        naive_add(&nv, h);
        assert_true(chain_sigcache_has(&sc, h));
        /* bounded: no table grows or moves, neither generation overfills */
        assert_ptr_equal(sc.gen[0], g0);
        assert_ptr_equal(sc.gen[1], g1);
        assert_int_equal(sc.slots, slots);
        assert_true(sc.count[0] <= slots / 2 && sc.count[1] <= slots / 2);
        if (k % 97 == 0 || k + 1 == adds)
            assert_recent_present(&sc, &nv, capacity);
        /* a hash never added is never reported */
        uint8_t absent[CHAIN_HASH_BYTES];
        random_hash(&r, absent);
        if (colliding && (k & 1))
            memset(absent, 0x5a, 8);
        assert_false(chain_sigcache_has(&sc, absent));
    }
    /* whatever the cache holds was added at some point */
    static const uint8_t zero[CHAIN_HASH_BYTES];
    for (unsigned g = 0; g < 2; g++)
        for (size_t s = 0; s < slots; s++)
            if (memcmp(sc.gen[g][s], zero, CHAIN_HASH_BYTES) != 0)
                assert_true(naive_ever_added(&nv, sc.gen[g][s]));
    size_t present = 0;
    for (size_t i = 0; i < nv.n; i++)
        present += chain_sigcache_has(&sc, nv.h[i]);
    assert_true(present >= (nv.n < capacity ? nv.n : capacity));
    assert_true(present <= slots); /* at most two generations of slots/2 */
    chain_sigcache_deinit(&sc);
    free(nv.h);
}

static void test_an_added_hash_is_remembered_and_an_absent_one_is_not(void **state)
{
    (void)state;
    struct chain_sigcache sc;
    uint8_t a[CHAIN_HASH_BYTES], b[CHAIN_HASH_BYTES];
    memset(a, 0x11, sizeof a);
    memset(b, 0x22, sizeof b);
    assert_int_equal(chain_sigcache_init(&sc, 16), CHAIN_ERR_OK);
    assert_false(chain_sigcache_has(&sc, a));
    chain_sigcache_add(&sc, a);
    assert_true(chain_sigcache_has(&sc, a));
    assert_false(chain_sigcache_has(&sc, b));
    /* differs only in its last byte */
    a[31] ^= 1;
    assert_false(chain_sigcache_has(&sc, a));
    chain_sigcache_deinit(&sc);
    chain_sigcache_deinit(&sc); /* deinit twice, and of NULL, is harmless */
    chain_sigcache_deinit(NULL);
}

static void test_the_all_zero_hash_is_never_present(void **state)
{
    (void)state;
    struct chain_sigcache sc;
    uint8_t zero[CHAIN_HASH_BYTES] = {0};
    assert_int_equal(chain_sigcache_init(&sc, 64), CHAIN_ERR_OK);
    assert_false(chain_sigcache_has(&sc, zero));
    chain_sigcache_add(&sc, zero);
    assert_false(chain_sigcache_has(&sc, zero));
    assert_int_equal(sc.count[0] + sc.count[1], 0);
    chain_sigcache_deinit(&sc);
}

static void test_adding_a_present_hash_again_takes_no_room(void **state)
{
    (void)state;
    struct chain_sigcache sc;
    struct tu_rng r = {5};
    uint8_t h[32][CHAIN_HASH_BYTES];
    assert_int_equal(chain_sigcache_init(&sc, 64), CHAIN_ERR_OK);
    size_t gen_cap = sc.slots / 2;
    assert_true(gen_cap >= 32);
    for (int i = 0; i < 32; i++) {
        random_hash(&r, h[i]);
        chain_sigcache_add(&sc, h[i]);
    }
    size_t before = sc.count[0] + sc.count[1];
    for (int k = 0; k < 10000; k++)
        chain_sigcache_add(&sc, h[k % 32]);
    assert_int_equal(sc.count[0] + sc.count[1], before);
    for (int i = 0; i < 32; i++)
        assert_true(chain_sigcache_has(&sc, h[i]));
    chain_sigcache_deinit(&sc);
}

static void test_a_small_cache_matches_the_naive_reference_far_past_its_capacity(void **state)
{
    (void)state;
    run_against_the_reference(64, 5000, 1, false);
    run_against_the_reference(100, 5000, 2, false);
    run_against_the_reference(1, 1000, 3, false);
}

static void test_a_larger_cache_is_bounded_after_many_times_its_capacity(void **state)
{
    (void)state;
    run_against_the_reference(1000, 20000, 4, false);
}

static void test_hashes_that_all_probe_from_one_slot_are_still_found(void **state)
{
    (void)state;
    run_against_the_reference(128, 2000, 6, true);
}

static void test_the_most_recent_capacity_survives_every_rotation_point(void **state)
{
    (void)state;
    /* check after every single add, so the adds right after a generation is
     * dropped are covered */
    struct chain_sigcache sc;
    struct naive nv = {0};
    struct tu_rng r = {8};
    const size_t capacity = 64;
    assert_int_equal(chain_sigcache_init(&sc, capacity), CHAIN_ERR_OK);
    for (size_t k = 0; k < 4 * sc.slots + 3; k++) {
        uint8_t h[CHAIN_HASH_BYTES];
        random_hash(&r, h);
        chain_sigcache_add(&sc, h);
        naive_add(&nv, h);
        assert_recent_present(&sc, &nv, capacity);
    }
    /* and the oldest ones are gone: the cache really is bounded */
    assert_false(chain_sigcache_has(&sc, nv.h[0]));
    chain_sigcache_deinit(&sc);
    free(nv.h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_added_hash_is_remembered_and_an_absent_one_is_not),
        cmocka_unit_test(test_the_all_zero_hash_is_never_present),
        cmocka_unit_test(test_adding_a_present_hash_again_takes_no_room),
        cmocka_unit_test(test_a_small_cache_matches_the_naive_reference_far_past_its_capacity),
        cmocka_unit_test(test_a_larger_cache_is_bounded_after_many_times_its_capacity),
        cmocka_unit_test(test_hashes_that_all_probe_from_one_slot_are_still_found),
        cmocka_unit_test(test_the_most_recent_capacity_survives_every_rotation_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
