// The peer handshake (docs/PROTOCOL.md): both sides prove they know the
// cluster secret by HMAC-SHA256 over fresh nonces; the secret never crosses
// the wire. Pure logic, no sockets, so it is unit-tested in memory.
#pragma once

#include "partisan/wire.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <string>

namespace partisan::handshake {

constexpr uint16_t protocol_version = 1;
constexpr uint32_t max_frame = 1024;  // before authentication nothing bigger is read
constexpr size_t nonce_size = 16;
constexpr size_t mac_size = 32;

enum FrameType : uint8_t { hello = 0x10, challenge = 0x11, response = 0x12, accept = 0x13 };

using Nonce = std::array<uint8_t, nonce_size>;
using Mac = std::array<uint8_t, mac_size>;

Nonce random_nonce();

// What a connection carries, agreed in the hello.
struct LinkId {
    std::string channel;
    uint16_t index = 0;
};

// Outcome of one handshake step: an error (empty when fine) and, possibly,
// a frame to send (already length-prefixed).
struct Step {
    std::string error;
    ByteBuffer reply;
    bool done = false;  // the handshake completed on this side
};

class Dialer {
public:
    Dialer(std::string secret, std::string self, std::string expected_peer, LinkId link);
    ByteBuffer hello();
    Step on_frame(const uint8_t* body, uint32_t len);  // challenge, then accept

private:
    std::string secret_, self_, peer_;
    LinkId link_;
    Nonce nonce_{};
    Nonce peer_nonce_{};
    int state_ = 0;
};

class Acceptor {
public:
    // `known_link` says whether this side has the channel/index asked for.
    Acceptor(std::string secret, std::string self, std::function<bool(const LinkId&)> known_link);
    Step on_frame(const uint8_t* body, uint32_t len);  // hello, then response

    const std::string& peer() const { return peer_; }
    const LinkId& link() const { return link_; }

private:
    std::string secret_, self_, peer_;
    std::function<bool(const LinkId&)> known_link_;
    LinkId link_;
    Nonce nonce_{};
    Nonce peer_nonce_{};
    int state_ = 0;
};

// Exposed for tests: the two MACs of a handshake transcript.
Mac transcript_mac(const std::string& secret, const char* label, const std::string& dialer,
                   const std::string& acceptor, const LinkId& link, const Nonce& dialer_nonce,
                   const Nonce& acceptor_nonce);

}  // namespace partisan::handshake
