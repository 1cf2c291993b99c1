#include "partisan/transport/amqp/broker_connection.hpp"

#include <amqp_tcp_socket.h>

#include <sys/time.h>

#include <array>

namespace partisan::amqp {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
    return timeval{static_cast<time_t>(ms.count() / 1000), static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
}

std::string bytes_text(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

// A connection.close or channel.close from the broker: its code and text.
bool broker_close(const amqp_rpc_reply_t& r, uint16_t& code, std::string& text) {
    return r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && read_close(r.reply, code, text);
}

}  // namespace

bool read_close(const amqp_method_t& method, uint16_t& code, std::string& text) {
    if (method.decoded == nullptr) return false;
    if (method.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<const amqp_connection_close_t*>(method.decoded);
        code = m->reply_code;
        text = bytes_text(m->reply_text);
        return true;
    }
    if (method.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<const amqp_channel_close_t*>(method.decoded);
        code = m->reply_code;
        text = bytes_text(m->reply_text);
        return true;
    }
    return false;
}

const char* to_string(ConnectError e) {
    switch (e) {
        case ConnectError::none: return "none";
        case ConnectError::unreachable: return "unreachable";
        case ConnectError::refused: return "refused";
        case ConnectError::no_vhost: return "no_vhost";
        case ConnectError::protocol: return "protocol";
    }
    return "protocol";
}

std::string describe_reply(const amqp_rpc_reply_t& r) {
    switch (r.reply_type) {
        case AMQP_RESPONSE_NORMAL: return "";
        case AMQP_RESPONSE_NONE: return "no reply";
        case AMQP_RESPONSE_LIBRARY_EXCEPTION: return amqp_error_string2(r.library_error);
        case AMQP_RESPONSE_SERVER_EXCEPTION: {
            uint16_t code = 0;
            std::string text;
            if (broker_close(r, code, text)) return "the broker closed it: " + std::to_string(code) + " " + text;
            return "the broker answered with method " + std::to_string(r.reply.id);
        }
    }
    return "unknown reply";
}

BrokerConnection::Result BrokerConnection::open(const BrokerOptions& o) {
    const std::string where = o.host + ":" + std::to_string(o.port);
    amqp_connection_state_t state = amqp_new_connection();
    if (state == nullptr) return {nullptr, ConnectError::protocol, "out of memory for a broker connection"};
    std::unique_ptr<BrokerConnection> c(new BrokerConnection(state));
    amqp_socket_t* socket = amqp_tcp_socket_new(state);
    if (socket == nullptr) return {nullptr, ConnectError::protocol, "could not make a socket for " + where};
    timeval tv = to_timeval(o.timeout);
    if (int rc = amqp_socket_open_noblock(socket, o.host.c_str(), o.port, &tv); rc != AMQP_STATUS_OK)
        return {nullptr, ConnectError::unreachable, "broker " + where + " unreachable: " + amqp_error_string2(rc)};
    amqp_set_handshake_timeout(state, &tv);
    amqp_set_rpc_timeout(state, &tv);

    amqp_rpc_reply_t r = amqp_login(state, o.vhost.c_str(), 0, static_cast<int>(o.frame_max), o.heartbeat_s,
                                    AMQP_SASL_METHOD_PLAIN, o.user.c_str(), o.password.c_str());
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        c->open_ = true;
        return {std::move(c), ConnectError::none, ""};
    }
    uint16_t code = 0;
    std::string text;
    if (broker_close(r, code, text)) {
        if (code == AMQP_ACCESS_REFUSED)
            return {nullptr, ConnectError::refused,
                    "broker " + where + " refused user '" + o.user + "' (wrong user or password): " + text};
        if (code == AMQP_NOT_ALLOWED)
            return {nullptr, ConnectError::no_vhost,
                    "broker " + where + " refused vhost '" + o.vhost + "' to user '" + o.user + "': " + text};
    }
    return {nullptr, ConnectError::protocol, "login to broker " + where + " failed: " + describe_reply(r)};
}

BrokerConnection::~BrokerConnection() {
    if (open_) amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(state_);
}

int BrokerConnection::fd() const { return amqp_get_sockfd(state_); }

uint32_t BrokerConnection::frame_max() const { return static_cast<uint32_t>(amqp_get_frame_max(state_)); }

bool BrokerConnection::rpc_ok(std::string& error) {
    amqp_rpc_reply_t r = amqp_get_rpc_reply(state_);
    error = describe_reply(r);
    // The broker closed the connection, or the socket is gone: no close to send.
    if ((r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) ||
        r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        open_ = false;
    return error.empty();
}

bool BrokerConnection::open_channel(uint16_t channel, std::string& error) {
    amqp_channel_open(state_, channel);
    return rpc_ok(error);
}

bool BrokerConnection::confirm_select(uint16_t channel, std::string& error) {
    amqp_confirm_select(state_, channel);
    return rpc_ok(error);
}

bool BrokerConnection::declare_exchange(uint16_t channel, const std::string& name, const std::string& type,
                                        bool durable, std::string& error) {
    amqp_exchange_declare(state_, channel, amqp_cstring_bytes(name.c_str()), amqp_cstring_bytes(type.c_str()), 0,
                          durable, 0, 0, amqp_empty_table);
    return rpc_ok(error);
}

bool BrokerConnection::declare_queue(uint16_t channel, const std::string& name, bool durable, std::string& error,
                                     QueueOptions options) {
    // RabbitMQ's queue arguments; a queue declared again must give the same.
    std::array<amqp_table_entry_t, 2> args{};
    int n = 0;
    auto add = [&](const char* key, std::chrono::milliseconds value) {
        if (value.count() <= 0) return;
        args[n].key = amqp_cstring_bytes(key);
        args[n].value.kind = AMQP_FIELD_KIND_I64;
        args[n].value.value.i64 = value.count();
        ++n;
    };
    add("x-expires", options.expires);
    add("x-message-ttl", options.message_ttl);
    amqp_queue_declare(state_, channel, amqp_cstring_bytes(name.c_str()), 0, durable, options.exclusive ? 1 : 0, 0,
                       amqp_table_t{n, args.data()});
    return rpc_ok(error);
}

bool BrokerConnection::bind_queue(uint16_t channel, const std::string& queue, const std::string& exchange,
                                  const std::string& key, std::string& error) {
    amqp_queue_bind(state_, channel, amqp_cstring_bytes(queue.c_str()), amqp_cstring_bytes(exchange.c_str()),
                    amqp_cstring_bytes(key.c_str()), amqp_empty_table);
    return rpc_ok(error);
}

bool BrokerConnection::consume(uint16_t channel, const std::string& queue, uint16_t prefetch, std::string& error) {
    amqp_basic_qos(state_, channel, 0, prefetch, 0);
    if (!rpc_ok(error)) return false;
    amqp_basic_consume(state_, channel, amqp_cstring_bytes(queue.c_str()), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    return rpc_ok(error);
}

}  // namespace partisan::amqp
