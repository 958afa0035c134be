"""Facts about PeerTube's models, read from its own TypeScript declarations.

PeerTube publishes its model definitions on npm as ``@peertube/peertube-types``, one
package per server release. This module reads the ``.d.ts`` files of several releases
and keeps *facts* only, no TypeScript code or prose: for every model (interface or
object type alias, inheritance flattened) which fields each release declares, whether a
field is always present and whether it may be null, the type text of the field, and the
numeric or string constants (``VideoState.PUBLISHED = 1``). The generator uses them to
decide which fields are typed without ``| None`` and to name constants.

``python -m peertube_async.codegen types`` calls :func:`write_snapshot`, which writes
:data:`SNAPSHOT`. The parser is a small tolerant one for the subset of TypeScript that
declaration files use; a construct it does not know is skipped, never fatal.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "LEGEND",
    "SNAPSHOT",
    "SOURCE",
    "VERSIONS",
    "extract",
    "fetch",
    "parse",
    "read_tarball",
    "write_snapshot",
]

SOURCE = "@peertube/peertube-types"
VERSIONS: tuple[str, ...] = (
    "4.2.2",
    "5.1.0",
    "5.2.0",
    "6.0.4",
    "6.3.0",
    "7.1.0",
    "8.0.2",
    "8.1.3",
    "8.2.3",
)
SNAPSHOT = Path(__file__).resolve().parent / "facts" / "peertube-types.json"
LEGEND: dict[str, str] = {
    "R": "always present, never null",
    "N": "always present, may be null",
    "o": "optional, never null",
    "n": "optional, may be null",
    "-": "not declared",
}

# fetch() separates the files it concatenates with this line, so that declarations of the
# same name in different files are not merged (TypeScript merges them only in one file).
FILE_MARKER = "// @tsfacts-file "
_FILE_SPLIT = re.compile(r"^// @tsfacts-file (.*)$", re.MULTILINE)

# Sequelize model types of the server (MVideo, MUserAccountDefault, ...): never REST data.
_SEQUELIZE_TYPE = re.compile(r"^M[A-Z]")


# ---------------------------------------------------------------------------------------
# Tokens


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` is ``id``, ``num``, ``str``, ``tpl`` (template) or ``op``."""

    kind: str
    text: str


_PUNCT = ("...", "=>")
_SINGLE = frozenset("{}()[]<>,;:?|&=.!+-*/%^~@#")
_NUMBER = re.compile(r"0[xXoObB][0-9a-fA-F_]+|[0-9_]*\.?[0-9_]+(?:[eE][+-]?[0-9]+)?n?")


def tokenize(text: str) -> list[Token]:
    """Split declaration text into tokens, dropping comments and whitespace."""
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c.isalpha() or c in "_$":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_$"):
                j += 1
            out.append(Token("id", text[i:j]))
            i = j
        elif c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            found = _NUMBER.match(text, i)
            j = found.end() if found and found.end() > i else i + 1
            out.append(Token("num", text[i:j]))
            i = j
        elif c in "'\"":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(Token("str", text[i : j + 1]))
            i = j + 1
        elif c == "`":
            j, depth = i + 1, 0
            while j < n and not (text[j] == "`" and depth == 0):
                if text[j] == "\\":
                    j += 1
                elif text.startswith("${", j):
                    depth += 1
                    j += 1
                elif text[j] == "}" and depth:
                    depth -= 1
                j += 1
            out.append(Token("tpl", text[i : j + 1]))
            i = j + 1
        else:
            op = next((p for p in _PUNCT if text.startswith(p, i)), c)
            if op in _PUNCT or op in _SINGLE:
                out.append(Token("op", op))
            i += len(op)
    return out


# ---------------------------------------------------------------------------------------
# Type nodes


@dataclass(frozen=True)
class Ref:
    """A named type, possibly with type arguments: ``VideoConstant<number>``."""

    name: str
    args: tuple[TypeNode, ...] = ()


@dataclass(frozen=True)
class Lit:
    """A keyword or literal type: ``string``, ``null``, ``1``, ``'Link'``."""

    text: str


@dataclass(frozen=True)
class Arr:
    """``T[]``."""

    elem: TypeNode


@dataclass(frozen=True)
class UnionT:
    """``A | B``."""

    items: tuple[TypeNode, ...]


@dataclass(frozen=True)
class InterT:
    """``A & B``."""

    items: tuple[TypeNode, ...]


@dataclass(frozen=True)
class Paren:
    """``(T)``."""

    inner: TypeNode


@dataclass(frozen=True)
class Op:
    """A prefix operator: ``keyof T``, ``typeof X``, ``readonly T[]``."""

    op: str
    inner: TypeNode


@dataclass(frozen=True)
class Idx:
    """An indexed access: ``T['key']``, ``typeof X[keyof typeof X]``."""

    obj: TypeNode
    index: TypeNode


@dataclass(frozen=True)
class Raw:
    """Anything the facts need only as text (functions, tuples, conditional and mapped
    types): literal text pieces and nested types, printed in order."""

    parts: tuple[str | TypeNode, ...]


@dataclass(frozen=True)
class Prop:
    """A property signature of an object type."""

    name: str
    optional: bool
    type: TypeNode


@dataclass(frozen=True)
class Obj:
    """An object type literal. ``owner`` names where it is declared (``Video`` for the body
    of ``interface Video``, ``Video.userHistory`` for an inline type of that field), which
    is the name its nested inline objects take as pseudo-models."""

    props: tuple[Prop, ...]
    owner: str
    extras: tuple[str, ...] = ()


TypeNode = Ref | Lit | Arr | UnionT | InterT | Paren | Op | Idx | Raw | Obj


# ---------------------------------------------------------------------------------------
# Declarations


@dataclass
class Interface:
    """``interface Name<params> extends heritage { body }``."""

    name: str
    params: tuple[tuple[str, TypeNode | None], ...]
    heritage: tuple[TypeNode, ...]
    body: Obj


@dataclass
class Alias:
    """``type Name<params> = type``."""

    name: str
    params: tuple[tuple[str, TypeNode | None], ...]
    type: TypeNode


Value = int | float | str | None


@dataclass
class Constant:
    """An enum, or a ``const`` object of literals. A member's value is None when the
    declaration does not tell it (``readonly VIOLENT: number``, computed as ``1 << 0``)."""

    name: str
    members: dict[str, Value]
    is_enum: bool


@dataclass
class Declarations:
    """What :func:`parse` found in one release: types by name and constants by name."""

    types: dict[str, Interface | Alias] = field(default_factory=dict)
    constants: dict[str, Constant] = field(default_factory=dict)
    #: Names declared differently in several files (server-internal ``ScopeNames``...):
    #: dropped, since no one declaration of them is the right one.
    ambiguous: set[str] = field(default_factory=set)


class ParseError(Exception):
    """A statement the parser does not understand; it is skipped."""


_KEYWORD_TYPES = frozenset(
    [
        "string",
        "number",
        "boolean",
        "any",
        "unknown",
        "never",
        "void",
        "null",
        "undefined",
        "object",
        "symbol",
        "bigint",
        "this",
        "true",
        "false",
    ]
)
_SKIP_BLOCKS = frozenset({"namespace", "module", "global", "class"})
_MODIFIERS = frozenset({"export", "declare", "default", "abstract"})


class _Parser:
    """Recursive-descent parser over the tokens of one file."""

    def __init__(self, tokens: list[Token]) -> None:
        self.toks = tokens
        self.i = 0

    # -- helpers

    def peek(self, k: int = 0) -> Token | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def at(self, text: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok is not None and tok.text == text and tok.kind in ("op", "id")

    def take(self) -> Token:
        tok = self.peek()
        if tok is None:
            raise ParseError("unexpected end")
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise ParseError(f"expected {text!r}, got {tok.text!r}")

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.i += 1
            return True
        return False

    def skip_balanced(self) -> None:
        """Skip one bracketed group starting at the current ``(``, ``[``, ``{`` or ``<``."""
        pairs = {"(": ")", "[": "]", "{": "}"}
        if self.at("<"):
            # Angle brackets count only inside a type parameter list: elsewhere in a
            # skipped body a stray one must not unbalance the braces.
            pairs["<"] = ">"
        stack: list[str] = []
        while True:
            tok = self.take()
            if tok.kind != "op":
                continue
            if tok.text in pairs:
                stack.append(pairs[tok.text])
            elif stack and tok.text == stack[-1]:
                stack.pop()
                if not stack:
                    return

    def skip_until(self, stops: frozenset[str]) -> None:
        """Skip to the first of ``stops`` outside brackets (not consumed)."""
        depth = 0
        while (tok := self.peek()) is not None:
            if tok.kind == "op":
                if depth == 0 and tok.text in stops:
                    return
                if tok.text in "([{<":
                    depth += 1
                elif tok.text in ")]}>":
                    if depth == 0:
                        return
                    depth -= 1
            self.i += 1

    def skip_statement(self) -> None:
        """Skip one top-level statement: to its ``;``, or past its body block."""
        depth = 0
        while (tok := self.peek()) is not None:
            self.i += 1
            if tok.kind != "op":
                continue
            if tok.text in "([{":
                depth += 1
            elif tok.text in ")]}":
                depth = max(0, depth - 1)
                if depth == 0 and tok.text == "}" and not self._continues():
                    self.accept(";")
                    return
            elif tok.text == ";" and depth == 0:
                return

    def _continues(self) -> bool:
        # After a closing brace at depth 0: the statement goes on when an operator follows
        # (``const X: { ... } | Y;``), ends when a new statement starts.
        tok = self.peek()
        return tok is not None and tok.kind == "op" and tok.text in "|&[=,)>:.;"

    # -- statements

    def parse_file(self, scope: dict[str, Interface | Alias], consts: dict[str, Constant]) -> None:
        while self.peek() is not None:
            start = self.i
            try:
                self.statement(scope, consts)
            except ParseError:
                self.i = start
                self.skip_statement()
            if self.i == start:
                self.i += 1

    def kind_at(self, k: int = 0) -> str:
        tok = self.peek(k)
        return "" if tok is None else tok.kind

    def statement(self, scope: dict[str, Interface | Alias], consts: dict[str, Constant]) -> None:
        while (tok := self.peek()) is not None and tok.kind == "id" and tok.text in _MODIFIERS:
            self.i += 1
        if tok is None:
            return
        word = tok.text
        if word == "interface":
            self.i += 1
            self.interface(scope)
        elif word == "type" and self.kind_at(1) == "id":
            self.i += 1
            self.alias(scope)
        elif word == "enum" or (word == "const" and self.at("enum", 1)):
            self.i += 2 if word == "const" else 1
            self.enum(consts)
        elif word == "const":
            self.i += 1
            self.const(consts)
        elif word in _SKIP_BLOCKS:
            self.skip_until(frozenset({"{", ";"}))
            if self.at("{"):
                self.skip_balanced()
            self.accept(";")
        else:
            self.skip_statement()

    def type_params(self) -> tuple[tuple[str, TypeNode | None], ...]:
        params: list[tuple[str, TypeNode | None]] = []
        if not self.accept("<"):
            return ()
        while not self.accept(">"):
            while self.at("const") or self.at("in") or self.at("out"):
                if self.at(",", 1) or self.at(">", 1) or self.at("extends", 1):
                    break
                self.i += 1
            name = self.take().text
            default: TypeNode | None = None
            if self.accept("extends"):
                self.ty()
            if self.accept("="):
                default = self.ty()
            params.append((name, default))
            if not self.accept(","):
                self.expect(">")
                break
        return tuple(params)

    def interface(self, scope: dict[str, Interface | Alias]) -> None:
        name = self.take().text
        params = self.type_params()
        heritage: list[TypeNode] = []
        if self.accept("extends"):
            heritage.append(self.ty())
            while self.accept(","):
                heritage.append(self.ty())
        body = self.obj_type(name)
        self.accept(";")
        old = scope.get(name)
        if isinstance(old, Interface):
            # Declaration merging: the earlier members stay first.
            merged = Obj(old.body.props + body.props, name, old.body.extras + body.extras)
            scope[name] = Interface(
                name, old.params or params, old.heritage + tuple(heritage), merged
            )
        elif old is None:
            scope[name] = Interface(name, params, tuple(heritage), body)

    def alias(self, scope: dict[str, Interface | Alias]) -> None:
        name = self.take().text
        params = self.type_params()
        self.expect("=")
        node = self.ty(owner=name)
        if not self.accept(";") and self.peek() is not None:
            raise ParseError("type alias not ended")
        scope.setdefault(name, Alias(name, params, node))

    def enum(self, consts: dict[str, Constant]) -> None:
        name = self.take().text
        self.expect("{")
        members: dict[str, Value] = {}
        following: Value = 0
        while not self.accept("}"):
            key = _unquote(self.take().text)
            value: Value = following
            if self.accept("="):
                start = self.i
                self.skip_until(frozenset({",", "}"}))
                value = _literal_value(self.toks[start : self.i])
            members[key] = value
            following = value + 1 if isinstance(value, (int, float)) else None
            self.accept(",")
        old = consts.get(name)
        if old is not None and old.is_enum:
            # Declaration merging again: enums of one name in one file add up.
            members = {**members, **old.members}
        consts[name] = Constant(name, members, True)

    def const(self, consts: dict[str, Constant]) -> None:
        name = self.take().text
        if not self.accept(":"):
            self.skip_statement()
            return
        node = self.ty(owner=name)
        self.accept(";")
        if not isinstance(node, Obj) or node.extras or not node.props:
            return
        members: dict[str, Value] = {}
        for prop in node.props:
            value = _literal_of(prop.type)
            unknown = isinstance(prop.type, Lit) and prop.type.text in ("number", "string")
            if value is None and not unknown:
                return  # not a table of constants (hook names mapped to ``true``...)
            members[prop.name] = value
        consts.setdefault(name, Constant(name, members, False))

    # -- types

    def ty(self, owner: str = "") -> TypeNode:
        tok, nxt = self.peek(), self.peek(1)
        if tok is not None and tok.text == "asserts" and nxt is not None and nxt.kind == "id":
            self.i += 2
            if self.accept("is"):
                self.ty(owner)
            return Lit("void")
        if tok is not None and tok.kind == "id" and nxt is not None and nxt.text == "is":
            self.i += 2
            self.ty(owner)
            return Lit("boolean")
        node = self.union(owner)
        if self.at("extends"):
            self.i += 1
            ext = self.union(owner)
            self.expect("?")
            yes = self.ty(owner)
            self.expect(":")
            no = self.ty(owner)
            return Raw((node, " extends ", ext, " ? ", yes, " : ", no))
        return node

    def union(self, owner: str) -> TypeNode:
        self.accept("|")
        items = [self.intersection(owner)]
        while self.accept("|"):
            items.append(self.intersection(owner))
        return items[0] if len(items) == 1 else UnionT(tuple(items))

    def intersection(self, owner: str) -> TypeNode:
        self.accept("&")
        items = [self.operator(owner)]
        while self.accept("&"):
            items.append(self.operator(owner))
        return items[0] if len(items) == 1 else InterT(tuple(items))

    def operator(self, owner: str) -> TypeNode:
        tok = self.peek()
        if tok is not None and tok.kind == "id" and tok.text in ("keyof", "unique", "readonly"):
            nxt = self.peek(1)
            if nxt is not None and (nxt.kind != "op" or nxt.text in ("(", "{", "[")):
                self.i += 1
                return Op(tok.text, self.operator(owner))
        if tok is not None and tok.text == "infer":
            self.i += 1
            name = self.take().text
            return Op("infer", Ref(name))
        return self.postfix(owner)

    def postfix(self, owner: str) -> TypeNode:
        node = self.primary(owner)
        while self.at("["):
            self.i += 1
            if self.accept("]"):
                node = Arr(node)
            else:
                index = self.ty(owner)
                self.expect("]")
                node = Idx(node, index)
        return node

    def primary(self, owner: str) -> TypeNode:
        tok = self.take()
        text = tok.text
        if tok.kind in ("str", "num", "tpl"):
            return Lit(text)
        if tok.kind == "op":
            if text == "-" and self.kind_at() == "num":
                return Lit("-" + self.take().text)
            if text == "{":
                self.i -= 1
                return self.obj_type(owner)
            if text == "[":
                return self.tuple_type(owner)
            if text == "(":
                self.i -= 1
                return self.paren_or_function(owner)
            if text == "<":
                self.i -= 1
                self.skip_balanced()
                return self.function(owner)
            raise ParseError(f"unexpected {text!r}")
        if text in ("new", "abstract"):
            if text == "abstract":
                self.expect("new")
            if self.at("<"):
                self.skip_balanced()
            return Raw(("new ", self.function(owner)))
        if text == "typeof":
            if self.at("import"):
                self.i += 1
                return Op("typeof", self.import_type(owner))
            return Op("typeof", Ref(self.dotted(self.take().text)))
        if text == "import" and self.at("("):
            return self.import_type(owner)
        if text in _KEYWORD_TYPES and not self.at("."):
            return Lit(text)
        name = self.dotted(text)
        args: list[TypeNode] = []
        if self.at("<"):
            self.i += 1
            while not self.accept(">"):
                args.append(self.ty(owner))
                if not self.accept(","):
                    self.expect(">")
                    break
        return Ref(name, tuple(args))

    def dotted(self, first: str) -> str:
        name = first
        while self.at(".") and self.kind_at(1) == "id":
            self.i += 1
            name += "." + self.take().text
        return name

    def import_type(self, owner: str) -> TypeNode:
        self.expect("(")
        module = self.take().text
        self.expect(")")
        name = f"import({module})"
        while self.accept("."):
            name += "." + self.take().text
        args: list[TypeNode] = []
        if self.accept("<"):
            while not self.accept(">"):
                args.append(self.ty(owner))
                if not self.accept(","):
                    self.expect(">")
                    break
        return Ref(name, tuple(args))

    def tuple_type(self, owner: str) -> TypeNode:
        parts: list[str | TypeNode] = ["["]
        while not self.accept("]"):
            if len(parts) > 1:
                parts.append(", ")
            if self.accept("..."):
                parts.append("...")
            tok, nxt = self.peek(), self.peek(1)
            if (
                tok is not None
                and tok.kind == "id"
                and nxt is not None
                and (nxt.text == ":" or (nxt.text == "?" and self.at(":", 2)))
            ):
                self.i += 1
                optional = self.accept("?")
                self.expect(":")
                parts.append(tok.text + ("?: " if optional else ": "))
            parts.append(self.ty(owner))
            if self.accept("?"):
                parts.append("?")
            if not self.accept(","):
                self.expect("]")
                break
        parts.append("]")
        return Raw(tuple(parts))

    def paren_or_function(self, owner: str) -> TypeNode:
        start = self.i
        self.skip_balanced()
        arrow = self.at("=>")
        self.i = start
        if arrow:
            return self.function(owner)
        self.expect("(")
        inner = self.ty(owner)
        self.expect(")")
        return Paren(inner)

    def function(self, owner: str) -> TypeNode:
        parts: list[str | TypeNode] = ["("]
        parts.extend(self.params(owner))
        parts.append(") => ")
        self.expect("=>")
        parts.append(self.ty(owner))
        return Raw(tuple(parts))

    def params(self, owner: str) -> list[str | TypeNode]:
        """Parse ``(a: T, b?: U, ...c: V[])``; destructured names print as ``_``."""
        parts: list[str | TypeNode] = []
        self.expect("(")
        while not self.accept(")"):
            if parts:
                parts.append(", ")
            rest = self.accept("...")
            if self.at("{") or self.at("["):
                self.skip_balanced()
                name = "_"
            else:
                name = self.take().text
            optional = self.accept("?")
            parts.append(("..." if rest else "") + name + ("?" if optional else ""))
            if self.accept(":"):
                parts.append(": ")
                parts.append(self.ty(owner))
            if not self.accept(","):
                self.expect(")")
                break
        return parts

    def obj_type(self, owner: str) -> Obj:
        """Parse ``{ ... }``: property signatures become props; index, call and method
        signatures and mapped types are kept only as text."""
        self.expect("{")
        props: list[Prop] = []
        extras: list[str] = []
        while not self.accept("}"):
            start = self.i
            try:
                member = self.member(owner)
            except ParseError:
                self.i = start
                member = None
            if member is None:
                self.i = start
                self.skip_until(frozenset({";", ",", "}"}))
                extras.append(_join(self.toks[start : self.i]))
            else:
                props.append(member)
            if not (self.accept(";") or self.accept(",")) and not self.at("}"):
                raise ParseError("member not ended")
        return Obj(tuple(props), owner, tuple(extras))

    def member(self, owner: str) -> Prop | None:
        while True:
            tok, nxt = self.peek(), self.peek(1)
            if tok is None or nxt is None:
                return None
            if tok.text in ("+", "-") and nxt.text == "readonly":
                self.i += 1
                continue
            # ``readonly x``, ``get x()``: modifiers when a name follows, names otherwise.
            modifier = tok.text in ("readonly", "get", "set", "static", "public", "private")
            if tok.kind == "id" and modifier and nxt.kind in ("id", "str", "num"):
                if tok.text in ("get", "set"):
                    return None
                self.i += 1
                continue
            break
        tok = self.take()
        if tok.kind not in ("id", "str", "num"):
            return None  # index signature, mapped type, call signature
        if tok.text == "new" and (self.at("(") or self.at("<")):
            return None
        optional = self.accept("?")
        if not self.accept(":"):
            return None  # a method signature: behaviour, not data
        node = self.ty(f"{owner}.{_unquote(tok.text)}")
        return Prop(_unquote(tok.text), optional, node)


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0]:
        return text[1:-1]
    return text


def _literal_value(tokens: Sequence[Token]) -> int | float | str | None:
    texts = [t.text for t in tokens]
    negative = len(texts) == 2 and texts[0] == "-" and tokens[1].kind == "num"
    if len(tokens) == 1 and tokens[0].kind == "str":
        return _unquote(tokens[0].text)
    if (len(tokens) == 1 and tokens[0].kind == "num") or negative:
        return _number("".join(texts))
    return None


def _number(text: str) -> int | float | None:
    clean = text.replace("_", "")
    try:
        return int(clean, 0)
    except ValueError:
        try:
            return float(clean)
        except ValueError:
            return None


def _literal_of(node: TypeNode) -> int | float | str | None:
    if not isinstance(node, Lit):
        return None
    if node.text[:1] in "'\"":
        return _unquote(node.text)
    if re.fullmatch(r"-?[0-9][0-9_.xXa-fA-FoObBeE+]*", node.text):
        return _number(node.text)
    return None


def _join(tokens: Sequence[Token]) -> str:
    text = " ".join(t.text for t in tokens)
    text = re.sub(r" ([,;:)\]>?.])", r"\1", text)
    return re.sub(r"([(\[<.]) ", r"\1", text)


def parse(text: str) -> Declarations:
    """Parse the declarations of one release.

    ``text`` may hold several files separated by :data:`FILE_MARKER` lines. Declarations
    of one name in one file merge as TypeScript merges them; a name declared identically
    in several files is kept once, and one declared differently is dropped (see
    :attr:`Declarations.ambiguous`).
    """
    decls = Declarations()
    chunks = _FILE_SPLIT.split(text)
    # re.split alternates content and captured paths: content, path, content, ...
    for chunk in chunks[::2]:
        scope: dict[str, Interface | Alias] = {}
        consts: dict[str, Constant] = {}
        _Parser(tokenize(chunk)).parse_file(scope, consts)
        _add(decls.types, scope, decls.ambiguous)
        _add(decls.constants, consts, decls.ambiguous)
    for name in decls.ambiguous:
        decls.types.pop(name, None)
        decls.constants.pop(name, None)
    return decls


def _add(into: dict[str, Any], found: Mapping[str, Any], ambiguous: set[str]) -> None:
    # The bundles of 6.3 and later declare the client's models twice, identically:
    # that is no ambiguity. Unbundled releases have server-internal names declared
    # differently in each file.
    for name, decl in found.items():
        if name not in into:
            into[name] = decl
        elif into[name] != decl:
            ambiguous.add(name)


# ---------------------------------------------------------------------------------------
# Printing


def _flat_union(node: TypeNode) -> list[TypeNode]:
    if isinstance(node, Paren):
        return _flat_union(node.inner)
    if isinstance(node, UnionT):
        return [leaf for item in node.items for leaf in _flat_union(item)]
    return [node]


def render(node: TypeNode) -> str:
    """Print a type back as compact TypeScript-like text."""
    if isinstance(node, Ref):
        if not node.args:
            return node.name
        return f"{node.name}<{', '.join(render(a) for a in node.args)}>"
    if isinstance(node, Lit):
        return node.text
    if isinstance(node, Arr):
        inner = render(node.elem)
        needs = isinstance(node.elem, (UnionT, InterT, Op)) or (
            isinstance(node.elem, Raw) and " => " in inner
        )
        return f"({inner})[]" if needs else f"{inner}[]"
    if isinstance(node, UnionT):
        return " | ".join(render(i) for i in node.items)
    if isinstance(node, InterT):
        return " & ".join(
            f"({render(i)})" if isinstance(i, UnionT) else render(i) for i in node.items
        )
    if isinstance(node, Paren):
        return f"({render(node.inner)})"
    if isinstance(node, Op):
        return f"{node.op} {render(node.inner)}"
    if isinstance(node, Idx):
        return f"{render(node.obj)}[{render(node.index)}]"
    if isinstance(node, Raw):
        return "".join(p if isinstance(p, str) else render(p) for p in node.parts)
    members = [f"{p.name}{'?' if p.optional else ''}: {render(p.type)}" for p in node.props]
    members += list(node.extras)
    return "{ " + "; ".join(members) + " }" if members else "{}"


# ---------------------------------------------------------------------------------------
# Resolution of models


@dataclass(frozen=True)
class Field:
    """A resolved field: its flags and its type without ``null``/``undefined``."""

    optional: bool
    nullable: bool
    type: TypeNode
    owner: str

    @property
    def code(self) -> str:
        """The one-letter status of :data:`LEGEND`."""
        if self.optional:
            return "n" if self.nullable else "o"
        return "N" if self.nullable else "R"


Shape = dict[str, Field]


def _make_field(prop: Prop, owner: str) -> Field:
    leaves = _flat_union(prop.type)
    nullable = any(isinstance(x, Lit) and x.text == "null" for x in leaves)
    undefined = any(isinstance(x, Lit) and x.text == "undefined" for x in leaves)
    kept = [x for x in leaves if not (isinstance(x, Lit) and x.text in ("null", "undefined"))]
    if not kept:
        node: TypeNode = prop.type
    elif len(kept) == len(leaves):
        node = prop.type
    else:
        node = kept[0] if len(kept) == 1 else UnionT(tuple(kept))
    return Field(prop.optional or undefined, nullable, node, owner)


def _substitute(node: TypeNode, env: Mapping[str, TypeNode]) -> TypeNode:
    if not env:
        return node
    if isinstance(node, Ref):
        if not node.args and node.name in env:
            value = env[node.name]
            return Paren(value) if isinstance(value, (UnionT, InterT)) else value
        return Ref(node.name, tuple(_substitute(a, env) for a in node.args))
    if isinstance(node, Arr):
        return Arr(_substitute(node.elem, env))
    if isinstance(node, UnionT):
        return UnionT(tuple(_substitute(i, env) for i in node.items))
    if isinstance(node, InterT):
        return InterT(tuple(_substitute(i, env) for i in node.items))
    if isinstance(node, Paren):
        return Paren(_substitute(node.inner, env))
    if isinstance(node, Op):
        return Op(node.op, _substitute(node.inner, env))
    if isinstance(node, Idx):
        return Idx(_substitute(node.obj, env), _substitute(node.index, env))
    if isinstance(node, Raw):
        return Raw(tuple(p if isinstance(p, str) else _substitute(p, env) for p in node.parts))
    if isinstance(node, Obj):
        props = tuple(replace(p, type=_substitute(p.type, env)) for p in node.props)
        return Obj(props, node.owner, node.extras)
    return node


_WRAPPERS = frozenset({"Partial", "Required", "Readonly", "NonNullable"})


class _Resolver:
    """Flattens declarations into shapes (field name -> :class:`Field`)."""

    def __init__(self, decls: Declarations) -> None:
        self.decls = decls
        self.stack: list[str] = []
        self.cache: dict[str, Shape | None] = {}

    def named(self, name: str) -> Shape | None:
        if name not in self.cache:
            self.cache[name] = self.reference(Ref(name))
        return self.cache[name]

    def shape(self, node: TypeNode) -> Shape | None:
        """The fields of an object-like type, or None when it is not one."""
        if isinstance(node, Paren):
            return self.shape(node.inner)
        if isinstance(node, Obj):
            return {p.name: _make_field(p, node.owner) for p in node.props}
        if isinstance(node, Ref):
            if not node.args and node.name in self.cache:
                return self.cache[node.name]
            return self.reference(node)
        if isinstance(node, InterT):
            return self.intersection(node.items)
        if isinstance(node, UnionT):
            return self.union(node.items)
        return None

    def reference(self, ref: Ref) -> Shape | None:
        base = re.sub(r"\$\d+$", "", ref.name)  # bundlers rename clashes: Omit$1
        if base in _WRAPPERS and len(ref.args) == 1:
            inner = self.shape(ref.args[0])
            if inner is None or base in ("Readonly", "NonNullable"):
                return inner
            return {k: replace(f, optional=base == "Partial") for k, f in inner.items()}
        if base == "Record" and len(ref.args) == 2:
            # Record<`total${ActivityType}Errors`, number>: one field per key, when the
            # keys can be listed (ServerStats gets its per-activity counters this way).
            names = self.keys(ref.args[0])
            if names is None:
                return None
            value = ref.args[1]
            owner = value.owner if isinstance(value, Obj) else ""
            return {n: _make_field(Prop(n, False, value), owner) for n in sorted(names)}
        if base in ("Omit", "Pick") and len(ref.args) == 2:
            inner = self.shape(ref.args[0])
            keys = self.keys(ref.args[1])
            if inner is None:
                return None
            if keys is None:
                return inner if base == "Omit" else None
            if base == "Omit":
                return {k: f for k, f in inner.items() if k not in keys}
            return {k: f for k, f in inner.items() if k in keys}
        decl = self.decls.types.get(ref.name)
        if decl is None or ref.name in self.stack:
            return None
        env = {
            name: (ref.args[n] if n < len(ref.args) else default)
            for n, (name, default) in enumerate(decl.params)
            if n < len(ref.args) or default is not None
        }
        clean_env = {k: v for k, v in env.items() if v is not None}
        self.stack.append(ref.name)
        try:
            if isinstance(decl, Alias):
                return self.shape(_substitute(decl.type, clean_env))
            shape: Shape = {}
            for parent in decl.heritage:
                shape.update(self.shape(_substitute(parent, clean_env)) or {})
            own = self.shape(_substitute(decl.body, clean_env)) or {}
            shape.update(own)
            return shape
        finally:
            self.stack.pop()

    def intersection(self, items: Iterable[TypeNode]) -> Shape | None:
        shapes = [s for s in (self.shape(i) for i in items) if s is not None]
        if not shapes:
            return None
        out: Shape = {}
        for shape in shapes:
            for name, new in shape.items():
                old = out.get(name)
                if old is not None:
                    # In A & B a field may be absent (or null) only if it may be in both.
                    new = replace(
                        new,
                        optional=old.optional and new.optional,
                        nullable=old.nullable and new.nullable,
                    )
                out[name] = new
        return out

    def union(self, items: Iterable[TypeNode]) -> Shape | None:
        shapes = [s for s in (self.shape(i) for i in items) if s is not None]
        if len(shapes) <= 1:
            return shapes[0] if shapes else None
        out: Shape = {}
        names = dict.fromkeys(n for s in shapes for n in s)
        for name in names:
            present = [s[name] for s in shapes if name in s]
            leaves = {render(x): x for f in present for x in _flat_union(f.type)}
            node = (
                next(iter(leaves.values())) if len(leaves) == 1 else UnionT(tuple(leaves.values()))
            )
            out[name] = Field(
                optional=len(present) < len(shapes) or any(f.optional for f in present),
                nullable=any(f.nullable for f in present),
                type=node,
                owner=present[0].owner,
            )
        return out

    def template_keys(self, body: str) -> set[str] | None:
        """The strings a template literal type stands for: ``a${'b' | 'c'}`` -> ab, ac."""
        pieces = _PLACEHOLDER.split(body)
        out = {pieces[0]}
        for n in range(1, len(pieces), 2):
            try:
                node = _Parser(tokenize(pieces[n])).ty()
            except ParseError:
                return None
            fills = self.keys(node)
            if fills is None or len(out) * len(fills) > _MAX_KEYS:
                return None  # ${string}, or too many to list
            out = {head + fill + pieces[n + 1] for head in out for fill in fills}
        return out

    def keys(self, node: TypeNode) -> set[str] | None:
        """The string keys a type names: ``'a' | 'b'``, an alias of such, ``keyof T``."""
        if isinstance(node, Paren):
            return self.keys(node.inner)
        if isinstance(node, Lit) and node.text.startswith("`"):
            return self.template_keys(node.text[1:-1])
        if isinstance(node, Lit):
            value = _literal_of(node)
            return {str(value)} if value is not None else None
        if isinstance(node, UnionT):
            out: set[str] = set()
            for item in node.items:
                part = self.keys(item)
                if part is None:
                    return None
                out |= part
            return out
        if isinstance(node, Op) and node.op == "keyof":
            shape = self.shape(node.inner)
            return set(shape) if shape is not None else None
        if isinstance(node, Ref) and not node.args:
            decl = self.decls.types.get(node.name)
            if isinstance(decl, Alias) and node.name not in self.stack:
                self.stack.append(node.name)
                try:
                    return self.keys(decl.type)
                finally:
                    self.stack.pop()
        return None


_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_MAX_KEYS = 10_000


def _split_inline(node: TypeNode, name: str) -> tuple[TypeNode, TypeNode | None]:
    """Replace the inline object part of a field type by the pseudo-model ``name``.

    Returns the type to print and the object part (None when there is none): ``{...}``,
    ``{...}[]``, ``Array<{...}>``, ``A & {...}``, ``{...} | {...} | string``.
    """
    if isinstance(node, Obj):
        return Ref(name), node
    if isinstance(node, Paren):
        inner, part = _split_inline(node.inner, name)
        return (Paren(inner) if isinstance(inner, (UnionT, InterT)) else inner), part
    if isinstance(node, Arr):
        elem, part = _split_inline(node.elem, name)
        return Arr(elem), part
    if isinstance(node, Ref) and node.name in ("Array", "ReadonlyArray") and len(node.args) == 1:
        elem, part = _split_inline(node.args[0], name)
        return Ref(node.name, (elem,)), part
    if isinstance(node, InterT):
        if any(
            isinstance(i, Obj) or (isinstance(i, Paren) and isinstance(i.inner, Obj))
            for i in node.items
        ):
            return Ref(name), node
        return node, None
    if isinstance(node, UnionT):
        printed: list[TypeNode] = []
        parts: list[TypeNode] = []
        for item in node.items:
            new, part = _split_inline(item, name)
            if part is not None:
                parts.append(part)
            if render(new) not in {render(p) for p in printed}:
                printed.append(new)
        if not parts:
            return node, None
        whole = printed[0] if len(printed) == 1 else UnionT(tuple(printed))
        return whole, parts[0] if len(parts) == 1 else UnionT(tuple(parts))
    return node, None


@dataclass
class _Release:
    models: dict[str, dict[str, tuple[str, str]]]
    constants: dict[str, dict[str, Value]]
    aliases: dict[str, str]


def _release(text: str) -> _Release:
    decls = parse(text)
    resolver = _Resolver(decls)
    models: dict[str, dict[str, tuple[str, str]]] = {}
    pending: list[tuple[str, Shape]] = []
    for name in sorted(decls.types):
        if _is_sequelize_type(decls.types[name]):
            continue
        shape = resolver.named(name)
        if shape:
            pending.append((name, shape))
    while pending:
        name, shape = pending.pop(0)
        if name in models:
            continue
        fields: dict[str, tuple[str, str]] = {}
        for fname, fld in shape.items():
            pseudo = f"{fld.owner}.{fname}"
            printed, part = _split_inline(fld.type, pseudo)
            inner = resolver.shape(part) if part is not None else None
            if inner:
                pending.append((pseudo, inner))
            else:
                printed = fld.type
            fields[fname] = (fld.code, " ".join(render(printed).split()))
        models[name] = fields
    aliases: dict[str, str] = {}
    for name, decl in decls.types.items():
        target = _enum_alias(decl)
        if target is not None:
            aliases[name] = target
    for name, const in decls.constants.items():
        if const.is_enum:
            aliases[name] = name
    # A const object of ``number`` members only is a constant table when a
    # ``typeof X[keyof typeof X]`` type names it (NSFWFlag); otherwise it is anything.
    constants = {
        n: dict(c.members)
        for n, c in decls.constants.items()
        if c.members and (n in aliases.values() or any(v is not None for v in c.members.values()))
    }
    return _Release(models, constants, aliases)


def _refs(node: TypeNode) -> Iterator[str]:
    """The names a type refers to, at any depth."""
    if isinstance(node, Ref):
        yield node.name
        for arg in node.args:
            yield from _refs(arg)
    elif isinstance(node, Arr):
        yield from _refs(node.elem)
    elif isinstance(node, (UnionT, InterT)):
        for item in node.items:
            yield from _refs(item)
    elif isinstance(node, (Paren, Op)):
        yield from _refs(node.inner)
    elif isinstance(node, Idx):
        yield from _refs(node.obj)
        yield from _refs(node.index)
    elif isinstance(node, Raw):
        for part in node.parts:
            if not isinstance(part, str):
                yield from _refs(part)
    elif isinstance(node, Obj):
        for prop in node.props:
            yield from _refs(prop.type)


def _is_sequelize_type(decl: Interface | Alias) -> bool:
    """``type MCommentAPI = MComment & { totalReplies: number }``: the server's views of
    its Sequelize models. Their M* parents are classes, which are not read, so only the
    added bits would show: misleading, and not REST data anyway."""
    if not isinstance(decl, Alias) or not _SEQUELIZE_TYPE.match(decl.name):
        return False
    return any(_SEQUELIZE_TYPE.match(r) or r.endswith("Model") for r in _refs(decl.type))


def _enum_alias(decl: Interface | Alias) -> str | None:
    """``X`` for ``type XType = typeof X[keyof typeof X]``."""
    if not isinstance(decl, Alias) or decl.params:
        return None
    node = decl.type
    while isinstance(node, Paren):
        node = node.inner
    if not isinstance(node, Idx):
        return None
    obj = node.obj.inner if isinstance(node.obj, Paren) else node.obj
    expected = Op("keyof", Op("typeof", obj.inner)) if isinstance(obj, Op) else None
    if isinstance(obj, Op) and obj.op == "typeof" and node.index == expected:
        return render(obj.inner)
    return None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) if x.isdigit() else 0 for x in re.split(r"[.-]", version))


def extract(texts_by_version: Mapping[str, str]) -> dict[str, Any]:
    """Compute the snapshot (see the module docstring) from the declaration text of each
    release; versions are ordered by number, whatever the mapping's order."""
    versions = sorted(texts_by_version, key=_version_key)
    releases = [_release(texts_by_version[v]) for v in versions]
    newest_first = list(reversed(releases))

    models: dict[str, Any] = {}
    for name in sorted({m for r in releases for m in r.models}):
        field_names = sorted({f for r in releases for f in r.models.get(name, {})})
        codes = {
            f: "".join(r.models.get(name, {}).get(f, ("-", ""))[0] for r in releases)
            for f in field_names
        }
        types = {
            f: next(r.models[name][f][1] for r in newest_first if f in r.models.get(name, {}))
            for f in field_names
        }
        models[name] = {"fields": codes, "types": types}

    constants: dict[str, Any] = {}
    for name in sorted({c for r in releases for c in r.constants}):
        having = [(v, r.constants.get(name, {})) for v, r in zip(versions, releases, strict=True)]
        members: dict[str, Value] = {}
        since: dict[str, str] = {}
        until: dict[str, str] = {}
        for member in sorted({m for _, c in having for m in c}):
            present = [v for v, c in having if member in c]
            # The newest known value: 6.0 turned enums into const objects and typed the
            # bit flags ``number``, so their values are known from older releases only.
            known = [c[member] for _, c in reversed(having) if c.get(member) is not None]
            members[member] = known[0] if known else None
            if present[0] != versions[0]:
                since[member] = present[0]
            if present[-1] != versions[-1]:
                until[member] = present[-1]
        entry: dict[str, Any] = {"members": members}
        if since:
            entry["since"] = since
        if until:
            entry["until"] = until
        constants[name] = entry

    aliases: dict[str, str] = {}
    for release in releases:  # oldest first, so the newest release has the last word
        for alias, target in release.aliases.items():
            if target in constants:
                aliases[alias] = target

    return {
        "source": SOURCE,
        "versions": versions,
        "legend": dict(LEGEND),
        "models": models,
        "constants": constants,
        "aliases": dict(sorted(aliases.items())),
    }


# ---------------------------------------------------------------------------------------
# Packages


def _tarball_name(version: str) -> str:
    return f"peertube-peertube-types-{version}.tgz"


def read_tarball(path: Path) -> str:
    """The ``.d.ts`` files under ``package/`` of an npm tarball, concatenated in path
    order, each preceded by a :data:`FILE_MARKER` line."""
    chunks: list[str] = []
    with tarfile.open(path, "r:gz") as tar:
        members = [
            m
            for m in tar.getmembers()
            if m.isfile() and m.name.startswith("package/") and m.name.endswith(".d.ts")
        ]
        for member in sorted(members, key=lambda m: m.name):
            handle = tar.extractfile(member)
            if handle is None:
                continue
            with handle:
                text = io.TextIOWrapper(handle, encoding="utf-8").read()
            # A newline after each file: the last line of a file is often a comment
            # without one (``//# sourceMappingURL=...``) that would eat the next file.
            chunks.append(f"{FILE_MARKER}{member.name}\n{text}\n")
    return "".join(chunks)


def fetch(versions: Iterable[str], workdir: Path) -> dict[str, str]:
    """Download each release with ``npm pack`` into ``workdir`` and return its
    declaration text (see :func:`read_tarball`) by version."""
    workdir.mkdir(parents=True, exist_ok=True)
    texts: dict[str, str] = {}
    for version in versions:
        subprocess.run(
            ["npm", "pack", "--silent", f"{SOURCE}@{version}"],
            cwd=workdir,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        texts[version] = read_tarball(workdir / _tarball_name(version))
    return texts


def _texts(versions: Sequence[str], tarballs_dir: Path | None) -> Iterator[tuple[str, str]]:
    if tarballs_dir is not None:
        for version in versions:
            yield version, read_tarball(tarballs_dir / _tarball_name(version))
        return
    with tempfile.TemporaryDirectory(prefix="peertube-types-") as tmp:
        yield from fetch(versions, Path(tmp)).items()


def write_snapshot(
    path: Path = SNAPSHOT,
    versions: Sequence[str] = VERSIONS,
    tarballs_dir: Path | None = None,
) -> dict[str, Any]:
    """Write the snapshot of ``versions`` to ``path`` and return it.

    The packages come from npm, or from ``tarballs_dir`` when given (files named
    ``peertube-peertube-types-X.tgz``, as ``npm pack`` names them).
    """
    snapshot = extract(dict(_texts(versions, tarballs_dir)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(snapshot, indent=1, sort_keys=True) + "\n")
    return snapshot
