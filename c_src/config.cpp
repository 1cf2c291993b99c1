#include "partisan/config.hpp"

#include "partisan/names.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <istream>
#include <sstream>

namespace po = boost::program_options;

namespace partisan {

namespace {

constexpr unsigned max_parallelism = 64;

std::optional<unsigned> parse_unsigned(const std::string& s) {
    if (s.empty() || s.size() > 9) return std::nullopt;
    unsigned v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    return v;
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
    if (parts.empty() || parts.size() > 3 || !valid_channel_name(parts[0])) return std::nullopt;
    ch.name = parts[0];
    if (parts.size() >= 2 && !parts[1].empty()) {
        auto p = parse_unsigned(parts[1]);
        if (!p || *p == 0 || *p > max_parallelism) return std::nullopt;
        ch.parallelism = *p;
    }
    if (parts.size() == 3) {
        if (parts[2] != "monotonic") return std::nullopt;
        ch.monotonic = true;
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
        spec += ch->name + ':' + std::to_string(ch->parallelism) + (ch->monotonic ? ":monotonic" : "");
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
    if (p.name.find('@') == std::string::npos || p.ip.empty() || !port || *port == 0 || *port > 65535)
        return std::nullopt;
    p.port = static_cast<uint16_t>(*port);
    return p;
}

ParseResult parse_command_line(int argc, const char* const argv[]) {
    ParseResult result;
    Config cfg;
    std::vector<std::string> channel_specs, static_specs;
    std::string log_level = "info";
    unsigned listen_port = 0;
    unsigned advertise_port = 0;
    unsigned parallelism = 1;

    po::options_description desc(
        "partisan_cnode: the C-node of the partisan distribution layer.\n"
        "Started by the Erlang application `partisan`; secrets arrive on stdin\n"
        "as `beam-cookie=...` and `cluster-secret=...` lines ended by `end`.\n\nOptions");
    desc.add_options()
        ("help,h", "print this help")
        ("beam-node", po::value(&cfg.beam_node)->required(), "the BEAM node to serve, e.g. a@host")
        ("cnode-name", po::value(&cfg.cnode_name)->required(), "this C-node's node name, e.g. partisan_a_1@host")
        ("listen-ip", po::value(&cfg.listen_ip)->default_value(cfg.listen_ip), "address the peer listener binds")
        ("listen-port", po::value(&listen_port)->default_value(0), "peer listener port; 0 picks a free one")
        ("advertise-ip", po::value(&cfg.advertise_ip), "address given to other nodes (default: listen ip)")
        ("advertise-port", po::value(&advertise_port)->default_value(0), "port given to other nodes (default: the listen port)")
        ("topology", po::value(&cfg.topology)->default_value(cfg.topology), "full_mesh, static or client_server")
        ("role", po::value(&cfg.role)->default_value(cfg.role), "client_server topology: server or client")
        ("static-peer", po::value(&static_specs)->composing(), "static topology: NAME=IP:PORT, repeatable")
        ("connect-interval-ms", po::value(&cfg.connect_interval_ms)->default_value(cfg.connect_interval_ms), "spacing of a new peer's connections after its first")
        ("listen-backlog", po::value(&cfg.listen_backlog)->default_value(cfg.listen_backlog), "listen queue length")
        ("max-pending-handshakes", po::value(&cfg.max_pending_handshakes)->default_value(cfg.max_pending_handshakes), "connections not yet authenticated, at most (the oldest is closed past it)")
        ("max-pending-per-address", po::value(&cfg.max_pending_per_address)->default_value(cfg.max_pending_per_address), "likewise, from one source address")
        ("max-members", po::value(&cfg.max_members)->default_value(cfg.max_members), "cluster members at most")
        ("channel", po::value(&channel_specs)->composing(), "NAME[:PARALLELISM[:monotonic]], repeatable")
        ("parallelism", po::value(&parallelism)->default_value(1), "default connections per channel")
        ("gossip-interval-ms", po::value(&cfg.gossip_interval_ms)->default_value(cfg.gossip_interval_ms), "membership gossip period")
        ("gossip-fanout", po::value(&cfg.gossip_fanout)->default_value(cfg.gossip_fanout), "peers gossiped to per period")
        ("max-message-bytes", po::value(&cfg.max_message_bytes)->default_value(cfg.max_message_bytes), "largest message accepted")
        ("connect-timeout-ms", po::value(&cfg.connect_timeout_ms)->default_value(cfg.connect_timeout_ms), "TCP connect timeout")
        ("handshake-timeout-ms", po::value(&cfg.handshake_timeout_ms)->default_value(cfg.handshake_timeout_ms), "peer handshake timeout")
        ("heartbeat-interval-ms", po::value(&cfg.heartbeat_interval_ms)->default_value(cfg.heartbeat_interval_ms), "ping period on idle connections")
        ("heartbeat-timeout-ms", po::value(&cfg.heartbeat_timeout_ms)->default_value(cfg.heartbeat_timeout_ms), "silence after which a peer connection is dropped")
        ("beam-timeout-ms", po::value(&cfg.beam_timeout_ms)->default_value(cfg.beam_timeout_ms), "this node's BEAM silent this long is taken as hung: peers see the node down (0: never)")
        ("down-after-ms", po::value(&cfg.down_after_ms)->default_value(cfg.down_after_ms), "a member unreachable this long is marked down and only probed (0: never)")
        ("log-level", po::value(&log_level)->default_value(log_level), "debug, info, notice, warning or error");

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
        po::notify(vm);
    } catch (const po::error& e) {
        return fail(std::string("bad command line: ") + e.what());
    }

    if (listen_port > 65535) return fail("bad --listen-port");
    cfg.listen_port = static_cast<uint16_t>(listen_port);
    if (advertise_port > 65535) return fail("bad --advertise-port");
    cfg.advertise_port = static_cast<uint16_t>(advertise_port);
    if (parallelism == 0 || parallelism > max_parallelism) return fail("bad --parallelism");
    if (cfg.topology != "full_mesh" && cfg.topology != "static" && cfg.topology != "client_server")
        return fail("unsupported --topology " + cfg.topology);
    if (cfg.role != "server" && cfg.role != "client") return fail("bad --role " + cfg.role);
    for (const auto& spec : static_specs) {
        auto peer = parse_static_peer(spec);
        if (!peer) return fail("bad --static-peer " + spec);
        cfg.static_peers.push_back(*peer);
    }
    if (cfg.listen_backlog == 0) return fail("bad --listen-backlog");
    if (cfg.max_pending_handshakes == 0) return fail("bad --max-pending-handshakes");
    if (cfg.max_pending_per_address == 0) return fail("bad --max-pending-per-address");
    if (cfg.max_members < 2) return fail("bad --max-members");
    if (cfg.gossip_interval_ms == 0) return fail("bad --gossip-interval-ms");
    if (cfg.heartbeat_interval_ms == 0 || cfg.heartbeat_timeout_ms <= cfg.heartbeat_interval_ms)
        return fail("--heartbeat-timeout-ms must exceed --heartbeat-interval-ms (> 0)");
    if (cfg.max_message_bytes < 1024) return fail("bad --max-message-bytes");
    auto level = parse_log_level(log_level);
    if (!level) return fail("bad --log-level " + log_level);
    cfg.log_level = *level;
    if (cfg.beam_node.find('@') == std::string::npos) return fail("bad --beam-node " + cfg.beam_node);
    if (cfg.cnode_name.find('@') == std::string::npos) return fail("bad --cnode-name " + cfg.cnode_name);

    cfg.channels.push_back(ChannelConfig{"undefined", parallelism, false});
    for (const auto& spec : channel_specs) {
        auto ch = parse_channel(spec, parallelism);
        if (!ch) return fail("bad --channel " + spec);
        bool replaced = false;
        for (auto& existing : cfg.channels)
            if (existing.name == ch->name) {
                existing = *ch;
                replaced = true;
            }
        if (!replaced) cfg.channels.push_back(*ch);
    }
    if (cfg.channels.size() > 255) return fail("too many channels");
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
    bool ended = false;
    for (std::string line; std::getline(in, line);) {
        if (line == "end") {
            ended = true;
            break;
        }
        auto space = line.find(' ');
        std::string key = line.substr(0, space);
        std::string* target = key == "beam-cookie" ? &config.beam_cookie
                              : key == "cluster-secret" ? &config.cluster_secret
                                                        : nullptr;
        if (!target) return "bad secrets on stdin: unknown key '" + key.substr(0, 32) + "'";
        if (!target->empty()) return "bad secrets on stdin: " + key + " given twice";
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
    return {};
}

}  // namespace partisan
