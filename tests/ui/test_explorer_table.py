"""Query rows as the explorer's table: every row shape of the query language, twin links."""

from __future__ import annotations

from typing import Any

from twinkit.ui._explorer_table import MAX_CELL_CHARS, cell_text, flatten_row, result_table

LIVE = {"pump-1", "tank-1"}


def doc(twin_id: str, model: str = "dtmi:t:Pump;1", **props: Any) -> dict[str, Any]:
    return {"$dtId": twin_id, "$etag": "1", "$metadata": {"$model": model}, **props}


def table(rows: list[dict[str, Any]], **kwargs: Any) -> Any:
    return result_table(
        rows,
        is_twin=lambda twin_id: twin_id in LIVE,
        href=lambda twin_id: f"/ui/twins/{twin_id}",
        **kwargs,
    )


def test_twin_documents_show_id_model_and_properties_with_links() -> None:
    shown = table(
        [doc("pump-1", rated=12.0, serial="A1"), doc("tank-1", "dtmi:t:Tank;1", capacity=50)],
        model_name=lambda model: model.split(":")[-1].split(";")[0],
    )
    assert [(c.label, c.link) for c in shown.columns] == [
        ("$dtId", True),
        ("$model", False),
        ("rated", False),
        ("serial", False),
        ("capacity", False),
    ]
    first, second = shown.rows
    assert first == {
        "_n": 0,
        "c0": "pump-1",
        "c0_href": "/ui/twins/pump-1",
        "c1": "Pump",
        "c2": "12",
        "c3": "A1",
        "c4": "",
    }
    assert (second["c1"], second["c4"]) == ("Tank", "50")
    assert shown.twin_ids == ("pump-1", "tank-1")


def test_projections_link_only_columns_of_live_twin_ids() -> None:
    shown = table(
        [
            {"pump": "pump-1", "tank": "tank-1", "name": "pump-1"},
            {"pump": "pump-9", "tank": "tank-1", "name": "Main"},  # pump-9 is no live twin
        ]
    )
    assert [(c.label, c.link) for c in shown.columns] == [
        ("pump", False),
        ("tank", True),
        ("name", False),
    ]
    assert shown.twin_ids == ("tank-1",)
    assert "c0_href" not in shown.rows[0]
    assert table([{"COUNT": 3}]).rows == ({"_n": 0, "c0": "3"},)


def test_collections_and_relationships_flatten_to_their_ids() -> None:
    edge = {
        "$relationshipId": "r1",
        "$sourceId": "pump-1",
        "$targetId": "tank-1",
        "$relationshipName": "feeds",
        "length": 20.0,
    }
    assert flatten_row({"P": doc("pump-1"), "T": doc("tank-1")}) == {"P": "pump-1", "T": "tank-1"}
    assert flatten_row({"P": doc("pump-1"), "R": edge})["R"] == "pump-1 —feeds→ tank-1"
    shown = table([edge])
    assert [(c.label, c.link) for c in shown.columns] == [
        ("$sourceId", True),
        ("$relationshipName", False),
        ("$targetId", True),
        ("$relationshipId", False),
        ("length", False),
    ]
    assert shown.twin_ids == ("pump-1", "tank-1")


def test_columns_past_the_cap_are_counted_not_shown() -> None:
    shown = table([doc("pump-1", **{f"p{i}": i for i in range(20)})], max_columns=5)
    assert len(shown.columns) == 5
    assert shown.hidden_columns == 17


def test_cells_read_as_json_and_stay_short() -> None:
    assert [cell_text(v) for v in (None, True, 1.5e-7, 3, "x")] == [
        "null",
        "true",
        "1.5e-07",
        "3",
        "x",
    ]
    assert cell_text({"a": [1, 2]}) == '{"a":[1,2]}'
    long = cell_text("y" * 500)
    assert len(long) == MAX_CELL_CHARS
    assert long.endswith("…")
