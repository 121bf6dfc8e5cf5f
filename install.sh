#!/usr/bin/env bash
# Hearth installer.
#   ./install.sh --local   set up .venv and run Hearth in the foreground on unprivileged ports (DNS 127.0.0.1:5353)
#   ./install.sh --test    set up .venv with the test tools (and the system packages they need), run every test
#   ./install.sh --bench   set up .venv and the benchmarks' peers (dnsmasq, unbound, dnsperf, py-spy)
#   ./install.sh --proxy   set up .venv and the web proxy's own .venv-proxy (mitmproxy)
#   ./install.sh --system  install on this machine (a Raspberry Pi): /opt/hearth, /etc/hearth, systemd units
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
    # chromium (Debian's, driven by playwright: no browser download) and npm for the admin's browser tests.
    apt_install iproute2 openssl chromium
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
--system)
    [ "$(id -u)" = 0 ] || die "run --system as root (sudo ./install.sh --system)"
    apt_install python3-venv iproute2 openssl
    id hearth >/dev/null 2>&1 || useradd --system --home /var/lib/hearth --shell /usr/sbin/nologin hearth
    install -d -o hearth -g hearth -m 0750 /var/lib/hearth
    install -d -m 0755 /opt/hearth
    install -d -o hearth -g hearth -m 0750 /etc/hearth
    rsync -a --delete --exclude .venv --exclude .git --exclude var "$HERE/" /opt/hearth/src/ 2>/dev/null \
        || { rm -rf /opt/hearth/src; cp -a "$HERE" /opt/hearth/src; rm -rf /opt/hearth/src/.venv /opt/hearth/src/.git; }
    VENV=/opt/hearth/venv
    # The system's Python: the service user must be able to run it (a Python under /root is not reachable).
    [ -z "${PYTHON:-}" ] && [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    # Editable: the curated lists stay in /opt/hearth/src/blocklists, where the package looks for them.
    "$VENV/bin/pip" install -q --disable-pip-version-check -e /opt/hearth/src
    starter_config /etc/hearth/hearth.yaml /var/lib/hearth '["0.0.0.0:53", "[::]:53"]' "0.0.0.0:80"
    # The admin runs as hearth and saves the config (atomically, beside it): the folder and file are its own.
    chown hearth:hearth /etc/hearth /etc/hearth/hearth.yaml && chmod 0750 /etc/hearth && chmod 0640 /etc/hearth/hearth.yaml
    ln -sf "$VENV/bin/hearth" /usr/local/bin/hearth      # `hearth pause emma` from any shell
    for unit in hearth-dns hearth-admin; do
        sed -e "s|@HEARTH@|$VENV/bin/hearth|g" "systemd/$unit.service" > "/etc/systemd/system/$unit.service"
    done
    su -s /bin/sh hearth -c "HEARTH_CONFIG=/etc/hearth/hearth.yaml $VENV/bin/hearth check-config" \
        || die "the installed Hearth cannot read its config as the hearth user"
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        systemctl enable --now hearth-dns.service hearth-admin.service
        say "Hearth is running. Point your router's DNS at this machine's address, and open http://$(hostname -I 2>/dev/null | cut -d' ' -f1)/ to set the admin password."
    else
        say "installed; this machine does not run systemd: start it with: su -s /bin/sh hearth -c '$VENV/bin/hearth dns'"
    fi
    ;;
*)
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
