/* Shared by the network benchmarks: a listening TCP socket on 127.0.0.1 (port chosen by the
 * kernel) and a connection to it. */
#ifndef NET_H
#define NET_H
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include "bench.h"

static int listen_loopback(struct sockaddr_in *where)
{
    int server = socket(AF_INET, SOCK_STREAM, 0);
    MUST(server);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    MUST(bind(server, (struct sockaddr *)&address, sizeof address));
    MUST(listen(server, 128));
    socklen_t size = sizeof *where;
    MUST(getsockname(server, (struct sockaddr *)where, &size));
    return server;
}

static int connect_to(const struct sockaddr_in *where)
{
    int client = socket(AF_INET, SOCK_STREAM, 0);
    MUST(client);
    MUST(connect(client, (const struct sockaddr *)where, sizeof *where));
    int one = 1;
    MUST(setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    return client;
}
#endif
