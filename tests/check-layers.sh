#!/bin/sh
# Fail when a lower layer includes an upper layer's header
# (common/ <- efi/ <- agent/ <- programs).
set -u
bad=0
check() { # dir forbidden-dir...
	dir=$1; shift
	for up in "$@"; do
		if grep -n "#include \"$up/" "$dir"/*.[ch] 2>/dev/null; then
			echo "layering: $dir/ must not include $up/ headers"
			bad=1
		fi
	done
}
check common efi agent initramfs-hook
check efi agent initramfs-hook
check agent initramfs-hook
[ $bad -eq 0 ] && echo "layers: ok"
exit $bad
