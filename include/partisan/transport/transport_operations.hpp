// The control operations a transport serves (control_api.hpp), for any
// Transport: `stats`, `unreachable`, and fault injection for tests,
// `{fault, heal}`, `{fault, partition, Nodes}`,
// `{fault, close_link, Node, Channel, Index}`.
#pragma once

#include "partisan/control/control_api.hpp"
#include "partisan/core/log.hpp"
#include "partisan/transport/transport.hpp"

namespace partisan {

void register_transport_operations(ControlApi& api, Transport& transport, Logger& log);

}  // namespace partisan
