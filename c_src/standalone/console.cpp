#include "partisan/standalone/console.hpp"

#include "partisan/codec/ei_out.hpp"
#include "partisan/core/names.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace partisan {

namespace {

// The registered name a standalone node's broadcasts are addressed to.
constexpr const char* counter_name = "counter";

std::vector<uint8_t> take(ei_x_buff& x) { return {x.buff, x.buff + x.index}; }

// The answer of a `{Ref, Answer}` term, as text (ei's printer).
std::string print(const ei_x_buff& term) {
    int index = 0, version = 0, arity = 0;
    if (term.index > 0 && static_cast<uint8_t>(term.buff[0]) == 131) ei_decode_version(term.buff, &index, &version);
    if (ei_decode_tuple_header(term.buff, &index, &arity) < 0 || arity != 2 || ei_skip_term(term.buff, &index) < 0)
        return "<unprintable>";
    char* text = nullptr;
    if (ei_s_print_term(&text, term.buff, &index) < 0) return "<unprintable>";
    std::string out(text);
    free(text);
    return out;
}

}  // namespace

Console::Console(Context& ctx, Dispatch dispatch, std::vector<std::unique_ptr<CountingBeam>>& beams)
    : ctx_(ctx), dispatch_(std::move(dispatch)), beams_(beams), in_(ctx.io, ::dup(STDIN_FILENO)) {}

void Console::start() { read(); }

void Console::close() {
    asio::error_code ec;
    in_.close(ec);
}

void Console::read() {
    asio::async_read_until(in_, buf_, '\n', [this](const asio::error_code& ec, size_t n) {
        if (ec) {
            PLOG(ctx_.log, info, "stdin closed; exiting");
            ctx_.io.stop();
            return;
        }
        std::string line(asio::buffers_begin(buf_.data()), asio::buffers_begin(buf_.data()) + static_cast<long>(n));
        buf_.consume(n);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
        run(line);
        read();
    });
}

bool Console::parse(const std::string& line, std::vector<uint8_t>& request) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    EiBuf b;
    b.x.index = 0;  // no version byte: requests are read as in a '$call'
    if (cmd == "join") {
        std::string name, ip;
        unsigned port = 0;
        if (!(in >> name >> ip >> port) || !valid_node_name(name) || !valid_ip_address(ip) || port == 0 ||
            port > 65535)
            return false;
        unsigned a[4];
        if (std::sscanf(ip.c_str(), "%u.%u.%u.%u", &a[0], &a[1], &a[2], &a[3]) != 4) return false;
        // {join, Name, [{{A,B,C,D}, Port}]}
        ei_x_encode_tuple_header(&b.x, 3);
        ei_x_encode_atom(&b.x, "join");
        encode_atom(b.x, name);
        ei_x_encode_list_header(&b.x, 1);
        ei_x_encode_tuple_header(&b.x, 2);
        ei_x_encode_tuple_header(&b.x, 4);
        for (unsigned v : a) ei_x_encode_ulong(&b.x, v);
        ei_x_encode_ulong(&b.x, port);
        ei_x_encode_empty_list(&b.x);
    } else if (cmd == "broadcast") {
        long long tag = 0;
        if (!(in >> tag)) return false;
        // {broadcast, undefined, counter, Tag}
        ei_x_encode_tuple_header(&b.x, 4);
        ei_x_encode_atom(&b.x, "broadcast");
        ei_x_encode_atom(&b.x, "undefined");
        ei_x_encode_atom(&b.x, counter_name);
        ei_x_encode_longlong(&b.x, tag);
    } else if (cmd == "members" || cmd == "views" || cmd == "stats" || cmd == "unreachable") {
        ei_x_encode_atom(&b.x, cmd.c_str());
    } else {
        return false;
    }
    std::string rest;
    if (in >> rest) return false;
    request = take(b.x);
    return true;
}

void Console::run(const std::string& line) {
    uint64_t n = ++seq_;
    if (line.rfind("delivered", 0) == 0) {
        uint64_t total = 0;
        for (const auto& beam : beams_) total += beam->messages();
        ctx_.log.raw_line("REPLY " + std::to_string(n) + " {ok," + std::to_string(total) + "}");
        return;
    }
    std::vector<uint8_t> request;
    if (!parse(line, request)) {
        ctx_.log.raw_line("REPLY " + std::to_string(n) + " {error,bad_command}");
        return;
    }
    // The call's reference is the command's number.
    EiBuf ref;
    ref.x.index = 0;
    ei_x_encode_ulonglong(&ref.x, n);
    auto ref_bytes = take(ref.x);
    dispatch_(etf::Reader(request.data(), request.size()),
              [this, n](Bytes, const ei_x_buff& term) {
                  ctx_.log.raw_line("REPLY " + std::to_string(n) + " " + print(term));
              },
              Bytes{ref_bytes.data(), ref_bytes.size()});
}

}  // namespace partisan
