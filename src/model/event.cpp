#include "model/event.h"

namespace initwatch::model {

const TaskInfo& task_of(const Event& e) {
    return std::visit([](const auto& ev) -> const TaskInfo& { return ev.task; }, e);
}

uint64_t time_of(const Event& e) {
    return std::visit([](const auto& ev) { return ev.ts_ns; }, e);
}

}  // namespace initwatch::model
