#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for the tests (root, Debian/Ubuntu).
#   bash tests/slurm/cluster.sh start   # install slurmctld, slurmd, munge if missing; start; smoke-test
#   bash tests/slurm/cluster.sh stop    # stop the daemons it started (by pid file)
# SLURM_CGROUP=1 (default) enforces each job's memory request with cgroup v1, as a real cluster
# does (a job over its mem_mb ends OUT_OF_MEMORY); SLURM_CGROUP=0 tracks processes only.
# No accounting daemon: snakemake must poll with `--slurm-status-command squeue`, which sees
# finished jobs for MinJobAge seconds. The node declares typed GPUs (GresTypes=gpu: one `a100`, one
# `nvidia_a100-sxm4-40gb` as SLURM's autodetection names an A100, backed by device files every
# machine has, no autodetection), so GPU requests are checked and allocated as on a GPU cluster;
# no CUDA device is behind them. slurm.conf must live at /etc/slurm/slurm.conf because the
# executor's in-job srun drops SLURM_CONF from its environment.
set -euo pipefail

RUN_DIR=${SLURM_RUN_DIR:-/tmp/crossprobe-slurm}
PARTITION=${SLURM_PARTITION:-debug}
CGROUP=${SLURM_CGROUP:-1}
CONF=/etc/slurm/slurm.conf
HYPHENATED_GPU=nvidia_a100-sxm4-40gb

stop_pid() {
  local file=$1 pid
  [[ -s $file ]] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

stop() {
  stop_pid "$RUN_DIR/slurmd.pid"
  stop_pid "$RUN_DIR/slurmctld.pid"
  stop_pid /run/munge/munged.pid
}

start() {
  [[ $(id -u) == 0 ]] || { echo "cluster.sh: needs root" >&2; exit 1; }
  local missing=0
  for pkg in slurmctld slurmd slurm-client munge; do dpkg -s "$pkg" >/dev/null 2>&1 || missing=1; done
  if [[ $missing == 1 ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
  fi
  stop
  rm -rf "$RUN_DIR"
  mkdir -p "$RUN_DIR/state" "$RUN_DIR/spool" /etc/slurm

  if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 1 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done

  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) - 2048 ))
  local tracking
  if [[ $CGROUP == 1 && -d /sys/fs/cgroup/memory ]]; then
    tracking="ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup"
    printf 'CgroupPlugin=autodetect\nConstrainCores=yes\nConstrainRAMSpace=yes\n' > /etc/slurm/cgroup.conf
  else
    tracking="ProctrackType=proctrack/linuxproc
TaskPlugin=task/none"
    rm -f /etc/slurm/cgroup.conf
  fi
  # one GPU of a plain type, one named as AutoDetect=nvml names an A100 (lower case, hyphens
  # kept): a type snakemake-executor-plugin-slurm refuses as gpu_model
  printf 'AutoDetect=off\nName=gpu Type=a100 File=/dev/null\nName=gpu Type=%s File=/dev/zero\n' \
    "$HYPHENATED_GPU" > /etc/slurm/gres.conf
  cat > "$CONF" <<CONF
ClusterName=crossprobe-ci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=${RUN_DIR}/state
SlurmdSpoolDir=${RUN_DIR}/spool
SlurmctldPidFile=${RUN_DIR}/slurmctld.pid
SlurmdPidFile=${RUN_DIR}/slurmd.pid
SlurmctldLogFile=${RUN_DIR}/slurmctld.log
SlurmdLogFile=${RUN_DIR}/slurmd.log
${tracking}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/none
MinJobAge=600
GresTypes=gpu
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} Gres=gpu:a100:1,gpu:${HYPHENATED_GPU}:1 State=UNKNOWN
PartitionName=${PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

  /usr/sbin/slurmctld -c -i
  /usr/sbin/slurmd
  local state=""
  for _ in $(seq 1 100); do
    state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
    [[ $state == idle* ]] && break
    if [[ $state == down* || $state == drain* ]]; then scontrol update nodename="$host" state=resume || true; fi
    sleep 0.2
  done
  if [[ $state != idle* ]]; then
    echo "cluster.sh: node not idle ('$state')" >&2
    tail -n 20 "$RUN_DIR"/slurm*.log >&2 || true
    exit 1
  fi
  srun -N1 -n1 -t 1 true
  echo "SLURM up: node $host, partition $PARTITION, $cpus CPUs, $mem MB, ${tracking%%$'\n'*}; logs in $RUN_DIR"
}

case ${1:-start} in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
