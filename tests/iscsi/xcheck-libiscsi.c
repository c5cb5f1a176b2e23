/*
 * xcheck-libiscsi: read or write a byte range of a LUN through libiscsi, an
 * initiator independent of toeless-iscsi, for the cross-check test.
 *
 *   xcheck-libiscsi [--header-digest] read  URL OFFSET LENGTH FILE
 *   xcheck-libiscsi [--header-digest] write URL OFFSET FILE
 *
 * URL is iscsi://HOST:PORT/IQN/LUN.  OFFSET and LENGTH are bytes, multiples
 * of the LUN's block size.  Exit 0 on success, 1 with a message otherwise.
 *
 * SPDX-License-Identifier: MIT
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define CHUNK (128 * 1024)

static int die(struct iscsi_context *iscsi, const char *what)
{
	fprintf(stderr, "xcheck-libiscsi: %s: %s\n", what, iscsi ? iscsi_get_error(iscsi) : "failed");
	return 1;
}

int main(int argc, char **argv)
{
	struct iscsi_context *iscsi;
	struct iscsi_url *url;
	struct scsi_task *task;
	struct scsi_readcapacity16 *rc16;
	int argi = 1, hd = 0, blocksize, ret = 0;
	uint64_t offset, length, done;
	unsigned char *buf;
	FILE *f;

	if (argi < argc && !strcmp(argv[argi], "--header-digest")) {
		hd = 1;
		argi++;
	}
	if (argc - argi < 4 || (strcmp(argv[argi], "read") && strcmp(argv[argi], "write")) ||
	    (!strcmp(argv[argi], "read") && argc - argi < 5)) {
		fprintf(stderr, "usage: xcheck-libiscsi [--header-digest] read URL OFFSET LENGTH FILE\n"
				"       xcheck-libiscsi [--header-digest] write URL OFFSET FILE\n");
		return 2;
	}
	const char *op = argv[argi], *urlstr = argv[argi + 1];
	offset = strtoull(argv[argi + 2], NULL, 0);

	iscsi = iscsi_create_context("iqn.2024-01.org.toeless:xcheck");
	if (!iscsi)
		return die(NULL, "iscsi_create_context");
	url = iscsi_parse_full_url(iscsi, urlstr);
	if (!url)
		return die(iscsi, "bad URL");
	iscsi_set_targetname(iscsi, url->target);
	iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
	iscsi_set_header_digest(iscsi, hd ? ISCSI_HEADER_DIGEST_CRC32C : ISCSI_HEADER_DIGEST_NONE);
	if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0)
		return die(iscsi, "login");

	task = iscsi_readcapacity16_sync(iscsi, url->lun);
	if (!task || task->status != SCSI_STATUS_GOOD)
		return die(iscsi, "READ CAPACITY(16)");
	rc16 = scsi_datain_unmarshall(task);
	if (!rc16)
		return die(iscsi, "READ CAPACITY(16) data");
	blocksize = (int)rc16->block_length;
	scsi_free_scsi_task(task);

	buf = malloc(CHUNK);
	if (!buf)
		return die(NULL, "malloc");
	if (!strcmp(op, "read")) {
		length = strtoull(argv[argi + 3], NULL, 0);
		f = fopen(argv[argi + 4], "wb");
		if (!f)
			return die(NULL, "cannot create output");
		for (done = 0; done < length && !ret; done += CHUNK) {
			uint32_t n = length - done < CHUNK ? (uint32_t)(length - done) : CHUNK;
			task = iscsi_read16_sync(iscsi, url->lun, (offset + done) / (uint64_t)blocksize, n, blocksize,
						 0, 0, 0, 0, 0);
			if (!task || task->status != SCSI_STATUS_GOOD || task->datain.size != (int)n) {
				ret = die(iscsi, "READ(16)");
				break;
			}
			fwrite(task->datain.data, 1, n, f);
			scsi_free_scsi_task(task);
		}
		if (fclose(f))
			ret = die(NULL, "write output");
	} else {
		f = fopen(argv[argi + 3], "rb");
		if (!f)
			return die(NULL, "cannot open input");
		done = 0;
		for (;;) {
			size_t n = fread(buf, 1, CHUNK, f);
			if (n == 0)
				break;
			if (n % (size_t)blocksize) {
				ret = die(NULL, "input is not a multiple of the block size");
				break;
			}
			task = iscsi_write16_sync(iscsi, url->lun, (offset + done) / (uint64_t)blocksize, buf,
						  (uint32_t)n, blocksize, 0, 0, 0, 0, 0);
			if (!task || task->status != SCSI_STATUS_GOOD) {
				ret = die(iscsi, "WRITE(16)");
				break;
			}
			scsi_free_scsi_task(task);
			done += n;
		}
		fclose(f);
	}
	free(buf);
	iscsi_logout_sync(iscsi);
	iscsi_destroy_url(url);
	iscsi_destroy_context(iscsi);
	return ret;
}
