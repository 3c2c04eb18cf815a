/* A 64 MiB anonymous mapping, every page touched with a pattern, then summed. */
#include <stdint.h>
#include <sys/mman.h>
#include "check.h"

int main(void) {
    size_t size = 64 << 20;
    unsigned char *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK("mmap 64 MiB", p != MAP_FAILED);
    CHECK("fresh memory is zero", p[0] == 0 && p[size - 1] == 0);
    for (size_t i = 0; i < size; i += 4096) p[i] = (unsigned char)(i >> 12);
    uint64_t sum = 0;
    for (size_t i = 0; i < size; i += 4096) sum += p[i];
    printf("sum %llu\n", (unsigned long long)sum);
    CHECK("munmap", munmap(p, size) == 0);
    return 0;
}
