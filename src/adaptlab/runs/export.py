"""`adaptlab export RUNDIR --run ID --out FOLDER [--format F]`: the trained artefact of a stored run, in a format
other tools load.

- `adapter` (LoRA fine-tuning's default): PEFT's adapter_config.json, with the base model recorded, and
  adapter_model.safetensors, from the run's final checkpoint;
- `merged` (full fine-tuning's default; LoRA too): a Hugging Face model folder (config, safetensors, tokenizer):
  the final checkpoint's weights (a LoRA adapter merged onto the base, as the run merged it), or the folder
  `adaptlab finetune` wrote (`trained/model`);
- `memory` (the memory method's): prefix.safetensors + memory.json, from the run's `memory/` folder;
  `adaptlab.methods.memory.load_memory` puts it onto the base model;
- `gguf`: refused, with what is missing (`GGUF_MISSING`): no converter ships with an installed package.

Every folder also gets `export.json`: the run, its base model, method, options and seed. Nothing is retrained: a
fine-tuning run keeps its final checkpoint (`adaptlab.training.finetune.final_checkpoint`) and a memory run its
prefix, so the exported weights are those the stored scores were computed with. The export is written beside OUT
and renamed into place, so a failed export leaves nothing; an existing OUT is replaced only with `force`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adaptlab.errors import AdaptlabError
from adaptlab.methods import get_method
from adaptlab.methods.finetuned import FineTuned
from adaptlab.methods.memory import MEMORY, MEMORY_RECORD, PREFIX_FILE, Memory
from adaptlab.models.base import require_trainable
from adaptlab.options import MethodOptions
from adaptlab.runs.plan import safe_name
from adaptlab.store import Store, results_db
from adaptlab.training.finetune import final_checkpoint
from adaptlab.training.trained import RECORD, TRAINED

FORMATS = ("adapter", "merged", "gguf", "memory")
EXPORT_RECORD = "export.json"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
# llama.cpp's converter is in its source tree only (the llama-cpp-python sdist's vendor/llama.cpp, not its wheel nor
# the `gguf` package); and it recognises neither `tiny`'s tokenizer nor the organism's, so here nothing could test it.
GGUF_MISSING = ("--format gguf is not supported: it needs llama.cpp's convert_hf_to_gguf.py, which no installed "
                "package ships; export --format merged and run llama.cpp's converter on that folder")


@dataclass(frozen=True)
class StoredRun:
    """A stored run as export needs it: what it ran, and where it kept its work."""

    run_id: str
    model: str
    method: str
    seed: int
    options: MethodOptions
    model_fingerprint: str
    workdir: Path
    trained_steps: int | None = None  # the fine-tuning steps the run took (its stored settings), if it recorded them

    def record(self, fmt: str, base: str) -> dict[str, Any]:
        return {"run_id": self.run_id, "format": fmt, "base_model": base, "model": self.model,
                "model_fingerprint": self.model_fingerprint, "method": self.method, "seed": self.seed,
                "method_options": self.options.model_dump()}


@dataclass(frozen=True)
class Exported:
    run: StoredRun
    format: str
    folder: Path
    base: str  # the base model as recorded (a folder or a hub id)
    nbytes: int


def find_run(rundir: Path, ref: str) -> StoredRun:
    """The stored run whose id is `ref`, or the one whose id starts with `ref`."""
    with Store(results_db(rundir)) as store:
        runs = store.runs()
    matches = [r for r in runs if r["run_id"] == ref] or [r for r in runs if ref and r["run_id"].startswith(ref)]
    if len(matches) != 1:
        some = ", ".join(repr(r["run_id"]) for r in (matches or runs)[:3])
        if not matches:
            raise AdaptlabError(f"{rundir}: no stored run {ref!r} ({len(runs)} stored" + (f", e.g. {some})" if runs
                                                                                          else ")"))
        raise AdaptlabError(f"{rundir}: {len(matches)} stored runs match {ref!r} ({some}, ...); give more of the id")
    r = matches[0]
    return StoredRun(run_id=r["run_id"], model=r["model"], method=r["method"], seed=r["seed"],
                     options=MethodOptions(**r["config"]["method_options"]),
                     model_fingerprint=r["config"]["model_fingerprint"],
                     workdir=rundir / "work" / safe_name(r["run_id"]),
                     trained_steps=(r["info"].get("finetune") or {}).get("steps"))


def formats_of(run: StoredRun) -> tuple[str, ...]:
    """The formats the run's method has an artefact for, its default first; () for a method that trains nothing."""
    method = get_method(run.method, run.options)
    if isinstance(method, FineTuned):
        return ("adapter", "merged", "gguf") if method.finetune_config.mode == "lora" else ("merged", "gguf")
    if isinstance(method, Memory):
        return ("memory",)
    return ()


def describe(run: StoredRun) -> str:
    """What the run trained, in words."""
    method = get_method(run.method, run.options)
    if isinstance(method, FineTuned):
        return "LoRA fine-tuning" if method.finetune_config.mode == "lora" else "full fine-tuning"
    return "a trained memory" if isinstance(method, Memory) else "nothing trained"


def export_run(rundir: Path, ref: str, out: Path, fmt: str | None = None, force: bool = False) -> Exported:
    """Write the trained artefact of run `ref` of `rundir` into `out` (see the module docstring); every problem is
    one line, raised before anything is written."""
    from adaptlab.models.registry import model_fingerprint

    run = find_run(rundir, ref)
    has = formats_of(run)
    if not has:
        raise AdaptlabError(f"run {run.run_id}: method {run.method} trains nothing to export (its knowledge is in "
                            "the prompt: export a fine-tuning or memory run)")
    fmt = fmt or has[0]
    if fmt not in FORMATS:
        raise AdaptlabError(f"--format {fmt!r}: not one of {', '.join(FORMATS)}")
    if fmt not in has:
        what = f"{run.method} ({describe(run)})"
        raise AdaptlabError(f"run {run.run_id}: method {what} has no {fmt} to export (it has: {', '.join(has)})")
    if fmt == "gguf":
        raise AdaptlabError(GGUF_MISSING)
    source = _source(run, fmt)
    _check_out(out, (rundir, source), force)
    if model_fingerprint(run.model) != run.model_fingerprint:
        raise AdaptlabError(f"run {run.run_id}: the weights of model {run.model!r} changed since it ran; its "
                            f"{fmt} belongs to the weights it was trained on")
    base = base_reference(run.model)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        if fmt == "adapter":
            _write_adapter(source, partial, base)
        elif fmt == "merged":
            _write_merged(run, source, partial)
        else:
            for name in (PREFIX_FILE, MEMORY_RECORD):
                shutil.copy2(source / name, partial / name)
        (partial / EXPORT_RECORD).write_text(json.dumps(run.record(fmt, base), indent=1))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.is_dir() and not out.is_symlink():
        shutil.rmtree(out)
    elif out.exists() or out.is_symlink():
        out.unlink()
    partial.rename(out)
    return Exported(run, fmt, out, base, sum(f.stat().st_size for f in out.rglob("*") if f.is_file()))


def base_reference(spec: str) -> str:
    """The base model as another tool finds it: an alias's or a folder's absolute path, a hub id as it is, a GGUF
    file's path."""
    from adaptlab.models.registry import resolve

    source, gguf_file = resolve(spec)
    if isinstance(source, Path):
        return str((source / gguf_file if gguf_file else source).resolve())
    return source


def _check_out(out: Path, keep: tuple[Path, ...], force: bool) -> None:
    """`out` may be written: it is new (or `force`), and replacing it loses nothing stored (`keep`)."""
    for folder in keep:
        if folder.resolve().is_relative_to(out.resolve()):
            raise AdaptlabError(f"--out {out}: holds {folder}, which the export reads; choose another folder")
    if (out.exists() or out.is_symlink()) and not force:
        raise AdaptlabError(f"--out {out}: exists already; choose another folder, or --force to replace it")


def _source(run: StoredRun, fmt: str) -> Path:
    """Where in the run's work folder the artefact is; a one-line error when the run did not keep it."""
    if fmt == "memory":
        folder = run.workdir / MEMORY
        if not (folder / MEMORY_RECORD).is_file():
            raise AdaptlabError(f"run {run.run_id}: no trained memory kept in {folder} (runs stored by an adaptlab "
                                "that did not keep it; run it again into a new run folder)")
        return folder
    trained = run.workdir / TRAINED
    if fmt == "merged" and (trained / RECORD).is_file():  # trained by `adaptlab finetune`: merged already
        return trained / "model"
    method = get_method(run.method, run.options)
    assert isinstance(method, FineTuned)
    steps = run.trained_steps or method.finetune_config.steps  # `epochs`: resolved when the run trained
    checkpoint = final_checkpoint(run.workdir, steps)
    if checkpoint is None:
        raise AdaptlabError(f"run {run.run_id}: no final checkpoint (checkpoint-{steps}) kept "
                            f"in {run.workdir / 'checkpoints'}; it was removed, or the run was not trained here")
    if fmt == "adapter" and not all((checkpoint / f).is_file() for f in ADAPTER_FILES):
        raise AdaptlabError(f"run {run.run_id}: {checkpoint} holds no LoRA adapter ({', '.join(ADAPTER_FILES)})")
    return checkpoint


def _write_adapter(checkpoint: Path, folder: Path, base: str) -> None:
    config = json.loads((checkpoint / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = base  # where PEFT and vLLM find the base (the Trainer saw a module)
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    shutil.copy2(checkpoint / "adapter_model.safetensors", folder / "adapter_model.safetensors")


def _write_merged(run: StoredRun, source: Path, folder: Path) -> None:
    """A Hugging Face model folder with the run's trained weights, the base's tokenizer and adaptlab's facts."""
    from adaptlab.models.registry import load_model

    if source.name == "model":  # `adaptlab finetune`'s folder: complete, merged, what the run evaluated
        shutil.copytree(source, folder, dirs_exist_ok=True)
        return
    weighted = require_trainable(load_model(run.model, device="cpu"), f"exporting run {run.run_id}")
    if (source / "adapter_config.json").is_file():  # LoRA: merged onto the base, as the run merged it
        from peft import PeftModel

        module = PeftModel.from_pretrained(weighted.torch_model, str(source)).merge_and_unload()
    else:  # full fine-tuning: the checkpoint's weights as saved
        from transformers import AutoModelForCausalLM

        module = AutoModelForCausalLM.from_pretrained(str(source), dtype="auto", use_safetensors=True)
    module.config.use_cache = True
    module.save_pretrained(folder)
    weighted.tokenizer.save_pretrained(folder)
    if weighted.meta:
        (folder / "adaptlab.json").write_text(json.dumps(dict(weighted.meta)))
