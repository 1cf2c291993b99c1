// Duplicate map keys, decided as binary_to_term/1 of OTP 25 decides them.
//
// A map of at most 32 pairs becomes a flatmap: its keys are sorted with the
// exact term order and two neighbours comparing equal refuse the map
// (erl_map.c erts_validate_and_sort_flatmap). A bigger map becomes a HAMT:
// keys are placed by their internal hash and compared with =:= where hashes
// meet (erts_hashmap_from_array). Both agree with the canonical forms below,
// with one exception found by the differential fuzzer: an external
// reference of one number word does not hash the same way twice (OTP 25
// seems to hash it as three words, two of them never written). So a big
// map may keep two equal keys holding one (even byte-identical ones), and
// two big maps holding one may compare unequal though equal (a small map
// kept two such maps as different keys). Equal keys holding such a
// reference anywhere are refused here as nondeterministic.
//
// A second one, also found by the differential fuzzer: OTP 25 hashes an
// external reference by its first three number words only, so in a map of
// more than 32 pairs two keys that differ only in a reference's fourth or
// fifth word collide completely, and binary_to_term crashes the BEAM
// (segmentation fault; measured with references alone, in tuples, in
// lists and in maps inside keys). A big map with such a reference anywhere
// in its keys is refused here (Outcome::crashes): stricter than needed,
// but such keys are rare (references of four or five words come from
// OTP 26 and later, and only as keys of maps of more than 32 pairs).
//
// Canonical forms (written by etf.cpp, one self-delimiting byte string per
// term; numbers big-endian unless said otherwise):
//   integer    'I' sign(0/1) length:varint magnitude(little-endian, no high zero bytes)
//   float      'F' IEEE bits, -0.0 as 0.0 (0.0 =:= -0.0 in OTP 25)
//   atom       'A' length:u16 UTF-8 text (Latin-1 atoms converted)
//   []         'N'
//   [H|T]      'C' H T          (STRING_EXT, LIST_EXT in any split, length 0)
//   tuple      'T' arity:u32 elements
//   bitstring  'B' bits:u64 bytes (unused low bits of the last byte zeroed)
//   pid        'P' node creation:u32 number:u32 serial:u32
//   port       'O' node creation:u32 number:u64
//   reference  'R' node creation:u32 count:u8 words (trailing zero words dropped)
//   export fun 'X' module function arity:u32 (its low 32 bits: all the export
//              table keeps)
//   fun        'U' module index:u32 old_uniq:u32 (low 32 bits) num_free:u32
//              free variables: what makes two funs equal in OTP 25, as
//              measured; the creator pid, uniq, arity and old index do not
//   map        'M' id:u32, id naming the canonical pairs sorted by key
#include "partisan/codec/etf_keys.hpp"

#include <numeric>

namespace partisan::etf::detail {

void KeyCanon::put_u32(uint32_t v) {
    const uint8_t b[] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
    buf_.append(b, sizeof b);
}

void KeyCanon::put_u64(uint64_t v) {
    put_u32(uint32_t(v >> 32));
    put_u32(uint32_t(v));
}

void KeyCanon::open_map(bool inside_key) {
    maps_.push_back(Open{buf_.size(), marks_.size(), long_refs_, inside_key});
}

void KeyCanon::begin_key() { marks_.push_back(Mark{buf_.size(), one_word_refs_, 0}); }

void KeyCanon::begin_value() {
    Mark& m = marks_.back();
    m.one_word_ref = m.value != one_word_refs_;
    m.value = buf_.size();
}

uint32_t KeyCanon::intern(std::string canonical_pairs) {
    if (!interned_) interned_ = std::make_unique<std::unordered_map<std::string, uint32_t>>();
    auto next = static_cast<uint32_t>(interned_->size());
    return interned_->try_emplace(std::move(canonical_pairs), next).first->second;
}

KeyCanon::Outcome KeyCanon::close_map() {
    const Open open = maps_.back();
    maps_.pop_back();
    const size_t n = marks_.size() - open.marks;
    const Mark* mk = marks_.data() + open.marks;
    const size_t end = buf_.size();
    constexpr size_t small_map_limit = 32;  // MAP_SMALL_MAP_LIMIT: bigger maps are HAMTs
    if (n > small_map_limit && long_refs_ != open.long_refs) return Outcome::crashes;
    auto key = [&](size_t i) { return span(mk[i].key, mk[i].value); };
    auto value = [&](size_t i) { return span(mk[i].value, i + 1 < n ? mk[i + 1].key : end); };

    // Any strict total order brings equal keys together; shorter first is
    // cheaper to test than lexicographic order.
    order_.resize(n);
    std::iota(order_.data(), order_.data() + n, uint32_t{0});
    std::sort(order_.data(), order_.data() + n, [&](uint32_t a, uint32_t b) {
        auto ka = key(a), kb = key(b);
        return ka.size() != kb.size() ? ka.size() < kb.size() : ka < kb;
    });
    for (size_t i = 1; i < n; ++i) {
        uint32_t a = order_[i - 1], b = order_[i];
        if (key(a) != key(b)) continue;
        return mk[a].one_word_ref || mk[b].one_word_ref ? Outcome::nondeterministic : Outcome::duplicate;
    }

    if (open.inside_key) {
        std::string pairs;
        pairs.reserve(end - open.region);
        for (size_t i = 0; i < n; ++i) {
            pairs += key(order_[i]);
            pairs += value(order_[i]);
        }
        uint32_t id = intern(std::move(pairs));
        buf_.resize(open.region);
        put('M');
        put_u32(id);
    } else {
        buf_.resize(open.region);
    }
    marks_.resize(open.marks);
    return Outcome::distinct;
}

}  // namespace partisan::etf::detail
