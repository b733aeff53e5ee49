/* mb_sink.h -- where readings go: a node, behind a small table of functions
 * (SQLite's VFS habit), so the tests can swap the node for a fake.
 *
 * Two implementations:
 *   mb_sink_rpc_open  -- JSON-RPC 2.0 over HTTP to gridnode (blocking, with
 *                        timeouts; loopback or LAN).  Methods used: submit_tx,
 *                        get_tx, get_account, and with verify_proof get_header
 *                        (its commit certificate checked against the genesis
 *                        validators by node/node_lightclient.c, the verifier
 *                        gridctl uses) and get_state (the proof against that
 *                        certified header's state root).
 *   mb_sink_mem_open  -- the test sink: an in-process "chain" that enforces
 *                        nonces and one reading per slot, optionally
 *                        appending every accepted envelope to a log file so
 *                        that a test can check what was committed across
 *                        gridmeter crashes. */
#ifndef MB_SINK_H
#define MB_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "chain_limits.h"
#include "mb_err.h"

enum mb_tx_status { MB_TX_UNKNOWN = 0, MB_TX_PENDING = 1, MB_TX_COMMITTED = 2 };

struct mb_sink {
    void *ctx;
    /* Hand a signed envelope to the node.  OK also when the node already has
     * it.  Errors: SINK_UNREACHABLE (retry later), SINK_REJECTED, SINK_PROTOCOL. */
    int (*submit)(void *ctx, const uint8_t *tx, size_t len);
    /* Is the envelope with this hash committed?  With verify_proof (RPC
     * sink), COMMITTED only when the header at the commit height carries a
     * commit certificate by a quorum of the genesis validators and the
     * reading (payload, exactly) is proven under that header's state root; a
     * header not yet certified is PENDING.  Errors: SINK_UNREACHABLE,
     * SINK_PROTOCOL, SINK_PROOF (a header, certificate or proof that does not
     * verify, or the state does not hold our reading). */
    int (*status)(void *ctx, const uint8_t hash[CHAIN_HASH_BYTES], const uint8_t pk[CHAIN_PK_BYTES],
                  uint64_t slot, const uint8_t *payload, size_t payload_len, enum mb_tx_status *st);
    /* The meter account's next nonce as the node sees it (0 when unknown to it). */
    int (*nonce)(void *ctx, const uint8_t pk[CHAIN_PK_BYTES], uint64_t *nonce);
    void (*close)(void *ctx);
};

struct node_lc_trust; /* node/node_lightclient.h: chain id, engine, genesis validators */

struct mb_rpc_opts {
    uint32_t timeout_ms; /* per request: connect + send + answer */
    bool verify_proof;
    /* With verify_proof, required: what the genesis file makes us trust
     * (node_lc_trust_from_genesis).  Copied by mb_sink_rpc_open. */
    const struct node_lc_trust *trust;
};

/* url: http://HOST:PORT[/path] (HOST a dotted IPv4 address or localhost).
 * Errors: CONFIG_BAD_VALUE for another URL, INVALID_ARG for verify_proof
 * without a trust, NOMEM. */
int mb_sink_rpc_open(struct mb_sink *s /* OUT */, const char *url,
                     const struct mb_rpc_opts *o) MB_MUST_USE;

/* log_path may be NULL (pure memory).  With a log, the sink's state is
 * rebuilt from it on open (so it outlives gridmeter restarts), every accepted
 * envelope is appended as one hex line, and a reading that conflicts with an
 * accepted one for the same (meter, slot) -- or reuses a nonce -- is
 * appended to log_path + ".conflicts".  While a file log_path + ".down" exists
 * the sink answers SINK_UNREACHABLE (a test's switch for "the node is down").
 * Errors: IO, NOMEM. */
int mb_sink_mem_open(struct mb_sink *s /* OUT */, const char *log_path) MB_MUST_USE;

/* The RPC sink's decoders of what a node sends, pure (the fuzz target calls them).
 * mb_http_response: an HTTP/1.x answer of n bytes -> the body's offset and
 * length (a Content-Length must fit what arrived).  Errors: SINK_PROTOCOL,
 * SINK_UNREACHABLE for a 5xx status.
 * mb_rpc_response: a JSON-RPC 2.0 response body -> *result (a new reference)
 * on OK; SINK_REJECTED with *code and data.error's name for an error object;
 * SINK_PROTOCOL for anything else. */
int mb_http_response(const char *buf, size_t n, size_t *body_off, size_t *body_len) MB_MUST_USE;
int mb_rpc_response(const char *body, size_t len, json_t **result, int *code,
                    char errname[64]) MB_MUST_USE;

/* Test controls of the memory sink. */
void mb_sink_mem_set_down(struct mb_sink *s, bool down); /* act unreachable */
uint64_t mb_sink_mem_committed(const struct mb_sink *s); /* accepted envelopes */
uint64_t mb_sink_mem_conflicts(const struct mb_sink *s); /* conflicting ones */

#endif
