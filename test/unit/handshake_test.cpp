// The challenge-response handshake, run in memory between a dialer and an
// acceptor.
#include "partisan/handshake.hpp"

#include <catch2/catch.hpp>

using namespace partisan;
using namespace partisan::handshake;

namespace {

struct Outcome {
    std::string dialer_error, acceptor_error;
    bool dialer_done = false, acceptor_done = false;
};

const uint8_t* body_of(const ByteBuffer& frame, uint32_t& len) {
    len = load_u32(frame.data());
    REQUIRE(len + 4 == frame.size());
    return frame.data() + 4;
}

// Hands one whole frame to a handshake side.
template <typename Side>
Step feed(Side& side, const ByteBuffer& frame) {
    uint32_t len = 0;
    const uint8_t* body = body_of(frame, len);
    return side.on_frame(body, len);
}

Outcome run(const std::string& dialer_secret, const std::string& acceptor_secret,
            const std::string& expected = "b@host", const std::string& acceptor_name = "b@host",
            const std::string& channel = "undefined") {
    Dialer d(dialer_secret, "a@host", expected, LinkId{channel, 0});
    Acceptor a(acceptor_secret, acceptor_name, [](const LinkId& l) { return l.channel == "undefined" && l.index == 0; });
    Outcome o;
    ByteBuffer hello = d.hello();
    Step s1 = feed(a, hello);
    if (!s1.error.empty()) { o.acceptor_error = s1.error; return o; }
    Step s2 = feed(d, s1.reply);
    if (!s2.error.empty()) { o.dialer_error = s2.error; return o; }
    Step s3 = feed(a, s2.reply);
    if (!s3.error.empty()) { o.acceptor_error = s3.error; return o; }
    o.acceptor_done = s3.done;
    Step s4 = feed(d, s3.reply);
    o.dialer_error = s4.error;
    o.dialer_done = s4.done;
    return o;
}

}  // namespace

TEST_CASE("nodes sharing the secret complete the handshake") {
    Outcome o = run("secret", "secret");
    INFO(o.acceptor_error << " / " << o.dialer_error);
    REQUIRE(o.dialer_error.empty());
    REQUIRE(o.acceptor_error.empty());
    REQUIRE(o.dialer_done);
    REQUIRE(o.acceptor_done);
}

TEST_CASE("a wrong secret is refused by the side that checks first") {
    // The dialer checks the acceptor's proof first, so it refuses.
    Outcome o = run("secret", "other");
    REQUIRE_FALSE(o.dialer_done);
    REQUIRE_FALSE(o.acceptor_done);
    REQUIRE(o.dialer_error.find("secret") != std::string::npos);
}

TEST_CASE("an acceptor refuses a dialer that cannot prove the secret") {
    Dialer d("wrong", "a@host", "b@host", LinkId{"undefined", 0});
    Acceptor a("secret", "b@host", [](const LinkId&) { return true; });
    ByteBuffer hello = d.hello();
    Step s1 = feed(a, hello);
    REQUIRE(s1.error.empty());
    // A dialer without the secret answers with a made-up MAC.
    ByteBuffer forged;
    forged.put_u32(1 + mac_size);
    forged.put_u8(FrameType::response);
    for (size_t i = 0; i < mac_size; ++i) forged.put_u8(0xab);
    Step s2 = feed(a, forged);
    REQUIRE_FALSE(s2.done);
    REQUIRE(s2.error.find("secret") != std::string::npos);
}

TEST_CASE("a hello for another node or an unknown channel is refused") {
    REQUIRE(run("s", "s", "c@host", "b@host").acceptor_error.find("this node is b@host") != std::string::npos);
    REQUIRE(run("s", "s", "b@host", "b@host", "bulk").acceptor_error.find("unknown channel") != std::string::npos);
}

TEST_CASE("MACs differ when anything in the transcript differs") {
    Nonce n1{}, n2{};
    n2[0] = 1;
    LinkId l{"undefined", 0};
    Mac base = transcript_mac("s", "x", "a", "b", l, n1, n1);
    REQUIRE(base != transcript_mac("t", "x", "a", "b", l, n1, n1));
    REQUIRE(base != transcript_mac("s", "y", "a", "b", l, n1, n1));
    REQUIRE(base != transcript_mac("s", "x", "b", "a", l, n1, n1));
    REQUIRE(base != transcript_mac("s", "x", "a", "b", LinkId{"undefined", 1}, n1, n1));
    REQUIRE(base != transcript_mac("s", "x", "a", "b", l, n2, n1));
    REQUIRE(base != transcript_mac("s", "x", "a", "b", l, n1, n2));
}

TEST_CASE("truncated handshake frames are refused, not read past") {
    Dialer d("s", "a@host", "b@host", LinkId{"undefined", 0});
    ByteBuffer hello = d.hello();
    uint32_t len = 0;
    const uint8_t* body = body_of(hello, len);
    for (uint32_t cut = 0; cut < len; ++cut) {
        Acceptor a("s", "b@host", [](const LinkId&) { return true; });
        std::vector<uint8_t> part(body, body + cut);
        REQUIRE_FALSE(a.on_frame(part.data(), cut).error.empty());
    }
}
