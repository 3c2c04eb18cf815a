/*
 * tcp_round_trip N: N one-byte round trips over a TCP connection on 127.0.0.1 (TCP_NODELAY)
 * between a forked echoing child and the parent; prints the time per round trip.
 * With "unix" as a second argument the pair is a socketpair(AF_UNIX, SOCK_STREAM) instead.
 *
 * Output:  us_per_call=<float> calls=<N>
 */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "net.h"

int main(int argc, char **argv)
{
    int unix_pair = argc == 3 && strcmp(argv[2], "unix") == 0;
    long n = iterations(unix_pair ? 2 : argc, argv);
    int mine, theirs;
    struct sockaddr_in where;
    int server = -1;
    if (unix_pair) {
        int pair[2];
        MUST(socketpair(AF_UNIX, SOCK_STREAM, 0, pair));
        mine = pair[0];
        theirs = pair[1];
    } else {
        server = listen_loopback(&where);
        mine = connect_to(&where);
        theirs = accept(server, NULL, NULL);
        MUST(theirs);
        int one = 1;
        MUST(setsockopt(theirs, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    }
    pid_t child = fork();
    MUST(child);
    char byte = 'x';
    if (child == 0) {
        close(mine);
        for (long i = 0; i < n; i++)
            if (read(theirs, &byte, 1) != 1 || write(theirs, &byte, 1) != 1)
                _exit(1);
        _exit(0);
    }
    close(theirs);
    double start = now_ns();
    for (long i = 0; i < n; i++)
        if (write(mine, &byte, 1) != 1 || read(mine, &byte, 1) != 1) {
            perror("round trip");
            return 1;
        }
    double end = now_ns();
    int status;
    MUST(waitpid(child, &status, 0));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 1;
    printf("us_per_call=%.2f calls=%ld\n", (end - start) / 1e3 / n, n);
    return 0;
}
