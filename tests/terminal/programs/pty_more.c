/* More of a pseudo-terminal: openpty (TIOCGPTPEER), SIGWINCH from a master's TIOCSWINSZ, epoll
 * on both ends, non-blocking ends, ^C and ^W echoed, output flow control, the master's own
 * modes, /dev/pts's entries and its file system. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void show(const char *what, const char *buf, ssize_t n) {
    printf("%s: %zd \"", what, n);
    for (ssize_t i = 0; i < n; i++) {
        unsigned char c = buf[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') putchar(c); else printf("\\x%02x", c);
    }
    printf("\"\n");
}

static void drain(int fd, const char *what) {
    char buf[1024];
    ssize_t total = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (total < (ssize_t)sizeof buf && poll(&p, 1, 300) > 0 && (p.revents & POLLIN)) {
        ssize_t n = read(fd, buf + total, sizeof buf - total);
        if (n <= 0) break;
        total += n;
    }
    if (total == 0) printf("%s: nothing\n", what); else show(what, buf, total);
}

static volatile sig_atomic_t winched;
static void on_winch(int sig) { winched = sig; }

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int master, replica;
    char name[64];
    struct winsize ws = {30, 100, 0, 0};
    if (openpty(&master, &replica, name, NULL, &ws) < 0) { perror("openpty"); return 1; }
    struct winsize got;
    ioctl(replica, TIOCGWINSZ, &got);
    printf("openpty: %d x %d, isatty %d %d\n", got.ws_row, got.ws_col, isatty(master), isatty(replica));
    int peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    struct stat a, b;
    fstat(peer, &a);
    fstat(replica, &b);
    printf("TIOCGPTPEER: same device %d\n", peer >= 0 && a.st_rdev == b.st_rdev);
    close(peer);

    struct statfs fs;
    statfs("/dev/pts", &fs);
    printf("/dev/pts magic %#lx\n", (unsigned long)fs.f_type);
    DIR *dir = opendir("/dev/pts");
    int entries = 0, has_ptmx = 0, has_mine = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        entries++;
        has_ptmx |= strcmp(e->d_name, "ptmx") == 0;
        has_mine |= strcmp(e->d_name, name + 9) == 0;
    }
    closedir(dir);
    printf("/dev/pts has ptmx %d, mine %d\n", has_ptmx, has_mine);

    /* The master's own modes are raw and separate from the replica's. */
    struct termios mt, rt;
    tcgetattr(master, &mt);
    tcgetattr(replica, &rt);
    printf("master lflag %#o, replica lflag %#o\n", mt.c_lflag, rt.c_lflag);

    /* epoll on both ends. */
    int ep = epoll_create1(0);
    struct epoll_event ev = {EPOLLIN, {.fd = replica}};
    epoll_ctl(ep, EPOLL_CTL_ADD, replica, &ev);
    ev.data.fd = master;
    epoll_ctl(ep, EPOLL_CTL_ADD, master, &ev);
    struct epoll_event out[4];
    printf("epoll idle: %d\n", epoll_wait(ep, out, 4, 0));
    write(master, "go\n", 3);
    int n = epoll_wait(ep, out, 4, 1000);
    int seen_replica = 0, seen_master = 0;
    usleep(100000);
    n = epoll_wait(ep, out, 4, 0);
    for (int i = 0; i < n; i++) { seen_replica |= out[i].data.fd == replica; seen_master |= out[i].data.fd == master; }
    printf("epoll after input: replica %d, master (echo) %d\n", seen_replica, seen_master);
    char buf[256];
    show("line", buf, read(replica, buf, sizeof buf));
    drain(master, "echo");

    /* Non-blocking ends. */
    fcntl(master, F_SETFL, O_NONBLOCK);
    ssize_t got_bytes = read(master, buf, sizeof buf);
    printf("master empty read: %zd %s\n", got_bytes, strerror(errno));
    fcntl(master, F_SETFL, 0);

    /* ^W erases a word; ^C is echoed as ^C and flushes the line. */
    write(master, "one two\x17three\n", 14);
    show("after werase", buf, read(replica, buf, sizeof buf));
    drain(master, "werase echo");
    write(master, "lost\x03", 5);
    drain(master, "intr echo");
    write(master, "kept\n", 5);
    show("after intr", buf, read(replica, buf, sizeof buf));
    drain(master, "kept echo");

    /* Output stopped by ^S (a write to the replica then waits), started by ^Q. */
    write(master, "\x13", 1);
    usleep(100000);
    fcntl(replica, F_SETFL, O_NONBLOCK);
    got_bytes = write(replica, "held\n", 5);
    printf("write while stopped: %zd %s\n", got_bytes, strerror(errno));
    fcntl(replica, F_SETFL, 0);
    write(master, "\x11", 1);
    usleep(100000);
    write(replica, "flows\n", 6);
    drain(master, "after start");

    /* SIGWINCH: the foreground group of the replica's session learns of a resize. */
    int ready[2];
    pipe(ready);
    pid_t child = fork();
    if (child == 0) {
        close(master);
        setsid();
        ioctl(replica, TIOCSCTTY, 0);
        signal(SIGWINCH, on_winch);
        write(ready[1], "r", 1);
        for (int i = 0; i < 200 && !winched; i++) usleep(10000);
        struct winsize now;
        ioctl(replica, TIOCGWINSZ, &now);
        printf("child: %s, %d x %d\n", winched ? "SIGWINCH" : "no signal", now.ws_row, now.ws_col);
        _exit(0);
    }
    char c;
    read(ready[0], &c, 1);
    struct winsize bigger = {50, 132, 0, 0};
    ioctl(master, TIOCSWINSZ, &bigger);
    int status;
    waitpid(child, &status, 0);
    printf("child status %d\n", status);
    return 0;
}
