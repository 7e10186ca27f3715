// A process's argument vector: immutable and shared. A fork inherits its parent's argv
// until it execs, a finding keeps the argv of every process it lists, and the exec record
// that carried it is printed too: all of them hold the one copy decoded from the kernel
// record, so a fork costs a reference count, not a copy of every argument.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace initwatch::model {

class Argv {
public:
    using Vector = std::vector<std::string>;

    Argv() = default;
    Argv(Vector v)  // NOLINT(google-explicit-constructor): an argv is a vector of strings
        : args_(v.empty() ? nullptr : std::make_shared<const Vector>(std::move(v))) {}
    Argv(std::initializer_list<std::string> l) : Argv(Vector(l)) {}

    const Vector& vector() const { return args_ ? *args_ : empty_vector(); }
    operator const Vector&() const { return vector(); }  // NOLINT: read like the vector it is

    bool empty() const { return !args_; }
    size_t size() const { return vector().size(); }
    const std::string& operator[](size_t i) const { return vector()[i]; }
    Vector::const_iterator begin() const { return vector().begin(); }
    Vector::const_iterator end() const { return vector().end(); }

    // True when both hold the same decoded copy (not merely equal arguments).
    bool shares_with(const Argv& other) const { return args_ == other.args_; }

    friend bool operator==(const Argv& a, const Argv& b) { return a.vector() == b.vector(); }
    friend bool operator==(const Argv& a, const Vector& b) { return a.vector() == b; }
    friend bool operator!=(const Argv& a, const Vector& b) { return !(a == b); }

private:
    static const Vector& empty_vector() {
        static const Vector empty;
        return empty;
    }

    std::shared_ptr<const Vector> args_;
};

}  // namespace initwatch::model
