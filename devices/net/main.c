/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-net - a vhost-user virtio-net back-end: a tap device or a sink (see README.md).
 *
 *   cvmm-net --socket-path=PATH | --fd=FDNUM  (--tap=NAME | --sink)  [--queue-pairs=N] [--mac=MAC] [--mtu=N]
 *            [--client] [--workers=N] [--log-level=L] [--serve-once] [--print-capabilities] [--help] */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cvmm/fd.h"
#include "cvmm/vub.h"
#include "devmain.h"
#include "net.h"
#include "tap.h"

struct opts {
    const char *tap;
    bool sink;
    unsigned pairs;
    bool has_mac;
    uint8_t mac[6];
    unsigned mtu;
};

static int opt_tap(void *o, const char *arg)
{
    if (!*arg)
        return -EINVAL;
    ((struct opts *)o)->tap = arg;
    return 0;
}

static int opt_sink(void *o, const char *arg)
{
    (void)arg;
    ((struct opts *)o)->sink = true;
    return 0;
}

static int opt_pairs(void *o, const char *arg) { return dev_parse_uint(arg, 1, NET_MAX_PAIRS, &((struct opts *)o)->pairs); }

static int opt_mtu(void *o, const char *arg) { return dev_parse_uint(arg, 68, 65535, &((struct opts *)o)->mtu); }

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

static int opt_mac(void *o, const char *arg)
{
    struct opts *op = o;
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

static const vub_cmdline_option net_opts[] = {
    {.name = "tap", .has_arg = true, .help = "NAME: tap interface to use (made if absent; needs CAP_NET_ADMIN)",
     .parse = opt_tap},
    {.name = "sink", .has_arg = false, .help = "count and drop transmitted frames (benchmarks); no rx",
     .parse = opt_sink},
    {.name = "queue-pairs", .has_arg = true, .help = "N: rx/tx queue pairs, 1..128 (default 1; tap: multi_queue)",
     .parse = opt_pairs},
    {.name = "mac", .has_arg = true, .help = "MAC: offer VIRTIO_NET_F_MAC with this unicast address",
     .parse = opt_mac},
    {.name = "mtu", .has_arg = true, .help = "N: offer VIRTIO_NET_F_MTU with this MTU (68..65535)",
     .parse = opt_mtu},
};
#define NOPTS (sizeof(net_opts) / sizeof(net_opts[0]))

int main(int argc, char **argv)
{
    struct opts o = {.pairs = 1};
    vub_cmdline cl;
    char err[256];
    int fds[NET_MAX_PAIRS];
    unsigned nfds = 0;
    net_dev *dev = NULL;
    vub_daemon *d = NULL;
    int status = 1;
    bool ran = false;

    signal(SIGPIPE, SIG_IGN);
    if (vub_cmdline_parse(argc, argv, net_opts, NOPTS, &o, &cl, err, sizeof(err)) < 0) {
        fprintf(stderr, "cvmm-net: %s (try --help)\n", err);
        return 1;
    }
    if (cl.help) {
        (void)vub_cmdline_usage(1, "cvmm-net", net_opts, NOPTS);
        return 0;
    }
    if (cl.print_capabilities)
        return vub_print_capabilities(1, "net", NULL) < 0 ? 1 : 0;
    if (!o.tap == !o.sink) {
        fprintf(stderr, "cvmm-net: exactly one of --tap=NAME or --sink is required (try --help)\n");
        return 1;
    }
    struct cvmm_log log = {.fn = NULL, .level = cl.log_level};
    if (o.tap) {
        for (; nfds < o.pairs; nfds++) {
            int rc = net_tap_open(o.tap, o.pairs > 1, &log, &fds[nfds]);
            if (rc < 0) {
                fprintf(stderr, "cvmm-net: cannot open tap %s: %s\n", o.tap, strerror(-rc));
                goto out;
            }
        }
    }
    net_config nc = {
        .queue_pairs = o.pairs,
        .sink = o.sink,
        .port_fds = o.sink ? NULL : fds,
        .tap = !o.sink,
        .tap_multi_queue = !o.sink && o.pairs > 1,
        .has_mac = o.has_mac,
        .mtu = (uint16_t)o.mtu,
        .nworkers = cl.workers,
        .log = &log,
    };
    memcpy(nc.mac, o.mac, 6);
    int rc = net_dev_new(&nc, &dev);
    if (rc < 0) {
        fprintf(stderr, "cvmm-net: cannot create the device: %s\n", strerror(-rc));
        goto out;
    }
    vub_daemon_config dc = {
        .ops = net_dev_ops(),
        .info = net_dev_info(dev),
        .ctx = dev,
        .nworkers = cl.workers,
        .log = &log,
        .serve_once = cl.serve_once,
        .handle_signals = true,
    };
    rc = dev_daemon_new("cvmm-net", &dc, &d);
    if (rc < 0)
        goto out;
    rc = vub_cmdline_serve(&cl, d);
    if (rc < 0) {
        fprintf(stderr, "cvmm-net: cannot serve %s: %s\n", cl.socket_path ? cl.socket_path : "--fd",
                strerror(-rc));
        goto out;
    }
    ran = true;
    rc = dev_daemon_run("cvmm-net", d);
    if (rc < 0)
        goto out;
    status = 0;
out:
    vub_daemon_free(d);
    if (ran) { /* the counters, once the workers ended */
        net_stats s;
        net_dev_stats(dev, &s);
        fprintf(stderr,
                "cvmm-net: %s tx_packets=%llu tx_bytes=%llu tx_dropped=%llu rx_packets=%llu rx_bytes=%llu "
                "rx_dropped=%llu\n",
                o.sink ? "sink" : "tap", (unsigned long long)s.tx_packets, (unsigned long long)s.tx_bytes,
                (unsigned long long)s.tx_dropped, (unsigned long long)s.rx_packets,
                (unsigned long long)s.rx_bytes, (unsigned long long)s.rx_dropped);
    }
    net_dev_free(dev);
    for (unsigned i = 0; i < nfds; i++)
        cvmm_close(&fds[i]);
    return status;
}
