// Plumtree (plumtree.hpp) fed by its peers. The input is records [u8 op]:
// op's low 3 bits say what and bits 3-4 which peer (a@h, b@h, c@h, or the
// node's own name):
//     0-3  [u16 n][n bytes]: a frame body from that peer; one that parses
//          must append back to the same bytes, and is handed over
//     4    the peer comes up       5  the peer goes down
//     6    [u8 n]: n*4 ms pass, then a tick
//     7    a broadcast of this node's, of op>>3 bytes
// The limits are small so that eviction and expiry happen. Aborts when a
// bound breaks, a message is delivered while it is still remembered as
// seen (or is no newer than an id its origin had forgotten), a GOSSIP
// neither seen nor stale is not delivered, anything but the message in hand is delivered, something is sent
// to a node that is not a neighbour, or a send does not encode to a frame
// that parses back to the same bytes.
#include "partisan/broadcast/plumtree.hpp"
#include "partisan/broadcast/plumtree_frames.hpp"
#include "partisan/codec/byte_reader.hpp"

#include <array>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <set>

using namespace partisan;
using namespace partisan::plumtree;
using namespace std::chrono_literals;

namespace {

constexpr size_t max_payload = 64;
const std::string self_name = "self@h";
const std::array<std::string, 4> peers{"a@h", "b@h", "c@h", self_name};

void check(bool ok) {
    if (!ok) std::abort();
}

Params small_params() {
    Params p;
    p.graft_timeout = 40ms;
    p.graft_retry = 20ms;
    p.lazy_interval = 16ms;
    p.seen_ttl = 400ms;
    p.max_seen = 8;
    p.max_origins = 2;  // of 4: floors are evicted too
    p.cache_ttl = 200ms;
    p.max_cached_bytes = 64;
    p.max_pending = 6;
    p.max_ihave_batch = 3;
    p.max_round = 5;
    return p;
}

// The frame `m` makes parses, and appends back to the same bytes.
void check_encoding(const Message& m) {
    ByteBuffer b;
    append_plumtree_frame(b, m);
    Message back;
    check(parse_plumtree_frame(b.data() + 4, b.size() - 4, std::numeric_limits<size_t>::max(), back));
    ByteBuffer again;
    append_plumtree_frame(again, back);
    check(again.size() == b.size() && std::memcmp(again.data(), b.data(), b.size()) == 0);
}

struct Harness {
    Params params = small_params();
    Plumtree tree{self_name, params, 1};
    std::set<std::string> neighbours;  // as the node was told
    Millis now{0};
    uint64_t next_seq = 1;

    // `expect`: the one message this event may deliver, if any.
    void check_effects(const Effects& e, const MessageId* expect) {
        check(e.deliveries.size() <= (expect ? 1u : 0u));
        for (const auto& d : e.deliveries) {
            check(d.id == *expect);
            check(tree.has_seen(d.id));  // remembered, so not delivered again
        }
        for (const auto& [to, m] : e.sends) {
            check(neighbours.count(to) > 0);
            if (const auto* ih = std::get_if<IHave>(&m)) check(!ih->ids.empty() && ih->ids.size() <= params.max_ihave_batch);
            check_encoding(m);
        }
        check(tree.seen_count() <= params.max_seen);
        check(tree.forgotten_origins() <= params.max_origins);
        check(tree.cached_bytes() <= params.max_cached_bytes);
        check(tree.cached_count() <= params.max_seen);
        check(tree.pending_count() <= params.max_pending);
        check(tree.queued_ihaves() <= params.max_pending * neighbours.size());
        for (const auto& p : tree.eager()) check(neighbours.count(p) && !tree.lazy().count(p));
        for (const auto& p : tree.lazy()) check(neighbours.count(p) > 0);
    }

    void message(const std::string& from, const Message& m) {
        Effects e;
        const Gossip* g = std::get_if<Gossip>(&m);
        const bool fresh = g && !tree.has_seen(g->id) && !tree.is_stale(g->id);
        tree.on_message(from, m, now, e);
        check_effects(e, fresh ? &g->id : nullptr);
        if (fresh) check(e.deliveries.size() == 1);
    }

    void broadcast(size_t size) {
        const MessageId id{self_name, next_seq++};
        Effects e;
        tree.broadcast(id, std::make_shared<const std::string>(size, 'x'), now, e);
        check_effects(e, &id);
        check(e.deliveries.size() == 1);
    }

    void up(const std::string& peer) {
        tree.neighbour_up(peer);
        if (peer != self_name) neighbours.insert(peer);
    }

    void down(const std::string& peer) {
        neighbours.erase(peer);
        Effects e;
        tree.neighbour_down(peer, now, e);
        check_effects(e, nullptr);
    }

    void tick(unsigned steps) {
        now += Millis(4 * steps);
        Effects e;
        tree.tick(now, e);
        check_effects(e, nullptr);
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Harness h;
    ByteReader r(data, size);
    while (r.left() > 0) {
        const uint8_t op = r.u8();
        const std::string& peer = peers[(op >> 3) & 3];
        switch (op & 7) {
            case 4:
                h.up(peer);
                break;
            case 5:
                h.down(peer);
                break;
            case 6:
                h.tick(r.u8());
                break;
            case 7:
                h.broadcast(op >> 3);
                break;
            default: {
                const size_t n = r.u16();
                auto body = r.bytes(n);
                if (!r.ok()) return 0;
                const auto* p = reinterpret_cast<const uint8_t*>(body.data());
                Message m;
                if (!parse_plumtree_frame(p, n, max_payload, m)) break;
                ByteBuffer b;
                append_plumtree_frame(b, m);
                check(b.size() == n + 4 && std::memcmp(b.data() + 4, p, n) == 0);
                h.message(peer, m);
                break;
            }
        }
    }
    return 0;
}
