/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The sandbox in the device toolkit (vub_program_main(), cvmm/vub/program.h): a test device served in a
 * forked child, sandboxed by default, driven by our front-end from the test.  The daemon's own allowlist
 * must carry a whole session (memory table, hot-plug, rings, kicks, config, a reconnect, a --client
 * reconnect); the device's forbidden tries from its ops (on the control thread and on a worker) are killed
 * or denied; the fds setup() did not declare are closed; --print-sandbox and --no-sandbox. */
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "sandbox_child.h"
#include "vub_test.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

TestSuite(sandbox_program, .timeout = 120);

/* ---- the device: tdev's ops (vub_test.h), and a config read that does what --try says ---- */

enum try_what { TRY_NOTHING, TRY_EXECVE, TRY_SOCKET, TRY_OPEN, TRY_PTRACE, TRY_KICK_SOCKET };
struct sp_dev {
    struct tdev t;
    const char *try_name; /* --try */
    const char *dir;      /* --dir: declared read-write */
    enum try_what what;
    pid_t parent;
    int kept, dropped;       /* fds setup() opens: one declared, one not */
    struct sbx_child *child; /* started() says ready through it */
};
static struct sp_dev dev;

static bool prctl_nnp_on(void) { return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1; }

static int try_config(void *ctx, uint32_t off, void *buf, uint32_t len)
{
    struct sp_dev *d = (struct sp_dev *)ctx;
    uint8_t *b = buf;
    memset(buf, 0, len);
    if (off != 0 || len < 2)
        return tdev_get_config(ctx, off, buf, len);
    errno = 0;
    switch (d->what) {
    case TRY_EXECVE: execve("/bin/true", (char *[]){"true", NULL}, (char *[]){NULL}); break;
    case TRY_SOCKET: (void)socket(AF_INET, SOCK_DGRAM, 0); break;
    case TRY_OPEN: { /* outside the rules: EACCES; inside: fine */
        char p[128];
        snprintf(p, sizeof(p), "%s/inside", d->dir);
        int in = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        b[1] = (uint8_t)(in >= 0);
        if (in >= 0)
            close(in);
        (void)open("/etc/hostname", O_WRONLY | O_CLOEXEC);
        break;
    }
    case TRY_PTRACE: (void)ptrace(PTRACE_ATTACH, d->parent, NULL, NULL); break;
    default: break;
    }
    b[0] = (uint8_t)errno;
    return 0;
}

static int try_kicked(void *ctx, vub_queue *q)
{
    struct sp_dev *d = (struct sp_dev *)ctx;
    if (d->what == TRY_KICK_SOCKET) /* on the queue's worker, a thread older than the filter */
        (void)socket(AF_INET6, SOCK_STREAM, 0);
    return tdev_kicked(ctx, q);
}

static const vub_device_ops sp_ops = {
    .queue_kicked = try_kicked,
    .get_config = try_config,
    .set_config = tdev_set_config,
    .queue_started = tdev_started,
    .queue_stopped = tdev_stopped,
};

static int sp_setup(void *ctx, vub_program_env *env)
{
    struct sp_dev *d = ctx;
    static const char *const names[] = {"nothing", "execve", "socket", "open", "ptrace", "kick-socket"};
    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (d->try_name && strcmp(d->try_name, names[i]) == 0)
            d->what = (enum try_what)i;
    d->parent = getppid();
    d->kept = open("/dev/null", O_RDONLY | O_CLOEXEC);
    d->dropped = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (d->kept < 0 || d->dropped < 0 || vub_sandbox_keep_fd(env->sandbox, d->kept) < 0 ||
        sbx_keep(env->sandbox, d->child) < 0)
        return -EBADF;
    if (d->dir && vub_sandbox_allow_path(env->sandbox, d->dir, VUB_SANDBOX_READ | VUB_SANDBOX_WRITE) < 0)
        return -EINVAL;
    return 0;
}

/* started(): the undeclared fd is closed, the declared one open (Landlock on, seccomp not yet). */
static int sp_started(void *ctx, vub_daemon *dm)
{
    struct sp_dev *d = ctx;
    (void)dm;
    bool sandboxed = prctl_nnp_on();
    struct stat st; /* the dropped number may hold the daemon's socket by now: is it still /dev/null? */
    bool dropped_open = fstat(d->dropped, &st) == 0 && S_ISCHR(st.st_mode);
    if (fcntl(d->kept, F_GETFD) < 0 || sandboxed == dropped_open)
        return -EBADF;
    sbx_ready(d->child);
    return 0;
}

static const vub_program_option sp_opts[] = {
    {.name = "try", .type = VUB_OPT_STRING, .help = "what to try", .dest = &dev.try_name},
    {.name = "dir", .type = VUB_OPT_STRING, .help = "a directory to allow", .dest = &dev.dir},
};

static const vub_program sp_prog = {
    .name = "sp-dev",
    .type = "rng",
    .options = sp_opts,
    .noptions = 2,
    .ops = &sp_ops,
    .info = &vt.info,
    .ctx = &dev,
    .setup = sp_setup,
    .started = sp_started,
    .sandbox_syscalls = (const char *const[]){"pread64", NULL},
};

/* ---- the harness: the fixture of vub_test.h without its in-process daemon ---- */

static void sp_init(void)
{
    signal(SIGPIPE, SIG_IGN);
    memset(&vt, 0, sizeof(vt));
    memset(&dev, 0, sizeof(dev));
    vt.log = (struct cvmm_log){.fn = vt_quiet, .level = CVMM_LOG_WARN};
    pthread_mutex_init(&vt.log_mu, NULL);
    pthread_mutex_init(&dev.t.mu, NULL);
    snprintf(vt.dir, sizeof(vt.dir), "/tmp/vubsbx.XXXXXX");
    cr_assert_not_null(mkdtemp(vt.dir));
    snprintf(vt.path, sizeof(vt.path), "%s/sock", vt.dir);
    vt.info = (vub_device_info){.name = "sp",
                                .num_queues = VT_QUEUES,
                                .max_queue_size = 256,
                                .features = VT_DEV_FEATURES,
                                .config_size = VT_CONFIG_SIZE};
}

static struct sbx_child child;   /* the device of the test (each test is a process of its own) */
static struct sbx_child *sp_cur; /* the device running now, if any */

static void sp_fini(void)
{
    if (sp_cur && sp_cur->pid > 0) { /* a test that failed half-way: no orphan daemon, and say what it said */
        kill(sp_cur->pid, SIGKILL);
        sbx_finish(sp_cur);
        fprintf(stderr, "the device (status %#x) said:\n%s", sp_cur->status, sp_cur->text);
    }
    sp_cur = NULL;
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    vmem_map_free(vt.map);
    for (unsigned i = 0; i < vt.nregs; i++)
        vmem_region_unref(vt.regs[i]);
    char p[128];
    snprintf(p, sizeof(p), "%s/inside", vt.dir);
    unlink(p);
    unlink(vt.path);
    rmdir(vt.dir);
}

struct sp_args {
    int argc;
    char *argv[16];
    bool stdout_to_stderr;
};

static int sp_child(void *arg, struct sbx_child *c)
{
    struct sp_args *a = arg;
    if (a->stdout_to_stderr)
        dup2(STDERR_FILENO, STDOUT_FILENO);
    dev.child = c;
    int status = vub_program_main(&sp_prog, a->argc, a->argv);
#ifdef __SANITIZE_ADDRESS__
    /* What exit() would do in a device built with ASan (the child ends with _exit()): LeakSanitizer stops
     * the world (clone, ptrace) under the sandbox; a call it lacked would kill the child here. */
    __lsan_do_leak_check();
#endif
    return status;
}

/* sp_run() - start the device with "sp-dev", @extra (NULL-terminated) and, unless @a says otherwise,
 * --socket-path; wait until it is serving. */
static void sp_start(struct sbx_child *c, struct sp_args *a, const char *const *extra)
{
    a->argc = 0;
    a->argv[a->argc++] = "sp-dev";
    for (size_t i = 0; extra && extra[i]; i++) {
        cr_assert_lt(a->argc, 14);
        a->argv[a->argc++] = (char *)extra[i];
    }
    a->argv[a->argc] = NULL;
    sbx_spawn(c, sp_child, a);
    sp_cur = c;
}

static void sp_serve(struct sbx_child *c, struct sp_args *a, const char *try)
{
    char tryarg[32];
    snprintf(tryarg, sizeof(tryarg), "--try=%s", try);
    const char *extra[] = {"--socket-path", vt.path, tryarg, "--dir", vt.dir, "--workers=2", NULL};
    sp_start(c, a, extra);
    if (!sbx_await_ready(c)) {
        kill(c->pid, SIGKILL);
        sbx_finish(c);
        cr_assert_fail("the device did not start: status %#x: %s", c->status, c->text);
    }
    vt_connect();
}

/* sp_stop() - SIGTERM, then the end of the child (sbx_finish). */
static void sp_stop(struct sbx_child *c)
{
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    kill(c->pid, SIGTERM);
    sbx_finish(c);
}

/* get_config() - the first 2 config bytes (what the device's try left there). */
static int get_config(uint8_t out[2])
{
    uint8_t b[VT_CONFIG_SIZE];
    int rc = vhu_frontend_get_config(vt.fe, 0, b, sizeof(b), 0);
    out[0] = b[0];
    out[1] = b[1];
    return rc;
}

/* ---- a whole session under the filter ---- */

Test(sandbox_program, a_sandboxed_daemon_serves_a_session_hot_plug_and_a_reconnect, .init = sp_init, .fini = sp_fini)
{
    struct sp_args a = {0};
    sp_serve(&child, &a, "nothing");
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT); /* replies come from vub_daemon_run(): filtered by then */
    cr_assert_geq(sbx_threads_with(child.pid, 1, 2), 3, "control and 2 workers, all filtered");
    vt_memory(1, 1u << 20, 0);
    struct vt_ring r;
    vt_ring_setup(&r, 0, VQ_LAYOUT_SPLIT, 16, false, false);
    uint16_t head = vt_add_chain(&r, 0x80000, 64);
    vt_kick(&r);
    uint32_t used_len = vt_wait_used(&r, head);
    cr_assert_eq(used_len, 64, "used len %u", used_len);
    /* memory hot-plug: a new region (a new fd to mmap) and a ring kicked again */
    vmem_region_desc rd = {.gpa = 1u << 20, .size = 1u << 20, .user_addr = VT_UVA_BASE + (1u << 20)};
    cr_assert_eq(vmem_region_new_memfd(&rd, &vt.log, &vt.regs[vt.nregs]), 0);
    vhu_mem_region mr = {.guest_addr = rd.gpa, .size = rd.size, .user_addr = rd.user_addr};
    cr_assert_eq(vhu_frontend_add_mem_reg(vt.fe, &mr, vmem_region_fd(vt.regs[vt.nregs])), 0);
    vt.nregs++;
    head = vt_add_chain(&r, 0x90000, 32);
    vt_kick(&r);
    cr_assert_eq(vt_wait_used(&r, head), 32);
    uint8_t cfg[2];
    cr_assert_eq(get_config(cfg), 0);
    uint32_t base;
    cr_assert_eq(vhu_frontend_get_vring_base(vt.fe, 0, &base), 0);
    vt_ring_free(&r);
    /* a reconnect: accept on the listening socket */
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
    vt_connect();
    uint64_t f;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
    cr_assert_eq(sbx_threads_with(child.pid, 1, 2) >= 3, true);
    sp_stop(&child);
    cr_assert_eq(sbx_exit_code(&child), 0, "status %#x: %s", child.status, child.text);
    cr_assert_null(strstr(child.text, "forbidden"), "%s", child.text);
    cr_assert_neq(access(vt.path, F_OK), 0, "the daemon removed its socket at exit, under Landlock");
}

/* --client: every reconnect makes a new socket and connects, under the filter. */
static int listen_at(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 1), 0);
    return fd;
}

static void accept_and_read_features(int lfd)
{
    cr_assert(cvmm_test_wait_readable(lfd, 60000), "the back-end did not connect");
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    cr_assert_geq(fd, 0);
    cr_assert_eq(vhu_frontend_new(&(vhu_frontend_config){.log = &vt.log, .timeout_ms = 20000}, fd, &vt.fe), 0);
    uint64_t f;
    cr_assert_eq(vhu_frontend_get_features(vt.fe, &f), 0);
    cr_assert_eq(f & VT_DEV_FEATURES, VT_DEV_FEATURES);
    vhu_frontend_free(vt.fe);
    vt.fe = NULL;
}

Test(sandbox_program, client_mode_reconnects_under_the_filter, .init = sp_init, .fini = sp_fini)
{
    int lfd = listen_at(vt.path);
    struct sp_args a = {0};
    const char *extra[] = {"--socket-path", vt.path, "--client", NULL};
    sp_start(&child, &a, extra);
    accept_and_read_features(lfd);
    cr_assert(sbx_await_ready(&child));
    sbx_threads_with(child.pid, 1, 2);
    accept_and_read_features(lfd); /* the daemon's retry timer: socket(AF_UNIX) and connect() again */
    close(lfd);
    sp_stop(&child);
    cr_assert_eq(sbx_exit_code(&child), 0, "status %#x: %s", child.status, child.text);
    cr_assert_null(strstr(child.text, "forbidden"), "%s", child.text);
}

/* ---- the device tries forbidden things from its ops ---- */

/* config_after() - serve with --try=@try, negotiate, read the config (the try runs then) into @cfg. */
static void config_after(const char *try, uint8_t cfg[2])
{
    static struct sp_args a;
    sp_serve(&child, &a, try);
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    cr_assert_eq(get_config(cfg), 0);
}

static void killed_trying(const char *try, const char *name, long nr)
{
    struct sp_args a = {0};
    sp_serve(&child, &a, try);
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    uint8_t cfg[2];
    (void)get_config(cfg); /* the daemon dies before it answers */
    sp_stop(&child);
    cr_assert(sbx_killed_by_sigsys(&child), "status %#x: %s", child.status, child.text);
    cr_assert(sbx_logged_violation(&child, name, nr), "%s", child.text);
}

Test(sandbox_program, execve_from_an_op_kills_the_daemon, .init = sp_init, .fini = sp_fini)
{
    killed_trying("execve", "execve", SYS_execve);
}

Test(sandbox_program, socket_from_an_op_kills_the_daemon, .init = sp_init, .fini = sp_fini)
{
    killed_trying("socket", "socket", SYS_socket);
}

Test(sandbox_program, ptrace_from_an_op_is_killed_or_refused, .init = sp_init, .fini = sp_fini)
{
    if (!SBX_SANITIZER) {
        killed_trying("ptrace", "ptrace", SYS_ptrace);
        return;
    }
    uint8_t cfg[2];
    config_after("ptrace", cfg);
    cr_assert_eq(cfg[0], EPERM, "Landlock refuses a process outside the sandbox");
    sp_stop(&child);
    cr_assert_eq(sbx_exit_code(&child), 0, "status %#x: %s", child.status, child.text);
}

Test(sandbox_program, opening_outside_the_declared_paths_gets_eacces, .init = sp_init, .fini = sp_fini)
{
    uint8_t cfg[2];
    config_after("open", cfg);
    cr_assert_eq(cfg[1], 1, "a file in --dir (declared) opens");
    cr_assert_eq(cfg[0], EACCES, "/etc/hostname for writing: errno %u", cfg[0]);
    sp_stop(&child);
    cr_assert_eq(sbx_exit_code(&child), 0, "status %#x: %s", child.status, child.text);
}

Test(sandbox_program, a_worker_thread_is_filtered_too, .init = sp_init, .fini = sp_fini)
{
    struct sp_args a = {0};
    sp_serve(&child, &a, "kick-socket");
    vt_negotiate(1ull << VUB_F_VERSION_1, VT_PROTO_DEFAULT);
    vt_memory(1, 1u << 20, 0);
    /* The ring as vt_ring_setup() makes it, but the kick fd's message may get no reply: starting the ring
     * runs queue_kicked on the worker, which dies there. */
    struct vt_ring r;
    vt_ring_addrs(&r, 0);
    vq_mock_config mc = {.size = 16, .desc_gpa = r.desc, .driver_gpa = r.driver, .device_gpa = r.device};
    cr_assert_eq(vq_mock_new(vt.map, &mc, &r.mk), 0);
    r.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r.call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    r.err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    vhu_vring_addr va = {.desc = r.desc + VT_UVA_BASE, .avail = r.driver + VT_UVA_BASE, .used = r.device + VT_UVA_BASE};
    cr_assert_eq(vhu_frontend_set_vring_num(vt.fe, 0, 16), 0);
    cr_assert_eq(vhu_frontend_set_vring_addr(vt.fe, &va), 0);
    cr_assert_eq(vhu_frontend_set_vring_base(vt.fe, 0, 0), 0);
    cr_assert_eq(vhu_frontend_set_vring_call(vt.fe, 0, r.call), 0);
    (void)vhu_frontend_set_vring_kick(vt.fe, 0, r.kick);
    (void)vhu_frontend_set_vring_enable(vt.fe, 0, true);
    (void)vt_add_chain(&r, 0x80000, 64);
    vt_kick(&r);
    cr_assert_eq(waitpid(child.pid, &child.status, 0), child.pid); /* dies on the worker's socket() */
    vt_ring_free(&r);
    child.pid = 0;
    sbx_finish(&child);
    cr_assert(sbx_killed_by_sigsys(&child), "status %#x: %s", child.status, child.text);
    cr_assert(sbx_logged_violation(&child, "socket", SYS_socket), "%s", child.text);
}

/* ---- --print-sandbox, --no-sandbox ---- */

Test(sandbox_program, print_sandbox_prints_the_policy_and_serves_nothing, .init = sp_init, .fini = sp_fini)
{
    struct sp_args a = {.stdout_to_stderr = true};
    const char *extra[] = {"--socket-path", vt.path, "--dir", vt.dir, "--print-sandbox", NULL};
    sp_start(&child, &a, extra);
    sbx_finish(&child);
    cr_assert_eq(sbx_exit_code(&child), 0, "status %#x: %s", child.status, child.text);
    cr_assert_neq(access(vt.path, F_OK), 0, "nothing served");
    const char *j = strchr(child.text, '{');
    cr_assert_not_null(j, "%s", child.text);
    json_error_t je;
    json_t *o = json_loads(j, JSON_DISABLE_EOF_CHECK, &je);
    cr_assert_not_null(o, "%s: %s", je.text, child.text);
    json_t *paths = json_object_get(json_object_get(o, "landlock"), "paths");
    bool dir_rw = false, sock_dir = false;
    for (size_t i = 0; i < json_array_size(paths); i++) {
        json_t *p = json_array_get(paths, i);
        const char *path = json_string_value(json_object_get(p, "path"));
        const char *a0 = json_string_value(json_array_get(json_object_get(p, "access"), 0));
        dir_rw |= strcmp(path, vt.dir) == 0 && a0 && strcmp(a0, "read") == 0;
        sock_dir |= strcmp(path, vt.dir) == 0 && a0 && strcmp(a0, "create") == 0;
    }
    cr_assert(dir_rw && sock_dir, "%s", j);
    json_t *allow = json_object_get(json_object_get(o, "seccomp"), "allow");
    bool pread = false, unlink_ = false;
    for (size_t i = 0; i < json_array_size(allow); i++) {
        pread |= strcmp(json_string_value(json_array_get(allow, i)), "pread64") == 0;
        unlink_ |= strcmp(json_string_value(json_array_get(allow, i)), "unlink") == 0;
    }
    cr_assert(pread && unlink_, "vub_program.sandbox_syscalls and the listen socket's unlink: %s", j);
    cr_assert_eq(json_array_size(json_object_get(o, "kept_fds")), 3 + 3, "0-2, the device's, the test's two");
    json_decref(o);
}

Test(sandbox_program, no_sandbox_leaves_the_daemon_unfiltered, .init = sp_init, .fini = sp_fini)
{
    struct sp_args a = {0};
    const char *extra[] = {"--socket-path", vt.path, "--no-sandbox", NULL};
    sp_start(&child, &a, extra);
    cr_assert(sbx_await_ready(&child));
    cr_assert_geq(sbx_threads_with(child.pid, 0, 0), 2);
    sp_stop(&child);
    cr_assert_eq(sbx_exit_code(&child), 0, "status %#x: %s", child.status, child.text);
    cr_assert_not_null(strstr(child.text, "sp-dev: warn: sandbox: off (--no-sandbox)"), "%s", child.text);
}
