/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* Hostile fds: every fd a front-end sends is checked for the kind its message needs, made non-blocking
 * where we read or write it, and never waited on without a deadline (issue 10, defects 3, 6, 7 and 9).
 * A saturated call or err eventfd, an O_PATH or otherwise wrong fd for each message that carries one, one
 * eventfd as the kick fd of two rings, a device state socket with a large SO_RCVLOWAT.  Every test checks
 * that the daemon still serves afterwards and that no fd leaks (.fini). */
#undef _FORTIFY_SOURCE /* poll() is defined below: no fortified inline of it */
#include <ev.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "cvmm/vhu/conn.h"
#include "vub_test.h"

#define PB(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)
#define EVENTFD_FULL 0xfffffffffffffffeull /* the largest counter: one more write would block */

/* Generous bound for events that take a second by design (the relay's 1 s cut-off): never reached when
 * things work, and it keeps a regression from hanging ctest. */
#define WAIT_MS VT_WAIT_MS

static void init_fds(void) { vt_setup(&(struct vt_opts){.extra_proto = PB(INFLIGHT_SHMFD) | PB(SHARED_OBJECT)}); }
TestSuite(hostile_fds, .init = init_fds, .fini = vt_fini, .timeout = 120);

/* ---- counting the relay's poll() wakeups (a spinning relay wakes millions of times a second) ---- */

static atomic_int relay_polls;
static atomic_bool counting;

/* glibc declares poll()'s array write-only (__attr_access), so GCC takes reading .events for a read of
 * uninitialised memory. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

/* The library's poll(): the relay's calls (two fds, the second the cancel eventfd) are counted while
 * @counting is set; everything goes on to ppoll(). */
int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    if (n == 2 && atomic_load(&counting) && fds[1].events == POLLIN &&
        (fds[0].events == POLLIN || fds[0].events == POLLOUT))
        atomic_fetch_add(&relay_polls, 1);
    struct timespec ts = {timeout / 1000, (long)(timeout % 1000) * 1000000L};
    return ppoll(fds, n, timeout < 0 ? NULL : &ts, NULL);
}

/* ---- helpers ---- */

/* Occurrences of @needle in what the daemon logged. */
static int logged_count(const char *needle)
{
    int n = 0;
    pthread_mutex_lock(&vt.log_mu);
    for (const char *p = vt.logged; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    pthread_mutex_unlock(&vt.log_mu);
    return n;
}

/* Wait up to WAIT_MS for @cond. */
#define WAIT_FOR(cond)                                                                                                 \
    do {                                                                                                               \
        for (int wait_i_ = 0; wait_i_ < WAIT_MS / 10 && !(cond); wait_i_++)                                            \
            vt_sleep_ms(10);                                                                                           \
    } while (0)

static int opath_of(int fd)
{
    char p[40];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    int o = open(p, O_PATH | O_CLOEXEC);
    cr_assert_geq(o, 0);
    return o;
}

static uint64_t eventfd_peek(int fd)
{
    uint64_t v = 0;
    cr_assert_eq(read(fd, &v, 8), 8);
    cr_assert_eq(write(fd, &v, 8), 8, "put the count back");
    return v;
}

/* A blocking eventfd (as a careless or hostile front-end makes it) whose counter is full. */
static int full_eventfd(void)
{
    int e = eventfd(0, EFD_CLOEXEC);
    uint64_t full = EVENTFD_FULL;
    cr_assert_eq(write(e, &full, 8), 8);
    return e;
}

static void ring0_ready(struct vt_ring *r)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1 << 20, 0);
    vt_ring_setup(r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
}

static void serves_ring(struct vt_ring *r)
{
    uint16_t h = vt_add_chain(r, 0x80000, 8);
    vt_kick(r);
    cr_assert_eq(vt_wait_used(r, h), 8);
}

/* Fds of every wrong kind for an eventfd's place; closed by free_wrong(). */
struct wrong {
    int fd[7];
    const char *what[7];
    int n;
};

static void add_wrong(struct wrong *w, int fd, const char *what)
{
    cr_assert_geq(fd, 0, "%s", what);
    w->fd[w->n] = fd;
    w->what[w->n++] = what;
}

static void not_eventfds(struct wrong *w, int keep[2])
{
    int e = eventfd(0, EFD_CLOEXEC), p[2], sv[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    w->n = 0;
    add_wrong(w, opath_of(e), "O_PATH of an eventfd");
    add_wrong(w, open("/tmp", O_PATH | O_CLOEXEC), "O_PATH of a directory");
    add_wrong(w, open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC), "a directory");
    add_wrong(w, memfd_create("hostile", MFD_CLOEXEC), "a regular file");
    add_wrong(w, p[0], "a pipe's read end");
    add_wrong(w, p[1], "a pipe's write end");
    add_wrong(w, sv[0], "a socket");
    close(e);
    keep[0] = sv[1]; /* the peer of the socket, closed by the caller */
    keep[1] = -1;
}

static void free_wrong(struct wrong *w)
{
    for (int i = 0; i < w->n; i++)
        close(w->fd[i]);
    w->n = 0;
}

/* ---- defect 3: saturated call and err eventfds ---- */

Test(hostile_fds, a_full_call_eventfd_counts_as_signalled_and_never_blocks_the_worker)
{
    struct vt_ring r;
    ring0_ready(&r);
    int call = full_eventfd();
    cr_assert_eq(vhu_frontend_set_vring_call(vt.fe, 0, call), 0);
    for (int i = 0; i < 5; i++)
        serves_ring(&r); /* each chain is followed by a call */
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0, "the worker still answers");
    cr_assert_eq(base, 5);
    cr_assert_eq(eventfd_peek(call), EVENTFD_FULL);
    cr_assert_eq(logged_count("call eventfd is full"), 1, "logged once, not per call");
    cr_assert(fcntl(call, F_GETFL) & O_NONBLOCK, "the daemon made it non-blocking");
    close(call);
    vt_ring_free(&r);
}

Test(hostile_fds, a_full_err_eventfd_never_blocks_the_worker)
{
    struct vt_ring r;
    ring0_ready(&r);
    int err = full_eventfd();
    cr_assert_eq(vhu_frontend_set_vring_err(vt.fe, 0, err), 0);
    uint8_t idx[2] = {64 + 10, 0}; /* avail idx 74 entries ahead of a 64-entry ring: the ring breaks */
    cr_assert_eq(vmem_write(vt.map, r.driver + 2, idx, 2), 0);
    vt_kick(&r);
    WAIT_FOR(vt_logged("err eventfd is full"));
    cr_assert(vt_logged("err eventfd is full"));
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0, "the worker still answers");
    cr_assert_eq(eventfd_peek(err), EVENTFD_FULL);
    close(err);
    vt_ring_free(&r);
}

/* The daemon that handles SIGTERM stops although its worker's call eventfd is full. */
Test(hostile_fds, sigterm_stops_a_daemon_whose_call_eventfd_is_full)
{
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    pthread_t th;
    vt_start_signal_daemon(&th);
    vt_connect();
    struct vt_ring r;
    ring0_ready(&r);
    int call = full_eventfd();
    cr_assert_eq(vhu_frontend_set_vring_call(vt.fe, 0, call), 0);
    serves_ring(&r);
    kill(getpid(), SIGTERM);
    pthread_join(th, NULL); /* the old code blocked the worker in write(), then this join */
    cr_assert_eq(atomic_load(&vt.dev.stopped[0]), 1);
    vt_stop_daemon();
    ev_loop_destroy(ev_default_loop(0)); /* the program's loop: the daemon borrowed it */
    close(call);
    vt_ring_free(&r);
}

/* ---- defect 6: fds of the wrong kind ---- */

Test(hostile_fds, wrong_kinds_of_kick_call_and_err_fds_are_refused)
{
    struct vt_ring r;
    ring0_ready(&r);
    struct wrong w;
    int keep[2];
    not_eventfds(&w, keep);
    for (int i = 0; i < w.n; i++) {
        cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, w.fd[i]), -EREMOTEIO, "kick: %s", w.what[i]);
        cr_assert_eq(vhu_frontend_set_vring_call(vt.fe, 0, w.fd[i]), -EREMOTEIO, "call: %s", w.what[i]);
        cr_assert_eq(vhu_frontend_set_vring_err(vt.fe, 0, w.fd[i]), -EREMOTEIO, "err: %s", w.what[i]);
    }
    cr_assert(vt_logged("SET_VRING_KICK: fd is an O_PATH descriptor, expected a readable eventfd"));
    cr_assert(vt_logged("SET_VRING_CALL: fd is a pipe, expected a writable eventfd"));
    cr_assert(vt_logged("SET_VRING_ERR: fd is a directory"));
    free_wrong(&w);
    close(keep[0]);
    serves_ring(&r); /* the ring kept its good fds */
    cr_assert(vt_wait_fd(r.call, VT_WAIT_MS));
    vt_ring_free(&r);
}

Test(hostile_fds, wrong_kinds_of_memory_fds_are_refused)
{
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT | PB(INFLIGHT_SHMFD));
    int mfd = memfd_create("guest", MFD_CLOEXEC), p[2];
    cr_assert_eq(ftruncate(mfd, 1 << 20), 0);
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    char ro_path[40];
    snprintf(ro_path, sizeof(ro_path), "/proc/self/fd/%d", mfd);
    int bad[] = {opath_of(mfd), open(ro_path, O_RDONLY | O_CLOEXEC), p[0], eventfd(0, EFD_CLOEXEC),
                 open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    vhu_mem_region reg = {.guest_addr = 0, .size = 1 << 20, .user_addr = VT_UVA_BASE};
    vhu_log lg = {.size = 4096, .offset = 0};
    vhu_inflight inf = {.mmap_size = 4 * ((16 + 16 * 64 + 63) & ~63ull), .num_queues = 4, .queue_size = 64};
    for (size_t i = 0; i < CVMM_ARRAY_SIZE(bad); i++) {
        cr_assert_geq(bad[i], 0);
        cr_assert_eq(vhu_frontend_set_mem_table(vt.fe, &reg, &bad[i], 1), -EREMOTEIO, "fd %zu", i);
        cr_assert_eq(vhu_frontend_add_mem_reg(vt.fe, &reg, bad[i]), -EREMOTEIO, "fd %zu", i);
        /* its reply is a u64 status that our front-end does not interpret: the log line tells */
        cr_assert_eq(vhu_frontend_set_log_base(vt.fe, &lg, bad[i]), 0, "fd %zu", i);
        cr_assert_eq(logged_count("SET_LOG_BASE: fd is"), (int)i + 1, "fd %zu", i);
        cr_assert_eq(vhu_frontend_set_inflight_fd(vt.fe, &inf, bad[i]), -EREMOTEIO, "fd %zu", i);
    }
    cr_assert(vt_logged("SET_MEM_TABLE: fd is a pipe, expected a regular or memfd file open read-write"));
    cr_assert(vt_logged("ADD_MEM_REG: fd is not open read-write"));
    cr_assert_eq(atomic_load(&vt.dev.mem_changes), 0, "no map was published");
    /* the log fd is an eventfd: a memfd or a pipe is refused */
    cr_assert_eq(vhu_frontend_set_log_fd(vt.fe, mfd), -EREMOTEIO);
    cr_assert_eq(vhu_frontend_set_log_fd(vt.fe, p[1]), -EREMOTEIO);
    int e = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cr_assert_eq(vhu_frontend_set_log_fd(vt.fe, e), 0);
    close(e);
    for (size_t i = 0; i < CVMM_ARRAY_SIZE(bad); i++)
        close(bad[i]);
    close(p[1]);
    close(mfd);
    /* the right kinds still work */
    struct vt_ring r;
    vt_memory(1, 1 << 20, 0);
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 64, false, false);
    serves_ring(&r);
    vt_ring_free(&r);
}

/* A raw connection for what our front-end would not send: SET_BACKEND_REQ_FD with a fd we choose. */
Test(hostile_fds, a_back_end_channel_that_is_not_a_unix_stream_socket_is_refused)
{
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, vt.path);
    cr_assert_eq(connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    vhu_conn *c;
    cr_assert_eq(vhu_conn_new(&(vhu_conn_config){.log = &vt.log}, s, &c), 0);
    vhu_msg m, rep;
    vhu_msg_init(&m, VHU_REQ_SET_PROTOCOL_FEATURES, 0);
    m.hdr.size = 8;
    m.payload.u64 = PB(REPLY_ACK) | PB(BACKEND_REQ);
    cr_assert_eq(vhu_conn_send(c, &m), 0);
    int p[2], dg[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dg), 0);
    int bad[] = {p[0], dg[0], opath_of(p[1])};
    for (size_t i = 0; i < CVMM_ARRAY_SIZE(bad); i++) {
        vhu_msg_init(&m, VHU_REQ_SET_BACKEND_REQ_FD, VHU_FLAG_NEED_REPLY);
        cr_assert_eq(vhu_msg_add_fd(&m, bad[i]), 0);
        cr_assert_eq(vhu_conn_send(c, &m), 0);
        cr_assert_eq(vhu_conn_recv_wait(c, &rep, 3000), 0);
        cr_assert_eq(rep.hdr.request, VHU_REQ_SET_BACKEND_REQ_FD);
        cr_assert_eq(rep.payload.u64, EBADF, "fd %zu", i);
    }
    cr_assert(vt_logged("SET_BACKEND_REQ_FD: fd is a pipe, expected a connected UNIX stream socket"));
    vhu_conn_free(c);
    close(p[0]);
    close(p[1]);
    close(dg[0]);
    close(dg[1]);
    close(bad[2]);
    vt_connect();
    uint64_t f;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
}

/* SHARED_OBJECT_LOOKUP's answer on the back-end channel: an O_PATH fd is refused, anything else handed on. */
static atomic_int lookup_kind; /* 0: an eventfd, 1: O_PATH */
static int fe_lookup(void *ctx, const vhu_shared_object *o, int *out)
{
    (void)ctx, (void)o;
    int e = eventfd(0, EFD_CLOEXEC);
    *out = atomic_load(&lookup_kind) ? opath_of(e) : dup(e);
    close(e);
    return 0; /* the front-end closes *out after sending it */
}
static const vhu_frontend_backend_ops fe_lookup_ops = {.shared_object_lookup = fe_lookup};
struct lookup {
    int rc, fd;
    atomic_bool done;
};
static void *lookup_thread(void *arg)
{
    struct lookup *l = arg;
    static const uint8_t uuid[16] = {1};
    l->rc = vub_backend_shared_object_lookup(vub_daemon_backend(vt.d), uuid, &l->fd);
    atomic_store(&l->done, true);
    return NULL;
}
static int lookup_once(int *fd)
{
    struct lookup l = {.fd = -2};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, lookup_thread, &l), 0);
    for (int i = 0; i < WAIT_MS / 20 && !atomic_load(&l.done); i++)
        (void)vhu_frontend_backend_serve(vt.fe, 20);
    pthread_join(th, NULL);
    *fd = l.fd;
    return l.rc;
}

Test(hostile_fds, an_o_path_fd_looked_up_on_the_back_end_channel_is_refused)
{
    vt_negotiate(0, VT_PROTO_DEFAULT | PB(BACKEND_REQ) | PB(SHARED_OBJECT) | PB(BACKEND_SEND_FD));
    cr_assert_eq(vhu_frontend_set_backend_req_fd(vt.fe, &fe_lookup_ops, NULL), 0);
    int fd;
    atomic_store(&lookup_kind, 1);
    cr_assert_eq(lookup_once(&fd), -EBADF);
    cr_assert_eq(fd, -1);
    cr_assert(vt_logged("SHARED_OBJECT_LOOKUP reply: fd is an O_PATH descriptor"));
    atomic_store(&lookup_kind, 0);
    cr_assert_eq(lookup_once(&fd), 0, "the channel goes on");
    cr_assert_geq(fd, 0);
    close(fd);
}

/* ---- defect 7: one eventfd as the kick fd of two rings on one worker ---- */

Test(hostile_fds, one_eventfd_kicking_two_rings_of_one_worker_never_blocks_it)
{
    struct vt_ring r0, r1;
    ring0_ready(&r0);
    vt_ring_setup(&r1, 1, VQ_LAYOUT_SPLIT, 64, false, false);
    cr_assert_eq(vub_queue_worker(vub_daemon_queue(vt.d, 0)), vub_queue_worker(vub_daemon_queue(vt.d, 1)));
    int kick = eventfd(0, EFD_CLOEXEC); /* blocking: the first read empties it, a second would wait */
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 0, kick), 0);
    cr_assert_eq(vhu_frontend_set_vring_kick(vt.fe, 1, kick), 0);
    for (int i = 0; i < 3; i++) {
        uint16_t h0 = vt_add_chain(&r0, 0x80000, 8), h1 = vt_add_chain(&r1, 0x90000, 8);
        uint64_t one = 1;
        cr_assert_eq(write(kick, &one, 8), 8); /* one kick, both watchers ready */
        cr_assert_eq(vt_wait_used(&r0, h0), 8);
        cr_assert_eq(vt_wait_used(&r1, h1), 8, "the kick may be for either ring: both are looked at");
    }
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0, "the worker still answers");
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 1, &base), 0);
    close(kick);
    vt_ring_free(&r0);
    vt_ring_free(&r1);
}

/* ---- defect 9: the device state relay ---- */

static void state_ready(void) { vt_negotiate(0, VT_PROTO_DEFAULT | PB(DEVICE_STATE)); }

static int set_state_fd(uint32_t dir, int fd)
{
    int bfd = -2;
    int rc = vhu_frontend_set_device_state_fd(vt.fe, dir, VHU_TRANSFER_STATE_PHASE_STOPPED, fd, &bfd);
    cr_assert_eq(bfd, -1);
    return rc;
}

Test(hostile_fds, device_state_fds_of_the_wrong_kind_or_direction_are_refused)
{
    state_ready();
    int p[2], e = eventfd(0, EFD_CLOEXEC), m = memfd_create("state", MFD_CLOEXEC);
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    int op0 = opath_of(p[0]), op1 = opath_of(p[1]), dir = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const uint32_t L = VHU_TRANSFER_STATE_DIRECTION_LOAD, S = VHU_TRANSFER_STATE_DIRECTION_SAVE;
    atomic_store(&relay_polls, 0);
    atomic_store(&counting, true);
    cr_assert_eq(set_state_fd(L, op0), -EREMOTEIO, "O_PATH: the old relay spun on POLLNVAL");
    cr_assert_eq(set_state_fd(S, op1), -EREMOTEIO);
    cr_assert_eq(set_state_fd(L, p[1]), -EREMOTEIO, "a LOAD reads: not a write end");
    cr_assert_eq(set_state_fd(S, p[0]), -EREMOTEIO, "a SAVE writes: not a read end");
    cr_assert_eq(set_state_fd(L, e), -EREMOTEIO);
    cr_assert_eq(set_state_fd(S, m), -EREMOTEIO);
    cr_assert_eq(set_state_fd(L, dir), -EREMOTEIO);
    cr_assert(vt_logged("SET_DEVICE_STATE_FD: fd is an O_PATH descriptor, expected a readable pipe or socket"));
    cr_assert(vt_logged("SET_DEVICE_STATE_FD: fd is not open for reading"));
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), -EREMOTEIO, "no transfer was started");
    atomic_store(&counting, false);
    cr_assert_eq(atomic_load(&relay_polls), 0);
    /* a good transfer still works */
    vt.dev.state_byte = 0x5a;
    cr_assert_eq(set_state_fd(S, p[1]), 0);
    close(p[1]);
    uint8_t b[8];
    cr_assert_eq(read(p[0], b, sizeof(b)), 1);
    cr_assert_eq(b[0], 0x5a);
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), 0);
    close(p[0]);
    close(op0);
    close(op1);
    close(e);
    close(m);
    close(dir);
}

/* A socket whose SO_RCVLOWAT asks for 1 MiB polls readable with one byte queued; a blocking read would then
 * wait for the rest, out of the cancel eventfd's reach. */
static int lowat_socket(int *peer)
{
    int sv[2], big = 1 << 20;
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVLOWAT, &big, sizeof(big)), 0);
    *peer = sv[0];
    return sv[1];
}

Test(hostile_fds, a_state_socket_with_a_large_rcvlowat_is_read_as_it_comes)
{
    state_ready();
    int fe, s = lowat_socket(&fe);
    cr_assert_eq(set_state_fd(VHU_TRANSFER_STATE_DIRECTION_LOAD, s), 0);
    close(s);
    cr_assert_eq(send(fe, "\x42", 1, MSG_NOSIGNAL), 1); /* and the front-end keeps its end open */
    WAIT_FOR(atomic_load(&vt.dev.state_loaded));
    cr_assert_eq(atomic_load(&vt.dev.state_loaded), 1, "the relay passed the byte on");
    cr_assert_eq(vt.dev.state_byte, 0x42);
    close(fe); /* end of the data */
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), 0);
}

Test(hostile_fds, a_state_transfer_left_hanging_on_a_rcvlowat_socket_is_cut_off_without_spinning)
{
    state_ready();
    int fe, s = lowat_socket(&fe);
    cr_assert_eq(set_state_fd(VHU_TRANSFER_STATE_DIRECTION_LOAD, s), 0);
    close(s);
    cr_assert_eq(send(fe, "\x42", 1, MSG_NOSIGNAL), 1);
    WAIT_FOR(atomic_load(&vt.dev.state_loaded));
    cr_assert_eq(atomic_load(&vt.dev.state_loaded), 1);
    atomic_store(&relay_polls, 0);
    atomic_store(&counting, true); /* from here the relay can only wait: nothing more comes */
    vhu_frontend_free(vt.fe);      /* leaves the transfer hanging: cut off after 1 s (cvmm/vub/device.h) */
    vt.fe = NULL;
    vt_connect();
    uint64_t f;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0, "the control thread got past the relay");
    atomic_store(&counting, false);
    cr_assert_gt(50, atomic_load(&relay_polls), "%d poll wakeups while waiting", atomic_load(&relay_polls));
    close(fe);
}

Test(hostile_fds, a_state_pipe_whose_reader_is_gone_ends_the_save)
{
    state_ready();
    atomic_store(&vt.dev.state_big, 1); /* 1 MiB: the device blocks on the pipe until the relay ends */
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    close(p[0]); /* POLLERR on the write end */
    atomic_store(&relay_polls, 0);
    atomic_store(&counting, true);
    cr_assert_eq(set_state_fd(VHU_TRANSFER_STATE_DIRECTION_SAVE, p[1]), 0);
    close(p[1]);
    cr_assert_eq(vhu_frontend_check_device_state(vt.fe), -EREMOTEIO, "the device got EPIPE");
    atomic_store(&counting, false);
    cr_assert_gt(50, atomic_load(&relay_polls), "%d poll wakeups", atomic_load(&relay_polls));
}
