/*
 * tcp_throughput N: move N MiB over a TCP connection on 127.0.0.1 (a forked child writes 64 KiB
 * at a time, the parent reads); prints the throughput in MiB/s.
 *
 * Output:  mib_per_s=<float> mib=<N>
 */
#include <sys/wait.h>
#include <unistd.h>
#include "net.h"

#define CHUNK (64 << 10)

int main(int argc, char **argv)
{
    long n = iterations(argc, argv);
    static char buffer[CHUNK];
    struct sockaddr_in where;
    int server = listen_loopback(&where);
    double start = now_ns();
    pid_t child = fork();
    MUST(child);
    if (child == 0) {
        int out = connect_to(&where);
        for (long i = 0; i < n * 16; i++)
            for (ssize_t done = 0, put; done < CHUNK; done += put)
                if ((put = write(out, buffer + done, CHUNK - done)) < 0)
                    _exit(1);
        _exit(0);
    }
    int in = accept(server, NULL, NULL);
    MUST(in);
    long long total = 0;
    ssize_t got;
    while ((got = read(in, buffer, CHUNK)) > 0)
        total += got;
    MUST(got);
    int status;
    MUST(waitpid(child, &status, 0));
    double end = now_ns();
    if (total != n << 20 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "moved %lld bytes of %ld, writer status %d\n", total, n << 20, status);
        return 1;
    }
    printf("mib_per_s=%.1f mib=%ld\n", (double)n / ((end - start) / 1e9), n);
    return 0;
}
