// The control-call table and its argument readers, on real terms
// (ei-encoded as the BEAM would send them); answers are decoded back.
#include "partisan/control/control_api.hpp"
#include "partisan/control/control_args.hpp"
#include "partisan/codec/ei_out.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"
#include <ei.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

using namespace partisan;

namespace {

using test::encode;

etf::Reader reader(const std::vector<uint8_t>& term) { return etf::Reader(term.data(), term.size()); }

void ip_port(ei_x_buff& x, std::initializer_list<long> ip, long port) {
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_tuple_header(&x, static_cast<int>(ip.size()));
    for (long v : ip) ei_x_encode_long(&x, v);
    ei_x_encode_long(&x, port);
}

const uint8_t caller_pid[] = {88, 119, 3, 'a', '@', 'h', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
const uint8_t call_ref[] = {97, 7};  // the shim's refs are references; any term does here

// Dispatches `request` and returns the answer as ei prints it, unspaced.
std::string call(const ControlApi& api, const std::vector<uint8_t>& request) {
    std::string printed;
    std::vector<uint8_t> to;
    ReplySender send = [&](Bytes pid, const ei_x_buff& term) {
        to.assign(pid.data, pid.data + pid.size);
        char* s = nullptr;
        int index = 1;  // after the version byte
        REQUIRE(ei_s_print_term(&s, term.buff, &index) >= 0);
        for (const char* p = s; *p; ++p)
            if (*p != ' ') printed += *p;  // ei prints "{a, b}"
        free(s);
    };
    api.dispatch(ControlCall(send, Bytes{caller_pid, sizeof caller_pid}, Bytes{call_ref, sizeof call_ref}),
                 reader(request));
    REQUIRE(to == std::vector<uint8_t>(caller_pid, caller_pid + sizeof caller_pid));
    return printed;
}

std::vector<uint8_t> atom(const char* a) {
    return encode([&](ei_x_buff& x) { ei_x_encode_atom(&x, a); });
}

}  // namespace

TEST_CASE("requests go to the handler of their operation and arity") {
    ControlApi api;
    std::vector<std::string> seen;
    api.add("members", 0, [&](const ControlArgs& args, ControlCall& c) {
        seen.push_back("members/" + std::to_string(args.size()));
        c.ok([](ei_x_buff& x) { ei_x_encode_atom(&x, "list"); });
        return true;
    });
    api.add("leave", 1, [&](const ControlArgs& args, ControlCall& c) {
        std::string node;
        if (!arg_node(args[0], node)) return false;
        c.error("unknown_node", node);
        return true;
    });
    REQUIRE(api.serves("members", 0));
    REQUIRE_FALSE(api.serves("members", 1));
    REQUIRE(call(api, atom("members")) == "{7,{ok,list}}");
    REQUIRE(seen == std::vector<std::string>{"members/0"});
    auto leave = encode([](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "leave");
        ei_x_encode_atom(&x, "c@host");
    });
    REQUIRE(call(api, leave) == "{7,{error,{unknown_node,c@host}}}");
}

TEST_CASE("what no handler takes is a bad request, echoed") {
    ControlApi api;
    api.add("leave", 1, [](const ControlArgs& args, ControlCall& c) {
        std::string node;
        if (!arg_node(args[0], node)) return false;
        c.ok();
        return true;
    });
    REQUIRE(call(api, atom("dance")) == "{7,{error,{bad_request,dance}}}");
    auto bad_node = encode([](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "leave");
        ei_x_encode_atom(&x, "no-at-sign");
    });
    REQUIRE(call(api, bad_node) == "{7,{error,{bad_request,{leave,'no-at-sign'}}}}");
    // Anything after the request, or no valid term at all.
    auto with_tail = encode([](ei_x_buff& x) {
        ei_x_encode_atom(&x, "leave");
        ei_x_encode_atom(&x, "extra");
    });
    REQUIRE(call(api, with_tail) == "{7,{error,{bad_request,leave}}}");
    REQUIRE(call(api, {119, 1, 0xff}) == "{7,{error,{bad_request,undefined}}}");
}

TEST_CASE("a call kept for later is answered once") {
    ControlApi api;
    std::vector<ControlCall> kept;
    api.add("join", 0, [&](const ControlArgs&, ControlCall& c) {
        kept.push_back(std::move(c));
        return true;
    });
    int answers = 0;
    ReplySender send = [&](Bytes, const ei_x_buff&) { ++answers; };
    api.dispatch(ControlCall(send, Bytes{caller_pid, sizeof caller_pid}, Bytes{call_ref, sizeof call_ref}),
                 reader(atom("join")));
    REQUIRE(answers == 0);
    REQUIRE(kept.size() == 1);
    kept[0].ok();
    kept[0].error("late");
    REQUIRE(answers == 1);
}

TEST_CASE("split_request: atoms and tuples of whole terms") {
    std::string_view op;
    ControlArgs args;
    auto t = encode([](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 3);
        ei_x_encode_atom(&x, "fault");
        ei_x_encode_atom(&x, "partition");
        ei_x_encode_list_header(&x, 1);
        ei_x_encode_atom(&x, "a@h");
        ei_x_encode_empty_list(&x);
    });
    REQUIRE(split_request(reader(t), op, args));
    REQUIRE(op == "fault");
    REQUIRE(args.size() == 2);
    std::vector<std::string> nodes;
    REQUIRE(arg_nodes(args[1], 0, 10, nodes));
    REQUIRE(nodes == std::vector<std::string>{"a@h"});
    for (size_t cut = 0; cut < t.size(); ++cut)
        REQUIRE_FALSE(split_request(etf::Reader(t.data(), cut), op, args));
    auto not_op = encode([](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 1);
        ei_x_encode_long(&x, 1);
    });
    REQUIRE_FALSE(split_request(reader(not_op), op, args));
}

TEST_CASE("argument readers: nodes and addresses") {
    auto addrs = [](const std::function<void(ei_x_buff&)>& fill) {
        std::vector<Address> out;
        auto t = encode(fill);
        return arg_addresses(reader(t), 1, 16, out) ? out : std::vector<Address>{};
    };
    REQUIRE(addrs([](ei_x_buff& x) {
                ei_x_encode_list_header(&x, 2);
                ip_port(x, {127, 0, 0, 1}, 4000);
                ip_port(x, {0, 0, 0, 0, 0, 0, 0, 1}, 5);
                ei_x_encode_empty_list(&x);
            }) == std::vector<Address>{{"127.0.0.1", 4000}, {"::1", 5}});
    REQUIRE(addrs([](ei_x_buff& x) { ei_x_encode_empty_list(&x); }).empty());
    REQUIRE(addrs([](ei_x_buff& x) {
                ei_x_encode_list_header(&x, 1);
                ip_port(x, {10, 0, 0, 256}, 1);
                ei_x_encode_empty_list(&x);
            }).empty());
    REQUIRE(addrs([](ei_x_buff& x) {
                ei_x_encode_list_header(&x, 1);
                ip_port(x, {10, 0, 0, 1}, 0);
                ei_x_encode_empty_list(&x);
            }).empty());
    std::string node;
    REQUIRE(arg_node(reader(atom("b@host")), node));
    REQUIRE(node == "b@host");
    REQUIRE_FALSE(arg_node(reader(atom("bad name@host")), node));
    uint64_t n;
    REQUIRE(arg_uint(reader(encode([](ei_x_buff& x) { ei_x_encode_long(&x, 3); })), n));
    REQUIRE(n == 3);
    REQUIRE_FALSE(arg_uint(reader(encode([](ei_x_buff& x) { ei_x_encode_long(&x, -3); })), n));
}

TEST_CASE("ei_out: an empty list is one NIL, a full one ends with one") {
    auto atoms = [](std::vector<std::string> names) {
        return test::encode([&](ei_x_buff& x) { encode_atoms(x, names); });
    };
    REQUIRE(atoms({}) == std::vector<uint8_t>{106});
    auto two = atoms({"a", "b"});
    REQUIRE(two.front() == 108);  // LIST_EXT
    REQUIRE(two.back() == 106);
    REQUIRE(std::count(two.begin(), two.end(), uint8_t{106}) == 1);
    auto none = test::encode([](ei_x_buff& x) { encode_addresses(x, {}); });
    REQUIRE(none == std::vector<uint8_t>{106});
}
