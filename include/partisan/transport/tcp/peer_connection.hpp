// One TCP connection between two C-nodes. A dialer connection belongs to one
// (peer, channel, index) slot and lives as long as the slot: it reconnects by
// itself with exponential back-off and keeps its queue meanwhile. An acceptor
// connection lives as long as its socket. Connections are one-way for data:
// each node sends on the connections it dialed and receives on the ones it
// accepted (docs/PROTOCOL.md).
#pragma once

#include "partisan/core/context.hpp"
#include "partisan/transport/tcp/handshake.hpp"
#include "partisan/overlay/membership.hpp"
#include "partisan/codec/peer_frames.hpp"
#include "partisan/io/framed_stream.hpp"
#include "partisan/transport/routing.hpp"
#include "partisan/transport/transport.hpp"
#include "partisan/codec/wire.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace partisan {

class PeerConnection;


// The owner's answer to a dialer that proved the secret: admit it, or
// refuse it with a reason the dialer will see (and can trust).
struct Admission {
    handshake::Refusal refusal = handshake::Refusal::none;
    std::string text;
};

class PeerEvents {
public:
    virtual ~PeerEvents() = default;
    // An accepted connection whose dialer proved the secret (its name,
    // channel and index are now known): admit it or refuse it.
    virtual Admission admit(PeerConnection& conn) = 0;
    virtual void on_established(PeerConnection& conn) = 0;
    virtual void on_closed(PeerConnection& conn, const std::string& why) = 0;
    // A dialer's attempt failed before the handshake completed (it retries).
    virtual void on_connect_failed(PeerConnection& conn, const std::string& why) = 0;
    // An authenticated frame; false means malformed (the connection closes).
    virtual bool on_frame(PeerConnection& conn, const uint8_t* body, uint32_t len) = 0;
    // After each batch of frames; false pauses reading until resume_reading().
    virtual bool on_read_batch_end(PeerConnection& conn) = 0;
    virtual void on_write_done(PeerConnection& conn) = 0;
    // Asked before each connection attempt of a dialer.
    virtual bool may_connect(PeerConnection& conn) = 0;
};

class PeerConnection : public std::enable_shared_from_this<PeerConnection>, public InboundLink {
public:
    enum class Side { dialer, acceptor };  // who opened the TCP connection
    enum class State { idle, connecting, handshaking, established, closed };

    static std::shared_ptr<PeerConnection> make_dialer(Context& ctx, PeerEvents& events, std::string peer,
                                                       handshake::LinkId link, std::vector<Address> addrs);
    static std::shared_ptr<PeerConnection> make_acceptor(Context& ctx, PeerEvents& events,
                                                         asio::ip::tcp::socket sock);

    void start();
    void set_addresses(std::vector<Address> addrs) { addrs_ = std::move(addrs); }
    // Stops for good: at once, or once everything queued has been written.
    void close();
    void close_after_flush();

    // Outgoing frames are appended here, then flush() starts a write.
    ByteBuffer& queue() { return stream_.out().bytes(); }
    void flush();
    size_t queued_bytes() const { return stream_.queued_bytes() + latest_.bytes(); }
    // Messages queued or being written, not yet counted as sent.
    uint64_t queued_messages() const { return queued_.messages + in_write_.messages + latest_.size(); }

    // Queues a message frame (counted in `stats`).
    // A large payload with `keep` is written from where it lies (no copy).
    void enqueue_message(const uint8_t* ref, size_t ref_len, const uint8_t* payload, size_t payload_len,
                         const SharedBytes& keep = {});
    // Queues a RELAY frame: a message for `dest`, which this peer passes on.
    void enqueue_relay(std::string_view dest, uint8_t hops, const uint8_t* ref, size_t ref_len,
                       const uint8_t* payload, size_t payload_len);
    // Monotonic channels: while the connection is busy or down, a newer
    // message to the same destination replaces the queued one (a drop). The
    // latest one per destination goes out as soon as the connection can take
    // it, so replacement never starves a destination.
    void enqueue_monotonic(const uint8_t* ref, size_t ref_len, const uint8_t* payload, size_t payload_len);
    void resume_reading();
    // The read buffer's memory, for forwarding a large frame body without a copy.
    SharedBytes share_read_buffer() const override { return stream_.in().share(); }
    // Breaks the socket as a network fault would (a dialer reconnects).
    void drop(const std::string& why) { fail(why); }
    // A dialer waiting out its back-off (or never started) tries again now.
    void retry_now();
    // The longest wait between a dialer's attempts (5 s; longer to probe a
    // node marked down).
    void set_max_backoff(std::chrono::milliseconds max) { max_backoff_ = max; }
    // Set by the owner on an accepted connection once it answered the
    // peer (push-pull gossip: once per connection).
    bool answered = false;

    Side side() const { return side_; }
    bool established() const { return state_ == State::established; }
    const std::string& peer() const override { return peer_; }
    size_t channel_index() const override { return channel; }
    uint16_t link_index() const override { return link_.index; }
    LinkStats& link_stats() override { return *stats; }
    std::function<void()> resumer() override {
        return [weak = weak_from_this()] {
            if (auto c = weak.lock()) c->resume_reading();
        };
    }
    const handshake::LinkId& link() const { return link_; }
    // A dialer: why the acceptor refused its last attempt (reason none if it did not).
    const RefusalInfo& last_refusal() const { return refusal_; }
    std::string describe() const;

    // Set by the owner: this connection is on its list of ones to flush.
    bool flush_scheduled = false;
    bool over_high_water = false;
    size_t channel = 0;            // index of the channel, set by the owner
    LinkStats* stats = nullptr;    // owned by the transport; never null once established

    PeerConnection(Context& ctx, PeerEvents& events, Side side, asio::ip::tcp::socket sock);

private:
    void connect_attempt();
    void try_address(size_t i);
    void begin_handshake();
    // `then_fail`, when given, closes the connection with that reason once
    // the frame is written (a refusal must reach the dialer).
    void send_handshake(ByteBuffer frame, std::string then_fail = {});
    void on_handshake_frame(const uint8_t* body, uint32_t len);
    void become_established();
    void read();
    void process();
    void fail(const std::string& why);
    void schedule_reconnect();
    void arm_deadline(std::chrono::milliseconds d);
    void release_latest();
    void schedule_heartbeat();
    void heartbeat();

    Context& ctx_;
    PeerEvents& events_;
    Side side_;
    State state_ = State::idle;
    asio::ip::tcp::socket sock_;
    FramedStream stream_;
    asio::steady_timer timer_;
    std::string peer_;
    std::string remote_;  // address of an accepted socket, for logs
    handshake::LinkId link_;
    std::vector<Address> addrs_;
    std::unique_ptr<handshake::Dialer> dialer_;
    std::unique_ptr<handshake::Acceptor> acceptor_;
    ByteBuffer hs_out_;
    RefusalInfo refusal_;
    bool authenticated_ = false;  // the peer proved the secret (its name is known)
    bool refusing_ = false;       // a final refusal is being written; read no more
    bool paused_ = false;
    bool stopping_ = false;  // close once the queue is written
    uint64_t generation_ = 0;  // bumps per attempt; stale completions check it
    std::chrono::milliseconds backoff_{100};
    std::chrono::milliseconds max_backoff_{5000};
    std::minstd_rand rng_;  // back-off jitter
    bool ever_established_ = false;
    // Liveness (see heartbeat()): the last read, the last write started or
    // finished, and the unanswered ping, if any.
    std::chrono::steady_clock::time_point last_heard_, last_progress_, ping_sent_;
    bool ping_outstanding_ = false;
    // Monotonic channels: the newest unsent frame per destination (ref bytes).
    LatestPerDestination latest_;
    // Messages (and their payload bytes) queued in `stream_`, and in the write
    // under way: counted as sent when that write completes.
    struct Count {
        uint64_t messages = 0, bytes = 0;
        void add(uint64_t payload) { ++messages, bytes += payload; }
    };
    Count queued_, in_write_;
    ByteBuffer scratch_;  // one frame being built for `latest_`
};

}  // namespace partisan
