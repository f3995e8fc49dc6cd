#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause OR GPL-2.0
# tests/vm/kernels.sh - fetches Debian's own kernel images (5.10, 6.1, 6.12) for the VM tests into .output/vm/kernels/.
#
# usage: tests/vm/kernels.sh [--refresh] [SERIES...]   (default: 5.10 6.1 6.12)
#
# Each series gets a private apt configuration under .output/vm/apt/SERIES
# (its own sources list, lists, cache and empty dpkg status, removed once
# the image is in), so the machine's apt setup is neither read for packages
# nor written.  The newest
# matching linux-image package is downloaded with `apt-get download`
# (checked against the signed index) and only boot/vmlinuz-* and
# boot/config-* are kept.  A series already fetched costs no network work
# unless --refresh is given.  Prints "SERIES RELEASE VMLINUZ" per series.
set -euo pipefail

cd "$(dirname "$0")/../.." || exit 1
VM_DIR=${EMBER_VM_DIR:-$PWD/.output/vm}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

refresh=0
series=()
for a in "$@"; do
	case $a in
	--refresh) refresh=1 ;;
	-h | --help)
		sed -n '4,13p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	-*)
		echo "kernels.sh: unknown option $a" >&2
		exit 2
		;;
	*) series+=("$a") ;;
	esac
done
[ ${#series[@]} -gt 0 ] || series=(5.10 6.1 6.12)

log() { echo "kernels.sh: $*" >&2; }

# archive_uris prints the main and the security archive address, taken from
# the machine's own apt sources (deb822 and one-line), Debian's defaults otherwise.
archive_uris() {
	local uris main="" sec=""
	uris=$(
		{
			grep -hsE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources | sed 's/^[[:space:]]*URIs://'
			grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
				sed -E 's/\[[^]]*\]//' | awk '{print $2}'
		} | tr ' ' '\n' | grep -E '^https?://' || true
	)
	main=$(echo "$uris" | grep -E '/debian/?$' | head -n1 || true)
	sec=$(echo "$uris" | grep -E '/debian-security/?$' | head -n1 || true)
	echo "${EMBER_VM_MIRROR:-${main:-http://deb.debian.org/debian}}"
	echo "${EMBER_VM_SECURITY_MIRROR:-${sec:-http://deb.debian.org/debian-security}}"
}

# series_info SERIES prints "PATTERN" then the "KIND SUITE" lines to search
# (KIND main or security); the newest package over all suites wins.
series_info() {
	case $1 in
	5.10) printf '%s\n' '^linux-image-5\.10\.0-[0-9]+-amd64$' 'security bullseye-security' ;;
	6.1) printf '%s\n' '^linux-image-6\.1\.0-[0-9]+-amd64$' 'security bookworm-security' ;;
	6.12) printf '%s\n' '^linux-image-6\.12\.[0-9]+\+deb13-amd64$' 'main trixie' 'security trixie-security' ;;
	*) return 1 ;;
	esac
}

# fetch_series SERIES: downloads the newest image of SERIES into $VM_DIR/kernels/SERIES.
fetch_series() {
	local s=$1 info pattern apt dest tmp kind suite uri pkgs best bestv p v deb release
	info=$(series_info "$s") || {
		log "unknown kernel series $s (known: 5.10 6.1 6.12)"
		return 1
	}
	pattern=$(echo "$info" | head -n1)
	apt=$VM_DIR/apt/$s
	dest=$VM_DIR/kernels/$s
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/empty" "$VM_DIR/kernels"
	: >"$apt/status"
	: >"$apt/sources.list"
	while read -r kind suite; do
		[ -n "$kind" ] || continue
		if [ "$kind" = main ]; then uri=$MAIN_URI; else uri=$SEC_URI; fi
		echo "deb [signed-by=$KEYRING] $uri $suite main" >>"$apt/sources.list"
	done < <(echo "$info" | tail -n +2)
	# The machine's network settings (proxies, timeouts, date checks) carry
	# over; its apt.conf.d hooks, index targets and sources do not.
	{
		echo "Dir::Etc::main \"/dev/null\";"
		echo "Dir::Etc::parts \"$apt/empty\";"
		echo "Dir::Etc::sourcelist \"$apt/sources.list\";"
		echo "Dir::Etc::sourceparts \"$apt/empty\";"
		echo "Dir::Etc::preferences \"/dev/null\";"
		echo "Dir::Etc::preferencesparts \"$apt/empty\";"
		echo "Dir::Etc::trusted \"/dev/null\";"
		echo "Dir::Etc::trustedparts \"$apt/empty\";"
		echo "Dir::State \"$apt\";"
		echo "Dir::State::lists \"$apt/lists\";"
		echo "Dir::State::status \"$apt/status\";"
		echo "Dir::State::extended_states \"$apt/extended_states\";"
		echo "Dir::Cache \"$apt/cache\";"
		echo "Dir::Log \"$apt\";"
		echo "APT::Architecture \"amd64\";"
		echo "APT::Architectures { \"amd64\"; };"
		echo "APT::Sandbox::User \"root\";"
		echo "Acquire::Languages \"none\";"
		echo "Acquire::GzipIndexes \"true\";"
		echo "Acquire::Retries \"3\";"
		echo "$SYS_ACQUIRE"
	} >"$apt/apt.conf"
	export APT_CONFIG=$apt/apt.conf

	log "$s: updating the package index ($(tail -n +2 <<<"$info" | awk '{print $2}' | paste -sd' '))"
	# apt-get update exits 0 when an index could not be fetched: its log says.
	if ! apt-get -q -q update >"$apt/update.log" 2>&1 ||
		grep -qE '^(E:|W: Failed to fetch|W: Some index files failed)' "$apt/update.log"; then
		log "$s: apt-get update failed: $(grep -E '^[EW]:' "$apt/update.log" | head -n 2 | tr '\n' ' ')"
		return 1
	fi
	pkgs=$(apt-cache --names-only search "$pattern" | awk '{print $1}' | grep -E "$pattern" || true)
	best=""
	bestv=""
	for p in $pkgs; do
		v=$(apt-cache show --no-all-versions "$p" | awk '/^Version:/{print $2; exit}')
		if [ -z "$bestv" ] || dpkg --compare-versions "$v" gt "$bestv"; then
			best=$p
			bestv=$v
		fi
	done
	if [ -z "$best" ]; then
		log "$s: no package matches $pattern"
		return 1
	fi
	if [ -f "$dest/package" ] && [ "$(cat "$dest/package")" = "$best $bestv" ] && [ -f "$dest/vmlinuz" ]; then
		log "$s: $best $bestv is already here"
		rm -rf "$apt"
		return 0
	fi
	log "$s: downloading $best $bestv"
	tmp=$(mktemp -d "$VM_DIR/kernels/.tmp-$s.XXXXXX")
	(cd "$tmp" && apt-get -q -q download "$best" >"$apt/download.log" 2>&1) || {
		log "$s: apt-get download $best failed:"
		sed 's/^/    /' "$apt/download.log" >&2
		rm -rf "$tmp"
		return 1
	}
	deb=$(ls "$tmp"/*.deb)
	mkdir -p "$tmp/x"
	# Only the two small members are written; the modules stay in the pipe.
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp/x" --wildcards './boot/vmlinuz-*' './boot/config-*'
	release=$(basename "$(ls "$tmp"/x/boot/vmlinuz-*)")
	release=${release#vmlinuz-}
	mv "$tmp/x/boot/vmlinuz-$release" "$tmp/vmlinuz"
	mv "$tmp/x/boot/config-$release" "$tmp/config"
	grep -qx 'CONFIG_DEBUG_INFO_BTF=y' "$tmp/config" || log "$s: warning: $release has no CONFIG_DEBUG_INFO_BTF"
	echo "$release" >"$tmp/release"
	echo "$best $bestv" >"$tmp/package"
	rm -rf "$tmp/x" "$deb"
	chmod 755 "$tmp"
	rm -rf "$dest"
	mv "$tmp" "$dest"
	# The index (150 MB for trixie) is needed again only by --refresh, which updates it.
	rm -rf "$apt"
	log "$s: $release ready"
}

mapfile -t uris < <(archive_uris)
MAIN_URI=${uris[0]}
SEC_URI=${uris[1]}
SYS_ACQUIRE=$(apt-config dump 2>/dev/null |
	grep -E '^Acquire::((https?|ftp)::|Check-Valid-Until |Check-Date |ForceIPv)' || true)
export MAIN_URI SEC_URI SYS_ACQUIRE

# The series are fetched in parallel: the time goes to the network.
pids=()
for s in "${series[@]}"; do
	if [ "$refresh" -eq 0 ] && [ -f "$VM_DIR/kernels/$s/vmlinuz" ] && [ -f "$VM_DIR/kernels/$s/release" ]; then
		continue
	fi
	fetch_series "$s" &
	pids+=($!)
done
rc=0
for p in "${pids[@]}"; do
	wait "$p" || rc=1
done
for s in "${series[@]}"; do
	if [ -f "$VM_DIR/kernels/$s/vmlinuz" ]; then
		echo "$s $(cat "$VM_DIR/kernels/$s/release") $VM_DIR/kernels/$s/vmlinuz"
	else
		rc=1
	fi
done
exit $rc
