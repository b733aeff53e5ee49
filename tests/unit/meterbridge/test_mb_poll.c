/* test_mb_poll.c -- Modbus polling against gridmeter-sim (a libmodbus server)
 * on a free loopback port: good polls, and each fault the sim can inject
 * (exception responses, unanswered requests, garbage frames) becomes a
 * MODBUS error for that poll only, the next poll reconnecting and succeeding. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mb_config.h"
#include "mb_poll.h"
#include "testutil.h"

static pid_t live_pid; /* killed by the teardown even when a test fails */

struct sim_proc {
    pid_t pid;
    int port;
};

/* Start gridmeter-sim with extra args; read its "port N" line. */
static void sim_start(struct sim_proc *sp, const char *const *extra)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    const char *argv[16] = {GL_SIM_EXE, "--port", "0", "--seed", "5"};
    int argc = 5;
    for (int i = 0; extra && extra[i]; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execv(GL_SIM_EXE, (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "port %d", &sp->port), 1);
    fclose(f);
    sp->pid = pid;
    live_pid = pid;
}

static int teardown(void **st)
{
    (void)st;
    if (live_pid > 0) {
        kill(live_pid, SIGTERM);
        waitpid(live_pid, NULL, 0);
        live_pid = 0;
    }
    return 0;
}

static void sim_stop(struct sim_proc *sp)
{
    kill(sp->pid, SIGTERM);
    waitpid(sp->pid, NULL, 0);
    live_pid = 0;
}

static void config_for(struct mb_config *c, int port)
{
    char text[1024];
    FILE *f;
    char path[512];
    snprintf(path, sizeof path, "%s/meterbridge/maps/sdm630.conf", GL_SOURCE_DIR);
    f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    int line;
    mb_config_defaults(c);
    c->port = (uint16_t)port;
    c->timeout_ms = 200;
    assert_int_equal(mb_map_parse(&c->map, text, n, &line), MB_ERR_OK);
}

static int poll_n(struct mb_poller *p, int n, int *pattern, struct mb_sample *last)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        const char *d;
        int rc = mb_poll_read(p, last, &d);
        pattern[i] = rc;
        ok += rc == MB_ERR_OK;
    }
    return ok;
}

static void test_good_polls_read_the_sdm630_layout(void **st)
{
    (void)st;
    struct sim_proc sp;
    sim_start(&sp, NULL);
    struct mb_config c;
    config_for(&c, sp.port);
    struct mb_poller *p;
    assert_int_equal(mb_poll_open(&p, &c), MB_ERR_OK);
    int pat[5];
    struct mb_sample s;
    assert_int_equal(poll_n(p, 5, pat, &s), 5);
    assert_true(s.import_wh >= 1000000 &&
                s.import_wh < 10000000); /* the sim starts at 1000 kWh + seed */
    assert_true(s.has_serial);
    assert_int_equal(s.serial, 630001);
    mb_poll_close(p);
    sim_stop(&sp);
}

/* Every 4th request faulted: 3 requests per poll, so polls alternate ok / failed. */
static void check_fault(const char *fault)
{
    const char *extra[] = {"--fault", fault, "--fault-every", "4", NULL};
    struct sim_proc sp;
    sim_start(&sp, extra);
    struct mb_config c;
    config_for(&c, sp.port);
    struct mb_poller *p;
    assert_int_equal(mb_poll_open(&p, &c), MB_ERR_OK);
    int pat[8];
    struct mb_sample s;
    poll_n(p, 8, pat, &s);
    for (int i = 0; i < 8; i++)
        if (pat[i] != (i % 2 == 0 ? MB_ERR_OK : MB_ERR_MODBUS))
            fail_msg("fault %s: poll %d returned %s", fault, i, mb_err_name(pat[i]));
    mb_poll_close(p);
    sim_stop(&sp);
}

static void test_an_exception_response_fails_that_poll_only(void **st)
{
    (void)st;
    check_fault("exception");
}

static void test_an_unanswered_request_times_out_and_the_next_poll_reconnects(void **st)
{
    (void)st;
    uint64_t t0 = tu_now_ns();
    check_fault("timeout");
    uint64_t ms = (tu_now_ns() - t0) / 1000000;
    assert_true(ms >= 4 * 200); /* four timeouts of 200 ms */
    assert_true(ms < 10000);
}

static void test_a_garbage_frame_fails_that_poll_only(void **st)
{
    (void)st;
    check_fault("garbage");
}

static void test_no_meter_listening_is_a_connect_error(void **st)
{
    (void)st;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd); /* nobody listens there now */
    struct mb_config c;
    config_for(&c, ntohs(a.sin_port));
    struct mb_poller *p;
    assert_int_equal(mb_poll_open(&p, &c), MB_ERR_OK);
    struct mb_sample s;
    const char *d;
    assert_int_equal(mb_poll_read(p, &s, &d), MB_ERR_MODBUS_CONNECT);
    mb_poll_close(p);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_polls_read_the_sdm630_layout),
        cmocka_unit_test_teardown(test_an_exception_response_fails_that_poll_only, teardown),
        cmocka_unit_test_teardown(test_an_unanswered_request_times_out_and_the_next_poll_reconnects,
                                  teardown),
        cmocka_unit_test_teardown(test_a_garbage_frame_fails_that_poll_only, teardown),
        cmocka_unit_test_teardown(test_no_meter_listening_is_a_connect_error, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
