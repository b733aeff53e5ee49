/* gridctl.c -- the operator's command-line tool: a dispatcher of subcommands.
 *
 * Today: `gridctl market clear`, the standalone clearing of one book with the
 * chain's own clearing core (issue 4, point 6).  Issue 5 adds keygen, status,
 * transfer and balance as further entries in the tables below.
 *
 * Exit status: 0 success, 1 bad input (the message on stderr names the field),
 * 2 usage error (unknown command or option). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_book_json.h"

#define EXIT_BAD_INPUT 1
#define EXIT_USAGE     2

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
static int dispatch(const char *path, const struct command *cmds, void (*usage)(FILE *),
                    int argc, char **argv)
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
    fprintf(f,
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
            "         \"orders\": [{\"id\": \"o1\", \"participant\": \"alice\", \"side\": \"buy\"|\"sell\",\n"
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

/* ---- gridctl ---- */

static const struct command COMMANDS[] = {
    {"market", "the energy market: clear a book", cmd_market},
    {NULL, NULL, NULL},
};

static void usage_top(FILE *f)
{
    fprintf(f, "usage: gridctl <command> [<subcommand>] [--help]\n"
               "\n"
               "gridledger's command-line tool.  `gridctl <command> --help` for more.\n");
    list_commands(f, COMMANDS);
    fprintf(f, "\nexit status: 0 success, 1 bad input, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    return dispatch("gridctl", COMMANDS, usage_top, argc - 1, argv + 1);
}
