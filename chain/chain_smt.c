/* chain_smt.c -- the authenticated state tree: a compressed sparse Merkle
 * tree stored in LMDB as immutable, versioned nodes, laid out as Diem's
 * Jellyfish Merkle tree lays out its radix-16 nodes.  Hashing rules:
 * chain_proof.h; they are those of the binary tree, so roots and proofs do not
 * depend on this layout.
 *
 * Why radix 16: a walk from the root to a leaf at 10^6 keys crosses ~21
 * binary levels, and each stored binary node costs a random LMDB lookup.  A
 * stored node here covers four binary levels (one nibble of the path), so the
 * same walk reads ~6 nodes.  A stored node also keeps the hashes of the
 * binary subtrees inside it, so that changing one child rehashes the 4 binary
 * nodes on that child's path, not all 15 (measured at 10^6 keys, 1,000
 * updates: ~2.5 ms less compute per block than rehashing, for larger
 * records), and a proof reads its siblings without hashing.
 *
 * Node key (nodes db), 41 bytes in memory, stored cut after the path byte that
 * holds nibble nd-1 (9 + ceil(nd/2) bytes; see stored_key_len):
 *     version (8, big-endian) || nd (1) || path (32, nibbles >= nd zeroed)
 * nd is the nibble depth: the node covers the keys whose first nd nibbles
 * are path's.  Internal nodes sit at nd 0..63, leaves at nd 0..64.
 *
 * Node records (values in the nodes db):
 *     internal: 0x01 || present (2, BE) || leaves (2, BE) || child ... || inner ...
 *               bit i of present: child nibble i is not empty; bit i of leaves:
 *               it is a leaf (else an internal node); then for each present
 *               child in nibble order, version (8, BE) || hash (32), and for
 *               a leaf child its key_hash (32); then the hash (32) of each
 *               binary subtree strictly inside the node that holds more than
 *               one leaf (heap order: the two halves, then the four quarters,
 *               then the eight eighths; which ones is a function of the two
 *               bitmaps, see levels_shape).
 *               5 + 40 k + 32 l + 32 m bytes (l leaf children), at most 1605.
 *               Never empty, and never a lone leaf child (it would be lifted).
 *     leaf:     0x02 || key_hash (32) || value_hash (32) || value     65 + value_len bytes
 * A child's node key is its version, nd + 1 and the parent's path with
 * nibble nd set, so a walk needs no back pointers.  A leaf child's key_hash
 * sits in its parent so that a batch rewriting a key knows, without reading
 * the leaf, that the leaf in that slot is the key's own (the common case of a
 * block: accounts that already exist); only a leaf that must move (an insert
 * beside it, or a delete that lifts it) is read, for its value.
 *
 * Storage position and hashing position of a leaf differ, as in JMT.  A leaf
 * is stored at the shallowest nibble depth where its key prefix is unique
 * (the child slot of the deepest internal node above it).  For hashing and
 * proofs it sits at the shallowest BIT depth where it is unique: inside its
 * parent's four binary levels, a binary subtree that holds one leaf child and
 * otherwise empty slots hashes to that leaf (radix_levels).  An internal
 * child always holds two or more leaves, so it is never lifted.
 *
 * roots db:  version (8, BE) -> ref = kind (1) || version (8, BE) || hash (32)
 *            kind 0 = empty (version 0, hash zero), 1 = internal, 2 = leaf
 * stale db:  stale_since (8, BE) || node key (41) -> ""
 *   A node becomes stale at the version whose batch replaced it, moved it
 *   (a leaf lifted or pushed down) or deleted it; versions >= stale_since no
 *   longer reach it, so chain_smt_prune(keep_from) may drop it when
 *   stale_since <= keep_from.
 *
 * The batch update (chain_smt_compute) follows JMT's batch_put: the sorted
 * updates are split by the nibble at the current depth and pushed down the
 * existing tree; an existing leaf met on the way is merged with them; an
 * empty subtree is built from them.  A subtree that ends up holding a single
 * leaf returns it "floating" -- hashed but not yet placed -- and the first
 * ancestor that keeps an internal child or two non-empty children writes it,
 * one nibble below itself.  So a leaf is never written and then moved within
 * a batch, and every new node is hashed once.  Subtrees whose children come
 * back unchanged (deletes of absent keys, a value rewritten to the same
 * bytes) keep their old node and are not marked stale. */
#include "chain_smt.h"

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define RADIX 16u
#define NIBBLES (CHAIN_SMT_DEPTH / 4u) /* 64: nibble depths of a 256-bit path */
#define NODE_KEY_BYTES 41u             /* version 8 || nd 1 || path 32 */
#define STALE_KEY_BYTES 49u            /* stale_since 8 || node key */
#define REF_BYTES 41u                  /* kind 1 || version 8 || hash 32 */
#define CHILD_BYTES 40u                /* version 8 || hash 32 (|| key_hash 32 for a leaf) */
#define INNER_HDR_BYTES 5u             /* kind 1 || present 2 || leaves 2 */
#define INNER_HASHES_MAX 14u          /* the binary subtrees strictly inside a node */
#define INNER_REC_MAX_BYTES \
    (INNER_HDR_BYTES + RADIX * (CHILD_BYTES + CHAIN_HASH_BYTES) + INNER_HASHES_MAX * CHAIN_HASH_BYTES)
#define LEAF_REC_HDR_BYTES (1u + 2u * CHAIN_HASH_BYTES)

enum { KIND_EMPTY = 0, KIND_INNER = 1, KIND_LEAF = 2 };

/* A reference to a child (or the root): what an internal record stores, plus,
 * during compute, a floating leaf's contents. */
struct ref {
    uint8_t kind;
    bool floating; /* a leaf of this batch (or an old one being moved), not yet placed */
    uint64_t version;
    uint8_t hash[CHAIN_HASH_BYTES];
    /* Borrowed until compute returns (the caller's update, the batch's value
     * hashes, or LMDB memory of the read txn).  key_hash: every leaf but a
     * root leaf read from the roots db (NULL there); the rest: floating
     * leaves only. */
    const uint8_t *key_hash;
    const uint8_t *value_hash;
    const uint8_t *value;
    size_t value_len;
};

struct new_node {
    uint8_t key[NODE_KEY_BYTES];
    const uint8_t *rec; /* in the batch's arena */
    size_t len;
};

/* Records live in chunks that never move (a growing buffer would copy every
 * record written so far each time it doubles: ~10 MB per large block). */
#define ARENA_CHUNK_BYTES ((size_t)1 << 20)
struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    uint8_t data[];
};

struct chain_smt_batch {
    uint64_t version;
    struct ref root; /* never floating once compute returns */
    struct new_node *nodes;
    size_t n_nodes, cap_nodes;
    struct arena_chunk *arena; /* newest first */
    size_t n_hashes;           /* BLAKE2b calls of compute (metrics) */
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

/* Nibble nd of a path, most significant nibble first. */
static unsigned nibble(const uint8_t path[static CHAIN_HASH_BYTES], unsigned nd)
{
    assert(nd < NIBBLES);
    uint8_t byte = path[nd >> 1];
    return (nd & 1u) ? (byte & 0x0fu) : (unsigned)(byte >> 4);
}

/* Bytes of a node key as stored: the path is cut after the bytes that hold
 * its first nd nibbles.  Within one version and nd all stored keys have the
 * same length and the cut bytes are zero, so LMDB's order is the order of the
 * full 41-byte keys; shorter keys mean more per page, a shallower B-tree and
 * cheaper comparisons on every lookup. */
static size_t stored_key_len(const uint8_t key[static NODE_KEY_BYTES])
{
    return 9u + ((size_t)key[8] + 1u) / 2u;
}

static void node_key(uint8_t out[static NODE_KEY_BYTES], uint64_t version, unsigned nd,
                     const uint8_t path[static CHAIN_HASH_BYTES])
{
    assert(nd <= NIBBLES);
    put_be64(out, version);
    out[8] = (uint8_t)nd;
    uint8_t *p = out + 9;
    memset(p, 0, CHAIN_HASH_BYTES);
    unsigned full = nd / 2u;
    memcpy(p, path, full);
    if (nd & 1u)
        p[full] = (uint8_t)(path[full] & 0xf0u);
}

/* path with nibble nd set to nib (nibbles past nd are left as they are:
 * node_key masks them). */
static void path_with_nibble(uint8_t out[static CHAIN_HASH_BYTES],
                             const uint8_t path[static CHAIN_HASH_BYTES], unsigned nd, unsigned nib)
{
    assert(nd < NIBBLES && nib < RADIX);
    memcpy(out, path, CHAIN_HASH_BYTES);
    uint8_t *p = &out[nd >> 1];
    if (nd & 1u)
        *p = (uint8_t)((*p & 0xf0u) | nib);
    else
        *p = (uint8_t)((*p & 0x0fu) | (nib << 4));
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

static void ref_empty(struct ref *r)
{
    memset(r, 0, sizeof *r);
    r->kind = KIND_EMPTY;
}

/* Parses a stored root ref; STORE if it is not one we could have written. */
static int ref_decode(const uint8_t in[static REF_BYTES], struct ref *r)
{
    ref_empty(r);
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

/* ---- the binary levels inside a radix-16 node ---- */

enum { ST_EMPTY = 0, ST_ONE_LEAF = 1, ST_MULTI = 2 };

/* The 31 binary subtrees of one stored node, as a heap: index 1 is the node
 * itself (bit depth 4 nd), 2..3 the next bit, ..., 16 + i child nibble i. */
struct levels {
    uint8_t st[2u * RADIX];
    uint8_t h[2u * RADIX][CHAIN_HASH_BYTES];
};

/* The state (empty, one leaf, more) of every binary subtree of a node, from
 * its children's kinds alone. */
static void levels_shape(unsigned present, unsigned leaves, uint8_t st[static 2u * RADIX])
{
    for (unsigned i = 0; i < RADIX; i++)
        st[RADIX + i] = !(present >> i & 1u) ? ST_EMPTY : (leaves >> i & 1u) ? ST_ONE_LEAF
                                                                              : ST_MULTI;
    for (unsigned j = RADIX - 1u; j >= 1u; j--) {
        uint8_t l = st[2u * j], r = st[2u * j + 1u];
        if (l == ST_EMPTY)
            st[j] = r;
        else if (r == ST_EMPTY)
            st[j] = l;
        else
            st[j] = ST_MULTI;
    }
}

/* Hashes the binary subtrees of a node whose children are ch, by the binary
 * rules: empty is zero, a subtree with one leaf and nothing else is that leaf,
 * anything else (two or more non-empty, or an internal child) is
 * H(TAG_INNER, left || right).  When old is not NULL it holds the levels of
 * the node before this batch, and bit i of dirty says child i changed: a
 * subtree with no dirty child keeps its old hash. */
static size_t radix_levels(const struct ref ch[static RADIX], const struct levels *old,
                           unsigned dirty, struct levels *lv)
{
    assert(old == NULL || dirty != 0); /* else old->h[1], which is not kept, would be used */
    size_t hashes = 0;
    unsigned present = 0, leaves = 0;
    uint8_t d[2u * RADIX];
    for (unsigned i = 0; i < RADIX; i++) {
        const struct ref *r = &ch[i];
        if (r->kind != KIND_EMPTY)
            present |= 1u << i;
        if (r->kind == KIND_LEAF)
            leaves |= 1u << i;
        memcpy(lv->h[RADIX + i], r->hash, CHAIN_HASH_BYTES);
        d[RADIX + i] = old == NULL || (dirty >> i & 1u);
    }
    levels_shape(present, leaves, lv->st);
    for (unsigned j = RADIX - 1u; j >= 1u; j--) {
        unsigned l = 2u * j, r = l + 1u;
        d[j] = d[l] | d[r];
        switch (lv->st[j]) {
        case ST_EMPTY:
            memset(lv->h[j], 0, CHAIN_HASH_BYTES);
            break;
        case ST_ONE_LEAF:
            memcpy(lv->h[j], lv->h[lv->st[l] == ST_EMPTY ? r : l], CHAIN_HASH_BYTES);
            break;
        default:
            if (d[j]) {
                chain_inner_hash(lv->h[j], lv->h[l], lv->h[r]);
                hashes++;
            } else {
                memcpy(lv->h[j], old->h[j], CHAIN_HASH_BYTES);
            }
        }
    }
    return hashes;
}

/* ---- reading nodes ---- */

/* Record of the node (version, nd, path).  A node a ref points to that is
 * missing means a damaged or concurrently pruned store: STORE. */
static int read_node(MDB_txn *txn, const struct chain_smt *smt, MDB_cursor *cur, uint64_t version,
                     unsigned nd, const uint8_t path[static CHAIN_HASH_BYTES], MDB_val *rec)
{
    uint8_t k[NODE_KEY_BYTES];
    node_key(k, version, nd, path);
    MDB_val key = {.mv_size = stored_key_len(k), .mv_data = k};
    int rc = cur ? mdb_cursor_get(cur, &key, rec, MDB_SET) : mdb_get(txn, smt->nodes, &key, rec);
    if (rc != MDB_SUCCESS)
        return CHAIN_ERR_STORE;
    return CHAIN_ERR_OK;
}

/* The 16 children of the internal node (version, nd, path), and its binary
 * levels below the node itself (lv->h[1] is left zero: the parent has it). */
static int read_inner(MDB_txn *txn, const struct chain_smt *smt, MDB_cursor *cur, uint64_t version,
                      unsigned nd, const uint8_t path[static CHAIN_HASH_BYTES],
                      struct ref ch[static RADIX], struct levels *lv)
{
    if (nd >= NIBBLES)
        return CHAIN_ERR_STORE;
    MDB_val rec;
    int rc = read_node(txn, smt, cur, version, nd, path, &rec);
    if (rc)
        return rc;
    const uint8_t *p = rec.mv_data;
    if (rec.mv_size < INNER_HDR_BYTES || p[0] != KIND_INNER)
        return CHAIN_ERR_STORE;
    unsigned present = (unsigned)p[1] << 8 | p[2], leaves = (unsigned)p[3] << 8 | p[4];
    unsigned k = (unsigned)__builtin_popcount(present);
    /* Never empty, never a lone leaf (it would have been lifted). */
    if (present == 0 || (leaves & ~present) != 0 || (k == 1 && leaves != 0))
        return CHAIN_ERR_STORE;
    levels_shape(present, leaves, lv->st);
    unsigned m = 0;
    for (unsigned j = 2; j < RADIX; j++)
        m += lv->st[j] == ST_MULTI;
    unsigned n_leaves = (unsigned)__builtin_popcount(leaves);
    if (rec.mv_size !=
        INNER_HDR_BYTES + (size_t)k * CHILD_BYTES + (size_t)(n_leaves + m) * CHAIN_HASH_BYTES)
        return CHAIN_ERR_STORE;
    p += INNER_HDR_BYTES;
    for (unsigned i = 0; i < RADIX; i++) {
        struct ref *r = &ch[i];
        ref_empty(r);
        if (!(present >> i & 1u))
            continue;
        r->kind = (leaves >> i & 1u) ? KIND_LEAF : KIND_INNER;
        r->version = get_be64(p);
        memcpy(r->hash, p + 8, CHAIN_HASH_BYTES);
        p += CHILD_BYTES;
        /* Children are never newer than their parent, and never hash to zero. */
        if (r->version > version || memcmp(r->hash, chain_smt_empty, CHAIN_HASH_BYTES) == 0)
            return CHAIN_ERR_STORE;
        if (r->kind == KIND_LEAF) {
            /* A leaf child's key lies under the node, in child slot i. */
            r->key_hash = p;
            p += CHAIN_HASH_BYTES;
            if (!share_prefix(r->key_hash, path, 4u * nd) || nibble(r->key_hash, nd) != i)
                return CHAIN_ERR_STORE;
        }
        memcpy(lv->h[RADIX + i], r->hash, CHAIN_HASH_BYTES);
    }
    memset(lv->h[1], 0, CHAIN_HASH_BYTES);
    for (unsigned j = RADIX - 1u; j >= 2u; j--) {
        unsigned l = 2u * j, r = l + 1u;
        if (lv->st[j] == ST_EMPTY)
            memset(lv->h[j], 0, CHAIN_HASH_BYTES);
        else if (lv->st[j] == ST_ONE_LEAF)
            memcpy(lv->h[j], lv->h[lv->st[l] == ST_EMPTY ? r : l], CHAIN_HASH_BYTES);
    }
    /* the stored inner hashes, by heap index */
    for (unsigned j = 2; j < RADIX; j++) {
        if (lv->st[j] != ST_MULTI)
            continue;
        memcpy(lv->h[j], p, CHAIN_HASH_BYTES);
        p += CHAIN_HASH_BYTES;
    }
    return CHAIN_ERR_OK;
}

struct leaf_view {
    const uint8_t *key_hash, *value_hash, *value; /* LMDB memory, valid until txn ends */
    size_t value_len;
};

static int read_leaf(MDB_txn *txn, const struct chain_smt *smt, MDB_cursor *cur, uint64_t version,
                     unsigned nd, const uint8_t path[static CHAIN_HASH_BYTES], struct leaf_view *lv)
{
    if (nd > NIBBLES)
        return CHAIN_ERR_STORE;
    MDB_val rec;
    int rc = read_node(txn, smt, cur, version, nd, path, &rec);
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
    if (!share_prefix(lv->key_hash, path, 4u * nd))
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


static int mark_stale(struct ctx *c, uint64_t version, unsigned nd,
                      const uint8_t path[static CHAIN_HASH_BYTES])
{
    struct chain_smt_batch *b = c->b;
    assert(version < c->version);
    void *p = b->stale;
    int rc = grow(&p, &b->cap_stale, b->n_stale + 1, NODE_KEY_BYTES);
    b->stale = p;
    if (rc)
        return rc;
    node_key(b->stale[b->n_stale++], version, nd, path);
    return CHAIN_ERR_OK;
}

/* Appends a new node (version c->version) whose record is the concatenation
 * of up to two parts. */
static int emit(struct ctx *c, unsigned nd, const uint8_t path[static CHAIN_HASH_BYTES],
                const void *p1, size_t n1, const void *p2, size_t n2)
{
    struct chain_smt_batch *b = c->b;
    size_t len = n1 + n2;
    void *p = b->nodes;
    int rc = grow(&p, &b->cap_nodes, b->n_nodes + 1, sizeof *b->nodes);
    b->nodes = p;
    if (rc)
        return rc;
    struct arena_chunk *ch = b->arena;
    if (ch == NULL || ch->cap - ch->used < len) {
        size_t cap = len > ARENA_CHUNK_BYTES ? len : ARENA_CHUNK_BYTES;
        ch = malloc(sizeof *ch + cap);
        if (ch == NULL)
            return CHAIN_ERR_NOMEM;
        ch->next = b->arena;
        ch->used = 0;
        ch->cap = cap;
        b->arena = ch;
    }
    uint8_t *d = ch->data + ch->used;
    ch->used += len;
    struct new_node *nn = &b->nodes[b->n_nodes++];
    node_key(nn->key, c->version, nd, path);
    nn->rec = d;
    nn->len = len;
    if (n1)
        memcpy(d, p1, n1);
    if (n2)
        memcpy(d + n1, p2, n2);
    return CHAIN_ERR_OK;
}

/* Places a floating leaf at nibble depth nd: writes its record (it was hashed
 * when it was made).  A placed ref is left as it is. */
static int materialise(struct ctx *c, struct ref *r, unsigned nd)
{
    if (!r->floating)
        return CHAIN_ERR_OK;
    assert(r->kind == KIND_LEAF && nd <= NIBBLES);
    uint8_t hdr[LEAF_REC_HDR_BYTES];
    hdr[0] = KIND_LEAF;
    memcpy(hdr + 1, r->key_hash, CHAIN_HASH_BYTES);
    memcpy(hdr + 1 + CHAIN_HASH_BYTES, r->value_hash, CHAIN_HASH_BYTES);
    int rc = emit(c, nd, r->key_hash, hdr, sizeof hdr, r->value, r->value_len);
    if (rc)
        return rc;
    r->floating = false;
    r->version = c->version;
    r->value_hash = r->value = NULL; /* key_hash stays: the parent records it */
    r->value_len = 0;
    return CHAIN_ERR_OK;
}

/* ---- compute ---- */

static size_t inserts_in(const struct ctx *c, size_t lo, size_t hi)
{
    assert(lo <= hi);
    return c->ins[hi] - c->ins[lo];
}

/* End of the run of ups[lo, hi) whose nibble nd is that of ups[lo]: all keys
 * in the range share their first nd nibbles and are sorted, so it is a
 * boundary. */
static size_t nibble_run_end(const struct ctx *c, size_t lo, size_t hi, unsigned nd)
{
    assert(lo < hi && nd < NIBBLES);
    unsigned nib = nibble(c->ups[lo].key_hash, nd);
    size_t a = lo + 1, z = hi;
    while (a < z) {
        size_t m = a + (z - a) / 2;
        if (nibble(c->ups[m].key_hash, nd) > nib)
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

/* An old leaf (placed at nd under path) that must move: read its contents so
 * it can float up, and mark its old node stale. */
static int unplace_leaf(struct ctx *c, struct ref *r, unsigned nd,
                        const uint8_t path[static CHAIN_HASH_BYTES])
{
    assert(r->kind == KIND_LEAF && !r->floating);
    struct leaf_view lv;
    int rc = read_leaf(c->txn, c->smt, c->cur, r->version, nd, path, &lv);
    if (rc)
        return rc;
    rc = mark_stale(c, r->version, nd, path);
    if (rc)
        return rc;
    r->key_hash = lv.key_hash;
    r->value_hash = lv.value_hash;
    r->value = lv.value;
    r->value_len = lv.value_len;
    r->floating = true;
    return CHAIN_ERR_OK;
}

/* The node at nd (under path) whose children at nd + 1 are ch, normalised:
 * all empty -> empty; one leaf and nothing else -> that leaf, floating up;
 * otherwise a new internal node, written now with its floating leaves. */
static int join(struct ctx *c, unsigned nd, const uint8_t path[static CHAIN_HASH_BYTES],
                struct ref ch[static RADIX], const struct levels *old, unsigned dirty,
                struct ref *out)
{
    assert(nd < NIBBLES);
    int rc;
    unsigned present = 0, leaves = 0, k = 0, only = 0;
    for (unsigned i = 0; i < RADIX; i++) {
        if (ch[i].kind == KIND_EMPTY)
            continue;
        present |= 1u << i;
        if (ch[i].kind == KIND_LEAF)
            leaves |= 1u << i;
        only = i;
        k++;
    }
    if (k == 0) {
        ref_empty(out);
        return CHAIN_ERR_OK;
    }
    if (k == 1 && leaves != 0) {
        struct ref *r = &ch[only];
        if (!r->floating) {
            uint8_t cp[CHAIN_HASH_BYTES];
            path_with_nibble(cp, path, nd, only);
            if ((rc = unplace_leaf(c, r, nd + 1, cp)))
                return rc;
        }
        *out = *r;
        return CHAIN_ERR_OK;
    }
    uint8_t rec[INNER_REC_MAX_BYTES];
    rec[0] = KIND_INNER;
    rec[1] = (uint8_t)(present >> 8);
    rec[2] = (uint8_t)(present & 0xffu);
    rec[3] = (uint8_t)(leaves >> 8);
    rec[4] = (uint8_t)(leaves & 0xffu);
    size_t len = INNER_HDR_BYTES;
    for (unsigned i = 0; i < RADIX; i++) {
        if (ch[i].kind == KIND_EMPTY)
            continue;
        if ((rc = materialise(c, &ch[i], nd + 1)))
            return rc;
        put_be64(rec + len, ch[i].version);
        memcpy(rec + len + 8, ch[i].hash, CHAIN_HASH_BYTES);
        len += CHILD_BYTES;
        if (ch[i].kind == KIND_LEAF) {
            assert(ch[i].key_hash != NULL && nibble(ch[i].key_hash, nd) == i);
            memcpy(rec + len, ch[i].key_hash, CHAIN_HASH_BYTES);
            len += CHAIN_HASH_BYTES;
        }
    }
    assert(len <= INNER_HDR_BYTES + (size_t)k * (CHILD_BYTES + CHAIN_HASH_BYTES));
    struct levels lv;
    c->b->n_hashes += radix_levels(ch, old, dirty, &lv);
    assert(lv.st[1] == ST_MULTI);
    for (unsigned j = 2; j < RADIX; j++) {
        if (lv.st[j] != ST_MULTI)
            continue;
        memcpy(rec + len, lv.h[j], CHAIN_HASH_BYTES);
        len += CHAIN_HASH_BYTES;
    }
    ref_empty(out);
    out->kind = KIND_INNER;
    out->version = c->version;
    memcpy(out->hash, lv.h[1], CHAIN_HASH_BYTES);
    return emit(c, nd, path, rec, len, NULL, 0);
}

/* The floating, hashed leaf of the insert ups[i]. */
static void new_leaf(struct ctx *c, size_t i, struct ref *out)
{
    assert(c->ups[i].value != NULL);
    ref_empty(out);
    out->kind = KIND_LEAF;
    out->floating = true;
    out->key_hash = c->ups[i].key_hash;
    out->value_hash = c->vh[i];
    out->value = c->ups[i].value;
    out->value_len = c->ups[i].value_len;
    chain_leaf_hash(out->hash, out->key_hash, out->value_hash);
    c->b->n_hashes++;
}

/* The subtree at nd holding the inserts of ups[lo, hi) plus, when extra is
 * not NULL, the old leaf *extra (whose key is not among the updates). */
static int build(struct ctx *c, unsigned nd, size_t lo, size_t hi, const struct ref *extra,
                 struct ref *out)
{
    assert(nd <= NIBBLES);
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
        new_leaf(c, i, out);
        return CHAIN_ERR_OK;
    }
    /* Two distinct keys always differ somewhere in 64 nibbles. */
    assert(nd < NIBBLES && lo < hi);
    struct ref ch[RADIX];
    for (unsigned i = 0; i < RADIX; i++)
        ref_empty(&ch[i]);
    unsigned extra_nib = extra ? nibble(extra->key_hash, nd) : RADIX;
    bool extra_placed = extra == NULL;
    int rc;
    for (size_t a = lo; a < hi;) {
        size_t z = nibble_run_end(c, a, hi, nd);
        unsigned nib = nibble(c->ups[a].key_hash, nd);
        const struct ref *e = NULL;
        if (nib == extra_nib) {
            e = extra;
            extra_placed = true;
        }
        if ((rc = build(c, nd + 1, a, z, e, &ch[nib])))
            return rc;
        a = z;
    }
    if (!extra_placed)
        ch[extra_nib] = *extra; /* alone in its slot: stays floating */
    return join(c, nd, c->ups[lo].key_hash, ch, NULL, 0, out);
}

/* Applies ups[lo, hi) to the existing subtree cur at nd (all keys in the
 * range share their first nd nibbles with it).  *out is cur itself when
 * nothing changed.  Each level of the recursion holds a node's 16 refs and
 * levels on the stack (~2.5 KB), and there are at most 65 levels. */
static int update(struct ctx *c, unsigned nd, const struct ref *cur, size_t lo, size_t hi,
                  struct ref *out)
{
    assert(nd <= NIBBLES && lo <= hi && !cur->floating);
    if (lo == hi) {
        *out = *cur;
        return CHAIN_ERR_OK;
    }
    const uint8_t *path = c->ups[lo].key_hash;
    int rc;
    switch (cur->kind) {
    case KIND_EMPTY:
        return build(c, nd, lo, hi, NULL, out);

    case KIND_LEAF: {
        /* The parent told us the leaf's key; only a root leaf must be read. */
        struct leaf_view lv = {0};
        const uint8_t *key = cur->key_hash;
        if (key == NULL) {
            if ((rc = read_leaf(c->txn, c->smt, c->cur, cur->version, nd, path, &lv)))
                return rc;
            key = lv.key_hash;
        }
        size_t n_ins = inserts_in(c, lo, hi);
        size_t at = find_key(c, lo, hi, key);
        if (at == hi && n_ins == 0) {
            *out = *cur; /* deletes of absent keys only */
            return CHAIN_ERR_OK;
        }
        if (at < hi && n_ins == 1 && c->ups[at].value != NULL) {
            /* The key's own rewrite and no other insert here: the new leaf
             * takes the slot (or floats up if its parent empties), and a
             * rewrite to the same bytes leaves the old leaf in place. */
            struct ref nl;
            new_leaf(c, at, &nl);
            if (memcmp(nl.hash, cur->hash, CHAIN_HASH_BYTES) == 0) {
                *out = *cur;
                return CHAIN_ERR_OK;
            }
            if ((rc = mark_stale(c, cur->version, nd, path)))
                return rc;
            *out = nl;
            return CHAIN_ERR_OK;
        }
        if ((rc = mark_stale(c, cur->version, nd, path)))
            return rc;
        if (at < hi)
            return build(c, nd, lo, hi, NULL, out); /* the leaf's own update is in range */
        /* Inserts beside the leaf push it down: read it for its value. */
        if (lv.key_hash == NULL &&
            (rc = read_leaf(c->txn, c->smt, c->cur, cur->version, nd, path, &lv)))
            return rc;
        if (memcmp(lv.key_hash, key, CHAIN_HASH_BYTES) != 0)
            return CHAIN_ERR_STORE; /* the parent and the leaf disagree */
        struct ref extra = *cur;
        extra.floating = true;
        extra.key_hash = lv.key_hash;
        extra.value_hash = lv.value_hash;
        extra.value = lv.value;
        extra.value_len = lv.value_len;
        return build(c, nd, lo, hi, &extra, out);
    }

    case KIND_INNER: {
        struct ref ch[RADIX];
        struct levels old;
        if ((rc = read_inner(c->txn, c->smt, c->cur, cur->version, nd, path, ch, &old)))
            return rc;
        unsigned dirty = 0;
        for (size_t a = lo; a < hi;) {
            size_t z = nibble_run_end(c, a, hi, nd);
            unsigned nib = nibble(c->ups[a].key_hash, nd);
            struct ref n;
            if ((rc = update(c, nd + 1, &ch[nib], a, z, &n)))
                return rc;
            if (!ref_same(&n, &ch[nib])) {
                ch[nib] = n;
                dirty |= 1u << nib;
            }
            a = z;
        }
        if (dirty == 0) {
            *out = *cur;
            return CHAIN_ERR_OK;
        }
        if ((rc = mark_stale(c, cur->version, nd, path)))
            return rc;
        return join(c, nd, path, ch, &old, dirty, out);
    }

    default:
        return CHAIN_ERR_STORE; /* decoding admits no other kind */
    }
}

/* Sorting arrays of elements by a byte key at their start (memcmp order),
 * through an index whose entries carry the key's first 16 bytes as two
 * big-endian integers: they decide almost every comparison without a call
 * to memcmp, and the elements themselves move once. */
struct sort_ent {
    uint64_t k0, k1;
    const uint8_t *key;
    size_t key_len; /* >= 16 */
};

static bool ent_less(const struct sort_ent *x, const struct sort_ent *y)
{
    if (x->k0 != y->k0)
        return x->k0 < y->k0;
    if (x->k1 != y->k1)
        return x->k1 < y->k1;
    assert(x->key_len == y->key_len);
    return memcmp(x->key + 16, y->key + 16, x->key_len - 16u) < 0;
}

static void ent_swap(struct sort_ent *a, struct sort_ent *b)
{
    struct sort_ent t = *a;
    *a = *b;
    *b = t;
}

static void ent_sift_down(struct sort_ent *e, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && ent_less(&e[child], &e[child + 1]))
            child++;
        if (!ent_less(&e[root], &e[child]))
            return;
        ent_swap(&e[root], &e[child]);
        root = child;
    }
}

/* Introsort (quicksort, median of three, heapsort past a depth limit so no
 * input is quadratic, insertion sort for short runs), with the comparison
 * inlined: glibc's qsort spent more on calls and copies than on comparing. */
static void ent_sort(struct sort_ent *e, size_t n, unsigned depth)
{
    while (n > 16) {
        if (depth == 0) {
            for (size_t i = n / 2; i-- > 0;)
                ent_sift_down(e, i, n);
            for (size_t i = n; i-- > 1;) {
                ent_swap(&e[0], &e[i]);
                ent_sift_down(e, 0, i);
            }
            return;
        }
        depth--;
        size_t mid = n / 2;
        if (ent_less(&e[mid], &e[0]))
            ent_swap(&e[mid], &e[0]);
        if (ent_less(&e[n - 1], &e[0]))
            ent_swap(&e[n - 1], &e[0]);
        if (ent_less(&e[n - 1], &e[mid]))
            ent_swap(&e[n - 1], &e[mid]);
        struct sort_ent pivot = e[mid];
        size_t i = 0, j = n - 1;
        for (;;) { /* Hoare partition: e[0..j] <= pivot <= e[j+1..n) */
            while (ent_less(&e[i], &pivot))
                i++;
            while (ent_less(&pivot, &e[j]))
                j--;
            if (i >= j)
                break;
            ent_swap(&e[i], &e[j]);
            i++;
            j--;
        }
        /* recurse into the smaller part, loop on the larger */
        size_t left = j + 1;
        if (left < n - left) {
            ent_sort(e, left, depth);
            e += left;
            n -= left;
        } else {
            ent_sort(e + left, n - left, depth);
            n = left;
        }
    }
    for (size_t i = 1; i < n; i++)
        for (size_t k = i; k > 0 && ent_less(&e[k], &e[k - 1]); k--)
            ent_swap(&e[k], &e[k - 1]);
}

/* Sorts n elements of size stride at base by their first key_len bytes.
 * Errors: NOMEM. */
static int sort_by_key(void *base, size_t n, size_t stride, size_t key_len)
{
    assert(key_len >= 16 && key_len <= stride);
    if (n < 2)
        return CHAIN_ERR_OK;
    struct sort_ent *ents = malloc(n * sizeof *ents);
    uint8_t *tmp = malloc(n * stride);
    if (ents == NULL || tmp == NULL) {
        free(ents);
        free(tmp);
        return CHAIN_ERR_NOMEM;
    }
    uint8_t *p = base;
    memcpy(tmp, p, n * stride);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *k = tmp + i * stride;
        ents[i] = (struct sort_ent){get_be64(k), get_be64(k + 8), k, key_len};
    }
    unsigned depth = 0;
    for (size_t m = n; m > 1; m >>= 1)
        depth += 2;
    ent_sort(ents, n, depth);
    for (size_t i = 1; i < n; i++)
        assert(!ent_less(&ents[i], &ents[i - 1]));
    for (size_t i = 0; i < n; i++)
        memcpy(p + i * stride, ents[i].key, stride);
    free(ents);
    free(tmp);
    return CHAIN_ERR_OK;
}

/* Puts the new nodes in key order.  They all share the version, so a stable
 * counting sort by nibble depth does most of the work.  Within one depth the
 * post-order, nibble-ordered recursion emits nodes in path order, except that
 * an internal node's floating leaves are placed by its join after its
 * internal children (written by their own joins, deeper in the recursion): a
 * node is at most RADIX - 1 places out of order, which the final insertion
 * pass fixes in linear time. */
static int sort_nodes(struct chain_smt_batch *b)
{
    if (b->n_nodes < 2)
        return CHAIN_ERR_OK;
    size_t start[NIBBLES + 2];
    memset(start, 0, sizeof start);
    for (size_t i = 0; i < b->n_nodes; i++) {
        unsigned d = b->nodes[i].key[8];
        assert(d <= NIBBLES);
        start[d + 1]++;
    }
    for (unsigned d = 1; d < NIBBLES + 2; d++)
        start[d] += start[d - 1];
    struct new_node *sorted = malloc(b->n_nodes * sizeof *sorted);
    if (sorted == NULL)
        return CHAIN_ERR_NOMEM;
    for (size_t i = 0; i < b->n_nodes; i++) {
        unsigned d = b->nodes[i].key[8];
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
    _Static_assert(offsetof(struct chain_smt_update, key_hash) == 0, "sort_by_key: key first");
    int rc = sort_by_key(ups, n, sizeof *ups, CHAIN_HASH_BYTES);
    if (rc)
        return rc;
    for (size_t i = 1; i < n; i++)
        if (memcmp(ups[i - 1].key_hash, ups[i].key_hash, CHAIN_HASH_BYTES) == 0)
            return CHAIN_ERR_INVALID_ARG;

    struct ref base;
    rc = read_root(txn, smt, base_version, &base);
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
    /* A batch of n updates writes about 2n nodes and marks about as many
     * stale: reserve that much once (the arrays still grow if needed). */
    void *p = NULL;
    if ((rc = grow(&p, &b->cap_nodes, 2 * n + 16, sizeof *b->nodes)))
        goto fail;
    b->nodes = p;
    p = NULL;
    if ((rc = grow(&p, &b->cap_stale, 2 * n + 16, NODE_KEY_BYTES)))
        goto fail;
    b->stale = p;
    for (size_t i = 0; i < n; i++) {
        ins[i + 1] = ins[i] + (ups[i].value != NULL ? 1u : 0u);
        if (ups[i].value != NULL) {
            chain_value_hash(vh[i], ups[i].value, ups[i].value_len);
            b->n_hashes++;
        }
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
    b->root.key_hash = b->root.value_hash = b->root.value = NULL;
    b->root.value_len = 0;

    if ((rc = sort_nodes(b)))
        goto fail;
    if ((rc = sort_by_key(b->stale, b->n_stale, NODE_KEY_BYTES, NODE_KEY_BYTES)))
        goto fail;
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

size_t chain_smt_batch_hashes(const struct chain_smt_batch *b)
{
    assert(b != NULL);
    return b->n_hashes;
}

void chain_smt_batch_free(struct chain_smt_batch *b)
{
    if (b == NULL)
        return;
    free(b->nodes);
    struct arena_chunk *ch = b->arena;
    while (ch != NULL) {
        struct arena_chunk *next = ch->next;
        free(ch);
        ch = next;
    }
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
        MDB_val k = {.mv_size = stored_key_len(nn->key), .mv_data = (void *)nn->key};
        MDB_val v = {.mv_size = nn->len, .mv_data = (void *)nn->rec};
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

/* The terminal leaf of a walk, at bit depth `depth`: the leaf stored at
 * (version, nd, path), compared with key_hash.  Fills proof when not NULL. */
static int walk_leaf(MDB_txn *txn, const struct chain_smt *smt, uint64_t version, unsigned nd,
                     const uint8_t path[static CHAIN_HASH_BYTES], unsigned depth,
                     const uint8_t key_hash[static CHAIN_HASH_BYTES], struct chain_proof *proof,
                     const uint8_t **value, size_t *value_len)
{
    struct leaf_view lv;
    int rc = read_leaf(txn, smt, NULL, version, nd, path, &lv);
    if (rc)
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

static int walk_empty(struct chain_proof *proof, unsigned depth)
{
    if (proof) {
        proof->depth = depth;
        proof->terminal = CHAIN_PROOF_TERM_EMPTY;
    }
    return CHAIN_ERR_NOT_FOUND;
}

/* Walks from the root at version along key_hash.  Fills proof when not NULL:
 * inside each stored node the four binary levels (read with the node) give
 * the siblings and the bit depth where the path's subtree becomes empty or a
 * single leaf.  *value is the key's value when found (LMDB
 * memory), else NULL. */
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
    if (cur.kind == KIND_EMPTY)
        return walk_empty(proof, 0);
    if (cur.kind == KIND_LEAF)
        return walk_leaf(txn, smt, cur.version, 0, key_hash, 0, key_hash, proof, value, value_len);
    for (unsigned nd = 0;; nd++) {
        assert(cur.kind == KIND_INNER && nd < NIBBLES);
        struct ref ch[RADIX];
        struct levels lv;
        if ((rc = read_inner(txn, smt, NULL, cur.version, nd, key_hash, ch, &lv)))
            return rc;
        unsigned nib = nibble(key_hash, nd);
        if (proof) {
            for (unsigned l = 0; l < 4u; l++) {
                unsigned depth = 4u * nd + l;
                unsigned at = (1u << l) + (nib >> (4u - l)); /* heap index on the path */
                if (lv.st[at] == ST_EMPTY)
                    return walk_empty(proof, depth);
                if (lv.st[at] == ST_ONE_LEAF) {
                    /* the one leaf among the children under this subtree */
                    unsigned span = 1u << (4u - l), first = (nib >> (4u - l)) << (4u - l), i;
                    for (i = first; i < first + span && ch[i].kind == KIND_EMPTY; i++)
                        ;
                    assert(i < first + span && ch[i].kind == KIND_LEAF);
                    uint8_t lp[CHAIN_HASH_BYTES];
                    path_with_nibble(lp, key_hash, nd, i);
                    return walk_leaf(txn, smt, ch[i].version, nd + 1, lp, depth, key_hash, proof,
                                     value, value_len);
                }
                unsigned sib = ((1u << (l + 1u)) + (nib >> (3u - l))) ^ 1u;
                if (lv.st[sib] != ST_EMPTY) {
                    proof->present[depth >> 3] =
                        (uint8_t)(proof->present[depth >> 3] | (1u << (depth & 7u)));
                    memcpy(proof->siblings[depth], lv.h[sib], CHAIN_HASH_BYTES);
                }
            }
        }
        const struct ref *next = &ch[nib];
        if (next->kind == KIND_EMPTY)
            return walk_empty(proof, 4u * nd + 4u);
        if (next->kind == KIND_LEAF)
            return walk_leaf(txn, smt, next->version, nd + 1, key_hash, 4u * nd + 4u, key_hash,
                             proof, value, value_len);
        if (nd + 1 >= NIBBLES)
            return CHAIN_ERR_STORE; /* an internal node below the last nibble */
        cur = *next;
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
        if (sk[8 + 8] > NIBBLES) {
            rc = CHAIN_ERR_STORE;
            goto done;
        }
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
