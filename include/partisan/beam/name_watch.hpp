// Which registered names on this node's BEAM have a process, learnt from
// the BEAM itself, so that a message to a name nobody registered is counted
// (and logged) as undeliverable instead of vanishing as "received".
//
// The distribution protocol drops a REG_SEND to an unregistered name
// silently, and the BEAM will not answer a C-node's monitor of a name (ei
// does not offer the DIST_MONITOR_NAME capability). So the first message to
// a name, and the first one after the answer is a second old, is followed
// by a question to the BEAM's rpc server: `erlang:whereis(Name)`. Messages
// sent while the question is out wait for its answer; then they, and the
// ones that follow within the second, are counted by it. Pure logic: the
// BeamLink asks and parses.
//
// Exact except around a (un)registration: messages in flight while a name
// is registered or its process exits are counted by the state before.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace partisan {

struct LinkStats;

class NameWatch {
public:
    using Clock = std::chrono::steady_clock;

    explicit NameWatch(size_t max_names = 4096, std::chrono::milliseconds recheck = std::chrono::seconds(1))
        : max_names_(max_names), recheck_(recheck) {}

    // A message to `name`, counted as received in `from`, was handed to the
    // BEAM. Returns the id of a question to ask about the name, when its
    // state must be (re)learnt. A message to a name known to have no
    // process is moved to undeliverable at once.
    std::optional<uint64_t> delivered(std::string_view name, LinkStats* from, Clock::time_point now);

    // The answer to question `id`: whether a process has the name. The
    // messages waiting for it are settled (the undeliverable ones moved
    // from received to undeliverable in their stats).
    struct Settled {
        std::string name;
        uint64_t undeliverable = 0;
    };
    Settled answered(uint64_t id, bool registered, Clock::time_point now);

    size_t tracked() const { return names_.size(); }

private:
    struct Name {
        bool asking = false;
        bool registered = true;
        Clock::time_point checked{};
        uint64_t question = 0;
        // While asking: messages awaiting the answer, per source.
        std::vector<std::pair<LinkStats*, uint64_t>> waiting;
    };
    static void undeliverable(LinkStats* stats, uint64_t count);
    bool make_room();

    size_t max_names_;
    std::chrono::milliseconds recheck_;
    uint64_t next_id_ = 1;
    std::unordered_map<std::string, Name> names_;
    std::unordered_map<uint64_t, std::string> asking_;  // question id -> name
};

}  // namespace partisan
