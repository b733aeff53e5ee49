/* mkt_testlib.h -- what the market tests share: random books, serialising
 * results for byte comparison, and running GLPK's glpsol on an LP file.
 * Test-only (static functions, included by each test file). */
#ifndef MKT_TESTLIB_H
#define MKT_TESTLIB_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkt_clear.h"
#include "testutil.h"

/* GL_TEST_QUICK=1 runs fewer random books; so does the ASan build, where
 * every test must finish in minutes. */
static int tl_quick(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return 1;
#endif
    const char *q = getenv("GL_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

/* A growable byte buffer for serialised results. */
struct tl_buf {
    uint8_t *b;
    size_t n, cap;
};

static void tl_put(struct tl_buf *t, const void *d, size_t n)
{
    if (t->n + n > t->cap) {
        t->cap = (t->n + n) * 2 + 64;
        t->b = realloc(t->b, t->cap);
        if (!t->b)
            abort();
    }
    memcpy(t->b + t->n, d, n);
    t->n += n;
}

static void tl_put_i64(struct tl_buf *t, int64_t v)
{
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)((uint64_t)v >> (8 * i));
    tl_put(t, le, 8);
}

static void tl_put_i128(struct tl_buf *t, __int128 v)
{
    tl_put_i64(t, (int64_t)(uint64_t)((unsigned __int128)v & UINT64_MAX));
    tl_put_i64(t, (int64_t)(uint64_t)((unsigned __int128)v >> 64));
}

/* Run glpsol on the CPLEX LP text in lp; return the optimum it reports
 * (exact as long as |optimum| < 10^15: glpsol prints 15 digits).  *ok is
 * set to 0 when glpsol cannot be run or reports no optimal solution. */
static double tl_glpsol(const char *dir, const char *lp, int *ok)
{
    char lpf[4200], solf[4200], cmd[9000], line[512];
    snprintf(lpf, sizeof lpf, "%s/book.lp", dir);
    snprintf(solf, sizeof solf, "%s/book.sol", dir);
    *ok = 0;
    FILE *f = fopen(lpf, "w");
    if (!f)
        return 0;
    fputs(lp, f);
    fclose(f);
    remove(solf);
    snprintf(cmd, sizeof cmd, "glpsol --lp '%s' -w '%s' >/dev/null 2>&1", lpf, solf);
    if (system(cmd) != 0)
        return 0;
    f = fopen(solf, "r");
    if (!f)
        return 0;
    double obj = 0;
    int optimal = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "c Status:", 9) == 0)
            optimal = strstr(line, "OPTIMAL") != NULL;
        if (strncmp(line, "s bas", 5) == 0) {
            /* s bas <rows> <cols> <pst> <dst> <obj> */
            char *last = strrchr(line, ' ');
            if (last)
                obj = strtod(last + 1, NULL);
        }
    }
    fclose(f);
    *ok = optimal;
    return obj;
}

/* An LP text builder. */
struct tl_lp {
    char *s;
    size_t n, cap;
};

static void tl_lp_printf(struct tl_lp *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tl_lp_printf(struct tl_lp *l, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(l->s ? l->s + l->n : NULL, l->s ? l->cap - l->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0)
            abort();
        if (l->s && l->n + (size_t)k < l->cap) {
            l->n += (size_t)k;
            return;
        }
        l->cap = (l->cap + (size_t)k + 1) * 2;
        l->s = realloc(l->s, l->cap);
        if (!l->s)
            abort();
    }
}

static int64_t tl_i128_to_i64(__int128 v)
{
    return (int64_t)v; /* callers keep LP books below 2^53 */
}

#endif
