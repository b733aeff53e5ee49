/* test_chain_codec.c -- the strict transaction decoder, signatures, the error
 * table and the handler registry.
 *
 * Most inputs are hand-crafted protobuf bytes (a tiny varint/tag encoder
 * below), because chain_tx_build and the payload builders only ever produce
 * canonical, in-range messages: the decoder's job is the bytes they never make.
 * Each named decode error is asserted with its exact code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "chain_codec.h"
#include "chain_crypto.h"
#include "chain_ledger.h"

#define CHAIN_ID "gridledger-test"

/* ---- a tiny protobuf writer: enough to write any byte string we want ---- */

enum { WT_VARINT = 0, WT_LEN = 2 };

struct pb {
    uint8_t b[16384];
    size_t n;
};

static void pb_raw(struct pb *p, const void *d, size_t n)
{
    assert_true(p->n + n <= sizeof p->b);
    if (n)
        memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void pb_varint(struct pb *p, uint64_t v)
{
    do {
        uint8_t byte = (uint8_t)(v & 0x7fu);
        v >>= 7;
        if (v)
            byte |= 0x80u;
        pb_raw(p, &byte, 1);
    } while (v);
}

static void pb_tag(struct pb *p, uint32_t field, unsigned wt)
{
    pb_varint(p, (uint64_t)field << 3 | wt);
}

/* A varint field, written even when v is zero (proto3 would omit it). */
static void pb_uint(struct pb *p, uint32_t field, uint64_t v)
{
    pb_tag(p, field, WT_VARINT);
    pb_varint(p, v);
}

static void pb_bytes(struct pb *p, uint32_t field, const void *d, size_t n)
{
    pb_tag(p, field, WT_LEN);
    pb_varint(p, n);
    pb_raw(p, d, n);
}

static void pb_str(struct pb *p, uint32_t field, const char *s)
{
    pb_bytes(p, field, s, strlen(s));
}

/* ---- fixture: keys from fixed seeds and a registry with the ledger types ---- */

static uint8_t pk[3][CHAIN_PK_BYTES], sk[3][CHAIN_SK_BYTES];
static struct chain_registry reg;

static int setup(void **state)
{
    (void)state;
    if (chain_crypto_init())
        return -1;
    for (int i = 0; i < 3; i++) {
        uint8_t seed[32];
        memset(seed, 0x40 + i, sizeof seed);
        chain_keypair_from_seed(pk[i], sk[i], seed);
    }
    chain_registry_init(&reg);
    return chain_ledger_register(&reg) == CHAIN_ERR_OK ? 0 : -1;
}

/* A canonical TxBody: zero-valued fields are omitted, as protobuf-c packs. */
static void body_canonical(struct pb *b, const char *chain_id, uint64_t nonce, uint32_t type,
                           const void *payload, size_t plen)
{
    b->n = 0;
    if (chain_id && *chain_id)
        pb_str(b, 1, chain_id);
    if (nonce)
        pb_uint(b, 2, nonce);
    if (type)
        pb_uint(b, 3, type);
    if (plen)
        pb_bytes(b, 4, payload, plen);
}

/* A canonical envelope around body, signed by key `who`. */
static void envelope_signed(struct pb *e, const struct pb *body, int who)
{
    uint8_t sig[CHAIN_SIG_BYTES];
    chain_sign(sig, CHAIN_TAG_TXSIG, body->b, body->n, sk[who]);
    e->n = 0;
    if (body->n)
        pb_bytes(e, 1, body->b, body->n);
    pb_bytes(e, 2, pk[who], CHAIN_PK_BYTES);
    pb_bytes(e, 3, sig, CHAIN_SIG_BYTES);
}

static int decode_rc(const uint8_t *bytes, size_t len)
{
    struct chain_tx tx;
    int rc = chain_tx_decode(&reg, bytes, len, &tx);
    if (rc != CHAIN_ERR_OK) {
        /* a failed decode leaves tx empty */
        assert_null(tx.env_);
        assert_null(tx.body_);
        assert_null(tx.payload);
        assert_null(tx.handler);
    }
    chain_tx_deinit(&tx);
    return rc;
}

/* Decode result of a properly signed envelope around a hand-made body. */
static int body_rc(const struct pb *body)
{
    struct pb e;
    envelope_signed(&e, body, 0);
    return decode_rc(e.b, e.n);
}

/* Decode result of a transaction of `type` carrying a hand-made payload. */
static int payload_rc(uint32_t type, const struct pb *payload)
{
    struct pb b;
    body_canonical(&b, CHAIN_ID, 3, type, payload->b, payload->n);
    return body_rc(&b);
}

static uint8_t *built_transfer(uint64_t amount, size_t *len)
{
    uint8_t *p, *tx;
    size_t n;
    assert_int_equal(chain_payload_transfer(pk[1], amount, &p, &n), CHAIN_ERR_OK);
    assert_int_equal(chain_tx_build(CHAIN_ID, 7, GL__TX_TYPE__TX_TRANSFER, p, n, pk[0], sk[0], &tx, len),
                     CHAIN_ERR_OK);
    free(p);
    return tx;
}

/* ---- round trip and identity ---- */

static void test_a_built_transaction_decodes_and_its_signature_verifies(void **state)
{
    (void)state;
    size_t len;
    uint8_t *bytes = built_transfer(1234, &len);
    struct chain_tx tx;
    assert_int_equal(chain_tx_decode(&reg, bytes, len, &tx), CHAIN_ERR_OK);
    assert_string_equal(tx.chain_id, CHAIN_ID);
    assert_int_equal(tx.nonce, 7);
    assert_int_equal(tx.type, GL__TX_TYPE__TX_TRANSFER);
    assert_ptr_equal(tx.handler, chain_registry_get(&reg, GL__TX_TYPE__TX_TRANSFER));
    assert_memory_equal(tx.signer, pk[0], CHAIN_PK_BYTES);
    const Gl__Transfer *t = tx.payload;
    assert_non_null(t);
    assert_int_equal(t->amount, 1234);
    assert_int_equal(t->to.len, CHAIN_PK_BYTES);
    assert_memory_equal(t->to.data, pk[1], CHAIN_PK_BYTES);
    assert_int_equal(chain_tx_verify(&tx), CHAIN_ERR_OK);
    chain_tx_deinit(&tx);
    chain_tx_deinit(&tx); /* deinit of an emptied tx is harmless */
    free(bytes);
}

static void test_the_hash_is_blake2b_over_the_exact_received_bytes_with_the_tx_tag(void **state)
{
    (void)state;
    size_t len;
    uint8_t *bytes = built_transfer(99, &len);
    uint8_t want[CHAIN_HASH_BYTES], other[CHAIN_HASH_BYTES];
    struct chain_tx tx;
    assert_int_equal(chain_tx_decode(&reg, bytes, len, &tx), CHAIN_ERR_OK);
    chain_hash(want, CHAIN_TAG_TX, bytes, len);
    assert_memory_equal(tx.hash, want, CHAIN_HASH_BYTES);
    /* not the hash of the body, nor with another tag */
    chain_hash(other, CHAIN_TAG_TX, tx.body, tx.body_len);
    assert_memory_not_equal(tx.hash, other, CHAIN_HASH_BYTES);
    chain_hash(other, CHAIN_TAG_HEADER, bytes, len);
    assert_memory_not_equal(tx.hash, other, CHAIN_HASH_BYTES);
    chain_tx_deinit(&tx);
    free(bytes);
}

/* ---- DECODE_TOO_LARGE ---- */

static void test_an_envelope_over_the_size_limit_is_too_large(void **state)
{
    (void)state;
    static uint8_t big[CHAIN_TX_MAX_BYTES + 1];
    assert_int_equal(decode_rc(big, sizeof big), CHAIN_ERR_DECODE_TOO_LARGE);
    /* a well-formed envelope just over the limit: the size is checked first */
    struct pb b, e;
    static uint8_t payload[CHAIN_TX_MAX_BYTES];
    memset(payload, 0xaa, sizeof payload);
    body_canonical(&b, CHAIN_ID, 0, 1, payload, CHAIN_TX_MAX_BYTES - 100);
    envelope_signed(&e, &b, 0);
    assert_true(e.n > CHAIN_TX_MAX_BYTES);
    assert_int_equal(decode_rc(e.b, e.n), CHAIN_ERR_DECODE_TOO_LARGE);
}

static void test_a_body_over_its_limit_inside_a_small_enough_envelope_is_too_large(void **state)
{
    (void)state;
    struct pb b, e;
    static uint8_t payload[CHAIN_TX_BODY_MAX_BYTES];
    memset(payload, 0x55, sizeof payload);
    /* find a payload length that makes the body exactly one byte too long */
    size_t plen = CHAIN_TX_BODY_MAX_BYTES - 40;
    for (;;) {
        body_canonical(&b, CHAIN_ID, 0, 1, payload, plen);
        if (b.n >= CHAIN_TX_BODY_MAX_BYTES + 1)
            break;
        plen++;
    }
    assert_int_equal(b.n, CHAIN_TX_BODY_MAX_BYTES + 1);
    envelope_signed(&e, &b, 0);
    assert_true(e.n <= CHAIN_TX_MAX_BYTES);
    assert_int_equal(decode_rc(e.b, e.n), CHAIN_ERR_DECODE_TOO_LARGE);
}

/* ---- DECODE_MALFORMED ---- */

static void test_garbage_bytes_are_malformed(void **state)
{
    (void)state;
    static const uint8_t bad_wire_type[] = {0x0f, 0x01, 0x02};
    static const uint8_t endless_varint[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff,
                                             0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t length_past_end[] = {0x0a, 0x40, 0x01, 0x02};
    assert_int_equal(decode_rc(bad_wire_type, sizeof bad_wire_type), CHAIN_ERR_DECODE_MALFORMED);
    assert_int_equal(decode_rc(endless_varint, sizeof endless_varint), CHAIN_ERR_DECODE_MALFORMED);
    assert_int_equal(decode_rc(length_past_end, sizeof length_past_end), CHAIN_ERR_DECODE_MALFORMED);
}

static void test_every_truncation_of_a_valid_transaction_is_refused(void **state)
{
    (void)state;
    size_t len;
    uint8_t *bytes = built_transfer(5, &len);
    /* cut inside the last field: the signature's length runs past the end */
    assert_int_equal(decode_rc(bytes, len - 1), CHAIN_ERR_DECODE_MALFORMED);
    for (size_t cut = 0; cut < len; cut++) {
        int rc = decode_rc(bytes, cut);
        assert_true(rc < 0);
        assert_string_not_equal(chain_err_name(rc), "UNKNOWN");
    }
    free(bytes);
}

/* ---- DECODE_TRAILING ---- */

static void test_an_unknown_field_after_a_valid_envelope_is_trailing(void **state)
{
    (void)state;
    size_t len;
    uint8_t *bytes = built_transfer(5, &len);
    struct pb e = {.n = 0};
    pb_raw(&e, bytes, len);
    pb_uint(&e, 4, 1); /* field 4 does not exist in gl.Tx */
    assert_int_equal(decode_rc(e.b, e.n), CHAIN_ERR_DECODE_TRAILING);
    /* an unknown length-delimited field too */
    e.n = 0;
    pb_raw(&e, bytes, len);
    pb_bytes(&e, 15, "x", 1);
    assert_int_equal(decode_rc(e.b, e.n), CHAIN_ERR_DECODE_TRAILING);
    free(bytes);
}

static void test_a_valid_envelope_followed_by_a_repeat_of_its_last_field_is_trailing(void **state)
{
    (void)state;
    size_t len;
    uint8_t *bytes = built_transfer(5, &len);
    struct chain_tx tx;
    assert_int_equal(chain_tx_decode(&reg, bytes, len, &tx), CHAIN_ERR_OK);
    struct pb e = {.n = 0};
    pb_raw(&e, bytes, len);
    pb_bytes(&e, 3, tx.signature, CHAIN_SIG_BYTES); /* the same signature again */
    /* protobuf-c keeps the last value, which re-packs to the original bytes:
     * what follows them is trailing */
    assert_int_equal(decode_rc(e.b, e.n), CHAIN_ERR_DECODE_TRAILING);
    chain_tx_deinit(&tx);
    free(bytes);
}

static void test_a_valid_envelope_followed_by_a_different_known_field_is_refused(void **state)
{
    (void)state;
    size_t len;
    uint8_t *bytes = built_transfer(5, &len);
    struct pb e = {.n = 0};
    uint8_t sig[CHAIN_SIG_BYTES];
    memset(sig, 0x11, sizeof sig);
    /* a second, different signature: the last one wins in protobuf-c, so the
     * message re-packs to other bytes than the ones received */
    pb_raw(&e, bytes, len);
    pb_bytes(&e, 3, sig, sizeof sig);
    assert_int_equal(decode_rc(e.b, e.n), CHAIN_ERR_DECODE_NONCANONICAL);
    /* a second signer (an earlier field) after the signature */
    e.n = 0;
    pb_raw(&e, bytes, len);
    pb_bytes(&e, 2, pk[1], CHAIN_PK_BYTES);
    assert_int_equal(decode_rc(e.b, e.n), CHAIN_ERR_DECODE_NONCANONICAL);
    free(bytes);
}

/* ---- DECODE_NONCANONICAL ---- */

static void test_an_explicitly_encoded_zero_field_is_noncanonical(void **state)
{
    (void)state;
    uint8_t *p;
    size_t plen;
    assert_int_equal(chain_payload_transfer(pk[1], 10, &p, &plen), CHAIN_ERR_OK);
    struct pb b = {.n = 0};
    pb_str(&b, 1, CHAIN_ID);
    pb_uint(&b, 2, 0); /* nonce 0 written out */
    pb_uint(&b, 3, GL__TX_TYPE__TX_TRANSFER);
    pb_bytes(&b, 4, p, plen);
    assert_int_equal(body_rc(&b), CHAIN_ERR_DECODE_NONCANONICAL);
    /* the same body without the zero field is fine */
    body_canonical(&b, CHAIN_ID, 0, GL__TX_TYPE__TX_TRANSFER, p, plen);
    assert_int_equal(body_rc(&b), CHAIN_ERR_OK);
    /* an empty bytes field written out in the envelope */
    struct pb e = {.n = 0}, e2;
    envelope_signed(&e2, &b, 0);
    pb_raw(&e, e2.b, e2.n);
    pb_bytes(&e, 3, "", 0);
    assert_true(decode_rc(e.b, e.n) < 0);
    free(p);
}

static void test_fields_out_of_order_are_noncanonical(void **state)
{
    (void)state;
    uint8_t *p;
    size_t plen;
    uint8_t sig[CHAIN_SIG_BYTES];
    assert_int_equal(chain_payload_transfer(pk[1], 10, &p, &plen), CHAIN_ERR_OK);
    struct pb b, e = {.n = 0};
    body_canonical(&b, CHAIN_ID, 4, GL__TX_TYPE__TX_TRANSFER, p, plen);
    chain_sign(sig, CHAIN_TAG_TXSIG, b.b, b.n, sk[0]);
    /* envelope: signer before body */
    pb_bytes(&e, 2, pk[0], CHAIN_PK_BYTES);
    pb_bytes(&e, 1, b.b, b.n);
    pb_bytes(&e, 3, sig, sizeof sig);
    assert_int_equal(decode_rc(e.b, e.n), CHAIN_ERR_DECODE_NONCANONICAL);
    /* body: nonce before chain_id */
    b.n = 0;
    pb_uint(&b, 2, 4);
    pb_str(&b, 1, CHAIN_ID);
    pb_uint(&b, 3, GL__TX_TYPE__TX_TRANSFER);
    pb_bytes(&b, 4, p, plen);
    assert_int_equal(body_rc(&b), CHAIN_ERR_DECODE_NONCANONICAL);
    free(p);
}

static void test_a_varint_with_a_redundant_continuation_byte_is_noncanonical(void **state)
{
    (void)state;
    uint8_t *p;
    size_t plen;
    assert_int_equal(chain_payload_transfer(pk[1], 10, &p, &plen), CHAIN_ERR_OK);
    struct pb b = {.n = 0};
    pb_str(&b, 1, CHAIN_ID);
    pb_tag(&b, 2, WT_VARINT);
    pb_raw(&b, (const uint8_t[]){0x84, 0x00}, 2); /* 4, in two bytes */
    pb_uint(&b, 3, GL__TX_TYPE__TX_TRANSFER);
    pb_bytes(&b, 4, p, plen);
    assert_int_equal(body_rc(&b), CHAIN_ERR_DECODE_NONCANONICAL);
    free(p);
}

/* ---- DECODE_BAD_LENGTH and DECODE_MISSING_FIELD in the envelope ---- */

static void test_a_signer_of_31_bytes_and_a_signature_of_63_have_bad_lengths(void **state)
{
    (void)state;
    struct pb b, e;
    uint8_t sig[CHAIN_SIG_BYTES];
    uint8_t *p;
    size_t plen;
    assert_int_equal(chain_payload_transfer(pk[1], 10, &p, &plen), CHAIN_ERR_OK);
    body_canonical(&b, CHAIN_ID, 1, GL__TX_TYPE__TX_TRANSFER, p, plen);
    chain_sign(sig, CHAIN_TAG_TXSIG, b.b, b.n, sk[0]);

    e.n = 0;
    pb_bytes(&e, 1, b.b, b.n);
    pb_bytes(&e, 2, pk[0], CHAIN_PK_BYTES - 1);
    pb_bytes(&e, 3, sig, sizeof sig);
    assert_int_equal(decode_rc(e.b, e.n), CHAIN_ERR_DECODE_BAD_LENGTH);

    e.n = 0;
    pb_bytes(&e, 1, b.b, b.n);
    pb_bytes(&e, 2, pk[0], CHAIN_PK_BYTES);
    pb_bytes(&e, 3, sig, sizeof sig - 1);
    assert_int_equal(decode_rc(e.b, e.n), CHAIN_ERR_DECODE_BAD_LENGTH);

    /* and without a signer or a signature at all: missing */
    e.n = 0;
    pb_bytes(&e, 1, b.b, b.n);
    pb_bytes(&e, 3, sig, sizeof sig);
    assert_int_equal(decode_rc(e.b, e.n), CHAIN_ERR_DECODE_MISSING_FIELD);
    e.n = 0;
    pb_bytes(&e, 1, b.b, b.n);
    pb_bytes(&e, 2, pk[0], CHAIN_PK_BYTES);
    assert_int_equal(decode_rc(e.b, e.n), CHAIN_ERR_DECODE_MISSING_FIELD);
    free(p);
}

static void test_an_empty_body_and_an_empty_chain_id_are_missing_fields(void **state)
{
    (void)state;
    struct pb b = {.n = 0}, e;
    envelope_signed(&e, &b, 0); /* no body_bytes field at all */
    assert_int_equal(decode_rc(e.b, e.n), CHAIN_ERR_DECODE_MISSING_FIELD);
    /* a body with everything but the chain id */
    uint8_t *p;
    size_t plen;
    assert_int_equal(chain_payload_transfer(pk[1], 10, &p, &plen), CHAIN_ERR_OK);
    body_canonical(&b, "", 1, GL__TX_TYPE__TX_TRANSFER, p, plen);
    assert_int_equal(body_rc(&b), CHAIN_ERR_DECODE_MISSING_FIELD);
    free(p);
}

/* ---- DECODE_UNKNOWN_TYPE and DECODE_FIELD_TOO_LARGE in the body ---- */

static void test_unregistered_transaction_types_are_unknown(void **state)
{
    (void)state;
    struct pb b;
    static const uint32_t types[] = {0, 7, 99, 255, 256, 100000, UINT32_MAX};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        body_canonical(&b, CHAIN_ID, 1, types[i], "\x0a\x00", 0);
        assert_int_equal(body_rc(&b), CHAIN_ERR_DECODE_UNKNOWN_TYPE);
    }
}

static void test_a_chain_id_of_65_bytes_is_too_large_and_64_is_fine(void **state)
{
    (void)state;
    char id[CHAIN_CHAIN_ID_MAX_BYTES + 2];
    uint8_t *p;
    size_t plen;
    struct pb b;
    assert_int_equal(chain_payload_transfer(pk[1], 10, &p, &plen), CHAIN_ERR_OK);
    memset(id, 'c', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    body_canonical(&b, id, 1, GL__TX_TYPE__TX_TRANSFER, p, plen);
    assert_int_equal(body_rc(&b), CHAIN_ERR_DECODE_FIELD_TOO_LARGE);
    id[CHAIN_CHAIN_ID_MAX_BYTES] = '\0';
    body_canonical(&b, id, 1, GL__TX_TYPE__TX_TRANSFER, p, plen);
    assert_int_equal(body_rc(&b), CHAIN_ERR_OK);
    free(p);
}

static void test_a_payload_over_its_limit_is_too_large_a_field(void **state)
{
    (void)state;
    static uint8_t payload[CHAIN_TX_PAYLOAD_MAX_BYTES + 1];
    struct pb b;
    body_canonical(&b, CHAIN_ID, 1, GL__TX_TYPE__TX_TRANSFER, payload, sizeof payload);
    assert_int_equal(body_rc(&b), CHAIN_ERR_DECODE_FIELD_TOO_LARGE);
}

/* ---- payload checks ---- */

static void test_a_transfer_to_a_31_byte_key_has_a_bad_length(void **state)
{
    (void)state;
    struct pb p = {.n = 0};
    pb_bytes(&p, 1, pk[1], CHAIN_PK_BYTES - 1);
    pb_uint(&p, 2, 10);
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_TRANSFER, &p), CHAIN_ERR_DECODE_BAD_LENGTH);
    p.n = 0;
    pb_uint(&p, 2, 10); /* no recipient at all */
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_TRANSFER, &p), CHAIN_ERR_DECODE_MISSING_FIELD);
}

static void test_a_transfer_of_zero_is_a_zero_amount(void **state)
{
    (void)state;
    struct pb p = {.n = 0};
    pb_bytes(&p, 1, pk[1], CHAIN_PK_BYTES); /* amount omitted: zero */
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_TRANSFER, &p), CHAIN_ERR_ZERO_AMOUNT);
}

static void test_a_transfer_beyond_int64_max_overflows_and_int64_max_is_fine(void **state)
{
    (void)state;
    struct pb p = {.n = 0};
    pb_bytes(&p, 1, pk[1], CHAIN_PK_BYTES);
    pb_uint(&p, 2, (uint64_t)INT64_MAX + 1);
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_TRANSFER, &p), CHAIN_ERR_OVERFLOW);
    p.n = 0;
    pb_bytes(&p, 1, pk[1], CHAIN_PK_BYTES);
    pb_uint(&p, 2, UINT64_MAX);
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_TRANSFER, &p), CHAIN_ERR_OVERFLOW);
    p.n = 0;
    pb_bytes(&p, 1, pk[1], CHAIN_PK_BYTES);
    pb_uint(&p, 2, (uint64_t)INT64_MAX);
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_TRANSFER, &p), CHAIN_ERR_OK);
}

static void test_a_mint_without_a_bank_reference_is_missing_a_field(void **state)
{
    (void)state;
    struct pb p = {.n = 0};
    pb_bytes(&p, 1, pk[1], CHAIN_PK_BYTES);
    pb_uint(&p, 2, 10);
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_MINT, &p), CHAIN_ERR_DECODE_MISSING_FIELD);
    pb_str(&p, 3, "bank-ref-1");
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_MINT, &p), CHAIN_ERR_OK);
}

static void participant(struct pb *p, uint32_t kind, size_t nmeters)
{
    p->n = 0;
    pb_bytes(p, 1, pk[1], CHAIN_PK_BYTES);
    if (kind)
        pb_uint(p, 2, kind);
    for (size_t i = 0; i < nmeters; i++) {
        uint8_t m[CHAIN_PK_BYTES];
        memset(m, (int)(i + 1), sizeof m);
        pb_bytes(p, 5, m, sizeof m);
    }
}

static void test_a_participant_with_nine_meter_keys_has_too_many(void **state)
{
    (void)state;
    struct pb p;
    participant(&p, GL__PARTICIPANT_KIND__KIND_PROSUMER, CHAIN_METER_KEYS_MAX + 1);
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_REGISTER_PARTICIPANT, &p), CHAIN_ERR_DECODE_TOO_MANY);
    participant(&p, GL__PARTICIPANT_KIND__KIND_PROSUMER, CHAIN_METER_KEYS_MAX);
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_REGISTER_PARTICIPANT, &p), CHAIN_ERR_OK);
}

static void test_a_participant_kind_of_zero_or_seven_is_a_bad_value(void **state)
{
    (void)state;
    struct pb p;
    participant(&p, 0, 1);
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_REGISTER_PARTICIPANT, &p), CHAIN_ERR_DECODE_BAD_VALUE);
    participant(&p, 7, 1);
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_REGISTER_PARTICIPANT, &p), CHAIN_ERR_DECODE_BAD_VALUE);
    for (uint32_t k = GL__PARTICIPANT_KIND__KIND_CONSUMER; k <= GL__PARTICIPANT_KIND__KIND_COMMUNITY_MANAGER; k++) {
        participant(&p, k, 1);
        assert_int_equal(payload_rc(GL__TX_TYPE__TX_REGISTER_PARTICIPANT, &p), CHAIN_ERR_OK);
    }
}

static void test_setting_an_unknown_role_bit_is_a_bad_role(void **state)
{
    (void)state;
    struct pb p = {.n = 0};
    pb_bytes(&p, 1, pk[1], CHAIN_PK_BYTES);
    pb_uint(&p, 2, CHAIN_ROLES_ALL + 1);
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_SET_ROLES, &p), CHAIN_ERR_BAD_ROLE);
    p.n = 0;
    pb_bytes(&p, 1, pk[1], CHAIN_PK_BYTES);
    pb_uint(&p, 2, 1u << 31);
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_SET_ROLES, &p), CHAIN_ERR_BAD_ROLE);
    p.n = 0;
    pb_bytes(&p, 1, pk[1], CHAIN_PK_BYTES);
    pb_uint(&p, 2, CHAIN_ROLES_ALL);
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_SET_ROLES, &p), CHAIN_ERR_OK);
}

static void test_a_payload_that_is_not_canonical_is_refused_like_an_envelope(void **state)
{
    (void)state;
    struct pb p = {.n = 0};
    pb_uint(&p, 2, 10); /* amount before recipient */
    pb_bytes(&p, 1, pk[1], CHAIN_PK_BYTES);
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_TRANSFER, &p), CHAIN_ERR_DECODE_NONCANONICAL);
    p.n = 0;
    pb_bytes(&p, 1, pk[1], CHAIN_PK_BYTES);
    pb_uint(&p, 2, 10);
    pb_uint(&p, 9, 1); /* unknown field */
    assert_int_equal(payload_rc(GL__TX_TYPE__TX_TRANSFER, &p), CHAIN_ERR_DECODE_TRAILING);
}

/* Regression (found by fuzz_block under UBSan): an empty bytes field unpacks
 * as data == NULL, len == 0, and chain_pb_unpack then passed NULL to memcmp
 * (chain_codec.c, the canonical-form comparison), which is undefined even
 * for a zero length.  An empty payload must be an ordinary decode error. */
static void test_an_empty_payload_of_a_known_type_is_a_missing_field(void **state)
{
    (void)state;
    struct pb b;
    body_canonical(&b, CHAIN_ID, 1, GL__TX_TYPE__TX_TRANSFER, NULL, 0);
    assert_int_equal(body_rc(&b), CHAIN_ERR_DECODE_MISSING_FIELD);
    body_canonical(&b, CHAIN_ID, 1, GL__TX_TYPE__TX_REDEEM, NULL, 0);
    assert_int_equal(body_rc(&b), CHAIN_ERR_ZERO_AMOUNT);
}

static void test_zero_bytes_unpack_to_an_all_default_message(void **state)
{
    (void)state;
    ProtobufCMessage *m;
    assert_int_equal(chain_pb_unpack(&gl__transfer__descriptor, NULL, 0, 16, &m), CHAIN_ERR_OK);
    assert_int_equal(((Gl__Transfer *)m)->amount, 0);
    protobuf_c_message_free_unpacked(m, NULL);
    static const uint8_t one[1] = {0};
    assert_int_equal(chain_pb_unpack(&gl__transfer__descriptor, one, 0, 16, &m), CHAIN_ERR_OK);
    protobuf_c_message_free_unpacked(m, NULL);
    assert_int_equal(chain_pb_unpack(&gl__transfer__descriptor, one, 17, 16, &m), CHAIN_ERR_DECODE_TOO_LARGE);
    assert_null(m);
}

/* ---- signatures ---- */

static void test_verify_fails_for_a_flipped_bit_in_the_body_the_signature_or_another_signer(void **state)
{
    (void)state;
    size_t len;
    uint8_t *bytes = built_transfer(77, &len);
    struct chain_tx tx, t2;
    uint8_t body[CHAIN_TX_BODY_MAX_BYTES], sig[CHAIN_SIG_BYTES];
    assert_int_equal(chain_tx_decode(&reg, bytes, len, &tx), CHAIN_ERR_OK);
    assert_int_equal(chain_tx_verify(&tx), CHAIN_ERR_OK);

    assert_true(tx.body_len <= sizeof body);
    for (size_t bit = 0; bit < tx.body_len * 8; bit += 13) {
        memcpy(body, tx.body, tx.body_len);
        body[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        t2 = tx;
        t2.body = body;
        assert_int_equal(chain_tx_verify(&t2), CHAIN_ERR_BAD_SIG);
    }
    for (size_t bit = 0; bit < CHAIN_SIG_BYTES * 8; bit += 7) {
        memcpy(sig, tx.signature, sizeof sig);
        sig[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        t2 = tx;
        t2.signature = sig;
        assert_int_equal(chain_tx_verify(&t2), CHAIN_ERR_BAD_SIG);
    }
    t2 = tx;
    t2.signer = pk[2];
    assert_int_equal(chain_tx_verify(&t2), CHAIN_ERR_BAD_SIG);
    chain_tx_deinit(&tx);
    free(bytes);
}

static void test_a_decodable_envelope_with_a_signature_for_other_body_bytes_does_not_verify(void **state)
{
    (void)state;
    uint8_t *p;
    size_t plen;
    uint8_t sig[CHAIN_SIG_BYTES];
    struct pb b1, b2, e = {.n = 0};
    assert_int_equal(chain_payload_transfer(pk[1], 10, &p, &plen), CHAIN_ERR_OK);
    body_canonical(&b1, CHAIN_ID, 1, GL__TX_TYPE__TX_TRANSFER, p, plen);
    body_canonical(&b2, CHAIN_ID, 2, GL__TX_TYPE__TX_TRANSFER, p, plen);
    chain_sign(sig, CHAIN_TAG_TXSIG, b1.b, b1.n, sk[0]);
    pb_bytes(&e, 1, b2.b, b2.n);
    pb_bytes(&e, 2, pk[0], CHAIN_PK_BYTES);
    pb_bytes(&e, 3, sig, sizeof sig);
    struct chain_tx tx;
    assert_int_equal(chain_tx_decode(&reg, e.b, e.n, &tx), CHAIN_ERR_OK);
    assert_int_equal(chain_tx_verify(&tx), CHAIN_ERR_BAD_SIG);
    chain_tx_deinit(&tx);
    /* signed with another domain tag */
    chain_sign(sig, CHAIN_TAG_TX, b2.b, b2.n, sk[0]);
    e.n = 0;
    pb_bytes(&e, 1, b2.b, b2.n);
    pb_bytes(&e, 2, pk[0], CHAIN_PK_BYTES);
    pb_bytes(&e, 3, sig, sizeof sig);
    assert_int_equal(chain_tx_decode(&reg, e.b, e.n, &tx), CHAIN_ERR_OK);
    assert_int_equal(chain_tx_verify(&tx), CHAIN_ERR_BAD_SIG);
    chain_tx_deinit(&tx);
    free(p);
}

/* ---- the error table ---- */

struct err_row {
    const char *name;
    int code;
    const char *msg;
};

static const struct err_row err_rows[] = {
#define ROW_(name, code, msg) {#name, code, msg},
    CHAIN_ERRORS(ROW_)
#undef ROW_
};
#define NROWS (sizeof err_rows / sizeof err_rows[0])

static void test_every_error_code_has_a_distinct_value_a_message_and_a_name(void **state)
{
    (void)state;
    assert_true(NROWS > 40);
    for (size_t i = 0; i < NROWS; i++) {
        const struct err_row *e = &err_rows[i];
        assert_true(e->code <= 0);
        assert_true(e->msg[0] != '\0');
        assert_string_equal(chain_strerror(e->code), e->msg);
        assert_string_equal(chain_err_name(e->code), e->name);
        assert_string_not_equal(e->name, "UNKNOWN");
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(err_rows[j].code, e->code);
            assert_string_not_equal(err_rows[j].name, e->name);
        }
    }
    assert_int_equal(err_rows[0].code, CHAIN_ERR_OK);
    assert_string_equal(chain_err_name(1), "UNKNOWN");
    assert_string_equal(chain_err_name(-9999), "UNKNOWN");
    assert_true(chain_strerror(-9999)[0] != '\0');
}

static void test_decode_errors_live_in_the_decoding_range(void **state)
{
    (void)state;
    for (size_t i = 0; i < NROWS; i++)
        if (strncmp(err_rows[i].name, "DECODE_", 7) == 0)
            assert_true(err_rows[i].code <= -10 && err_rows[i].code >= -39);
}

/* ---- the registry ---- */

static int dummy_decode(const uint8_t *p, size_t n, void **out)
{
    (void)p;
    (void)n;
    *out = NULL;
    return CHAIN_ERR_OK;
}

static int dummy_apply(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    (void)ctx;
    (void)tx;
    (void)msg;
    return CHAIN_ERR_OK;
}

static void test_a_registry_refuses_duplicate_types_and_type_zero(void **state)
{
    (void)state;
    struct chain_registry r;
    const struct chain_tx_handler h = {"dummy", dummy_decode, NULL, dummy_apply};
    chain_registry_init(&r);
    assert_int_equal(chain_registry_add(&r, 0, &h), CHAIN_ERR_INVALID_ARG);
    assert_int_equal(chain_registry_add(&r, CHAIN_TX_TYPES_MAX, &h), CHAIN_ERR_INVALID_ARG);
    assert_int_equal(chain_registry_add(&r, 100, &h), CHAIN_ERR_OK);
    assert_int_equal(chain_registry_add(&r, 100, &h), CHAIN_ERR_DUPLICATE_HANDLER);
    assert_non_null(chain_registry_get(&r, 100));
    assert_string_equal(chain_registry_get(&r, 100)->name, "dummy");
    assert_null(chain_registry_get(&r, 0));
    assert_null(chain_registry_get(&r, 101));
    assert_null(chain_registry_get(&r, 100000));
    /* the ledger types once, not twice */
    assert_int_equal(chain_ledger_register(&r), CHAIN_ERR_OK);
    assert_int_equal(chain_ledger_register(&r), CHAIN_ERR_DUPLICATE_HANDLER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_built_transaction_decodes_and_its_signature_verifies),
        cmocka_unit_test(test_the_hash_is_blake2b_over_the_exact_received_bytes_with_the_tx_tag),
        cmocka_unit_test(test_an_envelope_over_the_size_limit_is_too_large),
        cmocka_unit_test(test_a_body_over_its_limit_inside_a_small_enough_envelope_is_too_large),
        cmocka_unit_test(test_garbage_bytes_are_malformed),
        cmocka_unit_test(test_every_truncation_of_a_valid_transaction_is_refused),
        cmocka_unit_test(test_an_unknown_field_after_a_valid_envelope_is_trailing),
        cmocka_unit_test(test_a_valid_envelope_followed_by_a_repeat_of_its_last_field_is_trailing),
        cmocka_unit_test(test_a_valid_envelope_followed_by_a_different_known_field_is_refused),
        cmocka_unit_test(test_an_explicitly_encoded_zero_field_is_noncanonical),
        cmocka_unit_test(test_fields_out_of_order_are_noncanonical),
        cmocka_unit_test(test_a_varint_with_a_redundant_continuation_byte_is_noncanonical),
        cmocka_unit_test(test_a_signer_of_31_bytes_and_a_signature_of_63_have_bad_lengths),
        cmocka_unit_test(test_an_empty_body_and_an_empty_chain_id_are_missing_fields),
        cmocka_unit_test(test_unregistered_transaction_types_are_unknown),
        cmocka_unit_test(test_a_chain_id_of_65_bytes_is_too_large_and_64_is_fine),
        cmocka_unit_test(test_a_payload_over_its_limit_is_too_large_a_field),
        cmocka_unit_test(test_a_transfer_to_a_31_byte_key_has_a_bad_length),
        cmocka_unit_test(test_a_transfer_of_zero_is_a_zero_amount),
        cmocka_unit_test(test_a_transfer_beyond_int64_max_overflows_and_int64_max_is_fine),
        cmocka_unit_test(test_a_mint_without_a_bank_reference_is_missing_a_field),
        cmocka_unit_test(test_a_participant_with_nine_meter_keys_has_too_many),
        cmocka_unit_test(test_a_participant_kind_of_zero_or_seven_is_a_bad_value),
        cmocka_unit_test(test_setting_an_unknown_role_bit_is_a_bad_role),
        cmocka_unit_test(test_a_payload_that_is_not_canonical_is_refused_like_an_envelope),
        cmocka_unit_test(test_an_empty_payload_of_a_known_type_is_a_missing_field),
        cmocka_unit_test(test_zero_bytes_unpack_to_an_all_default_message),
        cmocka_unit_test(test_verify_fails_for_a_flipped_bit_in_the_body_the_signature_or_another_signer),
        cmocka_unit_test(test_a_decodable_envelope_with_a_signature_for_other_body_bytes_does_not_verify),
        cmocka_unit_test(test_every_error_code_has_a_distinct_value_a_message_and_a_name),
        cmocka_unit_test(test_decode_errors_live_in_the_decoding_range),
        cmocka_unit_test(test_a_registry_refuses_duplicate_types_and_type_zero),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
