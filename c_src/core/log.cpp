#include "partisan/core/log.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>

namespace partisan {

namespace {

// Writes what the fd takes now; returns false when it is broken (EPIPE...).
bool write_available(int fd, const std::string& data, size_t& sent) {
    while (sent < data.size()) {
        ssize_t n = ::write(fd, data.data() + sent, data.size() - sent);
        if (n > 0) {
            sent += static_cast<size_t>(n);
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else {
            return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
        }
    }
    return true;
}

// Blocks until `fd` takes more or `deadline` passes; false on timeout.
bool wait_writable(int fd, std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLOUT, 0};
    return ::poll(&p, 1, static_cast<int>(left.count())) > 0;
}

}  // namespace

Logger::Logger(LogLevel min, int fd) : min_(min), fd_(fd) {}

Logger::~Logger() = default;

void Logger::log(LogLevel level, const char* fmt, ...) {
    using clock = std::chrono::steady_clock;
    // One bucket per call site: a flood of one kind of line (say, failed
    // handshakes from a scanner) cannot drown the others or the loop.
    Bucket& b = buckets_[fmt];
    auto now = clock::now();
    if (b.refilled != clock::time_point{}) {
        double seconds = std::chrono::duration<double>(now - b.refilled).count();
        b.tokens = std::min(burst, b.tokens + seconds);
    }
    b.refilled = now;
    if (b.tokens < 1) {
        ++b.suppressed;
        ++suppressed_total_;
        return;
    }
    b.tokens -= 1;

    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = std::vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    std::string line = log_level_name(level);
    line += ' ';
    for (const char* c = text; *c; ++c) line += (*c == '\n' || *c == '\r') ? ' ' : *c;
    if (b.suppressed) {
        line += " (" + std::to_string(b.suppressed) + " similar lines suppressed)";
        b.suppressed = 0;
    }
    line += '\n';
    emit(std::move(line));
}

void Logger::emit(std::string line) {
    if (queue_.size() + line.size() > max_queued) {
        ++dropped_;
        return;
    }
    if (dropped_ > dropped_reported_) {
        queue_ += "warning " + std::to_string(dropped_ - dropped_reported_) +
                  " log lines dropped: the log output was not read\n";
        dropped_reported_ = dropped_;
    }
    queue_ += line;
    if (!out_) {
        // Before the loop runs (start-up) or after it stopped: plain writes.
        flush_blocking(std::chrono::milliseconds(1000));
        return;
    }
    write_some();
}

void Logger::attach(asio::io_context& io) {
    int fd = ::dup(fd_);
    if (fd < 0) return;
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    out_ = std::make_unique<asio::posix::stream_descriptor>(io, fd);
    write_some();
}

void Logger::write_some() {
    if (writing_ || !out_) return;
    size_t sent = 0;
    if (!write_available(out_->native_handle(), queue_, sent)) {
        queue_.clear();  // the reader is gone: nothing more can be said
        return;
    }
    queue_.erase(0, sent);
    if (queue_.empty()) return;
    writing_ = true;
    out_->async_wait(asio::posix::stream_descriptor::wait_write, [this](const asio::error_code& ec) {
        writing_ = false;
        if (!ec) write_some();
    });
}

void Logger::flush_blocking(std::chrono::milliseconds limit) {
    if (out_) {
        asio::error_code ec;
        out_->cancel(ec);
        out_.reset();  // its io_context may be about to go
        writing_ = false;
    }
    auto deadline = std::chrono::steady_clock::now() + limit;
    size_t sent = 0;
    while (write_available(fd_, queue_, sent) && sent < queue_.size())
        if (!wait_writable(fd_, deadline)) break;
    queue_.erase(0, sent);
    if (sent == 0 && !queue_.empty()) queue_.clear();  // nobody reads: give up
}

}  // namespace partisan
