/*
 * cow MODE: private memory across fork stays private, shared memory stays shared, whatever
 * the two sides do to it. Prints what each side sees; natively and under Sentrio alike.
 *
 * Modes: same-pages, chain, vfork, mremap, thread, shared, read, dontneed, mprotect, file, many,
 * smaps (which needs /proc).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#define BIG (8u << 20)  /* well past what fork copies at once */

static uint64_t sum(const unsigned char *p, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i += 512)
        s = s * 31 + p[i];
    return s;
}

static unsigned char *fresh(size_t n, int fill)
{
    unsigned char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(fill + i / PAGE);
    return p;
}

static int wait_child(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        perror("waitpid");
        exit(1);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Parent and child write the same pages, in turn and then at once. */
static void same_pages(void)
{
    unsigned char *p = fresh(BIG, 1);
    uint64_t before = sum(p, BIG);
    int pipes[2][2];
    pipe(pipes[0]);
    pipe(pipes[1]);
    char token = 't';
    pid_t pid = fork();
    if (pid == 0) {
        memset(p, 0xc1, BIG / 2);                /* first half, before the parent writes */
        write(pipes[0][1], &token, 1);
        read(pipes[1][0], &token, 1);
        memset(p + BIG / 2, 0xc2, BIG / 2);      /* second half, after the parent wrote it */
        printf("child: %d %d %d\n", p[0], p[BIG / 2 + 17], p[BIG - 1]);
        _exit(p[BIG / 3] == 0xc1 ? 0 : 1);
    }
    read(pipes[0][0], &token, 1);
    memset(p + BIG / 4, 0x9a, BIG / 2);          /* overlaps both halves */
    write(pipes[1][1], &token, 1);
    int status = wait_child(pid);
    printf("parent: %d %d %d %d, child status %d\n", p[0], p[BIG / 4], p[BIG / 2 + 17], p[BIG - 1], status);
    p[0] = 5;                                    /* the last holder writes in place */
    memset(p + BIG / 4, 1, BIG / 2);
    for (size_t i = BIG / 4; i < 3 * BIG / 4; i++)
        p[i] = (unsigned char)(1 + i / PAGE);    /* back to what it was */
    p[0] = 1;
    printf("parent's memory as before the fork: %s\n", before == sum(p, BIG) ? "yes" : "no");
}

/* Three generations, each writing part of the same buffer. */
static void chain(void)
{
    unsigned char *p = fresh(BIG, 3);
    for (int level = 0; level < 3; level++) {
        pid_t pid = fork();
        if (pid != 0) {
            int status = wait_child(pid);
            printf("level %d: p[%d]=%d p[last]=%d child status %d\n", level, level * PAGE * 100,
                   p[level * PAGE * 100], p[BIG - 1], status);
            if (level > 0)
                _exit(level);
            return;
        }
        memset(p + (level + 1) * PAGE * 100 - PAGE, 0x40 + level, 3 * PAGE);
        p[BIG - 1] = (unsigned char)(0x50 + level);
    }
    printf("great-grandchild sees %d %d %d %d\n", p[PAGE * 100 - 1], p[2 * PAGE * 100 - 1], p[3 * PAGE * 100 - 1],
           p[BIG - 1]);
    _exit(7);
}

static volatile int vfork_seen;

/* vfork shares the memory outright, even memory copy-on-write since an earlier fork. */
static void do_vfork(void)
{
    unsigned char *p = fresh(BIG, 5);
    int go[2];
    pipe(go);
    pid_t first = fork();
    if (first == 0) {
        char token;
        read(go[0], &token, 1);  /* once the vfork child has written */
        printf("forked child still sees %d\n", p[100]);
        _exit(0);
    }
    pid_t pid = vfork();
    if (pid == 0) {
        vfork_seen = 42;
        p[100] = 99;
        _exit(3);
    }
    int status = wait_child(pid);
    printf("after vfork: seen %d, p[100] %d, status %d\n", vfork_seen, p[100], status);
    write(go[1], "x", 1);
    wait_child(first);
}

/* Memory moved and grown by mremap, then forked. */
static void do_mremap(void)
{
    unsigned char *p = fresh(BIG, 7);
    unsigned char *q = mremap(p, BIG, 2 * BIG, MREMAP_MAYMOVE);
    if (q == MAP_FAILED) {
        perror("mremap");
        exit(1);
    }
    memset(q + BIG, 0x77, BIG);
    pid_t pid = fork();
    if (pid == 0) {
        memset(q + BIG - PAGE, 0x11, 2 * PAGE);
        unsigned char *r = mremap(q, 2 * BIG, BIG, 0);  /* the child shrinks its copy */
        printf("child: %d %d %s\n", r[BIG - 1], r[0], r == q ? "in place" : "moved");
        _exit(0);
    }
    wait_child(pid);
    printf("parent: %d %d %d\n", q[BIG - 1], q[BIG], q[2 * BIG - 1]);
}

static unsigned char *thread_buffer;

static void *forking_thread(void *arg)
{
    (void)arg;
    pid_t pid = fork();
    if (pid == 0) {
        thread_buffer[0] = 0x21;
        printf("child of a thread: %d %d\n", thread_buffer[0], thread_buffer[BIG - 1]);
        fflush(stdout);
        _exit(0);
    }
    thread_buffer[BIG - 1] = 0x22;
    return (void *)(intptr_t)wait_child(pid);
}

/* fork from a second thread, while the first one writes too. */
static void thread(void)
{
    thread_buffer = fresh(BIG, 9);
    pthread_t t;
    pthread_create(&t, NULL, forking_thread, NULL);
    void *status;
    pthread_join(t, &status);
    printf("parent: %d %d status %d\n", thread_buffer[0], thread_buffer[BIG - 1], (int)(intptr_t)status);
}

/* MAP_SHARED|MAP_ANONYMOUS memory is the same memory on both sides. */
static void shared(void)
{
    unsigned char *s = mmap(NULL, BIG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    unsigned char *p = fresh(BIG, 2);
    memset(s, 1, BIG);
    pid_t pid = fork();
    if (pid == 0) {
        memset(s + PAGE, 0x33, BIG - PAGE);
        memset(p, 0x44, BIG);
        s[0] = p[PAGE];
        _exit(0);
    }
    wait_child(pid);
    printf("shared: %d %d %d, private: %d\n", s[0], s[PAGE], s[BIG - 1], p[PAGE]);
    pid = fork();
    if (pid == 0) {
        printf("second child sees %d\n", s[BIG / 2]);
        _exit(0);
    }
    wait_child(pid);
}

/* read() into copy-on-write pages: the kernel writes them, not the program. */
static void do_read(void)
{
    unsigned char *p = fresh(BIG, 4);
    int fds[2];
    pipe(fds);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[1]);
        size_t got = 0;
        ssize_t n;
        while (got < 3 * PAGE && (n = read(fds[0], p + PAGE - 10 + got, 3 * PAGE - got)) > 0)
            got += n;
        printf("child read %zu: %d %d %d\n", got, p[PAGE - 11], p[PAGE - 10], p[4 * PAGE - 11]);
        _exit(0);
    }
    close(fds[0]);
    unsigned char data[3 * PAGE];
    memset(data, 0xee, sizeof data);
    write(fds[1], data, sizeof data);
    close(fds[1]);
    wait_child(pid);
    printf("parent: %d %d %d\n", p[PAGE - 11], p[PAGE - 10], p[4 * PAGE - 11]);
    pipe(fds);  /* and the other way round: the parent reads into pages the child holds too */
    int done[2];
    pipe(done);
    pid = fork();
    if (pid == 0) {
        char token;
        read(done[0], &token, 1);
        printf("child still sees %d %d\n", p[2 * PAGE], p[5 * PAGE]);
        _exit(0);
    }
    write(fds[1], data, 4 * PAGE > sizeof data ? sizeof data : 4 * PAGE);
    read(fds[0], p + 2 * PAGE, sizeof data);
    write(done[1], "x", 1);
    wait_child(pid);
    printf("parent read: %d %d\n", p[2 * PAGE], p[5 * PAGE - 1]);
}

/* madvise(MADV_DONTNEED) after fork zeroes one side only. */
static void dontneed(void)
{
    unsigned char *p = fresh(BIG, 6);
    pid_t pid = fork();
    if (pid == 0) {
        madvise(p, BIG / 2, MADV_DONTNEED);
        printf("child: %d %d %d\n", p[0], p[BIG / 2 - 1], p[BIG / 2]);
        p[0] = 1;
        _exit(0);
    }
    wait_child(pid);
    printf("parent: %d %d %d\n", p[0], p[BIG / 2 - 1], p[BIG / 2]);
    madvise(p + BIG / 2, BIG / 2, MADV_DONTNEED);
    printf("parent after its own: %d %d\n", p[0], p[BIG - 1]);
}

static sigjmp_buf jump;

static void on_segv(int sig)
{
    (void)sig;
    siglongjmp(jump, 1);
}

/* A read-only page stays read-only after fork; PROT_WRITE given back keeps copy-on-write. */
static void do_mprotect(void)
{
    unsigned char *p = fresh(BIG, 8);
    mprotect(p, PAGE, PROT_READ);
    signal(SIGSEGV, on_segv);
    pid_t pid = fork();
    if (pid == 0) {
        if (sigsetjmp(jump, 1) == 0) {
            p[0] = 1;
            printf("child: wrote a read-only page!\n");
        } else {
            printf("child: read-only page faulted\n");
        }
        mprotect(p, 2 * PAGE, PROT_READ | PROT_WRITE);
        p[0] = 0x61;
        p[PAGE] = 0x62;
        mprotect(p, 2 * PAGE, PROT_READ);
        if (sigsetjmp(jump, 1) == 0) {
            p[PAGE] = 1;
            printf("child: wrote a page made read-only again!\n");
        } else {
            printf("child: copied page read-only again: %d %d\n", p[0], p[PAGE]);
        }
        _exit(0);
    }
    wait_child(pid);
    printf("parent: %d %d\n", p[0], p[PAGE]);
}

/* Many forks in a row, each child writing a little. */
static void many(void)
{
    unsigned char *p = fresh(BIG, 1);
    int failures = 0;
    for (int i = 0; i < 1000; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            p[(size_t)i * PAGE % BIG] = 0xff;
            _exit(p[(size_t)(i + 1) * PAGE % BIG] == (unsigned char)(1 + (i + 1) % (BIG / PAGE)) ? 0 : 1);
        }
        failures += wait_child(pid) != 0;
        p[(size_t)(i + 7) * PAGE % BIG] ^= 0;
    }
    printf("1000 forks, %d children saw wrong memory, parent sum %llu\n", failures,
           (unsigned long long)sum(p, BIG));
}

/* A MAP_PRIVATE mapping of a file: its pages are the process's own copy, across fork too. */
static void file(const char *self)
{
    int fd = open(self, O_RDONLY);
    unsigned char *m = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (fd < 0 || m == MAP_FAILED) {
        perror(self);
        exit(1);
    }
    m[0] = 'P';
    pid_t pid = fork();
    if (pid == 0) {
        printf("child sees %c%c%c%c\n", m[0], m[1], m[2], m[3]);
        m[1] = 'c';
        m[5 * PAGE] = 'c';
        printf("child wrote %c%c%c%c %c\n", m[0], m[1], m[2], m[3], m[5 * PAGE]);
        _exit(0);
    }
    wait_child(pid);
    char head[4];
    pread(fd, head, 4, 0);
    printf("parent sees %c%c%c%c %d, the file %c%c%c\n", m[0], m[1], m[2], m[3], m[5 * PAGE] == 'c', head[1], head[2],
           head[3]);
}

/* Private mappings of one file, in one process and across fork (the Sentry may back them all
 * with one copy of the file): each keeps its own writes, a new mapping sees the file's bytes,
 * and pages wholly past the end of the file fault with SIGBUS. */
static void file_copies(const char *self)
{
    int fd = open(self, O_RDONLY);
    off_t size = lseek(fd, 0, SEEK_END);
    unsigned char first[2];
    pread(fd, first, 2, PAGE);
    unsigned char *a = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    unsigned char *b = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, PAGE);
    if (fd < 0 || a == MAP_FAILED || b == MAP_FAILED) {
        perror(self);
        exit(1);
    }
    a[PAGE] = 'X';
    printf("a wrote X, b sees %s\n", b[0] == first[0] ? "the file" : "the write");
    pid_t pid = fork();
    if (pid == 0) {
        unsigned char *c = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, PAGE);
        printf("child: a %c, new mapping sees %s\n", a[PAGE], c[0] == first[0] ? "the file" : "the write");
        c[1] = 'C';
        a[PAGE + 1] = 'C';
        _exit(0);
    }
    wait_child(pid);
    mprotect(b, 2 * PAGE, PROT_READ | PROT_WRITE);
    b[0] = 'Y';
    printf("parent: a %c%s, b %c%s\n", a[PAGE], a[PAGE + 1] == first[1] ? " (file)" : " (child's!)", b[0],
           b[1] == first[1] ? " (file)" : " (child's!)");
    munmap(a, 4 * PAGE);
    a = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
    printf("mapped again: %s\n", a[PAGE] == first[0] && a[PAGE + 1] == first[1] ? "the file" : "a write");
    /* The last page of the file and the one after it: zeros past the end, then SIGBUS. */
    off_t last = (size - 1) / PAGE * PAGE;
    unsigned char *end = mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, last);
    int zeros = 1;
    for (off_t i = size - last; i < PAGE; i++)
        zeros &= end[i] == 0;
    signal(SIGBUS, on_segv);
    if (sigsetjmp(jump, 1) == 0)
        printf("past the end: %s, then read %d!\n", zeros ? "zeros" : "garbage", end[PAGE]);
    else
        printf("past the end: %s, then SIGBUS\n", zeros ? "zeros" : "garbage");
}

/* The figures /proc/self/smaps gives the VMA at ``addr``, and status's RssShmem. */
static void figures(const char *who, void *addr)
{
    char line[256], start[32];
    snprintf(start, sizeof start, "%lx-", (unsigned long)addr);
    FILE *f = fopen("/proc/self/smaps", "r");
    int in = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (strchr(line, '-') && !strstr(line, " kB"))
            in = !strncmp(line, start, strlen(start));
        else if (in && (!strncmp(line, "Rss:", 4) || !strncmp(line, "Pss:", 4) || strstr(line, "_Dirty:")))
            printf("%s %s", who, line);
    }
    if (f)
        fclose(f);
    f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "RssShmem:", 9))
            printf("%s %s", who, line);
    if (f)
        fclose(f);
}

/* /proc/PID/smaps and status count pages shared since fork as shared, until one side writes. */
static void smaps(void)
{
    unsigned char *p = fresh(BIG, 1);
    unsigned char *s = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(s, 1, 1 << 20);
    pid_t pid = fork();
    if (pid == 0) {
        memset(p, 2, BIG / 4);
        unsigned sum = 0;
        for (size_t i = 0; i < 1 << 20; i += PAGE)
            sum += s[i];
        figures(sum ? "child" : "child?", p);
        fflush(stdout);
        _exit(0);
    }
    wait_child(pid);
    figures("parent", p);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "same-pages")) same_pages();
    else if (!strcmp(mode, "chain")) chain();
    else if (!strcmp(mode, "vfork")) do_vfork();
    else if (!strcmp(mode, "mremap")) do_mremap();
    else if (!strcmp(mode, "thread")) thread();
    else if (!strcmp(mode, "shared")) shared();
    else if (!strcmp(mode, "read")) do_read();
    else if (!strcmp(mode, "dontneed")) dontneed();
    else if (!strcmp(mode, "mprotect")) do_mprotect();
    else if (!strcmp(mode, "many")) many();
    else if (!strcmp(mode, "smaps")) smaps();
    else if (!strcmp(mode, "file")) file(argv[0]);
    else if (!strcmp(mode, "file-copies")) file_copies(argv[0]);
    else {
        fprintf(stderr, "unknown mode\n");
        return 2;
    }
    return 0;
}
