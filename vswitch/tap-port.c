/* SPDX-License-Identifier: MIT */
/*
 * TAP ports that outlive the switch process. net_tap creates its kernel
 * interface when the port opens and the kernel deletes it when the last
 * queue fd closes: a killed switch would take the host side (an
 * interface moved into a VM's or a host's network namespace, with its
 * addresses and routes) with it, and a restarted switch would create a
 * fresh one in its own namespace. So the switch makes the interface
 * persistent (TUNSETPERSIST) before net_tap attaches, and on open finds
 * the interface where it lives now: its own namespace, one of the named
 * namespaces in /run/netns ("ip netns"), or one that only a process
 * holds (found through /proc/PID/ns/net). The calling thread enters that
 * namespace while net_tap creates its queues and sockets there, and the
 * interface keeps its MAC (net_tap would otherwise give it a random one,
 * and every neighbour's ARP entry would go stale). del-port clears the
 * persistence so the interface goes away with the port.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "vswitch/vsw-internal.h"

#define NETNS_DIR "/run/netns"

/* Enters the namespace of 'path'; returns 0 or -errno. */
static int
enter_ns(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) < 0)
		r = -errno;
	close(fd);
	return r;
}

/*
 * True if the namespace of 'path' holds 'iface': the calling thread is
 * left there. Otherwise it goes back to 'home'; false (and *lost set)
 * if it cannot.
 */
static bool
try_ns(const char *path, const char *iface, int home, bool *lost)
{
	if (enter_ns(path) < 0)
		return false;
	if (if_nametoindex(iface))
		return true;
	if (setns(home, CLONE_NEWNET) < 0)
		*lost = true;
	return false;
}

/*
 * The namespaces no name holds: a VM or host process may have made its
 * own (unshare) and taken the interface there. Each namespace once, by
 * inode, through the first process found in it.
 */
#define SCAN_MAX 4096

static bool
scan_processes(const char *iface, int home, bool *lost)
{
	ino_t *seen = calloc(SCAN_MAX, sizeof(*seen));
	unsigned int nseen = 0;
	struct stat st;
	struct dirent *e;
	DIR *d = opendir("/proc");
	bool found = false;

	if (!d || !seen) {
		if (d)
			closedir(d);
		free(seen);
		return false;
	}
	if (fstat(home, &st) == 0)
		seen[nseen++] = st.st_ino;
	while (!found && !*lost && (e = readdir(d))) {
		char path[sizeof("/proc//ns/net") + 256];
		unsigned int k;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", e->d_name);
		if (stat(path, &st) < 0)
			continue;
		for (k = 0; k < nseen && seen[k] != st.st_ino; k++)
			;
		if (k < nseen)
			continue;
		if (nseen < SCAN_MAX)
			seen[nseen++] = st.st_ino;
		found = try_ns(path, iface, home, lost);
	}
	closedir(d);
	free(seen);
	return found;
}

/*
 * Moves the calling thread into the network namespace that holds 'iface':
 * its own, a named one (/run/netns, "ip netns"), or one only processes
 * hold. *home is the thread's own namespace to return to (-1: it stayed
 * home, also when no namespace has the interface: then it will be
 * created at home).
 */
static void
find_iface(const char *iface, int *home)
{
	struct dirent *e;
	bool lost = false;
	DIR *d;

	*home = -1;
	if (if_nametoindex(iface))
		return;
	*home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*home < 0)
		return;
	d = opendir(NETNS_DIR);
	while (d && !lost && (e = readdir(d))) {
		char path[sizeof(NETNS_DIR) + 256 + 1];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", NETNS_DIR, e->d_name);
		if (try_ns(path, iface, *home, &lost)) {
			closedir(d);
			return;
		}
	}
	if (d)
		closedir(d);
	if (!lost && scan_processes(iface, *home, &lost))
		return;
	vsw_tap_leave(*home);
	*home = -1;
}

void
vsw_tap_leave(int home)
{
	if (home < 0)
		return;
	if (setns(home, CLONE_NEWNET) < 0)
		log_err("vswitch.tap", "cannot return to the switch's network "
			"namespace: %s", strerror(errno));
	close(home);
}

/* Attaches to (or creates) 'iface' as a multi-queue TAP, like net_tap. */
static int
tun_attach(const char *iface)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void
iface_mac(const char *iface, char *mac, size_t len)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	const unsigned char *a = (const unsigned char *)ifr.ifr_hwaddr.sa_data;

	mac[0] = 0;
	if (s < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", iface);
	if (ioctl(s, SIOCGIFHWADDR, &ifr) == 0)
		snprintf(mac, len, "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1],
			 a[2], a[3], a[4], a[5]);
	close(s);
}

int
vsw_tap_enter(const char *iface, int *home, char *mac, size_t maclen)
{
	bool existed;
	int fd;

	find_iface(iface, home);
	existed = if_nametoindex(iface) != 0;
	mac[0] = 0;
	if (existed)
		iface_mac(iface, mac, maclen);
	fd = tun_attach(iface);
	if (fd < 0) {
		/* Not a TAP of ours (another kind, or single-queue): net_tap
		 * says what is wrong with it. */
		if (existed)
			return 0;
		vsw_tap_leave(*home);
		*home = -1;
		return fd;
	}
	if (ioctl(fd, TUNSETPERSIST, 1) < 0)
		log_warn("vswitch.tap", "%s: cannot make it persistent: %s",
			 iface, strerror(errno));
	close(fd);
	if (existed)
		log_info("vswitch.tap", "%s: attaching to the existing interface "
			 "(%s, %s)", iface, *home >= 0 ? "in another namespace"
			 : "here", mac);
	return 0;
}

void
vsw_tap_forget(const char *iface)
{
	int home, fd;

	find_iface(iface, &home);
	/* Gone already (deleted, or its namespace with it): nothing to do,
	 * and attaching would create it again. */
	fd = if_nametoindex(iface) ? tun_attach(iface) : -ENODEV;
	if (fd >= 0) {
		ioctl(fd, TUNSETPERSIST, 0);
		close(fd);
	}
	vsw_tap_leave(home);
}
