/*
 * advert_floor: the least work any VRRP master can do per advertisement, as a yardstick
 * for benches/advert_cost.sh --floor. It is not a VRRP implementation: no state machine,
 * no receive path, no addresses, no logging. Per advert it makes exactly one blocking
 * read() on a periodic CLOCK_MONOTONIC timerfd (the one wake-up the interval requires)
 * and one sendto() of a pre-built VRRPv3 advertisement (the one packet the RFC requires,
 * RFC 5798 §6.4.3: "Send an ADVERTISEMENT" every Advertisement_Interval).
 *
 * Whatever a real daemon costs above this figure is its own overhead; what this figure
 * costs is the kernel's price for a timer wake-up and a multicast send, which every
 * implementation pays.
 *
 * The receive mode is the same yardstick for a backup: it joins 224.0.0.18 on IFNAME and
 * makes one blocking recv() per advert (the one wake-up per received advert an
 * implementation that looks at each advert needs), and nothing else: no validation, no
 * timer.
 *
 * With COUNT (benches/scale.sh --floor), the master stands for COUNT instances: per tick
 * it sends COUNT adverts, VRIDs VRID.. VRID+COUNT-1 and VIPs counting up from VIP-IPV4,
 * with one sendmmsg() (fewer system calls than any implementation that sends them one
 * by one); and `receive IFNAME batch` reads with recvmmsg(), up to 64 per wake-up.
 *
 * `receive IFNAME epoll` is the yardstick for a backup that is a daemon: one that, like
 * every VRRP implementation, also waits for its Master_Down_Timer and for other sources
 * (netlink, signals, its control socket). It sleeps in epoll_wait() on the socket with a
 * timeout standing for that timer (which never fires: the adverts keep coming), then reads
 * the advert with one recv(): two system calls per advert, as keepalived's and vrrpd's
 * backups make, and nothing else.
 *
 * `epoll` before IFNAME is the same yardstick for a master that is a daemon: one that, like
 * every VRRP implementation, also listens on its socket (a higher priority's adverts end
 * its mastership, RFC 5798 §6.4.3) and waits for other sources. It sleeps in epoll_pwait2()
 * on the socket (joined to 224.0.0.18, as a daemon's is) with the time until its next
 * advert as the timeout (nanoseconds, as vrrpd's loop; the deadlines are kept in phase, so
 * the cadence does not drift), then sends: one wait that times out and one send per
 * advert, as keepalived's and vrrpd's masters make, and nothing else.
 *
 * `receive IFNAME timeout` is the blocking receive with SO_RCVTIMEO set to the same 40 ms
 * stand-in for the Master_Down_Timer: one system call per advert, as a backup that waits
 * in its receive itself would make, and the kernel timer that such a wait arms and cancels
 * each time (sock_rcvtimeo, schedule_timeout), which the plain blocking receive does not.
 *
 * `receive IFNAME touch LINES [STRIDE]` is the blocking receive above, which after each
 * advert also writes one byte in each of LINES cache lines, STRIDE bytes apart (64 by
 * default: contiguous lines; 4096 and more spreads them over pages): the price of the work
 * an implementation does per wake-up, beyond its system calls, measured as the memory it
 * touches, for benches/advert_compare.sh's cost model.
 *
 * Usage: advert_floor [epoll] IFNAME SOURCE-IPV4 VRID PRIORITY INTERVAL-CS VIP-IPV4 [COUNT]
 *        advert_floor receive IFNAME [batch | epoll | timeout | touch LINES [STRIDE]]
 * Build: cc -O2 -o advert_floor benches/advert_floor.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_COUNT 256
#define RECEIVE_BATCH 64

#define VRRP_PROTOCOL 112

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static uint32_t add_bytes(uint32_t sum, const uint8_t *bytes, size_t length)
{
    for (size_t i = 0; i + 1 < length; i += 2)
        sum += (uint32_t)(bytes[i] << 8 | bytes[i + 1]);
    if (length & 1)
        sum += (uint32_t)(bytes[length - 1] << 8);
    return sum;
}

/* Master_Down_Interval at 10 ms adverts, rounded up to epoll_wait's milliseconds. */
#define TIMER_STAND_IN_MS 40

/* The memory `receive IFNAME touch` writes to: 4 MiB, more than any LINES x STRIDE asked. */
static uint8_t touched[4 << 20];

static int receive_forever(const char *ifname, int batch, int epoll, int timeout, long lines, long stride)
{
    int sock = socket(AF_INET, SOCK_RAW, VRRP_PROTOCOL);
    if (sock < 0) {
        perror("advert_floor: socket");
        return 1;
    }
    struct ip_mreqn membership = {.imr_ifindex = (int)if_nametoindex(ifname)};
    inet_pton(AF_INET, "224.0.0.18", &membership.imr_multiaddr);
    if (setsockopt(sock, IPPROTO_IP, IP_ADD_MEMBERSHIP, &membership, sizeof membership) < 0 ||
        setsockopt(sock, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0) {
        perror("advert_floor: setsockopt");
        return 1;
    }
    struct timeval stand_in = {.tv_sec = 0, .tv_usec = TIMER_STAND_IN_MS * 1000};
    if (timeout && setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &stand_in, sizeof stand_in) < 0) {
        perror("advert_floor: SO_RCVTIMEO");
        return 1;
    }
    static uint8_t buffers[RECEIVE_BATCH][2048];
    struct mmsghdr headers[RECEIVE_BATCH];
    struct iovec vectors[RECEIVE_BATCH];
    for (int i = 0; i < RECEIVE_BATCH; i++) {
        vectors[i] = (struct iovec){.iov_base = buffers[i], .iov_len = sizeof buffers[i]};
        headers[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &vectors[i], .msg_iovlen = 1}};
    }
    int waiter = -1;
    if (epoll) {
        waiter = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event readable = {.events = EPOLLIN, .data = {.fd = sock}};
        if (waiter < 0 || epoll_ctl(waiter, EPOLL_CTL_ADD, sock, &readable) < 0) {
            perror("advert_floor: epoll");
            return 1;
        }
    }
    for (;;) {
        if (epoll) {
            struct epoll_event ready[8];
            int count = epoll_wait(waiter, ready, 8, TIMER_STAND_IN_MS);
            if (count < 0 && errno != EINTR) {
                perror("advert_floor: epoll_wait");
                return 1;
            }
            if (count <= 0)
                continue;
            if (recv(sock, buffers[0], sizeof buffers[0], MSG_DONTWAIT) < 0 && errno != EAGAIN &&
                errno != EINTR) {
                perror("advert_floor: recv");
                return 1;
            }
            continue;
        }
        int received = batch ? recvmmsg(sock, headers, RECEIVE_BATCH, MSG_WAITFORONE, NULL)
                             : (int)recv(sock, buffers[0], sizeof buffers[0], 0);
        if (received < 0 && errno != EINTR && errno != EAGAIN) {
            perror("advert_floor: recv");
            return 1;
        }
        /* Written with a byte of the advert, so that the compiler cannot drop the stores. */
        for (long line = 0; line < lines; line++)
            touched[(size_t)(line * stride) % sizeof touched] += buffers[0][9];
    }
}

/* One tick's adverts: sendto() for one, sendmmsg() for COUNT. */
static void send_all(int sock, long count, uint8_t (*adverts)[12], struct mmsghdr *messages,
                     const struct sockaddr_in *destination)
{
    if (count == 1) {
        if (sendto(sock, adverts[0], 12, 0, (const struct sockaddr *)destination, sizeof *destination) < 0)
            perror("advert_floor: sendto");
        return;
    }
    for (long sent = 0; sent < count;) {
        int n = sendmmsg(sock, messages + sent, (unsigned)(count - sent), 0);
        if (n < 0) {
            perror("advert_floor: sendmmsg");
            return;
        }
        sent += n;
    }
}

/* The `epoll` master: the socket joined and watched, the next advert's time as the wait's
 * timeout. */
static int send_forever_epoll(int sock, const struct ip_mreqn *interface, long interval_ns, long count,
                              uint8_t (*adverts)[12], struct mmsghdr *messages,
                              const struct sockaddr_in *destination)
{
    struct ip_mreqn membership = {.imr_ifindex = interface->imr_ifindex};
    inet_pton(AF_INET, "224.0.0.18", &membership.imr_multiaddr);
    int waiter = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event readable = {.events = EPOLLIN, .data = {.fd = sock}};
    if (setsockopt(sock, IPPROTO_IP, IP_ADD_MEMBERSHIP, &membership, sizeof membership) < 0 || waiter < 0 ||
        epoll_ctl(waiter, EPOLL_CTL_ADD, sock, &readable) < 0) {
        perror("advert_floor: epoll");
        return 1;
    }
    static uint8_t buffer[2048];
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    for (;;) {
        next.tv_nsec += interval_ns;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        for (;;) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long left = (next.tv_sec - now.tv_sec) * 1000000000L + (next.tv_nsec - now.tv_nsec);
            if (left <= 0)
                break;
            struct timespec timeout = {.tv_sec = left / 1000000000L, .tv_nsec = left % 1000000000L};
            struct epoll_event ready[8];
            long woken = syscall(SYS_epoll_pwait2, waiter, ready, 8, &timeout, NULL, 0);
            if (woken < 0 && errno != EINTR) {
                perror("advert_floor: epoll_pwait2");
                return 1;
            }
            if (woken == 0)
                break;
            if (woken > 0)
                while (recv(sock, buffer, sizeof buffer, MSG_DONTWAIT) >= 0)
                    ;
        }
        send_all(sock, count, adverts, messages, destination);
    }
}

int main(int argc, char **argv)
{
    if (argc >= 5 && argc <= 6 && strcmp(argv[1], "receive") == 0 && strcmp(argv[3], "touch") == 0) {
        long lines = strtol(argv[4], NULL, 10);
        long stride = argc == 6 ? strtol(argv[5], NULL, 10) : 64;
        if (lines < 0 || lines > 65536 || stride < 1 || stride > (1 << 20)) {
            fprintf(stderr, "advert_floor: LINES must be 0..65536 and STRIDE 1..1048576\n");
            return 2;
        }
        return receive_forever(argv[2], 0, 0, 0, lines, stride);
    }
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "receive") == 0)
        return receive_forever(argv[2], argc == 4 && strcmp(argv[3], "batch") == 0,
                               argc == 4 && strcmp(argv[3], "epoll") == 0,
                               argc == 4 && strcmp(argv[3], "timeout") == 0, 0, 64);
    int epoll = argc > 1 && strcmp(argv[1], "epoll") == 0;
    if (epoll) {
        argc--;
        argv++;
    }
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s [epoll] IFNAME SOURCE-IPV4 VRID PRIORITY INTERVAL-CS VIP-IPV4 [COUNT]\n", argv[0]);
        return 2;
    }
    long count = argc == 8 ? strtol(argv[7], NULL, 10) : 1;
    if (count < 1 || count > MAX_COUNT || atoi(argv[3]) + count - 1 > 255) {
        fprintf(stderr, "advert_floor: COUNT must be 1..%d and VRID+COUNT-1 at most 255\n", MAX_COUNT);
        return 2;
    }
    struct in_addr source, vip, group;
    if (inet_pton(AF_INET, argv[2], &source) != 1 || inet_pton(AF_INET, argv[6], &vip) != 1) {
        fprintf(stderr, "advert_floor: bad IPv4 address\n");
        return 2;
    }
    inet_pton(AF_INET, "224.0.0.18", &group);
    long interval_cs = strtol(argv[5], NULL, 10);
    if (interval_cs < 1 || interval_cs > 4095) {
        fprintf(stderr, "advert_floor: interval must be 1..4095 centiseconds\n");
        return 2;
    }

    /* VRRPv3 advertisements (RFC 5798 §5.1), one IPv4 address each, checksum over the IPv4
     * pseudo-header and the message (RFC 5798 §5.2.8, what keepalived sends). */
    static uint8_t adverts[MAX_COUNT][12];
    for (long n = 0; n < count; n++) {
        uint8_t *advert = adverts[n];
        struct in_addr address = {.s_addr = htonl(ntohl(vip.s_addr) + (uint32_t)n)};
        advert[0] = 0x31;
        advert[1] = (uint8_t)(atoi(argv[3]) + n);
        advert[2] = (uint8_t)atoi(argv[4]);
        advert[3] = 1;
        advert[4] = (uint8_t)((interval_cs >> 8) & 0x0f);
        advert[5] = (uint8_t)(interval_cs & 0xff);
        advert[6] = advert[7] = 0;
        memcpy(advert + 8, &address, 4);
        uint8_t pseudo[12];
        memcpy(pseudo, &source, 4);
        memcpy(pseudo + 4, &group, 4);
        pseudo[8] = 0;
        pseudo[9] = VRRP_PROTOCOL;
        pseudo[10] = 0;
        pseudo[11] = 12;
        uint16_t checksum = fold(add_bytes(add_bytes(0, pseudo, sizeof pseudo), advert, 12));
        advert[6] = (uint8_t)(checksum >> 8);
        advert[7] = (uint8_t)(checksum & 0xff);
    }

    int sock = socket(AF_INET, SOCK_RAW, VRRP_PROTOCOL);
    if (sock < 0) {
        perror("advert_floor: socket");
        return 1;
    }
    int ttl = 255, loop = 0;
    struct ip_mreqn interface = {.imr_address = source, .imr_ifindex = (int)if_nametoindex(argv[1])};
    if (setsockopt(sock, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) < 0 ||
        setsockopt(sock, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) < 0 ||
        setsockopt(sock, IPPROTO_IP, IP_MULTICAST_IF, &interface, sizeof interface) < 0 ||
        setsockopt(sock, SOL_SOCKET, SO_BINDTODEVICE, argv[1], (socklen_t)strlen(argv[1])) < 0) {
        perror("advert_floor: setsockopt");
        return 1;
    }
    struct sockaddr_in destination = {.sin_family = AF_INET, .sin_addr = group};
    static struct mmsghdr messages[MAX_COUNT];
    static struct iovec vectors[MAX_COUNT];
    for (long n = 0; n < count; n++) {
        vectors[n] = (struct iovec){.iov_base = adverts[n], .iov_len = 12};
        messages[n] = (struct mmsghdr){.msg_hdr = {.msg_name = &destination,
                                                   .msg_namelen = sizeof destination,
                                                   .msg_iov = &vectors[n],
                                                   .msg_iovlen = 1}};
    }

    long interval_ns = interval_cs * 10000000L;
    if (epoll)
        return send_forever_epoll(sock, &interface, interval_ns, count, adverts, messages, &destination);
    int timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    struct itimerspec period = {
        .it_interval = {.tv_sec = interval_ns / 1000000000L, .tv_nsec = interval_ns % 1000000000L},
        .it_value = {.tv_sec = interval_ns / 1000000000L, .tv_nsec = interval_ns % 1000000000L},
    };
    if (timer < 0 || timerfd_settime(timer, 0, &period, NULL) < 0) {
        perror("advert_floor: timerfd");
        return 1;
    }
    for (;;) {
        uint64_t expirations;
        if (read(timer, &expirations, sizeof expirations) != sizeof expirations && errno != EINTR) {
            perror("advert_floor: read");
            return 1;
        }
        send_all(sock, count, adverts, messages, &destination);
    }
}
