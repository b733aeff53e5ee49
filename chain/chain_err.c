/* chain_err.c -- names and messages of the chain result space. */
#include "chain_err.h"

const char *chain_strerror(int err)
{
    switch (err) {
#define CHAIN_ERR_MSG_(name, code, msg)                                                        \
    case code: return msg;
        CHAIN_ERRORS(CHAIN_ERR_MSG_)
#undef CHAIN_ERR_MSG_
    default: return "unknown error code";
    }
}

const char *chain_err_name(int err)
{
    switch (err) {
#define CHAIN_ERR_NAME_(name, code, msg)                                                       \
    case code: return #name;
        CHAIN_ERRORS(CHAIN_ERR_NAME_)
#undef CHAIN_ERR_NAME_
    default: return "UNKNOWN";
    }
}
