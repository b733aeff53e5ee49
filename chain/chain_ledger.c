/* chain_ledger.c -- accounts, supply, pools and the ledger transaction handlers.
 *
 * Every handler follows one shape: authorise the signer, check amounts with
 * overflow-checked int64 arithmetic, then write.  Handlers return business
 * errors (INSUFFICIENT_FUNDS, UNAUTHORIZED, ...); the executor rolls the
 * transaction's writes back and records the error as its result. */
#include "chain_ledger.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chain_crypto.h"

/* ---- money ---- */

int chain_money_add(int64_t *acc, int64_t amount)
{
    assert(amount >= 0 && *acc >= 0);
    int64_t r;
    if (__builtin_add_overflow(*acc, amount, &r))
        return CHAIN_ERR_OVERFLOW;
    *acc = r;
    return CHAIN_ERR_OK;
}

int chain_money_sub(int64_t *acc, int64_t amount)
{
    assert(amount >= 0 && *acc >= 0);
    if (*acc < amount)
        return CHAIN_ERR_INSUFFICIENT_FUNDS;
    *acc -= amount;
    return CHAIN_ERR_OK;
}

/* ---- accounts ---- */

void chain_key_account(uint8_t key[static CHAIN_KEY_ACCOUNT_BYTES], const uint8_t pk[static CHAIN_PK_BYTES])
{
    key[0] = 'a';
    key[1] = '/';
    memcpy(key + 2, pk, CHAIN_PK_BYTES);
}

int chain_account_decode(const uint8_t *v, size_t n, struct chain_account *a)
{
    ProtobufCMessage *m;
    int rc = chain_pb_unpack(&gl__account__descriptor, v, n, CHAIN_STATE_VALUE_MAX_BYTES, &m);
    if (rc)
        return rc;
    Gl__Account *acc = (Gl__Account *)m;
    if (acc->balance > (uint64_t)INT64_MAX || acc->locked > (uint64_t)INT64_MAX) {
        gl__account__free_unpacked(acc, NULL);
        return CHAIN_ERR_DECODE_BAD_VALUE;
    }
    a->balance = (int64_t)acc->balance;
    a->locked = (int64_t)acc->locked;
    a->nonce = acc->nonce;
    a->roles = acc->roles;
    a->exists = true;
    gl__account__free_unpacked(acc, NULL);
    return CHAIN_ERR_OK;
}

int chain_account_load(struct chain_exec_ctx *ctx, const uint8_t pk[static CHAIN_PK_BYTES],
                       struct chain_account *a)
{
    uint8_t key[CHAIN_KEY_ACCOUNT_BYTES];
    const uint8_t *v;
    size_t n;
    chain_key_account(key, pk);
    memset(a, 0, sizeof *a);
    int rc = chain_state_get(ctx, key, sizeof key, &v, &n);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return CHAIN_ERR_OK;
    if (rc)
        return rc;
    rc = chain_account_decode(v, n, a);
    return rc ? CHAIN_ERR_STORE : CHAIN_ERR_OK;
}

int chain_account_store(struct chain_exec_ctx *ctx, const uint8_t pk[static CHAIN_PK_BYTES],
                        const struct chain_account *a)
{
    uint8_t key[CHAIN_KEY_ACCOUNT_BYTES];
    Gl__Account acc = GL__ACCOUNT__INIT;
    assert(a->balance >= 0 && a->locked >= 0);
    acc.balance = (uint64_t)a->balance;
    acc.locked = (uint64_t)a->locked;
    acc.nonce = a->nonce;
    acc.roles = a->roles;
    chain_key_account(key, pk);
    return chain_state_put_msg(ctx, key, sizeof key, &acc.base);
}

/* ---- supply and pools ---- */

static const char SUPPLY_KEY[] = "sys/supply";

int chain_supply_load(struct chain_exec_ctx *ctx, struct chain_supply *s)
{
    ProtobufCMessage *m;
    memset(s, 0, sizeof *s);
    int rc = chain_state_get_msg(ctx, SUPPLY_KEY, sizeof SUPPLY_KEY - 1, &gl__supply__descriptor, &m);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return CHAIN_ERR_OK;
    if (rc)
        return rc;
    Gl__Supply *sp = (Gl__Supply *)m;
    if (sp->minted > (uint64_t)INT64_MAX || sp->burned > sp->minted)
        rc = CHAIN_ERR_STORE;
    s->minted = (int64_t)sp->minted;
    s->burned = (int64_t)sp->burned;
    gl__supply__free_unpacked(sp, NULL);
    return rc;
}

int chain_supply_store(struct chain_exec_ctx *ctx, const struct chain_supply *s)
{
    Gl__Supply sp = GL__SUPPLY__INIT;
    assert(s->minted >= 0 && s->burned >= 0 && s->burned <= s->minted);
    sp.minted = (uint64_t)s->minted;
    sp.burned = (uint64_t)s->burned;
    return chain_state_put_msg(ctx, SUPPLY_KEY, sizeof SUPPLY_KEY - 1, &sp.base);
}

int chain_pool_add(struct chain_exec_ctx *ctx, const char *name, int64_t delta)
{
    uint8_t key[5 + CHAIN_NAME_MAX_BYTES];
    size_t nl = strlen(name);
    if (nl == 0 || nl > CHAIN_NAME_MAX_BYTES)
        return CHAIN_ERR_INVALID_ARG;
    memcpy(key, "pool/", 5);
    memcpy(key + 5, name, nl);
    ProtobufCMessage *m;
    int64_t bal = 0;
    int rc = chain_state_get_msg(ctx, key, 5 + nl, &gl__pool__descriptor, &m);
    if (rc && rc != CHAIN_ERR_NOT_FOUND)
        return rc;
    if (rc == CHAIN_ERR_OK) {
        uint64_t b = ((Gl__Pool *)m)->balance;
        gl__pool__free_unpacked((Gl__Pool *)m, NULL);
        if (b > (uint64_t)INT64_MAX)
            return CHAIN_ERR_STORE;
        bal = (int64_t)b;
    }
    rc = delta >= 0 ? chain_money_add(&bal, delta) : chain_money_sub(&bal, -delta);
    if (rc)
        return rc;
    Gl__Pool p = GL__POOL__INIT;
    p.balance = (uint64_t)bal;
    return chain_state_put_msg(ctx, key, 5 + nl, &p.base);
}

/* ---- payload decoders ---- */

#define DECODE_PAYLOAD(desc, type, payload, len, out)                                          \
    ProtobufCMessage *m_;                                                                      \
    int rc_ = chain_pb_unpack(&(desc), (payload), (len), CHAIN_TX_PAYLOAD_MAX_BYTES, &m_);     \
    if (rc_)                                                                                   \
        return rc_;                                                                            \
    type *out = (type *)m_

static void free_msg(void *msg)
{
    protobuf_c_message_free_unpacked(msg, NULL);
}

static int finish_decode(void *m, int rc, void **out)
{
    if (rc) {
        protobuf_c_message_free_unpacked(m, NULL);
        return rc;
    }
    *out = m;
    return CHAIN_ERR_OK;
}

static int decode_transfer(const uint8_t *p, size_t n, void **out)
{
    DECODE_PAYLOAD(gl__transfer__descriptor, Gl__Transfer, p, n, t);
    int rc = chain_check_key(t->to);
    if (!rc)
        rc = chain_check_money(t->amount);
    return finish_decode(t, rc, out);
}

static int decode_mint(const uint8_t *p, size_t n, void **out)
{
    DECODE_PAYLOAD(gl__mint__descriptor, Gl__Mint, p, n, t);
    int rc = chain_check_key(t->to);
    if (!rc)
        rc = chain_check_money(t->amount);
    if (!rc && strlen(t->bank_ref) == 0)
        rc = CHAIN_ERR_DECODE_MISSING_FIELD;
    if (!rc && strlen(t->bank_ref) > CHAIN_BANK_REF_MAX_BYTES)
        rc = CHAIN_ERR_DECODE_FIELD_TOO_LARGE;
    return finish_decode(t, rc, out);
}

static int decode_redeem(const uint8_t *p, size_t n, void **out)
{
    DECODE_PAYLOAD(gl__redeem__descriptor, Gl__Redeem, p, n, t);
    int rc = chain_check_money(t->amount);
    size_t bl = strlen(t->bank_account);
    if (!rc && bl == 0)
        rc = CHAIN_ERR_DECODE_MISSING_FIELD;
    if (!rc && bl > CHAIN_BANK_ACCOUNT_MAX_BYTES)
        rc = CHAIN_ERR_DECODE_FIELD_TOO_LARGE;
    return finish_decode(t, rc, out);
}

static int decode_payout_confirm(const uint8_t *p, size_t n, void **out)
{
    DECODE_PAYLOAD(gl__payout_confirm__descriptor, Gl__PayoutConfirm, p, n, t);
    int rc = CHAIN_ERR_OK;
    if (t->payout_id.len != CHAIN_HASH_BYTES)
        rc = t->payout_id.len ? CHAIN_ERR_DECODE_BAD_LENGTH : CHAIN_ERR_DECODE_MISSING_FIELD;
    if (!rc && strlen(t->bank_ref) > CHAIN_BANK_REF_MAX_BYTES)
        rc = CHAIN_ERR_DECODE_FIELD_TOO_LARGE;
    if (!rc && !t->failed && strlen(t->bank_ref) == 0)
        rc = CHAIN_ERR_DECODE_MISSING_FIELD; /* a paid payout names its bank transfer */
    return finish_decode(t, rc, out);
}

static int decode_set_roles(const uint8_t *p, size_t n, void **out)
{
    DECODE_PAYLOAD(gl__set_roles__descriptor, Gl__SetRoles, p, n, t);
    int rc = chain_check_key(t->account);
    if (!rc && (t->roles & ~CHAIN_ROLES_ALL))
        rc = CHAIN_ERR_BAD_ROLE;
    return finish_decode(t, rc, out);
}

static int decode_register_participant(const uint8_t *p, size_t n, void **out)
{
    DECODE_PAYLOAD(gl__register_participant__descriptor, Gl__RegisterParticipant, p, n, t);
    int rc = chain_check_key(t->account);
    if (!rc && (t->kind < GL__PARTICIPANT_KIND__KIND_CONSUMER ||
                t->kind > GL__PARTICIPANT_KIND__KIND_COMMUNITY_MANAGER))
        rc = CHAIN_ERR_DECODE_BAD_VALUE;
    if (!rc && t->n_meter_keys > CHAIN_METER_KEYS_MAX)
        rc = CHAIN_ERR_DECODE_TOO_MANY;
    for (size_t i = 0; !rc && i < t->n_meter_keys; i++) {
        rc = chain_check_key(t->meter_keys[i]);
        for (size_t j = 0; !rc && j < i; j++)
            if (memcmp(t->meter_keys[i].data, t->meter_keys[j].data, CHAIN_PK_BYTES) == 0)
                rc = CHAIN_ERR_DECODE_BAD_VALUE;
    }
    if (!rc && strlen(t->name) > CHAIN_NAME_MAX_BYTES)
        rc = CHAIN_ERR_DECODE_FIELD_TOO_LARGE;
    return finish_decode(t, rc, out);
}

/* ---- handlers ---- */

static int require_role(struct chain_exec_ctx *ctx, const uint8_t *pk, uint32_t role)
{
    struct chain_account a;
    int rc = chain_account_load(ctx, pk, &a);
    if (rc)
        return rc;
    return (a.roles & role) ? CHAIN_ERR_OK : CHAIN_ERR_UNAUTHORIZED;
}

static int credit(struct chain_exec_ctx *ctx, const uint8_t *pk, int64_t amount)
{
    struct chain_account a;
    int rc = chain_account_load(ctx, pk, &a);
    if (!rc)
        rc = chain_money_add(&a.balance, amount);
    if (!rc)
        rc = chain_account_store(ctx, pk, &a);
    return rc;
}

static int debit(struct chain_exec_ctx *ctx, const uint8_t *pk, int64_t amount)
{
    struct chain_account a;
    int rc = chain_account_load(ctx, pk, &a);
    if (!rc)
        rc = chain_money_sub(&a.balance, amount);
    if (!rc)
        rc = chain_account_store(ctx, pk, &a);
    return rc;
}

static int apply_transfer(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    const Gl__Transfer *t = msg;
    if (memcmp(t->to.data, tx->signer, CHAIN_PK_BYTES) == 0)
        return CHAIN_ERR_SELF_TRANSFER;
    int rc = debit(ctx, tx->signer, (int64_t)t->amount);
    if (!rc)
        rc = credit(ctx, t->to.data, (int64_t)t->amount);
    return rc;
}

static int apply_mint(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    const Gl__Mint *t = msg;
    struct chain_supply s;
    uint8_t key[3 + CHAIN_BANK_REF_MAX_BYTES];
    const uint8_t *v;
    size_t vl, rl = strlen(t->bank_ref);
    int rc = require_role(ctx, tx->signer, CHAIN_ROLE_SHADOW_CENTRE);
    if (rc)
        return rc;
    memcpy(key, "mr/", 3);
    memcpy(key + 3, t->bank_ref, rl);
    rc = chain_state_get(ctx, key, 3 + rl, &v, &vl);
    if (rc == CHAIN_ERR_OK)
        return CHAIN_ERR_DUPLICATE_BANK_REF;
    if (rc != CHAIN_ERR_NOT_FOUND)
        return rc;
    if ((rc = chain_state_put(ctx, key, 3 + rl, tx->hash, CHAIN_HASH_BYTES)))
        return rc;
    if ((rc = chain_supply_load(ctx, &s)) || (rc = chain_money_add(&s.minted, (int64_t)t->amount)))
        return rc;
    if ((rc = chain_supply_store(ctx, &s)))
        return rc;
    return credit(ctx, t->to.data, (int64_t)t->amount);
}

static void key_payout(uint8_t key[3 + CHAIN_HASH_BYTES], const uint8_t id[CHAIN_HASH_BYTES])
{
    memcpy(key, "po/", 3);
    memcpy(key + 3, id, CHAIN_HASH_BYTES);
}

static int apply_redeem(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    const Gl__Redeem *t = msg;
    struct chain_supply s;
    uint8_t key[3 + CHAIN_HASH_BYTES];
    int rc = debit(ctx, tx->signer, (int64_t)t->amount);
    if (rc)
        return rc;
    if ((rc = chain_supply_load(ctx, &s)) || (rc = chain_money_add(&s.burned, (int64_t)t->amount)))
        return rc;
    if ((rc = chain_supply_store(ctx, &s)))
        return rc;
    Gl__Payout po = GL__PAYOUT__INIT;
    po.account.data = (uint8_t *)tx->signer;
    po.account.len = CHAIN_PK_BYTES;
    po.amount = t->amount;
    po.bank_account = t->bank_account;
    po.height = ctx->height;
    po.status = CHAIN_PAYOUT_PENDING;
    key_payout(key, tx->hash);
    return chain_state_put_msg(ctx, key, sizeof key, &po.base);
}

static int apply_payout_confirm(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    const Gl__PayoutConfirm *t = msg;
    uint8_t key[3 + CHAIN_HASH_BYTES];
    ProtobufCMessage *m;
    int rc = require_role(ctx, tx->signer, CHAIN_ROLE_SHADOW_CENTRE);
    if (rc)
        return rc;
    key_payout(key, t->payout_id.data);
    rc = chain_state_get_msg(ctx, key, sizeof key, &gl__payout__descriptor, &m);
    if (rc == CHAIN_ERR_NOT_FOUND)
        return CHAIN_ERR_UNKNOWN_PAYOUT;
    if (rc)
        return rc;
    Gl__Payout *po = (Gl__Payout *)m;
    if (po->status != CHAIN_PAYOUT_PENDING) {
        rc = CHAIN_ERR_PAYOUT_NOT_PENDING;
        goto out;
    }
    if (po->account.len != CHAIN_PK_BYTES || po->amount > (uint64_t)INT64_MAX) {
        rc = CHAIN_ERR_STORE;
        goto out;
    }
    if (t->failed) {
        struct chain_supply s;
        if ((rc = chain_supply_load(ctx, &s)))
            goto out;
        assert(s.burned >= (int64_t)po->amount);
        s.burned -= (int64_t)po->amount;
        if ((rc = chain_supply_store(ctx, &s)) || (rc = credit(ctx, po->account.data, (int64_t)po->amount)))
            goto out;
        po->status = CHAIN_PAYOUT_REFUNDED;
    } else {
        po->status = CHAIN_PAYOUT_PAID;
    }
    po->bank_ref = t->bank_ref;
    rc = chain_state_put_msg(ctx, key, sizeof key, &po->base);
    po->bank_ref = NULL; /* borrowed from t: do not free it twice */
out:
    gl__payout__free_unpacked(po, NULL);
    return rc;
}

static int apply_set_roles(struct chain_exec_ctx *ctx, const struct chain_tx *tx, const void *msg)
{
    const Gl__SetRoles *t = msg;
    struct chain_account a;
    int rc = require_role(ctx, tx->signer, CHAIN_ROLE_OPERATOR);
    if (rc)
        return rc;
    if ((rc = chain_account_load(ctx, t->account.data, &a)))
        return rc;
    a.roles = t->roles;
    return chain_account_store(ctx, t->account.data, &a);
}

static int apply_register_participant(struct chain_exec_ctx *ctx, const struct chain_tx *tx,
                                      const void *msg)
{
    const Gl__RegisterParticipant *t = msg;
    uint8_t key[3 + CHAIN_PK_BYTES];
    const uint8_t *v;
    size_t vl;
    int rc = require_role(ctx, tx->signer, CHAIN_ROLE_OPERATOR);
    if (rc)
        return rc;
    memcpy(key, "p/", 2);
    memcpy(key + 2, t->account.data, CHAIN_PK_BYTES);
    rc = chain_state_get(ctx, key, 2 + CHAIN_PK_BYTES, &v, &vl);
    if (rc == CHAIN_ERR_OK)
        return CHAIN_ERR_ALREADY_REGISTERED;
    if (rc != CHAIN_ERR_NOT_FOUND)
        return rc;
    Gl__Participant p = GL__PARTICIPANT__INIT;
    p.kind = t->kind;
    p.zone = t->zone;
    p.renewable = t->renewable;
    p.n_meter_keys = t->n_meter_keys;
    p.meter_keys = t->meter_keys;
    p.name = t->name;
    p.registered_height = ctx->height;
    if ((rc = chain_state_put_msg(ctx, key, 2 + CHAIN_PK_BYTES, &p.base)))
        return rc;
    for (size_t i = 0; i < t->n_meter_keys; i++) {
        memcpy(key, "mk/", 3);
        memcpy(key + 3, t->meter_keys[i].data, CHAIN_PK_BYTES);
        rc = chain_state_get(ctx, key, sizeof key, &v, &vl);
        if (rc == CHAIN_ERR_OK)
            return CHAIN_ERR_METER_BOUND;
        if (rc != CHAIN_ERR_NOT_FOUND)
            return rc;
        Gl__MeterBinding b = GL__METER_BINDING__INIT;
        b.owner = t->account;
        if ((rc = chain_state_put_msg(ctx, key, sizeof key, &b.base)))
            return rc;
    }
    struct chain_account a;
    if ((rc = chain_account_load(ctx, t->account.data, &a)))
        return rc;
    a.roles |= CHAIN_ROLE_PARTICIPANT;
    return chain_account_store(ctx, t->account.data, &a);
}

int chain_ledger_register(struct chain_registry *reg)
{
    static const struct {
        uint32_t type;
        struct chain_tx_handler h;
    } table[] = {
        {GL__TX_TYPE__TX_TRANSFER, {"transfer", decode_transfer, free_msg, apply_transfer}},
        {GL__TX_TYPE__TX_MINT, {"mint", decode_mint, free_msg, apply_mint}},
        {GL__TX_TYPE__TX_REDEEM, {"redeem", decode_redeem, free_msg, apply_redeem}},
        {GL__TX_TYPE__TX_PAYOUT_CONFIRM,
         {"payout_confirm", decode_payout_confirm, free_msg, apply_payout_confirm}},
        {GL__TX_TYPE__TX_SET_ROLES, {"set_roles", decode_set_roles, free_msg, apply_set_roles}},
        {GL__TX_TYPE__TX_REGISTER_PARTICIPANT,
         {"register_participant", decode_register_participant, free_msg, apply_register_participant}},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int rc = chain_registry_add(reg, table[i].type, &table[i].h);
        if (rc)
            return rc;
    }
    return CHAIN_ERR_OK;
}

/* ---- supply invariant over committed state ---- */

static int sum_prefix(const struct chain_store *s, MDB_txn *txn, const char *prefix, bool accounts,
                      int64_t *total, uint64_t *count)
{
    MDB_cursor *cur;
    size_t pl = strlen(prefix);
    MDB_val k = {pl, (void *)prefix}, v;
    int rc = mdb_cursor_open(txn, s->state, &cur);
    if (rc)
        return chain_store_err(rc);
    int r = CHAIN_ERR_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < pl || memcmp(k.mv_data, prefix, pl) != 0)
            break;
        int64_t add;
        if (accounts) {
            struct chain_account a;
            if (chain_account_decode(v.mv_data, v.mv_size, &a)) {
                r = CHAIN_ERR_STORE;
                break;
            }
            if (__builtin_add_overflow(a.balance, a.locked, &add)) {
                r = CHAIN_ERR_SUPPLY_BROKEN;
                break;
            }
        } else {
            ProtobufCMessage *m;
            if (chain_pb_unpack(&gl__pool__descriptor, v.mv_data, v.mv_size, CHAIN_STATE_VALUE_MAX_BYTES,
                                &m)) {
                r = CHAIN_ERR_STORE;
                break;
            }
            uint64_t b = ((Gl__Pool *)m)->balance;
            gl__pool__free_unpacked((Gl__Pool *)m, NULL);
            if (b > (uint64_t)INT64_MAX) {
                r = CHAIN_ERR_SUPPLY_BROKEN;
                break;
            }
            add = (int64_t)b;
        }
        if (__builtin_add_overflow(*total, add, total)) {
            r = CHAIN_ERR_SUPPLY_BROKEN;
            break;
        }
        (*count)++;
    }
    if (r == CHAIN_ERR_OK && rc != 0 && rc != MDB_NOTFOUND)
        r = chain_store_err(rc);
    mdb_cursor_close(cur);
    return r;
}

int chain_supply_check(const struct chain_store *s, MDB_txn *txn, struct chain_supply_report *report)
{
    struct chain_supply_report r = {0};
    uint64_t pools = 0;
    const uint8_t *v;
    size_t n;
    int rc = sum_prefix(s, txn, "a/", true, &r.accounts_total, &r.accounts);
    if (!rc)
        rc = sum_prefix(s, txn, "pool/", false, &r.pools_total, &pools);
    if (rc)
        return rc;
    rc = chain_store_get(s, txn, SUPPLY_KEY, sizeof SUPPLY_KEY - 1, &v, &n);
    if (rc && rc != CHAIN_ERR_NOT_FOUND)
        return rc;
    if (rc == CHAIN_ERR_OK) {
        ProtobufCMessage *m;
        if (chain_pb_unpack(&gl__supply__descriptor, v, n, CHAIN_STATE_VALUE_MAX_BYTES, &m))
            return CHAIN_ERR_STORE;
        r.minted = (int64_t)((Gl__Supply *)m)->minted;
        r.burned = (int64_t)((Gl__Supply *)m)->burned;
        gl__supply__free_unpacked((Gl__Supply *)m, NULL);
    }
    if (report)
        *report = r;
    int64_t held;
    if (__builtin_add_overflow(r.accounts_total, r.pools_total, &held) ||
        held != r.minted - r.burned)
        return CHAIN_ERR_SUPPLY_BROKEN;
    return CHAIN_ERR_OK;
}

/* ---- payload builders ---- */

int chain_payload_transfer(const uint8_t to[static CHAIN_PK_BYTES], uint64_t amount, uint8_t **out, size_t *len)
{
    Gl__Transfer t = GL__TRANSFER__INIT;
    t.to.data = (uint8_t *)to;
    t.to.len = CHAIN_PK_BYTES;
    t.amount = amount;
    return chain_pb_pack(&t.base, out, len);
}

int chain_payload_mint(const uint8_t to[static CHAIN_PK_BYTES], uint64_t amount, const char *bank_ref,
                       uint8_t **out, size_t *len)
{
    Gl__Mint t = GL__MINT__INIT;
    t.to.data = (uint8_t *)to;
    t.to.len = CHAIN_PK_BYTES;
    t.amount = amount;
    t.bank_ref = (char *)bank_ref;
    return chain_pb_pack(&t.base, out, len);
}

int chain_payload_redeem(uint64_t amount, const char *bank_account, uint8_t **out, size_t *len)
{
    Gl__Redeem t = GL__REDEEM__INIT;
    t.amount = amount;
    t.bank_account = (char *)bank_account;
    return chain_pb_pack(&t.base, out, len);
}

int chain_payload_payout_confirm(const uint8_t payout_id[static CHAIN_HASH_BYTES], const char *bank_ref,
                                 bool failed, uint8_t **out, size_t *len)
{
    Gl__PayoutConfirm t = GL__PAYOUT_CONFIRM__INIT;
    t.payout_id.data = (uint8_t *)payout_id;
    t.payout_id.len = CHAIN_HASH_BYTES;
    t.bank_ref = (char *)bank_ref;
    t.failed = failed;
    return chain_pb_pack(&t.base, out, len);
}

int chain_payload_set_roles(const uint8_t account[static CHAIN_PK_BYTES], uint32_t roles, uint8_t **out,
                            size_t *len)
{
    Gl__SetRoles t = GL__SET_ROLES__INIT;
    t.account.data = (uint8_t *)account;
    t.account.len = CHAIN_PK_BYTES;
    t.roles = roles;
    return chain_pb_pack(&t.base, out, len);
}

int chain_payload_register_participant(const uint8_t account[static CHAIN_PK_BYTES], uint32_t kind,
                                       uint32_t zone, bool renewable, const uint8_t (*meters)[CHAIN_PK_BYTES],
                                       size_t nmeters, const char *name, uint8_t **out, size_t *len)
{
    Gl__RegisterParticipant t = GL__REGISTER_PARTICIPANT__INIT;
    ProtobufCBinaryData mk[CHAIN_METER_KEYS_MAX];
    if (nmeters > CHAIN_METER_KEYS_MAX)
        return CHAIN_ERR_INVALID_ARG;
    for (size_t i = 0; i < nmeters; i++) {
        mk[i].data = (uint8_t *)meters[i];
        mk[i].len = CHAIN_PK_BYTES;
    }
    t.account.data = (uint8_t *)account;
    t.account.len = CHAIN_PK_BYTES;
    t.kind = kind;
    t.zone = zone;
    t.renewable = renewable;
    t.n_meter_keys = nmeters;
    t.meter_keys = mk;
    t.name = (char *)name;
    return chain_pb_pack(&t.base, out, len);
}
