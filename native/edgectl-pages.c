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
 * A .blocks file: "EPB1", the file's size (u64), its hash (u64), then records until the size is
 * reached: 'C' u32 pre-file u64 offset u32 blocks (copy from PRE), 'P' u32 pre-file u64 offset u16
 * ranges, each u16 start u16 length bytes (a block of PRE with those bytes replaced), 'L' u32 length,
 * bytes (literal).
 * Integers little-endian. Exit codes: 0 done, 1 failed (message on stderr), 2 usage.
 *
 * Built by scripts/install-host-deps.sh with EDGECTL_PAGES_VERSION set to a hash of this file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
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

static void die(const char *fmt, const char *arg) {
  fprintf(stderr, "edgectl-pages: ");
  fprintf(stderr, fmt, arg);
  if (errno) fprintf(stderr, ": %s", strerror(errno));
  fputc('\n', stderr);
  exit(1);
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

struct mapped {
  char path[PATH_MAX];
  const unsigned char *data;
  size_t size;
  int fd; /* kept open: patch copies runs from it inside the kernel */
};

static void map_file(const char *path, struct mapped *m) {
  int fd = open(path, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) die("cannot open %s", path);
  m->size = (size_t)st.st_size;
  m->data = NULL;
  if (m->size > 0) {
    void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) die("cannot map %s", path);
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

/* The regular files under a directory, as paths relative to it. */
static char *walk_root;
static size_t walk_root_len;
static char **walk_out;
static int walk_n;

static int walk_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  if (type == FTW_F) {
    if (walk_n >= MAX_FILES) {
      errno = 0;
      die("more than 4096 files under %s", walk_root);
    }
    walk_out[walk_n++] = strdup(path + walk_root_len + 1);
  } else if (type != FTW_D) {
    errno = 0;
    die("not a regular file or directory: %s", path);
  }
  return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_files(const char *root, char **out) {
  walk_root = (char *)root;
  walk_root_len = strlen(root);
  walk_out = out;
  walk_n = 0;
  if (nftw(root, walk_one, 16, FTW_PHYS) != 0) die("cannot read %s", root);
  qsort(out, (size_t)walk_n, sizeof(char *), cmp_str);
  return walk_n;
}

/* The earlier snapshot's blocks, by content. */
struct slot {
  uint64_t hash;
  uint32_t file;  /* index + 1; 0: empty */
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
  if (!table) die("out of memory for %s", "the block index");
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
  if (n && fwrite(p, 1, n, f) != n) die("cannot write %s", what);
}

static void flush_literal(FILE *f, const unsigned char *data, size_t from, size_t to, const char *path) {
  if (to <= from) return;
  uint32_t n = (uint32_t)(to - from);
  put(f, "L", 1, path);
  put(f, &n, 4, path);
  put(f, data + from, n, path);
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

static void mkparents(char *path) {
  for (char *s = strchr(path + 1, '/'); s; s = strchr(s + 1, '/')) {
    *s = 0;
    if (mkdir(path, 0755) < 0 && errno != EEXIST) die("cannot create %s", path);
    *s = '/';
  }
  errno = 0;
}

static int diff(const char *pre_dir, const char *final_dir, const char *out_dir) {
  static char *pre_names[MAX_FILES], *final_names[MAX_FILES];
  static struct mapped pre[MAX_FILES];
  int npre = list_files(pre_dir, pre_names);
  int nfinal = list_files(final_dir, final_names);
  for (int i = 0; i < npre; i++) {
    snprintf(pre[i].path, PATH_MAX, "%s/%s", pre_dir, pre_names[i]);
    map_file(pre[i].path, &pre[i]);
  }
  if (mkdir(out_dir, 0755) < 0) die("cannot create %s", out_dir);
  char path[PATH_MAX];
  snprintf(path, PATH_MAX, "%s/FILES", out_dir);
  FILE *files = fopen(path, "w");
  if (!files) die("cannot write %s", path);
  for (int i = 0; i < npre; i++) fprintf(files, "%s\n", pre_names[i]);
  fclose(files);
  snprintf(path, PATH_MAX, "%s/MANIFEST", out_dir);
  FILE *manifest = fopen(path, "w");
  if (!manifest) die("cannot write %s", path);
  unsigned long long total = 0;
  static unsigned char patchbuf[BLOCK + 8];
  for (int i = 0; i < nfinal; i++) {
    struct mapped fin;
    snprintf(fin.path, PATH_MAX, "%s/%s", final_dir, final_names[i]);
    map_file(fin.path, &fin);
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
    snprintf(path, PATH_MAX, "%s/%s.blocks", out_dir, final_names[i]);
    mkparents(path);
    FILE *f = fopen(path, "w");
    if (!f) die("cannot write %s", path);
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
        if (guess_file >= 0 && guess_off + BLOCK <= pre[guess_file].size &&
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
        if (n == BLOCK && guess_file >= 0 && guess_off + BLOCK <= pre[guess_file].size)
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
      while (at + (size_t)(count + 1) * BLOCK <= fin.size && off + (uint64_t)(count + 1) * BLOCK <= pre[file].size &&
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
    if (fclose(f) != 0) die("cannot write %s", path);
    unmap_file(&fin);
  }
  if (fclose(manifest) != 0) die("cannot write %s", "MANIFEST");
  printf("%llu\n", total);
  return 0;
}

/* A .blocks file read whole, and a cursor over it. */
struct reader {
  const unsigned char *p;
  size_t len, at;
  const char *path;
};

static void take(struct reader *r, void *out, size_t n) {
  if (n > r->len - r->at) {
    errno = 0;
    die("%s is cut short", r->path);
  }
  if (out) memcpy(out, r->p + r->at, n);
  r->at += n;
}

static unsigned char *read_whole(const char *path, size_t *len) {
  struct mapped m;
  snprintf(m.path, PATH_MAX, "%s", path);
  map_file(path, &m);
  unsigned char *buf = malloc(m.size ? m.size : 1);
  if (!buf) die("out of memory for %s", path);
  if (m.size) memcpy(buf, m.data, m.size);
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
  const char *path;
};

#define WRITE_BUF (1 << 20)

static void flush_writer(struct writer *w) {
  size_t done = 0;
  while (done < w->nbuf) {
    ssize_t k = write(w->fd, w->buf + done, w->nbuf - done);
    if (k < 0) die("cannot write %s", w->path);
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
      if (k < 0) die("cannot write %s", w->path);
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
    if (k < 0) die("cannot write %s", w->path);
    p += k;
    n -= (size_t)k;
    at += (uint64_t)k;
  }
}

/*
 * Applies a .blocks file's records after its header (the file's `size` bytes). In place, every
 * reference is to the same offset of the earlier file, which is also open for writing as w->fd: a copy
 * is only hashed (read through the earlier file's read-only mapping), a patched block or a literal is
 * written where it belongs.
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
    }
    if (kind == 'C') {
      uint32_t count;
      take(r, &count, 4);
      uint64_t n = (uint64_t)count * BLOCK;
      if (file >= (uint32_t)npre || off + n > pre[file].size || at + n > size) {
        errno = 0;
        die("%s refers outside the earlier snapshot", r->path);
      }
      hash_update(&w->hash, pre[file].data + off, n);
      if (!w->inplace) {
        /* Copied by the kernel from the earlier file's pages (no copy through this process). */
        flush_writer(w);
        loff_t from = (loff_t)off;
        size_t left = n;
        while (left > 0) {
          ssize_t k = copy_file_range(pre[file].fd, &from, w->fd, NULL, left, 0);
          if (k <= 0) die("cannot copy into %s", w->path);
          left -= (size_t)k;
        }
      }
      at += n;
    } else if (kind == 'P') {
      uint16_t count;
      take(r, &count, 2);
      if (file >= (uint32_t)npre || off + BLOCK > pre[file].size || at + BLOCK > size) {
        errno = 0;
        die("%s refers outside the earlier snapshot", r->path);
      }
      memcpy(block, pre[file].data + off, BLOCK);
      for (uint16_t k = 0; k < count; k++) {
        uint16_t start, n;
        take(r, &start, 2);
        take(r, &n, 2);
        if ((size_t)start + n > BLOCK) {
          errno = 0;
          die("%s patches outside a block", r->path);
        }
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
      if (at + n > size || n > r->len - r->at) {
        errno = 0;
        die("%s writes past the file's end, or is cut short", r->path);
      }
      if (w->inplace) {
        write_at(w, r->p + r->at, n, at);
        hash_update(&w->hash, r->p + r->at, n);
      } else
        emit(w, r->p + r->at, n);
      r->at += n;
      at += n;
    } else {
      errno = 0;
      die("%s holds an unknown record", r->path);
    }
  }
  if (r->at != r->len) {
    errno = 0;
    die("%s has bytes after its end", r->path);
  }
}

/* Whether every reference of a .blocks file is to the same offset of the earlier file `self` (-1: none):
 * then it is patched in place, and only what changed is written. */
static int references_itself(struct reader r, uint64_t size, int self) {
  uint64_t at = 0;
  if (self < 0) return 0;
  while (at < size && r.at < r.len) {
    char kind = (char)r.p[r.at++];
    if (kind == 'C' || kind == 'P') {
      uint32_t file;
      uint64_t off;
      if (r.len - r.at < 12) return 0;
      memcpy(&file, r.p + r.at, 4);
      memcpy(&off, r.p + r.at + 4, 8);
      r.at += 12;
      if (file != (uint32_t)self || off != at) return 0;
      if (kind == 'C') {
        uint32_t count;
        if (r.len - r.at < 4) return 0;
        memcpy(&count, r.p + r.at, 4);
        r.at += 4;
        at += (uint64_t)count * BLOCK;
      } else {
        uint16_t count;
        if (r.len - r.at < 2) return 0;
        memcpy(&count, r.p + r.at, 2);
        r.at += 2;
        for (uint16_t k = 0; k < count; k++) {
          uint16_t n;
          if (r.len - r.at < 4) return 0;
          memcpy(&n, r.p + r.at + 2, 2);
          r.at += 4 + (size_t)n;
        }
        at += BLOCK;
      }
    } else if (kind == 'L') {
      uint32_t n;
      if (r.len - r.at < 4) return 0;
      memcpy(&n, r.p + r.at, 4);
      r.at += 4 + (size_t)n;
      at += n;
    } else
      return 0;
  }
  return 1;
}

static int cmp_files(const void *a, const void *b) { return strcmp(((const struct mapped *)a)->path, ((const struct mapped *)b)->path); }

/* Rebuilds one file of the later snapshot; `pass` 0 builds copies (and defers in-place patches, which
 * change the earlier files that copies may read), pass 1 the in-place ones. Returns whether it did. */
static int rebuild(const char *name, const char *pre_dir, const char *delta_dir, const char *out_dir, struct mapped *pre,
                   int npre, int pass) {
  char path[PATH_MAX], out[PATH_MAX], from[PATH_MAX];
  snprintf(path, PATH_MAX, "%s/%s.blocks", delta_dir, name);
  snprintf(out, PATH_MAX, "%s/%s", out_dir, name);
  snprintf(from, PATH_MAX, "%s/%s", pre_dir, name);
  struct reader r = {NULL, 0, 0, path};
  unsigned char *buf = read_whole(path, &r.len);
  r.p = buf;
  char magic[4];
  uint64_t size, want;
  take(&r, magic, 4);
  if (memcmp(magic, "EPB1", 4)) {
    errno = 0;
    die("%s is not a block delta", path);
  }
  take(&r, &size, 8);
  take(&r, &want, 8);
  struct mapped key;
  snprintf(key.path, PATH_MAX, "%s", from);
  struct mapped *self = bsearch(&key, pre, (size_t)npre, sizeof(struct mapped), cmp_files);
  int inplace = references_itself(r, size, self ? (int)(self - pre) : -1);
  if (inplace != pass) {
    free(buf);
    return 0;
  }
  mkparents(out);
  struct writer w = {inplace, -1, NULL, 0, {1, 0, {0}, 0}, out};
  if (inplace) {
    w.fd = open(from, O_WRONLY);
    if (w.fd < 0) die("cannot write %s", from);
    apply(&r, size, &w, pre, npre);
    if (ftruncate(w.fd, (off_t)size) < 0 || close(w.fd) < 0) die("cannot write %s", from);
  } else {
    w.fd = open(out, O_WRONLY | O_CREAT | O_EXCL, 0644);
    w.buf = malloc(WRITE_BUF);
    if (w.fd < 0 || !w.buf) die("cannot write %s", out);
    apply(&r, size, &w, pre, npre);
    flush_writer(&w);
    if (close(w.fd) < 0) die("cannot write %s", out);
    free(w.buf);
  }
  if (hash_final(&w.hash) != want) {
    errno = 0;
    die("%s does not rebuild its file (hash mismatch)", path);
  }
  if (inplace && link(from, out) < 0) die("cannot link %s", out);
  free(buf);
  return 1;
}

static int patch(const char *pre_dir, const char *delta_dir, const char *out_dir) {
  static struct mapped pre[MAX_FILES];
  static char *names[MAX_FILES];
  static char kinds[MAX_FILES];
  char path[PATH_MAX], line[PATH_MAX + 16];
  int npre = 0, n = 0;
  snprintf(path, PATH_MAX, "%s/FILES", delta_dir);
  FILE *files = fopen(path, "r");
  if (!files) die("cannot read %s", path);
  while (fgets(line, sizeof line, files)) {
    line[strcspn(line, "\n")] = 0;
    if (npre >= MAX_FILES) die("too many files in %s", path);
    snprintf(pre[npre].path, PATH_MAX, "%s/%s", pre_dir, line);
    map_file(pre[npre].path, &pre[npre]);
    npre++;
  }
  fclose(files);
  /* FILES is sorted (diff lists it so): the in-place test finds a file's earlier self by path. */
  for (int i = 1; i < npre; i++)
    if (strcmp(pre[i - 1].path, pre[i].path) >= 0) {
      errno = 0;
      die("%s is not sorted", path);
    }
  if (mkdir(out_dir, 0755) < 0) die("cannot create %s", out_dir);
  snprintf(path, PATH_MAX, "%s/MANIFEST", delta_dir);
  FILE *manifest = fopen(path, "r");
  if (!manifest) die("cannot read %s", path);
  while (fgets(line, sizeof line, manifest)) {
    line[strcspn(line, "\n")] = 0;
    char *name = strchr(line, ' ');
    if (!name || n >= MAX_FILES) die("bad MANIFEST line: %s", line);
    *name++ = 0;
    if (strcmp(line, "same") && strcmp(line, "blocks")) die("bad MANIFEST line: %s", line);
    kinds[n] = line[0];
    names[n++] = strdup(name);
  }
  fclose(manifest);
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < n; i++) {
      if (kinds[i] == 'b') {
        rebuild(names[i], pre_dir, delta_dir, out_dir, pre, npre, pass);
        continue;
      }
      if (pass == 1) continue;
      char from[PATH_MAX], out[PATH_MAX];
      snprintf(from, PATH_MAX, "%s/%s", pre_dir, names[i]);
      snprintf(out, PATH_MAX, "%s/%s", out_dir, names[i]);
      mkparents(out);
      if (link(from, out) < 0) die("cannot link %s", out);
    }
  return 0;
}

int main(int argc, char **argv) {
  errno = 0;
  if (argc == 2 && !strcmp(argv[1], "--version")) {
    printf("edgectl-pages %s\n", EDGECTL_PAGES_VERSION);
    return 0;
  }
  if (argc == 5 && !strcmp(argv[1], "diff")) return diff(argv[2], argv[3], argv[4]);
  if (argc == 5 && !strcmp(argv[1], "patch")) return patch(argv[2], argv[3], argv[4]);
  fprintf(stderr,
          "usage: edgectl-pages diff PRE FINAL OUT\n"
          "       edgectl-pages patch PRE DELTA OUT\n"
          "       edgectl-pages --version\n");
  return 2;
}
