#include "partisan/control/control_api.hpp"

#include "partisan/codec/ei_out.hpp"

#include <string>

namespace partisan {

namespace {

std::string key(std::string_view op, size_t arity) { return std::string(op) + "/" + std::to_string(arity); }

}  // namespace

ControlCall::ControlCall(ReplySender send, Bytes from_pid, Bytes ref)
    : send_(std::move(send)), from_(from_pid.data, from_pid.data + from_pid.size), ref_(ref.data, ref.data + ref.size) {}

void ControlCall::answer(const Encoder& term) {
    if (answered_) return;  // one answer per call
    answered_ = true;
    EiBuf b;
    ei_x_encode_tuple_header(&b.x, 2);
    ei_x_append_buf(&b.x, reinterpret_cast<const char*>(ref_.data()), static_cast<int>(ref_.size()));
    term(b.x);
    send_(Bytes{from_.data(), from_.size()}, b.x);
}

void ControlCall::ok() {
    answer([](ei_x_buff& x) { ei_x_encode_atom(&x, "ok"); });
}

void ControlCall::ok(const Encoder& value) {
    answer([&](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "ok");
        value(x);
    });
}

void ControlCall::error(const Encoder& reason) {
    answer([&](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "error");
        reason(x);
    });
}

void ControlCall::error(const char* reason) {
    error([reason](ei_x_buff& x) { ei_x_encode_atom(&x, reason); });
}

void ControlCall::error(const char* tag, std::string_view atom) {
    error([&](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, tag);
        encode_atom(x, atom);
    });
}

bool split_request(etf::Reader r, std::string_view& op, ControlArgs& args) {
    args.clear();
    etf::Reader start = r;
    if (r.atom(op)) return r.at_end();
    r = start;
    uint32_t arity = 0;
    if (!r.tuple_header(arity) || arity == 0 || !r.atom(op)) return false;
    for (uint32_t i = 1; i < arity; ++i) {
        const uint8_t* at = r.here();
        size_t from = r.pos();
        if (!r.skip()) return false;
        args.emplace_back(at, r.pos() - from);
    }
    return r.at_end();
}

void ControlApi::add(std::string op, size_t arity, Handler handler) {
    handlers_[key(op, arity)] = std::move(handler);
}

bool ControlApi::serves(std::string_view op, size_t arity) const { return handlers_.count(key(op, arity)) > 0; }

void ControlApi::dispatch(ControlCall call, etf::Reader request) const {
    std::string_view op;
    ControlArgs args;
    if (split_request(request, op, args)) {
        auto it = handlers_.find(key(op, args.size()));
        if (it != handlers_.end() && it->second(args, call)) return;
    }
    // {error, {bad_request, Request}}, Request as it came when it is a term.
    etf::Reader whole = request;
    bool term_ok = whole.skip();
    call.error([&](ei_x_buff& x) {
        ei_x_encode_tuple_header(&x, 2);
        ei_x_encode_atom(&x, "bad_request");
        if (term_ok)
            ei_x_append_buf(&x, reinterpret_cast<const char*>(request.here()), static_cast<int>(whole.pos() - request.pos()));
        else
            ei_x_encode_atom(&x, "undefined");
    });
}

}  // namespace partisan
