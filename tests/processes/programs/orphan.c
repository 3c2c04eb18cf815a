/* Orphans go to pid 1 (this program, in the sandbox), which reaps them; a thread spinning in
 * user code does not keep exit() from ending the process. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *spin(void *arg) {
    for (;;) { }
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t middle = fork();
    if (middle == 0) {
        pid_t grandchild = fork();
        if (grandchild == 0) {
            pid_t first = getppid();
            while (getppid() == first) usleep(1000);
            printf("orphan's new parent: %d\n", getppid());
            _exit(5);
        }
        usleep(20000);
        _exit(0);
    }
    int status;
    waitpid(middle, &status, 0);
    pid_t got = wait(&status);
    printf("init reaped the orphan: %d, status %d\n", got > 0, WEXITSTATUS(status));
    pthread_t t;
    pthread_create(&t, NULL, spin, NULL);
    usleep(20000);
    printf("exiting with a spinning thread\n");
    exit(9);
}
