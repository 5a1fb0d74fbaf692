/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* fuzz/dev_blk_rng.c - libFuzzer target: the request paths of cvmm-blk and cvmm-rng (devices/blk/blk.c,
 * devices/rng/rng.c) on a ring filled by the mock driver.
 *
 * Guest memory: 1 MiB memfd at gpa 0 (rings at 0x1000.., buffers from 0x10000) and a read-only 64 KiB
 * region at 0x200000; an optional dirty log.  The disk: a 64 KiB temporary file, read-only or not.
 * The input picks the device and the ring layout, then describes chains: a virtio-blk header (a known
 * request type or any, a sector near the end of the disk or any) and data / status buffers of fuzzed
 * lengths and directions (some in the read-only region, some overlapping the header), direct or indirect,
 * with fuzzed bytes written into them; sometimes a raw descriptor is rewritten after the chain was added.
 * Then the device serves the queue.
 * Invariants: the handler returns a count or -EIO/-EPROTO; every used entry names a chain that was made
 * available and reports no more bytes than the chain's writable buffers hold (rng: at most RNG_CHAIN_MAX);
 * the disk file never changes size (issue 10 defect 2: a request must not write past the capacity). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blk.h"
#include "cvmm/vmem.h"
#include "cvmm/vq.h"
#include "cvmm/vq/mock.h"
#include "cvmm/vq/snapshot.h"
#include "fuzz_input.h"
#include "rng.h"

#define MEM0 0x100000ull
#define GPA1 0x200000ull
#define MEM1 0x10000ull
#define DATA 0x10000ull
#define DISK_BYTES 65536ull
#define CHAINS_MAX 16

static vmem_region *reg[2];
static vmem_log *dlog;
static vmem_map *map_plain, *map_logged;
static blk_disk disk_rw, disk_ro;
static char disk_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    vmem_region_desc d0 = {.gpa = 0, .size = MEM0};
    vmem_region_desc d1 = {.gpa = GPA1, .size = MEM1, .flags = VMEM_REGION_READ_ONLY};
    if (vmem_region_new_memfd(&d0, fuzz_log(), &reg[0]) || vmem_region_new_memfd(&d1, fuzz_log(), &reg[1]) ||
        vmem_map_new(reg, 2, NULL, fuzz_log(), &map_plain))
        fuzz_fail("cannot set up guest memory");
    int lfd = memfd_create("fuzz-dirty", MFD_CLOEXEC);
    uint64_t log_size = (GPA1 + MEM1) / 4096 / 8;
    if (lfd < 0 || ftruncate(lfd, (off_t)log_size) < 0 || vmem_log_new_fd(lfd, 0, log_size, fuzz_log(), &dlog) < 0 ||
        vmem_map_with_log(map_plain, dlog, &map_logged) < 0)
        fuzz_fail("cannot set up the dirty log");
    snprintf(disk_path, sizeof(disk_path), "/tmp/cvmm-fuzz-disk.XXXXXX");
    int fd = mkstemp(disk_path);
    if (fd < 0 || ftruncate(fd, DISK_BYTES) < 0)
        fuzz_fail("cannot make the disk file");
    close(fd);
    if (blk_disk_open(&disk_rw, disk_path, false, fuzz_log()) || blk_disk_open(&disk_ro, disk_path, true, fuzz_log()))
        fuzz_fail("cannot open the disk");
    unlink(disk_path);
    return 0;
}

/* rng_request() for every available chain, as the daemon's serving loop does it. */
static int rng_process(vq_queue *q)
{
    static vq_desc_info desc[64 + 65536];
    vq_chain c;
    vq_snapshot s;
    int rc;
    while ((rc = vq_pop(q, &c)) == 1) {
        uint32_t used = 0;
        rc = vq_snapshot_take(q, &c, desc, sizeof(desc) / sizeof(desc[0]), &s);
        if (rc == 0 && (rc = rng_request(NULL, NULL, &s, &used)) < 0)
            return rc;
        if (rc < 0 && rc != -ENOSPC)
            return rc;
        if ((rc = vq_add_used(q, c.head, used)) < 0)
            return rc;
    }
    return rc;
}

struct made {
    uint16_t head;
    uint64_t writable;
    bool overlap; /* a buffer lies on the rings or tables: the header or the device's writes change them */
};

static uint64_t buf_gpa(fin *in, unsigned i)
{
    uint8_t how = fin_u8(in);
    switch (how % 8) {
    case 0: return GPA1 + (fin_u16(in) % MEM1);   /* read-only region */
    case 1: return MEM0 - (fin_u16(in) % 0x1000); /* at the end of region 0 */
    case 2: return fin_u64(in);
    default: return DATA + 0x2000ull * i + (how >> 3) * 16;
    }
}

static uint32_t buf_len(fin *in)
{
    uint8_t how = fin_u8(in);
    switch (how % 6) {
    case 0: return 16;
    case 1: return 1;
    case 2: return 512 * (1 + (how >> 3));
    case 3: return fin_u32(in);
    default: return fin_u16(in) % 0x2000;
    }
}

/* One chain: a header buffer (blk), more buffers, contents written where they fit. */
static bool add_chain(fin *in, vq_mock *mk, unsigned i, bool blk, struct made *out)
{
    vq_mock_buf b[8];
    unsigned n = 1 + fin_u8(in) % 8;
    for (unsigned k = 0; k < n; k++)
        b[k] = (vq_mock_buf){.gpa = buf_gpa(in, i * 8 + k), .len = buf_len(in), .write = fin_u8(in) & 1};
    if (blk) { /* a header: type, reserved, sector */
        static const uint32_t types[] = {BLK_T_IN,           BLK_T_OUT,     BLK_T_FLUSH,        BLK_T_GET_ID,
                                         BLK_T_GET_LIFETIME, BLK_T_DISCARD, BLK_T_WRITE_ZEROES, BLK_T_SECURE_ERASE};
        uint8_t t = fin_u8(in);
        uint32_t type = t & 0x80 ? fin_u32(in) : types[t % 8];
        uint64_t sector = t & 0x40 ? fin_u64(in) : DISK_BYTES / 512 - fin_u8(in) % 4;
        uint8_t hdr[16];
        memcpy(hdr, &type, 4);
        memset(hdr + 4, 0, 4);
        memcpy(hdr + 8, &sector, 8);
        (void)vmem_write(map_plain, b[0].gpa, hdr, sizeof(hdr));
        /* discard / write zeroes segments: {le64 sector, le32 num_sectors, le32 flags} */
        if (n > 1 && (type == BLK_T_DISCARD || type == BLK_T_WRITE_ZEROES)) {
            uint8_t seg[16];
            fin_bytes(in, seg, sizeof(seg));
            (void)vmem_write(map_plain, b[1].gpa, seg, sizeof(seg));
        }
    }
    uint64_t w = 0;
    out->overlap = false;
    for (unsigned k = 0; k < n; k++) {
        if (b[k].write)
            w += b[k].len;
        out->overlap |= b[k].len && (b[k].gpa < DATA || b[k].gpa + b[k].len < b[k].gpa);
    }
    int rc;
    if (fin_u8(in) & 1)
        rc = vq_mock_add_indirect(mk, 0x8000 + 0x100 * i, b, n, &out->head);
    else
        rc = vq_mock_add(mk, b, n, &out->head);
    out->writable = w;
    return rc == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fin in = {data, size};
    uint8_t mode = fin_u8(&in);
    bool blk = !(mode & 1), packed = mode & 2, logged = mode & 4;
    blk_disk *disk = mode & 8 ? &disk_ro : &disk_rw;
    const vmem_map *map = logged ? map_logged : map_plain;
    memset(vmem_region_hva(reg[0]), 0, 0x10000);

    vq_queue *q;
    vq_queue_config qc = {.max_size = 64, .log = fuzz_log()};
    CHECK(vq_queue_new(&qc, &q) == 0);
    vq_mock_config mc = {.layout = packed ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT,
                         .size = 64,
                         .event_idx = mode & 16,
                         .desc_gpa = 0x1000,
                         .driver_gpa = 0x3000,
                         .device_gpa = 0x4000};
    vq_mock *mk;
    CHECK(vq_mock_new(map, &mc, &mk) == 0);
    CHECK(vq_mock_attach(mk, q) == 0);

    struct made made[CHAINS_MAX];
    unsigned nmade = 0, chains = 1 + fin_u8(&in) % CHAINS_MAX;
    bool raw = false; /* ring memory was rewritten: ids and lengths are the driver's own doing */
    for (unsigned i = 0; i < chains && !fin_empty(&in); i++) {
        if (add_chain(&in, mk, i, blk, &made[nmade])) {
            raw |= made[nmade].overlap; /* what lands on the ring is the guest's own doing */
            nmade++;
        }
        if (fin_u8(&in) == 0xff) { /* the driver rewrites a descriptor after making it available */
            (void)vq_mock_write_desc(mk, fin_u8(&in) % 64, fin_u64(&in), fin_u32(&in), fin_u16(&in), fin_u16(&in));
            raw = true;
        }
    }

    int rc = blk ? blk_queue_process(disk, q) : rng_process(q);
    CHECK(rc >= 0 || rc == -EIO || rc == -EPROTO);

    uint16_t head;
    uint32_t len;
    while ((rc = vq_mock_used(mk, &head, &len)) == 1) {
        unsigned i = 0;
        while (i < nmade && made[i].head != head)
            i++;
        if (i == nmade && raw)
            continue;
        if (i == nmade)
            fuzz_fail("used entry for head %u that was never made available", head);
        if (len > made[i].writable && !raw)
            fuzz_fail("used len %u > %llu writable bytes (head %u)", len, (unsigned long long)made[i].writable, head);
        if (!blk && len > RNG_CHAIN_MAX && !raw)
            fuzz_fail("rng used len %u > RNG_CHAIN_MAX (%u writable bytes)", len, (unsigned)made[i].writable);
        made[i].head = UINT16_MAX; /* each only once */
    }
    if (rc != 0 && !raw)
        fuzz_fail("the mock driver read a used entry it never made available (%d)", rc);
    struct stat st;
    CHECK(fstat(disk_rw.fd, &st) == 0);
    if ((uint64_t)st.st_size != DISK_BYTES)
        fuzz_fail("the disk file changed size: %lld bytes, was %llu", (long long)st.st_size,
                  (unsigned long long)DISK_BYTES);
    vq_mock_free(mk);
    vq_queue_free(q);
    return 0;
}
