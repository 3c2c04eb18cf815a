/* The program break: query, grow, use, shrink, and the failures brk reports by not moving. */
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "check.h"

static uintptr_t raw_brk(uintptr_t addr) { return (uintptr_t)syscall(SYS_brk, addr); }

int main(void) {
    uintptr_t start = raw_brk(0);
    CHECK("brk(0) is page aligned at start", start % 4096 == 0);
    CHECK("grow by 1 MiB", raw_brk(start + (1 << 20)) == start + (1 << 20));
    memset((void *)start, 0x5a, 1 << 20);
    CHECK("heap usable", ((unsigned char *)start)[(1 << 20) - 1] == 0x5a);
    CHECK("grow by an odd amount", raw_brk(start + (1 << 20) + 123) == start + (1 << 20) + 123);
    CHECK("shrink", raw_brk(start + 4096) == start + 4096);
    CHECK("below the start fails (returns the current break)", raw_brk(start - 4096) == start + 4096);
    CHECK("regrow is zeroed", raw_brk(start + 8192) == start + 8192 && ((unsigned char *)start)[4096] == 0);
    void *a = sbrk(0);
    CHECK("sbrk grows", sbrk(65536) == a && sbrk(0) == (char *)a + 65536);
    return 0;
}
