/* 8 threads contend on a mutex and a condition variable; joins, pthread_exit, TLS, tids. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

#define THREADS 8
#define ROUNDS 2000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t turn_changed = PTHREAD_COND_INITIALIZER;
static long counter;
static int turn;
static __thread int mine = 42;
static int tids_differ = 1;
static pid_t main_tid;

static void *contend(void *arg) {
    long id = (long)arg;
    mine += (int)id;
    if (syscall(SYS_gettid) == main_tid || getpid() != main_tid) tids_differ = 0;
    for (int i = 0; i < ROUNDS; i++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
    }
    /* Take turns in order: each waits on the condition variable for its turn. */
    pthread_mutex_lock(&lock);
    while (turn != id) pthread_cond_wait(&turn_changed, &lock);
    turn++;
    pthread_cond_broadcast(&turn_changed);
    pthread_mutex_unlock(&lock);
    if (id == 3) pthread_exit((void *)(long)(mine * 10));
    return (void *)(long)mine;
}

int main(void) {
    pthread_t threads[THREADS];
    main_tid = getpid();
    for (long i = 0; i < THREADS; i++)
        if (pthread_create(&threads[i], NULL, contend, (void *)i)) { perror("pthread_create"); return 1; }
    long sum = 0;
    for (int i = 0; i < THREADS; i++) {
        void *result;
        pthread_join(threads[i], &result);
        sum += (long)result;
    }
    printf("counter %ld (expected %d)\n", counter, THREADS * ROUNDS);
    printf("turns %d, results %ld, main tls %d, tids differ %d\n", turn, sum, mine, tids_differ);
    return 0;
}
