#include "test_support.hpp"

#include <array>
#include <random>

namespace link_emulator::test {

RunningRelay::RunningRelay(const Config& config)
    : relay_(io_, config),
      routes_(relay_.bound_routes()),
      stats_(relay_.stats()),
      thread_([this] { io_.run(); }) {}

RunningRelay::~RunningRelay() {
    io_.stop();
    thread_.join();
}

namespace {

class Session : public std::enable_shared_from_this<Session> {
public:
    Session(asio::ip::tcp::socket socket, bool echo, std::shared_ptr<TestServer::Counters> counters)
        : socket_(std::move(socket)), echo_(echo), counters_(std::move(counters)) {}

    void read() {
        socket_.async_read_some(asio::buffer(buffer_), [self = shared_from_this()](std::error_code ec,
                                                                                  std::size_t n) {
            self->counters_->bytes_received += n;
            if (ec) {
                if (ec == asio::error::eof) {
                    ++self->counters_->eofs;
                    std::error_code ignored;
                    self->socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
                }
                return;  // the session ends; the socket closes
            }
            if (!self->echo_) {
                self->read();
                return;
            }
            asio::async_write(self->socket_, asio::buffer(self->buffer_.data(), n),
                              [self](std::error_code write_error, std::size_t) {
                                  if (!write_error) self->read();
                              });
        });
    }

private:
    asio::ip::tcp::socket socket_;
    bool echo_;
    std::shared_ptr<TestServer::Counters> counters_;
    std::array<char, 256 * 1024> buffer_{};
};

}  // namespace

TestServer::TestServer(Mode mode)
    : mode_(mode),
      acceptor_(io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
      port_(acceptor_.local_endpoint().port()),
      counters_(std::make_shared<Counters>()) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
}

TestServer::~TestServer() {
    io_.stop();
    thread_.join();
}

void TestServer::accept() {
    acceptor_.async_accept([this](std::error_code ec, asio::ip::tcp::socket socket) {
        if (ec) return;
        socket.set_option(asio::ip::tcp::no_delay(true));
        if (mode_ == Mode::stall) {
            stalled_.push_back(std::move(socket));
        } else {
            std::make_shared<Session>(std::move(socket), mode_ == Mode::echo, counters_)->read();
        }
        accept();
    });
}

Config relay_config(std::uint16_t target_port, double delay_ms, double rate_mbit,
                    std::size_t max_buffer_bytes) {
    Config config;
    config.routes.push_back(Route{0, "127.0.0.1", target_port});
    config.delay_ms = delay_ms;
    config.rate_mbit = rate_mbit;
    config.max_buffer_bytes = max_buffer_bytes;
    return config;
}

asio::ip::tcp::socket connect_to(asio::io_context& io, std::uint16_t port) {
    asio::ip::tcp::socket socket(io);
    socket.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    socket.set_option(asio::ip::tcp::no_delay(true));
    return socket;
}

std::vector<char> random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<char> bytes(n);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const std::uint64_t word = rng();
        for (int b = 0; b < 8; ++b) bytes[i + b] = static_cast<char>(word >> (8 * b));
    }
    for (; i < n; ++i) bytes[i] = static_cast<char>(rng());
    return bytes;
}

}  // namespace link_emulator::test
