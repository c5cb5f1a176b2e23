/*
 * "ADDR:PORT" on the command lines of the tools (toeless-conform, the relay
 * model toeless-devsim): a numeric IPv4 address, a host name, or an IPv6
 * address in brackets ("[::1]:3260"); the port is a number.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_TOOLS_HOSTPORT_H
#define TOELESS_TOOLS_HOSTPORT_H

#include <sys/socket.h>

/* Parse s into *ss (*len bytes of it): 0, or -EINVAL. */
int tool_parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len);

#endif /* TOELESS_TOOLS_HOSTPORT_H */
