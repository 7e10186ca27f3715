/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel types initwatch's BPF programs read, and nothing more.
 *
 * User-visible ABI (map types, helper flags, __u32...) comes from the uapi headers of
 * Debian's linux-libc-dev. Kernel-internal structs are declared here with only the
 * fields we read and `preserve_access_index`, so every access is a CO-RE relocation
 * resolved against the running kernel's BTF at load time: the build never reads the
 * build host's /sys/kernel/btf, and field offsets are never baked in. libbpf matches
 * fields by name, also through anonymous members (e.g. mm_struct's arg_start).
 */
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#include <linux/types.h>
#include <linux/bpf.h>

typedef __u8 u8;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef int pid_t;
typedef __u32 uid_t;
typedef _Bool bool;
#define true 1
#define false 0

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

typedef struct {
	int counter;
} atomic_t;

#define PF_EXITING 0x00000004
#define PF_KTHREAD 0x00200000

enum pid_type {
	PIDTYPE_PID,
	PIDTYPE_TGID,
	PIDTYPE_PGID,
	PIDTYPE_SID,
	PIDTYPE_MAX,
};

struct ns_common {
	unsigned int inum;
};

struct pid_namespace {
	unsigned int pid_allocated;
	unsigned int level;
	struct ns_common ns;
};

struct upid {
	int nr;
	struct pid_namespace *ns;
};

struct pid {
	unsigned int level;
	struct upid numbers[1];
};

struct kernfs_node {
	u64 id;
};

struct cgroup {
	struct kernfs_node *kn;
};

struct css_set {
	struct cgroup *dfl_cgrp;
};

struct signal_struct {
	atomic_t live;
	unsigned int flags;
	struct pid *pids[PIDTYPE_MAX];
};

struct sigaction {
	void *sa_handler;
};

struct k_sigaction {
	struct sigaction sa;
};

struct sighand_struct {
	struct k_sigaction action[64];
};

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
};

/* Where stdout and stderr point at exec (files, fdtable, file, inode, dentry). */
struct qstr {
	const unsigned char *name;
};

struct dentry {
	struct qstr d_name;
};

struct path {
	struct dentry *dentry;
};

struct inode {
	unsigned short i_mode;
	unsigned long i_ino;
	u32 i_rdev;
};

struct file {
	struct path f_path;
	struct inode *f_inode;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct task_struct {
	unsigned int flags;
	int exit_state;
	int exit_code;
	pid_t pid;
	pid_t tgid;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct pid *thread_pid;
	u64 start_time;
	char comm[16];
	struct signal_struct *signal;
	struct sighand_struct *sighand;
	struct mm_struct *mm;
	struct files_struct *files;
	struct css_set *cgroups;
};

/* The kernel's fields sit in an anonymous struct (__SIGINFO): matched by name through it. */
struct kernel_siginfo {
	int si_signo;
	int si_errno;
	int si_code;
};

struct linux_binprm {
	const char *filename;
};

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	u64 session_id;
	u64 seq_num;
};

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
};

#pragma clang attribute pop

#endif /* __VMLINUX_H__ */
