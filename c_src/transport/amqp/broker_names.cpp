#include "partisan/transport/amqp/broker_names.hpp"

#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <array>

namespace partisan::amqp {

namespace {

constexpr size_t max_name = 255;  // AMQP short strings

std::string hex(const unsigned char* p, size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < n; ++i) {
        out.push_back(digits[p[i] >> 4]);
        out.push_back(digits[p[i] & 15]);
    }
    return out;
}

// A short stand-in for a name too long for the broker.
std::string hashed(std::string_view s) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> d{};
    SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d.data());
    return "h:" + hex(d.data(), 20);
}

std::string fit(std::string prefix, std::string_view rest) {
    if (prefix.size() + rest.size() <= max_name) return prefix.append(rest);
    return prefix + hashed(rest);
}

}  // namespace

BrokerNames::BrokerNames(std::string_view secret) {
    static constexpr std::string_view label = "partisan amqp namespace";
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    unsigned int len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(label.data()), label.size(), mac.data(), &len);
    ns_ = hex(mac.data(), 8);
}

std::string BrokerNames::members_queue(std::string_view node) const { return fit(prefix() + "members.", node); }

std::string BrokerNames::message_queue(std::string_view node, std::string_view channel) const {
    return fit(prefix() + "m.", routing_key(node, channel));
}

std::string BrokerNames::control_queue(std::string_view node) const { return fit(prefix() + "c.", node); }

std::string BrokerNames::routing_key(std::string_view node, std::string_view channel) {
    std::string key = std::string(node) + ":" + std::string(channel);
    return key.size() <= max_name ? key : hashed(key);
}

}  // namespace partisan::amqp
