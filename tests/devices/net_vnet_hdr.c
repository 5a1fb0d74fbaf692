/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-net's virtio-net header checks (devices/net/vnet_hdr.c) and the tap offload flags (tap.c): every
 * rule of a guest's tx header refused on its own with its reason, good headers passed on with only the
 * fields the spec lets the device use; the port's rx header made fit for the guest's features; and
 * TUNSETOFFLOAD per acked feature set on a real tap in a private network namespace (root only, else
 * skipped), read back through ethtool's feature names. */
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvmm/le.h"
#include "net.h"
#include "tap.h"
#include "vnet_hdr.h"

#define F(b) (1ull << (b))
#define TX_ALL (F(NET_F_CSUM) | F(NET_F_HOST_TSO4) | F(NET_F_HOST_TSO6) | F(NET_F_HOST_ECN))
#define RX_ALL (F(NET_F_GUEST_CSUM) | F(NET_F_GUEST_TSO4) | F(NET_F_GUEST_TSO6) | F(NET_F_GUEST_ECN))

static struct net_vnet_hdr hdr(uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size, uint16_t cstart,
                               uint16_t coff)
{
    return (struct net_vnet_hdr){.flags = flags,
                                 .gso_type = gso,
                                 .hdr_len = cvmm_le16_set(hdr_len),
                                 .gso_size = cvmm_le16_set(gso_size),
                                 .csum_start = cvmm_le16_set(cstart),
                                 .csum_offset = cvmm_le16_set(coff),
                                 .num_buffers = cvmm_le16_set(0)};
}

#define NEEDS NET_HDR_F_NEEDS_CSUM
#define TCP4 NET_HDR_GSO_TCPV4
#define TCP6 NET_HDR_GSO_TCPV6
#define ECN NET_HDR_GSO_ECN

TestSuite(net_vnet_hdr, .timeout = 120);

/* ---- tx: the guest's header ---- */

static const struct bad_tx {
    struct net_vnet_hdr h;
    size_t flen;
    uint64_t features;
    const char *why; /* a piece of the reason */
} bad_tx[] = {
    {{NEEDS, 0, {0}, {0}, {34}, {16}, {0}}, 1000, 0, "NEEDS_CSUM without VIRTIO_NET_F_CSUM"},
    {{NEEDS, 0, {0}, {0}, {990}, {16}, {0}}, 1000, TX_ALL, "beyond the frame"}, /* 990 + 16 + 2 > 1000 */
    {{NEEDS, 0, {0}, {0}, {0xffff}, {0xffff}, {0}}, 65000, TX_ALL, "beyond the frame"},
    {{NEEDS, 3 /* UDP */, {54}, {1400}, {34}, {6}, {0}}, 3000, TX_ALL, "gso_type not offered"},
    {{NEEDS, 5 /* UDP_L4 */, {54}, {1400}, {34}, {6}, {0}}, 3000, TX_ALL, "gso_type not offered"},
    {{NEEDS, TCP4, {54}, {1448}, {34}, {16}, {0}}, 3000, F(NET_F_CSUM), "without VIRTIO_NET_F_HOST_TSO4"},
    {{NEEDS, TCP6, {74}, {1428}, {54}, {16}, {0}}, 3000, F(NET_F_CSUM) | F(NET_F_HOST_TSO4), "HOST_TSO6"},
    {{0, ECN, {0}, {0}, {0}, {0}, {0}}, 3000, TX_ALL, "GSO_ECN without a GSO type"},
    {{NEEDS, TCP4 | ECN, {54}, {1448}, {34}, {16}, {0}}, 3000, TX_ALL & ~F(NET_F_HOST_ECN), "HOST_ECN"},
    {{0, TCP4, {54}, {1448}, {0}, {0}, {0}}, 3000, TX_ALL, "GSO frame without NEEDS_CSUM"},
    {{NEEDS, TCP4, {54}, {0}, {34}, {16}, {0}}, 3000, TX_ALL, "gso_size 0"},
    {{NEEDS, TCP4, {54}, {1448}, {34}, {6}, {0}}, 3000, TX_ALL, "csum_offset is not TCP's"},
    {{NEEDS, TCP4, {0}, {1448}, {34}, {16}, {0}}, 52, TX_ALL, "without room for a TCP header"},
    {{NEEDS, TCP4, {3001}, {1448}, {34}, {16}, {0}}, 3000, TX_ALL, "hdr_len beyond the frame"},
};

static struct net_vnet_hdr le(struct net_vnet_hdr h) /* the table's fields are host order: to LE */
{
    return hdr(h.flags, h.gso_type, h.hdr_len.raw, h.gso_size.raw, h.csum_start.raw, h.csum_offset.raw);
}

Test(net_vnet_hdr, each_bad_tx_field_is_refused_with_its_reason)
{
    for (unsigned i = 0; i < sizeof(bad_tx) / sizeof(bad_tx[0]); i++) {
        struct net_vnet_hdr h = le(bad_tx[i].h), before = h;
        const char *why = NULL;
        cr_assert_eq(net_vnet_tx_check(&h, bad_tx[i].flen, bad_tx[i].features, &why), -EINVAL, "case %u", i);
        cr_assert_not_null(why, "case %u", i);
        cr_assert_not_null(strstr(why, bad_tx[i].why), "case %u: '%s' does not say '%s'", i, why, bad_tx[i].why);
        cr_assert_eq(strncmp(why, "tx header: ", 11), 0, "case %u: %s", i, why);
        cr_assert_arr_eq(&h, &before, sizeof(h), "case %u: a refused header is left alone", i);
    }
}

Test(net_vnet_hdr, good_tx_headers_pass_with_the_fields_the_device_may_use)
{
    static const struct {
        struct net_vnet_hdr in, out;
        size_t flen;
        uint64_t features;
    } good[] = {
        /* no offload: zeros in, zeros out; what the device must ignore is cleared (DATA_VALID, RSC_INFO,
         * unknown flags, hdr_len/gso_size/csum_* of a frame that needs none of them, num_buffers) */
        {{0, 0, {0}, {0}, {0}, {0}, {0}}, {0, 0, {0}, {0}, {0}, {0}, {0}}, 60, 0},
        {{0xfe, 0, {0xffff}, {0xffff}, {0xffff}, {0xffff}, {0xffff}}, {0, 0, {0}, {0}, {0}, {0}, {0}}, 60, 0},
        /* partial checksum: flags and csum_* pass; the field may end exactly at the frame's end */
        {{NEEDS | 2, 0, {77}, {9}, {34}, {16}, {5}}, {NEEDS, 0, {0}, {0}, {34}, {16}, {0}}, 52, F(NET_F_CSUM)},
        {{NEEDS, 0, {0}, {0}, {40}, {6}, {0}}, {NEEDS, 0, {0}, {0}, {40}, {6}, {0}}, 48, F(NET_F_CSUM)},
        /* TSO4, TSO6, TSO4 with ECN: every field passes */
        {{NEEDS, TCP4, {66}, {1448}, {34}, {16}, {0}}, {NEEDS, TCP4, {66}, {1448}, {34}, {16}, {0}}, 65000, TX_ALL},
        {{NEEDS, TCP6, {86}, {1428}, {54}, {16}, {0}}, {NEEDS, TCP6, {86}, {1428}, {54}, {16}, {0}}, 20000, TX_ALL},
        {{NEEDS, TCP4 | ECN, {0}, {536}, {34}, {16}, {0}},
         {NEEDS, TCP4 | ECN, {0}, {536}, {34}, {16}, {0}},
         54,
         TX_ALL},
    };
    for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct net_vnet_hdr h = le(good[i].in), want = le(good[i].out);
        const char *why = "unset";
        cr_assert_eq(net_vnet_tx_check(&h, good[i].flen, good[i].features, &why), 0, "case %u: %s", i, why);
        cr_assert_null(why, "case %u", i);
        cr_assert_arr_eq(&h, &want, sizeof(h), "case %u", i);
    }
}

/* ---- rx: the port's header ---- */

Test(net_vnet_hdr, rx_header_follows_the_guest_features)
{
    const char *why;
    /* no GUEST_CSUM: zeros (the tap's DATA_VALID and any garbage in unused fields go) */
    struct net_vnet_hdr h = hdr(NET_HDR_F_DATA_VALID, 0, 0xeeee, 0xeeee, 0xeeee, 0xeeee), zero = {0};
    cr_assert_eq(net_vnet_rx_check(&h, 60, F(NET_F_MRG_RXBUF), &why), 0);
    cr_assert_arr_eq(&h, &zero, sizeof(h));
    /* GUEST_CSUM: DATA_VALID and a partial checksum pass, unknown flags go */
    h = hdr(NET_HDR_F_DATA_VALID | 0x40, 0, 0, 0, 0, 0);
    cr_assert_eq(net_vnet_rx_check(&h, 60, F(NET_F_GUEST_CSUM), &why), 0);
    cr_assert_eq(h.flags, NET_HDR_F_DATA_VALID);
    h = hdr(NEEDS, 0, 0, 0, 34, 16);
    struct net_vnet_hdr want = h;
    cr_assert_eq(net_vnet_rx_check(&h, 52, F(NET_F_GUEST_CSUM), &why), 0);
    cr_assert_arr_eq(&h, &want, sizeof(h));
    /* GSO frames pass whole to a guest that takes them */
    h = hdr(NEEDS, TCP6 | ECN, 86, 1428, 54, 16);
    want = h;
    cr_assert_eq(net_vnet_rx_check(&h, 65000, RX_ALL, &why), 0);
    cr_assert_arr_eq(&h, &want, sizeof(h));
}

Test(net_vnet_hdr, rx_frame_the_guest_cannot_take_is_refused)
{
    static const struct {
        struct net_vnet_hdr h;
        size_t flen;
        uint64_t features;
        const char *why;
    } bad[] = {
        {{NEEDS, 0, {0}, {0}, {34}, {16}, {0}}, 100, 0, "GUEST_CSUM was not acked"},
        {{0, TCP4, {0}, {1448}, {0}, {0}, {0}}, 9000, 0, "GUEST_CSUM was not acked"},
        {{NEEDS, 0, {0}, {0}, {90}, {16}, {0}}, 100, RX_ALL, "beyond the frame"},
        {{NEEDS, TCP4, {66}, {1448}, {34}, {16}, {0}}, 9000, F(NET_F_GUEST_CSUM), "GUEST_TSO4/6 was not acked"},
        {{NEEDS, TCP6, {86}, {1428}, {54}, {16}, {0}}, 9000, RX_ALL & ~F(NET_F_GUEST_TSO6), "was not acked"},
        {{NEEDS, 3 /* UDP */, {42}, {1472}, {34}, {6}, {0}}, 9000, RX_ALL, "gso_type not offered"},
        {{NEEDS, TCP4 | ECN, {66}, {1448}, {34}, {16}, {0}}, 9000, RX_ALL & ~F(NET_F_GUEST_ECN), "GUEST_ECN"},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct net_vnet_hdr h = le(bad[i].h);
        const char *why = NULL;
        cr_assert_eq(net_vnet_rx_check(&h, bad[i].flen, bad[i].features, &why), -EINVAL, "case %u", i);
        cr_assert_not_null(strstr(why, bad[i].why), "case %u: '%s' does not say '%s'", i, why, bad[i].why);
    }
}

/* ---- TUNSETOFFLOAD ---- */

static const struct {
    uint64_t features;
    unsigned tun;
} offload_cases[] = {
    {0, 0},
    {TX_ALL | F(NET_F_MRG_RXBUF), 0}, /* the HOST_* side never reaches the tap's settings */
    {F(NET_F_GUEST_CSUM), TUN_F_CSUM},
    {F(NET_F_GUEST_CSUM) | F(NET_F_GUEST_TSO4), TUN_F_CSUM | TUN_F_TSO4},
    {F(NET_F_GUEST_CSUM) | F(NET_F_GUEST_TSO6), TUN_F_CSUM | TUN_F_TSO6},
    {RX_ALL, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN},
    {F(NET_F_GUEST_CSUM) | F(NET_F_GUEST_ECN), TUN_F_CSUM}, /* ECN without TSO: not passed on */
    {F(NET_F_GUEST_TSO4) | F(NET_F_GUEST_TSO6), 0},         /* TSO without GUEST_CSUM: not passed on */
};
#define NCASES (sizeof(offload_cases) / sizeof(offload_cases[0]))

Test(net_vnet_hdr, tun_offload_flags_per_acked_feature_set)
{
    for (unsigned i = 0; i < NCASES; i++)
        cr_assert_eq(net_tap_offload_flags(offload_cases[i].features), offload_cases[i].tun, "case %u", i);
}

/* The tap's active features by ethtool name (ETHTOOL_GSTRINGS of ETH_SS_FEATURES + ETHTOOL_GFEATURES). */
struct feats {
    unsigned n;
    char (*names)[ETH_GSTRING_LEN];
    struct ethtool_gfeatures *gf;
};

static void ethtool(int sock, const char *dev, void *data)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
    ifr.ifr_data = data;
    cr_assert_eq(ioctl(sock, SIOCETHTOOL, &ifr), 0, "SIOCETHTOOL: %s", strerror(errno));
}

static void feats_read(int sock, const char *dev, struct feats *f)
{
    struct {
        struct ethtool_sset_info hdr;
        uint32_t len;
    } ss = {.hdr = {.cmd = ETHTOOL_GSSET_INFO, .sset_mask = 1ull << ETH_SS_FEATURES}};
    ethtool(sock, dev, &ss);
    f->n = ss.len;
    cr_assert_gt(f->n, 0);
    struct ethtool_gstrings *gs = calloc(1, sizeof(*gs) + (size_t)f->n * ETH_GSTRING_LEN);
    cr_assert_not_null(gs);
    gs->cmd = ETHTOOL_GSTRINGS;
    gs->string_set = ETH_SS_FEATURES;
    gs->len = f->n;
    ethtool(sock, dev, gs);
    f->names = malloc((size_t)f->n * ETH_GSTRING_LEN);
    cr_assert_not_null(f->names);
    memcpy(f->names, gs->data, (size_t)f->n * ETH_GSTRING_LEN);
    free(gs);
    unsigned blocks = (f->n + 31) / 32;
    f->gf = calloc(1, sizeof(*f->gf) + blocks * sizeof(f->gf->features[0]));
    cr_assert_not_null(f->gf);
    f->gf->cmd = ETHTOOL_GFEATURES;
    f->gf->size = blocks;
    ethtool(sock, dev, f->gf);
}

static bool feats_on(const struct feats *f, const char *name)
{
    for (unsigned i = 0; i < f->n; i++)
        if (strncmp(f->names[i], name, ETH_GSTRING_LEN) == 0)
            return (f->gf->features[i / 32].active >> (i % 32)) & 1;
    cr_assert_fail("no feature %s", name);
    return false;
}

static void feats_free(struct feats *f)
{
    free(f->names);
    free(f->gf);
}

Test(net_vnet_hdr, tunsetoffload_per_acked_feature_set_on_a_real_tap)
{
    if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0)
        cr_skip_test("a tap needs root and /dev/net/tun");
    if (unshare(CLONE_NEWNET) != 0) /* this test's own process (Criterion forks one per test) */
        cr_skip_test("cannot make a network namespace: %s", strerror(errno));
    struct cvmm_log quiet = {.level = CVMM_LOG_ERROR};
    int fd, sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(sock, 0);
    cr_assert_eq(net_tap_open("cvmmoff0", false, &quiet, &fd), 0);
    struct feats f;
    feats_read(sock, "cvmmoff0", &f);
    cr_assert_not(feats_on(&f, "tx-checksum-ip-generic"), "a new tap starts without offloads");
    feats_free(&f);
    for (unsigned i = 0; i < NCASES; i++) {
        unsigned fl = net_tap_offload_flags(offload_cases[i].features);
        cr_assert_eq(net_tap_set_offload(fd, fl), 0, "case %u: flags 0x%x", i, fl);
        feats_read(sock, "cvmmoff0", &f);
        cr_assert_eq(feats_on(&f, "tx-checksum-ip-generic"), !!(fl & TUN_F_CSUM), "case %u", i);
        cr_assert_eq(feats_on(&f, "tx-tcp-segmentation"), !!(fl & TUN_F_TSO4), "case %u", i);
        cr_assert_eq(feats_on(&f, "tx-tcp6-segmentation"), !!(fl & TUN_F_TSO6), "case %u", i);
        cr_assert_eq(feats_on(&f, "tx-tcp-ecn-segmentation"), !!(fl & TUN_F_TSO_ECN), "case %u", i);
        feats_free(&f);
    }
    /* what the mapping keeps away from the kernel: TSO without CSUM, ECN without TSO */
    cr_assert_eq(net_tap_set_offload(fd, TUN_F_TSO4), -EINVAL);
    cr_assert_eq(net_tap_set_offload(fd, TUN_F_CSUM | TUN_F_TSO_ECN), -EINVAL);
    close(fd);
    close(sock);
}
