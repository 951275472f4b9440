"""A consumer module written as a service would write it; `make lint` type-checks it
under mypy --strict to prove that the packages' types reach their users."""

from __future__ import annotations

from omnivoltaic_erm_gql import Client, GenerateDaysCode, GetAllClientItems, QueryOrder

from omnivoltaic_erm import (
    AsyncErmClient,
    CodeEvent,
    CodeLimitError,
    CodeTypes,
    ErmClient,
    ErmError,
    GraphQLError,
    IssuedCode,
    Item,
    Limits,
)


async def issue_week(erm: AsyncErmClient, item_id: str) -> IssuedCode | None:
    item: Item = await erm.find_item(item_id)
    try:
        code = await erm.generate_days_code(item, days=7, description="weekly")
    except CodeLimitError as exc:
        print(exc.limit)
        return None
    kind: CodeTypes | str = code.code_type
    print(kind, code.code_dec, code.recovered)
    return code


async def history_days(erm: AsyncErmClient, item_id: str) -> int:
    events: list[CodeEvent] = await erm.code_history(item_id)
    return sum(e.code_days for e in events if e.code_type == CodeTypes.DAYSCODE)


async def count_items(url: str) -> int:
    async with AsyncErmClient(url, "ops@example.com", "pw", limits=Limits(daily_limit=5)) as erm:
        return len([i.oem_item_id async for i in erm.iter_items(search="DVAV")])


def sync_flow(url: str) -> str:
    with ErmClient(url, "ops@example.com", "pw") as erm:
        item = erm.find_item("DVAV2501000001")
        erm.issue(CodeTypes.RESETCODE, item, description="paid")
        return erm.generate_free_code(item).code_hex


async def api_async(erm: AsyncErmClient) -> int:
    page: GetAllClientItems = await erm.api.get_all_client_items(
        queryorder=QueryOrder.ASC, first=5, assetaccount=False
    )
    code = await erm.issue(CodeTypes.DAYSCODE, "DVAV2501000001", 7, request_id="0" * 16)
    print(code.code_dec)
    return len(page.get_all_client_items.page.edges or [])


def sync_members(erm: ErmClient) -> int:
    erm.prefetch(["DVAV2501000001", erm.find_item("DVAV2501000002")])
    limits: Limits = erm.item_limits("DVAV2501000001")
    found: IssuedCode | None = erm.recover("DVAV2501000001", "0" * 16)
    page: GetAllClientItems = erm.api.get_all_client_items(
        queryorder=QueryOrder.ASC, first=2, assetaccount=False
    )
    print(limits.code_interval, found, page, erm.config.timeout, erm.url, erm.email)
    items: list[Item] = list(erm.iter_items(search="DVAV", order="ASC", page_size=10))
    return erm.sign_ins + erm.refreshes + erm.server_refusals + len(items)


def api_sync(erm: ErmClient) -> str:
    page: GetAllClientItems = erm.api.get_all_client_items(
        queryorder=QueryOrder.DESC, first=1, assetaccount=False
    )
    print(page.get_all_client_items.page.page_info)
    result: GenerateDaysCode = erm.api.generate_days_code(item_id="x", code_days=7)
    return result.generate_days_code.code_hex


async def first_code(url: str, item_id: str) -> tuple[CodeTypes | str, str] | None:
    async with Client(url=url) as client:
        try:
            page = await client.get_all_client_items(
                queryorder=QueryOrder.DESC, first=1, assetaccount=False
            )
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
