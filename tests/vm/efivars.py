#!/usr/bin/env python3
"""Read UEFI variables from an OVMF variable store file on the host.

    efivars.py VARS.fd                  list live variables
    efivars.py VARS.fd NAME-GUID        hex dump of one variable's data
    efivars.py VARS.fd NAME-GUID --raw  its data, raw, on stdout
    efivars.py VARS.fd NAME-GUID --efivarfs
                                        4-byte LE attributes + data, exactly
                                        what /sys/firmware/efi/efivars shows
    efivars.py VARS.fd --stats          store size, bytes used and live
    efivars.py VARS.fd --all            list every record, deleted ones too
    efivars.py VARS.fd --guid GUID      list only one vendor's variables

Exit status: 0 ok, 1 variable not found, 2 usage error, 3 store unreadable.

This is how the VM tests read lifeline's state back from the firmware with
the VM powered off (QEMU writes the pflash file as the guest's firmware
changes it).  Also importable: parse(path) -> Store, Store.get(name, guid).

Format (edk2, MdeModulePkg VariableFormat.h, PI spec volume 3):
  EFI_FIRMWARE_VOLUME_HEADER  ZeroVector[16] FileSystemGuid[16] FvLength u64
                              Signature "_FVH" Attributes u32 HeaderLength u16
                              Checksum u16 ExtHeaderOffset u16 Reserved u8
                              Revision u8 BlockMap[]
  VARIABLE_STORE_HEADER       at FV+HeaderLength: Signature GUID (the
                              authenticated-variable GUID on OVMF 4M builds)
                              Size u32 Format u8 (0x5a) State u8 (0xfe)
                              Reserved u16 Reserved1 u32                (28 B)
  variables, each starting on a 4-byte boundary:
    AUTHENTICATED_VARIABLE_HEADER  StartId u16 (0x55aa) State u8 Reserved u8
                              Attributes u32 MonotonicCount u64
                              TimeStamp[16] PubKeyIndex u32 NameSize u32
                              DataSize u32 VendorGuid[16]               (60 B)
    (plain VARIABLE_HEADER: the same without MonotonicCount, TimeStamp and
     PubKeyIndex, 32 B)
    then the UTF-16LE name (NameSize bytes, with its NUL), then the data.
  The list ends at the first header whose StartId is not 0x55aa (erased
  flash reads 0xff).

State is a byte whose bits the firmware clears one by one (flash can only
clear bits): 0x7f header written, 0x3f VAR_ADDED (live), 0x3e added and "in
deleted transition" (a newer copy is being written: live only if no 0x3f
copy of the same variable exists), anything with the 0x02 bit clear is
deleted.  A variable update appends a new copy and then marks the old one
deleted, so the store holds many dead copies until the firmware reclaims it.
"""

import struct
import sys
import uuid

FVH_SIGNATURE = b"_FVH"
NV_DATA_FV_GUID = uuid.UUID("fff12b8d-7696-4c8b-a985-2747075b4f50")
AUTH_VAR_GUID = uuid.UUID("aaf32c78-947b-439a-a180-2e144ec37792")
VAR_GUID = uuid.UUID("ddcf3616-3275-4164-98b6-fe85707ffe7d")

START_ID = 0x55AA
VAR_HEADER_VALID_ONLY = 0x7F
VAR_ADDED = 0x3F
VAR_IN_DELETED_TRANSITION = 0xFE  # the bit cleared: ~0x01
VAR_DELETED = 0xFD                # the bit cleared: ~0x02
ADDED_IN_TRANSITION = VAR_ADDED & VAR_IN_DELETED_TRANSITION  # 0x3e

ATTR_NAMES = [
    (0x01, "NV"), (0x02, "BS"), (0x04, "RT"), (0x08, "HW_ERROR"),
    (0x10, "AUTH_WRITE"), (0x20, "TIME_AUTH_WRITE"), (0x40, "APPEND"),
]


class StoreError(Exception):
    pass


class Var:
    __slots__ = ("name", "guid", "attrs", "data", "state", "offset")

    def __init__(self, name, guid, attrs, data, state, offset):
        self.name, self.guid, self.attrs = name, guid, attrs
        self.data, self.state, self.offset = data, state, offset

    @property
    def key(self):
        return "%s-%s" % (self.name, self.guid)

    @property
    def live(self):
        return self.state in (VAR_ADDED, ADDED_IN_TRANSITION)

    def attr_text(self):
        return "|".join(n for bit, n in ATTR_NAMES if self.attrs & bit) or "0"


class Store:
    def __init__(self, records, size, used, authenticated):
        self.records = records          # every record, in store order
        self.size = size                # variable store size (header Size)
        self.used = used                # bytes up to the end of the last record
        self.authenticated = authenticated

    def live(self):
        """The current value of every variable: a VAR_ADDED copy wins over
        one in deleted transition; among equals the last one in the store
        (the newest) wins."""
        best = {}
        for r in self.records:
            if not r.live:
                continue
            old = best.get(r.key)
            if old is None or not (old.state == VAR_ADDED and r.state != VAR_ADDED):
                best[r.key] = r
        return sorted(best.values(), key=lambda r: r.offset)

    def get(self, name, guid):
        guid = str(uuid.UUID(str(guid)))
        for r in self.live():
            if r.name == name and r.guid == guid:
                return r
        return None


def _align4(n):
    return (n + 3) & ~3


def parse_bytes(buf):
    if len(buf) < 0x48 or buf[40:44] != FVH_SIGNATURE:
        raise StoreError("no firmware volume header (_FVH) at the start")
    fs_guid = uuid.UUID(bytes_le=bytes(buf[16:32]))
    if fs_guid != NV_DATA_FV_GUID:
        raise StoreError("firmware volume is not an NV data volume (%s)" % fs_guid)
    fv_len = struct.unpack_from("<Q", buf, 32)[0]
    hdr_len = struct.unpack_from("<H", buf, 48)[0]
    if fv_len > len(buf) or hdr_len < 0x48 or hdr_len >= fv_len:
        raise StoreError("bad firmware volume lengths (FvLength %#x, HeaderLength %#x, file %#x)"
                         % (fv_len, hdr_len, len(buf)))

    vs = hdr_len
    sig = uuid.UUID(bytes_le=bytes(buf[vs:vs + 16]))
    size, fmt, state = struct.unpack_from("<IBB", buf, vs + 16)
    if sig == AUTH_VAR_GUID:
        auth = True
    elif sig == VAR_GUID:
        auth = False
    else:
        raise StoreError("unknown variable store signature %s" % sig)
    if fmt != 0x5A or state != 0xFE:
        raise StoreError("variable store not formatted/healthy (format %#x, state %#x)" % (fmt, state))
    end = vs + size
    if size < 28 or end > fv_len:
        raise StoreError("bad variable store size %#x" % size)

    hsize = 60 if auth else 32
    records = []
    off = _align4(vs + 28)
    while off + hsize <= end:
        start_id, vstate, _res, attrs = struct.unpack_from("<HBBI", buf, off)
        if start_id != START_ID:
            break
        if auth:
            name_size, data_size = struct.unpack_from("<II", buf, off + 36)
            guid_off = off + 44
        else:
            name_size, data_size = struct.unpack_from("<II", buf, off + 8)
            guid_off = off + 16
        name_off = off + hsize
        data_off = name_off + name_size
        nxt = _align4(data_off + data_size)
        if name_size > end or data_size > end or data_off + data_size > end:
            raise StoreError("variable at %#x runs past the store end" % off)
        if vstate == VAR_HEADER_VALID_ONLY or vstate == 0xFF:
            # Header written, name/data never completed: not a variable;
            # the sizes in the header still tell where the next one starts.
            off = nxt
            continue
        guid = str(uuid.UUID(bytes_le=bytes(buf[guid_off:guid_off + 16])))
        raw_name = bytes(buf[name_off:data_off])
        name = raw_name.decode("utf-16-le", "replace").split("\0", 1)[0]
        data = bytes(buf[data_off:data_off + data_size])
        records.append(Var(name, guid, attrs, data, vstate, off))
        off = nxt
    return Store(records, size, off - vs, auth)


def parse(path):
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except OSError as e:
        raise StoreError(str(e))
    return parse_bytes(buf)


def split_key(key):
    """'Name-8-4-4-4-12' -> (Name, guid).  The name itself may contain '-'."""
    if len(key) < 38 or key[-37] != "-":
        raise ValueError("expected NAME-GUID, got %r" % key)
    return key[:-37], str(uuid.UUID(key[-36:]))


def hexdump(data, out):
    for i in range(0, len(data), 16):
        chunk = data[i:i + 16]
        hx = " ".join("%02x" % b for b in chunk)
        asc = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        out.write("%08x  %-47s  |%s|\n" % (i, hx, asc))


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    opts = [a for a in argv if a.startswith("--")]
    guid_filter = None
    if "--guid" in opts:
        # --guid takes the next non-option argument
        i = argv.index("--guid")
        if i + 1 >= len(argv):
            print(__doc__, file=sys.stderr)
            return 2
        guid_filter = str(uuid.UUID(argv[i + 1]))
        args.remove(argv[i + 1])
        opts.remove("--guid")
    known = {"--raw", "--efivarfs", "--stats", "--all", "--help"}
    if not args or len(args) > 2 or set(opts) - known or "--help" in opts:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        store = parse(args[0])
    except StoreError as e:
        print("efivars.py: %s: %s" % (args[0], e), file=sys.stderr)
        return 3

    if "--stats" in opts:
        live = store.live()
        live_bytes = sum(_align4((60 if store.authenticated else 32) + 2 * (len(v.name) + 1) + len(v.data))
                         for v in live)
        print("format=%s store_size=%d used=%d free=%d records=%d live=%d live_bytes=%d"
              % ("authenticated" if store.authenticated else "plain", store.size, store.used,
                 store.size - store.used, len(store.records), len(live), live_bytes))
        return 0

    if len(args) == 1:
        recs = store.records if "--all" in opts else store.live()
        for v in recs:
            if guid_filter and v.guid != guid_filter:
                continue
            extra = " state=%#04x" % v.state if "--all" in opts else ""
            print("%s attrs=%#x(%s) size=%d%s" % (v.key, v.attrs, v.attr_text(), len(v.data), extra))
        return 0

    try:
        name, guid = split_key(args[1])
    except ValueError as e:
        print("efivars.py: %s" % e, file=sys.stderr)
        return 2
    v = store.get(name, guid)
    if v is None:
        print("efivars.py: %s: no such variable" % args[1], file=sys.stderr)
        return 1
    if "--raw" in opts:
        sys.stdout.buffer.write(v.data)
    elif "--efivarfs" in opts:
        sys.stdout.buffer.write(struct.pack("<I", v.attrs) + v.data)
    else:
        print("%s attrs=%#x(%s) size=%d" % (v.key, v.attrs, v.attr_text(), len(v.data)))
        hexdump(v.data, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
