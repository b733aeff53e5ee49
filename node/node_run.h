/* node_run.h -- one running gridnode: chain, consensus engine, mempool,
 * transport, sync and RPC on one libevent loop.
 *
 * The loop thread does everything but signature checks of submitted
 * transactions (node_mempool's workers).  The order of one consensus step
 * follows cons.h: persist the ready (node_store, one fsync) and only then
 * send its messages; apply committed blocks (chain_commit, one fsync each);
 * execute the blocks the engine asks for and report them. */
#ifndef NODE_RUN_H
#define NODE_RUN_H

#include <stdint.h>

#include "node_genesis.h"

enum node_byzantine {
    NODE_HONEST = 0,
    NODE_BYZ_GARBAGE = 1,    /* test only: half of our consensus messages become junk */
    NODE_BYZ_EQUIVOCATE = 2, /* test only: half become validly signed conflicting votes (PBFT) */
};

struct node_run_opts {
    enum node_byzantine byzantine;
    int verbose;
};

/* Run the node until SIGINT or SIGTERM.  Returns a process exit code;
 * every failure has printed a line saying why. */
int node_run(const struct node_config *cfg, const struct node_run_opts *opts);

#endif
