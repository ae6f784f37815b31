"""`python -m fanno_spark sweep`: one base config and a grid (or a list of points) of generation settings, run
as one job in one Spark session, one MLflow parent run with a child run per point.

    python -m fanno_spark sweep --config conf/local.yaml --output runs/sweep \\
        --grid llm.temperature=0.3,0.7 --grid augment.rounds=1,2
    python -m fanno_spark sweep --config conf/local.yaml --sweep conf/sweep.yaml

A sweep YAML holds `grid:` (key -> list of values, crossed) and/or `points:` (a list of {key: value}); with
both, every point is crossed with the grid. Every point is validated before Spark starts, with the job's
one-line errors prefixed by the point. Points share what they can (sweep_run.py): the stages whose store key
matches (stage_keys.py) and one prompt cache.
"""

from __future__ import annotations

import argparse
import copy
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .config import ConfigError, FannoConfig, flatten, load_yaml_file, read_yaml, validate

# One Spark session, one sweep dir, one experiment: these sections are the sweep's, never a point's.
FIXED = ("spark", "output", "tracking")


@dataclass(frozen=True)
class Point:
    index: int  # 1-based, the order of the grid
    overrides: dict[str, Any]  # dotted key -> value: what this point sets on top of the base config
    cfg: FannoConfig

    @property
    def name(self) -> str:
        return f"p{self.index}"

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.overrides.items()) or "base config"


def parse_grid(items: list[str]) -> dict[str, list]:
    """`--grid key=v1,v2` (values as YAML: numbers, booleans, null, [lists]) -> {key: [v1, v2]}."""
    grid: dict[str, list] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise ConfigError(f"--grid {item!r}: expected dotted.key=value1,value2")
        try:
            values = yaml.safe_load(f"[{raw}]")
        except yaml.YAMLError:
            raise ConfigError(f"--grid {item!r}: the values are not a YAML list") from None
        if key in grid:
            raise ConfigError(f"--grid {key}: given twice")
        grid[key] = values
    return grid


def _dotted(mapping: dict, prefix: str = "") -> dict[str, Any]:
    """{a: {b: 1}} and {a.b: 1} alike -> {"a.b": 1}."""
    out: dict[str, Any] = {}
    for k, v in mapping.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key.split(".")[0] != "spark":
            out.update(_dotted(v, key + "."))
        else:
            out[key] = v
    return out


def read_sweep_file(path: str | Path) -> tuple[dict[str, list], list[dict[str, Any]]]:
    p = Path(path)
    data = load_yaml_file(p, "sweep")
    unknown = set(data) - {"grid", "points"} if isinstance(data, dict) else {"(not a mapping)"}
    if unknown:
        raise ConfigError(f"{p}: unknown key {', '.join(sorted(unknown))} (known: grid, points)")
    grid = _dotted(data.get("grid") or {})
    bad = [k for k, v in grid.items() if not isinstance(v, list) or not v]
    if bad:
        raise ConfigError(f"{p}: grid.{bad[0]}: expected a list of values")
    points = data.get("points") or []
    if not isinstance(points, list) or not all(isinstance(x, dict) for x in points):
        raise ConfigError(f"{p}: points: expected a list of mappings (dotted.key: value)")
    return grid, [_dotted(x) for x in points]


def _set(data: dict, key: str, value: Any) -> None:
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{key}: {part} is not a section")
    node[parts[-1]] = value


def build_points(config: str | None, overrides: list[str], grid: dict[str, list], listed: list[dict[str, Any]],
                 output: str | None) -> tuple[FannoConfig, list[Point]]:
    """The base config and every point, each validated whole (before Spark starts)."""
    base_data = read_yaml(config, overrides, output)
    base = validate(base_data)
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())] or [{}]
    sets = [{**row, **combo} for row in (listed or [{}]) for combo in combos]
    if len(sets) < 2:
        raise ConfigError("sweep: needs at least 2 points (--grid key=v1,v2, or a sweep file's grid/points)")
    points, seen = [], {}
    for i, over in enumerate(sets, 1):
        fixed = [k for k in over if k.split(".")[0] in FIXED]
        if fixed:
            raise ConfigError(f"sweep point {i}: {fixed[0]} cannot vary between points ({', '.join(FIXED)} are the "
                              "sweep's: one Spark session, one sweep dir, one experiment)")
        data = copy.deepcopy(base_data)
        for k, v in over.items():
            _set(data, k, v)
        label = ", ".join(f"{k}={v}" for k, v in over.items())
        try:
            cfg = validate(data)
        except ConfigError as exc:
            raise ConfigError(f"sweep point {i} ({label}): {exc}") from None
        same = seen.get(repr(sorted(flatten(cfg).items())))
        if same is not None:
            raise ConfigError(f"sweep point {i} ({label}): the same config as point {same}")
        seen[repr(sorted(flatten(cfg).items()))] = i
        points.append(Point(i, over, cfg))
    return base, points


def varied_params(points: list[Point]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the params every point shares: the parent run's, each point's params that differ: its child run's)."""
    flats = [flatten(p.cfg) for p in points]
    keys = sorted({k for f in flats for k in f})
    differ = {k for k in keys if len({repr(f.get(k)) for f in flats}) > 1}
    common = {k: v for k, v in flats[0].items() if k not in differ}
    return common, [{k: f.get(k) for k in sorted(differ)} for f in flats]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fanno_spark sweep", description=__doc__.splitlines()[0])
    p.add_argument("--config", default=None, help="the base config (default: built-in local defaults)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="dotted.key=value",
                   help="override one base config value; repeatable")
    p.add_argument("--grid", action="append", default=[], metavar="dotted.key=v1,v2",
                   help="values of one key; repeatable (the points are every combination)")
    p.add_argument("--sweep", default=None, metavar="FILE", help="a sweep YAML (grid: and/or points:)")
    p.add_argument("--output", default=None, help="the sweep dir (overrides output.dir): points/, stages/, llm_cache/")
    p.add_argument("--resume", action="store_true", help="continue the sweep in an existing sweep dir")
    return p


def load_sweep(argv: list[str] | None) -> tuple[argparse.Namespace, FannoConfig, list[Point]]:
    args = parser().parse_args(argv)
    grid = parse_grid(args.grid)
    listed: list[dict[str, Any]] = []
    if args.sweep:
        file_grid, listed = read_sweep_file(args.sweep)
        clash = set(file_grid) & set(grid)
        if clash:
            raise ConfigError(f"--grid {sorted(clash)[0]}: also in {args.sweep}'s grid")
        grid = {**file_grid, **grid}
    base, points = build_points(args.config, args.overrides, grid, listed, args.output)
    return args, base, points


def main(argv: list[str] | None = None) -> int:
    from .cli import run_guarded

    def go() -> int:
        args, base, points = load_sweep(argv)
        from .sweep_run import run_sweep_cli

        return run_sweep_cli(args, base, points)

    return run_guarded(go)
