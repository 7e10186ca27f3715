// Real container runtimes for the kernel tests, one header for all the fixtures, each in
// tests/kernel/fixtures/:
//   processes.h   programs a test needs, commands with a deadline, /proc readers, the subreaper
//   cgroups.h     every hierarchy's mount point, cgroup2 ids, removing a cgroup everywhere
//   rootfs.h      busybox root filesystems and the containers' startup scripts
//   leftovers.h   the record of what a fixture creates, undone by it or by the next sweep
//   runc.h        runc containers from busybox bundles, with Kubernetes cgroup paths
//   containerd.h  a private containerd daemon driven through ctr
//   kubelet.h     ids, kubepods cgroup paths and kubelet's container log layout
// Every fixture is RAII: its destructor stops and removes what it started (containers, runc
// state, the daemon and its shims, the cgroup directories left in every v1 and v2 hierarchy,
// temp directories), also when the test fails.
//
// See /work/shared/RUNTIMES.md for the recipes (runc run -d with stdio redirected, busybox
// rootfs, Kubernetes cgroup layouts through linux.cgroupsPath, containerd with its own config).
#pragma once

#include "fixtures/cgroups.h"
#include "fixtures/containerd.h"
#include "fixtures/kubelet.h"
#include "fixtures/leftovers.h"
#include "fixtures/processes.h"
#include "fixtures/rootfs.h"
#include "fixtures/runc.h"
