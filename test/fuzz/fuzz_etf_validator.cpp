// The bounded ETF reader on arbitrary bytes: it must never read out of
// bounds, and its answers must be consistent with each other. (Whether they
// are the BEAM's answers is fuzz_etf_differential's question.)
//
// The first byte picks what the validator knows of the decoding node, the
// rest is the term.
#include "partisan/codec/etf.hpp"

#include <cstdlib>
#include <string_view>

using namespace partisan;

namespace {

void require(bool ok) {
    if (!ok) std::abort();
}

bool accepts(const etf::Check& c) { return c.verdict == etf::Verdict::valid; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    // A node some pids in the corpus name, with a creation they carry.
    const etf::DecoderNode nodes[] = {
        {"a@b", 1, true}, {"a@b", 0, false}, {}, {"\xc3\xa9@h", 0x12345678, true}};
    const etf::DecoderNode& node = nodes[data[0] % 4];
    const uint8_t* t = data + 1;
    size_t n = size - 1;

    etf::Check c = etf::check_term(t, n, node);
    require(c.offset <= n);
    require(accepts(c) == etf::is_valid_term(t, n, node));
    if (accepts(c)) require(c.offset == n);
    // Knowing less of the node never accepts more.
    require(!accepts(etf::check_term(t, n)) || accepts(c));
    require(!accepts(etf::check_term(t, n, etf::DecoderNode{node.name, 0, false})) || accepts(c));

    // skip() reads the same first term and stops at its end: the whole is
    // one valid term when that end is the end.
    etf::Reader r(t, n, node);
    etf::Check first = r.check_skip();
    etf::Reader r2(t, n, node);
    bool skipped = r2.skip();
    require(skipped == accepts(first));
    if (skipped) {
        require(r2.pos() <= n && r2.pos() == r.pos());
        require(accepts(c) == r2.at_end());
    }

    // Destinations are single valid terms of their kind.
    if (etf::is_pid(t, n, node)) require(accepts(c) && (t[0] == etf::pid || t[0] == etf::new_pid));
    if (etf::is_atom(t, n)) require(accepts(etf::check_term(t, n)));
    etf::Reader a(t, n);
    std::string_view name;
    if (a.atom(name)) {
        require(name.size() <= 255 * 4);
        require(a.at_end() == etf::is_atom(t, n));
    }

    // The header readers stay in bounds.
    etf::Reader h(t, n);
    uint32_t arity = 0;
    uint64_t v = 0;
    if (h.tuple_header(arity) && h.atom(name)) (void)h.uint(v);
    require(h.pos() <= n);
    return 0;
}
