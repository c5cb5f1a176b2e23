/*
 * toeless-iscsi: SCSI commands (SBC-3, SPC-4) and their results.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <string.h>

#include "iscsi_session.h"

void cdb_test_unit_ready(uint8_t cdb[16])
{
	memset(cdb, 0, 16);
}

void cdb_inquiry(uint8_t cdb[16], uint16_t alloc_len)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x12;
	put_be16(cdb + 3, alloc_len);
}

void cdb_read_capacity16(uint8_t cdb[16], uint32_t alloc_len)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x9e; /* SERVICE ACTION IN(16) */
	cdb[1] = 0x10; /* READ CAPACITY(16) */
	put_be32(cdb + 10, alloc_len);
}

void cdb_read16(uint8_t cdb[16], uint64_t lba, uint32_t blocks)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x88;
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, blocks);
}

void cdb_write16(uint8_t cdb[16], uint64_t lba, uint32_t blocks)
{
	memset(cdb, 0, 16);
	cdb[0] = 0x8a;
	put_be64(cdb + 2, lba);
	put_be32(cdb + 10, blocks);
}

void lun_encode(uint8_t out[8], uint64_t lun)
{
	memset(out, 0, 8);
	if (lun < 256) {
		out[1] = (uint8_t)lun; /* peripheral device addressing */
	} else {
		out[0] = (uint8_t)(0x40 | ((lun >> 8) & 0x3f)); /* flat space addressing */
		out[1] = (uint8_t)lun;
	}
}

struct sense sense_parse(const uint8_t *buf, size_t len)
{
	struct sense s = { 0 };

	if (!buf || len < 2)
		return s;
	switch (buf[0] & 0x7f) {
	case 0x70: /* fixed, current */
	case 0x71: /* fixed, deferred */
		if (len < 3)
			return s;
		s.key = buf[2] & 0x0f;
		s.asc = len > 12 ? buf[12] : 0;
		s.ascq = len > 13 ? buf[13] : 0;
		s.valid = true;
		break;
	case 0x72: /* descriptor, current */
	case 0x73: /* descriptor, deferred */
		if (len < 4)
			return s;
		s.key = buf[1] & 0x0f;
		s.asc = buf[2];
		s.ascq = buf[3];
		s.valid = true;
		break;
	}
	return s;
}

const char *scsi_status_str(uint8_t status)
{
	switch (status) {
	case SCSI_GOOD: return "GOOD";
	case SCSI_CHECK_CONDITION: return "CHECK CONDITION";
	case 0x04: return "CONDITION MET";
	case SCSI_BUSY: return "BUSY";
	case SCSI_RESERVATION_CONFLICT: return "RESERVATION CONFLICT";
	case SCSI_TASK_SET_FULL: return "TASK SET FULL";
	case SCSI_ACA_ACTIVE: return "ACA ACTIVE";
	case SCSI_TASK_ABORTED: return "TASK ABORTED";
	default: return "unknown status";
	}
}

const char *sense_key_str(uint8_t key)
{
	static const char *const names[16] = {
		"NO SENSE",       "RECOVERED ERROR", "NOT READY",      "MEDIUM ERROR",
		"HARDWARE ERROR", "ILLEGAL REQUEST", "UNIT ATTENTION", "DATA PROTECT",
		"BLANK CHECK",    "VENDOR SPECIFIC", "COPY ABORTED",   "ABORTED COMMAND",
		"reserved",       "VOLUME OVERFLOW", "MISCOMPARE",     "COMPLETED",
	};
	return names[key & 0x0f];
}

const char *asc_str(uint8_t asc, uint8_t ascq)
{
	static const struct {
		uint8_t asc, ascq;
		const char *text;
	} table[] = {
		{ 0x00, 0x00, "no additional sense information" },
		{ 0x04, 0x00, "logical unit not ready, cause not reportable" },
		{ 0x04, 0x01, "logical unit is in process of becoming ready" },
		{ 0x04, 0x02, "logical unit not ready, initializing command required" },
		{ 0x0c, 0x00, "write error" },
		{ 0x11, 0x00, "unrecovered read error" },
		{ 0x1a, 0x00, "parameter list length error" },
		{ 0x20, 0x00, "invalid command operation code" },
		{ 0x21, 0x00, "logical block address out of range" },
		{ 0x24, 0x00, "invalid field in cdb" },
		{ 0x25, 0x00, "logical unit not supported" },
		{ 0x26, 0x00, "invalid field in parameter list" },
		{ 0x27, 0x00, "write protected" },
		{ 0x28, 0x00, "not ready to ready change, medium may have changed" },
		{ 0x29, 0x00, "power on, reset, or bus device reset occurred" },
		{ 0x29, 0x01, "power on occurred" },
		{ 0x29, 0x02, "scsi bus reset occurred" },
		{ 0x29, 0x03, "bus device reset function occurred" },
		{ 0x29, 0x04, "device internal reset" },
		{ 0x29, 0x07, "i_t nexus loss occurred" },
		{ 0x2a, 0x01, "mode parameters changed" },
		{ 0x2a, 0x09, "capacity data has changed" },
		{ 0x3a, 0x00, "medium not present" },
		{ 0x3f, 0x0e, "reported luns data has changed" },
		{ 0x47, 0x00, "scsi parity error" },
		{ 0x47, 0x05, "protocol service crc error" },
		{ 0x4b, 0x00, "data phase error" },
		{ 0x4e, 0x00, "overlapped commands attempted" },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].asc == asc && table[i].ascq == ascq)
			return table[i].text;
	return "unknown";
}

void scsi_describe(char *out, size_t outlen, uint8_t status, const struct sense *sense)
{
	if (status == SCSI_CHECK_CONDITION && sense && sense->valid)
		snprintf(out, outlen, "%s, sense key 0x%x %s, ASC/ASCQ 0x%02x/0x%02x (%s)", scsi_status_str(status),
			 sense->key, sense_key_str(sense->key), sense->asc, sense->ascq,
			 asc_str(sense->asc, sense->ascq));
	else if (status == SCSI_CHECK_CONDITION)
		snprintf(out, outlen, "%s without sense data", scsi_status_str(status));
	else
		snprintf(out, outlen, "status 0x%02x %s", status, scsi_status_str(status));
}

const char *device_type_str(uint8_t type)
{
	switch (type) {
	case 0x00: return "direct-access block device";
	case 0x01: return "sequential-access device";
	case 0x05: return "CD/DVD device";
	case 0x0c: return "storage array controller";
	case 0x0d: return "enclosure services device";
	case 0x1f: return "unknown or no device type";
	default: return "other device";
	}
}

void cdb_sync_cache16(uint8_t cdb[16])
{
	memset(cdb, 0, 16);
	cdb[0] = 0x91; /* SYNCHRONIZE CACHE(16): LBA 0, 0 blocks = the whole LUN */
}
