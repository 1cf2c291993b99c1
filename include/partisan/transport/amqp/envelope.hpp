// What a partisan message carries on the broker besides its payload: the
// AMQP body is the payload's bytes as the BEAM sent them; the sender, its
// incarnation, the sequence number (delivery_sequence.hpp) and the
// destination ref are headers of the message's basic properties. Pure:
// written into and read from rabbitmq-c's structs, no connection.
#pragma once

#include "partisan/codec/wire.hpp"

#include <amqp.h>

#include <array>
#include <cstdint>
#include <string_view>

namespace partisan::amqp {

struct Envelope {
    std::string_view sender;
    uint64_t incarnation = 0;
    uint64_t seq = 0;
    Bytes ref;  // a pid or a registered name, ETF
    // Every message to this receiver on this channel up to this seq was
    // confirmed by the broker when this one was published: the sender
    // will not publish it again (below seq; 0: none yet).
    uint64_t confirmed = 0;
};

// The storage a message's properties point into while it is published.
struct EnvelopeProperties {
    std::array<amqp_table_entry_t, 5> headers{};
    amqp_basic_properties_t props{};
};

// Fills `out` from `e` (pointing into e's memory: keep both alive until
// the publish returns). `persistent`: the broker writes the message to disk
// (delivery mode 2), for durable channels.
void write_envelope(const Envelope& e, bool persistent, EnvelopeProperties& out);

// Reads a delivery's envelope and checks it and its payload as a peer's
// MESSAGE frame is checked (docs/PROTOCOL.md): a valid sender name, a ref
// that is one pid or atom and a payload that is one term, all of which
// this node's BEAM (`decoder`) will decode. False when anything is missing
// or malformed; `e` then says nothing.
bool read_envelope(const amqp_basic_properties_t& props, Bytes payload, std::string_view decoder, Envelope& e);

}  // namespace partisan::amqp
