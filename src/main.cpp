// initwatch: parse the command line, run the subcommand, turn fatal errors into one line
// on stderr and exit status 2 (125 in `run`).
#include <initwatch/error.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/closing.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "cli/signals.h"

int main(int argc, char** argv) {
    using namespace initwatch;
    cli::Options options;
    if (const int status = cli::parse_command_line(argc, argv, options); status >= 0) return status;

    spdlog::set_default_logger(spdlog::stderr_color_mt("initwatch"));
    spdlog::set_level(spdlog::level::from_str(options.log_level));
    spdlog::set_pattern("initwatch: %l: %v");
    cli::install_stop_handlers();
    // In `run`, 2 is an init's own status: initwatch's own failures are 125 there.
    const int error_status = options.command == cli::Command::run ? kExitRunError : kExitError;
    try {
        switch (options.command) {
            case cli::Command::run:
                return cli::run_command(options);
            case cli::Command::check:
                return cli::check_command(options);
            case cli::Command::watch:
                break;
        }
        return cli::watch_command(options);
    } catch (const Error& e) {
        return cli::close_with(error_status, e.what());
    } catch (const std::exception& e) {
        return cli::close_with(error_status, std::string("internal error: ") + e.what());
    }
}
