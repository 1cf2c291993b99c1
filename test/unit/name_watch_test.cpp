// Which registered names have a process: messages to a name nobody
// registered are counted as undeliverable, not received.
#include "partisan/beam/name_watch.hpp"
#include "partisan/transport/tcp/peer_connection.hpp"

#include <catch2/catch.hpp>

using namespace partisan;
using namespace std::chrono_literals;

namespace {
// A message counted as received, then handed to the watch.
std::optional<uint64_t> deliver(NameWatch& w, const char* name, LinkStats& s, NameWatch::Clock::time_point t) {
    ++s.messages_received;
    return w.delivered(name, &s, t);
}
}  // namespace

TEST_CASE("messages to a name nobody registered become undeliverable") {
    NameWatch w;
    LinkStats a, b;
    auto t = NameWatch::Clock::now();
    auto q = deliver(w, "nobody", a, t);
    REQUIRE(q);
    REQUIRE_FALSE(deliver(w, "nobody", a, t));  // one question at a time
    REQUIRE_FALSE(deliver(w, "nobody", b, t));
    auto s = w.answered(*q, false, t);
    REQUIRE(s.name == "nobody");
    REQUIRE(s.undeliverable == 3);
    REQUIRE(a.undeliverable == 2);
    REQUIRE(a.messages_received == 0);
    REQUIRE(b.undeliverable == 1);
    // Known absent: the next message is undeliverable at once.
    REQUIRE_FALSE(deliver(w, "nobody", a, t + 100ms));
    REQUIRE(a.undeliverable == 3);
    REQUIRE(a.messages_received == 0);
    // A second later, the name is asked about again (it may be registered now).
    auto again = deliver(w, "nobody", a, t + 1500ms);
    REQUIRE(again);
    REQUIRE(w.answered(*again, true, t + 1500ms).undeliverable == 0);
    REQUIRE(a.messages_received == 1);
}

TEST_CASE("a registered name is asked about at most once a second") {
    NameWatch w;
    LinkStats a;
    auto t = NameWatch::Clock::now();
    auto q = deliver(w, "server", a, t);
    REQUIRE(q);
    w.answered(*q, true, t);
    for (int i = 0; i < 100; ++i) REQUIRE_FALSE(deliver(w, "server", a, t + 500ms));
    REQUIRE(a.undeliverable == 0);
    REQUIRE(a.messages_received == 101);
    auto next = deliver(w, "server", a, t + 1200ms);
    REQUIRE(next);
    REQUIRE(w.answered(*next, false, t + 1200ms).undeliverable == 1);  // its process went away
    REQUIRE(a.undeliverable == 1);
}

TEST_CASE("unknown and stale answers are ignored") {
    NameWatch w;
    LinkStats a;
    auto t = NameWatch::Clock::now();
    REQUIRE(w.answered(42, false, t).name.empty());
    auto q = deliver(w, "x", a, t);
    REQUIRE(w.answered(*q, false, t).undeliverable == 1);
    REQUIRE(w.answered(*q, false, t).undeliverable == 0);  // answered twice
}

TEST_CASE("the table is bounded") {
    NameWatch w(2);
    LinkStats a;
    auto t = NameWatch::Clock::now();
    auto q1 = deliver(w, "one", a, t);
    auto q2 = deliver(w, "two", a, t);
    REQUIRE_FALSE(deliver(w, "three", a, t));  // both being asked about: untracked
    w.answered(*q1, true, t);
    REQUIRE(deliver(w, "three", a, t));  // "one" was forgotten to make room
    REQUIRE(w.tracked() == 2);
    REQUIRE(q2);
}
