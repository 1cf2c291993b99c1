// The cluster as this C-node sees it: membership, the connections to the
// peers its topology links it to (one dialer per channel and index), the
// listener for connections from peers, and the routing of messages between
// the BEAM links and those connections (directly, or through a relay).
// Everything runs on the one event-loop thread, so nothing here takes a lock.
#pragma once

#include "partisan/beam_link.hpp"
#include "partisan/control_api.hpp"
#include "partisan/listener.hpp"
#include "partisan/peer_connection.hpp"
#include "partisan/overlay/overlay.hpp"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace partisan {

class Cluster : public BeamEvents, public PeerEvents, public LinkView {
public:
    // Binds the peer listener; throws when it cannot.
    explicit Cluster(Context& ctx);
    ~Cluster() override;

    // The BEAM links, one per channel, in channel order; [0] also carries
    // control calls and events.
    void attach(std::vector<std::shared_ptr<BeamLink>> links) { beam_links_ = std::move(links); }
    // Starts accepting and gossiping, and tells the shim we are ready.
    void start();
    void shutdown();

    std::vector<Address> advertised_addresses() const;

    // BeamEvents
    void on_forward(const ForwardRequest& req) override;
    void on_call(Bytes from_pid, Bytes ref, etf::Reader& request) override;
    bool on_beam_batch_end(BeamLink& link) override;
    void on_beam_closed(BeamLink& link, const std::string& why) override;
    void on_beam_responsive(bool responsive) override;

    // PeerEvents
    Admission admit(PeerConnection& conn) override;
    void on_established(PeerConnection& conn) override;
    void on_closed(PeerConnection& conn, const std::string& why) override;
    void on_connect_failed(PeerConnection& conn, const std::string& why) override;
    bool on_frame(PeerConnection& conn, const uint8_t* body, uint32_t len) override;
    bool on_read_batch_end(PeerConnection& conn) override;
    bool may_connect(PeerConnection& conn) override;
    void on_write_done(PeerConnection& conn) override;

    // A dialer connection's queue beyond this pauses reading from the BEAM.
    static constexpr size_t high_water = 16u << 20;
    // Longest wait between attempts to connect to a peer (to a peer marked
    // down: down_probe_interval).
    static constexpr std::chrono::milliseconds normal_max_backoff{5000};

    // LinkView (for the overlay)
    bool up(const std::string& peer) const override;
    bool never_reached(const std::string& peer) const override;
    std::vector<std::string> up_peers() const override;

private:
    struct Peer {
        std::vector<std::shared_ptr<PeerConnection>> links;  // by channel offset + index
        bool up = false;  // the control link (default channel, index 0) is established
        bool probing = false;  // marked down: only probed (see set_probing)
        bool ever_up = false;
        std::chrono::steady_clock::time_point unreachable_since;  // when not up
    };

    int channel_index(std::string_view name) const;
    void reconcile();
    void update_members();
    void report_contacts();
    // Carries out what the overlay asked; `source` is the connection the
    // event came on, if any (for an answer).
    void apply(OverlayOutput& out, PeerConnection* source = nullptr);
    void schedule_gossip();
    void leave_cluster();
    void register_operations();
    void join(ControlCall& call, const std::string& node, const std::vector<Address>& addrs);
    void remove_member(ControlCall& call, const std::string& node);
    bool close_link(const std::string& node, std::string_view channel, uint64_t index);
    void encode_unreachable(ei_x_buff& x);
    bool handle_message_frame(PeerConnection& conn, const uint8_t* body, uint32_t len);
    bool handle_relay_frame(PeerConnection& conn, const uint8_t* body, uint32_t len);
    void deliver_local(PeerConnection& conn, Bytes ref, Bytes payload);
    bool relay(const ForwardRequest& req, size_t channel);
    void start_other_links(Peer& peer);
    void set_probing(Peer& peer, bool down);
    void check_unreachable();
    void schedule_housekeeping();
    void pace_connects();
    void partition(const std::vector<std::string>& nodes);
    void heal();
    bool blocked(const std::string& peer) const { return blocked_.count(peer) > 0; }
    bool handle_overlay_frame(PeerConnection& conn, const uint8_t* body, uint32_t len);
    void schedule_flush(PeerConnection& conn);
    void queued(PeerConnection& conn);
    bool is_control_link(const PeerConnection& conn) const;
    void finish_joins(const std::string& node, const std::string& failure, const RefusalInfo* refusal = nullptr);
    void note_drained(PeerConnection& conn);
    PeerConnection* pick_link(Peer& peer, size_t channel, uint64_t key, bool pinned);
    LinkStats* stats_for(const std::string& peer, size_t channel);
    void encode_stats(ei_x_buff& x);
    BeamLink& control_link() { return *beam_links_[0]; }

    Context& ctx_;
    Listener listener_;
    asio::steady_timer gossip_timer_;
    asio::steady_timer housekeeping_timer_;
    std::vector<std::shared_ptr<BeamLink>> beam_links_;
    std::unique_ptr<Overlay> overlay_;
    ControlApi control_;
    std::vector<size_t> channel_offset_;  // first link index of each channel
    size_t links_per_peer_ = 0;
    std::map<std::string, Peer, std::less<>> peers_;
    std::vector<std::shared_ptr<PeerConnection>> to_flush_;
    std::vector<size_t> congested_;  // per channel: links over the high-water mark
    // Counters per peer and channel; they outlive connections.
    std::map<std::string, std::vector<LinkStats>, std::less<>> stats_;
    std::vector<std::string> members_, reachable_;  // last lists sent to the shim
    std::vector<std::pair<std::string, std::vector<Address>>> contacts_;  // likewise
    std::set<std::string> blocked_;  // fault injection: partitioned from these
    // Dialers waiting for their turn to connect (a new peer's links after its first).
    std::vector<std::weak_ptr<PeerConnection>> connect_queue_;
    asio::steady_timer connect_timer_;
    bool connect_timer_running_ = false;
    // join calls waiting for the first connection to the node they name
    struct PendingJoin {
        ControlCall call;
        std::shared_ptr<asio::steady_timer> timer;
    };
    std::map<std::string, std::vector<PendingJoin>> pending_joins_;
    uint64_t dropped_ = 0;  // messages for no member (rate-limits their log line)
    bool stopped_ = false;
    bool beam_available_ = true;  // this node's BEAM answers its probes
};

}  // namespace partisan
