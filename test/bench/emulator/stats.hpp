// Counters of a relay, shared by its listeners, connections and pipes.
// Written on the relay's event-loop thread only; atomic so that another
// thread (a test, a monitor) may read them while it runs.
#pragma once

#include <atomic>
#include <cstdint>

namespace link_emulator {

struct RelayStats {
    std::atomic<std::uint64_t> connections_accepted{0};
    std::atomic<std::uint64_t> connections_active{0};
    std::atomic<std::uint64_t> connect_failures{0};
    std::atomic<std::uint64_t> bytes_relayed{0};        // written to a destination, both directions
    std::atomic<std::uint64_t> buffered_bytes{0};       // held now, all pipes together
    std::atomic<std::uint64_t> peak_pipe_buffered_bytes{0};  // most ever held by one pipe

    void note_pipe_buffered(std::uint64_t bytes) noexcept {
        if (bytes > peak_pipe_buffered_bytes.load(std::memory_order_relaxed))
            peak_pipe_buffered_bytes.store(bytes, std::memory_order_relaxed);
    }
};

}  // namespace link_emulator
