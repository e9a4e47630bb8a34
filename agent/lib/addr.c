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

static int parse_ipv4_n(const char *s, size_t len, __be32 *addr)
{
	char buf[INET_ADDRSTRLEN];
	struct in_addr a;

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	/* inet_pton, not inet_aton: "10.1" or "0x0a000001" are not addresses here. */
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -EINVAL;
	*addr = a.s_addr;
	return 0;
}

int addr_parse_ipv4(const char *s, __be32 *addr)
{
	return parse_ipv4_n(s, strlen(s), addr);
}

int addr_parse_cidr(const char *s, __be32 *addr, uint32_t *prefixlen)
{
	const char *slash = strchr(s, '/');
	unsigned long plen = 32;
	__be32 a;

	if (parse_ipv4_n(s, slash ? (size_t)(slash - s) : strlen(s), &a))
		return -EINVAL;
	if (slash && parse_uint(slash + 1, strlen(slash + 1), 32, &plen))
		return -EINVAL;
	*addr = plen ? a & htonl(~0u << (32 - plen)) : 0;
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

static int parse_hostport(const char *s, size_t len, __be32 *addr, __be16 *port)
{
	const char *colon = memchr(s, ':', len);
	char pbuf[8];
	size_t plen;

	if (!colon || parse_ipv4_n(s, colon - s, addr))
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

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
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
