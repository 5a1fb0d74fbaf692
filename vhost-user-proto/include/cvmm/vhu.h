/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vhu.h - cvmm::vhost-user-proto umbrella: the vhost-user wire protocol and both endpoints.
 *
 *    cvmm/vhu/msg.h       message ids, header flags, protocol feature bits, packed payloads, vhu_msg
 *    cvmm/vhu/validate.h  the table-driven validator (sizes, fds, replies, gating features, field values)
 *    cvmm/vhu/conn.h      framing over a UNIX stream socket (SCM_RIGHTS, partial I/O, resumable receive)
 *    cvmm/vhu/backend.h   the back-end endpoint and the back-end channel (SET_BACKEND_REQ_FD)
 *    cvmm/vhu/frontend.h  a small front-end client, including serving the back-end channel
 *
 *  Specification: vhost-user.rst (QEMU docs/interop), including VHOST_USER_GET_SHMEM_CONFIG (44) and
 *  VHOST_USER_PROTOCOL_F_SHMEM (bit 22).  Prefix vhu_/VHU_ (QEMU's libvhost-user exports vu_). */
#ifndef CVMM_VHU_H
#define CVMM_VHU_H

#include "cvmm/vhu/msg.h"
#include "cvmm/vhu/validate.h"
#include "cvmm/vhu/conn.h"
#include "cvmm/vhu/backend.h"
#include "cvmm/vhu/frontend.h"

#endif
