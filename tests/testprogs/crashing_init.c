/*
 * An init that crashes (SIGSEGV, forced by the kernel, which even a namespace init cannot
 * ignore). With no argument it first starts a background child; with "alone" it does not.
 */
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct rlimit no_core = {0, 0};

	setrlimit(RLIMIT_CORE, &no_core);
	if (argc < 2 || strcmp(argv[1], "alone") != 0) {
		if (fork() == 0) {
			execlp("sleep", "sleep", "3600", (char *)NULL);
			_exit(127);
		}
		usleep(100 * 1000);
	}
	*(volatile int *)0 = 1;
	return 0;
}
