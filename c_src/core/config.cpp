#include "partisan/core/config.hpp"

#include "partisan/core/config_schema.hpp"
#include "partisan/core/names.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <istream>
#include <limits>
#include <map>
#include <sstream>
#include <utility>

namespace po = boost::program_options;

namespace partisan {

namespace {

std::optional<unsigned> parse_unsigned(const std::string& s) {
    auto v = parse_decimal(s);
    if (!v || *v > std::numeric_limits<unsigned>::max()) return std::nullopt;
    return static_cast<unsigned>(*v);
}

}  // namespace

std::optional<LogLevel> parse_log_level(const std::string& s) {
    if (s == "debug") return LogLevel::debug;
    if (s == "info") return LogLevel::info;
    if (s == "notice") return LogLevel::notice;
    if (s == "warning") return LogLevel::warning;
    if (s == "error") return LogLevel::error;
    return std::nullopt;
}

const char* log_level_name(LogLevel level) {
    switch (level) {
        case LogLevel::debug: return "debug";
        case LogLevel::info: return "info";
        case LogLevel::notice: return "notice";
        case LogLevel::warning: return "warning";
        case LogLevel::error: return "error";
    }
    return "error";
}

std::optional<ChannelConfig> parse_channel(const std::string& spec, unsigned default_parallelism) {
    ChannelConfig ch;
    ch.parallelism = default_parallelism;
    std::vector<std::string> parts;
    std::stringstream ss(spec);
    for (std::string part; std::getline(ss, part, ':');) parts.push_back(part);
    if (parts.empty() || parts.size() > 4 || !valid_channel_name(parts[0])) return std::nullopt;
    ch.name = parts[0];
    if (parts.size() >= 2 && !parts[1].empty()) {
        // The bounds of --parallelism.
        const OptionSpec* bounds = find_option("parallelism");
        auto p = parse_unsigned(parts[1]);
        if (!p || *p < bounds->min || *p > bounds->max) return std::nullopt;
        ch.parallelism = *p;
    }
    // Then the flags, each at most once, monotonic first.
    for (size_t i = 2; i < parts.size(); ++i) {
        if (parts[i] == "monotonic" && i == 2) {
            ch.monotonic = true;
        } else if (parts[i] == "durable" && !ch.durable) {
            ch.durable = true;
        } else {
            return std::nullopt;
        }
    }
    return ch;
}

std::string channels_spec(const std::vector<ChannelConfig>& channels) {
    std::vector<const ChannelConfig*> sorted;
    for (const auto& ch : channels) sorted.push_back(&ch);
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->name < b->name; });
    std::string spec;
    for (const auto* ch : sorted) {
        if (!spec.empty()) spec += ',';
        spec += ch->name + ':' + std::to_string(ch->parallelism) + (ch->monotonic ? ":monotonic" : "") +
                (ch->durable ? ":durable" : "");
    }
    return spec;
}

std::optional<StaticPeer> parse_static_peer(const std::string& spec) {
    auto eq = spec.find('=');
    auto colon = spec.rfind(':');
    if (eq == std::string::npos || colon == std::string::npos || colon < eq) return std::nullopt;
    StaticPeer p;
    p.name = spec.substr(0, eq);
    p.ip = spec.substr(eq + 1, colon - eq - 1);
    auto port = parse_unsigned(spec.substr(colon + 1));
    const OptionSpec* bounds = find_option("listen-port");
    if (p.name.find('@') == std::string::npos || p.ip.empty() || !port || *port == 0 || *port > bounds->max)
        return std::nullopt;
    p.port = static_cast<uint16_t>(*port);
    return p;
}

ParseResult parse_command_line(int argc, const char* const argv[]) {
    ParseResult result;
    Config cfg;

    po::options_description desc(
        "partisan_cnode: the C-node of the partisan distribution layer.\n"
        "Started by the Erlang application `partisan`; secrets arrive on stdin\n"
        "as `beam-cookie HEX` and `cluster-secret HEX` lines ended by `end`.\n\nOptions");
    desc.add_options()
        ("help,h", "print this help")
        ("schema", "print the options, their limits and defaults as an Erlang module (partisan_config_schema)")
        ("check-config", "check the options and exit: 0 when valid, 2 (with the error) when not; connects nowhere");
    // Every option is taken as text and checked against the table: no
    // conversion by Boost (which takes "-1" for 4294967295).
    for (const auto& o : config_options()) {
        std::string name(o.name), def = option_default(o);
        std::string doc(o.doc);
        if (o.type == OptionType::integer) doc += " [" + std::to_string(o.min) + ".." + std::to_string(o.max) + "]";
        if (o.type == OptionType::one_of) {
            doc += " {";
            for (size_t i = 0; i < o.choices.size(); ++i) doc += (i ? ", " : "") + std::string(o.choices[i]);
            doc += "}";
        }
        if (o.type == OptionType::repeated) {
            desc.add_options()(name.c_str(), po::value<std::vector<std::string>>()->composing(), doc.c_str());
            continue;
        }
        auto* text = po::value<std::string>();
        if (o.required) text->required();
        if (!def.empty()) text->default_value(def);
        desc.add_options()(name.c_str(), text, doc.c_str());
    }

    auto fail = [&](const std::string& msg) {
        result.message = "error " + msg;
        result.exit_code = 2;
        return result;
    };

    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        if (vm.count("help")) {
            std::ostringstream os;
            os << desc;
            result.message = os.str();
            return result;
        }
        if (vm.count("schema")) {
            result.message = schema_erlang_module();
            return result;
        }
        po::notify(vm);
    } catch (const po::error& e) {
        return fail(std::string("bad command line: ") + e.what());
    }
    result.check_only = vm.count("check-config") > 0;

    std::map<std::string_view, uint64_t> ints;
    for (const auto& o : config_options()) {
        if (o.type == OptionType::repeated || !vm.count(std::string(o.name))) continue;
        const auto& value = vm[std::string(o.name)].as<std::string>();
        if (auto err = check_option(o, value); !err.empty()) return fail(err);
        if (o.set_int) {
            uint64_t v = *parse_decimal(value);
            ints[o.name] = v;
            o.set_int(cfg, v);
        } else if (o.set_text) {
            o.set_text(cfg, value);
        }
    }
    for (const auto& rule : config_rules())
        if (ints[rule.greater] <= ints[rule.lesser])
            return fail("--" + std::string(rule.greater) + " " + std::to_string(ints[rule.greater]) +
                        " must exceed --" + std::string(rule.lesser) + " " + std::to_string(ints[rule.lesser]));

    auto texts = [&](const char* name) {
        return vm.count(name) ? vm[name].as<std::vector<std::string>>() : std::vector<std::string>{};
    };
    for (const auto& spec : texts("static-peer")) {
        auto peer = parse_static_peer(spec);
        if (!peer) return fail("bad --static-peer " + spec);
        cfg.static_peers.push_back(*peer);
    }

    cfg.channels.push_back(ChannelConfig{"undefined", cfg.parallelism, false});
    for (const auto& spec : texts("channel")) {
        auto ch = parse_channel(spec, cfg.parallelism);
        if (!ch) return fail("bad --channel " + spec);
        bool replaced = false;
        for (auto& existing : cfg.channels)
            if (existing.name == ch->name) {
                existing = *ch;
                replaced = true;
            }
        if (!replaced) cfg.channels.push_back(*ch);
    }
    if (cfg.channels.size() > max_channels) return fail("too many channels");
    if (cfg.advertise_ip.empty())
        cfg.advertise_ip = cfg.listen_ip == "0.0.0.0" ? "127.0.0.1" : cfg.listen_ip;
    result.config = std::move(cfg);
    return result;
}

namespace {

// Hex digits to bytes; nullopt when `hex` is not an even number of them.
std::optional<std::string> from_hex(std::string_view hex) {
    auto digit = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    if (hex.size() % 2 != 0) return std::nullopt;
    std::string out;
    for (size_t i = 0; i < hex.size(); i += 2) {
        int hi = digit(hex[i]), lo = digit(hex[i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return out;
}

}  // namespace

std::string read_secrets(std::istream& in, Config& config) {
    // Secrets are hex-encoded so that they arrive byte for byte, whatever
    // bytes they hold; nothing here trims, comments out or cuts them.
    bool ended = false, amqp_password_given = false;
    for (std::string line; std::getline(in, line);) {
        if (line == "end") {
            ended = true;
            break;
        }
        auto space = line.find(' ');
        std::string key = line.substr(0, space);
        std::string* target = key == "beam-cookie"      ? &config.beam_cookie
                              : key == "cluster-secret" ? &config.cluster_secret
                              : key == "amqp-password"  ? &config.amqp_password
                                                        : nullptr;
        if (!target) return "bad secrets on stdin: unknown key '" + key.substr(0, 32) + "'";
        bool given_before = key == "amqp-password" ? std::exchange(amqp_password_given, true) : !target->empty();
        if (given_before) return "bad secrets on stdin: " + key + " given twice";
        auto value = space == std::string::npos ? std::nullopt : from_hex(std::string_view(line).substr(space + 1));
        if (!value) return "bad secrets on stdin: " + key + " is not hex";
        if (value->size() > max_secret_bytes) return "bad secrets on stdin: " + key + " is too long";
        *target = std::move(*value);
    }
    if (!ended) return "no end line on stdin";
    if (config.beam_cookie.empty()) return "no beam-cookie on stdin";
    if (config.cluster_secret.empty()) return "no cluster-secret on stdin";
    // ei takes the cookie as a C string.
    if (config.beam_cookie.find('\0') != std::string::npos) return "the BEAM cookie holds a NUL byte";
    // rabbitmq-c takes the password as a C string too.
    if (config.amqp_password.find('\0') != std::string::npos) return "the AMQP password holds a NUL byte";
    return {};
}

}  // namespace partisan
