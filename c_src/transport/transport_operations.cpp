#include "partisan/transport/transport_operations.hpp"

#include "partisan/control/control_args.hpp"

namespace partisan {

namespace {

constexpr uint32_t max_partition_nodes = 4096;

}  // namespace

void encode_link_stats(ei_x_buff& x, const LinkStats& st, unsigned long long connections,
                       unsigned long long queued_messages, unsigned long long queued_bytes) {
    ei_x_encode_map_header(&x, 10);
    auto field = [&x](const char* k, unsigned long long v) {
        ei_x_encode_atom(&x, k);
        ei_x_encode_ulonglong(&x, v);
    };
    field("connections", connections);
    field("messages_sent", st.messages_sent);
    field("bytes_sent", st.bytes_sent);
    field("messages_received", st.messages_received);
    field("bytes_received", st.bytes_received);
    field("messages_queued", queued_messages);
    field("queued_bytes", queued_bytes);
    field("dropped", st.dropped);
    field("reconnects", st.reconnects);
    field("undeliverable", st.undeliverable);
}

void register_transport_operations(ControlApi& api, Transport& transport, Logger& log) {
    api.add("stats", 0, [&transport](const ControlArgs&, ControlCall& call) {
        call.ok([&transport](ei_x_buff& x) { transport.encode_stats(x); });
        return true;
    });
    api.add("unreachable", 0, [&transport](const ControlArgs&, ControlCall& call) {
        call.ok([&transport](ei_x_buff& x) { transport.encode_unreachable(x); });
        return true;
    });
    api.add("fault", 1, [&transport, &log](const ControlArgs& args, ControlCall& call) {
        std::string_view kind;
        if (!arg_atom(args[0], kind) || kind != "heal") return false;
        PLOG(log, notice, "fault injection: partitions healed");
        transport.heal();
        call.ok();
        return true;
    });
    api.add("fault", 2, [&transport, &log](const ControlArgs& args, ControlCall& call) {
        std::string_view kind;
        std::vector<std::string> nodes;
        if (!arg_atom(args[0], kind) || kind != "partition" || !arg_nodes(args[1], 0, max_partition_nodes, nodes))
            return false;
        PLOG(log, notice, "fault injection: partitioned from %zu node(s)", nodes.size());
        transport.partition(nodes);
        call.ok();
        return true;
    });
    api.add("fault", 4, [&transport](const ControlArgs& args, ControlCall& call) {
        std::string_view kind, channel;
        std::string node;
        uint64_t index;
        if (!arg_atom(args[0], kind) || kind != "close_link" || !arg_node(args[1], node) ||
            !arg_atom(args[2], channel) || !arg_uint(args[3], index) || !transport.break_link(node, channel, index))
            return false;
        call.ok();
        return true;
    });
}

}  // namespace partisan
