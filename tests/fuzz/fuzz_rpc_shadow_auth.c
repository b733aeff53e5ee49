/* fuzz_rpc_shadow_auth.c -- the shadow-centre API's X-Gridledger-Signature
 * header parser (rpc_shadow_auth_parse) on arbitrary bytes.
 *
 * Properties, for every input:
 *   - the parser never crashes and never reads past len (the input is not
 *     NUL-terminated);
 *   - a refusal names its reason (*why non-NULL), and input over
 *     RPC_SHADOW_HEADER_MAX bytes is always refused;
 *   - an accepted header formats back to a header that parses to the same
 *     key, nonce and signature (canonical round trip);
 *   - an accepted header's signature, checked over the input itself as the
 *     body, verifies only if it was made by that key: random input never
 *     carries a valid Ed25519 signature, so verification must fail. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_rpc_shadow_auth: property failed: %s (%s:%d)\n", #cond,          \
                    __FILE__, __LINE__);                                                           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = calloc(size ? size : 1, 1); /* exactly size bytes: ASan sees an over-read */
    CHECK(copy);
    if (size)
        memcpy(copy, data, size);
    struct rpc_shadow_auth a, b;
    const char *why = NULL;
    int rc = rpc_shadow_auth_parse(copy, size, &a, &why);
    if (rc != 0) {
        CHECK(rc == -1 && why != NULL);
    } else {
        CHECK(size <= RPC_SHADOW_HEADER_MAX);
        char hdr[RPC_SHADOW_HEADER_MAX];
        rpc_shadow_auth_format(&a, hdr, sizeof hdr);
        CHECK(rpc_shadow_auth_parse(hdr, strlen(hdr), &b, &why) == 0);
        CHECK(memcmp(&a, &b, sizeof a) == 0);
        CHECK(rpc_shadow_auth_verify(&a, "fuzz", copy, size) != 0);
    }
    if (size > RPC_SHADOW_HEADER_MAX)
        CHECK(rc == -1);
    free(copy);
    return 0;
}
