#include "partisan/core/config_schema.hpp"

#include <asio/ip/address.hpp>

#include <algorithm>
#include <limits>
#include <sstream>
#include <type_traits>

namespace partisan {

namespace {

// Timers and counts stay within an int: asio's listen backlog is an int,
// and sums of two timeouts must not wrap an unsigned.
constexpr uint64_t max_int32 = std::numeric_limits<int32_t>::max();
// The C-node adds up to 1 MiB of headroom to it in 32-bit arithmetic.
constexpr uint64_t max_message_limit = 1u << 30;
// Plumtree's cache_ttl: a new neighbour can be told only of what is still
// cached (broadcast_service.cpp checks the two agree).
constexpr uint64_t max_broadcast_catch_up_ms = 30000;

template <auto Field>
OptionSpec integer(std::string_view name, std::string_view env, uint64_t min, uint64_t max,
                   std::string_view doc) {
    using T = std::remove_cvref_t<decltype(std::declval<Config&>().*Field)>;
    static_assert(std::is_unsigned_v<T>);
    OptionSpec o;
    o.name = name;
    o.env = env;
    o.type = OptionType::integer;
    o.min = min;
    o.max = std::min<uint64_t>(max, std::numeric_limits<T>::max());
    o.doc = doc;
    o.get_int = [](const Config& c) -> uint64_t { return c.*Field; };
    o.set_int = [](Config& c, uint64_t v) { c.*Field = static_cast<T>(v); };
    return o;
}

template <auto Field>
OptionSpec text(std::string_view name, std::string_view env, OptionType type, std::string_view doc,
                std::vector<std::string_view> choices = {}) {
    OptionSpec o;
    o.name = name;
    o.env = env;
    o.type = type;
    o.doc = doc;
    o.choices = std::move(choices);
    o.get_text = [](const Config& c) -> std::string { return c.*Field; };
    o.set_text = [](Config& c, std::string_view v) { c.*Field = std::string(v); };
    return o;
}

OptionSpec required(OptionSpec o) {
    o.required = true;
    return o;
}

OptionSpec valid_if(bool (*valid)(std::string_view), OptionSpec o) {
    o.valid_text = valid;
    return o;
}

bool node_name(std::string_view s) { return s.find('@') != std::string_view::npos; }

bool ip_address(std::string_view s) {
    asio::error_code ec;
    asio::ip::make_address(std::string(s), ec);
    return !ec;
}

bool optional_ip_address(std::string_view s) { return s.empty() || ip_address(s); }

// A DNS name or an IP address: printable, no spaces, not empty.
bool host_name(std::string_view s) {
    return !s.empty() && s.size() <= 253 && std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 127; });
}

// AMQP short strings (vhost, user) hold at most 255 bytes.
bool amqp_short_string(std::string_view s) {
    return !s.empty() && s.size() <= 255 && s.find('\0') == std::string_view::npos;
}

OptionSpec repeated(std::string_view name, std::string_view env, std::string_view doc) {
    OptionSpec o;
    o.name = name;
    o.env = env;
    o.type = OptionType::repeated;
    o.doc = doc;
    return o;
}

OptionSpec log_level_option() {
    OptionSpec o;
    o.name = "log-level";
    o.env = "cnode_log_level";
    o.type = OptionType::one_of;
    o.doc = "the least level of the lines logged";
    o.choices = {"debug", "info", "notice", "warning", "error"};
    o.get_text = [](const Config& c) -> std::string { return log_level_name(c.log_level); };
    o.set_text = [](Config& c, std::string_view v) {
        if (auto level = parse_log_level(std::string(v))) c.log_level = *level;
    };
    return o;
}

// THE TABLE. The shim passes the options in this order (log-level last).
// A new integer or one_of option needs a Config field (its initializer is
// the default) and one row here; with an env key the shim reads, checks
// and passes it without further code (make schema regenerates its copy).
std::vector<OptionSpec> make_options() {
    using T = OptionType;
    return {
        valid_if(node_name, required(text<&Config::beam_node>("beam-node", "", T::string,
                                                              "the BEAM node to serve, e.g. a@host"))),
        valid_if(node_name, required(text<&Config::cnode_name>("cnode-name", "", T::string,
                                                               "this C-node's node name, e.g. partisan_a_1@host"))),
        valid_if(ip_address,
                 text<&Config::listen_ip>("listen-ip", "listen_ip", T::string, "address the peer listener binds")),
        integer<&Config::listen_port>("listen-port", "listen_port", 0, 65535, "peer listener port; 0 picks a free one"),
        valid_if(optional_ip_address, text<&Config::advertise_ip>("advertise-ip", "advertise_ip", T::string,
                                                                  "address given to other nodes (default: the listen ip)")),
        integer<&Config::advertise_port>("advertise-port", "advertise_port", 0, 65535,
                                         "port given to other nodes; 0: the listen port"),
        text<&Config::topology>("topology", "topology", T::one_of, "who links to whom",
                                {"full_mesh", "static", "client_server", "peer_to_peer", "pubsub"}),
        text<&Config::role>("role", "role", T::one_of, "this node's role under client_server", {"server", "client"}),
        repeated("static-peer", "static_peers", "static topology: NAME=IP:PORT, repeatable"),
        repeated("channel", "channels", "NAME[:PARALLELISM[:monotonic][:durable]], repeatable"),
        integer<&Config::parallelism>("parallelism", "parallelism", 1, 64,
                                      "connections of the channels that do not give their own"),
        integer<&Config::gossip_interval_ms>("gossip-interval-ms", "gossip_interval", 1, max_int32,
                                             "membership gossip period, ms"),
        integer<&Config::gossip_fanout>("gossip-fanout", "gossip_fanout", 1, max_int32, "peers gossiped to per period"),
        integer<&Config::heartbeat_interval_ms>("heartbeat-interval-ms", "heartbeat_interval", 1, max_int32,
                                                "ping period on idle connections, ms"),
        integer<&Config::heartbeat_timeout_ms>("heartbeat-timeout-ms", "heartbeat_timeout", 1, max_int32,
                                               "silence after which a peer connection is dropped, ms"),
        integer<&Config::connect_interval_ms>("connect-interval-ms", "connect_interval", 0, max_int32,
                                              "spacing of a new peer's connections after its first, ms"),
        integer<&Config::listen_backlog>("listen-backlog", "listen_backlog", 1, max_int32, "listen queue length"),
        integer<&Config::max_pending_handshakes>("max-pending-handshakes", "max_pending_handshakes", 1, max_int32,
                                                 "connections not yet authenticated, at most"),
        integer<&Config::max_pending_per_address>("max-pending-per-address", "max_pending_per_address", 1,
                                                  max_int32, "likewise, from one source address"),
        integer<&Config::max_members>("max-members", "max_members", 2, max_int32, "cluster members at most"),
        integer<&Config::beam_timeout_ms>("beam-timeout-ms", "beam_timeout", 0, max_int32,
                                          "this node's BEAM silent this long is taken as hung, ms; 0: never"),
        integer<&Config::down_after_ms>("down-after-ms", "down_after", 0, max_int32,
                                        "a member unreachable this long is marked down, ms; 0: never"),
        integer<&Config::max_message_bytes>("max-message-bytes", "max_message_size", 1024, max_message_limit,
                                            "largest message accepted, bytes of the encoded term"),
        integer<&Config::max_active_size>("max-active-size", "max_active_size", 1, 64,
                                          "peer_to_peer: active view (linked neighbours) at most"),
        integer<&Config::max_passive_size>("max-passive-size", "max_passive_size", 1, 1024,
                                           "peer_to_peer: passive view (known, not linked) at most"),
        integer<&Config::arwl>("arwl", "arwl", 1, 32, "peer_to_peer: active random walk length (joins, shuffles)"),
        integer<&Config::prwl>("prwl", "prwl", 0, 32,
                               "peer_to_peer: passive random walk length (a join enters passive views there)"),
        integer<&Config::shuffle_interval_ms>("shuffle-interval-ms", "shuffle_interval", 1, max_int32,
                                              "peer_to_peer: passive view shuffle period, ms"),
        integer<&Config::shuffle_k_active>("shuffle-k-active", "shuffle_k_active", 0, 32,
                                           "peer_to_peer: active view entries in a shuffle"),
        integer<&Config::shuffle_k_passive>("shuffle-k-passive", "shuffle_k_passive", 0, 32,
                                            "peer_to_peer: passive view entries in a shuffle"),
        integer<&Config::random_promotion_interval_ms>(
            "random-promotion-interval-ms", "random_promotion_interval", 1, max_int32,
            "peer_to_peer: period of asking a passive peer in while the active view has room, ms"),
        integer<&Config::announce_interval_ms>("announce-interval-ms", "announce_interval", 100, max_int32,
                                               "peer_to_peer and pubsub: period of announcing this node's presence, ms"),
        integer<&Config::lazy_tick_period_ms>("lazy-tick-period-ms", "lazy_tick_period", 1, max_int32,
                                              "broadcast: IHAVE batching period, ms"),
        integer<&Config::graft_timeout_ms>("graft-timeout-ms", "graft_timeout", 1, max_int32,
                                           "broadcast: wait for an announced message before grafting, ms"),
        integer<&Config::broadcast_catch_up_ms>(
            "broadcast-catch-up-ms", "broadcast_catch_up", 0, max_broadcast_catch_up_ms,
            "broadcast: a new neighbour is told of the broadcasts of this last while (at most the cache's 30 s), ms"),
        integer<&Config::max_hops>("max-hops", "max_hops", 1, 255, "hops a relayed message may take"),
        integer<&Config::member_timeout_ms>("member-timeout-ms", "member_timeout", 100, max_int32,
                                            "pubsub: a member not heard this long is removed, ms"),
        valid_if(host_name, text<&Config::amqp_host>("amqp-host", "", T::string, "pubsub: the AMQP broker's host")),
        integer<&Config::amqp_port>("amqp-port", "", 1, 65535, "pubsub: the AMQP broker's port"),
        valid_if(amqp_short_string, text<&Config::amqp_vhost>("amqp-vhost", "", T::string, "pubsub: the broker's vhost")),
        valid_if(amqp_short_string, text<&Config::amqp_user>("amqp-user", "", T::string, "pubsub: the broker user")),
        integer<&Config::amqp_window_bytes>("amqp-window-bytes", "amqp_window_bytes", 65536, max_message_limit,
                                            "pubsub: bytes per channel not yet confirmed by the broker, at most"),
        integer<&Config::amqp_window_messages>("amqp-window-messages", "amqp_window_messages", 1, 10000000,
                                               "pubsub: messages per channel not yet confirmed, at most"),
        integer<&Config::amqp_prefetch>("amqp-prefetch", "amqp_prefetch", 1, 65535,
                                        "pubsub: deliveries per channel not yet acknowledged, at most"),
        integer<&Config::amqp_max_message_bytes>("amqp-max-message-bytes", "amqp_max_message_size", 4096, 536870912,
                                                 "pubsub: the broker's max_message_size; larger messages are refused"),
        integer<&Config::amqp_queue_expiry_ms>("amqp-queue-expiry-ms", "amqp_queue_expiry", 0, max_int32,
                                               "pubsub: the broker deletes a node's queues unused this long, ms; 0: never"),
        integer<&Config::connect_timeout_ms>("connect-timeout-ms", "", 1, max_int32, "TCP connect timeout, ms"),
        integer<&Config::handshake_timeout_ms>("handshake-timeout-ms", "", 1, max_int32,
                                               "peer handshake timeout, ms"),
        text<&Config::mode>("mode", "", T::one_of,
                            "beam: serve a BEAM node; standalone: no BEAM, commands on stdin, deliveries counted",
                            {"beam", "standalone"}),
        log_level_option(),
    };
}

const std::vector<OptionSpec>& options_table() {
    static const std::vector<OptionSpec> table = make_options();
    return table;
}

constexpr OptionRule rules[] = {
    {"heartbeat-timeout-ms", "heartbeat-interval-ms"},
    {"arwl", "prwl"},
};

std::string range_text(const OptionSpec& o) {
    if (o.type == OptionType::integer) return "an integer in " + std::to_string(o.min) + ".." + std::to_string(o.max);
    if (o.type != OptionType::one_of) return std::string(o.doc);
    std::string s = "one of";
    for (auto c : o.choices) {
        s.push_back(' ');
        s.append(c);
    }
    return s;
}

// An Erlang atom, quoted unless it needs not be.
std::string atom(std::string_view s) {
    static constexpr std::string_view reserved[] = {
        "after", "and", "andalso", "band", "begin", "bnot", "bor", "bsl", "bsr", "bxor", "case", "catch",
        "cond", "div", "else", "end", "fun", "if", "let", "maybe", "not", "of", "or", "orelse", "receive",
        "rem", "try", "when", "xor"};
    bool plain = !s.empty() && s[0] >= 'a' && s[0] <= 'z' &&
                 std::all_of(s.begin(), s.end(),
                             [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }) &&
                 std::find(std::begin(reserved), std::end(reserved), s) == std::end(reserved);
    if (plain) return std::string(s);
    std::string out = "'";
    for (char c : s) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

const char* type_name(OptionType t) {
    switch (t) {
        case OptionType::integer: return "integer";
        case OptionType::one_of: return "one_of";
        case OptionType::string: return "string";
        case OptionType::repeated: return "repeated";
    }
    return "string";
}

}  // namespace

std::span<const OptionSpec> config_options() { return options_table(); }

const OptionSpec* find_option(std::string_view name) {
    for (const auto& o : options_table())
        if (o.name == name) return &o;
    return nullptr;
}

std::span<const OptionRule> config_rules() { return rules; }

std::string option_default(const OptionSpec& option) {
    static const Config defaults;
    if (option.get_int) return std::to_string(option.get_int(defaults));
    if (option.get_text) return option.get_text(defaults);
    return {};
}

std::optional<uint64_t> parse_decimal(std::string_view s) {
    if (s.empty() || s.size() > 19) return std::nullopt;
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
}

std::string check_option(const OptionSpec& o, std::string_view value) {
    auto bad = [&] {
        return "bad --" + std::string(o.name) + " " + std::string(value.substr(0, 64)) + " (" + range_text(o) + ")";
    };
    switch (o.type) {
        case OptionType::integer: {
            auto v = parse_decimal(value);
            if (!v || *v < o.min || *v > o.max) return bad();
            return {};
        }
        case OptionType::one_of:
            if (std::find(o.choices.begin(), o.choices.end(), value) == o.choices.end()) return bad();
            return {};
        case OptionType::string:
            if (o.valid_text && !o.valid_text(value)) return bad();
            return {};
        case OptionType::repeated:
            return {};
    }
    return {};
}

std::string schema_erlang_module() {
    std::ostringstream out;
    out << "%% The C-node's options: generated by `partisan_cnode --schema` from the\n"
           "%% option table in c_src/core/config_schema.cpp (`make schema`); do not edit.\n"
           "%% partisan_config validates the application env against it, and\n"
           "%% partisan_config_SUITE checks it is what the binary prints.\n"
           "-module(partisan_config_schema).\n\n"
           "-export([options/0, rules/0, limits/0]).\n"
           "-export_type([option/0]).\n\n"
           "-type option() :: #{name := atom(),\n"
           "                    env := atom(),  % the application env key; undefined: not set by the shim\n"
           "                    type := integer | one_of | string | repeated,\n"
           "                    required := boolean(),\n"
           "                    default := term(),  % undefined: none\n"
           "                    min => non_neg_integer(), max => non_neg_integer(),  % integer\n"
           "                    choices => [atom()],  % one_of\n"
           "                    doc := string()}.\n\n"
           "%% Every option, in the order the shim passes them.\n"
           "-spec options() -> [option()].\n"
           "options() ->\n    [";
    bool first = true;
    for (const auto& o : options_table()) {
        if (!first) out << ",\n     ";
        first = false;
        out << "#{name => " << atom(o.name) << ", env => " << (o.env.empty() ? "undefined" : atom(o.env))
            << ", type => " << type_name(o.type) << ", required => " << (o.required ? "true" : "false")
            << ",\n       default => ";
        std::string def = option_default(o);
        if (def.empty())
            out << "undefined";
        else if (o.type == OptionType::integer)
            out << def;
        else if (o.type == OptionType::one_of)
            out << atom(def);
        else
            out << quoted(def);
        if (o.type == OptionType::integer) out << ", min => " << o.min << ", max => " << o.max;
        if (o.type == OptionType::one_of) {
            out << ", choices => [";
            for (size_t i = 0; i < o.choices.size(); ++i) out << (i ? ", " : "") << atom(o.choices[i]);
            out << "]";
        }
        out << ",\n       doc => " << quoted(o.doc) << "}";
    }
    out << "].\n\n"
           "%% {greater, A, B}: option A must exceed option B.\n"
           "-spec rules() -> [{greater, atom(), atom()}].\n"
           "rules() ->\n    [";
    first = true;
    for (const auto& r : rules) {
        if (!first) out << ",\n     ";
        first = false;
        out << "{greater, " << atom(r.greater) << ", " << atom(r.lesser) << "}";
    }
    out << "].\n\n"
           "%% Limits beyond single options.\n"
           "-spec limits() -> #{atom() => non_neg_integer()}.\n"
           "limits() ->\n"
           "    #{max_channels => "
        << max_channels << ",\n      max_channel_name_bytes => " << max_channel_name_bytes
        << ",\n      max_secret_bytes => " << max_secret_bytes << "}.\n";
    return out.str();
}

}  // namespace partisan
