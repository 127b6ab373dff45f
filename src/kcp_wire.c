/* kcp_wire.c — the segment header codec (docs/PROTOCOL.md) and the helpers
 * that look into a datagram without an engine. */
#include "kcp_impl.h"

static inline uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline void put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

void kcp_hdr_encode(unsigned char *p, const struct hdr *h)
{
	put32(p, h->conv);
	p[4] = h->cmd;
	p[5] = h->frg; /* stream mode: 0 but in a run-length ACK */
	p[6] = (unsigned char)h->wnd;
	p[7] = (unsigned char)(h->wnd >> 8);
	put32(p + 8, h->ts);
	put32(p + 12, h->sn);
	put32(p + 16, h->una);
	put32(p + 20, h->len);
}

bool kcp_hdr_decode(const unsigned char *p, size_t len, struct hdr *h)
{
	if (len < KCP_HEADER_SIZE)
		return false;
	h->conv = get32(p);
	h->cmd = p[4];
	h->frg = p[5];
	h->wnd = (uint16_t)(p[6] | p[7] << 8);
	h->ts = get32(p + 8);
	h->sn = get32(p + 12);
	h->una = get32(p + 16);
	h->len = get32(p + 20);
	if (h->len > len - KCP_HEADER_SIZE)
		return false;
	return h->cmd >= KCP_CMD_PUSH && h->cmd <= KCP_CMD_WINS;
}

bool kcp_peek_conv(const unsigned char *data, size_t len, uint32_t *conv)
{
	if (len < KCP_HEADER_SIZE)
		return false;
	*conv = get32(data);
	return true;
}

bool kcp_peek_opens(const unsigned char *data, size_t len)
{
	size_t off = 0;
	struct hdr h;
	while (off < len && kcp_hdr_decode(data + off, len - off, &h)) {
		if (h.cmd == KCP_CMD_PUSH && h.sn == 0)
			return true;
		off += KCP_HEADER_SIZE + (size_t)h.len;
	}
	return false;
}

bool kcp_peek_young(const unsigned char *data, size_t len, uint32_t sn_limit)
{
	size_t off = 0;
	struct hdr h;
	bool any = false;
	while (off < len && kcp_hdr_decode(data + off, len - off, &h)) {
		if (h.una != 0 || (h.cmd == KCP_CMD_PUSH && h.sn >= sn_limit))
			return false;
		any = true;
		off += KCP_HEADER_SIZE + (size_t)h.len;
	}
	return any;
}
