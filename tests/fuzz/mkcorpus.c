/*
 * Writes the seed corpus of the fuzz harnesses (tests/fuzz/corpus/pdu and
 * tests/fuzz/corpus/rx): small, well-formed inputs in the layouts the
 * harnesses read, each reaching one path (placement, digests, splits,
 * cancels, the mock engine's faults, each malformation).  The committed
 * corpus was made with
 *
 *     mkcorpus tests/fuzz/corpus
 *
 * and inputs worth keeping are added next to the seeds by hand (regress-*:
 * regress-set-params-engine-busy, an engine that fails while it holds SGLs
 * when the parameters switch: -EBUSY).
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <sys/stat.h>

#include "fuzz.h"

struct buf {
	uint8_t p[65536];
	size_t len;
};

static void put(struct buf *b, const void *d, size_t n)
{
	FZ_CHECK(b->len + n <= sizeof(b->p), "seed too long");
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void put8(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}

static void put16(struct buf *b, uint16_t v)
{
	put8(b, (uint8_t)(v >> 8));
	put8(b, (uint8_t)v);
}

/* One PDU with right digests (unless bad_hd / bad_dd). */
struct pdu {
	uint8_t op, flags, b2, b3;
	uint32_t itt, ttt, sn, off, res;
	const void *ahs;
	uint32_t ahs_len;
	const void *data;
	uint32_t dsl;       /* DataSegmentLength written in the header */
	uint32_t data_sent; /* bytes of data actually sent (default dsl) */
	bool bad_hd, bad_dd;
};

static void put_pdu(struct buf *b, unsigned digests, const struct pdu *p)
{
	uint8_t h[48 + 1020 + 4] = { 0 };
	h[0] = p->op;
	h[1] = p->flags;
	h[2] = p->b2;
	h[3] = p->b3;
	h[4] = (uint8_t)(p->ahs_len / 4);
	h[5] = (uint8_t)(p->dsl >> 16);
	h[6] = (uint8_t)(p->dsl >> 8);
	h[7] = (uint8_t)p->dsl;
	fz_put_be32(h + 16, p->itt);
	fz_put_be32(h + 20, p->ttt);
	fz_put_be32(h + 24, p->sn);
	fz_put_be32(h + 36, p->sn);
	fz_put_be32(h + 40, p->off);
	fz_put_be32(h + 44, p->res);
	if (p->ahs_len)
		memcpy(h + 48, p->ahs, p->ahs_len);
	size_t hl = 48 + p->ahs_len;
	if (digests & FZ_HD) {
		fz_put_le32(h + hl, fz_crc32c(0, h, hl) ^ (p->bad_hd ? 1u : 0u));
		hl += 4;
	}
	put(b, h, hl);
	uint32_t n = p->data_sent ? p->data_sent : p->dsl;
	if (!n)
		return;
	uint8_t seg[8192 + 8];
	FZ_CHECK(n <= 8192, "data too long");
	memset(seg, 0, sizeof(seg));
	if (p->data)
		memcpy(seg, p->data, n);
	uint32_t pad = (4 - (n & 3)) & 3;
	put(b, seg, n + pad);
	if ((digests & FZ_DD) && n == p->dsl) {
		uint8_t d[4];
		fz_put_le32(d, fz_crc32c(0, seg, n + pad) ^ (p->bad_dd ? 0x100u : 0u));
		put(b, d, 4);
	}
}

static uint8_t pattern[8192];

static void write_seed(const char *dir, const char *name, const struct buf *b)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	FZ_CHECK(f, "%s: %s", path, strerror(errno));
	FZ_CHECK(fwrite(b->p, 1, b->len, f) == b->len, "write %s", path);
	fclose(f);
}

static struct pdu data_in(uint32_t itt, uint32_t sn, uint32_t off, uint32_t len, uint8_t flags)
{
	struct pdu p = { .op = 0x25,
			 .flags = flags,
			 .itt = itt,
			 .ttt = 0xffffffffu,
			 .sn = sn,
			 .off = off,
			 .data = pattern + (off % 4096),
			 .dsl = len };
	return p;
}

/* ---- fuzz_rx seeds ---- */

/* header: config bytes, posts, actions */
static void rx_head(struct buf *b, uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3)
{
	b->len = 0;
	put8(b, b0);
	put8(b, b1);
	put8(b, b2);
	put8(b, b3);
}

static void rx_post(struct buf *b, uint8_t itt_choice, int nsge, const uint16_t *lens)
{
	put8(b, (uint8_t)((itt_choice << 4) | (nsge - 1)));
	for (int i = 0; i < nsge; i++)
		put16(b, (uint16_t)(lens[i] - 1));
}

static void rx_seeds(const char *dir)
{
	struct buf b;
	const unsigned HD = FZ_HD, DD = FZ_DD;

	/* 1: one post, two Data-In in order, status in the last; no digests */
	rx_head(&b, 0x10, 1, 0, 0);
	rx_post(&b, 0, 1, (uint16_t[]){ 4096 });
	put8(&b, 0);
	put_pdu(&b, 0, &(struct pdu){ .op = 0x20, .flags = 0x80, .itt = 0xffffffffu, .ttt = 0xffffffffu });
	struct pdu d = data_in(1, 0, 0, 2048, 0);
	put_pdu(&b, 0, &d);
	d = data_in(1, 1, 2048, 2048, 0x81);
	put_pdu(&b, 0, &d);
	write_seed(dir, "seed-inorder", &b);

	/* 2: both digests, two posts over several SGEs, interleaved, a SCSI
	 * Response with sense for the second, split at odd points */
	rx_head(&b, 0x13, 2, 0, 0);
	rx_post(&b, 0, 3, (uint16_t[]){ 100, 1000, 948 });
	rx_post(&b, 1, 2, (uint16_t[]){ 512, 512 });
	put8(&b, 4);
	put16(&b, 50), put8(&b, 0);
	put16(&b, 1), put8(&b, 5);
	put16(&b, 333), put8(&b, 0);
	put16(&b, 7), put8(&b, 0);
	d = data_in(1, 0, 0, 1024, 0);
	put_pdu(&b, HD | DD, &d);
	d = data_in(2, 0, 0, 1024, 0x80);
	put_pdu(&b, HD | DD, &d);
	d = data_in(1, 1, 1024, 1024, 0x83);
	d.res = 0;
	put_pdu(&b, HD | DD, &d);
	static const uint8_t sense[20] = { 0, 18, 0x70, 0, 0x06, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0 };
	put_pdu(&b, HD | DD, &(struct pdu){ .op = 0x21, .flags = 0x80, .b3 = 2, .itt = 2, .data = sense, .dsl = 20 });
	write_seed(dir, "seed-digests-sgl", &b);

	/* 3: the same through the mock engine with every fault group armed */
	b.p[0] = 0x17;
	b.p[1] = 2 | (0x1f << 3);
	b.p[2] = 0x40;
	b.p[3] = 5;
	write_seed(dir, "seed-mock-faults", &b);
	b.p[0] = 0x1f; /* and with the digests rewritten after mutation */
	b.p[1] = 2 | (0x06 << 3);
	write_seed(dir, "seed-mock-fix", &b);
	b.p[0] = 0x97; /* over loopback TCP: engine-placed bytes skipped with MSG_TRUNC */
	b.p[1] = 2;
	write_seed(dir, "seed-tcp-mock", &b);
	b.p[1] = 2 | (0x02 << 3); /* partial placement: software checks the engine's bytes */
	b.p[3] = 100;
	write_seed(dir, "seed-tcp-mock-partial", &b);

	/* 4: Buffer Offset + length past the SGL, wrapping 32 bits, overlap,
	 * unknown ITT, a repeated PDU */
	rx_head(&b, 0x03, 1, 0, 0);
	rx_post(&b, 0, 2, (uint16_t[]){ 2000, 2096 });
	put8(&b, 0);
	d = data_in(1, 0, 0, 1024, 0);
	put_pdu(&b, HD | DD, &d);
	put_pdu(&b, HD | DD, &d); /* the same bytes twice: -EEXIST */
	d = data_in(1, 1, 4000, 512, 0);
	put_pdu(&b, HD | DD, &d); /* past the end: -ERANGE */
	d = data_in(1, 2, 0xffffff00u, 512, 0);
	d.data = pattern;
	put_pdu(&b, HD | DD, &d); /* wraps 32 bits */
	d = data_in(9, 0, 0, 100, 0x81);
	put_pdu(&b, HD | DD, &d); /* unknown ITT */
	d = data_in(1, 3, 1024, 1024, 0x81);
	put_pdu(&b, HD | DD, &d);
	d = data_in(1, 4, 2048, 64, 0x81);
	put_pdu(&b, HD | DD, &d); /* after the task finished */
	write_seed(dir, "seed-range-overlap", &b);

	/* 5: cancel while a payload is half placed, then post again */
	rx_head(&b, 0x02, 1, 0, 0);
	rx_post(&b, 2, 1, (uint16_t[]){ 3000 });
	put8(&b, 3);
	put16(&b, 48 + 700), put8(&b, 3);
	put16(&b, 0), put8(&b, 4);
	put16(&b, 0), put8(&b, 5);
	d = data_in(3, 0, 0, 1500, 0);
	put_pdu(&b, DD, &d);
	d = data_in(3, 0, 0, 1500, 0x81);
	put_pdu(&b, DD, &d);
	write_seed(dir, "seed-cancel-midpdu", &b);

	/* 6: bad digests: data digest on a placed PDU, then a header digest */
	rx_head(&b, 0x03, 1, 0, 0);
	rx_post(&b, 0, 1, (uint16_t[]){ 1024 });
	put8(&b, 0);
	d = data_in(1, 0, 0, 512, 0);
	d.bad_dd = true;
	put_pdu(&b, HD | DD, &d);
	d = data_in(1, 1, 512, 512, 0x81);
	d.bad_hd = true;
	put_pdu(&b, HD | DD, &d);
	write_seed(dir, "seed-bad-digests", &b);

	/* 7: one byte per write, with AHS, NOP-In, Reject, Async, R2T */
	rx_head(&b, 0x41, 1, 0, 0);
	rx_post(&b, 4, 1, (uint16_t[]){ 600 });
	put8(&b, 0);
	static const uint8_t ahs[20] = { 0, 17, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	put_pdu(&b, HD,
		&(struct pdu){ .op = 0x20, .flags = 0x80, .itt = 0xffffffffu, .ttt = 5, .data = pattern, .dsl = 13 });
	put_pdu(&b, HD, &(struct pdu){ .op = 0x31, .flags = 0x80, .itt = 7, .ahs = ahs, .ahs_len = 20 });
	uint8_t rej[48] = { 0x01 };
	put_pdu(&b, HD,
		&(struct pdu){ .op = 0x3f, .flags = 0x80, .b2 = 9, .itt = 0xffffffffu, .data = rej, .dsl = 48 });
	put_pdu(&b, HD, &(struct pdu){ .op = 0x32, .flags = 0x80, .itt = 0xffffffffu });
	d = data_in(0x80000000u, 0, 0, 600, 0x81);
	put_pdu(&b, HD, &d);
	write_seed(dir, "seed-bytewise-misc", &b);

	/* 8: malformed: unknown opcode, then an AHS chain that does not fit */
	rx_head(&b, 0x00, 0, 0, 0);
	put8(&b, 0);
	put_pdu(&b, 0, &(struct pdu){ .op = 0x1c, .flags = 0x80, .itt = 1, .data = pattern, .dsl = 5 });
	static const uint8_t bad_ahs[8] = { 0, 9, 1, 0 };
	put_pdu(&b, 0, &(struct pdu){ .op = 0x20, .flags = 0x80, .itt = 1, .ahs = bad_ahs, .ahs_len = 8 });
	write_seed(dir, "seed-bad-ahs", &b);

	/* 9: DataSegmentLength above MaxRecvDataSegmentLength, and 2^24-1 */
	rx_head(&b, 0x00, 1, 0, 0);
	rx_post(&b, 0, 1, (uint16_t[]){ 1024 });
	put8(&b, 0);
	d = data_in(1, 0, 0, 600, 0);
	d.data_sent = 600;
	d.dsl = 600;
	put_pdu(&b, 0, &d);
	d = data_in(1, 1, 0, 0xffffffu, 0);
	d.data_sent = 100;
	put_pdu(&b, 0, &d);
	write_seed(dir, "seed-dsl-too-long", &b);

	/* 10: a truncated PDU then the end of the stream */
	rx_head(&b, 0x03, 1, 0, 0);
	rx_post(&b, 0, 1, (uint16_t[]){ 2048 });
	put8(&b, 0);
	d = data_in(1, 0, 0, 1024, 0);
	put_pdu(&b, HD | DD, &d);
	d = data_in(1, 1, 1024, 1024, 0x81);
	d.data_sent = 300;
	put_pdu(&b, HD | DD, &d);
	write_seed(dir, "seed-truncated", &b);

	/* 11: S without F, repeated and skipped DataSN: the library does not
	 * judge DataSN (the initiator does) but must place correctly */
	rx_head(&b, 0x02, 1, 0, 0);
	rx_post(&b, 0, 1, (uint16_t[]){ 1536 });
	put8(&b, 0);
	d = data_in(1, 0, 0, 512, 0);
	put_pdu(&b, DD, &d);
	d = data_in(1, 0, 512, 512, 0);
	put_pdu(&b, DD, &d);
	d = data_in(1, 5, 1024, 512, 0x01);
	put_pdu(&b, DD, &d);
	write_seed(dir, "seed-datasn-s-without-f", &b);

	/* 12: the switch after login: the final Login Response (no digests),
	 * 20 bytes of the next header already read ahead, then both digests
	 * and a longer MaxRecvDataSegmentLength; on the mock engine and in
	 * software */
	for (int mock = 0; mock < 2; mock++) {
		static const uint8_t keys[] = "HeaderDigest=CRC32C\0DataDigest=CRC32C";
		rx_head(&b, mock ? 0x04 : 0x00, 1, 0, 0);
		rx_post(&b, 0, 2, (uint16_t[]){ 3000, 3000 });
		put8(&b, 2);
		size_t login_len = 48 + sizeof(keys) + ((4 - (sizeof(keys) & 3)) & 3);
		put16(&b, (uint16_t)(login_len + 20)), put8(&b, 0);
		put16(&b, 0), put8(&b, 1 | (3 << 3) | (2 << 5)); /* HD|DD, 8192 */
		put_pdu(&b, 0, &(struct pdu){ .op = 0x23, .flags = 0x87, .itt = 9, .data = keys, .dsl = sizeof(keys) });
		d = data_in(1, 0, 0, 4000, 0);
		put_pdu(&b, HD | DD, &d);
		d = data_in(1, 1, 4000, 2000, 0x81);
		put_pdu(&b, HD | DD, &d);
		write_seed(dir, mock ? "seed-set-params-mock" : "seed-set-params", &b);
	}
}

/* ---- fuzz_pdu seeds: config byte, then the stream ---- */

static void pdu_seeds(const char *dir)
{
	struct buf b;
	static const uint8_t ahs[20] = { 0, 17, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	static const uint8_t two_ahs[12] = { 0, 1, 2, 9, 0, 5, 3, 1, 2, 3, 4, 5 };
	static const uint8_t text[] = "HeaderDigest=CRC32C\0DataDigest=None\0MaxRecvDataSegmentLength=8192";

	for (unsigned dg = 0; dg < 4; dg++) {
		b.len = 0;
		put8(&b, (uint8_t)(dg | (4 << 2)));
		put_pdu(&b, dg,
			&(struct pdu){ .op = 0x23, .flags = 0x87, .itt = 1, .data = text, .dsl = sizeof(text) });
		put_pdu(&b, dg, &(struct pdu){ .op = 0x20, .flags = 0x80, .itt = 0xffffffffu, .ttt = 3 });
		put_pdu(&b, dg,
			&(struct pdu){ .op = 0x21,
				       .flags = 0x80,
				       .itt = 2,
				       .ahs = ahs,
				       .ahs_len = 20,
				       .data = pattern,
				       .dsl = 33 });
		put_pdu(&b, dg,
			&(struct pdu){ .op = 0x25,
				       .flags = 0x81,
				       .itt = 4,
				       .ahs = two_ahs,
				       .ahs_len = 12,
				       .data = pattern,
				       .dsl = 1001 });
		put_pdu(&b, dg,
			&(struct pdu){ .op = 0x32, .flags = 0x80, .itt = 0xffffffffu, .data = pattern, .dsl = 4 });
		char name[32];
		snprintf(name, sizeof(name), "seed-stream-%u", dg);
		write_seed(dir, name, &b);
	}
	/* malformed ones */
	b.len = 0;
	put8(&b, 0x01 | (0 << 2));
	put_pdu(&b, FZ_HD, &(struct pdu){ .op = 0x20, .flags = 0x80, .itt = 1, .data = pattern, .dsl = 513 });
	write_seed(dir, "seed-too-long", &b);
	b.len = 0;
	put8(&b, 0x03 | (7 << 2));
	put_pdu(&b, 3,
		&(struct pdu){ .op = 0x20, .flags = 0x80, .itt = 1, .data = pattern, .dsl = 100, .bad_dd = true });
	put_pdu(&b, 3, &(struct pdu){ .op = 0x20, .flags = 0x80, .itt = 1, .bad_hd = true });
	write_seed(dir, "seed-bad-digests", &b);
	b.len = 0;
	put8(&b, 0x20 | 0x02);
	static const uint8_t bad_ahs[8] = { 0, 9, 1, 0 };
	put_pdu(&b, 2, &(struct pdu){ .op = 0x3f, .flags = 0x80, .itt = 1, .ahs = bad_ahs, .ahs_len = 8 });
	write_seed(dir, "seed-bad-ahs", &b);
	b.len = 0;
	put8(&b, 0x00);
	put_pdu(&b, 0,
		&(struct pdu){
			.op = 0x25, .flags = 0x80, .itt = 1, .data = pattern, .dsl = 0xffffffu, .data_sent = 64 });
	write_seed(dir, "seed-dsl-max", &b);
	b.len = 0;
	put8(&b, 0x00);
	put_pdu(&b, 0,
		&(struct pdu){ .op = 0x25, .flags = 0x80, .itt = 1, .data = pattern, .dsl = 200, .data_sent = 7 });
	write_seed(dir, "seed-truncated", &b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + (i >> 8) * 13 + 1);
	char d[512];
	snprintf(d, sizeof(d), "%s/pdu", argv[1]);
	mkdir(argv[1], 0755);
	mkdir(d, 0755);
	pdu_seeds(d);
	snprintf(d, sizeof(d), "%s/rx", argv[1]);
	mkdir(d, 0755);
	rx_seeds(d);
	return 0;
}
