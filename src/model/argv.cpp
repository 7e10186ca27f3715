#include "model/argv.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace initwatch::model {

std::atomic<size_t> Argv::live_bytes_{0};

Argv::Block* Argv::allocate(size_t len, size_t argc) {
    const size_t bytes = block_bytes(len);
    void* raw = ::operator new(std::max(bytes, sizeof(Block)));
    auto* b = new (raw) Block;
    b->refs.store(1, std::memory_order_relaxed);
    b->argc = static_cast<uint32_t>(argc);
    b->len = static_cast<uint32_t>(len);
    live_bytes_.fetch_add(bytes, std::memory_order_relaxed);
    return b;
}

Argv Argv::from_bytes(std::string_view s) {
    if (s.empty()) return {};
    if (s.back() == '\0') s.remove_suffix(1);
    Argv a;
    a.block_ = allocate(s.size(), static_cast<size_t>(std::count(s.begin(), s.end(), '\0')) + 1);
    std::memcpy(a.block_->data, s.data(), s.size());
    return a;
}

Argv::Argv(const std::vector<std::string>& args) {
    if (args.empty()) return;
    size_t len = args.size() - 1;
    for (const auto& a : args) len += a.size();
    block_ = allocate(len, args.size());
    char* out = block_->data;
    for (size_t i = 0; i < args.size(); ++i) {
        if (i) *out++ = '\0';
        std::memcpy(out, args[i].data(), args[i].size());
        out += args[i].size();
    }
}

Argv::Argv(std::initializer_list<std::string_view> args)
    : Argv(std::vector<std::string>(args.begin(), args.end())) {}

Argv::Argv(const Argv& other) noexcept : block_(other.block_) {
    if (block_) block_->refs.fetch_add(1, std::memory_order_relaxed);
}

Argv::~Argv() {
    if (block_ && block_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        live_bytes_.fetch_sub(block_bytes(block_->len), std::memory_order_relaxed);
        block_->~Block();
        ::operator delete(block_);
    }
}

size_t Argv::size() const { return block_ ? block_->argc : 0; }

std::string_view Argv::bytes() const {
    return block_ ? std::string_view(block_->data, block_->len) : std::string_view();
}

size_t Argv::allocated_bytes() const { return block_ ? block_bytes(block_->len) : 0; }

Argv Argv::prefix(size_t max_bytes) const {
    if (bytes().size() <= max_bytes) return *this;
    return from_bytes(bytes().substr(0, max_bytes));
}

Argv::Iterator Argv::begin() const { return block_ ? Iterator(bytes(), block_->argc) : Iterator(); }

Argv::Iterator::Iterator(std::string_view rest, size_t count) : rest_(rest), left_(count + 1) { ++*this; }

Argv::Iterator& Argv::Iterator::operator++() {
    if (left_ == 0) return *this;
    if (--left_ == 0) {
        current_ = {};
        return *this;
    }
    const size_t nul = rest_.find('\0');
    current_ = rest_.substr(0, nul);
    rest_ = nul == std::string_view::npos ? std::string_view() : rest_.substr(nul + 1);
    return *this;
}

bool operator==(const Argv& a, const std::vector<std::string>& b) {
    if (a.size() != b.size()) return false;
    return std::equal(a.begin(), a.end(), b.begin(),
                      [](std::string_view x, const std::string& y) { return x == y; });
}

}  // namespace initwatch::model
