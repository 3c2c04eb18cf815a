/* A write through NULL: the process dies of SIGSEGV (a shell reports 139). */
#include <stdio.h>
int main(void) {
    printf("about to fault\n");
    fflush(stdout);
    *(volatile int *)0 = 1;
    printf("survived?!\n");
    return 0;
}
