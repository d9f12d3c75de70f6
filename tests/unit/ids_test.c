/* Task ids: unique, in creation order, unguessable, URL-safe. */
#include <stdlib.h>

#include "daemon/ids.h"
#include "tests/harness/harness.h"

TEST(million_ids_unique_and_ordered)
{
	char prev[IDS_LEN + 1] = "";
	char id[IDS_LEN + 1];
	int64_t t = 1795925424434;
	for (int i = 0; i < 1000000; i++) {
		/* Many per millisecond, as under load. */
		if (i % 100 == 0)
			t++;
		CHECK_INT(ids_new('t', t, id, sizeof(id)), ==, 0);
		if (i == 0) {
			CHECK_INT(strlen(id), ==, IDS_LEN);
			CHECK(ids_valid('t', id));
		}
		/* Strictly increasing implies unique. */
		if (strcmp(prev, id) >= 0)
			th_fail(__FILE__, __LINE__, "id %d (%s) does not sort after %s", i, id, prev);
		memcpy(prev, id, sizeof(id));
	}
}

TEST(clock_stepping_back_keeps_order)
{
	char a[IDS_LEN + 1], b[IDS_LEN + 1], c[IDS_LEN + 1];
	CHECK_INT(ids_new('t', 2000000000000, a, sizeof(a)), ==, 0);
	CHECK_INT(ids_new('t', 1000000000000, b, sizeof(b)), ==, 0);
	CHECK_INT(strcmp(a, b), <, 0);
	/* The time part tracks the clock when it moves forward. */
	CHECK_INT(ids_new('t', 2000000000001, c, sizeof(c)), ==, 0);
	CHECK_INT(strcmp(b, c), <, 0);
	CHECK_INT(strncmp(a + 2, c + 2, 10), !=, 0);
}

TEST(random_part_differs_and_format)
{
	char a[IDS_LEN + 1], b[IDS_LEN + 1];
	CHECK_INT(ids_new('t', 3000000000000, a, sizeof(a)), ==, 0);
	CHECK_INT(ids_new('t', 3000000000005, b, sizeof(b)), ==, 0);
	/* Different milliseconds: the 16 random characters are fresh. */
	int same = 0;
	for (int i = 12; i < IDS_LEN; i++)
		same += a[i] == b[i];
	CHECK_INT(same, <, 8);
	for (int i = 2; i < IDS_LEN; i++)
		CHECK(strchr("0123456789abcdefghjkmnpqrstvwxyz", a[i]) != NULL);
	CHECK(!ids_valid('t', "t_01m8js325jc4an3q5zv8qfsmc"));  /* short */
	CHECK(!ids_valid('t', "t_01m8js325jc4an3q5zv8qfsmcI")); /* I is not base32 here */
	CHECK(!ids_valid('t', "x_01m8js325jc4an3q5zv8qfsmcr"));
	CHECK(ids_valid('t', "t_01m8js325jc4an3q5zv8qfsmcr"));
	char small[8];
	CHECK_INT(ids_new('t', 1, small, sizeof(small)), <, 0);
}
