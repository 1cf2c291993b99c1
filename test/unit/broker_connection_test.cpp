// The broker connection against a real RabbitMQ broker (test/amqp/broker.sh):
// hidden from a plain run ([.broker]); scripts/run_tests.sh starts a
// private broker and runs them with PARTISAN_TEST_AMQP_PORT set. Without it
// they fail, never pass.
#include "partisan/transport/amqp/broker_connection.hpp"
#include "partisan/transport/amqp/delivery_assembler.hpp"
#include "partisan/transport/amqp/delivery_sequence.hpp"
#include "partisan/transport/amqp/envelope.hpp"
#include "partisan/transport/amqp/publish_window.hpp"

#include <catch2/catch.hpp>

#include "test_broker.hpp"

#include <cstdlib>
#include <string>
#include <vector>

using namespace partisan::amqp;
using partisan::Bytes;
using partisan::test::test_broker;
using partisan::test::unique_name;
using namespace std::chrono_literals;

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

namespace {

// A payload term: INTEGER_EXT i, or for every 100th a binary of 300,000
// bytes (a body over several frames of frame_max 131,072).
std::vector<uint8_t> payload_term(uint32_t i) {
    if (i % 100 != 0) return {98, uint8_t(i >> 24), uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
    const uint32_t n = 300000;
    std::vector<uint8_t> t{109, uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)};
    t.resize(5 + n, uint8_t(i));
    return t;
}

// Waits for the broker's confirms until the window is empty.
void await_confirms(BrokerConnection& c, PublishWindow& window) {
    while (window.size() > 0) {
        amqp_frame_t frame;
        timeval tv{10, 0};
        REQUIRE(amqp_simple_wait_frame_noblock(c.state(), &frame, &tv) == AMQP_STATUS_OK);
        if (frame.frame_type != AMQP_FRAME_METHOD) continue;
        if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
            window.confirmed(ack->delivery_tag, ack->multiple);
        } else {
            FAIL("unexpected method " << frame.payload.method.id);
        }
    }
}

}  // namespace

TEST_CASE("broker connection: messages published with confirms arrive once, in order, intact; read frame by frame",
          "[.broker]") {
    const std::string exchange = unique_name("partisan.test.direct"),
                      queue = unique_name("partisan.test.n1.undefined"), key = "n1/undefined";
    auto pub = BrokerConnection::open(test_broker());
    auto sub = BrokerConnection::open(test_broker());
    REQUIRE(pub.connection);
    REQUIRE(sub.connection);
    BrokerConnection& p = *pub.connection;
    BrokerConnection& s = *sub.connection;
    std::string error;
    REQUIRE(p.open_channel(1, error));
    REQUIRE(p.confirm_select(1, error));
    REQUIRE(p.declare_exchange(1, exchange, "direct", false, error));
    REQUIRE(p.declare_queue(1, queue, false, error));
    REQUIRE(p.bind_queue(1, queue, exchange, key, error));
    REQUIRE(s.open_channel(1, error));
    REQUIRE(s.consume(1, queue, 100, error));

    const uint32_t total = 2000;
    PublishWindow window(64 << 20, 4096, 64 << 20);
    for (uint32_t i = 1; i <= total; ++i)
        REQUIRE(window.push(Outgoing{key, i, {119, 3, 'f', 'o', 'o'}, payload_term(i)}));
    uint64_t tag = 1;
    while (const Outgoing* m = window.next_unpublished()) {
        EnvelopeProperties props;
        write_envelope(Envelope{"sender@h", 5, m->seq, Bytes{m->ref.data(), m->ref.size()}}, false, props);
        amqp_bytes_t body{m->payload.size(), const_cast<uint8_t*>(m->payload.data())};
        REQUIRE(amqp_basic_publish(p.state(), 1, amqp_cstring_bytes(exchange.c_str()), amqp_cstring_bytes(key.c_str()),
                                   0, 0, &props.props, body) == AMQP_STATUS_OK);
        window.published(tag++);
    }
    await_confirms(p, window);

    // Read frame by frame, never waiting inside rabbitmq-c for the rest of
    // a message, as the event loop will.
    DeliverySequence sequence(16);
    DeliveryAssembler assembler(1 << 20);
    for (uint32_t i = 1; i <= total;) {
        amqp_frame_t frame;
        timeval tv{10, 0};
        REQUIRE(amqp_simple_wait_frame_noblock(s.state(), &frame, &tv) == AMQP_STATUS_OK);
        auto step = assembler.feed(frame);
        INFO(assembler.error());
        REQUIRE(step != DeliveryAssembler::Step::error);
        REQUIRE(step != DeliveryAssembler::Step::not_mine);
        if (step != DeliveryAssembler::Step::complete) continue;
        Envelope e;
        REQUIRE(read_envelope(assembler.properties(), assembler.body(), "me@h", e));
        CHECK(e.sender == "sender@h");
        REQUIRE(e.seq == i);
        REQUIRE(sequence.accept(std::string(e.sender), e.incarnation, 0, e.seq) == DeliverySequence::Verdict::deliver);
        const Bytes body = assembler.body();
        REQUIRE(std::vector<uint8_t>(body.data, body.data + body.size) == payload_term(i));
        REQUIRE(amqp_basic_ack(s.state(), 1, assembler.delivery_tag(), 0) == AMQP_STATUS_OK);
        amqp_maybe_release_buffers(s.state());
        ++i;
    }
}
