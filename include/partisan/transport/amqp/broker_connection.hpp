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

// How a queue is declared. `expires`: the broker deletes it when unused
// that long; `message_ttl`: and drops messages waiting longer (0: never,
// for either); `exclusive`: this connection's alone, deleted when it closes.
struct QueueOptions {
    std::chrono::milliseconds expires{0}, message_ttl{0};
    bool exclusive = false;
};

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
    // ---- setup RPCs, each blocking up to the timeout; false with `error`
    // set when the broker refused (it then closed the channel, or the
    // whole connection for a connection-level error).
    bool open_channel(uint16_t channel, std::string& error);
    // Publisher confirms on this channel (basic.ack / basic.nack per publish).
    bool confirm_select(uint16_t channel, std::string& error);
    bool declare_exchange(uint16_t channel, const std::string& name, const std::string& type, bool durable,
                          std::string& error);
    // A queue that outlives this connection (so messages wait while its
    // node reconnects); `durable`: it outlives a broker restart too.
    // (QueueOptions: expiry, message TTL, exclusive.)
    bool declare_queue(uint16_t channel, const std::string& name, bool durable, std::string& error,
                       QueueOptions options = {});
    bool bind_queue(uint16_t channel, const std::string& queue, const std::string& exchange, const std::string& key,
                    std::string& error);
    // Consumes `queue` on `channel` with acknowledgements, at most
    // `prefetch` unacknowledged deliveries at a time.
    bool consume(uint16_t channel, const std::string& queue, uint16_t prefetch, std::string& error);
    // The broker said it closed the connection (no close is sent back).
    void mark_closed() { open_ = false; }

private:
    explicit BrokerConnection(amqp_connection_state_t state) : state_(state) {}
    // The last RPC's reply: true when normal, else `error` says what.
    bool rpc_ok(std::string& error);
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
// The code and text of a connection.close or channel.close method; false
// for any other method.
bool read_close(const amqp_method_t& method, uint16_t& code, std::string& text);

}  // namespace partisan::amqp
