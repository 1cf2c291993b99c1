// AmqpSession against a real RabbitMQ broker ([.broker], as
// broker_connection_test.cpp): set up on its thread, driven by an
// io_context; messages published through a PublishWindow with confirms come
// back once and in order, also when the broker restarts in the middle of the
// stream (durable queue, persistent messages; PARTISAN_TEST_AMQP_DIR names
// the broker's directory for test/amqp/broker.sh restart).
#include "partisan/transport/amqp/amqp_session.hpp"
#include "partisan/transport/amqp/delivery_sequence.hpp"
#include "partisan/transport/amqp/publish_window.hpp"

#include <catch2/catch.hpp>

#include "test_broker.hpp"
#include "test_support.hpp"

#include <cstdlib>
#include <string>
#include <functional>
#include <vector>

using namespace partisan;
using namespace partisan::amqp;
using namespace std::chrono_literals;

namespace {

BrokerOptions session_broker() {
    BrokerOptions o = test::test_broker();
    o.heartbeat_s = 2;
    return o;
}

std::vector<uint8_t> integer_term(uint32_t i) {
    return {98, uint8_t(i >> 24), uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i)};
}

// One node talking to itself through the broker: publishes `total`
// messages to its own queue on channel 1 and consumes them on channel 2.
struct Loopback : SessionEvents {
    const std::string queue, exchange, key = "me/undefined";
    asio::io_context& io;
    PublishWindow window{16 << 20, 100000, 64 << 10};  // a few thousand in flight
    DeliverySequence sequence{16};
    std::unique_ptr<AmqpSession> session;
    std::vector<uint32_t> seen;
    uint32_t total;
    uint64_t next_tag = 1, connected = 0, lost = 0, duplicates = 0;

    Loopback(asio::io_context& io_, Logger& log, uint32_t n, std::string q, bool durable)
        : queue(test::unique_name(q)), exchange(queue + ".exchange"), io(io_), total(n) {
        for (uint32_t i = 1; i <= total; ++i) window.push(Outgoing{key, i, {119, 3, 'f', 'o', 'o'}, integer_term(i)});
        auto setup = [this, durable](BrokerConnection& c, std::string& error) {
            return c.open_channel(1, error) && c.confirm_select(1, error) && c.open_channel(2, error) &&
                   c.declare_exchange(1, exchange, "direct", durable, error) &&
                   c.declare_queue(1, queue, durable, error) && c.bind_queue(1, queue, exchange, key, error) &&
                   c.consume(2, queue, 200, error);
        };
        session = std::make_unique<AmqpSession>(io, session_broker(), setup, *this, log, 7, 1 << 20);
        persistent = durable;
    }
    bool persistent = false;

    void publish_more() {
        while (const Outgoing* m = window.next_unpublished()) {
            EnvelopeProperties p;
            write_envelope(Envelope{"me@h", 1, m->seq, Bytes{m->ref.data(), m->ref.size()}}, persistent, p);
            if (!session->publish(1, exchange, key, p.props, Bytes{m->payload.data(), m->payload.size()})) return;
            window.published(next_tag++);
        }
    }
    void on_connected() override {
        ++connected;
        next_tag = 1;
        publish_more();
    }
    void on_lost(const std::string&) override {
        ++lost;
        window.connection_lost();
    }
    void on_confirm(uint16_t, uint64_t tag, bool multiple, bool ack) override {
        if (ack)
            window.confirmed(tag, multiple);
        else
            window.refused(tag, multiple);
        publish_more();
    }
    void on_delivery(uint16_t channel, uint64_t tag, bool, const amqp_basic_properties_t& props, Bytes body) override {
        Envelope e;
        REQUIRE(read_envelope(props, body, "me@h", e));
        if (sequence.accept(std::string(e.sender), e.incarnation, 0, e.seq) == DeliverySequence::Verdict::deliver) {
            REQUIRE(std::vector<uint8_t>(body.data, body.data + body.size) == integer_term(uint32_t(e.seq)));
            seen.push_back(uint32_t(e.seq));
        } else {
            ++duplicates;
        }
        session->ack(channel, tag);
        if (seen.size() == total && window.size() == 0) io.stop();
    }
};

void run_for(asio::io_context& io, std::chrono::seconds limit) {
    asio::steady_timer guard(io, limit);
    guard.async_wait([&](const std::error_code& ec) {
        if (!ec) io.stop();
    });
    io.restart();
    io.run();
}

void check_in_order(const std::vector<uint32_t>& seen, uint32_t total) {
    REQUIRE(seen.size() == total);
    for (uint32_t i = 0; i < total; ++i) REQUIRE(seen[i] == i + 1);
}

}  // namespace

TEST_CASE("amqp session: set up on its thread, then publishes, confirms and deliveries in the loop", "[.broker]") {
    asio::io_context io;
    test::NullFd null;
    Logger log{LogLevel::info, null.fd};
    Loopback node(io, log, 20000, "partisan.session_test.plain", false);
    node.session->start();
    run_for(io, 60s);
    check_in_order(node.seen, node.total);
    CHECK(node.window.size() == 0);
    CHECK(node.connected == 1);
    CHECK(node.duplicates == 0);
}

TEST_CASE("amqp session: a wrong password is retried slowly, with a clear log line", "[.broker]") {
    asio::io_context io;
    test::NullFd null;
    Logger log{LogLevel::info, null.fd};
    struct Counting : SessionEvents {
        int connected = 0;
        void on_connected() override { ++connected; }
        void on_lost(const std::string&) override {}
        void on_delivery(uint16_t, uint64_t, bool, const amqp_basic_properties_t&, Bytes) override {}
        void on_confirm(uint16_t, uint64_t, bool, bool) override {}
    } events;
    BrokerOptions o = session_broker();
    o.password = "wrong";
    AmqpSession session(io, o, [](BrokerConnection&, std::string&) { return true; }, events, log, 1, 1 << 20);
    session.start();
    run_for(io, 8s);
    CHECK(events.connected == 0);
    CHECK_FALSE(session.connected());
}

TEST_CASE("amqp session: the broker restarts mid-stream; a durable queue delivers every message once, in order",
          "[.broker]") {
    const char* dir = std::getenv("PARTISAN_TEST_AMQP_DIR");
    REQUIRE(dir != nullptr);
    asio::io_context io;
    test::NullFd null;
    Logger log{LogLevel::info, null.fd};
    Loopback node(io, log, 30000, "partisan.session_test.durable", true);
    node.session->start();
    // Once some messages have gone through, the broker restarts while the
    // loop waits (so the restart surely falls in the middle of the stream).
    asio::steady_timer poll(io);
    bool restarted = false;
    std::function<void()> watch = [&] {
        poll.expires_after(1ms);
        poll.async_wait([&](const std::error_code& ec) {
            if (ec) return;
            if (node.seen.size() < 5000) return watch();
            std::string cmd = std::string("test/amqp/broker.sh restart ") + dir + " > /dev/null 2>&1";
            restarted = std::system(cmd.c_str()) == 0;
        });
    };
    watch();
    run_for(io, 180s);
    CHECK(restarted);
    check_in_order(node.seen, node.total);
    CHECK(node.lost >= 1);
    CHECK(node.connected >= 2);
    CHECK(node.window.size() == 0);
}
