#!/usr/bin/env bash
# The Debian package (tools/package, packaging/), end to end:
#
#   package_test.sh REFERRALD REFERRALCTL SOURCE_DIR
#
# builds the package from the two binaries into a temporary directory; checks its control
# fields (the binary's version, dpkg's architecture, Depends computed from the libraries,
# the conffile), its contents and its maintainer scripts; verifies its systemd unit with
# systemd-analyze; runs its maintainer scripts against a sandbox of shims
# (maintainer_scripts_test.sh); installs it with dpkg into a temporary root, as any user can
# and without touching this machine; starts the installed server with the installed
# configuration and talks to it; purges the package. Needs dpkg-dev, help2man, binutils, systemd
# (systemd-analyze) and curl, which tools/dev test installs.
set -euo pipefail

server="${1:?usage: package_test.sh REFERRALD REFERRALCTL SOURCE_DIR}"
ctl="${2:?usage: package_test.sh REFERRALD REFERRALCTL SOURCE_DIR}"
src="${3:?usage: package_test.sh REFERRALD REFERRALCTL SOURCE_DIR}"

fail() {
  echo "package_test: FAILED: $*" >&2
  exit 1
}

for tool in dpkg dpkg-deb dpkg-shlibdeps help2man strip readelf systemd-analyze curl timeout; do
  command -v "$tool" >/dev/null 2>&1 || fail "needs $tool (tools/dev test installs it)"
done

tmp="$(mktemp -d)"
pid=""
cleanup() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

version="$("$server" --version | head -n 1 | awk '{ print $2 }')"
[ -n "$version" ] || fail "no version in '$server --version'"
arch="$(dpkg --print-architecture)"

# What this machine has before: the installation into a temporary root must not change it.
host_user_before="$(getent passwd referrald || true)"
host_dir_before="$([ -e /var/lib/referrald ] && echo yes || echo no)"

# --- The package.
deb="$(timeout 120 "$src/tools/package" "$server" "$ctl" "$tmp/out")" ||
  fail "tools/package $server $ctl $tmp/out"
[ "$deb" = "$tmp/out/referrald_${version}_${arch}.deb" ] || fail "tools/package printed '$deb'"
[ -f "$deb" ] || fail "no $deb"

# --- Control fields.
dpkg-deb -I "$deb" >"$tmp/info"
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = referrald ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: '$(field Version)', the binary is $version"
[ "$(field Architecture)" = "$arch" ] || fail "Architecture: $(field Architecture)"
depends="$(field Depends)"
[[ "$depends" =~ (^|, )librocksdb[0-9.]+\ \(\>=\ [0-9] ]] ||
  fail "Depends does not name librocksdb with a version: '$depends'"
[[ "$depends" =~ (^|, )adduser(,|$) ]] || fail "Depends does not name adduser: '$depends'"
# The server's allocator (docs/operations.md, "Memory allocator"), linked though nothing
# names it: a link that dropped it would leave the server on the C library's malloc.
[[ "$depends" =~ (^|, )libtcmalloc-minimal4\ \(\>=\ [0-9] ]] ||
  fail "Depends does not name libtcmalloc-minimal4 with a version: '$depends'"
# Cluster mode wants a NATS server of the 2.10 line with its raft fixes (docs/cluster.md).
[ "$(field Suggests)" = "nats-server (>= 2.10.23)" ] ||
  fail "Suggests is not nats-server (>= 2.10.23): '$(field Suggests)'"
for f in Maintainer Installed-Size Section Priority Description; do
  [ -n "$(field "$f")" ] || fail "no $f field"
done
[ "$(dpkg-deb -I "$deb" conffiles)" = /etc/referrald/referrald.conf ] ||
  fail "conffiles: '$(dpkg-deb -I "$deb" conffiles)'"
dpkg-deb -e "$deb" "$tmp/control"
for script in postinst prerm postrm; do
  [ -x "$tmp/control/$script" ] || fail "no executable $script in the package"
  [ "$(head -n 1 "$tmp/control/$script")" = "#!/bin/sh" ] || fail "$script is not #!/bin/sh"
  grep -q '^set -e$' "$tmp/control/$script" || fail "$script does not set -e"
  sh -n "$tmp/control/$script" || fail "$script is not valid sh"
done
# What they do on a real machine (DPKG_ROOT unset; the installation below sets it), run
# against a sandbox of logging shims: user and group, /var/lib/referrald, deb-systemd-helper,
# start, restart and stop only under systemd; install, upgrade, remove, purge.
timeout 60 bash "$src/tests/package/maintainer_scripts_test.sh" "$tmp/control" ||
  fail "maintainer_scripts_test.sh on the package's maintainer scripts"

# --- Contents: path, mode and owner of each file.
dpkg-deb -c "$deb" | awk '{ print $6, $1, $2 }' >"$tmp/contents"
expect() {
  grep -qxF "./$1 $2 root/root" "$tmp/contents" ||
    fail "the package has no ./$1 ($2 root/root): $(grep -F "./$1 " "$tmp/contents" || echo absent)"
}
expect usr/bin/referrald -rwxr-xr-x
expect usr/bin/referralctl -rwxr-xr-x
expect lib/systemd/system/referrald.service -rw-r--r--
expect etc/referrald/referrald.conf -rw-r--r--
expect usr/share/man/man8/referrald.8.gz -rw-r--r--
expect usr/share/man/man1/referralctl.1.gz -rw-r--r--
expect usr/share/doc/referrald/copyright -rw-r--r--
expect usr/share/doc/referrald/changelog.gz -rw-r--r--
expect usr/share/doc/referrald/README.md.gz -rw-r--r--
# The guides README.md links to, each gzipped, in docs/ as in the source tree.
expect usr/share/doc/referrald/docs/ drwxr-xr-x
for guide in ai-platforms api api-guide architecture attribution cluster operations referralctl \
  scaling storage threading; do
  expect "usr/share/doc/referrald/docs/$guide.md.gz" -rw-r--r--
done

# --- The unit. systemd-analyze verify --root=DIR exists (systemd 252) but wants a whole
# system in DIR (sysinit.target, /bin/kill), so the unit is verified in place on this
# machine instead, from a copy whose ExecStart names the extracted binary (for this check
# only: verify requires the ExecStart binary to exist), with MANPATH on the extracted man
# pages for its Documentation= check. verify does not look for the User= (no referrald user
# here). It exits 0 on unknown or misspelled settings, which it only prints: any output
# fails the test.
dpkg-deb -x "$deb" "$tmp/extracted"
mkdir -p "$tmp/unit"
sed "s#^ExecStart=/usr/bin/referrald #ExecStart=$tmp/extracted/usr/bin/referrald #" \
  "$tmp/extracted/lib/systemd/system/referrald.service" >"$tmp/unit/referrald.service"
grep -q "^ExecStart=$tmp/extracted/usr/bin/referrald --config /etc/referrald/referrald.conf$" \
  "$tmp/unit/referrald.service" || fail "unexpected ExecStart in the unit"
man_check=()
command -v man >/dev/null 2>&1 || man_check=(--man=no)
if ! MANPATH="$tmp/extracted/usr/share/man" timeout 30 systemd-analyze verify "${man_check[@]}" \
  "$tmp/unit/referrald.service" >"$tmp/verify" 2>&1 || [ -s "$tmp/verify" ]; then
  cat "$tmp/verify" >&2
  fail "systemd-analyze verify referrald.service"
fi
for setting in Type=notify User=referrald Group=referrald StateDirectory=referrald \
  "ExecReload=/bin/kill -HUP \$MAINPID" ProtectSystem=strict NoNewPrivileges=yes \
  CapabilityBoundingSet= WantedBy=multi-user.target; do
  grep -qxF "$setting" "$tmp/unit/referrald.service" || fail "the unit has no '$setting'"
done

# --- The configuration file lists every option of --help that takes a value (--listen
# HOST:PORT, not --version), but --config: set, or commented out.
options="$("$server" --help | sed -n 's/^  --\([a-z][a-z-]*\) [A-Z].*/\1/p')"
[ "$(echo "$options" | wc -w)" -ge 20 ] || fail "too few options in '$server --help': $options"
for option in $options; do
  [ "$option" != config ] || continue
  grep -qE "^#?$option = " "$tmp/extracted/etc/referrald/referrald.conf" ||
    fail "the configuration file does not list the option $option"
done

# --- Man pages: gzipped roff.
for page in man8/referrald.8.gz man1/referralctl.1.gz; do
  first="$(zcat "$tmp/extracted/usr/share/man/$page" | head -n 1)"
  [[ "$first" == '.\"'* || "$first" == .TH* ]] || fail "$page begins with '$first'"
  zcat "$tmp/extracted/usr/share/man/$page" | grep -q "^\.TH .* \"[a-z]* $version\"" ||
    fail "$page has no .TH line with version $version"
done

# --- Installation into a temporary root. --force-script-chrootless runs the maintainer
# scripts here, not chrooted into the root (which holds no shell), with DPKG_ROOT set to the
# root: postinst, prerm and postrm then do nothing (no adduser, no /var/lib/referrald, no
# systemctl), which is what they are made to do in that case. --force-not-root lets a
# user who is not root do this; --force-depends: the root's dpkg database has none of the
# libraries (they are this machine's).
root="$tmp/root"
mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"
: >"$root/var/lib/dpkg/status"
dpkg_root=(dpkg --root="$root" --force-script-chrootless --force-not-root --log=/dev/null)
timeout 60 "${dpkg_root[@]}" --force-depends -i "$deb" >"$tmp/dpkg.out" 2>&1 || {
  cat "$tmp/dpkg.out" >&2
  fail "dpkg -i into $root"
}
status="$(dpkg --root="$root" -s referrald | sed -n 's/^Status: //p')"
[ "$status" = "install ok installed" ] || fail "dpkg -s referrald: '$status'"
# Every installed file matches the package's md5sums.
verify="$(dpkg --root="$root" --verify referrald 2>&1)" || fail "dpkg --verify: $verify"
[ -z "$verify" ] || fail "dpkg --verify: $verify"
[ -s "$root/var/lib/dpkg/info/referrald.md5sums" ] || fail "no md5sums installed"
for f in usr/bin/referrald usr/bin/referralctl etc/referrald/referrald.conf \
  lib/systemd/system/referrald.service; do
  [ -f "$root/$f" ] || fail "$f was not installed"
done
if readelf -S "$root/usr/bin/referrald" | grep -q '\.symtab'; then
  fail "the installed referrald is not stripped"
fi
"$root/usr/bin/referrald" --version | head -n 1 | grep -qx "referrald $version" ||
  fail "installed referrald --version: $("$root/usr/bin/referrald" --version | head -n 1)"
"$root/usr/bin/referralctl" --version | head -n 1 | grep -qx "referralctl $version" ||
  fail "installed referralctl --version: $("$root/usr/bin/referralctl" --version | head -n 1)"

# --- The installed server, with the installed configuration (REFERRALD_CONFIG) and a line
# added to it, access-log, whose file shows that the configuration was read; the flags win
# over the file's listen = 127.0.0.1:8080 and data = /var/lib/referrald.
conf="$root/etc/referrald/referrald.conf"
grep -qx 'listen = 127.0.0.1:8080' "$conf" || fail "the configuration does not set listen"
grep -qx 'data = /var/lib/referrald' "$conf" || fail "the configuration does not set data"
grep -qx 'admin-key-file = /var/lib/referrald/initial-admin-key' "$conf" ||
  fail "the configuration does not set admin-key-file"
echo "access-log = $tmp/access.log" >>"$conf"
echo "admin-key-file = $tmp/initial-admin-key" >>"$conf"
REFERRALD_CONFIG="$conf" "$root/usr/bin/referrald" --listen 127.0.0.1:0 --data "$tmp/data" \
  </dev/null >"$tmp/stdout" 2>"$tmp/stderr" &
pid=$!
deadline=$((SECONDS + 20))
until grep -q '^listening on ' "$tmp/stdout"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$tmp/stdout" "$tmp/stderr" >&2
    fail "the installed referrald stopped at start"
  fi
  [ "$SECONDS" -lt "$deadline" ] || fail "no 'listening on' line in 20 s"
  sleep 0.1
done
port="$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/stdout")"
[ -n "$port" ] || fail "not listening on 127.0.0.1: $(cat "$tmp/stdout")"
# The first admin key's secret is in the configured file (mode 0600), not on stderr.
grep -q "^referrald: created admin API key 1; its secret is in $tmp/initial-admin-key" \
  "$tmp/stderr" || fail "no 'created admin API key' notice on stderr: $(cat "$tmp/stderr")"
grep -q 'rk_' "$tmp/stderr" && fail "the admin secret was printed on stderr"
[ "$(stat -c %a "$tmp/initial-admin-key")" = 600 ] || fail "the admin key file is not mode 0600"
key="$(head -n 1 "$tmp/initial-admin-key")"
[ -n "$key" ] || fail "no admin secret in $tmp/initial-admin-key"

base="http://127.0.0.1:$port"
curl -sf --max-time 5 -o /dev/null "$base/healthz" || fail "GET /healthz"
curl -sf --max-time 5 -o /dev/null "$base/readyz" || fail "GET /readyz"
code="$(curl -s --max-time 5 -o "$tmp/keys.json" -w '%{http_code}' \
  -H "Authorization: Bearer $key" "$base/api-keys")"
[ "$code" = 200 ] || fail "GET /api-keys with the admin key: $code $(cat "$tmp/keys.json")"
grep -q '"initial admin"' "$tmp/keys.json" || fail "GET /api-keys: $(cat "$tmp/keys.json")"
code="$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$base/api-keys")"
[ "$code" = 401 ] || fail "GET /api-keys without a key: $code"

kill -TERM "$pid"
deadline=$((SECONDS + 20))
while kill -0 "$pid" 2>/dev/null; do
  [ "$SECONDS" -lt "$deadline" ] || fail "the server did not stop within 20 s of SIGTERM"
  sleep 0.1
done
exit_status=0
wait "$pid" || exit_status=$?
pid=""
[ "$exit_status" = 0 ] || fail "the server exited with status $exit_status: $(cat "$tmp/stderr")"

grep -q '/api-keys' "$tmp/access.log" 2>/dev/null ||
  fail "no access log in $tmp/access.log: the configuration file was not read"
[ -n "$(ls -A "$tmp/data" 2>/dev/null)" ] || fail "--data $tmp/data was not used"
"$root/usr/bin/referralctl" --data "$tmp/data" keys list | grep -q '"initial admin"' ||
  fail "the installed referralctl keys list"

# --- Purge: prerm and postrm run (and do nothing, DPKG_ROOT being set); dpkg removes the
# files and the conffile.
timeout 60 "${dpkg_root[@]}" --purge referrald >"$tmp/dpkg.out" 2>&1 || {
  cat "$tmp/dpkg.out" >&2
  fail "dpkg --purge referrald in $root"
}
status="$(dpkg --root="$root" -s referrald 2>/dev/null | sed -n 's/^Status: //p' || true)"
[ -z "$status" ] || [ "$status" = "unknown ok not-installed" ] ||
  fail "after the purge, dpkg -s referrald: '$status'"
for f in usr/bin/referrald etc/referrald/referrald.conf lib/systemd/system/referrald.service; do
  [ ! -e "$root/$f" ] || fail "$f is still there after the purge"
done

[ "$(getent passwd referrald || true)" = "$host_user_before" ] ||
  fail "the installation into $root changed this machine's referrald user"
[ "$([ -e /var/lib/referrald ] && echo yes || echo no)" = "$host_dir_before" ] ||
  fail "the installation into $root changed this machine's /var/lib/referrald"

echo "package_test: $(basename "$deb") ($depends) built, verified, installed into a" \
  "temporary root, served on 127.0.0.1:$port and purged" >&2
