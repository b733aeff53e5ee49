/* mb_config.h -- gridmeter's configuration and the meter register map.
 *
 * One text format for both (meterbridge/README.md has the reference):
 *
 *     # comment
 *     key = value
 *     register import addr=0x0048 fn=4 type=float32 order=big scale=1000
 *
 * A config file may name a map file (`map = maps/sdm630.conf`, relative to
 * the config file's folder) holding only `model =` and `register` lines.  The
 * parsers work on a buffer (no I/O) and never assert on their input: every
 * problem is an MB_ERR_CONFIG_* code with the line number.
 *
 * Register values become integer Wh in mb_reg_decode_wh (the rounding rule
 * is written there).  Floats appear only here, for meter values; nothing
 * consensus-critical includes this file. */
#ifndef MB_CONFIG_H
#define MB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb_err.h"

#define MB_CONFIG_MAX_BYTES 65536u        /* a config or map file */
#define MB_CONFIG_LINE_MAX  512u          /* one line */
#define MB_SCALE_MAX        1000000000ull /* numerator and denominator of a scale */
#define MB_PATH_MAX         256u

enum mb_type { MB_TYPE_U16 = 0, MB_TYPE_U32, MB_TYPE_S32, MB_TYPE_U64, MB_TYPE_FLOAT32 };
enum mb_order {
    MB_ORDER_BIG = 0,    /* high word first ("ABCD"), the Modbus habit (Eastron) */
    MB_ORDER_LITTLE = 1, /* low word first ("CDAB"), e.g. Carlo Gavazzi EM24 */
};
enum mb_transport { MB_TRANSPORT_TCP = 0, MB_TRANSPORT_RTU = 1 };

/* One register (or run of 2 or 4 registers) holding one value. */
struct mb_reg {
    bool present;
    uint16_t addr; /* 0-based protocol address (register 30073 is addr 0x0048) */
    uint8_t fn;    /* 3 = read holding registers, 4 = read input registers */
    enum mb_type type;
    enum mb_order order; /* word order for 32- and 64-bit types; bytes in a word are big-endian */
    uint64_t scale_num;  /* Wh per register unit = scale_num / scale_den */
    uint64_t scale_den;
};

struct mb_map {
    char model[64];
    struct mb_reg import;  /* cumulative energy taken from the grid */
    struct mb_reg export_; /* cumulative energy fed into the grid */
    struct mb_reg serial;  /* optional: a change means the meter was replaced */
};

struct mb_config {
    char chain_id[65];
    char key_file[MB_PATH_MAX];  /* 64 hex chars: the meter key's 32-byte Ed25519 seed */
    char queue_dir[MB_PATH_MAX]; /* LMDB queue and slot checkpoint */
    char node[MB_PATH_MAX];      /* http://127.0.0.1:PORT, or "mem:" (the test sink) */
    char map_path[MB_PATH_MAX];  /* as written; mb_config_load resolves it */
    /* the chain's genesis.json: its validators certify the headers proofs are
     * checked against; required with verify_proof.  Relative to the config
     * file's folder once mb_config_load has resolved it. */
    char genesis_path[MB_PATH_MAX];
    enum mb_transport transport;
    char host[64];
    uint16_t port;
    char device[128];
    uint32_t baud;
    char parity; /* 'N', 'E' or 'O' */
    uint8_t data_bits, stop_bits;
    uint8_t unit_id;
    uint32_t poll_interval_ms;
    uint32_t timeout_ms; /* Modbus response timeout */
    uint32_t slot_len_s;
    uint64_t slot_epoch_ms; /* the chain's genesis time; slot 0 starts here */
    uint32_t boundary_tolerance_ms;
    uint64_t max_power_w;     /* above this a jump counts as a meter replacement */
    uint32_t queue_max;       /* readings held at most */
    uint64_t queue_map_bytes; /* LMDB map size */
    uint32_t retry_min_ms, retry_max_ms;
    uint32_t rpc_timeout_ms;
    bool verify_proof; /* require a state proof before dropping a reading */
    uint32_t accel;    /* time acceleration (demo and tests only; 1 = real time) */
    uint64_t start_ms; /* with accel: the virtual clock's start (0 = now) */
    struct mb_map map;
};

/* Defaults for every key (README.md lists them). */
void mb_config_defaults(struct mb_config *cfg /* OUT */);

/* Parse a config text into cfg (over the defaults already there).  A map
 * file is not read here: cfg->map_path keeps the name.  *line is the failing
 * line (1-based) or 0.  Errors: CONFIG_SYNTAX, CONFIG_UNKNOWN_KEY,
 * CONFIG_BAD_VALUE, CONFIG_TOO_LONG, CONFIG_DUPLICATE. */
int mb_config_parse(struct mb_config *cfg, const char *text, size_t len,
                    int *line /* OUT */) MB_MUST_USE;

/* Parse a map text (only `model =` and `register` lines) into map.  Same errors. */
int mb_map_parse(struct mb_map *map, const char *text, size_t len, int *line /* OUT */) MB_MUST_USE;

/* Complete and consistent?  Errors: CONFIG_MISSING (import/export register,
 * chain_id, key_file, queue_dir, genesis when verify_proof is on),
 * CONFIG_BAD_VALUE (e.g. retry_min > retry_max). */
int mb_config_check(const struct mb_config *cfg) MB_MUST_USE;
/* The problem mb_config_check finds, as a sentence a person can act on
 * (static storage); NULL when there is none. */
const char *mb_config_why(const struct mb_config *cfg);

/* Read path, parse it, then read and parse its map file if named, and
 * resolve map and genesis against path's folder.  On error msg gets a
 * sentence naming the file and line. */
int mb_config_load(struct mb_config *cfg /* OUT */, const char *path, char *msg,
                   size_t msglen) MB_MUST_USE;

/* Number of 16-bit registers of a type: 1, 2 or 4. */
unsigned mb_type_words(enum mb_type t);

/* Decode words (mb_type_words(r->type) of them, as read) into integer Wh.
 *
 * Rounding rule: Wh = floor(value × scale_num / scale_den).  For integers
 * the product is exact (128-bit).  A float32 is widened to double (exact),
 * multiplied by scale_num (exact while scale_num < 2^29) and divided by
 * scale_den, then floored.  Flooring a cumulative register keeps per-slot
 * differences telescoping: the slots' energies add up to the register's
 * own difference, so rounding never creates or loses a Wh over time.
 * Errors: REG_BAD_VALUE for NaN, infinity, a negative value or one of 2^53 Wh
 * or more. */
int mb_reg_decode_wh(const struct mb_reg *r, const uint16_t *words,
                     uint64_t *wh /* OUT */) MB_MUST_USE;

/* The raw unsigned value of a register (for the serial number): no scale. */
uint64_t mb_reg_decode_raw(const struct mb_reg *r, const uint16_t *words);

/* Where an unsigned integer register wraps, in Wh: 2^bits × scale when that
 * is a whole number below 2^62, else 0 (no wrap is recognised). */
uint64_t mb_reg_wrap_wh(const struct mb_reg *r);

#endif
