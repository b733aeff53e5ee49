/* node_err.c -- names and messages of node codes (node_err.h). */
#include "node_err.h"

#include "chain_err.h"

const char *node_err_name(int err)
{
    switch (err) {
#define NODE_ERR_NAME_(name, code, msg)                                                            \
    case code: return #name;
        NODE_ERRORS(NODE_ERR_NAME_)
#undef NODE_ERR_NAME_
    default: return chain_err_name(err);
    }
}

const char *node_strerror(int err)
{
    switch (err) {
#define NODE_ERR_MSG_(name, code, msg)                                                             \
    case code: return msg;
        NODE_ERRORS(NODE_ERR_MSG_)
#undef NODE_ERR_MSG_
    default: return chain_strerror(err);
    }
}
