// The node's control operations (docs/SHIM_INTERFACE.md): membership
// (members, views, join, leave), broadcast, and the transport's own; joins
// waiting for their first connection.
#include "partisan/node/node.hpp"

#include "partisan/codec/ei_out.hpp"
#include "partisan/control/control_args.hpp"
#include "partisan/transport/transport_operations.hpp"

#include <chrono>

namespace partisan {

namespace {

// How long a join call waits for the first connection (the shim waits 5 s).
constexpr std::chrono::milliseconds join_wait{4000};
constexpr uint32_t max_join_addresses = 16;

}  // namespace

// ---- control calls from the shim --------------------------------------------

void Node::on_call(Bytes from_pid, Bytes ref, etf::Reader& request) {
    ReplySender send = [this](Bytes to, const ei_x_buff& term) { shim_link().send_to_pid(to, term); };
    control_.dispatch(ControlCall(std::move(send), from_pid, ref), request);
}

void Node::register_operations() {
    control_.add("members", 0, [this](const ControlArgs&, ControlCall& call) {
        call.ok([this](ei_x_buff& x) { encode_atoms(x, members_); });
        return true;
    });
    // Membership changes; a static cluster is its configuration
    // (docs/ARCHITECTURE.md).
    auto not_static = [this](ControlCall& call) {
        if (overlay_->dynamic()) return true;
        call.error("not_supported");
        return false;
    };
    control_.add("leave", 0, [this, not_static](const ControlArgs&, ControlCall& call) {
        if (!not_static(call)) return true;
        PLOG(ctx_.log, notice, "leaving the cluster");
        leave_cluster();
        call.ok();
        return true;
    });
    control_.add("leave", 1, [this, not_static](const ControlArgs& args, ControlCall& call) {
        std::string node;
        if (!arg_node(args[0], node)) return false;
        if (not_static(call)) remove_member(call, node);
        return true;
    });
    control_.add("join", 2, [this, not_static](const ControlArgs& args, ControlCall& call) {
        std::string node;
        std::vector<Address> addrs;
        if (!arg_node(args[0], node) || !arg_addresses(args[1], 0, max_join_addresses, addrs)) return false;
        if (not_static(call)) join(call, node, addrs);
        return true;
    });
    // broadcast(Channel, ServerRef, Message): to ServerRef on every member.
    control_.add("broadcast", 3, [this](const ControlArgs& args, ControlCall& call) {
        std::string_view channel;
        Bytes ref, message;
        if (!arg_atom(args[0], channel) || !arg_server_ref(args[1], ref) || !arg_term(args[2], message)) return false;
        auto refused = broadcast_->broadcast(channel, ref, message);
        if (refused.empty())
            call.ok();
        else
            call.error(refused.c_str());
        return true;
    });
    // #{active => [Node], passive => [Node]}: a topology without views
    // links its members, and knows no others.
    control_.add("views", 0, [this](const ControlArgs&, ControlCall& call) {
        auto views = overlay_->views();
        if (!views) {
            views.emplace();
            for (const auto& m : members_)
                if (m != overlay_->self()) views->active.push_back(m);
        }
        call.ok([&](ei_x_buff& x) {
            ei_x_encode_map_header(&x, 2);
            ei_x_encode_atom(&x, "active");
            encode_atoms(x, views->active);
            ei_x_encode_atom(&x, "passive");
            encode_atoms(x, views->passive);
        });
        return true;
    });
    // The transport's own: stats, unreachable, fault injection.
    register_transport_operations(control_, *transport_, ctx_.log);
}

void Node::join(ControlCall& call, const std::string& node, const std::vector<Address>& addrs) {
    if (node == overlay_->self()) {
        call.error("self_join");
        return;
    }
    if (addrs.empty() && overlay_->needs_addresses()) {
        call.error("no_address", node);
        return;
    }
    if (addrs.empty())
        PLOG(ctx_.log, info, "joining %s", node.c_str());
    else
        PLOG(ctx_.log, info, "joining %s at %s:%u", node.c_str(), addrs[0].ip.c_str(), addrs[0].port);
    OverlayOutput out;
    overlay_->join(node, addrs, wall_micros(), out);
    apply(out);
    if (transport_->up(node)) {
        call.ok();
        return;
    }
    // Answer once the first connection is up or has failed, so a join to a
    // node that refuses us (wrong secret, other channels) is an error.
    auto timer = std::make_shared<asio::steady_timer>(ctx_.io, join_wait);
    timer->async_wait([this, node](const asio::error_code& ec) {
        if (!ec) finish_joins(node, "no answer within " + std::to_string(join_wait.count()) + " ms");
    });
    pending_joins_[node].push_back(PendingJoin{std::move(call), timer});
}

void Node::remove_member(ControlCall& call, const std::string& node) {
    OverlayOutput out;
    if (!overlay_->remove(node, out)) {
        call.error("unknown_node", node);
        return;
    }
    apply(out);
    call.ok();
}

void Node::finish_joins(const std::string& node, const std::string& failure, const RefusalInfo* refusal) {
    auto it = pending_joins_.find(node);
    if (it == pending_joins_.end()) return;
    auto joins = std::move(it->second);
    pending_joins_.erase(it);
    if (!failure.empty()) {
        // A join that cannot reach its node leaves no trace: stop dialing it.
        PLOG(ctx_.log, warning, "join of %s failed: %s", node.c_str(), failure.c_str());
        OverlayOutput out;
        overlay_->join_failed(node, out);
        apply(out);
    }
    bool refused = refusal && refusal->reason != Refusal::none;
    bool mismatch = refused && refusal->proven && refusal->reason == Refusal::channel_mismatch;
    for (auto& j : joins) {
        j.timer->cancel();
        if (failure.empty()) {
            j.call.ok();
        } else if (mismatch) {
            // {error, {channel_mismatch, Node, #{local => Channels, remote => Channels}}}
            j.call.error([&](ei_x_buff& x) {
                ei_x_encode_tuple_header(&x, 3);
                ei_x_encode_atom(&x, "channel_mismatch");
                encode_atom(x, node);
                ei_x_encode_map_header(&x, 2);
                ei_x_encode_atom(&x, "local");
                encode_channels(x, channels_spec(ctx_.config.channels));
                ei_x_encode_atom(&x, "remote");
                encode_channels(x, refusal->text);
            });
        } else {
            // {error, {refused | unreachable, Node, <<"why">>}}
            j.call.error([&](ei_x_buff& x) {
                ei_x_encode_tuple_header(&x, 3);
                ei_x_encode_atom(&x, refused ? "refused" : "unreachable");
                encode_atom(x, node);
                ei_x_encode_binary(&x, failure.data(), static_cast<long>(failure.size()));
            });
        }
    }
}

}  // namespace partisan
