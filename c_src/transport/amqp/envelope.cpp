#include "partisan/transport/amqp/envelope.hpp"

#include "partisan/codec/etf.hpp"
#include "partisan/core/names.hpp"
#include "partisan/transport/amqp/headers.hpp"

#include <limits>

namespace partisan::amqp {

namespace {

// Header keys: short, the same in every message.
constexpr std::string_view key_sender = "ps", key_incarnation = "pi", key_seq = "pn", key_ref = "pr",
                           key_confirmed = "pc";

}  // namespace

void write_envelope(const Envelope& e, bool persistent, EnvelopeProperties& out) {
    auto& h = out.headers;
    h[0] = header_entry(key_sender, AMQP_FIELD_KIND_UTF8);
    h[0].value.value.bytes = header_bytes(e.sender);
    // Signed on the wire: RabbitMQ has no unsigned 64-bit field.
    h[1] = header_entry(key_incarnation, AMQP_FIELD_KIND_I64);
    h[1].value.value.i64 = static_cast<int64_t>(e.incarnation);
    h[2] = header_entry(key_seq, AMQP_FIELD_KIND_I64);
    h[2].value.value.i64 = static_cast<int64_t>(e.seq);
    h[3] = header_entry(key_ref, AMQP_FIELD_KIND_BYTES);
    h[3].value.value.bytes = header_bytes(e.ref);
    h[4] = header_entry(key_confirmed, AMQP_FIELD_KIND_I64);
    h[4].value.value.i64 = static_cast<int64_t>(e.confirmed);
    out.props = amqp_basic_properties_t{};
    out.props._flags = AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    out.props.headers = amqp_table_t{static_cast<int>(h.size()), h.data()};
    out.props.delivery_mode = persistent ? AMQP_DELIVERY_PERSISTENT : AMQP_DELIVERY_NONPERSISTENT;
}

bool read_envelope(const amqp_basic_properties_t& props, Bytes payload, std::string_view decoder, Envelope& e) {
    if (!(props._flags & AMQP_BASIC_HEADERS_FLAG)) return false;
    const auto* sender = find_header(props.headers, key_sender, AMQP_FIELD_KIND_UTF8);
    const auto* incarnation = find_header(props.headers, key_incarnation, AMQP_FIELD_KIND_I64);
    const auto* seq = find_header(props.headers, key_seq, AMQP_FIELD_KIND_I64);
    const auto* ref = find_header(props.headers, key_ref, AMQP_FIELD_KIND_BYTES);
    const auto* confirmed = find_header(props.headers, key_confirmed, AMQP_FIELD_KIND_I64);
    if (!sender || !incarnation || !seq || !ref || !confirmed) return false;
    std::string_view name(static_cast<const char*>(sender->value.bytes.bytes), sender->value.bytes.len);
    Bytes r{static_cast<const uint8_t*>(ref->value.bytes.bytes), ref->value.bytes.len};
    if (!valid_node_name(name) || seq->value.i64 <= 0 || confirmed->value.i64 < 0 ||
        confirmed->value.i64 >= seq->value.i64 || r.size > std::numeric_limits<uint16_t>::max())
        return false;
    const etf::DecoderNode node{decoder};
    if (!(etf::is_pid(r.data, r.size, node) || etf::is_atom(r.data, r.size)) ||
        !etf::is_valid_term(payload.data, payload.size, node))
        return false;
    e = Envelope{name, static_cast<uint64_t>(incarnation->value.i64), static_cast<uint64_t>(seq->value.i64), r,
                 static_cast<uint64_t>(confirmed->value.i64)};
    return true;
}

}  // namespace partisan::amqp
