// Pure routing decisions of the data path, kept apart so they are unit-tested.
#pragma once

#include "partisan/codec/wire.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace partisan {

// Which of a channel's `n` connections carries a message with `key`:
// connection `key rem n`. When that one is down and `pinned` is false (the
// key is the sender's affinity, not a partition key), the next live sibling
// in order takes it; when none is live, the chosen one queues it.
template <typename IsUp>
size_t select_link(uint64_t key, size_t n, bool pinned, IsUp&& is_up) {
    size_t first = static_cast<size_t>(key % n);
    if (pinned || is_up(first)) return first;
    for (size_t i = 1; i < n; ++i) {
        size_t c = (first + i) % n;
        if (is_up(c)) return c;
    }
    return first;
}

// The unsent messages of a monotonic channel: at most one frame per
// destination, the newest. Putting a newer one replaces (drops) the older.
class LatestPerDestination {
public:
    // Stores `frame` (whose message payload is `payload` bytes) for `dest`;
    // returns the size of the unsent frame it replaced, 0 when there was none.
    size_t put(std::string_view dest, const uint8_t* frame, size_t len, size_t payload = 0);
    // Appends every stored frame to `out` and forgets them; returns how many.
    size_t drain_into(ByteBuffer& out);
    size_t bytes() const { return bytes_; }
    size_t payload_bytes() const { return payload_bytes_; }
    size_t size() const { return frames_.size(); }

private:
    struct Entry {
        ByteBuffer frame;
        size_t payload = 0;
    };
    std::map<std::string, Entry, std::less<>> frames_;
    size_t bytes_ = 0, payload_bytes_ = 0;
};

}  // namespace partisan
