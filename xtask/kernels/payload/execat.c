#define _GNU_SOURCE
/* Smoke helper for the kernel-matrix guests: execveat by raw syscall, once in a
 * child that becomes /bin/echo (success) and once here on a missing program
 * relative to a directory fd (ENOENT). Both must be reported as execveat, not
 * execve ("kmx execveat" in smoke.yaml). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(void) {
	char *ok[] = {"echo", "kmx-xat", NULL};
	char *missing[] = {"missing-prog", "kmx-xat-fail", NULL};
	pid_t pid = fork();
	if (pid == 0) {
		syscall(SYS_execveat, AT_FDCWD, "/bin/echo", ok, environ, 0);
		perror("execat: execveat /bin/echo");
		_exit(127);
	}
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "execat: the child's execveat failed\n");
		return 1;
	}
	int dfd = open("/tmp/kmx", O_RDONLY | O_DIRECTORY);
	if (dfd < 0) {
		perror("execat: open /tmp/kmx");
		return 1;
	}
	if (syscall(SYS_execveat, dfd, "missing-prog", missing, environ, 0) == 0 || errno != ENOENT) {
		fprintf(stderr, "execat: expected ENOENT\n");
		return 1;
	}
	return 0;
}
