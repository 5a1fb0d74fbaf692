/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* fuzz/dev_net.c - libFuzzer target: cvmm-net's request paths (devices/net/net.c) in a complete daemon,
 * through common/daemon_harness.c.  The port is a SOCK_SEQPACKET socketpair standing in for the tap.
 *
 * Each input negotiates (fuzzed feature subsets: MRG_RXBUF, VERSION_1, packed rings, EVENT_IDX), sends the
 * memory table, sets up the rx and tx rings, then in any order: tx chains with fuzzed virtio-net headers and
 * frame bytes (buffers of any length and direction, some outside guest memory), rx frames of fuzzed length
 * sent into the port, rx chains, kicks, GET_VRING_BASE, reconnects.
 * Invariants: those of the harness (owed replies, daemon still answers, no fd leak) plus, for every frame
 * the device transmits: at least a header long, header zeroed (no offload is negotiated). */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_harness.h"
#include "net.h"

#define STEPS_MAX 40

static dh h;
static int port[2] = {-1, -1}; /* [0] the device's, [1] the network's */

/* Frames the device sent: each at least a header, the header zeroed. */
static void check_port(void)
{
    static uint8_t buf[NET_FRAME_MAX + 64];
    for (;;) {
        ssize_t n = recv(port[1], buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0)
            return;
        unsigned hl = net_hdr_len(h.features);
        if ((size_t)n < hl)
            fuzz_fail("the device sent a %zd-byte frame, shorter than its %u-byte header", n, hl);
        for (unsigned i = 0; i < NET_HDR_NUM_BUFFERS_OFF && i < hl; i++)
            if (buf[i])
                fuzz_fail("the device sent a frame whose virtio-net header byte %u is 0x%x (no offload negotiated)", i,
                          buf[i]);
    }
}

static void step(fin *in)
{
    vhu_msg m;
    uint8_t what = fin_u8(in);
    unsigned i = (what >> 7) & 1; /* 0 rx, 1 tx */
    switch (what % 8) {
    case 0:
    case 1:
    case 2: dh_add_chain(&h, in, i); break;
    case 3: { /* a frame from the network */
        static uint8_t frame[NET_FRAME_MAX];
        size_t len = fin_u8(in) & 1 ? fin_u16(in) : fin_u8(in);
        fin_bytes(in, frame, len > sizeof(frame) ? sizeof(frame) : len);
        (void)!send(port[1], frame, len > sizeof(frame) ? sizeof(frame) : len, MSG_DONTWAIT);
        break;
    }
    case 4: dh_kick(&h, i); break;
    case 5:
        vhu_msg_build_state(&m, VHU_REQ_GET_VRING_BASE, dh_flags(in), i, 0);
        dh_request(&h, &m, NULL);
        break;
    case 6: dh_ring_setup(&h, in, i); break;
    default:
        if (fin_u8(in) % 8 == 0)
            dh_reconnect(&h);
        else
            check_port();
        break;
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
    int before = fuzz_count_fds();
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, port) < 0)
        fuzz_fail("socketpair");
    net_dev *dev;
    net_config nc = {.queue_pairs = 1,
                     .port_fds = port,
                     .has_mac = true,
                     .mac = {0x52, 0x54, 0, 1, 2, 3},
                     .mtu = fin_u8(&in) & 1 ? 1500 : 0,
                     .log = fuzz_log()};
    if (net_dev_new(&nc, &dev) < 0)
        fuzz_fail("net_dev_new");
    vub_daemon_config cfg = {.ops = net_dev_ops(), .info = net_dev_info(dev), .ctx = dev};
    dh_start(&h, &cfg, 2);
    dh_negotiate(&h, &in);
    dh_mem_table(&h, &in, false);
    dh_ring_setup(&h, &in, 0);
    dh_ring_setup(&h, &in, 1);
    for (int k = 0; k < STEPS_MAX && !fin_empty(&in); k++)
        step(&in);
    check_port();
    dh_stop(&h);
    net_dev_free(dev);
    close(port[0]);
    close(port[1]);
    if (fuzz_count_fds() != before)
        fuzz_fail("fd leak: %d before, %d after", before, fuzz_count_fds());
    return 0;
}
