/*
 * Built by tools/test-all outside the source tree, against an installed
 * libtoeless, with nothing but
 *
 *     cc -std=c11 pkgconfig-test.c $(pkg-config --cflags --libs libtoeless)
 *
 * It proves that the installed header, library and pkg-config file are
 * enough: it opens the software device, checks a CRC32C vector (RFC 3720
 * B.4 convention) and prints the version.
 *
 * SPDX-License-Identifier: MIT
 */
#include <stdio.h>
#include <string.h>
#include <toeless.h>

int main(void)
{
	struct toeless_caps caps;
	toeless_device *dev;
	uint32_t crc;
	int rc;

	rc = toeless_device_open("sw", NULL, &dev);
	if (rc < 0) {
		fprintf(stderr, "toeless_device_open(sw): %s\n", toeless_strerror(rc));
		return 1;
	}
	memset(&caps, 0, sizeof(caps));
	caps.size = sizeof(caps);
	rc = toeless_device_query(dev, &caps);
	if (rc < 0) {
		fprintf(stderr, "toeless_device_query: %s\n", toeless_strerror(rc));
		return 1;
	}

	crc = toeless_crc32c(0, "123456789", 9);
	if (crc != 0xE3069283u) {
		fprintf(stderr, "crc32c(\"123456789\") = 0x%08X, expected 0xE3069283\n", (unsigned)crc);
		return 1;
	}
	if (toeless_version_hex() != TOELESS_VERSION_HEX) {
		fprintf(stderr, "library version %s does not match header %d.%d.%d\n", toeless_version(),
			TOELESS_VERSION_MAJOR, TOELESS_VERSION_MINOR, TOELESS_VERSION_PATCH);
		return 1;
	}

	printf("libtoeless %s, backend %s, crc32c(\"123456789\") = 0x%08X\n", toeless_version(), caps.backend,
	       (unsigned)crc);
	rc = toeless_device_close(dev);
	if (rc < 0) {
		fprintf(stderr, "toeless_device_close: %s\n", toeless_strerror(rc));
		return 1;
	}
	return 0;
}
