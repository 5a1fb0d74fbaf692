/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-shm against our vhost-user-proto front-end: the real program (CVMM_SHM_BIN) is started with sparse
 * regions and a control socket; the front-end negotiates VHOST_USER_PROTOCOL_F_SHMEM, reads the config,
 * receives SHMEM_MAP with the file's fd, maps it and sees the file's bytes, then SHMEM_UNMAP.  Plus the
 * region and size parsers of devices/shm/shm.c with their errnos. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cvmm/vhu/frontend.h"
#include "shm.h"
#include "cvmm_test_fds.h"

extern char **environ;

#define PAGE 4096u
#define FILE_PAGES 4u

static struct {
    char dir[64], sock[128], ctl[128], file[128], log[128];
    pid_t pid;
    vhu_frontend *fe;
    int cfd;
    int fds_at_start;
    /* what the back-end channel ops saw */
    int maps, unmaps;
    vhu_mmap last;
    bool bytes_ok;
    int refuse; /* errno the ops answer with (0: accept) */
} t;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static pid_t spawn(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, t.log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    cr_assert_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static int run_status(char *const argv[])
{
    int st;
    pid_t pid = spawn(argv);
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static bool log_has(const char *needle)
{
    char buf[8192] = {0};
    FILE *f = fopen(t.log, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    memset(&t, 0, sizeof(t));
    t.cfd = -1;
    t.fds_at_start = cvmm_test_count_fds();
    snprintf(t.dir, sizeof(t.dir), "/tmp/shmtest.XXXXXX");
    cr_assert_not_null(mkdtemp(t.dir));
    snprintf(t.sock, sizeof(t.sock), "%s/sock", t.dir);
    snprintf(t.ctl, sizeof(t.ctl), "%s/ctl", t.dir);
    snprintf(t.file, sizeof(t.file), "%s/data", t.dir);
    snprintf(t.log, sizeof(t.log), "%s/log", t.dir);
    /* The file: page i filled with byte 0x40 + i. */
    int fd = open(t.file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    cr_assert_geq(fd, 0);
    for (unsigned i = 0; i < FILE_PAGES; i++) {
        char page[PAGE];
        memset(page, 0x40 + (int)i, sizeof(page));
        cr_assert_eq(write(fd, page, sizeof(page)), (ssize_t)sizeof(page));
    }
    close(fd);
}

static void start(const char *extra)
{
    char a1[160], a2[160], a3[160];
    snprintf(a1, sizeof(a1), "--socket-path=%s", t.sock);
    snprintf(a2, sizeof(a2), "--control=%s", t.ctl);
    snprintf(a3, sizeof(a3), "--map-dir=%s", t.dir); /* the sandbox lets map requests open files there */
    char *argv[] = {CVMM_SHM_BIN, a1, a2, a3, "--shm=0:64K", "--shm=2:8K", "--shm=200:4096", (char *)extra, NULL};
    t.pid = spawn(argv);
    struct stat st;
    for (int i = 0; i < 3000 && (stat(t.sock, &st) < 0 || stat(t.ctl, &st) < 0); i++)
        sleep_ms(10);
    /* A socket file exists from bind() on, a moment before listen(): retry refused connects. */
    vhu_frontend_config fc = {.name = "fe", .timeout_ms = 30000};
    int rc = -1;
    for (int i = 0; i < 3000 && (rc = vhu_frontend_connect(&fc, t.sock, &t.fe)) != 0; i++)
        sleep_ms(10);
    cr_assert_eq(rc, 0);
    t.cfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, t.ctl, strlen(t.ctl) + 1);
    for (int i = 0; i < 3000 && (rc = connect(t.cfd, (struct sockaddr *)&sa, sizeof(sa))) != 0; i++)
        sleep_ms(10);
    cr_assert_eq(rc, 0);
}

static void setup_started(void)
{
    setup();
    start(NULL);
}

static void teardown(void)
{
    vhu_frontend_free(t.fe);
    if (t.cfd >= 0)
        close(t.cfd);
    if (t.pid > 0) {
        int st;
        kill(t.pid, SIGTERM);
        cr_expect_eq(waitpid(t.pid, &st, 0), t.pid);
        cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "cvmm-shm did not exit 0 on SIGTERM (status 0x%x)", st);
    }
    /* The program's sanitizer reports go to its log, not to ctest's output. */
    cr_expect(!log_has("Sanitizer") && !log_has("runtime error:"), "cvmm-shm printed a sanitizer report");
    unlink(t.sock);
    unlink(t.ctl);
    unlink(t.file);
    unlink(t.log);
    rmdir(t.dir);
    cr_expect_eq(cvmm_test_count_fds(), t.fds_at_start, "fd leak");
}

/* ---- the front-end's back-end channel ---- */

static int op_map(void *ctx, const vhu_mmap *m, int *fd)
{
    (void)ctx;
    t.maps++;
    t.last = *m;
    if (t.refuse)
        return -t.refuse;
    /* Map what the back-end offered and compare with the file. */
    void *p = mmap(NULL, m->len, PROT_READ, MAP_SHARED, *fd, (off_t)m->fd_offset);
    if (p == MAP_FAILED)
        return -errno;
    t.bytes_ok = true;
    for (uint64_t off = 0; off < m->len; off++)
        if (((const uint8_t *)p)[off] != (uint8_t)(0x40 + (m->fd_offset + off) / PAGE))
            t.bytes_ok = false;
    munmap(p, m->len);
    return 0; /* the fd is closed by vhu after we return */
}

static int op_unmap(void *ctx, const vhu_mmap *m)
{
    (void)ctx;
    t.unmaps++;
    t.last = *m;
    return t.refuse ? -t.refuse : 0;
}

static const vhu_frontend_backend_ops fe_ops = {.shmem_map = op_map, .shmem_unmap = op_unmap};

#define P(f) VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_##f)

static void negotiate(uint64_t want)
{
    uint64_t f, p;
    cr_assert_eq(vhu_frontend_get_features(t.fe, &f), 0);
    cr_assert_eq(vhu_frontend_set_owner(t.fe), 0);
    cr_assert_eq(vhu_frontend_get_protocol_features(t.fe, &p), 0);
    cr_assert(p & P(SHMEM), "F_SHMEM (bit 22) not offered: 0x%llx", (unsigned long long)p);
    cr_assert_eq(vhu_frontend_set_protocol_features(t.fe, p & want), 0);
    cr_assert_eq(vhu_frontend_set_features(t.fe, f & ((1ull << VHU_F_PROTOCOL_FEATURES) | (1ull << 32))), 0);
    cr_assert_eq(vhu_frontend_set_backend_req_fd(t.fe, &fe_ops, NULL), 0);
}

/* Send one control request; serve back-end requests until its answer arrives. */
static void ctl(const char *req, char *reply, size_t cap)
{
    cr_assert_eq(send(t.cfd, req, strlen(req), 0), (ssize_t)strlen(req));
    for (int i = 0; i < 3000; i++) { /* 30 s at least: the daemon is a process of its own (ASan, load) */
        struct pollfd p = {.fd = t.cfd, .events = POLLIN};
        if (poll(&p, 1, 0) == 1) {
            ssize_t n = recv(t.cfd, reply, cap - 1, 0);
            cr_assert_gt(n, 0);
            reply[n] = '\0';
            return;
        }
        int rc = vhu_frontend_backend_serve(t.fe, 10);
        cr_assert(rc == 0 || rc == -ETIMEDOUT || rc == -EAGAIN || rc == -ENOTCONN, "backend_serve: %d", rc);
        if (rc == -ENOTCONN)
            sleep_ms(10);
    }
    cr_assert_fail("no answer to '%s'", req);
}

TestSuite(shm, .timeout = 120);

Test(shm, sparse_config_map_shows_file_bytes_then_unmap, .init = setup_started, .fini = teardown)
{
    char r[512], req[256];
    negotiate(P(SHMEM) | P(REPLY_ACK) | P(BACKEND_REQ) | P(BACKEND_SEND_FD));
    vhu_shmem_config c;
    cr_assert_eq(vhu_frontend_get_shmem_config(t.fe, &c), 0);
    cr_assert_eq(c.nregions, 3);
    for (unsigned i = 0; i < VHU_SHMEM_REGIONS_MAX; i++) {
        uint64_t want = i == 0 ? 65536 : i == 2 ? 8192 : i == 200 ? 4096 : 0;
        cr_assert_eq(c.mem_size[i], want, "region %u: %llu", i, (unsigned long long)c.mem_size[i]);
    }
    snprintf(req, sizeof(req), "map 2 4096 4096 8192 ro %s", t.file);
    ctl(req, r, sizeof(r));
    cr_assert_str_eq(r, "ok SHMEM_MAP");
    cr_assert_eq(t.maps, 1);
    cr_assert_eq(t.last.shmid, 2);
    cr_assert_eq(t.last.shm_offset, 4096);
    cr_assert_eq(t.last.len, 4096);
    cr_assert_eq(t.last.fd_offset, 8192);
    cr_assert_eq(t.last.flags, 0);
    cr_assert(t.bytes_ok, "the mapped bytes are not the file's");
    /* A writable mapping of the whole file into region 0. */
    snprintf(req, sizeof(req), "map 0 0x4000 16K 0 rw %s", t.file);
    ctl(req, r, sizeof(r));
    cr_assert_str_eq(r, "ok SHMEM_MAP");
    cr_assert_eq(t.last.flags, VHU_MMAP_F_WRITABLE);
    cr_assert_eq(t.last.len, 16384);
    cr_assert(t.bytes_ok);
    ctl("unmap 2 4096 4096", r, sizeof(r));
    cr_assert_str_eq(r, "ok SHMEM_UNMAP");
    cr_assert_eq(t.unmaps, 1);
    cr_assert_eq(t.last.shmid, 2);
    cr_assert_eq(t.last.shm_offset, 4096);
    cr_assert_eq(t.last.len, 4096);
    ctl("config", r, sizeof(r));
    cr_assert_str_eq(r, "ok 0:65536 2:8192 200:4096");
}

Test(shm, requests_outside_regions_are_einval_and_not_sent, .init = setup_started, .fini = teardown)
{
    char r[512], req[256];
    negotiate(P(SHMEM) | P(REPLY_ACK) | P(BACKEND_REQ) | P(BACKEND_SEND_FD));
    vhu_shmem_config c;
    cr_assert_eq(vhu_frontend_get_shmem_config(t.fe, &c), 0);
    const char *bad[] = {
        "map 1 0 4096 0 ro %s",    /* region 1 does not exist */
        "map 2 4096 8192 0 ro %s", /* leaves region 2 (8 KiB) */
        "map 0 100 4096 0 ro %s",  /* offset not page aligned */
        "map 0 0 0 0 ro %s",       /* empty */
        "map 0 0 4096 0 rx %s",    /* bad mode */
        "map 300 0 4096 0 ro %s",  /* shmid > 255 */
        "map 0 0 4096 %s",         /* missing fields */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(req, sizeof(req), bad[i], t.file);
        ctl(req, r, sizeof(r));
        cr_assert(strncmp(r, "error 22 ", 9) == 0, "'%s' -> '%s'", req, r);
    }
    ctl("unmap 200 0 8192", r, sizeof(r));
    cr_assert(strncmp(r, "error 22 ", 9) == 0, "%s", r);
    ctl("frobnicate", r, sizeof(r));
    cr_assert(strncmp(r, "error 22 ", 9) == 0, "%s", r);
    ctl("map 0 0 4096 0 ro /nonexistent/file", r, sizeof(r));
    cr_assert(strncmp(r, "error 2 ", 8) == 0, "%s", r);
    cr_assert_eq(t.maps + t.unmaps, 0, "a refused request reached the front-end");
}

/* Sandboxed by default (cvmm/vub/sandbox.h): every thread has no_new_privs and the seccomp filter, and the
 * only fds beyond 0-2 are sockets (vhost-user listener and connection, control listener and client) and
 * the daemon's epoll/eventfds: no fd inherited from this test, no file. */
Test(shm, runs_sandboxed_with_only_its_sockets_open, .init = setup_started, .fini = teardown)
{
    char path[320], line[256], tgt[256], r[128];
    int threads = 0, locked = 0;
    /* A connect() returns once the connection is in the listener's backlog: one answered request on each
     * proves the daemon accepted it (a loaded run looked before it had, and saw only the two listeners). */
    uint64_t feats = 0;
    cr_assert_eq(vhu_frontend_get_features(t.fe, &feats), 0);
    ctl("frobnicate", r, sizeof(r));
    cr_assert(strncmp(r, "error 22 ", 9) == 0, "%s", r);
    for (int i = 0; i < 3000 && (threads == 0 || locked < threads); i++, sleep_ms(10)) {
        threads = locked = 0;
        snprintf(path, sizeof(path), "/proc/%d/task", (int)t.pid);
        DIR *d = opendir(path);
        cr_assert_not_null(d);
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)t.pid, e->d_name);
            FILE *f = fopen(path, "r");
            if (!f)
                continue;
            int nnp = -1, sec = -1;
            while (fgets(line, sizeof(line), f)) {
                sscanf(line, "NoNewPrivs: %d", &nnp);
                sscanf(line, "Seccomp: %d", &sec);
            }
            fclose(f);
            threads++;
            locked += nnp == 1 && sec == 2;
        }
        closedir(d);
    }
    cr_assert(threads > 0 && locked == threads, "%d of %d threads have NoNewPrivs 1 and Seccomp 2", locked, threads);
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)t.pid);
    DIR *d = opendir(path);
    cr_assert_not_null(d);
    int sockets = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.' || atoi(e->d_name) <= 2)
            continue;
        snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)t.pid, e->d_name);
        ssize_t n = readlink(path, tgt, sizeof(tgt) - 1);
        cr_assert_gt(n, 0);
        tgt[n] = '\0';
        sockets += !strncmp(tgt, "socket:", 7);
        cr_expect(!strncmp(tgt, "socket:", 7) || !strcmp(tgt, "anon_inode:[eventfd]") ||
                      !strcmp(tgt, "anon_inode:[eventpoll]"),
                  "fd %s is %s", e->d_name, tgt);
    }
    closedir(d);
    cr_expect_eq(sockets, 4, "%d sockets (vhost-user listener + connection, control listener + client)", sockets);
}

/* A map request may open files beneath --map-dir only (Landlock): elsewhere it fails with EACCES, which
 * the answer carries, and nothing reaches the front-end.  (A sanitizer build lets the whole process read
 * everything, for the sanitizer's reports: the request asks for write access.) */
Test(shm, map_outside_map_dir_is_eacces_and_not_sent, .init = setup_started, .fini = teardown)
{
    char r[512], req[256], outside[160];
    negotiate(P(SHMEM) | P(REPLY_ACK) | P(BACKEND_REQ) | P(BACKEND_SEND_FD));
    vhu_shmem_config c;
    cr_assert_eq(vhu_frontend_get_shmem_config(t.fe, &c), 0);
    snprintf(outside, sizeof(outside), "%s-outside", t.dir);
    int fd = open(outside, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, PAGE), 0);
    close(fd);
    snprintf(req, sizeof(req), "map 0 0 4096 0 rw %s", outside); /* rw: sanitizer builds may read all of / */
    ctl(req, r, sizeof(r));
    unlink(outside);
    cr_assert(strncmp(r, "error 13 ", 9) == 0, "%s", r);
    cr_assert_eq(t.maps, 0, "a refused request reached the front-end");
    snprintf(req, sizeof(req), "map 0 0 4096 0 ro %s", t.file); /* inside: fine */
    ctl(req, r, sizeof(r));
    cr_assert_str_eq(r, "ok SHMEM_MAP");
}

Test(shm, frontend_refusal_is_eio, .init = setup_started, .fini = teardown)
{
    char r[512], req[256];
    negotiate(P(SHMEM) | P(REPLY_ACK) | P(BACKEND_REQ) | P(BACKEND_SEND_FD));
    vhu_shmem_config c;
    cr_assert_eq(vhu_frontend_get_shmem_config(t.fe, &c), 0);
    t.refuse = EBUSY;
    snprintf(req, sizeof(req), "map 0 0 4096 0 ro %s", t.file);
    ctl(req, r, sizeof(r));
    cr_assert(strncmp(r, "error 5 ", 8) == 0, "%s", r);
    cr_assert_eq(t.maps, 1);
}

Test(shm, without_f_shmem_requests_are_eproto, .init = setup_started, .fini = teardown)
{
    char r[512], req[256];
    negotiate(P(REPLY_ACK) | P(BACKEND_REQ) | P(BACKEND_SEND_FD));
    vhu_shmem_config c;
    cr_assert_eq(vhu_frontend_get_shmem_config(t.fe, &c), -EPROTO);
    snprintf(req, sizeof(req), "map 0 0 4096 0 ro %s", t.file);
    ctl(req, r, sizeof(r));
    cr_assert(strncmp(r, "error 71 ", 9) == 0, "%s", r);
    cr_assert_eq(t.maps, 0);
}

Test(shm, without_backend_channel_requests_are_enotconn, .init = setup_started, .fini = teardown)
{
    char r[512], req[256];
    uint64_t p;
    cr_assert_eq(vhu_frontend_set_owner(t.fe), 0);
    cr_assert_eq(vhu_frontend_get_protocol_features(t.fe, &p), 0);
    cr_assert_eq(vhu_frontend_set_protocol_features(t.fe, p & (P(SHMEM) | P(REPLY_ACK))), 0);
    snprintf(req, sizeof(req), "map 0 0 4096 0 ro %s", t.file);
    ctl(req, r, sizeof(r));
    cr_assert(strncmp(r, "error 107 ", 10) == 0, "%s", r);
}

Test(shm, bad_command_lines_exit_nonzero_with_a_message, .init = setup, .fini = teardown)
{
    char a1[160];
    snprintf(a1, sizeof(a1), "--socket-path=%s", t.sock);
    char *no_region[] = {CVMM_SHM_BIN, a1, NULL};
    char *odd_size[] = {CVMM_SHM_BIN, a1, "--shm=0:1000", NULL};
    char *twice[] = {CVMM_SHM_BIN, a1, "--shm=1:4K", "--shm=1:8K", NULL};
    char *no_socket[] = {CVMM_SHM_BIN, "--shm=1:4K", NULL};
    cr_assert_eq(run_status(no_region), 1);
    cr_assert(log_has("at least one --shm"));
    cr_assert_eq(run_status(odd_size), 1);
    cr_assert(log_has("not a non-zero multiple of the page size"));
    cr_assert_eq(run_status(twice), 1);
    cr_assert(log_has("declared twice"));
    cr_assert_eq(run_status(no_socket), 1);
    cr_assert(log_has("--socket-path"));
    char *caps[] = {CVMM_SHM_BIN, "--print-capabilities", NULL};
    cr_assert_eq(run_status(caps), 0);
    cr_assert(log_has("\"type\": \"fs\""));
}

/* ---- the parsers ---- */

Test(shm, parse_size_suffixes_and_errors)
{
    uint64_t v;
    cr_assert_eq(shm_parse_size("4096", &v), 0);
    cr_assert_eq(v, 4096);
    cr_assert_eq(shm_parse_size("64K", &v), 0);
    cr_assert_eq(v, 65536);
    cr_assert_eq(shm_parse_size("2m", &v), 0);
    cr_assert_eq(v, 2u << 20);
    cr_assert_eq(shm_parse_size("0x1000", &v), 0);
    cr_assert_eq(v, 4096);
    cr_assert_eq(shm_parse_size("1G", &v), 0);
    cr_assert_eq(v, 1u << 30);
    v = 7;
    cr_assert_eq(shm_parse_size("", &v), -EINVAL);
    cr_assert_eq(shm_parse_size("K", &v), -EINVAL);
    cr_assert_eq(shm_parse_size("-4096", &v), -EINVAL);
    cr_assert_eq(shm_parse_size("4KB", &v), -EINVAL);
    cr_assert_eq(shm_parse_size("99999999999999999999", &v), -EOVERFLOW);
    cr_assert_eq(shm_parse_size("17179869184G", &v), -EOVERFLOW);
    cr_assert_eq(v, 7, "a failed parse changed the output");
}

static void quiet(void *o, enum cvmm_log_level l, const char *line) { (void)o, (void)l, (void)line; }

Test(shm, add_region_validates_and_keeps_state_on_error)
{
    struct cvmm_log log = {.fn = quiet};
    shm_dev s;
    shm_dev_init(&s, &log);
    cr_assert_eq(shm_add_region(&s, "0:2M"), 0);
    cr_assert_eq(shm_add_region(&s, "255:4K"), 0);
    cr_assert_eq(shm_add_region(&s, "256:4K"), -EINVAL);
    cr_assert_eq(shm_add_region(&s, "1:4097"), -EINVAL);
    cr_assert_eq(shm_add_region(&s, "1:0"), -EINVAL);
    cr_assert_eq(shm_add_region(&s, "1"), -EINVAL);
    cr_assert_eq(shm_add_region(&s, ":4K"), -EINVAL);
    cr_assert_eq(shm_add_region(&s, "0:4K"), -EEXIST);
    cr_assert_eq(shm_add_region(&s, "3:99999999999999999999"), -EOVERFLOW);
    cr_assert_eq(s.regions.nregions, 2);
    cr_assert_eq(s.regions.mem_size[0], 2u << 20);
    cr_assert_eq(s.regions.mem_size[255], 4096);
    cr_assert_eq(s.regions.mem_size[1], 0);
    cr_assert_eq(s.regions.mem_size[3], 0);
}

Test(shm, ctl_exec_rejects_oversized_and_binary_requests)
{
    struct cvmm_log log = {.fn = quiet};
    shm_dev s;
    char r[128];
    static char big[5000];
    shm_dev_init(&s, &log);
    memset(big, 'a', sizeof(big));
    cr_assert_eq(shm_ctl_exec(&s, NULL, big, sizeof(big), r, sizeof(r)), -EINVAL);
    cr_assert_eq(shm_ctl_exec(&s, NULL, "map\0x", 5, r, sizeof(r)), -EINVAL);
    cr_assert_eq(shm_ctl_exec(&s, NULL, "unmap 0 0", 9, r, sizeof(r)), -EINVAL);
    cr_assert_eq(shm_ctl_exec(&s, NULL, "unmap 0 0 4096 extra", 20, r, sizeof(r)), -EINVAL);
    cr_assert(strncmp(r, "error 22 ", 9) == 0, "%s", r);
}
