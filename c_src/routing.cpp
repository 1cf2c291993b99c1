#include "partisan/routing.hpp"

namespace partisan {

size_t LatestPerDestination::put(std::string_view dest, const uint8_t* frame, size_t len) {
    auto it = frames_.find(dest);
    size_t replaced = 0;
    if (it == frames_.end()) {
        it = frames_.emplace(std::string(dest), ByteBuffer()).first;
    } else {
        replaced = it->second.size();
        bytes_ -= replaced;
        it->second.clear();
    }
    it->second.append(frame, len);
    bytes_ += len;
    return replaced;
}

size_t LatestPerDestination::drain_into(ByteBuffer& out) {
    size_t n = frames_.size();
    for (auto& [dest, frame] : frames_) out.append(frame.data(), frame.size());
    frames_.clear();
    bytes_ = 0;
    return n;
}

}  // namespace partisan
