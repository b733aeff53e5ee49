/* node_store.h -- what the consensus engine asks the node to keep across a
 * crash: its hard state, its log entries, and each committed block's
 * certificate by height.  An LMDB env of its own (<data_dir>/cons), separate
 * from the chain's, written in one transaction per cons_ready (one fsync)
 * BEFORE the node sends any message of that ready (cons.h: persist, sync,
 * then send).
 *
 * Databases:  meta   "hard" -> the engine's hard state bytes
 *             log    height (8, BE) -> term (8, BE) || hash (32) || data
 *             certs  height (8, BE) -> gl.Cert */
#ifndef NODE_STORE_H
#define NODE_STORE_H

#include <lmdb.h>
#include <stdbool.h>

#include "cons.h"
#include "node_err.h"

struct node_store {
    MDB_env *env;
    MDB_dbi meta, log, certs;
};

/* Errors: STORE (with a line on stderr). */
int node_store_open(struct node_store *s, const char *dir, bool no_sync) NODE_MUST_USE;
void node_store_close(struct node_store *s); /* accepts a zeroed store */

/* Everything persisted, for cons_open: malloc'd copies, freed with
 * node_store_disk_free.  applied_height is left 0 (the caller knows it). */
struct node_store_disk {
    struct cons_disk disk;
    uint8_t *hard;
    struct cons_entry *entries;
};
int node_store_load(struct node_store *s, struct node_store_disk *out /* OUT */) NODE_MUST_USE;
void node_store_disk_free(struct node_store_disk *d);

/* Persist a ready's hard state and entries (an entry replaces every stored
 * entry at or above its height, as does truncate_from) and the certificates
 * of its committed blocks, in one synced transaction.  Errors: STORE, NOMEM. */
int node_store_persist(struct node_store *s, const struct cons_ready *r) NODE_MUST_USE;
/* Store one certificate (blocks applied through sync).  Errors: STORE, NOMEM. */
int node_store_put_cert(struct node_store *s, const struct cons_cert *c) NODE_MUST_USE;
/* Errors: NOT_FOUND, STORE. */
int node_store_get_cert(struct node_store *s, uint64_t height,
                        struct cons_cert *out /* OUT */) NODE_MUST_USE;
/* Drop log entries below height (PBFT keeps only recent committed records).
 * Errors: STORE. */
int node_store_prune_log(struct node_store *s, uint64_t below) NODE_MUST_USE;

#endif
