/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Device state transfer (SET_DEVICE_STATE_FD / CHECK_DEVICE_STATE), the inflight buffer
 * (GET/SET_INFLIGHT_FD) and in-band notifications (VRING_KICK / BACKEND_VRING_CALL). */
#include <fcntl.h>
#include <sys/mman.h>

#include "vub_test.h"

#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

static void init_all(void)
{
    vt_setup(&(struct vt_opts){.extra_proto = PB(INFLIGHT_SHMFD) | PB(INBAND_NOTIFICATIONS)});
}
TestSuite(migration, .init = init_all, .fini = vt_fini, .timeout = 120);

/* transfer() - negotiate DEVICE_STATE and start a transfer in @direction (phase STOPPED) over a new pipe: the
 * back-end gets the end it writes (SAVE) or reads (LOAD), the test keeps the other.  Return: the test's end. */
static int transfer(uint32_t direction)
{
    vt_negotiate(0, VT_PROTO_DEFAULT | PB(DEVICE_STATE));
    int p[2], bfd = -2;
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    int theirs = direction == VHU_TRANSFER_STATE_DIRECTION_SAVE ? 1 : 0;
    cr_assert_eq(vhu_frontend_set_device_state_fd(vt.fe, direction, VHU_TRANSFER_STATE_PHASE_STOPPED, p[theirs], &bfd),
                 0);
    cr_assert_eq(bfd, -1, "the back-end uses the front-end's channel");
    close(p[theirs]);
    return p[!theirs];
}

/* disconnect() - the front-end goes away; the device is reset (within 30 s: a loaded machine). */
static void disconnect(void)
{
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    for (int i = 0; i < 3000 && atomic_load(&vt.dev.resets) == 0; i++)
        vt_sleep_ms(10);
    cr_assert_eq(atomic_load(&vt.dev.resets), 1);
}

/* inflight_fd() - negotiate @features with INFLIGHT_SHMFD; GET_INFLIGHT_FD for @nq queues of @qsize into
 * *@inf.  Return: the buffer's fd. */
static int inflight_fd(uint64_t features, uint16_t nq, uint16_t qsize, vhu_inflight *inf)
{
    vt_negotiate(features, VT_PROTO_DEFAULT | PB(INFLIGHT_SHMFD));
    int fd = -1;
    cr_assert_eq(vhu_frontend_get_inflight_fd(vt.fe, nq, qsize, inf, &fd), 0);
    cr_assert_geq(fd, 0);
    return fd;
}

static uint8_t *map_inflight(const vhu_inflight *inf, int fd, int prot)
{
    uint8_t *m = mmap(NULL, inf->mmap_size, prot, MAP_SHARED, fd, (off_t)inf->mmap_offset);
    cr_assert_neq(m, MAP_FAILED);
    return m;
}

/* serve_one() - one chain on @r, served: its used entry. */
static void serve_one(struct vt_ring *r, uint64_t data)
{
    uint16_t h = vt_add_chain(r, data, 8);
    vt_kick(r);
    vt_wait_used(r, h);
}

/* restart_ring() - the ring of @r, stopped by GET_VRING_BASE, gets a new kick fd: SET_VRING_KICK starts it
 * again.  Return: that request's result. */
static int restart_ring(struct vt_ring *r)
{
    close(r->kick);
    r->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return vhu_frontend_set_vring_kick(vt.fe, r->index, r->kick);
}

Test(migration, device_state_is_saved_into_the_front_ends_pipe)
{
    vt.dev.state_byte = 0x5a;
    int rd = transfer(VHU_TRANSFER_STATE_DIRECTION_SAVE);
    uint8_t b[8];
    cr_assert_eq(read(rd, b, sizeof(b)), 1);
    cr_assert_eq(b[0], 0x5a);
    cr_assert_eq(read(rd, b, sizeof(b)), 0, "EOF: the back-end closed its end");
    close(rd);
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), 0);
}

Test(migration, device_state_is_loaded_and_checked)
{
    int wr = transfer(VHU_TRANSFER_STATE_DIRECTION_LOAD);
    uint8_t v = 0x33;
    cr_assert_eq(write(wr, &v, 1), 1);
    close(wr);
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), 0);
    cr_assert_eq(atomic_load(&vt.dev.state_loaded), 1);
    cr_assert_eq(vt.dev.state_byte, 0x33);
}

Test(migration, bad_state_fails_the_check)
{
    int wr = transfer(VHU_TRANSFER_STATE_DIRECTION_LOAD);
    cr_assert_eq(write(wr, "toolong", 7), 7); /* the test device wants exactly one byte */
    close(wr);
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), -EREMOTEIO);
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), -EREMOTEIO, "no transfer to check");
}

Test(migration, unknown_phase_is_refused)
{
    vt_negotiate(0, VT_PROTO_DEFAULT | PB(DEVICE_STATE));
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    int bfd;
    int rc = vhu_frontend_set_device_state_fd(vt.fe, VHU_TRANSFER_STATE_DIRECTION_SAVE, 7, p[1], &bfd);
    cr_assert(rc == -EREMOTEIO || rc == -EINVAL, "rc %d", rc);
    close(p[0]);
    close(p[1]);
}

Test(migration, inflight_buffer_has_the_spec_layout)
{
    vhu_inflight inf;
    int fd = inflight_fd(1ull << VUB_F_VERSION_1, VT_QUEUES, 128, &inf);
    uint64_t per = (16 + 16 * 128 + 63) & ~63ull; /* split: 16-byte header, 16-byte DescStateSplit */
    cr_assert_eq(inf.mmap_size, per * VT_QUEUES);
    cr_assert_eq(inf.num_queues, VT_QUEUES);
    cr_assert_eq(inf.queue_size, 128);
    uint8_t *m = map_inflight(&inf, fd, PROT_READ);
    for (unsigned q = 0; q < VT_QUEUES; q++) {
        uint16_t version, desc_num;
        memcpy(&version, m + per * q + 8, 2);
        memcpy(&desc_num, m + per * q + 10, 2);
        cr_assert_eq(version, 1);
        cr_assert_eq(desc_num, 128);
    }
    munmap(m, inf.mmap_size);
    /* hand it back after a "reconnect" */
    cr_assert_eq(vhu_frontend_set_inflight_fd(vt.fe, &inf, fd), 0);
    close(fd);
    /* refused shapes: error form is mmap_size 0 without an fd */
    fd = -2;
    int rc = vhu_frontend_get_inflight_fd(vt.fe, VT_QUEUES + 1, 128, &inf, &fd);
    cr_assert(rc != 0 || (inf.mmap_size == 0 && fd < 0), "rc %d size %llu fd %d", rc, (unsigned long long)inf.mmap_size,
              fd);
}

Test(migration, packed_inflight_regions_are_bigger)
{
    vhu_inflight inf;
    int fd = inflight_fd((1ull << VUB_F_VERSION_1) | (1ull << VUB_F_RING_PACKED), 2, 100, &inf);
    cr_assert_eq(inf.mmap_size, 2 * ((32 + 32 * 100 + 63) & ~63ull));
    close(fd);
}

/* ---- in-band notifications ---- */
static atomic_int inband_calls;
static int fe_vring_call(void *ctx, uint32_t index)
{
    (void)ctx;
    if (index == 0)
        atomic_fetch_add(&inband_calls, 1);
    return 0;
}
static const vhu_frontend_backend_ops fe_ops = {.vring_call = fe_vring_call};
static atomic_int serving;
static void *serve_thread(void *arg)
{
    (void)arg;
    while (atomic_load(&serving)) {
        int rc = vhu_frontend_backend_serve(vt.fe, 20);
        if (rc < 0 && rc != -ETIMEDOUT && rc != -EAGAIN)
            break;
    }
    return NULL;
}

Test(migration, in_band_kicks_start_the_ring_and_calls_come_back_in_band)
{
    uint64_t proto = VT_PROTO_DEFAULT | PB(BACKEND_REQ) | PB(INBAND_NOTIFICATIONS);
    vt_negotiate(1ull << VUB_F_VERSION_1, proto);
    cr_assert(vhu_frontend_protocol_features(vt.fe) & PB(INBAND_NOTIFICATIONS));
    cr_assert_eq(vhu_frontend_set_backend_req_fd(vt.fe, &fe_ops, NULL), 0);
    vt_memory(1, 1 << 20, 0);
    struct vt_ring r;
    vt_ring_addrs(&r, 0);
    vq_mock_config mc = {
        .layout = VQ_LAYOUT_SPLIT, .size = 64, .desc_gpa = r.desc, .driver_gpa = r.driver, .device_gpa = r.device};
    cr_assert_eq(vq_mock_new(vt.map, &mc, &r.mk), 0);
    vhu_vring_addr a = {
        .index = 0, .desc = VT_UVA_BASE + r.desc, .avail = VT_UVA_BASE + r.driver, .used = VT_UVA_BASE + r.device};
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, 0, 64), 0);
    cr_assert_eq(vhu_frontend_set_vring_addr(vt.fe, &a), 0);
    cr_assert_eq(vhu_frontend_set_vring_base(vt.fe, 0, 0), 0);
    cr_assert_eq(vhu_frontend_set_vring_call(vt.fe, 0, -1), 0); /* no call fd: in-band calls */
    cr_assert_eq(vhu_frontend_set_vring_enable(vt.fe, 0, true), 0);
    atomic_store(&serving, 1);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, serve_thread, NULL), 0);
    uint16_t h = vt_add_chain(&r, 0x80000, 8);
    cr_assert_eq(vhu_frontend_vring_kick(vt.fe, 0), 0); /* starts the stopped ring and kicks it */
    cr_assert_eq(vt_wait_used(&r, h), 8);
    cr_assert_eq(atomic_load(&vt.dev.started[0]), 1);
    for (int i = 0; i < 3; i++) {
        h = vt_add_chain(&r, 0x80000, 8);
        cr_assert_eq(vhu_frontend_vring_kick(vt.fe, 0), 0);
        cr_assert_eq(vt_wait_used(&r, h), 8);
    }
    for (int i = 0; i < VT_WAIT_MS / 5 && atomic_load(&inband_calls) < 4; i++)
        vt_sleep_ms(5);
    cr_assert_geq(atomic_load(&inband_calls), 4);
    atomic_store(&serving, 0);
    pthread_join(th, NULL);
    vq_mock_free(r.mk);
}

/* A device that records each chain it takes in the spec's split inflight layout. */
static int inflight_kicked(void *ctx, vub_queue *q)
{
    void *region;
    size_t size;
    if (vub_queue_inflight(q, &region, &size) == 0) {
        uint8_t *r = region;
        uint64_t counter = 0x1234 + vub_queue_index(q);
        r[16] = 1;                       /* desc[0].inflight */
        memcpy(r + 16 + 8, &counter, 8); /* desc[0].counter */
    }
    return tdev_kicked(ctx, q);
}
static const vub_device_ops tdev_ops_inflight = {.queue_kicked = inflight_kicked};
static void init_inflight(void)
{
    vt_setup(&(struct vt_opts){.ops = &tdev_ops_inflight, .extra_proto = PB(INFLIGHT_SHMFD)});
}
TestSuite(migration_inflight, .init = init_inflight, .fini = vt_fini, .timeout = 120);

Test(migration_inflight, queues_see_their_region_of_the_inflight_buffer)
{
    vhu_inflight inf;
    int fd = inflight_fd(1ull << VUB_F_VERSION_1, 2, 64, &inf);
    vt_memory(1, 1 << 20, 0);
    struct vt_ring r0, r3;
    vt_ring_setup(&r0, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    vt_ring_setup(&r3, 3, VQ_LAYOUT_SPLIT, 64, false, false); /* beyond num_queues 2: no region */
    serve_one(&r0, 0x80000);
    serve_one(&r3, 0x90000);
    uint8_t *m = map_inflight(&inf, fd, PROT_READ);
    uint64_t counter;
    memcpy(&counter, m + 16 + 8, 8);
    cr_assert_eq(m[16], 1);
    cr_assert_eq(counter, 0x1234);
    uint64_t per = inf.mmap_size / 2;
    cr_assert_eq(m[per + 16], 0, "queue 1 never ran");
    munmap(m, inf.mmap_size);
    /* a new front-end hands the buffer back: the device sees what it recorded */
    cr_assert_eq(vhu_frontend_set_inflight_fd(vt.fe, &inf, fd), 0);
    inf.queue_size = 0;
    cr_assert_neq(vhu_frontend_set_inflight_fd(vt.fe, &inf, fd), 0);
    inf.queue_size = 64;
    inf.mmap_size = 64; /* too small for 2 queues of 64 */
    cr_assert_neq(vhu_frontend_set_inflight_fd(vt.fe, &inf, fd), 0);
    close(fd);
    vt_ring_free(&r0);
    vt_ring_free(&r3);
}

/* The region was sized by GET_INFLIGHT_FD for queue_size 16; ring 0 then gets 64 entries (SET_VRING_NUM
 * after GET_INFLIGHT_FD): indexing desc[] by head would leave the region, so the device does not get it. */
Test(migration_inflight, a_region_smaller_than_its_ring_is_withheld)
{
    vhu_inflight inf;
    int fd = inflight_fd(1ull << VUB_F_VERSION_1, 2, 16, &inf);
    uint64_t per = inf.mmap_size / 2;
    cr_assert_eq(per, 320, "16 + 16 * 16 bytes, 64-aligned");
    vt_memory(1, 1 << 20, 0);
    struct vt_ring r0, r1;
    vt_ring_setup(&r0, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    vt_ring_setup(&r1, 1, VQ_LAYOUT_SPLIT, 16, false, false);
    serve_one(&r0, 0x80000);
    serve_one(&r1, 0x90000);
    uint8_t *m = map_inflight(&inf, fd, PROT_READ);
    cr_assert_eq(m[16], 0, "ring 0 (64 entries) did not get its 16-entry region");
    cr_assert_eq(m[per + 16], 1, "ring 1 (16 entries) did");
    munmap(m, inf.mmap_size);
    cr_assert(vt_logged("vq0: the inflight region (320 bytes) is too small for a split ring of 64"));
    cr_assert_not(vt_logged("vq1: the inflight region"));
    close(fd);
    vt_ring_free(&r0);
    vt_ring_free(&r1);
}

/* Sized for split rings (GET_INFLIGHT_FD before VIRTIO_F_RING_PACKED was negotiated): a packed ring's
 * descriptor states are twice as large, so the region is withheld from it. */
Test(migration_inflight, a_region_sized_before_packed_was_negotiated_is_withheld)
{
    vhu_inflight inf;
    int fd = inflight_fd(1ull << VUB_F_VERSION_1, 1, 64, &inf);
    cr_assert_eq(vhu_frontend_set_features(vt.fe, (1ull << VUB_F_VERSION_1) | (1ull << VUB_F_RING_PACKED) |
                                                      (1ull << VHU_F_PROTOCOL_FEATURES)),
                 0);
    vt_memory(1, 1 << 20, 0);
    struct vt_ring r;
    vt_ring_setup(&r, 0, VQ_LAYOUT_PACKED, 64, false, false);
    serve_one(&r, 0x80000);
    uint8_t *m = map_inflight(&inf, fd, PROT_READ);
    cr_assert_eq(m[16], 0, "the device did not get the region");
    munmap(m, inf.mmap_size);
    cr_assert(vt_logged("vq0: the inflight region (1088 bytes) is too small for a packed ring of 64"));
    close(fd);
    vt_ring_free(&r);
}

Test(migration, a_transfer_the_front_end_leaves_hanging_is_cancelled)
{
    int wr = transfer(VHU_TRANSFER_STATE_DIRECTION_LOAD);             /* open and silent: the device's read blocks */
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), -EREMOTEIO); /* after 2 s, not forever */
    disconnect();                                                     /* cancelled after 1 s */
    vt_connect();
    uint64_t f;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
    close(wr);
}

Test(migration, a_large_state_flows_through_the_pipe)
{
    vt.dev.state_byte = 0x77;
    atomic_store(&vt.dev.state_big, 1);
    int rd = transfer(VHU_TRANSFER_STATE_DIRECTION_SAVE);
    static uint8_t buf[65536];
    size_t total = 0, bad = 0;
    ssize_t n;
    while ((n = read(rd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            bad += buf[i] != 0x77;
        total += (size_t)n;
    }
    close(rd);
    cr_assert_eq(total, 1u << 20);
    cr_assert_eq(bad, 0);
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), 0);
}

Test(migration, a_save_the_front_end_never_reads_is_cut_off_at_disconnect)
{
    atomic_store(&vt.dev.state_big, 1);
    int rd = transfer(VHU_TRANSFER_STATE_DIRECTION_SAVE);
    disconnect(); /* never reads rd */
    close(rd);
}

Test(migration_inflight, an_inflight_area_beyond_its_file_is_refused)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT | PB(INFLIGHT_SHMFD));
    int fd = memfd_create("inflight", MFD_CLOEXEC);
    cr_assert_eq(ftruncate(fd, 2048), 0);
    vhu_inflight inf = {.mmap_size = 2 * ((16 + 16 * 64 + 63) & ~63ull), .num_queues = 2, .queue_size = 64};
    cr_assert_eq(vhu_frontend_set_inflight_fd(vt.fe, &inf, fd), -EREMOTEIO); /* 2176 bytes > 2048 */
    inf.mmap_offset = UINT64_MAX - 100;                                      /* wraps */
    cr_assert_neq(vhu_frontend_set_inflight_fd(vt.fe, &inf, fd), 0);
    cr_assert_eq(ftruncate(fd, 8192), 0);
    inf.mmap_offset = 0;
    cr_assert_eq(vhu_frontend_set_inflight_fd(vt.fe, &inf, fd), 0);
    close(fd);
}

/* ---- library inflight tracking (vub_device_info.track_inflight, cvmm/vq/inflight.h) ---- */

/* A device that holds the chains it pops (hold = 1), completes one held chain on request (release = tag),
 * and otherwise serves with vub_queue_serve(): used len = the tag in the chain's first buffer. */
static struct {
    atomic_int hold, release;
    atomic_uint held;
    uint16_t head[16]; /* worker only */
    uint32_t tag[16];
    unsigned n;
} tk;

static int tag_of(const vq_snapshot *s, uint32_t *tag)
{
    if (s->ndesc == 0 || s->desc[0].len < 4)
        return -EINVAL;
    memcpy(tag, s->desc[0].hva, 4);
    return 0;
}

static int track_request(void *ctx, vub_queue *q, const vq_snapshot *s, uint32_t *used_len)
{
    (void)ctx;
    (void)q;
    return tag_of(s, used_len);
}

static int track_kicked(void *ctx, vub_queue *q)
{
    vq_queue *vq = vub_queue_vq(q);
    int rel = atomic_exchange(&tk.release, -1);
    for (unsigned i = 0; rel >= 0 && i < tk.n; i++)
        if (tk.tag[i] == (uint32_t)rel) {
            (void)vq_add_used(vq, tk.head[i], tk.tag[i]);
            tk.head[i] = tk.head[--tk.n];
            tk.tag[i] = tk.tag[tk.n];
            (void)vub_queue_signal(q);
        }
    if (!atomic_load(&tk.hold)) {
        tk.n = 0; /* a restarted ring: what was held comes back through the inflight region */
        int rc = vub_queue_serve(q, track_request, ctx);
        return rc < 0 ? rc : 0;
    }
    vq_chain c;
    vq_snapshot_buf sb;
    int rc;
    while ((rc = vq_pop(vq, &c)) == 1 && tk.n < 16) {
        if ((rc = vq_snapshot_take_buf(vq, &c, &sb)) < 0 || (rc = tag_of(&sb.snap, &tk.tag[tk.n])) < 0)
            return rc;
        tk.head[tk.n++] = c.head;
        atomic_fetch_add(&tk.held, 1);
    }
    return rc < 0 ? rc : 0;
}
static const vub_device_ops tdev_ops_track = {.queue_kicked = track_kicked};
static void init_track(void)
{
    memset(&tk, 0, sizeof(tk));
    atomic_store(&tk.release, -1);
    vt_setup(&(struct vt_opts){.ops = &tdev_ops_track, .track_inflight = true});
}
TestSuite(inflight_tracking, .init = init_track, .fini = vt_fini, .timeout = 120);

static void wait_held(unsigned n)
{
    for (int i = 0; i < VT_WAIT_MS && atomic_load(&tk.held) < n; i++)
        vt_sleep_ms(1);
    cr_assert_eq(atomic_load(&tk.held), n);
}

static uint32_t wait_used_len(struct vt_ring *r)
{
    uint16_t head;
    uint32_t len;
    for (int i = 0; i < 5000; i++) {
        int rc = vq_mock_used(r->mk, &head, &len);
        cr_assert_geq(rc, 0, "the driver got a used entry it never made available");
        if (rc == 1)
            return len;
        vt_sleep_ms(1);
    }
    cr_assert_fail("no used entry");
    return 0;
}

static void add_tagged(struct vt_ring *r, uint32_t tag)
{
    uint64_t data = 0x80000 + 0x1000ull * tag;
    cr_assert_eq(vmem_write(vt.map, data, &tag, 4), 0);
    (void)vt_add_chain(r, data, 16);
}

/* Three requests popped, the middle one completed, the ring stopped with two in flight; the ring restarts
 * as QEMU 7.2 restarts it after a back-end crash (split: base = used->idx; packed: the stale initial
 * base).  The two come back first, oldest first, then the new one; nothing is used twice. */
static void resubmit_after_restart(enum vq_layout layout)
{
    bool packed = layout == VQ_LAYOUT_PACKED;
    uint64_t f = (1ull << VUB_F_VERSION_1) | (packed ? 1ull << VUB_F_RING_PACKED : 0);
    uint64_t offered;
    cr_assert_eq(vhu_frontend_get_protocol_features(vt.fe, &offered), 0);
    cr_assert(offered & PB(INFLIGHT_SHMFD), "a tracking device offers INFLIGHT_SHMFD");
    vhu_inflight inf;
    int fd = inflight_fd(f, 1, 16, &inf);
    cr_assert_eq(vhu_frontend_set_inflight_fd(vt.fe, &inf, fd), 0);
    vt_memory(1, 1 << 20, 0);
    atomic_store(&tk.hold, 1);
    struct vt_ring r;
    vt_ring_setup(&r, 0, layout, 16, false, false);
    for (uint32_t t = 0; t < 3; t++)
        add_tagged(&r, t);
    vt_kick(&r);
    wait_held(3);
    atomic_store(&tk.release, 1);
    vt_kick(&r);
    cr_assert_eq(wait_used_len(&r), 1);
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0);
    atomic_store(&tk.hold, 0);
    add_tagged(&r, 3);
    cr_assert_eq(vhu_frontend_set_vring_base(vt.fe, 0, packed ? 0x80008000u : 1u), 0);
    cr_assert_eq(restart_ring(&r), 0);
    cr_assert_eq(wait_used_len(&r), 0, "the oldest request in flight first");
    cr_assert_eq(wait_used_len(&r), 2);
    cr_assert_eq(wait_used_len(&r), 3, "then the new one");
    uint16_t h;
    uint32_t len;
    cr_assert_eq(vq_mock_used(r.mk, &h, &len), 0, "nothing used twice");
    uint8_t *m = map_inflight(&inf, fd, PROT_READ);
    unsigned hdr = packed ? 32 : 16, entry = packed ? 32 : 16;
    for (unsigned i = 0; i < 16; i++)
        cr_assert_eq(m[hdr + entry * i], 0, "entry %u is not in flight any more", i);
    munmap(m, inf.mmap_size);
    close(fd);
    vt_ring_free(&r);
}

Test(inflight_tracking, split_requests_in_flight_are_resubmitted_oldest_first)
{
    resubmit_after_restart(VQ_LAYOUT_SPLIT);
}
Test(inflight_tracking, packed_requests_in_flight_are_resubmitted_oldest_first)
{
    resubmit_after_restart(VQ_LAYOUT_PACKED);
}

/* A region the front-end garbled while the ring was stopped: the ring does not start again, with one
 * clear line. */
Test(inflight_tracking, a_garbled_region_keeps_the_ring_stopped)
{
    vhu_inflight inf;
    int fd = inflight_fd(1ull << VUB_F_VERSION_1, 1, 16, &inf);
    vt_memory(1, 1 << 20, 0);
    struct vt_ring r;
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 16, false, false);
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0);
    uint8_t *m = map_inflight(&inf, fd, PROT_READ | PROT_WRITE);
    m[8] = 9; /* version 9 */
    munmap(m, inf.mmap_size);
    cr_assert_neq(restart_ring(&r), 0);
    cr_assert(vt_logged("vq0: cannot start: inflight region: version 9"));
    close(fd);
    vt_ring_free(&r);
}

/* Without track_inflight (and without the protocol bit) the feature is not offered. */
TestSuite(inflight_offer, .init = vt_init, .fini = vt_fini, .timeout = 120);
Test(inflight_offer, inflight_shmfd_is_offered_only_to_devices_that_opt_in)
{
    uint64_t offered;
    cr_assert_eq(vhu_frontend_get_protocol_features(vt.fe, &offered), 0);
    cr_assert_not(offered & PB(INFLIGHT_SHMFD));
}
