#include "partisan/transport/amqp/delivery_sequence.hpp"

#include <algorithm>

namespace partisan::amqp {

DeliverySequence::Verdict DeliverySequence::accept(const std::string& sender, uint64_t incarnation, uint16_t channel,
                                                   uint64_t seq, uint64_t confirmed, uint64_t* lost) {
    Key key{sender, channel};
    auto it = last_.find(key);
    if (it == last_.end()) {
        if (last_.size() >= max_senders_ && !by_age_.empty()) {
            last_.erase(by_age_.front());
            by_age_.pop_front();
        }
        by_age_.push_back(key);
        last_.emplace(std::move(key), State{incarnation, seq, std::prev(by_age_.end())});
        return Verdict::deliver;
    }
    State& s = it->second;
    // An earlier incarnation's message, queued before the sender restarted
    // and delivered after its newer ones: already seen or superseded.
    if (incarnation < s.incarnation) return Verdict::duplicate;
    if (incarnation == s.incarnation) {
        if (seq <= s.last) return Verdict::duplicate;
        if (seq != s.last + 1 && confirmed > s.last) {
            // Confirmed and never delivered: gone for good (not sent again).
            const uint64_t skip_to = std::min(confirmed, seq - 1);
            if (lost) *lost += skip_to - s.last;
            s.last = skip_to;
        }
        if (seq != s.last + 1) return Verdict::gap;
    }
    s.incarnation = incarnation;
    s.last = seq;
    by_age_.splice(by_age_.end(), by_age_, s.age);
    return Verdict::deliver;
}

void DeliverySequence::forget(const std::string& sender) {
    for (auto it = last_.lower_bound(Key{sender, 0}); it != last_.end() && std::get<0>(it->first) == sender;) {
        by_age_.erase(it->second.age);
        it = last_.erase(it);
    }
}

}  // namespace partisan::amqp
