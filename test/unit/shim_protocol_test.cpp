// Distribution packets from the shim, parsed from real terms (ei-encoded as
// the BEAM would send them).
#include "partisan/beam/shim_protocol.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"
#include <ei.h>

#include <functional>
#include <vector>

using namespace partisan;

namespace {

using test::encode;

}  // namespace

TEST_CASE("shim packets: forward, call, answer, ignored, malformed") {
    uint8_t self_pid[] = {88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    auto packet = [&](std::function<void(ei_x_buff&)> control, std::function<void(ei_x_buff&)> msg) {
        auto c = encode([&](ei_x_buff& x) {
            ei_x_encode_version(&x);
            control(x);
        });
        auto m = encode([&](ei_x_buff& x) {
            ei_x_encode_version(&x);
            msg(x);
        });
        std::vector<uint8_t> p{112};
        p.insert(p.end(), c.begin(), c.end());
        p.insert(p.end(), m.begin(), m.end());
        return p;
    };
    auto reg_send = [&](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 4);
        ei_x_encode_long(&x, 6);
        ei_x_append_buf(&x, reinterpret_cast<const char*>(self_pid), sizeof self_pid);
        ei_x_encode_atom(&x, "");
        ei_x_encode_atom(&x, "partisan");
    };
    auto fwd = packet(reg_send, [](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 7);
        ei_x_encode_atom(&x, "$fwd");
        ei_x_encode_atom(&x, "b@h");
        ei_x_encode_atom(&x, "undefined");
        ei_x_encode_long(&x, 42);
        ei_x_encode_long(&x, 1);
        ei_x_encode_atom(&x, "server");
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "hello");
        ei_x_encode_binary(&x, "abc", 3);
    });
    ShimMessage m = parse_shim_packet(fwd.data(), fwd.size());
    REQUIRE(m.kind == ShimMessage::Kind::forward);
    REQUIRE(m.forward.node == "b@h");
    REQUIRE(m.forward.key == 42);
    REQUIRE(m.forward.flags == ForwardRequest::flag_pinned);
    REQUIRE(etf::is_valid_term(m.forward.message.data, m.forward.message.size));

    auto answer = packet(reg_send, [](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "$partisan_whereis");
        ei_x_encode_long(&x, 7);
        ei_x_encode_atom(&x, "undefined");
    });
    m = parse_shim_packet(answer.data(), answer.size());
    REQUIRE(m.kind == ShimMessage::Kind::answer);
    REQUIRE(m.answer_tag == "$partisan_whereis");
    REQUIRE(m.answer_id == 7);

    auto link = encode([&](ei_x_buff& x) {
        ei_x_encode_version(&x);
        ei_x_encode_tuple_header(&x, 3);
        ei_x_encode_long(&x, 1);
        ei_x_append_buf(&x, reinterpret_cast<const char*>(self_pid), sizeof self_pid);
        ei_x_append_buf(&x, reinterpret_cast<const char*>(self_pid), sizeof self_pid);
    });
    link.insert(link.begin(), 112);
    m = parse_shim_packet(link.data(), link.size());
    REQUIRE(m.kind == ShimMessage::Kind::ignored);
    REQUIRE(m.op == 1);

    for (size_t cut = 0; cut + 1 < fwd.size(); ++cut) {
        auto k = parse_shim_packet(fwd.data(), cut).kind;
        REQUIRE((k == ShimMessage::Kind::malformed || k == ShimMessage::Kind::forward));
    }
}
