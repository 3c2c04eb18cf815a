/* Advisory locks between processes: fcntl POSIX and OFD record locks, and flock. argv[1]: the file. */
#include "check.h"
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/wait.h>

static struct flock range(short type, off_t start, off_t len) {
    struct flock l = {0};
    l.l_type = type; l.l_whence = SEEK_SET; l.l_start = start; l.l_len = len;
    return l;
}

static void on_alarm(int sig) { (void)sig; }

static void show(const char *what, struct flock *l) {
    printf("%s: type=%d start=%ld len=%ld pid=%s\n", what, l->l_type, (long)l->l_start, (long)l->l_len,
           l->l_type == F_UNLCK ? "-" : l->l_pid == getpid() ? "self" : l->l_pid == getppid() ? "parent" : l->l_pid == -1 ? "-1" : "other");
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/tmp/locked";
    int fd = open(path, O_RDWR | O_CREAT, 0644), sync[2], status;
    char byte;
    struct flock l;
    T(write(fd, "0123456789", 10) == 10);
    T(pipe(sync));

    l = range(F_WRLCK, 0, 5); T(fcntl(fd, F_SETLK, &l));
    l = range(F_RDLCK, 5, 0); T(fcntl(fd, F_SETLK, &l));
    l = range(F_WRLCK, 0, 0); T(fcntl(fd, F_GETLK, &l)); show("own locks never conflict", &l);
    int ro = open(path, O_RDONLY);
    l = range(F_WRLCK, 0, 1); T(fcntl(ro, F_SETLK, &l));  /* EBADF: a write lock needs a writable fd */
    l = range(9, 0, 1); T(fcntl(fd, F_SETLK, &l));
    l = range(F_WRLCK, 0, 1); l.l_pid = 1; T(fcntl(fd, F_OFD_SETLK, &l));

    pid_t child = fork();
    if (child == 0) {
        int cfd = open(path, O_RDWR);
        l = range(F_WRLCK, 0, 0); T(fcntl(cfd, F_GETLK, &l)); show("child sees", &l);
        l = range(F_WRLCK, 6, 2); T(fcntl(cfd, F_GETLK, &l)); show("child sees at 6", &l);
        l = range(F_RDLCK, 6, 2); T(fcntl(cfd, F_GETLK, &l)); show("read vs read", &l);
        l = range(F_WRLCK, 7, 1); T(fcntl(cfd, F_SETLK, &l));
        l = range(F_RDLCK, 7, 1); T(fcntl(cfd, F_SETLK, &l));
        l = range(F_WRLCK, 2, 1); T(fcntl(cfd, F_OFD_SETLK, &l));
        T(flock(cfd, LOCK_EX | LOCK_NB));
        T(flock(cfd, LOCK_UN));
        write(sync[1], "a", 1);
        l = range(F_WRLCK, 0, 5); T(fcntl(cfd, F_SETLKW, &l));  /* until the parent's close */
        _exit(0);
    }
    read(sync[0], &byte, 1);
    close(open(path, O_RDONLY));  /* any close of the file drops this process's POSIX locks */
    T(waitpid(child, &status, 0) == child);
    printf("child status %d\n", status);
    l = range(F_WRLCK, 0, 0); T(fcntl(fd, F_GETLK, &l)); show("after the child's exit", &l);

    /* OFD locks belong to the description: two opens conflict even in one process. */
    int a = open(path, O_RDWR), b = open(path, O_RDWR);
    l = range(F_WRLCK, 0, 4); T(fcntl(a, F_OFD_SETLK, &l));
    l = range(F_RDLCK, 2, 1); T(fcntl(b, F_OFD_SETLK, &l));
    l = range(F_RDLCK, 2, 1); T(fcntl(b, F_OFD_GETLK, &l)); show("ofd holder", &l);
    l = range(F_WRLCK, 1, 1); T(fcntl(fd, F_SETLK, &l));
    int a2 = dup(a); close(a);
    l = range(F_RDLCK, 2, 1); T(fcntl(b, F_OFD_SETLK, &l));  /* a dup still holds it */
    close(a2);
    l = range(F_RDLCK, 2, 1); T(fcntl(b, F_OFD_SETLK, &l));
    close(b);

    /* flock: per description too, independent of record locks. */
    a = open(path, O_RDONLY); b = open(path, O_RDONLY);
    T(flock(a, LOCK_SH)); T(flock(b, LOCK_SH | LOCK_NB));
    T(flock(b, LOCK_EX | LOCK_NB));
    T(flock(a, LOCK_UN)); T(flock(b, LOCK_EX | LOCK_NB));
    if ((child = fork()) == 0) {
        int c = open(path, O_RDONLY);
        T(flock(c, LOCK_SH | LOCK_NB));
        T(flock(b, LOCK_UN));  /* the inherited description: its lock is shared with the parent */
        T(flock(c, LOCK_SH | LOCK_NB));
        _exit(0);
    }
    T(waitpid(child, &status, 0) == child);
    close(a); close(b);

    /* Two processes each waiting for the other: exactly one of them is told EDEADLK. */
    l = range(F_WRLCK, 0, 1); T(fcntl(fd, F_SETLK, &l));
    if ((child = fork()) == 0) {
        int cfd = open(path, O_RDWR);
        l = range(F_WRLCK, 1, 1); fcntl(cfd, F_SETLK, &l);
        write(sync[1], "b", 1);
        l = range(F_WRLCK, 0, 1);
        _exit(fcntl(cfd, F_SETLKW, &l) < 0 && errno == EDEADLK ? 1 : 0);
    }
    read(sync[0], &byte, 1);
    l = range(F_WRLCK, 1, 1);
    int mine = fcntl(fd, F_SETLKW, &l) < 0 && errno == EDEADLK;
    if (mine) { l = range(F_UNLCK, 0, 1); fcntl(fd, F_SETLK, &l); }
    T(waitpid(child, &status, 0) == child);
    printf("deadlocks reported: %d\n", mine + WEXITSTATUS(status));

    /* A signal ends the wait: EINTR without SA_RESTART (the parent holds the lock throughout). */
    l = range(F_WRLCK, 0, 0); T(fcntl(fd, F_SETLK, &l));
    fflush(stdout);
    if ((child = fork()) == 0) {
        int cfd = open(path, O_RDWR);
        struct sigaction sa = {0};
        sa.sa_handler = on_alarm;
        sigaction(SIGALRM, &sa, NULL);
        alarm(1);
        l = range(F_RDLCK, 3, 1); T(fcntl(cfd, F_SETLKW, &l));
        T(flock(cfd, LOCK_EX | LOCK_NB));
        _exit(0);
    }
    T(waitpid(child, &status, 0) == child);
    return 0;
}
