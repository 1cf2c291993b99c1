#include "partisan/overlay/membership.hpp"

#include "partisan/core/names.hpp"

#include <algorithm>
#include <tuple>

namespace partisan {

namespace {

constexpr uint8_t encoding_version = 2;
constexpr size_t max_addrs = 16;

int rank(Status s) {
    switch (s) {
        case Status::alive: return 0;
        case Status::down: return 1;
        case Status::left: return 2;
    }
    return 0;
}

}  // namespace

bool supersedes(const MemberEntry& a, const MemberEntry& b) {
    // Total order on entries of one node, so every replica picks the same one.
    return std::make_tuple(a.incarnation, rank(a.status), std::cref(a.addrs), a.role) >
           std::make_tuple(b.incarnation, rank(b.status), std::cref(b.addrs), b.role);
}

Membership::Membership(std::string self, std::vector<Address> self_addrs, uint64_t incarnation, NodeRole role,
                       size_t max_entries)
    : self_(std::move(self)), max_entries_(std::max<size_t>(max_entries, 1)) {
    entries_[self_] = MemberEntry{self_, incarnation, Status::alive, std::move(self_addrs), role};
}

const MemberEntry* Membership::find(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
}

bool Membership::add(const std::string& name, const std::vector<Address>& addrs, NodeRole role) {
    if (name == self_) return false;
    auto it = entries_.find(name);
    if (it == entries_.end() || !it->second.alive()) {
        // A join names the node again: contact it. If it is still gone, its
        // tombstone (a higher entry) comes back with the next gossip.
        entries_[name] = MemberEntry{name, 0, Status::alive, addrs, role};
        return true;
    }
    if (it->second.addrs != addrs && it->second.incarnation == 0) {
        it->second.addrs = addrs;
        return true;
    }
    return false;
}

bool Membership::remove(const std::string& name) {
    auto it = entries_.find(name);
    if (it == entries_.end()) return false;
    it->second.status = Status::left;
    return true;
}

bool Membership::mark_down(const std::string& name) {
    auto it = entries_.find(name);
    if (name == self_ || it == entries_.end() || !it->second.alive()) return false;
    it->second.status = Status::down;
    return true;
}

void Membership::leave_self() {
    MemberEntry me = entries_.at(self_);
    me.status = Status::left;
    entries_.clear();
    entries_[self_] = std::move(me);
}

void Membership::rejoin_self(uint64_t incarnation_hint) {
    MemberEntry& me = entries_.at(self_);
    me.incarnation = std::max(incarnation_hint, me.incarnation + 1);
    me.status = Status::alive;
}

Membership::MergeResult Membership::merge(const std::vector<MemberEntry>& remote) {
    MergeResult r;
    if (has_left()) return r;  // a node outside any cluster takes no gossip
    for (const auto& e : remote) {
        if (e.name == self_) {
            MemberEntry& me = entries_.at(self_);
            if (e.incarnation == me.incarnation && e.left()) {
                r.removed_self = true;
            } else if (e.incarnation > me.incarnation ||
                       (e.incarnation == me.incarnation && e.status == Status::down)) {
                // Gossip about an earlier life of this node, or word that it
                // is down while it is here to say otherwise: outrank it.
                r.refuted = e.incarnation == me.incarnation;
                me.incarnation = e.incarnation + 1;
                r.changed = true;
            }
            continue;
        }
        auto it = entries_.find(e.name);
        if (it == entries_.end()) {
            if (entries_.size() >= max_entries_) {
                ++r.refused;
                continue;
            }
            entries_.emplace(e.name, e);
            r.changed = true;
        } else if (supersedes(e, it->second)) {
            it->second = e;
            r.changed = true;
        }
    }
    if (r.removed_self) {
        leave_self();
        r.changed = true;
    }
    return r;
}

std::vector<std::string> Membership::others() const {
    std::vector<std::string> out;
    for (const auto& [name, e] : entries_)
        if (name != self_ && !e.left()) out.push_back(name);
    return out;
}

void Membership::encode(ByteBuffer& out) const {
    out.put_u8(encoding_version);
    out.put_u32(static_cast<uint32_t>(entries_.size()));
    for (const auto& [name, e] : entries_) {
        out.put_u8(static_cast<uint8_t>(name.size()));
        out.append(name);
        out.put_u64(e.incarnation);
        out.put_u8(static_cast<uint8_t>(e.status));
        out.put_u8(static_cast<uint8_t>(e.role));
        size_t n = std::min(e.addrs.size(), max_addrs);
        out.put_u8(static_cast<uint8_t>(n));
        for (size_t i = 0; i < n; ++i) {
            out.put_u8(static_cast<uint8_t>(e.addrs[i].ip.size()));
            out.append(e.addrs[i].ip);
            out.put_u16(e.addrs[i].port);
        }
    }
}

bool Membership::decode(const uint8_t* p, size_t n, std::vector<MemberEntry>& out) {
    size_t pos = 0;
    auto need = [&](size_t k) { return n - pos >= k; };
    auto str = [&](std::string& s) {
        if (!need(1)) return false;
        size_t len = p[pos++];
        if (!need(len)) return false;
        s.assign(reinterpret_cast<const char*>(p + pos), len);
        pos += len;
        return true;
    };
    if (!need(5) || p[0] != encoding_version) return false;
    uint32_t count = load_u32(p + 1);
    pos = 5;
    // Each entry takes at least 15 bytes: that bounds the work and memory.
    if (count > (n - pos) / 15) return false;
    out.clear();
    out.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
        MemberEntry e;
        if (!str(e.name) || !valid_node_name(e.name) || !need(11)) return false;
        e.incarnation = (uint64_t{load_u32(p + pos)} << 32) | load_u32(p + pos + 4);
        pos += 8;
        uint8_t status = p[pos++];
        if (status > 2) return false;
        e.status = static_cast<Status>(status);
        uint8_t role = p[pos++];
        if (role > 1) return false;
        e.role = static_cast<NodeRole>(role);
        size_t naddrs = p[pos++];
        if (naddrs > max_addrs) return false;
        for (size_t k = 0; k < naddrs; ++k) {
            Address a;
            if (!str(a.ip) || !valid_ip_address(a.ip) || !need(2)) return false;
            a.port = load_u16(p + pos);
            pos += 2;
            if (a.port == 0) return false;
            e.addrs.push_back(std::move(a));
        }
        out.push_back(std::move(e));
    }
    return pos == n;
}

}  // namespace partisan
