/* A process-shared robust mutex in shared memory: a child dies holding it (exit_group, not a
 * thread exit), and the parent's lock reports EOWNERDEAD. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    pthread_mutex_t *lock = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(lock, &attr);
    pid_t child = fork();
    if (child == 0) {
        pthread_mutex_lock(lock);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    int r = pthread_mutex_lock(lock);
    printf("lock after the owning process died: %s\n", r == EOWNERDEAD ? "EOWNERDEAD" : strerror(r));
    return 0;
}
