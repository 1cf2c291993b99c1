// Command-line options and secrets.
#include "partisan/config.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace partisan;

namespace {
ParseResult parse(std::vector<const char*> args) {
    args.insert(args.begin(), "partisan_cnode");
    return parse_command_line(static_cast<int>(args.size()), args.data());
}
}  // namespace

TEST_CASE("defaults and the default channel") {
    auto r = parse({"--beam-node", "a@h", "--cnode-name", "p_a@h"});
    REQUIRE(r.config);
    REQUIRE(r.config->listen_ip == "127.0.0.1");
    REQUIRE(r.config->listen_port == 0);
    REQUIRE(r.config->advertise_ip == "127.0.0.1");
    REQUIRE(r.config->channels.size() == 1);
    REQUIRE(r.config->channels[0].name == "undefined");
    REQUIRE(r.config->channels[0].parallelism == 1);
}

TEST_CASE("channels with parallelism and monotonic") {
    auto r = parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--parallelism", "2", "--channel", "vnode:4",
                    "--channel", "gossip::monotonic", "--channel", "gossip:1:monotonic", "--channel", "meta"});
    REQUIRE(r.config);
    auto& chs = r.config->channels;
    REQUIRE(chs.size() == 4);
    REQUIRE(chs[0].parallelism == 2);
    REQUIRE(chs[1].name == "vnode");
    REQUIRE(chs[1].parallelism == 4);
    REQUIRE(chs[2].name == "gossip");
    REQUIRE(chs[2].monotonic);
    REQUIRE(chs[2].parallelism == 1);
    REQUIRE(chs[3].parallelism == 2);
}

TEST_CASE("bad options are errors with a message") {
    REQUIRE_FALSE(parse({"--cnode-name", "p@h"}).config);                                   // missing beam node
    REQUIRE(parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--bogus"}).exit_code == 2);
    REQUIRE_FALSE(parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--channel", "x:0"}).config);
    REQUIRE_FALSE(parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--channel", "x:2:fast"}).config);
    REQUIRE_FALSE(parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--topology", "ring"}).config);
    REQUIRE(parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--topology", "static"}).config);
    REQUIRE_FALSE(parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--log-level", "loud"}).config);
    REQUIRE_FALSE(parse({"--beam-node", "nohost", "--cnode-name", "p@h"}).config);
    auto r = parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--listen-port", "70000"});
    REQUIRE_FALSE(r.config);
    REQUIRE(r.message.find("listen-port") != std::string::npos);
}

TEST_CASE("topologies, roles and static peers") {
    auto r = parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--topology", "static", "--static-peer",
                    "b@h=127.0.0.1:4001", "--static-peer", "c@h=::1:4002"});
    REQUIRE(r.config);
    REQUIRE(r.config->static_peers.size() == 2);
    REQUIRE(r.config->static_peers[1].ip == "::1");
    REQUIRE(r.config->static_peers[1].port == 4002);
    REQUIRE(parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--topology", "client_server", "--role", "client"})
                .config->role == "client");
    REQUIRE_FALSE(parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--role", "boss"}).config);
    REQUIRE_FALSE(parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--static-peer", "b@h=1.2.3.4"}).config);
    REQUIRE_FALSE(parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--static-peer", "nohost=1.2.3.4:5"}).config);
    REQUIRE_FALSE(parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--heartbeat-interval-ms", "20000"}).config);
}

TEST_CASE("help lists the options") {
    auto r = parse({"--help"});
    REQUIRE_FALSE(r.config);
    REQUIRE(r.exit_code == 0);
    REQUIRE(r.message.find("--channel") != std::string::npos);
    REQUIRE(r.message.find("--max-message-bytes") != std::string::npos);
}

TEST_CASE("secrets come from stdin, hex-encoded, up to the end line") {
    Config c;
    std::istringstream in("beam-cookie 616263\ncluster-secret 7333637265743d78\nend\nignored=1\n");
    REQUIRE(read_secrets(in, c).empty());
    REQUIRE(c.beam_cookie == "abc");
    REQUIRE(c.cluster_secret == "s3cret=x");
    Config d;
    std::istringstream missing("beam-cookie 616263\nend\n");
    REQUIRE(read_secrets(missing, d).find("cluster-secret") != std::string::npos);
}

TEST_CASE("secrets are taken byte for byte") {
    // Once cut at '#' (a config-file comment): two different secrets with a
    // common prefix became the same one.
    auto hex = [](std::string_view s) {
        std::string out;
        for (unsigned char c : s) {
            const char* digits = "0123456789abcdef";
            out += digits[c >> 4];
            out += digits[c & 15];
        }
        return out;
    };
    for (std::string secret : {std::string("abc#one-long-secret-part"), std::string("  spaced  "),
                               std::string("a\nb\rc\0d", 8), std::string("\xff\xfe=;#")}) {
        Config c;
        std::istringstream in("beam-cookie 61\ncluster-secret " + hex(secret) + "\nend\n");
        REQUIRE(read_secrets(in, c).empty());
        REQUIRE(c.cluster_secret == secret);
    }
}

TEST_CASE("malformed secrets are refused with a reason") {
    auto error = [](const std::string& text) {
        Config c;
        std::istringstream in(text);
        return read_secrets(in, c);
    };
    REQUIRE(error("beam-cookie 61\ncluster-secret abc\nend\n").find("not hex") != std::string::npos);
    REQUIRE(error("beam-cookie 61\ncluster-secret zz\nend\n").find("not hex") != std::string::npos);
    REQUIRE(error("beam-cookie=61\ncluster-secret 61\nend\n").find("unknown key") != std::string::npos);
    REQUIRE(error("beam-cookie 61\nbeam-cookie 62\nend\n").find("twice") != std::string::npos);
    REQUIRE(error("beam-cookie 61\ncluster-secret 61\n").find("no end") != std::string::npos);
    REQUIRE(error("beam-cookie 610062\ncluster-secret 61\nend\n").find("NUL") != std::string::npos);
    REQUIRE(error("beam-cookie 61\ncluster-secret " + std::string(2 * (max_secret_bytes + 1), 'a') + "\nend\n")
                .find("too long") != std::string::npos);
}
