/* A MAP_SHARED file mapping of several pages is one VMA, as Linux keeps it: mremap may shrink
 * or grow it whole (also after a truncation under it, as CPython's mmap.resize does), and
 * /proc/self/maps shows it on one line with its file offset. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void show_maps(const char *what, void *start) {
    char line[512], want[32];
    snprintf(want, sizeof want, "%lx-", (unsigned long)start);
    FILE *maps = fopen("/proc/self/maps", "r");
    int lines = 0;
    while (maps && fgets(line, sizeof line, maps)) {
        if (strncmp(line, want, strlen(want)) == 0) {
            unsigned long lo, hi, offset;
            char perms[8];
            sscanf(line, "%lx-%lx %7s %lx", &lo, &hi, perms, &offset);
            printf("%s: %lu pages %s offset %#lx\n", what, (hi - lo) / 4096, perms, offset);
            lines++;
        }
    }
    if (maps) fclose(maps);
    if (!lines) printf("%s: not in maps\n", what);
}

int main(void) {
    char path[64];
    snprintf(path, sizeof path, "/vma-test-%d", getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    unlink(path);
    ftruncate(fd, 4 * 4096);
    /* Four pages reserved, the file over the first three: the fourth is taken. */
    char *area = mmap(NULL, 4 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *map = mmap(area, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 4096);
    if (map == MAP_FAILED) { perror("mmap"); return 1; }
    map[0] = 'a';
    map[2 * 4096] = 'c';
    show_maps("three pages at 4096", map);

    char *bigger = mremap(map, 3 * 4096, 3 * 4096 + 1, 0);
    printf("grow in place into a taken page: %s\n", bigger == MAP_FAILED ? strerror(errno) : "grew");
    munmap(area + 3 * 4096, 4096);
    bigger = mremap(map, 3 * 4096, 4 * 4096, 0);
    printf("grow in place into a free page: %s\n", bigger == MAP_FAILED ? strerror(errno) : "grew");
    show_maps("four pages", map);

    ftruncate(fd, 512);
    char *smaller = mremap(map, 4 * 4096, 512, 0);
    printf("shrink after truncate: %s\n", smaller == MAP_FAILED ? strerror(errno) : (smaller == map ? "in place" : "moved"));
    show_maps("after shrink", map);

    ftruncate(fd, 8 * 4096);
    char *moved = mremap(map, 4096, 4 * 4096, MREMAP_MAYMOVE);
    printf("grow by moving: %s, first byte %d\n", moved == MAP_FAILED ? strerror(errno) : "done",
           moved == MAP_FAILED ? -1 : moved[0]);
    if (moved != MAP_FAILED) {
        show_maps("after move", moved);
        /* The grown part is the file's: a write there reaches the file, and the file's bytes show. */
        moved[3 * 4096] = 'z';
        msync(moved, 4 * 4096, MS_SYNC);
        char byte = 0;
        pread(fd, &byte, 1, 4 * 4096);
        pwrite(fd, "y", 1, 3 * 4096);
        printf("grown page reaches the file: %c, file reaches it: %c\n", byte, moved[2 * 4096]);
    }
    return 0;
}
