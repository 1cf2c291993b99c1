// The logger: rate-limited per call site, and never blocking the event
// loop on a log pipe nobody reads.
#include "partisan/core/log.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>
#include <string>

using namespace partisan;

namespace {

struct Pipe {
    int r = -1, w = -1;
    Pipe() {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        r = fds[0];
        w = fds[1];
        ::fcntl(r, F_SETFL, ::fcntl(r, F_GETFL) | O_NONBLOCK);
    }
    ~Pipe() {
        ::close(r);
        ::close(w);
    }
    std::string drain() const {
        std::string out;
        char buf[4096];
        for (ssize_t n; (n = ::read(r, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
        return out;
    }
};

size_t count_lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

}  // namespace

TEST_CASE("a flood of one line is rate-limited, other lines still get through") {
    Pipe p;
    Logger log(LogLevel::info, p.w);
    for (int i = 0; i < 1000; ++i) PLOG(log, warning, "handshake refused %d", i);
    PLOG(log, info, "something else");
    std::string out = p.drain();
    REQUIRE(count_lines(out) == static_cast<size_t>(Logger::burst) + 1);
    REQUIRE(out.find("info something else") != std::string::npos);
    REQUIRE(log.suppressed() == 1000 - static_cast<size_t>(Logger::burst));
    REQUIRE(out.find("warning handshake refused 0\n") == 0);
}

TEST_CASE("the count of suppressed lines rides on the next line let through") {
    Pipe p;
    Logger log(LogLevel::info, p.w);
    auto say = [&](int i) { PLOG(log, notice, "line %d", i); };
    for (int i = 0; i < 25; ++i) say(i);
    (void)p.drain();
    // One token comes back per second.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    say(99);
    REQUIRE(p.drain() == "notice line 99 (5 similar lines suppressed)\n");
}

TEST_CASE("levels below the minimum are not written") {
    Pipe p;
    Logger log(LogLevel::warning, p.w);
    PLOG(log, info, "quiet");
    PLOG(log, error, "loud\nline");
    REQUIRE(p.drain() == "error loud line\n");
}

TEST_CASE("once attached to the loop, a log nobody reads never blocks") {
    Pipe p;
    asio::io_context io;
    Logger log(LogLevel::info, p.w);
    log.attach(io);
    // Distinct call sites are not rate-limited against each other: use a
    // loop with many format strings' worth of text through one site, but
    // long lines so the pipe (64 KiB) and the queue (1 MiB) fill.
    std::string big(900, 'x');
    auto start = std::chrono::steady_clock::now();
    const char* fmts[] = {"a %s", "b %s", "c %s", "d %s", "e %s", "f %s", "g %s", "h %s"};
    for (int round = 0; round < 200; ++round)
        for (const char* f : fmts) log.log(LogLevel::info, f, big.c_str());
    auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(took < std::chrono::seconds(2));
    // 8 sites x 20 lines of ~900 bytes fit; more sites would be dropped,
    // counted, and reported once the reader catches up.
    io.poll();
    std::string out = p.drain();
    io.poll();
    out += p.drain();
    log.flush_blocking(std::chrono::milliseconds(500));
    out += p.drain();
    REQUIRE(count_lines(out) == 8 * static_cast<size_t>(Logger::burst));
}

TEST_CASE("output beyond the queue bound is dropped and counted, then reported") {
    Pipe p;
    asio::io_context io;
    Logger log(LogLevel::info, p.w);
    log.attach(io);
    std::string big(1000, 'y');
    // 2,000 call sites' worth of 1 KB lines: 2 MB, twice the bound.
    std::vector<std::string> fmts;
    for (int i = 0; i < 2000; ++i) fmts.push_back("site " + std::to_string(i) + " %s");
    for (const auto& f : fmts) log.log(LogLevel::info, f.c_str(), big.c_str());
    REQUIRE(log.dropped() > 0);
    std::string out;
    for (int i = 0; i < 200 && out.find("log lines dropped") == std::string::npos; ++i) {
        out += p.drain();
        io.poll();
        log.log(LogLevel::info, "after %d", i);
        io.poll();
        out += p.drain();
    }
    REQUIRE(out.find("log lines dropped") != std::string::npos);
    log.flush_blocking(std::chrono::milliseconds(100));
}
