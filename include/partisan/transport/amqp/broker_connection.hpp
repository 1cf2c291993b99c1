// One connection to the AMQP broker, opened with rabbitmq-c's blocking
// calls, each bounded by `timeout`. Meant for the setup thread: the event
// loop takes the open connection over and alone uses it from then on
// (docs/ARCHITECTURE.md, publish-subscribe). A failure says what went
// wrong in words a user can act on, and which kind it was, since the
// reconnect policy differs (refused credentials are not retried fast).
#pragma once

#include <amqp.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace partisan::amqp {

struct BrokerOptions {
    std::string host = "127.0.0.1";
    uint16_t port = 5672;
    std::string vhost = "/";
    std::string user = "guest";
    std::string password;  // never logged
    std::chrono::milliseconds timeout{5000};  // connect, login, each RPC
    uint16_t heartbeat_s = 10;
    uint32_t frame_max = 131072;
};

enum class ConnectError {
    none,
    unreachable,  // nothing answers at host:port, or not in time
    refused,      // the broker refused the user or password
    no_vhost,     // the user may not use the vhost, or it does not exist
    protocol,     // anything else the broker or the library reported
};
const char* to_string(ConnectError e);

class BrokerConnection {
public:
    struct Result;
    // Connects and logs in.
    static Result open(const BrokerOptions& options);

    BrokerConnection(const BrokerConnection&) = delete;
    BrokerConnection& operator=(const BrokerConnection&) = delete;
    // Closes the connection (a bounded connection.close, then the socket).
    ~BrokerConnection();

    amqp_connection_state_t state() const { return state_; }
    int fd() const;
    uint32_t frame_max() const;
    // Opens an AMQP channel; false with `error` set when refused.
    bool open_channel(uint16_t channel, std::string& error);
    // The broker said it closed the connection (no close is sent back).
    void mark_closed() { open_ = false; }

private:
    explicit BrokerConnection(amqp_connection_state_t state) : state_(state) {}
    amqp_connection_state_t state_;
    bool open_ = false;  // logged in: close politely
};

struct BrokerConnection::Result {
    std::unique_ptr<BrokerConnection> connection;  // null on failure
    ConnectError error = ConnectError::none;
    std::string text;  // what failed, where; empty on success
};

// What an RPC reply says, in words ("" when it is a success).
std::string describe_reply(const amqp_rpc_reply_t& reply);

}  // namespace partisan::amqp
