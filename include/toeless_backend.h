/*
 * libtoeless backend interface: the ops table every engine implements.
 *
 * The built-in backends (sw, mock) use exactly this table.  The core owns
 * the receive engine: it reads every PDU header from the socket itself and,
 * for each PDU, asks the backend one question through rx_pdu(): "did the
 * engine already place this payload and check its digests?"  Every op except
 * open/close/query may be left NULL; the core then does the work in software.
 *
 * Threading: the core calls context ops (ctx_*, sgl_*, rx_*) from the thread
 * that is using that context, one call at a time per context; device ops
 * (query, mr_*, crc_submit, progress) may be called from several threads at
 * once.  A backend calls the toeless_backend_*() services below only from
 * inside an op call on the same object (a context service from a context op,
 * a device service from a device op), never from a thread of its own.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_BACKEND_H
#define TOELESS_BACKEND_H

#include <stdarg.h>
#include "toeless.h"

#ifdef __cplusplus
extern "C" {
#endif

/** ABI version of struct toeless_backend_ops; bumped on incompatible change. */
#define TOELESS_BACKEND_ABI 1

/** What a context is bound to, given to ctx_create. */
struct toeless_backend_ctx_info {
	size_t size;               /**< sizeof(struct toeless_backend_ctx_info) */
	int fd;                    /**< the connected socket: the backend must not consume from it (MSG_PEEK is allowed) */
	struct toeless_ctx_params params; /**< negotiated parameters */
	uint32_t max_tasks;        /**< SGL posts at once the core allows */
	uint64_t stream_pos;       /**< stream position of the next PDU header */
};

/** One SGE of an SGL post, with its registration if it lies inside one. */
struct toeless_backend_sge {
	void *addr;         /**< host address */
	size_t len;         /**< bytes */
	void *mr_priv;      /**< the backend's handle from mr_reg, or NULL if unregistered */
	size_t mr_offset;   /**< offset of addr inside that registration */
};

/** The core's question about one PDU whose header it has just read. */
struct toeless_rx_query {
	uint64_t stream_pos;      /**< position of the PDU header */
	uint64_t payload_pos;     /**< position of the first data-segment byte */
	const uint8_t *bhs;       /**< the 48-byte BHS */
	uint32_t data_len;        /**< DataSegmentLength */
	uint32_t itt;             /**< Initiator Task Tag from the header */
	uint32_t buffer_offset;   /**< Data-In Buffer Offset */
	uint32_t sgl_posted_to_engine; /**< 1 when the engine accepted this ITT's SGL */
};

/** The engine's answer. */
struct toeless_rx_record {
	uint32_t bytes_placed;    /**< payload bytes from the segment start already placed (0..data_len) */
	uint8_t hdr_digest;       /**< ::toeless_digest_result of the engine's header check */
	uint8_t data_digest;      /**< ::toeless_digest_result; OK/BAD only when bytes_placed == data_len */
	uint8_t reserved[2];      /**< zero */
};

/** One asynchronous CRC request as the backend sees it. */
struct toeless_backend_crc {
	uint64_t id;               /**< report it back in toeless_backend_crc_done() */
	const struct iovec *iov;   /**< the bytes */
	int iovcnt;                /**< entries in iov */
	uint32_t seed;             /**< digest to extend, or 0 */
};

/** The ops table.  @c size and @c abi_version let the core refuse a mismatch. */
struct toeless_backend_ops {
	size_t size;               /**< sizeof(struct toeless_backend_ops) */
	uint32_t abi_version;      /**< TOELESS_BACKEND_ABI */
	const char *name;          /**< the name a spec selects it by */
	const char *version;       /**< the backend's own version */

	/** Open the engine; @p args is the text after "name:" or "". */
	int (*open)(toeless_device *dev, const char *args, void **dev_priv);
	/** Close the engine; every context, queue and registration is gone. */
	void (*close)(void *dev_priv);
	/** Fill caps (all fields after size; the core has zeroed it and set size). */
	int (*query)(void *dev_priv, struct toeless_caps *caps);

	/** Register memory for engine placement; NULL: accepted, not reachable. */
	int (*mr_reg)(void *dev_priv, void *addr, size_t len, void **mr_priv);
	/** Forget a registration no SGL uses any more. */
	void (*mr_dereg)(void *dev_priv, void *mr_priv);

	/** Take a connection; an error means "not offloaded": software serves it. */
	int (*ctx_create)(void *dev_priv, toeless_ctx *ctx, const struct toeless_backend_ctx_info *info,
			  void **ctx_priv);
	/** Called after every SGL was released; the engine holds nothing after it. */
	void (*ctx_destroy)(void *ctx_priv);
	/** New negotiated parameters from stream_pos on; an error drops the engine for this context. */
	int (*ctx_set_params)(void *ctx_priv, const struct toeless_ctx_params *params, uint64_t stream_pos);
	/** Let the engine make progress on this context (release SGLs, ask for resync). */
	void (*ctx_progress)(void *ctx_priv);

	/**
	 * Offer an SGL to the engine.  0: the engine will place into it;
	 * -ENOSPC: the engine is out of resources (software places, counted);
	 * any other error: software places.
	 */
	int (*sgl_post)(void *ctx_priv, uint32_t itt, const struct toeless_backend_sge *sges, int n);
	/**
	 * Take an SGL back.  0: released now.  1: the engine still holds it
	 * and will call toeless_backend_sgl_released() later (from ctx_progress).
	 */
	int (*sgl_release)(void *ctx_priv, uint32_t itt);

	/** 0 and *rec filled: the engine saw this PDU.  -ENOENT: no record (software path). */
	int (*rx_pdu)(void *ctx_priv, const struct toeless_rx_query *q, struct toeless_rx_record *rec);
	/** Answer to toeless_backend_resync_request(): is there a header at @p pos? */
	void (*rx_resync_reply)(void *ctx_priv, uint64_t pos, int is_header);

	/** Accept up to n CRC requests; return how many (>= 0) or a negative errno. */
	int (*crc_submit)(void *dev_priv, toeless_cq *cq, const struct toeless_backend_crc *reqs, int n);
	/** Reap device-level completions (CRC); called from toeless_cq_poll(). */
	void (*progress)(void *dev_priv);
};

/* ---- services the core offers to backends ---- */

/** The engine has let go of the SGL of @p itt (after sgl_release returned 1). */
TOELESS_API void toeless_backend_sgl_released(toeless_ctx *ctx, uint32_t itt);
/** The engine lost the PDU boundary: is there a header at stream position @p pos? */
TOELESS_API void toeless_backend_resync_request(toeless_ctx *ctx, uint64_t pos);
/** A CRC request is finished (status 0 or negative errno). */
TOELESS_API void toeless_backend_crc_done(toeless_cq *cq, uint64_t id, uint32_t crc, int status);
/** The device failed: every context goes to software from now on. */
TOELESS_API void toeless_backend_device_error(toeless_device *dev, int err);
/** Log through the device's log callback. */
TOELESS_API void toeless_backend_log(toeless_device *dev, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif /* TOELESS_BACKEND_H */
