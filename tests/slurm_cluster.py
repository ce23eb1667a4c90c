"""A real single-node SLURM cluster for integration tests (Debian's slurm-wlm and munge, run as root).

slurmctld and slurmd run on this machine with two partitions, ``cpu`` (default) and ``gpu``, and one
``gpu`` GRES backed by /dev/null; no accounting database, so jobs stay visible to ``squeue`` through a
large ``MinJobAge``. munged runs with a private key and socket.

The configuration must live at the default path, /etc/slurm/slurm.conf: snakemake-executor-plugin-slurm-jobstep
drops every ``SLURM_*`` variable (``SLURM_CONF`` too) before its nested ``srun``, which then finds no
configuration anywhere else. The file is written only where none exists (a machine that is no cluster) and
removed again afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# written by facade-wwr's tests\n"
DAEMONS = ("munged", "munge", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol")


def unavailable_reason() -> str | None:
    """Why a cluster cannot be started here, or None."""
    missing = [d for d in DAEMONS if shutil.which(d) is None and not Path(f"/usr/sbin/{d}").exists()]
    if missing:
        return f"SLURM not installed (missing {', '.join(missing)}; apt-get install slurm-wlm munge)"
    if os.geteuid() != 0:
        return "starting slurmctld/slurmd needs root"
    if SYSTEM_CONF.exists() and not SYSTEM_CONF.read_text().startswith(MARKER):
        return f"{SYSTEM_CONF} exists: this machine belongs to a real cluster, which the test leaves alone"
    return None


def _conf(root: Path, host: str, cpus: int, mem_mb: int) -> str:
    return f"""\
ClusterName=facadewwr
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MinJobAge=86400
ReturnToService=2
GresTypes=gpu
NodeName={host} CPUs={cpus} RealMemory={mem_mb} Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes={host} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes={host} MaxTime=INFINITE State=UP
"""


def _sbin(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _kill_pidfile(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(path.read_text().strip()), signal.SIGTERM)


@contextlib.contextmanager
def slurm_cluster(root: Path, mem_mb: int = 16000) -> Iterator[dict[str, str]]:
    """Start munged, slurmctld and slurmd under ``root``; yield the environment for SLURM commands."""
    host = socket.gethostname().split(".")[0]
    for sub in ("munge", "state", "spool"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "munge", 0o700)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o400)
    conf = SYSTEM_CONF
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(MARKER + _conf(root, host, os.cpu_count() or 1, mem_mb))
    (conf.parent / "gres.conf").write_text(MARKER + f"NodeName={host} Name=gpu File=/dev/null\n")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    m = root / "munge"
    try:
        subprocess.run(
            [
                _sbin("munged"),
                f"--key-file={key}",
                f"--socket={m}/munge.socket",
                f"--pid-file={m}/munged.pid",
                f"--log-file={m}/munged.log",
                f"--seed-file={m}/seed",
                "--force",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        subprocess.run([_sbin("slurmctld"), "-f", str(conf)], check=True, env=env, capture_output=True, text=True)
        subprocess.run([_sbin("slurmd"), "-f", str(conf)], check=True, env=env, capture_output=True, text=True)
        deadline = time.monotonic() + 60
        while True:
            out = subprocess.run(["sinfo", "-h", "-o", "%P %t"], env=env, capture_output=True, text=True).stdout
            if "idle" in out or "mix" in out:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"SLURM did not come up: sinfo says {out!r}; see {root}/slurmctld.log")
            time.sleep(1)
        yield env
    finally:
        subprocess.run(["scancel", "--full", "-u", "root"], env=env, capture_output=True)
        for pidfile in (root / "slurmd.pid", root / "slurmctld.pid", m / "munged.pid"):
            _kill_pidfile(pidfile)
        for path in (conf, conf.parent / "gres.conf"):
            with contextlib.suppress(FileNotFoundError):
                if path.read_text().startswith(MARKER):
                    path.unlink()
