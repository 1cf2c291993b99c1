#include "partisan/etf.hpp"

namespace partisan::etf {

namespace {
// The BEAM refuses atoms longer than 255 characters (up to 4 bytes each).
constexpr size_t max_atom_bytes = 255 * 4;
}  // namespace

bool Reader::u8(uint8_t& v) {
    if (remaining() < 1) return false;
    v = data_[pos_++];
    return true;
}

bool Reader::u16(uint16_t& v) {
    if (remaining() < 2) return false;
    v = static_cast<uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return true;
}

bool Reader::u32(uint32_t& v) {
    if (remaining() < 4) return false;
    v = (uint32_t{data_[pos_]} << 24) | (uint32_t{data_[pos_ + 1]} << 16) |
        (uint32_t{data_[pos_ + 2]} << 8) | uint32_t{data_[pos_ + 3]};
    pos_ += 4;
    return true;
}

bool Reader::version() {
    uint8_t v;
    return u8(v) && v == version_magic;
}

bool Reader::tuple_header(uint32_t& arity) {
    uint8_t tag;
    if (!u8(tag)) return false;
    if (tag == small_tuple) {
        uint8_t a;
        if (!u8(a)) return false;
        arity = a;
        return true;
    }
    return tag == large_tuple && u32(arity);
}

bool Reader::list_header(uint32_t& length) {
    uint8_t tag;
    if (!u8(tag)) return false;
    if (tag == Tag::nil) {
        length = 0;
        return true;
    }
    return tag == list && u32(length);
}

bool Reader::nil() {
    uint8_t tag;
    return u8(tag) && tag == Tag::nil;
}

bool Reader::atom(std::string_view& name) {
    uint8_t tag;
    if (!u8(tag)) return false;
    size_t len;
    if (tag == small_atom || tag == small_atom_utf8) {
        uint8_t l;
        if (!u8(l)) return false;
        len = l;
    } else if (tag == Tag::atom || tag == atom_utf8) {
        uint16_t l;
        if (!u16(l)) return false;
        len = l;
    } else {
        return false;
    }
    if (len > max_atom_bytes || remaining() < len) return false;
    name = std::string_view(reinterpret_cast<const char*>(here()), len);
    pos_ += len;
    return true;
}

bool Reader::uint(uint64_t& value) {
    uint8_t tag;
    if (!u8(tag)) return false;
    if (tag == small_integer) {
        uint8_t v;
        if (!u8(v)) return false;
        value = v;
        return true;
    }
    if (tag == integer) {
        uint32_t v;
        if (!u32(v) || (v & 0x80000000u)) return false;
        value = v;
        return true;
    }
    if (tag == small_big) {
        uint8_t n, sign;
        if (!u8(n) || !u8(sign) || sign != 0 || n > 8 || remaining() < n) return false;
        value = 0;
        for (int i = n - 1; i >= 0; --i) value = (value << 8) | data_[pos_ + static_cast<size_t>(i)];
        pos_ += n;
        return true;
    }
    return false;
}

bool Reader::atom_body(uint8_t tag) {
    // The tag is consumed already; reads the length and the name.
    size_t len;
    if (tag == small_atom || tag == small_atom_utf8) {
        uint8_t l;
        if (!u8(l)) return false;
        len = l;
    } else {
        uint16_t l;
        if (!u16(l)) return false;
        len = l;
    }
    return len <= max_atom_bytes && take(len);
}

bool Reader::skip() {
    // Terms still to skip. Each term takes at least one byte, so a count
    // beyond the remaining bytes is malformed: that bounds the work.
    uint64_t pending = 1;
    auto expect = [&](uint64_t more) {
        pending += more;
        return pending <= remaining();
    };
    auto node_atom = [&]() {
        uint8_t t;
        if (!u8(t)) return false;
        if (t != Tag::atom && t != small_atom && t != atom_utf8 && t != small_atom_utf8) return false;
        return atom_body(t);
    };
    while (pending > 0) {
        --pending;
        uint8_t tag;
        if (!u8(tag)) return false;
        switch (tag) {
            case small_integer: if (!take(1)) return false; break;
            case integer: if (!take(4)) return false; break;
            case new_float: if (!take(8)) return false; break;
            case float_ext: if (!take(31)) return false; break;
            case Tag::atom: case small_atom: case atom_utf8: case small_atom_utf8:
                if (!atom_body(tag)) return false;
                break;
            case Tag::nil: break;
            case string: {
                uint16_t n;
                if (!u16(n) || !take(n)) return false;
                break;
            }
            case binary: {
                uint32_t n;
                if (!u32(n) || !take(n)) return false;
                break;
            }
            case bit_binary: {
                uint32_t n;
                uint8_t bits;
                if (!u32(n) || !u8(bits) || bits < 1 || bits > 8 || n == 0 || !take(n)) return false;
                break;
            }
            case small_big: {
                uint8_t n, sign;
                if (!u8(n) || !u8(sign) || sign > 1 || !take(n)) return false;
                break;
            }
            case large_big: {
                uint32_t n;
                uint8_t sign;
                if (!u32(n) || !u8(sign) || sign > 1 || !take(n)) return false;
                break;
            }
            case small_tuple: {
                uint8_t a;
                if (!u8(a) || !expect(a)) return false;
                break;
            }
            case large_tuple: {
                uint32_t a;
                if (!u32(a) || !expect(a)) return false;
                break;
            }
            case list: {
                uint32_t n;
                if (!u32(n) || !expect(uint64_t{n} + 1)) return false;  // elements and tail
                break;
            }
            case map: {
                uint32_t n;
                if (!u32(n) || !expect(uint64_t{n} * 2)) return false;
                break;
            }
            case pid: if (!node_atom() || !take(9)) return false; break;
            case new_pid: if (!node_atom() || !take(12)) return false; break;
            case port: if (!node_atom() || !take(5)) return false; break;
            case new_port: if (!node_atom() || !take(8)) return false; break;
            case v4_port: if (!node_atom() || !take(12)) return false; break;
            case reference: if (!node_atom() || !take(5)) return false; break;
            case new_reference: {
                uint16_t n;
                if (!u16(n) || n > 5 || !node_atom() || !take(1 + 4 * size_t{n})) return false;
                break;
            }
            case newer_reference: {
                uint16_t n;
                if (!u16(n) || n > 5 || !node_atom() || !take(4 + 4 * size_t{n})) return false;
                break;
            }
            case export_ext:
                if (!expect(3)) return false;  // module, function, arity
                break;
            case new_fun: {
                // Size(4) Arity(1) Uniq(16) Index(4) NumFree(4), then Module,
                // OldIndex, OldUniq, Pid and NumFree free variables.
                uint32_t size, num_free;
                if (!u32(size) || size < 29 || size - 4 > remaining() || !take(1 + 16 + 4) || !u32(num_free))
                    return false;
                if (!expect(uint64_t{num_free} + 4)) return false;
                break;
            }
            default:
                return false;  // atom cache refs, old funs, unknown tags
        }
    }
    return true;
}

bool is_valid_term(const uint8_t* data, size_t size) {
    Reader r(data, size);
    return r.skip() && r.at_end();
}

bool is_pid(const uint8_t* data, size_t size) {
    if (size == 0 || (data[0] != new_pid && data[0] != Tag::pid)) return false;
    return is_valid_term(data, size);
}

bool is_atom(const uint8_t* data, size_t size) {
    Reader r(data, size);
    std::string_view name;
    return r.atom(name) && r.at_end();
}

}  // namespace partisan::etf
