// The control calls of the shim, `{'$call', From, Ref, Request}`
// (docs/SHIM_INTERFACE.md). Each component registers the operations it
// serves; this table finds the handler and answers what no handler takes.
// A Request is an atom `Op` or a tuple `{Op, Arg1, ..., ArgN}`; handlers are
// registered by Op and N (0 for the bare atom). Every answer is encoded
// here: `{Ref, ok | {ok, Value} | {error, Reason}}`.
#pragma once

#include "partisan/codec/etf.hpp"
#include "partisan/codec/wire.hpp"

#include <ei.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace partisan {

// Where answers go: to a pid on the BEAM (the control link, in the node).
using ReplySender = std::function<void(Bytes to_pid, const ei_x_buff& term)>;
// Writes one term into an answer.
using Encoder = std::function<void(ei_x_buff&)>;

// One call, to be answered once: now, or later (it can be kept, e.g. by a
// join waiting for its first connection).
class ControlCall {
public:
    ControlCall(ReplySender send, Bytes from_pid, Bytes ref);
    ControlCall(ControlCall&&) = default;
    ControlCall& operator=(ControlCall&&) = default;
    ControlCall(const ControlCall&) = delete;
    ControlCall& operator=(const ControlCall&) = delete;

    void ok();                       // ok
    void ok(const Encoder& value);   // {ok, Value}
    void error(const char* reason);  // {error, reason}
    void error(const Encoder& reason);  // {error, Reason}
    // {error, {Tag, Atom}}, e.g. {error, {unknown_node, Node}}
    void error(const char* tag, std::string_view atom);
    bool answered() const { return answered_; }

private:
    void answer(const Encoder& term);

    ReplySender send_;
    std::vector<uint8_t> from_, ref_;
    bool answered_ = false;
};

// The arguments of a request, each exactly one valid term.
using ControlArgs = std::vector<etf::Reader>;

class ControlApi {
public:
    // Parses `args` and acts, answering `call` (or moving it away to answer
    // later); false when the arguments are not what the operation takes
    // (nothing done: the table answers {error, {bad_request, Request}}).
    using Handler = std::function<bool(const ControlArgs& args, ControlCall& call)>;

    // One handler per (op, arity); a second registration replaces the first.
    void add(std::string op, size_t arity, Handler handler);
    // Answers `request` (the reader stands at it) through its handler.
    void dispatch(ControlCall call, etf::Reader request) const;
    // Whether some handler serves (op, arity).
    bool serves(std::string_view op, size_t arity) const;

private:
    std::map<std::string, Handler, std::less<>> handlers_;  // by "op/arity"
};

// Splits a request into its operation and arguments; false when it is
// neither an atom nor a tuple starting with one, or a term is not valid.
bool split_request(etf::Reader request, std::string_view& op, ControlArgs& args);

}  // namespace partisan
