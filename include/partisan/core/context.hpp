// What every component of one C-node shares: the event loop, the start-up
// configuration and the logger. Passed by reference; there are no globals.
#pragma once

#include "partisan/core/config.hpp"
#include "partisan/core/log.hpp"

#include <asio.hpp>

namespace partisan {

struct Context {
    asio::io_context& io;
    const Config& config;
    Logger& log;
};

}  // namespace partisan
