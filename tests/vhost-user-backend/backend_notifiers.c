/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Notifications on the back-end channel: a broken ring's in-band BACKEND_VRING_ERR (INBAND_NOTIFICATIONS,
 * no err eventfd) and BACKEND_VRING_HOST_NOTIFIER_MSG sent by the device (vub_backend_vring_host_notifier()),
 * both received by our front-end endpoint. */
#include <fcntl.h>
#include <sys/mman.h>

#include "vub_test.h"

#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

struct fe_side {
    atomic_int errs, calls, notifiers;
    atomic_uint err_index;
    atomic_int err_answer; /* what the VRING_ERR op answers */
    vhu_vring_area area;
    int fd; /* the notifier fd we kept, or -1 */
};
static struct fe_side fes;

static int fe_vring_err(void *ctx, uint32_t index)
{
    (void)ctx;
    atomic_store(&fes.err_index, index);
    atomic_fetch_add(&fes.errs, 1);
    return atomic_load(&fes.err_answer);
}
static int fe_vring_call(void *ctx, uint32_t index)
{
    (void)ctx, (void)index;
    atomic_fetch_add(&fes.calls, 1);
    return 0;
}
static int fe_host_notifier(void *ctx, const vhu_vring_area *a, int *fd)
{
    (void)ctx;
    fes.area = *a;
    if (fes.fd >= 0)
        close(fes.fd);
    fes.fd = *fd;
    *fd = -1; /* keep it */
    atomic_fetch_add(&fes.notifiers, 1);
    return 0;
}
static const vhu_frontend_backend_ops fe_ops = {
    .vring_err = fe_vring_err, .vring_call = fe_vring_call, .vring_host_notifier = fe_host_notifier};

static void init_notifiers(void)
{
    memset(&fes, 0, sizeof(fes));
    fes.fd = -1;
    vt_setup(&(struct vt_opts){.extra_proto = PB(INBAND_NOTIFICATIONS) | PB(HOST_NOTIFIER)});
}
static void fini_notifiers(void)
{
    if (fes.fd >= 0)
        close(fes.fd);
    fes.fd = -1;
    vt_fini();
}

TestSuite(backend_notifiers, .init = init_notifiers, .fini = fini_notifiers, .timeout = 120);

static void with_channel(uint64_t proto)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, proto);
    cr_assert_eq(vhu_frontend_protocol_features(vt.fe) & proto, proto, "all of 0x%llx negotiated",
                 (unsigned long long)proto);
    cr_assert_eq(vhu_frontend_set_backend_req_fd(vt.fe, &fe_ops, NULL), 0);
}

/* Serve the back-end channel until @counter reaches @want (bounded: 3 s per request). */
static void serve_until(atomic_int *counter, int want)
{
    while (atomic_load(counter) < want)
        cr_assert_eq(vhu_frontend_backend_serve(vt.fe, 3000), 0, "no back-end request came");
}

/* ---- VRING_ERR ---- */

static void broken_ring(struct vt_ring *r, bool keep_err_fd)
{
    vt_memory(1, 1 << 20, 0);
    vt_ring_setup(r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    if (!keep_err_fd)
        cr_assert_eq(vhu_frontend_set_vring_err(vt.fe, 0, -1), 0); /* NOFD: errors in-band */
    cr_assert_eq(vq_mock_publish_head(r->mk, 200), 0);             /* head >= size: the ring breaks */
    vt_kick(r);
}

Test(backend_notifiers, broken_ring_without_err_fd_sends_vring_err_in_band_once)
{
    with_channel(VT_PROTO_DEFAULT | PB(BACKEND_REQ) | PB(INBAND_NOTIFICATIONS));
    struct vt_ring r;
    broken_ring(&r, false);
    serve_until(&fes.errs, 1);
    cr_assert_eq(atomic_load(&fes.err_index), 0);
    vt_kick(&r); /* still broken: no second report */
    cr_assert_eq(vhu_frontend_backend_serve(vt.fe, 200), -ETIMEDOUT);
    cr_assert_eq(atomic_load(&fes.errs), 1);
    cr_assert_eq(atomic_load(&fes.calls), 0);
    vt_ring_free(&r);
}

Test(backend_notifiers, vring_err_the_front_end_refuses_is_logged)
{
    with_channel(VT_PROTO_DEFAULT | PB(BACKEND_REQ) | PB(INBAND_NOTIFICATIONS));
    atomic_store(&fes.err_answer, -EINVAL);
    struct vt_ring r;
    broken_ring(&r, false);
    serve_until(&fes.errs, 1);
    (void)vt_wait_logged("in-band VRING_ERR");
    cr_assert(vt_logged("vq0 is broken and in-band VRING_ERR could not tell the front-end: Input/output error"));
    vt_ring_free(&r);
}

Test(backend_notifiers, err_eventfd_is_preferred_over_the_message)
{
    with_channel(VT_PROTO_DEFAULT | PB(BACKEND_REQ) | PB(INBAND_NOTIFICATIONS));
    struct vt_ring r;
    broken_ring(&r, true);
    cr_assert(vt_wait_fd(r.err, VT_WAIT_MS), "err eventfd not signalled");
    cr_assert_eq(vhu_frontend_backend_serve(vt.fe, 200), -ETIMEDOUT);
    cr_assert_eq(atomic_load(&fes.errs), 0);
    vt_ring_free(&r);
}

Test(backend_notifiers, broken_ring_without_err_fd_or_in_band_is_only_logged)
{
    with_channel(VT_PROTO_DEFAULT | PB(BACKEND_REQ));
    struct vt_ring r;
    broken_ring(&r, false);
    cr_assert(vt_wait_logged("names head 200"), "the ring did not break");
    /* A request the worker serves after the kick callback: the error path has run by its answer. */
    cr_assert_eq(vhu_frontend_set_vring_enable(vt.fe, 0, true), 0);
    cr_assert_not(vt_logged("in-band VRING_ERR"), "nothing to report with: only the ring's own line");
    cr_assert_eq(vhu_frontend_backend_serve(vt.fe, 200), -ETIMEDOUT);
    cr_assert_eq(atomic_load(&fes.errs), 0);
    vt_ring_free(&r);
}

Test(backend_notifiers, in_band_without_a_channel_logs_that_the_error_went_nowhere)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT | PB(BACKEND_REQ) | PB(INBAND_NOTIFICATIONS));
    struct vt_ring r;
    broken_ring(&r, false);
    (void)vt_wait_logged("in-band VRING_ERR");
    cr_assert(vt_logged("vq0 is broken and in-band VRING_ERR could not tell the front-end: no back-end channel"));
    vt_ring_free(&r);
}

/* ---- HOST_NOTIFIER ---- */

struct hn_req {
    unsigned index;
    int fd;
    uint64_t offset, size;
    int rc;
};
static void *hn_thread(void *arg)
{
    struct hn_req *h = arg;
    h->rc = vub_backend_vring_host_notifier(vub_daemon_backend(vt.d), h->index, h->fd, h->offset, h->size);
    return NULL;
}
/* Send @h from a device thread while this thread serves the channel (REPLY_ACK: the device waits). */
static int run_hn(struct hn_req *h, bool on_wire)
{
    pthread_t th;
    int before = atomic_load(&fes.notifiers);
    cr_assert_eq(pthread_create(&th, NULL, hn_thread, h), 0);
    if (on_wire)
        serve_until(&fes.notifiers, before + 1);
    pthread_join(th, NULL);
    if (!on_wire)
        cr_assert_eq(vhu_frontend_backend_serve(vt.fe, 0), -EAGAIN, "a refused request reached the wire");
    return h->rc;
}

static int page_file(size_t pages, const char *text)
{
    int fd = memfd_create("notifier", MFD_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, (off_t)(pages * (size_t)sysconf(_SC_PAGESIZE))), 0);
    cr_assert_eq(pwrite(fd, text, strlen(text), sysconf(_SC_PAGESIZE)), (ssize_t)strlen(text));
    return fd;
}

Test(backend_notifiers, host_notifier_page_reaches_the_front_end_and_can_be_dropped)
{
    with_channel(VT_PROTO_DEFAULT | PB(BACKEND_REQ) | PB(HOST_NOTIFIER));
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    int mfd = page_file(2, "notify-q3");
    struct hn_req h = {.index = 3, .fd = mfd, .offset = page, .size = page};
    cr_assert_eq(run_hn(&h, true), 0);
    cr_assert_eq(fes.area.u64, 3, "queue 3, an fd");
    cr_assert_eq(fes.area.offset, page);
    cr_assert_eq(fes.area.size, page);
    cr_assert_geq(fes.fd, 0);
    char *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fes.fd, (off_t)page);
    cr_assert_neq(p, MAP_FAILED, "the front-end maps the page read-write as QEMU does");
    cr_assert_arr_eq(p, "notify-q3", 9);
    munmap(p, page);
    h = (struct hn_req){.index = 3, .fd = -1, .offset = 123, .size = 7}; /* drop: offset and size unused */
    cr_assert_eq(run_hn(&h, true), 0);
    cr_assert_eq(fes.area.u64, 3 | VHU_VRING_NOFD_MASK);
    cr_assert_eq(fes.area.offset, 0);
    cr_assert_eq(fes.area.size, 0);
    cr_assert_eq(fes.fd, -1);
    close(mfd);
}

Test(backend_notifiers, character_device_notifier_is_sent_unchecked_for_size)
{
    with_channel(VT_PROTO_DEFAULT | PB(BACKEND_REQ) | PB(HOST_NOTIFIER));
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    int zero = open("/dev/zero", O_RDWR | O_CLOEXEC); /* a device file, as a VFIO fd is: no file size */
    cr_assert_geq(zero, 0);
    struct hn_req h = {.index = 1, .fd = zero, .offset = page * 16, .size = page};
    cr_assert_eq(run_hn(&h, true), 0);
    cr_assert_eq(fes.area.u64, 1);
    cr_assert_eq(fes.area.offset, page * 16);
    cr_assert_geq(fes.fd, 0);
    close(zero);
}

Test(backend_notifiers, bad_host_notifiers_never_reach_the_wire)
{
    with_channel(VT_PROTO_DEFAULT | PB(BACKEND_REQ) | PB(HOST_NOTIFIER));
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    int mfd = page_file(2, "x");
    int opath = open("/dev/null", O_PATH | O_CLOEXEC);
    int ro = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    int efd = eventfd(0, EFD_CLOEXEC);
    cr_assert(opath >= 0 && ro >= 0 && efd >= 0);
    struct {
        struct hn_req h;
        const char *log;
    } bad[] = {
        {{VT_QUEUES, mfd, 0, page, 0}, "VRING_HOST_NOTIFIER_MSG for queue 4 of 4"},
        {{0, mfd, 0, page * 2, 0}, "is not one page-aligned page"},
        {{0, mfd, 0, page / 2, 0}, "is not one page-aligned page"},
        {{0, mfd, 100, page, 0}, "is not one page-aligned page"},
        {{0, mfd, page * 2, page, 0}, "past the end of its file"},
        {{0, mfd, UINT64_MAX - page + 1, page, 0}, "past the end of its file"},
        {{0, opath, 0, page, 0}, "an O_PATH descriptor"},
        {{0, ro, 0, page, 0}, "not open read-write"},
        {{0, efd, 0, page, 0}, "expected a regular file or character device"},
        {{0, 1000, 0, page, 0}, "not an open fd"},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(run_hn(&bad[i].h, false), -EINVAL, "case %u", i);
        cr_assert(vt_logged(bad[i].log), "case %u logs \"%s\"", i, bad[i].log);
    }
    cr_assert_eq(atomic_load(&fes.notifiers), 0);
    close(mfd);
    close(opath);
    close(ro);
    close(efd);
}

Test(backend_notifiers, host_notifier_needs_a_channel)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    int mfd = page_file(1, "x");
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT | PB(BACKEND_REQ) | PB(HOST_NOTIFIER));
    cr_assert_eq(vub_backend_vring_host_notifier(vub_daemon_backend(vt.d), 0, mfd, 0, page), -ENOTCONN);
    close(mfd);
}

Test(backend_notifiers, host_notifier_refused_when_not_negotiated)
{
    with_channel(VT_PROTO_DEFAULT | PB(BACKEND_REQ)); /* offered, not acked */
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    int mfd = page_file(1, "x");
    struct hn_req h = {.index = 0, .fd = mfd, .offset = 0, .size = page};
    cr_assert_eq(run_hn(&h, false), -EPROTO);
    cr_assert(vt_logged("VRING_HOST_NOTIFIER_MSG: protocol feature 11 not negotiated"));
    close(mfd);
}

/* HOST_NOTIFIER is offered only to a device that asks for it. */
Test(backend_notifiers, host_notifier_offered_only_on_request)
{
    vt_fini(); /* the suite's device asks for it: start over with one that does not */
    vt_init();
    uint64_t f, p;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
    cr_assert_eq(vhu_frontend_get_protocol_features(vt.fe, &p), 0);
    cr_assert_eq(p & PB(HOST_NOTIFIER), 0);
}
