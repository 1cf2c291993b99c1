#include "partisan/handshake.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace partisan::handshake {

namespace {

constexpr size_t max_name = 255;
const char* const dialer_label = "partisan-v1-dialer";
const char* const acceptor_label = "partisan-v1-acceptor";

// Starts a frame: length placeholder and type; finish() patches the length.
size_t begin(ByteBuffer& b, FrameType type) {
    size_t at = b.size();
    b.put_u32(0);
    b.put_u8(type);
    return at;
}
void finish(ByteBuffer& b, size_t at) {
    ByteBuffer::store_u32(b.data() + at, static_cast<uint32_t>(b.size() - at - 4));
}
void put_str(ByteBuffer& b, const std::string& s) {
    b.put_u8(static_cast<uint8_t>(std::min(s.size(), max_name)));
    b.append(s.data(), std::min(s.size(), max_name));
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
    std::string str() {
        size_t len = u8();
        if (!ok || n < len) { ok = false; return {}; }
        std::string s(reinterpret_cast<const char*>(p), len);
        p += len; n -= len;
        return s;
    }
    template <size_t N>
    void bytes(std::array<uint8_t, N>& out) {
        if (n < N) { ok = false; return; }
        std::copy(p, p + N, out.begin());
        p += N; n -= N;
    }
};

Step fail(std::string why) {
    Step s;
    s.error = std::move(why);
    return s;
}

}  // namespace

Nonce random_nonce() {
    Nonce n;
    if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1) throw std::runtime_error("RAND_bytes failed");
    return n;
}

Mac transcript_mac(const std::string& secret, const char* label, const std::string& dialer,
                   const std::string& acceptor, const LinkId& link, const Nonce& dialer_nonce,
                   const Nonce& acceptor_nonce) {
    ByteBuffer t;
    t.append(std::string_view(label));
    t.put_u8(0);
    put_str(t, dialer);
    put_str(t, acceptor);
    put_str(t, link.channel);
    t.put_u16(link.index);
    t.append(dialer_nonce.data(), dialer_nonce.size());
    t.append(acceptor_nonce.data(), acceptor_nonce.size());
    Mac mac{};
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), t.data(), t.size(), mac.data(), &len);
    return mac;
}

Dialer::Dialer(std::string secret, std::string self, std::string expected_peer, LinkId link)
    : secret_(std::move(secret)), self_(std::move(self)), peer_(std::move(expected_peer)), link_(std::move(link)) {}

ByteBuffer Dialer::hello() {
    nonce_ = random_nonce();
    ByteBuffer b;
    size_t at = begin(b, FrameType::hello);
    b.put_u16(protocol_version);
    put_str(b, self_);
    put_str(b, peer_);
    put_str(b, link_.channel);
    b.put_u16(link_.index);
    b.append(nonce_.data(), nonce_.size());
    finish(b, at);
    state_ = 1;
    return b;
}

Step Dialer::on_frame(const uint8_t* body, uint32_t len) {
    Cursor c{body, len};
    uint8_t type = c.u8();
    if (state_ == 1) {
        if (!c.ok || type != FrameType::challenge) return fail("expected a challenge frame");
        uint16_t version = c.u16();
        std::string name = c.str();
        Mac mac{};
        c.bytes(peer_nonce_);
        c.bytes(mac);
        if (!c.ok || c.n != 0) return fail("malformed challenge frame");
        if (version != protocol_version) return fail("protocol version " + std::to_string(version) + " not supported");
        if (name != peer_) return fail("peer is " + name + ", expected " + peer_);
        Mac want = transcript_mac(secret_, acceptor_label, self_, peer_, link_, nonce_, peer_nonce_);
        if (CRYPTO_memcmp(want.data(), mac.data(), mac_size) != 0) return fail("peer does not know the cluster secret");
        Step s;
        Mac mine = transcript_mac(secret_, dialer_label, self_, peer_, link_, nonce_, peer_nonce_);
        size_t at = begin(s.reply, FrameType::response);
        s.reply.append(mine.data(), mine.size());
        finish(s.reply, at);
        state_ = 2;
        return s;
    }
    if (state_ == 2) {
        if (!c.ok || type != FrameType::accept || c.n != 0) return fail("expected an accept frame");
        state_ = 3;
        Step s;
        s.done = true;
        return s;
    }
    return fail("unexpected handshake frame");
}

Acceptor::Acceptor(std::string secret, std::string self, std::function<bool(const LinkId&)> known_link)
    : secret_(std::move(secret)), self_(std::move(self)), known_link_(std::move(known_link)) {}

Step Acceptor::on_frame(const uint8_t* body, uint32_t len) {
    Cursor c{body, len};
    uint8_t type = c.u8();
    if (state_ == 0) {
        if (!c.ok || type != FrameType::hello) return fail("expected a hello frame");
        uint16_t version = c.u16();
        peer_ = c.str();
        std::string target = c.str();
        link_.channel = c.str();
        link_.index = c.u16();
        c.bytes(peer_nonce_);
        if (!c.ok || c.n != 0) return fail("malformed hello frame");
        if (version != protocol_version) return fail("protocol version " + std::to_string(version) + " not supported");
        if (peer_.empty() || peer_.find('@') == std::string::npos) return fail("bad peer name");
        if (target != self_) return fail("hello is for " + target + ", this node is " + self_);
        if (peer_ == self_) return fail("hello from a node with this node's own name");
        if (!known_link_(link_)) return fail("unknown channel " + link_.channel + "/" + std::to_string(link_.index));
        nonce_ = random_nonce();
        Mac mac = transcript_mac(secret_, acceptor_label, peer_, self_, link_, peer_nonce_, nonce_);
        Step s;
        size_t at = begin(s.reply, FrameType::challenge);
        s.reply.put_u16(protocol_version);
        put_str(s.reply, self_);
        s.reply.append(nonce_.data(), nonce_.size());
        s.reply.append(mac.data(), mac.size());
        finish(s.reply, at);
        state_ = 1;
        return s;
    }
    if (state_ == 1) {
        Mac mac{};
        c.bytes(mac);
        if (!c.ok || type != FrameType::response || c.n != 0) return fail("malformed response frame");
        Mac want = transcript_mac(secret_, dialer_label, peer_, self_, link_, peer_nonce_, nonce_);
        if (CRYPTO_memcmp(want.data(), mac.data(), mac_size) != 0)
            return fail(peer_ + " does not know the cluster secret");
        Step s;
        size_t at = begin(s.reply, FrameType::accept);
        finish(s.reply, at);
        s.done = true;
        state_ = 2;
        return s;
    }
    return fail("unexpected handshake frame");
}

}  // namespace partisan::handshake
