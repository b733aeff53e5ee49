/* chain_proof.c -- hashing rules of the state tree, the pure proof verifier,
 * and the strict gl.StateProof codec.
 *
 * A light client links this file alone (with chain_crypto.c and the generated
 * protobuf code): no LMDB, and no allocation apart from the output buffer of
 * chain_proof_encode and protobuf-c's own unpacking in chain_proof_decode.
 *
 * Canonical form.  For every (root, key) there is exactly one proof that
 * verifies: the sibling path from the root down to the node where the key's
 * path leaves the tree (a leaf, or an empty subtree), with empty siblings
 * elided.  chain_proof_verify rejects anything else, so a proof can be used
 * as a stable identifier and a fuzzer finds no second encoding.
 *
 * SELF versus EMPTY on the wire.  A membership proof and a non-membership
 * proof ending in an empty subtree carry the same fields (depth, present,
 * siblings); only the claim differs.  chain_proof_decode therefore cannot
 * tell them apart and sets TERM_SELF, and chain_proof_verify reads the
 * terminal of such a proof by the claim: value_hash == NULL with TERM_SELF is
 * verified as TERM_EMPTY.  TERM_OTHER is the only terminal the wire encodes
 * (by other_key_hash being present). */
#include "chain_proof.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "chain.pb-c.h"
#include "chain_crypto.h"

const uint8_t chain_smt_empty[CHAIN_HASH_BYTES] = {0};

void chain_state_key_hash(uint8_t out[static CHAIN_HASH_BYTES], const void *key, size_t len)
{
    chain_hash(out, CHAIN_TAG_KEY, key, len);
}

void chain_value_hash(uint8_t out[static CHAIN_HASH_BYTES], const void *value, size_t len)
{
    chain_hash(out, CHAIN_TAG_VALUE, value, len);
}

void chain_leaf_hash(uint8_t out[static CHAIN_HASH_BYTES],
                     const uint8_t key_hash[static CHAIN_HASH_BYTES],
                     const uint8_t value_hash[static CHAIN_HASH_BYTES])
{
    chain_hash2(out, CHAIN_TAG_LEAF, key_hash, CHAIN_HASH_BYTES, value_hash, CHAIN_HASH_BYTES);
}

void chain_inner_hash(uint8_t out[static CHAIN_HASH_BYTES], const uint8_t left[static CHAIN_HASH_BYTES],
                      const uint8_t right[static CHAIN_HASH_BYTES])
{
    chain_hash2(out, CHAIN_TAG_INNER, left, CHAIN_HASH_BYTES, right, CHAIN_HASH_BYTES);
}

static bool present_bit(const uint8_t present[static CHAIN_SMT_DEPTH / 8], unsigned i)
{
    assert(i < CHAIN_SMT_DEPTH);
    return (((unsigned)present[i >> 3] >> (i & 7u)) & 1u) != 0;
}

static bool is_empty_hash(const uint8_t h[static CHAIN_HASH_BYTES])
{
    return memcmp(h, chain_smt_empty, CHAIN_HASH_BYTES) == 0;
}

/* True when no present bit at or past depth is set. */
static bool present_clean_past(const uint8_t present[static CHAIN_SMT_DEPTH / 8], uint32_t depth)
{
    assert(depth <= CHAIN_SMT_DEPTH);
    for (unsigned i = depth; i < CHAIN_SMT_DEPTH; i++)
        if (present_bit(present, i))
            return false;
    return true;
}

/* True when a and b agree on their first n bits (MSB-first). */
static bool share_prefix(const uint8_t a[static CHAIN_HASH_BYTES],
                         const uint8_t b[static CHAIN_HASH_BYTES], uint32_t n)
{
    assert(n <= CHAIN_SMT_DEPTH);
    uint32_t full = n / 8u, rest = n % 8u;
    if (memcmp(a, b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8u - rest));
    return ((a[full] ^ b[full]) & mask) == 0;
}

int chain_proof_verify(const uint8_t root[static CHAIN_HASH_BYTES],
                       const uint8_t key_hash[static CHAIN_HASH_BYTES], const uint8_t *value_hash,
                       const struct chain_proof *proof)
{
    assert(root != NULL && key_hash != NULL && proof != NULL);
    uint32_t depth = proof->depth;
    if (depth > CHAIN_SMT_DEPTH)
        return CHAIN_ERR_PROOF_INVALID;
    if (!present_clean_past(proof->present, depth))
        return CHAIN_ERR_PROOF_INVALID;
    /* In a compressed tree the terminal (a leaf or an empty subtree) always
     * has a non-empty sibling at its own level: otherwise the leaf would have
     * been lifted, or the empty subtree would be part of a larger one. */
    if (depth > 0 && !present_bit(proof->present, depth - 1))
        return CHAIN_ERR_PROOF_INVALID;

    uint8_t h[CHAIN_HASH_BYTES];
    switch (proof->terminal) {
    case CHAIN_PROOF_TERM_SELF:
    case CHAIN_PROOF_TERM_EMPTY:
        /* The wire does not distinguish SELF from EMPTY: the claim does. */
        if (value_hash != NULL)
            chain_leaf_hash(h, key_hash, value_hash);
        else
            memcpy(h, chain_smt_empty, CHAIN_HASH_BYTES);
        if (proof->terminal == CHAIN_PROOF_TERM_EMPTY && value_hash != NULL)
            return CHAIN_ERR_PROOF_INVALID;
        break;
    case CHAIN_PROOF_TERM_OTHER:
        if (value_hash != NULL)
            return CHAIN_ERR_PROOF_INVALID;
        if (memcmp(proof->other_key_hash, key_hash, CHAIN_HASH_BYTES) == 0)
            return CHAIN_ERR_PROOF_INVALID;
        if (!share_prefix(proof->other_key_hash, key_hash, depth))
            return CHAIN_ERR_PROOF_INVALID;
        chain_leaf_hash(h, proof->other_key_hash, proof->other_value_hash);
        break;
    default:
        return CHAIN_ERR_PROOF_INVALID;
    }

    for (uint32_t i = depth; i-- > 0;) {
        const uint8_t *sib = chain_smt_empty;
        if (present_bit(proof->present, i)) {
            sib = proof->siblings[i];
            if (is_empty_hash(sib))
                return CHAIN_ERR_PROOF_INVALID; /* an empty sibling must be elided */
        }
        uint8_t next[CHAIN_HASH_BYTES];
        if (chain_path_bit(key_hash, i))
            chain_inner_hash(next, sib, h);
        else
            chain_inner_hash(next, h, sib);
        memcpy(h, next, CHAIN_HASH_BYTES);
    }
    return memcmp(h, root, CHAIN_HASH_BYTES) == 0 ? CHAIN_ERR_OK : CHAIN_ERR_PROOF_INVALID;
}

int chain_proof_verify_kv(const uint8_t root[static CHAIN_HASH_BYTES], const void *key,
                          size_t key_len, const void *value, size_t value_len,
                          const struct chain_proof *proof)
{
    uint8_t kh[CHAIN_HASH_BYTES], vh[CHAIN_HASH_BYTES];
    chain_state_key_hash(kh, key, key_len);
    if (value == NULL)
        return chain_proof_verify(root, kh, NULL, proof);
    chain_value_hash(vh, value, value_len);
    return chain_proof_verify(root, kh, vh, proof);
}

static uint32_t present_bytes(uint32_t depth)
{
    return (depth + 7u) / 8u;
}

int chain_proof_encode(const struct chain_proof *proof, uint8_t **out, size_t *out_len)
{
    assert(proof != NULL && out != NULL && out_len != NULL);
    *out = NULL;
    *out_len = 0;
    if (proof->depth > CHAIN_SMT_DEPTH || !present_clean_past(proof->present, proof->depth))
        return CHAIN_ERR_INVALID_ARG;
    if (proof->terminal != CHAIN_PROOF_TERM_SELF && proof->terminal != CHAIN_PROOF_TERM_EMPTY &&
        proof->terminal != CHAIN_PROOF_TERM_OTHER)
        return CHAIN_ERR_INVALID_ARG;

    ProtobufCBinaryData sibs[CHAIN_SMT_DEPTH];
    size_t n = 0;
    for (unsigned i = 0; i < proof->depth; i++) {
        if (!present_bit(proof->present, i))
            continue;
        assert(n < CHAIN_SMT_DEPTH);
        sibs[n].len = CHAIN_HASH_BYTES;
        sibs[n].data = (uint8_t *)proof->siblings[i]; /* protobuf-c only reads it */
        n++;
    }

    Gl__StateProof m = GL__STATE_PROOF__INIT;
    m.depth = proof->depth;
    m.present.len = present_bytes(proof->depth);
    m.present.data = (uint8_t *)proof->present;
    m.n_siblings = n;
    m.siblings = n ? sibs : NULL;
    if (proof->terminal == CHAIN_PROOF_TERM_OTHER) {
        m.other_key_hash.len = CHAIN_HASH_BYTES;
        m.other_key_hash.data = (uint8_t *)proof->other_key_hash;
        m.other_value_hash.len = CHAIN_HASH_BYTES;
        m.other_value_hash.data = (uint8_t *)proof->other_value_hash;
    }

    size_t len = gl__state_proof__get_packed_size(&m);
    assert(len <= CHAIN_PROOF_MAX_BYTES);
    uint8_t *buf = malloc(len ? len : 1);
    if (buf == NULL)
        return CHAIN_ERR_NOMEM;
    size_t packed = gl__state_proof__pack(&m, buf);
    assert(packed == len);
    *out = buf;
    *out_len = packed;
    return CHAIN_ERR_OK;
}

static unsigned popcount8(uint8_t b)
{
    return (unsigned)__builtin_popcount(b);
}

/* Checks an unpacked message and fills proof; the message stays owned by the
 * caller. */
static int decode_fields(const Gl__StateProof *m, struct chain_proof *proof)
{
    if (m->depth > CHAIN_SMT_DEPTH)
        return CHAIN_ERR_DECODE_BAD_VALUE;
    uint32_t depth = m->depth;
    if (m->present.len != present_bytes(depth))
        return CHAIN_ERR_DECODE_BAD_LENGTH;
    if (m->present.len > 0 && m->present.data == NULL)
        return CHAIN_ERR_DECODE_MALFORMED;
    if (m->present.len > 0)
        memcpy(proof->present, m->present.data, m->present.len);
    if (!present_clean_past(proof->present, depth))
        return CHAIN_ERR_DECODE_BAD_VALUE;
    unsigned want = 0;
    for (size_t i = 0; i < m->present.len; i++)
        want += popcount8(proof->present[i]);
    if (m->n_siblings != want)
        return CHAIN_ERR_DECODE_BAD_VALUE;
    size_t k = 0;
    for (unsigned i = 0; i < depth; i++) {
        if (!present_bit(proof->present, i))
            continue;
        assert(k < m->n_siblings);
        if (m->siblings[k].len != CHAIN_HASH_BYTES)
            return CHAIN_ERR_DECODE_BAD_LENGTH;
        memcpy(proof->siblings[i], m->siblings[k].data, CHAIN_HASH_BYTES);
        k++;
    }
    assert(k == m->n_siblings);

    size_t okl = m->other_key_hash.len, ovl = m->other_value_hash.len;
    if ((okl != 0 && okl != CHAIN_HASH_BYTES) || (ovl != 0 && ovl != CHAIN_HASH_BYTES))
        return CHAIN_ERR_DECODE_BAD_LENGTH;
    if ((okl == 0) != (ovl == 0))
        return CHAIN_ERR_DECODE_MISSING_FIELD;
    if (okl) {
        proof->terminal = CHAIN_PROOF_TERM_OTHER;
        memcpy(proof->other_key_hash, m->other_key_hash.data, CHAIN_HASH_BYTES);
        memcpy(proof->other_value_hash, m->other_value_hash.data, CHAIN_HASH_BYTES);
    } else {
        proof->terminal = CHAIN_PROOF_TERM_SELF; /* or EMPTY: the claim decides */
    }
    proof->depth = depth;
    return CHAIN_ERR_OK;
}

int chain_proof_decode(const uint8_t *bytes, size_t len, struct chain_proof *proof)
{
    assert(proof != NULL);
    memset(proof, 0, sizeof *proof);
    if (len > CHAIN_PROOF_MAX_BYTES)
        return CHAIN_ERR_DECODE_TOO_LARGE;
    if (bytes == NULL && len != 0)
        return CHAIN_ERR_INVALID_ARG;

    static const uint8_t none[1] = {0};
    Gl__StateProof *m = gl__state_proof__unpack(NULL, len, len ? bytes : none);
    if (m == NULL)
        return CHAIN_ERR_DECODE_MALFORMED;

    int rc;
    if (m->base.n_unknown_fields > 0) {
        rc = CHAIN_ERR_DECODE_TRAILING;
        goto done;
    }
    /* Canonical bytes only: what protobuf-c packs, no duplicates, no reordering. */
    size_t plen = gl__state_proof__get_packed_size(m);
    if (plen != len) {
        rc = CHAIN_ERR_DECODE_NONCANONICAL;
        goto done;
    }
    if (plen > 0) {
        uint8_t buf[CHAIN_PROOF_MAX_BYTES];
        size_t got = gl__state_proof__pack(m, buf);
        assert(got == plen);
        if (memcmp(buf, bytes, plen) != 0) {
            rc = CHAIN_ERR_DECODE_NONCANONICAL;
            goto done;
        }
    }
    rc = decode_fields(m, proof);
done:
    gl__state_proof__free_unpacked(m, NULL);
    if (rc != CHAIN_ERR_OK)
        memset(proof, 0, sizeof *proof);
    return rc;
}
