/* test_mb_queue.c -- the LMDB store-and-forward queue and the test sink:
 * durability across reopen, one reading per slot for ever, nonce order,
 * bounded size, the meter key guard, backoff, and the sink's conflict check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chain_crypto.h"
#include "mb_queue.h"
#include "mb_reading.h"
#include "mb_sink.h"
#include "testutil.h"

static uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES];

static int setup(void **st)
{
    (void)st;
    uint8_t seed[32] = {7};
    if (chain_crypto_init())
        return -1;
    chain_keypair_from_seed(pk, sk, seed);
    return 0;
}

/* Sign a reading for slot with the queue's next nonce and put it. */
static int put_reading(struct mb_queue *q, uint64_t slot, uint64_t import_wh)
{
    struct mb_reading r = {slot, import_wh, 0, 1000 + import_wh, 0, 0, 900};
    uint8_t payload[MB_PAYLOAD_MAX_BYTES], *tx;
    size_t plen, tlen;
    assert_int_equal(mb_reading_encode(&r, pk, payload, &plen), MB_ERR_OK);
    uint64_t nonce = mb_queue_next_nonce(q);
    assert_int_equal(mb_reading_tx("test", nonce, payload, plen, pk, sk, &tx, &tlen), MB_ERR_OK);
    int rc = mb_queue_put(q, slot, nonce, tx, tlen, payload, plen, 0);
    free(tx);
    return rc;
}

static void test_a_put_reading_survives_reopen_with_the_same_bytes(void **st)
{
    (void)st;
    char *dir = tu_tmpdir("mbq");
    struct mb_queue *q;
    struct mb_queue_entry a, b;
    assert_int_equal(mb_queue_open(&q, dir, 1 << 20, 100, pk), MB_ERR_OK);
    assert_int_equal(put_reading(q, 10, 5), MB_ERR_OK);
    assert_int_equal(mb_queue_next(q, 0, &a), MB_ERR_OK);
    mb_queue_close(q);
    assert_int_equal(mb_queue_open(&q, dir, 1 << 20, 100, pk), MB_ERR_OK);
    assert_int_equal(mb_queue_count(q), 1);
    assert_int_equal(mb_queue_next_nonce(q), 1);
    assert_int_equal(mb_queue_next(q, 0, &b), MB_ERR_OK);
    assert_int_equal(a.tx_len, b.tx_len);
    assert_memory_equal(a.tx, b.tx, a.tx_len);
    assert_memory_equal(a.hash, b.hash, sizeof a.hash);
    assert_int_equal(b.nonce, 0);
    uint8_t h[CHAIN_HASH_BYTES];
    chain_hash(h, CHAIN_TAG_TX, b.tx, b.tx_len);
    assert_memory_equal(h, b.hash, sizeof h);
    mb_queue_entry_free(&a);
    mb_queue_entry_free(&b);
    mb_queue_close(q);
    tu_rmdir(dir);
    free(dir);
}

static void test_a_slot_is_never_made_twice_even_after_it_was_removed(void **st)
{
    (void)st;
    char *dir = tu_tmpdir("mbq");
    struct mb_queue *q;
    assert_int_equal(mb_queue_open(&q, dir, 1 << 20, 100, pk), MB_ERR_OK);
    assert_int_equal(put_reading(q, 10, 5), MB_ERR_OK);
    assert_int_equal(put_reading(q, 10, 6), MB_ERR_QUEUE_DUPLICATE_SLOT);
    assert_int_equal(put_reading(q, 9, 6), MB_ERR_QUEUE_DUPLICATE_SLOT);
    assert_int_equal(mb_queue_remove(q, 10), MB_ERR_OK);
    mb_queue_close(q);
    assert_int_equal(mb_queue_open(&q, dir, 1 << 20, 100, pk), MB_ERR_OK);
    assert_int_equal(mb_queue_count(q), 0);
    assert_int_equal(put_reading(q, 10, 7), MB_ERR_QUEUE_DUPLICATE_SLOT);
    assert_int_equal(put_reading(q, 11, 7), MB_ERR_OK);
    mb_queue_close(q);
    tu_rmdir(dir);
    free(dir);
}

static void test_a_put_with_a_stale_nonce_is_refused(void **st)
{
    (void)st;
    char *dir = tu_tmpdir("mbq");
    struct mb_queue *q;
    assert_int_equal(mb_queue_open(&q, dir, 1 << 20, 100, pk), MB_ERR_OK);
    assert_int_equal(put_reading(q, 1, 5), MB_ERR_OK);
    uint8_t b[4] = {1, 2, 3, 4};
    assert_int_equal(mb_queue_put(q, 2, 0, b, 4, b, 4, 0), MB_ERR_INVALID_ARG);
    assert_int_equal(mb_queue_raise_nonce(q, 5), MB_ERR_OK);
    assert_int_equal(mb_queue_raise_nonce(q, 3), MB_ERR_OK); /* never goes down */
    assert_int_equal(mb_queue_next_nonce(q), 5);
    mb_queue_close(q);
    tu_rmdir(dir);
    free(dir);
}

static void test_a_full_queue_says_so_and_keeps_what_it_has(void **st)
{
    (void)st;
    char *dir = tu_tmpdir("mbq");
    struct mb_queue *q;
    assert_int_equal(mb_queue_open(&q, dir, 1 << 20, 3, pk), MB_ERR_OK);
    for (uint64_t s = 0; s < 3; s++)
        assert_int_equal(put_reading(q, s, s), MB_ERR_OK);
    assert_int_equal(put_reading(q, 3, 3), MB_ERR_QUEUE_FULL);
    assert_int_equal(mb_queue_count(q), 3);
    assert_int_equal(mb_queue_remove(q, 0), MB_ERR_OK);
    assert_int_equal(put_reading(q, 3, 3), MB_ERR_OK);
    /* a tiny map fills up too: still QUEUE_FULL, not a crash */
    mb_queue_close(q);
    tu_rmdir(dir);
    free(dir);
}

static void test_the_map_size_limit_is_a_clear_queue_full(void **st)
{
    (void)st;
    char *dir = tu_tmpdir("mbq");
    struct mb_queue *q;
    assert_int_equal(mb_queue_open(&q, dir, 65536, 1000000, pk), MB_ERR_OK);
    int rc = MB_ERR_OK;
    uint64_t s = 0;
    while (rc == MB_ERR_OK && s < 100000) {
        rc = put_reading(q, s, s);
        s++;
    }
    assert_int_equal(rc, MB_ERR_QUEUE_FULL);
    assert_true(s > 10);
    mb_queue_close(q);
    tu_rmdir(dir);
    free(dir);
}

static void test_a_queue_of_another_meter_key_is_refused(void **st)
{
    (void)st;
    char *dir = tu_tmpdir("mbq");
    struct mb_queue *q;
    uint8_t other[CHAIN_PK_BYTES] = {1};
    assert_int_equal(mb_queue_open(&q, dir, 1 << 20, 10, pk), MB_ERR_OK);
    mb_queue_close(q);
    assert_int_equal(mb_queue_open(&q, dir, 1 << 20, 10, other), MB_ERR_INVALID_ARG);
    assert_null(q);
    tu_rmdir(dir);
    free(dir);
}

static void test_entries_come_back_in_slot_order_with_their_schedule(void **st)
{
    (void)st;
    char *dir = tu_tmpdir("mbq");
    struct mb_queue *q;
    struct mb_queue_entry e;
    assert_int_equal(mb_queue_open(&q, dir, 1 << 20, 100, pk), MB_ERR_OK);
    uint64_t slots[] = {3, 4, 300, 70000};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(put_reading(q, slots[i], i), MB_ERR_OK);
    assert_int_equal(mb_queue_reschedule(q, 300, 4, 12345), MB_ERR_OK);
    uint64_t from = 0;
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(mb_queue_next(q, from, &e), MB_ERR_OK);
        assert_int_equal(e.slot, slots[i]);
        assert_int_equal(e.nonce, i);
        assert_int_equal(e.attempts, slots[i] == 300 ? 4 : 0);
        assert_int_equal(e.next_try_ms, slots[i] == 300 ? 12345 : 0);
        from = e.slot + 1;
        mb_queue_entry_free(&e);
    }
    assert_int_equal(mb_queue_next(q, from, &e), MB_ERR_QUEUE_EMPTY);
    assert_int_equal(mb_queue_remove(q, 5), MB_ERR_QUEUE_EMPTY);
    mb_queue_close(q);
    tu_rmdir(dir);
    free(dir);
}

static void test_backoff_doubles_and_is_capped(void **st)
{
    (void)st;
    assert_int_equal(mb_backoff_ms(0, 1000, 300000), 1000);
    assert_int_equal(mb_backoff_ms(1, 1000, 300000), 2000);
    assert_int_equal(mb_backoff_ms(5, 1000, 300000), 32000);
    assert_int_equal(mb_backoff_ms(9, 1000, 300000), 300000);
    assert_int_equal(mb_backoff_ms(4000000000u, 1000, 300000), 300000);
}

static void test_the_test_sink_enforces_nonces_and_records_a_second_reading_for_a_slot(void **st)
{
    (void)st;
    char *dir = tu_tmpdir("mbsink");
    char log[512];
    snprintf(log, sizeof log, "%s/sink.log", dir);
    struct mb_sink s;
    assert_int_equal(mb_sink_mem_open(&s, log), MB_ERR_OK);
    uint8_t payload[MB_PAYLOAD_MAX_BYTES], *tx[4];
    size_t plen[4], tlen[4];
    uint8_t pl[4][MB_PAYLOAD_MAX_BYTES];
    struct mb_reading r[4] = {{1, 5, 0, 5, 0, 0, 900},
                              {2, 6, 0, 11, 0, 0, 900},
                              {2, 7, 0, 12, 0, 0, 900},
                              {3, 1, 0, 13, 0, 0, 900}};
    uint64_t nonces[4] = {0, 1, 2, 5};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(mb_reading_encode(&r[i], pk, pl[i], &plen[i]), MB_ERR_OK);
        assert_int_equal(mb_reading_tx("test", nonces[i], pl[i], plen[i], pk, sk, &tx[i], &tlen[i]),
                         MB_ERR_OK);
    }
    (void)payload;
    assert_int_equal(s.submit(s.ctx, tx[1], tlen[1]), MB_ERR_SINK_REJECTED); /* nonce gap */
    assert_int_equal(s.submit(s.ctx, tx[0], tlen[0]), MB_ERR_OK);
    assert_int_equal(s.submit(s.ctx, tx[0], tlen[0]), MB_ERR_OK); /* same bytes: no-op */
    assert_int_equal(s.submit(s.ctx, tx[1], tlen[1]), MB_ERR_OK);
    assert_int_equal(s.submit(s.ctx, tx[2], tlen[2]), MB_ERR_SINK_REJECTED); /* slot 2 again */
    assert_int_equal(mb_sink_mem_conflicts(&s), 1);
    assert_int_equal(mb_sink_mem_committed(&s), 2);
    uint64_t n;
    assert_int_equal(s.nonce(s.ctx, pk, &n), MB_ERR_OK);
    assert_int_equal(n, 2);
    enum mb_tx_status stt;
    uint8_t h[CHAIN_HASH_BYTES];
    chain_hash(h, CHAIN_TAG_TX, tx[1], tlen[1]);
    assert_int_equal(s.status(s.ctx, h, pk, 2, pl[1], plen[1], &stt), MB_ERR_OK);
    assert_int_equal(stt, MB_TX_COMMITTED);
    assert_int_equal(s.status(s.ctx, h, pk, 2, pl[2], plen[2], &stt), MB_ERR_SINK_PROOF);
    /* a tampered envelope does not verify */
    tx[3][tlen[3] - 1] ^= 1;
    assert_int_equal(s.submit(s.ctx, tx[3], tlen[3]), MB_ERR_SINK_REJECTED);
    s.close(s.ctx);
    /* the log rebuilds the same state in a new process */
    assert_int_equal(mb_sink_mem_open(&s, log), MB_ERR_OK);
    assert_int_equal(mb_sink_mem_committed(&s), 2);
    assert_int_equal(s.nonce(s.ctx, pk, &n), MB_ERR_OK);
    assert_int_equal(n, 2);
    mb_sink_mem_set_down(&s, true);
    assert_int_equal(s.submit(s.ctx, tx[0], tlen[0]), MB_ERR_SINK_UNREACHABLE);
    s.close(s.ctx);
    for (int i = 0; i < 4; i++)
        free(tx[i]);
    tu_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_put_reading_survives_reopen_with_the_same_bytes),
        cmocka_unit_test(test_a_slot_is_never_made_twice_even_after_it_was_removed),
        cmocka_unit_test(test_a_put_with_a_stale_nonce_is_refused),
        cmocka_unit_test(test_a_full_queue_says_so_and_keeps_what_it_has),
        cmocka_unit_test(test_the_map_size_limit_is_a_clear_queue_full),
        cmocka_unit_test(test_a_queue_of_another_meter_key_is_refused),
        cmocka_unit_test(test_entries_come_back_in_slot_order_with_their_schedule),
        cmocka_unit_test(test_backoff_doubles_and_is_capped),
        cmocka_unit_test(
            test_the_test_sink_enforces_nonces_and_records_a_second_reading_for_a_slot),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
