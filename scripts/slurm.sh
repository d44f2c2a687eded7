#!/usr/bin/env bash
# A real one-node Slurm on this machine for the Slurm launcher's tests: munged, slurmctld and
# slurmd from Debian's packages, no systemd, two fake GPUs (char devices like /dev/null, so
# `--gres=gpu:N` schedules and sets CUDA_VISIBLE_DEVICES as on a cluster).
#
#   scripts/slurm.sh start     install if needed, configure, start (idempotent), wait for idle
#   scripts/slurm.sh stop      cancel every job, stop the daemons this script started
#   scripts/slurm.sh restart-controller   stop and start slurmctld alone (jobs keep running)
#   scripts/slurm.sh status
#
# Needs root (mknod, and slurmd runs jobs as their submitter). Everything lives in $RUN and in
# /etc/slurm/{slurm,gres}.conf; only daemons whose pids this script recorded in $RUN/pids are
# ever signalled. Facts and pitfalls: ../shared/reference/slurm-notes.md.
set -euo pipefail

RUN=${COSMOSQ_SLURM_RUN:-/tmp/cosmosq-slurm}
NODE=$(hostname -s)
CONF=/etc/slurm/slurm.conf

log() { echo "slurm.sh: $*" >&2; }

install() {
  local missing=0
  for b in slurmctld slurmd sbatch munged mungekey; do
    command -v "$b" >/dev/null 2>&1 || missing=1
  done
  [ "$missing" = 0 ] && return 0
  log "installing slurmctld slurmd slurm-client munge (apt)"
  local pkgs=(slurmctld slurmd slurm-client munge)
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null ||
    { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
      apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null; }
}

# The pid a pid file names, when that process is alive (empty otherwise). The file may vanish
# while a daemon shuts down: read it once, never twice.
alive() {
  local pid=""
  pid=$(cat "$RUN/pids/$1.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

write_config() {
  local mem
  mem=$(slurmd -C 2>/dev/null | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)
  mem=${mem:-4096}
  mkdir -p /etc/slurm
  cat >"$RUN/slurm.conf.new" <<EOF
ClusterName=cosmosq-ci
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$RUN/munge/munge.socket
StateSaveLocation=$RUN/state
SlurmdSpoolDir=$RUN/spool
SlurmctldPidFile=$RUN/pids/slurmctld.pid
SlurmdPidFile=$RUN/pids/slurmd.pid
SlurmctldLogFile=$RUN/log/slurmctld.log
SlurmdLogFile=$RUN/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
ReturnToService=2
MinJobAge=300
KillWait=5
InactiveLimit=0
Waittime=0
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$RUN/log/jobcomp.txt
MailProg=/bin/true
NodeName=$NODE NodeHostname=$NODE NodeAddr=127.0.0.1 CPUs=8 RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  cat >"$RUN/gres.conf.new" <<EOF
AutoDetect=off
NodeName=$NODE Name=gpu File=$RUN/dev/nvidia[0-1]
EOF
  mv "$RUN/slurm.conf.new" "$CONF"
  mv "$RUN/gres.conf.new" /etc/slurm/gres.conf
}

start_munge() {
  [ -n "$(alive munged)" ] && return 0
  [ -f "$RUN/munge/munge.key" ] || mungekey --create --keyfile="$RUN/munge/munge.key" >/dev/null
  chmod 0600 "$RUN/munge/munge.key"
  munged --origin=127.0.0.1 --socket="$RUN/munge/munge.socket" --key-file="$RUN/munge/munge.key" \
    --pid-file="$RUN/pids/munged.pid" --log-file="$RUN/log/munged.log" \
    --seed-file="$RUN/munge/munge.seed" --force
  for _ in $(seq 100); do
    munge -n -S "$RUN/munge/munge.socket" 2>/dev/null | unmunge -S "$RUN/munge/munge.socket" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  log "munged does not answer"; cat "$RUN/log/munged.log" >&2 || true; exit 1
}

start_ctld() {
  [ -n "$(alive slurmctld)" ] && return 0
  slurmctld -f "$CONF"
  for _ in $(seq 200); do
    if scontrol ping 2>/dev/null | grep -q 'is UP'; then return 0; fi
    if [ -z "$(alive slurmctld)" ] && [ -f "$RUN/pids/slurmctld.pid" ]; then break; fi
    sleep 0.05
  done
  log "slurmctld did not come up"; grep -m3 'fatal\|error' "$RUN/log/slurmctld.log" >&2 || true; exit 1
}

start_slurmd() {
  [ -n "$(alive slurmd)" ] && return 0
  slurmd -f "$CONF" -N "$NODE"
  for _ in $(seq 100); do
    [ -n "$(alive slurmd)" ] && return 0
    sleep 0.05
  done
  log "slurmd did not start"; grep -m3 'fatal\|error' "$RUN/log/slurmd.log" >&2 || true; exit 1
}

wait_idle() {
  local state="" resumed=0
  for _ in $(seq 400); do
    state=$(sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -1 || true)
    case "$state" in
      idle|mixed|allocated) return 0 ;;
      *drain*|down*|inval*)
        if [ "$resumed" = 0 ]; then
          scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
          resumed=1
        fi ;;
    esac
    sleep 0.05
  done
  log "node $NODE is '$state', not idle"; exit 1
}

start() {
  install
  mkdir -p "$RUN"/{munge,pids,log,state,spool,dev}
  chmod 0700 "$RUN/munge"
  for i in 0 1; do [ -e "$RUN/dev/nvidia$i" ] || mknod -m 0666 "$RUN/dev/nvidia$i" c 1 3; done
  write_config
  # Daemons started with another configuration are restarted with this one.
  if ! cmp -s "$CONF" "$RUN/pids/applied.conf" 2>/dev/null; then stop_daemons; fi
  start_munge
  start_ctld
  start_slurmd
  cp "$CONF" "$RUN/pids/applied.conf"
  wait_idle
  log "up: node $NODE, 2 GPUs, partition debug (RUN=$RUN)"
}

# SIGTERM a daemon this script started, SIGKILL after `within` seconds.
stop_one() {
  local name=$1 within=$2 pid
  pid=$(alive "$name")
  [ -z "$pid" ] && return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq $((within * 10))); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

stop_daemons() {
  if [ -n "$(alive slurmctld)" ]; then scancel --full --quiet --user="$(id -un)" 2>/dev/null || true; fi
  stop_one slurmd 30
  stop_one slurmctld 30
  stop_one munged 10
}

stop() {
  [ -d "$RUN/pids" ] || return 0
  stop_daemons
  rm -f "$RUN/pids/applied.conf"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart-controller)
    stop_one slurmctld 30
    start_ctld ;;
  status)
    for d in munged slurmctld slurmd; do echo "$d: ${d:+$(alive "$d")}"; done
    sinfo 2>/dev/null || true ;;
  *) echo "usage: $0 start|stop|restart-controller|status" >&2; exit 2 ;;
esac
