/* A robust mutex whose owner thread exits while holding it: the next locker gets EOWNERDEAD
 * (the kernel walked the dead thread's robust list), makes it consistent and goes on. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t lock;

static void *die_holding(void *arg) {
    pthread_mutex_lock(&lock);
    return NULL;  /* exits with the mutex held */
}

int main(void) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&lock, &attr);
    pthread_t t;
    pthread_create(&t, NULL, die_holding, NULL);
    pthread_join(t, NULL);
    int r = pthread_mutex_lock(&lock);
    printf("lock after the owner died: %s\n", r == EOWNERDEAD ? "EOWNERDEAD" : strerror(r));
    printf("consistent: %d\n", pthread_mutex_consistent(&lock));
    int unlocked = pthread_mutex_unlock(&lock);
    int relocked = pthread_mutex_lock(&lock);
    printf("unlock: %d, relock: %d\n", unlocked, relocked);
    return 0;
}
