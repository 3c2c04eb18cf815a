/* Twenty anonymous mappings, one line each: which succeeded (fault-injection tests). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

int main(void) {
    for (int i = 0; i < 20; i++) {
        void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        printf("mmap %2d: %s\n", i, p == MAP_FAILED ? strerror(errno) : "ok");
    }
    return 0;
}
