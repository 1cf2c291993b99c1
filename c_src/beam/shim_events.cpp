#include "partisan/beam/shim_events.hpp"

#include "partisan/codec/ei_out.hpp"

namespace partisan {

namespace {

constexpr const char* shim_name = "partisan_cnode";

void node_event(BeamLink& beam, const char* tag, const std::string& node) {
    EiBuf b;
    ei_x_encode_tuple_header(&b.x, 2);
    ei_x_encode_atom(&b.x, tag);
    encode_atom(b.x, node);
    beam.send_to_name(shim_name, b.x);
}

}  // namespace

void ShimEvents::ready(BeamLink& beam, const std::vector<Address>& addrs,
                       const std::vector<std::pair<std::string, std::string>>& channel_links) {
    EiBuf b;
    ei_x_encode_tuple_header(&b.x, 3);
    ei_x_encode_atom(&b.x, "$partisan_ready");
    encode_addresses(b.x, addrs);
    ei_x_encode_list_header(&b.x, static_cast<long>(channel_links.size()));
    for (const auto& [channel, link] : channel_links) {
        ei_x_encode_tuple_header(&b.x, 2);
        encode_atom(b.x, channel);
        encode_atom(b.x, link);
    }
    end_list(b.x, channel_links.size());
    beam.send_to_name(shim_name, b.x);
}

void ShimEvents::node_up(BeamLink& beam, const std::string& node) { node_event(beam, "$partisan_nodeup", node); }

void ShimEvents::node_down(BeamLink& beam, const std::string& node) { node_event(beam, "$partisan_nodedown", node); }

void ShimEvents::members(BeamLink& beam, const std::vector<std::string>& members,
                         const std::vector<std::string>& reachable) {
    EiBuf b;
    ei_x_encode_tuple_header(&b.x, 3);
    ei_x_encode_atom(&b.x, "$partisan_members");
    encode_atoms(b.x, members);
    encode_atoms(b.x, reachable);
    beam.send_to_name(shim_name, b.x);
}

void ShimEvents::contacts(BeamLink& beam,
                          const std::vector<std::pair<std::string, std::vector<Address>>>& contacts) {
    EiBuf b;
    ei_x_encode_tuple_header(&b.x, 2);
    ei_x_encode_atom(&b.x, "$partisan_contacts");
    ei_x_encode_list_header(&b.x, static_cast<long>(contacts.size()));
    for (const auto& [name, addrs] : contacts) {
        ei_x_encode_tuple_header(&b.x, 2);
        encode_atom(b.x, name);
        encode_addresses(b.x, addrs);
    }
    end_list(b.x, contacts.size());
    beam.send_to_name(shim_name, b.x);
}

}  // namespace partisan
