/* Thousands of malloc/realloc/free of mixed sizes, big ones mmap'd; contents checksummed. */
#include <stdint.h>
#include <stdlib.h>
#include "check.h"

static uint64_t state = 12345;
static uint64_t next(void) { state = state * 6364136223846793005ULL + 1442695040888963407ULL; return state >> 33; }

int main(void) {
    enum { SLOTS = 512 };
    unsigned char *slot[SLOTS] = {0};
    size_t size[SLOTS] = {0};
    uint64_t checksum = 0;
    for (int round = 0; round < 20000; round++) {
        int i = next() % SLOTS;
        size_t n = (next() % 8 == 0) ? 128 * 1024 + next() % (512 * 1024) : 1 + next() % 4096;
        if (slot[i] && next() % 2) {
            unsigned char *p = realloc(slot[i], n);
            if (!p) { printf("realloc failed\n"); return 1; }
            for (size_t k = 0; k < (n < size[i] ? n : size[i]); k += 97) checksum += p[k];
            slot[i] = p;
        } else {
            free(slot[i]);
            slot[i] = malloc(n);
            if (!slot[i]) { printf("malloc failed\n"); return 1; }
        }
        size[i] = n;
        memset(slot[i], (int)(round & 0xff), n);
    }
    for (int i = 0; i < SLOTS; i++) { if (slot[i]) checksum += slot[i][size[i] - 1]; free(slot[i]); }
    printf("checksum %llu\n", (unsigned long long)checksum);
    return 0;
}
