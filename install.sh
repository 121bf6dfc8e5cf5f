#!/usr/bin/env bash
# Hearth installer.
#   sudo ./install.sh [--system]    install on this machine (a Raspberry Pi), or upgrade it in place: code in
#                                   /opt/hearth, config in /etc/hearth (never overwritten), data in /var/lib/hearth,
#                                   systemd units. Run it again to upgrade: same config and data, services
#                                   restarted only if something changed.
#   sudo ./install.sh --uninstall   remove the services and the code; keep the config and the data
#   sudo ./install.sh --purge       remove everything Hearth put here: services, code, config, data, the user
#        with: --root DIR           install into DIR as if it were / (an image, a test); starts nothing
#              --yes                answer yes (turn off systemd-resolved's stub listener if it holds port 53)
#   ./install.sh --local            set up .venv, run Hearth in the foreground on unprivileged ports (DNS :5353)
#   ./install.sh --test [ARGS]      set up .venv with the test tools and their system packages, run pytest ARGS
#   ./install.sh --bench            set up .venv and the benchmarks' peers (dnsmasq, unbound, dnsperf, py-spy)
#   ./install.sh --proxy            set up .venv and the web proxy's own .venv-proxy (mitmproxy)
#   ./install.sh --help             this text
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else die "need root for: $*"; fi
}

# Install Debian packages that are missing (only those: a CI run on a warm machine costs nothing).
apt_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing system packages (${missing[*]}) and no apt-get to install them"
    say "installing system packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

make_venv() {   # $1: pip extras ("" or "[test]")
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11 or newer is needed"
    if [ ! -x "$VENV/bin/python" ]; then
        "$PY" -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; "$PY" -m venv "$VENV"; }
    fi
    # The install is editable: code changes need no reinstall, only a change of dependencies does.
    local stamp="$VENV/.hearth-installed" want
    want="$1 $(sha256sum pyproject.toml | cut -c1-16) $("$VENV/bin/python" -V 2>&1)"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        say "installing Hearth into $VENV"
        "$VENV/bin/pip" install -q --disable-pip-version-check -e ".$1" 2>&1 | grep -v "^WARNING: Location" || true
        "$VENV/bin/python" -c "import appliance, dnslib, yaml, marisa_trie" || die "the Python install failed"
        echo "$want" > "$stamp"
    fi
    compile_tree "$HERE"
}

# Python compiles a module each time it imports it unless a .pyc is beside it, and a user who may not write the
# tree (the hearth service user, a parent's own account) or PYTHONDONTWRITEBYTECODE=1 never gets one written:
# every `hearth pause` then compiled ~60 modules (0.3 s here, more on a Pi). Compile them now (only what changed).
compile_tree() {   # $1: the source tree
    "$VENV/bin/python" -m compileall -q -j0 "$1/appliance" "$1/web_admin" >/dev/null \
        || say "could not compile $1 (Hearth still runs, slower to start)"
}

starter_config() {  # $1: path, $2: data_dir, $3: DNS listen, $4: the admin's listen
    [ -f "$1" ] && return 0
    say "writing a starter config to $1 (edit it: devices, profiles, schedules)"
    mkdir -p "$(dirname "$1")"
    cat > "$1" <<EOF
# Hearth's policy: the one source of truth. Check it with: hearth check-config $1
schema_version: 2
timezone: $(cat /etc/timezone 2>/dev/null || echo UTC)
data_dir: $2
dns:
  listen: $3
  upstreams: ["9.9.9.9", "149.112.112.112"]   # Quad9; tls://9.9.9.9#dns.quad9.net for DNS over TLS
  block_answer: null_ip
  # allow_networks: the home's private networks by default (10/8, 172.16/12, 192.168/16, fc00::/7, fe80::/10,
  # loopback, 100.64/10); list yours here to narrow it. Hearth never answers the internet.
devices: []
#  - {name: emma-phone, mac: "aa:bb:cc:dd:ee:ff"}
profiles: {}
#  emma:
#    devices: [emma-phone]
#    block: [random-chat, dating, risky-social, adult, gambling]
#    block_apps: [tiktok, snapchat]
#    schedules:
#      - {name: bedtime, days: sun-thu, from: "21:00", to: "07:00", block: everything}
default_profile:
  block: [random-chat, adult]
admin:
  listen: "$4"                 # the web admin: open it in a browser; the first visit sets the password
lists:
  sources:
    # Hearth's own adult list is small (it names the big sites); this public list (HaGeZi's NSFW list, GPL-3.0,
    # about 70,000 domains, updated daily) is downloaded when Hearth starts and every night after.
    - {name: hagezi-nsfw, url: "https://raw.githubusercontent.com/hagezi/dns-blocklists/main/wildcard/nsfw-onlydomains.txt", category: adult}
EOF
}

# --- The web proxy (optional): mitmproxy in a venv of its own ----------------------------------------------------
# mitmproxy pins its dependencies tightly (11.0.2, the newest for Python 3.11, holds Flask and h11 back), so it never
# shares Hearth's venv: .venv-proxy (or /opt/hearth/proxy-venv) gets mitmproxy and only the few libraries the addon
# imports from appliance (read from the checkout through PYTHONPATH: `hearth proxy` sets it). The newest Python
# found is used, for mitmproxy 12 (Python 3.12+, as on Raspberry Pi OS Trixie); 3.11 gets mitmproxy 11.0.2.
PROXY_DEPS="pyyaml>=6.0 ruamel.yaml>=0.18 marisa-trie>=1.2 tzdata"
make_proxy_venv() {   # $1: where (default .venv-proxy)
    local venv="${1:-$HERE/.venv-proxy}" py="" stamp want
    case "$(uname -m)" in armv6l|armv7l)
        say "the web proxy is not installed: mitmproxy has no build for a 32-bit Raspberry Pi OS (use the 64-bit OS)"
        return 0 ;;
    esac
    for cand in ${PROXY_PYTHON:-} python3.13 python3.12 "$PY"; do     # PROXY_PYTHON=…: a Python of your choice
        if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            py="$cand"; break
        fi
    done
    [ -n "$py" ] || { say "the web proxy is not installed: it needs Python 3.11 or newer"; return 0; }
    stamp="$venv/.hearth-proxy-installed"
    want="$PROXY_DEPS $("$py" -V 2>&1)"
    [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
    say "installing mitmproxy into $venv ($("$py" -V 2>&1))"
    rm -rf "$venv" && "$py" -m venv "$venv"
    # shellcheck disable=SC2086
    "$venv/bin/pip" install -q --disable-pip-version-check mitmproxy $PROXY_DEPS 2>&1 | grep -v "^WARNING: Location" || true
    "$venv/bin/mitmdump" --version >/dev/null || die "mitmproxy did not install into $venv"
    echo "$want" > "$stamp"
}
# --- end of the web proxy block ------------------------------------------------------------------------------------

usage() { sed -n '2,/^set -e/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; }

# --- the system install, upgrade and removal ------------------------------------------------------------------
# Every path is under $ROOT ("" on a real install): --root DIR stages an install in DIR for an image or a test,
# with the same layout, users in DIR/etc/passwd, and nothing started.

system_paths() {   # $@: options
    ROOT="" YES=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT="$(mkdir -p "$2" && cd "$2" && pwd)"; shift ;;
        --root=*) ROOT="$(mkdir -p "${1#*=}" && cd "${1#*=}" && pwd)" ;;
        --yes|-y) YES=1 ;;
        *) usage >&2; die "unknown option: $1" ;;
        esac
        shift
    done
    [ "$ROOT" = / ] && ROOT=""
    OPT="$ROOT/opt/hearth" ETC="$ROOT/etc/hearth" DATA="$ROOT/var/lib/hearth"
    UNITS="$ROOT/etc/systemd/system" BIN="$ROOT/usr/local/bin"
    VENV="$OPT/venv"
    UNIT_NAMES="hearth-dns hearth-admin"
    # systemd only on the real machine, when it runs it (a container or a chroot has none).
    SYSTEMD=""
    [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null && SYSTEMD=1
    return 0
}

# The hearth system user, in $ROOT's own user database (useradd --root), created once.
hearth_user() {
    if [ -n "$ROOT" ]; then
        install -d -m 0755 "$ROOT/etc"
        for f in passwd group; do [ -f "$ROOT/etc/$f" ] || grep "^root:" "/etc/$f" > "$ROOT/etc/$f"; done
        for f in shadow gshadow; do [ -f "$ROOT/etc/$f" ] || { grep "^root:" "/etc/$f" > "$ROOT/etc/$f" || true; chmod 0640 "$ROOT/etc/$f"; }; done
    fi
    if ! grep -q "^hearth:" "$ROOT/etc/passwd"; then
        # (In a staged root without /usr/sbin/nologin useradd warns; the shell is right for the real machine.)
        useradd ${ROOT:+--root "$ROOT"} --system --user-group --home-dir /var/lib/hearth --no-create-home \
            --shell /usr/sbin/nologin --comment "Hearth DNS filter" hearth 2>&1 | grep -v "non-executable shell" >&2 || true
        grep -q "^hearth:" "$ROOT/etc/passwd" || die "could not create the hearth user"
        say "created the system user hearth"
    fi
    HEARTH_IDS="$(awk -F: '$1 == "hearth" { print $3 ":" $4 }' "$ROOT/etc/passwd")"
    [ -n "$HEARTH_IDS" ] || die "could not create the hearth user"
}

# What this machine is: warn on what was never tried, stop on what cannot work.
check_machine() {
    local os="" arch
    [ -r /etc/os-release ] && os="$(. /etc/os-release; echo "${ID:-} ${VERSION_CODENAME:-}")"
    case "$os" in
    *bookworm*|*trixie*) ;;
    *) say "warning: Hearth is made for Raspberry Pi OS or Debian 12 (bookworm) / 13 (trixie); this is: ${os:-unknown}" ;;
    esac
    arch="$(uname -m)"
    case "$arch" in
    aarch64|armv7l|armv8l|x86_64) ;;
    armv6l) die "this is a 32-bit ARMv6 Pi (Zero or 1): too small for Hearth (it needs a Pi 3 or newer with 1 GB)" ;;
    *) say "warning: untested architecture $arch" ;;
    esac
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
        || die "Python 3.11 or newer is needed ($("$PY" -V 2>&1 || echo none) here): use Raspberry Pi OS bookworm or newer"
    command -v useradd >/dev/null || die "useradd is missing (install the passwd package)"
}

# A digest of a tree's files (names and contents), to tell "new code" from "the same code again".
tree_digest() {
    [ -d "$1" ] || { echo none; return; }
    (cd "$1" && find . -type f ! -path './.git/*' ! -path '*/__pycache__/*' ! -path './hearth.egg-info/*' \
        ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -c1-16)
}

# Copy the code to $OPT/src: beside it first, then swapped in, so a failed copy leaves the old code.
sync_code() {
    local new="$OPT/src.new"
    rm -rf "$new" && install -d -m 0755 "$new"
    tar -C "$HERE" --exclude=./.venv --exclude=./.git --exclude=./var --exclude=./hearth.yaml \
        --exclude=./tests/web_admin/.node --exclude=./tests/artifacts --exclude='__pycache__' \
        --exclude=./hearth.egg-info -cf - . | tar -C "$new" --no-same-owner -xf -
    if [ -d "$OPT/src" ]; then mv "$OPT/src" "$OPT/src.old"; fi
    mv "$new" "$OPT/src"
    rm -rf "$OPT/src.old"
    chmod -R u=rwX,go=rX "$OPT/src"
}

# The virtual environment: made once per Python version; dependencies installed again only when the pinned set
# changes (the install is editable: new code needs no reinstall).
system_venv() {
    local stamp="$VENV/.hearth-installed" want
    want="$(cat "$OPT/src/pyproject.toml" "$OPT/src/constraints.txt" 2>/dev/null | sha256sum | cut -c1-16) $("$PY" -V 2>&1)"
    if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        DEPS_CHANGED=""
        return 0
    fi
    say "installing Hearth's Python packages into $VENV (a few minutes on a Pi)"
    [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -V 2>&1)" = "$("$PY" -V 2>&1)" ] || { rm -rf "$VENV"; "$PY" -m venv "$VENV"; }
    local constraints=()
    [ -f "$OPT/src/constraints.txt" ] && constraints=(-c "$OPT/src/constraints.txt")
    # Editable: the curated lists stay in $OPT/src/blocklists, where the package looks for them.
    "$VENV/bin/pip" install -q --disable-pip-version-check "${constraints[@]}" -e "$OPT/src" 2>&1 \
        | grep -v "^WARNING: Location" || true
    "$VENV/bin/python" -c "import appliance, dnslib, yaml, marisa_trie, flask, argon2" \
        || die "the Python install failed (see above); nothing of the running Hearth was changed but its code"
    echo "$want" > "$stamp"
    DEPS_CHANGED=1
}

# The units from systemd/, with the installed paths; CHANGED_UNITS says which differ from what was there.
install_units() {
    install -d -m 0755 "$UNITS"
    CHANGED_UNITS=""
    local unit tmp
    for unit in $UNIT_NAMES hearth-proxy; do
        tmp="$(mktemp)"
        sed -e "s|@HEARTH@|/opt/hearth/venv/bin/hearth|g" "$OPT/src/systemd/$unit.service" > "$tmp"
        if ! cmp -s "$tmp" "$UNITS/$unit.service"; then
            install -m 0644 "$tmp" "$UNITS/$unit.service"
            CHANGED_UNITS="$CHANGED_UNITS $unit"
        fi
        rm -f "$tmp"
    done
}

# Port 53: who holds it, and the fix. The resolved stub (Ubuntu, some Debian images) can be turned off here.
check_port_53() {
    local who
    who="$("$VENV/bin/python" -c 'from appliance import ports; h = ports.holder(53); print(f"{h.name}\t{h.pid}\t{h.advice}" if h else "")' 2>/dev/null || true)"
    [ -z "$who" ] && return 0
    local name="${who%%	*}" rest="${who#*	}"
    local pid="${rest%%	*}" advice="${rest#*	}"
    case "$name" in hearth*|python*) return 0 ;; esac       # Hearth itself, about to be restarted
    say "port 53 (DNS) is held by $name (process $pid): Hearth cannot answer until it is free"
    if [ "$name" = systemd-resolve ] && [ -n "$SYSTEMD" ]; then
        local answer="$YES"
        if [ -z "$answer" ] && [ -t 0 ]; then
            read -r -p "    turn off systemd-resolved's stub listener (the Pi keeps resolving names)? [y/N] " answer \
                || answer=""
            case "$answer" in y|Y|yes) answer=1 ;; *) answer="" ;; esac
        fi
        if [ -n "$answer" ]; then
            install -d -m 0755 /etc/systemd/resolved.conf.d
            printf '# Written by Hearth'"'"'s installer: Hearth answers DNS on port 53.\n[Resolve]\nDNSStubListener=no\n' \
                > /etc/systemd/resolved.conf.d/hearth.conf
            # The stub's resolv.conf points at 127.0.0.53, which no longer answers: use resolved's direct one.
            case "$(readlink /etc/resolv.conf 2>/dev/null)" in
            */run/systemd/resolve/stub-resolv.conf) ln -sf /run/systemd/resolve/resolv.conf /etc/resolv.conf ;;
            esac
            systemctl restart systemd-resolved
            say "turned off systemd-resolved's stub listener (/etc/systemd/resolved.conf.d/hearth.conf)"
            return 0
        fi
    fi
    say "    to fix: $advice"
    say "    then run: sudo systemctl restart hearth-dns"
}

system_install() {
    if [ "$(id -u)" != 0 ]; then
        usage >&2
        die "installing on this machine needs root: sudo ./install.sh"
    fi
    system_paths "$@"
    # The system's Python: the service user must be able to run it (a Python under /root is not reachable).
    [ -z "${PYTHON:-}" ] && [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
    check_machine
    if [ -z "$ROOT" ]; then
        apt_install python3-venv iproute2 openssl
        # 32-bit Pi OS: five packages have no wheel on PyPI (piwheels has them; without it pip builds them).
        [ "$(uname -m)" = armv7l ] && apt_install gcc g++ python3-dev libffi-dev
    fi
    local upgrade="" before after
    [ -x "$VENV/bin/hearth" ] && upgrade=1
    hearth_user
    install -d -o "${HEARTH_IDS%:*}" -g "${HEARTH_IDS#*:}" -m 0750 "$DATA"
    install -d -m 0755 "$OPT" "$BIN"
    install -d -o "${HEARTH_IDS%:*}" -g "${HEARTH_IDS#*:}" -m 0750 "$ETC"
    if [ -n "$upgrade" ] && [ -z "$ROOT" ] && [ -f "$ETC/hearth.yaml" ]; then
        # Before new code touches the data: a backup with the code that wrote it (without the log, to stay small).
        local saved
        saved="$DATA/backups/pre-upgrade-$(date +%Y%m%d-%H%M%S).tar.gz"
        install -d -o "${HEARTH_IDS%:*}" -g "${HEARTH_IDS#*:}" -m 0700 "$DATA/backups"
        if HEARTH_LOG=WARNING "$VENV/bin/hearth" backup --config "$ETC/hearth.yaml" --no-log "$saved" >/dev/null 2>&1; then
            say "saved the config and data before upgrading: $saved"
            ls -1t "$DATA"/backups/pre-upgrade-*.tar.gz 2>/dev/null | tail -n +4 | xargs -r rm -f   # keep three
        fi
    fi
    before="$(tree_digest "$OPT/src")"
    sync_code
    after="$(tree_digest "$OPT/src")"
    system_venv
    compile_tree "$OPT/src"       # sync_code leaves no __pycache__, and the hearth user cannot write one there
    starter_config "$ETC/hearth.yaml" /var/lib/hearth '["0.0.0.0:53", "[::]:53"]' "0.0.0.0:80"
    # The admin runs as hearth and saves the config (atomically, beside it): the folder and file are its own.
    chown "$HEARTH_IDS" "$ETC" "$ETC/hearth.yaml" && chmod 0750 "$ETC" && chmod 0640 "$ETC/hearth.yaml"
    ln -sfn /opt/hearth/venv/bin/hearth "$BIN/hearth"      # `hearth pause emma` from any shell
    install_units
    # The web proxy only when the config has a proxy: section (its unit is installed either way, and inert).
    PROXY=""
    if grep -q '^proxy:' "$ETC/hearth.yaml" 2>/dev/null; then
        PROXY=1
        make_proxy_venv "$OPT/proxy-venv"
    fi
    if [ -z "$ROOT" ]; then
        su -s /bin/sh hearth -c "HEARTH_CONFIG=/etc/hearth/hearth.yaml $VENV/bin/hearth check-config" >/dev/null \
            || die "the installed Hearth cannot read its config as the hearth user (see: hearth check-config)"
    else
        HEARTH_CONFIG="$ETC/hearth.yaml" "$VENV/bin/hearth" check-config >/dev/null \
            || die "the staged config does not pass its checks (see: hearth check-config --config $ETC/hearth.yaml)"
    fi
    local what=""
    [ "$before" != "$after" ] && what="new code"
    [ -n "$DEPS_CHANGED" ] && what="${what:+$what, }Python packages"
    [ -n "$CHANGED_UNITS" ] && what="${what:+$what, }units:$CHANGED_UNITS"
    if [ -z "$upgrade" ]; then say "installed Hearth in $OPT (config $ETC/hearth.yaml, data $DATA)"
    elif [ -n "$what" ]; then say "upgraded Hearth in place ($what); config and data kept"
    else say "Hearth is already up to date: nothing changed"; fi
    if [ -n "$SYSTEMD" ]; then
        systemctl daemon-reload
        check_port_53
        systemctl enable -q hearth-dns.service hearth-admin.service
        if [ -n "$upgrade" ] && [ -n "$what" ]; then
            systemctl restart hearth-dns.service hearth-admin.service && say "restarted hearth-dns and hearth-admin"
        else
            systemctl start hearth-dns.service hearth-admin.service
        fi
        if [ -n "$PROXY" ]; then
            systemctl enable -q hearth-proxy.service
            if [ -n "$upgrade" ] && [ -n "$what" ]; then systemctl restart hearth-proxy.service
            else systemctl start hearth-proxy.service; fi
        fi
        next_steps
    elif [ -n "$ROOT" ]; then
        say "staged in $ROOT: nothing started"
    else
        say "this machine does not run systemd: start Hearth with: su -s /bin/sh hearth -c '$VENV/bin/hearth dns'"
    fi
}

next_steps() {
    local ip ip6 addr v6=""
    ip="$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -m1 -v ':' || true)"
    ip6="$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -m1 ':' || true)"
    addr="${ip:-this machine}"
    [ -n "$ip6" ] && v6=" (and $ip6 for IPv6)"
    cat <<EOT

Hearth is running on $addr$v6.
  1. Open http://$addr/ on your phone or computer: the first visit sets the admin password.
  2. In your router's settings (DHCP or LAN), set the DNS server handed to devices to $addr$v6,
     then turn a phone's Wi-Fi off and on. Give the Pi a fixed address in the router too, so it never changes.
     If the router cannot change the DNS it hands out: set the DNS by hand on each child's device
     (Wi-Fi settings, DNS: $addr), or turn off the router's DHCP and run a DHCP server on this Pi
     (dnsmasq can) that hands out $addr as the DNS server.
  3. Check everything with: hearth doctor
EOT
}

# --uninstall keeps /etc/hearth and /var/lib/hearth (a reinstall finds them); --purge removes them and the user.
system_uninstall() {   # $1: keep | purge; then options
    local mode="$1"
    shift
    [ "$(id -u)" = 0 ] || die "removing Hearth needs root: sudo ./install.sh --${mode/keep/uninstall}"
    system_paths "$@"
    local unit
    if [ -n "$SYSTEMD" ]; then
        for unit in $UNIT_NAMES hearth-proxy; do
            systemctl disable -q --now "$unit.service" 2>/dev/null || true
        done
    fi
    for unit in $UNIT_NAMES hearth-proxy; do rm -f "$UNITS/$unit.service"; done
    [ -n "$SYSTEMD" ] && systemctl daemon-reload
    [ "$(readlink "$BIN/hearth" 2>/dev/null)" = /opt/hearth/venv/bin/hearth ] && rm -f "$BIN/hearth"
    rm -rf "$OPT"
    if [ -z "$ROOT" ] && [ -f /etc/systemd/resolved.conf.d/hearth.conf ]; then
        rm -f /etc/systemd/resolved.conf.d/hearth.conf          # give port 53 back to the resolved stub
        [ -n "$SYSTEMD" ] && systemctl restart systemd-resolved 2>/dev/null || true
    fi
    if [ "$mode" = purge ]; then
        rm -rf "$ETC" "$DATA"
        if grep -q "^hearth:" "$ROOT/etc/passwd" 2>/dev/null; then
            userdel ${ROOT:+--root "$ROOT"} hearth 2>/dev/null || die "could not remove the hearth user"
        fi
        # userdel leaves the group when login.defs does not say USERGROUPS_ENAB (a staged root has none).
        if grep -q "^hearth:" "$ROOT/etc/group" 2>/dev/null; then
            groupdel ${ROOT:+--root "$ROOT"} hearth 2>/dev/null || die "could not remove the hearth group"
        fi
        say "removed Hearth: services, code, config, data and the hearth user"
    else
        say "removed Hearth's services and code; kept the config ($ETC) and the data ($DATA)"
        say "to remove them too: sudo ./install.sh --purge"
    fi
}

case "${1:-}" in
--local)
    make_venv ""
    starter_config "$HERE/hearth.yaml" "./var" '["127.0.0.1:5353"]' "127.0.0.1:8080"
    "$VENV/bin/hearth" check-config --config "$HERE/hearth.yaml"
    say "Hearth answers DNS on 127.0.0.1:5353 — try: dig @127.0.0.1 -p 5353 www.omegle.com (Ctrl-C stops)"
    say "in another terminal: export HEARTH_CONFIG=$HERE/hearth.yaml PATH=\"$VENV/bin:\$PATH\"; hearth status"
    exec "$VENV/bin/hearth" serve --config "$HERE/hearth.yaml"
    ;;
--test)
    # Only what the tests use: ip (network-namespace test), openssl (the DNS-over-TLS test's certificate),
    # faketime (hearth doctor on a Pi that booted in 1970), python3-seccomp (the units' system call filter),
    # chromium (Debian's, driven by playwright: no browser download), zbar-tools (the WireGuard QR code read back)
    # and npm for the admin's browser tests.
    apt_install iproute2 openssl chromium faketime python3-seccomp zbar-tools
    command -v npm >/dev/null || apt_install npm     # a NodeSource node brings its own npm
    make_venv "[test]"
    make_proxy_venv      # the live proxy tests run a real mitmdump
    # axe-core, injected into the admin's pages by the browser tests (git-ignored, installed once).
    AXE="$HERE/tests/web_admin/.node"
    [ -f "$AXE/node_modules/axe-core/axe.min.js" ] || npm install -s --no-audit --no-fund --prefix "$AXE" axe-core@4 >/dev/null \
        || die "could not install axe-core from npm (the admin's accessibility tests need it)"
    shift
    say "running the tests"
    exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
    ;;
--proxy)
    make_venv ""
    make_proxy_venv
    say "ready: .venv/bin/hearth proxy --config hearth.yaml (the config needs a proxy: section)"
    ;;
--bench)
    # The benchmarks' peers and load tools (not needed by the tests): dnsperf, dnsmasq, unbound, dig, py-spy.
    apt_install dnsutils dnsperf dnsmasq-base unbound iproute2 openssl
    make_venv "[test]"
    [ -x "$VENV/bin/py-spy" ] || "$VENV/bin/pip" install -q --disable-pip-version-check py-spy   # bench --profile
    say "ready: .venv/bin/python bench/dns_peers.py, bench/dns_vs_dnsmasq.py (see bench/ for the others)"
    ;;
--system|""|--root|--root=*|--yes|-y)
    [ "${1:-}" = --system ] && shift
    system_install "$@"
    ;;
--uninstall)
    shift
    system_uninstall keep "$@"
    ;;
--purge)
    shift
    system_uninstall purge "$@"
    ;;
--help|-h)
    usage
    exit 0
    ;;
*)
    usage >&2
    exit 2
    ;;
esac
