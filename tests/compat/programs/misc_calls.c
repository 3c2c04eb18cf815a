/* Calls real programs make that need little of a sandbox: utime, readahead, fadvise64,
 * sync_file_range, fchmodat2, chroot, ioprio_*, syslog, the clock setters, adjtimex, the NUMA
 * memory policies, protection keys and mseal, with their error cases.
 * Usage: misc_calls CASE (see main). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>
#include <sys/wait.h>

static void show(const char *what, long ret)
{
    if (ret < 0)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: %ld\n", what, ret);
    fflush(stdout);
}

static char name[64];

static void files(void)
{
    snprintf(name, sizeof name, "/tmp/misc.%d", (int)getpid());
    int fd = open(name, O_CREAT | O_RDWR | O_EXCL, 0644);
    show("write", write(fd, "0123456789", 10));
    struct utimbuf times = {1000000000, 1200000000};
    show("utime", utime(name, &times));
    struct stat st;
    stat(name, &st);
    printf("times: %ld %ld\n", (long)st.st_atime, (long)st.st_mtime);
    show("utime now", utime(name, NULL));
    show("utime missing", utime("/tmp/no-such-file", NULL));
    show("readahead", readahead(fd, 0, 4096));
    show("readahead bad fd", readahead(99, 0, 4096));
    int wr = open(name, O_WRONLY);
    show("readahead write-only", readahead(wr, 0, 4096));
    close(wr);
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    show("readahead directory", readahead(dir, 0, 4096));
    int p[2];
    pipe(p);
    show("readahead pipe", readahead(p[0], 0, 4096));
    show("fadvise", syscall(SYS_fadvise64, fd, 0, 0, POSIX_FADV_DONTNEED));
    show("fadvise bad advice", syscall(SYS_fadvise64, fd, 0, 0, 9));
    show("fadvise negative length", syscall(SYS_fadvise64, fd, 0, -1, POSIX_FADV_NORMAL));
    show("fadvise pipe", syscall(SYS_fadvise64, p[0], 0, 0, POSIX_FADV_NORMAL));
    show("fadvise bad fd", syscall(SYS_fadvise64, 99, 0, 0, POSIX_FADV_NORMAL));
    show("sync_file_range", sync_file_range(fd, 0, 10, SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER));
    show("sync_file_range bad flags", sync_file_range(fd, 0, 10, 8));
    show("sync_file_range negative", sync_file_range(fd, -1, 10, 0));
    show("sync_file_range pipe", sync_file_range(p[1], 0, 10, 0));
    show("sync_file_range bad fd", sync_file_range(99, 0, 10, 0));
    show("fchmodat2", syscall(452, AT_FDCWD, name, 0600, 0));
    stat(name, &st);
    printf("mode: %o\n", st.st_mode & 07777);
    char link[80];
    snprintf(link, sizeof link, "%s.link", name);
    symlink(name, link);
    show("fchmodat2 nofollow of a symlink", syscall(452, AT_FDCWD, link, 0600, AT_SYMLINK_NOFOLLOW));
    show("fchmodat2 nofollow of a file", syscall(452, AT_FDCWD, name, 0640, AT_SYMLINK_NOFOLLOW));
    show("fchmodat2 bad flags", syscall(452, AT_FDCWD, name, 0600, 1));
    show("fchmodat2 empty path", syscall(452, fd, "", 0604, AT_EMPTY_PATH));
    stat(name, &st);
    printf("mode: %o\n", st.st_mode & 07777);
    unlink(link);
    unlink(name);
}

static void privileged(void)
{
    show("ioprio_get default", syscall(SYS_ioprio_get, 1, 0));
    show("ioprio_set BE 3", syscall(SYS_ioprio_set, 1, 0, (2 << 13) | 3));
    show("ioprio_get", syscall(SYS_ioprio_get, 1, 0));
    show("ioprio_set RT", syscall(SYS_ioprio_set, 1, 0, (1 << 13) | 3));
    show("ioprio_set NONE with data", syscall(SYS_ioprio_set, 1, 0, 3));
    show("ioprio_set class 5", syscall(SYS_ioprio_set, 1, 0, 5 << 13));
    show("ioprio_set bad which", syscall(SYS_ioprio_set, 9, 0, 2 << 13));
    show("ioprio_set missing pid", syscall(SYS_ioprio_set, 1, 999999, 2 << 13));
    show("ioprio_set NONE", syscall(SYS_ioprio_set, 1, 0, 0));
    show("ioprio_get NONE follows nice", syscall(SYS_ioprio_get, 1, 0));
    show("ioprio_set IDLE", syscall(SYS_ioprio_set, 1, 0, 3 << 13));
    show("ioprio_get IDLE", syscall(SYS_ioprio_get, 1, 0));
    char buf[64];
    show("syslog size", syscall(SYS_syslog, 10, NULL, 0));
    show("syslog read all", syscall(SYS_syslog, 3, buf, sizeof buf));
    struct timeval tv = {1, 0};
    show("settimeofday", settimeofday(&tv, NULL));
    tv.tv_usec = 2000000;
    show("settimeofday bad usec", settimeofday(&tv, NULL));
    struct timespec ts = {1, 0};
    show("clock_settime REALTIME", clock_settime(CLOCK_REALTIME, &ts));
    show("clock_settime MONOTONIC", clock_settime(CLOCK_MONOTONIC, &ts));
    show("clock_settime CPU", clock_settime(CLOCK_PROCESS_CPUTIME_ID, &ts));
    show("clock_settime bad clock", clock_settime(77, &ts));
    ts.tv_nsec = -1;
    show("clock_settime bad nsec", clock_settime(CLOCK_REALTIME, &ts));
    show("clock_settime bad pointer", syscall(SYS_clock_settime, CLOCK_REALTIME, (void *)8));
    struct timex tx = {0};
    long state = adjtimex(&tx);
    printf("adjtimex query: %s tick %ld\n", state >= 0 ? "ok" : strerrorname_np(errno), (long)tx.tick);
    tx.modes = ADJ_FREQUENCY;
    show("adjtimex set frequency", adjtimex(&tx));
    memset(&tx, 0, sizeof tx);
    tx.modes = ADJ_OFFSET_SS_READ;
    printf("adjtimex adjtime read: %s\n", adjtimex(&tx) >= 0 ? "ok" : strerrorname_np(errno));
    memset(&tx, 0, sizeof tx);
    show("clock_adjtime MONOTONIC", clock_adjtime(CLOCK_MONOTONIC, &tx));
    show("clock_adjtime bad clock", clock_adjtime(77, &tx));
    printf("clock_adjtime REALTIME: %s\n", clock_adjtime(CLOCK_REALTIME, &tx) >= 0 ? "ok" : strerrorname_np(errno));
}

static void numa(void)
{
    int mode = -1;
    unsigned long mask[2] = {0, 0};
    show("get_mempolicy", syscall(SYS_get_mempolicy, &mode, mask, 128, 0, 0));
    printf("mode %d mask %lx\n", mode, mask[0]);
    show("get_mempolicy mems allowed", syscall(SYS_get_mempolicy, &mode, mask, 128, 0, 4));
    printf("mode %d mask %lx\n", mode, mask[0]);
    show("get_mempolicy bad flags", syscall(SYS_get_mempolicy, &mode, mask, 128, 0, 8));
    show("get_mempolicy node without interleave", syscall(SYS_get_mempolicy, &mode, NULL, 0, 0, 1));
    static unsigned char masks[4096];
    memset(masks, 0xff, sizeof masks);
    show("get_mempolicy a page of mask", syscall(SYS_get_mempolicy, &mode, masks, 4096 * 8 + 1, 0, 0));
    long ones = 0;
    for (size_t i = 0; i < sizeof masks; i++)
        ones += __builtin_popcount(masks[i]);
    printf("bits left set: %ld\n", ones);  /* all but the nodes' first long is cleared */
    show("get_mempolicy past a page of mask", syscall(SYS_get_mempolicy, &mode, masks, 4096 * 8 + 65, 0, 0));
    show("get_mempolicy a huge maxnode", syscall(SYS_get_mempolicy, &mode, masks, 1UL << 40, 0, 0));
    mask[0] = 1;
    show("set_mempolicy BIND node 0", syscall(SYS_set_mempolicy, 2, mask, 65));
    show("get_mempolicy after", syscall(SYS_get_mempolicy, &mode, mask, 128, 0, 0));
    printf("mode %d mask %lx\n", mode, mask[0]);
    mask[0] = 2;
    show("set_mempolicy BIND node 1", syscall(SYS_set_mempolicy, 2, mask, 65));
    show("set_mempolicy BIND empty", syscall(SYS_set_mempolicy, 2, NULL, 0));
    show("set_mempolicy DEFAULT with a mask", syscall(SYS_set_mempolicy, 0, mask, 65));
    show("set_mempolicy bad mode", syscall(SYS_set_mempolicy, 9, NULL, 0));
    mask[0] = 1;
    show("set_mempolicy INTERLEAVE", syscall(SYS_set_mempolicy, 3, mask, 65));
    show("get_mempolicy next interleave node", syscall(SYS_get_mempolicy, &mode, NULL, 0, 0, 1));
    printf("node %d\n", mode);
    show("set_mempolicy PREFERRED empty", syscall(SYS_set_mempolicy, 1, NULL, 0));
    show("get_mempolicy after", syscall(SYS_get_mempolicy, &mode, mask, 128, 0, 0));
    printf("mode %d mask %lx\n", mode, mask[0]);
    show("set_mempolicy DEFAULT", syscall(SYS_set_mempolicy, 0, NULL, 0));
    char *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    page[0] = 1;
    show("get_mempolicy of an address", syscall(SYS_get_mempolicy, &mode, NULL, 0, page, 2));
    printf("mode %d\n", mode);
    show("get_mempolicy of an unmapped address", syscall(SYS_get_mempolicy, &mode, NULL, 0, 16, 2));
    mask[0] = 1;
    show("mbind", syscall(SYS_mbind, page, 8192, 2, mask, 65, 0));
    show("mbind unaligned", syscall(SYS_mbind, page + 1, 8192, 2, mask, 65, 0));
    show("mbind bad flags", syscall(SYS_mbind, page, 8192, 2, mask, 65, 64));
    show("mbind unmapped", syscall(SYS_mbind, 4096, 8192, 2, mask, 65, 0));
    void *addrs[2] = {page, (void *)4096};
    int status[2] = {9, 9};
    show("move_pages query", syscall(SYS_move_pages, 0, 2, addrs, NULL, status, 0));
    printf("status %d %d\n", status[0], status[1]);
    int nodes[2] = {1, 0};
    show("move_pages to node 1", syscall(SYS_move_pages, 0, 1, addrs, nodes, status, 0));
    show("move_pages bad flags", syscall(SYS_move_pages, 0, 1, addrs, NULL, status, 16));
    unsigned long old = 1, new = 1;
    show("migrate_pages", syscall(SYS_migrate_pages, 0, 65, &old, &new));
    show("set_mempolicy_home_node", syscall(450, page, 8192, 0, 0));
    show("set_mempolicy_home_node node 1", syscall(450, page, 8192, 1, 0));
    show("set_mempolicy_home_node flags", syscall(450, page, 8192, 0, 1));
}

static void keys(void)
{
    show("pkey_alloc", syscall(SYS_pkey_alloc, 0, 0));
    show("pkey_alloc bad flags", syscall(SYS_pkey_alloc, 1, 0));
    show("pkey_alloc bad rights", syscall(SYS_pkey_alloc, 0, 4));
    show("pkey_free", syscall(SYS_pkey_free, 1));
    char *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    show("pkey_mprotect -1", syscall(SYS_pkey_mprotect, page, 4096, PROT_READ, -1));
    show("pkey_mprotect 1", syscall(SYS_pkey_mprotect, page, 4096, PROT_READ, 1));
    show("mseal", syscall(462, page, 8192, 0));
    show("mseal flags", syscall(462, page, 8192, 1));
    show("mseal unaligned", syscall(462, page + 1, 4096, 0));
    show("mseal zero length", syscall(462, page, 0, 0));
    show("mseal a hole", syscall(462, 4096, 4096, 0));
}

static void do_chroot(void)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/jail.%d", (int)getpid());
    show("mkdir", mkdir(dir, 0755));
    char inner[96];
    snprintf(inner, sizeof inner, "%s/inside", dir);
    close(open(inner, O_CREAT | O_WRONLY, 0644));
    show("chroot missing", chroot("/tmp/no-such-dir"));
    show("chroot a file", chroot(inner));
    pid_t child = fork();
    if (child > 0) {
        waitpid(child, NULL, 0);
        unlink(inner);
        show("rmdir", rmdir(dir));
        return;
    }
    long r = chroot(dir);
    show("chroot", r);
    if (r == 0) {
        char outside[128] = "";  /* the cwd, left above the new root: the kernel marks it unreachable */
        long length = syscall(SYS_getcwd, outside, sizeof outside);
        outside[13] = 0;  /* what follows is the host's path natively, the sandbox's here */
        printf("raw getcwd outside: %s %s\n", length > 0 ? "ok" : "fails", length > 0 ? outside : strerrorname_np(errno));
        printf("getcwd outside: %s\n", getcwd(outside, sizeof outside) ? outside : strerrorname_np(errno));
        show("chdir /", chdir("/"));
        show("access /inside", access("/inside", F_OK));
        show("access /bin", access("/bin", F_OK));
        show("chdir ..", chdir(".."));
        char cwd[128];
        printf("cwd: %s\n", getcwd(cwd, sizeof cwd) ? cwd : strerrorname_np(errno));
    }
    fflush(stdout);
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    if (!strcmp(argv[1], "files"))
        files();
    else if (!strcmp(argv[1], "privileged"))
        privileged();
    else if (!strcmp(argv[1], "numa"))
        numa();
    else if (!strcmp(argv[1], "keys"))
        keys();
    else if (!strcmp(argv[1], "chroot"))
        do_chroot();
    else
        return 2;
    return 0;
}
