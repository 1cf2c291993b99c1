// Membership gossip (membership.hpp) from an authenticated peer: decoding
// arbitrary bytes, merging what decodes into a bounded set, and encoding it
// back, which must decode to the same entries.
#include "partisan/overlay/membership.hpp"

#include <cstdlib>

using namespace partisan;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<MemberEntry> remote;
    if (!Membership::decode(data, size, remote)) return 0;
    Membership m("self@host", {Address{"127.0.0.1", 4000}}, 5, NodeRole::server, 64);
    auto r = m.merge(remote);
    if (m.entries().size() > 64) std::abort();
    if (r.refused > remote.size()) std::abort();
    ByteBuffer out;
    m.encode(out);
    std::vector<MemberEntry> back;
    if (!Membership::decode(out.data(), out.size(), back)) std::abort();
    if (back.size() != m.entries().size()) std::abort();
    size_t i = 0;
    for (const auto& [name, e] : m.entries())
        if (!(back[i++] == e)) std::abort();
    return 0;
}
