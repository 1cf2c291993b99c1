#include "options.hpp"

#include <boost/program_options.hpp>

#include <charconv>
#include <cmath>
#include <ostream>
#include <stdexcept>

namespace po = boost::program_options;

namespace link_emulator {
namespace {

std::uint16_t parse_port(std::string_view text, std::string_view what) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value > 65535)
        throw std::invalid_argument("bad " + std::string(what) + " '" + std::string(text) + "'");
    return static_cast<std::uint16_t>(value);
}

}  // namespace

Route parse_route(std::string_view text) {
    const std::string usage = "bad --route '" + std::string(text) +
                              "' (want LISTEN_PORT=TARGET_HOST:TARGET_PORT)";
    const auto eq = text.find('=');
    if (eq == std::string_view::npos) throw std::invalid_argument(usage);
    const std::string_view target = text.substr(eq + 1);
    const auto colon = target.rfind(':');
    if (colon == std::string_view::npos || colon == 0) throw std::invalid_argument(usage);
    std::string_view host = target.substr(0, colon);
    if (host.front() == '[') {
        if (host.size() < 3 || host.back() != ']') throw std::invalid_argument(usage);
        host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string_view::npos) {
        throw std::invalid_argument(usage + ": bracket an IPv6 host, [::1]:PORT");
    }
    Route route;
    route.listen_port = parse_port(text.substr(0, eq), "listen port");
    route.target_host = std::string(host);
    route.target_port = parse_port(target.substr(colon + 1), "target port");
    if (route.target_port == 0) throw std::invalid_argument(usage + ": target port 0");
    return route;
}

std::string format_target(const Route& route) {
    const bool v6 = route.target_host.find(':') != std::string::npos;
    return (v6 ? "[" + route.target_host + "]" : route.target_host) + ":" +
           std::to_string(route.target_port);
}

std::optional<Config> parse_command_line(int argc, const char* const argv[], std::ostream& out) {
    Config config;
    std::vector<std::string> routes;
    // Signed, so that "-1" is refused rather than wrapped.
    long long max_buffer = static_cast<long long>(config.max_buffer_bytes);
    po::options_description desc(
        "link_emulator: a TCP relay that emulates a network link (delay, rate, buffer)\n"
        "Options");
    desc.add_options()
        ("help,h", "print this help")
        ("route", po::value(&routes)->composing(),
         "LISTEN_PORT=TARGET_HOST:TARGET_PORT, repeatable; LISTEN_PORT 0 picks a free port")
        ("listen-ip", po::value(&config.listen_ip)->default_value(config.listen_ip),
         "address to listen on")
        ("delay-ms", po::value(&config.delay_ms)->default_value(config.delay_ms),
         "one-way delay added in each direction (the round trip grows by twice this)")
        ("rate-mbit", po::value(&config.rate_mbit)->default_value(config.rate_mbit),
         "bandwidth cap per direction per connection, Mbit/s (10^6 bits); 0 = unlimited")
        ("link-rate-mbit", po::value(&config.link_rate_mbit)->default_value(config.link_rate_mbit),
         "bandwidth cap per direction per route, shared by all the route's connections (the link "
         "into and out of its target), Mbit/s; 0 = none")
        ("max-buffer-bytes", po::value(&max_buffer)->default_value(max_buffer),
         "bytes buffered per direction per connection; when full, reading stops (TCP backpressure)")
        ("print-ports", po::bool_switch(&config.print_ports),
         "print LISTEN_PORT_ACTUAL=TARGET_HOST:TARGET_PORT on stdout, one line per route, at start");

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw std::invalid_argument(e.what());
    }
    if (vm.count("help") != 0) {
        out << desc << '\n';
        return std::nullopt;
    }
    if (routes.empty()) throw std::invalid_argument("at least one --route is needed");
    for (const auto& text : routes) config.routes.push_back(parse_route(text));
    if (!std::isfinite(config.delay_ms) || config.delay_ms < 0)
        throw std::invalid_argument("--delay-ms must be >= 0");
    if (!std::isfinite(config.rate_mbit) || config.rate_mbit < 0)
        throw std::invalid_argument("--rate-mbit must be >= 0");
    if (!std::isfinite(config.link_rate_mbit) || config.link_rate_mbit < 0)
        throw std::invalid_argument("--link-rate-mbit must be >= 0");
    if (max_buffer < 1) throw std::invalid_argument("--max-buffer-bytes must be >= 1");
    config.max_buffer_bytes = static_cast<std::size_t>(max_buffer);
    return config;
}

}  // namespace link_emulator
