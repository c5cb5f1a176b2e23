/*
 * A program built against an older header layout, run against this
 * library: the size-prefixed structs it passes are shorter than the
 * library's (as a caller compiled before fields were appended would pass
 * them), and the library must read and write only those bytes.  A canary
 * after each struct catches a write past its size.  Also the other way: a
 * newer caller's longer struct is accepted when the unknown tail is zero
 * and refused (-EINVAL) when it is not, and a fixed-size record (struct
 * toeless_ctx_params) refuses a reserved word it does not know.
 *
 * Uses only the installed API.  Exit 0 on success, 1 with a message.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <toeless.h>

#define CANARY 0xA5A5A5A5A5A5A5A5ull

static int fails;

#define CHECK(cond, ...)                                                                                               \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                           \
			fprintf(stderr, __VA_ARGS__);                                                                  \
			fputc('\n', stderr);                                                                           \
			fails++;                                                                                       \
		}                                                                                                      \
	} while (0)

/* The first fields of each struct as an older header had them. */
struct old_device_attr {
	size_t size;
	toeless_log_fn log_fn;
};

struct old_caps {
	size_t size;
	char backend[32];
	uint64_t canary;
};

struct old_stats {
	size_t size;
	uint64_t pdus_rx;
	uint64_t pdus_tx;
	uint64_t canary;
};

struct old_cq_attr {
	size_t size;
};

/* A ctx attr from before max_tasks, stream_pos and user_data. */
struct old_ctx_attr {
	size_t size;
	int fd;
	toeless_cq *cq;
	struct toeless_ctx_params params;
};

/* A newer caller: one field this library does not know. */
struct new_ctx_attr {
	struct toeless_ctx_attr a;
	uint64_t future;
};

int main(void)
{
	struct old_device_attr da = { .size = sizeof(da) };
	toeless_device *dev = NULL;
	toeless_cq *cq = NULL;
	toeless_ctx *ctx = NULL;
	int sv[2], rc;

	rc = toeless_device_open("sw", (const struct toeless_device_attr *)(void *)&da, &dev);
	CHECK(rc == 0, "device_open with a %zu-byte attr: %d", sizeof(da), rc);
	if (rc)
		return 1;

	struct old_caps caps = { .size = offsetof(struct old_caps, canary), .canary = CANARY };
	rc = toeless_device_query(dev, (struct toeless_caps *)(void *)&caps);
	CHECK(rc == 0 && strcmp(caps.backend, "sw") == 0, "query: %d backend '%s'", rc, caps.backend);
	CHECK(caps.canary == CANARY, "query wrote past an old caps struct");

	struct old_cq_attr qa = { .size = sizeof(qa) };
	rc = toeless_cq_create(dev, (const struct toeless_cq_attr *)(void *)&qa, &cq);
	CHECK(rc == 0, "cq_create with a %zu-byte attr: %d", sizeof(qa), rc);

	/* The first layout with depth: {size, depth} and 4 bytes of padding
	 * a caller may leave with any value, where pad0 is now: ignored, so
	 * the queue has its descriptor (flags lies beyond the old size). */
	struct {
		size_t size;
		uint32_t depth;
		uint32_t padding;
	} qd = { 16, 8, 0xffffffffu };
	toeless_cq *cq2 = NULL;
	rc = toeless_cq_create(dev, (const struct toeless_cq_attr *)(void *)&qd, &cq2);
	CHECK(rc == 0 && toeless_cq_fd(cq2) >= 0, "cq_create with padding garbage: %d, fd %d", rc,
	      rc ? -1 : toeless_cq_fd(cq2));
	if (!rc)
		toeless_cq_destroy(cq2);

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	struct old_ctx_attr ca = {
		.size = sizeof(ca), .fd = sv[0], .cq = cq, .params = { .flags = TOELESS_CTX_DATA_DIGEST }
	};
	rc = toeless_ctx_create(dev, (const struct toeless_ctx_attr *)(void *)&ca, &ctx);
	CHECK(rc == 0, "ctx_create with a %zu-byte attr: %d", sizeof(ca), rc);
	CHECK(toeless_ctx_user_data(ctx) == 0, "an absent user_data reads as 0");

	struct old_stats st = { .size = offsetof(struct old_stats, canary), .canary = CANARY };
	rc = toeless_ctx_stats(ctx, (struct toeless_stats *)(void *)&st);
	CHECK(rc == 0 && st.pdus_rx == 0, "ctx_stats: %d", rc);
	CHECK(st.canary == CANARY, "ctx_stats wrote past an old stats struct");
	st.canary = CANARY;
	rc = toeless_device_stats(dev, (struct toeless_stats *)(void *)&st);
	CHECK(rc == 0 && st.canary == CANARY, "device_stats: %d, canary %s", rc,
	      st.canary == CANARY ? "intact" : "overwritten");

	/* A parameter this library does not know is refused, not ignored. */
	struct toeless_ctx_params p = { .flags = 0 };
	p.reserved[0] = 1;
	CHECK(toeless_ctx_set_params(ctx, &p) == -EINVAL, "unknown parameter accepted");
	p.reserved[0] = 0;
	CHECK(toeless_ctx_set_params(ctx, &p) == 0, "set_params with known parameters");
	CHECK(toeless_ctx_destroy(ctx) == 0, "ctx_destroy");
	ctx = NULL;

	/* A newer caller: zero in the unknown tail is fine, anything else not. */
	struct new_ctx_attr na;
	memset(&na, 0, sizeof(na));
	na.a.size = sizeof(na);
	na.a.fd = sv[0];
	na.a.cq = cq;
	rc = toeless_ctx_create(dev, &na.a, &ctx);
	CHECK(rc == 0, "ctx_create with a longer, zero-tailed attr: %d", rc);
	if (ctx)
		toeless_ctx_destroy(ctx);
	ctx = NULL;
	na.future = 1;
	rc = toeless_ctx_create(dev, &na.a, &ctx);
	CHECK(rc == -EINVAL && !ctx, "ctx_create with an unknown nonzero field: %d", rc);

	CHECK(toeless_cq_destroy(cq) == 0, "cq_destroy");
	CHECK(toeless_device_close(dev) == 0, "device_close");
	close(sv[0]);
	close(sv[1]);
	if (!fails)
		printf("old-layout: every old and new struct size handled\n");
	return fails ? 1 : 0;
}
