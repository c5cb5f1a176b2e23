/*
 * libFuzzer harness: the PDU decoder.
 *
 * Two decoders are checked against the reference in fuzz.h:
 *   - tl_ahs_validate() on the raw input (differential: same verdict);
 *   - the header path of toeless_pdu_recv(): the input, after one
 *     configuration byte, is a byte stream written to a socket pair and
 *     received PDU by PDU by a software-backend context with no SGL posted
 *     (every PDU takes the slow path).  Each delivered PDU must be exactly
 *     the reference's: position, BHS, AHS, DataSegmentLength, data bytes,
 *     header and data digest verdicts, and the error code (-EBADMSG for a
 *     bad header digest before -EPROTO for a broken AHS chain before
 *     -EMSGSIZE for a data segment above MaxRecvDataSegmentLength; -EBADMSG
 *     for a bad data digest; -EPIPE at a PDU boundary, -ECONNRESET mid-PDU;
 *     -ENOTCONN after the context failed, with one ERROR completion).
 *
 * Configuration byte: bits 0-1 HeaderDigest/DataDigest, bits 2-4 choose
 * MaxRecvDataSegmentLength, bit 5 rewrites every digest of the stream to be
 * right (so mutations reach the paths behind the digest checks).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include "fuzz.h"

#include "toeless.h"
#include "pdu.h"

static const uint32_t dsl_choice[8] = { 512, 513, 1024, 4096, 8192, 65536, 262144, 1048576 };

static toeless_device *dev;
static toeless_cq *cq;

static void setup(void)
{
	if (dev)
		return;
	FZ_CHECK(toeless_device_open("sw", NULL, &dev) == 0, "device open");
	struct toeless_cq_attr qa = { .size = sizeof(qa), .depth = 16 };
	FZ_CHECK(toeless_cq_create(dev, &qa, &cq) == 0, "cq create");
}

/* Write all of buf to the peer; when the socket is full, let the library
 * read (results go through check_pdu via recv_all). */
struct run {
	toeless_ctx *ctx;
	int sv[2];
	const uint8_t *s;
	size_t len;
	unsigned digests;
	uint32_t max_dsl;
	size_t next; /* stream offset of the next PDU the library must deliver */
	int fatal;   /* the error that failed the context, or 0 */
	bool eof_sent;
	uint64_t delivered, dd_errors, hd_errors, proto_errors, slow_bytes;
};

static void check_pdu(struct run *r, int rc, const struct toeless_pdu *pdu)
{
	struct fz_pdu ref;
	fz_frame(r->s, r->len, r->next, r->digests, r->max_dsl, &ref);
	FZ_CHECK(ref.hdr_complete, "a PDU delivered at %zu whose header is not all in the stream", r->next);
	FZ_CHECK(pdu->status == rc, "status %d, returned %d", pdu->status, rc);
	FZ_CHECK(pdu->stream_pos == ref.pos, "stream_pos %llu, expected %zu", (unsigned long long)pdu->stream_pos,
		 ref.pos);
	FZ_CHECK(memcmp(pdu->bhs, r->s + ref.pos, 48) == 0, "BHS differs from the wire");
	FZ_CHECK(pdu->opcode == ref.opcode && pdu->itt == ref.itt, "opcode/ITT");
	FZ_CHECK(pdu->data_len == ref.dsl, "data_len %u, DataSegmentLength %u", pdu->data_len, ref.dsl);
	FZ_CHECK(pdu->ahs_len == ref.ahs_len, "ahs_len %u, expected %u", pdu->ahs_len, ref.ahs_len);
	FZ_CHECK(ref.ahs_len == 0 ? pdu->ahs == NULL
				  : pdu->ahs && memcmp(pdu->ahs, r->s + ref.pos + 48, ref.ahs_len) == 0,
		 "AHS differs from the wire");
	FZ_CHECK(pdu->hdr_digest == ref.hd, "header digest verdict %u, reference %u", pdu->hdr_digest, ref.hd);
	FZ_CHECK(pdu->flags == 0 && pdu->user_data == 0, "slow-path PDU with flags 0x%x", pdu->flags);
	if (ref.fatal) {
		FZ_CHECK(rc == ref.fatal, "returned %d, the reference says %d", rc, ref.fatal);
		FZ_CHECK(pdu->data == NULL, "data delivered with a fatal header");
		r->fatal = rc;
		if (rc == -EBADMSG)
			r->hd_errors++;
		else
			r->proto_errors++;
		r->delivered++; /* the header is delivered, and pdus_rx counts it */
		return;
	}
	FZ_CHECK(ref.complete, "PDU at %zu delivered before all its bytes were sent", ref.pos);
	FZ_CHECK(pdu->data_digest == ref.dd, "data digest verdict %u, reference %u", pdu->data_digest, ref.dd);
	FZ_CHECK(rc == (ref.dd == FZ_BAD ? -EBADMSG : 0), "returned %d with data digest %u", rc, ref.dd);
	if (ref.dsl) {
		FZ_CHECK(pdu->data && memcmp(pdu->data, r->s + ref.data_off, ref.dsl) == 0,
			 "data segment differs from the wire");
		r->slow_bytes += ref.dsl;
	} else {
		FZ_CHECK(pdu->data == NULL, "data for an empty segment");
	}
	r->dd_errors += ref.dd == FZ_BAD;
	r->delivered++;
	r->next = ref.end;
}

/* Receive until -EAGAIN or the end; check every result. */
static void recv_all(struct run *r)
{
	for (;;) {
		struct toeless_pdu pdu;
		memset(&pdu, 0xEE, sizeof(pdu));
		int rc = toeless_pdu_recv(r->ctx, &pdu);
		switch (rc) {
		case -EAGAIN: FZ_CHECK(!r->eof_sent, "-EAGAIN after the peer closed"); return;
		case 0:
		case -EBADMSG:
		case -EPROTO:
		case -EMSGSIZE:
			FZ_CHECK(!r->fatal, "a PDU after the context failed with %d", r->fatal);
			check_pdu(r, rc, &pdu);
			break;
		case -EPIPE:
		case -ECONNRESET: {
			/* the next PDU cannot be whole, or it would have been delivered */
			fz_check_end(r->s, r->len, r->next, r->digests, r->max_dsl, rc, r->eof_sent, r->fatal);
			r->fatal = rc;
			return;
		}
		case -ENOTCONN: FZ_CHECK(r->fatal, "-ENOTCONN on a working context"); return;
		default: FZ_CHECK(0, "toeless_pdu_recv returned %d", rc);
		}
		if (r->fatal)
			return;
	}
}

static void feed(struct run *r)
{
	size_t off = 0;
	while (off < r->len && !r->fatal) {
		ssize_t w = write(r->sv[1], r->s + off, r->len - off);
		if (w > 0)
			off += (size_t)w;
		else
			FZ_CHECK(w < 0 && errno == EAGAIN, "write: %s", strerror(errno));
		recv_all(r);
	}
	if (!r->fatal) {
		shutdown(r->sv[1], SHUT_WR);
		r->eof_sent = true;
		recv_all(r);
		FZ_CHECK(r->fatal, "the stream ended and the context goes on");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	/* 1. the AHS chain validator against the reference */
	{
		uint32_t n = size > 2048 ? 2048 : (uint32_t)size;
		bool lib_ok = tl_ahs_validate(data, n) == 0;
		FZ_CHECK(lib_ok == fz_ahs_ok(data, n), "tl_ahs_validate says %d for %u bytes", lib_ok, n);
	}
	if (size < 1)
		return 0;

	/* 2. the receive path on a stream */
	struct run r = { 0 };
	uint8_t cfgb = data[0];
	r.digests = cfgb & 3;
	r.max_dsl = dsl_choice[(cfgb >> 2) & 7];
	r.len = size - 1;
	uint8_t *s = malloc(r.len ? r.len : 1);
	FZ_CHECK(s, "malloc");
	memcpy(s, data + 1, r.len);
	if (cfgb & 0x20)
		fz_fix_digests(s, r.len, r.digests);
	r.s = s;
	fz_sockpair(r.sv);

	struct toeless_ctx_attr a = {
		.size = sizeof(a),
		.fd = r.sv[0],
		.cq = cq,
		.params = { .flags = r.digests, .max_recv_dsl = r.max_dsl },
		.user_data = 77,
	};
	FZ_CHECK(toeless_ctx_create(dev, &a, &r.ctx) == 0, "ctx create");
	feed(&r);

	struct toeless_stats st = { .size = sizeof(st) };
	FZ_CHECK(toeless_ctx_stats(r.ctx, &st) == 0, "stats");
	FZ_CHECK(st.pdus_rx == r.delivered, "pdus_rx %llu, delivered %llu", (unsigned long long)st.pdus_rx,
		 (unsigned long long)r.delivered);
	FZ_CHECK(st.data_digest_errors == r.dd_errors && st.hdr_digest_errors == r.hd_errors &&
			 st.protocol_errors == r.proto_errors && st.bytes_slow_path == r.slow_bytes,
		 "counters: dd %llu/%llu hd %llu/%llu proto %llu/%llu slow %llu/%llu",
		 (unsigned long long)st.data_digest_errors, (unsigned long long)r.dd_errors,
		 (unsigned long long)st.hdr_digest_errors, (unsigned long long)r.hd_errors,
		 (unsigned long long)st.protocol_errors, (unsigned long long)r.proto_errors,
		 (unsigned long long)st.bytes_slow_path, (unsigned long long)r.slow_bytes);
	struct toeless_pdu pdu;
	FZ_CHECK(toeless_pdu_recv(r.ctx, &pdu) == -ENOTCONN, "a failed context must say -ENOTCONN");

	/* exactly one ERROR completion, carrying the first error */
	struct toeless_completion c[4];
	int n = toeless_cq_poll(cq, c, 4);
	FZ_CHECK(n == 1 && c[0].type == TOELESS_CQE_ERROR && c[0].status == r.fatal && c[0].user_data == 77,
		 "%d completions, first type %u status %d (fatal %d)", n, n > 0 ? c[0].type : 0,
		 n > 0 ? c[0].status : 0, r.fatal);
	FZ_CHECK(toeless_ctx_destroy(r.ctx) == 0, "destroy");
	FZ_CHECK(toeless_cq_poll(cq, c, 4) == 0, "completions after destroy with nothing posted");
	close(r.sv[0]);
	close(r.sv[1]);
	free(s);
	return 0;
}
