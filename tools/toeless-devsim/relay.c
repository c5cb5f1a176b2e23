/*
 * toeless-devsim, wire side: the model sits where the NIC sits.  The host
 * connects to the listening address; for each connection the model
 * connects to the target and passes bytes both ways.  Host-to-target bytes
 * pass unchanged (after the model fetched the context's SQ, so an SGL
 * posted before a command is known before the command leaves);
 * target-to-host bytes go through the tracker (track.c).
 *
 * Flow control: when more than DV_HIGH_WATER bytes wait to be written to
 * one side, reading the other side stops until they drain.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "../common/hostport.h"
#include "devsim.h"

struct wreq {
	uv_write_t req;
	struct dv_conn *c;
	uint8_t *buf;
	bool to_host;
};

static void conn_closed(uv_handle_t *h)
{
	struct dv_conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	free(c->pdu);
	free(c->hist);
	free(c);
}

static void conn_close(struct dv_conn *c, const char *why)
{
	if (c->closing)
		return;
	c->closing = true;
	dv_log(1, "relay: connection closed (%s): %llu bytes to host, %llu to target", why,
	       (unsigned long long)c->bytes_to_host, (unsigned long long)c->bytes_to_target);
	if (c->ctx) {
		struct dv_ctx *x = c->ctx;
		dv_track_unbind(c);
		x->conn = NULL;
	}
	for (struct dv_conn **pp = &dv.conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	uv_close((uv_handle_t *)&c->host, conn_closed);
	uv_close((uv_handle_t *)&c->target, conn_closed);
}

static void on_written(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct dv_conn *c = w->c;
	free(w->buf);
	free(w);
	if (status < 0) {
		conn_close(c, uv_strerror(status));
		return;
	}
	if (!c->closing)
		dv_relay_pause_check(c);
}

static void send_to(struct dv_conn *c, uv_stream_t *s, uint8_t *buf, size_t len, bool to_host)
{
	struct wreq *w = malloc(sizeof(*w));
	if (!w) {
		free(buf);
		conn_close(c, "out of memory");
		return;
	}
	w->c = c;
	w->buf = buf;
	w->to_host = to_host;
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	int rc = uv_write(&w->req, s, &b, 1, on_written);
	if (rc) {
		free(buf);
		free(w);
		conn_close(c, uv_strerror(rc));
	}
}

void dv_emit(struct dv_conn *c, uint8_t *buf, size_t len, bool give)
{
	if (!len) {
		if (give)
			free(buf);
		return;
	}
	if (c->closing) {
		if (give)
			free(buf);
		return;
	}
	uint8_t *b = buf;
	if (!give) {
		b = malloc(len);
		if (!b) {
			conn_close(c, "out of memory");
			return;
		}
		memcpy(b, buf, len);
	}
	c->bytes_to_host += len;
	send_to(c, (uv_stream_t *)&c->host, b, len, true);
	dv_relay_pause_check(c);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	size_t n = 256 * 1024;
	buf->base = malloc(n);
	buf->len = buf->base ? n : 0;
}

static void on_target_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_host_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

void dv_relay_pause_check(struct dv_conn *c)
{
	if (c->closing)
		return;
	size_t to_host = uv_stream_get_write_queue_size((uv_stream_t *)&c->host);
	size_t to_target = uv_stream_get_write_queue_size((uv_stream_t *)&c->target);
	if (to_host > DV_HIGH_WATER && !c->target_reading_paused) {
		uv_read_stop((uv_stream_t *)&c->target);
		c->target_reading_paused = true;
	} else if (to_host <= DV_HIGH_WATER / 2 && c->target_reading_paused) {
		c->target_reading_paused = false;
		uv_read_start((uv_stream_t *)&c->target, on_alloc, on_target_read);
	}
	if (to_target > DV_HIGH_WATER && !c->host_reading_paused) {
		uv_read_stop((uv_stream_t *)&c->host);
		c->host_reading_paused = true;
	} else if (to_target <= DV_HIGH_WATER / 2 && c->host_reading_paused) {
		c->host_reading_paused = false;
		uv_read_start((uv_stream_t *)&c->host, on_alloc, on_host_read);
	}
}

/* The start of both read callbacks: false when there is nothing to pass
 * on (the buffer is freed; an error or EOF closes the connection).  True:
 * bytes to handle, with the commands the host posted before now applied
 * (an SGL posted before its command is known before the target answers). */
static bool read_take(struct dv_conn *c, ssize_t n, const uv_buf_t *buf, const char *eof_why)
{
	if (n < 0) {
		free(buf->base);
		conn_close(c, n == UV_EOF ? eof_why : uv_strerror((int)n));
		return false;
	}
	if (n == 0 || c->closing) {
		free(buf->base);
		return false;
	}
	if (c->ctx)
		dv_ctx_drain_sq(c->ctx);
	return true;
}

static void on_target_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct dv_conn *c = s->data;
	if (!read_take(c, n, buf, "target closed"))
		return;
	dv_track_input(c, (const uint8_t *)buf->base, (size_t)n);
	free(buf->base);
}

static void on_host_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct dv_conn *c = s->data;
	if (!read_take(c, n, buf, "host closed"))
		return;
	c->bytes_to_target += (uint64_t)n;
	send_to(c, (uv_stream_t *)&c->target, (uint8_t *)buf->base, (size_t)n, false);
	dv_relay_pause_check(c);
}

static void on_target_connected(uv_connect_t *req, int status)
{
	struct dv_conn *c = req->data;
	free(req);
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c, uv_strerror(status));
		return;
	}
	c->target_up = true;
	uv_tcp_nodelay(&c->target, 1);
	uv_read_start((uv_stream_t *)&c->target, on_alloc, on_target_read);
	uv_read_start((uv_stream_t *)&c->host, on_alloc, on_host_read);
	dv_log(1, "relay: connected to target");
}

static void on_host_connect(uv_stream_t *l, int status)
{
	if (status < 0)
		return;
	struct dv_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->hist = malloc(DV_HIST);
	uv_tcp_init(dv.loop, &c->host);
	uv_tcp_init(dv.loop, &c->target);
	c->host.data = c->target.data = c;
	c->open_handles = 2;
	c->next = dv.conns;
	dv.conns = c;
	if (!c->hist || uv_accept(l, (uv_stream_t *)&c->host) != 0) {
		conn_close(c, "accept failed");
		return;
	}
	uv_tcp_nodelay(&c->host, 1);
	/* the host's view: its local address is our peer and vice versa */
	int len = sizeof(c->host_local);
	uv_tcp_getpeername(&c->host, (struct sockaddr *)&c->host_local, &len);
	len = sizeof(c->host_peer);
	uv_tcp_getsockname(&c->host, (struct sockaddr *)&c->host_peer, &len);
	uv_connect_t *req = malloc(sizeof(*req));
	if (!req) {
		conn_close(c, "out of memory");
		return;
	}
	req->data = c;
	int rc = uv_tcp_connect(req, &c->target, (const struct sockaddr *)&dv.target_addr, on_target_connected);
	if (rc) {
		free(req);
		conn_close(c, uv_strerror(rc));
	}
}

static bool addr_eq(const struct sockaddr_storage *s, uint16_t family, const uint8_t *addr, uint16_t port)
{
	if (s->ss_family != family)
		return false;
	if (family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)s;
		return a->sin_port == port && !memcmp(&a->sin_addr, addr, 4);
	}
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)s;
	return a->sin6_port == port && !memcmp(&a->sin6_addr, addr, 16);
}

struct dv_conn *dv_conn_find(const struct hwif_ctx_block *b)
{
	for (struct dv_conn *c = dv.conns; c; c = c->next)
		if (!c->closing && addr_eq(&c->host_local, b->family, b->local_addr, b->local_port) &&
		    addr_eq(&c->host_peer, b->family, b->peer_addr, b->peer_port))
			return c;
	return NULL;
}

int dv_relay_start(void)
{
	struct sockaddr_storage la;
	socklen_t len;
	int rc;
	if ((rc = tool_parse_hostport(dv.o.target, &dv.target_addr, &len)))
		return rc;
	if ((rc = tool_parse_hostport(dv.o.listen, &la, &len)))
		return rc;
	uv_tcp_init(dv.loop, &dv.listener);
	if ((rc = uv_tcp_bind(&dv.listener, (const struct sockaddr *)&la, 0)) ||
	    (rc = uv_listen((uv_stream_t *)&dv.listener, 64, on_host_connect)))
		return rc;
	return 0;
}
