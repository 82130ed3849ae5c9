"""The explorer in a real browser: a twin query filters the table, a bad query says where it
is wrong, and a node of the graph opens its twin's page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from test_overview_browser import create_station
from ui_browser import Dashboard, login, screenshot

pytestmark = pytest.mark.integration

PUMPS = "SELECT * FROM DIGITALTWINS WHERE IS_OF_MODEL('dtmi:twinkit:pumps:Pump;1')"

# The pixel position of a twin's node in the graph (ECharts lays it out; ask the chart).
NODE_AT = """(twinId) => {
    const el = document.querySelector('.twin-graph');
    const chart = el && getElement(el) && getElement(el).chart;
    if (!chart || !chart.getModel()) return null;
    const series = chart.getModel().getSeriesByIndex(0);
    if (!series) return null;
    const data = series.getData();
    const index = data.indexOfName(twinId);
    if (index < 0) return null;
    const point = chart.convertToPixel({seriesIndex: 0}, data.getItemLayout(index));
    const box = el.getBoundingClientRect();
    return point && [box.left + point[0], box.top + point[1]];
}"""


@pytest.fixture(scope="module")
def station(dashboard: Dashboard) -> Dashboard:
    create_station(dashboard)
    return dashboard


@pytest.fixture
def explorer(page: Page, station: Dashboard) -> Iterator[Page]:
    login(page, station, station.token("viewer"), "/explorer")
    expect(page.get_by_test_id("query-status")).to_contain_text("10 rows")
    yield page


def run(page: Page, query: str) -> None:
    page.get_by_test_id("query").fill(query)
    page.get_by_test_id("run-query").click()


def test_a_query_filters_the_table_and_the_graph(explorer: Page) -> None:
    run(explorer, PUMPS)
    expect(explorer.get_by_test_id("query-status")).to_contain_text("4 rows")
    table = explorer.get_by_test_id("result-table")
    for pump in ("pump-1", "pump-2", "pump-3", "pump-skab"):
        expect(table.get_by_role("link", name=pump)).to_be_visible()
    expect(table).not_to_contain_text("tank-1")
    expect(table.locator("tbody tr")).to_have_count(4)
    # the graph adds what the pumps are related to, one hop away
    expect(explorer.get_by_test_id("graph-note")).to_contain_text(
        "4 twins of the result and 4 neighbours"
    )
    assert "?q=" in explorer.url  # the page's URL keeps the query
    explorer.wait_for_timeout(500)
    screenshot(explorer, "explorer")


def test_an_invalid_query_says_what_and_where(explorer: Page) -> None:
    run(explorer, "SELECT * FROM DIGITALTWINS WHERE")
    error = explorer.get_by_test_id("query-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("expected a condition")
    expect(explorer.get_by_test_id("query-error-where")).to_have_text("at query line 1, column 33")
    expect(explorer.get_by_test_id("query-error-caret")).to_contain_text("^")
    run(explorer, PUMPS)  # a good query clears it
    expect(error).to_be_hidden()


def test_clicking_a_node_of_the_graph_opens_its_twin(explorer: Page) -> None:
    run(explorer, "SELECT * FROM DIGITALTWINS WHERE $dtId = 'tank-1'")
    expect(explorer.get_by_test_id("graph-note")).to_contain_text("1 twins of the result")
    explorer.wait_for_function(f"({NODE_AT})('tank-1') !== null")
    explorer.wait_for_timeout(400)  # the layout's update animation
    x, y = explorer.evaluate(NODE_AT, "tank-1")
    explorer.mouse.click(x, y)
    explorer.wait_for_url("**/ui/twins/tank-1")
