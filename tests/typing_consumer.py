"""A consumer module written as a service would write it; `make lint` type-checks it
under mypy --strict to prove that the packages' types reach their users."""

from __future__ import annotations

from omnivoltaic_erm_gql import Client, CodeTypes, GenerateDaysCode, QueryOrder

from omnivoltaic_erm import ErmError, GraphQLError


async def first_code(url: str, item_id: str) -> tuple[CodeTypes, str] | None:
    async with Client(url=url) as client:
        try:
            page = await client.get_all_client_items(queryorder=QueryOrder.DESC, first=1)
            edges = page.get_all_client_items.page.edges or []
            if not edges or edges[0].node is None:
                return None
            result: GenerateDaysCode = await client.generate_days_code(item_id=item_id, code_days=7)
        except GraphQLError as exc:
            print(exc.code, exc.path)
            return None
        except ErmError:
            return None
    code = result.generate_days_code
    return code.code_type, code.code_dec
