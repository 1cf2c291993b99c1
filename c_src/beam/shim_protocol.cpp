#include "partisan/beam/shim_protocol.hpp"

namespace partisan {

namespace {

constexpr uint8_t pass_through = 112;  // distribution packet without atom cache
// Distribution control operations that carry a message after the control term.
bool carries_message(uint64_t op) {
    switch (op) {
        case 2: case 6: case 12: case 16:  // SEND, REG_SEND and their _TT forms
        case 22: case 23: case 33: case 34:  // SEND_SENDER(_TT), ALIAS_SEND(_TT)
            return true;
        default:
            return false;
    }
}

ShimMessage malformed(const char* why) {
    ShimMessage m;
    m.why = why;
    return m;
}

// {{Tag, Id}, Reply}
bool parse_answer(etf::Reader r, ShimMessage& m) {
    uint32_t arity = 0, inner = 0;
    if (!r.tuple_header(arity) || arity != 2 || !r.tuple_header(inner) || inner != 2 || !r.atom(m.answer_tag) ||
        !r.uint(m.answer_id))
        return false;
    m.kind = ShimMessage::Kind::answer;
    m.answer = r;
    return true;
}

// One whole term at the reader, as a byte span; false when malformed.
bool take_term(etf::Reader& r, Bytes& out) {
    const uint8_t* at = r.here();
    size_t start = r.pos();
    if (!r.skip()) return false;
    out = Bytes{at, r.pos() - start};
    return true;
}

ShimMessage parse_request(etf::Reader r) {
    ShimMessage m;
    if (parse_answer(r, m)) return m;
    uint32_t arity = 0;
    std::string_view tag;
    if (!r.tuple_header(arity) || !r.atom(tag)) return malformed("not a tagged tuple");
    if (tag == "$fwd" && arity == 7) {
        ForwardRequest& f = m.forward;
        if (!r.atom(f.node) || !r.atom(f.channel) || !r.uint(f.key) || !r.uint(f.flags) ||
            !take_term(r, f.server_ref))
            return malformed("bad $fwd");
        if (!etf::is_pid(f.server_ref.data, f.server_ref.size) && !etf::is_atom(f.server_ref.data, f.server_ref.size))
            return malformed("$fwd to neither a pid nor a name");
        // The message is the last element: its bytes are the rest, unread.
        f.message = Bytes{r.here(), r.remaining()};
        if (f.message.size == 0) return malformed("$fwd without a message");
        m.kind = ShimMessage::Kind::forward;
        return m;
    }
    if (tag == "$call" && arity == 4) {
        if (!take_term(r, m.from_pid) || !etf::is_pid(m.from_pid.data, m.from_pid.size) || !take_term(r, m.ref))
            return malformed("bad $call");
        m.request = r;
        m.kind = ShimMessage::Kind::call;
        return m;
    }
    return malformed("unknown request");
}

}  // namespace

ShimMessage parse_shim_packet(const uint8_t* p, size_t len) {
    if (len == 0 || p[0] != pass_through) return malformed("not a pass-through packet");
    etf::Reader r(p + 1, len - 1);
    if (!r.version()) return malformed("no version byte");
    etf::Reader control = r;
    uint32_t arity = 0;
    uint64_t op = 0;
    if (!control.tuple_header(arity) || arity < 1 || !control.uint(op)) return malformed("bad control term");
    // The message, if any, follows the whole control term.
    if (!r.skip()) return malformed("bad control term");
    if (!carries_message(op)) {
        ShimMessage m;
        m.kind = ShimMessage::Kind::ignored;
        m.op = op;
        return m;
    }
    if (!r.version()) return malformed("message without a version byte");
    ShimMessage m = parse_request(r);
    m.op = op;
    return m;
}

}  // namespace partisan
