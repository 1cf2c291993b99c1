// The topologies, by the name `topology` takes in the configuration. A new
// one is a file in this folder and a line here.
#include "partisan/overlay/overlay.hpp"

#include <map>

namespace partisan {

std::unique_ptr<Overlay> make_full_mesh_overlay(const OverlayContext& ctx);
std::unique_ptr<Overlay> make_static_overlay(const OverlayContext& ctx);
std::unique_ptr<Overlay> make_client_server_overlay(const OverlayContext& ctx);
std::unique_ptr<Overlay> make_peer_to_peer_overlay(const OverlayContext& ctx);
std::unique_ptr<Overlay> make_pubsub_overlay(const OverlayContext& ctx);

namespace {

const std::map<std::string, OverlayFactory>& registry() {
    static const std::map<std::string, OverlayFactory> overlays{
        {"full_mesh", make_full_mesh_overlay},
        {"static", make_static_overlay},
        {"client_server", make_client_server_overlay},
        {"peer_to_peer", make_peer_to_peer_overlay},
        {"pubsub", make_pubsub_overlay},
    };
    return overlays;
}

}  // namespace

std::chrono::milliseconds steady_millis() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch());
}

std::unique_ptr<Overlay> make_overlay(const OverlayContext& ctx) {
    auto it = registry().find(ctx.config.topology);
    return it == registry().end() ? nullptr : it->second(ctx);
}

std::vector<std::string> overlay_names() {
    std::vector<std::string> names;
    for (const auto& [name, factory] : registry()) names.push_back(name);
    return names;
}

}  // namespace partisan
