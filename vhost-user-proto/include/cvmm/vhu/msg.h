/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vhu/msg.h - vhost-user message ids, header flags, protocol feature bits and wire payloads.
 *
 *  Every number below comes from the vhost-user specification (the newest upstream text, which
 *  includes VHOST_USER_GET_SHMEM_CONFIG = 44 from the seed patch).  Messages are native-endian (spec:
 *  "All numbers are in the machine native byte order"), so no LE wrapper types appear here.  Every payload
 *  is a packed struct with a _Static_assert on its wire size.
 *
 *  A message in memory is a vhu_msg: the 12-byte header, a payload buffer of VHU_PAYLOAD_MAX bytes (only
 *  hdr.size of them are on the wire) and up to VHU_MAX_FDS file descriptors.
 *
 *  Ownership of vhu_msg.fds[]:
 *   - a RECEIVED message (vhu_conn_recv(), vhu_backend_recv(), ...) owns its fds.  A handler keeps one by
 *     moving it out (`int kick = m->fds[0]; m->fds[0] = -1;`); after dispatch vhu_msg_close_fds() closes
 *     whatever is left, on success and failure paths alike.
 *   - a message BUILT FOR SENDING borrows its fds: vhu_conn_send() passes copies to the peer (SCM_RIGHTS
 *     duplicates them in the kernel) and never closes them; the caller still owns them.
 *
 *  Threads: everything here is a pure function of its arguments (any thread). */
#ifndef CVMM_VHU_MSG_H
#define CVMM_VHU_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#define VHU_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define VHU_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* ------------------------------------------------------------------------------------------------------ */
/* Message ids                                                                                             */

/** Front-end -> back-end requests (spec "Front-end message types"), id = spec id. */
enum vhu_req {
    VHU_REQ_NONE = 0,
    VHU_REQ_GET_FEATURES = 1,
    VHU_REQ_SET_FEATURES = 2,
    VHU_REQ_SET_OWNER = 3,
    VHU_REQ_RESET_OWNER = 4, /* deprecated by the spec */
    VHU_REQ_SET_MEM_TABLE = 5,
    VHU_REQ_SET_LOG_BASE = 6,
    VHU_REQ_SET_LOG_FD = 7,
    VHU_REQ_SET_VRING_NUM = 8,
    VHU_REQ_SET_VRING_ADDR = 9,
    VHU_REQ_SET_VRING_BASE = 10,
    VHU_REQ_GET_VRING_BASE = 11,
    VHU_REQ_SET_VRING_KICK = 12,
    VHU_REQ_SET_VRING_CALL = 13,
    VHU_REQ_SET_VRING_ERR = 14,
    VHU_REQ_GET_PROTOCOL_FEATURES = 15,
    VHU_REQ_SET_PROTOCOL_FEATURES = 16,
    VHU_REQ_GET_QUEUE_NUM = 17,
    VHU_REQ_SET_VRING_ENABLE = 18,
    VHU_REQ_SEND_RARP = 19,
    VHU_REQ_NET_SET_MTU = 20,
    VHU_REQ_SET_BACKEND_REQ_FD = 21, /* previous name SET_SLAVE_REQ_FD */
    VHU_REQ_IOTLB_MSG = 22,
    VHU_REQ_SET_VRING_ENDIAN = 23,
    VHU_REQ_GET_CONFIG = 24,
    VHU_REQ_SET_CONFIG = 25,
    VHU_REQ_CREATE_CRYPTO_SESSION = 26,
    VHU_REQ_CLOSE_CRYPTO_SESSION = 27,
    VHU_REQ_POSTCOPY_ADVISE = 28,
    VHU_REQ_POSTCOPY_LISTEN = 29,
    VHU_REQ_POSTCOPY_END = 30,
    VHU_REQ_GET_INFLIGHT_FD = 31,
    VHU_REQ_SET_INFLIGHT_FD = 32,
    VHU_REQ_GPU_SET_SOCKET = 33,
    VHU_REQ_RESET_DEVICE = 34,
    VHU_REQ_VRING_KICK = 35,
    VHU_REQ_GET_MAX_MEM_SLOTS = 36,
    VHU_REQ_ADD_MEM_REG = 37,
    VHU_REQ_REM_MEM_REG = 38,
    VHU_REQ_SET_STATUS = 39,
    VHU_REQ_GET_STATUS = 40,
    VHU_REQ_GET_SHARED_OBJECT = 41,
    VHU_REQ_SET_DEVICE_STATE_FD = 42,
    VHU_REQ_CHECK_DEVICE_STATE = 43,
    VHU_REQ_GET_SHMEM_CONFIG = 44,
    VHU_REQ_MAX /* one past the last known id */
};

/** Back-end -> front-end requests on the back-end channel (spec "Back-end message types"). */
enum vhu_backend_req {
    VHU_BACKEND_REQ_NONE = 0,
    VHU_BACKEND_REQ_IOTLB_MSG = 1,
    VHU_BACKEND_REQ_CONFIG_CHANGE_MSG = 2,
    VHU_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG = 3,
    VHU_BACKEND_REQ_VRING_CALL = 4,
    VHU_BACKEND_REQ_VRING_ERR = 5,
    VHU_BACKEND_REQ_SHARED_OBJECT_ADD = 6,
    VHU_BACKEND_REQ_SHARED_OBJECT_REMOVE = 7,
    VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP = 8,
    VHU_BACKEND_REQ_SHMEM_MAP = 9,
    VHU_BACKEND_REQ_SHMEM_UNMAP = 10,
    VHU_BACKEND_REQ_MAX
};

/** vhu_req_name() - "GET_FEATURES" etc. (spec spelling without the VHOST_USER_ prefix); "UNKNOWN" for an
 *  id we do not know.  Return: a static string, never NULL.  Threads: any. */
const char *vhu_req_name(uint32_t req);
/** vhu_backend_req_name() - "SHMEM_MAP" etc. (spec spelling without VHOST_USER_BACKEND_); "UNKNOWN" else. */
const char *vhu_backend_req_name(uint32_t req);

/* ------------------------------------------------------------------------------------------------------ */
/* Header                                                                                                  */

#define VHU_VERSION 0x1u /* flags bits 0-1 */
#define VHU_VERSION_MASK 0x3u
#define VHU_FLAG_REPLY 0x4u      /* bit 2: set on every reply */
#define VHU_FLAG_NEED_REPLY 0x8u /* bit 3: REPLY_ACK requested (needs VHU_PROTOCOL_F_REPLY_ACK) */
#define VHU_FLAGS_KNOWN (VHU_VERSION_MASK | VHU_FLAG_REPLY | VHU_FLAG_NEED_REPLY)

/** The 12-byte header of every message, in native byte order. */
typedef struct __attribute__((packed)) vhu_hdr {
    uint32_t request; /* enum vhu_req or enum vhu_backend_req, depending on the channel */
    uint32_t flags;   /* VHU_VERSION, VHU_FLAG_REPLY, VHU_FLAG_NEED_REPLY */
    uint32_t size;    /* payload bytes that follow */
} vhu_hdr;
VHU_STATIC_ASSERT(sizeof(vhu_hdr) == 12, "vhost-user header is 12 bytes");

#define VHU_HDR_SIZE 12u
/** Largest payload we accept or send.  The biggest fixed layout is vhu_shmem_config (2056 bytes); 4096 is
 *  rust-vmm's MAX_MSG_SIZE and leaves room for config space and opaque crypto sessions. */
#define VHU_PAYLOAD_MAX 4096u
/** At most 8 fds per message: VHOST_MEMORY_BASELINE_NREGIONS for SET_MEM_TABLE and the spec's "at most 8
 *  descriptors in each message" on the back-end channel. */
#define VHU_MAX_FDS 8u

/* ------------------------------------------------------------------------------------------------------ */
/* Feature bits                                                                                            */

/** Virtio feature bits that vhost-user gives a meaning. */
#define VHU_F_PROTOCOL_FEATURES 30u /* VHOST_USER_F_PROTOCOL_FEATURES */
#define VHU_F_LOG_ALL 26u           /* VHOST_F_LOG_ALL */

/** Protocol feature bit numbers (spec "Protocol features").
 *
 *  Bit 21 vs 22: the spec (and the seed patch) make VHOST_USER_PROTOCOL_F_GPA_ADDRESSES bit 21 and
 *  VHOST_USER_PROTOCOL_F_SHMEM bit 22.  rust-vmm's vhost 0.16 defines SHMEM as bit 21; we follow the spec.
 *  Bit 21 is only ever GPA_ADDRESSES to us; nothing here reads it as SHMEM.  What that means for a peer
 *  built on the old number:
 *   - GET_SHMEM_CONFIG and SHMEM_MAP/UNMAP are refused with -EPROTO unless bit 22 was negotiated, on both
 *     channels and in both directions (our front-end does not send them, our validators reject them; the
 *     back-end endpoint answers a NEED_REPLY request with a REPLY_ACK of EPROTO).
 *   - an old front-end that acks bit 21 (only possible if our back-end offered GPA_ADDRESSES) and then
 *     sends host virtual user addresses has its SET_MEM_TABLE / ADD_MEM_REG rejected with -EBADMSG (with
 *     GPA_ADDRESSES every region's user address must duplicate its guest address) instead of having the
 *     wrong memory mapped.
 *   - an old back-end that offers bit 21 meaning SHMEM: our front-end sets only the bits its caller asks
 *     for; if the caller acks 21 it gets GPA_ADDRESSES semantics (user address = guest address), and the
 *     old back-end's SHMEM_MAP requests are nacked with EPROTO. */
enum vhu_protocol_feature {
    VHU_PROTOCOL_F_MQ = 0,
    VHU_PROTOCOL_F_LOG_SHMFD = 1,
    VHU_PROTOCOL_F_RARP = 2,
    VHU_PROTOCOL_F_REPLY_ACK = 3,
    VHU_PROTOCOL_F_MTU = 4, /* "NET_MTU" in one place of the spec text, MTU in the table */
    VHU_PROTOCOL_F_BACKEND_REQ = 5,
    VHU_PROTOCOL_F_CROSS_ENDIAN = 6,
    VHU_PROTOCOL_F_CRYPTO_SESSION = 7,
    VHU_PROTOCOL_F_PAGEFAULT = 8,
    VHU_PROTOCOL_F_CONFIG = 9,
    VHU_PROTOCOL_F_BACKEND_SEND_FD = 10,
    VHU_PROTOCOL_F_HOST_NOTIFIER = 11,
    VHU_PROTOCOL_F_INFLIGHT_SHMFD = 12,
    VHU_PROTOCOL_F_RESET_DEVICE = 13,
    VHU_PROTOCOL_F_INBAND_NOTIFICATIONS = 14,
    VHU_PROTOCOL_F_CONFIGURE_MEM_SLOTS = 15,
    VHU_PROTOCOL_F_STATUS = 16,
    VHU_PROTOCOL_F_XEN_MMAP = 17,
    VHU_PROTOCOL_F_SHARED_OBJECT = 18,
    VHU_PROTOCOL_F_DEVICE_STATE = 19,
    VHU_PROTOCOL_F_GET_VRING_BASE_INFLIGHT = 20,
    VHU_PROTOCOL_F_GPA_ADDRESSES = 21,
    VHU_PROTOCOL_F_SHMEM = 22,
    VHU_PROTOCOL_F_COUNT /* number of known bits */
};
#define VHU_PROTOCOL_BIT(f) (1ull << (f))
#define VHU_PROTOCOL_FEATURES_KNOWN ((1ull << VHU_PROTOCOL_F_COUNT) - 1)

/* ------------------------------------------------------------------------------------------------------ */
/* Payloads                                                                                                */

/** A vring state description; also the split "vring descriptor index" (num bits 0-15, 16-31 reserved) and
 *  the packed "descriptor indices" (bits 0-14 avail idx, 15 avail wrap, 16-30 used idx, 31 used wrap). */
typedef struct __attribute__((packed)) vhu_vring_state {
    uint32_t index; /* vring index */
    uint32_t num;   /* the number: a size, a base or an enable flag, by message */
} vhu_vring_state;
VHU_STATIC_ASSERT(sizeof(vhu_vring_state) == 8, "vring state is 8 bytes");

#define VHU_VRING_SIZE_MAX 32768u
#define VHU_VRING_F_LOG 0x1u /* vhu_vring_addr.flags bit 0 (VHOST_VRING_F_LOG) */

/** A vring address description (SET_VRING_ADDR). */
typedef struct __attribute__((packed)) vhu_vring_addr {
    uint32_t index; /* vring index */
    uint32_t flags; /* VHU_VRING_F_LOG: log writes to the used ring at @log */
    uint64_t desc;  /* descriptor table (split) or ring (packed): front-end virtual address, or GPA */
    uint64_t used;  /* used ring (split) or device event suppression area (packed) */
    uint64_t avail; /* available ring (split) or driver event suppression area (packed) */
    uint64_t log;   /* guest physical address the used ring's writes are logged under */
} vhu_vring_addr;
VHU_STATIC_ASSERT(sizeof(vhu_vring_addr) == 40, "vring address is 40 bytes");

/** The u64 of SET_VRING_KICK/CALL/ERR: bits 0-7 vring index, bit 8 = no fd (poll instead). */
#define VHU_VRING_IDX_MASK 0xffull
#define VHU_VRING_NOFD_MASK 0x100ull

/** Memory region description. */
typedef struct __attribute__((packed)) vhu_mem_region {
    uint64_t guest_addr;  /* guest physical address of the region */
    uint64_t size;        /* bytes */
    uint64_t user_addr;   /* front-end virtual address; with GPA_ADDRESSES: equal to guest_addr */
    uint64_t mmap_offset; /* where the region starts in the fd that comes with it */
} vhu_mem_region;
VHU_STATIC_ASSERT(sizeof(vhu_mem_region) == 32, "memory region is 32 bytes");

/** With VHU_PROTOCOL_F_XEN_MMAP the region description carries two extra fields. */
typedef struct __attribute__((packed)) vhu_mem_region_xen {
    vhu_mem_region r;        /* the region */
    uint32_t xen_mmap_flags; /* VHU_XEN_MMAP_* */
    uint32_t domid;          /* Xen domain of the memory */
} vhu_mem_region_xen;
VHU_STATIC_ASSERT(sizeof(vhu_mem_region_xen) == 40, "xen memory region is 40 bytes");

#define VHU_XEN_MMAP_FOREIGN 0x1u
#define VHU_XEN_MMAP_GRANT 0x2u
#define VHU_XEN_MMAP_MAP_ON_DEMAND 0x100u
#define VHU_XEN_MMAP_KNOWN (VHU_XEN_MMAP_FOREIGN | VHU_XEN_MMAP_GRANT | VHU_XEN_MMAP_MAP_ON_DEMAND)

/** VHOST_MEMORY_BASELINE_NREGIONS: regions in one SET_MEM_TABLE. */
#define VHU_MEM_REGIONS_MAX 8u

/** Multiple memory regions description (SET_MEM_TABLE).  On the wire: 8 + nregions * 32 bytes (40 per
 *  region with XEN_MMAP, see vhu_mem_table_xen).  nregions fds, in region order. */
typedef struct __attribute__((packed)) vhu_mem_table {
    uint32_t nregions;                           /* regions that follow, 1..VHU_MEM_REGIONS_MAX */
    uint32_t padding;                            /* zero */
    vhu_mem_region regions[VHU_MEM_REGIONS_MAX]; /* the first @nregions are on the wire */
} vhu_mem_table;
VHU_STATIC_ASSERT(sizeof(vhu_mem_table) == 8 + 8 * 32, "memory table is 264 bytes");

/** SET_MEM_TABLE with VHU_PROTOCOL_F_XEN_MMAP: regions of 40 bytes. */
typedef struct __attribute__((packed)) vhu_mem_table_xen {
    uint32_t nregions;                               /* regions that follow */
    uint32_t padding;                                /* zero */
    vhu_mem_region_xen regions[VHU_MEM_REGIONS_MAX]; /* the first @nregions are on the wire */
} vhu_mem_table_xen;
VHU_STATIC_ASSERT(sizeof(vhu_mem_table_xen) == 8 + 8 * 40, "xen memory table is 328 bytes");

/** Single memory region description (ADD_MEM_REG / REM_MEM_REG). */
typedef struct __attribute__((packed)) vhu_mem_reg {
    uint64_t padding;      /* zero */
    vhu_mem_region region; /* the region added or removed */
} vhu_mem_reg;
VHU_STATIC_ASSERT(sizeof(vhu_mem_reg) == 40, "single memory region is 40 bytes");

/** ADD_MEM_REG / REM_MEM_REG with VHU_PROTOCOL_F_XEN_MMAP. */
typedef struct __attribute__((packed)) vhu_mem_reg_xen {
    uint64_t padding;          /* zero */
    vhu_mem_region_xen region; /* the region added or removed */
} vhu_mem_reg_xen;
VHU_STATIC_ASSERT(sizeof(vhu_mem_reg_xen) == 48, "single xen memory region is 48 bytes");

/** Log description (SET_LOG_BASE with LOG_SHMFD; without it the payload is a bare u64). */
typedef struct __attribute__((packed)) vhu_log {
    uint64_t size;   /* bytes of the log area */
    uint64_t offset; /* where it starts in the fd that comes with it */
} vhu_log;
VHU_STATIC_ASSERT(sizeof(vhu_log) == 16, "log description is 16 bytes");

#define VHU_LOG_PAGE 0x1000u

/** An IOTLB message (struct vhost_iotlb_msg).  The spec lists 26 bytes of fields; the kernel struct that
 *  QEMU sends is padded to 32.  We send 32 and accept 26..32. */
typedef struct __attribute__((packed)) vhu_iotlb_msg {
    uint64_t iova;      /* I/O virtual address */
    uint64_t size;      /* bytes */
    uint64_t uaddr;     /* front-end virtual address it maps to */
    uint8_t perm;       /* VHU_ACCESS_* */
    uint8_t type;       /* VHU_IOTLB_* */
    uint8_t padding[6]; /* zero */
} vhu_iotlb_msg;
VHU_STATIC_ASSERT(sizeof(vhu_iotlb_msg) == 32, "iotlb message is 32 bytes");
#define VHU_IOTLB_MSG_MIN_SIZE 26u

#define VHU_ACCESS_NONE 0u
#define VHU_ACCESS_RO 1u
#define VHU_ACCESS_WO 2u
#define VHU_ACCESS_RW 3u
#define VHU_IOTLB_MISS 1u
#define VHU_IOTLB_UPDATE 2u
#define VHU_IOTLB_INVALIDATE 3u
#define VHU_IOTLB_ACCESS_FAIL 4u

/** Virtio device config space (GET_CONFIG / SET_CONFIG): 12 header bytes then @size bytes of data.  The
 *  wire size is VHU_CONFIG_HDR_SIZE + size; the data buffer is sized so the struct fills the payload. */
#define VHU_CONFIG_HDR_SIZE 12u
#define VHU_CONFIG_DATA_MAX (VHU_PAYLOAD_MAX - VHU_CONFIG_HDR_SIZE)
/** Highest config space byte we address: offset + size <= 4096 (rust-vmm's VHOST_USER_CONFIG_SIZE). */
#define VHU_CONFIG_SPACE_MAX 4096u
/** GET_CONFIG / SET_CONFIG payload. */
typedef struct __attribute__((packed)) vhu_config {
    uint32_t offset;                   /* first config space byte */
    uint32_t size;                     /* bytes of @data that follow */
    uint32_t flags;                    /* VHU_CONFIG_FLAG_* (a value, not a mask) */
    uint8_t data[VHU_CONFIG_DATA_MAX]; /* the first @size bytes are on the wire */
} vhu_config;
VHU_STATIC_ASSERT(offsetof(vhu_config, data) == VHU_CONFIG_HDR_SIZE, "config header is 12 bytes");
VHU_STATIC_ASSERT(sizeof(vhu_config) == VHU_PAYLOAD_MAX, "config fills the payload");
#define VHU_CONFIG_FLAG_WRITABLE 0u  /* front-end message for writable fields */
#define VHU_CONFIG_FLAG_MIGRATION 1u /* live migration */

/** Vring area description (BACKEND_VRING_HOST_NOTIFIER_MSG). u64: bits 0-7 index, bit 8 no fd. */
typedef struct __attribute__((packed)) vhu_vring_area {
    uint64_t u64;    /* bits 0-7 vring index, bit 8 no fd */
    uint64_t size;   /* bytes of the area to map */
    uint64_t offset; /* where it starts in the fd that comes with it */
} vhu_vring_area;
VHU_STATIC_ASSERT(sizeof(vhu_vring_area) == 24, "vring area is 24 bytes");

/** Inflight description (GET/SET_INFLIGHT_FD).  The spec lists 20 bytes of fields; QEMU, DPDK,
 *  libvhost-user and rust-vmm all send the C struct padded to 24.  We send 24 and accept 20..24. */
typedef struct __attribute__((packed)) vhu_inflight {
    uint64_t mmap_size;   /* bytes of the inflight area */
    uint64_t mmap_offset; /* where it starts in the fd that comes with it */
    uint16_t num_queues;  /* queues it covers */
    uint16_t queue_size;  /* entries per queue */
    uint32_t padding;     /* zero */
} vhu_inflight;
VHU_STATIC_ASSERT(sizeof(vhu_inflight) == 24, "inflight description is 24 bytes");
#define VHU_INFLIGHT_MIN_SIZE 20u

/** VhostUserShared: a UUID whose first three components are big-endian (bytes are kept as they come). */
typedef struct __attribute__((packed)) vhu_shared_object {
    uint8_t uuid[16]; /* the object's UUID */
} vhu_shared_object;
VHU_STATIC_ASSERT(sizeof(vhu_shared_object) == 16, "shared object is 16 bytes");

/** Device state transfer parameters (SET_DEVICE_STATE_FD). */
typedef struct __attribute__((packed)) vhu_device_state {
    uint32_t direction; /* VHU_TRANSFER_STATE_DIRECTION_* */
    uint32_t phase;     /* VHU_TRANSFER_STATE_PHASE_* */
} vhu_device_state;
VHU_STATIC_ASSERT(sizeof(vhu_device_state) == 8, "device state transfer parameters are 8 bytes");
#define VHU_TRANSFER_STATE_DIRECTION_SAVE 0u
#define VHU_TRANSFER_STATE_DIRECTION_LOAD 1u
#define VHU_TRANSFER_STATE_PHASE_STOPPED 0u
/** SET_DEVICE_STATE_FD reply u64: bits 0-7 status (0 ok), bit 8 = no fd returned. */
#define VHU_DEVICE_STATE_STATUS_MASK 0xffull
#define VHU_DEVICE_STATE_NOFD_MASK 0x100ull

/** MMAP request (BACKEND_SHMEM_MAP / BACKEND_SHMEM_UNMAP): 40 bytes. */
typedef struct __attribute__((packed)) vhu_mmap {
    uint8_t shmid;       /* VIRTIO Shared Memory Region id */
    uint8_t padding[7];  /* zero */
    uint64_t fd_offset;  /* offset in the fd that comes with SHMEM_MAP */
    uint64_t shm_offset; /* offset in the region */
    uint64_t len;        /* bytes */
    uint64_t flags;      /* VHU_MMAP_F_* */
} vhu_mmap;
VHU_STATIC_ASSERT(sizeof(vhu_mmap) == 40, "MMAP request is 40 bytes");
#define VHU_MMAP_F_WRITABLE 0x1ull /* bit 0: read-write, else read-only */
#define VHU_MMAP_F_KNOWN VHU_MMAP_F_WRITABLE

/** VIRTIO Shared Memory Region configuration (GET_SHMEM_CONFIG reply): index = shmid, nregions = number
 *  of non-zero sizes, each size a multiple of the mmap(2) page size. */
#define VHU_SHMEM_REGIONS_MAX 256u
/** GET_SHMEM_CONFIG reply payload (VhostUserShMemConfig). */
typedef struct __attribute__((packed)) vhu_shmem_config {
    uint32_t nregions;                        /* non-zero entries of @mem_size */
    uint32_t padding;                         /* zero */
    uint64_t mem_size[VHU_SHMEM_REGIONS_MAX]; /* bytes of region shmid, 0: no such region */
} vhu_shmem_config;
VHU_STATIC_ASSERT(sizeof(vhu_shmem_config) == 2056, "VhostUserShMemConfig is 2056 bytes");

/** CREATE_CRYPTO_SESSION: the spec names a "crypto session description" but does not define its layout
 *  (QEMU's and DPDK's structs differ), so it travels as opaque bytes, 1..VHU_PAYLOAD_MAX of them. */

/* ------------------------------------------------------------------------------------------------------ */
/* The message                                                                                             */

/** Every payload layout, over one buffer of VHU_PAYLOAD_MAX bytes; which member is meaningful depends on
 *  the request (cvmm/vhu/validate.h checks the size first). */
typedef union vhu_payload {
    uint64_t u64;                    /* a bare u64 (features, vring index with flags, status, ...) */
    vhu_vring_state state;           /* SET_VRING_NUM / BASE / ENABLE, GET_VRING_BASE */
    vhu_vring_addr addr;             /* SET_VRING_ADDR */
    vhu_mem_table mem;               /* SET_MEM_TABLE */
    vhu_mem_table_xen mem_xen;       /* SET_MEM_TABLE with XEN_MMAP */
    vhu_mem_reg mem_reg;             /* ADD_MEM_REG / REM_MEM_REG */
    vhu_mem_reg_xen mem_reg_xen;     /* ADD_MEM_REG / REM_MEM_REG with XEN_MMAP */
    vhu_log log;                     /* SET_LOG_BASE with LOG_SHMFD */
    vhu_iotlb_msg iotlb;             /* IOTLB_MSG (both channels) */
    vhu_config config;               /* GET_CONFIG / SET_CONFIG */
    vhu_vring_area area;             /* BACKEND_VRING_HOST_NOTIFIER_MSG */
    vhu_inflight inflight;           /* GET_INFLIGHT_FD / SET_INFLIGHT_FD */
    vhu_shared_object object;        /* the shared object messages */
    vhu_device_state transfer_state; /* SET_DEVICE_STATE_FD */
    vhu_mmap mmap;                   /* BACKEND_SHMEM_MAP / UNMAP */
    vhu_shmem_config shmem;          /* GET_SHMEM_CONFIG */
    uint8_t raw[VHU_PAYLOAD_MAX];    /* the bytes as received */
} vhu_payload;
VHU_STATIC_ASSERT(sizeof(vhu_payload) == VHU_PAYLOAD_MAX, "payload buffer");

/** A vhost-user message (transparent, caller-allocated, ~4.2 KiB).  Only hdr.size payload bytes are
 *  meaningful; read a typed member only after the validator (cvmm/vhu/validate.h) accepted the message.
 *  fds[0..nfds) are valid fds, the rest are -1.  See the ownership rules at the top of this file. */
typedef struct vhu_msg {
    vhu_hdr hdr;          /* the header */
    vhu_payload payload;  /* hdr.size bytes of it are meaningful */
    int fds[VHU_MAX_FDS]; /* the fds that came or go with it; -1 past nfds */
    uint32_t nfds;        /* number of fds */
} vhu_msg;

/** vhu_msg_init() - an empty message: request @req, flags VHU_VERSION | @flags, size 0, no fds (all -1).
 *  The payload buffer is left as it is (4 KiB memset per message would dominate small messages): fill
 *  it with vhu_msg_set_payload() from a zero-initialised struct, or with a typed builder, which writes
 *  every field including padding.  Threads: any. */
void vhu_msg_init(vhu_msg *m, uint32_t req, uint32_t flags);

/** vhu_msg_set_payload() - copy @size bytes of @p as the payload.  Return: 0; -EINVAL size >
 *  VHU_PAYLOAD_MAX or p NULL with size > 0.  Nothing changes on failure. */
int vhu_msg_set_payload(vhu_msg *m, const void *p, uint32_t size);

/** vhu_msg_set_u64() - payload = one u64 (size 8). */
void vhu_msg_set_u64(vhu_msg *m, uint64_t v);

/** vhu_msg_add_fd() - append @fd to fds[].  Return: 0; -EBADF fd < 0; -ENOSPC already VHU_MAX_FDS.
 *  Ownership: see the top of the file (a message built for sending borrows its fds). */
int vhu_msg_add_fd(vhu_msg *m, int fd);

/** vhu_msg_close_fds() - close every fds[i] >= 0 (never 0-2), set them to -1 and nfds to 0.  Idempotent.
 *  Call it after dispatching a received message, whatever the outcome. */
void vhu_msg_close_fds(vhu_msg *m);

/** vhu_msg_take_fd() - move fds[i] out: returns it (or -1 if absent) and leaves -1 in its slot. */
int vhu_msg_take_fd(vhu_msg *m, uint32_t i);

/** vhu_msg_wire_size() - header + payload bytes on the wire (12 + hdr.size, hdr.size clamped to the
 *  payload buffer). */
size_t vhu_msg_wire_size(const vhu_msg *m);

/** vhu_msg_encode() - write header + payload into @buf (the bytes a sendmsg carries; fds travel apart).
 *  Return: the number of bytes written; -EINVAL hdr.size > VHU_PAYLOAD_MAX; -ENOSPC @cap too small.
 *  Ownership: borrows everything.  Threads: any. */
int vhu_msg_encode(const vhu_msg *m, void *buf, size_t cap);

/** vhu_msg_decode() - parse one complete frame of exactly @len bytes into @m (nfds = 0, fds -1).  Checks
 *  framing only (version, known flag bits, size): run the validator for the rest.
 *  Return: 0; -EBADMSG len < 12, version != 1, unknown flag bits, hdr.size > VHU_PAYLOAD_MAX or
 *  len != 12 + hdr.size.  On failure *m is unspecified but holds no fds. */
int vhu_msg_decode(vhu_msg *m, const void *buf, size_t len);

/** vhu_hdr_check() - framing checks on a header alone (what vhu_msg_decode() checks before the payload).
 *  Return: 0; -EBADMSG bad version, unknown flag bits or size > VHU_PAYLOAD_MAX. */
int vhu_hdr_check(const vhu_hdr *h);

static inline bool vhu_msg_is_reply(const vhu_msg *m) { return (m->hdr.flags & VHU_FLAG_REPLY) != 0; }
static inline bool vhu_msg_need_reply(const vhu_msg *m) { return (m->hdr.flags & VHU_FLAG_NEED_REPLY) != 0; }

/* Typed builders for the common layouts: vhu_msg_init() + payload.  Threads: any. */
void vhu_msg_build_u64(vhu_msg *m, uint32_t req, uint32_t flags, uint64_t v);
void vhu_msg_build_state(vhu_msg *m, uint32_t req, uint32_t flags, uint32_t index, uint32_t num);
/** vhu_msg_build_mem_table() - SET_MEM_TABLE with @n regions and their fds (borrowed).
 *  Return: 0; -EINVAL n > VHU_MEM_REGIONS_MAX, a NULL pointer with n > 0, or a negative fd. */
int vhu_msg_build_mem_table(vhu_msg *m, uint32_t flags, const vhu_mem_region *regions, const int *fds, uint32_t n);

#ifdef __cplusplus
}
#endif
#endif
