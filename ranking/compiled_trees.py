"""The ranking trees compiled to machine code by lleaves: how they are built, loaded and called.

*Built* (at training time, :func:`compile_trees`) with LLVM's small code model when its object
can be loaded into one contiguous block of memory, else with lleaves' default (large) one. The
small model reaches the forest's thresholds with 32-bit offsets from the code (the large one
loads a 64-bit address first), so the code is about a third smaller (the demo model's ``.text``
224,285 -> 155,038 bytes, ``size -A``) and a page's rows score 12-19% faster (``python -m
bench.compiled_trees BUNDLE``); the instructions, their order and every float are the same, so
the scores are the same to the bit. Its one condition is that the code and its constants end up
within 2 GB of each other: LLVM's default loader maps the code and the constants separately, and
a 32-bit offset that does not fit is truncated silently (lleaves' documentation: "will segfault
when used for compiling very large forests"). So a small object is kept only when
:func:`contiguous_loadable` holds (every relocation a 32-bit offset to the object's own
sections, nothing external, under 1 GiB) and is always loaded with llvmlite's own memory
manager, which maps the whole object as one block. Anything else (a forest too large, an
objective that calls ``exp``) is compiled as before.

*Loaded* (:meth:`CompiledTrees.load`) from the bundle's object, either kind: bundles compiled
before keep their large-model object, loaded as lleaves loads it.

*Called* (:meth:`CompiledTrees.score`) straight through the compiled entry function (it drops
the GIL), without lleaves' per-call checks, from a float64 copy of the features written into a
buffer kept per thread instead of a fresh ~250 KB array per page (a helper counted ~60 minor
page faults a page for that array inside the app; a plain loop of fresh copies shows none, as
glibc reuses the block, and ``bench.compiled_trees`` puts the kept buffer within ~0.01 ms of
lleaves' fresh copy on the large object: the buffer is cheap insurance, not a measured gain).
"""

from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ENTRY = "forest_root"  # lleaves' name for the function scoring rows [start, end)
MAX_SMALL_OBJECT = 1 << 30  # bytes: a small-model object this large is compiled large instead
MAX_KEPT_VALUES = 1 << 19  # float64s (4 MB) a thread keeps for its copy; larger pages allocate
_X86_64, _SHT_RELA, _SHT_REL, _SHT_SYMTAB, _R_X86_64_PC32 = 62, 4, 9, 2, 2
# the rows and the scores passed by address (a pointer either way: the entry's arguments are
# double*), which skips a ctypes pointer object per array per page
_ENTRY_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32)
_KEPT = threading.local()  # .rows, .at: this thread's float64 buffer for a page's features, its address


def _sections(data: bytes) -> list[tuple[int, int, int, int]] | None:
    """(type, offset, size, entry size) of each section of a little-endian ELF64 x86-64 object."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1 or len(data) < 64:
        return None
    if int.from_bytes(data[0x12:0x14], "little") != _X86_64:
        return None
    offset = int.from_bytes(data[0x28:0x30], "little")
    size, count = (int.from_bytes(data[at:at + 2], "little") for at in (0x3A, 0x3C))
    headers = [data[offset + i * size:offset + (i + 1) * size] for i in range(count)]
    return [(int.from_bytes(h[4:8], "little"), int.from_bytes(h[0x18:0x20], "little"),
             int.from_bytes(h[0x20:0x28], "little"), int.from_bytes(h[0x38:0x40], "little"))
            for h in headers]


def contiguous_loadable(data: bytes) -> bool:
    """Whether a compiled object may be loaded as one block by llvmlite's memory manager: an
    x86-64 object under :data:`MAX_SMALL_OBJECT` bytes whose every relocation is a 32-bit
    PC-relative offset (R_X86_64_PC32) and which names no symbol outside itself. A large-model
    object (its 64-bit GOT offsets need a GOT that manager cannot place) or one calling a library
    function is not."""
    sections = _sections(data) if len(data) < MAX_SMALL_OBJECT else None
    if sections is None:
        return False
    for kind, offset, size, entry in sections:
        if kind == _SHT_REL or (kind in (_SHT_RELA, _SHT_SYMTAB) and entry != 24):
            return False
        if kind not in (_SHT_RELA, _SHT_SYMTAB):
            continue
        table = np.frombuffer(data, dtype="<u8", count=size // 8, offset=offset).reshape(-1, 3)
        if kind == _SHT_RELA and np.any(table[:, 1] & 0xFFFFFFFF != _R_X86_64_PC32):
            return False
        if kind == _SHT_SYMTAB:  # st_name (u32) st_info st_other st_shndx (u16): undefined is 0
            names, shndx = table[1:, 0] & 0xFFFFFFFF, (table[1:, 0] >> 48) & 0xFFFF
            if np.any((shndx == 0) & (names != 0)):
                return False
    return True


def compile_trees(model_file: str | Path, out_file: str | Path) -> str:
    """Compile a LightGBM text model to ``out_file``; return the code model used (``small`` when
    the object passes :func:`contiguous_loadable`, else ``large``, lleaves' default)."""
    import lleaves

    out = Path(out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    trial = out.with_name(f".{out.name}.small-{os.getpid()}")
    trial.unlink(missing_ok=True)
    try:
        lleaves.Model(model_file=str(model_file)).compile(cache=str(trial), fcodemodel="small")
        if contiguous_loadable(trial.read_bytes()):
            trial.replace(out)
            return "small"
    finally:
        trial.unlink(missing_ok=True)
    lleaves.Model(model_file=str(model_file)).compile(cache=str(out))
    return "large"


class CompiledTrees:
    """A loaded object of compiled trees (one score per row) and the number of features a row has."""

    def __init__(self, engine: object, n_feature: int, contiguous: bool) -> None:
        self._engine = engine  # owns the code: the entry function lives as long as it does
        self._entry = _ENTRY_TYPE(engine.get_function_address(ENTRY))
        self.n_feature = n_feature
        self.contiguous = contiguous  # loaded as one block (a small-model object)

    @classmethod
    def load(cls, object_file: str | Path, n_feature: int) -> CompiledTrees:
        """Load ``object_file`` (either code model) without compiling anything."""
        import llvmlite.binding as llvm

        data = Path(object_file).read_bytes()
        contiguous = contiguous_loadable(data)
        llvm.initialize()
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        machine = llvm.Target.from_triple(llvm.get_process_triple()).create_target_machine(
            cpu=llvm.get_host_cpu_name(), reloc="pic", codemodel="small" if contiguous else "large")
        engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine, use_lmm=contiguous)
        engine.set_object_cache(getbuffer_func=lambda _module: data)
        engine.finalize_object()
        engine.run_static_constructors()
        return cls(engine, n_feature, contiguous)

    def score(self, features: np.ndarray, num_threads: int = 1) -> np.ndarray:
        """The raw score of each row of ``features`` (n, n_feature), any float dtype; rows split
        over ``num_threads`` threads (as lleaves splits them) when more than one."""
        if features.ndim != 2 or features.shape[1] != self.n_feature:
            raise ValueError(f"features must be (n, {self.n_feature}), not {features.shape}")
        n = len(features)
        if n >= 2**31 - 1:  # the entry function's row indexes are int32
            raise ValueError("score at most 2**31 - 2 rows at once")
        rows, data = _float64_rows(n, self.n_feature)
        np.copyto(rows, features, casting="unsafe")
        scores = np.zeros(n)  # the blocks of trees after the first add to it
        out = scores.ctypes.data
        if num_threads <= 1 or n < 2 * num_threads:
            self._entry(data, out, 0, n)
            return scores
        bounds = np.linspace(0, n, num_threads + 1).astype(int)
        with ThreadPoolExecutor(max_workers=num_threads) as pool:  # the entry drops the GIL
            list(pool.map(lambda a, b: self._entry(data, out, int(a), int(b)), bounds[:-1], bounds[1:]))
        return scores


def _float64_rows(n: int, n_feature: int) -> tuple[np.ndarray, int]:
    """An (n, n_feature) float64 array to copy a page's features into, and its address: a view of
    this thread's kept buffer (grown as needed, up to :data:`MAX_KEPT_VALUES`; its address kept
    with it), else a fresh array."""
    size = n * n_feature
    if size > MAX_KEPT_VALUES:
        rows = np.empty((n, n_feature))
        return rows, rows.ctypes.data
    kept = getattr(_KEPT, "rows", None)
    if kept is None or len(kept) < size:
        kept = np.empty(min(max(size, 1 << 15), MAX_KEPT_VALUES))
        _KEPT.rows, _KEPT.at = kept, kept.ctypes.data
    return kept[:size].reshape(n, n_feature), _KEPT.at
