// A process's argument vector in the kernel's own form: the arguments NUL-separated, in one
// immutable, reference-counted block. A fork shares its parent's block until it execs, a
// finding and the exec record that carried it share it too; outputs read the arguments as
// string_views. Decoding an exec record costs one allocation, whatever its argument count
// (4,095 empty arguments are 4 KiB, not 4,095 strings).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace initwatch::model {

class Argv {
public:
    Argv() = default;
    // The bytes of mm->arg_start..arg_end or /proc/PID/cmdline: NUL-separated arguments; the
    // last one's NUL may be missing. Empty bytes are no arguments.
    static Argv from_bytes(std::string_view nul_separated);
    Argv(const std::vector<std::string>& args);  // NOLINT(google-explicit-constructor)
    Argv(std::initializer_list<std::string_view> args);

    Argv(const Argv& other) noexcept;
    Argv(Argv&& other) noexcept : block_(other.block_) { other.block_ = nullptr; }
    Argv& operator=(Argv other) noexcept {
        std::swap(block_, other.block_);
        return *this;
    }
    ~Argv();

    bool empty() const { return block_ == nullptr; }
    size_t size() const;  // the number of arguments
    // The arguments NUL-separated, without a final NUL ("" for one empty argument).
    std::string_view bytes() const;
    std::string_view front() const { return *begin(); }
    // This argv's first bytes at most, cut where it is cut (an argument may end early).
    Argv prefix(size_t max_bytes) const;

    class Iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = std::string_view;
        using difference_type = std::ptrdiff_t;
        using pointer = const std::string_view*;
        using reference = std::string_view;

        Iterator() = default;
        std::string_view operator*() const { return current_; }
        Iterator& operator++();
        Iterator operator++(int) {
            Iterator old = *this;
            ++*this;
            return old;
        }
        bool operator==(const Iterator& o) const { return left_ == o.left_; }
        bool operator!=(const Iterator& o) const { return left_ != o.left_; }

    private:
        friend class Argv;
        Iterator(std::string_view rest, size_t count);
        std::string_view current_;
        std::string_view rest_;  // after current_ and its separator
        size_t left_ = 0;        // arguments from current_ on
    };
    Iterator begin() const;
    Iterator end() const { return Iterator(); }

    // A copy as strings, for tests and for rewriting (redaction).
    std::vector<std::string> vector() const { return {begin(), end()}; }

    // True when both hold the same block (not merely equal arguments).
    bool shares_with(const Argv& other) const { return block_ == other.block_; }
    // What this argv's block takes in memory (shared: every holder reports the same block).
    size_t allocated_bytes() const;

    friend bool operator==(const Argv& a, const Argv& b) {
        return a.size() == b.size() && a.bytes() == b.bytes();
    }
    friend bool operator==(const Argv& a, const std::vector<std::string>& b);
    friend bool operator!=(const Argv& a, const std::vector<std::string>& b) { return !(a == b); }

    // Bytes held by all argv blocks alive in this process: the size of the argv store.
    static size_t live_bytes() { return live_bytes_.load(std::memory_order_relaxed); }

private:
    struct Block {
        std::atomic<uint32_t> refs;
        uint32_t argc;
        uint32_t len;
        char data[1];  // len bytes (allocated past the struct)
    };
    static Block* allocate(size_t len, size_t argc);
    static size_t block_bytes(size_t len) { return offsetof(Block, data) + len; }

    Block* block_ = nullptr;
    static std::atomic<size_t> live_bytes_;
};

}  // namespace initwatch::model
