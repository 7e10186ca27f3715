/*
 * A multi-threaded init whose main thread exits first: it starts a background child,
 * then the main thread calls pthread_exit() and leaves a zombie leader behind, and the
 * remaining thread ends the process with exit(EXIT_STATUS) a little later.
 * initwatch must report exactly one exit for it, with that status and time.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define EXIT_STATUS 7

static void *last_thread(void *arg)
{
	struct timespec delay = {0, 200 * 1000 * 1000};

	(void)arg;
	nanosleep(&delay, NULL);
	exit(EXIT_STATUS);
}

int main(void)
{
	pthread_t t;
	int exec_done[2];
	char c;

	/* The child's exec closes its end: init exits only once the child runs sleep. */
	if (pipe(exec_done) != 0 || fcntl(exec_done[1], F_SETFD, FD_CLOEXEC) != 0)
		return 1;
	if (fork() == 0) {
		execlp("sleep", "sleep", "3600", (char *)NULL);
		_exit(127);
	}
	close(exec_done[1]);
	if (read(exec_done[0], &c, 1) != 0)
		return 1;
	if (pthread_create(&t, NULL, last_thread, NULL) != 0)
		return 1;
	pthread_exit(NULL);
}
