/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* fuzz/blk_state.c - libFuzzer target: cvmm-blk's device state record parser (devices/blk/state.c), the
 * untrusted bytes a front-end hands to SET_DEVICE_STATE_FD(LOAD).
 *
 * Input: one control byte (bit 0: the destination disk is read-only; bit 1: reseal the record's CRC-32 so
 * that the field checks behind the checksum get explored), then the record bytes, any length.
 * Invariants: blk_state_apply() returns 0, -EBADMSG, -EPROTONOSUPPORT or -EINVAL; a refused record changes
 * nothing (cache mode, id); an accepted record is a fixed point: encoding the device gives back exactly the
 * input bytes (every field is either checked equal to the destination's or taken from the record). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_input.h"
#include "state.h"

static blk_dev dev_rw, dev_ro;
static char disk_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    snprintf(disk_path, sizeof(disk_path), "/tmp/cvmm-fuzz-state.XXXXXX");
    int fd = mkstemp(disk_path);
    if (fd < 0 || ftruncate(fd, 64 * 512) < 0)
        fuzz_fail("cannot make the disk file");
    close(fd);
    if (blk_disk_open(&dev_rw.disk, disk_path, false, fuzz_log()) ||
        blk_disk_open(&dev_ro.disk, disk_path, true, fuzz_log()) || blk_dev_init(&dev_rw, 1, 128) ||
        blk_dev_init(&dev_ro, 1, 128))
        fuzz_fail("cannot open the disk");
    unlink(disk_path);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t ctl = data[0];
    blk_dev *b = (ctl & 1) ? &dev_ro : &dev_rw;
    size_t len = size - 1;
    uint8_t *rec = malloc(len ? len : 1); /* a copy: the control byte may reseal it */
    if (!rec)
        return 0;
    memcpy(rec, data + 1, len);
    if ((ctl & 2) && len >= BLK_STATE_SIZE)
        blk_state_seal(rec);
    /* a known state before: write-back, a recognisable id */
    atomic_store(&b->disk.writethrough, false);
    memset(b->disk.id, 'i', BLK_ID_BYTES);
    int rc = blk_state_apply(b, rec, len);
    CHECK(rc == 0 || rc == -EBADMSG || rc == -EPROTONOSUPPORT || rc == -EINVAL);
    if (rc < 0) {
        CHECK(!atomic_load(&b->disk.writethrough));
        for (unsigned i = 0; i < BLK_ID_BYTES; i++)
            CHECK(b->disk.id[i] == 'i');
    } else {
        uint8_t out[BLK_STATE_SIZE];
        blk_state_encode(b, out);
        CHECK(len == BLK_STATE_SIZE && memcmp(out, rec, BLK_STATE_SIZE) == 0);
    }
    free(rec);
    return 0;
}
