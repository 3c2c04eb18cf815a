/*
 * Address ranges built from guest numbers that wrap past 2^64 or run past the top of the
 * address space: every memory call must answer as Linux does (mostly EINVAL or ENOMEM) and
 * touch nothing. madvise(0, ~0UL, MADV_DONTNEED) used to zero every private mapping above 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096ul

static void report(const char *what, long result) {
    if (result == -1)
        printf("%-44s -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%-44s %ld\n", what, result);
}

#define TRY(call) report(#call, (long)(call))

int main(void) {
    char *page = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(page, 'A', 2 * PAGE);
    static char data[PAGE] __attribute__((aligned(4096)));
    memset(data, 'D', sizeof data);
    unsigned char vec[4];

    TRY(madvise(0, ~0ul, MADV_DONTNEED));
    TRY(madvise(page, ~0ul, MADV_DONTNEED));
    TRY(madvise(page, -PAGE, MADV_DONTNEED));
    TRY(madvise(page, -PAGE - 1, MADV_DONTNEED));
    TRY(madvise(page, 0, MADV_DONTNEED));
    TRY(madvise(page + 1, PAGE, MADV_DONTNEED));
    TRY(madvise(page, ~0ul, 12345));
    TRY(madvise((void *)(-PAGE), 2 * PAGE, MADV_DONTNEED));
    TRY(madvise(page, ~0ul, MADV_FREE));
    TRY(madvise(page, ~0ul, MADV_REMOVE));

    TRY(mprotect(page, ~0ul, PROT_READ));
    TRY(mprotect(page, -PAGE, PROT_READ));
    TRY(mprotect(page, ~0ul, 0x7ff));
    TRY(mprotect(page, 0, 0x7ff));
    TRY(mprotect((void *)(-PAGE), PAGE, PROT_READ));

    TRY(munmap(page, ~0ul));
    TRY(munmap(page, 0));
    TRY(munmap((void *)(-PAGE), PAGE));
    TRY(munmap((void *)0x7ffffffff000ul, 2 * PAGE));

    TRY(msync(page, ~0ul, MS_SYNC));
    TRY(msync(page, -2 * PAGE, MS_ASYNC));
    TRY(msync((void *)(-PAGE), PAGE, MS_ASYNC));
    TRY(msync(page, 1ul << 46, MS_ASYNC));

    TRY(mincore(page, ~0ul, vec));
    TRY(mincore(page, 1ul << 47, vec));
    TRY(mincore(page, PAGE, (unsigned char *)16));
    TRY(mincore((void *)(-PAGE), PAGE, vec));

    TRY(mremap(page, ~0ul, PAGE, 0));
    TRY(mremap(page, PAGE, ~0ul, MREMAP_MAYMOVE));
    TRY(mremap(page, PAGE, -PAGE, MREMAP_MAYMOVE));

    TRY(mmap(NULL, ~0ul, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    TRY(mmap(NULL, -PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    TRY(mmap((void *)(-PAGE), PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));

    int fd = open("/bin/ranges", O_RDONLY);
    TRY(mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, -(off_t)PAGE));
    TRY(mmap(NULL, 2 * PAGE, PROT_READ, MAP_PRIVATE, fd, (off_t)((1ul << 63) - PAGE)));
    TRY(mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, -(off_t)PAGE));

    int intact = 1;
    for (unsigned long i = 0; i < 2 * PAGE; i++)
        intact &= page[i] == 'A';
    for (unsigned long i = 0; i < PAGE; i++)
        intact &= data[i] == 'D';
    printf("memory intact: %s\n", intact ? "yes" : "NO");
    return 0;
}
