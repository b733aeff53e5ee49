/* mb_poll.c -- Modbus polling with libmodbus (mb_poll.h). */
#include "mb_poll.h"

#include <errno.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mb_poller {
    modbus_t *ctx;
    struct mb_map map;
    bool connected;
};

int mb_poll_open(struct mb_poller **out, const struct mb_config *cfg)
{
    struct mb_poller *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p)
        return MB_ERR_NOMEM;
    p->map = cfg->map;
    if (cfg->transport == MB_TRANSPORT_TCP) {
        char port[8];
        snprintf(port, sizeof port, "%u", (unsigned)cfg->port);
        p->ctx = modbus_new_tcp_pi(cfg->host, port);
    } else {
        p->ctx = modbus_new_rtu(cfg->device, (int)cfg->baud, cfg->parity, cfg->data_bits,
                                cfg->stop_bits);
    }
    if (!p->ctx || modbus_set_slave(p->ctx, cfg->unit_id) != 0 ||
        modbus_set_response_timeout(p->ctx, cfg->timeout_ms / 1000,
                                    (cfg->timeout_ms % 1000) * 1000) != 0 ||
        modbus_set_byte_timeout(p->ctx, cfg->timeout_ms / 1000, (cfg->timeout_ms % 1000) * 1000) !=
            0) {
        mb_poll_close(p);
        return MB_ERR_CONFIG_BAD_VALUE;
    }
    /* libmodbus answers a CRC or framing error by flushing and failing the request. */
    modbus_set_error_recovery(p->ctx, MODBUS_ERROR_RECOVERY_NONE);
    *out = p;
    return MB_ERR_OK;
}

void mb_poll_close(struct mb_poller *p)
{
    if (!p)
        return;
    if (p->ctx) {
        if (p->connected)
            modbus_close(p->ctx);
        modbus_free(p->ctx);
    }
    free(p);
}

static void drop(struct mb_poller *p)
{
    if (p->connected) {
        modbus_flush(p->ctx);
        modbus_close(p->ctx);
        p->connected = false;
    }
}

static int read_reg(struct mb_poller *p, const struct mb_reg *r, uint16_t words[4],
                    const char **detail)
{
    int n = (int)mb_type_words(r->type);
    int got = r->fn == 4 ? modbus_read_input_registers(p->ctx, r->addr, n, words)
                         : modbus_read_registers(p->ctx, r->addr, n, words);
    if (got != n) {
        *detail = modbus_strerror(errno);
        drop(p);
        return MB_ERR_MODBUS;
    }
    return MB_ERR_OK;
}

int mb_poll_read(struct mb_poller *p, struct mb_sample *s, const char **detail)
{
    uint16_t w[4];
    int rc;
    *detail = "";
    if (!p->connected) {
        if (modbus_connect(p->ctx) != 0) {
            *detail = modbus_strerror(errno);
            return MB_ERR_MODBUS_CONNECT;
        }
        p->connected = true;
    }
    memset(s, 0, sizeof *s);
    if ((rc = read_reg(p, &p->map.import, w, detail)))
        return rc;
    if ((rc = mb_reg_decode_wh(&p->map.import, w, &s->import_wh))) {
        *detail = "import register";
        return rc;
    }
    if ((rc = read_reg(p, &p->map.export_, w, detail)))
        return rc;
    if ((rc = mb_reg_decode_wh(&p->map.export_, w, &s->export_wh))) {
        *detail = "export register";
        return rc;
    }
    if (p->map.serial.present) {
        if ((rc = read_reg(p, &p->map.serial, w, detail)))
            return rc;
        s->serial = mb_reg_decode_raw(&p->map.serial, w);
        s->has_serial = true;
    }
    return MB_ERR_OK;
}
