/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** tap.h - the tap back-end of cvmm-net: open queues of an existing or new tap device (/dev/net/tun).
 *  Threads: any (the kernel serialises the ioctls). */
#ifndef CVMM_DEVICES_NET_TAP_H
#define CVMM_DEVICES_NET_TAP_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/log.h"

/** net_tap_open() - one queue of tap @name: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, plus IFF_MULTI_QUEUE if
 *  @multi_queue; non-blocking, close-on-exec, header size 12.
 *  Return: 0; -EINVAL name empty or too long; open()/ioctl() errno (e.g. -EPERM, -EBUSY, -EINVAL when a
 *  persistent tap's multi_queue flag differs), logged.  Ownership: *owned_out is the caller's. */
int net_tap_open(const char *name, bool multi_queue, const struct cvmm_log *log, int *owned_out);

/** net_tap_set_hdr_len() - TUNSETVNETHDRSZ.  Return: 0; -errno.  Ownership: @fd borrowed. */
int net_tap_set_hdr_len(int fd, int len);

/** net_tap_attach() - TUNSETQUEUE attach (true) or detach (false) a multi-queue tap queue; the kernel only
 *  steers frames to attached queues.  Return: 0; -errno. */
int net_tap_attach(int fd, bool attach);

/** net_tap_offload_flags() - the TUNSETOFFLOAD flags (TUN_F_*) for a driver that acked @features: what the
 *  tap may hand over on rx, i.e. what the GUEST accepts.  GUEST_CSUM -> TUN_F_CSUM; with it GUEST_TSO4/6 ->
 *  TUN_F_TSO4/6; with one of those GUEST_ECN -> TUN_F_TSO_ECN (the kernel refuses TSO without CSUM and ECN
 *  without TSO, so features acked against the spec's dependencies are dropped, not passed on). */
unsigned net_tap_offload_flags(uint64_t features);

/** net_tap_set_offload() - TUNSETOFFLOAD @flags (a device-wide setting: one queue's fd sets it for all).
 *  Return: 0; -errno (-EINVAL: a flag the kernel does not know).  Ownership: @fd borrowed. */
int net_tap_set_offload(int fd, unsigned flags);

#endif
