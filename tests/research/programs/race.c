/* A data race: two threads increment a shared counter with a system call between the read and
 * the write, and log which thread did each step. The output depends on how the threads
 * interleave at their system calls: which --deterministic fixes and --chaos varies by seed. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

#define STEPS 20

static int counter;
static char order[2 * STEPS + 1];
static int next;

static void *worker(void *arg) {
    char name = *(const char *)arg;
    for (int i = 0; i < STEPS; i++) {
        int seen = counter;
        syscall(SYS_getpid);          /* a system call: a point where another thread may run */
        counter = seen + 1;
        order[next++] = name;
    }
    return NULL;
}

int main(void) {
    pthread_t threads[2];
    static const char names[2] = {'a', 'b'};
    for (int i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, worker, (void *)&names[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    printf("counter %d (of %d) order %s\n", counter, 2 * STEPS, order);
    return 0;
}
