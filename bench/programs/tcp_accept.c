/*
 * tcp_accept N: N connections to a listener on 127.0.0.1, each connected by a forked child,
 * accepted and closed by the parent; prints connections accepted per second.
 *
 * Output:  conn_per_s=<float> connections=<N>
 */
#include <sys/wait.h>
#include <unistd.h>
#include "net.h"

int main(int argc, char **argv)
{
    long n = iterations(argc, argv);
    struct sockaddr_in where;
    int server = listen_loopback(&where);
    double start = now_ns();
    pid_t child = fork();
    MUST(child);
    if (child == 0) {
        char byte;
        for (long i = 0; i < n; i++) {
            int client = connect_to(&where);
            if (read(client, &byte, 1) != 0)  /* the parent's close ends it */
                _exit(1);
            close(client);
        }
        _exit(0);
    }
    for (long i = 0; i < n; i++) {
        int in = accept(server, NULL, NULL);
        MUST(in);
        close(in);
    }
    int status;
    MUST(waitpid(child, &status, 0));
    double end = now_ns();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 1;
    printf("conn_per_s=%.1f connections=%ld\n", n / ((end - start) / 1e9), n);
    return 0;
}
