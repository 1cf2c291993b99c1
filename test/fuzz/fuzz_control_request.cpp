// Control requests from the shim (control_request.hpp) on arbitrary terms:
// whatever parses must hold only what the C-node can act on.
#include "partisan/control_request.hpp"
#include "partisan/names.hpp"

#include <cstdlib>

using namespace partisan;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    ControlRequest q = parse_control_request(etf::Reader(data, size));
    using Op = ControlRequest::Op;
    if ((q.op == Op::join || q.op == Op::remove || q.op == Op::close_link) && !valid_node_name(q.node)) std::abort();
    if (q.op == Op::join && (q.addrs.empty() || q.addrs.size() > 16)) std::abort();
    for (const auto& a : q.addrs)
        if (a.port == 0 || a.ip.empty()) std::abort();
    for (const auto& n : q.nodes)
        if (!valid_node_name(n)) std::abort();
    return 0;
}
