/*
 * The session layer's CHAP (examples/iscsi-session/chap.c), driven key by
 * key without a network: MD5 against RFC 1321's vectors, the one-way
 * response against values computed with Python's hashlib, and the state
 * machine against targets that misbehave in mutual CHAP: a wrong response,
 * a response computed with our own secret, our own challenge sent back
 * (from another session: the record is process-wide), no CHAP_N/CHAP_R,
 * the same secret both ways.  Each must end in EXIT_AUTH before the CHAP
 * step reaches CHAP_DONE, which is what lets the login leave the security
 * stage.  And the secret loader: lengths 11 / 12 / 256 / 257, a file
 * readable by everyone, the environment, a line ending in CRLF.
 *
 * SPDX-License-Identifier: MIT
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iscsi_session.h"

struct fix {
	struct config cfg;
	struct session s;
	struct conn c;
};

static void fix_init(struct fix *f, const char *target_secret)
{
	memset(f, 0, sizeof(*f));
	f->cfg.chap_user = "alice";
	f->cfg.chap_secret = "alice-secret-12";
	f->cfg.chap_target_secret = target_secret;
	f->cfg.target = "iqn.2024-01.org.toeless:unit";
	f->s.cfg = &f->cfg;
	f->c.s = &f->s;
}

static void fix_done(struct fix *f)
{
	free(f->c.login.chap.c);
}

/* The value of KEY among the keys chap_step queued, or NULL. */
static const char *sent_key(const struct fix *f, const char *key)
{
	const struct login *l = &f->c.login;
	size_t klen = strlen(key);

	for (size_t pos = 0; pos < l->tx_len; pos += strlen(l->tx_text + pos) + 1)
		if (!strncmp(l->tx_text + pos, key, klen) && l->tx_text[pos + klen] == '=')
			return l->tx_text + pos + klen + 1;
	return NULL;
}

/* One security-stage response from the target: its keys (NULL-ended
 * key, value pairs), then chap_step; returns chap_step's result. */
static int target_says(struct fix *f, bool target_transit, ...)
{
	va_list ap;
	const char *k;
	bool transit;

	f->c.login.tx_len = 0;
	va_start(ap, target_transit);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		int rc = chap_key(&f->c, k, v);
		if (rc != 1) {
			va_end(ap);
			return rc == 0 ? -1 : rc;
		}
	}
	va_end(ap);
	return chap_step(&f->c, target_transit, &transit);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	out += sprintf(out, "0x");
	for (size_t i = 0; i < n; i++)
		out += sprintf(out, "%02x", p[i]);
}

static void unhex(const char *s, uint8_t *out, size_t n)
{
	ck_assert(s[0] == '0' && s[1] == 'x' && strlen(s) == 2 + 2 * n);
	for (size_t i = 0; i < n; i++) {
		unsigned x;
		ck_assert_int_eq(sscanf(s + 2 + 2 * i, "%2x", &x), 1);
		out[i] = (uint8_t)x;
	}
}

/* MD5(id | secret | challenge): what a target that knows SECRET answers. */
static void answer(uint8_t id, const char *secret, const uint8_t *c, size_t n, char *out)
{
	struct md5_ctx m;
	uint8_t r[16];

	md5_init(&m);
	md5_update(&m, &id, 1);
	md5_update(&m, secret, strlen(secret));
	md5_update(&m, c, n);
	md5_final(&m, r);
	hex(r, 16, out);
}

static const char chal_hex[] = "0x101112131415161718191a1b1c1d1e1f";

/* Up to the point where we answered the target and (mutual) sent ours. */
static void run_to_response(struct fix *f)
{
	ck_assert_int_eq(chap_key(&f->c, "AuthMethod", "CHAP"), 1);
	ck_assert_int_eq(target_says(f, false, NULL), 0);
	ck_assert_str_eq(sent_key(f, "CHAP_A"), "5");
	ck_assert_int_eq(target_says(f, false, "CHAP_A", "5", "CHAP_I", "1", "CHAP_C", chal_hex, NULL), 0);
	ck_assert_str_eq(sent_key(f, "CHAP_N"), "alice");
	/* hashlib.md5(bytes([1]) + b"alice-secret-12" + bytes(range(16, 32))) */
	ck_assert_str_eq(sent_key(f, "CHAP_R"), "0x4d6d84cd4262ab9731449657847e0957");
}

START_TEST(md5_rfc1321)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "0xd41d8cd98f00b204e9800998ecf8427e" },
		{ "abc", "0x900150983cd24fb0d6963f7d28e17f72" },
		{ "message digest", "0xf96b697d7cb7938d525a2f31aaf161d0" },
		{ "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
		  "0x57edf4a22be3c955ac49da2e2107b67a" },
	};
	uint8_t r[16];
	char h[40];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		md5(v[i].in, strlen(v[i].in), r);
		hex(r, 16, h);
		ck_assert_str_eq(h, v[i].out);
	}
	/* 1000 bytes fed in uneven pieces across block boundaries */
	char a[1000];
	struct md5_ctx m;
	memset(a, 'a', sizeof(a));
	md5_init(&m);
	for (size_t off = 0, step = 1; off < sizeof(a); off += step, step = step * 3 % 97 + 1)
		md5_update(&m, a + off, off + step > sizeof(a) ? sizeof(a) - off : step);
	md5_final(&m, r);
	hex(r, 16, h);
	ck_assert_str_eq(h, "0xcabe45dcc9ae5b66ba86600cca6b8ba8");
}
END_TEST

START_TEST(one_way)
{
	struct fix f;

	fix_init(&f, NULL);
	run_to_response(&f);
	ck_assert_ptr_null(sent_key(&f, "CHAP_C")); /* no challenge of ours */
	ck_assert_int_eq(f.c.login.chap.step, CHAP_DONE);
	ck_assert_int_eq(f.s.fatal, 0);
	fix_done(&f);
}
END_TEST

START_TEST(long_challenge)
{
	struct fix f;
	char c[2 + 80 + 1];

	fix_init(&f, NULL);
	ck_assert_int_eq(target_says(&f, false, NULL), 0);
	strcpy(c, "0x");
	for (int i = 0; i < 40; i++)
		strcat(c, "ab");
	ck_assert_int_eq(target_says(&f, false, "CHAP_A", "5", "CHAP_I", "200", "CHAP_C", c, NULL), 0);
	/* hashlib.md5(bytes([200]) + b"alice-secret-12" + bytes([0xab]) * 40) */
	ck_assert_str_eq(sent_key(&f, "CHAP_R"), "0xa602800b57371a18d9261fe92b1b7b28");
	fix_done(&f);
}
END_TEST

/* Mutual: the keys we sent, decoded. */
static void our_challenge(struct fix *f, uint8_t *id, uint8_t c[CHAP_CHALLENGE_LEN])
{
	const char *i = sent_key(f, "CHAP_I"), *cc = sent_key(f, "CHAP_C");

	ck_assert_ptr_nonnull(i);
	ck_assert_ptr_nonnull(cc);
	*id = (uint8_t)atoi(i);
	unhex(cc, c, CHAP_CHALLENGE_LEN);
}

/* A bad end of mutual CHAP: EXIT_AUTH, the reason, and CHAP never done. */
static void refused(struct fix *f, int rc, const char *why)
{
	ck_assert_int_eq(rc, EXIT_AUTH);
	ck_assert_int_eq(f->s.fatal, EXIT_AUTH);
	ck_assert_msg(strstr(f->s.errmsg, why), "\"%s\" lacks \"%s\"", f->s.errmsg, why);
	ck_assert_int_ne(f->c.login.chap.step, CHAP_DONE);
}

/*
 * Mutual CHAP (we expect the target to call itself "tgt" and know
 * "target-secret-34") against a target that answers our challenge as NAME
 * with MD5(our id + ID_DELTA | SECRET | our challenge), declaring the stage
 * done.  WHY NULL: accepted; else refused for WHY.
 */
static void mutual(const char *name, unsigned id_delta, const char *secret, const char *why)
{
	struct fix f;
	uint8_t id, c[CHAP_CHALLENGE_LEN], t[CHAP_CHALLENGE_LEN];
	char r[40];

	fix_init(&f, "target-secret-34");
	f.cfg.chap_target_user = "tgt";
	run_to_response(&f);
	our_challenge(&f, &id, c);
	unhex(chal_hex, t, sizeof(t));
	ck_assert(memcmp(c, t, sizeof(c)) != 0); /* never the target's challenge back (RFC 7143 12.1.3) */
	ck_assert_int_eq(f.c.login.chap.step, CHAP_SENT_R);
	answer((uint8_t)(id + id_delta), secret, c, sizeof(c), r);
	int rc = target_says(&f, true, "CHAP_N", name, "CHAP_R", r, NULL);
	if (why) {
		refused(&f, rc, why);
	} else {
		ck_assert_int_eq(rc, 0);
		ck_assert_int_eq(f.c.login.chap.step, CHAP_DONE);
		ck_assert_int_eq(f.s.fatal, 0);
	}
	fix_done(&f);
}

/* name, id delta, secret the target answers with, the refusal (NULL: accepted) */
static const struct {
	const char *name;
	unsigned id_delta;
	const char *secret, *why;
} mutual_cases[] = {
	{ "tgt", 0, "target-secret-34", NULL },
	{ "tgt", 0, "target-secret-35", "target's response is wrong" },
	{ "tgt", 1, "target-secret-34", "target's response is wrong" }, /* our id, not another */
	{ "tgt", 0, "alice-secret-12", "our own secret's response" },
	{ "someone", 0, "target-secret-34", "calls itself" },
};

START_TEST(mutual_answers)
{
	mutual(mutual_cases[_i].name, mutual_cases[_i].id_delta, mutual_cases[_i].secret, mutual_cases[_i].why);
}
END_TEST

START_TEST(mutual_no_proof)
{
	struct fix f;

	fix_init(&f, "target-secret-34");
	run_to_response(&f);
	refused(&f, target_says(&f, true, NULL), "did not authenticate itself");
	fix_done(&f);
}
END_TEST

/* Our challenge from one session, handed back by the target of another:
 * refused before any CHAP_R of ours is queued. */
START_TEST(reflection)
{
	struct fix a, b;
	uint8_t id, c[CHAP_CHALLENGE_LEN];
	char cs[40], ids[8];

	fix_init(&a, "target-secret-34");
	run_to_response(&a);
	our_challenge(&a, &id, c);
	hex(c, sizeof(c), cs);
	snprintf(ids, sizeof(ids), "%u", id);

	fix_init(&b, "target-secret-34");
	ck_assert_int_eq(target_says(&b, false, NULL), 0);
	refused(&b, target_says(&b, false, "CHAP_A", "5", "CHAP_I", ids, "CHAP_C", cs, NULL), "(reflection)");
	ck_assert_ptr_null(sent_key(&b, "CHAP_R"));
	/* the same bytes in a longer challenge are no reflection */
	struct fix d;
	fix_init(&d, "target-secret-34");
	ck_assert_int_eq(target_says(&d, false, NULL), 0);
	strcat(cs, "00");
	ck_assert_int_eq(target_says(&d, false, "CHAP_A", "5", "CHAP_I", ids, "CHAP_C", cs, NULL), 0);
	fix_done(&a);
	fix_done(&b);
	fix_done(&d);
}
END_TEST

START_TEST(same_secret_both_ways)
{
	struct fix f;

	fix_init(&f, "alice-secret-12");
	ck_assert_int_eq(target_says(&f, false, NULL), 0);
	refused(&f, target_says(&f, false, "CHAP_A", "5", "CHAP_I", "1", "CHAP_C", chal_hex, NULL), "same secret");
	ck_assert_ptr_null(sent_key(&f, "CHAP_R"));
	fix_done(&f);
}
END_TEST

START_TEST(target_skips_chap)
{
	struct fix f;

	fix_init(&f, NULL);
	refused(&f, target_says(&f, true, NULL), "ended the security stage without CHAP");
	fix_done(&f);
	fix_init(&f, NULL);
	refused(&f, chap_key(&f.c, "AuthMethod", "None"), "answered AuthMethod=None");
	fix_done(&f);
	fix_init(&f, NULL);
	ck_assert_int_eq(target_says(&f, false, NULL), 0);
	refused(&f, target_says(&f, false, "CHAP_A", "7", "CHAP_I", "1", "CHAP_C", chal_hex, NULL), "CHAP_A=7");
	fix_done(&f);
}
END_TEST

/* ---- the secret loader ---- */

static char dir[64];

static const char *secret_file(const char *content, mode_t mode)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/s", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(content, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static void setup(void)
{
	strcpy(dir, "/tmp/check_chap.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/s", dir);
	unlink(path);
	rmdir(dir);
}

START_TEST(secret_lengths)
{
	char msg[300], s[300], line[300];
	char *got;

	/* 11 bytes: under RFC 3720 8.2.1's 96 bits */
	got = chap_secret_load(secret_file("0123456789a\n", 0600), NULL, msg, sizeof(msg));
	ck_assert_ptr_null(got);
	ck_assert_msg(strstr(msg, "is 11 bytes") && strstr(msg, "at least 12"), "%s", msg);
	/* 12: taken, CRLF removed */
	got = chap_secret_load(secret_file("0123456789ab\r\nsecond line\n", 0600), NULL, msg, sizeof(msg));
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, "0123456789ab");
	chap_secret_free(got);
	/* 256 without a newline: taken */
	memset(s, 'x', 256);
	s[256] = 0;
	got = chap_secret_load(secret_file(s, 0600), NULL, msg, sizeof(msg));
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(strlen(got), 256);
	chap_secret_free(got);
	/* 257, with a newline: refused, not cut */
	memset(line, 'x', 257);
	strcpy(line + 257, "\n");
	got = chap_secret_load(secret_file(line, 0600), NULL, msg, sizeof(msg));
	ck_assert_ptr_null(got);
	ck_assert_msg(strstr(msg, "longer than 256"), "%s", msg);
	/* the environment: the same limits */
	setenv("CHECK_CHAP_SECRET", "short", 1);
	ck_assert_ptr_null(chap_secret_load(NULL, "CHECK_CHAP_SECRET", msg, sizeof(msg)));
	ck_assert_msg(strstr(msg, "at least 12"), "%s", msg);
	line[257] = 0;
	setenv("CHECK_CHAP_SECRET", line, 1);
	ck_assert_ptr_null(chap_secret_load(NULL, "CHECK_CHAP_SECRET", msg, sizeof(msg)));
	ck_assert_msg(strstr(msg, "longer than 256"), "%s", msg);
	setenv("CHECK_CHAP_SECRET", "from-the-environment", 1);
	got = chap_secret_load(NULL, "CHECK_CHAP_SECRET", msg, sizeof(msg));
	ck_assert_str_eq(got, "from-the-environment");
	chap_secret_free(got);
	unsetenv("CHECK_CHAP_SECRET");
	ck_assert_ptr_null(chap_secret_load(NULL, "CHECK_CHAP_SECRET", msg, sizeof(msg)));
	ck_assert_msg(strstr(msg, "CHECK_CHAP_SECRET"), "%s", msg);
	/* empty, readable by everyone */
	ck_assert_ptr_null(chap_secret_load(secret_file("", 0600), NULL, msg, sizeof(msg)));
	ck_assert_msg(strstr(msg, "empty"), "%s", msg);
	ck_assert_ptr_null(chap_secret_load(secret_file("0123456789abcdef\n", 0644), NULL, msg, sizeof(msg)));
	ck_assert_msg(strstr(msg, "readable by everyone"), "%s", msg);
}
END_TEST

START_TEST(secrets_pair)
{
	struct config cfg;
	char msg[300], *a, *b;

	memset(&cfg, 0, sizeof(cfg));
	unsetenv("TOELESS_CHAP_TARGET_SECRET");
	/* no user: nothing loaded, no error */
	setenv("TOELESS_CHAP_SECRET", "0123456789ab", 1);
	ck_assert_int_eq(chap_secrets_load(&cfg, NULL, NULL, &a, &b, msg, sizeof(msg)), 0);
	ck_assert_ptr_null(a);
	ck_assert_ptr_null(cfg.chap_secret);
	/* one-way */
	cfg.chap_user = "alice";
	ck_assert_int_eq(chap_secrets_load(&cfg, NULL, NULL, &a, &b, msg, sizeof(msg)), 0);
	ck_assert_str_eq(cfg.chap_secret, "0123456789ab");
	ck_assert_ptr_null(cfg.chap_target_secret);
	chap_secret_free(a);
	/* the same secret both ways: refused, nothing held */
	memset(&cfg, 0, sizeof(cfg));
	cfg.chap_user = "alice";
	setenv("TOELESS_CHAP_TARGET_SECRET", "0123456789ab", 1);
	ck_assert_int_eq(chap_secrets_load(&cfg, NULL, NULL, &a, &b, msg, sizeof(msg)), -1);
	ck_assert_msg(strstr(msg, "must differ"), "%s", msg);
	ck_assert_ptr_null(a);
	ck_assert_ptr_null(b);
	ck_assert_ptr_null(cfg.chap_secret);
	/* mutual, a short target secret: its own reason */
	setenv("TOELESS_CHAP_TARGET_SECRET", "short", 1);
	ck_assert_int_eq(chap_secrets_load(&cfg, NULL, NULL, &a, &b, msg, sizeof(msg)), -1);
	ck_assert_msg(strstr(msg, "mutual CHAP: ") && strstr(msg, "at least 12"), "%s", msg);
	/* mutual */
	setenv("TOELESS_CHAP_TARGET_SECRET", "0123456789abc", 1);
	ck_assert_int_eq(chap_secrets_load(&cfg, NULL, NULL, &a, &b, msg, sizeof(msg)), 0);
	ck_assert_str_eq(cfg.chap_target_secret, "0123456789abc");
	chap_secret_free(a);
	chap_secret_free(b);
	unsetenv("TOELESS_CHAP_SECRET");
	unsetenv("TOELESS_CHAP_TARGET_SECRET");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("chap");
	TCase *t = tcase_create("state machine");
	TCase *l = tcase_create("secrets");
	SRunner *r;
	int failed;

	tcase_add_test(t, md5_rfc1321);
	tcase_add_test(t, one_way);
	tcase_add_test(t, long_challenge);
	tcase_add_loop_test(t, mutual_answers, 0, (int)(sizeof(mutual_cases) / sizeof(mutual_cases[0])));
	tcase_add_test(t, mutual_no_proof);
	tcase_add_test(t, reflection);
	tcase_add_test(t, same_secret_both_ways);
	tcase_add_test(t, target_skips_chap);
	suite_add_tcase(s, t);
	tcase_add_checked_fixture(l, setup, teardown);
	tcase_add_test(l, secret_lengths);
	tcase_add_test(l, secrets_pair);
	suite_add_tcase(s, l);
	r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
