/* The loopback interface as getifaddrs (NETLINK_ROUTE) and the SIOCGIF* ioctls show it.
   The host has more interfaces than the sandbox, so only lo is printed. Nothing here may set
   anything: the native run is root on the host (SIOCSIF* are tried unprivileged in families.c). */
#include "check.h"
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static void show_addr(const char *what, struct sockaddr *sa) {
    char text[64] = "-";
    if (sa && sa->sa_family == AF_INET) inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, text, sizeof text);
    if (sa && sa->sa_family == AF_INET6) inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, text, sizeof text);
    printf(" %s %s", what, text);
}

int main(void) {
    struct ifaddrs *list;
    T(getifaddrs(&list));
    for (struct ifaddrs *i = list; i; i = i->ifa_next) {
        if (strcmp(i->ifa_name, "lo") != 0) continue;
        int family = i->ifa_addr ? i->ifa_addr->sa_family : -1;
        printf("%s family %d flags %x", i->ifa_name, family, i->ifa_flags & (IFF_UP | IFF_LOOPBACK | IFF_RUNNING));
        if (family == AF_INET || family == AF_INET6) {
            show_addr("addr", i->ifa_addr);
            show_addr("mask", i->ifa_netmask);
        }
        printf(" data %d\n", i->ifa_data != NULL);
    }
    freeifaddrs(list);

    unsigned index = if_nametoindex("lo");
    printf("if_nametoindex %u\n", index);
    char name[IF_NAMESIZE];
    printf("if_indextoname %s\n", if_indextoname(index, name) ? name : "(none)");
    printf("unknown %u %s\n", if_nametoindex("nosuch0"), errname(errno));

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq r;
    memset(&r, 0, sizeof r);
    strcpy(r.ifr_name, "lo");
    T(ioctl(s, SIOCGIFFLAGS, &r));
    printf("flags %x\n", r.ifr_flags & (IFF_UP | IFF_LOOPBACK | IFF_RUNNING));
    T(ioctl(s, SIOCGIFINDEX, &r));
    printf("index %d\n", r.ifr_ifindex);
    T(ioctl(s, SIOCGIFMTU, &r));
    printf("mtu %d\n", r.ifr_mtu);
    T(ioctl(s, SIOCGIFADDR, &r));
    show_addr("addr", &r.ifr_addr);
    T(ioctl(s, SIOCGIFNETMASK, &r));
    show_addr("netmask", &r.ifr_netmask);
    printf("\n");
    T(ioctl(s, SIOCGIFHWADDR, &r));
    printf("hw family %d\n", r.ifr_hwaddr.sa_family);
    r.ifr_ifindex = index;
    T(ioctl(s, SIOCGIFNAME, &r));
    printf("name %s\n", r.ifr_name);
    strcpy(r.ifr_name, "nosuch0");
    T(ioctl(s, SIOCGIFFLAGS, &r));
    r.ifr_ifindex = 9999;
    T(ioctl(s, SIOCGIFNAME, &r));
    strcpy(r.ifr_name, "lo");

    /* SIOCGIFCONF: the IPv4 interfaces, lo among them */
    struct ifreq reqs[32];
    struct ifconf conf = {sizeof reqs, {(char *)reqs}};
    T(ioctl(s, SIOCGIFCONF, &conf));
    int found = 0;
    for (int i = 0; i < conf.ifc_len / (int)sizeof(struct ifreq); i++)
        if (strcmp(reqs[i].ifr_name, "lo") == 0) {
            found = 1;
            show_addr("ifconf lo", &reqs[i].ifr_addr);
            printf("\n");
        }
    printf("lo in ifconf %d\n", found);
    conf.ifc_buf = NULL;
    conf.ifc_len = 0;
    T(ioctl(s, SIOCGIFCONF, &conf));
    printf("ifconf length multiple %d\n", conf.ifc_len > 0 && conf.ifc_len % sizeof(struct ifreq) == 0);

    /* the same requests on other kinds of socket */
    int u = socket(AF_UNIX, SOCK_DGRAM, 0);
    T(ioctl(u, SIOCGIFFLAGS, &r));
    T(ioctl(u, SIOCGIFINDEX, &r));
    T(ioctl(u, SIOCGIFADDR, &r));
    int six = socket(AF_INET6, SOCK_DGRAM, 0);
    T(ioctl(six, SIOCGIFMTU, &r));
    T(ioctl(six, SIOCGIFADDR, &r));
    T(ioctl(s, 0x89ff, &r));
    T(ioctl(s, TCGETS, &r));
    return 0;
}
