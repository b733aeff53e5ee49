/* pbft.c -- placeholder while the engine is being written; replaced in this session. */
#include "cons_impl.h"

int cons_pbft_open(struct cons **out, const struct cons_config *cfg, const struct cons_disk *disk)
{
    (void)cfg;
    (void)disk;
    *out = NULL;
    return CONS_ERR_INVALID_ARG;
}
