/* SPDX-License-Identifier: MIT */
/*
 * Shared by the iSCSI backend's files only: lun-iscsi.c (open, close,
 * the lun_ops entry points), lun-iscsi-session.c (sessions and the event
 * loop), lun-iscsi-url.c (URL checks), lun-iscsi-scsi.c (building
 * commands, sense mapping, probing the LUN), lun-iscsi-pr.c (persistent
 * reservations and ATS).
 *
 * Every SCSI command this backend sends, whether a caller's lun_io or one
 * of its own (probes, reservations, the steps of an ATS), is a 'struct
 * iscsi_cmd' that sits on exactly one list of the handle:
 *
 *   queued    waiting for the session (down, logging in, or a retry
 *             delay after BUSY or a unit attention)
 *   sent      handed to libiscsi (its task exists)
 *   completed finished, result set; callers' I/O waits here for
 *             lun_poll() to run done(), own commands are settled at once
 *
 * libiscsi never reconnects by itself (it would replay writes on a new
 * session with a new ISID): this backend tears sessions down and builds
 * new ones, deciding per command what a lost connection means.
 */
#ifndef VFS_LUN_ISCSI_INTERNAL_H
#define VFS_LUN_ISCSI_INTERNAL_H

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "vfs-cluster/lun-provider.h"

#define LOG_TOPIC "vfs.lun.iscsi"
/* READ KEYS allocation: the 16-bit maximum, 8190 keys. */
#define PR_KEYS_ALLOC (8 + 8 * 8190)

enum cmd_where {
	CMD_FREE = 0,
	CMD_QUEUED,
	CMD_SENT,
	CMD_COMPLETED,
};

/* What an own (non-lun_io) command is; selects how its task is built. */
enum cmd_kind {
	KIND_IO = 0,          /* a caller's lun_io */
	KIND_TUR,
	KIND_INQUIRY,         /* arg.page: -1 standard, else a VPD page */
	KIND_READCAP16,
	KIND_READCAP10,
	KIND_RSOC_ONE,        /* REPORT SUPPORTED OPCODES for arg.opcode */
	KIND_CAW_PROBE,       /* COMPARE AND WRITE of zero blocks */
	KIND_CAW,             /* arg.lba, data in iov[0..1] */
	KIND_READ,            /* arg.lba, iov[0] */
	KIND_WRITE_FUA,       /* arg.lba, iov[0] */
	KIND_PR_IN,           /* arg.sa, arg.alloc */
	KIND_PR_OUT,          /* arg.sa, arg.type, arg.key, arg.sa_key */
};

struct lun_iscsi;

struct iscsi_cmd {
	struct lun_iscsi *l;
	struct iscsi_cmd *prev, *next;
	struct scsi_task *task;       /* while sent; own commands keep it */
	struct lun_io *io;            /* KIND_IO */
	enum cmd_kind kind;
	uint8_t where;                /* enum cmd_where */
	uint8_t retries;              /* unit attentions, busy */
	bool setup;                   /* may be sent while logging in */
	bool abort_on_pr_ua;          /* being preempted fails it */
	uint32_t tx_epoch;            /* l->tx_epoch when handed over */
	uint64_t deadline_ns;
	uint64_t not_before_ns;       /* retry delay */
	int status;                   /* SCSI status when completed */
	struct scsi_sense sense;
	int64_t result;               /* bytes or -errno */
	/* Own commands: called once completed (NULL: a sync waiter). */
	void (*on_done)(struct iscsi_cmd *cmd);
	struct {
		int page;
		uint8_t opcode;
		int sa;
		int type;
		uint64_t lba;
		uint32_t len;         /* bytes of data */
		uint16_t alloc;
		uint64_t key, sa_key;
	} arg;
	struct scsi_iovec iov[2];
};

struct cmd_list {
	struct iscsi_cmd *head, *tail;
	unsigned int n;
};

enum session_state {
	SESS_DOWN,        /* no session; reconnect when work arrives */
	SESS_CONNECTING,  /* TCP connect and login in progress */
	SESS_SETUP,       /* logged in: clearing unit attentions, PR */
	SESS_UP,
	SESS_DEAD,        /* lost with no_reconnect: everything -ENOTCONN */
};

struct lun_iscsi {
	struct lun base;
	char *url;               /* as given, may hold a CHAP password */
	char *log_name;          /* the URL without the password */
	char portal[MAX_STRING_SIZE + 1];
	char initiator[224];
	int lun;
	uint32_t isid_rnd;       /* ISID kept across reconnects */
	uint16_t isid_qual;
	/* from lun_config */
	uint64_t io_timeout_ns;
	bool no_reconnect;
	bool read_only;
	/* geometry and features */
	uint32_t block_bytes;
	bool caw_supported;
	bool pr_supported;
	uint32_t max_cmp_blocks;     /* COMPARE AND WRITE; 0: unknown */
	uint32_t max_unmap_blocks;   /* 0: no limit given */
	uint32_t max_unmap_descs;
	/* session */
	struct iscsi_context *iscsi;
	enum session_state state;
	bool tearing;            /* inside teardown: callbacks ignored */
	bool link_lost;          /* a callback saw CANCELLED */
	uint32_t tx_epoch;       /* bumped before every POLLOUT service */
	uint64_t rx_ns;          /* when the socket last delivered data */
	bool opening;            /* inside lun_open(): no reconnecting */
	uint64_t connect_deadline_ns;
	uint64_t retry_at_ns;    /* next reconnect attempt */
	unsigned int connect_failures;
	int connect_status;      /* 0 pending, 1 ok, -errno failed */
	int last_error;          /* why the last connect failed */
	char connect_msg[320];   /* and libiscsi's words for it */
	struct iscsi_cmd setup_cmd;  /* the post-login chain's command */
	/* commands */
	struct iscsi_cmd *pool;      /* queue_depth of them for lun_io */
	struct iscsi_cmd *free_cmds;
	struct cmd_list queued, sent, completed;
	/* persistent reservations */
	bool implicit_reg;       /* registered by open, removed by close */
	int held_type;           /* reservation this handle holds, 0 none */
	/* rate limit for data-path error lines */
	uint64_t log_window_ns;
	unsigned int log_count;
	/*
	 * lun_event_fd(): an epoll fd over the session socket (with the
	 * events libiscsi wants), 'tfd' (the next deadline or retry time)
	 * and 'efd' (set while callers' completions wait). All -1 until
	 * asked for; iscsi_events_sync() keeps them in step.
	 */
	int epfd, tfd, efd;
	struct iscsi_context *ep_ctx; /* the context whose socket is in */
	int ep_sock;
	uint32_t ep_events;
	uint64_t ep_timer_ns;         /* armed for; UINT64_MAX: disarmed */
};

static inline struct lun_iscsi *
to_iscsi(struct lun *lun)
{
	return container_of(lun, struct lun_iscsi, base);
}

/* lun-iscsi-url.c */
/* Checks l->url, fills l->portal and l->lun; logs and returns -errno. */
int iscsi_url_parse(struct lun_iscsi *l);
/* The URL without its CHAP password, for log lines (malloc'ed). */
char *iscsi_url_redact(const char *url);

/* lun-iscsi-session.c: the engine */
/* Connects and logs in, within io_timeout; logs why not. */
int iscsi_session_open(struct lun_iscsi *l);
/* Drops the session, settling every command sent on it. */
void iscsi_session_teardown(struct lun_iscsi *l, enum session_state next);
/*
 * One round of the event loop: waits for the socket or a timer (at most
 * until 'until_ns'; 0: do not wait), services the session, times out
 * late commands, reconnects, sends what can go. Callers' completions
 * wait in 'completed' (iscsi_cmd_take_completed()).
 */
void iscsi_engine_round(struct lun_iscsi *l, uint64_t until_ns);
/* Makes the event fd (if any) reflect the session and the lists now. */
void iscsi_events_sync(struct lun_iscsi *l);
/* Creates the event fd on first use; returns it or -errno. */
int iscsi_events_open(struct lun_iscsi *l);
void iscsi_events_close(struct lun_iscsi *l);
void iscsi_cmd_init(struct lun_iscsi *l, struct iscsi_cmd *cmd,
		    enum cmd_kind kind, uint64_t deadline_ns);
/* Queues a command (sent at once if the session is up). */
void iscsi_cmd_start(struct iscsi_cmd *cmd);
/* Starts an own command and waits for it; returns cmd->result. */
int iscsi_cmd_run(struct iscsi_cmd *cmd);
/* Records a result: callers' I/O waits for lun_poll(), own on_done runs. */
void iscsi_cmd_finish(struct lun_iscsi *l, struct iscsi_cmd *cmd,
		      int64_t result);
struct iscsi_cmd *iscsi_cmd_take_completed(struct lun_iscsi *l);
/* Frees the task an own command kept for its data. */
void iscsi_cmd_release(struct iscsi_cmd *cmd);
uint64_t iscsi_deadline(const struct lun_iscsi *l);

/* lun-iscsi-scsi.c: building tasks, probing, mapping status */
struct scsi_task *iscsi_cmd_build(struct lun_iscsi *l, struct iscsi_cmd *cmd,
				  iscsi_command_cb cb);
/* Whether a discard fits the target's UNMAP limits in one command. */
bool iscsi_unmap_fits(const struct lun_iscsi *l, const struct lun_io *io);
/* Maps a completed command's status and sense to a result. */
int64_t iscsi_cmd_result(struct lun_iscsi *l, struct iscsi_cmd *cmd,
			 struct scsi_task *task);
/* A unit attention (or busy) the command should simply be retried for. */
bool iscsi_cmd_retryable(const struct iscsi_cmd *cmd);
bool iscsi_sense_is_pr_ua(const struct scsi_sense *sense);
void iscsi_log_failure(struct lun_iscsi *l, const struct iscsi_cmd *cmd);
const char *iscsi_cmd_name(const struct iscsi_cmd *cmd);
/* Inquiry, capacity, limits, ATS method; fills base.info. */
int iscsi_probe_lun(struct lun_iscsi *l, const struct lun_config *cfg);

/* lun-iscsi-pr.c */
int iscsi_pr_register_key(struct lun_iscsi *l, uint64_t key);
int iscsi_pr_read_keys(struct lun_iscsi *l, uint32_t *generation,
		       uint64_t *keys, uint32_t max, uint32_t *nkeys);
/* After a unit attention about reservations: forget what we held. */
void iscsi_pr_note_ua(struct lun_iscsi *l, const struct scsi_sense *sense);
int lun_iscsi_pr_register(struct lun *lun, uint64_t key);
int lun_iscsi_pr_reserve(struct lun *lun, enum lun_pr_type type);
int lun_iscsi_pr_release(struct lun *lun, enum lun_pr_type type);
int lun_iscsi_pr_preempt(struct lun *lun, uint64_t victim,
			 enum lun_pr_type type, bool abort);
int lun_iscsi_pr_read(struct lun *lun, struct lun_pr_state *out);
int lun_iscsi_ats(struct lun *lun, uint64_t offset, const void *expected,
		  const void *desired, uint64_t len);

#endif
