/* test_rpc_events.c -- what the public server pushes: SSE, /metrics, MQTT.
 *
 * A real chain (ledger fixture) is served on an OS-chosen loopback port by
 * an event loop in a second thread.  Blocks are built and committed here;
 * rpc_server_on_commit and rpc_server_publish are run on the loop's thread
 * (through a pipe), as gridnode does.  Checked:
 *   - an SSE client on GET /events receives the block event with the
 *     committed block's height, hash, state root and tx count, and a
 *     "clearing" event published by another module;
 *   - GET /metrics passes `promtool check metrics` (Debian's prometheus) and
 *     counts requests by method and code;
 *   - with MQTT configured before the broker is up, a real mosquitto broker
 *     started on a free loopback port receives the block event (read with
 *     mosquitto_sub): publishing waited for nothing and reconnected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "node_http_client.h"
#include "rpc.h"
#include "unit/chain/ledger_fixture.h"

struct world {
    struct fx f;
    struct event_base *base;
    struct rpc_server *srv;
    struct event *stop_ev, *job_ev;
    int stop_pipe[2], job_pipe[2], done_pipe[2];
    pthread_t th;
    uint16_t port;
    /* the job the loop thread runs */
    const struct chain_exec_result *commit;
    const char *pub_type;
    json_t *pub_json;
};

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void on_job(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct world *w = arg;
    char c;
    if (read(fd, &c, 1) != 1)
        return;
    if (w->commit)
        rpc_server_on_commit(w->srv, w->commit);
    if (w->pub_type)
        rpc_server_publish(w->srv, w->pub_type, w->pub_json);
    if (write(w->done_pipe[1], "d", 1) != 1)
        abort();
}

/* Run on_commit / publish on the loop thread and wait for it. */
static void on_loop(struct world *w, const struct chain_exec_result *r, const char *type, json_t *j)
{
    w->commit = r;
    w->pub_type = type;
    w->pub_json = j;
    char c;
    assert_int_equal(write(w->job_pipe[1], "j", 1), 1);
    assert_int_equal(read(w->done_pipe[0], &c, 1), 1);
    w->commit = NULL;
    w->pub_type = NULL;
}

static void *loop_main(void *arg)
{
    event_base_dispatch(((struct world *)arg)->base);
    return NULL;
}

static int setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    fx_open(&w->f);
    w->base = event_base_new();
    assert_non_null(w->base);
    struct rpc_node_ops ops = {0};
    assert_int_equal(rpc_server_open(&w->srv, w->base, &w->f.c, &ops, "127.0.0.1", 0), 0);
    w->port = rpc_server_port(w->srv);
    assert_int_equal(pipe(w->stop_pipe), 0);
    assert_int_equal(pipe(w->job_pipe), 0);
    assert_int_equal(pipe(w->done_pipe), 0);
    w->stop_ev = event_new(w->base, w->stop_pipe[0], EV_READ, on_stop, w->base);
    w->job_ev = event_new(w->base, w->job_pipe[0], EV_READ | EV_PERSIST, on_job, w);
    assert_int_equal(event_add(w->stop_ev, NULL), 0);
    assert_int_equal(event_add(w->job_ev, NULL), 0);
    *state = w;
    return 0;
}

static void start_loop(struct world *w)
{
    assert_int_equal(pthread_create(&w->th, NULL, loop_main, w), 0);
}

static int teardown(void **state)
{
    struct world *w = *state;
    assert_int_equal(write(w->stop_pipe[1], "x", 1), 1);
    pthread_join(w->th, NULL);
    event_free(w->stop_ev);
    event_free(w->job_ev);
    for (int i = 0; i < 2; i++) {
        close(w->stop_pipe[i]);
        close(w->job_pipe[i]);
        close(w->done_pipe[i]);
    }
    rpc_server_close(w->srv);
    event_base_free(w->base);
    fx_close(&w->f);
    free(w);
    return 0;
}

static int dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read from fd into buf (appending at *n) until needle appears; fails after the socket timeout. */
static void read_until(int fd, char *buf, size_t cap, size_t *n, const char *needle)
{
    while (!strstr(buf, needle)) {
        assert_true(*n + 1 < cap);
        ssize_t r = recv(fd, buf + *n, cap - 1 - *n, 0);
        if (r <= 0)
            fail_msg("stream ended or timed out before \"%s\"; got:\n%s", needle, buf);
        *n += (size_t)r;
        buf[*n] = '\0';
    }
}

/* Commit one block with a transfer; r kept for on_commit. */
static void commit_block(struct world *w, struct chain_exec_result *r)
{
    uint8_t *p;
    size_t pl, len;
    assert_int_equal(chain_payload_transfer(w->f.pk[FX_BOB], 1000, &p, &pl), 0);
    uint8_t *tx = fx_tx(&w->f, FX_ALICE, GL__TX_TYPE__TX_TRANSFER, p, pl, &len);
    assert_int_equal(fx_block(&w->f, &tx, &len, 1, r), CHAIN_ERR_OK);
    free(tx);
}

static void test_an_sse_client_receives_block_and_clearing_events(void **state)
{
    struct world *w = *state;
    start_loop(w);
    int fd = dial(w->port);
    assert_true(fd >= 0);
    const char *req =
        "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    static char buf[65536];
    size_t n = 0;
    buf[0] = '\0';
    read_until(fd, buf, sizeof buf, &n, "retry: 3000");
    assert_non_null(strstr(buf, "text/event-stream"));

    struct chain_exec_result r;
    commit_block(w, &r);
    on_loop(w, &r, NULL, NULL);
    read_until(fd, buf, sizeof buf, &n, "event: block\ndata: ");
    char *data = strstr(buf, "event: block\ndata: ") + strlen("event: block\ndata: ");
    read_until(fd, buf, sizeof buf, &n, "}\n\n");
    char *end = strstr(data, "\n\n");
    assert_non_null(end);
    json_error_t je;
    json_t *ev = json_loadb(data, (size_t)(end - data), 0, &je);
    assert_non_null(ev);
    char hash[65], root[65];
    chain_hex(hash, r.block_hash, 32);
    chain_hex(root, r.state_root, 32);
    assert_int_equal(json_integer_value(json_object_get(ev, "height")),
                     (json_int_t)w->f.c.head.height);
    assert_string_equal(json_string_value(json_object_get(ev, "hash")), hash);
    assert_memory_equal(r.block_hash, w->f.c.head.hash, 32);
    assert_string_equal(json_string_value(json_object_get(ev, "state_root")), root);
    assert_int_equal(json_integer_value(json_object_get(ev, "txs")), 1);
    assert_int_equal(json_integer_value(json_object_get(ev, "txs_failed")), 0);
    json_decref(ev);
    chain_exec_result_free(&r);

    json_t *clr = json_pack("{s:i, s:i}", "slot", 42, "price_micro_per_kwh", 123456);
    on_loop(w, NULL, "clearing", clr);
    json_decref(clr);
    read_until(fd, buf, sizeof buf, &n,
               "event: clearing\ndata: {\"slot\":42,\"price_micro_per_kwh\":123456}\n\n");
    close(fd);
}

/* GET path with Connection: close; the body (malloc'd). */
static char *http_get(uint16_t port, const char *path, int *status)
{
    int fd = dial(port);
    assert_true(fd >= 0);
    char req[256];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
             path);
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    assert_int_equal(sscanf(buf, "HTTP/1.1 %d", status), 1);
    char *body = strstr(buf, "\r\n\r\n");
    assert_non_null(body);
    char *out = strdup(body + 4);
    free(buf);
    return out;
}

static void test_metrics_pass_promtool_and_count_requests_by_method_and_code(void **state)
{
    struct world *w = *state;
    start_loop(w);
    struct node_http_url u;
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", (unsigned)w->port);
    assert_int_equal(node_http_parse_url(url, &u, err, sizeof err), 0);
    for (int i = 0; i < 3; i++) {
        int code = 0;
        json_t *r = node_rpc_call(&u, "status", NULL, &code, NULL, err, sizeof err);
        assert_non_null(r);
        json_decref(r);
    }
    int code = 0;
    assert_null(node_rpc_call(&u, "no_such_method", NULL, &code, NULL, err, sizeof err));
    assert_int_equal(code, RPC_ERR_METHOD_NOT_FOUND);
    assert_null(node_rpc_call(&u, "get_block", json_pack("{s:i}", "height", 99), &code, NULL, err,
                              sizeof err));
    assert_int_equal(code, RPC_ERR_NOT_FOUND);
    struct chain_exec_result r;
    commit_block(w, &r);
    on_loop(w, &r, NULL, NULL);
    chain_exec_result_free(&r);

    int status;
    char *text = http_get(w->port, "/metrics", &status);
    assert_int_equal(status, 200);
    assert_non_null(
        strstr(text, "gridledger_rpc_requests_total{method=\"status\",code=\"0\"} 3\n"));
    assert_non_null(
        strstr(text, "gridledger_rpc_requests_total{method=\"unknown\",code=\"-32601\"} 1\n"));
    assert_non_null(
        strstr(text, "gridledger_rpc_requests_total{method=\"get_block\",code=\"-32002\"} 1\n"));
    assert_non_null(strstr(text, "gridledger_rpc_request_duration_seconds_count 5\n"));
    assert_non_null(
        strstr(text, "gridledger_rpc_request_duration_seconds_bucket{le=\"+Inf\"} 5\n"));
    assert_non_null(strstr(text, "gridledger_rpc_blocks_seen_total 1\n"));
    char expect[64];
    snprintf(expect, sizeof expect, "gridledger_height %llu\n",
             (unsigned long long)w->f.c.head.height);
    assert_non_null(strstr(text, expect));

    char *dir = tu_tmpdir("metrics");
    char path[512], cmd[1024];
    snprintf(path, sizeof path, "%s/metrics.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "promtool check metrics < '%s' 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096] = "";
    size_t on = fread(out, 1, sizeof out - 1, p);
    out[on] = '\0';
    int rc = pclose(p);
    if (rc != 0)
        fail_msg("promtool check metrics failed (exit %d; is Debian's prometheus "
                 "installed?):\n%s\n--- metrics:\n%s",
                 WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, out, text);
    tu_rmdir(dir);
    free(dir);
    free(text);
}

/* ---- MQTT against a real broker ---- */

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &sl), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static pid_t spawn(char *const argv[], const char *out_path)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *o = freopen(out_path, "w", stdout);
        if (!o || dup2(fileno(stdout), 2) < 0)
            _exit(126);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static void stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static void test_events_reach_a_real_mosquitto_broker_started_after_the_server(void **state)
{
    struct world *w = *state;
    uint16_t port = free_port();
    char *dir = tu_tmpdir("mqtt");
    char conf[512], blog[512], sout[512], portstr[16];
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", dir);
    snprintf(blog, sizeof blog, "%s/broker.log", dir);
    snprintf(sout, sizeof sout, "%s/sub.out", dir);
    snprintf(portstr, sizeof portstr, "%u", (unsigned)port);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "listener %u 127.0.0.1\nallow_anonymous true\npersistence false\n", (unsigned)port);
    fclose(f);

    /* configured first: the broker is not up; the client keeps trying */
    struct rpc_mqtt_config mc = {.host = "127.0.0.1", .port = port, .topic = "gltest/events"};
    assert_int_equal(rpc_server_mqtt(w->srv, &mc), 0);
    start_loop(w);
    struct chain_exec_result r;
    commit_block(w, &r);
    on_loop(w, &r, NULL, NULL); /* no broker yet: must not block */

    char *bargv[] = {"mosquitto", "-c", conf, NULL};
    pid_t broker = spawn(bargv, blog);
    int up = 0;
    for (int i = 0; i < 100 && !up; i++) {
        int fd = dial(port);
        if (fd >= 0) {
            close(fd);
            up = 1;
        } else {
            sleep_ms(50);
        }
    }
    if (!up) {
        stop(broker);
        fail_msg("mosquitto did not listen on 127.0.0.1:%u (is Debian's mosquitto installed?)",
                 (unsigned)port);
    }
    char *sargv[] = {"mosquitto_sub",   "-h", "127.0.0.1", "-p", portstr, "-t",
                     "gltest/events/#", "-v", "-W",        "20", NULL};
    pid_t sub = spawn(sargv, sout);
    /* publish a block event until the subscriber has it (it subscribes,
       and our client reconnects, each in its own time) */
    char hash[65], *got = NULL;
    chain_hex(hash, r.block_hash, 32);
    for (int i = 0; i < 100; i++) {
        on_loop(w, &r, NULL, NULL);
        sleep_ms(100);
        free(got);
        got = slurp(sout);
        if (strstr(got, hash))
            break;
    }
    stop(sub);
    stop(broker);
    char *line = strstr(got, "gltest/events/block {");
    if (!line || !strstr(line, hash)) {
        char *bl = slurp(blog);
        fail_msg("mosquitto_sub did not receive the block event; got:\n%s\nbroker log:\n%s", got,
                 bl);
    }
    json_error_t je;
    json_t *ev = json_loads(strchr(line, '{'), JSON_DISABLE_EOF_CHECK, &je);
    assert_non_null(ev);
    assert_int_equal(json_integer_value(json_object_get(ev, "height")), (json_int_t)r.height);
    json_decref(ev);
    free(got);
    chain_exec_result_free(&r);
    tu_rmdir(dir);
    free(dir);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_an_sse_client_receives_block_and_clearing_events,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_metrics_pass_promtool_and_count_requests_by_method_and_code, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_events_reach_a_real_mosquitto_broker_started_after_the_server, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
