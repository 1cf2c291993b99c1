// The connection to this C-node's own BEAM. ei does the distribution
// handshake (ei_xconnect to 127.0.0.1); after that the socket is driven by
// Asio and the distribution packets are framed here, so many messages are
// read per wake-up and many are written per write. Message payloads keep
// their external-term bytes: they are never decoded.
#pragma once

#include "partisan/core/context.hpp"
#include "partisan/codec/etf.hpp"
#include "partisan/beam/name_watch.hpp"
#include "partisan/beam/shim_protocol.hpp"
#include "partisan/codec/wire.hpp"
#include "partisan/io/framed_stream.hpp"

#include <ei.h>

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace partisan {

class BeamLink;

class BeamEvents {
public:
    virtual ~BeamEvents() = default;
    virtual void on_forward(const ForwardRequest& req) = 0;
    // `{'$call', From, Ref, Request}`; the reader stands at Request.
    virtual void on_call(Bytes from_pid, Bytes ref, etf::Reader& request) = 0;
    // After each batch of packets; false pauses reading until resume_reading().
    virtual bool on_beam_batch_end(BeamLink& link) = 0;
    virtual void on_beam_closed(BeamLink& link, const std::string& why) = 0;
    // The BEAM stopped answering probes for beam_timeout (stopped, hung),
    // or answers again.
    virtual void on_beam_responsive(bool responsive) = 0;
};

// What the router needs of the BEAM link of one channel: deliver into the
// BEAM, write, and push back (BeamLink; fakes in unit tests).
class BeamChannel {
public:
    virtual ~BeamChannel() = default;
    virtual size_t channel() const = 0;
    // Delivers `message` to `server_ref` (pid or registered name) on the
    // BEAM. With `keep`, a large message is written from where it lies.
    // `from` counts it; it is moved to `undeliverable` there if the name
    // turns out to have no process (name_watch.hpp).
    virtual void deliver(Bytes server_ref, Bytes message, const SharedBytes& keep, LinkStats* from) = 0;
    // Starts a write of everything queued, unless one is under way.
    virtual void flush() = 0;
    // Too much queued for the BEAM: the peers' links wait.
    virtual bool congested() const = 0;
    virtual void when_drained(std::function<void()> fn) = 0;
    // Reads from the BEAM again after a batch end paused it.
    virtual void resume_reading() = 0;
};

class BeamLink : public std::enable_shared_from_this<BeamLink>, public BeamChannel {
public:
    // Connects to the BEAM as hidden node `name` (blocking; start-up only).
    // `channel` is the index of the channel this link serves. Throws on failure.
    static std::shared_ptr<BeamLink> connect(Context& ctx, const std::string& name, size_t channel);

    void start(BeamEvents* events);
    // Asks the BEAM's net_kernel a question every interval and reports
    // silence past `timeout` (a stopped or hung BEAM keeps its socket open;
    // only silence tells, as with net_ticktime).
    void start_probing(std::chrono::milliseconds timeout);
    void close();

    void deliver(Bytes server_ref, Bytes message, const SharedBytes& keep, LinkStats* from) override;
    // Sends an ei-encoded term (with version byte) to a registered name / a pid.
    void send_to_name(std::string_view name, const ei_x_buff& term);
    void send_to_pid(Bytes pid, const ei_x_buff& term);
    void flush() override;

    // Backpressure towards the peers: too much queued for the BEAM.
    bool congested() const override { return queued_bytes() > high_water; }
    void when_drained(std::function<void()> fn) override { drain_waiters_.push_back(std::move(fn)); }
    void resume_reading() override;
    size_t queued_bytes() const { return stream_.queued_bytes(); }

    const std::string& node_name() const { return name_; }
    // Packets from the BEAM over the size limit, dropped.
    uint64_t oversized_dropped() const { return oversized_dropped_; }
    size_t channel() const override { return channel_; }

    BeamLink(Context& ctx, int fd, std::vector<uint8_t> self_pid, std::string name, size_t channel);

    static constexpr size_t high_water = 32u << 20;

private:
    void read();
    void process();
    void handle_packet(const uint8_t* p, uint32_t len);
    void begin_packet(size_t& at);
    void end_packet(size_t at);
    void schedule_tick();
    void fail(const std::string& why);
    void probe();
    void send_net_kernel_call(std::string_view tag, uint64_t id);
    void encode_call_head(ei_x_buff& x, std::string_view tag, uint64_t id) const;
    void ask_whereis(Bytes name_atom, uint64_t id);
    void handle_call_answer(std::string_view tag, uint64_t id, etf::Reader reply);

    Context& ctx_;
    asio::ip::tcp::socket sock_;
    FramedStream stream_;
    asio::steady_timer tick_timer_;
    std::vector<uint8_t> self_pid_;  // our pid, external format without version
    std::string name_;
    size_t channel_;
    BeamEvents* events_ = nullptr;
    bool paused_ = false;
    bool closed_ = false;
    std::vector<std::function<void()>> drain_waiters_;
    uint64_t oversized_dropped_ = 0;
    // Liveness probes (start_probing).
    asio::steady_timer probe_timer_;
    std::chrono::milliseconds probe_timeout_{0};
    std::chrono::steady_clock::time_point last_answer_;
    uint64_t probe_seq_ = 0;
    bool responsive_ = true;
    // Registered names delivered to, and whether a process has them.
    NameWatch names_;
};

}  // namespace partisan
