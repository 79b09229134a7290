"""Fails when a Python test tool would come from outside the project's own environment.

scripts/test runs this with the environment's interpreter after filling it. Every Python tool the
tests use must be imported from target/test-python (created from scripts/requirements-test.txt), and
the commands the scripts call by name (python3, schemathesis, openapi-python-client,
datamodel-codegen) must resolve to it on PATH: a tool that happens to be installed system-wide must
never decide whether the suite passes.

Usage: check_python_env.py VENV_DIR
"""

import importlib
import os
import shutil
import sys

# The modules the suite imports, by the name they are imported under.
MODULES = ["schemathesis", "openapi_python_client", "datamodel_code_generator", "email_validator",
           "jsonschema", "yaml", "aiosmtpd"]
# The commands the scripts run by name.
COMMANDS = ["python3", "schemathesis", "openapi-python-client", "datamodel-codegen"]


def inside(path: str, root: str) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([path, root]) == root


def main() -> int:
    venv = os.path.realpath(sys.argv[1])
    faults = []
    if not inside(sys.prefix, venv) or sys.prefix == sys.base_prefix:
        faults.append(f"this interpreter ({sys.executable}) is not the project's environment {venv}")
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            faults.append(f"{name} is not installed in {venv}: {e}")
            continue
        where = getattr(module, "__file__", None) or ""
        if not inside(where, venv):
            faults.append(f"{name} is imported from {where}, outside {venv}")
    for command in COMMANDS:
        found = shutil.which(command)
        # The environment's bin/python3 is a symbolic link to the interpreter it was made from, so
        # compare the directory the command was found in, not where its link leads.
        if found is None or os.path.realpath(os.path.dirname(found)) != os.path.join(venv, "bin"):
            faults.append(f"`{command}` on PATH is {found}, not {os.path.join(venv, 'bin', command)}")
    for fault in faults:
        print(f"check_python_env: {fault}", file=sys.stderr)
    if not faults:
        print(f"== every Python test tool comes from {venv}")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
