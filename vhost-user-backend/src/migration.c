/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Reconnect and migration support: the inflight I/O tracking buffer (GET/SET_INFLIGHT_FD) and the device
 * state transfer (SET_DEVICE_STATE_FD / CHECK_DEVICE_STATE). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cvmm/checked.h"
#include "cvmm/fd.h"
#include "cvmm/vhu/backend.h"
#include "cvmm/vmem/region.h"
#include "cvmm/vq/inflight.h"
#include "cvmm/vq/split.h"
#include "cvmm/vq/state.h"
#include "fdcheck.h"
#include "internal.h"

/* ---- inflight I/O tracking buffer (spec "Inflight I/O tracking") ---- */

#define INFLIGHT_ALIGN 64u
#define INFLIGHT_SPLIT_HDR 16u   /* features u64, version, desc_num, last_batch_head, used_idx */
#define INFLIGHT_SPLIT_DESC 16u  /* DescStateSplit */
#define INFLIGHT_PACKED_HDR 32u  /* 29 bytes of fields, padded to the 8-byte alignment of desc[] */
#define INFLIGHT_PACKED_DESC 32u /* DescStatePacked */

uint64_t vub__inflight_queue_bytes(bool packed, uint32_t queue_size)
{
    uint64_t b = packed ? INFLIGHT_PACKED_HDR + (uint64_t)INFLIGHT_PACKED_DESC * queue_size
                        : INFLIGHT_SPLIT_HDR + (uint64_t)INFLIGHT_SPLIT_DESC * queue_size;
    return (b + INFLIGHT_ALIGN - 1) & ~(uint64_t)(INFLIGHT_ALIGN - 1);
}

struct inflight_call {
    uint8_t *base;
    uint64_t per;
    unsigned nq;
};

static void w_inflight(vub__worker *w, void *arg)
{
    struct inflight_call *ic = arg;
    for (unsigned i = 0; i < w->nqueues; i++) {
        vub_queue *q = w->queues[i];
        bool has = ic->base && q->index < ic->nq;
        (void)vq_inflight_attach(q->vq, NULL, 0); /* a running ring stops tracking; its next start attaches */
        q->inflight = has ? ic->base + ic->per * q->index : NULL;
        q->inflight_size = has ? ic->per : 0;
    }
}

/* Give the queues their regions of a new buffer (NULL: none); workers let go of the old one first. */
static void inflight_publish(vub_daemon *d, void *base, uint64_t per, unsigned nq)
{
    struct inflight_call ic = {.base = base, .per = per, .nq = nq};
    for (unsigned i = 0; i < d->nworkers; i++)
        vub__worker_call(&d->workers[i], w_inflight, &ic);
}

void vub__inflight_unmap(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    inflight_publish(d, NULL, 0, 0);
    vmem_region_unref(c->inflight);
    c->inflight = NULL;
}

/* Make @r (taken) the inflight buffer and give each of the first @nq queues its @per bytes. */
static void inflight_use(vub_daemon *d, vmem_region *r, uint64_t per, unsigned nq)
{
    vub__inflight_unmap(d);
    d->ctl->inflight = r;
    inflight_publish(d, vmem_region_hva(r), per, nq);
}

int vub__h_get_inflight_fd(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    vhu_inflight in = {0};
    memcpy(&in, &m->payload.inflight, m->hdr.size < sizeof(in) ? m->hdr.size : sizeof(in));
    vhu_inflight out = {.num_queues = in.num_queues, .queue_size = in.queue_size};
    bool packed = (c->features & (1ull << VUB_F_RING_PACKED)) != 0;
    uint64_t per = vub__inflight_queue_bytes(packed, in.queue_size), total = per * in.num_queues;
    int fd = -1, rc = 0;
    vmem_region *r = NULL;
    if (in.num_queues == 0 || in.num_queues > d->nqueues || in.queue_size == 0 || in.queue_size > d->max_queue_size) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: GET_INFLIGHT_FD for %u queues of %u entries refused", d->name,
                  in.num_queues, in.queue_size);
        rc = -EINVAL;
        goto out;
    }
    /* A memfd sealed against shrinking and growing (vm-memory): the front-end gets the fd, and a front-end
     * that truncated it would otherwise turn the device's next write into SIGBUS. */
    rc = vmem_region_new_memfd(&(vmem_region_desc){.size = total}, d->log, &r);
    if (rc < 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: cannot create the inflight buffer: %s", d->name, strerror(-rc));
        goto out;
    }
    uint8_t *p = vmem_region_hva(r);
    for (unsigned i = 0; i < in.num_queues; i++) /* version 1, desc_num, packed: the free list */
        (void)vq_inflight_format(p + per * i, per, packed ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT, in.queue_size);
    fd = vmem_region_fd(r);
    inflight_use(d, r, per, in.num_queues);
    out.mmap_size = total;
    out.mmap_offset = 0;
out:
    /* mmap_size 0 and no fd is the error form front-ends check for; the region keeps its fd */
    (void)vub__reply(d, m, &out, sizeof(out), rc == 0 ? &fd : NULL, rc == 0 ? 1 : 0);
    return rc;
}

int vub__h_set_inflight_fd(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    vhu_inflight in = {0};
    memcpy(&in, &m->payload.inflight, m->hdr.size < sizeof(in) ? m->hdr.size : sizeof(in));
    bool packed = (c->features & (1ull << VUB_F_RING_PACKED)) != 0;
    uint64_t per = vub__inflight_queue_bytes(packed, in.queue_size);
    if (in.mmap_size == 0 || in.mmap_size > SIZE_MAX || in.num_queues > d->nqueues || in.queue_size == 0 ||
        per * in.num_queues > in.mmap_size) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: SET_INFLIGHT_FD with size %llu for %u queues refused", d->name,
                  (unsigned long long)in.mmap_size, in.num_queues);
        return -EINVAL;
    }
    /* vm-memory checks that the whole area exists in the file, and maps it sealed or watched by its fault
     * guard: a front-end that shrinks the file later cannot turn the device's writes into SIGBUS. */
    vmem_region *r;
    vmem_region_desc rd = {.gpa = in.mmap_offset & 7u, .size = in.mmap_size, .mmap_offset = in.mmap_offset};
    int rc = vmem_region_new_fd(&rd, vhu_msg_take_fd(m, 0), d->log, &r);
    if (rc < 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN,
                  "%s: SET_INFLIGHT_FD area [%llu, +%llu) is not inside its file or not "
                  "mappable: %s",
                  d->name, (unsigned long long)in.mmap_offset, (unsigned long long)in.mmap_size, strerror(-rc));
        return rc;
    }
    inflight_use(d, r, per, in.num_queues);
    return 0;
}

/* ---- device state transfer (SET_DEVICE_STATE_FD / CHECK_DEVICE_STATE) ---- */

/* How long CHECK_DEVICE_STATE waits for the device (the front-end has closed its end by then), and how long
 * a disconnect or a new transfer waits before cutting off a transfer the front-end left hanging. */
#define XFER_CHECK_MS 2000
#define XFER_CANCEL_MS 1000
#define RELAY_BUF 65536

static void *xfer_main(void *arg)
{
    vub_daemon *d = arg;
    struct vub__ctl *c = d->ctl;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE); /* a reader that went away gives EPIPE, not a dead process */
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    c->xfer_rc = vub__dev_state_transfer(d, c->xfer_dir, c->xfer_dev_fd);
    cvmm_close(&c->xfer_dev_fd); /* SAVE: end of data for the relay */
    return NULL;
}

/* Wait until @fd is ready for @ev; false if cancelled or the fd failed.  POLLNVAL (an fd poll cannot use)
 * and POLLERR end the transfer instead of waking us again and again; POLLHUP goes on to the read or write,
 * which sees the end of the data or EPIPE.  Both fds are non-blocking, so "ready" is only a hint: the read
 * or write after it never blocks, whatever poll() said (a socket with a large SO_RCVLOWAT polls readable
 * with one byte queued, a blocking read would wait for all of them). */
static bool relay_wait(int fd, short ev, int cancel)
{
    struct pollfd p[2] = {{.fd = fd, .events = ev}, {.fd = cancel, .events = POLLIN}};
    for (;;) {
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || p[1].revents || (p[0].revents & (POLLNVAL | POLLERR)))
            return false;
        if (p[0].revents & (ev | POLLHUP))
            return true;
    }
}

static void *relay_main(void *arg)
{
    struct vub__ctl *c = arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    char *buf = malloc(RELAY_BUF);
    while (buf && relay_wait(c->relay_src, POLLIN, c->xfer_cancel)) {
        ssize_t n = read(c->relay_src, buf, RELAY_BUF);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break; /* end of data (or a broken source) */
        ssize_t done = 0;
        while (done < n) {
            if (!relay_wait(c->relay_dst, POLLOUT, c->xfer_cancel))
                goto out;
            ssize_t w = write(c->relay_dst, buf + done, (size_t)(n - done));
            if (w < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (w <= 0)
                goto out;
            done += w;
        }
    }
out:
    free(buf);
    /* LOAD: the device's read sees EOF; SAVE: the front-end sees EOF, and the device's next write EPIPE */
    cvmm_close(&c->relay_dst);
    cvmm_close(&c->relay_src);
    return NULL;
}

static bool join_until(pthread_t t, const struct timespec *deadline)
{
    return pthread_timedjoin_np(t, NULL, deadline) == 0;
}

int vub__xfer_join(vub_daemon *d, int timeout_ms, bool cancel)
{
    struct vub__ctl *c = d->ctl;
    if (!c->xfer_running)
        return -EPROTO;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    /* the device first, then the relay (SAVE: it drains what the device wrote); both within the deadline */
    if (!c->xfer_joined)
        c->xfer_joined = join_until(c->xfer, &ts);
    bool done = c->xfer_joined && join_until(c->relay, &ts);
    if (!done) {
        if (!cancel) {
            cvmm_logf(d->log, CVMM_LOG_WARN, "%s: device state transfer still running after %d ms", d->name,
                      timeout_ms);
            return -ETIMEDOUT;
        }
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: cutting off a device state transfer the front-end left hanging", d->name);
        uint64_t one = 1;
        (void)!write(c->xfer_cancel, &one, sizeof(one));
        if (!c->xfer_joined)
            pthread_join(c->xfer, NULL);
        pthread_join(c->relay, NULL);
    }
    c->xfer_running = false;
    c->xfer_joined = false;
    cvmm_close(&c->xfer_cancel);
    return done ? c->xfer_rc : -ETIMEDOUT;
}

bool vub__xfer_busy(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    if (!c->xfer_running)
        return false;
    if (!c->xfer_joined)
        c->xfer_joined = pthread_tryjoin_np(c->xfer, NULL) == 0;
    return !c->xfer_joined;
}

void vub__xfer_cut(vub_daemon *d)
{
    if (d->ctl->xfer_running)
        (void)vub__xfer_join(d, XFER_CANCEL_MS, true);
}

int vub__h_set_device_state_fd(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    const vhu_device_state *ts = &m->payload.transfer_state;
    int rc = 0, p[2] = {-1, -1};
    if (c->xfer_running)
        (void)vub__xfer_join(d, XFER_CANCEL_MS, true); /* a previous transfer the front-end never checked */
    if (ts->phase != VHU_TRANSFER_STATE_PHASE_STOPPED || ts->direction > VHU_TRANSFER_STATE_DIRECTION_LOAD) {
        rc = -EINVAL;
        goto out;
    }
    /* The only phase is "device suspended" (spec): state_save/state_load are promised that no queue runs. */
    int started = vub__first_started_ring(d);
    if (started >= 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN,
                  "%s: SET_DEVICE_STATE_FD while ring %d is started: the device is not "
                  "suspended",
                  d->name, started);
        rc = -EBUSY;
        goto out;
    }
    c->xfer_dir = ts->direction == VHU_TRANSFER_STATE_DIRECTION_SAVE ? VUB_STATE_SAVE : VUB_STATE_LOAD;
    if ((c->xfer_dir == VUB_STATE_SAVE && !d->ops->state_save) ||
        (c->xfer_dir == VUB_STATE_LOAD && !d->ops->state_load)) {
        rc = vub__dev_state_transfer(d, c->xfer_dir, -1); /* logs, -ENOTSUP */
        goto out;
    }
    int fe = vhu_msg_take_fd(m, 0);
    c->xfer_cancel = eventfd(0, EFD_CLOEXEC);
    if (c->xfer_cancel < 0 || pipe2(p, O_CLOEXEC) < 0) {
        rc = -errno;
        cvmm_close(&fe);
        cvmm_close(&c->xfer_cancel);
        goto out;
    }
    if (c->xfer_dir == VUB_STATE_LOAD) { /* front-end -> relay -> pipe -> device */
        c->relay_src = fe;
        c->relay_dst = p[1];
        c->xfer_dev_fd = p[0];
    } else { /* device -> pipe -> relay -> front-end */
        c->xfer_dev_fd = p[1];
        c->relay_src = p[0];
        c->relay_dst = fe;
    }
    /* The relay never blocks in read or write (it waits in poll() with the cancel eventfd): both its fds
     * are non-blocking, the front-end's made so by vub__msg_fds_ok(), ours here.  The device's end of the
     * pipe is another open file and stays blocking. */
    int nb = vub__fd_nonblock(c->xfer_dir == VUB_STATE_LOAD ? p[1] : p[0]);
    c->xfer_rc = 0;
    int e = nb < 0 ? -nb : pthread_create(&c->relay, NULL, relay_main, c);
    if (e == 0) {
        e = pthread_create(&c->xfer, NULL, xfer_main, d);
        if (e != 0) { /* stop the relay again */
            uint64_t one = 1;
            (void)!write(c->xfer_cancel, &one, sizeof(one));
            pthread_join(c->relay, NULL);
        }
    }
    if (e != 0) {
        rc = -e;
        cvmm_close(&c->relay_src);
        cvmm_close(&c->relay_dst);
        cvmm_close(&c->xfer_dev_fd);
        cvmm_close(&c->xfer_cancel);
        goto out;
    }
    c->xfer_running = true;
out:
    if (rc < 0)
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: SET_DEVICE_STATE_FD refused: %s", d->name, strerror(-rc));
    (void)vub__reply_u64(d, m, VHU_DEVICE_STATE_NOFD_MASK | (rc < 0 ? 1u : 0u));
    return rc;
}

int vub__h_check_device_state(vub_daemon *d, vhu_msg *m)
{
    int rc = vub__xfer_join(d, XFER_CHECK_MS, false);
    if (rc == -EPROTO)
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: CHECK_DEVICE_STATE without a transfer", d->name);
    (void)vub__reply_u64(d, m, rc == 0 ? 0 : 1);
    return rc;
}
