"""Generation-time plugin for the ERM client (loaded by the code generator, never at run time).

It rewrites each generated client method so that, instead of decoding the response into
dicts and then validating the dicts, it hands the result model to the transport's
``execute_typed``, which validates the raw response bytes in one pass.
"""

from __future__ import annotations

import ast

from ariadne_codegen.plugins.base import Plugin
from graphql import OperationDefinitionNode


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


class TypedExecutePlugin(Plugin):
    """Route every operation through ``execute_typed`` (one-pass validation)."""

    def generate_client_method(
        self,
        method_def: ast.FunctionDef | ast.AsyncFunctionDef,
        operation_definition: OperationDefinitionNode,
    ) -> ast.FunctionDef | ast.AsyncFunctionDef:
        body = method_def.body
        if len(body) < 3 or not isinstance(method_def, ast.AsyncFunctionDef):
            return method_def
        model = _returned_model(body[-1])
        execute = body[-3]
        if (
            model is None
            or not isinstance(execute, ast.Assign)
            or not isinstance(execute.value, ast.Await)
            or not isinstance(execute.value.value, ast.Call)
        ):
            return method_def
        call = execute.value.value
        call.func = ast.Attribute(value=ast.Name(id="self"), attr="execute_typed")
        star_kwargs = [k for k in call.keywords if k.arg is None]
        named = [k for k in call.keywords if k.arg is not None]
        call.keywords = [*named, ast.keyword(arg="result_type", value=model), *star_kwargs]
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
        return module
