/*
 * iscsi-session: blocking calls for threads other than the loop's.
 *
 * One session thread per handle owns the session and runs its libuv loop;
 * nothing else touches the session.  A caller queues a request (under the
 * handle's mutex) and waits on the request's semaphore.  It wakes the loop
 * with uv_async_send() only when the session thread is about to sleep or
 * asleep (h->sleeping): while that thread is awake (it is answering a
 * completion, which is when a closed-loop client sends its next request) it
 * takes the queue in its prepare callback, just before it would block, and
 * the eventfd write, the loop's extra return from epoll_wait and its read
 * of the eventfd are saved.  The answer is a sem_post() outside any lock:
 * the waiter wakes once (one futex wake) and does not then block again on
 * a mutex the session thread still holds.  On the session thread each request is cut
 * into commands of at most cfg->block_size bytes that take free task slots
 * (cfg->queue_depth of them for every caller together); a finished command
 * frees its slot for the next piece of any request.  A request is answered
 * when all its commands finished: 0, or the first error among them.  When
 * the session gives up (s->fatal: retries exhausted, a command unanswered
 * through the whole escalation), every waiting and later request fails with
 * -ENOTCONN; the handle stays valid until iscsi_sync_close().
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iscsi_session.h"

enum req_kind { REQ_IO, REQ_FLUSH, REQ_STATS };

struct sreq {
	struct sreq *next;
	enum req_kind kind;
	enum task_dir dir;
	uint8_t *buf;
	uint64_t lba;      /* first block */
	uint64_t len;      /* bytes */
	uint64_t next_off; /* next byte to give a command */
	unsigned inflight; /* commands out */
	int err;           /* first error */
	char why[512];
	struct session_stats *stats;
	sem_t done; /* posted once, when the request is answered */
};

struct iscsi_sync {
	const struct config *cfg;
	struct session s;
	struct lun_info li;
	uv_loop_t loop;
	uv_async_t wake;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t started;
	bool ready; /* logged in and probed (or failed: open_rc) */
	int open_rc;
	char open_err[512];
	bool dead;                          /* the session gave up */
	bool closing;                       /* the thread closes the wake handle: no more uv_async_send */
	struct session_stats final_st;      /* the counters as the session ended (read once closing) */
	struct sreq *incoming;              /* queued by callers (lock) */
	struct sreq *work_head, *work_tail; /* taken by the session thread */
	uv_prepare_t before_sleep;          /* takes the queue before the loop blocks */
	/* true: the session thread will look at incoming again only when woken
	 * (uv_async_send).  Set under the lock by the prepare callback when it
	 * found the queue empty; cleared by the caller that wakes it, and by the
	 * session thread itself when a command completes (it then passes the
	 * prepare callback before it blocks again). */
	atomic_bool sleeping;
	atomic_bool stop_asked; /* close asked (read without the lock on every loop turn) */
	/* how many requests came and how many of them had to wake the loop */
	uint64_t requests, wakes;
};

/* The request belongs to its caller again once posted: touch it no more. */
static void req_finish(struct iscsi_sync *h, struct sreq *r)
{
	(void)h;
	sem_post(&r->done);
}

static void req_fail(struct sreq *r, int err, const char *why)
{
	if (!r->err) {
		r->err = err;
		snprintf(r->why, sizeof(r->why), "%s", why);
	}
}

static void pump(struct iscsi_sync *h);

static void io_done(struct session *s, struct task *t)
{
	struct iscsi_sync *h = (struct iscsi_sync *)((char *)s - offsetof(struct iscsi_sync, s));
	struct sreq *r = t->arg;
	char why[256];

	/* awake, and the prepare callback runs before the loop blocks again: a
	 * request queued from now on needs no wake-up */
	atomic_store_explicit(&h->sleeping, false, memory_order_relaxed);
	r->inflight--;
	if (t->scsi_status != SCSI_GOOD) {
		scsi_describe(why, sizeof(why), t->scsi_status, &t->sense);
		req_fail(r, -EIO, why);
	} else if (t->dir == DIR_READ && t->bytes_valid != t->len) {
		/* GOOD with fewer bytes: never report bytes that did not arrive */
		s->st.short_reads++;
		snprintf(why, sizeof(why), "READ(16) of %u bytes: the target sent only %llu (residual %u)", t->len,
			 (unsigned long long)t->bytes_valid, t->residual);
		req_fail(r, -EIO, why);
	}
	task_put(s, t);
	pump(h);
}

/* Start a command for the next piece of r in t. */
static void piece(struct iscsi_sync *h, struct sreq *r, struct task *t)
{
	uint32_t bl = h->li.block_len;
	uint64_t n = r->len - r->next_off;

	if (r->kind == REQ_FLUSH) {
		cdb_sync_cache16(t->cdb);
		t->dir = DIR_NONE;
		t->len = 0;
	} else {
		if (n > h->cfg->block_size)
			n = h->cfg->block_size - h->cfg->block_size % bl;
		t->dir = r->dir;
		t->buf = r->buf + r->next_off;
		t->len = (uint32_t)n;
		if (r->dir == DIR_READ)
			cdb_read16(t->cdb, r->lba + r->next_off / bl, (uint32_t)(n / bl));
		else
			cdb_write16(t->cdb, r->lba + r->next_off / bl, (uint32_t)(n / bl));
	}
	t->done = io_done;
	t->arg = r;
	r->next_off += n;
	r->inflight++;
	task_submit(&h->s, t);
}

/*
 * Answer the requests that finished; give free task slots to the others in
 * the order they came.  Once the session gave up, every request is answered
 * -ENOTCONN: its connection is gone (posts cancelled), nothing can land in
 * its buffer any more.
 */
static void pump(struct iscsi_sync *h)
{
	struct sreq **pp = &h->work_head, *last = NULL;
	bool slots = true;

	while (*pp) {
		struct sreq *r = *pp;

		if (h->dead && !r->err)
			req_fail(r, -ENOTCONN, h->s.errmsg);
		while (slots && !r->err && r->next_off < r->len) {
			struct task *t = task_get(&h->s);
			if (!t) {
				slots = false;
				break;
			}
			piece(h, r, t);
		}
		if ((r->next_off >= r->len || r->err) && (!r->inflight || h->dead)) {
			*pp = r->next;
			req_finish(h, r); /* r belongs to its caller again */
			continue;
		}
		last = r;
		pp = &r->next;
	}
	h->work_tail = last;
}

/* Move what callers queued to the work list (REQ_STATS answered at once);
 * with set_sleeping, mark the thread asleep if there was nothing (under the
 * same lock as the callers' look at the flag).  True if anything came. */
static bool take_incoming(struct iscsi_sync *h, bool set_sleeping)
{
	struct sreq *list, *rev = NULL;

	pthread_mutex_lock(&h->lock);
	list = h->incoming;
	h->incoming = NULL;
	if (set_sleeping && !list)
		atomic_store_explicit(&h->sleeping, true, memory_order_relaxed);
	pthread_mutex_unlock(&h->lock);
	if (!list)
		return false;
	while (list) { /* callers pushed at the front: restore their order */
		struct sreq *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	for (struct sreq *r = rev, *n; r; r = n) {
		n = r->next;
		r->next = NULL;
		if (r->kind == REQ_STATS) {
			*r->stats = h->s.st;
			req_finish(h, r);
			continue;
		}
		if (h->work_tail)
			h->work_tail->next = r;
		else
			h->work_head = r;
		h->work_tail = r;
	}
	return true;
}

static void on_wake(uv_async_t *a)
{
	struct iscsi_sync *h = a->data;

	if (take_incoming(h, false))
		pump(h);
}

/* The loop is about to block in epoll_wait: take what was queued while we
 * were awake (callers did not wake us for it), until nothing is left. */
static void on_before_sleep(uv_prepare_t *p)
{
	struct iscsi_sync *h = p->data;

	while (take_incoming(h, true))
		pump(h);
}

static void *session_thread(void *arg)
{
	struct iscsi_sync *h = arg;
	struct session *s = &h->s;
	int rc;

	rc = session_init(s, h->cfg, &h->loop);
	if (!rc)
		rc = session_login(s);
	if (!rc)
		rc = session_probe_lun(s, &h->li);
	pthread_mutex_lock(&h->lock);
	h->open_rc = rc;
	if (rc)
		snprintf(h->open_err, sizeof(h->open_err), "%s", s->errmsg);
	h->ready = true;
	pthread_cond_signal(&h->started);
	pthread_mutex_unlock(&h->lock);
	if (rc)
		goto out;

	uv_prepare_start(&h->before_sleep, on_before_sleep);
	for (;;) {
		uv_run(&h->loop, UV_RUN_ONCE);
		if (s->fatal && !h->dead) {
			h->dead = true;
			iscsi_log(ISCSI_LOG_ERROR, "session ended: %s", s->errmsg);
			pump(h);
		}
		if (atomic_load_explicit(&h->stop_asked, memory_order_acquire)) {
			pthread_mutex_lock(&h->lock);
			bool stop = !h->incoming && !h->work_head;
			pthread_mutex_unlock(&h->lock);
			if (stop)
				break;
		}
	}
	uv_prepare_stop(&h->before_sleep);
	if (!s->fatal)
		session_logout(s);
	s->st.reconnects = s->st.connections ? s->st.connections - 1 : 0;
	{
		char *text = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&text, &len);
		if (f) {
			session_print_stats(s, f);
			fclose(f);
			iscsi_log(ISCSI_LOG_DEBUG, "counters of the session:");
			for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
				nl = strchr(line, '\n');
				if (nl)
					*nl = 0;
				iscsi_log(ISCSI_LOG_DEBUG, "%s", line);
			}
			free(text);
		}
	}
	iscsi_log(ISCSI_LOG_DEBUG, "blocking seam: %llu requests, %llu of them woke the session thread",
		  (unsigned long long)h->requests, (unsigned long long)h->wakes);
out:
	pthread_mutex_lock(&h->lock);
	h->final_st = s->st;
	h->closing = true;
	struct sreq *late = h->incoming; /* queued after the last look: no session to serve them */
	h->incoming = NULL;
	pthread_mutex_unlock(&h->lock);
	while (late) {
		struct sreq *n = late->next;
		if (late->kind == REQ_STATS)
			*late->stats = h->final_st;
		else
			req_fail(late, -ENOTCONN, "the session is closing");
		req_finish(h, late);
		late = n;
	}
	uv_close((uv_handle_t *)&h->wake, NULL);
	uv_close((uv_handle_t *)&h->before_sleep, NULL);
	session_destroy(s);
	uv_run(&h->loop, UV_RUN_DEFAULT); /* the wake handle's close, if session_init failed early */
	return NULL;
}

int iscsi_sync_open(const struct config *cfg, struct iscsi_sync **out, struct lun_info *li, char *err, size_t errlen)
{
	struct iscsi_sync *h = calloc(1, sizeof(*h));
	int rc;

	*out = NULL;
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return EXIT_LOCAL;
	}
	h->cfg = cfg;
	uv_loop_init(&h->loop);
	uv_async_init(&h->loop, &h->wake, on_wake);
	h->wake.data = h;
	uv_prepare_init(&h->loop, &h->before_sleep);
	h->before_sleep.data = h;
	atomic_init(&h->sleeping, true);
	atomic_init(&h->stop_asked, false);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->started, NULL);
	rc = pthread_create(&h->thread, NULL, session_thread, h);
	if (rc) {
		snprintf(err, errlen, "cannot start the session thread: %s", strerror(rc));
		uv_close((uv_handle_t *)&h->wake, NULL);
		uv_close((uv_handle_t *)&h->before_sleep, NULL);
		uv_run(&h->loop, UV_RUN_DEFAULT);
		uv_loop_close(&h->loop);
		free(h);
		return EXIT_LOCAL;
	}
	pthread_mutex_lock(&h->lock);
	while (!h->ready)
		pthread_cond_wait(&h->started, &h->lock);
	pthread_mutex_unlock(&h->lock);
	if (h->open_rc) {
		rc = h->open_rc;
		snprintf(err, errlen, "%s", h->open_err);
		iscsi_sync_close(h);
		return rc;
	}
	*li = h->li;
	*out = h;
	return 0;
}

static int submit(struct iscsi_sync *h, struct sreq *r, char *why, size_t whylen)
{
	bool wake;

	if (sem_init(&r->done, 0, 0))
		return -errno;
	pthread_mutex_lock(&h->lock);
	if (h->closing) {
		pthread_mutex_unlock(&h->lock);
		sem_destroy(&r->done);
		return -ENOTCONN;
	}
	r->next = h->incoming;
	h->incoming = r;
	h->requests++;
	/* asleep (or about to be): only a wake-up brings it back for us; awake,
	 * it takes the queue before it blocks (on_before_sleep) */
	wake = atomic_load_explicit(&h->sleeping, memory_order_relaxed);
	if (wake) {
		atomic_store_explicit(&h->sleeping, false, memory_order_relaxed);
		h->wakes++;
		uv_async_send(&h->wake);
	}
	pthread_mutex_unlock(&h->lock);
	while (sem_wait(&r->done) && errno == EINTR)
		;
	sem_destroy(&r->done);
	if (r->err && why)
		snprintf(why, whylen, "%s", r->why);
	return r->err;
}

int iscsi_sync_io(struct iscsi_sync *h, enum task_dir dir, void *buf, uint64_t offset, uint64_t len, char *why,
		  size_t whylen)
{
	uint64_t size = h->li.blocks * h->li.block_len;
	struct sreq r = { .kind = REQ_IO, .dir = dir, .buf = buf, .len = len };

	if (offset % h->li.block_len || len % h->li.block_len || offset > size || len > size - offset) {
		if (why)
			snprintf(why, whylen, "%llu bytes at %llu: not whole %u-byte blocks inside the LUN",
				 (unsigned long long)len, (unsigned long long)offset, h->li.block_len);
		return -EINVAL;
	}
	if (!len)
		return 0;
	r.lba = offset / h->li.block_len;
	return submit(h, &r, why, whylen);
}

int iscsi_sync_flush(struct iscsi_sync *h, char *why, size_t whylen)
{
	struct sreq r = { .kind = REQ_FLUSH, .len = 1 };

	return submit(h, &r, why, whylen);
}

int iscsi_sync_stats(struct iscsi_sync *h, struct session_stats *st)
{
	struct sreq r = { .kind = REQ_STATS, .stats = st };

	/* A session that gave up still tells what it did (the escalation steps
	 * are what a caller most wants to read then). */
	pthread_mutex_lock(&h->lock);
	if (h->closing) {
		*st = h->final_st;
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	pthread_mutex_unlock(&h->lock);
	return submit(h, &r, NULL, 0);
}

void iscsi_sync_close(struct iscsi_sync *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	atomic_store_explicit(&h->stop_asked, true, memory_order_release);
	if (!h->closing)
		uv_async_send(&h->wake);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	uv_loop_close(&h->loop);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->started);
	free(h);
}
