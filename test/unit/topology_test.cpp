// Who links to whom, who relays, and what each topology allows.
#include "partisan/topology.hpp"

#include <catch2/catch.hpp>

using namespace partisan;

namespace {
MemberEntry node(const std::string& name, Role role = Role::server) {
    MemberEntry e;
    e.name = name;
    e.role = role;
    return e;
}
Config config_for(const std::string& topology) {
    Config c;
    c.topology = topology;
    c.static_peers = {StaticPeer{"b@h", "127.0.0.1", 4001}, StaticPeer{"c@h", "127.0.0.1", 4002}};
    return c;
}
}  // namespace

TEST_CASE("full mesh links everyone and never relays") {
    auto t = make_topology(config_for("full_mesh"));
    REQUIRE(std::string(t->name()) == "full_mesh");
    REQUIRE(t->links_to(node("a@h"), node("z@h")));
    REQUIRE(t->dynamic());
    REQUIRE(t->admits("anyone@h"));
    REQUIRE_FALSE(t->relays(node("a@h"), node("b@h"), node("c@h")));
}

TEST_CASE("static links and admits only the configured peers, and is fixed") {
    auto t = make_topology(config_for("static"));
    REQUIRE(t->links_to(node("a@h"), node("b@h")));
    REQUIRE_FALSE(t->links_to(node("a@h"), node("d@h")));
    REQUIRE(t->admits("c@h"));
    REQUIRE_FALSE(t->admits("d@h"));
    REQUIRE_FALSE(t->dynamic());
}

TEST_CASE("client-server: clients link only to servers, servers relay between clients") {
    auto t = make_topology(config_for("client_server"));
    auto s1 = node("s1@h"), s2 = node("s2@h");
    auto c1 = node("c1@h", Role::client), c2 = node("c2@h", Role::client);
    REQUIRE(t->links_to(s1, s2));
    REQUIRE(t->links_to(s1, c1));
    REQUIRE(t->links_to(c1, s1));
    REQUIRE_FALSE(t->links_to(c1, c2));
    REQUIRE(t->relays(c1, s1, c2));
    REQUIRE_FALSE(t->relays(c1, c2, s1));
    REQUIRE_FALSE(t->relays(s1, s2, c1));
    REQUIRE(t->dynamic());
}
