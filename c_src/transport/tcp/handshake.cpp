#include "partisan/transport/tcp/handshake.hpp"

#include "partisan/core/names.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace partisan::handshake {

namespace {

constexpr size_t max_name = 255;
const char* const dialer_label = "partisan-v3-dialer";
const char* const acceptor_label = "partisan-v3-acceptor";
const char* const refuse_label = "partisan-v3-refuse";

void put_str(ByteBuffer& b, std::string_view s) {
    s = s.substr(0, max_name);
    b.put_u8(static_cast<uint8_t>(s.size()));
    b.append(s);
}

// Bounded cursor over one frame body.
struct Cursor {
    const uint8_t* p;
    size_t n;
    bool ok = true;
    uint8_t u8() {
        if (n < 1) { ok = false; return 0; }
        --n;
        return *p++;
    }
    uint16_t u16() {
        if (n < 2) { ok = false; return 0; }
        uint16_t v = load_u16(p);
        p += 2; n -= 2;
        return v;
    }
    std::string bytes(size_t len) {
        if (!ok || n < len) { ok = false; return {}; }
        std::string s(reinterpret_cast<const char*>(p), len);
        p += len; n -= len;
        return s;
    }
    std::string str() { return bytes(u8()); }
    template <size_t N>
    void fixed(std::array<uint8_t, N>& out) {
        if (n < N) { ok = false; return; }
        std::copy(p, p + N, out.begin());
        p += N; n -= N;
    }
    bool done() const { return ok && n == 0; }
};

Step fail(std::string why) {
    Step s;
    s.error = std::move(why);
    return s;
}

bool same(const Mac& a, const Mac& b) { return CRYPTO_memcmp(a.data(), b.data(), mac_size) == 0; }

// Refusals that go to a party that has not proven the secret carry no MAC.
bool proven_refusal(Refusal r) { return r != Refusal::bad_proof && r != Refusal::version; }

ByteBuffer refusal_frame(Refusal why, std::string_view text, const Mac* mac) {
    ByteBuffer b;
    size_t at = begin_frame(b, FrameType::refuse);
    b.put_u8(static_cast<uint8_t>(why));
    text = text.substr(0, max_refusal_text);
    b.put_u16(static_cast<uint16_t>(text.size()));
    b.append(text);
    if (mac) b.append(mac->data(), mac->size());
    end_frame(b, at);
    return b;
}

std::string refusal_extra(Refusal why, std::string_view text) {
    std::string extra(1, static_cast<char>(why));
    extra.append(text.substr(0, max_refusal_text));
    return extra;
}

}  // namespace

Nonce random_nonce() {
    Nonce n;
    if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1) throw std::runtime_error("RAND_bytes failed");
    return n;
}

Digest sha256(std::string_view data) {
    Digest d{};
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr);
    return d;
}

Mac transcript_mac(const std::string& secret, const char* label, const Transcript& t, std::string_view extra) {
    ByteBuffer b;
    b.append(std::string_view(label));
    b.put_u8(0);
    put_str(b, t.dialer);
    put_str(b, t.acceptor);
    put_str(b, t.link.channel);
    b.put_u16(t.link.index);
    b.append(t.channels.data(), t.channels.size());
    b.append(t.dialer_nonce.data(), t.dialer_nonce.size());
    b.append(t.acceptor_nonce.data(), t.acceptor_nonce.size());
    b.append(extra);
    Mac mac{};
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), b.data(), b.size(), mac.data(), &len);
    return mac;
}

// ---- dialer ----------------------------------------------------------------

Dialer::Dialer(std::string secret, std::string self, std::string expected_peer, LinkId link, Digest channels)
    : secret_(std::move(secret)), self_(std::move(self)), peer_(std::move(expected_peer)), link_(std::move(link)),
      channels_(channels) {}

ByteBuffer Dialer::hello() {
    nonce_ = random_nonce();
    ByteBuffer b;
    size_t at = begin_frame(b, FrameType::hello);
    b.put_u16(protocol_version);
    put_str(b, self_);
    put_str(b, peer_);
    put_str(b, link_.channel);
    b.put_u16(link_.index);
    b.append(channels_.data(), channels_.size());
    b.append(nonce_.data(), nonce_.size());
    end_frame(b, at);
    state_ = State::sent_hello;
    return b;
}

Step Dialer::on_frame(const uint8_t* body, uint32_t len) {
    Cursor c{body, len};
    uint8_t type = c.u8();
    Transcript t{self_, peer_, link_, channels_, nonce_, peer_nonce_};
    if (c.ok && type == FrameType::refuse && state_ != State::finished && state_ != State::start) {
        auto why = static_cast<Refusal>(c.u8());
        std::string text = c.bytes(c.u16());
        Step s;
        s.refused = why;
        if (proven_refusal(why)) {
            Mac mac{};
            c.fixed(mac);
            s.refusal_proven = c.done() && state_ == State::sent_response &&
                               same(mac, transcript_mac(secret_, refuse_label, t, refusal_extra(why, text)));
        } else if (!c.done()) {
            return fail("malformed refuse frame");
        }
        if (why == Refusal::none || why > Refusal::unavailable) s.refused = Refusal::not_admitted;
        s.refusal_text = text;
        s.error = std::string("refused (") + refusal_name(s.refused) + (s.refusal_proven ? "" : ", unproven") +
                  ")" + (text.empty() ? "" : ": " + text);
        state_ = State::finished;
        return s;
    }
    if (state_ == State::sent_hello) {
        if (!c.ok || type != FrameType::challenge) return fail("expected a challenge frame");
        uint16_t version = c.u16();
        std::string name = c.str();
        c.fixed(peer_nonce_);
        if (!c.done()) return fail("malformed challenge frame");
        if (version != protocol_version) return fail("protocol version " + std::to_string(version) + " not supported");
        // Prove the secret only to the node we meant to reach.
        if (name != peer_) return fail("peer is " + name + ", expected " + peer_);
        t.acceptor_nonce = peer_nonce_;
        Mac mine = transcript_mac(secret_, dialer_label, t);
        Step s;
        size_t at = begin_frame(s.reply, FrameType::response);
        s.reply.append(mine.data(), mine.size());
        end_frame(s.reply, at);
        state_ = State::sent_response;
        return s;
    }
    if (state_ == State::sent_response) {
        Mac mac{};
        c.fixed(mac);
        if (!c.done() || type != FrameType::accept) return fail("expected an accept frame");
        if (!same(mac, transcript_mac(secret_, acceptor_label, t))) return fail("peer does not know the cluster secret");
        state_ = State::finished;
        Step s;
        s.done = true;
        return s;
    }
    return fail("unexpected handshake frame");
}

// ---- acceptor ----------------------------------------------------------------

Acceptor::Acceptor(std::string secret, std::string self) : secret_(std::move(secret)), self_(std::move(self)) {}

Step Acceptor::on_frame(const uint8_t* body, uint32_t len) {
    Cursor c{body, len};
    uint8_t type = c.u8();
    if (state_ == State::start) {
        if (!c.ok || type != FrameType::hello) return fail("expected a hello frame");
        uint16_t version = c.u16();
        if (c.ok && version != protocol_version) {
            Step s = fail("protocol version " + std::to_string(version) + " not supported");
            s.reply = refusal_frame(Refusal::version, "protocol version 2 required", nullptr);
            state_ = State::finished;
            return s;
        }
        peer_ = c.str();
        std::string target = c.str();
        link_.channel = c.str();
        link_.index = c.u16();
        c.fixed(peer_channels_);
        c.fixed(peer_nonce_);
        if (!c.done()) return fail("malformed hello frame");
        if (!valid_node_name(peer_)) return fail("bad node name in hello");
        // A stale address (another node listens there now) or a node with
        // our own name: nothing to prove to each other.
        if (target != self_) return fail("hello is for " + target + ", this node is " + self_);
        if (peer_ == self_) return fail("hello from a node with this node's own name");
        nonce_ = random_nonce();
        // The challenge holds nothing derived from the secret: the dialer
        // must prove it first.
        Step s;
        size_t at = begin_frame(s.reply, FrameType::challenge);
        s.reply.put_u16(protocol_version);
        put_str(s.reply, self_);
        s.reply.append(nonce_.data(), nonce_.size());
        end_frame(s.reply, at);
        state_ = State::sent_challenge;
        return s;
    }
    if (state_ == State::sent_challenge) {
        Mac mac{};
        c.fixed(mac);
        if (!c.done() || type != FrameType::response) return fail("malformed response frame");
        Transcript t{peer_, self_, link_, peer_channels_, peer_nonce_, nonce_};
        if (!same(mac, transcript_mac(secret_, dialer_label, t))) {
            Step s = fail("wrong proof of the cluster secret");
            s.reply = refusal_frame(Refusal::bad_proof, "wrong proof of the cluster secret", nullptr);
            state_ = State::finished;
            return s;
        }
        state_ = State::authenticated;
        Step s;
        s.authenticated = true;
        return s;
    }
    return fail("unexpected handshake frame");
}

ByteBuffer Acceptor::accept() {
    Transcript t{peer_, self_, link_, peer_channels_, peer_nonce_, nonce_};
    Mac mine = transcript_mac(secret_, acceptor_label, t);
    ByteBuffer b;
    size_t at = begin_frame(b, FrameType::accept);
    b.append(mine.data(), mine.size());
    end_frame(b, at);
    state_ = State::finished;
    return b;
}

ByteBuffer Acceptor::refuse(Refusal why, std::string_view text) {
    // Only an authenticated dialer gets a reason, and the reason is proven.
    if (state_ != State::authenticated) return {};
    Transcript t{peer_, self_, link_, peer_channels_, peer_nonce_, nonce_};
    Mac mac = transcript_mac(secret_, refuse_label, t, refusal_extra(why, text));
    state_ = State::finished;
    return refusal_frame(why, text, &mac);
}

}  // namespace partisan::handshake

namespace partisan {

const char* refusal_name(Refusal r) {
    switch (r) {
        case Refusal::none: return "none";
        case Refusal::bad_proof: return "bad_proof";
        case Refusal::version: return "version";
        case Refusal::channel_mismatch: return "channel_mismatch";
        case Refusal::not_admitted: return "not_admitted";
        case Refusal::unavailable: return "unavailable";
    }
    return "unknown";
}

}  // namespace partisan
