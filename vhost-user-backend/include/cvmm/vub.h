/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vub.h - umbrella header of cvmm's vhost-user-backend library (prefix vub_). */
#ifndef CVMM_VUB_H
#define CVMM_VUB_H
#include "cvmm/vub/backend.h"
#include "cvmm/vub/cmdline.h"
#include "cvmm/vub/daemon.h"
#include "cvmm/vub/device.h"
#include "cvmm/vub/program.h"
#include "cvmm/vub/quirks.h"
#include "cvmm/vub/queue.h"
#include "cvmm/vub/sandbox.h"
#include "cvmm/vub/serve.h"
#include "cvmm/vub/watch.h"
#endif
