// bench_lemon.cpp -- issue 4's P2P benchmarks beside LEMON (liblemon-dev),
// same instances, same run.  For each instance it clears the book with our
// code (mkt_p2p_clear, via market_ours.c), builds the very network that
// market/mkt_p2p.c builds (same nodes, arcs, capacities and costs, in the
// same order) and solves it with LEMON: CostScaling on the bus form,
// NetworkSimplex on the dense form.  It checks that LEMON's optimal cost is
// exactly minus our welfare and prints both times and their ratio.
//
// Both times are book to optimum: ours is the whole mkt_p2p_clear
// (validation, network, solve, pair trades); LEMON's is building the arc
// list, the graph and the maps, and run().  Best of several runs each, run
// alternately, on a noisy machine: compare the ratio.
#include <lemon/cost_scaling.h>
#include <lemon/network_simplex.h>
#include <lemon/smart_graph.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "market_instances.h"

namespace {

struct Network {
    int nnodes = 0;
    std::vector<int> tail, head;
    std::vector<int64_t> cap, cost;
    void arc(int t, int h, int64_t c, int64_t w)
    {
        tail.push_back(t);
        head.push_back(h);
        cap.push_back(c);
        cost.push_back(w);
    }
};

struct Party {
    uint32_t bus;
    bool grid;
    int64_t price, cap;
};

int64_t fee(const mi_instance &in, uint32_t bus_buy, uint32_t bus_sell)
{
    return MI_FEE_RATE_MICRO_PER_KWH * int64_t(in.matrix[size_t(bus_buy) * in.nbus + bus_sell]);
}

// market/mkt_p2p.c's network for this book (time priority is index order,
// no preferences, the grid at bus 0).
Network p2p_network(const mi_instance &in, bool dense)
{
    std::vector<Party> buy, sell;
    int64_t buy_total = 0, sell_total = 0;
    for (size_t i = 0; i < in.norders; i++) {
        const mi_order &o = in.orders[i];
        (o.sell ? sell : buy).push_back(Party{o.bus, false, o.price_micro_per_kwh, o.qty_wh});
        (o.sell ? sell_total : buy_total) += o.qty_wh;
    }
    if (sell_total > 0)
        buy.push_back(Party{0, true, MI_FEED_IN_MICRO_PER_KWH, sell_total});
    if (buy_total > 0)
        sell.push_back(Party{0, true, MI_RETAIL_MICRO_PER_KWH, buy_total});
    const int64_t big = buy_total + sell_total + 1;
    const int ns = int(sell.size()), nb = int(buy.size()), K = int(in.nbus);
    const int src = 0, snk = 1, s0 = 2, b0 = 2 + ns, x0 = 2 + ns + nb;
    Network g;
    for (int j = 0; j < ns; j++)
        g.arc(src, s0 + j, sell[j].cap, dense ? 0 : sell[j].price);
    for (int i = 0; i < nb; i++)
        g.arc(b0 + i, snk, buy[i].cap, dense ? 0 : -buy[i].price);
    g.arc(snk, src, big, 0);
    if (!dense) {
        for (int j = 0; j < ns; j++)
            g.arc(s0 + j, x0 + (sell[j].grid ? K : int(sell[j].bus)), sell[j].cap, 0);
        for (int i = 0; i < nb; i++)
            g.arc(x0 + K + 1 + (buy[i].grid ? K : int(buy[i].bus)), b0 + i, buy[i].cap, 0);
        for (int a = 0; a <= K; a++)
            for (int b = 0; b <= K; b++) {
                uint32_t ba = a == K ? 0 : uint32_t(a), bb = b == K ? 0 : uint32_t(b);
                g.arc(x0 + a, x0 + K + 1 + b, a == K && b == K ? 0 : big, fee(in, bb, ba));
            }
        g.nnodes = x0 + 2 * (K + 1);
    } else {
        for (int j = 0; j < ns; j++)
            for (int i = 0; i < nb; i++) {
                int64_t s = buy[i].price - sell[j].price - fee(in, buy[i].bus, sell[j].bus);
                if (s > 0)
                    g.arc(s0 + j, b0 + i, std::min(buy[i].cap, sell[j].cap), -s);
            }
        g.nnodes = x0;
    }
    return g;
}

uint64_t now_ns()
{
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now().time_since_epoch())
                        .count());
}

// Book to optimum with LEMON; returns the optimal cost, *ns the time.
int64_t lemon_solve(const mi_instance &in, bool dense, uint64_t *ns)
{
    using Digraph = lemon::SmartDigraph;
    uint64_t t0 = now_ns();
    Network net = p2p_network(in, dense);
    Digraph gr;
    gr.reserveNode(net.nnodes);
    gr.reserveArc(int(net.tail.size()));
    std::vector<Digraph::Node> node(size_t(net.nnodes));
    for (auto &v : node)
        v = gr.addNode();
    Digraph::ArcMap<int64_t> cap(gr), cost(gr);
    for (size_t k = 0; k < net.tail.size(); k++) {
        Digraph::Arc a = gr.addArc(node[size_t(net.tail[k])], node[size_t(net.head[k])]);
        cap[a] = net.cap[k];
        cost[a] = net.cost[k];
    }
    int64_t total;
    bool ok;
    if (dense) {
        lemon::NetworkSimplex<Digraph, int64_t, int64_t> ns_alg(gr);
        ns_alg.upperMap(cap).costMap(cost);
        ok = ns_alg.run() == lemon::NetworkSimplex<Digraph, int64_t, int64_t>::OPTIMAL;
        total = ns_alg.totalCost<int64_t>();
    } else {
        lemon::CostScaling<Digraph, int64_t, int64_t> cs(gr);
        cs.upperMap(cap).costMap(cost);
        ok = cs.run() == lemon::CostScaling<Digraph, int64_t, int64_t>::OPTIMAL;
        total = cs.totalCost<int64_t>();
    }
    *ns = now_ns() - t0;
    if (!ok) {
        std::fprintf(stderr, "LEMON: no optimum\n");
        std::exit(1);
    }
    return total;
}

// Returns 0 when LEMON's optimum equals ours.
int compare(const char *label, size_t norders, uint32_t nbus, bool dense, double target_ms,
            double target_ratio, const char *lemon_alg)
{
    mi_instance in = mi_make(norders, nbus, 2);
    uint64_t ours = UINT64_MAX, theirs = UINT64_MAX;
    int64_t welfare = 0, cost = 0;
    for (int k = 0; k < 5; k++) {
        uint64_t t;
        int64_t w;
        if (mi_ours_p2p(&in, dense, 1, &t, &w))
            std::exit(1);
        welfare = w;
        ours = std::min(ours, t);
        cost = lemon_solve(in, dense, &t);
        theirs = std::min(theirs, t);
    }
    bool equal = cost == -welfare;
    double ratio = double(ours) / double(theirs);
    std::printf("%-30s ours %8.3f ms (target < %.0f ms)  LEMON %s %8.3f ms  ratio %.2f "
                "(target <= %.1f)  optimum equal: %s (welfare %lld, LEMON cost %lld)\n",
                label, double(ours) / 1e6, target_ms, lemon_alg, double(theirs) / 1e6, ratio,
                target_ratio, equal ? "yes" : "NO", (long long)welfare, (long long)cost);
    mi_free(&in);
    return equal ? 0 : 1;
}

} // namespace

int main()
{
    int bad = 0;
    bad |= compare("p2p bus form, 10k on 55 buses", 10000, 55, false, 25, 1.5, "CostScaling");
    bad |= compare("p2p dense, 1000 x 1000", 2000, 8, true, 250, 2.0, "NetworkSimplex");
    return bad;
}
