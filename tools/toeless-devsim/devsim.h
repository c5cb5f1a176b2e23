/*
 * toeless-devsim: the relay model of the toeless device
 * (doc/device-interface.md), kept as a unit-test transport: a TCP relay
 * that terminates the target's connection and holds whole PDUs.  The
 * wire-level model is tools/toeless-nic.
 *
 *   main.c    options, start-up, signals
 *   relay.c   the wire side: a TCP relay between target and host sockets
 *   track.c   following PDU boundaries on the target->host stream:
 *             placement, digests, records, loss of sync and the hunt
 *
 * The host side (device.c, common.c) is shared: hwdev.h.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_DEVSIM_H
#define TOELESS_DEVSIM_H

#include "hwdev.h"

#define DV_NAME "toeless-devsim 1.0"

struct dv_conn {
	struct dv_conn *next;
	uv_tcp_t host, target;
	int open_handles;
	bool target_up, closing;
	bool host_reading_paused, target_reading_paused;
	struct sockaddr_storage host_peer, host_local; /* as the host sees it: local <-> peer swapped */
	struct dv_ctx *ctx;
	/* target->host tracking */
	enum dv_mode mode;
	uint64_t off; /* target->host bytes taken in (forwarded or held) */
	uint8_t *pdu; /* SYNC: the held PDU */
	uint32_t pdu_have, pdu_cap, hdr_len, pdu_len;
	uint8_t hdr[48 + 1020 + 4]; /* TRAIL/SPEC: the header being read */
	uint32_t hdr_have, hdr_need;
	uint64_t skip;    /* TRAIL/SPEC: bytes of the current PDU still to pass */
	uint8_t win[128]; /* HUNT: scan window */
	uint32_t win_len;
	uint64_t win_off;   /* stream offset of win[0] */
	uint32_t hunt_skip; /* candidates still to ignore (lose-sync fault) */
	bool spec_confirmed;
	uint64_t spec_pos;  /* stream offset of the candidate */
	uint8_t *hist;      /* DV_HIST ring of passed bytes while untracked */
	uint64_t hist_from; /* offset where the untracked history starts */
	bool bhs_ok;        /* SYNC: the held BHS passed its checks */
	/* fault counters */
	uint64_t n_pdus, n_hdrs, n_datain, n_records;
	uint64_t bytes_to_host, bytes_to_target;
};

/* relay.c */
int dv_relay_start(void);
void dv_emit(struct dv_conn *c, uint8_t *buf, size_t len, bool give);
void dv_relay_pause_check(struct dv_conn *c);

/* track.c */
void dv_track_input(struct dv_conn *c, const uint8_t *data, size_t len);
void dv_track_lose_sync(struct dv_conn *c, uint32_t skip, const char *why);
void dv_track_hist_add(struct dv_conn *c, const uint8_t *data, size_t len);

#endif /* TOELESS_DEVSIM_H */
