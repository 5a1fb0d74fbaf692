/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-net - a vhost-user virtio-net back-end: a tap device or a sink (see README.md), run by the toolkit
 * (cvmm/vub/program.h).  The device is in net.c, the tap helpers in tap.c. */
#include <errno.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cvmm/fd.h"
#include "cvmm/vub.h"
#include "net.h"
#include "source.h"
#include "tap.h"

static struct net_main {
    const char *tap;
    bool sink;
    uint64_t pairs, mtu, source, budget;
    bool has_mac;
    uint8_t mac[6];
    bool offloads_off; /* --offloads=off */
    int fds[NET_MAX_PAIRS];
    unsigned nfds;
    net_dev *dev;
    bool ran;
} the_net = {.pairs = 1, .budget = NET_BUDGET_DEFAULT};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int opt_mac(void *dest, const char *arg)
{
    struct net_main *op = dest;
    if (strlen(arg) != 17)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        int hi = hexval(arg[3 * i]), lo = hexval(arg[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && arg[3 * i + 2] != ':'))
            return -EINVAL;
        op->mac[i] = (uint8_t)(hi << 4 | lo);
    }
    if (op->mac[0] & 1) /* multicast */
        return -EINVAL;
    op->has_mac = true;
    return 0;
}

static int opt_offloads(void *dest, const char *arg)
{
    struct net_main *op = dest;
    if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
        return -EINVAL;
    op->offloads_off = strcmp(arg, "off") == 0;
    return 0;
}

static const vub_program_option net_opts[] = {
    {.name = "tap",
     .type = VUB_OPT_STRING,
     .value_name = "NAME",
     .dest = &the_net.tap,
     .help = "tap interface to use (made if absent; needs CAP_NET_ADMIN)"},
    {.name = "sink",
     .type = VUB_OPT_FLAG,
     .dest = &the_net.sink,
     .help = "read, count and drop transmitted frames (benchmarks); no rx"},
    {.name = "source",
     .type = VUB_OPT_UINT,
     .value_name = "SIZE",
     .dest = &the_net.source,
     .min = NET_SOURCE_MIN,
     .max = NET_SOURCE_MAX,
     .help = "a sink whose rx queues are filled with SIZE-byte frames as fast as the driver posts buffers",
     .default_text = "off"},
    {.name = "queue-pairs",
     .type = VUB_OPT_UINT,
     .dest = &the_net.pairs,
     .min = 1,
     .max = NET_MAX_PAIRS,
     .help = "rx/tx queue pairs (tap: multi_queue)"},
    {.name = "mac",
     .type = VUB_OPT_CUSTOM,
     .value_name = "MAC",
     .dest = &the_net,
     .parse = opt_mac,
     .help = "offer VIRTIO_NET_F_MAC with this unicast address",
     .default_text = ""},
    {.name = "mtu",
     .type = VUB_OPT_UINT,
     .dest = &the_net.mtu,
     .min = 68,
     .max = 65535,
     .help = "offer VIRTIO_NET_F_MTU with this MTU",
     .default_text = "none"},
    {.name = "budget",
     .type = VUB_OPT_UINT,
     .value_name = "N",
     .dest = &the_net.budget,
     .min = 1,
     .max = NET_BUDGET_MAX,
     .help = "frames one turn of a queue moves before the worker's other queues run (each turn costs a system call)"},
    {.name = "offloads",
     .type = VUB_OPT_CUSTOM,
     .value_name = "on|off",
     .dest = &the_net,
     .parse = opt_offloads,
     .help = "tap: offer checksum and TCP segmentation offloads (CSUM, GUEST_CSUM, HOST/GUEST_TSO4/6, ECN)",
     .default_text = "on"},
};

static void close_ports(struct net_main *m)
{
    for (unsigned i = 0; i < m->nfds; i++)
        cvmm_close(&m->fds[i]);
    m->nfds = 0;
}

/* The sandbox (cvmm/vub/sandbox.h; derived with scripts/sandbox-trace.sh, docs/sandbox.md): the tap queues'
 * fds stay open and no path is opened after set-up.  A tap is read with read(2) and written with writev(2)
 * (net.c); FEATURES_ACKED sets its vnet header length (TUNSETVNETHDRSZ) and offloads (TUNSETOFFLOAD, also once
 * in set-up), and a multi_queue tap attaches and
 * detaches queues as the guest enables pairs (TUNSETQUEUE).  The sink makes no call of its own. */
static int net_sandbox(struct net_main *m, const vub_program_env *env)
{
    int rc = 0;
    for (unsigned i = 0; rc == 0 && i < m->nfds; i++)
        rc = vub_sandbox_keep_fd(env->sandbox, m->fds[i]);
    if (rc == 0 && m->tap)
        rc = vub_sandbox_allow_syscalls(env->sandbox, (const char *const[]){"read", "writev", NULL});
    if (rc == 0 && m->tap)
        rc = vub_sandbox_allow_syscall_arg(env->sandbox, "ioctl", 1, TUNSETVNETHDRSZ);
    if (rc == 0 && m->tap)
        rc = vub_sandbox_allow_syscall_arg(env->sandbox, "ioctl", 1, TUNSETOFFLOAD);
    if (rc == 0 && m->tap && m->pairs > 1)
        rc = vub_sandbox_allow_syscall_arg(env->sandbox, "ioctl", 1, TUNSETQUEUE);
    if (rc < 0)
        fprintf(stderr, "cvmm-net: cannot declare the sandbox: %s\n", strerror(-rc));
    return rc;
}

static int net_setup(void *ctx, vub_program_env *env)
{
    struct net_main *m = ctx;
    bool sink = m->sink || m->source;
    if (!m->tap == !sink) {
        fprintf(stderr, "cvmm-net: exactly one of --tap=NAME or --sink (or --source=SIZE) is required (try --help)\n");
        return -EINVAL;
    }
    int rc = 0;
    for (; m->tap && m->nfds < m->pairs; m->nfds++)
        if ((rc = net_tap_open(m->tap, m->pairs > 1, env->log, &m->fds[m->nfds])) < 0) {
            fprintf(stderr, "cvmm-net: cannot open tap %s: %s\n", m->tap, strerror(-rc));
            close_ports(m); /* teardown() is not called after a failed setup() */
            return rc;
        }
    if ((rc = net_sandbox(m, env)) < 0) {
        close_ports(m);
        return rc;
    }
    net_config nc = {
        .queue_pairs = (unsigned)m->pairs,
        .sink = sink,
        .source_size = (unsigned)m->source,
        .port_fds = sink ? NULL : m->fds,
        .tap = !sink,
        .tap_multi_queue = !sink && m->pairs > 1,
        .offloads = !sink && !m->offloads_off,
        .has_mac = m->has_mac,
        .mtu = (uint16_t)m->mtu,
        .nworkers = env->cmdline->workers,
        .budget = (unsigned)m->budget,
        .log = env->log,
    };
    memcpy(nc.mac, m->mac, 6);
    if ((rc = net_dev_new(&nc, &m->dev)) < 0) {
        fprintf(stderr, "cvmm-net: cannot create the device: %s\n", strerror(-rc));
        close_ports(m);
        return rc;
    }
    env->info = net_dev_info(m->dev);
    env->ctx = m->dev; /* the ops' context is the device */
    return 0;
}

static int net_started(void *ctx, vub_daemon *d)
{
    (void)d;
    ((struct net_main *)ctx)->ran = true;
    return 0;
}

static void net_teardown(void *ctx)
{
    struct net_main *m = ctx;
    if (m->ran) { /* the counters, once the workers ended */
        net_stats s;
        net_dev_stats(m->dev, &s);
        fprintf(stderr,
                "cvmm-net: %s tx_packets=%llu tx_bytes=%llu tx_dropped=%llu rx_packets=%llu rx_bytes=%llu "
                "rx_dropped=%llu tx_gso=%llu rx_gso=%llu\n",
                m->source ? "source"
                : m->sink ? "sink"
                          : "tap",
                (unsigned long long)s.tx_packets, (unsigned long long)s.tx_bytes, (unsigned long long)s.tx_dropped,
                (unsigned long long)s.rx_packets, (unsigned long long)s.rx_bytes, (unsigned long long)s.rx_dropped,
                (unsigned long long)s.tx_gso, (unsigned long long)s.rx_gso);
    }
    net_dev_free(m->dev);
    close_ports(m);
}

static const vub_program prog = {
    .name = "cvmm-net",
    .summary = "virtio-net over a tap device (or a sink)",
    .type = "net",
    .options = net_opts,
    .noptions = sizeof(net_opts) / sizeof(net_opts[0]),
    .ctx = &the_net,
    .setup = net_setup,
    .started = net_started,
    .teardown = net_teardown,
};

int main(int argc, char **argv)
{
    vub_program p = prog;
    p.ops = net_dev_ops();
    return vub_program_main(&p, argc, argv);
}
