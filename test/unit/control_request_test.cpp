// Control requests from the shim, parsed from real terms (ei-encoded as
// the BEAM would send them).
#include "partisan/control_request.hpp"
#include "partisan/shim_protocol.hpp"

#include <catch2/catch.hpp>
#include <ei.h>

#include <functional>
#include <vector>

using namespace partisan;
using Op = ControlRequest::Op;

namespace {

std::vector<uint8_t> encode(const std::function<void(ei_x_buff&)>& fill) {
    ei_x_buff x;
    ei_x_new(&x);
    fill(x);
    std::vector<uint8_t> out(x.buff, x.buff + x.index);
    ei_x_free(&x);
    return out;
}

ControlRequest parse(const std::vector<uint8_t>& term) {
    return parse_control_request(etf::Reader(term.data(), term.size()));
}

void ip_port(ei_x_buff& x, std::initializer_list<long> ip, long port) {
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_tuple_header(&x, static_cast<int>(ip.size()));
    for (long v : ip) ei_x_encode_long(&x, v);
    ei_x_encode_long(&x, port);
}

}  // namespace

TEST_CASE("plain requests") {
    for (auto [name, op] : {std::pair{"members", Op::members}, {"stats", Op::stats},
                            {"unreachable", Op::unreachable}, {"leave", Op::leave}, {"dance", Op::bad}})
        REQUIRE(parse(encode([&](ei_x_buff& x) { ei_x_encode_atom(&x, name); })).op == op);
}

TEST_CASE("a join names a node and its addresses") {
    auto q = parse(encode([](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 3);
        ei_x_encode_atom(&x, "join");
        ei_x_encode_atom(&x, "b@host");
        ei_x_encode_list_header(&x, 2);
        ip_port(x, {127, 0, 0, 1}, 4000);
        ip_port(x, {0, 0, 0, 0, 0, 0, 0, 1}, 5);
        ei_x_encode_empty_list(&x);
    }));
    REQUIRE(q.op == Op::join);
    REQUIRE(q.node == "b@host");
    REQUIRE(q.addrs == std::vector<Address>{{"127.0.0.1", 4000}, {"::1", 5}});
}

TEST_CASE("bad joins are bad requests") {
    auto join = [](const char* node, std::function<void(ei_x_buff&)> addrs) {
        return parse(encode([&](ei_x_buff& x) {
            ei_x_encode_tuple_header(&x, 3);
            ei_x_encode_atom(&x, "join");
            ei_x_encode_atom(&x, node);
            addrs(x);
        }));
    };
    auto one = [](ei_x_buff& x) {
        ei_x_encode_list_header(&x, 1);
        ip_port(x, {10, 0, 0, 1}, 1);
        ei_x_encode_empty_list(&x);
    };
    REQUIRE(join("b@host", one).op == Op::join);
    REQUIRE(join("no-at-sign", one).op == Op::bad);
    REQUIRE(join("bad name@host", one).op == Op::bad);
    REQUIRE(join("b@host", [](ei_x_buff& x) { ei_x_encode_empty_list(&x); }).op == Op::bad);
    REQUIRE(join("b@host", [](ei_x_buff& x) {
                ei_x_encode_list_header(&x, 1);
                ip_port(x, {10, 0, 0, 256}, 1);
                ei_x_encode_empty_list(&x);
            }).op == Op::bad);
    REQUIRE(join("b@host", [](ei_x_buff& x) {
                ei_x_encode_list_header(&x, 1);
                ip_port(x, {10, 0, 0, 1}, 0);
                ei_x_encode_empty_list(&x);
            }).op == Op::bad);
}

TEST_CASE("leave of a node, faults") {
    auto q = parse(encode([](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "leave");
        ei_x_encode_atom(&x, "c@host");
    }));
    REQUIRE(q.op == Op::remove);
    REQUIRE(q.node == "c@host");
    q = parse(encode([](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 3);
        ei_x_encode_atom(&x, "fault");
        ei_x_encode_atom(&x, "partition");
        ei_x_encode_list_header(&x, 2);
        ei_x_encode_atom(&x, "a@h");
        ei_x_encode_atom(&x, "b@h");
        ei_x_encode_empty_list(&x);
    }));
    REQUIRE(q.op == Op::partition);
    REQUIRE(q.nodes == std::vector<std::string>{"a@h", "b@h"});
    q = parse(encode([](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 5);
        ei_x_encode_atom(&x, "fault");
        ei_x_encode_atom(&x, "close_link");
        ei_x_encode_atom(&x, "a@h");
        ei_x_encode_atom(&x, "vnode");
        ei_x_encode_long(&x, 3);
    }));
    REQUIRE(q.op == Op::close_link);
    REQUIRE(q.channel == "vnode");
    REQUIRE(q.index == 3);
    // Anything after the request is refused.
    auto with_tail = encode([](ei_x_buff& x) {
        ei_x_encode_atom(&x, "members");
        ei_x_encode_atom(&x, "extra");
    });
    REQUIRE(parse(with_tail).op == Op::bad);
}

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
