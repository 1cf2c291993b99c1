// Client-server: servers link to everyone, clients only to servers; a
// server relays between clients. Membership is gossiped as in full mesh.
#include "partisan/overlay/crdt_overlay.hpp"

namespace partisan {

namespace {

class ClientServerOverlay : public CrdtOverlay {
public:
    explicit ClientServerOverlay(const OverlayContext& ctx)
        : CrdtOverlay(ctx, ctx.config.role == "client" ? NodeRole::client : NodeRole::server) {}
    const char* name() const override { return "client_server"; }

protected:
    bool links_to(const MemberEntry& self, const MemberEntry& peer) const override {
        return self.role == NodeRole::server || peer.role == NodeRole::server;
    }
    bool relays(const MemberEntry& self, const MemberEntry& via, const MemberEntry& dest) const override {
        return self.role == NodeRole::client && via.role == NodeRole::server && dest.role == NodeRole::client;
    }
};

}  // namespace

std::unique_ptr<Overlay> make_client_server_overlay(const OverlayContext& ctx) {
    return std::make_unique<ClientServerOverlay>(ctx);
}

}  // namespace partisan
