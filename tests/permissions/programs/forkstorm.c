/* Many processes forking at the same moment until fork fails: the pid limit must hold even
 * when the forks race. Nobody exits until the end, so the processes that ever lived are the
 * processes alive at the end. Prints how many there were and how the forks failed. */
#include "perm.h"
#include <stdatomic.h>
#include <sys/mman.h>

#define WORKERS 8

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    atomic_long *made = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    atomic_long *eagain = made + 1, *other = made + 2;
    int go[2], done[2];
    pipe(go);
    pipe(done);
    int workers = 0;
    for (int i = 0; i < WORKERS; i++) {
        pid_t worker = fork();
        if (worker == 0) {
            char byte;
            read(go[0], &byte, 1);
            for (;;) {
                pid_t child = fork();
                if (child == 0) {
                    for (;;) pause();
                }
                if (child > 0) {
                    atomic_fetch_add(made, 1);
                    continue;
                }
                if (errno != EAGAIN) {  /* a fork that failed otherwise must not use up the limit */
                    atomic_fetch_add(other, 1);
                    continue;
                }
                atomic_fetch_add(eagain, 1);
                break;
            }
            write(done[1], "x", 1);
            for (;;) pause();
        }
        if (worker > 0) workers++;
    }
    char start[WORKERS];
    memset(start, 'x', sizeof start);
    write(go[1], start, workers);
    for (int i = 0; i < workers; i++) {
        char byte;
        read(done[0], &byte, 1);
    }
    printf("processes: %ld\n", 1 + workers + atomic_load(made));
    printf("forks failing with EAGAIN: %ld; otherwise: %s\n", atomic_load(eagain),
           atomic_load(other) ? "some" : "none");
    return 0;
}
