/* A dynamically linked program: the interpreter, libc and a file read through them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    char line[128] = "";
    FILE *f = fopen("/data/existing", "r");
    if (f) { fgets(line, sizeof line, f); fclose(f); }
    char *copy = strdup(argv[0]);
    printf("dynamic %s argc=%d read=%s", copy, argc, line);
    free(copy);
    return 3;
}
