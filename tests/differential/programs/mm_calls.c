/* mprotect, munmap, mremap, madvise, mincore, msync and MAP_FIXED*: results and errors. */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "check.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

int main(void) {
    long page = sysconf(_SC_PAGESIZE);
    unsigned char vec[8];
    char *p = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK("mmap", p != MAP_FAILED);
    strcpy(p, "hello");
    CHECK("mprotect read-only", mprotect(p, page, PROT_READ) == 0);
    CHECK("still readable", strcmp(p, "hello") == 0);
    ERRNO_OF("mprotect unaligned", mprotect(p + 1, page, PROT_READ));
    ERRNO_OF("mprotect bad prot", mprotect(p, page, 0x1000));
    CHECK("munmap middle page", munmap(p + page, page) == 0);
    ERRNO_OF("mprotect across the hole", mprotect(p, 3 * page, PROT_READ));
    ERRNO_OF("mincore on the hole", mincore(p + page, page, vec));
    ERRNO_OF("msync on the hole", msync(p + page, page, MS_SYNC));
    ERRNO_OF("msync bad flags", msync(p, page, MS_SYNC | MS_ASYNC));
    ERRNO_OF("munmap length 0", munmap(p, 0));
    ERRNO_OF("munmap unaligned", munmap(p + 1, page));
    ERRNO_OF("mmap length 0", mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ERRNO_OF("mmap no type", mmap(NULL, page, PROT_READ, MAP_ANONYMOUS, -1, 0));
    ERRNO_OF("MAP_FIXED_NOREPLACE over a mapping",
             mmap(p, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0));
    char *q = mmap(p + 2 * page, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK("MAP_FIXED replaces", q == p + 2 * page);

    char *r = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(r, 'x', 2 * page);
    char *grown = mremap(r, 2 * page, 64 * page, MREMAP_MAYMOVE);
    CHECK("mremap grow", grown != MAP_FAILED);
    CHECK("mremap kept contents", grown[0] == 'x' && grown[2 * page - 1] == 'x');
    CHECK("mremap extension is zero", grown[2 * page] == 0 && grown[64 * page - 1] == 0);
    char *shrunk = mremap(grown, 64 * page, page, 0);
    CHECK("mremap shrink in place", shrunk == grown && shrunk[0] == 'x');
    ERRNO_OF("mremap unmapped", mremap(p + page, page, 2 * page, MREMAP_MAYMOVE));
    ERRNO_OF("mremap bad flags", mremap(shrunk, page, page, 0x40));
    ERRNO_OF("mremap fixed without maymove", mremap(shrunk, page, page, MREMAP_FIXED, p));
    char *target = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *moved = mremap(shrunk, page, page, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    CHECK("mremap fixed", moved == target && moved[0] == 'x');

    char *d = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(d, 'y', 2 * page);
    CHECK("madvise DONTNEED", madvise(d, page, MADV_DONTNEED) == 0);
    CHECK("DONTNEED zeroed private memory", d[0] == 0 && d[page] == 'y');
    ERRNO_OF("madvise bad advice", madvise(d, page, 12345));
    CHECK("madvise WILLNEED", madvise(d, 2 * page, MADV_WILLNEED) == 0);
    char *s = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    strcpy(s, "shared");
    CHECK("DONTNEED keeps shared memory", madvise(s, page, MADV_DONTNEED) == 0 && strcmp(s, "shared") == 0);
    CHECK("mincore", mincore(d, 2 * page, vec) == 0 && (vec[1] & 1));
    CHECK("msync", msync(d, 2 * page, MS_SYNC) == 0);
    return 0;
}
