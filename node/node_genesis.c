/* node_genesis.c -- genesis.json, key files and the node config file. */
#include "node_genesis.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chain_crypto.h"

static int fail_msg(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_msg(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

bool node_unhex(uint8_t *out, size_t n, const char *hex)
{
    if (!hex || strlen(hex) != 2 * n)
        return false;
    for (size_t i = 0; i < 2 * n; i++) {
        char ch = hex[i];
        int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (v < 0)
            return false;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] = (uint8_t)(out[i / 2] | v);
    }
    return true;
}

bool node_parse_addr(const char *s, char host[static NODE_HOST_MAX + 1], uint16_t *port)
{
    const char *colon = s ? strrchr(s, ':') : NULL;
    if (!colon || colon == s || (size_t)(colon - s) > NODE_HOST_MAX || !colon[1])
        return false;
    unsigned long p = 0;
    for (const char *q = colon + 1; *q; q++) {
        if (*q < '0' || *q > '9' || p > 65535)
            return false;
        p = p * 10 + (unsigned long)(*q - '0');
    }
    if (p > 65535)
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    *port = (uint16_t)p;
    return true;
}

int node_read_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail_msg(err, errlen, NODE_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    char *buf = malloc(max + 1);
    if (!buf) {
        fclose(f);
        return CHAIN_ERR_NOMEM;
    }
    size_t n = fread(buf, 1, max + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n > max) {
        free(buf);
        return fail_msg(err, errlen, NODE_ERR_IO,
                        bad ? "cannot read %s" : "%s is larger than %zu bytes", path, max);
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return NODE_ERR_OK;
}

/* ---- genesis ---- */

static const struct {
    const char *name;
    uint32_t bit;
} ROLE_NAMES[] = {
    {"operator", CHAIN_ROLE_OPERATOR},
    {"shadow_centre", CHAIN_ROLE_SHADOW_CENTRE},
    {"validator", CHAIN_ROLE_VALIDATOR},
    {"participant", CHAIN_ROLE_PARTICIPANT},
};

static bool only_keys(json_t *obj, const char *const *allowed, size_t n, char *bad, size_t badlen)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        bool ok = false;
        for (size_t i = 0; i < n; i++)
            ok = ok || !strcmp(k, allowed[i]);
        if (!ok) {
            snprintf(bad, badlen, "%s", k);
            return false;
        }
    }
    return true;
}

static bool get_u64(json_t *obj, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

#define GERR(...) fail_msg(err, errlen, NODE_ERR_BAD_GENESIS, __VA_ARGS__)

int node_genesis_parse(const char *text, size_t len, struct node_genesis *g, char *err,
                       size_t errlen)
{
    json_error_t je;
    char bad[64];
    int rc = NODE_ERR_OK;
    memset(g, 0, sizeof *g);
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return GERR("genesis is not valid JSON: %s (line %d)", je.text, je.line);
    static const char *const top[] = {"chain_id", "engine", "time_ms", "validators", "accounts"};
    if (!json_is_object(root)) {
        rc = GERR("genesis must be a JSON object");
        goto out;
    }
    if (!only_keys(root, top, 5, bad, sizeof bad)) {
        rc = GERR("genesis has an unknown field \"%s\"", bad);
        goto out;
    }
    const char *cid = json_string_value(json_object_get(root, "chain_id"));
    if (!cid || !*cid || strlen(cid) > CHAIN_CHAIN_ID_MAX_BYTES) {
        rc = GERR("genesis \"chain_id\" must be a string of 1 to %u bytes",
                  CHAIN_CHAIN_ID_MAX_BYTES);
        goto out;
    }
    snprintf(g->chain_id, sizeof g->chain_id, "%s", cid);
    const char *eng = json_string_value(json_object_get(root, "engine"));
    if (eng && !strcmp(eng, "raft"))
        g->engine = CONS_ENGINE_RAFT;
    else if (eng && !strcmp(eng, "pbft"))
        g->engine = CONS_ENGINE_PBFT;
    else {
        rc = GERR("genesis \"engine\" must be \"raft\" or \"pbft\"");
        goto out;
    }
    if (!get_u64(root, "time_ms", &g->time_ms)) {
        rc = GERR("genesis \"time_ms\" must be a non-negative integer (milliseconds since 1970)");
        goto out;
    }
    json_t *vals = json_object_get(root, "validators");
    if (!json_is_array(vals) || json_array_size(vals) == 0 ||
        json_array_size(vals) > NODE_VALIDATORS_MAX) {
        rc = GERR("genesis \"validators\" must be an array of 1 to %u validators",
                  NODE_VALIDATORS_MAX);
        goto out;
    }
    if (g->engine == CONS_ENGINE_PBFT && json_array_size(vals) < 4) {
        rc = GERR("a pbft genesis needs at least 4 validators (n = 3f + 1), it has %zu",
                  json_array_size(vals));
        goto out;
    }
    static const char *const vkeys[] = {"key", "power", "addr"};
    for (size_t i = 0; i < json_array_size(vals); i++) {
        json_t *v = json_array_get(vals, i);
        struct node_validator *nv = &g->validators[i];
        if (!json_is_object(v) || !only_keys(v, vkeys, 3, bad, sizeof bad)) {
            rc = GERR("genesis validator %zu must be an object with key, power and addr", i);
            goto out;
        }
        if (!node_unhex(nv->key, CHAIN_PK_BYTES, json_string_value(json_object_get(v, "key")))) {
            rc = GERR("genesis validator %zu: \"key\" must be 64 lower-case hex characters", i);
            goto out;
        }
        for (size_t j = 0; j < i; j++)
            if (!memcmp(g->validators[j].key, nv->key, CHAIN_PK_BYTES)) {
                rc = GERR("genesis validators %zu and %zu have the same key", j, i);
                goto out;
            }
        if (!get_u64(v, "power", &nv->power) || nv->power != 1) {
            rc = GERR(
                "genesis validator %zu: \"power\" must be 1 (weighted voting is not supported)", i);
            goto out;
        }
        json_t *a = json_object_get(v, "addr");
        if (a && !node_parse_addr(json_string_value(a), nv->host, &nv->port)) {
            rc = GERR("genesis validator %zu: \"addr\" must be \"host:port\"", i);
            goto out;
        }
    }
    g->nvalidators = json_array_size(vals);
    json_t *accs = json_object_get(root, "accounts");
    if (!json_is_array(accs) || json_array_size(accs) > NODE_GENESIS_ACCOUNTS_MAX) {
        rc = GERR("genesis \"accounts\" must be an array of at most %u accounts",
                  NODE_GENESIS_ACCOUNTS_MAX);
        goto out;
    }
    g->accounts = calloc(json_array_size(accs) + 1, sizeof *g->accounts);
    if (!g->accounts) {
        rc = CHAIN_ERR_NOMEM;
        goto out;
    }
    static const char *const akeys[] = {"key", "balance", "roles"};
    for (size_t i = 0; i < json_array_size(accs); i++) {
        json_t *a = json_array_get(accs, i);
        struct chain_genesis_account *ga = &g->accounts[i];
        uint64_t bal = 0;
        if (!json_is_object(a) || !only_keys(a, akeys, 3, bad, sizeof bad)) {
            rc = GERR("genesis account %zu must be an object with key, balance and roles", i);
            goto out;
        }
        if (!node_unhex(ga->pk, CHAIN_PK_BYTES, json_string_value(json_object_get(a, "key")))) {
            rc = GERR("genesis account %zu: \"key\" must be 64 lower-case hex characters", i);
            goto out;
        }
        if (!get_u64(a, "balance", &bal) || bal > (uint64_t)INT64_MAX) {
            rc = GERR("genesis account %zu: \"balance\" must be an integer of micro-units >= 0", i);
            goto out;
        }
        ga->balance = (int64_t)bal;
        json_t *roles = json_object_get(a, "roles");
        if (roles && !json_is_array(roles)) {
            rc = GERR("genesis account %zu: \"roles\" must be an array of role names", i);
            goto out;
        }
        for (size_t r = 0; r < json_array_size(roles); r++) {
            const char *rn = json_string_value(json_array_get(roles, r));
            uint32_t bit = 0;
            for (size_t k = 0; k < sizeof ROLE_NAMES / sizeof ROLE_NAMES[0]; k++)
                if (rn && !strcmp(rn, ROLE_NAMES[k].name))
                    bit = ROLE_NAMES[k].bit;
            if (!bit) {
                rc = GERR(
                    "genesis account %zu: unknown role \"%s\" (operator, shadow_centre, validator, "
                    "participant)",
                    i, rn ? rn : "?");
                goto out;
            }
            ga->roles |= bit;
        }
        for (size_t j = 0; j < i; j++)
            if (!memcmp(g->accounts[j].pk, ga->pk, CHAIN_PK_BYTES)) {
                rc = GERR("genesis accounts %zu and %zu have the same key", j, i);
                goto out;
            }
    }
    g->naccounts = json_array_size(accs);
out:
    json_decref(root);
    if (rc)
        node_genesis_deinit(g);
    return rc;
}

int node_genesis_load(const char *path, struct node_genesis *g, char *err, size_t errlen)
{
    char *text;
    size_t len;
    memset(g, 0, sizeof *g);
    int rc = node_read_file(path, NODE_FILE_MAX_BYTES, &text, &len, err, errlen);
    if (rc)
        return rc;
    rc = node_genesis_parse(text, len, g, err, errlen);
    free(text);
    return rc;
}

static int write_json(const char *path, json_t *root, int mode)
{
    char tmp[NODE_PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) {
        fprintf(stderr, "gridnode: cannot create %s: %s\n", tmp, strerror(errno));
        return NODE_ERR_IO;
    }
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!s) {
        close(fd);
        return CHAIN_ERR_NOMEM;
    }
    size_t n = strlen(s);
    bool ok = write(fd, s, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    free(s);
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "gridnode: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return NODE_ERR_IO;
    }
    return NODE_ERR_OK;
}

int node_genesis_write(const char *path, const struct node_genesis *g)
{
    char hex[2 * CHAIN_PK_BYTES + 1], addr[NODE_HOST_MAX + 8];
    json_t *root = json_object(), *vals = json_array(), *accs = json_array();
    int rc = CHAIN_ERR_NOMEM;
    if (!root || !vals || !accs)
        goto out;
    json_object_set_new(root, "chain_id", json_string(g->chain_id));
    json_object_set_new(root, "engine",
                        json_string(g->engine == CONS_ENGINE_PBFT ? "pbft" : "raft"));
    json_object_set_new(root, "time_ms", json_integer((json_int_t)g->time_ms));
    for (size_t i = 0; i < g->nvalidators; i++) {
        json_t *v = json_object();
        chain_hex(hex, g->validators[i].key, CHAIN_PK_BYTES);
        json_object_set_new(v, "key", json_string(hex));
        json_object_set_new(v, "power", json_integer((json_int_t)g->validators[i].power));
        if (g->validators[i].host[0]) {
            snprintf(addr, sizeof addr, "%s:%u", g->validators[i].host, g->validators[i].port);
            json_object_set_new(v, "addr", json_string(addr));
        }
        json_array_append_new(vals, v);
    }
    for (size_t i = 0; i < g->naccounts; i++) {
        json_t *a = json_object(), *roles = json_array();
        chain_hex(hex, g->accounts[i].pk, CHAIN_PK_BYTES);
        json_object_set_new(a, "key", json_string(hex));
        json_object_set_new(a, "balance", json_integer((json_int_t)g->accounts[i].balance));
        for (size_t k = 0; k < sizeof ROLE_NAMES / sizeof ROLE_NAMES[0]; k++)
            if (g->accounts[i].roles & ROLE_NAMES[k].bit)
                json_array_append_new(roles, json_string(ROLE_NAMES[k].name));
        json_object_set_new(a, "roles", roles);
        json_array_append_new(accs, a);
    }
    json_object_set(root, "validators", vals);
    json_object_set(root, "accounts", accs);
    rc = write_json(path, root, 0644);
out:
    json_decref(vals);
    json_decref(accs);
    json_decref(root);
    return rc;
}

void node_genesis_deinit(struct node_genesis *g)
{
    if (!g)
        return;
    free(g->accounts);
    g->accounts = NULL;
    g->naccounts = 0;
}

void node_genesis_to_chain(const struct node_genesis *g, struct chain_genesis *out,
                           struct chain_validator *vals)
{
    for (size_t i = 0; i < g->nvalidators; i++) {
        memcpy(vals[i].key, g->validators[i].key, CHAIN_PK_BYTES);
        vals[i].power = g->validators[i].power;
    }
    memset(out, 0, sizeof *out);
    out->chain_id = g->chain_id;
    out->time_ms = g->time_ms;
    out->accounts = g->accounts;
    out->naccounts = g->naccounts;
    out->validators = vals;
    out->nvalidators = g->nvalidators;
}

int node_genesis_validator_index(const struct node_genesis *g,
                                 const uint8_t key[static CHAIN_PK_BYTES])
{
    for (size_t i = 0; i < g->nvalidators; i++)
        if (!memcmp(g->validators[i].key, key, CHAIN_PK_BYTES))
            return (int)i;
    return -1;
}

/* ---- keys ---- */

int node_key_write(const char *path, const uint8_t sk[static CHAIN_SK_BYTES])
{
    char hex[2 * CHAIN_SK_BYTES + 2];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        fprintf(stderr, "gridnode: cannot create key file %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (refusing to overwrite a key)" : "");
        return NODE_ERR_IO;
    }
    chain_hex(hex, sk, CHAIN_SK_BYTES);
    hex[2 * CHAIN_SK_BYTES] = '\n';
    bool ok = write(fd, hex, sizeof hex - 1) == (ssize_t)(sizeof hex - 1) && fsync(fd) == 0;
    memset(hex, 0, sizeof hex);
    ok = close(fd) == 0 && ok;
    if (!ok) {
        fprintf(stderr, "gridnode: cannot write key file %s: %s\n", path, strerror(errno));
        return NODE_ERR_IO;
    }
    return NODE_ERR_OK;
}

int node_key_read(const char *path, uint8_t pk[static CHAIN_PK_BYTES],
                  uint8_t sk[static CHAIN_SK_BYTES], char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return fail_msg(err, errlen, NODE_ERR_IO, "cannot open key file %s: %s", path,
                        strerror(errno));
    if (st.st_mode & 077)
        return fail_msg(err, errlen, NODE_ERR_BAD_KEY,
                        "key file %s is readable by others (mode %03o); run: chmod 600 %s", path,
                        (unsigned)(st.st_mode & 0777), path);
    char *text;
    size_t len;
    int rc = node_read_file(path, 4096, &text, &len, err, errlen);
    if (rc)
        return rc;
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        text[--len] = 0;
    bool ok = node_unhex(sk, CHAIN_SK_BYTES, text);
    memset(text, 0, len);
    free(text);
    if (!ok)
        return fail_msg(err, errlen, NODE_ERR_BAD_KEY,
                        "key file %s must hold 128 lower-case hex characters", path);
    uint8_t pk2[CHAIN_PK_BYTES], sk2[CHAIN_SK_BYTES];
    chain_keypair_from_seed(pk2, sk2, sk);
    ok = !memcmp(pk2, sk + 32, CHAIN_PK_BYTES);
    memset(sk2, 0, sizeof sk2);
    if (!ok)
        return fail_msg(err, errlen, NODE_ERR_BAD_KEY,
                        "key file %s is damaged: its public half does not match", path);
    memcpy(pk, pk2, CHAIN_PK_BYTES);
    return NODE_ERR_OK;
}

/* ---- config ---- */

void node_config_defaults(struct node_config *c)
{
    memset(c, 0, sizeof *c);
    c->tick_ms = 50;
    c->heartbeat_ms = 1000;
    c->block_max_txs = 4000;
    c->batch_ms = 50;
    c->verify_threads = 1;
    c->mempool_max_txs = 100000;
    c->mempool_max_bytes = 64u << 20;
    c->clock_accel = 1;
    c->mqtt_port = 1883;
}

uint64_t node_clock_ms(const struct node_config *c, uint64_t wall_ms)
{
    if (c->clock_accel <= 1 || wall_ms < c->clock_start_ms)
        return wall_ms;
    uint64_t t;
    if (__builtin_mul_overflow(wall_ms - c->clock_start_ms, (uint64_t)c->clock_accel, &t) ||
        __builtin_add_overflow(t, c->clock_start_ms, &t))
        return UINT64_MAX;
    return t;
}

#define CERR(...) fail_msg(err, errlen, NODE_ERR_BAD_CONFIG, __VA_ARGS__)

static int get_path(json_t *root, const char *key, const char *base, char *out, bool required,
                    char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (!v)
        return required ? CERR("config needs \"%s\" (a path)", key) : NODE_ERR_OK;
    const char *s = json_string_value(v);
    if (!s || !*s || strlen(s) + strlen(base) + 2 > NODE_PATH_MAX)
        return CERR("config \"%s\" must be a non-empty path shorter than %u bytes", key,
                    NODE_PATH_MAX);
    size_t bl = strlen(base), sl = strlen(s);
    if (s[0] == '/' || !bl) {
        memcpy(out, s, sl + 1);
    } else { /* lengths checked above */
        memcpy(out, base, bl);
        out[bl] = '/';
        memcpy(out + bl + 1, s, sl + 1);
    }
    return NODE_ERR_OK;
}

static int get_uint(json_t *root, const char *key, uint64_t lo, uint64_t hi, uint64_t *out,
                    char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (!v)
        return NODE_ERR_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < lo ||
        (uint64_t)json_integer_value(v) > hi)
        return CERR("config \"%s\" must be an integer from %llu to %llu", key,
                    (unsigned long long)lo, (unsigned long long)hi);
    *out = (uint64_t)json_integer_value(v);
    return NODE_ERR_OK;
}

/* A string field of 1..max bytes without control characters (and none of
 * the characters in banned); absent: out untouched. */
static int get_text(json_t *root, const char *key, size_t max, const char *banned, char *out,
                    const char *what, char *err, size_t errlen)
{
    json_t *v = json_object_get(root, key);
    if (!v)
        return NODE_ERR_OK;
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    bool ok = s && n >= 1 && n <= max && strlen(s) == n;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)s[i] > ' ' && s[i] != 0x7f && !strchr(banned, s[i]);
    if (!ok)
        return CERR("config \"%s\" must be %s: 1 to %zu characters, no spaces or control "
                    "characters%s%s",
                    key, what, max, *banned ? ", none of " : "", banned);
    memcpy(out, s, n + 1);
    return NODE_ERR_OK;
}

/* The demo clock, the shadow-centre API and MQTT (node/README.md). */
static int parse_services(json_t *root, const char *base_dir, struct node_config *c, char *err,
                          size_t errlen)
{
    int rc;
    uint64_t v = c->clock_accel;
    if ((rc = get_uint(root, "clock_accel", 1, NODE_CLOCK_ACCEL_MAX, &v, err, errlen)))
        return rc;
    c->clock_accel = (uint32_t)v;
    if ((rc = get_uint(root, "clock_start_ms", 0, (uint64_t)INT64_MAX, &c->clock_start_ms, err,
                       errlen)))
        return rc;
    if (c->clock_accel > 1 && !json_object_get(root, "clock_start_ms"))
        return CERR("config \"clock_accel\" %u needs \"clock_start_ms\" (ms since 1970 from which "
                    "block time runs %u times faster; demo and test networks only)",
                    c->clock_accel, c->clock_accel);

    json_t *sl = json_object_get(root, "shadow_listen");
    if (sl && !node_parse_addr(json_string_value(sl), c->shadow_host, &c->shadow_port))
        return CERR("config \"shadow_listen\" must be \"host:port\" (the shadow-centre API; bind "
                    "it to a private address)");
    if ((rc = get_path(root, "shadow_key_file", base_dir, c->shadow_key_path, false, err, errlen)))
        return rc;
    json_t *ak = json_object_get(root, "shadow_allowed_keys");
    if (ak && (!json_is_array(ak) || json_array_size(ak) > NODE_SHADOW_KEYS_MAX))
        return CERR("config \"shadow_allowed_keys\" must be an array of at most %u public keys "
                    "(64 lower-case hex characters each)",
                    NODE_SHADOW_KEYS_MAX);
    for (size_t i = 0; i < json_array_size(ak); i++)
        if (!node_unhex(c->shadow_allowed[i], CHAIN_PK_BYTES,
                        json_string_value(json_array_get(ak, i))))
            return CERR("config \"shadow_allowed_keys\" entry %zu must be a public key: 64 "
                        "lower-case hex characters",
                        i);
    c->nshadow_allowed = json_array_size(ak);
    if (!sl && (c->shadow_key_path[0] || ak))
        return CERR("config \"%s\" is for the shadow-centre API, which needs \"shadow_listen\"",
                    c->shadow_key_path[0] ? "shadow_key_file" : "shadow_allowed_keys");

    if ((rc = get_text(root, "mqtt_host", NODE_MQTT_HOST_MAX, "", c->mqtt_host,
                       "the MQTT broker's host name or address", err, errlen)))
        return rc;
    v = c->mqtt_port;
    if ((rc = get_uint(root, "mqtt_port", 1, 65535, &v, err, errlen)))
        return rc;
    c->mqtt_port = (uint16_t)v;
    if ((rc = get_text(root, "mqtt_topic", NODE_MQTT_TOPIC_MAX, "+#", c->mqtt_topic,
                       "an MQTT topic prefix", err, errlen)))
        return rc;
    if (!c->mqtt_host[0] && (json_object_get(root, "mqtt_port") || c->mqtt_topic[0]))
        return CERR("config \"%s\" needs \"mqtt_host\" (the broker to publish events to)",
                    c->mqtt_topic[0] ? "mqtt_topic" : "mqtt_port");
    if (c->mqtt_host[0] && !c->rpc_host[0])
        return CERR("config \"mqtt_host\" needs \"rpc_listen\": the RPC server publishes the "
                    "events (port 0 takes any free port)");
    return NODE_ERR_OK;
}

int node_config_parse(const char *text, size_t len, const char *base_dir, struct node_config *c,
                      char *err, size_t errlen)
{
    json_error_t je;
    char bad[64];
    int rc;
    node_config_defaults(c);
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return CERR("config is not valid JSON: %s (line %d)", je.text, je.line);
    static const char *const keys[] = {"genesis",        "key_file",        "data_dir",
                                       "p2p_listen",     "rpc_listen",      "tick_ms",
                                       "heartbeat_ms",   "block_max_txs",   "batch_ms",
                                       "verify_threads", "mempool_max_txs", "mempool_max_bytes",
                                       "no_sync",        "clock_accel",     "clock_start_ms",
                                       "shadow_listen",  "shadow_key_file", "shadow_allowed_keys",
                                       "mqtt_host",      "mqtt_port",       "mqtt_topic"};
    if (!json_is_object(root)) {
        rc = CERR("config must be a JSON object");
        goto out;
    }
    if (!only_keys(root, keys, sizeof keys / sizeof keys[0], bad, sizeof bad)) {
        rc = CERR("config has an unknown field \"%s\" (see node/README.md)", bad);
        goto out;
    }
    if ((rc = get_path(root, "genesis", base_dir, c->genesis_path, true, err, errlen)) ||
        (rc = get_path(root, "key_file", base_dir, c->key_path, true, err, errlen)) ||
        (rc = get_path(root, "data_dir", base_dir, c->data_dir, true, err, errlen)))
        goto out;
    json_t *p2p = json_object_get(root, "p2p_listen");
    if (p2p && !node_parse_addr(json_string_value(p2p), c->p2p_host, &c->p2p_port)) {
        rc = CERR("config \"p2p_listen\" must be \"host:port\"");
        goto out;
    }
    json_t *rpc = json_object_get(root, "rpc_listen");
    if (rpc && !node_parse_addr(json_string_value(rpc), c->rpc_host, &c->rpc_port)) {
        rc = CERR("config \"rpc_listen\" must be \"host:port\" (port 0: any free port)");
        goto out;
    }
    uint64_t v;
    v = c->tick_ms;
    if ((rc = get_uint(root, "tick_ms", 1, 10000, &v, err, errlen)))
        goto out;
    c->tick_ms = (uint32_t)v;
    v = c->heartbeat_ms;
    if ((rc = get_uint(root, "heartbeat_ms", 0, 3600000, &v, err, errlen)))
        goto out;
    c->heartbeat_ms = (uint32_t)v;
    v = c->block_max_txs;
    if ((rc = get_uint(root, "block_max_txs", 1, CHAIN_BLOCK_MAX_TXS, &v, err, errlen)))
        goto out;
    c->block_max_txs = (uint32_t)v;
    v = c->batch_ms;
    if ((rc = get_uint(root, "batch_ms", 0, 1000, &v, err, errlen)))
        goto out;
    c->batch_ms = (uint32_t)v;
    v = c->verify_threads;
    if ((rc = get_uint(root, "verify_threads", 1, 64, &v, err, errlen)))
        goto out;
    c->verify_threads = (uint32_t)v;
    v = c->mempool_max_txs;
    if ((rc = get_uint(root, "mempool_max_txs", 1, 10000000, &v, err, errlen)))
        goto out;
    c->mempool_max_txs = (uint32_t)v;
    v = c->mempool_max_bytes;
    if ((rc = get_uint(root, "mempool_max_bytes", 4096, (uint64_t)1 << 36, &v, err, errlen)))
        goto out;
    c->mempool_max_bytes = v;
    json_t *ns = json_object_get(root, "no_sync");
    if (ns && !json_is_boolean(ns)) {
        rc = CERR("config \"no_sync\" must be true or false");
        goto out;
    }
    c->no_sync = json_is_true(ns);
    rc = parse_services(root, base_dir, c, err, errlen);
out:
    json_decref(root);
    return rc;
}

int node_config_load(const char *path, struct node_config *c, char *err, size_t errlen)
{
    char *text, base[NODE_PATH_MAX];
    size_t len;
    int rc = node_read_file(path, NODE_FILE_MAX_BYTES, &text, &len, err, errlen);
    if (rc)
        return rc;
    snprintf(base, sizeof base, "%s", path);
    char *slash = strrchr(base, '/');
    if (slash)
        *slash = 0;
    else
        base[0] = 0;
    rc = node_config_parse(text, len, base, c, err, errlen);
    free(text);
    return rc;
}

int node_config_write(const char *path, const struct node_config *c)
{
    char addr[NODE_HOST_MAX + 8];
    json_t *root = json_object();
    if (!root)
        return CHAIN_ERR_NOMEM;
    json_object_set_new(root, "genesis", json_string(c->genesis_path));
    json_object_set_new(root, "key_file", json_string(c->key_path));
    json_object_set_new(root, "data_dir", json_string(c->data_dir));
    if (c->p2p_host[0]) {
        snprintf(addr, sizeof addr, "%s:%u", c->p2p_host, c->p2p_port);
        json_object_set_new(root, "p2p_listen", json_string(addr));
    }
    if (c->rpc_host[0]) {
        snprintf(addr, sizeof addr, "%s:%u", c->rpc_host, c->rpc_port);
        json_object_set_new(root, "rpc_listen", json_string(addr));
    }
    json_object_set_new(root, "tick_ms", json_integer(c->tick_ms));
    json_object_set_new(root, "heartbeat_ms", json_integer(c->heartbeat_ms));
    json_object_set_new(root, "block_max_txs", json_integer(c->block_max_txs));
    json_object_set_new(root, "batch_ms", json_integer(c->batch_ms));
    json_object_set_new(root, "verify_threads", json_integer(c->verify_threads));
    json_object_set_new(root, "mempool_max_txs", json_integer(c->mempool_max_txs));
    json_object_set_new(root, "mempool_max_bytes", json_integer((json_int_t)c->mempool_max_bytes));
    if (c->no_sync)
        json_object_set_new(root, "no_sync", json_true());
    if (c->clock_accel > 1) {
        json_object_set_new(root, "clock_accel", json_integer(c->clock_accel));
        json_object_set_new(root, "clock_start_ms", json_integer((json_int_t)c->clock_start_ms));
    }
    if (c->shadow_host[0]) {
        snprintf(addr, sizeof addr, "%s:%u", c->shadow_host, c->shadow_port);
        json_object_set_new(root, "shadow_listen", json_string(addr));
        if (c->shadow_key_path[0])
            json_object_set_new(root, "shadow_key_file", json_string(c->shadow_key_path));
        if (c->nshadow_allowed) {
            json_t *ks = json_array();
            char hex[2 * CHAIN_PK_BYTES + 1];
            for (size_t i = 0; ks && i < c->nshadow_allowed; i++) {
                chain_hex(hex, c->shadow_allowed[i], CHAIN_PK_BYTES);
                json_array_append_new(ks, json_string(hex));
            }
            json_object_set_new(root, "shadow_allowed_keys", ks);
        }
    }
    if (c->mqtt_host[0]) {
        json_object_set_new(root, "mqtt_host", json_string(c->mqtt_host));
        json_object_set_new(root, "mqtt_port", json_integer(c->mqtt_port));
        if (c->mqtt_topic[0])
            json_object_set_new(root, "mqtt_topic", json_string(c->mqtt_topic));
    }
    int rc = write_json(path, root, 0644);
    json_decref(root);
    return rc;
}
