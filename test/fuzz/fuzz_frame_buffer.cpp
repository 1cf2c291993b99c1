// Length-prefixed framing (wire.hpp) fed a stream in pieces of sizes the
// fuzzer picks, against a plain reference parser of the same stream: the
// same packets must come out, oversized ones skipped, and nothing read or
// kept beyond bounds.
//
// Input: [u8 limit selector] then chunks [u8 n][n bytes of stream].
#include "partisan/codec/wire.hpp"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace partisan;

namespace {

// What a reader of the whole stream at once sees, skipping oversized packets.
std::vector<std::string> reference(const std::string& s, uint32_t max) {
    std::vector<std::string> out;
    size_t at = 0;
    while (s.size() - at >= 4) {
        uint32_t len = load_u32(reinterpret_cast<const uint8_t*>(s.data() + at));
        if (s.size() - at - 4 < len) break;
        if (len <= max) out.push_back(s.substr(at + 4, len));
        at += 4 + size_t{len};
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint32_t limits[] = {0, 1, 16, 1024, 65536, 1u << 30};
    uint32_t max = limits[data[0] % 6];
    FrameBuffer fb(64 + (data[0] >> 4) * 1024);
    std::string stream;
    std::vector<std::string> seen;
    size_t pos = 1;
    while (pos < size) {
        size_t want = data[pos++];
        size_t n = std::min(want, size - pos);
        size_t fed = 0;
        while (fed < n) {
            size_t free_bytes = 0;
            uint8_t* p = fb.prepare(free_bytes);
            if (free_bytes == 0) std::abort();
            size_t k = std::min(free_bytes, n - fed);
            std::memcpy(p, data + pos + fed, k);
            fb.commit(k);
            fed += k;
            for (;;) {
                const uint8_t* body = nullptr;
                uint32_t len = 0;
                auto st = fb.next(max, body, len);
                if (st == FrameBuffer::Status::need_more) break;
                if (st == FrameBuffer::Status::too_large) {
                    if (len <= max) std::abort();
                    fb.skip_packet();
                    continue;
                }
                if (len > max) std::abort();
                seen.emplace_back(reinterpret_cast<const char*>(body), len);
            }
        }
        stream.append(reinterpret_cast<const char*>(data + pos), n);
        pos += n;
    }
    if (seen != reference(stream, max)) std::abort();
    return 0;
}
