/* A signal ends a read blocked on an empty pipe: EINTR without SA_RESTART; with SA_RESTART the
 * read goes on and returns what is written later. A child keeps signalling until the parent is
 * done, so whichever signal first finds the parent blocked is the one that counts. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t handled;

static void on_usr1(int signo) { (void)signo; handled++; }

static pid_t pester(pid_t target, int writer, int then_write) {
    pid_t child = fork();
    if (child == 0) {
        for (int i = 0;; i++) {
            kill(target, SIGUSR1);
            if (then_write && i == 3 && write(writer, "x", 1) != 1) _exit(1);
            usleep(20000);
        }
    }
    return child;
}

static void attempt(int restart, int vectored) {
    int p[2];
    if (pipe(p)) return;
    struct sigaction sa = {0};
    sa.sa_handler = on_usr1;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGUSR1, &sa, NULL);
    handled = 0;
    pid_t child = pester(getpid(), p[1], restart);
    char c = '?';
    struct iovec iov = {&c, 1};
    ssize_t n = vectored ? readv(p[0], &iov, 1) : read(p[0], &c, 1);
    int saved = errno;
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    printf("%s%s: %zd %s %c handled:%s\n", vectored ? "readv" : "read", restart ? " SA_RESTART" : "", n,
           n < 0 && saved == EINTR ? "EINTR" : "-", c, handled > 0 ? "yes" : "no");
    close(p[0]);
    close(p[1]);
}

int main(void) {
    attempt(0, 0);
    attempt(0, 1);
    attempt(1, 0);
    attempt(1, 1);
    return 0;
}
