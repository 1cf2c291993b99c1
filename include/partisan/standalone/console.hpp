// Standalone mode's control: one command per line on stdin, each turned
// into the control call the shim would make (control_api.hpp), its answer
// printed as one line on stdout. For scale runs and benchmarks of C-nodes
// without BEAM nodes (docs/SCALE.md):
//
//   join NAME IP PORT       -> REPLY <n> ok | {error, ...}
//   broadcast TAG           -> REPLY <n> ok      (TAG an integer, to `counter` on every node)
//   members | views | stats | unreachable   -> REPLY <n> {ok, ...}
//   delivered               -> REPLY <n> {ok, Messages}   (local deliveries counted)
//
// Stdin at EOF ends the C-node, as in BEAM mode.
#pragma once

#include "partisan/core/context.hpp"
#include "partisan/control/control_api.hpp"
#include "partisan/standalone/counting_beam.hpp"

#include <asio.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace partisan {

class Console {
public:
    // Runs `request` (an encoded control request, no version byte) and has
    // the answer sent through `reply`.
    using Dispatch = std::function<void(etf::Reader request, ReplySender reply, Bytes ref)>;

    Console(Context& ctx, Dispatch dispatch, std::vector<std::unique_ptr<CountingBeam>>& beams);
    void start();
    void close();

    // One command line to the request it stands for; false when unknown
    // or malformed (pure; tested).
    static bool parse(const std::string& line, std::vector<uint8_t>& request);

private:
    void read();
    void run(const std::string& line);

    Context& ctx_;
    Dispatch dispatch_;
    std::vector<std::unique_ptr<CountingBeam>>& beams_;
    asio::posix::stream_descriptor in_;
    asio::streambuf buf_;
    uint64_t seq_ = 0;
};

}  // namespace partisan
