/*
 * unit.h: the tiny assert-and-run helper shared by the unit test programs (one program per module).
 * A test is a void function; a failed CHECK prints where and why and ends that test (later tests still run).
 * unit_run prints "N passed, N failed" and returns non-zero when any test failed.
 * Usage: `test_x` runs every test; `test_x NAME...` runs only the named ones.
 */
#ifndef ROWCAST_UNIT_H
#define ROWCAST_UNIT_H

#include <stdio.h>
#include <string.h>

struct unit_test {
	const char *name;
	void (*fn)(void);
};

#define UNIT_TEST(fn) {#fn, fn}

static int unit_current_failed; /* set by a failed check in the running test */
static const char *unit_current_name;

static inline void unit_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: %s: %s\n", file, line, unit_current_name, what);
	unit_current_failed = 1;
}

/* CHECK(cond): the test fails and returns when cond is false. */
#define CHECK(cond)                                                                                  \
	do {                                                                                         \
		if (!(cond)) {                                                                       \
			unit_fail(__FILE__, __LINE__, "check failed: " #cond);                       \
			return;                                                                      \
		}                                                                                    \
	} while (0)

/* CHECK_INT(got, want): integer equality, printing both values on failure. */
#define CHECK_INT(got, want)                                                                         \
	do {                                                                                         \
		long long unit_g_ = (long long)(got), unit_w_ = (long long)(want);                   \
		if (unit_g_ != unit_w_) {                                                            \
			char unit_m_[256];                                                           \
			snprintf(unit_m_, sizeof unit_m_, "%s == %s: got %lld, want %lld", #got, #want, \
				 unit_g_, unit_w_);                                                  \
			unit_fail(__FILE__, __LINE__, unit_m_);                                      \
			return;                                                                      \
		}                                                                                    \
	} while (0)

/* CHECK_STR(got, want): string equality (NULL is only equal to NULL), printing both on failure. */
#define CHECK_STR(got, want)                                                                         \
	do {                                                                                         \
		const char *unit_g_ = (got), *unit_w_ = (want);                                      \
		if (!unit_g_ || !unit_w_ ? unit_g_ != unit_w_ : strcmp(unit_g_, unit_w_) != 0) {     \
			char unit_m_[1024];                                                          \
			snprintf(unit_m_, sizeof unit_m_, "%s: got \"%.400s\", want \"%.400s\"", #got,  \
				 unit_g_ ? unit_g_ : "(null)", unit_w_ ? unit_w_ : "(null)");       \
			unit_fail(__FILE__, __LINE__, unit_m_);                                      \
			return;                                                                      \
		}                                                                                    \
	} while (0)

/* CHECK_CONTAINS(text, part): text is non-NULL and holds part. */
#define CHECK_CONTAINS(text, part)                                                                   \
	do {                                                                                         \
		const char *unit_t_ = (text), *unit_p_ = (part);                                     \
		if (!unit_t_ || !strstr(unit_t_, unit_p_)) {                                         \
			char unit_m_[1024];                                                          \
			snprintf(unit_m_, sizeof unit_m_, "%s: \"%.400s\" does not contain \"%.400s\"", \
				 #text, unit_t_ ? unit_t_ : "(null)", unit_p_);                      \
			unit_fail(__FILE__, __LINE__, unit_m_);                                      \
			return;                                                                      \
		}                                                                                    \
	} while (0)

static inline int unit_selected(int argc, char **argv, const char *name)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

/* Runs the tests (all, or those named on the command line); returns the process exit status. */
static inline int unit_run(const struct unit_test *tests, size_t n, int argc, char **argv)
{
	int passed = 0, failed = 0;
	for (size_t i = 0; i < n; i++) {
		if (!unit_selected(argc, argv, tests[i].name))
			continue;
		unit_current_name = tests[i].name;
		unit_current_failed = 0;
		tests[i].fn();
		if (unit_current_failed) {
			failed++;
			printf("FAIL %s\n", tests[i].name);
		} else {
			passed++;
			printf("ok   %s\n", tests[i].name);
		}
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed || passed == 0 ? 1 : 0;
}

#define UNIT_MAIN(list)                                                                              \
	int main(int argc, char **argv)                                                              \
	{                                                                                            \
		return unit_run(list, sizeof list / sizeof list[0], argc, argv);                     \
	}

#endif
