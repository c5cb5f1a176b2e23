/*
 * The core's device layer: completion queues (order, growth, eventfd,
 * many producers), device open by spec and environment, capability query,
 * attribute and counter struct sizes, logging, memory registration,
 * strerror and version, and the AHS chain check.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "toeless.h"
#include "toeless_int.h"
#include "backends.h"
#include "helpers.h"

static int fd_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int rc = poll(&pfd, 1, 0);

	ck_assert_int_ge(rc, 0);
	return rc == 1 && (pfd.revents & POLLIN);
}

static toeless_device *open_sw(void)
{
	toeless_device *dev = NULL;

	ck_assert_int_eq(toeless_device_open("sw", NULL, &dev), 0);
	ck_assert_ptr_nonnull(dev);
	return dev;
}

static toeless_cq *make_cq(toeless_device *dev, uint32_t depth)
{
	struct toeless_cq_attr a = { .size = sizeof(a), .depth = depth };
	toeless_cq *cq = NULL;

	ck_assert_int_eq(toeless_cq_create(dev, &a, &cq), 0);
	ck_assert_ptr_nonnull(cq);
	return cq;
}

static void push_one(toeless_cq *cq, uint64_t user_data)
{
	struct toeless_completion c;

	memset(&c, 0, sizeof(c));
	c.type = TOELESS_CQE_SGL;
	c.user_data = user_data;
	c.itt = (uint32_t)user_data;
	tl_cq_push(cq, &c);
}

/* ---- completion queues ---- */

START_TEST(test_cq_create_destroy)
{
	toeless_device *dev = open_sw();
	struct toeless_cq_attr a = { .size = sizeof(a) };
	struct {
		struct toeless_cq_attr a;
		uint64_t future;
	} big = { { .size = sizeof(big) }, 0 };
	toeless_cq *cq, *cq2;

	ck_assert_int_eq(toeless_cq_create(NULL, &a, &cq), -EINVAL);
	ck_assert_int_eq(toeless_cq_create(dev, &a, NULL), -EINVAL);
	/* NULL attr and depth 0 are the defaults. */
	ck_assert_int_eq(toeless_cq_create(dev, NULL, &cq), 0);
	ck_assert_uint_eq(cq->cap, 1024);
	ck_assert_int_eq(toeless_cq_create(dev, &a, &cq2), 0);
	ck_assert_int_ge(toeless_cq_fd(cq), 0);
	ck_assert_int_ne(toeless_cq_fd(cq), toeless_cq_fd(cq2));
	ck_assert_int_eq(toeless_cq_destroy(cq2), 0);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);

	/* Attribute sizes: too small, a newer caller's zero tail, non-zero tail. */
	a.size = 4;
	ck_assert_int_eq(toeless_cq_create(dev, &a, &cq), -EINVAL);
	big.a.depth = 3;
	ck_assert_int_eq(toeless_cq_create(dev, &big.a, &cq), 0);
	ck_assert_uint_eq(cq->cap, 3);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	big.future = 1;
	ck_assert_int_eq(toeless_cq_create(dev, &big.a, &cq), -EINVAL);
	/* A size that stops before depth: depth is taken as 0. */
	a.size = sizeof(size_t);
	a.depth = 5;
	ck_assert_int_eq(toeless_cq_create(dev, &a, &cq), 0);
	ck_assert_uint_eq(cq->cap, 1024);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);

	/* Deeper than the device allows. */
	a.size = sizeof(a);
	a.depth = (1u << 24) + 1;
	ck_assert_int_eq(toeless_cq_create(dev, &a, &cq), -EINVAL);

	ck_assert_int_eq(toeless_cq_destroy(NULL), -EINVAL);
	ck_assert_int_eq(toeless_cq_fd(NULL), -EINVAL);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

START_TEST(test_cq_poll_args)
{
	toeless_device *dev = open_sw();
	toeless_cq *cq = make_cq(dev, 4);
	struct toeless_completion c[2];

	ck_assert_int_eq(toeless_cq_poll(NULL, c, 1), -EINVAL);
	ck_assert_int_eq(toeless_cq_poll(cq, NULL, 1), -EINVAL);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 0), -EINVAL);
	ck_assert_int_eq(toeless_cq_poll(cq, c, -1), -EINVAL);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 2), 0);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

START_TEST(test_cq_order)
{
	toeless_device *dev = open_sw();
	toeless_cq *cq = make_cq(dev, 8);
	struct toeless_completion c[8];
	uint64_t next_in = 0, next_out = 0;

	/* Many laps around a ring that never needs to grow. */
	for (int round = 0; round < 100; round++) {
		int n = 1 + round % 8, max = 1 + round % 3;

		ck_assert_int_eq(tl_cq_reserve(cq, (uint32_t)n), 0);
		for (int i = 0; i < n; i++)
			push_one(cq, next_in++);
		while (next_out < next_in) {
			int r = toeless_cq_poll(cq, c, max);

			ck_assert_int_gt(r, 0);
			ck_assert_int_le(r, max);
			for (int i = 0; i < r; i++) {
				ck_assert_uint_eq(c[i].type, TOELESS_CQE_SGL);
				ck_assert_uint_eq(c[i].user_data, next_out++);
			}
		}
	}
	ck_assert_uint_eq(cq->cap, 8);
	ck_assert_uint_eq(cq->reserved, 0);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 8), 0);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

START_TEST(test_cq_growth)
{
	toeless_device *dev = open_sw();
	toeless_cq *cq = make_cq(dev, 4);
	struct toeless_completion c[64];
	uint64_t next_in = 0, next_out = 0;

	/* Move the head off 0 so growth has to unwrap the ring. */
	ck_assert_int_eq(tl_cq_reserve(cq, 3), 0);
	for (int i = 0; i < 3; i++)
		push_one(cq, next_in++);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 2), 2);
	next_out = 2;
	ck_assert_int_eq(tl_cq_reserve(cq, 2), 0);
	push_one(cq, next_in++);
	push_one(cq, next_in++); /* wraps: head 2, entries at 2, 3, 0 */

	/* Far past the initial depth, with nobody polling. */
	for (int i = 0; i < 5000; i++) {
		ck_assert_int_eq(tl_cq_reserve(cq, 1), 0);
		push_one(cq, next_in++);
	}
	ck_assert_uint_ge(cq->cap, 5003);
	ck_assert_uint_eq(cq->count, 5003);
	/* A reservation that cannot be met changes nothing. */
	ck_assert_int_eq(tl_cq_reserve(cq, UINT32_MAX), -ENOMEM);
	ck_assert_uint_eq(cq->reserved, 0);
	ck_assert_uint_eq(cq->count, 5003);

	while (next_out < next_in) {
		int r = toeless_cq_poll(cq, c, 64);

		ck_assert_int_gt(r, 0);
		for (int i = 0; i < r; i++)
			ck_assert_uint_eq(c[i].user_data, next_out++);
	}
	ck_assert_int_eq(toeless_cq_poll(cq, c, 64), 0);
	ck_assert(!fd_readable(toeless_cq_fd(cq)));

	/* Reservations count against room: reserve, give back. */
	ck_assert_int_eq(tl_cq_reserve(cq, 10), 0);
	ck_assert_uint_eq(cq->reserved, 10);
	tl_cq_unreserve(cq, 4);
	ck_assert_uint_eq(cq->reserved, 6);
	tl_cq_unreserve(cq, 6);
	ck_assert_uint_eq(cq->reserved, 0);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

START_TEST(test_cq_eventfd)
{
	toeless_device *dev = open_sw();
	toeless_cq *cq = make_cq(dev, 4);
	int fd = toeless_cq_fd(cq);
	struct toeless_completion c[4];

	ck_assert(!fd_readable(fd));
	ck_assert_int_eq(tl_cq_reserve(cq, 3), 0);
	/* A reservation alone is no completion. */
	ck_assert(!fd_readable(fd));
	push_one(cq, 1);
	ck_assert(fd_readable(fd));
	push_one(cq, 2);
	push_one(cq, 3);
	ck_assert(fd_readable(fd));
	/* Readable while anything waits. */
	ck_assert_int_eq(toeless_cq_poll(cq, c, 2), 2);
	ck_assert(fd_readable(fd));
	ck_assert_int_eq(toeless_cq_poll(cq, c, 4), 1);
	ck_assert_uint_eq(c[0].user_data, 3);
	ck_assert(!fd_readable(fd));
	/* An empty poll leaves it quiet; the next push wakes it again. */
	ck_assert_int_eq(toeless_cq_poll(cq, c, 4), 0);
	ck_assert(!fd_readable(fd));
	ck_assert_int_eq(tl_cq_reserve(cq, 1), 0);
	push_one(cq, 4);
	ck_assert(fd_readable(fd));
	ck_assert_int_eq(toeless_cq_poll(cq, c, 4), 1);
	ck_assert(!fd_readable(fd));
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

/* Open descriptors of this process (/proc/self/fd entries, less the
 * directory's own). */
static int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* TOELESS_CQ_POLLED: no eventfd exists, so none is written or read, and
 * every completion still arrives by polling: 300 SGL completions through a
 * ring of 2 that grows, the context's ERROR completion, and asynchronous
 * CRC completions. */
START_TEST(test_cq_polled)
{
	toeless_device *dev = open_sw();
	struct toeless_cq_attr a = { .size = sizeof(a), .depth = 2 };
	toeless_cq *cq = NULL, *plain = NULL;
	struct toeless_completion c[512];
	enum { NTASK = 300, LEN = 1000 };
	static uint8_t bufs[NTASK][LEN], src[LEN];

	/* argument checks: unknown flags and the reserved word are refused;
	 * pad0 was padding and is ignored */
	a.flags = 1u << 1;
	ck_assert_int_eq(toeless_cq_create(dev, &a, &cq), -EINVAL);
	a.flags = TOELESS_CQ_POLLED;
	a.reserved = 1;
	ck_assert_int_eq(toeless_cq_create(dev, &a, &cq), -EINVAL);
	a.reserved = 0;
	a.pad0 = 0xdeadbeef;

	/* a plain queue takes one descriptor, a polled one none */
	int fds0 = count_fds();
	ck_assert_int_eq(toeless_cq_create(dev, &a, &cq), 0);
	ck_assert_int_eq(count_fds(), fds0);
	ck_assert_int_eq(toeless_cq_fd(cq), -EOPNOTSUPP);
	ck_assert_int_eq(cq->efd, -1);
	plain = make_cq(dev, 2);
	ck_assert_int_eq(count_fds(), fds0 + 1);
	ck_assert_int_ge(toeless_cq_fd(plain), 0);
	ck_assert_int_eq(toeless_cq_destroy(plain), 0);

	int sv[2];
	th_sockpair(TH_SOCK_UNIX, sv);
	th_set_nonblock(sv[0], true);
	toeless_ctx *ctx = th_ctx_create(dev, cq, sv[0], TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST, 0);
	struct th_buf wire;
	th_buf_init(&wire);
	th_fill_pattern(src, LEN, 7);
	for (uint32_t i = 0; i < NTASK; i++) {
		struct iovec iov = { bufs[i], LEN };
		ck_assert_int_eq(toeless_sgl_post(ctx, i, &iov, 1, 1000 + i), 0);
		th_append_data_in(&wire, TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST, i, 0, 0, src, LEN,
				  TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS, 0, 0);
	}
	/* the writer thread paces the stream while the context receives */
	struct th_writer_opts wo = { .split = TH_SPLIT_FIXED, .chunk = 4096, .drain_fd = -1 };
	struct th_writer *w = th_writer_start(sv[1], wire.p, wire.len, &wo);
	int got = 0;
	for (uint32_t i = 0; i < NTASK; i++) {
		struct toeless_pdu pdu;
		ck_assert_int_eq(th_recv(ctx, sv[0], &pdu, TH_TIMEOUT_MS), 0);
		ck_assert(pdu.flags & TOELESS_PDU_F_TASK_DONE);
		ck_assert(!cq->signalled);
		/* poll every third PDU: completions wait in the ring meanwhile */
		if (i % 3 == 2 || i == NTASK - 1) {
			int n = toeless_cq_poll(cq, c + got, 512 - got);
			ck_assert_int_ge(n, 1);
			got += n;
		}
	}
	ck_assert_uint_eq(th_writer_join(w), wire.len);
	ck_assert_int_eq(got, NTASK);
	for (int i = 0; i < NTASK; i++) {
		ck_assert_uint_eq(c[i].type, TOELESS_CQE_SGL);
		ck_assert_int_eq(c[i].status, 0);
		ck_assert_uint_eq(c[i].user_data, 1000 + (uint64_t)i);
		ck_assert_uint_eq(c[i].bytes_placed, LEN);
		ck_assert_uint_eq(c[i].data_digest, TOELESS_DIGEST_OK);
		ck_assert_mem_eq(bufs[i], src, LEN);
	}

	/* asynchronous CRC requests complete through the same polled queue */
	struct iovec civ = { src, LEN };
	struct toeless_crc_req req[8];
	for (int i = 0; i < 8; i++)
		req[i] = (struct toeless_crc_req){ .iov = &civ, .iovcnt = 1, .seed = (uint32_t)i, .user_data = 50 + i };
	ck_assert_int_eq(toeless_crc_submit(dev, cq, req, 8), 8);
	ck_assert_int_eq(th_cq_wait(cq, c, 8, TH_TIMEOUT_MS), 8);
	for (int i = 0; i < 8; i++) {
		ck_assert_uint_eq(c[i].type, TOELESS_CQE_CRC);
		ck_assert_uint_eq(c[i].user_data, 50 + (uint64_t)i);
		ck_assert_uint_eq(c[i].crc, toeless_crc32c((uint32_t)i, src, LEN));
	}

	/* a failed context's ERROR completion, and a cancel's, are polled too */
	struct iovec iov = { bufs[0], LEN };
	ck_assert_int_eq(toeless_sgl_post(ctx, 7, &iov, 1, 77), 0);
	ck_assert_int_eq(toeless_sgl_cancel(ctx, 7), 0);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 4), 1);
	ck_assert_int_eq(c[0].status, -ECANCELED);
	ck_assert_uint_eq(c[0].user_data, 77);
	close(sv[1]);
	struct toeless_pdu pdu;
	ck_assert_int_lt(th_recv(ctx, sv[0], &pdu, TH_TIMEOUT_MS), 0);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 4), 1);
	ck_assert_uint_eq(c[0].type, TOELESS_CQE_ERROR);
	ck_assert(!cq->signalled);

	th_buf_free(&wire);
	ck_assert_int_eq(toeless_ctx_destroy(ctx), 0);
	close(sv[0]);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

#define PRODUCERS    4
#define PER_PRODUCER 10000

struct producer {
	toeless_cq *cq;
	uint32_t id;
};

static void *producer_main(void *arg)
{
	struct producer *p = arg;

	for (uint32_t i = 0; i < PER_PRODUCER; i++) {
		/* Reserve in small groups, like a context posting SGLs. */
		if (i % 4 == 0 && tl_cq_reserve(p->cq, 4) != 0)
			return (void *)1;
		push_one(p->cq, (uint64_t)p->id << 32 | i);
	}
	return NULL;
}

START_TEST(test_cq_threads)
{
	toeless_device *dev = open_sw();
	toeless_cq *cq = make_cq(dev, 16);
	struct producer p[PRODUCERS];
	pthread_t th[PRODUCERS];
	uint8_t *seen = calloc(PRODUCERS * PER_PRODUCER, 1);
	uint32_t next[PRODUCERS] = { 0 };
	struct toeless_completion c[37];
	int total = 0, idle = 0;

	ck_assert_ptr_nonnull(seen);
	for (int i = 0; i < PRODUCERS; i++) {
		p[i].cq = cq;
		p[i].id = (uint32_t)i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, producer_main, &p[i]), 0);
	}
	while (total < PRODUCERS * PER_PRODUCER) {
		struct pollfd pfd = { .fd = toeless_cq_fd(cq), .events = POLLIN };
		int r;

		/* Wait on the descriptor the way an event loop does. */
		ck_assert_int_ge(poll(&pfd, 1, 100), 0);
		r = toeless_cq_poll(cq, c, 37);
		ck_assert_int_ge(r, 0);
		if (r == 0) {
			ck_assert_msg(++idle < 300, "completions stopped after %d", total);
			continue;
		}
		idle = 0;
		for (int i = 0; i < r; i++) {
			uint32_t who = (uint32_t)(c[i].user_data >> 32), seq = (uint32_t)c[i].user_data;

			ck_assert_uint_lt(who, PRODUCERS);
			ck_assert_uint_lt(seq, PER_PRODUCER);
			ck_assert_msg(!seen[who * PER_PRODUCER + seq], "entry %u/%u twice", who, seq);
			seen[who * PER_PRODUCER + seq] = 1;
			/* Each producer's entries come out in its order. */
			ck_assert_uint_eq(seq, next[who]);
			next[who]++;
		}
		total += r;
	}
	for (int i = 0; i < PRODUCERS; i++) {
		void *ret;

		ck_assert_int_eq(pthread_join(th[i], &ret), 0);
		ck_assert_ptr_null(ret);
		ck_assert_uint_eq(next[i], PER_PRODUCER);
	}
	ck_assert_int_eq(toeless_cq_poll(cq, c, 37), 0);
	ck_assert(!fd_readable(toeless_cq_fd(cq)));
	ck_assert_uint_eq(cq->reserved, 0);
	free(seen);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

START_TEST(test_cq_busy)
{
	toeless_device *dev = open_sw();
	toeless_cq *cq = make_cq(dev, 4);
	uint8_t buf[4] = { 1, 2, 3, 4 };
	struct iovec iov = { buf, 4 };
	struct toeless_crc_req req = { .iov = &iov, .iovcnt = 1, .user_data = 42 };
	struct toeless_completion c[2];
	uint64_t id;

	/* The device cannot close under its queue. */
	ck_assert_int_eq(toeless_device_close(dev), -EBUSY);

	/* A context delivering to the queue. */
	tl_cq_bind(cq);
	ck_assert_int_eq(toeless_cq_destroy(cq), -EBUSY);
	tl_cq_unbind(cq);

	/* An outstanding CRC request. */
	ck_assert_int_eq(tl_cq_crc_begin(cq, &req, 1, &id), 0);
	ck_assert_uint_eq(id, 1);
	ck_assert_int_eq(toeless_cq_destroy(cq), -EBUSY);
	toeless_backend_crc_done(cq, id, 0x1234, 0);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 2), 1);
	ck_assert_uint_eq(c[0].type, TOELESS_CQE_CRC);
	ck_assert_uint_eq(c[0].user_data, 42);
	ck_assert_uint_eq(c[0].crc, 0x1234);

	/* Rolled back requests are gone too, and ids keep counting. */
	ck_assert_int_eq(tl_cq_crc_begin(cq, &req, 1, &id), 0);
	ck_assert_uint_eq(id, 2);
	tl_cq_crc_abort(cq, id, 1);
	ck_assert_uint_eq(cq->reserved, 0);
	toeless_backend_crc_done(cq, id, 0, 0);
	ck_assert_int_eq(toeless_cq_poll(cq, c, 2), 0);

	/* Unpolled completions do not hold the queue. */
	ck_assert_int_eq(tl_cq_reserve(cq, 1), 0);
	push_one(cq, 9);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

/* Many CRC requests outstanding at once, completed out of order: the id
 * table grows and deletes without losing one. */
START_TEST(test_cq_crc_table)
{
	toeless_device *dev = open_sw();
	toeless_cq *cq = make_cq(dev, 4);
	enum { N = 3000 };
	struct toeless_crc_req *reqs = calloc(N, sizeof(*reqs));
	uint8_t *seen = calloc(N, 1);
	struct toeless_completion c[128];
	uint64_t first = 0, x = 1;
	int got = 0;

	ck_assert(reqs && seen);
	for (int i = 0; i < N; i++)
		reqs[i].user_data = 1000000 + (uint64_t)i;
	/* Three batches, so ids from separate begin calls interleave. */
	for (int b = 0; b < 3; b++) {
		uint64_t id;

		ck_assert_int_eq(tl_cq_crc_begin(cq, reqs + b * 1000, 1000, &id), 0);
		if (b == 0)
			first = id;
		ck_assert_uint_eq(id, first + (uint64_t)b * 1000);
	}
	ck_assert_uint_eq(cq->crc_count, N);
	/* Complete in a scrambled order (a permutation: 7919 is prime to N). */
	for (int i = 0; i < N; i++) {
		x = (x + 7919) % N;
		toeless_backend_crc_done(cq, first + x, (uint32_t)x, 0);
	}
	ck_assert_uint_eq(cq->crc_count, 0);
	while (got < N) {
		int r = toeless_cq_poll(cq, c, 128);

		ck_assert_int_gt(r, 0);
		for (int i = 0; i < r; i++) {
			uint64_t idx = c[i].user_data - 1000000;

			ck_assert_uint_lt(idx, N);
			ck_assert(!seen[idx]);
			seen[idx] = 1;
			ck_assert_uint_eq(c[i].crc, (uint32_t)idx);
		}
		got += r;
	}
	free(reqs);
	free(seen);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

/* Long-lived requests among many short ones: ids wrap around the table
 * many times, so entries collide and deletions must keep every probe run
 * intact.  Each completion finds its request; nothing is an anomaly. */
START_TEST(test_cq_crc_churn)
{
	toeless_device *dev = open_sw();
	toeless_cq *cq = make_cq(dev, 4);
	enum { K = 100, STEPS = 40000 };
	uint64_t live[K], rng = 12345, issued = 0, completed = 0;
	int nlive = 0;
	struct toeless_completion c[64];
	struct toeless_stats st = { .size = sizeof(st) };

	for (int step = 0; step < STEPS || nlive; step++) {
		bool add;

		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		add = step < STEPS && nlive < K && (nlive == 0 || (rng >> 40) % 2);
		if (add) {
			struct toeless_crc_req req = { .user_data = issued };
			uint64_t id;

			ck_assert_int_eq(tl_cq_crc_begin(cq, &req, 1, &id), 0);
			live[nlive++] = id << 20 | issued;
			issued++;
		} else {
			/* Mostly recent ones: the old ones stay and get wrapped. */
			int pick = (rng >> 33) % 8 ? nlive - 1 - (int)((rng >> 20) % (nlive < 4 ? nlive : 4))
						   : (int)((rng >> 20) % nlive);
			uint64_t v = live[pick];

			live[pick] = live[--nlive];
			toeless_backend_crc_done(cq, v >> 20, (uint32_t)(v & 0xfffff), 0);
			ck_assert_int_eq(toeless_cq_poll(cq, c, 64), 1);
			ck_assert_uint_eq(c[0].user_data, v & 0xfffff);
			ck_assert_uint_eq(c[0].crc, (uint32_t)(v & 0xfffff));
			completed++;
		}
	}
	ck_assert_uint_eq(completed, issued);
	ck_assert_uint_gt(issued, 10000);
	ck_assert_uint_eq(cq->crc_count, 0);
	ck_assert_uint_eq(cq->crc_anomalies, 0);
	ck_assert_int_eq(toeless_device_stats(dev, &st), 0);
	ck_assert_uint_eq(st.engine_anomalies, 0);
	ck_assert_uint_eq(st.crc_requests, issued);
	ck_assert_int_eq(toeless_cq_destroy(cq), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

/* ---- devices ---- */

/* What "auto" must choose: "hw" when its device is there, else "sw". */
static const char *auto_choice(void)
{
	toeless_device *dev;

	if (toeless_device_open("hw", NULL, &dev) == 0) {
		ck_assert_int_eq(toeless_device_close(dev), 0);
		return "hw";
	}
	return "sw";
}

static void expect_backend(toeless_device *dev, const char *name)
{
	struct toeless_caps caps;

	memset(&caps, 0, sizeof(caps));
	caps.size = sizeof(caps);
	ck_assert_int_eq(toeless_device_query(dev, &caps), 0);
	ck_assert_str_eq(caps.backend, name);
}

START_TEST(test_device_specs)
{
	toeless_device *dev = NULL;

	unsetenv(TOELESS_BACKEND_ENV);
	ck_assert_int_eq(toeless_device_open("auto", NULL, &dev), 0);
	expect_backend(dev, auto_choice());
	ck_assert_int_eq(toeless_device_close(dev), 0);
	ck_assert_int_eq(toeless_device_open(NULL, NULL, &dev), 0);
	expect_backend(dev, auto_choice());
	ck_assert_int_eq(toeless_device_close(dev), 0);
	ck_assert_int_eq(toeless_device_open("sw", NULL, &dev), 0);
	expect_backend(dev, "sw");
	ck_assert_int_eq(toeless_device_close(dev), 0);
	ck_assert_int_eq(toeless_device_open("sw:", NULL, &dev), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
	ck_assert_int_eq(toeless_device_open("mock", NULL, &dev), 0);
	expect_backend(dev, "mock");
	ck_assert_int_eq(toeless_device_close(dev), 0);
	/* Arguments reach the backend: the mock takes seed=, the sw backend
	 * has no options and says so. */
	ck_assert_int_eq(toeless_device_open("mock:seed=7", NULL, &dev), 0);
	expect_backend(dev, "mock");
	ck_assert_int_eq(toeless_device_close(dev), 0);
	dev = NULL;
	ck_assert_int_eq(toeless_device_open("sw:args", NULL, &dev), -EINVAL);
	ck_assert_ptr_null(dev);

	ck_assert_int_eq(toeless_device_open("nosuch", NULL, &dev), -ENOENT);
	ck_assert_int_eq(toeless_device_open("nosuch:sw", NULL, &dev), -ENOENT);
	ck_assert_int_eq(toeless_device_open("", NULL, &dev), -ENOENT);
	ck_assert_int_eq(toeless_device_open(":x", NULL, &dev), -ENOENT);
	ck_assert_int_eq(toeless_device_open("swx", NULL, &dev), -ENOENT);
	ck_assert_int_eq(toeless_device_open("SW", NULL, &dev), -ENOENT);
	/* Plugin paths are not loaded yet. */
	ck_assert_int_eq(toeless_device_open("/nonexistent/libtoeless-x.so", NULL, &dev), -ENOENT);
	ck_assert_int_eq(toeless_device_open("./x.so:a=1", NULL, &dev), -ENOENT);
	ck_assert_ptr_null(dev);
	ck_assert_int_eq(toeless_device_open("sw", NULL, NULL), -EINVAL);
	ck_assert_int_eq(toeless_device_close(NULL), -EINVAL);
}
END_TEST

START_TEST(test_device_env)
{
	toeless_device *dev;

	ck_assert_int_eq(setenv(TOELESS_BACKEND_ENV, "mock", 1), 0);
	ck_assert_int_eq(toeless_device_open("auto", NULL, &dev), 0);
	expect_backend(dev, "mock");
	ck_assert_int_eq(toeless_device_close(dev), 0);
	ck_assert_int_eq(toeless_device_open(NULL, NULL, &dev), 0);
	expect_backend(dev, "mock");
	ck_assert_int_eq(toeless_device_close(dev), 0);
	/* An explicit spec is not overridden. */
	ck_assert_int_eq(toeless_device_open("sw", NULL, &dev), 0);
	expect_backend(dev, "sw");
	ck_assert_int_eq(toeless_device_close(dev), 0);

	/* The environment names exactly one backend: no fallback. */
	ck_assert_int_eq(setenv(TOELESS_BACKEND_ENV, "nosuch", 1), 0);
	ck_assert_int_eq(toeless_device_open("auto", NULL, &dev), -ENOENT);
	ck_assert_int_eq(setenv(TOELESS_BACKEND_ENV, "sw:bogus", 1), 0);
	ck_assert_int_eq(toeless_device_open(NULL, NULL, &dev), -EINVAL);
	ck_assert_int_eq(setenv(TOELESS_BACKEND_ENV, "mock:seed=3", 1), 0);
	ck_assert_int_eq(toeless_device_open(NULL, NULL, &dev), 0);
	expect_backend(dev, "mock");
	ck_assert_int_eq(toeless_device_close(dev), 0);

	/* Empty or "auto" means: choose. */
	ck_assert_int_eq(setenv(TOELESS_BACKEND_ENV, "", 1), 0);
	ck_assert_int_eq(toeless_device_open("auto", NULL, &dev), 0);
	expect_backend(dev, auto_choice());
	ck_assert_int_eq(toeless_device_close(dev), 0);
	ck_assert_int_eq(setenv(TOELESS_BACKEND_ENV, "auto", 1), 0);
	ck_assert_int_eq(toeless_device_open("auto", NULL, &dev), 0);
	expect_backend(dev, auto_choice());
	ck_assert_int_eq(toeless_device_close(dev), 0);
	unsetenv(TOELESS_BACKEND_ENV);
}
END_TEST

struct logbuf {
	int calls;
	int level;
	char msg[512];
};

static void log_cb(int level, const char *msg, void *arg)
{
	struct logbuf *l = arg;

	l->calls++;
	l->level = level;
	snprintf(l->msg, sizeof(l->msg), "%s", msg);
}

START_TEST(test_device_attr_log)
{
	struct logbuf lb = { 0 };
	struct toeless_device_attr a = { .size = sizeof(a), .log_fn = log_cb, .log_arg = &lb };
	struct {
		struct toeless_device_attr a;
		uint64_t future[2];
	} big;
	toeless_device *dev;

	/* Default level: warnings and errors only. */
	ck_assert_int_eq(toeless_device_open("sw", &a, &dev), 0);
	ck_assert_int_eq(lb.calls, 0); /* "opened" is INFO */
	toeless_backend_log(dev, TOELESS_LOG_INFO, "quiet %d", 1);
	ck_assert_int_eq(lb.calls, 0);
	toeless_backend_log(dev, TOELESS_LOG_WARN, "loud %d", 2);
	ck_assert_int_eq(lb.calls, 1);
	ck_assert_int_eq(lb.level, TOELESS_LOG_WARN);
	ck_assert_str_eq(lb.msg, "loud 2");
	/* A device error: logged once, the device is marked failed. */
	ck_assert(!tl_device_failed(dev));
	toeless_backend_device_error(dev, -EIO);
	ck_assert(tl_device_failed(dev));
	ck_assert_int_eq(lb.calls, 2);
	ck_assert_int_eq(lb.level, TOELESS_LOG_ERR);
	toeless_backend_device_error(dev, -EIO);
	ck_assert_int_eq(lb.calls, 2);
	/* Long messages are cut, not overflowed. */
	{
		char longs[2000];

		memset(longs, 'x', sizeof(longs) - 1);
		longs[sizeof(longs) - 1] = '\0';
		toeless_backend_log(dev, TOELESS_LOG_ERR, "%s", longs);
		ck_assert_int_eq(lb.calls, 3);
		ck_assert_uint_gt(strlen(lb.msg), 100);
	}
	ck_assert_int_eq(toeless_device_close(dev), 0);

	/* DEBUG level sees the INFO message of open, and the backend's own
	 * complaint about its arguments. */
	lb.calls = 0;
	a.log_level = TOELESS_LOG_DEBUG;
	ck_assert_int_eq(toeless_device_open("sw", &a, &dev), 0);
	ck_assert_int_ge(lb.calls, 1);
	ck_assert_int_eq(lb.level, TOELESS_LOG_INFO);
	ck_assert_int_eq(toeless_device_close(dev), 0);
	lb.calls = 0;
	ck_assert_int_eq(toeless_device_open("sw:what", &a, &dev), -EINVAL);
	ck_assert_int_ge(lb.calls, 1);
	ck_assert_ptr_nonnull(strstr(lb.msg, "sw"));

	/* Sizes. */
	a.size = sizeof(size_t) - 1;
	ck_assert_int_eq(toeless_device_open("sw", &a, &dev), -EINVAL);
	a.size = 0;
	ck_assert_int_eq(toeless_device_open("sw", &a, &dev), -EINVAL);
	memset(&big, 0, sizeof(big));
	big.a = (struct toeless_device_attr){ .size = sizeof(big) };
	ck_assert_int_eq(toeless_device_open("sw", &big.a, &dev), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
	big.future[1] = 0x100;
	ck_assert_int_eq(toeless_device_open("sw", &big.a, &dev), -EINVAL);
	/* An old caller whose struct ends after size: no logging, defaults. */
	a.size = sizeof(size_t);
	lb.calls = 0;
	ck_assert_int_eq(toeless_device_open("sw", &a, &dev), 0);
	toeless_backend_log(dev, TOELESS_LOG_ERR, "nobody hears this");
	ck_assert_int_eq(lb.calls, 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
	toeless_backend_log(NULL, TOELESS_LOG_ERR, "no device");
}
END_TEST

static int bad_open(toeless_device *dev, const char *args, void **priv)
{
	return 0;
}

static void bad_close(void *priv)
{
}

static int bad_query(void *priv, struct toeless_caps *caps)
{
	return 0;
}

START_TEST(test_device_abi)
{
	struct logbuf lb = { 0 };
	struct toeless_device_attr a = { .size = sizeof(a), .log_fn = log_cb, .log_arg = &lb };
	struct toeless_backend_ops ops = {
		.size = sizeof(ops),
		.abi_version = TOELESS_BACKEND_ABI,
		.name = "bad",
		.version = "9.9",
		.open = bad_open,
		.close = bad_close,
		.query = bad_query,
	};
	struct toeless_caps caps = { .size = sizeof(caps) };
	toeless_device *dev;

	ops.abi_version = TOELESS_BACKEND_ABI + 1;
	ck_assert_int_eq(tl_device_open_ops(&ops, "", &a, &dev), -EPROTO);
	ck_assert_int_eq(lb.calls, 1);
	ck_assert_int_eq(lb.level, TOELESS_LOG_ERR);
	ck_assert_ptr_nonnull(strstr(lb.msg, "bad"));
	ops.abi_version = TOELESS_BACKEND_ABI;
	ops.size = sizeof(ops) - sizeof(void *);
	ck_assert_int_eq(tl_device_open_ops(&ops, "", &a, &dev), -EPROTO);
	ck_assert_int_eq(lb.calls, 2);
	ops.size = sizeof(ops);
	ops.query = NULL;
	ck_assert_int_eq(tl_device_open_ops(&ops, "", &a, &dev), -EPROTO);
	ops.query = bad_query;

	/* A backend that fills nothing gets its names and the core's limits. */
	ck_assert_int_eq(tl_device_open_ops(&ops, "", &a, &dev), 0);
	ck_assert_int_eq(toeless_device_query(dev, &caps), 0);
	ck_assert_str_eq(caps.backend, "bad");
	ck_assert_str_eq(caps.backend_version, "9.9");
	ck_assert_uint_eq(caps.max_sge, IOV_MAX - 4);
	ck_assert_uint_eq(caps.max_recv_dsl, 16777215);
	ck_assert_uint_ge(caps.max_contexts, 1);
	ck_assert_uint_ge(caps.max_tasks, 1);
	ck_assert_uint_eq(caps.sge_align, 1);
	ck_assert_uint_ge(caps.max_crc_batch, 1);
	ck_assert_uint_ge(caps.max_cq_depth, 1024);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

START_TEST(test_device_query)
{
	toeless_device *dev = open_sw();
	struct toeless_caps caps;
	uint8_t raw[sizeof(struct toeless_caps) + 32];
	struct toeless_caps *short_caps = (struct toeless_caps *)raw;
	size_t cut = offsetof(struct toeless_caps, flags);

	memset(&caps, 0xee, sizeof(caps));
	caps.size = sizeof(caps);
	ck_assert_int_eq(toeless_device_query(dev, &caps), 0);
	ck_assert_uint_eq(caps.size, sizeof(caps));
	ck_assert_str_eq(caps.backend, "sw");
	ck_assert_str_eq(caps.backend_version, PACKAGE_VERSION);
	/* Software is no engine: it offloads nothing. */
	ck_assert_uint_eq(caps.flags, 0);
	ck_assert_uint_eq(caps.max_contexts, 65536);
	/* The core keeps room for its own iovecs around an SGL. */
	ck_assert_uint_le(caps.max_sge, IOV_MAX - 4);
	ck_assert_uint_ge(caps.max_sge, 16);
	ck_assert_uint_eq(caps.max_tasks, 1u << 20);
	ck_assert_uint_eq(caps.max_recv_dsl, 16777215);
	ck_assert_uint_eq(caps.sge_align, 1);
	ck_assert_uint_eq(caps.max_crc_batch, 1024);
	ck_assert_uint_eq(caps.max_cq_depth, 1u << 24);

	/* An old caller's struct: only its bytes are written. */
	memset(raw, 0xA5, sizeof(raw));
	short_caps->size = cut;
	ck_assert_int_eq(toeless_device_query(dev, short_caps), 0);
	ck_assert_uint_eq(short_caps->size, cut);
	ck_assert_str_eq(short_caps->backend, "sw");
	for (size_t i = cut; i < sizeof(raw); i++)
		ck_assert_msg(raw[i] == 0xA5, "byte %zu written past size %zu", i, cut);

	/* A newer caller's struct: known fields filled, unknown ones zero,
	 * nothing past its size. */
	memset(raw, 0xA5, sizeof(raw));
	short_caps->size = sizeof(caps) + 16;
	ck_assert_int_eq(toeless_device_query(dev, short_caps), 0);
	ck_assert_uint_eq(short_caps->size, sizeof(caps) + 16);
	ck_assert_uint_eq(short_caps->max_cq_depth, 1u << 24);
	for (size_t i = sizeof(caps); i < sizeof(caps) + 16; i++)
		ck_assert_uint_eq(raw[i], 0);
	for (size_t i = sizeof(caps) + 16; i < sizeof(raw); i++)
		ck_assert_uint_eq(raw[i], 0xA5);

	caps.size = sizeof(size_t) - 1;
	ck_assert_int_eq(toeless_device_query(dev, &caps), -EINVAL);
	ck_assert_int_eq(toeless_device_query(dev, NULL), -EINVAL);
	caps.size = sizeof(caps);
	ck_assert_int_eq(toeless_device_query(NULL, &caps), -EINVAL);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

START_TEST(test_device_stats)
{
	toeless_device *dev = open_sw();
	toeless_ctx *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct toeless_stats st;
	uint8_t raw[sizeof(struct toeless_stats) + 16];
	struct toeless_stats *sp = (struct toeless_stats *)raw;
	size_t cut = offsetof(struct toeless_stats, bytes_rx);

	ck_assert(a && b);
	memset(&st, 0xee, sizeof(st));
	st.size = sizeof(st);
	ck_assert_int_eq(toeless_device_stats(dev, &st), 0);
	ck_assert_uint_eq(st.size, sizeof(st));
	ck_assert_uint_eq(st.pdus_rx, 0);
	ck_assert_uint_eq(st.send_syscalls, 0);

	/* Open contexts count; so do destroyed ones. */
	a->stats.size = b->stats.size = sizeof(st);
	a->stats.pdus_rx = 5;
	a->stats.send_syscalls = 7;
	b->stats.pdus_rx = 10;
	b->stats.crc_requests = 1;
	tl_device_ctx_added(dev, a);
	tl_device_ctx_added(dev, b);
	ck_assert_int_eq(toeless_device_stats(dev, &st), 0);
	ck_assert_uint_eq(st.pdus_rx, 15);
	ck_assert_uint_eq(st.send_syscalls, 7);
	ck_assert_uint_eq(st.crc_requests, 1);
	tl_device_ctx_removed(dev, a);
	a->stats.pdus_rx = 1000; /* gone: no longer read */
	ck_assert_int_eq(toeless_device_stats(dev, &st), 0);
	ck_assert_uint_eq(st.pdus_rx, 15);
	tl_device_ctx_removed(dev, b);
	ck_assert_int_eq(toeless_device_stats(dev, &st), 0);
	ck_assert_uint_eq(st.pdus_rx, 15);
	ck_assert_uint_eq(st.send_syscalls, 7);

	/* Short struct: only its bytes. */
	memset(raw, 0xA5, sizeof(raw));
	sp->size = cut;
	ck_assert_int_eq(toeless_device_stats(dev, sp), 0);
	ck_assert_uint_eq(sp->size, cut);
	ck_assert_uint_eq(sp->pdus_rx, 15);
	for (size_t i = cut; i < sizeof(raw); i++)
		ck_assert_uint_eq(raw[i], 0xA5);
	sp->size = 2;
	ck_assert_int_eq(toeless_device_stats(dev, sp), -EINVAL);
	ck_assert_int_eq(toeless_device_stats(dev, NULL), -EINVAL);
	ck_assert_int_eq(toeless_device_stats(NULL, &st), -EINVAL);

	/* The helpers directly. */
	memset(&st, 0, sizeof(st));
	tl_stats_accumulate(&st, &a->stats);
	tl_stats_accumulate(&st, &a->stats);
	ck_assert_uint_eq(st.pdus_rx, 2000);
	ck_assert_uint_eq(st.send_syscalls, 14);
	ck_assert_uint_eq(st.size, 0); /* size is no counter */
	ck_assert_int_eq(tl_stats_export(&a->stats, NULL), -EINVAL);

	free(a);
	free(b);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

/* ---- memory registration ---- */

START_TEST(test_mr)
{
	toeless_device *dev = open_sw();
	static uint8_t mem[8192], other[64];
	toeless_mr *mr, *mr2, *got;

	ck_assert_int_eq(toeless_mr_reg(NULL, mem, sizeof(mem), &mr), -EINVAL);
	ck_assert_int_eq(toeless_mr_reg(dev, NULL, sizeof(mem), &mr), -EINVAL);
	ck_assert_int_eq(toeless_mr_reg(dev, mem, 0, &mr), -EINVAL);
	ck_assert_int_eq(toeless_mr_reg(dev, mem, sizeof(mem), NULL), -EINVAL);
	ck_assert_int_eq(toeless_mr_reg(dev, (void *)(UINTPTR_MAX - 10), 100, &mr), -EINVAL);
	ck_assert_int_eq(toeless_mr_dereg(NULL), -EINVAL);

	/* Nothing registered: nothing found. */
	ck_assert_ptr_null(tl_mr_get(dev, mem, 10));

	ck_assert_int_eq(toeless_mr_reg(dev, mem, 4096, &mr), 0);
	ck_assert_int_eq(toeless_mr_reg(dev, mem + 4096, 4096, &mr2), 0);
	ck_assert_int_eq(toeless_device_close(dev), -EBUSY);

	/* Wholly inside, at either edge. */
	ck_assert_ptr_eq(tl_mr_get(dev, mem, 4096), mr);
	ck_assert_ptr_eq(tl_mr_get(dev, mem + 4000, 96), mr);
	ck_assert_ptr_eq(tl_mr_get(dev, mem + 4096, 1), mr2);
	/* Straddling two registrations, or outside: none. */
	ck_assert_ptr_null(tl_mr_get(dev, mem + 4000, 200));
	ck_assert_ptr_null(tl_mr_get(dev, mem + 8000, 200));
	ck_assert_ptr_null(tl_mr_get(dev, other, 8));
	ck_assert_uint_eq(mr->users, 2);
	ck_assert_uint_eq(mr2->users, 1);

	/* Referenced: stays. */
	ck_assert_int_eq(toeless_mr_dereg(mr), -EBUSY);
	tl_mr_put(mr);
	ck_assert_int_eq(toeless_mr_dereg(mr), -EBUSY);
	tl_mr_put(mr);
	ck_assert_int_eq(toeless_mr_dereg(mr), 0);
	ck_assert_ptr_null(tl_mr_get(dev, mem, 10));

	got = tl_mr_get(dev, mem + 5000, 10);
	ck_assert_ptr_eq(got, mr2);
	ck_assert_int_eq(toeless_mr_dereg(mr2), -EBUSY);
	tl_mr_put(got);
	tl_mr_put(mr2);
	ck_assert_int_eq(toeless_mr_dereg(mr2), 0);
	ck_assert_int_eq(toeless_device_close(dev), 0);
}
END_TEST

/* ---- errors and version ---- */

START_TEST(test_strerror)
{
	static const int codes[] = {
		EBADMSG, ERANGE, EEXIST, EMSGSIZE,    EPROTO, EPIPE,  ECONNRESET, ENOTCONN,   ECANCELED, E2BIG,
		ENOSPC,  ENOENT, EBUSY,  EINPROGRESS, EAGAIN, EINVAL, ENODEV,     EOPNOTSUPP, EIO,       ENOMEM,
	};
	const size_t n = sizeof(codes) / sizeof(codes[0]);
	const char *generic = toeless_strerror(-99999);

	ck_assert_ptr_nonnull(generic);
	ck_assert_str_eq(toeless_strerror(99999), generic);
	ck_assert_str_eq(toeless_strerror(INT_MIN + 1), generic);
	ck_assert_ptr_nonnull(toeless_strerror(INT_MIN));
	ck_assert_ptr_nonnull(toeless_strerror(0));
	ck_assert_str_ne(toeless_strerror(0), generic);
	for (size_t i = 0; i < n; i++) {
		const char *s = toeless_strerror(-codes[i]);

		ck_assert_ptr_nonnull(s);
		ck_assert_uint_gt(strlen(s), 0);
		ck_assert_msg(strcmp(s, generic) != 0, "errno %d has only the generic text", codes[i]);
		/* positive works too */
		ck_assert_str_eq(toeless_strerror(codes[i]), s);
		for (size_t j = 0; j < i; j++)
			ck_assert_msg(strcmp(s, toeless_strerror(-codes[j])) != 0, "errno %d and %d share a text",
				      codes[i], codes[j]);
	}
	/* iSCSI words where they matter. */
	ck_assert_ptr_nonnull(strstr(toeless_strerror(-EBADMSG), "digest"));
	ck_assert_ptr_nonnull(strstr(toeless_strerror(-ERANGE), "SGL"));
	ck_assert_ptr_nonnull(strstr(toeless_strerror(-EMSGSIZE), "MaxRecvDataSegmentLength"));
}
END_TEST

START_TEST(test_version)
{
	char want[32];

	snprintf(want, sizeof(want), "%d.%d.%d", TOELESS_VERSION_MAJOR, TOELESS_VERSION_MINOR, TOELESS_VERSION_PATCH);
	ck_assert_str_eq(toeless_version(), want);
	/* The header, the library and configure.ac agree. */
	ck_assert_str_eq(toeless_version(), PACKAGE_VERSION);
	ck_assert_uint_eq(toeless_version_hex(), TOELESS_VERSION_HEX);
	ck_assert_uint_eq(toeless_version_hex(),
			  (unsigned)(TOELESS_VERSION_MAJOR << 16 | TOELESS_VERSION_MINOR << 8 | TOELESS_VERSION_PATCH));
}
END_TEST

/* ---- the AHS chain (pdu.c) ---- */

START_TEST(test_ahs_validate)
{
	uint8_t ahs[64];

	memset(ahs, 0, sizeof(ahs));
	ck_assert_int_eq(tl_ahs_validate(NULL, 0), 0);
	/* Extended CDB for a 32-byte CDB: AHSLength 17 = reserved + 16 bytes,
	 * 3 + 17 = 20 bytes, no padding. */
	ahs[0] = 0;
	ahs[1] = 17;
	ahs[2] = 1;
	ck_assert_int_eq(tl_ahs_validate(ahs, 20), 0);
	ck_assert_int_eq(tl_ahs_validate(ahs, 16), -EPROTO); /* runs past */
	ck_assert_int_eq(tl_ahs_validate(ahs, 18), -EPROTO); /* not a multiple of 4 */
	ck_assert_int_eq(tl_ahs_validate(ahs, 22), -EPROTO);
	/* Followed by a Bidirectional Read Expected Data Transfer Length AHS:
	 * AHSLength 5 = reserved + 4 bytes, 8 on the wire. */
	ahs[20] = 0;
	ahs[21] = 5;
	ahs[22] = 2;
	ck_assert_int_eq(tl_ahs_validate(ahs, 28), 0);
	ck_assert_int_eq(tl_ahs_validate(ahs, 24), -EPROTO); /* the second one cut short */
	ck_assert_int_eq(tl_ahs_validate(ahs, 20), 0);       /* ... or not counted */
	/* A whole word left over that is no AHS of its own: its AHSLength
	 * claims more than there is. */
	ahs[28] = 0;
	ahs[29] = 4;
	ck_assert_int_eq(tl_ahs_validate(ahs, 32), -EPROTO);
	ahs[29] = 0;
	/* Padding: AHSLength 2 -> 5 bytes -> 8. */
	ahs[21] = 2;
	ck_assert_int_eq(tl_ahs_validate(ahs, 28), 0);
	/* AHSLength 0 is one word of header. */
	ahs[21] = 0;
	ck_assert_int_eq(tl_ahs_validate(ahs, 24), 0);
	ck_assert_int_eq(tl_ahs_validate(ahs, 28), 0); /* and another after it */
	ahs[25] = 9;
	ck_assert_int_eq(tl_ahs_validate(ahs, 28), -EPROTO);
	ck_assert_int_eq(tl_ahs_validate(ahs, 40), 0);
	/* A huge AHSLength does not wrap around. */
	ahs[0] = 0xff;
	ahs[1] = 0xff;
	ck_assert_int_eq(tl_ahs_validate(ahs, 64), -EPROTO);
	ck_assert_int_eq(tl_ahs_validate(NULL, 4), -EPROTO);
}
END_TEST

static Suite *cq_suite(void)
{
	Suite *s = suite_create("cq");
	TCase *tc = tcase_create("cq");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_cq_create_destroy);
	tcase_add_test(tc, test_cq_poll_args);
	tcase_add_test(tc, test_cq_order);
	tcase_add_test(tc, test_cq_growth);
	tcase_add_test(tc, test_cq_eventfd);
	tcase_add_test(tc, test_cq_polled);
	tcase_add_test(tc, test_cq_threads);
	tcase_add_test(tc, test_cq_busy);
	tcase_add_test(tc, test_cq_crc_table);
	tcase_add_test(tc, test_cq_crc_churn);
	suite_add_tcase(s, tc);

	tc = tcase_create("device");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_device_specs);
	tcase_add_test(tc, test_device_env);
	tcase_add_test(tc, test_device_attr_log);
	tcase_add_test(tc, test_device_abi);
	tcase_add_test(tc, test_device_query);
	tcase_add_test(tc, test_device_stats);
	tcase_add_test(tc, test_mr);
	tcase_add_test(tc, test_strerror);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_ahs_validate);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(cq_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
