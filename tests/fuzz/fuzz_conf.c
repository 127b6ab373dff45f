/* libFuzzer harness: arbitrary bytes into conf_parse. It must never crash,
 * over-read, leak, or leave err without a message on failure. */
#include "conf.h"
#include "util/log.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	log_set_level(LOG_LVL_FATAL); /* unknown-key warnings are expected */
	struct config *c =
	    conf_parse((const char *)data, size, "fuzz", err, sizeof(err));
	if (c == NULL) {
		if (err[0] == '\0') {
			abort(); /* every failure must explain itself */
		}
	} else if (c->mode < MODE_CLIENT || c->mode > MODE_PEER) {
		abort();
	}
	conf_free(c);
	return 0;
}
