/* SPDX-License-Identifier: MIT */
/*
 * Crash replay for disks in a local folder: the equivalent, for local
 * files, of the LUN fault wrapper's write log (vfs-cluster/lun-faulty.h).
 * While a log runs, every local store vdisk opens is wrapped and every
 * change it makes is recorded in order: file creations, renames,
 * unlinks, size changes, data writes (synchronous ones and the engine's
 * asynchronous ones, at their completion), and syncs.
 *
 * Replaying onto a copy of the folder as it was when logging began, up
 * to operation K, gives what a power cut right after operation K may
 * have left: every namespace change up to K (a journaling filesystem
 * keeps their order), every data write made durable by a later sync of
 * its file (or written FUA), and of the others a random subset (seeded),
 * the last one applied perhaps torn at a sector boundary.
 *
 * For the snapshot tests only (not part of the library).
 */
#ifndef SNAPSHOT_CRASHLOG_H
#define SNAPSHOT_CRASHLOG_H

#include <stdint.h>

struct crashlog;

/* Starts logging every local store opened from now on. */
int crashlog_start(struct crashlog **out);
/* Stops wrapping new stores (those open keep logging until closed). */
void crashlog_stop(struct crashlog *log);
void crashlog_free(struct crashlog *log);
/* Operations recorded (crash points run 0..count). */
unsigned int crashlog_ops(const struct crashlog *log);
/*
 * Replays onto folder 'dir' the first 'upto' operations; with 'seed'
 * non-zero unsynced writes are a random subset, else all are dropped.
 */
int crashlog_replay(const struct crashlog *log, const char *dir,
		    unsigned int upto, uint64_t seed);

#endif
