// The bounded ETF reader on arbitrary bytes: it must never read out of
// bounds, and its answers must be consistent with each other.
#include "partisan/etf.hpp"

#include <cstdlib>

using namespace partisan;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    etf::Reader r(data, size);
    if (r.skip() && r.pos() > size) std::abort();
    bool valid = etf::is_valid_term(data, size);
    // A pid or an atom destination is one valid term.
    if ((etf::is_pid(data, size) || etf::is_atom(data, size)) && !valid) std::abort();
    etf::Reader h(data, size);
    uint32_t arity = 0;
    std::string_view name;
    uint64_t v = 0;
    if (h.tuple_header(arity) && h.atom(name)) (void)h.uint(v);
    return 0;
}
