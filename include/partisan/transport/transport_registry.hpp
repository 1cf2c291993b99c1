// Which transport a node runs, by its topology: the pubsub topology
// reaches the others through an AMQP broker, every other one over TCP. A
// new transport is a folder under transport/ and a line in
// c_src/transport/transport_registry.cpp.
#pragma once

#include "partisan/core/context.hpp"
#include "partisan/transport/transport.hpp"

#include <memory>

namespace partisan {

// Binds a listener where the transport has one; throws when it cannot.
std::unique_ptr<Transport> make_transport(Context& ctx, TransportEvents& events);

}  // namespace partisan
