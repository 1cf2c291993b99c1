#include "partisan/codec/peer_frames.hpp"

#include "partisan/codec/etf.hpp"

namespace partisan {

void append_message_frame(ByteBuffer& out, Bytes ref, Bytes payload, size_t by_reference) {
    size_t at = begin_frame(out, frame_message);
    out.put_u16(static_cast<uint16_t>(ref.size));
    out.append(ref.data, ref.size);
    out.append(payload.data, payload.size);
    end_frame(out, at, by_reference);
}

void append_heartbeat_frame(ByteBuffer& out, PeerFrame type) { end_frame(out, begin_frame(out, type)); }

void append_gossip_frame(ByteBuffer& out, const Membership& membership) {
    size_t at = begin_frame(out, frame_gossip);
    membership.encode(out);
    end_frame(out, at);
}

bool parse_gossip(const uint8_t* p, size_t n, std::vector<MemberEntry>& entries) {
    return Membership::decode(p, n, entries);
}

void append_relay_frame(ByteBuffer& out, std::string_view dest, uint8_t hops, Bytes ref, Bytes payload) {
    size_t at = begin_frame(out, frame_relay);
    out.put_u8(hops);
    out.put_u8(static_cast<uint8_t>(dest.size()));
    out.append(dest);
    out.put_u16(static_cast<uint16_t>(ref.size));
    out.append(ref.data, ref.size);
    out.append(payload.data, payload.size);
    end_frame(out, at);
}

bool parse_addressed(const uint8_t* p, size_t n, std::string_view decoder, Bytes& ref, Bytes& payload) {
    if (n < 2) return false;
    size_t ref_len = load_u16(p);
    if (2 + ref_len >= n) return false;
    ref = Bytes{p + 2, ref_len};
    payload = Bytes{p + 2 + ref_len, n - 2 - ref_len};
    // Checked, not decoded.
    const etf::DecoderNode node{decoder};
    return (etf::is_pid(ref.data, ref.size, node) || etf::is_atom(ref.data, ref.size)) &&
           etf::is_valid_term(payload.data, payload.size, node);
}

bool parse_relay(const uint8_t* p, size_t n, std::string_view& dest, uint8_t& hops, Bytes& ref, Bytes& payload) {
    if (n < 2 || p[0] == 0) return false;
    hops = *p++;
    --n;
    size_t name_len = p[0];
    if (1 + name_len > n) return false;
    dest = std::string_view(reinterpret_cast<const char*>(p + 1), name_len);
    return parse_addressed(p + 1 + name_len, n - 1 - name_len, dest, ref, payload);
}

}  // namespace partisan
