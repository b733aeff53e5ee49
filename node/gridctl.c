/* gridctl.c -- the operator's and household's command-line tool: a dispatcher of subcommands.
 *
 * `gridctl market clear` clears one book with the chain's own clearing core
 * (issue 4, point 6).  `keygen`, `status`, `transfer` and `balance` (issue 5,
 * point 8) sign locally and talk JSON-RPC to a node (node_http_client.h);
 * `balance` and the nonce that `transfer` signs with are verified as a light
 * client against the genesis validators (node_lightclient.h).
 *
 * Exit status: 0 success, 1 bad input or a refusal (the message on stderr
 * names the field or the node's reason), 2 usage error (unknown command or
 * option), 3 verification failed (the node's answer does not prove itself). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chain_codec.h"
#include "chain_crypto.h"
#include "chain_ledger.h"
#include "node_book_json.h"
#include "node_http_client.h"
#include "node_lightclient.h"
#include "rpc.h"

#define EXIT_BAD_INPUT  1
#define EXIT_USAGE      2
#define EXIT_UNVERIFIED 3

struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command's own name */
};

static int is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

/* Find argv[0] in cmds and run it; usage is the parent's usage printer. */
static int dispatch(const char *path, const struct command *cmds, void (*usage)(FILE *), int argc,
                    char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "%s: missing command\n", path);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (is_help(argv[0])) {
        usage(stdout);
        return 0;
    }
    for (const struct command *c = cmds; c->name; c++)
        if (strcmp(c->name, argv[0]) == 0)
            return c->run(argc, argv);
    fprintf(stderr, "%s: unknown command \"%s\"\n", path, argv[0]);
    usage(stderr);
    return EXIT_USAGE;
}

static void list_commands(FILE *f, const struct command *cmds)
{
    fprintf(f, "\ncommands:\n");
    for (const struct command *c = cmds; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
}

/* ---- gridctl market clear ---- */

static void usage_market_clear(FILE *f)
{
    fprintf(
        f,
        "usage: gridctl market clear [BOOK.json] < book.json > result.json\n"
        "\n"
        "Clear one market book with the chain's clearing core (market/mkt_clear.h) and\n"
        "print the result as JSON.  The book is read from BOOK.json, or from standard\n"
        "input when no file (or \"-\") is given; at most 64 MiB.\n"
        "\n"
        "book:   {\"mechanism\": \"uniform\"|\"p2p\",\n"
        "         \"grid\": {\"retail_price\": P, \"feed_in_price\": P, \"bus\": 0},  (optional)\n"
        "         \"fees\": {\"rate\": R, \"model\": \"uniform\"|\"zonal\"|\"distance\",\n"
        "                  \"matrix\": [[...]]},                              (p2p only)\n"
        "         \"orders\": [{\"id\": \"o1\", \"participant\": \"alice\", \"side\": "
        "\"buy\"|\"sell\",\n"
        "                     \"qty_wh\": 1500, \"price\": 250000, \"bus\": 0,\n"
        "                     \"renewable\": false, \"prefs\": {...}}, ...]}\n"
        "result: {\"price\": P (uniform), \"volume_wh\": V, \"welfare\": W,\n"
        "         \"fills\": [{\"id\": \"o1\", \"qty_wh\": q}, ...],\n"
        "         \"trades\": [{\"buy\": \"o1\", \"sell\": \"o2\", \"qty_wh\": q, \"price\": P,\n"
        "                     \"fee\": F}, ...]}\n"
        "\n"
        "Prices in micro-units per kWh, quantities in Wh, integers only; welfare in\n"
        "nano-units (price x Wh), exact.  Ties in time priority go by position in\n"
        "\"orders\".  See README.md, \"gridctl market clear\".\n"
        "\n"
        "exit status: 0 cleared, 1 bad JSON or an invalid book (message on stderr),\n"
        "2 usage error.\n");
}

/* Read all of f, refusing more than NODE_BOOK_MAX_INPUT_BYTES.  Returns 0, or
 * 1 after printing why. */
static int read_all(FILE *f, const char *what, char **out, size_t *outlen)
{
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fprintf(stderr, "gridctl: out of memory reading %s\n", what);
        return 1;
    }
    for (;;) {
        if (len == cap) {
            if (cap > NODE_BOOK_MAX_INPUT_BYTES) {
                fprintf(stderr,
                        "gridctl: %s is larger than the limit of %u bytes (64 MiB); refusing it\n",
                        what, NODE_BOOK_MAX_INPUT_BYTES);
                free(buf);
                return 1;
            }
            size_t ncap = cap * 2;
            if (ncap > (size_t)NODE_BOOK_MAX_INPUT_BYTES + 1)
                ncap = (size_t)NODE_BOOK_MAX_INPUT_BYTES + 1;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                fprintf(stderr, "gridctl: out of memory reading %s\n", what);
                free(buf);
                return 1;
            }
            buf = nb;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                fprintf(stderr, "gridctl: cannot read %s: %s\n", what, strerror(errno));
                free(buf);
                return 1;
            }
            break;
        }
    }
    if (len > NODE_BOOK_MAX_INPUT_BYTES) {
        fprintf(stderr, "gridctl: %s is larger than the limit of %u bytes (64 MiB); refusing it\n",
                what, NODE_BOOK_MAX_INPUT_BYTES);
        free(buf);
        return 1;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

static int cmd_market_clear(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            usage_market_clear(stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "gridctl: market clear: unknown option \"%s\"\n", argv[i]);
            usage_market_clear(stderr);
            return EXIT_USAGE;
        }
        if (path) {
            fprintf(stderr, "gridctl: market clear: more than one book given\n");
            usage_market_clear(stderr);
            return EXIT_USAGE;
        }
        path = argv[i];
    }
    int use_stdin = !path || strcmp(path, "-") == 0;
    const char *what = use_stdin ? "standard input" : path;
    FILE *f = use_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "gridctl: cannot open %s: %s\n", path, strerror(errno));
        return EXIT_BAD_INPUT;
    }
    char *text = NULL;
    size_t len = 0;
    int bad = read_all(f, what, &text, &len);
    if (!use_stdin)
        fclose(f);
    if (bad)
        return EXIT_BAD_INPUT;

    int status = EXIT_BAD_INPUT;
    struct node_book book;
    struct node_result res;
    struct node_error err;
    char *out = NULL;
    size_t outlen = 0;
    memset(&res, 0, sizeof res);
    if (node_book_parse(text, len, &book, &err) != NODE_BOOK_ERR_OK ||
        node_book_clear(&book, &res, &err) != NODE_BOOK_ERR_OK) {
        fprintf(stderr, "gridctl: %s\n", err.msg);
        goto done;
    }
    if (node_result_format(&book, &res, &out, &outlen) != NODE_BOOK_ERR_OK) {
        fprintf(stderr, "gridctl: out of memory formatting the result\n");
        goto done;
    }
    if (fwrite(out, 1, outlen, stdout) != outlen || fflush(stdout) != 0) {
        fprintf(stderr, "gridctl: cannot write the result: %s\n", strerror(errno));
        goto done;
    }
    status = 0;
done:
    free(out);
    node_result_deinit(&res);
    node_book_deinit(&book);
    free(text);
    return status;
}

/* ---- gridctl market ---- */

static const struct command MARKET_COMMANDS[] = {
    {"clear", "clear one book (JSON on stdin) with the chain's clearing core", cmd_market_clear},
    {NULL, NULL, NULL},
};

static void usage_market(FILE *f)
{
    fprintf(f, "usage: gridctl market <command> [--help]\n");
    list_commands(f, MARKET_COMMANDS);
}

static int cmd_market(int argc, char **argv)
{
    return dispatch("gridctl market", MARKET_COMMANDS, usage_market, argc - 1, argv + 1);
}

/* ---- options shared by the RPC commands ---- */

/* "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i past the value.
 * Returns 1 when matched (value in *val), 0 when argv[*i] is another
 * option, -1 when the value is missing. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **val)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *val = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "gridctl: option %s needs a value\n", name);
        return -1;
    }
    *val = argv[++*i];
    return 1;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* ---- key files: 128 hex digits (seed || pk) and a newline, mode 0600 ----
 * The same format gridnode's key files use (node_genesis.h), so `gridctl
 * transfer --key` takes a testnet's operator key as it is. */

static int key_write(const char *path, const uint8_t sk[CHAIN_SK_BYTES])
{
    char hex[2 * CHAIN_SK_BYTES + 2];
    chain_hex(hex, sk, CHAIN_SK_BYTES);
    hex[2 * CHAIN_SK_BYTES] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "gridctl: cannot create %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (a key file is never overwritten; choose another --out)" : "");
        return -1;
    }
    ssize_t w = write(fd, hex, 2 * CHAIN_SK_BYTES + 1);
    int bad = w != (ssize_t)(2 * CHAIN_SK_BYTES + 1) || fsync(fd) != 0;
    if (close(fd) != 0 || bad) {
        fprintf(stderr, "gridctl: cannot write %s: %s\n", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

static int key_read(const char *path, uint8_t pk[CHAIN_PK_BYTES], uint8_t sk[CHAIN_SK_BYTES])
{
    char buf[2 * CHAIN_SK_BYTES + 8];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "gridctl: cannot open the key file %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || (st.st_mode & 077)) {
        fprintf(stderr, "gridctl: key file %s is readable by others; run: chmod 600 %s\n", path,
                path);
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 0) {
        fprintf(stderr, "gridctl: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    uint8_t seed_pk[CHAIN_SK_BYTES], check_sk[CHAIN_SK_BYTES];
    if (chain_hex_decode(buf, strlen(buf), seed_pk, CHAIN_SK_BYTES) != 0) {
        fprintf(stderr, "gridctl: key file %s must hold 128 hex digits (an Ed25519 secret key)\n",
                path);
        return -1;
    }
    chain_keypair_from_seed(pk, check_sk, seed_pk);
    if (memcmp(pk, seed_pk + 32, CHAIN_PK_BYTES) != 0) {
        fprintf(stderr,
                "gridctl: key file %s is damaged: its public half does not match its seed\n", path);
        return -1;
    }
    memcpy(sk, check_sk, CHAIN_SK_BYTES);
    return 0;
}

/* ---- gridctl keygen ---- */

static void usage_keygen(FILE *f)
{
    fprintf(f, "usage: gridctl keygen [--out FILE]\n"
               "\n"
               "Make a fresh Ed25519 key pair, write its secret key to FILE (default\n"
               "./gridctl.key; 128 hex digits, mode 0600, never overwritten) and print the\n"
               "public key (64 hex digits, the account) on standard output.\n"
               "\n"
               "exit status: 0 written, 1 cannot write, 2 usage error.\n");
}

static int cmd_keygen(int argc, char **argv)
{
    const char *out = "gridctl.key";
    for (int i = 1; i < argc; i++) {
        int m;
        if (is_help(argv[i])) {
            usage_keygen(stdout);
            return 0;
        }
        if ((m = opt_value(argc, argv, &i, "--out", &out)) < 0)
            return EXIT_USAGE;
        if (m == 0) {
            fprintf(stderr, "gridctl: keygen: unknown argument \"%s\"\n", argv[i]);
            usage_keygen(stderr);
            return EXIT_USAGE;
        }
    }
    if (chain_crypto_init() != CHAIN_ERR_OK) {
        fprintf(stderr, "gridctl: libsodium cannot initialise\n");
        return EXIT_BAD_INPUT;
    }
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES];
    chain_keypair_random(pk, sk);
    if (key_write(out, sk) != 0)
        return EXIT_BAD_INPUT;
    char hex[2 * CHAIN_PK_BYTES + 1];
    chain_hex(hex, pk, CHAIN_PK_BYTES);
    printf("%s\n", hex);
    fprintf(stderr,
            "gridctl: wrote the secret key to %s (mode 0600); the line above is your account\n",
            out);
    return 0;
}

/* ---- talking to a node ---- */

struct rpc_opts {
    const char *rpc;
    const char *genesis;
    struct node_http_url url;
    struct node_lc_trust trust;
    bool have_trust;
};

/* Common option: --rpc URL and --genesis FILE.  1 matched, 0 not, -1 error. */
static int rpc_opt(int argc, char **argv, int *i, struct rpc_opts *o)
{
    int m = opt_value(argc, argv, i, "--rpc", &o->rpc);
    if (m)
        return m;
    return opt_value(argc, argv, i, "--genesis", &o->genesis);
}

static int rpc_opts_finish(struct rpc_opts *o)
{
    char err[256];
    if (!o->rpc)
        o->rpc = getenv("GRIDCTL_RPC") ? getenv("GRIDCTL_RPC") : NODE_HTTP_DEFAULT_URL;
    if (node_http_parse_url(o->rpc, &o->url, err, sizeof err) != 0) {
        fprintf(stderr, "gridctl: %s\n", err);
        return EXIT_USAGE;
    }
    if (chain_crypto_init() != CHAIN_ERR_OK) {
        fprintf(stderr, "gridctl: libsodium cannot initialise\n");
        return EXIT_BAD_INPUT;
    }
    if (!o->genesis)
        return 0;
    FILE *f = fopen(o->genesis, "rb");
    if (!f) {
        fprintf(stderr, "gridctl: cannot open the genesis file %s: %s\n", o->genesis,
                strerror(errno));
        return EXIT_BAD_INPUT;
    }
    char *text = NULL;
    size_t len = 0;
    int bad = read_all(f, o->genesis, &text, &len);
    fclose(f);
    if (bad)
        return EXIT_BAD_INPUT;
    char why[256];
    int rc = node_lc_trust_from_genesis(text, len, &o->trust, why, sizeof why);
    free(text);
    if (rc != NODE_LC_ERR_OK) {
        fprintf(stderr, "gridctl: %s: %s\n", o->genesis, why);
        return EXIT_BAD_INPUT;
    }
    o->have_trust = true;
    return 0;
}

/* One call; prints the node's refusal and returns NULL on failure. */
static json_t *rpc_call(const struct rpc_opts *o, const char *method, json_t *params, int *code)
{
    char err[512];
    int c = 0;
    json_t *data = NULL;
    json_t *r = node_rpc_call(&o->url, method, params, &c, &data, err, sizeof err);
    if (code)
        *code = c;
    if (!r) {
        fprintf(stderr, "gridctl: %s: %s\n", method, err);
        json_decref(data);
    }
    json_decref(data);
    return r;
}

/* Fetch the head header with its certificate and verify it.  A node may not
 * hold the certificate of its newest blocks yet (a follower learns it with
 * the next round), so up to NODE_CERT_LOOKBACK heights below the head are
 * tried.  0, or an exit status. */
#define NODE_CERT_LOOKBACK 16
static int verified_head(const struct rpc_opts *o, struct node_lc_header *h)
{
    uint64_t want = UINT64_MAX, head = 0;
    char why[384];
    int rc = NODE_LC_ERR_NO_CERT;
    for (int attempt = 0; attempt <= NODE_CERT_LOOKBACK; attempt++) {
        json_t *params = want == UINT64_MAX ? NULL : json_pack("{s:I}", "height", (json_int_t)want);
        json_t *r = rpc_call(o, "get_header", params, NULL);
        if (!r)
            return EXIT_BAD_INPUT;
        rc = node_lc_check_header_json(&o->trust, r, want, h, why, sizeof why);
        json_t *hj = json_object_get(r, "height");
        if (want == UINT64_MAX)
            head = json_is_integer(hj) && json_integer_value(hj) > 0
                       ? (uint64_t)json_integer_value(hj)
                       : 0;
        json_decref(r);
        if (rc == NODE_LC_ERR_OK)
            return 0;
        uint64_t at = want == UINT64_MAX ? head : want;
        if (rc != NODE_LC_ERR_NO_CERT || at == 0)
            break;
        want = at - 1;
    }
    if (rc == NODE_LC_ERR_NO_CERT)
        fprintf(stderr,
                "gridctl: the node has no certified block at or below its head (height %" PRIu64
                "), so nothing can be verified yet; retry in a moment\n",
                head);
    else
        fprintf(stderr, "gridctl: REFUSED: the node's header does not verify (%s): %s\n",
                node_lc_err_name(rc), why);
    return rc == NODE_LC_ERR_NO_CERT ? EXIT_BAD_INPUT : EXIT_UNVERIFIED;
}

/* get_account for pk at height (UINT64_MAX: head), verified against h when
 * h is not NULL.  0, or an exit status. */
static int fetch_account(const struct rpc_opts *o, const uint8_t pk[CHAIN_PK_BYTES],
                         const struct node_lc_header *h, struct chain_account *a, json_t **raw)
{
    char hex[2 * CHAIN_PK_BYTES + 1];
    chain_hex(hex, pk, CHAIN_PK_BYTES);
    json_t *params = h ? json_pack("{s:s, s:I}", "account", hex, "height", (json_int_t)h->height)
                       : json_pack("{s:s}", "account", hex);
    json_t *r = rpc_call(o, "get_account", params, NULL);
    if (!r)
        return EXIT_BAD_INPUT;
    if (h) {
        char why[384];
        int rc = node_lc_check_account_json(h, r, pk, a, why, sizeof why);
        if (rc != NODE_LC_ERR_OK) {
            fprintf(stderr,
                    "gridctl: REFUSED: the node's account answer does not verify (%s): %s\n",
                    node_lc_err_name(rc), why);
            json_decref(r);
            return EXIT_UNVERIFIED;
        }
    } else {
        json_t *b = json_object_get(r, "balance"), *n = json_object_get(r, "nonce"),
               *l = json_object_get(r, "locked"), *e = json_object_get(r, "exists");
        memset(a, 0, sizeof *a);
        if (!json_is_integer(b) || !json_is_integer(n) || !json_is_integer(l) ||
            !json_is_boolean(e)) {
            fprintf(
                stderr,
                "gridctl: get_account: the node's answer lacks balance, nonce, locked or exists\n");
            json_decref(r);
            return EXIT_BAD_INPUT;
        }
        a->balance = json_integer_value(b);
        a->nonce = (uint64_t)json_integer_value(n);
        a->locked = json_integer_value(l);
        a->exists = json_is_true(e);
        json_t *roles = json_object_get(r, "roles");
        for (size_t i = 0; i < json_array_size(roles); i++) {
            const char *s = json_string_value(json_array_get(roles, i));
            if (!s)
                continue;
            a->roles |= !strcmp(s, "operator")        ? CHAIN_ROLE_OPERATOR
                        : !strcmp(s, "shadow_centre") ? CHAIN_ROLE_SHADOW_CENTRE
                        : !strcmp(s, "validator")     ? CHAIN_ROLE_VALIDATOR
                        : !strcmp(s, "participant")   ? CHAIN_ROLE_PARTICIPANT
                                                      : 0;
        }
    }
    if (raw)
        *raw = r;
    else
        json_decref(r);
    return 0;
}

/* ---- gridctl status ---- */

static void usage_status(FILE *f)
{
    fprintf(f,
            "usage: gridctl status [--rpc URL]\n"
            "\n"
            "Print the node's status as JSON: chain id, height, state root, block hash,\n"
            "time, engine, validators, peers up, the node's key and role.  Not verified:\n"
            "use `gridctl balance` for answers that prove themselves.\n"
            "\n"
            "--rpc URL   the node's JSON-RPC address (default $GRIDCTL_RPC or %s)\n"
            "\n"
            "exit status: 0 answered, 1 no answer, 2 usage error.\n",
            NODE_HTTP_DEFAULT_URL);
}

static int cmd_status(int argc, char **argv)
{
    struct rpc_opts o;
    memset(&o, 0, sizeof o);
    for (int i = 1; i < argc; i++) {
        int m;
        if (is_help(argv[i])) {
            usage_status(stdout);
            return 0;
        }
        if ((m = opt_value(argc, argv, &i, "--rpc", &o.rpc)) < 0)
            return EXIT_USAGE;
        if (m == 0) {
            fprintf(stderr, "gridctl: status: unknown argument \"%s\"\n", argv[i]);
            usage_status(stderr);
            return EXIT_USAGE;
        }
    }
    int rc = rpc_opts_finish(&o);
    if (rc)
        return rc;
    json_t *r = rpc_call(&o, "status", NULL, NULL);
    if (!r)
        return EXIT_BAD_INPUT;
    char *text = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(r);
    if (!text) {
        fprintf(stderr, "gridctl: out of memory\n");
        return EXIT_BAD_INPUT;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

/* ---- gridctl transfer ---- */

static void usage_transfer(FILE *f)
{
    fprintf(f,
            "usage: gridctl transfer --key FILE --to HEX --amount MICRO [--rpc URL]\n"
            "                        [--genesis FILE] [--wait] [--timeout SECONDS]\n"
            "\n"
            "Send MICRO micro-units (1 token = 1000000) from the key's account to the\n"
            "account HEX (64 hex digits).  The transaction is signed here; the key never\n"
            "leaves this machine.  The nonce comes from the node's committed state: with\n"
            "--genesis it is verified as a light client (header, certificate by the\n"
            "genesis validators, proof), without it the node is trusted for it.\n"
            "Prints the transaction hash.  Send one transfer at a time per account (or\n"
            "use --wait): a second one signed before the first commits reuses its nonce.\n"
            "\n"
            "--rpc URL         the node's JSON-RPC address (default $GRIDCTL_RPC or %s)\n"
            "--genesis FILE    genesis.json of the chain: verify the nonce, and take the\n"
            "                  chain id from it (else from the node's status)\n"
            "--wait            poll get_tx until the transfer is committed and print its\n"
            "                  height and result\n"
            "--timeout SECONDS how long --wait waits (default 30)\n"
            "\n"
            "exit status: 0 submitted (with --wait: committed and OK), 1 refused by the\n"
            "node, failed in its block, or timed out, 2 usage error, 3 verification failed.\n",
            NODE_HTTP_DEFAULT_URL);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int cmd_transfer(int argc, char **argv)
{
    struct rpc_opts o;
    const char *key = NULL, *to = NULL, *amount_s = NULL, *timeout_s = "30";
    bool wait = false;
    memset(&o, 0, sizeof o);
    for (int i = 1; i < argc; i++) {
        int m;
        if (is_help(argv[i])) {
            usage_transfer(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--wait") == 0) {
            wait = true;
            continue;
        }
        if ((m = rpc_opt(argc, argv, &i, &o)) == 0 &&
            (m = opt_value(argc, argv, &i, "--key", &key)) == 0 &&
            (m = opt_value(argc, argv, &i, "--to", &to)) == 0 &&
            (m = opt_value(argc, argv, &i, "--amount", &amount_s)) == 0 &&
            (m = opt_value(argc, argv, &i, "--timeout", &timeout_s)) == 0) {
            fprintf(stderr, "gridctl: transfer: unknown argument \"%s\"\n", argv[i]);
            usage_transfer(stderr);
            return EXIT_USAGE;
        }
        if (m < 0)
            return EXIT_USAGE;
    }
    if (!key || !to || !amount_s) {
        fprintf(stderr, "gridctl: transfer needs --key, --to and --amount\n");
        usage_transfer(stderr);
        return EXIT_USAGE;
    }
    uint8_t to_pk[CHAIN_PK_BYTES], pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES];
    uint64_t amount, timeout;
    if (chain_hex_decode(to, strlen(to), to_pk, CHAIN_PK_BYTES) != 0) {
        fprintf(stderr, "gridctl: --to must be an account: 64 hex digits\n");
        return EXIT_USAGE;
    }
    if (parse_u64(amount_s, &amount) != 0 || amount == 0 || amount > (uint64_t)INT64_MAX) {
        fprintf(stderr,
                "gridctl: --amount must be a whole number of micro-units from 1 to %" PRId64 "\n",
                INT64_MAX);
        return EXIT_USAGE;
    }
    if (parse_u64(timeout_s, &timeout) != 0 || timeout > 86400) {
        fprintf(stderr, "gridctl: --timeout must be a number of seconds up to 86400\n");
        return EXIT_USAGE;
    }
    int rc = rpc_opts_finish(&o);
    if (rc)
        return rc;
    if (key_read(key, pk, sk) != 0)
        return EXIT_BAD_INPUT;
    if (memcmp(pk, to_pk, CHAIN_PK_BYTES) == 0) {
        fprintf(stderr, "gridctl: --to is the key's own account; a transfer to oneself is refused "
                        "by the chain\n");
        return EXIT_BAD_INPUT;
    }

    /* chain id and nonce */
    char chain_id[CHAIN_CHAIN_ID_MAX_BYTES + 1];
    struct chain_account a;
    if (o.have_trust) {
        struct node_lc_header h;
        if ((rc = verified_head(&o, &h)) || (rc = fetch_account(&o, pk, &h, &a, NULL)))
            return rc;
        snprintf(chain_id, sizeof chain_id, "%s", o.trust.chain_id);
    } else {
        json_t *st = rpc_call(&o, "status", NULL, NULL);
        if (!st)
            return EXIT_BAD_INPUT;
        const char *cid = json_string_value(json_object_get(st, "chain_id"));
        if (!cid || strlen(cid) == 0 || strlen(cid) > CHAIN_CHAIN_ID_MAX_BYTES) {
            fprintf(stderr, "gridctl: the node's status has no usable chain_id\n");
            json_decref(st);
            return EXIT_BAD_INPUT;
        }
        snprintf(chain_id, sizeof chain_id, "%s", cid);
        json_decref(st);
        if ((rc = fetch_account(&o, pk, NULL, &a, NULL)))
            return rc;
        fprintf(stderr,
                "gridctl: note: nonce %" PRIu64
                " taken from the node unverified (pass --genesis to verify)\n",
                a.nonce);
    }
    if (!a.exists) {
        fprintf(stderr, "gridctl: the sending account does not exist on the chain (it has never "
                        "been funded)\n");
        return EXIT_BAD_INPUT;
    }

    /* sign locally */
    uint8_t *payload = NULL, *tx = NULL;
    size_t plen, tlen;
    if (chain_payload_transfer(to_pk, amount, &payload, &plen) != CHAIN_ERR_OK ||
        chain_tx_build(chain_id, a.nonce, GL__TX_TYPE__TX_TRANSFER, payload, plen, pk, sk, &tx,
                       &tlen) != CHAIN_ERR_OK) {
        free(payload);
        fprintf(stderr, "gridctl: cannot build the transaction\n");
        return EXIT_BAD_INPUT;
    }
    free(payload);
    char *hex = malloc(2 * tlen + 1);
    if (!hex) {
        free(tx);
        return EXIT_BAD_INPUT;
    }
    chain_hex(hex, tx, tlen);
    uint8_t hash[CHAIN_HASH_BYTES];
    chain_hash(hash, CHAIN_TAG_TX, tx, tlen);
    free(tx);
    int code = 0;
    json_t *r = rpc_call(&o, "submit_tx", json_pack("{s:s}", "tx", hex), &code);
    free(hex);
    if (!r)
        return EXIT_BAD_INPUT;
    char hash_hex[2 * CHAIN_HASH_BYTES + 1];
    chain_hex(hash_hex, hash, CHAIN_HASH_BYTES);
    const char *got = json_string_value(json_object_get(r, "hash"));
    if (!got || strcmp(got, hash_hex) != 0)
        fprintf(stderr, "gridctl: warning: the node reports hash %s, this client computed %s\n",
                got ? got : "(none)", hash_hex);
    json_decref(r);
    printf("%s\n", hash_hex);
    fflush(stdout);
    if (!wait)
        return 0;

    /* --wait: poll get_tx */
    for (uint64_t waited_ms = 0; waited_ms <= timeout * 1000; waited_ms += 200) {
        char err[512];
        int c = 0;
        r = node_rpc_call(&o.url, "get_tx", json_pack("{s:s}", "hash", hash_hex), &c, NULL, err,
                          sizeof err);
        if (r) {
            json_t *res = json_object_get(r, "result");
            const char *name = json_string_value(json_object_get(r, "result_name"));
            printf("committed at height %" JSON_INTEGER_FORMAT ", index %" JSON_INTEGER_FORMAT
                   ": %s\n",
                   json_integer_value(json_object_get(r, "height")),
                   json_integer_value(json_object_get(r, "index")), name ? name : "?");
            int ok = json_is_integer(res) && json_integer_value(res) == 0;
            if (!ok)
                fprintf(stderr, "gridctl: the transfer was included but failed: %s\n",
                        json_string_value(json_object_get(r, "result_message"))
                            ? json_string_value(json_object_get(r, "result_message"))
                            : (name ? name : "unknown result"));
            json_decref(r);
            return ok ? 0 : EXIT_BAD_INPUT;
        }
        if (c != -32002) { /* anything but "not committed yet" */
            fprintf(stderr, "gridctl: get_tx: %s\n", err);
            return EXIT_BAD_INPUT;
        }
        sleep_ms(200);
    }
    fprintf(stderr,
            "gridctl: the transfer was not committed within %" PRIu64 " s (it may still be)\n",
            timeout);
    return EXIT_BAD_INPUT;
}

/* ---- gridctl balance ---- */

static void usage_balance(FILE *f)
{
    fprintf(f,
            "usage: gridctl balance (--account HEX | --key FILE) --genesis FILE [--rpc URL]\n"
            "                       [--no-verify] [--json]\n"
            "\n"
            "Print an account's balance, verified as a light client: the node's latest\n"
            "certified header must hash to its block hash, name the genesis chain and\n"
            "validator set, and carry a commit certificate signed by a quorum of the\n"
            "genesis validators; the account must be proven against that header's state\n"
            "root.  Any mismatch is refused with its reason and exit status 3.\n"
            "\n"
            "--account HEX   the account (64 hex digits), or\n"
            "--key FILE      the account of this key file\n"
            "--genesis FILE  genesis.json of the chain: what is trusted (required unless\n"
            "                --no-verify)\n"
            "--rpc URL       the node's JSON-RPC address (default $GRIDCTL_RPC or %s)\n"
            "--no-verify     believe the node without proof (prints UNVERIFIED)\n"
            "--json          print a JSON object instead of lines\n"
            "\n"
            "Amounts are micro-units (1 token = 1000000).\n"
            "exit status: 0 verified, 1 no answer or bad input, 2 usage error,\n"
            "3 verification failed.\n",
            NODE_HTTP_DEFAULT_URL);
}

static int cmd_balance(int argc, char **argv)
{
    struct rpc_opts o;
    const char *account = NULL, *key = NULL;
    bool no_verify = false, as_json = false;
    memset(&o, 0, sizeof o);
    for (int i = 1; i < argc; i++) {
        int m;
        if (is_help(argv[i])) {
            usage_balance(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--no-verify") == 0) {
            no_verify = true;
            continue;
        }
        if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
            continue;
        }
        if ((m = rpc_opt(argc, argv, &i, &o)) == 0 &&
            (m = opt_value(argc, argv, &i, "--account", &account)) == 0 &&
            (m = opt_value(argc, argv, &i, "--key", &key)) == 0) {
            fprintf(stderr, "gridctl: balance: unknown argument \"%s\"\n", argv[i]);
            usage_balance(stderr);
            return EXIT_USAGE;
        }
        if (m < 0)
            return EXIT_USAGE;
    }
    if (!!account == !!key) {
        fprintf(stderr, "gridctl: balance needs exactly one of --account HEX and --key FILE\n");
        usage_balance(stderr);
        return EXIT_USAGE;
    }
    if (!o.genesis && !no_verify) {
        fprintf(stderr,
                "gridctl: balance needs --genesis FILE to verify the answer (or --no-verify to "
                "believe the node blindly)\n");
        return EXIT_USAGE;
    }
    int rc = rpc_opts_finish(&o);
    if (rc)
        return rc;
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES];
    if (account && chain_hex_decode(account, strlen(account), pk, CHAIN_PK_BYTES) != 0) {
        fprintf(stderr, "gridctl: --account must be 64 hex digits\n");
        return EXIT_USAGE;
    }
    if (key && key_read(key, pk, sk) != 0)
        return EXIT_BAD_INPUT;
    struct chain_account a;
    struct node_lc_header h;
    memset(&h, 0, sizeof h);
    bool verify = !no_verify;
    json_t *raw = NULL;
    if (verify && (rc = verified_head(&o, &h)))
        return rc;
    if ((rc = fetch_account(&o, pk, verify ? &h : NULL, &a, &raw)))
        return rc;
    if (!verify) {
        json_t *hj = json_object_get(raw, "height");
        h.height = json_is_integer(hj) ? (uint64_t)json_integer_value(hj) : 0;
    }
    json_decref(raw);
    char acct[2 * CHAIN_PK_BYTES + 1], root[2 * CHAIN_HASH_BYTES + 1], bh[2 * CHAIN_HASH_BYTES + 1];
    chain_hex(acct, pk, CHAIN_PK_BYTES);
    chain_hex(root, h.state_root, CHAIN_HASH_BYTES);
    chain_hex(bh, h.hash, CHAIN_HASH_BYTES);
    if (as_json) {
        json_t *out =
            json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:b}", "account", acct, "exists", a.exists,
                      "balance", (json_int_t)a.balance, "locked", (json_int_t)a.locked, "nonce",
                      (json_int_t)a.nonce, "height", (json_int_t)h.height, "verified", verify);
        if (out && verify) {
            json_object_set_new(out, "block_hash", json_string(bh));
            json_object_set_new(out, "state_root", json_string(root));
        }
        char *text = out ? json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(out);
        if (!text)
            return EXIT_BAD_INPUT;
        printf("%s\n", text);
        free(text);
        return 0;
    }
    printf("account  %s%s\n", acct, a.exists ? "" : " (does not exist)");
    printf("balance  %" PRId64 ".%06" PRId64 " (%" PRId64 " micro-units)\n",
           (int64_t)(a.balance / CHAIN_MICRO_PER_TOKEN),
           (int64_t)(a.balance % CHAIN_MICRO_PER_TOKEN), a.balance);
    printf("locked   %" PRId64 " micro-units\n", a.locked);
    printf("nonce    %" PRIu64 "\n", a.nonce);
    if (verify)
        printf("verified at height %" PRIu64
               " (block %s, state root %s) against %u genesis validators (%s)\n",
               h.height, bh, root, o.trust.n, o.trust.engine == CONS_ENGINE_RAFT ? "raft" : "pbft");
    else
        printf("UNVERIFIED: the node's word at height %" PRIu64 " (--no-verify)\n", h.height);
    return 0;
}

/* ---- gridctl recharge (the shadow-centre API, rpc/README.md) ---- */

#define GRIDCTL_SHADOW_DEFAULT_URL "http://127.0.0.1:26658"

static void usage_recharge(FILE *f)
{
    fprintf(
        f,
        "usage: gridctl recharge --account HEX --amount MICRO --bank-ref REF --shadow-key FILE\n"
        "                        [--shadow-rpc URL] [--chain-id ID | --rpc URL]\n"
        "\n"
        "Ask the shadow centre's node to mint MICRO micro-units to ACCOUNT against the bank\n"
        "transfer REF.  The request is signed with FILE (a key holding the shadow-centre role,\n"
        "or listed in the node's shadow_keys); the node signs the Mint with its own shadow key.\n"
        "Idempotent: the same REF again mints nothing and prints the first result; the same\n"
        "REF with another account or amount is refused (BANK_REF_CONFLICT).\n"
        "\n"
        "--shadow-rpc URL  the shadow-centre API (default $GRIDCTL_SHADOW_RPC or %s)\n"
        "--chain-id ID     the chain the signature is for (default: asked of --rpc's status)\n"
        "--rpc URL         the public JSON-RPC, only to learn the chain id\n"
        "\n"
        "Prints the node's answer as JSON: hash, status (pending or committed), height, repeat.\n"
        "exit status: 0 accepted (or a repeat), 1 refused or no answer, 2 usage error.\n",
        GRIDCTL_SHADOW_DEFAULT_URL);
}

static int cmd_recharge(int argc, char **argv)
{
    const char *account = NULL, *amount_s = NULL, *ref = NULL, *keyfile = NULL, *shadow = NULL,
               *chain_id = NULL;
    struct rpc_opts o;
    memset(&o, 0, sizeof o);
    for (int i = 1; i < argc; i++) {
        int m;
        if (is_help(argv[i])) {
            usage_recharge(stdout);
            return 0;
        }
        if ((m = opt_value(argc, argv, &i, "--account", &account)) ||
            (m = opt_value(argc, argv, &i, "--amount", &amount_s)) ||
            (m = opt_value(argc, argv, &i, "--bank-ref", &ref)) ||
            (m = opt_value(argc, argv, &i, "--shadow-key", &keyfile)) ||
            (m = opt_value(argc, argv, &i, "--shadow-rpc", &shadow)) ||
            (m = opt_value(argc, argv, &i, "--chain-id", &chain_id)) ||
            (m = opt_value(argc, argv, &i, "--rpc", &o.rpc))) {
            if (m < 0)
                return EXIT_USAGE;
            continue;
        }
        fprintf(stderr, "gridctl: recharge: unknown argument \"%s\"\n", argv[i]);
        usage_recharge(stderr);
        return EXIT_USAGE;
    }
    if (!account || !amount_s || !ref || !keyfile) {
        fprintf(stderr,
                "gridctl: recharge needs --account, --amount, --bank-ref and --shadow-key\n");
        usage_recharge(stderr);
        return EXIT_USAGE;
    }
    uint8_t acct[CHAIN_PK_BYTES], pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES];
    uint64_t amount;
    if (chain_hex_decode(account, strlen(account), acct, CHAIN_PK_BYTES) != 0) {
        fprintf(stderr, "gridctl: --account must be 64 hex digits (a public key)\n");
        return EXIT_BAD_INPUT;
    }
    if (parse_u64(amount_s, &amount) != 0 || amount == 0 || amount > (uint64_t)INT64_MAX) {
        fprintf(
            stderr,
            "gridctl: --amount must be a positive integer of micro-units (1 token = 1000000)\n");
        return EXIT_BAD_INPUT;
    }
    int rc = rpc_opts_finish(&o);
    if (rc)
        return rc;
    if (key_read(keyfile, pk, sk) != 0)
        return EXIT_BAD_INPUT;
    if (!shadow)
        shadow = getenv("GRIDCTL_SHADOW_RPC") ? getenv("GRIDCTL_SHADOW_RPC")
                                              : GRIDCTL_SHADOW_DEFAULT_URL;
    struct node_http_url su;
    char err[512];
    if (node_http_parse_url(shadow, &su, err, sizeof err) != 0) {
        fprintf(stderr, "gridctl: --shadow-rpc: %s\n", err);
        return EXIT_USAGE;
    }
    json_t *status = NULL;
    if (!chain_id) {
        if (!(status = rpc_call(&o, "status", NULL, NULL))) {
            fprintf(stderr, "gridctl: cannot learn the chain id; pass --chain-id\n");
            return EXIT_BAD_INPUT;
        }
        chain_id = json_string_value(json_object_get(status, "chain_id"));
        if (!chain_id) {
            json_decref(status);
            fprintf(stderr, "gridctl: the node's status has no chain_id; pass --chain-id\n");
            return EXIT_BAD_INPUT;
        }
    }
    char hex[2 * CHAIN_PK_BYTES + 1];
    chain_hex(hex, acct, CHAIN_PK_BYTES);
    json_t *req = json_pack("{s:s, s:i, s:s, s:{s:s, s:I, s:s}}", "jsonrpc", "2.0", "id", 1,
                            "method", "recharge", "params", "account", hex, "amount",
                            (json_int_t)amount, "bank_ref", ref);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body) {
        json_decref(status);
        fprintf(stderr, "gridctl: out of memory\n");
        return EXIT_BAD_INPUT;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t nonce = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    struct rpc_shadow_auth a;
    char hdr[RPC_SHADOW_HEADER_MAX], extra[RPC_SHADOW_HEADER_MAX + 64];
    rpc_shadow_auth_sign(&a, chain_id, nonce, body, strlen(body), pk, sk);
    json_decref(status);
    rpc_shadow_auth_format(&a, hdr, sizeof hdr);
    snprintf(extra, sizeof extra, "%s: %s\r\n", RPC_SHADOW_SIG_HEADER, hdr);
    char *resp = NULL;
    size_t rl = 0;
    int st = 0;
    rc = node_http_post_ex(&su, extra, body, strlen(body), &st, &resp, &rl, err, sizeof err);
    free(body);
    if (rc != 0) {
        fprintf(stderr, "gridctl: recharge: %s\n", err);
        return EXIT_BAD_INPUT;
    }
    json_error_t je;
    json_t *r = json_loadb(resp, rl, 0, &je);
    free(resp);
    json_t *res = json_object_get(r, "result"), *e = json_object_get(r, "error");
    if (!res) {
        if (e)
            fprintf(stderr, "gridctl: recharge refused (%s, %d): %s\n",
                    json_integer_value(json_object_get(e, "code"))
                        ? rpc_err_name((int)json_integer_value(json_object_get(e, "code")))
                        : "?",
                    (int)json_integer_value(json_object_get(e, "code")),
                    json_string_value(json_object_get(e, "message"))
                        ? json_string_value(json_object_get(e, "message"))
                        : "(no message)");
        else
            fprintf(
                stderr,
                "gridctl: recharge: the shadow API answered HTTP %d without a JSON-RPC answer\n",
                st);
        json_decref(r);
        return EXIT_BAD_INPUT;
    }
    char *text = json_dumps(res, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(r);
    if (!text)
        return EXIT_BAD_INPUT;
    printf("%s\n", text);
    free(text);
    return 0;
}

/* ---- gridctl ---- */

static const struct command COMMANDS[] = {
    {"keygen", "make an Ed25519 key file and print its account", cmd_keygen},
    {"status", "print a node's status", cmd_status},
    {"transfer", "sign a transfer here and submit it to a node", cmd_transfer},
    {"balance", "an account's balance, verified as a light client", cmd_balance},
    {"market", "the energy market: clear a book", cmd_market},
    {"recharge", "shadow centre: mint against a bank transfer (signed, idempotent by bank ref)",
     cmd_recharge},
    {NULL, NULL, NULL},
};

static void usage_top(FILE *f)
{
    fprintf(f, "usage: gridctl <command> [<subcommand>] [--help]\n"
               "\n"
               "gridledger's command-line tool.  `gridctl <command> --help` for more.\n");
    list_commands(f, COMMANDS);
    fprintf(f, "\nexit status: 0 success, 1 bad input or refused, 2 usage error, 3 verification "
               "failed.\n");
}

int main(int argc, char **argv)
{
    return dispatch("gridctl", COMMANDS, usage_top, argc - 1, argv + 1);
}
