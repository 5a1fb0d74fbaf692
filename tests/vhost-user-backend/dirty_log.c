/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Dirty logging for live migration, as the front-end sees it (spec "Migration"): SET_LOG_BASE, LOG_ALL
 * switched on and off by SET_FEATURES while the ring runs, VHOST_VRING_F_LOG's log address for the used
 * ring, SET_LOG_FD signalled after the log changed.  The test device writes every writable buffer and
 * marks it through the map the library gives it; the used ring is marked by virtio-queue. */
#include <fcntl.h>
#include <sys/mman.h>

#include "vub_test.h"

#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)
#define LOG_ALL (1ull << VHU_F_LOG_ALL)
#define LOG_BYTES 64u                /* 512 pages: 2 MiB of guest addresses, the memory is 1 MiB */
#define DATA 0x80000ull              /* chains: 2 readable buffers here, the writable one at DATA + 128 */
#define WLEN (2u * 4096u)            /* writable bytes per chain: pages 0x80, 0x81, 0x82 */
#define USED_PAGE (0x18000ull >> 12) /* queue 0's used ring (vt_ring_addrs) */
#define FAR_LOG 0x1c0000ull          /* a log address outside guest memory, inside the log */

static int log_fd = -1;
static uint8_t *bits;

static void init(void) { vt_init(); }
static void fini(void)
{
    if (bits)
        munmap(bits, 4096);
    bits = NULL;
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
    vt_fini();
}
TestSuite(dirty_log, .init = init, .fini = fini, .timeout = 120);

/* A fresh log area (memfd, the front-end's mapping in @map) sent with SET_LOG_BASE. */
static int new_log(uint8_t **map)
{
    int fd = memfd_create("dirty-log", MFD_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, 4096), 0);
    *map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    cr_assert_neq(*map, MAP_FAILED);
    vhu_log l = {.size = LOG_BYTES, .offset = 0};
    cr_assert_eq(vhu_frontend_set_log_base(vt.fe, &l, fd), 0);
    return fd;
}

static bool marked(const uint8_t *b, uint64_t page)
{
    return (__atomic_load_n(&b[page / 8], __ATOMIC_ACQUIRE) >> (page % 8)) & 1;
}

/* Exactly the pages listed (and no other of the log's 512) are marked. */
static void expect_marked(const uint8_t *b, const uint64_t *pages, unsigned n)
{
    for (uint64_t p = 0; p < LOG_BYTES * 8; p++) {
        bool want = false;
        for (unsigned i = 0; i < n; i++)
            want = want || pages[i] == p;
        cr_assert_eq(marked(b, p), want, "page 0x%llx: marked %d, expected %d", (unsigned long long)p, marked(b, p),
                     want);
    }
}

static void clear(uint8_t *b) { memset(b, 0, LOG_BYTES); }

/* Negotiate (LOG_ALL if @log_all), memory, SET_LOG_BASE, and start queue 0. */
static void bring_up(struct vt_ring *r, bool log_all)
{
    vt_negotiate((1ull << VUB_F_VERSION_1) | (log_all ? LOG_ALL : 0), VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    log_fd = new_log(&bits);
    vt_ring_setup(r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
}

/* One chain through the device, answered. */
static void one_chain(struct vt_ring *r)
{
    uint16_t h = vt_add_chain(r, DATA, WLEN);
    vt_kick(r);
    cr_assert_eq(vt_wait_used(r, h), WLEN);
}

static void set_features(uint64_t extra)
{
    cr_assert_eq(
        vhu_frontend_set_features(vt.fe, (1ull << VUB_F_VERSION_1) | (1ull << VHU_F_PROTOCOL_FEATURES) | extra), 0);
}

/* F_LOG on queue 0's running ring with log address @log, as QEMU does when migration starts. */
static void ring_log_addr(struct vt_ring *r, uint64_t log)
{
    vhu_vring_addr a = {.index = 0,
                        .flags = VHU_VRING_F_LOG,
                        .desc = r->desc + VT_UVA_BASE,
                        .avail = r->driver + VT_UVA_BASE,
                        .used = r->device + VT_UVA_BASE,
                        .log = log};
    cr_assert_eq(vhu_frontend_set_vring_addr(vt.fe, &a), 0);
}

Test(dirty_log, device_writes_and_the_used_ring_are_marked_with_log_all)
{
    struct vt_ring r;
    bring_up(&r, true);
    ring_log_addr(&r, r.device);
    one_chain(&r);
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0); /* stopped: every write is logged now */
    cr_assert_eq(base, 1);
    const uint64_t want[] = {USED_PAGE, DATA >> 12, (DATA >> 12) + 1, (DATA >> 12) + 2};
    expect_marked(bits, want, 4); /* not the descriptors, the avail ring or the readable buffers' page only */
    vt_ring_free(&r);
}

Test(dirty_log, nothing_is_marked_without_log_all)
{
    struct vt_ring r;
    bring_up(&r, false);
    one_chain(&r);
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0);
    expect_marked(bits, NULL, 0);
    vt_ring_free(&r);
}

Test(dirty_log, log_all_switches_logging_on_and_off_while_the_ring_runs)
{
    struct vt_ring r;
    bring_up(&r, false);
    one_chain(&r);
    vt_sync_worker();
    expect_marked(bits, NULL, 0);
    set_features(LOG_ALL); /* migration starts */
    one_chain(&r);
    vt_sync_worker();
    cr_assert(marked(bits, USED_PAGE) && marked(bits, DATA >> 12) && marked(bits, (DATA >> 12) + 2));
    set_features(0); /* migration cancelled */
    clear(bits);
    one_chain(&r);
    vt_sync_worker();
    expect_marked(bits, NULL, 0);
    cr_assert_eq(atomic_load(&vt.dev.chains), 3, "the ring ran throughout");
    vt_ring_free(&r);
}

Test(dirty_log, used_ring_writes_are_marked_at_the_rings_log_address)
{
    struct vt_ring r;
    bring_up(&r, true);
    ring_log_addr(&r, FAR_LOG); /* the spec: it need not be guest memory, only inside the log */
    vt_sync_worker();
    clear(bits); /* the ring's start wrote the used flags (logged at the used ring: no F_LOG yet) */
    one_chain(&r);
    vt_sync_worker();
    const uint64_t want[] = {FAR_LOG >> 12, DATA >> 12, (DATA >> 12) + 1, (DATA >> 12) + 2};
    expect_marked(bits, want, 4);
    vt_ring_free(&r);
}

Test(dirty_log, a_new_log_base_takes_over_before_its_reply)
{
    struct vt_ring r;
    bring_up(&r, true);
    one_chain(&r);
    vt_sync_worker();
    cr_assert(marked(bits, DATA >> 12));
    uint8_t *second;
    int fd2 = new_log(&second); /* the front-end resizes its log: the old one is read once more, then freed */
    clear(bits);
    one_chain(&r);
    vt_sync_worker();
    expect_marked(bits, NULL, 0);
    cr_assert(marked(second, USED_PAGE) && marked(second, DATA >> 12));
    munmap(second, 4096);
    close(fd2);
    vt_ring_free(&r);
}

Test(dirty_log, log_fd_is_signalled_after_the_log_changed)
{
    struct vt_ring r;
    bring_up(&r, true);
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cr_assert_eq(vhu_frontend_set_log_fd(vt.fe, efd), 0);
    one_chain(&r);
    cr_assert(vt_wait_fd(efd, VT_WAIT_MS), "SET_LOG_FD's eventfd was not signalled after the device wrote");
    cr_assert(marked(bits, USED_PAGE) && marked(bits, DATA >> 12), "signalled before the bits were set");
    /* Logging off: writes mark nothing, and nothing is signalled.  A signal for marks made while logging
     * was on may still come after the one taken above (seen once at load 6 in an ASan run; the mechanism
     * is not known): the worker signals at the end of the loop turn that marked, so once a later call on
     * the worker was answered it has come, and it is taken here. */
    set_features(0);
    vt_sync_worker();
    (void)vt_wait_fd(efd, 0);
    one_chain(&r);
    vt_sync_worker();
    cr_assert_not(vt_wait_fd(efd, 100));
    /* A second SET_LOG_FD replaces the first. */
    int efd2 = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cr_assert_eq(vhu_frontend_set_log_fd(vt.fe, efd2), 0);
    set_features(LOG_ALL);
    one_chain(&r);
    cr_assert(vt_wait_fd(efd2, VT_WAIT_MS), "the new eventfd was not signalled");
    cr_assert_not(vt_wait_fd(efd, 100), "the replaced eventfd was signalled");
    close(efd);
    close(efd2);
    vt_ring_free(&r);
}
