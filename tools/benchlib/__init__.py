"""tools/bench's driver (Debian's python3, standard library only).

  base      paths, errors, the log line, file and process helpers
  build     packages through tools/apt-install; initwatch and spawn_storm in build-bench/
  machine   what the machine is, the CPU others use, what the bench changes and undoes
  tracers   initwatch, bpftrace, bcc: set-up, readiness, CPU, memory, BPF programs
  churn     runc containers at a fixed rate, and the findings about them
  phases    Bench: one method per phase, each filling its part of Bench.results
  stats     medians, percentiles, bootstrap intervals
  report    the tables and the targets
  cli       options, the order of the phases, the exit status

A new phase: a method on Bench (phases.py), its name in ALL_PHASES and a call in cli.py,
its table in report.py, its target (if any) in report.targets.
"""
