"""Signing in to the dashboard in a real browser: tokens, roles, signing out, revocation."""

from __future__ import annotations

import httpx
from playwright.sync_api import Page, expect
from ui_browser import Dashboard, login


def test_a_page_asks_to_sign_in_and_returns_after(page: Page, dashboard: Dashboard) -> None:
    page.goto(dashboard.url + "/explorer")
    page.wait_for_url("**/ui/login?next=%2Fexplorer")
    page.get_by_test_id("token").fill("tk_not-a-token")
    page.get_by_test_id("sign-in").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("unknown token")
    page.get_by_test_id("token").fill(dashboard.token("viewer", "ada"))
    page.get_by_test_id("sign-in").click()
    page.wait_for_url(dashboard.url + "/explorer")
    expect(page.get_by_test_id("signed-in-as")).to_have_text("ada · viewer")


def test_a_viewer_sees_no_control_and_cannot_open_it(page: Page, dashboard: Dashboard) -> None:
    login(page, dashboard, dashboard.token("viewer"))
    expect(page.get_by_test_id("nav-explorer")).to_be_visible()
    expect(page.get_by_test_id("nav-control")).to_have_count(0)
    page.goto(dashboard.url + "/control")
    expect(page.get_by_test_id("role-refused")).to_contain_text("needs the operator role")


def test_an_operator_sees_control(page: Page, dashboard: Dashboard) -> None:
    login(page, dashboard, dashboard.token("operator"))
    expect(page.get_by_test_id("nav-control")).to_be_visible()
    page.get_by_test_id("nav-control").click()
    page.wait_for_url(dashboard.url + "/control")
    expect(page.get_by_test_id("role-refused")).to_have_count(0)


def test_signing_out_and_revoking_end_the_session(page: Page, dashboard: Dashboard) -> None:
    token = dashboard.new_token("viewer")
    login(page, dashboard, token["secret"])
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/ui/login")
    login(page, dashboard, token["secret"])
    revoked = httpx.delete(
        dashboard.api_url + f"/api/v1/tokens/{token['id']}",
        headers={"Authorization": f"Bearer {dashboard.admin_token}"},
    )
    assert revoked.status_code == 204, revoked.text
    page.wait_for_timeout(1_500)  # the authenticator's cache (1 s)
    page.goto(dashboard.url + "/explorer")
    page.wait_for_url("**/ui/login?next=%2Fexplorer")


def test_the_root_redirects_to_the_dashboard(dashboard: Dashboard) -> None:
    answer = httpx.get(dashboard.api_url + "/", follow_redirects=False)
    assert answer.status_code == 307
    assert answer.headers["location"] == "/ui/"
