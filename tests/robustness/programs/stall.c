/*
 * stall CALL: while this process makes one call whose work grows with a size it chose, does
 * another process of the sandbox still get its timer on time? A child arms a 10 ms sleep and
 * reports when it woke (CLOCK_MONOTONIC); the parent notes when its call returned. A kernel
 * that serves one call at a time until it is done wakes the child only after the call.
 *
 * Output: "<call>: result <r>, other process held up by the call: yes|no", where held up means
 * the call outlasted the child's timer by a good margin and the child still woke only as it ended,
 * or more than a second late.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static long big_call(const char *call) {
    if (!strcmp(call, "getrandom")) {  /* 256 MiB of random bytes in one call */
        size_t size = 256ul << 20;
        char *buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return getrandom(buf, size, 0);
    }
    if (!strcmp(call, "select")) {  /* select over 2^18 descriptors, RLIMIT_NOFILE raised to allow it */
        int nfds = 1 << 18;
        struct rlimit many = {nfds, nfds};
        if (setrlimit(RLIMIT_NOFILE, &many))
            perror("setrlimit");
        unsigned long *set = calloc(nfds / 64, sizeof *set);
        set[0] = 1;                       /* stdin, */
        set[nfds / 64 - 1] = 1ul << 63;   /* and the last descriptor (not open: EBADF) */
        struct timeval zero = {0, 0};
        return select(nfds, (fd_set *)set, NULL, NULL, &zero);
    }
    int fd = open("/tmp/stall-file", O_RDWR | O_CREAT | O_TRUNC, 0600);
    size_t size = 128ul << 20;
    if (!strcmp(call, "sendfile-self")) {  /* a file into itself: it reads what it just wrote */
        char page[4096] = {'x'};
        write(fd, page, sizeof page);
        off_t from = 0;
        return sendfile(fd, fd, &from, size);
    }
    ftruncate(fd, size);
    if (!strcmp(call, "mmap-shared"))  /* a shared mapping of a 128 MiB file */
        return mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0) != MAP_FAILED;
    if (!strcmp(call, "mmap-private"))  /* a private copy of a 128 MiB file */
        return mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) != MAP_FAILED;
    fprintf(stderr, "unknown call %s\n", call);
    exit(2);
}

int main(int argc, char **argv) {
    int ready[2], woke[2];
    pipe(ready);
    pipe(woke);
    pid_t child = fork();
    if (child == 0) {
        write(ready[1], "r", 1);
        struct timespec nap = {0, 10000000};
        nanosleep(&nap, NULL);
        long at = now_ns();
        write(woke[1], &at, sizeof at);
        _exit(0);
    }
    char byte;
    read(ready[0], &byte, 1);  /* the child is about to sleep */
    long start = now_ns();
    long result = big_call(argv[1]);
    long done = now_ns();
    long child_woke;
    read(woke[0], &child_woke, sizeof child_woke);
    waitpid(child, NULL, 0);
    /* Held up: the call lasted (well past the child's 10 ms) and the child woke only at its very
     * end (a few ms either way are noise: who runs first once the call returns is not fixed), or
     * while it went on but more than a second late (the Sentry let it run only now and then). */
    long call = done - start, late = child_woke - start;
    int held = call > 50000000 && (late > call / 10 * 9 || late > 1000000000);
    printf("%s: result %ld, other process held up by the call: %s\n", argv[1], result, held ? "yes" : "no");
    return 0;
}
