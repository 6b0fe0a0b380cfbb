#define _GNU_SOURCE
/* Smoke helper for the kernel-matrix guests: process_vm_readv of its own
 * memory, an 8-entry io_uring ring, and a file opened by its handle
 * (name_to_handle_at + open_by_handle_at of /tmp/kmx/readme), as "kmx inject"
 * in smoke.yaml checks them. Prints "KMX inject-<call> <result>" for each. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

struct handle {
	unsigned int bytes;
	int type;
	unsigned char h[128];
};

int main(void) {
	char src[16] = "kmx-inject", dst[16];
	struct iovec local = {dst, sizeof(dst)}, remote = {src, sizeof(src)};
	long n = syscall(SYS_process_vm_readv, (long)getpid(), &local, 1L, &remote, 1L, 0L);
	printf("KMX inject-pvm %ld\n", n < 0 ? -errno : n);
	unsigned int params[30];
	memset(params, 0, sizeof(params));
	long ring = syscall(SYS_io_uring_setup, 8L, params);
	printf("KMX inject-uring %ld\n", ring < 0 ? -errno : 0L);
	struct handle fh = {.bytes = sizeof(fh.h)};
	int mount_id = 0;
	syscall(SYS_name_to_handle_at, (long)AT_FDCWD, "/tmp/kmx/readme", &fh, &mount_id, 0L);
	int dir = open("/tmp/kmx", O_RDONLY | O_DIRECTORY);
	long fd = syscall(SYS_open_by_handle_at, (long)dir, &fh, (long)O_RDONLY);
	printf("KMX inject-obh %ld\n", fd < 0 ? -errno : 0L);
	fflush(stdout);
	/* Held for a moment: the agent names the new fd from /proc/PID/fd. */
	sleep(1);
	return n == 16 && ring >= 0 ? 0 : 1;
}
