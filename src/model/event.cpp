#include "model/event.h"

namespace initwatch::model {

const char* to_string(StdioKind k) {
    switch (k) {
        case StdioKind::unknown:
            return "unknown";
        case StdioKind::closed:
            return "closed";
        case StdioKind::pipe:
            return "pipe";
        case StdioKind::socket:
            return "socket";
        case StdioKind::null:
            return "null";
        case StdioKind::tty:
            return "tty";
        case StdioKind::file:
            return "file";
        case StdioKind::other:
            return "other";
    }
    return "unknown";
}

const TaskInfo& task_of(const Event& e) {
    return std::visit([](const auto& ev) -> const TaskInfo& { return ev.task; }, e);
}

uint64_t time_of(const Event& e) {
    return std::visit([](const auto& ev) { return ev.ts_ns; }, e);
}

}  // namespace initwatch::model
