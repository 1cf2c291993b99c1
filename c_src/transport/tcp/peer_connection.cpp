#include "partisan/transport/tcp/peer_connection.hpp"


namespace partisan {

namespace {
constexpr std::chrono::milliseconds min_backoff{100};
// Room for the largest message plus the frame header and the destination.
uint32_t max_frame_for(const Config& cfg) { return cfg.max_message_bytes + (1u << 16); }
}  // namespace

std::shared_ptr<PeerConnection> PeerConnection::make_dialer(Context& ctx, PeerEvents& events, std::string peer,
                                                            handshake::LinkId link, std::vector<Address> addrs) {
    auto c = std::make_shared<PeerConnection>(ctx, events, Side::dialer, asio::ip::tcp::socket(ctx.io));
    c->peer_ = std::move(peer);
    c->link_ = std::move(link);
    c->addrs_ = std::move(addrs);
    return c;
}

std::shared_ptr<PeerConnection> PeerConnection::make_acceptor(Context& ctx, PeerEvents& events,
                                                              asio::ip::tcp::socket sock) {
    return std::make_shared<PeerConnection>(ctx, events, Side::acceptor, std::move(sock));
}

PeerConnection::PeerConnection(Context& ctx, PeerEvents& events, Side side, asio::ip::tcp::socket sock)
    : ctx_(ctx), events_(events), side_(side), sock_(std::move(sock)), stream_(sock_), timer_(ctx.io),
      rng_(std::random_device{}()) {}

std::string PeerConnection::describe() const {
    if (side_ == Side::dialer)
        return "to " + peer_ + " (channel " + link_.channel + "/" + std::to_string(link_.index) + ")";
    // What an accepted connection's hello says is only a claim until the
    // dialer has proven the secret.
    if (!authenticated_)
        return "from unauthenticated " + remote_ + (peer_.empty() ? std::string() : ", claims " + peer_);
    return "from " + peer_ + " at " + remote_ + " (channel " + link_.channel + "/" + std::to_string(link_.index) + ")";
}

void PeerConnection::start() {
    if (side_ == Side::dialer) {
        connect_attempt();
        return;
    }
    state_ = State::handshaking;
    ++generation_;
    asio::error_code ec;
    auto ep = sock_.remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string() + ":" + std::to_string(ep.port());
    acceptor_ = std::make_unique<handshake::Acceptor>(ctx_.config.cluster_secret, ctx_.config.beam_node);
    arm_deadline(std::chrono::milliseconds(ctx_.config.handshake_timeout_ms));
    read();
}

void PeerConnection::arm_deadline(std::chrono::milliseconds d) {
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this(), gen = generation_](const asio::error_code& ec) {
        if (ec || gen != self->generation_ || self->established() || self->state_ == State::closed) return;
        self->fail("handshake timed out");
    });
}

void PeerConnection::connect_attempt() {
    if (state_ == State::closed) return;
    if (!events_.may_connect(*this)) {
        state_ = State::idle;
        schedule_reconnect();
        return;
    }
    ++generation_;
    state_ = State::connecting;
    authenticated_ = refusing_ = false;
    refusal_ = {};  // a failure of this attempt must not report an earlier refusal
    asio::error_code ec;
    sock_.close(ec);
    sock_ = asio::ip::tcp::socket(ctx_.io);
    stream_.reset_input();
    arm_deadline(std::chrono::milliseconds(ctx_.config.connect_timeout_ms + ctx_.config.handshake_timeout_ms));
    try_address(0);
}

void PeerConnection::try_address(size_t i) {
    if (i >= addrs_.size()) {
        fail(addrs_.empty() ? "no address known" : "no address answered");
        return;
    }
    asio::error_code ec;
    auto ip = asio::ip::make_address(addrs_[i].ip, ec);
    if (ec) {
        try_address(i + 1);
        return;
    }
    asio::ip::tcp::endpoint ep(ip, addrs_[i].port);
    sock_.async_connect(ep, [self = shared_from_this(), gen = generation_, i](const asio::error_code& ec2) {
        if (gen != self->generation_ || self->state_ == State::closed) return;
        if (ec2) {
            asio::error_code ignore;
            self->sock_.close(ignore);
            self->try_address(i + 1);
            return;
        }
        self->begin_handshake();
    });
}

void PeerConnection::begin_handshake() {
    state_ = State::handshaking;
    asio::error_code ec;
    sock_.set_option(asio::ip::tcp::no_delay(true), ec);
    dialer_ = std::make_unique<handshake::Dialer>(ctx_.config.cluster_secret, ctx_.config.beam_node, peer_, link_,
                                                  handshake::sha256(channels_spec(ctx_.config.channels)));
    send_handshake(dialer_->hello());
    read();
}

void PeerConnection::send_handshake(ByteBuffer frame, std::string then_fail) {
    // Handshake frames go ahead of the data queue, which waits for `established`.
    hs_out_ = std::move(frame);
    if (!then_fail.empty()) refusing_ = true;
    asio::async_write(sock_, asio::buffer(hs_out_.data(), hs_out_.size()),
                      [self = shared_from_this(), gen = generation_, then_fail = std::move(then_fail)](
                          const asio::error_code& ec, size_t) {
                          if (gen != self->generation_) return;
                          if (ec)
                              self->fail("handshake write failed: " + ec.message());
                          else if (!then_fail.empty())
                              self->fail(then_fail);
                      });
}

void PeerConnection::on_handshake_frame(const uint8_t* body, uint32_t len) {
    handshake::Step step = dialer_ ? dialer_->on_frame(body, len) : acceptor_->on_frame(body, len);
    if (acceptor_) peer_ = acceptor_->peer(), link_ = acceptor_->link();
    if (!step.error.empty()) {
        if (dialer_) refusal_ = RefusalInfo{step.refused, step.refusal_proven, step.refusal_text};
        std::string why = "handshake refused: " + step.error;
        // A refusal frame, if any, goes out before the connection closes.
        if (step.reply.empty())
            fail(why);
        else
            send_handshake(std::move(step.reply), why);
        return;
    }
    if (step.authenticated) {
        // The dialer proved the secret: from here on its name is known.
        authenticated_ = true;
        // Nodes link only when their channels are the same; the refusal
        // tells the dialer ours, so its join can say what differs.
        std::string channels = channels_spec(ctx_.config.channels);
        Admission a = acceptor_->peer_channels() == handshake::sha256(channels)
                          ? events_.admit(*this)
                          : Admission{handshake::Refusal::channel_mismatch, channels};
        if (a.refusal != handshake::Refusal::none) {
            send_handshake(acceptor_->refuse(a.refusal, a.text),
                           std::string("refused (") + handshake::refusal_name(a.refusal) + "): " + a.text);
            return;
        }
        send_handshake(acceptor_->accept());
        become_established();
        return;
    }
    if (step.done) {
        authenticated_ = true;
        become_established();
        return;
    }
    if (!step.reply.empty()) send_handshake(std::move(step.reply));
}

void PeerConnection::become_established() {
    state_ = State::established;
    if (ever_established_ && stats) ++stats->reconnects;
    ever_established_ = true;
    release_latest();
    backoff_ = min_backoff;
    timer_.cancel();
    dialer_.reset();
    acceptor_.reset();
    last_heard_ = last_progress_ = std::chrono::steady_clock::now();
    ping_outstanding_ = false;
    schedule_heartbeat();
    events_.on_established(*this);
    flush();
}

void PeerConnection::read() {
    if (state_ == State::closed) return;
    stream_.read([self = shared_from_this(), gen = generation_](const asio::error_code& ec, size_t n) {
        if (gen != self->generation_ || self->state_ == State::closed) return;
        if (ec) {
            self->fail(ec == asio::error::eof ? "closed by peer" : ec.message());
            return;
        }
        self->stream_.in().commit(n);
        self->last_heard_ = std::chrono::steady_clock::now();
        self->process();
    });
}

void PeerConnection::process() {
    const uint64_t gen = generation_;
    auto max = [this] { return established() ? max_frame_for(ctx_.config) : handshake::max_frame; };
    auto oversized = [this, &max](uint32_t len) {
        if (!established()) {
            fail("frame exceeds the limit of " + std::to_string(max()) + " bytes");
            return false;
        }
        // A peer configured with a larger max_message_size: drop that
        // message, keep the connection and what follows on it.
        PLOG(ctx_.log, warning, "connection %s: dropped a frame of %u bytes, over the limit of %u", describe().c_str(),
             len, max());
        if (stats) ++stats->dropped;
        return true;
    };
    auto frame = [this, gen](const uint8_t* body, uint32_t len) {
        if (len == 0) {
            fail("empty frame");
            return false;
        }
        if (!established()) {
            on_handshake_frame(body, len);
            // Refused: nothing more is read; the connection closes once
            // the refusal is written.
            if (refusing_) return false;
        } else if (body[0] == frame_ping || body[0] == frame_pong) {
            // Heartbeats: the acceptor answers each ping; both sides only
            // need to hear something (see heartbeat()).
            if (len != 1) {
                fail("malformed heartbeat frame");
                return false;
            }
            if (body[0] == frame_ping && side_ == Side::acceptor) {
                append_heartbeat_frame(stream_.out().bytes(), frame_pong);
                flush();
            }
            if (body[0] == frame_pong) ping_outstanding_ = false;
        } else if (!events_.on_frame(*this, body, len)) {
            fail("malformed frame (type " + std::to_string(body[0]) + ", " + std::to_string(len) + " bytes)");
            return false;
        }
        return gen == generation_ && state_ != State::closed;
    };
    if (!stream_.frames(max, frame, oversized)) return;
    if (events_.on_read_batch_end(*this))
        read();
    else
        paused_ = true;
}

void PeerConnection::schedule_heartbeat() {
    timer_.expires_after(std::chrono::milliseconds(ctx_.config.heartbeat_interval_ms));
    timer_.async_wait([self = shared_from_this(), gen = generation_](const asio::error_code& ec) {
        if (ec || gen != self->generation_ || !self->established()) return;
        self->heartbeat();
    });
}

void PeerConnection::heartbeat() {
    // A hung peer (stopped, overloaded, its host gone) keeps its sockets
    // open; only silence tells. Its kernel still takes small writes, so a
    // dialer judges by answers: when idle it pings and wants the pong within
    // heartbeat_timeout; when it has data queued it wants the writes to keep
    // moving (a ping would wait behind the queue). An acceptor wants to hear
    // something (data or pings) within the timeout, except while it is the
    // one not reading (backpressure).
    using namespace std::chrono;
    const auto now = steady_clock::now();
    const auto limit = milliseconds(ctx_.config.heartbeat_timeout_ms);
    auto ms = [&](steady_clock::time_point t) { return std::to_string(duration_cast<milliseconds>(now - t).count()); };
    if (side_ == Side::acceptor) {
        if (paused_) last_heard_ = now;
        if (now - last_heard_ > limit) {
            fail("nothing heard for " + ms(last_heard_) + " ms (heartbeat timeout)");
            return;
        }
    } else if (!stream_.drained()) {
        ping_outstanding_ = false;
        if (now - last_progress_ > limit) {
            fail("writes stalled for " + ms(last_progress_) + " ms (heartbeat timeout)");
            return;
        }
    } else if (ping_outstanding_) {
        if (now - ping_sent_ > limit) {
            fail("no answer to a ping for " + ms(ping_sent_) + " ms (heartbeat timeout)");
            return;
        }
    } else {
        append_heartbeat_frame(stream_.out().bytes(), frame_ping);
        ping_outstanding_ = true;
        ping_sent_ = now;
        flush();
    }
    schedule_heartbeat();
}

void PeerConnection::resume_reading() {
    if (!paused_) return;
    paused_ = false;
    read();
}

void PeerConnection::fail(const std::string& why) {
    if (state_ == State::closed) return;
    bool was_established = established();
    // A refused or broken connection is worth a warning; a dialer retrying
    // a node that is not up yet is not. Each kind has its own line, so a
    // flood of one (a scanner's connections) cannot hide the others.
    if (side_ == Side::acceptor && !authenticated_) {
        PLOG(ctx_.log, warning, "connection %s: %s", describe().c_str(), why.c_str());
    } else if (was_established && why == "closed by peer") {
        PLOG(ctx_.log, info, "connection %s closed by peer", describe().c_str());
    } else if (was_established) {
        PLOG(ctx_.log, warning, "connection %s lost: %s", describe().c_str(), why.c_str());
    } else if (side_ == Side::acceptor) {
        PLOG(ctx_.log, warning, "connection %s not admitted: %s", describe().c_str(), why.c_str());
    } else if (refusal_.reason != handshake::Refusal::none) {
        PLOG(ctx_.log, warning, "connection %s %s", describe().c_str(), why.c_str());
    } else {
        PLOG(ctx_.log, debug, "connection %s failed: %s", describe().c_str(), why.c_str());
    }
    ++generation_;
    // At most once: what was being written when the connection broke is lost.
    if (stats) stats->dropped += in_write_.messages;
    in_write_ = {};
    asio::error_code ec;
    sock_.close(ec);
    timer_.cancel();
    dialer_.reset();
    acceptor_.reset();
    if (side_ == Side::acceptor || stopping_) {
        state_ = State::closed;
        events_.on_closed(*this, why);
        return;
    }
    state_ = State::idle;
    schedule_reconnect();
    if (was_established)
        events_.on_closed(*this, why);
    else
        events_.on_connect_failed(*this, why);
}

void PeerConnection::schedule_reconnect() {
    // Exponential back-off with jitter, so a restarted node is not hit by
    // every peer at the same instant.
    auto jittered = backoff_ * (75 + static_cast<int>(rng_() % 51)) / 100;
    backoff_ = std::min(backoff_ * 2, max_backoff_);
    timer_.expires_after(jittered);
    timer_.async_wait([self = shared_from_this(), gen = generation_](const asio::error_code& ec) {
        if (ec || gen != self->generation_ || self->state_ == State::closed) return;
        self->connect_attempt();
    });
}

void PeerConnection::retry_now() {
    if (side_ != Side::dialer || state_ != State::idle) return;
    ++generation_;  // the back-off timer's wake-up is now stale
    backoff_ = min_backoff;
    connect_attempt();
}

void PeerConnection::close() {
    if (state_ == State::closed) return;
    bool was_established = established();
    state_ = State::closed;
    ++generation_;
    asio::error_code ec;
    sock_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    sock_.close(ec);
    timer_.cancel();
    if (was_established || side_ == Side::acceptor) events_.on_closed(*this, "closed");
}

void PeerConnection::close_after_flush() {
    stopping_ = true;
    if (!established() || stream_.drained()) close();
}

}  // namespace partisan
