// The private test broker's options, for the [.broker] tests:
// scripts/run_tests.sh starts it and sets PARTISAN_TEST_AMQP_PORT; without
// it these tests fail, never pass.
#pragma once

#include "partisan/transport/amqp/broker_connection.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include <unistd.h>

namespace partisan::test {

inline amqp::BrokerOptions test_broker() {
    const char* port = std::getenv("PARTISAN_TEST_AMQP_PORT");
    REQUIRE(port != nullptr);
    amqp::BrokerOptions o;
    o.port = static_cast<uint16_t>(std::stoi(port));
    o.password = "guest";
    o.timeout = std::chrono::seconds(10);
    return o;
}

// A broker object's name for this test process only: the normal and the
// sanitized builds run their broker tests one after the other on the same
// broker, and a durable queue keeps what one run left in it (copies of
// messages published again), which the next run would read as its own.
inline std::string unique_name(const std::string& base) { return base + "." + std::to_string(getpid()); }

}  // namespace partisan::test
