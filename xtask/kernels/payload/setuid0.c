#define _GNU_SOURCE
/* Smoke helper for the kernel-matrix guests: drop to uid 65534, then try
 * setuid(0), which must fail with EPERM ("Non sudo setuid" in the default pack). */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
	if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) {
		perror("setuid0: drop");
		return 1;
	}
	if (setuid(0) == 0 || errno != EPERM) {
		fprintf(stderr, "setuid0: expected EPERM\n");
		return 1;
	}
	return 0;
}
