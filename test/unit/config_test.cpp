// Command-line options and secrets.
#include "partisan/core/config.hpp"

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

TEST_CASE("channels may be durable (pubsub), and the spec says so") {
    auto r = parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--channel", "jobs:1:durable", "--channel",
                    "state:2:monotonic:durable", "--channel", "plain:1:monotonic"});
    REQUIRE(r.config);
    auto& chs = r.config->channels;
    REQUIRE(chs[1].durable);
    REQUIRE_FALSE(chs[1].monotonic);
    REQUIRE(chs[2].durable);
    REQUIRE(chs[2].monotonic);
    REQUIRE_FALSE(chs[3].durable);
    REQUIRE(channels_spec(chs) == "jobs:1:durable,plain:1:monotonic,state:2:monotonic:durable,undefined:1");
    for (const char* bad : {"x:1:durable:durable", "x:1:durable:monotonic", "x:1:durable:monotonic:durable", "x:1:fast"})
        REQUIRE_FALSE(parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--channel", bad}).config);
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

TEST_CASE("the AMQP password comes on stdin too, and defaults to RabbitMQ's guest") {
    Config c;
    std::istringstream none("beam-cookie 61\ncluster-secret 61\nend\n");
    REQUIRE(read_secrets(none, c).empty());
    REQUIRE(c.amqp_password == "guest");
    Config d;
    std::istringstream given("beam-cookie 61\ncluster-secret 61\namqp-password 7077\nend\n");
    REQUIRE(read_secrets(given, d).empty());
    REQUIRE(d.amqp_password == "pw");
    Config e;
    std::istringstream twice("beam-cookie 61\ncluster-secret 61\namqp-password 61\namqp-password 62\nend\n");
    REQUIRE(read_secrets(twice, e).find("twice") != std::string::npos);
    Config f;
    std::istringstream nul("beam-cookie 61\ncluster-secret 61\namqp-password 6100\nend\n");
    REQUIRE(read_secrets(nul, f).find("AMQP password holds a NUL") != std::string::npos);
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

// The option table (config_schema.hpp): one place for every limit, read by
// the parser and printed for the shim.
#include "partisan/core/config_schema.hpp"
#include "partisan/core/names.hpp"

#include <set>

namespace {
// (a + b without operator+, which g++ 12 -O3 warns about wrongly: -Wrestrict)
std::string cat(std::string a, std::string_view b) { return a.append(b); }
ParseResult parse_with(const std::string& option, const std::string& value) {
    return parse({"--beam-node", "a@h", "--cnode-name", "p@h", option.c_str(), value.c_str()});
}
}  // namespace

TEST_CASE("schema: every option is named once, documented, and its default lies within its bounds") {
    std::set<std::string_view> names, envs;
    for (const auto& o : config_options()) {
        INFO(o.name);
        REQUIRE(names.insert(o.name).second);
        if (!o.env.empty()) REQUIRE(envs.insert(o.env).second);
        REQUIRE_FALSE(o.doc.empty());
        for (char c : o.doc) REQUIRE((c >= 0x20 && c < 0x7f));
        std::string def = option_default(o);
        switch (o.type) {
            case OptionType::integer:
                REQUIRE(o.min <= o.max);
                REQUIRE(o.get_int);
                REQUIRE(o.set_int);
                REQUIRE(check_option(o, def).empty());
                REQUIRE(*parse_decimal(def) >= o.min);
                REQUIRE(*parse_decimal(def) <= o.max);
                break;
            case OptionType::one_of:
                REQUIRE_FALSE(o.choices.empty());
                REQUIRE(check_option(o, def).empty());
                break;
            case OptionType::string:
                REQUIRE(o.get_text);
                break;
            case OptionType::repeated:
                REQUIRE(def.empty());
                break;
        }
        if (o.required) REQUIRE(def.empty());
    }
    for (const auto& rule : config_rules()) {
        REQUIRE(find_option(rule.greater));
        REQUIRE(find_option(rule.lesser));
        Config defaults;
        REQUIRE(find_option(rule.greater)->get_int(defaults) > find_option(rule.lesser)->get_int(defaults));
    }
}

TEST_CASE("schema: the parser takes min and max and refuses min-1, max+1 and what is no number") {
    for (const auto& o : config_options()) {
        if (o.type != OptionType::integer) continue;
        INFO(o.name);
        std::string name = cat("--", o.name);
        auto accepted = [&](uint64_t v) {
            auto r = parse_with(name, std::to_string(v));
            if (!r.config) return false;
            // Stored as given: the field holds the whole range.
            REQUIRE(find_option(o.name)->get_int(*r.config) == v);
            return true;
        };
        // Only a relation with another option (a rule) may refuse a bound.
        bool ruled = false;
        for (const auto& rule : config_rules()) ruled |= rule.greater == o.name || rule.lesser == o.name;
        if (!ruled) {
            REQUIRE(accepted(o.min));
            REQUIRE(accepted(o.max));
        }
        if (o.min > 0) REQUIRE_FALSE(parse_with(name, std::to_string(o.min - 1)).config);
        REQUIRE_FALSE(parse_with(name, std::to_string(o.max + 1)).config);
        for (const char* bad : {"-1", "", "x", "1.5", " 1", "+1", "99999999999999999999", "0x10"}) {
            auto r = parse_with(name, bad);
            REQUIRE_FALSE(r.config);
            REQUIRE(r.message.find(name) != std::string::npos);
        }
    }
}

TEST_CASE("schema: one_of options take their choices only") {
    for (const auto& o : config_options()) {
        if (o.type != OptionType::one_of) continue;
        INFO(o.name);
        std::string name = cat("--", o.name);
        for (auto choice : o.choices) {
            auto r = parse_with(name, std::string(choice));
            REQUIRE(r.config);
            REQUIRE(o.get_text(*r.config) == choice);
        }
        REQUIRE_FALSE(parse_with(name, "bogus").config);
        REQUIRE_FALSE(parse_with(name, "").config);
        REQUIRE_FALSE(parse_with(name, cat(std::string(o.choices[0]), " ")).config);
    }
}

TEST_CASE("schema: the heartbeat timeout must exceed the interval") {
    REQUIRE_FALSE(parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--heartbeat-interval-ms", "500",
                         "--heartbeat-timeout-ms", "500"})
                      .config);
    REQUIRE(parse({"--beam-node", "a@h", "--cnode-name", "p@h", "--heartbeat-interval-ms", "500",
                   "--heartbeat-timeout-ms", "501"})
                .config);
}

TEST_CASE("schema: channels take the bounds of --parallelism, and at most max_channels") {
    const OptionSpec* p = find_option("parallelism");
    REQUIRE(parse_channel(cat("c:", std::to_string(p->min)), 1));
    REQUIRE(parse_channel(cat("c:", std::to_string(p->max)), 1));
    REQUIRE_FALSE(parse_channel(cat("c:", std::to_string(p->min - 1)), 1));
    REQUIRE_FALSE(parse_channel(cat("c:", std::to_string(p->max + 1)), 1));
    std::vector<std::string> specs;
    for (size_t i = 1; i < max_channels; ++i) specs.push_back(cat("c", std::to_string(i)));
    auto with = [&](size_t n) {
        std::vector<const char*> args{"--beam-node", "a@h", "--cnode-name", "p@h"};
        for (size_t i = 0; i < n; ++i) {
            args.push_back("--channel");
            args.push_back(specs[i].c_str());
        }
        return parse(args);
    };
    REQUIRE(with(max_channels - 1).config);  // and the default channel
    specs.push_back("one-too-many");
    REQUIRE_FALSE(with(max_channels).config);
    REQUIRE(valid_channel_name(std::string(max_channel_name_bytes, 'c')));
    REQUIRE_FALSE(valid_channel_name(std::string(max_channel_name_bytes + 1, 'c')));
}

TEST_CASE("schema: --schema prints the Erlang module, --check-config validates only") {
    auto r = parse({"--schema"});
    REQUIRE_FALSE(r.config);
    REQUIRE(r.exit_code == 0);
    REQUIRE(r.message == schema_erlang_module());
    REQUIRE(r.message.find("-module(partisan_config_schema).") != std::string::npos);
    for (const auto& o : config_options()) {
        std::string name(o.name);
        REQUIRE(r.message.find(name.find('-') != std::string::npos ? cat(cat("'", name), "'") : name) !=
                std::string::npos);
    }
    REQUIRE(r.message.find("max => 64") != std::string::npos);
    auto c = parse({"--check-config", "--beam-node", "a@h", "--cnode-name", "p@h"});
    REQUIRE(c.config);
    REQUIRE(c.check_only);
    REQUIRE_FALSE(parse({"--beam-node", "a@h", "--cnode-name", "p@h"}).check_only);
    auto bad = parse({"--check-config", "--beam-node", "a@h", "--cnode-name", "p@h", "--parallelism", "65"});
    REQUIRE_FALSE(bad.config);
    REQUIRE(bad.exit_code == 2);
    REQUIRE(bad.message.find("--parallelism") != std::string::npos);
}
