/* chain_scan.h -- ordered range scans of state by key prefix, inside execution.
 *
 * Market books, gate queues and other per-slot indexes are laid out as state
 * keys that share a prefix and sort in the order they must be read (big-endian
 * numbers inside the key).  A scan yields every live key under a prefix in
 * byte order (LMDB's order: memcmp, then the shorter key first), merging the
 * parent snapshot with the block's write-set: a key written in this block
 * shows its new value, a deleted one is skipped.  It reads the LMDB cursor
 * range, not all of state; the write-set part costs one pass over the
 * write-set's entries.  No hash-table order ever leaks out. */
#ifndef CHAIN_SCAN_H
#define CHAIN_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "chain_state.h"

/* Called once per live key, in key order.  key and val are valid during the
 * call only.  Return 0 to go on, a positive value to stop the scan (returned
 * by chain_state_scan), a negative error code to abort it (returned too).
 * The callback must not write keys under the scanned prefix. */
typedef int (*chain_scan_fn)(void *arg, const uint8_t *key, size_t klen, const uint8_t *val,
                             size_t vlen);

/* Scan keys starting with prefix (plen >= 1) from the first key >= start
 * (start may be NULL: from the prefix itself).  Errors: NOMEM, STORE, or the
 * callback's negative code; a positive callback value is passed through. */
int chain_state_scan(struct chain_exec_ctx *ctx, const void *prefix, size_t plen, const void *start,
                     size_t slen, chain_scan_fn fn, void *arg) CHAIN_MUST_USE;

#endif
