/*
 * iscsi-session: CHAP in the login's security stage (RFC 7143 12.1.3 and
 * RFC 1994), one-way and mutual, with a small MD5 (RFC 1321) written here.
 *
 *   I->T  AuthMethod=CHAP
 *   T->I  AuthMethod=CHAP
 *   I->T  CHAP_A=5                                   (MD5)
 *   T->I  CHAP_A=5 CHAP_I=<id> CHAP_C=<challenge>
 *   I->T  CHAP_N=<user> CHAP_R=MD5(id|secret|challenge)
 *         mutual: CHAP_I=<our id> CHAP_C=<our challenge>, T bit set
 *   T->I  mutual: CHAP_N=<target user> CHAP_R=MD5(our id|target secret|our challenge)
 *
 * A target whose challenge is one we sent in this session is reflecting it
 * to have us compute the answer to our own question: refused.
 *
 * SPDX-License-Identifier: MIT
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iscsi_session.h"

/* ------------------------------------------------------------------------ */
/* MD5 (RFC 1321).                                                           */

static const uint32_t md5_k[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};
static const uint8_t md5_r[64] = {
	7,  12, 17, 22, 7,  12, 17, 22, 7,  12, 17, 22, 7,  12, 17, 22, 5,  9,  14, 20, 5,  9,
	14, 20, 5,  9,  14, 20, 5,  9,  14, 20, 4,  11, 16, 23, 4,  11, 16, 23, 4,  11, 16, 23,
	4,  11, 16, 23, 6,  10, 15, 21, 6,  10, 15, 21, 6,  10, 15, 21, 6,  10, 15, 21,
};

static uint32_t rol(uint32_t x, unsigned n)
{
	return x << n | x >> (32 - n);
}

static void md5_block(uint32_t h[4], const uint8_t p[64])
{
	uint32_t w[16], a = h[0], b = h[1], c = h[2], d = h[3];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
		       (uint32_t)p[4 * i + 3] << 24;
	for (int i = 0; i < 64; i++) {
		uint32_t f;
		int g;
		if (i < 16) {
			f = (b & c) | (~b & d);
			g = i;
		} else if (i < 32) {
			f = (d & b) | (~d & c);
			g = (5 * i + 1) % 16;
		} else if (i < 48) {
			f = b ^ c ^ d;
			g = (3 * i + 5) % 16;
		} else {
			f = c ^ (b | ~d);
			g = (7 * i) % 16;
		}
		uint32_t t = d;
		d = c;
		c = b;
		b = b + rol(a + f + md5_k[i] + w[g], md5_r[i]);
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
}

void md5_init(struct md5_ctx *m)
{
	m->h[0] = 0x67452301;
	m->h[1] = 0xefcdab89;
	m->h[2] = 0x98badcfe;
	m->h[3] = 0x10325476;
	m->len = 0;
}

void md5_update(struct md5_ctx *m, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t have = m->len % 64;

	m->len += len;
	if (have) {
		size_t n = 64 - have < len ? 64 - have : len;
		memcpy(m->buf + have, p, n);
		p += n;
		len -= n;
		if (have + n < 64)
			return;
		md5_block(m->h, m->buf);
	}
	for (; len >= 64; p += 64, len -= 64)
		md5_block(m->h, p);
	memcpy(m->buf, p, len);
}

void md5_final(struct md5_ctx *m, uint8_t out[16])
{
	uint64_t bits = m->len * 8;
	uint8_t pad[72] = { 0x80 };
	size_t have = m->len % 64, n = have < 56 ? 56 - have : 120 - have;

	for (int i = 0; i < 8; i++)
		pad[n + (size_t)i] = (uint8_t)(bits >> (8 * i));
	md5_update(m, pad, n + 8);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (uint8_t)(m->h[i] >> (8 * j));
}

void md5(const void *data, size_t len, uint8_t out[16])
{
	struct md5_ctx m;

	md5_init(&m);
	md5_update(&m, data, len);
	md5_final(&m, out);
}

/* ------------------------------------------------------------------------ */

/* A secret's bytes leave no copy behind: not in a stdio buffer, not in a
 * realloc'ed line, not on the stack (explicit_bzero cannot be optimised out). */
void chap_secret_free(char *secret)
{
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
}

/* RFC 3720 8.2.1 / RFC 7143 9.2.1: without IPsec (we have none) a secret
 * under 96 bits must not be used for a CHAP response; we refuse it. */
static char *secret_checked(char *secret, char *msg, size_t msglen)
{
	size_t n = strlen(secret);

	if (n < CHAP_SECRET_MIN || n > CHAP_SECRET_MAX) {
		if (n == 0)
			snprintf(msg, msglen, "the CHAP secret is empty");
		else if (n < CHAP_SECRET_MIN)
			snprintf(msg, msglen,
				 "the CHAP secret is %zu bytes, RFC 3720 8.2.1 (RFC 7143 9.2.1) wants at least %u "
				 "(96 bits) without IPsec",
				 n, CHAP_SECRET_MIN);
		else
			snprintf(msg, msglen, "the CHAP secret is longer than %u bytes", CHAP_SECRET_MAX);
		chap_secret_free(secret);
		return NULL;
	}
	return secret;
}

char *chap_secret_load(const char *path, const char *env, char *msg, size_t msglen)
{
	/* one byte more than the longest secret and its newline: a longer
	 * first line is seen as too long, not cut */
	char buf[CHAP_SECRET_MAX + 3];
	char *secret;

	if (path) {
		struct stat st;
		size_t have = 0;
		ssize_t n;
		int fd = open(path, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			snprintf(msg, msglen, "cannot open the secret file %s: %s", path, strerror(errno));
			return NULL;
		}
		if (fstat(fd, &st) == 0 && (st.st_mode & S_IROTH)) {
			snprintf(msg, msglen, "the secret file %s is readable by everyone (chmod o-r it)", path);
			close(fd);
			return NULL;
		}
		while (have < sizeof(buf) - 1 && (n = read(fd, buf + have, sizeof(buf) - 1 - have)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				snprintf(msg, msglen, "cannot read the secret file %s: %s", path, strerror(errno));
				close(fd);
				explicit_bzero(buf, sizeof(buf));
				return NULL;
			}
			have += (size_t)n;
			if (memchr(buf, '\n', have))
				break;
		}
		close(fd);
		buf[have] = 0;
		if (have == 0) {
			snprintf(msg, msglen, "the secret file %s is empty", path);
			return NULL;
		}
		buf[strcspn(buf, "\r\n")] = 0;
		if (strlen(buf) > CHAP_SECRET_MAX) {
			explicit_bzero(buf, sizeof(buf));
			snprintf(msg, msglen, "the CHAP secret in %s is longer than %u bytes", path, CHAP_SECRET_MAX);
			return NULL;
		}
		secret = strdup(buf);
		explicit_bzero(buf, sizeof(buf));
	} else {
		const char *v = env ? getenv(env) : NULL;
		if (!v) {
			snprintf(msg, msglen, "no secret: give a secret file or set %s", env ? env : "(none)");
			return NULL;
		}
		secret = strdup(v);
	}
	if (!secret) {
		snprintf(msg, msglen, "out of memory");
		return NULL;
	}
	return secret_checked(secret, msg, msglen);
}

int chap_secrets_load(struct config *cfg, const char *path, const char *target_path, char **secret,
		      char **target_secret, char *msg, size_t msglen)
{
	char why[256];

	*secret = *target_secret = NULL;
	if (!cfg->chap_user)
		return 0;
	*secret = chap_secret_load(path, "TOELESS_CHAP_SECRET", msg, msglen);
	if (!*secret)
		return -1;
	cfg->chap_secret = *secret;
	if (!target_path && !cfg->chap_target_user && !getenv("TOELESS_CHAP_TARGET_SECRET"))
		return 0;
	*target_secret = chap_secret_load(target_path, "TOELESS_CHAP_TARGET_SECRET", why, sizeof(why));
	if (!*target_secret)
		snprintf(msg, msglen, "mutual CHAP: %s", why);
	else if (!strcmp(*target_secret, *secret))
		snprintf(msg, msglen, "mutual CHAP: the target's secret must differ from ours (RFC 3720 8.2.1)");
	else {
		cfg->chap_target_secret = *target_secret;
		return 0;
	}
	chap_secret_free(*secret);
	chap_secret_free(*target_secret);
	*secret = *target_secret = NULL;
	cfg->chap_secret = cfg->chap_target_secret = NULL;
	return -1;
}

static int auth_fail(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int auth_fail(struct conn *c, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	session_fatal(c->s, EXIT_AUTH, "CHAP with %s failed: %s", c->s->cfg->target ? c->s->cfg->target : c->s->portal,
		      msg);
	return EXIT_AUTH;
}

/* "0x..." hex (RFC 7143 6.1 binary-value); base64 ("0b") is not used by targets we know. */
static int hex_decode(const char *v, uint8_t *out, size_t cap, size_t *len)
{
	size_t n;

	if (v[0] != '0' || (v[1] != 'x' && v[1] != 'X'))
		return -EINVAL;
	v += 2;
	n = strlen(v);
	if (n == 0 || n % 2 || n / 2 > cap)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned x;
		if (sscanf(v + 2 * i, "%2x", &x) != 1 || !strchr("0123456789abcdefABCDEF", v[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", v[2 * i + 1]))
			return -EINVAL;
		out[i] = (uint8_t)x;
	}
	*len = n / 2;
	return 0;
}

static void hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	*out++ = '0';
	*out++ = 'x';
	for (size_t i = 0; i < n; i++) {
		*out++ = d[p[i] >> 4];
		*out++ = d[p[i] & 15];
	}
	*out = 0;
}

/* constant time: a response compare must not say how many bytes matched */
static bool same(const uint8_t *a, const uint8_t *b, size_t n)
{
	uint8_t d = 0;

	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

static void chap_response(uint8_t id, const char *secret, const uint8_t *chal, size_t chal_len, uint8_t out[16])
{
	struct md5_ctx m;

	md5_init(&m);
	md5_update(&m, &id, 1);
	md5_update(&m, secret, strlen(secret));
	md5_update(&m, chal, chal_len);
	md5_final(&m, out);
	explicit_bzero(&m, sizeof(m)); /* its block buffer held the secret */
}

/*
 * The challenges we sent, process-wide: a target that sends one back as its
 * own, on another connection or in another session of this process (the
 * nbdkit plugin runs several), is reflecting it to have us answer our own
 * question (RFC 7143 9.2.1: the reflection attack).
 */
#define CHAP_SENT_KEEP 16
static struct {
	pthread_mutex_t lock;
	uint8_t c[CHAP_SENT_KEEP][CHAP_CHALLENGE_LEN];
	unsigned n;
} sent = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void sent_remember(const uint8_t c[CHAP_CHALLENGE_LEN])
{
	pthread_mutex_lock(&sent.lock);
	memcpy(sent.c[sent.n++ % CHAP_SENT_KEEP], c, CHAP_CHALLENGE_LEN);
	pthread_mutex_unlock(&sent.lock);
}

static bool sent_by_us(const uint8_t *c, size_t len)
{
	bool hit = false;

	if (len != CHAP_CHALLENGE_LEN)
		return false; /* a challenge of another length is no reflection of ours */
	pthread_mutex_lock(&sent.lock);
	for (unsigned i = 0; i < sent.n && i < CHAP_SENT_KEEP; i++)
		hit |= same(c, sent.c[i], CHAP_CHALLENGE_LEN);
	pthread_mutex_unlock(&sent.lock);
	return hit;
}

int chap_key(struct conn *c, const char *key, const char *value)
{
	const struct config *cfg = c->s->cfg;
	struct chap *ch = &c->login.chap;
	unsigned long id;
	char *end;

	if (!strcmp(key, "AuthMethod")) {
		if (!cfg->chap_user) {
			if (!strcmp(value, "None"))
				return 1;
			return auth_fail(c, "the target requires AuthMethod=%s: give a CHAP user and secret", value);
		}
		if (strcmp(value, "CHAP"))
			return auth_fail(c, "CHAP asked, the target answered AuthMethod=%s", value);
		return 1;
	}
	if (strncmp(key, "CHAP_", 5))
		return 0;
	if (!cfg->chap_user)
		return auth_fail(c, "the target sent %s without CHAP being negotiated", key);
	if (!strcmp(key, "CHAP_A")) {
		ch->have_a = true;
		snprintf(ch->a, sizeof(ch->a), "%s", value);
	} else if (!strcmp(key, "CHAP_I")) {
		errno = 0;
		id = strtoul(value, &end, 0);
		if (errno || end == value || *end || id > 255)
			return auth_fail(c, "bad CHAP_I=%s", value);
		ch->id = (unsigned)id;
		ch->have_i = true;
	} else if (!strcmp(key, "CHAP_C")) {
		free(ch->c);
		ch->c = malloc(CHAP_MAX_CHALLENGE);
		if (!ch->c || hex_decode(value, ch->c, CHAP_MAX_CHALLENGE, &ch->c_len))
			return auth_fail(c, "bad or too long CHAP_C (only 0x hex up to %u bytes)", CHAP_MAX_CHALLENGE);
		ch->have_c = true;
	} else if (!strcmp(key, "CHAP_N")) {
		snprintf(ch->n, sizeof(ch->n), "%s", value);
		ch->have_n = true;
	} else if (!strcmp(key, "CHAP_R")) {
		if (hex_decode(value, ch->r, sizeof(ch->r), &ch->r_len) || ch->r_len != 16)
			return auth_fail(c, "bad CHAP_R from the target");
		ch->have_r = true;
	} else {
		return auth_fail(c, "unexpected key %s", key);
	}
	return 1;
}

static int append(struct conn *c, const char *k, const char *v)
{
	struct login *l = &c->login;
	int n = snprintf(l->tx_text + l->tx_len, sizeof(l->tx_text) - l->tx_len, "%s=%s", k, v);

	if (n < 0 || (size_t)n + 1 > sizeof(l->tx_text) - l->tx_len)
		return auth_fail(c, "keys too long");
	l->tx_len += (size_t)n + 1;
	return 0;
}

int chap_step(struct conn *c, bool target_transit, bool *transit)
{
	struct session *s = c->s;
	const struct config *cfg = s->cfg;
	struct chap *ch = &c->login.chap;
	bool mutual = cfg->chap_target_secret != NULL;
	char hex[2 + 2 * CHAP_CHALLENGE_LEN + 1];
	uint8_t r[16];
	int rc = 0;

	*transit = true;
	if (!cfg->chap_user)
		return 0;
	switch (ch->step) {
	case CHAP_IDLE:
		if (target_transit)
			return auth_fail(c, "the target ended the security stage without CHAP");
		if ((rc = append(c, "CHAP_A", "5")))
			break;
		ch->step = CHAP_SENT_A;
		*transit = false;
		break;
	case CHAP_SENT_A:
		if (!ch->have_a || strcmp(ch->a, "5"))
			return auth_fail(c, "the target chose CHAP_A=%s, only 5 (MD5) is offered",
					 ch->have_a ? ch->a : "(none)");
		if (!ch->have_i || !ch->have_c || ch->c_len == 0)
			return auth_fail(c, "the target sent no CHAP_I or CHAP_C");
		/* refused before anything is computed: no response to it ever leaves */
		if (sent_by_us(ch->c, ch->c_len))
			return auth_fail(c, "the target sent back a challenge of ours (reflection)");
		if (mutual && !strcmp(cfg->chap_secret, cfg->chap_target_secret))
			return auth_fail(c, "mutual CHAP with the same secret both ways (RFC 3720 8.2.1 forbids it)");
		chap_response((uint8_t)ch->id, cfg->chap_secret, ch->c, ch->c_len, r);
		hex_encode(r, 16, hex);
		if ((rc = append(c, "CHAP_N", cfg->chap_user)) || (rc = append(c, "CHAP_R", hex)))
			break;
		if (mutual) {
			char idv[8];
			do {
				if (getrandom(ch->our_c, sizeof(ch->our_c), 0) != (ssize_t)sizeof(ch->our_c) ||
				    getrandom(&ch->our_id, 1, 0) != 1)
					return auth_fail(c, "no random bytes for our challenge");
			} while (ch->c_len == CHAP_CHALLENGE_LEN && same(ch->c, ch->our_c, CHAP_CHALLENGE_LEN));
			sent_remember(ch->our_c);
			snprintf(idv, sizeof(idv), "%u", ch->our_id);
			hex_encode(ch->our_c, CHAP_CHALLENGE_LEN, hex);
			if ((rc = append(c, "CHAP_I", idv)) || (rc = append(c, "CHAP_C", hex)))
				break;
		}
		ch->step = mutual ? CHAP_SENT_R : CHAP_DONE;
		break;
	case CHAP_SENT_R:
		/* the target's proof that it knows its secret */
		if (!ch->have_n || !ch->have_r)
			return auth_fail(c, "mutual CHAP: the target did not authenticate itself (no CHAP_N/CHAP_R; "
					    "is an outgoing account bound to it?)");
		if (cfg->chap_target_user && strcmp(ch->n, cfg->chap_target_user))
			return auth_fail(c, "mutual CHAP: the target calls itself \"%s\", expected \"%s\"", ch->n,
					 cfg->chap_target_user);
		/* RFC 3720 8.2.1: a response equal to the one we would give with our
		 * own secret is a failure, whatever else holds */
		chap_response(ch->our_id, cfg->chap_secret, ch->our_c, CHAP_CHALLENGE_LEN, r);
		if (same(r, ch->r, 16)) {
			explicit_bzero(r, sizeof(r));
			return auth_fail(c, "mutual CHAP: the target answered with our own secret's response "
					    "(reflected)");
		}
		chap_response(ch->our_id, cfg->chap_target_secret, ch->our_c, CHAP_CHALLENGE_LEN, r);
		if (!same(r, ch->r, 16)) {
			explicit_bzero(r, sizeof(r));
			return auth_fail(c, "mutual CHAP: the target's response is wrong (it does not know the "
					    "target secret we have)");
		}
		ch->step = CHAP_DONE;
		break;
	case CHAP_DONE: break;
	}
	explicit_bzero(r, sizeof(r));
	ch->have_a = ch->have_i = ch->have_c = ch->have_n = ch->have_r = false;
	return rc;
}
