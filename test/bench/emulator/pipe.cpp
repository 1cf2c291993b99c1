#include "pipe.hpp"

#include <utility>

namespace link_emulator {

Pipe::Pipe(asio::ip::tcp::socket& from, asio::ip::tcp::socket& to, const Settings& settings,
           std::shared_ptr<SharedBucket> link, std::shared_ptr<RelayStats> stats)
    : from_(from),
      to_(to),
      delay_(settings.delay),
      queue_(settings.max_buffer_bytes),
      pacer_(settings.rate_bytes_per_second, std::move(link), Clock::now()),
      timer_(to.get_executor()),
      stats_(std::move(stats)) {}

Pipe::~Pipe() { stats_->buffered_bytes -= queue_.size(); }

void Pipe::start(const Anchor& anchor, Finished on_finished) {
    on_finished_ = std::move(on_finished);
    read(anchor);
}

void Pipe::stop() noexcept {
    stopped_ = true;
    timer_.cancel();
    pacer_.leave();
}

void Pipe::read(const Anchor& anchor) {
    if (reading_ || input_ended_ || ended_ || stopped_) return;
    if (queue_.free_space() == 0) return;  // full: on_write resumes reading
    const std::size_t count = queue_.writable(read_spans_);
    for (std::size_t i = 0; i < count; ++i)
        read_buffers_[i] = asio::buffer(read_spans_[i].data(), read_spans_[i].size());
    reading_ = true;
    from_.async_read_some(std::span<const asio::mutable_buffer>(read_buffers_.data(), count),
                          [this, anchor](std::error_code ec, std::size_t n) { on_read(anchor, ec, n); });
}

void Pipe::on_read(const Anchor& anchor, std::error_code ec, std::size_t n) {
    reading_ = false;
    if (stopped_ || ended_) return;
    const auto now = Clock::now();
    if (n > 0) {
        queue_.commit(n);
        schedule_.add(queue_.tail_position(), now + delay_);
        stats_->buffered_bytes += n;
        stats_->note_pipe_buffered(queue_.size());
    }
    if (ec) {
        input_ended_ = true;
        input_reset_ = ec != asio::error::eof;
        end_due_ = now + delay_;
    }
    pump(anchor);
    read(anchor);
}

void Pipe::pump(const Anchor& anchor) {
    if (writing_ || ended_ || stopped_) return;
    const auto now = Clock::now();
    const std::uint64_t released = schedule_.release_until(now);
    const auto due = static_cast<std::size_t>(released - queue_.head_position());
    if (due > 0) {
        const std::size_t n = pacer_.allowance(due, now);
        if (n == 0) {
            arm_timer(anchor, pacer_.ready_at(due, now));
        } else {
            write(anchor, n);
        }
        return;
    }
    if (const auto next = schedule_.next_due()) {
        arm_timer(anchor, *next);
        return;
    }
    if (input_ended_ && queue_.empty()) {
        if (now < end_due_) {
            arm_timer(anchor, end_due_);
            return;
        }
        if (input_reset_) {
            finish(End::reset);
            return;
        }
        std::error_code shutdown_error;
        to_.shutdown(asio::ip::tcp::socket::shutdown_send, shutdown_error);
        finish(shutdown_error ? End::write_failed : End::eof);
    }
}

void Pipe::write(const Anchor& anchor, std::size_t n) {
    const std::size_t count = queue_.readable(n, write_spans_);
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < count; ++i) {
        write_buffers_[i] = asio::buffer(write_spans_[i].data(), write_spans_[i].size());
        bytes += write_spans_[i].size();
    }
    pacer_.consume(bytes);
    writing_ = true;
    asio::async_write(to_, std::span<const asio::const_buffer>(write_buffers_.data(), count),
                      [this, anchor](std::error_code ec, std::size_t written) {
                          on_write(anchor, ec, written);
                      });
}

void Pipe::on_write(const Anchor& anchor, std::error_code ec, std::size_t n) {
    writing_ = false;
    if (stopped_ || ended_) return;
    if (ec) {
        finish(End::write_failed);
        return;
    }
    queue_.consume(n);
    stats_->buffered_bytes -= n;
    stats_->bytes_relayed += n;
    pump(anchor);
    read(anchor);  // resumes reading if the queue was full
}

void Pipe::arm_timer(const Anchor& anchor, Clock::time_point when) {
    // An armed timer is never later than what is asked now: data only
    // becomes due later, and more due data only needs more tokens. (With a
    // link cap, others taking tokens only make the wait longer; when a user
    // ahead in the link's queue leaves, the timer may be late, but never
    // past the time the shared bucket is full, so no tokens are lost.)
    if (timer_armed_) return;
    timer_armed_ = true;
    timer_.expires_at(when);
    timer_.async_wait([this, anchor](std::error_code ec) {
        timer_armed_ = false;
        if (ec || stopped_) return;
        pump(anchor);
    });
}

void Pipe::finish(End end) {
    ended_ = true;
    timer_.cancel();
    pacer_.leave();
    if (!on_finished_) return;
    const Finished callback = std::exchange(on_finished_, nullptr);
    callback(end);
}

}  // namespace link_emulator
