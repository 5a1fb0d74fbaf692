/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The tap back-end: /dev/net/tun queues (tap.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cvmm/fd.h"
#include "net.h"
#include "tap.h"
#include "vnet_hdr.h"

int net_tap_open(const char *name, bool multi_queue, const struct cvmm_log *log, int *owned_out)
{
    struct ifreq ifr;
    size_t len = name ? strlen(name) : 0;
    *owned_out = -1;
    if (len == 0 || len >= sizeof(ifr.ifr_name)) {
        cvmm_logf(log, CVMM_LOG_ERROR, "tap: bad interface name '%s' (1..%zu characters)", name ? name : "",
                  sizeof(ifr.ifr_name) - 1);
        return -EINVAL;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        cvmm_logf(log, CVMM_LOG_ERROR, "tap %s: cannot open /dev/net/tun: %s", name, strerror(-rc));
        return rc;
    }
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, name, len);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (multi_queue ? IFF_MULTI_QUEUE : 0);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int rc = -errno;
        cvmm_logf(log, CVMM_LOG_ERROR, "tap %s: TUNSETIFF%s failed: %s%s", name, multi_queue ? " (multi_queue)" : "",
                  strerror(-rc),
                  rc == -EINVAL ? " (a persistent tap must have been created with the same multi_queue setting)" : "");
        cvmm_close(&fd);
        return rc;
    }
    int rc = net_tap_set_hdr_len(fd, (int)NET_HDR_LEN);
    if (rc < 0) {
        cvmm_logf(log, CVMM_LOG_ERROR, "tap %s: TUNSETVNETHDRSZ failed: %s", name, strerror(-rc));
        cvmm_close(&fd);
        return rc;
    }
    /* A persistent tap keeps the offloads of its last user: none until a driver acks GUEST_* features. */
    rc = net_tap_set_offload(fd, 0);
    if (rc < 0) {
        cvmm_logf(log, CVMM_LOG_ERROR, "tap %s: TUNSETOFFLOAD failed: %s", name, strerror(-rc));
        cvmm_close(&fd);
        return rc;
    }
    *owned_out = fd;
    return 0;
}

int net_tap_set_hdr_len(int fd, int len) { return ioctl(fd, TUNSETVNETHDRSZ, &len) < 0 ? -errno : 0; }

int net_tap_attach(int fd, bool attach)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = attach ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
    return ioctl(fd, TUNSETQUEUE, &ifr) < 0 ? -errno : 0;
}

unsigned net_tap_offload_flags(uint64_t features)
{
    unsigned fl = 0;
    if (!(features & (1ull << NET_F_GUEST_CSUM)))
        return 0;
    fl |= TUN_F_CSUM;
    if (features & (1ull << NET_F_GUEST_TSO4))
        fl |= TUN_F_TSO4;
    if (features & (1ull << NET_F_GUEST_TSO6))
        fl |= TUN_F_TSO6;
    if ((fl & (TUN_F_TSO4 | TUN_F_TSO6)) && (features & (1ull << NET_F_GUEST_ECN)))
        fl |= TUN_F_TSO_ECN;
    return fl;
}

int net_tap_set_offload(int fd, unsigned flags)
{
    return ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0 ? -errno : 0;
}
