"""The sign-out address opened in the browser: a page with its Sign out button focused, usable
by keyboard alone and from 400 px; the portal's icon loads under the page's CSP."""

from playwright.sync_api import expect


def test_the_sign_out_page_signs_out_with_the_keyboard_alone(
    signed_in_page, global_admin, axe_check, screenshot
):
    page = signed_in_page(global_admin)
    page.set_viewport_size({"width": 400, "height": 800})
    icon = page.request.get("/favicon.ico")  # follows the redirect to the SVG
    assert icon.ok and icon.headers["content-type"].startswith("image/svg+xml")
    page.goto("/accounts/logout/")
    expect(page.get_by_role("heading", name="Sign out", level=1)).to_be_visible()
    button = page.locator("main").get_by_role("button", name="Sign out")
    expect(button).to_be_focused()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 400, f"the page is {width} px wide at 400 px"
    axe_check(page)
    screenshot(page, "sign-out-400")
    page.keyboard.press("Enter")
    expect(page).to_have_url("/accounts/login/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url("/accounts/login/?next=/")
