/*
 * The hw backend: the driver for the toeless device interface
 * (doc/device-interface.md, backends/hw/hwif.h).
 *
 * Spec "hw" attaches to the device whose control socket is named by
 * $TOELESS_HW_DEVICE or hwif_default_path() (a directory of this user's
 * own); "hw:PATH" names it.  With no
 * device there, open fails with -ENODEV (so "auto" goes on to "sw").
 *
 * The receive fast path costs no system call: for each PDU the core reads,
 * rx_pdu() looks at the head of the context's record queue in shared
 * memory.  The device publishes a PDU's record before it lets the PDU's
 * bytes reach the host socket, so when the core asks, a record is there or
 * will never be: records are matched by stream position; an older one is
 * stale (ignored and counted), a newer one stays for a later PDU, and no
 * record means the software path for this PDU.
 *
 * SPDX-License-Identifier: MIT
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#else
#define _GNU_SOURCE /* built alone, as a plugin from the installed headers */
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* struct tcp_info with tcpi_bytes_received */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "toeless_iscsi.h"
#include "hw_int.h"

#define HW_VERSION "1.0"

/* Microseconds since t0 (CLOCK_MONOTONIC): the driver's bounded waits. */
static long since_us(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000000L + (t.tv_nsec - t0->tv_nsec) / 1000;
}

/* ---- device ---- */

/* Receive coalescing, the driver's interrupt moderation (what `ethtool -C
 * rx-usecs/rx-frames` sets on a NIC).  Off unless both are set: a wait
 * for the rest of a placed PDU then also waits, at most rx_usecs, for up
 * to rx_frames - 1 more PDUs of its size, so one wake-up takes several
 * placed PDUs (see wait_final).  Costs latency, saves wake-ups: the host
 * of a busy connection sleeps once per batch instead of once or twice per
 * PDU (doc/hw.md, "Receive coalescing"). */
#define HW_RX_USECS_MAX  100000u
#define HW_RX_FRAMES_MAX 64u
static uint32_t coalesce_env(struct hw_dev *d, const char *name, uint32_t max)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return 0;
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (errno || *end || v[0] == '-' || n > max) {
		toeless_backend_log(d->tdev, TOELESS_LOG_WARN, "hw: %s=%s ignored (0 to %u)", name, v, max);
		return 0;
	}
	return (uint32_t)n;
}

static void coalesce_settings(struct hw_dev *d)
{
	d->rx_usecs = coalesce_env(d, "TOELESS_HW_RX_USECS", HW_RX_USECS_MAX);
	d->rx_frames = coalesce_env(d, "TOELESS_HW_RX_FRAMES", HW_RX_FRAMES_MAX);
	if (!d->rx_usecs || d->rx_frames < 2)
		d->rx_usecs = d->rx_frames = 0;
	else
		toeless_backend_log(d->tdev, TOELESS_LOG_INFO, "hw: receive coalescing: %u PDUs or %u us", d->rx_frames,
				    d->rx_usecs);
}

static int hw_open(toeless_device *tdev, const char *args, void **dev_priv)
{
	const char *path = args && *args ? args : getenv(HWIF_PATH_ENV);
	char defpath[256];
	if (!path || !*path) {
		if (hwif_default_path(defpath, sizeof(defpath), geteuid()))
			return -ENODEV;
		path = defpath;
	}
	struct hw_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->tdev = tdev;
	if (pthread_mutex_init(&d->lock, NULL)) {
		free(d);
		return -ENOMEM;
	}
	if (pthread_mutex_init(&d->crc_lock, NULL)) {
		pthread_mutex_destroy(&d->lock);
		free(d);
		return -ENOMEM;
	}
	int rc = hw_attach(d, path);
	if (rc) {
		pthread_mutex_destroy(&d->crc_lock);
		pthread_mutex_destroy(&d->lock);
		free(d);
		return rc == -ENOENT ? -ENODEV : rc;
	}
	coalesce_settings(d);
	*dev_priv = d;
	return 0;
}

static void hw_close(void *dev_priv)
{
	struct hw_dev *d = dev_priv;
	/* closing the control socket detaches: the device drops what it
	 * holds for us and unmaps the queues */
	hw_detach(d);
	while (d->regions) {
		struct hw_region *r = d->regions;
		d->regions = r->next;
		free(r);
	}
	pthread_mutex_destroy(&d->crc_lock);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static int hw_query(void *dev_priv, struct toeless_caps *caps)
{
	struct hw_dev *d = dev_priv;
	snprintf(caps->backend, sizeof(caps->backend), "hw");
	snprintf(caps->backend_version, sizeof(caps->backend_version), "%s/if%u.%u", HW_VERSION, d->info.ver_major,
		 d->info.ver_minor);
	caps->flags = 0;
	if (d->features & HWIF_F_DDP)
		caps->flags |= TOELESS_CAP_DDP | TOELESS_CAP_DDP_NEEDS_REG;
	if (d->features & HWIF_F_DIGEST_RX)
		caps->flags |= TOELESS_CAP_CRC_RX;
	if (d->features & HWIF_F_CRC_REQ)
		caps->flags |= TOELESS_CAP_CRC_ASYNC;
	if (d->features & HWIF_F_DIGEST_TX)
		caps->flags |= TOELESS_CAP_CRC_TX;
	caps->max_contexts = d->info.max_contexts;
	/* the core's limit for a post: beyond the device's SGEs, software places */
	caps->max_sge = 1024;
	/* the core's own limit: beyond the device's SGL table, software places */
	caps->max_tasks = 1u << 20;
	caps->max_recv_dsl = d->info.max_dsl ? d->info.max_dsl : 16777215;
	caps->sge_align = 1;
	caps->max_crc_batch = HW_ADMIN_SQ / 4;
	caps->max_cq_depth = 1u << 24;
	return 0;
}

static int hw_mr_reg(void *dev_priv, void *addr, size_t len, void **mr_priv)
{
	struct hw_dev *d = dev_priv;
	struct hw_region *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->addr = addr;
	r->len = len;
	r->status = -ENODEV;
	pthread_mutex_lock(&d->lock);
	r->id = ++d->next_region;
	pthread_mutex_unlock(&d->lock);
	if ((d->features & (HWIF_F_DDP | HWIF_F_CRC_REQ)) && hw_dev_ok(d)) {
		struct hwif_sqe cmd;
		memset(&cmd, 0, sizeof(cmd));
		cmd.opcode = HWIF_OP_MR_REG;
		cmd.a = r->id;
		cmd.u.mr.addr = (uint64_t)(uintptr_t)addr;
		cmd.u.mr.len = len;
		r->status = hw_admin_sync(d, &cmd);
		if (r->status)
			toeless_backend_log(d->tdev, TOELESS_LOG_INFO,
					    "hw: device cannot reach region %u (%s): software places into it", r->id,
					    toeless_strerror(r->status));
	}
	/* a region the device cannot reach is still a registration: the
	 * core places into it in software */
	pthread_mutex_lock(&d->lock);
	r->next = d->regions;
	d->regions = r;
	pthread_mutex_unlock(&d->lock);
	*mr_priv = r;
	return 0;
}

static void hw_mr_dereg(void *dev_priv, void *mr_priv)
{
	struct hw_dev *d = dev_priv;
	struct hw_region *r = mr_priv;
	pthread_mutex_lock(&d->lock);
	for (struct hw_region **pp = &d->regions; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	pthread_mutex_unlock(&d->lock);
	if (r->status == 0 && hw_dev_ok(d)) {
		struct hwif_sqe cmd;
		memset(&cmd, 0, sizeof(cmd));
		cmd.opcode = HWIF_OP_MR_DEREG;
		cmd.a = r->id;
		hw_admin_sync(d, &cmd); /* the device forgets the mapping before we return */
	}
	free(r);
}

/* ---- asynchronous CRC ---- */

/* The region holding [p, p+len), reachable by the device; caller locks. */
static struct hw_region *region_of(struct hw_dev *d, const void *p, size_t len)
{
	uintptr_t lo = (uintptr_t)p, hi = lo + len;
	for (struct hw_region *r = d->regions; r; r = r->next) {
		uintptr_t rlo = (uintptr_t)r->addr, rhi = rlo + r->len;
		if (r->status == 0 && lo >= rlo && hi <= rhi)
			return r;
	}
	return NULL;
}

static int crc_table_grow(struct hw_dev *d)
{
	uint32_t ncap = (d->crc_mask + 1) * 2;
	struct hw_crc_pending *n = calloc(ncap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (uint32_t i = 0; i <= d->crc_mask; i++) {
		if (!d->crcs[i].tag)
			continue;
		uint32_t j = d->crcs[i].tag & (ncap - 1);
		while (n[j].tag)
			j = (j + 1) & (ncap - 1);
		n[j] = d->crcs[i];
	}
	free(d->crcs);
	d->crcs = n;
	d->crc_mask = ncap - 1;
	return 0;
}

static int hw_crc_submit(void *dev_priv, toeless_cq *cq, const struct toeless_backend_crc *reqs, int n)
{
	struct hw_dev *d = dev_priv;
	struct hwif_sge sges[64];
	int accepted = 0;
	bool rang = false;

	for (int i = 0; i < n; i++) {
		const struct toeless_backend_crc *q = &reqs[i];
		bool engine = (d->features & HWIF_F_CRC_REQ) && hw_dev_ok(d);
		uint32_t nsge = 0;
		pthread_mutex_lock(&d->lock);
		/* Only bytes go to the device: a zero-length entry names no
		 * memory (its base may be anything, even NULL), so it gets no
		 * SGE; the device refuses an SGE outside every region. */
		for (int k = 0; engine && k < q->iovcnt; k++) {
			size_t len = q->iov[k].iov_len;
			if (!len)
				continue;
			struct hw_region *r = len <= UINT32_MAX ? region_of(d, q->iov[k].iov_base, len) : NULL;
			if (!r || nsge == sizeof(sges) / sizeof(sges[0]) || nsge == d->info.max_crc_sge) {
				engine = false; /* unreachable memory, or more SGEs than a request holds */
				break;
			}
			sges[nsge].region = r->id;
			sges[nsge].offset = (uint64_t)((uint8_t *)q->iov[k].iov_base - r->addr);
			sges[nsge].len = (uint32_t)len;
			nsge++;
		}
		if (engine && nsge == 0) {
			/* no bytes at all: the digest is the seed, nothing to offload */
			pthread_mutex_unlock(&d->lock);
			toeless_backend_crc_done(cq, q->id, q->seed, 0);
			accepted++;
			continue;
		}
		if (engine) {
			uint32_t need = hw_sqe_count(nsge);
			uint32_t head = HWIF_LOAD(&d->hdr->admin_sq_head);
			pthread_mutex_lock(&d->crc_lock);
			bool full = (d->crc_count + 1) * 2 > d->crc_mask && crc_table_grow(d);
			pthread_mutex_unlock(&d->crc_lock);
			if (hw_sq_free(d->asq_tail, head, HW_ADMIN_SQ) < need + 8 || full) {
				pthread_mutex_unlock(&d->lock);
				break; /* full: the caller resubmits the rest */
			}
			if (++d->next_tag == 0)
				d->next_tag = 1;
			struct hwif_sqe first;
			memset(&first, 0, sizeof(first));
			first.opcode = HWIF_OP_CRC;
			first.tag = d->next_tag;
			first.b = q->seed;
			pthread_mutex_lock(&d->crc_lock);
			if (__atomic_load_n(&d->failed, __ATOMIC_ACQUIRE)) {
				/* failed since we looked: nobody would finish it */
				pthread_mutex_unlock(&d->crc_lock);
				pthread_mutex_unlock(&d->lock);
				toeless_backend_crc_done(cq, q->id, toeless_crc32c_iov(q->seed, q->iov, q->iovcnt), 0);
				accepted++;
				continue;
			}
			uint32_t j = first.tag & d->crc_mask;
			while (d->crcs[j].tag)
				j = (j + 1) & d->crc_mask;
			d->crcs[j].tag = first.tag;
			d->crcs[j].cq = cq;
			d->crcs[j].id = q->id;
			d->crc_count++;
			pthread_mutex_unlock(&d->crc_lock);
			hw_sq_put_sges(d->asq, HW_ADMIN_SQ, d->asq_tail, &first, sges, nsge);
			d->asq_tail += need;
			HWIF_STORE(&d->hdr->admin_sq_tail, d->asq_tail);
			rang = true;
			pthread_mutex_unlock(&d->lock);
		} else {
			pthread_mutex_unlock(&d->lock);
			/* memory the device cannot reach: the host computes it */
			toeless_backend_crc_done(cq, q->id, toeless_crc32c_iov(q->seed, q->iov, q->iovcnt), 0);
		}
		accepted++;
	}
	if (rang)
		hw_doorbell(d);
	return accepted;
}

static void hw_progress(void *dev_priv)
{
	struct hw_dev *d = dev_priv;
	struct hw_crc_done done[32];
	int n;
	if (!hw_dev_ok(d))
		return;
	/* requests outstanding on a device process that died: notice it */
	if (__atomic_load_n(&d->crc_count, __ATOMIC_RELAXED) &&
	    (__atomic_add_fetch(&d->ticks, 1, __ATOMIC_RELAXED) & 63) == 0 && hw_ctl_dead(d)) {
		toeless_backend_log(d->tdev, TOELESS_LOG_ERR, "hw: device %s went away", d->path);
		hw_dev_fail(d, -ENODEV);
		return;
	}
	do {
		n = 0;
		pthread_mutex_lock(&d->lock);
		hw_admin_reap(d, done, 32, &n);
		pthread_mutex_unlock(&d->lock);
		for (int i = 0; i < n; i++)
			toeless_backend_crc_done(done[i].cq, done[i].id, done[i].crc, done[i].status);
	} while (n == 32);
}

/* ---- contexts ---- */

/* Bytes the host has written to the connection: acknowledged ones
 * (TCP_INFO bytes_acked counts the SYN as one) and those still queued
 * (SIOCOUTQ).  An ACK between the calls moves bytes from one to the other,
 * so the queue is read on both sides of TCP_INFO. */
static int conn_tx_written(int fd, uint64_t *written)
{
	for (int tries = 0; tries < 100; tries++) {
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);
		int q1 = 0, q2 = 0;
		memset(&ti, 0, sizeof(ti));
		if (ioctl(fd, SIOCOUTQ, &q1) != 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) != 0 ||
		    tl < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(ti.tcpi_bytes_acked) ||
		    ioctl(fd, SIOCOUTQ, &q2) != 0)
			return -EOPNOTSUPP;
		if (q1 == q2 && ti.tcpi_bytes_acked >= 1) {
			*written = ti.tcpi_bytes_acked - 1 + (uint64_t)q1;
			return 0;
		}
	}
	return -EBUSY;
}

/* The connection's identity and how many bytes of its receive stream the
 * host has consumed (TCP_INFO bytes_received less what is still queued). */
static int conn_identity(struct hw_ctx *c, int fd, uint64_t *consumed)
{
	struct sockaddr_storage la, pa;
	socklen_t ll = sizeof(la), pl = sizeof(pa);
	int proto = 0;
	socklen_t sl = sizeof(proto);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &sl) != 0 || proto != IPPROTO_TCP)
		return -EOPNOTSUPP;
	if (getsockname(fd, (struct sockaddr *)&la, &ll) != 0 || getpeername(fd, (struct sockaddr *)&pa, &pl) != 0)
		return -ENOTCONN;
	struct hwif_ctx_block *b = c->blk;
	b->family = la.ss_family;
	if (la.ss_family == AF_INET) {
		const struct sockaddr_in *l4 = (const struct sockaddr_in *)&la, *p4 = (const struct sockaddr_in *)&pa;
		memcpy(b->local_addr, &l4->sin_addr, 4);
		memcpy(b->peer_addr, &p4->sin_addr, 4);
		b->local_port = l4->sin_port;
		b->peer_port = p4->sin_port;
	} else if (la.ss_family == AF_INET6) {
		const struct sockaddr_in6 *l6 = (const struct sockaddr_in6 *)&la,
					  *p6 = (const struct sockaddr_in6 *)&pa;
		memcpy(b->local_addr, &l6->sin6_addr, 16);
		memcpy(b->peer_addr, &p6->sin6_addr, 16);
		b->local_port = l6->sin6_port;
		b->peer_port = p6->sin6_port;
	} else {
		return -EOPNOTSUPP;
	}
	/* a stable snapshot: bytes still arriving change both numbers */
	for (int tries = 0; tries < 100; tries++) {
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);
		int inq1 = 0, inq2 = 0;
		memset(&ti, 0, sizeof(ti));
		if (ioctl(fd, SIOCINQ, &inq1) != 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) != 0 ||
		    tl < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
			return -EOPNOTSUPP;
		if (ioctl(fd, SIOCINQ, &inq2) != 0)
			return -EOPNOTSUPP;
		if (inq1 == inq2) {
			*consumed = ti.tcpi_bytes_received - (uint64_t)inq1;
			return 0;
		}
	}
	return -EBUSY;
}

/* wait_final() sets SO_RCVLOWAT to the rest of a PDU.  Linux grows the
 * receive buffer for a low-water mark it cannot hold, and clamps the
 * window at that mark (tcp_set_rcvlowat): done at the first large PDU of a
 * new connection, before autotuning has grown the buffer, that clamps the
 * window at one PDU for the connection's life, the target can never have
 * more than one PDU in flight, and each PDU waits for the host's reading.
 * Grow it once, here, to HW_RCVBUF_WINDOW (the kernel bounds it by
 * tcp_rmem[2] / 2): later marks are below the buffer and clamp nothing.
 * A buffer the application sized itself (SO_RCVBUF) is left alone by
 * the kernel. */
#define HW_RCVBUF_WINDOW (4 << 20)
static bool set_lowat(int fd, uint32_t v)
{
	int x = v > 1 && v <= INT_MAX ? (int)v : 1;
	return setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &x, sizeof(x)) == 0;
}

static void grow_rcvbuf(int fd)
{
	if (set_lowat(fd, HW_RCVBUF_WINDOW))
		(void)set_lowat(fd, 1);
}

static void ctx_free(struct hw_ctx *c)
{
	struct hw_dev *d = c->dev;
	if (c->irq >= 0)
		close(c->irq);
	pthread_mutex_lock(&d->lock);
	d->slot_used[c->slot] = 0;
	pthread_mutex_unlock(&d->lock);
	hw_itt_fini(c);
	free(c->released);
	free(c->backlog);
	free(c);
}

static int hw_ctx_create(void *dev_priv, toeless_ctx *tctx, const struct toeless_backend_ctx_info *info,
			 void **ctx_priv)
{
	struct hw_dev *d = dev_priv;
	if (!(d->features & HWIF_F_DDP) || !hw_dev_ok(d))
		return -ENODEV;
	struct hw_ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->dev = d;
	c->tctx = tctx;
	c->irq = -1;
	c->fd = info->fd;
	int rc;
	pthread_mutex_lock(&d->lock);
	uint32_t slot = 0;
	while (slot < d->info.max_contexts && d->slot_used[slot])
		slot++;
	if (slot == d->info.max_contexts) {
		pthread_mutex_unlock(&d->lock);
		free(c);
		return -ENOSPC;
	}
	d->slot_used[slot] = 1;
	pthread_mutex_unlock(&d->lock);
	c->slot = slot;
	uint8_t *base = hw_slot_base(d, slot);
	c->blk = (struct hwif_ctx_block *)base;
	c->sq = (struct hwif_sqe *)(base + d->lay.ctx_sq);
	c->cq = (struct hwif_cqe *)(base + d->lay.ctx_cq);
	c->rq = (struct hwif_rqe *)(base + d->lay.ctx_rq);
	/* a slot starts empty: the device reset its indices at the last remove */
	memset(c->blk, 0, sizeof(*c->blk));
	c->sq_tail = c->cq_head = c->rq_head = 0;
	uint32_t max = info->max_tasks ? info->max_tasks : 1024;
	if (max > (1u << 20))
		max = 1u << 20;
	uint64_t consumed = info->stream_pos;
	if ((rc = conn_identity(c, info->fd, &consumed)) || (rc = hw_itt_init(c, max)))
		goto fail;
	c->blk->host_pos = info->stream_pos;
	c->blk->wire_off = consumed;
	if (d->features & HWIF_F_DIGEST_TX) {
		uint64_t written = 0;
		/* without the count the device cannot find our PDUs: host digests */
		c->tx_digests = conn_tx_written(info->fd, &written) == 0;
		c->blk->tx_wire_off = written;
	}
	c->blk->flags = (info->params.flags & TOELESS_CTX_HEADER_DIGEST ? HWIF_CTX_HDR_DIGEST : 0) |
			(info->params.flags & TOELESS_CTX_DATA_DIGEST ? HWIF_CTX_DATA_DIGEST : 0);
	c->blk->max_recv_dsl = info->params.max_recv_dsl;
	grow_rcvbuf(info->fd);
	c->hdr_digest = info->params.flags & TOELESS_CTX_HEADER_DIGEST;
	c->data_digest = info->params.flags & TOELESS_CTX_DATA_DIGEST;
	c->irq = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->irq < 0) {
		rc = -errno;
		goto fail;
	}
	pthread_mutex_lock(&d->lock); /* the control socket carries one exchange at a time */
	rc = hw_bind_vector(d, 1 + slot, c->irq);
	pthread_mutex_unlock(&d->lock);
	if (rc)
		goto fail;
	struct hwif_sqe cmd;
	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = HWIF_OP_CTX_ADD;
	cmd.a = slot;
	/* a connection made just now may not be accepted by the device yet */
	for (int tries = 0;; tries++) {
		rc = hw_admin_sync(d, &cmd);
		if (rc != -ENOENT || tries == 25)
			break;
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	if (rc) {
		/* -ENOENT: this connection does not pass through the device */
		toeless_backend_log(d->tdev, TOELESS_LOG_INFO, "hw: device declined the connection (%s)",
				    toeless_strerror(rc));
		goto fail;
	}
	*ctx_priv = c;
	return 0;
fail:
	ctx_free(c);
	return rc;
}

static void hw_ctx_destroy(void *ctx_priv)
{
	struct hw_ctx *c = ctx_priv;
	struct hw_dev *d = c->dev;
	if (c->coalesced_waits)
		toeless_backend_log(d->tdev, TOELESS_LOG_INFO,
				    "hw: receive coalescing: %llu waits for more than one PDU, %llu ended at %u us",
				    (unsigned long long)c->coalesced_waits, (unsigned long long)c->coalesce_timeouts,
				    d->rx_usecs);
	if (hw_dev_ok(d)) {
		struct hwif_sqe cmd;
		memset(&cmd, 0, sizeof(cmd));
		cmd.opcode = HWIF_OP_CTX_REMOVE;
		cmd.a = c->slot;
		hw_admin_sync(d, &cmd);
	}
	ctx_free(c);
}

static int hw_ctx_set_params(void *ctx_priv, const struct toeless_ctx_params *params, uint64_t stream_pos)
{
	struct hw_ctx *c = ctx_priv;
	struct hw_dev *d = c->dev;
	if (!hw_dev_ok(d) || c->dead)
		return -ENODEV;
	c->blk->host_pos = stream_pos;
	c->blk->flags = (params->flags & TOELESS_CTX_HEADER_DIGEST ? HWIF_CTX_HDR_DIGEST : 0) |
			(params->flags & TOELESS_CTX_DATA_DIGEST ? HWIF_CTX_DATA_DIGEST : 0);
	c->blk->max_recv_dsl = params->max_recv_dsl;
	c->hdr_digest = params->flags & TOELESS_CTX_HEADER_DIGEST;
	c->data_digest = params->flags & TOELESS_CTX_DATA_DIGEST;
	struct hwif_sqe cmd;
	memset(&cmd, 0, sizeof(cmd));
	cmd.opcode = HWIF_OP_CTX_MODIFY;
	cmd.a = c->slot;
	return hw_admin_sync(d, &cmd);
}

/* ---- context completions ---- */

static void note_anomaly(struct hw_ctx *c)
{
	toeless_backend_count_anomaly(c->tctx);
}

/* The device let go of (itt, gen) on its own (record flag). */
static void dev_released(struct hw_ctx *c, uint32_t itt, uint32_t gen)
{
	struct hw_itt *e = hw_itt_find(c, itt);
	if (!e || e->gen != gen)
		return;
	if (e->dev_holds) {
		e->dev_holds = 0;
		c->n_held--;
	}
	if (e->state == HW_ITT_HELD)
		e->state = HW_ITT_DONE;
}

/* Handle one completion.  What the core must hear about is queued and
 * handed over in ctx_progress (never from inside rx_pdu or sgl_release). */
static void ctx_cqe(struct hw_ctx *c, const struct hwif_cqe *e)
{
	struct hw_itt *it;
	switch (e->type) {
	case HWIF_CQE_SGL_RELEASED:
		it = hw_itt_find(c, e->a);
		if (it && it->gen == e->b && it->state == HW_ITT_REMOVING) {
			hw_itt_del(c, it);
			if (hw_u32_push(&c->released, &c->n_released, &c->cap_released, e->a))
				hw_dev_fail(c->dev, -ENOMEM); /* the core then completes the release */
		}
		break;
	case HWIF_CQE_SGL_REFUSED:
		it = hw_itt_find(c, e->a);
		if (it && it->gen == e->b) {
			if (it->dev_holds) {
				it->dev_holds = 0;
				c->n_held--;
			}
			if (it->state == HW_ITT_HELD)
				it->state = HW_ITT_DONE;
		}
		break;
	case HWIF_CQE_RESYNC_REQ:
		c->resync_pending = true;
		c->resync_pos = e->value;
		break;
	case HWIF_CQE_CTX_ERROR:
		toeless_backend_log(c->dev->tdev, TOELESS_LOG_WARN,
				    "hw: device stopped following context %u (%s): software path", c->slot,
				    toeless_strerror(e->status));
		c->dead = true;
		break;
	default: break;
	}
}

/* Take every completion off the CQ. */
static void ctx_reap(struct hw_ctx *c)
{
	uint32_t tail = HWIF_LOAD(&c->blk->cq_tail);
	if (c->cq_head == tail)
		return;
	while (c->cq_head != tail) {
		ctx_cqe(c, &c->cq[c->cq_head & (HW_CTX_CQ - 1)]);
		c->cq_head++;
	}
	HWIF_STORE(&c->blk->cq_head, c->cq_head);
}

static bool post_remove(struct hw_ctx *c, uint32_t itt, uint32_t gen)
{
	uint32_t head = HWIF_LOAD(&c->blk->sq_head);
	if (hw_sq_free(c->sq_tail, head, HW_CTX_SQ) < 1)
		return false;
	struct hwif_sqe *e = &c->sq[c->sq_tail & (HW_CTX_SQ - 1)];
	memset(e, 0, sizeof(*e));
	e->opcode = HWIF_OP_SGL_REMOVE;
	e->a = itt;
	e->b = gen;
	HWIF_STORE(&c->blk->sq_tail, ++c->sq_tail);
	return true;
}

static void flush_backlog(struct hw_ctx *c)
{
	uint32_t i = 0;
	while (i < c->n_backlog && post_remove(c, (uint32_t)(c->backlog[i] >> 32), (uint32_t)c->backlog[i]))
		i++;
	if (i) {
		memmove(c->backlog, c->backlog + i, (c->n_backlog - i) * sizeof(*c->backlog));
		c->n_backlog -= i;
		hw_doorbell(c->dev);
	}
}

/* A device that is gone or reset holds nothing: every SGL it held is
 * complete (the core does the same for it once it knows). */
static void ctx_progress_failed(struct hw_ctx *c)
{
	c->n_backlog = 0;
	c->n_released = 0;
}

static void hw_ctx_progress(void *ctx_priv)
{
	struct hw_ctx *c = ctx_priv;
	if (!hw_dev_ok(c->dev)) {
		ctx_progress_failed(c);
		return;
	}
	ctx_reap(c);
	if (c->n_backlog)
		flush_backlog(c);
	/* hand over one by one: the core may call back into us */
	while (c->n_released) {
		uint32_t itt = c->released[--c->n_released];
		toeless_backend_sgl_released(c->tctx, itt);
	}
	if (c->resync_pending) {
		c->resync_pending = false;
		toeless_backend_resync_request(c->tctx, c->resync_pos);
	}
	/* a device process that died without a word: look while we wait for
	 * it, and now and then */
	if ((c->n_removing || (__atomic_add_fetch(&c->dev->ticks, 1, __ATOMIC_RELAXED) & 1023) == 0) &&
	    hw_ctl_dead(c->dev)) {
		toeless_backend_log(c->dev->tdev, TOELESS_LOG_ERR, "hw: device %s went away", c->dev->path);
		hw_dev_fail(c->dev, -ENODEV);
	}
}

/* ---- SGLs ---- */

static int hw_sgl_post(void *ctx_priv, uint32_t itt, const struct toeless_backend_sge *sges, int n)
{
	struct hw_ctx *c = ctx_priv;
	struct hw_dev *d = c->dev;
	struct hwif_sge stack[16], *hs = stack;
	int rc = 0;

	if (c->dead || !hw_dev_ok(d))
		return -ENODEV;
	if (!(d->features & HWIF_F_CLAIM))
		return -EOPNOTSUPP; /* it could place over what software placed: software places */
	if (n <= 0 || (uint32_t)n > d->info.max_sge)
		return -E2BIG;
	ctx_reap(c);
	if (c->n_held >= d->info.max_sgls)
		return -ENOSPC; /* the device's SGL table is full */
	uint32_t need = hw_sqe_count((uint32_t)n);
	if (need + 4 > HW_CTX_SQ)
		return -E2BIG; /* can never fit: software places it */
	/* keep room for the removes of what we already hold */
	if (hw_sq_free(c->sq_tail, HWIF_LOAD(&c->blk->sq_head), HW_CTX_SQ) < need + 4)
		return -ENOSPC;
	if (n > 16 && !(hs = malloc(sizeof(*hs) * (size_t)n)))
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		const struct hw_region *r = sges[i].mr_priv;
		if (!r || r->status != 0 || sges[i].len > UINT32_MAX) {
			rc = -EOPNOTSUPP; /* memory the device cannot reach */
			goto out;
		}
		hs[i].region = r->id;
		hs[i].offset = sges[i].mr_offset;
		hs[i].len = (uint32_t)sges[i].len;
	}
	struct hw_itt *e = hw_itt_find(c, itt);
	if (e) {
		/* the core reposts an ITT only after its release completed */
		note_anomaly(c);
		hw_itt_del(c, e);
	}
	if (!(e = hw_itt_add(c, itt))) {
		rc = -ENOSPC;
		goto out;
	}
	if (++c->gen_next == 0)
		c->gen_next = 1;
	e->gen = c->gen_next;
	e->state = HW_ITT_HELD;
	e->dev_holds = 1;
	c->n_held++;
	struct hwif_sqe first;
	memset(&first, 0, sizeof(first));
	first.opcode = HWIF_OP_SGL_ADD;
	first.a = itt;
	first.b = e->gen;
	hw_sq_put_sges(c->sq, HW_CTX_SQ, c->sq_tail, &first, hs, (uint32_t)n);
	c->sq_tail += need;
	HWIF_STORE(&c->blk->sq_tail, c->sq_tail);
	/* No doorbell while the SQ has room: the device fetches the SQ
	 * before it relays any host->target byte of this connection and
	 * before it handles target->host bytes (doc/device-interface.md,
	 * "Doorbells"), so it knows this SGL before the command that asks
	 * for its data leaves, and a write per I/O (plus the device's
	 * wake-up) is saved.  Past half full, ring: an initiator that posts
	 * ahead of its commands must not run the SQ full. */
	if (hw_sq_free(c->sq_tail, HWIF_LOAD(&c->blk->sq_head), HW_CTX_SQ) < HW_CTX_SQ / 2)
		hw_doorbell(d);
out:
	if (hs != stack)
		free(hs);
	return rc;
}

static int hw_sgl_release(void *ctx_priv, uint32_t itt)
{
	struct hw_ctx *c = ctx_priv;
	struct hw_itt *e = hw_itt_find(c, itt);
	if (!e)
		return 0;
	if (!hw_dev_ok(c->dev)) {
		hw_itt_del(c, e);
		return 0;
	}
	ctx_reap(c);
	if (e->state == HW_ITT_DONE) {
		/* the device already let go (it saw the task end, or refused it) */
		hw_itt_del(c, e);
		return 0;
	}
	if (e->state == HW_ITT_REMOVING)
		return 1;
	e->state = HW_ITT_REMOVING;
	c->n_removing++;
	uint32_t gen = e->gen;
	if (!post_remove(c, itt, gen)) {
		if (hw_u64_push(&c->backlog, &c->n_backlog, &c->cap_backlog, (uint64_t)itt << 32 | gen)) {
			hw_dev_fail(c->dev, -ENOMEM);
			return 0;
		}
		return 1;
	}
	hw_doorbell(c->dev);
	/* The device answers within microseconds: wait briefly so that the
	 * buffers are usually the caller's again when this returns. */
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		uint32_t tail = HWIF_LOAD(&c->blk->cq_tail);
		while (c->cq_head != tail) {
			const struct hwif_cqe *q = &c->cq[c->cq_head & (HW_CTX_CQ - 1)];
			if (q->type == HWIF_CQE_SGL_RELEASED && q->a == itt && q->b == gen) {
				c->cq_head++;
				HWIF_STORE(&c->blk->cq_head, c->cq_head);
				hw_itt_del(c, e);
				return 0;
			}
			ctx_cqe(c, q);
			c->cq_head++;
		}
		HWIF_STORE(&c->blk->cq_head, c->cq_head);
		long us = since_us(&t0);
		if (!hw_dev_ok(c->dev)) {
			hw_itt_del(c, e);
			return 0;
		}
		if (us >= HW_RELEASE_WAIT_US) {
			if (hw_ctl_dead(c->dev)) {
				hw_dev_fail(c->dev, -ENODEV);
				hw_itt_del(c, e);
				return 0;
			}
			return 1; /* toeless_backend_sgl_released() from ctx_progress */
		}
		HWIF_STORE(&c->blk->irq_arm, 1);
		HWIF_FENCE();
		if (HWIF_LOAD(&c->blk->cq_tail) != c->cq_head)
			continue;
		struct pollfd p = { .fd = c->irq, .events = POLLIN };
		int to = (int)((HW_RELEASE_WAIT_US - us + 999) / 1000);
		if (poll(&p, 1, to) > 0) {
			uint64_t v;
			if (read(c->irq, &v, sizeof(v)) < 0)
				v = 0;
		}
	}
}

/* Software places [lo, hi) of this SGL: the device, which places ahead of
 * the host, must know before the first byte is written, or a duplicate
 * Data-In it sees later could land over it.  Post the claim and wait for
 * its answer: the device handles the wire between commands, so once it
 * answered nothing lands there (toeless_backend.h, "Buffers"). */
static void hw_sgl_claim(void *ctx_priv, uint32_t itt, uint64_t lo, uint64_t hi)
{
	struct hw_ctx *c = ctx_priv;
	struct hw_dev *d = c->dev;
	if (c->dead || !hw_dev_ok(d))
		return;
	ctx_reap(c);
	struct hw_itt *it = hw_itt_find(c, itt);
	if (!it || it->state == HW_ITT_DONE || !it->dev_holds)
		return; /* the device let go of it (or never took it) */
	uint32_t gen = it->gen;
	uint32_t tag = ++c->claim_tag;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (hw_sq_free(c->sq_tail, HWIF_LOAD(&c->blk->sq_head), HW_CTX_SQ) >= 1)
			break;
		if (since_us(&t0) >= HW_CLAIM_WAIT_US)
			goto timeout;
		hw_doorbell(d);
	}
	struct hwif_sqe *e = &c->sq[c->sq_tail & (HW_CTX_SQ - 1)];
	memset(e, 0, sizeof(*e));
	e->opcode = HWIF_OP_SGL_CLAIM;
	e->tag = tag;
	e->a = itt;
	e->b = gen;
	e->u.claim.lo = lo;
	e->u.claim.hi = hi;
	HWIF_STORE(&c->blk->sq_tail, ++c->sq_tail);
	hw_doorbell(d);
	for (;;) {
		uint32_t tail = HWIF_LOAD(&c->blk->cq_tail);
		while (c->cq_head != tail) {
			const struct hwif_cqe *q = &c->cq[c->cq_head & (HW_CTX_CQ - 1)];
			bool mine = q->type == HWIF_CQE_SGL_CLAIMED && q->tag == tag && q->a == itt;
			if (!mine)
				ctx_cqe(c, q);
			c->cq_head++;
			if (mine) {
				HWIF_STORE(&c->blk->cq_head, c->cq_head);
				return;
			}
		}
		HWIF_STORE(&c->blk->cq_head, c->cq_head);
		if (!hw_dev_ok(d))
			return;
		long us = since_us(&t0);
		if (us >= HW_CLAIM_WAIT_US)
			goto timeout;
		HWIF_STORE(&c->blk->irq_arm, 1);
		HWIF_FENCE();
		if (HWIF_LOAD(&c->blk->cq_tail) != c->cq_head)
			continue;
		struct pollfd p = { .fd = c->irq, .events = POLLIN };
		if (poll(&p, 1, (int)((HW_CLAIM_WAIT_US - us + 999) / 1000)) > 0) {
			uint64_t v;
			if (read(c->irq, &v, sizeof(v)) < 0)
				v = 0;
		}
	}
timeout:
	/* a device that cannot promise it in time may place over software's
	 * bytes: it must not be used any more */
	toeless_backend_log(d->tdev, TOELESS_LOG_ERR,
			    "hw: device did not confirm a claim on ITT 0x%08x within %d us: device failed", itt,
			    HW_CLAIM_WAIT_US);
	hw_dev_fail(d, -ETIMEDOUT);
}

/* ---- receive records ---- */

/* A wire device publishes a PDU's record when it has the header and makes
 * it final when the last segment of the PDU has passed it (or it stopped
 * following), before it forwards that segment.  The host reads the header
 * first, so the rest of the PDU may still be on the wire.  Once the socket
 * holds the rest of the PDU (need bytes: payload, pad, data digest) the
 * record is final, so the driver sleeps on the socket itself, with
 * SO_RCVLOWAT at those bytes: one wake-up, when recv(MSG_TRUNC) can take
 * the whole payload in one call, rather than a wake-up on the context's
 * vector when the device finalises (the last segment then often still on
 * its way, which cost a second wake-up in the caller's poll) plus the
 * device's write to the vector.  A record the device finalised early (a
 * gap on the wire) is seen at the next 5 ms look; after HW_FINAL_WAIT_MS
 * the prefix placed so far counts, and so it does at once when the socket
 * turns readable short of the rest (the kernel wakes a SO_RCVLOWAT sleeper
 * early when the receive window or buffer cannot take the whole PDU: only
 * the host's reading would let it complete).  SO_RCVLOWAT goes back to 1
 * afterwards: never above what the core needs (it may have set its own,
 * larger one for this PDU's header, TOELESS_CTX_RCVLOWAT; 1 only costs it
 * wake-ups). */
#define HW_FINAL_WAIT_MS 200
/* Receive coalescing never asks the socket for more than this. */
#define HW_COALESCE_MAX (1u << 20)

/* Bytes of further PDUs worth waiting for with the rest of this one:
 * rx_frames - 1 more of its size (pdu_len), but only as many as other
 * SGLs the device holds (other reads whose Data-In is still to come), and
 * at most HW_COALESCE_MAX.  A guess: a later PDU may be shorter, or never
 * come (a read that ends early); the wait then ends at rx_usecs. */
static uint32_t coalesce_extra(const struct hw_ctx *c, uint32_t pdu_len)
{
	const struct hw_dev *d = c->dev;
	if (!d->rx_frames || c->n_held < 2)
		return 0;
	uint64_t more = d->rx_frames - 1;
	if (more > c->n_held - 1)
		more = c->n_held - 1;
	uint64_t x = more * pdu_len;
	return x > HW_COALESCE_MAX ? HW_COALESCE_MAX : (uint32_t)x;
}

/* need: the bytes of this PDU still to come (payload, pad, data digest);
 * extra: coalesce_extra(), 0 when off.  With extra, the socket is asked
 * for need + extra bytes, and the wait ends when they are in, or when
 * rx_usecs have passed and the record is final (the PDU's bytes are then
 * in or about to be: the device finalises before it forwards the last
 * segment).  A record still open at rx_usecs drops the extension and
 * waits as without it. */
static void wait_final(struct hw_ctx *c, const struct hwif_rqe *r, uint32_t need, uint32_t extra)
{
	struct timespec t0;
	uint32_t want = need > UINT32_MAX - extra ? UINT32_MAX : need + extra;
	bool set = want > 1 && set_lowat(c->fd, want);
	bool use_irq = !set;
	if (!set)
		extra = 0;
	long bound = extra ? (long)c->dev->rx_usecs : 0;
	if (extra)
		c->coalesced_waits++;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (use_irq) {
			HWIF_STORE(&c->blk->irq_arm, 1);
			HWIF_FENCE();
		}
		bool final = (HWIF_LOAD(&r->flags) & HWIF_REC_F_FINAL) != 0;
		if (!hw_dev_ok(c->dev))
			break;
		long us = since_us(&t0);
		if (final && (!extra || us >= bound)) {
			if (extra)
				c->coalesce_timeouts++;
			break;
		}
		if (extra && us >= bound) {
			/* still open at the bound: wait for this PDU alone */
			extra = 0;
			if (need > 1 && !set_lowat(c->fd, need))
				break;
		}
		struct timespec tmo = { 0, 5 * 1000000L };
		if (extra) {
			long left = bound - us;
			tmo.tv_sec = left / 1000000L;
			tmo.tv_nsec = (left % 1000000L) * 1000L;
		}
		struct pollfd pf = { .fd = use_irq ? c->irq : c->fd, .events = POLLIN };
		int n = ppoll(&pf, 1, &tmo, NULL);
		if (n > 0 && use_irq) {
			uint64_t v;
			if (read(c->irq, &v, sizeof(v)) < 0) {
				/* EAGAIN: another reader took it; the flag is what counts */
			}
		} else if (n > 0) {
			/* Readable: what was asked for is in (final by then, or the
			 * device gave up on this PDU), or an error or EOF, or the
			 * kernel says the bytes cannot come unless the host reads
			 * (receive window or buffer too small: a new connection's
			 * window grows over its first PDUs).  An open record then
			 * cannot be finished; waiting for it only stalls until a
			 * window probe: the prefix counts and software takes the
			 * rest. */
			break;
		}
		if (since_us(&t0) >= HW_FINAL_WAIT_MS * 1000L)
			break;
	}
	if (use_irq)
		HWIF_STORE(&c->blk->irq_arm, 0);
	if (set)
		(void)set_lowat(c->fd, 1);
}

static int hw_rx_pdu(void *ctx_priv, const struct toeless_rx_query *q, struct toeless_rx_record *rec)
{
	struct hw_ctx *c = ctx_priv;
	if (c->dead || !hw_dev_ok(c->dev))
		return -ENOENT;
	if (HWIF_LOAD(&c->blk->cq_tail) != c->cq_head)
		ctx_reap(c);
	uint32_t tail = HWIF_LOAD(&c->blk->rq_tail);
	int rc = -ENOENT;
	while (c->rq_head != tail) {
		const struct hwif_rqe *r = &c->rq[c->rq_head & (HW_CTX_RQ - 1)];
		if (r->stream_pos > q->stream_pos)
			break; /* a later PDU's record: keep it */
		if ((c->dev->features & HWIF_F_WIRE_RECORDS) && r->stream_pos == q->stream_pos &&
		    !(HWIF_LOAD(&r->flags) & HWIF_REC_F_FINAL)) {
			uint32_t need =
				q->data_len ? q->data_len + toeless_pad_len(q->data_len) + (c->data_digest ? 4 : 0) : 0;
			uint32_t pdu_len = need + (uint32_t)(q->payload_pos - q->stream_pos);
			/* a PDU without data waits on the vector, never coalesced */
			wait_final(c, r, need, need ? coalesce_extra(c, pdu_len) : 0);
		}
		struct hwif_rqe e = *r;
		if ((c->dev->features & HWIF_F_WIRE_RECORDS) && !(HWIF_LOAD(&r->flags) & HWIF_REC_F_FINAL)) {
			/* still open: only the prefix placed so far is the host's to skip;
			 * the rest is placed in software after a claim, which stops the device */
			e.bytes_placed = HWIF_LOAD(&r->bytes_placed);
			e.data_digest = HWIF_DIGEST_UNCHECKED;
		}
		c->rq_head++;
		if (e.flags & HWIF_REC_F_RELEASED)
			dev_released(c, e.itt, e.gen);
		if (e.stream_pos < q->stream_pos) {
			note_anomaly(c); /* stale: late, or for a PDU we took in software */
			continue;
		}
		if (e.itt != q->itt || e.data_len != q->data_len || e.opcode != toeless_bhs_opcode(q->bhs)) {
			note_anomaly(c); /* the device misread this header: ignore it */
			break;
		}
		/* *rec arrives zeroed by the core */
		rec->hdr_digest = e.hdr_digest;
		rec->data_digest = HWIF_DIGEST_UNCHECKED;
		if ((e.flags & HWIF_REC_F_PLACED) && q->sgl_posted_to_engine) {
			struct hw_itt *it = hw_itt_find(c, e.itt);
			if (it && it->gen == e.gen && e.bytes_placed <= e.data_len) {
				rec->bytes_placed = e.bytes_placed;
				if (e.bytes_placed == e.data_len)
					rec->data_digest = e.data_digest;
			} else {
				note_anomaly(c); /* placed into an SGL that is not the one posted now */
			}
		}
		if (!c->data_digest && rec->data_digest != HWIF_DIGEST_BAD)
			rec->data_digest = HWIF_DIGEST_NONE;
		rc = 0;
		break;
	}
	HWIF_STORE(&c->blk->rq_head, c->rq_head);
	return rc;
}

static void hw_rx_resync_reply(void *ctx_priv, uint64_t pos, int is_header)
{
	struct hw_ctx *c = ctx_priv;
	if (c->dead || !hw_dev_ok(c->dev))
		return;
	uint32_t head = HWIF_LOAD(&c->blk->sq_head);
	if (hw_sq_free(c->sq_tail, head, HW_CTX_SQ) < 1)
		return; /* the device asks again */
	struct hwif_sqe *e = &c->sq[c->sq_tail & (HW_CTX_SQ - 1)];
	memset(e, 0, sizeof(*e));
	e->opcode = HWIF_OP_RESYNC_REPLY;
	e->u.resync.pos = pos;
	e->u.resync.is_header = is_header ? 1 : 0;
	HWIF_STORE(&c->blk->sq_tail, ++c->sq_tail);
	hw_doorbell(c->dev);
}

/* A transmit record: the device inserts the digests of the PDU starting
 * tx_pos bytes into what this context sent.  The SQ entry is published
 * before the caller writes the PDU's first byte, and the device reads the
 * SQ before it handles a segment from the host, so the record is there
 * when the segment passes. */
static int hw_tx_pdu(void *ctx_priv, uint64_t tx_pos, uint32_t hdr_len, uint32_t data_len, uint32_t flags)
{
	struct hw_ctx *c = ctx_priv;
	if (!c->tx_digests || c->dead || !hw_dev_ok(c->dev))
		return -ENODEV;
	uint32_t head = HWIF_LOAD(&c->blk->sq_head);
	if (hw_sq_free(c->sq_tail, head, HW_CTX_SQ) < 1)
		return -ENOSPC; /* the host computes this one */
	struct hwif_sqe *e = &c->sq[c->sq_tail & (HW_CTX_SQ - 1)];
	memset(e, 0, sizeof(*e));
	e->opcode = HWIF_OP_TX_PDU;
	e->u.tx.pos = tx_pos;
	e->u.tx.hdr_len = hdr_len;
	e->u.tx.data_len = data_len;
	e->u.tx.flags = (flags & TOELESS_TX_HDR_DIGEST ? HWIF_TX_HDR_DIGEST : 0) |
			(flags & TOELESS_TX_DATA_DIGEST ? HWIF_TX_DATA_DIGEST : 0);
	HWIF_STORE(&c->blk->sq_tail, ++c->sq_tail);
	/* no doorbell: the device reads the SQ when the segment arrives */
	return 0;
}

/* Linked into the library, found by name (lib/device.c's registry). */
extern const struct toeless_backend_ops tl_backend_hw __attribute__((visibility("hidden")));
const struct toeless_backend_ops tl_backend_hw = {
	.size = sizeof(struct toeless_backend_ops),
	.abi_version = TOELESS_BACKEND_ABI,
	.name = "hw",
	.version = HW_VERSION,
	.open = hw_open,
	.close = hw_close,
	.query = hw_query,
	.mr_reg = hw_mr_reg,
	.mr_dereg = hw_mr_dereg,
	.ctx_create = hw_ctx_create,
	.ctx_destroy = hw_ctx_destroy,
	.ctx_set_params = hw_ctx_set_params,
	.ctx_progress = hw_ctx_progress,
	.sgl_post = hw_sgl_post,
	.sgl_release = hw_sgl_release,
	.rx_pdu = hw_rx_pdu,
	.rx_resync_reply = hw_rx_resync_reply,
	.crc_submit = hw_crc_submit,
	.tx_pdu = hw_tx_pdu,
	.progress = hw_progress,
	.sgl_claim = hw_sgl_claim,
};

/* Built alone (-DTOELESS_ENGINE_PLUGIN, tests/test-engine-plugins.sh) the
 * engine is a plugin like any vendor's: the same table, exported. */
#ifdef TOELESS_ENGINE_PLUGIN
TOELESS_BACKEND_DEFINE(tl_backend_hw)
#endif
