// A discrete-event queue: events come out in time order, and events of the
// same time in the order they were pushed, so a run depends on its seed
// alone. The heap holds only (time, sequence, slot); the events themselves
// stay put in their slots, so heap moves are cheap whatever an event holds.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <queue>
#include <utility>
#include <vector>

namespace partisan::sim {

using Millis = std::chrono::milliseconds;

template <typename Event>
class EventQueue {
public:
    void push(Millis at, Event e) {
        uint32_t slot;
        if (free_.empty()) {
            slot = static_cast<uint32_t>(slots_.size());
            slots_.emplace_back(std::move(e));
        } else {
            slot = free_.back();
            free_.pop_back();
            slots_[slot].emplace(std::move(e));
        }
        heap_.push(Entry{at, next_seq_++, slot});
    }

    bool empty() const { return heap_.empty(); }
    size_t size() const { return heap_.size(); }
    // The time of the next event; the queue must not be empty.
    Millis next_time() const { return heap_.top().at; }

    // The next event and its time; the queue must not be empty.
    std::pair<Millis, Event> pop() {
        Entry top = heap_.top();
        heap_.pop();
        std::pair<Millis, Event> out{top.at, std::move(*slots_[top.slot])};
        slots_[top.slot].reset();
        free_.push_back(top.slot);
        return out;
    }

private:
    struct Entry {
        Millis at;
        uint64_t seq;
        uint32_t slot;
        // std::priority_queue puts the greatest first: the latest is "less".
        bool operator<(const Entry& o) const { return at != o.at ? at > o.at : seq > o.seq; }
    };

    std::priority_queue<Entry> heap_;
    std::vector<std::optional<Event>> slots_;
    std::vector<uint32_t> free_;
    uint64_t next_seq_ = 0;
};

}  // namespace partisan::sim
