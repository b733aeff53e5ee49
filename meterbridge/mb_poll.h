/* mb_poll.h -- read a meter's registers over Modbus TCP or RTU (libmodbus).
 *
 * One poll reads the import and export registers (and the serial number when
 * the map has one) and turns them into an mb_sample.  Every failure --
 * connect, timeout, exception response, a bad CRC or frame, a register
 * holding NaN or a negative count -- is a return code, never an assert; the
 * connection is dropped after a failure and made again on the next poll, so
 * a half-read answer cannot leak into the next request. */
#ifndef MB_POLL_H
#define MB_POLL_H

#include <stdint.h>

#include "mb_config.h"
#include "mb_err.h"
#include "mb_slot.h"

struct mb_poller;

/* Errors: NOMEM, CONFIG_BAD_VALUE (libmodbus refuses the settings). */
int mb_poll_open(struct mb_poller **p /* OUT */, const struct mb_config *cfg) MB_MUST_USE;
void mb_poll_close(struct mb_poller *p); /* accepts NULL */

/* Poll once; s->t_ms is left for the caller.  Errors: MODBUS_CONNECT,
 * MODBUS (timeout, exception, bad frame), REG_BAD_VALUE.  *detail gets a
 * static or libmodbus message for the log. */
int mb_poll_read(struct mb_poller *p, struct mb_sample *s /* OUT */,
                 const char **detail /* OUT */) MB_MUST_USE;

#endif
