"""`orderctl sandbox update`: another version of the program (the working tree, new config) planned against
what the running sandbox deployed, then applied to its emulator and to its runtime, as `pulumi up` applies
an update, while orders keep flowing.

The sandbox keeps its deployment as the engine's checkpoint would (sandbox.deploy.Deployment.state: every
resource's inputs and the values the emulator gave it, its options), in `<state-dir>/plan-state.json`
with what it created for each URN. An update:

1. plans the new version against that state in a process of its own (sandbox.plan_capture, as `orderctl
   preview` does): a step the engine refuses (a protected resource replaced or deleted) or data loss
   (sandbox.plan.Preview.data_loss) ends it there, with nothing changed;
2. applies it in another process (sandbox.update_apply), through the AWS APIs the provider uses for each
   step, in the engine's order;
3. hands the new deployment to the sandbox's runtime (sandbox.runner.Sandbox.update): a changed function
   gets fresh environments for new invocations while those under way finish on the old version, a
   changed mapping reaches its poller's next batch, and new or deleted mappings get or lose pollers.

Both programs run in processes of their own so that each imports its own `infra`; the sandbox's process
has the version it started with imported already.

The running sandbox answers `POST /_sandbox/update` on its emulator's endpoint (`control_api`), since its
pollers and environments live in that process; `request_update` is the client `orderctl` uses.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.deploy import Declared, Deployment, FunctionSpec, MappingSpec
from sandbox.plan import PlanError, Preview, plan_against, step_from_json
from sandbox.pulumi_engine import ResourceState, Step

PLAN_STATE_FILE = "plan-state.json"
UPDATE_PATH = "/_sandbox/update"
BASE = "the sandbox"  # what the plan is from, as `orderctl preview` names its base commit


class UpdateError(Exception):
    """The update could not be planned or applied."""


# --- the deployment as JSON: the plan state file, and what crosses between the processes


def deployment_json(deployment: Deployment, project: str, overrides: Mapping[str, str]) -> dict[str, Any]:
    """The plan state file: `resources` and `outputs` in sandbox.plan_capture's form (so it can plan against
    it), and under `sandbox` what the sandbox created for each URN, its functions and mappings."""
    return {
        "project": project,
        "stack": deployment.stack,
        "overrides": dict(overrides),
        "resources": [dataclasses.asdict(state) for state in deployment.state],
        "outputs": deployment.outputs,
        "sandbox": {
            "config": deployment.config,
            "declared": [dataclasses.asdict(resource) for resource in deployment.resources],
            "functions": [
                {**dataclasses.asdict(function), "code_dir": str(function.code_dir)}
                for function in deployment.functions.values()
            ],
            "mappings": [dataclasses.asdict(mapping) for mapping in deployment.mappings],
            "warnings": deployment.warnings,
        },
    }


def deployment_from_json(data: Mapping[str, Any]) -> Deployment:
    sandbox = data["sandbox"]
    functions = [FunctionSpec(**{**f, "code_dir": Path(f["code_dir"])}) for f in sandbox["functions"]]
    return Deployment(
        stack=data["stack"],
        config=dict(sandbox["config"]),
        outputs=dict(data["outputs"]),
        resources=[Declared(**resource) for resource in sandbox["declared"]],
        functions={function.arn: function for function in functions},
        mappings=[MappingSpec(**mapping) for mapping in sandbox["mappings"]],
        warnings=list(sandbox["warnings"]),
        state=[state_from_json(state) for state in data["resources"]],
    )


def state_from_json(state: Mapping[str, Any]) -> ResourceState:
    return ResourceState(**{**state, "dependencies": tuple(state["dependencies"])})


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")


@dataclass(frozen=True)
class Applied:
    """One step as the update applied it: what happened (`pulumi up`'s word for it), the AWS calls that did
    it, and how long it took."""

    step: Step
    action: str  # created, updated, replaced, deleted, ...
    calls: tuple[str, ...] = ()
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "step": dataclasses.asdict(self.step)}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Applied:
        return Applied(step_from_json(data["step"]), data["action"], tuple(data["calls"]), data["seconds"])


@dataclass(frozen=True)
class UpdateOutcome:
    """The plan, and either the steps applied or why nothing was changed."""

    preview: Preview
    applied: list[Applied]
    refusal: str = ""  # why nothing was changed; "" once applied
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        preview = self.preview
        return {
            "preview": {
                "stack": preview.stack,
                "base": preview.base,
                "steps": [dataclasses.asdict(step) for step in preview.steps],
                "olds": [dataclasses.asdict(state) for state in preview.olds.values()],
                "oldOutputs": preview.old_outputs,
            },
            "applied": [applied.to_json() for applied in self.applied],
            "refusal": self.refusal,
            "warnings": list(self.warnings),
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> UpdateOutcome:
        plan = data["preview"]
        olds = [state_from_json(state) for state in plan["olds"]]
        preview = Preview(
            stack=plan["stack"],
            base=plan["base"],
            steps=[step_from_json(step) for step in plan["steps"]],
            olds={state.urn: state for state in olds},
            old_outputs=plan["oldOutputs"],
        )
        return UpdateOutcome(
            preview,
            [Applied.from_json(applied) for applied in data["applied"]],
            data["refusal"],
            tuple(data.get("warnings", ())),
        )


def refusal(preview: Preview) -> str:
    """Why the plan must not be applied ("" when it may): the engine's refusals, then data loss."""
    reasons = [" ".join(step.refused.split()) for step in preview.refused]
    reasons += [
        f"it would {'replace' if str(step.op) == 'replace' else 'delete'} {step.urn.rsplit('::', 1)[1]} "
        f"({step.type}), which is not protected, and lose what it holds"
        for step in preview.data_loss
    ]
    return "; ".join(reasons)


# --- planning and applying, each in a process of its own


def plan_update(tree: Path, deployment: Deployment, project: str, overrides: Mapping[str, str]) -> Preview:
    """The steps from the deployed state to the program in `tree` with `overrides` (the whole set)."""
    try:
        return plan_against(tree, deployment.stack, overrides, deployment_json(deployment, project, overrides), BASE)
    except PlanError as error:
        raise UpdateError(str(error)) from None


def apply_update(  # noqa: PLR0917 (each is a different thing the update needs)
    tree: Path,
    deployment: Deployment,
    project: str,
    overrides: Mapping[str, str],
    endpoint_url: str,
    code_root: Path,
) -> tuple[Deployment, list[Applied], list[str]]:
    """Runs sandbox.update_apply: the program in `tree` applied to the emulator. Returns the new deployment,
    the steps as applied, and warnings."""
    with tempfile.TemporaryDirectory(prefix="sandbox-update-") as scratch:
        before, after = Path(scratch) / "deployed.json", Path(scratch) / "applied.json"
        write_json(before, deployment_json(deployment, project, overrides))
        command = [
            sys.executable,
            "-m",
            "sandbox.update_apply",
            str(tree),
            deployment.stack,
            "--config",
            json.dumps(dict(overrides)),
            "--deployed",
            str(before),
            "--endpoint",
            endpoint_url,
            "--region",
            deployment.config.get("aws:region", "us-east-1"),
            "--code-root",
            str(code_root),
            "--out",
            str(after),
        ]
        root = Path(__file__).resolve().parents[1]  # where `sandbox` is importable from
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not after.exists():
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            raise UpdateError(f"applying the program at {tree} failed: {lines[-1] if lines else 'no output'}")
        result = json.loads(after.read_text())
    applied = [Applied.from_json(step) for step in result["applied"]]
    return deployment_from_json(result["deployment"]), applied, list(result["warnings"])


# --- the control route on the emulator, and its client


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
Updater = Callable[[Path, Mapping[str, str]], UpdateOutcome]


def control_api(app: WsgiApp, update: Updater) -> WsgiApp:
    """The emulator's WSGI app, also answering `POST /_sandbox/update` with {"tree": path, "config": {k: v}}:
    the update applied by `update` (the running sandbox's), as UpdateOutcome's JSON; 409 when it is refused,
    500 with {"error": ...} when it fails."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != UPDATE_PATH or environ.get("REQUEST_METHOD") != "POST":
            return app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        status, body = "200 OK", {}
        try:
            asked = json.loads(environ["wsgi.input"].read(length) or b"{}")
            outcome = update(Path(asked["tree"]), {str(k): str(v) for k, v in (asked.get("config") or {}).items()})
            body = outcome.to_json()
            if outcome.refusal:
                status = "409 Conflict"
        except Exception as error:  # noqa: BLE001 (the client shows it as one line)
            status, body = "500 Internal Server Error", {"error": " ".join(str(error).split()) or repr(error)}
        payload = json.dumps(body, default=str).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    return serve


def request_update(endpoint_url: str, tree: Path, overrides: Mapping[str, str], timeout: float = 600) -> UpdateOutcome:
    """Asks the sandbox at `endpoint_url` to apply the program in `tree` with `overrides` on top of its config."""
    body = json.dumps({"tree": str(tree.resolve()), "config": dict(overrides)}).encode()
    request = urllib.request.Request(
        endpoint_url + UPDATE_PATH, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        answer = json.loads(error.read() or b"{}")
        if "error" in answer or "preview" not in answer:
            raise UpdateError(answer.get("error") or f"the sandbox answered {error.code}") from None
    except urllib.error.URLError as error:
        raise UpdateError(f"cannot reach the sandbox at {endpoint_url}: {error.reason}") from None
    return UpdateOutcome.from_json(answer)
