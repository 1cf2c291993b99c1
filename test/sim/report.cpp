#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <string>
#include <tuple>

namespace partisan::sim {

namespace {

std::string fixed(double v, int decimals = 2) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return buf;
}

std::string percent(double fraction) { return fixed(100 * fraction, 2) + "%"; }

std::string ms(Millis m) { return std::to_string(m.count()); }

// Summaries of a series of broadcasts.
struct Series {
    double min_reliability = 1, mean_reliability = 0, mean_rmr = 0, mean_ldh = 0;
    uint16_t max_ldh = 0;
};

// Plumtree's records and flooding's results alike: both give reliability(),
// rmr() and last_hop.
template <typename Result>
Series summarise(const std::vector<Result>& results, size_t skip = 0) {
    Series s;
    size_t n = 0;
    for (size_t i = skip; i < results.size(); ++i, ++n) {
        const auto& r = results[i];
        s.min_reliability = std::min(s.min_reliability, r.reliability());
        s.mean_reliability += r.reliability();
        s.mean_rmr += r.rmr();
        s.mean_ldh += r.last_hop;
        s.max_ldh = std::max(s.max_ldh, r.last_hop);
    }
    if (n) {
        s.mean_reliability /= static_cast<double>(n);
        s.mean_rmr /= static_cast<double>(n);
        s.mean_ldh /= static_cast<double>(n);
    } else {
        s.min_reliability = 0;
    }
    return s;
}

void write_distribution(std::ostream& out, const char* what, const Distribution& d) {
    out << "| " << what << " | nodes |\n|---:|---:|\n";
    for (size_t v = 0; v < d.counts.size(); ++v)
        if (d.counts[v]) out << "| " << v << " | " << d.counts[v] << " |\n";
    out << "\n";
}

void write_overlay_rows_header(std::ostream& out) {
    out << "| when | live | components | largest | empty active views | active view mean | asymmetric entries "
           "| dead in active views | dead in passive views |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
}

void write_overlay_row(std::ostream& out, const std::string& when, const OverlayStats& s) {
    out << "| " << when << " | " << s.live << " | " << s.components << " | " << s.largest_component << " | "
        << s.isolated << " | " << fixed(s.active_size.mean) << " | " << s.asymmetric << " | " << s.dead_in_active
        << " | " << s.dead_in_passive << " |\n";
}

void write_broadcasts(std::ostream& out, const std::vector<BroadcastRecord>& records,
                      const std::vector<FloodResult>& floods, Millis since, const char* flood_title) {
    out << "| # | sent at (ms) | reliability | Plumtree RMR | Plumtree LDH | last delivery (ms) | " << flood_title
        << ": reliability | RMR | LDH |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (size_t i = 0; i < records.size(); ++i) {
        const auto& r = records[i];
        out << "| " << i + 1 << " | " << ms(r.sent_at - since) << " | " << percent(r.reliability()) << " | "
            << fixed(r.rmr()) << " | " << r.last_hop << " | " << ms(r.last_delivery) << " | ";
        if (i < floods.size())
            out << percent(floods[i].reliability()) << " | " << fixed(floods[i].rmr()) << " | " << floods[i].last_hop
                << " |\n";
        else
            out << " | | |\n";
    }
    out << "\n";
}

void write_breaches(std::ostream& out, const Breaches& b) {
    if (b.total() == 0) {
        out << "Contract breaches seen by the simulator: none.\n\n";
        return;
    }
    out << "Contract breaches seen by the simulator: send_on_link_not_up " << b.send_on_link_not_up
        << ", answer_without_message " << b.answer_without_message << ", unknown_peer " << b.unknown_peer
        << ", duplicate_delivery " << b.duplicate_delivery << ", unknown_delivery " << b.unknown_delivery
        << ", frame_round_trip " << b.frame_round_trip << ", links_change_unreported " << b.links_change_unreported
        << ", active_change_unreported " << b.active_change_unreported << ", active_without_link "
        << b.active_without_link << ".\n\n";
}

void write_traffic(std::ostream& out, const Traffic& t) {
    static const char* hv[] = {"JOIN", "FORWARD_JOIN", "NEIGHBOR", "NEIGHBOR_REPLY", "DISCONNECT", "SHUFFLE",
                               "SHUFFLE_REPLY"};
    static const char* pt[] = {"GOSSIP", "IHAVE", "GRAFT", "PRUNE"};
    static_assert(std::size(hv) == std::tuple_size_v<decltype(t.hyparview)>);
    static_assert(std::size(pt) == std::tuple_size_v<decltype(t.plumtree)>);
    out << "| message | sent |\n|---|---:|\n";
    for (size_t i = 0; i < t.hyparview.size(); ++i) out << "| " << hv[i] << " | " << t.hyparview[i] << " |\n";
    for (size_t i = 0; i < t.plumtree.size(); ++i) out << "| " << pt[i] << " | " << t.plumtree[i] << " |\n";
    out << "| (lost: to a dead node) | " << t.lost << " |\n\n";
}

}  // namespace

void write_setup(std::ostream& out, const ExperimentConfig& c) {
    const auto& s = c.sim;
    const auto& h = s.hyparview;
    out << "| parameter | value |\n|---|---|\n"
        << "| nodes | " << s.nodes << " |\n"
        << "| HyParView active / passive view | " << h.active_size << " / " << h.passive_size << " |\n"
        << "| ARWL / PRWL | " << int{h.arwl} << " / " << int{h.prwl} << " |\n"
        << "| shuffle: ka / kp, interval | " << h.shuffle_active << " / " << h.shuffle_passive << ", "
        << ms(h.shuffle_interval) << " ms |\n"
        << "| promotion interval, link timeout | " << ms(h.promotion_interval) << " ms, " << ms(h.link_timeout)
        << " ms |\n"
        << "| Plumtree graft timeout / retry, IHAVE interval | " << ms(s.plumtree.graft_timeout) << " / "
        << ms(s.plumtree.graft_retry) << " ms, " << ms(s.plumtree.lazy_interval) << " ms |\n"
        << "| latency per message | uniform " << ms(s.network.min_latency) << "-" << ms(s.network.max_latency)
        << " ms, FIFO per pair of nodes |\n"
        << "| failed dial, failure detection | " << ms(s.network.connect_timeout) << " ms, "
        << ms(s.network.detection_delay) << " ms (a send to a dead node: a reset after one latency) |\n"
        << "| tick | every " << ms(s.tick_interval) << " ms, staggered |\n"
        << "| joins | one every " << ms(s.join_interval) << " ms through a random joined node, then "
        << ms(c.settle) << " ms to settle |\n"
        << "| broadcasts | one every " << ms(c.broadcast_interval) << " ms; delivered = within "
        << ms(s.delivery_window) << " ms |\n"
        << "| healing | " << ms(c.heal) << " ms after the failure |\n"
        << "| frame codecs on every message | " << (s.wire_round_trip ? "yes" : "no") << " |\n\n";
}

void write_markdown(std::ostream& out, const ExperimentResult& r) {
    const auto& c = r.config;
    out << "## Seed " << c.sim.seed << ": " << c.sim.nodes << " nodes\n\n"
        << r.events << " events, " << fixed(r.wall_seconds, 1) << " s of wall time.\n\n";
    write_breaches(out, r.breaches);

    const auto& o = r.stable.overlay;
    out << "### The overlay after the joins\n\n";
    write_overlay_rows_header(out);
    write_overlay_row(out, "settled", o);
    out << "\nPassive views: min " << o.passive_size.min << ", mean " << fixed(o.passive_size.mean) << ", max "
        << o.passive_size.max << ". In-degree (active views holding the node): min " << o.in_degree.min
        << ", 1st percentile " << o.in_degree.percentile(0.01) << ", median " << o.in_degree.percentile(0.5)
        << ", 99th percentile " << o.in_degree.percentile(0.99) << ", max " << o.in_degree.max << ", mean "
        << fixed(o.in_degree.mean) << ".\n\n";
    write_distribution(out, "active view size", o.active_size);
    write_distribution(out, "in-degree", o.in_degree);

    out << "### Broadcasts in the stable overlay\n\n"
        << "Flooding runs over the same active-view graph from the same origin. Times are from the first "
           "broadcast.\n\n";
    Millis start = r.stable.broadcasts.empty() ? Millis{0} : r.stable.broadcasts.front().sent_at;
    write_broadcasts(out, r.stable.broadcasts, r.stable.flood, start, "flooding");

    for (const auto& f : r.failures) {
        Millis failed_at = f.after_failure.empty() ? Millis{0} : f.after_failure.front().sent_at;
        out << "### " << fixed(100 * f.fraction, 0) << "% of the nodes fail at once (" << f.killed << " killed, "
            << f.survivors << " left)\n\n"
            << "Broadcasts right after the failure (times from the failure). The flooding columns flood the "
               "views as they were at the failure, the dead taken out and nothing repaired.\n\n";
        write_broadcasts(out, f.after_failure, f.flood_unrepaired, failed_at, "flooding, unrepaired");
        write_overlay_rows_header(out);
        write_overlay_row(out, "after those broadcasts", f.after_broadcasts);
        write_overlay_row(out, "healed (" + std::to_string(c.heal.count() / 1000) + " s after)", f.healed);
        out << "\nBroadcasts after healing (times from the failure):\n\n";
        write_broadcasts(out, f.after_heal, f.flood_healed, failed_at, "flooding");
    }

    out << "### Messages (first run)\n\n";
    write_traffic(out, r.traffic);
}

void write_summary(std::ostream& out, const std::vector<ExperimentResult>& results) {
    out << "### Overlay and stable broadcasts\n\n"
        << "| seed | components | full active views | in-degree min / mean / max | reliability (min) "
           "| Plumtree RMR: first / steady | Plumtree LDH: first / steady (max) | flooding RMR | flooding LDH "
           "(max) |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& r : results) {
        const auto& o = r.stable.overlay;
        size_t warmup = r.config.warmup_broadcasts;
        Series steady = summarise(r.stable.broadcasts, warmup);
        Series all = summarise(r.stable.broadcasts);
        Series fl = summarise(r.stable.flood);
        double first_rmr = r.stable.broadcasts.empty() ? 0 : r.stable.broadcasts.front().rmr();
        unsigned first_ldh = r.stable.broadcasts.empty() ? 0 : r.stable.broadcasts.front().last_hop;
        double full = o.live ? static_cast<double>(o.active_size.count(r.config.sim.hyparview.active_size)) /
                                   static_cast<double>(o.live)
                             : 0;
        out << "| " << r.config.sim.seed << " | " << o.components << " | " << percent(full) << " | "
            << o.in_degree.min << " / " << fixed(o.in_degree.mean) << " / " << o.in_degree.max << " | "
            << percent(all.min_reliability) << " | " << fixed(first_rmr) << " / " << fixed(steady.mean_rmr) << " | "
            << first_ldh << " / " << fixed(steady.mean_ldh, 1) << " (" << steady.max_ldh << ") | "
            << fixed(fl.mean_rmr) << " | " << fixed(fl.mean_ldh, 1) << " (" << fl.max_ldh << ") |\n";
    }
    out << "\n### Failures\n\n"
        << "| seed | failed | reliability of broadcasts 1-10 after the failure | unrepaired flooding (mean) "
           "| healed: components (largest / live) | healed: reliability min / mean | healed: Plumtree RMR, LDH "
           "|\n|---:|---:|---|---:|---:|---:|---:|\n";
    for (const auto& r : results) {
        for (const auto& f : r.failures) {
            std::string series;
            for (const auto& b : f.after_failure)
                series += (series.empty() ? "" : ", ") + fixed(100 * b.reliability(), 1);
            Series healed = summarise(f.after_heal);
            Series unrepaired = summarise(f.flood_unrepaired);
            out << "| " << r.config.sim.seed << " | " << fixed(100 * f.fraction, 0) << "% | " << series << " | "
                << percent(unrepaired.mean_reliability) << " | " << f.healed.components << " ("
                << f.healed.largest_component << " / " << f.healed.live << ") | "
                << percent(healed.min_reliability) << " / " << percent(healed.mean_reliability) << " | "
                << fixed(healed.mean_rmr) << ", " << fixed(healed.mean_ldh, 1) << " |\n";
        }
    }
    out << "\n";
}

}  // namespace partisan::sim
