// The router (data path) against a recording transport and BEAM channels,
// with a real client-server overlay deciding relays.
#include "partisan/node/router.hpp"
#include "partisan/codec/peer_frames.hpp"

#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <set>

using namespace partisan;

namespace {

std::vector<uint8_t> bytes(std::initializer_list<uint8_t> b) { return b; }

// Records what the router asks; `neighbours` are the peers it has links to.
struct RecordingTransport : Transport {
    std::set<std::string> neighbours, up_set;
    std::set<size_t> congested_channels;
    struct Sent {
        std::string peer, via;
        size_t channel;
        uint64_t key;
        bool pinned;
        std::vector<uint8_t> ref, payload;
        std::string dest = {};  // passed on as a RELAY for it (empty: as a MESSAGE)
        unsigned hops = 0;
    };
    std::vector<Sent> sent, relayed, passed_on;
    int flushes = 0;

    static std::vector<uint8_t> copy(Bytes b) { return {b.data, b.data + b.size}; }

    void start() override {}
    void shutdown() override {}
    std::vector<Address> local_addresses() const override { return {}; }
    void set_neighbours(const std::vector<Neighbour>&) override {}
    bool up(const std::string& p) const override { return up_set.count(p) > 0; }
    bool never_reached(const std::string&) const override { return false; }
    std::vector<std::string> up_peers() const override { return {up_set.begin(), up_set.end()}; }
    std::vector<std::string> unreachable_for(std::chrono::milliseconds) const override { return {}; }
    void set_available(bool) override {}
    bool send(std::string_view peer, const OutMessage& m) override {
        if (!neighbours.count(std::string(peer))) return false;
        sent.push_back({std::string(peer), "", m.channel, m.key, m.pinned, copy(m.ref), copy(m.payload)});
        return true;
    }
    void relay(const std::string& via, std::string_view dest, uint8_t hops, const OutMessage& m) override {
        relayed.push_back({std::string(dest), via, m.channel, m.key, m.pinned, copy(m.ref), copy(m.payload),
                           std::string(dest), hops});
    }
    bool pass_on(InboundLink& from, const std::string& to, std::string_view dest, uint8_t hops, Bytes ref,
                 Bytes payload) override {
        if (!neighbours.count(to)) return false;
        passed_on.push_back(
            {to, from.peer(), from.channel_index(), 0, false, copy(ref), copy(payload), std::string(dest), hops});
        return true;
    }
    void send_control(const std::string&, const ByteBuffer&) override {}
    void answer(InboundLink&, const ByteBuffer&) override {}
    void reply(InboundLink&, const ByteBuffer&) override {}
    void send_to_all(const ByteBuffer&) override {}
    void flush_batch() override { ++flushes; }
    bool congested(size_t channel) const override { return congested_channels.count(channel) > 0; }
    void partition(const std::vector<std::string>&) override {}
    void heal() override {}
    bool break_link(const std::string&, std::string_view, uint64_t) override { return false; }
    void encode_stats(ei_x_buff&) const override {}
    void encode_unreachable(ei_x_buff&) const override {}
};

struct RecordingBeam : BeamChannel {
    size_t index;
    bool full = false;
    int flushes = 0, resumed = 0;
    std::vector<std::pair<std::vector<uint8_t>, std::vector<uint8_t>>> delivered;
    std::vector<std::function<void()>> waiters;
    explicit RecordingBeam(size_t i) : index(i) {}
    size_t channel() const override { return index; }
    void deliver(Bytes ref, Bytes message, const SharedBytes&, LinkStats* from) override {
        delivered.emplace_back(std::vector<uint8_t>(ref.data, ref.data + ref.size),
                               std::vector<uint8_t>(message.data, message.data + message.size));
        REQUIRE(from != nullptr);
    }
    void flush() override { ++flushes; }
    bool congested() const override { return full; }
    void when_drained(std::function<void()> fn) override { waiters.push_back(std::move(fn)); }
    void resume_reading() override { ++resumed; }
};

struct FakeInbound : InboundLink {
    std::string from;
    size_t ch;
    LinkStats stats;
    int resumes = 0;
    FakeInbound(std::string f, size_t c) : from(std::move(f)), ch(c) {}
    const std::string& peer() const override { return from; }
    size_t channel_index() const override { return ch; }
    uint16_t link_index() const override { return 0; }
    LinkStats& link_stats() override { return stats; }
    SharedBytes share_read_buffer() const override { return {}; }
    std::function<void()> resumer() override {
        return [this] { ++resumes; };
    }
};

using test::NullFd;

// A client node c1@h of a client-server cluster, two channels.
struct Fixture {
    asio::io_context io;
    Config config;
    NullFd null;
    Logger log{LogLevel::info, null.fd};
    Context ctx{io, config, log};
    RecordingTransport transport;
    std::unique_ptr<Overlay> overlay;
    RecordingBeam beam0{0}, beam1{1};
    std::unique_ptr<Router> router;

    Fixture() {
        config.beam_node = "c1@h";
        config.topology = "client_server";
        config.role = "client";
        config.channels = {ChannelConfig{"undefined", 1, false}, ChannelConfig{"bulk", 2, false}};
        config.max_message_bytes = 1000;
        overlay = make_overlay(OverlayContext{config, log, transport, {Address{"127.0.0.1", 4000}}, 1});
        router = std::make_unique<Router>(ctx, transport, *overlay);
        router->attach({&beam0, &beam1});
    }
    // The server s@h gossips: c1 learns s@h (server) and c2@h (client).
    void learn_cluster() {
        OverlayOutput out;
        overlay->join("s@h", {Address{"127.0.0.1", 4001}}, 1, out);
        Membership m("s@h", {Address{"127.0.0.1", 4001}}, 9);
        m.add("c2@h", {Address{"127.0.0.1", 4002}}, NodeRole::client);
        ByteBuffer frame;
        append_gossip_frame(frame, m);
        REQUIRE(overlay->on_frame("s@h", frame.data() + 4, frame.size() - 4, out));
    }
    ForwardRequest request(const char* node, const char* channel, const std::vector<uint8_t>& payload) {
        ForwardRequest r;
        r.node = node;
        r.channel = channel;
        r.key = 7;
        r.flags = ForwardRequest::flag_pinned;
        r.server_ref = Bytes{server.data(), server.size()};
        r.message = Bytes{payload.data(), payload.size()};
        return r;
    }
    std::vector<uint8_t> server = bytes({119, 1, 's'});  // 's'
};

}  // namespace

TEST_CASE("router: a message for a neighbour goes to the transport on its channel") {
    Fixture f;
    f.transport.neighbours = {"s@h"};
    auto payload = bytes({97, 42});
    f.router->forward(f.request("s@h", "bulk", payload));
    REQUIRE(f.transport.sent.size() == 1);
    auto& s = f.transport.sent[0];
    REQUIRE(s.peer == "s@h");
    REQUIRE(s.channel == 1);
    REQUIRE(s.key == 7);
    REQUIRE(s.pinned);
    REQUIRE(s.ref == f.server);
    REQUIRE(s.payload == payload);
}

TEST_CASE("router: unknown channels, oversized messages and strangers are dropped") {
    Fixture f;
    f.transport.neighbours = {"s@h"};
    auto payload = bytes({97, 42});
    f.router->forward(f.request("s@h", "nope", payload));
    std::vector<uint8_t> big(1001, 0);
    f.router->forward(f.request("s@h", "undefined", big));
    f.router->forward(f.request("zz@h", "undefined", payload));
    REQUIRE(f.transport.sent.empty());
    REQUIRE(f.transport.relayed.empty());
}

TEST_CASE("router: a client's message to another client goes through a connected server") {
    Fixture f;
    f.learn_cluster();
    f.transport.neighbours = {"s@h"};
    auto payload = bytes({97, 1});
    f.router->forward(f.request("c2@h", "undefined", payload));
    REQUIRE(f.transport.relayed.empty());  // the server's link is not up yet
    f.transport.up_set = {"s@h"};
    f.router->forward(f.request("c2@h", "undefined", payload));
    REQUIRE(f.transport.relayed.size() == 1);
    REQUIRE(f.transport.relayed[0].via == "s@h");
    REQUIRE(f.transport.relayed[0].peer == "c2@h");
    REQUIRE(f.transport.relayed[0].hops == f.ctx.config.max_hops);
}

TEST_CASE("router: MESSAGE frames reach the BEAM link of their channel") {
    Fixture f;
    FakeInbound in("s@h", 1);
    std::vector<uint8_t> frame{frame_message, 0, 3, 119, 1, 's', 97, 5};
    REQUIRE(f.router->on_message_frame(in, frame.data(), static_cast<uint32_t>(frame.size())));
    REQUIRE(f.beam0.delivered.empty());
    REQUIRE(f.beam1.delivered.size() == 1);
    REQUIRE(f.beam1.delivered[0].first == f.server);
    REQUIRE(f.beam1.delivered[0].second == bytes({97, 5}));
    REQUIRE(in.stats.messages_received == 1);
    REQUIRE(in.stats.bytes_received == 2);
    // A destination the BEAM would refuse (not UTF-8) closes the link instead.
    std::vector<uint8_t> bad{frame_message, 0, 3, 119, 1, 0xff, 97, 1};
    REQUIRE_FALSE(f.router->on_message_frame(in, bad.data(), static_cast<uint32_t>(bad.size())));
}

TEST_CASE("router: RELAY frames are delivered here or passed on") {
    Fixture f;
    FakeInbound in("c2@h", 0);
    auto relay_to = [&](const std::string& dest, uint8_t hops = 16) {
        ByteBuffer b;
        uint8_t payload[] = {97, 9};
        append_relay_frame(b, dest, hops, Bytes{f.server.data(), f.server.size()}, Bytes{payload, sizeof payload});
        return std::vector<uint8_t>(b.data() + 4, b.data() + b.size());
    };
    auto here = relay_to("c1@h");
    REQUIRE(f.router->on_relay_frame(in, here.data(), static_cast<uint32_t>(here.size())));
    REQUIRE(f.beam0.delivered.size() == 1);
    f.transport.neighbours = {"c3@h"};
    auto on = relay_to("c3@h");
    REQUIRE(f.router->on_relay_frame(in, on.data(), static_cast<uint32_t>(on.size())));
    REQUIRE(f.transport.passed_on.size() == 1);
    REQUIRE(f.transport.passed_on[0].peer == "c3@h");
    REQUIRE(f.transport.passed_on[0].dest.empty());  // the last hop: a MESSAGE
    auto nowhere = relay_to("c9@h");
    REQUIRE(f.router->on_relay_frame(in, nowhere.data(), static_cast<uint32_t>(nowhere.size())));
    REQUIRE(in.stats.dropped == 1);
    // A relay with no hop left is not a RELAY frame at all.
    auto spent = relay_to("c3@h", 0);
    REQUIRE_FALSE(f.router->on_relay_frame(in, spent.data(), static_cast<uint32_t>(spent.size())));
}

TEST_CASE("router: flow control both ways, per channel") {
    Fixture f;
    // BEAM side: a batch end writes the batch; a congested channel pauses.
    REQUIRE(f.router->beam_batch_end(f.beam1));
    REQUIRE(f.transport.flushes == 1);
    f.transport.congested_channels = {1};
    REQUIRE_FALSE(f.router->beam_batch_end(f.beam1));
    REQUIRE(f.router->beam_batch_end(f.beam0));  // other channels flow on
    f.router->drained(1);
    REQUIRE(f.beam1.resumed == 1);
    REQUIRE(f.beam0.resumed == 0);
    // Peer side: a full BEAM link pauses the peer link until it drains.
    FakeInbound in("s@h", 0);
    REQUIRE(f.router->read_batch_end(in));
    REQUIRE(f.beam0.flushes == 1);
    f.beam0.full = true;
    REQUIRE_FALSE(f.router->read_batch_end(in));
    REQUIRE(f.beam0.waiters.size() == 1);
    f.beam0.waiters[0]();
    REQUIRE(in.resumes == 1);
}
