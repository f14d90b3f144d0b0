/* lb_vip: the VIP on the host's interface, for the lb.haproxy step. Adds and
 * removes a service's public address as a host address (/32, /128) through
 * rtnetlink (libmnl, never by running `ip`), tells whether it is there, and
 * announces it on the segment so that neighbours learn it at once, as
 * keepalived and MetalLB's L2 mode do: a gratuitous ARP for IPv4, an
 * unsolicited neighbour advertisement for IPv6.
 *
 * Everything happens in the calling process's network namespace. Each call
 * opens and closes its own sockets (no state): a few system calls, made once
 * per VIP change. Needs CAP_NET_ADMIN (add, remove) and CAP_NET_RAW
 * (announce).
 *
 * What the kernel does with it (Linux 6.18, measured with
 * tests/integration/test_lb_vip.c and by hand):
 *   - IPv4: scope global (host for 127.0.0.0/8, as `ip` gives it); the
 *     address can be bound at once, on any interface including lo.
 *   - IPv6: IFA_F_NODAD, so the address is never "tentative": HAProxy can bind
 *     it at once (without it, bind() fails with EADDRNOTAVAIL for about a
 *     second while duplicate address detection runs).
 *   - A neighbour that has an entry for the VIP (STALE or REACHABLE, any MAC)
 *     takes the new MAC (and goes STALE) whatever its arp_accept: the
 *     gratuitous ARP overrides (sender = target address; the request alone or
 *     the reply alone is enough), as does the NA (override flag). A PERMANENT
 *     entry is never changed. A neighbour without an entry creates none
 *     unless arp_accept=1 (IPv4) or, IPv6, it is a router (forwarding=1) with
 *     accept_untracked_na: it resolves the VIP with ARP / NS when it first
 *     sends to it, which the kernel answers for any local address.
 *   - On lo (no announcement there): IPv4 neighbours on the segment still
 *     reach the VIP when it is inside their on-link subnet, as the kernel
 *     answers ARP for any local address on any interface (arp_ignore=0);
 *     IPv6 neighbours do not (NDP answers only for the receiving interface's
 *     own addresses: their NS fails), so an IPv6 VIP on lo must be routed to
 *     the host.
 *   - A receiver whose link came up less than a second ago (operstate not
 *     yet UP) drops the NA; an interface down here is an error ("Network is
 *     down" / "unreachable") while add and remove still work. One call sends
 *     one ARP request and one reply (or one NA): call again to repeat. */
#ifndef INTERLOOK_LB_VIP_H
#define INTERLOOK_LB_VIP_H

#include <stddef.h>

/* Adds ip/32 (/128, IFA_F_NODAD) to the interface; an address already there is success. -1 with err
 * naming the interface and the kernel's reason (no such interface, not permitted, bad address). */
int lb_vip_add(const char *ifname, const char *ip, char *err, size_t errlen);

/* Removes ip/32 (/128) from the interface; an address not there is success. -1 with err naming the
 * interface and the kernel's reason. The same address with another prefix length (the interface's
 * own /24) is left alone. */
int lb_vip_remove(const char *ifname, const char *ip, char *err, size_t errlen);

/* 1 when the address is on the interface (with any prefix length), 0 when not, -1 with err. */
int lb_vip_present(const char *ifname, const char *ip, char *err, size_t errlen);

/* Gratuitous ARP (IPv4: an ARP request then an ARP reply for ip from the interface's MAC,
 * broadcast) or an unsolicited neighbour advertisement (IPv6: to ff02::1, override flag, target
 * link-layer option, from ip itself when it is on the interface). An interface without an Ethernet
 * address (lo, tun, wireguard) is 0 with nothing sent. -1 with err (no such interface, not
 * permitted, interface down). */
int lb_vip_announce(const char *ifname, const char *ip, char *err, size_t errlen);

#endif
