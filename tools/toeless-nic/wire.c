/*
 * toeless-nic, wire side: IPv4/TCP packets between the two TUN devices.
 *
 * Every packet is forwarded as it comes (the NIC terminates nothing).  For
 * TCP it keeps a small table of connections, keyed by the 4-tuple, to
 * learn the target's initial sequence number from its SYN/ACK: a stream
 * offset then maps to a sequence number (irs + 1 + offset), which is how a
 * context's position (CTX_ADD: host_pos, wire_off) becomes a place on the
 * wire.  Target->host segments of a connection the host added go through
 * the tracker (seqtrack.c) before they are forwarded, so a PDU's record is
 * published before the segment that completes its header reaches the host.
 *
 * Wire faults happen between the target and the NIC: the NIC sees a lost
 * segment never, a duplicated one twice, a delayed or reordered one late,
 * a corrupted one corrupted (with the TCP checksum fixed up, so that only
 * the iSCSI digests can catch it).  They are drawn from --seed.
 *
 * With --offload the TUN devices carry a virtio_net_hdr before each packet
 * and take the kernels' segmentation and checksum offloads: the target's
 * kernel hands over TSO super-segments of up to 64 KiB and the NIC passes
 * them to the host as one large segment, as a real NIC's LRO would (and
 * the host's sends the other way).  A segment is then one sequence range
 * the tracker follows exactly as it follows a wire-sized one.  Such a
 * packet's TCP checksum is left to the NIC (VIRTIO_NET_HDR_F_NEEDS_CSUM:
 * only the pseudo-header sum is in it), so the NIC's own changes to the
 * payload need no fix-up and a length change only a new pseudo-header sum.
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nic.h"

static uv_poll_t poll_host, poll_tgt;
static uv_timer_t held_timer;

/* Every packet buffer has VH_ROOM bytes before the IP header: with
 * --offload its virtio_net_hdr sits right before it (vh_len bytes), so a
 * packet is always passed around as (IP header, length). */
#define VH_ROOM 16
static uint32_t vh_len;

static struct virtio_net_hdr vh_get(const uint8_t *ip)
{
	struct virtio_net_hdr h;
	memset(&h, 0, sizeof(h));
	if (vh_len)
		memcpy(&h, ip - vh_len, sizeof(h));
	return h;
}

static void vh_put(uint8_t *ip, const struct virtio_net_hdr *h)
{
	if (vh_len)
		memcpy(ip - vh_len, h, sizeof(*h));
}

/* Packets held by a fault (delay, reorder), in due order. */
struct held {
	struct held *next;
	uint64_t due_ms;
	bool after_next; /* reorder: goes out after the next packet */
	uint32_t len;
	uint8_t data[];
};
static struct held *held_list;

uint32_t nic_rand(void)
{
	/* xorshift64*: the same seed gives the same faults */
	uint64_t x = nic.rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	nic.rng = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

static bool chance(uint32_t per_mille)
{
	return per_mille && nic_rand() % 1000 < per_mille;
}

/* ---- checksums ---- */

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	while (n > 1) {
		s += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		n -= 2;
	}
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void ip_csum(uint8_t *ip, uint32_t ihl)
{
	ip[10] = ip[11] = 0;
	uint16_t c = fold(sum16(0, ip, ihl));
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

/* The TCP checksum after the NIC changed the segment.  When the kernel
 * left it to the NIC (offload), the field holds the pseudo-header sum
 * alone, uncomplemented, as Linux writes it for CHECKSUM_PARTIAL. */
static void tcp_csum(uint8_t *ip, uint32_t ihl, uint32_t tcp_len)
{
	uint8_t *t = ip + ihl;
	uint8_t ph[12];
	memcpy(ph, ip + 12, 8);
	ph[8] = 0;
	ph[9] = 6;
	ph[10] = (uint8_t)(tcp_len >> 8);
	ph[11] = (uint8_t)tcp_len;
	t[16] = t[17] = 0;
	uint16_t c;
	if (vh_get(ip).flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
		c = (uint16_t)~fold(sum16(0, ph, 12));
	else
		c = fold(sum16(sum16(0, ph, 12), t, tcp_len));
	t[16] = (uint8_t)(c >> 8);
	t[17] = (uint8_t)c;
}

/* A changed payload, same length: the checksum only when it covers it. */
static void tcp_csum_payload(uint8_t *ip, uint32_t ihl, uint32_t tcp_len)
{
	if (!(vh_get(ip).flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		tcp_csum(ip, ihl, tcp_len);
}

/* ---- parsing ---- */

struct tcpseg {
	uint8_t *ip;
	uint32_t len, ihl, thl;
	uint32_t src, dst;     /* network order */
	uint16_t sport, dport; /* network order */
	uint32_t seq, ack;
	uint8_t flags;
	uint8_t *pl;
	uint32_t pl_len;
};

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_ACK 0x10

static bool parse(uint8_t *p, uint32_t len, struct tcpseg *s)
{
	if (len < 20 || (p[0] >> 4) != 4)
		return false;
	uint32_t ihl = (p[0] & 15u) * 4, tot = (uint32_t)p[2] << 8 | p[3];
	if (ihl < 20 || tot > len || tot < ihl + 20 || p[9] != 6 || (p[6] & 0x3f) || p[7])
		return false; /* not TCP, or a fragment: forwarded untouched */
	uint8_t *t = p + ihl;
	uint32_t thl = (t[12] >> 4) * 4u;
	if (thl < 20 || ihl + thl > tot)
		return false;
	s->ip = p;
	s->len = tot;
	s->ihl = ihl;
	s->thl = thl;
	memcpy(&s->src, p + 12, 4);
	memcpy(&s->dst, p + 16, 4);
	memcpy(&s->sport, t, 2);
	memcpy(&s->dport, t + 2, 2);
	s->seq = (uint32_t)t[4] << 24 | (uint32_t)t[5] << 16 | (uint32_t)t[6] << 8 | t[7];
	s->ack = (uint32_t)t[8] << 24 | (uint32_t)t[9] << 16 | (uint32_t)t[10] << 8 | t[11];
	s->flags = t[13];
	s->pl = t + thl;
	s->pl_len = tot - ihl - thl;
	return true;
}

/* ---- connections ---- */

static struct dv_conn *conn_get(uint32_t host_ip, uint16_t host_port, uint32_t tgt_ip, uint16_t tgt_port, bool create)
{
	for (struct dv_conn *c = nic.conns; c; c = c->next)
		if (c->host_ip == host_ip && c->host_port == host_port && c->tgt_ip == tgt_ip &&
		    c->tgt_port == tgt_port)
			return c;
	if (!create)
		return NULL;
	struct dv_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->host_ip = host_ip;
	c->host_port = host_port;
	c->tgt_ip = tgt_ip;
	c->tgt_port = tgt_port;
	c->next = nic.conns;
	nic.conns = c;
	return c;
}

struct dv_conn *dv_conn_find(const struct hwif_ctx_block *b)
{
	uint32_t l, p;
	if (b->family != AF_INET)
		return NULL; /* the NIC forwards IPv4 only */
	memcpy(&l, b->local_addr, 4);
	memcpy(&p, b->peer_addr, 4);
	struct dv_conn *c = conn_get(l, b->local_port, p, b->peer_port, false);
	return c && c->have_irs && !c->closed ? c : NULL;
}

/* ---- output ---- */

static void out(int fd, const uint8_t *p, uint32_t len)
{
	if (write(fd, p - vh_len, len + vh_len) < 0)
		dv_log(2, "tun write: %s", strerror(errno)); /* a full queue drops, as a wire does */
}

/* A target->host segment on its way: the tracker sees it, then the host. */
static void deliver_b2a(uint8_t *p, uint32_t len)
{
	struct tcpseg s;
	if (parse(p, len, &s) && s.pl_len) {
		struct dv_conn *c = conn_get(s.dst, s.dport, s.src, s.sport, false);
		if (c && c->ctx) {
			dv_ctx_drain_sq(c->ctx); /* SGLs posted before the command are known before its data */
			if (nic_track_segment(c, s.seq, s.pl, s.pl_len))
				tcp_csum_payload(p, s.ihl, s.len - s.ihl);
			nic.st.segs_tracked++;
		}
		if (c && (int32_t)(s.seq + s.pl_len - c->tgt_max) > 0)
			c->tgt_max = s.seq + s.pl_len;
	}
	nic.st.pkts_b2a++;
	nic.st.bytes_b2a += len;
	out(nic.fd_host, p, len);
}

static void flush_after_next(void)
{
	for (struct held **pp = &held_list; *pp;) {
		struct held *h = *pp;
		if (h->after_next) {
			*pp = h->next;
			deliver_b2a(h->data + VH_ROOM, h->len);
			free(h);
		} else {
			pp = &h->next;
		}
	}
}

static void on_held(uv_timer_t *t)
{
	uint64_t now = dv_now_ms();
	for (struct held **pp = &held_list; *pp;) {
		struct held *h = *pp;
		if (h->due_ms <= now) {
			*pp = h->next;
			deliver_b2a(h->data + VH_ROOM, h->len);
			free(h);
		} else {
			pp = &h->next;
		}
	}
	if (!held_list)
		uv_timer_stop(t);
}

static void hold(const uint8_t *p, uint32_t len, uint32_t ms, bool after_next)
{
	struct held *h = malloc(sizeof(*h) + VH_ROOM + len);
	if (!h) {
		deliver_b2a((uint8_t *)(uintptr_t)p, len);
		return;
	}
	memcpy(h->data + VH_ROOM - vh_len, p - vh_len, vh_len + len);
	h->len = len;
	h->after_next = after_next;
	/* a reordered packet goes out after the next one, or after 5 ms */
	h->due_ms = dv_now_ms() + (after_next ? 5 : ms);
	h->next = held_list;
	held_list = h;
	if (!uv_is_active((uv_handle_t *)&held_timer))
		uv_timer_start(&held_timer, on_held, 1, 1);
}

/* Cut a segment in two at payload offset k: two packets. */
static void split_deliver(struct tcpseg *s, uint32_t k)
{
	static uint8_t abuf[VH_ROOM + NIC_MAX_PKT], bbuf[VH_ROOM + NIC_MAX_PKT];
	uint8_t *a = abuf + VH_ROOM, *b = bbuf + VH_ROOM;
	uint32_t hl = s->ihl + s->thl;
	uint32_t la = hl + k, lb = hl + s->pl_len - k;
	memcpy(a - vh_len, s->ip - vh_len, vh_len + la);
	memcpy(b - vh_len, s->ip - vh_len, vh_len + hl);
	memcpy(b + hl, s->pl + k, s->pl_len - k);
	/* a large (offloaded) segment stays one only where it still is */
	struct virtio_net_hdr h = vh_get(s->ip);
	if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		struct virtio_net_hdr small = h;
		small.gso_type = VIRTIO_NET_HDR_GSO_NONE;
		small.gso_size = 0;
		vh_put(a, k > h.gso_size ? &h : &small);
		vh_put(b, s->pl_len - k > h.gso_size ? &h : &small);
	}
	a[2] = (uint8_t)(la >> 8);
	a[3] = (uint8_t)la;
	b[2] = (uint8_t)(lb >> 8);
	b[3] = (uint8_t)lb;
	uint32_t seq = s->seq + k;
	b[s->ihl + 4] = (uint8_t)(seq >> 24);
	b[s->ihl + 5] = (uint8_t)(seq >> 16);
	b[s->ihl + 6] = (uint8_t)(seq >> 8);
	b[s->ihl + 7] = (uint8_t)seq;
	a[s->ihl + 13] &= (uint8_t) ~(TH_FIN | 0x08); /* FIN and PSH belong to the second part */
	ip_csum(a, s->ihl);
	ip_csum(b, s->ihl);
	tcp_csum(a, s->ihl, la - s->ihl);
	tcp_csum(b, s->ihl, lb - s->ihl);
	deliver_b2a(a, la);
	deliver_b2a(b, lb);
}

/* The wire between target and NIC: faults, then delivery. */
static void wire_b2a(uint8_t *p, uint32_t len)
{
	struct tcpseg s;
	const struct nic_wire_faults *f = &nic.wf;
	if (!parse(p, len, &s)) {
		nic.st.non_tcp++;
		deliver_b2a(p, len);
		flush_after_next();
		return;
	}
	struct dv_conn *c =
		conn_get(s.dst, s.dport, s.src, s.sport, (s.flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK));
	if (c && (s.flags & (TH_SYN | TH_ACK)) == (TH_SYN | TH_ACK) && !c->ctx) {
		c->irs = s.seq;
		c->tgt_max = s.seq + 1;
		c->have_irs = true;
		c->closed = false;
	}
	if (c && (s.flags & TH_RST))
		c->closed = true;
	if (c && c->tx_head && (s.flags & TH_ACK))
		nic_tx_acked(c, s.ack);
	if (!c || !c->ctx || !s.pl_len) {
		deliver_b2a(p, len);
		flush_after_next();
		return;
	}
	/* faults only on data segments of connections the host added */
	if (chance(f->drop)) {
		nic.st.f_drop++;
		return;
	}
	int k = nic_track_hdr_at(c, s.seq, s.pl_len);
	if (k >= 0 && (uint32_t)k + 28 < s.pl_len && chance(f->corrupt_hdr)) {
		s.pl[k + 24] ^= 0x10; /* StatSN: only the header digest can tell */
		tcp_csum_payload(p, s.ihl, s.len - s.ihl);
		nic.st.f_corrupt_hdr++;
	} else if (chance(f->corrupt_data)) {
		s.pl[s.pl_len / 2] ^= 0x01;
		tcp_csum_payload(p, s.ihl, s.len - s.ihl);
		nic.st.f_corrupt_data++;
	}
	if (chance(f->reorder)) {
		nic.st.f_reorder++;
		hold(p, len, 0, true);
		return;
	}
	if (chance(f->delay)) {
		nic.st.f_delay++;
		hold(p, len, f->delay_ms, false);
		return;
	}
	if (k >= 0 && (uint32_t)k + 20 < s.pl_len && chance(f->split_hdr)) {
		nic.st.f_split++;
		split_deliver(&s, (uint32_t)k + 20);
	} else {
		bool dup = chance(f->dup);
		deliver_b2a(p, len);
		if (dup) {
			nic.st.f_dup++;
			deliver_b2a(p, len);
		}
	}
	flush_after_next();
}

static void wire_a2b(uint8_t *p, uint32_t len)
{
	struct tcpseg s;
	if (parse(p, len, &s)) {
		struct dv_conn *c = conn_get(s.src, s.sport, s.dst, s.dport, (s.flags & (TH_SYN | TH_ACK)) == TH_SYN);
		if (c && (s.flags & (TH_SYN | TH_ACK)) == TH_SYN && !c->ctx) {
			c->have_irs = false; /* a new connection on this 4-tuple */
			c->closed = false;
			c->iss = s.seq;
			c->have_iss = true;
			nic_tx_reset(c);
		}
		if (c && (s.flags & TH_RST))
			c->closed = true;
		if (c && c->ctx)
			dv_ctx_drain_sq(c->ctx); /* an SGL posted before its READ, a transmit record before its PDU */
		if (c && c->tx_head && s.pl_len && nic_tx_segment(c, s.seq, s.pl, s.pl_len))
			tcp_csum_payload(p, s.ihl, s.len - s.ihl);
		if (c && c->ctx && s.pl_len && chance(nic.wf.tx_drop)) {
			nic.st.f_tx_drop++; /* lost past the NIC: the host's kernel sends it again */
			return;
		}
	} else {
		nic.st.non_tcp++;
	}
	nic.st.pkts_a2b++;
	nic.st.bytes_a2b += len;
	out(nic.fd_tgt, p, len);
}

static void on_tun(uv_poll_t *h, int status, int events)
{
	static uint8_t buf[VH_ROOM + NIC_MAX_PKT];
	uint8_t *p = buf + VH_ROOM;
	int fd = h == &poll_host ? nic.fd_host : nic.fd_tgt;
	if (status < 0)
		return;
	for (int i = 0; i < 256; i++) {
		ssize_t n = read(fd, p - vh_len, NIC_MAX_PKT + vh_len);
		if (n <= (ssize_t)vh_len)
			break;
		n -= vh_len;
		if (fd == nic.fd_host)
			wire_a2b(p, (uint32_t)n);
		else
			wire_b2a(p, (uint32_t)n);
	}
}

int nic_wire_start(void)
{
	vh_len = nic.offload ? (uint32_t)sizeof(struct virtio_net_hdr) : 0;
	uv_timer_init(dv.loop, &held_timer);
	if (uv_poll_init(dv.loop, &poll_host, nic.fd_host) || uv_poll_init(dv.loop, &poll_tgt, nic.fd_tgt))
		return -EINVAL;
	uv_poll_start(&poll_host, UV_READABLE, on_tun);
	uv_poll_start(&poll_tgt, UV_READABLE, on_tun);
	return 0;
}

void nic_wire_stop(void)
{
	uv_poll_stop(&poll_host);
	uv_poll_stop(&poll_tgt);
	uv_timer_stop(&held_timer);
	while (held_list) {
		struct held *h = held_list;
		held_list = h->next;
		free(h);
	}
}
