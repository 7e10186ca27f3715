/*
 * An init whose non-leader thread calls exec: the kernel makes that thread the leader
 * (old_pid differs from the pid) and the old leader vanishes without a group exit. The
 * process, its key and its background child must survive; the exec'd program then exits 0.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static void *exec_thread(void *arg)
{
	(void)arg;
	execlp("sh", "sh", "-c", "sleep 0.2; exit 0", (char *)NULL);
	_exit(127);
}

int main(void)
{
	pthread_t t;

	if (fork() == 0) {
		execlp("sleep", "sleep", "3600", (char *)NULL);
		_exit(127);
	}
	if (pthread_create(&t, NULL, exec_thread, NULL) != 0)
		return 1;
	pause();
	return 0;
}
