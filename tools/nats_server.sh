# The NATS server the cluster runs on, found the same way by tools/dev, the benchmarks and the
# tests (tests/support/nats_cluster.cpp). Source it; it needs $root (the repository).
#
# The cluster's footing is nats-server 2.10.27, Debian 13 (trixie)'s package 2.10.27-1+b2:
# Debian 12's 2.9.10 loses acknowledged writes in faults that 2.10.23 and later survive (see
# docs/cluster.md). Its binary needs only libc6 (>= 2.34), so it runs on Debian 12 as it is.
# tools/dev takes the package's file from Debian's archive, checks its SHA-256 against the
# archive index's, and unpacks the binary into build/tools/ (dpkg-deb -x): nothing is
# installed on the machine, no apt source or pin is added, and the version changes only when
# this file does. Debian 12's own nats-server package stays installed as the 2.9 target.

nats_server_version=2.10.27
nats_server_deb_version=2.10.27-1+b2
# SHA-256 of nats-server_2.10.27-1+b2_<arch>.deb in Debian's archive index (trixie).
declare -A nats_server_deb_sha256=(
  [amd64]=6d913ac987b78734c08537c2adeb1526cf735f216173a9170d94b185fcfe6f8a
)
nats_server_mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

# The project's own copy of the server.
nats_server_project_bin() {
  echo "$root/build/tools/nats-server-$nats_server_version/usr/sbin/nats-server"
}

# nats_server_bin: the server to run: $REFERRALD_NATS_SERVER when set, else the project's
# copy when present, else the system's (Debian installs it into /usr/sbin, which not every
# user has on PATH). Empty when there is none.
nats_server_bin() {
  local own
  own="$(nats_server_project_bin)"
  if [ -n "${REFERRALD_NATS_SERVER:-}" ]; then
    echo "$REFERRALD_NATS_SERVER"
  elif [ -x "$own" ]; then
    echo "$own"
  elif command -v nats-server >/dev/null 2>&1; then
    command -v nats-server
  elif [ -x /usr/sbin/nats-server ]; then
    echo /usr/sbin/nats-server
  fi
}

# nats_server_tool: the project's copy of nats-server 2.10.27 into build/tools/, once; on a
# machine whose architecture has no recorded checksum, says so and leaves the system's.
nats_server_tool() {
  local arch sum deb tmp url
  [ -x "$(nats_server_project_bin)" ] && return 0
  arch="$(dpkg --print-architecture)"
  sum="${nats_server_deb_sha256[$arch]:-}"
  if [ -z "$sum" ]; then
    echo "tools/dev: no recorded checksum of nats-server $nats_server_deb_version for $arch;" \
      "the cluster runs on the system's nats-server" >&2
    return 0
  fi
  command -v curl >/dev/null 2>&1 || install_missing curl
  deb="nats-server_${nats_server_deb_version}_$arch.deb"
  url="$nats_server_mirror/pool/main/n/nats-server/$deb"
  tmp="$(mktemp -d)"
  echo "tools/dev: fetching nats-server $nats_server_deb_version from $url" >&2
  if ! curl -sSfL --retry 3 -o "$tmp/server.deb" "$url"; then
    rm -rf "$tmp"
    echo "tools/dev: cannot fetch $url" >&2
    return 1
  fi
  if ! echo "$sum  $tmp/server.deb" | sha256sum -c --quiet - >/dev/null 2>&1; then
    echo "tools/dev: $url does not have the SHA-256 of Debian's archive index ($sum):" \
      "$(sha256sum "$tmp/server.deb" | cut -d' ' -f1); not used" >&2
    rm -rf "$tmp"
    return 1
  fi
  dpkg-deb -x "$tmp/server.deb" "$tmp/root"
  mkdir -p "$root/build/tools"
  rm -rf "$root/build/tools/nats-server-$nats_server_version"
  mv "$tmp/root" "$root/build/tools/nats-server-$nats_server_version"
  rm -rf "$tmp"
  "$(nats_server_project_bin)" --version >&2
}

# nats_meta_missing PREFIX N PORT: the servers PREFIX1..PREFIXN (monitoring endpoints on
# 127.0.0.1:PORT+1..PORT+N) that the leader of JetStream's meta group does not count as
# current peers, one name per line; "?" when none of them answers as the leader. nats-server
# 2.10.27 now and then leaves a server of a newly started cluster out of the group for good,
# and no stream of N replicas can then be placed (docs/cluster.md, "NATS server versions").
# Needs curl and python3.
nats_meta_missing() {
  local prefix="$1" n="$2" port="$3" i
  for i in $(seq 1 "$n"); do
    curl -sf --max-time 2 "http://127.0.0.1:$((port + i))/jsz" 2>/dev/null | python3 -c '
import json, sys
prefix, me, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
m = json.load(sys.stdin).get("meta_cluster") or {}
if m.get("leader") != me:
    sys.exit(1)
peers = {p.get("name") for p in m.get("replicas") or [] if p.get("current") and not p.get("offline")}
for j in range(1, n + 1):
    if prefix + str(j) != me and prefix + str(j) not in peers:
        print(prefix + str(j))
' "$prefix" "$prefix$i" "$n" 2>/dev/null && return 0
  done
  echo "?"
}
