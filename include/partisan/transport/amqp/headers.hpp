// Reading and writing the headers (an AMQP field table) of a message's
// basic properties: what envelope.hpp and signed_frame.hpp share. Pure.
#pragma once

#include "partisan/codec/wire.hpp"

#include <amqp.h>

#include <string_view>

namespace partisan::amqp {

inline amqp_bytes_t header_bytes(std::string_view s) { return amqp_bytes_t{s.size(), const_cast<char*>(s.data())}; }
inline amqp_bytes_t header_bytes(Bytes b) { return amqp_bytes_t{b.size, const_cast<uint8_t*>(b.data)}; }

// An entry `key` of type `kind`, its value to be filled in.
inline amqp_table_entry_t header_entry(std::string_view key, uint8_t kind) {
    amqp_table_entry_t t{};
    t.key = header_bytes(key);
    t.value.kind = kind;
    return t;
}

// The value of `key`, if it is there and of type `kind`.
inline const amqp_field_value_t* find_header(const amqp_table_t& table, std::string_view key, uint8_t kind) {
    for (int i = 0; i < table.num_entries; ++i) {
        const amqp_table_entry_t& t = table.entries[i];
        if (std::string_view(static_cast<const char*>(t.key.bytes), t.key.len) == key)
            return t.value.kind == kind ? &t.value : nullptr;
    }
    return nullptr;
}

}  // namespace partisan::amqp
