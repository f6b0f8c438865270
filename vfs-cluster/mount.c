/* SPDX-License-Identifier: MIT */
/*
 * Sessions: mounting (read the volume header, register for PR fencing,
 * claim a heartbeat slot, open the journal), the heartbeat thread and
 * housekeeping, and the clean unmount that releases everything.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "vfs-cluster/vfs-internal.h"

#define HOUSEKEEP_NS (50 * NS_PER_MS)

void
vfs_random_bytes(void *buf, size_t len)
{
	if (getrandom(buf, len, 0) != (ssize_t)len) {
		uint64_t x = clock_mono_ns() ^ ((uint64_t)getpid() << 32);

		for (size_t i = 0; i < len; i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			((uint8_t *)buf)[i] = (uint8_t)(x >> 56);
		}
	}
}

uint64_t
vfs_random_key(void)
{
	uint64_t key;

	do {
		vfs_random_bytes(&key, sizeof(key));
	} while (!key || lun_pr_key_is_anchor(key));
	return key;
}

/* The host's identity: /etc/machine-id when there is one. */
static void
host_identity(struct vfs *vfs, const struct vfs_mount_opts *o)
{
	char id[64] = "";
	int fd;

	if (o->host_name && *o->host_name)
		snprintf(vfs->host_name, sizeof(vfs->host_name), "%s",
			 o->host_name);
	else if (gethostname(vfs->host_name, sizeof(vfs->host_name) - 1) < 0)
		strcpy(vfs->host_name, "unknown");
	fd = open("/etc/machine-id", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, id, sizeof(id) - 1);

		close(fd);
		if (n > 0) {
			uint32_t a = crc32c(0, id, (size_t)n);
			uint32_t b = crc32c(a, vfs->host_name,
					    strlen(vfs->host_name));

			memcpy(vfs->host_uuid, &a, 4);
			memcpy(vfs->host_uuid + 4, &b, 4);
			a = crc32c(b, id, (size_t)n);
			b = crc32c(a, "vstack", 6);
			memcpy(vfs->host_uuid + 8, &a, 4);
			memcpy(vfs->host_uuid + 12, &b, 4);
			return;
		}
	}
	vfs_random_bytes(vfs->host_uuid, 16);
}

int
vfs_read_volume(struct lun *lun, struct vfs_geom *g)
{
	const struct lun_info *info = lun_get_info(lun);
	uint8_t *buf = vfs_alloc_buf(VFS_SECTOR);
	int rc, rc2;

	if (!buf)
		return -ENOMEM;
	if (info->logical_sector_bytes != VFS_SECTOR) {
		free(buf);
		return -EOPNOTSUPP;
	}
	rc = lun_read(lun, VFS_VOLUME_OFF, buf, VFS_SECTOR);
	if (rc == 0)
		rc = od_volume_in(buf, g);
	if (rc == -EUCLEAN) {
		/* A torn or damaged primary: the backup is as good. */
		rc2 = lun_read(lun, VFS_VOLUME_BACKUP_OFF, buf, VFS_SECTOR);
		if (rc2 == 0)
			rc2 = od_volume_in(buf, g);
		if (rc2 == 0) {
			log_warn(VFS_LOG, "%s: primary volume header is "
				 "corrupt; using the backup (run vfs fsck "
				 "--repair)", lun_uri(lun));
			rc = 0;
		}
	}
	if (rc == 0 && g->lun_bytes > info->size_bytes)
		rc = -EUCLEAN;
	free(buf);
	return rc;
}

static int
open_handle(struct vfs *vfs, struct lun **out)
{
	int rc = lun_dup(vfs->lun, out);

	if (rc == 0 && vfs->pr_fencing) {
		rc = lun_pr_register(*out, vfs->pr_key);
		if (rc < 0) {
			lun_close(*out);
			*out = NULL;
		}
	}
	return rc;
}

/* Sleeps up to 'wait' ns unless the session is stopping. */
static void
thread_wait(struct vfs *vfs, uint64_t wait)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(wait % NS_PER_SEC);
	ts.tv_sec += (time_t)(wait / NS_PER_SEC) + ts.tv_nsec / (long)NS_PER_SEC;
	ts.tv_nsec %= (long)NS_PER_SEC;
	pthread_mutex_lock(&vfs->stop_mu);
	if (!atomic_load(&vfs->stopping))
		pthread_cond_timedwait(&vfs->stop_cond, &vfs->stop_mu, &ts);
	pthread_mutex_unlock(&vfs->stop_mu);
}

/*
 * The heartbeat thread renews and watches, nothing else: no metadata
 * work (which may wait on I/O or on the session mutex) can delay a
 * renewal. Housekeeping has its own thread.
 */
static void *
hb_thread_main(void *arg)
{
	struct vfs *vfs = arg;

	while (!atomic_load(&vfs->stopping)) {
		uint64_t now = clock_mono_ns(), wait = vfs->t.renew_ns / 4;

		hb_tick(vfs, vfs->hb_lun, now);
		if (now - vfs->obs_all_ns >= vfs->t.renew_ns)
			hb_observe_all(vfs, vfs->hb_lun, now);
		now = clock_mono_ns();
		if (vfs->hb_next_ns > now)
			wait = MIN(wait, vfs->hb_next_ns - now);
		thread_wait(vfs, wait);
	}
	return NULL;
}

static void *
hk_thread_main(void *arg)
{
	struct vfs *vfs = arg;
	uint64_t wait = HOUSEKEEP_NS;

	if (vfs->flags & VFS_MOUNT_ASYNC_COMMIT)
		wait = MIN(wait, vfs->commit_ns / 2);
	while (!atomic_load(&vfs->stopping)) {
		if (pthread_mutex_trylock(&vfs->mu) == 0) {
			vfs_housekeep(vfs, clock_mono_ns());
			pthread_mutex_unlock(&vfs->mu);
		}
		thread_wait(vfs, wait);
	}
	return NULL;
}

void
vfs_housekeep(struct vfs *vfs, uint64_t now_ns)
{
	struct journal *j = &vfs->jn;
	int rc;

	if (atomic_load(&vfs->fenced) || j->error || vfs->slot < 0)
		return;
	if (j->grp_items && now_ns - j->grp_first_ns >= vfs->commit_ns) {
		rc = journal_commit(vfs);
		if (rc < 0)
			return;
	}
	lock_check_wanted(vfs, now_ns);
	lock_release_idle(vfs, now_ns, false);
	recover_dead_hosts(vfs, now_ns);
}

static void
session_free(struct vfs *vfs)
{
	fence_claim_close(vfs);
	paxos_fini(&vfs->px);
	lock_table_fini(vfs);
	bc_fini(vfs);
	journal_fini(vfs);
	alloc_fini(vfs);
	lun_close(vfs->data_lun);
	lun_close(vfs->jn_lun);
	lun_close(vfs->hb_lun);
	lun_close(vfs->lun);
	free(vfs->obs);
	free(vfs->hb_image);
	free(vfs->hb_pending);
	pthread_cond_destroy(&vfs->jn.cond);
	pthread_cond_destroy(&vfs->stop_cond);
	pthread_mutex_destroy(&vfs->stop_mu);
	pthread_mutex_destroy(&vfs->hb_mu);
	pthread_mutex_destroy(&vfs->data_mu);
	pthread_mutex_destroy(&vfs->mu);
	free(vfs);
}

/* Claims a slot; when all are taken, waits out dead ones and retries. */
static int
claim(struct vfs *vfs)
{
	uint64_t start = vfs_now(vfs);
	int rc;

	for (;;) {
		uint64_t now = vfs_now(vfs);

		rc = hb_claim(vfs, now);
		if (rc != -EUSERS || (vfs->flags & VFS_MOUNT_MANUAL_HEARTBEAT))
			return rc;
		if (now - start > vfs->t.dead_ns + 2 * vfs->t.renew_ns)
			return rc;
		/* Observe so that dead holders of slots can be recovered
		 * (recovery needs a slot of our own: read-only observers
		 * just wait for others to do it). */
		rc = hb_observe_all(vfs, vfs->lun, now);
		if (rc < 0)
			return rc;
		vfs_sleep_ns(vfs, vfs->t.renew_ns);
	}
}

static void stop_thread(struct vfs *vfs);

static int
session_start(struct vfs *vfs, const struct vfs_mount_opts *o)
{
	uint64_t now;
	int rc;

	vfs->info = lun_get_info(vfs->lun);
	rc = vfs_read_volume(vfs->lun, &vfs->g);
	if (rc < 0)
		return rc;
	if (vfs_writable(vfs) || !(vfs->flags & VFS_MOUNT_INSPECT)) {
		if (!(vfs->info->caps & LUN_CAP_ATS)) {
			log_err(VFS_LOG, "%s: the LUN has no atomic "
				"test-and-set; cannot take a heartbeat slot",
				lun_uri(vfs->lun));
			return -EOPNOTSUPP;
		}
	}
	vfs_timing_init(&vfs->t, vfs->g.lease_ms, o->io_timeout_ms);
	vfs->lock_timeout_ns = o->lock_timeout_ms ?
		(uint64_t)o->lock_timeout_ms * NS_PER_MS :
		2 * vfs->t.lease_ns + 5 * NS_PER_SEC;
	vfs->lock_cache_ns = (uint64_t)(o->lock_cache_ms ? o->lock_cache_ms :
				       500) * NS_PER_MS;
	vfs->commit_ns = (uint64_t)(o->commit_ms ? o->commit_ms : 20) *
			 NS_PER_MS;
	host_identity(vfs, o);
	vfs_random_bytes(vfs->session_id, 16);
	vfs->obs = calloc(vfs->g.slots, sizeof(*vfs->obs));
	if (!vfs->obs)
		return -ENOMEM;
	atomic_store(&vfs->manual_now_ns, o->start_ns);
	if (vfs->flags & VFS_MOUNT_INSPECT)
		return 0;
	rc = fence_setup(vfs, o->ats);
	if (rc < 0)
		return rc;
	rc = open_handle(vfs, &vfs->hb_lun);
	if (rc == 0 && vfs_writable(vfs))
		rc = open_handle(vfs, &vfs->jn_lun);
	if (rc == 0)
		rc = open_handle(vfs, &vfs->data_lun);
	if (rc == 0)
		rc = fence_claim_open(vfs);
	if (rc < 0)
		return rc;
	rc = claim(vfs);
	fence_claim_close(vfs);
	if (rc == 0)
		rc = fence_paxos_start(vfs);
	if (rc < 0)
		return rc;
	now = vfs_now(vfs);
	hb_observe_all(vfs, vfs->lun, now);
	if (vfs_writable(vfs)) {
		rc = journal_open(vfs, now);
		if (rc == 0)
			rc = alloc_init(vfs);
		if (rc < 0) {
			hb_release(vfs, vfs->lun);
			return rc;
		}
	}
	if (!(vfs->flags & VFS_MOUNT_MANUAL_HEARTBEAT)) {
		rc = pthread_create(&vfs->hb_thread, NULL, hb_thread_main, vfs);
		if (rc) {
			hb_release(vfs, vfs->lun);
			return -rc;
		}
		vfs->hb_thread_running = true;
		if (vfs_writable(vfs)) {
			rc = pthread_create(&vfs->hk_thread, NULL,
					    hk_thread_main, vfs);
			if (rc) {
				stop_thread(vfs);
				hb_release(vfs, vfs->lun);
				return -rc;
			}
			vfs->hk_thread_running = true;
		}
	}
	return 0;
}

static struct vfs *
session_alloc(const struct vfs_mount_opts *o)
{
	struct vfs *vfs = calloc(1, sizeof(*vfs));

	if (!vfs)
		return NULL;
	vfs->flags = o->flags;
	if (vfs->flags & VFS_MOUNT_INSPECT)
		vfs->flags |= VFS_MOUNT_READ_ONLY;
	vfs->slot = -1;
	pthread_mutex_init(&vfs->mu, NULL);
	pthread_mutex_init(&vfs->data_mu, NULL);
	pthread_mutex_init(&vfs->hb_mu, NULL);
	pthread_mutex_init(&vfs->stop_mu, NULL);
	pthread_cond_init(&vfs->stop_cond, NULL);
	pthread_cond_init(&vfs->jn.cond, NULL);
	return vfs;
}

static int
mount_common(struct vfs *vfs, const struct vfs_mount_opts *o,
	     struct vfs **out)
{
	int rc = session_start(vfs, o);

	if (rc < 0) {
		if (vfs->pr_fencing)
			(void)!lun_pr_register(vfs->lun, 0);
		session_free(vfs);
		return rc;
	}
	*out = vfs;
	return 0;
}

int
vfs_mount(const char *uri, const struct vfs_mount_opts *opts,
	  struct vfs **out)
{
	struct vfs_mount_opts o = { 0 };
	struct lun_config cfg = { 0 };
	struct vfs_geom g;
	struct lun *probe;
	struct vfs *vfs;
	int rc;

	if (opts)
		o = *opts;
	cfg.read_only = o.flags & VFS_MOUNT_INSPECT;
	/* Read the lease first: the session's I/O timeout derives from it. */
	rc = lun_open(uri, &cfg, &probe);
	if (rc < 0)
		return rc;
	rc = vfs_read_volume(probe, &g);
	lun_close(probe);
	if (rc < 0)
		return rc;
	vfs = session_alloc(&o);
	if (!vfs)
		return -ENOMEM;
	cfg.io_timeout_ms = o.io_timeout_ms ? o.io_timeout_ms : g.lease_ms / 5;
	if (cfg.io_timeout_ms > g.lease_ms / 4)
		cfg.io_timeout_ms = g.lease_ms / 4;
	cfg.no_reconnect = true;
	rc = lun_open(uri, &cfg, &vfs->lun);
	if (rc < 0) {
		session_free(vfs);
		return rc;
	}
	return mount_common(vfs, &o, out);
}

int
vfs_mount_lun(struct lun *lun, const struct vfs_mount_opts *opts,
	      struct vfs **out)
{
	struct vfs_mount_opts o = { 0 };
	struct vfs *vfs;
	int rc;

	if (opts)
		o = *opts;
	vfs = session_alloc(&o);
	if (!vfs)
		return -ENOMEM;
	rc = lun_dup(lun, &vfs->lun);
	if (rc < 0) {
		session_free(vfs);
		return rc;
	}
	return mount_common(vfs, &o, out);
}

static void
stop_thread(struct vfs *vfs)
{
	if (!vfs->hb_thread_running)
		return;
	pthread_mutex_lock(&vfs->stop_mu);
	atomic_store(&vfs->stopping, true);
	pthread_cond_broadcast(&vfs->stop_cond);
	pthread_mutex_unlock(&vfs->stop_mu);
	pthread_join(vfs->hb_thread, NULL);
	vfs->hb_thread_running = false;
	if (vfs->hk_thread_running)
		pthread_join(vfs->hk_thread, NULL);
	vfs->hk_thread_running = false;
}

int
vfs_unmount(struct vfs *vfs)
{
	int rc = 0, rc2;

	if (!vfs)
		return 0;
	pthread_mutex_lock(&vfs->mu);
	vnode_close_all(vfs);
	if (vfs_writable(vfs) && vfs->slot >= 0 && !atomic_load(&vfs->fenced)) {
		rc = journal_checkpoint(vfs);
		if (rc == 0) {
			rc2 = lock_release_idle(vfs, vfs_now(vfs), true);
			if (rc2 < 0)
				log_warn(VFS_LOG, "unmount: releasing locks: "
					 "%s", strerror(-rc2));
		}
	}
	pthread_mutex_unlock(&vfs->mu);
	stop_thread(vfs);
	/* Only a clean journal lets the slot go; otherwise the others find
	 * us dead and replay it. */
	if (vfs->slot >= 0 && rc == 0 && !atomic_load(&vfs->fenced) &&
	    !vfs->jn.error)
		rc = hb_release(vfs, vfs->lun);
	if (atomic_load(&vfs->fenced) && rc == 0)
		rc = -ESTALE;
	if (vfs->pr_fencing && rc == 0) {
		struct lun *h[] = { vfs->lun, vfs->hb_lun, vfs->jn_lun,
				    vfs->data_lun };

		for (size_t i = 0; i < ARRAY_SIZE(h); i++)
			if (h[i])
				(void)!lun_pr_register(h[i], 0);
	}
	session_free(vfs);
	return rc;
}

void
vfs_abandon(struct vfs *vfs)
{
	if (!vfs)
		return;
	/* A crash: nothing more reaches the disk. */
	atomic_store(&vfs->fenced, true);
	stop_thread(vfs);
	pthread_mutex_lock(&vfs->mu);
	while (vfs->vnodes) {
		struct vnode *vn = vfs->vnodes;

		vfs->vnodes = vn->next;
		for (uint64_t k = 0; k < vn->nchunks; k++)
			free(vn->chunks[k]);
		while (vn->pend) {
			struct pending *p = vn->pend;

			vn->pend = p->next;
			free(p);
		}
		free(vn->chunks);
		free(vn->ro_body);
		free(vn);
	}
	pthread_mutex_unlock(&vfs->mu);
	session_free(vfs);
}

int
vfs_tick(struct vfs *vfs, uint64_t now_ns)
{
	atomic_store(&vfs->manual_now_ns, now_ns);
	if (vfs->flags & VFS_MOUNT_INSPECT)
		return 0;
	hb_tick(vfs, vfs->hb_lun, now_ns);
	if (now_ns - vfs->obs_all_ns >= vfs->t.renew_ns)
		hb_observe_all(vfs, vfs->hb_lun, now_ns);
	if (vfs_writable(vfs)) {
		pthread_mutex_lock(&vfs->mu);
		vfs_housekeep(vfs, now_ns);
		pthread_mutex_unlock(&vfs->mu);
	}
	return atomic_load(&vfs->fenced) ? -ESTALE : 0;
}

int
vfs_sync(struct vfs *vfs)
{
	int rc = vfs_op_enter(vfs, false);

	if (rc < 0)
		return rc;
	rc = journal_commit(vfs);
	vfs_op_leave(vfs);
	return rc;
}

bool
vfs_is_fenced(const struct vfs *vfs)
{
	return atomic_load(&vfs->fenced);
}

int
vfs_lun_open(struct vfs *vfs, struct lun **out)
{
	return open_handle(vfs, out);
}
