/*
 * relay: a TCP relay for tests that sits between an iSCSI initiator and a
 * target and flips bits in Data-In PDUs (target -> initiator).
 *
 *   relay --port-file FILE --target HOST:PORT [--nth N] [--max K]
 *         [--mode header|payload|alternate] [--min-len BYTES] [--after-status]
 *         [--report FILE] [--seed S]
 *
 * It listens on 127.0.0.1 (a free port, written to --port-file) and relays
 * every accepted connection to the target.  The initiator -> target stream
 * passes untouched.  The target -> initiator stream is parsed PDU by PDU: the
 * login phase has no digests; the Login Response that enters the
 * full-feature phase switches to the digests negotiated in the login's text
 * keys.  On each connection the N-th Data-In PDU gets one bit flipped, in
 * its header (only when HeaderDigest=CRC32C) or its payload (only when
 * DataDigest=CRC32C), at most K times over the relay's life; then the PDUs
 * pass clean.  One corruption per connection: an initiator at
 * ErrorRecoveryLevel 0 drops the connection at the first one, so every
 * corruption sent is one the initiator must detect.  --min-len: Data-In
 * PDUs with less payload are neither counted nor corrupted.
 * --after-status: on each connection, count Data-In only after a first
 * command status went by, so that every connection makes progress before
 * its corruption (an initiator that bounds failures *without progress*
 * then never gives up, whatever the interleaving of Data-In PDUs).
 *
 * --report FILE is rewritten after every corruption:
 *   connections N / corruptions N / header N / payload N
 *
 * Plain poll(), one thread.  Test code, not part of the library.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#define MAX_PAIRS 16
#define CHUNK     (256 * 1024)
#define MAX_BUF   (64u * 1024 * 1024)

enum mode { MODE_HEADER, MODE_PAYLOAD, MODE_ALTERNATE };

struct stream {
	int from, to;
	uint8_t *buf;
	size_t len, cap;
	size_t sent;  /* bytes of buf already written to 'to' */
	size_t ready; /* bytes of buf that may be written (whole PDUs, or everything) */
	bool eof;
};

struct pair {
	bool used;
	struct stream up;   /* initiator -> target: passed through */
	struct stream down; /* target -> initiator: parsed and maybe corrupted */
	bool ffp, hd, dd;   /* full-feature phase reached; negotiated digests */
	bool pending_hd, pending_dd;
	unsigned data_in;  /* Data-In PDUs counted on this connection */
	unsigned statuses; /* SCSI statuses seen (Data-In with S, SCSI Response) */
	bool corrupted;
};

static struct pair pairs[MAX_PAIRS];
static unsigned nth = 5, max_corrupt = 8, min_len;
static bool after_status;
static enum mode mode = MODE_ALTERNATE;
static const char *report_path;
static unsigned n_conn, n_corrupt, n_header, n_payload;
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static volatile sig_atomic_t stop;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static void write_report(void)
{
	char tmp[4096];
	FILE *f;

	if (!report_path)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", report_path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "connections %u\ncorruptions %u\nheader %u\npayload %u\n", n_conn, n_corrupt, n_header, n_payload);
	fclose(f);
	rename(tmp, report_path);
}

static uint32_t be24(const uint8_t *p)
{
	return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* Find "Key=Value" in a NUL-separated text segment. */
static void login_keys(struct pair *p, const uint8_t *data, uint32_t len)
{
	uint32_t pos = 0;

	while (pos < len) {
		const char *kv = (const char *)data + pos;
		size_t n = strnlen(kv, len - pos);
		char key[64];
		if (n < sizeof(key)) {
			memcpy(key, kv, n);
			key[n] = 0;
			if (!strncmp(key, "HeaderDigest=", 13))
				p->pending_hd = !strcmp(key + 13, "CRC32C");
			else if (!strncmp(key, "DataDigest=", 11))
				p->pending_dd = !strcmp(key + 11, "CRC32C");
		}
		pos += (uint32_t)n + 1;
	}
}

static void maybe_corrupt(struct pair *p, uint8_t *pdu, uint32_t hdr_len, uint32_t dsl)
{
	bool can_header = p->hd, can_payload = p->dd && dsl > 0, header;

	if (dsl < min_len)
		return; /* small Data-In (INQUIRY, READ CAPACITY) pass uncounted */
	if (after_status && !p->statuses)
		return; /* count only once a command has completed here */
	p->data_in++;
	if (p->corrupted || p->data_in != nth || n_corrupt >= max_corrupt)
		return;
	switch (mode) {
	case MODE_HEADER: header = true; break;
	case MODE_PAYLOAD: header = false; break;
	default: header = (n_corrupt % 2 == 0) ? can_header : !can_payload;
	}
	if (header && !can_header)
		return;
	if (!header && !can_payload)
		return;
	if (header) {
		/* any byte but TotalAHSLength (4): a longer AHS would make the
		 * receiver wait for bytes that may never come, and a timeout, not
		 * a digest, would find it */
		unsigned byte = rnd() % 47;
		byte += byte >= 4;
		pdu[byte] ^= (uint8_t)(1u << (rnd() % 8));
		n_header++;
	} else {
		unsigned byte = hdr_len + rnd() % dsl;
		pdu[byte] ^= (uint8_t)(1u << (rnd() % 8));
		n_payload++;
	}
	p->corrupted = true;
	n_corrupt++;
	write_report();
}

/* Mark whole PDUs of the target's stream ready, corrupting on the way. */
static void parse_down(struct pair *p)
{
	struct stream *s = &p->down;

	for (;;) {
		size_t avail = s->len - s->ready;
		uint8_t *pdu = s->buf + s->ready;
		if (avail < 48)
			break;
		uint32_t ahs = (uint32_t)pdu[4] * 4, dsl = be24(pdu + 5);
		uint32_t hdr_len = 48 + ahs + (p->ffp && p->hd ? 4 : 0);
		uint32_t total = hdr_len + ((dsl + 3) & ~3u) + (dsl && p->ffp && p->dd ? 4 : 0);
		if (avail < total)
			break;
		uint8_t op = pdu[0] & 0x3f;
		if (!p->ffp && op == 0x23) { /* Login Response */
			login_keys(p, pdu + hdr_len, dsl);
			if ((pdu[1] & 0x80) && (pdu[1] & 3) == 3) {
				p->ffp = true; /* digests apply from the next PDU */
				p->hd = p->pending_hd;
				p->dd = p->pending_dd;
			}
		} else if (p->ffp && op == 0x25) { /* Data-In */
			maybe_corrupt(p, pdu, hdr_len, dsl);
			if (pdu[1] & 0x01)
				p->statuses++;
		} else if (p->ffp && op == 0x21) { /* SCSI Response */
			p->statuses++;
		}
		s->ready += total;
	}
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void pair_close(struct pair *p)
{
	close(p->up.from);
	close(p->up.to);
	free(p->up.buf);
	free(p->down.buf);
	memset(p, 0, sizeof(*p));
}

/* Read what is there; false when the pair must close. */
static bool stream_read(struct pair *p, struct stream *s, bool down)
{
	if (s->cap - s->len < CHUNK) {
		/* drop what was sent, then grow if still short */
		if (s->sent) {
			memmove(s->buf, s->buf + s->sent, s->len - s->sent);
			s->len -= s->sent;
			s->ready -= s->sent;
			s->sent = 0;
		}
		if (s->cap - s->len < CHUNK) {
			size_t cap = s->cap ? s->cap * 2 : 2 * CHUNK;
			if (cap > MAX_BUF)
				return false;
			uint8_t *nb = realloc(s->buf, cap);
			if (!nb)
				return false;
			s->buf = nb;
			s->cap = cap;
		}
	}
	ssize_t n = read(s->from, s->buf + s->len, s->cap - s->len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0) {
		s->eof = true;
		s->ready = s->len; /* pass on whatever is left */
		return true;
	}
	s->len += (size_t)n;
	if (down)
		parse_down(p);
	else
		s->ready = s->len;
	return true;
}

static bool stream_write(struct stream *s)
{
	while (s->sent < s->ready) {
		ssize_t n = write(s->to, s->buf + s->sent, s->ready - s->sent);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		s->sent += (size_t)n;
	}
	if (s->sent == s->len) {
		s->sent = s->len = s->ready = 0;
	}
	return true;
}

static int connect_target(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int fd, one = 1;

	if (getaddrinfo(host, port, &hints, &res))
		return -1;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		set_nonblock(fd);
	}
	return fd;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	const char *port_file = NULL, *target = NULL;
	char host[256], port[32];
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int lfd, one = 1, c;
	static const struct option opts[] = {
		{ "port-file", required_argument, NULL, 'p' }, { "target", required_argument, NULL, 't' },
		{ "nth", required_argument, NULL, 'n' },       { "max", required_argument, NULL, 'm' },
		{ "mode", required_argument, NULL, 'M' },      { "report", required_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 's' },      { "min-len", required_argument, NULL, 'l' },
		{ "after-status", no_argument, NULL, 'a' },    { NULL, 0, NULL, 0 },
	};

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': port_file = optarg; break;
		case 't': target = optarg; break;
		case 'n': nth = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'm': max_corrupt = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'r': report_path = optarg; break;
		case 'l': min_len = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'a': after_status = true; break;
		case 's': rng = strtoull(optarg, NULL, 0) * 0x9e3779b97f4a7c15ull + 1; break;
		case 'M':
			if (!strcmp(optarg, "header"))
				mode = MODE_HEADER;
			else if (!strcmp(optarg, "payload"))
				mode = MODE_PAYLOAD;
			else if (!strcmp(optarg, "alternate"))
				mode = MODE_ALTERNATE;
			else
				return 2;
			break;
		default:
			fprintf(stderr, "usage: relay --port-file F --target HOST:PORT [--nth N] [--max K] "
					"[--mode header|payload|alternate] [--min-len B] [--after-status] [--report F] "
					"[--seed S]\n");
			return 2;
		}
	}
	if (!port_file || !target || !strchr(target, ':') || nth == 0) {
		fprintf(stderr, "relay: --port-file and --target HOST:PORT are required\n");
		return 2;
	}
	snprintf(host, sizeof(host), "%.*s", (int)(strrchr(target, ':') - target), target);
	snprintf(port, sizeof(port), "%s", strrchr(target, ':') + 1);

	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 8) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("relay: listen");
		return 1;
	}
	set_nonblock(lfd);
	{
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.tmp", port_file);
		FILE *f = fopen(tmp, "w");
		if (!f) {
			perror("relay: port file");
			return 1;
		}
		fprintf(f, "%u\n", ntohs(sa.sin_port));
		fclose(f);
		rename(tmp, port_file);
	}
	write_report();

	while (!stop) {
		struct pollfd pfd[1 + 2 * MAX_PAIRS];
		struct pair *who[1 + 2 * MAX_PAIRS];
		int n = 0;

		pfd[n].fd = lfd;
		pfd[n].events = POLLIN;
		who[n++] = NULL;
		for (int i = 0; i < MAX_PAIRS; i++) {
			struct pair *p = &pairs[i];
			if (!p->used)
				continue;
			/* the initiator side: read its bytes, write the target's */
			pfd[n].fd = p->up.from;
			pfd[n].events =
				(short)((p->up.eof ? 0 : POLLIN) | (p->down.sent < p->down.ready ? POLLOUT : 0));
			who[n++] = p;
			pfd[n].fd = p->down.from;
			pfd[n].events = (short)((p->down.eof ? 0 : POLLIN) | (p->up.sent < p->up.ready ? POLLOUT : 0));
			who[n++] = p;
		}
		if (poll(pfd, (nfds_t)n, 200) < 0) {
			if (errno == EINTR)
				continue;
			perror("relay: poll");
			return 1;
		}
		if (pfd[0].revents & POLLIN) {
			int ifd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (ifd >= 0) {
				int slot = -1, tfd;
				for (int i = 0; i < MAX_PAIRS && slot < 0; i++)
					if (!pairs[i].used)
						slot = i;
				tfd = slot >= 0 ? connect_target(host, port) : -1;
				if (tfd < 0) {
					close(ifd);
				} else {
					struct pair *p = &pairs[slot];
					memset(p, 0, sizeof(*p));
					p->used = true;
					setsockopt(ifd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					p->up.from = ifd;
					p->up.to = tfd;
					p->down.from = tfd;
					p->down.to = ifd;
					n_conn++;
					write_report();
				}
			}
		}
		for (int k = 1; k < n; k++) {
			struct pair *p = who[k];
			bool ok = true;
			if (!p->used || !pfd[k].revents)
				continue;
			bool initiator_side = pfd[k].fd == p->up.from;
			if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
				ok = initiator_side ? stream_read(p, &p->up, false) : stream_read(p, &p->down, true);
			if (ok)
				ok = stream_write(&p->up) && stream_write(&p->down);
			/* the initiator went away: nothing more to deliver */
			if (!ok || p->up.eof || (p->down.eof && p->down.sent == p->down.len))
				pair_close(p);
		}
	}
	for (int i = 0; i < MAX_PAIRS; i++)
		if (pairs[i].used)
			pair_close(&pairs[i]);
	write_report();
	return 0;
}
