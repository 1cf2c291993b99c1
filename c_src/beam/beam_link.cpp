#include "partisan/beam/beam_link.hpp"

#include <arpa/inet.h>
#include <unistd.h>

#include <stdexcept>

namespace partisan {

namespace {

constexpr uint8_t pass_through = 112;  // distribution packet without atom cache
constexpr uint8_t op_send = 2, op_reg_send = 6;
// The BEAM drops a connection it has not heard from for a tick period.
constexpr auto tick_interval = std::chrono::seconds(10);

std::pair<std::string, std::string> split_node(const std::string& node) {
    auto at = node.find('@');
    return {node.substr(0, at), node.substr(at + 1)};
}

const uint8_t empty_atom[] = {etf::small_atom_utf8, 0};

}  // namespace

std::shared_ptr<BeamLink> BeamLink::connect(Context& ctx, const std::string& name, size_t channel) {
    const Config& cfg = ctx.config;
    auto [alive, host] = split_node(name);
    auto [beam_alive, beam_host] = split_node(cfg.beam_node);
    ei_cnode ec;
    in_addr loopback{};
    inet_pton(AF_INET, "127.0.0.1", &loopback);
    // Creation distinguishes incarnations of this C-node's name.
    auto creation = static_cast<short>(getpid() % 0x7fff + 1);
    if (ei_connect_xinit(&ec, host.c_str(), alive.c_str(), name.c_str(), &loopback, cfg.beam_cookie.c_str(),
                         creation) < 0)
        throw std::runtime_error("ei_connect_xinit failed for " + name);
    // The BEAM's distribution listens on loopback only; epmd is asked there.
    int fd = ei_xconnect_tmo(&ec, &loopback, beam_alive.data(), 10000);
    if (fd < 0)
        throw std::runtime_error("cannot connect to BEAM " + cfg.beam_node + " (ei error " +
                                 std::to_string(erl_errno) + "): is it distributed, with the same cookie?");
    char buf[256];
    int idx = 0;
    if (ei_encode_pid(buf, &idx, ei_self(&ec)) < 0 || idx > static_cast<int>(sizeof buf)) {
        ::close(fd);
        throw std::runtime_error("cannot encode own pid");
    }
    return std::make_shared<BeamLink>(ctx, fd, std::vector<uint8_t>(buf, buf + idx), name, channel);
}

BeamLink::BeamLink(Context& ctx, int fd, std::vector<uint8_t> self_pid, std::string name, size_t channel)
    : ctx_(ctx), sock_(ctx.io), stream_(sock_), tick_timer_(ctx.io), self_pid_(std::move(self_pid)), name_(std::move(name)),
      channel_(channel), probe_timer_(ctx.io) {
    sock_.assign(asio::ip::tcp::v4(), fd);
    sock_.set_option(asio::ip::tcp::no_delay(true));
}

void BeamLink::start(BeamEvents* events) {
    events_ = events;
    read();
    schedule_tick();
}

void BeamLink::start_probing(std::chrono::milliseconds timeout) {
    probe_timeout_ = timeout;
    last_answer_ = std::chrono::steady_clock::now();
    probe();
}

void BeamLink::probe() {
    // Any answer from net_kernel shows the BEAM runs (send_net_kernel_call),
    // and so do any bytes read. While we hold off reading (backpressure),
    // answers wait behind what we do not read: that silence is ours.
    auto now = std::chrono::steady_clock::now();
    if (paused_) last_answer_ = now;
    if (responsive_ && now - last_answer_ > probe_timeout_) {
        responsive_ = false;
        PLOG(ctx_.log, warning, "BEAM %s has not answered for %lld ms", ctx_.config.beam_node.c_str(),
             static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(now - last_answer_).count()));
        if (events_) events_->on_beam_responsive(false);
        if (closed_) return;
    }
    send_net_kernel_call("$partisan_probe", ++probe_seq_);
    auto every = std::min(std::chrono::milliseconds(1000), std::max(probe_timeout_ / 4, std::chrono::milliseconds(50)));
    probe_timer_.expires_after(every);
    probe_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
        if (!ec && !self->closed_) self->probe();
    });
}

void BeamLink::send_net_kernel_call(std::string_view tag, uint64_t id) {
    // {'$gen_call', {SelfPid, {Tag, Id}}, {is_auth, SelfName}} to net_kernel,
    // which answers {{Tag, Id}, yes}, as it answers net_adm:ping/1.
    ei_x_buff x;
    ei_x_new_with_version(&x);
    encode_call_head(x, tag, id);
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom(&x, "is_auth");
    ei_x_encode_atom_len(&x, name_.data(), static_cast<int>(name_.size()));
    send_to_name("net_kernel", x);
    ei_x_free(&x);
}

void BeamLink::encode_call_head(ei_x_buff& x, std::string_view tag, uint64_t id) const {
    // {'$gen_call', {SelfPid, {Tag, Id}}, ...: the answer comes back to us
    // as {{Tag, Id}, Reply}.
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "$gen_call");
    ei_x_encode_tuple_header(&x, 2);
    ei_x_append_buf(&x, reinterpret_cast<const char*>(self_pid_.data()), static_cast<int>(self_pid_.size()));
    ei_x_encode_tuple_header(&x, 2);
    ei_x_encode_atom_len(&x, tag.data(), static_cast<int>(tag.size()));
    ei_x_encode_ulonglong(&x, id);
}

void BeamLink::ask_whereis(Bytes name_atom, uint64_t id) {
    // {'$gen_call', From, {call, erlang, whereis, [Name], user}} to rex,
    // the BEAM's rpc server: it answers with a pid or undefined.
    ei_x_buff x;
    ei_x_new_with_version(&x);
    encode_call_head(x, "$partisan_whereis", id);
    ei_x_encode_tuple_header(&x, 5);
    ei_x_encode_atom(&x, "call");
    ei_x_encode_atom(&x, "erlang");
    ei_x_encode_atom(&x, "whereis");
    ei_x_encode_list_header(&x, 1);
    ei_x_append_buf(&x, reinterpret_cast<const char*>(name_atom.data), static_cast<int>(name_atom.size));
    ei_x_encode_empty_list(&x);
    ei_x_encode_atom(&x, "user");
    send_to_name("rex", x);
    ei_x_free(&x);
}

void BeamLink::handle_call_answer(std::string_view tag, uint64_t id, etf::Reader reply) {
    // A liveness probe's answer (any reply will do) or a whereis answer (a
    // pid, or undefined).
    if (tag == "$partisan_whereis") {
        // Anything but `undefined` (a pid; a badrpc) counts as registered,
        // so that no message is called undeliverable without proof.
        std::string_view atom;
        bool registered = !(reply.atom(atom) && atom == "undefined");
        auto settled = names_.answered(id, registered, std::chrono::steady_clock::now());
        if (settled.undeliverable > 0)
            PLOG(ctx_.log, warning, "%llu message(s) to %s on channel %s undeliverable: no process has that name",
                 static_cast<unsigned long long>(settled.undeliverable), settled.name.c_str(),
                 ctx_.config.channels[channel_].name.c_str());
    } else if (tag != "$partisan_probe") {
        PLOG(ctx_.log, debug, "answer with unknown tag %.*s ignored", static_cast<int>(tag.size()), tag.data());
        return;
    }
    // Any answer shows the BEAM runs.
    last_answer_ = std::chrono::steady_clock::now();
    if (!responsive_) {
        responsive_ = true;
        PLOG(ctx_.log, notice, "BEAM %s answers again", ctx_.config.beam_node.c_str());
        if (events_) events_->on_beam_responsive(true);
    }
}

void BeamLink::close() {
    closed_ = true;
    asio::error_code ec;
    tick_timer_.cancel();
    probe_timer_.cancel();
    sock_.close(ec);
}

void BeamLink::fail(const std::string& why) {
    if (closed_) return;
    close();
    if (events_) events_->on_beam_closed(*this, why);
}

void BeamLink::schedule_tick() {
    tick_timer_.expires_after(tick_interval);
    tick_timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
        if (ec || self->closed_) return;
        self->stream_.out().bytes().put_u32(0);  // an empty packet is a tick
        self->flush();
        self->schedule_tick();
    });
}

void BeamLink::read() {
    if (closed_) return;
    stream_.read([self = shared_from_this()](const asio::error_code& ec, size_t n) {
        if (self->closed_) return;
        if (ec) {
            self->fail(ec == asio::error::eof ? "BEAM closed the connection" : ec.message());
            return;
        }
        self->stream_.in().commit(n);
        self->last_answer_ = std::chrono::steady_clock::now();
        self->process();
    });
}

void BeamLink::process() {
    // Room for the largest message plus the request around it.
    const uint32_t max_packet = ctx_.config.max_message_bytes + (1u << 20);
    bool all = stream_.frames(
        [max_packet] { return max_packet; },
        [this](const uint8_t* body, uint32_t len) {
            if (len > 0) handle_packet(body, len);  // len 0 is a tick
            return !closed_;
        },
        [this, max_packet](uint32_t len) {
            // The shim refuses such messages before they get here; one that
            // still comes (sent around the shim) is dropped, not the link.
            PLOG(ctx_.log, error, "BEAM sent a packet of %u bytes, over the limit of %u (max_message_size); dropped",
                 len, max_packet);
            ++oversized_dropped_;
            return true;
        });
    if (!all) return;
    if (events_->on_beam_batch_end(*this))
        read();
    else
        paused_ = true;
}

void BeamLink::resume_reading() {
    if (!paused_ || closed_) return;
    paused_ = false;
    read();
}

void BeamLink::handle_packet(const uint8_t* p, uint32_t len) {
    ShimMessage m = parse_shim_packet(p, len);
    switch (m.kind) {
        case ShimMessage::Kind::forward:
            if (m.forward.message.size >= zero_copy_threshold) m.forward.keep = stream_.in().share();
            events_->on_forward(m.forward);
            return;
        case ShimMessage::Kind::call:
            events_->on_call(m.from_pid, m.ref, m.request);
            return;
        case ShimMessage::Kind::answer:
            handle_call_answer(m.answer_tag, m.answer_id, m.answer);
            return;
        case ShimMessage::Kind::ignored:
            // Links, monitors, exits: a C-node has no processes to link.
            PLOG(ctx_.log, debug, "BEAM control operation %llu ignored", static_cast<unsigned long long>(m.op));
            return;
        case ShimMessage::Kind::malformed:
            PLOG(ctx_.log, warning, "malformed packet from BEAM (%u bytes, %s) ignored", len, m.why);
            return;
    }
}

void BeamLink::begin_packet(size_t& at) {
    at = stream_.out().bytes().size();
    stream_.out().bytes().put_u32(0);
    stream_.out().bytes().put_u8(pass_through);
}

void BeamLink::end_packet(size_t at) {
    ByteBuffer& b = stream_.out().bytes();
    ByteBuffer::store_u32(b.data() + at, static_cast<uint32_t>(b.size() - at - 4));
}

void BeamLink::deliver(Bytes server_ref, Bytes message, const SharedBytes& keep, LinkStats* from) {
    size_t at;
    begin_packet(at);
    ByteBuffer& b = stream_.out().bytes();
    b.put_u8(etf::version_magic);
    if (server_ref.data[0] == etf::new_pid || server_ref.data[0] == etf::pid) {
        // {SEND, '', ToPid}
        const uint8_t head[] = {etf::small_tuple, 3, etf::small_integer, op_send};
        b.append(head, sizeof head);
        b.append(empty_atom, sizeof empty_atom);
    } else {
        // {REG_SEND, FromPid, '', ToName}
        const uint8_t head[] = {etf::small_tuple, 4, etf::small_integer, op_reg_send};
        b.append(head, sizeof head);
        b.append(self_pid_.data(), self_pid_.size());
        b.append(empty_atom, sizeof empty_atom);
    }
    b.append(server_ref.data, server_ref.size);
    b.put_u8(etf::version_magic);
    // The length counts the message, which may follow by reference.
    ByteBuffer::store_u32(b.data() + at, static_cast<uint32_t>(b.size() - at - 4 + message.size));
    if (keep && message.size >= zero_copy_threshold)
        stream_.out().append_shared(message.data, message.size, keep);
    else
        b.append(message.data, message.size);
    if (server_ref.data[0] != etf::new_pid && server_ref.data[0] != etf::pid) {
        etf::Reader r(server_ref.data, server_ref.size);
        std::string_view name;
        if (r.atom(name))
            if (auto id = names_.delivered(name, from, std::chrono::steady_clock::now())) ask_whereis(server_ref, *id);
    }
}

void BeamLink::send_to_name(std::string_view name, const ei_x_buff& term) {
    size_t at;
    begin_packet(at);
    const uint8_t head[] = {etf::version_magic, etf::small_tuple, 4, etf::small_integer, op_reg_send};
    ByteBuffer& b = stream_.out().bytes();
    b.append(head, sizeof head);
    b.append(self_pid_.data(), self_pid_.size());
    b.append(empty_atom, sizeof empty_atom);
    b.put_u8(etf::small_atom_utf8);
    b.put_u8(static_cast<uint8_t>(name.size()));
    b.append(name);
    b.append(term.buff, static_cast<size_t>(term.index));
    end_packet(at);
    flush();
}

void BeamLink::send_to_pid(Bytes pid, const ei_x_buff& term) {
    size_t at;
    begin_packet(at);
    const uint8_t head[] = {etf::version_magic, etf::small_tuple, 3, etf::small_integer, op_send};
    ByteBuffer& b = stream_.out().bytes();
    b.append(head, sizeof head);
    b.append(empty_atom, sizeof empty_atom);
    b.append(pid.data, pid.size);
    b.append(term.buff, static_cast<size_t>(term.index));
    end_packet(at);
    flush();
}

void BeamLink::flush() {
    if (closed_) return;
    stream_.write([self = shared_from_this()](const asio::error_code& ec) {
        if (ec) {
            self->fail("write to BEAM failed: " + ec.message());
            return;
        }
        if (!self->congested() && !self->drain_waiters_.empty()) {
            auto waiters = std::move(self->drain_waiters_);
            self->drain_waiters_.clear();
            for (auto& fn : waiters) fn();
        }
        self->flush();
    });
}

}  // namespace partisan
