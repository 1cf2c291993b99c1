// HyParView frames (hyparview_frames.hpp) from a few authenticated peers,
// interleaved with link and timer events, into one HyParView
// (hyparview.hpp). A frame that parses must re-encode to the same bytes;
// no sequence of events may break the state machine's invariants or the
// contract of its Effects (test/unit/hyparview_checker.hpp).
//
// The input is a sequence of records, each starting with a byte `op`:
//   op < 0x80: a frame from peer op % 4: [u16 length][frame body]
//   op >= 0x80: an event, (op >> 4) & 7 choosing which, op & 15 its argument
#include "partisan/overlay/peer_to_peer/hyparview_frames.hpp"

#include "../unit/hyparview_checker.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

using namespace partisan;
using namespace std::chrono_literals;

namespace {

const char* const peers[] = {"a@host", "b@host", "c@host", "d@host"};

void require(const std::string& problem) {
    if (!problem.empty()) std::abort();
}

void same_as(const ByteBuffer& frame, const uint8_t* body, size_t len) {
    if (frame.size() != len + 4 || std::memcmp(frame.data() + 4, body, len) != 0) std::abort();
}

// Small views, so that every bound is reached.
hyparview::Params params() {
    hyparview::Params p;
    p.active_size = 3;
    p.passive_size = 5;
    p.shuffle_active = 2;
    p.shuffle_passive = 2;
    p.shuffle_interval = 3000ms;
    p.promotion_interval = 2000ms;
    p.link_timeout = 4000ms;
    return p;
}

// One of the current links, or a named peer when there is none.
std::string some_link(const hyparview::HyParView& hv, unsigned arg) {
    auto links = hv.links();
    if (links.empty()) return peers[arg % 4];
    return links[arg % links.size()].name;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    test::CheckedHyParView x(NodeRef{"self@host", {Address{"127.0.0.1", 4000}}}, params(), 1);
    hyparview::Millis now{0};
    size_t i = 0;
    while (i < size) {
        uint8_t op = data[i++];
        if (op < 0x80) {
            if (size - i < 2) break;
            size_t len = load_u16(data + i);
            i += 2;
            len = std::min(len, size - i);
            const uint8_t* body = data + i;
            i += len;
            hyparview::Message m;
            if (!parse_hyparview_frame(body, len, m)) continue;
            ByteBuffer again;
            append_hyparview_frame(again, m);
            same_as(again, body, len);
            require(x.message(peers[op % 4], m, now));
            continue;
        }
        unsigned arg = op & 15;
        switch ((op >> 4) & 7) {
            case 0:
            case 1:
                require(x.link_up(some_link(x.hv(), arg), now));
                break;
            case 2:
                require(x.link_down(some_link(x.hv(), arg), now));
                break;
            case 3:
                now += hyparview::Millis(arg * 500);
                require(x.tick(now));
                break;
            case 4:
                require(x.join(NodeRef{arg & 8 ? "self@host" : peers[arg % 4], {Address{"10.0.0.1", 4000}}}, now));
                break;
            case 5:
                if (arg == 15) require(x.leave());
                break;
            default:
                now += hyparview::Millis(arg * 100);
                require(x.tick(now));
                break;
        }
    }
    return 0;
}
