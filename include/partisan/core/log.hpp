// Line-oriented logging to stdout: `LEVEL text`. The Erlang shim reads the
// port line by line and re-logs each line with `logger` at that level.
//
// Logging must never hurt the node it reports on: lines from one call site
// are rate-limited (a burst, then one per second; the count of suppressed
// lines rides on the next line let through), and once the event loop runs
// output is non-blocking through a bounded queue, so a BEAM that does not
// read the port cannot stall the loop (lines beyond the bound are counted
// and dropped).
#pragma once

#include "partisan/core/config.hpp"

#include <asio.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>

namespace partisan {

class Logger {
public:
    explicit Logger(LogLevel min = LogLevel::info, int fd = 1);
    ~Logger();
    Logger(const Logger&) = delete;
    Logger& operator=(const Logger&) = delete;

    bool enabled(LogLevel level) const { return level >= min_; }

    // printf-style; one line per call, newlines in the text are replaced.
    // Rate-limited per format string (that is, per call site).
    void log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

    // One line as it is, through the same queue, not rate-limited
    // (standalone mode's answers, which a harness parses).
    void raw_line(std::string text) { emit(std::move(text) + "\n"); }

    // From now on, write through `io` without ever blocking.
    void attach(asio::io_context& io);
    // Writes what is queued, blocking for at most `limit` (at exit).
    void flush_blocking(std::chrono::milliseconds limit);

    // Per call site: lines let through at once, and one more per second.
    static constexpr double burst = 20;
    // Output queued beyond this is dropped (and counted).
    static constexpr size_t max_queued = 1u << 20;

    uint64_t suppressed() const { return suppressed_total_; }
    uint64_t dropped() const { return dropped_; }

private:
    struct Bucket {
        double tokens = burst;
        std::chrono::steady_clock::time_point refilled{};
        uint64_t suppressed = 0;
    };
    void emit(std::string line);
    void write_some();

    LogLevel min_;
    int fd_;
    std::unordered_map<const char*, Bucket> buckets_;
    std::unique_ptr<asio::posix::stream_descriptor> out_;  // once attached
    std::string queue_, inflight_;
    bool writing_ = false;
    uint64_t suppressed_total_ = 0;
    uint64_t dropped_ = 0, dropped_reported_ = 0;
};

#define PLOG(logger, level, ...)                                             \
    do {                                                                     \
        if ((logger).enabled(::partisan::LogLevel::level))                  \
            (logger).log(::partisan::LogLevel::level, __VA_ARGS__);         \
    } while (0)

}  // namespace partisan
