/* execve: arguments and environment, #! scripts, errors, E2BIG, fork+exec, vfork+exec, and
 * exec from a second thread (de-threading). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, int status) {
    if (WIFEXITED(status)) printf("%s: exited %d\n", what, WEXITSTATUS(status));
    else printf("%s: status %#x\n", what, status);
}

static int run(char *const argv[], char *const envp[]) {
    pid_t child = fork();
    if (child == 0) {
        execve(argv[0], argv, envp);
        printf("execve %s: %s\n", argv[0], strerror(errno));
        fflush(stdout);
        _exit(100);
    }
    int status;
    waitpid(child, &status, 0);
    return status;
}

static char pidvar[64];

static void *exec_from_thread(void *arg) {
    char *argv[] = {"/bin/exec_target", "from-thread", NULL};
    char *envp[] = {pidvar, NULL};
    execve(argv[0], argv, envp);
    printf("exec from thread failed: %s\n", strerror(errno));
    exit(101);
}

static void caught(int signo) { (void)signo; }

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    /* exec keeps an ignored signal ignored, but with no flags or mask (flush_signal_handlers) */
    struct sigaction ignore = {.sa_handler = SIG_IGN, .sa_flags = SA_RESTART}, handle = {.sa_handler = caught};
    sigaddset(&ignore.sa_mask, SIGTERM);
    sigaction(SIGUSR1, &ignore, NULL);
    handle.sa_flags = SA_RESTART | SA_NODEFER;
    sigaction(SIGUSR2, &handle, NULL);
    if (argc > 1 && strcmp(argv[1], "thread") == 0) {
        snprintf(pidvar, sizeof pidvar, "EXPECT_PID=%d", getpid());
        pthread_t t;
        pthread_create(&t, NULL, exec_from_thread, NULL);
        for (;;) pause();
    }
    char *env[] = {"GREETING=hello there", NULL};
    char *plain[] = {"/bin/exec_target", "one", "two words", "", NULL};
    show("plain", run(plain, env));
    char *script[] = {"/bin/script", "arg", NULL};
    show("script", run(script, env));
    char *missing[] = {"/bin/missing", NULL};
    show("missing", run(missing, env));
    char *text[] = {"/bin/notelf", NULL};
    show("not an ELF", run(text, env));
    char *noexec[] = {"/bin/noexec", NULL};
    show("no x bit", run(noexec, env));

    static char huge[200000];
    memset(huge, 'x', sizeof huge - 1);
    char *big[] = {"/bin/exec_target", huge, NULL};
    int r = execve(big[0], big, env);
    printf("huge argument: %d %s\n", r, strerror(errno));

    pid_t child = vfork();
    if (child == 0) {
        execve(plain[0], plain, env);
        _exit(102);
    }
    int status;
    waitpid(child, &status, 0);
    show("vfork+exec", status);

    char *self[] = {"/bin/exec", "thread", NULL};
    show("exec from a thread", run(self, env));
    return 0;
}
