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
 * libuv's thread pool: unmounting an overlay syncs its upper filesystem, which can take a while;
 * and watch, which watches a child from a thread of its own (see "Child processes" below).
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
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

/* ---------------------------------------------------------------------------------------------
 * Child processes without forking node (src/sys/spawn.ts is the caller).
 *
 * libuv's uv_spawn forks the whole ~50 MB node process (page tables copied, then COW faults)
 * and node wraps the pipes in net.Socket streams: ~10 ms per child on a small VM. posix_spawnp
 * uses clone(CLONE_VM|CLONE_VFORK) in glibc: the child borrows our memory until it execs.
 * The child is then watched by a thread of its own (not the thread pool: a detached
 * supervisor's container can run for days) that polls a pidfd and the output pipes and hands
 * chunks and the exit status to JS through a thread-safe function.
 * ------------------------------------------------------------------------------------------- */

/* pipe() -> [readFd, writeFd] | -errno; both close-on-exec (a dup2 onto 0..2 in a child clears it). */
static napi_value js_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return number(env, -errno);
  napi_value out, r, w;
  if (napi_create_array_with_length(env, 2, &out) != napi_ok || napi_create_int32(env, fds[0], &r) != napi_ok ||
      napi_create_int32(env, fds[1], &w) != napi_ok || napi_set_element(env, out, 0, r) != napi_ok ||
      napi_set_element(env, out, 1, w) != napi_ok) {
    close(fds[0]);
    close(fds[1]);
    return NULL;
  }
  return out;
}

/* A NULL-terminated array of heap strings (argv, envp). */
static void free_strv(char **v) {
  if (v == NULL) return;
  for (char **p = v; *p != NULL; p++) free(*p);
  free(v);
}

/* A JS string array as a NULL-terminated C array; NULL with a JS exception pending. */
static char **get_strv(napi_env env, napi_value value, const char *what) {
  bool is_array = false;
  uint32_t len = 0;
  if (napi_is_array(env, value, &is_array) != napi_ok || !is_array || napi_get_array_length(env, value, &len) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be an array of strings", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return NULL;
  }
  char **v = calloc((size_t)len + 1, sizeof *v);
  if (v == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < len; i++) {
    napi_value item;
    if (napi_get_element(env, value, i, &item) != napi_ok || (v[i] = heap_cstr(env, item, what)) == NULL) {
      free_strv(v);
      return NULL;
    }
  }
  return v;
}

/*
 * The file actions that give the child its stdio: slot i gets fds[i] (dup2; dup2 of an fd onto
 * itself clears its close-on-exec flag, glibc >= 2.29), or /dev/null when fds[i] is -1.
 * A source fd that is itself one of 0..2 but of another slot would be overwritten by an earlier
 * dup2, so it is first copied above 2 (`copies`, closed by the caller after the spawn).
 */
static int stdio_actions(posix_spawn_file_actions_t *fa, const int32_t fds[3], int copies[3]) {
  for (int i = 0; i < 3; i++) copies[i] = -1;
  for (int i = 0; i < 3; i++) {
    int src = fds[i];
    if (src >= 0 && src < 3 && src != i) {
      copies[i] = fcntl(src, F_DUPFD_CLOEXEC, 3);
      if (copies[i] < 0) return errno;
      src = copies[i];
    }
    int rc = src >= 0 ? posix_spawn_file_actions_adddup2(fa, src, i)
                      : posix_spawn_file_actions_addopen(fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
    if (rc != 0) return rc;
  }
  return 0;
}

/*
 * Signal state for the child as libuv gives it: every signal at its default disposition (node
 * ignores SIGPIPE, and an ignored disposition survives exec: runc and the container would
 * inherit it) and nothing blocked; a new session when `setsid` (node's `detached: true`).
 */
static int spawn_attrs(posix_spawnattr_t *attr, bool setsid) {
  sigset_t all, none;
  /* Every bit, not sigfillset: glibc's leaves out its internal signals (32, 33), and its spawn
     helper then sets those to SIG_IGN in the child (it must not run our handlers in our memory),
     which would survive the exec. In the default set they become SIG_DFL, as after a fork+exec. */
  memset(&all, 0xff, sizeof all);
  sigemptyset(&none);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | (setsid ? POSIX_SPAWN_SETSID : 0);
  int rc = posix_spawnattr_setsigdefault(attr, &all);
  if (rc == 0) rc = posix_spawnattr_setsigmask(attr, &none);
  if (rc == 0) rc = posix_spawnattr_setflags(attr, flags);
  return rc;
}

extern char **environ;

/*
 * spawn(file, args, env | null, fds[3], setsid) -> pid | -errno
 * posix_spawnp: `file` is looked up on this process's PATH; `args` is argv (argv[0] included);
 * env null inherits ours. An exec failure (ENOENT, EACCES) is returned here, not later: glibc's
 * posix_spawn waits for the exec (CLONE_VFORK) and reports its errno.
 */
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!get_args(env, info, 5, argv)) return NULL;
  int32_t fds[3];
  bool setsid = false;
  uint32_t nfds = 0;
  bool is_array = false;
  if (napi_is_array(env, argv[3], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[3], &nfds) != napi_ok ||
      nfds != 3) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fds must be an array of 3 numbers");
    return NULL;
  }
  for (uint32_t i = 0; i < 3; i++) {
    napi_value item;
    if (napi_get_element(env, argv[3], i, &item) != napi_ok || !get_int(env, item, "fds[i]", &fds[i])) return NULL;
  }
  if (napi_get_value_bool(env, argv[4], &setsid) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "setsid must be a boolean");
    return NULL;
  }
  napi_valuetype env_type;
  if (napi_typeof(env, argv[2], &env_type) != napi_ok) return NULL;
  char *file = heap_cstr(env, argv[0], "file");
  if (file == NULL) return NULL;
  char **args = get_strv(env, argv[1], "args");
  char **envp = NULL;
  if (args == NULL || (env_type != napi_null && (envp = get_strv(env, argv[2], "env")) == NULL)) {
    free(file);
    free_strv(args);
    return NULL;
  }

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  int copies[3] = {-1, -1, -1};
  pid_t pid = -1;
  int rc = posix_spawn_file_actions_init(&fa);
  if (rc == 0) {
    rc = posix_spawnattr_init(&attr);
    if (rc == 0) {
      rc = stdio_actions(&fa, fds, copies);
      if (rc == 0) rc = spawn_attrs(&attr, setsid);
      if (rc == 0) rc = posix_spawnp(&pid, file, &fa, &attr, args, envp != NULL ? envp : environ);
      posix_spawnattr_destroy(&attr);
    }
    posix_spawn_file_actions_destroy(&fa);
  }
  for (int i = 0; i < 3; i++) {
    if (copies[i] >= 0) close(copies[i]);
  }
  free(file);
  free_strv(args);
  free_strv(envp);
  return number(env, rc != 0 ? -rc : pid);
}

/* What the watcher thread hands to JS (see watch() for the shapes). */
enum event_kind { EV_DATA = 0, EV_END = 1, EV_EXIT = 2, EV_ERROR = 3, EV_DONE = 4 };

typedef struct {
  enum event_kind kind;
  int a, b;          /* DATA/END: stream, -; EXIT: code (-1 when signalled), signal; ERROR: -errno, - */
  const char *what;  /* ERROR: the syscall (a string literal) */
  size_t len;
  char *bytes;       /* DATA: heap, freed once copied into a Buffer */
} child_event;

#define WATCH_STREAMS 2
#define CHUNK (64 * 1024)

/*
 * One watched child. The thread and the main thread share `paused`, `closed` and `stop`
 * (atomics; the thread re-reads them when `wake` rings).
 */
typedef struct {
  napi_threadsafe_function tsfn;
  pthread_t thread;
  bool thread_started;
  pid_t pid;
  int pidfd;
  int wake;                                /* eventfd: the doorbell */
  int out[WATCH_STREAMS];                  /* the output pipes' read ends, -1 once closed */
  atomic_bool paused[WATCH_STREAMS];
  atomic_bool closed;                      /* JS closed the watch: no more events, pipes closed */
  atomic_bool stop;                        /* the function is finalizing: the thread returns now */
  /* Main thread only. */
  bool finished;                           /* the tsfn is finalized: no more tsfn calls */
  int owners;                              /* the tsfn and the JS handle; freed at 0 */
} child_watch;

static void watch_drop(child_watch *w) {
  if (--w->owners == 0) free(w);
}

/* Wakes the thread from poll (the counter is only a doorbell; its value means nothing). */
static void watch_ring(child_watch *w) {
  uint64_t one = 1;
  RETRY(ssize_t, n, write(w->wake, &one, sizeof one));
  (void)n; /* EAGAIN: the counter is full, the thread is woken anyway */
}

/*
 * Hands `ev` to JS (ownership included), waiting while the queue is full; false when the
 * function is closing (env teardown): the thread must stop and not touch it again.
 */
static bool emit(child_watch *w, child_event *ev) {
  if (napi_call_threadsafe_function(w->tsfn, ev, napi_tsfn_blocking) == napi_ok) return true;
  free(ev->bytes);
  free(ev);
  return false;
}

static bool emit_simple(child_watch *w, enum event_kind kind, int a, int b, const char *what) {
  child_event *ev = calloc(1, sizeof *ev);
  if (ev == NULL) return true; /* out of memory: the event is lost, the watch goes on */
  ev->kind = kind;
  ev->a = a;
  ev->b = b;
  ev->what = what;
  return emit(w, ev);
}

/* Reads what is there on stream i: a chunk, or the end (EOF or a read error) and closes it. */
static bool drain_once(child_watch *w, int i, char *buf) {
  RETRY(ssize_t, n, read(w->out[i], buf, CHUNK));
  if (n < 0 && errno == EAGAIN) return true;
  if (n > 0) {
    child_event *ev = calloc(1, sizeof *ev);
    char *bytes = ev == NULL ? NULL : malloc((size_t)n);
    if (bytes == NULL) {
      free(ev);
      return true;
    }
    memcpy(bytes, buf, (size_t)n);
    ev->kind = EV_DATA;
    ev->a = i;
    ev->len = (size_t)n;
    ev->bytes = bytes;
    return emit(w, ev);
  }
  int err = n < 0 ? errno : 0;
  close(w->out[i]);
  w->out[i] = -1;
  return emit_simple(w, EV_END, i, -err, NULL);
}

/* waitpid once the pidfd says the child is a zombie: its exit code, or -1 and the signal. */
static bool reap(child_watch *w) {
  int status = 0;
  RETRY(pid_t, got, waitpid(w->pid, &status, 0));
  close(w->pidfd);
  w->pidfd = -1;
  if (got < 0) return emit_simple(w, EV_ERROR, -errno, 0, "waitpid");
  if (WIFSIGNALED(status)) return emit_simple(w, EV_EXIT, -1, WTERMSIG(status), NULL);
  return emit_simple(w, EV_EXIT, WEXITSTATUS(status), 0, NULL);
}

/*
 * The watcher thread: polls the pidfd (until the exit is reaped), each output pipe that is not
 * paused (until its EOF: output can go on after the exit, from the container's processes that
 * hold the pipe) and the doorbell. Ends when all are done, or at once when the function is
 * finalizing (env teardown).
 */
static void *watch_main(void *arg) {
  child_watch *w = arg;
  char *buf = malloc(CHUNK);
  bool live = buf != NULL || emit_simple(w, EV_ERROR, -ENOMEM, 0, "malloc");
  while (live && buf != NULL && !atomic_load(&w->stop)) {
    /* Closed by JS: the pipes go, but the child is still reaped when it exits (no zombie). */
    if (atomic_load(&w->closed)) {
      for (int i = 0; i < WATCH_STREAMS; i++) {
        if (w->out[i] >= 0) close(w->out[i]);
        w->out[i] = -1;
      }
    }
    struct pollfd pfd[2 + WATCH_STREAMS];
    int stream_at[2 + WATCH_STREAMS];
    nfds_t n = 0;
    pfd[n++] = (struct pollfd){.fd = w->wake, .events = POLLIN};
    bool open_streams = false;
    for (int i = 0; i < WATCH_STREAMS; i++) {
      if (w->out[i] < 0) continue;
      open_streams = true;
      if (atomic_load(&w->paused[i])) continue;
      stream_at[n] = i;
      pfd[n++] = (struct pollfd){.fd = w->out[i], .events = POLLIN};
    }
    /* Last, so that output read in the same round as the exit reaches JS before it. */
    if (w->pidfd >= 0) {
      stream_at[n] = -1;
      pfd[n++] = (struct pollfd){.fd = w->pidfd, .events = POLLIN};
    }
    if (w->pidfd < 0 && !open_streams) break;
    if (poll(pfd, n, -1) < 0) {
      if (errno == EINTR) continue;
      live = emit_simple(w, EV_ERROR, -errno, 0, "poll");
      break;
    }
    if (pfd[0].revents != 0) {
      uint64_t count;
      RETRY(ssize_t, got, read(w->wake, &count, sizeof count));
      (void)got; /* EAGAIN: rung and read already */
    }
    for (nfds_t k = 1; live && k < n; k++) {
      if (pfd[k].revents == 0) continue;
      if (stream_at[k] < 0) live = reap(w);
      else live = drain_once(w, stream_at[k], buf);
    }
  }
  free(buf);
  for (int i = 0; i < WATCH_STREAMS; i++) {
    if (w->out[i] >= 0) close(w->out[i]);
    w->out[i] = -1;
  }
  if (w->pidfd >= 0) close(w->pidfd);
  w->pidfd = -1;
  /* After napi_closing the function may be gone: no more calls on it, not even a release. */
  if (live && emit_simple(w, EV_DONE, 0, 0, NULL)) napi_release_threadsafe_function(w->tsfn, napi_tsfn_release);
  return NULL;
}

/* Runs on the main thread with each event: onEvent(kind, a, b). With env NULL (teardown), frees it. */
static void watch_call_js(napi_env env, napi_value callback, void *context, void *data) {
  child_watch *w = context;
  child_event *ev = data;
  if (env != NULL && callback != NULL && !atomic_load(&w->closed)) {
    napi_value args[3], undefined;
    bool ok = napi_get_undefined(env, &undefined) == napi_ok && napi_create_int32(env, ev->kind, &args[0]) == napi_ok &&
              napi_create_int32(env, ev->a, &args[1]) == napi_ok;
    if (ok && ev->kind == EV_DATA) ok = napi_create_buffer_copy(env, ev->len, ev->bytes, NULL, &args[2]) == napi_ok;
    else if (ok && ev->kind == EV_ERROR) ok = napi_create_string_utf8(env, ev->what, NAPI_AUTO_LENGTH, &args[2]) == napi_ok;
    else if (ok) ok = napi_create_int32(env, ev->b, &args[2]) == napi_ok;
    /* An exception thrown by the callback stays pending: node reports it as uncaught. */
    if (ok) napi_call_function(env, undefined, callback, 3, args, NULL);
  }
  free(ev->bytes);
  free(ev);
}

/* The function is gone (the thread released it, or the env is tearing down): join the thread. */
static void watch_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  child_watch *w = data;
  atomic_store(&w->stop, true);
  /* Normally the thread has released the function and is returning; at env teardown it may be
     in poll (the doorbell wakes it) or blocked on a full queue (node wakes it with napi_closing). */
  if (w->thread_started) {
    watch_ring(w);
    pthread_join(w->thread, NULL);
  }
  /* Closed now, not when the handle is collected: nothing rings it once `finished` is set. */
  close(w->wake);
  w->wake = -1;
  w->finished = true;
  watch_drop(w);
}

/* The JS handle was collected. */
static void watch_handle_gone(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  watch_drop(data);
}

/* Starts the thread with every signal blocked: signals are node's to handle, on its own thread. */
static int start_thread(child_watch *w) {
  sigset_t all, old;
  sigfillset(&all);
  int rc = pthread_sigmask(SIG_SETMASK, &all, &old);
  if (rc != 0) return rc;
  rc = pthread_create(&w->thread, NULL, watch_main, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

/* Closes the fds a failed watch() was given: they are its to close whether or not it starts. */
static void close_all(int pidfd, const int32_t fds[WATCH_STREAMS]) {
  if (pidfd >= 0) close(pidfd);
  for (int i = 0; i < WATCH_STREAMS; i++) {
    if (fds[i] >= 0) close(fds[i]);
  }
}

/*
 * watch(pid, [stdoutFd, stderrFd], onEvent) -> handle | -errno
 * Takes ownership of the two fds (-1 for none), even when it fails, and calls onEvent(kind, a, b)
 * on the main thread:
 *   0 data:  a = stream (0 stdout, 1 stderr), b = Buffer
 *   1 end:   a = stream, b = 0, or -errno of the read that failed
 *   2 exit:  a = exit code or -1, b = the killing signal or 0
 *   3 error: a = -errno, b = the syscall that failed (poll, waitpid): the watch ends
 *   4 done:  the watch has ended and closed every fd
 * The pid must be our child and reaped by no one else: libuv's SIGCHLD handler waits only for
 * the pids it spawned itself (uv__wait_children: waitpid on each of its process handles).
 * Until `done` the watch holds the event loop open, unless unref'd.
 */
static napi_value js_watch(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t pid, fds[WATCH_STREAMS] = {-1, -1};
  uint32_t nfds = 0;
  bool is_array = false;
  if (!get_args(env, info, 3, argv) || !get_int(env, argv[0], "pid", &pid)) return NULL;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[1], &nfds) != napi_ok ||
      nfds != WATCH_STREAMS) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "fds must be an array of 2 numbers");
    return NULL;
  }
  for (uint32_t i = 0; i < WATCH_STREAMS; i++) {
    napi_value item;
    if (napi_get_element(env, argv[1], i, &item) != napi_ok || !get_int(env, item, "fds[i]", &fds[i])) {
      close_all(-1, fds);
      return NULL;
    }
  }
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {
    int err = errno;
    close_all(-1, fds);
    return number(env, -err);
  }
  child_watch *w = calloc(1, sizeof *w);
  if (w == NULL || (w->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
    int err = w == NULL ? ENOMEM : errno;
    free(w);
    close_all(pidfd, fds);
    return number(env, -err);
  }
  w->pid = pid;
  w->pidfd = pidfd;
  for (int i = 0; i < WATCH_STREAMS; i++) {
    w->out[i] = fds[i];
    atomic_init(&w->paused[i], false);
  }
  atomic_init(&w->closed, false);
  atomic_init(&w->stop, false);
  napi_value handle, name;
  if (napi_create_external(env, w, watch_handle_gone, NULL, &handle) != napi_ok) {
    close_all(pidfd, fds);
    close(w->wake);
    free(w);
    return NULL;
  }
  w->owners = 1; /* the handle's; freed with it from here on */
  /* A short queue keeps a fast writer's output from piling up in memory: the thread blocks. */
  if (napi_create_string_utf8(env, "cairn:child", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, argv[2], NULL, name, 8, 1, w, watch_finalize, w, watch_call_js, &w->tsfn) != napi_ok) {
    close_all(pidfd, fds);
    close(w->wake);
    w->wake = -1;
    w->pidfd = -1;
    w->out[0] = w->out[1] = -1;
    w->finished = true;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && !pending) {
      napi_throw_error(env, NULL, "cannot create the child watch's thread-safe function");
    }
    return NULL;
  }
  w->owners++; /* the function's, dropped when it finalizes */
  int rc = start_thread(w);
  if (rc != 0) {
    /* Nothing polls: close the fds, and let the function finalize (it drops its share). */
    close_all(pidfd, fds);
    w->pidfd = -1;
    w->out[0] = w->out[1] = -1;
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
    return number(env, -rc);
  }
  w->thread_started = true;
  return handle;
}

static child_watch *get_watch(napi_env env, napi_value value) {
  void *data = NULL;
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external || napi_get_value_external(env, value, &data) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "handle must be a watch handle");
    return NULL;
  }
  return data;
}

/*
 * watchControl(handle, op, stream): op 0 pauses and 1 resumes output `stream`; 2 closes the watch
 * (no more events, the pipes closed; the thread stays only to reap the child when it exits);
 * 3 unrefs and 4 refs it (whether it holds the event loop open). No-op once the watch is done.
 */
static napi_value js_watch_control(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t op, stream;
  if (!get_args(env, info, 3, argv) || !get_int(env, argv[1], "op", &op) || !get_int(env, argv[2], "stream", &stream)) return NULL;
  child_watch *w = get_watch(env, argv[0]);
  if (w == NULL) return NULL;
  if (stream < 0 || stream >= WATCH_STREAMS || op < 0 || op > 4) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "op or stream out of range");
    return NULL;
  }
  if (w->finished) return number(env, 0);
  switch (op) {
    case 0:
    case 1:
      atomic_store(&w->paused[stream], op == 0);
      watch_ring(w);
      break;
    case 2:
      atomic_store(&w->closed, true);
      watch_ring(w);
      break;
    case 3:
      if (napi_unref_threadsafe_function(env, w->tsfn) != napi_ok) return NULL;
      break;
    case 4:
      if (napi_ref_threadsafe_function(env, w->tsfn) != napi_ok) return NULL;
      break;
  }
  return number(env, 0);
}

/*
 * exitNow(code): _exit(2), for a process whose work is done and whose 'exit' listeners have run.
 * It skips what exit(3) and Node do after that (freeing the heap, joining V8's and libuv's
 * threads, C++ destructors): nothing another process could see, ~1.7 ms of a short command.
 */
static napi_value js_exit_now(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t code;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], "code", &code)) return NULL;
  _exit(code & 0xff);
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
            export_fn(env, exports, "mount", js_mount) && export_fn(env, exports, "umount2", js_umount2) &&
            export_fn(env, exports, "pipe", js_pipe) && export_fn(env, exports, "spawn", js_spawn) &&
            export_fn(env, exports, "watch", js_watch) && export_fn(env, exports, "watchControl", js_watch_control) &&
            export_fn(env, exports, "exitNow", js_exit_now);
  return ok ? exports : NULL;
}
