// Standalone mode (no BEAM; scale runs and benchmarks): what stands in for
// a channel's BEAM link. It takes every local delivery and only counts it,
// so a C-node can join a cluster and receive broadcasts and messages
// without a BEAM node beside it.
#pragma once

#include "partisan/beam/beam_link.hpp"

#include <cstdint>

namespace partisan {

class CountingBeam : public BeamChannel {
public:
    explicit CountingBeam(size_t channel) : channel_(channel) {}

    size_t channel() const override { return channel_; }
    // The router counted it in the peer's stats already.
    void deliver(Bytes, Bytes message, const SharedBytes&, LinkStats*) override {
        ++messages_;
        bytes_ += message.size;
    }
    void flush() override {}
    bool congested() const override { return false; }
    void when_drained(std::function<void()> fn) override { fn(); }
    void resume_reading() override {}

    uint64_t messages() const { return messages_; }
    uint64_t bytes() const { return bytes_; }

private:
    size_t channel_;
    uint64_t messages_ = 0, bytes_ = 0;
};

}  // namespace partisan
