"""The Pulumi CLI's config rules, case by case, with the CLI's own words.

Cases marked `project_test.go::<Name>` replay the test of that name in pulumi/pulumi
`sdk/go/common/workspace/project_test.go`: the same Pulumi.yaml, stack file and expected result.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.pulumi_cli_config import (
    Project,
    ProjectError,
    Source,
    StackConfigError,
    go_json,
    missing_keys_message,
    resolve,
)


def project_dir(tmp_path: Path, project_yaml: str, stack_yaml: str | None = "", stack: str = "dev") -> Path:
    (tmp_path / "Pulumi.yaml").write_text(project_yaml)
    if stack_yaml is not None:
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(stack_yaml)
    return tmp_path


def config_of(tmp_path: Path, project_yaml: str, stack_yaml: str = "", **overrides: str) -> dict[str, str]:
    return resolve(Project.load(project_dir(tmp_path, project_yaml, stack_yaml)), "dev", overrides).program_config()


def refusal(tmp_path: Path, project_yaml: str, stack_yaml: str = "", **overrides: str) -> str:
    with pytest.raises(StackConfigError) as raised:
        config_of(tmp_path, project_yaml, stack_yaml, **overrides)
    return str(raised.value)


# --- Pulumi.yaml


def test_project_without_name_is_refused(tmp_path: Path) -> None:  # project_test.go::TestProjectLoadYAML
    assert refusal(tmp_path, "{}").endswith("project is missing a 'name' attribute")
    assert refusal(tmp_path, "name:\n").endswith("project is missing a non-empty string 'name' attribute")


def test_project_without_runtime_is_refused(tmp_path: Path) -> None:  # project_test.go::TestProjectLoadYAML
    assert refusal(tmp_path, "name: project").endswith("project is missing a 'runtime' attribute")


def test_misspelt_name_and_runtime_are_pointed_out(tmp_path: Path) -> None:
    # project_test.go::TestProjectLoadJSONInformativeErrors
    assert "project is missing a 'name' attribute; found 'Name' instead" in refusal(
        tmp_path, "Name: project\nruntime: test"
    )
    assert "project is missing a 'runtime' attribute; found 'rutnime' instead" in refusal(
        tmp_path, "name: project\nrutnime: test"
    )


def test_project_that_is_not_an_object_is_refused(tmp_path: Path) -> None:  # project_test.go::TestProjectLoadYAML
    assert "expected project to be an object, was 'string'" in refusal(tmp_path, '"hello"')


def test_namespaced_key_may_not_declare_a_type(tmp_path: Path) -> None:
    # project_test.go::TestNamespacedProjectConfigShouldNotBeExplicitlyTyped
    project = (
        "name: test\nruntime: dotnet\nconfig:\n  aws:region:\n    type: string\n    value:\n      region: us-west-1"
    )
    assert "Configuration key 'aws:region' is not namespaced by the project and should not define a type" in refusal(
        tmp_path, project
    )


def test_namespaced_key_may_not_declare_a_default(tmp_path: Path) -> None:
    # project_test.go::TestNamespacedProjectConfigShouldNotBeProvideDefault
    message = refusal(tmp_path, "name: test\nruntime: dotnet\nconfig:\n  aws:region:\n    default: us-west-1")
    assert "Configuration key 'aws:region' is not namespaced by the project and should not define a default value" in (
        message
    )
    assert "Did you mean to use the 'value' attribute instead of 'default'?" in message


def test_default_and_value_together_are_refused(tmp_path: Path) -> None:
    # project_test.go::TestProjectConfigCannotHaveBothValueAndDefault
    project = (
        "name: test\nruntime: dotnet\nconfig:\n  instanceSize:\n    type: string\n    default: t3.micro\n"
        "    value: t4.large"
    )
    assert "project config 'instanceSize' cannot have both a 'default' and 'value' attribute" in refusal(
        tmp_path, project
    )


def test_typed_array_needs_items(tmp_path: Path) -> None:
    # project_test.go::TestProjectConfigCannotBeTypedArrayWithoutItems
    project = (
        "name: test\nruntime: dotnet\nconfig:\n  instanceSize:\n    type: array\n    default: [t3.micro, t4.large]"
    )
    assert (
        "The configuration key 'instanceSize' declares an array but does not specify the underlying type via the "
        "'items' attribute" in refusal(tmp_path, project)
    )


@pytest.mark.parametrize(
    ("declaration", "expected_type"),
    [
        ("type: integer\n    default: hello", "integer"),
        ("type: array\n    items:\n      type: array\n      items:\n        type: string\n    default: [hello]",
         "array<array<string>>"),
    ],
)  # fmt: skip
def test_default_of_the_wrong_type_is_refused(tmp_path: Path, declaration: str, expected_type: str) -> None:
    # project_test.go::TestProjectValidationFailsForIncorrectDefaultValueType
    project = f"name: test\nruntime: dotnet\nconfig:\n  key:\n    {declaration}"
    assert f"The default value specified for configuration key 'key' is not of the expected type '{expected_type}'" in (
        refusal(tmp_path, project)
    )


def test_default_of_the_right_type_loads(tmp_path: Path) -> None:
    # project_test.go::TestProjectValidationSucceedsForCorrectDefaultValueType
    project = (
        "name: test\nruntime: dotnet\nconfig:\n  instanceSize:\n    type: integer\n    default: 1\n"
        "  values:\n    type: array\n    items:\n      type: array\n      items:\n        type: string\n"
        "    default: [[hello]]"
    )
    assert config_of(tmp_path, project) == {"test:instanceSize": "1", "test:values": '[["hello"]]'}


def test_config_schemas_load_typed_and_bare_forms(
    tmp_path: Path,
) -> None:  # project_test.go::TestProjectLoadsConfigSchemas
    project = Project.load(
        project_dir(
            tmp_path,
            """
name: test
runtime: dotnet
config:
  integerSchemaFull:
    type: integer
    description: a very important value
    default: 1
  integerSchemaSimple: 20
  textSchemaFull:
    type: string
    default: t3.micro
  textSchemaSimple: t4.large
  booleanSchemaFull:
    type: boolean
    default: true
  booleanSchemaSimple: false
  simpleArrayOfStrings:
    type: array
    items:
      type: string
    default: [hello]
  arrayOfArrays:
    type: array
    items:
      type: array
      items:
        type: string
  secretString:
    type: string
    secret: true
""",
        )
    )
    c = project.config
    assert len(c) == 9
    assert (c["integerSchemaFull"].type, c["integerSchemaFull"].default) == ("integer", 1)
    assert c["integerSchemaFull"].description == "a very important value"
    assert (c["integerSchemaSimple"].type, c["integerSchemaSimple"].default) == (None, 20)
    assert (c["textSchemaSimple"].type, c["textSchemaSimple"].default) == (None, "t4.large")
    assert (c["booleanSchemaFull"].default, c["booleanSchemaSimple"].default) == (True, False)
    assert c["simpleArrayOfStrings"].full_type_name() == "array<string>"
    assert c["arrayOfArrays"].full_type_name() == "array<array<string>>"
    assert c["secretString"].secret
    assert not c["secretString"].has_default


def test_config_path_is_the_stack_config_dir(tmp_path: Path) -> None:
    # project_test.go::TestLoadingConfigIsRewrittenToStackConfigDir, TestDefningBothConfigAndStackConfigDirErrorsOut
    project = Project.load(project_dir(tmp_path, "name: test\nruntime: dotnet\nconfig: ./some/path", None))
    assert project.stack_file("dev") == tmp_path / "some/path/Pulumi.dev.yaml"
    assert project.config == {}
    both = "name: test\nruntime: dotnet\nconfig: ./some/path\nstackConfigDir: ./some/other/path"
    assert "Should not use both config and stackConfigDir" in refusal(tmp_path, both)


def test_config_object_and_stack_config_dir_load(tmp_path: Path) -> None:
    # project_test.go::TestConfigObjectAndStackConfigDirSuccessfullyLoadProject
    project = Project.load(
        project_dir(
            tmp_path, "name: test\nruntime: dotnet\nstackConfigDir: ./some/other/path\nconfig:\n  value: hello\n"
        )
    )
    assert project.stack_file("dev") == tmp_path / "some/other/path/Pulumi.dev.yaml"
    assert list(project.config) == ["value"]


# --- the stack file, merged with the project's config


def test_stack_values_override_project_values(tmp_path: Path) -> None:
    # project_test.go::TestStackConfigIsInheritedFromProjectConfig
    project = "name: test\nruntime: dotnet\nconfig:\n  instanceSize: t3.micro\n  instanceCount: 20\n  protect: true"
    assert config_of(tmp_path, project, "config:\n  test:instanceSize: t4.large") == {
        "test:instanceSize": "t4.large",
        "test:instanceCount": "20",
        "test:protect": "true",
    }


def test_namespaced_project_values_are_inherited(tmp_path: Path) -> None:
    # project_test.go::TestNamespacedConfigValuesAreInheritedCorrectly
    project = (
        "name: test\nruntime: dotnet\nconfig:\n  aws:region: us-west-1\n"
        '  pulumi:disable-default-providers: ["*"]\n  instanceSize: t3.micro'
    )
    assert config_of(tmp_path, project, "config:\n  test:instanceSize: t4.large") == {
        "test:instanceSize": "t4.large",
        "aws:region": "us-west-1",
        "pulumi:disable-default-providers": '["*"]',
    }


def test_bare_stack_keys_take_the_project_namespace(tmp_path: Path) -> None:
    # project_test.go::TestLoadingStackConfigWithoutNamespacingTheProject
    project = "name: test\nruntime: dotnet\nconfig:\n  aws:region: us-west-1\n  instanceSize: t3.micro"
    assert config_of(tmp_path, project, "config:\n  instanceSize: t4.large") == {
        "test:instanceSize": "t4.large",
        "aws:region": "us-west-1",
    }


def test_untyped_values_are_not_validated(tmp_path: Path) -> None:
    # project_test.go::TestUntypedProjectConfigValuesAreNotValidated
    project = "name: test\nruntime: dotnet\nconfig:\n  instanceSize: t3.micro\n  aws:region: us-west-1"
    assert config_of(tmp_path, project, "config:\n  instanceSize: 9999\n  aws:region: 42") == {
        "test:instanceSize": "9999",
        "aws:region": "42",
    }


def test_untyped_default_only_or_value_only(tmp_path: Path) -> None:
    # project_test.go::TestUntypedProjectConfigValuesWithOnlyDefaultOrOnlyValue
    project = (
        "name: test\nruntime: dotnet\nconfig:\n  instanceSize:\n    default: t3.micro\n  region:\n    value: us-west-1"
    )
    resolved = resolve(Project.load(project_dir(tmp_path, project, "config:\n  aws:answer: 42")), "dev")
    assert resolved.program_config() == {
        "test:instanceSize": "t3.micro",
        "test:region": "us-west-1",
        "aws:answer": "42",
    }
    sources = {key: value.source for key, value in resolved.values.items()}
    assert sources == {
        "test:instanceSize": Source.PROJECT_DEFAULT,
        "test:region": Source.PROJECT_VALUE,
        "aws:answer": Source.STACK_FILE,
    }


def test_undeclared_stack_keys_pass_through(tmp_path: Path) -> None:
    # project_test.go::TestUntypedStackConfigValuesDoNeedProjectDeclaration
    project = "name: test\nruntime: dotnet\nconfig:\n  createVpc: true"
    assert config_of(tmp_path, project, "config:\n  instanceSize: 42") == {
        "test:instanceSize": "42",
        "test:createVpc": "true",
    }


def test_untyped_object_values_reach_the_program_as_json(tmp_path: Path) -> None:
    # project_test.go::TestUntypedProjectConfigObjectValuesPassedDownToStack
    project = (
        "name: test\nruntime: dotnet\nconfig:\n  instanceSize:\n    value:\n      hello: world\n"
        "  aws:config:\n    value:\n      region: us-west-1"
    )
    assert config_of(tmp_path, project, "config:\n  aws:whatever: 42") == {
        "test:instanceSize": '{"hello":"world"}',
        "aws:config": '{"region":"us-west-1"}',
        "aws:whatever": "42",
    }


def test_project_without_config_accepts_any_stack_values(tmp_path: Path) -> None:
    # project_test.go::TestStackConfigDoesNotErrorWhenProjectHasNotDefinedConfig
    stack = "config:\n  hello: 21\n  world: 42\n  another: 42"
    assert config_of(tmp_path, "name: test\nruntime: dotnet", stack) == {
        "test:hello": "21",
        "test:world": "42",
        "test:another": "42",
    }


def test_stack_file_scalars_keep_their_text_and_objects_become_go_json(tmp_path: Path) -> None:
    # resource/config/value.go: a scalar unmarshals as a string; anything else as JSON
    stack = "config:\n  a: 010\n  b: True\n  c: yes\n  d:\n  e:\n    z: 1.0\n    a: [x, '<&>']"
    assert config_of(tmp_path, "name: test\nruntime: dotnet", stack) == {
        "test:a": "010",
        "test:b": "True",
        "test:c": "yes",
        "test:d": "",
        "test:e": '{"a":["x","\\u003c\\u0026\\u003e"],"z":1}',
    }
    assert go_json({"b": [1.5, 2.0], "a": True}) == '{"a":true,"b":[1.5,2]}'


# --- typed values


def test_stack_value_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    # project_test.go::TestStackConfigErrorsWhenStackValueIsNotCorrectlyTyped
    project = (
        "name: test\nruntime: dotnet\nconfig:\n  values:\n    type: array\n    items:\n      type: string\n"
        "    default: [value]"
    )
    assert "Stack 'dev' with configuration key 'values' must be of type 'array<string>'" in refusal(
        tmp_path, project, "config:\n  test:values: someValue\n"
    )


def test_integer_values_are_checked(tmp_path: Path) -> None:
    # project_test.go::TestStackConfigIntegerTypeIsCorrectlyValidated
    project = "name: test\nruntime: dotnet\nconfig:\n  importantNumber:\n    type: integer\n"
    assert config_of(tmp_path, project, "config:\n  test:importantNumber: 20\n") == {"test:importantNumber": "20"}
    assert "Stack 'dev' with configuration key 'importantNumber' must be of type 'integer'" in refusal(
        tmp_path, project, "config:\n  test:importantNumber: hello\n"
    )


@pytest.mark.parametrize(
    ("type_", "good", "bad"),
    [
        ("integer", ["-3", "+7", "007", "'12'"], ["1.5", "1e3", "' 5'", "ten"]),
        ("boolean", ["true", "false", "'true'"], ["True", "yes", "1"]),
        ("string", ["hello", "42", "true"], ["[a]", "{a: 1}"]),
    ],
)
def test_typed_values_follow_validate_config_value(tmp_path: Path, type_: str, good: list[str], bad: list[str]) -> None:
    # project.go::ValidateConfigValue on the stack value as config.Value holds it (the scalar's text)
    project = f"name: test\nruntime: dotnet\nconfig:\n  key:\n    type: {type_}\n"
    for value in good:
        config_of(tmp_path, project, f"config:\n  key: {value}\n")
    for value in bad:
        assert f"Stack 'dev' with configuration key 'key' must be of type '{type_}'" in refusal(
            tmp_path, project, f"config:\n  key: {value}\n"
        ), value


def test_array_items_are_checked(tmp_path: Path) -> None:
    project = "name: test\nruntime: dotnet\nconfig:\n  ports:\n    type: array\n    items:\n      type: integer\n"
    assert config_of(tmp_path, project, "config:\n  ports: [80, '443']\n") == {"test:ports": '[80,"443"]'}
    assert "must be of type 'array<integer>'" in refusal(tmp_path, project, "config:\n  ports: [80, http]\n")


# --- required keys


def test_one_missing_value(tmp_path: Path) -> None:
    # project_test.go::TestStackConfigErrorsWhenMissingStackValueForConfigTypeWithNoDefault
    project = "name: test\nruntime: dotnet\nconfig:\n  values:\n    type: array\n    items:\n      type: string"
    assert refusal(tmp_path, project) == "Stack 'dev' is missing configuration value 'values'"


def test_two_missing_values(tmp_path: Path) -> None:
    # project_test.go::TestStackConfigErrorsWhenMissingTwoStackValueForConfigTypeWithNoDefault
    project = (
        "name: test\nruntime: dotnet\nconfig:\n  another:\n    type: string\n"
        "  values:\n    type: array\n    items:\n      type: string"
    )
    assert refusal(tmp_path, project) == "Stack 'dev' is missing configuration values 'another' and 'values'"


def test_three_missing_values(tmp_path: Path) -> None:
    # project_test.go::TestStackConfigErrorsWhenMissingMultipleStackValueForConfigTypeWithNoDefault
    project = (
        "name: test\nruntime: dotnet\nconfig:\n  hello:\n    type: integer\n"
        "  values:\n    type: array\n    items:\n      type: string\n  world:\n    type: string"
    )
    assert refusal(tmp_path, project) == "Stack 'dev' is missing configuration values 'hello', 'values' and 'world'"
    assert missing_keys_message("dev", ["d", "b", "c", "a"]) == (
        "Stack 'dev' is missing configuration values 'a', 'b', 'c' and 'd'"
    )


# --- secrets


def test_secret_key_in_plain_text_is_refused(tmp_path: Path) -> None:
    # project_test.go::TestStackConfigSecretIsCorrectlyValidated
    project = "name: test\nruntime: dotnet\nconfig:\n  importantNumber:\n    type: integer\n    secret: true\n"
    assert "Stack 'dev' with configuration key 'importantNumber' must be encrypted as it's secret" in refusal(
        tmp_path, project, "config:\n  test:importantNumber: 20\n"
    )


def test_secure_value_passes_the_cli_but_only_an_override_gives_it_offline(tmp_path: Path) -> None:
    # project_test.go::TestStackConfigSecretIsCorrectlyValidated (the encrypted case)
    project = "name: test\nruntime: dotnet\nconfig:\n  importantNumber:\n    type: integer\n    secret: true\n"
    directory = project_dir(tmp_path, project, "config:\n  test:importantNumber:\n    secure: djE6MjA=\n")
    resolved = resolve(Project.load(directory), "dev")
    assert resolved.values["test:importantNumber"].value is None
    [note] = resolved.notes
    assert "only the Pulumi CLI can decrypt" in note
    assert "--config test:importantNumber=VALUE" in note
    with pytest.raises(StackConfigError, match="secure: value, which only the Pulumi CLI can decrypt"):
        resolved.program_config()
    given = resolve(Project.load(directory), "dev", {"importantNumber": "20"})
    assert given.program_config() == {"test:importantNumber": "20"}
    assert given.secret_keys() == ["test:importantNumber"]
    assert given.values["test:importantNumber"].source is Source.OVERRIDE


# --- overrides (`--config`)


def test_override_is_a_plain_string_checked_like_a_stack_value(tmp_path: Path) -> None:
    project = (
        "name: test\nruntime: dotnet\nconfig:\n  count:\n    type: integer\n    default: 1\n"
        "  names:\n    type: array\n    items:\n      type: string\n    default: []"
    )
    assert config_of(tmp_path, project, count="5")["test:count"] == "5"
    assert "with configuration key 'count' must be of type 'integer'" in refusal(tmp_path, project, count="five")
    # `pulumi config set` docs: "Top level entries are always treated as strings."
    assert "with configuration key 'names' must be of type 'array<string>'" in refusal(tmp_path, project, names='["a"]')
    assert config_of(tmp_path, project, **{"names[0]": "a", "names[1]": "b"})["test:names"] == '["a","b"]'


def test_override_of_an_undeclared_project_key_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    # issue 9 point 15: `--config fooBar=1` was silently ignored
    project = "name: test\nruntime: dotnet\nconfig:\n  fooBaz:\n    type: integer\n    default: 1\n  other: x"
    message = refusal(tmp_path, project, fooBar="1")
    assert message == (
        "--config fooBar: 'fooBar' is not a config key of project 'test' (did you mean 'fooBaz'?); "
        "known keys: fooBaz, other"
    )
    assert config_of(tmp_path, project, **{"aws:region": "eu-west-1"})["aws:region"] == "eu-west-1"


def test_unknown_stack_is_named_with_the_known_ones(tmp_path: Path) -> None:
    project = Project.load(project_dir(tmp_path, "name: test\nruntime: dotnet"))
    with pytest.raises(StackConfigError, match=r"unknown stack 'qa': no Pulumi.qa.yaml .* \(stacks with a file: dev\)"):
        resolve(project, "qa")


def test_fully_qualified_stack_name_uses_its_file_and_short_name(tmp_path: Path) -> None:
    project = "name: test\nruntime: dotnet\nconfig:\n  size:\n    type: integer"
    directory = project_dir(tmp_path, project, "config: {}")
    with pytest.raises(StackConfigError, match=r"^Stack 'dev' is missing configuration value 'size'$"):
        resolve(Project.load(directory), "acme/test/dev")


def test_project_error_is_a_stack_config_error() -> None:
    assert issubclass(ProjectError, StackConfigError)
