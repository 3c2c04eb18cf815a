/* MAP_SHARED file mappings: stores reach the file (msync, munmap), and other processes. argv[1]: the file. */
#include "check.h"
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "/tmp/shared";
    int fd = open(path, O_RDWR | O_CREAT, 0644), status;
    char buf[64] = {0};
    T(ftruncate(fd, 8192));
    T(pwrite(fd, "original", 8, 0));
    char *map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    T(map != MAP_FAILED);
    printf("mapped: %.8s\n", map);
    memcpy(map, "STORED", 6);
    memcpy(map + 4096, "page two", 8);
    T(msync(map, 8192, MS_SYNC));
    T(pread(fd, buf, 8, 0)); printf("read after msync: %.8s\n", buf);
    T(pread(fd, buf, 8, 4096)); printf("second page: %.8s\n", buf);

    /* Without msync, read(2) sees stores and the mapping sees write(2). */
    memcpy(map + 40, "no msync", 8);
    T(pread(fd, buf, 8, 40)); printf("read without msync: %.8s\n", buf);
    T(pwrite(fd, "written", 7, 50)); printf("mapping sees write: %.7s\n", map + 50);
    T(lseek(fd, 60, SEEK_SET)); T(write(fd, "plain", 5)); printf("and plain write: %.5s\n", map + 60);

    /* sendfile, splice and copy_file_range see stores too, and the mapping sees what they write. */
    int p[2];
    loff_t from, to;
    T(pipe(p));
    memcpy(map + 70, "sendfile", 8);
    from = 70; T(sendfile(p[1], fd, &from, 8));
    memcpy(map + 100, "splicing", 8);
    from = 100; T(splice(fd, &from, p[1], NULL, 8, 0));
    memset(buf, 0, sizeof buf); T(read(p[0], buf, 16)); printf("through the pipe: %.16s\n", buf);
    memcpy(map + 80, "copyrang", 8);
    from = 80; to = 90; T(copy_file_range(fd, &from, fd, &to, 8, 0));
    printf("mapping sees copy_file_range: %.8s\n", map + 90);
    T(write(p[1], "spliced!", 8));
    to = 110; T(splice(p[0], NULL, fd, &to, 8, 0));
    printf("mapping sees splice: %.8s\n", map + 110);
    close(p[0]); close(p[1]);

    /* A second mapping of the same file, in this process and in a forked child, is the same memory. */
    char *again = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("second mapping sees: %.6s\n", again);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        printf("child sees: %.6s\n", map);
        memcpy(map, "child!", 6);
        int own = open(path, O_RDWR);
        char *mine = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, own, 0);
        memcpy(mine + 10, "fresh", 5);
        T(munmap(mine, 4096));
        _exit(0);
    }
    T(waitpid(child, &status, 0) == child);
    printf("parent sees the child's stores: %.6s %.5s\n", map, map + 10);
    T(munmap(again, 4096));

    /* The last munmap writes back without msync. */
    memcpy(map + 20, "unmapped", 8);
    T(munmap(map, 8192));
    close(fd);
    fd = open(path, O_RDONLY);
    T(pread(fd, buf, 28, 0)); printf("reopened: %.6s|%.5s|%.8s\n", buf, buf + 10, buf + 20);

    /* A private mapping is a copy: its stores stay in it. */
    char *copy = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    memcpy(copy, "private", 7);
    T(munmap(copy, 4096));
    T(pread(fd, buf, 7, 0)); printf("after private store: %.7s\n", buf);

    /* Stores at exit: a child that never unmaps. */
    fd = open(path, O_RDWR);
    fflush(stdout);
    if ((child = fork()) == 0) {
        char *last = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        memcpy(last + 30, "at exit", 7);
        _exit(0);
    }
    T(waitpid(child, &status, 0) == child);
    T(pread(fd, buf, 7, 30)); printf("after exit: %.7s\n", buf);
    struct stat st; fstat(fd, &st); printf("size %ld\n", (long)st.st_size);
    /* Write access to a shared mapping needs a file opened for writing, at mmap and later at
       mprotect; a private mapping is a copy and may always be written. */
    int ro = open(path, O_RDONLY);
    T(mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0) == MAP_FAILED);
    char *view = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ro, 0);
    T(mprotect(view, 4096, PROT_READ | PROT_WRITE));
    T(mprotect(view, 4096, PROT_READ | PROT_EXEC));
    char *private_copy = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, ro, 0);
    T(mprotect(private_copy, 4096, PROT_READ | PROT_WRITE));
    char *writable = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    T(mprotect(writable, 4096, PROT_READ | PROT_WRITE));
    return 0;
}
