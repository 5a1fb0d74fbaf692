/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Guest memory messages: SET_MEM_TABLE, ADD/REM_MEM_REG, SET_LOG_BASE/SET_LOG_FD, and publishing maps to
 * the workers (see worker.c for the reader side). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvmm/checked.h"
#include "cvmm/fd.h"
#include "cvmm/vhu/backend.h"
#include "cvmm/vmem/region.h"
#include "cvmm/vq/split.h"
#include "cvmm/vq/state.h"
#include "internal.h"

/* ---- guest memory ---- */

/* Publish @owned (taken) to the workers.  mem_gen is odd during the vub__publish (see worker.c). */
int vub__publish(vub_daemon *d, vmem_map *owned)
{
    atomic_fetch_add_explicit(&d->mem_gen, 1, memory_order_seq_cst);
    int rc = vmem_guest_publish(d->guest, owned);
    atomic_fetch_add_explicit(&d->mem_gen, 1, memory_order_seq_cst);
    if (rc < 0) {
        cvmm_logf(d->log, CVMM_LOG_ERROR, "%s: publishing the memory map failed: %s", d->name, strerror(-rc));
        return rc;
    }
    (void)vub__dev_mem_changed(d, vmem_guest_map(d->guest));
    return 0;
}

static vmem_log *wanted_log(const vub_daemon *d)
{
    const struct vub__ctl *c = d->ctl;
    return c->dlog && (c->features & (1ull << VHU_F_LOG_ALL)) ? c->dlog : NULL;
}

/* Re-publish the current regions if the dirty log to use changed. */
int vub__update_log(vub_daemon *d)
{
    const vmem_map *cur = vmem_guest_map(d->guest);
    vmem_log *want = wanted_log(d);
    if (vmem_map_dirty_log(cur) == want)
        return 0;
    vmem_map *m;
    int rc = vmem_map_with_log(cur, want, &m);
    if (rc < 0)
        return rc;
    return vub__publish(d, m);
}

static int region_from_wire(vub_daemon *d, const vhu_mem_region *w, int owned_fd, vmem_region **out)
{
    vmem_region_desc desc = {
        .gpa = w->guest_addr,
        .size = w->size,
        .user_addr = w->user_addr,
        .mmap_offset = w->mmap_offset,
    };
    int rc = vmem_region_new_fd(&desc, owned_fd, d->log, out);
    if (rc < 0)
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: cannot map region gpa 0x%llx size 0x%llx: %s", d->name,
                  (unsigned long long)w->guest_addr, (unsigned long long)w->size, strerror(-rc));
    return rc;
}

/* Duplicate ADD_MEM_REG.  QEMU 7.2 sends ADD_MEM_REG/REM_MEM_REG from every vhost device that shares the
 * connection (vhost-user-net with several queue pairs: one device per pair), so the same region arrives
 * once per device and is removed once per device.  An ADD of a region that is already mapped with the same
 * guest address, size and user address is counted instead of refused, and a REM only unmaps it when the
 * count is back to zero.  (The spec forbids overlapping regions, so an identical one is the same memory.)
 * Quirk VUB_QUIRK_QEMU72_NET_MQ_DUP_MEM_REG (cvmm/vub/quirks.h). */
static struct vub__dup *dup_find(struct vub__ctl *c, uint64_t gpa, uint64_t size, uint64_t uva)
{
    for (unsigned i = 0; i < c->ndups; i++)
        if (c->dups[i].gpa == gpa && c->dups[i].size == size && c->dups[i].uva == uva)
            return &c->dups[i];
    return NULL;
}

void vub__mem_forget_dups(vub_daemon *d) { d->ctl->ndups = 0; }

static bool mapped_exactly(const vmem_map *map, const vhu_mem_region *w)
{
    const vmem_region *r;
    return vmem_map_find(map, w->guest_addr, &r) == 0 && vmem_region_gpa(r) == w->guest_addr &&
           vmem_region_size(r) == w->size && vmem_region_user_addr(r) == w->user_addr;
}

int vub__h_set_mem_table(vub_daemon *d, vhu_msg *m)
{
    vub__mem_forget_dups(d);
    const vhu_mem_table *t = &m->payload.mem;
    vmem_region *regs[VHU_MEM_REGIONS_MAX] = {0};
    uint32_t n = t->nregions;
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++)
        rc = region_from_wire(d, &t->regions[i], vhu_msg_take_fd(m, i), &regs[i]);
    vmem_map *map = NULL;
    if (rc == 0)
        rc = vmem_map_new(regs, n, wanted_log(d), d->log, &map);
    for (uint32_t i = 0; i < n; i++)
        vmem_region_unref(regs[i]);
    if (rc < 0)
        return rc;
    return vub__publish(d, map);
}

int vub__h_add_mem_reg(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    const vhu_mem_region *w = &m->payload.mem_reg.region;
    if (mapped_exactly(vmem_guest_map(d->guest), w)) {
        struct vub__dup *dp = dup_find(c, w->guest_addr, w->size, w->user_addr);
        if (!dp) {
            if (c->ndups == VMEM_MAX_REGIONS)
                return -ENOSPC;
            dp = &c->dups[c->ndups++];
            *dp = (struct vub__dup){.gpa = w->guest_addr, .size = w->size, .uva = w->user_addr};
        }
        dp->extra++;
        cvmm_logf(d->log, CVMM_LOG_DEBUG, "%s: ADD_MEM_REG of mapped region gpa 0x%llx: counted (%u)", d->name,
                  (unsigned long long)w->guest_addr, dp->extra);
        return 0; /* the fd is closed after dispatch */
    }
    vmem_region *r;
    int rc = region_from_wire(d, &m->payload.mem_reg.region, vhu_msg_take_fd(m, 0), &r);
    if (rc < 0)
        return rc;
    vmem_map *map;
    rc = vmem_map_with_region(vmem_guest_map(d->guest), r, &map);
    vmem_region_unref(r);
    if (rc < 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: ADD_MEM_REG refused: %s", d->name, strerror(-rc));
        return rc;
    }
    return vub__publish(d, map);
}

int vub__h_rem_mem_reg(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    const vhu_mem_region *w = &m->payload.mem_reg.region;
    struct vub__dup *dp = dup_find(c, w->guest_addr, w->size, w->user_addr);
    if (dp && dp->extra > 0) {
        if (--dp->extra == 0)
            *dp = c->dups[--c->ndups];
        return 0;
    }
    vmem_map *map;
    int rc = vmem_map_without_region(vmem_guest_map(d->guest), w->guest_addr, w->size, w->user_addr, &map);
    if (rc < 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: REM_MEM_REG of an unknown region gpa 0x%llx size 0x%llx", d->name,
                  (unsigned long long)w->guest_addr, (unsigned long long)w->size);
        return rc;
    }
    return vub__publish(d, map); /* a passed fd (allowed by the spec) is closed after dispatch */
}

int vub__h_set_log_base(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    int rc;
    vmem_log *l = NULL;
    if (m->nfds != 1) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: SET_LOG_BASE without a log fd", d->name);
        rc = -EBADF;
    } else {
        rc = vmem_log_new_fd(m->fds[0], m->payload.log.offset, m->payload.log.size, d->log, &l);
    }
    if (rc == 0) {
        vmem_log *old = c->dlog;
        c->dlog = l;
        rc = vub__update_log(d);
        if (rc < 0) {
            c->dlog = old;
            vmem_log_unref(l);
        } else {
            vmem_log_unref(old); /* the published maps hold their own references */
        }
    }
    if (vhu_req_owed(m, vhu_backend_ctx(c->conn)) == VHU_OWED_REPLY)
        (void)vub__reply_u64(d, m, rc == 0 ? 0 : 1);
    return rc;
}

/* ---- SET_LOG_FD: tell the front-end that the log changed ----
 * Each worker keeps its own copy of the eventfd (W): the control thread replaces a copy only inside
 * vub__worker_call(), so no worker ever writes to an fd that was closed (or reused) under it.  A worker
 * signals once per loop iteration in which any thread marked the log (vmem_log_take_marked()), before it
 * blocks (prepare watcher, worker.c): one write per batch of requests, after the bits are set. */

static void w_set_log_call(vub__worker *w, void *arg)
{
    int *fd = arg;
    cvmm_close(&w->log_call_fd);
    w->log_call_fd = *fd;
    w->log_call_failed = false;
    *fd = -1;
}

int vub__set_log_call(vub_daemon *d, int fd)
{
    int rc = 0;
    for (unsigned i = 0; i < d->nworkers; i++) {
        int copy = -1;
        if (fd >= 0 && rc == 0 && (copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) {
            rc = -errno;
            cvmm_logf(d->log, CVMM_LOG_WARN, "%s: SET_LOG_FD: cannot duplicate the eventfd: %s", d->name,
                      strerror(-rc));
        }
        vub__worker_call(&d->workers[i], w_set_log_call, &copy); /* after a failure: none, on every worker */
        cvmm_close(&copy);
    }
    return rc;
}

void vub__worker_log_kick(vub__worker *w)
{
    if (w->log_call_fd < 0 || !w->map)
        return;
    vmem_log *l = vmem_map_dirty_log(w->map);
    if (!l || !vmem_log_take_marked(l))
        return;
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(w->log_call_fd, &one, sizeof(one)); /* non-blocking (fdcheck.c) */
    while (n < 0 && errno == EINTR);
    /* EAGAIN: the counter is full, the front-end has a signal pending anyway. */
    if (n < 0 && errno != EAGAIN && !w->log_call_failed) {
        w->log_call_failed = true;
        cvmm_logf(w->d->log, CVMM_LOG_WARN, "%s: worker%u: log eventfd write failed: %s (reported once)", w->d->name,
                  w->index, strerror(errno));
    }
}

int vub__h_set_log_fd(vub_daemon *d, vhu_msg *m)
{
    cvmm_close(&d->ctl->log_fd);
    d->ctl->log_fd = vhu_msg_take_fd(m, 0);
    return vub__set_log_call(d, d->ctl->log_fd);
}
