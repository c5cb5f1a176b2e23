/*
 * toeless-demo: the libtoeless fast path end to end, over a real TCP socket.
 *
 *     toeless-demo [BACKEND] [BYTES]
 *
 * BACKEND is a device spec ("auto" by default, "sw", "mock", ...); BYTES
 * the size of the read (default 4 MiB).
 *
 * Two threads talk iSCSI over a loopback TCP connection, both through
 * libtoeless, with HeaderDigest=CRC32C and DataDigest=CRC32C:
 *
 *   initiator (main thread)                 target (a thread)
 *   -----------------------                 -----------------
 *   toeless_sgl_post(ITT, 5 iovecs)
 *   toeless_pdu_send(SCSI Command READ) --> toeless_pdu_recv(): READ, ITT, length
 *                                       <-- toeless_pdu_send(Data-In) x N, 64 KiB each,
 *   toeless_pdu_recv() x N: each payload        the last one with F, S and GOOD status
 *     lands in the posted iovecs, digests
 *     checked on the way
 *   toeless_cq_poll(): the SGL completion
 *
 * Then it checks every byte against the pattern the target sent and prints
 * what the library did: backend, capabilities, bytes placed, PDUs, digests
 * checked, errors, fallbacks, throughput.  It exits 0 only when the data
 * verified and the completion reported success with SCSI status GOOD.
 *
 * This file is also the reference for initiator authors: the initiator side
 * (post the buffers, send the command, receive until the completion arrives,
 * all from one poll() loop) is exactly what a real initiator does per read.
 * Only <toeless.h> is used; the iSCSI headers are built by hand below.
 *
 * SPDX-License-Identifier: MIT
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <toeless.h>
#include <toeless_iscsi.h>

#define DEFAULT_READ_LEN (4u << 20)  /* a 4 MiB read ... */
#define SEGMENT_LEN      (64u << 10) /* ... sent as 64 KiB Data-In PDUs */
#define MAX_READ_LEN     (1u << 30)
#define DEMO_ITT         0x00001234u /* the read's Initiator Task Tag */
#define DEMO_SGES        5           /* the reader's buffer comes in 5 pieces */

/* iSCSI opcodes and flags: <toeless_iscsi.h>; the one bit it lacks: */
#define CMD_FLAG_READ 0x40 /* byte 1 of a SCSI Command: R */

/* ------------------------------------------------------------------ */
/* small helpers                                                        */
/* ------------------------------------------------------------------ */

/* The byte the target sends at offset off of the read. */
static uint8_t pattern_byte(uint64_t off)
{
	return (uint8_t)(off ^ (off >> 8) ^ (off >> 16) ^ 0x5a);
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(const char *what, int err)
{
	fprintf(stderr, "toeless-demo: %s: %s (%d)\n", what, toeless_strerror(err), err);
}

/* The library never prints: its messages come here. */
static void log_cb(int level, const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "toeless-demo: libtoeless[%d]: %s\n", level, msg);
}

/*
 * Send one PDU on a context whose socket may be non-blocking: if the socket
 * takes only part of it, wait until it is writable and flush the rest.  The
 * data buffers must not change until this returns (the data digest was
 * computed over them when the PDU was queued).
 */
static int send_pdu(toeless_ctx *ctx, int fd, const uint8_t *bhs, const struct iovec *data, int iovcnt)
{
	int rc = toeless_pdu_send(ctx, bhs, NULL, 0, data, iovcnt);

	while (rc == -EINPROGRESS || rc == -EAGAIN) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return -errno;
		rc = toeless_ctx_flush(ctx);
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* the target: a thread with its own context on its end of the socket  */
/* ------------------------------------------------------------------ */

struct target {
	toeless_device *dev;
	int fd;                /* blocking socket */
	uint32_t max_send_dsl; /* the initiator's MaxRecvDataSegmentLength */
	uint8_t *payload;      /* what it serves: pattern_byte(0 .. len) */
	uint32_t len;
	/* results */
	int rc;
	uint32_t pdus_sent;
	struct toeless_stats stats;
};

/* Build the Basic Header Segment of one Data-In PDU. */
static void build_data_in(uint8_t bhs[TOELESS_BHS_LEN], uint32_t itt, uint32_t data_sn, uint32_t offset, int last,
			  uint32_t stat_sn)
{
	memset(bhs, 0, TOELESS_BHS_LEN);
	bhs[0] = TOELESS_ISCSI_OP_DATA_IN;
	if (last) {
		bhs[1] = TOELESS_ISCSI_FLAG_FINAL | TOELESS_ISCSI_DATAIN_STATUS; /* F and S: status is in this PDU */
		bhs[3] = TOELESS_ISCSI_SCSI_GOOD;
		toeless_put_be32(bhs + 24, stat_sn); /* StatSN, valid with S */
	}
	/* bytes 4..7: TotalAHSLength and DataSegmentLength, filled by toeless_pdu_send() */
	/* bytes 8..15: LUN 0 */
	toeless_put_be32(bhs + 16, itt);         /* Initiator Task Tag */
	toeless_put_be32(bhs + 20, 0xffffffffu); /* Target Transfer Tag: none */
	toeless_put_be32(bhs + 28, 1);           /* ExpCmdSN */
	toeless_put_be32(bhs + 32, 64);          /* MaxCmdSN */
	toeless_put_be32(bhs + 36, data_sn);     /* DataSN */
	toeless_put_be32(bhs + 40, offset);      /* Buffer Offset */
						 /* bytes 44..47: Residual Count 0 */
}

static void *target_main(void *arg)
{
	struct target *t = arg;
	struct toeless_cq_attr cq_attr = { .size = sizeof(cq_attr) };
	struct toeless_ctx_attr attr = { .size = sizeof(attr) };
	struct toeless_pdu cmd;
	toeless_cq *cq = NULL;
	toeless_ctx *ctx = NULL;
	uint32_t itt, edtl, off, data_sn = 0;
	int rc;

	rc = toeless_cq_create(t->dev, &cq_attr, &cq);
	if (rc < 0) {
		fail("target: toeless_cq_create", rc);
		goto out;
	}
	attr.fd = t->fd;
	attr.cq = cq;
	attr.params.flags = TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST;
	attr.params.max_send_dsl = t->max_send_dsl;
	rc = toeless_ctx_create(t->dev, &attr, &ctx);
	if (rc < 0) {
		fail("target: toeless_ctx_create", rc);
		goto out;
	}

	/* Wait for the READ command (blocking socket: recv blocks). */
	do
		rc = toeless_pdu_recv(ctx, &cmd);
	while (rc == -EAGAIN);
	if (rc < 0) {
		fail("target: toeless_pdu_recv", rc);
		goto out;
	}
	if (cmd.opcode != TOELESS_ISCSI_OP_SCSI_CMD || !(cmd.bhs[1] & CMD_FLAG_READ)) {
		fprintf(stderr, "toeless-demo: target: expected a SCSI READ command, got opcode 0x%02x\n", cmd.opcode);
		rc = -EPROTO;
		goto out;
	}
	itt = cmd.itt;
	edtl = toeless_get_be32(cmd.bhs + 20); /* Expected Data Transfer Length */
	if (edtl > t->len)
		edtl = t->len;

	/* Serve it: one Data-In per segment, the last one with status. */
	for (off = 0; off < edtl; off += t->max_send_dsl) {
		uint32_t n = edtl - off < t->max_send_dsl ? edtl - off : t->max_send_dsl;
		int last = off + n == edtl;
		struct iovec data = { .iov_base = t->payload + off, .iov_len = n };
		uint8_t bhs[TOELESS_BHS_LEN];

		build_data_in(bhs, itt, data_sn++, off, last, 1);
		rc = send_pdu(ctx, t->fd, bhs, &data, 1);
		if (rc < 0) {
			fail("target: toeless_pdu_send", rc);
			goto out;
		}
		t->pdus_sent++;
	}
	t->stats.size = sizeof(t->stats);
	rc = toeless_ctx_stats(ctx, &t->stats);
out:
	t->rc = rc;
	if (rc < 0)
		shutdown(t->fd, SHUT_RDWR); /* the initiator sees the connection end */
	if (ctx)
		toeless_ctx_destroy(ctx);
	if (cq)
		toeless_cq_destroy(cq);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* set-up: a connected loopback TCP pair                                */
/* ------------------------------------------------------------------ */

static int tcp_pair(int *client, int *server, int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int l, c = -1, s = -1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0)
		return -errno;
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) < 0)
		goto err;
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto err;
	s = accept(l, NULL, NULL);
	if (s < 0)
		goto err;
	close(l);
	*client = c;
	*server = s;
	*port = ntohs(a.sin_port);
	return 0;
err : {
	int err = -errno;

	close(l);
	if (c >= 0)
		close(c);
	return err;
}
}

/* ------------------------------------------------------------------ */
/* printing                                                             */
/* ------------------------------------------------------------------ */

static void print_caps(const struct toeless_caps *caps)
{
	printf("device     : backend %s %s\n", caps->backend, caps->backend_version);
	printf("caps       :%s%s%s%s%s%s%s\n", caps->flags ? "" : " none",
	       caps->flags & TOELESS_CAP_CRC_TX ? " crc-tx" : "", caps->flags & TOELESS_CAP_CRC_RX ? " crc-rx" : "",
	       caps->flags & TOELESS_CAP_DDP ? " ddp" : "",
	       caps->flags & TOELESS_CAP_DDP_NEEDS_REG ? " ddp-needs-reg" : "",
	       caps->flags & TOELESS_CAP_CRC_ASYNC ? " crc-async" : "",
	       caps->flags & TOELESS_CAP_DDP ? ""
					     : "  (no engine placement: the core places with readv, "
					       "digests with isa-l)");
	printf("limits     : %u contexts, %u SGEs per post, %u tasks per context, "
	       "MaxRecvDataSegmentLength <= %u\n",
	       caps->max_contexts, caps->max_sge, caps->max_tasks, caps->max_recv_dsl);
}

static const char *digest_name(int d)
{
	switch (d) {
	case TOELESS_DIGEST_NONE: return "none";
	case TOELESS_DIGEST_OK: return "ok";
	case TOELESS_DIGEST_UNCHECKED: return "unchecked";
	case TOELESS_DIGEST_BAD: return "BAD";
	default: return "?";
	}
}

static void print_stats(const struct toeless_stats *st)
{
	printf("pdus       : %llu received, %llu Data-In placed into the SGL, %llu slow-path bytes, "
	       "%llu read syscalls\n",
	       (unsigned long long)st->pdus_rx, (unsigned long long)st->data_in_placed,
	       (unsigned long long)st->bytes_slow_path, (unsigned long long)st->recv_syscalls);
	printf("placed     : %llu bytes by the engine, %llu bytes by software\n",
	       (unsigned long long)st->bytes_placed_engine, (unsigned long long)st->bytes_placed_sw);
	printf("digests    : %llu header checked (%llu bad), %llu data checked (%llu by the engine, "
	       "%llu bad)\n",
	       (unsigned long long)st->hdr_digests_checked, (unsigned long long)st->hdr_digest_errors,
	       (unsigned long long)st->data_digests_checked, (unsigned long long)st->data_digests_engine,
	       (unsigned long long)st->data_digest_errors);
	printf("fallbacks  : %llu PDUs placed by software for the engine, %llu engine posts refused\n",
	       (unsigned long long)st->sw_fallback_pdus, (unsigned long long)st->engine_post_full);
	printf("errors     : %llu placement, %llu protocol, %llu unknown-ITT PDUs, %llu SGLs failed\n",
	       (unsigned long long)st->placement_errors, (unsigned long long)st->protocol_errors,
	       (unsigned long long)st->unknown_itt_pdus, (unsigned long long)st->sgl_failed);
}

/* ------------------------------------------------------------------ */
/* the initiator                                                        */
/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	const char *spec = argc > 1 ? argv[1] : "auto";
	uint32_t len = DEFAULT_READ_LEN, seg_len = SEGMENT_LEN;
	struct toeless_device_attr dev_attr = { .size = sizeof(dev_attr) };
	struct toeless_caps caps = { .size = sizeof(caps) };
	struct toeless_cq_attr cq_attr = { .size = sizeof(cq_attr) };
	struct toeless_ctx_attr attr = { .size = sizeof(attr) };
	struct toeless_stats st = { .size = sizeof(st) };
	struct toeless_completion done = { 0 };
	struct target tgt = { 0 };
	struct iovec sgl[DEMO_SGES];
	toeless_device *dev = NULL;
	toeless_cq *cq = NULL;
	toeless_ctx *ctx = NULL;
	pthread_t thread;
	int thread_started = 0, fd = -1, tfd = -1, port = 0, nsge = 0, rc, r, ok = 0, i;
	uint64_t pdus = 0, placed_pdus = 0, bad_digests = 0, mismatches = 0;
	double t0, t1;

	if (argc > 3 || (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))) {
		fprintf(stderr,
			"usage: toeless-demo [BACKEND] [BYTES]\n"
			"  BACKEND: auto (default), sw, mock, NAME:ARGS\n"
			"  BYTES:   size of the read, default %u\n",
			DEFAULT_READ_LEN);
		return 2;
	}
	if (argc > 2) {
		char *end;
		unsigned long long v = strtoull(argv[2], &end, 0);

		if (*end || v == 0 || v > MAX_READ_LEN) {
			fprintf(stderr, "toeless-demo: BYTES must be 1 .. %u\n", MAX_READ_LEN);
			return 2;
		}
		len = (uint32_t)v;
	}

	/* A peer that goes away must not kill us: socket errors come back as
	 * -EPIPE from toeless_pdu_send() instead. */
	signal(SIGPIPE, SIG_IGN);

	/* 1. Open the device and see what the engine can do. */
	dev_attr.log_fn = log_cb;
	dev_attr.log_level = TOELESS_LOG_WARN;
	rc = toeless_device_open(spec, &dev_attr, &dev);
	if (rc < 0) {
		fprintf(stderr, "toeless-demo: cannot open backend '%s': %s\n", spec, toeless_strerror(rc));
		return 1;
	}
	rc = toeless_device_query(dev, &caps);
	if (rc < 0) {
		fail("toeless_device_query", rc);
		goto out;
	}
	printf("libtoeless : %s, demo of one %u-byte iSCSI read over loopback TCP\n", toeless_version(), len);
	print_caps(&caps);
	if (caps.max_recv_dsl && caps.max_recv_dsl < seg_len)
		seg_len = caps.max_recv_dsl;

	/* 2. A completion queue, and one context per connection. */
	rc = toeless_cq_create(dev, &cq_attr, &cq);
	if (rc < 0) {
		fail("toeless_cq_create", rc);
		goto out;
	}
	rc = tcp_pair(&fd, &tfd, &port);
	if (rc < 0) {
		fail("loopback TCP connection", rc);
		goto out;
	}
	/* The initiator side runs from a poll() loop: non-blocking socket. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

	/* The parameters a login would have negotiated. */
	attr.fd = fd;
	attr.cq = cq;
	attr.params.flags = TOELESS_CTX_HEADER_DIGEST | TOELESS_CTX_DATA_DIGEST;
	attr.params.max_recv_dsl = seg_len; /* ours: the target may send this much per PDU */
	attr.params.max_send_dsl = 8192;    /* the target's */
	rc = toeless_ctx_create(dev, &attr, &ctx);
	if (rc < 0) {
		fail("toeless_ctx_create", rc);
		goto out;
	}
	printf("connection : 127.0.0.1:%d, HeaderDigest=CRC32C DataDigest=CRC32C, "
	       "MaxRecvDataSegmentLength=%u\n",
	       port, seg_len);

	/* 3. The read's buffer, in several pieces of uneven sizes (a scatter
	 *    list: PDUs straddle the pieces).  Poisoned, so that a byte nobody
	 *    placed shows up in the check. */
	nsge = DEMO_SGES;
	if ((uint32_t)nsge > caps.max_sge)
		nsge = (int)caps.max_sge;
	if ((uint32_t)nsge > len / 16)
		nsge = len / 16 ? (int)(len / 16) : 1;
	for (i = 0; i < nsge; i++) {
		/* piece i is [start(i), start(i + 1)): equal shares, with the inner
		 * boundaries moved 3 bytes off any power of two */
		uint64_t lo = i == 0 ? 0 : (uint64_t)len * (uint64_t)i / (uint64_t)nsge + 3;
		uint64_t hi = i + 1 == nsge ? len : (uint64_t)len * (uint64_t)(i + 1) / (uint64_t)nsge + 3;

		sgl[i].iov_len = (size_t)(hi - lo);
		sgl[i].iov_base = malloc(sgl[i].iov_len);
		if (!sgl[i].iov_base) {
			nsge = i;
			rc = -ENOMEM;
			fail("malloc", rc);
			goto out;
		}
		memset(sgl[i].iov_base, 0xee, sgl[i].iov_len);
	}

	/* 4. The target thread, with its own context on the other end. */
	tgt.dev = dev;
	tgt.fd = tfd;
	tgt.max_send_dsl = seg_len;
	tgt.len = len;
	tgt.payload = malloc(len);
	if (!tgt.payload) {
		rc = -ENOMEM;
		fail("malloc", rc);
		goto out;
	}
	for (uint32_t k = 0; k < len; k++)
		tgt.payload[k] = pattern_byte(k);
	rc = pthread_create(&thread, NULL, target_main, &tgt);
	if (rc) {
		fail("pthread_create", -rc);
		goto out;
	}
	thread_started = 1;

	/* 5. Post the buffer under the read's ITT *before* sending the command:
	 *    then every Data-In finds its place.  The buffers belong to the
	 *    library until the completion. */
	rc = toeless_sgl_post(ctx, DEMO_ITT, sgl, nsge, /* user_data */ 42);
	if (rc < 0) {
		fail("toeless_sgl_post", rc);
		goto out;
	}
	printf("posted     : ITT 0x%08x, %u bytes in %d iovecs\n", DEMO_ITT, len, nsge);

	t0 = now_sec();
	{
		/* SCSI Command: READ(16) of len bytes, F and R bits, ITT, EDTL. */
		uint8_t bhs[TOELESS_BHS_LEN] = { 0 };

		bhs[0] = TOELESS_ISCSI_OP_SCSI_CMD;
		bhs[1] = TOELESS_ISCSI_FLAG_FINAL | CMD_FLAG_READ | 0x01; /* ATTR: simple */
		toeless_put_be32(bhs + 16, DEMO_ITT);
		toeless_put_be32(bhs + 20, len);                    /* Expected Data Transfer Length */
		toeless_put_be32(bhs + 24, 1);                      /* CmdSN */
		toeless_put_be32(bhs + 28, 1);                      /* ExpStatSN */
		bhs[32] = 0x88;                                     /* CDB: READ(16), LBA 0 */
		toeless_put_be32(bhs + 32 + 10, (len + 511) / 512); /* transfer length in blocks */
		rc = send_pdu(ctx, fd, bhs, NULL, 0);
		if (rc < 0) {
			fail("toeless_pdu_send", rc);
			goto out;
		}
	}

	/* 6. The event loop: wait on the socket and on the queue's descriptor;
	 *    receive every PDU that is ready, then reap completions. */
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = fd, .events = POLLIN },
			{ .fd = toeless_cq_fd(cq), .events = POLLIN },
		};
		struct toeless_pdu pdu;
		int n;

		if (poll(pfd, 2, 10000) == 0) {
			fprintf(stderr, "toeless-demo: no progress for 10 s\n");
			rc = -ETIMEDOUT;
			goto out;
		}
		/* Drain the socket: one PDU per call, -EAGAIN when none is complete. */
		while ((rc = toeless_pdu_recv(ctx, &pdu)) != -EAGAIN) {
			if (rc == -EINVAL || rc == -ENOTCONN || rc == -EPIPE || rc == -ECONNRESET || rc == -EPROTO ||
			    rc == -EMSGSIZE) {
				fail("toeless_pdu_recv", rc);
				goto out;
			}
			/* A PDU was delivered (rc 0, or a per-PDU error such as -EBADMSG). */
			pdus++;
			if (pdu.flags & TOELESS_PDU_F_PLACED)
				placed_pdus++;
			if (pdu.hdr_digest == TOELESS_DIGEST_BAD || pdu.data_digest == TOELESS_DIGEST_BAD)
				bad_digests++;
			if (rc < 0)
				fprintf(stderr,
					"toeless-demo: PDU at stream byte %llu: %s "
					"(header digest %s, data digest %s)\n",
					(unsigned long long)pdu.stream_pos, toeless_strerror(rc),
					digest_name(pdu.hdr_digest), digest_name(pdu.data_digest));
			else if (pdu.opcode != TOELESS_ISCSI_OP_DATA_IN)
				fprintf(stderr, "toeless-demo: unexpected PDU, opcode 0x%02x\n", pdu.opcode);
		}
		/* Reap completions; the SGL completion ends the read. */
		n = toeless_cq_poll(cq, &done, 1);
		if (n < 0) {
			fail("toeless_cq_poll", n);
			rc = n;
			goto out;
		}
		if (n == 1 && done.type == TOELESS_CQE_SGL && done.itt == DEMO_ITT)
			break;
		if (n == 1 && done.type == TOELESS_CQE_ERROR) {
			fail("the connection failed", done.status);
			rc = done.status;
			goto out;
		}
	}
	t1 = now_sec();

	/* 7. The buffers are ours again: check every byte. */
	{
		uint64_t off = 0;

		for (i = 0; i < nsge; i++) {
			const uint8_t *b = sgl[i].iov_base;

			for (size_t k = 0; k < sgl[i].iov_len; k++, off++)
				if (b[k] != pattern_byte(off) && mismatches++ < 5)
					fprintf(stderr, "toeless-demo: byte %llu is 0x%02x, expected 0x%02x\n",
						(unsigned long long)off, b[k], pattern_byte(off));
		}
	}

	printf("completion : status %d (%s), SCSI status 0x%02x%s, %llu bytes placed (%llu by the engine), "
	       "data digest %s, cookie %llu\n",
	       done.status, toeless_strerror(done.status), done.scsi_status,
	       done.scsi_status == TOELESS_ISCSI_SCSI_GOOD ? " GOOD" : "", (unsigned long long)done.bytes_placed,
	       (unsigned long long)done.bytes_engine, digest_name(done.data_digest),
	       (unsigned long long)done.user_data);
	printf("received   : %llu PDUs, %llu placed into the posted buffers, %llu with a bad digest\n",
	       (unsigned long long)pdus, (unsigned long long)placed_pdus, (unsigned long long)bad_digests);
	rc = toeless_ctx_stats(ctx, &st);
	if (rc < 0) {
		fail("toeless_ctx_stats", rc);
		goto out;
	}
	print_stats(&st);
	printf("throughput : %.1f MiB/s (%.2f ms for %u bytes, digests both ways; a demo, not a "
	       "benchmark)\n",
	       (double)len / (1024.0 * 1024.0) / (t1 - t0), (t1 - t0) * 1e3, len);

	ok = mismatches == 0 && done.status == 0 && (done.flags & TOELESS_CQE_F_SCSI_STATUS) &&
	     done.scsi_status == TOELESS_ISCSI_SCSI_GOOD && done.bytes_placed == len && bad_digests == 0;
	if (mismatches)
		printf("verified   : FAILED, %llu of %u bytes differ\n", (unsigned long long)mismatches, len);
	else
		printf("verified   : all %u bytes match what the target sent\n", len);
	rc = 0;

out:
	/* 8. Tear down in reverse order; each step reports its own errors. */
	if (thread_started) {
		if (rc < 0)
			shutdown(fd, SHUT_RDWR); /* unblock the target if it still waits */
		pthread_join(thread, NULL);
		if (tgt.rc < 0)
			ok = 0;
		else
			printf("target     : %u Data-In PDUs sent, %llu bytes written in %llu writev calls\n",
			       tgt.pdus_sent, (unsigned long long)tgt.stats.bytes_tx,
			       (unsigned long long)tgt.stats.send_syscalls);
	}
	if (ctx && (r = toeless_ctx_destroy(ctx)) < 0) {
		fail("toeless_ctx_destroy", r);
		ok = 0;
	}
	if (cq && (r = toeless_cq_destroy(cq)) < 0) {
		fail("toeless_cq_destroy", r);
		ok = 0;
	}
	if (dev && (r = toeless_device_close(dev)) < 0) {
		fail("toeless_device_close", r);
		ok = 0;
	}
	if (fd >= 0)
		close(fd);
	if (tfd >= 0)
		close(tfd);
	for (i = 0; i < nsge; i++)
		free(sgl[i].iov_base);
	free(tgt.payload);
	printf("result     : %s\n", ok && rc == 0 ? "OK" : "FAILED");
	return ok && rc == 0 ? 0 : 1;
}
