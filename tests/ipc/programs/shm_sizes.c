/* shmget's sizes at the edges: past the largest file size (2^63 - 1) is EINVAL, as
 * shmem_file_setup refuses it; zero is EINVAL. (The fuzzer found the first crashing the VFS.) */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/shm.h>

static void try(const char *what, unsigned long size) {
    int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
    printf("%s: %s\n", what, id < 0 ? strerror(errno) : "created");
    if (id >= 0) shmctl(id, IPC_RMID, NULL);
}

int main(void) {
    try("2^63", 0x8000000000000000UL);
    try("2^64 - 1", ~0UL);
    try("0", 0);
    try("one page", 4096);
    return 0;
}
