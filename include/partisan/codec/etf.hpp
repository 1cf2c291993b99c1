// Bounded reading of the Erlang external term format.
//
// ei's decoders take no buffer length, so they must never see bytes from a
// peer. This reader checks every access against the end of the buffer; the
// validator walks a term iteratively (no recursion, so no stack bomb) and
// accepts exactly what binary_to_term/1 of OTP 25 (erts 13) decodes, which is
// also what the BEAM's distribution decoder accepts from a connection
// without an atom cache, but for a few documented kinds of term it refuses
// to be safe (Verdict::unsupported). Payloads are validated, never
// converted: their bytes go on unchanged. The rules are listed in etf.cpp;
// map keys are compared in etf_keys.cpp. Work is linear in the input (n log n
// for map keys), a binary's contents are never read (outside map keys), and
// memory stays within a small multiple of the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace partisan::etf {

namespace detail {
class Walker;
}

constexpr uint8_t version_magic = 131;

enum Tag : uint8_t {
    new_float = 70, atom_internal_ref2 = 73, atom_internal_ref3 = 75, bit_binary = 77, compressed = 80,
    atom_cache_ref = 82, new_pid = 88, new_port = 89, newer_reference = 90, small_integer = 97, integer = 98,
    float_ext = 99,
    atom = 100, reference = 101, port = 102, pid = 103, small_tuple = 104, large_tuple = 105,
    nil = 106, string = 107, list = 108, binary = 109, small_big = 110, large_big = 111,
    new_fun = 112, export_ext = 113, new_reference = 114, small_atom = 115, map = 116, fun = 117,
    atom_utf8 = 118, small_atom_utf8 = 119, v4_port = 120,
};

// What the validator knows of the BEAM that will decode the term. Pids,
// ports and references naming that node with its creation decode as local
// objects, which have tighter limits. What is unknown is assumed to match:
// stricter, so never wrong, but it may refuse a term the BEAM would take.
struct DecoderNode {
    std::string_view name;  // the node name, UTF-8; empty: unknown
    uint32_t creation = 0;
    bool creation_known = false;
};

enum class Verdict : uint8_t {
    valid,        // the BEAM decodes it
    invalid,      // the BEAM refuses it
    unsupported,  // refused here although the BEAM may decode it (see etf.cpp)
};

struct Check {
    Verdict verdict = Verdict::valid;
    size_t offset = 0;     // where it was decided: the end of the term when valid
    const char* why = "";  // a static description, for logs and tests
};

// A cursor over [data, data + size). Every read checks bounds and returns
// false (leaving the cursor unspecified) when the bytes are not as expected.
class Reader {
public:
    Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    Reader(const uint8_t* data, size_t size, const DecoderNode& node) : data_(data), size_(size), node_(node) {}

    size_t pos() const { return pos_; }
    size_t remaining() const { return size_ - pos_; }
    const uint8_t* here() const { return data_ + pos_; }
    bool at_end() const { return pos_ == size_; }

    bool version();  // the 131 magic byte
    bool tuple_header(uint32_t& arity);
    bool list_header(uint32_t& length);  // 0 for nil
    bool nil();
    // An atom the BEAM accepts; name is its bytes as encoded (Latin-1 for
    // ATOM_EXT and SMALL_ATOM_EXT, UTF-8 otherwise).
    bool atom(std::string_view& name);
    bool uint(uint64_t& value);  // non-negative integers up to 2^64-1
    // Skips one whole term, validating it; false if the BEAM might refuse it.
    bool skip();
    // Skips one whole term and tells why it is not valid.
    Check check_skip();

private:
    friend class detail::Walker;

    bool take(size_t n) {
        if (size_ - pos_ < n) return false;
        pos_ += n;
        return true;
    }
    bool u8(uint8_t& v) {
        if (pos_ == size_) return false;
        v = data_[pos_++];
        return true;
    }
    bool u16(uint16_t& v) {
        if (size_ - pos_ < 2) return false;
        v = static_cast<uint16_t>(data_[pos_] << 8 | data_[pos_ + 1]);
        pos_ += 2;
        return true;
    }
    bool u32(uint32_t& v) {
        if (size_ - pos_ < 4) return false;
        const uint8_t* p = data_ + pos_;
        v = uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
        pos_ += 4;
        return true;
    }
    bool u64(uint64_t& v) {
        if (size_ - pos_ < 8) return false;
        v = 0;
        for (int i = 0; i < 8; ++i) v = v << 8 | data_[pos_++];
        return true;
    }

    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    DecoderNode node_;
};

// Whether [data, data+size) is exactly one term the BEAM decodes (no version
// byte), with the reason when not. A term starting with the COMPRESSED tag
// is unsupported: the C-node does not inflate payloads.
Check check_term(const uint8_t* data, size_t size, const DecoderNode& node = {});

// True when [data, data+size) is exactly one valid term (no version byte).
bool is_valid_term(const uint8_t* data, size_t size);
bool is_valid_term(const uint8_t* data, size_t size, const DecoderNode& node);

// True when [data, data+size) is exactly one pid or one atom: the only
// destinations a message frame may name.
bool is_pid(const uint8_t* data, size_t size);
bool is_pid(const uint8_t* data, size_t size, const DecoderNode& node);
bool is_atom(const uint8_t* data, size_t size);

}  // namespace partisan::etf
