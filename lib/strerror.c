/*
 * Error strings and the library version.
 *
 * The strings say what the code means coming from libtoeless, in iSCSI
 * terms, which is not always what strerror() says (EBADMSG is "bad
 * message" there and "digest mismatch" here).  Static strings only: this
 * is called from any thread and never calls strerror().
 *
 * SPDX-License-Identifier: MIT
 */
#include "config.h"

#include <errno.h>
#include <limits.h>

#include "toeless_int.h"

#define TL_STR_(x) #x
#define TL_STR(x)  TL_STR_(x)

const char *toeless_version(void)
{
	return TL_STR(TOELESS_VERSION_MAJOR) "." TL_STR(TOELESS_VERSION_MINOR) "." TL_STR(TOELESS_VERSION_PATCH);
}

unsigned toeless_version_hex(void)
{
	return TOELESS_VERSION_HEX;
}

const char *toeless_strerror(int err)
{
	/* INT_MIN has no positive counterpart; no errno is that large. */
	if (err < 0)
		err = err == INT_MIN ? INT_MAX : -err;
	switch (err) {
	case 0: return "success";
	case EBADMSG: return "digest mismatch (CRC32C header or data digest wrong)";
	case ERANGE: return "Data-In outside the posted SGL (Buffer Offset + length past its end)";
	case EEXIST: return "already exists: ITT already posted, or Data-In over bytes already placed";
	case EMSGSIZE: return "data segment longer than the negotiated MaxRecvDataSegmentLength";
	case EPROTO: return "malformed PDU or protocol violation (bad AHS or header lengths, backend ABI mismatch)";
	case EPIPE: return "connection closed by the peer";
	case ECONNRESET: return "connection reset: the peer closed mid-PDU or the socket failed";
	case ENOTCONN: return "context failed earlier; destroy it";
	case ECANCELED: return "cancelled (SGL cancel or context destroy)";
	case E2BIG: return "too many SGEs for this device (caps.max_sge)";
	case ENOSPC: return "limit reached (outstanding tasks or contexts)";
	case ENOENT: return "not found: no such backend, or ITT not posted";
	case EBUSY: return "busy: still in use, or a PDU is half sent or half received";
	case EINPROGRESS: return "PDU partly sent; flush when the socket is writable";
	case EAGAIN: return "try again: no complete PDU yet, socket full, or engine busy";
	case EINVAL: return "invalid argument";
	case ENODEV: return "backend known but its device is absent";
	case EOPNOTSUPP: return "operation not supported by this backend";
	case EIO: return "I/O error: device failure, or iSCSI response code other than command completed";
	case ENOMEM: return "out of memory";
	case ETIMEDOUT: return "timed out: the engine did not release its buffers in time";
	case ENODATA:
		return "target reported good status but the placed bytes are not the ones it promised (hole, missing "
		       "or extra data)";
	case EMFILE: return "no file descriptor left";
	default: return "unknown error";
	}
}
