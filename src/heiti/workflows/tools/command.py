"""Command: any program as a step, its inputs and output folder passed on the command line."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from pydantic import Field

from heiti.core.component import Params
from heiti.errors import InputError, RunFailed
from heiti.workflows.tool import Tool, ToolContext


class CommandParams(Params):
    run: list[str] = Field(min_length=1, description="program and arguments; {output} is the "
                           "step's output folder, {inputs[NAME]} an input's folder or file")
    version: str = Field("", description="the program's version: part of the step's key")
    timeout_s: float = Field(3600, gt=0)


class Command(Tool):
    """Runs a program in the workflow file's folder; it must write its results into
    {output}. Changing the command, its version or an input reruns it."""

    name = "command"
    Params = CommandParams
    any_inputs = True

    def modules(self) -> tuple[str, ...]:
        return ()

    def run(self, inputs: dict[str, Path], output: Path, ctx: ToolContext) -> None:
        try:
            argv = [arg.format(output=output, inputs=inputs) for arg in self.params.run]
        except (KeyError, IndexError, ValueError) as exc:
            raise InputError(f"steps.{ctx.step}.with.run: cannot fill in {exc}",
                             hint="use {output} and {inputs[NAME]}, NAME one of the step's inputs") from None
        try:  # its own process group: a timeout ends the program and everything it started
            process = subprocess.Popen(argv, cwd=ctx.base_dir, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, start_new_session=True)
        except OSError as exc:
            raise RunFailed(f"cannot run {argv[0]}: {exc}") from None
        try:
            _, stderr = process.communicate(timeout=self.params.timeout_s)
        except BaseException as exc:  # the timeout, or a Ctrl-C while it runs
            _end_group(process)
            if isinstance(exc, subprocess.TimeoutExpired):
                raise RunFailed(f"{argv[0]} ran longer than timeout_s {self.params.timeout_s:g}; "
                                "it and the processes it started were stopped") from None
            raise
        if process.returncode != 0:
            tail = "\n".join(stderr.strip().splitlines()[-5:])
            raise RunFailed(f"{argv[0]} exited with {process.returncode}\n{tail}")


def _end_group(process: subprocess.Popen[str]) -> None:
    """Kill the program's process group (the program and its children) and reap it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.communicate()
