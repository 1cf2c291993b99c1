// The transport over TCP: for each neighbour, one dialer connection per
// channel and index (a "slot" that reconnects with back-off and keeps its
// queue), the listener for connections from peers, connect pacing, flow
// control towards the senders, and the counters per (peer, channel).
// Connections carry data one way: a node sends on the ones it dialed and
// receives on the ones it accepted (docs/PROTOCOL.md).
#pragma once

#include "partisan/transport/tcp/listener.hpp"
#include "partisan/transport/tcp/peer_connection.hpp"
#include "partisan/transport/transport.hpp"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace partisan {

class TcpTransport : public Transport, public PeerEvents {
public:
    // Binds the listener; throws when it cannot.
    TcpTransport(Context& ctx, TransportEvents& events);
    ~TcpTransport() override;

    // A link's queue beyond this pauses its channel's senders.
    static constexpr size_t high_water = 16u << 20;
    // Longest wait between attempts to connect to a peer (to a peer marked
    // down: down_probe_interval).
    static constexpr std::chrono::milliseconds normal_max_backoff{5000};

    // Transport
    void start() override;
    void shutdown() override;
    std::vector<Address> local_addresses() const override;
    void set_neighbours(const std::vector<Neighbour>& neighbours) override;
    bool up(const std::string& peer) const override;
    bool never_reached(const std::string& peer) const override;
    std::vector<std::string> up_peers() const override;
    std::vector<std::string> unreachable_for(std::chrono::milliseconds limit) const override;
    void set_available(bool available) override;
    bool send(std::string_view peer, const OutMessage& m) override;
    void relay(const std::string& via, std::string_view dest, uint8_t hops, const OutMessage& m) override;
    bool pass_on(InboundLink& from, const std::string& to, std::string_view dest, uint8_t hops, Bytes ref,
                 Bytes payload) override;
    void send_control(const std::string& peer, const ByteBuffer& frame) override;
    void answer(InboundLink& from, const ByteBuffer& frame) override;
    void reply(InboundLink& from, const ByteBuffer& frame) override;
    void send_to_all(const ByteBuffer& frame) override;
    void flush_batch() override;
    bool congested(size_t channel) const override { return congested_[channel] > 0; }
    void partition(const std::vector<std::string>& peers) override;
    void heal() override;
    bool break_link(const std::string& peer, std::string_view channel, uint64_t index) override;
    void encode_stats(ei_x_buff& x) const override;
    void encode_unreachable(ei_x_buff& x) const override;

    // PeerEvents
    Admission admit(PeerConnection& conn) override;
    void on_established(PeerConnection& conn) override;
    void on_closed(PeerConnection& conn, const std::string& why) override;
    void on_connect_failed(PeerConnection& conn, const std::string& why) override;
    bool on_frame(PeerConnection& conn, const uint8_t* body, uint32_t len) override;
    bool on_read_batch_end(PeerConnection& conn) override;
    bool may_connect(PeerConnection& conn) override;
    void on_write_done(PeerConnection& conn) override;

private:
    struct Peer {
        std::vector<std::shared_ptr<PeerConnection>> links;  // by channel offset + index
        bool up = false;       // the control link (default channel, index 0) is established
        bool probing = false;  // marked down: only probed (see set_probing)
        bool ever_up = false;
        bool control_only = false;  // a short-lived link for overlay frames (Neighbour::control_only)
        std::chrono::steady_clock::time_point unreachable_since;  // when not up
    };

    int channel_index(std::string_view name) const;
    bool is_control_link(const PeerConnection& conn) const;
    PeerConnection& pick_link(Peer& peer, size_t channel, uint64_t key, bool pinned);
    LinkStats* stats_for(const std::string& peer, size_t channel);
    // The counters of a peer that counted nothing are forgotten once this
    // node no longer links to it and it has no connection to this node:
    // else every name an authenticated peer makes it dial (a peer-to-peer
    // SHUFFLE's origin, a FORWARD_JOIN's joiner) or dials it as would stay.
    bool counted_nothing(const std::string& peer) const;
    bool connected_from(const std::string& peer) const;
    void add_peer(const Neighbour& n);
    void start_other_links(Peer& peer);
    std::vector<std::string> peer_names() const;
    std::vector<std::shared_ptr<PeerConnection>> links_of(const std::vector<std::string>& names,
                                                          bool control_only = false) const;
    void set_probing(Peer& peer, bool down);
    void set_control_only(Peer& peer, bool control_only);
    void pace_connects();
    void queued(PeerConnection& conn);
    void note_drained(PeerConnection& conn);
    bool blocked(const std::string& peer) const { return blocked_.count(peer) > 0; }

    Context& ctx_;
    TransportEvents& events_;
    Listener listener_;
    std::vector<size_t> channel_offset_;  // first link index of each channel
    std::map<std::string, Peer, std::less<>> peers_;
    std::vector<std::shared_ptr<PeerConnection>> to_flush_;
    std::vector<size_t> congested_;  // per channel: links over the high-water mark
    // Counters per peer and channel; they outlive connections.
    std::map<std::string, std::vector<LinkStats>, std::less<>> stats_;
    // Where the connections of a peer whose counters are forgotten count
    // while they close (never reported).
    LinkStats detached_stats_;
    std::set<std::string> blocked_;  // fault injection: partitioned from these
    // Dialers waiting for their turn to connect (a new peer's links after its first).
    std::vector<std::weak_ptr<PeerConnection>> connect_queue_;
    asio::steady_timer connect_timer_;
    bool connect_timer_running_ = false;
    bool available_ = true;  // this node's BEAM answers its probes
    bool stopped_ = false;
};

}  // namespace partisan
