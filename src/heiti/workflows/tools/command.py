"""Command: any program as a step, its inputs and output folder passed on the command line."""

from __future__ import annotations

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
        try:
            result = subprocess.run(argv, cwd=ctx.base_dir, capture_output=True, text=True,
                                    timeout=self.params.timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RunFailed(f"cannot run {argv[0]}: {exc}") from None
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-5:])
            raise RunFailed(f"{argv[0]} exited with {result.returncode}\n{tail}")
