"""The evaluation modes of a run -- --eval_only, --export_only (and the export at the end
of a training) -- as functions of an `engine.trainer.Run` built for them. Everything about
the network comes from the run directory; --robustness is engine/robustness_eval.py.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import keras
import tensorflow as tf

from core import fs
from core.errors import RunDirError
from core.rundir import RunDir
from engine import export_formats
from engine.export import default_class_names, export_saved_model, verify_export
from nets.factory import build_from_config

if TYPE_CHECKING:  # engine.trainer imports this module
    from engine.trainer import Run

MODE_FLAGS = {"eval": "--eval_only", "robustness": "--robustness", "export": "--export_only"}


def restore_for_eval(run: Run, mode: str | None = None) -> str:
    """Restores the --eval_checkpoint (latest, best or auto) of the run; returns it."""
    mode = mode or MODE_FLAGS.get(run.mode, "--eval_only")
    run_dir = run.run_dir or RunDir.open(run.model_dir, mode)
    which = run.cfg["eval_checkpoint"]
    path = run_dir.checkpoint(which, mode if which in ("latest", "best", "auto")
                              else "--eval_checkpoint")
    try:
        # A model-only checkpoint (import_weights.py's ckpt-0) has no optimizer to match.
        # (The reader of the prefix itself: tf.train.list_variables asks first whether the
        # path is a directory, which ram:// answers yes for any prefix of a file's name.)
        names = tf.compat.v1.train.NewCheckpointReader(path).get_variable_to_shape_map()
        model_only = not any(name.startswith("optimizer/") for name in names)
        checkpoint = tf.train.Checkpoint(model=run.model) if model_only else run.ckpts.checkpoint
        status = checkpoint.restore(path).expect_partial()
        status.assert_existing_objects_matched()
    except (tf.errors.OpError, ValueError, IndexError, UnicodeError) as e:
        raise RunDirError(f"checkpoint {path} cannot be read "
                          f"({' '.join(str(e).split())[:160]}); pass another with "
                          "--eval_checkpoint (DIR/ckpt-N, best)") from None
    except AssertionError as e:
        raise RunDirError(f"{path}: checkpoint does not match the network of "
                          f"{run.model_dir}/config.yaml ({str(e).splitlines()[0][:200]})"
                          ) from None
    return path


def _epoch_of_step(run) -> float | int:
    per_epoch = (run.run_dir.config.get("resolved_steps_per_epoch")
                 if run.run_dir is not None else None) or run.steps_per_epoch
    return run.step // max(int(per_epoch), 1)


def eval_only(run: Run) -> dict:
    """Evaluates the run's checkpoint; everything goes to model_dir/eval_only/<name>/."""
    path = restore_for_eval(run)
    elsewhere = sorted((run.cfg.get("changed") or {}))
    run.log.say(f"evaluating {path} on {run.source.description} (preprocessing "
                f"{run.prep.name})" + (f"; data settings other than the run's: "
                                       f"{', '.join(elsewhere)}" if elsewhere else "")
                + f" -> {run.eval_dir}")
    result = run.evaluate(reliability=True)
    reliability = result.pop("reliability", None)
    run.report_eval(result, _epoch_of_step(run), "eval_only", checkpoint=path,
                    data=run.source.description, preprocessing=run.prep.name)
    if run.chief and reliability:
        from engine import plots
        if plots.missing():
            print(f"warning: no reliability diagram: {plots.missing()}", file=sys.stderr,
                  flush=True)
        else:
            png = plots.reliability_diagram(
                reliability, os.path.join(run.eval_dir, "reliability.png"),
                f"{run.run_dir.name} (ECE {result['ece']:.3f})")
            run.log.say(f"reliability diagram: {png}")
            if run.log.write:
                from engine import tensorboard
                tensorboard.log_pngs(run.log.writers["eval"], run.step, {"reliability": png})
    if run.cfg["export_dir"] and run.chief:
        result["export"] = export(run, source_checkpoint=path)
    return result


def export_only(run: Run) -> dict:
    path = restore_for_eval(run)
    run.log.say(f"exporting {path}")
    return {"export": export(run, source_checkpoint=path), "checkpoint": path}


def export(run: Run, source_checkpoint: str | None = None) -> dict:
    """Exports a float32 copy of the network in each --export_format (class names in the
    SavedModel's signature, labels.txt, ONNX metadata) and checks every reloaded artifact;
    returns the first format's check (+ "formats": every check when more than the
    SavedModel)."""
    export_dir = run.cfg["export_dir"]
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        serving_model = build_from_config(run.cfg, run.num_classes)
        serving_model.set_weights(run.model.get_weights())
        info = {"preprocessing_type": run.prep.name, "image_size": run.prep.eval_size,
                "num_classes": run.num_classes,
                "source_run": fs.abspath(run.model_dir), "checkpoint": source_checkpoint}
        formats = run.cfg.get("export_format") or ["savedmodel"]
        checks = {}
        if "savedmodel" in formats:
            export_saved_model(serving_model, run.prep.eval, run.prep.eval_size, export_dir,
                               class_names=run.class_names, info=info)
            checks["savedmodel"] = verify_export(export_dir, serving_model,
                                                 run.source.eval_records(), run.prep.eval,
                                                 run.cfg["val_batch_size"])
        others = [f for f in formats if f != "savedmodel"]
        if others:
            names = run.class_names or default_class_names(run.num_classes)
            paths = export_formats.export_formats(serving_model, others, export_dir, run.prep,
                                                  names, info=info)
            checks.update(export_formats.verify_formats(
                paths, serving_model, run.source.eval_records(), run.prep.eval,
                run.cfg["val_batch_size"]))
    finally:
        keras.mixed_precision.set_global_policy(policy)
    for fmt, check in checks.items():
        what = "SavedModel" if fmt == "savedmodel" else export_formats.FILES[fmt]
        run.log.say(f"exported {what} to {export_dir}: top-1 "
                    f"{'from JPEG bytes ' if fmt == 'savedmodel' else ''}"
                    f"{check['exported_top1']:.4f} vs model {check['model_top1']:.4f} "
                    f"({check['num_images']} images, agreement "
                    f"{check['prediction_agreement']:.4f}, max |prob diff| "
                    f"{check['max_prob_diff']:.2e})")
        if not run.evaluating:
            run.log.record("export", export_dir=export_dir, format=fmt, **check)
        elif run.run_dir is not None and run.chief:
            run.run_dir.append_history("export", export_dir=export_dir, format=fmt,
                                       checkpoint=source_checkpoint, **check)
    for fmt, check in checks.items():
        if not check["match"]:
            raise RuntimeError(f"--export_format={fmt}: the reloaded export disagrees with "
                               f"the model (top-1 {check['exported_top1']} vs "
                               f"{check['model_top1']}, agreement "
                               f"{check['prediction_agreement']}, max |prob diff| "
                               f"{check['max_prob_diff']})")
    result = dict(checks[formats[0]])
    if len(checks) > 1 or formats != ["savedmodel"]:
        result["formats"] = checks
    return result
