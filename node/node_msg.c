/* node_msg.c -- strict decoding and encoding of NodeMsg (node_msg.h). */
#include "node_msg.h"

#include <stdlib.h>
#include <string.h>

#include "chain_codec.h"

void node_msg_deinit(struct node_msg *m)
{
    if (m && m->pb)
        gl__node_msg__free_unpacked(m->pb, NULL);
    if (m)
        memset(m, 0, sizeof *m);
}

int node_cert_from_pb(const Gl__Cert *pc, struct cons_cert *out)
{
    memset(out, 0, sizeof *out);
    if (!pc || pc->height == 0 || pc->hash.len == 0)
        return CHAIN_ERR_DECODE_MISSING_FIELD;
    if (pc->hash.len != CONS_HASH_BYTES)
        return CHAIN_ERR_DECODE_BAD_LENGTH;
    if (pc->n_sigs == 0)
        return CHAIN_ERR_DECODE_MISSING_FIELD;
    if (pc->n_sigs > CONS_NODES_MAX)
        return CHAIN_ERR_DECODE_TOO_MANY;
    uint64_t seen = 0;
    for (size_t i = 0; i < pc->n_sigs; i++) {
        const Gl__CertSig *s = pc->sigs[i];
        if (s->signer >= CONS_NODES_MAX)
            return CHAIN_ERR_DECODE_BAD_VALUE;
        if (seen & (1ull << s->signer))
            return CHAIN_ERR_DECODE_BAD_VALUE; /* one signature per signer */
        seen |= 1ull << s->signer;
        if (s->sig.len != CONS_SIG_BYTES)
            return s->sig.len ? CHAIN_ERR_DECODE_BAD_LENGTH : CHAIN_ERR_DECODE_MISSING_FIELD;
        out->sigs[i].signer = s->signer;
        memcpy(out->sigs[i].sig, s->sig.data, CONS_SIG_BYTES);
    }
    out->height = pc->height;
    memcpy(out->hash, pc->hash.data, CONS_HASH_BYTES);
    out->n_sigs = (uint32_t)pc->n_sigs;
    return CHAIN_ERR_OK;
}

static int check(const Gl__NodeMsg *m)
{
    switch (m->kind_case) {
    case GL__NODE_MSG__KIND_CONS:
        if (m->cons.len == 0)
            return CHAIN_ERR_DECODE_MISSING_FIELD;
        return m->cons.len <= CONS_MSG_MAX_BYTES ? CHAIN_ERR_OK : CHAIN_ERR_DECODE_FIELD_TOO_LARGE;
    case GL__NODE_MSG__KIND_TXS:
        if (m->txs->n_txs == 0)
            return CHAIN_ERR_DECODE_MISSING_FIELD;
        if (m->txs->n_txs > NODE_MSG_MAX_TXS)
            return CHAIN_ERR_DECODE_TOO_MANY;
        for (size_t i = 0; i < m->txs->n_txs; i++) {
            if (m->txs->txs[i].len == 0)
                return CHAIN_ERR_DECODE_MISSING_FIELD;
            if (m->txs->txs[i].len > CHAIN_TX_MAX_BYTES)
                return CHAIN_ERR_DECODE_FIELD_TOO_LARGE;
        }
        return CHAIN_ERR_OK;
    case GL__NODE_MSG__KIND_STATUS:
        if (m->status->hash.len != CHAIN_HASH_BYTES)
            return m->status->hash.len ? CHAIN_ERR_DECODE_BAD_LENGTH
                                       : CHAIN_ERR_DECODE_MISSING_FIELD;
        return CHAIN_ERR_OK;
    case GL__NODE_MSG__KIND_GET_BLOCKS:
        if (m->get_blocks->from == 0 || m->get_blocks->max == 0)
            return CHAIN_ERR_DECODE_MISSING_FIELD;
        return m->get_blocks->max <= NODE_MSG_MAX_BLOCKS ? CHAIN_ERR_OK
                                                         : CHAIN_ERR_DECODE_BAD_VALUE;
    case GL__NODE_MSG__KIND_BLOCKS: {
        const Gl__Blocks *b = m->blocks;
        if (b->n_blocks == 0)
            return CHAIN_ERR_DECODE_MISSING_FIELD;
        if (b->n_blocks > NODE_MSG_MAX_BLOCKS)
            return CHAIN_ERR_DECODE_TOO_MANY;
        for (size_t i = 0; i < b->n_blocks; i++) {
            struct cons_cert c;
            int rc;
            if (b->blocks[i]->block.len == 0)
                return CHAIN_ERR_DECODE_MISSING_FIELD;
            if (b->blocks[i]->block.len > CHAIN_BLOCK_MAX_BYTES)
                return CHAIN_ERR_DECODE_FIELD_TOO_LARGE;
            if ((rc = node_cert_from_pb(b->blocks[i]->cert, &c)))
                return rc;
            if (i > 0 && c.height != b->blocks[i - 1]->cert->height + 1)
                return CHAIN_ERR_DECODE_BAD_VALUE; /* consecutive heights */
        }
        return CHAIN_ERR_OK;
    }
    default: return CHAIN_ERR_DECODE_MISSING_FIELD;
    }
}

int node_msg_decode(const uint8_t *buf, size_t len, struct node_msg *m)
{
    ProtobufCMessage *pm;
    memset(m, 0, sizeof *m);
    int rc = chain_pb_unpack(&gl__node_msg__descriptor, buf, len, NODE_MSG_MAX_BYTES, &pm);
    if (rc)
        return rc;
    Gl__NodeMsg *nm = (Gl__NodeMsg *)pm;
    if ((rc = check(nm))) {
        gl__node_msg__free_unpacked(nm, NULL);
        return rc;
    }
    m->pb = nm;
    m->kind = (enum node_msg_kind)nm->kind_case;
    return CHAIN_ERR_OK;
}

int node_msg_encode_cons(const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
    if (len == 0 || len > CONS_MSG_MAX_BYTES)
        return CHAIN_ERR_INVALID_ARG;
    Gl__NodeMsg m = GL__NODE_MSG__INIT;
    m.kind_case = GL__NODE_MSG__KIND_CONS;
    m.cons.data = (uint8_t *)data;
    m.cons.len = len;
    return chain_pb_pack(&m.base, out, out_len);
}

int node_msg_encode_txs(const uint8_t *const *txs, const size_t *lens, size_t n, uint8_t **out,
                        size_t *out_len)
{
    if (n == 0 || n > NODE_MSG_MAX_TXS)
        return CHAIN_ERR_INVALID_ARG;
    ProtobufCBinaryData *arr = malloc(n * sizeof *arr);
    if (!arr)
        return CHAIN_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        arr[i].data = (uint8_t *)txs[i];
        arr[i].len = lens[i];
    }
    Gl__TxBatch b = GL__TX_BATCH__INIT;
    b.n_txs = n;
    b.txs = arr;
    Gl__NodeMsg m = GL__NODE_MSG__INIT;
    m.kind_case = GL__NODE_MSG__KIND_TXS;
    m.txs = &b;
    int rc = chain_pb_pack(&m.base, out, out_len);
    free(arr);
    return rc;
}

int node_msg_encode_status(uint64_t height, const uint8_t hash[static CHAIN_HASH_BYTES],
                           uint8_t **out, size_t *out_len)
{
    Gl__SyncStatus s = GL__SYNC_STATUS__INIT;
    s.height = height;
    s.hash.data = (uint8_t *)hash;
    s.hash.len = CHAIN_HASH_BYTES;
    Gl__NodeMsg m = GL__NODE_MSG__INIT;
    m.kind_case = GL__NODE_MSG__KIND_STATUS;
    m.status = &s;
    return chain_pb_pack(&m.base, out, out_len);
}

int node_msg_encode_get_blocks(uint64_t from, uint32_t max, uint8_t **out, size_t *out_len)
{
    if (from == 0 || max == 0 || max > NODE_MSG_MAX_BLOCKS)
        return CHAIN_ERR_INVALID_ARG;
    Gl__GetBlocks g = GL__GET_BLOCKS__INIT;
    g.from = from;
    g.max = max;
    Gl__NodeMsg m = GL__NODE_MSG__INIT;
    m.kind_case = GL__NODE_MSG__KIND_GET_BLOCKS;
    m.get_blocks = &g;
    return chain_pb_pack(&m.base, out, out_len);
}

/* Fill pc from c; sigs and ptrs have room for CONS_NODES_MAX. */
static void cert_to_pb(const struct cons_cert *c, Gl__Cert *pc, Gl__CertSig *sigs,
                       Gl__CertSig **ptrs)
{
    gl__cert__init(pc);
    pc->height = c->height;
    pc->hash.data = (uint8_t *)c->hash;
    pc->hash.len = CONS_HASH_BYTES;
    uint32_t n = c->n_sigs < CONS_NODES_MAX ? c->n_sigs : CONS_NODES_MAX;
    for (uint32_t i = 0; i < n; i++) {
        gl__cert_sig__init(&sigs[i]);
        sigs[i].signer = c->sigs[i].signer;
        sigs[i].sig.data = (uint8_t *)c->sigs[i].sig;
        sigs[i].sig.len = CONS_SIG_BYTES;
        ptrs[i] = &sigs[i];
    }
    pc->n_sigs = n;
    pc->sigs = ptrs;
}

int node_msg_encode_blocks(const struct node_cblock *b, size_t n, uint8_t **out, size_t *out_len)
{
    if (n == 0 || n > NODE_MSG_MAX_BLOCKS)
        return CHAIN_ERR_INVALID_ARG;
    struct one {
        Gl__CertifiedBlock cb;
        Gl__Cert cert;
        Gl__CertSig sigs[CONS_NODES_MAX];
        Gl__CertSig *ptrs[CONS_NODES_MAX];
    } *ones = calloc(n, sizeof *ones);
    Gl__CertifiedBlock **cbs = calloc(n, sizeof *cbs);
    int rc = CHAIN_ERR_NOMEM;
    if (!ones || !cbs)
        goto out;
    for (size_t i = 0; i < n; i++) {
        gl__certified_block__init(&ones[i].cb);
        ones[i].cb.block.data = (uint8_t *)b[i].block;
        ones[i].cb.block.len = b[i].len;
        cert_to_pb(&b[i].cert, &ones[i].cert, ones[i].sigs, ones[i].ptrs);
        ones[i].cb.cert = &ones[i].cert;
        cbs[i] = &ones[i].cb;
    }
    Gl__Blocks bl = GL__BLOCKS__INIT;
    bl.n_blocks = n;
    bl.blocks = cbs;
    Gl__NodeMsg m = GL__NODE_MSG__INIT;
    m.kind_case = GL__NODE_MSG__KIND_BLOCKS;
    m.blocks = &bl;
    rc = chain_pb_pack(&m.base, out, out_len);
out:
    free(ones);
    free(cbs);
    return rc;
}

int node_cert_encode(const struct cons_cert *c, uint8_t **out, size_t *out_len)
{
    Gl__Cert pc;
    Gl__CertSig sigs[CONS_NODES_MAX];
    Gl__CertSig *ptrs[CONS_NODES_MAX];
    cert_to_pb(c, &pc, sigs, ptrs);
    return chain_pb_pack(&pc.base, out, out_len);
}

int node_cert_decode(const uint8_t *buf, size_t len, struct cons_cert *out)
{
    ProtobufCMessage *pm;
    memset(out, 0, sizeof *out);
    int rc = chain_pb_unpack(&gl__cert__descriptor, buf, len, 8192, &pm);
    if (rc)
        return rc;
    rc = node_cert_from_pb((Gl__Cert *)pm, out);
    gl__cert__free_unpacked((Gl__Cert *)pm, NULL);
    return rc;
}
