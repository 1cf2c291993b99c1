// The broker connection as the event loop sees it. Connecting, logging in
// and the setup RPCs (BrokerConnection plus the caller's `Setup`) block, so
// they run on a short-lived thread; the open connection is then handed to
// the loop, which alone uses it from then on. The loop reads when the
// socket is readable, taking every frame rabbitmq-c has (never waiting for
// more inside it), puts deliveries together (DeliveryAssembler) and
// services heartbeats on a timer. A lost connection is retried with
// ReconnectBackoff; refused credentials wait the longest.
#pragma once

#include "partisan/core/log.hpp"
#include "partisan/transport/amqp/broker_connection.hpp"
#include "partisan/transport/amqp/delivery_assembler.hpp"
#include "partisan/transport/amqp/envelope.hpp"
#include "partisan/transport/amqp/reconnect_backoff.hpp"

#include <asio.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

namespace partisan::amqp {

class SessionEvents {
public:
    virtual ~SessionEvents() = default;
    virtual void on_connected() = 0;
    virtual void on_lost(const std::string& why) = 0;
    // A complete delivery; the properties and body are valid during the call
    // only. The receiver acks it (ack()) once it is handed on.
    virtual void on_delivery(uint16_t channel, uint64_t delivery_tag, bool redelivered,
                             const amqp_basic_properties_t& properties, Bytes body) = 0;
    // basic.ack (`ack`) or basic.nack from the broker for a publish.
    virtual void on_confirm(uint16_t channel, uint64_t delivery_tag, bool multiple, bool ack) = 0;
    // After the frames of one wake-up (deliveries can be acknowledged together).
    virtual void on_read_batch_end() {}
    // The broker stopped reading publishes (a resource alarm), or reads them again.
    virtual void on_blocked(bool /*blocked*/) {}
};

class AmqpSession {
public:
    // Runs on the setup thread after login: open channels, declare, consume.
    using Setup = std::function<bool(BrokerConnection&, std::string& error)>;

    AmqpSession(asio::io_context& io, BrokerOptions options, Setup setup, SessionEvents& events, Logger& log,
                uint64_t seed, uint64_t max_body);
    // Waits for a setup thread still running (bounded by the timeout).
    ~AmqpSession();
    AmqpSession(const AmqpSession&) = delete;
    AmqpSession& operator=(const AmqpSession&) = delete;

    void start();
    void stop();
    bool connected() const { return conn_ != nullptr; }
    // The broker blocks publishing: a publish would wait inside rabbitmq-c.
    bool blocked() const { return blocked_; }
    // The socket's send buffer is asked to hold at least this much, so that
    // what is published and not yet confirmed never fills it.
    static constexpr int send_buffer_bytes = 1 << 20;

    // Publishes on an open channel (not waiting for the confirm); false when
    // not connected or the write failed (the connection is then lost, from
    // the event loop: never inside the caller's call).
    bool publish(uint16_t channel, const std::string& exchange, const std::string& routing_key,
                 const amqp_basic_properties_t& properties, Bytes body);
    // Acknowledges a delivery (`multiple`: and every earlier one on the
    // channel); false when the connection is gone: the broker delivers
    // them again to the next consumer.
    bool ack(uint16_t channel, uint64_t delivery_tag, bool multiple = false);
    // Drops the connection as a network fault would, then reconnects (tests).
    void break_connection();

    uint64_t connects() const { return connects_; }

private:
    void attempt();
    void adopt(std::unique_ptr<BrokerConnection> conn);
    void retry_after(std::chrono::milliseconds wait);
    void wait_readable();
    void drain();
    bool handle(const amqp_frame_t& frame);
    void lose(const std::string& why);
    // A write failed inside a caller's call: lost from the loop, later.
    void lose_later(const std::string& why);
    void tear_down(bool polite, const std::string& why);
    void arm_heartbeat();
    void join_setup();

    asio::io_context& io_;
    BrokerOptions options_;
    Setup setup_;
    SessionEvents& events_;
    Logger& log_;
    ReconnectBackoff backoff_;
    uint64_t max_body_;

    std::unique_ptr<BrokerConnection> conn_;  // owned by the loop once adopted
    std::unique_ptr<asio::posix::stream_descriptor> socket_;  // released, never closed: conn_ owns the fd
    std::map<uint16_t, DeliveryAssembler> assemblers_;
    asio::steady_timer retry_timer_, heartbeat_timer_;
    std::thread setup_thread_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for handlers posted by the setup thread
    bool running_ = false;
    bool blocked_ = false;
    bool broken_ = false;  // a write failed; lose_later() is on its way
    uint64_t connects_ = 0;
};

}  // namespace partisan::amqp
