/* chain_err.h -- the one result space of gridledger's chain module.
 *
 * Every function that can fail returns an int from this table: 0 is success,
 * negative values are named errors.  Names and messages come from one X-macro
 * (libuv's UV_ERRNO_MAP) so that a code, its name and its message never drift.
 * Ranges: -1..-9 system, -10..-39 decoding, -40..-79 transaction rules,
 * -80..-99 blocks, -100..-119 state and proofs.  Other modules (market/) own
 * the ranges below -200 and register their own tables. */
#ifndef CHAIN_ERR_H
#define CHAIN_ERR_H

#define CHAIN_ERRORS(X)                                                                        \
    X(OK, 0, "ok")                                                                             \
    X(NOMEM, -1, "out of memory")                                                              \
    X(STORE, -2, "storage error (LMDB); see the log line before this one")                     \
    X(STORE_FULL, -3, "storage map is full; raise map_size in the configuration")              \
    X(INTERNAL, -4, "internal error")                                                          \
    X(INVALID_ARG, -5, "invalid argument")                                                     \
    X(DECODE_MALFORMED, -10, "bytes are not a well-formed protobuf message")                   \
    X(DECODE_TRAILING, -11, "message is followed by trailing or unknown bytes")                \
    X(DECODE_NONCANONICAL, -12, "message is not in canonical encoding")                        \
    X(DECODE_TOO_LARGE, -13, "message exceeds its size limit")                                 \
    X(DECODE_FIELD_TOO_LARGE, -14, "a field exceeds its size limit")                           \
    X(DECODE_BAD_LENGTH, -15, "a fixed-size field (key, hash or signature) has the wrong length") \
    X(DECODE_UNKNOWN_TYPE, -16, "unknown transaction type")                                    \
    X(DECODE_MISSING_FIELD, -17, "a required field is missing or zero")                        \
    X(DECODE_TOO_MANY, -18, "a repeated field has too many elements")                          \
    X(DECODE_BAD_VALUE, -19, "a field has a value outside its allowed range")                  \
    X(BAD_SIG, -40, "signature does not verify")                                               \
    X(WRONG_CHAIN, -41, "transaction is for another chain (chain_id differs)")                 \
    X(BAD_NONCE, -42, "nonce is not the account's next nonce")                                 \
    X(INSUFFICIENT_FUNDS, -43, "balance is too low for this amount")                           \
    X(OVERFLOW, -44, "amount would overflow the 63-bit money range")                           \
    X(UNAUTHORIZED, -45, "signer does not hold the role this transaction needs")               \
    X(UNKNOWN_ACCOUNT, -46, "account does not exist")                                          \
    X(ZERO_AMOUNT, -47, "amount must be greater than zero")                                    \
    X(SELF_TRANSFER, -48, "sender and recipient are the same account")                         \
    X(DUPLICATE_BANK_REF, -49, "this bank reference was already minted")                       \
    X(UNKNOWN_PAYOUT, -50, "no payout request with this id")                                   \
    X(PAYOUT_NOT_PENDING, -51, "payout request is already confirmed or refunded")              \
    X(METER_BOUND, -52, "meter key is already bound to another participant")                   \
    X(ALREADY_REGISTERED, -53, "participant is already registered")                            \
    X(BAD_ROLE, -54, "unknown role bits")                                                      \
    X(DUPLICATE_HANDLER, -55, "a handler is already registered for this transaction type")     \
    X(BLOCK_BAD_HEIGHT, -80, "block height is not the next height")                            \
    X(BLOCK_BAD_PREV, -81, "block does not extend the current head (previous hash differs)")   \
    X(BLOCK_BAD_TIME, -82, "block time is before its parent's time")                           \
    X(BLOCK_BAD_TX_ROOT, -83, "transaction Merkle root does not match the transactions")       \
    X(BLOCK_BAD_STATE_ROOT, -84, "state root does not match the result of execution")          \
    X(BLOCK_BAD_VALSET, -85, "validator-set hash does not match the current set")              \
    X(BLOCK_BAD_PROPOSER, -86, "proposer is not a validator")                                  \
    X(BLOCK_TOO_MANY_TXS, -87, "block has too many transactions")                              \
    X(BLOCK_DUPLICATE_TX, -88, "block contains the same transaction twice")                    \
    X(BLOCK_STALE, -89, "write-set was computed on a state that is no longer the head")        \
    X(NOT_FOUND, -100, "not found")                                                            \
    X(PROOF_INVALID, -101, "proof does not verify against the state root")                     \
    X(VERSION_PRUNED, -102, "state version is pruned or not yet written")                      \
    X(SUPPLY_BROKEN, -103, "supply invariant does not hold")

enum chain_err {
#define CHAIN_ERR_ENUM_(name, code, msg) CHAIN_ERR_##name = (code),
    CHAIN_ERRORS(CHAIN_ERR_ENUM_)
#undef CHAIN_ERR_ENUM_
};

/* The message for a code: a sentence a person can act on.  Never NULL. */
const char *chain_strerror(int err);
/* The stable name of a code without prefix ("BAD_SIG").  Never NULL. */
const char *chain_err_name(int err);

#define CHAIN_MUST_USE __attribute__((warn_unused_result))

#endif
