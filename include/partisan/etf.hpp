// Bounded reading of the Erlang external term format.
//
// ei's decoders take no buffer length, so they must never see bytes from a
// peer. This reader checks every access against the end of the buffer; the
// validator walks a term iteratively (no recursion, so no stack bomb) and
// rejects what the BEAM could not decode. Payloads are validated, never
// converted: their bytes go on unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace partisan::etf {

constexpr uint8_t version_magic = 131;

enum Tag : uint8_t {
    new_float = 70, bit_binary = 77, atom_cache_ref = 82, new_pid = 88, new_port = 89,
    newer_reference = 90, small_integer = 97, integer = 98, float_ext = 99, atom = 100,
    reference = 101, port = 102, pid = 103, small_tuple = 104, large_tuple = 105, nil = 106,
    string = 107, list = 108, binary = 109, small_big = 110, large_big = 111, new_fun = 112,
    export_ext = 113, new_reference = 114, small_atom = 115, map = 116, fun = 117,
    atom_utf8 = 118, small_atom_utf8 = 119, v4_port = 120,
};

// A cursor over [data, data + size). Every read checks bounds and returns
// false (leaving the cursor unspecified) when the bytes are not as expected.
class Reader {
public:
    Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

    size_t pos() const { return pos_; }
    size_t remaining() const { return size_ - pos_; }
    const uint8_t* here() const { return data_ + pos_; }
    bool at_end() const { return pos_ == size_; }

    bool version();  // the 131 magic byte
    bool tuple_header(uint32_t& arity);
    bool list_header(uint32_t& length);  // 0 for nil
    bool nil();
    bool atom(std::string_view& name);
    bool uint(uint64_t& value);  // non-negative integers up to 2^64-1
    // Skips one whole term, validating it; false if malformed or truncated.
    bool skip();
    // Peeks the tag of the next term (0 when at end).
    uint8_t peek() const { return pos_ < size_ ? data_[pos_] : 0; }

private:
    bool take(size_t n) {
        if (size_ - pos_ < n) return false;
        pos_ += n;
        return true;
    }
    bool u8(uint8_t& v);
    bool u16(uint16_t& v);
    bool u32(uint32_t& v);
    bool atom_body(uint8_t tag);

    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

// True when [data, data+size) is exactly one valid term (no version byte).
bool is_valid_term(const uint8_t* data, size_t size);

// True when [data, data+size) is exactly one pid or one atom: the only
// destinations a message frame may name.
bool is_pid(const uint8_t* data, size_t size);
bool is_atom(const uint8_t* data, size_t size);

}  // namespace partisan::etf
