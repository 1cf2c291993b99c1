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

    // Publishes on an open channel (not waiting for the confirm); false when
    // not connected or the write failed (the connection is then lost).
    bool publish(uint16_t channel, const std::string& exchange, const std::string& routing_key,
                 const EnvelopeProperties& properties, Bytes body);
    // Acknowledges a delivery (false when the connection is gone: the broker
    // delivers it again to the next consumer).
    bool ack(uint16_t channel, uint64_t delivery_tag);

    uint64_t connects() const { return connects_; }

private:
    void attempt();
    void adopt(std::unique_ptr<BrokerConnection> conn);
    void retry_after(std::chrono::milliseconds wait);
    void wait_readable();
    void drain();
    bool handle(const amqp_frame_t& frame);
    void lose(const std::string& why);
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
    uint64_t connects_ = 0;
};

}  // namespace partisan::amqp
