/* loadgen's shared state and the helpers more than one mode uses. */
#include "loadgen.h"
#include "syncio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct lg_options lg;
unsigned char lg_rbuf[LG_BUF_SIZE], lg_xbuf[LG_BUF_SIZE];

int lg_connect_or_report(void)
{
	int fd = syncio_connect(&lg.addr, lg.deadline);
	if (fd < 0)
		printf("loadgen: connect: %s\n", strerror(errno));
	return fd;
}

int lg_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}
