#include "partisan/transport/amqp/signed_frame.hpp"

#include "partisan/core/names.hpp"
#include "partisan/transport/amqp/headers.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace partisan::amqp {

namespace {

constexpr std::string_view key_sender = "ps", key_incarnation = "pi", key_mac = "pm";

}  // namespace

std::array<uint8_t, 32> FrameSigner::mac(const FrameOrigin& origin, Bytes frame) const {
    // sender, a NUL (no node name holds one), the incarnation big-endian, the frame
    scratch_.assign(origin.sender.begin(), origin.sender.end());
    scratch_.push_back(0);
    for (int shift = 56; shift >= 0; shift -= 8) scratch_.push_back(static_cast<uint8_t>(origin.incarnation >> shift));
    scratch_.insert(scratch_.end(), frame.data, frame.data + frame.size);
    std::array<uint8_t, 32> out{};
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()), scratch_.data(), scratch_.size(), out.data(),
         &len);
    return out;
}

void FrameSigner::sign(const FrameOrigin& origin, Bytes frame, SignedFrameProperties& out) const {
    out.mac = mac(origin, frame);
    auto& h = out.headers;
    h[0] = header_entry(key_sender, AMQP_FIELD_KIND_UTF8);
    h[0].value.value.bytes = header_bytes(origin.sender);
    h[1] = header_entry(key_incarnation, AMQP_FIELD_KIND_I64);  // RabbitMQ has no unsigned 64-bit field
    h[1].value.value.i64 = static_cast<int64_t>(origin.incarnation);
    h[2] = header_entry(key_mac, AMQP_FIELD_KIND_BYTES);
    h[2].value.value.bytes = header_bytes(Bytes{out.mac.data(), out.mac.size()});
    out.props = amqp_basic_properties_t{};
    out.props._flags = AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    out.props.headers = amqp_table_t{static_cast<int>(h.size()), h.data()};
    out.props.delivery_mode = AMQP_DELIVERY_NONPERSISTENT;
}

bool FrameSigner::verify(const amqp_basic_properties_t& props, Bytes frame, FrameOrigin& origin) const {
    if (!(props._flags & AMQP_BASIC_HEADERS_FLAG) || frame.size == 0) return false;
    const auto* sender = find_header(props.headers, key_sender, AMQP_FIELD_KIND_UTF8);
    const auto* incarnation = find_header(props.headers, key_incarnation, AMQP_FIELD_KIND_I64);
    const auto* given = find_header(props.headers, key_mac, AMQP_FIELD_KIND_BYTES);
    if (!sender || !incarnation || !given || given->value.bytes.len != 32) return false;
    FrameOrigin o{std::string_view(static_cast<const char*>(sender->value.bytes.bytes), sender->value.bytes.len),
                  static_cast<uint64_t>(incarnation->value.i64)};
    if (!valid_node_name(o.sender)) return false;
    auto expected = mac(o, frame);
    if (CRYPTO_memcmp(expected.data(), given->value.bytes.bytes, expected.size()) != 0) return false;
    origin = o;
    return true;
}

}  // namespace partisan::amqp
