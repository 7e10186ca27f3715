// SPDX-License-Identifier: GPL-2.0
/*
 * Process lifecycle probes: one record per process (thread group) fork, exec and exit.
 * BTF tracepoints (tp_btf) only: no tracefs, no kprobes.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <initwatch/events.h>

#include "maps.h"

char LICENSE[] SEC("license") = "GPL";

/* Force a consumer wake-up once this many bytes wait in the ring (set before load). */
const volatile __u64 wakeup_bytes = 64 * 1024;

static __always_inline void count_drop(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &reason);

	if (n)
		*n += 1;
}

/*
 * Waking the reader per record is what costs (a cross-CPU IPI and a context switch per
 * event); the reader drains on a short timer instead, and is woken early only when the
 * ring fills up or when a record needs to be seen at once.
 */
static __always_inline __u64 wakeup_flags(bool urgent)
{
	if (urgent || bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

/*
 * tp_btf and iterator programs get BTF-typed task pointers: their fields are read with
 * plain loads (the verifier turns them into fault-safe loads, relocated by CO-RE through
 * vmlinux.h's preserve_access_index), which cost a fraction of a bpf_probe_read_kernel()
 * call each. Helpers remain only where the verifier needs them: an array indexed by a
 * runtime value (pid->numbers[level]) and strings.
 */
static __always_inline void fill_key(struct iw_proc_key *key, struct task_struct *t)
{
	key->tgid = t->tgid;
	key->_pad = 0;
	key->start_ns = t->group_leader->start_time;
}

/* The process's struct pid: the thread group's, also when a non-leader thread is asking. */
static __always_inline struct pid *tgid_pid(struct task_struct *t)
{
	return t->signal->pids[PIDTYPE_TGID];
}

#define IW_SIG_IGN ((void *)1)
#define IW_SIGHUP 1

static __always_inline __u32 task_flags(struct task_struct *t)
{
	__u32 flags = 0;

	if (t->sighand->action[IW_SIGHUP - 1].sa.sa_handler == IW_SIG_IGN)
		flags |= IW_TASK_SIGHUP_IGNORED;
	if (t->signal->pids[PIDTYPE_SID] == tgid_pid(t))
		flags |= IW_TASK_SESSION_LEADER;
	return flags;
}

/* The process's pid and namespace in its deepest pid namespace. */
static __always_inline struct upid *deepest_upid(struct task_struct *t, unsigned int *level)
{
	struct pid *pid = tgid_pid(t);

	*level = pid->level;
	/* A runtime index into a BTF object: only its address is computed here, the fields
	 * are read with bpf_probe_read_kernel (BPF_CORE_READ). */
	return (struct upid *)((unsigned long)pid + bpf_core_field_offset(pid->numbers) +
			       (unsigned long)*level * sizeof(struct upid));
}

static __always_inline void fill_task(struct iw_task *out, struct task_struct *t)
{
	unsigned int level;
	struct upid *upid = deepest_upid(t, &level);

	fill_key(&out->key, t);
	fill_key(&out->parent, t->real_parent);
	out->cgroup_id = t->cgroups->dfl_cgrp->kn->id;
	out->ns_pid = BPF_CORE_READ(upid, nr);
	out->pidns_inum = BPF_CORE_READ(upid, ns, ns.inum);
	out->ns_level = level;
	out->flags = task_flags(t);
	__builtin_memcpy(out->comm, t->comm, sizeof(out->comm));
}

static __always_inline void fill_header(struct iw_header *hdr, __u16 type, __u32 flags)
{
	hdr->ts_ns = bpf_ktime_get_ns();
	hdr->type = type;
	hdr->version = IW_EVENTS_VERSION;
	hdr->flags = flags;
}

/* TP_PROTO(struct task_struct *parent, struct task_struct *child) */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct iw_fork_event *ev;

	if (child->pid != child->tgid)
		return 0; /* a new thread, not a new process */

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_drop(IW_DROP_RINGBUF_FULL);
		return 0;
	}
	fill_header(&ev->hdr, IW_EVENT_FORK, 0);
	/* `current` is the parent here: every field is read from the child itself. */
	fill_task(&ev->task, child);
	bpf_ringbuf_submit(ev, wakeup_flags(false));
	return 0;
}

/* TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm) */
#define IW_S_IFMT 00170000
#define IW_S_IFSOCK 0140000
#define IW_S_IFREG 0100000
#define IW_S_IFCHR 0020000
#define IW_S_IFIFO 0010000

/* Where fd `fd` of `files` points: a few reads, no lock (the exec'ing task owns its table). */
static __always_inline void fill_stdio(struct iw_stdio *out, struct files_struct *files, unsigned int fd)
{
	struct fdtable *fdt = BPF_CORE_READ(files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	struct inode *inode;
	__u32 mode;

	out->type = IW_STDIO_UNKNOWN;
	out->ino = 0;
	out->rdev = 0;
	out->name[0] = '\0';
	if (fd >= BPF_CORE_READ(fdt, max_fds)) {
		out->type = IW_STDIO_CLOSED;
		return;
	}
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) < 0)
		return;
	if (!f) {
		out->type = IW_STDIO_CLOSED;
		return;
	}
	inode = BPF_CORE_READ(f, f_inode);
	mode = BPF_CORE_READ(inode, i_mode) & IW_S_IFMT;
	out->ino = BPF_CORE_READ(inode, i_ino);
	if (mode == IW_S_IFIFO) {
		out->type = IW_STDIO_PIPE;
		return;
	}
	if (mode == IW_S_IFSOCK) {
		out->type = IW_STDIO_SOCKET;
		return;
	}
	if (mode == IW_S_IFCHR) {
		out->type = IW_STDIO_CHAR;
		out->rdev = BPF_CORE_READ(inode, i_rdev);
	} else {
		out->type = mode == IW_S_IFREG ? IW_STDIO_FILE : IW_STDIO_OTHER;
	}
	bpf_probe_read_kernel_str(out->name, sizeof(out->name), BPF_CORE_READ(f, f_path.dentry, d_name.name));
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 zero = 0;
	struct iw_exec_event *ev = bpf_map_lookup_elem(&exec_scratch, &zero);
	unsigned long arg_start, arg_end;
	bool entrypoint;
	__u64 len;
	long n;

	if (!ev)
		return 0;
	fill_header(&ev->hdr, IW_EVENT_EXEC, 0);
	fill_task(&ev->task, p);
	ev->old_pid = old_pid;
	/* Where its output goes: only in containers (a child pid namespace), where a server's
	 * output that never reaches the runtime's pipe never reaches `kubectl logs`. */
	if (ev->task.ns_level > 0) {
		struct files_struct *files = BPF_CORE_READ(p, files);

		fill_stdio(&ev->stdio[0], files, 1);
		fill_stdio(&ev->stdio[1], files, 2);
	} else {
		ev->stdio[0].type = IW_STDIO_UNKNOWN;
		ev->stdio[1].type = IW_STDIO_UNKNOWN;
	}

	n = bpf_probe_read_kernel_str(ev->filename, sizeof(ev->filename), bprm->filename);
	if (n < 0)
		ev->filename[0] = '\0';
	else if (n == sizeof(ev->filename))
		ev->hdr.flags |= IW_EXEC_FILENAME_TRUNCATED;

	arg_start = p->mm->arg_start;
	arg_end = p->mm->arg_end;
	len = arg_end > arg_start ? arg_end - arg_start : 0;
	if (len > IW_ARGV_LEN - 1) {
		len = IW_ARGV_LEN - 1;
		ev->hdr.flags |= IW_EXEC_ARGV_TRUNCATED;
	}
	/* Keeps clang 14 from folding the clamp into a form the verifier rejects. */
	asm volatile("" : "+r"(len));
	len &= IW_ARGV_LEN - 1;
	if (len && bpf_probe_read_user(ev->argv, len, (const void *)arg_start) < 0) {
		count_drop(IW_DROP_ARGV_READ);
		len = 0;
	}
	ev->argv_len = len;

	/* A container's first processes (its init, the entrypoint behind a shim) wake the reader
	 * at once: it reads their script while they live, and a script may end in milliseconds. */
	entrypoint = ev->task.ns_level > 0 && ev->task.ns_pid <= 16;
	if (bpf_ringbuf_output(&events, ev, IW_EXEC_EVENT_FIXED_SIZE + len, wakeup_flags(entrypoint)) < 0)
		count_drop(IW_DROP_RINGBUF_FULL);
	return 0;
}

static __always_inline int report_exit(struct task_struct *p, __u32 flags)
{
	struct iw_exit_event *ev;
	unsigned int level;
	bool ns_init;

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_drop(IW_DROP_RINGBUF_FULL);
		return 0;
	}
	fill_task(&ev->task, p);
	ns_init = ev->task.ns_level > 0 && ev->task.ns_pid == 1;
	if (ns_init) {
		flags |= IW_EXIT_NS_INIT;
		/* The high bit is the kernel's PIDNS_ADDING flag, not a count. */
		ev->ns_pids_allocated =
			BPF_CORE_READ(deepest_upid(p, &level), ns, pid_allocated) & 0x7fffffff;
	} else {
		ev->ns_pids_allocated = 0;
	}
	fill_header(&ev->hdr, IW_EVENT_EXIT, flags);
	ev->exit_code = p->exit_code;
	bpf_ringbuf_submit(ev, wakeup_flags(ns_init));
	return 0;
}

/* 6.16+: TP_PROTO(struct task_struct *p, bool group_dead) */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit_group_dead, struct task_struct *p, bool group_dead)
{
	if (!group_dead)
		return 0;
	return report_exit(p, IW_EXIT_GROUP_DEAD_ARG);
}

/*
 * Before 6.16: TP_PROTO(struct task_struct *p). do_exit() has already decremented
 * signal->live; a zero means the group is dead, but two threads exiting at once can
 * both read zero, so only the first to claim the process key reports.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit_legacy, struct task_struct *p)
{
	struct iw_proc_key key;
	__u8 one = 1;
	long err;

	if (p->signal->live.counter != 0)
		return 0;
	fill_key(&key, p);
	err = bpf_map_update_elem(&exited, &key, &one, BPF_NOEXIST);
	if (err == -17 /* EEXIST */)
		return 0;
	if (err)
		count_drop(IW_DROP_EXITED_MAP_FULL);
	return report_exit(p, 0);
}

/*
 * The startup snapshot: one record per live process, written to the iterator's seq_file
 * and read by user space after the tracepoints are attached, so that nothing falls between
 * the two. Exiting tasks are left out: their exit may already be past.
 */
SEC("iter/task")
int snapshot_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct iw_fork_event ev;

	if (!task)
		return 0;
	if (task->pid != task->tgid)
		return 0; /* threads: the leader stands for the process */
	if (task->exit_state || (task->flags & (PF_EXITING | PF_KTHREAD)))
		return 0;
	__builtin_memset(&ev, 0, sizeof(ev));
	fill_header(&ev.hdr, IW_EVENT_SNAPSHOT, 0);
	fill_task(&ev.task, task);
	bpf_seq_write(ctx->meta->seq, &ev, sizeof(ev));
	return 0;
}

/* Signals whose default action ends the process (SIGKILL's cannot be changed). */
#define IW_SIGKILL 9
#define IW_FATAL_BY_DEFAULT                                                                                  \
	((1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 8) |     \
	 (1u << 9) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 13) | (1u << 14) | (1u << 15) |           \
	 (1u << 16) | (1u << 24) | (1u << 25) | (1u << 26) | (1u << 27) | (1u << 29) | (1u << 30) |          \
	 (1u << 31))
#define IW_TRACE_SIGNAL_DELIVERED 0
#define IW_TRACE_SIGNAL_IGNORED 1
#define IW_SIGNAL_UNKILLABLE 0x40 /* signal_struct flags: a pid namespace's init (5.10-6.12 alike) */
#define IW_SI_KERNEL 0x80

/*
 * The processes a finding tells of: a namespace init, and its children (its workers, the
 * entrypoint behind a shim). Reads of the target only: every other signal costs this.
 */
static __always_inline bool watched_target(struct task_struct *t)
{
	unsigned int level, parent_level;
	struct upid *upid = deepest_upid(t, &level);

	if (level == 0)
		return false;
	if (BPF_CORE_READ(upid, nr) == 1)
		return true;
	upid = deepest_upid(t->real_parent, &parent_level);
	return parent_level == level && BPF_CORE_READ(upid, nr) == 1;
}

/* The task's handler of `sig` (NULL: SIG_DFL). A runtime index, as in deepest_upid. */
static __always_inline void *signal_handler(struct task_struct *t, int sig)
{
	struct k_sigaction *action =
		(struct k_sigaction *)((unsigned long)t->sighand + bpf_core_field_offset(t->sighand->action) +
				       (unsigned long)((sig - 1) & 31) *
					       bpf_core_type_size(struct k_sigaction));

	return BPF_CORE_READ(action, sa.sa_handler);
}

/* A namespace init: pid 1 of its deepest (not the host's) pid namespace. */
static __always_inline bool namespace_init(struct task_struct *t)
{
	unsigned int level;
	struct upid *upid = deepest_upid(t, &level);

	return level > 0 && BPF_CORE_READ(upid, nr) == 1;
}

/*
 * TP_PROTO(int sig, struct kernel_siginfo *info, struct task_struct *task, int group,
 *          int result)
 * Fatal signals the kernel queued (result TRACE_SIGNAL_DELIVERED), and one it dropped: a
 * namespace init's fatal-by-default signal without a handler (TRACE_SIGNAL_IGNORED), which
 * ends nothing — the stop a runtime then ends with SIGKILL after its grace period. The same
 * signal is queued, not dropped, while init blocks it (a shell blocks every signal around each
 * fork), and get_signal() discards it once unblocked: SIGNAL_UNKILLABLE with SIG_DFL ends
 * nothing either way, so a queued one counts as ignored too. A fault the kernel forces on init
 * clears SIGNAL_UNKILLABLE before queueing: that one stays fatal.
 */
SEC("tp_btf/signal_generate")
int BPF_PROG(handle_signal, int sig, struct kernel_siginfo *info, struct task_struct *task, int group,
	     int result)
{
	struct iw_signal_event *ev;
	struct task_struct *sender;
	bool from_kernel;
	__u32 ignored = 0;
	__s32 code;

	if (sig <= 0 || sig >= 32 || !(IW_FATAL_BY_DEFAULT & (1u << sig)))
		return 0;
	if (result == IW_TRACE_SIGNAL_IGNORED) {
		/* A SIGKILL a namespace init ignores came from inside: no stop. */
		if (sig == IW_SIGKILL || !namespace_init(task))
			return 0;
		ignored = IW_SIGNAL_IGNORED;
	} else if (result != IW_TRACE_SIGNAL_DELIVERED ||
		   (sig != IW_SIGKILL && signal_handler(task, sig) != NULL)) {
		return 0; /* not queued, or handled (not fatal) */
	} else if (sig != IW_SIGKILL && (BPF_CORE_READ(task, signal, flags) & IW_SIGNAL_UNKILLABLE)) {
		if (!namespace_init(task))
			return 0; /* the host's init */
		ignored = IW_SIGNAL_IGNORED; /* queued while blocked: discarded when unblocked */
	} else if (!watched_target(task)) {
		return 0; /* not a process findings tell of */
	}

	sender = bpf_get_current_task_btf();
	/* SEND_SIG_NOINFO (0) is the current task's kill(); SEND_SIG_PRIV (1) the kernel's. */
	if ((unsigned long)info == 0)
		code = 0;
	else if ((unsigned long)info == 1)
		code = IW_SI_KERNEL;
	else
		code = BPF_CORE_READ(info, si_code);
	from_kernel = code > 0 || (sender->flags & PF_KTHREAD);

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_drop(IW_DROP_KILLER_RINGBUF_FULL);
		return 0;
	}
	fill_header(&ev->hdr, IW_EVENT_SIGNAL, (from_kernel ? IW_SIGNAL_FROM_KERNEL : 0) | ignored);
	fill_task(&ev->target, task);
	if (from_kernel)
		__builtin_memset(&ev->sender, 0, sizeof(ev->sender));
	else
		fill_task(&ev->sender, sender);
	ev->sig = sig;
	ev->si_code = code;
	bpf_ringbuf_submit(ev, wakeup_flags(false));
	return 0;
}

static __always_inline int report_oom(__u32 tgid, __u64 start_ns, __u32 flags)
{
	struct iw_oom_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

	if (!ev) {
		count_drop(IW_DROP_KILLER_RINGBUF_FULL);
		return 0;
	}
	fill_header(&ev->hdr, IW_EVENT_OOM, flags);
	ev->victim.tgid = tgid;
	ev->victim._pad = 0;
	ev->victim.start_ns = start_ns;
	bpf_ringbuf_submit(ev, wakeup_flags(false));
	return 0;
}

/* Newer kernels (the uid was added in 2023): TP_PROTO(struct task_struct *task, uid_t uid) */
SEC("tp_btf/mark_victim")
int BPF_PROG(handle_oom_victim, struct task_struct *task, uid_t uid)
{
	return report_oom(task->tgid, task->group_leader->start_time, 0);
}

/* Older kernels (5.10, 6.1): TP_PROTO(int pid), the victim's thread id (the leader's, mostly). */
SEC("tp_btf/mark_victim")
int BPF_PROG(handle_oom_victim_pid, int pid)
{
	return report_oom(pid, 0, IW_OOM_PID_ONLY);
}
