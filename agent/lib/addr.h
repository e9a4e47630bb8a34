/* SPDX-License-Identifier: MIT */
/*
 * Strict parsers for the addresses steerd and steerctl take on the command
 * line, and the names of the ABI's enums.
 */
#ifndef STEER_LIB_ADDR_H
#define STEER_LIB_ADDR_H

#include <stdbool.h>
#include <stdint.h>
#include <steer/abi.h>

/* Room for any address addr_str() prints, and for ADDR/PLEN or [ADDR]:PORT. */
#define ADDR_STRLEN	46	/* INET6_ADDRSTRLEN */
#define ADDR_HOSTPORTLEN (ADDR_STRLEN + 8)

/* Families, as the index of per-family arrays (a pod's addresses). */
enum addr_family {
	ADDR_V4 = 0,
	ADDR_V6 = 1,
	ADDR_NFAM,
};

/* IPv4 travels v4-mapped (::ffff:a.b.c.d) in struct steer_addr. */
void addr_from_v4(struct steer_addr *a, __be32 v4);
bool addr_is_v4(const struct steer_addr *a);
bool addr_is_zero(const struct steer_addr *a);
bool addr_eq(const struct steer_addr *a, const struct steer_addr *b);
int addr_cmp(const struct steer_addr *a, const struct steer_addr *b);
enum addr_family addr_family(const struct steer_addr *a);
/* Dotted quad for a mapped IPv4 address, RFC 5952 text for IPv6. */
const char *addr_str(const struct steer_addr *a, char *buf);
/* ADDR/PLEN with the prefix length of the address's own family. */
const char *addr_cidr_str(const struct steer_addr *a, uint32_t prefixlen, char *buf);
/* ADDR:PORT, or [ADDR]:PORT for IPv6. */
const char *addr_hostport_str(const struct steer_addr *a, __be16 port, char *buf);

/* Each returns 0 or -EINVAL; nothing is written on error. */
/* An IPv4 (dotted quad only) or IPv6 address. */
int addr_parse_ip(const char *s, struct steer_addr *addr);
/*
 * ADDR[/PLEN] of either family, masked; *prefixlen counts over 128 bits
 * (an IPv4 /24 gives 120), as the steer_exempt trie does.
 */
int addr_parse_cidr(const char *s, struct steer_addr *addr, uint32_t *prefixlen);
int addr_parse_port(const char *s, __be16 *port);
int addr_parse_proto(const char *s, __u8 *proto);
/* VIP:PORT/PROTO, [VIP6]:PORT/PROTO */
int addr_parse_svc(const char *s, struct steer_svc_key *key);
/* ADDR:PORT, [ADDR6]:PORT */
int addr_parse_backend(const char *s, struct steer_backend_val *be);

/* Orders backends by address, then port: steer's sets are sorted this way. */
int addr_backend_cmp(const void *a, const void *b);

const char *addr_proto_name(__u8 proto);
const char *addr_action_name(__u8 action);
const char *addr_origin_name(__u8 origin);
int addr_parse_action(const char *s, __u8 *action);

#endif /* STEER_LIB_ADDR_H */
