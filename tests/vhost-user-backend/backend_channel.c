/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* GET_SHMEM_CONFIG (sparse shmids, no shmem, not negotiated, invalid device answer) and back-end requests
 * over the back-end channel (config change, SHMEM_MAP/UNMAP, shared objects) with REPLY_ACK. */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "cvmm/vhu/conn.h"
#include "vub_test.h"

#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

static void init_sparse(void)
{
    vt_setup(&(struct vt_opts){.ops = &tdev_ops_shmem, .extra_proto = PB(SHARED_OBJECT), .no_frontend = true});
    long page = sysconf(_SC_PAGESIZE);
    vt.dev.shmem.nregions = 2;
    vt.dev.shmem.mem_size[0] = 16 * (uint64_t)page;
    vt.dev.shmem.mem_size[2] = 4 * (uint64_t)page;
    vt_connect();
}

TestSuite(backend_channel, .init = init_sparse, .fini = vt_fini, .timeout = 120);

/* ---- the front-end side of the back-end channel ---- */
struct fe_side {
    atomic_int config_changes;
    atomic_int maps, unmaps, adds, removes;
    vhu_mmap last_map;
    int mapped_fd;
    int answer; /* what the ops return */
};
static struct fe_side fes;

static int fe_config_change(void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&fes.config_changes, 1);
    return fes.answer;
}
static int fe_shmem_map(void *ctx, const vhu_mmap *m, int *fd)
{
    (void)ctx;
    fes.last_map = *m;
    fes.mapped_fd = *fd;
    *fd = -1; /* keep it */
    atomic_fetch_add(&fes.maps, 1);
    return fes.answer;
}
static int fe_shmem_unmap(void *ctx, const vhu_mmap *m)
{
    (void)ctx;
    fes.last_map = *m;
    atomic_fetch_add(&fes.unmaps, 1);
    return fes.answer;
}
static int fe_obj_add(void *ctx, const vhu_shared_object *o)
{
    (void)ctx, (void)o;
    atomic_fetch_add(&fes.adds, 1);
    return fes.answer;
}
static int fe_obj_remove(void *ctx, const vhu_shared_object *o)
{
    (void)ctx, (void)o;
    atomic_fetch_add(&fes.removes, 1);
    return fes.answer;
}
static int fe_obj_lookup(void *ctx, const vhu_shared_object *o, int *out)
{
    (void)ctx, (void)o;
    if (fes.answer)
        return fes.answer;
    *out = eventfd(0, EFD_CLOEXEC);
    return 0;
}
static const vhu_frontend_backend_ops fe_ops = {
    .config_change = fe_config_change,
    .shmem_map = fe_shmem_map,
    .shmem_unmap = fe_shmem_unmap,
    .shared_object_add = fe_obj_add,
    .shared_object_remove = fe_obj_remove,
    .shared_object_lookup = fe_obj_lookup,
};

static void with_channel(uint64_t proto)
{
    memset(&fes, 0, sizeof(fes));
    fes.mapped_fd = -1;
    vt_negotiate(0, proto);
    cr_assert_eq(vhu_frontend_set_backend_req_fd(vt.fe, &fe_ops, NULL), 0);
}

/* Run one back-end request on a helper thread while this thread serves the channel. */
enum req_kind { R_CONFIG, R_MAP, R_UNMAP, R_ADD, R_REMOVE, R_LOOKUP };
struct req {
    enum req_kind kind;
    uint8_t shmid;
    int fd;
    uint64_t off, len;
    int rc;
    int out_fd;
};

static void *req_thread(void *arg)
{
    struct req *r = arg;
    vub_backend *b = vub_daemon_backend(vt.d);
    static const uint8_t uuid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    switch (r->kind) {
    case R_CONFIG: r->rc = vub_backend_config_change(b); break;
    case R_MAP: r->rc = vub_backend_shmem_map(b, r->shmid, r->fd, 0, r->off, r->len, VUB_SHMEM_MAP_RW); break;
    case R_UNMAP: r->rc = vub_backend_shmem_unmap(b, r->shmid, r->off, r->len); break;
    case R_ADD: r->rc = vub_backend_shared_object_add(b, uuid); break;
    case R_REMOVE: r->rc = vub_backend_shared_object_remove(b, uuid); break;
    case R_LOOKUP: r->rc = vub_backend_shared_object_lookup(b, uuid, &r->out_fd); break;
    }
    return NULL;
}

static int run_req(struct req *r, bool expect_on_wire)
{
    pthread_t th;
    r->out_fd = -1;
    cr_assert_eq(pthread_create(&th, NULL, req_thread, r), 0);
    if (expect_on_wire)
        cr_assert_eq(vhu_frontend_backend_serve(vt.fe, 3000), 0);
    pthread_join(th, NULL);
    return r->rc;
}

Test(backend_channel, get_shmem_config_returns_sparse_shmids)
{
    with_channel(VT_PROTO_DEFAULT | PB(SHMEM) | PB(BACKEND_REQ));
    cr_assert(vhu_frontend_protocol_features(vt.fe) & PB(SHMEM));
    vhu_shmem_config c;
    cr_assert_eq(vhu_frontend_get_shmem_config(vt.fe, &c), 0);
    cr_assert_eq(c.nregions, 2);
    cr_assert_eq(c.mem_size[0], vt.dev.shmem.mem_size[0]);
    cr_assert_eq(c.mem_size[1], 0);
    cr_assert_eq(c.mem_size[2], vt.dev.shmem.mem_size[2]);
    for (unsigned i = 3; i < 256; i++)
        cr_assert_eq(c.mem_size[i], 0);
}

Test(backend_channel, config_change_is_acked)
{
    with_channel(VT_PROTO_DEFAULT | PB(BACKEND_REQ));
    struct req r = {.kind = R_CONFIG};
    cr_assert_eq(run_req(&r, true), 0);
    cr_assert_eq(atomic_load(&fes.config_changes), 1);
    fes.answer = -EINVAL; /* a non-zero ack is an error for the device */
    cr_assert_eq(run_req(&r, true), -EIO);
}

Test(backend_channel, shmem_map_and_unmap_with_reply_ack)
{
    with_channel(VT_PROTO_DEFAULT | PB(SHMEM) | PB(BACKEND_REQ) | PB(BACKEND_SEND_FD));
    vhu_shmem_config c;
    cr_assert_eq(vhu_frontend_get_shmem_config(vt.fe, &c), 0);
    long page = sysconf(_SC_PAGESIZE);
    int mfd = memfd_create("shm-file", MFD_CLOEXEC);
    cr_assert_eq(ftruncate(mfd, page * 2), 0);
    cr_assert_eq(pwrite(mfd, "hello", 5, 0), 5);
    struct req r = {.kind = R_MAP, .shmid = 2, .fd = mfd, .off = (uint64_t)page, .len = (uint64_t)page * 2};
    cr_assert_eq(run_req(&r, true), 0);
    cr_assert_eq(fes.last_map.shmid, 2);
    cr_assert_eq(fes.last_map.shm_offset, (uint64_t)page);
    cr_assert_eq(fes.last_map.len, (uint64_t)page * 2);
    cr_assert_eq(fes.last_map.flags, VHU_MMAP_F_WRITABLE);
    cr_assert_geq(fes.mapped_fd, 0);
    char buf[5];
    void *p = mmap(NULL, (size_t)page, PROT_READ, MAP_SHARED, fes.mapped_fd, 0);
    cr_assert_neq(p, MAP_FAILED);
    memcpy(buf, p, 5);
    cr_assert_arr_eq(buf, "hello", 5, "the front-end maps the file's bytes");
    munmap(p, (size_t)page);
    close(fes.mapped_fd);
    r = (struct req){.kind = R_UNMAP, .shmid = 2, .off = (uint64_t)page, .len = (uint64_t)page * 2};
    cr_assert_eq(run_req(&r, true), 0);
    cr_assert_eq(atomic_load(&fes.unmaps), 1);
    fes.answer = -ENOSPC;
    r = (struct req){.kind = R_MAP, .shmid = 0, .fd = mfd, .off = 0, .len = (uint64_t)page};
    cr_assert_eq(run_req(&r, true), -EIO);
    close(fes.mapped_fd);
    close(mfd);
}

Test(backend_channel, shmem_requests_outside_the_regions_never_reach_the_wire)
{
    with_channel(VT_PROTO_DEFAULT | PB(SHMEM) | PB(BACKEND_REQ));
    vhu_shmem_config c;
    cr_assert_eq(vhu_frontend_get_shmem_config(vt.fe, &c), 0);
    long page = sysconf(_SC_PAGESIZE);
    int mfd = memfd_create("shm-file", MFD_CLOEXEC);
    struct req bad[] = {
        {.kind = R_MAP, .shmid = 1, .fd = mfd, .off = 0, .len = (uint64_t)page},            /* no region 1 */
        {.kind = R_MAP, .shmid = 2, .fd = mfd, .off = 0, .len = (uint64_t)page * 5},        /* past the end */
        {.kind = R_MAP, .shmid = 2, .fd = mfd, .off = 100, .len = (uint64_t)page},          /* unaligned */
        {.kind = R_MAP, .shmid = 2, .fd = mfd, .off = 0, .len = 0},                         /* empty */
        {.kind = R_UNMAP, .shmid = 0, .off = UINT64_MAX - 4095, .len = (uint64_t)page * 2}, /* wraps */
        {.kind = R_MAP, .shmid = 0, .fd = -1, .off = 0, .len = (uint64_t)page},             /* no fd */
    };
    for (unsigned i = 0; i < CVMM_ARRAY_SIZE(bad); i++)
        cr_assert_eq(run_req(&bad[i], false), -EINVAL, "request %u", i);
    cr_assert_eq(vhu_frontend_backend_serve(vt.fe, 0), -EAGAIN); /* nothing was sent */
    close(mfd);
}

Test(backend_channel, shmem_requests_without_the_feature_are_refused)
{
    with_channel(VT_PROTO_DEFAULT | PB(BACKEND_REQ));
    int mfd = memfd_create("shm-file", MFD_CLOEXEC);
    struct req r = {.kind = R_MAP, .shmid = 0, .fd = mfd, .off = 0, .len = 4096};
    cr_assert_eq(run_req(&r, false), -EPROTO);
    close(mfd);
}

Test(backend_channel, requests_without_a_channel_are_enotconn)
{
    vt_negotiate(0, VT_PROTO_DEFAULT);
    struct req r = {.kind = R_CONFIG};
    cr_assert_eq(run_req(&r, false), -ENOTCONN);
}

Test(backend_channel, shared_objects_add_remove_lookup)
{
    with_channel(VT_PROTO_DEFAULT | PB(BACKEND_REQ) | PB(SHARED_OBJECT) | PB(BACKEND_SEND_FD));
    struct req r = {.kind = R_ADD};
    cr_assert_eq(run_req(&r, true), 0);
    r.kind = R_REMOVE;
    cr_assert_eq(run_req(&r, true), 0);
    r.kind = R_LOOKUP;
    cr_assert_eq(run_req(&r, true), 0);
    cr_assert_geq(r.out_fd, 0);
    close(r.out_fd);
    fes.answer = -ENOENT;
    cr_assert_eq(run_req(&r, true), -ENOENT);
    cr_assert_eq(r.out_fd, -1);
}

/* A raw GET_SHMEM_CONFIG that our front-end would refuse to send. */
static void raw_get_shmem(vhu_shmem_config *out)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, vt.path);
    vhu_frontend_free(vt.fe); /* one front-end at a time */
    vt.fe = NULL;
    for (int i = 0; i < VT_WAIT_MS / 10 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0; i++)
        vt_sleep_ms(10);
    vhu_conn *c;
    cr_assert_eq(vhu_conn_new(NULL, fd, &c), 0);
    vhu_msg m, rep;
    vhu_msg_init(&m, VHU_REQ_GET_SHMEM_CONFIG, 0);
    cr_assert_eq(vhu_conn_send(c, &m), 0);
    cr_assert_eq(vhu_conn_recv_wait(c, &rep, 3000), 0);
    cr_assert_eq(rep.hdr.request, VHU_REQ_GET_SHMEM_CONFIG);
    cr_assert(rep.hdr.flags & VHU_FLAG_REPLY);
    cr_assert_eq(rep.hdr.size, sizeof(vhu_shmem_config));
    memcpy(out, &rep.payload.shmem, sizeof(*out));
    vhu_msg_close_fds(&rep);
    vhu_conn_free(c);
}

Test(backend_channel, get_shmem_config_not_negotiated_gets_a_zeroed_reply)
{
    vhu_shmem_config c;
    memset(&c, 0xff, sizeof(c));
    raw_get_shmem(&c);
    cr_assert_eq(c.nregions, 0);
    for (unsigned i = 0; i < 256; i++)
        cr_assert_eq(c.mem_size[i], 0);
    cr_assert(vt_logged("GET_SHMEM_CONFIG without VHOST_USER_PROTOCOL_F_SHMEM negotiated, replying zeroed"));
}

/* The same after a negotiation without F_SHMEM (the device offers it, the front-end does not take it): the
 * zeroed reply, the log line, and the connection goes on. */
Test(backend_channel, get_shmem_config_with_shmem_declined_gets_a_zeroed_reply_and_goes_on)
{
    vt_negotiate(0, VT_PROTO_DEFAULT);
    cr_assert_eq(vhu_frontend_protocol_features(vt.fe) & PB(SHMEM), 0);
    vhu_msg m, rep;
    vhu_msg_init(&m, VHU_REQ_GET_SHMEM_CONFIG, 0);
    cr_assert_eq(vhu_frontend_request(vt.fe, &m, &rep), -EPROTO, "our front-end refuses to send it");
    int fd = vhu_frontend_fd(vt.fe);
    vhu_hdr h = {.request = VHU_REQ_GET_SHMEM_CONFIG, .flags = VHU_VERSION};
    cr_assert_eq(send(fd, &h, sizeof(h), MSG_NOSIGNAL), (ssize_t)sizeof(h));
    uint8_t *buf = calloc(1, sizeof(vhu_hdr) + sizeof(vhu_shmem_config) + 1);
    cr_assert_not_null(buf);
    size_t want = sizeof(vhu_hdr) + sizeof(vhu_shmem_config), got = 0;
    while (got < want) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        cr_assert_eq(poll(&pf, 1, VT_WAIT_MS), 1, "reply after %zu of %zu bytes", got, want);
        ssize_t n = recv(fd, buf + got, want + 1 - got, 0);
        cr_assert_gt(n, 0);
        got += (size_t)n;
    }
    cr_assert_eq(got, want, "exactly one frame");
    vhu_hdr rh;
    memcpy(&rh, buf, sizeof(rh));
    cr_assert_eq(rh.request, VHU_REQ_GET_SHMEM_CONFIG);
    cr_assert_eq(rh.flags, VHU_VERSION | VHU_FLAG_REPLY);
    cr_assert_eq(rh.size, sizeof(vhu_shmem_config));
    for (size_t i = sizeof(vhu_hdr); i < want; i++)
        cr_assert_eq(buf[i], 0, "byte %zu", i);
    free(buf);
    cr_assert(vt_logged("GET_SHMEM_CONFIG without VHOST_USER_PROTOCOL_F_SHMEM negotiated, replying zeroed"));
    uint64_t f;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0, "the connection goes on");
}

static void init_noshm(void) { vt_setup(&(struct vt_opts){.ops = &tdev_ops}); }
TestSuite(backend_channel_noshm, .init = init_noshm, .fini = vt_fini, .timeout = 120);

Test(backend_channel_noshm, device_without_shmem_gets_a_zeroed_reply)
{
    uint64_t p;
    cr_assert_eq(vhu_frontend_get_protocol_features(vt.fe, &p), 0);
    cr_assert_eq(p & PB(SHMEM), 0);
    vhu_shmem_config c;
    memset(&c, 0xff, sizeof(c));
    raw_get_shmem(&c);
    cr_assert_eq(c.nregions, 0);
    cr_assert_eq(c.mem_size[0], 0);
}

static void init_badshm(void)
{
    vt_setup(&(struct vt_opts){.ops = &tdev_ops_shmem, .no_frontend = true});
    vt.dev.shmem.nregions = 1;
    vt.dev.shmem.mem_size[0] = 4096;
    vt.dev.shmem.mem_size[5] = 100; /* not a page multiple, and nregions does not count it */
    vt_connect();
}
TestSuite(backend_channel_badshm, .init = init_badshm, .fini = vt_fini, .timeout = 120);

Test(backend_channel_badshm, invalid_device_config_is_replaced_by_a_zeroed_one)
{
    vt_negotiate(0, VT_PROTO_DEFAULT | PB(SHMEM));
    vhu_shmem_config c;
    cr_assert_eq(vhu_frontend_get_shmem_config(vt.fe, &c), 0);
    cr_assert_eq(c.nregions, 0);
    cr_assert_eq(c.mem_size[0], 0);
    cr_assert_eq(c.mem_size[5], 0);
}

Test(backend_channel, get_shared_object_without_an_export_answers_without_fd)
{
    vt_negotiate(0, VT_PROTO_DEFAULT | PB(SHARED_OBJECT));
    vhu_shared_object o = {{1, 2, 3}};
    int fd = 5;
    cr_assert_eq(vhu_frontend_get_shared_object(vt.fe, &o, &fd), -ENOENT);
    cr_assert_eq(fd, -1);
    uint64_t n;
    cr_assert_eq(vhu_frontend_get_queue_num(vt.fe, &n), 0);
}
