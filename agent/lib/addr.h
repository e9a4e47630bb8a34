/* SPDX-License-Identifier: MIT */
/*
 * Strict parsers for the addresses steerd and steerctl take on the command
 * line, and the names of the ABI's enums.
 */
#ifndef STEER_LIB_ADDR_H
#define STEER_LIB_ADDR_H

#include <stdint.h>
#include <steer/abi.h>

/* Each returns 0 or -EINVAL; nothing is written on error. */
int addr_parse_ipv4(const char *s, __be32 *addr);
int addr_parse_cidr(const char *s, __be32 *addr, uint32_t *prefixlen);
int addr_parse_port(const char *s, __be16 *port);
int addr_parse_proto(const char *s, __u8 *proto);
/* VIP:PORT/PROTO */
int addr_parse_svc(const char *s, struct steer_svc_key *key);
/* ADDR:PORT */
int addr_parse_backend(const char *s, struct steer_backend_val *be);

/* Orders backends by address, then port: steer's sets are sorted this way. */
int addr_backend_cmp(const void *a, const void *b);

const char *addr_proto_name(__u8 proto);
const char *addr_action_name(__u8 action);
const char *addr_origin_name(__u8 origin);
int addr_parse_action(const char *s, __u8 *action);

#endif /* STEER_LIB_ADDR_H */
