/* Filling memory the Sentry holds for the guest: tmpfs, the overlay's upper layer, memfds, pipe
 * buffers; each must stop at the sandbox's memory with Linux's errno and give the memory back
 * when freed. Usage: memcharge fill PATH MIB [hold] | memfd MIB | pipes | shared */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB (1L << 20)
static char chunk[MIB];

/* Write up to MIB MiB into fd; the MiB written (whole), and the errno that stopped it in *err. */
static long fill_fd(int fd, long mib, int *err) {
    long done = 0;
    *err = 0;
    while (done < mib * MIB) {
        ssize_t n = write(fd, chunk, MIB);
        if (n < 0) { *err = errno; break; }
        done += n;
    }
    return done / MIB;
}

static long fill_path(const char *path, long mib, int *err) {
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
    if (fd < 0) { *err = errno; return -1; }
    long got = fill_fd(fd, mib, err);
    close(fd);
    return got;
}

/* A /proc/meminfo field, in kB. */
static long meminfo(const char *field) {
    char line[256];
    long value = -1;
    FILE *f = fopen("/proc/meminfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, strlen(field)) && line[strlen(field)] == ':')
            value = atol(line + strlen(field) + 1);
    if (f) fclose(f);
    return value;
}

static void report(const char *what, long got, int err) {
    printf("%s: %s\n", what, err ? strerror(err) : "all written");
    fprintf(stderr, "%s: %ld MiB\n", what, got);
}

int main(int argc, char **argv) {
    memset(chunk, 'x', sizeof chunk);
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "fill") && argc >= 4) {
        int err;
        long mib = atol(argv[3]), first = fill_path(argv[2], mib, &err);
        report("first fill", first, err);
        if (argc > 4) {  /* hold: let the test look at the Sentry while the file is full */
            fflush(stdout);
            char c;
            while (read(0, &c, 1) > 0) {}
        }
        unlink(argv[2]);
        long second = fill_path(argv[2], mib, &err);
        report("second fill", second, err);
        printf("second fill %s the first\n", second + 1 >= first ? "reaches" : "falls short of");
        unlink(argv[2]);
        return 0;
    }
    if (!strcmp(argv[1], "memfd") && argc >= 3) {
        long mib = atol(argv[2]);
        for (int round = 0; round < 2; round++) {
            int err, fd = memfd_create("fill", 0);
            long got = fill_fd(fd, mib, &err);
            report(round ? "second memfd" : "first memfd", got, err);
            if (!round) {  /* fallocate past the limit, and ftruncate, which reserves nothing */
                printf("fallocate: %s\n", fallocate(fd, 0, 0, 1L << 30) ? strerror(errno) : "done");
                printf("ftruncate 1 GiB: %s\n", ftruncate(fd, 1L << 30) ? strerror(errno) : "done");
            }
            close(fd);
        }
        return 0;
    }
    if (!strcmp(argv[1], "pipes")) {
        for (int round = 0; round < 2; round++) {
            int fds[1024], count = 0, err = 0;
            long total = 0;
            while (count < 1000 && !err) {
                if (pipe2(fds + count, O_NONBLOCK)) { err = errno; break; }
                fcntl(fds[count + 1], F_SETPIPE_SZ, (int)MIB);
                for (;;) {
                    ssize_t n = write(fds[count + 1], chunk, 65536);
                    if (n < 0) { if (errno != EAGAIN) err = errno; break; }
                    total += n;
                }
                count += 2;
            }
            printf("pipes round %d: %s\n", round, err ? strerror(err) : "all full");
            fprintf(stderr, "pipes round %d: %ld MiB in %d pipes\n", round, total / MIB, count / 2);
            printf("pipes round %d held %s\n", round, total < 64 * MIB ? "less than the limit" : "too much");
            for (int i = 0; i < count; i++) close(fds[i]);
        }
        return 0;
    }
    if (!strcmp(argv[1], "meminfo")) {  /* tmpfs pages are Shmem and used memory */
        int err;
        long free_before = meminfo("MemFree");
        fill_path("/tmp/f", 16, &err);
        struct sysinfo info;
        sysinfo(&info);
        printf("Shmem counts the file: %s\n", meminfo("Shmem") >= 16 * 1024 ? "yes" : "no");
        printf("MemFree fell by it: %s\n", free_before - meminfo("MemFree") >= 16 * 1024 ? "yes" : "no");
        printf("sysinfo sharedram counts it: %s\n", info.sharedram * info.mem_unit >= 16 * MIB ? "yes" : "no");
        unlink("/tmp/f");
        printf("after rm, Shmem: %s\n", meminfo("Shmem") < 1024 ? "under 1 MiB" : "still held");
        return 0;
    }
    if (!strcmp(argv[1], "exit")) {  /* a process that ends holding full memfds and pipes */
        for (int round = 0; round < 3; round++) {
            pid_t child = fork();
            if (child == 0) {
                int err, fds[2];
                fill_fd(memfd_create("held", 0), 20, &err);
                for (int i = 0; i < 10; i++) {
                    if (pipe2(fds, O_NONBLOCK)) break;
                    fcntl(fds[1], F_SETPIPE_SZ, (int)MIB);
                    while (write(fds[1], chunk, 65536) > 0) {}
                }
                _exit(err ? 1 : 0);
            }
            int status;
            waitpid(child, &status, 0);
            printf("child %d: %s\n", round, WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "filled its memfd" : "could not");
        }
        return 0;
    }
    if (!strcmp(argv[1], "shared")) {
        int err;
        long got = fill_path("/tmp/f", 40, &err);
        report("fill 40 MiB of /tmp", got, err);
        char *p = malloc(40 * MIB);
        printf("malloc 40 MiB: %s\n", p ? "got it" : strerror(errno));
        if (p) memset(p, 1, 40 * MIB);
        free(p);
        unlink("/tmp/f");
        p = malloc(40 * MIB);
        printf("after rm, malloc 40 MiB: %s\n", p ? "got it" : strerror(errno));
        if (p) memset(p, 1, 40 * MIB);
        return 0;
    }
    return 2;
}
