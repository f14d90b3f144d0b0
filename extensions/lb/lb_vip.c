/* lb_vip: the VIP on the host's interface (rtnetlink through libmnl) and its
 * announcement on the segment (gratuitous ARP, unsolicited NA). */
#include "lb_vip.h"

#include <interlook.h>

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h> /* glibc's: <linux/if_arp.h> clashes with <net/if.h> */
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* The kernel answers rtnetlink at once; the bound only guards against a
 * hang that would stall the whole extension. */
#define S_NL_TIMEOUT_S 5
/* A dump's batch of messages fills more than a page. */
#define S_NL_BUFSIZE 32768

typedef struct {
    int family;              /* AF_INET or AF_INET6 */
    uint8_t addr[16];        /* network order, 4 or 16 bytes used */
    size_t len;              /* 4 or 16 */
    uint8_t prefix;          /* 32 or 128 */
    unsigned ifindex;        /* of ifname in the caller's namespace */
    const char *ifname, *ip; /* as given, for messages */
} s_vip_t;

/* Checks the interface and the address; fills vip. -1 with err on bad input. */
static int s_vip_parse(s_vip_t *vip, const char *ifname, const char *ip, char *err, size_t errlen)
{
    memset(vip, 0, sizeof *vip);
    vip->ifname = ifname;
    vip->ip = ip;
    if (!ip || !*ip)
        return il_err(err, errlen, "VIP on interface %s: no address given",
                      ifname && *ifname ? ifname : "(none)");
    if (inet_pton(AF_INET, ip, vip->addr) == 1) {
        vip->family = AF_INET;
        vip->len = 4;
        vip->prefix = 32;
    } else if (inet_pton(AF_INET6, ip, vip->addr) == 1) {
        vip->family = AF_INET6;
        vip->len = 16;
        vip->prefix = 128;
    } else
        return il_err(err, errlen, "VIP '%s' is not an IPv4 or IPv6 address", ip);
    if (!ifname || !*ifname) return il_err(err, errlen, "VIP %s: no interface given", ip);
    if (strlen(ifname) >= IFNAMSIZ)
        return il_err(err, errlen, "VIP %s: interface name '%s' is longer than %d bytes", ip,
                      ifname, IFNAMSIZ - 1);
    vip->ifindex = if_nametoindex(ifname);
    if (!vip->ifindex)
        return il_err(err, errlen, "VIP %s: no interface '%s' in this network namespace (%s)", ip,
                      ifname, strerror(errno));
    return 0;
}

/* --- rtnetlink --- */

typedef struct {
    int error;          /* the kernel's errno from the ACK, 0 when none */
    char ext[128];      /* the kernel's extended ACK message, "" when none */
    const s_vip_t *vip; /* dump: what is looked for */
    bool found;         /* dump: the address is on the interface */
} s_nl_reply_t;

static int s_ext_attr(const struct nlattr *attr, void *data)
{
    s_nl_reply_t *reply = data;
    if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
        mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
        snprintf(reply->ext, sizeof reply->ext, "%s", mnl_attr_get_str(attr));
    return MNL_CB_OK;
}

/* The ACK (error 0) or the error, with the kernel's own words when it gives
 * them (NETLINK_EXT_ACK). */
static int s_nl_error(const struct nlmsghdr *nlh, void *data)
{
    s_nl_reply_t *reply = data;
    const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
    if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof *e)) {
        reply->error = EBADMSG;
        return MNL_CB_ERROR;
    }
    if (e->error == 0) return MNL_CB_STOP;
    reply->error = -e->error;
    if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
        /* The request follows the error unless the kernel capped it. */
        unsigned offset = sizeof *e;
        if (!(nlh->nlmsg_flags & NLM_F_CAPPED) && e->msg.nlmsg_len >= sizeof e->msg)
            offset += e->msg.nlmsg_len - sizeof e->msg;
        if (mnl_nlmsg_size(offset) <= nlh->nlmsg_len)
            mnl_attr_parse(nlh, offset, s_ext_attr, reply);
    }
    return MNL_CB_ERROR;
}

static int s_nl_done(const struct nlmsghdr *nlh, void *data)
{
    (void)nlh;
    (void)data;
    return MNL_CB_STOP;
}

/* One address of the dump: is it ours? IFA_LOCAL is the local address on a
 * point-to-point link (IFA_ADDRESS the peer there), else IFA_ADDRESS. */
static int s_nl_addr(const struct nlmsghdr *nlh, void *data)
{
    s_nl_reply_t *reply = data;
    const s_vip_t *vip = reply->vip;
    const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
    if (nlh->nlmsg_type != RTM_NEWADDR || !vip) return MNL_CB_OK;
    if (ifa->ifa_family != vip->family || ifa->ifa_index != vip->ifindex) return MNL_CB_OK;
    const struct nlattr *attr, *local = NULL, *address = NULL;
    mnl_attr_for_each(attr, nlh, sizeof *ifa)
    {
        if (mnl_attr_get_type(attr) == IFA_LOCAL) local = attr;
        if (mnl_attr_get_type(attr) == IFA_ADDRESS) address = attr;
    }
    const struct nlattr *mine = local ? local : address;
    if (mine && mnl_attr_get_payload_len(mine) == vip->len &&
        !memcmp(mnl_attr_get_payload(mine), vip->addr, vip->len))
        reply->found = true;
    return MNL_CB_OK;
}

/* Sends the request nlh and reads the answer to its end (the ACK, the error
 * or the dump's end). Returns 0, or -1 with the errno in reply->error (the
 * kernel's, or the socket's). */
static int s_nl_talk(struct nlmsghdr *nlh, s_nl_reply_t *reply)
{
    struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
    if (!nl) {
        reply->error = errno;
        return -1;
    }
    int one = 1;
    /* The kernel's reason in words; older kernels lack these: no matter. */
    mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof one);
    mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof one);
    struct timeval tv = {.tv_sec = S_NL_TIMEOUT_S};
    setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int rc = -1;
    char *buf = il_malloc(S_NL_BUFSIZE);
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        reply->error = errno;
        goto done;
    }
    unsigned portid = mnl_socket_get_portid(nl);
    nlh->nlmsg_seq = (unsigned)time(NULL);
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
        reply->error = errno;
        goto done;
    }
    /* libmnl runs no default for a control type left NULL in the array. */
    mnl_cb_t ctl[NLMSG_MIN_TYPE] = {[NLMSG_ERROR] = s_nl_error, [NLMSG_DONE] = s_nl_done};
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl, buf, S_NL_BUFSIZE);
        if (n < 0) {
            reply->error = errno == EAGAIN ? ETIMEDOUT : errno;
            goto done;
        }
        int r = mnl_cb_run2(buf, (size_t)n, nlh->nlmsg_seq, portid, s_nl_addr, reply, ctl,
                            NLMSG_MIN_TYPE);
        if (r == MNL_CB_STOP) break;
        if (r == MNL_CB_ERROR) {
            if (!reply->error) reply->error = errno ? errno : EPROTO;
            goto done;
        }
    }
    rc = 0;
done:
    free(buf);
    mnl_socket_close(nl);
    return rc;
}

/* The kernel's reason: its extended ACK message when it gave one. */
static const char *s_reason(const s_nl_reply_t *reply, char *buf, size_t len)
{
    if (*reply->ext)
        snprintf(buf, len, "%s (%s)", strerror(reply->error), reply->ext);
    else
        snprintf(buf, len, "%s", strerror(reply->error));
    return buf;
}

/* RTM_NEWADDR or RTM_DELADDR for vip; the errno, 0 on success. */
static int s_addr_change(const s_vip_t *vip, int type, s_nl_reply_t *reply)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (uint16_t)type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    if (type == RTM_NEWADDR) nlh->nlmsg_flags |= NLM_F_CREATE | NLM_F_EXCL;
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof *ifa);
    ifa->ifa_family = (uint8_t)vip->family;
    ifa->ifa_prefixlen = vip->prefix;
    ifa->ifa_index = vip->ifindex;
    /* As `ip` gives them: host scope for 127.0.0.0/8, global for the rest
     * (a host-scope address is never chosen as a source towards another
     * host). The kernel derives IPv6 scopes from the address itself. */
    ifa->ifa_scope =
        vip->family == AF_INET && vip->addr[0] == 127 ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE;
    if (type == RTM_NEWADDR && vip->family == AF_INET6) {
        /* No duplicate address detection: bindable at once, never
         * "tentative" (the VIP is ours by allocation). */
        ifa->ifa_flags = IFA_F_NODAD;
        mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
    }
    mnl_attr_put(nlh, IFA_LOCAL, vip->len, vip->addr);
    mnl_attr_put(nlh, IFA_ADDRESS, vip->len, vip->addr);
    s_nl_talk(nlh, reply);
    return reply->error;
}

int lb_vip_add(const char *ifname, const char *ip, char *err, size_t errlen)
{
    s_vip_t vip;
    if (s_vip_parse(&vip, ifname, ip, err, errlen)) return -1;
    s_nl_reply_t reply = {0};
    int e = s_addr_change(&vip, RTM_NEWADDR, &reply);
    if (e == 0 || e == EEXIST) return 0;
    char reason[256];
    return il_err(err, errlen, "cannot add VIP %s/%u to interface %s: %s", ip, vip.prefix, ifname,
                  s_reason(&reply, reason, sizeof reason));
}

int lb_vip_remove(const char *ifname, const char *ip, char *err, size_t errlen)
{
    s_vip_t vip;
    if (s_vip_parse(&vip, ifname, ip, err, errlen)) return -1;
    s_nl_reply_t reply = {0};
    int e = s_addr_change(&vip, RTM_DELADDR, &reply);
    /* Not there: the kernel says EADDRNOTAVAIL (ENOENT from older paths). */
    if (e == 0 || e == EADDRNOTAVAIL || e == ENOENT) return 0;
    char reason[256];
    return il_err(err, errlen, "cannot remove VIP %s/%u from interface %s: %s", ip, vip.prefix,
                  ifname, s_reason(&reply, reason, sizeof reason));
}

int lb_vip_present(const char *ifname, const char *ip, char *err, size_t errlen)
{
    s_vip_t vip;
    if (s_vip_parse(&vip, ifname, ip, err, errlen)) return -1;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof *ifa);
    ifa->ifa_family = (uint8_t)vip.family;
    s_nl_reply_t reply = {.vip = &vip};
    if (s_nl_talk(nlh, &reply)) {
        char reason[256];
        return il_err(err, errlen, "cannot list the addresses of interface %s (for VIP %s): %s",
                      ifname, ip, s_reason(&reply, reason, sizeof reason));
    }
    return reply.found ? 1 : 0;
}

/* --- announcement --- */

/* The interface's Ethernet address into mac; 0, 1 when it has none (lo,
 * tun, wireguard: nothing to announce), -1 with err. */
static int s_hwaddr(const s_vip_t *vip, uint8_t mac[ETH_ALEN], char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return il_err(err, errlen, "VIP %s on %s: socket: %s", vip->ip, vip->ifname,
                      strerror(errno));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", vip->ifname);
    int rc = ioctl(fd, SIOCGIFHWADDR, &ifr);
    int e = errno;
    close(fd);
    if (rc < 0)
        return il_err(err, errlen, "VIP %s: cannot read the link-layer address of %s: %s", vip->ip,
                      vip->ifname, strerror(e));
    static const uint8_t zero[ETH_ALEN];
    if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER || !memcmp(ifr.ifr_hwaddr.sa_data, zero, ETH_ALEN))
        return 1;
    memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
    return 0;
}

/* An ARP request and an ARP reply, both with sender = target = the VIP and
 * broadcast: Linux neighbours take either as gratuitous (arp_is_garp: a
 * reply needs target MAC = sender MAC) and override their entry with it;
 * some switches and hosts heed only one of the two, as MetalLB found. */
static int s_garp(const s_vip_t *vip, const uint8_t mac[ETH_ALEN], char *err, size_t errlen)
{
    int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
    if (fd < 0)
        return il_err(err, errlen, "VIP %s: cannot open a packet socket to announce it on %s: %s",
                      vip->ip, vip->ifname, strerror(errno));
    struct sockaddr_ll to = {.sll_family = AF_PACKET,
                             .sll_protocol = htons(ETH_P_ARP),
                             .sll_ifindex = (int)vip->ifindex,
                             .sll_halen = ETH_ALEN};
    memset(to.sll_addr, 0xff, ETH_ALEN);
    struct {
        struct arphdr h;
        uint8_t sha[ETH_ALEN], spa[4], tha[ETH_ALEN], tpa[4];
    } __attribute__((packed)) arp;
    static const uint16_t ops[] = {ARPOP_REQUEST, ARPOP_REPLY};
    int rc = 0;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0] && rc == 0; i++) {
        memset(&arp, 0, sizeof arp);
        arp.h.ar_hrd = htons(ARPHRD_ETHER);
        arp.h.ar_pro = htons(ETH_P_IP);
        arp.h.ar_hln = ETH_ALEN;
        arp.h.ar_pln = 4;
        arp.h.ar_op = htons(ops[i]);
        memcpy(arp.sha, mac, ETH_ALEN);
        memcpy(arp.spa, vip->addr, 4);
        memcpy(arp.tpa, vip->addr, 4);
        /* RFC 5227: the request's target MAC is zero; a gratuitous reply's is
         * the sender's own. */
        if (ops[i] == ARPOP_REPLY) memcpy(arp.tha, mac, ETH_ALEN);
        if (sendto(fd, &arp, sizeof arp, 0, (struct sockaddr *)&to, sizeof to) != sizeof arp)
            rc = il_err(err, errlen, "VIP %s: cannot send a gratuitous ARP on %s: %s", vip->ip,
                        vip->ifname, strerror(errno));
    }
    close(fd);
    return rc;
}

/* An unsolicited neighbour advertisement (RFC 4861 4.4, 7.2.6) to all nodes:
 * override set, solicited clear, the target link-layer option. The kernel
 * fills the ICMPv6 checksum of a raw ICMPv6 socket. */
static int s_unsolicited_na(const s_vip_t *vip, const uint8_t mac[ETH_ALEN], char *err,
                            size_t errlen)
{
    int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);
    if (fd < 0)
        return il_err(err, errlen, "VIP %s: cannot open an ICMPv6 socket to announce it on %s: %s",
                      vip->ip, vip->ifname, strerror(errno));
    int hops = 255, loop = 0, ifindex = (int)vip->ifindex;
    int rc = 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex) ||
        setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) ||
        setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &loop, sizeof loop))
        rc = il_err(err, errlen, "VIP %s: cannot set up an ICMPv6 socket on %s: %s", vip->ip,
                    vip->ifname, strerror(errno));
    /* From the VIP itself, an address of the interface (RFC 4861 7.2.6);
     * when it is not there (yet), the kernel picks the source. */
    struct sockaddr_in6 from = {.sin6_family = AF_INET6};
    memcpy(&from.sin6_addr, vip->addr, 16);
    if (rc == 0) (void)bind(fd, (struct sockaddr *)&from, sizeof from);
    struct {
        struct nd_neighbor_advert na;
        struct nd_opt_hdr opt;
        uint8_t mac[ETH_ALEN];
    } __attribute__((packed)) pkt;
    memset(&pkt, 0, sizeof pkt);
    pkt.na.nd_na_type = ND_NEIGHBOR_ADVERT;
    pkt.na.nd_na_code = 0;
    pkt.na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
    memcpy(&pkt.na.nd_na_target, vip->addr, 16);
    pkt.opt.nd_opt_type = ND_OPT_TARGET_LINKADDR;
    pkt.opt.nd_opt_len = 1; /* in units of 8 bytes: type, length, 6 bytes of MAC */
    memcpy(pkt.mac, mac, ETH_ALEN);
    struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_scope_id = vip->ifindex};
    inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
    if (rc == 0 && sendto(fd, &pkt, sizeof pkt, 0, (struct sockaddr *)&to, sizeof to) != sizeof pkt)
        rc = il_err(err, errlen,
                    "VIP %s: cannot send an unsolicited neighbour advertisement on %s: %s", vip->ip,
                    vip->ifname, strerror(errno));
    close(fd);
    return rc;
}

int lb_vip_announce(const char *ifname, const char *ip, char *err, size_t errlen)
{
    s_vip_t vip;
    if (s_vip_parse(&vip, ifname, ip, err, errlen)) return -1;
    uint8_t mac[ETH_ALEN];
    int r = s_hwaddr(&vip, mac, err, errlen);
    if (r) return r < 0 ? -1 : 0;
    return vip.family == AF_INET ? s_garp(&vip, mac, err, errlen)
                                 : s_unsolicited_na(&vip, mac, err, errlen);
}
