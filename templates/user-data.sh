#!/bin/bash
# nommer worker bootstrap: EC2 user-data rendered by feederd (`nommer fleet user-data` prints it).
#
# On a stock Linux AMI (Debian/Ubuntu, Amazon Linux, Fedora) it installs Node.js {{NODE_MAJOR}}+, ffmpeg
# and nommer {{NOMMER_VERSION}} (feederd's own version, fetched from the cluster's bucket with the
# instance role), writes the worker's config, runs `nommer worker` until it has been idle for
# {{IDLE_EXIT_SECONDS}} s (or, drained by feederd's nommer:drain tag, has finished its jobs), then
# powers the instance off. feederd launches instances with
# InstanceInitiatedShutdownBehavior=terminate, so powering off ends the instance (and its bill).
# Anything already on the AMI (node, ffmpeg, this exact nommer) is used as is: to bake an AMI, run
# this script on a builder instance with NOMMER_USERDATA_INSTALL_ONLY=1.
#
# There are no credentials in this script: the AWS SDK and the download below use the instance
# profile's temporary credentials through the metadata service (IMDSv2).
#
# Test switches (never set on a real instance; cloud-init runs user-data with a clean environment):
#   NOMMER_USERDATA_TEST=1        skip the Node/ffmpeg/npm installs, the nommer user and power-off;
#                                 the power-off step writes "$NOMMER_USERDATA_SHUTDOWN_MARKER" instead
#   NOMMER_USERDATA_ROOT=DIR      prefix for every path written (config, data, downloads)
#   NOMMER_BIN=PATH               the nommer to run (e.g. a checkout's bin/nommer)
#   NOMMER_INSTANCE_ID=ID         the worker id, instead of asking the metadata service
set -euo pipefail
umask 022
# cloud-init may run user-data without HOME; npm needs one for its cache.
export HOME=${HOME:-/root}

# ---- rendered by feederd -------------------------------------------------------------------
NOMMER_VERSION={{NOMMER_VERSION}}
NOMMER_PACKAGE_URI={{NOMMER_PACKAGE_URI}}
NOMMER_PACKAGE_SHA256={{NOMMER_PACKAGE_SHA256}}
NOMMER_REGION={{AWS_REGION}}
NOMMER_AWS_ENDPOINT={{AWS_ENDPOINT}}
IDLE_EXIT_SECONDS={{IDLE_EXIT_SECONDS}}
CONCURRENCY={{CONCURRENCY}}
NODE_MAJOR={{NODE_MAJOR}}
# ---------------------------------------------------------------------------------------------

TEST_MODE=${NOMMER_USERDATA_TEST:-0}
INSTALL_ONLY=${NOMMER_USERDATA_INSTALL_ONLY:-0}
ROOT=${NOMMER_USERDATA_ROOT:-}
CONFIG_DIR="$ROOT/etc/nommer"
CONFIG_FILE="$CONFIG_DIR/nommer.config.json"
DATA_DIR="$ROOT/var/lib/nommer"
DOWNLOADS="$ROOT/var/tmp/nommer-bootstrap"
NODE_DIR="$ROOT/opt/node"
APP_DIR="$ROOT/opt/nommer"
WORKER_USER=nommer
IMDS=http://169.254.169.254

log() { printf '%s nommer-bootstrap: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

power_off() {
  if [ "$TEST_MODE" = 1 ]; then
    printf 'shutdown -h now (worker exit %s)\n' "$1" >"${NOMMER_USERDATA_SHUTDOWN_MARKER:?set NOMMER_USERDATA_SHUTDOWN_MARKER in test mode}"
  else
    shutdown -h now
  fi
}

on_exit() {
  local code=$?
  trap - EXIT
  if [ "$INSTALL_ONLY" = 1 ]; then exit "$code"; fi
  # Whatever happened (idle exit, crash, failed install), an instance that runs no worker only
  # costs money: power off, which terminates it. The reason is in the console output.
  log "done (exit $code): powering off"
  power_off "$code"
  exit "$code"
}
trap on_exit EXIT

# IMDSv2: a session token first (feederd launches with HttpTokens=required).
imds() {
  local token
  token=$(curl -fsS --retry 5 --retry-connrefused -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$IMDS/latest/api/token")
  curl -fsS --retry 5 --retry-connrefused -H "X-aws-ec2-metadata-token: $token" "$IMDS/latest/$1"
}

# ---- Node.js -------------------------------------------------------------------------------
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

install_node() {
  export PATH="$NODE_DIR/bin:$PATH"
  if command -v node >/dev/null 2>&1 && [ "$(node_major)" -ge "$NODE_MAJOR" ]; then
    log "using node $(node --version) from the AMI"
    return
  fi
  local arch sums file
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) log "unsupported CPU architecture $(uname -m)"; return 1 ;;
  esac
  local base="https://nodejs.org/dist/latest-v${NODE_MAJOR}.x"
  mkdir -p "$DOWNLOADS" "$NODE_DIR"
  sums=$(curl -fsSL --retry 5 "$base/SHASUMS256.txt")
  file=$(printf '%s\n' "$sums" | awk -v a="linux-$arch.tar.gz" '$2 ~ a"$" { print $2; exit }')
  if [ -z "$file" ]; then log "no linux-$arch build listed at $base"; return 1; fi
  curl -fsSL --retry 5 -o "$DOWNLOADS/$file" "$base/$file"
  (cd "$DOWNLOADS" && printf '%s\n' "$sums" | grep " $file\$" | sha256sum -c -)
  tar -xzf "$DOWNLOADS/$file" -C "$NODE_DIR" --strip-components=1
  log "installed node $(node --version)"
}

# ---- ffmpeg --------------------------------------------------------------------------------
install_ffmpeg() {
  if command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1; then
    log "using ffmpeg from the AMI"
    return
  fi
  if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends ffmpeg ca-certificates
  elif command -v dnf >/dev/null 2>&1; then
    dnf install -y -q ffmpeg || true
  elif command -v yum >/dev/null 2>&1; then
    yum install -y -q ffmpeg || true
  fi
  if ! command -v ffprobe >/dev/null 2>&1; then
    log "ffmpeg/ffprobe are not available from this AMI's package manager (Amazon Linux has none): use a Debian/Ubuntu AMI or bake ffmpeg into the AMI"
    return 1
  fi
}

# ---- nommer, exactly feederd's version ---------------------------------------------------------
installed_nommer_version() { nommer --version 2>/dev/null || true; }

# Downloads an s3:// URI with the instance role, signed by curl (7.75+), so no AWS CLI is needed.
# Credentials go to curl on stdin (a config file), never on its command line.
s3_get() {
  local uri=$1 dest=$2 rest bucket key url key_id secret token
  rest=${uri#s3://}
  bucket=${rest%%/*}
  key=${rest#*/}
  local endpoint=${NOMMER_AWS_ENDPOINT:-${AWS_ENDPOINT_URL_S3:-${AWS_ENDPOINT_URL:-}}}
  if [ -n "$endpoint" ]; then
    # An emulator: path-style addressing.
    url="${endpoint%/}/$bucket/$key"
  else
    url="https://$bucket.s3.$NOMMER_REGION.amazonaws.com/$key"
  fi
  if [ -n "${AWS_ACCESS_KEY_ID:-}" ]; then
    key_id=$AWS_ACCESS_KEY_ID
    secret=${AWS_SECRET_ACCESS_KEY:-}
    token=${AWS_SESSION_TOKEN:-}
  else
    local role creds
    role=$(imds meta-data/iam/security-credentials/ | head -n 1)
    if [ -z "$role" ]; then log "the instance has no IAM instance profile: it cannot read $uri"; return 1; fi
    creds=$(imds "meta-data/iam/security-credentials/$role")
    # shellcheck disable=SC2016 # the single-quoted text is JavaScript, not shell
    read -r key_id secret token < <(printf '%s' "$creds" | node -e '
      const c = JSON.parse(require("fs").readFileSync(0, "utf8"));
      process.stdout.write([c.AccessKeyId, c.SecretAccessKey, c.Token].join(" ") + "\n");')
  fi
  mkdir -p "$(dirname "$dest")"
  {
    printf 'user = "%s:%s"\n' "$key_id" "$secret"
    if [ -n "$token" ]; then printf 'header = "x-amz-security-token: %s"\n' "$token"; fi
  } | curl -fsS --retry 5 --aws-sigv4 "aws:amz:$NOMMER_REGION:s3" -K - -o "$dest" "$url"
}

install_nommer() {
  if [ "$(installed_nommer_version)" = "$NOMMER_VERSION" ]; then
    log "using nommer $NOMMER_VERSION from the AMI"
    return
  fi
  local tarball
  tarball="$DOWNLOADS/$(basename "$NOMMER_PACKAGE_URI")"
  log "fetching nommer $NOMMER_VERSION from $NOMMER_PACKAGE_URI"
  s3_get "$NOMMER_PACKAGE_URI" "$tarball"
  # The bucket is not trusted with what runs as root here: only the tarball feederd pinned installs.
  local got
  got=$(sha256sum "$tarball" | cut -d ' ' -f 1)
  if [ "$got" != "$NOMMER_PACKAGE_SHA256" ]; then
    log "refusing $NOMMER_PACKAGE_URI: its SHA-256 is $got, not the pinned $NOMMER_PACKAGE_SHA256"
    rm -f "$tarball"
    return 1
  fi
  log "release SHA-256 matches the pin ($got)"
  # The pin covers the dependencies too: the release carries npm-shrinkwrap.json (each package's
  # exact version and sha512), and `npm ci` installs exactly that or fails. Nothing is resolved
  # from a version range at boot, as npm install --global of the tarball would.
  local app="$APP_DIR/$NOMMER_VERSION"
  rm -rf "$app"
  mkdir -p "$app"
  tar -xzf "$tarball" -C "$app" --strip-components=1 --no-same-owner
  if [ ! -f "$app/npm-shrinkwrap.json" ]; then
    log "refusing $NOMMER_PACKAGE_URI: it has no npm-shrinkwrap.json, so its dependencies would not be pinned"
    return 1
  fi
  if [ "$TEST_MODE" = 1 ]; then
    log "test mode: fetched $(wc -c <"$tarball") bytes, unpacked with its npm-shrinkwrap.json; not installing"
    return
  fi
  # --ignore-scripts: the release's own `prepare` (tsc) must not run: it ships compiled, without
  # tsconfig.json or typescript. better-sqlite3 is the one dependency whose install step is needed.
  (cd "$app" && npm ci --omit=dev --ignore-scripts --no-fund --no-audit --loglevel=error &&
    npm rebuild better-sqlite3 --no-fund --no-audit --loglevel=error)
  ln -sfn "$app/bin/nommer" "$(npm prefix --global)/bin/nommer"
  if [ "$(installed_nommer_version)" != "$NOMMER_VERSION" ]; then
    log "installed nommer reports '$(installed_nommer_version)', expected $NOMMER_VERSION"
    return 1
  fi
}

# ---- the worker --------------------------------------------------------------------------------
write_config() {
  mkdir -p "$CONFIG_DIR" "$DATA_DIR"
  cat >"$CONFIG_FILE" <<'NOMMER_CONFIG_JSON'
{{WORKER_CONFIG_JSON}}
NOMMER_CONFIG_JSON
  chmod 0644 "$CONFIG_FILE"
}

run_worker() {
  local id bin
  id=${NOMMER_INSTANCE_ID:-$(imds meta-data/instance-id)}
  bin=${NOMMER_BIN:-nommer}
  export NOMMER_HOME="$DATA_DIR"
  if [ -z "${AWS_REGION:-}" ]; then
    if [ -n "$NOMMER_REGION" ]; then AWS_REGION=$NOMMER_REGION; else AWS_REGION=$(imds meta-data/placement/region); fi
    export AWS_REGION
  fi
  # The worker ends itself after IDLE_EXIT_SECONDS without work, even when feederd is gone.
  local argv=("$bin" --config "$CONFIG_FILE" worker --backend aws --idle-exit "$IDLE_EXIT_SECONDS" --concurrency "$CONCURRENCY" --id "$id")
  log "starting worker $id: ${argv[*]}"
  local code=0
  if [ "$TEST_MODE" = 1 ]; then
    "${argv[@]}" || code=$?
  else
    chown -R "$WORKER_USER" "$DATA_DIR"
    runuser -u "$WORKER_USER" -- env NOMMER_HOME="$NOMMER_HOME" AWS_REGION="$AWS_REGION" PATH="$PATH" "${argv[@]}" || code=$?
  fi
  log "worker exited with $code"
  return "$code"
}

main() {
  log "bootstrapping nommer $NOMMER_VERSION"
  mkdir -p "$DOWNLOADS"
  if [ "$TEST_MODE" = 1 ]; then
    log "test mode: skipping the Node, ffmpeg and npm installs"
  else
    install_node
    install_ffmpeg
    # ffmpeg runs on untrusted media: the worker runs as an unprivileged user.
    id "$WORKER_USER" >/dev/null 2>&1 || useradd --system --home-dir "$DATA_DIR" --shell /usr/sbin/nologin "$WORKER_USER"
  fi
  install_nommer
  write_config
  if [ "$INSTALL_ONLY" = 1 ]; then
    log "install only: nommer $NOMMER_VERSION is ready; not starting a worker"
    return 0
  fi
  run_worker
}

main "$@"
