"""`digitlab torchrun`: PyTorch's own launcher (torch.distributed.run, what `torchrun` runs) started in this process
for `python -m digitlab ...`, with its failures as one line instead of torchrun's tracebacks and report blocks.

    launch(["--nnodes", "2", ..., "train", "--recipe", "best"])   torchrun's options, then digitlab's command

Nothing else changes: the rendezvous, the agent, the workers and their environment are torchrun's. What this adds:
  - a rendezvous that fails (wrong endpoint, a port nobody listens on, no store host) is a DistributedError naming
    the endpoint and the cause, with the hint that the c10d form needs `--rdzv-conf is_host=1` on the node at the
    endpoint when nobody hosted the store;
  - a worker that failed has printed its own `error:` line: the launcher then exits with its code, quietly; a worker
    killed by a signal (nothing printed) is named with the signal;
  - torch's elastic agent logs nothing below CRITICAL, and c10d's C++ side nothing below FATAL (its connection
    retries print C++ frames), unless TORCH_CPP_LOG_LEVEL is set: the CLI restarts itself once to set that.
"""

from __future__ import annotations

import logging
import re

from digitlab.errors import DigitlabError

QUIET = "DIGITLAB_TORCHRUN_QUIET"  # set while `digitlab torchrun` restarts itself with torch's C++ logging quiet


class DistributedError(DigitlabError):
    """torchrun could not start or keep the run: rendezvous, store, or a worker killed by a signal."""


class WorkerFailed(DigitlabError):
    """A worker exited non-zero after printing its own error line; carries its exit code."""

    def __init__(self, code: int) -> None:
        super().__init__(f"a process of the run exited with code {code}")
        self.exit_code = code if 0 < code < 256 else 1


def _head(exc: BaseException) -> str:
    """The first line of a message (c10d's carry C++ frames after it), without source-file tags."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = re.sub(r"\[/[^\]]*\]\s*", "", lines[0]) if lines else type(exc).__name__
    return text[:200]


def _cause(exc: BaseException) -> str:
    """The exception's own first line and, where torch says "see inner exception", the inner one's."""
    text = _head(exc)
    inner = exc.__cause__ or exc.__context__
    if inner is not None and "inner exception" in text.lower():
        text = f"{text.split('. See inner')[0]}: {_head(inner)}"
    return text


def parse(argv: list[str]):
    """torchrun's own parser; the first word that is not an option (digitlab's command) and what follows are the
    arguments of `python -m digitlab`."""
    from torch.distributed.run import get_args_parser

    from digitlab.errors import ConfigError

    parser = get_args_parser()
    parser.prog = "digitlab torchrun"

    def refuse(message: str):
        if "training_script" in message:
            message = "no digitlab command after torchrun's options"
        raise ConfigError(f"digitlab torchrun: {message}; give torchrun's options, then digitlab's command "
                          "(e.g. train --recipe best); options: digitlab torchrun --help")

    parser.error = refuse  # type: ignore[method-assign]
    args = parser.parse_args(["--module", *argv])
    args.training_script_args = [args.training_script, *args.training_script_args]
    args.training_script = "digitlab"
    return args


def where(args) -> str:
    if args.rdzv_backend == "static" or not args.rdzv_endpoint:
        return f"{args.master_addr or '127.0.0.1'}:{args.master_port or 29500} (static, node rank {args.node_rank})"
    return f"{args.rdzv_endpoint} ({args.rdzv_backend})"


def launch(argv: list[str]) -> None:
    import torch.distributed as dist
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError
    from torch.distributed.run import run

    args = parse(argv)
    for name in list(logging.root.manager.loggerDict):  # torch's elastic loggers each set their own level
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        run(args)
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        if failure.exitcode < 0:
            raise DistributedError(f"process rank {rank} of this node was killed by {failure.signal_name()} "
                                   f"(the run on the other nodes ends within train.dist_timeout)") from None
        raise WorkerFailed(failure.exitcode) from None
    except (RendezvousError, getattr(dist, "DistError", RendezvousError), TimeoutError, ConnectionError) as exc:
        hint = ""
        if args.rdzv_backend == "c10d" and "is_host" not in (args.rdzv_conf or "") and "store" in _cause(exc).lower():
            hint = ("; if this machine is the endpoint, add --rdzv-conf is_host=1 here (torchrun hosts the store only "
                    "where the endpoint matches the hostname)")
        raise DistributedError(f"torchrun: rendezvous at {where(args)} failed: {_cause(exc)}{hint}") from None
