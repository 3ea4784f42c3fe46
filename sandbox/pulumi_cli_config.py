"""What the Pulumi CLI does with a project's config before it starts the program, for any project directory.

`pulumi preview` and `pulumi up` load `Pulumi.yaml`, check its `config:` block, read the stack's
`Pulumi.<stack>.yaml`, apply the project's `value`/`default` entries the stack does not set, check the
stack's values against the declared types, and hand the program one map `namespace:key -> string`.
This module does exactly that, offline, so the sandbox, the tests' mocks harness and `orderctl
preflight` refuse what the CLI refuses, with the CLI's words, and run the program on the map it would get.

Sources (pulumi/pulumi, `sdk/go/common/workspace/`):
- `project.go`: `ValidateProject` ("project is missing a 'name' attribute", "found 'X' instead"),
  `Project.Validate` (namespaced keys may not declare `type` or `default`, `default` with `value`,
  arrays without `items`, a default of the wrong type), `RewriteShorthandConfigValues` (bare values:
  a default for project keys, a value for other namespaces), `RewriteConfigPathIntoStackConfigDir`,
  `ValidateConfigValue` (integer: a whole number or a string `strconv.Atoi` accepts; boolean: a bool or
  the string "true"/"false"), `InferFullTypeName` ("array<string>").
- `config.go`: `mergeConfig` / `ValidateStackConfigAndApplyProjectConfig` (missing keys in one message,
  "Stack 'dev' is missing configuration values 'a', 'b' and 'c'"; `validateStackConfigValue`: "must be
  encrypted as it's secret", "must be of type 'integer'"; untyped keys are never validated).
- `resource/config/value.go`: a stack-file scalar is kept as its YAML text; a mapping or sequence as
  compact JSON; a one-key `secure:` mapping is ciphertext.
- `project_test.go`: every config test (TestStackConfigIsInheritedFromProjectConfig,
  TestStackConfigErrorsWhenMissingStackValueForConfigTypeWithNoDefault, ...), replayed in
  tests/sandbox/test_pulumi_cli_config.py.
- Docs: https://www.pulumi.com/docs/iac/concepts/projects/project-file/#config-options and
  https://www.pulumi.com/docs/iac/concepts/config/ (`pulumi up --config key=value` stores a plain string).

Where this differs from the CLI, on purpose (docs/config.md):
- The CLI stops at its first stack-value error; this lists every problem, each in the CLI's words.
- A `secure:` value needs the stack's secrets provider: it is reported, and an override supplies it.
- Overrides (`--config`) naming a project key the project does not declare are refused (the CLI
  would store them, and the program would never read them).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

TYPES = ("string", "integer", "boolean", "array", "object")
_INT64 = 2**63


class StackConfigError(Exception):
    """The stack's config is one the CLI (or the sandbox, for overrides) refuses; one problem per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


class ProjectError(StackConfigError):
    """`Pulumi.yaml` is one the CLI refuses to load."""

    def __init__(self, message: str) -> None:
        super().__init__([message])


class Source(Enum):
    PROJECT_DEFAULT = "project default"
    PROJECT_VALUE = "project value"
    STACK_FILE = "stack file"
    OVERRIDE = "override"


# --- YAML as Go's yaml.v3 reads it: only true/false (any case form) are booleans, not yes/no/on/off.


class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(), Loader=_Loader)
    except OSError as error:
        raise ProjectError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ProjectError(f"could not parse {path} as YAML: {' '.join(str(error).split())}") from None


# --- values as the CLI turns them into strings


def go_json(value: Any) -> str:
    """Go's `json.Marshal`: compact, keys sorted, `<`, `>`, `&` escaped, whole floats without `.0`."""

    def normalise(item: Any) -> Any:
        if isinstance(item, float) and math.isfinite(item) and item == math.trunc(item) and abs(item) < 1e21:
            return int(item)
        if isinstance(item, list):
            return [normalise(element) for element in item]
        if isinstance(item, dict):
            return {str(key): normalise(element) for key, element in item.items()}
        return item

    text = json.dumps(normalise(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028")):
        text = text.replace(char, escaped)
    return text.replace("\u2029", "\\u2029")


def project_value_string(value: Any) -> str:
    """`createConfigValue`: strings, ints and bools as `%v`; anything else as JSON (an object value)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int)):
        return str(value)
    return go_json(value)


def is_valid_value(type_name: str, items: ItemsType | None, value: Any) -> bool:  # noqa: PLR0911 (one per type)
    """`ValidateConfigValue`, for a value as the CLI sees it (a string, or JSON-decoded for objects)."""
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int):
            return True
        if isinstance(value, float):
            return math.isfinite(value) and value == math.trunc(value)
        return isinstance(value, str) and _atoi(value)
    if type_name == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_name == "object":
        return isinstance(value, dict)
    if not isinstance(value, list) or items is None:
        return False
    return all(is_valid_value(items.type, items.items, item) for item in value)


def _atoi(text: str) -> bool:
    """Go's `strconv.Atoi`: an optional sign, ASCII digits, within int64."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return False
    return -_INT64 <= int(text) < _INT64


# --- the project file


@dataclass(frozen=True)
class ItemsType:
    type: str
    items: ItemsType | None = None

    def full_name(self) -> str:
        return f"array<{self.items.full_name()}>" if self.items else self.type


_MISSING: Any = object()


@dataclass(frozen=True)
class ConfigDeclaration:
    """One entry of `Pulumi.yaml`'s `config:` block, after the CLI's shorthand rewrite."""

    key: str  # as written in Pulumi.yaml
    type: str | None = None
    items: ItemsType | None = None
    default: Any = _MISSING
    value: Any = _MISSING
    secret: bool = False
    description: str = ""

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING and self.default is not None

    @property
    def has_value(self) -> bool:
        return self.value is not _MISSING and self.value is not None

    def full_type_name(self) -> str:
        assert self.type is not None
        return f"array<{self.items.full_name()}>" if self.items else self.type


def _closest(needle: str, haystack: list[str], max_distance: int = 2) -> str:
    """`findClosestKey`: the first (sorted) key within a Levenshtein distance of 2, ignoring case."""
    best, best_distance = "", max_distance + 1
    for candidate in sorted(haystack):
        distance = _levenshtein(needle.lower(), candidate.lower())
        if distance == 0:
            return candidate
        if distance < best_distance:
            best, best_distance = candidate, distance
    return best


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _items(raw: Any) -> ItemsType | None:
    if not isinstance(raw, dict):
        return None
    return ItemsType(type=str(raw.get("type", "")), items=_items(raw.get("items")))


def namespaced_by_project(project_name: str, key: str) -> bool:
    """`configKeyIsNamespacedByProject`."""
    return ":" not in key or key.startswith(project_name + ":")


def parse_key(project_name: str, key: str) -> str:
    """`parseConfigKey` + `config.ParseKey`: `ns:name` as is, bare keys in the project's namespace,
    the legacy `ns:config:name` as `ns:name`."""
    if ":" not in key:
        return f"{project_name}:{key}"
    parts = key.split(":")
    if len(parts) == 2 and all(parts):
        return key
    if len(parts) == 3 and parts[1] == "config" and parts[0] and parts[2]:
        return f"{parts[0]}:{parts[2]}"
    raise ProjectError(
        f"could not parse {key} as a configuration key (configuration keys should be of the form `<namespace>:<name>`)"
    )


@dataclass(frozen=True)
class Project:
    directory: Path
    name: str
    runtime: str
    config: Mapping[str, ConfigDeclaration]
    stack_config_dir: Path

    @classmethod
    def load(cls, directory: Path) -> Project:
        """`LoadProject` + `Project.Validate`; raises ProjectError with the CLI's message."""
        path = directory / "Pulumi.yaml"
        document = _load_yaml(path)
        if not isinstance(document, dict):
            kind = {str: "string", list: "array", type(None): "null"}.get(type(document), type(document).__name__)
            raise ProjectError(f"{path}: expected project to be an object, was '{kind}'")
        keys = [str(key) for key in document]
        if "name" not in document:
            raise ProjectError(_missing_attribute(path, "name", keys))
        name = document["name"]
        if not isinstance(name, str) or not name:
            raise ProjectError(f"{path}: project is missing a non-empty string 'name' attribute")
        runtime = document.get("runtime")
        if isinstance(runtime, dict):
            runtime = runtime.get("name")
        if not isinstance(runtime, str) or not runtime:
            raise ProjectError(_missing_attribute(path, "runtime", keys))
        raw_config = document.get("config")
        stack_dir = document.get("stackConfigDir")
        if isinstance(raw_config, str):  # RewriteConfigPathIntoStackConfigDir
            if stack_dir is not None:
                raise ProjectError(
                    f"{path}: Should not use both config and stackConfigDir to define the stack directory. "
                    "Use only stackConfigDir instead."
                )
            stack_dir, raw_config = raw_config, None
        if raw_config is not None and not isinstance(raw_config, dict):
            raise ProjectError(f"{path}: #/config: expected object, string or null")
        declarations = {str(key): _declaration(name, str(key), entry) for key, entry in (raw_config or {}).items()}
        for declaration in declarations.values():
            problem = _declaration_problem(name, declaration)
            if problem:
                raise ProjectError(f"{path}: {problem}")
        return cls(
            directory=directory,
            name=name,
            runtime=runtime,
            config=declarations,
            stack_config_dir=directory / str(stack_dir or ""),
        )

    def stack_file(self, stack: str) -> Path:
        """`Pulumi.<name>.yaml`; a fully qualified `org/project/name` uses its last part, as the CLI does."""
        return self.stack_config_dir / f"Pulumi.{short_stack_name(stack)}.yaml"

    def stacks(self) -> list[str]:
        return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in self.stack_config_dir.glob("Pulumi.*.yaml"))

    def qualify(self, key: str) -> str:
        return parse_key(self.name, key)

    def declared_project_keys(self) -> list[str]:
        """The project's own keys (bare names), as `--config` takes them."""
        return sorted(
            self.qualify(key).split(":", 1)[1] for key in self.config if namespaced_by_project(self.name, key)
        )


def short_stack_name(stack: str) -> str:
    return stack.rsplit("/", 1)[-1]


def _missing_attribute(path: Path, attribute: str, keys: list[str]) -> str:
    closest = _closest(attribute, [key for key in keys if key != attribute])
    found = f"; found '{closest}' instead" if closest else ""
    return f"{path}: project is missing a '{attribute}' attribute{found}"


def _declaration(project_name: str, key: str, entry: Any) -> ConfigDeclaration:
    """`RewriteShorthandConfigValues`: a bare value is a default for the project's keys, a value otherwise."""
    if not isinstance(entry, dict):
        if namespaced_by_project(project_name, key):
            return ConfigDeclaration(key=key, default=entry)
        return ConfigDeclaration(key=key, value=entry)
    type_name = entry.get("type")
    return ConfigDeclaration(
        key=key,
        type=None if type_name is None else str(type_name),
        items=_items(entry.get("items")),
        default=entry.get("default", _MISSING),
        value=entry.get("value", _MISSING),
        secret=entry.get("secret") is True,
        description=str(entry.get("description") or ""),
    )


def _declaration_problem(project_name: str, d: ConfigDeclaration) -> str | None:  # noqa: PLR0911 (one per rule)
    """`Project.Validate`, plus the schema's list of types."""
    if d.has_default and d.has_value:
        return f"project config '{d.key}' cannot have both a 'default' and 'value' attribute"
    if d.type is not None and d.type not in TYPES:
        return f"#/config/{d.key}/type: value must be one of " + ", ".join(f"'{t}'" for t in TYPES)
    if namespaced_by_project(project_name, d.key):
        if d.type == "array" and d.items is None:
            return (
                f"The configuration key '{d.key}' declares an array "
                "but does not specify the underlying type via the 'items' attribute"
            )
        if d.type is not None and d.has_default and not is_valid_value(d.type, d.items, d.default):
            return (
                f"The default value specified for configuration key '{d.key}' "
                f"is not of the expected type '{d.full_type_name()}'"
            )
        return None
    if d.type is not None:
        return f"Configuration key '{d.key}' is not namespaced by the project and should not define a type"
    if d.has_default:
        return (
            f"Configuration key '{d.key}' is not namespaced by the project and should not define a default value. "
            "Did you mean to use the 'value' attribute instead of 'default'?"
        )
    if not d.has_value:
        return f"Configuration key '{d.key}' is namespaced and must provide an attribute 'value'"
    return None


# --- the stack file and the merge


@dataclass(frozen=True)
class StackValue:
    """A `config.Value`: the text the program receives, or ciphertext when `secure`."""

    text: str
    is_object: bool = False
    secure: bool = False
    decrypted: bool = False  # an override standing in for a `secure:` entry's plaintext

    @property
    def encrypted_in_stack(self) -> bool:
        return self.secure or self.decrypted

    def content(self) -> Any:
        """What `validateStackConfigValue` type-checks: the string, or the decoded JSON of an object."""
        return json.loads(self.text) if self.is_object else self.text


def _stack_value(node: yaml.Node) -> StackValue:
    """`config.Value.UnmarshalYAML`: a scalar's text as written; a mapping/sequence as JSON; `secure:`."""
    if isinstance(node, yaml.ScalarNode):
        return StackValue("" if node.tag == "tag:yaml.org,2002:null" else str(node.value))
    value = _Loader(yaml.serialize(node)).get_single_data()
    if isinstance(value, dict) and list(value) == ["secure"] and isinstance(value["secure"], str):
        return StackValue(value["secure"], secure=True)
    return StackValue(go_json(value), is_object=True)


def read_stack_file(project: Project, stack: str) -> dict[str, StackValue]:
    """`LoadProjectStack`: the stack's `config:` with every key qualified (bare keys take the project's name)."""
    path = project.stack_file(stack)
    if not path.is_file():
        known = ", ".join(project.stacks()) or "none"
        raise StackConfigError(
            [f"unknown stack '{stack}': no {path.name} in {path.parent} (stacks with a file: {known})"]
        )
    try:
        root = yaml.compose(path.read_text(), Loader=_Loader)
    except yaml.YAMLError as error:
        raise StackConfigError([f"could not parse {path} as YAML: {' '.join(str(error).split())}"]) from None
    config_node: yaml.Node | None = None
    if isinstance(root, yaml.MappingNode):
        config_node = next((v for k, v in root.value if k.value == "config"), None)
    values: dict[str, StackValue] = {}
    if isinstance(config_node, yaml.MappingNode):
        for key_node, value_node in config_node.value:
            try:
                values[project.qualify(str(key_node.value))] = _stack_value(value_node)
            except ProjectError as error:
                raise StackConfigError([f"{path.name}: {error}"]) from None
    return values


@dataclass(frozen=True)
class ResolvedValue:
    key: str  # namespace:name
    value: str | None  # None: a `secure:` value no override supplied
    source: Source
    secret: bool = False


@dataclass(frozen=True)
class ResolvedConfig:
    project: Project
    stack: str
    values: Mapping[str, ResolvedValue]
    notes: tuple[str, ...] = field(default=())  # not errors for the CLI, but the sandbox cannot act on them

    def program_config(self) -> dict[str, str]:
        """The exact map the program receives; refuses when a value could only be decrypted by the CLI."""
        locked = [v.key for v in self.values.values() if v.value is None]
        if locked:
            raise StackConfigError([_secure_problem(self.stack, key) for key in locked])
        return {key: v.value for key, v in self.values.items() if v.value is not None}

    def secret_keys(self) -> list[str]:
        return sorted(key for key, v in self.values.items() if v.secret)


def _secure_problem(stack: str, key: str) -> str:
    return (
        f"Stack '{short_stack_name(stack)}' configuration key '{key}' is a secure: value, which only the Pulumi CLI "
        f"can decrypt with the stack's secrets provider; offline, give it with --config {key}=VALUE"
    )


def missing_keys_message(stack: str, keys: list[str]) -> str:
    """`missingStackConfigurationKeysError` + `formatMissingKeys`."""
    if len(keys) == 1:
        return f"Stack '{stack}' is missing configuration value '{keys[0]}'"
    ordered = sorted(keys)
    listed = ", ".join(f"'{key}'" for key in ordered[:-1]) + f" and '{ordered[-1]}'"
    return f"Stack '{stack}' is missing configuration values {listed}"


def resolve(
    project: Project,
    stack: str,
    overrides: Mapping[str, str] | None = None,
    stack_values: Mapping[str, StackValue] | None = None,
) -> ResolvedConfig:
    """The config `pulumi up --stack STACK --config k=v ...` would hand the program, or StackConfigError.

    `stack_values` replaces reading `Pulumi.<stack>.yaml` (tests give the file's content directly)."""
    name = short_stack_name(stack)
    values = dict(read_stack_file(project, stack) if stack_values is None else stack_values)
    sources = dict.fromkeys(values, Source.STACK_FILE)
    _apply_overrides(project, overrides or {}, values, sources)
    _apply_project_config(project, name, values, sources)
    problems = _type_problems(project, name, values)
    if problems:
        raise StackConfigError(problems)
    declared_secret = {project.qualify(key) for key, d in project.config.items() if d.secret}
    resolved = {
        key: ResolvedValue(
            key=key,
            value=None if value.secure else value.text,
            source=sources[key],
            secret=value.encrypted_in_stack or key in declared_secret,
        )
        for key, value in sorted(values.items())
    }
    notes = tuple(_secure_problem(stack, key) for key, value in sorted(values.items()) if value.secure)
    return ResolvedConfig(project=project, stack=stack, values=resolved, notes=notes)


def _apply_overrides(
    project: Project, overrides: Mapping[str, str], values: dict[str, StackValue], sources: dict[str, Source]
) -> None:
    """`pulumi up --config k=v` stores a plain string in the stack; over a `secure:` entry, it stands in for
    the plaintext. A project key the project does not declare is refused (the sandbox's rule, not the CLI's)."""
    problems: list[str] = []
    known = project.declared_project_keys()
    for given_key, text in overrides.items():
        path = _LIST_PATH.fullmatch(given_key)
        raw_key = path.group("key") if path else given_key
        try:
            key = project.qualify(raw_key)
        except ProjectError as error:
            problems.append(f"--config {raw_key}: {error}")
            continue
        bare = key.split(":", 1)[1]
        if key.startswith(project.name + ":") and project.config and bare not in known:
            hint = _closest(bare, known)
            suggestion = f" (did you mean '{hint}'?)" if hint else ""
            problems.append(
                f"--config {raw_key}: '{bare}' is not a config key of project '{project.name}'{suggestion}; "
                f"known keys: {', '.join(known)}"
            )
            continue
        if path:
            problem = _set_list_item(values, key, int(path.group("index")), text)
            if problem:
                problems.append(f"--config {given_key}: {problem}")
                continue
        else:
            values[key] = StackValue(text, decrypted=key in values and values[key].secure)
        sources[key] = Source.OVERRIDE
    if problems:
        raise StackConfigError(problems)


# `pulumi up --config-path --config 'names[0]=a'`: a list item; "true"/"false" become booleans, integers
# numbers, anything else a string (pulumi config set's documented path rules). Only list indexes here.
_LIST_PATH = re.compile(r"(?P<key>[^\[\]]+)\[(?P<index>[0-9]+)\]")


def _set_list_item(values: dict[str, StackValue], key: str, index: int, text: str) -> str | None:
    current = values.get(key)
    items: list[Any] = []
    if current is not None and current.is_object and isinstance(current.content(), list):
        items = list(current.content())
    if index > len(items):
        return f"index {index} is past the end of the list ({len(items)} item(s))"
    item: Any = text
    if text in ("true", "false"):
        item = text == "true"
    elif _atoi(text):
        item = int(text)
    if index == len(items):
        items.append(item)
    else:
        items[index] = item
    values[key] = StackValue(go_json(items), is_object=True)
    return None


def _apply_project_config(
    project: Project, stack: str, values: dict[str, StackValue], sources: dict[str, Source]
) -> None:
    """`mergeConfig`: the project's `value`/`default` where the stack sets nothing; every project key with
    neither, and no stack value, reported in one message."""
    missing: list[str] = []
    for declared_key in sorted(project.config):
        declaration = project.config[declared_key]
        key = project.qualify(declared_key)
        if key in values:
            continue
        if declaration.has_default:
            given, source = declaration.default, Source.PROJECT_DEFAULT
        elif declaration.has_value:
            given, source = declaration.value, Source.PROJECT_VALUE
        else:
            if key.split(":", 1)[0] == project.name:
                missing.append(declared_key)
            continue
        values[key] = StackValue(project_value_string(given), is_object=_is_object(given))
        sources[key] = source
    if missing:
        raise StackConfigError([missing_keys_message(stack, missing)])


def _type_problems(project: Project, stack: str, values: Mapping[str, StackValue]) -> list[str]:
    """`validateStackConfigValues`: typed keys only, in key order; every problem, where the CLI stops at one."""
    problems: list[str] = []
    for declared_key in sorted(project.config):
        declaration = project.config[declared_key]
        if declaration.type is None:
            continue
        value = values[project.qualify(declared_key)]
        if declaration.secret and not value.encrypted_in_stack:
            problems.append(f"Stack '{stack}' with configuration key '{declared_key}' must be encrypted as it's secret")
        elif value.secure:
            continue  # ciphertext: only the CLI can decrypt it and check its type
        elif not is_valid_value(declaration.type, declaration.items, value.content()):
            expected = declaration.full_type_name()
            problems.append(f"Stack '{stack}' with configuration key '{declared_key}' must be of type '{expected}'")
    return problems


def _is_object(value: Any) -> bool:
    return not isinstance(value, (str, int, bool))
