// Full mesh: every node links to every member; membership is gossiped.
#include "partisan/overlay/crdt_overlay.hpp"

namespace partisan {

namespace {

class FullMeshOverlay : public CrdtOverlay {
public:
    explicit FullMeshOverlay(const OverlayContext& ctx) : CrdtOverlay(ctx, NodeRole::server) {}
    const char* name() const override { return "full_mesh"; }
    // The sender links to every member: a broadcast needs no tree.
    bool broadcast_relays() const override { return false; }

protected:
    bool links_to(const MemberEntry&, const MemberEntry&) const override { return true; }
};

}  // namespace

std::unique_ptr<Overlay> make_full_mesh_overlay(const OverlayContext& ctx) {
    return std::make_unique<FullMeshOverlay>(ctx);
}

}  // namespace partisan
