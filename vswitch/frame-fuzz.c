/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: received frames (vsw_frame_parse) on ports of every
 * VLAN mode, and VLAN lists (vsw_vlan_list_parse). The first input byte
 * picks the port's mode and MTU; the rest is the frame.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vswitch/vsw-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vsw_vlan_config cfg = { 0 };
	struct vsw_vlan_tables t;
	struct vsw_frame fr;
	uint64_t bits[64];
	char list[256];
	int r;

	if (size < 1)
		return 0;
	cfg.mode = (enum vsw_vlan_mode)(data[0] % VSW_VLAN_MODE_COUNT);
	cfg.tag = (uint16_t)(1 + data[0] % 100);
	if (data[0] & 0x80)
		cfg.trunks[0] = 0x0f0f0f0f0f0f0f0full;
	vsw_vlan_tables_build(&cfg, &t);
	r = vsw_frame_parse(data + 1, (uint32_t)(size - 1), &t,
			    (data[0] & 0x40) ? 9614 : 1514, &fr);
	if (r < 0 || r >= VSW_DROP_COUNT)
		__builtin_trap();
	if (r == 0) {
		if (size - 1 < 14 || fr.vid > VSW_VID_MAX)
			__builtin_trap();
		if (!vsw_vid_test(t.member, fr.vid))
			__builtin_trap(); /* accepted into a VLAN it is not in */
	}
	/* The same bytes as a VLAN list: parse, format, parse again. */
	if (size - 1 < sizeof(list)) {
		memcpy(list, data + 1, size - 1);
		list[size - 1] = '\0';
		if (vsw_vlan_list_parse(list, bits) == 0) {
			uint64_t again[64];
			char out[20000];

			vsw_vlan_list_format(bits, out, sizeof(out));
			if (vsw_vlan_list_parse(out, again) != 0 ||
			    memcmp(bits, again, sizeof(bits)))
				__builtin_trap();
		}
	}
	return 0;
}
