/* SPDX-License-Identifier: MIT */
/*
 * Classifies a received Ethernet frame: size checks, the 802.1Q header,
 * the VLAN it belongs to on its ingress port, and whether it may be
 * switched at all. Pure (no DPDK state), so the frame fuzzer drives it
 * directly; the data plane calls it once per frame.
 */
#include <stddef.h>
#include <string.h>

#include "vswitch/vsw-internal.h"

#define ETH_HDR 14
#define VLAN_HDR 4
#define TPID_8021Q 0x8100

int
vsw_frame_parse(const uint8_t *data, uint32_t len,
		const struct vsw_vlan_tables *t, uint32_t max_frame,
		struct vsw_frame *fr)
{
	uint16_t type, vid;

	if (unlikely(len < ETH_HDR))
		return VSW_DROP_RUNT;
	fr->dst = data;
	fr->src = data + 6;
	fr->heard = false;
	/* Group bit of the source: no station sends from a group address. */
	if (unlikely(data[6] & 1))
		return VSW_DROP_BAD_SRC;
	type = (uint16_t)(data[12] << 8 | data[13]);
	if (type != TPID_8021Q) {
		if (unlikely(len > max_frame))
			return VSW_DROP_OVERSIZE;
		fr->tagged = false;
		fr->priority_tagged = false;
		fr->vid = t->untag_in;
		return fr->vid == VSW_VID_NONE ? VSW_DROP_VLAN_FILTERED : 0;
	}
	if (unlikely(len < ETH_HDR + VLAN_HDR))
		return VSW_DROP_BAD_VLAN;
	if (unlikely(len > max_frame + VLAN_HDR))
		return VSW_DROP_OVERSIZE;
	vid = (uint16_t)((data[14] << 8 | data[15]) & 0x0fff);
	if (unlikely(vid == 0x0fff))
		return VSW_DROP_BAD_VLAN;
	if (vid == 0) {
		/* 802.1p priority tag: the frame is untagged for switching. */
		fr->tagged = true;
		fr->priority_tagged = true;
		fr->vid = t->untag_in;
		return fr->vid == VSW_VID_NONE ? VSW_DROP_VLAN_FILTERED : 0;
	}
	fr->tagged = true;
	fr->priority_tagged = false;
	fr->vid = vid;
	return vsw_vid_test(t->in_tagged, vid) ? 0 : VSW_DROP_VLAN_FILTERED;
}
