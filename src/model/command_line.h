// A command line as one string, each argument quoted for POSIX sh.
#pragma once

#include <string>

#include "model/argv.h"

namespace initwatch::model {

std::string shell_join(const Argv& argv);

}  // namespace initwatch::model
