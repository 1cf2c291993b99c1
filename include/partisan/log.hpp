// Line-oriented logging to stdout: `LEVEL text`. The Erlang shim reads the
// port line by line and re-logs each line with `logger` at that level.
#pragma once

#include "partisan/config.hpp"

#include <cstdio>
#include <string_view>

namespace partisan {

class Logger {
public:
    explicit Logger(LogLevel min = LogLevel::info, std::FILE* out = stdout) : min_(min), out_(out) {}

    bool enabled(LogLevel level) const { return level >= min_; }

    // printf-style; one line per call, newlines in the text are replaced.
    void log(LogLevel level, const char* fmt, ...) const __attribute__((format(printf, 3, 4)));

private:
    LogLevel min_;
    std::FILE* out_;
};

#define PLOG(logger, level, ...)                                             \
    do {                                                                     \
        if ((logger).enabled(::partisan::LogLevel::level))                  \
            (logger).log(::partisan::LogLevel::level, __VA_ARGS__);         \
    } while (0)

}  // namespace partisan
