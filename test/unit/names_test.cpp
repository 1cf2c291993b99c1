// Node and channel names, and the canonical channel line nodes compare.
#include "partisan/core/config.hpp"
#include "partisan/core/names.hpp"

#include <catch2/catch.hpp>

using namespace partisan;

TEST_CASE("node names") {
    for (const char* ok : {"a@h", "partisan_a_12@vm", "n1@127.0.0.1", "x@my-host.example"})
        REQUIRE(valid_node_name(ok));
    for (const char* bad : {"", "a", "@h", "a@", "a@@h", "a@b@c", "a b@h", "a\x01@h", "\xc3\xa9@h"})
        REQUIRE_FALSE(valid_node_name(bad));
    REQUIRE(valid_node_name(std::string(100, 'a') + "@" + std::string(150, 'h')));
    REQUIRE_FALSE(valid_node_name(std::string(200, 'a') + "@" + std::string(60, 'h')));
}

TEST_CASE("channel names") {
    REQUIRE(valid_channel_name("vnode"));
    REQUIRE(valid_channel_name("\xc3\xa9t\xc3\xa9"));
    REQUIRE_FALSE(valid_channel_name(""));
    REQUIRE_FALSE(valid_channel_name("a:b"));
    REQUIRE_FALSE(valid_channel_name("a\nb"));
    REQUIRE_FALSE(valid_channel_name(std::string(256, 'c')));
}

TEST_CASE("the channel line is canonical: sorted, with parallelism and monotonic") {
    std::vector<ChannelConfig> a{{"undefined", 1, false}, {"vnode", 4, false}, {"gossip", 1, true}};
    std::vector<ChannelConfig> b{{"gossip", 1, true}, {"undefined", 1, false}, {"vnode", 4, false}};
    REQUIRE(channels_spec(a) == "gossip:1:monotonic,undefined:1,vnode:4");
    REQUIRE(channels_spec(a) == channels_spec(b));
    b[2].parallelism = 2;
    REQUIRE(channels_spec(a) != channels_spec(b));
}
