// The broker connection against a real RabbitMQ broker (test/amqp/broker.sh):
// hidden from a plain run ([.broker]); scripts/run_tests.sh starts a
// private broker and runs them with PARTISAN_TEST_AMQP_PORT set. Without it
// they fail, never pass.
#include "partisan/transport/amqp/broker_connection.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

using namespace partisan::amqp;
using namespace std::chrono_literals;

namespace {

BrokerOptions test_broker() {
    const char* port = std::getenv("PARTISAN_TEST_AMQP_PORT");
    REQUIRE(port != nullptr);  // scripts/run_tests.sh sets it
    BrokerOptions o;
    o.port = static_cast<uint16_t>(std::stoi(port));
    o.password = "guest";
    o.timeout = 10s;
    return o;
}

}  // namespace

TEST_CASE("broker connection: logs in, opens channels, closes", "[.broker]") {
    auto r = BrokerConnection::open(test_broker());
    INFO(r.text);
    REQUIRE(r.connection);
    CHECK(r.error == ConnectError::none);
    CHECK(r.connection->fd() >= 0);
    CHECK(r.connection->frame_max() == 131072);
    std::string error;
    CHECK(r.connection->open_channel(1, error));
    CHECK(r.connection->open_channel(2, error));
    CHECK_FALSE(r.connection->open_channel(1, error));  // already open: the broker closes the connection
    CHECK_FALSE(error.empty());
}

TEST_CASE("broker connection: a wrong password is refused, and says so", "[.broker]") {
    BrokerOptions o = test_broker();
    o.password = "not-the-password";
    auto r = BrokerConnection::open(o);
    CHECK_FALSE(r.connection);
    CHECK(r.error == ConnectError::refused);
    CHECK(r.text.find("refused user 'guest'") != std::string::npos);
    CHECK(r.text.find("not-the-password") == std::string::npos);  // never the secret
}

TEST_CASE("broker connection: an unknown vhost is refused, and says which", "[.broker]") {
    BrokerOptions o = test_broker();
    o.vhost = "/no-such-vhost";
    auto r = BrokerConnection::open(o);
    CHECK_FALSE(r.connection);
    CHECK(r.error == ConnectError::no_vhost);
    CHECK(r.text.find("/no-such-vhost") != std::string::npos);
}

TEST_CASE("broker connection: nothing listening is unreachable, within the timeout", "[.broker]") {
    BrokerOptions o = test_broker();
    o.port = 1;  // privileged, nobody listens
    o.timeout = 2s;
    auto start = std::chrono::steady_clock::now();
    auto r = BrokerConnection::open(o);
    CHECK_FALSE(r.connection);
    CHECK(r.error == ConnectError::unreachable);
    CHECK(r.text.find("127.0.0.1:1") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - start < 5s);
}
