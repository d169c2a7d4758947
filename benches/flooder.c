/*
 * flooder: the hostile-input generator and the wire watcher of benches/hostile.sh.
 * Built there with gcc at run time (like benches/advert_floor.c for advert_cost.sh); it
 * only ever runs inside that script's own network namespaces.
 *
 * flood: writes pre-built Ethernet frames on an AF_PACKET socket (no IP stack, no qdisc:
 * PACKET_QDISC_BYPASS) with sendmmsg, in batches of one millisecond's worth, each batch
 * started at its absolute time by clock_nanosleep(TIMER_ABSTIME), so the rate holds
 * without a busy loop. It sends RATE x SECONDS frames in all: batches made late by a stall
 * (the flooder descheduled on a busy machine) go out back to back until the schedule is
 * met, and a flooder starved for longer takes longer, which its achieved rate shows. The
 * frames are unicast to DST-MAC, so the lab's bridge delivers them to the target alone,
 * while their IP destination is the VRRP group (224.0.0.18, ff02::12) as a hostile host
 * on the segment would send them. On exit it prints what it achieved:
 *   flooder: sent N frames in T s: R/s (target R/s, K send errors)
 *
 * Kinds (an IPv4 frame unless named ...6; the otherwise-valid adverts are VRRPv3, RFC 5798
 * §5.1, checksum over the pseudo-header, §5.2.8):
 *   junk      IP protocol 112 (hop limit 255) with 8..72 random payload bytes; 4,096
 *             different frames are cycled, so no two consecutive ones are the same
 *   vrid      a valid advert for VRID+1 (another virtual router), priority PRIORITY
 *   ttl       a valid advert with TTL (hop limit) 254: §7.1 says discard
 *   checksum  a valid advert whose VRRP checksum is off by one
 *   valid     a valid advert, priority PRIORITY (priority 1 from a forged source: a
 *             lower-priority master, the split-brain case)
 *   junk6, vrid6, ttl6, checksum6, valid6: the same over IPv6 (source SRC must then be a
 *             link-local address, RFC 5798 §5.1.2.1; destination ff02::12)
 *
 * watch: an AF_PACKET socket on IFNAME with a classic BPF filter that keeps only frames
 * whose source MAC is one of MACs (the two routers), so a flood on the same link costs the
 * watcher nothing. One line per frame, with the kernel's receive time (CLOCK_REALTIME,
 * SO_TIMESTAMPNS) so that the watcher's own scheduling does not blur the cadence:
 *   <ns> <source MAC> <kind> <vrid> <priority>
 * kind: v4 (VRRP over IPv4), v6 (VRRP over IPv6), arp, na (ICMPv6 neighbour
 * advertisement), other. vrid and priority are 0 for non-VRRP frames. It stops after
 * SECONDS or at SIGTERM/SIGINT, flushing what it has.
 *
 * Usage:
 *   flooder flood IFNAME DST-MAC KIND SRC VRID PRIORITY INTERVAL-CS VIP RATE SECONDS
 *   flooder watch IFNAME SECONDS MAC [MAC...]
 * Build: gcc -O2 -Wall -o flooder benches/flooder.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define VRRP_PROTOCOL 112
#define MAX_FRAME 160
#define JUNK_VARIANTS 4096
#define MAX_BATCH 1024

struct frame {
    uint8_t bytes[MAX_FRAME];
    size_t length;
};

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

static int parse_mac(const char *text, uint8_t mac[6])
{
    unsigned int b[6];
    if (sscanf(text, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
        return -1;
    for (int i = 0; i < 6; i++) {
        if (b[i] > 255)
            return -1;
        mac[i] = (uint8_t)b[i];
    }
    return 0;
}

/* xorshift64: the junk only has to differ from frame to frame, not be unpredictable. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

struct flood_spec {
    uint8_t dst_mac[6], src_mac[6];
    int ipv6;
    struct in_addr src4, vip4;
    struct in6_addr src6, vip6;
    int vrid, priority, interval_cs;
};

/* Ethernet + IP header for a VRRP payload of `payload` bytes; returns the header length. */
static size_t build_headers(const struct flood_spec *spec, uint8_t *out, size_t payload, int hop_limit)
{
    memcpy(out, spec->dst_mac, 6);
    memcpy(out + 6, spec->src_mac, 6);
    if (!spec->ipv6) {
        out[12] = 0x08, out[13] = 0x00;
        uint8_t *ip = out + 14;
        memset(ip, 0, 20);
        ip[0] = 0x45;
        ip[1] = 0xc0; /* what VRRP senders set: precedence "internetwork control" */
        uint16_t total = (uint16_t)(20 + payload);
        ip[2] = (uint8_t)(total >> 8), ip[3] = (uint8_t)total;
        ip[8] = (uint8_t)hop_limit;
        ip[9] = VRRP_PROTOCOL;
        memcpy(ip + 12, &spec->src4, 4);
        struct in_addr group;
        inet_pton(AF_INET, "224.0.0.18", &group);
        memcpy(ip + 16, &group, 4);
        uint16_t checksum = fold(add_bytes(0, ip, 20));
        ip[10] = (uint8_t)(checksum >> 8), ip[11] = (uint8_t)checksum;
        return 14 + 20;
    }
    out[12] = 0x86, out[13] = 0xdd;
    uint8_t *ip = out + 14;
    memset(ip, 0, 40);
    ip[0] = 0x60;
    ip[4] = (uint8_t)(payload >> 8), ip[5] = (uint8_t)payload;
    ip[6] = VRRP_PROTOCOL;
    ip[7] = (uint8_t)hop_limit;
    memcpy(ip + 8, &spec->src6, 16);
    struct in6_addr group;
    inet_pton(AF_INET6, "ff02::12", &group);
    memcpy(ip + 24, &group, 16);
    return 14 + 40;
}

/* The VRRPv3 checksum (RFC 5798 §5.2.8) over the pseudo-header and the message. */
static uint16_t vrrp_checksum(const struct flood_spec *spec, const uint8_t *message, size_t length)
{
    uint32_t sum = 0;
    if (!spec->ipv6) {
        uint8_t pseudo[12];
        struct in_addr group;
        inet_pton(AF_INET, "224.0.0.18", &group);
        memcpy(pseudo, &spec->src4, 4);
        memcpy(pseudo + 4, &group, 4);
        pseudo[8] = 0, pseudo[9] = VRRP_PROTOCOL;
        pseudo[10] = (uint8_t)(length >> 8), pseudo[11] = (uint8_t)length;
        sum = add_bytes(sum, pseudo, sizeof pseudo);
    } else {
        uint8_t pseudo[40];
        struct in6_addr group;
        inet_pton(AF_INET6, "ff02::12", &group);
        memcpy(pseudo, &spec->src6, 16);
        memcpy(pseudo + 16, &group, 16);
        memset(pseudo + 32, 0, 8);
        pseudo[34] = (uint8_t)(length >> 8), pseudo[35] = (uint8_t)length;
        pseudo[39] = VRRP_PROTOCOL;
        sum = add_bytes(sum, pseudo, sizeof pseudo);
    }
    return fold(add_bytes(sum, message, length));
}

static void build_advert(const struct flood_spec *spec, struct frame *frame, int vrid, int hop_limit,
                         int checksum_delta)
{
    size_t vip_length = spec->ipv6 ? 16 : 4;
    size_t length = 8 + vip_length;
    size_t header = build_headers(spec, frame->bytes, length, hop_limit);
    uint8_t *vrrp = frame->bytes + header;
    vrrp[0] = 0x31; /* version 3, type 1 (ADVERTISEMENT) */
    vrrp[1] = (uint8_t)vrid;
    vrrp[2] = (uint8_t)spec->priority;
    vrrp[3] = 1;
    vrrp[4] = (uint8_t)((spec->interval_cs >> 8) & 0x0f);
    vrrp[5] = (uint8_t)spec->interval_cs;
    vrrp[6] = vrrp[7] = 0;
    memcpy(vrrp + 8, spec->ipv6 ? (const void *)&spec->vip6 : (const void *)&spec->vip4, vip_length);
    uint16_t checksum = (uint16_t)(vrrp_checksum(spec, vrrp, length) + checksum_delta);
    vrrp[6] = (uint8_t)(checksum >> 8), vrrp[7] = (uint8_t)checksum;
    frame->length = header + length;
}

static void build_junk(const struct flood_spec *spec, struct frame *frame)
{
    size_t length = 8 + (size_t)(next_random() % 65);
    size_t header = build_headers(spec, frame->bytes, length, 255);
    for (size_t i = 0; i < length; i++)
        frame->bytes[header + i] = (uint8_t)next_random();
    frame->length = header + length;
}

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void add_ns(struct timespec *t, long ns)
{
    t->tv_nsec += ns;
    while (t->tv_nsec >= 1000000000L) {
        t->tv_nsec -= 1000000000L;
        t->tv_sec++;
    }
}

static int flood(int argc, char **argv)
{
    if (argc != 12) {
        fprintf(stderr, "usage: flooder flood IFNAME DST-MAC KIND SRC VRID PRIORITY INTERVAL-CS VIP RATE SECONDS\n");
        return 2;
    }
    const char *ifname = argv[2], *kind = argv[4];
    struct flood_spec spec = {0};
    size_t kind_length = strlen(kind);
    spec.ipv6 = kind_length > 1 && kind[kind_length - 1] == '6';
    char base[16];
    snprintf(base, sizeof base, "%.*s", (int)(spec.ipv6 ? kind_length - 1 : kind_length), kind);
    if (parse_mac(argv[3], spec.dst_mac) < 0) {
        fprintf(stderr, "flooder: bad MAC %s\n", argv[3]);
        return 2;
    }
    int family = spec.ipv6 ? AF_INET6 : AF_INET;
    if (inet_pton(family, argv[5], spec.ipv6 ? (void *)&spec.src6 : (void *)&spec.src4) != 1 ||
        inet_pton(family, argv[9], spec.ipv6 ? (void *)&spec.vip6 : (void *)&spec.vip4) != 1) {
        fprintf(stderr, "flooder: SRC and VIP must be IPv%d addresses for kind %s\n", spec.ipv6 ? 6 : 4, kind);
        return 2;
    }
    spec.vrid = atoi(argv[6]);
    spec.priority = atoi(argv[7]);
    spec.interval_cs = atoi(argv[8]);
    long rate = strtol(argv[10], NULL, 10);
    double seconds = strtod(argv[11], NULL);
    if (spec.vrid < 1 || spec.vrid > 254 || spec.priority < 0 || spec.priority > 255 || spec.interval_cs < 1 ||
        spec.interval_cs > 4095 || rate < 1 || rate > 1000000 || !(seconds > 0 && seconds <= 600)) {
        fprintf(stderr, "flooder: VRID 1..254, PRIORITY 0..255, INTERVAL-CS 1..4095, RATE 1..1e6, SECONDS (0, 600]\n");
        return 2;
    }

    int sock = socket(AF_PACKET, SOCK_RAW, 0);
    if (sock < 0) {
        perror("flooder: socket(AF_PACKET)");
        return 1;
    }
    int ifindex = (int)if_nametoindex(ifname);
    if (ifindex == 0) {
        perror("flooder: if_nametoindex");
        return 1;
    }
    struct sockaddr_ll link = {.sll_family = AF_PACKET, .sll_ifindex = ifindex, .sll_halen = 6};
    memcpy(link.sll_addr, spec.dst_mac, 6);
    if (bind(sock, (struct sockaddr *)&link, sizeof link) < 0) {
        perror("flooder: bind");
        return 1;
    }
    int one = 1, sndbuf = 4 << 20;
    setsockopt(sock, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    /* Our own source MAC: the forgery is in the IP source, as from a host on the segment. */
    {
        char path[128];
        snprintf(path, sizeof path, "/sys/class/net/%s/address", ifname);
        FILE *f = fopen(path, "r");
        char text[32] = "";
        if (!f || !fgets(text, sizeof text, f) || parse_mac(text, spec.src_mac) < 0) {
            fprintf(stderr, "flooder: cannot read %s\n", path);
            return 1;
        }
        fclose(f);
    }

    size_t variants = 1;
    static struct frame frames[JUNK_VARIANTS];
    if (strcmp(base, "junk") == 0) {
        variants = JUNK_VARIANTS;
        for (size_t i = 0; i < variants; i++)
            build_junk(&spec, &frames[i]);
    } else if (strcmp(base, "vrid") == 0) {
        build_advert(&spec, &frames[0], spec.vrid % 254 + 1, 255, 0);
    } else if (strcmp(base, "ttl") == 0) {
        build_advert(&spec, &frames[0], spec.vrid, 254, 0);
    } else if (strcmp(base, "checksum") == 0) {
        build_advert(&spec, &frames[0], spec.vrid, 255, 1);
    } else if (strcmp(base, "valid") == 0) {
        build_advert(&spec, &frames[0], spec.vrid, 255, 0);
    } else {
        fprintf(stderr, "flooder: unknown kind %s\n", kind);
        return 2;
    }

    /* One millisecond's worth per batch (at least one frame); the remainder is spread
     * by carrying the fraction from batch to batch. */
    static struct mmsghdr messages[MAX_BATCH];
    static struct iovec vectors[MAX_BATCH];
    long batches_per_second = rate >= 1000 ? 1000 : rate;
    long period_ns = 1000000000L / batches_per_second;
    long long total_batches = (long long)(seconds * (double)batches_per_second);
    long long sent = 0, errors = 0, due = 0;
    size_t next_variant = 0;
    struct timespec start, next;
    clock_gettime(CLOCK_MONOTONIC, &start);
    next = start;
    for (long long batch = 0; batch < total_batches; batch++) {
        long long target = (batch + 1) * rate / batches_per_second;
        int count = (int)(target - due);
        due = target;
        if (count > MAX_BATCH)
            count = MAX_BATCH;
        for (int i = 0; i < count; i++) {
            struct frame *frame = &frames[next_variant];
            next_variant = (next_variant + 1) % variants;
            vectors[i].iov_base = frame->bytes;
            vectors[i].iov_len = frame->length;
            memset(&messages[i].msg_hdr, 0, sizeof messages[i].msg_hdr);
            messages[i].msg_hdr.msg_iov = &vectors[i];
            messages[i].msg_hdr.msg_iovlen = 1;
        }
        int offset = 0;
        /* Bounded: a batch makes at most `count` + 4 calls before it gives up on the rest. */
        for (int attempt = 0; offset < count && attempt < count + 4; attempt++) {
            int n = sendmmsg(sock, messages + offset, (unsigned int)(count - offset), 0);
            if (n > 0) {
                offset += n;
                sent += n;
            } else if (n < 0 && errno != EINTR) {
                errors++;
                break;
            }
        }
        add_ns(&next, period_ns);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
            ;
    }
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    double elapsed = seconds_between(&start, &end);
    printf("flooder: sent %lld frames in %.3f s: %.0f/s (target %ld/s, %lld send errors)\n", sent, elapsed,
           (double)sent / elapsed, rate, errors);
    return 0;
}

static volatile sig_atomic_t stopping;
static void stop(int signal_number)
{
    (void)signal_number;
    stopping = 1;
}

static int watch(int argc, char **argv)
{
    if (argc < 5 || argc > 12) {
        fprintf(stderr, "usage: flooder watch IFNAME SECONDS MAC [MAC...] (at most 8)\n");
        return 2;
    }
    const char *ifname = argv[2];
    double seconds = strtod(argv[3], NULL);
    if (!(seconds > 0 && seconds <= 7200)) {
        fprintf(stderr, "flooder: SECONDS (0, 7200]\n");
        return 2;
    }
    int macs = argc - 4;
    uint8_t mac[8][6];
    for (int i = 0; i < macs; i++)
        if (parse_mac(argv[4 + i], mac[i]) < 0) {
            fprintf(stderr, "flooder: bad MAC %s\n", argv[4 + i]);
            return 2;
        }
    /* Classic BPF: accept the frame (whole) when its source MAC (bytes 6..11) is one of
     * ours, else drop it in the kernel. Per MAC: ldh [6]; jeq hi -> ld [8]; jeq lo -> ret. */
    struct sock_filter code[8 * 4 + 2];
    int n = 0;
    for (int i = 0; i < macs; i++) {
        uint32_t high = (uint32_t)(mac[i][0] << 8 | mac[i][1]);
        uint32_t low = (uint32_t)mac[i][2] << 24 | (uint32_t)mac[i][3] << 16 | (uint32_t)mac[i][4] << 8 | mac[i][5];
        int remaining = (macs - i - 1) * 4; /* instructions of the later MACs */
        code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6);
        code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, high, 0, 2);
        code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 8);
        /* match: jump to the final accept (past the later MACs and the drop) */
        code[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, low, (uint8_t)(remaining + 1), 0);
    }
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
    code[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffff);
    struct sock_fprog program = {.len = (unsigned short)n, .filter = code};

    int sock = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (sock < 0) {
        perror("flooder: socket(AF_PACKET)");
        return 1;
    }
    if (setsockopt(sock, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) < 0) {
        perror("flooder: SO_ATTACH_FILTER");
        return 1;
    }
    struct sockaddr_ll link = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                               .sll_ifindex = (int)if_nametoindex(ifname)};
    if (link.sll_ifindex == 0 || bind(sock, (struct sockaddr *)&link, sizeof link) < 0) {
        perror("flooder: bind");
        return 1;
    }
    int one = 1, rcvbuf = 8 << 20;
    struct timeval tick = {.tv_sec = 0, .tv_usec = 100000};
    setsockopt(sock, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
    struct sigaction action = {.sa_handler = stop};
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    static char buffer[1 << 20];
    setvbuf(stdout, buffer, _IOFBF, sizeof buffer);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    uint8_t frame[2048];
    char control[256];
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (stopping || seconds_between(&start, &now) > seconds)
            break;
        struct iovec vector = {.iov_base = frame, .iov_len = sizeof frame};
        struct msghdr message = {.msg_iov = &vector, .msg_iovlen = 1, .msg_control = control,
                                 .msg_controllen = sizeof control};
        ssize_t length = recvmsg(sock, &message, 0);
        if (length < 0)
            continue; /* the 100 ms tick (EAGAIN) or a signal (EINTR): check the clock */
        long long ns = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                struct timespec stamp;
                memcpy(&stamp, CMSG_DATA(c), sizeof stamp);
                ns = (long long)stamp.tv_sec * 1000000000LL + stamp.tv_nsec;
            }
        if (ns == 0) {
            struct timespec real;
            clock_gettime(CLOCK_REALTIME, &real);
            ns = (long long)real.tv_sec * 1000000000LL + real.tv_nsec;
        }
        if (length < 14)
            continue;
        const char *kind = "other";
        int vrid = 0, priority = 0;
        uint16_t ethertype = (uint16_t)(frame[12] << 8 | frame[13]);
        if (ethertype == 0x0806) {
            kind = "arp";
        } else if (ethertype == 0x0800 && length >= 14 + 20 + 8 && frame[14 + 9] == VRRP_PROTOCOL) {
            size_t ihl = (size_t)(frame[14] & 0x0f) * 4;
            if (length >= (ssize_t)(14 + ihl + 3)) {
                kind = "v4";
                vrid = frame[14 + ihl + 1];
                priority = frame[14 + ihl + 2];
            }
        } else if (ethertype == 0x86dd && length >= 14 + 40 + 8) {
            if (frame[14 + 6] == VRRP_PROTOCOL) {
                kind = "v6";
                vrid = frame[14 + 40 + 1];
                priority = frame[14 + 40 + 2];
            } else if (frame[14 + 6] == 58 && frame[14 + 40] == 136) {
                kind = "na";
            }
        }
        printf("%lld %02x:%02x:%02x:%02x:%02x:%02x %s %d %d\n", ns, frame[6], frame[7], frame[8], frame[9],
               frame[10], frame[11], kind, vrid, priority);
    }
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "flood") == 0)
        return flood(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "watch") == 0)
        return watch(argc, argv);
    fprintf(stderr, "usage: flooder flood IFNAME DST-MAC KIND SRC VRID PRIORITY INTERVAL-CS VIP RATE SECONDS\n"
                    "       flooder watch IFNAME SECONDS MAC [MAC...]\n");
    return 2;
}
