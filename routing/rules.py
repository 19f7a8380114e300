"""Rules file: parse YAML keeping line numbers, validate with pydantic, compile once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from routing.model import RuleSet
from routing.schema import RulesFile

Path = tuple[str | int, ...]


class RulesError(ValueError):
    """A rejected rules file: 1-based `line`, the `rule_id` when known, and `message`."""

    def __init__(self, line: int, rule_id: str | None, message: str) -> None:
        where = f"line {line}" + (f", rule {rule_id!r}" if rule_id else "")
        super().__init__(f"{where}: {message}")
        self.line = line
        self.rule_id = rule_id
        self.message = message


def load_rules(source: bytes) -> RuleSet:
    """Validate and compile a rules document; raise RulesError(line, rule_id, message)."""
    document = _Document.parse(source)
    try:
        spec = RulesFile.model_validate(document.data)
    except ValidationError as exc:
        raise min(map(document.pydantic_error, exc.errors()), key=_line) from None
    _check_rules(spec, document)
    _check_queues(spec, document)
    _check_sla(spec, document)
    lines = [document.line(("rules", index)) for index in range(len(spec.rules))]
    sla_lines = [document.line(("sla", index)) for index in range(len(spec.sla))]
    return RuleSet(
        version=hashlib.sha256(source).hexdigest()[:16],
        rules=spec.compile_rules(lines),
        default=spec.default.compile(),
        queues=spec.compile_queues(),
        sla=spec.compile_sla(sla_lines),
        business_hours=spec.compile_hours(),
    )


def _line(error: RulesError) -> int:
    return error.line


def _check_rules(spec: RulesFile, document: _Document) -> None:
    """What one rule cannot know alone: unique ids, a business_hours block to refer to."""
    first: dict[str, int] = {}
    for index, rule in enumerate(spec.rules):
        if rule.id in first:
            earlier = document.line(("rules", first[rule.id], "id"))
            message = f"duplicate rule id {rule.id!r} (first used on line {earlier})"
            raise document.error(("rules", index, "id"), message)
        first[rule.id] = index
        if rule.when.business_hours is not None and spec.business_hours is None:
            path: Path = ("rules", index, "when", "business_hours")
            raise document.error(path, "needs a top-level business_hours block")


def _check_queues(spec: RulesFile, document: _Document) -> None:
    """Expansion steps in increasing time, never overflowing into their own queue."""
    for name, queue in spec.queues.items():
        previous = 0
        for index, step in enumerate(queue.expand):
            path: Path = ("queues", name, "expand", index)
            if step.after_seconds <= previous:
                message = f"must be greater than the previous step's ({previous})"
                raise document.error((*path, "after_seconds"), message)
            if step.overflow_queue == name:
                message = "a queue cannot overflow into itself"
                raise document.error((*path, "overflow_queue"), message)
            previous = step.after_seconds


def _check_sla(spec: RulesFile, document: _Document) -> None:
    """Unique policy ids; business-hours timers need opening hours that open."""
    first: dict[str, int] = {}
    for index, policy in enumerate(spec.sla):
        if policy.id in first:
            earlier = document.line(("sla", first[policy.id], "id"))
            message = (
                f"duplicate SLA policy id {policy.id!r} (first used on line {earlier})"
            )
            raise document.error(("sla", index, "id"), message)
        first[policy.id] = index
        if policy.business_hours:
            path: Path = ("sla", index, "business_hours")
            hours = spec.business_hours
            if hours is None:
                raise document.error(path, "needs a top-level business_hours block")
            if not any(hours.weekly.values()):
                raise document.error(path, "the business_hours block never opens")


# --- YAML with line marks -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Document:
    data: object
    lines: dict[Path, int]  # path of a mapping key or sequence item -> its 1-based line

    @classmethod
    def parse(cls, source: bytes) -> _Document:
        """Plain data plus line numbers; YAML problems become RulesError."""
        root = _compose(_decode(source))
        if root is None:
            raise RulesError(1, None, "empty document; expected 'rules' and 'default'")
        reader = _Reader()
        document = cls(reader.read(root, ()), reader.lines)
        if reader.problems:
            line, path, message = reader.problems[0]
            rule_id = document.rule_id(path)
            raise RulesError(line, rule_id, _at(path, message, rule_id))
        if not isinstance(document.data, dict):
            raise document.error(
                (), "the document must be a mapping with 'rules' and 'default'"
            )
        return document

    def line(self, path: Path) -> int:
        """Line of `path`, or of its nearest ancestor present in the file."""
        while path not in self.lines:
            path = path[:-1]
        return self.lines[path]

    def rule_id(self, path: Path) -> str | None:
        """The id of the rule `path` points into, when it has a usable one."""
        if len(path) < 2 or path[0] != "rules" or not isinstance(path[1], int):
            return None
        rules = self.data.get("rules") if isinstance(self.data, dict) else None
        rule = rules[path[1]] if isinstance(rules, list) else None
        found = rule.get("id") if isinstance(rule, dict) else None
        return found if isinstance(found, str) else None

    def error(self, path: Path, message: str) -> RulesError:
        """A RulesError located at `path`."""
        rule_id = self.rule_id(path)
        return RulesError(self.line(path), rule_id, _at(path, message, rule_id))

    def pydantic_error(self, error: ErrorDetails) -> RulesError:
        """Translate one pydantic error into a located RulesError."""
        path = tuple(part for part in error["loc"] if part != "[key]")
        return self.error(path, _describe(error))


def _decode(source: bytes) -> str:
    try:
        return source.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = source.count(b"\n", 0, exc.start) + 1
        raise RulesError(line, None, f"not UTF-8: {exc.reason}") from None


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses aliases: no shared nodes, no exponential expansion."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            problem = f"aliases (*{event.anchor}) are not supported"
            raise yaml.composer.ComposerError(None, None, problem, event.start_mark)
        return super().compose_node(parent, index)


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        words = " ".join(part for part in (exc.context, exc.problem) if part)
        line = mark.line + 1 if mark else 1
        raise RulesError(line, None, f"invalid YAML: {words}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise RulesError(line, None, f"invalid YAML: {exc.reason}") from None


class _Reader:
    """Node tree to plain data; records lines and problems instead of failing early."""

    def __init__(self) -> None:
        self.lines: dict[Path, int] = {}
        self.problems: list[tuple[int, Path, str]] = []
        self._loader = yaml.SafeLoader("")

    def read(self, node: yaml.Node, path: Path) -> object:
        """Plain data for `node`; a mapping key's line wins over its value's."""
        line = self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            items = enumerate(node.value)
            return [self.read(item, (*path, index)) for index, item in items]
        return self._scalar(node, path, line)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, object]:
        result: dict[str, object] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append((line, path, "mapping keys must be plain names"))
                continue
            key = str(key_node.value)
            if key in result:
                self.problems.append((line, (*path, key), "duplicate key"))
                continue
            self.lines[(*path, key)] = line
            result[key] = self.read(value_node, (*path, key))
        return result

    def _scalar(self, node: yaml.Node, path: Path, line: int) -> object:
        try:
            return self._loader.construct_object(node)
        except yaml.MarkedYAMLError as exc:  # an unknown tag such as !custom
            self.problems.append((line, path, f"invalid YAML: {exc.problem}"))
            return None
        except ValueError:  # an impossible date such as 2026-13-01: pydantic says so
            return node.value


def _at(path: Path, message: str, rule_id: str | None) -> str:
    """Prefix `message` with the path, relative to the rule when the rule is named."""
    if rule_id and len(path) > 2:
        path = path[2:]
    dotted = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in path
    )
    return f"{dotted.lstrip('.')}: {message}" if dotted else message


def _describe(error: ErrorDetails) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    if error["type"] == "missing":
        return "required field missing"
    message = error["msg"].removeprefix("Value error, ")
    shown = error["input"]
    if error["type"] != "value_error" and isinstance(shown, str | int | float):
        message += f" (got {shown!r})"
    return message
