/*
 * iscsi-session: blocking calls for threads other than the loop's.
 *
 * Leader/follower.  The session and its libuv loop belong to whoever holds
 * the handle's mutex; nobody holds it while asleep.  A caller queues its
 * request and sends its commands itself (pump, under the mutex).  Then, if
 * no other caller drives the session, it becomes the driver: it sleeps in
 * poll() on the loop's backend fd (libuv's epoll) and runs the loop without
 * blocking (uv_run(UV_RUN_NOWAIT), under the mutex) until its own request
 * is answered, posting the semaphores of the other callers whose requests
 * completed on the way; its own answer costs no wake-up.  A caller that
 * finds a driver sleeps on its request's semaphore (a follower).  So the
 * Data-In of a request wakes a thread that has use for it, instead of a
 * session thread that then wakes the caller (two sleeps and wake-ups per
 * request before, on a machine where each one is dear).
 *
 * The session thread stays for the times nobody drives: login and probe,
 * logout, and between requests (NOP-In from the target, timers, the
 * requests of followers when the driver left).  It sleeps in its own epoll
 * set: a kick eventfd (close), a timerfd set to the loop's next timer, and
 * the loop's backend fd, armed (EPOLLONESHOT) only while no caller drives.
 * A driver that leaves re-arms both with a system call each, and wakes
 * nobody: in a closed loop (nbdkit serving a queue of requests) the next
 * request's caller is back within microseconds and drives again (disarming
 * the session thread's watch); otherwise the session thread wakes for the
 * followers' Data-In and serves them as before.
 *
 * On whichever thread runs the loop, each request is cut into commands of
 * at most cfg->block_size bytes that take free task slots
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
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "iscsi_session.h"

enum req_kind { REQ_IO, REQ_FLUSH };

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
	bool finished;     /* answered (under the lock) */
	char why[512];
	sem_t done; /* posted once, when a follower's request is answered */
};

struct iscsi_sync {
	const struct config *cfg;
	struct session s;
	struct lun_info li;
	uv_loop_t loop;
	/* wakes a driver asleep in poll() on the backend fd: its own request was
	 * answered by another thread, or a follower's send left the loop with
	 * a watcher change (a partly sent PDU, a failed connection) */
	uv_async_t wake;
	pthread_t thread;
	/* the session, the loop and everything below; never held asleep */
	pthread_mutex_t lock;
	pthread_cond_t started;
	bool ready; /* logged in and probed (or failed: open_rc) */
	int open_rc;
	char open_err[512];
	bool dead;                          /* the session gave up */
	bool closing;                       /* logged out or logging out: requests fail at once */
	struct session_stats final_st;      /* the counters as the session ended (read once closing) */
	struct sreq *work_head, *work_tail; /* requests not answered yet */
	/* requests of followers not yet taken (pushed without the lock; taken by
	 * whoever holds it, see unlock_session) */
	_Atomic(struct sreq *) incoming;
	/* the request whose caller drives the loop (NULL: none); written under
	 * the lock, read without it by a caller choosing its role */
	_Atomic(struct sreq *) driver;
	struct sreq *running;               /* the request whose caller is in uv_run now */
	int ep;                             /* the session thread's epoll set */
	int kick_fd;                        /* eventfd: close */
	int timer_fd;                       /* the loop's next timer, for the session thread */
	bool backend_armed;                 /* the backend fd is in ep's ready watch */
	uint64_t timer_due;                 /* loop time (ms) timer_fd expires at (UINT64_MAX: disarmed) */
	atomic_bool stop_asked;
	/* requests, how many of them their own caller drove, and the session
	 * thread's wake-ups that ran the loop */
	uint64_t requests, driven, thread_runs;
};

/* Answer r.  A follower's semaphore is posted, after which r belongs to its
 * caller again: touch it no more.  The driver's own request needs no post
 * (it looks at r->finished after each turn of the loop), unless another
 * thread answered it while the driver sleeps in poll(). */
static void req_finish(struct iscsi_sync *h, struct sreq *r)
{
	r->finished = true;
	if (r != atomic_load_explicit(&h->driver, memory_order_relaxed))
		sem_post(&r->done);
	else if (h->running != r)
		uv_async_send(&h->wake);
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

/* Watch the backend fd from the session thread (nobody drives) or not. */
static void backend_watch(struct iscsi_sync *h, bool on)
{
	struct epoll_event ev = { .events = on ? EPOLLIN | EPOLLONESHOT : 0, .data.fd = uv_backend_fd(&h->loop) };

	if (on == h->backend_armed)
		return;
	/* MOD re-arms a one-shot watch that fired; failing, the session thread
	 * still wakes for the loop's timers and serves the rest then */
	if (!epoll_ctl(h->ep, EPOLL_CTL_MOD, ev.data.fd, &ev))
		h->backend_armed = on;
}

/* Set the session thread's timer to the loop's next timer (-1: none),
 * unless it expires before that anyway: in a steady stream the driver runs
 * the loop's tick, which only moves the next timer later, and a system call
 * per driver that leaves is saved (the session thread then wakes once per
 * tick, finds a driver or runs the loop, and sets the timer again). */
static void timer_set(struct iscsi_sync *h, int ms, bool force)
{
	struct itimerspec its = { 0 };
	uint64_t due = ms >= 0 ? uv_now(&h->loop) + (uint64_t)ms : UINT64_MAX;

	if (!force && due >= h->timer_due)
		return;
	h->timer_due = due;
	if (ms >= 0) {
		/* 0 would disarm: the earliest is 1 ns */
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L + 1;
	}
	timerfd_settime(h->timer_fd, 0, &its, NULL);
}

/* One non-blocking turn of the loop (under the lock), for r's caller or
 * (r NULL) the session thread. */
static void run_once(struct iscsi_sync *h, struct sreq *r)
{
	struct session *s = &h->s;

	h->running = r;
	uv_run(&h->loop, UV_RUN_NOWAIT);
	h->running = NULL;
	if (s->fatal && !h->dead) {
		h->dead = true;
		iscsi_log(ISCSI_LOG_ERROR, "session ended: %s", s->errmsg);
		pump(h);
	}
}

/* The session thread's watch and timer, for when nobody drives. */
static void hand_back(struct iscsi_sync *h, bool force)
{
	backend_watch(h, true);
	timer_set(h, uv_backend_timeout(&h->loop), force);
}

/* Take what followers pushed (under the lock): in their order to the work
 * list, their commands out. */
static void take_incoming(struct iscsi_sync *h)
{
	struct sreq *list = atomic_exchange(&h->incoming, NULL), *rev = NULL;

	if (!list)
		return;
	while (list) { /* pushed at the front: restore their order */
		struct sreq *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	for (struct sreq *r = rev, *n; r; r = n) {
		n = r->next;
		r->next = NULL;
		h->requests++;
		if (h->closing) {
			req_fail(r, -ENOTCONN, "the session is closing");
			req_finish(h, r);
			continue;
		}
		if (h->work_tail)
			h->work_tail->next = r;
		else
			h->work_head = r;
		h->work_tail = r;
	}
	pump(h);
	/* a driver asleep in poll() learns of a PDU only partly sent (it must
	 * watch for writable) or a connection that failed in these sends only
	 * by running the loop */
	struct conn *c = h->s.conn;
	if (atomic_load(&h->driver) && !h->running && (!c || c->tx_busy || c->state != CONN_FFP || h->s.fatal))
		uv_async_send(&h->wake);
}

/*
 * Every unlock of h->lock: a follower pushes its request to h->incoming and
 * then tries the lock; whoever it finds holding the lock looks at incoming
 * again after unlocking, so one of the two takes it (the push happens before
 * the try, the look after the unlock).  Followers never wait for the lock.
 */
static void unlock_session(struct iscsi_sync *h)
{
	for (;;) {
		pthread_mutex_unlock(&h->lock);
		if (!atomic_load(&h->incoming) || pthread_mutex_trylock(&h->lock))
			return;
		take_incoming(h);
	}
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
	if (rc)
		goto out;

	for (;;) {
		struct epoll_event ev[3];
		int n;

		take_incoming(h);
		if (!atomic_load(&h->driver)) {
			h->thread_runs++;
			run_once(h, NULL);
		}
		if (atomic_load_explicit(&h->stop_asked, memory_order_acquire) && !h->work_head &&
		    !atomic_load(&h->driver) && !atomic_load(&h->incoming))
			break;
		if (!atomic_load(&h->driver)) {
			int ms = uv_backend_timeout(&h->loop);
			if (ms == 0)
				continue; /* callbacks pending, a timer due */
			hand_back(h, true);
		} else {
			h->timer_due = UINT64_MAX; /* fired or about to: the driver runs the timers */
		}
		unlock_session(h);
		n = epoll_wait(h->ep, ev, 3, -1);
		for (int i = 0; i < n; i++) {
			uint64_t v;
			if (ev[i].data.fd == h->kick_fd || ev[i].data.fd == h->timer_fd) {
				if (read(ev[i].data.fd, &v, sizeof(v)) < 0) {
					/* EAGAIN: another wake-up read it */
				}
			}
		}
		pthread_mutex_lock(&h->lock);
		for (int i = 0; i < n; i++) {
			if (ev[i].data.fd == uv_backend_fd(&h->loop))
				h->backend_armed = false; /* one-shot: fired */
			if (ev[i].data.fd == h->timer_fd)
				h->timer_due = UINT64_MAX;
		}
	}
	/* no request left, none can come (closing): log out under the lock,
	 * so that a stats call waits for the final counters */
	h->closing = true;
	backend_watch(h, false);
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
	iscsi_log(ISCSI_LOG_DEBUG,
		  "blocking seam: %llu requests, %llu of them driven by their caller, the session thread ran the "
		  "loop %llu times",
		  (unsigned long long)h->requests, (unsigned long long)h->driven, (unsigned long long)h->thread_runs);
out:
	h->final_st = s->st;
	h->closing = true;
	unlock_session(h); /* a request pushed meanwhile fails: closing */
	uv_close((uv_handle_t *)&h->wake, NULL);
	session_destroy(s);
	uv_run(&h->loop, UV_RUN_DEFAULT); /* the wake handle's close, if session_init failed early */
	return NULL;
}

/* The wake-up itself is the point: uv_run then returns to its caller. */
static void on_wake(uv_async_t *a)
{
	(void)a;
}

static void sync_free(struct iscsi_sync *h)
{
	uv_loop_close(&h->loop);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->started);
	if (h->ep >= 0)
		close(h->ep);
	if (h->kick_fd >= 0)
		close(h->kick_fd);
	if (h->timer_fd >= 0)
		close(h->timer_fd);
	free(h);
}

int iscsi_sync_open(const struct config *cfg, struct iscsi_sync **out, struct lun_info *li, char *err, size_t errlen)
{
	struct iscsi_sync *h = calloc(1, sizeof(*h));
	struct epoll_event ev = { .events = EPOLLIN };
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
	atomic_init(&h->stop_asked, false);
	atomic_init(&h->incoming, NULL);
	atomic_init(&h->driver, NULL);
	h->timer_due = UINT64_MAX;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->started, NULL);
	h->ep = epoll_create1(EPOLL_CLOEXEC);
	h->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	h->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	rc = h->ep < 0 || h->kick_fd < 0 || h->timer_fd < 0 ? errno : 0;
	ev.data.fd = h->kick_fd;
	if (!rc && epoll_ctl(h->ep, EPOLL_CTL_ADD, h->kick_fd, &ev))
		rc = errno;
	ev.data.fd = h->timer_fd;
	if (!rc && epoll_ctl(h->ep, EPOLL_CTL_ADD, h->timer_fd, &ev))
		rc = errno;
	ev.events = 0; /* armed by backend_watch() */
	ev.data.fd = uv_backend_fd(&h->loop);
	if (!rc && epoll_ctl(h->ep, EPOLL_CTL_ADD, ev.data.fd, &ev))
		rc = errno;
	if (rc)
		snprintf(err, errlen, "cannot set up the session thread's wake-ups: %s", strerror(rc));
	else if ((rc = pthread_create(&h->thread, NULL, session_thread, h)))
		snprintf(err, errlen, "cannot start the session thread: %s", strerror(rc));
	if (rc) {
		uv_close((uv_handle_t *)&h->wake, NULL);
		uv_run(&h->loop, UV_RUN_DEFAULT);
		sync_free(h);
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
	bool follower = false;

	if (sem_init(&r->done, 0, 0))
		return -errno;
	if (atomic_load(&h->driver)) {
		/* a caller drives: follow without waiting for the lock, which the
		 * driver holds while it runs the loop */
		r->next = atomic_load(&h->incoming);
		while (!atomic_compare_exchange_weak(&h->incoming, &r->next, r))
			;
		if (!pthread_mutex_trylock(&h->lock)) {
			take_incoming(h);
			unlock_session(h);
		}
		follower = true;
		goto wait;
	}
	pthread_mutex_lock(&h->lock);
	take_incoming(h);
	if (h->closing) {
		unlock_session(h);
		sem_destroy(&r->done);
		return -ENOTCONN;
	}
	h->requests++;
	if (h->work_tail)
		h->work_tail->next = r;
	else
		h->work_head = r;
	h->work_tail = r;
	pump(h); /* our commands go out from this thread (or r fails at once) */
	if (!r->finished && atomic_load(&h->driver)) {
		follower = true; /* another caller became the driver meanwhile */
	} else if (!r->finished) {
		atomic_store(&h->driver, r);
		h->driven++;
		backend_watch(h, false);
		while (!r->finished) {
			struct pollfd pfd = { .fd = uv_backend_fd(&h->loop), .events = POLLIN };
			int ms = uv_backend_timeout(&h->loop);

			unlock_session(h);
			if (ms)
				poll(&pfd, 1, ms);
			pthread_mutex_lock(&h->lock);
			take_incoming(h);
			run_once(h, r);
		}
		atomic_store(&h->driver, NULL);
		hand_back(h, false); /* the session thread watches for the others, and timers */
	}
	unlock_session(h);
wait:
	if (follower)
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
	/* A session that gave up still tells what it did (the escalation steps
	 * are what a caller most wants to read then). */
	pthread_mutex_lock(&h->lock);
	*st = h->closing ? h->final_st : h->s.st;
	unlock_session(h);
	return 0;
}

void iscsi_sync_close(struct iscsi_sync *h)
{
	uint64_t one = 1;

	if (!h)
		return;
	atomic_store_explicit(&h->stop_asked, true, memory_order_release);
	if (write(h->kick_fd, &one, sizeof(one)) < 0) {
		/* only EAGAIN (the counter is full): a kick is pending anyway */
	}
	pthread_join(h->thread, NULL);
	sync_free(h);
}
