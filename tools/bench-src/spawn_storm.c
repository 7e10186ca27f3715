/*
 * spawn_storm: the load generator of tools/bench.
 *
 *   spawn_storm exec   N P [PROGRAM]  N fork+exec+wait of PROGRAM (default /bin/true), by P spawners
 *   spawn_storm fork   N P            N fork+_exit+wait (no exec), by P spawners
 *   spawn_storm thread N P            N pthread_create+join (no process events), by P spawners
 *   spawn_storm hold   SPEC...        start the children SPEC says, each sleeping until killed, print
 *                                     "ready TOTAL" once all are there, then sleep too (run it as a
 *                                     pid namespace's init). SPEC is N or N:SHAPE: N children of
 *                                     that argv shape, where SHAPE is
 *                                       fork   forked, no exec: they share this program's argv (default)
 *                                       short  exec'd with argv "iwpause" (8 bytes)
 *                                       empty  exec'd with argv "iwpause" and 4,087 empty arguments
 *                                              (the argv area: 4,095 bytes of NULs mostly)
 *                                       long   exec'd with argv "iwpause" and one argument of 4,086
 *                                              bytes (the argv area: 4,095 bytes)
 *   spawn_storm orphan SPEC...        as hold, but exit 0 once a byte (or EOF) arrives on stdin,
 *                                     leaving the children: a namespace init that exits early
 *   spawn_storm stamp                 copy stdin to stdout, each line prefixed with the
 *                                     CLOCK_REALTIME nanoseconds at which it was read
 *
 * The storms print one line on stdout:
 * "<mode> n=<N> spawners=<P> elapsed_ns=<T> cpu_ns=<C> median_ns=<M>", where T is the wall
 * time (CLOCK_MONOTONIC) from the moment all spawners are released to the moment the last
 * one is done, C the CPU time (user + system) of the spawners and of everything they
 * started: BPF programs run on tracepoints are charged there too, and M the median time of
 * one spawn (each timed on its own): unlike T, it does not move when the host preempts this
 * VM for a few milliseconds now and then. The spawners are processes, started and
 * synchronised before the clock starts, so their own creation is not measured.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what)
{
	fprintf(stderr, "spawn_storm: %s: %s\n", what, strerror(errno));
	exit(2);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "spawn_storm: child %d failed (status 0x%x)\n", (int)pid, status);
		exit(2);
	}
}

static void spawn_exec(const char *program)
{
	char *const argv[] = {(char *)program, NULL};
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0) {
		execve(program, argv, environ);
		_exit(127);
	}
	wait_child(pid);
}

static void spawn_fork(void)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit(0);
	wait_child(pid);
}

static void *noop_thread(void *arg)
{
	return arg;
}

static void spawn_thread(void)
{
	pthread_t t;
	int err = pthread_create(&t, NULL, noop_thread, NULL);

	if (err) {
		errno = err;
		die("pthread_create");
	}
	pthread_join(t, NULL);
}

static void on_sigusr1(int sig)
{
	(void)sig;
}

/* An ordinary signal: SIGUSR1 (fatal by default) to itself, which has a handler for it. */
static void send_signal(void)
{
	if (kill(getpid(), SIGUSR1) < 0)
		die("kill");
}

/* Runs n spawns (mode signal: n signals); the duration of each goes to durations[0..n). */
static void run_storm(const char *mode, long n, const char *program, uint64_t *durations)
{
	for (long i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		if (strcmp(mode, "exec") == 0)
			spawn_exec(program);
		else if (strcmp(mode, "fork") == 0)
			spawn_fork();
		else if (strcmp(mode, "signal") == 0)
			send_signal();
		else
			spawn_thread();
		durations[i] = now_ns() - t0;
	}
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t children_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_CHILDREN, &ru) < 0)
		die("getrusage");
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static int storm(const char *mode, long n, long spawners, const char *program)
{
	int ready[2], go[2];
	pid_t *pids = calloc((size_t)spawners, sizeof(*pids));
	/* Shared with the spawners, which write the duration of each of their spawns. */
	uint64_t *durations = mmap(NULL, (size_t)n * sizeof(uint64_t), PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t start, end, cpu;
	long offset = 0;
	char c;

	if (!pids)
		die("calloc");
	if (durations == MAP_FAILED)
		die("mmap");
	if (pipe(ready) < 0 || pipe(go) < 0)
		die("pipe");
	for (long s = 0; s < spawners; s++) {
		/* The spawners share N as evenly as possible. */
		long share = n / spawners + (s < n % spawners ? 1 : 0);

		pids[s] = fork();
		if (pids[s] < 0)
			die("fork");
		if (pids[s] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(ready[0]);
			close(go[1]);
			if (write(ready[1], "r", 1) != 1)
				_exit(2);
			if (read(go[0], &c, 1) < 0) /* EOF: released */
				_exit(2);
			run_storm(mode, share, program, durations + offset);
			_exit(0);
		}
		offset += share;
	}
	close(ready[1]);
	close(go[0]);
	for (long s = 0; s < spawners; s++)
		if (read(ready[0], &c, 1) != 1)
			die("a spawner did not start");
	start = now_ns();
	close(go[1]);
	for (long s = 0; s < spawners; s++)
		wait_child(pids[s]);
	end = now_ns();
	cpu = children_cpu_ns(); /* the spawners, and all they waited for */
	qsort(durations, (size_t)n, sizeof(uint64_t), compare_u64);
	printf("%s n=%ld spawners=%ld elapsed_ns=%llu cpu_ns=%llu median_ns=%llu\n", mode, n, spawners,
	       (unsigned long long)(end - start), (unsigned long long)cpu,
	       (unsigned long long)durations[n / 2]);
	munmap(durations, (size_t)n * sizeof(uint64_t));
	free(pids);
	return 0;
}

static void stamp_line(uint64_t ts, const char *line, size_t len)
{
	printf("%llu %.*s\n", (unsigned long long)ts, (int)len, line);
}

/* Timestamps lines as they arrive on a pipe: the clock is read as soon as read() returns. */
static int stamp(void)
{
	static char buf[1 << 20];
	size_t have = 0;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf + have, sizeof(buf) - have);
		struct timespec ts;
		uint64_t t;
		size_t start = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read");
		clock_gettime(CLOCK_REALTIME, &ts);
		t = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		if (n == 0) {
			if (have)
				stamp_line(t, buf, have);
			break;
		}
		have += (size_t)n;
		for (size_t i = 0; i < have; i++) {
			if (buf[i] != '\n')
				continue;
			stamp_line(t, buf + start, i - start);
			start = i + 1;
		}
		if (start == 0 && have == sizeof(buf)) { /* a line longer than the buffer */
			stamp_line(t, buf, have);
			start = have;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
		fflush(stdout);
	}
	fflush(stdout);
	return 0;
}

static long number(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1) {
		fprintf(stderr, "spawn_storm: bad %s: %s\n", what, s);
		exit(2);
	}
	return v;
}

/* The argv area of the exec'd shapes, as the kernel lays it out: NUL-separated strings. */
#define SHAPE_ARGV_BYTES 4095
#define PAUSE_NAME "iwpause"

static char **shape_argv(const char *shape)
{
	static char filler[SHAPE_ARGV_BYTES];
	size_t name_bytes = sizeof(PAUSE_NAME); /* with its NUL */
	size_t n = 1;
	char **argv;

	if (strcmp(shape, "short") == 0)
		n = 1;
	else if (strcmp(shape, "empty") == 0)
		n = 1 + (SHAPE_ARGV_BYTES - name_bytes); /* each empty argument is one NUL */
	else if (strcmp(shape, "long") == 0)
		n = 2;
	else
		return NULL;
	argv = calloc(n + 1, sizeof(*argv));
	if (!argv)
		die("calloc");
	argv[0] = PAUSE_NAME;
	if (strcmp(shape, "empty") == 0)
		for (size_t i = 1; i < n; i++)
			argv[i] = filler + sizeof(filler) - 1; /* "" */
	if (strcmp(shape, "long") == 0) {
		memset(filler, 'x', SHAPE_ARGV_BYTES - name_bytes - 1);
		filler[SHAPE_ARGV_BYTES - name_bytes - 1] = '\0';
		argv[1] = filler;
	}
	return argv;
}

/* Starts N children of one shape; exec'd ones hold `exec_done` (close-on-exec) until they
 * exec, and write to it when the exec fails. */
static void start_children(long n, const char *shape, const char *self, int exec_done)
{
	char **argv = strcmp(shape, "fork") == 0 ? NULL : shape_argv(shape);

	if (strcmp(shape, "fork") != 0 && !argv) {
		fprintf(stderr, "spawn_storm: unknown shape %s\n", shape);
		exit(2);
	}
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid != 0)
			continue;
		/* Outside a pid namespace nothing else would kill them with us. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (argv) {
			char *const envp[] = {NULL};

			ssize_t told;

			execve(self, argv, envp);
			told = write(exec_done, "e", 1); /* the holder fails when it reads this */
			_exit(told == 1 ? 127 : 126);
		}
		close(exec_done); /* the holder waits for its EOF */
		for (;;)
			pause();
	}
}

static _Noreturn void hold(int argc, char **argv, int exit_on_input)
{
	char self[4096];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	int exec_done[2];
	long total = 0;
	char c;

	if (len < 0)
		die("readlink /proc/self/exe");
	self[len] = '\0';
	if (pipe2(exec_done, O_CLOEXEC) < 0)
		die("pipe2");
	for (int i = 0; i < argc; i++) {
		char count[32];
		const char *colon = strchr(argv[i], ':');
		const char *shape = colon ? colon + 1 : "fork";
		long n;

		snprintf(count, sizeof(count), "%.*s", colon ? (int)(colon - argv[i]) : 31, argv[i]);
		n = number(count, "N");
		start_children(n, shape, self, exec_done[1]);
		total += n;
	}
	close(exec_done[1]);
	/* EOF once every exec'd child has exec'd: its copy of the write end closed on exec. */
	if (read(exec_done[0], &c, 1) != 0) {
		fprintf(stderr, "spawn_storm: a child could not exec %s\n", self);
		exit(2);
	}
	close(exec_done[0]);
	printf("ready %ld\n", total);
	fflush(stdout);
	if (exit_on_input) {
		if (read(STDIN_FILENO, &c, 1) < 0)
			die("read stdin");
		exit(0);
	}
	for (;;)
		pause();
}

static int usage(void)
{
	fprintf(stderr,
		"usage: spawn_storm exec N P [PROGRAM] | fork N P | thread N P | signal N P | hold SPEC... | "
		"orphan SPEC... |\n"
		"       stamp\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc >= 1 && strcmp(argv[0], PAUSE_NAME) == 0) /* a child of hold, exec'd with its argv shape */
		for (;;)
			pause();
	if (argc == 2 && strcmp(argv[1], "stamp") == 0)
		return stamp();
	if (argc >= 3 && strcmp(argv[1], "hold") == 0)
		hold(argc - 2, argv + 2, 0);
	if (argc >= 3 && strcmp(argv[1], "orphan") == 0)
		hold(argc - 2, argv + 2, 1);
	if (argc < 4)
		return usage();
	if (strcmp(argv[1], "exec") == 0 && argc <= 5)
		return storm("exec", number(argv[2], "N"), number(argv[3], "P"),
			     argc == 5 ? argv[4] : "/bin/true");
	if ((strcmp(argv[1], "fork") == 0 || strcmp(argv[1], "thread") == 0) && argc == 4)
		return storm(argv[1], number(argv[2], "N"), number(argv[3], "P"), NULL);
	if (strcmp(argv[1], "signal") == 0 && argc == 4) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_sigusr1;
		if (sigaction(SIGUSR1, &sa, NULL) < 0) /* inherited by the spawners */
			die("sigaction");
		return storm("signal", number(argv[2], "N"), number(argv[3], "P"), NULL);
	}
	return usage();
}
