/*
 * hw driver: attaching to a device and the admin queue.
 *
 * Attach: connect to the device's control socket (AF_UNIX SOCK_SEQPACKET),
 * create the queue memory (a memfd: host memory the device maps, as a NIC
 * reaches DMA-coherent memory), the doorbell and the admin interrupt
 * (eventfds), and send HELLO with the three descriptors.  The device answers
 * with the version it speaks, the features it grants (a subset of what was
 * asked) and its limits.  A different major version is refused.
 *
 * The device writes host memory (SGLs) by process id and address, as DMA
 * through an IOMMU mapping; under Yama ptrace_scope 1 the driver names the
 * device process as its ptracer so that it may (doc/device-interface.md).
 *
 * SPDX-License-Identifier: MIT
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#else
#define _GNU_SOURCE /* built alone, as a plugin from the installed headers */
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "hw_int.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void hw_doorbell(struct hw_dev *d)
{
	uint64_t one = 1;
	ssize_t r = write(d->doorbell, &one, sizeof(one));
	(void)r; /* EAGAIN: the counter is saturated, the device is woken anyway */
}

void hw_dev_fail(struct hw_dev *d, int err)
{
	if (__atomic_exchange_n(&d->failed, 1, __ATOMIC_ACQ_REL) == 0) {
		toeless_backend_device_error(d->tdev, err);
		/* the core stops calling progress(): finish what the device held */
		hw_crc_fail_all(d);
	}
}

void hw_crc_fail_all(struct hw_dev *d)
{
	struct hw_crc_done done[32];
	int n;
	if (!d->crcs)
		return;
	do {
		n = 0;
		pthread_mutex_lock(&d->crc_lock);
		for (uint32_t i = 0; i <= d->crc_mask && n < 32; i++) {
			if (!d->crcs[i].tag)
				continue;
			done[n].cq = d->crcs[i].cq;
			done[n].id = d->crcs[i].id;
			n++;
			d->crcs[i].tag = 0;
			d->crc_count--;
		}
		pthread_mutex_unlock(&d->crc_lock);
		for (int i = 0; i < n; i++)
			toeless_backend_crc_done(done[i].cq, done[i].id, 0, -EIO);
	} while (n == 32);
}

bool hw_dev_ok(struct hw_dev *d)
{
	if (__atomic_load_n(&d->failed, __ATOMIC_ACQUIRE))
		return false;
	uint32_t st = HWIF_LOAD(&d->hdr->state);
	if (st != HWIF_STATE_RUNNING) {
		toeless_backend_log(d->tdev, TOELESS_LOG_WARN, "hw: device state %u (%s): software path from now on",
				    st, st == HWIF_STATE_RESET ? "reset" : "failed");
		hw_dev_fail(d, -EIO);
		return false;
	}
	return true;
}

uint8_t *hw_slot_base(struct hw_dev *d, uint32_t slot)
{
	return d->mem + d->lay.ctx_base + d->lay.ctx_stride * slot;
}

/* ---- control socket ---- */

static int ctl_send(int fd, const void *msg, size_t len, const int *fds, int nfds)
{
	struct iovec iov = { (void *)(uintptr_t)msg, len };
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	ssize_t r;
	do {
		r = sendmsg(fd, &mh, MSG_NOSIGNAL);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	return r == (ssize_t)len ? 0 : -EIO;
}

/* Receive one message of the given type within timeout_ms. */
static int ctl_recv(int fd, void *msg, size_t len, uint16_t type, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;
	do {
		r = poll(&p, 1, timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ETIMEDOUT;
	if (r < 0)
		return -errno;
	ssize_t n;
	do {
		n = recv(fd, msg, len, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ECONNRESET;
	const struct hwif_msg_hdr *h = msg;
	if ((size_t)n < sizeof(*h) || h->magic != HWIF_MAGIC || h->type != type || (size_t)n < len)
		return -EPROTO;
	return 0;
}

static void maybe_allow_device_writes(struct hw_dev *d)
{
	/* Yama mode 1 lets only ancestors use process_vm_writev on us;
	 * name the device, as a driver maps its DMA window. */
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
	int scope = 0;
	if (f) {
		if (fscanf(f, "%d", &scope) != 1)
			scope = 0;
		fclose(f);
	}
	if (scope == 1 && d->dev_pid > 0 && prctl(PR_SET_PTRACER, (unsigned long)d->dev_pid, 0, 0, 0) != 0)
		toeless_backend_log(d->tdev, TOELESS_LOG_WARN,
				    "hw: PR_SET_PTRACER: %s; the device may not reach memory", strerror(errno));
}

/* Refuse a socket in a directory where another user could have put it or
 * could swap it (doc/device-interface.md, "Trust"): the directory must be
 * ours or root's and writable by nobody else unless sticky, and the socket
 * itself ours or root's.  A check before connect() can race with a change
 * of the directory; SO_PEERCRED after connect() is the one that cannot. */
static int check_socket_place(struct hw_dev *d, const char *path)
{
	char dir[sizeof(d->path)];
	struct stat st;
	uid_t me = geteuid();
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? -ENODEV : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -ENODEV;
	if (st.st_uid != me && st.st_uid != 0) {
		toeless_backend_log(d->tdev, TOELESS_LOG_ERR,
				    "hw: %s belongs to uid %u, not to this user or root: not attached", path,
				    (unsigned)st.st_uid);
		return -EPERM;
	}
	if (stat(dir, &st) != 0)
		return -errno;
	if (!hwif_dir_trusted(&st, me)) {
		toeless_backend_log(d->tdev, TOELESS_LOG_ERR,
				    "hw: %s is in %s (uid %u, mode %04o): a directory another user may write"
				    " or own; not attached",
				    path, dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

int hw_attach(struct hw_dev *d, const char *path)
{
	struct sockaddr_un sa;
	int rc;

	d->ctl = d->memfd = d->doorbell = d->irq0 = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	snprintf(d->path, sizeof(d->path), "%s", path);
	if ((rc = check_socket_place(d, path)))
		return rc;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	d->ctl = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (d->ctl < 0)
		return -errno;
	if (connect(d->ctl, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		rc = errno == ENOENT || errno == ECONNREFUSED ? -ENODEV : -errno;
		goto fail;
	}
	/* The device will write our memory and judge our digests: attach only
	 * to one run by our own user or by root.  Any local user can put a
	 * socket at a path in /tmp, so the path proves nothing; the kernel's
	 * record of who listens does. */
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(d->ctl, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0) {
		rc = -errno;
		goto fail;
	}
	if (cred.uid != geteuid() && cred.uid != 0) {
		toeless_backend_log(d->tdev, TOELESS_LOG_ERR,
				    "hw: %s is served by uid %u (pid %d), not by this user or root: not attached", path,
				    (unsigned)cred.uid, (int)cred.pid);
		rc = -EPERM;
		goto fail;
	}

	hwif_layout_compute(&d->lay, HW_MAX_CONTEXTS, HW_ADMIN_SQ, HW_ADMIN_CQ, HW_CTX_SQ, HW_CTX_CQ, HW_CTX_RQ);
	d->mem_size = d->lay.size;
	d->memfd = memfd_create("toeless-hw-queues", MFD_CLOEXEC);
	if (d->memfd < 0 || ftruncate(d->memfd, (off_t)d->mem_size) != 0) {
		rc = -errno;
		goto fail;
	}
	d->mem = mmap(NULL, d->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED, d->memfd, 0);
	if (d->mem == MAP_FAILED) {
		d->mem = NULL;
		rc = -errno;
		goto fail;
	}
	d->hdr = (struct hwif_shared_hdr *)d->mem;
	d->hdr->magic = HWIF_MAGIC;
	d->asq = (struct hwif_sqe *)(d->mem + d->lay.admin_sq);
	d->acq = (struct hwif_cqe *)(d->mem + d->lay.admin_cq);
	d->doorbell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->irq0 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->doorbell < 0 || d->irq0 < 0) {
		rc = -errno;
		goto fail;
	}

	struct hwif_hello hello;
	memset(&hello, 0, sizeof(hello));
	hello.h.magic = HWIF_MAGIC;
	hello.h.type = HWIF_MSG_HELLO;
	hello.h.len = sizeof(hello);
	hello.ver_major = HWIF_VERSION_MAJOR;
	hello.ver_minor = HWIF_VERSION_MINOR;
	hello.host_pid = (uint32_t)getpid();
	hello.features = HWIF_F_ALL;
	hello.mem_size = d->mem_size;
	hello.max_contexts = HW_MAX_CONTEXTS;
	hello.admin_sq_entries = HW_ADMIN_SQ;
	hello.admin_cq_entries = HW_ADMIN_CQ;
	hello.ctx_sq_entries = HW_CTX_SQ;
	hello.ctx_cq_entries = HW_CTX_CQ;
	hello.ctx_rq_entries = HW_CTX_RQ;
	int fds[3] = { d->memfd, d->doorbell, d->irq0 };
	if ((rc = ctl_send(d->ctl, &hello, sizeof(hello), fds, 3)))
		goto fail;
	if ((rc = ctl_recv(d->ctl, &d->info, sizeof(d->info), HWIF_MSG_HELLO_REPLY, HW_ATTACH_TIMEOUT_MS)))
		goto fail;
	d->info.name[sizeof(d->info.name) - 1] = '\0';
	if (d->info.ver_major != HWIF_VERSION_MAJOR) {
		toeless_backend_log(d->tdev, TOELESS_LOG_ERR, "hw: device speaks interface %u.%u, driver %u.%u",
				    d->info.ver_major, d->info.ver_minor, HWIF_VERSION_MAJOR, HWIF_VERSION_MINOR);
		rc = -EPROTO;
		goto fail;
	}
	if (d->info.status) {
		rc = d->info.status < 0 ? d->info.status : -EIO;
		goto fail;
	}
	d->features = d->info.features & HWIF_F_ALL;
	if (!d->info.max_contexts || d->info.max_contexts > HW_MAX_CONTEXTS)
		d->info.max_contexts = HW_MAX_CONTEXTS;
	if (!d->info.max_sge || d->info.max_sge > 1024)
		d->info.max_sge = 1024;
	if (!d->info.max_crc_sge)
		d->info.max_crc_sge = 1;
	d->dev_pid = cred.pid;
	maybe_allow_device_writes(d);
	if (HWIF_LOAD(&d->hdr->state) != HWIF_STATE_RUNNING) {
		rc = -EIO;
		goto fail;
	}
	d->crc_mask = 255;
	d->crcs = calloc(d->crc_mask + 1, sizeof(*d->crcs));
	if (!d->crcs) {
		rc = -ENOMEM;
		goto fail;
	}
	toeless_backend_log(d->tdev, TOELESS_LOG_INFO,
			    "hw: attached to %s (%s, interface %u.%u, features 0x%llx, pid %d)", path, d->info.name,
			    d->info.ver_major, d->info.ver_minor, (unsigned long long)d->features, (int)d->dev_pid);
	return 0;

fail:
	hw_detach(d);
	return rc;
}

void hw_detach(struct hw_dev *d)
{
	if (d->ctl >= 0)
		close(d->ctl);
	if (d->mem)
		munmap(d->mem, d->mem_size);
	if (d->memfd >= 0)
		close(d->memfd);
	if (d->doorbell >= 0)
		close(d->doorbell);
	if (d->irq0 >= 0)
		close(d->irq0);
	free(d->crcs);
	d->crcs = NULL;
	d->mem = NULL;
	d->ctl = d->memfd = d->doorbell = d->irq0 = -1;
}

int hw_bind_vector(struct hw_dev *d, uint32_t vector, int efd)
{
	struct hwif_vector_msg m;
	memset(&m, 0, sizeof(m));
	m.h.magic = HWIF_MAGIC;
	m.h.type = HWIF_MSG_VECTOR;
	m.h.len = sizeof(m);
	m.vector = vector;
	int rc = ctl_send(d->ctl, &m, sizeof(m), &efd, 1);
	if (rc)
		return rc;
	struct hwif_vector_msg r;
	rc = ctl_recv(d->ctl, &r, sizeof(r), HWIF_MSG_VECTOR_REPLY, HW_CMD_TIMEOUT_MS);
	if (rc)
		return rc;
	return r.vector == vector ? r.status : -EPROTO;
}

/* ---- admin queue ---- */

static struct hw_crc_pending *crc_find(struct hw_dev *d, uint32_t tag)
{
	for (uint32_t i = tag & d->crc_mask, n = 0; n <= d->crc_mask; i = (i + 1) & d->crc_mask, n++) {
		if (d->crcs[i].tag == tag)
			return &d->crcs[i];
		if (!d->crcs[i].tag)
			return NULL;
	}
	return NULL;
}

static void crc_remove(struct hw_dev *d, struct hw_crc_pending *p)
{
	/* backward-shift deletion keeps probe chains intact */
	uint32_t i = (uint32_t)(p - d->crcs);
	d->crcs[i].tag = 0;
	d->crc_count--;
	for (uint32_t j = (i + 1) & d->crc_mask; d->crcs[j].tag; j = (j + 1) & d->crc_mask) {
		uint32_t home = d->crcs[j].tag & d->crc_mask;
		bool move = i <= j ? (home <= i || home > j) : (home <= i && home > j);
		if (move) {
			d->crcs[i] = d->crcs[j];
			d->crcs[j].tag = 0;
			i = j;
		}
	}
}

void hw_admin_reap(struct hw_dev *d, struct hw_crc_done *done, int max, int *n)
{
	uint32_t tail = HWIF_LOAD(&d->hdr->admin_cq_tail);
	while (d->acq_head != tail && *n < max) {
		const struct hwif_cqe *e = &d->acq[d->acq_head & (HW_ADMIN_CQ - 1)];
		switch (e->type) {
		case HWIF_CQE_CMD:
			for (int i = 0; i < HW_MAX_WAITERS; i++)
				if (d->waiters[i].tag == e->tag) {
					d->waiters[i].done = 1;
					d->waiters[i].status = e->status;
				}
			break;
		case HWIF_CQE_CRC: {
			pthread_mutex_lock(&d->crc_lock);
			struct hw_crc_pending *p = crc_find(d, e->tag);
			if (p) {
				done[*n].cq = p->cq;
				done[*n].id = p->id;
				done[*n].crc = (uint32_t)e->value;
				done[*n].status = e->status;
				(*n)++;
				crc_remove(d, p);
			}
			pthread_mutex_unlock(&d->crc_lock);
			break;
		}
		case HWIF_CQE_RESET: hw_dev_fail(d, -EIO); break;
		default: break;
		}
		d->acq_head++;
	}
	HWIF_STORE(&d->hdr->admin_cq_head, d->acq_head);
}

/* The device process is gone when its control socket hangs up. */
bool hw_ctl_dead(struct hw_dev *d)
{
	struct pollfd p = { .fd = d->ctl, .events = POLLIN };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

int hw_admin_sync(struct hw_dev *d, struct hwif_sqe *cmd)
{
	struct hw_crc_done done[16];
	int ndone = 0, rc = -ETIMEDOUT, w = -1;
	uint64_t deadline = now_ms() + HW_CMD_TIMEOUT_MS;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		if (!hw_dev_ok(d)) {
			rc = -ENODEV;
			goto out;
		}
		if (w < 0) {
			for (int i = 0; i < HW_MAX_WAITERS && w < 0; i++)
				if (!d->waiters[i].tag)
					w = i;
			uint32_t head = HWIF_LOAD(&d->hdr->admin_sq_head);
			if (w >= 0 && hw_sq_free(d->asq_tail, head, HW_ADMIN_SQ) > 0) {
				if (++d->next_tag == 0)
					d->next_tag = 1;
				cmd->tag = d->next_tag;
				d->waiters[w].tag = cmd->tag;
				d->waiters[w].done = 0;
				d->asq[d->asq_tail & (HW_ADMIN_SQ - 1)] = *cmd;
				HWIF_STORE(&d->hdr->admin_sq_tail, ++d->asq_tail);
				hw_doorbell(d);
			} else {
				w = -1;
			}
		}
		hw_admin_reap(d, done, 16, &ndone);
		if (w >= 0 && d->waiters[w].done) {
			rc = d->waiters[w].status;
			goto out;
		}
		if (now_ms() > deadline) {
			rc = -ETIMEDOUT;
			goto out;
		}
		HWIF_STORE(&d->hdr->admin_irq_arm, 1);
		HWIF_FENCE();
		hw_admin_reap(d, done, 16, &ndone);
		if (w >= 0 && d->waiters[w].done) {
			rc = d->waiters[w].status;
			goto out;
		}
		pthread_mutex_unlock(&d->lock);
		for (int i = 0; i < ndone; i++)
			toeless_backend_crc_done(done[i].cq, done[i].id, done[i].crc, done[i].status);
		ndone = 0;
		struct pollfd p[2] = { { .fd = d->irq0, .events = POLLIN }, { .fd = d->ctl, .events = POLLIN } };
		if (poll(p, 2, 2) > 0) {
			uint64_t v;
			if (p[0].revents & POLLIN && read(d->irq0, &v, sizeof(v)) < 0)
				v = 0;
			if (p[1].revents & (POLLHUP | POLLERR) || hw_ctl_dead(d)) {
				toeless_backend_log(d->tdev, TOELESS_LOG_ERR, "hw: device %s went away", d->path);
				hw_dev_fail(d, -ENODEV);
			}
		}
		pthread_mutex_lock(&d->lock);
	}
out:
	if (w >= 0)
		d->waiters[w].tag = 0;
	pthread_mutex_unlock(&d->lock);
	for (int i = 0; i < ndone; i++)
		toeless_backend_crc_done(done[i].cq, done[i].id, done[i].crc, done[i].status);
	if (rc == -ETIMEDOUT) {
		toeless_backend_log(d->tdev, TOELESS_LOG_ERR, "hw: command %u timed out: device declared failed",
				    cmd->opcode);
		hw_dev_fail(d, -ETIMEDOUT);
	}
	return rc;
}
