// The TCP transport's fault injection (for tests) and operator views
// (stats, unreachable peers), apart from its connection handling.
#include "partisan/transport/tcp/tcp_transport.hpp"

#include "partisan/codec/ei_out.hpp"

namespace partisan {

// ---- fault injection ------------------------------------------------------------

void TcpTransport::partition(const std::vector<std::string>& peers) {
    blocked_.insert(peers.begin(), peers.end());
    for (auto& l : links_of(peers))
        if (l->established()) l->drop("broken by fault injection");
    for (auto& c : listener_.connections())
        if (blocked(c->peer())) c->close();
}

void TcpTransport::heal() {
    blocked_.clear();
    for (auto& l : links_of(peer_names())) l->retry_now();
}

bool TcpTransport::break_link(const std::string& peer, std::string_view channel, uint64_t index) {
    // Tests break one connection as a network fault would.
    auto it = peers_.find(peer);
    int ch = channel_index(channel);
    if (it == peers_.end() || ch < 0 || index >= ctx_.config.channels[static_cast<size_t>(ch)].parallelism)
        return false;
    PLOG(ctx_.log, notice, "fault injection: breaking connection %zu of channel %.*s to %s", static_cast<size_t>(index),
         static_cast<int>(channel.size()), channel.data(), peer.c_str());
    // A copy: dropping it may erase the peer (see links_of) while it runs.
    auto link = it->second.links[channel_offset_[static_cast<size_t>(ch)] + index];
    link->drop("broken by fault injection");
    return true;
}

// ---- operator views ---------------------------------------------------------------

void TcpTransport::encode_stats(ei_x_buff& x) const {
    const auto& chs = ctx_.config.channels;
    ei_x_encode_map_header(&x, static_cast<long>(stats_.size()));
    for (const auto& [node, per_channel] : stats_) {
        encode_atom(x, node);
        ei_x_encode_map_header(&x, static_cast<long>(chs.size()));
        auto peer = peers_.find(node);
        for (size_t c = 0; c < chs.size(); ++c) {
            long connections = 0;
            unsigned long long queued = 0, queued_messages = 0;
            if (peer != peers_.end())
                for (unsigned i = 0; i < chs[c].parallelism; ++i) {
                    const auto& l = peer->second.links[channel_offset_[c] + i];
                    connections += l->established() ? 1 : 0;
                    queued += l->queued_bytes();
                    queued_messages += l->queued_messages();
                }
            encode_atom(x, chs[c].name);
            encode_link_stats(x, per_channel[c], static_cast<unsigned long long>(connections), queued_messages,
                              queued);
        }
    }
}

void TcpTransport::encode_unreachable(ei_x_buff& x) const {
    auto now = std::chrono::steady_clock::now();
    long n = 0;
    for (const auto& [name, peer] : peers_) n += peer.up ? 0 : 1;
    ei_x_encode_map_header(&x, n);
    for (const auto& [name, peer] : peers_) {
        if (peer.up) continue;
        encode_atom(x, name);
        ei_x_encode_map_header(&x, 2);
        ei_x_encode_atom(&x, "status");
        ei_x_encode_atom(&x, peer.probing ? "down" : "unreachable");
        ei_x_encode_atom(&x, "for_ms");
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - peer.unreachable_since).count();
        ei_x_encode_ulonglong(&x, static_cast<unsigned long long>(ms));
    }
}

}  // namespace partisan
