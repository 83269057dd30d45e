#!/usr/bin/env bash
# Runs on the gateway at boot (door-gateway-console.service): waits for the daemon,
# then prints where its status page is, the certificate's SHA-256 fingerprint and, on
# the boot that created the `admin` account, its one-time password. The same text goes
# to /run/issue.d, so the console's login prompt shows it too; /run is memory, so the
# password is gone at the next reboot (and useless once changed at first login).
set -uo pipefail

unit=door-gateway.service
config=${DOORGW_CONFIG:-/etc/door-gateway/gateway.toml}
state_dir=${DOORGW_STATE_DIR:-/var/lib/door-gateway}
run_dir=${DOORGW_RUN_DIR:-/run} # the environment is for tests; the unit sets none
issue=$run_dir/issue.d/50-door-gateway.issue
wait_s=${DOORGW_CONSOLE_WAIT_S:-120}

daemon_log() { journalctl -b -u "$unit" -o cat --no-pager 2>/dev/null; }

# The unit is Type=notify: "active" means started, the one-time password and the
# certificate's fingerprint already printed. A daemon that cannot start says so.
for _ in $(seq "$wait_s"); do
  if systemctl is-active --quiet "$unit" || systemctl is-failed --quiet "$unit" ||
    daemon_log | grep -q 'cannot start'; then
    break
  fi
  sleep 1
done

password=$(daemon_log | sed -n 's/.*with the one-time password \([^ ]*\) ;.*/\1/p' | tail -n 1)
fingerprint=$(daemon_log | grep -i 'fingerprint' |
  grep -o -E '([0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}|[0-9A-Fa-f]{64}' | tail -n 1)
if [ -z "$fingerprint" ]; then # from the certificate itself, wherever the daemon keeps it
  for cert in "$state_dir"/*.crt "$state_dir"/*cert*.pem "$state_dir"/tls/*.crt; do
    [ -f "$cert" ] || continue
    fingerprint=$(openssl x509 -noout -fingerprint -sha256 -in "$cert" 2>/dev/null | cut -d= -f2)
    [ -n "$fingerprint" ] && break
  done
fi
listen=$(sed -n 's/^listen *= *"\(.*\)"/\1/p' "$config" 2>/dev/null | head -n 1)
port=${listen##*:}
address=$(hostname -I 2>/dev/null | awk '{print $1}')
address=${address:-"(no network address yet)"}
port=${port:-8443}
ssh_state=$(systemctl is-enabled ssh.service 2>/dev/null | head -n 1)
scheme=https
grep -q '^tls *= *"off"' "$config" 2>/dev/null && scheme=http

{
  echo
  echo "================================ door-gateway ================================"
  if systemctl is-active --quiet "$unit"; then
    echo "The gateway is running; every door is locked until it decides otherwise."
  else
    echo "The gateway is NOT running: see 'journalctl -u door-gateway'."
  fi
  echo "Status page:  $scheme://$address:$port/   (or $scheme://$(hostname).local:$port/)"
  if [ -n "$fingerprint" ]; then
    echo "Certificate SHA-256 fingerprint (check it in the browser before you accept it):"
    echo "  $fingerprint"
  fi
  if [ -n "$password" ]; then
    echo "Technician 'admin', one-time password:  $password"
    echo "  (to be changed at the first login)"
  elif systemctl is-active --quiet "$unit"; then
    echo "Technician 'admin': the one-time password was shown at the first boot only."
    echo "  Forgotten? sudo -u door-gateway door-gateway passwd admin --config $config"
  else
    echo "Technician 'admin': a one-time password is made at the gateway's first start."
    echo "  Once it runs: sudo systemctl restart door-gateway-console (shows this again)"
  fi
  echo "SSH is ${ssh_state:-not installed}."
  echo "=============================================================================="
  echo
} >"$run_dir/door-gateway-console.txt"

install -d -m 0755 "$run_dir/issue.d"
install -m 0600 "$run_dir/door-gateway-console.txt" "$issue"
cat "$run_dir/door-gateway-console.txt"
rm -f "$run_dir/door-gateway-console.txt"
