// The read / frame / gathered-write loop that the BEAM links and the peer
// connections share. A read takes as many bytes as there is room for (at
// most max_read_chunk, so one busy socket cannot starve the others); the
// frames in them are handed out in place, without a copy; what the owner
// queued goes out in one gathered write, and what is queued meanwhile in
// the next. The owner keeps its own state (handshake, pauses, reconnects)
// and keeps itself alive in the handlers it passes.
#pragma once

#include "partisan/codec/wire.hpp"

#include <asio.hpp>

#include <algorithm>
#include <utility>
#include <vector>

namespace partisan {

class FramedStream {
public:
    // `sock` is the owner's socket: it may be replaced (a reconnect), never moved away.
    explicit FramedStream(asio::ip::tcp::socket& sock) : sock_(sock) {}
    FramedStream(const FramedStream&) = delete;
    FramedStream& operator=(const FramedStream&) = delete;

    FrameBuffer& in() { return rbuf_; }
    const FrameBuffer& in() const { return rbuf_; }
    // Where the owner appends what is to be written.
    OutQueue& out() { return pending_; }
    size_t queued_bytes() const { return pending_.size() + inflight_.size(); }
    bool writing() const { return writing_; }
    // Nothing queued and nothing being written.
    bool drained() const { return !writing_ && pending_.empty(); }
    // A new connection: nothing read yet.
    void reset_input() { rbuf_ = FrameBuffer(); }

    // Starts one read unless one is under way. `done(ec, n)` decides
    // whether the n bytes count (in().commit(n)): a stale read does not.
    template <class Done>
    void read(Done&& done) {
        if (reading_) return;
        reading_ = true;
        size_t free_bytes = 0;
        uint8_t* p = rbuf_.prepare(free_bytes);
        sock_.async_read_some(asio::buffer(p, std::min(free_bytes, max_read_chunk)),
                              [this, done = std::forward<Done>(done)](const asio::error_code& ec, size_t n) mutable {
                                  reading_ = false;
                                  done(ec, n);
                              });
    }

    // Hands each whole frame to on_frame(body, len) while it returns true.
    // A frame longer than max() is skipped when on_oversized(len) returns
    // true. False when a handler stopped it, true when all was taken.
    template <class Max, class OnFrame, class OnOversized>
    bool frames(Max&& max, OnFrame&& on_frame, OnOversized&& on_oversized) {
        const uint8_t* body = nullptr;
        uint32_t len = 0;
        for (;;) {
            auto status = rbuf_.next(max(), body, len);
            if (status == FrameBuffer::Status::need_more) return true;
            if (status == FrameBuffer::Status::too_large) {
                if (!on_oversized(len)) return false;
                rbuf_.skip_packet();
                continue;
            }
            if (!on_frame(body, len)) return false;
        }
    }

    // Starts one gathered write of everything queued unless one is under
    // way or nothing is queued; `done(ec)` when it completes. True when started.
    template <class Done>
    bool write(Done&& done) {
        if (writing_ || pending_.empty()) return false;
        std::swap(pending_, inflight_);
        writing_ = true;
        gather_.clear();
        inflight_.gather<asio::const_buffer>(gather_);
        asio::async_write(sock_, gather_,
                          [this, done = std::forward<Done>(done)](const asio::error_code& ec, size_t) mutable {
                              writing_ = false;
                              inflight_.clear();
                              inflight_.release_if_above(kept_buffer_capacity);
                              done(ec);
                          });
        return true;
    }

private:
    asio::ip::tcp::socket& sock_;
    FrameBuffer rbuf_;
    OutQueue pending_, inflight_;
    std::vector<asio::const_buffer> gather_;  // reused for each write
    bool reading_ = false;
    bool writing_ = false;
};

}  // namespace partisan
