// Which registered names have a process: messages to a name nobody
// registered are counted as undeliverable, not received.
#include "partisan/name_watch.hpp"
#include "partisan/peer_connection.hpp"

#include <catch2/catch.hpp>

using namespace partisan;

TEST_CASE("messages to a name nobody registered become undeliverable") {
    NameWatch w;
    LinkStats a, b;
    a.messages_received = 2;
    b.messages_received = 1;
    auto probe = w.delivered("nobody", &a);
    REQUIRE(probe);
    REQUIRE_FALSE(w.delivered("nobody", &a));  // one probe at a time
    REQUIRE_FALSE(w.delivered("nobody", &b));
    auto s = w.unregistered(*probe);
    REQUIRE(s.name == "nobody");
    REQUIRE(s.messages == 3);
    REQUIRE(a.undeliverable == 2);
    REQUIRE(a.messages_received == 0);
    REQUIRE(b.undeliverable == 1);
    // The sync that follows changes nothing.
    REQUIRE(w.registered(*probe).messages == 0);
    // The next message asks again (the name may be registered by now).
    auto again = w.delivered("nobody", &a);
    REQUIRE(again);
    REQUIRE(*again != *probe);
    REQUIRE(w.registered(*again).messages == 1);
    REQUIRE(a.undeliverable == 2);
}

TEST_CASE("a registered name is asked about once, until its process exits") {
    NameWatch w;
    LinkStats a;
    auto probe = w.delivered("server", &a);
    REQUIRE(probe);
    REQUIRE(w.registered(*probe).messages == 1);
    for (int i = 0; i < 100; ++i) REQUIRE_FALSE(w.delivered("server", &a));
    REQUIRE(a.undeliverable == 0);
    w.exited(*probe);
    auto next = w.delivered("server", &a);
    REQUIRE(next);
    REQUIRE(w.unregistered(*next).messages == 1);
    REQUIRE(a.undeliverable == 1);
}

TEST_CASE("stale and unknown answers are ignored") {
    NameWatch w;
    LinkStats a;
    REQUIRE(w.unregistered(42).name.empty());
    REQUIRE(w.registered(42).name.empty());
    w.exited(42);
    auto p1 = w.delivered("x", &a);
    REQUIRE(w.unregistered(*p1).messages == 1);
    auto p2 = w.delivered("x", &a);
    REQUIRE(w.unregistered(*p1).messages == 0);  // an answer to the old probe
    REQUIRE(w.registered(*p2).messages == 1);
}

TEST_CASE("the table is bounded: absent names make room, registered ones are kept") {
    NameWatch w(2);
    LinkStats a;
    auto p1 = w.delivered("one", &a);
    w.registered(*p1);
    auto p2 = w.delivered("two", &a);
    w.unregistered(*p2);
    REQUIRE(w.delivered("three", &a));  // "two" was absent: forgotten
    REQUIRE(w.tracked() == 2);
    REQUIRE_FALSE(w.delivered("four", &a));  // none absent now: untracked
    REQUIRE(w.tracked() == 2);
}
