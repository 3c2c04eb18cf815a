/* Job control on a pseudo-terminal: a session leader acquires the slave as its controlling
 * terminal by opening it, /dev/tty then opens it, ^C typed on the master interrupts the
 * foreground group, TIOCSPGRP moves the foreground, a background read gets SIGTTIN, and
 * closing the master hangs the session leader up. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static void note(int sig) { got = sig; }

/* A handler without SA_RESTART, so the read it interrupts fails with EINTR. */
static void catch(int sig) {
    struct sigaction sa = {0};
    sa.sa_handler = note;
    sigaction(sig, &sa, NULL);
}

static void describe(const char *who, int status) {
    if (WIFEXITED(status)) printf("%s: exit %d\n", who, WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) printf("%s: killed by %s\n", who, strsignal(WTERMSIG(status)));
    else if (WIFSTOPPED(status)) printf("%s: stopped by %s\n", who, strsignal(WSTOPSIG(status)));
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    grantpt(master);
    unlockpt(master);
    char name[64];
    ptsname_r(master, name, sizeof name);
    int ready[2], go[2];
    pipe(ready);
    pipe(go);

    pid_t leader = fork();
    if (leader == 0) {
        close(master);
        setsid();
        int tty = open(name, O_RDWR);  /* no O_NOCTTY: a session leader acquires it */
        printf("leader: foreground is me %d, sid is me %d\n", tcgetpgrp(tty) == getpid(), tcgetsid(tty) == getpid());
        int again = open("/dev/tty", O_RDWR);
        printf("leader: /dev/tty %s\n", again < 0 ? strerror(errno) : "opened");
        catch(SIGINT);
        write(ready[1], "r", 1);
        char buf[64];
        ssize_t n = read(tty, buf, sizeof buf);  /* interrupted by ^C */
        printf("leader: read %zd errno %s, signal %s\n", n, n < 0 ? strerror(errno) : "-", got ? strsignal(got) : "none");

        /* A background group reading the terminal gets SIGTTIN (default: it stops). */
        pid_t reader = fork();
        if (reader == 0) {
            setpgid(0, 0);
            read(tty, buf, sizeof buf);
            _exit(3);
        }
        setpgid(reader, reader);
        int status;
        waitpid(reader, &status, WUNTRACED);
        describe("leader: background reader", status);
        /* Give it the foreground and let it go on: now it reads the line typed next. */
        signal(SIGTTOU, SIG_IGN);
        printf("leader: tcsetpgrp %d\n", tcsetpgrp(tty, reader));
        printf("leader: foreground is the reader %d\n", tcgetpgrp(tty) == reader);
        kill(reader, SIGCONT);
        write(ready[1], "r", 1);
        waitpid(reader, &status, 0);
        describe("leader: reader after foreground", status);
        tcsetpgrp(tty, getpgrp());
        catch(SIGHUP);
        got = 0;
        write(ready[1], "r", 1);
        while (!got) pause();
        printf("leader: hung up: %s\n", strsignal(got));
        n = read(tty, buf, sizeof buf);
        printf("leader: read after hangup %zd\n", n);
        _exit(0);
    }
    char c;
    read(ready[0], &c, 1);
    usleep(100000);
    write(master, "\x03", 1);
    read(ready[0], &c, 1);
    write(master, "line\n", 5);
    read(ready[0], &c, 1);
    close(master);
    int status;
    waitpid(leader, &status, 0);
    describe("leader", status);
    return 0;
}
