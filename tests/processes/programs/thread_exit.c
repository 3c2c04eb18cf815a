/* exit() of one thread vs exit_group: main leaves with pthread_exit, the last thread ends
 * the process with its status; a detached thread's exit_group ends everything. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void *last(void *arg) {
    usleep(20000);
    printf("last thread exits the process\n");
    fflush(stdout);
    exit(7);
}

static void *sleeper(void *arg) {
    for (;;) pause();
    return NULL;
}

int main(int argc, char **argv) {
    pthread_t t;
    if (argc > 1) {  /* exit_group with a thread asleep forever */
        pthread_create(&t, NULL, sleeper, NULL);
        usleep(10000);
        printf("main calls exit(3)\n");
        fflush(stdout);
        exit(3);
    }
    pthread_create(&t, NULL, last, NULL);
    printf("main thread leaves\n");
    fflush(stdout);
    pthread_exit(NULL);
}
