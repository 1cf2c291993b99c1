// The command line of link_emulator (Boost.Program_options) and its checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace link_emulator {

struct Route {
    std::uint16_t listen_port = 0;  // 0: pick a free port
    std::string target_host;
    std::uint16_t target_port = 0;

    bool operator==(const Route&) const = default;
};

struct Config {
    std::vector<Route> routes;
    std::string listen_ip = "127.0.0.1";
    double delay_ms = 0;      // one-way, added in each direction
    double rate_mbit = 0;     // per direction per connection; 0: unlimited
    double link_rate_mbit = 0;  // per direction per route, shared by its connections; 0: none
    std::size_t max_buffer_bytes = 16 * 1024 * 1024;  // per direction per connection
    bool print_ports = false;
};

// "LISTEN_PORT=HOST:PORT"; HOST may be a bracketed IPv6 address. Throws
// std::invalid_argument.
Route parse_route(std::string_view text);
// "HOST:PORT", bracketing an IPv6 host.
std::string format_target(const Route& route);

// Parses and checks the command line. Returns nullopt after printing the
// help to `out` (--help). Throws std::invalid_argument on a bad command line.
std::optional<Config> parse_command_line(int argc, const char* const argv[], std::ostream& out);

}  // namespace link_emulator
