// Static: links to, and admits, only the configured peers; membership is
// the configuration and never changes (join and leave are not supported).
#include "partisan/overlay/crdt_overlay.hpp"

#include <algorithm>

namespace partisan {

namespace {

class StaticOverlay : public CrdtOverlay {
public:
    explicit StaticOverlay(const OverlayContext& ctx) : CrdtOverlay(ctx, NodeRole::server) {
        for (const auto& p : ctx.config.static_peers)
            if (p.name != ctx.config.beam_node) membership().add(p.name, {Address{p.ip, p.port}});
    }
    const char* name() const override { return "static"; }
    bool dynamic() const override { return false; }

protected:
    bool links_to(const MemberEntry&, const MemberEntry& peer) const override { return admits_peer(peer.name); }
    bool admits_peer(const std::string& peer) const override {
        const auto& peers = ctx().config.static_peers;
        return std::any_of(peers.begin(), peers.end(), [&](const StaticPeer& p) { return p.name == peer; });
    }
};

}  // namespace

std::unique_ptr<Overlay> make_static_overlay(const OverlayContext& ctx) { return std::make_unique<StaticOverlay>(ctx); }

}  // namespace partisan
