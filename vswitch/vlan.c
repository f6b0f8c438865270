/* SPDX-License-Identifier: MIT */
/*
 * VLAN port modes as Open vSwitch defines them (access, trunk,
 * native-tagged, native-untagged) plus VMware's VLAN 4095 pass-through,
 * turned into the two bitmaps and two VIDs the data plane consults per
 * frame (struct vsw_vlan_tables). Also names and list syntax.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vswitch/vsw-internal.h"

static const char *const type_names[VSW_PORT_TYPE_COUNT] = {
	[VSW_PORT_NULL] = "null",
	[VSW_PORT_RING] = "ring",
	[VSW_PORT_TAP] = "tap",
	[VSW_PORT_AFPACKET] = "afpacket",
	[VSW_PORT_VHOSTUSER] = "vhostuser",
	[VSW_PORT_MEMIF] = "memif",
};

static const char *const mode_names[VSW_VLAN_MODE_COUNT] = {
	[VSW_VLAN_PASSTHROUGH] = "passthrough",
	[VSW_VLAN_ACCESS] = "access",
	[VSW_VLAN_TRUNK] = "trunk",
	[VSW_VLAN_NATIVE_TAGGED] = "native-tagged",
	[VSW_VLAN_NATIVE_UNTAGGED] = "native-untagged",
};

const char *
vsw_port_type_name(enum vsw_port_type type)
{
	return (unsigned int)type < VSW_PORT_TYPE_COUNT ? type_names[type] : "?";
}

int
vsw_port_type_parse(const char *s, enum vsw_port_type *out)
{
	for (int i = 0; i < VSW_PORT_TYPE_COUNT; i++) {
		if (!strcmp(s, type_names[i])) {
			*out = (enum vsw_port_type)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *
vsw_vlan_mode_name(enum vsw_vlan_mode mode)
{
	return (unsigned int)mode < VSW_VLAN_MODE_COUNT ? mode_names[mode] : "?";
}

int
vsw_vlan_mode_parse(const char *s, enum vsw_vlan_mode *out)
{
	for (int i = 0; i < VSW_VLAN_MODE_COUNT; i++) {
		if (!strcmp(s, mode_names[i])) {
			*out = (enum vsw_vlan_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool
vsw_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n >= VSW_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

static void
bit_set(uint64_t *bits, unsigned int vid)
{
	bits[vid >> 6] |= 1ull << (vid & 63);
}

static int
parse_vid(const char **p, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (**p < '0' || **p > '9')
		return -EINVAL;
	v = strtoul(*p, &end, 10);
	if (end == *p || v > VSW_VID_MAX)
		return -EINVAL;
	*p = end;
	*out = (unsigned int)v;
	return 0;
}

int
vsw_vlan_list_parse(const char *s, uint64_t bits[64])
{
	const char *p = s;
	unsigned int lo, hi;

	memset(bits, 0, 64 * sizeof(uint64_t));
	if (!*s || !strcmp(s, "all"))
		return 0;
	for (;;) {
		if (parse_vid(&p, &lo) < 0)
			return -EINVAL;
		hi = lo;
		if (*p == '-') {
			p++;
			if (parse_vid(&p, &hi) < 0 || hi < lo)
				return -EINVAL;
		}
		for (unsigned int v = lo; v <= hi; v++)
			bit_set(bits, v);
		if (*p == '\0')
			break;
		if (*p != ',')
			return -EINVAL;
		p++;
	}
	/* A list naming only VLAN 0 would read back as "all": refuse it. */
	for (int i = 0; i < 64; i++)
		if (bits[i] & (i ? ~0ull : ~1ull))
			return 0;
	return -EINVAL;
}

const char *
vsw_vlan_list_format(const uint64_t bits[64], char *buf, size_t len)
{
	size_t off = 0;
	bool any = false;

	buf[0] = '\0';
	for (unsigned int v = 0; v <= VSW_VID_MAX; v++) {
		unsigned int end = v;

		if (!vsw_vid_test(bits, (uint16_t)v))
			continue;
		while (end + 1 <= VSW_VID_MAX && vsw_vid_test(bits, (uint16_t)(end + 1)))
			end++;
		if (off < len) {
			int n = end > v ? snprintf(buf + off, len - off, "%s%u-%u",
						   any ? "," : "", v, end)
					: snprintf(buf + off, len - off, "%s%u",
						   any ? "," : "", v);
			off += n > 0 ? (size_t)n : 0;
		}
		any = true;
		v = end;
	}
	if (!any)
		snprintf(buf, len, "all");
	return buf;
}

int
vsw_vlan_config_build(uint32_t tag, const char *trunks, const char *mode,
		      struct vsw_vlan_config *out, char *err, size_t errlen)
{
	enum vsw_vlan_mode m;

	memset(out, 0, sizeof(*out));
	if (tag > VSW_VID_PASSTHROUGH) {
		snprintf(err, errlen, "VLAN %u out of range 1..4095", tag);
		return -EINVAL;
	}
	if (trunks && vsw_vlan_list_parse(trunks, out->trunks) < 0) {
		snprintf(err, errlen, "bad VLAN list '%s' (want e.g. 10,20-30)",
			 trunks);
		return -EINVAL;
	}
	if (mode) {
		if (vsw_vlan_mode_parse(mode, &m) < 0) {
			snprintf(err, errlen,
				 "unknown VLAN mode '%s' (access, trunk, "
				 "native-tagged, native-untagged, passthrough)",
				 mode);
			return -EINVAL;
		}
	} else if (tag == VSW_VID_PASSTHROUGH || (!tag && !trunks)) {
		m = VSW_VLAN_PASSTHROUGH;
	} else if (tag && trunks) {
		snprintf(err, errlen,
			 "a tag and a trunk list need a mode "
			 "(native-tagged or native-untagged)");
		return -EINVAL;
	} else {
		m = tag ? VSW_VLAN_ACCESS : VSW_VLAN_TRUNK;
	}
	out->mode = m;
	switch (m) {
	case VSW_VLAN_PASSTHROUGH:
		if (trunks || (tag && tag != VSW_VID_PASSTHROUGH)) {
			snprintf(err, errlen, "pass-through takes no tag or list");
			return -EINVAL;
		}
		memset(out->trunks, 0, sizeof(out->trunks));
		return 0;
	case VSW_VLAN_ACCESS:
	case VSW_VLAN_NATIVE_TAGGED:
	case VSW_VLAN_NATIVE_UNTAGGED:
		if (tag == 0 || tag > VSW_VID_MAX) {
			snprintf(err, errlen, "mode %s needs a VLAN 1..4094",
				 mode_names[m]);
			return -EINVAL;
		}
		if (m == VSW_VLAN_ACCESS && trunks) {
			snprintf(err, errlen, "an access port takes no trunk list");
			return -EINVAL;
		}
		out->tag = (uint16_t)tag;
		return 0;
	case VSW_VLAN_TRUNK:
		if (tag) {
			snprintf(err, errlen, "a trunk port takes no tag "
				 "(use native-tagged or native-untagged)");
			return -EINVAL;
		}
		return 0;
	default:
		return -EINVAL;
	}
}

static bool
list_all(const uint64_t *bits)
{
	for (int i = 0; i < 64; i++)
		if (bits[i])
			return false;
	return true;
}

/*
 * Ingress: an untagged (or priority-tagged) frame joins 'untag_in'; a
 * tagged one is accepted when its VID is in 'in_tagged'. Egress: a frame
 * of VLAN v leaves when v is in 'member', untagged iff v == 'untag_out'.
 * VLAN 0 stands for "untagged" on trunks and pass-through ports, as in
 * Open vSwitch, so untagged hosts on such ports still reach each other.
 */
void
vsw_vlan_tables_build(const struct vsw_vlan_config *cfg,
		      struct vsw_vlan_tables *t)
{
	bool all = list_all(cfg->trunks);

	memset(t, 0, sizeof(*t));
	t->untag_in = VSW_VID_NONE;
	t->untag_out = VSW_VID_NONE;
	switch (cfg->mode) {
	case VSW_VLAN_PASSTHROUGH:
		memset(t->in_tagged, 0xff, sizeof(t->in_tagged));
		t->untag_in = 0;
		t->untag_out = 0;
		break;
	case VSW_VLAN_ACCESS:
		t->untag_in = cfg->tag;
		t->untag_out = cfg->tag;
		bit_set(t->member, cfg->tag);
		return;
	case VSW_VLAN_TRUNK:
		if (all) {
			memset(t->in_tagged, 0xff, sizeof(t->in_tagged));
		} else {
			memcpy(t->in_tagged, cfg->trunks, sizeof(t->in_tagged));
		}
		if (vsw_vid_test(t->in_tagged, 0)) {
			t->untag_in = 0;
			t->untag_out = 0;
		}
		break;
	case VSW_VLAN_NATIVE_TAGGED:
	case VSW_VLAN_NATIVE_UNTAGGED:
		if (all)
			memset(t->in_tagged, 0xff, sizeof(t->in_tagged));
		else
			memcpy(t->in_tagged, cfg->trunks, sizeof(t->in_tagged));
		bit_set(t->in_tagged, cfg->tag);
		t->untag_in = cfg->tag;
		if (cfg->mode == VSW_VLAN_NATIVE_UNTAGGED)
			t->untag_out = cfg->tag;
		break;
	default:
		return;
	}
	/* VID 0 is "untagged", never a tag; 4095 is reserved. */
	t->in_tagged[0] &= ~1ull;
	t->in_tagged[63] &= ~(1ull << 63);
	memcpy(t->member, t->in_tagged, sizeof(t->member));
	if (t->untag_in != VSW_VID_NONE)
		bit_set(t->member, t->untag_in);
}
