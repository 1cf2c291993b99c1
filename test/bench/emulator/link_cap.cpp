#include "link_cap.hpp"

namespace link_emulator {

LinkCap LinkCap::make(double bytes_per_second) {
    if (!(bytes_per_second > 0)) return {};
    const auto now = SharedBucket::Clock::now();
    const double burst = TokenBucket::default_burst(bytes_per_second);
    return {std::make_shared<SharedBucket>(bytes_per_second, burst, now),
            std::make_shared<SharedBucket>(bytes_per_second, burst, now)};
}

}  // namespace link_emulator
