/*
 * getrandom with sizes a hostile guest picks: 2 GiB into a one-page buffer (Linux fills the page
 * and returns 4096), ~0UL, more than 32 MiB at once, unmapped, read-only and kernel addresses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

static void report(const char *what, long result) {
    if (result == -1)
        printf("%-40s -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%-40s %ld\n", what, result);
}

#define TRY(call) report(#call, (long)(call))

int main(void) {
    /* Low in the address space, so that the page plus 2 GiB is a user range however the
     * kernel lays mappings out (near the top it is not, and that is EFAULT). */
    char *page = mmap((void *)0x10000000, 2 * 4096, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    munmap(page + 4096, 4096);
    char *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    size_t big_size = 48ul << 20;
    char *big = mmap(NULL, big_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    TRY(getrandom(page, 2ul << 30, 0));
    TRY(getrandom(page, (size_t)-1 >> 1, 0));
    TRY(getrandom(page + 100, 8192, GRND_NONBLOCK));
    TRY(getrandom(page, 0, 0));
    TRY(getrandom(NULL, 0, 0));
    TRY(getrandom(NULL, 16, 0));
    TRY(getrandom(ro, 16, 0));
    TRY(getrandom((void *)0xffffffffff600000ul, 16, 0));
    TRY(getrandom((void *)0x7ffffffffff8ul, 16, 0));
    TRY(getrandom(page, 16, 0x100));
    TRY(getrandom(page, 16, GRND_RANDOM | GRND_INSECURE));
    TRY(getrandom(big, 40ul << 20, 0));
    TRY(getrandom(big, big_size, GRND_INSECURE));
    int nonzero = 0;
    for (int i = 0; i < 4096; i++)
        nonzero |= page[i];
    printf("page filled: %d\n", nonzero != 0);
    return 0;
}
