// The subcommands; each returns the process exit status.
#pragma once

#include "cli/options.h"

namespace initwatch::cli {

int watch_command(const Options& options);
int run_command(const Options& options);
int check_command(const Options& options);

}  // namespace initwatch::cli
