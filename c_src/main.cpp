// partisan_cnode: one per BEAM node, started by the Erlang application as a
// port. Reads its secrets from stdin, connects to its BEAM, listens for
// peers, and runs everything on one Asio event loop until stdin closes
// (the BEAM is gone) or the BEAM link drops. With --mode standalone there is
// no BEAM: commands come on stdin (console.hpp) and local deliveries are
// counted (scale runs, benchmarks).
#include "partisan/beam/beam_link.hpp"
#include "partisan/node/node.hpp"
#include "partisan/core/config.hpp"
#include "partisan/core/log.hpp"
#include "partisan/standalone/console.hpp"
#include "partisan/standalone/counting_beam.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <iostream>

using namespace partisan;

namespace {

// Exits the loop when stdin reaches EOF: the port closed or the BEAM died.
void watch_stdin(asio::posix::stream_descriptor& in, std::array<char, 256>& buf, asio::io_context& io,
                 Logger& log) {
    in.async_read_some(asio::buffer(buf), [&](const asio::error_code& ec, size_t) {
        if (ec) {
            PLOG(log, info, "stdin closed; exiting");
            io.stop();
            return;
        }
        watch_stdin(in, buf, io, log);
    });
}

}  // namespace

int main(int argc, char** argv) {
    std::signal(SIGPIPE, SIG_IGN);
    // If the parent goes without closing our stdin, go too.
    prctl(PR_SET_PDEATHSIG, SIGTERM);

    ParseResult parsed = parse_command_line(argc, argv);
    if (!parsed.config) {
        std::cout << parsed.message;
        if (parsed.message.empty() || parsed.message.back() != '\n') std::cout << '\n';
        std::cout.flush();
        return parsed.exit_code;
    }
    if (parsed.check_only) {
        std::cout << "info options valid" << std::endl;
        return 0;
    }
    Config cfg = std::move(*parsed.config);
    Logger log(cfg.log_level);
    if (std::string err = read_secrets(std::cin, cfg); !err.empty()) {
        PLOG(log, error, "%s", err.c_str());
        return 2;
    }

    ei_init();
    asio::io_context io(1);
    Context ctx{io, cfg, log};
    // From here on logging never blocks the loop; flushed (bounded) at exit.
    log.attach(io);
    struct FlushAtExit {
        Logger& log;
        ~FlushAtExit() { log.flush_blocking(std::chrono::milliseconds(2000)); }
    } flush_at_exit{log};
    try {
        Node node(ctx);
        bool standalone = cfg.mode == "standalone";
        std::vector<std::shared_ptr<BeamLink>> links;
        std::vector<std::unique_ptr<CountingBeam>> counters;
        std::unique_ptr<Console> console;
        asio::posix::stream_descriptor in(io);
        std::array<char, 256> inbuf{};
        if (standalone) {
            std::vector<BeamChannel*> channels;
            for (size_t c = 0; c < cfg.channels.size(); ++c) {
                counters.push_back(std::make_unique<CountingBeam>(c));
                channels.push_back(counters.back().get());
            }
            node.attach_standalone(std::move(channels));
            console = std::make_unique<Console>(
                ctx, [&node](etf::Reader r, ReplySender send, Bytes ref) { node.control(r, std::move(send), ref); },
                counters);
            console->start();
        } else {
            // One distribution link per channel: each channel gets its own
            // BEAM-side queue and backpressure. Channel 0 uses the C-node's name.
            const std::string& base = cfg.cnode_name;
            auto at = base.find('@');
            for (size_t c = 0; c < cfg.channels.size(); ++c) {
                std::string name = c == 0 ? base : base.substr(0, at) + "_c" + std::to_string(c) + base.substr(at);
                links.push_back(BeamLink::connect(ctx, name, c));
            }
            node.attach(links);
            for (auto& link : links) link->start(&node);
            in.assign(::dup(STDIN_FILENO));
            watch_stdin(in, inbuf, io, log);
        }

        asio::signal_set signals(io, SIGTERM, SIGINT);
        signals.async_wait([&](const asio::error_code& ec, int sig) {
            if (!ec) PLOG(log, info, "signal %d; exiting", sig);
            io.stop();
        });

        node.start();
        if (standalone) {
            auto addrs = node.listen_addresses();
            log.raw_line("READY " + cfg.beam_node + " " + (addrs.empty() ? "?" : addrs[0].ip) + " " +
                         std::to_string(addrs.empty() ? 0 : addrs[0].port));
        }
        io.run();
        node.shutdown();
        asio::error_code ec;
        in.close(ec);
        if (console) console->close();
        signals.cancel(ec);
        // Let the cancelled operations finish so every object is released.
        io.restart();
        io.poll();
    } catch (const std::exception& e) {
        PLOG(log, error, "fatal: %s", e.what());
        return 1;
    }
    return 0;
}
