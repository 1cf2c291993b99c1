#include "partisan/transport/transport_registry.hpp"

#include "partisan/transport/amqp/amqp_transport.hpp"
#include "partisan/transport/tcp/tcp_transport.hpp"

namespace partisan {

std::unique_ptr<Transport> make_transport(Context& ctx, TransportEvents& events) {
    if (ctx.config.topology == "pubsub") return std::make_unique<AmqpTransport>(ctx, events);
    return std::make_unique<TcpTransport>(ctx, events);
}

}  // namespace partisan
