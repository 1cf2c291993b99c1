// One direction of a relayed connection: reads from one socket into a
// bounded queue, and writes each chunk to the other socket no earlier than
// its read time + delay, paced by its rate caps (pacer.hpp: the connection's
// own and, optionally, the link's, shared with other connections). All that
// is due and allowed goes out in one write. When the queue is full, reading
// stops (TCP backpressure).
//
// The end of the stream travels like data, after the bytes before it and
// with the same delay: EOF becomes shutdown(send) on the other socket; a
// read error (the sender reset) is reported as `reset` for the owner to
// reset the other side. A failed write (the receiver reset) ends the pipe
// at once and drops its queue: the news goes back the other way, through
// the reverse pipe, which reads the error from that same socket.
//
// The pipe does not own the sockets. Its owner passes an `anchor` (a
// shared_ptr to itself) that every pending operation holds, so the owner
// lives as long as any of the pipe's operations.
#pragma once

#include "byte_queue.hpp"
#include "pacer.hpp"
#include "release_schedule.hpp"
#include "shared_bucket.hpp"
#include "stats.hpp"

#include <asio.hpp>

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <span>
#include <system_error>

namespace link_emulator {

class Pipe {
public:
    using Clock = std::chrono::steady_clock;
    using Anchor = std::shared_ptr<void>;

    enum class End {
        eof,           // EOF read, passed on as shutdown(send) after the queued bytes
        reset,         // a read error, due now (after the queued bytes): reset the other side
        write_failed,  // the receiver is gone; the queue was dropped
    };
    // Called once, when the pipe ends.
    using Finished = std::function<void(End)>;

    struct Settings {
        Clock::duration delay{};
        double rate_bytes_per_second = 0;  // this connection's own cap; <= 0: unlimited
        std::size_t max_buffer_bytes = 16 * 1024 * 1024;
    };

    // Blocks (64 KiB each) per read and per write: reads of up to 512 KiB,
    // writes of up to 4 MiB.
    static constexpr std::size_t read_blocks = 8;
    static constexpr std::size_t write_blocks = 64;

    // `link`: the cap shared with the other connections of the route in this
    // direction; null: none.
    Pipe(asio::ip::tcp::socket& from, asio::ip::tcp::socket& to, const Settings& settings,
         std::shared_ptr<SharedBucket> link, std::shared_ptr<RelayStats> stats);
    ~Pipe();
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;

    void start(const Anchor& anchor, Finished on_finished);
    // No more I/O or callbacks; the owner closes the sockets.
    void stop() noexcept;

    std::size_t buffered_bytes() const noexcept { return queue_.size(); }

private:
    void read(const Anchor& anchor);
    void on_read(const Anchor& anchor, std::error_code ec, std::size_t n);
    void pump(const Anchor& anchor);
    void write(const Anchor& anchor, std::size_t n);
    void on_write(const Anchor& anchor, std::error_code ec, std::size_t n);
    void arm_timer(const Anchor& anchor, Clock::time_point when);
    void finish(End end);

    asio::ip::tcp::socket& from_;
    asio::ip::tcp::socket& to_;
    Clock::duration delay_;
    ByteQueue queue_;
    ReleaseSchedule schedule_;
    Pacer pacer_;
    asio::steady_timer timer_;
    std::shared_ptr<RelayStats> stats_;
    Finished on_finished_;
    // Scatter/gather lists of the read and the write in flight.
    std::array<std::span<char>, read_blocks> read_spans_{};
    std::array<asio::mutable_buffer, read_blocks> read_buffers_{};
    std::array<std::span<const char>, write_blocks> write_spans_{};
    std::array<asio::const_buffer, write_blocks> write_buffers_{};

    bool reading_ = false;
    bool writing_ = false;
    bool timer_armed_ = false;
    bool input_ended_ = false;  // EOF or an error read from `from`
    bool input_reset_ = false;  // ... and it was an error
    Clock::time_point end_due_{};
    bool ended_ = false;  // finished: no more I/O
    bool stopped_ = false;
};

}  // namespace link_emulator
