// The pure parts of the AMQP transport: the publish window (bounds,
// confirms, go-back-N), the receiver's sequence check, the reconnect
// backoff, the envelope (headers through a real table encoding), the
// delivery assembler, the broker names, signed control frames; and the two ends together over a lossy, reordering "broker".
#include "partisan/transport/amqp/broker_names.hpp"
#include "partisan/transport/amqp/delivery_assembler.hpp"
#include "partisan/transport/amqp/delivery_sequence.hpp"
#include "partisan/transport/amqp/envelope.hpp"
#include "partisan/transport/amqp/publish_window.hpp"
#include "partisan/transport/amqp/reconnect_backoff.hpp"
#include "partisan/transport/amqp/signed_frame.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <random>

using namespace partisan::amqp;
using partisan::Bytes;
using namespace std::chrono_literals;
using Verdict = DeliverySequence::Verdict;

namespace {

Outgoing message(uint64_t seq, size_t payload_bytes = 10) {
    return Outgoing{"n1/undefined", seq, {'r'}, std::vector<uint8_t>(payload_bytes, 'x')};
}

// Publishes everything the window has, tags from `next_tag`; returns the seqs.
std::vector<uint64_t> publish_all(PublishWindow& w, uint64_t& next_tag) {
    std::vector<uint64_t> seqs;
    while (const Outgoing* m = w.next_unpublished()) {
        seqs.push_back(m->seq);
        w.published(next_tag++);
    }
    return seqs;
}

}  // namespace

TEST_CASE("publish window: bounded in messages and bytes, one oversized message when empty") {
    PublishWindow w(100, 3, 1 << 20);
    CHECK(w.push(message(1)));
    CHECK(w.push(message(2)));
    CHECK(w.push(message(3)));
    CHECK(w.full());
    CHECK_FALSE(w.push(message(4)));
    CHECK(w.size() == 3);

    PublishWindow b(100, 10, 1 << 20);
    CHECK(b.push(message(1, 500)));  // alone, it passes
    CHECK(b.full());
    CHECK_FALSE(b.push(message(2, 1)));
}

TEST_CASE("publish window: a message leaves only when it and all before it are confirmed") {
    PublishWindow w(1 << 20, 100, 1 << 20);
    for (uint64_t s = 1; s <= 5; ++s) REQUIRE(w.push(message(s)));
    uint64_t tag = 1;
    CHECK(publish_all(w, tag) == std::vector<uint64_t>{1, 2, 3, 4, 5});
    CHECK(w.in_flight() == 5);
    w.confirmed(3, false);  // out of order: 1 and 2 still wait
    CHECK(w.size() == 5);
    w.confirmed(2, true);  // 1 and 2, then 3 was already confirmed
    CHECK(w.size() == 2);
    w.confirmed(5, false);
    CHECK(w.size() == 2);
    w.confirmed(4, false);
    CHECK(w.size() == 0);
    CHECK(w.bytes() == 0);
}

TEST_CASE("publish window: a nack publishes that message and every later one again, in order") {
    PublishWindow w(1 << 20, 100, 1 << 20);
    for (uint64_t s = 1; s <= 5; ++s) REQUIRE(w.push(message(s)));
    uint64_t tag = 1;
    publish_all(w, tag);
    w.confirmed(1, false);
    w.confirmed(4, false);  // confirmed, but after the refused one: goes again
    w.refused(3, false);
    CHECK(publish_all(w, tag) == std::vector<uint64_t>{3, 4, 5});
    CHECK(w.republished() == 3);
    w.confirmed(tag - 1, true);
    CHECK(w.size() == 0);
}

TEST_CASE("publish window: a lost connection publishes every unconfirmed message again with new tags") {
    PublishWindow w(1 << 20, 100, 1 << 20);
    for (uint64_t s = 1; s <= 4; ++s) REQUIRE(w.push(message(s)));
    uint64_t tag = 1;
    publish_all(w, tag);
    w.confirmed(1, false);
    w.connection_lost();
    CHECK(w.in_flight() == 0);
    tag = 1;  // a new channel counts from 1
    CHECK(publish_all(w, tag) == std::vector<uint64_t>{2, 3, 4});
    w.confirmed(3, true);
    CHECK(w.size() == 0);
}

TEST_CASE("publish window: bytes in flight bounded, one message always passes") {
    PublishWindow w(1 << 20, 100, 25);  // a message costs 23 bytes here
    for (uint64_t s = 1; s <= 3; ++s) REQUIRE(w.push(message(s)));
    uint64_t tag = 1;
    CHECK(publish_all(w, tag) == std::vector<uint64_t>{1});
    CHECK(w.in_flight_bytes() == 23);
    w.confirmed(1, false);
    CHECK(w.in_flight_bytes() == 0);
    CHECK(publish_all(w, tag) == std::vector<uint64_t>{2});
    w.connection_lost();
    CHECK(w.in_flight_bytes() == 0);
    PublishWindow big(1 << 20, 100, 5);
    REQUIRE(big.push(message(1, 100)));
    CHECK(big.next_unpublished() != nullptr);  // larger than the bound, alone
}

TEST_CASE("publish window: a monotonic channel's newer message takes an unpublished one's place") {
    PublishWindow w(1 << 20, 100, 1 << 20);
    REQUIRE(w.push(message(1)));
    uint64_t first = w.pushed();
    REQUIRE(w.push(message(2)));
    uint64_t second = w.pushed();
    CHECK(second == first + 1);
    uint64_t tag = 1;
    w.published(tag++);  // the first is on its way: it stays as it is
    std::vector<uint8_t> ref{'n'}, payload{'1'};
    CHECK_FALSE(w.replace_unpublished(first, std::move(ref), std::move(payload)));
    CHECK(payload == std::vector<uint8_t>{'1'});  // left as it was, for the caller to push
    CHECK(ref == std::vector<uint8_t>{'n'});
    size_t before = w.bytes();
    CHECK(w.replace_unpublished(second, {'n'}, std::vector<uint8_t>(30, 'y')));
    CHECK(w.bytes() == before + 20);
    const Outgoing* next = w.next_unpublished();
    REQUIRE(next);
    CHECK(next->seq == 2);  // its place and number are kept: no gap for the receiver
    CHECK(next->payload.size() == 30);
    w.published(tag++);
    w.confirmed(2, true);
    CHECK(w.size() == 0);
    CHECK_FALSE(w.replace_unpublished(second, {'n'}, {'1'}));  // gone
    REQUIRE(w.push(message(3)));
    CHECK(w.pushed() == second + 1);
}

TEST_CASE("publish window: drained below half of its bounds") {
    PublishWindow w(1 << 20, 4, 1 << 20);
    for (uint64_t s = 1; s <= 4; ++s) REQUIRE(w.push(message(s)));
    CHECK_FALSE(w.drained());
    uint64_t tag = 1;
    publish_all(w, tag);
    w.confirmed(2, true);
    CHECK(w.drained());
}

TEST_CASE("delivery sequence: in order, duplicates, gaps, a new incarnation") {
    DeliverySequence d(10);
    CHECK(d.accept("a", 1, 0, 5) == Verdict::deliver);  // first seen starts the sequence
    CHECK(d.accept("a", 1, 0, 6) == Verdict::deliver);
    CHECK(d.accept("a", 1, 0, 6) == Verdict::duplicate);
    CHECK(d.accept("a", 1, 0, 4) == Verdict::duplicate);
    CHECK(d.accept("a", 1, 0, 8) == Verdict::gap);
    CHECK(d.accept("a", 1, 0, 7) == Verdict::deliver);
    CHECK(d.accept("a", 1, 1, 1) == Verdict::deliver);  // channels apart
    CHECK(d.accept("a", 2, 0, 1) == Verdict::deliver);  // restarted sender
    CHECK(d.accept("a", 1, 0, 8) == Verdict::duplicate);  // its earlier life
    CHECK(d.accept("b", 1, 0, 1) == Verdict::deliver);
    d.forget("a");
    CHECK(d.size() == 1);
    CHECK(d.accept("a", 2, 0, 9) == Verdict::deliver);
}

TEST_CASE("delivery sequence: missing messages the broker had confirmed are lost, not waited for") {
    DeliverySequence d(10);
    uint64_t lost = 0;
    CHECK(d.accept("a", 1, 0, 1, 0, &lost) == Verdict::deliver);
    CHECK(d.accept("a", 1, 0, 2, 1, &lost) == Verdict::deliver);
    // 3 and 4 were confirmed, then lost with a queue: 5 goes on.
    CHECK(d.accept("a", 1, 0, 5, 4, &lost) == Verdict::deliver);
    CHECK(lost == 2);
    // 6 confirmed and lost, 7 not confirmed yet: it comes again, so 8 waits.
    CHECK(d.accept("a", 1, 0, 8, 6, &lost) == Verdict::gap);
    CHECK(lost == 3);
    CHECK(d.accept("a", 1, 0, 7, 6, &lost) == Verdict::deliver);
    CHECK(d.accept("a", 1, 0, 8, 6, &lost) == Verdict::deliver);
    // A gap dropped earlier and then found confirmed counts as lost too.
    CHECK(d.accept("a", 1, 0, 10, 8, &lost) == Verdict::gap);   // 9 unconfirmed
    CHECK(d.accept("a", 1, 0, 11, 10, &lost) == Verdict::deliver);  // 9 and 10 gone
    CHECK(lost == 5);
    CHECK(d.accept("a", 1, 0, 11, 10, &lost) == Verdict::duplicate);
}

TEST_CASE("delivery sequence: bounded, the least recently delivered sender goes first") {
    DeliverySequence d(2);
    d.accept("a", 1, 0, 1);
    d.accept("b", 1, 0, 1);
    d.accept("a", 1, 0, 2);
    d.accept("c", 1, 0, 1);  // b goes
    CHECK(d.size() == 2);
    CHECK(d.accept("a", 1, 0, 2) == Verdict::duplicate);
    CHECK(d.accept("b", 1, 0, 1) == Verdict::deliver);  // forgotten: starts again
}

TEST_CASE("reconnect backoff: grows to its bound with jitter, refusal waits the longest, reset") {
    ReconnectBackoff b(100ms, 1600ms, 7);
    auto w1 = b.next();
    CHECK((w1 >= 50ms && w1 <= 100ms));
    b.next();
    b.next();
    b.next();
    auto w5 = b.next();
    CHECK((w5 >= 800ms && w5 <= 1600ms));
    CHECK(b.next() <= 1600ms);
    b.reset();
    CHECK(b.next() <= 100ms);
    auto r = b.refused();
    CHECK((r >= 800ms && r <= 1600ms));
    // Two nodes that failed together do not retry together.
    ReconnectBackoff x(1000ms, 1000ms, 1), y(1000ms, 1000ms, 2);
    bool differ = false;
    for (int i = 0; i < 5; ++i) differ |= x.next() != y.next();
    CHECK(differ);
}

// The sender's window and the receiver's check over a broker that loses
// connections (every unconfirmed message may or may not have reached the
// queue) and nacks: the receiver sees every message exactly once, in order.
TEST_CASE("publish window and delivery sequence: exactly once, in order, across losses and nacks") {
    struct Published {
        uint64_t id, tag, seq;
        bool nack;  // the broker did not take it
    };
    std::mt19937 rng(42);
    PublishWindow w(1 << 20, 64, 200);  // a few messages in flight at most
    DeliverySequence d(4);
    std::deque<Published> queue;        // what the broker holds for the receiver
    std::deque<Published> unconfirmed;  // answers the broker still owes
    std::vector<uint64_t> seen;
    uint64_t next_seq = 1, tag = 1, id = 0;
    const uint64_t total = 5000;
    for (int step = 0; step < 400000 && seen.size() < total; ++step) {
        switch (rng() % 7) {
            case 0:
                if (next_seq <= total && w.push(message(next_seq))) ++next_seq;
                break;
            case 1:
                if (const Outgoing* m = w.next_unpublished()) {
                    // Not the first: a receiver that has seen nothing from a
                    // sender starts at what comes first (delivery_sequence.hpp).
                    Published p{++id, tag++, m->seq, m->seq > 1 && rng() % 20 == 0};
                    if (!p.nack) queue.push_back(p);
                    unconfirmed.push_back(p);
                    w.published(p.tag);
                }
                break;
            case 2:
                if (!unconfirmed.empty()) {
                    Published p = unconfirmed.front();
                    unconfirmed.pop_front();
                    if (p.nack)
                        w.refused(p.tag, false);
                    else
                        w.confirmed(p.tag, rng() % 2 == 0);
                }
                break;
            case 3:
            case 4:
                if (!queue.empty()) {
                    uint64_t seq = queue.front().seq;
                    queue.pop_front();
                    if (d.accept("sender", 1, 0, seq) == Verdict::deliver) seen.push_back(seq);
                }
                break;
            case 5:
                if (rng() % 30 == 0) {
                    // Connection lost: some of the last publishes, not confirmed, never arrived.
                    size_t lost = rng() % 4;
                    auto pending = [&](const Published& q) {
                        return std::any_of(unconfirmed.begin(), unconfirmed.end(),
                                           [&](const Published& u) { return u.id == q.id; });
                    };
                    while (lost-- > 0 && !queue.empty() && pending(queue.back())) queue.pop_back();
                    unconfirmed.clear();
                    w.connection_lost();
                    tag = 1;
                }
                break;
            default:
                break;
        }
    }
    REQUIRE(seen.size() == total);
    for (size_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == i + 1);
    CHECK(w.republished() > 0);
}

TEST_CASE("publish window and delivery sequence: a queue that loses confirmed messages never stalls the channel") {
    // A queue that is not durable loses what it held when the broker
    // restarts: those messages were confirmed, so the sender never
    // publishes them again. The receiver learns from the envelope up to
    // where the sender had its confirms and goes on past them.
    std::mt19937 rng(7);
    PublishWindow w(1 << 20, 64, 200);
    DeliverySequence d(4);
    struct Held {
        uint64_t seq, confirmed;
    };
    std::deque<Held> queue;
    std::deque<uint64_t> unconfirmed;  // tags
    uint64_t next_seq = 1, tag = 1, confirmed_through = 0, lost = 0, dropped_by_broker = 0;
    std::vector<uint64_t> seen;
    const uint64_t total = 5000;
    for (int step = 0; step < 400000 && next_seq <= total + 1; ++step) {
        switch (rng() % 6) {
            case 0:
                if (next_seq <= total && w.push(message(next_seq))) ++next_seq;
                else if (next_seq > total && w.size() == 0 && queue.empty()) ++next_seq;  // done
                break;
            case 1:
                if (const Outgoing* m = w.next_unpublished()) {
                    queue.push_back(Held{m->seq, confirmed_through});
                    unconfirmed.push_back(tag);
                    w.published(tag++);
                }
                break;
            case 2:
                if (!unconfirmed.empty()) {
                    w.confirmed(unconfirmed.front(), false, [&](const Outgoing& m) { confirmed_through = m.seq; });
                    unconfirmed.pop_front();
                }
                break;
            case 3:
            case 4:
                if (!queue.empty()) {
                    Held h = queue.front();
                    queue.pop_front();
                    if (d.accept("sender", 1, 0, h.seq, h.confirmed, &lost) == Verdict::deliver) seen.push_back(h.seq);
                }
                break;
            case 5:
                if (rng() % 40 == 0) {
                    // The broker restarts: the queue is gone (its messages
                    // were confirmed, or their confirms are lost with the
                    // connection and they go again).
                    dropped_by_broker += queue.size();
                    queue.clear();
                    unconfirmed.clear();
                    w.connection_lost();
                    tag = 1;
                }
                break;
        }
    }
    REQUIRE(dropped_by_broker > 0);
    REQUIRE(!seen.empty());
    CHECK(seen.back() == total);  // the last one arrived: no stall
    for (size_t i = 1; i < seen.size(); ++i) REQUIRE(seen[i] > seen[i - 1]);  // in order, no copy
    CHECK(seen.size() + lost == total);  // each one delivered or counted lost
    CHECK(lost > 0);
}

namespace {

// The headers a broker would hand back: encoded as on the wire, decoded
// into `pool`.
amqp_basic_properties_t through_the_wire(const amqp_basic_properties_t& in, amqp_pool_t& pool,
                                         std::vector<uint8_t>& buf) {
    buf.assign(4096, 0);
    size_t offset = 0;
    amqp_table_t headers = in.headers;
    REQUIRE(amqp_encode_table(amqp_bytes_t{buf.size(), buf.data()}, &headers, &offset) == AMQP_STATUS_OK);
    amqp_basic_properties_t out = in;
    size_t read = 0;
    REQUIRE(amqp_decode_table(amqp_bytes_t{offset, buf.data()}, &pool, &out.headers, &read) == AMQP_STATUS_OK);
    return out;
}

const std::vector<uint8_t> atom_foo{119, 3, 'f', 'o', 'o'};
const std::vector<uint8_t> small_int{97, 42};

}  // namespace

TEST_CASE("envelope: written, sent through a table encoding, read back; payload untouched") {
    EnvelopeProperties p;
    write_envelope(Envelope{"a@h", 1234567890123, 77, Bytes{atom_foo.data(), atom_foo.size()}, 70}, true, p);
    CHECK(p.props.delivery_mode == AMQP_DELIVERY_PERSISTENT);
    amqp_pool_t pool;
    init_amqp_pool(&pool, 4096);
    std::vector<uint8_t> buf;
    auto props = through_the_wire(p.props, pool, buf);
    Envelope e;
    REQUIRE(read_envelope(props, Bytes{small_int.data(), small_int.size()}, "me@h", e));
    CHECK(e.sender == "a@h");
    CHECK(e.incarnation == 1234567890123);
    CHECK(e.seq == 77);
    CHECK(e.confirmed == 70);
    CHECK(std::vector<uint8_t>(e.ref.data, e.ref.data + e.ref.size) == atom_foo);
    empty_amqp_pool(&pool);
    write_envelope(Envelope{"a@h", 1, 1, Bytes{atom_foo.data(), atom_foo.size()}}, false, p);
    CHECK(p.props.delivery_mode == AMQP_DELIVERY_NONPERSISTENT);
}

TEST_CASE("envelope: what a broker client other than ours could send is refused") {
    const Bytes foo{atom_foo.data(), atom_foo.size()}, payload{small_int.data(), small_int.size()};
    amqp_pool_t pool;
    init_amqp_pool(&pool, 4096);
    std::vector<uint8_t> buf;
    Envelope e;
    auto refused = [&](const EnvelopeProperties& p, Bytes body = {}) {
        auto props = through_the_wire(p.props, pool, buf);
        return !read_envelope(props, body.data ? body : payload, "me@h", e);
    };
    EnvelopeProperties good;
    write_envelope(Envelope{"a@h", 1, 1, foo}, false, good);
    CHECK_FALSE(refused(good));

    EnvelopeProperties p = good;
    p.props.headers.num_entries = 3;  // no ref
    CHECK(refused(p));
    p = good;
    p.headers[2].value.kind = AMQP_FIELD_KIND_U64;  // seq of another type
    p.props.headers.entries = p.headers.data();
    CHECK(refused(p));
    p = good;
    p.headers[2].value.value.i64 = 0;  // sequence numbers start at 1
    p.props.headers.entries = p.headers.data();
    CHECK(refused(p));
    write_envelope(Envelope{"not a node name", 1, 1, foo}, false, p);
    CHECK(refused(p));
    write_envelope(Envelope{"a@h", 1, 5, foo, 5}, false, p);  // confirmed up to itself
    CHECK(refused(p));
    p = good;
    p.headers[4].value.value.i64 = -1;
    p.props.headers.entries = p.headers.data();
    CHECK(refused(p));
    const std::vector<uint8_t> bad_atom{119, 1, 0xff};  // not UTF-8
    write_envelope(Envelope{"a@h", 1, 1, Bytes{bad_atom.data(), bad_atom.size()}}, false, p);
    CHECK(refused(p));
    write_envelope(Envelope{"a@h", 1, 1, Bytes{small_int.data(), small_int.size()}}, false, p);  // ref no pid or atom
    CHECK(refused(p));
    const std::vector<uint8_t> two_terms{97, 1, 97, 2};
    CHECK(refused(good, Bytes{two_terms.data(), two_terms.size()}));
    EnvelopeProperties none = good;
    none.props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;  // no headers at all
    CHECK_FALSE(read_envelope(none.props, payload, "me@h", e));
    empty_amqp_pool(&pool);
}

namespace {

// Frames as rabbitmq-c decodes them, for the assembler.
struct Frames {
    amqp_basic_deliver_t deliver{};
    amqp_basic_properties_t props{};

    amqp_frame_t method(amqp_method_number_t id, void* decoded) {
        amqp_frame_t f{};
        f.frame_type = AMQP_FRAME_METHOD;
        f.channel = 1;
        f.payload.method.id = id;
        f.payload.method.decoded = decoded;
        return f;
    }
    amqp_frame_t deliver_frame(uint64_t tag) {
        deliver.delivery_tag = tag;
        return method(AMQP_BASIC_DELIVER_METHOD, &deliver);
    }
    amqp_frame_t header(uint64_t body_size) {
        amqp_frame_t f{};
        f.frame_type = AMQP_FRAME_HEADER;
        f.payload.properties.class_id = AMQP_BASIC_CLASS;
        f.payload.properties.body_size = body_size;
        f.payload.properties.decoded = &props;
        return f;
    }
    static amqp_frame_t body(const std::string& s) {
        amqp_frame_t f{};
        f.frame_type = AMQP_FRAME_BODY;
        f.payload.body_fragment = amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
        return f;
    }
};

std::string text(Bytes b) { return std::string(reinterpret_cast<const char*>(b.data), b.size); }

}  // namespace

TEST_CASE("delivery assembler: one body frame (not copied), several (gathered), none") {
    using Step = DeliveryAssembler::Step;
    DeliveryAssembler a(100);
    Frames fr;
    const std::string whole = "hello", part1 = "hel", part2 = "lo";
    CHECK(a.feed(fr.deliver_frame(7)) == Step::more);
    CHECK(a.feed(fr.header(5)) == Step::more);
    CHECK(a.feed(Frames::body(whole)) == Step::complete);
    CHECK(a.delivery_tag() == 7);
    CHECK(&a.properties() == &fr.props);
    CHECK(a.body().data == reinterpret_cast<const uint8_t*>(whole.data()));

    CHECK(a.feed(fr.deliver_frame(8)) == Step::more);
    CHECK(a.feed(fr.header(5)) == Step::more);
    CHECK(a.feed(Frames::body(part1)) == Step::more);
    CHECK(a.feed(Frames::body(part2)) == Step::complete);
    CHECK(text(a.body()) == "hello");
    CHECK(a.delivery_tag() == 8);

    CHECK(a.feed(fr.deliver_frame(9)) == Step::more);
    CHECK(a.feed(fr.header(0)) == Step::complete);
    CHECK(a.body().size == 0);

    amqp_basic_ack_t ack{};
    CHECK(a.feed(fr.method(AMQP_BASIC_ACK_METHOD, &ack)) == Step::not_mine);
}

TEST_CASE("delivery assembler: frames out of order, a body too large or too long are errors; it starts afresh") {
    using Step = DeliveryAssembler::Step;
    DeliveryAssembler a(10);
    Frames fr;
    const std::string eleven = "01234567890", six = "012345";
    CHECK(a.feed(Frames::body(six)) == Step::error);  // body with no delivery
    CHECK(a.feed(fr.deliver_frame(1)) == Step::more);
    CHECK(a.feed(Frames::body(six)) == Step::error);  // no header
    CHECK(a.feed(fr.deliver_frame(2)) == Step::more);
    CHECK(a.feed(fr.header(11)) == Step::error);  // over max_body
    CHECK(a.error().find("11 bytes") != std::string::npos);
    CHECK(a.feed(fr.deliver_frame(3)) == Step::more);
    CHECK(a.feed(fr.header(8)) == Step::more);
    CHECK(a.feed(Frames::body(six)) == Step::more);
    CHECK(a.feed(Frames::body(six)) == Step::error);  // 12 of 8
    CHECK(a.feed(fr.deliver_frame(4)) == Step::more);
    CHECK(a.feed(fr.header(6)) == Step::more);
    amqp_basic_ack_t ack{};
    CHECK(a.feed(fr.method(AMQP_BASIC_ACK_METHOD, &ack)) == Step::error);  // cut short
    CHECK(a.feed(fr.deliver_frame(5)) == Step::more);
    CHECK(a.feed(fr.header(6)) == Step::more);
    CHECK(a.feed(Frames::body(six)) == Step::complete);
    CHECK(text(a.body()) == six);
}

TEST_CASE("broker names: per cluster secret, never the secret, within AMQP's 255 bytes, unambiguous") {
    BrokerNames a("secret-one"), a2("secret-one"), b("secret-two");
    CHECK(a.ns() == a2.ns());
    CHECK(a.ns() != b.ns());
    CHECK(a.ns().size() == 16);
    CHECK(a.messages_exchange() != b.messages_exchange());
    CHECK(a.members_queue("n@h") != b.members_queue("n@h"));
    CHECK(a.message_queue("n@h", "undefined").find("secret") == std::string::npos);
    CHECK(BrokerNames::routing_key("n@h", "undefined") == "n@h:undefined");
    // The channel has no ':', so node "x@h:y" with channel "z" differs from node "x@h" with channel "y:z"
    // (which cannot exist) and from node "x@h" with channel "y".
    CHECK(BrokerNames::routing_key("x@h:y", "z") != BrokerNames::routing_key("x@h", "y"));
    const std::string long_node = std::string(200, 'n') + "@" + std::string(54, 'h');
    const std::string long_channel(255, 'c');
    auto q1 = a.message_queue(long_node, long_channel);
    auto q2 = a.message_queue(long_node, std::string(254, 'c'));
    CHECK(q1.size() <= 255);
    CHECK(q2.size() <= 255);
    CHECK(q1 != q2);
    CHECK(BrokerNames::routing_key(long_node, long_channel).size() <= 255);
    CHECK(a.members_queue(long_node).size() <= 255);
    // A node's control queue and key differ from every one of its channels'.
    CHECK(a.control_queue("n@h") != a.message_queue("n@h", "undefined"));
    CHECK(a.control_queue("n@h") != a.members_queue("n@h"));
    CHECK(BrokerNames::control_key("n@h") == "n@h:");
    CHECK(a.control_queue(long_node).size() <= 255);
}

TEST_CASE("signed frames: only a holder of the secret speaks for a sender") {
    const FrameSigner ours("cluster secret"), theirs("another secret");
    const std::vector<uint8_t> frame{8, 2};
    const Bytes body{frame.data(), frame.size()};
    amqp_pool_t pool;
    init_amqp_pool(&pool, 4096);
    std::vector<uint8_t> buf;
    SignedFrameProperties p;
    ours.sign(FrameOrigin{"a@h", 42}, body, p);
    auto props = through_the_wire(p.props, pool, buf);
    FrameOrigin o;
    REQUIRE(ours.verify(props, body, o));
    CHECK(o.sender == "a@h");
    CHECK(o.incarnation == 42);
    CHECK_FALSE(theirs.verify(props, body, o));  // another cluster
    const std::vector<uint8_t> changed{8, 3};
    CHECK_FALSE(ours.verify(props, Bytes{changed.data(), changed.size()}, o));  // the frame changed
    CHECK_FALSE(ours.verify(props, Bytes{}, o));

    // Another sender or incarnation under the same signature.
    SignedFrameProperties q = p;
    q.props.headers.entries = q.headers.data();
    q.headers[0].value.value.bytes = amqp_cstring_bytes("b@h");
    CHECK_FALSE(ours.verify(through_the_wire(q.props, pool, buf), body, o));
    q = p;
    q.props.headers.entries = q.headers.data();
    q.headers[1].value.value.i64 = 43;
    CHECK_FALSE(ours.verify(through_the_wire(q.props, pool, buf), body, o));
    // No signature, or a short one.
    q = p;
    q.props.headers.entries = q.headers.data();
    q.props.headers.num_entries = 2;
    CHECK_FALSE(ours.verify(through_the_wire(q.props, pool, buf), body, o));
    q = p;
    q.props.headers.entries = q.headers.data();
    q.headers[2].value.value.bytes.len = 31;
    CHECK_FALSE(ours.verify(through_the_wire(q.props, pool, buf), body, o));
    // A sender that is no node name, even signed.
    SignedFrameProperties bad;
    ours.sign(FrameOrigin{"nobody", 1}, body, bad);
    CHECK_FALSE(ours.verify(through_the_wire(bad.props, pool, buf), body, o));
    empty_amqp_pool(&pool);
}
