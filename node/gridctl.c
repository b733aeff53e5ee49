/* gridctl.c -- the operator's and household's command-line tool: a dispatcher of subcommands.
 *
 * `gridctl market clear` clears one book with the chain's own clearing core
 * (issue 4, point 6).  `keygen`, `status`, `transfer` and `balance` (issue 5,
 * point 8), the market's `participant`, `order`, `orders`, `results` and
 * `bill` (issue 6, point 5), the operator's and shadow centre's `params`,
 * `tariff` and `market close`, and `meter readings` sign locally and talk
 * JSON-RPC to a node (node_http_client.h).  Every value read from the chain
 * -- balances, the nonces transactions are signed with, participants,
 * orders, results, fills, bills, parameters, tariffs, readings -- is read as
 * a light client (node_lightclient.h): the state key is computed here with
 * chain's and the market's key functions, get_state is asked for exactly
 * that key at a header certified by a quorum of the genesis validators, the
 * proof is checked against its state root, and the value is decoded here;
 * `--no-verify` takes the node's word and says UNVERIFIED.
 *
 * Exit status: 0 success, 1 bad input or a refusal (the message on stderr
 * names the field or the node's reason), 2 usage error (unknown command or
 * option), 3 verification failed (the node's answer does not prove itself). */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "chain_codec.h"
#include "chain_crypto.h"
#include "chain_ledger.h"
#include "market.pb-c.h"
#include "mkt_clear.h"
#include "mkt_err.h"
#include "mkt_limits.h"
#include "mkt_meter.h"
#include "mkt_settle.h"
#include "mkt_tx.h"
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
        fprintf(f, "  %-12s %s\n", c->name, c->summary);
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
    json_t *r = node_rpc_call(&o->url, method, params, &c, NULL, err, sizeof err);
    if (code)
        *code = c;
    if (!r)
        fprintf(stderr, "gridctl: %s: %s\n", method, err);
    return r;
}

/* ---- the light client over HTTP (node_lightclient.h) ----
 * Every value gridctl prints from the chain goes through node_lc_read_msg,
 * node_lc_msg_at or node_lc_account_at: the state key is computed here
 * (chain_key_account, mkt_key_*), get_state is asked for exactly that key at
 * a certified height, and the proven bytes are decoded here. */

static json_t *lc_http_call(void *ctx, const char *method, json_t *params, char *why, size_t whylen)
{
    const struct rpc_opts *o = ctx;
    int code = 0;
    return node_rpc_call(&o->url, method, params, &code, NULL, why, whylen);
}

/* A light client of o's node, verified against o's genesis unless !verify. */
static struct node_lc_client lc_client(struct rpc_opts *o, bool verify)
{
    assert(!verify || o->have_trust);
    return (struct node_lc_client){
        .call = lc_http_call, .ctx = o, .trust = &o->trust, .unverified = !verify};
}

/* Say why a light-client read failed.  Exit status 1 when the node gave
 * nothing to check (no answer, nothing certified yet), 3 when what it gave
 * does not verify. */
static int lc_fail(int rc, const char *what, const char *why)
{
    if (rc == NODE_LC_ERR_NO_ANSWER || rc == NODE_LC_ERR_NO_CERT || rc == NODE_LC_ERR_NOMEM) {
        fprintf(stderr, "gridctl: %s\n", why);
        return EXIT_BAD_INPUT;
    }
    fprintf(stderr, "gridctl: REFUSED: the node's %s does not verify (%s): %s\n", what,
            node_lc_err_name(rc), why);
    return EXIT_UNVERIFIED;
}

static const char *engine_name(enum cons_engine e)
{
    return e == CONS_ENGINE_RAFT ? "raft" : "pbft";
}

/* The last line of every read: what the numbers above are worth. */
static void print_provenance(const struct rpc_opts *o, bool verify, const struct node_lc_header *h)
{
    char bh[2 * CHAIN_HASH_BYTES + 1], root[2 * CHAIN_HASH_BYTES + 1];
    if (!verify) {
        printf("UNVERIFIED: the node's word at height %" PRIu64
               " (not checked against a genesis file)\n",
               h->height);
        return;
    }
    chain_hex(bh, h->hash, CHAIN_HASH_BYTES);
    chain_hex(root, h->state_root, CHAIN_HASH_BYTES);
    printf("verified at height %" PRIu64
           " (block %s, state root %s) against %u genesis validators (%s)\n",
           h->height, bh, root, o->trust.n, engine_name(o->trust.engine));
}

static void json_provenance(json_t *out, bool verify, const struct node_lc_header *h)
{
    char bh[2 * CHAIN_HASH_BYTES + 1], root[2 * CHAIN_HASH_BYTES + 1];
    json_object_set_new(out, "height", json_integer((json_int_t)h->height));
    json_object_set_new(out, "verified", json_boolean(verify));
    if (verify) {
        chain_hex(bh, h->hash, CHAIN_HASH_BYTES);
        chain_hex(root, h->state_root, CHAIN_HASH_BYTES);
        json_object_set_new(out, "block_hash", json_string(bh));
        json_object_set_new(out, "state_root", json_string(root));
    }
}

/* Print out (stolen) indented, in insertion order. */
static int print_json(json_t *out)
{
    char *text = out ? json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(out);
    if (!text) {
        fprintf(stderr, "gridctl: out of memory\n");
        return EXIT_BAD_INPUT;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

/* A uint64 from state as a JSON integer (state values are at most INT64_MAX;
 * a larger one would print negative, so it is clamped visibly). */
static json_t *ju(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? -1 : (json_int_t)v);
}

/* ---- options of the commands that talk to a node ---- */

/* One option: a value (--name V or --name=V), a flag, or a value that may
 * repeat up to max times (list, *nlist). */
struct opt {
    const char *name;
    const char **value;
    bool *flag;
    const char **list;
    size_t *nlist;
    size_t max;
};

/* Parse argv[1..argc) against opts (ended by a NULL name).  0 parsed, -1
 * --help printed (the command exits 0), else EXIT_USAGE after saying why. */
static int parse_opts(const char *cmd, int argc, char **argv, const struct opt *opts,
                      void (*usage)(FILE *))
{
    uint64_t seen = 0;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) {
            usage(stdout);
            return -1;
        }
        const struct opt *p;
        for (p = opts; p->name; p++) {
            const char *v = NULL;
            int m;
            if (p->flag) {
                if (strcmp(argv[i], p->name) != 0)
                    continue;
                *p->flag = true;
                break;
            }
            if ((m = opt_value(argc, argv, &i, p->name, &v)) < 0)
                return EXIT_USAGE;
            if (m == 0)
                continue;
            if (p->list) {
                if (*p->nlist >= p->max) {
                    fprintf(stderr, "gridctl: %s: %s may be given at most %zu times\n", cmd,
                            p->name, p->max);
                    return EXIT_USAGE;
                }
                p->list[(*p->nlist)++] = v;
                break;
            }
            uint64_t bit = UINT64_C(1) << ((size_t)(p - opts) % 64);
            if (seen & bit) {
                fprintf(stderr, "gridctl: %s: %s is given twice\n", cmd, p->name);
                return EXIT_USAGE;
            }
            seen |= bit;
            *p->value = v;
            break;
        }
        if (!p->name) {
            fprintf(stderr, "gridctl: %s: unknown argument \"%s\"\n", cmd, argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    return 0;
}

static int need_genesis(const char *cmd, const struct rpc_opts *o, bool no_verify)
{
    if (o->genesis || no_verify)
        return 0;
    fprintf(stderr,
            "gridctl: %s needs --genesis FILE to verify the answer (or --no-verify to believe "
            "the node blindly)\n",
            cmd);
    return EXIT_USAGE;
}

/* The account of --account HEX or --key FILE, exactly one of them.  0 or
 * an exit status. */
static int account_of(const char *cmd, const char *account, const char *key,
                      uint8_t pk[CHAIN_PK_BYTES])
{
    uint8_t sk[CHAIN_SK_BYTES];
    if (!!account == !!key) {
        fprintf(stderr, "gridctl: %s needs exactly one of --account HEX and --key FILE\n", cmd);
        return EXIT_USAGE;
    }
    if (account && chain_hex_decode(account, strlen(account), pk, CHAIN_PK_BYTES) != 0) {
        fprintf(stderr, "gridctl: --account must be 64 hex digits\n");
        return EXIT_USAGE;
    }
    if (key && key_read(key, pk, sk) != 0)
        return EXIT_BAD_INPUT;
    sodium_memzero(sk, sizeof sk);
    return 0;
}

static int parse_hash(const char *opt, const char *s, uint8_t out[CHAIN_HASH_BYTES])
{
    if (s && chain_hex_decode(s, strlen(s), out, CHAIN_HASH_BYTES) == 0)
        return 0;
    fprintf(stderr, "gridctl: %s must be 64 hex digits\n", opt);
    return EXIT_USAGE;
}

/* A whole number of at most max for option opt.  0 or EXIT_USAGE. */
static int parse_num(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    if (s && parse_u64(s, out) == 0 && *out <= max)
        return 0;
    fprintf(stderr, "gridctl: %s must be a whole number from 0 to %" PRIu64 "\n", opt, max);
    return EXIT_USAGE;
}

static int parse_commodity(const char *s, uint32_t *out)
{
    if (!s || strcmp(s, "electricity") == 0)
        *out = MKT_ELECTRICITY;
    else if (strcmp(s, "heat") == 0)
        *out = MKT_HEAT;
    else {
        fprintf(stderr, "gridctl: --commodity must be electricity or heat\n");
        return EXIT_USAGE;
    }
    return 0;
}

static int parse_market(const char *s, uint32_t *out)
{
    if (!s || strcmp(s, "day-ahead") == 0 || strcmp(s, "day_ahead") == 0)
        *out = MKT_DAY_AHEAD;
    else if (strcmp(s, "intraday") == 0)
        *out = MKT_INTRADAY;
    else {
        fprintf(stderr, "gridctl: --market must be day-ahead or intraday\n");
        return EXIT_USAGE;
    }
    return 0;
}

static const char *commodity_name(uint32_t c)
{
    return c == MKT_ELECTRICITY ? "electricity" : c == MKT_HEAT ? "heat" : "?";
}

static const char *market_name(uint32_t m)
{
    return m == MKT_DAY_AHEAD ? "day-ahead" : m == MKT_INTRADAY ? "intraday" : "?";
}

static const char *side_name(uint32_t s)
{
    return s == MKT_TX_BUY ? "buy" : s == MKT_TX_SELL ? "sell" : "?";
}

static const char *status_name(uint32_t s)
{
    switch (s) {
    case MKT_ORDER_OPEN: return "open";
    case MKT_ORDER_CLOSED: return "closed (its book cleared)";
    case MKT_ORDER_CANCELLED: return "cancelled";
    case MKT_ORDER_EXPIRED: return "expired";
    default: return "?";
    }
}

/* ---- numbers for people ---- */

/* "-1.234567 tokens (-1234567 micro-units)" */
static const char *fmt_money_mag(char *b, size_t n, bool neg, uint64_t mag)
{
    const uint64_t per = (uint64_t)CHAIN_MICRO_PER_TOKEN;
    const char *sign = neg && mag ? "-" : "";
    snprintf(b, n, "%s%" PRIu64 ".%06" PRIu64 " tokens (%s%" PRIu64 " micro-units)", sign,
             mag / per, mag % per, sign, mag);
    return b;
}

static const char *fmt_money(char *b, size_t n, uint64_t v)
{
    return fmt_money_mag(b, n, false, v);
}

static uint64_t magnitude(int64_t v)
{
    return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

static const char *fmt_money_signed(char *b, size_t n, int64_t v)
{
    return fmt_money_mag(b, n, v < 0, magnitude(v));
}

/* "-1.234 kWh (-1234 Wh)" */
static const char *fmt_energy_mag(char *b, size_t n, bool neg, uint64_t wh)
{
    const char *sign = neg && wh ? "-" : "";
    snprintf(b, n, "%s%" PRIu64 ".%03" PRIu64 " kWh (%s%" PRIu64 " Wh)", sign, wh / 1000, wh % 1000,
             sign, wh);
    return b;
}

static const char *fmt_energy(char *b, size_t n, uint64_t wh)
{
    return fmt_energy_mag(b, n, false, wh);
}

/* "0.250000 tokens/kWh (250000 micro/kWh)" */
static const char *fmt_price(char *b, size_t n, uint64_t micro_per_kwh)
{
    const uint64_t per = (uint64_t)CHAIN_MICRO_PER_TOKEN;
    snprintf(b, n, "%" PRIu64 ".%06" PRIu64 " tokens/kWh (%" PRIu64 " micro/kWh)",
             micro_per_kwh / per, micro_per_kwh % per, micro_per_kwh);
    return b;
}

/* "2026-11-23 10:15:00 UTC" */
static const char *fmt_utc(char *b, size_t n, uint64_t ms)
{
    struct tm tm;
    time_t t = (time_t)(ms / 1000);
    if (ms / 1000 > UINT64_C(253402300799) /* 9999-12-31 23:59:59 */ || !gmtime_r(&t, &tm) ||
        strftime(b, n, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(b, n, "(time %" PRIu64 " ms)", ms);
    return b;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant,
 * "chrono-compatible low-level date algorithms", days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned mp = m > 2 ? m - 3 : m + 9;
    const unsigned doy = (153 * mp + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* A UTC day: "YYYY-MM-DD", or its start in ms (a multiple of 86400000).
 * 0, or -1 when it is neither. */
static int parse_day(const char *s, uint64_t *day_ms)
{
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
        for (int i = 0; i < 10; i++)
            if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
                return -1;
        unsigned y =
            (unsigned)((s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0'));
        unsigned m = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
        unsigned d = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
            return -1;
        *day_ms = (uint64_t)days_from_civil(y, m, d) * MKT_DAY_MS;
        return 0;
    }
    uint64_t v;
    if (parse_u64(s, &v) != 0 || v % MKT_DAY_MS != 0 ||
        v > UINT64_C(253402214400000) /* 9999-12-31 */)
        return -1;
    *day_ms = v;
    return 0;
}

/* ---- signing and submitting ---- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The chain id and the signer's next nonce: verified against the genesis
 * when o has one (the chain id then comes from it), else the node's word,
 * said so on stderr.  0 or an exit status. */
static int chain_and_nonce(struct rpc_opts *o, const uint8_t pk[CHAIN_PK_BYTES],
                           char chain_id[CHAIN_CHAIN_ID_MAX_BYTES + 1], uint64_t *nonce)
{
    char why[512];
    struct node_lc_client c = lc_client(o, o->have_trust);
    struct node_lc_header h;
    struct chain_account a;
    int rc;
    if (o->have_trust) {
        snprintf(chain_id, CHAIN_CHAIN_ID_MAX_BYTES + 1, "%s", o->trust.chain_id);
    } else {
        json_t *st = rpc_call(o, "status", NULL, NULL);
        if (!st)
            return EXIT_BAD_INPUT;
        const char *cid = json_string_value(json_object_get(st, "chain_id"));
        if (!cid || strlen(cid) == 0 || strlen(cid) > CHAIN_CHAIN_ID_MAX_BYTES) {
            fprintf(stderr, "gridctl: the node's status has no usable chain_id\n");
            json_decref(st);
            return EXIT_BAD_INPUT;
        }
        snprintf(chain_id, CHAIN_CHAIN_ID_MAX_BYTES + 1, "%s", cid);
        json_decref(st);
    }
    if ((rc = node_lc_head(&c, &h, why, sizeof why)) ||
        (rc = node_lc_account_at(&c, &h, pk, &a, why, sizeof why)))
        return lc_fail(rc, "account answer", why);
    if (!o->have_trust)
        fprintf(stderr,
                "gridctl: note: nonce %" PRIu64
                " taken from the node unverified (pass --genesis to verify)\n",
                a.nonce);
    if (!a.exists) {
        fprintf(stderr, "gridctl: the signing account does not exist on the chain (it has never "
                        "been funded)\n");
        return EXIT_BAD_INPUT;
    }
    *nonce = a.nonce;
    return 0;
}

/* Poll get_tx for hash_hex until it is committed (at most timeout_s) and
 * print its height and result.  With a genesis, then also wait until the
 * node certifies a header at or above that height, so that what is read
 * next (the nonce of the signer's next transaction, the order just placed)
 * is provably there.  0 committed with OK; 1 failed in its block or timed
 * out; 3 a header does not verify. */
static int wait_commit(struct rpc_opts *o, const char *hash_hex, const char *what,
                       uint64_t timeout_s, uint64_t *height)
{
    const uint64_t budget_ms = timeout_s * 1000;
    uint64_t waited_ms = 0;
    json_t *r;
    char err[512];
    for (;;) {
        int c = 0;
        r = node_rpc_call(&o->url, "get_tx", json_pack("{s:s}", "hash", hash_hex), &c, NULL, err,
                          sizeof err);
        if (r)
            break;
        if (c != RPC_ERR_NOT_FOUND) { /* anything but "not committed yet" */
            fprintf(stderr, "gridctl: get_tx: %s\n", err);
            return EXIT_BAD_INPUT;
        }
        if (waited_ms >= budget_ms) {
            fprintf(stderr,
                    "gridctl: the %s was not committed within %" PRIu64 " s (it may still be)\n",
                    what, timeout_s);
            return EXIT_BAD_INPUT;
        }
        sleep_ms(200);
        waited_ms += 200;
    }
    json_t *res = json_object_get(r, "result"), *hj = json_object_get(r, "height");
    const char *name = json_string_value(json_object_get(r, "result_name"));
    const char *msg = json_string_value(json_object_get(r, "result_message"));
    *height =
        json_is_integer(hj) && json_integer_value(hj) > 0 ? (uint64_t)json_integer_value(hj) : 0;
    printf("committed at height %" PRIu64 ", index %" JSON_INTEGER_FORMAT ": %s\n", *height,
           json_integer_value(json_object_get(r, "index")), name ? name : "?");
    fflush(stdout);
    bool ok = json_is_integer(res) && json_integer_value(res) == 0;
    if (!ok)
        fprintf(stderr, "gridctl: the %s was included but failed (%s): %s\n", what,
                name ? name : "?", msg ? msg : "no message");
    json_decref(r);
    if (!ok)
        return EXIT_BAD_INPUT;
    if (!o->have_trust)
        return 0;
    /* A follower learns the certificate with the next round: a few seconds
     * more even when the commit took the whole budget. */
    const uint64_t cert_budget_ms = budget_ms + 5000;
    struct node_lc_client c = lc_client(o, true);
    for (;;) {
        struct node_lc_header h;
        char why[512];
        int rc = node_lc_head(&c, &h, why, sizeof why);
        if (rc == NODE_LC_ERR_OK && h.height >= *height)
            return 0;
        if (rc != NODE_LC_ERR_OK && rc != NODE_LC_ERR_NO_CERT)
            return lc_fail(rc, "header", why);
        if (waited_ms >= cert_budget_ms) {
            fprintf(stderr,
                    "gridctl: height %" PRIu64 " is committed but the node has not certified it "
                    "within %" PRIu64 " s\n",
                    *height, cert_budget_ms / 1000);
            return EXIT_BAD_INPUT;
        }
        sleep_ms(100);
        waited_ms += 100;
    }
}

/* Sign a transaction of type with payload (freed here) by pk/sk with
 * chain_id and nonce, submit it and print its hash (the order id of a
 * PlaceOrder) on stdout; hash is set on success.  0 or an exit status. */
static int submit_signed(struct rpc_opts *o, const char *chain_id, uint64_t nonce,
                         const uint8_t pk[CHAIN_PK_BYTES], const uint8_t sk[CHAIN_SK_BYTES],
                         uint32_t type, uint8_t *payload, size_t plen,
                         uint8_t hash[CHAIN_HASH_BYTES])
{
    char hash_hex[2 * CHAIN_HASH_BYTES + 1];
    uint8_t *tx = NULL;
    size_t tlen;
    int rc = chain_tx_build(chain_id, nonce, type, payload, plen, pk, sk, &tx, &tlen);
    free(payload);
    if (rc != CHAIN_ERR_OK) {
        fprintf(stderr, "gridctl: cannot build the transaction (%s)\n", chain_err_name(rc));
        return EXIT_BAD_INPUT;
    }
    char *hex = malloc(2 * tlen + 1);
    if (!hex) {
        free(tx);
        fprintf(stderr, "gridctl: out of memory\n");
        return EXIT_BAD_INPUT;
    }
    chain_hex(hex, tx, tlen);
    chain_hash(hash, CHAIN_TAG_TX, tx, tlen);
    free(tx);
    json_t *r = rpc_call(o, "submit_tx", json_pack("{s:s}", "tx", hex), NULL);
    free(hex);
    if (!r)
        return EXIT_BAD_INPUT;
    chain_hex(hash_hex, hash, CHAIN_HASH_BYTES);
    const char *got = json_string_value(json_object_get(r, "hash"));
    if (!got || strcmp(got, hash_hex) != 0)
        fprintf(stderr, "gridctl: warning: the node reports hash %s, this client computed %s\n",
                got ? got : "(none)", hash_hex);
    json_decref(r);
    printf("%s\n", hash_hex);
    fflush(stdout);
    return 0;
}

/* submit_signed with the chain id and nonce of chain_and_nonce; with wait,
 * then wait_commit.  hash and *height (0 without wait) are set on success.
 * 0 or an exit status. */
static int sign_submit(struct rpc_opts *o, const uint8_t pk[CHAIN_PK_BYTES],
                       const uint8_t sk[CHAIN_SK_BYTES], uint32_t type, uint8_t *payload,
                       size_t plen, const char *what, bool wait, uint64_t timeout_s,
                       uint8_t hash[CHAIN_HASH_BYTES], uint64_t *height)
{
    char chain_id[CHAIN_CHAIN_ID_MAX_BYTES + 1], hash_hex[2 * CHAIN_HASH_BYTES + 1];
    uint64_t nonce = 0;
    *height = 0;
    int rc = chain_and_nonce(o, pk, chain_id, &nonce);
    if (rc) {
        free(payload);
        return rc;
    }
    if ((rc = submit_signed(o, chain_id, nonce, pk, sk, type, payload, plen, hash)) || !wait)
        return rc;
    chain_hex(hash_hex, hash, CHAIN_HASH_BYTES);
    return wait_commit(o, hash_hex, what, timeout_s, height);
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
            "                  height and result (with --genesis: and certified)\n"
            "--timeout SECONDS how long --wait waits (default 30)\n"
            "\n"
            "exit status: 0 submitted (with --wait: committed and OK), 1 refused by the\n"
            "node, failed in its block, or timed out, 2 usage error, 3 verification failed.\n",
            NODE_HTTP_DEFAULT_URL);
}

#define OPT_V(n, p)                                                                                \
    {                                                                                              \
        .name = (n), .value = (p)                                                                  \
    }
#define OPT_F(n, p)                                                                                \
    {                                                                                              \
        .name = (n), .flag = (p)                                                                   \
    }
#define OPT_L(n, l, nl, mx)                                                                        \
    {                                                                                              \
        .name = (n), .list = (l), .nlist = (nl), .max = (mx)                                       \
    }
#define OPT_RPC(o) OPT_V("--rpc", &(o).rpc), OPT_V("--genesis", &(o).genesis)
#define OPT_END                                                                                    \
    {                                                                                              \
        .name = NULL                                                                               \
    }

/* --timeout SECONDS (default 30, at most a day).  0 or EXIT_USAGE. */
static int parse_timeout(const char *s, uint64_t *out)
{
    *out = 30;
    return s ? parse_num("--timeout", s, 86400, out) : 0;
}

static int cmd_transfer(int argc, char **argv)
{
    struct rpc_opts o;
    const char *key = NULL, *to = NULL, *amount_s = NULL, *timeout_s = NULL;
    bool wait = false;
    memset(&o, 0, sizeof o);
    const struct opt opts[] = {OPT_RPC(o),
                               OPT_V("--key", &key),
                               OPT_V("--to", &to),
                               OPT_V("--amount", &amount_s),
                               OPT_V("--timeout", &timeout_s),
                               OPT_F("--wait", &wait),
                               OPT_END};
    int rc = parse_opts("transfer", argc, argv, opts, usage_transfer);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!key || !to || !amount_s) {
        fprintf(stderr, "gridctl: transfer needs --key, --to and --amount\n");
        usage_transfer(stderr);
        return EXIT_USAGE;
    }
    uint8_t to_pk[CHAIN_PK_BYTES], pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES], hash[CHAIN_HASH_BYTES];
    uint64_t amount, timeout, height;
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
    if ((rc = parse_timeout(timeout_s, &timeout)) || (rc = rpc_opts_finish(&o)))
        return rc;
    if (key_read(key, pk, sk) != 0)
        return EXIT_BAD_INPUT;
    if (memcmp(pk, to_pk, CHAIN_PK_BYTES) == 0) {
        fprintf(stderr, "gridctl: --to is the key's own account; a transfer to oneself is refused "
                        "by the chain\n");
        return EXIT_BAD_INPUT;
    }
    uint8_t *payload;
    size_t plen;
    if (chain_payload_transfer(to_pk, amount, &payload, &plen) != CHAIN_ERR_OK) {
        fprintf(stderr, "gridctl: cannot build the transaction\n");
        return EXIT_BAD_INPUT;
    }
    rc = sign_submit(&o, pk, sk, GL__TX_TYPE__TX_TRANSFER, payload, plen, "transfer", wait, timeout,
                     hash, &height);
    sodium_memzero(sk, sizeof sk);
    return rc;
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
            "genesis validators; the account (state key \"a/\" || account, computed here)\n"
            "must be proven against that header's state root, and is decoded here.  Any\n"
            "mismatch is refused with its reason and exit status 3.\n"
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
    const struct opt opts[] = {OPT_RPC(o),
                               OPT_V("--account", &account),
                               OPT_V("--key", &key),
                               OPT_F("--no-verify", &no_verify),
                               OPT_F("--json", &as_json),
                               OPT_END};
    int rc = parse_opts("balance", argc, argv, opts, usage_balance);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!!account == !!key) {
        fprintf(stderr, "gridctl: balance needs exactly one of --account HEX and --key FILE\n");
        usage_balance(stderr);
        return EXIT_USAGE;
    }
    uint8_t pk[CHAIN_PK_BYTES];
    if ((rc = need_genesis("balance", &o, no_verify)) || (rc = rpc_opts_finish(&o)) ||
        (rc = account_of("balance", account, key, pk)))
        return rc;
    bool verify = !no_verify;
    struct node_lc_client c = lc_client(&o, verify);
    struct node_lc_header h;
    struct chain_account a;
    char why[512];
    if ((rc = node_lc_head(&c, &h, why, sizeof why)) ||
        (rc = node_lc_account_at(&c, &h, pk, &a, why, sizeof why)))
        return lc_fail(rc, "account answer", why);
    char acct[2 * CHAIN_PK_BYTES + 1], m[96];
    chain_hex(acct, pk, CHAIN_PK_BYTES);
    if (as_json) {
        json_t *out = json_pack("{s:s, s:b, s:I, s:I, s:I}", "account", acct, "exists", a.exists,
                                "balance", (json_int_t)a.balance, "locked", (json_int_t)a.locked,
                                "nonce", (json_int_t)a.nonce);
        if (out)
            json_provenance(out, verify, &h);
        return print_json(out);
    }
    printf("account  %s%s\n", acct, a.exists ? "" : " (does not exist)");
    printf("balance  %s\n", fmt_money_signed(m, sizeof m, a.balance));
    printf("locked   %s\n", fmt_money_signed(m, sizeof m, a.locked));
    printf("nonce    %" PRIu64 "\n", a.nonce);
    print_provenance(&o, verify, &h);
    return 0;
}

/* ---- gridctl participant: register (operator) and show ---- */

static const struct {
    const char *name;
    uint32_t kind;
} KINDS[] = {
    {"consumer", GL__PARTICIPANT_KIND__KIND_CONSUMER},
    {"prosumer", GL__PARTICIPANT_KIND__KIND_PROSUMER},
    {"generator", GL__PARTICIPANT_KIND__KIND_GENERATOR},
    {"storage", GL__PARTICIPANT_KIND__KIND_STORAGE},
    {"flexible-load", GL__PARTICIPANT_KIND__KIND_FLEXIBLE_LOAD},
    {"community-manager", GL__PARTICIPANT_KIND__KIND_COMMUNITY_MANAGER},
};

static void usage_participant_register(FILE *f)
{
    fprintf(f,
            "usage: gridctl participant register --key OPERATOR_KEY --account HEX --kind KIND\n"
            "           [--meter HEX]... [--bus N] [--renewable] [--name NAME]\n"
            "           [--deposit MICRO] [--rpc URL] [--genesis FILE] [--wait]\n"
            "           [--timeout SECONDS]\n"
            "\n"
            "Admit ACCOUNT to the market (MKT_TX_REGISTER, signed here by the operator's\n"
            "key): kind, bus or zone, renewable flag, up to %u meter keys whose readings\n"
            "count for it, and a security deposit moved from its balance to its locked\n"
            "funds (so the account must exist and hold it).  Prints the transaction hash;\n"
            "the nonce is read as `gridctl transfer` reads it.  With --wait (and\n"
            "--genesis) also prints the participant record, verified.\n"
            "\n"
            "KIND            consumer, prosumer, generator, storage, flexible-load or\n"
            "                community-manager\n"
            "--meter HEX     a meter's public key (64 hex digits); repeat for each meter\n"
            "--bus N         bus or zone (index into the fee matrix, default 0)\n"
            "--renewable     its generation is renewable (subsidy, renewable premiums)\n"
            "--name NAME     at most %u bytes\n"
            "--deposit MICRO micro-units (default 0)\n"
            "\n"
            "exit status: 0 submitted (with --wait: committed and OK), 1 refused by the\n"
            "node, failed in its block (e.g. NOT_OPERATOR, UNKNOWN_ACCOUNT,\n"
            "ALREADY_REGISTERED, INSUFFICIENT_FUNDS) or timed out, 2 usage error,\n"
            "3 verification failed.\n",
            CHAIN_METER_KEYS_MAX, MKT_NAME_MAX_BYTES);
}

static void usage_participant_show(FILE *f)
{
    fprintf(f, "usage: gridctl participant show (--account HEX | --key FILE) --genesis FILE\n"
               "                                [--rpc URL] [--no-verify] [--json]\n"
               "\n"
               "The account's market record (\"mkt/p/\" || account: gl.MktParticipant), verified\n"
               "as `gridctl balance` verifies: registration index, bus, renewable, deposit,\n"
               "meters, suspension, strikes, settlement debt and incentive points.\n"
               "\n"
               "exit status: 0 shown, 1 not a participant (proven absent), no answer or bad\n"
               "input, 2 usage error, 3 verification failed.\n");
}

static void print_participant(const uint8_t pk[CHAIN_PK_BYTES], const Gl__MktParticipant *p)
{
    char acct[2 * CHAIN_PK_BYTES + 1], m[96];
    chain_hex(acct, pk, CHAIN_PK_BYTES);
    printf("participant  %s\n", acct);
    printf("index        %u\n", p->index);
    printf("bus          %u\n", p->bus);
    printf("renewable    %s\n", p->renewable ? "yes" : "no");
    printf("meters       %u\n", p->nmeters);
    printf("deposit      %s\n", fmt_money(m, sizeof m, p->deposit));
    printf("suspended    %s\n", p->suspended ? "yes" : "no");
    printf("strikes      %u\n", p->strikes);
    printf("debt         %s\n", fmt_money(m, sizeof m, p->debt));
    printf("points       %" PRIu64 "\n", p->points);
}

static json_t *participant_json(const uint8_t pk[CHAIN_PK_BYTES], const Gl__MktParticipant *p)
{
    char acct[2 * CHAIN_PK_BYTES + 1];
    chain_hex(acct, pk, CHAIN_PK_BYTES);
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "account", json_string(acct));
    json_object_set_new(o, "exists", json_boolean(p != NULL));
    if (p) {
        json_object_set_new(o, "index", ju(p->index));
        json_object_set_new(o, "bus", ju(p->bus));
        json_object_set_new(o, "renewable", json_boolean(p->renewable));
        json_object_set_new(o, "meters", ju(p->nmeters));
        json_object_set_new(o, "deposit", ju(p->deposit));
        json_object_set_new(o, "suspended", json_boolean(p->suspended));
        json_object_set_new(o, "strikes", ju(p->strikes));
        json_object_set_new(o, "debt", ju(p->debt));
        json_object_set_new(o, "points", ju(p->points));
    }
    return o;
}

/* Read and print pk's participant record at the newest certified header. */
static int show_participant(struct rpc_opts *o, bool verify, const uint8_t pk[CHAIN_PK_BYTES],
                            bool as_json)
{
    uint8_t key[MKT_KEY_PARTICIPANT_BYTES];
    struct node_lc_client c = lc_client(o, verify);
    struct node_lc_header h;
    ProtobufCMessage *m;
    char why[512];
    mkt_key_participant(key, pk);
    int rc = node_lc_read_msg(&c, key, sizeof key, &gl__mkt_participant__descriptor, &h, &m, why,
                              sizeof why);
    if (rc)
        return lc_fail(rc, "participant answer", why);
    const Gl__MktParticipant *p = (const Gl__MktParticipant *)m;
    if (as_json) {
        json_t *out = participant_json(pk, p);
        if (out)
            json_provenance(out, verify, &h);
        protobuf_c_message_free_unpacked(m, NULL);
        rc = print_json(out);
        return rc ? rc : (p ? 0 : EXIT_BAD_INPUT);
    }
    if (p) {
        print_participant(pk, p);
    } else {
        char acct[2 * CHAIN_PK_BYTES + 1];
        chain_hex(acct, pk, CHAIN_PK_BYTES);
        printf("account %s is not a registered market participant (proven absent)\n", acct);
    }
    print_provenance(o, verify, &h);
    protobuf_c_message_free_unpacked(m, NULL);
    return p ? 0 : EXIT_BAD_INPUT;
}

static int cmd_participant_register(int argc, char **argv)
{
    struct rpc_opts o;
    const char *key = NULL, *account = NULL, *kind_s = NULL, *bus_s = NULL, *name = NULL;
    const char *deposit_s = NULL, *timeout_s = NULL, *meters_s[CHAIN_METER_KEYS_MAX];
    size_t nmeters = 0;
    bool renewable = false, wait = false;
    memset(&o, 0, sizeof o);
    const struct opt opts[] = {OPT_RPC(o),
                               OPT_V("--key", &key),
                               OPT_V("--account", &account),
                               OPT_V("--kind", &kind_s),
                               OPT_L("--meter", meters_s, &nmeters, CHAIN_METER_KEYS_MAX),
                               OPT_V("--bus", &bus_s),
                               OPT_F("--renewable", &renewable),
                               OPT_V("--name", &name),
                               OPT_V("--deposit", &deposit_s),
                               OPT_V("--timeout", &timeout_s),
                               OPT_F("--wait", &wait),
                               OPT_END};
    int rc = parse_opts("participant register", argc, argv, opts, usage_participant_register);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!key || !account || !kind_s) {
        fprintf(stderr, "gridctl: participant register needs --key, --account and --kind\n");
        usage_participant_register(stderr);
        return EXIT_USAGE;
    }
    uint8_t acct[CHAIN_PK_BYTES], meters[CHAIN_METER_KEYS_MAX][CHAIN_PK_BYTES];
    uint64_t bus = 0, deposit = 0, timeout;
    uint32_t kind = 0;
    for (size_t i = 0; i < sizeof KINDS / sizeof KINDS[0]; i++)
        if (strcmp(kind_s, KINDS[i].name) == 0)
            kind = KINDS[i].kind;
    if (!kind) {
        fprintf(stderr, "gridctl: --kind must be consumer, prosumer, generator, storage, "
                        "flexible-load or community-manager\n");
        return EXIT_USAGE;
    }
    if (chain_hex_decode(account, strlen(account), acct, CHAIN_PK_BYTES) != 0) {
        fprintf(stderr, "gridctl: --account must be 64 hex digits\n");
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < nmeters; i++)
        if (chain_hex_decode(meters_s[i], strlen(meters_s[i]), meters[i], CHAIN_PK_BYTES) != 0) {
            fprintf(stderr, "gridctl: --meter must be a meter's public key: 64 hex digits\n");
            return EXIT_USAGE;
        }
    if (name && strlen(name) > MKT_NAME_MAX_BYTES) {
        fprintf(stderr, "gridctl: --name may have at most %u bytes\n", MKT_NAME_MAX_BYTES);
        return EXIT_USAGE;
    }
    if ((bus_s && (rc = parse_num("--bus", bus_s, MKT_PARAMS_MAX_BUS - 1, &bus))) ||
        (deposit_s && (rc = parse_num("--deposit", deposit_s, (uint64_t)INT64_MAX, &deposit))) ||
        (rc = parse_timeout(timeout_s, &timeout)) || (rc = rpc_opts_finish(&o)))
        return rc;
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES], hash[CHAIN_HASH_BYTES], *payload;
    uint64_t height;
    size_t plen;
    if (key_read(key, pk, sk) != 0)
        return EXIT_BAD_INPUT;
    if (mkt_payload_register(acct, kind, (uint32_t)bus, renewable,
                             (const uint8_t(*)[CHAIN_PK_BYTES])meters, nmeters, name, deposit,
                             &payload, &plen) != CHAIN_ERR_OK) {
        sodium_memzero(sk, sizeof sk);
        fprintf(stderr, "gridctl: cannot build the registration\n");
        return EXIT_BAD_INPUT;
    }
    rc = sign_submit(&o, pk, sk, GL__MKT_TX_TYPE__MKT_TX_REGISTER, payload, plen, "registration",
                     wait, timeout, hash, &height);
    sodium_memzero(sk, sizeof sk);
    if (rc || !wait || !o.have_trust)
        return rc;
    return show_participant(&o, true, acct, false);
}

static int cmd_participant_show(int argc, char **argv)
{
    struct rpc_opts o;
    const char *account = NULL, *key = NULL;
    bool no_verify = false, as_json = false;
    memset(&o, 0, sizeof o);
    const struct opt opts[] = {OPT_RPC(o),
                               OPT_V("--account", &account),
                               OPT_V("--key", &key),
                               OPT_F("--no-verify", &no_verify),
                               OPT_F("--json", &as_json),
                               OPT_END};
    int rc = parse_opts("participant show", argc, argv, opts, usage_participant_show);
    if (rc)
        return rc < 0 ? 0 : rc;
    uint8_t pk[CHAIN_PK_BYTES];
    if ((rc = need_genesis("participant show", &o, no_verify)) || (rc = rpc_opts_finish(&o)) ||
        (rc = account_of("participant show", account, key, pk)))
        return rc;
    return show_participant(&o, !no_verify, pk, as_json);
}

static const struct command PARTICIPANT_COMMANDS[] = {
    {"register", "operator: admit an account to the market (signed here)",
     cmd_participant_register},
    {"show", "a participant's market record, verified", cmd_participant_show},
    {NULL, NULL, NULL},
};

static void usage_participant(FILE *f)
{
    fprintf(f, "usage: gridctl participant <command> [--help]\n");
    list_commands(f, PARTICIPANT_COMMANDS);
}

static int cmd_participant(int argc, char **argv)
{
    return dispatch("gridctl participant", PARTICIPANT_COMMANDS, usage_participant, argc - 1,
                    argv + 1);
}

/* ---- gridctl order: place, cancel, show ---- */

static void usage_order_place(FILE *f)
{
    fprintf(f,
            "usage: gridctl order place --key FILE --side buy|sell --slot-start-ms T\n"
            "           --qty-wh N --price MICRO_PER_KWH [--commodity electricity|heat]\n"
            "           [--market day-ahead|intraday] [--valid-from-ms T] [--valid-until-ms T]\n"
            "           [--allow HEX]... [--exclude HEX]... [--premium-renewable MICRO_PER_KWH]\n"
            "           [--premium-local MICRO_PER_KWH] [--rpc URL] [--genesis FILE]\n"
            "           [--wait] [--timeout SECONDS] [--json]\n"
            "\n"
            "Sign an order (MKT_TX_PLACE_ORDER) here with the key's account and submit it.\n"
            "Prints the order id, which is the transaction's hash.  A buy locks qty x\n"
            "price, a sell the seller margin, until the book clears or the order is\n"
            "cancelled.  The nonce is read as `gridctl transfer` reads it (verified with\n"
            "--genesis).  With --wait: waits for the commit, prints its result, then the\n"
            "order as `gridctl order show` does (verified with --genesis, else marked\n"
            "UNVERIFIED).\n"
            "\n"
            "--slot-start-ms T   the delivery slot's start (ms since 1970, UTC; a multiple\n"
            "                    of the market's slot length, at most 7 days ahead)\n"
            "--qty-wh N          energy in Wh (1 to 1000000000)\n"
            "--price P           limit price in micro-units per kWh (1 token = 1000000)\n"
            "--commodity C       electricity (default) or heat\n"
            "--market M          day-ahead (default; gate D-1 12:00 UTC) or intraday\n"
            "                    (gate one hour before the slot)\n"
            "--valid-from-ms T, --valid-until-ms T   validity (0: from now, until its\n"
            "                    book clears)\n"
            "--allow HEX, --exclude HEX   counterparties (P2P books only; up to %u each)\n"
            "--premium-renewable P, --premium-local P   a buyer's adders for renewable or\n"
            "                    same-bus sellers (P2P books only)\n"
            "\n"
            "exit status: 0 submitted (with --wait: committed and OK), 1 refused by the\n"
            "node, failed in its block (e.g. GATE_CLOSED, UNKNOWN_PARTICIPANT,\n"
            "INSUFFICIENT_FUNDS) or timed out, 2 usage error, 3 verification failed.\n",
            MKT_ORDER_MAX_PREFS);
}

static void usage_order_cancel(FILE *f)
{
    fprintf(f, "usage: gridctl order cancel --key FILE --order ID [--rpc URL] [--genesis FILE]\n"
               "                            [--wait] [--timeout SECONDS] [--json]\n"
               "\n"
               "Sign a cancellation (MKT_TX_CANCEL_ORDER) of order ID (its 64-hex id, as\n"
               "`order place` printed it) with the key of its owner and submit it; its lock is\n"
               "released when it commits.  Prints the transaction hash; with --wait, the\n"
               "result and then the order, as `gridctl order show` does.\n"
               "\n"
               "exit status: 0 submitted (with --wait: committed and OK), 1 refused by the\n"
               "node, failed in its block (UNKNOWN_ORDER, WRONG_SIGNER, ORDER_NOT_OPEN) or\n"
               "timed out, 2 usage error, 3 verification failed.\n");
}

static void usage_order_show(FILE *f)
{
    fprintf(f, "usage: gridctl order show --order ID --genesis FILE [--rpc URL] [--no-verify]\n"
               "                          [--json]\n"
               "\n"
               "Print an order, verified as a light client: the state key \"mkt/o/\" || ID is\n"
               "computed here, get_state is asked for exactly that key at the newest\n"
               "certified height, the answer's proof must verify against that header's state\n"
               "root, and the gl.MktOrder is decoded here: owner, book, side, quantity,\n"
               "limit, status, open and filled energy, locked funds, margin held, paid and\n"
               "received.  Any mismatch is refused with its reason and exit status 3.\n"
               "\n"
               "exit status: 0 shown, 1 no such order (proven absent), no answer or bad\n"
               "input, 2 usage error, 3 verification failed.\n");
}

static void print_order(const uint8_t id[CHAIN_HASH_BYTES], const Gl__MktOrder *o)
{
    char hex[2 * CHAIN_HASH_BYTES + 1], t[64], a[96], b[96];
    chain_hex(hex, id, CHAIN_HASH_BYTES);
    printf("order       %s\n", hex);
    if (o->owner.len == CHAIN_PK_BYTES) {
        chain_hex(hex, o->owner.data, CHAIN_PK_BYTES);
        printf("owner       %s\n", hex);
    }
    printf("book        %s %s, slot %s (%" PRIu64 ")\n", commodity_name(o->commodity),
           market_name(o->market), fmt_utc(t, sizeof t, o->slot_start_ms), o->slot_start_ms);
    printf("side        %s\n", side_name(o->side));
    printf("quantity    %s at limit %s\n", fmt_energy(a, sizeof a, o->qty_wh),
           fmt_price(b, sizeof b, o->price));
    printf("status      %s\n", status_name(o->status));
    if (o->status == MKT_ORDER_OPEN)
        printf("open        %s\n", fmt_energy(a, sizeof a, o->open_wh));
    else
        printf("unfilled    %s when it closed\n", fmt_energy(a, sizeof a, o->open_wh));
    printf("filled      %s\n", fmt_energy(a, sizeof a, o->filled_wh));
    printf("locked      %s\n", fmt_money(a, sizeof a, o->locked));
    if (o->side == MKT_TX_BUY)
        printf("paid        %s\n", fmt_money(a, sizeof a, o->paid));
    else {
        printf("received    %s\n", fmt_money(a, sizeof a, o->received));
        printf("margin held %s\n", fmt_money(a, sizeof a, o->margin_held));
    }
    printf("valid       from %s until %s\n",
           o->valid_from_ms ? fmt_utc(a, sizeof a, o->valid_from_ms) : "placement",
           o->valid_until_ms ? fmt_utc(b, sizeof b, o->valid_until_ms) : "its book clears");
    if (o->n_allowed || o->n_excluded || o->premium_renewable || o->premium_local)
        printf("preferences %zu allowed, %zu excluded counterparties; premiums renewable %" PRIu64
               ", local %" PRIu64 " micro/kWh\n",
               o->n_allowed, o->n_excluded, o->premium_renewable, o->premium_local);
    printf("arrival     height %" PRIu64 ", index %" PRIu64 "\n", o->arrival >> 32,
           o->arrival & 0xffffffffu);
}

static json_t *order_json(const uint8_t id[CHAIN_HASH_BYTES], const Gl__MktOrder *o)
{
    char hex[2 * CHAIN_HASH_BYTES + 1];
    json_t *j = json_object();
    if (!j)
        return NULL;
    chain_hex(hex, id, CHAIN_HASH_BYTES);
    json_object_set_new(j, "order_id", json_string(hex));
    json_object_set_new(j, "exists", json_boolean(o != NULL));
    if (!o)
        return j;
    if (o->owner.len == CHAIN_PK_BYTES) {
        chain_hex(hex, o->owner.data, CHAIN_PK_BYTES);
        json_object_set_new(j, "owner", json_string(hex));
    }
    json_object_set_new(j, "commodity", json_string(commodity_name(o->commodity)));
    json_object_set_new(j, "market", json_string(market_name(o->market)));
    json_object_set_new(j, "slot_start_ms", ju(o->slot_start_ms));
    json_object_set_new(j, "side", json_string(side_name(o->side)));
    json_object_set_new(j, "qty_wh", ju(o->qty_wh));
    json_object_set_new(j, "price_micro_per_kwh", ju(o->price));
    json_object_set_new(j, "status",
                        json_string(o->status == MKT_ORDER_OPEN        ? "open"
                                    : o->status == MKT_ORDER_CLOSED    ? "closed"
                                    : o->status == MKT_ORDER_CANCELLED ? "cancelled"
                                    : o->status == MKT_ORDER_EXPIRED   ? "expired"
                                                                       : "?"));
    json_object_set_new(j, "open_wh", ju(o->open_wh));
    json_object_set_new(j, "filled_wh", ju(o->filled_wh));
    json_object_set_new(j, "locked", ju(o->locked));
    json_object_set_new(j, "margin_held", ju(o->margin_held));
    json_object_set_new(j, "paid", ju(o->paid));
    json_object_set_new(j, "received", ju(o->received));
    json_object_set_new(j, "valid_from_ms", ju(o->valid_from_ms));
    json_object_set_new(j, "valid_until_ms", ju(o->valid_until_ms));
    json_object_set_new(j, "arrival", ju(o->arrival));
    return j;
}

/* Read order id at the newest certified header and print it.  0, 1 when
 * proven absent, or an exit status. */
static int show_order(struct rpc_opts *o, bool verify, const uint8_t id[CHAIN_HASH_BYTES],
                      bool as_json)
{
    uint8_t key[MKT_KEY_ORDER_BYTES];
    struct node_lc_client c = lc_client(o, verify);
    struct node_lc_header h;
    ProtobufCMessage *m;
    char why[512];
    mkt_key_order(key, id);
    int rc =
        node_lc_read_msg(&c, key, sizeof key, &gl__mkt_order__descriptor, &h, &m, why, sizeof why);
    if (rc)
        return lc_fail(rc, "order answer", why);
    const Gl__MktOrder *ord = (const Gl__MktOrder *)m;
    if (as_json) {
        json_t *out = order_json(id, ord);
        if (out)
            json_provenance(out, verify, &h);
        protobuf_c_message_free_unpacked(m, NULL);
        rc = print_json(out);
        return rc ? rc : (ord ? 0 : EXIT_BAD_INPUT);
    }
    if (ord) {
        print_order(id, ord);
    } else {
        char hex[2 * CHAIN_HASH_BYTES + 1];
        chain_hex(hex, id, CHAIN_HASH_BYTES);
        printf("no order %s (proven absent)\n", hex);
    }
    print_provenance(o, verify, &h);
    protobuf_c_message_free_unpacked(m, NULL);
    return ord ? 0 : EXIT_BAD_INPUT;
}

static int cmd_order_place(int argc, char **argv)
{
    struct rpc_opts o;
    const char *key = NULL, *side_s = NULL, *slot_s = NULL, *qty_s = NULL, *price_s = NULL;
    const char *commodity_s = NULL, *market_s = NULL, *from_s = NULL, *until_s = NULL;
    const char *prem_r_s = NULL, *prem_l_s = NULL, *timeout_s = NULL;
    const char *allow_s[MKT_ORDER_MAX_PREFS], *exclude_s[MKT_ORDER_MAX_PREFS];
    size_t nallow = 0, nexclude = 0;
    bool wait = false, as_json = false;
    memset(&o, 0, sizeof o);
    const struct opt opts[] = {OPT_RPC(o),
                               OPT_V("--key", &key),
                               OPT_V("--side", &side_s),
                               OPT_V("--slot-start-ms", &slot_s),
                               OPT_V("--qty-wh", &qty_s),
                               OPT_V("--price", &price_s),
                               OPT_V("--commodity", &commodity_s),
                               OPT_V("--market", &market_s),
                               OPT_V("--valid-from-ms", &from_s),
                               OPT_V("--valid-until-ms", &until_s),
                               OPT_L("--allow", allow_s, &nallow, MKT_ORDER_MAX_PREFS),
                               OPT_L("--exclude", exclude_s, &nexclude, MKT_ORDER_MAX_PREFS),
                               OPT_V("--premium-renewable", &prem_r_s),
                               OPT_V("--premium-local", &prem_l_s),
                               OPT_V("--timeout", &timeout_s),
                               OPT_F("--wait", &wait),
                               OPT_F("--json", &as_json),
                               OPT_END};
    int rc = parse_opts("order place", argc, argv, opts, usage_order_place);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!key || !side_s || !slot_s || !qty_s || !price_s) {
        fprintf(stderr, "gridctl: order place needs --key, --side, --slot-start-ms, --qty-wh and "
                        "--price\n");
        usage_order_place(stderr);
        return EXIT_USAGE;
    }
    uint8_t allow[MKT_ORDER_MAX_PREFS][CHAIN_PK_BYTES],
        exclude[MKT_ORDER_MAX_PREFS][CHAIN_PK_BYTES];
    struct mkt_tx_order ord;
    uint64_t timeout;
    memset(&ord, 0, sizeof ord);
    if (strcmp(side_s, "buy") == 0)
        ord.side = MKT_TX_BUY;
    else if (strcmp(side_s, "sell") == 0)
        ord.side = MKT_TX_SELL;
    else {
        fprintf(stderr, "gridctl: --side must be buy or sell\n");
        return EXIT_USAGE;
    }
    if ((rc = parse_commodity(commodity_s, &ord.commodity)) ||
        (rc = parse_market(market_s, &ord.market)) ||
        (rc = parse_num("--slot-start-ms", slot_s, (uint64_t)INT64_MAX, &ord.slot_start_ms)) ||
        (rc = parse_num("--qty-wh", qty_s, (uint64_t)MKT_MAX_QTY_WH, &ord.qty_wh)) ||
        (rc = parse_num("--price", price_s, (uint64_t)MKT_MAX_PRICE, &ord.price_micro_per_kwh)) ||
        (from_s &&
         (rc = parse_num("--valid-from-ms", from_s, (uint64_t)INT64_MAX, &ord.valid_from_ms))) ||
        (until_s &&
         (rc = parse_num("--valid-until-ms", until_s, (uint64_t)INT64_MAX, &ord.valid_until_ms))) ||
        (prem_r_s && (rc = parse_num("--premium-renewable", prem_r_s, (uint64_t)MKT_MAX_PRICE,
                                     &ord.premium_renewable_micro_per_kwh))) ||
        (prem_l_s && (rc = parse_num("--premium-local", prem_l_s, (uint64_t)MKT_MAX_PRICE,
                                     &ord.premium_local_micro_per_kwh))) ||
        (rc = parse_timeout(timeout_s, &timeout)))
        return rc;
    if (ord.qty_wh == 0) {
        fprintf(stderr, "gridctl: --qty-wh must be at least 1\n");
        return EXIT_USAGE;
    }
    for (size_t i = 0; i < nallow; i++)
        if ((rc = parse_hash("--allow", allow_s[i], allow[i])))
            return rc;
    for (size_t i = 0; i < nexclude; i++)
        if ((rc = parse_hash("--exclude", exclude_s[i], exclude[i])))
            return rc;
    ord.allowed = (const uint8_t(*)[CHAIN_PK_BYTES])allow;
    ord.nallowed = nallow;
    ord.excluded = (const uint8_t(*)[CHAIN_PK_BYTES])exclude;
    ord.nexcluded = nexclude;
    if ((rc = rpc_opts_finish(&o)))
        return rc;
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES], id[CHAIN_HASH_BYTES], *payload;
    size_t plen;
    uint64_t height;
    if (key_read(key, pk, sk) != 0)
        return EXIT_BAD_INPUT;
    if (mkt_payload_place_order(&ord, &payload, &plen) != CHAIN_ERR_OK) {
        sodium_memzero(sk, sizeof sk);
        fprintf(stderr, "gridctl: cannot build the order\n");
        return EXIT_BAD_INPUT;
    }
    rc = sign_submit(&o, pk, sk, GL__MKT_TX_TYPE__MKT_TX_PLACE_ORDER, payload, plen, "order", wait,
                     timeout, id, &height);
    sodium_memzero(sk, sizeof sk);
    if (rc || !wait)
        return rc;
    return show_order(&o, o.have_trust, id, as_json);
}

static int cmd_order_cancel(int argc, char **argv)
{
    struct rpc_opts o;
    const char *key = NULL, *order_s = NULL, *timeout_s = NULL;
    bool wait = false, as_json = false;
    memset(&o, 0, sizeof o);
    const struct opt opts[] = {OPT_RPC(o),
                               OPT_V("--key", &key),
                               OPT_V("--order", &order_s),
                               OPT_V("--timeout", &timeout_s),
                               OPT_F("--wait", &wait),
                               OPT_F("--json", &as_json),
                               OPT_END};
    int rc = parse_opts("order cancel", argc, argv, opts, usage_order_cancel);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!key || !order_s) {
        fprintf(stderr, "gridctl: order cancel needs --key and --order\n");
        usage_order_cancel(stderr);
        return EXIT_USAGE;
    }
    uint8_t id[CHAIN_HASH_BYTES], pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES], hash[CHAIN_HASH_BYTES];
    uint8_t *payload;
    size_t plen;
    uint64_t timeout, height;
    if ((rc = parse_hash("--order", order_s, id)) || (rc = parse_timeout(timeout_s, &timeout)) ||
        (rc = rpc_opts_finish(&o)))
        return rc;
    if (key_read(key, pk, sk) != 0)
        return EXIT_BAD_INPUT;
    if (mkt_payload_cancel_order(id, &payload, &plen) != CHAIN_ERR_OK) {
        sodium_memzero(sk, sizeof sk);
        fprintf(stderr, "gridctl: cannot build the cancellation\n");
        return EXIT_BAD_INPUT;
    }
    rc = sign_submit(&o, pk, sk, GL__MKT_TX_TYPE__MKT_TX_CANCEL_ORDER, payload, plen,
                     "cancellation", wait, timeout, hash, &height);
    sodium_memzero(sk, sizeof sk);
    if (rc || !wait)
        return rc;
    return show_order(&o, o.have_trust, id, as_json);
}

static int cmd_order_show(int argc, char **argv)
{
    struct rpc_opts o;
    const char *order_s = NULL;
    bool no_verify = false, as_json = false;
    memset(&o, 0, sizeof o);
    const struct opt opts[] = {OPT_RPC(o), OPT_V("--order", &order_s),
                               OPT_F("--no-verify", &no_verify), OPT_F("--json", &as_json),
                               OPT_END};
    int rc = parse_opts("order show", argc, argv, opts, usage_order_show);
    if (rc)
        return rc < 0 ? 0 : rc;
    uint8_t id[CHAIN_HASH_BYTES];
    if (!order_s) {
        fprintf(stderr, "gridctl: order show needs --order ID\n");
        usage_order_show(stderr);
        return EXIT_USAGE;
    }
    if ((rc = parse_hash("--order", order_s, id)) ||
        (rc = need_genesis("order show", &o, no_verify)) || (rc = rpc_opts_finish(&o)))
        return rc;
    return show_order(&o, !no_verify, id, as_json);
}

static const struct command ORDER_COMMANDS[] = {
    {"place", "sign and submit a buy or sell order", cmd_order_place},
    {"cancel", "sign and submit the cancellation of an order", cmd_order_cancel},
    {"show", "an order's state, verified", cmd_order_show},
    {NULL, NULL, NULL},
};

static void usage_order(FILE *f)
{
    fprintf(f, "usage: gridctl order <command> [--help]\n");
    list_commands(f, ORDER_COMMANDS);
}

static int cmd_order(int argc, char **argv)
{
    return dispatch("gridctl order", ORDER_COMMANDS, usage_order, argc - 1, argv + 1);
}

/* ---- gridctl orders: the open orders of one book ---- */

static void usage_orders(FILE *f)
{
    fprintf(f, "usage: gridctl orders --slot-start-ms T [--commodity electricity|heat]\n"
               "                      [--market day-ahead|intraday] [--account HEX | --key FILE]\n"
               "                      --genesis FILE [--rpc URL] [--no-verify] [--json]\n"
               "\n"
               "The open orders of one book (optionally only one account's).  The node lists\n"
               "order ids (get_orders); each order is then read and verified on its own, as\n"
               "`gridctl order show` does, at the newest certified height, and must be an\n"
               "open order of this book.  COMPLETENESS IS NOT PROVEN: every order printed is\n"
               "proven, but a node can leave orders out of a list, and the output says so.\n"
               "Orders listed but newer than the certified height are counted, not shown.\n"
               "\n"
               "exit status: 0 listed, 1 no answer or bad input, 2 usage error, 3 an order\n"
               "does not verify or is not an open order of this book.\n");
}

static int cmd_orders(int argc, char **argv)
{
    struct rpc_opts o;
    const char *slot_s = NULL, *commodity_s = NULL, *market_s = NULL, *account = NULL, *key = NULL;
    bool no_verify = false, as_json = false;
    memset(&o, 0, sizeof o);
    const struct opt opts[] = {OPT_RPC(o),
                               OPT_V("--slot-start-ms", &slot_s),
                               OPT_V("--commodity", &commodity_s),
                               OPT_V("--market", &market_s),
                               OPT_V("--account", &account),
                               OPT_V("--key", &key),
                               OPT_F("--no-verify", &no_verify),
                               OPT_F("--json", &as_json),
                               OPT_END};
    int rc = parse_opts("orders", argc, argv, opts, usage_orders);
    if (rc)
        return rc < 0 ? 0 : rc;
    uint32_t commodity, market;
    uint64_t slot;
    uint8_t owner[CHAIN_PK_BYTES];
    bool by_owner = account || key;
    if (!slot_s) {
        fprintf(stderr, "gridctl: orders needs --slot-start-ms T\n");
        usage_orders(stderr);
        return EXIT_USAGE;
    }
    if ((rc = parse_num("--slot-start-ms", slot_s, (uint64_t)INT64_MAX, &slot)) ||
        (rc = parse_commodity(commodity_s, &commodity)) || (rc = parse_market(market_s, &market)) ||
        (rc = need_genesis("orders", &o, no_verify)) || (rc = rpc_opts_finish(&o)) ||
        (by_owner && (rc = account_of("orders", account, key, owner))))
        return rc;
    bool verify = !no_verify;
    struct node_lc_client c = lc_client(&o, verify);
    struct node_lc_header h;
    char why[512], t[64];
    if ((rc = node_lc_head(&c, &h, why, sizeof why)))
        return lc_fail(rc, "header", why);
    json_t *out = json_array();
    size_t listed = 0, newer = 0, shown = 0;
    json_int_t after = -1;
    if (!as_json)
        printf("%-64s %-4s %12s %12s %12s %s\n", "order", "side", "qty_wh", "open_wh", "micro/kWh",
               "owner");
    for (;;) {
        json_t *params = json_pack("{s:i, s:i, s:I, s:i}", "commodity", (int)commodity, "market",
                                   (int)market, "slot_start_ms", (json_int_t)slot, "limit", 200);
        if (params && after >= 0)
            json_object_set_new(params, "after_arrival", json_integer(after));
        json_t *r = rpc_call(&o, "get_orders", params, NULL);
        if (!r) {
            json_decref(out);
            return EXIT_BAD_INPUT;
        }
        json_t *arr = json_object_get(r, "orders"),
               *next = json_object_get(r, "next_after_arrival");
        if (!json_is_array(arr) || (!json_is_null(next) && !json_is_integer(next)) ||
            (json_is_integer(next) && json_integer_value(next) <= after) ||
            listed + json_array_size(arr) > MKT_BOOK_MAX_ORDERS) {
            fprintf(stderr, "gridctl: REFUSED: the node's get_orders answer is malformed (no "
                            "orders array, a page that does not advance, or more orders than a "
                            "book holds)\n");
            json_decref(r);
            json_decref(out);
            return EXIT_UNVERIFIED;
        }
        for (size_t i = 0; i < json_array_size(arr); i++) {
            uint8_t id[CHAIN_HASH_BYTES], k[MKT_KEY_ORDER_BYTES];
            ProtobufCMessage *m;
            listed++;
            if (node_lc_hex(json_object_get(json_array_get(arr, i), "order_id"), id, sizeof id)) {
                fprintf(stderr, "gridctl: REFUSED: the node listed an order without an id\n");
                json_decref(r);
                json_decref(out);
                return EXIT_UNVERIFIED;
            }
            mkt_key_order(k, id);
            rc = node_lc_msg_at(&c, &h, k, sizeof k, &gl__mkt_order__descriptor, &m, why,
                                sizeof why);
            if (rc) {
                json_decref(r);
                json_decref(out);
                return lc_fail(rc, "order answer", why);
            }
            const Gl__MktOrder *ord = (const Gl__MktOrder *)m;
            if (!ord) { /* placed after the certified height */
                newer++;
                continue;
            }
            if (ord->commodity != commodity || ord->market != market ||
                ord->slot_start_ms != slot || ord->status != MKT_ORDER_OPEN) {
                char hex[2 * CHAIN_HASH_BYTES + 1];
                chain_hex(hex, id, CHAIN_HASH_BYTES);
                fprintf(stderr,
                        "gridctl: REFUSED: the node listed order %s, which the proof at height "
                        "%" PRIu64 " shows is not an open order of this book\n",
                        hex, h.height);
                protobuf_c_message_free_unpacked(m, NULL);
                json_decref(r);
                json_decref(out);
                return EXIT_UNVERIFIED;
            }
            if (!by_owner || (ord->owner.len == CHAIN_PK_BYTES &&
                              !memcmp(ord->owner.data, owner, CHAIN_PK_BYTES))) {
                char hex[2 * CHAIN_HASH_BYTES + 1], ohex[2 * CHAIN_PK_BYTES + 1] = "?";
                chain_hex(hex, id, CHAIN_HASH_BYTES);
                if (ord->owner.len == CHAIN_PK_BYTES)
                    chain_hex(ohex, ord->owner.data, CHAIN_PK_BYTES);
                shown++;
                if (as_json)
                    json_array_append_new(out, order_json(id, ord));
                else
                    printf("%-64s %-4s %12" PRIu64 " %12" PRIu64 " %12" PRIu64 " %s\n", hex,
                           side_name(ord->side), ord->qty_wh, ord->open_wh, ord->price, ohex);
            }
            protobuf_c_message_free_unpacked(m, NULL);
        }
        after = json_is_integer(next) ? json_integer_value(next) : -1;
        json_decref(r);
        if (after < 0)
            break;
    }
    const char *note = "completeness is NOT proven: each order shown is proven, but a node can "
                       "leave orders out of a list";
    if (as_json) {
        json_t *j = json_pack("{s:s, s:s, s:I, s:o, s:I, s:I, s:b, s:s}", "commodity",
                              commodity_name(commodity), "market", market_name(market),
                              "slot_start_ms", (json_int_t)slot, "orders", out, "listed",
                              (json_int_t)listed, "newer_than_certified", (json_int_t)newer,
                              "complete_proven", 0, "note", note);
        if (j)
            json_provenance(j, verify, &h);
        return print_json(j);
    }
    json_decref(out);
    printf("%zu open order%s shown of the %s %s book for slot %s; the node listed %zu, %zu of "
           "them newer than height %" PRIu64 "\n",
           shown, shown == 1 ? "" : "s", commodity_name(commodity), market_name(market),
           fmt_utc(t, sizeof t, slot), listed, newer, h.height);
    printf("%s\n", note);
    print_provenance(&o, verify, &h);
    return 0;
}

/* ---- gridctl results ---- */

static void usage_results(FILE *f)
{
    fprintf(f, "usage: gridctl results --slot-start-ms T [--commodity electricity|heat]\n"
               "                       [--market day-ahead|intraday] [--order ID]\n"
               "                       --genesis FILE [--rpc URL] [--no-verify] [--json]\n"
               "\n"
               "The clearing result of one book (\"mkt/r/\" commodity market slot: gl.MktResult),\n"
               "verified as `gridctl balance` verifies: mechanism, price (and the interval\n"
               "that clears), volume, welfare, the grid's fills and tariff, fees, rounding,\n"
               "orders and trades.  Before the book clears the result is proven absent.\n"
               "With --order ID also that order's fill in the book (\"mkt/f/\" book ID:\n"
               "gl.MktFill), proven under the same header.\n"
               "\n"
               "exit status: 0 shown (also when not cleared yet), 1 no answer or bad input,\n"
               "2 usage error, 3 verification failed.\n");
}

static void print_result(const Gl__MktResult *r)
{
    char a[96], b[96], t[64];
    printf("mechanism   %s\n", r->mechanism == MKT_MECH_UNIFORM ? "uniform-price auction"
                               : r->mechanism == MKT_MECH_P2P   ? "p2p with grid fees"
                                                                : "?");
    if (r->mechanism == MKT_MECH_UNIFORM) {
        printf("price       %s\n", fmt_price(a, sizeof a, r->price));
        printf("clears in   [%" PRIu64 ", %" PRIu64 "] micro/kWh\n", r->price_lo, r->price_hi);
    }
    printf("volume      %s\n", fmt_energy(a, sizeof a, r->volume_wh));
    printf("welfare     %s nano-units (price x Wh)\n", r->welfare_nano ? r->welfare_nano : "?");
    if (r->has_grid) {
        printf("grid        sold %s, bought %s\n", fmt_energy(a, sizeof a, r->grid_sell_wh),
               fmt_energy(b, sizeof b, r->grid_buy_wh));
        printf("tariff      retail %s, feed-in %" PRIu64 " micro/kWh\n",
               fmt_price(a, sizeof a, r->retail), r->feed_in);
        if (r->grid_buy_unfunded)
            printf("            the grid account could not pay: cleared with feed-in 0\n");
    } else
        printf("grid        no tariff posted for the slot\n");
    printf("fees        %s\n", fmt_money(a, sizeof a, r->fees));
    printf("rounding    %s\n", fmt_money(a, sizeof a, r->rounding));
    printf("orders      %u, trades %u\n", r->norders, r->ntrades);
    printf("cleared     at height %" PRIu64 ", %s, %s\n", r->height,
           fmt_utc(t, sizeof t, r->time_ms), r->by_operator ? "by the operator" : "at its gate");
    if (r->prefs_ignored)
        printf("note        partner preferences ignored (too many pairs for the dense form)\n");
    if (r->refused)
        printf("refused     the clearing core refused the book (%s): no trades\n",
               mkt_err_name(r->refused));
}

static json_t *result_json(const Gl__MktResult *r)
{
    json_t *j = json_object();
    if (!j || !r)
        return j;
    json_object_set_new(j, "mechanism",
                        json_string(r->mechanism == MKT_MECH_UNIFORM ? "uniform"
                                    : r->mechanism == MKT_MECH_P2P   ? "p2p"
                                                                     : "?"));
    json_object_set_new(j, "price_micro_per_kwh", ju(r->price));
    json_object_set_new(j, "price_lo", ju(r->price_lo));
    json_object_set_new(j, "price_hi", ju(r->price_hi));
    json_object_set_new(j, "volume_wh", ju(r->volume_wh));
    json_object_set_new(j, "welfare_nano", json_string(r->welfare_nano ? r->welfare_nano : ""));
    json_object_set_new(j, "has_grid", json_boolean(r->has_grid));
    json_object_set_new(j, "grid_buy_wh", ju(r->grid_buy_wh));
    json_object_set_new(j, "grid_sell_wh", ju(r->grid_sell_wh));
    json_object_set_new(j, "retail", ju(r->retail));
    json_object_set_new(j, "feed_in", ju(r->feed_in));
    json_object_set_new(j, "grid_buy_unfunded", json_boolean(r->grid_buy_unfunded));
    json_object_set_new(j, "fees", ju(r->fees));
    json_object_set_new(j, "rounding", ju(r->rounding));
    json_object_set_new(j, "norders", ju(r->norders));
    json_object_set_new(j, "ntrades", ju(r->ntrades));
    json_object_set_new(j, "cleared_height", ju(r->height));
    json_object_set_new(j, "cleared_time_ms", ju(r->time_ms));
    json_object_set_new(j, "by_operator", json_boolean(r->by_operator));
    json_object_set_new(j, "prefs_ignored", json_boolean(r->prefs_ignored));
    json_object_set_new(j, "refused", json_string(r->refused ? mkt_err_name(r->refused) : ""));
    return j;
}

static json_t *fill_json(const Gl__MktFill *fl)
{
    char hex[2 * CHAIN_PK_BYTES + 1] = "";
    if (!fl)
        return json_null();
    if (fl->owner.len == CHAIN_PK_BYTES)
        chain_hex(hex, fl->owner.data, CHAIN_PK_BYTES);
    return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "owner", hex, "side",
                     side_name(fl->side), "qty_wh", ju(fl->qty_wh), "fill_wh", ju(fl->fill_wh),
                     "paid", ju(fl->paid), "received", ju(fl->received), "margin_held",
                     ju(fl->margin_held));
}

/* Read the result of book (commodity, market, slot) at the newest certified
 * header and print it as `gridctl results` does; with id (NULL for none)
 * also that order's fill under the same header.  0 or an exit status. */
static int show_result(struct rpc_opts *o, bool verify, uint32_t commodity, uint32_t market,
                       uint64_t slot, const uint8_t *id, bool as_json)
{
    struct node_lc_client c = lc_client(o, verify);
    struct node_lc_header h;
    ProtobufCMessage *rm = NULL, *fm = NULL;
    uint8_t rkey[MKT_KEY_RESULT_BYTES], fkey[MKT_KEY_FILL_BYTES];
    char why[512], t[64], a[96];
    mkt_key_result(rkey, commodity, market, slot);
    int rc = node_lc_read_msg(&c, rkey, sizeof rkey, &gl__mkt_result__descriptor, &h, &rm, why,
                              sizeof why);
    if (rc)
        return lc_fail(rc, "result answer", why);
    if (id) {
        mkt_key_fill(fkey, commodity, market, slot, id);
        rc = node_lc_msg_at(&c, &h, fkey, sizeof fkey, &gl__mkt_fill__descriptor, &fm, why,
                            sizeof why);
        if (rc) {
            protobuf_c_message_free_unpacked(rm, NULL);
            return lc_fail(rc, "fill answer", why);
        }
    }
    const Gl__MktResult *r = (const Gl__MktResult *)rm;
    const Gl__MktFill *fl = (const Gl__MktFill *)fm;
    if (as_json) {
        json_t *j =
            json_pack("{s:s, s:s, s:I, s:b}", "commodity", commodity_name(commodity), "market",
                      market_name(market), "slot_start_ms", (json_int_t)slot, "cleared", r != NULL);
        if (j) {
            json_object_set_new(j, "result", r ? result_json(r) : json_null());
            if (id) {
                chain_hex(a, id, CHAIN_HASH_BYTES);
                json_object_set_new(j, "order_id", json_string(a));
                json_object_set_new(j, "fill", fill_json(fl));
            }
            json_provenance(j, verify, &h);
        }
        protobuf_c_message_free_unpacked(rm, NULL);
        protobuf_c_message_free_unpacked(fm, NULL);
        return print_json(j);
    }
    printf("book        %s %s, slot %s (%" PRIu64 ")\n", commodity_name(commodity),
           market_name(market), fmt_utc(t, sizeof t, slot), slot);
    if (r)
        print_result(r);
    else
        printf("not cleared yet (proven absent: no result in state)\n");
    if (id) {
        chain_hex(a, id, CHAIN_HASH_BYTES);
        if (fl) {
            char hex[2 * CHAIN_PK_BYTES + 1] = "?", m1[96];
            if (fl->owner.len == CHAIN_PK_BYTES)
                chain_hex(hex, fl->owner.data, CHAIN_PK_BYTES);
            printf("fill of     %s (%s, owner %s)\n", a, side_name(fl->side), hex);
            printf("  entered   %s\n", fmt_energy(m1, sizeof m1, fl->qty_wh));
            printf("  filled    %s\n", fmt_energy(m1, sizeof m1, fl->fill_wh));
            if (fl->side == MKT_TX_BUY)
                printf("  paid      %s\n", fmt_money(m1, sizeof m1, fl->paid));
            else {
                printf("  received  %s\n", fmt_money(m1, sizeof m1, fl->received));
                printf("  margin    %s held until settlement\n",
                       fmt_money(m1, sizeof m1, fl->margin_held));
            }
        } else
            printf("no fill of order %s in this book (proven absent)\n", a);
    }
    print_provenance(o, verify, &h);
    protobuf_c_message_free_unpacked(rm, NULL);
    protobuf_c_message_free_unpacked(fm, NULL);
    return 0;
}

static int cmd_results(int argc, char **argv)
{
    struct rpc_opts o;
    const char *slot_s = NULL, *commodity_s = NULL, *market_s = NULL, *order_s = NULL;
    bool no_verify = false, as_json = false;
    memset(&o, 0, sizeof o);
    const struct opt opts[] = {OPT_RPC(o),
                               OPT_V("--slot-start-ms", &slot_s),
                               OPT_V("--commodity", &commodity_s),
                               OPT_V("--market", &market_s),
                               OPT_V("--order", &order_s),
                               OPT_F("--no-verify", &no_verify),
                               OPT_F("--json", &as_json),
                               OPT_END};
    int rc = parse_opts("results", argc, argv, opts, usage_results);
    if (rc)
        return rc < 0 ? 0 : rc;
    uint32_t commodity, market;
    uint64_t slot;
    uint8_t id[CHAIN_HASH_BYTES];
    if (!slot_s) {
        fprintf(stderr, "gridctl: results needs --slot-start-ms T\n");
        usage_results(stderr);
        return EXIT_USAGE;
    }
    if ((rc = parse_num("--slot-start-ms", slot_s, (uint64_t)INT64_MAX, &slot)) ||
        (rc = parse_commodity(commodity_s, &commodity)) || (rc = parse_market(market_s, &market)) ||
        (order_s && (rc = parse_hash("--order", order_s, id))) ||
        (rc = need_genesis("results", &o, no_verify)) || (rc = rpc_opts_finish(&o)))
        return rc;
    return show_result(&o, !no_verify, commodity, market, slot, order_s ? id : NULL, as_json);
}

/* ---- gridctl bill ---- */

static void usage_bill(FILE *f)
{
    fprintf(f, "usage: gridctl bill --day D (--account HEX | --key FILE) --genesis FILE\n"
               "                    [--rpc URL] [--no-verify] [--json]\n"
               "\n"
               "A participant's bill of one UTC day: the settlements of that day's slots,\n"
               "summed by the chain (\"mkt/bill/\" day start (8 bytes) || account: gl.MktBill).\n"
               "The key is computed here and the bill verified as `gridctl balance` verifies;\n"
               "every field is printed: slots, energy imported and exported, market paid and\n"
               "received, imbalance charges and credits, penalties, renewable subsidy, debt\n"
               "added and repaid, incentive points, and the net computed from them.  A day\n"
               "without a settled slot has no bill: its absence is proven and said.\n"
               "\n"
               "--day D         YYYY-MM-DD (UTC), or the day's start in ms since 1970\n"
               "\n"
               "Money in tokens with 6 decimals and in micro-units; energy in kWh and Wh.\n"
               "exit status: 0 shown (also: no bill, proven), 1 no answer or bad input,\n"
               "2 usage error, 3 verification failed.\n");
}

/* received + credit + subsidy - paid - charge - penalty, exactly. */
static __int128 bill_net(const Gl__MktBill *b)
{
    return (__int128)b->market_received + b->imbalance_credit + b->subsidy - b->market_paid -
           b->imbalance_charge - b->penalty;
}

static int cmd_bill(int argc, char **argv)
{
    struct rpc_opts o;
    const char *day_s = NULL, *account = NULL, *key = NULL;
    bool no_verify = false, as_json = false;
    memset(&o, 0, sizeof o);
    const struct opt opts[] = {OPT_RPC(o),
                               OPT_V("--day", &day_s),
                               OPT_V("--account", &account),
                               OPT_V("--key", &key),
                               OPT_F("--no-verify", &no_verify),
                               OPT_F("--json", &as_json),
                               OPT_END};
    int rc = parse_opts("bill", argc, argv, opts, usage_bill);
    if (rc)
        return rc < 0 ? 0 : rc;
    uint64_t day;
    uint8_t pk[CHAIN_PK_BYTES], key_b[MKT_KEY_BILL_BYTES];
    if (!day_s) {
        fprintf(stderr, "gridctl: bill needs --day D\n");
        usage_bill(stderr);
        return EXIT_USAGE;
    }
    if (parse_day(day_s, &day) != 0) {
        fprintf(stderr, "gridctl: --day must be a UTC date YYYY-MM-DD (1970 or later) or a day's "
                        "start in ms (a multiple of 86400000)\n");
        return EXIT_USAGE;
    }
    if (!!account == !!key) {
        fprintf(stderr, "gridctl: bill needs exactly one of --account HEX and --key FILE\n");
        usage_bill(stderr);
        return EXIT_USAGE;
    }
    if ((rc = need_genesis("bill", &o, no_verify)) || (rc = rpc_opts_finish(&o)) ||
        (rc = account_of("bill", account, key, pk)))
        return rc;
    bool verify = !no_verify;
    struct node_lc_client c = lc_client(&o, verify);
    struct node_lc_header h;
    ProtobufCMessage *m;
    char why[512], acct[2 * CHAIN_PK_BYTES + 1], date[64], v[96];
    mkt_key_bill(key_b, day, pk);
    rc = node_lc_read_msg(&c, key_b, sizeof key_b, &gl__mkt_bill__descriptor, &h, &m, why,
                          sizeof why);
    if (rc)
        return lc_fail(rc, "bill answer", why);
    const Gl__MktBill *b = (const Gl__MktBill *)m;
    chain_hex(acct, pk, CHAIN_PK_BYTES);
    fmt_utc(date, sizeof date, day);
    date[10] = '\0'; /* YYYY-MM-DD */
    __int128 net = b ? bill_net(b) : 0;
    bool net_fits = net >= INT64_MIN && net <= INT64_MAX;
    if (as_json) {
        json_t *j = json_pack("{s:s, s:s, s:I, s:b}", "account", acct, "day", date, "day_start_ms",
                              (json_int_t)day, "exists", b != NULL);
        if (j && b) {
            json_object_set_new(j, "slots", ju(b->slots));
            json_object_set_new(j, "missing", ju(b->missing));
            json_object_set_new(j, "import_wh", json_integer(b->import_wh));
            json_object_set_new(j, "export_wh", json_integer(b->export_wh));
            json_object_set_new(j, "market_paid", ju(b->market_paid));
            json_object_set_new(j, "market_received", ju(b->market_received));
            json_object_set_new(j, "imbalance_charge", ju(b->imbalance_charge));
            json_object_set_new(j, "imbalance_credit", ju(b->imbalance_credit));
            json_object_set_new(j, "penalty", ju(b->penalty));
            json_object_set_new(j, "subsidy", json_integer(b->subsidy));
            json_object_set_new(j, "debt_added", ju(b->debt_added));
            json_object_set_new(j, "debt_repaid", ju(b->debt_repaid));
            json_object_set_new(j, "points", ju(b->points));
            json_object_set_new(j, "net", net_fits ? json_integer((json_int_t)net) : json_null());
        }
        if (j)
            json_provenance(j, verify, &h);
        protobuf_c_message_free_unpacked(m, NULL);
        return print_json(j);
    }
    printf("bill of %s for %s (UTC; day start %" PRIu64 " ms)\n", acct, date, day);
    if (!b) {
        printf("no bill: the proof shows none (no slot of this day has been settled for this "
               "account)\n");
        print_provenance(&o, verify, &h);
        return 0;
    }
    printf("  slots settled        %u\n", b->slots);
    printf("  missing readings     %u slot%s\n", b->missing, b->missing == 1 ? "" : "s");
    printf("  energy imported      %s\n",
           fmt_energy_mag(v, sizeof v, b->import_wh < 0, magnitude(b->import_wh)));
    printf("  energy exported      %s\n",
           fmt_energy_mag(v, sizeof v, b->export_wh < 0, magnitude(b->export_wh)));
    printf("  market paid          %s\n", fmt_money(v, sizeof v, b->market_paid));
    printf("  market received      %s\n", fmt_money(v, sizeof v, b->market_received));
    printf("  imbalance charge     %s\n", fmt_money(v, sizeof v, b->imbalance_charge));
    printf("  imbalance credit     %s\n", fmt_money(v, sizeof v, b->imbalance_credit));
    printf("  penalties            %s\n", fmt_money(v, sizeof v, b->penalty));
    printf("  renewable subsidy    %s\n", fmt_money_signed(v, sizeof v, b->subsidy));
    printf("  debt added           %s\n", fmt_money(v, sizeof v, b->debt_added));
    printf("  debt repaid          %s\n", fmt_money(v, sizeof v, b->debt_repaid));
    printf("  incentive points     %" PRIu64 "\n", b->points);
    if (net_fits)
        printf("  net                  %s\n", fmt_money_signed(v, sizeof v, (int64_t)net));
    else
        printf("  net                  (beyond 64 bits)\n");
    printf("  (net = received + imbalance credit + subsidy - paid - imbalance charge - "
           "penalties, computed here)\n");
    print_provenance(&o, verify, &h);
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

/* ---- gridctl params: the market's parameters (operator) ---- */

/* The parameters as stored under "mkt/params" (gl.MktParams), not defaulted:
 * `params set` signs them again with only the fields it is asked for
 * changed, so every other field keeps exactly its stored value -- 0
 * included, which for the settlement fields means the default
 * (chain/proto/market.proto; mkt_params_load).  Never set: the values of
 * mkt_params_default, which the chain uses then. */
struct params_state {
    bool stored;
    struct mkt_tx_params p; /* p.fee_matrix points into matrix, or is NULL */
    uint32_t matrix[MKT_PARAMS_MAX_BUS * MKT_PARAMS_MAX_BUS];
};

enum param_kind { PARAM_NUM, PARAM_MECHANISM, PARAM_FEE_MODEL };

/* A field of gl.MktParams with one value (nbus and fee_matrix go together
 * through --fee-matrix).  Its option is "--" name with '-' for '_'. */
struct param_field {
    const char *name;  /* as in gl.MktParams */
    size_t off, width; /* of its member in struct mkt_tx_params */
    uint64_t min, max;
    bool zero_default; /* 0 stored means the default (the settlement fields) */
    enum param_kind kind;
    const char *unit;
};

#define PARAM(n, member, lo, hi, zd, kind, unit)                                                   \
    {                                                                                              \
        n, offsetof(struct mkt_tx_params, member), sizeof(((struct mkt_tx_params *)0)->member),    \
            (lo), (hi), (zd), (kind), (unit)                                                       \
    }

/* In gl.MktParams' order; the limits are the decoder's (decode_set_params). */
static const struct param_field PARAMS[] = {
    PARAM("slot_ms", slot_ms, 0, 0, false, PARAM_NUM, "ms"), /* 900000 or 300000 */
    PARAM("day_ahead_lead_ms", day_ahead_lead_ms, 0, MKT_LEAD_MS_MAX, false, PARAM_NUM, "ms"),
    PARAM("intraday_lead_ms", intraday_lead_ms, 0, MKT_LEAD_MS_MAX, false, PARAM_NUM, "ms"),
    PARAM("mechanism", mechanism, 0, 0, false, PARAM_MECHANISM, NULL),
    PARAM("fee_model", fee_model, 0, 0, false, PARAM_FEE_MODEL, NULL),
    PARAM("fee_rate", fee_rate_micro_per_kwh, 0, MKT_MAX_PRICE, false, PARAM_NUM, "micro/kWh"),
    PARAM("price_min", price_min, 0, MKT_MAX_PRICE, false, PARAM_NUM, "micro/kWh"),
    PARAM("price_max", price_max, 1, MKT_MAX_PRICE, false, PARAM_NUM, "micro/kWh"),
    PARAM("seller_margin", seller_margin_micro_per_kwh, 0, MKT_MAX_PRICE, false, PARAM_NUM,
          "micro/kWh"),
    PARAM("grid_bus", grid_bus, 0, MKT_PARAMS_MAX_BUS - 1, false, PARAM_NUM, NULL),
    PARAM("metering_window_ms", metering_window_ms, 0, MKT_METERING_WINDOW_MS_MAX, true, PARAM_NUM,
          "ms"),
    PARAM("meter_epoch_ms", meter_epoch_ms, 0, MKT_METER_EPOCH_MS_MAX, false, PARAM_NUM, "ms"),
    PARAM("imbalance_markup_ppm", imbalance_markup_ppm, 0, MKT_IMBALANCE_MARKUP_PPM_MAX, true,
          PARAM_NUM, "ppm"),
    PARAM("missing_penalty", missing_penalty_micro, 0, MKT_MISSING_PENALTY_MAX, true, PARAM_NUM,
          "micro-units"),
    PARAM("strike_limit", strike_limit, 0, MKT_STRIKE_LIMIT_MAX, true, PARAM_NUM, NULL),
    PARAM("mu_min_ppm", mu_min_ppm, 0, MKT_MU_PPM_MAX, true, PARAM_NUM, "ppm"),
    PARAM("mu_max_ppm", mu_max_ppm, 0, MKT_MU_PPM_MAX, true, PARAM_NUM, "ppm"),
};
#define NPARAMS (sizeof PARAMS / sizeof PARAMS[0])

static size_t param_index(const char *name)
{
    size_t i = 0;
    while (i < NPARAMS && strcmp(PARAMS[i].name, name) != 0)
        i++;
    assert(i < NPARAMS);
    return i;
}

static uint64_t param_get(const struct mkt_tx_params *p, const struct param_field *f)
{
    const unsigned char *b = (const unsigned char *)p + f->off;
    if (f->width == sizeof(uint32_t)) {
        uint32_t v;
        memcpy(&v, b, sizeof v);
        return v;
    }
    assert(f->width == sizeof(uint64_t));
    uint64_t v;
    memcpy(&v, b, sizeof v);
    return v;
}

static void param_put(struct mkt_tx_params *p, const struct param_field *f, uint64_t v)
{
    unsigned char *b = (unsigned char *)p + f->off;
    if (f->width == sizeof(uint32_t)) {
        assert(v <= UINT32_MAX);
        uint32_t w = (uint32_t)v;
        memcpy(b, &w, sizeof w);
    } else {
        assert(f->width == sizeof(uint64_t));
        memcpy(b, &v, sizeof v);
    }
}

/* The value the chain uses: a settlement field stored as 0 takes its default. */
static uint64_t param_effective(const struct mkt_tx_params *p, const struct param_field *f)
{
    uint64_t v = param_get(p, f);
    if (v == 0 && f->zero_default) {
        struct mkt_tx_params d;
        mkt_params_default(&d);
        v = param_get(&d, f);
    }
    return v;
}

static const char *mechanism_name(uint64_t m)
{
    return m == MKT_MECH_UNIFORM ? "uniform" : m == MKT_MECH_P2P ? "p2p" : "?";
}

static const char *fee_model_name(uint64_t m)
{
    return m == MKT_TX_FEE_UNIFORM    ? "uniform"
           : m == MKT_TX_FEE_ZONAL    ? "zonal"
           : m == MKT_TX_FEE_DISTANCE ? "distance"
                                      : "?";
}

/* "--day-ahead-lead-ms" for "day_ahead_lead_ms", in a static table. */
static const char *param_opt(size_t i)
{
    static char opts[NPARAMS][40];
    assert(i < NPARAMS && strlen(PARAMS[i].name) + 3 <= sizeof opts[i]);
    if (!opts[i][0]) {
        snprintf(opts[i], sizeof opts[i], "--%s", PARAMS[i].name);
        for (char *c = opts[i] + 2; *c; c++)
            if (*c == '_')
                *c = '-';
    }
    return opts[i];
}

/* The value of PARAMS[i]'s option.  0 or EXIT_USAGE after saying why. */
static int param_parse(size_t i, const char *s, uint64_t *out)
{
    const struct param_field *f = &PARAMS[i];
    if (f->kind == PARAM_MECHANISM) {
        *out = strcmp(s, "uniform") == 0 ? MKT_MECH_UNIFORM
               : strcmp(s, "p2p") == 0   ? MKT_MECH_P2P
                                         : 0;
        if (!*out)
            fprintf(stderr, "gridctl: --mechanism must be uniform or p2p\n");
        return *out ? 0 : EXIT_USAGE;
    }
    if (f->kind == PARAM_FEE_MODEL) {
        *out = strcmp(s, "uniform") == 0    ? MKT_TX_FEE_UNIFORM
               : strcmp(s, "zonal") == 0    ? MKT_TX_FEE_ZONAL
               : strcmp(s, "distance") == 0 ? MKT_TX_FEE_DISTANCE
                                            : 0;
        if (!*out)
            fprintf(stderr, "gridctl: --fee-model must be uniform, zonal or distance\n");
        return *out ? 0 : EXIT_USAGE;
    }
    if (strcmp(f->name, "slot_ms") == 0) {
        if (parse_u64(s, out) == 0 && (*out == MKT_SLOT_MS_DEFAULT || *out == MKT_SLOT_MS_SHORT))
            return 0;
        fprintf(stderr, "gridctl: --slot-ms must be %" PRIu64 " (15 min) or %" PRIu64 " (5 min)\n",
                MKT_SLOT_MS_DEFAULT, MKT_SLOT_MS_SHORT);
        return EXIT_USAGE;
    }
    int rc = parse_num(param_opt(i), s, f->max, out);
    if (rc)
        return rc;
    if (*out < f->min) {
        fprintf(stderr, "gridctl: %s must be at least %" PRIu64 "\n", param_opt(i), f->min);
        return EXIT_USAGE;
    }
    if (strcmp(f->name, "meter_epoch_ms") == 0 && *out % MKT_SLOT_MS_DEFAULT != 0) {
        fprintf(stderr,
                "gridctl: --meter-epoch-ms must be a multiple of 15 minutes (%" PRIu64 " ms)\n",
                MKT_SLOT_MS_DEFAULT);
        return EXIT_USAGE;
    }
    return 0;
}

/* --fee-matrix "F00,F01;F10,F11": nbus rows of nbus factors, [buyer bus][seller
 * bus], into matrix and *nbus.  0 or EXIT_USAGE. */
static int parse_fee_matrix(const char *s, uint32_t matrix[MKT_PARAMS_MAX_BUS * MKT_PARAMS_MAX_BUS],
                            uint32_t *nbus)
{
    uint32_t rows = 0, cols = 0, col = 0;
    size_t k = 0;
    for (const char *p = s;;) {
        char *end;
        if (*p < '0' || *p > '9' || k >= MKT_PARAMS_MAX_BUS * MKT_PARAMS_MAX_BUS)
            goto bad;
        errno = 0;
        unsigned long v = strtoul(p, &end, 10);
        if (errno || v > MKT_PARAMS_MAX_FEE_FACTOR)
            goto bad;
        matrix[k++] = (uint32_t)v;
        col++;
        p = end;
        if (*p == ',') {
            p++;
            continue;
        }
        if ((*p != ';' && *p != '\0') || (rows > 0 && col != cols))
            goto bad;
        cols = col;
        col = 0;
        rows++;
        if (*p++ == '\0')
            break;
    }
    if (rows != cols || rows > MKT_PARAMS_MAX_BUS)
        goto bad;
    *nbus = rows;
    return 0;
bad:
    fprintf(stderr,
            "gridctl: --fee-matrix must be N rows of N factors (0 to %u), rows separated by ';' "
            "and factors by ',' (N at most %u), e.g. \"0,10;10,0\"\n",
            MKT_PARAMS_MAX_FEE_FACTOR, MKT_PARAMS_MAX_BUS);
    return EXIT_USAGE;
}

static bool fee_matrix_equal(const struct mkt_tx_params *a, const struct mkt_tx_params *b)
{
    if (a->nbus != b->nbus || !a->fee_matrix != !b->fee_matrix)
        return false;
    return !a->fee_matrix ||
           memcmp(a->fee_matrix, b->fee_matrix, (size_t)a->nbus * a->nbus * sizeof(uint32_t)) == 0;
}

static void params_copy(struct params_state *dst, const struct params_state *src)
{
    *dst = *src;
    if (src->p.fee_matrix)
        dst->p.fee_matrix = dst->matrix;
}

/* The parameters proven at h ("mkt/params"; never set: the defaults).  0 or
 * an exit status. */
static int params_at(const struct node_lc_client *c, const struct node_lc_header *h,
                     struct params_state *out /* OUT */)
{
    ProtobufCMessage *m;
    char why[512];
    memset(out, 0, sizeof *out);
    mkt_params_default(&out->p);
    int rc = node_lc_msg_at(c, h, (const uint8_t *)MKT_KEY_PARAMS, sizeof MKT_KEY_PARAMS - 1,
                            &gl__mkt_params__descriptor, &m, why, sizeof why);
    if (rc)
        return lc_fail(rc, "parameters answer", why);
    if (!m)
        return 0;
    const Gl__MktParams *s = (const Gl__MktParams *)m;
    /* what the chain itself relies on (mkt_params_load refuses the rest as STORE) */
    if (s->nbus == 0 || s->nbus > MKT_PARAMS_MAX_BUS ||
        (s->n_fee_matrix != 0 && s->n_fee_matrix != (size_t)s->nbus * s->nbus)) {
        protobuf_c_message_free_unpacked(m, NULL);
        fprintf(stderr,
                "gridctl: the market parameters proven at height %" PRIu64
                " have an unusable fee matrix; the chain cannot use them either\n",
                h->height);
        return EXIT_BAD_INPUT;
    }
    struct mkt_tx_params *p = &out->p;
    out->stored = true;
    p->slot_ms = s->slot_ms;
    p->day_ahead_lead_ms = s->day_ahead_lead_ms;
    p->intraday_lead_ms = s->intraday_lead_ms;
    p->mechanism = s->mechanism;
    p->fee_model = s->fee_model;
    p->fee_rate_micro_per_kwh = s->fee_rate;
    p->nbus = s->nbus;
    p->fee_matrix = NULL;
    if (s->n_fee_matrix) {
        memcpy(out->matrix, s->fee_matrix, s->n_fee_matrix * sizeof *out->matrix);
        p->fee_matrix = out->matrix;
    }
    p->price_min = s->price_min;
    p->price_max = s->price_max;
    p->seller_margin_micro_per_kwh = s->seller_margin;
    p->grid_bus = s->grid_bus;
    p->metering_window_ms = s->metering_window_ms;
    p->meter_epoch_ms = s->meter_epoch_ms;
    p->imbalance_markup_ppm = s->imbalance_markup_ppm;
    p->missing_penalty_micro = s->missing_penalty;
    p->strike_limit = s->strike_limit;
    p->mu_min_ppm = s->mu_min_ppm;
    p->mu_max_ppm = s->mu_max_ppm;
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

/* "900000 ms", "uniform", "0 (default: 3)": a field as stored and what it means. */
static const char *fmt_param(char *b, size_t n, const struct mkt_tx_params *p,
                             const struct param_field *f)
{
    uint64_t v = param_get(p, f), eff = param_effective(p, f);
    if (f->kind == PARAM_MECHANISM)
        snprintf(b, n, "%s", mechanism_name(v));
    else if (f->kind == PARAM_FEE_MODEL)
        snprintf(b, n, "%s", fee_model_name(v));
    else if (v != eff)
        snprintf(b, n, "%" PRIu64 "%s%s (0 stored: the default)", eff, f->unit ? " " : "",
                 f->unit ? f->unit : "");
    else
        snprintf(b, n, "%" PRIu64 "%s%s", v, f->unit ? " " : "", f->unit ? f->unit : "");
    return b;
}

/* "0,10;10,0", or "none"; n of FEE_MATRIX_TEXT_BYTES holds any matrix. */
#define FEE_MATRIX_TEXT_BYTES (MKT_PARAMS_MAX_BUS * MKT_PARAMS_MAX_BUS * 6u + 8u)
static const char *fmt_fee_matrix(char *b, size_t n, const struct mkt_tx_params *p)
{
    size_t len = 0;
    if (!p->fee_matrix) {
        snprintf(b, n, "none");
        return b;
    }
    b[0] = '\0';
    for (uint32_t i = 0; i < p->nbus * p->nbus && len < n; i++) {
        int w = snprintf(b + len, n - len, "%s%" PRIu32,
                         i == 0        ? ""
                         : i % p->nbus ? ","
                                       : ";",
                         p->fee_matrix[i]);
        len += w > 0 ? (size_t)w : 0;
    }
    return b;
}

static json_t *params_json(const struct params_state *st)
{
    json_t *j = json_object(), *defaulted = json_array(), *mx = json_array();
    if (!j || !defaulted || !mx) {
        json_decref(j);
        json_decref(defaulted);
        json_decref(mx);
        return NULL;
    }
    json_object_set_new(j, "stored", json_boolean(st->stored));
    for (size_t i = 0; i < NPARAMS; i++) {
        const struct param_field *f = &PARAMS[i];
        uint64_t v = param_get(&st->p, f), eff = param_effective(&st->p, f);
        if (f->kind == PARAM_MECHANISM)
            json_object_set_new(j, f->name, json_string(mechanism_name(v)));
        else if (f->kind == PARAM_FEE_MODEL)
            json_object_set_new(j, f->name, json_string(fee_model_name(v)));
        else
            json_object_set_new(j, f->name, ju(eff));
        if (v != eff)
            json_array_append_new(defaulted, json_string(f->name));
        if (strcmp(f->name, "fee_rate") == 0) { /* nbus and the matrix, in gl.MktParams' order */
            json_object_set_new(j, "nbus", ju(st->p.nbus));
            for (uint32_t r = 0; st->p.fee_matrix && r < st->p.nbus; r++) {
                json_t *row = json_array();
                for (uint32_t k = 0; row && k < st->p.nbus; k++)
                    json_array_append_new(row, ju(st->p.fee_matrix[r * st->p.nbus + k]));
                json_array_append_new(mx, row);
            }
            json_object_set_new(j, "fee_matrix", mx);
        }
    }
    json_object_set_new(j, "defaulted", defaulted);
    return j;
}

static void print_params(const struct params_state *st)
{
    char v[FEE_MATRIX_TEXT_BYTES];
    if (st->stored)
        printf("market parameters (set on chain)\n");
    else
        printf("market parameters: never set, the defaults apply (proven absent)\n");
    for (size_t i = 0; i < NPARAMS; i++) {
        printf("  %-21s %s\n", PARAMS[i].name, fmt_param(v, sizeof v, &st->p, &PARAMS[i]));
        if (strcmp(PARAMS[i].name, "fee_rate") == 0) {
            printf("  %-21s %" PRIu32 "\n", "nbus", st->p.nbus);
            printf("  %-21s %s\n", "fee_matrix", fmt_fee_matrix(v, sizeof v, &st->p));
        }
    }
}

/* Read the parameters at the newest certified header and print them. */
static int show_params(struct rpc_opts *o, bool verify, bool as_json)
{
    struct node_lc_client c = lc_client(o, verify);
    struct node_lc_header h;
    struct params_state st;
    char why[512];
    int rc = node_lc_head(&c, &h, why, sizeof why);
    if (rc)
        return lc_fail(rc, "header", why);
    if ((rc = params_at(&c, &h, &st)))
        return rc;
    if (as_json) {
        json_t *j = params_json(&st);
        if (j)
            json_provenance(j, verify, &h);
        return print_json(j);
    }
    print_params(&st);
    print_provenance(o, verify, &h);
    return 0;
}

static void usage_params_show(FILE *f)
{
    fprintf(f, "usage: gridctl params show --genesis FILE [--rpc URL] [--no-verify] [--json]\n"
               "\n"
               "The market's parameters (\"mkt/params\": gl.MktParams), verified as `gridctl\n"
               "balance` verifies: slot length, gates, mechanism, fees, price band, seller\n"
               "margin, and settlement (metering window, meter epoch, imbalance markup,\n"
               "missing-reading penalty, strike limit, subsidy bounds).  A settlement field\n"
               "stored as 0 means its default and is shown as the default, marked so; when\n"
               "the operator never set any, their absence is proven and the defaults shown.\n"
               "\n"
               "exit status: 0 shown, 1 no answer or bad input, 2 usage error,\n"
               "3 verification failed.\n");
}

static void usage_params_set(FILE *f)
{
    fprintf(f,
            "usage: gridctl params set --key OPERATOR_KEY [FIELD OPTIONS] --genesis FILE\n"
            "           [--rpc URL] [--no-verify] [--wait] [--timeout SECONDS] [--json]\n"
            "\n"
            "Change market parameters (MKT_TX_SET_PARAMS, signed here by the operator's key).\n"
            "The transaction carries every parameter, so the current ones are read first,\n"
            "verified (\"mkt/params\" as `gridctl params show` reads it), and only the fields\n"
            "given here change: one option changes one thing.  Each change is printed on\n"
            "stderr (\"FIELD: OLD -> NEW\"); when none changes nothing is sent (exit 0).  A\n"
            "change committed by someone else between the read and this transaction is\n"
            "overwritten.  With --wait: the commit, then the parameters as `params show`.\n"
            "\n"
            "--slot-ms 900000|300000       the market's slot length (15 or 5 min)\n"
            "--day-ahead-lead-ms MS        day-ahead gate: the slot's UTC day start - MS\n"
            "--intraday-lead-ms MS         intraday gate: the slot's start - MS\n"
            "                              (both at most %" PRIu64 ")\n"
            "--mechanism uniform|p2p       uniform-price auction or P2P with grid fees\n"
            "--fee-model uniform|zonal|distance   P2P grid fees; zonal and distance need a\n"
            "                              matrix; uniform drops it\n"
            "--fee-rate MICRO_PER_KWH      the fee rate (times a matrix factor when zonal)\n"
            "--fee-matrix \"F,F;F,F\"        N rows of N factors [buyer bus][seller bus]\n"
            "                              (0 to %u; N, the buses, at most %u)\n"
            "--price-min P, --price-max P  the band of limit prices (micro/kWh)\n"
            "--seller-margin P             micro/kWh locked on sell orders\n"
            "--grid-bus N                  where the grid connects (P2P), below the buses\n"
            "--metering-window-ms MS       readings accepted until slot end + MS\n"
            "--meter-epoch-ms MS           meter slot 0 starts here (multiple of 15 min)\n"
            "--imbalance-markup-ppm N      imbalance prices N ppm worse than the tariff\n"
            "--missing-penalty MICRO       per participant and slot with a missing reading\n"
            "--strike-limit N              strikes at which a participant is suspended\n"
            "--mu-min-ppm N, --mu-max-ppm N   bounds of the renewable subsidy factor\n"
            "(settlement fields: 0 means the chain's default)\n"
            "\n"
            "--genesis FILE is required (what is signed depends on what is read), unless\n"
            "--no-verify believes the node for the current parameters and the nonce.\n"
            "\n"
            "exit status: 0 submitted (with --wait: committed and OK) or nothing to change,\n"
            "1 refused by the node, failed in its block (NOT_OPERATOR) or timed out, or a\n"
            "combination the chain refuses, 2 usage error, 3 verification failed.\n",
            MKT_LEAD_MS_MAX, MKT_PARAMS_MAX_FEE_FACTOR, MKT_PARAMS_MAX_BUS);
}

static int cmd_params_show(int argc, char **argv)
{
    struct rpc_opts o;
    bool no_verify = false, as_json = false;
    memset(&o, 0, sizeof o);
    const struct opt opts[] = {OPT_RPC(o), OPT_F("--no-verify", &no_verify),
                               OPT_F("--json", &as_json), OPT_END};
    int rc = parse_opts("params show", argc, argv, opts, usage_params_show);
    if (rc)
        return rc < 0 ? 0 : rc;
    if ((rc = need_genesis("params show", &o, no_verify)) || (rc = rpc_opts_finish(&o)))
        return rc;
    return show_params(&o, !no_verify, as_json);
}

/* What the chain's decoder refuses in a combination of fields (one field's
 * own range is checked as it is parsed).  0 or EXIT_BAD_INPUT after saying
 * why. */
static int params_check(const struct params_state *st)
{
    const struct mkt_tx_params *p = &st->p;
    const char *why = NULL;
    if (p->fee_model != MKT_TX_FEE_UNIFORM && !p->fee_matrix)
        why = "a zonal or distance fee model needs a fee matrix (--fee-matrix)";
    else if (p->grid_bus >= p->nbus)
        why = "the grid bus must be one of the buses (below nbus)";
    else if (p->price_min > p->price_max)
        why = "price_min is above price_max";
    else if (param_effective(p, &PARAMS[param_index("mu_min_ppm")]) >
             param_effective(p, &PARAMS[param_index("mu_max_ppm")]))
        why = "mu_min_ppm is above mu_max_ppm";
    for (uint32_t i = 0; !why && p->fee_matrix && i < p->nbus * p->nbus; i++)
        if ((__int128)p->fee_matrix[i] * p->fee_rate_micro_per_kwh > MKT_MAX_PRICE)
            why = "a fee (matrix factor x fee rate) is above the highest price";
    if (!why)
        return 0;
    fprintf(stderr, "gridctl: params set: refused here, the chain would refuse it too: %s\n", why);
    return EXIT_BAD_INPUT;
}

static int cmd_params_set(int argc, char **argv)
{
    struct rpc_opts o;
    const char *key = NULL, *timeout_s = NULL, *matrix_s = NULL, *vals[NPARAMS];
    bool wait = false, no_verify = false, as_json = false;
    struct opt opts[NPARAMS + 16];
    size_t n = 0;
    memset(&o, 0, sizeof o);
    memset(vals, 0, sizeof vals);
    opts[n++] = (struct opt)OPT_V("--rpc", &o.rpc);
    opts[n++] = (struct opt)OPT_V("--genesis", &o.genesis);
    opts[n++] = (struct opt)OPT_V("--key", &key);
    opts[n++] = (struct opt)OPT_V("--timeout", &timeout_s);
    opts[n++] = (struct opt)OPT_V("--fee-matrix", &matrix_s);
    opts[n++] = (struct opt)OPT_F("--wait", &wait);
    opts[n++] = (struct opt)OPT_F("--no-verify", &no_verify);
    opts[n++] = (struct opt)OPT_F("--json", &as_json);
    for (size_t i = 0; i < NPARAMS; i++)
        opts[n++] = (struct opt)OPT_V(param_opt(i), &vals[i]);
    opts[n++] = (struct opt)OPT_END;
    assert(n <= sizeof opts / sizeof opts[0]);
    int rc = parse_opts("params set", argc, argv, opts, usage_params_set);
    if (rc)
        return rc < 0 ? 0 : rc;
    uint64_t v[NPARAMS], timeout, height;
    bool any = matrix_s != NULL;
    for (size_t i = 0; i < NPARAMS; i++)
        if (vals[i]) {
            if ((rc = param_parse(i, vals[i], &v[i])))
                return rc;
            any = true;
        }
    if (!key || !any) {
        fprintf(stderr, "gridctl: params set needs --key and at least one field to change\n");
        usage_params_set(stderr);
        return EXIT_USAGE;
    }
    struct params_state cur, next;
    uint32_t matrix[MKT_PARAMS_MAX_BUS * MKT_PARAMS_MAX_BUS], nbus = 0;
    if (matrix_s && (rc = parse_fee_matrix(matrix_s, matrix, &nbus)))
        return rc;
    if ((rc = parse_timeout(timeout_s, &timeout)) ||
        (rc = need_genesis("params set", &o, no_verify)) || (rc = rpc_opts_finish(&o)))
        return rc;
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES], hash[CHAIN_HASH_BYTES], *payload;
    size_t plen;
    if (key_read(key, pk, sk) != 0)
        return EXIT_BAD_INPUT;
    struct node_lc_client c = lc_client(&o, !no_verify);
    struct node_lc_header h;
    char a[FEE_MATRIX_TEXT_BYTES], b[FEE_MATRIX_TEXT_BYTES];
    char why[512];
    if ((rc = node_lc_head(&c, &h, why, sizeof why))) {
        rc = lc_fail(rc, "header", why);
        goto done;
    }
    if ((rc = params_at(&c, &h, &cur)))
        goto done;
    /* next: what is stored, with the fields given here */
    params_copy(&next, &cur);
    for (size_t i = 0; i < NPARAMS; i++)
        if (vals[i])
            param_put(&next.p, &PARAMS[i], v[i]);
    if (matrix_s) {
        memcpy(next.matrix, matrix, sizeof matrix);
        next.p.nbus = nbus;
        next.p.fee_matrix = next.matrix;
    } else if (vals[param_index("fee_model")] && next.p.fee_model == MKT_TX_FEE_UNIFORM) {
        next.p.fee_matrix = NULL; /* the uniform model has no matrix */
    }
    if ((rc = params_check(&next)))
        goto done;
    bool changed = false;
    for (size_t i = 0; i < NPARAMS; i++)
        if (param_get(&cur.p, &PARAMS[i]) != param_get(&next.p, &PARAMS[i])) {
            fprintf(stderr, "gridctl: %s: %s -> %s\n", PARAMS[i].name,
                    fmt_param(a, sizeof a, &cur.p, &PARAMS[i]),
                    fmt_param(b, sizeof b, &next.p, &PARAMS[i]));
            changed = true;
        }
    if (cur.p.nbus != next.p.nbus)
        fprintf(stderr, "gridctl: nbus: %" PRIu32 " -> %" PRIu32 "\n", cur.p.nbus, next.p.nbus);
    if (!fee_matrix_equal(&cur.p, &next.p)) {
        fprintf(stderr, "gridctl: fee_matrix: %s -> %s\n", fmt_fee_matrix(a, sizeof a, &cur.p),
                fmt_fee_matrix(b, sizeof b, &next.p));
        changed = true;
    }
    if (!changed) {
        fprintf(stderr,
                "gridctl: params set: nothing to change (the parameters at height %" PRIu64
                " already have these values); nothing sent\n",
                h.height);
        rc = 0;
        goto done;
    }
    if (mkt_payload_set_params(&next.p, &payload, &plen) != CHAIN_ERR_OK) {
        fprintf(stderr, "gridctl: cannot build the parameters change\n");
        rc = EXIT_BAD_INPUT;
        goto done;
    }
    rc = sign_submit(&o, pk, sk, GL__MKT_TX_TYPE__MKT_TX_SET_PARAMS, payload, plen,
                     "parameters change", wait, timeout, hash, &height);
    if (!rc && wait)
        rc = show_params(&o, o.have_trust, as_json);
done:
    sodium_memzero(sk, sizeof sk);
    return rc;
}

static const struct command PARAMS_COMMANDS[] = {
    {"show", "the market's parameters, verified", cmd_params_show},
    {"set", "operator: change market parameters, the others as they are (signed here)",
     cmd_params_set},
    {NULL, NULL, NULL},
};

static void usage_params(FILE *f)
{
    fprintf(f, "usage: gridctl params <command> [--help]\n");
    list_commands(f, PARAMS_COMMANDS);
}

static int cmd_params(int argc, char **argv)
{
    return dispatch("gridctl params", PARAMS_COMMANDS, usage_params, argc - 1, argv + 1);
}

/* ---- gridctl tariff: the grid's prices per slot (shadow centre) ---- */

/* A week of quarter hours: what one `tariff post` or `tariff show` spans at
 * most (tariffs are posted at most MKT_HORIZON_MS_MAX ahead). */
#define GRIDCTL_TARIFF_MAX_SLOTS 672u

/* --count N (default 1, at most max).  0 or EXIT_USAGE. */
static int parse_count(const char *s, uint64_t max, uint64_t *out)
{
    *out = 1;
    if (s && (parse_u64(s, out) != 0 || *out == 0 || *out > max)) {
        fprintf(stderr, "gridctl: --count must be from 1 to %" PRIu64 "\n", max);
        return EXIT_USAGE;
    }
    return 0;
}

/* The market's slot length at h (params_at), and that slot .. slot + (count
 * - 1) slots are slot starts.  0 or an exit status. */
static int tariff_slots(const struct node_lc_client *c, const struct node_lc_header *h,
                        uint64_t slot, uint64_t count, uint64_t *slot_ms)
{
    struct params_state st;
    int rc = params_at(c, h, &st);
    if (rc)
        return rc;
    *slot_ms = st.p.slot_ms;
    if (*slot_ms == 0 || slot % *slot_ms != 0) {
        fprintf(stderr,
                "gridctl: --slot-start-ms %" PRIu64 " is not a slot start: the market's slots are "
                "%" PRIu64 " ms long (parameters at height %" PRIu64 ")\n",
                slot, *slot_ms, h->height);
        return EXIT_BAD_INPUT;
    }
    if (slot > (uint64_t)INT64_MAX - (count - 1) * *slot_ms) {
        fprintf(stderr, "gridctl: --slot-start-ms plus --count slots is beyond the last time\n");
        return EXIT_BAD_INPUT;
    }
    return 0;
}

/* Read the tariffs of count slots from slot under one certified header and
 * print them.  0 (also for slots without one: proven absent) or an exit
 * status. */
static int show_tariffs(struct rpc_opts *o, bool verify, uint32_t commodity, uint64_t slot,
                        uint64_t count, bool as_json)
{
    struct node_lc_client c = lc_client(o, verify);
    struct node_lc_header h;
    uint64_t slot_ms = 0;
    char why[512], t[64];
    int rc = node_lc_head(&c, &h, why, sizeof why);
    if (rc)
        return lc_fail(rc, "header", why);
    if ((rc = tariff_slots(&c, &h, slot, count, &slot_ms)))
        return rc;
    json_t *arr = json_array();
    if (!arr)
        return print_json(NULL);
    if (!as_json) {
        printf("%s tariffs of %" PRIu64 " slot%s of %" PRIu64 " min from %s\n",
               commodity_name(commodity), count, count == 1 ? "" : "s", slot_ms / 60000,
               fmt_utc(t, sizeof t, slot));
        printf("%-23s %-14s %10s %10s %s\n", "slot", "slot_start_ms", "retail", "feed_in",
               "posted by (the grid's account)");
    }
    for (uint64_t i = 0; i < count; i++) {
        uint64_t s = slot + i * slot_ms;
        uint8_t key[MKT_KEY_TARIFF_BYTES];
        ProtobufCMessage *m;
        mkt_key_tariff(key, commodity, s);
        if ((rc = node_lc_msg_at(&c, &h, key, sizeof key, &gl__mkt_tariff_state__descriptor, &m,
                                 why, sizeof why))) {
            json_decref(arr);
            return lc_fail(rc, "tariff answer", why);
        }
        const Gl__MktTariffState *ts = (const Gl__MktTariffState *)m;
        char acct[2 * CHAIN_PK_BYTES + 1] = "?";
        if (ts && ts->grid_account.len == CHAIN_PK_BYTES)
            chain_hex(acct, ts->grid_account.data, CHAIN_PK_BYTES);
        if (as_json) {
            json_t *j =
                json_pack("{s:I, s:b}", "slot_start_ms", (json_int_t)s, "posted", ts != NULL);
            if (j && ts) {
                json_object_set_new(j, "retail", ju(ts->retail));
                json_object_set_new(j, "feed_in", ju(ts->feed_in));
                json_object_set_new(j, "grid_account", json_string(acct));
            }
            json_array_append_new(arr, j);
        } else if (ts) {
            printf("%-23s %-14" PRIu64 " %10" PRIu64 " %10" PRIu64 " %s\n", fmt_utc(t, sizeof t, s),
                   s, ts->retail, ts->feed_in, acct);
        } else {
            printf("%-23s %-14" PRIu64 " none posted (proven absent)\n", fmt_utc(t, sizeof t, s),
                   s);
        }
        protobuf_c_message_free_unpacked(m, NULL);
    }
    if (as_json) {
        json_t *j = json_pack("{s:s, s:I, s:o}", "commodity", commodity_name(commodity), "slot_ms",
                              (json_int_t)slot_ms, "tariffs", arr);
        if (j)
            json_provenance(j, verify, &h);
        return print_json(j);
    }
    json_decref(arr);
    printf("prices in micro-units per kWh (1 token = 1000000); without a tariff the book clears "
           "without the grid\n");
    print_provenance(o, verify, &h);
    return 0;
}

static void usage_tariff_post(FILE *f)
{
    fprintf(f,
            "usage: gridctl tariff post --key SHADOW_KEY --slot-start-ms T [--count N]\n"
            "           --retail MICRO_PER_KWH --feed-in MICRO_PER_KWH\n"
            "           [--commodity electricity|heat] [--rpc URL] [--genesis FILE] [--wait]\n"
            "           [--timeout SECONDS] [--json]\n"
            "\n"
            "Post the grid's tariff (MKT_TX_POST_TARIFF, signed here by the shadow centre's\n"
            "key) for N consecutive slots from T (N of the market's slot length, read from its\n"
            "parameters; default 1, at most %u): the grid sells without limit at the retail\n"
            "price and buys at the feed-in price.  One transaction per slot, signed with\n"
            "consecutive nonces (read as `gridctl transfer` reads it) and submitted at once;\n"
            "prints their hashes in slot order.  The slot length is verified with --genesis,\n"
            "else taken from the node.  A slot's tariff can be posted until its intraday\n"
            "gate; posting again replaces it.  With --wait: each commit, then the tariffs as\n"
            "`gridctl tariff show` prints them.\n"
            "\n"
            "--slot-start-ms T   the first slot's start (ms since 1970, UTC; a slot start)\n"
            "--retail P          micro-units per kWh (at most %" PRId64 ")\n"
            "--feed-in P         micro-units per kWh, at most the retail price\n"
            "\n"
            "exit status: 0 submitted (with --wait: committed and OK), 1 refused by the node,\n"
            "failed in its block (NOT_SHADOW_CENTRE, GATE_CLOSED, BOOK_CLEARED,\n"
            "SLOT_BEYOND_HORIZON) or timed out, 2 usage error, 3 verification failed.\n",
            GRIDCTL_TARIFF_MAX_SLOTS, MKT_MAX_PRICE);
}

static void usage_tariff_show(FILE *f)
{
    fprintf(f, "usage: gridctl tariff show --slot-start-ms T [--count N]\n"
               "           [--commodity electricity|heat] --genesis FILE [--rpc URL]\n"
               "           [--no-verify] [--json]\n"
               "\n"
               "The grid's tariff of N consecutive slots from T (\"mkt/t/\" commodity slot:\n"
               "gl.MktTariffState: retail and feed-in price and the account that posted it),\n"
               "all verified under one certified header as `gridctl balance` verifies, with\n"
               "the slot length from the market's parameters under the same header.  A slot\n"
               "without a tariff is proven absent and said so.\n"
               "\n"
               "exit status: 0 shown (also: none posted, proven), 1 no answer or bad input\n"
               "(T not a slot start), 2 usage error, 3 verification failed.\n");
}

static int cmd_tariff_post(int argc, char **argv)
{
    struct rpc_opts o;
    const char *key = NULL, *slot_s = NULL, *count_s = NULL, *retail_s = NULL, *feed_s = NULL;
    const char *commodity_s = NULL, *timeout_s = NULL;
    bool wait = false, as_json = false;
    memset(&o, 0, sizeof o);
    const struct opt opts[] = {OPT_RPC(o),
                               OPT_V("--key", &key),
                               OPT_V("--slot-start-ms", &slot_s),
                               OPT_V("--count", &count_s),
                               OPT_V("--retail", &retail_s),
                               OPT_V("--feed-in", &feed_s),
                               OPT_V("--commodity", &commodity_s),
                               OPT_V("--timeout", &timeout_s),
                               OPT_F("--wait", &wait),
                               OPT_F("--json", &as_json),
                               OPT_END};
    int rc = parse_opts("tariff post", argc, argv, opts, usage_tariff_post);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!key || !slot_s || !retail_s || !feed_s) {
        fprintf(stderr, "gridctl: tariff post needs --key, --slot-start-ms, --retail and "
                        "--feed-in\n");
        usage_tariff_post(stderr);
        return EXIT_USAGE;
    }
    uint32_t commodity;
    uint64_t slot, count, retail, feed_in, timeout;
    if ((rc = parse_num("--slot-start-ms", slot_s, (uint64_t)INT64_MAX, &slot)) ||
        (rc = parse_count(count_s, GRIDCTL_TARIFF_MAX_SLOTS, &count)) ||
        (rc = parse_num("--retail", retail_s, (uint64_t)MKT_MAX_PRICE, &retail)) ||
        (rc = parse_num("--feed-in", feed_s, (uint64_t)MKT_MAX_PRICE, &feed_in)) ||
        (rc = parse_commodity(commodity_s, &commodity)) ||
        (rc = parse_timeout(timeout_s, &timeout)))
        return rc;
    if (slot == 0 || feed_in > retail) {
        fprintf(stderr, "gridctl: %s\n",
                slot == 0 ? "--slot-start-ms must be a slot's start, not 0"
                          : "--feed-in may not exceed --retail (the grid would buy dearer than "
                            "it sells)");
        return EXIT_USAGE;
    }
    if ((rc = rpc_opts_finish(&o)))
        return rc;
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES], *hashes = NULL;
    char chain_id[CHAIN_CHAIN_ID_MAX_BYTES + 1], why[512], hex[2 * CHAIN_HASH_BYTES + 1];
    uint64_t nonce, slot_ms, height, sent = 0;
    if (key_read(key, pk, sk) != 0)
        return EXIT_BAD_INPUT;
    struct node_lc_client c = lc_client(&o, o.have_trust);
    struct node_lc_header h;
    if ((rc = node_lc_head(&c, &h, why, sizeof why))) {
        rc = lc_fail(rc, "header", why);
        goto done;
    }
    if ((rc = tariff_slots(&c, &h, slot, count, &slot_ms)) ||
        (rc = chain_and_nonce(&o, pk, chain_id, &nonce)))
        goto done;
    if (!o.have_trust)
        fprintf(stderr,
                "gridctl: note: slot length %" PRIu64
                " ms taken from the node unverified (pass --genesis to verify)\n",
                slot_ms);
    if (!(hashes = malloc(count * CHAIN_HASH_BYTES))) {
        fprintf(stderr, "gridctl: out of memory\n");
        rc = EXIT_BAD_INPUT;
        goto done;
    }
    for (; sent < count; sent++) {
        uint8_t *payload;
        size_t plen;
        if (mkt_payload_post_tariff(commodity, slot + sent * slot_ms, retail, feed_in, &payload,
                                    &plen) != CHAIN_ERR_OK) {
            fprintf(stderr, "gridctl: cannot build the tariff\n");
            rc = EXIT_BAD_INPUT;
            break;
        }
        if ((rc = submit_signed(&o, chain_id, nonce + sent, pk, sk,
                                GL__MKT_TX_TYPE__MKT_TX_POST_TARIFF, payload, plen,
                                hashes + sent * CHAIN_HASH_BYTES)))
            break;
    }
    if (rc && sent)
        fprintf(stderr,
                "gridctl: the tariffs of the first %" PRIu64 " of %" PRIu64
                " slots were submitted, the others not\n",
                sent, count);
    for (uint64_t i = 0; !rc && wait && i < count; i++) {
        chain_hex(hex, hashes + i * CHAIN_HASH_BYTES, CHAIN_HASH_BYTES);
        rc = wait_commit(&o, hex, "tariff", timeout, &height);
    }
    if (!rc && wait)
        rc = show_tariffs(&o, o.have_trust, commodity, slot, count, as_json);
done:
    sodium_memzero(sk, sizeof sk);
    free(hashes);
    return rc;
}

static int cmd_tariff_show(int argc, char **argv)
{
    struct rpc_opts o;
    const char *slot_s = NULL, *count_s = NULL, *commodity_s = NULL;
    bool no_verify = false, as_json = false;
    memset(&o, 0, sizeof o);
    const struct opt opts[] = {OPT_RPC(o),
                               OPT_V("--slot-start-ms", &slot_s),
                               OPT_V("--count", &count_s),
                               OPT_V("--commodity", &commodity_s),
                               OPT_F("--no-verify", &no_verify),
                               OPT_F("--json", &as_json),
                               OPT_END};
    int rc = parse_opts("tariff show", argc, argv, opts, usage_tariff_show);
    if (rc)
        return rc < 0 ? 0 : rc;
    uint32_t commodity;
    uint64_t slot, count;
    if (!slot_s) {
        fprintf(stderr, "gridctl: tariff show needs --slot-start-ms T\n");
        usage_tariff_show(stderr);
        return EXIT_USAGE;
    }
    if ((rc = parse_num("--slot-start-ms", slot_s, (uint64_t)INT64_MAX, &slot)) ||
        (rc = parse_count(count_s, GRIDCTL_TARIFF_MAX_SLOTS, &count)) ||
        (rc = parse_commodity(commodity_s, &commodity)) ||
        (rc = need_genesis("tariff show", &o, no_verify)) || (rc = rpc_opts_finish(&o)))
        return rc;
    return show_tariffs(&o, !no_verify, commodity, slot, count, as_json);
}

static const struct command TARIFF_COMMANDS[] = {
    {"post", "shadow centre: post the grid's prices for slots (signed here)", cmd_tariff_post},
    {"show", "the grid's prices for slots, verified", cmd_tariff_show},
    {NULL, NULL, NULL},
};

static void usage_tariff(FILE *f)
{
    fprintf(f, "usage: gridctl tariff <command> [--help]\n");
    list_commands(f, TARIFF_COMMANDS);
}

static int cmd_tariff(int argc, char **argv)
{
    return dispatch("gridctl tariff", TARIFF_COMMANDS, usage_tariff, argc - 1, argv + 1);
}

/* ---- gridctl meter readings: what the chain holds for a meter ---- */

/* A week of 5-minute slots: what one `meter readings` reads at most (two
 * proven reads per slot). */
#define GRIDCTL_READINGS_MAX_SLOTS 2016u

/* "FROM:TO", slot indices, both included, at most GRIDCTL_READINGS_MAX_SLOTS
 * of them.  0 or -1. */
static int parse_slot_range(const char *s, uint64_t *from, uint64_t *to)
{
    const char *colon = strchr(s, ':');
    char lo[24];
    if (!colon || (size_t)(colon - s) >= sizeof lo)
        return -1;
    memcpy(lo, s, (size_t)(colon - s));
    lo[colon - s] = '\0';
    if (parse_u64(lo, from) != 0 || parse_u64(colon + 1, to) != 0 || *to < *from ||
        *to > MKT_READING_MAX_SLOT_INDEX || *to - *from >= GRIDCTL_READINGS_MAX_SLOTS)
        return -1;
    return 0;
}

static void usage_meter_readings(FILE *f)
{
    fprintf(f,
            "usage: gridctl meter readings --meter HEX (--slots FROM:TO | --slot-start-ms T\n"
            "           [--count N]) --genesis FILE [--rpc URL] [--no-verify] [--json]\n"
            "\n"
            "The readings a meter put on the chain, one slot at a time, all verified under one\n"
            "certified header as `gridctl balance` verifies: for every slot the reading\n"
            "(\"meter/\" meter slot: gl.MeterReading, the bytes the meter signed) or its proven\n"
            "absence, and any conflict evidence (\"mkt/ev/\" meter slot: a second, different\n"
            "reading for the slot, recorded and not applied); then the meter account's nonce\n"
            "(one per reading transaction it sent).  Slots are indices since the market's\n"
            "meter epoch, as gridmeter numbers them; --slot-start-ms T [--count N] names them\n"
            "by time instead, with the slot length and epoch of the market's parameters under\n"
            "the same header.  At most %u slots.\n"
            "\n"
            "--meter HEX        the meter's public key (64 hex digits)\n"
            "--slots FROM:TO    slot indices, both included\n"
            "\n"
            "exit status: 0 shown (also: no readings, proven), 1 no answer or bad input,\n"
            "2 usage error, 3 verification failed.\n",
            GRIDCTL_READINGS_MAX_SLOTS);
}

static int cmd_meter_readings(int argc, char **argv)
{
    struct rpc_opts o;
    const char *meter_s = NULL, *slots_s = NULL, *start_s = NULL, *count_s = NULL;
    bool no_verify = false, as_json = false;
    memset(&o, 0, sizeof o);
    const struct opt opts[] = {OPT_RPC(o),
                               OPT_V("--meter", &meter_s),
                               OPT_V("--slots", &slots_s),
                               OPT_V("--slot-start-ms", &start_s),
                               OPT_V("--count", &count_s),
                               OPT_F("--no-verify", &no_verify),
                               OPT_F("--json", &as_json),
                               OPT_END};
    int rc = parse_opts("meter readings", argc, argv, opts, usage_meter_readings);
    if (rc)
        return rc < 0 ? 0 : rc;
    uint8_t meter[CHAIN_PK_BYTES];
    uint64_t from = 0, to = 0, start = 0, count = 1;
    if (!meter_s || !slots_s == !start_s || (slots_s && count_s)) {
        fprintf(stderr, "gridctl: meter readings needs --meter and either --slots FROM:TO or "
                        "--slot-start-ms T [--count N]\n");
        usage_meter_readings(stderr);
        return EXIT_USAGE;
    }
    if (chain_hex_decode(meter_s, strlen(meter_s), meter, CHAIN_PK_BYTES) != 0) {
        fprintf(stderr, "gridctl: --meter must be a meter's public key: 64 hex digits\n");
        return EXIT_USAGE;
    }
    if (slots_s && parse_slot_range(slots_s, &from, &to) != 0) {
        fprintf(stderr,
                "gridctl: --slots must be FROM:TO, slot indices with FROM <= TO (at most %u "
                "slots)\n",
                GRIDCTL_READINGS_MAX_SLOTS);
        return EXIT_USAGE;
    }
    if (start_s && ((rc = parse_num("--slot-start-ms", start_s, (uint64_t)INT64_MAX, &start)) ||
                    (rc = parse_count(count_s, GRIDCTL_READINGS_MAX_SLOTS, &count))))
        return rc;
    if ((rc = need_genesis("meter readings", &o, no_verify)) || (rc = rpc_opts_finish(&o)))
        return rc;
    bool verify = !no_verify;
    struct node_lc_client c = lc_client(&o, verify);
    struct node_lc_header h;
    struct params_state st;
    struct chain_account acct;
    char why[512], t[64], hex[2 * CHAIN_PK_BYTES + 1];
    if ((rc = node_lc_head(&c, &h, why, sizeof why)))
        return lc_fail(rc, "header", why);
    if ((rc = params_at(&c, &h, &st)))
        return rc;
    const uint64_t slot_ms = st.p.slot_ms, epoch = st.p.meter_epoch_ms;
    if (start_s) { /* the slot indices of the times asked for */
        if (start < epoch || (start - epoch) % slot_ms != 0 ||
            (start - epoch) / slot_ms + count - 1 > MKT_READING_MAX_SLOT_INDEX) {
            fprintf(stderr,
                    "gridctl: --slot-start-ms %" PRIu64 " is not a slot start of the meters: "
                    "slots of %" PRIu64 " ms from the meter epoch %" PRIu64
                    " ms (parameters at height %" PRIu64 ")\n",
                    start, slot_ms, epoch, h.height);
            return EXIT_BAD_INPUT;
        }
        from = (start - epoch) / slot_ms;
        to = from + count - 1;
    }
    json_t *readings = json_array(), *evidence = json_array();
    uint64_t present = 0, conflicts = 0;
    chain_hex(hex, meter, CHAIN_PK_BYTES);
    if (!as_json) {
        printf("readings of meter %s, slots %" PRIu64 "..%" PRIu64 " (%" PRIu64
               " min each from the meter epoch %s)\n",
               hex, from, to, slot_ms / 60000, fmt_utc(t, sizeof t, epoch));
        printf("%-10s %-23s %10s %10s %14s %14s %5s %s\n", "slot", "start", "import_wh",
               "export_wh", "cum_import_wh", "cum_export_wh", "flags", "slot_len_s");
    }
    for (uint64_t s = from; s <= to; s++) {
        uint8_t rkey[MKT_KEY_READING_BYTES], ekey[MKT_KEY_EVIDENCE_BYTES];
        ProtobufCMessage *rm = NULL, *em = NULL;
        const uint64_t slot_start = epoch + s * slot_ms; /* s <= 2^40, slot_ms <= 900000 */
        mkt_key_reading(rkey, meter, s);
        mkt_key_evidence(ekey, meter, s);
        if ((rc = node_lc_msg_at(&c, &h, rkey, sizeof rkey, &gl__meter_reading__descriptor, &rm,
                                 why, sizeof why)) ||
            (rc = node_lc_msg_at(&c, &h, ekey, sizeof ekey, &gl__mkt_reading_evidence__descriptor,
                                 &em, why, sizeof why))) {
            protobuf_c_message_free_unpacked(rm, NULL);
            json_decref(readings);
            json_decref(evidence);
            return lc_fail(rc, "reading answer", why);
        }
        const Gl__MeterReading *r = (const Gl__MeterReading *)rm;
        const Gl__MktReadingEvidence *ev = (const Gl__MktReadingEvidence *)em;
        if (r && (r->meter.len != CHAIN_PK_BYTES || memcmp(r->meter.data, meter, CHAIN_PK_BYTES) ||
                  r->slot != s)) {
            fprintf(stderr,
                    "gridctl: REFUSED: the reading proven under slot %" PRIu64
                    "'s key names another meter or slot\n",
                    s);
            protobuf_c_message_free_unpacked(rm, NULL);
            protobuf_c_message_free_unpacked(em, NULL);
            json_decref(readings);
            json_decref(evidence);
            return EXIT_UNVERIFIED;
        }
        if (r) {
            present++;
            if (as_json)
                json_array_append_new(
                    readings,
                    json_pack("{s:I, s:I, s:o, s:o, s:o, s:o, s:i, s:i}", "slot", (json_int_t)s,
                              "slot_start_ms", (json_int_t)slot_start, "import_wh",
                              ju(r->import_wh), "export_wh", ju(r->export_wh), "cum_import_wh",
                              ju(r->cum_import_wh), "cum_export_wh", ju(r->cum_export_wh), "flags",
                              (int)r->flags, "slot_len_s", (int)r->slot_len_s));
            else
                printf("%-10" PRIu64 " %-23s %10" PRIu64 " %10" PRIu64 " %14" PRIu64 " %14" PRIu64
                       " %5u %u\n",
                       s, fmt_utc(t, sizeof t, slot_start), r->import_wh, r->export_wh,
                       r->cum_import_wh, r->cum_export_wh, r->flags, r->slot_len_s);
        } else if (!as_json) {
            printf("%-10" PRIu64 " %-23s no reading (proven absent)\n", s,
                   fmt_utc(t, sizeof t, slot_start));
        }
        if (ev) {
            conflicts++;
            if (as_json)
                json_array_append_new(evidence, json_pack("{s:I, s:I}", "slot", (json_int_t)s,
                                                          "height", (json_int_t)ev->height));
            else
                printf("%-10" PRIu64 " CONFLICT: a second, different reading was recorded as "
                       "evidence at height %" PRIu64 " (not applied)\n",
                       s, ev->height);
        }
        protobuf_c_message_free_unpacked(rm, NULL);
        protobuf_c_message_free_unpacked(em, NULL);
    }
    /* the meter account under the same header: its nonce counts its reading transactions */
    if ((rc = node_lc_account_at(&c, &h, meter, &acct, why, sizeof why))) {
        json_decref(readings);
        json_decref(evidence);
        return lc_fail(rc, "account answer", why);
    }
    if (as_json) {
        json_t *j =
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:I, s:o, s:b, s:I}", "meter", hex, "from",
                      (json_int_t)from, "to", (json_int_t)to, "slot_ms", (json_int_t)slot_ms,
                      "meter_epoch_ms", (json_int_t)epoch, "readings", readings, "absent",
                      (json_int_t)(to - from + 1 - present), "evidence", evidence,
                      "meter_account_exists", acct.exists, "meter_nonce", (json_int_t)acct.nonce);
        if (j)
            json_provenance(j, verify, &h);
        return print_json(j);
    }
    json_decref(readings);
    json_decref(evidence);
    printf("%" PRIu64 " reading%s, %" PRIu64 " slot%s without one, %" PRIu64
           " with conflict evidence; the meter account's nonce is %" PRIu64 "%s\n",
           present, present == 1 ? "" : "s", to - from + 1 - present,
           to - from + 1 - present == 1 ? "" : "s", conflicts, acct.nonce,
           acct.exists ? " (one per transaction it sent)" : " (the account does not exist)");
    print_provenance(&o, verify, &h);
    return 0;
}

static const struct command METER_COMMANDS[] = {
    {"readings", "a meter's readings on the chain, slot by slot, verified", cmd_meter_readings},
    {NULL, NULL, NULL},
};

static void usage_meter(FILE *f)
{
    fprintf(f, "usage: gridctl meter <command> [--help]\n");
    list_commands(f, METER_COMMANDS);
}

static int cmd_meter(int argc, char **argv)
{
    return dispatch("gridctl meter", METER_COMMANDS, usage_meter, argc - 1, argv + 1);
}

/* ---- gridctl market close: the operator clears a book before its gate ---- */

static void usage_market_close(FILE *f)
{
    fprintf(f, "usage: gridctl market close --key OPERATOR_KEY --slot-start-ms T\n"
               "           [--commodity electricity|heat] [--market day-ahead|intraday]\n"
               "           [--rpc URL] [--genesis FILE] [--wait] [--timeout SECONDS] [--json]\n"
               "\n"
               "Close and clear one book now, before its gate (MKT_TX_CLEAR, signed here by the\n"
               "operator's key): the chain clears it in that block with its own clearing core\n"
               "and stores the result, as it would at the gate.  An empty book is closed with\n"
               "an empty result; an intraday book only after its day-ahead book.  Prints the\n"
               "transaction hash (the nonce read as `gridctl transfer` reads it); with --wait,\n"
               "the commit and then the result as `gridctl results` prints it (verified with\n"
               "--genesis).  `gridctl market clear` is the offline clearing of a JSON book.\n"
               "\n"
               "exit status: 0 submitted (with --wait: committed and OK), 1 refused by the node,\n"
               "failed in its block (NOT_OPERATOR, SLOT_MISALIGNED, BOOK_CLEARED,\n"
               "DAY_AHEAD_NOT_CLEARED) or timed out, 2 usage error, 3 verification failed.\n");
}

static int cmd_market_close(int argc, char **argv)
{
    struct rpc_opts o;
    const char *key = NULL, *slot_s = NULL, *commodity_s = NULL, *market_s = NULL;
    const char *timeout_s = NULL;
    bool wait = false, as_json = false;
    memset(&o, 0, sizeof o);
    const struct opt opts[] = {OPT_RPC(o),
                               OPT_V("--key", &key),
                               OPT_V("--slot-start-ms", &slot_s),
                               OPT_V("--commodity", &commodity_s),
                               OPT_V("--market", &market_s),
                               OPT_V("--timeout", &timeout_s),
                               OPT_F("--wait", &wait),
                               OPT_F("--json", &as_json),
                               OPT_END};
    int rc = parse_opts("market close", argc, argv, opts, usage_market_close);
    if (rc)
        return rc < 0 ? 0 : rc;
    if (!key || !slot_s) {
        fprintf(stderr, "gridctl: market close needs --key and --slot-start-ms\n");
        usage_market_close(stderr);
        return EXIT_USAGE;
    }
    uint32_t commodity, market;
    uint64_t slot, timeout, height;
    if ((rc = parse_num("--slot-start-ms", slot_s, (uint64_t)INT64_MAX, &slot)) ||
        (rc = parse_commodity(commodity_s, &commodity)) || (rc = parse_market(market_s, &market)) ||
        (rc = parse_timeout(timeout_s, &timeout)) || (rc = rpc_opts_finish(&o)))
        return rc;
    uint8_t pk[CHAIN_PK_BYTES], sk[CHAIN_SK_BYTES], hash[CHAIN_HASH_BYTES], *payload;
    size_t plen;
    if (key_read(key, pk, sk) != 0)
        return EXIT_BAD_INPUT;
    if (mkt_payload_clear(commodity, market, slot, &payload, &plen) != CHAIN_ERR_OK) {
        sodium_memzero(sk, sizeof sk);
        fprintf(stderr, "gridctl: cannot build the clearing\n");
        return EXIT_BAD_INPUT;
    }
    rc = sign_submit(&o, pk, sk, GL__MKT_TX_TYPE__MKT_TX_CLEAR, payload, plen, "clearing", wait,
                     timeout, hash, &height);
    sodium_memzero(sk, sizeof sk);
    if (rc || !wait)
        return rc;
    return show_result(&o, o.have_trust, commodity, market, slot, NULL, as_json);
}

/* ---- gridctl market ---- */

static const struct command MARKET_COMMANDS[] = {
    {"clear", "clear one book (JSON on stdin) with the chain's clearing core", cmd_market_clear},
    {"close", "operator: close and clear a book on the chain now (signed here)", cmd_market_close},
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
        "or listed in the node's shadow_allowed_keys); the node signs the Mint with its own shadow key.\n"
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
    {"participant", "operator: register a participant; show one, verified", cmd_participant},
    {"order", "place, cancel (signed here) or show an order, verified", cmd_order},
    {"orders", "the open orders of a book, each verified (completeness not proven)", cmd_orders},
    {"results", "a book's clearing result and an order's fill, verified", cmd_results},
    {"bill", "a participant's bill of one UTC day, verified", cmd_bill},
    {"params", "the market's parameters: show, verified; set (operator)", cmd_params},
    {"tariff", "the grid's prices per slot: post (shadow centre); show, verified", cmd_tariff},
    {"market", "clear a JSON book offline; close a book on the chain (operator)", cmd_market},
    {"meter", "a meter's readings on the chain, verified", cmd_meter},
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
