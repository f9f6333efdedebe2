/*
 * cairn's native addon: the few Linux calls Node's fs lacks (design §10), and nothing else.
 * src/sys/native.ts is its only caller and holds the typed interface.
 *
 * Contract, kept small on purpose so the TypeScript side builds every error in one place:
 * - a call returns its result (>= 0, a Buffer or an array), or -errno when the syscall failed;
 *   EINTR is retried here, so callers never see it;
 * - arguments of the wrong type, and strings holding a NUL byte (which C would silently cut
 *   short, so a call would act on another path), throw a TypeError.
 * Calls are synchronous on the calling thread; they are metadata syscalls on local files.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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
            export_fn(env, exports, "socketInNetns", js_socket_in_netns) && export_fn(env, exports, "openpt", js_openpt);
  return ok ? exports : NULL;
}
