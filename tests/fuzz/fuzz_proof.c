/* fuzz_proof.c -- the state-proof codec and verifier on arbitrary bytes.
 *
 * A fixed tree (a dozen ordinary keys, plus two key hashes that differ only
 * in their last bit, so that real proofs reach depth 256) is built once with
 * the naive reference tree (tests/smt_naive.h); its root is the root every
 * input is verified against.  The corpus holds proofs made by the real tree
 * (chain_smt_prove) for these keys.  Properties:
 *   - decoding fails with a named DECODE_* code, or succeeds only on canonical
 *     bytes: chain_proof_encode gives back exactly the input;
 *   - verification returns OK or PROOF_INVALID, and is sound: for every key
 *     of the tree, a proof verifies at most the true claim (its value, or its
 *     absence), never a false one. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_crypto.h"
#include "chain_proof.h"
#include "smt_naive.h"

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_proof: property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

#define FP_PRESENT 14 /* keys in the tree */
#define FP_ABSENT 4   /* probe keys not in it */
#define FP_KEYS (FP_PRESENT + FP_ABSENT)

struct fp_key {
    uint8_t key_hash[CHAIN_HASH_BYTES];
    uint8_t value[16];
    size_t value_len;
    uint8_t value_hash[CHAIN_HASH_BYTES]; /* present keys only */
    int present;
};

static struct fp_key fp_keys[FP_KEYS];
static uint8_t fp_root[CHAIN_HASH_BYTES];
static uint8_t fp_fake_value_hash[CHAIN_HASH_BYTES];
static int fp_ready;

static void fp_init(void)
{
    if (fp_ready)
        return;
    CHECK(chain_crypto_init() == CHAIN_ERR_OK);
    struct smt_naive t = {0};
    for (int i = 0; i < FP_KEYS; i++) {
        struct fp_key *k = &fp_keys[i];
        char name[32];
        if (i == FP_PRESENT - 2 || i == FP_PRESENT - 1) {
            /* two neighbours that split only at the last level */
            memset(k->key_hash, 0xab, CHAIN_HASH_BYTES);
            k->key_hash[31] = (uint8_t)(0xaa | (i == FP_PRESENT - 1));
        } else if (i == FP_KEYS - 1) {
            /* absent, but sharing 254 bits with those two */
            memset(k->key_hash, 0xab, CHAIN_HASH_BYTES);
            k->key_hash[31] = 0xa8;
        } else {
            snprintf(name, sizeof name, i < FP_PRESENT ? "k%d" : "absent-%d", i);
            chain_state_key_hash(k->key_hash, name, strlen(name));
        }
        k->present = i < FP_PRESENT;
        k->value_len = (size_t)snprintf((char *)k->value, sizeof k->value, "value-%d", i);
        chain_value_hash(k->value_hash, k->value, k->value_len);
        if (k->present)
            smt_naive_set(&t, k->key_hash, k->value, k->value_len);
    }
    smt_naive_root(&t, fp_root);
    smt_naive_free(&t);
    chain_value_hash(fp_fake_value_hash, "not a value", 11);
    fp_ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct chain_proof p; /* 8 KB: keep it off the stack */
    fp_init();
    int rc = chain_proof_decode(data, size, &p);
    if (rc != CHAIN_ERR_OK) {
        CHECK(rc < 0 && strcmp(chain_err_name(rc), "UNKNOWN") != 0);
        CHECK(rc >= CHAIN_ERR_DECODE_BAD_VALUE && rc <= CHAIN_ERR_DECODE_MALFORMED);
        return 0;
    }
    CHECK(p.depth <= CHAIN_SMT_DEPTH);
    CHECK(p.terminal == CHAIN_PROOF_TERM_SELF || p.terminal == CHAIN_PROOF_TERM_OTHER);
    /* canonical: decode then encode is the identity on accepted bytes */
    uint8_t *enc;
    size_t enc_len;
    CHECK(chain_proof_encode(&p, &enc, &enc_len) == CHAIN_ERR_OK);
    CHECK(enc_len == size && (size == 0 || memcmp(enc, data, size) == 0));
    free(enc);

    for (int i = 0; i < FP_KEYS; i++) {
        const struct fp_key *k = &fp_keys[i];
        const uint8_t *truth = k->present ? k->value_hash : NULL;
        const uint8_t *lie = k->present ? NULL : fp_fake_value_hash;
        int t = chain_proof_verify(fp_root, k->key_hash, truth, &p);
        int f = chain_proof_verify(fp_root, k->key_hash, lie, &p);
        CHECK(t == CHAIN_ERR_OK || t == CHAIN_ERR_PROOF_INVALID);
        CHECK(f == CHAIN_ERR_PROOF_INVALID);
        if (t == CHAIN_ERR_OK && k->present) {
            /* nor any other value for a present key */
            CHECK(chain_proof_verify(fp_root, k->key_hash, fp_fake_value_hash, &p) ==
                  CHAIN_ERR_PROOF_INVALID);
        }
    }
    return 0;
}
