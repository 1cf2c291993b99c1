// The peer handshake (docs/PROTOCOL.md), version 3: the dialer proves it
// knows the cluster secret first, by HMAC-SHA256 over both sides' fresh
// nonces; only then does the acceptor prove it in turn (or refuse, with a
// proven reason). So nothing derived from the secret ever reaches a party
// that merely connected to a listening port. The secret never crosses the
// wire. Pure logic, no sockets: unit-tested and fuzzed in memory.
#pragma once

#include "partisan/codec/wire.hpp"
#include "partisan/transport/refusal.hpp"

#include <array>
#include <cstdint>
#include <string>

namespace partisan::handshake {

constexpr uint16_t protocol_version = 3;
constexpr uint32_t max_frame = 1024;  // before authentication nothing bigger is read
constexpr size_t nonce_size = 16;
constexpr size_t mac_size = 32;
constexpr size_t digest_size = 32;
constexpr size_t max_refusal_text = 800;

enum FrameType : uint8_t { hello = 0x10, challenge = 0x11, response = 0x12, accept = 0x13, refuse = 0x14 };

using Nonce = std::array<uint8_t, nonce_size>;
using Mac = std::array<uint8_t, mac_size>;
// SHA-256 of a node's channel configuration (config.hpp channels_digest):
// nodes whose channels differ do not link.
using Digest = std::array<uint8_t, digest_size>;

Nonce random_nonce();
Digest sha256(std::string_view data);

// What a connection carries, agreed in the hello.
struct LinkId {
    std::string channel;
    uint16_t index = 0;
};

// Why an acceptor refused a dialer: the transport seam's codes.
using partisan::Refusal;
using partisan::refusal_name;

// Outcome of one handshake step.
struct Step {
    std::string error;  // empty when fine
    ByteBuffer reply;   // a frame to send (already length-prefixed), if any
    bool done = false;  // the dialer: the acceptor proved itself and accepted
    // The acceptor: the dialer proved the secret; the owner now decides
    // with Acceptor::accept() or Acceptor::refuse().
    bool authenticated = false;
    // The dialer: the acceptor refused, why, and whether the refusal was
    // proven (sent by a holder of the secret) or is only the peer's word.
    Refusal refused = Refusal::none;
    bool refusal_proven = false;
    std::string refusal_text;
};

class Dialer {
public:
    Dialer(std::string secret, std::string self, std::string expected_peer, LinkId link, Digest channels);
    ByteBuffer hello();
    Step on_frame(const uint8_t* body, uint32_t len);  // challenge, then accept or refuse

private:
    std::string secret_, self_, peer_;
    LinkId link_;
    Digest channels_;
    Nonce nonce_{};
    Nonce peer_nonce_{};
    enum class State { start, sent_hello, sent_response, finished } state_ = State::start;
};

class Acceptor {
public:
    Acceptor(std::string secret, std::string self);
    Step on_frame(const uint8_t* body, uint32_t len);  // hello, then response

    // After `authenticated`: the frame that admits the dialer (proving this
    // side knows the secret), or the one that refuses it with a reason.
    ByteBuffer accept();
    ByteBuffer refuse(Refusal why, std::string_view text);

    // What the hello claimed; proven only once `authenticated`.
    const std::string& peer() const { return peer_; }
    const LinkId& link() const { return link_; }
    const Digest& peer_channels() const { return peer_channels_; }
    bool authenticated() const { return state_ == State::authenticated; }

private:
    std::string secret_, self_, peer_;
    LinkId link_;
    Digest peer_channels_{};
    Nonce nonce_{};
    Nonce peer_nonce_{};
    enum class State { start, sent_challenge, authenticated, finished } state_ = State::start;
};

// Exposed for tests: a MAC over a handshake transcript (the role label
// keeps one role's MAC from being replayed as the other's).
struct Transcript {
    std::string dialer, acceptor;
    LinkId link;
    Digest channels{};
    Nonce dialer_nonce{}, acceptor_nonce{};
};
Mac transcript_mac(const std::string& secret, const char* label, const Transcript& t, std::string_view extra = {});

}  // namespace partisan::handshake
