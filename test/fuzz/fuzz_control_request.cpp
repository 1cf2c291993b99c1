// Control calls from the shim (control_api.hpp, control_args.hpp) on
// arbitrary terms: the table answers every request exactly once, and what
// an argument reader takes holds only what the C-node can act on.
#include "partisan/control/control_api.hpp"
#include "partisan/control/control_args.hpp"
#include "partisan/core/names.hpp"

#include <cstdlib>

using namespace partisan;

namespace {

void check_addresses(const std::vector<Address>& addrs) {
    if (addrs.empty() || addrs.size() > 16) std::abort();
    for (const auto& a : addrs)
        if (a.port == 0 || a.ip.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const ControlApi api = [] {
        // The node's argument shapes, with the readers it uses.
        ControlApi a;
        a.add("members", 0, [](const ControlArgs&, ControlCall& c) {
            c.ok();
            return true;
        });
        a.add("leave", 1, [](const ControlArgs& args, ControlCall& c) {
            std::string node;
            if (!arg_node(args[0], node)) return false;
            if (!valid_node_name(node)) std::abort();
            c.ok();
            return true;
        });
        a.add("join", 2, [](const ControlArgs& args, ControlCall& c) {
            std::string node;
            std::vector<Address> addrs;
            if (!arg_node(args[0], node) || !arg_addresses(args[1], 1, 16, addrs)) return false;
            check_addresses(addrs);
            c.ok();
            return true;
        });
        a.add("fault", 2, [](const ControlArgs& args, ControlCall& c) {
            std::string_view kind;
            std::vector<std::string> nodes;
            if (!arg_atom(args[0], kind) || !arg_nodes(args[1], 0, 4096, nodes)) return false;
            for (const auto& n : nodes)
                if (!valid_node_name(n)) std::abort();
            c.ok();
            return true;
        });
        a.add("broadcast", 3, [](const ControlArgs& args, ControlCall& c) {
            std::string_view channel;
            Bytes ref, message;
            if (!arg_atom(args[0], channel) || !arg_server_ref(args[1], ref) || !arg_term(args[2], message))
                return false;
            // What the readers hand out is one whole term each, inside the request.
            if (!etf::is_atom(ref.data, ref.size) && !etf::is_pid(ref.data, ref.size)) std::abort();
            if (message.size == 0 || !etf::is_valid_term(message.data, message.size)) std::abort();
            c.ok();
            return true;
        });
        return a;
    }();
    int answers = 0;
    ReplySender send = [&](Bytes, const ei_x_buff& term) {
        if (term.index < 2) std::abort();
        ++answers;
    };
    static const uint8_t pid[] = {88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t ref[] = {97, 1};
    api.dispatch(ControlCall(send, Bytes{pid, sizeof pid}, Bytes{ref, sizeof ref}), etf::Reader(data, size));
    if (answers != 1) std::abort();
    return 0;
}
