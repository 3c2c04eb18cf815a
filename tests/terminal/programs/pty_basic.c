/* A pseudo-terminal pair: posix_openpt, grantpt, unlockpt, ptsname, the slave's device node,
 * canonical input with echo and line editing, output processing, raw mode, and the ends of
 * each side. Everything read is printed escaped, so a difference shows byte by byte. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

/* Everything the other side has made readable: Linux's line discipline runs in a work queue,
 * so echo may arrive a little after the write that caused it; read until a quiet 300 ms. */
static void drain(int fd, const char *what) {
    char buf[1024];
    ssize_t total = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (total < (ssize_t)sizeof buf && poll(&p, 1, 300) > 0 && (p.revents & POLLIN)) {
        ssize_t n = read(fd, buf + total, sizeof buf - total);
        if (n <= 0) break;
        total += n;
    }
    if (total == 0) printf("%s: nothing (revents %#x)\n", what, p.revents); else show(what, buf, total);
}

static void try_read(int fd, const char *what, size_t size) {
    char buf[256];
    ssize_t n = read(fd, buf, size);
    if (n < 0) printf("%s: %s\n", what, strerror(errno)); else show(what, buf, n);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0) { perror("posix_openpt"); return 1; }
    struct stat st;
    fstat(master, &st);
    printf("ptmx: chr %d major %u minor %u\n", S_ISCHR(st.st_mode), major(st.st_rdev), minor(st.st_rdev));
    struct pollfd p = {master, POLLIN | POLLOUT, 0};
    poll(&p, 1, 0);
    printf("master before slave open: revents %#x\n", p.revents);
    char *name = ptsname(master);
    int locked = -1;
    ioctl(master, TIOCGPTLCK, &locked);
    printf("locked %d\n", locked);
    int early = open(name, O_RDWR | O_NOCTTY);
    printf("open while locked: %s\n", early < 0 ? strerror(errno) : "opened");
    if (grantpt(master) || unlockpt(master)) { perror("grantpt/unlockpt"); return 1; }
    ioctl(master, TIOCGPTLCK, &locked);
    printf("locked after unlockpt %d, name starts /dev/pts/: %d\n", locked, strncmp(name, "/dev/pts/", 9) == 0);
    int slave = open(name, O_RDWR | O_NOCTTY);
    if (slave < 0) { perror("open slave"); return 1; }
    fstat(slave, &st);
    printf("slave: chr %d major %u mode %o gid %u isatty %d\n", S_ISCHR(st.st_mode), major(st.st_rdev),
           st.st_mode & 07777, st.st_gid, isatty(slave));
    printf("slave minor matches ptsname: %d\n", (int)minor(st.st_rdev) == atoi(name + 9));

    struct termios t;
    tcgetattr(slave, &t);
    printf("default iflag %#o oflag %#o lflag %#o cflag-csize %#o VINTR %d VEOF %d VERASE %d VMIN %d\n",
           t.c_iflag, t.c_oflag, t.c_lflag, t.c_cflag & CSIZE, t.c_cc[VINTR], t.c_cc[VEOF], t.c_cc[VERASE], t.c_cc[VMIN]);

    /* Canonical input: nothing readable until the line ends; echo goes back to the master. */
    write(master, "hel", 3);
    int avail = -1;
    ioctl(slave, FIONREAD, &avail);
    printf("FIONREAD mid-line %d\n", avail);
    p = (struct pollfd){slave, POLLIN, 0};
    poll(&p, 1, 0);
    printf("slave mid-line revents %#x\n", p.revents);
    write(master, "lx\x7fo\r", 5);
    drain(master, "echo");
    try_read(slave, "slave line", 100);
    /* A line read in two parts; ^U kills a line; ^D ends a read with what is there. */
    write(master, "abcdef\n", 7);
    try_read(slave, "part 1", 3);
    try_read(slave, "part 2", 100);
    write(master, "junk\x15ok\n", 8);
    drain(master, "echo 2");
    try_read(slave, "after kill", 100);
    write(master, "xy\x04", 3);
    try_read(slave, "eof mid-line", 100);
    write(master, "\x04", 1);
    try_read(slave, "eof alone", 100);
    drain(master, "echo 3");

    /* Output processing: \n becomes \r\n. */
    write(slave, "out\n", 4);
    drain(master, "output");
    ioctl(master, FIONREAD, &avail);
    printf("master FIONREAD after drain %d\n", avail);

    /* Window size. */
    struct winsize ws = {24, 80, 0, 0}, got;
    ioctl(master, TIOCSWINSZ, &ws);
    ioctl(slave, TIOCGWINSZ, &got);
    printf("winsize %d x %d\n", got.ws_row, got.ws_col);

    /* Raw mode: bytes as they come, no echo, no output processing. */
    cfmakeraw(&t);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    tcsetattr(slave, TCSANOW, &t);
    write(master, "a\rb\x03", 4);
    usleep(100000);
    try_read(slave, "raw", 100);
    write(slave, "x\ny", 3);
    drain(master, "raw output");
    drain(master, "raw echo");
    /* VMIN=0 VTIME=0: a read returns at once, with 0 when nothing is there. */
    t.c_cc[VMIN] = 0;
    tcsetattr(slave, TCSANOW, &t);
    try_read(slave, "min 0 empty", 100);
    /* VTIME: a read waits a tenth of a second per unit for a byte. */
    t.c_cc[VTIME] = 1;
    tcsetattr(slave, TCSANOW, &t);
    try_read(slave, "vtime empty", 100);

    int flags = fcntl(slave, F_GETFL);
    fcntl(slave, F_SETFL, flags | O_NONBLOCK);
    t.c_cc[VTIME] = 0;
    t.c_cc[VMIN] = 1;
    tcsetattr(slave, TCSANOW, &t);
    try_read(slave, "nonblocking empty", 100);
    fcntl(slave, F_SETFL, flags);

    /* The slave closed: the master reads EIO and polls POLLHUP. */
    close(slave);
    p = (struct pollfd){master, POLLIN, 0};
    poll(&p, 1, 0);
    printf("master after slave close: revents %#x\n", p.revents);
    try_read(master, "master after slave close", 100);
    /* The master closed: the slave (reopened before) reads 0 and writes EIO. */
    slave = open(name, O_RDWR | O_NOCTTY);
    close(master);
    p = (struct pollfd){slave, POLLIN | POLLOUT, 0};
    poll(&p, 1, 0);
    printf("slave after master close: revents %#x\n", p.revents);
    try_read(slave, "slave after master close", 100);
    ssize_t wrote = write(slave, "z", 1);
    printf("write after hangup: %zd %s\n", wrote, strerror(errno));
    printf("reopen after master close: %s\n", open(name, O_RDWR | O_NOCTTY) < 0 ? strerror(errno) : "opened");
    return 0;
}
