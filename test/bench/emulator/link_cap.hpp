// The link cap of one route: a shared bucket for each direction, into the
// route's target and out of it, shared by every connection of the route.
// Both null when there is no link cap.
#pragma once

#include "shared_bucket.hpp"

#include <memory>

namespace link_emulator {

struct LinkCap {
    std::shared_ptr<SharedBucket> to_target;    // client -> target (upstream pipes)
    std::shared_ptr<SharedBucket> from_target;  // target -> client (downstream pipes)

    // bytes_per_second <= 0: no cap (both null). The burst is TokenBucket's default.
    static LinkCap make(double bytes_per_second);
};

}  // namespace link_emulator
