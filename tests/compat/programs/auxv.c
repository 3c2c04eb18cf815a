/* /proc/self/auxv is the auxiliary vector the program started with: every pair is what
 * getauxval says, and it ends with AT_NULL (gdb finds a PIE's load address there). */
#include <stdio.h>
#include <sys/auxv.h>

int main(void) {
    FILE *f = fopen("/proc/self/auxv", "rb");
    if (!f) { printf("no /proc/self/auxv\n"); return 1; }
    unsigned long pair[2], last = 1;
    int pairs = 0, mismatches = 0, entry = 0;
    while (fread(pair, sizeof pair, 1, f) == 1) {
        pairs++;
        last = pair[0];
        if (pair[0] == AT_ENTRY) entry = 1;
        /* (static glibc answers AT_HWCAP* with its own idea of the CPU) */
        if (pair[0] != AT_NULL && pair[0] != AT_HWCAP && pair[0] != AT_HWCAP2 && getauxval(pair[0]) != pair[1]) {
            printf("type %lu: file %#lx, getauxval %#lx\n", pair[0], pair[1], getauxval(pair[0]));
            mismatches++;
        }
    }
    printf("pairs: %s, mismatches: %d, has AT_ENTRY: %d, ends with AT_NULL: %d\n",
           pairs > 10 ? "more than 10" : "few", mismatches, entry, last == AT_NULL);
    return 0;
}
