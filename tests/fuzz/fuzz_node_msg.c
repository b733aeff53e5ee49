/* fuzz_node_msg.c -- the peer message decoder (node_msg_decode) on arbitrary bytes.
 *
 * Properties, beyond "no crash, no leak":
 *   - a failure is a named DECODE_* code and leaves the message empty;
 *   - a success is canonical (re-packs to exactly the input), has exactly one
 *     kind set, and every count and size is within the NODE_MSG_* limits;
 *   - certificates of a Blocks message convert, heights consecutive;
 *   - the same bytes through node_cert_decode fail or give a bounded cert. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_codec.h"
#include "node_msg.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_node_msg: property failed: %s (%s:%d)\n", #cond, __FILE__,       \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct node_msg m;
    int rc = node_msg_decode(data, size, &m);
    if (rc != CHAIN_ERR_OK) {
        CHECK(rc <= CHAIN_ERR_DECODE_MALFORMED && rc >= CHAIN_ERR_DECODE_BAD_VALUE);
        CHECK(m.pb == NULL);
        node_msg_deinit(&m);
    } else {
        uint8_t *out;
        size_t n;
        CHECK(chain_pb_pack(&m.pb->base, &out, &n) == CHAIN_ERR_OK);
        CHECK(n == size && memcmp(out, data, n) == 0);
        free(out);
        switch (m.kind) {
        case NODE_MSG_CONS:
            CHECK(m.pb->cons.len > 0 && m.pb->cons.len <= CONS_MSG_MAX_BYTES);
            break;
        case NODE_MSG_TXS:
            CHECK(m.pb->txs->n_txs >= 1 && m.pb->txs->n_txs <= NODE_MSG_MAX_TXS);
            for (size_t i = 0; i < m.pb->txs->n_txs; i++)
                CHECK(m.pb->txs->txs[i].len >= 1 && m.pb->txs->txs[i].len <= CHAIN_TX_MAX_BYTES);
            break;
        case NODE_MSG_STATUS: CHECK(m.pb->status->hash.len == CHAIN_HASH_BYTES); break;
        case NODE_MSG_GET_BLOCKS:
            CHECK(m.pb->get_blocks->from >= 1);
            CHECK(m.pb->get_blocks->max >= 1 && m.pb->get_blocks->max <= NODE_MSG_MAX_BLOCKS);
            break;
        case NODE_MSG_BLOCKS:
            CHECK(m.pb->blocks->n_blocks >= 1 && m.pb->blocks->n_blocks <= NODE_MSG_MAX_BLOCKS);
            for (size_t i = 0; i < m.pb->blocks->n_blocks; i++) {
                struct cons_cert c;
                CHECK(node_cert_from_pb(m.pb->blocks->blocks[i]->cert, &c) == CHAIN_ERR_OK);
                CHECK(c.n_sigs >= 1 && c.n_sigs <= CONS_NODES_MAX);
                for (uint32_t k = 0; k < c.n_sigs; k++)
                    CHECK(c.sigs[k].signer < CONS_NODES_MAX);
            }
            break;
        default: CHECK(0);
        }
        node_msg_deinit(&m);
    }
    struct cons_cert c;
    rc = node_cert_decode(data, size, &c);
    CHECK(rc == CHAIN_ERR_OK ||
          (rc <= CHAIN_ERR_DECODE_MALFORMED && rc >= CHAIN_ERR_DECODE_BAD_VALUE));
    if (rc == CHAIN_ERR_OK) {
        CHECK(c.height >= 1 && c.n_sigs >= 1 && c.n_sigs <= CONS_NODES_MAX);
        uint8_t *out;
        size_t n;
        CHECK(node_cert_encode(&c, &out, &n) == CHAIN_ERR_OK);
        CHECK(n == size && memcmp(out, data, n) == 0);
        free(out);
    }
    return 0;
}
