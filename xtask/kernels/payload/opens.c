#define _GNU_SOURCE
/* Smoke helper for the kernel-matrix guests: one open of each syscall the fexit
 * open program tells apart (open, openat, openat2) and a creat, each on its own
 * file under /tmp/kmx, by raw syscall so libc cannot turn one into another.
 * xtask/src/kernels/check.rs checks each event's syscall name. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int done(const char *what, long fd) {
	if (fd < 0) {
		perror(what);
		return 1;
	}
	close((int)fd);
	return 0;
}

int main(void) {
	struct open_how how;
	int bad = 0;
	memset(&how, 0, sizeof how);
	how.flags = O_RDONLY;
	bad |= done("open", syscall(SYS_open, "/tmp/kmx/sys-open", O_RDONLY));
	bad |= done("openat", syscall(SYS_openat, AT_FDCWD, "/tmp/kmx/sys-openat", O_RDONLY));
	bad |= done("openat2", syscall(SYS_openat2, AT_FDCWD, "/tmp/kmx/sys-openat2", &how, sizeof how));
	bad |= done("creat", syscall(SYS_creat, "/tmp/kmx/sys-creat", 0644));
	return bad;
}
