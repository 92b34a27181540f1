"""Names in the CLI's tables: what a user typed is shown as text, never as terminal control."""

from __future__ import annotations

import io

from rich.console import Console

from sdd_client.tables import shown_name


def _rendered(text: object) -> str:
    console = Console(file=io.StringIO(), width=120, force_terminal=False, color_system=None)
    console.print(text)
    out = console.file.getvalue()  # type: ignore[attr-defined]
    return str(out)


def test_control_and_format_characters_are_shown_as_escapes() -> None:
    """A sweep named before its names were checked (ESC, a right-to-left override) printed raw in
    sdd sweeps list: its escape sequence rewrote the terminal."""
    shown = _rendered(shown_name("run\x1b[2J\u202eeman"))
    assert "\x1b" not in shown and "\u202e" not in shown
    assert "run\\x1b[2J\\u202eeman" in shown


def test_names_are_text_not_markup() -> None:
    assert _rendered(shown_name("[bold red]mine[/]")).strip() == "[bold red]mine[/]"
    assert _rendered(shown_name(None)).strip() == "-"
    assert _rendered(shown_name("kd β=2 · 4 seeds")).strip() == "kd β=2 · 4 seeds"  # printable text as it is
