/* Signal-driven I/O, the signals themselves: when they come (at once, in the system call that
 * made the file ready), to whom (a process, a process group, one thread, only where the owner's
 * setter may signal) and what they say (si_code, si_band, si_fd) for pipes, socketpairs and
 * listening sockets. Usage: sigio_events CASE (see main). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t caught, last_code;

static void count(int signo, siginfo_t *info, void *context)
{
    (void)signo;
    (void)context;
    caught++;
    last_code = info->si_code;
}

static void catch_sigio(void)
{
    struct sigaction action = {0};
    action.sa_sigaction = count;
    action.sa_flags = SA_SIGINFO;
    sigaction(SIGIO, &action, NULL);
}

static void block(int signo)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

static void make_async(int fd, int signo)
{
    fcntl(fd, F_SETOWN, getpid());
    if (signo)
        fcntl(fd, F_SETSIG, signo);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC);
}

/* Take the pending instances of ``signo``, the first waited for up to 5 s, and print each. */
static void drain(const char *what, int signo, int fd)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    struct timespec first = {5, 0}, more = {0, 300 * 1000 * 1000};
    int taken = 0;
    siginfo_t info;
    while (sigtimedwait(&set, &info, taken ? &more : &first) == signo) {
        taken++;
        printf("%s: si_code %d", what, info.si_code);
        if (info.si_code > 0 && info.si_code < 7)
            printf(" si_band %#lx si_fd is the fd %d", (long)info.si_band, info.si_fd == fd);
        printf("\n");
    }
    printf("%s: %d signal(s)\n", what, taken);
}

/* A handler sees the signal as the write that caused it returns; a blocked one waits for
 * sigtimedwait. */
static void handler(void)
{
    catch_sigio();
    int pipes[2], sockets[2];
    char byte;
    pipe(pipes);
    make_async(pipes[0], 0);
    write(pipes[1], "a", 1);
    printf("pipe, after the first write: %d caught, si_code %d\n", caught, last_code);
    read(pipes[0], &byte, 1);
    printf("pipe, after a read: %d caught\n", caught);
    write(pipes[1], "b", 1);
    printf("pipe, after the second write: %d caught\n", caught);

    socketpair(AF_UNIX, SOCK_STREAM, 0, sockets);
    make_async(sockets[0], 0);
    write(sockets[1], "c", 1);
    printf("socketpair, after a write: %d caught\n", caught);

    block(SIGIO);
    read(pipes[0], &byte, 1);
    write(pipes[1], "d", 1);
    printf("blocked, after a write: %d caught\n", caught);
    drain("blocked pipe", SIGIO, pipes[0]);
}

/* A real-time F_SETSIG signal: si_code says why, si_band the poll bits, si_fd the fd. */
static void reasons(void)
{
    block(SIGRTMIN);
    int pipes[2], sockets[2];
    pipe(pipes);
    make_async(pipes[0], SIGRTMIN);
    write(pipes[1], "a", 1);
    drain("pipe written", SIGRTMIN, pipes[0]);
    close(pipes[1]);
    drain("pipe's writer closed", SIGRTMIN, pipes[0]);

    int full[2];
    pipe(full);
    fcntl(full[1], F_SETFL, O_NONBLOCK);
    make_async(full[1], SIGRTMIN);
    char chunk[4096] = {0};
    while (write(full[1], chunk, sizeof chunk) > 0)
        ;
    read(full[0], chunk, sizeof chunk);
    drain("full pipe read", SIGRTMIN, full[1]);

    socketpair(AF_UNIX, SOCK_STREAM, 0, sockets);
    make_async(sockets[0], SIGRTMIN);
    write(sockets[1], "b", 1);
    drain("socketpair written", SIGRTMIN, sockets[0]);
    close(sockets[1]);
    drain("socketpair's peer closed", SIGRTMIN, sockets[0]);

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    bind(listener, (struct sockaddr *)&address, sizeof address);
    listen(listener, 4);
    getsockname(listener, (struct sockaddr *)&address, &length);
    make_async(listener, SIGRTMIN);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    printf("connect: %d\n", connect(client, (struct sockaddr *)&address, sizeof address));
    drain("listener connected to", SIGRTMIN, listener);

    int chld[2];
    block(SIGCHLD);
    pipe(chld);
    make_async(chld[0], SIGCHLD);
    write(chld[1], "d", 1);
    drain("F_SETSIG SIGCHLD, whose codes are its own", SIGCHLD, chld[0]);

    int unowned[2];
    pipe(unowned);
    fcntl(unowned[0], F_SETSIG, SIGRTMIN);
    fcntl(unowned[0], F_SETFL, O_ASYNC);
    write(unowned[1], "c", 1);
    drain("O_ASYNC without an owner", SIGRTMIN, unowned[0]);
}

/* Urgent data (MSG_OOB) on a socket: SIGURG to its owner, O_ASYNC or not; with O_ASYNC and
 * F_SETSIG, POLL_PRI and POLL_IN besides. */
static void urgent(void)
{
    block(SIGURG);
    block(SIGRTMIN);
    int sockets[2];
    char byte;
    socketpair(AF_UNIX, SOCK_STREAM, 0, sockets);
    fcntl(sockets[0], F_SETOWN, getpid());
    printf("send MSG_OOB: %zd\n", send(sockets[1], "u", 1, MSG_OOB));
    drain("urgent data, no O_ASYNC", SIGURG, sockets[0]);
    recv(sockets[0], &byte, 1, MSG_OOB);
    make_async(sockets[0], SIGRTMIN);
    printf("send MSG_OOB: %zd\n", send(sockets[1], "v", 1, MSG_OOB));
    drain("urgent data, O_ASYNC", SIGURG, sockets[0]);
    drain("urgent data, F_SETSIG", SIGRTMIN, sockets[0]);
    int unowned[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, unowned);
    send(unowned[1], "w", 1, MSG_OOB);
    drain("urgent data, no owner", SIGURG, unowned[0]);
}

/* A pseudo-terminal: the master hears the replica's output, the replica a whole line (canonical
 * mode), and neither a hang-up (that is SIGHUP's, to the session). */
static void terminal(void)
{
    block(SIGRTMIN);
    char buffer[64];
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    grantpt(master);
    unlockpt(master);
    int replica = open(ptsname(master), O_RDWR | O_NOCTTY);
    make_async(master, SIGRTMIN);
    printf("write to the replica: %zd\n", write(replica, "x", 1));
    drain("master", SIGRTMIN, master);
    printf("read the master: %zd\n", read(master, buffer, sizeof buffer));
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) & ~O_ASYNC);
    make_async(replica, SIGRTMIN);
    printf("write part of a line to the master: %zd\n", write(master, "abc", 3));
    drain("replica, part of a line", SIGRTMIN, replica);
    printf("write its end: %zd\n", write(master, "\n", 1));
    drain("replica, a line", SIGRTMIN, replica);
    close(master);
    drain("replica, master closed", SIGRTMIN, replica);

    master = posix_openpt(O_RDWR | O_NOCTTY);
    grantpt(master);
    unlockpt(master);
    replica = open(ptsname(master), O_RDWR | O_NOCTTY);
    make_async(master, SIGRTMIN);
    close(replica);
    drain("master, replica closed", SIGRTMIN, master);
}

/* F_SETOWN -pgrp: every process of the group gets it. */
static void group(void)
{
    block(SIGIO);
    setpgid(0, 0);
    int pipes[2], ready[2];
    pipe(pipes);
    pipe(ready);
    fcntl(pipes[0], F_SETOWN, -getpgrp());
    fcntl(pipes[0], F_SETFL, O_ASYNC);
    pid_t child = fork();
    if (child == 0) {
        write(ready[1], "r", 1);
        drain("child of the group", SIGIO, pipes[0]);
        _exit(0);
    }
    char byte;
    read(ready[0], &byte, 1);
    write(pipes[1], "g", 1);
    int status;
    waitpid(child, &status, 0);
    drain("parent of the group", SIGIO, pipes[0]);
}

static void *other_thread(void *fd)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGIO);
    struct timespec brief = {0, 300 * 1000 * 1000};
    write(*(int *)fd, "t", 1);
    int got = sigtimedwait(&set, NULL, &brief);
    printf("the other thread takes: %d\n", got);
    return NULL;
}

/* F_SETOWN_EX F_OWNER_TID: the signal is that thread's alone. */
static void thread(void)
{
    block(SIGIO);
    int pipes[2];
    pipe(pipes);
    struct f_owner_ex owner = {F_OWNER_TID, (pid_t)syscall(SYS_gettid)};
    fcntl(pipes[0], F_SETOWN_EX, &owner);
    fcntl(pipes[0], F_SETFL, O_ASYNC);
    pthread_t other;
    pthread_create(&other, NULL, other_thread, &pipes[1]);
    pthread_join(other, NULL);
    drain("the owning thread", SIGIO, pipes[0]);
}

/* sigio_perm: a signal goes only where the process that set the owner could send it. */
static void permission(void)
{
    block(SIGIO);
    int pipes[2];
    pipe(pipes);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        if (setresuid(1000, 1000, 1000) < 0)
            _exit(1);
        fcntl(pipes[0], F_SETOWN, parent);
        fcntl(pipes[0], F_SETFL, O_ASYNC);
        write(pipes[1], "p", 1);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    printf("child status %d\n", status);
    drain("root, owner set by uid 1000", SIGIO, pipes[0]);
    char byte;
    read(pipes[0], &byte, 1);
    fcntl(pipes[0], F_SETOWN, getpid());
    write(pipes[1], "q", 1);
    drain("root, owner set by root", SIGIO, pipes[0]);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *which = argc > 1 ? argv[1] : "";
    if (!strcmp(which, "handler"))
        handler();
    else if (!strcmp(which, "reasons"))
        reasons();
    else if (!strcmp(which, "urgent"))
        urgent();
    else if (!strcmp(which, "terminal"))
        terminal();
    else if (!strcmp(which, "group"))
        group();
    else if (!strcmp(which, "thread"))
        thread();
    else if (!strcmp(which, "permission"))
        permission();
    else
        return 2;
    return 0;
}
