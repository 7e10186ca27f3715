/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one definition of the records the BPF programs send to user space.
 * Plain C, fixed-width types, explicit padding: included by bpf/ and src/probe.
 * Bump IW_EVENTS_VERSION on any layout change.
 */
#ifndef INITWATCH_EVENTS_H
#define INITWATCH_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define IW_EVENTS_VERSION 4

#define IW_COMM_LEN 16
#define IW_FILENAME_LEN 256
#define IW_ARGV_LEN 4096 /* must stay a power of two: the BPF side masks with it */

enum iw_event_type {
    IW_EVENT_FORK = 1,
    IW_EVENT_EXEC = 2,
    IW_EVENT_EXIT = 3,
    IW_EVENT_SNAPSHOT = 4, /* a task that existed when tracing started */
    IW_EVENT_SIGNAL = 5,   /* a fatal signal delivered to a watched process (who sent it) */
    IW_EVENT_OOM = 6,      /* the OOM killer chose a victim */
};

/* Drop counters, one slot each in the per-CPU `drops` array map. */
enum iw_drop_reason {
    IW_DROP_RINGBUF_FULL = 0,        /* bpf_ringbuf_reserve/output failed */
    IW_DROP_EXITED_MAP_FULL = 1,     /* de-duplication map of exits could not take a key */
    IW_DROP_ARGV_READ = 2,           /* argv could not be read (record still sent, argv empty) */
    IW_DROP_KILLER_RINGBUF_FULL = 3, /* a signal or OOM record lost: that killer stays unknown */
    IW_DROP__COUNT = 4,
};

/* exit flags */
#define IW_EXIT_NS_INIT (1u << 0)        /* the process was pid 1 of its (non-root) pid namespace */
#define IW_EXIT_GROUP_DEAD_ARG (1u << 1) /* group death known from the tracepoint argument */

/* task flags: intent that explains a background process */
#define IW_TASK_SIGHUP_IGNORED (1u << 0) /* SIGHUP is ignored, as `nohup` leaves it */
#define IW_TASK_SESSION_LEADER (1u << 1) /* leads its own session, as after `setsid` */

/* signal flags */
#define IW_SIGNAL_FROM_KERNEL (1u << 0) /* no user sender (SEND_SIG_PRIV, si_code > 0, a kernel thread) */
#define IW_SIGNAL_IGNORED (1u << 1)     /* a namespace init without a handler: the kernel dropped it */

/* oom flags */
#define IW_OOM_PID_ONLY (1u << 0) /* the tracepoint gave a pid only (older kernels): victim.start_ns is 0 */

/* exec flags */
#define IW_EXEC_ARGV_TRUNCATED (1u << 0)
#define IW_EXEC_FILENAME_TRUNCATED (1u << 1)

/* A process (thread group) is identified by its tgid and its leader's start time. */
struct iw_proc_key {
    __u32 tgid;
    __u32 _pad;
    __u64 start_ns; /* task->start_time of the group leader, CLOCK_MONOTONIC ns */
};

/* What every record says about the process it is about. */
struct iw_task {
    struct iw_proc_key key;
    struct iw_proc_key parent; /* real parent's process */
    __u64 cgroup_id;           /* cgroup v2 id == inode of the cgroup2 directory */
    __u32 pidns_inum;          /* inode of the deepest pid namespace */
    __u32 ns_pid;              /* tgid as seen inside that namespace */
    __u32 ns_level;            /* 0: the host's namespace */
    __u32 flags;               /* IW_TASK_* */
    char comm[IW_COMM_LEN];
};

struct iw_header {
    __u64 ts_ns;   /* bpf_ktime_get_ns(), CLOCK_MONOTONIC */
    __u16 type;    /* enum iw_event_type */
    __u16 version; /* IW_EVENTS_VERSION */
    __u32 flags;   /* per-type IW_*_ flags */
};

/* fork and snapshot records */
struct iw_fork_event {
    struct iw_header hdr;
    struct iw_task task; /* the child */
};

struct iw_exit_event {
    struct iw_header hdr;
    struct iw_task task;
    __u32 exit_code;         /* raw wait status: exit value << 8 | core 0x80 | signal */
    __u32 ns_pids_allocated; /* pids allocated in the namespace when init exited */
};

/* What a file descriptor of stdio is, at exec: its file type (user space tells /dev/null
 * and terminals apart by rdev), its inode (two pipes are the same pipe when equal) and the
 * last component of its path. Filled only for processes in a child pid namespace. */
enum iw_stdio_type {
    IW_STDIO_UNKNOWN = 0, /* not read (a process of the host's namespace, or a read failed) */
    IW_STDIO_CLOSED = 1,
    IW_STDIO_PIPE = 2,
    IW_STDIO_SOCKET = 3,
    IW_STDIO_CHAR = 4, /* a character device: /dev/null, a terminal */
    IW_STDIO_FILE = 5, /* a regular file */
    IW_STDIO_OTHER = 6,
};
#define IW_STDIO_NAME_LEN 40
struct iw_stdio {
    __u64 ino;
    __u32 rdev; /* the kernel's dev_t: major << 20 | minor */
    __u8 type;  /* enum iw_stdio_type */
    __u8 _pad[3];
    char name[IW_STDIO_NAME_LEN];
};

/* Sent with a variable length: the header up to argv plus argv_len bytes. */
struct iw_exec_event {
    struct iw_header hdr;
    struct iw_task task;
    __u32 old_pid;            /* thread id that called exec (differs when a non-leader thread exec'd) */
    __u32 argv_len;           /* bytes in argv: NUL-separated arguments */
    struct iw_stdio stdio[2]; /* fd 1 and fd 2 */
    char filename[IW_FILENAME_LEN];
    char argv[IW_ARGV_LEN];
};

/* A fatal signal on its way to a watched process, and who sent it. */
struct iw_signal_event {
    struct iw_header hdr;
    struct iw_task target;
    struct iw_task sender; /* `current`; zeroed with IW_SIGNAL_FROM_KERNEL */
    __u32 sig;
    __s32 si_code; /* SI_USER 0, SI_TKILL -6, SI_KERNEL 0x80, ... */
};

/* The OOM killer's victim (its SIGKILL comes as a signal record just before). */
struct iw_oom_event {
    struct iw_header hdr;
    struct iw_proc_key victim;
};

#define IW_EXEC_EVENT_FIXED_SIZE (sizeof(struct iw_exec_event) - IW_ARGV_LEN)

#ifdef __cplusplus
static_assert(sizeof(struct iw_proc_key) == 16, "iw_proc_key layout");
static_assert(sizeof(struct iw_task) == 72, "iw_task layout");
static_assert(sizeof(struct iw_header) == 16, "iw_header layout");
static_assert(sizeof(struct iw_fork_event) == 88, "iw_fork_event layout");
static_assert(sizeof(struct iw_exit_event) == 96, "iw_exit_event layout");
static_assert(sizeof(struct iw_stdio) == 56, "iw_stdio layout");
static_assert(sizeof(struct iw_exec_event) == 96 + 2 * 56 + IW_FILENAME_LEN + IW_ARGV_LEN,
              "iw_exec_event layout");
static_assert(sizeof(struct iw_signal_event) == 168, "iw_signal_event layout");
static_assert(sizeof(struct iw_oom_event) == 32, "iw_oom_event layout");
#else
_Static_assert(sizeof(struct iw_task) == 72, "iw_task layout");
_Static_assert(sizeof(struct iw_exit_event) == 96, "iw_exit_event layout");
_Static_assert(sizeof(struct iw_signal_event) == 168, "iw_signal_event layout");
_Static_assert(sizeof(struct iw_oom_event) == 32, "iw_oom_event layout");
#endif

#endif /* INITWATCH_EVENTS_H */
