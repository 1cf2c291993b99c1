// The built link_emulator binary as a child process: --print-ports, relaying,
// and a clean exit on SIGTERM.
#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <utility>
#include <string>
#include <vector>

extern char** environ;

using namespace link_emulator::test;
using namespace std::chrono_literals;

namespace {

// A file descriptor closed on destruction.
class Fd {
public:
    explicit Fd(int fd = -1) noexcept : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    ~Fd() { reset(); }
    int get() const noexcept { return fd_; }
    void reset() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_;
};

// A child process with its stdout on a pipe; killed and reaped on
// destruction if still running.
class Child {
public:
    explicit Child(const std::vector<std::string>& argv) {
        int fds[2];
        REQUIRE(::pipe(fds) == 0);
        Fd read_end(fds[0]), write_end(fds[1]);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, read_end.get());
        std::vector<char*> args;
        std::vector<std::string> storage = argv;
        for (auto& a : storage) args.push_back(a.data());
        args.push_back(nullptr);
        const int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        REQUIRE(rc == 0);
        stdout_ = std::move(read_end);
    }
    ~Child() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    // One line of stdout, or nullopt after `limit`.
    std::optional<std::string> read_line(std::chrono::milliseconds limit) {
        std::string line;
        const auto deadline = Clock::now() + limit;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            pollfd p{stdout_.get(), POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
            char c = 0;
            if (::read(stdout_.get(), &c, 1) != 1) return std::nullopt;
            if (c == '\n') return line;
            line.push_back(c);
        }
    }

    void signal(int sig) { ::kill(pid_, sig); }

    // The exit status, or nullopt if it is still running after `limit`.
    std::optional<int> wait(std::chrono::milliseconds limit) {
        const auto deadline = Clock::now() + limit;
        while (Clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            }
            std::this_thread::sleep_for(5ms);
        }
        return std::nullopt;
    }

private:
    pid_t pid_ = -1;
    Fd stdout_;
};

}  // namespace

TEST_CASE("link_emulator prints its ports, relays, and exits on SIGTERM", "[binary]") {
    TestServer echo(TestServer::Mode::echo);
    const std::string target = "127.0.0.1:" + std::to_string(echo.port());
    Child child({LINK_EMULATOR_BINARY, "--route", "0=" + target, "--route", "0=" + target,
                 "--delay-ms", "5", "--print-ports"});
    std::vector<std::uint16_t> ports;
    for (int i = 0; i < 2; ++i) {
        const auto line = child.read_line(5s);
        REQUIRE(line);
        const auto eq = line->find('=');
        REQUIRE(eq != std::string::npos);
        CHECK(line->substr(eq + 1) == target);
        ports.push_back(static_cast<std::uint16_t>(std::stoi(line->substr(0, eq))));
        CHECK(ports.back() != 0);
    }
    CHECK(ports[0] != ports[1]);

    asio::io_context io;
    for (const auto port : ports) {
        auto socket = connect_to(io, port);
        const std::string ping = "ping through " + std::to_string(port);
        const auto start = Clock::now();
        asio::write(socket, asio::buffer(ping));
        std::string reply(ping.size(), '\0');
        asio::read(socket, asio::buffer(reply));
        CHECK(reply == ping);
        CHECK(Clock::now() - start >= 10ms);
    }
    auto open_connection = connect_to(io, ports[0]);  // still open at SIGTERM
    child.signal(SIGTERM);
    CHECK(child.wait(3s) == std::optional<int>(0));
}

TEST_CASE("link_emulator refuses a bad command line", "[binary]") {
    Child child({LINK_EMULATOR_BINARY, "--route", "nonsense"});
    CHECK(child.wait(3s) == std::optional<int>(2));
}
