#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the `slurm` tests and for trying SLURM sweeps.
#
#   bash scripts/slurm-localhost.sh up      # install (Debian: slurm-wlm, munge) if missing, start, wait for idle
#   bash scripts/slurm-localhost.sh status  # what runs, sinfo
#   bash scripts/slurm-localhost.sh down    # cancel its jobs, stop the daemons it started
#   eval "$(bash scripts/slurm-localhost.sh env)"   # SLURM_CONF for sinfo/sbatch/submitit in this shell
#
# Why a script and not a container: the tests submit real jobs with submitit/sbatch, which talk to
# slurmctld through SLURM_CONF, exactly as on a cluster. Everything lives under one state dir
# ($ROBUSTLENS_SLURM_DIR, default /tmp/robustlens-slurm): its own munge key and socket, slurm.conf,
# spool/state dirs, pid and log files. Nothing in /etc is changed, the daemons listen on 127.0.0.1 only,
# no cgroups are needed (proctrack/linuxproc, task/none), and `down` stops only the pids it wrote.
# Installing needs root and Debian's package manager; starting needs root (slurmd runs jobs as their
# submitting user). Idempotent: `up` on a running cluster only waits for the node; `down` twice is fine.
set -euo pipefail

DIR="${ROBUSTLENS_SLURM_DIR:-/tmp/robustlens-slurm}"
PORT="${ROBUSTLENS_SLURM_PORT:-6817}"           # slurmctld; slurmd uses PORT+1
CONF="$DIR/etc/slurm.conf"
NODE="$(hostname -s)"
WAIT_S="${ROBUSTLENS_SLURM_WAIT_S:-60}"

say() { echo "slurm-localhost: $*" >&2; }
die() { say "$*"; exit 1; }

install_packages() {
    local missing=()
    command -v munged >/dev/null || missing+=(munge)
    for bin in slurmctld slurmd sinfo sbatch; do command -v "$bin" >/dev/null || { missing+=(slurm-wlm); break; }; done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing ${missing[*]}: run as root (installs Debian's slurm-wlm and munge) or install them"
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install SLURM and munge with your package manager"
    say "installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$DIR/apt.log" 2>&1; then
        apt-get update -q >>"$DIR/apt.log" 2>&1 || die "apt-get update failed (see $DIR/apt.log)"
        apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$DIR/apt.log" 2>&1 \
            || die "apt-get install ${missing[*]} failed (see $DIR/apt.log)"
    fi
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_config() {
    mkdir -p "$DIR"/{etc,munge,state,spool,log,run}
    chmod 0700 "$DIR/munge"
    if [ ! -s "$DIR/munge/munge.key" ]; then
        dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
        chmod 0400 "$DIR/munge/munge.key"
    fi
    # the node's real CPUs/sockets/memory as slurmd sees them (a larger value would drain the node)
    local hw
    hw="$(slurmd -C | head -n1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ *UpTime=.*//')"
    cat >"$CONF" <<EOF
# written by scripts/slurm-localhost.sh: one node on localhost, no cgroups, no accounting
ClusterName=robustlens-localhost
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket.2
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
MailProg=/bin/true
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE $hw State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

node_state() { SLURM_CONF="$CONF" sinfo -h -N -n "$NODE" -o %T 2>/dev/null | head -n1; }

up() {
    mkdir -p "$DIR"
    install_packages
    [ "$(id -u)" -eq 0 ] || die "starting slurmd needs root"
    alive "$DIR/run/slurmctld.pid" || write_config
    if ! alive "$DIR/run/munged.pid"; then
        munged --force --socket="$DIR/munge/munge.socket.2" --key-file="$DIR/munge/munge.key" \
            --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed" \
            || die "munged did not start (see $DIR/log/munged.log)"
    fi
    alive "$DIR/run/slurmctld.pid" || slurmctld -f "$CONF" || die "slurmctld did not start (see $DIR/log/slurmctld.log)"
    alive "$DIR/run/slurmd.pid" || slurmd -f "$CONF" || die "slurmd did not start (see $DIR/log/slurmd.log)"
    local state="" waited=0
    while [ "$waited" -lt "$WAIT_S" ]; do
        state="$(node_state)"
        case "$state" in
            idle|mixed|allocated) break ;;
            down*|drain*) SLURM_CONF="$CONF" scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 1; waited=$((waited + 1))
    done
    case "$state" in
        idle|mixed|allocated) ;;
        *) die "node $NODE is '${state:-unreachable}' after ${WAIT_S}s (logs in $DIR/log)" ;;
    esac
    say "node $NODE is $state after ${waited}s; use it with: export SLURM_CONF=$CONF"
    echo "export SLURM_CONF=$CONF"
}

stop_pid() {  # stop the daemon whose pid file we wrote; wait until it is gone
    local file="$1" pid
    alive "$file" || { rm -f "$file"; return 0; }
    pid="$(cat "$file")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    rm -f "$file"
}

down() {
    if alive "$DIR/run/slurmctld.pid"; then  # no job of ours may outlive the cluster
        local jobs
        jobs="$(SLURM_CONF="$CONF" squeue -h -o %i 2>/dev/null || true)"
        if [ -n "$jobs" ]; then
            # shellcheck disable=SC2086
            SLURM_CONF="$CONF" scancel $jobs 2>/dev/null || true
            for _ in $(seq 30); do [ -z "$(SLURM_CONF="$CONF" squeue -h -o %i 2>/dev/null)" ] && break; sleep 1; done
        fi
    fi
    stop_pid "$DIR/run/slurmd.pid"
    stop_pid "$DIR/run/slurmctld.pid"
    stop_pid "$DIR/run/munged.pid"
    say "stopped (state kept in $DIR)"
}

status() {
    for daemon in munged slurmctld slurmd; do
        if alive "$DIR/run/$daemon.pid"; then echo "$daemon: running (pid $(cat "$DIR/run/$daemon.pid"))"; else echo "$daemon: stopped"; fi
    done
    [ -f "$CONF" ] && SLURM_CONF="$CONF" sinfo 2>/dev/null || true
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
