"""Every public name has a docstring: modules, classes, functions, methods, properties,
and each dataclass field (in its class's Attributes section)."""

from __future__ import annotations

import dataclasses
import inspect
import types

import tidelog
import tidelog._tidelog
import tidelog.firehose
import tidelog.kinesis
import tidelog.testing

MODULES = [tidelog, tidelog.kinesis, tidelog.firehose, tidelog.testing, tidelog._tidelog]


def undocumented() -> list[str]:
    missing = []

    def check(name: str, obj: object) -> None:
        doc = inspect.getdoc(obj)
        if not doc or not doc.strip():
            missing.append(name)

    for module in MODULES:
        check(module.__name__, module)
        for name in module.__all__:
            obj = getattr(module, name)
            if name.startswith("_") or isinstance(obj, (str, types.ModuleType)):
                continue
            qual = f"{module.__name__}.{name}"
            check(qual, obj)
            if not inspect.isclass(obj):
                continue
            class_doc = inspect.getdoc(obj) or ""
            fields = {f.name for f in dataclasses.fields(obj)} if dataclasses.is_dataclass(obj) else set()
            for field in fields:
                if f"        {field}: " not in (obj.__doc__ or ""):
                    missing.append(f"{qual}.{field} (not in the class's Attributes)")
            for attr, value in vars(obj).items():
                if attr.startswith("_") or attr in fields or not (
                    callable(value) or isinstance(value, (property, classmethod, staticmethod))
                    or type(value).__name__ in ("getset_descriptor", "method_descriptor")
                ):
                    continue
                check(f"{qual}.{attr}", getattr(obj, attr))
            assert class_doc
    return missing


def test_every_public_name_has_a_docstring() -> None:
    assert undocumented() == []
