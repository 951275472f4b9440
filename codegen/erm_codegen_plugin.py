"""Generation-time plugins for the ERM client (loaded by the code generator, never at run time).

``TypedExecutePlugin`` rewrites each generated client method so that, instead of decoding
the response into dicts and then validating the dicts, it hands the result model and the
operation's type (query or mutation, known here from the document) to the transport's
``execute_typed``: the request pipeline under every operation (token, retries for
queries only, tracing) and one-pass validation of the raw response bytes. A method of a
shape it does not recognise fails generation: an operation must never go unrouted.

``DeferBuildPlugin`` sets ``defer_build=True`` on the generated ``BaseModel`` and drops the
``X.model_rebuild()`` calls after each module's classes (which would build every
validator at once): a model's validator is built when it is first used, forward
references resolved then, so a program pays at import only for defining classes.

``TypedExecutePlugin`` also adds ``SyncClient`` to the client module: one synchronous method
per operation, with the very signature of the asynchronous one, that runs it on the
synchronous client's event loop. ``ErmClient.api`` is that class, so mypy sees the real
generated signatures on both faces.

``OpenEnumPlugin`` makes every enum-typed *result* field open: it is annotated
``Annotated[Union[CodeTypes, str], OpenEnum(CodeTypes)]``, so a value the server adds to an
enum after we generated arrives as its string (with a warning) instead of failing the whole
response. Input types and arguments stay closed enums: what we send must be known.
"""

from __future__ import annotations

import ast

from ariadne_codegen.plugins.base import Plugin
from graphql import (
    ExecutableDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
)

OPEN_ENUM_MODULE = "omnivoltaic_erm._open_enum"
OPEN_ENUM = "OpenEnum"


def _returned_model(stmt: ast.stmt) -> ast.expr | None:
    """``X`` from ``return X.model_validate(data)``, else None."""
    if (
        isinstance(stmt, ast.Return)
        and isinstance(stmt.value, ast.Call)
        and isinstance(stmt.value.func, ast.Attribute)
        and stmt.value.func.attr == "model_validate"
    ):
        return stmt.value.func.value
    return None


class UnroutedOperationError(Exception):
    """A generated method has a shape the plugin does not recognise; generation stops."""


ROUTED_OPERATIONS = {OperationType.QUERY: "query", OperationType.MUTATION: "mutation"}
SYNC_CLIENT = "SyncClient"
SYNC_BASE = "SyncErmBaseClient"


def _unrouted(method: ast.FunctionDef | ast.AsyncFunctionDef, why: str) -> UnroutedOperationError:
    return UnroutedOperationError(
        f"cannot route the generated method {method.name!r} through the request pipeline: "
        f"{why}. Update codegen/erm_codegen_plugin.py for the new shape."
    )


class TypedExecutePlugin(Plugin):
    """Route every operation through ``execute_typed`` with its operation type."""

    def generate_client_method(
        self,
        method_def: ast.FunctionDef | ast.AsyncFunctionDef,
        operation_definition: OperationDefinitionNode,
    ) -> ast.FunctionDef | ast.AsyncFunctionDef:
        kind = ROUTED_OPERATIONS.get(operation_definition.operation)
        if kind is None:
            raise _unrouted(
                method_def, f"{operation_definition.operation.value}s are not supported"
            )
        body = method_def.body
        if not isinstance(method_def, ast.AsyncFunctionDef):
            raise _unrouted(method_def, "it is not async (set async_client = true)")
        if len(body) < 3:
            raise _unrouted(method_def, "its body is shorter than query, variables, execute")
        model = _returned_model(body[-1])
        execute = body[-3]
        if (
            model is None
            or not isinstance(execute, ast.Assign)
            or not isinstance(execute.value, ast.Await)
            or not isinstance(execute.value.value, ast.Call)
            or not isinstance(execute.value.value.func, ast.Attribute)
            or execute.value.value.func.attr != "execute"
        ):
            raise _unrouted(
                method_def, "it does not end in `await self.execute(...)` and `model_validate`"
            )
        call = execute.value.value
        call.func = ast.Attribute(value=ast.Name(id="self"), attr="execute_typed")
        star_kwargs = [k for k in call.keywords if k.arg is None]
        named = [k for k in call.keywords if k.arg is not None]
        call.keywords = [
            *named,
            ast.keyword(arg="result_type", value=model),
            ast.keyword(arg="operation_type", value=ast.Constant(value=kind)),
            *star_kwargs,
        ]
        method_def.body = [*body[:-3], ast.Return(value=ast.Await(value=call))]
        return method_def

    def generate_init_module(self, module: ast.Module) -> ast.Module:
        # The generator copies no exception module for a custom base client, yet the
        # package __init__ still imports one; the package's errors are omnivoltaic_erm's.
        module.body = [
            node
            for node in module.body
            if not (isinstance(node, ast.ImportFrom) and node.module == "exceptions")
        ]
        for node in module.body:
            if isinstance(node, ast.ImportFrom) and node.module == "client":
                node.names.append(ast.alias(name=SYNC_CLIENT))
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
                and isinstance(node.value, ast.List)
            ):
                node.value.elts = [
                    e
                    for e in node.value.elts
                    if not (
                        isinstance(e, ast.Constant) and str(e.value).startswith("GraphQLClient")
                    )
                ]
                node.value.elts.append(ast.Constant(value=SYNC_CLIENT))
                node.value.elts.sort(key=lambda e: str(getattr(e, "value", "")))
        return module

    def generate_client_module(self, module: ast.Module) -> ast.Module:
        client = next(
            (n for n in module.body if isinstance(n, ast.ClassDef) and n.name == "Client"), None
        )
        if client is None:
            raise UnroutedOperationError("the generated client module has no class Client")
        methods = [_sync_method(m) for m in client.body if isinstance(m, ast.AsyncFunctionDef)]
        for node in module.body:
            if isinstance(node, ast.ImportFrom) and node.module == "base_client":
                node.names.append(ast.alias(name=SYNC_BASE))
        doc = ast.Expr(
            value=ast.Constant(
                value="Every operation of ``Client``, run synchronously with the same signatures."
            )
        )
        module.body.append(
            ast.ClassDef(
                name=SYNC_CLIENT,
                bases=[_name(SYNC_BASE)],
                keywords=[],
                body=[doc, *methods],
                decorator_list=[],
                type_params=[],
            )
        )
        return module


def _name(id_: str) -> ast.Name:
    return ast.Name(id=id_, ctx=ast.Load())


def _sync_method(method: ast.AsyncFunctionDef) -> ast.FunctionDef:
    """``def name(<same args>) -> <same result>: return self._call(Client.name, ...)``."""
    args = method.args
    keywords = [
        ast.keyword(arg=a.arg, value=_name(a.arg)) for a in [*args.args[1:], *args.kwonlyargs]
    ]
    if args.kwarg is not None:
        keywords.append(ast.keyword(arg=None, value=_name(args.kwarg.arg)))
    call = ast.Call(
        func=ast.Attribute(value=_name("self"), attr="_call", ctx=ast.Load()),
        args=[ast.Attribute(value=_name("Client"), attr=method.name, ctx=ast.Load())],
        keywords=keywords,
    )
    return ast.FunctionDef(
        name=method.name,
        args=args,
        body=[ast.Return(value=call)],
        decorator_list=[],
        returns=method.returns,
        type_params=[],
        lineno=0,
    )


def _after_imports(module: ast.Module) -> int:
    """Index just past the module's leading imports."""
    index = 0
    for index, node in enumerate(module.body):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            return index
    return len(module.body)


class DeferBuildPlugin(Plugin):
    """Build each result model's validator on first use, not at import."""

    CONFIG = "    model_config = ConfigDict(\n"

    def copy_code(self, copied_code: str) -> str:
        if "class BaseModel(PydanticBaseModel):" not in copied_code:
            return copied_code
        if copied_code.count(self.CONFIG) != 1:
            raise UnroutedOperationError("the generated BaseModel's config has a new shape")
        return copied_code.replace(self.CONFIG, self.CONFIG + "        defer_build=True,\n")

    @staticmethod
    def _without_rebuilds(module: ast.Module) -> ast.Module:
        module.body = [
            node
            for node in module.body
            if not (
                isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Call)
                and isinstance(node.value.func, ast.Attribute)
                and node.value.func.attr == "model_rebuild"
            )
        ]
        return module

    def generate_result_types_module(
        self, module: ast.Module, operation_definition: ExecutableDefinitionNode
    ) -> ast.Module:
        return self._without_rebuilds(module)

    def generate_fragments_module(
        self,
        module: ast.Module,
        fragments_definitions: dict[str, FragmentDefinitionNode],
    ) -> ast.Module:
        return self._without_rebuilds(module)


class OpenEnumPlugin(Plugin):
    """Annotate enum-typed result fields as ``Union[Enum, str]`` with ``OpenEnum``."""

    def __init__(self, schema: GraphQLSchema, config_dict: dict[str, object]) -> None:
        super().__init__(schema, config_dict)
        self.enum_names = frozenset(
            name
            for name, type_ in schema.type_map.items()
            if isinstance(type_, GraphQLEnumType) and not name.startswith("__")
        )

    def _open(self, node: ast.expr) -> ast.expr:
        """``node`` with each enum name ``X`` in it replaced by the open form of ``X``."""
        if isinstance(node, ast.Name) and node.id in self.enum_names:
            return ast.Subscript(
                value=_name("Annotated"),
                slice=ast.Tuple(
                    elts=[
                        ast.Subscript(
                            value=_name("Union"),
                            slice=ast.Tuple(elts=[_name(node.id), _name("str")], ctx=ast.Load()),
                            ctx=ast.Load(),
                        ),
                        ast.Call(func=_name(OPEN_ENUM), args=[_name(node.id)], keywords=[]),
                    ],
                    ctx=ast.Load(),
                ),
                ctx=ast.Load(),
            )
        if isinstance(node, ast.Subscript):
            node.slice = self._open(node.slice)
        elif isinstance(node, ast.Tuple):
            node.elts = [self._open(e) for e in node.elts]
        return node

    def generate_result_field(
        self,
        field_implementation: ast.AnnAssign,
        operation_definition: ExecutableDefinitionNode,
        field: FieldNode,
    ) -> ast.AnnAssign:
        field_implementation.annotation = self._open(field_implementation.annotation)
        return field_implementation

    def generate_enums_module(self, module: ast.Module) -> ast.Module:
        # Re-exported from enums.py, so that result modules import it relatively, like the
        # enums themselves: import sorting then places it the same wherever the package
        # is generated (an absolute import of omnivoltaic_erm would sort as first- or
        # third-party depending on whether the generator runs next to src/).
        if self.enum_names:
            module.body.insert(
                _after_imports(module),
                ast.ImportFrom(
                    module=OPEN_ENUM_MODULE,
                    names=[ast.alias(name=OPEN_ENUM, asname=OPEN_ENUM)],
                    level=0,
                ),
            )
        return module

    @staticmethod
    def _add_imports(module: ast.Module) -> ast.Module:
        uses = any(isinstance(n, ast.Name) and n.id == OPEN_ENUM for n in ast.walk(module))
        if not uses:
            return module
        imports = [
            ast.ImportFrom(
                module="typing",
                names=[ast.alias(name="Annotated"), ast.alias(name="Union")],
                level=0,
            ),
            ast.ImportFrom(module="enums", names=[ast.alias(name=OPEN_ENUM)], level=1),
        ]
        at = _after_imports(module)
        module.body[at:at] = imports
        return module

    def generate_result_types_module(
        self, module: ast.Module, operation_definition: ExecutableDefinitionNode
    ) -> ast.Module:
        return self._add_imports(module)

    def generate_fragments_module(
        self,
        module: ast.Module,
        fragments_definitions: dict[str, FragmentDefinitionNode],
    ) -> ast.Module:
        return self._add_imports(module)
