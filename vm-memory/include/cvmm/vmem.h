/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vmem.h - umbrella header of cvmm's vm-memory library (prefix vmem_). */
#ifndef CVMM_VMEM_H
#define CVMM_VMEM_H
#include "cvmm/vmem/access.h"
#include "cvmm/vmem/atomic.h"
#include "cvmm/vmem/guest.h"
#include "cvmm/vmem/log.h"
#include "cvmm/vmem/map.h"
#include "cvmm/vmem/region.h"
#endif
