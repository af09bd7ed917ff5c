"""Values sent between a student's notebook and the grader, in a form that cannot carry code.

The grader (``grokbook.teaching.grading``) never unpickles what a student's kernel wrote: a
pickle can run any code when it is loaded.  A message here is one file written by ``torch.save``
holding a JSON string (the value's structure) and a list of plain tensors, read back with
``torch.load(weights_only=True)``, which restores tensors, strings, lists and dicts only.  The
structure names its types from a fixed list (``DATACLASSES``, ``MODULES``); ``decode`` builds
nothing else.  What crosses: None, bools, numbers, strings, lists, tuples, dicts, tensors, NumPy
arrays and scalars, pandas Series, DataFrames and single-level indexes, and what ``gb.train``,
``gb.transformer.train_transformers`` and ``gb.ensembles`` return (their configs, splits and
networks included).  Anything else raises ``TransferError`` naming the type.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..analysis.ensembles import Ensemble
from ..core.settings import Config, Run, TransformerConfig
from ..engine.data import Splits
from ..engine.models import BatchedMLP
from ..engine.train import SweepResult
from ..engine.transformer import BatchedTransformer, TransformerResult

DATACLASSES = {c.__name__: c for c in (Config, TransformerConfig, Run, Splits, SweepResult,
                                       TransformerResult, Ensemble)}
MODULES = {c.__name__: c for c in (BatchedMLP, BatchedTransformer)}
MAX_BYTES = 2 * 1024 ** 3  # a message larger than this is refused before it is read
MAX_NODES = 2_000_000
KINDS = "biufc"  # NumPy dtype kinds sent as tensors (bool, int, uint, float, complex)
SENDS = ("None, bools, numbers, strings, lists, tuples, dicts, tensors, NumPy arrays, pandas "
         "Series and DataFrames, or what gb.train returns")


class TransferError(ValueError):
    """A value that cannot cross between the notebook and the grader."""


def encode(value) -> tuple[object, list]:
    """(structure, tensors): ``value`` as JSON-able structure plus the tensors it refers to."""
    tensors: list[torch.Tensor] = []

    def tensor(t):
        tensors.append(t.detach().cpu().contiguous().clone())
        return len(tensors) - 1

    def column(values):  # an array, a Series' values or an Index's values
        values = np.asarray(values)
        if values.dtype.kind in KINDS:
            return {"$": "ndarray", "i": tensor(torch.from_numpy(np.array(values, copy=True)))}
        return {"$": "objects", "shape": list(values.shape), "items": [enc(v) for v in values.reshape(-1).tolist()]}

    def index(ix):
        if isinstance(ix, pd.MultiIndex):
            raise TransferError("a MultiIndex cannot be sent; call reset_index() first")
        if isinstance(ix, pd.RangeIndex):
            return {"$": "range", "start": ix.start, "stop": ix.stop, "step": ix.step, "name": enc(ix.name)}
        return {"$": "index", "data": column(ix.to_numpy()), "name": enc(ix.name)}

    def series_data(s):
        if isinstance(s.dtype, pd.CategoricalDtype):
            return {"$": "categorical", "codes": column(s.cat.codes.to_numpy()),
                    "categories": column(s.cat.categories.to_numpy()), "ordered": bool(s.cat.ordered)}
        if s.dtype.kind not in KINDS + "O" and not pd.api.types.is_string_dtype(s.dtype):
            raise TransferError(f"a column of dtype {s.dtype} cannot be sent")
        return column(s.to_numpy(dtype=object) if s.dtype.kind not in KINDS else s.to_numpy())

    def enc(v):
        if v is None or isinstance(v, (bool, int, float, str)):
            return {"$": "int", "v": str(v)} if isinstance(v, int) and not isinstance(v, bool) and abs(v) >= 2 ** 53 else v
        if isinstance(v, list):
            return [enc(x) for x in v]
        if isinstance(v, tuple):
            return {"$": "tuple", "items": [enc(x) for x in v]}
        if isinstance(v, dict):
            return {"$": "dict", "items": [[enc(k), enc(x)] for k, x in v.items()]}
        if isinstance(v, torch.nn.Parameter):
            return {"$": "parameter", "i": tensor(v)}
        if isinstance(v, torch.Tensor):
            return {"$": "tensor", "i": tensor(v)}
        if isinstance(v, np.generic) and v.dtype.kind in KINDS:
            return {"$": "npscalar", "i": tensor(torch.from_numpy(np.asarray(v).reshape(1)))}
        if isinstance(v, np.ndarray):
            return column(v)
        if isinstance(v, pd.DataFrame):
            return {"$": "frame", "columns": [enc(c) for c in v.columns],
                    "data": [series_data(v.iloc[:, j]) for j in range(v.shape[1])],
                    "index": index(v.index), "attrs": enc(dict(v.attrs))}
        if isinstance(v, pd.Series):
            return {"$": "series", "data": series_data(v), "index": index(v.index), "name": enc(v.name)}
        if isinstance(v, pd.Index):
            return index(v)
        if type(v).__name__ in MODULES and type(v) is MODULES[type(v).__name__]:
            if v._modules:
                raise TransferError(f"a {type(v).__name__} with submodules cannot be sent")
            attrs = {k: enc(x) for k, x in vars(v).items() if not k.startswith("_")}
            return {"$": "module", "type": type(v).__name__, "attrs": attrs,
                    "parameters": {k: tensor(p) for k, p in v._parameters.items()},
                    "buffers": {k: tensor(b) for k, b in v._buffers.items()}}
        if dataclasses.is_dataclass(v) and type(v) is DATACLASSES.get(type(v).__name__):
            return {"$": "dataclass", "type": type(v).__name__,
                    "fields": {f.name: enc(getattr(v, f.name)) for f in dataclasses.fields(v) if f.init}}
        raise TransferError(f"a {type(v).__module__}.{type(v).__qualname__} cannot be sent to the grader; "
                            f"return {SENDS}")

    return enc(value), tensors


def decode(structure, tensors: list) -> object:
    """The value ``encode`` described; builds only the types named in this module."""
    count = [0]

    def tensor(i):
        if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(tensors):
            raise TransferError(f"a tensor index {i!r} outside the message's {len(tensors)} tensors")
        return tensors[i].clone()

    def column(d):
        kind = tag(d)
        if kind == "ndarray":
            return tensor(d["i"]).numpy()
        if kind == "objects":
            items = [dec(x) for x in d["items"]]
            out = np.empty(len(items), dtype=object)
            out[:] = items
            return out.reshape([int(n) for n in d["shape"]])
        raise TransferError(f"expected an array, got {kind!r}")

    def index(d):
        kind = tag(d)
        if kind == "range":
            return pd.RangeIndex(int(d["start"]), int(d["stop"]), int(d["step"]), name=dec(d["name"]))
        if kind == "index":
            return pd.Index(column(d["data"]), name=dec(d["name"]))
        raise TransferError(f"expected an index, got {kind!r}")

    def series_data(d):
        if tag(d) == "categorical":
            return pd.Categorical.from_codes(column(d["codes"]), categories=column(d["categories"]),
                                             ordered=bool(d["ordered"]))
        return column(d)

    def dec(v):
        count[0] += 1
        if count[0] > MAX_NODES:
            raise TransferError(f"a message of more than {MAX_NODES} values")
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return [dec(x) for x in v]
        kind = tag(v)
        if kind == "int":
            return int(v["v"])
        if kind == "tuple":
            return tuple(dec(x) for x in v["items"])
        if kind == "dict":
            return {_key(dec(k)): dec(x) for k, x in v["items"]}
        if kind == "tensor":
            return tensor(v["i"])
        if kind == "parameter":
            return torch.nn.Parameter(tensor(v["i"]))
        if kind == "npscalar":
            return tensor(v["i"]).numpy()[0]
        if kind in ("ndarray", "objects"):
            return column(v)
        if kind == "frame":
            columns = [dec(c) for c in v["columns"]]
            data = [series_data(d) for d in v["data"]]
            if len(columns) != len(data):
                raise TransferError("a DataFrame whose columns and data differ in number")
            frame = pd.DataFrame(dict(zip(range(len(data)), data)), index=index(v["index"]))
            frame.columns = columns
            frame.attrs.update(dec(v["attrs"]))
            return frame
        if kind == "series":
            return pd.Series(series_data(v["data"]), index=index(v["index"]), name=dec(v["name"]))
        if kind in ("range", "index"):
            return index(v)
        if kind == "module":
            return _module(v, dec, tensor)
        if kind == "dataclass":
            cls = DATACLASSES.get(v["type"])
            if cls is None:
                raise TransferError(f"the type {v['type']!r} is not one the grader builds")
            names = {f.name for f in dataclasses.fields(cls) if f.init}
            fields = {k: dec(x) for k, x in v["fields"].items()}
            if set(fields) != names:
                raise TransferError(f"a {v['type']} with the fields {sorted(fields)}")
            return cls(**fields)
        raise TransferError(f"an unknown kind of value {kind!r}")

    return dec(structure)


def _key(k):
    if isinstance(k, (list, dict)):
        raise TransferError("a dict key that is a list or dict")
    return k


def tag(v) -> str:
    if not isinstance(v, dict) or not isinstance(v.get("$"), str):
        raise TransferError(f"a malformed value {str(v)[:80]!r}")
    return v["$"]


def _module(v, dec, tensor):
    cls = MODULES.get(v["type"])
    if cls is None:
        raise TransferError(f"the network type {v['type']!r} is not one the grader builds")
    module = cls.__new__(cls)
    torch.nn.Module.__init__(module)
    for k, x in v["attrs"].items():
        if k.startswith("_"):
            raise TransferError(f"a private attribute {k!r} of a network")
        value = dec(x)
        if not (value is None or isinstance(value, (bool, int, float, str))):
            raise TransferError(f"a network attribute {k!r} that is not a plain value")
        setattr(module, k, value)
    for k, i in v["parameters"].items():
        module.register_parameter(k, torch.nn.Parameter(tensor(i)))
    for k, i in v["buffers"].items():
        module.register_buffer(k, tensor(i))
    return module


def write(value, path) -> None:
    """Write ``value`` to ``path`` as one message (TransferError if it cannot be sent)."""
    structure, tensors = encode(value)
    torch.save({"structure": json.dumps(structure), "tensors": tensors}, Path(path))


def read(path) -> object:
    """The value of the message at ``path``, built without running any code it holds."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise TransferError(f"a message of {size / 1e9:.1f} GB, over the {MAX_BYTES / 1e9:.1f} GB allowed")
    try:
        message = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # noqa: BLE001 - anything unreadable is refused
        raise TransferError(f"not a plain message of values and tensors ({type(err).__name__}); "
                            "it was not loaded") from None
    if (not isinstance(message, dict) or set(message) != {"structure", "tensors"}
            or not isinstance(message["structure"], str) or not isinstance(message["tensors"], list)
            or not all(type(t) is torch.Tensor for t in message["tensors"])):
        raise TransferError("a message that is not a structure and a list of tensors")
    return decode(json.loads(message["structure"]), message["tensors"])
