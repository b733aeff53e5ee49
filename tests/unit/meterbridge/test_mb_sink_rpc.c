/* test_mb_sink_rpc.c -- the JSON-RPC sink against a fake node written in
 * Python for this test (tests/integration/meter_fake_node.py): submit, status
 * with the header's commit certificate checked against the genesis
 * validators and a state proof against the certified state root, the nonce,
 * and each failure the node can show (HTTP 500, pending, no certificate yet,
 * a certificate that does not verify, a bad proof, the wrong value, non-JSON,
 * too slow, nobody listening). */
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

#include "chain_crypto.h"
#include "mb_reading.h"
#include "mb_sink.h"
#include "node_lightclient.h"
#include "testutil.h"

static uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES];

/* The running fake node, killed by the teardown even when a test fails. */
static pid_t live_pid;

struct node {
    pid_t pid;
    int port;
    struct mb_sink sink;
    struct node_lc_trust trust; /* from the genesis.json the fake node wrote */
};

static void read_trust(const char *path, struct node_lc_trust *t)
{
    char why[256], *text = malloc(1 << 16);
    assert_non_null(text);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t len = fread(text, 1, 1 << 16, f);
    fclose(f);
    if (node_lc_trust_from_genesis(text, len, t, why, sizeof why) != NODE_LC_ERR_OK)
        fail_msg("the fake node's genesis: %s", why);
    free(text);
}

static void node_start(struct node *n, const char *const *extra, bool verify, uint32_t timeout_ms)
{
    int fds[2];
    char script[512], genesis[64];
    snprintf(script, sizeof script, "%s/tests/integration/meter_fake_node.py", GL_SOURCE_DIR);
    snprintf(genesis, sizeof genesis, "/tmp/gl-mb-sink-genesis-%d.json", (int)getpid());
    assert_int_equal(pipe(fds), 0);
    const char *argv[20] = {"python3", script, "--genesis", genesis};
    int argc = 4;
    for (int i = 0; extra && extra[i]; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    assert_non_null(f);
    if (fscanf(f, "port %d", &n->port) != 1)
        fail_msg("the fake node did not start (python3 missing?)");
    fclose(f);
    n->pid = pid;
    live_pid = pid;
    read_trust(genesis, &n->trust);
    unlink(genesis);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", n->port);
    struct mb_rpc_opts o = {timeout_ms, verify, &n->trust};
    assert_int_equal(mb_sink_rpc_open(&n->sink, url, &o), MB_ERR_OK);
}

static void node_stop(struct node *n)
{
    n->sink.close(n->sink.ctx);
    kill(n->pid, SIGTERM);
    waitpid(n->pid, NULL, 0);
    live_pid = 0;
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

struct signed_reading {
    uint8_t payload[MB_PAYLOAD_MAX_BYTES];
    size_t plen;
    uint8_t *tx;
    size_t tlen;
    uint8_t hash[CHAIN_HASH_BYTES];
    uint64_t slot;
};

static void make(struct signed_reading *s, uint64_t slot, uint64_t nonce)
{
    struct mb_reading r = {slot, 100 + slot, 3, 5000 + slot, 7, 0, 900};
    s->slot = slot;
    assert_int_equal(mb_reading_encode(&r, pk, s->payload, &s->plen), MB_ERR_OK);
    assert_int_equal(mb_reading_tx("test", nonce, s->payload, s->plen, pk, sk, &s->tx, &s->tlen),
                     MB_ERR_OK);
    chain_hash(s->hash, CHAIN_TAG_TX, s->tx, s->tlen);
}

static int status(struct node *n, struct signed_reading *s, enum mb_tx_status *st)
{
    return n->sink.status(n->sink.ctx, s->hash, pk, s->slot, s->payload, s->plen, st);
}

static int setup(void **st)
{
    (void)st;
    uint8_t seed[32] = {9};
    signal(SIGPIPE, SIG_IGN);
    if (chain_crypto_init())
        return -1;
    chain_keypair_from_seed(pk, sk, seed);
    return 0;
}

static void test_a_committed_reading_is_proven_under_a_certified_header(void **st)
{
    (void)st;
    struct node n;
    node_start(&n, NULL, true, 3000);
    struct signed_reading r[5];
    enum mb_tx_status s;
    uint64_t nonce;
    assert_int_equal(n.sink.nonce(n.sink.ctx, pk, &nonce), MB_ERR_OK);
    assert_int_equal(nonce, 0);
    for (int i = 0; i < 5; i++) {
        make(&r[i], 40 + (uint64_t)i, (uint64_t)i);
        assert_int_equal(status(&n, &r[i], &s), MB_ERR_OK);
        assert_int_equal(s, MB_TX_UNKNOWN);
        assert_int_equal(n.sink.submit(n.sink.ctx, r[i].tx, r[i].tlen), MB_ERR_OK);
        assert_int_equal(status(&n, &r[i], &s), MB_ERR_OK);
        assert_int_equal(s, MB_TX_COMMITTED);
    }
    /* older readings are still proven at their own heights */
    assert_int_equal(status(&n, &r[0], &s), MB_ERR_OK);
    assert_int_equal(s, MB_TX_COMMITTED);
    assert_int_equal(n.sink.submit(n.sink.ctx, r[2].tx, r[2].tlen),
                     MB_ERR_OK); /* duplicate: fine */
    assert_int_equal(n.sink.nonce(n.sink.ctx, pk, &nonce), MB_ERR_OK);
    assert_int_equal(nonce, 5);
    struct signed_reading stale;
    make(&stale, 60, 1); /* a used nonce */
    assert_int_equal(n.sink.submit(n.sink.ctx, stale.tx, stale.tlen), MB_ERR_SINK_REJECTED);
    free(stale.tx);
    for (int i = 0; i < 5; i++)
        free(r[i].tx);
    node_stop(&n);
}

static void check_proof_refused(const char *mode)
{
    const char *extra[] = {mode, NULL};
    struct node n;
    node_start(&n, extra, true, 3000);
    struct signed_reading r[3];
    enum mb_tx_status s;
    for (int i = 0; i < 3; i++) {
        make(&r[i], (uint64_t)i, (uint64_t)i);
        assert_int_equal(n.sink.submit(n.sink.ctx, r[i].tx, r[i].tlen), MB_ERR_OK);
    }
    assert_int_equal(status(&n, &r[2], &s), MB_ERR_SINK_PROOF);
    assert_int_not_equal(s, MB_TX_COMMITTED);
    for (int i = 0; i < 3; i++)
        free(r[i].tx);
    node_stop(&n);
}

static void test_a_proof_that_does_not_verify_is_never_committed(void **st)
{
    (void)st;
    check_proof_refused("--bad-proof");
}

static void test_a_proven_value_other_than_ours_is_never_committed(void **st)
{
    (void)st;
    check_proof_refused("--wrong-value");
}

static void test_a_reading_on_chain_but_not_in_the_state_is_never_committed(void **st)
{
    (void)st;
    check_proof_refused("--refuse-readings");
}

static void test_a_header_not_yet_certified_is_pending_not_committed(void **st)
{
    (void)st;
    const char *extra[] = {"--cert", "none", NULL};
    struct node n;
    node_start(&n, extra, true, 3000);
    struct signed_reading r;
    enum mb_tx_status s;
    make(&r, 1, 0);
    assert_int_equal(n.sink.submit(n.sink.ctx, r.tx, r.tlen), MB_ERR_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(status(&n, &r, &s), MB_ERR_OK);
        assert_int_equal(s, MB_TX_PENDING);
    }
    free(r.tx);
    node_stop(&n);
}

/* Each way a header's certificate can fail the genesis validators: a flipped
 * signature byte, one signature short of a Raft majority, signatures by keys
 * not in genesis, a header of another chain. */
static void test_a_certificate_that_does_not_verify_is_never_committed(void **st)
{
    (void)st;
    const char *modes[] = {"bad-sig", "too-few", "foreign", "other-chain"};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        const char *extra[] = {"--cert", modes[m], NULL};
        struct node n;
        node_start(&n, extra, true, 3000);
        struct signed_reading r;
        enum mb_tx_status s;
        make(&r, 1, 0);
        assert_int_equal(n.sink.submit(n.sink.ctx, r.tx, r.tlen), MB_ERR_OK);
        int rc = status(&n, &r, &s);
        if (rc != MB_ERR_SINK_PROOF || s == MB_TX_COMMITTED)
            fail_msg("--cert %s: status %s, %d", modes[m], mb_err_name(rc), (int)s);
        free(r.tx);
        node_stop(&n);
    }
}

static void test_verify_proof_without_a_trusted_genesis_is_refused(void **st)
{
    (void)st;
    struct mb_sink s;
    struct mb_rpc_opts o = {500, true, NULL};
    assert_int_equal(mb_sink_rpc_open(&s, "http://127.0.0.1:1/", &o), MB_ERR_INVALID_ARG);
}

static void test_without_verify_proof_a_height_is_enough(void **st)
{
    (void)st;
    const char *extra[] = {"--bad-proof", NULL};
    struct node n;
    node_start(&n, extra, false, 3000);
    struct signed_reading r;
    enum mb_tx_status s;
    make(&r, 1, 0);
    assert_int_equal(n.sink.submit(n.sink.ctx, r.tx, r.tlen), MB_ERR_OK);
    assert_int_equal(status(&n, &r, &s), MB_ERR_OK);
    assert_int_equal(s, MB_TX_COMMITTED);
    free(r.tx);
    node_stop(&n);
}

static void test_http_500_is_unreachable_and_pending_is_pending(void **st)
{
    (void)st;
    const char *extra[] = {"--fail-submits", "2", "--pending", "2", NULL};
    struct node n;
    node_start(&n, extra, true, 3000);
    struct signed_reading r;
    enum mb_tx_status s;
    make(&r, 1, 0);
    assert_int_equal(n.sink.submit(n.sink.ctx, r.tx, r.tlen), MB_ERR_SINK_UNREACHABLE);
    assert_int_equal(n.sink.submit(n.sink.ctx, r.tx, r.tlen), MB_ERR_SINK_UNREACHABLE);
    assert_int_equal(n.sink.submit(n.sink.ctx, r.tx, r.tlen), MB_ERR_OK);
    assert_int_equal(status(&n, &r, &s), MB_ERR_OK);
    assert_int_equal(s, MB_TX_PENDING);
    assert_int_equal(status(&n, &r, &s), MB_ERR_OK);
    assert_int_equal(s, MB_TX_PENDING);
    assert_int_equal(status(&n, &r, &s), MB_ERR_OK);
    assert_int_equal(s, MB_TX_COMMITTED);
    free(r.tx);
    node_stop(&n);
}

static void test_a_non_json_answer_is_a_protocol_error(void **st)
{
    (void)st;
    const char *extra[] = {"--garbage", NULL};
    struct node n;
    node_start(&n, extra, true, 3000);
    struct signed_reading r;
    make(&r, 1, 0);
    assert_int_equal(n.sink.submit(n.sink.ctx, r.tx, r.tlen), MB_ERR_SINK_PROTOCOL);
    uint64_t nonce;
    assert_int_equal(n.sink.nonce(n.sink.ctx, pk, &nonce), MB_ERR_SINK_PROTOCOL);
    free(r.tx);
    node_stop(&n);
}

static void test_a_slow_node_times_out_within_the_deadline(void **st)
{
    (void)st;
    const char *extra[] = {"--slow-ms", "2000", NULL};
    struct node n;
    node_start(&n, extra, true, 300);
    uint64_t nonce, t0 = tu_now_ns();
    assert_int_equal(n.sink.nonce(n.sink.ctx, pk, &nonce), MB_ERR_SINK_UNREACHABLE);
    uint64_t ms = (tu_now_ns() - t0) / 1000000;
    assert_true(ms >= 290 && ms < 1500);
    node_stop(&n);
}

static void test_nobody_listening_is_unreachable_and_a_bad_url_is_refused(void **st)
{
    (void)st;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", (unsigned)ntohs(a.sin_port));
    struct mb_sink s;
    struct mb_rpc_opts o = {500, false, NULL};
    assert_int_equal(mb_sink_rpc_open(&s, url, &o), MB_ERR_OK);
    uint64_t nonce;
    assert_int_equal(s.nonce(s.ctx, pk, &nonce), MB_ERR_SINK_UNREACHABLE);
    s.close(s.ctx);
    const char *bad[] = {"https://127.0.0.1:1",    "http://127.0.0.1",      "http://127.0.0.1:0",
                         "http://127.0.0.1:99999", "http://example.org:80", "http://:80",
                         "http://127.0.0.1:80x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mb_sink_rpc_open(&s, bad[i], &o), MB_ERR_CONFIG_BAD_VALUE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_a_committed_reading_is_proven_under_a_certified_header,
                                  teardown),
        cmocka_unit_test_teardown(test_a_header_not_yet_certified_is_pending_not_committed,
                                  teardown),
        cmocka_unit_test_teardown(test_a_certificate_that_does_not_verify_is_never_committed,
                                  teardown),
        cmocka_unit_test(test_verify_proof_without_a_trusted_genesis_is_refused),
        cmocka_unit_test_teardown(test_a_proof_that_does_not_verify_is_never_committed, teardown),
        cmocka_unit_test_teardown(test_a_proven_value_other_than_ours_is_never_committed, teardown),
        cmocka_unit_test_teardown(test_a_reading_on_chain_but_not_in_the_state_is_never_committed,
                                  teardown),
        cmocka_unit_test_teardown(test_without_verify_proof_a_height_is_enough, teardown),
        cmocka_unit_test(test_http_500_is_unreachable_and_pending_is_pending),
        cmocka_unit_test_teardown(test_a_non_json_answer_is_a_protocol_error, teardown),
        cmocka_unit_test_teardown(test_a_slow_node_times_out_within_the_deadline, teardown),
        cmocka_unit_test_teardown(test_nobody_listening_is_unreachable_and_a_bad_url_is_refused,
                                  teardown),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
