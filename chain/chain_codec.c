/* chain_codec.c -- strict protobuf decoding, transaction envelopes, the handler registry. */
#include "chain_codec.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "chain_crypto.h"

void chain_registry_init(struct chain_registry *r)
{
    memset(r, 0, sizeof *r);
}

int chain_registry_add(struct chain_registry *r, uint32_t type, const struct chain_tx_handler *h)
{
    if (type == 0 || type >= CHAIN_TX_TYPES_MAX || !h || !h->decode || !h->apply)
        return CHAIN_ERR_INVALID_ARG;
    if (r->present[type])
        return CHAIN_ERR_DUPLICATE_HANDLER;
    r->handlers[type] = *h;
    r->present[type] = true;
    return CHAIN_ERR_OK;
}

int chain_registry_add_hook(struct chain_registry *r, chain_end_block_fn fn, void *arg)
{
    if (!fn || r->nhooks >= CHAIN_END_BLOCK_HOOKS_MAX)
        return CHAIN_ERR_INVALID_ARG;
    r->hooks[r->nhooks] = fn;
    r->hook_args[r->nhooks] = arg;
    r->nhooks++;
    return CHAIN_ERR_OK;
}

const struct chain_tx_handler *chain_registry_get(const struct chain_registry *r, uint32_t type)
{
    if (type >= CHAIN_TX_TYPES_MAX || !r->present[type])
        return NULL;
    return &r->handlers[type];
}

int chain_pb_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *bytes, size_t len,
                    size_t max_len, ProtobufCMessage **out)
{
    uint8_t stackbuf[CHAIN_TX_MAX_BYTES];
    uint8_t *buf = stackbuf;
    int rc = CHAIN_ERR_OK;

    *out = NULL;
    if (len > max_len)
        return CHAIN_ERR_DECODE_TOO_LARGE;
    if (len > 0 && !bytes)
        return CHAIN_ERR_INVALID_ARG;
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, bytes);
    if (!m)
        return CHAIN_ERR_DECODE_MALFORMED;
    if (m->n_unknown_fields > 0) {
        rc = CHAIN_ERR_DECODE_TRAILING;
        goto fail;
    }
    /* Canonical form: re-packing gives back the very bytes received.  A
     * canonical message followed by more bytes is "trailing"; anything else
     * that differs (zero fields sent, repeated scalars) is "noncanonical". */
    size_t packed = protobuf_c_message_get_packed_size(m);
    if (packed > len) {
        rc = CHAIN_ERR_DECODE_NONCANONICAL;
        goto fail;
    }
    if (packed > sizeof stackbuf) {
        buf = malloc(packed);
        if (!buf) {
            rc = CHAIN_ERR_NOMEM;
            goto fail;
        }
    }
    size_t n = protobuf_c_message_pack(m, buf);
    assert(n == packed);
    if (n > 0 && memcmp(buf, bytes, n) != 0) /* bytes may be NULL when n == 0 */
        rc = CHAIN_ERR_DECODE_NONCANONICAL;
    else if (n < len)
        rc = CHAIN_ERR_DECODE_TRAILING;
    if (buf != stackbuf)
        free(buf);
    if (rc != CHAIN_ERR_OK)
        goto fail;
    *out = m;
    return CHAIN_ERR_OK;
fail:
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int chain_pb_pack(const ProtobufCMessage *m, uint8_t **out, size_t *out_len)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return CHAIN_ERR_NOMEM;
    size_t w = protobuf_c_message_pack(m, buf);
    assert(w == n);
    *out = buf;
    *out_len = n;
    return CHAIN_ERR_OK;
}

void chain_tx_deinit(struct chain_tx *tx)
{
    if (!tx)
        return;
    if (tx->payload && tx->handler && tx->handler->free_payload)
        tx->handler->free_payload(tx->payload);
    if (tx->body_)
        gl__tx_body__free_unpacked(tx->body_, NULL);
    if (tx->env_)
        gl__tx__free_unpacked(tx->env_, NULL);
    memset(tx, 0, sizeof *tx);
}

int chain_tx_decode(const struct chain_registry *reg, const uint8_t *bytes, size_t len,
                    struct chain_tx *tx)
{
    ProtobufCMessage *m;
    int rc;

    memset(tx, 0, sizeof *tx);
    rc = chain_pb_unpack(&gl__tx__descriptor, bytes, len, CHAIN_TX_MAX_BYTES, &m);
    if (rc)
        return rc;
    tx->env_ = (Gl__Tx *)m;
    if ((rc = chain_check_key(tx->env_->signer)))
        goto fail;
    if (tx->env_->signature.len != CHAIN_SIG_BYTES) {
        rc = tx->env_->signature.len ? CHAIN_ERR_DECODE_BAD_LENGTH : CHAIN_ERR_DECODE_MISSING_FIELD;
        goto fail;
    }
    if (tx->env_->body_bytes.len == 0) {
        rc = CHAIN_ERR_DECODE_MISSING_FIELD;
        goto fail;
    }
    rc = chain_pb_unpack(&gl__tx_body__descriptor, tx->env_->body_bytes.data,
                         tx->env_->body_bytes.len, CHAIN_TX_BODY_MAX_BYTES, &m);
    if (rc)
        goto fail;
    tx->body_ = (Gl__TxBody *)m;
    size_t idlen = strlen(tx->body_->chain_id);
    if (idlen == 0) {
        rc = CHAIN_ERR_DECODE_MISSING_FIELD;
        goto fail;
    }
    if (idlen > CHAIN_CHAIN_ID_MAX_BYTES) {
        rc = CHAIN_ERR_DECODE_FIELD_TOO_LARGE;
        goto fail;
    }
    if (tx->body_->payload.len > CHAIN_TX_PAYLOAD_MAX_BYTES) {
        rc = CHAIN_ERR_DECODE_FIELD_TOO_LARGE;
        goto fail;
    }
    tx->handler = chain_registry_get(reg, tx->body_->type);
    if (!tx->handler) {
        rc = CHAIN_ERR_DECODE_UNKNOWN_TYPE;
        goto fail;
    }
    rc = tx->handler->decode(tx->body_->payload.data, tx->body_->payload.len, &tx->payload);
    if (rc)
        goto fail;
    tx->signer = tx->env_->signer.data;
    tx->signature = tx->env_->signature.data;
    tx->body = tx->env_->body_bytes.data;
    tx->body_len = tx->env_->body_bytes.len;
    tx->chain_id = tx->body_->chain_id;
    tx->nonce = tx->body_->nonce;
    tx->type = tx->body_->type;
    chain_hash(tx->hash, CHAIN_TAG_TX, bytes, len);
    return CHAIN_ERR_OK;
fail:
    tx->payload = NULL;
    chain_tx_deinit(tx);
    return rc;
}

int chain_tx_verify(const struct chain_tx *tx)
{
    assert(tx->signer && tx->signature && tx->body);
    return chain_verify(tx->signature, CHAIN_TAG_TXSIG, tx->body, tx->body_len, tx->signer);
}

int chain_tx_build(const char *chain_id, uint64_t nonce, uint32_t type, const uint8_t *payload,
                   size_t payload_len, const uint8_t pk[static CHAIN_PK_BYTES],
                   const uint8_t sk[static CHAIN_SK_BYTES], uint8_t **out, size_t *out_len)
{
    Gl__TxBody body = GL__TX_BODY__INIT;
    Gl__Tx env = GL__TX__INIT;
    uint8_t sig[CHAIN_SIG_BYTES];
    uint8_t *bb = NULL;
    size_t bl;
    int rc;

    if (strlen(chain_id) > CHAIN_CHAIN_ID_MAX_BYTES || payload_len > CHAIN_TX_PAYLOAD_MAX_BYTES)
        return CHAIN_ERR_INVALID_ARG;
    body.chain_id = (char *)chain_id;
    body.nonce = nonce;
    body.type = type;
    body.payload.data = (uint8_t *)payload;
    body.payload.len = payload_len;
    if ((rc = chain_pb_pack(&body.base, &bb, &bl)))
        return rc;
    if (bl > CHAIN_TX_BODY_MAX_BYTES) {
        free(bb);
        return CHAIN_ERR_DECODE_TOO_LARGE;
    }
    chain_sign(sig, CHAIN_TAG_TXSIG, bb, bl, sk);
    env.body_bytes.data = bb;
    env.body_bytes.len = bl;
    env.signer.data = (uint8_t *)pk;
    env.signer.len = CHAIN_PK_BYTES;
    env.signature.data = sig;
    env.signature.len = CHAIN_SIG_BYTES;
    rc = chain_pb_pack(&env.base, out, out_len);
    free(bb);
    return rc;
}
