/* mb_err.h -- meterbridge's result space: codes from -600 down.
 *
 * chain/ owns 0..-199, market/ -200 and below for its own table; gridmeter is
 * not consensus code but keeps the same habit: a code, its name and its message
 * come from one X-macro and never drift (libuv's UV_ERRNO_MAP).  Every error a
 * meter, a node or a config file can cause is a code here, never an assert. */
#ifndef MB_ERR_H
#define MB_ERR_H

#define MB_ERRORS(X)                                                                               \
    X(OK, 0, "ok")                                                                                 \
    X(NOMEM, -600, "out of memory")                                                                \
    X(IO, -601, "I/O error; see the log line before this one")                                     \
    X(INVALID_ARG, -602, "invalid argument")                                                       \
    X(CONFIG_SYNTAX, -610,                                                                         \
      "config: a line is not `key = value`, `register NAME k=v ...` or a comment")                 \
    X(CONFIG_UNKNOWN_KEY, -611, "config: unknown key (see gridmeter --help)")                      \
    X(CONFIG_BAD_VALUE, -612, "config: a value is out of range or not of the expected form")       \
    X(CONFIG_TOO_LONG, -613, "config: file or line exceeds its size limit")                        \
    X(CONFIG_MISSING, -614, "config: a required key or register (import, export) is missing")      \
    X(CONFIG_DUPLICATE, -615, "config: a key or register is given twice")                          \
    X(REG_BAD_VALUE, -620, "meter register holds NaN, infinity, a negative or an oversize value")  \
    X(MODBUS, -621, "Modbus request failed (timeout, exception response or bad frame)")            \
    X(MODBUS_CONNECT, -622, "cannot connect to the meter (address, port or serial device)")        \
    X(SIGN, -630, "cannot build or sign the reading transaction")                                  \
    X(QUEUE_FULL, -640,                                                                            \
      "reading queue is full: the node has not committed readings for too long; raise queue_max "  \
      "or bring a node back")                                                                      \
    X(QUEUE_DUPLICATE_SLOT, -641,                                                                  \
      "a reading for this slot (or a later one) was already made; never a second one")             \
    X(QUEUE_STORE, -642, "reading queue storage error (LMDB); see the log line before this one")   \
    X(QUEUE_CORRUPT, -643, "reading queue holds a record this version cannot read")                \
    X(QUEUE_EMPTY, -644, "reading queue is empty")                                                 \
    X(SINK_UNREACHABLE, -650, "node unreachable (connect, timeout or HTTP error)")                 \
    X(SINK_PROTOCOL, -651, "node answered something that is not the expected JSON-RPC reply")      \
    X(SINK_REJECTED, -652, "node rejected the reading transaction")                                \
    X(SINK_PROOF, -653, "node's proof of a committed reading does not verify")                     \
    X(STATE_CORRUPT, -660,                                                                         \
      "slot checkpoint is damaged or from another configuration; starting the slot afresh")

enum mb_err {
#define MB_ERR_ENUM_(name, code, msg) MB_ERR_##name = (code),
    MB_ERRORS(MB_ERR_ENUM_)
#undef MB_ERR_ENUM_
};

const char *mb_strerror(int err); /* never NULL */
const char *mb_err_name(int err); /* "QUEUE_FULL", never NULL */

#define MB_MUST_USE __attribute__((warn_unused_result))

#endif
