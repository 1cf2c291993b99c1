// The validator: what binary_to_term/1 of OTP 25 (erts 13.1.5) decodes.
//
// Longer than our usual 400 lines on purpose: the BEAM's decoding rules,
// listed below, and the one walker that applies them (a class whose parts
// share its state) read best side by side; map keys are in etf_keys.cpp.
//
// Rules, from erts/emulator/beam/external.c (decoded_size, dec_term,
// dec_atom, dec_pid), atom.c, erl_unicode.c, sys/unix/sys_float.c and
// erl_map.c, each checked against the installed BEAM and by the
// differential fuzzer (test/fuzz/fuzz_etf_differential.cpp):
//
// Atoms  ATOM_EXT/SMALL_ATOM_EXT are Latin-1 of at most 255 bytes (any byte
//        values). ATOM_UTF8_EXT/SMALL_ATOM_UTF8_EXT are well-formed UTF-8
//        (no overlong forms, no surrogates, nothing above U+10FFFF; NUL and
//        noncharacters are fine) of at most 255 characters. Atom cache
//        references are refused: a pass-through connection has no cache.
// Numbers  SMALL_BIG_EXT/LARGE_BIG_EXT take any sign byte (non-zero is
//        negative), zero digits or leading zero digits (the value is 0 or
//        shorter); LARGE_BIG_EXT at most (2^19-1)*8 digit bytes. NEW_FLOAT_EXT
//        refuses NaN and infinities. FLOAT_EXT is [+-]digits[.,]digits
//        [(e|E)[+-]digits] ended by a NUL, with a finite value (underflow to
//        zero or a subnormal is fine).
// Pids, ports, references  the node is any atom (not checked as a node
//        name). Old formats (PID_EXT, PORT_EXT, REFERENCE_EXT,
//        NEW_REFERENCE_EXT) carry a creation of at most 3. A pid, port or
//        reference is local when its node and creation are exactly the
//        decoding node's (creation 0 is not a wildcard in OTP 25); a local
//        pid has number <= 2^15-1 and serial <= 2^13-1, a local port number
//        <= 2^28-1, a local reference 1 to 3 words with the first < 2^18.
//        Other nodes' pids and ports take any values. References have 1 to 5
//        words; REFERENCE_EXT and NEW_REFERENCE_EXT also want the first word
//        < 2^18.
// Funs   EXPORT_EXT: two atoms and an integer arity that is a small
//        (0..2^59-1, any integer encoding). NEW_FUN_EXT: Size is not checked,
//        any arity byte, index and uniq, at most 255 free variables, an atom
//        module, OldIndex and OldUniq integers that are smalls
//        (-2^59..2^59-1), and any term where the creator pid goes. FUN_EXT
//        (the old format) is refused.
// Others BIT_BINARY_EXT: length 0 with 0 bits, or length > 0 with 1..8 bits;
//        unused bits are ignored. LIST_EXT of length 0 is its tail. Tuples,
//        strings, binaries and lists have no limits beyond their length
//        fields. Maps refuse keys that are the same term (etf_keys.cpp).
//        binary_to_term ignores bytes after the term; is_valid_term does not.
//
// Refused here although the BEAM may decode them (Verdict::unsupported):
// - A reference with 0 words: OTP 25 reads a first word anyway, past the
//   term (dec_term reads it before looking at the count, decoded_size does
//   not count it); the differential fuzzer saw such terms crash the BEAM
//   (segmentation fault, or "Catch not found").
// - FLOAT_EXT text that fills its 31 bytes without its terminating NUL:
//   the BEAM goes on reading the bytes after the field.
// - ATOM_INTERNAL_REF2/3 (tags 73, 75): an atom by its index in the BEAM's
//   atom table, accepted by OTP 25 when the index exists; which atom that
//   is cannot be known here.
// - A COMPRESSED term (tag 80 after the version byte): binary_to_term
//   inflates it, the distribution decoder does not (a probe over a real
//   connection: "corrupted external term", connection dropped).
// - Equal map keys holding a one-word external reference: refused or not
//   depending on memory contents (etf_keys.cpp).
// - Without the decoding node's name and creation (DecoderNode), any pid,
//   port or reference might be local, so it must meet the local limits.
//
// The distribution decoder (erts_decode_dist_ext) runs the same
// decoded_size and dec_term on a message arriving without an atom cache, so
// the rules are the same, except COMPRESSED above; like binary_to_term it
// ignores bytes after the message, and it takes ATOM_INTERNAL_REF2/3 too
// (both seen over a real connection).
#include "partisan/codec/etf.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "partisan/codec/etf_keys.hpp"

namespace partisan::etf {

namespace {

constexpr size_t max_atom_chars = 255;              // atom.h MAX_ATOM_CHARACTERS
constexpr size_t max_atom_bytes = 4 * max_atom_chars;  // MAX_ATOM_SZ_LIMIT
constexpr uint32_t max_big_bytes = ((1u << 19) - 1) * 8;  // big.h BIG_ARITY_MAX digits of 8 bytes
constexpr uint32_t max_fun_free = 255;              // MAX_ARG
constexpr uint32_t max_tiny_creation = 3;           // creations in the old 8-bit fields
constexpr uint32_t max_local_pid_number = (1u << 15) - 1;
constexpr uint32_t max_local_pid_serial = (1u << 13) - 1;
constexpr uint64_t max_local_port_number = (1u << 28) - 1;
constexpr uint32_t ref_first_word_limit = 1u << 18;  // MAX_REFERENCE
constexpr uint16_t max_ref_words = 5;               // ERTS_MAX_REF_NUMBERS
constexpr uint16_t max_local_ref_words = 3;         // ERTS_REF_NUMBERS
constexpr size_t float_text_bytes = 31;
constexpr uint64_t max_small = (uint64_t{1} << 59) - 1;  // 60-bit signed immediates
// An atom by its index in the BEAM's atom table (ATOM_INTERNAL_REF2/3, meant
// for ETS, yet decoded by OTP 25): which atom, if any, is unknowable here.
constexpr const char* unsupported_atom = "atom table index";

bool is_digit(int c) { return c >= '0' && c <= '9'; }

uint32_t load_u32(const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

bool is_ascii(const uint8_t* p, size_t n) {
    uint64_t high = 0;
    size_t i = 0;
    for (uint64_t w; n - i >= 8; i += 8) {
        std::memcpy(&w, p + i, 8);
        high |= w;
    }
    for (; i < n; ++i) high |= p[i];
    return !(high & 0x8080808080808080u);
}

// Well-formed UTF-8 (Unicode table 3-7), as erl_unicode.c erts_analyze_utf8
// wants it for atoms; counts the characters.
bool utf8_chars(const uint8_t* p, size_t n, size_t& chars) {
    chars = 0;
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        ++chars;
        if (b < 0x80) {
            ++i;
            continue;
        }
        size_t len;
        uint8_t lo = 0x80, hi = 0xBF;  // the second byte's range
        if (b >= 0xC2 && b <= 0xDF) {
            len = 2;
        } else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            if (b == 0xE0) lo = 0xA0;  // overlong
            if (b == 0xED) hi = 0x9F;  // surrogates
        } else if (b >= 0xF0 && b <= 0xF4) {
            len = 4;
            if (b == 0xF0) lo = 0x90;  // overlong
            if (b == 0xF4) hi = 0x8F;  // above U+10FFFF
        } else {
            return false;
        }
        if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) return false;
        for (size_t k = 2; k < len; ++k)
            if ((p[i + k] & 0xC0) != 0x80) return false;
        i += len;
    }
    return true;
}

// Reads one of the commonest valid terms at p outside keys, announcing its
// children; false, with nothing read, for anything else (which term() then
// reads and judges).
[[gnu::always_inline]] inline bool plain_term(const uint8_t*& p, const uint8_t* end, uint64_t& pending) {
    if (p == end) return false;
    const uint8_t* q = p + 1;  // after the tag
    auto left = static_cast<size_t>(end - q);
    switch (*p) {
        case small_integer:
            if (left < 1) return false;
            p = q + 1;
            return true;
        case Tag::integer:
            if (left < 4) return false;
            p = q + 4;
            return true;
        case Tag::nil:
            p = q;
            return true;
        case small_atom_utf8:  // ASCII atoms: no character is invalid, nor too many
            if (left < 1 || left - 1 < q[0] || !is_ascii(q + 1, q[0])) return false;
            p = q + 1 + q[0];
            return true;
        case binary: {
            if (left < 4) return false;
            uint32_t n = load_u32(q);
            if (left - 4 < n) return false;
            p = q + 4 + n;
            return true;
        }
        case small_tuple:
            if (left < 1 || pending + q[0] > left - 1) return false;
            pending += q[0];
            p = q + 1;
            return true;
        case Tag::list: {
            if (left < 4) return false;
            uint64_t children = uint64_t{load_u32(q)} + 1;  // the elements and the tail
            if (pending + children > left - 4) return false;
            pending += children;
            p = q + 4;
            return true;
        }
        case new_float:
            if (left < 8 || ((q[0] & 0x7f) == 0x7f && (q[1] & 0xf0) == 0xf0)) return false;  // NaN, infinities
            p = q + 8;
            return true;
        default:
            return false;
    }
}

}  // namespace

namespace detail {

// An atom's text as encoded.
struct AtomText {
    const uint8_t* bytes = nullptr;
    size_t size = 0;
    bool latin1 = false;

    // Whether it is the same atom as the UTF-8 text t.
    bool equals(std::string_view t) const {
        if (!latin1) return size == t.size() && std::memcmp(bytes, t.data(), size) == 0;
        size_t j = 0;
        for (size_t i = 0; i < size; ++i) {
            uint8_t b = bytes[i];
            if (b < 0x80) {
                if (j >= t.size() || uint8_t(t[j]) != b) return false;
                ++j;
            } else {
                if (t.size() - j < 2 || uint8_t(t[j]) != (0xC0 | b >> 6) || uint8_t(t[j + 1]) != (0x80 | (b & 0x3F)))
                    return false;
                j += 2;
            }
        }
        return j == t.size();
    }
};

// Walks one term iteratively with an explicit stack. Terms inside map keys
// are also written to keys_ in canonical form ("emit"), to find duplicates.
class Walker {
public:
    // Works on a copy of the cursor (kept in registers more easily), which
    // is handed back at the end.
    explicit Walker(Reader& r) : r_(r), out_(r), node_(out_.node_) {}

    Check run() {
        Check c = walk();
        out_.pos_ = r_.pos_;
        return c;
    }
    // Reads an atom's length and text after its tag, as dec_atom and
    // erts_atom_put check them; nullptr when valid, else why not.
    static const char* read_atom(Reader& r, uint8_t tag, AtomText& a);

private:
    // Containers whose children need telling apart: maps (keys are written
    // canonically), and while writing a key, lists ('C' before each
    // element) and funs (the creator is left out). Other containers only
    // add to pending_.
    enum class Kind : uint8_t { map, list, fun };
    struct Frame {
        uint64_t end;   // pending_ when the container and all inside it are read
        uint64_t left;  // children not yet started (a map's key when even)
        Kind kind;
        bool emit;        // the container is part of a key being written
        bool child_emit;  // whether the child being read is
        bool started;     // whether a child was (a fun's first is its creator)
    };
    // Whether a pid, port or reference belongs to the decoding node.
    enum class Place : uint8_t { remote, local, maybe_local };

    Check walk();
    bool next_emit();
    bool begin_child(Frame& f);
    bool announce(uint64_t children);
    bool push(Kind kind, uint64_t children, bool emit);
    bool close_map();
    bool term(bool emit);
    bool any_term(uint8_t tag, bool emit);
    bool integer(uint8_t tag, bool emit);
    bool bignum(uint8_t tag, const uint8_t*& digits, uint32_t& n, bool& negative);
    bool small_field(int64_t& value);
    bool floating(uint8_t tag, bool emit);
    bool float_text(const uint8_t* p, double& d);
    bool atom_field(bool emit, AtomText& a);
    bool string(bool emit);
    bool bits(uint8_t tag, bool emit);
    bool map(bool emit);
    bool pid(uint8_t tag, bool emit);
    bool port(uint8_t tag, bool emit);
    bool reference(uint8_t tag, bool emit);
    bool export_fun(bool emit);
    bool local_fun(bool emit);
    Place place(const AtomText& node, uint32_t creation) const;

    void put_integer(bool negative, const uint8_t* le_digits, size_t n);
    void put_small(bool negative, uint64_t magnitude);
    void put_atom(const AtomText& a);
    void put_varint(uint64_t v);

    KeyCanon& keys() {
        if (!keys_) keys_.emplace();
        return *keys_;
    }
    bool fail(Verdict v, const char* why) {
        result_ = Check{v, r_.pos(), why};
        return false;
    }
    bool invalid(const char* why) { return fail(Verdict::invalid, why); }
    bool truncated() { return invalid("truncated"); }
    // A local object out of its limits: certain, or only possible.
    bool local_limit(Place p, const char* why) {
        return fail(p == Place::local ? Verdict::invalid : Verdict::unsupported, why);
    }

    Reader r_;
    Reader& out_;
    const DecoderNode& node_;
    SmallVec<Frame, 32> frames_;
    std::optional<KeyCanon> keys_;  // made at the first map that needs it
    uint64_t pending_ = 0;  // subterms announced and not yet read
    Check result_;
};

Check Walker::walk() {
    const uint8_t* const base = r_.data_;
    const uint8_t* const end = base + r_.size_;
    pending_ = 1;
    while (true) {
        if (frames_.empty()) {
            // Nothing is being written: the common terms go by on a cursor
            // kept in registers; the first other one goes to term().
            const uint8_t* p = base + r_.pos_;
            uint64_t pending = pending_;
            for (uint64_t rest; pending > 0 && plain_term(p, end, rest = pending - 1);) pending = rest;
            r_.pos_ = static_cast<size_t>(p - base);
            pending_ = pending;
            if (pending_ == 0) break;
            --pending_;
            if (!term(false)) return result_;
            continue;
        }
        while (!frames_.empty() && frames_.back().end == pending_) {
            bool is_map = frames_.back().kind == Kind::map;
            frames_.pop_back();
            if (is_map && !close_map()) return result_;
        }
        if (pending_ == 0) break;
        bool emit = next_emit();
        --pending_;
        if (!emit) {  // a map's value, say
            const uint8_t* p = base + r_.pos_;
            if (plain_term(p, end, pending_)) {
                r_.pos_ = static_cast<size_t>(p - base);
                continue;
            }
        }
        if (!term(emit)) return result_;
    }
    return Check{Verdict::valid, r_.pos(), ""};
}

// Whether the next term is to be written canonically.
bool Walker::next_emit() {
    if (frames_.empty()) return false;
    Frame& f = frames_.back();
    // Depth first: the container's own child comes when nothing announced
    // inside its earlier children is left.
    if (pending_ == f.end + f.left) f.child_emit = begin_child(f);
    return f.child_emit;
}

bool Walker::begin_child(Frame& f) {
    bool first = !f.started;
    f.started = true;
    switch (f.kind) {
        case Kind::map:
            if (f.left-- % 2 == 0) {
                keys().begin_key();
                return true;
            }
            keys().begin_value();
            return f.emit;
        case Kind::list:
            if (--f.left > 0) keys().put('C');  // an element; the last child is the tail
            return true;
        case Kind::fun:
            --f.left;
            return !first;  // the creator is no part of equality
    }
    return f.emit;
}

// Every term takes at least a byte: more announced than left is short, and
// refusing it now bounds the work and the stack by the input.
bool Walker::announce(uint64_t children) {
    pending_ += children;
    return pending_ <= r_.remaining() || invalid("more terms announced than bytes left");
}

bool Walker::push(Kind kind, uint64_t children, bool emit) {
    uint64_t end = pending_;
    if (!announce(children)) return false;
    frames_.push_back(Frame{end, children, kind, emit, emit, false});
    return true;
}

bool Walker::close_map() {
    switch (keys().close_map()) {
        case KeyCanon::Outcome::distinct: return true;
        case KeyCanon::Outcome::duplicate: return invalid("duplicate map key");
        case KeyCanon::Outcome::nondeterministic:
            return fail(Verdict::unsupported, "equal map keys holding a one-word external reference");
        case KeyCanon::Outcome::crashes:
            return fail(Verdict::unsupported, "map of more than 32 pairs with a key holding a long reference");
    }
    return true;
}

bool Walker::term(bool emit) {
    uint8_t tag;
    if (!r_.u8(tag)) return truncated();
    return any_term(tag, emit);
}

bool Walker::any_term(uint8_t tag, bool emit) {
    switch (tag) {
        case small_integer: case Tag::integer: case small_big: case large_big:
            return integer(tag, emit);
        case new_float: case float_ext:
            return floating(tag, emit);
        case Tag::atom: case small_atom: case atom_utf8: case small_atom_utf8: {
            AtomText a;
            if (const char* why = read_atom(r_, tag, a)) return invalid(why);
            if (emit) put_atom(a);
            return true;
        }
        case Tag::nil:
            if (emit) keys().put('N');
            return true;
        case Tag::string:
            return string(emit);
        case binary: case bit_binary:
            return bits(tag, emit);
        case small_tuple: case large_tuple: {
            uint32_t arity;
            if (tag == small_tuple) {
                uint8_t a;
                if (!r_.u8(a)) return truncated();
                arity = a;
            } else if (!r_.u32(arity)) {
                return truncated();
            }
            if (emit) {
                keys().put('T');
                keys().put_u32(arity);
            }
            return announce(arity);
        }
        case Tag::list: {
            uint32_t n;
            if (!r_.u32(n)) return truncated();
            // The elements and the tail; written keys need to tell them apart.
            return emit ? push(Kind::list, uint64_t{n} + 1, true) : announce(uint64_t{n} + 1);
        }
        case Tag::map:
            return map(emit);
        case Tag::pid: case new_pid:
            return pid(tag, emit);
        case Tag::port: case new_port: case v4_port:
            return port(tag, emit);
        case Tag::reference: case new_reference: case newer_reference:
            return reference(tag, emit);
        case export_ext:
            return export_fun(emit);
        case new_fun:
            return local_fun(emit);
        case atom_cache_ref:
            return invalid("atom cache reference (no cache on this connection)");
        case atom_internal_ref2: case atom_internal_ref3:
            return fail(Verdict::unsupported, unsupported_atom);
        case fun:
            return invalid("FUN_EXT (no longer decoded)");
        default:
            return invalid("unknown tag");
    }
}

bool Walker::integer(uint8_t tag, bool emit) {
    if (tag == small_integer) {
        uint8_t v;
        if (!r_.u8(v)) return truncated();
        if (emit) put_small(false, v);
        return true;
    }
    if (tag == Tag::integer) {
        uint32_t v;
        if (!r_.u32(v)) return truncated();
        auto s = static_cast<int32_t>(v);
        if (emit) put_small(s < 0, s < 0 ? uint64_t{0} - uint64_t(int64_t{s}) : uint64_t(s));
        return true;
    }
    const uint8_t* digits;
    uint32_t n;
    bool negative;
    if (!bignum(tag, digits, n, negative)) return false;
    if (emit) put_integer(negative, digits, n);
    return true;
}

// A SMALL_BIG_EXT or LARGE_BIG_EXT after its tag: its little-endian digits.
bool Walker::bignum(uint8_t tag, const uint8_t*& digits, uint32_t& n, bool& negative) {
    if (tag == small_big) {
        uint8_t b;
        if (!r_.u8(b)) return truncated();
        n = b;
    } else {
        if (!r_.u32(n)) return truncated();
        if (n > max_big_bytes) return invalid("bignum longer than OTP allows");
    }
    uint8_t sign;
    if (!r_.u8(sign)) return truncated();
    negative = sign != 0;
    digits = r_.here();
    return r_.take(n) || truncated();
}

// An integer that dec_term turns into a small (is_small), for export
// arities and a fun's OldIndex and OldUniq.
bool Walker::small_field(int64_t& value) {
    uint8_t tag;
    if (!r_.u8(tag)) return truncated();
    if (tag == small_integer || tag == Tag::integer) {
        uint32_t v;
        uint8_t b;
        if (tag == small_integer ? !r_.u8(b) : !r_.u32(v)) return truncated();
        value = tag == small_integer ? int64_t{b} : int64_t{static_cast<int32_t>(v)};
        return true;
    }
    if (tag != small_big && tag != large_big) return invalid("expected an integer");
    const uint8_t* d;
    uint32_t n;
    bool negative;
    if (!bignum(tag, d, n, negative)) return false;
    while (n > 0 && d[n - 1] == 0) --n;  // leading zeros do not count
    if (n > 8) return invalid("integer is not a small");
    uint64_t mag = 0;
    for (size_t i = n; i-- > 0;) mag = mag << 8 | d[i];
    if (negative ? mag > max_small + 1 : mag > max_small) return invalid("integer is not a small");
    value = negative ? static_cast<int64_t>(uint64_t{0} - mag) : static_cast<int64_t>(mag);
    return true;
}

bool Walker::floating(uint8_t tag, bool emit) {
    double d;
    if (tag == new_float) {
        uint64_t bits;
        if (!r_.u64(bits)) return truncated();
        if ((bits >> 52 & 0x7ff) == 0x7ff) return invalid("float is NaN or infinite");
        std::memcpy(&d, &bits, sizeof d);
    } else {
        if (r_.remaining() < float_text_bytes) return truncated();
        if (!float_text(r_.here(), d)) return false;
        r_.take(float_text_bytes);
    }
    if (emit) {
        if (d == 0) d = 0.0;  // -0.0 =:= 0.0 in OTP 25
        uint64_t bits;
        std::memcpy(&bits, &d, sizeof bits);
        keys().put('F');
        keys().put_u64(bits);
    }
    return true;
}

// FLOAT_EXT's text, as sys_chars_to_double scans it and strtod reads it.
// The scan is not bounded by the field: text filling all 31 bytes makes the
// BEAM look at the bytes after it.
bool Walker::float_text(const uint8_t* p, double& d) {
    size_t i = 0;
    auto at = [&]() -> int { return i < float_text_bytes ? p[i] : -1; };
    auto refuse = [&]() {
        return i == float_text_bytes ? fail(Verdict::unsupported, "FLOAT_EXT text without its NUL")
                                     : invalid("FLOAT_EXT text is not a float");
    };
    auto digits = [&]() {
        if (!is_digit(at())) return false;
        while (is_digit(at())) ++i;
        return true;
    };
    if (at() == '+' || at() == '-') ++i;
    if (!digits()) return refuse();
    if (at() != '.' && at() != ',') return refuse();
    ++i;
    if (!digits()) return refuse();
    if (at() == 'e' || at() == 'E') {
        ++i;
        if (at() == '+' || at() == '-') ++i;
        if (!digits()) return refuse();
    }
    if (at() != 0) return refuse();
    char text[float_text_bytes + 1];
    std::memcpy(text, p, i);
    text[i] = 0;
    for (size_t k = 0; k < i; ++k)
        if (text[k] == ',') text[k] = '.';  // the BEAM retries with the other radix character
    char* end = nullptr;
    d = std::strtod(text, &end);
    // A locale whose radix is not '.' would stop strtod short.
    if (end != text + i) return fail(Verdict::unsupported, "strtod disagrees (locale?)");
    if (!std::isfinite(d)) return invalid("FLOAT_EXT out of range");
    return true;
}

const char* Walker::read_atom(Reader& r, uint8_t tag, AtomText& a) {
    size_t len;
    a.latin1 = tag == Tag::atom || tag == small_atom;
    if (tag == small_atom || tag == small_atom_utf8) {
        uint8_t l;
        if (!r.u8(l)) return "truncated";
        len = l;
    } else if (tag == Tag::atom || tag == atom_utf8) {
        uint16_t l;
        if (!r.u16(l)) return "truncated";
        len = l;
        if (a.latin1 ? len > max_atom_chars : len > max_atom_bytes) return "atom longer than 255 characters";
    } else if (tag == atom_internal_ref2 || tag == atom_internal_ref3) {
        return unsupported_atom;
    } else {
        return tag == atom_cache_ref ? "atom cache reference (no cache on this connection)" : "expected an atom";
    }
    a.bytes = r.here();
    a.size = len;
    if (!r.take(len)) return "truncated";
    if (a.latin1) return nullptr;
    if (len <= max_atom_chars && is_ascii(a.bytes, len)) return nullptr;  // the usual case, quickly
    size_t chars;
    if (!utf8_chars(a.bytes, len, chars)) return "atom is not valid UTF-8";
    if (chars > max_atom_chars) return "atom longer than 255 characters";
    return nullptr;
}

bool Walker::atom_field(bool emit, AtomText& a) {
    uint8_t tag;
    if (!r_.u8(tag)) return truncated();
    if (const char* why = read_atom(r_, tag, a))
        return fail(why == unsupported_atom ? Verdict::unsupported : Verdict::invalid, why);
    if (emit) put_atom(a);
    return true;
}

bool Walker::string(bool emit) {
    uint16_t n;
    if (!r_.u16(n)) return truncated();
    const uint8_t* p = r_.here();
    if (!r_.take(n)) return truncated();
    if (emit) {
        for (size_t i = 0; i < n; ++i) {
            keys().put('C');
            put_small(false, p[i]);
        }
        keys().put('N');
    }
    return true;
}

bool Walker::bits(uint8_t tag, bool emit) {
    uint32_t n;
    uint8_t used = 8;  // bits used in the last byte
    if (!r_.u32(n)) return truncated();
    if (tag == bit_binary) {
        if (!r_.u8(used)) return truncated();
        if ((used == 0) != (n == 0) || used > 8) return invalid("BIT_BINARY_EXT bits do not fit its length");
    }
    const uint8_t* p = r_.here();
    if (!r_.take(n)) return truncated();
    if (emit) {
        keys().put('B');
        keys().put_u64(n == 0 ? 0 : uint64_t{n - 1} * 8 + used);
        if (n > 0) {
            keys().put_bytes(p, n - 1);
            keys().put(static_cast<uint8_t>(p[n - 1] & (0xFF << (8 - used))));
        }
    }
    return true;
}

bool Walker::map(bool emit) {
    uint32_t pairs;
    if (!r_.u32(pairs)) return truncated();
    // Nothing to compare: the key needs no canonical form.
    if (!emit && pairs < 2) return announce(uint64_t{pairs} * 2);
    keys().open_map(emit);
    if (pairs == 0) return close_map();
    return push(Kind::map, uint64_t{pairs} * 2, emit);
}

Walker::Place Walker::place(const AtomText& node, uint32_t creation) const {
    if (node_.name.empty()) return Place::maybe_local;
    if (!node.equals(node_.name)) return Place::remote;
    if (!node_.creation_known) return Place::maybe_local;
    return creation == node_.creation ? Place::local : Place::remote;
}

bool Walker::pid(uint8_t tag, bool emit) {
    if (emit) keys().put('P');
    AtomText node;
    if (!atom_field(emit, node)) return false;
    uint32_t num, serial, creation;
    if (!r_.u32(num) || !r_.u32(serial)) return truncated();
    if (tag == Tag::pid) {
        uint8_t c;
        if (!r_.u8(c)) return truncated();
        if (c > max_tiny_creation) return invalid("PID_EXT creation above 3");
        creation = c;
    } else if (!r_.u32(creation)) {
        return truncated();
    }
    Place p = place(node, creation);
    if (p != Place::remote && (num > max_local_pid_number || serial > max_local_pid_serial))
        return local_limit(p, "local pid number or serial out of range");
    if (emit) {
        keys().put_u32(creation);
        keys().put_u32(num);
        keys().put_u32(serial);
    }
    return true;
}

bool Walker::port(uint8_t tag, bool emit) {
    if (emit) keys().put('O');
    AtomText node;
    if (!atom_field(emit, node)) return false;
    uint64_t num;
    uint32_t creation;
    if (tag == v4_port) {
        if (!r_.u64(num) || !r_.u32(creation)) return truncated();
    } else {
        uint32_t n32;
        if (!r_.u32(n32)) return truncated();
        num = n32;
        if (tag == Tag::port) {
            uint8_t c;
            if (!r_.u8(c)) return truncated();
            if (c > max_tiny_creation) return invalid("PORT_EXT creation above 3");
            creation = c;
        } else if (!r_.u32(creation)) {
            return truncated();
        }
    }
    Place p = place(node, creation);
    if (p != Place::remote && num > max_local_port_number) return local_limit(p, "local port number out of range");
    if (emit) {
        keys().put_u32(creation);
        keys().put_u64(num);
    }
    return true;
}

bool Walker::reference(uint8_t tag, bool emit) {
    if (emit) keys().put('R');
    AtomText node;
    uint16_t count = 1;
    uint32_t words[max_ref_words];
    uint32_t creation;
    if (tag == Tag::reference) {
        uint8_t c;
        if (!atom_field(emit, node)) return false;
        if (!r_.u32(words[0]) || !r_.u8(c)) return truncated();
        if (words[0] >= ref_first_word_limit) return invalid("REFERENCE_EXT word above 18 bits");
        if (c > max_tiny_creation) return invalid("REFERENCE_EXT creation above 3");
        creation = c;
    } else {
        if (!r_.u16(count)) return truncated();
        if (count > max_ref_words) return invalid("reference with more than 5 words");
        if (!atom_field(emit, node)) return false;
        if (tag == new_reference) {
            uint8_t c;
            if (!r_.u8(c)) return truncated();
            if (c > max_tiny_creation) return invalid("NEW_REFERENCE_EXT creation above 3");
            creation = c;
        } else if (!r_.u32(creation)) {
            return truncated();
        }
        if (count == 0) return fail(Verdict::unsupported, "reference without words (OTP 25 reads past it)");
        for (size_t i = 0; i < count; ++i)
            if (!r_.u32(words[i])) return truncated();
        if (tag == new_reference && words[0] >= ref_first_word_limit)
            return invalid("NEW_REFERENCE_EXT first word above 18 bits");
    }
    Place p = place(node, creation);
    if (p != Place::remote) {
        if (count > max_local_ref_words) return local_limit(p, "local reference with more than 3 words");
        if (words[0] >= ref_first_word_limit) return local_limit(p, "local reference first word above 18 bits");
    }
    if (emit) {
        // Trailing zero words make no difference to =:= (erl_utils.c eq).
        size_t n = count;
        while (n > 0 && words[n - 1] == 0) --n;
        keys().put_u32(creation);
        keys().put(static_cast<uint8_t>(n));
        for (size_t i = 0; i < n; ++i) keys().put_u32(words[i]);
        if (count == 1 && p != Place::local) keys().note_one_word_ref();
        if (n > 3 && p != Place::local) keys().note_long_ref();
    }
    return true;
}

bool Walker::export_fun(bool emit) {
    if (emit) keys().put('X');
    AtomText module, function;
    int64_t arity;
    if (!atom_field(emit, module) || !atom_field(emit, function) || !small_field(arity)) return false;
    if (arity < 0) return invalid("negative export arity");
    // The export table keeps the arity in 32 bits: m:f/1 =:= m:f/(2^32+1).
    if (emit) keys().put_u32(static_cast<uint32_t>(arity));
    return true;
}

bool Walker::local_fun(bool emit) {
    uint32_t size, index, num_free;
    uint8_t arity;
    // Size, arity and uniq are not checked by OTP 25.
    if (!r_.u32(size) || !r_.u8(arity) || !r_.take(16) || !r_.u32(index) || !r_.u32(num_free)) return truncated();
    if (num_free > max_fun_free) return invalid("fun with more than 255 free variables");
    if (emit) keys().put('U');
    AtomText module;
    int64_t old_index, old_uniq;
    if (!atom_field(emit, module) || !small_field(old_index) || !small_field(old_uniq)) return false;
    if (emit) {
        // The fun table keeps old_uniq in an int (erl_fun.c).
        keys().put_u32(index);
        keys().put_u32(static_cast<uint32_t>(old_uniq));
        keys().put_u32(num_free);
    }
    // The creator, then the free variables.
    return emit ? push(Kind::fun, uint64_t{num_free} + 1, true) : announce(uint64_t{num_free} + 1);
}

void Walker::put_varint(uint64_t v) {
    while (v >= 0x80) {
        keys().put(static_cast<uint8_t>(v | 0x80));
        v >>= 7;
    }
    keys().put(static_cast<uint8_t>(v));
}

void Walker::put_integer(bool negative, const uint8_t* le_digits, size_t n) {
    while (n > 0 && le_digits[n - 1] == 0) --n;
    keys().put('I');
    keys().put(n > 0 && negative ? 1 : 0);
    put_varint(n);
    keys().put_bytes(le_digits, n);
}

void Walker::put_small(bool negative, uint64_t magnitude) {
    uint8_t le[8];
    for (auto& b : le) {
        b = static_cast<uint8_t>(magnitude);
        magnitude >>= 8;
    }
    put_integer(negative, le, sizeof le);
}

void Walker::put_atom(const AtomText& a) {
    size_t utf8_size = a.size;
    if (a.latin1)
        for (size_t i = 0; i < a.size; ++i) utf8_size += a.bytes[i] >> 7;
    uint8_t* out = keys().extend(3 + utf8_size);
    *out++ = 'A';
    *out++ = static_cast<uint8_t>(utf8_size >> 8);
    *out++ = static_cast<uint8_t>(utf8_size);
    if (!a.latin1) {
        std::memcpy(out, a.bytes, a.size);
        return;
    }
    for (size_t i = 0; i < a.size; ++i) {
        uint8_t b = a.bytes[i];
        if (b < 0x80) {
            *out++ = b;
        } else {
            *out++ = static_cast<uint8_t>(0xC0 | b >> 6);
            *out++ = static_cast<uint8_t>(0x80 | (b & 0x3F));
        }
    }
}

}  // namespace detail

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
    detail::AtomText a;
    if (!u8(tag) || detail::Walker::read_atom(*this, tag, a)) return false;
    name = std::string_view(reinterpret_cast<const char*>(a.bytes), a.size);
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

Check Reader::check_skip() {
    detail::Walker w(*this);
    return w.run();
}

bool Reader::skip() { return check_skip().verdict == Verdict::valid; }

Check check_term(const uint8_t* data, size_t size, const DecoderNode& node) {
    if (size > 0 && data[0] == compressed) return Check{Verdict::unsupported, 0, "compressed term"};
    // A lone binary (a common payload) or scalar needs no walker.
    const uint8_t* p = data;
    uint64_t children = 0;
    if (plain_term(p, data + size, children) && children == 0 && p == data + size)
        return Check{Verdict::valid, size, ""};
    Reader r(data, size, node);
    Check c = r.check_skip();
    if (c.verdict == Verdict::valid && !r.at_end()) return Check{Verdict::invalid, r.pos(), "bytes after the term"};
    return c;
}

bool is_valid_term(const uint8_t* data, size_t size) { return check_term(data, size).verdict == Verdict::valid; }

bool is_valid_term(const uint8_t* data, size_t size, const DecoderNode& node) {
    return check_term(data, size, node).verdict == Verdict::valid;
}

bool is_pid(const uint8_t* data, size_t size, const DecoderNode& node) {
    if (size == 0 || (data[0] != new_pid && data[0] != Tag::pid)) return false;
    return is_valid_term(data, size, node);
}

bool is_pid(const uint8_t* data, size_t size) { return is_pid(data, size, DecoderNode{}); }

bool is_atom(const uint8_t* data, size_t size) {
    Reader r(data, size);
    std::string_view name;
    return r.atom(name) && r.at_end();
}

}  // namespace partisan::etf
