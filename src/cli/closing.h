// The last line of every command on stderr: why it stops, and with which status. An agent
// that ends says why, also when the reason is ordinary (a signal, --duration): a DaemonSet's
// restart, a CI job's red or green, is then never a mystery.
#pragma once

#include <string>

#include "pipeline/sink.h"

namespace initwatch::cli {

// Prints "initwatch: WHY; exit status STATUS" and returns status.
int close_with(int status, const std::string& why);

// Records lost while the judged containers lived, for the closing line of a verdict that
// cannot be made: "cannot tell: 12 records lost (ringbuf_full 10, process_table_full 2)".
std::string cannot_tell(const pipeline::LostCounts& lost);

}  // namespace initwatch::cli
