/* Sizes and durations as flags and config files spell them. */
#include <errno.h>
#include <stdint.h>

#include "common/units.h"
#include "tests/harness/harness.h"

static uint64_t size_of(const char *text)
{
	uint64_t v = 0;
	char err[256];
	int rc = units_parse_size(text, &v, err, sizeof(err));
	if (rc < 0)
		th_fail(__FILE__, __LINE__, "size '%s' rejected: %s", text, err);
	return v;
}

static uint64_t ms_of(const char *text)
{
	uint64_t v = 0;
	char err[256];
	int rc = units_parse_duration(text, &v, err, sizeof(err));
	if (rc < 0)
		th_fail(__FILE__, __LINE__, "duration '%s' rejected: %s", text, err);
	return v;
}

TEST(sizes)
{
	CHECK_INT(size_of("0"), ==, 0);
	CHECK_INT(size_of("100"), ==, 100);
	CHECK_INT(size_of("512k"), ==, 512 * 1024);
	CHECK_INT(size_of("512K"), ==, 512 * 1024);
	CHECK_INT(size_of("1M"), ==, 1024 * 1024);
	CHECK_INT(size_of("1MB"), ==, 1024 * 1024);
	CHECK_INT(size_of("1MiB"), ==, 1024 * 1024);
	CHECK_INT(size_of("2G"), ==, 2ll * 1024 * 1024 * 1024);
	CHECK_INT(size_of("1T"), ==, 1ll << 40);
	CHECK_INT(size_of("100B"), ==, 100);
}

TEST(sizes_rejected)
{
	uint64_t v;
	char err[256];
	CHECK_INT(units_parse_size("", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_INT(units_parse_size("abc", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "'abc' is not a size");
	CHECK_INT(units_parse_size("1X", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "unknown size suffix");
	CHECK_INT(units_parse_size("-1", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_INT(units_parse_size("1.5M", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_INT(units_parse_size("1 M", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_INT(units_parse_size("1Mx", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_INT(units_parse_size("99999999999999999999", &v, err, sizeof(err)), ==, -ERANGE);
	CHECK_INT(units_parse_size("17179869184G", &v, err, sizeof(err)), ==, -ERANGE);
	CHECK_CONTAINS(err, "too large");
}

TEST(durations)
{
	CHECK_INT(ms_of("250ms"), ==, 250);
	CHECK_INT(ms_of("0s"), ==, 0);
	CHECK_INT(ms_of("30s"), ==, 30000);
	CHECK_INT(ms_of("2m"), ==, 120000);
	CHECK_INT(ms_of("1h"), ==, 3600000);
}

TEST(durations_rejected)
{
	uint64_t v;
	char err[256];
	CHECK_INT(units_parse_duration("30", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "needs a unit");
	CHECK_INT(units_parse_duration("30d", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_CONTAINS(err, "unknown unit");
	CHECK_INT(units_parse_duration("s", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_INT(units_parse_duration("1.5s", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_INT(units_parse_duration("99999999999999999h", &v, err, sizeof(err)), ==, -ERANGE);
}

TEST(format_roundtrip)
{
	char out[32];
	CHECK_STR(units_format_size(1024 * 1024, out, sizeof(out)), "1M");
	CHECK_STR(units_format_size(1536, out, sizeof(out)), "1536");
	CHECK_STR(units_format_size(512 * 1024, out, sizeof(out)), "512k");
	CHECK_STR(units_format_duration(30000, out, sizeof(out)), "30s");
	CHECK_STR(units_format_duration(1500, out, sizeof(out)), "1500ms");
	CHECK_STR(units_format_duration(7200000, out, sizeof(out)), "2h");
	CHECK_STR(units_format_duration(0, out, sizeof(out)), "0ms");
	/* Error messages are truncated, never overflowed. */
	char tiny[8];
	uint64_t v;
	CHECK_INT(units_parse_size("a-very-long-invalid-size", &v, tiny, sizeof(tiny)), ==, -EINVAL);
	CHECK_INT(strlen(tiny), ==, sizeof(tiny) - 1);
}
