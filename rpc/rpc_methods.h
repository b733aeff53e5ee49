/* rpc_methods.h -- inside rpc/: the method table that rpc_server.c dispatches to.
 *
 * A method gets its params (always a JSON object, checked against the
 * method's list of allowed names before the call) and returns a new
 * reference to its result, or NULL with *err filled: a code from RPC_ERRORS,
 * a message a person can act on (naming the bad param), and optional data. */
#ifndef RPC_METHODS_H
#define RPC_METHODS_H

#include <jansson.h>
#include <stdarg.h>

#include "rpc.h"

#define RPC_MESSAGE_MAX       384u
#define RPC_METHOD_PARAMS_MAX 5u

struct rpc_error {
    int code;
    char message[RPC_MESSAGE_MAX];
    json_t *data; /* owned; NULL for none */
};

void rpc_fail(struct rpc_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct rpc_method {
    const char *name;
    const char *params[RPC_METHOD_PARAMS_MAX + 1]; /* allowed names, NULL-terminated */
    json_t *(*fn)(const struct rpc_api *api, json_t *params, struct rpc_error *err);
};

/* The method of that name, or NULL. */
const struct rpc_method *rpc_method_find(const char *name);
/* The public methods' names, comma-separated (for METHOD_NOT_FOUND). */
extern const char rpc_method_names[];

/* A method table: lookup and the list of names for METHOD_NOT_FOUND. */
struct rpc_table {
    const struct rpc_method *(*find)(const char *name);
    const char *names;
};

/* rpc_dispatch over another table (the shadow API's). */
int rpc_dispatch_table(const struct rpc_api *api, const struct rpc_table *t, const char *body,
                       size_t len, char **out /* OUT */, size_t *out_len /* OUT */)
    __attribute__((warn_unused_result));

/* A new JSON string with the lower-case hex of b[0..n); NULL on out of memory. */
json_t *rpc_hex_json(const uint8_t *b, size_t n);

/* The stable name ("BAD_NONCE") and message of a chain, market or node result code. */
const char *rpc_code_name(const struct rpc_api *api, int code);
const char *rpc_code_message(int code);

#endif
