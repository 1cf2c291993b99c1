// Length-prefixed framing: packets split across reads, many in one read,
// large ones, and oversized ones.
#include "partisan/codec/wire.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace partisan;

namespace {

std::vector<uint8_t> framed(const std::string& body) {
    ByteBuffer b;
    b.put_u32(static_cast<uint32_t>(body.size()));
    b.append(body);
    return std::vector<uint8_t>(b.data(), b.data() + b.size());
}

// Feeds `stream` in chunks of `chunk` bytes; returns the packets seen.
std::vector<std::string> feed(FrameBuffer& fb, const std::vector<uint8_t>& stream, size_t chunk) {
    std::vector<std::string> seen;
    size_t at = 0;
    while (at < stream.size()) {
        size_t free_bytes = 0;
        uint8_t* p = fb.prepare(free_bytes);
        size_t n = std::min({chunk, free_bytes, stream.size() - at});
        std::memcpy(p, stream.data() + at, n);
        fb.commit(n);
        at += n;
        const uint8_t* body;
        uint32_t len;
        while (fb.next(1u << 30, body, len) == FrameBuffer::Status::ready)
            seen.emplace_back(reinterpret_cast<const char*>(body), len);
    }
    return seen;
}

}  // namespace

TEST_CASE("packets come out whole whatever the read sizes") {
    std::vector<std::string> bodies = {"a", "", "hello world", std::string(100000, 'x'), "end"};
    std::vector<uint8_t> stream;
    for (auto& b : bodies) {
        auto f = framed(b);
        stream.insert(stream.end(), f.begin(), f.end());
    }
    for (size_t chunk : {1u, 3u, 7u, 4096u, 1u << 20}) {
        FrameBuffer fb(1024);
        REQUIRE(feed(fb, stream, chunk) == bodies);
        REQUIRE(fb.buffered() == 0);
    }
}

TEST_CASE("a packet over the limit is reported, not buffered") {
    FrameBuffer fb;
    size_t free_bytes;
    uint8_t* p = fb.prepare(free_bytes);
    ByteBuffer::store_u32(p, 2000);
    fb.commit(4);
    const uint8_t* body;
    uint32_t len;
    REQUIRE(fb.next(1000, body, len) == FrameBuffer::Status::too_large);
    REQUIRE(len == 2000);
}

TEST_CASE("an oversized packet can be skipped, and the stream goes on") {
    // 3000 bytes announced over a limit of 1000, then a normal packet; read
    // in small pieces, so the big one is dropped as it arrives.
    std::vector<uint8_t> stream = framed(std::string(3000, 'z'));
    auto next = framed("after");
    stream.insert(stream.end(), next.begin(), next.end());
    for (size_t chunk : {1u, 100u, 5000u}) {
        FrameBuffer fb(1024);
        std::vector<std::string> seen;
        size_t at = 0, skipped = 0;
        while (at < stream.size()) {
            size_t free_bytes = 0;
            uint8_t* p = fb.prepare(free_bytes);
            size_t n = std::min({chunk, free_bytes, stream.size() - at});
            std::memcpy(p, stream.data() + at, n);
            fb.commit(n);
            at += n;
            const uint8_t* body;
            uint32_t len;
            for (;;) {
                auto st = fb.next(1000, body, len);
                if (st == FrameBuffer::Status::too_large) {
                    ++skipped;
                    fb.skip_packet();
                } else if (st == FrameBuffer::Status::ready) {
                    seen.emplace_back(reinterpret_cast<const char*>(body), len);
                } else {
                    break;
                }
            }
            REQUIRE(fb.buffered() < 2048);  // the big one is never held
        }
        REQUIRE(skipped == 1);
        REQUIRE(seen == std::vector<std::string>{"after"});
    }
}

TEST_CASE("a header alone does not make the buffer grow to the size it announces") {
    FrameBuffer fb;
    size_t free_bytes = 0;
    uint8_t* p = fb.prepare(free_bytes);
    ByteBuffer::store_u32(p, 100u << 20);  // 100 MiB announced
    p[4] = 1;
    fb.commit(5);
    const uint8_t* body;
    uint32_t len;
    REQUIRE(fb.next(1u << 30, body, len) == FrameBuffer::Status::need_more);
    fb.prepare(free_bytes);
    REQUIRE(free_bytes < (1u << 20));
    // It grows as bytes come: never more than a few times what arrived.
    size_t received = 5;
    while (received < (8u << 20)) {
        p = fb.prepare(free_bytes);
        size_t n = std::min<size_t>(free_bytes, 256 * 1024);
        std::memset(p, 0, n);
        fb.commit(n);
        received += n;
        REQUIRE(fb.next(1u << 30, body, len) == FrameBuffer::Status::need_more);
        REQUIRE(free_bytes + fb.buffered() <= 4 * received + 2 * read_buffer_capacity);
    }
}

TEST_CASE("a byte buffer keeps its capacity across clear") {
    ByteBuffer b;
    b.append(std::string(1000, 'z'));
    b.put_u32(0xdeadbeef);
    REQUIRE(b.size() == 1004);
    REQUIRE(load_u32(b.data() + 1000) == 0xdeadbeef);
    size_t cap = b.capacity();
    b.clear();
    b.append("abc");
    REQUIRE(b.capacity() == cap);
    b.clear();
    b.release_if_above(10);
    REQUIRE(b.capacity() == 0);
}

TEST_CASE("memory handed out and shared is never written over") {
    FrameBuffer fb(1024);
    std::string big(5000, 'b');
    auto stream = framed(big);
    auto more = framed("next");
    stream.insert(stream.end(), more.begin(), more.end());
    size_t at = 0;
    const uint8_t* body = nullptr;
    uint32_t len = 0;
    SharedBytes kept;
    while (!kept) {
        size_t free_bytes;
        uint8_t* p = fb.prepare(free_bytes);
        size_t n = std::min<size_t>(free_bytes, std::min<size_t>(700, stream.size() - at));
        std::memcpy(p, stream.data() + at, n);
        fb.commit(n);
        at += n;
        if (fb.next(1u << 20, body, len) == FrameBuffer::Status::ready) kept = fb.share();
    }
    REQUIRE(len == big.size());
    // Keep reading (which compacts and grows): the shared body must stay intact.
    std::vector<std::string> rest;
    const uint8_t* b2;
    uint32_t l2;
    while (fb.next(1u << 20, b2, l2) == FrameBuffer::Status::ready) rest.emplace_back(reinterpret_cast<const char*>(b2), l2);
    auto tail = feed(fb, std::vector<uint8_t>(stream.begin() + static_cast<long>(at), stream.end()), 3);
    rest.insert(rest.end(), tail.begin(), tail.end());
    auto filler = feed(fb, framed(std::string(3000, 'z')), 100);  // forces compaction/growth
    REQUIRE(filler.size() == 1);
    REQUIRE(rest == std::vector<std::string>{"next"});
    REQUIRE(std::string(reinterpret_cast<const char*>(body), len) == big);
}

TEST_CASE("an output queue gathers its own bytes and shared payloads in order") {
    OutQueue q;
    q.bytes().append("head1|");
    auto block = std::make_shared<uint8_t[]>(4);
    std::memcpy(block.get(), "BODY", 4);
    q.append_shared(block.get(), 4, block);
    q.bytes().append("|tail");
    q.append_shared(block.get() + 2, 2, block);
    REQUIRE(q.size() == 6 + 4 + 5 + 2);
    struct Piece {
        const void* p;
        size_t n;
        Piece(const void* p_, size_t n_) : p(p_), n(n_) {}
    };
    std::vector<Piece> pieces;
    q.gather<Piece>(pieces);
    std::string all;
    for (auto& pc : pieces) all.append(static_cast<const char*>(pc.p), pc.n);
    REQUIRE(all == "head1|BODY|tailDY");
    q.clear();
    REQUIRE(q.empty());
}
