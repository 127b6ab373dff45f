/* conf_scan.c — find where a JSON text stops being JSON.
 *
 * json-parser 1.1.0 reports the line of a syntax error but always column 0,
 * and it does not count newlines inside block comments or strings. This
 * small scanner walks the same grammar (with json-parser's leniencies:
 * trailing commas, raw control characters in strings, any escape; and its
 * quirk: a NUL byte ends the input) only to find the byte where the text
 * stops being JSON, so that the message can point at line:column.
 */
#include "conf_scan.h"

#include <string.h>

struct scan {
	const char *p, *end;
	const char *bad; /* first offending byte, NULL while fine */
	int depth;
};

static bool scan_fail(struct scan *s)
{
	if (s->bad == NULL) {
		s->bad = s->p;
	}
	return false;
}

static bool scan_space(struct scan *s)
{
	while (s->p < s->end) {
		char c = *s->p;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			s->p++;
		} else if (c == '/' && s->end - s->p >= 2 && s->p[1] == '/') {
			while (s->p < s->end && *s->p != '\n' &&
			       *s->p != '\0') {
				s->p++;
			}
			if (s->p < s->end && *s->p == '\0') {
				return scan_fail(s);
			}
		} else if (c == '/' && s->end - s->p >= 2 && s->p[1] == '*') {
			const char *start = s->p;
			s->p += 2;
			while (s->end - s->p >= 2 && s->p[0] != '\0' &&
			       !(s->p[0] == '*' && s->p[1] == '/')) {
				s->p++;
			}
			if (s->p < s->end && *s->p == '\0') {
				return scan_fail(s);
			}
			if (s->end - s->p < 2) {
				s->p = start; /* point at the opening */
				return scan_fail(s);
			}
			s->p += 2;
		} else if (c == '/') {
			return scan_fail(s);
		} else {
			break;
		}
	}
	return true;
}

static bool scan_value(struct scan *s);

static bool scan_string(struct scan *s)
{
	const char *open = s->p;
	s->p++;
	while (s->p < s->end && *s->p != '"' && *s->p != '\0') {
		if (*s->p == '\\' && s->end - s->p >= 2 && s->p[1] != '\0') {
			s->p++;
		}
		s->p++;
	}
	if (s->p >= s->end || *s->p == '\0') {
		s->p = open; /* unterminated: show where it began */
		return scan_fail(s);
	}
	s->p++;
	return true;
}

static bool scan_digits(struct scan *s)
{
	if (s->p >= s->end || *s->p < '0' || *s->p > '9') {
		return scan_fail(s);
	}
	while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
		s->p++;
	}
	return true;
}

static bool scan_number(struct scan *s)
{
	if (*s->p == '-') {
		s->p++;
	}
	if (s->p < s->end && *s->p == '0') {
		s->p++;
		if (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
			return scan_fail(s);
		}
	} else if (s->p < s->end && *s->p >= '1' && *s->p <= '9') {
		scan_digits(s);
	} else if (s->p < s->end &&
		   (*s->p == '.' || *s->p == 'e' || *s->p == 'E')) {
		return scan_fail(s); /* "-.5": a digit must come first */
	}
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		if (!scan_digits(s)) {
			return false;
		}
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-')) {
			s->p++;
		}
		if (!scan_digits(s)) {
			return false;
		}
	}
	return true;
}

static bool scan_word(struct scan *s, const char *word)
{
	size_t n = strlen(word);
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) {
		return scan_fail(s); /* point at the word, not inside it */
	}
	s->p += n;
	return true;
}

/* Object or array: open, members separated by ',', an optional trailing
 * ',', close. */
static bool scan_container(struct scan *s, bool object)
{
	const char close = object ? '}' : ']';
	if (++s->depth > 200) {
		return false; /* give up locating; no column is shown */
	}
	s->p++;
	for (;;) {
		if (!scan_space(s)) {
			return false;
		}
		if (s->p < s->end && *s->p == close) {
			s->p++;
			s->depth--;
			return true;
		}
		if (object) {
			if (s->p >= s->end || *s->p != '"') {
				return scan_fail(s);
			}
			if (!scan_string(s) || !scan_space(s)) {
				return false;
			}
			if (s->p >= s->end || *s->p != ':') {
				return scan_fail(s);
			}
			s->p++;
		}
		if (!scan_value(s) || !scan_space(s)) {
			return false;
		}
		if (s->p < s->end && *s->p == ',') {
			s->p++;
		} else if (s->p >= s->end || *s->p != close) {
			return scan_fail(s);
		}
	}
}

static bool scan_value(struct scan *s)
{
	if (!scan_space(s)) {
		return false;
	}
	if (s->p >= s->end) {
		return scan_fail(s);
	}
	switch (*s->p) {
	case '{':
		return scan_container(s, true);
	case '[':
		return scan_container(s, false);
	case '"':
		return scan_string(s);
	case 't':
		return scan_word(s, "true");
	case 'f':
		return scan_word(s, "false");
	case 'n':
		return scan_word(s, "null");
	default:
		if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) {
			return scan_number(s);
		}
		return scan_fail(s);
	}
}

/* Byte offset of the first syntax error, or -1 when the scanner cannot tell
 * (it found none, or nesting is too deep to bother). */
long conf_scan_error_at(const char *text, size_t len)
{
	struct scan s = {text, text + len, NULL, 0};
	if (scan_value(&s) && scan_space(&s) && s.p < s.end && *s.p != '\0') {
		scan_fail(&s); /* trailing garbage */
	}
	if (s.bad == NULL) {
		return -1;
	}
	return (long)(s.bad - text);
}

/* Only whitespace and comments: the user gets "empty", not a parser quirk. */
bool conf_scan_blank(const char *text, size_t len)
{
	struct scan s = {text, text + len, NULL, 0};
	return scan_space(&s) && s.p == s.end;
}
