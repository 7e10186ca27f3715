/*
 * A namespace init whose children hold large argv, for the memory-budget test:
 *   argv_holders COUNT ARGS BYTES [MARKER...]
 * starts COUNT children that exec this program again as "argv_holders hold" followed by
 * ARGS empty arguments (ARGS > 0) or by one argument of BYTES bytes (ARGS == 0), each of
 * which reports on a pipe once it runs and then sleeps. When all are running, init exits 0:
 * the kernel kills them all, and initwatch has a finding with COUNT processes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "hold") == 0) {
		char ok = 1;

		if (write(3, &ok, 1) != 1)
			return 1;
		close(3);
		for (;;)
			pause();
	}
	if (argc < 4) {
		fprintf(stderr, "usage: argv_holders COUNT ARGS BYTES [MARKER...]\n");
		return 2;
	}
	long count = atol(argv[1]), nargs = atol(argv[2]), bytes = atol(argv[3]);
	long n = nargs > 0 ? nargs : 1;
	char **args = calloc((size_t)n + 3, sizeof(char *));
	char *big = NULL;
	int fds[2];

	if (!args || pipe(fds) != 0)
		return 1;
	args[0] = argv[0];
	args[1] = "hold";
	if (nargs > 0) {
		for (long i = 0; i < nargs; i++)
			args[2 + i] = "";
	} else {
		big = malloc((size_t)bytes + 1);
		if (!big)
			return 1;
		memset(big, 'x', (size_t)bytes);
		big[bytes] = '\0';
		args[2] = big;
	}
	args[2 + n] = NULL;
	for (long i = 0; i < count; i++) {
		pid_t pid = fork();

		if (pid < 0)
			return 1;
		if (pid == 0) {
			close(fds[0]);
			if (fds[1] != 3) {
				dup2(fds[1], 3);
				close(fds[1]);
			}
			execv("/proc/self/exe", args);
			_exit(127);
		}
	}
	close(fds[1]);
	/* Every child says it runs; a read that returns 0 means one died before. */
	for (long got = 0; got < count;) {
		char buf[4096];
		ssize_t r = read(fds[0], buf, sizeof(buf));

		if (r <= 0)
			return 1;
		got += r;
	}
	return 0;
}
