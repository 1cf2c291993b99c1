// link_emulator: a TCP relay that adds delay, rate caps and a bounded
// buffer to every connection it carries (see options.hpp, relay.hpp).
#include "options.hpp"
#include "relay.hpp"

#include <asio.hpp>

#include <csignal>
#include <exception>
#include <iostream>

int main(int argc, char* argv[]) {
    using namespace link_emulator;
    std::optional<Config> config;
    try {
        config = parse_command_line(argc, argv, std::cout);
    } catch (const std::exception& e) {
        std::cerr << "link_emulator: " << e.what() << " (see --help)\n";
        return 2;
    }
    if (!config) return 0;  // --help
    try {
        asio::io_context io(1);
        Relay relay(io, *config);
        if (config->print_ports) {
            for (const auto& bound : relay.bound_routes())
                std::cout << bound.listen_port << '=' << format_target(bound.route) << '\n';
            std::cout.flush();
        }
        asio::signal_set signals(io, SIGINT, SIGTERM);
        signals.async_wait([&relay](std::error_code ec, int) {
            if (!ec) relay.stop();
        });
        io.run();  // returns once stop() has ended every operation
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "link_emulator: " << e.what() << '\n';
        return 1;
    }
}
