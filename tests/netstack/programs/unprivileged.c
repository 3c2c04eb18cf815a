/* Run as an unprivileged user (uid 65534, no capabilities), natively and in the sandbox:
   families, types and protocols the sandbox does not have and those that need CAP_NET_RAW,
   a port below 1024, interface settings, forced buffer sizes, and SCM_CREDENTIALS claiming
   another identity. */
#include "check.h"
#include <grp.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

int main(void) {
    T(socket(-1, SOCK_STREAM, 0));
    T(socket(46, SOCK_STREAM, 0));
    T(socket(AF_UNIX, 11, 0));
    T(socket(AF_UNIX, -1, 0));
    T(socket(AF_UNIX, SOCK_RDM, 0));
    T(socket(AF_UNIX, SOCK_STREAM, 2));
    T(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    T(socket(AF_INET, SOCK_DGRAM, IPPROTO_TCP));
    T(socket(AF_INET6, SOCK_DGRAM, 99));
    T(socket(AF_INET, SOCK_RDM, 0));
    T(socket(AF_INET, SOCK_STREAM | 0x80000000, 0));
    T(socket(AF_NETLINK, SOCK_STREAM, NETLINK_ROUTE));
    T(socket(AF_NETLINK, SOCK_RAW, 32));
    T(socket(AF_NETLINK, SOCK_RAW, -1));
    T(socket(AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE) >= 0);
    printf("uid %d\n", getuid());
    T(socket(AF_PACKET, SOCK_RAW, 0));
    T(socket(AF_PACKET, SOCK_STREAM, 0));
    T(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP));
    T(socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6));
    T(socket(AF_INET, SOCK_RAW, IPPROTO_RAW));
    T(socket(AF_INET, SOCK_PACKET, 0));
    T(socket(AF_UNIX, SOCK_STREAM, 0) >= 0);
    struct sockaddr_in low = {AF_INET, htons(80), {htonl(INADDR_LOOPBACK)}};
    int s = socket(AF_INET, SOCK_STREAM, 0);
    T(bind(s, (struct sockaddr *)&low, sizeof low));
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    T(ioctl(s, SIOCGIFFLAGS, &r));
    T(ioctl(s, SIOCSIFFLAGS, &r));
    T(ioctl(s, SIOCSIFMTU, &r));
    T(setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &r.ifr_mtu, sizeof(int)));
    int v = 1;
    T(setsockopt(s, SOL_SOCKET, SO_DEBUG, &v, sizeof v));
    T(setsockopt(s, SOL_SOCKET, SO_MARK, &v, sizeof v));
    v = 7;
    T(setsockopt(s, SOL_SOCKET, SO_PRIORITY, &v, sizeof v));

    int sv[2];
    T(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    struct {
        struct cmsghdr h;
        struct ucred c;
    } cred = {{CMSG_LEN(sizeof(struct ucred)), SOL_SOCKET, SCM_CREDENTIALS}, {getpid(), getuid(), getgid()}};
    struct iovec iov = {"claim", 5};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = &cred;
    mh.msg_controllen = sizeof cred;
    T(sendmsg(sv[0], &mh, 0));
    cred.c.uid = 0;
    T(sendmsg(sv[0], &mh, 0));
    cred.c.uid = getuid();
    cred.c.gid = 0;
    T(sendmsg(sv[0], &mh, 0));
    cred.c.gid = getgid();
    cred.c.pid = getpid() + 1;
    T(sendmsg(sv[0], &mh, 0));
    cred.c.pid = getpid();
    cred.c.uid = -1;
    T(sendmsg(sv[0], &mh, 0));
    return 0;
}
