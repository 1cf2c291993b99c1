// Map keys, compared as the BEAM compares them (etf_keys.cpp). Internal to
// the validator (etf.cpp); not part of the public API.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace partisan::etf::detail {

// A vector that keeps its first N elements inline, so that validating a
// typical term allocates nothing. Only for trivially copyable T.
template <class T, size_t N>
class SmallVec {
    static_assert(std::is_trivially_copyable_v<T>);

public:
    SmallVec() = default;
    SmallVec(const SmallVec&) = delete;
    SmallVec& operator=(const SmallVec&) = delete;

    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    T* data() { return data_; }
    const T* data() const { return data_; }
    T& operator[](size_t i) { return data_[i]; }
    const T& operator[](size_t i) const { return data_[i]; }
    T& back() { return data_[size_ - 1]; }
    void pop_back() { --size_; }
    void push_back(const T& v) {
        if (size_ == cap_) grow(size_ + 1);
        data_[size_++] = v;
    }
    void append(const T* p, size_t n) {
        if (n == 0) return;
        if (cap_ - size_ < n) grow(size_ + n);
        std::memcpy(data_ + size_, p, n * sizeof(T));
        size_ += n;
    }
    // Shrinks, or grows with unspecified new elements.
    void resize(size_t n) {
        if (n > cap_) grow(n);
        size_ = n;
    }

private:
    void grow(size_t need) {
        size_t cap = std::max(need, cap_ * 2);
        heap_.resize(cap);  // keeps what it held when data_ is already here
        if (data_ == inline_) std::memcpy(heap_.data(), inline_, size_ * sizeof(T));
        data_ = heap_.data();
        cap_ = cap;
    }

    T inline_[N];
    std::vector<T> heap_;
    T* data_ = inline_;
    size_t size_ = 0;
    size_t cap_ = N;
};

// Canonical forms of map keys. binary_to_term refuses a map with two keys
// that are the same term (=:=), however differently they are encoded: 1 as
// SMALL_INTEGER_EXT or as a bignum, an atom in Latin-1 or UTF-8, "ab" as
// STRING_EXT or LIST_EXT, and so on. The validator writes each key (and
// everything inside it) here in a form where equal terms give equal bytes
// and different terms different bytes; a map inside a key becomes a number
// naming its sorted pairs, so nesting costs no re-copying. A map's keys are
// then sorted and neighbours compared: O(n log n) in the size of the keys.
class KeyCanon {
public:
    enum class Outcome : uint8_t {
        distinct,
        duplicate,         // the BEAM refuses the map
        nondeterministic,  // refused or not depending on memory contents
        crashes,           // OTP 25 crashes on it (long references in a big map)
    };

    // User-provided, so that making one does not zero the inline buffers.
    KeyCanon() {}

    // Canonical output, written only while a key is being read.
    void put(uint8_t b) { buf_.push_back(b); }
    // Room for n more bytes, to be written at once.
    uint8_t* extend(size_t n) {
        size_t at = buf_.size();
        buf_.resize(at + n);
        return buf_.data() + at;
    }
    void put_u32(uint32_t v);
    void put_u64(uint64_t v);
    void put_bytes(const uint8_t* p, size_t n) { buf_.append(p, n); }
    // A reference that may be external with one number word: OTP 25 does
    // not hash it the same way twice (etf_keys.cpp).
    void note_one_word_ref() { ++one_word_refs_; }
    // An external reference of more than three number words (after
    // trailing zeros): OTP 25 hashes only three (etf_keys.cpp).
    void note_long_ref() { ++long_refs_; }

    // A map is open while its 2 * pairs terms are read: begin_key() or
    // begin_value() before each. Its values are written (so that the map
    // can be a part of a key) only when it lies inside a key itself.
    void open_map(bool inside_key);
    void begin_key();
    void begin_value();
    Outcome close_map();

private:
    // One per pair (16 bytes, for pairs of at least 2 input bytes).
    struct Mark {
        uint64_t key;  // where the key's bytes start in buf_
        // Until the value starts, one_word_refs_ at the key's start; then
        // where the value's bytes start (the key's end), and whether the
        // key holds a one-word reference.
        uint64_t value : 63;
        uint64_t one_word_ref : 1;
    };
    struct Open {
        size_t region;  // buf_ size when the map opened
        size_t marks;   // marks_ size when the map opened
        uint64_t long_refs;  // long_refs_ when the map opened
        bool inside_key;
    };

    std::string_view span(size_t from, size_t to) const {
        return {reinterpret_cast<const char*>(buf_.data()) + from, to - from};
    }
    uint32_t intern(std::string canonical_pairs);

    SmallVec<uint8_t, 256> buf_;
    SmallVec<Mark, 16> marks_;
    SmallVec<Open, 4> maps_;
    SmallVec<uint32_t, 16> order_;
    std::unique_ptr<std::unordered_map<std::string, uint32_t>> interned_;  // maps inside keys are rare
    uint64_t one_word_refs_ = 0;
    uint64_t long_refs_ = 0;
};

}  // namespace partisan::etf::detail
