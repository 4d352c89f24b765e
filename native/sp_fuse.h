/*
 * sp_fuse.h: a FUSE file system whose operations are C# function pointers.
 *
 * The shim owns what P/Invoke does badly: the libfuse3 low-level session, a fixed pool of
 * threads that read requests from /dev/fuse and dispatch them, directory buffers and the
 * open reply (which libfuse 3.14 cannot flag for parallel direct writes). The file system
 * itself (names, attributes, I/O) lives in C#.
 *
 * Every callback receives the request as an opaque handle and must answer it exactly once
 * with one sp_fuse_reply_* call, from any thread, now or later. Types crossing the boundary
 * are fixed-width; functions return 0 or -errno. Nothing allocated on one side is freed on
 * the other.
 */
#ifndef SP_FUSE_H
# define SP_FUSE_H

# include <stdint.h>

# define SP_EXPORT __attribute__((visibility("default")))

/* What stat(2) shows of an inode. */
struct sp_fuse_attr {
    uint64_t ino;
    uint64_t size;
    uint64_t blocks;            /* 512-byte units allocated */
    uint32_t mode;              /* S_IFREG/S_IFDIR | permission bits */
    uint32_t nlink;
    uint32_t uid;
    uint32_t gid;
    int64_t mtime_ns;           /* since the epoch */
    int64_t ctime_ns;
};

/* What a setattr asks to change: the fields named in valid (SP_FUSE_SET_*). */
struct sp_fuse_setattr {
    uint32_t valid;
    uint32_t mode;
    uint32_t uid;
    uint32_t gid;
    uint64_t size;
    uint64_t fh;                /* the open file, when SP_FUSE_SET_FH is set */
};

# define SP_FUSE_SET_MODE (1u << 0)
# define SP_FUSE_SET_UID (1u << 1)
# define SP_FUSE_SET_GID (1u << 2)
# define SP_FUSE_SET_SIZE (1u << 3)
# define SP_FUSE_SET_TIMES (1u << 4)
# define SP_FUSE_SET_FH (1u << 31)

/* One directory entry of a listing; off is where a listing resumes after it (the offset of a later readdir). */
struct sp_fuse_dirent {
    uint64_t ino;
    int64_t off;
    uint32_t mode;
    uint32_t reserved;
    const char *name;
};

/* Flags of an open or create reply (a create reply goes through libfuse, which cannot send PARALLEL_WRITES). */
# define SP_FUSE_OPEN_DIRECT_IO (1u << 0)
# define SP_FUSE_OPEN_KEEP_CACHE (1u << 1)
# define SP_FUSE_OPEN_PARALLEL_WRITES (1u << 2)

/* The file system: every pointer is required. req is the request to answer. */
struct sp_fuse_ops {
    void (*lookup)(uint64_t req, uint64_t parent, const char *name);
    void (*getattr)(uint64_t req, uint64_t ino);
    void (*setattr)(uint64_t req, uint64_t ino, const struct sp_fuse_setattr *attr);
    void (*readdir)(uint64_t req, uint64_t ino, uint64_t size, int64_t offset);
    void (*open)(uint64_t req, uint64_t ino, int32_t flags);
    void (*create)(uint64_t req, uint64_t parent, const char *name, uint32_t mode, int32_t flags,
                   uint32_t uid, uint32_t gid);
    void (*read)(uint64_t req, uint64_t fh, int64_t offset, uint64_t size);
    void (*write)(uint64_t req, uint64_t fh, int64_t offset, const void *data, uint64_t size);
    void (*fsync)(uint64_t req, uint64_t fh);
    void (*release)(uint64_t req, uint64_t fh);
    void (*unlink)(uint64_t req, uint64_t parent, const char *name);
    void (*statfs)(uint64_t req, uint64_t ino);
    void (*fallocate)(uint64_t req, uint64_t fh, int32_t mode, int64_t offset, int64_t length);
    void (*lseek)(uint64_t req, uint64_t fh, int64_t offset, int32_t whence);
    void (*getxattr)(uint64_t req, uint64_t ino, const char *name, uint64_t size);
    void (*listxattr)(uint64_t req, uint64_t ino, uint64_t size);
};

struct sp_fuse_config {
    uint32_t threads;           /* request threads; each runs one request at a time */
    uint32_t max_write;         /* bytes per write request (up to 1 MiB) */
    const char *options;        /* mount options, comma separated ("allow_other,...") */
};

struct sp_fuse;

/* Mounts a FUSE file system at mountpoint and starts its threads. */
SP_EXPORT int sp_fuse_mount(const char *mountpoint, const struct sp_fuse_config *config,
                            const struct sp_fuse_ops *ops, struct sp_fuse **fsp);

/* Unmounts, waits for every thread to end and frees fs. Requests in flight are answered first. */
SP_EXPORT void sp_fuse_unmount(struct sp_fuse *fs);

/* Makes the kernel forget cached attributes and data of ino. */
SP_EXPORT int sp_fuse_notify_inval_inode(struct sp_fuse *fs, uint64_t ino);

/* Makes the kernel forget the name under parent. */
SP_EXPORT int sp_fuse_notify_inval_entry(struct sp_fuse *fs, uint64_t parent, const char *name);

SP_EXPORT int sp_fuse_reply_err(uint64_t req, int32_t err);
SP_EXPORT int sp_fuse_reply_entry(uint64_t req, const struct sp_fuse_attr *attr, double timeout);
SP_EXPORT int sp_fuse_reply_attr(uint64_t req, const struct sp_fuse_attr *attr, double timeout);
SP_EXPORT int sp_fuse_reply_open(uint64_t req, uint64_t fh, uint32_t flags);
SP_EXPORT int sp_fuse_reply_create(uint64_t req, const struct sp_fuse_attr *attr, double timeout,
                                   uint64_t fh, uint32_t flags);
SP_EXPORT int sp_fuse_reply_buf(uint64_t req, const void *data, uint64_t size);
SP_EXPORT int sp_fuse_reply_write(uint64_t req, uint64_t count);
SP_EXPORT int sp_fuse_reply_lseek(uint64_t req, int64_t offset);
SP_EXPORT int sp_fuse_reply_xattr(uint64_t req, uint64_t size);
SP_EXPORT int sp_fuse_reply_statfs(uint64_t req, uint64_t block_size, uint64_t blocks,
                                   uint64_t blocks_free, uint64_t files, uint64_t name_max);

/* Answers a readdir with the first of entries that fit in size bytes, each with its own off. */
SP_EXPORT int sp_fuse_reply_dir(uint64_t req, const struct sp_fuse_dirent *entries, uint32_t count, uint64_t size);

#endif /* SP_FUSE_H */
