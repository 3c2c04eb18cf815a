/* What a program finds itself holding after execve: ids, capability sets, AT_SECURE,
 * dumpable, the parent-death signal, no_new_privs, RLIMIT_STACK. Exec'd by the other programs. */
#include "perm.h"
#include <sys/auxv.h>
#include <sys/resource.h>

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int pdeathsig = -1;
    prctl(PR_GET_PDEATHSIG, &pdeathsig);
    struct rlimit stack;
    getrlimit(RLIMIT_STACK, &stack);
    show(argc > 1 ? argv[1] : "exec");
    printf("  secure %lu dumpable %d pdeathsig %d no_new_privs %d keepcaps %d stack %llu\n",
           getauxval(AT_SECURE), prctl(PR_GET_DUMPABLE), pdeathsig, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
           prctl(PR_GET_KEEPCAPS), (unsigned long long)stack.rlim_cur);
    return 0;
}
