#include <unistd.h>

#include <cstdio>

#include <initwatch/error.h>

#include "cli/commands.h"
#include "cli/session.h"
#include "cli/signals.h"
#include "util/time.h"

namespace initwatch::cli {

int watch_command(const Options& options) {
    Session session(options);
    pipeline::Pipeline& pipeline = session.pipeline();
    if (isatty(STDOUT_FILENO) && isatty(STDERR_FILENO) && options.format != Format::json)
        std::fprintf(stderr,
                     "initwatch: watching every process on this host; a container init that exits "
                     "leaving processes behind is reported here (Ctrl-C to stop)\n");
    const uint64_t start = util::monotonic_now_ns();
    const uint64_t duration_ns = static_cast<uint64_t>(options.duration_s * 1e9);
    uint64_t found = 0;
    while (!stop_requested() && !pipeline.sinks_broken()) {
        for (auto& f : pipeline.step(100)) {
            pipeline.report(std::move(f));
            ++found;
        }
        if (options.count && found >= options.count) break;
        if (duration_ns && util::monotonic_now_ns() - start >= duration_ns) break;
    }
    return kExitOk;
}

}  // namespace initwatch::cli
