/* test_mkt_flow.c -- the two exact min-cost circulation solvers of
 * market/mkt_flow.c (cost scaling and network simplex) against a
 * deliberately naive reference: cancel negative cycles found by
 * Bellman-Ford in the residual graph until there is none.  On random small
 * networks with parallel arcs, self-loops, zero capacities and negative
 * cycles both solvers must return a feasible circulation of the reference's
 * least cost, with no negative residual cycle left (the optimality
 * certificate, checked independently of how the flow was found), and the
 * same flow twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mkt_flow.h"
#include "testutil.h"

typedef int (*solver_fn)(uint32_t, const struct mkt_arc *, uint32_t, int64_t *);

static int simplex(uint32_t n, const struct mkt_arc *a, uint32_t m, int64_t *f)
{
    return mkt_flow_circulation_simplex(n, a, m, 0, f);
}

/* Residual arc k of the naive reference: 2j forward, 2j + 1 backward. */
static int64_t res_cap(const struct mkt_arc *a, const int64_t *f, uint32_t k)
{
    return k % 2 ? f[k / 2] : a[k / 2].cap - f[k / 2];
}

static int64_t res_cost(const struct mkt_arc *a, uint32_t k)
{
    return k % 2 ? -a[k / 2].cost : a[k / 2].cost;
}

/* Bellman-Ford from a virtual source joined to every node at cost 0: returns
 * a residual arc on a negative cycle, or UINT32_MAX when there is none. */
static uint32_t negative_cycle(uint32_t n, const struct mkt_arc *a, uint32_t m, const int64_t *f,
                               uint32_t *pred /* OUT, n */)
{
    int64_t *d = calloc(n, sizeof *d);
    assert_non_null(d);
    for (uint32_t v = 0; v < n; v++)
        pred[v] = UINT32_MAX;
    uint32_t last = UINT32_MAX;
    for (uint32_t it = 0; it < n; it++) {
        last = UINT32_MAX;
        for (uint32_t k = 0; k < 2 * m; k++) {
            if (res_cap(a, f, k) <= 0)
                continue;
            uint32_t u = k % 2 ? a[k / 2].head : a[k / 2].tail;
            uint32_t v = k % 2 ? a[k / 2].tail : a[k / 2].head;
            if (d[u] + res_cost(a, k) < d[v]) {
                d[v] = d[u] + res_cost(a, k);
                pred[v] = k;
                last = k;
            }
        }
        if (last == UINT32_MAX)
            break;
    }
    free(d);
    return last;
}

static uint32_t res_tail(const struct mkt_arc *a, uint32_t k)
{
    return k % 2 ? a[k / 2].head : a[k / 2].tail;
}

/* Naive optimum: cancel negative cycles until none is left. */
static void naive(uint32_t n, const struct mkt_arc *a, uint32_t m, int64_t *f)
{
    uint32_t *pred = malloc(n * sizeof *pred);
    assert_non_null(pred);
    memset(f, 0, m * sizeof *f);
    for (;;) {
        uint32_t k = negative_cycle(n, a, m, f, pred);
        if (k == UINT32_MAX)
            break;
        /* Walk back n steps to land on the cycle, then around it. */
        uint32_t v = res_tail(a, k);
        for (uint32_t i = 0; i < n; i++)
            v = res_tail(a, pred[v]);
        int64_t d = INT64_MAX;
        uint32_t u = v;
        do {
            int64_t c = res_cap(a, f, pred[u]);
            d = c < d ? c : d;
            u = res_tail(a, pred[u]);
        } while (u != v);
        u = v;
        do {
            uint32_t r = pred[u];
            f[r / 2] += r % 2 ? -d : d;
            u = res_tail(a, r);
        } while (u != v);
    }
    free(pred);
}

static __int128 total_cost(const struct mkt_arc *a, uint32_t m, const int64_t *f)
{
    __int128 c = 0;
    for (uint32_t k = 0; k < m; k++)
        c += (__int128)a[k].cost * f[k];
    return c;
}

static void check_feasible(uint32_t n, const struct mkt_arc *a, uint32_t m, const int64_t *f)
{
    int64_t *bal = calloc(n, sizeof *bal);
    assert_non_null(bal);
    for (uint32_t k = 0; k < m; k++) {
        assert_true(f[k] >= 0 && f[k] <= a[k].cap);
        bal[a[k].tail] -= f[k];
        bal[a[k].head] += f[k];
    }
    for (uint32_t v = 0; v < n; v++)
        assert_int_equal(bal[v], 0);
    free(bal);
}

/* A random network: n nodes, m arcs, some parallel, some loops, some of
 * capacity 0, costs of both signs. */
static struct mkt_arc *random_net(struct tu_rng *r, uint32_t n, uint32_t m, int64_t maxcap,
                                  int64_t maxcost)
{
    struct mkt_arc *a = calloc(m ? m : 1, sizeof *a);
    assert_non_null(a);
    for (uint32_t k = 0; k < m; k++) {
        a[k].tail = (uint32_t)tu_below(r, n);
        a[k].head = k > 0 && tu_below(r, 8) == 0 ? a[k - 1].head : (uint32_t)tu_below(r, n);
        if (k > 0 && tu_below(r, 10) == 0)
            a[k].tail = a[k - 1].tail, a[k].head = a[k - 1].head; /* parallel */
        a[k].cap = tu_below(r, 6) == 0 ? 0 : (int64_t)tu_below(r, (uint64_t)maxcap + 1);
        a[k].cost = (int64_t)tu_below(r, 2 * (uint64_t)maxcost + 1) - maxcost;
    }
    return a;
}

static void check_against_naive(uint64_t seed, uint32_t n, uint32_t m, int64_t maxcap,
                                int64_t maxcost)
{
    struct tu_rng r = {seed};
    struct mkt_arc *a = random_net(&r, n, m, maxcap, maxcost);
    int64_t *ref = calloc(m + 1, sizeof *ref), *f = calloc(m + 1, sizeof *f),
            *f2 = calloc(m + 1, sizeof *f2);
    uint32_t *pred = malloc(n * sizeof *pred);
    assert_true(ref && f && f2 && pred);
    naive(n, a, m, ref);
    check_feasible(n, a, m, ref);
    __int128 best = total_cost(a, m, ref);
    solver_fn solvers[2] = {mkt_flow_circulation, simplex};
    for (int s = 0; s < 2; s++) {
        assert_int_equal(solvers[s](n, a, m, f), MKT_OK);
        check_feasible(n, a, m, f);
        if (total_cost(a, m, f) != best)
            fail_msg("seed %llu n %u m %u: solver %d cost %lld, naive %lld",
                     (unsigned long long)seed, n, m, s, (long long)total_cost(a, m, f),
                     (long long)best);
        assert_int_equal(negative_cycle(n, a, m, f, pred), UINT32_MAX);
        assert_int_equal(solvers[s](n, a, m, f2), MKT_OK);
        assert_memory_equal(f, f2, m * sizeof *f);
    }
    free(a);
    free(ref);
    free(f);
    free(f2);
    free(pred);
}

static void test_flow_both_solvers_match_cycle_cancelling_on_random_networks(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 1500; seed++) {
        struct tu_rng r = {seed * 7919};
        uint32_t n = 1 + (uint32_t)tu_below(&r, 12);
        uint32_t m = (uint32_t)tu_below(&r, 4 * n + 1);
        check_against_naive(seed, n, m, 1 + (int64_t)tu_below(&r, 30),
                            1 + (int64_t)tu_below(&r, 100));
    }
}

static void test_flow_both_solvers_match_on_large_capacities_and_costs(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 100; seed++)
        check_against_naive(seed + 100000, 10, 40, INT64_C(1000000000000), MKT_FLOW_MAX_COST);
}

/* Bipartite transportation networks shaped like the dense P2P form (source
 * -> sellers -> buyers -> sink -> source), large enough to exercise many
 * pivots and tree updates: both solvers must agree on the optimum. */
static void test_flow_solvers_agree_on_dense_transportation_networks(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct tu_rng r = {seed};
        uint32_t ns = 5 + (uint32_t)tu_below(&r, 60), nb = 5 + (uint32_t)tu_below(&r, 60);
        uint32_t n = 2 + ns + nb, m = 0;
        struct mkt_arc *a = calloc((size_t)ns * nb + ns + nb + 1, sizeof *a);
        int64_t *f1 = calloc((size_t)ns * nb + ns + nb + 1, sizeof *f1);
        int64_t *f2 = calloc((size_t)ns * nb + ns + nb + 1, sizeof *f2);
        assert_true(a && f1 && f2);
        int64_t total = 0;
        for (uint32_t j = 0; j < ns; j++) {
            a[m++] = (struct mkt_arc){0, 2 + j, 1 + (int64_t)tu_below(&r, 5000), 0};
            total += a[m - 1].cap;
        }
        for (uint32_t i = 0; i < nb; i++) {
            a[m++] = (struct mkt_arc){2 + ns + i, 1, 1 + (int64_t)tu_below(&r, 5000), 0};
            total += a[m - 1].cap;
        }
        a[m++] = (struct mkt_arc){1, 0, total + 1, 0};
        for (uint32_t j = 0; j < ns; j++)
            for (uint32_t i = 0; i < nb; i++)
                if (tu_below(&r, 3))
                    a[m++] = (struct mkt_arc){2 + j, 2 + ns + i, 5000,
                                              -1 - (int64_t)tu_below(&r, 200000)};
        assert_int_equal(mkt_flow_circulation(n, a, m, f1), MKT_OK);
        assert_int_equal(simplex(n, a, m, f2), MKT_OK);
        check_feasible(n, a, m, f1);
        check_feasible(n, a, m, f2);
        assert_true(total_cost(a, m, f1) == total_cost(a, m, f2));
        uint32_t *pred = malloc(n * sizeof *pred);
        assert_non_null(pred);
        assert_int_equal(negative_cycle(n, a, m, f2, pred), UINT32_MAX);
        free(pred);
        free(a);
        free(f1);
        free(f2);
    }
}

/* Larger sparse networks with hubs (a few nodes carry most arcs, as the bus
 * nodes of the bus form do), so that the simplex moves deep and wide
 * subtrees: both solvers must agree on the optimum. */
static void test_flow_solvers_agree_on_larger_networks_with_hubs(void **state)
{
    (void)state;
    int nontrivial = 0;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        struct tu_rng r = {seed + 7000};
        uint32_t n = 20 + (uint32_t)tu_below(&r, 400), m = n * (2 + (uint32_t)tu_below(&r, 6));
        uint32_t hubs = 1 + (uint32_t)tu_below(&r, 8);
        struct mkt_arc *a = random_net(&r, n, m, 1000, 100000);
        for (uint32_t k = 0; k < m; k++) {
            if (tu_below(&r, 2))
                a[k].head = (uint32_t)tu_below(&r, hubs);
            else if (tu_below(&r, 2))
                a[k].tail = (uint32_t)tu_below(&r, hubs);
        }
        int64_t *f1 = calloc(m, sizeof *f1), *f2 = calloc(m, sizeof *f2);
        assert_true(f1 && f2);
        assert_int_equal(mkt_flow_circulation(n, a, m, f1), MKT_OK);
        assert_int_equal(simplex(n, a, m, f2), MKT_OK);
        check_feasible(n, a, m, f1);
        check_feasible(n, a, m, f2);
        if (total_cost(a, m, f1) != total_cost(a, m, f2))
            fail_msg("seed %llu: cost scaling %lld, simplex %lld", (unsigned long long)seed,
                     (long long)total_cost(a, m, f1), (long long)total_cost(a, m, f2));
        nontrivial += total_cost(a, m, f2) < 0;
        free(a);
        free(f1);
        free(f2);
    }
    assert_true(nontrivial >= 150); /* most instances have negative cycles to cancel */
}

/* Past its work limit the simplex starts over with cost scaling: with a
 * limit of 1 the flow is cost scaling's, to the unit.  With the default
 * limit the dense networks are solved by the simplex itself (its flows
 * differ from cost scaling's on some of them: ties are broken otherwise). */
static void test_flow_simplex_falls_back_to_cost_scaling_past_its_work_limit(void **state)
{
    (void)state;
    int differ = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct tu_rng r = {seed + 900};
        uint32_t ns = 20, nb = 20, n = 2 + ns + nb, m = 0;
        struct mkt_arc a[20 * 20 + 41];
        int64_t fcs[20 * 20 + 41], flim[20 * 20 + 41], fdef[20 * 20 + 41];
        for (uint32_t j = 0; j < ns; j++)
            a[m++] = (struct mkt_arc){0, 2 + j, 1 + (int64_t)tu_below(&r, 50), 0};
        for (uint32_t i = 0; i < nb; i++)
            a[m++] = (struct mkt_arc){2 + ns + i, 1, 1 + (int64_t)tu_below(&r, 50), 0};
        a[m++] = (struct mkt_arc){1, 0, 5000, 0};
        for (uint32_t j = 0; j < ns; j++)
            for (uint32_t i = 0; i < nb; i++)
                a[m++] = (struct mkt_arc){2 + j, 2 + ns + i, 50, -(int64_t)tu_below(&r, 4)};
        assert_int_equal(mkt_flow_circulation(n, a, m, fcs), MKT_OK);
        assert_int_equal(mkt_flow_circulation_simplex(n, a, m, 1, flim), MKT_OK);
        assert_int_equal(mkt_flow_circulation_simplex(n, a, m, 0, fdef), MKT_OK);
        assert_memory_equal(fcs, flim, m * sizeof *fcs);
        assert_true(total_cost(a, m, fdef) == total_cost(a, m, fcs));
        differ += memcmp(fcs, fdef, m * sizeof *fcs) != 0;
    }
    assert_true(differ > 0);
}

static void test_flow_refuses_networks_whose_prices_could_overflow(void **state)
{
    (void)state;
    struct mkt_arc a = {0, 1, 5, -MKT_FLOW_MAX_COST};
    int64_t f = 0;
    /* Both refuse before allocating anything for the nodes. */
    assert_int_equal(mkt_flow_circulation(UINT32_C(1) << 20, &a, 1, &f), MKT_ERR_BOOK_TOO_LARGE);
    assert_int_equal(simplex(UINT32_C(1) << 30, &a, 1, &f),
                     MKT_ERR_BOOK_TOO_LARGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_both_solvers_match_cycle_cancelling_on_random_networks),
        cmocka_unit_test(test_flow_both_solvers_match_on_large_capacities_and_costs),
        cmocka_unit_test(test_flow_solvers_agree_on_dense_transportation_networks),
        cmocka_unit_test(test_flow_solvers_agree_on_larger_networks_with_hubs),
        cmocka_unit_test(test_flow_simplex_falls_back_to_cost_scaling_past_its_work_limit),
        cmocka_unit_test(test_flow_refuses_networks_whose_prices_could_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
