"""Name tables: one lookup for activations, losses, optimizers and schedules.

A :class:`Registry` maps names (and aliases) to objects -- instances (activations,
losses) or classes (optimizers, schedules) -- and gives one error message for an
unknown name everywhere.  ``lookup`` accepts an object of the registry's base
type as it is, so every public function that takes a name also takes the object.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Mapping[str, T], Generic[T]):
    """A read-only ``name -> object`` table with aliases.

    Parameters
    ----------
    kind : str
        What the entries are, for error messages (``"activation"``).
    entries : mapping
        Canonical name -> object, in the order they are listed to users.
    aliases : mapping, optional
        Alternative name -> canonical name.
    base : type, optional
        Objects of this type pass through :meth:`lookup` and :meth:`make` unchanged.
    """

    def __init__(self, kind: str, entries: Mapping[str, T], aliases: Mapping[str, str] | None = None,
                 base: type | None = None) -> None:
        self.kind = kind
        self._entries = dict(entries)
        self._aliases = dict(aliases or {})
        self._base = base
        unknown = set(self._aliases.values()) - set(self._entries)
        if unknown:
            raise ValueError(f"{kind} aliases point at unknown names {sorted(unknown)}")

    def __getitem__(self, name: str) -> T:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def canonical(self, name: str) -> str:
        """The canonical name for ``name`` or one of its aliases (case-insensitive)."""
        key = str(name).strip().lower()
        key = self._aliases.get(key, key)
        if key not in self._entries:
            aliases = f" (aliases: {', '.join(sorted(self._aliases))})" if self._aliases else ""
            raise ValueError(f"unknown {self.kind} {name!r}; valid: {', '.join(self._entries)}{aliases}")
        return key

    def lookup(self, spec: Any) -> T:
        """The entry named ``spec``; an object of the base type is returned as it is."""
        if self._base is not None and isinstance(spec, self._base):
            return spec
        return self._entries[self.canonical(spec)]

    def make(self, spec: Any, *args: Any, **kwargs: Any) -> Any:
        """An instance: ``spec`` itself if it already is one, else the named class called with the arguments."""
        if self._base is not None and isinstance(spec, self._base):
            return spec
        return self._entries[self.canonical(spec)](*args, **kwargs)
