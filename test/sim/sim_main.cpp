// overlay_sim: the experiments of docs/SIMULATION.md at full size, printed
// as markdown. Not a test (make sim runs it).
//
//   overlay_sim --nodes 10000 --seed 1,2 --failures 0.5,0.8 --jobs 2
#include "experiment.hpp"
#include "report.hpp"

#include <boost/program_options.hpp>

#include <charconv>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace po = boost::program_options;
using namespace partisan::sim;

namespace {

// "0.5,0.8" or "1,2".
template <typename T>
std::vector<T> parse_list(const std::string& text, const char* what) {
    std::vector<T> out;
    size_t at = 0;
    while (at <= text.size()) {
        size_t comma = text.find(',', at);
        if (comma == std::string::npos) comma = text.size();
        const char* first = text.data() + at;
        const char* last = text.data() + comma;
        T value{};
        auto [end, ec] = std::from_chars(first, last, value);
        if (first == last || ec != std::errc{} || end != last)
            throw std::invalid_argument(std::string("bad ") + what + " '" + text + "'");
        out.push_back(value);
        at = comma + 1;
    }
    return out;
}

Millis millis_of(long long v) { return Millis{v}; }

}  // namespace

int main(int argc, char** argv) {
    ExperimentConfig config;
    auto& sim = config.sim;
    auto& hv = sim.hyparview;
    std::string seeds = "1", failures = "0.5,0.8";
    size_t jobs = 1;
    unsigned arwl = hv.arwl, prwl = hv.prwl;
    long long shuffle_ms = hv.shuffle_interval.count(), min_latency = sim.network.min_latency.count(),
              max_latency = sim.network.max_latency.count(), join_ms = sim.join_interval.count(),
              detection_ms = sim.network.detection_delay.count(),
              connect_ms = sim.network.connect_timeout.count(), settle_s = config.settle.count() / 1000,
              heal_s = config.heal.count() / 1000;
    sim.nodes = 10000;

    po::options_description desc("overlay_sim: HyParView + Plumtree, simulated (docs/SIMULATION.md)");
    desc.add_options()                                                                       //
        ("help", "this text")                                                                //
        ("nodes", po::value(&sim.nodes)->default_value(sim.nodes), "nodes")                 //
        ("seed", po::value(&seeds)->default_value(seeds), "seeds, comma separated: one run each")  //
        ("failures", po::value(&failures)->default_value(failures), "fractions killed at once, comma separated")
        ("active", po::value(&hv.active_size)->default_value(hv.active_size), "active view size")      //
        ("passive", po::value(&hv.passive_size)->default_value(hv.passive_size), "passive view size")  //
        ("arwl", po::value(&arwl)->default_value(arwl), "active random walk length")                    //
        ("prwl", po::value(&prwl)->default_value(prwl), "passive random walk length")                   //
        ("ka", po::value(&hv.shuffle_active)->default_value(hv.shuffle_active), "active entries per shuffle")
        ("kp", po::value(&hv.shuffle_passive)->default_value(hv.shuffle_passive), "passive entries per shuffle")
        ("shuffle-ms", po::value(&shuffle_ms)->default_value(shuffle_ms), "shuffle interval")             //
        ("min-latency-ms", po::value(&min_latency)->default_value(min_latency), "least latency")          //
        ("max-latency-ms", po::value(&max_latency)->default_value(max_latency), "greatest latency")       //
        ("join-interval-ms", po::value(&join_ms)->default_value(join_ms), "between joins")                 //
        ("detection-ms", po::value(&detection_ms)->default_value(detection_ms), "failure detection delay")  //
        ("connect-timeout-ms", po::value(&connect_ms)->default_value(connect_ms), "a dial to a dead node fails after")
        ("settle-s", po::value(&settle_s)->default_value(settle_s), "after the joins, before measuring")  //
        ("heal-s", po::value(&heal_s)->default_value(heal_s), "after a failure, before broadcasting again")
        ("wire", po::bool_switch(&sim.wire_round_trip), "every message through the real frame codecs")   //
        ("jobs", po::value(&jobs)->default_value(jobs), "runs at once (one per seed)");

    std::vector<uint64_t> seed_list;
    try {
        po::variables_map vm;
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
        if (vm.count("help")) {
            std::cout << desc << "\n";
            return 0;
        }
        seed_list = parse_list<uint64_t>(seeds, "--seed");
        config.failures = parse_list<double>(failures, "--failures");
        if (arwl > 255 || prwl > 255 || prwl > arwl) throw std::invalid_argument("bad --arwl/--prwl");
        if (min_latency < 0 || max_latency < min_latency) throw std::invalid_argument("bad latencies");
        if (sim.nodes < 2 || jobs == 0) throw std::invalid_argument("bad --nodes or --jobs");
        for (double f : config.failures)
            if (f < 0 || f >= 1) throw std::invalid_argument("bad --failures (each in [0, 1))");
    } catch (const std::exception& e) {
        std::cerr << "overlay_sim: " << e.what() << "\n" << desc << "\n";
        return 2;
    }
    hv.arwl = static_cast<uint8_t>(arwl);
    hv.prwl = static_cast<uint8_t>(prwl);
    hv.shuffle_interval = millis_of(shuffle_ms);
    sim.network.min_latency = millis_of(min_latency);
    sim.network.max_latency = millis_of(max_latency);
    sim.network.detection_delay = millis_of(detection_ms);
    sim.network.connect_timeout = millis_of(connect_ms);
    sim.join_interval = millis_of(join_ms);
    config.settle = millis_of(settle_s * 1000);
    config.heal = millis_of(heal_s * 1000);

    // One run per seed, `jobs` at a time; each run is independent (no shared
    // state), so the results do not depend on how many run at once.
    std::vector<ExperimentResult> results(seed_list.size());
    for (size_t first = 0; first < seed_list.size(); first += jobs) {
        std::vector<std::thread> running;
        for (size_t i = first; i < std::min(seed_list.size(), first + jobs); ++i) {
            running.emplace_back([&, i] {
                ExperimentConfig c = config;
                c.sim.seed = seed_list[i];
                results[i] = run_experiment(c);
                // Progress on stderr; stdout is the report.
                std::cerr << ("overlay_sim: seed " + std::to_string(c.sim.seed) + " done in " +
                              std::to_string(static_cast<int>(results[i].wall_seconds)) + " s\n");
            });
        }
        for (auto& t : running) t.join();
    }

    std::cout << "# HyParView + Plumtree, simulated\n\n";
    write_setup(std::cout, config);
    std::cout << "## Summary\n\n";
    write_summary(std::cout, results);
    uint64_t breaches = 0;
    for (const auto& r : results) {
        write_markdown(std::cout, r);
        breaches += r.breaches.total();
    }
    return breaches == 0 ? 0 : 1;
}
