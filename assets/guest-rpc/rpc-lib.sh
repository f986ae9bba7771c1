# /usr/lib/vms/rpc-lib.sh: what the vms rpc services in /etc/vms/rpc.d share (sourced; POSIX sh and
# busybox applets, like the rest of the guest side).

# The VM's user: the one named in /etc/vms/rpc-user (the template's user), root where there is none.
rpc_user() {
  if [ -r /etc/vms/rpc-user ]; then cat /etc/vms/rpc-user; else echo root; fi
}

rpc_home() {
  awk -F: -v u="$1" '$1 == u { print $6 }' /etc/passwd
}

# Prints the problem with a file name that a caller sent, or nothing when it is one plain path
# component (the host checks the same: rpc-names.ts fileNameProblem).
rpc_name_problem() {
  case $1 in ''|.|..|*/*|.vms-incoming*) echo "refused file name"; return ;; esac
  [ "$(printf '%s' "$1" | tr -d '\000-\037\177')" = "$1" ] || echo "refused file name"
}

# The program that opens files and links: xdg-open, unless /etc/vms/opener names another.
rpc_opener() {
  if [ -s /etc/vms/opener ]; then head -n 1 /etc/vms/opener; else echo xdg-open; fi
}

# Runs a command as the VM's user, in its X session when there is one (DISPLAY, XAUTHORITY). With
# RPC_WAIT_DISPLAY=N it first waits up to N seconds for the session where a desktop is installed
# (startx): a disposable booted for this call may still be starting it.
as_rpc_user() {
  _user=$(rpc_user)
  _home=$(rpc_home "$_user")
  if command -v startx >/dev/null 2>&1; then
    _wait=${RPC_WAIT_DISPLAY:-0}
    while [ ! -S /tmp/.X11-unix/X0 ] && [ "$_wait" -gt 0 ]; do sleep 1; _wait=$((_wait - 1)); done
  fi
  set -- HOME="${_home:-/}" USER="$_user" LOGNAME="$_user" "$@"
  [ ! -S /tmp/.X11-unix/X0 ] || set -- DISPLAY=:0 XAUTHORITY="$_home/.Xauthority" "$@"
  if [ "$_user" = root ] || [ "$(id -u)" != 0 ]; then
    env "$@"
  elif command -v runuser >/dev/null 2>&1; then
    (cd "${_home:-/}" 2>/dev/null; runuser -u "$_user" -- env "$@")
  else
    (cd "${_home:-/}" 2>/dev/null; su -s /bin/sh "$_user" -c 'exec env "$@"' -- sh "$@")
  fi
}

# A service that goes on after its work for the caller is done (an opener in a disposable, which lives
# as long as the call): the caller gets exit status 0 now, and its console is free for other calls.
rpc_release_caller() {
  [ -z "${VMS_RPC_RELEASE-}" ] || : >"$VMS_RPC_RELEASE"
}
