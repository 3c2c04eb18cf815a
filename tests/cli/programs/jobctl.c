/* Terminal job control: the controlling terminal's session and foreground group, TIOCSPGRP's
 * checks, SIGTTIN for a background read (EIO when it is ignored), SIGTTOU for a background
 * tcsetpgrp, ENOTTY in another session. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (tcgetsid(0) < 0)  /* natively we start as a session leader without a terminal: take it */
        ioctl(0, TIOCSCTTY, 0);
    printf("foreground is us: %d\n", tcgetpgrp(0) == getpgrp());
    printf("session is ours: %d\n", tcgetsid(0) == getsid(0));
    printf("sctty again: %d\n", ioctl(0, TIOCSCTTY, 0));
    int r = tcsetpgrp(0, 99999);
    printf("no such group: %d errno %d\n", r, errno);

    pid_t child = fork();
    if (child == 0) {
        setpgid(0, 0);
        char c;
        read(0, &c, 1);  /* a background read: SIGTTIN stops us */
        _exit(1);
    }
    int status;
    waitpid(child, &status, WUNTRACED);
    printf("background reader: stopped %d by %d\n", WIFSTOPPED(status), WIFSTOPPED(status) ? WSTOPSIG(status) : 0);
    kill(child, SIGKILL);
    waitpid(child, &status, 0);

    child = fork();
    if (child == 0) {
        setpgid(0, 0);
        signal(SIGTTIN, SIG_IGN);
        char c;
        ssize_t n = read(0, &c, 1);
        printf("ignoring SIGTTIN: read %zd errno %d\n", n, errno);
        _exit(0);
    }
    waitpid(child, &status, 0);

    child = fork();
    if (child == 0) {
        setsid();
        pid_t pgrp = tcgetpgrp(0);
        printf("new session: tcgetpgrp %d errno %d\n", pgrp, errno);
        _exit(0);
    }
    waitpid(child, &status, 0);

    /* changing the terminal from the background: SIGTTOU */
    child = fork();
    if (child == 0) {
        setpgid(0, 0);
        tcsetpgrp(0, getpgrp());
        _exit(1);
    }
    waitpid(child, &status, WUNTRACED);
    printf("background tcsetpgrp: stopped %d by %d\n", WIFSTOPPED(status), WIFSTOPPED(status) ? WSTOPSIG(status) : 0);
    kill(child, SIGKILL);
    waitpid(child, &status, 0);

    int pipefd[2];
    pipe(pipefd);
    child = fork();
    if (child == 0) {
        setpgid(0, 0);
        char c;
        read(pipefd[0], &c, 1);
        _exit(0);
    }
    setpgid(child, child);
    printf("give the terminal away: %d, foreground is child %d\n", tcsetpgrp(0, child), tcgetpgrp(0) == child);
    signal(SIGTTOU, SIG_IGN);  /* from the background, take it back */
    printf("take it back: %d, foreground is us %d\n", tcsetpgrp(0, getpgrp()), tcgetpgrp(0) == getpgrp());
    write(pipefd[1], "x", 1);
    waitpid(child, &status, 0);
    printf("notty from a non-leader child: ");
    child = fork();
    if (child == 0) {
        setpgid(0, 0);
        printf("%d\n", ioctl(0, TIOCNOTTY));
        _exit(0);
    }
    waitpid(child, &status, 0);
    return 0;
}
