#!/usr/bin/env bash
# The maintainer scripts (packaging/postinst, prerm, postrm) run as dpkg runs them on a real
# machine (DPKG_ROOT unset), against a sandbox:
#
#   maintainer_scripts_test.sh [SCRIPTS_DIR]
#
# (default: packaging/ next to this file; package_test.sh passes the control directory of
# the package it built). Each script runs under /bin/sh with an empty environment but for
# PATH, which holds only shims of the commands the scripts call (mkdir, getent, addgroup,
# adduser, dpkg-statoverride, chown, chmod, deb-systemd-helper, deb-systemd-invoke,
# systemctl): a call of any other command fails the script ("not found"). Each shim logs
# its name and arguments and emulates the command on the sandbox: a passwd and a group file
# that getent reads and addgroup/adduser append to, a fake root for the paths (mkdir and
# chmod act in it; chown records the owner after checking that the user and group exist),
# deb-systemd-helper's state (enabled, masked) and the unit's (running). Whether systemd
# runs is a directory in the sandbox, named by REFERRALD_SYSTEMD_RUN_DIR (the scripts' test
# hook for /run/systemd/system). The log of each step is compared with what the step must
# do, line for line. Nothing outside a mktemp -d directory is touched and no real adduser,
# chown, systemctl... is run, even as root. Takes about a second; needs only sh and
# coreutils.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
scripts="${1:-$here/../../packaging}"
scripts="$(cd "$scripts" && pwd)"

fail() {
  echo "maintainer_scripts_test: FAILED: $*" >&2
  exit 1
}

for script in postinst prerm postrm; do
  [ -f "$scripts/$script" ] || fail "no $scripts/$script"
  [ "$(head -n 1 "$scripts/$script")" = "#!/bin/sh" ] || fail "$script is not #!/bin/sh"
  grep -q '^set -e$' "$scripts/$script" || fail "$script does not set -e"
  sh -n "$scripts/$script" || fail "$script is not valid sh (sh -n)"
  # Optional: checkbashisms (devscripts) when this machine has it.
  if command -v checkbashisms >/dev/null 2>&1; then
    checkbashisms "$scripts/$script" || fail "checkbashisms $script"
  fi
done

# This machine's referrald account and directory, which must stay as they are.
host() {
  getent passwd referrald || true
  getent group referrald || true
  ls -ld /var/lib/referrald 2>/dev/null || true
}
host_before="$(host)"

sb="$(mktemp -d)"
trap 'rm -rf "$sb"' EXIT

# --- The shim: one script, linked under each command's name.
cat >"$sb/shim" <<'SHIM'
#!/bin/sh
# A command the maintainer scripts call, logged and emulated on the sandbox $SHIM_M.
set -u
PATH=$SHIM_PATH
name=${0##*/}
m=$SHIM_M
st=$m/state
{
  printf '%s' "$name"
  for a in "$@"; do
    case $a in
      '' | *[!A-Za-z0-9_./:=+@%,-]*) printf " '%s'" "$a" ;;
      *) printf ' %s' "$a" ;;
    esac
  done
  printf '\n'
} >>"$m/log"

die() {
  echo "$name: $*" >&2
  exit 1
}
unexpected() {
  echo "UNEXPECTED: $name $*" >>"$m/log"
  die "unexpected call (test shim): $*"
}
# The fake root's copy of an absolute path (the scripts name only absolute paths).
fake() {
  case $1 in
    /*) printf '%s%s' "$m/root" "$1" ;;
    *) return 1 ;;
  esac
}
has() { grep -q "^$2:" "$st/$1"; }
next_id() {
  id=$(cat "$st/next_id")
  echo $((id + 1)) >"$st/next_id"
  echo "$id"
}
systemd_runs() { [ -d "$REFERRALD_SYSTEMD_RUN_DIR" ]; }
unit_state() { # UNIT ACTION: a start, restart or stop, as systemd would do it.
  case $2 in
    start | restart)
      [ ! -e "$st/dsh/$1.masked" ] || die "Unit $1 is masked."
      touch "$st/unit/$1.running"
      echo "$2" >>"$st/unit/$1.starts"
      ;;
    stop) rm -f "$st/unit/$1.running" ;;
    *) unexpected "$2 $1" ;;
  esac
}

case $name in
  getent)
    [ $# = 2 ] || unexpected "$@"
    case $1 in passwd | group) ;; *) unexpected "$@" ;; esac
    grep "^$2:" "$st/$1" || exit 2
    ;;

  addgroup)
    system=no
    while [ $# -gt 1 ]; do
      case $1 in
        --system) system=yes ;;
        --quiet) ;;
        *) unexpected "option $1" ;;
      esac
      shift
    done
    [ $# = 1 ] && [ $system = yes ] || unexpected "not one system group"
    if has group "$1"; then
      gid=$(grep "^$1:" "$st/group" | cut -d: -f3)
      [ "$gid" -lt 1000 ] || die "The group \`$1' already exists and is not a system group."
      exit 0
    fi
    echo "$1:x:$(next_id):" >>"$st/group"
    ;;

  adduser)
    system=no group=no ingroup='' home='' create_home=yes gecos=''
    while [ $# -gt 1 ]; do
      case $1 in
        --system) system=yes ;;
        --group) group=yes ;;
        --ingroup) ingroup=$2 && shift ;;
        --home) home=$2 && shift ;;
        --no-create-home) create_home=no ;;
        --gecos | --comment) gecos=$2 && shift ;;
        --quiet | --disabled-password | --disabled-login) ;;
        *) unexpected "option $1" ;;
      esac
      shift
    done
    [ $# = 1 ] && [ $system = yes ] || unexpected "not one system user"
    user=$1
    if has passwd "$user"; then
      uid=$(grep "^$user:" "$st/passwd" | cut -d: -f3)
      [ "$uid" -lt 1000 ] || die "The user \`$user' already exists, but is not a system user."
      exit 0
    fi
    uid=$(next_id)
    if [ $group = yes ]; then
      [ -z "$ingroup" ] || unexpected "--group and --ingroup"
      has group "$user" && die "The group \`$user' already exists."
      echo "$user:x:$uid:" >>"$st/group"
      gid=$uid
    elif [ -n "$ingroup" ]; then
      has group "$ingroup" || die "The group \`$ingroup' does not exist."
      gid=$(grep "^$ingroup:" "$st/group" | cut -d: -f3)
    else
      gid=65534
    fi
    [ -n "$home" ] || home=/nonexistent
    echo "$user:x:$uid:$gid:$gecos:$home:/usr/sbin/nologin" >>"$st/passwd"
    if [ $create_home = yes ] && [ "$home" != /nonexistent ]; then
      mkdir -p "$(fake "$home")"
    fi
    ;;

  mkdir)
    opts=''
    while [ $# -gt 0 ]; do
      case $1 in
        -p) opts="$opts -p" ;;
        -m) opts="$opts -m $2" && shift ;;
        -*) unexpected "option $1" ;;
        *) break ;;
      esac
      shift
    done
    [ $# -gt 0 ] || unexpected "no directory"
    for d in "$@"; do
      f=$(fake "$d") || unexpected "relative path $d"
      # shellcheck disable=SC2086
      mkdir $opts "$f" || exit 1
    done
    ;;

  chown)
    [ $# -ge 2 ] || unexpected "$@"
    case $1 in -*) unexpected "option $1" ;; esac
    spec=$1
    shift
    user=${spec%%:*}
    group=${spec#*:}
    [ "$group" != "$spec" ] || group=''
    has passwd "$user" || die "invalid user: '$spec'"
    [ -z "$group" ] || has group "$group" || die "invalid group: '$spec'"
    for p in "$@"; do
      f=$(fake "$p") || unexpected "relative path $p"
      [ -e "$f" ] || die "cannot access '$p': No such file or directory"
      grep -v "^$p " "$st/owners" >"$st/owners.new" || true
      echo "$p $spec" >>"$st/owners.new"
      mv "$st/owners.new" "$st/owners"
    done
    ;;

  chmod)
    [ $# -ge 2 ] || unexpected "$@"
    case $1 in [0-7][0-7][0-7] | [0-7][0-7][0-7][0-7]) ;; *) unexpected "mode $1" ;; esac
    mode=$1
    shift
    for p in "$@"; do
      f=$(fake "$p") || unexpected "relative path $p"
      chmod "$mode" "$f" || exit 1
    done
    ;;

  dpkg-statoverride)
    [ $# = 2 ] && [ "$1" = --list ] || unexpected "$@"
    grep " $2\$" "$st/statoverride" || exit 1
    ;;

  deb-systemd-helper)
    [ "${1:-}" != --quiet ] || shift
    [ $# = 2 ] || unexpected "$@"
    u=$st/dsh/$2
    case $1 in
      # First installation (no state yet) or enabled: true.
      was-enabled) [ ! -e "$u.known" ] || [ -e "$u.enabled" ] ;;
      enable) touch "$u.known" "$u.enabled" ;;
      update-state) touch "$u.known" ;;
      mask) touch "$u.masked" ;;
      unmask) rm -f "$u.masked" ;;
      purge) rm -f "$u.known" "$u.enabled" ;;
      *) unexpected "$@" ;;
    esac
    ;;

  deb-systemd-invoke)
    [ $# = 2 ] || unexpected "$@"
    # Like the real one: nothing without systemd; no start of a disabled unit.
    systemd_runs || exit 0
    case $1 in
      start | restart)
        if [ -e "$st/dsh/$2.known" ] && [ ! -e "$st/dsh/$2.enabled" ]; then exit 0; fi
        ;;
    esac
    unit_state "$2" "$1"
    ;;

  systemctl)
    systemd_runs || die "System has not been booted with systemd as init system (PID 1)."
    case "$*" in
      '--system daemon-reload') echo reload >>"$st/unit/daemon-reloads" ;;
      'start '* | 'restart '* | 'stop '*) [ $# = 2 ] || unexpected "$@" && unit_state "$2" "$1" ;;
      *) unexpected "$@" ;;
    esac
    ;;

  *) unexpected "$@" ;;
esac
SHIM
chmod 0755 "$sb/shim"

shimmed="mkdir getent addgroup adduser dpkg-statoverride chown chmod deb-systemd-helper
  deb-systemd-invoke systemctl"

# A fresh machine in $sb/m: machine systemd|no-systemd [no-init-system-helpers]
m="$sb/m"
machine() {
  rm -rf "$m"
  mkdir -p "$m/bin" "$m/root" "$m/state/dsh" "$m/state/unit"
  for c in $shimmed; do
    if [ "${2:-}" = no-init-system-helpers ]; then
      case $c in deb-systemd-helper | deb-systemd-invoke) continue ;; esac
    fi
    ln -s "$sb/shim" "$m/bin/$c"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/bash' \
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >"$m/state/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$m/state/group"
  echo 100 >"$m/state/next_id"
  : >"$m/state/owners"
  : >"$m/state/statoverride"
  : >"$m/log"
  [ "$1" = no-systemd ] || mkdir -p "$m/run/systemd/system"
  step=""
}

# run SCRIPT ARGS...: the script as dpkg runs it (umask 022), with only the shims in PATH.
run() {
  step="$*"
  : >"$m/log"
  local status=0
  (
    umask 022
    exec timeout 10 env -i PATH="$m/bin" SHIM_M="$m" SHIM_PATH="$PATH" \
      REFERRALD_SYSTEMD_RUN_DIR="$m/run/systemd/system" ${dpkg_root:+DPKG_ROOT="$dpkg_root"} \
      /bin/sh "$scripts/$1" "${@:2}"
  ) >"$m/out" 2>"$m/err" || status=$?
  if [ "$status" != 0 ]; then
    cat "$m/log" "$m/out" "$m/err" >&2
    fail "'$step' exited with status $status"
  fi
  ! grep -q UNEXPECTED "$m/log" || fail "'$step': $(grep UNEXPECTED "$m/log")"
}
dpkg_root=""

# expect_log <<EOF: the calls the last step made, in order.
expect_log() {
  local want
  want="$(cat)"
  if [ "$(cat "$m/log")" != "$want" ]; then
    diff -u <(echo "$want") "$m/log" >&2 || true
    fail "'$step' made other calls than expected (- expected, + made)"
  fi
}

count() { grep -c "^$2:" "$m/state/$1" || true; }
field() { grep "^$2:" "$m/state/$1" | cut -d: -f"$3"; }
check_account() {
  [ "$(count passwd referrald)" = 1 ] || fail "'$step': $(count passwd referrald) referrald users"
  [ "$(count group referrald)" = 1 ] || fail "'$step': $(count group referrald) referrald groups"
  local uid
  uid="$(field passwd referrald 3)"
  [ "$uid" -lt 1000 ] || fail "'$step': referrald is not a system user (uid $uid)"
  [ "$(field passwd referrald 6)" = /var/lib/referrald ] ||
    fail "'$step': referrald's home is '$(field passwd referrald 6)'"
}
check_dir() {
  [ -d "$m/root/var/lib/referrald" ] || fail "'$step': no /var/lib/referrald"
  [ "$(grep '^/var/lib/referrald ' "$m/state/owners" | cut -d' ' -f2)" = referrald:referrald ] ||
    fail "'$step': /var/lib/referrald is not owned by referrald:referrald:" \
      "$(cat "$m/state/owners")"
  [ "$(stat -c %a "$m/root/var/lib/referrald")" = 750 ] ||
    fail "'$step': /var/lib/referrald has mode $(stat -c %a "$m/root/var/lib/referrald")"
}
# is ITEM yes|no: enabled, masked, known (deb-systemd-helper's state), running (the unit).
is() {
  local f
  case $1 in
    running) f="$m/state/unit/referrald.service.running" ;;
    *) f="$m/state/dsh/referrald.service.$1" ;;
  esac
  local got=no
  [ ! -e "$f" ] || got=yes
  [ "$got" = "$2" ] || fail "'$step': $1 is $got, expected $2"
}
snapshot() {
  (
    cd "$m/state"
    cat passwd group owners
    ls dsh
  )
  stat -c '%n %a' "$m/root/var/lib/referrald"
}

configure_fresh='mkdir -p /var/lib/referrald
getent group referrald
addgroup --system referrald
getent passwd referrald
adduser --system --ingroup referrald --home /var/lib/referrald --no-create-home --gecos '"'referrald daemon'"' referrald
dpkg-statoverride --list /var/lib/referrald
chown referrald:referrald /var/lib/referrald
chmod 0750 /var/lib/referrald'
configure_again='mkdir -p /var/lib/referrald
getent group referrald
getent passwd referrald
dpkg-statoverride --list /var/lib/referrald
chown referrald:referrald /var/lib/referrald
chmod 0750 /var/lib/referrald'
enable='deb-systemd-helper unmask referrald.service
deb-systemd-helper --quiet was-enabled referrald.service
deb-systemd-helper enable referrald.service'

# === systemd runs, init-system-helpers installed.
machine systemd

# A first installation: user and group made once, the directory given to them (0750), the
# unit enabled and started.
run postinst configure
expect_log <<EOF
$configure_fresh
$enable
systemctl --system daemon-reload
deb-systemd-invoke start referrald.service
EOF
check_account
[ "$(field passwd referrald 4)" = "$(field group referrald 3)" ] ||
  fail "'$step': referrald's primary group is not referrald"
check_dir
is enabled yes
is masked no
is running yes
before="$(snapshot)"
# The server's files in the directory (no chown -R touches them: the log says so).
mkdir -p "$m/root/var/lib/referrald/db"
echo data >"$m/root/var/lib/referrald/db/CURRENT"

# The same version configured again (dpkg-reconfigure, dpkg --configure -a): nothing made
# twice, a restart.
run postinst configure 0.3.0
expect_log <<EOF
$configure_again
$enable
systemctl --system daemon-reload
deb-systemd-invoke restart referrald.service
EOF
check_account
check_dir
[ "$(snapshot)" = "$before" ] || fail "'$step' changed the state: $(diff <(echo "$before") <(snapshot))"
is running yes

# An upgrade: old prerm upgrade (no stop), old postrm upgrade, new postinst configure OLD
# (restart).
run prerm upgrade 0.4.0
expect_log </dev/null
is running yes
run postrm upgrade 0.4.0
expect_log <<EOF
systemctl --system daemon-reload
EOF
run postinst configure 0.3.0
expect_log <<EOF
$configure_again
$enable
systemctl --system daemon-reload
deb-systemd-invoke restart referrald.service
EOF
[ "$(snapshot)" = "$before" ] || fail "'$step' changed the state: $(diff <(echo "$before") <(snapshot))"
[ "$(grep -c . "$m/state/unit/referrald.service.starts")" = 3 ] ||
  fail "the unit was not started once and restarted twice: $(cat "$m/state/unit/referrald.service.starts")"

# A failed upgrade rolled back: postinst abort-upgrade NEW touches no account, restarts.
run postinst abort-upgrade 0.4.0
expect_log <<EOF
$enable
systemctl --system daemon-reload
deb-systemd-invoke restart referrald.service
EOF

# Removal: prerm stops the unit, postrm masks it (only its conffile is left) and reloads.
run prerm remove
expect_log <<EOF
deb-systemd-invoke stop referrald.service
EOF
is running no
run postrm remove
expect_log <<EOF
deb-systemd-helper mask referrald.service
systemctl --system daemon-reload
EOF
is masked yes
is enabled yes
[ -f "$m/root/var/lib/referrald/db/CURRENT" ] || fail "'$step' deleted the data"

# Installed again from the config-files state: the mask is undone, the unit starts again.
run postinst configure 0.3.0
expect_log <<EOF
$configure_again
$enable
systemctl --system daemon-reload
deb-systemd-invoke restart referrald.service
EOF
is masked no
is running yes
run prerm remove
run postrm remove
is masked yes

# Purge: deb-systemd-helper forgets the unit (and its mask); the user, the group and the
# data stay.
run postrm purge
expect_log <<EOF
deb-systemd-helper purge referrald.service
deb-systemd-helper unmask referrald.service
systemctl --system daemon-reload
EOF
is known no
is enabled no
is masked no
is running no
check_account
[ -f "$m/root/var/lib/referrald/db/CURRENT" ] || fail "'$step' deleted the data"

# Installed again after the purge: the user is there already, the unit is enabled anew.
run postinst configure
expect_log <<EOF
$configure_again
$enable
systemctl --system daemon-reload
deb-systemd-invoke start referrald.service
EOF
check_account
is enabled yes
is running yes

# An administrator's choices stay: a unit disabled by hand is not enabled again by an
# upgrade (update-state) nor started; a dpkg-statoverride of the directory is left alone.
rm "$m/state/dsh/referrald.service.enabled"
rm "$m/state/unit/referrald.service.running"
echo "root referrald 0770 /var/lib/referrald" >"$m/state/statoverride"
run postinst configure 0.3.0
expect_log <<EOF
mkdir -p /var/lib/referrald
getent group referrald
getent passwd referrald
dpkg-statoverride --list /var/lib/referrald
deb-systemd-helper unmask referrald.service
deb-systemd-helper --quiet was-enabled referrald.service
deb-systemd-helper update-state referrald.service
systemctl --system daemon-reload
deb-systemd-invoke restart referrald.service
EOF
is enabled no
is running no

# === A referrald user made by hand, without a referrald group (in nogroup): the group is
# made, no second user, and the directory can be given to referrald:referrald.
machine systemd
echo 'referrald:x:150:65534::/var/lib/referrald:/usr/sbin/nologin' >>"$m/state/passwd"
run postinst configure
expect_log <<EOF
mkdir -p /var/lib/referrald
getent group referrald
addgroup --system referrald
getent passwd referrald
dpkg-statoverride --list /var/lib/referrald
chown referrald:referrald /var/lib/referrald
chmod 0750 /var/lib/referrald
$enable
systemctl --system daemon-reload
deb-systemd-invoke start referrald.service
EOF
check_account
check_dir

# A referrald group without the user: the user is made in it.
machine systemd
echo 'referrald:x:160:' >>"$m/state/group"
run postinst configure
grep -qx 'adduser --system --ingroup referrald .* referrald' "$m/log" ||
  fail "'$step' did not make the user in the existing group: $(cat "$m/log")"
! grep -q '^addgroup' "$m/log" || fail "'$step' made the group again"
check_account
[ "$(field passwd referrald 4)" = 160 ] || fail "'$step': referrald's primary group is not 160"
check_dir

# === No systemd (a container, a chroot, another init): the unit is enabled for a later
# boot with systemd, nothing starts, stops or reloads.
machine no-systemd
run postinst configure
expect_log <<EOF
$configure_fresh
$enable
EOF
check_account
check_dir
is enabled yes
run postinst configure 0.3.0
expect_log <<EOF
$configure_again
$enable
EOF
run prerm upgrade 0.4.0
expect_log </dev/null
run postrm upgrade 0.4.0
expect_log </dev/null
run prerm remove
expect_log </dev/null
run postrm remove
expect_log <<EOF
deb-systemd-helper mask referrald.service
EOF
run postrm purge
expect_log <<EOF
deb-systemd-helper purge referrald.service
deb-systemd-helper unmask referrald.service
EOF
is running no
check_account

# === systemd runs, but init-system-helpers is not installed (postrm purge after it was
# removed): systemctl directly.
machine systemd no-init-system-helpers
run postinst configure
expect_log <<EOF
$configure_fresh
systemctl --system daemon-reload
systemctl start referrald.service
EOF
is running yes
run prerm remove
expect_log <<EOF
systemctl stop referrald.service
EOF
is running no
run postrm remove
expect_log <<EOF
systemctl --system daemon-reload
EOF
run postrm purge
expect_log <<EOF
systemctl --system daemon-reload
EOF

# === DPKG_ROOT set (dpkg --root --force-script-chrootless): nothing at all.
machine systemd
dpkg_root="$m/root"
for call in "postinst configure" "postinst configure 0.3.0" "prerm remove" "postrm remove" \
  "postrm purge"; do
  # shellcheck disable=SC2086
  run $call
  expect_log </dev/null
done
dpkg_root=""

[ "$(host)" = "$host_before" ] || fail "this machine's referrald user, group or directory changed"

echo "maintainer_scripts_test: postinst, prerm and postrm of $scripts passed (install," \
  "reconfigure, upgrade, remove, purge; with and without systemd)" >&2
