/* fuzz_tx.c -- the strict transaction decoder (chain_tx_decode with the ledger
 * types registered) on arbitrary bytes.
 *
 * Properties, beyond "no crash, no leak":
 *   - a failure is a named DECODE_* code, or one of the payload range checks
 *     (ZERO_AMOUNT, OVERFLOW, BAD_ROLE), and leaves the tx empty;
 *   - a success means the bytes are canonical: the envelope and the body
 *     re-pack to exactly the bytes received, the hash is H(TAG_TX, input),
 *     and every field the decoder promises is within its limits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_codec.h"
#include "chain_crypto.h"
#include "chain_ledger.h"

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_tx: property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

static struct chain_registry reg;
static int ready;

static void init_once(void)
{
    if (ready)
        return;
    CHECK(chain_crypto_init() == CHAIN_ERR_OK);
    chain_registry_init(&reg);
    CHECK(chain_ledger_register(&reg) == CHAIN_ERR_OK);
    ready = 1;
}

static int allowed_failure(int rc)
{
    if (rc >= CHAIN_ERR_DECODE_BAD_VALUE && rc <= CHAIN_ERR_DECODE_MALFORMED)
        return 1;
    return rc == CHAIN_ERR_ZERO_AMOUNT || rc == CHAIN_ERR_OVERFLOW || rc == CHAIN_ERR_BAD_ROLE;
}

/* m packs to exactly bytes[0..len). */
static int repacks_to(const ProtobufCMessage *m, const uint8_t *bytes, size_t len)
{
    uint8_t *out;
    size_t n;
    CHECK(chain_pb_pack(m, &out, &n) == CHAIN_ERR_OK);
    int same = n == len && (n == 0 || memcmp(out, bytes, n) == 0);
    free(out);
    return same;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct chain_tx tx;
    init_once();
    int rc = chain_tx_decode(&reg, data, size, &tx);
    if (rc != CHAIN_ERR_OK) {
        CHECK(rc < 0);
        CHECK(strcmp(chain_err_name(rc), "UNKNOWN") != 0);
        CHECK(allowed_failure(rc));
        CHECK(tx.env_ == NULL && tx.body_ == NULL && tx.payload == NULL && tx.handler == NULL);
        chain_tx_deinit(&tx);
        return 0;
    }
    CHECK(size <= CHAIN_TX_MAX_BYTES);
    uint8_t h[CHAIN_HASH_BYTES];
    chain_hash(h, CHAIN_TAG_TX, data, size);
    CHECK(memcmp(h, tx.hash, CHAIN_HASH_BYTES) == 0);
    /* canonical: one transaction, one byte string */
    CHECK(repacks_to(&tx.env_->base, data, size));
    CHECK(repacks_to(&tx.body_->base, tx.body, tx.body_len));
    /* the signed body and keys point into the received envelope's message */
    CHECK(tx.env_->signer.len == CHAIN_PK_BYTES && tx.signer == tx.env_->signer.data);
    CHECK(tx.env_->signature.len == CHAIN_SIG_BYTES && tx.signature == tx.env_->signature.data);
    CHECK(tx.body_len > 0 && tx.body_len <= CHAIN_TX_BODY_MAX_BYTES);
    size_t idlen = strlen(tx.chain_id);
    CHECK(idlen > 0 && idlen <= CHAIN_CHAIN_ID_MAX_BYTES);
    CHECK(tx.handler != NULL && tx.handler == chain_registry_get(&reg, tx.type));
    CHECK(tx.type >= GL__TX_TYPE__TX_TRANSFER && tx.type <= GL__TX_TYPE__TX_REGISTER_PARTICIPANT);
    CHECK(tx.payload != NULL);
    CHECK(repacks_to((const ProtobufCMessage *)tx.payload, tx.body_->payload.data, tx.body_->payload.len));
    /* amounts that passed the decoder are positive int64 micro-units */
    if (tx.type == GL__TX_TYPE__TX_TRANSFER) {
        const Gl__Transfer *t = tx.payload;
        CHECK(t->to.len == CHAIN_PK_BYTES && t->amount > 0 && t->amount <= (uint64_t)INT64_MAX);
    } else if (tx.type == GL__TX_TYPE__TX_SET_ROLES) {
        const Gl__SetRoles *t = tx.payload;
        CHECK((t->roles & ~CHAIN_ROLES_ALL) == 0);
    } else if (tx.type == GL__TX_TYPE__TX_REGISTER_PARTICIPANT) {
        const Gl__RegisterParticipant *t = tx.payload;
        CHECK(t->n_meter_keys <= CHAIN_METER_KEYS_MAX);
        CHECK(t->kind >= 1 && t->kind <= 6);
    }
    rc = chain_tx_verify(&tx);
    CHECK(rc == CHAIN_ERR_OK || rc == CHAIN_ERR_BAD_SIG);
    chain_tx_deinit(&tx);
    CHECK(tx.env_ == NULL && tx.body_ == NULL && tx.payload == NULL);
    return 0;
}
