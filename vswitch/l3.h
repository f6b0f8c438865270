/* SPDX-License-Identifier: MIT */
/*
 * IPv4 for lab networks, without DPDK: parsing an untagged Ethernet frame
 * into the offsets and fields the gateway, NAT and DHCP stages need,
 * checksum arithmetic (full sums and RFC 1624 incremental updates), and
 * the few frames a gateway writes itself (ARP requests and replies, ICMP
 * echo replies and errors). Everything works on caller memory and checks
 * every length: frames come from VMs and from the outside. The fuzzer
 * (l3-fuzz.c) drives these functions directly.
 *
 * Addresses and ports are host byte order in the structs; the frame holds
 * network byte order.
 */
#ifndef VSWITCH_L3_H
#define VSWITCH_L3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VSW_ETH_HLEN 14
#define VSW_ETHERTYPE_IPV4 0x0800
#define VSW_ETHERTYPE_ARP 0x0806
#define VSW_IPPROTO_ICMP 1
#define VSW_IPPROTO_TCP 6
#define VSW_IPPROTO_UDP 17
#define VSW_ICMP_ECHO_REPLY 0
#define VSW_ICMP_UNREACH 3
#define VSW_ICMP_ECHO 8
#define VSW_ICMP_TIME_EXCEEDED 11
#define VSW_ICMP_PARAM_PROBLEM 12
#define VSW_ARP_FRAME_LEN 42       /* without padding */
#define VSW_L3_FRAME_MIN 60        /* frames we write are padded to this */

/* Outcome of parsing a frame for the gateway. */
enum vsw_l3_verdict {
	VSW_L3_OK,
	VSW_L3_NOT_IPV4,      /* another EtherType (ARP is told apart first) */
	VSW_L3_MALFORMED,     /* bad version, lengths, header checksum */
	VSW_L3_FRAGMENT,      /* MF set or a fragment offset: not translated */
	VSW_L3_TRUNCATED_L4,  /* transport header does not fit */
};

struct vsw_ip_pkt {
	uint8_t *ip;             /* IPv4 header inside the frame */
	uint8_t *l4;             /* transport header */
	uint32_t frame_len;      /* Ethernet frame, as received */
	uint16_t ihl;            /* IP header bytes */
	uint16_t ip_len;         /* IP total length */
	uint16_t l4_len;         /* ip_len - ihl */
	uint8_t proto;
	uint8_t ttl;
	uint32_t src, dst;
	/*
	 * Ports for TCP and UDP. ICMP echo and echo reply carry their
	 * identifier in 'sport' (request) or 'dport' (reply) and 0 in the
	 * other, so that a reply's tuple is the request's reversed.
	 */
	uint16_t sport, dport;
	uint8_t icmp_type, icmp_code;
	uint8_t tcp_flags;
};

/*
 * Parses the IPv4 frame 'f' of 'len' bytes (untagged). Checks version,
 * header length and checksum, total length against the frame (Ethernet
 * padding beyond it is allowed), fragments, and that the TCP, UDP or
 * ICMP header is whole. Other protocols parse with l4 set and no ports.
 */
enum vsw_l3_verdict vsw_ip_parse(uint8_t *f, uint32_t len,
				 struct vsw_ip_pkt *p);

/* ---- checksums (values as read big-endian from the frame) ---- */

static inline uint16_t
vsw_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t
vsw_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void
vsw_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
vsw_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One's complement sum of 'len' bytes added to 'sum' (not folded). */
uint32_t vsw_csum_add(uint32_t sum, const uint8_t *p, size_t len);
/* Folds a sum and complements it: the checksum field's value. */
uint16_t vsw_csum_finish(uint32_t sum);

/*
 * RFC 1624 (eqn. 3): the checksum 'csum' after a 16-bit word of the
 * covered data changed from 'from' to 'to'.
 */
static inline uint16_t
vsw_csum_update16(uint16_t csum, uint16_t from, uint16_t to)
{
	uint32_t s = (uint16_t)~csum + (uint32_t)(uint16_t)~from + to;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static inline uint16_t
vsw_csum_update32(uint16_t csum, uint32_t from, uint32_t to)
{
	csum = vsw_csum_update16(csum, (uint16_t)(from >> 16),
				 (uint16_t)(to >> 16));
	return vsw_csum_update16(csum, (uint16_t)from, (uint16_t)to);
}

/*
 * Rewrites one address (src when 'which_src') and/or port of a parsed
 * packet, fixing the IP header checksum and the TCP/UDP checksum (a UDP
 * checksum of 0, "none", stays 0). For ICMP echo the "port" is the
 * identifier, and the ICMP checksum is updated instead. 'new_port' < 0
 * leaves the port alone.
 */
void vsw_ip_rewrite(struct vsw_ip_pkt *p, bool which_src, uint32_t new_ip,
		    int new_port);

/* Decrements the TTL, updating the header checksum incrementally. */
void vsw_ip_dec_ttl(struct vsw_ip_pkt *p);

/*
 * What NAT does to a packet of an established connection, in one pass:
 * vsw_ip_rewrite() of the address and port (ICMP echo: identifier)
 * followed by vsw_ip_dec_ttl(), with each checksum updated once by the
 * sum of all the changes. The packet must parse VSW_L3_OK with a TTL
 * above 1; the bytes written are those of the two calls.
 */
void vsw_ip_nat(struct vsw_ip_pkt *p, bool which_src, uint32_t new_ip,
		uint16_t new_port);

/*
 * An ICMP error's quoted packet: the inner IP header and the first bytes
 * of its transport header, as far as the error carries them.
 */
struct vsw_icmp_quote {
	uint8_t *ip;             /* inner IP header */
	uint16_t ihl;
	uint16_t avail;          /* bytes of inner packet present */
	uint8_t proto;
	uint32_t src, dst;
	uint16_t sport, dport;   /* as vsw_ip_pkt: ICMP echo id in one */
	bool has_ports;
};

/* True for destination unreachable, time exceeded, parameter problem. */
bool vsw_icmp_is_error(const struct vsw_ip_pkt *p);
/* Parses the quoted packet of an ICMP error; 0 or -EINVAL. */
int vsw_icmp_quote_parse(const struct vsw_ip_pkt *p, struct vsw_icmp_quote *q);
/*
 * Rewrites the quoted packet's source (which_src) or destination address
 * and port, fixes the inner IP checksum and, if present in the quote, the
 * inner UDP/TCP checksum, then recomputes the ICMP checksum over the whole
 * error message.
 */
void vsw_icmp_quote_rewrite(struct vsw_ip_pkt *p, struct vsw_icmp_quote *q,
			    bool which_src, uint32_t new_ip, int new_port);

/* ---- ARP ---- */

struct vsw_arp {
	uint16_t op;             /* 1 request, 2 reply */
	uint8_t sha[6], tha[6];
	uint32_t spa, tpa;
};

/* Parses an Ethernet/IPv4 ARP frame; 0 or -EINVAL. */
int vsw_arp_parse(const uint8_t *f, uint32_t len, struct vsw_arp *a);
/*
 * Writes an ARP frame (request when 'op' is 1: broadcast, target MAC 0;
 * reply when 2: to 'tha') of VSW_L3_FRAME_MIN bytes into 'f'.
 */
uint32_t vsw_arp_build(uint8_t *f, uint16_t op, const uint8_t *sha,
		       uint32_t spa, const uint8_t *tha, uint32_t tpa);

/* ---- ICMP the gateway writes ---- */

/*
 * Turns an echo request (parsed as 'p', in its frame 'f') into the echo
 * reply in place: back to the sender's MAC from 'our_mac', addresses
 * swapped, TTL 64, type 0, checksums fixed.
 */
void vsw_icmp_echo_reply(uint8_t *f, struct vsw_ip_pkt *p,
			 const uint8_t *our_mac);
/*
 * Writes into 'out' (room for 'outlen' bytes, at least 98) an ICMP error
 * of 'type'/'code' from 'src_ip'/'src_mac' to the sender of the packet
 * 'p' in frame 'f', quoting its IP header and first 8 bytes (RFC 792).
 * Returns the frame length, or 0 when no error is due (the packet is
 * itself an ICMP error, a fragment, or from a broadcast address).
 */
uint32_t vsw_icmp_error_build(uint8_t *out, uint32_t outlen, const uint8_t *f,
			      const struct vsw_ip_pkt *p, uint8_t type,
			      uint8_t code, uint32_t src_ip,
			      const uint8_t *src_mac);

/* ---- addresses ---- */

static inline uint32_t
vsw_prefix_mask(uint8_t prefix_len)
{
	return prefix_len ? ~0u << (32 - prefix_len) : 0;
}

/* Parses "a.b.c.d"; 0 or -EINVAL. */
int vsw_ipv4_parse(const char *s, uint32_t *out);
/* Parses "a.b.c.d/len" (len 0..32); 0 or -EINVAL. */
int vsw_cidr_parse(const char *s, uint32_t *ip, uint8_t *prefix_len);
/* Formats into 'buf' (>= 16 bytes); returns 'buf'. */
const char *vsw_ipv4_format(uint32_t ip, char *buf);
/* Parses "aa:bb:cc:dd:ee:ff"; 0 or -EINVAL. */
int vsw_mac_parse(const char *s, uint8_t mac[6]);
const char *vsw_mac_format(const uint8_t *mac, char *buf); /* >= 18 bytes */

#endif
