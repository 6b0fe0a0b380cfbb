/* The kill chain's privilege escalation step in the real victim pod (cluster-e2e.sh), built
 * `gcc -static` into the victim image by image.sh: a non-root process trying to become root,
 * as the simulation's `python3 -c 'import os; os.setuid(0)'` run as uid 1000 does. Started
 * as root by `kubectl exec`, it first drops to uid/gid 1000 (a compromised unprivileged
 * service), then calls setuid(0), which the kernel refuses. Exit 0 when refused. */
#include <grp.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    if (geteuid() == 0 && (setgroups(0, NULL) != 0 || setgid(1000) != 0 || setuid(1000) != 0)) {
        perror("escalate: drop to uid 1000");
        return 2;
    }
    if (setuid(0) == 0) {
        puts("escalate: setuid(0) succeeded");
        return 1;
    }
    printf("escalate: uid %d: setuid(0) refused\n", (int)getuid());
    return 0;
}
