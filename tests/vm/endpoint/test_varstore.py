#!/usr/bin/env python3
"""Host-only test of varstore.py (no VM, a second): plant a MokList and turn
Secure Boot off and on in a copy of Debian's OVMF_VARS_4M.ms.fd, read the
result back with tests/vm/efivars.py's parser, and check that no byte
outside the new records and the old copies' state bytes changed.

    test_varstore.py        exit 0 pass, 1 fail, 77 skipped (no ovmf)
"""

import os
import struct
import subprocess
import sys
import tempfile
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import efivars  # noqa: E402
import varstore  # noqa: E402

MS_VARS = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
FAILS = []


def check(cond, what):
    print("%s: %s" % ("ok" if cond else "FAIL", what))
    if not cond:
        FAILS.append(what)


def main():
    if not os.path.exists(MS_VARS):
        print("test_varstore: SKIP (%s missing: Debian package ovmf)" % MS_VARS)
        return 77
    with tempfile.TemporaryDirectory() as d:
        der = os.path.join(d, "mok.der")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        os.path.join(d, "mok.key"), "-outform", "DER", "-out", der, "-days", "1",
                        "-subj", "/CN=varstore test/"], check=True, capture_output=True)
        vars_fd = os.path.join(d, "VARS.fd")
        with open(MS_VARS, "rb") as f:
            orig = f.read()
        with open(vars_fd, "wb") as f:
            f.write(orig)
        before = efivars.parse_bytes(orig)

        rc = subprocess.run([os.path.join(HERE, "varstore.py"), vars_fd, "plant-mok", der]).returncode
        check(rc == 0, "plant-mok exits 0")
        with open(vars_fd, "rb") as f:
            buf = f.read()
        st = efivars.parse_bytes(buf)
        mok = st.get("MokList", varstore.SHIM_LOCK_GUID)
        with open(der, "rb") as f:
            cert = f.read()
        check(mok is not None and mok.attrs == 0x3, "MokList present with NV|BS, no RT")
        if mok is not None:
            sig_type = uuid.UUID(bytes_le=mok.data[:16])
            list_size, hdr_size, sig_size = struct.unpack_from("<III", mok.data, 16)
            check(sig_type == varstore.EFI_CERT_X509_GUID, "signature list type is EFI_CERT_X509")
            check(list_size == len(mok.data) and hdr_size == 0 and sig_size == 16 + len(cert),
                  "signature list sizes (%d, %d, %d)" % (list_size, hdr_size, sig_size))
            check(mok.data[28 + 16:] == cert, "the certificate follows the owner GUID")
        hdr_len = struct.unpack_from("<H", buf, 48)[0]
        used = hdr_len + before.used
        check(buf[:used] == orig[:used], "every byte before the new record unchanged")
        check(buf[hdr_len + st.used:] == orig[hdr_len + st.used:], "every byte after the new record unchanged")
        check(len(st.live()) == len(before.live()) + 1, "one more live variable")

        sbe = ("SecureBootEnable", varstore.SECURE_BOOT_ENABLE_GUID)
        old = st.get(*sbe)
        rc = subprocess.run([os.path.join(HERE, "varstore.py"), vars_fd, "secure-boot", "off"]).returncode
        check(rc == 0, "secure-boot off exits 0")
        with open(vars_fd, "rb") as f:
            buf2 = f.read()
        st2 = efivars.parse_bytes(buf2)
        new = st2.get(*sbe)
        check(new is not None and new.data == b"\x00" and new.offset != old.offset,
              "SecureBootEnable = 0, a new record")
        check(buf2[old.offset + 2] == 0x3D, "the old SecureBootEnable record is marked deleted (0x3d)")
        diff = [i for i in range(len(buf)) if buf[i] != buf2[i]]
        check(all(i == old.offset + 2 or i >= hdr_len + st.used for i in diff),
              "only the old record's state byte and the new record changed (%d bytes)" % len(diff))
        check(len(st2.live()) == len(st.live()), "still the same live variables")
        rc = subprocess.run([os.path.join(HERE, "varstore.py"), vars_fd, "secure-boot", "maybe"],
                            capture_output=True).returncode
        check(rc == 2, "a bad argument is a usage error (exit 2)")
    print("test_varstore: %s" % ("FAILED" if FAILS else "PASSED"))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
