/*
 * Test helpers shared by the Check suites.  See helpers.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "pdu.h"

/* ---- randomness ---- */

void th_fill_pattern(void *buf, size_t len, uint32_t seed)
{
	uint8_t *p = buf;
	uint32_t x = seed * 2654435761u + 0x1234567u;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)(x ^ (uint32_t)i);
	}
}

unsigned th_iter(unsigned def)
{
	const char *e = getenv("TOELESS_TEST_ITER");
	double f = 1.0;
	if (e && *e)
		f = strtod(e, NULL);
	double v = def * f;
	if (v < 1.0)
		v = 1.0;
	if (v > 1e8)
		v = 1e8;
	return (unsigned)v;
}

uint64_t th_seed(uint64_t def)
{
	const char *e = getenv("TOELESS_TEST_SEED");
	if (e && *e)
		return strtoull(e, NULL, 0);
	return def;
}

/* ---- buffers ---- */

void th_buf_init(struct th_buf *b)
{
	b->p = NULL;
	b->len = b->cap = 0;
}

void th_buf_free(struct th_buf *b)
{
	free(b->p);
	th_buf_init(b);
}

void th_buf_put(struct th_buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + len)
			ncap *= 2;
		b->p = realloc(b->p, ncap);
		ck_assert_ptr_nonnull(b->p);
		b->cap = ncap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

/* ---- BHS builders ---- */

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

void th_bhs_init(uint8_t bhs[48], uint8_t opcode, uint8_t flags, uint32_t itt)
{
	memset(bhs, 0, 48);
	bhs[0] = opcode;
	bhs[1] = flags;
	ref_put_be32(bhs + 16, itt);
}

void th_bhs_scsi_rsp(uint8_t bhs[48], uint32_t itt, uint8_t response, uint8_t status, uint8_t flags, uint32_t residual)
{
	th_bhs_init(bhs, TOELESS_ISCSI_OP_SCSI_RSP, (uint8_t)(TOELESS_ISCSI_FLAG_FINAL | flags), itt);
	bhs[2] = response;
	bhs[3] = status;
	ref_put_be32(bhs + 24, 0x200);
	ref_put_be32(bhs + 28, 8);
	ref_put_be32(bhs + 32, 71);
	ref_put_be32(bhs + 36, 3); /* ExpDataSN */
	ref_put_be32(bhs + 44, residual);
}

void th_bhs_nop_in(uint8_t bhs[48], uint32_t itt, uint32_t ttt)
{
	th_bhs_init(bhs, TOELESS_ISCSI_OP_NOP_IN, TOELESS_ISCSI_FLAG_FINAL, itt);
	ref_put_be32(bhs + 20, ttt);
	ref_put_be32(bhs + 24, 0x300);
}

void th_bhs_r2t(uint8_t bhs[48], uint32_t itt, uint32_t ttt, uint32_t r2tsn, uint32_t offset, uint32_t desired_len)
{
	th_bhs_init(bhs, TOELESS_ISCSI_OP_R2T, TOELESS_ISCSI_FLAG_FINAL, itt);
	ref_put_be32(bhs + 8, 0x00010000);
	ref_put_be32(bhs + 20, ttt);
	ref_put_be32(bhs + 24, 0x400);
	ref_put_be32(bhs + 36, r2tsn);
	ref_put_be32(bhs + 40, offset);
	ref_put_be32(bhs + 44, desired_len);
}

void th_bhs_reject(uint8_t bhs[48], uint8_t reason)
{
	th_bhs_init(bhs, TOELESS_ISCSI_OP_REJECT, TOELESS_ISCSI_FLAG_FINAL, TOELESS_ISCSI_RESERVED_TAG);
	bhs[2] = reason;
	ref_put_be32(bhs + 24, 0x500);
}

void th_bhs_async(uint8_t bhs[48], uint8_t event, uint8_t vcode)
{
	th_bhs_init(bhs, TOELESS_ISCSI_OP_ASYNC_MSG, TOELESS_ISCSI_FLAG_FINAL, TOELESS_ISCSI_RESERVED_TAG);
	ref_put_be32(bhs + 8, 0x00010000);
	ref_put_be32(bhs + 24, 0x600);
	bhs[36] = event;
	bhs[37] = vcode;
}

size_t th_sense_segment(uint8_t *out, const uint8_t *sense, uint16_t len)
{
	out[0] = (uint8_t)(len >> 8);
	out[1] = (uint8_t)len;
	memcpy(out + 2, sense, len);
	return 2u + len;
}

/* ---- PDU serialiser ---- */

size_t th_pdu_wire_len(const struct th_pdu *p)
{
	return ref_pdu_wire_len(p->ahs_len, p->data_len, p->digests);
}

size_t th_pdu_append(struct th_buf *out, const struct th_pdu *p)
{
	size_t start = out->len, len = th_pdu_wire_len(p);
	uint8_t *w = malloc(len);
	ck_assert_ptr_nonnull(w);
	struct ref_pdu_layout at;
	ref_pdu_write(w, p->bhs, p->keep_lengths, p->ahs, p->ahs_len, p->data, p->data_len, p->digests, &at);
	th_buf_put(out, w, len);
	free(w);
	switch (p->corrupt) {
	case TH_CORRUPT_HDR_DIGEST:
		ck_assert_msg(at.hdr_digest, "no header digest to corrupt");
		out->p[start + at.hdr_digest + 1] ^= 0x10;
		break;
	case TH_CORRUPT_DATA_DIGEST:
		ck_assert_msg(at.data_digest, "no data digest to corrupt");
		out->p[start + at.data_digest + 2] ^= 0x01;
		break;
	case TH_CORRUPT_BYTE:
		ck_assert_uint_lt(start + p->corrupt_off, out->len);
		out->p[start + p->corrupt_off] ^= 0x40;
		break;
	case TH_CORRUPT_NONE: break;
	}
	return start;
}

size_t th_append_data_in(struct th_buf *out, unsigned digests, uint32_t itt, uint32_t datasn, uint32_t offset,
			 const void *data, uint32_t len, uint8_t flags, uint8_t status, uint32_t residual)
{
	struct th_pdu p;
	memset(&p, 0, sizeof(p));
	th_bhs_data_in(p.bhs, itt, datasn, offset, flags, status, residual);
	p.data = data;
	p.data_len = len;
	p.digests = digests;
	return th_pdu_append(out, &p);
}

size_t th_append_bhs(struct th_buf *out, unsigned digests, const uint8_t bhs[48], const void *data, uint32_t len)
{
	struct th_pdu p;
	memset(&p, 0, sizeof(p));
	memcpy(p.bhs, bhs, 48);
	p.data = data;
	p.data_len = len;
	p.digests = digests;
	return th_pdu_append(out, &p);
}

/* ---- parser ---- */

size_t th_pdu_parse(const uint8_t *buf, size_t len, unsigned digests, struct th_parsed *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 48)
		return 0;
	memcpy(out->bhs, buf, 48);
	out->ahs_len = (uint32_t)buf[4] * 4;
	out->data_len = (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 | buf[7];
	out->pad_len = (4 - (out->data_len & 3)) & 3;
	size_t n = 48 + out->ahs_len;
	if (len < n)
		return 0;
	memcpy(out->ahs, buf + 48, out->ahs_len);
	if (digests & TOELESS_CTX_HEADER_DIGEST) {
		if (len < n + 4)
			return 0;
		out->has_hdr_digest = true;
		out->hdr_digest = get_le32(buf + n);
		out->hdr_digest_calc = th_crc32c(0, buf, n);
		n += 4;
	}
	if (out->data_len) {
		size_t seg = out->data_len + out->pad_len;
		if (len < n + seg)
			return 0;
		out->data = buf + n;
		out->pad_zero = true;
		for (uint32_t i = 0; i < out->pad_len; i++)
			if (buf[n + out->data_len + i])
				out->pad_zero = false;
		if (digests & TOELESS_CTX_DATA_DIGEST) {
			if (len < n + seg + 4)
				return 0;
			out->has_data_digest = true;
			out->data_digest = get_le32(buf + n + seg);
			out->data_digest_calc = th_crc32c(0, buf + n, seg);
			seg += 4;
		}
		n += seg;
	} else {
		out->pad_zero = true;
	}
	out->wire_len = n;
	return n;
}

/* ---- sockets ---- */

const char *const th_sock_name[2] = { "unix", "tcp" };

void th_set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);
	ck_assert_int_ge(fl, 0);
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	ck_assert_int_eq(fcntl(fd, F_SETFL, fl), 0);
}

void th_sockpair(enum th_sock kind, int sv[2])
{
	if (kind == TH_SOCK_UNIX) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		return;
	}
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(l, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = 0;
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	socklen_t al = sizeof(a);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &al), 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c, 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
	int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(s, 0);
	close(l);
	int one = 1;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sv[0] = c;
	sv[1] = s;
}

int th_inq(int fd)
{
	int n = 0;
	if (ioctl(fd, FIONREAD, &n) != 0)
		return -errno;
	return n;
}

int th_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct pollfd pf = { .fd = fd, .events = POLLOUT };
				if (poll(&pf, 1, TH_TIMEOUT_MS) <= 0)
					return -ETIMEDOUT;
				continue;
			}
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int th_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;
	int64_t deadline = now_ms() + timeout_ms;
	while (len) {
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			int64_t left = deadline - now_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			poll(&pf, 1, (int)(left < 100 ? left : 100));
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void wait_inq_at_least(int rfd, int want, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	while (th_inq(rfd) < want) {
		ck_assert_msg(now_ms() < deadline, "bytes written to the peer never reached the receiver");
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, NULL);
	}
}

void th_feed(int peer, int rfd, const void *buf, size_t len)
{
	int before = th_inq(rfd);
	ck_assert_int_ge(before, 0);
	ck_assert_int_eq(th_write_all(peer, buf, len), 0);
	wait_inq_at_least(rfd, before + (int)len, TH_TIMEOUT_MS);
}

/* ---- writer thread ---- */

struct th_writer {
	pthread_t thr;
	int fd;
	const uint8_t *buf;
	size_t len;
	struct th_writer_opts o;
	volatile int stop;
	size_t written;
};

static bool writer_wait_drain(struct th_writer *w)
{
	/* wait until the receiver has read everything, so that it sees this
	 * chunk boundary; give up after a while (the reader may legitimately
	 * stop reading, e.g. after a failure) */
	int64_t deadline = now_ms() + 2000;
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		int n = th_inq(w->o.drain_fd);
		if (n <= 0)
			return true;
		if (now_ms() > deadline)
			return false;
		struct timespec ts = { 0, 10000 };
		nanosleep(&ts, NULL);
	}
	return false;
}

static void *writer_main(void *arg)
{
	struct th_writer *w = arg;
	uint64_t rs = w->o.seed ? w->o.seed : 1;
	size_t off = 0;
	while (off < w->len && !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		size_t n;
		switch (w->o.split) {
		case TH_SPLIT_BYTE: n = 1; break;
		case TH_SPLIT_FIXED: n = w->o.chunk ? w->o.chunk : 1; break;
		case TH_SPLIT_RANDOM: n = th_rand_range(&rs, 1, (uint32_t)(w->o.chunk ? w->o.chunk : 64)); break;
		default: n = w->len; break;
		}
		if (n > w->len - off)
			n = w->len - off;
		size_t done = 0;
		while (done < n && !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
			ssize_t r = send(w->fd, w->buf + off + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					struct pollfd pf = { .fd = w->fd, .events = POLLOUT };
					poll(&pf, 1, 50);
					continue;
				}
				goto out;
			}
			done += (size_t)r;
		}
		off += done;
		__atomic_store_n(&w->written, off, __ATOMIC_RELEASE);
		if (w->o.drain_fd >= 0 && off < w->len)
			writer_wait_drain(w);
		if (w->o.delay_us) {
			struct timespec ts = { w->o.delay_us / 1000000, (long)(w->o.delay_us % 1000000) * 1000 };
			nanosleep(&ts, NULL);
		}
	}
out:
	if (w->o.shutdown_after && !__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE))
		shutdown(w->fd, SHUT_WR);
	return NULL;
}

struct th_writer *th_writer_start(int fd, const void *buf, size_t len, const struct th_writer_opts *o)
{
	struct th_writer *w = calloc(1, sizeof(*w));
	ck_assert_ptr_nonnull(w);
	w->fd = fd;
	w->buf = buf;
	w->len = len;
	w->o = *o;
	ck_assert_int_eq(pthread_create(&w->thr, NULL, writer_main, w), 0);
	return w;
}

size_t th_writer_join(struct th_writer *w)
{
	/* give a writer that is still busy a moment to finish, then stop it */
	int64_t deadline = now_ms() + 1000;
	while (__atomic_load_n(&w->written, __ATOMIC_ACQUIRE) < w->len && now_ms() < deadline) {
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	pthread_join(w->thr, NULL);
	size_t n = w->written;
	free(w);
	return n;
}

/* ---- library helpers ---- */

toeless_device *th_dev_open(const char *spec)
{
	toeless_device *dev = NULL;
	int rc = toeless_device_open(spec, NULL, &dev);
	ck_assert_msg(rc == 0, "toeless_device_open(%s): %d %s", spec ? spec : "NULL", rc, toeless_strerror(rc));
	ck_assert_ptr_nonnull(dev);
	return dev;
}

toeless_cq *th_cq_create(toeless_device *dev, uint32_t depth)
{
	struct toeless_cq_attr a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.depth = depth;
	toeless_cq *cq = NULL;
	int rc = toeless_cq_create(dev, &a, &cq);
	ck_assert_msg(rc == 0, "toeless_cq_create: %d %s", rc, toeless_strerror(rc));
	ck_assert_ptr_nonnull(cq);
	return cq;
}

void th_ctx_attr_init(struct toeless_ctx_attr *a, int fd, toeless_cq *cq, unsigned flags, uint32_t max_recv_dsl)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->fd = fd;
	a->cq = cq;
	a->params.flags = flags;
	a->params.max_recv_dsl = max_recv_dsl;
}

toeless_ctx *th_ctx_create(toeless_device *dev, toeless_cq *cq, int fd, unsigned flags, uint32_t max_recv_dsl)
{
	struct toeless_ctx_attr a;
	th_ctx_attr_init(&a, fd, cq, flags, max_recv_dsl);
	toeless_ctx *ctx = NULL;
	int rc = toeless_ctx_create(dev, &a, &ctx);
	ck_assert_msg(rc == 0, "toeless_ctx_create: %d %s", rc, toeless_strerror(rc));
	ck_assert_ptr_nonnull(ctx);
	return ctx;
}

void th_query(toeless_device *dev, struct toeless_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	caps->size = sizeof(*caps);
	ck_assert_int_eq(toeless_device_query(dev, caps), 0);
}

void th_ctx_stats(toeless_ctx *ctx, struct toeless_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->size = sizeof(*st);
	ck_assert_int_eq(toeless_ctx_stats(ctx, st), 0);
}

void th_conn_open_spec(struct th_conn *c, enum th_sock kind, const char *spec, const struct toeless_ctx_attr *tmpl)
{
	int sv[2];
	memset(c, 0, sizeof(*c));
	th_sockpair(kind, sv);
	c->fd = sv[0];
	c->peer = sv[1];
	th_set_nonblock(c->fd, true);
	c->dev = th_dev_open(spec);
	c->cq = th_cq_create(c->dev, 0);
	struct toeless_ctx_attr a = *tmpl;
	a.size = sizeof(a);
	a.fd = c->fd;
	a.cq = c->cq;
	int rc = toeless_ctx_create(c->dev, &a, &c->ctx);
	ck_assert_msg(rc == 0, "toeless_ctx_create: %d %s", rc, toeless_strerror(rc));
}

void th_conn_open_attr(struct th_conn *c, enum th_sock kind, const struct toeless_ctx_attr *tmpl)
{
	th_conn_open_spec(c, kind, "sw", tmpl);
}

void th_conn_open(struct th_conn *c, enum th_sock kind, unsigned flags, uint32_t max_recv_dsl)
{
	struct toeless_ctx_attr a;
	th_ctx_attr_init(&a, -1, NULL, flags, max_recv_dsl);
	th_conn_open_attr(c, kind, &a);
}

void th_conn_close(struct th_conn *c)
{
	if (c->ctx)
		ck_assert_int_eq(toeless_ctx_destroy(c->ctx), 0);
	c->ctx = NULL;
	if (c->cq)
		ck_assert_int_eq(toeless_cq_destroy(c->cq), 0);
	c->cq = NULL;
	if (c->dev)
		ck_assert_int_eq(toeless_device_close(c->dev), 0);
	c->dev = NULL;
	if (c->fd >= 0)
		close(c->fd);
	if (c->peer >= 0)
		close(c->peer);
	c->fd = c->peer = -1;
}

int th_recv(toeless_ctx *ctx, int fd, struct toeless_pdu *pdu, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		int rc = toeless_pdu_recv(ctx, pdu);
		if (rc != -EAGAIN)
			return rc;
		int64_t left = deadline - now_ms();
		ck_assert_msg(left > 0, "no PDU within %d ms", timeout_ms);
		/* poll in short slices: a receiver that returns -EAGAIN without
		 * having drained the socket must not hang the suite */
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		poll(&pf, 1, (int)(left < 20 ? left : 20));
	}
}

int th_cq_drain(toeless_cq *cq, struct toeless_completion *out, int max)
{
	int n = 0;
	struct toeless_completion tmp[16];
	for (;;) {
		int rc = toeless_cq_poll(cq, tmp, 16);
		ck_assert_int_ge(rc, 0);
		if (rc == 0)
			return n;
		ck_assert_msg(n + rc <= max, "more completions than expected (%d)", max);
		if (out)
			memcpy(out + n, tmp, sizeof(*tmp) * (size_t)rc);
		n += rc;
	}
}

int th_cq_wait(toeless_cq *cq, struct toeless_completion *out, int want, int timeout_ms)
{
	int n = 0;
	int64_t deadline = now_ms() + timeout_ms;
	while (n < want) {
		int rc = toeless_cq_poll(cq, out + n, want - n);
		ck_assert_int_ge(rc, 0);
		n += rc;
		if (n >= want || now_ms() > deadline)
			break;
		if (rc == 0) {
			struct pollfd pf = { .fd = toeless_cq_fd(cq), .events = POLLIN };
			poll(&pf, 1, 10);
		}
	}
	return n;
}

/* ---- canaries and guard pages ---- */

uint8_t *th_canary_alloc(size_t len)
{
	uint8_t *b = malloc(len + 2 * TH_CANARY_LEN);
	ck_assert_ptr_nonnull(b);
	memset(b, TH_CANARY_BYTE, TH_CANARY_LEN);
	memset(b + TH_CANARY_LEN, 0, len);
	memset(b + TH_CANARY_LEN + len, TH_CANARY_BYTE, TH_CANARY_LEN);
	return b + TH_CANARY_LEN;
}

bool th_canary_ok(const uint8_t *p, size_t len)
{
	for (size_t i = 1; i <= TH_CANARY_LEN; i++)
		if (p[-(ptrdiff_t)i] != TH_CANARY_BYTE)
			return false;
	for (size_t i = 0; i < TH_CANARY_LEN; i++)
		if (p[len + i] != TH_CANARY_BYTE)
			return false;
	return true;
}

void th_canary_free(uint8_t *p)
{
	if (p)
		free(p - TH_CANARY_LEN);
}

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

uint8_t *th_guard_alloc(size_t len)
{
	size_t pg = page_size();
	size_t body = (len + pg - 1) / pg * pg;
	uint8_t *m = mmap(NULL, body + 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	ck_assert_int_eq(mprotect(m, pg, PROT_NONE), 0);
	ck_assert_int_eq(mprotect(m + pg + body, pg, PROT_NONE), 0);
	return m + pg + body - len;
}

void th_guard_free(uint8_t *p, size_t len)
{
	if (!p)
		return;
	size_t pg = page_size();
	size_t body = (len + pg - 1) / pg * pg;
	uint8_t *m = p + len - body - pg;
	munmap(m, body + 2 * pg);
}

/* ---- suites ---- */

void th_add_loop_test(Suite *s, const char *name, const TTest *test, int start, int end)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, 60);
	_tcase_add_test(tc, test, 0, 0, start, end);
	suite_add_tcase(s, tc);
}

void th_add_test(Suite *s, const char *name, const TTest *test)
{
	th_add_loop_test(s, name, test, 0, 1);
}

int th_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
