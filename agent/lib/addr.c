// SPDX-License-Identifier: MIT
#include "lib/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_uint(const char *s, size_t len, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	/* Digits only: no sign, no spaces, no hex, at most 5 of them. */
	if (!len || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static const __u8 v4_prefix[12] = { [10] = 0xff, [11] = 0xff };

void addr_from_v4(struct steer_addr *a, __be32 v4)
{
	memset(a, 0, sizeof(*a));
	a->b[10] = a->b[11] = 0xff;
	a->w[3] = v4;
}

bool addr_is_v4(const struct steer_addr *a)
{
	return !memcmp(a->b, v4_prefix, sizeof(v4_prefix));
}

bool addr_is_zero(const struct steer_addr *a)
{
	return !(a->w[0] | a->w[1] | a->w[2] | a->w[3]);
}

bool addr_eq(const struct steer_addr *a, const struct steer_addr *b)
{
	return !memcmp(a, b, sizeof(*a));
}

int addr_cmp(const struct steer_addr *a, const struct steer_addr *b)
{
	return memcmp(a, b, sizeof(*a));
}

enum addr_family addr_family(const struct steer_addr *a)
{
	return addr_is_v4(a) ? ADDR_V4 : ADDR_V6;
}

const char *addr_str(const struct steer_addr *a, char *buf)
{
	if (addr_is_v4(a))
		return inet_ntop(AF_INET, &a->w[3], buf, ADDR_STRLEN);
	return inet_ntop(AF_INET6, a->b, buf, ADDR_STRLEN);
}

const char *addr_cidr_str(const struct steer_addr *a, uint32_t prefixlen, char *buf)
{
	char ip[ADDR_STRLEN];
	uint32_t plen = prefixlen;

	/* A mapped prefix shorter than /96 covers more than IPv4: show it as IPv6. */
	if (addr_is_v4(a) && plen >= 96) {
		addr_str(a, ip);
		plen -= 96;
	} else {
		inet_ntop(AF_INET6, a->b, ip, sizeof(ip));
	}
	snprintf(buf, ADDR_HOSTPORTLEN, "%s/%u", ip, plen);
	return buf;
}

const char *addr_hostport_str(const struct steer_addr *a, __be16 port, char *buf)
{
	char ip[ADDR_STRLEN];

	addr_str(a, ip);
	snprintf(buf, ADDR_HOSTPORTLEN, addr_is_v4(a) ? "%s:%u" : "[%s]:%u", ip, ntohs(port));
	return buf;
}

/* len bytes of s: a dotted quad (not "10.1" or "0x0a000001") or an IPv6 address. */
static int parse_ip_n(const char *s, size_t len, struct steer_addr *addr)
{
	char buf[ADDR_STRLEN];
	struct steer_addr a;
	struct in_addr v4;

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	/* inet_pton takes no zone (fe80::1%eth0): pod and VIP addresses have none. */
	if (inet_pton(AF_INET, buf, &v4) == 1)
		addr_from_v4(&a, v4.s_addr);
	else if (inet_pton(AF_INET6, buf, a.b) != 1)
		return -EINVAL;
	*addr = a;
	return 0;
}

int addr_parse_ip(const char *s, struct steer_addr *addr)
{
	return parse_ip_n(s, strlen(s), addr);
}

int addr_parse_cidr(const char *s, struct steer_addr *addr, uint32_t *prefixlen)
{
	const char *slash = strchr(s, '/');
	unsigned long plen, max;
	struct steer_addr a;

	if (parse_ip_n(s, slash ? (size_t)(slash - s) : strlen(s), &a))
		return -EINVAL;
	max = addr_is_v4(&a) && !strchr(s, ':') ? 32 : 128;
	plen = max;
	if (slash && parse_uint(slash + 1, strlen(slash + 1), max, &plen))
		return -EINVAL;
	if (max == 32)
		plen += 96;
	/* The trie ignores bits past the prefix; masking keeps keys canonical. */
	for (unsigned int i = 0; i < 16; i++) {
		unsigned int keep = plen >= 8 * (i + 1) ? 8 : plen > 8 * i ? plen - 8 * i : 0;

		a.b[i] &= (__u8)(0xff00 >> keep);
	}
	*addr = a;
	*prefixlen = plen;
	return 0;
}

int addr_parse_port(const char *s, __be16 *port)
{
	unsigned long v;

	if (parse_uint(s, strlen(s), 65535, &v) || v == 0)
		return -EINVAL;
	*port = htons(v);
	return 0;
}

int addr_parse_proto(const char *s, __u8 *proto)
{
	if (!strcmp(s, "tcp") || !strcmp(s, "TCP"))
		*proto = 6;
	else if (!strcmp(s, "udp") || !strcmp(s, "UDP"))
		*proto = 17;
	else
		return -EINVAL;
	return 0;
}

/* ADDR:PORT, or [ADDR6]:PORT; a bare IPv6 address has too many colons to split. */
static int parse_hostport(const char *s, size_t len, struct steer_addr *addr, __be16 *port)
{
	const char *colon, *host = s;
	size_t hlen;
	char pbuf[8];
	size_t plen;

	if (len && s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close || close + 1 >= s + len || close[1] != ':')
			return -EINVAL;
		host = s + 1;
		hlen = close - host;
		colon = close + 1;
		/* Brackets are for IPv6 only. */
		if (!memchr(host, ':', hlen))
			return -EINVAL;
	} else {
		colon = memchr(s, ':', len);
		if (!colon)
			return -EINVAL;
		hlen = colon - s;
		if (memchr(colon + 1, ':', len - hlen - 1))
			return -EINVAL;
	}
	if (parse_ip_n(host, hlen, addr))
		return -EINVAL;
	plen = len - (colon + 1 - s);
	if (plen >= sizeof(pbuf))
		return -EINVAL;
	memcpy(pbuf, colon + 1, plen);
	pbuf[plen] = '\0';
	return addr_parse_port(pbuf, port);
}

int addr_parse_svc(const char *s, struct steer_svc_key *key)
{
	const char *slash = strrchr(s, '/');
	struct steer_svc_key k = {};

	if (!slash || parse_hostport(s, slash - s, &k.vip, &k.port) ||
	    addr_parse_proto(slash + 1, &k.proto))
		return -EINVAL;
	*key = k;
	return 0;
}

int addr_parse_backend(const char *s, struct steer_backend_val *be)
{
	struct steer_backend_val b = {};

	if (parse_hostport(s, strlen(s), &b.addr, &b.port))
		return -EINVAL;
	*be = b;
	return 0;
}

int addr_backend_cmp(const void *x, const void *y)
{
	const struct steer_backend_val *a = x, *b = y;
	int c = addr_cmp(&a->addr, &b->addr);

	if (c)
		return c < 0 ? -1 : 1;
	return a->port < b->port ? -1 : a->port > b->port;
}

const char *addr_proto_name(__u8 proto)
{
	return proto == 6 ? "tcp" : proto == 17 ? "udp" : "?";
}

static const char *const action_names[STEER_ACT_MAX] = STEER_ACTION_NAMES;
static const char *const origin_names[STEER_ORIGIN_MAX] = STEER_ORIGIN_NAMES;

const char *addr_action_name(__u8 action)
{
	return action < STEER_ACT_MAX ? action_names[action] : "?";
}

const char *addr_origin_name(__u8 origin)
{
	return origin < STEER_ORIGIN_MAX ? origin_names[origin] : "?";
}

int addr_parse_action(const char *s, __u8 *action)
{
	for (int i = 0; i < STEER_ACT_MAX; i++) {
		if (!strcmp(s, action_names[i])) {
			*action = i;
			return 0;
		}
	}
	return -EINVAL;
}
