/* libudev.so.1 stand-in (0.07 MB xz) for libdevmapper, its only user in the
 * payload. libdevmapper asks udev only whether a udev daemon runs (to wait
 * for it after creating a mapping); the payload runs none, and the real
 * library would answer "not running" too (no /run/udev/control). This one
 * gives that answer always: a context and a queue handle that stand for
 * nothing, and udev_queue_get_udev_is_active() = 0. libdevmapper then
 * creates the device nodes itself, as it does without a daemon. */
#include <stddef.h>

struct udev {
	int unused;
};
struct udev_queue {
	int unused;
};

static struct udev the_udev;
static struct udev_queue the_queue;

struct udev *udev_new(void) { return &the_udev; }
struct udev *udev_unref(struct udev *u) { (void)u; return NULL; }
struct udev_queue *udev_queue_new(struct udev *u) { return u ? &the_queue : NULL; }
struct udev_queue *udev_queue_unref(struct udev_queue *q) { (void)q; return NULL; }
int udev_queue_get_udev_is_active(struct udev_queue *q) { (void)q; return 0; }
