// Helpers shared by the unit tests.
#pragma once

#include <ei.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace partisan::test {

// The bytes ei writes (no version byte unless `fill` writes one).
inline std::vector<uint8_t> encode(const std::function<void(ei_x_buff&)>& fill) {
    ei_x_buff x;
    ei_x_new(&x);
    fill(x);
    std::vector<uint8_t> out(x.buff, x.buff + x.index);
    ei_x_free(&x);
    return out;
}

// /dev/null, for a Logger whose lines no test reads.
struct NullFd {
    int fd = ::open("/dev/null", O_WRONLY);
    NullFd() = default;
    NullFd(const NullFd&) = delete;
    NullFd& operator=(const NullFd&) = delete;
    ~NullFd() { ::close(fd); }
};

}  // namespace partisan::test
