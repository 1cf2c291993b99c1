// Readers of control-call arguments (control_api.hpp), each taking exactly
// one whole term and refusing anything the C-node could not act on. Pure:
// fuzzed on arbitrary terms (test/fuzz/fuzz_control_request.cpp).
#pragma once

#include "partisan/codec/etf.hpp"
#include "partisan/codec/wire.hpp"
#include "partisan/overlay/membership.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace partisan {

// A node name (names.hpp).
bool arg_node(etf::Reader r, std::string& out);
// A proper list of min..max node names.
bool arg_nodes(etf::Reader r, uint32_t min, uint32_t max, std::vector<std::string>& out);
// A proper list of min..max `{Ip, Port}`, Ip a 4- or 8-tuple, port not 0.
bool arg_addresses(etf::Reader r, uint32_t min, uint32_t max, std::vector<Address>& out);
bool arg_atom(etf::Reader r, std::string_view& out);
bool arg_uint(etf::Reader r, uint64_t& out);
// Any one term, as its encoded bytes (the request was checked whole).
bool arg_term(etf::Reader r, Bytes& out);
// A registered name or a pid, as its encoded bytes.
bool arg_server_ref(etf::Reader r, Bytes& out);

}  // namespace partisan
