/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* fuzz/vub_daemon.c - libFuzzer target: stateful vhost-user message sequences against a complete daemon
 * (vhost-user-backend) with a test device, through common/daemon_harness.c.
 *
 * Each input starts a daemon (2 workers, 4 queues, a test device that walks its rings and writes every
 * writable buffer), connects, and runs up to 48 steps in any order: raw messages (any id, flags, payload
 * and fds of any kind), well-formed negotiation, memory tables of real memfds (with fuzzed addresses,
 * offsets and sizes), ADD/REM_MEM_REG, SET_VRING_* with fuzzed values and fds, ring set-up with a mock
 * driver, chains added and kicked (by eventfd or in-band VRING_KICK), GET_VRING_BASE (stops a ring),
 * config space, log base, back-end channel, device state transfer, reset, reconnect.
 * Invariants after every step (the harness): framing errors close the connection, every owed reply or
 * REPLY_ACK arrives, no reply arrives that was not owed; at the end the daemon still answers, and once it
 * is freed no fd is left open. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cvmm/vq.h"
#include "cvmm/vq/mock.h"
#include "daemon_harness.h"

#define NQ 4
#define STEPS_MAX 48
#define CONFIG_SIZE 16

/* ---- the test device ---- */
static uint8_t config[CONFIG_SIZE];

static int tdev_kicked(void *ctx, vub_queue *q)
{
    (void)ctx;
    vq_queue *vq = vub_queue_vq(q);
    vq_chain c;
    int rc;
    do {
        (void)vq_disable_notification(vq);
        while ((rc = vq_pop(vq, &c)) == 1) {
            vq_desc_info di;
            uint32_t written = 0;
            int w;
            while ((w = vq_chain_next(vq, &c, &di)) == 1)
                if (di.write && di.len) {
                    memset(di.hva, 0xa5, di.len);
                    (void)vmem_map_mark_dirty(vub_queue_map(q), di.gpa, di.len);
                    written += di.len;
                }
            if (w < 0)
                return w;
            if ((rc = vq_add_used(vq, c.head, written)) < 0)
                return rc;
        }
        if (rc < 0)
            return rc;
    } while (vq_enable_notification(vq) == 1);
    return vub_queue_notify(q);
}
static int tdev_get_config(void *ctx, uint32_t off, void *buf, uint32_t len)
{
    (void)ctx;
    memcpy(buf, config + off, len);
    return 0;
}
static int tdev_set_config(void *ctx, uint32_t off, const void *buf, uint32_t len, uint32_t flags)
{
    (void)ctx, (void)flags;
    if (off < 4)
        return -EPERM;
    memcpy(config + off, buf, len);
    return 0;
}
static int tdev_save(void *ctx, int fd)
{
    (void)ctx;
    return write(fd, config, sizeof(config)) == (ssize_t)sizeof(config) ? 0 : -EIO;
}
static int tdev_load(void *ctx, int fd)
{
    (void)ctx;
    uint8_t b[64];
    ssize_t n = read(fd, b, sizeof(b));
    return n < 0 ? -EIO : 0;
}
static int tdev_shmem(void *ctx, vhu_shmem_config *out)
{
    (void)ctx;
    out->nregions = 1;
    out->mem_size[1] = 0x10000;
    return 0;
}
static int tdev_ok(void *ctx, vub_queue *q)
{
    (void)ctx, (void)q;
    return 0;
}

static const vub_device_ops tdev_ops = {
    .get_config = tdev_get_config,
    .set_config = tdev_set_config,
    .queue_started = tdev_ok,
    .queue_stopped = tdev_ok,
    .queue_kicked = tdev_kicked,
    .state_save = tdev_save,
    .state_load = tdev_load,
    .get_shmem_config = tdev_shmem,
};
static const vub_device_info tdev_info = {
    .name = "fuzzdev",
    .num_queues = NQ,
    .max_queue_size = 256,
    .features = (1ull << VUB_F_VERSION_1) | (1ull << VUB_F_RING_EVENT_IDX) | (1ull << VUB_F_RING_PACKED) |
                (1ull << VUB_F_RING_INDIRECT_DESC),
    .protocol_features = VUB_PROTOCOL_OPTIONAL,
    .config_size = CONFIG_SIZE,
};

/* ---- the driver side ---- */
static dh h;

/* Any message: id, flags, payload bytes and fds straight from the input. */
static void raw_message(fin *in)
{
    vhu_msg m;
    memset(&m, 0, sizeof(m));
    m.hdr.request = fin_u8(in) % (VHU_REQ_MAX + 2);
    uint8_t f = fin_u8(in);
    m.hdr.flags = f & 0x80 ? fin_u32(in) : VHU_VERSION | (f & 1 ? VHU_FLAG_NEED_REPLY : 0);
    uint32_t len = fin_u8(in);
    len = (uint32_t)fin_bytes(in, m.payload.raw, len);
    m.hdr.size = f & 0x40 ? fin_u32(in) % (VHU_PAYLOAD_MAX + 64) : len;
    for (unsigned i = 0; i < VHU_MAX_FDS; i++)
        m.fds[i] = -1;
    int fds[VHU_MAX_FDS + 1];
    m.nfds = (uint32_t)fuzz_fds_pick(&h.fds, in, VHU_MAX_FDS, fds);
    memcpy(m.fds, fds, sizeof(int) * m.nfds);
    dh_request(&h, &m, NULL);
}

static void step(fin *in)
{
    vhu_msg m;
    uint8_t what = fin_u8(in);
    unsigned i = (what >> 5) % NQ;
    switch (what % 20) {
    case 0:
    case 1: raw_message(in); break;
    case 2: dh_negotiate(&h, in); break;
    case 3: dh_mem_table(&h, in, false); break;
    case 4: dh_mem_table(&h, in, true); break;
    case 5: { /* REM_MEM_REG of the region (or another) */
        vhu_mem_reg reg = {
            .region = {.guest_addr = fin_u8(in) & 1 ? fin_u64(in) : 0, .size = DH_MEM, .user_addr = DH_UVA_BASE}};
        vhu_msg_init(&m, VHU_REQ_REM_MEM_REG, dh_flags(in));
        vhu_msg_set_payload(&m, &reg, sizeof(reg));
        vhu_msg_add_fd(&m, vmem_region_fd(h.mem));
        dh_request(&h, &m, NULL);
        break;
    }
    case 6:
    case 7: dh_ring_setup(&h, in, i); break;
    case 8:
    case 9:
    case 10: dh_add_chain(&h, in, i); break;
    case 11: dh_kick(&h, i); break;
    case 12: /* GET_VRING_BASE stops the ring */
        vhu_msg_build_state(&m, VHU_REQ_GET_VRING_BASE, dh_flags(in), i, 0);
        dh_request(&h, &m, NULL);
        break;
    case 13: { /* SET_VRING_NUM / BASE / ENABLE with any value, in any order */
        static const uint32_t reqs[] = {VHU_REQ_SET_VRING_NUM, VHU_REQ_SET_VRING_BASE, VHU_REQ_SET_VRING_ENABLE};
        vhu_msg_build_state(&m, reqs[fin_u8(in) % 3], dh_flags(in), fin_u8(in) & 1 ? fin_u32(in) : i, fin_u32(in));
        dh_request(&h, &m, NULL);
        break;
    }
    case 14: { /* SET_VRING_KICK / CALL / ERR with an fd of any kind (or the "no fd" bit) */
        static const uint32_t reqs[] = {VHU_REQ_SET_VRING_KICK, VHU_REQ_SET_VRING_CALL, VHU_REQ_SET_VRING_ERR};
        uint8_t how = fin_u8(in);
        uint64_t v = how & 0x80 ? fin_u64(in) : i | (how & 0x40 ? 0x100u : 0);
        vhu_msg_build_u64(&m, reqs[how % 3], dh_flags(in), v);
        if (!(how & 0x40)) {
            int fd = dh_fd(&h, in);
            if (fd >= 0)
                vhu_msg_add_fd(&m, fd);
            if (reqs[how % 3] == VHU_REQ_SET_VRING_KICK && (v & 0xff) == i)
                h.rings[i].kick = fd;
        }
        dh_request(&h, &m, NULL);
        break;
    }
    case 15: { /* GET_CONFIG / SET_CONFIG */
        vhu_config c = {.offset = fin_u8(in) % 24, .size = 1 + fin_u8(in) % 24, .flags = fin_u8(in) & 1};
        fin_bytes(in, c.data, c.size);
        vhu_msg_init(&m, fin_u8(in) & 1 ? VHU_REQ_SET_CONFIG : VHU_REQ_GET_CONFIG, dh_flags(in));
        vhu_msg_set_payload(&m, &c, VHU_CONFIG_HDR_SIZE + c.size);
        dh_request(&h, &m, NULL);
        break;
    }
    case 16: { /* SET_LOG_BASE / SET_BACKEND_REQ_FD / SET_DEVICE_STATE_FD with fds of any kind */
        uint8_t how = fin_u8(in);
        int fd = dh_fd(&h, in);
        if (how % 3 == 0) {
            vhu_log l = {.size = fin_u8(in) & 1 ? fin_u64(in) : 4096, .offset = fin_u8(in) & 1 ? fin_u64(in) : 0};
            vhu_msg_init(&m, VHU_REQ_SET_LOG_BASE, dh_flags(in));
            vhu_msg_set_payload(&m, &l, sizeof(l));
        } else if (how % 3 == 1) {
            vhu_msg_init(&m, VHU_REQ_SET_BACKEND_REQ_FD, dh_flags(in));
        } else {
            vhu_device_state s = {.direction = fin_u8(in) % 3, .phase = fin_u8(in) % 2};
            vhu_msg_init(&m, VHU_REQ_SET_DEVICE_STATE_FD, dh_flags(in));
            vhu_msg_set_payload(&m, &s, sizeof(s));
        }
        if (fd >= 0)
            vhu_msg_add_fd(&m, fd);
        dh_request(&h, &m, NULL);
        if (how & 0x80) {
            vhu_msg_init(&m, VHU_REQ_CHECK_DEVICE_STATE, 0);
            dh_request(&h, &m, NULL);
        }
        break;
    }
    case 17: { /* in-band kick, status, reset */
        static const uint32_t reqs[] = {VHU_REQ_VRING_KICK,        VHU_REQ_SET_STATUS,      VHU_REQ_GET_STATUS,
                                        VHU_REQ_RESET_DEVICE,      VHU_REQ_RESET_OWNER,     VHU_REQ_GET_QUEUE_NUM,
                                        VHU_REQ_GET_MAX_MEM_SLOTS, VHU_REQ_GET_SHMEM_CONFIG};
        uint32_t req = reqs[fin_u8(in) % 8];
        if (req == VHU_REQ_VRING_KICK)
            vhu_msg_build_state(&m, req, dh_flags(in), i, 0);
        else if (req == VHU_REQ_SET_STATUS)
            vhu_msg_build_u64(&m, req, dh_flags(in), fin_u8(in));
        else
            vhu_msg_init(&m, req, dh_flags(in));
        dh_request(&h, &m, NULL);
        break;
    }
    case 18:
        if (fin_u8(in) % 4 == 0)
            dh_reconnect(&h);
        break;
    default: /* the guest scribbles on its memory (rings included) */
    {
        uint64_t at = dh_ring_gpa(i) + fin_u16(in);
        uint8_t buf[32];
        size_t len = fin_bytes(in, buf, 1 + fin_u8(in) % sizeof(buf));
        (void)vmem_write(h.map, at, buf, len);
        dh_kick(&h, i);
        break;
    }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    dh_init(&h);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fin in = {data, size};
    for (unsigned i = 0; i < CONFIG_SIZE; i++)
        config[i] = (uint8_t)(0x10 + i);
    vub_daemon_config cfg = {.ops = &tdev_ops, .info = &tdev_info, .nworkers = 2};
    dh_start(&h, &cfg, NQ);
    if (fin_u8(&in) & 1) { /* most sequences start as a front-end does */
        dh_negotiate(&h, &in);
        dh_mem_table(&h, &in, false);
    }
    for (int k = 0; k < STEPS_MAX && !fin_empty(&in); k++)
        step(&in);
    dh_stop(&h);
    return 0;
}
