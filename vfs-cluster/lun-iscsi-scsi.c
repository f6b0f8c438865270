/* SPDX-License-Identifier: MIT */
/*
 * The SCSI side of the iSCSI backend: building each command's libiscsi
 * task, turning status and sense into the LUN layer's errnos (with one
 * log line naming the sense key, ASC and ASCQ), and probing a LUN at
 * open: INQUIRY, READ CAPACITY(16), the block-limits and logical block
 * provisioning VPD pages, persistent reservations and COMPARE AND WRITE.
 *
 * Status and sense to errno:
 *   GOOD, CONDITION MET            bytes transferred (a short read: -EIO)
 *   RESERVATION CONFLICT           -EBADE
 *   CHECK CONDITION
 *     UNIT ATTENTION               retried (the command did not run), up
 *                                  to 8 times within its deadline
 *     MISCOMPARE                   LUN_ATS_MISCOMPARE for COMPARE AND
 *                                  WRITE, -EIO otherwise
 *     ILLEGAL REQUEST              -EINVAL; invalid operation code
 *                                  -EOPNOTSUPP, LBA out of range -ERANGE,
 *                                  logical unit not supported -ENOENT
 *     DATA PROTECT                 -EROFS; space allocation failed
 *                                  (thin provisioning) -ENOSPC
 *     anything else                -EIO
 *   BUSY, TASK SET FULL            retried after 1, 2, ... ms, then -EIO
 *   TASK ABORTED, other            -EIO
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "vfs-cluster/lun-iscsi-internal.h"

#define MAX_IO_BYTES (8u << 20)
#define MAX_UNMAP_DESCS 256
#define LOG_BURST 5

static_assert(sizeof(struct scsi_iovec) == sizeof(struct iovec),
	      "scsi_iovec and iovec differ");
static_assert(offsetof(struct scsi_iovec, iov_len) ==
		      offsetof(struct iovec, iov_len),
	      "scsi_iovec and iovec differ");

/* ---- building tasks ---- */

static uint64_t
unmap_blocks_per_desc(const struct lun_iscsi *l)
{
	return l->max_unmap_blocks ? l->max_unmap_blocks : UINT32_MAX;
}

static unsigned int
unmap_max_descs(const struct lun_iscsi *l)
{
	return l->max_unmap_descs ? MIN(l->max_unmap_descs, MAX_UNMAP_DESCS) :
				    MAX_UNMAP_DESCS;
}

bool
iscsi_unmap_fits(const struct lun_iscsi *l, const struct lun_io *io)
{
	uint64_t blocks = io->len_bytes / l->block_bytes;

	return DIV_ROUND_UP(blocks, unmap_blocks_per_desc(l)) <=
	       unmap_max_descs(l);
}

static struct scsi_task *
build_unmap(struct lun_iscsi *l, struct iscsi_cmd *cmd, iscsi_command_cb cb)
{
	struct unmap_list list[MAX_UNMAP_DESCS];
	uint64_t lba = cmd->io->offset_bytes / l->block_bytes;
	uint64_t left = cmd->io->len_bytes / l->block_bytes;
	uint64_t per = unmap_blocks_per_desc(l);
	int n = 0;

	/* iscsi_unmap_fits() was checked at submit. */
	while (left > 0 && n < MAX_UNMAP_DESCS) {
		uint64_t num = MIN(left, per);

		list[n].lba = lba;
		list[n++].num = (uint32_t)num;
		lba += num;
		left -= num;
	}
	return iscsi_unmap_task(l->iscsi, l->lun, 0, 0, list, n, cb, cmd);
}

static struct scsi_iovec *
io_iov(struct lun_io *io)
{
	/* Same layout (checked above); libiscsi adjusts an entry while it
	 * reads or writes and restores it before returning. */
	return (struct scsi_iovec *)(uintptr_t)io->iov;
}

static struct scsi_task *
build_io(struct lun_iscsi *l, struct iscsi_cmd *cmd, iscsi_command_cb cb)
{
	struct lun_io *io = cmd->io;
	uint64_t lba = io->offset_bytes / l->block_bytes;
	uint32_t len = (uint32_t)io->len_bytes;
	int bs = (int)l->block_bytes;

	switch (io->op) {
	case LUN_OP_READ:
		return iscsi_read16_iov_task(l->iscsi, l->lun, lba, len, bs, 0,
					     0, 0, 0, 0, cb, cmd, io_iov(io),
					     (int)io->iovcnt);
	case LUN_OP_WRITE:
		return iscsi_write16_iov_task(l->iscsi, l->lun, lba, NULL, len,
					      bs, 0, 0,
					      !!(io->flags & LUN_IO_FUA), 0, 0,
					      cb, cmd, io_iov(io),
					      (int)io->iovcnt);
	case LUN_OP_FLUSH:
		return iscsi_synchronizecache16_task(l->iscsi, l->lun, 0, 0, 0,
						     0, cb, cmd);
	case LUN_OP_DISCARD:
		return build_unmap(l, cmd, cb);
	}
	return NULL;
}

static struct scsi_task *
build_caw_probe(struct lun_iscsi *l, struct iscsi_cmd *cmd,
		iscsi_command_cb cb)
{
	/* COMPARE AND WRITE of zero blocks: SBC says it compares and
	 * writes nothing, so it only tells whether the opcode exists. */
	unsigned char cdb[16] = { SCSI_OPCODE_COMPARE_AND_WRITE };
	struct scsi_task *task = scsi_create_task(16, cdb, SCSI_XFER_NONE, 0);

	if (!task)
		return NULL;
	if (iscsi_scsi_command_async(l->iscsi, l->lun, task, cb, NULL,
				     cmd) != 0) {
		scsi_free_scsi_task(task);
		return NULL;
	}
	return task;
}

struct scsi_task *
iscsi_cmd_build(struct lun_iscsi *l, struct iscsi_cmd *cmd,
		iscsi_command_cb cb)
{
	struct iscsi_context *s = l->iscsi;
	int bs = (int)l->block_bytes;
	struct scsi_persistent_reserve_out_basic pr = {
		.reservation_key = cmd->arg.key,
		.service_action_reservation_key = cmd->arg.sa_key,
	};

	switch (cmd->kind) {
	case KIND_IO:
		return build_io(l, cmd, cb);
	case KIND_TUR:
		return iscsi_testunitready_task(s, l->lun, cb, cmd);
	case KIND_INQUIRY:
		return iscsi_inquiry_task(s, l->lun, cmd->arg.page >= 0,
					  MAX(cmd->arg.page, 0), 255, cb, cmd);
	case KIND_READCAP16:
		return iscsi_readcapacity16_task(s, l->lun, cb, cmd);
	case KIND_READCAP10:
		return iscsi_readcapacity10_task(s, l->lun, 0, 0, cb, cmd);
	case KIND_RSOC_ONE:
		return iscsi_report_supported_opcodes_task(
			s, l->lun, 0, SCSI_REPORT_SUPPORTING_OPCODE,
			cmd->arg.opcode, 0, 512, cb, cmd);
	case KIND_CAW_PROBE:
		return build_caw_probe(l, cmd, cb);
	case KIND_CAW:
		return iscsi_compareandwrite_iov_task(s, l->lun, cmd->arg.lba,
						      NULL, 2 * cmd->arg.len,
						      bs, 0, 0, 1, 0, 0, cb,
						      cmd, cmd->iov, 2);
	case KIND_READ:
		return iscsi_read16_iov_task(s, l->lun, cmd->arg.lba,
					     cmd->arg.len, bs, 0, 0, 0, 0, 0,
					     cb, cmd, cmd->iov, 1);
	case KIND_WRITE_FUA:
		return iscsi_write16_iov_task(s, l->lun, cmd->arg.lba, NULL,
					      cmd->arg.len, bs, 0, 0, 1, 0, 0,
					      cb, cmd, cmd->iov, 1);
	case KIND_PR_IN:
		return iscsi_persistent_reserve_in_task(s, l->lun, cmd->arg.sa,
							cmd->arg.alloc, cb,
							cmd);
	case KIND_PR_OUT:
		return iscsi_persistent_reserve_out_task(
			s, l->lun, cmd->arg.sa, SCSI_PERSISTENT_RESERVE_SCOPE_LU,
			cmd->arg.type, &pr, cb, cmd);
	}
	return NULL;
}

const char *
iscsi_cmd_name(const struct iscsi_cmd *cmd)
{
	switch (cmd->kind) {
	case KIND_IO:
		switch (cmd->io->op) {
		case LUN_OP_READ: return "READ(16)";
		case LUN_OP_WRITE: return "WRITE(16)";
		case LUN_OP_FLUSH: return "SYNCHRONIZE CACHE(16)";
		case LUN_OP_DISCARD: return "UNMAP";
		}
		break;
	case KIND_TUR: return "TEST UNIT READY";
	case KIND_INQUIRY: return "INQUIRY";
	case KIND_READCAP16: return "READ CAPACITY(16)";
	case KIND_READCAP10: return "READ CAPACITY(10)";
	case KIND_RSOC_ONE: return "REPORT SUPPORTED OPERATION CODES";
	case KIND_CAW_PROBE:
	case KIND_CAW: return "COMPARE AND WRITE";
	case KIND_READ: return "READ(16)";
	case KIND_WRITE_FUA: return "WRITE(16) FUA";
	case KIND_PR_IN: return "PERSISTENT RESERVE IN";
	case KIND_PR_OUT: return "PERSISTENT RESERVE OUT";
	}
	return "command";
}

/* ---- status and sense ---- */

bool
iscsi_cmd_retryable(const struct iscsi_cmd *cmd)
{
	if (cmd->status == SCSI_STATUS_BUSY ||
	    cmd->status == SCSI_STATUS_TASK_SET_FULL)
		return true;
	return cmd->status == SCSI_STATUS_CHECK_CONDITION &&
	       cmd->sense.key == SCSI_SENSE_UNIT_ATTENTION;
}

bool
iscsi_sense_is_pr_ua(const struct scsi_sense *sense)
{
	/* RESERVATIONS PREEMPTED, RESERVATIONS RELEASED, REGISTRATIONS
	 * PREEMPTED (SPC-4 table "ASC and ASCQ assignments") */
	return sense->key == SCSI_SENSE_UNIT_ATTENTION &&
	       (sense->ascq == 0x2a03 || sense->ascq == 0x2a04 ||
		sense->ascq == 0x2a05);
}

static int
sense_errno(const struct iscsi_cmd *cmd)
{
	const struct scsi_sense *s = &cmd->sense;

	switch ((int)s->key) {
	case SCSI_SENSE_MISCOMPARE:
		return cmd->kind == KIND_CAW ? LUN_ATS_MISCOMPARE : -EIO;
	case SCSI_SENSE_ILLEGAL_REQUEST:
		switch (s->ascq) {
		case SCSI_SENSE_ASCQ_INVALID_OPERATION_CODE: return -EOPNOTSUPP;
		case SCSI_SENSE_ASCQ_LBA_OUT_OF_RANGE: return -ERANGE;
		case SCSI_SENSE_ASCQ_LOGICAL_UNIT_NOT_SUPPORTED: return -ENOENT;
		}
		return -EINVAL;
	case SCSI_SENSE_DATA_PROTECTION:
		return s->ascq == 0x2707 ? -ENOSPC : -EROFS;
	}
	return -EIO;
}

static int64_t
good_result(const struct iscsi_cmd *cmd, const struct scsi_task *task)
{
	const struct lun_io *io = cmd->io;

	if (cmd->kind != KIND_IO)
		return 0;
	if (io->op == LUN_OP_FLUSH)
		return 0;
	if (io->op == LUN_OP_READ &&
	    task->residual_status == SCSI_RESIDUAL_UNDERFLOW &&
	    task->residual > 0)
		return -EIO;
	return (int64_t)io->len_bytes;
}

int64_t
iscsi_cmd_result(struct lun_iscsi *l, struct iscsi_cmd *cmd,
		 struct scsi_task *task)
{
	int64_t rc;

	switch (cmd->status) {
	case SCSI_STATUS_GOOD:
	case SCSI_STATUS_CONDITION_MET:
		rc = good_result(cmd, task);
		break;
	case SCSI_STATUS_RESERVATION_CONFLICT:
		rc = -EBADE;
		break;
	case SCSI_STATUS_CHECK_CONDITION:
		rc = sense_errno(cmd);
		break;
	case SCSI_STATUS_TIMEOUT:
		rc = -ETIMEDOUT;
		break;
	default:
		rc = -EIO;
		break;
	}
	/* Data commands say why they failed; probes and reservation
	 * commands are judged (and logged) by their callers. */
	if (rc < 0 && (cmd->kind == KIND_IO ||
		       ((cmd->kind == KIND_READ || cmd->kind == KIND_WRITE_FUA ||
			 cmd->kind == KIND_CAW) && rc != -EBADE)))
		iscsi_log_failure(l, cmd);
	return rc;
}

static bool
log_allowed(struct lun_iscsi *l)
{
	uint64_t now = clock_mono_ns();

	if (now - l->log_window_ns >= NS_PER_SEC) {
		if (l->log_count > LOG_BURST)
			log_err(LOG_TOPIC, "%s: %u more errors not shown",
				l->log_name, l->log_count - LOG_BURST);
		l->log_window_ns = now;
		l->log_count = 0;
	}
	return ++l->log_count <= LOG_BURST;
}

void
iscsi_log_failure(struct lun_iscsi *l, const struct iscsi_cmd *cmd)
{
	const struct scsi_sense *s = &cmd->sense;
	char where[64] = "";

	if (!log_allowed(l))
		return;
	if (cmd->kind == KIND_IO && cmd->io->op != LUN_OP_FLUSH)
		snprintf(where, sizeof(where), " at %llu+%llu",
			 (unsigned long long)cmd->io->offset_bytes,
			 (unsigned long long)cmd->io->len_bytes);
	else if (cmd->kind != KIND_IO)
		snprintf(where, sizeof(where), " at %llu+%u (ATS)",
			 (unsigned long long)(cmd->arg.lba * l->block_bytes),
			 cmd->arg.len);
	if (cmd->status == SCSI_STATUS_RESERVATION_CONFLICT)
		log_err(LOG_TOPIC, "%s: %s%s: reservation conflict (this host "
			"is not registered: fenced?)", l->log_name,
			iscsi_cmd_name(cmd), where);
	else if (cmd->status == SCSI_STATUS_CHECK_CONDITION)
		log_err(LOG_TOPIC, "%s: %s%s: sense %s (0x%x) asc/ascq "
			"0x%02x/0x%02x: %s", l->log_name, iscsi_cmd_name(cmd),
			where, scsi_sense_key_str(s->key), s->key,
			(s->ascq >> 8) & 0xff, s->ascq & 0xff,
			scsi_sense_ascq_str(s->ascq));
	else
		log_err(LOG_TOPIC, "%s: %s%s: SCSI status 0x%x", l->log_name,
			iscsi_cmd_name(cmd), where, cmd->status);
}

/* ---- probing at open ---- */

/* Runs an own command; on success the caller unmarshalls and releases. */
static int
run_probe(struct lun_iscsi *l, struct iscsi_cmd *cmd, enum cmd_kind kind,
	  int page)
{
	iscsi_cmd_init(l, cmd, kind, iscsi_deadline(l));
	cmd->arg.page = page;
	cmd->arg.opcode = SCSI_OPCODE_COMPARE_AND_WRITE;
	return iscsi_cmd_run(cmd);
}

static int
probe_inquiry(struct lun_iscsi *l)
{
	struct scsi_inquiry_standard *inq;
	struct iscsi_cmd cmd;
	int rc = run_probe(l, &cmd, KIND_INQUIRY, -1);

	if (rc < 0) {
		log_err(LOG_TOPIC, "%s: INQUIRY failed: %s", l->log_name,
			strerror(-rc));
		return rc;
	}
	inq = scsi_datain_unmarshall(cmd.task);
	if (!inq) {
		rc = -EPROTO;
	} else if (inq->qualifier != SCSI_INQUIRY_PERIPHERAL_QUALIFIER_CONNECTED ||
		   inq->device_type == SCSI_INQUIRY_PERIPHERAL_DEVICE_TYPE_UNKNOWN) {
		log_err(LOG_TOPIC, "%s: the target has no LUN %d", l->log_name,
			l->lun);
		rc = -ENOENT;
	} else if (inq->device_type !=
		   SCSI_INQUIRY_PERIPHERAL_DEVICE_TYPE_DIRECT_ACCESS) {
		log_err(LOG_TOPIC, "%s: LUN %d is a %s, not a disk",
			l->log_name, l->lun,
			scsi_devtype_to_str(inq->device_type));
		rc = -EINVAL;
	}
	iscsi_cmd_release(&cmd);
	return rc;
}

static int
check_block_size(struct lun_iscsi *l, uint32_t bs)
{
	if (bs < 512 || bs > 65536 || !IS_POW2(bs)) {
		log_err(LOG_TOPIC, "%s: unusable logical block size %u",
			l->log_name, bs);
		return -EINVAL;
	}
	return 0;
}

static int
probe_capacity(struct lun_iscsi *l, struct lun_info *info, bool *lbpme)
{
	struct iscsi_cmd cmd;
	int rc = run_probe(l, &cmd, KIND_READCAP16, 0);

	if (rc == 0) {
		struct scsi_readcapacity16 *rc16 = scsi_datain_unmarshall(cmd.task);

		if (!rc16 || check_block_size(l, rc16->block_length) < 0) {
			iscsi_cmd_release(&cmd);
			return -EPROTO;
		}
		l->block_bytes = rc16->block_length;
		info->size_bytes = (rc16->returned_lba + 1) * l->block_bytes;
		info->physical_sector_bytes =
			l->block_bytes << MIN(rc16->lbppbe, 4u);
		*lbpme = rc16->lbpme;
		iscsi_cmd_release(&cmd);
		return 0;
	}
	/* Old targets: READ CAPACITY(10), 2 TiB at most. */
	rc = run_probe(l, &cmd, KIND_READCAP10, 0);
	if (rc == 0) {
		struct scsi_readcapacity10 *rc10 = scsi_datain_unmarshall(cmd.task);

		if (!rc10 || check_block_size(l, rc10->block_size) < 0) {
			iscsi_cmd_release(&cmd);
			return -EPROTO;
		}
		l->block_bytes = rc10->block_size;
		info->size_bytes = ((uint64_t)rc10->lba + 1) * l->block_bytes;
		info->physical_sector_bytes = l->block_bytes;
		*lbpme = false;
		iscsi_cmd_release(&cmd);
		return 0;
	}
	log_err(LOG_TOPIC, "%s: READ CAPACITY failed: %s", l->log_name,
		strerror(-rc));
	return rc;
}

static bool
vpd_supported(struct lun_iscsi *l, int page)
{
	struct scsi_inquiry_supported_pages *sp;
	struct iscsi_cmd cmd;
	bool found = false;

	if (run_probe(l, &cmd, KIND_INQUIRY, 0) < 0)
		return false;
	sp = scsi_datain_unmarshall(cmd.task);
	for (int i = 0; sp && i < sp->num_pages; i++)
		if (sp->pages[i] == page)
			found = true;
	iscsi_cmd_release(&cmd);
	return found;
}

/* Block limits: largest transfer, COMPARE AND WRITE and UNMAP limits. */
static void
probe_block_limits(struct lun_iscsi *l, struct lun_info *info,
		   uint32_t *max_cmp, bool *have)
{
	struct scsi_inquiry_block_limits *bl;
	struct iscsi_cmd cmd;

	*have = false;
	info->max_io_bytes = MAX_IO_BYTES;
	if (!vpd_supported(l, SCSI_INQUIRY_PAGECODE_BLOCK_LIMITS) ||
	    run_probe(l, &cmd, KIND_INQUIRY,
		      SCSI_INQUIRY_PAGECODE_BLOCK_LIMITS) < 0)
		return;
	bl = scsi_datain_unmarshall(cmd.task);
	if (bl) {
		uint64_t max = (uint64_t)bl->max_xfer_len * l->block_bytes;

		*have = true;
		if (max && max < MAX_IO_BYTES)
			info->max_io_bytes = (uint32_t)max;
		*max_cmp = bl->max_cmp;
		l->max_unmap_blocks = bl->max_unmap == 0xffffffff ?
				      0 : bl->max_unmap;
		l->max_unmap_descs = bl->max_unmap_bdc == 0xffffffff ?
				     0 : bl->max_unmap_bdc;
	}
	iscsi_cmd_release(&cmd);
}

static bool
probe_unmap(struct lun_iscsi *l, bool lbpme)
{
	struct scsi_inquiry_logical_block_provisioning *lbp;
	struct iscsi_cmd cmd;
	bool lbpu = false;

	if (!lbpme ||
	    !vpd_supported(l, SCSI_INQUIRY_PAGECODE_LOGICAL_BLOCK_PROVISIONING) ||
	    run_probe(l, &cmd, KIND_INQUIRY,
		      SCSI_INQUIRY_PAGECODE_LOGICAL_BLOCK_PROVISIONING) < 0)
		return false;
	lbp = scsi_datain_unmarshall(cmd.task);
	lbpu = lbp && lbp->lbpu;
	iscsi_cmd_release(&cmd);
	return lbpu;
}

static bool
probe_pr(struct lun_iscsi *l)
{
	struct iscsi_cmd cmd;
	int rc;

	iscsi_cmd_init(l, &cmd, KIND_PR_IN, iscsi_deadline(l));
	cmd.arg.sa = SCSI_PERSISTENT_RESERVE_READ_KEYS;
	cmd.arg.alloc = 8;
	rc = iscsi_cmd_run(&cmd);
	iscsi_cmd_release(&cmd);
	return rc == 0;
}

/*
 * COMPARE AND WRITE: a target whose REPORT SUPPORTED OPERATION CODES says
 * no has none. A yes is not enough (tgtd 1.0.85 answers from its backing
 * store, which implements the command, while its dispatch table has it
 * disabled), so a COMPARE AND WRITE of zero blocks, which SBC defines to
 * compare and write nothing, confirms it.
 */
static bool
probe_caw(struct lun_iscsi *l, uint32_t max_cmp, bool have_limits)
{
	struct iscsi_cmd cmd;
	int rc;

	if (have_limits && max_cmp == 0)
		return false;
	rc = run_probe(l, &cmd, KIND_RSOC_ONE, 0);
	if (rc == 0) {
		const unsigned char *d = cmd.task->datain.data;
		int support = cmd.task->datain.size >= 2 ? d[1] & 7 : 0;

		iscsi_cmd_release(&cmd);
		/* SUPPORT field: 3 standard, 5 vendor specific */
		if (support != 3 && support != 5)
			return false;
	}
	rc = run_probe(l, &cmd, KIND_CAW_PROBE, 0);
	iscsi_cmd_release(&cmd);
	return rc == 0;
}

static int
choose_ats(struct lun_iscsi *l, enum lun_ats_method want,
	   enum lun_ats_method *out)
{
	switch (want) {
	case LUN_ATS_AUTO:
		*out = l->caw_supported ? LUN_ATS_COMPARE_WRITE :
		       l->pr_supported ? LUN_ATS_PR_MUTEX : LUN_ATS_NONE;
		return 0;
	case LUN_ATS_COMPARE_WRITE:
	case LUN_ATS_PR_MUTEX:
		if ((want == LUN_ATS_COMPARE_WRITE && !l->caw_supported) ||
		    (want == LUN_ATS_PR_MUTEX && !l->pr_supported)) {
			log_err(LOG_TOPIC, "%s: the target has no %s",
				l->log_name, want == LUN_ATS_PR_MUTEX ?
				"persistent reservations" :
				"COMPARE AND WRITE");
			return -EOPNOTSUPP;
		}
		*out = want;
		return 0;
	case LUN_ATS_NONE:
		*out = LUN_ATS_NONE;
		return 0;
	default:
		log_err(LOG_TOPIC, "%s: ATS method %s is not for iSCSI",
			l->log_name, lun_ats_method_name(want));
		return -EINVAL;
	}
}

static int
register_at_open(struct lun_iscsi *l, const struct lun_config *cfg)
{
	bool want = cfg->pr_key || l->base.info.ats_method == LUN_ATS_PR_MUTEX;
	uint64_t key = cfg->pr_key ? cfg->pr_key : lun_default_pr_key();
	int rc;

	if (l->read_only || !want)
		return 0;
	if (!l->pr_supported) {
		log_err(LOG_TOPIC, "%s: a PR key was given but the target "
			"has no persistent reservations", l->log_name);
		return -EOPNOTSUPP;
	}
	rc = iscsi_pr_register_key(l, key);
	if (rc < 0) {
		log_err(LOG_TOPIC, "%s: registering key 0x%llx: %s",
			l->log_name, (unsigned long long)key, strerror(-rc));
		return rc;
	}
	l->base.pr_key = key;
	l->implicit_reg = true;
	return 0;
}

int
iscsi_probe_lun(struct lun_iscsi *l, const struct lun_config *cfg)
{
	struct lun_info *info = &l->base.info;
	uint32_t max_cmp = 0;
	bool lbpme = false, have_limits;
	int rc;

	rc = probe_inquiry(l);
	if (rc < 0)
		return rc;
	rc = probe_capacity(l, info, &lbpme);
	if (rc < 0)
		return rc;
	if (info->size_bytes == 0) {
		log_err(LOG_TOPIC, "%s: empty LUN", l->log_name);
		return -EINVAL;
	}
	probe_block_limits(l, info, &max_cmp, &have_limits);
	l->max_cmp_blocks = have_limits ? max_cmp : 0;
	l->pr_supported = probe_pr(l);
	if (cfg->ats_method == LUN_ATS_AUTO ||
	    cfg->ats_method == LUN_ATS_COMPARE_WRITE)
		l->caw_supported = probe_caw(l, max_cmp, have_limits);
	rc = choose_ats(l, cfg->ats_method, &info->ats_method);
	if (rc < 0)
		return rc;
	info->scheme = "iscsi";
	info->logical_sector_bytes = l->block_bytes;
	info->buf_align = 1;
	info->queue_depth = cfg->queue_depth;
	info->caps = LUN_CAP_FUA | LUN_CAP_SHARED;
	if (l->pr_supported)
		info->caps |= LUN_CAP_PR;
	if (info->ats_method != LUN_ATS_NONE)
		info->caps |= LUN_CAP_ATS;
	if (info->ats_method == LUN_ATS_COMPARE_WRITE)
		info->caps |= LUN_CAP_COMPARE_WRITE;
	if (probe_unmap(l, lbpme))
		info->caps |= LUN_CAP_DISCARD;
	log_debug(LOG_TOPIC, "%s: %llu bytes, %u/%u byte sectors, max I/O "
		  "%u, ATS %s", l->log_name,
		  (unsigned long long)info->size_bytes, l->block_bytes,
		  info->physical_sector_bytes, info->max_io_bytes,
		  lun_ats_method_name(info->ats_method));
	return register_at_open(l, cfg);
}
