/*
 * cairn's native addon: the few Linux calls Node's fs lacks (design §10), and nothing else.
 * src/sys/native.ts is its only caller and holds the typed interface.
 *
 * Contract, kept small on purpose so the TypeScript side builds every error in one place:
 * - a call returns its result (>= 0, a Buffer or an array), or -errno when the syscall failed;
 *   EINTR is retried here, so callers never see it;
 * - arguments of the wrong type, and strings holding a NUL byte (which C would silently cut
 *   short, so a call would act on another path), throw a TypeError.
 * Calls are synchronous on the calling thread; they are metadata syscalls on local files. The
 * exceptions are mount and umount2, which return a Promise (of the same result) and run on
 * libuv's thread pool: unmounting an overlay syncs its upper filesystem, which can take a while.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Retries `expr` (a syscall returning -1 on failure) while it fails with EINTR. */
#define RETRY(type, var, expr) \
  type var;                    \
  do {                         \
    var = (expr);              \
  } while (var < 0 && errno == EINTR)

/* Stops the calling function when a node-api call failed (an exception is then pending). */
#define NAPI_OK(call)                 \
  do {                                \
    if ((call) != napi_ok) return NULL; \
  } while (0)

/* A JS string as a NUL-terminated C string: on the stack when it fits, else on the heap. */
typedef struct {
  char *s;
  char stack[PATH_MAX];
} cstr;

static void cstr_free(cstr *c) {
  if (c->s != NULL && c->s != c->stack) free(c->s);
  c->s = NULL;
}

static bool get_cstr(napi_env env, napi_value value, const char *what, cstr *out) {
  out->s = NULL;
  size_t len = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a string", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  char *buf = len < sizeof out->stack ? out->stack : malloc(len + 1);
  if (buf == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return false;
  }
  out->s = buf;
  napi_get_value_string_utf8(env, value, buf, len + 1, &len);
  if (strlen(buf) != len) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a string without null bytes", what);
    cstr_free(out);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", msg);
    return false;
  }
  return true;
}

/* argv[0] as the path and argv[1] as the attribute name; on failure neither needs freeing. */
static bool get_path_and_name(napi_env env, napi_value *argv, cstr *path, cstr *name) {
  if (!get_cstr(env, argv[0], "path", path)) return false;
  if (get_cstr(env, argv[1], "name", name)) return true;
  cstr_free(path);
  return false;
}

static bool get_int(napi_env env, napi_value value, const char *what, int32_t *out) {
  if (napi_get_value_int32(env, value, out) == napi_ok) return true;
  char msg[96];
  snprintf(msg, sizeof msg, "%s must be a number", what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

static bool get_bytes(napi_env env, napi_value value, const char *what, void **data, size_t *len) {
  bool is_typed = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, value, &is_typed) == napi_ok && is_typed &&
      napi_get_typedarray_info(env, value, &type, len, data, NULL, NULL) == napi_ok && type == napi_uint8_array) {
    return true;
  }
  char msg[96];
  snprintf(msg, sizeof msg, "%s must be a Uint8Array", what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return false;
}

/* Fetches exactly `want` arguments (they are all required). */
static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < want) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "missing arguments");
    return false;
  }
  return true;
}

static napi_value number(napi_env env, double n) {
  napi_value v;
  NAPI_OK(napi_create_double(env, n, &v));
  return v;
}

/* `r` when the call succeeded, -errno when it failed. */
static napi_value result(napi_env env, long r) {
  return number(env, r < 0 ? -errno : (double)r);
}

/* flock(fd, op) -> 0 | -errno */
static napi_value js_flock(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, op;
  if (!get_args(env, info, 2, argv) || !get_int(env, argv[0], "fd", &fd) || !get_int(env, argv[1], "op", &op)) {
    return NULL;
  }
  RETRY(int, r, flock(fd, op));
  return result(env, r);
}

/* mknod(path, mode, major, minor) -> 0 | -errno; mode carries the file type bits. */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t mode, major, minor;
  if (!get_args(env, info, 4, argv) || !get_int(env, argv[1], "mode", &mode) ||
      !get_int(env, argv[2], "major", &major) || !get_int(env, argv[3], "minor", &minor)) {
    return NULL;
  }
  cstr path;
  if (!get_cstr(env, argv[0], "path", &path)) return NULL;
  RETRY(int, r, mknod(path.s, (mode_t)mode, makedev((unsigned)major, (unsigned)minor)));
  napi_value out = result(env, r);
  cstr_free(&path);
  return out;
}

/* lsetxattr(path, name, value) -> 0 | -errno */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  void *data;
  size_t len;
  if (!get_args(env, info, 3, argv) || !get_bytes(env, argv[2], "value", &data, &len)) return NULL;
  cstr path, name;
  if (!get_path_and_name(env, argv, &path, &name)) return NULL;
  RETRY(int, r, lsetxattr(path.s, name.s, data, len, 0));
  napi_value out = result(env, r);
  cstr_free(&path);
  cstr_free(&name);
  return out;
}

/* fsetxattr(fd, name, value) -> 0 | -errno */
static napi_value js_fsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd;
  void *data;
  size_t len;
  if (!get_args(env, info, 3, argv) || !get_int(env, argv[0], "fd", &fd) ||
      !get_bytes(env, argv[2], "value", &data, &len)) {
    return NULL;
  }
  cstr name;
  if (!get_cstr(env, argv[1], "name", &name)) return NULL;
  RETRY(int, r, fsetxattr(fd, name.s, data, len, 0));
  napi_value out = result(env, r);
  cstr_free(&name);
  return out;
}

/*
 * Reads a value or list whose size is unknown: first into `small` (enough for nearly every
 * attribute cairn meets), and on ERANGE asks the size and retries on the heap, again if it grew
 * in between. Returns the length, or -errno; `*heap` is set when the bytes are on the heap.
 */
static ssize_t read_sized(ssize_t (*fn)(const char *, const char *, void *, size_t), const char *path,
                          const char *name, char *small, size_t small_size, char **heap) {
  *heap = NULL;
  RETRY(ssize_t, n, fn(path, name, small, small_size));
  if (n >= 0) return n;
  while (errno == ERANGE) {
    RETRY(ssize_t, size, fn(path, name, NULL, 0));
    if (size < 0) return -errno;
    char *buf = malloc(size > 0 ? (size_t)size : 1);
    if (buf == NULL) return -ENOMEM;
    RETRY(ssize_t, got, fn(path, name, buf, (size_t)size));
    if (got >= 0) {
      *heap = buf;
      return got;
    }
    int err = errno;
    free(buf);
    if (err != ERANGE) return -err; /* ERANGE: it grew since we asked; ask again */
  }
  return -errno;
}

static ssize_t lgetxattr_fn(const char *path, const char *name, void *buf, size_t size) {
  return lgetxattr(path, name, buf, size);
}

static ssize_t llistxattr_fn(const char *path, const char *name, void *buf, size_t size) {
  (void)name;
  return llistxattr(path, buf, size);
}

/* lgetxattr(path, name) -> Buffer | -errno */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  cstr path, name;
  if (!get_path_and_name(env, argv, &path, &name)) return NULL;
  char small[512], *heap;
  ssize_t n = read_sized(lgetxattr_fn, path.s, name.s, small, sizeof small, &heap);
  cstr_free(&path);
  cstr_free(&name);
  if (n < 0) return number(env, (double)n);
  napi_value out = NULL;
  napi_create_buffer_copy(env, (size_t)n, heap != NULL ? heap : small, NULL, &out);
  free(heap);
  return out;
}

/* llistxattr(path) -> string[] | -errno, names in the order the filesystem lists them */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!get_args(env, info, 1, argv)) return NULL;
  cstr path;
  if (!get_cstr(env, argv[0], "path", &path)) return NULL;
  char small[1024], *heap;
  ssize_t n = read_sized(llistxattr_fn, path.s, NULL, small, sizeof small, &heap);
  cstr_free(&path);
  if (n < 0) return number(env, (double)n);
  const char *list = heap != NULL ? heap : small;
  napi_value names = NULL;
  bool ok = napi_create_array(env, &names) == napi_ok;
  uint32_t count = 0;
  for (ssize_t at = 0; ok && at < n;) {
    size_t len = strnlen(list + at, (size_t)(n - at));
    napi_value name;
    if (len > 0) {
      ok = napi_create_string_utf8(env, list + at, len, &name) == napi_ok &&
           napi_set_element(env, names, count++, name) == napi_ok;
    }
    at += (ssize_t)len + 1;
  }
  free(heap);
  return ok ? names : NULL;
}

/* lremovexattr(path, name) -> 0 | -errno */
static napi_value js_lremovexattr(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  cstr path, name;
  if (!get_path_and_name(env, argv, &path, &name)) return NULL;
  RETRY(int, r, lremovexattr(path.s, name.s));
  napi_value out = result(env, r);
  cstr_free(&path);
  cstr_free(&name);
  return out;
}

/* { syscall, errno }: which step of socketInNetns failed. */
static napi_value netns_failure(napi_env env, const char *syscall, int err) {
  napi_value out, name, code;
  NAPI_OK(napi_create_object(env, &out));
  NAPI_OK(napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &name));
  NAPI_OK(napi_create_int32(env, err, &code));
  NAPI_OK(napi_set_named_property(env, out, "syscall", name));
  NAPI_OK(napi_set_named_property(env, out, "errno", code));
  return out;
}

/*
 * socketInNetns(nsFd, homeFd, domain, type) -> fd | { syscall, errno }
 * setns(CLONE_NEWNET) moves only the calling thread: it steps into nsFd's namespace, makes the
 * socket (which stays in that namespace for life) and steps back to homeFd's before returning,
 * so no JavaScript, and no other thread, ever runs in the container's namespace. syscall is
 * "setns" or "socket" when the socket could not be made (the thread is home again), and
 * "setns-home" when the thread could not return: the process is then in an unknown state.
 */
static napi_value js_socket_in_netns(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t ns_fd, home_fd, domain, type;
  if (!get_args(env, info, 4, argv) || !get_int(env, argv[0], "nsFd", &ns_fd) ||
      !get_int(env, argv[1], "homeFd", &home_fd) || !get_int(env, argv[2], "domain", &domain) ||
      !get_int(env, argv[3], "type", &type)) {
    return NULL;
  }
  if (setns(ns_fd, CLONE_NEWNET) != 0) return netns_failure(env, "setns", errno);
  int fd = socket(domain, type, 0);
  int socket_errno = fd < 0 ? errno : 0;
  RETRY(int, back, setns(home_fd, CLONE_NEWNET));
  if (back != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    return netns_failure(env, "setns-home", err);
  }
  if (fd < 0) return netns_failure(env, "socket", socket_errno);
  return number(env, fd);
}

/*
 * openpt(flags) -> { master, path } | -errno
 * A new pseudo-terminal pair's master side (posix_openpt + grantpt + unlockpt) and the slave's
 * path (ptsname_r): what Node cannot do, since unlocking and naming the slave are ioctls.
 * The caller opens the slave by path with fs.open.
 */
static napi_value js_openpt(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t flags;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "flags", &flags)) return NULL;
  int master = posix_openpt(flags);
  if (master < 0) return number(env, -errno);
  char path[128];
  int rc = 0;
  if (grantpt(master) != 0 || unlockpt(master) != 0) rc = errno;
  else rc = ptsname_r(master, path, sizeof path);
  if (rc != 0) {
    close(master);
    return number(env, -rc);
  }
  napi_value out, fd, name;
  NAPI_OK(napi_create_object(env, &out));
  NAPI_OK(napi_create_int32(env, master, &fd));
  NAPI_OK(napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &name));
  NAPI_OK(napi_set_named_property(env, out, "master", fd));
  NAPI_OK(napi_set_named_property(env, out, "path", name));
  return out;
}

/* A JS string copied to the heap (async work outlives the call); NULL with an exception pending. */
static char *heap_cstr(napi_env env, napi_value value, const char *what) {
  cstr c;
  if (!get_cstr(env, value, what, &c)) return NULL;
  char *out = strdup(c.s);
  cstr_free(&c);
  if (out == NULL) napi_throw_error(env, "ENOMEM", "out of memory");
  return out;
}

/* One mount(2) or umount2(2), run on the thread pool; `result` is 0 or -errno. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  bool unmount;
  char *source, *target, *fstype, *data, *cwd;
  int32_t flags;
  int result;
} mount_req;

static void mount_req_free(mount_req *r) {
  free(r->source);
  free(r->target);
  free(r->fstype);
  free(r->data);
  free(r->cwd);
  free(r);
}

static void do_mount(mount_req *r) {
  RETRY(int, rc, mount(r->source, r->target, r->fstype, (unsigned long)(uint32_t)r->flags, r->data));
  r->result = rc < 0 ? -errno : 0;
}

/*
 * overlayfs resolves relative lowerdirs against the mounting thread's working directory (which
 * keeps the option string under a page). A thread of our own, with its own fs_struct after
 * unshare(CLONE_FS), can chdir without moving the working directory of the rest of the process.
 */
static void *mount_in_dir(void *arg) {
  mount_req *r = arg;
  if (unshare(CLONE_FS) != 0 || chdir(r->cwd) != 0) {
    r->result = -errno;
    return NULL;
  }
  do_mount(r);
  return NULL;
}

static void mount_execute(napi_env env, void *data) {
  (void)env;
  mount_req *r = data;
  if (r->unmount) {
    RETRY(int, rc, umount2(r->target, r->flags));
    r->result = rc < 0 ? -errno : 0;
  } else if (r->cwd == NULL) {
    do_mount(r);
  } else {
    pthread_t thread;
    int err = pthread_create(&thread, NULL, mount_in_dir, r);
    if (err != 0) r->result = -err;
    else pthread_join(thread, NULL);
  }
}

static void mount_complete(napi_env env, napi_status status, void *data) {
  mount_req *r = data;
  napi_value value;
  if (status == napi_ok && napi_create_int32(env, r->result, &value) == napi_ok) {
    napi_resolve_deferred(env, r->deferred, value);
  } else {
    napi_value msg, err;
    napi_create_string_utf8(env, "mount request failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_reject_deferred(env, r->deferred, err);
  }
  napi_delete_async_work(env, r->work);
  mount_req_free(r);
}

/* Queues `r` and returns its promise; frees `r` (and returns NULL) when that fails. */
static napi_value queue_mount(napi_env env, mount_req *r, const char *name) {
  napi_value promise, resource;
  if (napi_create_promise(env, &r->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource) != napi_ok ||
      napi_create_async_work(env, NULL, resource, mount_execute, mount_complete, r, &r->work) != napi_ok) {
    mount_req_free(r);
    return NULL;
  }
  if (napi_queue_async_work(env, r->work) != napi_ok) {
    napi_delete_async_work(env, r->work);
    mount_req_free(r);
    return NULL;
  }
  return promise;
}

/* The call's `argc` arguments into argv, and a zeroed request; NULL (with a JS error) when either fails. */
static mount_req *new_mount_req(napi_env env, napi_callback_info info, size_t argc, napi_value *argv) {
  if (!get_args(env, info, argc, argv)) return NULL;
  mount_req *r = calloc(1, sizeof *r);
  if (r == NULL) napi_throw_error(env, "ENOMEM", "out of memory");
  return r;
}

/* mount(source, target, fstype, flags, data, cwd | null) -> Promise<0 | -errno> */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  mount_req *r = new_mount_req(env, info, 6, argv);
  if (r == NULL) return NULL;
  napi_valuetype cwd_type;
  bool ok = get_int(env, argv[3], "flags", &r->flags) && (r->source = heap_cstr(env, argv[0], "source")) != NULL &&
            (r->target = heap_cstr(env, argv[1], "target")) != NULL &&
            (r->fstype = heap_cstr(env, argv[2], "fstype")) != NULL && (r->data = heap_cstr(env, argv[4], "data")) != NULL &&
            napi_typeof(env, argv[5], &cwd_type) == napi_ok &&
            (cwd_type == napi_null || (r->cwd = heap_cstr(env, argv[5], "cwd")) != NULL);
  if (!ok) {
    mount_req_free(r);
    return NULL;
  }
  return queue_mount(env, r, "cairn:mount");
}

/* umount2(target, flags) -> Promise<0 | -errno> */
static napi_value js_umount2(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  mount_req *r = new_mount_req(env, info, 2, argv);
  if (r == NULL) return NULL;
  r->unmount = true;
  if (!get_int(env, argv[1], "flags", &r->flags) || (r->target = heap_cstr(env, argv[0], "target")) == NULL) {
    mount_req_free(r);
    return NULL;
  }
  return queue_mount(env, r, "cairn:umount2");
}

static bool export_fn(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value value;
  return napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &value) == napi_ok &&
         napi_set_named_property(env, exports, name, value) == napi_ok;
}

NAPI_MODULE_INIT() {
  bool ok = export_fn(env, exports, "flock", js_flock) && export_fn(env, exports, "mknod", js_mknod) &&
            export_fn(env, exports, "lsetxattr", js_lsetxattr) && export_fn(env, exports, "fsetxattr", js_fsetxattr) &&
            export_fn(env, exports, "lgetxattr", js_lgetxattr) && export_fn(env, exports, "llistxattr", js_llistxattr) &&
            export_fn(env, exports, "lremovexattr", js_lremovexattr) &&
            export_fn(env, exports, "socketInNetns", js_socket_in_netns) && export_fn(env, exports, "openpt", js_openpt) &&
            export_fn(env, exports, "mount", js_mount) && export_fn(env, exports, "umount2", js_umount2);
  return ok ? exports : NULL;
}
