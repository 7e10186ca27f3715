/* SPDX-License-Identifier: Apache-2.0 */
/* Every map of initwatch's BPF programs, one line of why each. */
#ifndef INITWATCH_BPF_MAPS_H
#define INITWATCH_BPF_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <initwatch/events.h>

/* The one channel to user space; its size is set by the loader before load (--ring-buffer-size). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* Per-CPU drop counters indexed by enum iw_drop_reason; user space sums and reports them. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, IW_DROP__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Scratch space for exec records, which are too large for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct iw_exec_event);
} exec_scratch SEC(".maps");

/*
 * Kernels before 6.16 do not say which thread's exit kills the group: several threads can
 * see signal->live at zero. The first to insert the process key reports the exit.
 * LRU: an old key may be evicted, never a fresh one.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct iw_proc_key);
	__type(value, __u8);
} exited SEC(".maps");

#endif /* INITWATCH_BPF_MAPS_H */
