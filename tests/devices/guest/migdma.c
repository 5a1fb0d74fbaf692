/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* migdma - guest helper for e2e-migrate.sh blk (built static on the host, copied into the guest).
 *
 *   migdma DEV MARKER READY AFTER SECONDS
 *
 * Catches device writes that a live migration loses.  One buffer of DMA_PAGES pages is written only by
 * the device: every round writes a pattern naming the round and the page (from another buffer) to the
 * disk with O_DIRECT, reads it back into the DMA buffer with O_DIRECT, and compares without writing.  The
 * next round first compares the buffer again: after the switch that is the destination's copy of guest
 * memory, which holds the device's last writes only if the back-end marked them in the dirty log.  Each
 * round also writes a numbered record (one block from RECORDS on) and reads the host's marker block at
 * byte 0.  After READY rounds it prints "E2E-MIGRATE-READY"; once the marker reads MARKER it does AFTER
 * more rounds, then reads every record back (O_DIRECT) and prints "MIG-RECORDS n=N".  No marker after
 * SECONDS is a failure.  Rounds are 10 ms apart, so that the guest does not outrun a throttled migration.  Exit status 0, or 1 with "migdma: FAIL <why>". */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096u
#define DMA_PAGES 64u
#define DMA_OFF (1u << 20)
#define RECORDS (2u << 20)
#define MAX_RECORDS 15000 /* up to 2 MiB + 60 MiB of a 64 MiB disk */

static uint64_t word(uint64_t round, uint64_t page, uint64_t i)
{
    uint64_t x = (round << 32) ^ (page << 16) ^ i ^ 0x9e3779b97f4a7c15ull;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 29);
}

static void fill(uint64_t *buf, uint64_t round)
{
    for (uint64_t p = 0; p < DMA_PAGES; p++) {
        uint64_t *w = buf + p * (PAGE / 8);
        w[0] = 0x43564d4d44000000ull | round; /* "CVMMD" + round */
        w[1] = p;
        for (uint64_t i = 2; i < PAGE / 8; i++)
            w[i] = word(round, p, i);
    }
}

/* Compare the DMA buffer with round @round's pattern, reading only.  Return: -1 matches, else the page. */
static long check(const uint64_t *buf, uint64_t round)
{
    for (uint64_t p = 0; p < DMA_PAGES; p++) {
        const uint64_t *w = buf + p * (PAGE / 8);
        if (w[0] != (0x43564d4d44000000ull | round) || w[1] != p)
            return (long)p;
        for (uint64_t i = 2; i < PAGE / 8; i++)
            if (w[i] != word(round, p, i))
                return (long)p;
    }
    return -1;
}

static void fail(const char *what)
{
    printf("migdma: FAIL %s\n", what);
    exit(1);
}

static void io(int fd, void *buf, size_t len, uint64_t off, int write)
{
    ssize_t n = write ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);
    if (n != (ssize_t)len) {
        printf("migdma: FAIL %s of %zu bytes at %llu: %zd (%m)\n", write ? "write" : "read", len,
               (unsigned long long)off, n);
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: migdma DEV MARKER READY AFTER SECONDS\n");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *marker = argv[2];
    long ready = atol(argv[3]), after = atol(argv[4]), limit = atol(argv[5]);
    time_t t0 = time(NULL);
    int fd = open(argv[1], O_RDWR | O_DIRECT);
    if (fd < 0)
        fail("cannot open the disk with O_DIRECT");
    uint64_t *dma, *src;
    char *rec;
    if (posix_memalign((void **)&dma, PAGE, DMA_PAGES * PAGE) ||
        posix_memalign((void **)&src, PAGE, DMA_PAGES * PAGE) || posix_memalign((void **)&rec, PAGE, PAGE))
        fail("out of memory");
    memset(dma, 0, DMA_PAGES * PAGE); /* fault the pages in now: from here on only the device writes them */
    long r = 0, seen = -1;
    for (;; r++) {
        if (r > 0) {
            long p = check(dma, (uint64_t)r - 1);
            if (p >= 0) {
                printf("migdma: FAIL round %ld: page %ld of the DMA buffer holds round %llu page %llu, expected "
                       "round %ld (a device write the migration lost)\n",
                       r, p, (unsigned long long)(dma[p * (PAGE / 8)] & 0xffffff),
                       (unsigned long long)dma[p * (PAGE / 8) + 1], r - 1);
                return 1;
            }
        }
        fill(src, (uint64_t)r);
        io(fd, src, DMA_PAGES * PAGE, DMA_OFF, 1);
        memset(rec, 0, PAGE);
        snprintf(rec, PAGE, "CVMM-MIGRATE-RECORD %ld\n", r);
        io(fd, rec, PAGE, RECORDS + (uint64_t)r * PAGE, 1);
        io(fd, dma, DMA_PAGES * PAGE, DMA_OFF, 0);
        if (check(dma, (uint64_t)r) >= 0)
            fail("the DMA buffer does not hold what was just written");
        if (r + 1 == ready)
            printf("E2E-MIGRATE-READY after %ld rounds\n", r + 1);
        if (seen < 0) {
            io(fd, rec, PAGE, 0, 0);
            if (strncmp(rec, marker, strlen(marker)) == 0) {
                seen = r;
                printf("migdma: host marker '%s' read in round %ld\n", marker, r);
            } else if (time(NULL) - t0 > limit) {
                fail("no host marker in time");
            }
        } else if (r >= seen + after) {
            break;
        }
        if (r % 50 == 0)
            printf("migdma: round %ld\n", r);
        if (r + 1 >= MAX_RECORDS)
            fail("too many rounds for the disk");
        usleep(10000);
    }
    long n = r + 1;
    char want[64];
    for (long i = 0; i < n; i++) {
        io(fd, rec, PAGE, RECORDS + (uint64_t)i * PAGE, 0);
        int len = snprintf(want, sizeof(want), "CVMM-MIGRATE-RECORD %ld\n", i);
        if (memcmp(rec, want, (size_t)len) != 0) {
            printf("migdma: FAIL record %ld reads '%.40s'\n", i, rec);
            return 1;
        }
    }
    printf("migdma: %ld rounds, the DMA buffer checked before and after each; %ld records verified\n", n, n);
    printf("MIG-RECORDS n=%ld\n", n);
    return 0;
}
