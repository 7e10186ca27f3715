// Everything the command line decides.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "probe/probe.h"

namespace initwatch::cli {

enum class Command { watch, run, check };
enum class ColorMode { automatic, always, never };
// Text for a person at a terminal; JSON lines for `watch` feeding a log pipeline.
enum class Format { automatic, text, json };

struct Options {
    Command command = Command::watch;
    Format format = Format::automatic;
    bool events = false;
    ColorMode color = ColorMode::automatic;
    std::string log_level = "warn";
    std::string output_path;  // "" for stdout
    size_t ring_buffer_bytes = probe::kDefaultRingBufferBytes;
    size_t max_memory_bytes = size_t{64} << 20;  // the process table's and argv store's bound
    size_t max_processes = 0;                    // a count bound as well; 0: the byte budget alone
    size_t max_listed = 200;                     // processes a finding lists one by one
    double worker_min_age_s = 30;                // worker_exit: the age from which init's child is a worker
    std::string btf_path;                        // "" for the running kernel's
    probe::ExitProbe exit_probe = probe::ExitProbe::automatic;
    std::vector<std::string> redact;              // RE2 patterns masked in argv, comm and exec filenames
    std::vector<std::string> redact_next_after;   // an argument matching one in full: the next is masked
    std::string metrics_address;                  // "" for no HTTP endpoint
    std::string min_severity = "info";            // findings below it are not printed (still counted)
    std::string host_root;                        // where the host's / is mounted (DaemonSet)
    std::string docker_root = "/var/lib/docker";  // dockerd's --data-root, below host_root
    std::string node_name;                        // "" for $NODE_NAME, then the hostname
    bool termination_message = false;             // append findings to kubelet's termination message files
    bool unmask_cluster_secrets = false;          // Events and termination messages as the node's output
    std::string kubelet_root_dir = "/var/lib/kubelet";  // on the host, under host_root
    // watch
    uint64_t count = 0;              // stop after this many findings; 0: never
    double duration_s = 0;           // stop after this long; 0: never
    bool kubernetes_events = false;  // findings about pods as Events on them
    std::string kubeconfig;          // "" for $KUBECONFIG, then in-cluster
    // run, and watch -- CMD (argv not empty: the gate)
    double timeout_s = 0;     // 0: wait for init (CMD) however long it runs
    double stop_grace_s = 5;  // a stop: SIGTERM to init (CMD), this long, then SIGKILL
    double settle_s = 2;      // watch -- CMD: how long to go on tracing after CMD ended
    std::vector<std::string> argv;
};

// Parses the command line. Returns an exit status when parsing alone ends the program
// (--help: 0, a usage error: 2, after printing), or -1 to go on.
int parse_command_line(int argc, char** argv, Options& out);

}  // namespace initwatch::cli
