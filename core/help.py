"""`main_classification.py --help`: the project's flags grouped by topic, with defaults.

absl's own `--help` lists only flags defined in the main module (ours are defined from
core/settings.py, so it listed none) and `--helpfull` puts absl's 70-odd flags first; this
page comes from the settings table instead: one group per topic in TOPICS order, each flag
with its default (and choices), then the original's flags that are refused. `--helpfull`
still prints absl's full list.
"""

from __future__ import annotations

import shutil
import textwrap

from core.settings import SETTINGS, Setting

# (title, settings sections) in the order a user meets them.
TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Run", ("run", "evaluation", "export")),
    ("Data", ("data",)),
    ("Model", ("network",)),
    ("Augmentation and regularisation", ("regularization",)),
    ("Optimisation and schedule", ("optimizer", "schedule", "precision")),
    ("Distillation and dataset reinforcement", ("distillation",)),
    ("Robustness (ImageNet-C, mCE)", ("robustness",)),
    ("Transfer, t-ReX and fine-tuning", ("trex",)),
)
# Settings whose section is about evaluation but whose topic is transfer.
TOPIC_OVERRIDES = {"pretrained_model_checkpoint_path": "Transfer, t-ReX and fine-tuning",
                   "zeroshot_eval": "Transfer, t-ReX and fine-tuning",
                   "recall_at_k": "Transfer, t-ReX and fine-tuning",
                   "eval_similarity": "Transfer, t-ReX and fine-tuning"}


def topic_of(s: Setting) -> str | None:
    """The help group of a setting (None for the original's refused flags)."""
    if s.name in TOPIC_OVERRIDES:
        return TOPIC_OVERRIDES[s.name]
    for title, sections in TOPICS:
        if s.section in sections:
            return title
    return None


def _default(s: Setting) -> str:
    if s.default is None:
        return "unset"
    if isinstance(s.default, bool):
        return "true" if s.default else "false"
    if isinstance(s.default, (list, tuple)):
        return ",".join(str(v) for v in s.default) or "''"
    return repr(s.default) if s.default == "" else str(s.default)


def _entry(s: Setting, width: int) -> list[str]:
    head = f"  --{s.name}  (default {_default(s)}"
    if s.kind == "enum":
        head += "; " + "|".join(c if c else "''" for c in s.choices)
    head += ")"
    body = textwrap.wrap(s.help, width=width - 6) or [""]
    return [head] + ["      " + line for line in body]


def format_help(usage: str, width: int | None = None) -> str:
    """The whole help page: `usage` (the entrypoint's docstring) then the groups."""
    width = width or min(shutil.get_terminal_size((100, 24)).columns, 100)
    groups: dict[str, list[Setting]] = {title: [] for title, _ in TOPICS}
    refused = []
    for s in SETTINGS.values():
        if s.role == "refused":
            refused.append(s.name)
            continue
        groups[topic_of(s)].append(s)
    lines = [usage.strip(), "", "Presets:", "  --config  (repeatable)",
             "      YAML preset(s) under configs/, applied in order; flags on the command "
             "line win."]
    for title, members in groups.items():
        lines += ["", f"{title}:"]
        for s in members:
            lines += _entry(s, width)
    lines += ["", "Flags of the original accepted only to be refused with the reason "
              "(see core/settings.py):"]
    lines += textwrap.wrap(", ".join("--" + n for n in refused), width=width,
                           initial_indent="  ", subsequent_indent="  ")
    lines += ["", "absl's own flags: --helpfull."]
    return "\n".join(lines) + "\n"
