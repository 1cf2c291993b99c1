#include "partisan/membership.hpp"

#include <algorithm>
#include <tuple>

namespace partisan {

namespace {
constexpr uint8_t encoding_version = 1;
constexpr uint32_t max_entries = 1u << 20;
constexpr size_t max_addrs = 16;
}  // namespace

bool supersedes(const MemberEntry& a, const MemberEntry& b) {
    // Total order on entries of one node, so every replica picks the same one.
    return std::tie(a.incarnation, a.left, a.addrs, a.role) > std::tie(b.incarnation, b.left, b.addrs, b.role);
}

Membership::Membership(std::string self, std::vector<Address> self_addrs, uint64_t incarnation, Role role)
    : self_(std::move(self)) {
    entries_[self_] = MemberEntry{self_, incarnation, false, std::move(self_addrs), role};
}

const MemberEntry* Membership::find(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
}

bool Membership::add(const std::string& name, const std::vector<Address>& addrs, Role role) {
    if (name == self_) return false;
    auto it = entries_.find(name);
    if (it == entries_.end() || it->second.left) {
        // A join names the node again: contact it. If it is still gone, its
        // tombstone (a higher entry) comes back with the next gossip.
        entries_[name] = MemberEntry{name, 0, false, addrs, role};
        return true;
    }
    if (!it->second.left && it->second.addrs != addrs && it->second.incarnation == 0) {
        it->second.addrs = addrs;
        return true;
    }
    return false;
}

bool Membership::remove(const std::string& name) {
    auto it = entries_.find(name);
    if (it == entries_.end()) return false;
    if (it->second.left) return true;
    it->second.left = true;
    return true;
}

void Membership::leave_self() {
    MemberEntry me = entries_.at(self_);
    me.left = true;
    entries_.clear();
    entries_[self_] = std::move(me);
}

void Membership::rejoin_self(uint64_t incarnation_hint) {
    MemberEntry& me = entries_.at(self_);
    me.incarnation = std::max(incarnation_hint, me.incarnation + 1);
    me.left = false;
}

Membership::MergeResult Membership::merge(const std::vector<MemberEntry>& remote) {
    MergeResult r;
    if (has_left()) return r;  // a node outside any cluster takes no gossip
    for (const auto& e : remote) {
        if (e.name == self_) {
            MemberEntry& me = entries_.at(self_);
            if (e.incarnation == me.incarnation && e.left) {
                r.removed_self = true;
            } else if (e.incarnation > me.incarnation) {
                // Gossip about an earlier life of this node: outrank it.
                me.incarnation = e.incarnation + 1;
                r.changed = true;
            }
            continue;
        }
        auto it = entries_.find(e.name);
        if (it == entries_.end()) {
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

std::vector<std::string> Membership::alive_others() const {
    std::vector<std::string> out;
    for (const auto& [name, e] : entries_)
        if (name != self_ && !e.left) out.push_back(name);
    return out;
}

void Membership::encode(ByteBuffer& out) const {
    out.put_u8(encoding_version);
    out.put_u32(static_cast<uint32_t>(entries_.size()));
    for (const auto& [name, e] : entries_) {
        out.put_u8(static_cast<uint8_t>(name.size()));
        out.append(name);
        out.put_u64(e.incarnation);
        out.put_u8(e.left ? 1 : 0);
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
    if (count > max_entries || count > n) return false;
    out.clear();
    out.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
        MemberEntry e;
        if (!str(e.name) || e.name.empty() || !need(11)) return false;
        e.incarnation = (uint64_t{load_u32(p + pos)} << 32) | load_u32(p + pos + 4);
        pos += 8;
        uint8_t flags = p[pos++];
        if (flags > 1) return false;
        e.left = flags == 1;
        uint8_t role = p[pos++];
        if (role > 1) return false;
        e.role = static_cast<Role>(role);
        size_t naddrs = p[pos++];
        if (naddrs > max_addrs) return false;
        for (size_t k = 0; k < naddrs; ++k) {
            Address a;
            if (!str(a.ip) || !need(2)) return false;
            a.port = load_u16(p + pos);
            pos += 2;
            e.addrs.push_back(std::move(a));
        }
        out.push_back(std::move(e));
    }
    return pos == n;
}

}  // namespace partisan
