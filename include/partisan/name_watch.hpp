// Which registered names on this node's BEAM have a process, learnt from
// the BEAM itself, so that a message to a name nobody registered is counted
// (and logged) as undeliverable instead of vanishing as "received".
//
// The distribution protocol drops a REG_SEND to an unregistered name
// silently. So the first message to a name is followed by a monitor of the
// name (MONITOR_P): the BEAM answers at once with a MONITOR_P_EXIT `noproc`
// when nobody has the name, and sets up a monitor otherwise. A sync request
// sent right after the monitor (answered by net_kernel, after the BEAM has
// processed the monitor) tells that no `noproc` is coming: the name is
// registered, and the monitor reports when its process exits. Pure logic;
// BeamLink does the sending and parsing.
//
// Exact except around a (un)registration: messages in flight while a name
// is registered or its process exits are counted by the state before.
// A name unregistered by a process that stays alive is not noticed.
#pragma once

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
    explicit NameWatch(size_t max_names = 4096) : max_names_(max_names) {}

    // A message to `name` from the peer/channel counted in `from` was handed
    // to the BEAM. Returns the id of a probe to send (a MONITOR_P of the
    // name, then a sync, both carrying this id) when the name's state must
    // be learnt; nothing when it is known or already being learnt.
    std::optional<uint64_t> delivered(std::string_view name, LinkStats* from);

    // The BEAM's answers about probe `id`; each says which name and how
    // many messages it settled.
    struct Settled {
        std::string name;
        uint64_t messages = 0;
    };
    // MONITOR_P_EXIT `noproc`: nobody has the name; its messages so far are
    // undeliverable (moved from received to undeliverable in their stats).
    Settled unregistered(uint64_t id);
    // The sync came back with no `noproc` before it: the name is registered.
    Settled registered(uint64_t id);
    // MONITOR_P_EXIT for another reason: the process exited; the next
    // message to the name probes again.
    void exited(uint64_t id);

    size_t tracked() const { return names_.size(); }

private:
    enum class State { probing, registered, absent };
    struct Name {
        State state = State::probing;
        uint64_t probe = 0;  // the id of the last probe sent
        // While probing: messages awaiting the answer, per source.
        std::vector<std::pair<LinkStats*, uint64_t>> pending;
    };
    uint64_t settle(Name& n, bool undeliverable);
    void forget(const std::string& name);

    size_t max_names_;
    uint64_t next_id_ = 1;
    std::unordered_map<std::string, Name> names_;
    std::unordered_map<uint64_t, std::string> by_probe_;  // each name's current probe
};

}  // namespace partisan
