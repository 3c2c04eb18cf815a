/*
 * file_ops OP N: time N repetitions of one file operation on the program's own file (a file
 * of the image, so the sandbox reads it through its gofer), timed with CLOCK_MONOTONIC around
 * the loop only.
 *
 *   open_close  open(argv[0], O_RDONLY) + close      ->  ns_per_op=<float>
 *   stat        stat(argv[0])                        ->  ns_per_op=<float>
 *   read        pread the whole file, N MiB in total ->  mib_per_s=<float>
 *   pipe        write 64 KiB into a pipe, read it back, N MiB in total -> mib_per_s=<float>
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char buffer[1 << 20];

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s open_close|stat|read|pipe N\n", argv[0]);
        return 2;
    }
    const char *op = argv[1];
    long n = strtol(argv[2], NULL, 10);
    if (n <= 0) {
        fprintf(stderr, "N must be a positive integer\n");
        return 2;
    }
    double start, end;
    if (strcmp(op, "open_close") == 0 || strcmp(op, "stat") == 0) {
        int open_close = op[0] == 'o';
        struct stat st;
        start = now_ns();
        for (long i = 0; i < n; i++) {
            if (open_close) {
                int fd = open(argv[0], O_RDONLY);
                if (fd < 0) { perror("open"); return 1; }
                close(fd);
            } else if (stat(argv[0], &st) != 0) {
                perror("stat");
                return 1;
            }
        }
        end = now_ns();
        printf("ns_per_op=%.3f ops=%ld\n", (end - start) / (double)n, n);
        return 0;
    }
    long total = 0, want = n << 20;
    if (strcmp(op, "read") == 0) {
        int fd = open(argv[0], O_RDONLY);
        if (fd < 0) { perror("open"); return 1; }
        start = now_ns();
        off_t offset = 0;
        while (total < want) {
            long got = pread(fd, buffer, sizeof buffer, offset);
            if (got < 0) { perror("pread"); return 1; }
            if (got == 0) { offset = 0; continue; }
            offset += got;
            total += got;
        }
        end = now_ns();
    } else if (strcmp(op, "pipe") == 0) {
        int p[2];
        if (pipe(p) != 0) { perror("pipe"); return 1; }
        start = now_ns();
        while (total < want) {
            if (write(p[1], buffer, 65536) != 65536) { perror("write"); return 1; }
            long got = 0;
            while (got < 65536) {
                long r = read(p[0], buffer + got, 65536 - got);
                if (r <= 0) { perror("read"); return 1; }
                got += r;
            }
            total += got;
        }
        end = now_ns();
    } else {
        fprintf(stderr, "unknown op %s\n", op);
        return 2;
    }
    printf("mib_per_s=%.1f bytes=%ld\n", (double)total / (1 << 20) / ((end - start) / 1e9), total);
    return 0;
}
