#include "partisan/transport/routing.hpp"

namespace partisan {

size_t LatestPerDestination::put(std::string_view dest, const uint8_t* frame, size_t len, size_t payload) {
    auto it = frames_.find(dest);
    size_t replaced = 0;
    if (it == frames_.end()) {
        it = frames_.emplace(std::string(dest), Entry()).first;
    } else {
        replaced = it->second.frame.size();
        bytes_ -= replaced;
        payload_bytes_ -= it->second.payload;
        it->second.frame.clear();
    }
    it->second.frame.append(frame, len);
    it->second.payload = payload;
    bytes_ += len;
    payload_bytes_ += payload;
    return replaced;
}

size_t LatestPerDestination::drain_into(ByteBuffer& out) {
    size_t n = frames_.size();
    for (auto& [dest, e] : frames_) out.append(e.frame.data(), e.frame.size());
    frames_.clear();
    bytes_ = payload_bytes_ = 0;
    return n;
}

}  // namespace partisan
