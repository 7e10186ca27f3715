// The last line of every command on stderr: why it stops, and with which status. An agent
// that ends says why, also when the reason is ordinary (a signal, --duration): a DaemonSet's
// restart, a CI job's red or green, is then never a mystery.
#pragma once

#include <string>

namespace initwatch::cli {

// Prints "initwatch: WHY; exit status STATUS" and returns status.
int close_with(int status, const std::string& why);

}  // namespace initwatch::cli
