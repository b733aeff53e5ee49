/* mb_err.c -- names and messages of meterbridge's result codes (mb_err.h). */
#include "mb_err.h"

const char *mb_strerror(int err)
{
    switch (err) {
#define MB_ERR_MSG_(name, code, msg)                                                               \
    case code: return msg;
        MB_ERRORS(MB_ERR_MSG_)
#undef MB_ERR_MSG_
    }
    return "unknown meterbridge error";
}

const char *mb_err_name(int err)
{
    switch (err) {
#define MB_ERR_NAME_(name, code, msg)                                                              \
    case code: return #name;
        MB_ERRORS(MB_ERR_NAME_)
#undef MB_ERR_NAME_
    }
    return "UNKNOWN";
}
