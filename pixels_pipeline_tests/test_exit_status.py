"""A process whose work succeeded exits 0 even if native teardown aborts afterwards."""

import subprocess
import sys

import pytest

# An exit handler registered before the guard runs after it, during teardown: here it
# aborts the process (SIGABRT), as deltalake/pyarrow threads sometimes do at exit.
SCRIPT = """
import atexit, os, sys
atexit.register(os.abort)
from pixels_pipeline.exit_status import keep_exit_status
keep_exit_status()
print("work done", flush=True)
{ending}
"""


@pytest.mark.parametrize(
    ("ending", "code"),
    [
        ("sys.exit(0)", 0),  # success stays success
        ("sys.exit(None)", 0),
        ("sys.exit(3)", -6),  # failure stays failure (and the abort still happens)
        ("raise RuntimeError('boom')", -6),
    ],
)
def test_an_abort_at_exit_does_not_turn_success_into_failure(ending: str, code: int) -> None:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(ending=ending)], capture_output=True, text=True
    )
    assert run.stdout == "work done\n"
    assert run.returncode == code, run.stderr
