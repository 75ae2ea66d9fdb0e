/*
 * edgectl-pages: the page codec of a delta migration. It describes a later snapshot (a checkpoint's
 * image files and the container's writable layer) as blocks of an earlier one that the destination
 * already holds, plus the bytes found nowhere in it, and rebuilds the later snapshot from the two.
 *
 * A checkpoint's memory is in its pages-*.img files, 4 KiB pages in the order CRIU walked the
 * process's mappings; between two checkpoints most pages are unchanged but their offsets in the file
 * move (a mapping grew, another came). So every 4 KiB block of the later files is looked up, by
 * content, among all the blocks of the earlier snapshot (a hash table, every match then compared byte
 * for byte), wherever they are. Files equal to their earlier version are only named.
 *
 * Usage: edgectl-pages diff PRE FINAL OUT    writes OUT (MANIFEST, FILES, one PATH.blocks per changed
 *                                             file); prints the bytes written
 *        edgectl-pages patch PRE DELTA OUT   rebuilds FINAL as OUT from PRE and DELTA (OUT must not
 *                                             exist); every rebuilt file is checked against its hash.
 *                                             A file whose every reference is to its own earlier
 *                                             version at the same offset is patched in place (PRE's
 *                                             copy changes, and is then linked into OUT): only what
 *                                             changed is written
 *        edgectl-pages --version
 * FILES: the earlier snapshot's files, one name a line, sorted (strcmp), each line ended by a newline.
 * MANIFEST: one line per file of the later snapshot, sorted by name: "same NAME" (linked from PRE) or
 * "blocks NAME" (rebuilt from NAME.blocks). A name is relative to the snapshot's directory.
 * A .blocks file: "EPB1", the file's size (u64), its hash (u64), then records until the size is
 * reached: 'C' u32 pre-file u64 offset u32 blocks (copy from PRE), 'P' u32 pre-file u64 offset u16
 * ranges, each u16 start u16 length bytes (a block of PRE with those bytes replaced), 'L' u32 length,
 * bytes (literal). A pre-file is an index into FILES. Integers little-endian.
 * Exit codes: 0 done, 1 failed (message on stderr), 2 usage.
 *
 * The delta arrives from the source over the network and `patch` runs as root on the destination:
 * nothing in it is trusted. Every name is checked (relative; no empty, "." or ".." component; no
 * control character) and opened beneath its directory one component at a time, never following a
 * symbolic link, in PRE, DELTA and OUT alike; only regular files are read; every offset and length is
 * checked in a form that cannot overflow (`off > size || n > size - off`, never `off + n > size`). What
 * either command writes is private: files 0600, directories 0700 (a process's memory is in them).
 * test/unit/pages-corpus.test.ts holds crafted deltas, each refused, under AddressSanitizer.
 *
 * Built by scripts/install-host-deps.sh with EDGECTL_PAGES_VERSION set to a hash of this file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef EDGECTL_PAGES_VERSION
#define EDGECTL_PAGES_VERSION "dev"
#endif

#define BLOCK 4096
#define MAX_FILES 4096
/* A name's longest: room left in PATH_MAX for the ".blocks" after it. */
#define MAX_NAME (PATH_MAX - 16)
/* FILES and MANIFEST are read whole: at most MAX_FILES lines of a name each. */
#define MAX_LIST ((size_t)MAX_FILES * (PATH_MAX + 8))
/* A literal record's longest (its length is a u32; diff splits longer runs). */
#define MAX_LITERAL (1u << 30)

static void vreport(const char *fmt, va_list ap, int err) {
  fputs("edgectl-pages: ", stderr);
  vfprintf(stderr, fmt, ap);
  if (err) fprintf(stderr, ": %s", strerror(err));
  fputc('\n', stderr);
}

/* Fails with a message. */
__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vreport(fmt, ap, 0);
  va_end(ap);
  exit(1);
}

/* Fails with a message and the reason of the system call that just failed. */
__attribute__((noreturn, format(printf, 1, 2))) static void fail_sys(const char *fmt, ...) {
  int err = errno;
  va_list ap;
  va_start(ap, fmt);
  vreport(fmt, ap, err);
  va_end(ap);
  exit(1);
}

/* A name as it may be printed: a crafted one could hold terminal escapes. Control characters become
 * '?', and it is cut at 200 bytes. A few buffers in turn, for a message naming more than one. */
static const char *shown(const char *name, size_t len) {
  static char bufs[4][208];
  static int next;
  char *b = bufs[next++ & 3];
  size_t n = len > 200 ? 200 : len;
  for (size_t i = 0; i < n; i++) b[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
  strcpy(b + n, len > n ? "..." : "");
  return b;
}

static const char *kind_of(mode_t mode) {
  return S_ISLNK(mode)    ? "a symbolic link"
         : S_ISDIR(mode)  ? "a directory"
         : S_ISFIFO(mode) ? "a FIFO"
         : S_ISSOCK(mode) ? "a socket"
         : S_ISCHR(mode)  ? "a character device"
         : S_ISBLK(mode)  ? "a block device"
                          : "not a regular file";
}

/*
 * Whether `name` (`len` bytes) may name a file of a snapshot: relative, its components separated by
 * single slashes, none of them empty, "." or "..", no control character (a NUL included: a name from a
 * line of FILES or MANIFEST is checked over its whole length), at most MAX_NAME bytes.
 */
static int valid_name(const char *name, size_t len) {
  if (len == 0 || len > MAX_NAME) return 0;
  size_t start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || name[i] == '/') {
      size_t n = i - start;
      if (n == 0 || n > NAME_MAX) return 0;
      if (name[start] == '.' && (n == 1 || (n == 2 && name[start + 1] == '.'))) return 0;
      start = i + 1;
    } else if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
      return 0;
  }
  return 1;
}

/* A directory given on the command line (by edgectl: trusted), opened for the *at calls below. */
static int open_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) fail_sys("cannot open the directory %s", path);
  return fd;
}

/*
 * The directory that holds `name` (a valid_name) beneath the directory `dir`, opened one component at
 * a time with O_NOFOLLOW: a symbolic link on the way fails (ELOOP), whatever it points to. `create`:
 * the missing directories are made (0700). Sets *base to the last component; the caller closes the
 * result. `where` names `dir` in messages.
 */
static int open_parent(int dir, const char *name, int create, const char **base, const char *where) {
  int fd = dup(dir);
  if (fd < 0) fail_sys("cannot open %s", where);
  const char *p = name;
  for (const char *s; (s = strchr(p, '/')) != NULL; p = s + 1) {
    char comp[NAME_MAX + 1];
    size_t n = (size_t)(s - p);
    memcpy(comp, p, n);
    comp[n] = 0;
    if (create && mkdirat(fd, comp, 0700) < 0 && errno != EEXIST)
      fail_sys("cannot create %s/%s", where, shown(name, (size_t)(s - name)));
    int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      if (errno == ELOOP || errno == ENOTDIR)
        fail("%s/%s is a symbolic link or not a directory: refused", where, shown(name, (size_t)(s - name)));
      fail_sys("cannot open %s/%s", where, shown(name, (size_t)(s - name)));
    }
    close(fd);
    fd = next;
  }
  *base = p;
  return fd;
}

/* A regular file beneath a directory, mapped whole (read-only; private). */
struct mapped {
  const char *name;
  const unsigned char *data;
  size_t size;
  int fd; /* kept open: patch copies runs from it inside the kernel, and patches in place through it */
};

/*
 * Opens and maps `name` beneath `dir`: only a regular file, never through a symbolic link. Checked
 * before it is opened (a FIFO would block the open, a device's open can act) and again after (the same
 * inode). `writable`: opened for writing too (patch in place).
 */
static void map_beneath(int dir, const char *name, struct mapped *m, int writable, const char *where) {
  const char *base;
  int parent = open_parent(dir, name, 0, &base, where);
  struct stat st, again;
  if (fstatat(parent, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
    fail_sys("cannot read %s/%s", where, shown(name, strlen(name)));
  if (!S_ISREG(st.st_mode)) fail("%s/%s is %s: refused", where, shown(name, strlen(name)), kind_of(st.st_mode));
  int fd = openat(parent, base, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &again) < 0) fail_sys("cannot open %s/%s", where, shown(name, strlen(name)));
  if (!S_ISREG(again.st_mode) || again.st_ino != st.st_ino || again.st_dev != st.st_dev)
    fail("%s/%s changed while it was opened: refused", where, shown(name, strlen(name)));
  close(parent);
  m->name = name;
  m->size = (size_t)again.st_size;
  m->data = NULL;
  if (m->size > 0) {
    void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) fail_sys("cannot map %s/%s", where, shown(name, strlen(name)));
    madvise(p, m->size, MADV_SEQUENTIAL);
    m->data = p;
  }
  m->fd = fd;
}

static void unmap_file(struct mapped *m) {
  if (m->data) munmap((void *)m->data, m->size);
  m->data = NULL;
  if (m->fd >= 0) close(m->fd);
  m->fd = -1;
}

/* Creates `name` beneath `dir` (its missing directories 0700), private (0600); never an existing file
 * (O_EXCL: not through a link either). */
static int create_beneath(int dir, const char *name, const char *where) {
  const char *base;
  int parent = open_parent(dir, name, 1, &base, where);
  int fd = openat(parent, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) fail_sys("cannot create %s/%s", where, shown(name, strlen(name)));
  close(parent);
  return fd;
}

/* Links the file open as `fd` into `dir` as `name`: the very file checked when it was opened (with the
 * mode it arrived with: 0600, as the source's umask made it). AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH
 * (root, as on the servers); else through /proc. */
static void link_beneath(int fd, int dir, const char *name, const char *where) {
  const char *base;
  int parent = open_parent(dir, name, 1, &base, where);
  if (linkat(fd, "", parent, base, AT_EMPTY_PATH) < 0) {
    if (errno != ENOENT && errno != EPERM) fail_sys("cannot link %s/%s", where, shown(name, strlen(name)));
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, parent, base, AT_SYMLINK_FOLLOW) < 0)
      fail_sys("cannot link %s/%s", where, shown(name, strlen(name)));
  }
  close(parent);
}

/* A word-at-a-time multiply-xorshift hash: fast, and every match it finds is compared in full. Also
 * fed piecewise (a file as it is written): the same value as over the whole at once. */
struct hasher {
  uint64_t h, n;
  unsigned char tail[8];
  size_t ntail;
};

static void hash_word(struct hasher *s, const unsigned char *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  s->h = (s->h ^ w) * 0x9E3779B97F4A7C15ULL;
  s->h ^= s->h >> 31;
}

static void hash_update(struct hasher *s, const unsigned char *p, size_t n) {
  s->n += n;
  while (s->ntail && n) {
    s->tail[s->ntail++] = *p++;
    n--;
    if (s->ntail == 8) {
      hash_word(s, s->tail);
      s->ntail = 0;
    }
  }
  for (; n >= 8; p += 8, n -= 8) hash_word(s, p);
  while (n--) s->tail[s->ntail++] = *p++;
}

static uint64_t hash_final(struct hasher *s) {
  uint64_t h = s->h;
  for (size_t i = 0; i < s->ntail; i++) h = (h ^ s->tail[i]) * 0x100000001B3ULL;
  return h ^ (h >> 29) ^ s->n;
}

static uint64_t hash_bytes(const unsigned char *p, size_t n, uint64_t seed) {
  struct hasher s = {seed, 0, {0}, 0};
  hash_update(&s, p, n);
  return hash_final(&s);
}

/* Whether `n` bytes from `off` lie within `size` bytes (written so that it cannot overflow). */
static int fits(uint64_t off, uint64_t n, uint64_t size) { return off <= size && n <= size - off; }

/* The regular files under a directory (diff: the source's own snapshots), as names relative to it. */
static char *walk_root;
static size_t walk_root_len;
static char **walk_out;
static int walk_n;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  if (type == FTW_F) {
    if (walk_n >= MAX_FILES) fail("more than %d files under %s", MAX_FILES, walk_root);
    const char *name = path + walk_root_len + 1;
    /* FILES and MANIFEST hold a name a line: a newline in one would end it early. */
    if (!valid_name(name, strlen(name))) fail("a file under %s has a name the delta cannot hold: %s", walk_root, shown(name, strlen(name)));
    walk_out[walk_n++] = strdup(name);
  } else if (type != FTW_D)
    fail("not a regular file or directory: %s", shown(path, strlen(path)));
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_files(const char *root, char **out) {
  walk_root = (char *)root;
  walk_root_len = strlen(root);
  walk_out = out;
  walk_n = 0;
  if (nftw(root, walk_one, 16, FTW_PHYS) != 0) fail_sys("cannot read %s", root);
  qsort(out, (size_t)walk_n, sizeof(char *), cmp_str);
  return walk_n;
}

/* The earlier snapshot's blocks, by content. */
struct slot {
  uint64_t hash;
  uint32_t file; /* index + 1; 0: empty */
  uint32_t block;
};
static struct slot *table;
static size_t table_mask;

static void index_blocks(struct mapped *pre, int n) {
  size_t blocks = 0;
  for (int i = 0; i < n; i++) blocks += pre[i].size / BLOCK;
  size_t cap = 1024;
  while (cap < blocks * 2) cap <<= 1;
  table = calloc(cap, sizeof(struct slot));
  if (!table) fail("out of memory for the block index");
  table_mask = cap - 1;
  for (int i = 0; i < n; i++)
    for (size_t b = 0; b < pre[i].size / BLOCK; b++) {
      uint64_t h = hash_bytes(pre[i].data + b * BLOCK, BLOCK, 0);
      size_t at = h & table_mask;
      while (table[at].file && table[at].hash != h) at = (at + 1) & table_mask;
      if (!table[at].file) table[at] = (struct slot){h, (uint32_t)i + 1, (uint32_t)b};
    }
}

static const struct slot *find_block(struct mapped *pre, const unsigned char *p) {
  uint64_t h = hash_bytes(p, BLOCK, 0);
  for (size_t at = h & table_mask; table[at].file; at = (at + 1) & table_mask)
    if (table[at].hash == h) {
      const struct slot *s = &table[at];
      return memcmp(pre[s->file - 1].data + (size_t)s->block * BLOCK, p, BLOCK) == 0 ? s : NULL;
    }
  return NULL;
}

static void put(FILE *f, const void *p, size_t n, const char *what) {
  if (n && fwrite(p, 1, n, f) != n) fail_sys("cannot write %s", what);
}

/* A run of literal bytes, as records of at most MAX_LITERAL bytes each. */
static void flush_literal(FILE *f, const unsigned char *data, size_t from, size_t to, const char *path) {
  while (from < to) {
    uint32_t n = to - from > MAX_LITERAL ? MAX_LITERAL : (uint32_t)(to - from);
    put(f, "L", 1, path);
    put(f, &n, 4, path);
    put(f, data + from, n, path);
    from += n;
  }
}

/* A block as the byte ranges where it differs from its earlier version: u16 count, then per range
 * u16 start, u16 length and the bytes. Ranges closer than 8 bytes are merged. Returns the encoding's
 * length (at most a little over a block: the caller keeps it only when it is much smaller). */
static size_t patch_block(const unsigned char *old, const unsigned char *cur, unsigned char *out) {
  size_t len = 2;
  uint16_t count = 0;
  size_t i = 0;
  while (i < BLOCK) {
    if (old[i] == cur[i]) {
      i++;
      continue;
    }
    size_t start = i, end = i + 1, j = i + 1;
    while (j < BLOCK && j - end < 8) {
      if (old[j] != cur[j]) end = j + 1;
      j++;
    }
    if (len + 4 + (end - start) > BLOCK) return BLOCK;
    uint16_t s16 = (uint16_t)start, l16 = (uint16_t)(end - start);
    memcpy(out + len, &s16, 2);
    memcpy(out + len + 2, &l16, 2);
    memcpy(out + len + 4, cur + start, end - start);
    len += 4 + (end - start);
    count++;
    i = end;
  }
  memcpy(out, &count, 2);
  return len;
}

static FILE *create_stream(int dir, const char *name, const char *where) {
  FILE *f = fdopen(create_beneath(dir, name, where), "w");
  if (!f) fail_sys("cannot write %s/%s", where, name);
  return f;
}

static int diff(const char *pre_dir, const char *final_dir, const char *out_dir) {
  static char *pre_names[MAX_FILES], *final_names[MAX_FILES];
  static struct mapped pre[MAX_FILES];
  int npre = list_files(pre_dir, pre_names);
  int nfinal = list_files(final_dir, final_names);
  int pre_fd = open_dir(pre_dir), final_fd = open_dir(final_dir);
  for (int i = 0; i < npre; i++) map_beneath(pre_fd, pre_names[i], &pre[i], 0, pre_dir);
  if (mkdir(out_dir, 0700) < 0) fail_sys("cannot create %s", out_dir);
  int out_fd = open_dir(out_dir);
  FILE *files = create_stream(out_fd, "FILES", out_dir);
  for (int i = 0; i < npre; i++) fprintf(files, "%s\n", pre_names[i]);
  if (fclose(files) != 0) fail_sys("cannot write %s/FILES", out_dir);
  FILE *manifest = create_stream(out_fd, "MANIFEST", out_dir);
  unsigned long long total = 0;
  static unsigned char patchbuf[BLOCK + 8];
  char path[PATH_MAX];
  for (int i = 0; i < nfinal; i++) {
    struct mapped fin;
    map_beneath(final_fd, final_names[i], &fin, 0, final_dir);
    char **same = bsearch(&final_names[i], pre_names, (size_t)npre, sizeof(char *), cmp_str);
    if (same) {
      struct mapped *p = &pre[same - pre_names];
      if (p->size == fin.size && (fin.size == 0 || memcmp(p->data, fin.data, fin.size) == 0)) {
        fprintf(manifest, "same %s\n", final_names[i]);
        unmap_file(&fin);
        continue;
      }
    }
    fprintf(manifest, "blocks %s\n", final_names[i]);
    snprintf(path, PATH_MAX, "%s.blocks", final_names[i]);
    FILE *f = create_stream(out_fd, path, out_dir);
    uint64_t size = fin.size, h = hash_bytes(fin.data, fin.size, 1);
    put(f, "EPB1", 4, path);
    put(f, &size, 8, path);
    put(f, &h, 8, path);
    size_t at = 0, lit = 0; /* a pending literal run starts at `lit` and ends at `at` */
    /* Where the earlier file's counterpart of `at` likely is: just after the last run copied (pages
     * keep their order, a run's shift holds until the next one). */
    int64_t guess_file = same ? same - pre_names : -1;
    uint64_t guess_off = 0;
    while (at < fin.size) {
      /* The likely counterpart first (the same offset of the same file, for most pages), then any block
       * of the earlier snapshot with the same content. */
      int found = 0;
      uint32_t file = 0;
      uint64_t off = 0;
      if (fin.size - at >= BLOCK) {
        if (guess_file >= 0 && fits(guess_off, BLOCK, pre[guess_file].size) &&
            memcmp(pre[guess_file].data + guess_off, fin.data + at, BLOCK) == 0) {
          file = (uint32_t)guess_file;
          off = guess_off;
          found = 1;
        } else {
          if (!table) index_blocks(pre, npre);
          const struct slot *s = find_block(pre, fin.data + at);
          if (s) {
            file = s->file - 1;
            off = (uint64_t)s->block * BLOCK;
            found = 1;
          }
        }
      }
      if (!found) {
        size_t n = fin.size - at >= BLOCK ? BLOCK : fin.size - at;
        size_t len = 0;
        if (n == BLOCK && guess_file >= 0 && fits(guess_off, BLOCK, pre[guess_file].size))
          len = patch_block(pre[guess_file].data + guess_off, fin.data + at, patchbuf);
        if (len > 0 && len < BLOCK / 2) {
          flush_literal(f, fin.data, lit, at, path);
          uint32_t file = (uint32_t)guess_file;
          put(f, "P", 1, path);
          put(f, &file, 4, path);
          put(f, &guess_off, 8, path);
          put(f, patchbuf, len, path);
          lit = at + BLOCK;
        }
        guess_off += BLOCK;
        at += n;
        continue;
      }
      flush_literal(f, fin.data, lit, at, path);
      /* A run: the following blocks that continue the same earlier file in order. */
      uint32_t count = 1;
      while (count < UINT32_MAX && fits(at, (uint64_t)(count + 1) * BLOCK, fin.size) &&
             fits(off, (uint64_t)(count + 1) * BLOCK, pre[file].size) &&
             memcmp(pre[file].data + off + (size_t)count * BLOCK, fin.data + at + (size_t)count * BLOCK, BLOCK) == 0)
        count++;
      put(f, "C", 1, path);
      put(f, &file, 4, path);
      put(f, &off, 8, path);
      put(f, &count, 4, path);
      at += (size_t)count * BLOCK;
      lit = at;
      guess_file = file;
      guess_off = off + (uint64_t)count * BLOCK;
    }
    flush_literal(f, fin.data, lit, at, path);
    total += (unsigned long long)ftell(f);
    if (fclose(f) != 0) fail_sys("cannot write %s", path);
    unmap_file(&fin);
  }
  if (fclose(manifest) != 0) fail_sys("cannot write %s/MANIFEST", out_dir);
  printf("%llu\n", total);
  return 0;
}

/* A .blocks file read whole, and a cursor over it. */
struct reader {
  const unsigned char *p;
  size_t len, at;
  const char *what;
};

/* The next `n` bytes (into `out`, unless NULL), or 0 where fewer are left (the cursor stays). */
static int get(struct reader *r, void *out, size_t n) {
  if (n > r->len - r->at) return 0;
  if (out) memcpy(out, r->p + r->at, n);
  r->at += n;
  return 1;
}

static void take(struct reader *r, void *out, size_t n) {
  if (!get(r, out, n)) fail("%s is cut short", r->what);
}

/* A file of the delta copied into memory (the records are read from a buffer of their own size: a read
 * past its end is one a sanitizer sees). */
static unsigned char *read_whole(int dir, const char *name, size_t *len, size_t max, const char *where) {
  struct mapped m;
  map_beneath(dir, name, &m, 0, where);
  if (m.size > max) fail("%s/%s is larger than %zu bytes: refused", where, shown(name, strlen(name)), max);
  unsigned char *buf = malloc(m.size + 1);
  if (!buf) fail("out of memory for %s", shown(name, strlen(name)));
  if (m.size) memcpy(buf, m.data, m.size);
  buf[m.size] = 0;
  *len = m.size;
  unmap_file(&m);
  return buf;
}

/* Where apply() writes: in place into the earlier file (`inplace`: only what changed is written), or
 * as a stream to a new file through a buffer. Either way the bytes of the rebuilt file are hashed as
 * they come. */
struct writer {
  int inplace;
  int fd;
  unsigned char *buf;
  size_t nbuf;
  struct hasher hash;
  const char *what;
};

#define WRITE_BUF (1 << 20)

static void flush_writer(struct writer *w) {
  size_t done = 0;
  while (done < w->nbuf) {
    ssize_t k = write(w->fd, w->buf + done, w->nbuf - done);
    if (k < 0) fail_sys("cannot write %s", w->what);
    done += (size_t)k;
  }
  w->nbuf = 0;
}

static void emit(struct writer *w, const unsigned char *p, size_t n) {
  hash_update(&w->hash, p, n);
  if (n > WRITE_BUF - w->nbuf) flush_writer(w);
  if (n >= WRITE_BUF) {
    while (n > 0) {
      ssize_t k = write(w->fd, p, n);
      if (k < 0) fail_sys("cannot write %s", w->what);
      p += k;
      n -= (size_t)k;
    }
    return;
  }
  memcpy(w->buf + w->nbuf, p, n);
  w->nbuf += n;
}

static void write_at(struct writer *w, const unsigned char *p, size_t n, uint64_t at) {
  while (n > 0) {
    ssize_t k = pwrite(w->fd, p, n, (off_t)at);
    if (k < 0) fail_sys("cannot write %s", w->what);
    p += k;
    n -= (size_t)k;
    at += (uint64_t)k;
  }
}

/*
 * Applies a .blocks file's records after its header (the file's `size` bytes). In place, every
 * reference is to the same offset of the earlier file, which is also open for writing as w->fd: a copy
 * is only hashed (read through the earlier file's read-only mapping), a patched block or a literal is
 * written where it belongs. Every record is checked against the earlier file it names, the size the
 * header declares and the bytes left in the .blocks file before anything is read or written.
 */
static void apply(struct reader *r, uint64_t size, struct writer *w, struct mapped *pre, int npre) {
  uint64_t at = 0;
  unsigned char block[BLOCK];
  while (at < size) {
    char kind;
    take(r, &kind, 1);
    uint32_t file = 0;
    uint64_t off = 0;
    if (kind == 'C' || kind == 'P') {
      take(r, &file, 4);
      take(r, &off, 8);
      if (file >= (uint32_t)npre) fail("%s refers to file %" PRIu32 " of the earlier snapshot, which has %d", r->what, file, npre);
    }
    if (kind == 'C') {
      uint32_t count;
      take(r, &count, 4);
      uint64_t n = (uint64_t)count * BLOCK; /* at most 2^44: no overflow */
      if (count == 0) fail("%s holds an empty copy", r->what);
      if (!fits(off, n, pre[file].size)) fail("%s refers outside the earlier snapshot", r->what);
      if (n > size - at) fail("%s writes past the file's end", r->what);
      hash_update(&w->hash, pre[file].data + off, n);
      if (!w->inplace) {
        /* Copied by the kernel from the earlier file's pages (no copy through this process). */
        flush_writer(w);
        loff_t from = (loff_t)off;
        size_t left = n;
        while (left > 0) {
          ssize_t k = copy_file_range(pre[file].fd, &from, w->fd, NULL, left, 0);
          if (k <= 0) fail_sys("cannot copy into %s", w->what);
          left -= (size_t)k;
        }
      }
      at += n;
    } else if (kind == 'P') {
      uint16_t count;
      take(r, &count, 2);
      if (!fits(off, BLOCK, pre[file].size)) fail("%s refers outside the earlier snapshot", r->what);
      if (BLOCK > size - at) fail("%s writes past the file's end", r->what);
      memcpy(block, pre[file].data + off, BLOCK);
      for (uint16_t k = 0; k < count; k++) {
        uint16_t start, n;
        take(r, &start, 2);
        take(r, &n, 2);
        if (!fits(start, n, BLOCK)) fail("%s patches outside a block", r->what);
        take(r, block + start, n);
      }
      if (w->inplace) {
        write_at(w, block, BLOCK, at);
        hash_update(&w->hash, block, BLOCK);
      } else
        emit(w, block, BLOCK);
      at += BLOCK;
    } else if (kind == 'L') {
      uint32_t n;
      take(r, &n, 4);
      if (n == 0) fail("%s holds an empty literal", r->what);
      if (n > size - at) fail("%s writes past the file's end", r->what);
      if (n > r->len - r->at) fail("%s is cut short", r->what);
      if (w->inplace) {
        write_at(w, r->p + r->at, n, at);
        hash_update(&w->hash, r->p + r->at, n);
      } else
        emit(w, r->p + r->at, n);
      r->at += n;
      at += n;
    } else
      fail("%s holds an unknown record (byte %zu)", r->what, r->at - 1);
  }
  if (r->at != r->len) fail("%s has bytes after its end", r->what);
}

/* Whether every reference of a .blocks file is to the same offset of the earlier file `self` (-1: none),
 * each record whole and within the size: then it is patched in place, and only what changed is written.
 * A malformed one is not (apply() then says what is wrong with it). */
static int references_itself(struct reader r, uint64_t size, int self) {
  uint64_t at = 0;
  if (self < 0) return 0;
  while (at < size) {
    char kind;
    if (!get(&r, &kind, 1)) return 0;
    if (kind == 'C' || kind == 'P') {
      uint32_t file;
      uint64_t off;
      if (!get(&r, &file, 4) || !get(&r, &off, 8) || file != (uint32_t)self || off != at) return 0;
      if (kind == 'C') {
        uint32_t count;
        if (!get(&r, &count, 4) || count == 0 || (uint64_t)count * BLOCK > size - at) return 0;
        at += (uint64_t)count * BLOCK;
      } else {
        uint16_t count;
        if (!get(&r, &count, 2)) return 0;
        for (uint16_t k = 0; k < count; k++) {
          uint16_t start, n;
          if (!get(&r, &start, 2) || !get(&r, &n, 2) || !get(&r, NULL, n)) return 0;
        }
        if (BLOCK > size - at) return 0;
        at += BLOCK;
      }
    } else if (kind == 'L') {
      uint32_t n;
      if (!get(&r, &n, 4) || n == 0 || !get(&r, NULL, n) || n > size - at) return 0;
      at += n;
    } else
      return 0;
  }
  return r.at == r.len;
}

static int cmp_mapped(const void *a, const void *b) {
  return strcmp(((const struct mapped *)a)->name, ((const struct mapped *)b)->name);
}

static struct mapped *find_pre(struct mapped *pre, int npre, const char *name) {
  struct mapped key = {name, NULL, 0, -1};
  return bsearch(&key, pre, (size_t)npre, sizeof(struct mapped), cmp_mapped);
}

/* Rebuilds one file of the later snapshot; `pass` 0 builds copies (and defers in-place patches, which
 * change the earlier files that copies may read), pass 1 the in-place ones. Returns whether it did. */
static int rebuild(const char *name, int delta_fd, int out_fd, struct mapped *pre, int npre, int pass,
                   const char *delta_dir, const char *out_dir) {
  char path[PATH_MAX];
  snprintf(path, PATH_MAX, "%s.blocks", name);
  char what[PATH_MAX + 256];
  snprintf(what, sizeof what, "%s/%s", delta_dir, shown(path, strlen(path)));
  struct reader r = {NULL, 0, 0, what};
  /* A .blocks file is at most a little over its file's size, which fits in memory here. */
  unsigned char *buf = read_whole(delta_fd, path, &r.len, SIZE_MAX - 1, delta_dir);
  r.p = buf;
  char magic[4];
  uint64_t size, want;
  take(&r, magic, 4);
  if (memcmp(magic, "EPB1", 4)) fail("%s is not a block delta", what);
  take(&r, &size, 8);
  take(&r, &want, 8);
  struct mapped *self = find_pre(pre, npre, name);
  int inplace = references_itself(r, size, self ? (int)(self - pre) : -1);
  if (inplace != pass) {
    free(buf);
    return 0;
  }
  char out_what[PATH_MAX + 256];
  snprintf(out_what, sizeof out_what, "%s/%s", out_dir, shown(name, strlen(name)));
  struct writer w = {inplace, -1, NULL, 0, {1, 0, {0}, 0}, out_what};
  if (inplace) {
    /* Through the earlier file's own descriptor (opened for writing with it): the file checked then. */
    w.fd = self->fd;
    apply(&r, size, &w, pre, npre);
    if (ftruncate(w.fd, (off_t)size) < 0) fail_sys("cannot write %s", out_what);
  } else {
    w.fd = create_beneath(out_fd, name, out_dir);
    w.buf = malloc(WRITE_BUF);
    if (!w.buf) fail("out of memory for %s", out_what);
    apply(&r, size, &w, pre, npre);
    flush_writer(&w);
    if (close(w.fd) < 0) fail_sys("cannot write %s", out_what);
    free(w.buf);
  }
  if (hash_final(&w.hash) != want) fail("%s does not rebuild its file (hash mismatch)", what);
  if (inplace) link_beneath(self->fd, out_fd, name, out_dir);
  free(buf);
  return 1;
}

/* The lines of FILES or MANIFEST (read whole, every line ended by a newline: a file cut short is
 * refused). Each line is NUL-terminated in place; `lens` holds its length (a NUL inside it shows). */
struct lines {
  char *buf;
  char *line[MAX_FILES];
  size_t lens[MAX_FILES];
  int n;
};

static void read_lines(int dir, const char *name, struct lines *l, const char *delta_dir) {
  size_t len;
  l->buf = (char *)read_whole(dir, name, &len, MAX_LIST, delta_dir);
  l->n = 0;
  if (len > 0 && l->buf[len - 1] != '\n') fail("%s/%s is cut short (its last line has no end)", delta_dir, name);
  for (size_t at = 0; at < len;) {
    char *nl = memchr(l->buf + at, '\n', len - at);
    if (l->n >= MAX_FILES) fail("%s/%s has more than %d lines", delta_dir, name, MAX_FILES);
    *nl = 0;
    l->line[l->n] = l->buf + at;
    l->lens[l->n++] = (size_t)(nl - (l->buf + at));
    at = (size_t)(nl - l->buf) + 1;
  }
}

static int patch(const char *pre_dir, const char *delta_dir, const char *out_dir) {
  static struct mapped pre[MAX_FILES];
  static struct lines files, manifest;
  static char kinds[MAX_FILES];
  static const char *names[MAX_FILES];
  int pre_fd = open_dir(pre_dir), delta_fd = open_dir(delta_dir);
  read_lines(delta_fd, "FILES", &files, delta_dir);
  read_lines(delta_fd, "MANIFEST", &manifest, delta_dir);
  /* Every name checked before any file is opened; each list sorted, without repeats: the in-place test
   * finds a file's earlier self by name, and no file is rebuilt twice. */
  for (int i = 0; i < files.n; i++) {
    if (!valid_name(files.line[i], files.lens[i]))
      fail("%s/FILES names %s: not a plain relative name: refused", delta_dir, shown(files.line[i], files.lens[i]));
    if (i > 0 && strcmp(files.line[i - 1], files.line[i]) >= 0) fail("%s/FILES is not sorted, or repeats a name", delta_dir);
  }
  for (int i = 0; i < manifest.n; i++) {
    char *line = manifest.line[i];
    size_t len = manifest.lens[i];
    char *space = memchr(line, ' ', len);
    if (!space || ((space - line != 4 || memcmp(line, "same", 4)) && (space - line != 6 || memcmp(line, "blocks", 6))))
      fail("%s/MANIFEST has a bad line: %s", delta_dir, shown(line, len));
    kinds[i] = line[0];
    names[i] = space + 1;
    if (!valid_name(names[i], len - (size_t)(space + 1 - line)))
      fail("%s/MANIFEST names %s: not a plain relative name: refused", delta_dir, shown(names[i], len - (size_t)(space + 1 - line)));
    if (i > 0 && strcmp(names[i - 1], names[i]) >= 0) fail("%s/MANIFEST is not sorted, or repeats a name", delta_dir);
  }
  for (int i = 0; i < files.n; i++) map_beneath(pre_fd, files.line[i], &pre[i], 1, pre_dir);
  int npre = files.n;
  if (mkdir(out_dir, 0700) < 0) fail_sys("cannot create %s", out_dir);
  int out_fd = open(out_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (out_fd < 0) fail_sys("cannot open %s", out_dir);
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < manifest.n; i++) {
      if (kinds[i] == 'b') {
        rebuild(names[i], delta_fd, out_fd, pre, npre, pass, delta_dir, out_dir);
        continue;
      }
      if (pass == 1) continue;
      struct mapped *same = find_pre(pre, npre, names[i]);
      if (!same) fail("%s/MANIFEST says %s is unchanged, but FILES does not list it", delta_dir, shown(names[i], strlen(names[i])));
      link_beneath(same->fd, out_fd, names[i], out_dir);
    }
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--version")) {
    printf("edgectl-pages %s\n", EDGECTL_PAGES_VERSION);
    return 0;
  }
  /* Private, whatever the caller's umask: a process's memory is in these files. */
  umask(077);
  if (argc == 5 && !strcmp(argv[1], "diff")) return diff(argv[2], argv[3], argv[4]);
  if (argc == 5 && !strcmp(argv[1], "patch")) return patch(argv[2], argv[3], argv[4]);
  fprintf(stderr,
          "usage: edgectl-pages diff PRE FINAL OUT\n"
          "       edgectl-pages patch PRE DELTA OUT\n"
          "       edgectl-pages --version\n");
  return 2;
}
