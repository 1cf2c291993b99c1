// A peer connection's outgoing side: the frames queued for it, the
// monotonic channels' newest-per-destination, and the writes that count
// messages as sent (the connection's lifecycle is in peer_connection.cpp).
#include "partisan/transport/tcp/peer_connection.hpp"

namespace partisan {

void PeerConnection::flush() {
    if (stream_.writing() || !established() || stream_.out().empty()) return;
    // Messages count as sent once written, not when queued.
    in_write_ = queued_;
    queued_ = {};
    last_progress_ = std::chrono::steady_clock::now();
    stream_.write([self = shared_from_this(), gen = generation_](const asio::error_code& ec) {
        if (gen != self->generation_) {
            self->flush();  // a newer connection may be waiting to write
            return;
        }
        if (ec) {
            self->fail("write failed: " + ec.message());
            return;
        }
        self->last_progress_ = std::chrono::steady_clock::now();
        if (self->stats) {
            self->stats->messages_sent += self->in_write_.messages;
            self->stats->bytes_sent += self->in_write_.bytes;
        }
        self->in_write_ = {};
        self->release_latest();
        self->events_.on_write_done(*self);
        if (self->stopping_ && self->stream_.out().empty()) {
            self->close();
            return;
        }
        self->flush();
    });
}

void PeerConnection::enqueue_message(const uint8_t* ref, size_t ref_len, const uint8_t* payload,
                                     size_t payload_len, const SharedBytes& keep) {
    if (keep && payload_len >= zero_copy_threshold) {
        // The payload follows by reference, where it was read.
        append_message_frame(stream_.out().bytes(), Bytes{ref, ref_len}, Bytes{}, payload_len);
        stream_.out().append_shared(payload, payload_len, keep);
    } else {
        append_message_frame(stream_.out().bytes(), Bytes{ref, ref_len}, Bytes{payload, payload_len});
    }
    queued_.add(payload_len);
}

void PeerConnection::enqueue_relay(std::string_view dest, uint8_t hops, const uint8_t* ref, size_t ref_len,
                                   const uint8_t* payload, size_t payload_len) {
    append_relay_frame(stream_.out().bytes(), dest, hops, Bytes{ref, ref_len}, Bytes{payload, payload_len});
    queued_.add(payload_len);
}

void PeerConnection::enqueue_monotonic(const uint8_t* ref, size_t ref_len, const uint8_t* payload,
                                       size_t payload_len) {
    if (established() && stream_.drained()) {
        enqueue_message(ref, ref_len, payload, payload_len);
        return;
    }
    scratch_.clear();
    append_message_frame(scratch_, Bytes{ref, ref_len}, Bytes{payload, payload_len});
    std::string_view dest(reinterpret_cast<const char*>(ref), ref_len);
    if (latest_.put(dest, scratch_.data(), scratch_.size(), payload_len) && stats) ++stats->dropped;
}

void PeerConnection::release_latest() {
    // The newest message per destination joins the queue for the next write.
    if (latest_.size() == 0 || !established()) return;
    queued_.messages += latest_.size();
    queued_.bytes += latest_.payload_bytes();
    latest_.drain_into(stream_.out().bytes());
}

}  // namespace partisan
