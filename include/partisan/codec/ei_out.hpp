// Terms the C-node writes for its BEAM with ei: the buffer owner and the
// encoders more than one component needs.
#pragma once

#include "partisan/overlay/membership.hpp"

#include <ei.h>

#include <string>
#include <string_view>
#include <vector>

namespace partisan {

// ei_x_buff owner (with the version byte), so early returns cannot leak it.
struct EiBuf {
    ei_x_buff x;
    EiBuf() { ei_x_new_with_version(&x); }
    ~EiBuf() { ei_x_free(&x); }
    EiBuf(const EiBuf&) = delete;
    EiBuf& operator=(const EiBuf&) = delete;
};

void encode_atom(ei_x_buff& x, std::string_view s);
// An IP address as inet:ip_address(); text that is not one stays a string.
void encode_ip(ei_x_buff& x, const std::string& ip);
// [{Ip, Port}]
void encode_addresses(ei_x_buff& x, const std::vector<Address>& addrs);
// [Atom]
void encode_atoms(ei_x_buff& x, const std::vector<std::string>& names);
// Ends a list whose header announced `n` elements: the tail, except for
// n == 0, where ei's header was the empty list already.
inline void end_list(ei_x_buff& x, size_t n) {
    if (n > 0) ei_x_encode_empty_list(&x);
}
// #{Name => #{parallelism => P, monotonic => B}} from a channels_spec line
// (ours, or a peer's from its refusal); entries that do not parse are left out.
void encode_channels(ei_x_buff& x, const std::string& spec);

}  // namespace partisan
