/* Prints what the sandbox's flags shape, one "key value" line each, then exits with
 * argv[1] (a number) if given. With argv[1] == "segv" it dies of SIGSEGV instead;
 * with "stdin" it first reports how many bytes its stdin held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/utsname.h>

extern char **environ;

int main(int argc, char **argv) {
    char cwd[4096];
    struct utsname names;
    struct rlimit nofile;
    if (argc > 1 && strcmp(argv[1], "segv") == 0) {
        fflush(stdout);
        *(volatile int *)0 = 1;
    }
    if (argc > 1 && strcmp(argv[1], "stdin") == 0) {
        char buf[4096];
        long total = 0;
        ssize_t n;
        while ((n = read(0, buf, sizeof buf)) > 0)
            total += n;
        printf("stdin %ld\n", total);
    }
    printf("argv0 %s\n", argv[0]);
    printf("cwd %s\n", getcwd(cwd, sizeof cwd) ? cwd : "?");
    printf("ids %d %d %d %d\n", (int)getuid(), (int)getgid(), (int)geteuid(), (int)getegid());
    uname(&names);
    printf("hostname %s\n", names.nodename);
    getrlimit(RLIMIT_NOFILE, &nofile);
    printf("nofile %lld %lld\n", (long long)nofile.rlim_cur, (long long)nofile.rlim_max);
    for (char **e = environ; *e; e++)
        printf("env %s\n", *e);
    return argc > 1 ? atoi(argv[1]) : 0;
}
