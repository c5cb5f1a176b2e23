/*
 * toeless-nic: the wire-level reference NIC of the toeless device
 * interface (doc/device-interface.md, doc/hw.md).  One process bridges two
 * network namespaces through two TUN devices: the initiator's kernel TCP
 * in one, the target's in the other.  It forwards every IPv4 packet, never
 * terminates TCP and never holds a PDU; for the connections the host added
 * (CTX_ADD) it follows iSCSI PDU boundaries in TCP sequence space, segment
 * by segment in wire order, places Data-In payload of in-order segments
 * into registered host memory and checks the digests.
 *
 *   main.c      options, the TUN devices in their namespaces, the loop
 *   wire.c      IPv4/TCP: connections, forwarding, checksums, wire faults
 *   seqtrack.c  PDU boundaries in sequence space: records, placement,
 *               digests, loss of sync, hunt and resync
 *   txdigest.c  transmit records: digests written into host->target
 *               segments, again on retransmission, until acknowledged
 *
 * The host side (control socket, queues, commands, placement into host
 * memory) is the one the relay model uses: ../toeless-devsim/hwdev.h.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_NIC_H
#define TOELESS_NIC_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "../toeless-devsim/hwdev.h"

#define NIC_NAME    "toeless-nic 1.0"
#define NIC_MAX_PKT 65536

/* Wire faults, deterministic from --seed: per target->host data segment. */
struct nic_wire_faults {
	uint32_t drop;    /* per mille: the segment is lost (the target retransmits) */
	uint32_t reorder; /* per mille: the segment is held and sent after the next one */
	uint32_t dup;     /* per mille: the segment is sent twice */
	uint32_t delay;   /* per mille: the segment is held delay_ms */
	uint32_t delay_ms;
	uint32_t split_hdr;    /* per mille: a segment where a PDU header starts is cut inside the header */
	uint32_t corrupt_data; /* per mille: a payload byte flipped, TCP checksum fixed up */
	uint32_t corrupt_hdr;  /* per mille: a header byte flipped (where a header starts), checksum fixed */
	uint32_t bad_guess;    /* EVERY: every EVERY-th resync request names a wrong position */
	uint32_t tx_drop;      /* per mille: a host->target data segment is lost after the NIC
				 * inserted its digests (the host retransmits: they go in again) */
	uint32_t tx_skip;      /* per mille: a transmit record's digests are not inserted (the
				 * zeros reach the target, which must refuse the PDU) */
};

enum nic_mode {
	NIC_UNTRACKED = 0, /* no context: bytes pass */
	NIC_SYNC,          /* following PDUs: records, placement, digests */
	NIC_HUNT,          /* boundary lost: scan segments for a plausible header */
	NIC_SPEC,          /* following from a candidate, waiting for the host's word */
	NIC_WAIT,          /* asked about a position, not following: waiting for the answer */
};

enum nic_part { NIC_HDR = 0, NIC_DATA, NIC_PAD, NIC_DD };

/* A transmit record: one host->target PDU whose digests the NIC inserts.
 * Offsets count from the PDU's first byte: header [0, hlen), header
 * digest, data and pad, data digest. */
struct nic_txrec {
	struct nic_txrec *next;
	uint32_t seq; /* TCP sequence number of the header */
	uint32_t end; /* sequence number after the PDU */
	uint32_t hlen, dlen, pad, flags;
	uint32_t h_have; /* header bytes seen in order */
	uint32_t d_have; /* data + pad bytes the running CRC covers */
	uint32_t hd, dd; /* the digests, once known */
	uint32_t dcrc;   /* running data CRC */
	bool hd_known, dd_known, hd_sent, dd_sent;
	bool skip; /* wire fault tx-skip: digests left as the host sent them */
	uint8_t hdr[48 + 1020];
};

struct dv_conn {
	struct dv_conn *next;
	/* as the host sees it: local = host, peer = target (network order) */
	uint32_t host_ip, tgt_ip;
	uint16_t host_port, tgt_port;
	bool have_irs, closed;
	uint32_t irs;     /* the target's initial sequence number (from its SYN/ACK) */
	uint32_t tgt_max; /* highest sequence sent by the target that we forwarded */
	struct dv_ctx *ctx;
	/* tracking of the target->host stream; offsets count from irs + 1 */
	enum nic_mode mode;
	uint32_t nxt;     /* next sequence number expected in order */
	uint64_t nxt_off; /* its stream offset */
	enum nic_part part;
	uint8_t hdr[48 + 1020 + 4];
	uint32_t hdr_have, hdr_need;
	uint64_t pdu_off;  /* stream offset of the current PDU header */
	uint32_t dsl, got; /* DataSegmentLength, payload bytes seen */
	uint32_t pad_left, dd_have;
	uint8_t dd[4];
	uint32_t crc; /* running data digest */
	bool crc_ok;  /* every payload byte went through crc */
	/* placement of the current PDU */
	bool rec_open;    /* a record is published and not final */
	uint32_t rec_idx; /* its RQ index */
	bool rec_delayed; /* fault delay-records: the record is rec_late, published late */
	struct hwif_rqe rec_late;
	uint64_t n_delay;
	bool placing; /* in-order payload is being placed */
	uint32_t itt, gen;
	uint64_t boff;
	uint32_t placed;      /* contiguous prefix placed */
	bool confirm_pending; /* SPEC confirmed: SYNC from the next boundary */
	uint64_t spec_off;    /* stream offset asked about */
	uint64_t n_requests;
	/* counters */
	uint64_t segs, old_segs, gaps;
	uint64_t n_hdrs, n_datain; /* device faults corrupt-hdr, corrupt-data */
	bool seg_changed;          /* this segment's bytes were changed by one */
	/* transmit side: the host's initial sequence number, open records */
	bool have_iss;
	uint32_t iss;
	struct nic_txrec *tx_head, **tx_tail;
};

struct nic_stats {
	uint64_t pkts_a2b, pkts_b2a, bytes_a2b, bytes_b2a, non_tcp;
	uint64_t segs_tracked, segs_retrans, gaps, hunts, resync_denied, bad_guesses;
	uint64_t f_drop, f_reorder, f_dup, f_delay, f_split, f_corrupt_data, f_corrupt_hdr;
	uint64_t tx_records, tx_inserted, tx_reinserted, tx_misses, tx_acked, f_tx_drop, f_tx_skip;
};

struct nic {
	int fd_host, fd_tgt; /* TUN in the initiator's / the target's namespace */
	struct nic_wire_faults wf;
	uint64_t seed, rng;
	bool offload; /* --offload: virtio_net_hdr, TSO/checksum offload on both TUNs (wire.c) */
	struct dv_conn *conns;
	struct nic_stats st;
};

extern struct nic nic;

/* wire.c */
int nic_wire_start(void);
void nic_wire_stop(void);
uint32_t nic_rand(void);

/* seqtrack.c: one target->host segment in wire order (payload p, len
 * bytes, first byte at sequence seq), before it is forwarded.  True when
 * a device fault changed its bytes (the caller fixes the TCP checksum). */
bool nic_track_segment(struct dv_conn *c, uint32_t seq, uint8_t *p, uint32_t len);
/* Offset in the segment where a PDU header starts, or -1 (in sync only). */
int nic_track_hdr_at(const struct dv_conn *c, uint32_t seq, uint32_t len);
void nic_print_stats(void);

/* txdigest.c: a host->target segment (payload p, len bytes at sequence
 * seq) before it is forwarded: true when digest bytes were written (the
 * caller fixes the TCP checksum).  nic_tx_acked() frees what the target
 * acknowledged; nic_tx_reset() everything (a new connection). */
bool nic_tx_segment(struct dv_conn *c, uint32_t seq, uint8_t *p, uint32_t len);
void nic_tx_acked(struct dv_conn *c, uint32_t ack);
void nic_tx_reset(struct dv_conn *c);

#endif /* TOELESS_NIC_H */
