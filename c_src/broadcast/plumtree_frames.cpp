#include "partisan/broadcast/plumtree_frames.hpp"

#include "partisan/codec/byte_reader.hpp"
#include "partisan/codec/peer_frames.hpp"
#include "partisan/core/names.hpp"

#include <algorithm>

namespace partisan {

namespace {

void put_id(ByteBuffer& out, const plumtree::MessageId& id) {
    put_str8(out, id.origin);
    out.put_u64(id.seq);
}

bool read_id(ByteReader& r, plumtree::MessageId& id) {
    id.origin = r.str8();
    id.seq = r.u64();
    if (!valid_node_name(id.origin)) r.fail();
    return r.ok();
}

// Kind byte and fields of each message.
struct Encoder {
    ByteBuffer& out;

    void operator()(const plumtree::Gossip& g) const {
        out.put_u8(static_cast<uint8_t>(PlumtreeKind::gossip));
        put_id(out, g.id);
        out.put_u16(g.round);
        const size_t n = g.payload ? g.payload->size() : 0;
        out.put_u32(static_cast<uint32_t>(n));
        if (n) out.append(*g.payload);
    }
    void operator()(const plumtree::IHave& ih) const {
        out.put_u8(static_cast<uint8_t>(PlumtreeKind::ihave));
        const size_t n = std::min(ih.ids.size(), plumtree::max_ihave_ids);
        out.put_u16(static_cast<uint16_t>(n));
        for (size_t i = 0; i < n; ++i) {
            put_id(out, ih.ids[i].first);
            out.put_u16(ih.ids[i].second);
        }
    }
    void operator()(const plumtree::Graft& g) const {
        out.put_u8(static_cast<uint8_t>(PlumtreeKind::graft));
        put_id(out, g.id);
        out.put_u16(g.round);
    }
    void operator()(const plumtree::Prune&) const { out.put_u8(static_cast<uint8_t>(PlumtreeKind::prune)); }
};

bool read_gossip(ByteReader& r, size_t max_payload, plumtree::Message& out) {
    plumtree::Gossip g;
    read_id(r, g.id);
    g.round = r.u16();
    const uint32_t n = r.u32();
    if (!r.ok() || n > max_payload) return false;
    auto bytes = r.bytes(n);
    if (!r.done()) return false;
    g.payload = std::make_shared<const std::string>(bytes);
    out = std::move(g);
    return true;
}

bool read_ihave(ByteReader& r, plumtree::Message& out) {
    const size_t count = r.u16();
    if (!r.ok() || count == 0 || count > plumtree::max_ihave_ids) return false;
    plumtree::IHave ih;
    ih.ids.reserve(count);
    for (size_t i = 0; i < count; ++i) {
        plumtree::MessageId id;
        if (!read_id(r, id)) return false;
        const uint16_t round = r.u16();
        ih.ids.emplace_back(std::move(id), round);
    }
    if (!r.done()) return false;
    out = std::move(ih);
    return true;
}

bool read_graft(ByteReader& r, plumtree::Message& out) {
    plumtree::Graft g;
    read_id(r, g.id);
    g.round = r.u16();
    if (!r.done()) return false;
    out = std::move(g);
    return true;
}

}  // namespace

void append_plumtree_frame(ByteBuffer& out, const plumtree::Message& m) {
    const size_t at = begin_frame(out, frame_plumtree);
    std::visit(Encoder{out}, m);
    end_frame(out, at);
}

bool parse_plumtree_frame(const uint8_t* body, size_t len, size_t max_payload, plumtree::Message& out) {
    ByteReader r(body, len);
    if (r.u8() != frame_plumtree) return false;
    switch (static_cast<PlumtreeKind>(r.u8())) {
        case PlumtreeKind::gossip:
            return read_gossip(r, max_payload, out);
        case PlumtreeKind::ihave:
            return read_ihave(r, out);
        case PlumtreeKind::graft:
            return read_graft(r, out);
        case PlumtreeKind::prune:
            if (!r.done()) return false;
            out = plumtree::Prune{};
            return true;
    }
    return false;  // an unknown kind, or nothing after the type
}

}  // namespace partisan
