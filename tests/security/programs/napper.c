/* Asks the kernel's name (a --plugin hooks uname), says it is ready, then sleeps a minute (or
   argv[1] seconds): a guest that keeps a sandbox alive while a test looks at its host processes. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/utsname.h>
#include <time.h>

int main(int argc, char **argv) {
    struct utsname name;
    uname(&name);
    printf("ready %s\n", name.sysname);
    fflush(stdout);
    struct timespec pause = {argc > 1 ? atoi(argv[1]) : 60, 0};
    nanosleep(&pause, NULL);
    return 0;
}
