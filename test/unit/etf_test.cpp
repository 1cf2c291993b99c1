// The bounded term reader: what the BEAM encodes is accepted, anything cut
// short or malformed is refused without reading out of bounds.
#include "partisan/etf.hpp"

#include <catch2/catch.hpp>
#include <ei.h>

#include <cstring>
#include <random>
#include <vector>

using namespace partisan;

namespace {

std::vector<uint8_t> encode(void (*fill)(ei_x_buff&)) {
    ei_x_buff x;
    ei_x_new(&x);
    fill(x);
    std::vector<uint8_t> out(x.buff, x.buff + x.index);
    ei_x_free(&x);
    return out;
}

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
