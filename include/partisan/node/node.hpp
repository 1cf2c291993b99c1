// The node: the composition root. It wires the BEAM links, the overlay
// (who its neighbours are), the transport (links to them) and the router
// (the data path); turns the events of each into calls on the others;
// serves the control operations; tells the shim what changed.
// Everything runs on the one event-loop thread, so nothing here takes a lock.
#pragma once

#include "partisan/beam/beam_link.hpp"
#include "partisan/broadcast/broadcast_service.hpp"
#include "partisan/control/control_api.hpp"
#include "partisan/node/router.hpp"
#include "partisan/overlay/overlay.hpp"
#include "partisan/transport/transport.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace partisan {

class Node : public BeamEvents, public TransportEvents, public BroadcastSink {
public:
    // Binds the peer listener; throws when it cannot.
    explicit Node(Context& ctx);
    ~Node() override;

    // The BEAM links, one per channel, in channel order; [0] also carries
    // control calls and events.
    void attach(std::vector<std::shared_ptr<BeamLink>> links);
    // Standalone mode (no BEAM): what stands in for each channel's BEAM link.
    void attach_standalone(std::vector<BeamChannel*> channels);
    // A control request from elsewhere than the shim (standalone mode's
    // console); the answer goes to `send`, tagged with `ref`.
    void control(etf::Reader request, ReplySender send, Bytes ref);
    // Starts accepting and gossiping, and tells the shim we are ready.
    void start();
    void shutdown();
    std::vector<Address> listen_addresses() const { return transport_->local_addresses(); }

    // BeamEvents
    void on_forward(const ForwardRequest& req) override { router_->forward(req); }
    void on_call(Bytes from_pid, Bytes ref, etf::Reader& request) override;
    bool on_beam_batch_end(BeamLink& link) override { return router_->beam_batch_end(link); }
    void on_beam_closed(BeamLink& link, const std::string& why) override;
    void on_beam_responsive(bool responsive) override { transport_->set_available(responsive); }

    // TransportEvents
    bool admits(const std::string& peer) override { return overlay_->admits(peer); }
    void on_peer_up(const std::string& peer) override;
    void on_peer_down(const std::string& peer, const std::string& why) override;
    void on_connect_failed(const std::string& peer, const std::string& why, const RefusalInfo& refusal) override;
    bool on_frame(InboundLink& from, const uint8_t* body, uint32_t len) override;
    void on_message(InboundLink& from, Bytes ref, Bytes payload) override { router_->deliver(from, ref, payload); }
    bool on_read_batch_end(InboundLink& from) override { return router_->read_batch_end(from); }
    void on_connectivity(bool connected) override;
    void on_drained(size_t channel) override { router_->drained(channel); }

    // BroadcastSink
    void send_broadcast_frame(const std::string& peer, const ByteBuffer& frame) override {
        transport_->send_control(peer, frame);
    }
    void deliver_broadcast(size_t channel, Bytes ref, Bytes message) override {
        router_->deliver_broadcast(channel, ref, message);
    }
    void on_announce(const NodeRef& origin, const std::string& via, uint16_t hops) override;
    void wake_broadcast_in(std::chrono::milliseconds delay) override;

private:
    void reconcile();
    void update_members();
    void report_contacts();
    // Carries out what the overlay asked; `from` is the link the event
    // came on, if any (for an answer).
    void apply(OverlayOutput& out, InboundLink* from = nullptr);
    // Sets the overlay's timer when it has something due sooner.
    void arm_overlay_tick();
    void schedule_housekeeping();
    void check_unreachable();
    void leave_cluster();
    void register_operations();
    void join(ControlCall& call, const std::string& node, const std::vector<Address>& addrs);
    void remove_member(ControlCall& call, const std::string& node);
    void finish_joins(const std::string& node, const std::string& failure, const RefusalInfo* refusal = nullptr);
    // Incarnations and join hints: the wall clock in microseconds.
    static uint64_t wall_micros();
    // BEAM link 0: it also carries control calls and events to the shim.
    BeamLink& shim_link() { return *beam_links_[0]; }

    Context& ctx_;
    std::vector<std::shared_ptr<BeamLink>> beam_links_;
    std::unique_ptr<Transport> transport_;
    std::unique_ptr<Overlay> overlay_;
    std::unique_ptr<Router> router_;
    std::unique_ptr<BroadcastService> broadcast_;
    ControlApi control_;
    asio::steady_timer overlay_timer_;
    std::optional<asio::steady_timer::time_point> overlay_due_;  // when overlay_timer_ fires
    asio::steady_timer broadcast_timer_;
    asio::steady_timer housekeeping_timer_;
    std::vector<std::string> members_, reachable_;  // last lists sent to the shim
    std::vector<std::pair<std::string, std::vector<Address>>> contacts_;  // likewise
    // join calls waiting for the first connection to the node they name
    struct PendingJoin {
        ControlCall call;
        std::shared_ptr<asio::steady_timer> timer;
    };
    std::map<std::string, std::vector<PendingJoin>> pending_joins_;
    bool stopped_ = false;
};

}  // namespace partisan
