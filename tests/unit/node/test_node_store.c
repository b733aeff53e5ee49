/* test_node_store.c -- the consensus store (node_store.c) against a naive
 * in-memory model of "an entry replaces every entry at or above its height",
 * certificates by height, and the peer messages (node_msg.c) round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chain_crypto.h"
#include "node_msg.h"
#include "node_store.h"
#include "testutil.h"

#define MAXH 64

/* The naive model: model[h] is the entry at height h (term 0: none). */
struct mentry {
    uint64_t term;
    uint8_t data[8];
    size_t len;
};

static void check_against(struct node_store *s, const struct mentry *model, const uint8_t *hard,
                          size_t hard_len)
{
    struct node_store_disk d;
    assert_int_equal(node_store_load(s, &d), 0);
    assert_int_equal(d.disk.hard_state_len, hard_len);
    if (hard_len)
        assert_memory_equal(d.disk.hard_state, hard, hard_len);
    size_t k = 0;
    for (uint64_t h = 1; h < MAXH; h++) {
        if (!model[h].term)
            continue;
        assert_true(k < d.disk.n_entries);
        assert_int_equal(d.disk.entries[k].height, h);
        assert_int_equal(d.disk.entries[k].term, model[h].term);
        assert_int_equal(d.disk.entries[k].len, model[h].len);
        assert_memory_equal(d.disk.entries[k].data, model[h].data, model[h].len);
        assert_int_equal(d.disk.entries[k].hash[0], (uint8_t)h);
        k++;
    }
    assert_int_equal(k, d.disk.n_entries);
    node_store_disk_free(&d);
}

static void test_the_log_matches_a_naive_model_across_reopen(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("gl-store");
    struct node_store s;
    assert_int_equal(node_store_open(&s, dir, true), 0);
    struct mentry model[MAXH];
    memset(model, 0, sizeof model);
    uint8_t hard[16] = {0};
    size_t hard_len = 0;
    struct tu_rng rng = {7};
    for (int step = 0; step < 300; step++) {
        struct cons_ready r;
        memset(&r, 0, sizeof r);
        struct cons_entry es[3];
        uint8_t datas[3][8];
        if (tu_below(&rng, 4) == 0) {
            r.hard_state_changed = true;
            hard_len = 1 + tu_below(&rng, 15);
            tu_fill(&rng, hard, hard_len);
            memcpy(r.hard_state, hard, hard_len);
            r.hard_state_len = hard_len;
        }
        if (tu_below(&rng, 8) == 0) {
            r.truncate_from = 1 + tu_below(&rng, MAXH - 1);
            for (uint64_t h = r.truncate_from; h < MAXH; h++)
                model[h].term = 0;
        }
        uint64_t h0 = 1 + tu_below(&rng, MAXH - 4);
        r.n_entries = tu_below(&rng, 4);
        for (size_t i = 0; i < r.n_entries; i++) {
            uint64_t h = h0 + i;
            for (uint64_t x = h; x < MAXH; x++) /* replaces everything at or above */
                model[x].term = 0;
            es[i].height = h;
            es[i].term = 1 + tu_below(&rng, 9);
            memset(es[i].hash, 0, sizeof es[i].hash);
            es[i].hash[0] = (uint8_t)h;
            es[i].len = tu_below(&rng, 9);
            tu_fill(&rng, datas[i], es[i].len);
            es[i].data = datas[i];
            model[h].term = es[i].term;
            model[h].len = es[i].len;
            memcpy(model[h].data, datas[i], es[i].len);
        }
        r.entries = es;
        assert_int_equal(node_store_persist(&s, &r), 0);
        if (step % 50 == 49) { /* reopen: what was persisted is what comes back */
            node_store_close(&s);
            assert_int_equal(node_store_open(&s, dir, true), 0);
        }
        check_against(&s, model, hard, hard_len);
    }
    /* prune drops only what is below */
    assert_int_equal(node_store_prune_log(&s, 30), 0);
    for (uint64_t h = 0; h < 30; h++)
        model[h].term = 0;
    check_against(&s, model, hard, hard_len);
    node_store_close(&s);
    tu_rmdir(dir);
    free(dir);
}

static struct cons_cert make_cert(uint64_t h, uint32_t n)
{
    struct cons_cert c;
    memset(&c, 0, sizeof c);
    c.height = h;
    memset(c.hash, (int)h, sizeof c.hash);
    c.n_sigs = n;
    for (uint32_t i = 0; i < n; i++) {
        c.sigs[i].signer = i * 2;
        memset(c.sigs[i].sig, (int)(i + 1), CONS_SIG_BYTES);
    }
    return c;
}

static void test_certificates_are_kept_by_height(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("gl-store");
    struct node_store s;
    assert_int_equal(node_store_open(&s, dir, false), 0);
    struct cons_cert c5 = make_cert(5, 3), got;
    assert_int_equal(node_store_put_cert(&s, &c5), 0);
    /* and through a ready's committed blocks */
    struct cons_commit cm;
    memset(&cm, 0, sizeof cm);
    cm.cert = make_cert(6, 4);
    struct cons_ready r;
    memset(&r, 0, sizeof r);
    r.committed = &cm;
    r.n_committed = 1;
    assert_int_equal(node_store_persist(&s, &r), 0);
    node_store_close(&s);
    assert_int_equal(node_store_open(&s, dir, false), 0);
    assert_int_equal(node_store_get_cert(&s, 5, &got), 0);
    assert_memory_equal(&got, &c5, sizeof got);
    assert_int_equal(node_store_get_cert(&s, 6, &got), 0);
    assert_memory_equal(&got, &cm.cert, sizeof got);
    assert_int_equal(node_store_get_cert(&s, 7, &got), CHAIN_ERR_NOT_FOUND);
    node_store_close(&s);
    tu_rmdir(dir);
    free(dir);
}

static void test_every_message_kind_round_trips(void **state)
{
    (void)state;
    uint8_t *buf;
    size_t len;
    struct node_msg m;
    uint8_t hash[32];
    memset(hash, 9, 32);
    assert_int_equal(node_msg_encode_cons((const uint8_t *)"abc", 3, &buf, &len), 0);
    assert_int_equal(node_msg_decode(buf, len, &m), 0);
    assert_int_equal(m.kind, NODE_MSG_CONS);
    assert_int_equal(m.pb->cons.len, 3);
    node_msg_deinit(&m);
    free(buf);
    const uint8_t *txs[2] = {(const uint8_t *)"tx-one", (const uint8_t *)"tx2"};
    size_t lens[2] = {6, 3};
    assert_int_equal(node_msg_encode_txs(txs, lens, 2, &buf, &len), 0);
    assert_int_equal(node_msg_decode(buf, len, &m), 0);
    assert_int_equal(m.kind, NODE_MSG_TXS);
    assert_int_equal(m.pb->txs->n_txs, 2);
    assert_memory_equal(m.pb->txs->txs[1].data, "tx2", 3);
    node_msg_deinit(&m);
    free(buf);
    assert_int_equal(node_msg_encode_status(77, hash, &buf, &len), 0);
    assert_int_equal(node_msg_decode(buf, len, &m), 0);
    assert_int_equal(m.pb->status->height, 77);
    node_msg_deinit(&m);
    /* trailing garbage is refused */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, buf, len);
    longer[len] = 0;
    assert_int_not_equal(node_msg_decode(longer, len + 1, &m), 0);
    assert_null(m.pb);
    free(longer);
    free(buf);
    assert_int_equal(node_msg_encode_get_blocks(3, NODE_MSG_MAX_BLOCKS, &buf, &len), 0);
    assert_int_equal(node_msg_decode(buf, len, &m), 0);
    assert_int_equal(m.pb->get_blocks->from, 3);
    node_msg_deinit(&m);
    free(buf);
    assert_int_not_equal(node_msg_encode_get_blocks(3, NODE_MSG_MAX_BLOCKS + 1, &buf, &len), 0);
    struct node_cblock bl[2] = {{(const uint8_t *)"b1", 2, make_cert(4, 3)},
                                {(const uint8_t *)"b2", 2, make_cert(5, 1)}};
    assert_int_equal(node_msg_encode_blocks(bl, 2, &buf, &len), 0);
    assert_int_equal(node_msg_decode(buf, len, &m), 0);
    struct cons_cert c;
    assert_int_equal(node_cert_from_pb(m.pb->blocks->blocks[1]->cert, &c), 0);
    assert_memory_equal(&c, &bl[1].cert, sizeof c);
    node_msg_deinit(&m);
    free(buf);
    /* heights must be consecutive, one signature per signer */
    bl[1].cert = make_cert(7, 1);
    assert_int_equal(node_msg_encode_blocks(bl, 2, &buf, &len), 0);
    assert_int_equal(node_msg_decode(buf, len, &m), CHAIN_ERR_DECODE_BAD_VALUE);
    free(buf);
    bl[1].cert = make_cert(5, 2);
    bl[1].cert.sigs[1].signer = bl[1].cert.sigs[0].signer;
    assert_int_equal(node_msg_encode_blocks(bl, 2, &buf, &len), 0);
    assert_int_equal(node_msg_decode(buf, len, &m), CHAIN_ERR_DECODE_BAD_VALUE);
    free(buf);
}

int main(void)
{
    if (chain_crypto_init())
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_log_matches_a_naive_model_across_reopen),
        cmocka_unit_test(test_certificates_are_kept_by_height),
        cmocka_unit_test(test_every_message_kind_round_trips),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
