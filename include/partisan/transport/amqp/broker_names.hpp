// The names of one cluster's objects on the broker. Clusters with other
// secrets on the same vhost never share an exchange or a queue, and the
// broker learns nothing of the secret: the namespace is 16 hex digits of
// HMAC-SHA256(secret, "partisan amqp namespace"). Every name fits AMQP's
// 255-byte limit: a node and channel too long for it are replaced by a
// hash of them. Pure.
#pragma once

#include <string>
#include <string_view>

namespace partisan::amqp {

class BrokerNames {
public:
    explicit BrokerNames(std::string_view cluster_secret);

    const std::string& ns() const { return ns_; }
    // Fanout: every node's presence announcements, to every node.
    std::string members_exchange() const { return prefix() + "members"; }
    // Direct: messages, routed by routing_key(node, channel).
    std::string messages_exchange() const { return prefix() + "messages"; }
    // The queue a node hears announcements on.
    std::string members_queue(std::string_view node) const;
    // The queue of a node's messages on one channel.
    std::string message_queue(std::string_view node, std::string_view channel) const;
    // The queue of the frames addressed to a node (its overlay's and
    // broadcasts), on the messages exchange with control_key(node).
    std::string control_queue(std::string_view node) const;
    // `node:` (no channel name is empty).
    static std::string control_key(std::string_view node) { return routing_key(node, ""); }
    // `node:channel` (channel names have no ':', so it splits at the last
    // one), or `h:` and a hash when longer than 255 bytes.
    static std::string routing_key(std::string_view node, std::string_view channel);

private:
    std::string prefix() const { return "partisan." + ns_ + "."; }
    std::string ns_;
};

}  // namespace partisan::amqp
