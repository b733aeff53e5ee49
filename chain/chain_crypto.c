/* chain_crypto.c -- domain-tagged BLAKE2b-256 and Ed25519 over libsodium.
 *
 * Signatures are over tag || message.  libsodium's crypto_sign_verify_detached
 * rejects non-canonical S and small-order keys, so a signature cannot be
 * mangled into a second valid one (no malleability of transaction ids). */
#include "chain_crypto.h"

#include <assert.h>
#include <sodium.h>
#include <string.h>

void chain_hash(uint8_t out[static CHAIN_HASH_BYTES], enum chain_tag tag, const void *data,
                size_t len)
{
    chain_hash2(out, tag, data, len, NULL, 0);
}

void chain_hash2(uint8_t out[static CHAIN_HASH_BYTES], enum chain_tag tag, const void *a,
                 size_t alen, const void *b, size_t blen)
{
    crypto_generichash_state st;
    uint8_t t = (uint8_t)tag;
    crypto_generichash_init(&st, NULL, 0, CHAIN_HASH_BYTES);
    crypto_generichash_update(&st, &t, 1);
    if (alen)
        crypto_generichash_update(&st, a, alen);
    if (blen)
        crypto_generichash_update(&st, b, blen);
    crypto_generichash_final(&st, out, CHAIN_HASH_BYTES);
}

int chain_crypto_init(void)
{
    return sodium_init() < 0 ? CHAIN_ERR_INTERNAL : CHAIN_ERR_OK;
}

void chain_keypair_from_seed(uint8_t pk[static CHAIN_PK_BYTES], uint8_t sk[static CHAIN_SK_BYTES],
                             const uint8_t seed[static 32])
{
    crypto_sign_seed_keypair(pk, sk, seed);
}

void chain_keypair_random(uint8_t pk[static CHAIN_PK_BYTES], uint8_t sk[static CHAIN_SK_BYTES])
{
    crypto_sign_keypair(pk, sk);
}

/* Signing tag || msg without copying: Ed25519ph would change the scheme, so we
 * build the message in a bounded stack buffer when small, heap otherwise. */
void chain_sign(uint8_t sig[static CHAIN_SIG_BYTES], enum chain_tag tag, const uint8_t *msg,
                size_t len, const uint8_t sk[static CHAIN_SK_BYTES])
{
    uint8_t buf[1 + CHAIN_TX_MAX_BYTES];
    assert(len <= CHAIN_TX_MAX_BYTES);
    buf[0] = (uint8_t)tag;
    if (len)
        memcpy(buf + 1, msg, len);
    crypto_sign_detached(sig, NULL, buf, len + 1, sk);
}

int chain_verify(const uint8_t sig[static CHAIN_SIG_BYTES], enum chain_tag tag, const uint8_t *msg,
                 size_t len, const uint8_t pk[static CHAIN_PK_BYTES])
{
    uint8_t buf[1 + CHAIN_TX_MAX_BYTES];
    if (len > CHAIN_TX_MAX_BYTES)
        return CHAIN_ERR_BAD_SIG;
    buf[0] = (uint8_t)tag;
    if (len)
        memcpy(buf + 1, msg, len);
    return crypto_sign_verify_detached(sig, buf, len + 1, pk) == 0 ? CHAIN_ERR_OK
                                                                    : CHAIN_ERR_BAD_SIG;
}

void chain_hex(char *out, const uint8_t *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

int chain_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t n)
{
    size_t got = 0;
    const char *end = NULL;
    if (hex_len != 2 * n)
        return -1;
    if (sodium_hex2bin(out, n, hex, hex_len, NULL, &got, &end) != 0 || got != n || end != hex + hex_len)
        return -1;
    return 0;
}
