// Why a peer refused this node's connection, as any transport reports it
// (TcpTransport: the acceptor's REFUSE frame, docs/PROTOCOL.md, whose codes
// these are).
#pragma once

#include <cstdint>

namespace partisan {

// `bad_proof` and `version` are sent to parties that have not proven the
// secret, so they carry no MAC; the others are sent only to a dialer that
// proved it, and are proven in turn.
enum class Refusal : uint8_t {
    none = 0,
    bad_proof = 1,         // the dialer's MAC was wrong: a different secret
    version = 2,           // protocol version not supported
    channel_mismatch = 3,  // the channel configurations differ (text: the acceptor's channels)
    not_admitted = 4,      // the topology does not admit the dialer (static peers), or a partition
    unavailable = 5,       // the acceptor's node cannot take peers now (its BEAM does not answer)
};
const char* refusal_name(Refusal r);

}  // namespace partisan
