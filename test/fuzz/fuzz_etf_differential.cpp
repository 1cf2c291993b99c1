// The validator against a real BEAM: for every input, etf::check_term and
// binary_to_term/1 of the installed OTP must agree on whether it is one
// decodable term; any disagreement aborts with both verdicts.
//
// The BEAM runs test/fuzz/etf_oracle.escript (ETF_ORACLE_SCRIPT), started
// once and replaced when it retires (atom or export table filling up),
// dies or hangs. It is a distributed node, so the validator is told its
// name and creation, as the C-node would be told its BEAM's.
//
// Inputs are of two kinds, by their first byte:
//   even: the rest is the term itself (raw bytes);
//   odd:  the rest drives a term generator. Bytes read from the front decide
//         what the term is, bytes read from the back how it is encoded, so
//         that a map key can be made again with the same value and another
//         encoding (a duplicate the validator must recognise), or with one
//         value byte changed (a near-duplicate it must not take for one).
//         Bit 1 of the first byte asks for a few raw byte changes after.
//
// Also checked: knowing less of the node (its name only, or nothing) never
// makes the validator accept more, nor accept what the BEAM refuses. Terms
// the validator refuses as unsupported are not sent (some crash the BEAM).
// ETF_DIFF_STATS=1 prints how often each verdict and reason came up.
//
// Each fuzzing process starts its own BEAM at its first input (escript on
// the PATH); -jobs=2 -workers=2 suits two cores. The harness keeps that
// process-wide state, as a harness must.
#include "partisan/codec/etf.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <vector>

#ifndef ETF_ORACLE_SCRIPT
#error "ETF_ORACLE_SCRIPT must name test/fuzz/etf_oracle.escript"
#endif

using namespace partisan;

namespace {

// ---------------------------------------------------------------------------
// The BEAM, over two pipes with 4-byte length prefixes.

class Oracle {
public:
    struct Answer {
        bool decoded = false;
        uint32_t used = 0;  // bytes decoded, the version byte included
    };

    ~Oracle() { stop(); }

    const std::string& node() const { return node_; }
    uint32_t creation() const { return creation_; }
    unsigned restarts() const { return restarts_; }

    void ensure_started() {
        for (int attempt = 0; pid_ <= 0; ++attempt) {
            if (attempt == 3) die("the oracle does not start");
            if (!start()) stop();
        }
    }

    // false when the BEAM died or hung on this input; the next call starts
    // another.
    bool ask(const std::vector<uint8_t>& input, Answer& answer) {
        ensure_started();
        uint8_t reply[6];
        if (!send(input) || !receive(reply, sizeof reply, 20000)) {
            stop();
            return false;
        }
        answer.decoded = reply[0] == 0;
        answer.used = uint32_t{reply[1]} << 24 | uint32_t{reply[2]} << 16 | uint32_t{reply[3]} << 8 | reply[4];
        if (reply[5]) stop();  // retiring: the next call starts a new one
        return true;
    }

private:
    bool start() {
        int to_child[2], from_child[2];
        if (pipe(to_child) != 0 || pipe(from_child) != 0) die("pipe");
        pid_ = fork();
        if (pid_ < 0) die("fork");
        if (pid_ == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);  // an aborting fuzzer takes its BEAM along
            // The oracle reads fd 3 and writes fd 4; stdin and stdout are
            // not used, so stray output cannot corrupt the frames.
            int null = open("/dev/null", O_RDWR);
            dup2(null, 0);
            dup2(2, 1);
            dup2(to_child[0], 3);
            dup2(from_child[1], 4);
            for (int fd = 5; fd < 1024; ++fd) close(fd);
            setenv("ERL_CRASH_DUMP_SECONDS", "0", 1);  // a crash is expected now and then
            execlp("escript", "escript", ETF_ORACLE_SCRIPT, static_cast<char*>(nullptr));
            _exit(127);
        }
        close(to_child[0]);
        close(from_child[1]);
        to_ = to_child[1];
        from_ = from_child[0];
        fcntl(from_, F_SETFL, fcntl(from_, F_GETFL) | O_NONBLOCK);
        uint8_t hello[256];
        uint32_t n = 0;
        if (!receive_frame(hello, sizeof hello, n, 60000) || n < 5 || hello[0] != 'H') return false;
        creation_ = uint32_t{hello[1]} << 24 | uint32_t{hello[2]} << 16 | uint32_t{hello[3]} << 8 | hello[4];
        node_.assign(reinterpret_cast<const char*>(hello + 5), n - 5);
        ++restarts_;
        std::fprintf(stderr, "oracle %u: %s, creation %u\n", restarts_, node_.c_str(), creation_);
        return true;
    }

    void stop() {
        if (pid_ <= 0) return;
        close(to_);
        close(from_);
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

    [[noreturn]] static void die(const char* what) {
        std::perror(what);
        std::abort();
    }

    // One write: every system call costs, and there is one per input.
    bool send(const std::vector<uint8_t>& input) {
        auto n = static_cast<uint32_t>(input.size());
        frame_.assign({uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)});
        frame_.insert(frame_.end(), input.begin(), input.end());
        return write_all(frame_.data(), frame_.size());
    }

    bool write_all(const uint8_t* p, size_t n) {
        while (n > 0) {
            ssize_t w = write(to_, p, n);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return false;
            p += w;
            n -= static_cast<size_t>(w);
        }
        return true;
    }

    bool read_all(uint8_t* p, size_t n, int timeout_ms) {
        while (n > 0) {
            ssize_t r = read(from_, p, n);  // non-blocking: poll only when empty
            if (r == 0) return false;
            if (r < 0) {
                if (errno == EINTR) continue;  // libFuzzer's timers
                if (errno != EAGAIN) return false;
                pollfd pfd{from_, POLLIN, 0};
                int ready = poll(&pfd, 1, timeout_ms);
                if (ready < 0 && errno == EINTR) continue;
                if (ready <= 0) return false;
                continue;
            }
            p += r;
            n -= static_cast<size_t>(r);
        }
        return true;
    }

    bool receive_frame(uint8_t* buf, size_t cap, uint32_t& n, int timeout_ms) {
        uint8_t len[4];
        if (!read_all(len, 4, timeout_ms)) return false;
        n = uint32_t{len[0]} << 24 | uint32_t{len[1]} << 16 | uint32_t{len[2]} << 8 | len[3];
        return n <= cap && read_all(buf, n, timeout_ms);
    }

    // A reply of a known size, read with its length at once.
    bool receive(uint8_t* buf, size_t want, int timeout_ms) {
        uint8_t frame[16];
        if (want + 4 > sizeof frame || !read_all(frame, want + 4, timeout_ms)) return false;
        uint32_t n = uint32_t{frame[0]} << 24 | uint32_t{frame[1]} << 16 | uint32_t{frame[2]} << 8 | frame[3];
        std::memcpy(buf, frame + 4, want);
        return n == want;
    }

    pid_t pid_ = -1;
    int to_ = -1, from_ = -1;
    std::vector<uint8_t> frame_;
    std::string node_;
    uint32_t creation_ = 0;
    unsigned restarts_ = 0;
};

Oracle& oracle() {
    static Oracle o;  // one BEAM per fuzzing process
    return o;
}

// ---------------------------------------------------------------------------
// The generator.

// Fuzzer bytes read one way, 0 once used up.
class Stream {
public:
    Stream(const uint8_t* data, size_t size, bool from_back) : data_(data), size_(size), back_(from_back) {}
    uint8_t byte() {
        if (used_ >= size_) return 0;
        return data_[back_ ? size_ - 1 - used_++ : used_++];
    }
    uint32_t below(uint32_t n) { return n <= 1 ? 0 : (n <= 256 ? byte() % n : u32() % n); }
    bool one_in(uint32_t n) { return below(n) == 0; }
    uint32_t u32() {  // in sequence: the operands of | are not
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v = v << 8 | byte();
        return v;
    }
    size_t used() const { return used_; }
    void rewind(size_t used) { used_ = used; }
    // The byte read after `reads` more is XORed with x (a near-duplicate).
    void flip_after(size_t reads, uint8_t x) { flip_at_ = used_ + reads, flip_ = x; }
    void no_flip() { flip_at_ = SIZE_MAX; }
    uint8_t filter(size_t at, uint8_t b) const { return at == flip_at_ ? b ^ flip_ : b; }

private:
    const uint8_t* data_;
    size_t size_;
    bool back_;
    size_t used_ = 0;
    size_t flip_at_ = SIZE_MAX;
    uint8_t flip_ = 0;
};

struct Atom {
    std::vector<uint32_t> chars;  // code points, when valid
    std::vector<uint8_t> raw;     // bytes, when not valid UTF-8
    bool valid = true;
    bool cache_ref = false;
};

class Gen {
public:
    Gen(const uint8_t* data, size_t size, const std::string& local_node, uint32_t local_creation)
        : s_(data, size, false), e_(data, size, true), node_(local_node), creation_(local_creation) {}

    std::vector<uint8_t> out;

    void term(int depth) {
        if (out.size() > (1u << 20)) return put_u8(etf::nil);
        switch (value() % (depth >= max_depth ? 9 : 15)) {
            case 0: case 1: return integer();
            case 2: return floating();
            case 3: case 4: return atom_term();
            case 5: return bitstring();
            case 6: return pid();
            case 7: return port();
            case 8: return reference();
            case 9: return list(depth);
            case 10: return tuple(depth);
            case 11: case 12: return map(depth);
            case 13: return export_fun();
            default: return fun(depth);
        }
    }

    // A few bytes changed, cut or added, where and how the back bytes say.
    void corrupt() {
        int n = 1 + static_cast<int>(e_.below(3));
        for (int i = 0; i < n && !out.empty(); ++i) {
            size_t at = e_.below(static_cast<uint32_t>(out.size()));
            switch (e_.below(4)) {
                case 0: out[at] = e_.byte(); break;
                case 1: out[at] ^= static_cast<uint8_t>(1u << e_.below(8)); break;
                case 2: out.resize(at); break;
                default: out.insert(out.begin() + static_cast<long>(at), e_.byte()); break;
            }
        }
    }

private:
    static constexpr int max_depth = 4;

    // What the term is: read from the front, replayable.
    uint8_t value() {
        size_t at = s_.used();
        return s_.filter(at, s_.byte());
    }
    uint32_t value_below(uint32_t n) {
        if (n <= 1) return 0;
        if (n <= 256) return value() % n;
        return value_u32() % n;
    }
    uint32_t value_u32() {
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i) v = v << 8 | value();
        return v;
    }
    uint64_t value_u64() {
        uint64_t hi = value_u32();
        return hi << 32 | value_u32();
    }

    void put_u8(uint8_t b) { out.push_back(b); }
    void put_u16(uint16_t v) { put_u8(uint8_t(v >> 8)), put_u8(uint8_t(v)); }
    void put_u32(uint32_t v) { put_u16(uint16_t(v >> 16)), put_u16(uint16_t(v)); }
    void put_u64(uint64_t v) { put_u32(uint32_t(v >> 32)), put_u32(uint32_t(v)); }
    void put_bytes(const uint8_t* p, size_t n) { out.insert(out.end(), p, p + n); }

    // Integers as a sign and little-endian magnitude.
    void integer() {
        bool negative = false;
        std::vector<uint8_t> mag;
        static constexpr uint64_t edges[] = {0, 1, 255, 256, (1u << 27) - 1, 1u << 27, (1u << 31) - 1, 1u << 31,
                                             (1ull << 32) - 1, (1ull << 59) - 1, 1ull << 59, (1ull << 59) + 1,
                                             (1ull << 63), ~0ull};
        switch (value_below(4)) {
            case 0: set_mag(mag, value()); break;
            case 1: set_mag(mag, value_u32()), negative = value() & 1; break;
            case 2: set_mag(mag, edges[value_below(std::size(edges))]), negative = value() & 1; break;
            default: {
                size_t n = value_below(14);
                for (size_t i = 0; i < n; ++i) mag.push_back(value());
                negative = value() & 1;
            }
        }
        encode_integer(negative, mag);
    }

    static void set_mag(std::vector<uint8_t>& mag, uint64_t v) {
        mag.clear();
        for (; v; v >>= 8) mag.push_back(static_cast<uint8_t>(v));
    }

    void encode_integer(bool negative, std::vector<uint8_t> mag) {
        while (!mag.empty() && mag.back() == 0) mag.pop_back();
        uint64_t v = 0;
        for (size_t i = mag.size(); i-- > 0;) v = v << 8 | mag[i];
        bool zero = mag.empty();
        if (mag.size() <= 1 && !negative && e_.below(4) != 0) return put_u8(etf::small_integer), put_u8(uint8_t(v));
        if (mag.size() <= 4 && e_.below(4) != 0) {
            int64_t s = negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
            if (s >= INT32_MIN && s <= INT32_MAX) return put_u8(etf::integer), put_u32(static_cast<uint32_t>(s));
        }
        size_t pad = e_.one_in(3) ? e_.below(4) : 0;  // leading zero digits
        size_t n = mag.size() + pad;
        if (n <= 255 && !e_.one_in(6))
            put_u8(etf::small_big), put_u8(uint8_t(n));
        else
            put_u8(etf::large_big), put_u32(static_cast<uint32_t>(n));
        static constexpr uint8_t negative_signs[] = {1, 2, 255};
        put_u8(negative ? negative_signs[e_.below(3)] : (zero && e_.one_in(2) ? 1 : 0));
        put_bytes(mag.data(), mag.size());
        for (size_t i = 0; i < pad; ++i) put_u8(0);
    }

    void floating() {
        double d;
        static constexpr double picks[] = {0.0, -0.0, 1.0, 1.5, -2.5, 1e300, 1e-310, 5e-324, 2.2250738585072014e-308,
                                           1.7976931348623157e308};
        switch (value_below(5)) {
            case 0: {
                uint64_t bits = value_u64();
                std::memcpy(&d, &bits, sizeof d);
                break;
            }
            case 1: d = picks[value_below(std::size(picks))]; break;
            case 2: d = value() - 128; break;
            case 3: return float_text();
            default: d = value_u32() / 65536.0 * ((value() & 1) ? -1 : 1); break;
        }
        if (d == 0 && e_.one_in(2)) d = -d;  // -0.0 =:= 0.0
        if (std::isfinite(d) && e_.one_in(3)) {
            char text[64];
            std::snprintf(text, sizeof text, "%.20e", d);
            if (e_.one_in(2))
                for (char& c : text)
                    if (c == '.') c = ',';
            return put_float_text(text, std::strlen(text));
        }
        uint64_t bits;
        std::memcpy(&bits, &d, sizeof bits);
        put_u8(etf::new_float), put_u64(bits);
    }

    // FLOAT_EXT text, right or wrong.
    void float_text() {
        static constexpr const char* texts[] = {
            "1.5", "1,5", ".5", "1.", "1", "1e5", "1.5e", "1.5e+", "1.5e+7", "-1.5E-7", "+0.0", "-0.0", "inf",
            "nan", " 1.5", "1.5 ", "1.0e309", "1.0e-400", "1.0e-310", "0x1.0p3", "1.5e5x", "12345678901234567890.5",
            "1.0000000000000000000000000000", "1.00000000000000000000000000000", "1.000000000000000000000000000e5"};
        std::string t = texts[value_below(std::size(texts))];
        if (value_below(4) == 0 && !t.empty()) t[value_below(static_cast<uint32_t>(t.size()))] = static_cast<char>(value());
        put_float_text(t.data(), t.size());
    }

    void put_float_text(const char* t, size_t n) {
        put_u8(etf::float_ext);
        uint8_t field[31] = {};
        std::memcpy(field, t, std::min<size_t>(n, 31));
        if (n < 30 && e_.one_in(4)) field[n + 1] = static_cast<uint8_t>('0' + e_.below(10));  // after the NUL
        put_bytes(field, 31);
    }

    Atom atom_value() {
        Atom a;
        static constexpr const char* words[] = {"a", "", "ok", "hello", "a@b", "other@host", "nonode@nohost", "m", "f"};
        switch (value_below(9)) {
            case 0: case 1: {
                if (value_below(3) == 0) {
                    for (unsigned char c : node_) a.chars.push_back(c);
                } else {
                    for (const char* p = words[value_below(std::size(words))]; *p; ++p) a.chars.push_back(uint8_t(*p));
                }
                break;
            }
            case 2: {
                static constexpr uint32_t cps[] = {0xE9, 0xFF, 0x100, 0x7FF, 0x800, 0xFFFE, 0xFFFF, 0x10000, 0x1F600,
                                                   0x10FFFF, 0, 0x7F, 0x80};
                size_t n = 1 + value_below(3);
                for (size_t i = 0; i < n; ++i) a.chars.push_back(cps[value_below(std::size(cps))]);
                break;
            }
            case 3: {
                size_t n = value_below(12);
                for (size_t i = 0; i < n; ++i) a.chars.push_back('a' + value_below(26));
                break;
            }
            case 4: {
                static constexpr uint32_t widths[] = {'x', 0xE9, 0x800, 0x10000};
                uint32_t c = widths[value_below(4)];
                a.chars.assign(254 + value_below(3), c);  // 254..256 characters
                break;
            }
            case 5: {
                static const std::vector<std::vector<uint8_t>> bad = {
                    {0xC0, 0x80}, {0xC1, 0xBF}, {0xED, 0xA0, 0x80}, {0xED, 0xBF, 0xBF}, {0xF4, 0x90, 0x80, 0x80},
                    {0xF5, 0x80, 0x80, 0x80}, {0xFF}, {0x80}, {0xE0, 0x80, 0x80}, {0xE0, 0x9F, 0xBF},
                    {0xF0, 0x80, 0x80, 0x80}, {0xF0, 0x8F, 0xBF, 0xBF}, {0xC2}, {0xE2, 0x82}, {0xF0, 0x9F, 0x98},
                    {0xF8, 0x88, 0x80, 0x80, 0x80}, {0x61, 0xC3}};
                a.valid = false;
                a.raw = bad[value_below(static_cast<uint32_t>(bad.size()))];
                if (value() & 1) a.raw.insert(a.raw.begin(), 'a');
                break;
            }
            case 6: {
                size_t n = value_below(6);
                for (size_t i = 0; i < n; ++i) a.chars.push_back(value());
                break;
            }
            case 7: {
                a.valid = false;
                size_t n = value_below(6);
                for (size_t i = 0; i < n; ++i) a.raw.push_back(value());
                break;
            }
            default:
                a.cache_ref = value_below(8) == 0;
                a.chars = {'z'};
        }
        return a;
    }

    static std::vector<uint8_t> utf8(const std::vector<uint32_t>& cps) {
        std::vector<uint8_t> b;
        for (uint32_t c : cps) {
            if (c < 0x80) {
                b.push_back(uint8_t(c));
            } else if (c < 0x800) {
                b.push_back(uint8_t(0xC0 | c >> 6)), b.push_back(uint8_t(0x80 | (c & 0x3F)));
            } else if (c < 0x10000) {
                b.push_back(uint8_t(0xE0 | c >> 12)), b.push_back(uint8_t(0x80 | (c >> 6 & 0x3F)));
                b.push_back(uint8_t(0x80 | (c & 0x3F)));
            } else {
                b.push_back(uint8_t(0xF0 | c >> 18)), b.push_back(uint8_t(0x80 | (c >> 12 & 0x3F)));
                b.push_back(uint8_t(0x80 | (c >> 6 & 0x3F))), b.push_back(uint8_t(0x80 | (c & 0x3F)));
            }
        }
        return b;
    }

    void encode_atom(const Atom& a) {
        if (a.cache_ref) return put_u8(etf::atom_cache_ref), put_u8(e_.byte());
        bool latin1_ok = a.valid;
        for (uint32_t c : a.chars) latin1_ok &= c <= 0xFF;
        std::vector<uint8_t> text;
        bool latin1 = latin1_ok && e_.one_in(2);
        if (latin1) {
            for (uint32_t c : a.chars) text.push_back(uint8_t(c));
        } else {
            text = a.valid ? utf8(a.chars) : a.raw;
        }
        bool small = text.size() <= 255 && !e_.one_in(3);
        if (latin1)
            put_u8(small ? etf::small_atom : etf::atom);
        else
            put_u8(small ? etf::small_atom_utf8 : etf::atom_utf8);
        if (small)
            put_u8(uint8_t(text.size()));
        else
            put_u16(uint16_t(text.size()));
        put_bytes(text.data(), text.size());
    }

    void atom_term() { encode_atom(atom_value()); }

    void bitstring() {
        size_t n = value_below(4) == 0 ? value_below(40) : value_below(5);
        std::vector<uint8_t> bytes;
        for (size_t i = 0; i < n; ++i) bytes.push_back(value());
        uint8_t bits = n == 0 ? 0 : 8;
        switch (value_below(6)) {
            case 0: bits = n == 0 ? 0 : static_cast<uint8_t>(1 + value_below(7)); break;
            case 1: bits = static_cast<uint8_t>(value_below(10)); break;  // maybe wrong
            default: break;
        }
        bool plain = (bits == 8 && n > 0) || (n == 0 && bits == 0);
        if (plain && !e_.one_in(3)) {
            put_u8(etf::binary), put_u32(static_cast<uint32_t>(n));
        } else {
            put_u8(etf::bit_binary), put_u32(static_cast<uint32_t>(n)), put_u8(bits);
            if (n > 0 && bits >= 1 && bits < 8) bytes.back() |= static_cast<uint8_t>(e_.byte() & (0xFF >> bits));
        }
        put_bytes(bytes.data(), bytes.size());
    }

    uint32_t creation_value() {
        static constexpr uint32_t picks[] = {0, 1, 2, 3, 4, 255, 256, 0xFFFFFFFF};
        switch (value_below(4)) {
            case 0: case 1: return creation_;
            case 2: return picks[value_below(std::size(picks))];
            default: return value_u32();
        }
    }

    uint32_t number_value() {
        static constexpr uint32_t picks[] = {0, 1, 32767, 32768, 8191, 8192, (1u << 28) - 1, 1u << 28, 0xFFFFFFFF};
        return value_below(3) == 0 ? value_u32() : picks[value_below(std::size(picks))];
    }

    Atom node_value() {
        if (value_below(3) != 0) {
            Atom a;
            for (unsigned char c : node_) a.chars.push_back(c);
            return a;
        }
        return atom_value();
    }

    void pid() {
        Atom node = node_value();
        uint32_t num = number_value(), serial = number_value(), creation = creation_value();
        if (creation <= 255 && e_.one_in(3)) {
            put_u8(etf::pid), encode_atom(node), put_u32(num), put_u32(serial), put_u8(uint8_t(creation));
        } else {
            put_u8(etf::new_pid), encode_atom(node), put_u32(num), put_u32(serial), put_u32(creation);
        }
    }

    void port() {
        Atom node = node_value();
        uint64_t num = value_below(4) == 0 ? value_u64() : number_value();
        uint32_t creation = creation_value();
        if (num <= 0xFFFFFFFF && creation <= 255 && e_.one_in(3)) {
            put_u8(etf::port), encode_atom(node), put_u32(uint32_t(num)), put_u8(uint8_t(creation));
        } else if (num <= 0xFFFFFFFF && e_.one_in(2)) {
            put_u8(etf::new_port), encode_atom(node), put_u32(uint32_t(num)), put_u32(creation);
        } else {
            put_u8(etf::v4_port), encode_atom(node), put_u64(num), put_u32(creation);
        }
    }

    void reference() {
        Atom node = node_value();
        uint32_t creation = creation_value();
        size_t count = value_below(8) == 0 ? value_below(7) : 1 + value_below(3);
        std::vector<uint32_t> words;
        static constexpr uint32_t firsts[] = {0, 1, (1u << 18) - 1, 1u << 18, 0xFFFFFFFF};
        static constexpr uint32_t others[] = {0, 1, 0x10000, 0x20000, 0x30000, 3, 0xFFFFFFF3, 0xFFFFFFFF};
        for (size_t i = 0; i < count; ++i) {
            if (value_below(3) == 0)
                words.push_back(value_u32());
            else
                words.push_back(i == 0 ? firsts[value_below(std::size(firsts))] : others[value_below(std::size(others))]);
        }
        // Trailing zero words do not change the reference for =:=.
        if (!words.empty() && words.size() < 5 && e_.one_in(4)) words.resize(words.size() + 1 + e_.below(5 - words.size()), 0);
        if (words.size() == 1 && creation <= 255 && e_.one_in(3)) {
            put_u8(etf::reference), encode_atom(node), put_u32(words[0]), put_u8(uint8_t(creation));
            return;
        }
        bool new_format = creation <= 255 && e_.one_in(3);
        put_u8(new_format ? etf::new_reference : etf::newer_reference);
        put_u16(static_cast<uint16_t>(words.size()));
        encode_atom(node);
        if (new_format)
            put_u8(uint8_t(creation));
        else
            put_u32(creation);
        for (uint32_t w : words) put_u32(w);
    }

    // The elements come from the front; where the list is split into
    // LIST_EXT and STRING_EXT pieces, from the back.
    void list(int depth) {
        size_t n = value_below(6);
        bool bytes_only = value_below(2) == 0;
        bool proper = value_below(4) != 0;
        std::vector<std::vector<uint8_t>> elements;
        std::vector<uint8_t> byte_values;
        for (size_t i = 0; i < n; ++i) {
            if (bytes_only) byte_values.push_back(value());
            elements.push_back(sub_term(depth, bytes_only ? &byte_values.back() : nullptr));
        }
        std::vector<uint8_t> tail = proper ? std::vector<uint8_t>{etf::nil} : sub_term(depth, nullptr);
        size_t i = 0;
        while (true) {
            if (proper && bytes_only && i < n && e_.one_in(2)) {  // the rest as a string
                put_u8(etf::string), put_u16(static_cast<uint16_t>(n - i));
                put_bytes(byte_values.data() + i, n - i);
                return;
            }
            if (i == n && !e_.one_in(4)) break;
            size_t k = i == n ? 0 : 1 + e_.below(static_cast<uint32_t>(n - i));
            put_u8(etf::list), put_u32(static_cast<uint32_t>(k));
            for (size_t j = 0; j < k; ++j) put_bytes(elements[i + j].data(), elements[i + j].size());
            i += k;
            if (i == n && e_.one_in(2)) break;  // the tail follows at once
        }
        if (proper && e_.one_in(4))
            put_u8(etf::string), put_u16(0);
        else
            put_bytes(tail.data(), tail.size());
    }

    // A term generated apart, to be placed by the caller: the integer
    // *byte when given, else any term.
    std::vector<uint8_t> sub_term(int depth, const uint8_t* byte) {
        std::vector<uint8_t> saved;
        saved.swap(out);
        if (byte)
            encode_small(*byte);
        else
            term(depth + 1);
        std::vector<uint8_t> t;
        t.swap(out);
        out.swap(saved);
        return t;
    }

    void tuple(int depth) {
        size_t n = value_below(5);
        if (e_.one_in(4))
            put_u8(etf::large_tuple), put_u32(static_cast<uint32_t>(n));
        else
            put_u8(etf::small_tuple), put_u8(uint8_t(n));
        for (size_t i = 0; i < n; ++i) term(depth + 1);
    }

    // Keys are sometimes made again from where an earlier key's front bytes
    // started: the same term in another encoding, or with one byte changed.
    void map(int depth) {
        bool big = value_below(4) == 0;  // a HAMT: more than 32 pairs
        size_t n = big ? 30 + value_below(8) : value_below(5);
        size_t interesting = big ? 1 + value_below(4) : n;
        put_u8(etf::map), put_u32(static_cast<uint32_t>(n));
        std::vector<size_t> starts;
        for (size_t i = 0; i < n; ++i) {
            if (i >= interesting) {
                put_u8(etf::integer), put_u32(static_cast<uint32_t>(100000 + i));  // distinct fillers
            } else if (!starts.empty() && value_below(3) == 0) {
                size_t resume = s_.used();
                s_.rewind(starts[value_below(static_cast<uint32_t>(starts.size()))]);
                if (e_.one_in(3)) s_.flip_after(e_.below(12), static_cast<uint8_t>(1 + e_.below(255)));
                term(depth + 1);
                s_.no_flip();
                s_.rewind(resume);
            } else {
                starts.push_back(s_.used());
                term(depth + 1);
            }
            term(depth + 1);
        }
    }

    void encode_small(int64_t v) {
        bool negative = v < 0;
        std::vector<uint8_t> mag;
        set_mag(mag, negative ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v));
        encode_integer(negative, mag);
    }

    int64_t small_value() {
        static constexpr int64_t picks[] = {0, 1, 2, 3, 255, 256, -1, INT32_MAX, INT32_MIN, (1ll << 59) - 1, 1ll << 59,
                                            -(1ll << 59), -(1ll << 59) - 1, (1ll << 32) + 5};
        return value_below(3) == 0 ? static_cast<int32_t>(value_u32()) : picks[value_below(std::size(picks))];
    }

    // Only the low 32 bits of an export's arity and of a fun's old uniq are
    // kept by the BEAM: adding multiples of 2^32 is another encoding.
    int64_t wrap32(int64_t v) {
        if (v >= 0 && v < (int64_t{1} << 40) && e_.one_in(4)) v += static_cast<int64_t>(1 + e_.below(3)) << 32;
        return v;
    }

    void export_fun() {
        Atom m = atom_value(), f = atom_value();
        int64_t arity = small_value();
        put_u8(etf::export_ext), encode_atom(m), encode_atom(f), encode_small(wrap32(arity));
    }

    // Module, index, old uniq and free variables are the fun; arity, uniq,
    // old index and creator are not, so they come from the back.
    void fun(int depth) {
        Atom module = atom_value();
        uint32_t index = value_below(3) == 0 ? value_u32() : value_below(3);
        int64_t old_uniq = small_value();
        uint32_t num_free = value_below(8) == 0 ? 254 + value_below(4) : value_below(3);
        size_t size_at = out.size() + 1;
        put_u8(etf::new_fun), put_u32(0), put_u8(e_.byte());
        for (int i = 0; i < 16; ++i) put_u8(e_.one_in(2) ? 0 : e_.byte());
        put_u32(index), put_u32(num_free);
        encode_atom(module);
        encode_small(e_.one_in(2) ? 0 : static_cast<int32_t>(e_.u32()));  // old index
        encode_small(wrap32(old_uniq));
        creator();
        for (uint32_t i = 0; i < num_free; ++i) term(depth + 1);
        uint32_t size = static_cast<uint32_t>(out.size() - size_at);
        if (e_.one_in(8)) size = e_.u32();  // not checked by the BEAM
        for (int k = 0; k < 4; ++k) out[size_at + static_cast<size_t>(k)] = static_cast<uint8_t>(size >> (24 - 8 * k));
    }

    void creator() {
        switch (e_.below(4)) {
            case 0: put_u8(etf::small_integer), put_u8(e_.byte()); return;
            case 1: put_u8(etf::small_atom_utf8), put_u8(1), put_u8('c'); return;
            default: {
                put_u8(etf::new_pid);
                put_u8(etf::small_atom_utf8), put_u8(uint8_t(node_.size()));
                put_bytes(reinterpret_cast<const uint8_t*>(node_.data()), node_.size());
                put_u32(e_.below(40000)), put_u32(0), put_u32(e_.one_in(2) ? creation_ : e_.u32());
            }
        }
    }

    Stream s_, e_;
    const std::string& node_;
    uint32_t creation_;
};

// ---------------------------------------------------------------------------

std::string hex(const uint8_t* p, size_t n) {
    std::string s;
    char b[4];
    for (size_t i = 0; i < n; ++i) {
        std::snprintf(b, sizeof b, "%02x", p[i]);
        s += b;
        if (i + 1 < n) s += ' ';
    }
    return s;
}

const char* name(etf::Verdict v) {
    switch (v) {
        case etf::Verdict::valid: return "valid";
        case etf::Verdict::invalid: return "invalid";
        case etf::Verdict::unsupported: return "unsupported";
    }
    return "?";
}

[[noreturn]] void disagree(const char* what, const std::vector<uint8_t>& t, const etf::Check& c,
                           const Oracle::Answer& a) {
    std::fprintf(stderr,
                 "\nDISAGREEMENT (%s)\n  term (after 131): %s\n  validator: %s at %zu (%s)\n"
                 "  BEAM (%s, creation %u): %s, used %u of %zu\n",
                 what, hex(t.data(), t.size()).c_str(), name(c.verdict), c.offset, c.why, oracle().node().c_str(),
                 oracle().creation(), a.decoded ? "decoded" : "badarg", a.used, t.size() + 1);
    std::abort();
}

// With ETF_DIFF_STATS set, how often each verdict and reason came up.
void tally(const etf::Check& c) {
    static const bool enabled = std::getenv("ETF_DIFF_STATS") != nullptr;
    static std::map<std::string, unsigned long> counts;
    static unsigned long total = 0;
    if (!enabled) return;
    ++counts[std::string(name(c.verdict)) + ": " + c.why];
    if (++total % 200000 != 0) return;
    std::fprintf(stderr, "after %lu terms:\n", total);
    for (const auto& [what, n] : counts) std::fprintf(stderr, "  %9lu  %s\n", n, what.c_str());
}

// NEW_REFERENCE_EXT or NEWER_REFERENCE_EXT with a count of 0 and an atom
// after it, somewhere.
bool looks_like_wordless_reference(const std::vector<uint8_t>& t) {
    for (size_t i = 0; i + 3 < t.size(); ++i)
        if ((t[i] == etf::new_reference || t[i] == etf::newer_reference) && t[i + 1] == 0 && t[i + 2] == 0 &&
            (t[i + 3] == etf::atom || t[i + 3] == etf::small_atom || t[i + 3] == etf::atom_utf8 ||
             t[i + 3] == etf::small_atom_utf8))
            return true;
    return false;
}

// The validator's verdicts with all, some and nothing known of the node.
struct Verdicts {
    etf::Check full, name_only, unknown;

    Verdicts(const std::vector<uint8_t>& t, const Oracle& o)
        : full(etf::check_term(t.data(), t.size(), etf::DecoderNode{o.node(), o.creation(), true})),
          name_only(etf::check_term(t.data(), t.size(), etf::DecoderNode{o.node(), 0, false})),
          unknown(etf::check_term(t.data(), t.size())) {}
};

std::vector<uint8_t> make_term(const uint8_t* data, size_t size) {
    if (!(data[0] & 1)) return {data + 1, data + size};
    Gen g(data + 1, size - 1, oracle().node(), oracle().creation());
    g.term(0);
    if (data[0] & 2) g.corrupt();
    return std::move(g.out);
}

}  // namespace

// Allocation stacks cost more than all the rest of an input here.
extern "C" const char* __asan_default_options() { return "malloc_context_size=0:quarantine_size_mb=8"; }

// The BEAM starts with the first input: a -jobs parent never needs one.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0 || size > (1u << 16)) return 0;
    oracle().ensure_started();  // its node name and creation are needed first
    std::vector<uint8_t> term = make_term(data, size);
    Verdicts v(term, oracle());
    tally(v.full);
    Oracle::Answer answer;
    // Knowing less of the node, it may refuse more, never accept more.
    bool full_valid = v.full.verdict == etf::Verdict::valid;
    if (!full_valid && (v.name_only.verdict == etf::Verdict::valid || v.unknown.verdict == etf::Verdict::valid))
        disagree("knowing less accepts more", term, v.full, answer);
    // Refused on purpose, whatever the BEAM would say.
    if (v.full.verdict == etf::Verdict::unsupported) return 0;
    // Refused for a reason found first, with a reference of no words later
    // on, which may crash the BEAM: a restart costs a second.
    if (!full_valid && looks_like_wordless_reference(term)) return 0;
    unsigned restarts = oracle().restarts();
    if (!oracle().ask(term, answer)) {
        // Some terms crash OTP 25 (references with no words make it read
        // out of bounds): fine if refused. A second try tells such a crash
        // from a BEAM that happened to die.
        if (!full_valid) return 0;
        if (!oracle().ask(term, answer)) {
            std::fprintf(stderr, "BEAM dies on a term the validator accepts: %s\n", hex(term.data(), term.size()).c_str());
            std::abort();
        }
    }
    // A new BEAM has a new creation: judge again for that one.
    if (oracle().restarts() != restarts) v = Verdicts(term, oracle());
    // binary_to_term ignores bytes after the term; is_valid_term does not.
    bool beam_one_term = answer.decoded && answer.used == term.size() + 1;
    if (v.full.verdict == etf::Verdict::valid && !beam_one_term) disagree("validator accepts", term, v.full, answer);
    if (v.full.verdict == etf::Verdict::invalid && beam_one_term) disagree("validator refuses", term, v.full, answer);
    if (v.name_only.verdict == etf::Verdict::valid && !beam_one_term) disagree("name only accepts", term, v.name_only, answer);
    if (v.unknown.verdict == etf::Verdict::valid && !beam_one_term) disagree("unknown node accepts", term, v.unknown, answer);
    return 0;
}
