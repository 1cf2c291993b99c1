// Both roles of the peer handshake (handshake.hpp) on what a stranger or a
// man in the middle can send. Input: [u8 mode] then frames [u16 n][n bytes].
//   mode 0: an acceptor gets the frames.
//   mode 1: a dialer that said hello gets the frames.
//   mode 2: an acceptor gets a real hello, then the frames.
//   mode 3: a real handshake in which one byte of one frame in flight is
//           changed (frame index, offset and xor from the input): neither
//           side may then complete.
#include "partisan/transport/tcp/handshake.hpp"

#include <cstdlib>
#include <vector>

using namespace partisan;
using namespace partisan::handshake;

namespace {

const Digest digest = sha256("undefined:1");

std::vector<std::vector<uint8_t>> frames(const uint8_t* p, size_t n) {
    std::vector<std::vector<uint8_t>> out;
    size_t pos = 0;
    while (n - pos >= 2 && out.size() < 8) {
        size_t len = std::min<size_t>(load_u16(p + pos), n - pos - 2);
        out.emplace_back(p + pos + 2, p + pos + 2 + len);
        pos += 2 + len;
    }
    return out;
}

template <typename Side>
Step feed(Side& side, const std::vector<uint8_t>& body) {
    return side.on_frame(body.data(), static_cast<uint32_t>(body.size()));
}

// A frame's body, as on_frame takes it (without its length).
std::vector<uint8_t> body_of(const ByteBuffer& frame) {
    if (frame.size() < 4 || load_u32(frame.data()) + 4 != frame.size()) std::abort();
    return std::vector<uint8_t>(frame.data() + 4, frame.data() + frame.size());
}

void tampered(const uint8_t* p, size_t n) {
    if (n < 3) return;
    size_t which = p[0] % 3, offset = load_u16(p + 1);
    uint8_t flip = n > 3 ? p[3] : 1;
    if (flip == 0) flip = 1;
    Dialer d("secret", "a@host", "b@host", LinkId{"undefined", 0}, digest);
    Acceptor a("secret", "b@host");
    auto tamper = [&](std::vector<uint8_t> body, size_t index) {
        if (index == which && !body.empty()) body[offset % body.size()] ^= flip;
        return body;
    };
    Step s1 = feed(a, tamper(body_of(d.hello()), 0));
    if (!s1.error.empty()) return;
    Step s2 = feed(d, tamper(body_of(s1.reply), 1));
    if (!s2.error.empty()) return;
    Step s3 = feed(a, tamper(body_of(s2.reply), 2));
    if (s3.authenticated) std::abort();  // a changed hello, challenge or proof got through
    if (!s3.error.empty() && !s3.reply.empty()) (void)feed(d, body_of(s3.reply));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] % 4;
    const uint8_t* p = data + 1;
    size_t n = size - 1;
    if (mode == 3) {
        tampered(p, n);
        return 0;
    }
    auto input = frames(p, n);
    if (mode == 1) {
        Dialer d("secret", "a@host", "b@host", LinkId{"undefined", 0}, digest);
        (void)d.hello();
        for (const auto& f : input)
            if (feed(d, f).done) std::abort();  // nothing made up can prove the secret
        return 0;
    }
    Acceptor a("secret", "b@host");
    if (mode == 2) {
        Dialer d("other", "a@host", "b@host", LinkId{"undefined", 0}, digest);
        if (!feed(a, body_of(d.hello())).error.empty()) std::abort();
    }
    for (const auto& f : input) {
        Step s = feed(a, f);
        if (s.authenticated) std::abort();
        if (s.reply.size() > max_frame + 4) std::abort();
    }
    return 0;
}
