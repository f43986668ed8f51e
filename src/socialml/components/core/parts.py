"""One way to build a swappable part from parameters: ``{kind: <name>, <option>: <value>, ...}``.

Encoders, clustering steps, topic classifiers, recommenders, post-feed generators and rankers,
and audience models each keep a :class:`Parts` registry of their kinds. A kind is a class or a function whose keyword parameters, with their
type hints, are its options: ``build`` refuses an unknown kind, an unknown option or a value of the
wrong type before anything is trained, naming the role, the kind, the option and the allowed ones.
Parameters whose names end in ``_`` are learned state, not options.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any, Callable, Generic, Mapping, TypeVar

from pydantic import TypeAdapter, ValidationError

from socialml.components.core.errors import SettingsError

T = TypeVar("T")


class Parts(Generic[T]):
    """The kinds of one role (``"encoder"``, ``"recommender"``, ...), built from parameters."""

    def __init__(self, role: str, kinds: Mapping[str, Callable[..., T]]) -> None:
        self.role = role
        self.kinds = dict(kinds)

    def options(self, kind: str) -> dict[str, Any]:
        """Option name → its type hint (``Any`` where none is given)."""
        return declared_options(self._factory(kind))

    def check(self, config: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """(kind, options validated and converted to their declared types), or a ValueError saying what is wrong."""
        options = dict(config)
        kind = options.pop("kind", None)
        return kind, typed_options(f"{self.role} '{kind}'", self._factory(kind), options)

    def build(self, config: Mapping[str, Any], **defaults: Any) -> T:
        """The part; ``defaults`` fill the options the kind declares and ``config`` leaves unset (a model's
        seed and thread count passed on to its parts)."""
        kind, options = self.check(config)
        declared = self.options(kind)
        return self.kinds[kind](**{**{k: v for k, v in defaults.items() if k in declared}, **options})

    def _name(self, kind: Any) -> str:
        if kind not in self.kinds:
            given = f"{self.role} has no kind" if kind is None else f"unknown {self.role} kind {kind!r}"
            raise SettingsError(f"{given}: set `kind` to one of {sorted(self.kinds)}")
        return kind

    def _factory(self, kind: str) -> Callable[..., T]:
        return self.kinds[self._name(kind)]


def declared_options(factory: Callable[..., Any]) -> dict[str, Any]:
    """The keyword parameters of a class or function with their type hints, learned state (``name_``) left out."""
    hints = typing.get_type_hints(_hinted(factory))
    parameters = inspect.signature(factory).parameters.values()
    return {p.name: hints.get(p.name, Any) for p in parameters
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and not p.name.endswith("_")}


def typed_options(what: str, factory: Callable[..., Any], options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` checked against ``factory``'s declared ones and converted to their types; a ValueError
    naming ``what``, the option and the allowed ones otherwise. Settings that are not swappable parts
    (the answer clustering's) are checked this way too."""
    allowed = declared_options(factory)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise SettingsError(f"{what} has no option {', '.join(map(repr, unknown))}; its options are {sorted(allowed)}")
    typed = {}
    for name, value in options.items():
        try:
            typed[name] = TypeAdapter(allowed[name]).validate_python(value)
        except ValidationError:
            raise SettingsError(f"{what}: option '{name}' must be {_describe(allowed[name])}, got {value!r}") from None
    return typed


def with_options_of(source: Callable[..., Any], factory: Callable[..., T]) -> Callable[..., T]:
    """``factory`` declared with ``source``'s options (signature and type hints), for a kind that wraps
    another role's part: a recommender used as a post-feed candidate generator."""
    def build(**options: Any) -> T:
        return factory(**options)

    build.__signature__ = inspect.signature(source)
    build.__annotations__ = typing.get_type_hints(_hinted(source))
    return build


def _hinted(factory: Callable[..., Any]) -> Callable[..., Any]:
    return factory if not inspect.isclass(factory) or dataclasses.is_dataclass(factory) else factory.__init__


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(hint)))
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
