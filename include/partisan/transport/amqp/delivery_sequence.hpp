// Which deliveries from the broker the application should see: each
// message carries its sender, the sender's incarnation (a new one per
// C-node start) and a sequence number per (sender, receiver, channel) from 1
// (publish_window.hpp). A copy of one already handed on (a redelivery after
// a reconnect, or a republish after a lost confirm) is dropped, and so is
// anything past a gap while the missing messages are still unconfirmed at
// the sender: it publishes them and everything after them again, in order
// (go-back-N). Missing messages the broker had confirmed (the envelope
// says up to where) will never come again: a queue that did not survive a
// broker restart, an expired one. They are counted as lost and the
// sequence goes on past them, so such a loss never stalls a channel.
// Pure, bounded: the oldest sender is forgotten past `max_senders`.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <tuple>

namespace partisan::amqp {

class DeliverySequence {
public:
    explicit DeliverySequence(size_t max_senders) : max_senders_(max_senders) {}

    enum class Verdict { deliver, duplicate, gap };
    // Where this delivery stands; `deliver` also records it. The first
    // message seen from a sender's incarnation starts its sequence
    // (this node may have started after the sender's first messages).
    // `confirmed`: the envelope's (envelope.hpp); `lost`, when given, is
    // increased by the messages found lost.
    Verdict accept(const std::string& sender, uint64_t incarnation, uint16_t channel, uint64_t seq,
                   uint64_t confirmed = 0, uint64_t* lost = nullptr);
    // A sender that is no member any more.
    void forget(const std::string& sender);
    size_t size() const { return last_.size(); }

private:
    using Key = std::tuple<std::string, uint16_t>;
    struct State {
        uint64_t incarnation = 0, last = 0;
        std::list<Key>::iterator age;
    };
    size_t max_senders_;
    std::map<Key, State> last_;
    std::list<Key> by_age_;  // least recently delivered first
};

}  // namespace partisan::amqp
