/* inotify(7), scenario by scenario, in a fresh directory under argv[1]: every event read is
 * printed (wd, mask names, len, name; whether a rename's cookies match, never the cookie), and
 * every error by its errno name. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/sendfile.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[4096];

static const char *errname(int e) {
    switch (e) {
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EAGAIN: return "EAGAIN";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case ENOSPC: return "ENOSPC";
    case EMFILE: return "EMFILE";
    default: return "E?";
    }
}

#define CHECK(label, expr) do { long r_ = (long)(expr); \
    if (r_ < 0) printf("%s: -1 %s\n", label, errname(errno)); else printf("%s: %ld\n", label, r_); } while (0)

static char *at(const char *name) {
    static char paths[8][4200];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 4200, "%s/%s", dir, name);
    return p;
}

static void masknames(unsigned m, char *out) {
    static const struct { unsigned bit; const char *name; } names[] = {
        {IN_ACCESS, "ACCESS"}, {IN_MODIFY, "MODIFY"}, {IN_ATTRIB, "ATTRIB"},
        {IN_CLOSE_WRITE, "CLOSE_WRITE"}, {IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"}, {IN_OPEN, "OPEN"},
        {IN_MOVED_FROM, "MOVED_FROM"}, {IN_MOVED_TO, "MOVED_TO"}, {IN_CREATE, "CREATE"},
        {IN_DELETE, "DELETE"}, {IN_DELETE_SELF, "DELETE_SELF"}, {IN_MOVE_SELF, "MOVE_SELF"},
        {IN_UNMOUNT, "UNMOUNT"}, {IN_Q_OVERFLOW, "Q_OVERFLOW"}, {IN_IGNORED, "IGNORED"},
        {IN_ISDIR, "ISDIR"},
    };
    out[0] = 0;
    for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (m & names[i].bit) {
            if (out[0]) strcat(out, "|");
            strcat(out, names[i].name);
            m &= ~names[i].bit;
        }
    }
    if (m) sprintf(out + strlen(out), "|0x%x", m);
}

static unsigned last_cookie;

/* Print every queued event (fd non-blocking). */
static void drain(int fd, const char *label) {
    char buf[8192] __attribute__((aligned(8)));
    printf("%s:\n", label);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno != EAGAIN) printf("  read: -1 %s\n", errname(errno));
            return;
        }
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            char names[256];
            masknames(e->mask, names);
            printf("  wd=%d %s len=%u name=%s", e->wd, names, e->len, e->len ? e->name : "");
            if (e->mask & IN_MOVED_FROM) last_cookie = e->cookie;
            if (e->mask & IN_MOVED_TO) printf(" cookie %s", e->cookie == last_cookie && e->cookie ? "matches" : "differs");
            if (e->mask & (IN_MOVED_FROM | IN_MOVED_TO)) { if (!e->cookie) printf(" cookie zero"); }
            else if (e->cookie) printf(" cookie nonzero");
            printf("\n");
            p += sizeof *e + e->len;
        }
    }
}

static int instance(void) {
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) { perror("inotify_init1"); exit(1); }
    return fd;
}

static void put(const char *path, const char *text) {
    int f = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (write(f, text, strlen(text)) < 0) perror("write");
    close(f);
}

static void file_events(void) {
    int in = instance();
    mkdir(at("d"), 0755);
    put(at("d/f"), "hello");
    CHECK("watch d", inotify_add_watch(in, at("d"), IN_ALL_EVENTS));
    CHECK("watch f", inotify_add_watch(in, at("d/f"), IN_ALL_EVENTS));
    int f = open(at("d/f"), O_RDWR);
    char c[4];
    if (write(f, "x", 1) != 1) perror("write");
    lseek(f, 0, SEEK_SET);
    for (int i = 0; i < 3; i++)  /* 4 bytes, 1 byte, then nothing (no event) */
        if (read(f, c, 4) < 0) perror("read");
    fchmod(f, 0600);
    close(f);
    drain(in, "open, write, read, fchmod, close");
    f = open(at("d/f"), O_RDONLY);
    close(f);
    truncate(at("d/f"), 2);
    struct timespec times[2] = {{1, 0}, {2, 0}};
    utimensat(AT_FDCWD, at("d/f"), times, 0);
    times[0].tv_nsec = UTIME_OMIT;
    utimensat(AT_FDCWD, at("d/f"), times, 0);
    chown(at("d/f"), -1, -1);
    chown(at("d/f"), getuid(), -1);
    drain(in, "open read-only, truncate, utimensat, chown");
    link(at("d/f"), at("d/g"));
    unlink(at("d/g"));
    f = open(at("d/f"), O_WRONLY | O_TRUNC);
    close(f);
    drain(in, "link, unlink a second name, O_TRUNC");
    unlink(at("d/f"));
    drain(in, "unlink the last name of a watched file");
    rmdir(at("d"));
    drain(in, "rmdir the watched directory");
    close(in);
}

static void unlinked_while_open(void) {
    int in = instance();
    mkdir(at("u"), 0755);
    int f = open(at("u/f"), O_RDWR | O_CREAT, 0644);
    int path = open(at("u/f"), O_PATH);
    CHECK("watch u", inotify_add_watch(in, at("u"), IN_ALL_EVENTS));
    CHECK("watch f", inotify_add_watch(in, at("u/f"), IN_ALL_EVENTS));
    unlink(at("u/f"));
    drain(in, "unlink an open file");
    if (write(f, "x", 1) < 0) perror("write");
    close(f);
    drain(in, "write and close: one O_PATH fd still holds it");
    close(path);
    drain(in, "close the O_PATH fd");
    rmdir(at("u"));
    drain(in, "rmdir");
    close(in);
}

static void directory_events(void) {
    int in = instance();
    mkdir(at("e"), 0755);
    CHECK("watch e", inotify_add_watch(in, at("e"), IN_ALL_EVENTS));
    mkdir(at("e/sub"), 0755);
    CHECK("watch sub", inotify_add_watch(in, at("e/sub"), IN_ALL_EVENTS));
    DIR *d = opendir(at("e/sub"));
    while (readdir(d)) {}
    closedir(d);
    drain(in, "mkdir, opendir, readdir, closedir");
    symlink("target", at("e/link"));
    mkfifo(at("e/fifo"), 0644);
    int reader = open(at("e/fifo"), O_RDONLY | O_NONBLOCK), writer = open(at("e/fifo"), O_WRONLY | O_NONBLOCK);
    char byte;
    if (write(writer, "x", 1) < 0 || read(reader, &byte, 1) < 0) perror("fifo");
    close(writer);
    close(reader);
    drain(in, "a FIFO opened, written, read, closed");
    CHECK("watch link itself", inotify_add_watch(in, at("e/link"), IN_ALL_EVENTS | IN_DONT_FOLLOW));
    CHECK("watch link followed", inotify_add_watch(in, at("e/link"), IN_ALL_EVENTS));
    unlink(at("e/link"));
    unlink(at("e/fifo"));
    drain(in, "symlink, mkfifo, unlink both");
    rmdir(at("e/sub"));
    drain(in, "rmdir a watched subdirectory");
    rmdir(at("e"));
    close(in);
}

static void renames(void) {
    int in = instance();
    mkdir(at("r1"), 0755);
    mkdir(at("r2"), 0755);
    put(at("r1/a"), "a");
    put(at("r2/old"), "old");
    CHECK("watch r1", inotify_add_watch(in, at("r1"), IN_ALL_EVENTS));
    CHECK("watch r2", inotify_add_watch(in, at("r2"), IN_ALL_EVENTS));
    CHECK("watch a", inotify_add_watch(in, at("r1/a"), IN_ALL_EVENTS));
    CHECK("watch old", inotify_add_watch(in, at("r2/old"), IN_ALL_EVENTS));
    rename(at("r1/a"), at("r1/b"));
    drain(in, "rename within a directory");
    rename(at("r1/b"), at("r2/old"));
    drain(in, "rename across directories over a watched file");
    mkdir(at("r1/sub"), 0755);
    rename(at("r1/sub"), at("r2/sub"));
    drain(in, "rename a directory");
    mkdir(at("r1/d1"), 0755);
    mkdir(at("r2/d2"), 0755);
    CHECK("watch d1", inotify_add_watch(in, at("r1/d1"), IN_ALL_EVENTS));
    CHECK("watch d2", inotify_add_watch(in, at("r2/d2"), IN_ALL_EVENTS));
    rename(at("r1/d1"), at("r2/d2"));
    drain(in, "rename a watched directory over a watched empty one");
    rmdir(at("r2/d2"));
    put(at("r1/x"), "x");
    CHECK("watch x", inotify_add_watch(in, at("r1/x"), IN_ALL_EVENTS));
    CHECK("exchange", syscall(SYS_renameat2, AT_FDCWD, at("r1/x"), AT_FDCWD, at("r2/old"), 2 /* RENAME_EXCHANGE */));
    drain(in, "exchange two files");
    unlink(at("r1/x"));
    rmdir(at("r2/sub"));
    unlink(at("r2/old"));
    rmdir(at("r1"));
    rmdir(at("r2"));
    drain(in, "cleanup");
    close(in);
}

static void watch_flags(void) {
    int in = instance();
    put(at("w"), "w");
    CHECK("oneshot", inotify_add_watch(in, at("w"), IN_MODIFY | IN_ONESHOT));
    int f = open(at("w"), O_WRONLY);
    if (write(f, "1", 1) < 0) perror("write");
    if (write(f, "2", 1) < 0) perror("write");
    close(f);
    drain(in, "IN_ONESHOT, two writes");
    CHECK("mask create", inotify_add_watch(in, at("w"), IN_MODIFY | IN_MASK_CREATE));
    CHECK("mask create again", inotify_add_watch(in, at("w"), IN_MODIFY | IN_MASK_CREATE));
    CHECK("same inode", inotify_add_watch(in, at("w"), IN_ATTRIB));
    link(at("w"), at("w2"));
    CHECK("hard link", inotify_add_watch(in, at("w2"), IN_OPEN | IN_MASK_ADD));
    drain(in, "watches set");
    f = open(at("w"), O_WRONLY);
    if (write(f, "3", 1) < 0) perror("write");
    fchmod(f, 0644);
    close(f);
    drain(in, "after IN_MASK_ADD of IN_OPEN to IN_ATTRIB");
    CHECK("rm_watch", inotify_rm_watch(in, 2));
    CHECK("rm_watch again", inotify_rm_watch(in, 2));
    CHECK("rm_watch unknown", inotify_rm_watch(in, 99));
    drain(in, "rm_watch");
    CHECK("add_watch mask 0", inotify_add_watch(in, at("w"), 0));
    CHECK("add_watch add|create", inotify_add_watch(in, at("w"), IN_MODIFY | IN_MASK_ADD | IN_MASK_CREATE));
    CHECK("add_watch onlydir", inotify_add_watch(in, at("w"), IN_MODIFY | IN_ONLYDIR));
    CHECK("add_watch missing", inotify_add_watch(in, at("nothing"), IN_MODIFY));
    CHECK("add_watch empty", inotify_add_watch(in, "", IN_MODIFY));
    CHECK("add_watch not inotify", inotify_add_watch(1, at("w"), IN_MODIFY));
    CHECK("add_watch closed fd", inotify_add_watch(99, at("w"), IN_MODIFY));
    CHECK("rm_watch not inotify", inotify_rm_watch(1, 1));
    CHECK("rm_watch closed fd", inotify_rm_watch(99, 1));
    CHECK("init1 bad flags", inotify_init1(IN_NONBLOCK | 1));
    chmod(at("w"), 0);
    CHECK("add_watch unreadable", inotify_add_watch(in, at("w"), IN_MODIFY));
    unlink(at("w2"));
    unlink(at("w"));
    close(in);
}

static void exclude_unlink(void) {
    int in = instance();
    mkdir(at("x"), 0755);
    put(at("x/kept"), "k");
    put(at("x/gone"), "g");
    CHECK("watch x excl_unlink", inotify_add_watch(in, at("x"), IN_MODIFY | IN_EXCL_UNLINK));
    int kept = open(at("x/kept"), O_WRONLY), gone = open(at("x/gone"), O_WRONLY);
    unlink(at("x/gone"));
    if (write(kept, "1", 1) < 0 || write(gone, "1", 1) < 0) perror("write");
    drain(in, "IN_EXCL_UNLINK: writes to a kept and an unlinked file");
    CHECK("watch x without", inotify_add_watch(in, at("x"), IN_MODIFY));
    if (write(gone, "2", 1) < 0) perror("write");
    drain(in, "without IN_EXCL_UNLINK");
    close(kept);
    close(gone);
    unlink(at("x/kept"));
    rmdir(at("x"));
    close(in);
}

static void reading(void) {
    int in = instance();
    mkdir(at("q"), 0755);
    CHECK("watch q", inotify_add_watch(in, at("q"), IN_CREATE | IN_MODIFY));
    char buf[64] __attribute__((aligned(8)));
    CHECK("read empty nonblocking", read(in, buf, sizeof buf));
    CHECK("write", write(in, buf, 16));
    CHECK("lseek", lseek(in, 0, SEEK_CUR));
    printf("F_GETFL 0%o\n", fcntl(in, F_GETFL) & ~O_LARGEFILE);

    int n = -1;
    CHECK("FIONREAD empty", ioctl(in, FIONREAD, &n));
    printf("FIONREAD: %d\n", n);
    put(at("q/a-name-longer-than-sixteen"), "1");
    put(at("q/b"), "2");
    CHECK("FIONREAD", ioctl(in, FIONREAD, &n));
    printf("FIONREAD: %d\n", n);
    CHECK("read into 16 bytes", read(in, buf, 16));
    CHECK("read into 31 bytes", read(in, buf, 31));
    CHECK("read into 64 bytes", read(in, buf, 64));
    drain(in, "the rest");
    int f = open(at("q/b"), O_WRONLY);
    for (int i = 0; i < 3; i++)
        if (write(f, "x", 1) < 0) perror("write");
    close(f);
    drain(in, "three writes unread: one event");

    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 7}, out;
    CHECK("epoll_ctl", epoll_ctl(ep, EPOLL_CTL_ADD, in, &ev));
    CHECK("epoll_wait nothing", epoll_wait(ep, &out, 1, 0));
    put(at("q/c"), "3");
    CHECK("epoll_wait event", epoll_wait(ep, &out, 1, 0));
    printf("epoll events 0x%x data %u\n", out.events, out.data.u32);
    drain(in, "after epoll");
    close(ep);

    int blocking = inotify_init();
    CHECK("watch q blocking", inotify_add_watch(blocking, at("q"), IN_DELETE));
    pid_t child = fork();
    if (child == 0) {
        usleep(100000);
        unlink(at("q/c"));
        _exit(0);
    }
    ssize_t got = read(blocking, buf, sizeof buf);
    struct inotify_event *e = (struct inotify_event *)buf;
    printf("blocking read: %zd bytes, mask 0x%x, name %s\n", got, e->mask, e->name);
    waitpid(child, NULL, 0);
    close(blocking);
    unlink(at("q/a-name-longer-than-sixteen"));
    unlink(at("q/b"));
    rmdir(at("q"));
    close(in);
}

static void copies(void) {
    int in = instance();
    put(at("src"), "copied bytes");
    put(at("dst"), "");
    CHECK("watch src", inotify_add_watch(in, at("src"), IN_ACCESS | IN_MODIFY));
    CHECK("watch dst", inotify_add_watch(in, at("dst"), IN_ACCESS | IN_MODIFY));
    int source = open(at("src"), O_RDONLY), sink = open(at("dst"), O_WRONLY);
    off_t offset = 0;
    CHECK("sendfile", sendfile(sink, source, &offset, 6));
    drain(in, "sendfile");
    CHECK("copy_file_range", copy_file_range(source, NULL, sink, NULL, 6, 0));
    drain(in, "copy_file_range");
    CHECK("sendfile from the description's offset", sendfile(sink, source, NULL, 6));
    drain(in, "sendfile from the description's offset");
    CHECK("sendfile at the end", sendfile(sink, source, NULL, 6));
    drain(in, "sendfile at the end of its source: nothing moved, no event");
    close(source);
    close(sink);
    unlink(at("src"));
    unlink(at("dst"));
    close(in);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(dir, sizeof dir, "%s/inotify-%d", argc > 1 ? argv[1] : "/tmp", (int)getpid());
    if (mkdir(dir, 0755) < 0) { perror("mkdir"); return 1; }
    const char *only = argc > 2 ? argv[2] : "";
    if (!*only || !strcmp(only, "files")) file_events();
    if (!*only || !strcmp(only, "unlinked")) unlinked_while_open();
    if (!*only || !strcmp(only, "dirs")) directory_events();
    if (!*only || !strcmp(only, "renames")) renames();
    if (!*only || !strcmp(only, "flags")) watch_flags();
    if (!*only || !strcmp(only, "excl")) exclude_unlink();
    if (!*only || !strcmp(only, "reading")) reading();
    if (!*only || !strcmp(only, "copies")) copies();
    if (rmdir(dir) < 0) perror("rmdir");
    return 0;
}
