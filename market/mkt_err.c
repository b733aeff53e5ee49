/* mkt_err.c -- names and messages of the market result space. */
#include "mkt_err.h"

const char *mkt_strerror(int err)
{
    switch (err) {
#define MKT_ERR_MSG_(name, code, msg)                                                          \
    case code: return msg;
        MKT_ERRORS(MKT_ERR_MSG_)
#undef MKT_ERR_MSG_
    default: return "unknown error code";
    }
}

const char *mkt_err_name(int err)
{
    switch (err) {
#define MKT_ERR_NAME_(name, code, msg)                                                         \
    case code: return #name;
        MKT_ERRORS(MKT_ERR_NAME_)
#undef MKT_ERR_NAME_
    default: return "UNKNOWN";
    }
}
