/* chain_smt.c -- the authenticated state tree: a compressed sparse Merkle
 * tree stored in LMDB as immutable, versioned nodes (Diem's Jellyfish Merkle
 * tree, binary form).  Hashing rules: chain_proof.h.
 *
 * Node key (nodes db), 42 bytes in memory, stored cut after the path byte
 * that holds bit depth-1 (10 + ceil(depth/8) bytes; see stored_key_len):
 *     version (8, big-endian) || depth (2, big-endian) || path (32, bits >= depth zeroed)
 * Depth takes two bytes because a leaf can sit at depth 256 (two keys sharing
 * 255 bits put their inner node at 255 and the leaves one level below); one
 * byte would need an error for a legal, if astronomically unlikely, input.
 * Inner nodes are at depth 0..255, leaves at 0..256.
 *
 * Node records (values in the nodes db):
 *     inner: 0x01 || child[0] || child[1]                       83 bytes
 *            child = kind (1) || version (8, BE) || hash (32)
 *            kind 0 = empty (version 0, hash zero), 1 = inner, 2 = leaf
 *     leaf:  0x02 || key_hash (32) || value_hash (32) || value  65 + value_len bytes
 * A child's node key is its version, depth + 1 and the parent's path with the
 * child's bit set, so a walk needs no back pointers.
 *
 * roots db:  version (8, BE) -> ref = kind (1) || version (8, BE) || hash (32)
 * stale db:  stale_since (8, BE) || node key (42) -> ""
 *   A node becomes stale at the version whose batch replaced it, moved it
 *   (a leaf lifted or pushed down) or deleted it; versions >= stale_since no
 *   longer reach it, so chain_smt_prune(keep_from) may drop it when
 *   stale_since <= keep_from.
 *
 * The batch update (chain_smt_compute) follows JMT's batch_put: the sorted
 * updates are split by the bit at the current depth and pushed down the
 * existing tree; an existing leaf met on the way is merged with them; an
 * empty subtree is built from them.  A subtree that ends up holding a single
 * leaf returns it "floating" -- hashed but not yet placed -- and the first
 * ancestor that has two non-empty children writes it, one level below itself.
 * So a leaf is never written and then moved within a batch, and every new
 * node is hashed exactly once.  Subtrees whose children come back unchanged
 * (deletes of absent keys, a value rewritten to the same bytes) keep their old
 * node and are not marked stale. */
#include "chain_smt.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NODE_KEY_BYTES 42u  /* version 8 || depth 2 || path 32 */
#define STALE_KEY_BYTES 50u /* stale_since 8 || node key */
#define REF_BYTES 41u       /* kind 1 || version 8 || hash 32 */
#define INNER_REC_BYTES (1u + 2u * REF_BYTES)
#define LEAF_REC_HDR_BYTES (1u + 2u * CHAIN_HASH_BYTES)

enum { KIND_EMPTY = 0, KIND_INNER = 1, KIND_LEAF = 2 };

/* A reference to a child (or the root): what an inner record stores, plus,
 * during compute, a floating leaf's contents. */
struct ref {
    uint8_t kind;
    bool floating; /* a leaf of this batch (or an old one being moved), not yet placed */
    uint64_t version;
    uint8_t hash[CHAIN_HASH_BYTES];
    /* floating leaves only: */
    uint8_t key_hash[CHAIN_HASH_BYTES];
    uint8_t value_hash[CHAIN_HASH_BYTES];
    const uint8_t *value; /* borrowed: caller's update or LMDB memory, until compute returns */
    size_t value_len;
};

struct new_node {
    uint8_t key[NODE_KEY_BYTES];
    size_t off, len; /* record in the batch arena */
};

struct chain_smt_batch {
    uint64_t version;
    struct ref root; /* never floating once compute returns */
    struct new_node *nodes;
    size_t n_nodes, cap_nodes;
    uint8_t *arena;
    size_t arena_len, arena_cap;
    uint8_t (*stale)[NODE_KEY_BYTES];
    size_t n_stale, cap_stale;
};

struct ctx {
    MDB_txn *txn;
    const struct chain_smt *smt;
    MDB_cursor *cur;                     /* on nodes: one cursor for every read of a batch */
    uint64_t version;                    /* new version */
    const struct chain_smt_update *ups;  /* sorted by key_hash */
    const size_t *ins;                   /* ins[i] = inserts among ups[0..i) */
    const uint8_t (*vh)[CHAIN_HASH_BYTES]; /* value hash of each insert */
    struct chain_smt_batch *b;
};

/* ---- small encodings ---- */

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)(v & 0xffu);
        v >>= 8;
    }
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Bytes of a node key as stored: the path is cut after the bytes that hold
 * its first depth bits.  Within one version and depth all stored keys have
 * the same length and the cut bytes are zero, so LMDB's order is the order
 * of the full 42-byte keys; shorter keys mean more per page, a shallower
 * B-tree and cheaper comparisons on every lookup. */
static size_t stored_key_len(const uint8_t key[static NODE_KEY_BYTES])
{
    unsigned depth = (unsigned)key[8] << 8 | key[9];
    return 10u + (depth + 7u) / 8u;
}

static void node_key(uint8_t out[static NODE_KEY_BYTES], uint64_t version, unsigned depth,
                     const uint8_t path[static CHAIN_HASH_BYTES])
{
    assert(depth <= CHAIN_SMT_DEPTH);
    put_be64(out, version);
    out[8] = (uint8_t)(depth >> 8);
    out[9] = (uint8_t)(depth & 0xffu);
    uint8_t *p = out + 10;
    memset(p, 0, CHAIN_HASH_BYTES);
    unsigned full = depth / 8u, rest = depth % 8u;
    memcpy(p, path, full);
    if (rest)
        p[full] = (uint8_t)(path[full] & (0xffu << (8u - rest)));
}

/* path with bit i forced to side (bits past i are left as they are: node_key masks them). */
static void path_with_bit(uint8_t out[static CHAIN_HASH_BYTES],
                          const uint8_t path[static CHAIN_HASH_BYTES], unsigned i, unsigned side)
{
    assert(i < CHAIN_SMT_DEPTH && side <= 1);
    memcpy(out, path, CHAIN_HASH_BYTES);
    uint8_t m = (uint8_t)(0x80u >> (i & 7u));
    if (side)
        out[i >> 3] = (uint8_t)(out[i >> 3] | m);
    else
        out[i >> 3] = (uint8_t)(out[i >> 3] & (uint8_t)~m);
}

static bool share_prefix(const uint8_t a[static CHAIN_HASH_BYTES],
                         const uint8_t b[static CHAIN_HASH_BYTES], unsigned n)
{
    assert(n <= CHAIN_SMT_DEPTH);
    unsigned full = n / 8u, rest = n % 8u;
    if (memcmp(a, b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((a[full] ^ b[full]) & (0xffu << (8u - rest))) == 0;
}

static void ref_encode(uint8_t out[static REF_BYTES], const struct ref *r)
{
    assert(!r->floating);
    out[0] = r->kind;
    put_be64(out + 1, r->version);
    memcpy(out + 9, r->hash, CHAIN_HASH_BYTES);
}

/* Parses a stored ref; STORE if it is not one we could have written. */
static int ref_decode(const uint8_t in[static REF_BYTES], struct ref *r)
{
    memset(r, 0, sizeof *r);
    r->kind = in[0];
    r->version = get_be64(in + 1);
    memcpy(r->hash, in + 9, CHAIN_HASH_BYTES);
    bool zero = memcmp(r->hash, chain_smt_empty, CHAIN_HASH_BYTES) == 0;
    switch (r->kind) {
    case KIND_EMPTY:
        return (zero && r->version == 0) ? CHAIN_ERR_OK : CHAIN_ERR_STORE;
    case KIND_INNER:
    case KIND_LEAF:
        return zero ? CHAIN_ERR_STORE : CHAIN_ERR_OK;
    default:
        return CHAIN_ERR_STORE;
    }
}

static void ref_empty(struct ref *r)
{
    memset(r, 0, sizeof *r);
    r->kind = KIND_EMPTY;
}

static bool ref_same(const struct ref *a, const struct ref *b)
{
    return !a->floating && !b->floating && a->kind == b->kind && a->version == b->version &&
           memcmp(a->hash, b->hash, CHAIN_HASH_BYTES) == 0;
}

static int store_err(int rc)
{
    assert(rc != MDB_SUCCESS);
    return rc == MDB_MAP_FULL ? CHAIN_ERR_STORE_FULL : CHAIN_ERR_STORE;
}

/* ---- reading nodes ---- */

/* Record of the node (version, depth, path).  A node a ref points to that is
 * missing means a damaged or concurrently pruned store: STORE. */
static int read_node(MDB_txn *txn, const struct chain_smt *smt, MDB_cursor *cur, uint64_t version,
                     unsigned depth, const uint8_t path[static CHAIN_HASH_BYTES], MDB_val *rec)
{
    uint8_t k[NODE_KEY_BYTES];
    node_key(k, version, depth, path);
    MDB_val key = {.mv_size = stored_key_len(k), .mv_data = k};
    int rc = cur ? mdb_cursor_get(cur, &key, rec, MDB_SET) : mdb_get(txn, smt->nodes, &key, rec);
    if (rc != MDB_SUCCESS)
        return CHAIN_ERR_STORE;
    return CHAIN_ERR_OK;
}

static int read_inner(MDB_txn *txn, const struct chain_smt *smt, MDB_cursor *cur, uint64_t version,
                      unsigned depth, const uint8_t path[static CHAIN_HASH_BYTES], struct ref *l,
                      struct ref *r)
{
    if (depth >= CHAIN_SMT_DEPTH)
        return CHAIN_ERR_STORE;
    MDB_val rec;
    int rc = read_node(txn, smt, cur, version, depth, path, &rec);
    if (rc)
        return rc;
    const uint8_t *p = rec.mv_data;
    if (rec.mv_size != INNER_REC_BYTES || p[0] != KIND_INNER)
        return CHAIN_ERR_STORE;
    if ((rc = ref_decode(p + 1, l)) || (rc = ref_decode(p + 1 + REF_BYTES, r)))
        return rc;
    /* Children are never newer than their parent, and never both empty. */
    if (l->version > version || r->version > version ||
        (l->kind == KIND_EMPTY && r->kind == KIND_EMPTY))
        return CHAIN_ERR_STORE;
    return CHAIN_ERR_OK;
}

struct leaf_view {
    const uint8_t *key_hash, *value_hash, *value; /* LMDB memory, valid until txn ends */
    size_t value_len;
};

static int read_leaf(MDB_txn *txn, const struct chain_smt *smt, MDB_cursor *cur, uint64_t version,
                     unsigned depth, const uint8_t path[static CHAIN_HASH_BYTES], struct leaf_view *lv)
{
    MDB_val rec;
    int rc = read_node(txn, smt, cur, version, depth, path, &rec);
    if (rc)
        return rc;
    const uint8_t *p = rec.mv_data;
    if (rec.mv_size < LEAF_REC_HDR_BYTES ||
        rec.mv_size > LEAF_REC_HDR_BYTES + CHAIN_STATE_VALUE_MAX_BYTES || p[0] != KIND_LEAF)
        return CHAIN_ERR_STORE;
    lv->key_hash = p + 1;
    lv->value_hash = p + 1 + CHAIN_HASH_BYTES;
    lv->value = p + LEAF_REC_HDR_BYTES;
    lv->value_len = rec.mv_size - LEAF_REC_HDR_BYTES;
    if (!share_prefix(lv->key_hash, path, depth))
        return CHAIN_ERR_STORE;
    return CHAIN_ERR_OK;
}

static int read_root(MDB_txn *txn, const struct chain_smt *smt, uint64_t version, struct ref *root)
{
    if (version == CHAIN_SMT_NO_VERSION) {
        ref_empty(root);
        return CHAIN_ERR_OK;
    }
    uint8_t k[8];
    put_be64(k, version);
    MDB_val key = {.mv_size = 8, .mv_data = k}, val;
    int rc = mdb_get(txn, smt->roots, &key, &val);
    if (rc == MDB_NOTFOUND)
        return CHAIN_ERR_VERSION_PRUNED;
    if (rc != MDB_SUCCESS)
        return CHAIN_ERR_STORE;
    if (val.mv_size != REF_BYTES)
        return CHAIN_ERR_STORE;
    rc = ref_decode(val.mv_data, root);
    if (rc)
        return rc;
    return root->version > version ? CHAIN_ERR_STORE : CHAIN_ERR_OK;
}

/* ---- public: open, root, latest ---- */

int chain_smt_open(MDB_txn *txn, struct chain_smt *smt)
{
    assert(txn != NULL && smt != NULL);
    memset(smt, 0, sizeof *smt);
    if (mdb_dbi_open(txn, "smt_nodes", MDB_CREATE, &smt->nodes) != MDB_SUCCESS ||
        mdb_dbi_open(txn, "smt_stale", MDB_CREATE, &smt->stale) != MDB_SUCCESS ||
        mdb_dbi_open(txn, "smt_roots", MDB_CREATE, &smt->roots) != MDB_SUCCESS)
        return CHAIN_ERR_STORE;
    return CHAIN_ERR_OK;
}

int chain_smt_root(MDB_txn *txn, const struct chain_smt *smt, uint64_t version,
                   uint8_t root[static CHAIN_HASH_BYTES])
{
    assert(txn != NULL && smt != NULL);
    if (version == CHAIN_SMT_NO_VERSION)
        return CHAIN_ERR_VERSION_PRUNED;
    struct ref r;
    int rc = read_root(txn, smt, version, &r);
    if (rc)
        return rc;
    memcpy(root, r.hash, CHAIN_HASH_BYTES);
    return CHAIN_ERR_OK;
}

int chain_smt_latest(MDB_txn *txn, const struct chain_smt *smt, uint64_t *version)
{
    assert(txn != NULL && smt != NULL && version != NULL);
    *version = CHAIN_SMT_NO_VERSION;
    MDB_cursor *c;
    if (mdb_cursor_open(txn, smt->roots, &c) != MDB_SUCCESS)
        return CHAIN_ERR_STORE;
    MDB_val k, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND)
        return CHAIN_ERR_OK;
    if (rc != MDB_SUCCESS || k.mv_size != 8)
        return CHAIN_ERR_STORE;
    *version = get_be64(k.mv_data);
    return CHAIN_ERR_OK;
}

/* ---- the batch: growable arrays ---- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return CHAIN_ERR_OK;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 2)
            return CHAIN_ERR_NOMEM;
        nc *= 2;
    }
    size_t bytes;
    if (__builtin_mul_overflow(nc, elem, &bytes))
        return CHAIN_ERR_NOMEM;
    void *np = realloc(*p, bytes);
    if (np == NULL)
        return CHAIN_ERR_NOMEM;
    *p = np;
    *cap = nc;
    return CHAIN_ERR_OK;
}

static int mark_stale(struct ctx *c, uint64_t version, unsigned depth,
                      const uint8_t path[static CHAIN_HASH_BYTES])
{
    struct chain_smt_batch *b = c->b;
    assert(version < c->version);
    void *p = b->stale;
    int rc = grow(&p, &b->cap_stale, b->n_stale + 1, NODE_KEY_BYTES);
    b->stale = p;
    if (rc)
        return rc;
    node_key(b->stale[b->n_stale++], version, depth, path);
    return CHAIN_ERR_OK;
}

/* Appends a new node (version c->version) whose record is the concatenation
 * of up to three parts. */
static int emit(struct ctx *c, unsigned depth, const uint8_t path[static CHAIN_HASH_BYTES],
                const void *p1, size_t n1, const void *p2, size_t n2, const void *p3, size_t n3)
{
    struct chain_smt_batch *b = c->b;
    size_t len = n1 + n2 + n3;
    void *p = b->nodes;
    int rc = grow(&p, &b->cap_nodes, b->n_nodes + 1, sizeof *b->nodes);
    b->nodes = p;
    if (rc)
        return rc;
    p = b->arena;
    rc = grow(&p, &b->arena_cap, b->arena_len + len, 1);
    b->arena = p;
    if (rc)
        return rc;
    struct new_node *nn = &b->nodes[b->n_nodes++];
    node_key(nn->key, c->version, depth, path);
    nn->off = b->arena_len;
    nn->len = len;
    uint8_t *d = b->arena + b->arena_len;
    if (n1)
        memcpy(d, p1, n1);
    if (n2)
        memcpy(d + n1, p2, n2);
    if (n3)
        memcpy(d + n1 + n2, p3, n3);
    b->arena_len += len;
    return CHAIN_ERR_OK;
}

/* Places a floating leaf at depth: writes its record (it was hashed when it
 * was made).  A placed ref is left as it is. */
static int materialise(struct ctx *c, struct ref *r, unsigned depth)
{
    if (!r->floating)
        return CHAIN_ERR_OK;
    assert(r->kind == KIND_LEAF && depth <= CHAIN_SMT_DEPTH);
    uint8_t hdr[LEAF_REC_HDR_BYTES];
    hdr[0] = KIND_LEAF;
    memcpy(hdr + 1, r->key_hash, CHAIN_HASH_BYTES);
    memcpy(hdr + 1 + CHAIN_HASH_BYTES, r->value_hash, CHAIN_HASH_BYTES);
    int rc = emit(c, depth, r->key_hash, hdr, sizeof hdr, r->value, r->value_len, NULL, 0);
    if (rc)
        return rc;
    r->floating = false;
    r->version = c->version;
    r->value = NULL;
    r->value_len = 0;
    return CHAIN_ERR_OK;
}

/* ---- compute ---- */

static size_t inserts_in(const struct ctx *c, size_t lo, size_t hi)
{
    assert(lo <= hi);
    return c->ins[hi] - c->ins[lo];
}

/* First index in [lo, hi) whose key has bit `depth` set; all keys in the
 * range share their first `depth` bits and are sorted, so it is a boundary. */
static size_t split(const struct ctx *c, size_t lo, size_t hi, unsigned depth)
{
    assert(depth < CHAIN_SMT_DEPTH);
    size_t a = lo, z = hi;
    while (a < z) {
        size_t m = a + (z - a) / 2;
        if (chain_path_bit(c->ups[m].key_hash, depth))
            z = m;
        else
            a = m + 1;
    }
    return a;
}

/* Index of key_hash in [lo, hi), or hi. */
static size_t find_key(const struct ctx *c, size_t lo, size_t hi,
                       const uint8_t key_hash[static CHAIN_HASH_BYTES])
{
    size_t a = lo, z = hi;
    while (a < z) {
        size_t m = a + (z - a) / 2;
        int cmp = memcmp(c->ups[m].key_hash, key_hash, CHAIN_HASH_BYTES);
        if (cmp == 0)
            return m;
        if (cmp < 0)
            a = m + 1;
        else
            z = m;
    }
    return hi;
}

/* An old leaf (placed at depth under path) that must move: read its contents
 * so it can float up, and mark its old node stale. */
static int unplace_leaf(struct ctx *c, struct ref *r, unsigned depth,
                        const uint8_t path[static CHAIN_HASH_BYTES])
{
    assert(r->kind == KIND_LEAF && !r->floating);
    struct leaf_view lv;
    int rc = read_leaf(c->txn, c->smt, c->cur, r->version, depth, path, &lv);
    if (rc)
        return rc;
    rc = mark_stale(c, r->version, depth, path);
    if (rc)
        return rc;
    memcpy(r->key_hash, lv.key_hash, CHAIN_HASH_BYTES);
    memcpy(r->value_hash, lv.value_hash, CHAIN_HASH_BYTES);
    r->value = lv.value;
    r->value_len = lv.value_len;
    r->floating = true;
    return CHAIN_ERR_OK;
}

/* The node at depth (under path) whose children at depth + 1 are l and r,
 * normalised: both empty -> empty; one empty and the other a leaf -> that
 * leaf, floating up; otherwise a new inner node, written now. */
static int join(struct ctx *c, unsigned depth, const uint8_t path[static CHAIN_HASH_BYTES],
                struct ref *l, struct ref *r, struct ref *out)
{
    assert(depth < CHAIN_SMT_DEPTH);
    int rc;
    if (l->kind == KIND_EMPTY && r->kind == KIND_EMPTY) {
        ref_empty(out);
        return CHAIN_ERR_OK;
    }
    if (l->kind == KIND_EMPTY || r->kind == KIND_EMPTY) {
        struct ref *only = l->kind == KIND_EMPTY ? r : l;
        if (only->kind == KIND_LEAF) {
            if (!only->floating) {
                uint8_t cp[CHAIN_HASH_BYTES];
                path_with_bit(cp, path, depth, only == r);
                if ((rc = unplace_leaf(c, only, depth + 1, cp)))
                    return rc;
            }
            *out = *only;
            return CHAIN_ERR_OK;
        }
    }
    if ((rc = materialise(c, l, depth + 1)) || (rc = materialise(c, r, depth + 1)))
        return rc;
    uint8_t rec[INNER_REC_BYTES];
    rec[0] = KIND_INNER;
    ref_encode(rec + 1, l);
    ref_encode(rec + 1 + REF_BYTES, r);
    ref_empty(out);
    out->kind = KIND_INNER;
    out->version = c->version;
    chain_inner_hash(out->hash, l->hash, r->hash);
    return emit(c, depth, path, rec, sizeof rec, NULL, 0, NULL, 0);
}

/* The subtree at depth holding the inserts of ups[lo, hi) plus, when extra is
 * not NULL, the old leaf *extra (whose key is not among the updates). */
static int build(struct ctx *c, unsigned depth, size_t lo, size_t hi, const struct ref *extra,
                 struct ref *out)
{
    assert(depth <= CHAIN_SMT_DEPTH);
    size_t count = inserts_in(c, lo, hi) + (extra ? 1u : 0u);
    if (count == 0) {
        ref_empty(out);
        return CHAIN_ERR_OK;
    }
    if (count == 1) {
        if (extra) {
            *out = *extra;
            return CHAIN_ERR_OK;
        }
        /* The one insert: the first index whose prefix count steps. */
        size_t i = lo;
        while (c->ups[i].value == NULL)
            i++;
        assert(i < hi);
        ref_empty(out);
        out->kind = KIND_LEAF;
        out->floating = true;
        memcpy(out->key_hash, c->ups[i].key_hash, CHAIN_HASH_BYTES);
        memcpy(out->value_hash, c->vh[i], CHAIN_HASH_BYTES);
        out->value = c->ups[i].value;
        out->value_len = c->ups[i].value_len;
        chain_leaf_hash(out->hash, out->key_hash, out->value_hash);
        return CHAIN_ERR_OK;
    }
    /* Two distinct keys always differ somewhere in 256 bits. */
    assert(depth < CHAIN_SMT_DEPTH && lo < hi);
    size_t mid = split(c, lo, hi, depth);
    const struct ref *el = NULL, *er = NULL;
    if (extra) {
        if (chain_path_bit(extra->key_hash, depth))
            er = extra;
        else
            el = extra;
    }
    struct ref l, r;
    int rc = build(c, depth + 1, lo, mid, el, &l);
    if (rc)
        return rc;
    rc = build(c, depth + 1, mid, hi, er, &r);
    if (rc)
        return rc;
    return join(c, depth, c->ups[lo].key_hash, &l, &r, out);
}

/* Applies ups[lo, hi) to the existing subtree cur at depth (all keys in the
 * range share their first depth bits with it).  *out is cur itself when
 * nothing changed. */
static int update(struct ctx *c, unsigned depth, const struct ref *cur, size_t lo, size_t hi,
                  struct ref *out)
{
    assert(depth <= CHAIN_SMT_DEPTH && lo <= hi && !cur->floating);
    if (lo == hi) {
        *out = *cur;
        return CHAIN_ERR_OK;
    }
    const uint8_t *path = c->ups[lo].key_hash;
    int rc;
    switch (cur->kind) {
    case KIND_EMPTY:
        return build(c, depth, lo, hi, NULL, out);

    case KIND_LEAF: {
        struct leaf_view lv;
        if ((rc = read_leaf(c->txn, c->smt, c->cur, cur->version, depth, path, &lv)))
            return rc;
        size_t n_ins = inserts_in(c, lo, hi);
        size_t at = find_key(c, lo, hi, lv.key_hash);
        bool same;
        if (at < hi)
            same = c->ups[at].value != NULL && n_ins == 1 &&
                   memcmp(c->vh[at], lv.value_hash, CHAIN_HASH_BYTES) == 0;
        else
            same = n_ins == 0;
        if (same) {
            *out = *cur;
            return CHAIN_ERR_OK;
        }
        if ((rc = mark_stale(c, cur->version, depth, path)))
            return rc;
        if (at < hi)
            return build(c, depth, lo, hi, NULL, out); /* the leaf's own update is in range */
        struct ref extra = *cur;
        extra.floating = true;
        memcpy(extra.key_hash, lv.key_hash, CHAIN_HASH_BYTES);
        memcpy(extra.value_hash, lv.value_hash, CHAIN_HASH_BYTES);
        extra.value = lv.value;
        extra.value_len = lv.value_len;
        return build(c, depth, lo, hi, &extra, out);
    }

    case KIND_INNER: {
        struct ref l, r, nl, nr;
        if ((rc = read_inner(c->txn, c->smt, c->cur, cur->version, depth, path, &l, &r)))
            return rc;
        size_t mid = split(c, lo, hi, depth);
        if ((rc = update(c, depth + 1, &l, lo, mid, &nl)) ||
            (rc = update(c, depth + 1, &r, mid, hi, &nr)))
            return rc;
        if (ref_same(&nl, &l) && ref_same(&nr, &r)) {
            *out = *cur;
            return CHAIN_ERR_OK;
        }
        if ((rc = mark_stale(c, cur->version, depth, path)))
            return rc;
        return join(c, depth, path, &nl, &nr, out);
    }

    default:
        return CHAIN_ERR_STORE; /* ref_decode admits no other kind */
    }
}

static int cmp_update(const void *a, const void *b)
{
    const struct chain_smt_update *x = a, *y = b;
    return memcmp(x->key_hash, y->key_hash, CHAIN_HASH_BYTES);
}

/* Puts the new nodes in key order.  They all share the version, so a stable
 * counting sort by depth does most of the work.  Within one depth the
 * post-order, left-first recursion emits nodes in path order, except that a
 * floating left leaf is placed by its parent's join just after its right
 * sibling (the one node of that depth in the right subtree) was written: an
 * element at most one place out of order, which the final insertion pass
 * fixes in linear time. */
static int sort_nodes(struct chain_smt_batch *b)
{
    if (b->n_nodes < 2)
        return CHAIN_ERR_OK;
    size_t start[CHAIN_SMT_DEPTH + 2];
    memset(start, 0, sizeof start);
    for (size_t i = 0; i < b->n_nodes; i++) {
        unsigned d = ((unsigned)b->nodes[i].key[8] << 8) | b->nodes[i].key[9];
        assert(d <= CHAIN_SMT_DEPTH);
        start[d + 1]++;
    }
    for (unsigned d = 1; d < CHAIN_SMT_DEPTH + 2; d++)
        start[d] += start[d - 1];
    struct new_node *sorted = malloc(b->n_nodes * sizeof *sorted);
    if (sorted == NULL)
        return CHAIN_ERR_NOMEM;
    for (size_t i = 0; i < b->n_nodes; i++) {
        unsigned d = ((unsigned)b->nodes[i].key[8] << 8) | b->nodes[i].key[9];
        sorted[start[d]++] = b->nodes[i];
    }
    for (size_t i = 1; i < b->n_nodes; i++) {
        size_t j = i;
        while (j > 0 && memcmp(sorted[j - 1].key, sorted[j].key, NODE_KEY_BYTES) > 0) {
            struct new_node t = sorted[j - 1];
            sorted[j - 1] = sorted[j];
            sorted[j] = t;
            j--;
        }
    }
    free(b->nodes);
    b->nodes = sorted;
    b->cap_nodes = b->n_nodes;
    return CHAIN_ERR_OK;
}

static int cmp_stale(const void *a, const void *b)
{
    return memcmp(a, b, NODE_KEY_BYTES);
}

int chain_smt_compute(MDB_txn *txn, const struct chain_smt *smt, uint64_t base_version,
                      uint64_t new_version, struct chain_smt_update *ups, size_t n,
                      struct chain_smt_batch **out)
{
    assert(txn != NULL && smt != NULL && out != NULL);
    *out = NULL;
    if (new_version == CHAIN_SMT_NO_VERSION ||
        (base_version != CHAIN_SMT_NO_VERSION && new_version <= base_version))
        return CHAIN_ERR_INVALID_ARG;
    if (n > 0 && ups == NULL)
        return CHAIN_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++)
        if (ups[i].value != NULL && ups[i].value_len > CHAIN_STATE_VALUE_MAX_BYTES)
            return CHAIN_ERR_INVALID_ARG;
    if (n > 1)
        qsort(ups, n, sizeof *ups, cmp_update);
    for (size_t i = 1; i < n; i++)
        if (memcmp(ups[i - 1].key_hash, ups[i].key_hash, CHAIN_HASH_BYTES) == 0)
            return CHAIN_ERR_INVALID_ARG;

    struct ref base;
    int rc = read_root(txn, smt, base_version, &base);
    if (rc)
        return rc;

    struct chain_smt_batch *b = calloc(1, sizeof *b);
    size_t *ins = calloc(n + 1, sizeof *ins);
    uint8_t(*vh)[CHAIN_HASH_BYTES] = n ? calloc(n, CHAIN_HASH_BYTES) : NULL;
    if (b == NULL || ins == NULL || (n && vh == NULL)) {
        rc = CHAIN_ERR_NOMEM;
        goto fail;
    }
    b->version = new_version;
    for (size_t i = 0; i < n; i++) {
        ins[i + 1] = ins[i] + (ups[i].value != NULL ? 1u : 0u);
        if (ups[i].value != NULL)
            chain_value_hash(vh[i], ups[i].value, ups[i].value_len);
    }

    struct ctx c = {.txn = txn, .smt = smt, .version = new_version, .ups = ups, .ins = ins,
                    .vh = (const uint8_t(*)[CHAIN_HASH_BYTES])vh, .b = b};
    if (mdb_cursor_open(txn, smt->nodes, &c.cur) != MDB_SUCCESS) {
        rc = CHAIN_ERR_STORE;
        goto fail;
    }
    struct ref root;
    rc = update(&c, 0, &base, 0, n, &root);
    mdb_cursor_close(c.cur);
    if (rc)
        goto fail;
    if ((rc = materialise(&c, &root, 0)))
        goto fail;
    assert(!root.floating);
    assert(root.kind != KIND_EMPTY || memcmp(root.hash, chain_smt_empty, CHAIN_HASH_BYTES) == 0);
    b->root = root;
    b->root.value = NULL;

    if ((rc = sort_nodes(b)))
        goto fail;
    if (b->n_stale > 1)
        qsort(b->stale, b->n_stale, NODE_KEY_BYTES, cmp_stale);
    for (size_t i = 1; i < b->n_nodes; i++)
        assert(memcmp(b->nodes[i - 1].key, b->nodes[i].key, NODE_KEY_BYTES) < 0);
    free(ins);
    free(vh);
    *out = b;
    return CHAIN_ERR_OK;
fail:
    free(ins);
    free(vh);
    chain_smt_batch_free(b);
    return rc;
}

const uint8_t *chain_smt_batch_root(const struct chain_smt_batch *b)
{
    assert(b != NULL);
    return b->root.hash;
}

size_t chain_smt_batch_nodes(const struct chain_smt_batch *b)
{
    assert(b != NULL);
    return b->n_nodes;
}

void chain_smt_batch_free(struct chain_smt_batch *b)
{
    if (b == NULL)
        return;
    free(b->nodes);
    free(b->arena);
    free(b->stale);
    free(b);
}

/* Append when the key sorts after everything in the db (the common case:
 * versions only grow), else an ordinary put. */
static int put_append(MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v, bool *appending)
{
    int rc = MDB_KEYEXIST;
    if (*appending) {
        rc = mdb_put(txn, dbi, k, v, MDB_APPEND);
        if (rc == MDB_KEYEXIST)
            *appending = false;
    }
    if (rc == MDB_KEYEXIST)
        rc = mdb_put(txn, dbi, k, v, 0);
    return rc == MDB_SUCCESS ? CHAIN_ERR_OK : store_err(rc);
}

int chain_smt_batch_write(MDB_txn *wtxn, const struct chain_smt *smt,
                          const struct chain_smt_batch *b)
{
    assert(wtxn != NULL && smt != NULL && b != NULL);
    int rc;
    bool app = true;
    for (size_t i = 0; i < b->n_nodes; i++) {
        const struct new_node *nn = &b->nodes[i];
        assert(nn->off + nn->len <= b->arena_len);
        MDB_val k = {.mv_size = stored_key_len(nn->key), .mv_data = (void *)nn->key};
        MDB_val v = {.mv_size = nn->len, .mv_data = b->arena + nn->off};
        if ((rc = put_append(wtxn, smt->nodes, &k, &v, &app)))
            return rc;
    }
    app = true;
    for (size_t i = 0; i < b->n_stale; i++) {
        uint8_t sk[STALE_KEY_BYTES];
        put_be64(sk, b->version);
        memcpy(sk + 8, b->stale[i], NODE_KEY_BYTES);
        MDB_val k = {.mv_size = STALE_KEY_BYTES, .mv_data = sk};
        MDB_val v = {.mv_size = 0, .mv_data = NULL};
        if ((rc = put_append(wtxn, smt->stale, &k, &v, &app)))
            return rc;
    }
    uint8_t rk[8], rv[REF_BYTES];
    put_be64(rk, b->version);
    ref_encode(rv, &b->root);
    MDB_val k = {.mv_size = 8, .mv_data = rk};
    MDB_val v = {.mv_size = REF_BYTES, .mv_data = rv};
    app = true;
    return put_append(wtxn, smt->roots, &k, &v, &app);
}

/* ---- reads and proofs ---- */

/* Walks from the root at version along key_hash.  Fills proof when not NULL.
 * *value is the key's value when found (LMDB memory), else NULL. */
static int walk(MDB_txn *txn, const struct chain_smt *smt, uint64_t version,
                const uint8_t key_hash[static CHAIN_HASH_BYTES], struct chain_proof *proof,
                const uint8_t **value, size_t *value_len)
{
    assert(txn != NULL && smt != NULL && value != NULL && value_len != NULL);
    *value = NULL;
    *value_len = 0;
    if (proof)
        memset(proof, 0, sizeof *proof);
    if (version == CHAIN_SMT_NO_VERSION)
        return CHAIN_ERR_VERSION_PRUNED;
    struct ref cur;
    int rc = read_root(txn, smt, version, &cur);
    if (rc)
        return rc;
    unsigned depth = 0;
    for (;;) {
        assert(depth <= CHAIN_SMT_DEPTH);
        if (cur.kind == KIND_EMPTY) {
            if (proof) {
                proof->depth = depth;
                proof->terminal = CHAIN_PROOF_TERM_EMPTY;
            }
            return CHAIN_ERR_NOT_FOUND;
        }
        if (cur.kind == KIND_LEAF) {
            struct leaf_view lv;
            if ((rc = read_leaf(txn, smt, NULL, cur.version, depth, key_hash, &lv)))
                return rc;
            bool self = memcmp(lv.key_hash, key_hash, CHAIN_HASH_BYTES) == 0;
            if (proof) {
                proof->depth = depth;
                if (self) {
                    proof->terminal = CHAIN_PROOF_TERM_SELF;
                } else {
                    proof->terminal = CHAIN_PROOF_TERM_OTHER;
                    memcpy(proof->other_key_hash, lv.key_hash, CHAIN_HASH_BYTES);
                    memcpy(proof->other_value_hash, lv.value_hash, CHAIN_HASH_BYTES);
                }
            }
            if (!self)
                return CHAIN_ERR_NOT_FOUND;
            *value = lv.value;
            *value_len = lv.value_len;
            return CHAIN_ERR_OK;
        }
        assert(cur.kind == KIND_INNER);
        struct ref l, r;
        if ((rc = read_inner(txn, smt, NULL, cur.version, depth, key_hash, &l, &r)))
            return rc;
        unsigned bit = chain_path_bit(key_hash, depth);
        const struct ref *sib = bit ? &l : &r;
        if (proof && sib->kind != KIND_EMPTY) {
            proof->present[depth >> 3] = (uint8_t)(proof->present[depth >> 3] | (1u << (depth & 7u)));
            memcpy(proof->siblings[depth], sib->hash, CHAIN_HASH_BYTES);
        }
        cur = bit ? r : l;
        depth++;
    }
}

int chain_smt_get(MDB_txn *txn, const struct chain_smt *smt, uint64_t version,
                  const uint8_t key_hash[static CHAIN_HASH_BYTES], const uint8_t **value,
                  size_t *value_len)
{
    return walk(txn, smt, version, key_hash, NULL, value, value_len);
}

int chain_smt_prove(MDB_txn *txn, const struct chain_smt *smt, uint64_t version,
                    const uint8_t key_hash[static CHAIN_HASH_BYTES], struct chain_proof *proof,
                    const uint8_t **value, size_t *value_len)
{
    assert(proof != NULL);
    int rc = walk(txn, smt, version, key_hash, proof, value, value_len);
    return rc == CHAIN_ERR_NOT_FOUND ? CHAIN_ERR_OK : rc;
}

/* ---- pruning ---- */

int chain_smt_prune(MDB_txn *wtxn, const struct chain_smt *smt, uint64_t keep_from,
                    size_t *removed)
{
    assert(wtxn != NULL && smt != NULL);
    size_t n = 0;
    if (removed)
        *removed = 0;
    MDB_cursor *c = NULL;
    int rc = CHAIN_ERR_OK, mrc;
    if (mdb_cursor_open(wtxn, smt->stale, &c) != MDB_SUCCESS)
        return CHAIN_ERR_STORE;
    /* stale entries sort by stale_since: take them from the front. */
    for (;;) {
        MDB_val k, v;
        mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        if (mrc == MDB_NOTFOUND)
            break;
        if (mrc != MDB_SUCCESS || k.mv_size != STALE_KEY_BYTES) {
            rc = CHAIN_ERR_STORE;
            goto done;
        }
        const uint8_t *sk = k.mv_data;
        if (get_be64(sk) > keep_from)
            break;
        MDB_val nk = {.mv_size = stored_key_len(sk + 8), .mv_data = (void *)(sk + 8)};
        mrc = mdb_del(wtxn, smt->nodes, &nk, NULL);
        if (mrc == MDB_SUCCESS)
            n++;
        else if (mrc != MDB_NOTFOUND) {
            rc = store_err(mrc);
            goto done;
        }
        if ((mrc = mdb_cursor_del(c, 0)) != MDB_SUCCESS) {
            rc = store_err(mrc);
            goto done;
        }
    }
    mdb_cursor_close(c);
    c = NULL;
    if (mdb_cursor_open(wtxn, smt->roots, &c) != MDB_SUCCESS)
        return CHAIN_ERR_STORE;
    for (;;) {
        MDB_val k, v;
        mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        if (mrc == MDB_NOTFOUND)
            break;
        if (mrc != MDB_SUCCESS || k.mv_size != 8) {
            rc = CHAIN_ERR_STORE;
            goto done;
        }
        if (get_be64(k.mv_data) >= keep_from)
            break;
        if ((mrc = mdb_cursor_del(c, 0)) != MDB_SUCCESS) {
            rc = store_err(mrc);
            goto done;
        }
    }
done:
    if (c)
        mdb_cursor_close(c);
    if (removed)
        *removed = n;
    return rc;
}
