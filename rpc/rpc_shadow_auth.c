/* rpc_shadow_auth.c -- the shadow-centre API's request signature header.
 *
 *   X-Gridledger-Signature: key=<64 hex>, nonce=<decimal ms>, sig=<128 hex>
 *
 * sig is Ed25519 by key over H = BLAKE2b-256(RPC_SHADOW_DOMAIN || 0x00 ||
 * chain_id || 0x00 || nonce as 8 bytes big-endian || body).  The domain
 * string keeps these signatures apart from transactions and votes (which
 * sign a one-byte tag first, never this ASCII prefix); the chain id keeps a
 * request for one chain from being replayed on another; the body carries
 * the JSON-RPC method and params, so nothing of the request is unsigned.
 *
 * The parser takes bytes from the network: bounded (RPC_SHADOW_HEADER_MAX),
 * every field exactly once, in any order, nothing else; it never asserts. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "chain_crypto.h"
#include "rpc.h"
#include "rpc_methods.h"

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

int rpc_shadow_auth_parse(const char *v, size_t len, struct rpc_shadow_auth *out, const char **why)
{
    bool have_key = false, have_nonce = false, have_sig = false;
    const char *p = v, *end = v + len;
    memset(out, 0, sizeof *out);
    *why = NULL;
    if (len == 0) {
        *why = "the header is empty";
        return -1;
    }
    if (len > RPC_SHADOW_HEADER_MAX) {
        *why = "the header is longer than 256 bytes";
        return -1;
    }
    for (;;) {
        while (p < end && is_space(*p))
            p++;
        const char *name = p;
        while (p < end && *p != '=' && *p != ',')
            p++;
        if (p == end || *p != '=') {
            *why = "expected name=value pairs: key=<hex>, nonce=<ms>, sig=<hex>";
            return -1;
        }
        size_t nl = (size_t)(p - name);
        p++; /* '=' */
        const char *val = p;
        while (p < end && *p != ',' && !is_space(*p))
            p++;
        size_t vl = (size_t)(p - val);
        if (nl == 3 && memcmp(name, "key", 3) == 0) {
            if (have_key) {
                *why = "key= appears twice";
                return -1;
            }
            if (chain_hex_decode(val, vl, out->key, sizeof out->key) != 0) {
                *why = "key= must be 64 hex digits (an Ed25519 public key)";
                return -1;
            }
            have_key = true;
        } else if (nl == 5 && memcmp(name, "nonce", 5) == 0) {
            if (have_nonce) {
                *why = "nonce= appears twice";
                return -1;
            }
            if (vl == 0 || vl > 20) {
                *why = "nonce= must be a decimal integer of 1 to 20 digits";
                return -1;
            }
            uint64_t n = 0;
            for (size_t i = 0; i < vl; i++) {
                if (val[i] < '0' || val[i] > '9') {
                    *why = "nonce= must be a decimal integer (digits only)";
                    return -1;
                }
                if (__builtin_mul_overflow(n, 10u, &n) ||
                    __builtin_add_overflow(n, (uint64_t)(val[i] - '0'), &n)) {
                    *why = "nonce= is above 2^64 - 1";
                    return -1;
                }
            }
            out->nonce = n;
            have_nonce = true;
        } else if (nl == 3 && memcmp(name, "sig", 3) == 0) {
            if (have_sig) {
                *why = "sig= appears twice";
                return -1;
            }
            if (chain_hex_decode(val, vl, out->sig, sizeof out->sig) != 0) {
                *why = "sig= must be 128 hex digits (an Ed25519 signature)";
                return -1;
            }
            have_sig = true;
        } else {
            *why = "unknown field; the header takes key=, nonce= and sig= only";
            return -1;
        }
        while (p < end && is_space(*p))
            p++;
        if (p == end)
            break;
        if (*p != ',') {
            *why = "fields must be separated by commas";
            return -1;
        }
        p++;
    }
    if (!have_key || !have_nonce || !have_sig) {
        *why = !have_key     ? "key= is missing"
               : !have_nonce ? "nonce= is missing"
                             : "sig= is missing";
        return -1;
    }
    return 0;
}

void rpc_shadow_auth_format(const struct rpc_shadow_auth *a, char *out, size_t outlen)
{
    char k[2 * 32 + 1], s[2 * 64 + 1];
    chain_hex(k, a->key, sizeof a->key);
    chain_hex(s, a->sig, sizeof a->sig);
    snprintf(out, outlen, "key=%s, nonce=%llu, sig=%s", k, (unsigned long long)a->nonce, s);
}

static void signed_hash(uint8_t h[32], const char *chain_id, uint64_t nonce, const char *body,
                        size_t len)
{
    crypto_generichash_state st;
    uint8_t nb[8], zero = 0;
    for (int i = 0; i < 8; i++)
        nb[i] = (uint8_t)(nonce >> (56 - 8 * i));
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)RPC_SHADOW_DOMAIN,
                              sizeof RPC_SHADOW_DOMAIN - 1);
    crypto_generichash_update(&st, &zero, 1);
    crypto_generichash_update(&st, (const uint8_t *)chain_id, strlen(chain_id));
    crypto_generichash_update(&st, &zero, 1);
    crypto_generichash_update(&st, nb, sizeof nb);
    crypto_generichash_update(&st, (const uint8_t *)body, len);
    crypto_generichash_final(&st, h, 32);
}

void rpc_shadow_auth_sign(struct rpc_shadow_auth *a, const char *chain_id, uint64_t nonce,
                          const char *body, size_t len, const uint8_t pk[32], const uint8_t sk[64])
{
    uint8_t h[32];
    signed_hash(h, chain_id, nonce, body, len);
    memcpy(a->key, pk, 32);
    a->nonce = nonce;
    crypto_sign_detached(a->sig, NULL, h, sizeof h, sk);
}

int rpc_shadow_auth_verify(const struct rpc_shadow_auth *a, const char *chain_id, const char *body,
                           size_t len)
{
    uint8_t h[32];
    signed_hash(h, chain_id, a->nonce, body, len);
    return crypto_sign_verify_detached(a->sig, h, sizeof h, a->key) == 0 ? 0 : -1;
}
