/* Signals between processes and threads: kill a child (default actions, exit statuses),
 * stop and continue it, SIGCHLD, a thread-directed signal to a thread spinning in user code,
 * and (with an argument) the process killing itself with a signal. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t chld, stop_spinning;

static void on_chld(int sig) { chld++; }
static void on_usr1(int sig) { stop_spinning = 1; }

static void *spin(void *arg) {
    while (!stop_spinning) { }
    return (void *)1;
}

static void show(const char *what, int status) {
    if (WIFEXITED(status)) printf("%s: exited %d\n", what, WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) printf("%s: killed by %d%s\n", what, WTERMSIG(status), WCOREDUMP(status) ? " (core)" : "");
    else if (WIFSTOPPED(status)) printf("%s: stopped by %d\n", what, WSTOPSIG(status));
    else if (WIFCONTINUED(status)) printf("%s: continued\n", what);
}

static pid_t sleeper(void) {
    pid_t child = fork();
    if (child == 0) {
        for (;;) pause();
    }
    return child;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc > 1) {
        if (getpid() == 1) {
            /* A pid namespace's init ignores signals it has no handler for, even its own
             * SIGKILL (as in a container): the sandbox's pid 1 lets a child die for it and
             * exits as a shell would report that death. */
            int status;
            pid_t child = fork();
            if (child > 0) {
                waitpid(child, &status, 0);
                return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
            }
        }
        printf("killing myself with %s\n", argv[1]);
        kill(getpid(), atoi(argv[1]));
        sleep(5);
        return 99;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_chld;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGCHLD, &sa, NULL);

    int signals[] = {SIGTERM, SIGKILL, SIGQUIT, SIGUSR1};
    for (int i = 0; i < 4; i++) {
        pid_t child = sleeper();
        usleep(20000);
        kill(child, signals[i]);
        int status;
        waitpid(child, &status, 0);
        show(strsignal(signals[i]), status);
    }

    pid_t child = sleeper();
    usleep(20000);
    kill(child, SIGSTOP);
    int status;
    waitpid(child, &status, WUNTRACED);
    show("after SIGSTOP", status);
    kill(child, SIGCONT);
    waitpid(child, &status, WCONTINUED);
    show("after SIGCONT", status);
    kill(child, SIGTERM);
    waitpid(child, &status, 0);
    show("then SIGTERM", status);

    /* SIGKILL reaches a stopped child */
    child = sleeper();
    usleep(20000);
    kill(child, SIGSTOP);
    waitpid(child, &status, WUNTRACED);
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    show("SIGKILL while stopped", status);

    /* a child that ignores SIGTERM survives it */
    child = fork();
    if (child == 0) {
        signal(SIGTERM, SIG_IGN);
        kill(getpid(), SIGTERM);
        _exit(8);
    }
    waitpid(child, &status, 0);
    show("ignoring SIGTERM", status);

    /* process group kill */
    pid_t a = sleeper(), b = sleeper();
    setpgid(a, a);
    setpgid(b, a);
    usleep(20000);
    kill(-a, SIGTERM);
    waitpid(a, &status, 0);
    show("group member a", status);
    waitpid(b, &status, 0);
    show("group member b", status);
    printf("SIGCHLD seen: %d\n", chld > 0);

    signal(SIGUSR1, on_usr1);
    pthread_t t;
    pthread_create(&t, NULL, spin, NULL);
    usleep(50000);
    pthread_kill(t, SIGUSR1);
    void *result;
    pthread_join(t, &result);
    printf("spinning thread stopped by its signal: %ld\n", (long)result);

    /* SIGCHLD ignored: children are reaped by the kernel, wait finds none */
    signal(SIGCHLD, SIG_IGN);
    child = fork();
    if (child == 0) _exit(0);
    int r = wait(&status);
    printf("wait with SIGCHLD ignored: %d\n", r);
    return 0;
}
