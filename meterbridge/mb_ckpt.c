/* mb_ckpt.c -- slot checkpoint file (mb_ckpt.h).
 * Layout: "GMCK" | version u32 | params digest (32) | acc bytes | BLAKE2b-256 of all before. */
#include "mb_ckpt.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CKPT_VERSION 1u
#define CKPT_BYTES   (4u + 4u + 32u + sizeof(struct mb_slot_acc) + 32u)

int mb_ckpt_open(struct mb_ckpt *c, const char *dir, const struct mb_slot_params *p)
{
    char path[512];
    snprintf(path, sizeof path, "%s/slot.ckpt", dir);
    c->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (c->fd < 0)
        return MB_ERR_IO;
    struct mb_slot_params copy;
    memset(&copy, 0, sizeof copy);
    copy.epoch_ms = p->epoch_ms;
    copy.slot_len_s = p->slot_len_s;
    copy.tolerance_ms = p->tolerance_ms;
    copy.max_power_w = p->max_power_w;
    copy.wrap_import_wh = p->wrap_import_wh;
    copy.wrap_export_wh = p->wrap_export_wh;
    copy.quantum_wh = p->quantum_wh;
    copy.float_registers = p->float_registers;
    crypto_generichash(c->params_digest, 32, (const unsigned char *)&copy, sizeof copy, NULL, 0);
    return MB_ERR_OK;
}

void mb_ckpt_close(struct mb_ckpt *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

int mb_ckpt_load(struct mb_ckpt *c, struct mb_slot_acc *acc)
{
    unsigned char buf[CKPT_BYTES], sum[32];
    mb_slot_init(acc);
    if (pread(c->fd, buf, sizeof buf, 0) != (ssize_t)sizeof buf)
        return MB_ERR_STATE_CORRUPT;
    crypto_generichash(sum, 32, buf, CKPT_BYTES - 32, NULL, 0);
    uint32_t version;
    memcpy(&version, buf + 4, 4);
    if (memcmp(buf, "GMCK", 4) != 0 || version != CKPT_VERSION ||
        memcmp(buf + 8, c->params_digest, 32) != 0 || memcmp(sum, buf + CKPT_BYTES - 32, 32) != 0)
        return MB_ERR_STATE_CORRUPT;
    memcpy(acc, buf + 40, sizeof *acc);
    return MB_ERR_OK;
}

int mb_ckpt_save(struct mb_ckpt *c, const struct mb_slot_acc *acc)
{
    unsigned char buf[CKPT_BYTES];
    uint32_t version = CKPT_VERSION;
    memcpy(buf, "GMCK", 4);
    memcpy(buf + 4, &version, 4);
    memcpy(buf + 8, c->params_digest, 32);
    memcpy(buf + 40, acc, sizeof *acc);
    crypto_generichash(buf + CKPT_BYTES - 32, 32, buf, CKPT_BYTES - 32, NULL, 0);
    return pwrite(c->fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf ? MB_ERR_OK : MB_ERR_IO;
}
