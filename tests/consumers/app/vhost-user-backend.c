/* A consumer of cvmm::vhost-user-backend (and, through it, of the three other libraries): a daemon around
 * a do-nothing device serves one end of a socketpair; a front-end (cvmm::vhost-user-proto) on the other end
 * reads the virtio features the device offers. */
#include <cvmm/vhu.h>
#include <cvmm/vub.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>

#define DEVICE_FEATURE (1ull << 5)

static int kicked(void *ctx, vub_queue *q)
{
    (void)ctx;
    (void)q;
    return 0;
}

struct peer {
    int fd;
    vub_daemon *d;
    uint64_t features;
    int rc;
};

static void *front_end(void *arg)
{
    struct peer *p = arg;
    vhu_frontend_config fc = {.name = "consumer"};
    vhu_frontend *f = NULL;
    p->rc = vhu_frontend_new(&fc, p->fd, &f);
    if (p->rc == 0)
        p->rc = vhu_frontend_get_features(f, &p->features);
    vhu_frontend_free(f);
    vub_daemon_stop(p->d);
    return NULL;
}

int main(void)
{
    static const vub_device_ops ops = {.queue_kicked = kicked};
    static const vub_device_info info = {.name = "consumer", .num_queues = 1, .features = DEVICE_FEATURE};
    vub_daemon_config cfg = {.ops = &ops, .info = &info};
    vub_daemon *d = NULL;
    int sv[2];
    pthread_t t;
    struct peer p = {.rc = -1};
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || vub_daemon_new(&cfg, &d) != 0 ||
        vub_daemon_serve_fd(d, sv[0]) != 0) {
        printf("consumer vhost-user-backend: FAIL set-up\n");
        return 1;
    }
    p.fd = sv[1];
    p.d = d;
    pthread_create(&t, NULL, front_end, &p);
    int rc = vub_daemon_run(d);
    pthread_join(t, NULL);
    vub_daemon_free(d);
    if (rc != 0 || p.rc != 0 || !(p.features & DEVICE_FEATURE)) {
        printf("consumer vhost-user-backend: FAIL run %d front-end %d features 0x%llx\n", rc, p.rc,
               (unsigned long long)p.features);
        return 1;
    }
    printf("consumer vhost-user-backend: ok (features 0x%llx)\n", (unsigned long long)p.features);
    return 0;
}
