/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vq.h - umbrella header of cvmm's virtio-queue library (prefix vq_). */
#ifndef CVMM_VQ_H
#define CVMM_VQ_H
#include "cvmm/vq/chain.h"
#include "cvmm/vq/inflight.h"
#include "cvmm/vq/notify.h"
#include "cvmm/vq/packed.h"
#include "cvmm/vq/queue.h"
#include "cvmm/vq/rw.h"
#include "cvmm/vq/snapshot.h"
#include "cvmm/vq/split.h"
#include "cvmm/vq/state.h"
#endif
