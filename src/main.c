#include "util/log.h"

int main(void)
{
	LOGI("kcptun-libev %s (placeholder)", KCPTUN_VERSION);
	return 0;
}
