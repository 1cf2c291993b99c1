#include "partisan/overlay/peer_to_peer/hyparview_frames.hpp"

#include "partisan/codec/byte_reader.hpp"
#include "partisan/codec/node_ref.hpp"
#include "partisan/codec/peer_frames.hpp"

#include <algorithm>

namespace partisan {

namespace hv = hyparview;

namespace {

void put_kind(ByteBuffer& b, HyParViewKind k) { b.put_u8(static_cast<uint8_t>(k)); }

void put_sample(ByteBuffer& b, const std::vector<NodeRef>& sample) {
    size_t n = std::min(sample.size(), hv::max_shuffle_sample);
    b.put_u8(static_cast<uint8_t>(n));
    for (size_t i = 0; i < n; ++i) append_node_ref(b, sample[i]);
}

// Writes one message's kind and fields.
struct Encoder {
    ByteBuffer& b;
    void operator()(const hv::Join& m) const {
        put_kind(b, HyParViewKind::join);
        append_node_ref(b, m.node);
    }
    void operator()(const hv::ForwardJoin& m) const {
        put_kind(b, HyParViewKind::forward_join);
        append_node_ref(b, m.node);
        b.put_u8(m.ttl);
    }
    void operator()(const hv::Neighbor& m) const {
        put_kind(b, HyParViewKind::neighbor);
        append_node_ref(b, m.node);
        b.put_u8(m.high_priority ? 1 : 0);
    }
    void operator()(const hv::NeighborReply& m) const {
        put_kind(b, HyParViewKind::neighbor_reply);
        append_node_ref(b, m.node);
        b.put_u8(m.accepted ? 1 : 0);
    }
    void operator()(const hv::Disconnect&) const { put_kind(b, HyParViewKind::disconnect); }
    void operator()(const hv::Shuffle& m) const {
        put_kind(b, HyParViewKind::shuffle);
        append_node_ref(b, m.origin);
        b.put_u8(m.ttl);
        b.put_u32(m.id);
        put_sample(b, m.sample);
    }
    void operator()(const hv::ShuffleReply& m) const {
        put_kind(b, HyParViewKind::shuffle_reply);
        b.put_u32(m.id);
        put_sample(b, m.sample);
    }
};

// A flag is 0 or 1, nothing else, so that every frame has one encoding.
bool read_flag(ByteReader& r) {
    uint8_t v = r.u8();
    if (v > 1) r.fail();
    return v == 1;
}

void read_sample(ByteReader& r, std::vector<NodeRef>& sample) {
    size_t n = r.u8();
    if (n > hv::max_shuffle_sample) r.fail();
    sample.clear();
    for (size_t i = 0; i < n && r.ok(); ++i) {
        NodeRef node;
        if (read_node_ref(r, node)) sample.push_back(std::move(node));
    }
}

}  // namespace

void append_hyparview_frame(ByteBuffer& out, const hv::Message& m) {
    size_t at = begin_frame(out, frame_hyparview);
    std::visit(Encoder{out}, m);
    end_frame(out, at);
}

bool parse_hyparview_frame(const uint8_t* body, size_t len, hv::Message& out) {
    ByteReader r(body, len);
    if (r.u8() != frame_hyparview) return false;
    switch (static_cast<HyParViewKind>(r.u8())) {
        case HyParViewKind::join: {
            hv::Join m;
            read_node_ref(r, m.node);
            out = std::move(m);
            break;
        }
        case HyParViewKind::forward_join: {
            hv::ForwardJoin m;
            read_node_ref(r, m.node);
            m.ttl = r.u8();
            out = std::move(m);
            break;
        }
        case HyParViewKind::neighbor: {
            hv::Neighbor m;
            read_node_ref(r, m.node);
            m.high_priority = read_flag(r);
            out = std::move(m);
            break;
        }
        case HyParViewKind::neighbor_reply: {
            hv::NeighborReply m;
            read_node_ref(r, m.node);
            m.accepted = read_flag(r);
            out = std::move(m);
            break;
        }
        case HyParViewKind::disconnect:
            out = hv::Disconnect{};
            break;
        case HyParViewKind::shuffle: {
            hv::Shuffle m;
            read_node_ref(r, m.origin);
            m.ttl = r.u8();
            m.id = r.u32();
            read_sample(r, m.sample);
            out = std::move(m);
            break;
        }
        case HyParViewKind::shuffle_reply: {
            hv::ShuffleReply m;
            m.id = r.u32();
            read_sample(r, m.sample);
            out = std::move(m);
            break;
        }
        default:
            return false;
    }
    return r.done();
}

}  // namespace partisan
