/* fuzz_rpc_request.c -- the JSON-RPC dispatcher (rpc_dispatch) on arbitrary bytes.
 *
 * A small real chain (genesis and one block with a transfer) is built once
 * in a temp directory; stub node ops accept every envelope and certify
 * nothing.  Properties, for every input:
 *   - rpc_dispatch never fails except out of memory, never crashes;
 *   - its output is nothing (notifications only) or valid JSON: one response
 *     object, or a non-empty array of them for a batch;
 *   - every response says "jsonrpc": "2.0" and has exactly one of result and
 *     error; an error's code is one of the documented codes (rpc.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_block.h"
#include "chain_crypto.h"
#include "chain_ledger.h"
#include "rpc.h"
#include "testutil.h"

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_rpc_request: property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

static struct chain fr_chain;
static char *fr_dir;
static struct rpc_node_ops fr_ops;
static struct rpc_api fr_api;
static int fr_ready;

static int fr_status(void *ctx, json_t *obj)
{
    (void)ctx;
    return json_object_set_new(obj, "engine", json_string("raft"));
}

static int fr_submit(void *ctx, const uint8_t *tx, size_t len, uint8_t hash[32], const char **why)
{
    (void)ctx;
    chain_hash(hash, CHAIN_TAG_TX, tx, len);
    *why = NULL;
    return len % 3 == 0 ? CHAIN_ERR_BAD_SIG : len % 3 == 1 ? 0 : RPC_REFUSE_MEMPOOL_FULL;
}

static int fr_cert(void *ctx, uint64_t height, struct cons_cert *out)
{
    (void)ctx;
    if (height != 1)
        return CHAIN_ERR_NOT_FOUND;
    memset(out, 0, sizeof *out);
    out->height = 1;
    out->n_sigs = 1;
    return 0;
}

static void fr_cleanup(void)
{
    chain_close(&fr_chain);
    tu_rmdir(fr_dir);
    free(fr_dir);
}

static void fr_init(void)
{
    if (fr_ready)
        return;
    uint8_t pk[3][CHAIN_PK_BYTES], sk[3][CHAIN_SK_BYTES];
    for (int i = 0; i < 3; i++) {
        uint8_t seed[32] = {(uint8_t)(i + 1)};
        chain_keypair_from_seed(pk[i], sk[i], seed);
    }
    fr_dir = tu_tmpdir("fuzzrpc");
    struct chain_store_opts o = {.map_size = (size_t)32 << 20, .no_sync = true};
    CHECK(chain_open(&fr_chain, fr_dir, &o) == CHAIN_ERR_OK);
    struct chain_validator v = {.power = 1};
    memcpy(v.key, pk[0], CHAIN_PK_BYTES);
    struct chain_genesis_account acc = {.balance = 1000000};
    memcpy(acc.pk, pk[1], CHAIN_PK_BYTES);
    struct chain_genesis g = {.chain_id = "fuzz", .time_ms = 1000, .accounts = &acc, .naccounts = 1,
                              .validators = &v, .nvalidators = 1};
    CHECK(chain_genesis(&fr_chain, &g) == CHAIN_ERR_OK);
    uint8_t *p, *tx;
    size_t pl, tl;
    CHECK(chain_payload_transfer(pk[2], 10, &p, &pl) == CHAIN_ERR_OK);
    CHECK(chain_tx_build("fuzz", 0, GL__TX_TYPE__TX_TRANSFER, p, pl, pk[1], sk[1], &tx, &tl) == CHAIN_ERR_OK);
    free(p);
    struct chain_exec_result r;
    const uint8_t *txs[1] = {tx};
    CHECK(chain_build_block(&fr_chain, 2000, pk[0], txs, &tl, 1, &r) == CHAIN_ERR_OK);
    CHECK(chain_commit(&fr_chain, &r) == CHAIN_ERR_OK);
    chain_exec_result_free(&r);
    free(tx);
    fr_ops = (struct rpc_node_ops){.status = fr_status, .submit_tx = fr_submit, .get_cert = fr_cert};
    fr_api = (struct rpc_api){.chain = &fr_chain, .ops = &fr_ops};
    atexit(fr_cleanup);
    fr_ready = 1;
}

static int known_code(json_int_t c)
{
    switch (c) {
#define FR_CODE_(name, code, msg)                                                              \
    case code: return 1;
        RPC_ERRORS(FR_CODE_)
#undef FR_CODE_
    default: return 0;
    }
}

static void check_response(const json_t *r)
{
    CHECK(json_is_object(r));
    const json_t *v = json_object_get(r, "jsonrpc");
    CHECK(json_is_string(v) && strcmp(json_string_value(v), "2.0") == 0);
    CHECK(json_object_get(r, "id") != NULL);
    const json_t *res = json_object_get(r, "result"), *err = json_object_get(r, "error");
    CHECK((res == NULL) != (err == NULL));
    if (err) {
        CHECK(json_is_integer(json_object_get(err, "code")));
        CHECK(known_code(json_integer_value(json_object_get(err, "code"))));
        CHECK(json_is_string(json_object_get(err, "message")));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fr_init();
    char *out = NULL;
    size_t n = 0;
    CHECK(rpc_dispatch(&fr_api, (const char *)data, size, &out, &n) == 0);
    if (!out)
        return 0;
    CHECK(strlen(out) == n);
    json_t *r = json_loadb(out, n, 0, NULL);
    CHECK(r != NULL);
    if (json_is_array(r)) {
        CHECK(json_array_size(r) > 0);
        for (size_t i = 0; i < json_array_size(r); i++)
            check_response(json_array_get(r, i));
    } else {
        check_response(r);
    }
    json_decref(r);
    free(out);
    return 0;
}
