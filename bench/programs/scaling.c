/* scaling KIND SIZE [ROUNDS]: one point of a scaling curve (bench/scaling.py).
 *
 * Each kind times only its own loop with CLOCK_MONOTONIC and prints value=<number>:
 *   fork MIB ROUNDS       parent holds MIB MiB (written); fork + _exit + waitpid: µs per round
 *   threads N CALLS       N threads each make CALLS getppid calls at once: µs per call, overall
 *   procs N CALLS         N processes, the same: µs per call, overall
 *   stat DEPTH CALLS      stat of a path DEPTH directories deep (made under /tmp): µs per call
 *   open DEPTH CALLS      open+close of a file DEPTH directories deep: µs per call
 *   getdents N ROUNDS     a directory of N files (made under /tmp) read whole: µs per entry
 *   pipe CHUNK MIB        MIB MiB from a forked writer in CHUNK-byte writes: MiB/s
 *   file CHUNK MIB        MIB MiB written to /tmp in CHUNK-byte writes, then read back: MiB/s
 *   touch MIB             mmap MIB MiB anonymous and write one byte per page: ns per page
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void die(const char *what) { perror(what); exit(1); }

static long calls_each;

static void *caller(void *unused) {
    (void)unused;
    for (long i = 0; i < calls_each; i++) syscall(SYS_getppid);
    return NULL;
}

static char *deep_path(int depth, const char *leaf) {
    static char path[8192];
    strcpy(path, "/tmp/scaling-deep");
    mkdir(path, 0755);
    for (int i = 0; i < depth; i++) {
        strcat(path, "/d");
        if (mkdir(path, 0755) && access(path, F_OK)) die("mkdir");
    }
    strcat(path, "/");
    strcat(path, leaf);
    int fd = open(path, O_CREAT | O_WRONLY, 0644);
    if (fd < 0) die("create");
    close(fd);
    return path;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: scaling KIND SIZE [ROUNDS]\n"); return 2; }
    const char *kind = argv[1];
    long size = atol(argv[2]);
    long rounds = argc > 3 ? atol(argv[3]) : 1;
    double start, elapsed;

    if (!strcmp(kind, "fork")) {
        size_t bytes = (size_t)size << 20;
        char *memory = bytes ? malloc(bytes) : NULL;
        if (bytes && !memory) die("malloc");
        for (size_t i = 0; i < bytes; i += 4096) memory[i] = (char)i;
        start = now_us();
        for (long i = 0; i < rounds; i++) {
            pid_t pid = fork();
            if (pid < 0) die("fork");
            if (pid == 0) _exit(0);
            waitpid(pid, NULL, 0);
        }
        printf("value=%.3f\n", (now_us() - start) / rounds);
    } else if (!strcmp(kind, "threads")) {
        pthread_t threads[1024];
        calls_each = rounds;
        start = now_us();
        for (long i = 0; i < size; i++) pthread_create(&threads[i], NULL, caller, NULL);
        for (long i = 0; i < size; i++) pthread_join(threads[i], NULL);
        printf("value=%.3f\n", (now_us() - start) / (size * rounds));
    } else if (!strcmp(kind, "procs")) {
        calls_each = rounds;
        start = now_us();
        for (long i = 0; i < size; i++) {
            pid_t pid = fork();
            if (pid < 0) die("fork");
            if (pid == 0) { caller(NULL); _exit(0); }
        }
        while (wait(NULL) > 0) {}
        printf("value=%.3f\n", (now_us() - start) / (size * rounds));
    } else if (!strcmp(kind, "stat") || !strcmp(kind, "open")) {
        char *path = deep_path((int)size, "leaf");
        struct stat st;
        start = now_us();
        for (long i = 0; i < rounds; i++) {
            if (kind[0] == 's') {
                if (stat(path, &st)) die("stat");
            } else {
                int fd = open(path, O_RDONLY);
                if (fd < 0) die("open");
                close(fd);
            }
        }
        printf("value=%.3f\n", (now_us() - start) / rounds);
    } else if (!strcmp(kind, "getdents")) {
        char name[64];
        mkdir("/tmp/scaling-dir", 0755);
        for (long i = 0; i < size; i++) {
            snprintf(name, sizeof name, "/tmp/scaling-dir/f%ld", i);
            int fd = open(name, O_CREAT | O_WRONLY, 0644);
            if (fd < 0) die("create");
            close(fd);
        }
        long entries = 0;
        start = now_us();
        for (long i = 0; i < rounds; i++) {
            DIR *dir = opendir("/tmp/scaling-dir");
            if (!dir) die("opendir");
            while (readdir(dir)) entries++;
            closedir(dir);
        }
        printf("value=%.3f\n", (now_us() - start) / entries);
    } else if (!strcmp(kind, "pipe") || !strcmp(kind, "file")) {
        size_t chunk = (size_t)size, total = (size_t)rounds << 20;
        char *buffer = malloc(chunk);
        if (!buffer) die("malloc");
        memset(buffer, 'x', chunk);
        if (kind[0] == 'p') {
            int fds[2];
            if (pipe(fds)) die("pipe");
            start = now_us();
            pid_t pid = fork();
            if (pid == 0) {
                close(fds[0]);
                for (size_t done = 0; done < total; done += chunk) write(fds[1], buffer, chunk);
                _exit(0);
            }
            close(fds[1]);
            size_t got = 0;
            ssize_t n;
            while ((n = read(fds[0], buffer, chunk)) > 0) got += (size_t)n;
            waitpid(pid, NULL, 0);
            elapsed = now_us() - start;
            printf("value=%.3f\n", got / (elapsed / 1e6) / (1 << 20));
        } else {
            int fd = open("/tmp/scaling-file", O_CREAT | O_TRUNC | O_RDWR, 0644);
            if (fd < 0) die("open");
            start = now_us();
            for (size_t done = 0; done < total; done += chunk) write(fd, buffer, chunk);
            lseek(fd, 0, SEEK_SET);
            while (read(fd, buffer, chunk) > 0) {}
            elapsed = now_us() - start;
            close(fd);
            unlink("/tmp/scaling-file");
            printf("value=%.3f\n", 2.0 * total / (elapsed / 1e6) / (1 << 20));
        }
    } else if (!strcmp(kind, "touch")) {
        size_t bytes = (size_t)size << 20;
        char *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (memory == MAP_FAILED) die("mmap");
        start = now_us();
        for (size_t i = 0; i < bytes; i += 4096) memory[i] = 1;
        printf("value=%.3f\n", (now_us() - start) * 1e3 / (bytes / 4096));
    } else {
        fprintf(stderr, "scaling: unknown kind %s\n", kind);
        return 2;
    }
    return 0;
}
