/* mremap with MREMAP_FIXED to an address below vm.mmap_min_addr is EPERM for a process without
 * CAP_SYS_RAWIO (docker's root has none), as mmap's is; the fuzzer found it crashing the MM. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void) {
    char *p = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    p[4096] = 'x';
    void *r = mremap(p + 4096, 7, 7, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)0);
    printf("mremap to 0: %s\n", r == MAP_FAILED ? strerror(errno) : "moved");
    return 0;
}
