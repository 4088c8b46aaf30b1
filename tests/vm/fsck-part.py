#!/usr/bin/env python3
"""Replay the journal / fsck an ext4 partition inside a disk image.

    fsck-part.py DISK OFFSET SIZE

Why: after a guest crash or power loss the root's ext4 journal holds
changes not yet written to their home blocks.  debugfs reads and writes the
home blocks only, so the host would see stale files, and a host-side write
could be undone by the replay at the next mount.  e2fsck (and debugfs's
journal_run) can replay, but in e2fsprogs 1.47.0 both re-open the filesystem
after the replay without the "?offset=" I/O option and fail ("Bad magic
number in super-block while trying to re-open").  So: copy the partition to
a sparse temporary file, run e2fsck on that, and write back only the 1 MiB
chunks that changed.  No loop device, no mount.

Exit status: 0 clean or fixed, 1 e2fsck could not fix it, 2 usage.
"""

import os
import subprocess
import sys
import tempfile

CHUNK = 1 << 20


def data_extents(fd, size, off=0):
    """(start, end) of the data (non-hole) regions of a sparse file, from
    OFF up to SIZE."""
    while off < size:
        try:
            start = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            return
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, min(end, size)
        off = end


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    disk, offset, size = argv[0], int(argv[1]), int(argv[2])
    tmpdir = os.path.dirname(os.path.abspath(disk))
    with tempfile.NamedTemporaryFile(dir=tmpdir, prefix=".fsck-part.") as tmp:
        # copy out only the image's data regions (it is sparse), leaving
        # holes where it reads zeros
        tmp.truncate(size)
        fd = tmp.fileno()
        with open(disk, "rb") as src:
            sfd = src.fileno()
            for start, end in data_extents(sfd, offset + size, offset):
                pos = max(start, offset)
                while pos < end:
                    buf = os.pread(sfd, min(CHUNK, end - pos), pos)
                    if not buf:
                        break
                    if buf.count(0) != len(buf):
                        os.pwrite(fd, buf, pos - offset)
                    pos += len(buf)
        r = subprocess.run(["e2fsck", "-p", tmp.name], capture_output=True, text=True)
        if r.returncode >= 4:
            r = subprocess.run(["e2fsck", "-fy", tmp.name], capture_output=True, text=True)
        out = (r.stdout + r.stderr).strip()
        if r.returncode >= 4:
            print("fsck-part.py: e2fsck failed (%d): %s" % (r.returncode, out), file=sys.stderr)
            return 1
        # write back what e2fsck changed: it writes whole blocks, so every
        # block it touched is data in the copy; compare those with the image
        written = 0
        with open(disk, "r+b") as dst:
            for start, end in data_extents(fd, size):
                pos = start
                while pos < end:
                    n = min(CHUNK, end - pos)
                    new = os.pread(fd, n, pos)
                    old = os.pread(dst.fileno(), n, offset + pos)
                    if new != old:
                        os.pwrite(dst.fileno(), new, offset + pos)
                        written += n
                    pos += n
            os.fsync(dst.fileno())
    if out:
        print("fsck-part.py: %s (rewrote %d KiB)" % (out.replace("\n", "; "), written // 1024),
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
