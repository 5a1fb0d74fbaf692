/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vhu/validate.h - the table-driven validator: every message is checked here, once, before any
 *  handler sees it (STYLE §7).
 *
 *  One row per message id (vhu_req_rule(), vhu_backend_req_rule()) gives the request payload size (exact
 *  or a range), the fds required and allowed, whether a reply is owed, the protocol feature that gates the
 *  message, and the same size/fd limits for its reply.  Feature-dependent layouts (XEN_MMAP regions,
 *  SET_LOG_BASE with LOG_SHMFD, fds announced by a "no fd" bit) and field values are checked in code after
 *  the row.  Checks run in this order, and the first failure decides the errno:
 *
 *   -EBADMSG   framing: version != 1, unknown flag bits, size > VHU_PAYLOAD_MAX, REPLY flag on a request
 *              or missing on a reply
 *   -ENOTSUP   unknown request id (the frame itself is sound: the connection can go on)
 *   -EPROTO    gating protocol feature not negotiated; a reply to another request id
 *   -EBADMSG   payload size outside the row's range
 *   -EBADF     fd count outside the row's range, or not matching what the payload announces
 *   -EBADMSG   invalid field value (region count, zero sizes, overlapping regions, config offset/size,
 *              non-page-aligned shmem sizes, reserved bits or fields set, index >= num_queues, ...)
 *   -EOVERFLOW an offset + length (or address + size) that wraps past 2^64
 *   -EFAULT    SHMEM_MAP/UNMAP range outside the shared memory region (only when ctx->shmem is given)
 *
 *  Each failure logs one line through ctx->log naming the message.  The validator never closes fds: the
 *  caller runs vhu_msg_close_fds() on a rejected message (vhu_backend_recv() and the front-end do).
 *  Threads: any (pure functions of their arguments). */
#ifndef CVMM_VHU_VALIDATE_H
#define CVMM_VHU_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include "cvmm/log.h"
#include "cvmm/vhu/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Whether a request solicits an explicit reply (spec "Communication").  Requests with VHU_REPLY_NONE
 *  get a u64 REPLY_ACK instead when NEED_REPLY is set and VHU_PROTOCOL_F_REPLY_ACK was negotiated. */
enum vhu_reply_kind {
    VHU_REPLY_NONE = 0,
    VHU_REPLY_ALWAYS = 1,
    VHU_REPLY_IF_LOG_SHMFD = 2, /* SET_LOG_BASE: explicit reply iff LOG_SHMFD is negotiated */
    VHU_REPLY_POSTCOPY = 3,     /* SET_MEM_TABLE / ADD_MEM_REG: explicit reply after POSTCOPY_LISTEN */
};

/** One row of the table.  A size range with min == max is an exact size. */
typedef struct vhu_msg_rule {
    uint32_t size_min;       /* request payload bytes, at least */
    uint32_t size_max;       /* request payload bytes, at most */
    uint8_t fds_min;         /* request fds, at least */
    uint8_t fds_max;         /* request fds, at most */
    uint8_t reply;           /* enum vhu_reply_kind */
    int8_t gate;             /* enum vhu_protocol_feature that must be negotiated, or -1 */
    uint32_t reply_size_min; /* explicit reply payload bytes, at least (unused for VHU_REPLY_NONE) */
    uint32_t reply_size_max; /* explicit reply payload bytes, at most */
    uint8_t reply_fds_min;   /* reply fds, at least */
    uint8_t reply_fds_max;   /* reply fds, at most */
} vhu_msg_rule;

/** vhu_req_rule() / vhu_backend_req_rule() - the row for a front-end / back-end request id.
 *  Return: a pointer into a static const table; NULL for an unknown id.  Threads: any. */
const vhu_msg_rule *vhu_req_rule(uint32_t req);
const vhu_msg_rule *vhu_backend_req_rule(uint32_t req);

/** What the validator knows about the connection.  Zero-initialise, then fill what you know. */
typedef struct vhu_validate_ctx {
    const struct cvmm_log *log;    /* borrowed, may be NULL (stderr, WARN) */
    const char *name;              /* prefix of log lines ("vhu" if NULL) */
    uint64_t protocol_features;    /* negotiated protocol features (VHU_PROTOCOL_BIT(...)) */
    uint32_t num_queues;           /* vring indices must be below this; 0 = not checked */
    uint32_t page_size;            /* shmem alignment; 0 = sysconf(_SC_PAGESIZE) */
    bool postcopy_listening;       /* POSTCOPY_LISTEN seen: SET_MEM_TABLE / ADD_MEM_REG get explicit replies */
    const vhu_shmem_config *shmem; /* borrowed, may be NULL: bounds for SHMEM_MAP/UNMAP */
} vhu_validate_ctx;

/** vhu_validate_req() - check a front-end -> back-end request.  Return: 0 or the errnos listed above.
 *  Ownership: borrows @m (fds untouched) and @ctx.  Threads: any. */
int vhu_validate_req(const vhu_msg *m, const vhu_validate_ctx *ctx);

/** vhu_validate_reply() - check @reply, the back-end's answer to @req (a request we sent): the REPLY flag,
 *  the same request id, then an explicit reply's layout (e.g. GET_CONFIG: size 0 for an error or the
 *  request's offset/size/flags; GET_VRING_BASE: the same index) or, when @req owes only an ack, a u64
 *  with no fds.  Return: as vhu_validate_req() (-EPROTO for another request id).  Threads: any. */
int vhu_validate_reply(const vhu_msg *reply, const vhu_msg *req, const vhu_validate_ctx *ctx);

/** vhu_validate_backend_req() - check a back-end -> front-end request (back-end channel). */
int vhu_validate_backend_req(const vhu_msg *m, const vhu_validate_ctx *ctx);

/** vhu_validate_backend_reply() - check the front-end's answer to back-end request @req: a u64 ack, or
 *  for SHARED_OBJECT_LOOKUP a u64 plus an fd exactly when the u64 is 0. */
int vhu_validate_backend_reply(const vhu_msg *reply, const vhu_msg *req, const vhu_validate_ctx *ctx);

/** vhu_validate_shmem_config() - the GET_SHMEM_CONFIG rules: nregions <= 256 and equal to the number of
 *  non-zero sizes (index = shmid, so sparse ids are fine), every size a multiple of the page size.
 *  Used on replies and by a back-end before it sends its own.  Return: 0; -EBADMSG. */
int vhu_validate_shmem_config(const vhu_shmem_config *c, const vhu_validate_ctx *ctx);

/** What the receiver of a (valid) request owes its sender. */
enum vhu_owed {
    VHU_OWED_NOTHING = 0,
    VHU_OWED_REPLY = 1, /* an explicit reply (the table's reply layout) */
    VHU_OWED_ACK = 2,   /* a u64 REPLY_ACK: 0 success, non-zero failure */
};

/** vhu_req_owed() - what the back-end owes for front-end request @m: VHU_OWED_REPLY for messages that
 *  always reply (and SET_LOG_BASE with LOG_SHMFD, SET_MEM_TABLE/ADD_MEM_REG while postcopy listening),
 *  else VHU_OWED_ACK if NEED_REPLY is set and REPLY_ACK negotiated, else VHU_OWED_NOTHING.  NEED_REPLY
 *  without REPLY_ACK negotiated is ignored, as the spec only defines it with the feature.  An unknown id
 *  owes an ack under the same condition (so a front-end waiting for one is not left hanging).
 *  Threads: any. */
enum vhu_owed vhu_req_owed(const vhu_msg *m, const vhu_validate_ctx *ctx);

/** vhu_backend_req_owed() - what the front-end owes for back-end request @m (SHARED_OBJECT_LOOKUP always
 *  replies; the rest ack when NEED_REPLY is set and REPLY_ACK negotiated). */
enum vhu_owed vhu_backend_req_owed(const vhu_msg *m, const vhu_validate_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
