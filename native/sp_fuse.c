/*
 * sp_fuse.c: the libfuse3 low-level session of storagepoold, dispatching to C#.
 */
#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <fuse_lowlevel.h>

#include "sp_fuse.h"

#define SP_FUSE_MAX_THREADS 256
#define SP_FUSE_MAX_WRITE (1u << 20)

struct sp_fuse {
    struct fuse_session *se;
    struct sp_fuse_ops ops;
    uint32_t max_write;
    uint32_t nthreads;
    pthread_t threads[SP_FUSE_MAX_THREADS];
};

static struct sp_fuse *
sp_fuse_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static uint64_t
sp_req(fuse_req_t req)
{
    return (uint64_t)(uintptr_t)req;
}

static fuse_req_t
sp_fuse_req(uint64_t req)
{
    return (fuse_req_t)(uintptr_t)req;
}

/* ------------------------------------------------------------------ operations */

static void
sp_ll_init(void *userdata, struct fuse_conn_info *conn)
{
    struct sp_fuse *fs = userdata;

    conn->max_write = fs->max_write;
    conn->max_readahead = fs->max_write;
    if (conn->capable & FUSE_CAP_ASYNC_DIO)
        conn->want |= FUSE_CAP_ASYNC_DIO;
    if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
        conn->want |= FUSE_CAP_PARALLEL_DIROPS;
    /* data never goes through the page cache of this file system: nothing to write back */
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
}

static void
sp_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    sp_fuse_of(req)->ops.lookup(sp_req(req), parent, name);
}

static void
sp_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    (void)ino;
    (void)nlookup;
    /* inode numbers are never reused while mounted: nothing to forget */
    fuse_reply_none(req);
}

static void
sp_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    sp_fuse_of(req)->ops.getattr(sp_req(req), ino);
}

static void
sp_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *st, int to_set, struct fuse_file_info *fi)
{
    struct sp_fuse_setattr attr = { 0 };

    if (to_set & FUSE_SET_ATTR_MODE) {
        attr.valid |= SP_FUSE_SET_MODE;
        attr.mode = st->st_mode;
    }
    if (to_set & FUSE_SET_ATTR_UID) {
        attr.valid |= SP_FUSE_SET_UID;
        attr.uid = st->st_uid;
    }
    if (to_set & FUSE_SET_ATTR_GID) {
        attr.valid |= SP_FUSE_SET_GID;
        attr.gid = st->st_gid;
    }
    if (to_set & FUSE_SET_ATTR_SIZE) {
        attr.valid |= SP_FUSE_SET_SIZE;
        attr.size = (uint64_t)st->st_size;
    }
    if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
                  FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW))
        attr.valid |= SP_FUSE_SET_TIMES;
    if (fi) {
        attr.valid |= SP_FUSE_SET_FH;
        attr.fh = fi->fh;
    }
    sp_fuse_of(req)->ops.setattr(sp_req(req), ino, &attr);
}

static void
sp_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)fi;
    sp_fuse_of(req)->ops.readdir(sp_req(req), ino, size, off);
}

static void
sp_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    sp_fuse_of(req)->ops.open(sp_req(req), ino, fi->flags);
}

static void
sp_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, struct fuse_file_info *fi)
{
    const struct fuse_ctx *ctx = fuse_req_ctx(req);

    sp_fuse_of(req)->ops.create(sp_req(req), parent, name, mode, fi->flags, ctx->uid, ctx->gid);
}

static void
sp_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)ino;
    sp_fuse_of(req)->ops.read(sp_req(req), fi->fh, off, size);
}

static void
sp_ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    (void)ino;
    sp_fuse_of(req)->ops.write(sp_req(req), fi->fh, off, buf, size);
}

static void
sp_ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    /* close(2): data is never cached here, and durability is fsync's job */
    fuse_reply_err(req, 0);
}

static void
sp_ll_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)ino;
    (void)datasync;
    sp_fuse_of(req)->ops.fsync(sp_req(req), fi->fh);
}

static void
sp_ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    sp_fuse_of(req)->ops.release(sp_req(req), fi->fh);
}

static void
sp_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    sp_fuse_of(req)->ops.unlink(sp_req(req), parent, name);
}

static void
sp_ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
    sp_fuse_of(req)->ops.statfs(sp_req(req), ino);
}

static void
sp_ll_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length, struct fuse_file_info *fi)
{
    (void)ino;
    sp_fuse_of(req)->ops.fallocate(sp_req(req), fi->fh, mode, offset, length);
}

static void
sp_ll_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
    (void)ino;
    sp_fuse_of(req)->ops.lseek(sp_req(req), fi->fh, off, whence);
}

static void
sp_ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    sp_fuse_of(req)->ops.getxattr(sp_req(req), ino, name, size);
}

static void
sp_ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    sp_fuse_of(req)->ops.listxattr(sp_req(req), ino, size);
}

static void
sp_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size, int flags)
{
    (void)ino;
    (void)name;
    (void)value;
    (void)size;
    (void)flags;
    /* user.storagepool.* are read-only facts; other attributes are not kept
     * (libvirt's remembered owner labels skip a file system that answers ENOTSUP) */
    fuse_reply_err(req, ENOTSUP);
}

static void
sp_ll_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    (void)ino;
    (void)name;
    fuse_reply_err(req, ENOTSUP);
}

static void
sp_ll_refuse(fuse_req_t req)
{
    /* the tree is pools/volumes|snapshots/files: no new directories, links, nodes or renames */
    fuse_reply_err(req, EPERM);
}

static void
sp_ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    (void)parent;
    (void)name;
    (void)mode;
    sp_ll_refuse(req);
}

static void
sp_ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    (void)parent;
    (void)name;
    sp_ll_refuse(req);
}

static void
sp_ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    (void)parent;
    (void)name;
    (void)mode;
    (void)rdev;
    sp_ll_refuse(req);
}

static void
sp_ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    (void)link;
    (void)parent;
    (void)name;
    sp_ll_refuse(req);
}

static void
sp_ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
    (void)ino;
    (void)parent;
    (void)name;
    sp_ll_refuse(req);
}

static void
sp_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
             const char *newname, unsigned int flags)
{
    (void)parent;
    (void)name;
    (void)newparent;
    (void)newname;
    (void)flags;
    sp_ll_refuse(req);
}

static const struct fuse_lowlevel_ops sp_ll_ops = {
    .init = sp_ll_init,
    .lookup = sp_ll_lookup,
    .forget = sp_ll_forget,
    .getattr = sp_ll_getattr,
    .setattr = sp_ll_setattr,
    .mknod = sp_ll_mknod,
    .mkdir = sp_ll_mkdir,
    .unlink = sp_ll_unlink,
    .rmdir = sp_ll_rmdir,
    .symlink = sp_ll_symlink,
    .rename = sp_ll_rename,
    .link = sp_ll_link,
    .open = sp_ll_open,
    .read = sp_ll_read,
    .write = sp_ll_write,
    .flush = sp_ll_flush,
    .release = sp_ll_release,
    .fsync = sp_ll_fsync,
    .readdir = sp_ll_readdir,
    .statfs = sp_ll_statfs,
    .setxattr = sp_ll_setxattr,
    .getxattr = sp_ll_getxattr,
    .listxattr = sp_ll_listxattr,
    .removexattr = sp_ll_removexattr,
    .create = sp_ll_create,
    .fallocate = sp_ll_fallocate,
    .lseek = sp_ll_lseek,
};

/* ------------------------------------------------------------------ threads */

static void
sp_fuse_free_buf(void *opaque)
{
    struct fuse_buf *buf = opaque;

    free(buf->mem);
    buf->mem = NULL;
}

/*
 * One request thread: read a request, dispatch it, repeat. It may be cancelled only while it
 * waits for a request (as libfuse's own loop does), never in the middle of one.
 */
static void *
sp_fuse_worker(void *opaque)
{
    struct sp_fuse *fs = opaque;
    struct fuse_buf buf = { .mem = NULL };
    int res;

    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_cleanup_push(sp_fuse_free_buf, &buf);
    while (!fuse_session_exited(fs->se)) {
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
        res = fuse_session_receive_buf(fs->se, &buf);
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
        if (res == -EINTR || res == -EAGAIN)
            continue;
        if (res <= 0)
            break;
        fuse_session_process_buf(fs->se, &buf);
    }
    pthread_cleanup_pop(1);
    return NULL;
}

static void
sp_fuse_stop_threads(struct sp_fuse *fs, uint32_t started)
{
    uint32_t i;

    fuse_session_exit(fs->se);
    for (i = 0; i < started; i++)
        pthread_cancel(fs->threads[i]);
    for (i = 0; i < started; i++)
        pthread_join(fs->threads[i], NULL);
}

int
sp_fuse_mount(const char *mountpoint, const struct sp_fuse_config *config,
              const struct sp_fuse_ops *ops, struct sp_fuse **fsp)
{
    struct sp_fuse *fs = NULL;
    char *argv[4] = { (char *)"storagepoold", NULL, NULL, NULL };
    struct fuse_args args = FUSE_ARGS_INIT(1, argv);
    uint32_t started = 0;
    int ret = -EINVAL;
    int err;

    *fsp = NULL;
    if (!mountpoint || !config || !ops || config->threads == 0 || config->threads > SP_FUSE_MAX_THREADS)
        goto cleanup;
    if (!(fs = calloc(1, sizeof(*fs)))) {
        ret = -ENOMEM;
        goto cleanup;
    }
    fs->ops = *ops;
    fs->nthreads = config->threads;
    fs->max_write = config->max_write == 0 || config->max_write > SP_FUSE_MAX_WRITE
        ? SP_FUSE_MAX_WRITE : config->max_write;
    if (config->options && *config->options) {
        argv[1] = (char *)"-o";
        argv[2] = (char *)config->options;
        args.argc = 3;
    }

    if (!(fs->se = fuse_session_new(&args, &sp_ll_ops, sizeof(sp_ll_ops), fs))) {
        ret = -EINVAL; /* libfuse has logged which option it did not take */
        goto cleanup;
    }
    if (fuse_session_mount(fs->se, mountpoint) != 0) {
        ret = -EIO;
        goto cleanup;
    }
    for (started = 0; started < fs->nthreads; started++) {
        if ((err = pthread_create(&fs->threads[started], NULL, sp_fuse_worker, fs)) != 0) {
            ret = -err;
            goto cleanup;
        }
    }

    *fsp = fs;
    fs = NULL;
    ret = 0;

 cleanup:
    if (fs) {
        if (fs->se) {
            sp_fuse_stop_threads(fs, started);
            fuse_session_unmount(fs->se);
            fuse_session_destroy(fs->se);
        }
        free(fs);
    }
    return ret;
}

void
sp_fuse_unmount(struct sp_fuse *fs)
{
    if (!fs)
        return;
    sp_fuse_stop_threads(fs, fs->nthreads);
    fuse_session_unmount(fs->se);
    fuse_session_destroy(fs->se);
    free(fs);
}

int
sp_fuse_notify_inval_inode(struct sp_fuse *fs, uint64_t ino)
{
    int ret = fuse_lowlevel_notify_inval_inode(fs->se, ino, 0, 0);

    return ret == -ENOENT ? 0 : ret; /* the kernel did not know it: nothing to forget */
}

int
sp_fuse_notify_inval_entry(struct sp_fuse *fs, uint64_t parent, const char *name)
{
    int ret = fuse_lowlevel_notify_inval_entry(fs->se, parent, name, strlen(name));

    return ret == -ENOENT ? 0 : ret;
}

/* ------------------------------------------------------------------ replies */

static void
sp_fuse_stat_of(const struct sp_fuse_attr *attr, struct stat *st)
{
    memset(st, 0, sizeof(*st));
    st->st_ino = attr->ino;
    st->st_size = (off_t)attr->size;
    st->st_blocks = (blkcnt_t)attr->blocks;
    st->st_blksize = 4096;
    st->st_mode = attr->mode;
    st->st_nlink = attr->nlink;
    st->st_uid = attr->uid;
    st->st_gid = attr->gid;
    st->st_mtim.tv_sec = attr->mtime_ns / 1000000000;
    st->st_mtim.tv_nsec = attr->mtime_ns % 1000000000;
    st->st_ctim.tv_sec = attr->ctime_ns / 1000000000;
    st->st_ctim.tv_nsec = attr->ctime_ns % 1000000000;
    st->st_atim = st->st_mtim;
}

static void
sp_fuse_entry_of(const struct sp_fuse_attr *attr, double timeout, struct fuse_entry_param *e)
{
    memset(e, 0, sizeof(*e));
    e->ino = attr->ino;
    e->generation = 1;
    e->attr_timeout = timeout;
    e->entry_timeout = timeout;
    sp_fuse_stat_of(attr, &e->attr);
}

int
sp_fuse_reply_err(uint64_t req, int32_t err)
{
    return fuse_reply_err(sp_fuse_req(req), err);
}

int
sp_fuse_reply_entry(uint64_t req, const struct sp_fuse_attr *attr, double timeout)
{
    struct fuse_entry_param e;

    sp_fuse_entry_of(attr, timeout, &e);
    return fuse_reply_entry(sp_fuse_req(req), &e);
}

int
sp_fuse_reply_attr(uint64_t req, const struct sp_fuse_attr *attr, double timeout)
{
    struct stat st;

    sp_fuse_stat_of(attr, &st);
    return fuse_reply_attr(sp_fuse_req(req), &st, timeout);
}

int
sp_fuse_reply_open(uint64_t req, uint64_t fh, uint32_t flags)
{
    struct fuse_open_out out = { .fh = fh };
    struct iovec iov = { .iov_base = &out, .iov_len = sizeof(out) };

    /* built here rather than by fuse_reply_open: libfuse 3.14 has no way to ask for
     * FOPEN_PARALLEL_DIRECT_WRITES, without which the kernel runs one write per file at a time */
    if (flags & SP_FUSE_OPEN_DIRECT_IO)
        out.open_flags |= FOPEN_DIRECT_IO;
    if (flags & SP_FUSE_OPEN_KEEP_CACHE)
        out.open_flags |= FOPEN_KEEP_CACHE;
    if (flags & SP_FUSE_OPEN_PARALLEL_WRITES)
        out.open_flags |= FOPEN_PARALLEL_DIRECT_WRITES;
    return fuse_reply_iov(sp_fuse_req(req), &iov, 1);
}

int
sp_fuse_reply_create(uint64_t req, const struct sp_fuse_attr *attr, double timeout, uint64_t fh, uint32_t flags)
{
    struct fuse_entry_param e;
    struct fuse_file_info fi = { .fh = fh };

    sp_fuse_entry_of(attr, timeout, &e);
    fi.direct_io = !!(flags & SP_FUSE_OPEN_DIRECT_IO);
    fi.keep_cache = !!(flags & SP_FUSE_OPEN_KEEP_CACHE);
    return fuse_reply_create(sp_fuse_req(req), &e, &fi);
}

int
sp_fuse_reply_buf(uint64_t req, const void *data, uint64_t size)
{
    return fuse_reply_buf(sp_fuse_req(req), data, size);
}

int
sp_fuse_reply_write(uint64_t req, uint64_t count)
{
    return fuse_reply_write(sp_fuse_req(req), count);
}

int
sp_fuse_reply_lseek(uint64_t req, int64_t offset)
{
    return fuse_reply_lseek(sp_fuse_req(req), offset);
}

int
sp_fuse_reply_xattr(uint64_t req, uint64_t size)
{
    return fuse_reply_xattr(sp_fuse_req(req), size);
}

int
sp_fuse_reply_statfs(uint64_t req, uint64_t block_size, uint64_t blocks, uint64_t blocks_free,
                     uint64_t files, uint64_t name_max)
{
    struct statvfs st;

    memset(&st, 0, sizeof(st));
    st.f_bsize = block_size;
    st.f_frsize = block_size;
    st.f_blocks = blocks;
    st.f_bfree = blocks_free;
    st.f_bavail = blocks_free;
    st.f_files = files;
    st.f_namemax = name_max;
    return fuse_reply_statfs(sp_fuse_req(req), &st);
}

int
sp_fuse_reply_dir(uint64_t req, const struct sp_fuse_dirent *entries, uint32_t count, uint64_t size)
{
    fuse_req_t r = sp_fuse_req(req);
    char *buf = NULL;
    size_t used = 0;
    size_t need;
    struct stat st;
    uint32_t i;
    int ret;

    if (!(buf = malloc(size ? size : 1)))
        return fuse_reply_err(r, ENOMEM);
    memset(&st, 0, sizeof(st));
    for (i = 0; i < count; i++) {
        st.st_ino = entries[i].ino;
        st.st_mode = entries[i].mode;
        need = fuse_add_direntry(r, buf + used, size - used, entries[i].name, &st, entries[i].off);
        if (need > size - used)
            break;
        used += need;
    }
    ret = fuse_reply_buf(r, buf, used);
    free(buf);
    return ret;
}
