/* mb_sim.c -- gridmeter-sim: a household's smart meter for the demo and the
 * tests.  A libmodbus server (TCP, or RTU on a serial device such as one end
 * of a socat pty pair) serving the Eastron SDM630 register layout
 * (maps/sdm630.conf): float32 kWh import at 0x0048 and export at 0x004A, total
 * system power W at 0x0034 (input registers, high word first), and the serial
 * number at holding register 0xFC00 (u32).
 *
 * The household (mb_profile.h): a seeded load profile (base, morning and
 * evening peaks, per-5-minute noise) and a PV array (a clear-sky curve, sin of
 * the hour angle between 06:00 and 18:00 UTC, times a seeded cloud factor per
 * 10 minutes); nothing is downloaded.  Net power flows into the import or export counter,
 * integrated in steps of one simulated second.  The simulated clock is
 * t = start + (now - start) * accel, the same formula gridmeter uses.
 *
 * Floats are fine here: this is a simulator, not consensus code.
 *
 * Test faults: --fault timeout|exception|garbage --fault-every N makes every
 * Nth request go unanswered, answered with an exception (SLAVE_OR_SERVER_BUSY),
 * or answered with random bytes.  --serial-change-at-ms T changes the serial and
 * resets the counters at simulated time T (a meter replaced). */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <modbus.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mb_profile.h"

#define REG_POWER  0x0034
#define REG_IMPORT 0x0048
#define REG_EXPORT 0x004A
#define REG_TOTAL  0x0156
#define REG_SERIAL 0xFC00

struct sim {
    uint64_t seed;
    uint64_t accel, start_ms;
    double pv_peak_w, load_base_w;
    double import_wh, export_wh, power_w;
    uint64_t t_ms; /* simulated time of the counters */
    uint32_t serial;
    uint64_t serial_change_at_ms;
    int fault; /* 0 none, 1 timeout, 2 exception, 3 garbage */
    uint64_t fault_every, requests;
    uint32_t wrap_float_at_kwh; /* unused: float counters do not wrap */
};

static volatile sig_atomic_t stop;
static void on_signal(int s)
{
    (void)s;
    stop = 1;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t sim_now(const struct sim *s)
{
    uint64_t now = wall_ms();
    if (s->accel <= 1 || now < s->start_ms)
        return now;
    return s->start_ms + (now - s->start_ms) * s->accel;
}

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Net power (W) at simulated time t: positive = import.  The household model
 * is mb_profile.c's, which the demo's forecasts use too. */
static double net_power(const struct sim *s, uint64_t t_ms)
{
    struct mb_profile p = {
        .seed = s->seed, .pv_peak_w = s->pv_peak_w, .load_base_w = s->load_base_w};
    return mb_profile_net_w(&p, t_ms);
}

static void advance(struct sim *s, uint64_t to)
{
    if (to <= s->t_ms)
        return;
    uint64_t gap = to - s->t_ms, step = 1000;
    if (gap / step > 200000)
        step = gap / 200000; /* after a long idle: coarser, bounded work */
    while (s->t_ms < to) {
        uint64_t dt = to - s->t_ms < step ? to - s->t_ms : step;
        if (s->serial_change_at_ms && s->t_ms < s->serial_change_at_ms &&
            s->t_ms + dt >= s->serial_change_at_ms) {
            s->serial++;
            s->import_wh = 12.0 * (double)(s->seed % 7);
            s->export_wh = 0.0;
        }
        double p = net_power(s, s->t_ms);
        double wh = p * (double)dt / 3600000.0;
        if (wh >= 0)
            s->import_wh += wh;
        else
            s->export_wh -= wh;
        s->power_w = p;
        s->t_ms += dt;
    }
}

static void set_float(uint16_t *regs, int addr, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    regs[addr] = (uint16_t)(bits >> 16); /* high word first */
    regs[addr + 1] = (uint16_t)bits;
}

static void update(struct sim *s, modbus_mapping_t *m)
{
    advance(s, sim_now(s));
    set_float(m->tab_input_registers, REG_POWER, (float)s->power_w);
    set_float(m->tab_input_registers, REG_IMPORT, (float)(s->import_wh / 1000.0));
    set_float(m->tab_input_registers, REG_EXPORT, (float)(s->export_wh / 1000.0));
    set_float(m->tab_input_registers, REG_TOTAL, (float)((s->import_wh + s->export_wh) / 1000.0));
    m->tab_registers[0] = (uint16_t)(s->serial >> 16);
    m->tab_registers[1] = (uint16_t)s->serial;
}

/* Answer one request; returns -1 when the connection should close. */
static int serve(struct sim *s, modbus_t *ctx, modbus_mapping_t *m, int fd)
{
    uint8_t q[MODBUS_TCP_MAX_ADU_LENGTH];
    int n = modbus_receive(ctx, q);
    if (n <= 0)
        return n == 0 ? 0 : -1; /* 0: not for us (RTU address) */
    s->requests++;
    if (s->fault && s->fault_every && s->requests % s->fault_every == 0) {
        if (s->fault == 1)
            return 0; /* no answer: the client times out */
        if (s->fault == 2)
            return modbus_reply_exception(ctx, q, MODBUS_EXCEPTION_SLAVE_OR_SERVER_BUSY) < 0 ? -1
                                                                                             : 0;
        uint8_t junk[17];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (uint8_t)mix(s->requests * 31 + i);
        return write(fd, junk, sizeof junk) < 0 ? -1 : 0;
    }
    update(s, m);
    return modbus_reply(ctx, q, n, m) < 0 ? -1 : 0;
}

static const char usage[] =
    "usage: gridmeter-sim [--port N | --rtu DEVICE] [--seed S] [--accel A] [--start-ms T]\n"
    "                     [--pv-peak-w W] [--load-w W] [--serial N] [--unit ID]\n"
    "                     [--fault timeout|exception|garbage --fault-every N]\n"
    "                     [--serial-change-at-ms T]\n"
    "Serves a simulated household meter in the Eastron SDM630 layout (maps/sdm630.conf).\n"
    "--port 0 picks a free loopback port; the first line printed is `port N`.\n";

int main(int argc, char **argv)
{
    struct sim s;
    memset(&s, 0, sizeof s);
    s.seed = 1;
    s.accel = 1;
    s.pv_peak_w = 4000;
    s.load_base_w = 250;
    s.serial = 630001;
    int port = 0, unit_id = 1;
    const char *rtu = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (!v) {
            fputs(usage, stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--port") == 0)
            port = atoi(v);
        else if (strcmp(a, "--rtu") == 0)
            rtu = v;
        else if (strcmp(a, "--seed") == 0)
            s.seed = strtoull(v, NULL, 0);
        else if (strcmp(a, "--accel") == 0)
            s.accel = strtoull(v, NULL, 0);
        else if (strcmp(a, "--start-ms") == 0)
            s.start_ms = strtoull(v, NULL, 0);
        else if (strcmp(a, "--pv-peak-w") == 0)
            s.pv_peak_w = atof(v);
        else if (strcmp(a, "--load-w") == 0)
            s.load_base_w = atof(v);
        else if (strcmp(a, "--serial") == 0)
            s.serial = (uint32_t)strtoul(v, NULL, 0);
        else if (strcmp(a, "--unit") == 0)
            unit_id = atoi(v);
        else if (strcmp(a, "--fault-every") == 0)
            s.fault_every = strtoull(v, NULL, 0);
        else if (strcmp(a, "--serial-change-at-ms") == 0)
            s.serial_change_at_ms = strtoull(v, NULL, 0);
        else if (strcmp(a, "--fault") == 0) {
            s.fault = strcmp(v, "timeout") == 0     ? 1
                      : strcmp(v, "exception") == 0 ? 2
                      : strcmp(v, "garbage") == 0   ? 3
                                                    : -1;
            if (s.fault < 0) {
                fputs(usage, stderr);
                return 2;
            }
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    s.import_wh = 1000000.0 + (double)(s.seed % 5000) * 1000.0;
    s.export_wh = 200000.0 + (double)(s.seed % 777) * 1000.0;
    s.t_ms = sim_now(&s);

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    modbus_mapping_t *m = modbus_mapping_new_start_address(0, 0, 0, 0, REG_SERIAL, 2, 0, 0x180);
    if (!m) {
        fprintf(stderr, "gridmeter-sim: out of memory\n");
        return 1;
    }
    if (rtu) {
        modbus_t *ctx = modbus_new_rtu(rtu, 9600, 'N', 8, 1);
        if (!ctx || modbus_set_slave(ctx, unit_id) || modbus_connect(ctx)) {
            fprintf(stderr, "gridmeter-sim: %s: %s\n", rtu, modbus_strerror(errno));
            return 1;
        }
        printf("rtu %s\n", rtu);
        fflush(stdout);
        int fd = modbus_get_socket(ctx);
        while (!stop) {
            fd_set rd;
            FD_ZERO(&rd);
            FD_SET(fd, &rd);
            struct timeval tv = {0, 200000};
            if (select(fd + 1, &rd, NULL, NULL, &tv) > 0)
                (void)serve(&s, ctx, m, fd); /* RTU: errors are per frame, keep serving */
        }
        modbus_close(ctx);
        modbus_free(ctx);
        modbus_mapping_free(m);
        return 0;
    }
    modbus_t *ctx = modbus_new_tcp("127.0.0.1", port);
    if (!ctx) {
        fprintf(stderr, "gridmeter-sim: cannot create the Modbus context\n");
        return 1;
    }
    int lfd = modbus_tcp_listen(ctx, 8);
    if (lfd < 0) {
        fprintf(stderr, "gridmeter-sim: listen on 127.0.0.1:%d: %s\n", port,
                modbus_strerror(errno));
        return 1;
    }
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    getsockname(lfd, (struct sockaddr *)&sa, &sl);
    printf("port %u\n", (unsigned)ntohs(sa.sin_port));
    fflush(stdout);
    fd_set all;
    FD_ZERO(&all);
    FD_SET(lfd, &all);
    int maxfd = lfd;
    while (!stop) {
        fd_set rd = all;
        struct timeval tv = {0, 200000};
        int r = select(maxfd + 1, &rd, NULL, NULL, &tv);
        if (r <= 0)
            continue;
        for (int fd = 0; fd <= maxfd; fd++) {
            if (!FD_ISSET(fd, &rd))
                continue;
            if (fd == lfd) {
                int c = accept(lfd, NULL, NULL);
                if (c >= 0 && c < FD_SETSIZE) {
                    FD_SET(c, &all);
                    if (c > maxfd)
                        maxfd = c;
                } else if (c >= 0) {
                    close(c);
                }
            } else {
                modbus_set_socket(ctx, fd);
                if (serve(&s, ctx, m, fd) < 0) {
                    close(fd);
                    FD_CLR(fd, &all);
                }
            }
        }
    }
    close(lfd);
    modbus_free(ctx);
    modbus_mapping_free(m);
    return 0;
}
