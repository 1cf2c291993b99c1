// Byte buffers and length-prefixed framing, shared by the BEAM link (Erlang
// distribution packets) and the peer links (our own frames, docs/PROTOCOL.md).
// Both put a 4-byte big-endian length before each packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace partisan {

// Output buffers keep up to this much capacity between writes: a queue can
// hold a high-water mark of messages plus one large message, and freeing and
// re-faulting such buffers on every write cost more than the copy itself.
constexpr size_t kept_buffer_capacity = 64u << 20;

// Read buffers: large enough that a read brings many packets of 64 KiB.
constexpr size_t read_buffer_capacity = 256u * 1024;
// At most this much is read per wake-up, even into a buffer grown for one
// huge message, so other sockets (small urgent messages on other channels)
// are served between the pieces of an 8 MiB one.
constexpr size_t max_read_chunk = 256u * 1024;

// A growable byte array that never zero-fills (payloads can be 64 MiB) and
// keeps its capacity across clear(), so steady-state appends do not allocate.
class ByteBuffer {
public:
    ByteBuffer() = default;
    ByteBuffer(ByteBuffer&&) noexcept = default;
    ByteBuffer& operator=(ByteBuffer&&) noexcept = default;

    uint8_t* data() { return data_.get(); }
    const uint8_t* data() const { return data_.get(); }
    size_t size() const { return size_; }
    size_t capacity() const { return capacity_; }
    bool empty() const { return size_ == 0; }
    void clear() { size_ = 0; }

    // Returns n writable bytes at the end (uninitialised) and counts them.
    uint8_t* extend(size_t n) {
        reserve(size_ + n);
        uint8_t* p = data_.get() + size_;
        size_ += n;
        return p;
    }
    void append(const void* p, size_t n) {
        if (n) std::memcpy(extend(n), p, n);
    }
    void append(std::string_view s) { append(s.data(), s.size()); }
    void put_u8(uint8_t v) { *extend(1) = v; }
    void put_u16(uint16_t v) {
        uint8_t* p = extend(2);
        p[0] = static_cast<uint8_t>(v >> 8);
        p[1] = static_cast<uint8_t>(v);
    }
    void put_u32(uint32_t v) { store_u32(extend(4), v); }
    void put_u64(uint64_t v) {
        put_u32(static_cast<uint32_t>(v >> 32));
        put_u32(static_cast<uint32_t>(v));
    }
    void reserve(size_t n);
    // Drops the storage when it grew past `limit` (after one huge message).
    void release_if_above(size_t limit) {
        if (capacity_ > limit && size_ == 0) {
            data_.reset();
            capacity_ = 0;
        }
    }

    static void store_u32(uint8_t* p, uint32_t v) {
        p[0] = static_cast<uint8_t>(v >> 24);
        p[1] = static_cast<uint8_t>(v >> 16);
        p[2] = static_cast<uint8_t>(v >> 8);
        p[3] = static_cast<uint8_t>(v);
    }

private:
    std::unique_ptr<uint8_t[]> data_;
    size_t size_ = 0;
    size_t capacity_ = 0;
};

// A length-prefixed frame built in place: begin_frame writes a length
// placeholder and the type byte and returns where the frame starts;
// end_frame patches the length once the body is written. `more` counts body
// bytes that follow by reference (OutQueue::append_shared), not in `b`.
inline size_t begin_frame(ByteBuffer& b, uint8_t type) {
    size_t at = b.size();
    b.put_u32(0);
    b.put_u8(type);
    return at;
}
inline void end_frame(ByteBuffer& b, size_t at, size_t more = 0) {
    ByteBuffer::store_u32(b.data() + at, static_cast<uint32_t>(b.size() - at - 4 + more));
}

inline uint32_t load_u32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}
inline uint16_t load_u16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

// Byte span inside a received packet; valid only while that packet is.
struct Bytes {
    const uint8_t* data = nullptr;
    size_t size = 0;
};

// Read memory that an output queue may keep referring to after the reader
// moved on (zero-copy forwarding of large payloads).
using SharedBytes = std::shared_ptr<const uint8_t[]>;

// Payloads at least this large are forwarded by reference, not copied.
constexpr size_t zero_copy_threshold = 1u << 20;

// Receive side: socket reads land here; complete length-prefixed packets are
// handed out in place (no copy) until the next prepare().
class FrameBuffer {
public:
    enum class Status { need_more, ready, too_large };

    explicit FrameBuffer(size_t initial_capacity = read_buffer_capacity) : initial_(initial_capacity) {}

    // Free space to read into, at least `min_free` bytes (compacts or grows).
    uint8_t* prepare(size_t& free_bytes);
    void commit(size_t n) { end_ += n; }

    // The next complete packet (its body after the 4-byte length), or why not.
    // A zero-length packet (an Erlang tick) is `ready` with len 0. On
    // `too_large`, `len` is the announced length.
    Status next(uint32_t max_len, const uint8_t*& body, uint32_t& len);
    // After `too_large`: drops that packet as its bytes arrive (without
    // buffering them), so the stream can go on with the next one.
    void skip_packet();
    bool skipping() const { return skip_ > 0; }

    size_t buffered() const { return end_ - start_; }

    // Keeps the memory of packets already handed out alive for the caller;
    // this buffer then never writes over it (it reads into fresh memory).
    SharedBytes share() const { return data_; }

private:
    void make_room(size_t want_total);
    bool shared() const { return data_.use_count() > 1; }

    size_t initial_;
    std::shared_ptr<uint8_t[]> data_;
    size_t capacity_ = 0;
    size_t start_ = 0;
    size_t end_ = 0;
    size_t wanted_ = 0;  // bytes the current partial packet needs in all
    size_t skip_ = 0;    // bytes of an oversized packet still to drop
    uint32_t oversized_ = 0;  // the announced length of the packet next() refused
};

// An output queue: bytes built in place plus large payloads referred to
// where they were read (each kept alive by its SharedBytes). Written with
// one gathered write.
class OutQueue {
public:
    ByteBuffer& bytes() { return bytes_; }
    // Appends `n` bytes at `p`, which `keep` keeps alive, without copying.
    void append_shared(const uint8_t* p, size_t n, SharedBytes keep);
    size_t size() const { return bytes_.size() + shared_bytes_; }
    bool empty() const { return size() == 0; }
    void clear();
    void release_if_above(size_t limit) { bytes_.release_if_above(limit); }
    // The buffers to write, in order.
    template <typename ConstBuffer, typename Out>
    void gather(Out& out) const {
        size_t at = 0;
        for (const auto& s : shared_) {
            if (s.at > at) out.emplace_back(ConstBuffer(bytes_.data() + at, s.at - at));
            out.emplace_back(ConstBuffer(s.p, s.n));
            at = s.at;
        }
        if (bytes_.size() > at) out.emplace_back(ConstBuffer(bytes_.data() + at, bytes_.size() - at));
    }

private:
    struct Shared {
        size_t at;  // offset in bytes_ where it goes
        const uint8_t* p;
        size_t n;
        SharedBytes keep;
    };
    ByteBuffer bytes_;
    std::vector<Shared> shared_;
    size_t shared_bytes_ = 0;
};

}  // namespace partisan
