// Standalone mode's console: command lines to control requests.
#include "partisan/control/control_api.hpp"
#include "partisan/standalone/console.hpp"

#include <catch2/catch.hpp>

using namespace partisan;

namespace {

// The operation and arity a command line becomes, or "" when refused.
std::string op_of(const std::string& line) {
    std::vector<uint8_t> request;
    if (!Console::parse(line, request)) return "";
    std::string_view op;
    ControlArgs args;
    REQUIRE(split_request(etf::Reader(request.data(), request.size()), op, args));
    return std::string(op) + "/" + std::to_string(args.size());
}

}  // namespace

TEST_CASE("console: commands become the control calls the shim makes") {
    REQUIRE(op_of("join n1@127.0.0.1 127.0.0.1 47001") == "join/2");
    REQUIRE(op_of("broadcast 42") == "broadcast/3");
    REQUIRE(op_of("views") == "views/0");
    REQUIRE(op_of("members") == "members/0");
    REQUIRE(op_of("stats") == "stats/0");
    // Refused: unknown, malformed, extra words.
    for (const char* bad : {"", "fly", "join n1 127.0.0.1 1", "join n1@h ::1 1", "join n1@h 127.0.0.1 0",
                            "join n1@h 127.0.0.1 70000", "broadcast x", "views now", "join n1@h 127.0.0.1"}) {
        CAPTURE(bad);
        REQUIRE(op_of(bad).empty());
    }
}
