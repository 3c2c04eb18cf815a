/* Eight bytes from getrandom and eight from /dev/urandom, and the clocks, in hex. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    unsigned char bytes[16];
    struct timespec wall, mono;
    int fd = open("/dev/urandom", O_RDONLY);
    if (getrandom(bytes, 8, 0) != 8 || fd < 0 || read(fd, bytes + 8, 8) != 8)
        return 1;
    for (int i = 0; i < 16; i++)
        printf("%02x", bytes[i]);
    clock_gettime(CLOCK_REALTIME, &wall);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    printf(" %ld.%09ld %ld.%09ld\n", (long)wall.tv_sec, wall.tv_nsec, (long)mono.tv_sec, mono.tv_nsec);
    return 0;
}
