/*
 * libtoeless - a vendor-neutral iSCSI fast path: CRC32C digests and direct
 * data placement (DDP) of Data-In payload, with the host TCP stack in charge.
 *
 * This is the only header an initiator includes.  Every function returns a
 * negative errno value on failure (see toeless_strerror()); nothing aborts and
 * nothing prints: messages go to the log callback of the device.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef TOELESS_H
#define TOELESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks a function exported from the shared library. */
#if defined(__GNUC__) && __GNUC__ >= 4
#define TOELESS_API __attribute__((visibility("default")))
#else
#define TOELESS_API
#endif

/**
 * @file toeless.h
 * @brief The public libtoeless API.
 *
 * Objects, from the outside in:
 * - a ::toeless_device is one opened engine (backend): "sw", "mock", ...;
 * - a ::toeless_cq is a completion queue with a pollable file descriptor;
 * - a ::toeless_ctx is one iSCSI connection: a connected TCP socket plus the
 *   negotiated digests and MaxRecvDataSegmentLength;
 * - an SGL post is a caller's iovec list waiting, under an Initiator Task
 *   Tag (ITT), for the Data-In payload of a read.
 *
 * Thread rules (details in doc/threading.md): device-level calls are
 * thread safe; a context is used by one thread at a time; a completion
 * queue may be fed by contexts on many threads and polled by one thread at a
 * time.  There is no global lock on the per-connection path.
 */

/** @defgroup version Version
 *  @{ */
/** Major version: changes break the API or ABI. */
#define TOELESS_VERSION_MAJOR 0
/** Minor version: new features, backwards compatible. */
#define TOELESS_VERSION_MINOR 1
/** Patch version: fixes only. */
#define TOELESS_VERSION_PATCH 0
/** The version as one comparable number: major << 16 | minor << 8 | patch. */
#define TOELESS_VERSION_HEX ((TOELESS_VERSION_MAJOR << 16) | (TOELESS_VERSION_MINOR << 8) | TOELESS_VERSION_PATCH)

/** @return the run-time library version as a string, e.g. "0.1.0". */
TOELESS_API const char *toeless_version(void);
/** @return the run-time library version as TOELESS_VERSION_HEX would. */
TOELESS_API unsigned toeless_version_hex(void);
/** @} */

/** @defgroup errors Errors and logging
 *  @{ */
/**
 * Describe an error code returned by this library.
 *
 * @param err a negative errno value returned by a libtoeless call (a
 *            positive value is accepted too).
 * @return a static string naming what went wrong in iSCSI terms (for
 *         example -EBADMSG is "digest mismatch"); never NULL.
 */
TOELESS_API const char *toeless_strerror(int err);

/** Log levels, in syslog order. */
enum toeless_log_level {
	TOELESS_LOG_ERR = 3,   /**< an operation failed */
	TOELESS_LOG_WARN = 4,  /**< something was wrong but was handled */
	TOELESS_LOG_INFO = 6,  /**< state changes: open, close, fallback */
	TOELESS_LOG_DEBUG = 7, /**< per-PDU detail */
};

/**
 * Log callback.  Called from whichever thread made the call that logs; it
 * must not call back into libtoeless.
 *
 * @param level a ::toeless_log_level
 * @param msg   a NUL-terminated message without a trailing newline
 * @param arg   the log_arg given in ::toeless_device_attr
 */
typedef void (*toeless_log_fn)(int level, const char *msg, void *arg);
/** @} */

/** @defgroup device Device
 *  @{ */
/** An opened engine.  Opaque. */
typedef struct toeless_device toeless_device;
/** A completion queue.  Opaque. */
typedef struct toeless_cq toeless_cq;
/** One iSCSI connection.  Opaque. */
typedef struct toeless_ctx toeless_ctx;
/** A registered memory region.  Opaque. */
typedef struct toeless_mr toeless_mr;

/** Environment variable that chooses the backend when the spec is "auto". */
#define TOELESS_BACKEND_ENV "TOELESS_BACKEND"

/**
 * Options for toeless_device_open().  Zero-initialise, set @c size to
 * sizeof(struct toeless_device_attr), then set what you need; fields a
 * newer library adds after @c size are taken as zero.
 */
struct toeless_device_attr {
	size_t size;           /**< sizeof(struct toeless_device_attr) */
	toeless_log_fn log_fn; /**< log callback, or NULL for silence */
	void *log_arg;         /**< passed to log_fn */
	int log_level;         /**< highest ::toeless_log_level passed to log_fn; 0 means TOELESS_LOG_WARN */
};

/**
 * Open an engine.
 *
 * @param spec which backend: "auto" (or NULL: the backend named by the
 *        TOELESS_BACKEND environment variable if set, else the best one
 *        present — "hw" when a device answers — else "sw"), "sw", "mock",
 *        "hw" or "hw:PATH", the name of an installed plugin, or a path to
 *        a plugin (anything with a '/'); "NAME:ARGS" passes
 *        backend-specific arguments (for example "mock:seed=7").
 * @param attr options, or NULL for defaults.
 * @param[out] out the new device.
 * @return 0; -EINVAL on a NULL @p out or a malformed attr; -ENOENT when no
 *         backend has that name; -ENODEV when the backend is known but its
 *         device is absent; -EPROTO when a plugin cannot be used (no
 *         entry point, another ABI version); other negative errno from the
 *         backend.
 */
TOELESS_API int toeless_device_open(const char *spec, const struct toeless_device_attr *attr, toeless_device **out);

/**
 * Close a device.
 *
 * @param dev the device.
 * @return 0; -EINVAL on NULL; -EBUSY while contexts, completion queues or
 *         memory registrations of this device still exist (nothing is
 *         closed then).
 */
TOELESS_API int toeless_device_close(toeless_device *dev);

/** Capability flags in ::toeless_caps. */
enum toeless_cap_flags {
	/** the engine inserts transmit digests into the outgoing segments (toeless_pdu_send() leaves them to it) */
	TOELESS_CAP_CRC_TX = 1u << 0,
	TOELESS_CAP_CRC_RX = 1u << 1,        /**< the engine checks receive digests */
	TOELESS_CAP_DDP = 1u << 2,           /**< the engine places Data-In payload itself */
	TOELESS_CAP_DDP_NEEDS_REG = 1u << 3, /**< engine placement only into registered memory */
	TOELESS_CAP_CRC_ASYNC = 1u << 4,     /**< asynchronous CRC requests run on the engine */
};

/**
 * What an engine can do.  Set @c size before toeless_device_query().
 * Limits are what the library enforces for this device: exceeding one is
 * an error (-E2BIG, -ENOSPC), never silent.  "Not offloaded" is a normal
 * outcome: without TOELESS_CAP_DDP every byte is still placed, by software.
 */
struct toeless_caps {
	size_t size;              /**< sizeof(struct toeless_caps) */
	char backend[32];         /**< backend name, e.g. "sw" */
	char backend_version[32]; /**< backend's own version string */
	uint32_t flags;           /**< ::toeless_cap_flags */
	uint32_t max_contexts;    /**< contexts open at once on this device */
	uint32_t max_sge;         /**< iovecs in one SGL post */
	uint32_t max_tasks;       /**< SGLs posted at once in one context */
	uint32_t max_recv_dsl;    /**< largest MaxRecvDataSegmentLength accepted */
	uint32_t sge_align;       /**< address alignment engine placement needs (1: none) */
	uint32_t max_crc_batch;   /**< requests in one toeless_crc_submit() */
	uint32_t max_cq_depth;    /**< largest completion queue depth */
};

/**
 * Query capabilities and limits.
 *
 * @param dev the device.
 * @param caps filled up to caps->size bytes.
 * @return 0; -EINVAL on NULL or a size smaller than the first field.
 */
TOELESS_API int toeless_device_query(toeless_device *dev, struct toeless_caps *caps);
/** @} */

/** @defgroup memory Memory registration
 *  @{ */
/**
 * Register memory the engine may place into.  Every backend accepts this;
 * engines that need it (TOELESS_CAP_DDP_NEEDS_REG) place only into SGEs
 * that lie inside a registration, and software places the rest.
 * Unregistered memory is always accepted in an SGL post.
 *
 * @param dev the device.
 * @param addr start of the region.
 * @param len its length, > 0.
 * @param[out] out the registration.
 * @return 0; -EINVAL on NULL/zero length; -ENOMEM; backend errors.
 */
TOELESS_API int toeless_mr_reg(toeless_device *dev, void *addr, size_t len, toeless_mr **out);

/**
 * Deregister memory.
 * @param mr the registration.
 * @return 0; -EINVAL on NULL; -EBUSY while the engine holds an SGL post
 *         that lies in the region.  Posts placed by software do not count:
 *         software needs no registration, so their buffers are the
 *         caller's to manage.
 */
TOELESS_API int toeless_mr_dereg(toeless_mr *mr);
/** @} */

/** @defgroup cq Completion queues
 *  @{ */

/** Kinds of completion. */
enum toeless_cqe_type {
	TOELESS_CQE_SGL = 1,   /**< an SGL post is finished; its buffers are the caller's again */
	TOELESS_CQE_CRC = 2,   /**< an asynchronous CRC request is finished */
	TOELESS_CQE_ERROR = 3, /**< a context failed (status says why); it can only be destroyed */
};

/** Flags in ::toeless_completion. */
enum toeless_cqe_flags {
	TOELESS_CQE_F_SCSI_STATUS = 1u << 0, /**< scsi_status and residual are valid */
	TOELESS_CQE_F_UNDERFLOW = 1u << 1,   /**< the target reported residual underflow (U bit) */
	TOELESS_CQE_F_OVERFLOW = 1u << 2,    /**< the target reported residual overflow (O bit) */
	TOELESS_CQE_F_ENGINE = 1u << 3,      /**< some bytes were placed by the engine */
};

/**
 * One completion.  A fixed-size record: fields are only ever added in place
 * of the reserved words.
 *
 * For TOELESS_CQE_SGL, @c status is 0 when every byte the target sent was
 * placed, every checked digest was good and the bytes placed are exactly
 * the ones the target's status promises (below); -ECANCELED after
 * toeless_sgl_cancel() or toeless_ctx_destroy() (see there for a post that
 * had failed before); -EBADMSG when a data digest failed (the bytes in the
 * buffers must not be used); -ERANGE when the target sent data outside the
 * SGL; -EEXIST when it sent the same bytes twice; -EIO when the SCSI
 * Response carried an iSCSI response code other than "command completed";
 * -ENODATA when the target reported a good status but the placed bytes are
 * not what it promised.  The SCSI status itself (GOOD, CHECK CONDITION) is
 * in @c scsi_status, not in @c status.
 *
 * The SGL is taken to be the expected transfer: post exactly the Expected
 * Data Transfer Length of the command.  When the task ends with SCSI status
 * GOOD (from a SCSI Response with response code 0), or with a status carried
 * by a final Data-In (S bit), and no other error was found, the placed
 * ranges must be exactly [0, E), where E is the SGL length minus the residual
 * when TOELESS_CQE_F_UNDERFLOW is set (0 when the residual exceeds the SGL
 * length), and the SGL length otherwise (overflow, O bit, included: the
 * target sent all we asked for).  Anything else — a hole, bytes at or past
 * E, a missing tail, no Data-In at all without underflow, or an SGL longer
 * than the transfer without an underflow residual that covers the
 * difference — completes with -ENODATA.  A task with residual equal to the
 * SGL length and no Data-In placed [0, 0) exactly: it completes with status
 * 0 and bytes_valid 0 ("the target had no data"), which the caller sees in
 * bytes_valid.  Other SCSI statuses (CHECK CONDITION, BUSY...) are not
 * judged: status stays 0 and the data must not be used anyway.
 *
 * @c bytes_valid is always the length n of the leading range [0, n) that was
 * placed with no hole (0 when byte 0 was not placed).  With status 0 or
 * -ENODATA those n bytes arrived with good (or not negotiated) digests and
 * may be used; with any other error they must not.
 */
struct toeless_completion {
	uint32_t type;  /**< ::toeless_cqe_type */
	int32_t status; /**< 0 or a negative errno, see above */
	uint64_t
		user_data; /**< SGL, CRC: the cookie given at post or submit; ERROR: the context's user_data (match on it, not on ctx, which may be reused after destroy) */
	toeless_ctx *ctx;  /**< the context (SGL and ERROR), or NULL */
	uint32_t itt;      /**< the task's ITT (SGL) */
	uint32_t flags;    /**< ::toeless_cqe_flags */
	uint64_t bytes_placed; /**< SGL: distinct payload bytes placed */
	uint64_t bytes_engine; /**< SGL: of which placed by the engine */
	uint32_t residual;     /**< SGL: residual count from the target */
	uint8_t scsi_status;   /**< SGL: SCSI status byte */
	uint8_t response;      /**< SGL: iSCSI response code (0 when from a Data-In) */
	uint8_t data_digest;   /**< SGL: worst ::toeless_digest_result over the task's PDUs */
	uint8_t reserved0;     /**< zero; room for a future field */
	uint32_t crc;          /**< CRC: the digest value */
	uint32_t reserved1;    /**< zero; room for a future field */
	uint64_t
		bytes_valid; /**< SGL: length of the leading range [0, n) of the SGL that was placed with no hole (see above) */
	uint64_t reserved[2]; /**< zero; room for future fields */
};

/** Flags in ::toeless_cq_attr. */
enum toeless_cq_flags {
	/**
	 * The caller polls: it calls toeless_cq_poll() itself right after the
	 * calls that can complete something (toeless_pdu_recv(),
	 * toeless_sgl_cancel(), toeless_ctx_progress(), toeless_ctx_destroy())
	 * and, while CRC requests are outstanding, until they have completed.
	 * The queue then has no descriptor: it never writes or reads an
	 * eventfd (two system calls saved per batch of completions), and
	 * toeless_cq_fd() returns -EOPNOTSUPP.  Nothing is lost: completions
	 * wait in the queue until polled, exactly as without the flag.  A
	 * completion that an engine delivers from its own thread (asynchronous
	 * CRC) is seen only by the next poll: callers that sleep in an event
	 * loop between receives should not set it.
	 */
	TOELESS_CQ_POLLED = 1u << 0,
};

/** Options for toeless_cq_create(). */
struct toeless_cq_attr {
	size_t size;       /**< sizeof(struct toeless_cq_attr) */
	uint32_t depth;    /**< initial entries (0: 1024); the queue grows rather than drop one */
	uint32_t pad0;     /**< ignored: padding in the first layout, which callers may have left unset */
	uint32_t flags;    /**< ::toeless_cq_flags (0: the descriptor is signalled); unknown bits: -EINVAL */
	uint32_t reserved; /**< zero; room for a future field */
};

/**
 * Create a completion queue.
 * @param dev the device.
 * @param attr options, or NULL for defaults.
 * @param[out] out the new queue.
 * @return 0; -EINVAL; -ENOMEM; -EMFILE when no descriptor is left.
 */
TOELESS_API int toeless_cq_create(toeless_device *dev, const struct toeless_cq_attr *attr, toeless_cq **out);

/**
 * Destroy a completion queue.
 * @param cq the queue.
 * @return 0; -EINVAL; -EBUSY while a context delivers to it or CRC requests
 *         on it are outstanding.  Unpolled completions are discarded.
 */
TOELESS_API int toeless_cq_destroy(toeless_cq *cq);

/**
 * The queue's file descriptor: readable (EPOLLIN) whenever completions wait.
 * Hand it to epoll or uv_poll; do not read or close it yourself.
 * @param cq the queue.
 * @return the descriptor; -EINVAL on NULL; -EOPNOTSUPP for a queue created
 *         with ::TOELESS_CQ_POLLED, which has none.
 */
TOELESS_API int toeless_cq_fd(toeless_cq *cq);

/**
 * Take up to @p max completions, oldest first.  Never blocks.  The caller
 * chooses the batch size.  Also lets the engine make progress (reap its
 * own completions), so poll even when the descriptor is quiet if you do not
 * use it.
 *
 * @param cq the queue.
 * @param[out] out room for @p max completions.
 * @param max the most to take.
 * @return the number taken (0 when none wait); -EINVAL on NULL or max <= 0.
 */
TOELESS_API int toeless_cq_poll(toeless_cq *cq, struct toeless_completion *out, int max);
/** @} */

/** @defgroup ctx Connection contexts
 *  @{ */

/** Flags in ::toeless_ctx_attr and ::toeless_ctx_params. */
enum toeless_ctx_flags {
	TOELESS_CTX_HEADER_DIGEST = 1u << 0, /**< HeaderDigest=CRC32C negotiated */
	TOELESS_CTX_DATA_DIGEST = 1u << 1,   /**< DataDigest=CRC32C negotiated */
};

/**
 * Negotiated connection parameters.  They can change once, after login
 * (toeless_ctx_set_params()); they apply from the next PDU on each side.
 *
 * A fixed-size record, embedded by value in ::toeless_ctx_attr and in the
 * backend's context info: it has no size field of its own (growing it would
 * move the fields after it), and new parameters only ever take the place of
 * reserved words, whose zero is the old behaviour.  A library that does not
 * know a parameter refuses a nonzero reserved word (-EINVAL).
 */
struct toeless_ctx_params {
	uint32_t flags;        /**< ::toeless_ctx_flags */
	uint32_t max_recv_dsl; /**< our MaxRecvDataSegmentLength: the most the target may send (0: 8192) */
	uint32_t max_send_dsl; /**< the target's MaxRecvDataSegmentLength: the most we may send (0: no check) */
	uint32_t reserved[5];  /**< zero; room for future parameters */
};

/** Flags in ::toeless_ctx_attr (behaviour of this library, not negotiated). */
enum toeless_ctx_attr_flags {
	/**
	 * When a readv returns part of a large data segment, set the socket's
	 * SO_RCVLOWAT to the bytes the PDU still needs (capped), and back to 1
	 * once it is complete, so that a caller waiting on the socket (epoll,
	 * uv_poll) wakes up once per PDU instead of once per TCP segment when
	 * the target sends slowly.  Costs a setsockopt() per such PDU, so it
	 * pays only with a slow sender (doc/performance.md, "Wake-ups").  A
	 * socket on which setsockopt fails is left as it is.
	 */
	TOELESS_CTX_RCVLOWAT = 1u << 0,
};

/** Options for toeless_ctx_create(). */
struct toeless_ctx_attr {
	size_t size;                      /**< sizeof(struct toeless_ctx_attr) */
	int fd;                           /**< connected TCP socket (any stream socket works for software) */
	toeless_cq *cq;                   /**< where SGL and ERROR completions go */
	struct toeless_ctx_params params; /**< negotiated parameters (zero: login defaults) */
	uint32_t max_tasks;               /**< SGL posts at once (0: 1024; at most caps.max_tasks) */
	uint64_t stream_pos;              /**< receive-stream byte position of the next PDU header */
	uint64_t user_data;               /**< returned by toeless_ctx_user_data() */
	/**
	 * Entries of a direct-indexed task table (0: none, the hash alone;
	 * else rounded up to a power of two n, at most 2^24 and at most
	 * max_tasks rounded up).  For initiators whose ITTs are small integers
	 * below n, or carry one in their low bits (a slot index under a
	 * sequence number): a post for ITT i takes entry i mod n and Data-In
	 * for it finds it in one cache line.  An ITT whose entry another
	 * outstanding ITT holds goes to the hash instead: any ITT still
	 * works, only its lookup costs what it costs without the table.
	 * Address space: about 192 bytes per entry, touched only as used.
	 */
	uint32_t itt_slots;
	uint32_t flags; /**< ::toeless_ctx_attr_flags; unknown bits: -EINVAL */
};

/**
 * Create a context for one connected socket.  The socket stays the
 * caller's: libtoeless reads and writes it but never closes it.  Make it
 * non-blocking to use toeless_pdu_recv() and toeless_pdu_send() from an event
 * loop; with a blocking socket they block.
 *
 * @param dev the device.
 * @param attr the socket, queue and negotiated parameters.
 * @param[out] out the new context.
 * @return 0; -EINVAL (NULL, fd not a stream socket, NULL cq or one of another
 *         device, params: unknown flag bits, max_recv_dsl outside 512 ..
 *         min(2^24-1, caps.max_recv_dsl), max_send_dsl above 2^24-1;
 *         max_tasks above caps.max_tasks; itt_slots above its limits;
 *         unknown flags); -ENOSPC when the
 *         device has caps.max_contexts open; -ENOMEM.
 */
TOELESS_API int toeless_ctx_create(toeless_device *dev, const struct toeless_ctx_attr *attr, toeless_ctx **out);

/**
 * Destroy a context.  Every outstanding SGL post completes on the queue
 * (the engine releases its buffers first): as -ECANCELED, except a post
 * that had already failed (a Data-In outside its SGL or over placed bytes,
 * a bad data digest), which completes with that first error (-ERANGE,
 * -EEXIST, -EBADMSG) and counts in sgl_failed, not sgl_cancelled: its
 * data was bad before it was cancelled.  toeless_sgl_cancel() does the
 * same.  A PDU half sent stays half sent.  The socket is not closed.
 * @param ctx the context.
 * @return 0; -EINVAL on NULL.
 */
TOELESS_API int toeless_ctx_destroy(toeless_ctx *ctx);

/**
 * Switch to the parameters negotiated at login (digests, data segment
 * lengths).  Call it between PDUs: after the final Login Response was
 * received and before the first full-feature PDU is sent.
 * @param ctx the context.
 * @param params the new parameters (reserved words zero).
 * @return 0; -EINVAL on bad params; -ENOTCONN when the context failed;
 *         -EBUSY while a PDU is half received or half sent, or when an engine
 *         that cannot follow the new parameters still holds SGL posts.
 */
TOELESS_API int toeless_ctx_set_params(toeless_ctx *ctx, const struct toeless_ctx_params *params);

/**
 * @param ctx the context.
 * @return the user_data given at creation (0 for NULL).
 */
TOELESS_API uint64_t toeless_ctx_user_data(const toeless_ctx *ctx);

/**
 * Let the engine finish what it owes this context without receiving.
 * Engines may release SGLs (after a cancel, or a task the target finished)
 * some time after they were asked; what they release is completed on the
 * queue during the context's own calls: toeless_pdu_recv(),
 * toeless_sgl_post(), toeless_sgl_cancel() and this one.  An initiator
 * waiting for a cancel on an otherwise idle connection calls it, for
 * example from a timer, until it returns 0.
 *
 * @param ctx the context.
 * @return the number of finished posts the engine still holds (0: every
 *         finished post has completed on the queue); -EINVAL on NULL.
 */
TOELESS_API int toeless_ctx_progress(toeless_ctx *ctx);
/** @} */

/** @defgroup sgl Direct data placement
 *  @{ */
/**
 * Pre-post the buffers of a read under its ITT.  Data-In PDUs for this ITT
 * are placed at their Buffer Offset straight into @p iov, with no
 * intermediate copy, and their data digests checked.  The buffers belong to
 * the library until the TOELESS_CQE_SGL completion for this post (status in
 * the final Data-In, a SCSI Response for the ITT, a cancel, or destroy).
 * The iovec array itself is copied; it need not outlive the call.
 *
 * @param ctx the context.
 * @param iov the buffers, in Buffer Offset order.
 * @param itt Initiator Task Tag; 0xffffffff is reserved by iSCSI.
 * @param iovcnt 1 .. caps.max_sge; every iov_len > 0.
 * @param user_data returned in the completion.
 * @return 0; -EINVAL (NULL, zero length, the reserved ITT); -ENOTCONN
 *         (the context failed); -E2BIG (more SGEs than caps.max_sge); -EEXIST (this ITT
 *         is posted, or not yet released); -ENOSPC (max_tasks posts
 *         outstanding); -ENOMEM.
 */
TOELESS_API int toeless_sgl_post(toeless_ctx *ctx, uint32_t itt, const struct iovec *iov, int iovcnt,
				 uint64_t user_data);

/**
 * Cancel a post.  Its completion (-ECANCELED, or the error the post already
 * had, as for toeless_ctx_destroy()) arrives on the queue once the engine
 * has released the buffers; the ITT can be posted again only after
 * that completion.  With software, and with an engine that lets go at once,
 * the completion is queued before this call returns; an engine that lets go
 * later hands the buffers back during a later call on this context (see
 * toeless_ctx_progress()).
 * @param ctx the context.
 * @param itt the task's ITT.
 * @return 0; -EINVAL on NULL; -ENOENT when the ITT is not posted (or is
 *         already finishing).
 */
TOELESS_API int toeless_sgl_cancel(toeless_ctx *ctx, uint32_t itt);
/** @} */

/** @defgroup pdu PDU receive and send
 *  @{ */

/** Length of an iSCSI Basic Header Segment. */
#define TOELESS_BHS_LEN 48

/** How one digest of one received PDU was checked. */
enum toeless_digest_result {
	TOELESS_DIGEST_NONE = 0,      /**< not negotiated, or no data segment */
	TOELESS_DIGEST_OK = 1,        /**< checked and good */
	TOELESS_DIGEST_UNCHECKED = 2, /**< negotiated but nobody could check it (never seen on delivery) */
	TOELESS_DIGEST_BAD = 3,       /**< checked and wrong: do not trust these bytes */
};

/** Flags in ::toeless_pdu. */
enum toeless_pdu_flags {
	TOELESS_PDU_F_PLACED = 1u << 0,    /**< the data segment went into a posted SGL (data is NULL) */
	TOELESS_PDU_F_ENGINE = 1u << 1,    /**< the engine placed the payload and checked its digests */
	TOELESS_PDU_F_TASK_DONE = 1u << 2, /**< this PDU finished a posted task (its completion is queued) */
};

/**
 * A received PDU, filled by toeless_pdu_recv().  The pointers point into the
 * context and stay valid until the next toeless_pdu_recv() or
 * toeless_ctx_destroy() on this context.
 */
struct toeless_pdu {
	uint8_t bhs[TOELESS_BHS_LEN]; /**< the Basic Header Segment as received */
	const uint8_t *ahs;           /**< Additional Header Segments, or NULL */
	uint32_t ahs_len;             /**< bytes at ahs (TotalAHSLength * 4) */
	uint32_t data_len;            /**< DataSegmentLength */
	const uint8_t *data;          /**< the data segment of a slow-path PDU; NULL when placed or empty */
	uint32_t flags;               /**< ::toeless_pdu_flags */
	uint8_t opcode;               /**< bhs[0] & 0x3f */
	uint8_t hdr_digest;           /**< ::toeless_digest_result */
	uint8_t data_digest;          /**< ::toeless_digest_result */
	uint8_t reserved0;            /**< zero; room for a future field */
	uint32_t itt;                 /**< Initiator Task Tag from the header */
	int32_t status;               /**< equal to the return value of toeless_pdu_recv() */
	uint64_t stream_pos;          /**< receive-stream byte position of this PDU's header */
	uint64_t user_data;           /**< the SGL's cookie when TOELESS_PDU_F_PLACED */
	uint64_t reserved[2];         /**< zero; room for future fields */
};

/**
 * Receive the next PDU.  Non-blocking on a non-blocking socket, and
 * resumable: call again when the socket is readable.
 *
 * Data-In for a posted ITT is placed into its SGL; every other PDU (and
 * Data-In for an ITT with no post) comes with its data segment in
 * pdu->data.  A SCSI Response, or a Data-In with the S bit, for a posted ITT
 * also completes that post on the queue.
 *
 * @param ctx the context.
 * @param[out] pdu filled when a PDU is delivered.
 * @return see below.
 *
 * Return value, also stored in pdu->status when a PDU is delivered:
 * - 0: a PDU is delivered and all is well with it.
 * - -EAGAIN: no complete PDU yet (nothing is delivered).
 * - -EBADMSG: a PDU is delivered but a digest failed (pdu->hdr_digest,
 *   pdu->data_digest say which).  Its data must not be used; a header
 *   digest failure also fails the context.
 * - -ERANGE / -EEXIST: a Data-In is delivered whose payload fell outside
 *   its SGL or over bytes already placed; the payload was discarded and the
 *   task will complete with that error.
 * - -EMSGSIZE: DataSegmentLength above our MaxRecvDataSegmentLength; the
 *   header is delivered; the context fails.
 * - -EPROTO: malformed header (AHS lengths past the header); the header is
 *   delivered; the context fails.
 * - -EPIPE: the peer closed the connection at a PDU boundary.
 * - -ECONNRESET: the peer closed mid-PDU, or the socket failed; the context
 *   fails.
 * - -ENOTCONN: the context failed earlier (its first error was queued as
 *   a TOELESS_CQE_ERROR completion); destroy it.
 * - -EINVAL: NULL argument.
 */
TOELESS_API int toeless_pdu_recv(toeless_ctx *ctx, struct toeless_pdu *pdu);

/**
 * Send one PDU: header digest, padding and data digest are computed and
 * header, AHS, data, pad and digests go out in one writev.  The library
 * writes TotalAHSLength and DataSegmentLength into its copy of @p bhs.
 *
 * If the socket takes only part of the PDU, the rest is kept and sent by
 * toeless_ctx_flush(); until then the data buffers must not change (the data
 * digest was computed over them) and no other PDU can be sent.
 *
 * On a device with #TOELESS_CAP_CRC_TX whose engine took the context, the
 * digests are left to the engine: the library sends zeros in their place
 * and the engine writes the values into the segments on the wire (counted
 * in toeless_stats.tx_digests_offloaded), also into retransmissions (it
 * keeps its records until the peer acknowledged the PDU).  The rule for
 * the data buffers is the same as without it.
 *
 * @param ctx the context.
 * @param bhs 48 bytes.
 * @param ahs NULL, or @p ahs_len bytes of Additional Header Segments.
 * @param ahs_len a multiple of 4, at most 1020.
 * @param data NULL, or @p iovcnt iovecs (any lengths, zero allowed).
 * @param iovcnt number of entries in @p data.
 * @return 0 when fully sent; -EINPROGRESS when partly sent (wait for the
 *         socket to be writable, then toeless_ctx_flush()); -EBUSY when a
 *         previous PDU is still partly sent; -EMSGSIZE when the data is longer
 *         than params.max_send_dsl; -EINVAL; -ENOTCONN (the context failed);
 *         -EPIPE/-ECONNRESET and other socket errors (the context fails).
 */
TOELESS_API int toeless_pdu_send(toeless_ctx *ctx, const uint8_t bhs[TOELESS_BHS_LEN], const void *ahs,
				 uint32_t ahs_len, const struct iovec *data, int iovcnt);

/**
 * Continue sending a partly sent PDU.
 * @param ctx the context.
 * @return 0 when nothing is left to send; -EAGAIN when the socket is still
 *         full; socket errors as toeless_pdu_send().
 */
TOELESS_API int toeless_ctx_flush(toeless_ctx *ctx);
/** @} */

/** @defgroup crc CRC32C digests
 *  @{ */
/**
 * Extend an iSCSI CRC32C digest (RFC 3720 B.4) over more bytes.  Start with
 * @p crc = 0: toeless_crc32c(0, "123456789", 9) == 0xE3069283.  Chaining
 * holds: crc(A||B) == toeless_crc32c(toeless_crc32c(0, A), B).  The value
 * goes on the wire least significant byte first.  Runs on the host
 * (isa-l) for any device: small work is cheapest synchronous.
 * @param crc the digest so far (0 to start).
 * @param buf the bytes.
 * @param len their number.
 * @return the digest over everything so far.
 */
TOELESS_API uint32_t toeless_crc32c(uint32_t crc, const void *buf, size_t len);

/**
 * toeless_crc32c() over an iovec list, chained the same way.
 * @param crc the digest so far (0 to start).
 * @param iov the buffers.
 * @param iovcnt their number.
 * @return the digest over everything so far.
 */
TOELESS_API uint32_t toeless_crc32c_iov(uint32_t crc, const struct iovec *iov, int iovcnt);

/** One asynchronous CRC request. */
struct toeless_crc_req {
	const struct iovec *iov; /**< the bytes; must stay valid and unchanged until completion */
	int iovcnt;              /**< 1 .. many */
	uint32_t seed;           /**< a previous digest to extend, or 0 */
	uint64_t user_data;      /**< returned in the TOELESS_CQE_CRC completion */
};

/**
 * Submit CRC requests; each completes on @p cq as TOELESS_CQE_CRC with the
 * digest in crc.  The engine may run them in batches.  When the engine
 * fails the submission (anything but "busy"), the host computes the
 * batch at once instead: an engine's error is never an I/O error here.
 * @param dev the device.
 * @param cq where the completions go.
 * @param reqs the requests.
 * @param n their number.
 * @return the number accepted (from 1 to n, in order; resubmit the rest
 *         later); -EINVAL on bad arguments; -EAGAIN when none could be
 *         accepted now.
 */
TOELESS_API int toeless_crc_submit(toeless_device *dev, toeless_cq *cq, const struct toeless_crc_req *reqs, int n);
/** @} */

/** @defgroup stats Counters
 *  @{ */
/**
 * Counters.  Append-only: new counters are added at the end; set @c size
 * and only that many bytes are written.  For a device they add up every
 * context it ever had.
 */
struct toeless_stats {
	size_t size; /**< sizeof(struct toeless_stats) */
	uint64_t
		pdus_rx; /**< PDUs (headers) delivered by toeless_pdu_recv(), whatever their status: also those delivered with a bad header digest, -EMSGSIZE or -EPROTO */
	uint64_t pdus_tx;              /**< PDUs fully sent */
	uint64_t bytes_rx;             /**< bytes read from the stream (headers, data, pad, digests) */
	uint64_t bytes_tx;             /**< bytes written to the stream */
	uint64_t data_in_placed;       /**< Data-In PDUs placed into posted SGLs */
	uint64_t bytes_placed_engine;  /**< payload bytes the engine placed */
	uint64_t bytes_placed_sw;      /**< payload bytes software placed (readv into the SGL) */
	uint64_t bytes_slow_path;      /**< data-segment bytes delivered in pdu->data */
	uint64_t hdr_digests_checked;  /**< header digests checked (by anyone) */
	uint64_t hdr_digest_errors;    /**< of which bad */
	uint64_t data_digests_checked; /**< data digests checked (by anyone) */
	uint64_t data_digests_engine;  /**< of which checked by the engine */
	uint64_t data_digest_errors;   /**< data digests found bad */
	uint64_t sw_fallback_pdus;     /**< Data-In PDUs of posted tasks the engine did not handle */
	uint64_t engine_post_full;     /**< posts the engine refused (exhausted): software placed them */
	uint64_t sgl_posted;           /**< SGL posts accepted */
	uint64_t sgl_completed;        /**< SGL completions with status 0 */
	uint64_t sgl_failed;           /**< SGL completions with an error other than -ECANCELED */
	uint64_t sgl_cancelled;        /**< SGL completions with -ECANCELED */
	uint64_t unknown_itt_pdus;     /**< Data-In PDUs for an ITT with no post */
	uint64_t placement_errors;     /**< Data-In outside the SGL or overlapping */
	uint64_t protocol_errors;      /**< context failures for malformed PDUs */
	uint64_t resyncs;              /**< resynchronisations confirmed to the engine */
	uint64_t engine_anomalies;     /**< duplicate or unknown engine records ignored */
	uint64_t crc_requests;         /**< asynchronous CRC requests completed */
	uint64_t recv_syscalls;        /**< read/readv calls */
	uint64_t send_syscalls;        /**< writev calls */
	uint64_t
		tx_digests_offloaded; /**< header and data digests toeless_pdu_send() left to the engine (TOELESS_CAP_CRC_TX) */
	uint64_t
		bytes_placed_engine_host; /**< of bytes_placed_engine: copied by the host's CPU on the engine's behalf (TOELESS_RX_REC_HOST_CPU: mock, skeleton), not by a device */
	uint64_t
		data_digests_engine_host; /**< of data_digests_engine: computed by the host's CPU on the engine's behalf */
};

/**
 * Counters of one context.
 * @param ctx the context.
 * @param stats filled up to stats->size bytes.
 * @return 0; -EINVAL.
 */
TOELESS_API int toeless_ctx_stats(toeless_ctx *ctx, struct toeless_stats *stats);
/**
 * Counters of a device: its closed contexts plus its open ones.
 * @param dev the device.
 * @param stats filled up to stats->size bytes.
 * @return 0; -EINVAL.
 */
TOELESS_API int toeless_device_stats(toeless_device *dev, struct toeless_stats *stats);
/** @} */

#ifdef __cplusplus
}
#endif
#endif /* TOELESS_H */
