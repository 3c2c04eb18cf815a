/* Signal-driven I/O: a description's owner (F_SETOWN, F_SETOWN_EX, the socket ioctls), its
 * signal (F_SETSIG), O_ASYNC (F_SETFL, FIOASYNC) and the signals that come when a pipe or a
 * socket becomes readable, with their errors. Usage: sigio CASE (see main). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long result)
{
    if (result < 0)
        printf("%s: %ld %s\n", what, result, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, result);
}

static void owners(void)
{
    int pipes[2];
    pipe(pipes);
    int fd = pipes[0];
    show("F_GETOWN unowned", fcntl(fd, F_GETOWN));
    show("F_SETOWN self", fcntl(fd, F_SETOWN, getpid()));
    printf("F_GETOWN is self: %d\n", fcntl(fd, F_GETOWN) == getpid());
    show("F_SETOWN own group", fcntl(fd, F_SETOWN, -getpgrp()));
    printf("F_GETOWN is -group: %d\n", fcntl(fd, F_GETOWN) == -getpgrp());
    show("F_SETOWN nobody's pid", fcntl(fd, F_SETOWN, 999999));
    show("F_SETOWN 0", fcntl(fd, F_SETOWN, 0));
    show("F_GETOWN after 0", fcntl(fd, F_GETOWN));
    struct f_owner_ex ex = {F_OWNER_TID, (pid_t)syscall(SYS_gettid)};
    show("F_SETOWN_EX thread", fcntl(fd, F_SETOWN_EX, &ex));
    memset(&ex, 0x55, sizeof ex);
    show("F_GETOWN_EX", fcntl(fd, F_GETOWN_EX, &ex));
    printf("F_GETOWN_EX type %d is self %d\n", ex.type, ex.pid == getpid());
    ex.type = 7;
    show("F_SETOWN_EX bad type", fcntl(fd, F_SETOWN_EX, &ex));
    show("F_SETOWN_EX bad pointer", fcntl(fd, F_SETOWN_EX, (void *)8));
    show("F_GETOWN_EX bad pointer", fcntl(fd, F_GETOWN_EX, (void *)8));
    ex.type = F_OWNER_PGRP;
    ex.pid = getpgrp();
    show("F_SETOWN_EX group", fcntl(fd, F_SETOWN_EX, &ex));
    show("F_GETOWN of a group set by F_SETOWN_EX", fcntl(fd, F_GETOWN) == -getpgrp());
    show("F_GETSIG default", fcntl(fd, F_GETSIG));
    show("F_SETSIG SIGRTMIN", fcntl(fd, F_SETSIG, SIGRTMIN));
    show("F_GETSIG", fcntl(fd, F_GETSIG));
    show("F_SETSIG 64", fcntl(fd, F_SETSIG, 64));
    show("F_SETSIG 65", fcntl(fd, F_SETSIG, 65));
    show("F_SETSIG -1", fcntl(fd, F_SETSIG, -1));
    int sockets[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sockets);
    int who = getpid();
    show("FIOSETOWN", ioctl(sockets[0], FIOSETOWN, &who));
    who = 0;
    show("FIOGETOWN", ioctl(sockets[0], FIOGETOWN, &who));
    printf("FIOGETOWN is self: %d\n", who == getpid());
    who = -getpgrp();
    show("SIOCSPGRP", ioctl(sockets[0], SIOCSPGRP, &who));
    show("SIOCGPGRP", ioctl(sockets[0], SIOCGPGRP, &who));
    printf("SIOCGPGRP is -group: %d\n", who == -getpgrp());
    show("FIOSETOWN of a pipe", ioctl(fd, FIOSETOWN, &who));
}

static void flags(void)
{
    int pipes[2];
    pipe(pipes);
    show("F_SETFL O_ASYNC", fcntl(pipes[0], F_SETFL, O_ASYNC));
    printf("O_ASYNC set: %d\n", !!(fcntl(pipes[0], F_GETFL) & O_ASYNC));
    int off = 0, on = 1;
    show("FIOASYNC off", ioctl(pipes[0], FIOASYNC, &off));
    printf("O_ASYNC set: %d\n", !!(fcntl(pipes[0], F_GETFL) & O_ASYNC));
    show("FIOASYNC on", ioctl(pipes[0], FIOASYNC, &on));
    printf("O_ASYNC set: %d\n", !!(fcntl(pipes[0], F_GETFL) & O_ASYNC));
    show("FIOASYNC bad pointer", ioctl(pipes[0], FIOASYNC, (void *)8));
    int file = open("/tmp/sigio-file", O_RDWR | O_CREAT | O_TRUNC, 0600);
    show("FIOASYNC of a regular file", ioctl(file, FIOASYNC, &on));
    show("F_SETFL O_ASYNC of a regular file", fcntl(file, F_SETFL, O_ASYNC));
    printf("its O_ASYNC set: %d\n", !!(fcntl(file, F_GETFL) & O_ASYNC));
    unlink("/tmp/sigio-file");
}

static void wait_for(const char *what, int signo, int fd)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    siginfo_t info;
    struct timespec timeout = {5, 0};
    int got = sigtimedwait(&set, &info, &timeout);
    if (got < 0) {
        printf("%s: no signal (%s)\n", what, strerrorname_np(errno));
        return;
    }
    printf("%s: signal %s, si_code %d", what, got == SIGIO ? "SIGIO" : got == SIGRTMIN ? "SIGRTMIN" : "other",
           info.si_code);
    if (info.si_code > 0 && info.si_code < 7)
        printf(", si_band %#lx, si_fd is the fd %d", (long)info.si_band, info.si_fd == fd);
    printf("\n");
}

static void delivery(void)
{
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGIO);
    sigaddset(&blocked, SIGRTMIN);
    sigprocmask(SIG_BLOCK, &blocked, NULL);

    int pipes[2];
    pipe(pipes);
    fcntl(pipes[0], F_SETOWN, getpid());
    fcntl(pipes[0], F_SETFL, O_ASYNC);
    write(pipes[1], "x", 1);
    wait_for("pipe made readable", SIGIO, pipes[0]);

    int sockets[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sockets);
    int on = 1;
    fcntl(sockets[0], F_SETOWN, getpid());
    fcntl(sockets[0], F_SETSIG, SIGRTMIN);
    ioctl(sockets[0], FIOASYNC, &on);
    write(sockets[1], "y", 1);
    wait_for("socket made readable, F_SETSIG", SIGRTMIN, sockets[0]);

    int unowned[2];
    pipe(unowned);
    fcntl(unowned[0], F_SETFL, O_ASYNC);
    write(unowned[1], "z", 1);
    sigset_t pending;
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    sigpending(&pending);
    printf("O_ASYNC without an owner: SIGIO pending %d\n", sigismember(&pending, SIGIO));

    int later[2];
    pipe(later);
    write(later[1], "w", 1);  /* ready before O_ASYNC: no signal for that */
    fcntl(later[0], F_SETOWN, getpid());
    fcntl(later[0], F_SETFL, O_ASYNC);
    nanosleep(&pause, NULL);
    sigpending(&pending);
    printf("ready before O_ASYNC: SIGIO pending %d\n", sigismember(&pending, SIGIO));
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *which = argc > 1 ? argv[1] : "";
    if (!strcmp(which, "owners"))
        owners();
    else if (!strcmp(which, "flags"))
        flags();
    else if (!strcmp(which, "delivery"))
        delivery();
    else
        return 2;
    return 0;
}
