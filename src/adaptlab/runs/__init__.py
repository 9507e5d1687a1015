"""Experiment configs (YAML) → a plan of runs → workers → the results store.

- `config`: the schema of a run config (`RunConfig`, `load_config`).
- `plan`: every model × dataset × seed × method, with its dataset drawn and its run id computed (`plan_runs`).
- `worker`: one run in any process (`run_one`, `run_task`) and what the driver does when it ends (`settle`).
- `execute`: `adaptlab run` (`execute`): sequential here, `local` (worker processes) or `on_ray` (Ray tasks).
- `finetune`: `adaptlab finetune`, a config's fine-tuning step under torchrun or accelerate launch.
- `export`: `adaptlab export`, a stored run's trained artefact (adapter, merged weights, memory) for other tools.
"""

from adaptlab.runs.config import DatasetSpec, RunConfig, load_config, load_yaml_model
from adaptlab.runs.execute import execute
from adaptlab.runs.plan import PlannedRun, config_run_ids, plan_runs, safe_name

__all__ = ["DatasetSpec", "PlannedRun", "RunConfig", "config_run_ids", "execute", "load_config", "load_yaml_model",
           "plan_runs", "safe_name"]
