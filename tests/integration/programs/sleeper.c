/* Says it is ready, then sleeps: a guest to kill the Sentry under. */
#include <stdio.h>
#include <time.h>
int main(void) {
    printf("ready\n");
    fflush(stdout);
    struct timespec long_time = {60, 0};
    nanosleep(&long_time, NULL);
    return 0;
}
