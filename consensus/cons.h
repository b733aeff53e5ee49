/* cons.h -- one interface for both consensus engines (Raft and PBFT).
 *
 * The engines are sans-IO state machines (etcd raft's Ready, canonical/raft's
 * fixture, TigerBeetle's injected time): the caller feeds them ticks,
 * messages (bytes exactly as received) and proposals; each call fills a
 * struct cons_ready with what to do next, in this order:
 *
 *   1. persist  ready.hard_state (when changed) and ready.entries (after
 *               dropping stored entries >= ready.truncate_from), and sync;
 *   2. send     ready.msgs;
 *   3. execute  ready.execute: validate and execute each block, then report
 *               with cons_executed() (PBFT votes only after this, so its
 *               certificate covers the state root in the header);
 *   4. apply    ready.committed, in height order, each with its certificate;
 *   5. call     cons_advance() so the engine frees the ready's buffers.
 *
 * Nothing here does I/O, reads a clock or calls rand(): time is ticks, the
 * PRNG is seeded from the config and lives in the engine, and signatures go
 * through the injected struct cons_crypto.  consensus/ includes nothing of
 * the project but its own headers.
 *
 * Commit certificates are the same for both engines: signatures over
 * cons_vote_msg(height, block hash) by more than the quorum of validators
 * (Raft: more than half; PBFT: more than two thirds).  cons_cert_check() is
 * the pure function light clients run.
 *
 * Raft signs only what is safe to certify (Raft §5.4.2, Figure 8): a follower
 * signs a block when it acknowledges an entry of the current leader's own
 * term, or once it knows the block is committed; a majority of such
 * signatures therefore always means committed.  PBFT replicas sign their
 * COMMIT vote only once prepared (2f+1 matching prepares incl. their own). */
#ifndef CONS_H
#define CONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONS_KEY_BYTES 32u
#define CONS_SIG_BYTES 64u
#define CONS_HASH_BYTES 32u
#define CONS_NODES_MAX 32u
#define CONS_BROADCAST UINT32_MAX        /* cons_out_msg.to: every other validator */
#define CONS_MSG_MAX_BYTES (8u << 20)    /* any encoded message, block included */
#define CONS_HARD_STATE_MAX_BYTES 4096u
#define CONS_VOTE_MSG_BYTES (16u + 8u + CONS_HASH_BYTES)

#define CONS_ERRORS(X)                                                                          \
    X(OK, 0, "ok")                                                                              \
    X(NOMEM, -1, "out of memory")                                                               \
    X(INVALID_ARG, -2, "invalid argument")                                                      \
    X(MSG_MALFORMED, -10, "consensus message does not decode")                                  \
    X(MSG_TOO_LARGE, -11, "consensus message exceeds its size limit")                           \
    X(MSG_BAD_SENDER, -12, "message sender is not a validator or claims another identity")      \
    X(MSG_BAD_SIG, -13, "signature on a consensus message does not verify")                     \
    X(MSG_BAD_HASH, -14, "block bytes do not hash to the claimed block hash")                   \
    X(MSG_STALE, -15, "message is for an old term, view or height")                             \
    X(NOT_LEADER, -20, "this node is not the leader or primary; propose on the leader")         \
    X(BUSY, -21, "a block is already in flight; propose after it commits")                      \
    X(BAD_HEIGHT, -22, "proposal is not for the next height")                                   \
    X(BAD_STATE, -23, "persisted consensus state does not decode")                              \
    X(CERT_INVALID, -30, "commit certificate does not carry a quorum of valid signatures")

enum cons_err {
#define CONS_ERR_ENUM_(name, code, msg) CONS_ERR_##name = (code),
    CONS_ERRORS(CONS_ERR_ENUM_)
#undef CONS_ERR_ENUM_
};
const char *cons_strerror(int err);
const char *cons_err_name(int err);

enum cons_engine { CONS_ENGINE_RAFT = 1, CONS_ENGINE_PBFT = 2 };

/* Injected signing and hashing.  sign signs with this node's key; verify
 * checks a validator's signature; block_hash returns false when the bytes
 * are not a block at all (the engine then drops the message). */
struct cons_crypto {
    void *ctx;
    void (*sign)(void *ctx, const uint8_t *msg, size_t len, uint8_t sig[CONS_SIG_BYTES]);
    bool (*verify)(void *ctx, const uint8_t key[CONS_KEY_BYTES], const uint8_t *msg, size_t len,
                   const uint8_t sig[CONS_SIG_BYTES]);
    bool (*block_hash)(void *ctx, const uint8_t *block, size_t len, uint8_t out[CONS_HASH_BYTES]);
};

/* Deliberate bugs for the test that proves the simulator can fail.  Only
 * honoured when the engines are compiled with -DCONS_TEST_BUGS; ignored
 * (and asserted zero) otherwise. */
enum cons_bug {
    CONS_BUG_RAFT_MINORITY_COMMIT = 1u << 0, /* leader commits with a minority of acks */
    CONS_BUG_PBFT_2F_PREPARES = 1u << 1,     /* prepared with 2f matching prepares, not 2f+1 */
    CONS_BUG_FORGET_VOTE = 1u << 2,          /* vote / signed votes not in the hard state */
};

struct cons_config {
    enum cons_engine engine;
    uint32_t self;                        /* index of this node in keys[] */
    uint32_t n;                           /* validators, 1..CONS_NODES_MAX (PBFT: >= 4) */
    uint8_t keys[CONS_NODES_MAX][CONS_KEY_BYTES];
    uint64_t seed;                        /* the engine's PRNG (election jitter) */
    uint32_t election_ticks;              /* Raft: base election timeout, randomised to [t, 2t) */
    uint32_t heartbeat_ticks;             /* Raft: leader heartbeat */
    uint32_t round_ticks;                 /* PBFT: base view-change timeout */
    uint32_t round_ticks_max;             /* PBFT: cap of the doubling backoff */
    uint32_t checkpoint_interval;         /* PBFT: heights between checkpoints */
    struct cons_crypto crypto;
    uint32_t bugs;                        /* enum cons_bug bits, test builds only */
};

/* A block as consensus sees it: opaque bytes and the hash the application
 * computes over them (the header hash). */
struct cons_block {
    uint64_t height;
    uint8_t hash[CONS_HASH_BYTES];
    const uint8_t *data; /* valid until cons_advance() of the ready it came in */
    size_t len;
};

struct cons_sig {
    uint32_t signer;
    uint8_t sig[CONS_SIG_BYTES];
};

struct cons_cert {
    uint64_t height;
    uint8_t hash[CONS_HASH_BYTES];
    uint32_t n_sigs;
    struct cons_sig sigs[CONS_NODES_MAX];
};

/* An entry of the persisted log: Raft's log; PBFT's accepted pre-prepares. */
struct cons_entry {
    uint64_t height;
    uint64_t term;          /* Raft term or PBFT view of the proposal */
    uint8_t hash[CONS_HASH_BYTES];
    const uint8_t *data;
    size_t len;
};

struct cons_out_msg {
    uint32_t to;            /* validator index or CONS_BROADCAST */
    const uint8_t *data;    /* encoded message, valid until cons_advance() */
    size_t len;
};

struct cons_commit {
    struct cons_block block;
    struct cons_cert cert;
};

struct cons_ready {
    /* 1. persist, then sync */
    bool hard_state_changed;
    uint8_t hard_state[CONS_HARD_STATE_MAX_BYTES];
    size_t hard_state_len;
    uint64_t truncate_from;          /* 0: none; else drop stored entries >= this height first */
    struct cons_entry *entries;
    size_t n_entries;
    /* 2. send */
    struct cons_out_msg *msgs;
    size_t n_msgs;
    /* 3. execute and report with cons_executed() */
    struct cons_block *execute;
    size_t n_execute;
    /* 4. apply */
    struct cons_commit *committed;
    size_t n_committed;
};

/* What a node persisted, handed back on restart. */
struct cons_disk {
    const uint8_t *hard_state;
    size_t hard_state_len;           /* 0: a fresh node */
    const struct cons_entry *entries;
    size_t n_entries;                /* consecutive heights, ascending */
    uint64_t applied_height;         /* highest height the application has applied */
};

struct cons; /* opaque: an engine instance */

/* Create an engine from config and (possibly empty) persisted state.
 * Errors: INVALID_ARG, BAD_STATE, NOMEM. */
int cons_open(struct cons **out, const struct cons_config *cfg, const struct cons_disk *disk);
void cons_close(struct cons *c); /* accepts NULL */

/* Each call below clears *out first; the caller processes it and then calls
 * cons_advance(c, out) before the next call. */
void cons_tick(struct cons *c, struct cons_ready *out);
/* A message from validator `from` (the transport authenticated the peer).
 * Errors: MSG_* (the message is dropped; the engine is unchanged). */
int cons_step(struct cons *c, uint32_t from, const uint8_t *msg, size_t len, struct cons_ready *out);
/* Propose the next block (leader / primary only).
 * Errors: NOT_LEADER, BUSY, BAD_HEIGHT. */
int cons_propose(struct cons *c, const struct cons_block *b, struct cons_ready *out);
/* Result of executing a block from ready.execute: valid means it executed
 * and its header's state root matched. */
int cons_executed(struct cons *c, uint64_t height, const uint8_t hash[CONS_HASH_BYTES], bool valid,
                  struct cons_ready *out);
void cons_advance(struct cons *c, struct cons_ready *done);

/* Introspection for nodes, tests and the simulator. */
struct cons_status {
    enum cons_engine engine;
    uint64_t term;          /* Raft term or PBFT view */
    int32_t leader;         /* known leader / primary, -1 if none */
    bool is_leader;
    uint64_t committed;     /* highest committed height */
    uint64_t next_height;   /* height the next proposal must have */
    bool can_propose;       /* leader with nothing in flight */
};
void cons_status(const struct cons *c, struct cons_status *st);

/* Evidence of equivocation (PBFT): two signed votes by one validator for
 * different blocks at one height and view.  Returns how many are kept and
 * copies up to max of them. */
struct cons_evidence {
    uint32_t validator;
    uint64_t height, view;
    uint8_t hash_a[CONS_HASH_BYTES], hash_b[CONS_HASH_BYTES];
    uint8_t sig_a[CONS_SIG_BYTES], sig_b[CONS_SIG_BYTES];
    uint8_t kind;           /* 1 prepare, 2 commit */
};
size_t cons_evidence(const struct cons *c, struct cons_evidence *out, size_t max);

/* ---- simulation support (gridsim's Byzantine nodes) ---- */

/* Given one of this node's own outgoing messages, write into out (capacity
 * *out_len, CONS_MSG_MAX_BYTES is always enough) a validly signed message of
 * the same kind, height and view/term that names a different block (salt
 * picks which), as an equivocating validator would.  Returns CONS_ERR_OK, or
 * INVALID_ARG when the message kind carries no block choice (then the
 * simulator sends the original).  Never called by a real node. */
int cons_equivocate(struct cons *c, const uint8_t *msg, size_t len, uint64_t salt, uint8_t *out,
                    size_t *out_len);

/* ---- certificates (pure; light clients use these) ---- */

/* The bytes every vote signs: "gridledger-vote\0" || height (8, BE) || hash. */
void cons_vote_msg(uint8_t out[CONS_VOTE_MSG_BYTES], uint64_t height, const uint8_t hash[CONS_HASH_BYTES]);
/* Smallest number of distinct signers that certifies a block. */
uint32_t cons_quorum(enum cons_engine e, uint32_t n);
/* CONS_ERR_OK when cert holds at least cons_quorum(e, n) valid signatures by
 * distinct validators over cons_vote_msg(cert->height, cert->hash).
 * Errors: CERT_INVALID. */
int cons_cert_check(enum cons_engine e, uint32_t n, const uint8_t keys[][CONS_KEY_BYTES],
                    const struct cons_cert *cert,
                    bool (*verify)(void *ctx, const uint8_t key[CONS_KEY_BYTES], const uint8_t *msg,
                                   size_t len, const uint8_t sig[CONS_SIG_BYTES]),
                    void *ctx);

#endif
