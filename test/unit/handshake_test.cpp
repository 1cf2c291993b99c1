// The challenge-response handshake (protocol version 3), run in memory
// between a dialer and an acceptor.
#include "partisan/transport/tcp/handshake.hpp"

#include <catch2/catch.hpp>

using namespace partisan;
using namespace partisan::handshake;

namespace {

const Digest channels_a = sha256("undefined:1");
const Digest channels_b = sha256("undefined:1,vnode:4");

struct Outcome {
    std::string dialer_error, acceptor_error;
    bool dialer_done = false, acceptor_authenticated = false;
    Step refusal;  // the dialer's step when it was refused
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

// Runs a handshake; the acceptor's owner admits, or refuses with `refusal`.
Outcome run(const std::string& dialer_secret, const std::string& acceptor_secret,
            Refusal refusal = Refusal::none, const std::string& expected = "b@host",
            const std::string& acceptor_name = "b@host") {
    Dialer d(dialer_secret, "a@host", expected, LinkId{"undefined", 0}, channels_a);
    Acceptor a(acceptor_secret, acceptor_name);
    Outcome o;
    Step s1 = feed(a, d.hello());
    if (!s1.error.empty()) { o.acceptor_error = s1.error; return o; }
    Step s2 = feed(d, s1.reply);
    if (!s2.error.empty()) { o.dialer_error = s2.error; return o; }
    Step s3 = feed(a, s2.reply);
    o.acceptor_error = s3.error;
    o.acceptor_authenticated = s3.authenticated;
    ByteBuffer answer = s3.authenticated ? (refusal == Refusal::none ? a.accept() : a.refuse(refusal, "why not"))
                                         : std::move(s3.reply);
    if (answer.empty()) return o;
    Step s4 = feed(d, answer);
    o.dialer_error = s4.error;
    o.dialer_done = s4.done;
    o.refusal = std::move(s4);
    return o;
}

}  // namespace

TEST_CASE("nodes sharing the secret complete the handshake") {
    Outcome o = run("secret", "secret");
    INFO(o.acceptor_error << " / " << o.dialer_error);
    REQUIRE(o.acceptor_error.empty());
    REQUIRE(o.acceptor_authenticated);
    REQUIRE(o.dialer_error.empty());
    REQUIRE(o.dialer_done);
}

TEST_CASE("the acceptor's challenge holds nothing derived from the secret") {
    // Anyone may connect and send a hello: what comes back must be the same
    // whatever the secret, apart from the fresh nonce.
    Dialer d("anything", "a@host", "b@host", LinkId{"undefined", 0}, channels_a);
    ByteBuffer hello = d.hello();
    Acceptor a1("secret-one", "b@host");
    Acceptor a2("secret-two", "b@host");
    Step c1 = feed(a1, hello), c2 = feed(a2, hello);
    REQUIRE(c1.error.empty());
    REQUIRE(c1.reply.size() == 4 + 1 + 2 + 1 + 6 + nonce_size);  // type, version, name, nonce: no MAC
    REQUIRE(c1.reply.size() == c2.reply.size());
    size_t nonce_at = c1.reply.size() - nonce_size;
    REQUIRE(std::equal(c1.reply.data(), c1.reply.data() + nonce_at, c2.reply.data()));
    // A wrong proof gets a refusal that is the same whatever the secret too.
    ByteBuffer forged;
    size_t at = begin_frame(forged, FrameType::response);
    for (size_t i = 0; i < mac_size; ++i) forged.put_u8(0xab);
    end_frame(forged, at);
    Step r1 = feed(a1, forged), r2 = feed(a2, forged);
    REQUIRE_FALSE(r1.authenticated);
    REQUIRE(r1.error.find("wrong proof") != std::string::npos);
    REQUIRE(r1.reply.size() == r2.reply.size());
    REQUIRE(std::equal(r1.reply.data(), r1.reply.data() + r1.reply.size(), r2.reply.data()));
    // And once finished, an acceptor answers nothing more.
    REQUIRE_FALSE(feed(a1, forged).error.empty());
}

TEST_CASE("a wrong secret is refused by the acceptor, which checks first") {
    Outcome o = run("secret", "other");
    REQUIRE_FALSE(o.acceptor_authenticated);
    REQUIRE(o.acceptor_error.find("wrong proof") != std::string::npos);
    REQUIRE_FALSE(o.dialer_done);
    REQUIRE(o.refusal.refused == Refusal::bad_proof);
    REQUIRE_FALSE(o.refusal.refusal_proven);
}

TEST_CASE("a dialer refuses an acceptor that accepts without knowing the secret") {
    Dialer d("secret", "a@host", "b@host", LinkId{"undefined", 0}, channels_a);
    Acceptor a("secret", "b@host");
    Step s1 = feed(a, d.hello());
    Step s2 = feed(d, s1.reply);
    REQUIRE(feed(a, s2.reply).authenticated);
    // An impostor answers with an accept frame it cannot have computed.
    ByteBuffer fake;
    size_t at = begin_frame(fake, FrameType::accept);
    for (size_t i = 0; i < mac_size; ++i) fake.put_u8(0x11);
    end_frame(fake, at);
    Step s4 = feed(d, fake);
    REQUIRE_FALSE(s4.done);
    REQUIRE(s4.error.find("does not know the cluster secret") != std::string::npos);
}

TEST_CASE("a refusal after the dialer proved the secret is proven and says why") {
    Outcome o = run("secret", "secret", Refusal::channel_mismatch);
    REQUIRE(o.acceptor_authenticated);
    REQUIRE_FALSE(o.dialer_done);
    REQUIRE(o.refusal.refused == Refusal::channel_mismatch);
    REQUIRE(o.refusal.refusal_proven);
    REQUIRE(o.refusal.refusal_text == "why not");
    REQUIRE(o.dialer_error.find("channel_mismatch") != std::string::npos);
}

TEST_CASE("a refusal that is not proven is reported as such") {
    Dialer d("secret", "a@host", "b@host", LinkId{"undefined", 0}, channels_a);
    Acceptor a("secret", "b@host");
    Step s2 = feed(d, feed(a, d.hello()).reply);
    REQUIRE(feed(a, s2.reply).authenticated);
    // A man in the middle makes up a refusal it cannot prove.
    ByteBuffer forged;
    size_t at = begin_frame(forged, FrameType::refuse);
    forged.put_u8(static_cast<uint8_t>(Refusal::not_admitted));
    forged.put_u16(7);
    forged.append(std::string_view("go away"));
    for (size_t i = 0; i < mac_size; ++i) forged.put_u8(0x22);
    end_frame(forged, at);
    Step r = feed(d, forged);
    REQUIRE_FALSE(r.done);
    REQUIRE(r.refused == Refusal::not_admitted);
    REQUIRE_FALSE(r.refusal_proven);
    REQUIRE(r.error.find("unproven") != std::string::npos);
}

TEST_CASE("a dialer proves nothing to a node other than the one it meant") {
    // A stale address: another node answers. The dialer sends no proof.
    Outcome o = run("s", "s", Refusal::none, "c@host", "b@host");
    REQUIRE(o.acceptor_error.find("this node is b@host") != std::string::npos);
    Dialer d("s", "a@host", "c@host", LinkId{"undefined", 0}, channels_a);
    Acceptor a("s", "c@host");
    Step challenge = feed(a, d.hello());
    // Relabel the challenge as coming from b@host.
    Acceptor b("s", "b@host");
    Dialer d2("s", "a@host", "b@host", LinkId{"undefined", 0}, channels_a);
    Step from_b = feed(b, d2.hello());
    Step answer = feed(d, from_b.reply);
    REQUIRE(answer.reply.empty());
    REQUIRE(answer.error.find("expected c@host") != std::string::npos);
    REQUIRE(challenge.error.empty());
}

TEST_CASE("another protocol version is refused with a reason") {
    ByteBuffer hello;
    size_t at = begin_frame(hello, FrameType::hello);
    hello.put_u16(1);
    end_frame(hello, at);
    Acceptor a("s", "b@host");
    Step s = feed(a, hello);
    REQUIRE(s.error.find("version 1") != std::string::npos);
    Dialer d("s", "a@host", "b@host", LinkId{"undefined", 0}, channels_a);
    (void)d.hello();
    Step r = feed(d, s.reply);
    REQUIRE(r.refused == Refusal::version);
}

TEST_CASE("a bad node name in a hello is refused") {
    Dialer d("s", "no-at-sign", "b@host", LinkId{"undefined", 0}, channels_a);
    Acceptor a("s", "b@host");
    REQUIRE(feed(a, d.hello()).error.find("bad node name") != std::string::npos);
}

TEST_CASE("the channel digest travels in the hello and is authenticated") {
    Dialer d("s", "a@host", "b@host", LinkId{"undefined", 0}, channels_b);
    Acceptor a("s", "b@host");
    Step s2 = feed(d, feed(a, d.hello()).reply);
    REQUIRE(feed(a, s2.reply).authenticated);
    REQUIRE(a.peer_channels() == channels_b);
    REQUIRE(a.peer_channels() != channels_a);
}

TEST_CASE("MACs differ when anything in the transcript differs") {
    Transcript base{"a", "b", LinkId{"undefined", 0}, channels_a, Nonce{}, Nonce{}};
    Mac m = transcript_mac("s", "x", base);
    auto differs = [&](Transcript t) { return transcript_mac("s", "x", t) != m; };
    REQUIRE(transcript_mac("t", "x", base) != m);
    REQUIRE(transcript_mac("s", "y", base) != m);
    REQUIRE(transcript_mac("s", "x", base, "extra") != m);
    Transcript t = base;
    std::swap(t.dialer, t.acceptor);
    REQUIRE(differs(t));
    t = base;
    t.link.index = 1;
    REQUIRE(differs(t));
    t = base;
    t.channels = channels_b;
    REQUIRE(differs(t));
    t = base;
    t.dialer_nonce[0] = 1;
    REQUIRE(differs(t));
    t = base;
    t.acceptor_nonce[0] = 1;
    REQUIRE(differs(t));
}

TEST_CASE("truncated handshake frames are refused, not read past") {
    Dialer d("s", "a@host", "b@host", LinkId{"undefined", 0}, channels_a);
    ByteBuffer hello = d.hello();
    uint32_t len = 0;
    const uint8_t* body = body_of(hello, len);
    for (uint32_t cut = 0; cut < len; ++cut) {
        Acceptor a("s", "b@host");
        std::vector<uint8_t> part(body, body + cut);
        REQUIRE_FALSE(a.on_frame(part.data(), cut).error.empty());
    }
    Acceptor a("s", "b@host");
    ByteBuffer challenge = feed(a, hello).reply;
    const uint8_t* cbody = body_of(challenge, len);
    for (uint32_t cut = 0; cut < len; ++cut) {
        Dialer d2("s", "a@host", "b@host", LinkId{"undefined", 0}, channels_a);
        (void)d2.hello();
        std::vector<uint8_t> part(cbody, cbody + cut);
        REQUIRE_FALSE(d2.on_frame(part.data(), cut).error.empty());
    }
}
