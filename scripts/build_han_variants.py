"""Write ``ranking/recall/han_variants.py``: the traditional Chinese characters search folds
to simplified ones, from OpenCC's ``t2s`` conversion (a dev dependency, never imported at
run time).

    python scripts/build_han_variants.py > ranking/recall/han_variants.py

Every CJK ideograph of planes 0 and 2 (basic block, extensions A-F, compatibility
ideographs) is converted on its own line, so OpenCC applies its character table and no
phrase; the characters it changes into one other character are kept. A chain (A -> B,
B -> C) is followed to its end so the fold is idempotent. ``tests/test_tokenize.py``
regenerates the table and compares.
"""

from __future__ import annotations

import sys

IDEOGRAPH_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F))
PER_LINE = 40  # CJK characters are two columns wide: 40 of them stay inside ruff's 110


def variant_pairs() -> dict[str, str]:
    """Traditional character -> simplified character, as OpenCC's t2s converts it alone."""
    import opencc

    converter = opencc.OpenCC("t2s")
    chars = [chr(cp) for lo, hi in IDEOGRAPH_RANGES for cp in range(lo, hi + 1)]
    converted = converter.convert("\n".join(chars)).split("\n")
    if len(converted) != len(chars):
        raise RuntimeError("OpenCC joined characters across lines; cannot build the table")
    pairs = {t: s for t, s in zip(chars, converted, strict=True) if s != t and len(s) == 1}
    for t in pairs:  # follow chains so folding twice changes nothing
        seen = {t}
        while pairs[t] in pairs and pairs[t] not in seen:
            seen.add(pairs[t])
            pairs[t] = pairs[pairs[t]]
    return pairs


def _literal(name: str, text: str) -> str:
    lines = [f'    "{text[i : i + PER_LINE]}"' for i in range(0, len(text), PER_LINE)]
    return f"{name} = (\n" + "\n".join(lines) + "\n)\n"


def module_text() -> str:
    """The generated module's source."""
    import opencc

    pairs = variant_pairs()
    traditional = "".join(pairs)
    simplified = "".join(pairs.values())
    version = getattr(opencc, "__version__", "unknown")
    return (
        '"""Traditional Chinese characters (``TRADITIONAL``) and the simplified characters search\n'
        "folds them to (``SIMPLIFIED``, same position), so a query typed in either script finds\n"
        "titles written in the other.\n\n"
        f"Generated from OpenCC {version}'s t2s character conversion by\n"
        "``python scripts/build_han_variants.py > ranking/recall/han_variants.py``; do not edit.\n"
        f'{len(pairs)} characters.\n"""\n\n'
        f'OPENCC_VERSION = "{version}"\n\n'
        + _literal("TRADITIONAL", traditional)
        + "\n"
        + _literal("SIMPLIFIED", simplified)
    )


if __name__ == "__main__":
    sys.stdout.write(module_text())
