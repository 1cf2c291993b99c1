// A bounded cursor over one frame body, for the decoders of peer frames:
// every read checks the bytes left, and a failed read makes every later one
// fail too, so a decoder reads its fields and checks ok() once.
#pragma once

#include "partisan/codec/wire.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace partisan {

class ByteReader {
public:
    ByteReader(const uint8_t* p, size_t n) : p_(p), n_(n) {}

    uint8_t u8() {
        if (!need(1)) return 0;
        --n_;
        return *p_++;
    }
    uint16_t u16() {
        if (!need(2)) return 0;
        uint16_t v = load_u16(p_);
        skip(2);
        return v;
    }
    uint32_t u32() {
        if (!need(4)) return 0;
        uint32_t v = load_u32(p_);
        skip(4);
        return v;
    }
    uint64_t u64() {
        uint64_t hi = u32();
        return (hi << 32) | u32();
    }
    // `len` bytes in place (empty after a failure).
    std::string_view bytes(size_t len) {
        if (!need(len)) return {};
        std::string_view v(reinterpret_cast<const char*>(p_), len);
        skip(len);
        return v;
    }
    // [u8 length][bytes]
    std::string str8() { return std::string(bytes(u8())); }

    bool ok() const { return ok_; }
    size_t left() const { return n_; }
    // Everything read, nothing left over.
    bool done() const { return ok_ && n_ == 0; }
    void fail() { ok_ = false; }

private:
    bool need(size_t k) {
        if (!ok_ || n_ < k) {
            ok_ = false;
            return false;
        }
        return true;
    }
    void skip(size_t k) {
        p_ += k;
        n_ -= k;
    }

    const uint8_t* p_;
    size_t n_;
    bool ok_ = true;
};

// [u8 length][bytes], cut at 255 bytes.
inline void put_str8(ByteBuffer& b, std::string_view s) {
    s = s.substr(0, 255);
    b.put_u8(static_cast<uint8_t>(s.size()));
    b.append(s);
}

}  // namespace partisan
