/* fork, exit statuses, wait4/waitpid/waitid variants, zombies, orphans and subreapers,
 * private vs shared memory after fork, vfork. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static int heap_value = 1;

static void show(const char *what, int status) {
    if (WIFEXITED(status)) printf("%s: exited %d\n", what, WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) printf("%s: killed by %d%s\n", what, WTERMSIG(status), WCOREDUMP(status) ? " (core)" : "");
    else printf("%s: status %#x\n", what, status);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t me = getpid();
    prctl(PR_SET_CHILD_SUBREAPER, 1);

    /* exit codes through wait4 with rusage */
    for (int code = 0; code < 3; code++) {
        pid_t child = fork();
        if (child == 0) _exit(code * 40);
        int status;
        struct rusage usage;
        pid_t got = wait4(child, &status, 0, &usage);
        printf("wait4 got the child: %d; ", got == child);
        show("child", status);
    }

    /* memory after fork: private copied, shared shared */
    int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *big = malloc(1 << 20);
    memset(big, 'p', 1 << 20);
    *shared = 10;
    pid_t child = fork();
    if (child == 0) {
        heap_value = 2;
        big[12345] = 'c';
        *shared = 20;
        _exit(getppid() == me ? 0 : 1);
    }
    int status;
    waitpid(child, &status, 0);
    show("memory child", status);
    printf("after child: private %d, big %c, shared %d\n", heap_value, big[12345], *shared);

    /* WNOHANG on a running child, then zombie; waitid WNOWAIT keeps it */
    int pipe_like[1];
    (void)pipe_like;
    volatile int *go = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    child = fork();
    if (child == 0) { while (!*go) usleep(1000); _exit(5); }
    printf("WNOHANG while running: %d\n", waitpid(child, &status, WNOHANG));
    *go = 1;
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int r = waitid(P_PID, child, &info, WEXITED | WNOWAIT);
    printf("waitid WNOWAIT: %d, code %d, status %d, pid ok %d\n", r, info.si_code, info.si_status, info.si_pid == child);
    memset(&info, 0, sizeof info);
    r = waitid(P_ALL, 0, &info, WEXITED);
    printf("waitid P_ALL: %d, signo %d, code %d, status %d, pid ok %d\n", r, info.si_signo, info.si_code,
           info.si_status, info.si_pid == child);
    memset(&info, 0xff, sizeof info);
    r = waitid(P_ALL, 0, &info, WEXITED | WNOHANG);
    printf("waitid with no children: %d %s\n", r, strerror(errno));
    r = waitid(P_ALL, 0, &info, WNOHANG);
    printf("waitid without event flags: %d %s\n", r, strerror(errno));
    r = wait(&status);
    printf("wait with no children: %d %s\n", r, strerror(errno));

    /* process groups */
    child = fork();
    if (child == 0) {
        setpgid(0, 0);
        _exit(getpgid(0) == getpid() ? 9 : 1);
    }
    waitpid(child, &status, 0);
    show("own group", status);
    printf("getpgrp is getpgid(0): %d, getsid(0) is getsid(me): %d\n", getpgrp() == getpgid(0), getsid(0) == getsid(me));

    /* an orphan goes to the subreaper (us) */
    child = fork();
    if (child == 0) {
        pid_t grandchild = fork();
        if (grandchild == 0) {
            usleep(50000);
            _exit(getppid() == me ? 11 : 12);
        }
        _exit(0);
    }
    waitpid(child, &status, 0);
    show("middle", status);
    pid_t got = wait(&status);
    printf("adopted grandchild reaped: %d; ", got > 0);
    show("grandchild", status);

    /* a parent-death signal: the grandchild hears when its parent (the middle) dies */
    volatile int *ready = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    child = fork();
    if (child == 0) {
        if (fork() == 0) {
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            *ready = 1;
            for (;;) pause();
        }
        while (!*ready) usleep(1000);
        _exit(0);
    }
    waitpid(child, &status, 0);
    got = wait(&status);
    printf("pdeathsig grandchild: %d; ", got > 0);
    show("grandchild", status);

    /* vfork: the child borrows our memory until it exits */
    volatile int borrowed = 1;
    child = vfork();
    if (child == 0) {
        borrowed = 2;
        _exit(4);
    }
    waitpid(child, &status, 0);
    printf("vfork child wrote %d; ", borrowed);
    show("vfork child", status);

    /* many children, reaped in any order */
    for (int i = 0; i < 5; i++)
        if (fork() == 0) _exit(i + 1);
    int sum = 0;
    for (int i = 0; i < 5; i++) { wait(&status); sum += WEXITSTATUS(status); }
    printf("sum of 5 statuses: %d\n", sum);
    return 3;
}
