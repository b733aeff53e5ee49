/* mb_config.c -- parse gridmeter's config and register maps (mb_config.h).
 *
 * Outside input: a config file written by a person.  Every line is checked
 * against its limit before it is copied, numbers are parsed by hand (no sign,
 * no overflow, decimal or 0x hex), and nothing here asserts on the text. */
#include "mb_config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mb_config_defaults(struct mb_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->node, sizeof cfg->node, "http://127.0.0.1:26657"); /* gridnode --dev */
    cfg->transport = MB_TRANSPORT_TCP;
    snprintf(cfg->host, sizeof cfg->host, "127.0.0.1");
    cfg->port = 502;
    snprintf(cfg->device, sizeof cfg->device, "/dev/ttyUSB0");
    cfg->baud = 9600;
    cfg->parity = 'N';
    cfg->data_bits = 8;
    cfg->stop_bits = 1;
    cfg->unit_id = 1;
    cfg->poll_interval_ms = 1000;
    cfg->timeout_ms = 500;
    cfg->slot_len_s = 900;
    cfg->slot_epoch_ms = 0;
    cfg->boundary_tolerance_ms = 5000;
    cfg->max_power_w = 100000;
    cfg->queue_max = 10000;
    cfg->queue_map_bytes = 4u << 20;
    cfg->retry_min_ms = 1000;
    cfg->retry_max_ms = 300000;
    cfg->rpc_timeout_ms = 3000;
    cfg->verify_proof = false;
    cfg->accel = 1;
    cfg->start_ms = 0;
}

/* ---- small parsers over [s, s+n) ---- */

static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    unsigned base = 10;
    size_t i = 0;
    if (n >= 3 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        i = 2;
    }
    if (i >= n)
        return MB_ERR_CONFIG_BAD_VALUE;
    for (; i < n; i++) {
        unsigned d;
        char c = s[i];
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return MB_ERR_CONFIG_BAD_VALUE;
        if (__builtin_mul_overflow(v, (uint64_t)base, &v) ||
            __builtin_add_overflow(v, (uint64_t)d, &v))
            return MB_ERR_CONFIG_BAD_VALUE;
    }
    if (v > max)
        return MB_ERR_CONFIG_BAD_VALUE;
    *out = v;
    return MB_ERR_OK;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* "1000", "1/10" or "0.1": a positive rational, reduced, both parts <= MB_SCALE_MAX. */
static int parse_scale(const char *s, size_t n, uint64_t *num, uint64_t *den)
{
    const char *slash = memchr(s, '/', n);
    const char *dot = memchr(s, '.', n);
    uint64_t a, b = 1;
    int rc;
    if (slash) {
        if ((rc = parse_u64(s, (size_t)(slash - s), MB_SCALE_MAX, &a)) ||
            (rc = parse_u64(slash + 1, n - (size_t)(slash - s) - 1, MB_SCALE_MAX, &b)))
            return rc;
    } else if (dot) {
        size_t ip = (size_t)(dot - s), fp = n - ip - 1;
        if (ip == 0 || fp == 0 || fp > 9)
            return MB_ERR_CONFIG_BAD_VALUE;
        char digits[32];
        if (ip + fp >= sizeof digits)
            return MB_ERR_CONFIG_BAD_VALUE;
        memcpy(digits, s, ip);
        memcpy(digits + ip, dot + 1, fp);
        for (size_t i = 0; i < ip + fp; i++)
            if (digits[i] < '0' || digits[i] > '9')
                return MB_ERR_CONFIG_BAD_VALUE;
        if ((rc = parse_u64(digits, ip + fp, UINT64_MAX / 10, &a)))
            return rc;
        for (size_t i = 0; i < fp; i++)
            b *= 10;
    } else if ((rc = parse_u64(s, n, MB_SCALE_MAX, &a))) {
        return rc;
    }
    if (a == 0 || b == 0)
        return MB_ERR_CONFIG_BAD_VALUE;
    uint64_t g = gcd_u64(a, b);
    a /= g;
    b /= g;
    if (a > MB_SCALE_MAX || b > MB_SCALE_MAX)
        return MB_ERR_CONFIG_BAD_VALUE;
    *num = a;
    *den = b;
    return MB_ERR_OK;
}

static bool tok_eq(const char *s, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static int copy_str(char *dst, size_t cap, const char *s, size_t n)
{
    if (n == 0)
        return MB_ERR_CONFIG_BAD_VALUE;
    if (n >= cap)
        return MB_ERR_CONFIG_TOO_LONG;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return MB_ERR_CONFIG_BAD_VALUE;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return MB_ERR_OK;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* ---- register lines ---- */

/* `register NAME addr=.. fn=3|4 type=.. [order=big|little] [scale=..]` (rest after "register"). */
static int parse_register(struct mb_map *map, const char *s, size_t n)
{
    trim(&s, &n);
    size_t i = 0;
    while (i < n && s[i] != ' ' && s[i] != '\t')
        i++;
    struct mb_reg *r;
    if (tok_eq(s, i, "import"))
        r = &map->import;
    else if (tok_eq(s, i, "export"))
        r = &map->export_;
    else if (tok_eq(s, i, "serial"))
        r = &map->serial;
    else
        return MB_ERR_CONFIG_UNKNOWN_KEY;
    if (r->present)
        return MB_ERR_CONFIG_DUPLICATE;
    struct mb_reg reg = {.present = true,
                         .fn = 0,
                         .type = MB_TYPE_U16,
                         .order = MB_ORDER_BIG,
                         .scale_num = 1,
                         .scale_den = 1};
    bool have_addr = false, have_type = false;
    unsigned seen = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= n)
            break;
        size_t start = i;
        while (i < n && s[i] != ' ' && s[i] != '\t')
            i++;
        const char *tok = s + start;
        size_t tn = i - start;
        const char *eq = memchr(tok, '=', tn);
        if (!eq)
            return MB_ERR_CONFIG_SYNTAX;
        size_t kn = (size_t)(eq - tok);
        const char *v = eq + 1;
        size_t vn = tn - kn - 1;
        uint64_t x;
        int rc;
        unsigned bit;
        if (tok_eq(tok, kn, "addr")) {
            bit = 1;
            if ((rc = parse_u64(v, vn, 0xffff, &x)))
                return rc;
            reg.addr = (uint16_t)x;
            have_addr = true;
        } else if (tok_eq(tok, kn, "fn")) {
            bit = 2;
            if ((rc = parse_u64(v, vn, 255, &x)))
                return rc;
            if (x != 3 && x != 4)
                return MB_ERR_CONFIG_BAD_VALUE;
            reg.fn = (uint8_t)x;
        } else if (tok_eq(tok, kn, "type")) {
            bit = 4;
            if (tok_eq(v, vn, "u16"))
                reg.type = MB_TYPE_U16;
            else if (tok_eq(v, vn, "u32"))
                reg.type = MB_TYPE_U32;
            else if (tok_eq(v, vn, "s32"))
                reg.type = MB_TYPE_S32;
            else if (tok_eq(v, vn, "u64"))
                reg.type = MB_TYPE_U64;
            else if (tok_eq(v, vn, "float32"))
                reg.type = MB_TYPE_FLOAT32;
            else
                return MB_ERR_CONFIG_BAD_VALUE;
            have_type = true;
        } else if (tok_eq(tok, kn, "order")) {
            bit = 8;
            if (tok_eq(v, vn, "big"))
                reg.order = MB_ORDER_BIG;
            else if (tok_eq(v, vn, "little"))
                reg.order = MB_ORDER_LITTLE;
            else
                return MB_ERR_CONFIG_BAD_VALUE;
        } else if (tok_eq(tok, kn, "scale")) {
            bit = 16;
            if ((rc = parse_scale(v, vn, &reg.scale_num, &reg.scale_den)))
                return rc;
        } else {
            return MB_ERR_CONFIG_UNKNOWN_KEY;
        }
        if (seen & bit)
            return MB_ERR_CONFIG_DUPLICATE;
        seen |= bit;
    }
    if (!have_addr || !have_type || reg.fn == 0)
        return MB_ERR_CONFIG_MISSING;
    if ((uint32_t)reg.addr + mb_type_words(reg.type) > 0x10000u)
        return MB_ERR_CONFIG_BAD_VALUE;
    if (reg.type == MB_TYPE_FLOAT32 && reg.scale_num >= (1u << 29))
        return MB_ERR_CONFIG_BAD_VALUE;
    *r = reg;
    return MB_ERR_OK;
}

/* ---- config keys: one table ---- */

enum kind { K_STR, K_U8, K_U16, K_U32, K_U64, K_BOOL, K_TRANSPORT, K_PARITY };

struct key {
    const char *name;
    enum kind kind;
    size_t off;
    size_t cap; /* K_STR: buffer size */
    uint64_t min, max;
};

#define STR_(f)            K_STR, offsetof(struct mb_config, f), sizeof(((struct mb_config *)0)->f), 0, 0
#define NUM_(k, f, lo, hi) k, offsetof(struct mb_config, f), 0, (lo), (hi)

static const struct key keys[] = {
    {"chain_id", STR_(chain_id)},
    {"key_file", STR_(key_file)},
    {"queue_dir", STR_(queue_dir)},
    {"node", STR_(node)},
    {"map", STR_(map_path)},
    {"genesis", STR_(genesis_path)},
    {"host", STR_(host)},
    {"device", STR_(device)},
    {"transport", NUM_(K_TRANSPORT, transport, 0, 1)},
    {"parity", NUM_(K_PARITY, parity, 0, 0)},
    {"port", NUM_(K_U16, port, 1, 65535)},
    {"baud", NUM_(K_U32, baud, 300, 1000000)},
    {"data_bits", NUM_(K_U8, data_bits, 5, 8)},
    {"stop_bits", NUM_(K_U8, stop_bits, 1, 2)},
    {"unit_id", NUM_(K_U8, unit_id, 0, 247)},
    {"poll_interval_ms", NUM_(K_U32, poll_interval_ms, 10, 3600000)},
    {"timeout_ms", NUM_(K_U32, timeout_ms, 10, 60000)},
    {"slot_len_s", NUM_(K_U32, slot_len_s, 1, 86400)},
    {"slot_epoch_ms", NUM_(K_U64, slot_epoch_ms, 0, (uint64_t)1 << 50)},
    {"boundary_tolerance_ms", NUM_(K_U32, boundary_tolerance_ms, 0, 3600000)},
    {"max_power_w", NUM_(K_U64, max_power_w, 1, 1000000000)},
    {"queue_max", NUM_(K_U32, queue_max, 1, 10000000)},
    {"queue_map_bytes", NUM_(K_U64, queue_map_bytes, 65536, (uint64_t)1 << 40)},
    {"retry_min_ms", NUM_(K_U32, retry_min_ms, 1, 86400000)},
    {"retry_max_ms", NUM_(K_U32, retry_max_ms, 1, 86400000)},
    {"rpc_timeout_ms", NUM_(K_U32, rpc_timeout_ms, 10, 600000)},
    {"verify_proof", NUM_(K_BOOL, verify_proof, 0, 1)},
    {"accel", NUM_(K_U32, accel, 1, 100000)},
    {"start_ms", NUM_(K_U64, start_ms, 0, (uint64_t)1 << 50)},
};
#define NKEYS (sizeof keys / sizeof keys[0])

static int set_key(struct mb_config *cfg, const struct key *k, const char *v, size_t vn)
{
    char *base = (char *)cfg + k->off;
    uint64_t x;
    int rc;
    switch (k->kind) {
    case K_STR: return copy_str(base, k->cap, v, vn);
    case K_BOOL:
        if (tok_eq(v, vn, "true") || tok_eq(v, vn, "1") || tok_eq(v, vn, "yes"))
            *(bool *)base = true;
        else if (tok_eq(v, vn, "false") || tok_eq(v, vn, "0") || tok_eq(v, vn, "no"))
            *(bool *)base = false;
        else
            return MB_ERR_CONFIG_BAD_VALUE;
        return MB_ERR_OK;
    case K_TRANSPORT:
        if (tok_eq(v, vn, "tcp"))
            cfg->transport = MB_TRANSPORT_TCP;
        else if (tok_eq(v, vn, "rtu"))
            cfg->transport = MB_TRANSPORT_RTU;
        else
            return MB_ERR_CONFIG_BAD_VALUE;
        return MB_ERR_OK;
    case K_PARITY:
        if (vn != 1 || (v[0] != 'N' && v[0] != 'E' && v[0] != 'O'))
            return MB_ERR_CONFIG_BAD_VALUE;
        cfg->parity = v[0];
        return MB_ERR_OK;
    default: break;
    }
    if ((rc = parse_u64(v, vn, k->max, &x)))
        return rc;
    if (x < k->min)
        return MB_ERR_CONFIG_BAD_VALUE;
    switch (k->kind) {
    case K_U8: *(uint8_t *)base = (uint8_t)x; break;
    case K_U16: *(uint16_t *)base = (uint16_t)x; break;
    case K_U32: *(uint32_t *)base = (uint32_t)x; break;
    case K_U64: *(uint64_t *)base = x; break;
    default: return MB_ERR_INVALID_ARG;
    }
    return MB_ERR_OK;
}

/* The shared line loop: cfg may be NULL (a map file: only model and register). */
static int parse_text(struct mb_config *cfg, struct mb_map *map, const char *text, size_t len,
                      int *line_out)
{
    int line = 0, rc = MB_ERR_OK;
    unsigned char seen[NKEYS] = {0};
    bool seen_model = false;
    *line_out = 0;
    if (len > MB_CONFIG_MAX_BYTES)
        return MB_ERR_CONFIG_TOO_LONG;
    size_t pos = 0;
    while (pos < len) {
        line++;
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n > MB_CONFIG_LINE_MAX) {
            rc = MB_ERR_CONFIG_TOO_LONG;
            goto fail;
        }
        if (n && s[n - 1] == '\r')
            n--;
        if (memchr(s, '\0', n)) {
            rc = MB_ERR_CONFIG_SYNTAX;
            goto fail;
        }
        const char *hash = memchr(s, '#', n);
        if (hash)
            n = (size_t)(hash - s);
        trim(&s, &n);
        if (n == 0)
            continue;
        if (n > 8 && memcmp(s, "register", 8) == 0 && (s[8] == ' ' || s[8] == '\t')) {
            if ((rc = parse_register(map, s + 8, n - 8)))
                goto fail;
            continue;
        }
        const char *eq = memchr(s, '=', n);
        if (!eq) {
            rc = MB_ERR_CONFIG_SYNTAX;
            goto fail;
        }
        const char *k = s, *v = eq + 1;
        size_t kn = (size_t)(eq - s), vn = n - kn - 1;
        trim(&k, &kn);
        trim(&v, &vn);
        if (tok_eq(k, kn, "model")) {
            if (seen_model) {
                rc = MB_ERR_CONFIG_DUPLICATE;
                goto fail;
            }
            seen_model = true;
            if ((rc = copy_str(map->model, sizeof map->model, v, vn)))
                goto fail;
            continue;
        }
        size_t i = 0;
        if (cfg)
            for (; i < NKEYS; i++)
                if (tok_eq(k, kn, keys[i].name))
                    break;
        if (!cfg || i == NKEYS) {
            rc = MB_ERR_CONFIG_UNKNOWN_KEY;
            goto fail;
        }
        if (seen[i]) {
            rc = MB_ERR_CONFIG_DUPLICATE;
            goto fail;
        }
        seen[i] = 1;
        if ((rc = set_key(cfg, &keys[i], v, vn)))
            goto fail;
    }
    return MB_ERR_OK;
fail:
    *line_out = line;
    return rc;
}

int mb_config_parse(struct mb_config *cfg, const char *text, size_t len, int *line)
{
    return parse_text(cfg, &cfg->map, text, len, line);
}

int mb_map_parse(struct mb_map *map, const char *text, size_t len, int *line)
{
    return parse_text(NULL, map, text, len, line);
}

static int check(const struct mb_config *cfg, const char **why)
{
    const char *w = NULL;
    int rc = MB_ERR_OK;
    if (!cfg->map.import.present || !cfg->map.export_.present) {
        rc = MB_ERR_CONFIG_MISSING;
        w = "the register map needs an import and an export register (map = FILE, or register "
            "lines)";
    } else if (!cfg->chain_id[0] || !cfg->key_file[0] || !cfg->queue_dir[0]) {
        rc = MB_ERR_CONFIG_MISSING;
        w = "chain_id, key_file and queue_dir are required";
    } else if (cfg->verify_proof && !cfg->genesis_path[0]) {
        /* A proof is only as good as the header it is checked against, and a header only
         * as good as its commit certificate: without the genesis validators there is
         * nothing to check the certificate with (DESIGN.md, Light client). */
        rc = MB_ERR_CONFIG_MISSING;
        w = "verify_proof = true needs genesis = /path/genesis.json, the chain's genesis file "
            "(its validators certify the headers the proofs are checked against); give it, or "
            "set verify_proof = false";
    } else if (cfg->retry_min_ms > cfg->retry_max_ms) {
        rc = MB_ERR_CONFIG_BAD_VALUE;
        w = "retry_min_ms is larger than retry_max_ms";
    }
    *why = w;
    return rc;
}

int mb_config_check(const struct mb_config *cfg)
{
    const char *why;
    return check(cfg, &why);
}

const char *mb_config_why(const struct mb_config *cfg)
{
    const char *why;
    (void)check(cfg, &why);
    return why;
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return MB_ERR_IO;
    char *buf = malloc(MB_CONFIG_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return MB_ERR_NOMEM;
    }
    size_t n = fread(buf, 1, MB_CONFIG_MAX_BYTES + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return MB_ERR_IO;
    }
    if (n > MB_CONFIG_MAX_BYTES) {
        free(buf);
        return MB_ERR_CONFIG_TOO_LONG;
    }
    *out = buf;
    *len = n;
    return MB_ERR_OK;
}

int mb_config_load(struct mb_config *cfg, const char *path, char *msg, size_t msglen)
{
    char *text = NULL;
    size_t len = 0;
    int line = 0, rc;
    mb_config_defaults(cfg);
    if ((rc = read_file(path, &text, &len))) {
        snprintf(msg, msglen, "%s: %s (%s)", path, mb_strerror(rc),
                 rc == MB_ERR_IO ? strerror(errno) : "");
        return rc;
    }
    rc = mb_config_parse(cfg, text, len, &line);
    free(text);
    text = NULL;
    if (rc) {
        snprintf(msg, msglen, "%s:%d: %s", path, line, mb_strerror(rc));
        return rc;
    }
    /* map and genesis are relative to the config file's folder */
    const char *slash = strrchr(path, '/');
    if (cfg->genesis_path[0] && cfg->genesis_path[0] != '/' && slash) {
        char full[2 * MB_PATH_MAX];
        snprintf(full, sizeof full, "%.*s/%s", (int)(slash - path), path, cfg->genesis_path);
        if (strlen(full) >= sizeof cfg->genesis_path) {
            snprintf(msg, msglen, "%s: genesis: the path relative to the config file is too long",
                     path);
            return MB_ERR_CONFIG_TOO_LONG;
        }
        memcpy(cfg->genesis_path, full, strlen(full) + 1);
    }
    if (cfg->map_path[0]) {
        char full[2 * MB_PATH_MAX];
        if (cfg->map_path[0] == '/' || !slash)
            snprintf(full, sizeof full, "%s", cfg->map_path);
        else
            snprintf(full, sizeof full, "%.*s/%s", (int)(slash - path), path, cfg->map_path);
        if ((rc = read_file(full, &text, &len))) {
            snprintf(msg, msglen, "%s: %s", full, mb_strerror(rc));
            return rc;
        }
        rc = mb_map_parse(&cfg->map, text, len, &line);
        free(text);
        if (rc) {
            snprintf(msg, msglen, "%s:%d: %s", full, line, mb_strerror(rc));
            return rc;
        }
    }
    const char *why;
    if ((rc = check(cfg, &why))) {
        snprintf(msg, msglen, "%s: %s", path, why ? why : mb_strerror(rc));
        return rc;
    }
    return MB_ERR_OK;
}

/* ---- register values ---- */

unsigned mb_type_words(enum mb_type t)
{
    switch (t) {
    case MB_TYPE_U16: return 1;
    case MB_TYPE_U32:
    case MB_TYPE_S32:
    case MB_TYPE_FLOAT32: return 2;
    case MB_TYPE_U64: return 4;
    }
    return 1;
}

/* The words as one big-endian unsigned number. */
static uint64_t assemble(const struct mb_reg *r, const uint16_t *w)
{
    unsigned n = mb_type_words(r->type);
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        uint16_t word = r->order == MB_ORDER_BIG ? w[i] : w[n - 1 - i];
        v = (v << 16) | word;
    }
    return v;
}

uint64_t mb_reg_decode_raw(const struct mb_reg *r, const uint16_t *words)
{
    return assemble(r, words);
}

#define WH_LIMIT ((uint64_t)1 << 53)

int mb_reg_decode_wh(const struct mb_reg *r, const uint16_t *words, uint64_t *wh)
{
    uint64_t raw = assemble(r, words);
    if (r->type == MB_TYPE_FLOAT32) {
        uint32_t bits = (uint32_t)raw;
        float f;
        memcpy(&f, &bits, sizeof f);
        double d = (double)f;
        if (!isfinite(d) || d < 0.0)
            return MB_ERR_REG_BAD_VALUE;
        double x = floor(d * (double)r->scale_num / (double)r->scale_den);
        if (x >= (double)WH_LIMIT)
            return MB_ERR_REG_BAD_VALUE;
        *wh = (uint64_t)x;
        return MB_ERR_OK;
    }
    if (r->type == MB_TYPE_S32 && (raw & 0x80000000u))
        return MB_ERR_REG_BAD_VALUE; /* a negative energy counter is not a counter */
    unsigned __int128 p = (unsigned __int128)raw * r->scale_num / r->scale_den;
    if (p >= WH_LIMIT)
        return MB_ERR_REG_BAD_VALUE;
    *wh = (uint64_t)p;
    return MB_ERR_OK;
}

uint64_t mb_reg_wrap_wh(const struct mb_reg *r)
{
    unsigned bits;
    switch (r->type) {
    case MB_TYPE_U16: bits = 16; break;
    case MB_TYPE_U32: bits = 32; break;
    default: return 0; /* s32 goes negative (refused), u64 never wraps, float has no wrap */
    }
    unsigned __int128 m = ((unsigned __int128)1 << bits) * r->scale_num;
    if (m % r->scale_den)
        return 0;
    m /= r->scale_den;
    return m < ((unsigned __int128)1 << 62) ? (uint64_t)m : 0;
}
