/* exit(42) is status 42, with buffered output flushed. */
#include <stdio.h>
#include <stdlib.h>
int main(void) { printf("bye\n"); exit(42); }
