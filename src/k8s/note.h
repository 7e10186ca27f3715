// A finding as Kubernetes shows it on the pod: an Event's reason and note (and the
// container's termination message, the same text). Stable across restarts, so that the
// same failure aggregates into one Event: no pids, no times, no container ids.
#pragma once

#include <cstddef>
#include <string>

#include "model/finding.h"

namespace initwatch::k8s {

// events.k8s.io/v1 allows 1,024 bytes of note.
inline constexpr size_t kMaxNoteBytes = 1024;

// UpperCamel, one per kind of finding: InitExitedLeavingProcesses, InitCrashedLeavingProcesses,
// InitStoppedLeavingProcesses, and MainProcess... for a container without a pid namespace.
std::string event_reason(const model::Finding& f);
// The Event's action: InitExited, WorkerExited.
std::string event_action(const model::Finding& f);

// What init ran and how it ended, which processes it left and how they got there, the fix:
// at most max_bytes of valid UTF-8, container-controlled text escaped (no controls, no
// bidi overrides), whole as long as it fits, then the process list shortened first.
std::string finding_note(const model::Finding& f, size_t max_bytes = kMaxNoteBytes);

}  // namespace initwatch::k8s
