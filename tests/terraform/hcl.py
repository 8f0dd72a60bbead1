"""Read `terraform/` without Terraform: parsed HCL, with variables and locals substituted.

Values are the twin of a Pulumi stack file: each variable's default, overlaid by a var file
(`terraform.tfvars.example` unless told otherwise), then by `var` as `terraform plan -var` sets
it; with `var_file=None` they are the twin of `Pulumi.yaml`'s defaults. Only plain references
(`var.x`, `local.x.y`) are substituted; a string that still holds `${...}` after that refers to
something only Terraform can compute.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import hcl2  # bc-python-hcl2, the parser checkov uses

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
EXAMPLE_VARS = TERRAFORM / "terraform.tfvars.example"
_REF = re.compile(r"\$\{((?:var|local)\.[\w-]+(?:\.[\w-]+)*)\}")
_META = ("__start_line__", "__end_line__")


def _clean(value: Any) -> Any:
    """Drop the parser's line markers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if k not in _META}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _unwrap(attribute: list[Any]) -> Any:
    """The parser wraps every attribute value in a one-element list."""
    return attribute[0]


@dataclass(frozen=True)
class Terraform:
    """The root module in `directory`, as parsed HCL blocks."""

    directory: Path = TERRAFORM
    var_file: Path | None = EXAMPLE_VARS
    var: Mapping[str, Any] = field(default_factory=dict)  # `-var` values, over the var file

    @cached_property
    def files(self) -> dict[str, dict[str, Any]]:
        return {
            path.name: _clean(hcl2.loads(path.read_text()))
            for path in sorted(self.directory.glob("*.tf"))
        }

    def blocks(self, kind: str) -> list[dict[str, Any]]:
        return [block for parsed in self.files.values() for block in parsed.get(kind, [])]

    @cached_property
    def variables(self) -> dict[str, dict[str, Any]]:
        return {name: body for block in self.blocks("variable") for name, body in block.items()}

    @cached_property
    def values(self) -> dict[str, Any]:
        """Each variable's default, overlaid by the var file, then by `var` (a variable with none
        of them is absent)."""
        values = {n: _unwrap(v["default"]) for n, v in self.variables.items() if "default" in v}
        if self.var_file is not None:
            values.update(
                {k: _unwrap(v) for k, v in _clean(hcl2.loads(self.var_file.read_text())).items()}
            )
        values.update(self.var)
        return values

    @cached_property
    def locals(self) -> dict[str, Any]:
        return {k: _unwrap(v) for block in self.blocks("locals") for k, v in block.items()}

    @cached_property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return {name: body for block in self.blocks("output") for name, body in block.items()}

    def raw(self, typ: str, name: str, kind: str = "resource") -> dict[str, Any]:
        """One resource (or data source with kind="data") as written."""
        found = [b[typ][name] for b in self.blocks(kind) if name in b.get(typ, {})]
        assert len(found) == 1, f"terraform/ declares {len(found)} {kind} {typ}.{name}, expected 1"
        return found[0]

    def resource(self, typ: str, name: str, kind: str = "resource") -> dict[str, Any]:
        """One resource (or data source), with variables and locals substituted."""
        return self.resolve(self.raw(typ, name, kind))

    def attr(self, typ: str, name: str, *path: str, kind: str = "resource") -> Any:
        """An attribute of a resource; nested blocks are followed through their first entry."""
        value: Any = self.resource(typ, name, kind)
        for key in path:
            assert key in value, f"terraform: {typ}.{name} has no `{key}` (path {'.'.join(path)})"
            value = _unwrap(value[key])
        return value

    def ref(self, reference: str) -> Any:
        head, name, *rest = reference.split(".")
        if head == "var":
            assert name in self.values, f"var.{name} has no default: give it in var= or a var file"
            value = self.values[name]
        else:
            value = self.resolve(self.locals[name])
        for key in rest:
            value = value[key]
        return value

    def resolve(self, value: Any) -> Any:
        """Substitute `var.x` and `local.x.y` references, keeping the value's type when a string
        is a single reference (`"${var.node_min_size}"` resolves to the number)."""
        if isinstance(value, dict):
            return {self.resolve(k): self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, str):
            return value
        whole = _REF.fullmatch(value)
        if whole:
            return self.ref(whole.group(1))
        return _REF.sub(lambda m: str(self.ref(m.group(1))), value)
