// Start-up configuration of the C-node: command-line options plus the secrets
// read from stdin (never from argv, which `ps` shows to everyone).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace partisan {

struct ChannelConfig {
    std::string name;
    unsigned parallelism = 1;
    bool monotonic = false;
    // pubsub: the channel's queues and messages survive a broker restart
    // (written to the broker's disk).
    bool durable = false;
};

enum class LogLevel { debug = 0, info, notice, warning, error };

// A peer of the static topology: `name=ip:port`.
struct StaticPeer {
    std::string name;
    std::string ip;
    uint16_t port = 0;
};

// The initializers below are the C-node's defaults (the only place they
// are stated); limits and docs are in the option table, config_schema.cpp.
struct Config {
    // beam: serve a BEAM node; standalone: no BEAM (scale runs, benchmarks;
    // console.hpp), beam_node is then just this node's name.
    std::string mode = "beam";
    std::string beam_node;   // e.g. a@vm
    std::string cnode_name;  // e.g. partisan_a_123@vm
    std::string listen_ip = "127.0.0.1";
    uint16_t listen_port = 0;
    std::string advertise_ip;  // empty: the listen ip
    uint16_t advertise_port = 0;  // 0: the listen port (else e.g. a relay's port)
    std::string topology = "full_mesh";  // full_mesh | static | client_server | peer_to_peer | pubsub
    std::string role = "server";          // client_server: server | client
    std::vector<StaticPeer> static_peers;
    unsigned connect_interval_ms = 20;
    unsigned listen_backlog = 1024;
    // Connections that have not proven the secret yet: at most this many
    // in all, and from one address (listener.hpp).
    unsigned max_pending_handshakes = 256;
    unsigned max_pending_per_address = 32;
    // Members at most (gossip naming more is not taken in).
    unsigned max_members = 1024;
    std::vector<ChannelConfig> channels;  // channels[0] is always "undefined"
    unsigned parallelism = 1;  // of the channels that do not give one
    unsigned gossip_interval_ms = 1000;
    unsigned gossip_fanout = 3;
    uint32_t max_message_bytes = 128u * 1024 * 1024;
    unsigned connect_timeout_ms = 5000;
    unsigned handshake_timeout_ms = 5000;
    unsigned heartbeat_interval_ms = 1000;
    unsigned heartbeat_timeout_ms = 10000;
    // This node's BEAM silent this long is taken as hung (0: not probed).
    unsigned beam_timeout_ms = 10000;
    // A member unreachable this long is marked down (0: never).
    unsigned down_after_ms = 300000;
    // peer_to_peer (HyParView): the views, their random walks, shuffles.
    unsigned max_active_size = 6;
    unsigned max_passive_size = 30;
    unsigned arwl = 6;
    unsigned prwl = 3;
    unsigned shuffle_interval_ms = 10000;
    unsigned shuffle_k_active = 3;
    unsigned shuffle_k_passive = 4;
    unsigned random_promotion_interval_ms = 5000;
    // How often a peer-to-peer node broadcasts its presence, from which
    // the others learn their route to it (announce.hpp).
    unsigned announce_interval_ms = 10000;
    // Broadcast (Plumtree): IHAVE batching and the wait before a GRAFT.
    unsigned lazy_tick_period_ms = 200;
    unsigned graft_timeout_ms = 1000;
    // A new neighbour is told (IHAVE) of the broadcasts of this last while,
    // so a node cut off for up to this long catches up when it is back.
    unsigned broadcast_catch_up_ms = 5000;
    // Hops a relayed message may take before it is dropped.
    unsigned max_hops = 16;
    // pubsub: the AMQP broker (the password comes on stdin) and how long a
    // member may go unheard before it is removed.
    std::string amqp_host = "127.0.0.1";
    uint16_t amqp_port = 5672;
    std::string amqp_vhost = "/";
    std::string amqp_user = "guest";
    unsigned member_timeout_ms = 30000;
    // Per channel: messages not yet confirmed by the broker, at most
    // (senders wait beyond), and deliveries not yet acknowledged.
    unsigned amqp_window_bytes = 64u << 20;
    unsigned amqp_window_messages = 100000;
    unsigned amqp_prefetch = 512;
    // The broker deletes a node's queues unused this long (0: never).
    unsigned amqp_queue_expiry_ms = 3600000;
    // The broker's largest message (RabbitMQ's max_message_size, 128 MiB
    // by default): larger ones are refused before they are published.
    uint32_t amqp_max_message_bytes = 128u << 20;
    LogLevel log_level = LogLevel::info;
    // Secrets, from stdin.
    std::string beam_cookie;
    std::string cluster_secret;
    std::string amqp_password = "guest";  // RabbitMQ's default account unless stdin gives one
};

// Outcome of parsing the command line: a config, or a message to print
// (help text, or an error) and an exit code.
struct ParseResult {
    std::optional<Config> config;
    std::string message;
    int exit_code = 0;
    // --check-config: the options are valid; exit 0 without reading stdin
    // or connecting anywhere.
    bool check_only = false;
};

ParseResult parse_command_line(int argc, const char* const argv[]);

// Longest secret accepted (cookie or cluster secret), bytes.
constexpr size_t max_secret_bytes = 4096;

// Reads `beam-cookie HEX`, `cluster-secret HEX` and optionally
// `amqp-password HEX` lines up to a line `end`
// (docs/SHIM_INTERFACE.md) and fills the secrets, byte for byte.
// Returns an error message, empty on success.
std::string read_secrets(std::istream& in, Config& config);

// "name[:parallelism[:monotonic][:durable]]"; nullopt when malformed.
std::optional<ChannelConfig> parse_channel(const std::string& spec, unsigned default_parallelism);

// The channels in one canonical line, sorted by name:
// "undefined:1,vnode:4:monotonic:durable". Nodes link only when theirs are equal.
std::string channels_spec(const std::vector<ChannelConfig>& channels);

std::optional<LogLevel> parse_log_level(const std::string& s);
// "name@host=ip:port"; nullopt when malformed.
std::optional<StaticPeer> parse_static_peer(const std::string& spec);
const char* log_level_name(LogLevel level);

}  // namespace partisan
