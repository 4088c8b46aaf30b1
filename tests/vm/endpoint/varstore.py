#!/usr/bin/env python3
"""Write UEFI variables into an OVMF 4M variable store file on the host
(VM off): how the endpoint rig enrolls its machine owner key without anyone
at MokManager, and how its negative control turns Secure Boot off.

    varstore.py VARS.fd plant-mok CERT.der [--owner GUID]
        MokList (shim's GUID, attributes NV|BS, no RT) := one
        EFI_SIGNATURE_LIST holding the DER certificate (EFI_CERT_X509).
        shim copies it to the volatile MokListRT at every boot and the
        kernel loads it into the .machine keyring.
    varstore.py VARS.fd secure-boot on|off
        OVMF's SecureBootEnable (NV|BS) := 1 or 0.  With PK enrolled, the
        firmware's SecureBoot variable follows it at the next power-on.
    varstore.py VARS.fd set NAME-GUID ATTRS DATAFILE
        any non-authenticated variable (ATTRS: a number, e.g. 0x3).

A write appends a new record after the last one (4-byte aligned, the
authenticated header's count, time stamp and key index left zero: the
firmware keeps them zero for variables without the time-based
authentication attribute) and marks every older live copy of the same
variable deleted (state 0x3f -> 0x3d).  Every other byte of the file stays
as it was; the fault-tolerant-write area is not touched.  The record layout
is the one tests/vm/efivars.py documents and reads back.

Exit status: 0 written, 1 the store has no room or is not an OVMF store,
2 usage.
"""

import os
import struct
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import efivars  # noqa: E402

SHIM_LOCK_GUID = "605dab50-e046-4300-abb6-3dd810dd8b23"
SECURE_BOOT_ENABLE_GUID = "f0a30bc7-af08-4556-99c4-001009c93a44"
EFI_CERT_X509_GUID = uuid.UUID("a5c059a1-94e4-4aa7-87b5-ab155c2bf072")
# The owner recorded with the certificate: any GUID will do; this one names
# the rig's test MOK.
DEFAULT_OWNER = "9f4f1b39-9c3b-4a5e-8d4f-6c6966656c6e"

NV, BS = 0x1, 0x2
VAR_DELETED_STATE = efivars.VAR_ADDED & efivars.VAR_DELETED  # 0x3d


class VarstoreError(Exception):
    pass


def signature_list(der, owner):
    """EFI_SIGNATURE_LIST with one EFI_SIGNATURE_DATA (owner + DER)."""
    sig_size = 16 + len(der)
    return (EFI_CERT_X509_GUID.bytes_le + struct.pack("<III", 28 + sig_size, 0, sig_size)
            + uuid.UUID(owner).bytes_le + der)


def set_variable(buf, name, guid, attrs, data):
    """Append NAME-GUID := DATA to the store in BUF (a bytearray) and mark
    older live copies deleted.  Returns the new record's offset."""
    store = efivars.parse_bytes(buf)
    if not store.authenticated:
        raise VarstoreError("not an authenticated-format store (expected OVMF 4M)")
    guid = str(uuid.UUID(guid))
    hdr_len = struct.unpack_from("<H", buf, 48)[0]
    vs_end = hdr_len + store.size
    off = hdr_len + store.used
    raw_name = (name + "\0").encode("utf-16-le")
    rec = struct.pack("<HBBIQ16sIII", efivars.START_ID, efivars.VAR_ADDED, 0, attrs, 0,
                      b"\0" * 16, 0, len(raw_name), len(data))
    rec += uuid.UUID(guid).bytes_le + raw_name + data
    assert len(rec) == 60 + len(raw_name) + len(data)
    if off + len(rec) + 60 > vs_end:
        raise VarstoreError("no room: %d bytes free, record is %d" % (vs_end - off, len(rec)))
    if any(b != 0xFF for b in buf[off:off + len(rec)]):
        raise VarstoreError("the space after the last variable (offset %#x) is not erased" % off)
    buf[off:off + len(rec)] = rec
    for r in store.records:
        if r.name == name and r.guid == guid and r.live:
            buf[r.offset + 2] = VAR_DELETED_STATE
    # Read it back the way the firmware's parser would.
    v = efivars.parse_bytes(buf).get(name, guid)
    if v is None or v.data != data or v.attrs != attrs or v.offset != off:
        raise VarstoreError("read-back of %s-%s failed" % (name, guid))
    return off


def write_var(path, name, guid, attrs, data):
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    try:
        off = set_variable(buf, name, guid, attrs, data)
    except efivars.StoreError as e:
        raise VarstoreError(str(e))
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(buf)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    return off


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, cmd, rest = argv[0], argv[1], argv[2:]
    try:
        if cmd == "plant-mok" and len(rest) in (1, 3):
            owner = DEFAULT_OWNER
            if len(rest) == 3:
                if rest[1] != "--owner":
                    print(__doc__, file=sys.stderr)
                    return 2
                owner = rest[2]
            with open(rest[0], "rb") as f:
                der = f.read()
            if not der.startswith(b"\x30\x82"):
                raise VarstoreError("%s is not a DER certificate" % rest[0])
            off = write_var(path, "MokList", SHIM_LOCK_GUID, NV | BS, signature_list(der, owner))
            print("varstore: MokList (%d-byte certificate) written at %#x in %s" % (len(der), off, path))
        elif cmd == "secure-boot" and len(rest) == 1 and rest[0] in ("on", "off"):
            off = write_var(path, "SecureBootEnable", SECURE_BOOT_ENABLE_GUID, NV | BS,
                            b"\x01" if rest[0] == "on" else b"\x00")
            print("varstore: SecureBootEnable=%s written at %#x in %s" % (rest[0], off, path))
        elif cmd == "set" and len(rest) == 3:
            name, guid = efivars.split_key(rest[0])
            with open(rest[2], "rb") as f:
                data = f.read()
            off = write_var(path, name, guid, int(rest[1], 0), data)
            print("varstore: %s written at %#x in %s" % (rest[0], off, path))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except (OSError, VarstoreError, ValueError) as e:
        print("varstore.py: %s: %s" % (path, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
