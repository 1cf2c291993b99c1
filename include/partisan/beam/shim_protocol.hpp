// What the shim (and the BEAM itself) sends a C-node over a BEAM link
// (docs/SHIM_INTERFACE.md), taken apart without copying: a distribution
// packet carrying `{'$fwd', ...}` (a message to forward), `{'$call', ...}`
// (a control call), an answer to one of the C-node's own gen_server calls
// (`{{Tag, Id}, Reply}`), or a distribution operation a C-node ignores.
// Message payloads are never decoded. Pure: fuzzed on arbitrary bytes.
#pragma once

#include "partisan/codec/etf.hpp"
#include "partisan/codec/wire.hpp"

#include <string_view>

namespace partisan {

// `{'$fwd', Node, Channel, Key, Flags, ServerRef, Msg}` from the shim.
struct ForwardRequest {
    static constexpr uint64_t flag_pinned = 1;  // Key is a partition key

    std::string_view node;
    std::string_view channel;
    uint64_t key = 0;
    uint64_t flags = 0;
    Bytes server_ref;  // a pid or an atom, external format without version
    Bytes message;     // external format without version
    SharedBytes keep;  // keeps `message` alive when it is large (zero-copy)
};

struct ShimMessage {
    enum class Kind { forward, call, answer, ignored, malformed };
    Kind kind = Kind::malformed;
    const char* why = "";  // malformed: what is wrong
    uint64_t op = 0;       // the distribution operation (ignored ones)
    ForwardRequest forward;
    // call: `{'$call', From, Ref, Request}`, the reader standing at Request.
    Bytes from_pid, ref;
    etf::Reader request{nullptr, 0};
    // answer: `{{Tag, Id}, Reply}`, the reader standing at Reply.
    std::string_view answer_tag;
    uint64_t answer_id = 0;
    etf::Reader answer{nullptr, 0};
};

// One distribution packet (after its 4-byte length), as the BEAM sends it
// to a hidden node without an atom cache: 112, then the control term, then
// the message, each with its version byte.
ShimMessage parse_shim_packet(const uint8_t* p, size_t len);

}  // namespace partisan
