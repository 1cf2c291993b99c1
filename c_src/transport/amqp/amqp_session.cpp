#include "partisan/transport/amqp/amqp_session.hpp"

#include <algorithm>

#include <sys/socket.h>

namespace partisan::amqp {

namespace {

constexpr int max_frames_per_wakeup = 1024;  // then the loop serves others first

std::string close_reason(const amqp_frame_t& f) {
    uint16_t code = 0;
    std::string text;
    read_close(f.payload.method, code, text);
    return std::to_string(code) + " " + text;
}

}  // namespace

AmqpSession::AmqpSession(asio::io_context& io, BrokerOptions options, Setup setup, SessionEvents& events, Logger& log,
                         uint64_t seed, uint64_t max_body)
    : io_(io),
      options_(std::move(options)),
      setup_(std::move(setup)),
      events_(events),
      log_(log),
      backoff_(std::chrono::milliseconds(100), std::chrono::milliseconds(10000), seed),
      max_body_(max_body),
      retry_timer_(io),
      heartbeat_timer_(io) {}

AmqpSession::~AmqpSession() {
    *alive_ = false;
    stop();
    join_setup();
}

void AmqpSession::start() {
    if (running_) return;
    running_ = true;
    attempt();
}

void AmqpSession::stop() {
    running_ = false;
    retry_timer_.cancel();
    if (conn_) tear_down(true, "stopped");
}

void AmqpSession::tear_down(bool polite, const std::string& why) {
    heartbeat_timer_.cancel();
    if (socket_) socket_->release();  // conn_ owns the descriptor
    socket_.reset();
    // Polite: a connection.close bounded by the timeout. Otherwise none: the
    // socket may be gone, and a close would wait; the broker requeues what
    // was delivered and not acknowledged.
    if (!polite) conn_->mark_closed();
    conn_.reset();
    assemblers_.clear();
    events_.on_lost(why);
}

void AmqpSession::join_setup() {
    if (setup_thread_.joinable()) setup_thread_.join();
}

void AmqpSession::attempt() {
    join_setup();
    std::weak_ptr<bool> alive = alive_;
    setup_thread_ = std::thread([this, alive, options = options_, setup = setup_] {
        auto result = std::make_shared<BrokerConnection::Result>(BrokerConnection::open(options));
        std::string error;
        if (result->connection && !setup(*result->connection, error)) {
            result->text = "setting up on broker " + options.host + ":" + std::to_string(options.port) +
                           " failed: " + error;
            result->error = ConnectError::protocol;
            result->connection.reset();
        }
        asio::post(io_, [this, alive, result] {
            auto live = alive.lock();
            if (!live || !*live) return;
            if (!running_) return;
            if (result->connection) return adopt(std::move(result->connection));
            const bool refused = result->error == ConnectError::refused || result->error == ConnectError::no_vhost;
            auto wait = refused ? backoff_.refused() : backoff_.next();
            PLOG(log_, warning, "AMQP: %s; next attempt in %lld ms", result->text.c_str(),
                 static_cast<long long>(wait.count()));
            retry_after(wait);
        });
    });
}

void AmqpSession::retry_after(std::chrono::milliseconds wait) {
    retry_timer_.expires_after(wait);
    retry_timer_.async_wait([this](const std::error_code& ec) {
        if (!ec && running_ && !conn_) attempt();
    });
}

void AmqpSession::adopt(std::unique_ptr<BrokerConnection> conn) {
    join_setup();
    conn_ = std::move(conn);
    backoff_.reset();
    ++connects_;
    assemblers_.clear();
    blocked_ = false;
    broken_ = false;
    int sndbuf = send_buffer_bytes;  // the kernel may cap it (net.core.wmem_max)
    setsockopt(conn_->fd(), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    socket_ = std::make_unique<asio::posix::stream_descriptor>(io_, conn_->fd());
    PLOG(log_, info, "AMQP: connected to broker %s:%u", options_.host.c_str(), unsigned(options_.port));
    events_.on_connected();
    if (!conn_) return;
    arm_heartbeat();
    drain();  // what arrived during the setup RPCs
    if (conn_) wait_readable();
}

void AmqpSession::wait_readable() {
    std::weak_ptr<bool> alive = alive_;
    socket_->async_wait(asio::posix::stream_descriptor::wait_read, [this, alive](const std::error_code& ec) {
        auto live = alive.lock();
        if (ec || !live || !*live || !conn_) return;
        drain();
        if (conn_) wait_readable();
    });
}

void AmqpSession::arm_heartbeat() {
    // rabbitmq-c sends and checks heartbeats only inside its calls.
    heartbeat_timer_.expires_after(std::chrono::milliseconds(std::max(1, int(options_.heartbeat_s)) * 500));
    heartbeat_timer_.async_wait([this](const std::error_code& ec) {
        if (ec || !conn_) return;
        drain();
        if (conn_) arm_heartbeat();
    });
}

void AmqpSession::drain() {
    for (int n = 0; conn_ && n < max_frames_per_wakeup; ++n) {
        amqp_frame_t frame;
        timeval now{0, 0};
        int rc = amqp_simple_wait_frame_noblock(conn_->state(), &frame, &now);
        if (rc == AMQP_STATUS_TIMEOUT) break;
        if (rc != AMQP_STATUS_OK) return lose(std::string("connection to the broker lost: ") + amqp_error_string2(rc));
        if (!handle(frame)) return;
    }
    if (!conn_) return;
    events_.on_read_batch_end();
    if (!conn_) return;
    if (amqp_frames_enqueued(conn_->state()) || amqp_data_in_buffer(conn_->state()))
        asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
            auto live = alive.lock();
            if (live && *live) drain();
        });
    if (std::all_of(assemblers_.begin(), assemblers_.end(), [](const auto& a) { return a.second.idle(); }))
        amqp_maybe_release_buffers(conn_->state());
}

bool AmqpSession::handle(const amqp_frame_t& f) {
    if (f.frame_type == AMQP_FRAME_METHOD) {
        switch (f.payload.method.id) {
            case AMQP_CONNECTION_CLOSE_METHOD: {
                amqp_connection_close_ok_t ok{};
                amqp_send_method(conn_->state(), 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
                lose("the broker closed the connection: " + close_reason(f));
                return false;
            }
            case AMQP_CHANNEL_CLOSE_METHOD:
                // A channel the broker closed (a refused publish or declare):
                // everything starts again on a new connection.
                lose("the broker closed channel " + std::to_string(f.channel) + ": " + close_reason(f));
                return false;
            case AMQP_BASIC_CANCEL_METHOD:
                lose("the broker cancelled the consumer on channel " + std::to_string(f.channel));
                return false;
            case AMQP_BASIC_ACK_METHOD: {
                auto* m = static_cast<const amqp_basic_ack_t*>(f.payload.method.decoded);
                events_.on_confirm(f.channel, m->delivery_tag, m->multiple, true);
                return conn_ != nullptr;
            }
            case AMQP_BASIC_NACK_METHOD: {
                auto* m = static_cast<const amqp_basic_nack_t*>(f.payload.method.decoded);
                events_.on_confirm(f.channel, m->delivery_tag, m->multiple, false);
                return conn_ != nullptr;
            }
            case AMQP_CONNECTION_BLOCKED_METHOD:
                PLOG(log_, warning, "AMQP: the broker blocks publishing (a resource alarm)");
                blocked_ = true;
                events_.on_blocked(true);
                return conn_ != nullptr;
            case AMQP_CONNECTION_UNBLOCKED_METHOD:
                PLOG(log_, info, "AMQP: the broker takes publishes again");
                blocked_ = false;
                events_.on_blocked(false);
                return conn_ != nullptr;
            default:
                break;
        }
    }
    auto& assembler = assemblers_.try_emplace(f.channel, max_body_).first->second;
    switch (assembler.feed(f)) {
        case DeliveryAssembler::Step::complete:
            events_.on_delivery(f.channel, assembler.delivery_tag(), assembler.redelivered(), assembler.properties(),
                                assembler.body());
            return conn_ != nullptr;
        case DeliveryAssembler::Step::error:
            lose("AMQP protocol error on channel " + std::to_string(f.channel) + ": " + assembler.error());
            return false;
        case DeliveryAssembler::Step::not_mine:  // late RPC replies and the like
        case DeliveryAssembler::Step::more:
            return true;
    }
    return true;
}

void AmqpSession::lose(const std::string& why) {
    if (!conn_) return;
    PLOG(log_, warning, "AMQP: %s", why.c_str());
    tear_down(false, why);
    if (running_) retry_after(backoff_.next());
}

bool AmqpSession::publish(uint16_t channel, const std::string& exchange, const std::string& routing_key,
                          const amqp_basic_properties_t& properties, Bytes body) {
    if (!conn_ || broken_) return false;
    int rc = amqp_basic_publish(conn_->state(), channel, amqp_cstring_bytes(exchange.c_str()),
                                amqp_cstring_bytes(routing_key.c_str()), 0, 0, &properties,
                                amqp_bytes_t{body.size, const_cast<uint8_t*>(body.data)});
    if (rc == AMQP_STATUS_OK) return true;
    lose_later(std::string("publishing failed: ") + amqp_error_string2(rc));
    return false;
}

bool AmqpSession::ack(uint16_t channel, uint64_t delivery_tag, bool multiple) {
    if (!conn_ || broken_) return false;
    int rc = amqp_basic_ack(conn_->state(), channel, delivery_tag, multiple ? 1 : 0);
    if (rc == AMQP_STATUS_OK) return true;
    lose_later(std::string("acknowledging failed: ") + amqp_error_string2(rc));
    return false;
}

void AmqpSession::lose_later(const std::string& why) {
    // The caller may be inside one of our callbacks, holding a delivery
    // that points into the connection's buffers: tear down from the loop.
    if (broken_) return;
    broken_ = true;
    asio::post(io_, [this, why, alive = std::weak_ptr<bool>(alive_)] {
        auto live = alive.lock();
        if (live && *live) lose(why);
    });
}

void AmqpSession::break_connection() {
    if (conn_) lose_later("broken by fault injection");
}

}  // namespace partisan::amqp
