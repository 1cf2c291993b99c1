// What the BEAM link carries (shim_protocol.hpp, control_api.hpp):
// distribution packets with '$fwd' requests, '$call' control calls and
// answers, taken apart without reading out of bounds.
#include "partisan/control/control_api.hpp"
#include "partisan/beam/shim_protocol.hpp"

#include <cstdlib>

using namespace partisan;

namespace {

bool inside(Bytes b, const uint8_t* data, size_t size) {
    return b.size == 0 || (b.data >= data && b.data + b.size <= data + size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    ShimMessage m = parse_shim_packet(data, size);
    switch (m.kind) {
        case ShimMessage::Kind::forward:
            if (m.forward.message.size == 0 || !inside(m.forward.message, data, size) ||
                !inside(m.forward.server_ref, data, size))
                std::abort();
            break;
        case ShimMessage::Kind::call:
            if (!inside(m.from_pid, data, size) || !inside(m.ref, data, size)) std::abort();
            {
                std::string_view op;
                ControlArgs args;
                (void)split_request(m.request, op, args);
            }
            break;
        default:
            break;
    }
    return 0;
}
