// The bounded term reader and validator: what binary_to_term/1 of OTP 25
// decodes is accepted, anything else is refused without reading out of
// bounds. Each rule has a case that passes and one that does not; the
// verdicts were taken from the BEAM (see test/fuzz/fuzz_etf_differential.cpp).
#include "partisan/codec/etf.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"
#include <ei.h>

#include <cstring>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

using namespace partisan;

namespace {

using Bytes = std::vector<uint8_t>;

using test::encode;

void nested(ei_x_buff& x) {
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, "hello");
    ei_x_encode_list_header(&x, 2);
    ei_x_encode_long(&x, 42);
    ei_x_encode_double(&x, 3.5);
    ei_x_encode_empty_list(&x);
    ei_x_encode_map_header(&x, 1);
    ei_x_encode_binary(&x, "key", 3);
    ei_x_encode_string(&x, "value");
    ei_x_encode_longlong(&x, -1234567890123LL);
    ei_x_encode_ulonglong(&x, 18446744073709551615ULL);
}

// Concatenates pieces: bytes, and strings taken as their bytes.
struct Piece {
    Bytes b;
    Piece(std::initializer_list<int> v) {
        for (int x : v) b.push_back(static_cast<uint8_t>(x));
    }
    Piece(const char* s) : b(s, s + std::strlen(s)) {}
    Piece(const Bytes& v) : b(v) {}
};

Bytes cat(std::initializer_list<Piece> pieces) {
    Bytes out;
    for (const Piece& p : pieces) out.insert(out.end(), p.b.begin(), p.b.end());
    return out;
}

Bytes u32(uint32_t v) { return {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)}; }
Bytes u16(uint16_t v) { return {uint8_t(v >> 8), uint8_t(v)}; }
Bytes repeat(const Bytes& b, size_t n) {
    Bytes out;
    for (size_t i = 0; i < n; ++i) out.insert(out.end(), b.begin(), b.end());
    return out;
}

Bytes utf8_atom(const std::string& name) { return cat({{etf::small_atom_utf8, int(name.size())}, name.c_str()}); }

// The decoding node of these tests.
const etf::DecoderNode beam{"beam@host", 0x12345678, true};
const Bytes beam_atom = utf8_atom("beam@host");
const Bytes other_atom = utf8_atom("other@host");

etf::Verdict verdict(const Bytes& t, const etf::DecoderNode& node = beam) {
    return etf::check_term(t.data(), t.size(), node).verdict;
}

bool valid(const Bytes& t, const etf::DecoderNode& node = beam) { return verdict(t, node) == etf::Verdict::valid; }
bool invalid(const Bytes& t) { return verdict(t) == etf::Verdict::invalid; }
bool unsupported(const Bytes& t) { return verdict(t) == etf::Verdict::unsupported; }

Bytes map_of(std::initializer_list<Bytes> keys) {
    Bytes m = cat({{etf::map}, u32(static_cast<uint32_t>(keys.size()))});
    for (const Bytes& k : keys) m = cat({m, k, {etf::nil}});
    return m;
}

// A map of more than 32 pairs: the keys given plus distinct fillers.
Bytes big_map_of(std::initializer_list<Bytes> keys) {
    Bytes m = cat({{etf::map}, u32(static_cast<uint32_t>(keys.size() + 40))});
    for (const Bytes& k : keys) m = cat({m, k, {etf::nil}});
    for (uint32_t i = 0; i < 40; ++i) m = cat({m, {etf::integer}, u32(1000 + i), {etf::nil}});
    return m;
}

Bytes pid_ext(const Bytes& node, uint32_t num, uint32_t serial, uint32_t creation) {
    return cat({{etf::new_pid}, node, u32(num), u32(serial), u32(creation)});
}

Bytes newer_ref(const Bytes& node, uint32_t creation, std::initializer_list<uint32_t> words) {
    Bytes r = cat({{etf::newer_reference}, u16(static_cast<uint16_t>(words.size())), node, u32(creation)});
    for (uint32_t w : words) r = cat({r, u32(w)});
    return r;
}

Bytes float_ext(const char* text) {
    Bytes f = {etf::float_ext};
    Bytes field(31, 0);
    std::memcpy(field.data(), text, std::min<size_t>(std::strlen(text), 31));
    return cat({f, field});
}

Bytes new_fun(uint32_t num_free, const Bytes& module, const Bytes& old_index, const Bytes& old_uniq,
              const Bytes& creator, const Bytes& free, uint32_t size = 0, uint32_t index = 0, uint8_t uniq = 1) {
    Bytes uniq16(16, uniq);
    return cat({{etf::new_fun}, u32(size), {1}, uniq16, u32(index), u32(num_free), module, old_index, old_uniq, creator,
                free});
}

}  // namespace

TEST_CASE("a nested term is one valid term, and every prefix is not") {
    auto bytes = encode(nested);
    REQUIRE(etf::is_valid_term(bytes.data(), bytes.size()));
    for (size_t cut = 0; cut < bytes.size(); ++cut) REQUIRE_FALSE(etf::is_valid_term(bytes.data(), cut));
    bytes.push_back(etf::nil);
    REQUIRE_FALSE(etf::is_valid_term(bytes.data(), bytes.size()));  // trailing bytes
}

TEST_CASE("pids and atoms are recognised as destinations") {
    erlang_pid pid{};
    std::strcpy(pid.node, "a@host");
    pid.num = 7;
    pid.serial = 1;
    pid.creation = 3;
    ei_x_buff x;
    ei_x_new(&x);
    ei_x_encode_pid(&x, &pid);
    REQUIRE(etf::is_pid(reinterpret_cast<uint8_t*>(x.buff), static_cast<size_t>(x.index)));
    REQUIRE_FALSE(etf::is_atom(reinterpret_cast<uint8_t*>(x.buff), static_cast<size_t>(x.index)));
    ei_x_free(&x);
    auto atom = encode([](ei_x_buff& b) { ei_x_encode_atom(&b, "my_server"); });
    REQUIRE(etf::is_atom(atom.data(), atom.size()));
    REQUIRE_FALSE(etf::is_pid(atom.data(), atom.size()));
    etf::Reader r(atom.data(), atom.size());
    std::string_view name;
    REQUIRE(r.atom(name));
    REQUIRE(name == "my_server");
}

TEST_CASE("integers are read within bounds") {
    auto small = encode([](ei_x_buff& b) { ei_x_encode_long(&b, 200); });
    auto medium = encode([](ei_x_buff& b) { ei_x_encode_long(&b, 134217727); });
    auto big = encode([](ei_x_buff& b) { ei_x_encode_ulonglong(&b, 1ULL << 40); });
    auto negative = encode([](ei_x_buff& b) { ei_x_encode_long(&b, -5); });
    uint64_t v = 0;
    REQUIRE((etf::Reader(small.data(), small.size()).uint(v) && v == 200));
    REQUIRE((etf::Reader(medium.data(), medium.size()).uint(v) && v == 134217727));
    REQUIRE((etf::Reader(big.data(), big.size()).uint(v) && v == (1ULL << 40)));
    REQUIRE_FALSE(etf::Reader(negative.data(), negative.size()).uint(v));
}

TEST_CASE("length fields that promise more than the buffer holds are refused") {
    // A list claiming 2^32-1 elements in 6 bytes: refused at once, not walked.
    const uint8_t list_bomb[] = {etf::list, 0xff, 0xff, 0xff, 0xff, etf::nil};
    REQUIRE_FALSE(etf::is_valid_term(list_bomb, sizeof list_bomb));
    const uint8_t binary_lie[] = {etf::binary, 0, 0, 1, 0, 'x'};
    REQUIRE_FALSE(etf::is_valid_term(binary_lie, sizeof binary_lie));
    const uint8_t long_atom[] = {etf::atom_utf8, 0xff, 0xff, 'a'};
    REQUIRE_FALSE(etf::is_valid_term(long_atom, sizeof long_atom));
    const uint8_t cache_ref[] = {etf::atom_cache_ref, 1};
    REQUIRE_FALSE(etf::is_valid_term(cache_ref, sizeof cache_ref));
}

TEST_CASE("atoms: Latin-1 up to 255 bytes, UTF-8 well formed up to 255 characters") {
    // The probe that started this: a destination atom 77 01 ff.
    const Bytes ff = {etf::small_atom_utf8, 1, 0xff};
    CHECK(invalid(ff));
    CHECK_FALSE(etf::is_atom(ff.data(), ff.size()));
    std::string_view name;
    CHECK_FALSE(etf::Reader(ff.data(), ff.size()).atom(name));
    CHECK(valid({etf::small_atom, 1, 0xff}));  // Latin-1 y with diaeresis
    CHECK(valid(cat({{etf::atom}, u16(255), repeat({'a'}, 255)})));
    CHECK(invalid(cat({{etf::atom}, u16(256), repeat({'a'}, 256)})));
    CHECK(valid(cat({{etf::small_atom, 255}, repeat({0xe9}, 255)})));
    CHECK(valid(cat({{etf::atom_utf8}, u16(255 * 4), repeat({0xf0, 0x9f, 0x98, 0x80}, 255)})));
    CHECK(invalid(cat({{etf::atom_utf8}, u16(256), repeat({'a'}, 256)})));
    CHECK(valid(cat({{etf::atom_utf8}, u16(510), repeat({0xc3, 0xa9}, 255)})));
    CHECK(invalid(cat({{etf::atom_utf8}, u16(512), repeat({0xc3, 0xa9}, 256)})));
    CHECK(valid({etf::small_atom_utf8, 0}));
    CHECK(valid({etf::small_atom_utf8, 1, 0}));
    CHECK(valid({etf::small_atom_utf8, 3, 0xef, 0xbf, 0xbe}));        // U+FFFE
    CHECK(valid({etf::small_atom_utf8, 4, 0xf4, 0x8f, 0xbf, 0xbf}));  // U+10FFFF
    CHECK(invalid({etf::small_atom_utf8, 4, 0xf4, 0x90, 0x80, 0x80}));  // above U+10FFFF
    CHECK(invalid({etf::small_atom_utf8, 2, 0xc0, 0x80}));              // overlong
    CHECK(invalid({etf::small_atom_utf8, 3, 0xe0, 0x9f, 0xbf}));        // overlong
    CHECK(invalid({etf::small_atom_utf8, 4, 0xf0, 0x8f, 0xbf, 0xbf}));  // overlong
    CHECK(invalid({etf::small_atom_utf8, 3, 0xed, 0xa0, 0x80}));        // surrogate
    CHECK(invalid({etf::small_atom_utf8, 1, 0x80}));                    // lone continuation
    CHECK(invalid({etf::small_atom_utf8, 2, 'a', 0xc3}));               // cut short
    CHECK(invalid({etf::atom_cache_ref, 0}));
    // An atom by its index in the BEAM's atom table: OTP 25 takes it.
    CHECK(unsupported({etf::atom_internal_ref2, 1, 0}));
    CHECK(unsupported({etf::atom_internal_ref3, 0, 1, 0}));
    CHECK(unsupported(cat({{etf::new_pid, etf::atom_internal_ref2, 1, 0}, u32(1), u32(0), u32(1)})));
    const Bytes index_atom = {etf::atom_internal_ref2, 1, 0};
    CHECK_FALSE(etf::is_atom(index_atom.data(), index_atom.size()));
}

TEST_CASE("integers: any sign byte, zero digits, bignum length limit") {
    CHECK(valid({etf::small_big, 0, 0}));
    CHECK(valid({etf::small_big, 0, 1}));
    CHECK(valid({etf::small_big, 1, 2, 5}));
    CHECK(valid({etf::small_big, 1, 255, 5}));
    CHECK(valid({etf::small_big, 3, 1, 0, 0, 0}));
    CHECK(valid({etf::large_big, 0, 0, 0, 0, 0}));
    uint32_t limit = ((1u << 19) - 1) * 8;
    Bytes at_limit = cat({{etf::large_big}, u32(limit), {0}, Bytes(limit, 0)});
    at_limit.back() = 1;
    CHECK(valid(at_limit));
    Bytes over = cat({{etf::large_big}, u32(limit + 1), {0}, Bytes(limit + 1, 0)});
    over.back() = 1;
    CHECK(invalid(over));
}

TEST_CASE("floats: no NaN or infinity, FLOAT_EXT text as the BEAM scans it") {
    CHECK(valid({etf::new_float, 0x80, 0, 0, 0, 0, 0, 0, 0}));              // -0.0
    CHECK(valid({etf::new_float, 0, 0, 0, 0, 0, 0, 0, 1}));                 // subnormal
    CHECK(invalid({etf::new_float, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0}));         // infinity
    CHECK(invalid({etf::new_float, 0xff, 0xf8, 0, 0, 0, 0, 0, 0}));         // NaN
    CHECK(valid(float_ext("1.50000000000000000000e+00")));
    CHECK(valid(float_ext("1,5")));
    CHECK(valid(float_ext("+1.5")));
    CHECK(valid(float_ext("-0.0")));
    CHECK(valid(float_ext("1.5e-3")));
    CHECK(valid(float_ext("1.0e-400")));  // underflows to 0.0
    CHECK(valid(float_ext("1.0e-310")));  // subnormal
    CHECK(invalid(float_ext("1.0e309")));
    CHECK(invalid(float_ext(".5")));
    CHECK(invalid(float_ext("1.")));
    CHECK(invalid(float_ext("1")));
    CHECK(invalid(float_ext("1.5e")));
    CHECK(invalid(float_ext(" 1.5")));
    CHECK(invalid(float_ext("1.5 ")));
    CHECK(invalid(float_ext("inf")));
    CHECK(invalid(float_ext("0x1.0p3")));
    Bytes after_nul = float_ext("1.5");
    after_nul[10] = 'x';  // ignored: after the NUL
    CHECK(valid(after_nul));
    // 31 digits and no NUL: the BEAM reads on past the field.
    CHECK(unsupported(cat({{etf::float_ext}, "1.", repeat({'5'}, 29)})));
}

TEST_CASE("pids: old creation at most 3; local ones within 15/13 bits") {
    CHECK(valid(pid_ext(other_atom, 0xffffffff, 0xffffffff, 7)));
    CHECK(valid(pid_ext(utf8_atom(""), 1, 0, 1)));  // any atom is a node
    CHECK(valid(pid_ext(utf8_atom("no_at_sign"), 1, 0, 1)));
    CHECK(invalid(cat({{etf::new_pid, etf::small_integer, 1}, u32(1), u32(0), u32(1)})));
    CHECK(valid(cat({{etf::pid}, other_atom, u32(1), u32(0), {3}})));
    CHECK(invalid(cat({{etf::pid}, other_atom, u32(1), u32(0), {4}})));
    CHECK(valid(pid_ext(beam_atom, 32767, 8191, beam.creation)));
    CHECK(invalid(pid_ext(beam_atom, 32768, 0, beam.creation)));
    CHECK(invalid(pid_ext(beam_atom, 0, 8192, beam.creation)));
    // The node's name with another creation (0 included) is another node.
    CHECK(valid(pid_ext(beam_atom, 0xff000001, 0, 0)));
    CHECK(valid(pid_ext(beam_atom, 0xff000001, 0, 5)));
    // Not knowing the creation, or the node, the local limits hold for all.
    Bytes remote_big = pid_ext(beam_atom, 0xff000001, 0, 5);
    CHECK(verdict(remote_big, etf::DecoderNode{"beam@host", 0, false}) == etf::Verdict::unsupported);
    CHECK(verdict(pid_ext(other_atom, 0xff000001, 0, 5), etf::DecoderNode{}) == etf::Verdict::unsupported);
    CHECK(valid(pid_ext(other_atom, 0xff000001, 0, 5), etf::DecoderNode{"beam@host", 0, false}));
    // A Latin-1 node atom names the same node as its UTF-8 form.
    Bytes latin1_node = cat({{etf::atom}, u16(9), "beam@host"});
    CHECK(invalid(pid_ext(latin1_node, 32768, 0, beam.creation)));
    CHECK(etf::is_pid(remote_big.data(), remote_big.size(), beam));
    // Also when the name is not ASCII: e@h with an acute accent.
    const etf::DecoderNode accented{"\xc3\xa9@h", 9, true};
    Bytes latin1_accented = cat({{etf::small_atom, 3, 0xe9}, "@h"});
    Bytes utf8_accented = cat({{etf::small_atom_utf8, 4, 0xc3, 0xa9}, "@h"});
    CHECK(verdict(pid_ext(latin1_accented, 32768, 0, 9), accented) == etf::Verdict::invalid);
    CHECK(verdict(pid_ext(utf8_accented, 32768, 0, 9), accented) == etf::Verdict::invalid);
    CHECK(valid(pid_ext(cat({{etf::small_atom, 3, 0xe8}, "@h"}), 32768, 0, 9), accented));
    CHECK(valid(pid_ext(cat({{etf::small_atom, 2, 0xe9}, "@"}), 32768, 0, 9), accented));
}

TEST_CASE("ports: old creation at most 3; local numbers within 28 bits") {
    CHECK(valid(cat({{etf::new_port}, other_atom, u32(0xffffffff), u32(7)})));
    CHECK(valid(cat({{etf::v4_port}, other_atom, u32(0xffffffff), u32(0xffffffff), u32(7)})));
    CHECK(valid(cat({{etf::port}, other_atom, u32(1), {3}})));
    CHECK(invalid(cat({{etf::port}, other_atom, u32(1), {4}})));
    CHECK(valid(cat({{etf::new_port}, beam_atom, u32((1u << 28) - 1), u32(beam.creation)})));
    CHECK(invalid(cat({{etf::new_port}, beam_atom, u32(1u << 28), u32(beam.creation)})));
    CHECK(invalid(cat({{etf::v4_port}, beam_atom, u32(1), u32(0), u32(beam.creation)})));
}

TEST_CASE("references: 1 to 5 words, first word limits, local ones up to 3 words") {
    CHECK(valid(cat({{etf::reference}, other_atom, u32((1u << 18) - 1), {3}})));
    CHECK(invalid(cat({{etf::reference}, other_atom, u32(1u << 18), {3}})));
    CHECK(invalid(cat({{etf::reference}, other_atom, u32(1), {4}})));
    CHECK(valid(cat({{etf::new_reference}, u16(5), other_atom, {3}, u32(1), u32(0), u32(0), u32(0), u32(0)})));
    CHECK(invalid(cat({{etf::new_reference}, u16(6), other_atom, {3}, repeat(u32(0), 6)})));
    CHECK(invalid(cat({{etf::new_reference}, u16(1), other_atom, {3}, u32(1u << 18)})));
    CHECK(invalid(cat({{etf::new_reference}, u16(1), other_atom, {4}, u32(1)})));
    CHECK(valid(newer_ref(other_atom, 7, {0xffffffff})));
    CHECK(valid(newer_ref(other_atom, 7, {1, 2, 3, 4, 5})));
    CHECK(invalid(cat({{etf::newer_reference}, u16(6), other_atom, u32(7), repeat(u32(0), 6)})));
    CHECK(valid(newer_ref(beam_atom, beam.creation, {(1u << 18) - 1, 0x10000, 0})));  // a pid marker is fine
    CHECK(invalid(newer_ref(beam_atom, beam.creation, {1u << 18, 0, 0})));
    CHECK(invalid(newer_ref(beam_atom, beam.creation, {1, 0, 0, 3})));
    CHECK(invalid(newer_ref(beam_atom, beam.creation, {1, 0x10000, 0, 3, 0})));
    CHECK(valid(newer_ref(beam_atom, 0, {1u << 18, 0, 0})));  // another incarnation
    // No words: OTP 25 reads a word past the term (and may crash).
    CHECK(unsupported(cat({{etf::newer_reference}, u16(0), other_atom, u32(7)})));
    CHECK(unsupported(cat({{etf::new_reference}, u16(0), other_atom, {3}, u32(0)})));
}

TEST_CASE("funs: export arity a non-negative small, NEW_FUN_EXT fields") {
    Bytes m = utf8_atom("m"), f = utf8_atom("f");
    CHECK(valid(cat({{etf::export_ext}, m, f, {etf::small_integer, 0}})));
    CHECK(valid(cat({{etf::export_ext}, m, f, {etf::integer}, u32(0x7fffffff)})));
    CHECK(invalid(cat({{etf::export_ext}, m, f, {etf::integer}, u32(0xffffffff)})));  // -1
    CHECK(valid(cat({{etf::export_ext}, m, f, {etf::small_big, 8, 0, 255, 255, 255, 255, 255, 255, 255, 7}})));
    CHECK(invalid(cat({{etf::export_ext}, m, f, {etf::small_big, 8, 0, 0, 0, 0, 0, 0, 0, 0, 8}})));  // 2^59
    CHECK(invalid(cat({{etf::export_ext}, m, f, {etf::small_big, 1, 1, 5}})));
    CHECK(invalid(cat({{etf::export_ext}, m, f, m})));
    CHECK(invalid(cat({{etf::export_ext}, {etf::small_integer, 1}, f, {etf::small_integer, 0}})));
    CHECK(valid(cat({{etf::export_ext}, {etf::atom}, u16(1), "m", {etf::small_atom, 1}, "f", {etf::small_integer, 2}})));

    Bytes zero = {etf::small_integer, 0};
    Bytes creator = pid_ext(other_atom, 1, 0, 1);
    Bytes one_free = {etf::small_integer, 7};
    CHECK(valid(new_fun(1, m, zero, zero, creator, one_free)));
    CHECK(valid(new_fun(1, m, zero, zero, creator, one_free, 0xffffffff)));  // Size is not checked
    CHECK(valid(new_fun(0, m, zero, zero, creator, {})));
    CHECK(valid(new_fun(255, m, zero, zero, creator, repeat({etf::nil}, 255))));
    CHECK(invalid(new_fun(256, m, zero, zero, creator, repeat({etf::nil}, 256))));
    CHECK(invalid(new_fun(1, zero, zero, zero, creator, one_free)));
    CHECK(invalid(new_fun(1, m, m, zero, creator, one_free)));
    CHECK(valid(new_fun(1, m, cat({{etf::integer}, u32(0xffffffff)}), zero, creator, one_free)));
    CHECK(invalid(new_fun(1, m, zero, {etf::new_float, 0, 0, 0, 0, 0, 0, 0, 0}, creator, one_free)));
    CHECK(valid(new_fun(1, m, zero, zero, {etf::small_tuple, 0}, one_free)));  // any term as creator
    CHECK(invalid(new_fun(1, m, zero, zero, pid_ext(beam_atom, 65536, 0, beam.creation), one_free)));
    CHECK(invalid(cat({{etf::fun}, u32(0), creator, m, zero, zero})));  // FUN_EXT
}

TEST_CASE("bit binaries, lists, strings, tuples") {
    CHECK(valid({etf::bit_binary, 0, 0, 0, 0, 0}));
    CHECK(invalid({etf::bit_binary, 0, 0, 0, 0, 8}));
    CHECK(invalid({etf::bit_binary, 0, 0, 0, 1, 0, 5}));
    CHECK(valid({etf::bit_binary, 0, 0, 0, 1, 8, 5}));
    CHECK(valid({etf::bit_binary, 0, 0, 0, 1, 3, 0xff}));  // unused bits ignored
    CHECK(invalid({etf::bit_binary, 0, 0, 0, 1, 9, 5}));
    CHECK(valid({etf::list, 0, 0, 0, 0, etf::nil}));
    CHECK(valid({etf::list, 0, 0, 0, 0, etf::small_integer, 1}));  // just its tail
    CHECK(valid({etf::list, 0, 0, 0, 1, etf::small_integer, 1, etf::small_integer, 2}));  // improper
    CHECK(valid({etf::string, 0, 0}));
    CHECK(valid({etf::small_tuple, 0}));
    CHECK(valid({etf::large_tuple, 0, 0, 0, 0}));
    CHECK(invalid({etf::small_tuple, 2, etf::nil}));
    CHECK(valid({etf::map, 0, 0, 0, 0}));
    CHECK(invalid({200}));  // unknown tag
}

TEST_CASE("compressed terms and trailing bytes are refused") {
    CHECK(unsupported({etf::compressed, 0, 0, 0, 1, 0x78, 0x9c, 0xcb, 0x02, 0x00, 0x00, 0x6b, 0x00, 0x6b}));
    CHECK(invalid({etf::nil, etf::nil}));
}

TEST_CASE("map keys equal as terms are duplicates, however encoded") {
    Bytes one_small = {etf::small_integer, 1};
    CHECK(valid(map_of({one_small, {etf::small_integer, 2}})));
    CHECK(invalid(map_of({one_small, one_small})));
    CHECK(invalid(map_of({one_small, cat({{etf::integer}, u32(1)})})));
    CHECK(invalid(map_of({one_small, {etf::small_big, 1, 0, 1}})));
    CHECK(invalid(map_of({one_small, {etf::small_big, 3, 0, 1, 0, 0}})));
    CHECK(invalid(map_of({one_small, {etf::large_big, 0, 0, 0, 1, 0, 1}})));
    CHECK(invalid(map_of({{etf::small_integer, 0}, {etf::small_big, 0, 1}})));
    CHECK(invalid(map_of({cat({{etf::integer}, u32(0xffffffff)}), {etf::small_big, 1, 7, 1}})));
    CHECK(valid(map_of({one_small, {etf::new_float, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}})));  // 1 =/= 1.0
    CHECK(invalid(map_of({{etf::new_float, 0, 0, 0, 0, 0, 0, 0, 0}, {etf::new_float, 0x80, 0, 0, 0, 0, 0, 0, 0}})));
    CHECK(invalid(map_of({{etf::new_float, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}, float_ext("1.5")})));
    CHECK(invalid(map_of({cat({{etf::atom}, u16(1), "a"}), {etf::small_atom_utf8, 1, 'a'}})));
    CHECK(invalid(map_of({{etf::small_atom, 1, 0xe9}, {etf::small_atom_utf8, 2, 0xc3, 0xa9}})));
    CHECK(valid(map_of({{etf::small_atom, 1, 0xe9}, {etf::small_atom_utf8, 1, 'e'}})));
    Bytes ab_string = {etf::string, 0, 2, 'a', 'b'};
    CHECK(invalid(map_of({ab_string, {etf::list, 0, 0, 0, 2, 97, 'a', 97, 'b', etf::nil}})));
    CHECK(invalid(map_of({ab_string, {etf::list, 0, 0, 0, 1, 97, 'a', etf::string, 0, 1, 'b'}})));
    CHECK(invalid(map_of({ab_string, {etf::list, 0, 0, 0, 1, 97, 'a', etf::list, 0, 0, 0, 1, 97, 'b', etf::nil}})));
    CHECK(invalid(map_of({{etf::nil}, {etf::string, 0, 0}})));
    CHECK(invalid(map_of({{etf::small_integer, 5}, {etf::list, 0, 0, 0, 0, etf::small_integer, 5}})));
    CHECK(invalid(map_of({{etf::binary, 0, 0, 0, 1, 5}, {etf::bit_binary, 0, 0, 0, 1, 8, 5}})));
    CHECK(invalid(map_of({{etf::binary, 0, 0, 0, 0}, {etf::bit_binary, 0, 0, 0, 0, 0}})));
    CHECK(invalid(map_of({{etf::bit_binary, 0, 0, 0, 1, 3, 0xe0}, {etf::bit_binary, 0, 0, 0, 1, 3, 0xff}})));
    CHECK(valid(map_of({{etf::bit_binary, 0, 0, 0, 1, 3, 0xe0}, {etf::bit_binary, 0, 0, 0, 1, 4, 0xe0}})));
    CHECK(invalid(map_of({{etf::small_tuple, 1, 97, 1}, {etf::large_tuple, 0, 0, 0, 1, 97, 1}})));
    Bytes m12 = {etf::map, 0, 0, 0, 2, 97, 1, 97, 1, 97, 2, 97, 2};
    Bytes m21 = {etf::map, 0, 0, 0, 2, 97, 2, 97, 2, 97, 1, 97, 1};
    CHECK(invalid(map_of({m12, m21})));
    CHECK(valid(map_of({{etf::map, 0, 0, 0, 1, 97, 1, 97, 1}, {etf::map, 0, 0, 0, 1, 97, 1, 97, 2}})));
    CHECK(invalid(map_of({cat({{etf::pid}, other_atom, u32(1), u32(2), {3}}), pid_ext(other_atom, 1, 2, 3)})));
    CHECK(valid(map_of({pid_ext(beam_atom, 1, 2, beam.creation), pid_ext(beam_atom, 1, 2, 0)})));
    CHECK(invalid(map_of({cat({{etf::port}, other_atom, u32(1), {3}}),
                          cat({{etf::v4_port}, other_atom, u32(0), u32(1), u32(3)})})));
    CHECK(unsupported(map_of({newer_ref(other_atom, 3, {5}), newer_ref(other_atom, 3, {5, 0, 0})})));
    CHECK(invalid(map_of({newer_ref(other_atom, 3, {5, 0}), newer_ref(other_atom, 3, {5, 0, 0})})));
    CHECK(invalid(map_of({newer_ref(beam_atom, beam.creation, {5}), newer_ref(beam_atom, beam.creation, {5, 0})})));
    CHECK(invalid(map_of({cat({{etf::export_ext}, {etf::atom}, u16(1), "m", {etf::atom}, u16(1), "f", {97, 1}}),
                          cat({{etf::export_ext}, utf8_atom("m"), {etf::small_atom, 1}, "f", {98}, u32(1)})})));
    // Only 32 bits of an export's arity are kept.
    Bytes mf = cat({utf8_atom("m"), utf8_atom("f")});
    CHECK(invalid(map_of({cat({{etf::export_ext}, mf, {97, 1}}),
                          cat({{etf::export_ext}, mf, {etf::small_big, 5, 0, 1, 0, 0, 0, 1}})})));
    CHECK(valid(map_of({cat({{etf::export_ext}, mf, {97, 1}}), cat({{etf::export_ext}, mf, {97, 2}})})));
}

TEST_CASE("funs as map keys: module, index, old uniq and free variables decide") {
    Bytes m = utf8_atom("zz"), zero = {etf::small_integer, 0}, five = {etf::small_integer, 5};
    Bytes creator = pid_ext(other_atom, 9, 0, 1), env = {etf::small_integer, 7};
    Bytes fun = new_fun(1, m, zero, five, creator, env);
    CHECK(invalid(map_of({fun, new_fun(1, m, {etf::small_integer, 1}, five, creator, env)})));  // old index
    CHECK(invalid(map_of({fun, new_fun(1, m, zero, five, {etf::small_integer, 1}, env)})));  // creator
    CHECK(invalid(map_of({fun, new_fun(1, m, zero, five, creator, env, 0, 0, 2)})));  // uniq
    CHECK(valid(map_of({fun, new_fun(1, m, zero, five, creator, env, 0, 9)})));  // index
    CHECK(valid(map_of({fun, new_fun(1, m, zero, {etf::small_integer, 6}, creator, env)})));  // old uniq
    // ... of which the fun table keeps 32 bits.
    CHECK(invalid(map_of({fun, new_fun(1, m, zero, {etf::small_big, 5, 0, 5, 0, 0, 0, 1}, creator, env)})));
    CHECK(valid(map_of({fun, new_fun(1, m, zero, five, creator, {etf::small_integer, 8})})));  // free variable
}

TEST_CASE("equal keys holding a one-word external reference are nondeterministic") {
    Bytes r1 = newer_ref(other_atom, 3, {5}), r3 = newer_ref(other_atom, 3, {5, 0, 0});
    CHECK(unsupported(big_map_of({r1, r1})));
    CHECK(unsupported(big_map_of({r1, r3})));
    CHECK(invalid(big_map_of({r3, newer_ref(other_atom, 3, {5, 0})})));
    // Two big maps holding one: a small map may take them for different keys.
    CHECK(unsupported(map_of({big_map_of({r1}), big_map_of({r3})})));
    CHECK(invalid(big_map_of({{etf::small_integer, 1}, {etf::small_big, 1, 0, 1}})));
    CHECK(valid(big_map_of({r1, newer_ref(other_atom, 3, {6})})));
    // Local references are padded to three words: their hash is defined.
    CHECK(invalid(big_map_of({newer_ref(beam_atom, beam.creation, {5}), newer_ref(beam_atom, beam.creation, {5})})));
}

TEST_CASE("big maps with keys holding references of more than three words crash OTP 25: refused") {
    // Found by the differential fuzzer: such keys hash alike when they
    // differ only past the third word, and binary_to_term segfaults.
    Bytes r5 = newer_ref(other_atom, 3, {5, 3, 3, 3, 3}), r3 = newer_ref(other_atom, 3, {5, 3, 3});
    Bytes r4 = newer_ref(other_atom, 3, {5, 3, 3, 4});
    CHECK(unsupported(big_map_of({r5, r3})));
    CHECK(unsupported(big_map_of({r4})));
    CHECK(unsupported(big_map_of({cat({{etf::small_tuple, 1}, r5}), cat({{etf::small_tuple, 1}, r3})})));
    CHECK(unsupported(big_map_of({map_of({r5}), map_of({r3})})));  // in maps inside keys
    // Small maps sort by term order: the BEAM tells them apart.
    CHECK(valid(map_of({r5, r3})));
    // Trailing zero words do not count; three words hash fully.
    CHECK(valid(big_map_of({newer_ref(other_atom, 3, {5, 3, 3, 0, 0}), newer_ref(other_atom, 3, {5, 3, 4})})));
    // As values they are fine.
    Bytes m = cat({{etf::map}, u32(40)});
    for (uint32_t i = 0; i < 40; ++i) m = cat({m, {etf::integer}, u32(i), r5});
    CHECK(valid(m));
}

TEST_CASE("maps nested in keys are compared without blowing up") {
    // #{#{#{...} => 0} => 0, 1 => 0}, 100000 maps deep in a key: each is
    // written once, then stands for itself by a number.
    const int depth = 100000;
    Bytes deep = cat({repeat(cat({{etf::map}, u32(1)}), depth), {etf::nil}, repeat({etf::small_integer, 0}, depth)});
    CHECK(valid(map_of({deep, {etf::small_integer, 1}})));
    CHECK(invalid(map_of({deep, deep})));
    // Equal keys down to the bottom, and keys that differ only there.
    Bytes a = {etf::small_integer, 1}, b = {etf::small_integer, 1}, c = {etf::small_integer, 2};
    for (int i = 0; i < 200; ++i) {
        a = cat({{etf::map}, u32(1), {etf::small_integer, 0}, a});
        b = cat({{etf::map}, u32(1), {etf::integer}, u32(0), b});
        c = cat({{etf::map}, u32(1), {etf::small_integer, 0}, c});
    }
    CHECK(invalid(map_of({a, b})));
    CHECK(valid(map_of({a, c})));
}

TEST_CASE("skip validates one term and stops at its end") {
    Bytes two = {etf::small_integer, 1, etf::small_atom_utf8, 1, 0xff};
    etf::Reader r(two.data(), two.size());
    CHECK(r.skip());
    CHECK(r.pos() == 2);
    CHECK_FALSE(r.skip());
    etf::Reader r2(two.data() + 2, 3);
    etf::Check c = r2.check_skip();
    CHECK(c.verdict == etf::Verdict::invalid);
    CHECK(std::string(c.why) == "atom is not valid UTF-8");
}

TEST_CASE("random bytes never make the validator read out of bounds") {
    // Run under ASan in the sanitizer build; here it must simply not crash.
    std::mt19937 rng(12345);
    auto seed = encode(nested);
    for (int round = 0; round < 20000; ++round) {
        std::vector<uint8_t> b = seed;
        int flips = 1 + static_cast<int>(rng() % 4);
        for (int i = 0; i < flips; ++i) b[rng() % b.size()] = static_cast<uint8_t>(rng());
        b.resize(rng() % (b.size() + 1));
        std::vector<uint8_t> exact(b.begin(), b.end());  // heap copy: ASan sees its end
        (void)etf::is_valid_term(exact.data(), exact.size());
    }
    SUCCEED();
}
