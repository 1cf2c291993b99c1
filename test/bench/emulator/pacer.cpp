#include "pacer.hpp"

#include <utility>

namespace link_emulator {

Pacer::Pacer(double own_bytes_per_second, std::shared_ptr<SharedBucket> link, Clock::time_point now)
    : own_(own_bytes_per_second, TokenBucket::default_burst(own_bytes_per_second), now),
      link_(std::move(link)),
      user_(link_ ? link_->join() : 0) {}

std::size_t Pacer::allowance(std::size_t wanted, Clock::time_point now) {
    const std::size_t own = own_.allowance(wanted, now);
    if (own == 0) {
        leave();
        return 0;
    }
    return link_ ? link_->allowance(user_, own, now) : own;
}

void Pacer::consume(std::size_t n) noexcept {
    own_.consume(n);
    if (link_) link_->consume(n);
}

Pacer::Clock::time_point Pacer::ready_at(std::size_t wanted, Clock::time_point now) {
    const auto own_ready = own_.ready_at(wanted, now);
    if (own_ready > now || !link_) return own_ready;
    return link_->ready_at(user_, own_.allowance(wanted, now), now);
}

void Pacer::leave() noexcept {
    if (link_) link_->leave(user_);
}

}  // namespace link_emulator
